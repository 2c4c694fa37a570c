//! Hostile files: a store either answers right or says it is damaged. After any damage to any
//! file of a store, opening and reading it gives the right answer or a typed [`Error`] — never
//! a wrong answer, never a panic (each attempt runs inside `catch_unwind`, and a panic hook
//! sees the engines' background threads), never a dead or hung process.
//!
//! **The damage matrix** (`damage_matrix_*`, one test per store kind): a closed store holding
//! rows, updates, cascading deletions in the trash and restored ones, built through the public
//! API, in nine kinds — fjall; sled; fjall-redb (the log in fjall, the views in redb); each
//! with a checkpoint (`Db::checkpoint`, in `<store>/checkpoint/`, taken before the last
//! writes); each compacted (`Db::compact`, before the last writes). Every file of the store folder, recursively (`LAZARUS`, `HWM`, the engine's
//! files, the checkpoint's), is damaged in turn in a fresh copy of the store:
//!
//! * a byte inverted at the start, the middle and the end of the file (and of its data, when a
//!   preallocated zero tail is longer: fjall's journal); truncated to half (and to half its
//!   data); deleted; zero-filled over its whole length;
//! * on the plain stores, the engine's log (fjall's journal, sled's `db`) and every file over
//!   4 KiB also flipped and cut at ¼, ½ and ¾ of its data, and fjall's current version files
//!   flipped there (where a flip in a count once aborted the process);
//! * in fjall's table and version files (sfa archives), the high byte of the entry count of
//!   their table of contents inverted (read, and allocated for, before its checksum is);
//! * every folder (the store's own too) gets a stray file and, separately, a stray folder: a
//!   name of no meaning (`stray`, `lost+found`) and one the engine or the store expects nearby
//!   (the next of a numbered series: `14` among table files, `v16`, `1.jnl`, `11` among
//!   keyspaces; in the store's folder `COMPACTED`, `HWM.tmp`, `data.compact`, `data.old`,
//!   `checkpoint`, `checkpoint.tmp`, `checkpoint.old`, ...).
//!
//! Then the store is opened and read: the tables, `get` of live, updated, trashed, restored and
//! deleted rows, a scan of each table, `trash(&TrashQuery::all())`, `deletion_rows` of a
//! deletion in the trash, a row's history, the whole log, the last LSN, `verify`; on a store
//! with a checkpoint also `rebuild` (which starts from the checkpoint), the scans, the trash
//! and `verify` again; then `close`. Each read is judged against the same read of the undamaged
//! store: it must be equal, or an error that says the store is damaged (`DataLoss`,
//! `Corrupted`, `NotAStore`, `NewerFormat`, `Storage`, `Io`, ...; an error that answers
//! instead, like `UnknownTable` or `UnknownDeletion` where the row or the deletion exists, is a
//! wrong answer). A `verify` with no differences vouches for the reads before it: they must all
//! have been right. Damage to the checkpoint must change no answer at all (the store may drop
//! the checkpoint, never fail because of it). A cut of the log of a store that was not
//! compacted, inside its data, loses acknowledged commits, and so does a flip at ¼, ½ or ¾ of
//! it: the open must fail (the durable high-water mark `HWM` says how far the log went). On
//! fjall-redb a close flushes the log into table files, so its journal may be cut without loss:
//! the answers must then be right.
//!
//! The cases run in child processes (this binary, re-run), one child per core at a time, each
//! running its share of the cases one after the other and printing each case's start and
//! verdict, so that an abort or a signal is the outcome of the case that was running (a new
//! child takes the next case) and a case that prints nothing for `CASE_LIMIT` is a hang. The
//! copies live in `/dev/shm` when there is one.
//!
//! **Bounded by default:** `cargo test --test corruption` runs about 1,500 cases in about 30 s
//! of wall time on 2 cores (debug build). It samples deterministically: the offsets above; fjall's older
//! version files (which fjall no longer reads) get one damage each, the four modes in turn; in
//! other folders than the store's own, one stray file and one stray folder, the meaningless and
//! the expected name taking turns; a store with a checkpoint is damaged in its checkpoint and
//! its own folder only (its data folder is the plain store's column). **Long mode**,
//! `LAZARUS_DAMAGE_LONG=1 cargo test --test corruption -- --nocapture`, runs every offset:
//! also ¼, ¾ and pseudo-random offsets of each file and of its data, every byte of files up to
//! 64 bytes, every byte of an sfa count and of its trailer's TOC position, cuts to 0, ¼, ¾ and
//! all but the last byte, every file of every kind in every mode, every stray name in every
//! folder (about 7,300 cases, about 4 minutes on 2 cores).
//!
//! **Foreign files and markers** (one test each): a `LAZARUS` marker of garbage (binary, text,
//! empty) → `Error::NotAStore`; a marker saying `format 99` → `Error::NewerFormat`; a marker
//! naming the other engine shows an empty store or an error, and harms none of the store's
//! files; a sled database written by another program (random keys; text keys) under a valid
//! marker saying `engine sled` → a typed error or an empty-looking store; a plain file of random
//! bytes as the store path → `Error::NotAStore`, the file untouched.
//!
//! Run with `-- --nocapture` to see the outcome of every case and the tally of each kind.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::io::{Read as _, Seek, SeekFrom, Write};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use lazarusdb::{
    ColumnType, Db, EngineKind, Error, OnDelete, Options, Readable, RestorePolicy, Row, Scan,
    TableBuilder, TrashQuery, FORMAT_VERSION,
};

// ---------------------------------------------------------------------------------------------
// Panics: recorded by a hook, so that a panic on any thread (an engine's background thread
// too) is seen. Damage cases run one at a time (CASES) so a recorded panic belongs to the case
// that was running; the test threads register themselves so that one test's failing assertion
// is not taken for a panic of another test's case.

static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static CASES: Mutex<()> = Mutex::new(());
static CASE_OWNER: Mutex<Option<String>> = Mutex::new(None);
static TEST_THREADS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static HOOK: Once = Once::new();

fn thread_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_string()
}

fn lock<T>(m: &'static Mutex<T>) -> MutexGuard<'static, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Installs the panic hook and registers the calling test thread; every test calls it first.
fn begin_test() {
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = thread_name();
            let a_test = lock(&TEST_THREADS).contains(&thread);
            let running_case = lock(&CASE_OWNER).as_deref() == Some(thread.as_str());
            if !a_test || running_case {
                let msg = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let at = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                lock(&PANICS).push(format!("thread {thread}: {msg} at {at}"));
            }
            default(info);
        }));
    });
    lock(&TEST_THREADS).push(thread_name());
}

