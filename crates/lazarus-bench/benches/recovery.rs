//! Open time after a crash, with 10k, 100k and 1M events in the log.
//!
//! A store is filled (transactions of 1,000 rows), synced, and then abandoned without a clean
//! close (the handle is leaked, as a killed process would leave it); its folder is copied, and the
//! bench times `Db::open` of the copy, which must replay whatever the engine had not yet flushed
//! from its journal. The store itself recomputes nothing at open (views are stored, not rebuilt),
//! so the cost should follow the unflushed journal, not the size of the log.
//!
//! Run: `cargo bench --bench recovery` (set `LAZARUS_BENCH_RECOVERY_MAX=100000` to skip the
//! million-event store, which takes a minute or two to build).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use lazarusdb::{ColumnType, Db, Durability, Error, Options, Row, TableBuilder};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Builds a store with `events` row events and leaves it as a crash would; returns its copy.
fn crashed_store(dir: &Path, events: usize) -> std::path::PathBuf {
    let live = dir.join("live");
    let db = Db::open_with(&live, Options::default().durability(Durability::Eventual)).unwrap();
    db.create_table(
        TableBuilder::new("event")
            .column(("id", ColumnType::Int))
            .column(("body", ColumnType::Text))
            .primary_key("id"),
    )
    .unwrap();
    for _ in 0..events / 1000 {
        db.transaction(|tx| {
            for _ in 0..1000 {
                tx.insert(
                    "event",
                    Row::new().with("body", "an event body of some length"),
                )?;
            }
            Ok::<_, Error>(())
        })
        .unwrap();
    }
    db.sync().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let copy = dir.join("crashed");
    copy_dir(&live, &copy);
    // No clean close: the handle (and its threads) are left as a killed process would leave them.
    std::mem::forget(db);
    copy
}

fn bench(c: &mut Criterion) {
    let max: usize = std::env::var("LAZARUS_BENCH_RECOVERY_MAX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let mut g = c.benchmark_group("open_after_crash");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_millis(500));
    for events in [10_000usize, 100_000, 1_000_000] {
        if events > max {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let store = crashed_store(dir.path(), events);
        g.bench_function(BenchmarkId::from_parameter(events), |b| {
            b.iter(|| {
                let db = Db::open(&store).unwrap();
                assert!(db.last_lsn() as usize >= events);
                db.close().unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
