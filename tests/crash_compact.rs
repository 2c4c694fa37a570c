//! Crash loop for compaction (`docs/design.md` §11): a kill at any moment of [`Db::compact`]
//! leaves the old store or the new one, never a mix, and the next open cleans up.
//!
//! The parent prepares a fjall store once: two tables (1,600 rows: accounts and their entries,
//! with a cascading foreign key and an index), some updates, a deletion left in the trash, and a
//! deletion purged with [`Db::purge`], whose secret values are unreadable but whose bytes are
//! still in the engine's files (checked) until a compaction. It records the logical content:
//! table definitions, every row of every table, the whole log, `last_lsn`, `last_tx`, the trash
//! listing, the history of the purged row and the key/value byte counts of `stats`.
//!
//! Each round copies the prepared folder and runs a child process (this test binary, re-run with
//! `LAZARUS_COMPACT_CHILD=<store>`) that opens it, prints `@opened`, waits for the parent's `go`,
//! prints `@compacting` and runs `compact`, printing `@progress <keys> <bytes> <total>` from the
//! progress callback (the last call, with every key, comes once the copy is synced, before the
//! swap) and `@marker` from a thread that watches for the `COMPACTED` marker; then `@compacted`
//! once `compact` returned, and `@closed`, and waits. The parent SIGKILLs it:
//!
//! * 0–15 ms after the spawn (usually before the store is even open);
//! * uniformly between the spawn and the end of the compaction (as timed by the first round);
//! * a random time into the copy; a random time after the copy is complete (biased to short
//!   delays: the close, the marker and the renames take milliseconds, the reopen the rest);
//!   0–2 ms after `@marker`;
//! * before the child is told to compact, once `compact` returned, once the child closed.
//!
//! Then the parent opens the store with [`Db::open`] and pins:
//!
//! * it opens; `verify` finds no difference; the content equals the recorded one (compaction
//!   never changes it); no `data.compact`, `data.old` or `COMPACTED` is left;
//! * the store is the old one (a secret is still in some file of the folder) or the new one (in
//!   none), as the folder left by the kill dictates (`COMPACTED` or `data.old` there: the new
//!   one; else whichever `data` holds) and as the child's reports imply: no complete copy
//!   reported → old; `@marker` or `@compacted` reported → new;
//! * where the open had something to recover, and for the first old and the first new store
//!   (elsewhere it would repeat one of those), a full compaction in the parent then leaves no
//!   secret in any file, keeps the content, passes `verify` and leaves nothing behind.
//!
//! The first rounds kill at fixed moments (after the close, before `go`, after `compact`, early,
//! at the marker, after the copy), so both outcomes occur in every run of 3 kills or more; the
//! others are random. It prints how many kills gave each outcome, per moment and per what the
//! child had reported, and the folder states the kills left.
//!
//! The number of kills is `LAZARUS_COMPACT_KILLS` (default 20); the seed is
//! `LAZARUS_COMPACT_SEED`. A long run:
//!
//! ```text
//! LAZARUS_COMPACT_KILLS=500 cargo test --release --test crash_compact -- --nocapture
//! ```
//!
//! A child that prints nothing for 20 s is killed and the test fails; the parent's open and
//! checks of a round have a watchdog too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::copy_tree;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use lazarusdb::Event;
use lazarusdb::{
    Audit, Change, ColumnType, Db, Deletion, EngineKind, Error, OnDelete, Options, Readable, Row,
    Scan, TableBuilder, TableDef, TrashQuery,
};

