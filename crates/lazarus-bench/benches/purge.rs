//! Purge and compaction: what full history costs on disk, what `Db::compact` gives back, and how
//! fast compaction and purge run, beside SQLite keeping its history in shadow tables.
//!
//! Workload (the same rows for both systems, see `docs/benchmarks.md`):
//!
//! - `parent(id, name, email, score)` and `child(id, parent_id -> parent ON DELETE CASCADE, sku,
//!   note, qty)` with a secondary index on `child.sku` (the shape of `benches/ingest.rs`: about
//!   70 bytes of payload per parent and 93 per child, 9 children per parent);
//! - rows are inserted in transactions of 1,000 (100 parents + 900 children), then every row is
//!   updated 3 times (parent `score`; child `qty` and the state word in `note`), in transactions
//!   of 1,000 rows, round after round;
//! - then every fifth parent is deleted with its children (20 % of the rows), one deletion and
//!   one transaction per parent;
//! - every commit is durable (lazarusdb `Durability::Immediate`; SQLite WAL with
//!   `synchronous = FULL`).
//!
//! Systems: `lazarusdb` on fjall (the default engine) and `sqlite-shadow`: the same main tables
//! plus `parent_history` / `child_history`, filled by triggers with every old version (on update)
//! and every deleted row (on delete, cascades included), each history row stamped with an
//! operation and a time; history indexed by row id (a row's versions) and `child_history` by
//! `parent_id` (the rows of a cascade, for restore or purge).
//!
//! Criterion groups:
//!
//! - `compact/5000`: `Db::compact` of a 5,000-row store after the workload, beside SQLite
//!   `VACUUM` + `wal_checkpoint(TRUNCATE)` of the same data (each iteration works on a fresh copy
//!   of the same store, copied untimed);
//! - `purge/1000`: purging one deletion of 1,000 rows (100 parents and their 900 children, each
//!   with an insert and 3 updates of history) beside SQLite deleting the same rows' shadow
//!   history in one durable transaction.
//!
//! After criterion, when run by `cargo bench` (not `cargo test --benches`, not `-- --test`), a
//! size report runs the workload on `LAZARUS_BENCH_PURGE_ROWS` rows (default 50,000) and prints
//! bytes on disk per live row before and after compaction / `VACUUM`, and after purging every
//! deletion, with the compaction and purge rates; `LAZARUS_BENCH_SIZES=0` skips it. Stores go
//! under `LAZARUS_BENCH_DIR` (default `target/`).
//!
//! Run: `cargo bench --bench purge`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{Read as _, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use lazarusdb::internals::{Engine, FjallEngine, Space};
use lazarusdb::{
    Audit, ColumnType, CompactReport, Db, EngineKind, OnDelete, Options, Readable, Row, Stats,
    TableBuilder, Value,
};
use rusqlite::{params, Connection};

/// Rows per transaction.
const TX_ROWS: u64 = 1_000;
/// Parents per transaction (the rest are children).
const TX_PARENTS: u64 = 100;
/// Children per transaction.
const TX_CHILDREN: u64 = TX_ROWS - TX_PARENTS;
/// Children per parent.
const KIDS: u64 = TX_CHILDREN / TX_PARENTS;
/// Update rounds: every row is updated this many times.
const UPDATES: u64 = 3;
/// Every parent whose id is a multiple of this is deleted with its children.
const DELETE_EVERY: u64 = 5;
/// Rows of the store of the criterion groups.
const SMALL_ROWS: u64 = 5_000;
/// Transaction numbers of the rows the purge group creates (far above the template's ids).
const PURGE_TX_BASE: u64 = 10_000;

// ---------------------------------------------------------------------------------------------
// Data.

