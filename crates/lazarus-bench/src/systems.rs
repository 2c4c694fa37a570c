//! The systems measured and what each offers: lazarusdb on each of its engines, SQLite with an
//! `is_deleted` flag (partial indexes) and with `_deleted` shadow tables, and raw fjall, raw sled
//! and raw redb writing the keys a user would hand-roll (hard deletes: nothing to restore).
//!
//! Every system holds the same two tables: `parent (id, name)` and `child (id, parent_id, sku,
//! note)`, with an index on `sku` and a cascading foreign key `child.parent_id → parent.id`
//! (in SQLite an index on `parent_id`; in the raw engines an index key per child).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lazarusdb::{
    ColumnType, Db, Durability, EngineKind, OnDelete, Options, Readable, RestorePolicy, Row, Scan,
    TableBuilder,
};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Deserialize;

use crate::error::{io, redb, BenchError, Result};

/// lazarusdb's engines besides its default one: each is shown as *our second engine*, beside
/// `lazarusdb` (the library on [`EngineKind::default()`], whatever that is). An entry for the
/// default engine is not shown twice. Adding an engine of the library is one line here.
pub const OUR_ENGINES: &[(&str, EngineKind)] = &[
    ("lazarusdb-fjall", EngineKind::Fjall),
    ("lazarusdb-fjall-redb", EngineKind::FjallRedb),
    ("lazarusdb-sled", EngineKind::Sled),
];

/// The name of the library on its default engine.
pub const LAZARUSDB: &str = "lazarusdb";

/// One system of the comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum System {
    /// lazarusdb on one of its engines.
    Lazarus {
        /// `lazarusdb` for the default engine, else the name in [`OUR_ENGINES`].
        name: String,
        /// The engine.
        engine: EngineKind,
    },
    /// SQLite, WAL, an `is_deleted` column on every table and partial indexes
    /// (`WHERE is_deleted = 0`); every read filters on the flag.
    SqliteSoftDelete,
    /// SQLite, WAL, deleted rows moved to `<table>_deleted` shadow tables by hand.
    SqliteShadow,
    /// fjall used directly: one key per row and per index entry, hard deletes.
    FjallRaw,
    /// sled used directly, the same keys.
    SledRaw,
    /// redb used directly, the same keys.
    RedbRaw,
}

impl System {
    /// The system's name in tables, plots and `results.json`.
    pub fn name(&self) -> &str {
        match self {
            System::Lazarus { name, .. } => name,
            System::SqliteSoftDelete => "sqlite-soft-delete",
            System::SqliteShadow => "sqlite-shadow",
            System::FjallRaw => "fjall-raw",
            System::SledRaw => "sled-raw",
            System::RedbRaw => "redb-raw",
        }
    }

    /// True for lazarusdb on any engine.
    pub fn is_ours(&self) -> bool {
        matches!(self, System::Lazarus { .. })
    }
}

/// Every system, in report order: lazarusdb (the default engine), our second engine(s), then
/// the competitors.
pub fn systems() -> Vec<System> {
    let default = EngineKind::default();
    let mut out = vec![System::Lazarus {
        name: LAZARUSDB.to_string(),
        engine: default,
    }];
    for (name, engine) in OUR_ENGINES {
        if *engine != default {
            out.push(System::Lazarus {
                name: name.to_string(),
                engine: *engine,
            });
        }
    }
    out.extend([
        System::SqliteSoftDelete,
        System::SqliteShadow,
        System::FjallRaw,
        System::SledRaw,
        System::RedbRaw,
    ]);
    out
}

/// The names of [`systems`], in report order.
pub fn system_names() -> Vec<String> {
    systems().iter().map(|s| s.name().to_string()).collect()
}

/// How durable each commit is, like for like across systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durable {
    /// On disk when the commit returns: lazarusdb `Durability::Immediate`, SQLite WAL with
    /// `synchronous=FULL`, raw fjall `persist(SyncData)`, raw sled `flush` and an fdatasync of
    /// its data file, raw redb `Durability::Immediate`.
    Immediate,
    /// Safe from a process crash, synced later: lazarusdb `Durability::Eventual` (synced within
    /// 200 ms), SQLite WAL with `synchronous=NORMAL` (synced at checkpoints), raw fjall
    /// `persist(Buffer)`, raw sled without `flush` (its own flush every 500 ms), raw redb
    /// `Durability::None`.
    Eventual,
}