const TEST_NAME: &str = "kill_during_compaction_leaves_the_old_or_the_new_store";
const CHILD_ENV: &str = "LAZARUS_COMPACT_CHILD";
const KILLS_ENV: &str = "LAZARUS_COMPACT_KILLS";
const SEED_ENV: &str = "LAZARUS_COMPACT_SEED";
const DEFAULT_KILLS: u64 = 20;
/// Values that only the purged deletion ever held.
const SECRETS: [&str; 2] = [
    "PURGED-ACCOUNT-SECRET-4b1d9e07",
    "PURGED-ENTRY-SECRET-c07a52f1",
];
/// A value that stays (to show the byte search finds what is there).
const KEPT: &str = "keep-bio-00123-";
/// The purged account.
const SECRET_PK: i64 = 90_000;
/// Accounts in the prepared store (as many entries, one per account).
const ACCOUNTS: i64 = 800;
/// A child silent this long is presumed hung.
const SILENCE: Duration = Duration::from_secs(20);
/// The parent's checks of one round may take this long.
const CHECK_LIMIT: Duration = Duration::from_secs(120);
/// A child never runs longer than this (in case its parent is gone).
const CHILD_LIFETIME: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------------
// A tiny deterministic RNG (xorshift64*).

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, never zero
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A duration uniform in `0..=max`, at microsecond resolution.
    fn upto(&mut self, max: Duration) -> Duration {
        Duration::from_micros(self.below(max.as_micros() as u64 + 1))
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

// ---------------------------------------------------------------------------------------------
// Files.

/// Every file under `dir` holding `needle`, with the needle's index.
fn files_containing(dir: &Path, needles: &[&str]) -> Vec<(usize, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        } else if meta.is_file() {
            let bytes = std::fs::read(&p).unwrap();
            // The needles are ASCII: they lie whole inside the valid UTF-8 runs of the file, and
            // `str::contains` is fast even in a debug build.
            for (i, needle) in needles.iter().enumerate() {
                if bytes.utf8_chunks().any(|c| c.valid().contains(needle)) {
                    out.push((i, p.clone()));
                }
            }
        }
    }
    out
}