fn mix(mut x: u64) -> u64 {
    // splitmix64: deterministic, well spread
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

const STATES: [&str; 4] = ["new", "paid", "sent", "closed"];

struct Parent {
    id: i64,
    name: String,
    email: String,
    score: i64,
}

struct Child {
    id: i64,
    parent_id: i64,
    sku: String,
    note: String,
    qty: i64,
}

/// Parent `id` as of update round `round` (0 = as inserted).
fn parent(id: u64, round: u64) -> Parent {
    let h = mix(id);
    Parent {
        id: id as i64,
        name: format!("Customer {h:016x}"),
        email: format!("user{id}@mail{:02}.example.com", h % 100),
        score: ((h + round * 7_919) % 10_000) as i64,
    }
}

/// Child `id` as of update round `round` (0 = as inserted). Its parent is `(id - 1) / 9 + 1`.
fn child(id: u64, round: u64) -> Child {
    let parent_id = (id - 1) / KIDS + 1;
    let h = mix(id ^ 0x5555_5555);
    Child {
        id: id as i64,
        parent_id: parent_id as i64,
        sku: format!("SKU-{:012X}", h >> 16),
        note: format!(
            "order line {id:>8} of customer {parent_id:>7}, state {:>6}",
            STATES[((h + round) % 4) as usize]
        ),
        qty: ((h + round * 13) % 50 + 1) as i64,
    }
}

/// Parent ids of transaction `tx` (0-based).
fn parent_ids(tx: u64) -> std::ops::RangeInclusive<u64> {
    tx * TX_PARENTS + 1..=tx * TX_PARENTS + TX_PARENTS
}

/// Child ids of transaction `tx` (0-based).
fn child_ids(tx: u64) -> std::ops::RangeInclusive<u64> {
    tx * TX_CHILDREN + 1..=tx * TX_CHILDREN + TX_CHILDREN
}

// ---------------------------------------------------------------------------------------------
// The systems.

/// One deletion: the parents deleted together (with their children), and lazarusdb's id of it.
struct Deleted {
    id: Option<uuid::Uuid>,
    parents: Vec<i64>,
}

trait System {
    /// Inserts the rows of transaction `tx`, durably.
    fn ingest(&mut self, tx: u64);
    /// Updates every row of transaction `tx` to round `round`, in one durable transaction.
    fn update(&mut self, tx: u64, round: u64);
    /// Deletes the parents with their children as one deletion, in one durable transaction.
    fn delete(&mut self, parents: &[i64]) -> Deleted;
    /// Removes every trace of a deletion's rows' values, in one durable transaction.
    fn purge(&mut self, d: &Deleted);
    /// Live rows (parents + children).
    fn live_rows(&mut self) -> u64;
}

/// The workload on transactions `txs`: insert, `UPDATES` rounds of updates, then the deletion of
/// every fifth parent with its children (one deletion each). Returns the deletions.
fn run_workload(sys: &mut dyn System, txs: std::ops::Range<u64>) -> Vec<Deleted> {
    for tx in txs.clone() {
        sys.ingest(tx);
    }
    for round in 1..=UPDATES {
        for tx in txs.clone() {
            sys.update(tx, round);
        }
    }
    let mut out = Vec::new();
    for tx in txs {
        for p in parent_ids(tx).filter(|p| p % DELETE_EVERY == 0) {
            out.push(sys.delete(&[p as i64]));
        }
    }
    out
}

// lazarusdb ------------------------------------------------------------------------------------

struct Lazarus {
    db: Db,
}

impl Lazarus {
    fn create(path: &Path) -> Lazarus {
        // Durability::Immediate is the default: every commit fsyncs before it returns.
        let db = Db::open_with(path, Options::default().engine(EngineKind::Fjall)).unwrap();
        db.create_table(
            TableBuilder::new("parent")
                .column(("id", ColumnType::Int))
                .column(("name", ColumnType::Text))
                .column(("email", ColumnType::Text))
                .column(("score", ColumnType::Int))
                .primary_key("id"),
        )
        .unwrap();
        db.create_table(
            TableBuilder::new("child")
                .column(("id", ColumnType::Int))
                .column(("parent_id", ColumnType::Int))
                .column(("sku", ColumnType::Text))
                .column(("note", ColumnType::Text))
                .column(("qty", ColumnType::Int))
                .primary_key("id")
                .index(["sku"])
                .foreign_key("parent_id", "parent", OnDelete::Cascade),
        )
        .unwrap();
        Lazarus { db }
    }

    fn open(path: &Path) -> Lazarus {
        Lazarus {
            db: Db::open(path).unwrap(),
        }
    }

    fn compact(self) -> (Lazarus, CompactReport) {
        let (db, report) = self.db.compact(|_| {}).unwrap();
        (Lazarus { db }, report)
    }

    /// Compacts and splits the wall time into phases (seconds): counting the keys (and opening
    /// the new engine), copying and syncing, then closing, swapping the folders and reopening.
    fn compact_phases(self) -> (Lazarus, CompactReport, [f64; 3]) {
        let start = Instant::now();
        let mut marks: Vec<f64> = Vec::new();
        let (db, report) = self
            .db
            .compact(|_| marks.push(start.elapsed().as_secs_f64()))
            .unwrap();
        let end = start.elapsed().as_secs_f64();
        let first = marks.first().copied().unwrap_or(0.0);
        let last = marks.last().copied().unwrap_or(first);
        (Lazarus { db }, report, [first, last - first, end - last])
    }
}

impl System for Lazarus {
    fn ingest(&mut self, tx: u64) {
        self.db
            .transaction(|t| {
                for p in parent_ids(tx).map(|id| parent(id, 0)) {
                    t.insert(
                        "parent",
                        Row::new()
                            .with("id", p.id)
                            .with("name", p.name)
                            .with("email", p.email)
                            .with("score", p.score),
                    )?;
                }
                for c in child_ids(tx).map(|id| child(id, 0)) {
                    t.insert(
                        "child",
                        Row::new()
                            .with("id", c.id)
                            .with("parent_id", c.parent_id)
                            .with("sku", c.sku)
                            .with("note", c.note)
                            .with("qty", c.qty),
                    )?;
                }
                Ok::<_, lazarusdb::Error>(())
            })
            .unwrap();
    }

    fn update(&mut self, tx: u64, round: u64) {
        self.db
            .transaction(|t| {
                for p in parent_ids(tx).map(|id| parent(id, round)) {
                    t.update("parent", p.id, Row::new().with("score", p.score))?;
                }
                for c in child_ids(tx).map(|id| child(id, round)) {
                    t.update(
                        "child",
                        c.id,
                        Row::new().with("qty", c.qty).with("note", c.note),
                    )?;
                }
                Ok::<_, lazarusdb::Error>(())
            })
            .unwrap();
    }

    fn delete(&mut self, parents: &[i64]) -> Deleted {
        let pks = parents.iter().map(|&p| Value::from(p)).collect();
        let report = self
            .db
            .delete_many("parent", pks, &Audit::default())
            .unwrap();
        Deleted {
            id: Some(report.deletion),
            parents: parents.to_vec(),
        }
    }

    fn purge(&mut self, d: &Deleted) {
        self.db
            .purge(d.id.unwrap(), &Audit::by("bench").because("purge"))
            .unwrap();
    }

    fn live_rows(&mut self) -> u64 {
        self.db.count("parent").unwrap() + self.db.count("child").unwrap()
    }
}

// SQLite with shadow tables ----------------------------------------------------------------------

const SQLITE_SCHEMA: &str = "
CREATE TABLE parent (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    score INTEGER NOT NULL
);
CREATE TABLE child (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER NOT NULL REFERENCES parent(id) ON DELETE CASCADE,
    sku TEXT NOT NULL,
    note TEXT NOT NULL,
    qty INTEGER NOT NULL
);
CREATE INDEX child_sku ON child(sku);
CREATE INDEX child_parent ON child(parent_id);

CREATE TABLE parent_history (
    hid INTEGER PRIMARY KEY,
    id INTEGER NOT NULL,
    op TEXT NOT NULL,
    changed_at INTEGER NOT NULL,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    score INTEGER NOT NULL
);
CREATE INDEX parent_history_id ON parent_history(id);
CREATE TABLE child_history (
    hid INTEGER PRIMARY KEY,
    id INTEGER NOT NULL,
    op TEXT NOT NULL,
    changed_at INTEGER NOT NULL,
    parent_id INTEGER NOT NULL,
    sku TEXT NOT NULL,
    note TEXT NOT NULL,
    qty INTEGER NOT NULL
);
CREATE INDEX child_history_id ON child_history(id);
CREATE INDEX child_history_parent ON child_history(parent_id);

CREATE TRIGGER parent_keep_update AFTER UPDATE ON parent BEGIN
    INSERT INTO parent_history (id, op, changed_at, name, email, score)
    VALUES (old.id, 'U', CAST(unixepoch('subsec') * 1000000 AS INTEGER),
            old.name, old.email, old.score);
END;
CREATE TRIGGER parent_keep_delete AFTER DELETE ON parent BEGIN
    INSERT INTO parent_history (id, op, changed_at, name, email, score)
    VALUES (old.id, 'D', CAST(unixepoch('subsec') * 1000000 AS INTEGER),
            old.name, old.email, old.score);
END;
CREATE TRIGGER child_keep_update AFTER UPDATE ON child BEGIN
    INSERT INTO child_history (id, op, changed_at, parent_id, sku, note, qty)
    VALUES (old.id, 'U', CAST(unixepoch('subsec') * 1000000 AS INTEGER),
            old.parent_id, old.sku, old.note, old.qty);
END;
CREATE TRIGGER child_keep_delete AFTER DELETE ON child BEGIN
    INSERT INTO child_history (id, op, changed_at, parent_id, sku, note, qty)
    VALUES (old.id, 'D', CAST(unixepoch('subsec') * 1000000 AS INTEGER),
            old.parent_id, old.sku, old.note, old.qty);
END;
";

struct Sqlite {
    conn: Connection,
}

impl Sqlite {
    fn connect(file: &Path) -> Connection {
        let conn = Connection::open(file).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        // FULL: the WAL is fsynced at every commit, a durable commit like lazarusdb's.
        conn.pragma_update(None, "synchronous", "FULL").unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        // The same memory budget as lazarusdb's fjall block cache (32 MiB).
        conn.pragma_update(None, "cache_size", -32_768).unwrap();
        conn
    }

    fn create(file: &Path) -> Sqlite {
        let conn = Sqlite::connect(file);
        conn.execute_batch(SQLITE_SCHEMA).unwrap();
        Sqlite { conn }
    }

    fn open(file: &Path) -> Sqlite {
        Sqlite {
            conn: Sqlite::connect(file),
        }
    }

    /// Moves the WAL into the main file and truncates it, so the folder holds the data once.
    fn checkpoint(&self) {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }

    /// `VACUUM`, then the checkpoint that gives the space back to the file system.
    fn vacuum(&self) {
        self.conn.execute_batch("VACUUM").unwrap();
        self.checkpoint();
    }

    fn count(&self, sql: &str) -> u64 {
        self.conn
            .query_row(sql, [], |r| r.get::<_, i64>(0))
            .unwrap() as u64
    }
}

impl System for Sqlite {
    fn ingest(&mut self, tx: u64) {
        let t = self.conn.transaction().unwrap();
        {
            let mut ps = t
                .prepare_cached(
                    "INSERT INTO parent (id, name, email, score) VALUES (?1, ?2, ?3, ?4)",
                )
                .unwrap();
            for p in parent_ids(tx).map(|id| parent(id, 0)) {
                ps.execute(params![p.id, p.name, p.email, p.score]).unwrap();
            }
            let mut cs = t
                .prepare_cached(
                    "INSERT INTO child (id, parent_id, sku, note, qty) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .unwrap();
            for c in child_ids(tx).map(|id| child(id, 0)) {
                cs.execute(params![c.id, c.parent_id, c.sku, c.note, c.qty])
                    .unwrap();
            }
        }
        t.commit().unwrap();
    }

    fn update(&mut self, tx: u64, round: u64) {
        let t = self.conn.transaction().unwrap();
        {
            let mut ps = t
                .prepare_cached("UPDATE parent SET score = ?2 WHERE id = ?1")
                .unwrap();
            for p in parent_ids(tx).map(|id| parent(id, round)) {
                assert_eq!(ps.execute(params![p.id, p.score]).unwrap(), 1);
            }
            let mut cs = t
                .prepare_cached("UPDATE child SET qty = ?2, note = ?3 WHERE id = ?1")
                .unwrap();
            for c in child_ids(tx).map(|id| child(id, round)) {
                assert_eq!(cs.execute(params![c.id, c.qty, c.note]).unwrap(), 1);
            }
        }
        t.commit().unwrap();
    }

    fn delete(&mut self, parents: &[i64]) -> Deleted {
        let t = self.conn.transaction().unwrap();
        {
            // ON DELETE CASCADE removes the children; the triggers keep every deleted row.
            let mut st = t
                .prepare_cached("DELETE FROM parent WHERE id = ?1")
                .unwrap();
            for &p in parents {
                assert_eq!(st.execute([p]).unwrap(), 1);
            }
        }
        t.commit().unwrap();
        Deleted {
            id: None,
            parents: parents.to_vec(),
        }
    }

    fn purge(&mut self, d: &Deleted) {
        let t = self.conn.transaction().unwrap();
        {
            let mut cs = t
                .prepare_cached("DELETE FROM child_history WHERE parent_id = ?1")
                .unwrap();
            let mut ps = t
                .prepare_cached("DELETE FROM parent_history WHERE id = ?1")
                .unwrap();
            for &p in &d.parents {
                cs.execute([p]).unwrap();
                ps.execute([p]).unwrap();
            }
        }
        t.commit().unwrap();
    }

    fn live_rows(&mut self) -> u64 {
        self.count("SELECT (SELECT count(*) FROM parent) + (SELECT count(*) FROM child)")
    }
}

// ---------------------------------------------------------------------------------------------
// Files.

fn bench_base() -> PathBuf {
    // Next to the crate's target folder rather than a tmpfs /tmp, so that fsync reaches a disk.
    let base = std::env::var_os("LAZARUS_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    std::fs::create_dir_all(&base).unwrap();
    base
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("bench-purge-")
        .tempdir_in(bench_base())
        .unwrap()
}

/// Copies a file, leaving its all-zero 64 KiB blocks as holes (fjall's journals are sparse files
/// of 64 MiB), and syncs it so that its write-back does not land in a timed section.
fn copy_sparse(src: &Path, dst: &Path) {
    let mut r = std::fs::File::open(src).unwrap();
    let len = r.metadata().unwrap().len();
    let mut w = std::fs::File::create(dst).unwrap();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        if buf[..n].iter().all(|&b| b == 0) {
            w.seek(SeekFrom::Current(n as i64)).unwrap();
        } else {
            w.write_all(&buf[..n]).unwrap();
        }
    }
    w.set_len(len).unwrap();
    w.sync_all().unwrap();
}

fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to);
        } else {
            copy_sparse(&e.path(), &to);
        }
    }
}