/// Holds the right to run a case, and marks this thread as running it.
struct CaseGuard(#[allow(dead_code)] MutexGuard<'static, ()>);

impl Drop for CaseGuard {
    fn drop(&mut self) {
        *lock(&CASE_OWNER) = None;
    }
}

fn one_case_at_a_time() -> CaseGuard {
    let g = lock(&CASES);
    *lock(&CASE_OWNER) = Some(thread_name());
    CaseGuard(g)
}

fn take_panics() -> Vec<String> {
    std::mem::take(&mut *lock(&PANICS))
}

// ---------------------------------------------------------------------------------------------
// A tiny deterministic RNG (xorshift64*).

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The store kinds of the matrix, built through the public API.

/// A closed store holding rows, updates, cascading deletions in the trash and restored ones
/// (see [`fill_head`] and [`fill_tail`]), on one engine, in one of three shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Fjall,
    Sled,
    /// With a checkpoint (`<store>/checkpoint/`) taken before the last writes.
    FjallCheckpoint,
    SledCheckpoint,
    /// Compacted (`Db::compact`) before the last writes.
    FjallCompacted,
    SledCompacted,
    /// The log in fjall (`data/log/`), the views in redb (`data/views.redb`).
    FjallRedb,
    FjallRedbCheckpoint,
    FjallRedbCompacted,
}

impl Kind {
    const ALL: [Kind; 9] = [
        Kind::Fjall,
        Kind::Sled,
        Kind::FjallCheckpoint,
        Kind::SledCheckpoint,
        Kind::FjallCompacted,
        Kind::SledCompacted,
        Kind::FjallRedb,
        Kind::FjallRedbCheckpoint,
        Kind::FjallRedbCompacted,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Fjall => "fjall",
            Kind::Sled => "sled",
            Kind::FjallCheckpoint => "fjall+checkpoint",
            Kind::SledCheckpoint => "sled+checkpoint",
            Kind::FjallCompacted => "fjall+compacted",
            Kind::SledCompacted => "sled+compacted",
            Kind::FjallRedb => "fjall-redb",
            Kind::FjallRedbCheckpoint => "fjall-redb+checkpoint",
            Kind::FjallRedbCompacted => "fjall-redb+compacted",
        }
    }

    fn parse(s: &str) -> Kind {
        Kind::ALL.into_iter().find(|k| k.name() == s).unwrap()
    }

    fn engine(self) -> EngineKind {
        match self {
            Kind::Fjall | Kind::FjallCheckpoint | Kind::FjallCompacted => EngineKind::Fjall,
            Kind::Sled | Kind::SledCheckpoint | Kind::SledCompacted => EngineKind::Sled,
            Kind::FjallRedb | Kind::FjallRedbCheckpoint | Kind::FjallRedbCompacted => {
                EngineKind::FjallRedb
            }
        }
    }

    fn has_checkpoint(self) -> bool {
        matches!(
            self,
            Kind::FjallCheckpoint | Kind::SledCheckpoint | Kind::FjallRedbCheckpoint
        )
    }

    fn compacted(self) -> bool {
        matches!(
            self,
            Kind::FjallCompacted | Kind::SledCompacted | Kind::FjallRedbCompacted
        )
    }

    /// Whether the engine's journal holds the only copy of the last commits of the closed
    /// store, so that cutting it loses acknowledged commits: sled's. Not fjall's: a close
    /// flushes fjall's memtables into table files (and a compaction's copy holds them there).
    fn journal_holds_commits(self) -> bool {
        !self.compacted() && self.engine() == EngineKind::Sled
    }

    /// Builds the store at `<dir>/store` and closes it.
    fn build(self, dir: &Path) -> PathBuf {
        let store = dir.join("store");
        let mut db = Db::open_with(&store, Options::default().engine(self.engine())).unwrap();
        let deletions = fill_head(&db);
        if self.has_checkpoint() {
            db.checkpoint().unwrap();
        }
        if self.compacted() {
            db = db.compact(|_| {}).unwrap().0;
        }
        fill_tail(&db, &deletions);
        db.close().unwrap();
        assert_eq!(store.join("checkpoint").is_dir(), self.has_checkpoint());
        store
    }
}

/// Two related tables, 60 parents with 3 children each in 6 transactions, 20 updates, 5
/// cascading deletions of parents (3, 11, 17, 29, 42); returns the deletions.
fn fill_head(db: &Db) -> Vec<uuid::Uuid> {
    db.create_table(
        TableBuilder::new("parent")
            .column(("id", ColumnType::Int))
            .column(("name", ColumnType::Text))
            .column(("n", ColumnType::Int))
            .primary_key("id")
            .unique(["name"]),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("child")
            .column(("id", ColumnType::Int))
            .column(("parent_id", ColumnType::Int))
            .column(("code", ColumnType::Text))
            .column(("note", ColumnType::Text))
            .primary_key("id")
            .unique(["code"])
            .foreign_key("parent_id", "parent", OnDelete::Cascade),
    )
    .unwrap();
    for batch in 0..6i64 {
        db.transaction(|tx| {
            for i in 0..10i64 {
                let p = batch * 10 + i;
                let row = tx.insert(
                    "parent",
                    Row::new().with("name", format!("p{p}")).with("n", p * 7),
                )?;
                let pid = row.get("id").cloned().unwrap_or_default();
                for c in 0..3i64 {
                    tx.insert(
                        "child",
                        Row::new()
                            .with("parent_id", pid.clone())
                            .with("code", format!("c{p}-{c}"))
                            .with("note", "x".repeat((p * 3 + c) as usize % 40)),
                    )?;
                }
            }
            Ok::<_, Error>(())
        })
        .unwrap();
    }
    for i in 1..=20i64 {
        db.update(
            "child",
            i * 3,
            Row::new().with("note", format!("edited {i}")),
        )
        .unwrap();
    }
    [3i64, 11, 17, 29, 42]
        .into_iter()
        .map(|p| db.delete("parent", p).unwrap().deletion)
        .collect()
}

