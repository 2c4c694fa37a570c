//! Ingest, point-get and size benchmark: lazarusdb (fjall and sled engines) against SQLite with
//! a soft-delete column and against the raw engines doing the equivalent key writes by hand.
//!
//! Workload (the same for every system, see `docs/benchmarks.md`):
//!
//! - two tables: `parent(id, name, email, score)` and
//!   `child(id, parent_id -> parent ON DELETE CASCADE, sku, note, qty)` with one secondary index
//!   on the child's text column `sku`;
//! - one transaction = 1,000 rows: 100 parents and 900 children (9 per parent, each child
//!   referencing a parent of the same transaction), about 70 bytes of payload per parent row and
//!   93 per child row; ids are explicit and increase, `sku` values are pseudo-random;
//! - every commit is durable (fsync/fdatasync before it returns).
//!
//! Groups: `ingest` (rows/s; one iteration = one transaction of 1,000 rows into a store that
//! keeps growing) and `point_get` (gets/s; a child row by primary key in a store of 20,000 rows).
//! After criterion, when run by `cargo bench`, a size report ingests `LAZARUS_BENCH_SIZE_ROWS`
//! rows (default 200,000) into a fresh store per system and prints the bytes per row on disk and
//! the sustained ingest rate; set `LAZARUS_BENCH_SIZES=0` to skip it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput};
use lazarusdb::{ColumnType, Db, EngineKind, OnDelete, Options, Readable, Row, TableBuilder};

/// Rows per transaction.
const TX_ROWS: u64 = 1_000;
/// Parents per transaction (the rest are children).
const TX_PARENTS: u64 = 100;
/// Children per transaction.
const TX_CHILDREN: u64 = TX_ROWS - TX_PARENTS;
/// Rows in the store of the point-get group.
const GET_ROWS: u64 = 20_000;

const SYSTEMS: [&str; 5] = [
    "lazarusdb",
    "lazarusdb-sled",
    "sqlite-soft-delete",
    "fjall-raw",
    "sled-raw",
];

// ---------------------------------------------------------------------------------------------
// Data.