/// Sizes of every file under `path`: (bytes allocated on disk, apparent length). They differ for
/// sparse files, e.g. fjall's journal, which is created with a length of 64 MiB.
fn dir_bytes(path: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let (mut alloc, mut len) = (0, 0);
    for e in std::fs::read_dir(path).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        if m.is_dir() {
            let (a, l) = dir_bytes(&e.path());
            alloc += a;
            len += l;
        } else {
            alloc += m.blocks() * 512;
            len += m.len();
        }
    }
    (alloc, len)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The stores of the criterion groups: the workload on `SMALL_ROWS` rows, closed.
struct Templates {
    _dir: tempfile::TempDir,
    lazarus: PathBuf,
    sqlite: PathBuf,
}

fn templates() -> Templates {
    let dir = tempdir();
    let txs = SMALL_ROWS / TX_ROWS;
    let lazarus = dir.path().join("lazarus");
    let mut l = Lazarus::create(&lazarus);
    run_workload(&mut l, 0..txs);
    l.db.close().unwrap();
    let sqlite_dir = dir.path().join("sqlite");
    std::fs::create_dir_all(&sqlite_dir).unwrap();
    let sqlite = sqlite_dir.join("shadow.sqlite");
    let mut s = Sqlite::create(&sqlite);
    run_workload(&mut s, 0..txs);
    s.checkpoint();
    drop(s);
    Templates {
        _dir: dir,
        lazarus,
        sqlite,
    }
}