/// The last writes (after the checkpoint or the compaction): a child deleted on its own, two of
/// the deletions restored, one more update. The trash keeps parents 3, 17, 42 and child 100.
fn fill_tail(db: &Db, deletions: &[uuid::Uuid]) {
    db.delete("child", 100).unwrap();
    db.restore(deletions[1], RestorePolicy::Refuse).unwrap();
    db.restore(deletions[3], RestorePolicy::Refuse).unwrap();
    db.update("parent", 1, Row::new().with("n", -1)).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Reading a store: every read the matrix judges, with its answer.

/// What one read answered: its debug text, or the error (`Variant: message`).
type Answer = Result<String, String>;

/// The answer of a `verify` that found nothing.
const CLEAN: &str = "clean";

/// The rows `get` reads: live, live and updated, in the trash by a cascade, restored with
/// their deletion, deleted on their own.
const GETS: [(&str, i64); 7] = [
    ("parent", 1),
    ("parent", 3),
    ("parent", 11),
    ("parent", 60),
    ("child", 3),
    ("child", 10),
    ("child", 100),
];

/// Opens the store at `path` (it must exist) and reads it: the tables, `get` of [`GETS`], a
/// scan of each table, the trash, the rows of `deletion`, a row's history, the whole log, the
/// last LSN, then `verify`; with `rebuild`, then `rebuild` (which starts from the checkpoint)
/// and the scans, the trash and `verify` again; then `close`. Each read is tried even when an
/// earlier one failed; only a failed open ends the list.
fn read_store(path: &Path, deletion: uuid::Uuid, rebuild: bool) -> Vec<(String, Answer)> {
    let mut out = Vec::new();
    let opened = Db::open_with(
        path,
        Options {
            must_exist: true,
            ..Options::default()
        },
    );
    let db = match opened {
        Ok(db) => db,
        Err(e) => {
            out.push(("open".to_string(), Err(error_text(&e))));
            return out;
        }
    };
    out.push(("open".to_string(), Ok(String::new())));
    let mut step = |name: &str, r: Result<String, Error>| {
        out.push((name.to_string(), r.map_err(|e| error_text(&e))));
    };
    let verdict = |r: lazarusdb::VerifyReport| {
        if r.is_ok() {
            CLEAN.to_string()
        } else {
            format!("{} differences: {:?}", r.differences.len(), r.differences)
        }
    };
    step("tables", db.tables().map(|v| format!("{v:?}")));
    for (table, pk) in GETS {
        step(
            &format!("get {table} {pk}"),
            db.get(table, pk).map(|v| format!("{v:?}")),
        );
    }
    let scans = |step: &mut dyn FnMut(&str, Result<String, Error>), after: &str| {
        for table in ["parent", "child"] {
            step(
                &format!("scan {table}{after}"),
                db.scan(table, Scan::all()).map(|v| format!("{v:?}")),
            );
        }
        step(
            &format!("trash{after}"),
            db.trash(&TrashQuery::all()).map(|v| format!("{v:?}")),
        );
    };
    scans(&mut step, "");
    step(
        "deletion_rows",
        db.deletion_rows(deletion).map(|v| format!("{v:?}")),
    );
    step(
        "history child 3",
        db.history("child", 3).map(|v| format!("{v:?}")),
    );
    step("events", db.events(1, None).map(|v| format!("{v:?}")));
    step("last_lsn", Ok(db.last_lsn().to_string()));
    step("verify", db.verify().map(verdict));
    if rebuild {
        step("rebuild", db.rebuild().map(|n| n.to_string()));
        scans(&mut step, " after rebuild");
        step("verify after rebuild", db.verify().map(verdict));
    }
    step("close", db.close().map(|()| String::new()));
    out
}

/// `Variant: message` (`Corrupted: corrupted store data (...)`).
fn error_text(e: &Error) -> String {
    format!("{}: {e}", variant(e))
}

/// The name of an error's variant (`Corrupted`, `Io`, ...).
fn variant(e: &Error) -> String {
    format!("{e:?}")
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

/// Errors that do not say the store is damaged but answer the question ("no such table", "no
/// such row", "no such deletion"): where the undamaged store answered, they are wrong answers.
const ANSWERING_ERRORS: [&str; 8] = [
    "UnknownTable",
    "UnknownColumn",
    "UnknownIndex",
    "NotFound",
    "UnknownDeletion",
    "Purged",
    "HistoryExpired",
    "AlreadyDeleted",
];

fn answers(error: &str) -> bool {
    let v = error.split(':').next().unwrap_or("");
    ANSWERING_ERRORS.contains(&v)
}

/// The deletion of parent 3 (in the trash), read from the undamaged store at `path`, whose
/// content is checked on the way.
fn trashed_deletion(path: &Path) -> uuid::Uuid {
    let db = Db::open(path).unwrap();
    assert_eq!(db.count("parent").unwrap(), 57);
    assert_eq!(db.count("child").unwrap(), 170);
    assert_eq!(db.trash(&TrashQuery::all()).unwrap().len(), 4);
    let id = db.find_deletion("parent", 3).unwrap().unwrap();
    db.close().unwrap();
    id
}

/// A fresh folder for one case's copy of a store: in `/dev/shm` when there is one (a memory
/// file system: the copies, opens and closes of thousands of cases cost no disk writes), else
/// in the temporary folder.
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::tempdir_in(shm) {
            return d;
        }
    }
    tempfile::tempdir().unwrap()
}

// ---------------------------------------------------------------------------------------------
// A store's files kept in memory.

/// A store's files: relative path → (bytes up to the last non-zero byte, length), and its
/// folders. Writing them back keeps a preallocated tail sparse (fjall's journal is 64 MiB of
/// mostly zeros).
struct Template {
    files: BTreeMap<PathBuf, (Vec<u8>, u64)>,
    dirs: Vec<PathBuf>,
}

impl Template {
    /// The files of the store at `store` (read without opening it).
    fn load(store: &Path) -> Template {
        let mut t = Template {
            files: BTreeMap::new(),
            dirs: Vec::new(),
        };
        t.walk(store, store);
        t.dirs.sort();
        t
    }

    fn walk(&mut self, root: &Path, dir: &Path) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            if p.is_dir() {
                self.dirs.push(rel);
                self.walk(root, &p);
            } else {
                let mut bytes = std::fs::read(&p).unwrap();
                let len = bytes.len() as u64;
                let end = bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
                bytes.truncate(end);
                self.files.insert(rel, (bytes, len));
            }
        }
    }

    /// Writes a fresh copy of the store into `to`.
    fn materialize(&self, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for d in &self.dirs {
            std::fs::create_dir_all(to.join(d)).unwrap();
        }
        for (rel, (bytes, len)) in &self.files {
            let p = to.join(rel);
            std::fs::write(&p, bytes).unwrap();
            std::fs::OpenOptions::new()
                .write(true)
                .open(&p)
                .unwrap()
                .set_len(*len)
                .unwrap();
        }
    }

    /// The names directly inside the folder `dir` ("" is the store's own folder).
    fn names_in(&self, dir: &Path) -> Vec<String> {
        self.files
            .keys()
            .chain(&self.dirs)
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect()
    }

    /// True for the version file fjall reads: the `v<N>` of highest N in its folder.
    fn is_newest_version(&self, rel: &Path) -> bool {
        let Some(n) = version_number(rel) else {
            return false;
        };
        !self
            .files
            .keys()
            .any(|o| o.parent() == rel.parent() && version_number(o).is_some_and(|m| m > n))
    }

    /// True for a version file fjall has moved past: a `v<N>` with a higher one beside it.
    fn is_stale_version(&self, rel: &Path) -> bool {
        version_number(rel).is_some() && !self.is_newest_version(rel)
    }
}

/// Where the entry count (u32, little-endian) of an sfa archive's table of contents is, if the
/// file is one (fjall's table and version files): its trailer, the last 38 bytes, is `SFA!`,
/// version, checksum type, the TOC's checksum (u128), position (u64) and length (u64); the TOC
/// starts with `TOC!` and the count. `bytes` is the file up to its last non-zero byte.
fn sfa_toc_count(bytes: &[u8], len: u64) -> Option<u64> {
    let byte = |i: u64| usize::try_from(i).map_or(0, |i| bytes.get(i).copied().unwrap_or(0));
    let trailer: Vec<u8> = (len.checked_sub(38)?..len).map(byte).collect();
    if !trailer.starts_with(b"SFA!") {
        return None;
    }
    let toc = u64::from_le_bytes(trailer.get(22..30)?.try_into().ok()?);
    let magic: Vec<u8> = (toc..toc.checked_add(4)?).map(byte).collect();
    (magic == b"TOC!" && toc + 8 <= len).then_some(toc + 4)
}

/// N for fjall's version file `v<N>`.
fn version_number(rel: &Path) -> Option<u64> {
    rel.file_name()?.to_str()?.strip_prefix('v')?.parse().ok()
}