impl Durable {
    /// `immediate` or `eventual`.
    pub fn name(self) -> &'static str {
        match self {
            Durable::Immediate => "immediate",
            Durable::Eventual => "eventual",
        }
    }
}

/// The SKU of a child: 97 distinct values.
pub fn sku(id: i64) -> String {
    format!("SKU-{:06}", id % 97)
}

/// Every child's note (its length is that of a short comment).
pub const NOTE: &str = "a child row of some moderate length, like a comment";

/// A child row as a typed struct (what `get_as` and SQLite's typed read fill).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Child {
    /// Primary key.
    pub id: i64,
    /// The parent's id.
    pub parent_id: i64,
    /// The indexed SKU.
    pub sku: String,
    /// Some text.
    pub note: String,
}

/// What undoes a cascading delete: lazarusdb's deletion id; nothing for the others, which
/// restore by parent id (or cannot restore).
pub type Handle = Option<uuid::Uuid>;

/// The operations every workload needs. A system that cannot do one says so (`None` or
/// `false`), and its cell in the results is left empty.
pub trait Target {
    /// Inserts parents and children, in one transaction.
    fn insert(&mut self, parents: &[i64], children: &[(i64, i64)]) -> Result<()>;
    /// Deletes these children, each as its own deletion, in one transaction.
    fn delete_children(&mut self, ids: &[i64]) -> Result<()>;
    /// Reads every live child in key order, each materialized; returns how many.
    fn scan(&mut self) -> Result<usize>;
    /// Reads the live children of a parent through the foreign key; returns how many.
    fn children(&mut self, parent: i64) -> Result<usize>;
    /// Reads one live child (untyped, as the system's dynamic values); true when found.
    fn get(&mut self, id: i64) -> Result<bool>;
    /// Reads one live child into [`Child`]; `None` when the system has no typed read.
    fn get_typed(&mut self, _id: i64) -> Result<Option<bool>> {
        Ok(None)
    }
    /// Deletes a parent and its children, as one deletion in one transaction.
    fn delete_parent(&mut self, id: i64) -> Result<Handle>;
    /// Brings back what [`Target::delete_parent`] deleted; false when the system cannot.
    fn restore(&mut self, parent: i64, handle: Handle) -> Result<bool>;
    /// Closes cleanly.
    fn close(self: Box<Self>) -> Result<()>;
    /// Compacts the files (lazarusdb `compact`, SQLite `VACUUM`, fjall major compaction, redb
    /// compaction; sled has none), then closes.
    fn compact_and_close(self: Box<Self>) -> Result<()>;
}

/// Opens (creating when missing) the store of `system` in `dir`, with the two tables.
pub fn open(system: &System, dir: &Path, durable: Durable) -> Result<Box<dyn Target>> {
    Ok(match system {
        System::Lazarus { engine, .. } => Box::new(Lazarus::open(dir, *engine, durable)?),
        System::SqliteSoftDelete => Box::new(Sqlite::open(dir, false, durable)?),
        System::SqliteShadow => Box::new(Sqlite::open(dir, true, durable)?),
        System::FjallRaw => Box::new(Raw::new(Box::new(FjallKv::open(dir)?), durable)),
        System::SledRaw => Box::new(Raw::new(Box::new(SledKv::open(dir)?), durable)),
        System::RedbRaw => Box::new(Raw::new(Box::new(RedbKv::open(dir)?), durable)),
    })
}

/// Times opening the existing store of `system` in `dir`, closed cleanly before: the call that
/// opens it (for SQLite, also preparing a statement, which reads the schema), nothing after.
/// The store is closed again, untimed.
pub fn time_open(system: &System, dir: &Path) -> Result<Duration> {
    let start = Instant::now();
    match system {
        System::Lazarus { .. } => {
            let db = Db::open(lazarus_path(dir))?;
            let took = start.elapsed();
            db.close()?;
            Ok(took)
        }
        System::SqliteSoftDelete | System::SqliteShadow => {
            let conn = Connection::open(dir.join("sqlite.db"))?;
            conn.prepare("SELECT note FROM child WHERE id = ?1")?;
            Ok(start.elapsed())
        }
        System::FjallRaw => {
            let kv = FjallKv::open(dir)?;
            let took = start.elapsed();
            drop(kv);
            Ok(took)
        }
        System::SledRaw => {
            let kv = SledKv::open(dir)?;
            let took = start.elapsed();
            drop(kv);
            Ok(took)
        }
        System::RedbRaw => {
            let kv = RedbKv::open(dir)?;
            let took = start.elapsed();
            drop(kv);
            Ok(took)
        }
    }
}