// ---------------------------------------------------------------------------------------------
// Criterion groups.

fn bench_compact(c: &mut Criterion, t: &Templates) {
    let mut g = c.benchmark_group(format!("compact/{SMALL_ROWS}"));
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(SMALL_ROWS));
    g.bench_function(BenchmarkId::from_parameter("lazarusdb"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempdir();
                let path = dir.path().join("store");
                copy_tree(&t.lazarus, &path);
                let l = Lazarus::open(&path);
                let start = Instant::now();
                let (l, _report) = l.compact();
                total += start.elapsed();
                l.db.close().unwrap();
            }
            total
        })
    });
    g.bench_function(BenchmarkId::from_parameter("sqlite-vacuum"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempdir();
                let file = dir.path().join("shadow.sqlite");
                copy_sparse(&t.sqlite, &file);
                let s = Sqlite::open(&file);
                let start = Instant::now();
                s.vacuum();
                total += start.elapsed();
                drop(s);
            }
            total
        })
    });
    g.finish();
}

fn bench_purge(c: &mut Criterion, t: &Templates) {
    let mut g = c.benchmark_group(format!("purge/{TX_ROWS}"));
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements(TX_ROWS));
    for name in ["lazarusdb", "sqlite-shadow"] {
        let dir = tempdir();
        let mut sys: Box<dyn System> = if name == "lazarusdb" {
            let path = dir.path().join("store");
            copy_tree(&t.lazarus, &path);
            Box::new(Lazarus::open(&path))
        } else {
            let file = dir.path().join("shadow.sqlite");
            copy_sparse(&t.sqlite, &file);
            Box::new(Sqlite::open(&file))
        };
        let mut next_tx = PURGE_TX_BASE;
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // Untimed: 1,000 new rows with an insert and 3 updates each, then one
                    // deletion of their 100 parents (cascading to the 900 children).
                    let tx = next_tx;
                    next_tx += 1;
                    sys.ingest(tx);
                    for round in 1..=UPDATES {
                        sys.update(tx, round);
                    }
                    let parents: Vec<i64> = parent_ids(tx).map(|p| p as i64).collect();
                    let d = sys.delete(&parents);
                    let start = Instant::now();
                    sys.purge(&d);
                    total += start.elapsed();
                }
                total
            })
        });
        drop(sys);
    }
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// Size report.

