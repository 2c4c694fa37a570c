//! The change feed: events per second delivered to 1 and 8 subscribers (`Db::subscribe`, each
//! on its own thread) while one writer commits transactions of five single-row inserts on the
//! default engine, eventual durability (the feed's own cost, not the disk's). A run ends when
//! every subscriber has received the writer's last event; the figure is events delivered (to
//! all subscribers together) per second of wall time, beside the writer's own rate alone.
//!
//! Run: `cargo bench --bench feed` (criterion groups `feed/*`); a fixed-work pass then prints
//! the rates to standard error, and the rate at which 1 and 8 subscribers catch up on a backlog
//! of the same events (the feed's own speed, with no writer to wait for).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lazarusdb::{ColumnType, Db, Durability, Options, Row, TableBuilder};

const TXS: i64 = 2_000;
const ROWS_PER_TX: i64 = 5;

fn open(dir: &std::path::Path) -> Db {
    let db = Db::open_with(
        dir.join("store"),
        Options::default().durability(Durability::Eventual),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("event")
            .column(("id", ColumnType::Int))
            .column(("body", ColumnType::Text))
            .primary_key("id"),
    )
    .unwrap();
    db
}

/// The writer's transactions: `TXS` of `ROWS_PER_TX` single-row inserts.
fn write(db: &Db) {
    for t in 0..TXS {
        db.transaction(|tx| {
            for r in 0..ROWS_PER_TX {
                tx.insert(
                    "event",
                    Row::new()
                        .with("id", t * ROWS_PER_TX + r)
                        .with("body", "an event of the feed"),
                )?;
            }
            Ok::<_, lazarusdb::Error>(())
        })
        .unwrap();
    }
}

/// One run: the writer's transactions with `subscribers` threads following them; returns the
/// wall time until the last subscriber received the last event, and the events written.
fn run(subscribers: usize) -> (Duration, u64) {
    let dir = lazarus_bench::bench_tempdir().unwrap();
    let db = open(dir.path());
    let from = db.last_lsn();
    let events = (TXS * ROWS_PER_TX) as u64;
    let last = from + events;
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..subscribers {
            let db = &db;
            s.spawn(move || {
                let mut feed = db.subscribe(from).unwrap();
                while feed.last_seen() < last {
                    feed.next_timeout(Duration::from_secs(60)).unwrap().unwrap();
                }
            });
        }
        write(&db);
    });
    let took = start.elapsed();
    assert_eq!(db.last_lsn(), last);
    (took, events)
}

/// A backlog: the writer's transactions first, then `subscribers` threads reading them all
/// from the log; returns the time the reading took and the events.
fn catch_up(subscribers: usize) -> (Duration, u64) {
    let dir = lazarus_bench::bench_tempdir().unwrap();
    let db = open(dir.path());
    let from = db.last_lsn();
    write(&db);
    let last = db.last_lsn();
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..subscribers {
            let db = &db;
            s.spawn(move || {
                let mut feed = db.subscribe(from).unwrap();
                while feed.last_seen() < last {
                    feed.try_next().unwrap().unwrap();
                }
            });
        }
    });
    (start.elapsed(), last - from)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("feed");
    g.sample_size(10);
    for subscribers in [0usize, 1, 8] {
        g.throughput(Throughput::Elements(
            (TXS * ROWS_PER_TX) as u64 * subscribers.max(1) as u64,
        ));
        g.bench_function(format!("{subscribers}_subscribers"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| run(subscribers).0).sum());
        });
    }
    g.finish();
    // the fixed pass: three repetitions each, interleaved
    let mut rates: Vec<(usize, Vec<f64>)> = vec![(0, vec![]), (1, vec![]), (8, vec![])];
    for _ in 0..3 {
        for (n, out) in rates.iter_mut() {
            let (took, events) = run(*n);
            out.push(events as f64 * (*n).max(1) as f64 / took.as_secs_f64());
        }
    }
    for n in [1usize, 8] {
        let mut r: Vec<f64> = (0..3)
            .map(|_| {
                let (took, events) = catch_up(n);
                events as f64 * n as f64 / took.as_secs_f64()
            })
            .collect();
        r.sort_by(f64::total_cmp);
        eprintln!(
            "feed: catching up on a backlog, {n} subscriber(s): {:.0} events/s delivered (median of {:?})",
            r[1],
            r.iter().map(|x| x.round()).collect::<Vec<_>>()
        );
    }
    for (n, mut r) in rates {
        r.sort_by(f64::total_cmp);
        eprintln!(
            "feed: {n} subscriber(s): {:.0} events/s delivered (median of {:?})",
            r[1],
            r.iter().map(|x| x.round()).collect::<Vec<_>>()
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
