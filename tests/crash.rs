//! Crash loop: a child process (this test binary, re-run with `LAZARUS_CRASH_CHILD=<store>`)
//! commits random transactions with [`Durability::Immediate`] — inserts into a parent and a
//! child table (child → parent `on_delete = cascade`, unique columns on both; now and then a
//! transaction is abandoned), updates, cascading deletes, restores of deletions
//! (`RestorePolicy::SkipConflicts`) and restores of a table to a recent LSN — and prints
//! `@ack <tx> <last_lsn> <what>` after each commit returns. Expected refusals (constraint
//! violations, conflicts) are skipped; any other error ends the child, which fails the test.
//! The parent SIGKILLs it at a random moment (20–300 ms after its first ack; one round in
//! eight, 5–80 ms after it starts, while it opens the store), reopens the store and pins:
//!
//! * every acknowledged transaction survived: `tx <= last tx`, its record exists and ends at
//!   the acknowledged LSN;
//! * no transaction is half there: transaction ids are consecutive, each record's LSN range is
//!   contiguous, directly follows the previous one, and every LSN in it is an event of that
//!   transaction; nothing lies past the last LSN;
//! * `Db::verify` finds no difference between the views and a rebuild from the log, every live
//!   child has a live parent, and unique columns hold distinct values.
//!
//! The store is kept between rounds, so state accumulates. Runs on fjall (the default) and on
//! sled (the store remembers its engine: children and reopens name none). Each seed runs on a
//! store of its own: `LAZARUS_CRASH_SEEDS` seeds (default 1 on fjall, 3 on sled) from
//! `LAZARUS_CRASH_SEED`, with `LAZARUS_CRASH_KILLS` kills each (default 20 on fjall, 4 on sled;
//! without `LAZARUS_CRASH_SEEDS`, sled takes 2/5 of a value given). Long runs:
//!
//! ```text
//! LAZARUS_CRASH_KILLS=500 cargo test --release --test crash -- --nocapture
//! LAZARUS_CRASH_SEEDS=20 LAZARUS_CRASH_KILLS=300 cargo test --release --test crash sled
//! ```
//!
//! A child that prints nothing for 20 s is killed and the test fails (fjall write halts can
//! wait forever, see `docs/design.md` §13); the parent's reopen and checks have a watchdog too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lazarusdb::{
    ColumnType, Db, Durability, EngineKind, Error, OnDelete, Options, Readable, RestorePolicy, Row,
    Scan, TableBuilder, TrashQuery, Value,
};

const CHILD_ENV: &str = "LAZARUS_CRASH_CHILD";
const CHILD_SEED_ENV: &str = "LAZARUS_CRASH_CHILD_SEED";
const KILLS_ENV: &str = "LAZARUS_CRASH_KILLS";
const SEED_ENV: &str = "LAZARUS_CRASH_SEED";
const SEEDS_ENV: &str = "LAZARUS_CRASH_SEEDS";
/// A child silent this long is presumed hung.
const SILENCE: Duration = Duration::from_secs(20);
/// The parent's reopen and checks of one round may take this long.
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

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            items.get(self.below(items.len() as u64) as usize)
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

// ---------------------------------------------------------------------------------------------
// The schema.

fn create_schema(db: &Db) {
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
            .column(("v", ColumnType::Int))
            .primary_key("id")
            .unique(["code"])
            .foreign_key("parent_id", "parent", OnDelete::Cascade),
    )
    .unwrap();
}

fn int(row: &Row, col: &str) -> Option<i64> {
    row.get(col).and_then(Value::as_int)
}

