//! Reversible deletes beside what users would pick instead, in the same run:
//!
//! - `cascade_delete/<n>`: delete a parent with n = 10, 100, 1,000 children (one durable commit);
//! - `restore/<n>`: bring the same back;
//! - `cascade_delete_eventual/<n>` and `restore_eventual/<n>`: the same with eventual durability
//!   (lazarusdb `Durability::Eventual`, SQLite WAL with `synchronous = NORMAL`);
//! - `live_scan/<p>` and `index_lookup/<p>`: read the live children after p = 0 %, 50 %, 90 % of
//!   them were deleted, reported per live row (throughput = live rows), so a flat cost per live
//!   row means the dead cost nothing.
//!
//! Systems: `lazarusdb` (its default engine, Immediate durability), `sqlite-soft-delete` (an
//! `is_deleted` column with partial indexes `WHERE is_deleted = 0`), `sqlite-shadow` (rows
//! copied to `<table>_deleted` on delete, the seed's recipe). SQLite runs in WAL mode with
//! `synchronous = FULL` (a durable commit, like ours), `NORMAL` beside our eventual durability.
//!
//! Run: `cargo bench --bench deletes`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lazarusdb::{
    ColumnType, Db, Durability, Error, OnDelete, Options, Readable, RestorePolicy, Row, Scan,
    TableBuilder, Value,
};
use rusqlite::{params, Connection};

const SYSTEMS: [&str; 3] = ["lazarusdb", "sqlite-soft-delete", "sqlite-shadow"];

trait System {
    /// Inserts `parents` parents with `kids` children each; returns the parent ids.
    fn fill(&mut self, parents: i64, kids: i64) -> Vec<i64>;
    /// Deletes a parent and its children; returns a handle for restore.
    fn delete(&mut self, parent: i64) -> String;
    /// Restores what `delete` removed.
    fn restore(&mut self, parent: i64, handle: &str);
    /// Deletes one child (for the scan workloads).
    fn delete_child(&mut self, child: i64);
    /// Counts the live children by scanning them.
    fn scan_children(&mut self) -> usize;
    /// Looks up live children by sku.
    fn lookup(&mut self, sku: &str) -> usize;
}

fn sku(i: i64) -> String {
    format!("SKU-{:06}", i % 997)
}

// lazarusdb -------------------------------------------------------------------------------------

struct Lazarus {
    db: Db,
    next_child: i64,
}

impl Lazarus {
    fn open(dir: &Path, durability: Durability) -> Lazarus {
        let db =
            Db::open_with(dir.join("store"), Options::default().durability(durability)).unwrap();
        db.create_table(
            TableBuilder::new("parent")
                .column(("id", ColumnType::Int))
                .column(("name", ColumnType::Text))
                .primary_key("id"),
        )
        .unwrap();
        db.create_table(
            TableBuilder::new("child")
                .column(("id", ColumnType::Int))
                .column(("parent_id", ColumnType::Int))
                .column(("sku", ColumnType::Text))
                .column(("note", ColumnType::Text))
                .primary_key("id")
                .index(["sku"])
                .foreign_key("parent_id", "parent", OnDelete::Cascade),
        )
        .unwrap();
        Lazarus { db, next_child: 1 }
    }
}

impl System for Lazarus {
    fn fill(&mut self, parents: i64, kids: i64) -> Vec<i64> {
        let mut ids = Vec::new();
        let chunk = (1000 / (kids + 1)).max(1);
        let mut done = 0;
        while done < parents {
            let n = chunk.min(parents - done);
            let next = &mut self.next_child;
            let got = self
                .db
                .transaction(|tx| {
                    let mut got = Vec::new();
                    for _ in 0..n {
                        let p = tx.insert("parent", Row::new().with("name", "a parent row"))?;
                        let pid = p.get("id").and_then(|v| v.as_int()).unwrap_or(0);
                        for _ in 0..kids {
                            tx.insert(
                                "child",
                                Row::new()
                                    .with("id", *next)
                                    .with("parent_id", pid)
                                    .with("sku", sku(*next))
                                    .with("note", "a child row of some length"),
                            )?;
                            *next += 1;
                        }
                        got.push(pid);
                    }
                    Ok::<_, Error>(got)
                })
                .unwrap();
            ids.extend(got);
            done += n;
        }
        ids
    }

