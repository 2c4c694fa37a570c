//! Durable commits: commits per second for 1, 4 and 16 writers in Immediate mode (each commit
//! inserts one row and returns only once it is on disk), beside the disk's raw fdatasync rate
//! measured in the same run (the physical limit for one writer), plus p50/p99 commit latency.
//!
//! Run: `cargo bench --bench commit` (criterion groups `commit/*`); the latency table is
//! printed to standard error at the end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::Write;
use std::sync::Arc;
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

/// Runs `writers` threads doing `per_writer` single-row durable commits each; returns the
/// wall time and every commit's latency.
fn run(db: &Arc<Db>, writers: usize, per_writer: usize) -> (Duration, Vec<Duration>) {
    let start = Instant::now();
    let handles: Vec<_> = (0..writers)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut lat = Vec::with_capacity(per_writer);
                for _ in 0..per_writer {
                    let t = Instant::now();
                    db.insert("event", Row::new().with("body", "a small durable event"))
                        .unwrap();
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
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

    // Latency percentiles and rates, one fixed run each.
    let n = 400usize;
    let raw = raw_fsync(dir.path(), n);
    let raw_rate = n as f64 / raw.as_secs_f64();
    eprintln!("\nraw fdatasync: {raw_rate:.0}/s");
    eprintln!(
        "{:<8} {:>8} {:>10} {:>9} {:>10} {:>10}",
        "engine", "writers", "commits/s", "x raw", "p50", "p99"
    );
    for engine in [EngineKind::Fjall, EngineKind::Sled] {
        let d = tempfile::tempdir().unwrap();
        let db = Arc::new(open(d.path(), engine));
        for writers in [1usize, 4, 16] {
            let (wall, mut lat) = run(&db, writers, n / writers.min(4));
            lat.sort();
            let rate = lat.len() as f64 / wall.as_secs_f64();
            eprintln!(
                "{:<8} {:>8} {:>10.0} {:>9.2} {:>10.2?} {:>10.2?}",
                engine.name(),
                writers,
                rate,
                rate / raw_rate,
                pct(&lat, 0.5),
                pct(&lat, 0.99)
            );
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