/// One measured state of a store.
struct Size {
    what: String,
    alloc: u64,
    apparent: u64,
    /// The system's own figure (lazarusdb `Stats::disk_bytes`).
    own: Option<u64>,
}

fn lazarus_size(what: &str, l: &Lazarus, path: &Path) -> (Size, Stats) {
    l.db.sync().unwrap();
    let stats = l.db.stats().unwrap();
    let (alloc, apparent) = dir_bytes(path);
    (
        Size {
            what: what.into(),
            alloc,
            apparent,
            own: Some(stats.disk_bytes),
        },
        stats,
    )
}

/// Keys and bytes (keys + values) per engine space of a closed lazarusdb store on fjall.
fn space_bytes(store: &Path) -> Vec<(&'static str, u64, u64)> {
    let engine = FjallEngine::open(&store.join("data")).unwrap();
    let view = engine.read().unwrap();
    Space::ALL
        .iter()
        .map(|&space| {
            let (mut keys, mut bytes) = (0u64, 0u64);
            let all = std::ops::Bound::Unbounded;
            for item in view.range(space, all, all, false).unwrap() {
                let (k, v) = item.unwrap();
                keys += 1;
                bytes += (k.len() + v.len()) as u64;
            }
            (space.name(), keys, bytes)
        })
        .collect()
}

