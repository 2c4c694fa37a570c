//! The comparison harness behind `lazarus bench`: the same workloads, in one run, on lazarusdb
//! (fjall and sled) and on what users would pick instead — SQLite with an `is_deleted` flag and
//! partial indexes, SQLite with `_deleted` shadow tables copied on delete, and raw sled and raw
//! fjall doing the equivalent key writes (hard deletes: nothing to restore).
//!
//! Each measurement is the median of a few repetitions, each on a fresh store. Units say which
//! way is better: `rows/s` and `commits/s` (higher), `ns/row` and `ns/op` (lower). Workloads a
//! system cannot do (a restore on a raw engine, an as-of read anywhere but lazarusdb) are left
//! out rather than faked.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};
use serde::Serialize;

use lazarusdb::{
    ColumnType, Db, EngineKind, Error, IndexRange, OnDelete, Options, Readable, RestorePolicy,
    Result, Row, Scan, TableBuilder,
};

/// An I/O error with its path, as the store reports them.
fn io_error(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Error {
    Error::Io {
        path: path.into(),
        source,
    }
}

/// The systems measured, in report order.
pub const SYSTEMS: [&str; 6] = [
    "lazarusdb",
    "lazarusdb-sled",
    "sqlite-soft-delete",
    "sqlite-shadow",
    "sled-raw",
    "fjall-raw",
];

/// One result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    /// The workload (`ingest`, `cascade_delete`, ...).
    pub workload: String,
    /// The system (one of [`SYSTEMS`]).
    pub system: String,
    /// The median.
    pub value: f64,
    /// The unit; `rows/s` and `commits/s` are better higher, `ns/...` lower.
    pub unit: String,
}

impl Measurement {
    /// True when a higher value is better.
    pub fn higher_is_better(&self) -> bool {
        self.unit.ends_with("/s")
    }
}

/// Sizes of a run.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Transactions of 1,000 rows (100 parents, 900 children) ingested.
    pub ingest_txs: usize,
    /// Parents (10 children each) deleted and restored.
    pub deletes: usize,
    /// Children in the scan workloads.
    pub scan_rows: i64,
    /// Durable single-row commits.
    pub commits: usize,
    /// Point reads.
    pub gets: usize,
    /// Repetitions (the median is reported).
    pub reps: usize,
}

impl Sizes {
    /// A run that finishes in well under a minute on 2 cores.
    pub fn quick() -> Sizes {
        Sizes {
            ingest_txs: 5,
            deletes: 20,
            scan_rows: 2_000,
            commits: 100,
            gets: 2_000,
            reps: 1,
        }
    }

    /// The full run.
    pub fn full() -> Sizes {
        Sizes {
            ingest_txs: 30,
            deletes: 100,
            scan_rows: 10_000,
            commits: 500,
            gets: 20_000,
            reps: 3,
        }
    }
}

/// What every system offers; `None` means the workload does not apply to it.
trait Target {
    fn ingest(&mut self, parents: &[i64], children: &[(i64, i64)]) -> Result<()>;
    fn delete_parent(&mut self, id: i64) -> Result<Option<String>>;
    fn restore(&mut self, id: i64, handle: &str) -> Result<bool>;
    fn delete_child(&mut self, id: i64) -> Result<()>;
    fn scan_children(&mut self) -> Result<usize>;
    fn lookup(&mut self, sku: &str) -> Result<usize>;
    fn commit_one(&mut self, id: i64) -> Result<()>;
    fn get(&mut self, id: i64) -> Result<bool>;
    fn as_of_get(&mut self, _id: i64) -> Result<Option<bool>> {
        Ok(None)
    }
}

fn sku(i: i64) -> String {
    format!("SKU-{:06}", i % 97)
}

const NOTE: &str = "a child row of some moderate length, like a comment";

fn err(e: impl std::fmt::Display) -> Error {
    Error::Storage(e.to_string())
}

// lazarusdb ----------------------------------------------------------------------------------

struct Lazarus {
    db: Db,
    mark: u64,
}