/// The engine's log of commits: fjall's journal, sled's `db` file.
fn is_log(rel: &Path) -> bool {
    let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".jnl") || name == "db"
}

/// A name the engine could expect among `names`: the next of a numbered series (`14` after
/// `13`, `v16` after `v15`, `1.jnl` after `0.jnl`, sled's `snap.<hex>`), else `1`.
fn next_name(names: &[String]) -> String {
    type Series = (&'static str, &'static str, u32);
    // (prefix, suffix, radix)
    const SERIES: [Series; 4] = [
        ("", "", 10),
        ("v", "", 10),
        ("", ".jnl", 10),
        ("snap.", "", 16),
    ];
    for (prefix, suffix, radix) in SERIES {
        let mut best: Option<(u64, usize)> = None;
        for name in names {
            let Some(mid) = name
                .strip_prefix(prefix)
                .and_then(|n| n.strip_suffix(suffix))
            else {
                continue;
            };
            if mid.is_empty() || !mid.chars().all(|c| c.is_digit(radix)) {
                continue;
            }
            if let Ok(n) = u64::from_str_radix(mid, radix) {
                if best.is_none_or(|(b, _)| n > b) {
                    best = Some((n, mid.len()));
                }
            }
        }
        if let Some((n, width)) = best {
            let next = if radix == 16 {
                format!("{:0width$X}", n + 1)
            } else {
                (n + 1).to_string()
            };
            return format!("{prefix}{next}{suffix}");
        }
    }
    "1".to_string()
}

// ---------------------------------------------------------------------------------------------
// Damage cases.

#[derive(Clone, Debug, PartialEq, Eq)]
enum Damage {
    /// Invert the byte at this offset.
    Flip(u64),
    /// Cut the file at this length.
    Truncate(u64),
    /// Delete the file.
    Delete,
    /// Overwrite the whole file with zeros (same length).
    Zero,
    /// Add a file of this name holding random bytes to the folder.
    StrayFile(String),
    /// Add an empty folder of this name to the folder.
    StrayDir(String),
}

impl Damage {
    fn apply(&self, at: &Path) {
        let open = || {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(at)
                .unwrap()
        };
        match self {
            Damage::Truncate(len) => open().set_len(*len).unwrap(),
            Damage::Flip(offset) => {
                // in place: fjall's journal is 64 MiB long, mostly a sparse tail
                let mut f = open();
                let mut buf = [0u8; 1];
                f.seek(SeekFrom::Start(*offset)).unwrap();
                f.read_exact(&mut buf).unwrap();
                buf[0] = !buf[0];
                f.seek(SeekFrom::Start(*offset)).unwrap();
                f.write_all(&buf).unwrap();
            }
            Damage::Delete => std::fs::remove_file(at).unwrap(),
            Damage::Zero => {
                let f = open();
                let len = f.metadata().unwrap().len();
                // a hole reads as zeros: cut to nothing, then extend again
                f.set_len(0).unwrap();
                f.set_len(len).unwrap();
            }
            Damage::StrayFile(name) => {
                let seed = name
                    .bytes()
                    .fold(0x5757_AA11u64, |h, b| h.rotate_left(7) ^ u64::from(b));
                std::fs::write(at.join(name), Rng(seed | 1).bytes(100)).unwrap();
            }
            Damage::StrayDir(name) => std::fs::create_dir(at.join(name)).unwrap(),
        }
    }
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::Flip(at) => write!(f, "flip byte {at}"),
            Damage::Truncate(len) => write!(f, "truncate to {len}"),
            Damage::Delete => write!(f, "delete"),
            Damage::Zero => write!(f, "zero-fill"),
            Damage::StrayFile(name) => write!(f, "stray file {name:?}"),
            Damage::StrayDir(name) => write!(f, "stray folder {name:?}"),
        }
    }
}

/// What a case must end in, beyond the rule of every case (each read right or an error, and
/// `verify` vouching only for right reads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// The rule alone.
    RightOrError,
    /// Damage to the checkpoint: every read right, `verify` clean (the store may drop it).
    Right,
    /// The log of a store that was not compacted cut inside its data (acknowledged commits
    /// lost), or flipped at ¼, ½ or ¾ of it: the open fails (the high-water mark, checksums).
    OpenError,
}

/// One damage case: a file (or, for strays, a folder; "" is the store's folder) and what is
/// done to it.
#[derive(Clone, Debug)]
struct Case {
    rel: PathBuf,
    damage: Damage,
    expect: Expect,
}

impl std::fmt::Display for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let place = if self.rel.as_os_str().is_empty() {
            "<store>/".to_string()
        } else {
            self.rel.display().to_string()
        };
        write!(f, "{place}: {}", self.damage)
    }
}

/// Runs every offset, not the sample (see the module docs).
const LONG: &str = "LAZARUS_DAMAGE_LONG";

fn long_mode() -> bool {
    std::env::var(LONG).is_ok_and(|v| v == "1")
}

