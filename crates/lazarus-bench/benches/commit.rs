//! Durable commits: commits per second for 1, 4 and 16 writers in Immediate mode (each commit
//! inserts one row and returns only once it is on disk), beside the disk's raw fdatasync rate
//! measured in the same run (the physical limit for one writer), plus p50/p99 commit latency.
//!
//! Run: `cargo bench --bench commit` (criterion groups `commit/*`); a fixed-work pass then
//! prints rates, ratios and p50/p99 latency to standard error: three interleaved repetitions
//! and their medians. The fixed pass also runs lazarusdb on a store closed and opened again
//! (`reopened`, see [`System::Reopened`]), and the alternatives a user would pick for durable
//! single-row commits from many threads: SQLite (WAL, `synchronous=FULL`, one connection shared
//! behind a mutex, since SQLite runs one write transaction at a time) and fjall used directly
//! (a one-key batch, then `persist(SyncData)`, from every thread).
//!
//! With `--features bench-mimalloc` the bench program uses mimalloc as its global allocator (an
//! application's choice; the library never makes it), to measure what that choice is worth.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[cfg(feature = "bench-mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lazarusdb::{ColumnType, Db, EngineKind, Options, Row, TableBuilder};

fn open(dir: &std::path::Path, engine: EngineKind) -> Db {
    let db = Db::open_with(dir.join("store"), Options::default().engine(engine)).unwrap();
    db.create_table(
        TableBuilder::new("event")
            .column(("id", ColumnType::Int))
            .column(("body", ColumnType::Text))
            .primary_key("id"),
    )
    .unwrap();
    db
}

/// Runs `writers` threads making `writers * per_writer` single-row durable commits between
/// them; returns the wall time and every commit's latency.
fn run(db: &Arc<Db>, writers: usize, per_writer: usize) -> (Duration, Vec<Duration>) {
    let db = db.clone();
    run_with(writers, per_writer, move || {
        db.insert("event", Row::new().with("body", "a small durable event"))
            .unwrap();
    })
}