    fn delete(&mut self, parent: i64) -> String {
        self.db
            .delete("parent", parent)
            .unwrap()
            .deletion
            .to_string()
    }

    fn restore(&mut self, _parent: i64, handle: &str) {
        let id = uuid::Uuid::parse_str(handle).unwrap();
        self.db.restore(id, RestorePolicy::Refuse).unwrap();
    }

    fn delete_child(&mut self, child: i64) {
        self.db.delete("child", child).unwrap();
    }

    fn scan_children(&mut self) -> usize {
        let n = self
            .db
            .scan_each("child", Scan::all(), |row| {
                std::hint::black_box(row);
                true
            })
            .unwrap();
        n as usize
    }

    fn lookup(&mut self, s: &str) -> usize {
        // one row at a time, as SQLite's rows are stepped
        let n = self
            .db
            .lookup_each("child", &["sku"], &[Value::from(s)], |row| {
                std::hint::black_box(row);
                true
            })
            .unwrap();
        n as usize
    }
}

// SQLite ----------------------------------------------------------------------------------------

struct Sqlite {
    conn: Connection,
    shadow: bool,
    next_child: i64,
    next_parent: i64,
}

impl Sqlite {
    fn open(dir: &Path, shadow: bool, durability: Durability) -> Sqlite {
        let conn = Connection::open(dir.join("sqlite.db")).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        let sync = match durability {
            Durability::Eventual => "NORMAL",
            _ => "FULL",
        };
        conn.pragma_update(None, "synchronous", sync).unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        if shadow {
            conn.execute_batch(
                "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
                 CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent(id),
                                     sku TEXT NOT NULL, note TEXT NOT NULL);
                 CREATE INDEX child_parent ON child(parent_id);
                 CREATE INDEX child_sku ON child(sku);
                 CREATE TABLE parent_deleted (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
                 CREATE TABLE child_deleted (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL,
                                     sku TEXT NOT NULL, note TEXT NOT NULL);
                 CREATE INDEX child_deleted_parent ON child_deleted(parent_id);",
            )
            .unwrap();
        } else {
            conn.execute_batch(
                "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT NOT NULL,
                                      is_deleted INTEGER NOT NULL DEFAULT 0);
                 CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent(id),
                                     sku TEXT NOT NULL, note TEXT NOT NULL, is_deleted INTEGER NOT NULL DEFAULT 0);
                 CREATE INDEX child_parent ON child(parent_id) WHERE is_deleted = 0;
                 CREATE INDEX child_sku ON child(sku) WHERE is_deleted = 0;
                 CREATE INDEX child_live ON child(id) WHERE is_deleted = 0;",
            )
            .unwrap();
        }
        Sqlite {
            conn,
            shadow,
            next_child: 1,
            next_parent: 1,
        }
    }
}

impl System for Sqlite {
    fn fill(&mut self, parents: i64, kids: i64) -> Vec<i64> {
        let tx = self.conn.transaction().unwrap();
        let mut ids = Vec::new();
        {
            let mut p = tx
                .prepare("INSERT INTO parent (id, name) VALUES (?1, ?2)")
                .unwrap();
            let mut c = tx
                .prepare("INSERT INTO child (id, parent_id, sku, note) VALUES (?1, ?2, ?3, ?4)")
                .unwrap();
            for _ in 0..parents {
                let pid = self.next_parent;
                self.next_parent += 1;
                p.execute(params![pid, "a parent row"]).unwrap();
                for _ in 0..kids {
                    let cid = self.next_child;
                    self.next_child += 1;
                    c.execute(params![cid, pid, sku(cid), "a child row of some length"])
                        .unwrap();
                }
                ids.push(pid);
            }
        }
        tx.commit().unwrap();
        ids
    }