/// The folder of the lazarusdb store in a system's folder.
pub fn lazarus_path(dir: &Path) -> PathBuf {
    dir.join("store")
}

// lazarusdb ----------------------------------------------------------------------------------

/// lazarusdb on one engine.
pub struct Lazarus {
    /// The store.
    pub db: Db,
}

impl Lazarus {
    /// Opens (creating when missing) the store in `dir` with the two tables.
    pub fn open(dir: &Path, engine: EngineKind, durable: Durable) -> Result<Lazarus> {
        let durability = match durable {
            Durable::Immediate => Durability::Immediate,
            Durable::Eventual => Durability::Eventual,
        };
        let db = Db::open_with(
            lazarus_path(dir),
            Options::default().engine(engine).durability(durability),
        )?;
        let tables = db.tables()?;
        if !tables.iter().any(|t| t == "parent") {
            db.create_table(
                TableBuilder::new("parent")
                    .column(("id", ColumnType::Int))
                    .column(("name", ColumnType::Text))
                    .primary_key("id"),
            )?;
        }
        if !tables.iter().any(|t| t == "child") {
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
        }
        Ok(Lazarus { db })
    }

    /// Updates the note of these children, in one transaction.
    pub fn update_children(&self, ids: &[i64], version: u64) -> Result<()> {
        let note = format!("{NOTE}, version {version}");
        self.db.transaction(|tx| {
            for id in ids {
                tx.update("child", *id, Row::new().with("note", note.as_str()))?;
            }
            Ok::<_, lazarusdb::Error>(())
        })?;
        Ok(())
    }
}

/// Reads every live child through `r` (the store, or a view as of a past point), one row at a
/// time as SQLite's rows are read (`Readable::scan_each`); returns how many.
pub fn scan_children(r: &impl Readable) -> Result<usize> {
    let n = r.scan_each("child", Scan::all(), |row| {
        std::hint::black_box(row);
        true
    })?;
    usize::try_from(n).map_err(|_| BenchError::Unexpected(format!("{n} rows scanned")))
}

/// Reads the live children of one parent through `r` (the store, or a view as of a past
/// point), one row at a time as SQLite's rows are read (`Readable::children_each`); returns
/// how many.
pub fn children_of(r: &impl Readable, parent: i64) -> Result<usize> {
    let n = r.children_each("parent", parent, "child", |row| {
        std::hint::black_box(row);
        true
    })?;
    usize::try_from(n).map_err(|_| BenchError::Unexpected(format!("{n} children read")))
}

impl Target for Lazarus {
    fn insert(&mut self, parents: &[i64], children: &[(i64, i64)]) -> Result<()> {
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
            Ok::<_, lazarusdb::Error>(())
        })?;
        Ok(())
    }

    fn delete_children(&mut self, ids: &[i64]) -> Result<()> {
        self.db.transaction(|tx| {
            for id in ids {
                tx.delete("child", *id)?;
            }
            Ok::<_, lazarusdb::Error>(())
        })?;
        Ok(())
    }

    fn scan(&mut self) -> Result<usize> {
        scan_children(&self.db)
    }

    fn children(&mut self, parent: i64) -> Result<usize> {
        children_of(&self.db, parent)
    }

    fn get(&mut self, id: i64) -> Result<bool> {
        Ok(self.db.get("child", id)?.is_some())
    }

    fn get_typed(&mut self, id: i64) -> Result<Option<bool>> {
        Ok(Some(self.db.get_as::<Child>("child", id)?.is_some()))
    }

    fn delete_parent(&mut self, id: i64) -> Result<Handle> {
        Ok(Some(self.db.delete("parent", id)?.deletion))
    }

    fn restore(&mut self, _parent: i64, handle: Handle) -> Result<bool> {
        let Some(deletion) = handle else {
            return Err(BenchError::Unexpected(
                "a restore without its deletion".into(),
            ));
        };
        self.db.restore(deletion, RestorePolicy::Refuse)?;
        Ok(true)
    }

    fn close(self: Box<Self>) -> Result<()> {
        Ok(self.db.close()?)
    }

    fn compact_and_close(self: Box<Self>) -> Result<()> {
        let (db, _) = self.db.compact(|_| {})?;
        Ok(db.close()?)
    }
}