/// Runs `writers` threads calling `commit` `writers * per_writer` times between them. The
/// threads take commits from one shared count, so they all stop together: a fixed count per
/// thread would end each run with the slowest writers committing alone.
fn run_with(
    writers: usize,
    per_writer: usize,
    commit: impl Fn() + Send + Sync + 'static,
) -> (Duration, Vec<Duration>) {
    let commit = Arc::new(commit);
    let left = Arc::new(AtomicUsize::new(writers * per_writer));
    let go = Arc::new(Barrier::new(writers + 1));
    let handles: Vec<_> = (0..writers)
        .map(|_| {
            let (commit, left, go) = (commit.clone(), left.clone(), go.clone());
            std::thread::spawn(move || {
                let mut lat = Vec::with_capacity(per_writer * 2);
                go.wait();
                while left
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                    .is_ok()
                {
                    let t = Instant::now();
                    commit();
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    go.wait();
    let start = Instant::now();
    let mut all = Vec::with_capacity(writers * per_writer);
    for h in handles {
        all.extend(h.join().unwrap());
    }
    (start.elapsed(), all)
}

/// The disk's raw rate: append a small record and fdatasync, in a loop.
fn raw_fsync(dir: &std::path::Path, n: usize) -> Duration {
    let mut f = std::fs::File::create(dir.join("raw")).unwrap();
    let start = Instant::now();
    for _ in 0..n {
        f.write_all(b"a small durable event\n").unwrap();
        f.sync_data().unwrap();
    }
    start.elapsed()
}

/// What the fixed pass measures.
#[derive(Clone, Copy)]
enum System {
    Lazarus(EngineKind),
    /// lazarusdb on fjall, on a store closed and opened again before the run: fjall then
    /// appends to its journal (it truncates the journal to its last entry when it opens it), so
    /// each fdatasync also records the file's new size, while a new store's journal is
    /// preallocated.
    Reopened,
    /// SQLite, WAL, `synchronous=FULL`: an autoincrement insert per transaction.
    Sqlite,
    /// fjall used directly: a one-key batch, then `persist(SyncData)`.
    FjallRaw,
}

impl System {
    fn name(self) -> &'static str {
        match self {
            System::Lazarus(e) => e.name(),
            System::Reopened => "reopened",
            System::Sqlite => "sqlite",
            System::FjallRaw => "fjall-raw",
        }
    }

    /// Opens the system in `dir` and runs `writers` threads committing `total` rows.
    fn run(self, dir: &std::path::Path, writers: usize, total: usize) -> (Duration, Vec<Duration>) {
        let per_writer = total / writers;
        match self {
            System::Lazarus(engine) => run(&Arc::new(open(dir, engine)), writers, per_writer),
            System::Reopened => {
                let db = open(dir, EngineKind::Fjall);
                db.insert("event", Row::new().with("body", "before the reopen"))
                    .unwrap();
                db.close().unwrap();
                let db = Db::open(dir.join("store")).unwrap();
                run(&Arc::new(db), writers, per_writer)
            }
            System::Sqlite => {
                let conn = rusqlite::Connection::open(dir.join("bench.sqlite")).unwrap();
                conn.pragma_update(None, "journal_mode", "WAL").unwrap();
                conn.pragma_update(None, "synchronous", "FULL").unwrap();
                conn.execute_batch(
                    "CREATE TABLE event (id INTEGER PRIMARY KEY, body TEXT NOT NULL,
                                         is_deleted INTEGER NOT NULL DEFAULT 0)",
                )
                .unwrap();
                let conn = Mutex::new(conn);
                run_with(writers, per_writer, move || {
                    let conn = conn.lock().unwrap();
                    conn.execute("BEGIN IMMEDIATE", []).unwrap();
                    conn.prepare_cached("INSERT INTO event (body) VALUES (?1)")
                        .unwrap()
                        .execute(["a small durable event"])
                        .unwrap();
                    conn.execute("COMMIT", []).unwrap();
                })
            }
            System::FjallRaw => {
                let db = fjall::Database::builder(dir.join("fjall")).open().unwrap();
                let ks = db
                    .keyspace("event", fjall::KeyspaceCreateOptions::default)
                    .unwrap();
                let next = AtomicU64::new(0);
                run_with(writers, per_writer, move || {
                    let id = next.fetch_add(1, Ordering::Relaxed);
                    let mut b = db.batch();
                    b.insert(&ks, id.to_be_bytes(), "a small durable event");
                    b.commit().unwrap();
                    db.persist(fjall::PersistMode::SyncData).unwrap();
                })
            }
        }
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("commit");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    let dir = tempfile::tempdir().unwrap();
    group.throughput(Throughput::Elements(1));
    group.bench_function("raw-fdatasync", |b| {
        b.iter_custom(|iters| raw_fsync(dir.path(), iters as usize))
    });
    for engine in [EngineKind::Fjall, EngineKind::Sled] {
        let d = tempfile::tempdir().unwrap();
        let db = Arc::new(open(d.path(), engine));
        for writers in [1usize, 4, 16] {
            group.throughput(Throughput::Elements(writers as u64));
            let name = format!("{}-{}-writers", engine.name(), writers);
            group.bench_function(&name, |b| {
                b.iter_custom(|iters| run(&db, writers, iters as usize).0)
            });
        }
    }
    group.finish();

    // The fixed-work pass: long runs (about a second each), repeated three times with the
    // configurations interleaved, each repetition with its own raw fdatasync rate, so that a
    // disk or a host whose speed drifts during the run skews every ratio of a repetition alike.
    // The median of the three ratios is the figure to quote.
    const REPS: usize = 3;
    let (fjall, sled) = (
        System::Lazarus(EngineKind::Fjall),
        System::Lazarus(EngineKind::Sled),
    );
    let plan: [(System, usize, usize); 15] = [
        (fjall, 1, 16_000),
        (fjall, 4, 40_000),
        (fjall, 16, 96_000),
        (System::Reopened, 1, 12_000),
        (System::Reopened, 4, 32_000),
        (System::Reopened, 16, 80_000),
        (sled, 1, 4_000),
        (sled, 4, 8_000),
        (sled, 16, 24_000),
        (System::Sqlite, 1, 8_000),
        (System::Sqlite, 4, 8_000),
        (System::Sqlite, 16, 8_000),
        (System::FjallRaw, 1, 16_000),
        (System::FjallRaw, 4, 16_000),
        (System::FjallRaw, 16, 16_000),
    ];
    eprintln!(
        "\nallocator: {}",
        if cfg!(feature = "bench-mimalloc") {
            "mimalloc (--features bench-mimalloc)"
        } else {
            "the system's (glibc malloc on Linux)"
        }
    );
    eprintln!(
        "{:<4} {:<9} {:>8} {:>10} {:>9} {:>10} {:>10} {:>10}",
        "rep", "system", "writers", "commits/s", "x raw", "x 1 writer", "p50", "p99"
    );
    let mut ratios: Vec<Vec<(f64, f64)>> = vec![Vec::new(); plan.len()];
    for rep in 0..REPS {
        let raw_n = 5_000;
        let raw_rate = raw_n as f64 / raw_fsync(dir.path(), raw_n).as_secs_f64();
        eprintln!("{:<4} {:<9} {:>8} {:>10.0}", rep + 1, "raw", "", raw_rate);
        let mut one = f64::NAN;
        for (i, &(system, writers, total)) in plan.iter().enumerate() {
            let d = tempfile::tempdir().unwrap();
            let (wall, mut lat) = system.run(d.path(), writers, total);
            lat.sort();
            let rate = lat.len() as f64 / wall.as_secs_f64();
            if writers == 1 {
                one = rate;
            }
            ratios[i].push((rate / raw_rate, rate / one));
            eprintln!(
                "{:<4} {:<9} {:>8} {:>10.0} {:>9.2} {:>10.2} {:>10.2?} {:>10.2?}",
                rep + 1,
                system.name(),
                writers,
                rate,
                rate / raw_rate,
                rate / one,
                pct(&lat, 0.5),
                pct(&lat, 0.99)
            );
        }
    }
    eprintln!("\nmedians of {REPS}:");
    for (i, &(system, writers, _)) in plan.iter().enumerate() {
        let mut raw: Vec<f64> = ratios[i].iter().map(|r| r.0).collect();
        let mut one: Vec<f64> = ratios[i].iter().map(|r| r.1).collect();
        raw.sort_by(f64::total_cmp);
        one.sort_by(f64::total_cmp);
        eprintln!(
            "{:<9} {:>3} writers: {:.2}x raw fdatasync, {:.2}x one writer",
            system.name(),
            writers,
            raw[REPS / 2],
            one[REPS / 2]
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