/// The names in the store folder.
fn entries(store: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(store)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------------
// The prepared store.

fn prepare(store: &Path) {
    let db = Db::open_with(store, Options::default().engine(EngineKind::Fjall)).unwrap();
    db.create_table(
        TableBuilder::new("account")
            .column(("id", ColumnType::Int))
            .column(("name", ColumnType::Text))
            .column(("bio", ColumnType::Text))
            .primary_key("id"),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("entry")
            .column(("id", ColumnType::Int))
            .column(("account_id", ColumnType::Int))
            .column(("note", ColumnType::Text))
            .primary_key("id")
            .index(["note"])
            .foreign_key("account_id", "account", OnDelete::Cascade),
    )
    .unwrap();
    let filler = "lorem ipsum";
    for chunk in 0..ACCOUNTS / 50 {
        db.transaction(|tx| {
            for i in chunk * 50..(chunk + 1) * 50 {
                tx.insert(
                    "account",
                    Row::new()
                        .with("id", i)
                        .with("name", format!("name-{i:05}"))
                        .with("bio", format!("keep-bio-{i:05}-{filler}")),
                )?;
                tx.insert(
                    "entry",
                    Row::new()
                        .with("id", i)
                        .with("account_id", i)
                        .with("note", format!("keep-note-{i:05}")),
                )?;
            }
            Ok::<_, Error>(())
        })
        .unwrap();
    }
    // Updates: old versions stay in the history (and are copied by a compaction).
    let updated: Vec<i64> = (0..ACCOUNTS).step_by(5).collect();
    for chunk in updated.chunks(50) {
        db.transaction(|tx| {
            for &i in chunk {
                tx.update(
                    "account",
                    i,
                    Row::new().with("bio", format!("updated-bio-{i:05}-{filler}")),
                )?;
            }
            Ok::<_, Error>(())
        })
        .unwrap();
    }
    // A deletion that stays in the trash.
    db.delete_with(
        "account",
        7,
        &Audit::by("tester").because("kept in the trash"),
    )
    .unwrap();
    // The purged deletion: an account and its entry whose values must leave the disk.
    db.insert(
        "account",
        Row::new()
            .with("id", SECRET_PK)
            .with("name", "secret-account")
            .with("bio", format!("{}-{filler}", SECRETS[0])),
    )
    .unwrap();
    db.insert(
        "entry",
        Row::new()
            .with("id", SECRET_PK)
            .with("account_id", SECRET_PK)
            .with("note", SECRETS[1]),
    )
    .unwrap();
    let d = db.delete("account", SECRET_PK).unwrap();
    db.purge(d.deletion, &Audit::by("dpo").because("erasure request"))
        .unwrap();
    db.close().unwrap();
}

/// The logical content of the store: what a compaction must not change.
#[derive(Debug, Clone, PartialEq)]
struct Content {
    tables: Vec<TableDef>,
    rows: Vec<(String, Vec<Row>)>,
    events: Vec<Event>,
    last_lsn: u64,
    last_tx: u64,
    trash: Vec<Deletion>,
    secret_history: Vec<Change>,
    /// `stats`: rows per table, deletions, bytes of keys and values per group.
    counts: (Vec<(String, u64)>, u64, u64, u64, u64),
}

fn content(db: &Db) -> Result<Content, String> {
    let e = |what: &str, err: Error| format!("{what}: {err:?}");
    let names = db.tables().map_err(|x| e("tables", x))?;
    let mut tables = Vec::new();
    let mut rows = Vec::new();
    for name in &names {
        tables.push(db.table_def(name).map_err(|x| e("table_def", x))?);
        rows.push((
            name.clone(),
            db.scan(name, Scan::all()).map_err(|x| e("scan", x))?,
        ));
    }
    let stats = db.stats().map_err(|x| e("stats", x))?;
    Ok(Content {
        tables,
        rows,
        events: db.events(1, None).map_err(|x| e("events", x))?,
        last_lsn: db.last_lsn(),
        last_tx: stats.last_tx,
        trash: db.trash(&TrashQuery::all()).map_err(|x| e("trash", x))?,
        secret_history: db
            .history("account", SECRET_PK)
            .map_err(|x| e("history", x))?,
        counts: (
            stats.tables,
            stats.deletions,
            stats.live_bytes,
            stats.history_bytes,
            stats.trash_bytes,
        ),
    })
}

fn short(v: &impl Debug) -> String {
    let s = format!("{v:?}");
    if s.len() > 400 {
        let cut = (0..=400)
            .rev()
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(0);
        format!("{}…", &s[..cut])
    } else {
        s
    }
}

fn first_diff<T: PartialEq + Debug>(what: &str, got: &[T], want: &[T]) -> Option<String> {
    if let Some(i) = (0..got.len().min(want.len())).find(|&i| got[i] != want[i]) {
        return Some(format!(
            "{what}[{i}] differs: got {}, expected {}",
            short(&got[i]),
            short(&want[i])
        ));
    }
    (got.len() != want.len())
        .then(|| format!("{what}: {} items, expected {}", got.len(), want.len()))
}

/// Describes the first difference between two contents.
fn compare(got: &Content, want: &Content) -> Result<(), String> {
    if got == want {
        return Ok(());
    }
    let mut out = Vec::new();
    out.extend(first_diff("table", &got.tables, &want.tables));
    for ((gn, gr), (wn, wr)) in got.rows.iter().zip(&want.rows) {
        if gn != wn {
            out.push(format!("table {gn}, expected {wn}"));
        } else {
            out.extend(first_diff(&format!("rows of {gn}"), gr, wr));
        }
    }
    if got.rows.len() != want.rows.len() {
        out.push(format!("{} tables of rows", got.rows.len()));
    }
    out.extend(first_diff("event", &got.events, &want.events));
    if (got.last_lsn, got.last_tx) != (want.last_lsn, want.last_tx) {
        out.push(format!(
            "last lsn/tx {}/{}, expected {}/{}",
            got.last_lsn, got.last_tx, want.last_lsn, want.last_tx
        ));
    }
    out.extend(first_diff("trash", &got.trash, &want.trash));
    out.extend(first_diff(
        "history of the purged row",
        &got.secret_history,
        &want.secret_history,
    ));
    if got.counts != want.counts {
        out.push(format!(
            "stats {:?}, expected {:?}",
            got.counts, want.counts
        ));
    }
    Err(format!("the content changed: {}", out.join("; ")))
}

// ---------------------------------------------------------------------------------------------
// The child.

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(0); // the parent is gone
    }
}