    fn delete(&mut self, parent: i64) -> String {
        let tx = self.conn.transaction().unwrap();
        if self.shadow {
            tx.execute(
                "INSERT INTO child_deleted SELECT * FROM child WHERE parent_id = ?1",
                [parent],
            )
            .unwrap();
            tx.execute("DELETE FROM child WHERE parent_id = ?1", [parent])
                .unwrap();
            tx.execute(
                "INSERT INTO parent_deleted SELECT * FROM parent WHERE id = ?1",
                [parent],
            )
            .unwrap();
            tx.execute("DELETE FROM parent WHERE id = ?1", [parent])
                .unwrap();
        } else {
            tx.execute(
                "UPDATE child SET is_deleted = 1 WHERE parent_id = ?1 AND is_deleted = 0",
                [parent],
            )
            .unwrap();
            tx.execute("UPDATE parent SET is_deleted = 1 WHERE id = ?1", [parent])
                .unwrap();
        }
        tx.commit().unwrap();
        String::new()
    }

    fn restore(&mut self, parent: i64, _handle: &str) {
        let tx = self.conn.transaction().unwrap();
        if self.shadow {
            tx.execute(
                "INSERT INTO parent SELECT * FROM parent_deleted WHERE id = ?1",
                [parent],
            )
            .unwrap();
            tx.execute("DELETE FROM parent_deleted WHERE id = ?1", [parent])
                .unwrap();
            tx.execute(
                "INSERT INTO child SELECT * FROM child_deleted WHERE parent_id = ?1",
                [parent],
            )
            .unwrap();
            tx.execute("DELETE FROM child_deleted WHERE parent_id = ?1", [parent])
                .unwrap();
        } else {
            tx.execute("UPDATE parent SET is_deleted = 0 WHERE id = ?1", [parent])
                .unwrap();
            tx.execute(
                "UPDATE child SET is_deleted = 0 WHERE parent_id = ?1",
                [parent],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }

    fn delete_child(&mut self, child: i64) {
        if self.shadow {
            let tx = self.conn.transaction().unwrap();
            tx.execute(
                "INSERT INTO child_deleted SELECT * FROM child WHERE id = ?1",
                [child],
            )
            .unwrap();
            tx.execute("DELETE FROM child WHERE id = ?1", [child])
                .unwrap();
            tx.commit().unwrap();
        } else {
            self.conn
                .execute("UPDATE child SET is_deleted = 1 WHERE id = ?1", [child])
                .unwrap();
        }
    }

    fn scan_children(&mut self) -> usize {
        let sql = if self.shadow {
            "SELECT id, parent_id, sku, note FROM child ORDER BY id"
        } else {
            "SELECT id, parent_id, sku, note FROM child WHERE is_deleted = 0 ORDER BY id"
        };
        let mut st = self.conn.prepare_cached(sql).unwrap();
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .unwrap();
        rows.count()
    }

    fn lookup(&mut self, s: &str) -> usize {
        let sql = if self.shadow {
            "SELECT id, parent_id, sku, note FROM child WHERE sku = ?1"
        } else {
            "SELECT id, parent_id, sku, note FROM child WHERE sku = ?1 AND is_deleted = 0"
        };
        let mut st = self.conn.prepare_cached(sql).unwrap();
        let rows = st
            .query_map([s], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(3)?)))
            .unwrap();
        rows.count()
    }
}

fn open(name: &str, dir: &Path) -> Box<dyn System> {
    open_with(name, dir, Durability::Immediate)
}

fn open_with(name: &str, dir: &Path, durability: Durability) -> Box<dyn System> {
    match name {
        "lazarusdb" => Box::new(Lazarus::open(dir, durability)),
        "sqlite-soft-delete" => Box::new(Sqlite::open(dir, false, durability)),
        _ => Box::new(Sqlite::open(dir, true, durability)),
    }
}

fn bench_delete_restore(c: &mut Criterion) {
    for (durability, suffix) in [
        (Durability::Immediate, ""),
        (Durability::Eventual, "_eventual"),
    ] {
        delete_restore(c, durability, suffix);
    }
}