/// The damage cases of a store of `kind` whose files are `t` (see the module docs for what the
/// default run samples and what `long` adds).
fn cases(t: &Template, kind: Kind, long: bool) -> Vec<Case> {
    // The old single-engine tests' extra offsets (¼, ½, ¾ of the log, of files over 4 KiB, of
    // fjall's current version files) on the plain stores; on every store in the long run.
    let extras = long || matches!(kind, Kind::Fjall | Kind::Sled | Kind::FjallRedb);
    // By default a store with a checkpoint is damaged in its checkpoint and its own folder only:
    // the rest is the plain store's (same engine, same history), damaged in its own column.
    let sampled = |rel: &Path| {
        long || !kind.has_checkpoint()
            || rel.starts_with("checkpoint")
            || rel.parent() == Some(Path::new(""))
    };
    let mut out = Vec::new();
    let mut stale_versions = 0usize;
    for (rel, (bytes, len)) in &t.files {
        if !sampled(rel) {
            continue;
        }
        let (len, data) = (*len, bytes.len() as u64);
        let expect = if rel.starts_with("checkpoint") {
            Expect::Right
        } else {
            Expect::RightOrError
        };
        if !long && t.is_stale_version(rel) && len > 0 {
            // fjall's older version files (it reads the newest): one damage each by default,
            // the four taking turns
            let damage = match stale_versions % 4 {
                0 => Damage::Flip(len / 2),
                1 => Damage::Truncate(len / 2),
                2 => Damage::Delete,
                _ => Damage::Zero,
            };
            stale_versions += 1;
            out.push(Case {
                rel: rel.clone(),
                damage,
                expect,
            });
            continue;
        }
        let log = rel.starts_with("data") && is_log(rel);
        let mut flips = BTreeSet::new();
        let mut cuts = BTreeSet::new();
        // flips that must be detected at open (the old `a_bit_flipped_*_log_is_detected`)
        let mut detected = BTreeSet::new();
        if len > 0 {
            flips.extend([0, len / 2, len - 1]);
            cuts.insert(len / 2);
            if data > 0 && data < len / 2 {
                // a preallocated zero tail: the middle and the end of the data too
                flips.extend([data / 2, data - 1]);
                cuts.insert(data / 2);
            }
            // big files and the log: cut there too
            let big = log || data > 4096 || len - data > data;
            let newest_version = kind.engine() != EngineKind::Sled && t.is_newest_version(rel);
            if extras && (big || newest_version) {
                for q in 1..=3 {
                    flips.insert(data * q / 4);
                    if big {
                        cuts.insert(data * q / 4);
                    }
                    if log && kind.journal_holds_commits() {
                        detected.insert(data * q / 4);
                    }
                }
            }
            if let Some(count) = sfa_toc_count(bytes, len) {
                // fjall's table and version files end in an sfa table of contents whose entry
                // count is read (and allocated for) before its checksum is checked: its high
                // byte inverted asks for some 170 GB
                flips.insert(count + 3);
                if long {
                    flips.extend(count..count + 4);
                    flips.extend(len - 16..len - 8); // the trailer's TOC position
                }
            }
            if long {
                let mut rng = Rng(rel
                    .to_string_lossy()
                    .bytes()
                    .fold(0xDA3A_6E00u64, |h, b| h.rotate_left(5) ^ u64::from(b))
                    | 1);
                flips.extend([len / 4, len * 3 / 4]);
                cuts.extend([0, len / 4, len * 3 / 4, len - 1]);
                if data > 0 {
                    flips.extend([data / 4, data * 3 / 4]);
                    cuts.extend([data / 4, data * 3 / 4, data - 1]);
                    flips.extend((0..4).map(|_| rng.next() % data));
                }
                flips.extend((0..2).map(|_| rng.next() % len));
                if len <= 64 {
                    flips.extend(0..len);
                }
            }
        }
        for at in flips {
            out.push(Case {
                rel: rel.clone(),
                damage: Damage::Flip(at.min(len - 1)),
                expect: if detected.contains(&at) {
                    Expect::OpenError
                } else {
                    expect
                },
            });
        }
        for at in cuts {
            // Cutting the log inside its data loses acknowledged commits: the high-water mark
            // must catch it (a compacted store may hold them in table files).
            let expect = if log && at < data && kind.journal_holds_commits() {
                Expect::OpenError
            } else {
                expect
            };
            out.push(Case {
                rel: rel.clone(),
                damage: Damage::Truncate(at),
                expect,
            });
        }
        out.push(Case {
            rel: rel.clone(),
            damage: Damage::Delete,
            expect,
        });
        if len > 0 {
            out.push(Case {
                rel: rel.clone(),
                damage: Damage::Zero,
                expect,
            });
        }
    }
    let own = |v: &[&str]| v.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
    let folders = std::iter::once(PathBuf::new()).chain(t.dirs.iter().cloned());
    for (i, dir) in folders.enumerate() {
        if !dir.as_os_str().is_empty() && !sampled(&dir.join("x")) {
            continue;
        }
        let (files, dirs) = if dir.as_os_str().is_empty() {
            // what the store itself keeps or leaves beside its data (docs/design.md §2, §11)
            let checkpoint = if kind.has_checkpoint() {
                "checkpoint.old"
            } else {
                "checkpoint"
            };
            (
                own(&[
                    "stray",
                    "COMPACTED",
                    "HWM.tmp",
                    "LAZARUS.tmp",
                    "data.compact",
                    "checkpoint.tmp",
                ]),
                own(&[
                    "lost+found",
                    "data.compact",
                    "data.old",
                    "checkpoint.tmp",
                    checkpoint,
                ]),
            )
        } else {
            let next = next_name(&t.names_in(&dir));
            let (files, dirs) = (
                vec!["stray".to_string(), next.clone()],
                vec!["lost+found".to_string(), next],
            );
            if long {
                (files, dirs)
            } else {
                // by default one name of each, the two taking turns from folder to folder
                (vec![files[i % 2].clone()], vec![dirs[(i + 1) % 2].clone()])
            }
        };
        let expect = if dir.starts_with("checkpoint") {
            Expect::Right
        } else {
            Expect::RightOrError
        };
        for name in files {
            out.push(Case {
                rel: dir.clone(),
                damage: Damage::StrayFile(name),
                expect,
            });
        }
        for name in dirs {
            out.push(Case {
                rel: dir.clone(),
                damage: Damage::StrayDir(name),
                expect,
            });
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Judging one case.

/// How one case ended.
struct Verdict {
    /// `F` fine; `W` a wrong answer without an error (or an error that answers, like
    /// `UnknownTable`); `V` `verify` vouched for a store whose reads failed; `C` damage to the
    /// checkpoint changed an answer; `L` lost commits went unnoticed at open; `X` a panic, a
    /// dead or a hung process.
    class: char,
    /// Short, for the tally.
    label: String,
    /// What happened, on one line.
    detail: String,
}

/// `got` and `want` side by side, shortened around where they first differ.
fn show_difference(want: &str, got: &str) -> String {
    let at = want
        .bytes()
        .zip(got.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(want.len().min(got.len()));
    let around = |s: &str| -> String {
        let (from, to) = (at.saturating_sub(60), at + 100);
        s.char_indices()
            .filter(|(i, _)| (from..to).contains(i))
            .map(|(_, c)| c)
            .collect()
    };
    format!(
        "got {} bytes, want {}; from byte {at}: got `{}` want `{}`",
        got.len(),
        want.len(),
        around(got),
        around(want)
    )
}

fn judge(case: &Case, truth: &[(String, Answer)], got: &[(String, Answer)]) -> Verdict {
    let want: BTreeMap<&str, &Answer> = truth.iter().map(|(n, a)| (n.as_str(), a)).collect();
    let mut wrong = Vec::new();
    let mut errors = Vec::new();
    let mut vouched = Vec::new();
    let mut flagged = false;
    // the reads a `verify` vouches for: those since the previous `verify` or `rebuild`
    let mut since: Vec<&str> = Vec::new();
    let mut failed: BTreeSet<&str> = BTreeSet::new();
    for (name, answer) in got {
        let name = name.as_str();
        let Some(Ok(w)) = want.get(name).copied() else {
            panic!(
                "the undamaged store did not answer {name}: {:?}",
                want.get(name)
            );
        };
        match answer {
            Err(e) => {
                if answers(e) && name != "close" {
                    wrong.push(format!("{name}: {e}"));
                } else {
                    errors.push(format!("{name}: {e}"));
                }
                failed.insert(name);
            }
            Ok(g) if name.starts_with("verify") => {
                if g == CLEAN {
                    let bad: Vec<&str> = since
                        .iter()
                        .copied()
                        .filter(|s| failed.contains(s))
                        .collect();
                    if !bad.is_empty() {
                        vouched.push(format!("{name} clean after failed reads {bad:?}"));
                    }
                } else {
                    flagged = true;
                    errors.push(format!(
                        "{name}: {}",
                        g.chars().take(300).collect::<String>()
                    ));
                }
                since.clear();
            }
            Ok(_) if name == "rebuild" || name == "close" => since.clear(),
            Ok(g) if g == w => {}
            Ok(g) => {
                wrong.push(format!("{name}: {}", show_difference(w, g)));
                failed.insert(name);
            }
        }
        if !name.starts_with("verify") && name != "rebuild" && name != "close" {
            since.push(name);
        }
    }
    let first_error = errors.first().cloned().unwrap_or_default();
    let error_label = || {
        let (step, e) = first_error.split_once(": ").unwrap_or(("", ""));
        let v = e.split(':').next().unwrap_or("");
        if step.starts_with("verify") && !e.starts_with(|c: char| c.is_ascii_uppercase()) {
            "verify flags differences".to_string()
        } else {
            format!("{v} at {step}")
        }
    };
    if !wrong.is_empty() {
        let label = if wrong.iter().all(|w| {
            w.split_once(": ")
                .is_some_and(|(_, e)| answers(e) && !e.starts_with("got "))
        }) {
            "WRONG ANSWER (an error that answers)"
        } else {
            "WRONG ANSWER"
        };
        return Verdict {
            class: 'W',
            label: format!(
                "{label}{}",
                if flagged {
                    " (verify flags differences)"
                } else {
                    " (verify says nothing)"
                }
            ),
            detail: wrong.join(" | "),
        };
    }
    if !vouched.is_empty() {
        return Verdict {
            class: 'V',
            label: "VERIFY VOUCHES FOR FAILED READS".into(),
            detail: format!("{} | {}", vouched.join(" | "), errors.join(" | ")),
        };
    }
    if case.expect == Expect::Right && !errors.is_empty() {
        return Verdict {
            class: 'C',
            label: format!("CHECKPOINT DAMAGE CHANGED AN ANSWER ({})", error_label()),
            detail: errors.join(" | "),
        };
    }
    let opened = got.first().is_some_and(|(_, a)| a.is_ok());
    if case.expect == Expect::OpenError && opened {
        return Verdict {
            class: 'L',
            label: "LOST COMMITS NOT DETECTED AT OPEN".into(),
            detail: errors.join(" | "),
        };
    }
    if errors.is_empty() {
        Verdict {
            class: 'F',
            label: "Ok (right)".into(),
            detail: String::new(),
        }
    } else {
        Verdict {
            class: 'F',
            label: error_label(),
            detail: first_error,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running the cases in child processes.
//
// The damage cases run in a child process (this test binary, re-run with CASES_CHILD set), so
// that an abort (a failed huge allocation from a damaged length) or a hang is reported as the
// outcome of its case instead of ending the whole test run. The child runs the cases from a
// given index, one after the other, and prints `@@start <i>` before each and
// `@@done <i> <class>\t<label>\t<detail>` after it; when it dies (or prints nothing for
// CASE_LIMIT), the parent records the started case as ended by the signal (or hung) and runs a
// new child from the next case.

const CASES_CHILD: &str = "LAZARUS_CORRUPTION_CHILD";
/// A case that prints nothing for this long is presumed hung.
const CASE_LIMIT: Duration = Duration::from_secs(30);

/// The child: `spec` is `<template store>|<kind>|<long 0|1>|<first case>|<lane>/<lanes>`; it
/// runs the cases from the first on whose index is the lane modulo the lanes.
fn cases_child(spec: &str) {
    let mut parts = spec.split('|');
    let template = PathBuf::from(parts.next().unwrap());
    let kind = Kind::parse(parts.next().unwrap());
    let long = parts.next().unwrap() == "1";
    let first: usize = parts.next().unwrap().parse().unwrap();
    let (lane, lanes) = parts.next().unwrap().split_once('/').unwrap();
    let (lane, lanes): (usize, usize) = (lane.parse().unwrap(), lanes.parse().unwrap());
    let template = Template::load(&template);
    let (deletion, truth) = {
        let dir = scratch_dir();
        let store = dir.path().join("store");
        template.materialize(&store);
        let deletion = trashed_deletion(&store);
        let truth = read_store(&store, deletion, kind.has_checkpoint());
        let answer = |step: &str| -> String {
            let (_, a) = truth.iter().find(|(n, _)| n == step).unwrap();
            a.clone().unwrap()
        };
        for (name, answer) in &truth {
            assert!(answer.is_ok(), "the undamaged store: {name}: {answer:?}");
            if name.starts_with("verify") {
                assert_eq!(answer.as_deref(), Ok(CLEAN), "the undamaged store: {name}");
            }
        }
        if kind.has_checkpoint() {
            // the rebuild started from the checkpoint: it replayed only the last writes
            let replayed: u64 = answer("rebuild").parse().unwrap();
            let last: u64 = answer("last_lsn").parse().unwrap();
            assert!(replayed < last / 4, "replayed {replayed} of {last} events");
        }
        (deletion, truth)
    };
    let mut out = std::io::stdout();
    for (i, case) in cases(&template, kind, long).into_iter().enumerate() {
        if i < first || i % lanes != lane {
            continue;
        }
        writeln!(out, "@@start {i}").unwrap();
        out.flush().unwrap();
        // on stderr too, where the parent finds what the case printed if it dies
        eprintln!("@@start {i}");
        let dir = scratch_dir();
        let store = dir.path().join("store");
        template.materialize(&store);
        case.damage.apply(&store.join(&case.rel));
        let verdict = {
            let _one = one_case_at_a_time();
            take_panics();
            let got = std::panic::catch_unwind(AssertUnwindSafe(|| {
                read_store(&store, deletion, kind.has_checkpoint())
            }));
            // an engine's background thread may panic as the store closes
            std::thread::sleep(Duration::from_millis(5));
            let panics = take_panics();
            // Panics the store caught itself (it turns an engine's panic at open into
            // `Corrupted`) happen on this thread; any other thread's panic escaped everyone.
            let me = format!("thread {}:", thread_name());
            let escaped: Vec<String> = panics
                .iter()
                .filter(|p| !p.starts_with(&me))
                .cloned()
                .collect();
            match got {
                Err(_) => Verdict {
                    class: 'X',
                    label: "PANIC".into(),
                    detail: panics.join(" | "),
                },
                Ok(_) if !escaped.is_empty() => Verdict {
                    class: 'X',
                    label: "PANIC (another thread)".into(),
                    detail: escaped.join(" | "),
                },
                Ok(got) => judge(&case, &truth, &got),
            }
        };
        let detail = verdict.detail.replace(['\n', '\t'], " ");
        writeln!(
            out,
            "@@done {i} {}\t{}\t{detail}",
            verdict.class, verdict.label
        )
        .unwrap();
        out.flush().unwrap();
    }
}

/// Damages a store of `kind` in every way of [`cases`] (each time in a fresh copy of it) and
/// reads it back, in child processes running the test `test_name`: [`lanes`] children at a
/// time, each running every `lanes`-th case.
fn run_cases(test_name: &str, kind: Kind, long: bool) -> (Vec<Case>, Vec<Verdict>) {
    let dir = tempfile::tempdir().unwrap();
    let store = kind.build(dir.path());
    let cases = cases(&Template::load(&store), kind, long);
    let verdicts: Mutex<Vec<Option<Verdict>>> = Mutex::new(cases.iter().map(|_| None).collect());
    let lanes = lanes();
    let column = Column {
        test_name,
        kind,
        long,
        store: &store,
        n: cases.len(),
        verdicts: &verdicts,
    };
    std::thread::scope(|scope| {
        for lane in 0..lanes {
            let stderr_file = dir.path().join(format!("child{lane}.stderr"));
            let column = &column;
            scope.spawn(move || column.run_lane(lane, lanes, &stderr_file));
        }
    });
    let verdicts = verdicts.into_inner().unwrap();
    (cases, verdicts.into_iter().map(Option::unwrap).collect())
}

/// How many children run a column's cases at once: one per core, at most 4.
fn lanes() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// The cases of one store kind, run by [`Column::run_lane`]s.
struct Column<'a> {
    test_name: &'a str,
    kind: Kind,
    long: bool,
    /// The undamaged store the children copy.
    store: &'a Path,
    /// How many cases.
    n: usize,
    verdicts: &'a Mutex<Vec<Option<Verdict>>>,
}

impl Column<'_> {
    /// Runs the cases `i` with `i % lanes == lane` in children, one after the other, a new child
    /// from the next case whenever one dies or hangs; records each case's verdict.
    fn run_lane(&self, lane: usize, lanes: usize, stderr_file: &Path) {
        let Column {
            test_name,
            kind,
            long,
            store,
            n,
            verdicts,
        } = *self;
        let set = |i: usize, v: Verdict| verdicts.lock().unwrap()[i] = Some(v);
        let mut next = lane;
        while next < n {
            let spec = format!(
                "{}|{}|{}|{next}|{lane}/{lanes}",
                store.display(),
                kind.name(),
                u8::from(long)
            );
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args([
                    test_name,
                    "--exact",
                    "--include-ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CASES_CHILD, spec)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::from(std::fs::File::create(stderr_file).unwrap()))
                .spawn()
                .unwrap();
            let stdout = child.stdout.take().unwrap();
            let (tx, rx) = mpsc::channel::<String>();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            let mut started: Option<usize> = None;
            let mut last_done: Option<usize> = None;
            let mut hung = false;
            loop {
                match rx.recv_timeout(CASE_LIMIT) {
                    Ok(line) => {
                        // the harness may print `test <name> ... ` before the child's first line
                        let line = line.find("@@").map_or("", |at| &line[at + 2..]);
                        if let Some(i) = line.strip_prefix("start ") {
                            started = Some(i.parse().unwrap());
                        } else if let Some(rest) = line.strip_prefix("done ") {
                            let (head, tail) = rest.split_once('\t').unwrap();
                            let (i, class) = head.split_once(' ').unwrap();
                            let i: usize = i.parse().unwrap();
                            let (label, detail) = tail.split_once('\t').unwrap();
                            set(
                                i,
                                Verdict {
                                    class: class.chars().next().unwrap(),
                                    label: label.to_string(),
                                    detail: detail.to_string(),
                                },
                            );
                            started = None;
                            last_done = Some(i);
                            next = i + lanes;
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        hung = true;
                        let _ = child.kill();
                        break;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
            let status = child.wait().unwrap();
            if next >= n && status.success() {
                break;
            }
            let stderr = std::fs::read_to_string(stderr_file).unwrap_or_default();
            // the case that was running, or else the last one (an engine's thread outliving it)
            let (i, after) = match (started, last_done) {
                (Some(i), _) => (i, ""),
                (None, Some(i)) => (i, " after the case ended"),
                (None, None) => {
                    panic!("the case child ended before its first case ({status}):\n{stderr}")
                }
            };
            let label = if hung {
                format!("HANG (no answer in {CASE_LIMIT:?}){after}")
            } else {
                format!("PROCESS DIED ({status}){after}")
            };
            // the first lines the case printed usually say why (an allocation failure, a panic)
            let printed = stderr
                .rsplit_once(&format!("@@start {i}\n"))
                .map_or(stderr.as_str(), |(_, after)| after);
            let detail = printed
                .lines()
                .map(str::trim)
                .filter(|l| !l.starts_with("at ") && *l != "stack backtrace:")
                // of a backtrace, the frames past the standard library's
                .filter(|l| {
                    let frame = l.split_once(": ").filter(|(n, _)| n.parse::<u32>().is_ok());
                    frame.is_none_or(|(_, f)| {
                        !["std::", "core::", "alloc::", "__rustc::", "<alloc::"]
                            .iter()
                            .any(|p| f.starts_with(p))
                    })
                })
                .take(8)
                .collect::<Vec<_>>()
                .join(" / ");
            set(
                i,
                Verdict {
                    class: 'X',
                    label,
                    detail,
                },
            );
            next = i + lanes;
        }
    }
}

/// One column of the matrix: every damage case of a store of `kind`. Prints every case's
/// outcome (`-- --nocapture`) and a tally, and fails listing every case that ended otherwise
/// than in the right answers or a typed error (see [`Verdict::class`]).
fn damage_matrix(test_name: &str, kind: Kind) {
    begin_test();
    if let Ok(spec) = std::env::var(CASES_CHILD) {
        cases_child(&spec);
        return;
    }
    let start = Instant::now();
    let long = long_mode();
    let (cases, verdicts) = run_cases(test_name, kind, long);
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    let mut bad = Vec::new();
    for (case, v) in cases.iter().zip(&verdicts) {
        println!("{} {case}: {} | {}", kind.name(), v.label, v.detail);
        *tally.entry(v.label.as_str()).or_default() += 1;
        if v.class != 'F' {
            bad.push(format!("{case}: {} | {}", v.label, v.detail));
        }
    }
    println!(
        "{}: {} cases{} in {:.1?}: {tally:?}",
        kind.name(),
        cases.len(),
        if long { " (long)" } else { "" },
        start.elapsed()
    );
    assert!(
        bad.is_empty(),
        "{}: {} of {} damage cases did not end in the right answers or a typed error:\n{}",
        kind.name(),
        bad.len(),
        cases.len(),
        bad.join("\n")
    );
}

#[test]
fn damage_matrix_fjall() {
    damage_matrix("damage_matrix_fjall", Kind::Fjall);
}

#[test]
fn damage_matrix_sled() {
    damage_matrix("damage_matrix_sled", Kind::Sled);
}

#[test]
fn damage_matrix_fjall_checkpoint() {
    damage_matrix("damage_matrix_fjall_checkpoint", Kind::FjallCheckpoint);
}

#[test]
fn damage_matrix_sled_checkpoint() {
    damage_matrix("damage_matrix_sled_checkpoint", Kind::SledCheckpoint);
}

#[test]
fn damage_matrix_fjall_compacted() {
    damage_matrix("damage_matrix_fjall_compacted", Kind::FjallCompacted);
}

#[test]
fn damage_matrix_sled_compacted() {
    damage_matrix("damage_matrix_sled_compacted", Kind::SledCompacted);
}

#[test]
fn damage_matrix_fjall_redb() {
    damage_matrix("damage_matrix_fjall_redb", Kind::FjallRedb);
}

#[test]
fn damage_matrix_fjall_redb_checkpoint() {
    damage_matrix(
        "damage_matrix_fjall_redb_checkpoint",
        Kind::FjallRedbCheckpoint,
    );
}

#[test]
fn damage_matrix_fjall_redb_compacted() {
    damage_matrix(
        "damage_matrix_fjall_redb_compacted",
        Kind::FjallRedbCompacted,
    );
}

// ---------------------------------------------------------------------------------------------
// The marker, foreign files.

fn small_store(engine: EngineKind) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let db = Db::open_with(&store, Options::default().engine(engine)).unwrap();
    db.create_table(
        TableBuilder::new("t")
            .column(("id", ColumnType::Int))
            .column(("s", ColumnType::Text))
            .primary_key("id"),
    )
    .unwrap();
    db.insert("t", Row::new().with("s", "kept")).unwrap();
    db.close().unwrap();
    (dir, store)
}

/// Runs `f` inside `catch_unwind`, one case at a time, and fails the test on a panic that
/// escaped it or on a panic of another thread (the store may catch an engine's panic on this
/// thread and report a typed error instead: that is fine).
fn caught<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let _one = one_case_at_a_time();
    take_panics();
    let r = std::panic::catch_unwind(AssertUnwindSafe(f));
    std::thread::sleep(Duration::from_millis(5));
    let me = format!("thread {}:", thread_name());
    let escaped: Vec<String> = take_panics()
        .into_iter()
        .filter(|p| !p.starts_with(&me))
        .collect();
    match r {
        Ok(v) if escaped.is_empty() => v,
        Ok(_) => panic!("{what}: another thread panicked: {escaped:?}"),
        Err(_) => panic!("{what}: panicked"),
    }
}

fn open_caught(path: &Path) -> Result<Db, Error> {
    caught(&format!("opening {}", path.display()), || Db::open(path))
}

#[test]
fn a_garbage_marker_is_not_a_store() {
    begin_test();
    for engine in [EngineKind::Fjall, EngineKind::Sled, EngineKind::FjallRedb] {
        let (_dir, store) = small_store(engine);
        let marker = store.join("LAZARUS");
        let mut rng = Rng(0x6A4B_A6E5 | 1);
        let mut binary = rng.bytes(200);
        binary[0] = 0xFF; // not UTF-8
        let bodies: [(&str, Vec<u8>); 4] = [
            ("random bytes", binary),
            (
                "text",
                b"hello, this is not a marker\nformat 1\nengine fjall\n".to_vec(),
            ),
            ("empty", Vec::new()),
            ("head without newline", b"lazarusdb stor".to_vec()),
        ];
        for (what, body) in bodies {
            std::fs::write(&marker, &body).unwrap();
            let e = open_caught(&store).err();
            println!("{engine:?} marker {what}: {e:?}");
            assert!(
                matches!(e, Some(Error::NotAStore { .. })),
                "{engine:?} marker {what}: {e:?}"
            );
            // nothing was changed
            assert_eq!(std::fs::read(&marker).unwrap(), body);
        }
    }
}

#[test]
fn a_marker_of_format_99_is_a_newer_format() {
    begin_test();
    for engine in [EngineKind::Fjall, EngineKind::Sled, EngineKind::FjallRedb] {
        let (_dir, store) = small_store(engine);
        let marker = store.join("LAZARUS");
        let body = format!("lazarusdb store\nformat 99\nengine {}\n", engine.name());
        std::fs::write(&marker, &body).unwrap();
        let e = open_caught(&store).err();
        println!("{engine:?} marker format 99: {e:?}");
        let newer = matches!(e, Some(Error::NewerFormat { found: 99, supported })
            if supported == FORMAT_VERSION);
        assert!(newer, "{engine:?}: {e:?}");
        assert_eq!(std::fs::read_to_string(&marker).unwrap(), body);
    }
}

#[test]
fn a_marker_naming_the_other_engine_shows_nothing_and_destroys_nothing() {
    begin_test();
    for (engine, other) in [
        (EngineKind::Fjall, EngineKind::Sled),
        (EngineKind::Sled, EngineKind::Fjall),
    ] {
        let (_dir, store) = small_store(engine);
        let marker = store.join("LAZARUS");
        let right = std::fs::read_to_string(&marker).unwrap();
        std::fs::write(
            &marker,
            format!("lazarusdb store\nformat 1\nengine {}\n", other.name()),
        )
        .unwrap();
        let outcome = caught("opening with the other engine", || {
            let db = Db::open(&store)?;
            let tables = db.tables()?;
            db.close()?;
            Ok::<_, Error>(tables)
        });
        println!("{engine:?} store, marker says {other:?}: {outcome:?}");
        match &outcome {
            // the other engine finds none of the store: an error, or an empty store
            Err(_) => {}
            Ok(tables) if tables.is_empty() => {}
            other => panic!("{engine:?} files opened as {other:?}: {other:?}"),
        }
        // the store's own files were not harmed: with its marker back it reads as before
        std::fs::write(&marker, right).unwrap();
        let db = open_caught(&store).unwrap();
        assert_eq!(db.engine(), engine);
        assert_eq!(db.scan("t", Scan::all()).unwrap().len(), 1);
        assert!(db.verify().unwrap().is_ok());
        db.close().unwrap();
    }
}

/// A sled database of another program at `<dir>/data`, with `keys` (and random values), under
/// a valid marker saying `engine sled`.
fn foreign_sled(keys: Vec<Vec<u8>>) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    {
        let db = sled::open(store.join("data")).unwrap();
        let mut rng = Rng(0xF0E1_D2C3 | 1);
        for k in keys {
            let n = (rng.next() % 64) as usize;
            db.insert(k, rng.bytes(n)).unwrap();
        }
        db.flush().unwrap();
    }
    std::fs::write(
        store.join("LAZARUS"),
        "lazarusdb store\nformat 1\nengine sled\n",
    )
    .unwrap();
    (dir, store)
}

#[test]
fn a_sled_database_of_another_program_is_an_error_or_empty() {
    begin_test();
    let mut rng = Rng(0x5EED_0F5E | 1);
    let random_keys: Vec<Vec<u8>> = (0..500)
        .map(|_| {
            let n = 1 + (rng.next() % 24) as usize;
            rng.bytes(n)
        })
        .collect();
    let text_keys: Vec<Vec<u8>> = (0..500).map(|i| format!("user:{i}").into_bytes()).collect();
    for (what, keys) in [("random keys", random_keys), ("text keys", text_keys)] {
        let (_dir, store) = foreign_sled(keys);
        let outcome = caught(what, || {
            let db = Db::open(&store)?;
            let tables = db.tables()?;
            let last = db.last_lsn();
            let report = db.verify()?;
            db.close()?;
            Ok::<_, Error>((tables, last, report.differences.len()))
        });
        println!("foreign sled database, {what}: {outcome:?}");
        match outcome {
            Err(_) => {}
            Ok((tables, 0, _)) if tables.is_empty() => {}
            other => panic!("foreign sled database, {what}: {other:?}"),
        }
    }
}

#[test]
fn a_file_of_random_bytes_is_not_a_store() {
    begin_test();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("store");
    let bytes = Rng(0xB17E5 | 1).bytes(64 << 10);
    std::fs::write(&file, &bytes).unwrap();
    for engine in [None, Some(EngineKind::Fjall), Some(EngineKind::Sled)] {
        let e = caught("opening a random file", || {
            Db::open_with(
                &file,
                Options {
                    engine,
                    ..Options::default()
                },
            )
        })
        .err();
        println!("random file, engine {engine:?}: {e:?}");
        assert!(
            matches!(&e, Some(Error::NotAStore { path, .. }) if path == &file),
            "{engine:?}: {e:?}"
        );
        assert_eq!(std::fs::read(&file).unwrap(), bytes, "the file was changed");
    }
}