// SQLite ------------------------------------------------------------------------------------

/// SQLite in WAL mode, with an `is_deleted` flag or with shadow tables.
pub struct Sqlite {
    /// The connection.
    pub conn: Connection,
    shadow: bool,
}

impl Sqlite {
    /// Opens (creating when missing) `sqlite.db` in `dir` with the two tables: `shadow` for
    /// `_deleted` shadow tables, else an `is_deleted` column and partial indexes.
    pub fn open(dir: &Path, shadow: bool, durable: Durable) -> Result<Sqlite> {
        let conn = Connection::open(dir.join("sqlite.db"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(
            None,
            "synchronous",
            match durable {
                Durable::Immediate => "FULL",
                Durable::Eventual => "NORMAL",
            },
        )?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let flag = if shadow {
            ""
        } else {
            ", is_deleted INTEGER NOT NULL DEFAULT 0"
        };
        let live = if shadow { "" } else { " WHERE is_deleted = 0" };
        let mut sql = format!(
            "CREATE TABLE IF NOT EXISTS parent (id INTEGER PRIMARY KEY, name TEXT NOT NULL{flag});
             CREATE TABLE IF NOT EXISTS child (id INTEGER PRIMARY KEY,
                 parent_id INTEGER NOT NULL REFERENCES parent(id),
                 sku TEXT NOT NULL, note TEXT NOT NULL{flag});
             CREATE INDEX IF NOT EXISTS child_parent ON child(parent_id){live};
             CREATE INDEX IF NOT EXISTS child_sku ON child(sku){live};"
        );
        if shadow {
            sql.push_str(
                "CREATE TABLE IF NOT EXISTS parent_deleted (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
                 CREATE TABLE IF NOT EXISTS child_deleted (id INTEGER PRIMARY KEY,
                     parent_id INTEGER NOT NULL, sku TEXT NOT NULL, note TEXT NOT NULL);
                 CREATE INDEX IF NOT EXISTS child_deleted_parent ON child_deleted(parent_id);",
            );
        }
        conn.execute_batch(&sql)?;
        Ok(Sqlite { conn, shadow })
    }

    /// Updates the note of these live children, in one transaction (as
    /// [`Lazarus::update_children`] does).
    pub fn update_children(&mut self, ids: &[i64], version: u64) -> Result<()> {
        let note = format!("{NOTE}, version {version}");
        let sql = self.live("UPDATE child SET note = ?1 WHERE id = ?2");
        let tx = self.conn.transaction()?;
        {
            let mut up = tx.prepare_cached(&sql)?;
            for id in ids {
                up.execute(params![note, id])?;
            }
        }
        Ok(tx.commit()?)
    }

    /// `sql` with the live-row filter appended (`AND is_deleted = 0`) unless shadow tables.
    fn live(&self, sql: &str) -> String {
        if self.shadow {
            sql.to_string()
        } else {
            format!("{sql} AND is_deleted = 0")
        }
    }
}

impl Target for Sqlite {
    fn insert(&mut self, parents: &[i64], children: &[(i64, i64)]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut p = tx.prepare_cached("INSERT INTO parent (id, name) VALUES (?1, ?2)")?;
            for id in parents {
                p.execute(params![id, "a parent row"])?;
            }
            let mut c = tx.prepare_cached(
                "INSERT INTO child (id, parent_id, sku, note) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (id, p) in children {
                c.execute(params![id, p, sku(*id), NOTE])?;
            }
        }
        Ok(tx.commit()?)
    }

    fn delete_children(&mut self, ids: &[i64]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            if self.shadow {
                let mut copy = tx.prepare_cached(
                    "INSERT INTO child_deleted SELECT * FROM child WHERE id = ?1",
                )?;
                let mut del = tx.prepare_cached("DELETE FROM child WHERE id = ?1")?;
                for id in ids {
                    copy.execute([id])?;
                    del.execute([id])?;
                }
            } else {
                let mut st = tx.prepare_cached(
                    "UPDATE child SET is_deleted = 1 WHERE id = ?1 AND is_deleted = 0",
                )?;
                for id in ids {
                    st.execute([id])?;
                }
            }
        }
        Ok(tx.commit()?)
    }