fn child_main(store: &Path) {
    let db = Db::open_with(
        store,
        Options {
            must_exist: true,
            ..Options::default()
        },
    )
    .unwrap();
    say("@opened");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    if go.trim() != "go" {
        return; // the parent is gone
    }
    // A watcher reports the `COMPACTED` marker as soon as it appears, so that the parent can
    // kill inside the short window of the swap.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        let marker = store.join("COMPACTED");
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if marker.exists() {
                    say("@marker");
                    return;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        })
    };
    say("@compacting");
    let (db, report) = db
        .compact(|p| {
            say(&format!(
                "@progress {} {} {}",
                p.keys, p.bytes, p.total_keys
            ));
        })
        .unwrap();
    say(&format!("@compacted {}", report.keys));
    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    db.close().unwrap();
    say("@closed");
    let started = Instant::now();
    while started.elapsed() < CHILD_LIFETIME {
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// The parent.

/// What the child reports, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Opened,
    Compacting,
    /// The progress line with every key: the copy is complete (and synced, for the last one).
    Copied,
    /// The child's watcher saw the `COMPACTED` marker.
    Marker,
    Compacted,
    Closed,
}

fn parse(line: &str) -> Option<Phase> {
    let at = line.find('@')?;
    let mut it = line[at + 1..].split_whitespace();
    Some(match it.next()? {
        "opened" => Phase::Opened,
        "compacting" => Phase::Compacting,
        "progress" => {
            let nums: Vec<u64> = it.filter_map(|n| n.parse().ok()).collect();
            match nums.as_slice() {
                [keys, _, total] if keys == total && *total > 0 => Phase::Copied,
                _ => return None,
            }
        }
        "marker" => Phase::Marker,
        "compacted" => Phase::Compacted,
        "closed" => Phase::Closed,
        _ => return None,
    })
}

/// When the parent kills the child.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Plan {
    /// 0–15 ms after the spawn.
    Early,
    /// Uniformly between the spawn and the (timed) end of the compaction.
    Uniform,
    /// A random time after the copy starts, up to its timed length.
    InCopy,
    /// A random time after the copy is complete, up to the timed rest of the compaction.
    AtSwap,
    /// 0–2 ms after the child's watcher saw the `COMPACTED` marker (at once if it missed it).
    AtMarker,
    /// Once the child opened the store, before it is told to compact.
    BeforeGo,
    /// Once `compact` returned.
    AfterCompact,
    /// Once the child closed the compacted store.
    AfterClose,
}

/// When the phases came, after the spawn (from a round that ran to the end).
#[derive(Clone, Copy, Debug)]
struct Timing {
    compacting: Duration,
    copied: Duration,
    compacted: Duration,
}

/// What one round saw of its child.
struct Run {
    /// The phases the child reported (also those read after the kill), with when the parent
    /// read them.
    phases: Vec<(Phase, Duration)>,
    /// When the kill came, after the spawn.
    killed_at: Duration,
}

impl Run {
    fn saw(&self, p: Phase) -> bool {
        self.phases.iter().any(|(q, _)| *q == p)
    }

    fn at(&self, p: Phase) -> Option<Duration> {
        self.phases.iter().find(|(q, _)| *q == p).map(|(_, t)| *t)
    }

    /// The last phase reported.
    fn last(&self) -> Option<Phase> {
        self.phases.iter().map(|(p, _)| *p).max()
    }
}

/// Kills and reaps the child however the parent's test ends.
struct ChildGuard(Option<Child>);