impl Lazarus {
    fn open(dir: &Path, engine: EngineKind) -> Result<Lazarus> {
        let db = Db::open_with(dir.join("store"), Options::default().engine(engine))?;
        db.create_table(
            TableBuilder::new("parent")
                .column(("id", ColumnType::Int))
                .column(("name", ColumnType::Text))
                .primary_key("id"),
        )?;
        db.create_table(
            TableBuilder::new("child")
                .column(("id", ColumnType::Int))
                .column(("parent_id", ColumnType::Int))
                .column(("sku", ColumnType::Text))
                .column(("note", ColumnType::Text))
                .primary_key("id")
                .index(["sku"])
                .foreign_key("parent_id", "parent", OnDelete::Cascade),
        )?;
        Ok(Lazarus { db, mark: 0 })
    }
}

impl Target for Lazarus {
    fn ingest(&mut self, parents: &[i64], children: &[(i64, i64)]) -> Result<()> {
        self.db.transaction(|tx| {
            for p in parents {
                tx.insert(
                    "parent",
                    Row::new().with("id", *p).with("name", "a parent row"),
                )?;
            }
            for (c, p) in children {
                tx.insert(
                    "child",
                    Row::new()
                        .with("id", *c)
                        .with("parent_id", *p)
                        .with("sku", sku(*c))
                        .with("note", NOTE),
                )?;
            }
            Ok::<_, Error>(())
        })?;
        self.mark = self.db.last_lsn();
        Ok(())
    }
    fn delete_parent(&mut self, id: i64) -> Result<Option<String>> {
        Ok(Some(self.db.delete("parent", id)?.deletion.to_string()))
    }
    fn restore(&mut self, _id: i64, handle: &str) -> Result<bool> {
        let d = uuid::Uuid::parse_str(handle).map_err(err)?;
        self.db.restore(d, RestorePolicy::Refuse)?;
        Ok(true)
    }
    fn delete_child(&mut self, id: i64) -> Result<()> {
        self.db.delete("child", id).map(|_| ())
    }
    fn scan_children(&mut self) -> Result<usize> {
        Ok(self.db.scan("child", Scan::all())?.len())
    }
    fn lookup(&mut self, s: &str) -> Result<usize> {
        Ok(self
            .db
            .lookup_range(
                "child",
                &["sku"],
                IndexRange::range(s.to_string()..=s.to_string()),
            )?
            .len())
    }
    fn commit_one(&mut self, id: i64) -> Result<()> {
        self.db
            .insert(
                "parent",
                Row::new().with("id", id).with("name", "a durable row"),
            )
            .map(|_| ())
    }
    fn get(&mut self, id: i64) -> Result<bool> {
        Ok(self.db.get("child", id)?.is_some())
    }
    fn as_of_get(&mut self, id: i64) -> Result<Option<bool>> {
        Ok(Some(self.db.as_of(self.mark)?.get("child", id)?.is_some()))
    }
}

// SQLite ------------------------------------------------------------------------------------

struct Sqlite {
    conn: Connection,
    shadow: bool,
}

impl Sqlite {
    fn open(dir: &Path, shadow: bool) -> Result<Sqlite> {
        let conn = Connection::open(dir.join("sqlite.db")).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        let flag = if shadow {
            ""
        } else {
            ", is_deleted INTEGER NOT NULL DEFAULT 0"
        };
        let live = if shadow { "" } else { " WHERE is_deleted = 0" };
        let mut sql = format!(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT NOT NULL{flag});
             CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent(id),
                                 sku TEXT NOT NULL, note TEXT NOT NULL{flag});
             CREATE INDEX child_parent ON child(parent_id){live};
             CREATE INDEX child_sku ON child(sku){live};"
        );
        if shadow {
            sql.push_str(
                "CREATE TABLE parent_deleted (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
                 CREATE TABLE child_deleted (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL,
                                             sku TEXT NOT NULL, note TEXT NOT NULL);
                 CREATE INDEX child_deleted_parent ON child_deleted(parent_id);",
            );
        }
        conn.execute_batch(&sql).map_err(err)?;
        Ok(Sqlite { conn, shadow })
    }
}