fn sqlite_size(what: &str, s: &Sqlite, dir: &Path) -> Size {
    s.checkpoint();
    let (alloc, apparent) = dir_bytes(dir);
    Size {
        what: what.into(),
        alloc,
        apparent,
        own: None,
    }
}

fn sizes() {
    let rows: u64 = std::env::var("LAZARUS_BENCH_PURGE_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let txs = rows.div_ceil(TX_ROWS).max(1);
    let rows = txs * TX_ROWS;
    let load_start = load_average();
    eprintln!();
    eprintln!(
        "purge/compaction sizes: {rows} rows ({txs} transactions of {TX_PARENTS} parents + \
         {TX_CHILDREN} children), {UPDATES} updates of every row, every {DELETE_EVERY}th parent \
         deleted with its children; load average {load_start}"
    );
    let mut table: Vec<Size> = Vec::new();
    let mut notes: Vec<String> = Vec::new();

    // lazarusdb ---------------------------------------------------------------------------
    let ldir = tempdir();
    let lpath = ldir.path().join("store");
    let mut l = Lazarus::create(&lpath);
    let start = Instant::now();
    let deletions = run_workload(&mut l, 0..txs);
    let l_work = start.elapsed().as_secs_f64();
    let live = l.live_rows();
    let deleted_rows = rows - live;
    let (s, st_before) = lazarus_size("lazarusdb before compaction", &l, &lpath);
    table.push(s);
    let (l2, rep, phases) = l.compact_phases();
    l = l2;
    let (s, st_after) = lazarus_size("lazarusdb after compact", &l, &lpath);
    table.push(s);
    l.db.close().unwrap();
    let spaces_after = space_bytes(&lpath);
    l = Lazarus::open(&lpath);
    let start = Instant::now();
    for d in &deletions {
        l.purge(d);
    }
    let l_purge = start.elapsed().as_secs_f64();
    let (s, _) = lazarus_size("lazarusdb after purge", &l, &lpath);
    table.push(s);
    let (l2, rep_purged, phases_purged) = l.compact_phases();
    l = l2;
    let (s, st_purged) = lazarus_size("lazarusdb after purge + compact", &l, &lpath);
    table.push(s);
    assert_eq!(l.live_rows(), live);
    l.db.close().unwrap();
    let spaces_purged = space_bytes(&lpath);
    l = Lazarus::open(&lpath);
    let verify = l.db.verify().unwrap();
    if !verify.is_ok() {
        notes.push(format!(
            "lazarusdb verify after purge + compact found {} differences, first: {:?}",
            verify.differences.len(),
            verify.differences.first()
        ));
    }
    l.db.close().unwrap();

    // SQLite -----------------------------------------------------------------------------
    let sdir = tempdir();
    let sfile = sdir.path().join("shadow.sqlite");
    let mut s = Sqlite::create(&sfile);
    let start = Instant::now();
    let deletions = run_workload(&mut s, 0..txs);
    let s_work = start.elapsed().as_secs_f64();
    assert_eq!(s.live_rows(), live, "both systems hold the same live rows");
    let history_rows = s.count(
        "SELECT (SELECT count(*) FROM parent_history) + (SELECT count(*) FROM child_history)",
    );
    table.push(sqlite_size("sqlite-shadow before VACUUM", &s, sdir.path()));
    let start = Instant::now();
    s.vacuum();
    let s_vacuum = start.elapsed().as_secs_f64();
    table.push(sqlite_size("sqlite-shadow after VACUUM", &s, sdir.path()));
    let start = Instant::now();
    for d in &deletions {
        s.purge(d);
    }
    let s_purge = start.elapsed().as_secs_f64();
    table.push(sqlite_size("sqlite-shadow after purge", &s, sdir.path()));
    s.vacuum();
    table.push(sqlite_size(
        "sqlite-shadow after purge + VACUUM",
        &s,
        sdir.path(),
    ));
    drop(s);

    // Report -----------------------------------------------------------------------------
    let per = |b: u64| b as f64 / live as f64;
    eprintln!(
        "{live} live rows, {deleted_rows} deleted in {} deletions; SQLite history rows: \
         {history_rows}; workload took {l_work:.1} s (lazarusdb) and {s_work:.1} s (SQLite)",
        deletions.len()
    );
    eprintln!(
        "{:<36} {:>13} {:>13} {:>10} {:>10} {:>10}",
        "store", "allocated B", "apparent B", "alloc/live", "appar/live", "own/live"
    );
    for r in &table {
        eprintln!(
            "{:<36} {:>13} {:>13} {:>10.1} {:>10.1} {:>10}",
            r.what,
            r.alloc,
            r.apparent,
            per(r.alloc),
            per(r.apparent),
            r.own.map_or("-".into(), |b| format!("{:.1}", per(b))),
        );
    }
    let find = |what: &str| table.iter().find(|r| r.what == what).unwrap();
    let ratio = |a: &str, b: &str| {
        let (a, b) = (find(a), find(b));
        (
            a.alloc as f64 / b.alloc as f64,
            a.apparent as f64 / b.apparent as f64,
        )
    };
    let (ra, rp) = ratio("lazarusdb after compact", "sqlite-shadow after VACUUM");
    eprintln!(
        "lazarusdb after compact / sqlite-shadow after VACUUM, bytes per live row: {ra:.2}x \
         allocated, {rp:.2}x apparent (goal <= 2.0x: {})",
        if ra <= 2.0 { "met" } else { "NOT met" }
    );
    let (ra, rp) = ratio("lazarusdb after compact", "sqlite-shadow before VACUUM");
    eprintln!(
        "lazarusdb after compact / sqlite-shadow before VACUUM: {ra:.2}x allocated, {rp:.2}x \
         apparent"
    );
    let (ra, rp) = ratio(
        "lazarusdb after purge + compact",
        "sqlite-shadow after purge + VACUUM",
    );
    eprintln!(
        "lazarusdb after purge + compact / sqlite-shadow after purge + VACUUM: {ra:.2}x \
         allocated, {rp:.2}x apparent"
    );
    eprintln!("lazarusdb bytes of keys and values per live row (Stats):");
    eprintln!(
        "{:<36} {:>10} {:>10} {:>10} {:>12}",
        "", "live", "history", "trash", "reclaimable"
    );
    for (what, st) in [
        ("before compaction", &st_before),
        ("after compact", &st_after),
        ("after purge + compact", &st_purged),
    ] {
        eprintln!(
            "{:<36} {:>10.1} {:>10.1} {:>10.1} {:>12.1}",
            what,
            per(st.live_bytes),
            per(st.history_bytes),
            per(st.trash_bytes),
            per(st.reclaimable_bytes)
        );
    }
    eprintln!(
        "lazarusdb per engine space, after compact and after purge + compact (keys, and bytes \
         of keys + values, per live row):"
    );
    eprintln!(
        "{:<12} {:>12} {:>12} {:>22} {:>22}",
        "space", "keys/live", "bytes/live", "keys/live (purged)", "bytes/live (purged)"
    );
    for ((name, k, b), (_, kp, bp)) in spaces_after.iter().zip(&spaces_purged) {
        eprintln!(
            "{:<12} {:>12.2} {:>12.1} {:>22.2} {:>22.1}",
            name,
            per(*k),
            per(*b),
            per(*kp),
            per(*bp)
        );
    }
    for (what, r, ph) in [
        ("compact", &rep, &phases),
        ("compact after purge", &rep_purged, &phases_purged),
    ] {
        eprintln!(
            "lazarusdb {what}: {} keys, {:.1} MB in {:.2} s = {:.0} keys/s, {:.1} MB/s (count \
             {:.2} s, copy + sync {:.2} s, close + swap + reopen {:.2} s); data folder {} -> {} \
             bytes (apparent)",
            r.keys,
            r.bytes as f64 / 1e6,
            r.seconds,
            r.keys as f64 / r.seconds,
            r.bytes as f64 / 1e6 / r.seconds,
            ph[0],
            ph[1],
            ph[2],
            r.disk_bytes_before,
            r.disk_bytes_after
        );
    }
    let sq_before = find("sqlite-shadow before VACUUM").apparent;
    eprintln!(
        "sqlite-shadow VACUUM + checkpoint: {s_vacuum:.2} s for {:.1} MB = {:.1} MB/s",
        sq_before as f64 / 1e6,
        sq_before as f64 / 1e6 / s_vacuum
    );
    eprintln!(
        "purge of the {} deletions ({deleted_rows} rows, one transaction each): lazarusdb \
         {l_purge:.2} s ({:.0} rows/s), sqlite-shadow {s_purge:.2} s ({:.0} rows/s)",
        deletions.len(),
        deleted_rows as f64 / l_purge,
        deleted_rows as f64 / s_purge
    );
    for n in notes {
        eprintln!("NOTE: {n}");
    }
    eprintln!(
        "load average: {load_start} at the start, {} at the end",
        load_average()
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let t = templates();
    bench_compact(&mut c, &t);
    bench_purge(&mut c, &t);
    c.final_summary();
    drop(t);
    // Only under `cargo bench`: `cargo test --benches` passes no `--bench`, and `-- --test` asks
    // criterion for a test run.
    let args: Vec<String> = std::env::args().collect();
    let benching =
        args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test" || a == "--list");
    let wanted = std::env::var("LAZARUS_BENCH_SIZES").map_or(true, |v| v != "0");
    if benching && wanted {
        sizes();
    }
}