fn mix(mut x: u64) -> u64 {
    // splitmix64: deterministic, well spread
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

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

/// The rows of transaction number `tx` (0-based): parents `tx*100+1..=tx*100+100` and children
/// `tx*900+1..=tx*900+900`.
fn tx_rows(tx: u64) -> (Vec<Parent>, Vec<Child>) {
    let parents = (0..TX_PARENTS)
        .map(|i| {
            let id = tx * TX_PARENTS + i + 1;
            let h = mix(id);
            Parent {
                id: id as i64,
                name: format!("Customer {:016x}", h),
                email: format!("user{id}@mail{:02}.example.com", h % 100),
                score: (h % 10_000) as i64,
            }
        })
        .collect();
    let children = (0..TX_CHILDREN)
        .map(|i| {
            let id = tx * TX_CHILDREN + i + 1;
            let parent_id = tx * TX_PARENTS + i / (TX_CHILDREN / TX_PARENTS) + 1;
            let h = mix(id ^ 0x5555_5555);
            Child {
                id: id as i64,
                parent_id: parent_id as i64,
                sku: format!("SKU-{:012X}", h >> 16),
                note: format!(
                    "order line {id:>8} of customer {parent_id:>7}, state {:>6}",
                    ["new", "paid", "sent", "closed"][(h % 4) as usize]
                ),
                qty: (h % 50 + 1) as i64,
            }
        })
        .collect();
    (parents, children)
}

/// Pseudo-random child ids of the point-get store.
fn get_ids() -> Vec<i64> {
    let children = GET_ROWS / TX_ROWS * TX_CHILDREN;
    (0..4096u64)
        .map(|i| (mix(i ^ 0xabcd) % children + 1) as i64)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The systems.

trait System {
    /// Writes one transaction of rows, durably.
    fn ingest(&mut self, parents: Vec<Parent>, children: Vec<Child>);
    /// Reads a child by primary key; returns something derived from the row.
    fn get_child(&mut self, id: i64) -> usize;
    /// Makes everything durable and compact enough to be measured on disk.
    fn finish(&mut self);
    /// Extra size information worth printing (the system's own idea of its size).
    fn reported_bytes(&self) -> Option<u64> {
        None
    }
}

fn open(name: &str, dir: &Path) -> Box<dyn System> {
    match name {
        "lazarusdb" => Box::new(Lazarus::open(dir, EngineKind::Fjall)),
        "lazarusdb-sled" => Box::new(Lazarus::open(dir, EngineKind::Sled)),
        "sqlite-soft-delete" => Box::new(Sqlite::open(dir)),
        "fjall-raw" => Box::new(FjallRaw::open(dir)),
        "sled-raw" => Box::new(SledRaw::open(dir)),
        other => unreachable!("unknown system {other}"),
    }
}

// lazarusdb ------------------------------------------------------------------------------------

struct Lazarus {
    db: Db,
}

impl Lazarus {
    fn open(dir: &Path, engine: EngineKind) -> Lazarus {
        // Durability::Immediate is the default: every commit fsyncs before it returns.
        let db = Db::open_with(dir.join("store"), Options::default().engine(engine)).unwrap();
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
}

impl System for Lazarus {
    fn ingest(&mut self, parents: Vec<Parent>, children: Vec<Child>) {
        self.db
            .transaction(|tx| {
                for p in parents {
                    tx.insert(
                        "parent",
                        Row::new()
                            .with("id", p.id)
                            .with("name", p.name)
                            .with("email", p.email)
                            .with("score", p.score),
                    )?;
                }
                for c in children {
                    tx.insert(
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

    fn get_child(&mut self, id: i64) -> usize {
        let row = self.db.get("child", id).unwrap().unwrap();
        row.get("note")
            .and_then(|v| v.as_text())
            .map_or(0, str::len)
    }

    fn finish(&mut self) {
        self.db.sync().unwrap();
    }

    fn reported_bytes(&self) -> Option<u64> {
        Some(self.db.stats().unwrap().disk_bytes)
    }
}

// SQLite with a soft-delete column ----------------------------------------------------------

struct Sqlite {
    conn: rusqlite::Connection,
}

const SQLITE_SCHEMA: &str = "
CREATE TABLE parent (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    score INTEGER NOT NULL,
    is_deleted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE child (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER NOT NULL REFERENCES parent(id) ON DELETE CASCADE,
    sku TEXT NOT NULL,
    note TEXT NOT NULL,
    qty INTEGER NOT NULL,
    is_deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX child_sku ON child(sku) WHERE is_deleted = 0;
CREATE INDEX child_parent ON child(parent_id) WHERE is_deleted = 0;
";

impl Sqlite {
    fn open(dir: &Path) -> Sqlite {
        let conn = rusqlite::Connection::open(dir.join("bench.sqlite")).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        // FULL: the WAL is fsynced at every commit, a durable commit like lazarusdb's.
        conn.pragma_update(None, "synchronous", "FULL").unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        // The same memory budget as lazarusdb's fjall block cache (32 MiB; SQLite's default is 2).
        conn.pragma_update(None, "cache_size", -32_768).unwrap();
        conn.execute_batch(SQLITE_SCHEMA).unwrap();
        Sqlite { conn }
    }
}

impl System for Sqlite {
    fn ingest(&mut self, parents: Vec<Parent>, children: Vec<Child>) {
        let tx = self.conn.transaction().unwrap();
        {
            let mut ps = tx
                .prepare_cached(
                    "INSERT INTO parent (id, name, email, score) VALUES (?1, ?2, ?3, ?4)",
                )
                .unwrap();
            for p in &parents {
                ps.execute(rusqlite::params![p.id, p.name, p.email, p.score])
                    .unwrap();
            }
            let mut cs = tx
                .prepare_cached(
                    "INSERT INTO child (id, parent_id, sku, note, qty) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .unwrap();
            for c in &children {
                cs.execute(rusqlite::params![c.id, c.parent_id, c.sku, c.note, c.qty])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
    }

    fn get_child(&mut self, id: i64) -> usize {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT id, parent_id, sku, note, qty FROM child WHERE id = ?1 AND is_deleted = 0",
            )
            .unwrap();
        st.query_row([id], |r| {
            let _id: i64 = r.get(0)?;
            let _parent: i64 = r.get(1)?;
            let _sku: String = r.get(2)?;
            let note: String = r.get(3)?;
            let _qty: i64 = r.get(4)?;
            Ok(note.len())
        })
        .unwrap()
    }

    fn finish(&mut self) {
        // Move the WAL into the main file and truncate it, so the folder holds the data once.
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }
}

// Raw engines: the keys a user would hand-roll ---------------------------------------------
//
// Per parent: one row key. Per child: one row key, one `sku` index entry and one foreign-key
// reverse-index entry (`parent_id`, `id`) so that a cascade can find the children. One atomic
// batch per transaction, then a durable sync.

fn put_int(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_text(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn encode_parent(p: &Parent) -> Vec<u8> {
    let mut v = Vec::with_capacity(16 + p.name.len() + p.email.len() + 8);
    put_text(&mut v, &p.name);
    put_text(&mut v, &p.email);
    put_int(&mut v, p.score);
    v
}

fn encode_child(c: &Child) -> Vec<u8> {
    let mut v = Vec::with_capacity(24 + c.sku.len() + c.note.len() + 8);
    put_int(&mut v, c.parent_id);
    put_text(&mut v, &c.sku);
    put_text(&mut v, &c.note);
    put_int(&mut v, c.qty);
    v
}

/// Decodes a child value the way a user would (owned strings), returning the note's length.
fn decode_child(v: &[u8]) -> usize {
    let mut at = 8;
    let mut text = || {
        let n = u32::from_be_bytes(v[at..at + 4].try_into().unwrap()) as usize;
        let s = String::from_utf8(v[at + 4..at + 4 + n].to_vec()).unwrap();
        at += 4 + n;
        s
    };
    let _sku = text();
    let note = text();
    note.len()
}

fn sku_key(c: &Child) -> Vec<u8> {
    let mut k = Vec::with_capacity(c.sku.len() + 9);
    k.extend_from_slice(c.sku.as_bytes());
    k.push(0);
    put_int(&mut k, c.id);
    k
}

fn fk_key(c: &Child) -> Vec<u8> {
    let mut k = Vec::with_capacity(16);
    put_int(&mut k, c.parent_id);
    put_int(&mut k, c.id);
    k
}

struct FjallRaw {
    db: fjall::Database,
    parent: fjall::Keyspace,
    child: fjall::Keyspace,
    child_sku: fjall::Keyspace,
    child_parent: fjall::Keyspace,
}

impl FjallRaw {
    fn open(dir: &Path) -> FjallRaw {
        let db = fjall::Database::builder(dir.join("fjall")).open().unwrap();
        let ks = |n: &str| {
            db.keyspace(n, fjall::KeyspaceCreateOptions::default)
                .unwrap()
        };
        let (parent, child, child_sku, child_parent) = (
            ks("parent"),
            ks("child"),
            ks("child_sku"),
            ks("child_parent"),
        );
        FjallRaw {
            db,
            parent,
            child,
            child_sku,
            child_parent,
        }
    }
}

impl System for FjallRaw {
    fn ingest(&mut self, parents: Vec<Parent>, children: Vec<Child>) {
        let mut b = self.db.batch();
        for p in &parents {
            b.insert(&self.parent, p.id.to_be_bytes(), encode_parent(p));
        }
        for c in &children {
            b.insert(&self.child, c.id.to_be_bytes(), encode_child(c));
            b.insert(&self.child_sku, sku_key(c), []);
            b.insert(&self.child_parent, fk_key(c), []);
        }
        b.commit().unwrap();
        self.db.persist(fjall::PersistMode::SyncData).unwrap();
    }

    fn get_child(&mut self, id: i64) -> usize {
        let v = self.child.get(id.to_be_bytes()).unwrap().unwrap();
        decode_child(&v)
    }

    fn finish(&mut self) {
        self.db.persist(fjall::PersistMode::SyncData).unwrap();
    }

    fn reported_bytes(&self) -> Option<u64> {
        Some(self.db.disk_space().unwrap())
    }
}

struct SledRaw {
    db: sled::Db,
    data_file: std::path::PathBuf,
}

// One tree with a prefix byte per "table", so that one `sled::Batch` is atomic over all of them.
const SLED_PARENT: u8 = 1;
const SLED_CHILD: u8 = 2;
const SLED_CHILD_SKU: u8 = 3;
const SLED_CHILD_PARENT: u8 = 4;

fn prefixed(p: u8, k: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(k.len() + 1);
    v.push(p);
    v.extend_from_slice(k);
    v
}

impl SledRaw {
    fn open(dir: &Path) -> SledRaw {
        let path = dir.join("sled");
        // The configuration of lazarusdb's sled engine (64 MiB cache, flush every 500 ms).
        let db = sled::Config::new()
            .path(&path)
            .cache_capacity(64 << 20)
            .flush_every_ms(Some(500))
            .open()
            .unwrap();
        SledRaw {
            db,
            data_file: path.join("db"),
        }
    }

    fn sync(&self) {
        // sled's flush() ends in sync_file_range on Linux, which is not durable; fdatasync the
        // data file as well, exactly as lazarusdb's sled engine does.
        self.db.flush().unwrap();
        std::fs::File::open(&self.data_file)
            .unwrap()
            .sync_data()
            .unwrap();
    }
}

impl System for SledRaw {
    fn ingest(&mut self, parents: Vec<Parent>, children: Vec<Child>) {
        let mut b = sled::Batch::default();
        for p in &parents {
            b.insert(prefixed(SLED_PARENT, &p.id.to_be_bytes()), encode_parent(p));
        }
        for c in &children {
            b.insert(prefixed(SLED_CHILD, &c.id.to_be_bytes()), encode_child(c));
            b.insert(prefixed(SLED_CHILD_SKU, &sku_key(c)), &[] as &[u8]);
            b.insert(prefixed(SLED_CHILD_PARENT, &fk_key(c)), &[] as &[u8]);
        }
        self.db.apply_batch(b).unwrap();
        self.sync();
    }

    fn get_child(&mut self, id: i64) -> usize {
        let v = self
            .db
            .get(prefixed(SLED_CHILD, &id.to_be_bytes()))
            .unwrap()
            .unwrap();
        decode_child(&v)
    }

    fn finish(&mut self) {
        self.sync();
    }

    fn reported_bytes(&self) -> Option<u64> {
        Some(self.db.size_on_disk().unwrap())
    }
}

// ---------------------------------------------------------------------------------------------
// Benchmarks.

fn tempdir() -> tempfile::TempDir {
    // Next to the crate's target folder rather than a tmpfs /tmp, so that fsync reaches a disk.
    let base = std::env::var_os("LAZARUS_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    std::fs::create_dir_all(&base).unwrap();
    tempfile::Builder::new()
        .prefix("bench-")
        .tempdir_in(base)
        .unwrap()
}

fn bench_ingest(c: &mut Criterion) {
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(TX_ROWS));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));
    for name in SYSTEMS {
        let dir = tempdir();
        let mut sys = open(name, dir.path());
        let mut tx = 0u64;
        g.bench_function(name, |b| {
            // Building the rows (about 1 ms per transaction) stays out of the measurement.
            b.iter_batched(
                || {
                    tx += 1;
                    tx_rows(tx - 1)
                },
                |(parents, children)| sys.ingest(parents, children),
                BatchSize::PerIteration,
            )
        });
        drop(sys);
    }
    g.finish();
}

fn bench_point_get(c: &mut Criterion) {
    let mut g = c.benchmark_group("point_get");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    let ids = get_ids();
    for name in SYSTEMS {
        let dir = tempdir();
        let mut sys = open(name, dir.path());
        for tx in 0..GET_ROWS / TX_ROWS {
            let (parents, children) = tx_rows(tx);
            sys.ingest(parents, children);
        }
        let mut i = 0usize;
        g.bench_function(name, |b| {
            b.iter(|| {
                let id = ids[i % ids.len()];
                i += 1;
                black_box(sys.get_child(black_box(id)))
            })
        });
        drop(sys);
    }
    g.finish();
}

/// Sizes of every file under `dir`: (apparent length, bytes allocated on disk). They differ for
/// sparse files, e.g. fjall's journal, which is created with a length of 64 MiB.
fn dir_bytes(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let (mut len, mut alloc) = (0, 0);
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        if m.is_dir() {
            let (l, a) = dir_bytes(&e.path());
            len += l;
            alloc += a;
        } else {
            len += m.len();
            alloc += m.blocks() * 512;
        }
    }
    (len, alloc)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Ingests the same rows into a fresh store per system, then prints bytes per row on disk and
/// the sustained ingest rate (the same fixed work for every system, from an empty store), over
/// the whole run and over its first and last quarter (the rate of a B-tree falls as it grows).
fn sizes() {
    let rows: u64 = std::env::var("LAZARUS_BENCH_SIZE_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let txs = rows.div_ceil(TX_ROWS).max(1);
    let rows = txs * TX_ROWS;
    eprintln!();
    eprintln!(
        "sizes: {rows} rows ({txs} transactions of {TX_ROWS}: {TX_PARENTS} parents + \
         {TX_CHILDREN} children), a fresh store per system; load average {}",
        load_average()
    );
    eprintln!(
        "{:<20} {:>9} {:>9} {:>9} {:>12} {:>12} {:>9} {:>9} {:>9}",
        "system",
        "rows/s",
        "1st 25%",
        "last 25%",
        "allocated B",
        "apparent B",
        "alloc/row",
        "appar/row",
        "own/row"
    );
    for name in SYSTEMS {
        let dir = tempdir();
        let mut sys = open(name, dir.path());
        let mut took = Vec::with_capacity(txs as usize);
        for tx in 0..txs {
            let (parents, children) = tx_rows(tx);
            let start = Instant::now();
            sys.ingest(parents, children);
            took.push(start.elapsed().as_secs_f64());
        }
        let rate = |t: &[f64]| (t.len() as u64 * TX_ROWS) as f64 / t.iter().sum::<f64>();
        let quarter = took.len().div_ceil(4);
        let (first, last) = (&took[..quarter], &took[took.len() - quarter..]);
        sys.finish();
        let (len, alloc) = dir_bytes(dir.path());
        let own = sys.reported_bytes();
        let per = |b: u64| b as f64 / rows as f64;
        eprintln!(
            "{:<20} {:>9.0} {:>9.0} {:>9.0} {:>12} {:>12} {:>9.1} {:>9.1} {:>9}",
            name,
            rate(&took),
            rate(first),
            rate(last),
            alloc,
            len,
            per(alloc),
            per(len),
            own.map_or("-".into(), |b| format!("{:.1}", per(b))),
        );
        drop(sys);
    }
    eprintln!("load average after: {}", load_average());
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_ingest(&mut c);
    bench_point_get(&mut c);
    c.final_summary();
    let benching = std::env::args().any(|a| a == "--bench");
    let wanted = std::env::var("LAZARUS_BENCH_SIZES").map_or(true, |v| v != "0");
    if benching && wanted {
        sizes();
    }
}