impl ChildGuard {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().unwrap()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[cfg(unix)]
fn killed_by_sigkill(status: std::process::ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.signal() == Some(9)
}

#[cfg(not(unix))]
fn killed_by_sigkill(status: std::process::ExitStatus) -> bool {
    !status.success()
}

fn run_child(
    store: &Path,
    plan: Plan,
    timing: Option<Timing>,
    rng: &mut Rng,
    stderr_file: &Path,
) -> Run {
    let stderr = std::fs::File::create(stderr_file).unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, store)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .spawn()
        .unwrap();
    let spawned = Instant::now();
    let mut guard = ChildGuard(Some(child));
    let mut stdin = guard.child().stdin.take();
    let stdout = guard.child().stdout.take().unwrap();
    let (lines_tx, lines_rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let child_log = |why: &str| -> String {
        let err = std::fs::read_to_string(stderr_file).unwrap_or_default();
        format!("{why} (plan {plan:?}); child stderr:\n{err}")
    };

    // The kill comes `delay` after `trigger` is reported (after the spawn if `None`).
    let (trigger, delay) = match (plan, timing) {
        (Plan::Early, _) => (None, Duration::from_micros(rng.below(15_001))),
        (Plan::Uniform, Some(t)) => (None, rng.upto(t.compacted.mul_f64(1.1))),
        (Plan::InCopy, Some(t)) => (
            Some(Phase::Compacting),
            rng.upto(t.copied.saturating_sub(t.compacting)),
        ),
        (Plan::AtSwap, Some(t)) => {
            // Biased to short delays (a cube of a uniform): the close, the marker and the
            // renames take a few milliseconds, the reopen of the new store the rest.
            let u = rng.below(1_000_001) as f64 / 1e6;
            let rest = t.compacted.saturating_sub(t.copied).mul_f64(1.1);
            (Some(Phase::Copied), rest.mul_f64(u * u * u))
        }
        (Plan::AtMarker, _) => (Some(Phase::Marker), rng.upto(Duration::from_millis(2))),
        (Plan::BeforeGo, _) => (Some(Phase::Opened), rng.upto(Duration::from_millis(5))),
        (Plan::AfterCompact, _) => (Some(Phase::Compacted), Duration::ZERO),
        (Plan::AfterClose, _) => (Some(Phase::Closed), Duration::ZERO),
        (p, None) => panic!("plan {p:?} needs a timing round first"),
    };
    let mut deadline = trigger.is_none().then(|| spawned + delay);
    let mut phases: Vec<(Phase, Duration)> = Vec::new();
    let mut last_heard = Instant::now();
    loop {
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            break;
        }
        if now.duration_since(last_heard) >= SILENCE {
            let _ = guard.child().kill();
            panic!(
                "{}",
                child_log(&format!(
                    "the child printed nothing for {SILENCE:?} and was killed: a hung compaction?"
                ))
            );
        }
        let wait = deadline
            .map_or(SILENCE, |d| d.saturating_duration_since(now))
            .min(Duration::from_millis(50));
        match lines_rx.recv_timeout(wait) {
            Ok(line) => {
                last_heard = Instant::now();
                let Some(phase) = parse(&line) else { continue };
                phases.push((phase, spawned.elapsed()));
                if phase == Phase::Opened && plan != Plan::BeforeGo {
                    if let Some(mut input) = stdin.take() {
                        // (an error means the child is gone: the loop reports it)
                        let _ = input.write_all(b"go\n").and_then(|()| input.flush());
                        // kept open: the child reads one line only
                        stdin = Some(input);
                    }
                }
                // (a later phase than the trigger: the trigger was missed, kill at once)
                match trigger {
                    Some(t) if deadline.is_none() && phase == t => {
                        deadline = Some(Instant::now() + delay);
                    }
                    Some(t) if deadline.is_none() && phase > t => deadline = Some(Instant::now()),
                    _ => {}
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(status) = guard.child().try_wait().unwrap() {
                    panic!(
                        "{}",
                        child_log(&format!("the child ended on its own: {status}"))
                    );
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = guard.child().wait().unwrap();
                panic!(
                    "{}",
                    child_log(&format!("the child ended on its own: {status}"))
                );
            }
        }
    }
    let child = guard.child();
    child.kill().unwrap();
    let killed_at = spawned.elapsed();
    let status = child.wait().unwrap();
    guard.0 = None;
    drop(stdin);
    assert!(
        killed_by_sigkill(status),
        "{}",
        child_log(&format!("the child was not ended by our kill: {status}"))
    );
    // whatever it printed before dying happened before the kill too
    reader.join().unwrap();
    for line in lines_rx.try_iter() {
        if let Some(phase) = parse(&line) {
            phases.push((phase, killed_at));
        }
    }
    Run { phases, killed_at }
}

/// Which store a kill left.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// The store before the compaction: the purged bytes are still in its files.
    Old,
    /// The compacted store: the purged bytes are in no file.
    New,
}

/// What the folder held right after the kill (before any open).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Left {
    marker: bool,
    copy: bool,
    old: bool,
    /// Other names than the store's own (`LAZARUS`, `HWM`, `data`) and the above.
    others: Vec<String>,
}

