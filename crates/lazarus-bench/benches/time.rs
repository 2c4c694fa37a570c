//! Point in time, in one run:
//!
//! - `get/<v>`: an as-of get beside a live get of the same rows, with v = 1, 10, 100 versions per
//!   row (goal: as-of within 2x of live, flat across version counts);
//! - `restore_table_to`: restoring a table of 10,000 rows to the point before a batch job
//!   changed every row (one transaction of compensating events);
//! - `diff`: the diff of a table of 10,000 rows across such a batch job;
//! - beside them, `sqlite-shadow-history`: the same point lookup on SQLite keeping every old
//!   version in a history table with an index on (id, version) — what a user would hand-roll.
//!
//! Run: `cargo bench --bench time`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lazarusdb::{ColumnType, Db, EngineKind, Error, Options, Readable, Row, TableBuilder};
use rusqlite::{params, Connection};

const ROWS: i64 = 2_000;

fn store(dir: &std::path::Path, versions: i64) -> (Db, u64) {
    let db = Db::open_with(
        dir.join("store"),
        Options::default()
            .engine(EngineKind::Fjall)
            .durability(lazarusdb::Durability::Eventual),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("item")
            .column(("id", ColumnType::Int))
            .column(("v", ColumnType::Int))
            .column(("note", ColumnType::Text))
            .primary_key("id"),
    )
    .unwrap();
    db.transaction(|tx| {
        for _ in 0..ROWS {
            tx.insert(
                "item",
                Row::new().with("v", 0).with("note", "a row of some length"),
            )?;
        }
        Ok::<_, Error>(())
    })
    .unwrap();
    let middle = db.last_lsn();
    for v in 1..versions {
        db.transaction(|tx| {
            for id in 1..=ROWS {
                tx.update("item", id, Row::new().with("v", v))?;
            }
            Ok::<_, Error>(())
        })
        .unwrap();
    }
    (db, middle)
}

fn sqlite_history(dir: &std::path::Path, versions: i64) -> Connection {
    let conn = Connection::open(dir.join("h.db")).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.execute_batch(
        "CREATE TABLE item_history (id INTEGER NOT NULL, version INTEGER NOT NULL, v INTEGER,
                                    note TEXT, PRIMARY KEY (id, version));",
    )
    .unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    {
        let mut st = tx
            .prepare("INSERT INTO item_history (id, version, v, note) VALUES (?1, ?2, ?3, ?4)")
            .unwrap();
        for v in 0..versions {
            for id in 1..=ROWS {
                st.execute(params![id, v, v, "a row of some length"])
                    .unwrap();
            }
        }
    }
    tx.commit().unwrap();
    conn
}

fn bench_get(c: &mut Criterion) {
    for versions in [1i64, 10, 100] {
        let mut g = c.benchmark_group(format!("get/{versions}"));
        g.sample_size(10)
            .measurement_time(Duration::from_secs(3))
            .warm_up_time(Duration::from_millis(500));
        g.throughput(Throughput::Elements(1));
        let dir = tempfile::tempdir().unwrap();
        let (db, first) = store(dir.path(), versions);
        let point = db.last_lsn();
        let mut id = 0i64;
        g.bench_function(BenchmarkId::from_parameter("lazarusdb-live"), |b| {
            b.iter(|| {
                id = id % ROWS + 1;
                db.get("item", id).unwrap().unwrap()
            })
        });
        let past = db.as_of(point).unwrap();
        g.bench_function(BenchmarkId::from_parameter("lazarusdb-as-of"), |b| {
            b.iter(|| {
                id = id % ROWS + 1;
                past.get("item", id).unwrap().unwrap()
            })
        });
        // As of the first version: with more than one version, a row that changed since
        // (a version-index seek, a read of the live row and a log read).
        let oldest = db.as_of(first).unwrap();
        g.bench_function(BenchmarkId::from_parameter("lazarusdb-as-of-first"), |b| {
            b.iter(|| {
                id = id % ROWS + 1;
                oldest.get("item", id).unwrap().unwrap()
            })
        });
        let conn = sqlite_history(dir.path(), versions);
        let mut st = conn
            .prepare("SELECT v, note FROM item_history WHERE id = ?1 AND version <= ?2 ORDER BY version DESC LIMIT 1")
            .unwrap();
        g.bench_function(BenchmarkId::from_parameter("sqlite-shadow-history"), |b| {
            b.iter(|| {
                id = id % ROWS + 1;
                st.query_row(params![id, versions - 1], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })
                .unwrap()
            })
        });
        g.finish();
    }
}

fn bench_restore_and_diff(c: &mut Criterion) {
    let rows: i64 = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_with(
        dir.path().join("store"),
        Options::default().engine(EngineKind::Fjall),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("price")
            .column(("id", ColumnType::Int))
            .column(("cents", ColumnType::Int))
            .primary_key("id"),
    )
    .unwrap();
    db.transaction(|tx| {
        for i in 0..rows {
            tx.insert("price", Row::new().with("cents", i))?;
        }
        Ok::<_, Error>(())
    })
    .unwrap();
    let bad_job = |db: &Db| {
        db.transaction(|tx| {
            for id in 1..=rows {
                tx.update("price", id, Row::new().with("cents", 0))?;
            }
            Ok::<_, Error>(())
        })
        .unwrap()
    };
    let mut g = c.benchmark_group("restore_table_to");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_millis(500));
    g.throughput(Throughput::Elements(rows as u64));
    g.bench_function(BenchmarkId::from_parameter("lazarusdb"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let before = db.last_lsn();
                bad_job(&db);
                let t = Instant::now();
                let plan = db.restore_table_to("price", before).unwrap();
                total += t.elapsed();
                // the row that already held 0 did not change
                assert_eq!(plan.reverted.len() as i64, rows - 1);
            }
            total
        })
    });
    g.finish();
    let mut g = c.benchmark_group("diff");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    g.throughput(Throughput::Elements(rows as u64));
    let before = db.last_lsn();
    bad_job(&db);
    let after = db.last_lsn();
    g.bench_function(BenchmarkId::from_parameter("lazarusdb"), |b| {
        b.iter(|| {
            let d = db.diff(before, after, Some("price")).unwrap();
            assert_eq!(d.len() as i64, rows - 1); // the row that already held 0 did not change
            d
        })
    });
    g.finish();
}

criterion_group!(benches, bench_get, bench_restore_and_diff);
criterion_main!(benches);
