//! The read goals as criterion benches, on the harness's stores (see `lazarus bench`):
//!
//! - `point_get/<rows>`: `get` and `get_as` beside SQLite's untyped and typed reads (goal 2),
//!   on 10k and 100k children;
//! - `live_scan/<rows>/<p>%` and `child_lookup/<rows>/<p>%`: the live children after p = 0, 50,
//!   90 % of them were deleted one by one (no compaction), per live row, beside SQLite with
//!   `is_deleted` and partial indexes (goal 1);
//! - `open/<rows>`: opening the store after a clean close (goal 6);
//! - `as_of/<v>`: a live get, an as-of get with its view opened, one on a view opened once, and
//!   an as-of scan and child lookup, on 2,000 children with v = 1, 10, 100 versions each, as of
//!   the middle of the history (goal 3);
//! - `update/<rows>`: 1,000 neighbouring children's notes updated in one transaction, eventual
//!   durability (SQLite `synchronous = NORMAL`), per row, beside SQLite with `is_deleted`, on
//!   10k children (each iteration writes a new version of every row it updates).
//!
//! Run: `cargo bench -p lazarus-bench --bench views` (a few minutes); `-- point_get` and the like
//! pick groups, though every store is still built. Stores go under `LAZARUS_BENCH_DIR` (default
//! the workspace's `target/`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use lazarus_bench::systems::{scan_children, Durable, Lazarus, Sqlite, Target};
use lazarus_bench::workloads::{build_families, delete_where, doomed_at, live_at, pick, FANOUT};
use lazarusdb::{Db, EngineKind, Readable};

fn tempdir() -> tempfile::TempDir {
    lazarus_bench::bench_tempdir().unwrap()
}

fn short(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.sample_size(10)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(300));
}

fn label(rows: u64) -> String {
    lazarus_bench::workloads::count_label(rows)
}

/// Goals 1, 2 and 6 on stores of 10k and 100k children (100 per parent).
fn bench_live(c: &mut Criterion) {
    for rows in [10_000u64, 100_000] {
        let (ld, sd) = (tempdir(), tempdir());
        let mut lz = Lazarus::open(ld.path(), EngineKind::default(), Durable::Eventual).unwrap();
        let mut sq = Sqlite::open(sd.path(), false, Durable::Eventual).unwrap();
        build_families(&mut lz, rows).unwrap();
        build_families(&mut sq, rows).unwrap();

        let mut g = c.benchmark_group(format!("point_get/{}", label(rows)));
        short(&mut g);
        g.throughput(Throughput::Elements(1));
        let mut i = 0u64;
        let mut next = move || {
            i += 1;
            pick(i, rows)
        };
        g.bench_function("lazarusdb-get", |b| {
            b.iter(|| assert!(lz.get(next()).unwrap()))
        });
        g.bench_function("lazarusdb-get_as", |b| {
            b.iter(|| assert_eq!(lz.get_typed(next()).unwrap(), Some(true)))
        });
        g.bench_function("sqlite-get", |b| {
            b.iter(|| assert!(sq.get(next()).unwrap()))
        });
        g.bench_function("sqlite-get-typed", |b| {
            b.iter(|| assert_eq!(sq.get_typed(next()).unwrap(), Some(true)))
        });
        g.finish();

        for pct in [0u64, 50, 90] {
            delete_where(&mut lz, rows, doomed_at(pct)).unwrap();
            delete_where(&mut sq, rows, doomed_at(pct)).unwrap();
            let live = live_at(rows, pct);
            let parents = rows / FANOUT as u64;
            let mut g = c.benchmark_group("live_scan");
            short(&mut g);
            g.throughput(Throughput::Elements(live));
            let at = format!("{}/{pct}%", label(rows));
            g.bench_function(BenchmarkId::new("lazarusdb", &at), |b| {
                b.iter(|| assert_eq!(lz.scan().unwrap() as u64, live))
            });
            g.bench_function(BenchmarkId::new("sqlite-soft-delete", &at), |b| {
                b.iter(|| assert_eq!(sq.scan().unwrap() as u64, live))
            });
            g.finish();
            // 20 parents per iteration: the throughput is their live children
            let per_parent = live / parents;
            let mut g = c.benchmark_group("child_lookup");
            short(&mut g);
            g.throughput(Throughput::Elements(20 * per_parent));
            let mut i = 0u64;
            g.bench_function(BenchmarkId::new("lazarusdb", &at), |b| {
                b.iter(|| {
                    for _ in 0..20 {
                        i += 1;
                        lz.children(pick(i, parents)).unwrap();
                    }
                })
            });
            g.bench_function(BenchmarkId::new("sqlite-soft-delete", &at), |b| {
                b.iter(|| {
                    for _ in 0..20 {
                        i += 1;
                        sq.children(pick(i, parents)).unwrap();
                    }
                })
            });
            g.finish();
        }

        // the open of the same store, closed cleanly
        Box::new(lz).close().unwrap();
        let store = lazarus_bench::systems::lazarus_path(ld.path());
        let mut g = c.benchmark_group("open");
        short(&mut g);
        g.bench_function(BenchmarkId::new("lazarusdb", label(rows)), |b| {
            b.iter(|| Db::open(&store).unwrap().close().unwrap())
        });
        g.finish();
    }
}