fn delete_restore(c: &mut Criterion, durability: Durability, suffix: &str) {
    for kids in [10i64, 100, 1000] {
        let mut del = c.benchmark_group(format!("cascade_delete{suffix}/{kids}"));
        del.sample_size(10)
            .measurement_time(Duration::from_secs(3))
            .warm_up_time(Duration::from_millis(500));
        del.throughput(Throughput::Elements(kids as u64 + 1));
        let mut restore_times: Vec<(String, Duration, u64)> = Vec::new();
        for name in SYSTEMS {
            let dir = tempfile::tempdir().unwrap();
            let mut sys = open_with(name, dir.path(), durability);
            let mut pool = sys.fill(if kids >= 1000 { 40 } else { 200 }, kids);
            let mut deleted: Vec<(i64, String)> = Vec::new();
            del.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        if pool.is_empty() {
                            // bring everything back (untimed) to keep deleting
                            for (p, h) in deleted.drain(..) {
                                sys.restore(p, &h);
                                pool.push(p);
                            }
                        }
                        let p = pool.pop().unwrap();
                        let t = Instant::now();
                        let h = sys.delete(p);
                        total += t.elapsed();
                        deleted.push((p, h));
                    }
                    total
                })
            });
            // restore of the same deletions, timed once each
            let n = deleted.len() as u64;
            let t = Instant::now();
            for (p, h) in deleted.drain(..) {
                sys.restore(p, &h);
            }
            restore_times.push((name.to_string(), t.elapsed(), n));
        }
        del.finish();
        let mut res = c.benchmark_group(format!("restore{suffix}/{kids}"));
        res.sample_size(10)
            .measurement_time(Duration::from_secs(3))
            .warm_up_time(Duration::from_millis(500));
        res.throughput(Throughput::Elements(kids as u64 + 1));
        for name in SYSTEMS {
            let dir = tempfile::tempdir().unwrap();
            let mut sys = open_with(name, dir.path(), durability);
            let mut pool = sys.fill(if kids >= 1000 { 40 } else { 200 }, kids);
            res.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let p = pool.pop().unwrap_or(1);
                        let h = sys.delete(p);
                        let t = Instant::now();
                        sys.restore(p, &h);
                        total += t.elapsed();
                        pool.insert(0, p);
                    }
                    total
                })
            });
        }
        res.finish();
    }
}

fn bench_reads(c: &mut Criterion) {
    let children: i64 = 20_000;
    for pct in [0i64, 50, 90] {
        let live = children - children * pct / 100;
        let mut scan = c.benchmark_group(format!("live_scan/{pct}"));
        scan.sample_size(10)
            .measurement_time(Duration::from_secs(3))
            .warm_up_time(Duration::from_millis(500));
        scan.throughput(Throughput::Elements(live as u64));
        let mut stores: Vec<(String, Box<dyn System>, tempfile::TempDir)> = Vec::new();
        for name in SYSTEMS {
            let dir = tempfile::tempdir().unwrap();
            let mut sys = open(name, dir.path());
            sys.fill(children / 100, 100);
            // delete pct % of the children, spread over the key range, one deletion each
            let doomed = |id: i64| match pct {
                50 => id % 2 == 0,
                90 => id % 10 != 0,
                _ => false,
            };
            for id in (1..=children).filter(|&id| doomed(id)) {
                sys.delete_child(id);
            }
            stores.push((name.to_string(), sys, dir));
        }
        for (name, sys, _) in stores.iter_mut() {
            assert_eq!(sys.scan_children() as i64, live, "{name}");
            scan.bench_function(BenchmarkId::from_parameter(name.as_str()), |b| {
                b.iter(|| sys.scan_children())
            });
        }
        scan.finish();
        let mut look = c.benchmark_group(format!("index_lookup/{pct}"));
        look.sample_size(10)
            .measurement_time(Duration::from_secs(2))
            .warm_up_time(Duration::from_millis(300));
        let per = stores[0].1.lookup(&sku(5)).max(1) as u64;
        look.throughput(Throughput::Elements(per));
        for (name, sys, _) in stores.iter_mut() {
            look.bench_function(BenchmarkId::from_parameter(name.as_str()), |b| {
                b.iter(|| sys.lookup(&sku(5)))
            });
        }
        look.finish();
    }
}

criterion_group!(benches, bench_delete_restore, bench_reads);
criterion_main!(benches);