    fn scan(&mut self) -> Result<usize> {
        let sql = if self.shadow {
            "SELECT id, parent_id, sku, note FROM child ORDER BY id"
        } else {
            "SELECT id, parent_id, sku, note FROM child WHERE is_deleted = 0 ORDER BY id"
        };
        let mut st = self.conn.prepare_cached(sql)?;
        let mut rows = st.query([])?;
        let mut n = 0;
        while let Some(r) = rows.next()? {
            let row = (
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            );
            std::hint::black_box(row);
            n += 1;
        }
        Ok(n)
    }

    fn children(&mut self, parent: i64) -> Result<usize> {
        let sql = self.live("SELECT id, parent_id, sku, note FROM child WHERE parent_id = ?1");
        let mut st = self.conn.prepare_cached(&sql)?;
        let rows = st.query_map([parent], |r| {
            Ok(Child {
                id: r.get(0)?,
                parent_id: r.get(1)?,
                sku: r.get(2)?,
                note: r.get(3)?,
            })
        })?;
        let mut n = 0;
        for row in rows {
            std::hint::black_box(row?);
            n += 1;
        }
        Ok(n)
    }

    fn get(&mut self, id: i64) -> Result<bool> {
        let sql = self.live("SELECT id, parent_id, sku, note FROM child WHERE id = ?1");
        let mut st = self.conn.prepare_cached(&sql)?;
        let row = st
            .query_row([id], |r| {
                (0..4)
                    .map(|i| r.get::<_, rusqlite::types::Value>(i))
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .optional()?;
        Ok(row.is_some())
    }

    fn get_typed(&mut self, id: i64) -> Result<Option<bool>> {
        let sql = self.live("SELECT id, parent_id, sku, note FROM child WHERE id = ?1");
        let mut st = self.conn.prepare_cached(&sql)?;
        let row = st
            .query_row([id], |r| {
                Ok(Child {
                    id: r.get(0)?,
                    parent_id: r.get(1)?,
                    sku: r.get(2)?,
                    note: r.get(3)?,
                })
            })
            .optional()?;
        Ok(Some(row.is_some()))
    }

    fn delete_parent(&mut self, id: i64) -> Result<Handle> {
        let tx = self.conn.transaction()?;
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
            tx.prepare_cached(s)?.execute([id])?;
        }
        tx.commit()?;
        Ok(None)
    }

    fn restore(&mut self, parent: i64, _handle: Handle) -> Result<bool> {
        let tx = self.conn.transaction()?;
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
            tx.prepare_cached(s)?.execute([parent])?;
        }
        tx.commit()?;
        Ok(true)
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.conn.close().map_err(|(_, e)| BenchError::Sqlite(e))
    }

    fn compact_and_close(self: Box<Self>) -> Result<()> {
        self.conn.execute_batch("VACUUM;")?;
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        self.close()
    }
}

// Raw engines ---------------------------------------------------------------------------------

/// What a prefix walk calls on each key and value.
pub type Visit<'a> = &'a mut dyn FnMut(&[u8], &[u8]) -> Result<()>;

/// The key-value operations the raw systems need.
pub trait Kv: Send + Sync {
    /// Writes puts and deletes as one atomic batch, durable as asked.
    fn write(
        &self,
        puts: Vec<(Vec<u8>, Vec<u8>)>,
        deletes: Vec<Vec<u8>>,
        durable: Durable,
    ) -> Result<()>;
    /// One value.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Calls `each` on every key and value under `prefix`, in key order.
    fn prefix(&self, prefix: &[u8], each: Visit<'_>) -> Result<()>;
    /// Compacts the files, where the engine can.
    fn compact(&mut self) -> Result<()>;
}

/// fjall used directly: one keyspace.
pub struct FjallKv {
    db: fjall::Database,
    ks: fjall::Keyspace,
}

impl FjallKv {
    /// Opens (creating when missing) `fjall/` in `dir`.
    pub fn open(dir: &Path) -> Result<FjallKv> {
        let db = fjall::Database::builder(dir.join("fjall")).open()?;
        let ks = db.keyspace("data", fjall::KeyspaceCreateOptions::default)?;
        Ok(FjallKv { db, ks })
    }
}

impl Kv for FjallKv {
    fn write(
        &self,
        puts: Vec<(Vec<u8>, Vec<u8>)>,
        deletes: Vec<Vec<u8>>,
        durable: Durable,
    ) -> Result<()> {
        let mut b = self.db.batch();
        for (k, v) in puts {
            b.insert(&self.ks, k, v);
        }
        for k in deletes {
            b.remove(&self.ks, k);
        }
        b.commit()?;
        self.db.persist(match durable {
            Durable::Immediate => fjall::PersistMode::SyncData,
            Durable::Eventual => fjall::PersistMode::Buffer,
        })?;
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.ks.get(key)?.map(|v| v.to_vec()))
    }