impl Target for Sqlite {
    fn ingest(&mut self, parents: &[i64], children: &[(i64, i64)]) -> Result<()> {
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut p = tx
                .prepare_cached("INSERT INTO parent (id, name) VALUES (?1, ?2)")
                .map_err(err)?;
            for id in parents {
                p.execute(params![id, "a parent row"]).map_err(err)?;
            }
            let mut c = tx
                .prepare_cached(
                    "INSERT INTO child (id, parent_id, sku, note) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(err)?;
            for (id, p) in children {
                c.execute(params![id, p, sku(*id), NOTE]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }
    fn delete_parent(&mut self, id: i64) -> Result<Option<String>> {
        let tx = self.conn.transaction().map_err(err)?;
        let stmts: &[&str] = if self.shadow {
            &[
                "INSERT INTO child_deleted SELECT * FROM child WHERE parent_id = ?1",
                "DELETE FROM child WHERE parent_id = ?1",
                "INSERT INTO parent_deleted SELECT * FROM parent WHERE id = ?1",
                "DELETE FROM parent WHERE id = ?1",
            ]
        } else {
            &[
                "UPDATE child SET is_deleted = 1 WHERE parent_id = ?1 AND is_deleted = 0",
                "UPDATE parent SET is_deleted = 1 WHERE id = ?1",
            ]
        };
        for s in stmts {
            tx.execute(s, [id]).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(Some(String::new()))
    }
    fn restore(&mut self, id: i64, _handle: &str) -> Result<bool> {
        let tx = self.conn.transaction().map_err(err)?;
        let stmts: &[&str] = if self.shadow {
            &[
                "INSERT INTO parent SELECT * FROM parent_deleted WHERE id = ?1",
                "DELETE FROM parent_deleted WHERE id = ?1",
                "INSERT INTO child SELECT * FROM child_deleted WHERE parent_id = ?1",
                "DELETE FROM child_deleted WHERE parent_id = ?1",
            ]
        } else {
            &[
                "UPDATE parent SET is_deleted = 0 WHERE id = ?1",
                "UPDATE child SET is_deleted = 0 WHERE parent_id = ?1",
            ]
        };
        for s in stmts {
            tx.execute(s, [id]).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(true)
    }
    fn delete_child(&mut self, id: i64) -> Result<()> {
        let tx = self.conn.transaction().map_err(err)?;
        if self.shadow {
            tx.execute(
                "INSERT INTO child_deleted SELECT * FROM child WHERE id = ?1",
                [id],
            )
            .map_err(err)?;
            tx.execute("DELETE FROM child WHERE id = ?1", [id])
                .map_err(err)?;
        } else {
            tx.execute("UPDATE child SET is_deleted = 1 WHERE id = ?1", [id])
                .map_err(err)?;
        }
        tx.commit().map_err(err)
    }
    fn scan_children(&mut self) -> Result<usize> {
        let sql = if self.shadow {
            "SELECT id, parent_id, sku, note FROM child ORDER BY id"
        } else {
            "SELECT id, parent_id, sku, note FROM child WHERE is_deleted = 0 ORDER BY id"
        };
        let mut st = self.conn.prepare_cached(sql).map_err(err)?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(3)?)))
            .map_err(err)?;
        Ok(rows.count())
    }
    fn lookup(&mut self, s: &str) -> Result<usize> {
        let sql = if self.shadow {
            "SELECT id, note FROM child WHERE sku = ?1"
        } else {
            "SELECT id, note FROM child WHERE sku = ?1 AND is_deleted = 0"
        };
        let mut st = self.conn.prepare_cached(sql).map_err(err)?;
        let rows = st
            .query_map([s], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .map_err(err)?;
        Ok(rows.count())
    }
    fn commit_one(&mut self, id: i64) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO parent (id, name) VALUES (?1, ?2)",
                params![id, "a durable row"],
            )
            .map(|_| ())
            .map_err(err)
    }
    fn get(&mut self, id: i64) -> Result<bool> {
        let sql = if self.shadow {
            "SELECT note FROM child WHERE id = ?1"
        } else {
            "SELECT note FROM child WHERE id = ?1 AND is_deleted = 0"
        };
        let mut st = self.conn.prepare_cached(sql).map_err(err)?;
        let mut rows = st.query([id]).map_err(err)?;
        Ok(rows.next().map_err(err)?.is_some())
    }
}

// Raw engines: one key per row, one per index entry, hard deletes ---------------------------

trait Kv {
    fn write(&self, puts: Vec<(Vec<u8>, Vec<u8>)>, deletes: Vec<Vec<u8>>) -> Result<()>;
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    fn prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>>;
}

struct FjallKv {
    db: fjall::Database,
    ks: fjall::Keyspace,
}

impl Kv for FjallKv {
    fn write(&self, puts: Vec<(Vec<u8>, Vec<u8>)>, deletes: Vec<Vec<u8>>) -> Result<()> {
        let mut b = self.db.batch();
        for (k, v) in puts {
            b.insert(&self.ks, k, v);
        }
        for k in deletes {
            b.remove(&self.ks, k);
        }
        b.commit().map_err(err)?;
        self.db.persist(fjall::PersistMode::SyncData).map_err(err)
    }
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.ks.get(key).map_err(err)?.map(|v| v.to_vec()))
    }
    fn prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
        self.ks
            .prefix(prefix)
            .map(|g| g.key().map(|k| k.to_vec()).map_err(err))
            .collect()
    }
}