fn ids(db: &Db, table: &str) -> Vec<i64> {
    db.scan(table, Scan::all())
        .unwrap()
        .iter()
        .map(|r| int(r, "id").unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The child: random transactions until killed.

/// Errors a random operation may meet by design (a conflict, a row gone meanwhile); anything
/// else is a failure of the store and ends the child with a panic (the parent reports it).
fn expected(e: &Error) -> bool {
    matches!(
        e,
        Error::ConstraintViolation { .. }
            | Error::NotFound { .. }
            | Error::AlreadyDeleted { .. }
            | Error::AlreadyRestored(_)
            | Error::RestoreConflict { .. }
            | Error::RewindConflict { .. }
            | Error::UnknownDeletion(_)
    )
}

struct ChildState {
    rng: Rng,
    last_tx: u64,
    deletions: Vec<uuid::Uuid>,
    recent_lsns: Vec<u64>,
    out: std::io::Stdout,
}

impl ChildState {
    fn ack(&mut self, db: &Db, tx: u64, lsn: u64, what: &str) {
        assert_eq!(tx, self.last_tx + 1, "transaction ids are consecutive");
        assert_eq!(lsn, db.last_lsn());
        self.last_tx = tx;
        self.recent_lsns.push(lsn);
        if self.recent_lsns.len() > 32 {
            self.recent_lsns.remove(0);
        }
        let mut out = self.out.lock();
        if writeln!(out, "@ack {tx} {lsn} {what}")
            .and_then(|()| out.flush())
            .is_err()
        {
            // the parent is gone
            std::process::exit(0);
        }
    }

    /// After a `Db`-level call that commits on its own: acknowledges its transaction, if it
    /// wrote anything (the child is the only writer, so the next id is the last plus one).
    fn ack_if_written(&mut self, db: &Db, lsn_before: u64, what: &str) {
        let lsn = db.last_lsn();
        if lsn > lsn_before {
            let tx = self.last_tx + 1;
            let rec = db.transaction_record(tx).unwrap().expect("its record");
            assert_eq!((rec.first_lsn, rec.last_lsn), (lsn_before + 1, lsn));
            self.ack(db, tx, lsn, what);
        }
    }

    fn name(&mut self) -> String {
        format!("n{}", self.rng.below(400))
    }

    fn code(&mut self) -> String {
        format!("c{}", self.rng.below(600))
    }
}

/// Keeps the result of one staged operation inside a transaction: expected errors leave the
/// transaction usable (a failed check stages nothing), others end the child.
fn tolerate<T>(r: Result<T, Error>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) if expected(&e) => None,
        Err(e) => panic!("unexpected error: {e:?}"),
    }
}

fn op_insert(db: &Db, st: &mut ChildState) {
    let parents = ids(db, "parent");
    let mut tx = db.begin().unwrap();
    let mut new_parents = Vec::new();
    for _ in 0..st.rng.between(1, 3) {
        let row = Row::new()
            .with("name", st.name())
            .with("n", st.rng.below(1000) as i64);
        if let Some(r) = tolerate(tx.insert("parent", row)) {
            new_parents.push(int(&r, "id").unwrap());
        }
    }
    let mut targets = new_parents.clone();
    if let Some(p) = st.rng.pick(&parents) {
        targets.push(*p);
    }
    for p in targets {
        for _ in 0..st.rng.below(4) {
            let row = Row::new()
                .with("parent_id", p)
                .with("code", st.code())
                .with("v", st.rng.below(1000) as i64);
            tolerate(tx.insert("child", row));
        }
    }
    if st.rng.below(12) == 0 {
        drop(tx); // an abandoned transaction writes nothing
        return;
    }
    let info = tx.commit().unwrap();
    if let Some(t) = info.tx {
        st.ack(db, t, info.last_lsn, "insert");
    }
}