    fn prefix(&self, prefix: &[u8], each: Visit<'_>) -> Result<()> {
        for g in self.ks.prefix(prefix) {
            let (k, v) = g.into_inner()?;
            each(&k, &v)?;
        }
        Ok(())
    }

    fn compact(&mut self) -> Result<()> {
        Ok(self.ks.major_compact()?)
    }
}

/// sled used directly. Its `flush` ends in `sync_file_range` on Linux, which is not durable, so
/// a durable write also fdatasyncs sled's data file (as lazarusdb's sled engine does).
pub struct SledKv {
    db: sled::Db,
    data: std::fs::File,
    path: PathBuf,
}

impl SledKv {
    /// Opens (creating when missing) `sled/` in `dir`.
    pub fn open(dir: &Path) -> Result<SledKv> {
        let db = sled::Config::new()
            .path(dir.join("sled"))
            .cache_capacity(64 << 20)
            .open()?;
        let path = dir.join("sled").join("db");
        let data = std::fs::File::open(&path).map_err(io(&path))?;
        Ok(SledKv { db, data, path })
    }
}

impl Kv for SledKv {
    fn write(
        &self,
        puts: Vec<(Vec<u8>, Vec<u8>)>,
        deletes: Vec<Vec<u8>>,
        durable: Durable,
    ) -> Result<()> {
        let mut b = sled::Batch::default();
        for (k, v) in puts {
            b.insert(k, v);
        }
        for k in deletes {
            b.remove(k);
        }
        self.db.apply_batch(b)?;
        if durable == Durable::Immediate {
            self.db.flush()?;
            self.data.sync_data().map_err(io(&self.path))?;
        }
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get(key)?.map(|v| v.to_vec()))
    }

    fn prefix(&self, prefix: &[u8], each: Visit<'_>) -> Result<()> {
        for item in self.db.scan_prefix(prefix) {
            let (k, v) = item?;
            each(&k, &v)?;
        }
        Ok(())
    }

    fn compact(&mut self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }
}

const REDB_TABLE: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("data");

/// redb used directly: one table.
pub struct RedbKv {
    db: redb::Database,
}

impl RedbKv {
    /// Opens (creating when missing) `redb.db` in `dir`.
    pub fn open(dir: &Path) -> Result<RedbKv> {
        let path = dir.join("redb.db");
        let db = if path.exists() {
            redb::Database::open(&path).map_err(redb)?
        } else {
            redb::Database::create(&path).map_err(redb)?
        };
        let tx = db.begin_write().map_err(redb)?;
        tx.open_table(REDB_TABLE).map_err(redb)?;
        tx.commit().map_err(redb)?;
        Ok(RedbKv { db })
    }
}

impl Kv for RedbKv {
    fn write(
        &self,
        puts: Vec<(Vec<u8>, Vec<u8>)>,
        deletes: Vec<Vec<u8>>,
        durable: Durable,
    ) -> Result<()> {
        let mut tx = self.db.begin_write().map_err(redb)?;
        tx.set_durability(match durable {
            Durable::Immediate => redb::Durability::Immediate,
            Durable::Eventual => redb::Durability::None,
        })
        .map_err(redb)?;
        {
            let mut t = tx.open_table(REDB_TABLE).map_err(redb)?;
            for (k, v) in &puts {
                t.insert(k.as_slice(), v.as_slice()).map_err(redb)?;
            }
            for k in &deletes {
                t.remove(k.as_slice()).map_err(redb)?;
            }
        }
        tx.commit().map_err(redb)
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        use redb::{ReadableDatabase, ReadableTable};
        let tx = self.db.begin_read().map_err(redb)?;
        let t = tx.open_table(REDB_TABLE).map_err(redb)?;
        let value = t.get(key).map_err(redb)?.map(|v| v.value().to_vec());
        Ok(value)
    }