/// Goal 3: as-of reads on 2,000 children with 1, 10 and 100 versions each.
fn bench_as_of(c: &mut Criterion) {
    let rows = 2_000u64;
    let parents = rows / FANOUT as u64;
    for versions in [1u64, 10, 100] {
        let dir = tempdir();
        let mut lz = Lazarus::open(dir.path(), EngineKind::default(), Durable::Eventual).unwrap();
        build_families(&mut lz, rows).unwrap();
        let middle = (versions - 1) / 2;
        let mut at = lz.db.last_lsn();
        let ids: Vec<i64> = (1..=rows as i64).collect();
        for pass in 1..versions {
            for chunk in ids.chunks(1_000) {
                lz.update_children(chunk, pass).unwrap();
            }
            if pass == middle {
                at = lz.db.last_lsn();
            }
        }
        let db = &lz.db;
        let mut g = c.benchmark_group(format!("as_of/{versions}"));
        short(&mut g);
        g.throughput(Throughput::Elements(1));
        let mut i = 0u64;
        let mut next = move || {
            i += 1;
            pick(i, rows)
        };
        g.bench_function("live-get", |b| {
            b.iter(|| db.get("child", next()).unwrap().unwrap())
        });
        g.bench_function("as-of-get-view-opened", |b| {
            b.iter(|| db.as_of(at).unwrap().get("child", next()).unwrap().unwrap())
        });
        let view = db.as_of(at).unwrap();
        g.bench_function("as-of-get-one-view", |b| {
            b.iter(|| view.get("child", next()).unwrap().unwrap())
        });
        g.throughput(Throughput::Elements(rows));
        g.bench_function("live-scan", |b| {
            b.iter(|| assert_eq!(scan_children(db).unwrap() as u64, rows))
        });
        g.bench_function("as-of-scan", |b| {
            b.iter(|| assert_eq!(scan_children(&db.as_of(at).unwrap()).unwrap() as u64, rows))
        });
        g.throughput(Throughput::Elements(rows / parents));
        let mut p = 0u64;
        g.bench_function("live-child-lookup", |b| {
            b.iter(|| {
                p += 1;
                db.children("parent", pick(p, parents), "child").unwrap()
            })
        });
        g.bench_function("as-of-child-lookup", |b| {
            b.iter(|| {
                p += 1;
                db.as_of(at)
                    .unwrap()
                    .children("parent", pick(p, parents), "child")
                    .unwrap()
            })
        });
        g.finish();
        drop(view);
        lz.db.close().unwrap();
    }
}

/// Updates of 1,000 neighbouring rows in one transaction: every row gets a new image and a
/// version index entry (lazarusdb) or is rewritten in place (SQLite).
fn bench_updates(c: &mut Criterion) {
    let rows = 10_000u64;
    let (ld, sd) = (tempdir(), tempdir());
    let mut lz = Lazarus::open(ld.path(), EngineKind::default(), Durable::Eventual).unwrap();
    let mut sq = Sqlite::open(sd.path(), false, Durable::Eventual).unwrap();
    build_families(&mut lz, rows).unwrap();
    build_families(&mut sq, rows).unwrap();
    let ids: Vec<i64> = (1..=rows as i64).collect();
    let chunks: Vec<&[i64]> = ids.chunks(1_000).collect();
    let mut g = c.benchmark_group(format!("update/{}", label(rows)));
    short(&mut g);
    g.throughput(Throughput::Elements(1_000));
    let mut pass = 0u64;
    g.bench_function("lazarusdb", |b| {
        b.iter(|| {
            pass += 1;
            let chunk = chunks[(pass % chunks.len() as u64) as usize];
            lz.update_children(chunk, pass).unwrap()
        })
    });
    g.bench_function("sqlite-soft-delete", |b| {
        b.iter(|| {
            pass += 1;
            let chunk = chunks[(pass % chunks.len() as u64) as usize];
            sq.update_children(chunk, pass).unwrap()
        })
    });
    g.finish();
    lz.db.close().unwrap();
}

criterion_group!(benches, bench_live, bench_as_of, bench_updates);
criterion_main!(benches);