fn op_update(db: &Db, st: &mut ChildState) {
    let parents = ids(db, "parent");
    let children = ids(db, "child");
    let mut tx = db.begin().unwrap();
    for _ in 0..st.rng.between(1, 3) {
        if st.rng.below(2) == 0 {
            if let Some(&p) = st.rng.pick(&parents) {
                let changes = match st.rng.below(2) {
                    0 => Row::new().with("name", st.name()),
                    _ => Row::new().with("n", st.rng.below(1000) as i64),
                };
                tolerate(tx.update("parent", p, changes));
            }
        } else if let Some(&c) = st.rng.pick(&children) {
            let changes = match st.rng.below(3) {
                0 => Row::new().with("code", st.code()),
                1 => Row::new().with("v", st.rng.below(1000) as i64),
                _ => match st.rng.pick(&parents) {
                    Some(&p) => Row::new().with("parent_id", p),
                    None => Row::new().with("v", 0),
                },
            };
            tolerate(tx.update("child", c, changes));
        }
    }
    let info = tx.commit().unwrap();
    if let Some(t) = info.tx {
        st.ack(db, t, info.last_lsn, "update");
    }
}

fn op_delete(db: &Db, st: &mut ChildState) {
    let table = if st.rng.below(3) == 0 {
        "child"
    } else {
        "parent"
    };
    let Some(&pk) = st.rng.pick(&ids(db, table)) else {
        return;
    };
    let before = db.last_lsn();
    if let Some(report) = tolerate(db.delete(table, pk)) {
        st.deletions.push(report.deletion);
        if st.deletions.len() > 64 {
            st.deletions.remove(0);
        }
    }
    st.ack_if_written(db, before, "delete");
}

fn op_restore(db: &Db, st: &mut ChildState) {
    if st.deletions.is_empty() {
        return;
    }
    let i = st.rng.below(st.deletions.len() as u64) as usize;
    let id = st.deletions[i];
    let before = db.last_lsn();
    match db.restore(id, RestorePolicy::SkipConflicts) {
        Ok(_) => {}
        Err(Error::AlreadyRestored(_) | Error::UnknownDeletion(_)) => {
            st.deletions.remove(i);
        }
        Err(e) if expected(&e) => {}
        Err(e) => panic!("unexpected error restoring {id}: {e:?}"),
    }
    st.ack_if_written(db, before, "restore");
}

fn op_restore_to(db: &Db, st: &mut ChildState) {
    let Some(&lsn) = st.rng.pick(&st.recent_lsns) else {
        return;
    };
    let table = if st.rng.below(2) == 0 {
        "parent"
    } else {
        "child"
    };
    let before = db.last_lsn();
    tolerate(db.restore_table_to(table, lsn));
    st.ack_if_written(db, before, "restore_to");
}

