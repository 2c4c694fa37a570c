//! Hostile files: what opening and reading a damaged store does, on fjall and on sled. The
//! property pinned is that damage ends in a typed [`Error`] or in correct data — never in a
//! panic (each attempt runs inside `catch_unwind`, and a panic hook sees the engines' background
//! threads), never in a dead or hung process, and never in silently wrong data.
//!
//! * Every file under `<store>/data/`, one at a time in a fresh copy of a closed store holding
//!   rows, deletions and restores: truncated to half its size, or with bits flipped in its
//!   middle; files over 4 KiB of data and files whose zero tail is longer than their data
//!   (fjall's preallocated journal) also at ¼, ½ and ¾ of their data. Then the store is opened
//!   and everything read: each table's scan, the trash, the whole log, `Db::verify`. These
//!   cases run in a child process (this binary, re-run), so that an abort or a hang is the
//!   outcome of its case rather than the end of the test run.
//! * Known store bugs, kept as ignored tests: damage to the engine's log (fjall's journal,
//!   sled's `db` file) can reopen the store silently at an older state — acknowledged commits
//!   vanish with no error — so the non-ignored tests let log damage read back wrong data
//!   (their tables show it) and `a_*_log_is_detected` demand it be detected; a bit flip in a
//!   count of fjall's current version file aborts the process (`bit_flipped_fjall_version_*`).
//! * A `LAZARUS` marker of garbage (binary, text, empty) → `Error::NotAStore`; a marker saying
//!   `format 99` → `Error::NewerFormat`; a marker naming the other engine shows an empty store
//!   or an error, and harms none of the store's files.
//! * A sled database written by another program (random keys; text keys) under a valid marker
//!   saying `engine sled` → a typed error or an empty-looking store.
//! * A plain file of random bytes as the store path → `Error::NotAStore`, the file untouched.
//!
//! Run with `-- --nocapture` to see the outcome of every case, and with `--ignored` for the
//! store bugs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::io::{Read as _, Seek, SeekFrom, Write};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Mutex, MutexGuard, Once};
use std::time::Duration;