    fn prefix(&self, prefix: &[u8], each: Visit<'_>) -> Result<()> {
        use redb::{ReadableDatabase, ReadableTable};
        let tx = self.db.begin_read().map_err(redb)?;
        let t = tx.open_table(REDB_TABLE).map_err(redb)?;
        for item in t.range(prefix..).map_err(redb)? {
            let (k, v) = item.map_err(redb)?;
            if !k.value().starts_with(prefix) {
                break;
            }
            each(k.value(), v.value())?;
        }
        Ok(())
    }

    fn compact(&mut self) -> Result<()> {
        self.db
            .compact(redb::CompactionMode::default())
            .map_err(redb)?;
        Ok(())
    }
}

/// A raw engine with the keys a user would hand-roll: `r p <id>` → name, `r c <id>` →
/// `parent|sku|note`, and index keys `i s <sku> 0 <id>`, `i f <parent> 0 <id>`.
pub struct Raw {
    kv: Box<dyn Kv>,
    durable: Durable,
}

impl Raw {
    /// Over one engine, every write durable as asked.
    pub fn new(kv: Box<dyn Kv>, durable: Durable) -> Raw {
        Raw { kv, durable }
    }
}

/// The key of a row of `table` (`p` or `c`).
pub fn row_key(table: u8, id: i64) -> Vec<u8> {
    let mut k = vec![b'r', table];
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// The key of an index entry: index `name` (`s` or `f`), value, row id.
fn idx_key(name: u8, val: &[u8], id: i64) -> Vec<u8> {
    let mut k = idx_prefix(name, val);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn idx_prefix(name: u8, val: &[u8]) -> Vec<u8> {
    let mut k = vec![b'i', name];
    k.extend_from_slice(val);
    k.push(0);
    k
}

/// The id at the end of a key.
fn tail_id(key: &[u8]) -> Result<i64> {
    key.get(key.len().saturating_sub(8)..)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(i64::from_be_bytes)
        .ok_or_else(|| BenchError::Unexpected("a raw key shorter than an id".into()))
}

/// Decodes a raw child value `parent|sku|note`.
fn decode_child(id: i64, v: &[u8]) -> Result<Child> {
    let text = std::str::from_utf8(v)
        .map_err(|_| BenchError::Unexpected(format!("child {id}: not UTF-8")))?;
    let mut parts = text.splitn(3, '|');
    let (Some(p), Some(s), Some(n)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(BenchError::Unexpected(format!("child {id}: malformed")));
    };
    Ok(Child {
        id,
        parent_id: p
            .parse()
            .map_err(|_| BenchError::Unexpected(format!("child {id}: bad parent")))?,
        sku: s.to_string(),
        note: n.to_string(),
    })
}

impl Raw {
    fn child_deletes(&self, id: i64, out: &mut Vec<Vec<u8>>) -> Result<()> {
        let Some(v) = self.kv.get(&row_key(b'c', id))? else {
            return Ok(());
        };
        let c = decode_child(id, &v)?;
        out.push(row_key(b'c', id));
        out.push(idx_key(b's', c.sku.as_bytes(), id));
        out.push(idx_key(b'f', &c.parent_id.to_be_bytes(), id));
        Ok(())
    }
}

impl Target for Raw {
    fn insert(&mut self, parents: &[i64], children: &[(i64, i64)]) -> Result<()> {
        let mut puts = Vec::with_capacity(parents.len() + children.len() * 3);
        for p in parents {
            puts.push((row_key(b'p', *p), b"a parent row".to_vec()));
        }
        for (c, p) in children {
            let s = sku(*c);
            puts.push((row_key(b'c', *c), format!("{p}|{s}|{NOTE}").into_bytes()));
            puts.push((idx_key(b's', s.as_bytes(), *c), Vec::new()));
            puts.push((idx_key(b'f', &p.to_be_bytes(), *c), Vec::new()));
        }
        self.kv.write(puts, Vec::new(), self.durable)
    }

    fn delete_children(&mut self, ids: &[i64]) -> Result<()> {
        let mut deletes = Vec::with_capacity(ids.len() * 3);
        for id in ids {
            self.child_deletes(*id, &mut deletes)?;
        }
        self.kv.write(Vec::new(), deletes, self.durable)
    }

    fn scan(&mut self) -> Result<usize> {
        let mut n = 0;
        self.kv.prefix(b"rc", &mut |k, v| {
            std::hint::black_box(decode_child(tail_id(k)?, v)?);
            n += 1;
            Ok(())
        })?;
        Ok(n)
    }

    fn children(&mut self, parent: i64) -> Result<usize> {
        let mut ids = Vec::new();
        self.kv
            .prefix(&idx_prefix(b'f', &parent.to_be_bytes()), &mut |k, _| {
                ids.push(tail_id(k)?);
                Ok(())
            })?;
        let mut n = 0;
        for id in ids {
            if let Some(v) = self.kv.get(&row_key(b'c', id))? {
                std::hint::black_box(decode_child(id, &v)?);
                n += 1;
            }
        }
        Ok(n)
    }

    fn get(&mut self, id: i64) -> Result<bool> {
        Ok(std::hint::black_box(self.kv.get(&row_key(b'c', id))?).is_some())
    }

    fn delete_parent(&mut self, id: i64) -> Result<Handle> {
        let mut ids = Vec::new();
        self.kv
            .prefix(&idx_prefix(b'f', &id.to_be_bytes()), &mut |k, _| {
                ids.push(tail_id(k)?);
                Ok(())
            })?;
        let mut deletes = vec![row_key(b'p', id)];
        for c in ids {
            self.child_deletes(c, &mut deletes)?;
        }
        self.kv.write(Vec::new(), deletes, self.durable)?;
        Ok(None)
    }

    fn restore(&mut self, _parent: i64, _handle: Handle) -> Result<bool> {
        Ok(false)
    }

    fn close(self: Box<Self>) -> Result<()> {
        Ok(())
    }

    fn compact_and_close(mut self: Box<Self>) -> Result<()> {
        self.kv.compact()
    }
}

// Durable single-row commits from many threads ------------------------------------------------

/// A store taking durable single-row commits from any thread.
pub struct Committer {
    commit: Box<dyn Fn() -> Result<()> + Send + Sync>,
}

impl Committer {
    /// Commits one row, durably.
    pub fn commit(&self) -> Result<()> {
        (self.commit)()
    }
}

/// Opens a fresh store of `system` in `dir` for durable single-row commits: lazarusdb
/// `Immediate` (commits share syncs), SQLite WAL `synchronous=FULL` (one connection behind a
/// mutex: SQLite runs one write transaction at a time), raw engines a one-key batch synced.
pub fn committer(system: &System, dir: &Path) -> Result<Committer> {
    const BODY: &str = "a small durable event";
    Ok(match system {
        System::Lazarus { engine, .. } => {
            let db = Db::open_with(lazarus_path(dir), Options::default().engine(*engine))?;
            db.create_table(
                TableBuilder::new("event")
                    .column(("id", ColumnType::Int))
                    .column(("body", ColumnType::Text))
                    .primary_key("id"),
            )?;
            Committer {
                commit: Box::new(move || {
                    db.insert("event", Row::new().with("body", BODY))?;
                    Ok(())
                }),
            }
        }
        System::SqliteSoftDelete | System::SqliteShadow => {
            let conn = Connection::open(dir.join("sqlite.db"))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            conn.execute_batch("CREATE TABLE event (id INTEGER PRIMARY KEY, body TEXT NOT NULL);")?;
            let conn = Mutex::new(conn);
            Committer {
                commit: Box::new(move || {
                    let conn = conn.lock().unwrap_or_else(|e| e.into_inner());
                    conn.prepare_cached("INSERT INTO event (body) VALUES (?1)")?
                        .execute([BODY])?;
                    Ok(())
                }),
            }
        }
        System::FjallRaw | System::SledRaw | System::RedbRaw => {
            let kv: Arc<dyn Kv> = match system {
                System::FjallRaw => Arc::new(FjallKv::open(dir)?),
                System::SledRaw => Arc::new(SledKv::open(dir)?),
                _ => Arc::new(RedbKv::open(dir)?),
            };
            let next = AtomicI64::new(1);
            Committer {
                commit: Box::new(move || {
                    let id = next.fetch_add(1, Ordering::Relaxed);
                    kv.write(
                        vec![(row_key(b'e', id), BODY.as_bytes().to_vec())],
                        Vec::new(),
                        Durable::Immediate,
                    )
                }),
            }
        }
    })
}