fn child_main(store: &Path, seed: u64) {
    let started = Instant::now();
    let db = Db::open_with(
        store,
        Options {
            must_exist: true,
            durability: Durability::Immediate,
            ..Options::default()
        },
    )
    .unwrap();
    let last_tx = db.stats().unwrap().last_tx;
    let deletions = db
        .trash(&TrashQuery::all().limit(64))
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    let mut st = ChildState {
        rng: Rng::new(seed),
        last_tx,
        deletions,
        recent_lsns: vec![db.last_lsn()],
        out: std::io::stdout(),
    };
    while started.elapsed() < CHILD_LIFETIME {
        let parents = db.count("parent").unwrap();
        // keep the tables from growing without bound
        let insert_weight = if parents > 150 { 10 } else { 35 };
        // weights: insert, update, delete, restore, restore to a point
        let r = st.rng.below(insert_weight + 20 + 22 + 12 + 16);
        if r < insert_weight {
            op_insert(&db, &mut st);
        } else if r < insert_weight + 20 {
            op_update(&db, &mut st);
        } else if r < insert_weight + 42 {
            op_delete(&db, &mut st);
        } else if r < insert_weight + 54 {
            op_restore(&db, &mut st);
        } else {
            op_restore_to(&db, &mut st);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The parent.

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

/// What the previous round left: the last LSN and transaction checked.
#[derive(Clone, Copy, Debug, Default)]
struct Checked {
    lsn: u64,
    tx: u64,
}

/// An acknowledged commit: transaction id, its last LSN, what the child did.
type Ack = (u64, u64, String);

/// Parses an `@ack <tx> <lsn> <what>` line (other lines are the test harness's own; it may
/// print `test <name> ... ` before the child's first line).
fn take(line: &str, acks: &mut Vec<Ack>) {
    if let Some(rest) = line.find("@ack ").map(|at| &line[at + 5..]) {
        let mut it = rest.split_whitespace();
        let mut num = || it.next().unwrap().parse::<u64>().unwrap();
        let (tx, lsn) = (num(), num());
        let what = it.next().unwrap_or("?").to_string();
        acks.push((tx, lsn, what));
    }
}

/// One round: run a child, kill it, return its acknowledgements (tx → lsn).
fn run_child(
    test_name: &str,
    store: &Path,
    seed: u64,
    rng: &mut Rng,
    stderr_file: &Path,
) -> Vec<Ack> {
    let stderr = std::fs::File::create(stderr_file).unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, store)
        .env(CHILD_SEED_ENV, seed.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .spawn()
        .unwrap();
    let mut guard = ChildGuard(Some(child));
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
        format!("{why} (seed {seed}); child stderr:\n{err}")
    };

    let mut acks: Vec<Ack> = Vec::new();
    // now and then: a kill while the child opens the store, before any commit
    let early = rng.below(8) == 0;
    let mut deadline: Option<Instant> =
        early.then(|| Instant::now() + Duration::from_millis(rng.between(5, 80)));
    let mut last_heard = Instant::now();
    loop {
        let now = Instant::now();
        if let Some(d) = deadline {
            if now >= d {
                break;
            }
        }
        if now.duration_since(last_heard) >= SILENCE {
            let _ = guard.child().kill();
            panic!(
                "{}",
                child_log(&format!(
                    "the child printed nothing for {SILENCE:?} and was killed: a hung write?"
                ))
            );
        }
        let wait = deadline
            .map_or(SILENCE, |d| d.saturating_duration_since(now))
            .min(Duration::from_millis(50));
        match lines_rx.recv_timeout(wait) {
            Ok(line) => {
                last_heard = Instant::now();
                take(&line, &mut acks);
                if deadline.is_none() && !acks.is_empty() {
                    deadline = Some(Instant::now() + Duration::from_millis(rng.between(20, 300)));
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
    let status = child.wait().unwrap();
    guard.0 = None;
    assert!(
        killed_by_sigkill(status),
        "{}",
        child_log(&format!("the child was not ended by our kill: {status}"))
    );
    // whatever it printed before dying was acknowledged too
    reader.join().unwrap();
    for line in lines_rx.try_iter() {
        take(&line, &mut acks);
    }
    acks
}

/// Reopens the store after a kill and checks it (see the module docs). Returns what it checked.
fn check_store(
    store: &Path,
    engine: EngineKind,
    prev: Checked,
    acks: &[Ack],
) -> Result<Checked, String> {
    let db = Db::open_with(
        store,
        Options {
            must_exist: true,
            ..Options::default()
        },
    )
    .map_err(|e| format!("reopen failed: {e:?}"))?;
    if db.engine() != engine {
        return Err(format!("the store reopened on {:?}", db.engine()));
    }
    let report = db.verify().map_err(|e| format!("verify: {e:?}"))?;
    if !report.is_ok() {
        return Err(format!(
            "verify found differences: {:#?}",
            report.differences
        ));
    }
    let stats = db.stats().map_err(|e| format!("stats: {e:?}"))?;
    let (last_lsn, last_tx) = (stats.last_lsn, stats.last_tx);
    if db.last_lsn() != last_lsn || last_lsn < prev.lsn || last_tx < prev.tx {
        return Err(format!(
            "positions went back: last lsn {last_lsn} (db says {}), last tx {last_tx}; \
             previous round {prev:?}",
            db.last_lsn()
        ));
    }

    // every acknowledged transaction is there, whole
    let mut prev_ack = prev.tx;
    for &(tx, lsn, _) in acks {
        if tx <= prev_ack {
            return Err(format!("ack {tx} {lsn} is not after {prev_ack}"));
        }
        prev_ack = tx;
        if tx > last_tx {
            return Err(format!(
                "acknowledged transaction {tx} (lsn {lsn}) is lost: the store ends at tx {last_tx}"
            ));
        }
        match db.transaction_record(tx) {
            Ok(Some(rec)) if rec.tx == tx && rec.last_lsn == lsn => {}
            other => {
                return Err(format!(
                    "acknowledged transaction {tx} ending at lsn {lsn}: record {other:?}"
                ))
            }
        }
    }

    // no transaction is half there: the new ones are consecutive and each whole
    let mut expect_first = prev.lsn + 1;
    for tx in prev.tx + 1..=last_tx {
        let rec = db
            .transaction_record(tx)
            .map_err(|e| format!("record of tx {tx}: {e:?}"))?
            .ok_or_else(|| format!("no record of tx {tx} (last tx {last_tx})"))?;
        if rec.tx != tx || rec.first_lsn != expect_first || rec.last_lsn < rec.first_lsn {
            return Err(format!(
                "tx {tx}: record {rec:?}, expected its first lsn to be {expect_first}"
            ));
        }
        let n = rec.last_lsn - rec.first_lsn + 1;
        let events = db
            .events(rec.first_lsn, Some(n as usize))
            .map_err(|e| format!("events of tx {tx}: {e:?}"))?;
        let lsns: Vec<u64> = events.iter().map(|e| e.lsn).collect();
        let want: Vec<u64> = (rec.first_lsn..=rec.last_lsn).collect();
        if lsns != want || events.iter().any(|e| e.tx != tx) {
            return Err(format!(
                "tx {tx} is not whole: record {}..={}, events {:?}",
                rec.first_lsn,
                rec.last_lsn,
                events.iter().map(|e| (e.lsn, e.tx)).collect::<Vec<_>>()
            ));
        }
        expect_first = rec.last_lsn + 1;
    }
    if expect_first != last_lsn + 1 {
        return Err(format!(
            "the last transaction ends at lsn {}, the store's last lsn is {last_lsn}",
            expect_first - 1
        ));
    }
    let beyond = db
        .events(last_lsn + 1, Some(4))
        .map_err(|e| format!("events past the end: {e:?}"))?;
    if !beyond.is_empty() {
        return Err(format!(
            "events past the last lsn {last_lsn}: {:?}",
            beyond.iter().map(|e| (e.lsn, e.tx)).collect::<Vec<_>>()
        ));
    }
    if let Ok(Some(rec)) = db.transaction_record(last_tx + 1) {
        return Err(format!("a record past the last tx {last_tx}: {rec:?}"));
    }

    // the live views: every child has a live parent, unique values are distinct
    let parents = db
        .scan("parent", Scan::all())
        .map_err(|e| format!("{e:?}"))?;
    let children = db
        .scan("child", Scan::all())
        .map_err(|e| format!("{e:?}"))?;
    let parent_ids: BTreeSet<i64> = parents.iter().filter_map(|r| int(r, "id")).collect();
    let names: BTreeSet<&str> = parents
        .iter()
        .filter_map(|r| r.get("name").and_then(Value::as_text))
        .collect();
    if names.len() != parents.len() {
        return Err("two live parents share a name".into());
    }
    let mut codes = BTreeMap::new();
    for c in &children {
        let p = int(c, "parent_id").unwrap_or(-1);
        if !parent_ids.contains(&p) {
            return Err(format!("live child {c:?} has no live parent"));
        }
        if let Some(prev) = codes.insert(c.get("code").and_then(Value::as_text), c.clone()) {
            return Err(format!(
                "two live children share a code: {prev:?} and {c:?}"
            ));
        }
    }
    db.close().map_err(|e| format!("close: {e:?}"))?;
    Ok(Checked {
        lsn: last_lsn,
        tx: last_tx,
    })
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

fn crash_loop(test_name: &str, engine: EngineKind, default_kills: u64, default_seeds: u64) {
    if let Some(store) = std::env::var_os(CHILD_ENV) {
        let seed = env_u64(CHILD_SEED_ENV).unwrap_or(1);
        child_main(Path::new(&store), seed);
        return;
    }
    let seeds = env_u64(SEEDS_ENV);
    let kills = match env_u64(KILLS_ENV) {
        // with an explicit number of seeds, the number of kills is per seed, for both engines
        Some(k) if engine == EngineKind::Sled && seeds.is_none() => (k * 2 / 5).max(1),
        Some(k) => k,
        None => default_kills,
    };
    let first = env_u64(SEED_ENV).unwrap_or(0x1A2A_2005);
    for i in 0..seeds.unwrap_or(default_seeds).max(1) {
        // each seed on a store of its own
        let base_seed = first.wrapping_add(i.wrapping_mul(0x9E37_79B9));
        crash_loop_seed(test_name, engine, kills, base_seed);
    }
}

fn crash_loop_seed(test_name: &str, engine: EngineKind, kills: u64, base_seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let store: PathBuf = dir.path().join("store");
    {
        let db = Db::open_with(&store, Options::default().engine(engine)).unwrap();
        create_schema(&db);
        db.close().unwrap();
    }
    let mut rng = Rng::new(base_seed ^ engine as u64);
    let mut checked = Checked::default();
    let started = Instant::now();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for round in 0..kills {
        let seed = base_seed.wrapping_mul(1_000_003).wrapping_add(round);
        let stderr_file = dir.path().join(format!("child-{round}.stderr"));
        let acks = run_child(test_name, &store, seed, &mut rng, &stderr_file);
        for (_, _, what) in &acks {
            *kinds.entry(what.clone()).or_default() += 1;
        }
        let s = store.clone();
        let prev = checked;
        let result = with_watchdog(CHECK_LIMIT, "reopening and checking the store", move || {
            check_store(&s, engine, prev, &acks)
        });
        checked = result.unwrap_or_else(|e| {
            panic!(
                "{engine:?}, round {round} (base seed {base_seed}, child seed {seed}): {e}\n\
                 child stderr:\n{}",
                std::fs::read_to_string(&stderr_file).unwrap_or_default()
            )
        });
    }
    println!(
        "{engine:?}: {kills} kills, acknowledged {kinds:?}, store at tx {} lsn {} in {:.1?} \
         (base seed {base_seed})",
        checked.tx,
        checked.lsn,
        started.elapsed()
    );
    if kills >= 8 {
        // the loop must exercise every kind of commit, or it pins less than it claims
        for what in ["insert", "update", "delete", "restore", "restore_to"] {
            assert!(
                kinds.contains_key(what),
                "no {what} was acknowledged: {kinds:?}"
            );
        }
    }
}

#[test]
fn kill_during_random_transactions_loses_nothing_acknowledged_fjall() {
    crash_loop(
        "kill_during_random_transactions_loses_nothing_acknowledged_fjall",
        EngineKind::Fjall,
        20,
        1,
    );
}

#[test]
fn kill_during_random_transactions_loses_nothing_acknowledged_fjall_redb() {
    crash_loop(
        "kill_during_random_transactions_loses_nothing_acknowledged_fjall_redb",
        EngineKind::FjallRedb,
        20,
        1,
    );
}

#[test]
fn kill_during_random_transactions_loses_nothing_acknowledged_sled() {
    crash_loop(
        "kill_during_random_transactions_loses_nothing_acknowledged_sled",
        EngineKind::Sled,
        4,
        3,
    );
}