use lazarusdb::{
    ColumnType, Db, EngineKind, Error, OnDelete, Options, Read, RestorePolicy, Row, Scan,
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
// The template store and what reading it must give.

/// Everything a full read of a store returns.
#[derive(Debug, PartialEq)]
struct Contents {
    tables: Vec<String>,
    parent: Vec<Row>,
    child: Vec<Row>,
    trash: Vec<uuid::Uuid>,
    events: usize,
    last_lsn: u64,
}

fn fill(db: &Db) {
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
    let mut deletions = Vec::new();
    for p in [3i64, 11, 17, 29, 42] {
        deletions.push(db.delete("parent", p).unwrap().deletion);
    }
    db.delete("child", 100).unwrap();
    db.restore(deletions[1], RestorePolicy::Refuse).unwrap();
    db.restore(deletions[3], RestorePolicy::Refuse).unwrap();
}

/// Opens the store at `path` and reads everything; the error says at which step.
fn read_all(path: &Path) -> Result<(Contents, Vec<String>), String> {
    let step = |what: &'static str| move |e: Error| format!("{} at {what}: {e}", variant(&e));
    let db = Db::open_with(
        path,
        Options {
            must_exist: true,
            ..Options::default()
        },
    )
    .map_err(step("open"))?;
    let tables = db.tables().map_err(step("tables"))?;
    let parent = db
        .scan("parent", Scan::all())
        .map_err(step("scan parent"))?;
    let child = db.scan("child", Scan::all()).map_err(step("scan child"))?;
    let trash = db
        .trash(&TrashQuery::all())
        .map_err(step("trash"))?
        .iter()
        .map(|d| d.id)
        .collect();
    let events = db.events(1, None).map_err(step("events"))?.len();
    let report = db.verify().map_err(step("verify"))?;
    let contents = Contents {
        tables,
        parent,
        child,
        trash,
        events,
        last_lsn: db.last_lsn(),
    };
    db.close().map_err(step("close"))?;
    Ok((contents, report.differences))
}

/// The name of an error's variant (`Corrupted`, `Io`, ...).
fn variant(e: &Error) -> String {
    format!("{e:?}")
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

/// A store's files kept in memory: relative path → (bytes up to the last non-zero byte, length).
/// Writing them back keeps a preallocated tail sparse (fjall's journal is 64 MiB of mostly zeros).
struct Template {
    files: BTreeMap<PathBuf, (Vec<u8>, u64)>,
    dirs: Vec<PathBuf>,
}

impl Template {
    /// A closed store holding rows, deletions and restores, at `<dir>/store`.
    fn create(engine: EngineKind, dir: &Path) -> PathBuf {
        let store = dir.join("store");
        let db = Db::open_with(&store, Options::default().engine(engine)).unwrap();
        fill(&db);
        db.close().unwrap();
        store
    }

    /// The files of the store at `store` (read without opening it).
    fn load(store: &Path) -> Template {
        let mut t = Template {
            files: BTreeMap::new(),
            dirs: Vec::new(),
        };
        t.walk(store, store);
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

    /// The damage cases of `set`, each a file under `data/` and where to damage it.
    fn cases(&self, set: Set, truncate: bool) -> Vec<(PathBuf, Damage)> {
        let mut out = Vec::new();
        for (rel, (bytes, len)) in &self.files {
            if !rel.starts_with("data") || *len == 0 {
                continue; // nothing to damage in an empty file (fjall's lock)
            }
            let data = bytes.len() as u64;
            let mut at = Vec::new();
            if set != Set::NewestVersions {
                at.push(len / 2);
            }
            let quarters = match set {
                Set::All => data > 4096 || len - data > data,
                Set::Log => true,
                Set::NewestVersions => self.is_newest_version(rel),
            };
            if quarters {
                for q in [1, 2, 3] {
                    if !at.contains(&(data * q / 4)) {
                        at.push(data * q / 4);
                    }
                }
            }
            if set == Set::Log && !is_log(rel) {
                at.clear();
            }
            for a in at {
                let damage = if truncate {
                    Damage::Truncate(a)
                } else {
                    Damage::Flip(a.min(len - 1))
                };
                out.push((rel.clone(), damage));
            }
        }
        out
    }

    /// True for the version file fjall reads: the `v<N>` of highest N in its folder.
    fn is_newest_version(&self, rel: &Path) -> bool {
        let number =
            |p: &Path| -> Option<u64> { p.file_name()?.to_str()?.strip_prefix('v')?.parse().ok() };
        let Some(n) = number(rel) else { return false };
        !self
            .files
            .keys()
            .any(|o| o.parent() == rel.parent() && number(o).is_some_and(|m| m > n))
    }
}

/// The engine's log of commits: fjall's journal, sled's `db` file.
fn is_log(rel: &Path) -> bool {
    let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".jnl") || name == "db"
}

/// Which damage cases a test runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Set {
    /// Every file at its middle; files over 4 KiB of data or with a zero tail longer than their
    /// data (fjall's preallocated journal) also at ¼, ½ and ¾ of their data.
    All,
    /// The engine's log file (see [`is_log`]) at its middle and ¼, ½, ¾ of its data.
    Log,
    /// fjall's current version files (see [`Template::is_newest_version`]) at ¼, ½, ¾.
    NewestVersions,
}

impl Set {
    fn name(self) -> &'static str {
        match self {
            Set::All => "all",
            Set::Log => "log",
            Set::NewestVersions => "versions",
        }
    }

    fn parse(s: &str) -> Set {
        match s {
            "log" => Set::Log,
            "versions" => Set::NewestVersions,
            _ => Set::All,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Damage cases.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Damage {
    /// Cut the file at this offset.
    Truncate(u64),
    /// Flip bits in 4 bytes from this offset.
    Flip(u64),
}

impl Damage {
    fn apply(self, file: &Path) {
        match self {
            Damage::Truncate(at) => std::fs::OpenOptions::new()
                .write(true)
                .open(file)
                .unwrap()
                .set_len(at)
                .unwrap(),
            Damage::Flip(at) => {
                // in place: fjall's journal is 64 MiB long, mostly a sparse tail
                let mut f = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(file)
                    .unwrap();
                let mut buf = [0u8; 4];
                f.seek(SeekFrom::Start(at)).unwrap();
                let n = f.read(&mut buf).unwrap();
                for (k, b) in buf.iter_mut().take(n).enumerate() {
                    *b ^= 0x10 << k;
                }
                f.seek(SeekFrom::Start(at)).unwrap();
                f.write_all(&buf[..n]).unwrap();
            }
        }
    }
}

/// How one attempt ended.
#[derive(Debug)]
enum Outcome {
    /// Everything read back equal to what was written, verify clean.
    Intact,
    /// A typed error.
    Err(String),
    /// Reads succeeded but verify reported differences (reads may or may not have been right).
    VerifyFlagged {
        differences: usize,
        reads_right: bool,
    },
    /// Reads succeeded with other data than written, and verify said nothing.
    SilentlyWrong(String),
    /// A panic escaped (or one happened on another thread).
    Panicked(Vec<String>),
}

impl Outcome {
    /// The short label of the outcome table.
    fn label(&self) -> String {
        match self {
            Outcome::Intact => "Ok (intact)".into(),
            Outcome::Err(e) => e.split(':').next().unwrap_or(e).to_string(),
            Outcome::VerifyFlagged { reads_right, .. } => format!(
                "Ok, verify flags differences (reads {})",
                if *reads_right { "right" } else { "wrong" }
            ),
            Outcome::SilentlyWrong(_) => "SILENTLY WRONG".into(),
            Outcome::Panicked(_) => "PANIC".into(),
        }
    }

    fn detail(&self) -> String {
        match self {
            Outcome::Err(e) => e.clone(),
            Outcome::SilentlyWrong(d) => d.clone(),
            Outcome::Panicked(p) => p.join(" | "),
            Outcome::VerifyFlagged { differences, .. } => format!("{differences} differences"),
            Outcome::Intact => String::new(),
        }
    }

    /// `F`: fine (correct data or a typed error); `W`: wrong data came back without an
    /// error; `X`: a panic.
    fn class(&self) -> char {
        match self {
            Outcome::Intact
            | Outcome::Err(_)
            | Outcome::VerifyFlagged {
                reads_right: true, ..
            } => 'F',
            Outcome::SilentlyWrong(_)
            | Outcome::VerifyFlagged {
                reads_right: false, ..
            } => 'W',
            Outcome::Panicked(_) => 'X',
        }
    }
}

fn describe_difference(want: &Contents, got: &Contents) -> String {
    format!(
        "tables {:?} (want {:?}), {} parents (want {}), {} children (want {}), {} deletions \
         (want {}), {} events (want {}), last lsn {} (want {})",
        got.tables,
        want.tables,
        got.parent.len(),
        want.parent.len(),
        got.child.len(),
        want.child.len(),
        got.trash.len(),
        want.trash.len(),
        got.events,
        want.events,
        got.last_lsn,
        want.last_lsn
    )
}

/// Opens and reads the store at `path` inside `catch_unwind`, judged against `want` (`None`:
/// any data is fine, only panics are not).
fn attempt(path: &Path, want: Option<&Contents>) -> Outcome {
    take_panics();
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| read_all(path)));
    // an engine's background thread may panic as the store closes
    std::thread::sleep(Duration::from_millis(5));
    let panics = take_panics();
    let outcome = match result {
        Err(_) => return Outcome::Panicked(panics),
        Ok(Err(e)) => Outcome::Err(e),
        Ok(Ok((got, differences))) => {
            let reads_right = want.is_none_or(|w| *w == got);
            if !differences.is_empty() {
                Outcome::VerifyFlagged {
                    differences: differences.len(),
                    reads_right,
                }
            } else if reads_right {
                Outcome::Intact
            } else {
                Outcome::SilentlyWrong(describe_difference(want.unwrap(), &got))
            }
        }
    };
    // Panics the store caught itself (it turns an engine's panic at open into `Corrupted`)
    // happen on this thread; any other thread's panic escaped everyone.
    let me = thread_name();
    let escaped: Vec<String> = panics
        .into_iter()
        .filter(|p| !p.starts_with(&format!("thread {me}:")))
        .collect();
    if escaped.is_empty() {
        outcome
    } else {
        Outcome::Panicked(escaped)
    }
}

// The damage cases run in a child process (this test binary, re-run with CASES_CHILD set), so
// that an abort (a failed huge allocation from a damaged length) or a hang is reported as the
// outcome of its case instead of ending the whole test run. The child runs the cases from a
// given index and prints `@@start <i>` before each and `@@done <i> <class>\t<label>\t<detail>`
// after it; when it dies, the parent records the started case as ended by the signal and runs a
// new child from the next case.

const CASES_CHILD: &str = "LAZARUS_CORRUPTION_CHILD";
/// A case that prints nothing for this long is presumed hung.
const CASE_LIMIT: Duration = Duration::from_secs(20);

/// The child: `spec` is `<template store>|<set>|<truncate 0|1>|<first case>`.
fn cases_child(spec: &str) {
    let mut parts = spec.split('|');
    let template = PathBuf::from(parts.next().unwrap());
    let set = Set::parse(parts.next().unwrap());
    let truncate = parts.next().unwrap() == "1";
    let first: usize = parts.next().unwrap().parse().unwrap();
    let template = Template::load(&template);
    let want = {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        template.materialize(&store);
        let (want, differences) = read_all(&store).unwrap();
        assert!(differences.is_empty(), "{differences:?}");
        assert_eq!((want.parent.len(), want.child.len()), (57, 170));
        assert_eq!(want.trash.len(), 4);
        want
    };
    let mut out = std::io::stdout();
    for (i, (rel, damage)) in template.cases(set, truncate).into_iter().enumerate() {
        if i < first {
            continue;
        }
        writeln!(out, "@@start {i}").unwrap();
        out.flush().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        template.materialize(&store);
        damage.apply(&store.join(&rel));
        let outcome = {
            let _one = one_case_at_a_time();
            attempt(&store, Some(&want))
        };
        let detail = outcome.detail().replace(['\n', '\t'], " ");
        writeln!(
            out,
            "@@done {i} {}\t{}\t{detail}",
            outcome.class(),
            outcome.label()
        )
        .unwrap();
        out.flush().unwrap();
    }
}

/// What the parent learnt of one case.
struct CaseResult {
    file: PathBuf,
    damage: Damage,
    /// See [`Outcome::class`]; a dead or hung child is `X` too.
    class: char,
    label: String,
    detail: String,
}

/// Damages files of a closed store in turn (each in a fresh copy of it) and opens and reads
/// the store back, in child processes.
fn damage_files(test_name: &str, engine: EngineKind, set: Set, truncate: bool) -> Vec<CaseResult> {
    let dir = tempfile::tempdir().unwrap();
    let store = Template::create(engine, dir.path());
    let cases = Template::load(&store).cases(set, truncate);
    let mut results: Vec<Option<CaseResult>> = cases.iter().map(|_| None).collect();
    let mut next = 0;
    while next < cases.len() {
        let spec = format!(
            "{}|{}|{}|{next}",
            store.display(),
            set.name(),
            u8::from(truncate)
        );
        let stderr_file = dir.path().join("child.stderr");
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
            .stderr(Stdio::from(std::fs::File::create(&stderr_file).unwrap()))
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
                        let (file, damage) = cases[i].clone();
                        results[i] = Some(CaseResult {
                            file,
                            damage,
                            class: class.chars().next().unwrap(),
                            label: label.to_string(),
                            detail: detail.to_string(),
                        });
                        started = None;
                        next = i + 1;
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
        if next >= cases.len() {
            break;
        }
        let stderr = std::fs::read_to_string(&stderr_file).unwrap_or_default();
        let Some(i) = started else {
            panic!("the case child ended outside a case ({status}):\n{stderr}");
        };
        let label = if hung {
            format!("HANG (no answer in {CASE_LIMIT:?})")
        } else {
            format!("PROCESS DIED ({status})")
        };
        // the first lines of its stderr usually say why (an allocation failure, a panic)
        let detail = stderr
            .lines()
            .filter(|l| !l.trim_start().starts_with("at "))
            .take(16)
            .collect::<Vec<_>>()
            .join(" / ");
        let (file, damage) = cases[i].clone();
        results[i] = Some(CaseResult {
            file,
            damage,
            class: 'X',
            label,
            detail,
        });
        next = i + 1;
    }
    results.into_iter().map(Option::unwrap).collect()
}

/// Prints the outcome table; fails on a panic, a dead or hung process, and on wrong data read
/// back without an error — except, when `log_may_be_wrong`, from damage to the engine's log
/// (see the ignored `..._log_...` tests).
fn judge(engine: EngineKind, what: &str, results: &[CaseResult], log_may_be_wrong: bool) {
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    let mut bad = Vec::new();
    for r in results {
        println!(
            "{engine:?} {what} {} {:?}: {} | {}",
            r.file.display(),
            r.damage,
            r.label,
            r.detail
        );
        *tally.entry(r.label.clone()).or_default() += 1;
        let fails = match r.class {
            'F' => false,
            'W' => !(log_may_be_wrong && is_log(&r.file)),
            _ => true,
        };
        if fails {
            bad.push(format!(
                "{} {:?}: {} | {}",
                r.file.display(),
                r.damage,
                r.label,
                r.detail
            ));
        }
    }
    println!("{engine:?} {what}: {} cases: {tally:?}", results.len());
    assert!(!results.is_empty());
    assert!(
        bad.is_empty(),
        "{engine:?} {what}: {} of {} cases did not end in a typed error or the right data:\n{}",
        bad.len(),
        results.len(),
        bad.join("\n")
    );
}

fn damage_test(test_name: &str, engine: EngineKind, set: Set, truncate: bool) {
    begin_test();
    if let Ok(spec) = std::env::var(CASES_CHILD) {
        cases_child(&spec);
        return;
    }
    let results = damage_files(test_name, engine, set, truncate);
    let what = format!(
        "{} ({} files)",
        if truncate { "truncate" } else { "flip" },
        set.name()
    );
    judge(engine, &what, &results, set == Set::All);
}

#[test]
fn truncated_fjall_files_give_an_error_or_the_right_data() {
    damage_test(
        "truncated_fjall_files_give_an_error_or_the_right_data",
        EngineKind::Fjall,
        Set::All,
        true,
    );
}

#[test]
fn truncated_sled_files_give_an_error_or_the_right_data() {
    damage_test(
        "truncated_sled_files_give_an_error_or_the_right_data",
        EngineKind::Sled,
        Set::All,
        true,
    );
}

#[test]
fn bit_flipped_fjall_files_give_an_error_or_the_right_data() {
    damage_test(
        "bit_flipped_fjall_files_give_an_error_or_the_right_data",
        EngineKind::Fjall,
        Set::All,
        false,
    );
}

#[test]
fn bit_flipped_sled_files_give_an_error_or_the_right_data() {
    damage_test(
        "bit_flipped_sled_files_give_an_error_or_the_right_data",
        EngineKind::Sled,
        Set::All,
        false,
    );
}

/// A fjall journal cut at ¼, ½ or ¾ of its data: fjall by itself reopens at the state of the last
/// whole batch before the cut, with no error; the store's durable high-water mark makes the open
/// fail (`Error::DataLoss`) instead of losing acknowledged commits silently.
#[test]
fn a_truncated_fjall_log_is_detected() {
    damage_test(
        "a_truncated_fjall_log_is_detected",
        EngineKind::Fjall,
        Set::Log,
        true,
    );
}

/// Bits flipped at ¼ of the fjall journal's data: fjall by itself reopens at the state before the
/// damaged batch with no error (fjall#311), which the high-water mark turns into an error; flips
/// at ½ and ¾ give `Error::Storage` (`JournalRecovery(ChecksumMismatch)`).
#[test]
fn a_bit_flipped_fjall_log_is_detected() {
    damage_test(
        "a_bit_flipped_fjall_log_is_detected",
        EngineKind::Fjall,
        Set::Log,
        false,
    );
}

/// sled's `db` file cut at ¼, ½ or ¾: sled reopens at an older state with no error, which the
/// high-water mark turns into an error.
#[test]
fn a_truncated_sled_log_is_detected() {
    damage_test(
        "a_truncated_sled_log_is_detected",
        EngineKind::Sled,
        Set::Log,
        true,
    );
}

/// Bits flipped in sled's `db` file at ¼, ½ or ¾: sled reopens at an older state with no error,
/// which the high-water mark turns into an error.
#[test]
fn a_bit_flipped_sled_log_is_detected() {
    damage_test(
        "a_bit_flipped_sled_log_is_detected",
        EngineKind::Sled,
        Set::Log,
        false,
    );
}

/// Bits flipped at ¼, ½ and ¾ of every keyspace's current version file (`data/keyspaces/<n>/v<N>`).
/// lsm-tree 3.1.10 decodes it without its checksum, and a flip in the blob file count made it
/// allocate ~34 GB and abort the process (SIGABRT), which no `catch_unwind` can catch; the
/// engine now checks each version file against the checksum in `current` before fjall opens.
#[test]
fn bit_flipped_fjall_version_files_give_an_error() {
    damage_test(
        "bit_flipped_fjall_version_files_give_an_error",
        EngineKind::Fjall,
        Set::NewestVersions,
        false,
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
    for engine in [EngineKind::Fjall, EngineKind::Sled] {
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
    for engine in [EngineKind::Fjall, EngineKind::Sled] {
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