fn inspect(store: &Path) -> (Left, Outcome) {
    let names = entries(store);
    let has = |n: &str| names.iter().any(|x| x == n);
    let left = Left {
        marker: has("COMPACTED"),
        copy: has("data.compact"),
        old: has("data.old"),
        others: names
            .iter()
            .filter(|n| {
                ![
                    "LAZARUS",
                    "HWM",
                    "data",
                    "COMPACTED",
                    "data.compact",
                    "data.old",
                ]
                .contains(&n.as_str())
            })
            .cloned()
            .collect(),
    };
    // A marker means the copy is complete and the open finishes the swap; `data.old` without a
    // marker means the swap is done (the marker goes before `data.old`). Otherwise `data` is
    // whichever store it is.
    let predicted =
        if left.marker || left.old || files_containing(&store.join("data"), &SECRETS).is_empty() {
            Outcome::New
        } else {
            Outcome::Old
        };
    (left, predicted)
}

/// Leftovers of a compaction in the store folder.
fn leftovers(store: &Path) -> Vec<String> {
    entries(store)
        .into_iter()
        .filter(|n| {
            [
                "COMPACTED",
                "COMPACTED.tmp",
                "HWM.tmp",
                "data.compact",
                "data.old",
            ]
            .contains(&n.as_str())
        })
        .collect()
}

/// Names in the store folder other than the store's own (`LAZARUS`, `HWM`, `data`).
fn strays(store: &Path) -> Vec<String> {
    entries(store)
        .into_iter()
        .filter(|n| !["LAZARUS", "HWM", "data"].contains(&n.as_str()))
        .collect()
}

/// Opens the store after a kill and checks it; returns it, which store it is, and what else
/// than the store's own files the folder holds after the open.
fn open_and_check(store: &Path, expected: &Content) -> Result<(Db, Outcome, Vec<String>), String> {
    let db = Db::open(store).map_err(|e| format!("open failed: {e:?}"))?;
    if db.engine() != EngineKind::Fjall {
        return Err(format!("the store opened on {:?}", db.engine()));
    }
    let report = db.verify().map_err(|e| format!("verify: {e:?}"))?;
    if !report.is_ok() {
        return Err(format!(
            "verify found differences: {:#?}",
            report.differences
        ));
    }
    compare(&content(&db)?, expected)?;
    let left = leftovers(store);
    if !left.is_empty() {
        return Err(format!("left in the store folder after the open: {left:?}"));
    }
    let outcome = if files_containing(store, &SECRETS).is_empty() {
        Outcome::New
    } else {
        Outcome::Old
    };
    Ok((db, outcome, strays(store)))
}

/// After the round's checks: a compaction run to the end leaves no secret byte anywhere.
fn compact_fully(db: Db, store: &Path, expected: &Content) -> Result<(), String> {
    let (db, _) = db
        .compact(|_| {})
        .map_err(|e| format!("compact in the parent: {e:?}"))?;
    let hits = files_containing(store, &SECRETS);
    if !hits.is_empty() {
        return Err(format!(
            "after a full compaction the purged bytes are still in {hits:?}"
        ));
    }
    if files_containing(store, &[KEPT]).is_empty() {
        return Err(format!(
            "after a full compaction `{KEPT}` is in no file: the byte search is broken"
        ));
    }
    compare(&content(&db)?, expected)?;
    let report = db.verify().map_err(|e| format!("verify: {e:?}"))?;
    if !report.is_ok() {
        return Err(format!(
            "verify after a full compaction: {:#?}",
            report.differences
        ));
    }
    db.close().map_err(|e| format!("close: {e:?}"))?;
    let left = leftovers(store);
    if !left.is_empty() {
        return Err(format!("left after a full compaction: {left:?}"));
    }
    Ok(())
}