struct SledKv {
    db: sled::Db,
    path: std::path::PathBuf,
}

impl Kv for SledKv {
    fn write(&self, puts: Vec<(Vec<u8>, Vec<u8>)>, deletes: Vec<Vec<u8>>) -> Result<()> {
        let mut b = sled::Batch::default();
        for (k, v) in puts {
            b.insert(k, v);
        }
        for k in deletes {
            b.remove(k);
        }
        self.db.apply_batch(b).map_err(err)?;
        self.db.flush().map_err(err)?;
        std::fs::File::open(self.path.join("db"))
            .and_then(|f| f.sync_data())
            .map_err(|e| io_error(&self.path, e))
    }
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get(key).map_err(err)?.map(|v| v.to_vec()))
    }
    fn prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
        self.db
            .scan_prefix(prefix)
            .map(|r| r.map(|(k, _)| k.to_vec()).map_err(err))
            .collect()
    }
}

struct Raw(Box<dyn Kv>);

fn row_key(table: u8, id: i64) -> Vec<u8> {
    let mut k = vec![b'r', table];
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn idx_key(name: u8, val: &[u8], id: i64) -> Vec<u8> {
    let mut k = vec![b'i', name];
    k.extend_from_slice(val);
    k.push(0);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

impl Target for Raw {
    fn ingest(&mut self, parents: &[i64], children: &[(i64, i64)]) -> Result<()> {
        let mut puts = Vec::with_capacity(parents.len() + children.len() * 3);
        for p in parents {
            puts.push((row_key(b'p', *p), b"a parent row".to_vec()));
        }
        for (c, p) in children {
            let body = format!("{p}|{}|{NOTE}", sku(*c));
            puts.push((row_key(b'c', *c), body.into_bytes()));
            puts.push((idx_key(b's', sku(*c).as_bytes(), *c), Vec::new()));
            puts.push((idx_key(b'f', &p.to_be_bytes(), *c), Vec::new()));
        }
        self.0.write(puts, Vec::new())
    }
    fn delete_parent(&mut self, id: i64) -> Result<Option<String>> {
        let mut prefix = vec![b'i', b'f'];
        prefix.extend_from_slice(&id.to_be_bytes());
        prefix.push(0);
        let mut deletes = vec![row_key(b'p', id)];
        for k in self.0.prefix(&prefix)? {
            let c = k
                .get(k.len().saturating_sub(8)..)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(i64::from_be_bytes)
                .unwrap_or_default();
            deletes.push(row_key(b'c', c));
            deletes.push(idx_key(b's', sku(c).as_bytes(), c));
            deletes.push(k);
        }
        self.0.write(Vec::new(), deletes)?;
        Ok(None)
    }
    fn restore(&mut self, _id: i64, _handle: &str) -> Result<bool> {
        Ok(false)
    }
    fn delete_child(&mut self, id: i64) -> Result<()> {
        self.0.write(
            Vec::new(),
            vec![row_key(b'c', id), idx_key(b's', sku(id).as_bytes(), id)],
        )
    }
    fn scan_children(&mut self) -> Result<usize> {
        Ok(self.0.prefix(b"rc")?.len())
    }
    fn lookup(&mut self, s: &str) -> Result<usize> {
        let mut prefix = vec![b'i', b's'];
        prefix.extend_from_slice(s.as_bytes());
        prefix.push(0);
        Ok(self.0.prefix(&prefix)?.len())
    }
    fn commit_one(&mut self, id: i64) -> Result<()> {
        self.0.write(
            vec![(row_key(b'p', id), b"a durable row".to_vec())],
            Vec::new(),
        )
    }
    fn get(&mut self, id: i64) -> Result<bool> {
        Ok(self.0.get(&row_key(b'c', id))?.is_some())
    }
}

fn open(system: &str, dir: &Path) -> Result<Box<dyn Target>> {
    Ok(match system {
        "lazarusdb" => Box::new(Lazarus::open(dir, EngineKind::Fjall)?),
        "lazarusdb-sled" => Box::new(Lazarus::open(dir, EngineKind::Sled)?),
        "sqlite-soft-delete" => Box::new(Sqlite::open(dir, false)?),
        "sqlite-shadow" => Box::new(Sqlite::open(dir, true)?),
        "fjall-raw" => {
            let db = fjall::Database::builder(dir.join("fjall"))
                .open()
                .map_err(err)?;
            let ks = db
                .keyspace("data", fjall::KeyspaceCreateOptions::default)
                .map_err(err)?;
            Box::new(Raw(Box::new(FjallKv { db, ks })))
        }
        _ => {
            let path = dir.join("sled");
            let db = sled::Config::new()
                .path(&path)
                .cache_capacity(64 << 20)
                .open()
                .map_err(err)?;
            Box::new(Raw(Box::new(SledKv { db, path })))
        }
    })
}

/// Fills a store with `txs` transactions of 100 parents and 900 children; returns the time.
fn fill(t: &mut dyn Target, first_tx: usize, txs: usize) -> Result<Duration> {
    let start = Instant::now();
    for tx in first_tx..first_tx + txs {
        let base = (tx as i64) * 100;
        let parents: Vec<i64> = (base + 1..=base + 100).collect();
        let children: Vec<(i64, i64)> = (0..900i64)
            .map(|i| ((tx as i64) * 900 + i + 1, base + 1 + i % 100))
            .collect();
        t.ingest(&parents, &children)?;
    }
    Ok(start.elapsed())
}

fn per(d: Duration, n: usize) -> f64 {
    d.as_nanos() as f64 / n.max(1) as f64
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

/// Runs one repetition of every workload on one system; results by workload name.
fn run_system(system: &str, s: Sizes) -> Result<Vec<(String, f64, &'static str)>> {
    let mut out: Vec<(String, f64, &'static str)> = Vec::new();
    let dir = tempfile::tempdir().map_err(|e| io_error(std::env::temp_dir(), e))?;
    let mut t = open(system, dir.path())?;
    let took = fill(t.as_mut(), 0, s.ingest_txs)?;
    out.push(("ingest".into(), rate(s.ingest_txs * 1000, took), "rows/s"));

    // point reads, live and as of the last ingest
    let rows = (s.ingest_txs * 900) as i64;
    let start = Instant::now();
    for i in 0..s.gets {
        t.get(1 + (i as i64 * 7919) % rows)?;
    }
    out.push(("point_get".into(), per(start.elapsed(), s.gets), "ns/op"));
    let start = Instant::now();
    let mut supported = true;
    for i in 0..s.gets {
        if t.as_of_get(1 + (i as i64 * 7919) % rows)?.is_none() {
            supported = false;
            break;
        }
    }
    if supported {
        out.push(("as_of_get".into(), per(start.elapsed(), s.gets), "ns/op"));
    }

    // cascade delete of parents with their 9 children each, then the restore of the same
    let mut handles = Vec::new();
    let start = Instant::now();
    for p in 1..=s.deletes as i64 {
        handles.push((p, t.delete_parent(p)?));
    }
    out.push((
        "cascade_delete".into(),
        per(start.elapsed(), s.deletes * 10),
        "ns/row",
    ));
    let start = Instant::now();
    let mut restored = true;
    for (p, h) in &handles {
        if !t.restore(*p, h.as_deref().unwrap_or_default())? {
            restored = false;
            break;
        }
    }
    if restored {
        out.push((
            "restore".into(),
            per(start.elapsed(), s.deletes * 10),
            "ns/row",
        ));
    }

    // durable single-row commits
    let start = Instant::now();
    for i in 0..s.commits {
        t.commit_one(10_000_000 + i as i64)?;
    }
    out.push((
        "durable_commit".into(),
        rate(s.commits, start.elapsed()),
        "commits/s",
    ));
    drop(t);

    // live scans and index lookups after 0 %, 50 %, 90 % deletions, per live row
    for pct in [0i64, 50, 90] {
        let dir = tempfile::tempdir().map_err(|e| io_error(std::env::temp_dir(), e))?;
        let mut t = open(system, dir.path())?;
        let txs = (s.scan_rows as usize).div_ceil(900);
        fill(t.as_mut(), 0, txs)?;
        let total = (txs * 900) as i64;
        let doomed = |id: i64| match pct {
            50 => id % 2 == 0,
            90 => id % 10 != 0,
            _ => false,
        };
        for id in (1..=total).filter(|&id| doomed(id)) {
            t.delete_child(id)?;
        }
        let start = Instant::now();
        let n = t.scan_children()?;
        out.push((
            format!("live_scan_{pct}pct"),
            per(start.elapsed(), n),
            "ns/row",
        ));
        let start = Instant::now();
        let mut found = 0;
        for i in 0..50i64 {
            found += t.lookup(&sku(i))?;
        }
        out.push((
            format!("index_lookup_{pct}pct"),
            per(start.elapsed(), found),
            "ns/row",
        ));
    }
    Ok(out)
}

/// Runs every workload on every system (`progress` gets the system being measured).
pub fn run(sizes: Sizes, progress: &mut dyn FnMut(&str)) -> Result<Vec<Measurement>> {
    let mut out = Vec::new();
    for system in SYSTEMS {
        progress(system);
        let mut reps: Vec<Vec<(String, f64, &'static str)>> = Vec::new();
        for _ in 0..sizes.reps.max(1) {
            reps.push(run_system(system, sizes)?);
        }
        let Some(first) = reps.first() else { continue };
        for (i, (workload, _, unit)) in first.iter().enumerate() {
            let mut vals: Vec<f64> = reps.iter().filter_map(|r| r.get(i).map(|x| x.1)).collect();
            vals.sort_by(|a, b| a.total_cmp(b));
            let median = vals.get(vals.len() / 2).copied().unwrap_or_default();
            out.push(Measurement {
                workload: workload.clone(),
                system: system.to_string(),
                value: median,
                unit: unit.to_string(),
            });
        }
    }
    Ok(out)
}

/// Each system's value relative to lazarusdb on the same workload, as "how many times better
/// lazarusdb is" (above 1: lazarusdb is better).
pub fn advantage(ms: &[Measurement], m: &Measurement) -> Option<f64> {
    let base = ms
        .iter()
        .find(|x| x.workload == m.workload && x.system == "lazarusdb")?;
    if m.value <= 0.0 || base.value <= 0.0 {
        return None;
    }
    Some(if m.higher_is_better() {
        base.value / m.value
    } else {
        m.value / base.value
    })
}

/// The results as a text table: one row per workload, the median of each system and, in
/// brackets, lazarusdb's advantage over it (above 1: lazarusdb is better).
pub fn table(ms: &[Measurement]) -> String {
    let mut workloads: Vec<&str> = Vec::new();
    for m in ms {
        if !workloads.contains(&m.workload.as_str()) {
            workloads.push(&m.workload);
        }
    }
    let mut out = format!("{:<22}", "workload (unit)");
    for s in SYSTEMS {
        out.push_str(&format!(" {s:>20}"));
    }
    out.push('\n');
    for w in workloads {
        let unit = ms
            .iter()
            .find(|m| m.workload == w)
            .map(|m| m.unit.as_str())
            .unwrap_or("");
        out.push_str(&format!("{:<22}", format!("{w} ({unit})")));
        for s in SYSTEMS {
            let cell = match ms.iter().find(|m| m.workload == w && m.system == s) {
                Some(m) => match advantage(ms, m) {
                    Some(a) if s != "lazarusdb" => format!("{:.0} [{a:.2}x]", m.value),
                    _ => format!("{:.0}", m.value),
                },
                None => "-".to_string(),
            };
            out.push_str(&format!(" {cell:>20}"));
        }
        out.push('\n');
    }
    out
}

/// A bar chart (SVG) of lazarusdb's advantage over each system per workload, on a log scale
/// centred on 1 (bars to the right: lazarusdb is better).
pub fn svg(ms: &[Measurement]) -> String {
    let mut workloads: Vec<&str> = Vec::new();
    for m in ms {
        if !workloads.contains(&m.workload.as_str()) {
            workloads.push(&m.workload);
        }
    }
    let others: Vec<&str> = SYSTEMS
        .iter()
        .copied()
        .filter(|s| *s != "lazarusdb")
        .collect();
    let colors = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f"];
    let row_h = 14.0 * others.len() as f64 + 12.0;
    let (left, width) = (190.0, 420.0);
    let height = 60.0 + row_h * workloads.len() as f64 + 20.0 * others.len() as f64;
    let centre = left + width / 2.0;
    let scale = width / 2.0 / 2.0; // two decades each side
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0}\" height=\"{height:.0}\" font-family=\"sans-serif\" font-size=\"11\">\n",
        left + width + 40.0
    );
    out.push_str("<text x=\"10\" y=\"18\" font-size=\"13\">lazarusdb advantage per workload (log scale; right of the line: lazarusdb better)</text>\n");
    out.push_str(&format!(
        "<line x1=\"{centre}\" y1=\"30\" x2=\"{centre}\" y2=\"{:.0}\" stroke=\"black\"/>\n",
        40.0 + row_h * workloads.len() as f64
    ));
    for (wi, w) in workloads.iter().enumerate() {
        let y0 = 40.0 + row_h * wi as f64;
        out.push_str(&format!(
            "<text x=\"10\" y=\"{:.0}\">{w}</text>\n",
            y0 + 12.0
        ));
        for (si, s) in others.iter().enumerate() {
            let y = y0 + 14.0 * si as f64;
            let Some(a) = ms
                .iter()
                .find(|m| m.workload == *w && m.system == *s)
                .and_then(|m| advantage(ms, m))
            else {
                continue;
            };
            let len = (a.log10().clamp(-2.0, 2.0)) * scale;
            let (x, wdt) = if len >= 0.0 {
                (centre, len)
            } else {
                (centre + len, -len)
            };
            out.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{wdt:.1}\" height=\"11\" fill=\"{}\"><title>{s}: {a:.2}x</title></rect>\n",
                colors.get(si).unwrap_or(&"gray")
            ));
        }
    }
    let ly = 50.0 + row_h * workloads.len() as f64;
    for (si, s) in others.iter().enumerate() {
        let y = ly + 18.0 * si as f64;
        out.push_str(&format!(
            "<rect x=\"10\" y=\"{y:.0}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"28\" y=\"{:.0}\">vs {s}</text>\n",
            colors.get(si).unwrap_or(&"gray"),
            y + 10.0
        ));
    }
    out.push_str("</svg>\n");
    out
}