/// Runs `f` on a thread and fails clearly if it takes longer than `limit`.
fn with_watchdog<T: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => v,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what} took longer than {limit:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what} panicked (see above)"),
    }
}

/// The plan of a round: the first rounds cover the fixed moments, the others are random.
fn plan_of(round: u64, rng: &mut Rng) -> Plan {
    match round {
        0 => Plan::AfterClose, // also times the phases
        1 => Plan::BeforeGo,
        2 => Plan::AfterCompact,
        3 => Plan::Early,
        4 => Plan::AtMarker,
        5 => Plan::AtSwap,
        _ => match rng.below(100) {
            0..=9 => Plan::Early,
            10..=34 => Plan::Uniform,
            35..=54 => Plan::InCopy,
            55..=74 => Plan::AtSwap,
            75..=91 => Plan::AtMarker,
            92..=95 => Plan::BeforeGo,
            96..=97 => Plan::AfterCompact,
            _ => Plan::AfterClose,
        },
    }
}

#[test]
fn kill_during_compaction_leaves_the_old_or_the_new_store() {
    if let Some(store) = std::env::var_os(CHILD_ENV) {
        child_main(Path::new(&store));
        return;
    }
    let kills = env_u64(KILLS_ENV).unwrap_or(DEFAULT_KILLS).max(1);
    let seed = env_u64(SEED_ENV).unwrap_or(0xC0_4AC7);
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let prepared = dir.path().join("prepared");
    prepare(&prepared);
    // Else the test proves nothing: the purged values are unreadable but still on disk. (Read
    // before the store is opened again: an open empties a journal whose entries the close
    // flushed into table files, and with it the copies only the journal held.)
    let hits = files_containing(&prepared, &SECRETS);
    for (i, secret) in SECRETS.iter().enumerate() {
        assert!(
            hits.iter().any(|(j, _)| *j == i),
            "{secret} should be in the prepared store's files: {hits:?}"
        );
    }
    let expected = {
        let db = Db::open(&prepared).unwrap();
        assert!(db.verify().unwrap().is_ok());
        let c = content(&db).unwrap();
        db.close().unwrap();
        c
    };
    assert_eq!(expected.rows.len(), 2);
    assert!(expected
        .rows
        .iter()
        .all(|(_, r)| r.len() >= ACCOUNTS as usize - 1));
    assert_eq!(expected.trash.len(), 1, "one deletion stays in the trash");
    assert!(expected.secret_history.len() >= 3);
    assert_eq!(entries(&prepared), ["HWM", "LAZARUS", "data"]);
    let prepared_in = started.elapsed();

    let mut rng = Rng::new(seed);
    let mut timing: Option<Timing> = None;
    // (plan, zone of the kill, outcome) → rounds; zone: what the child had reported.
    let mut outcomes: BTreeMap<(Plan, &str, Outcome), u64> = BTreeMap::new();
    let mut states: BTreeMap<Left, u64> = BTreeMap::new();
    let mut strays_after_open: BTreeMap<Vec<String>, u64> = BTreeMap::new();
    // full compactions in the parent, of an old and of a new store
    let (mut old_compacted, mut new_compacted) = (0u64, 0u64);
    for round in 0..kills {
        let plan = plan_of(round, &mut rng);
        let store = dir.path().join(format!("round-{round}"));
        copy_tree(&prepared, &store);
        let stderr_file = dir.path().join(format!("child-{round}.stderr"));
        let run = run_child(&store, plan, timing, &mut rng, &stderr_file);
        let fail = |why: String| -> ! {
            panic!(
                "round {round} (seed {seed}), plan {plan:?}, killed {:?} after the spawn, \
                 child reported {:?}: {why}\nchild stderr:\n{}",
                run.killed_at,
                run.phases,
                std::fs::read_to_string(&stderr_file).unwrap_or_default()
            )
        };
        if plan == Plan::AfterClose && timing.is_none() {
            match (
                run.at(Phase::Compacting),
                run.at(Phase::Copied),
                run.at(Phase::Compacted),
            ) {
                (Some(compacting), Some(copied), Some(compacted)) => {
                    timing = Some(Timing {
                        compacting,
                        copied,
                        compacted,
                    });
                }
                _ => fail("the timing round did not see every phase".into()),
            }
        }

        let (left, predicted) = inspect(&store);
        *states.entry(left.clone()).or_default() += 1;
        // The full compaction in the parent runs where the open had something to recover, and
        // on the first old and the first new store; elsewhere it would repeat one of those (the
        // store is the prepared one, or the child's compaction ran to the end).
        let recovered = left != Left::default();
        let (first_old, first_new) = (old_compacted == 0, new_compacted == 0);
        let s = store.clone();
        let exp = expected.clone();
        let checked = with_watchdog(CHECK_LIMIT, "opening and checking the store", move || {
            let (db, outcome, strays) = open_and_check(&s, &exp)?;
            let full = recovered
                || (outcome == Outcome::Old && first_old)
                || (outcome == Outcome::New && first_new);
            if full {
                compact_fully(db, &s, &exp)?;
            } else {
                db.close().map_err(|e| format!("close: {e:?}"))?;
            }
            Ok::<_, String>((outcome, strays, full))
        });
        let (outcome, after_open, full) = checked.unwrap_or_else(|e| fail(e));
        if full {
            match outcome {
                Outcome::Old => old_compacted += 1,
                Outcome::New => new_compacted += 1,
            }
        }
        if !after_open.is_empty() {
            *strays_after_open.entry(after_open).or_default() += 1;
        }
        // The store is the one the folder named, and the one the child's reports imply: the
        // marker is written after the last progress call, `@compacted` after the swap.
        if outcome != predicted {
            fail(format!(
                "the kill left {left:?}, which names the {predicted:?} store, but the open gave \
                 the {outcome:?} one"
            ));
        }
        let zone = if run.saw(Phase::Compacted) {
            "compact returned"
        } else if run.saw(Phase::Marker) {
            "marker written"
        } else if run.saw(Phase::Copied) {
            "copy complete"
        } else {
            "copy unfinished"
        };
        match zone {
            "compact returned" if outcome != Outcome::New => {
                fail("compact returned before the kill, yet the old store is back".into())
            }
            "marker written" if outcome != Outcome::New => fail(
                "the COMPACTED marker was written before the kill, yet the old store is back"
                    .into(),
            ),
            "copy unfinished" if outcome != Outcome::Old => {
                fail("the copy was not complete, yet the store is the compacted one".into())
            }
            _ => {}
        }
        if plan == Plan::BeforeGo && (run.last() != Some(Phase::Opened)) {
            fail("the child went on without being told to".into());
        }
        *outcomes.entry((plan, zone, outcome)).or_default() += 1;
        std::fs::remove_dir_all(&store).unwrap();
    }

    let count = |o: Outcome| -> u64 {
        outcomes
            .iter()
            .filter(|((_, _, x), _)| *x == o)
            .map(|(_, n)| n)
            .sum()
    };
    let (old, new) = (count(Outcome::Old), count(Outcome::New));
    println!(
        "{kills} kills in {:.1?} (store prepared in {prepared_in:.1?}, seed {seed}), \
         phases after the spawn {timing:?}: {old} old, {new} new; full compactions in the \
         parent of {old_compacted} old and {new_compacted} new stores",
        started.elapsed()
    );
    for ((plan, zone, outcome), n) in &outcomes {
        println!("  {plan:?}, {zone}: {outcome:?} × {n}");
    }
    for (left, n) in &states {
        println!("  folder after the kill {left:?} × {n}");
    }
    for (names, n) in &strays_after_open {
        println!("  also in the folder after the open: {names:?} × {n}");
    }
    // The fixed first rounds make both outcomes certain (and checked above, round by round),
    // so both stores went through a full compaction in the parent too.
    if kills >= 3 {
        assert!(old >= 1 && new >= 2, "{outcomes:?}");
        assert!(old_compacted >= 1 && new_compacted >= 1);
    }
}
