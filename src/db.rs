//! The store: opening and creating it on disk, transactions, and the store-wide operations
//! (history, the log stream, verify, rebuild, statistics).
//!
//! A store is a folder:
//!
//! ```text
//! <path>/LAZARUS   marker: "lazarusdb store", the format version, the engine (text)
//! <path>/data/     the engine's files
//! ```
//!
//! Opening a path that holds something else (a plain file, a non-empty folder without the
//! marker) is an error and changes nothing there; so is a store of a newer format, or a store
//! created with another engine than the one asked for.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use uuid::Uuid;

use crate::as_of::{self, AsOf, At};
use crate::codec::{self, Space};
use crate::compact::{CompactProgress, CompactReport};
use crate::error::{Error, Result};
use crate::log::{self, EventBody, TxRecord};
use crate::purge::{PurgeReport, Retention, RetentionDue, RetentionReport};
use crate::read::{pk_enc, ReadCtx, Readable, ViewRef};
use crate::restore::{RestorePlan, RestorePolicy};
use crate::restore_to::{self, RewindPlan, RowDiff, Scope};
use crate::schema::{Catalog, ColumnDef, TableSpec};
use crate::storage::memory::MemoryEngine;
use crate::storage::overlay::{LayeredView, Overlay};
use crate::storage::EngineKind;
use crate::store::{write_hwm, Inner, Options};
use crate::txn::{DeleteReport, Transaction};
use crate::value::{Row, Timestamp, Value};
use crate::views::{self, VerifyReport};

/// An open store.
///
/// ```
/// use lazarusdb::{ColumnType, Db, Readable, Row, TableBuilder};
/// let db = Db::memory()?;
/// db.create_table(TableBuilder::new("note").column(("id", ColumnType::Int))
///     .column(("text", ColumnType::Text)).primary_key("id"))?;
/// let row = db.insert("note", Row::new().with("text", "hello"))?;
/// assert_eq!(row.get("id"), Some(&1.into()));
/// assert_eq!(db.get("note", 1)?.unwrap().get("text"), Some(&"hello".into()));
/// # Ok::<(), lazarusdb::Error>(())
/// ```
pub struct Db {
    inner: Inner,
}

/// The kind of a change in the history or the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// A row was inserted.
    Insert,
    /// A row was updated.
    Update,
    /// A row was tombstoned.
    Delete,
    /// A row was restored.
    Restore,
    /// Row images were purged: a row's purge, a deletion leaving the trash for good, or old
    /// versions of a table dropped by retention.
    Purge,
    /// A version whose image was purged (it says what happened, never the values).
    Purged,
    /// The schema or a retention policy changed.
    Schema,
}

impl ChangeKind {
    /// The lower-case name (`insert`, `update`, `delete`, `restore`, `purge`, `purged`,
    /// `schema`).
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::Insert => "insert",
            ChangeKind::Update => "update",
            ChangeKind::Delete => "delete",
            ChangeKind::Restore => "restore",
            ChangeKind::Purge => "purge",
            ChangeKind::Purged => "purged",
            ChangeKind::Schema => "schema",
        }
    }
}

/// One event as the history and the log stream present it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Its LSN.
    pub lsn: u64,
    /// Its transaction.
    pub tx: u64,
    /// When its transaction committed.
    pub at: Timestamp,
    /// Who, if recorded.
    pub actor: Option<String>,
    /// Why, if recorded.
    pub reason: Option<String>,
    /// What kind of change.
    pub kind: ChangeKind,
    /// The table concerned (for schema events: the first table concerned).
    pub table: Option<String>,
    /// Every table concerned: the tables a schema event created (one event creates all the
    /// tables of one schema apply), else the one in `table`.
    pub tables: Vec<String>,
    /// The row's primary key (row events).
    pub pk: Option<Value>,
    /// The row image written (insert, update, restore), in today's columns.
    pub row: Option<Row>,
    /// The deletion (tombstones and restores).
    pub deletion: Option<Uuid>,
}

/// Who makes a change and why, recorded with its transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audit {
    /// Who.
    pub actor: Option<String>,
    /// Why.
    pub reason: Option<String>,
}

impl Audit {
    /// A change by `actor`.
    pub fn by(actor: impl Into<String>) -> Audit {
        Audit {
            actor: Some(actor.into()),
            reason: None,
        }
    }

    /// Adds the reason.
    pub fn because(mut self, reason: impl Into<String>) -> Audit {
        self.reason = Some(reason.into());
        self
    }

    fn apply(&self, tx: &mut Transaction<'_>) {
        if let Some(a) = &self.actor {
            tx.set_actor(a.clone());
        }
        if let Some(r) = &self.reason {
            tx.set_reason(r.clone());
        }
    }
}

/// Store statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// The engine.
    pub engine: EngineKind,
    /// The last LSN written (0 for an empty store).
    pub last_lsn: u64,
    /// The last transaction id (0 for an empty store).
    pub last_tx: u64,
    /// Live rows per table.
    pub tables: Vec<(String, u64)>,
    /// Bytes the store's folder takes on disk: the blocks allocated to every file in it (the
    /// engine's, the checkpoint's and lazarusdb's own), as `du` counts them; for a memory
    /// store, what the engine holds.
    pub disk_bytes: u64,
    /// Deletions in the trash.
    pub deletions: u64,
    /// Bytes (keys and values) of the live views: rows and indexes.
    pub live_bytes: u64,
    /// Bytes of the history: the log, transaction records and the version index.
    pub history_bytes: u64,
    /// Bytes of the trash views and store metadata.
    pub trash_bytes: u64,
    /// Disk bytes beyond the bytes of every key and value: an estimate of what `compact` can
    /// give back (obsolete engine files, purged and overwritten data, journals). The engines'
    /// own per-key overhead is counted in it too, so it never reaches zero.
    pub reclaimable_bytes: u64,
}

impl Db {
    /// Opens the store at `path`, creating it (with the fjall engine) if the path does not exist
    /// or is an empty folder.
    pub fn open(path: impl AsRef<Path>) -> Result<Db> {
        Db::open_with(path, Options::default())
    }

    /// Opens or creates the store at `path` with options.
    pub fn open_with(path: impl AsRef<Path>, options: Options) -> Result<Db> {
        Ok(Db {
            inner: Inner::open(path.as_ref(), options, None)?,
        })
    }

    /// A new store in memory (nothing reaches disk).
    pub fn memory() -> Result<Db> {
        Db::memory_with(Options::default())
    }

    /// A new store in memory with options (the engine option is ignored).
    pub fn memory_with(options: Options) -> Result<Db> {
        Ok(Db {
            inner: Inner::start(Arc::new(MemoryEngine::new()), options, None, None)?,
        })
    }

    /// Opens (or creates) the store held in the schema `store` of the PostgreSQL database at
    /// `url` (`postgres://USER@HOST:PORT/DATABASE`): the same store, semantics and API on a
    /// database server (feature `postgres`). One process opens a store at a time.
    ///
    /// Every commit is acknowledged once PostgreSQL committed it (`synchronous_commit=on`); a
    /// server that cannot be reached fails within about 10 s, one that stops answering within
    /// about 30 s, with [`Error::Storage`].
    #[cfg(feature = "postgres")]
    pub fn open_postgres(url: &str, store: &str) -> Result<Db> {
        Db::open_postgres_with(url, store, Options::default())
    }

    /// [`Db::open_postgres`] with options (the engine option is ignored).
    #[cfg(feature = "postgres")]
    pub fn open_postgres_with(url: &str, store: &str, options: Options) -> Result<Db> {
        let engine = crate::storage::postgres::PostgresEngine::open(url, store)?;
        Ok(Db {
            inner: Inner::start(Arc::new(engine), options, None, None)?,
        })
    }

    /// A new store on the default engine in a temporary folder, removed when the store is dropped.
    pub fn temporary() -> Result<Db> {
        Db::temporary_with(Options::default())
    }

    /// A temporary store with options.
    pub fn temporary_with(options: Options) -> Result<Db> {
        let temp = tempfile::Builder::new()
            .prefix("lazarus-")
            .tempdir()
            .map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let path = temp.path().join("store");
        let mut db = Db::open_with(&path, options)?;
        db.inner._temp = Some(temp);
        Ok(db)
    }

    /// The store's folder (`None` in memory).
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// The engine the store runs on.
    pub fn engine(&self) -> EngineKind {
        self.inner.engine.kind()
    }

    /// Begins a write transaction, waiting for the current writer (if any) to finish.
    ///
    /// Errors with [`Error::NestedTransaction`] when this thread already holds one.
    pub fn begin(&self) -> Result<Transaction<'_>> {
        let me = std::thread::current().id();
        if *self.inner.owner.lock() == Some(me) {
            return Err(Error::NestedTransaction);
        }
        if let Some(why) = self.inner.pipeline.poisoned() {
            return Err(Error::Poisoned(why));
        }
        let mut state = self.inner.writer.lock();
        *self.inner.owner.lock() = Some(me);
        // a store other processes write too: their writers take turns with ours
        let xlock = match self.inner.engine.lock_writes() {
            Ok(l) => l,
            Err(e) => {
                self.inner.release_writer();
                return Err(e);
            }
        };
        let mut catalog = self.inner.catalog.read().clone();
        // The batches still on their way to the engine first, then the engine view: a batch
        // applied in between shows in both (harmless), none is missed.
        let layers = self.inner.pipeline.pending();
        let opened = if xlock.is_some() {
            self.inner.engine.read_for_writer()
        } else {
            self.inner.engine.read()
        };
        let view = match opened {
            Ok(v) => v,
            Err(e) => {
                self.inner.release_writer();
                return Err(e);
            }
        };
        if xlock.is_some() {
            // under the lock, what the other processes committed: the log's positions and
            // the catalog
            match self.inner.catch_up_shared(view.as_ref(), &mut state) {
                Ok(fresh) => catalog = fresh,
                Err(e) => {
                    self.inner.release_writer();
                    return Err(e);
                }
            }
        }
        let base: Box<dyn crate::storage::ReadView + '_> = if layers.is_empty() {
            view
        } else {
            Box::new(LayeredView::new(view, layers))
        };
        Ok(Transaction::new(
            &self.inner,
            state,
            Overlay::new(base),
            catalog,
            xlock,
        ))
    }

    /// Runs `f` in a transaction and commits it when `f` returns `Ok`; when `f` returns an error
    /// nothing is written and the error is returned.
    ///
    /// ```
    /// # use lazarusdb::{ColumnType, Db, Readable, Row, TableBuilder};
    /// # let db = Db::memory()?;
    /// # db.create_table(TableBuilder::new("t").column(("id", ColumnType::Int)).primary_key("id"))?;
    /// db.transaction(|tx| {
    ///     tx.insert("t", Row::new().with("id", 1))?;
    ///     tx.insert("t", Row::new().with("id", 2))?;
    ///     Ok::<_, lazarusdb::Error>(())
    /// })?;
    /// assert_eq!(db.count("t")?, 2);
    /// # Ok::<(), lazarusdb::Error>(())
    /// ```
    pub fn transaction<T, E: From<Error>>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let mut tx = self.begin()?;
        let out = f(&mut tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// [`Db::transaction`] recording who makes it and why (`audit`) with the transaction.
    ///
    /// ```
    /// # use lazarusdb::{Audit, ColumnType, Db, Row, TableBuilder};
    /// # let db = Db::memory()?;
    /// # db.create_table(TableBuilder::new("t").column(("id", ColumnType::Int)).primary_key("id"))?;
    /// db.transaction_as(&Audit::by("alice").because("import"), |tx| {
    ///     tx.insert("t", Row::new().with("id", 1))
    /// })?;
    /// assert_eq!(db.changes(1, None)?.last().unwrap().actor.as_deref(), Some("alice"));
    /// # Ok::<(), lazarusdb::Error>(())
    /// ```
    pub fn transaction_as<T, E: From<Error>>(
        &self,
        audit: &Audit,
        f: impl FnOnce(&mut Transaction<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.transaction(|tx| {
            audit.apply(tx);
            f(tx)
        })
    }

    /// Runs `f` in a transaction and throws the transaction away: what `f` returns is what it
    /// would have done, and nothing is written. The dry run of an operation that cannot be
    /// undone (a purge, an erase, a history prune) is its preview: the same code on the same
    /// state, so the report is exact.
    ///
    /// ```
    /// # use lazarusdb::{Audit, ColumnType, Db, Readable, Row, TableBuilder};
    /// # let db = Db::memory()?;
    /// # db.create_table(TableBuilder::new("t").column(("id", ColumnType::Int)).primary_key("id"))?;
    /// db.insert("t", Row::new().with("id", 1))?;
    /// let report = db.preview(|tx| tx.erase("t", 1))?;
    /// assert_eq!(report.rows.len(), 1);
    /// assert_eq!(db.count("t")?, 1, "nothing was erased");
    /// # Ok::<(), lazarusdb::Error>(())
    /// ```
    pub fn preview<T, E: From<Error>>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let mut tx = self.begin()?;
        let out = f(&mut tx);
        drop(tx);
        out
    }

    /// Creates one table (its own transaction).
    pub fn create_table(&self, spec: impl Into<TableSpec>) -> Result<()> {
        let spec = spec.into();
        self.transaction(|tx| tx.create_table(spec))
    }

    /// Applies a schema (from [`crate::parse_schema_file`] or builders): creates new tables and
    /// extends existing ones, in one transaction.
    pub fn apply_schema(&self, specs: &[TableSpec]) -> Result<()> {
        self.transaction(|tx| tx.apply_schema(specs))
    }

    /// Applies a JSON schema file (tables and retention settings, see
    /// [`crate::schema::parse_schema_document`]) in one transaction.
    pub fn apply_schema_file(&self, text: &str) -> Result<crate::schema::SchemaFile> {
        let doc = crate::schema::parse_schema_document(text)?;
        self.transaction(|tx| tx.apply_schema_document(&doc))?;
        Ok(doc)
    }

    /// Appends a column to a table (its own transaction).
    pub fn add_column(&self, table: &str, column: impl Into<ColumnDef>) -> Result<()> {
        let column = column.into();
        self.transaction(|tx| tx.add_column(table, column))
    }

    /// Adds an index or unique constraint (its own transaction).
    pub fn add_index(&self, table: &str, columns: &[&str], unique: bool) -> Result<()> {
        self.transaction(|tx| tx.add_index(table, columns, unique))
    }

    /// Inserts one row in its own transaction and returns it as stored.
    pub fn insert(&self, table: &str, row: Row) -> Result<Row> {
        self.transaction(|tx| tx.insert(table, row))
    }

    /// Inserts a `serde` value in its own transaction.
    pub fn insert_as<T: serde::Serialize>(&self, table: &str, value: &T) -> Result<Row> {
        self.transaction(|tx| tx.insert_as(table, value))
    }

    /// Updates columns of one row in its own transaction and returns the new row.
    pub fn update(&self, table: &str, pk: impl Into<Value>, changes: Row) -> Result<Row> {
        let pk = pk.into();
        self.transaction(|tx| tx.update(table, pk, changes))
    }

    /// Deletes a row with its cascade as one deletion, in its own transaction (see
    /// [`Transaction::delete`]).
    pub fn delete(&self, table: &str, pk: impl Into<Value>) -> Result<DeleteReport> {
        self.delete_with(table, pk, &Audit::default())
    }

    /// [`Db::delete`] recording who and why.
    pub fn delete_with(
        &self,
        table: &str,
        pk: impl Into<Value>,
        audit: &Audit,
    ) -> Result<DeleteReport> {
        let pk = pk.into();
        self.transaction_as(audit, |tx| tx.delete(table, pk))
    }

    /// Deletes several rows of one table (with their cascades) as one deletion.
    pub fn delete_many(&self, table: &str, pks: Vec<Value>, audit: &Audit) -> Result<DeleteReport> {
        self.transaction_as(audit, |tx| tx.delete_many(table, pks))
    }

    /// Restores a deletion in its own transaction (see [`Transaction::restore`]).
    pub fn restore(&self, deletion: Uuid, policy: RestorePolicy) -> Result<RestorePlan> {
        self.restore_with(deletion, policy, &Audit::default())
    }

    /// [`Db::restore`] recording who and why.
    pub fn restore_with(
        &self,
        deletion: Uuid,
        policy: RestorePolicy,
        audit: &Audit,
    ) -> Result<RestorePlan> {
        self.transaction_as(audit, |tx| tx.restore(deletion, policy))
    }

    /// Restores one trashed row of a deletion (see [`Transaction::restore_row`]).
    pub fn restore_row(
        &self,
        deletion: Uuid,
        table: &str,
        pk: impl Into<Value>,
    ) -> Result<RestorePlan> {
        let pk = pk.into();
        self.transaction(|tx| tx.restore_row(deletion, table, pk))
    }

    /// Purges a deletion for good, in its own transaction (see [`Transaction::purge`]).
    pub fn purge(&self, deletion: Uuid, audit: &Audit) -> Result<PurgeReport> {
        self.transaction_as(audit, |tx| tx.purge(deletion))
    }

    /// Erases a row (live or in the trash) and every version it had, in its own transaction
    /// (see [`Transaction::erase`]).
    pub fn erase(&self, table: &str, pk: impl Into<Value>, audit: &Audit) -> Result<PurgeReport> {
        let pk = pk.into();
        self.transaction_as(audit, |tx| tx.erase(table, pk))
    }

    /// Sets the retention policy of a table, or of the store for `None` (see
    /// [`Transaction::set_retention`]).
    pub fn set_retention(&self, table: Option<&str>, policy: Retention) -> Result<()> {
        self.transaction(|tx| tx.set_retention(table, policy))
    }

    /// The retention policy in force for a table (its own, else the store's), or the store's
    /// for `None`.
    pub fn retention(&self, table: Option<&str>) -> Result<Option<Retention>> {
        let catalog = self.inner.catalog.read().clone();
        let view = self.inner.engine.read()?;
        let store = crate::records::read_retention(view.as_ref(), None)?;
        match table {
            None => Ok(store),
            Some(name) => {
                let t = catalog.table(name)?;
                Ok(crate::records::read_retention(view.as_ref(), Some(t.id()))?.or(store))
            }
        }
    }

    /// Purges every deletion in the trash made more than `secs` seconds ago (one transaction
    /// each), oldest first: the deletions [`Db::deletions_older_than`] lists.
    pub fn purge_older_than(&self, secs: u64, audit: &Audit) -> Result<Vec<PurgeReport>> {
        self.deletions_older_than(secs)?
            .into_iter()
            .map(|d| self.purge(d, audit))
            .collect()
    }

    /// The deletion a person names: a whole id, or the end of one — at least 6 hex digits (with
    /// or without dashes, any case) that end exactly one deletion's id among those the store
    /// keeps (in the trash or restored; a purged deletion is gone). A deletion id begins with
    /// the time it was made, so ids made close together share their beginnings and differ at
    /// the end: the trash lists the last 8 digits. Ambiguity is an error listing the
    /// candidates.
    pub fn deletion_id(&self, text: &str) -> Result<Uuid> {
        if let Ok(id) = Uuid::parse_str(text.trim()) {
            return Ok(id);
        }
        let view = self.inner.engine.read()?;
        let mut ids = Vec::new();
        for item in view.range(Space::Del, Bound::Unbounded, Bound::Unbounded, false)? {
            let (k, _) = item?;
            ids.push(
                Uuid::from_slice(&k)
                    .map_err(|_| Error::corrupted("del", "a deletion key is not an id"))?,
            );
        }
        pick_by_suffix(text, &ids)
    }

    /// The deletions in the trash made more than `secs` seconds ago, oldest first: what
    /// [`Db::purge_older_than`] would purge.
    pub fn deletions_older_than(&self, secs: u64) -> Result<Vec<Uuid>> {
        let now = self.inner.options.clock.now();
        let cutoff = Timestamp(
            now.0
                .saturating_sub((secs.min(i64::MAX as u64 / 1_000_000) as i64) * 1_000_000),
        );
        let mut due = Vec::new();
        {
            let view = self.inner.engine.read()?;
            for item in view.range(Space::Del, Bound::Unbounded, Bound::Unbounded, false)? {
                let (_, v) = item?;
                let rec = crate::records::decode_deletion(&v)?;
                if rec.remaining == 0 {
                    continue;
                }
                let at = log::read_tx(view.as_ref(), rec.tx)?.ok_or_else(|| {
                    Error::corrupted("tx", format!("no record of transaction {}", rec.tx))
                })?;
                if at.at <= cutoff {
                    due.push((rec.tx, Uuid::from_u128(rec.id)));
                }
            }
        }
        due.sort();
        Ok(due.into_iter().map(|(_, d)| d).collect())
    }

    /// Enforces the retention policies now: purges every deletion older than its window (one
    /// transaction each) and drops the versions older than each table's history window that
    /// are not a row's latest image (one transaction per table). See `docs/design.md` §11.
    pub fn apply_retention(&self, audit: &Audit) -> Result<RetentionReport> {
        let plan = self.retention_due()?;
        let mut report = RetentionReport::default();
        for d in plan.deletions {
            report.purged.push(self.purge(d, audit)?);
        }
        for (table, horizon) in plan.prunes {
            let n = self.transaction_as(audit, |tx| tx.prune_history(&table, horizon))?;
            report.pruned.push((table, horizon, n));
        }
        Ok(report)
    }

    /// What [`Db::apply_retention`] would do now: the deletions older than their window and,
    /// per table, the new horizon of its history.
    pub fn retention_due(&self) -> Result<RetentionDue> {
        let now = self.inner.options.clock.now();
        let catalog = self.inner.catalog.read().clone();
        let (due, prunes) = {
            let view = self.inner.engine.read()?;
            let store = crate::records::read_retention(view.as_ref(), None)?;
            let mut policies = BTreeMap::new();
            for t in catalog.tables() {
                let p = crate::records::read_retention(view.as_ref(), Some(t.id()))?.or(store);
                policies.insert(t.id(), p.unwrap_or_default());
            }
            let cutoff = |secs: u64| {
                Timestamp(
                    now.0
                        .saturating_sub((secs as i64).saturating_mul(1_000_000)),
                )
            };
            let mut due = Vec::new();
            for item in view.range(Space::Del, Bound::Unbounded, Bound::Unbounded, false)? {
                let (_, v) = item?;
                let rec = crate::records::decode_deletion(&v)?;
                if rec.remaining == 0 {
                    continue;
                }
                let window = rec
                    .rows
                    .iter()
                    .filter_map(|(t, _)| policies.get(t).and_then(|p| p.deletions))
                    .min();
                let Some(window) = window else { continue };
                let at = log::read_tx(view.as_ref(), rec.tx)?.ok_or_else(|| {
                    Error::corrupted("tx", format!("no record of transaction {}", rec.tx))
                })?;
                if at.at <= cutoff(window) {
                    due.push(Uuid::from_u128(rec.id));
                }
            }
            let mut prunes = Vec::new();
            for t in catalog.tables() {
                let Some(window) = policies.get(&t.id()).and_then(|p| p.history) else {
                    continue;
                };
                let last = as_of::resolve(
                    view.as_ref(),
                    At::Time(cutoff(window)),
                    self.inner.published.lsn(),
                    self.inner.published.tx(),
                    now,
                )?;
                let horizon = last + 1;
                if last > 0 && horizon > crate::records::read_horizon(view.as_ref(), t.id())? {
                    prunes.push((t.name().to_string(), horizon));
                }
            }
            (due, prunes)
        };
        Ok(RetentionDue {
            deletions: due,
            prunes,
        })
    }

    /// Copies the store as it is now into a new store at `dest` (a folder that does not exist
    /// yet, or an empty one) while it stays open: writers go on (on fjall and fjall-redb the
    /// copy reads one snapshot; on sled, writes wait until the copy is made), and the copy holds
    /// every commit up to one point and none after. The copy is a complete store of the same
    /// engine (a memory store's on the default engine): restoring a backup is opening it. On
    /// failure `dest` is left as it was. `progress` is called now and then.
    pub fn backup(
        &self,
        dest: impl AsRef<Path>,
        progress: impl FnMut(CompactProgress),
    ) -> Result<crate::compact::BackupReport> {
        let mut progress = progress;
        let dest = dest.as_ref();
        if let Some(dir) = &self.inner.path {
            let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
            // where `dest` will be: its nearest existing ancestor, resolved, then the rest
            let mut existing = dest.to_path_buf();
            let mut rest = Vec::new();
            while !existing.exists() {
                match (existing.file_name(), existing.parent()) {
                    (Some(name), Some(parent)) => {
                        rest.push(name.to_os_string());
                        existing = parent.to_path_buf();
                    }
                    _ => break,
                }
            }
            let mut resolved = if existing.as_os_str().is_empty() {
                std::env::current_dir().map_err(|e| Error::io(dest, e))?
            } else {
                std::fs::canonicalize(&existing).unwrap_or(existing)
            };
            resolved.extend(rest.iter().rev());
            if resolved.starts_with(&dir) {
                return Err(Error::invalid(format!(
                    "cannot back up into {}: it is inside the store itself",
                    dest.display()
                )));
            }
        }
        let kind = match self.engine() {
            EngineKind::Memory | EngineKind::Postgres => EngineKind::default(),
            k => k,
        };
        self.inner.pipeline.drain()?;
        let view = self.inner.engine.read()?;
        let start = std::time::Instant::now();
        let absent = match std::fs::symlink_metadata(dest) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(Error::io(dest, e)),
            Ok(m) if !m.is_dir() => {
                return Err(Error::invalid(format!(
                    "cannot back up into {}: it is a file (give a new folder)",
                    dest.display()
                )))
            }
            Ok(_) => {
                let mut entries = std::fs::read_dir(dest).map_err(|e| Error::io(dest, e))?;
                if entries.next().is_some() {
                    return Err(Error::invalid(format!(
                        "cannot back up into {}: the folder is not empty (give a new folder)",
                        dest.display()
                    )));
                }
                false
            }
        };
        // the marker first (incomplete), the data, its high-water mark, then the marker line
        // that makes it a complete store
        let made = (|| -> Result<crate::compact::BackupReport> {
            std::fs::create_dir_all(dest).map_err(|e| Error::io(dest, e))?;
            crate::store::write_marker(dest, kind, false)?;
            let (state, lsn) = crate::compact::backup_data(
                view.as_ref(),
                kind,
                &dest.join(crate::compact::DATA),
                &mut progress,
            )?;
            write_hwm(dest, lsn)?;
            crate::store::write_marker(dest, kind, true)?;
            crate::compact::sync_dir(dest)?;
            if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
                crate::compact::sync_dir(parent)?;
            }
            progress(state);
            Ok(crate::compact::BackupReport {
                path: dest.to_path_buf(),
                lsn,
                keys: state.keys,
                bytes: state.bytes,
                seconds: crate::compact::elapsed(start),
            })
        })();
        if made.is_err() {
            // leave `dest` as it was
            if absent {
                let _ = std::fs::remove_dir_all(dest);
            } else if let Ok(entries) = std::fs::read_dir(dest) {
                for e in entries.flatten() {
                    let p = e.path();
                    let _ = if p.is_dir() {
                        std::fs::remove_dir_all(&p)
                    } else {
                        std::fs::remove_file(&p)
                    };
                }
            }
        }
        made
    }

    /// The store's shared state (for the modules above the facade).
    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    fn change_of(
        &self,
        view: &dyn crate::storage::ReadView,
        catalog: &Catalog,
        ev: log::Event,
        txs: &mut Option<TxRecord>,
    ) -> Result<Change> {
        let rec = match txs.take() {
            Some(r) if r.tx == ev.tx => r,
            _ => log::read_tx(view, ev.tx)?.ok_or_else(|| {
                Error::corrupted(
                    format!("log event at lsn {}", ev.lsn),
                    format!("no record of its transaction {}", ev.tx),
                )
            })?,
        };
        let name = |id: u32| catalog.by_id(id).map(|t| t.name().to_string()).ok();
        let row_of = |id: u32, image: &[Value]| {
            catalog
                .by_id(id)
                .ok()
                .map(|t| crate::records::to_row(t, image))
        };
        let tables: Vec<String> = match &ev.body {
            EventBody::CreateTables(defs) => defs.iter().map(|d| d.name.clone()).collect(),
            _ => Vec::new(),
        };
        let (kind, table, pk, row, deletion) = match ev.body {
            EventBody::CreateTables(defs) => (
                ChangeKind::Schema,
                defs.first().map(|d| d.name.clone()),
                None,
                None,
                None,
            ),
            EventBody::AddColumn { table, .. } | EventBody::AddIndex { table, .. } => {
                (ChangeKind::Schema, name(table), None, None, None)
            }
            EventBody::Insert { table, pk, image } => (
                ChangeKind::Insert,
                name(table),
                Some(pk),
                row_of(table, &image),
                None,
            ),
            EventBody::Update { table, pk, image } => (
                ChangeKind::Update,
                name(table),
                Some(pk),
                row_of(table, &image),
                None,
            ),
            EventBody::Tombstone {
                table,
                pk,
                deletion,
                ..
            } => (
                ChangeKind::Delete,
                name(table),
                Some(pk),
                None,
                Some(deletion),
            ),
            EventBody::Unlink {
                table,
                pk,
                image,
                deletion,
            } => (
                ChangeKind::Update,
                name(table),
                Some(pk),
                row_of(table, &image),
                Some(deletion),
            ),
            EventBody::Restore {
                table,
                pk,
                image,
                deletion,
            } => (
                ChangeKind::Restore,
                name(table),
                Some(pk),
                row_of(table, &image),
                Some(deletion),
            ),
            EventBody::ImagePurged {
                table,
                pk,
                deletion,
                ..
            } => (ChangeKind::Purged, name(table), Some(pk), None, deletion),
            EventBody::Purge {
                table,
                pk,
                deletion,
            } => (
                ChangeKind::Purge,
                name(table),
                Some(pk),
                None,
                Some(deletion),
            ),
            EventBody::PurgeDeletion { deletion } => {
                (ChangeKind::Purge, None, None, None, Some(deletion))
            }
            EventBody::PruneHistory { table, .. } => {
                (ChangeKind::Purge, name(table), None, None, None)
            }
            EventBody::SetRetention { table, .. } => {
                (ChangeKind::Schema, table.and_then(name), None, None, None)
            }
        };
        let tables = if tables.is_empty() {
            table.iter().cloned().collect()
        } else {
            tables
        };
        let change = Change {
            lsn: ev.lsn,
            tx: ev.tx,
            at: rec.at,
            actor: rec.actor.clone(),
            reason: rec.reason.clone(),
            kind,
            tables,
            table,
            pk,
            row,
            deletion,
        };
        *txs = Some(rec);
        Ok(change)
    }

    /// Every version of a row, oldest first: its insert, updates, tombstones and restores, each
    /// with its LSN, transaction, time, actor and reason.
    pub fn history(&self, table: &str, pk: impl Into<Value>) -> Result<Vec<Change>> {
        let catalog = self.inner.catalog.read().clone();
        let t = catalog.table(table)?;
        let (_, enc) = pk_enc(t, pk.into())?;
        let view = self.inner.engine.read()?;
        let prefix = codec::row_key(t.id(), &enc);
        let mut lsns = Vec::new();
        for item in crate::records::scan_prefix(view.as_ref(), Space::Hist, &prefix, false)? {
            let (k, _) = item?;
            let (_, pk, lsn) = codec::hist_parts(&k)?;
            if pk == enc.as_slice() {
                lsns.push(lsn);
            }
        }
        // The live version may be an Insert without its own entry (design §4). A later entry
        // can only be the Purge of an earlier life.
        if let Some(live) = crate::records::live_lsn(view.as_ref(), t.id(), &enc)? {
            if let Err(at) = lsns.binary_search(&live) {
                lsns.insert(at, live);
            }
        }
        let mut out = Vec::with_capacity(lsns.len());
        let mut txs = None;
        for lsn in lsns {
            let ev = log::read_event(view.as_ref(), lsn)?
                .ok_or_else(|| Error::corrupted("hist", format!("points at missing lsn {lsn}")))?;
            out.push(self.change_of(view.as_ref(), &catalog, ev, &mut txs)?);
        }
        Ok(out)
    }

    /// The log as a stream of changes from `from_lsn` (inclusive), at most `limit`.
    pub fn changes(&self, from_lsn: u64, limit: Option<usize>) -> Result<Vec<Change>> {
        let catalog = self.inner.catalog.read().clone();
        let view = self.inner.engine.read()?;
        let mut txs = None;
        log::read_events(view.as_ref(), from_lsn, limit)?
            .into_iter()
            .map(|ev| self.change_of(view.as_ref(), &catalog, ev, &mut txs))
            .collect()
    }

    /// The raw events of the log from `from_lsn` (inclusive), at most `limit`.
    pub fn events(&self, from_lsn: u64, limit: Option<usize>) -> Result<Vec<log::Event>> {
        let view = self.inner.engine.read()?;
        log::read_events(view.as_ref(), from_lsn, limit)
    }

    /// A transaction's record (time, actor, reason, LSN range).
    pub fn transaction_record(&self, tx: u64) -> Result<Option<TxRecord>> {
        let view = self.inner.engine.read()?;
        log::read_tx(view.as_ref(), tx)
    }

    /// The last LSN written (0 when the store is empty).
    pub fn last_lsn(&self) -> u64 {
        if self.inner.engine.shared() {
            // other processes commit too: the log's end as the engine has it
            if let Ok(view) = self.inner.engine.read() {
                if let Ok((lsn, last)) = crate::log::last_positions(view.as_ref()) {
                    self.inner
                        .published
                        .advance(lsn, last.map(|r| r.tx).unwrap_or(0));
                }
            }
        }
        self.inner.published.lsn()
    }

    /// A consistent read-only snapshot of the live store: every read through it sees the same
    /// committed state, however many commits happen meanwhile. On fjall it is an engine snapshot
    /// (writers are not held up); on sled and in memory it holds the engine's read lock, so keep it
    /// short — a writer's commit waits until it is dropped, and a thread must not commit while it
    /// holds one there (its commit would wait for itself).
    pub fn snapshot(&self) -> Result<Snapshot<'_>> {
        let view = self.inner.engine.read()?;
        let catalog = self.inner.catalog_for(view.as_ref())?;
        Ok(Snapshot { view, catalog })
    }

    /// A read-only view of the store as it was at `at` (any [`At`]: an LSN, a time, a
    /// transaction, just before a deletion, now, a time ago): see [`AsOf`]. An LSN inside a
    /// transaction means the whole of that transaction.
    pub fn as_of(&self, at: impl Into<At>) -> Result<AsOf<'_>> {
        let view = self.inner.engine.read()?;
        let at = at.into();
        let memo = *self.inner.as_of_point.lock();
        let lsn = match (at, memo) {
            (At::Lsn(n), Some((asked, end))) if n == asked => end,
            _ => {
                let end = as_of::resolve(
                    view.as_ref(),
                    at,
                    self.inner.published.lsn(),
                    self.inner.published.tx(),
                    self.inner.options.clock.now(),
                )?;
                if let At::Lsn(n) = at {
                    *self.inner.as_of_point.lock() = Some((n, end));
                }
                end
            }
        };
        let catalog =
            crate::records::catalog_at_cached(view.as_ref(), lsn, &self.inner.as_of_catalog)?;
        let expired = as_of::expired_tables_memo(
            view.as_ref(),
            &catalog,
            lsn,
            self.inner.options.clock.now(),
            Some(&self.inner.as_of_limits),
        )?;
        Ok(AsOf {
            engine: self.inner.engine.as_ref(),
            lsn,
            catalog,
            expired,
        })
    }

    /// Restores one row to its state at `at` (see [`Transaction::restore_to`]).
    pub fn restore_row_to(
        &self,
        table: &str,
        pk: impl Into<Value>,
        at: impl Into<At>,
    ) -> Result<RewindPlan> {
        let scope = Scope::Row {
            table: table.to_string(),
            pk: pk.into(),
        };
        self.restore_scope_to(&scope, at)
    }

    /// Restores every row of a table to its state at `at`.
    pub fn restore_table_to(&self, table: &str, at: impl Into<At>) -> Result<RewindPlan> {
        self.restore_scope_to(&Scope::Table(table.to_string()), at)
    }

    /// Restores every row of every table to its state at `at`.
    pub fn restore_store_to(&self, at: impl Into<At>) -> Result<RewindPlan> {
        self.restore_scope_to(&Scope::Store, at)
    }

    /// Restores a scope to its state at `at`, in one transaction.
    pub fn restore_scope_to(&self, scope: &Scope, at: impl Into<At>) -> Result<RewindPlan> {
        let target = self.resolve(at)?;
        self.transaction(|tx| tx.restore_to(scope, target))
    }

    /// What [`Db::restore_scope_to`] would do, without doing it (conflicts listed, not raised).
    pub fn restore_to_plan(&self, scope: &Scope, at: impl Into<At>) -> Result<RewindPlan> {
        let target = self.resolve(at)?;
        let catalog = self.inner.catalog.read().clone();
        let view = self.inner.engine.read()?;
        let rows = match scope {
            Scope::Row { table, pk } => {
                let t = catalog.table(table)?;
                let (_, enc) = pk_enc(t, pk.clone())?;
                Some(vec![(t.id(), enc)])
            }
            _ => None,
        };
        restore_to::plan(
            view.as_ref(),
            &catalog,
            target,
            scope,
            rows,
            self.inner.options.clock.now(),
        )
    }

    /// Undoes one transaction (see [`Transaction::undo`]).
    pub fn undo(&self, tx: u64, force: bool) -> Result<RewindPlan> {
        self.transaction(|t| t.undo(tx, force))
    }

    /// The rows that differ between two points (optionally in one table): inserted, deleted,
    /// changed (with the columns that changed and both values).
    pub fn diff(
        &self,
        a: impl Into<At>,
        b: impl Into<At>,
        table: Option<&str>,
    ) -> Result<Vec<RowDiff>> {
        let (a, b) = (self.resolve(a)?, self.resolve(b)?);
        let catalog = self.inner.catalog.read().clone();
        let view = self.inner.engine.read()?;
        restore_to::diff(
            view.as_ref(),
            &catalog,
            a,
            b,
            table,
            self.inner.options.clock.now(),
        )
    }

    /// The LSN a point resolves to (see [`Db::as_of`]).
    pub fn resolve(&self, at: impl Into<At>) -> Result<u64> {
        let view = self.inner.engine.read()?;
        as_of::resolve(
            view.as_ref(),
            at.into(),
            self.inner.published.lsn(),
            self.inner.published.tx(),
            self.inner.options.clock.now(),
        )
    }

    /// Checks the store and reports each problem: every view against a rebuild from the log,
    /// the log against its transaction records (dense ids and LSNs, each event inside its
    /// transaction's range), and every byte of the engine's files against the engine's own
    /// checksums (parts a read may need that a scan never touches: filters, indexes). A store
    /// is sound when the report lists no difference. Bytes that do not decode at all are an
    /// error ([`Error::Corrupted`]).
    pub fn verify(&self) -> Result<VerifyReport> {
        self.verify_with_progress(|_| {})
    }

    /// [`Db::verify`], calling `progress` with the number of events replayed so far.
    pub fn verify_with_progress(&self, progress: impl FnMut(u64)) -> Result<VerifyReport> {
        let view = self.inner.engine.read()?;
        let mut report = views::verify(view.as_ref(), progress)?;
        report
            .differences
            .extend(log::check_records(view.as_ref())?);
        drop(view);
        report.differences.extend(self.inner.engine.check_files()?);
        Ok(report)
    }

    /// Recomputes every view from the log alone and replaces the stored views with the result
    /// (one atomic write). Returns the number of events replayed.
    pub fn rebuild(&self) -> Result<u64> {
        let me = std::thread::current().id();
        if *self.inner.owner.lock() == Some(me) {
            return Err(Error::NestedTransaction);
        }
        let _writer = self.inner.writer.lock();
        self.inner.pipeline.drain()?;
        let mut n = None;
        if let Some(dir) = &self.inner.path {
            // A checkpoint that cannot be read (damaged since it was made) is only a shortcut:
            // it is dropped and the whole log replayed. (Nothing is written before the rebuilt
            // views are complete, so a failure part way through leaves the views as they were.)
            let from_checkpoint = || -> Result<Option<u64>> {
                match crate::compact::open_checkpoint(self.engine(), dir)? {
                    Some((cp, at)) if at <= self.inner.published.lsn() => {
                        let cp_view = cp.read()?;
                        views::rebuild_from(self.inner.engine.as_ref(), cp_view.as_ref(), at)
                    }
                    _ => Ok(None),
                }
            };
            match from_checkpoint() {
                Ok(done) => n = done,
                Err(_) => crate::compact::drop_checkpoint(dir)?,
            }
        }
        let n = match n {
            Some(n) => n,
            None => views::rebuild(self.inner.engine.as_ref(), |_| {})?,
        };
        let catalog = crate::records::load_catalog(self.inner.engine.read()?.as_ref())?;
        *self.inner.catalog.write() = Arc::new(catalog);
        Ok(n)
    }

    /// Writes a checkpoint: a copy of the views as of now beside the store
    /// (`<path>/checkpoint`), so that [`Db::rebuild`] replays only the events after it instead
    /// of the whole log. Any purge or pruning deletes it (it may hold what was purged); a
    /// rebuild that meets one after the checkpoint falls back to the whole log. Returns the LSN
    /// of the checkpoint. Waits for the writer lock; a memory store has no checkpoint.
    pub fn checkpoint(&self) -> Result<u64> {
        let Some(dir) = self.inner.path.clone() else {
            return Err(Error::invalid("a memory store has no files to checkpoint"));
        };
        let me = std::thread::current().id();
        if *self.inner.owner.lock() == Some(me) {
            return Err(Error::NestedTransaction);
        }
        let _writer = self.inner.writer.lock();
        self.inner.pipeline.drain()?;
        let at = self.inner.published.lsn();
        crate::compact::checkpoint(self.inner.engine.as_ref(), &dir, at)?;
        Ok(at)
    }

    /// Statistics: last LSN and transaction, live rows per table, disk use, and the bytes of the
    /// live views, the history and the trash, with an estimate of what `compact` can reclaim.
    /// Reads every key of the store: its cost grows with the store.
    pub fn stats(&self) -> Result<Stats> {
        let last_tx = self.inner.published.tx();
        let mut tables = Vec::new();
        for name in self.tables()? {
            let n = self.count(&name)?;
            tables.push((name, n));
        }
        let (mut live, mut history, mut trash) = (0u64, 0u64, 0u64);
        {
            let view = self.inner.engine.read()?;
            for space in Space::ALL {
                let mut n = 0u64;
                for item in view.range(space, Bound::Unbounded, Bound::Unbounded, false)? {
                    let (k, v) = item?;
                    if space == Space::Index && codec::is_past_index_key(&k) {
                        history += (k.len() + v.len()) as u64;
                    } else {
                        n += (k.len() + v.len()) as u64;
                    }
                }
                match space {
                    Space::Rows | Space::Index => live += n,
                    Space::Log | Space::Tx | Space::Hist => history += n,
                    _ => trash += n,
                }
            }
        }
        // what `du` counts for the store's folder: every file's allocated blocks
        let disk_bytes = match &self.inner.path {
            Some(dir) => crate::compact::tree_bytes(dir)?,
            None => self.inner.engine.disk_bytes()?,
        };
        Ok(Stats {
            engine: self.engine(),
            last_lsn: self.last_lsn(),
            last_tx,
            tables,
            disk_bytes,
            deletions: self.trash(&crate::trash::TrashQuery::all())?.len() as u64,
            live_bytes: live,
            history_bytes: history,
            trash_bytes: trash,
            reclaimable_bytes: disk_bytes.saturating_sub(live + history + trash),
        })
    }

    /// Compacts the store: copies everything it holds now into a fresh engine folder and swaps
    /// it in, so purged values and the engine's obsolete files leave the disk and the space is
    /// reclaimed (see `docs/design.md` §11). The store is closed during the copy and reopened
    /// with the same options; a crash at any point leaves the old store or the new one. On an
    /// error the store on disk is the old one, unharmed: open it again.
    pub fn compact(
        mut self,
        mut progress: impl FnMut(CompactProgress),
    ) -> Result<(Db, CompactReport)> {
        let Some(dir) = self.inner.path.clone() else {
            return Err(Error::invalid("a memory store has no files to compact"));
        };
        let options = self.inner.options.clone();
        let temp = self.inner._temp.take();
        // Keep the folder locked from the copy to the reopen.
        let lock = self.inner.lock.take();
        let start = std::time::Instant::now();
        let data = dir.join(crate::compact::DATA);
        let disk_bytes_before = crate::compact::tree_bytes(&data)?;
        let copied =
            self.inner.pipeline.drain().and_then(|()| {
                crate::compact::copy(self.inner.engine.as_ref(), &dir, &mut progress)
            });
        let kind = self.engine();
        let closed = self.close();
        let copied = match (copied, closed) {
            (Ok(c), Ok(())) => c,
            (Err(e), _) | (Ok(_), Err(e)) => {
                let _ = crate::compact::recover(&dir, kind);
                return Err(e);
            }
        };
        let (keys, bytes) = (copied.keys, copied.bytes);
        crate::compact::swap(&dir, kind, &copied)?;
        let mut db = Db {
            inner: Inner::open(&dir, options, lock)?,
        };
        // Measured after the reopen: a fresh fjall folder keeps its journal preallocated until
        // it is recovered once.
        let disk_bytes_after = crate::compact::tree_bytes(&data)?;
        db.inner._temp = temp;
        Ok((
            db,
            CompactReport {
                keys,
                bytes,
                disk_bytes_before,
                disk_bytes_after,
                seconds: crate::compact::elapsed(start),
            },
        ))
    }

    /// Makes every commit so far durable (useful after [`Durability::Eventual`](crate::Durability::Eventual) commits).
    pub fn sync(&self) -> Result<()> {
        self.inner.pipeline.sync()
    }

    /// Closes the store: waits for the commit pipeline to finish and syncs.
    pub fn close(mut self) -> Result<()> {
        self.inner.closed = true;
        self.finish()
    }

    /// Stops the commit pipeline, syncs, and records the last LSN as durable.
    fn finish(&mut self) -> Result<()> {
        self.inner.pipeline.stop();
        self.inner.pipeline.sync()?;
        self.inner.engine.close()?;
        if let Some(dir) = &self.inner.path {
            write_hwm(dir, self.inner.published.lsn())?;
        }
        Ok(())
    }
}

impl Drop for Db {
    /// Dropping an open store closes it as [`Db::close`] does, ignoring errors (call `close`
    /// to see them). Not while a panic unwinds: a panic is a crash, and the next open checks
    /// what is on disk as after one.
    fn drop(&mut self) {
        if self.inner.closed || std::thread::panicking() {
            return;
        }
        self.inner.closed = true;
        let _ = self.finish();
    }
}

/// A consistent snapshot of the live store (see [`Db::snapshot`]).
pub struct Snapshot<'db> {
    view: Box<dyn crate::storage::ReadView + 'db>,
    catalog: Arc<Catalog>,
}

impl Readable for Snapshot<'_> {
    fn read_ctx(&self) -> Result<ReadCtx<'_>> {
        Ok(ReadCtx {
            view: ViewRef::Borrowed(self.view.as_ref()),
            catalog: self.catalog.clone(),
        })
    }
}

impl Readable for Db {
    fn read_ctx(&self) -> Result<ReadCtx<'_>> {
        let view = self.inner.engine.read()?;
        let catalog = self.inner.catalog_for(view.as_ref())?;
        Ok(ReadCtx {
            view: ViewRef::Owned(view),
            catalog,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::{Readable, Scan};
    use crate::schema::TableBuilder;
    use crate::storage::{Batch, Engine};
    use crate::store::{
        read_format, read_marker, FORMAT_VERSION, MARKER, MARKER_COMPLETE, MARKER_HEAD,
    };
    use crate::value::ColumnType;

    fn hist_entries(db: &Db) -> Vec<(Vec<u8>, Vec<u8>)> {
        let view = db.inner.engine.read().unwrap();
        view.range(Space::Hist, Bound::Unbounded, Bound::Unbounded, false)
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    fn table(db: &Db) {
        db.create_table(
            TableBuilder::new("t")
                .column(("id", ColumnType::Int))
                .column(("v", ColumnType::Text))
                .primary_key("id"),
        )
        .unwrap();
    }

    /// Every read of the past the store offers, at every LSN up to the last.
    fn past(db: &Db) -> Vec<String> {
        (0..=db.last_lsn())
            .map(|lsn| {
                let a = db.as_of(At::Lsn(lsn)).unwrap();
                let rows = a.scan("t", Scan::all()).unwrap_or_default();
                let one = a.get("t", 1).unwrap_or_default();
                format!("{lsn}: {rows:?} {one:?}")
            })
            .chain((1..=3).map(|pk| format!("{:?}", db.history("t", pk).unwrap())))
            .collect()
    }

    #[test]
    fn an_insert_writes_its_hist_entry_only_once_the_row_changes() {
        let db = Db::memory().unwrap();
        table(&db);
        db.insert("t", Row::new().with("id", 1).with("v", "a"))
            .unwrap();
        assert!(hist_entries(&db).is_empty(), "{:?}", hist_entries(&db));
        let inserted = db.last_lsn();
        db.update("t", 1, Row::new().with("v", "b")).unwrap();
        let tags: Vec<(u64, u8)> = hist_entries(&db)
            .iter()
            .map(|(k, v)| (codec::hist_lsn(k).unwrap(), v[0]))
            .collect();
        assert_eq!(
            tags,
            vec![
                (inserted, crate::codec::record::kind::INSERT),
                (db.last_lsn(), crate::codec::record::kind::UPDATE)
            ]
        );
        let view = db.inner.engine.read().unwrap();
        let t = db.inner.catalog.read().table("t").unwrap().id();
        let pk = crate::codec::keys::encode_one(&Value::Int(1));
        assert_eq!(
            crate::history::image_versions(view.as_ref(), t, &pk).unwrap(),
            vec![inserted, db.last_lsn()]
        );
        drop(view);
        db.insert("t", Row::new().with("id", 2).with("v", "c"))
            .unwrap();
        let view = db.inner.engine.read().unwrap();
        let pk = crate::codec::keys::encode_one(&Value::Int(2));
        assert_eq!(
            crate::history::image_versions(view.as_ref(), t, &pk).unwrap(),
            vec![db.last_lsn()]
        );
        assert!(db.verify().unwrap().differences.is_empty());
    }

    /// A store as format 1 wrote it (a hist entry for every live Insert, format 1 in the
    /// store, its checkpoint and its marker), and every read of its past.
    fn format_1_store(path: &Path) -> Vec<String> {
        // format 1 stores were written by the fjall and sled engines only
        let db = Db::open_with(path, Options::default().engine(EngineKind::Fjall)).unwrap();
        table(&db);
        for id in 1..=3 {
            db.insert("t", Row::new().with("id", id).with("v", "a"))
                .unwrap();
        }
        db.update("t", 2, Row::new().with("v", "b")).unwrap();
        db.delete("t", 3).unwrap();
        db.insert("t", Row::new().with("id", 4).with("v", "d"))
            .unwrap();
        db.checkpoint().unwrap();
        let before = past(&db);
        let mut b = Batch::default();
        let view = db.inner.engine.read().unwrap();
        for item in view
            .range(Space::Rows, Bound::Unbounded, Bound::Unbounded, false)
            .unwrap()
        {
            let (rk, v) = item.unwrap();
            let lsn = crate::records::decode_row(&rk, &v).unwrap().lsn;
            let hk = codec::row_hist_key(&rk, lsn);
            if view.get(Space::Hist, &hk).unwrap().is_none() {
                b.put(Space::Hist, hk, vec![crate::codec::record::kind::INSERT]);
            }
        }
        drop(view);
        assert_eq!(b.len(), 2, "rows 1 and 4 are live Inserts");
        let mut one = Batch::default();
        one.put(
            Space::Meta,
            codec::META_FORMAT.to_vec(),
            1u32.to_be_bytes().to_vec(),
        );
        db.inner.engine.write(&b).unwrap();
        db.inner.engine.write(&one).unwrap();
        let report = views::verify(db.inner.engine.read().unwrap().as_ref(), |_| {}).unwrap();
        assert_eq!(report.differences.len(), 2, "{:?}", report.differences);
        let (cp, _) = crate::compact::open_checkpoint(db.engine(), path)
            .unwrap()
            .unwrap();
        cp.write(&one).unwrap();
        cp.sync().unwrap();
        drop(cp);
        db.close().unwrap();
        std::fs::write(
            path.join(MARKER),
            format!("{MARKER_HEAD}\nformat 1\nengine fjall\n"),
        )
        .unwrap();
        before
    }

    #[test]
    fn a_format_1_store_is_migrated_at_open_and_reads_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let before = format_1_store(&path);
        let db = Db::open(&path).unwrap();
        assert_eq!(
            read_format(db.inner.engine.read().unwrap().as_ref()).unwrap(),
            Some(FORMAT_VERSION)
        );
        assert_eq!(read_marker(&path).unwrap().unwrap().format, FORMAT_VERSION);
        assert!(db.verify().unwrap().differences.is_empty());
        assert!(crate::compact::open_checkpoint(db.engine(), &path)
            .unwrap()
            .is_none());
        assert_eq!(past(&db), before);
        // rows 2 and 3: their Insert, then the update or the tombstone
        assert_eq!(hist_entries(&db).len(), 4);
    }

    /// The past index entries of a store (design §4).
    fn past_index_keys(db: &Db) -> Vec<Vec<u8>> {
        let view = db.inner.engine.read().unwrap();
        view.range(Space::Index, Bound::Unbounded, Bound::Unbounded, false)
            .unwrap()
            .map(|r| r.unwrap().0)
            .filter(|k| codec::is_past_index_key(k))
            .collect()
    }

    #[test]
    fn a_format_2_store_gets_its_past_index_entries_at_open() {
        for engine in [EngineKind::FjallRedb, EngineKind::Fjall] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s");
            let db = Db::open_with(&path, Options::default().engine(engine)).unwrap();
            db.create_table(
                TableBuilder::new("t")
                    .column(("id", ColumnType::Int))
                    .column(("v", ColumnType::Text))
                    .primary_key("id")
                    .index(["v"]),
            )
            .unwrap();
            for id in 1..=3 {
                db.insert("t", Row::new().with("id", id).with("v", "a"))
                    .unwrap();
            }
            db.update("t", 2, Row::new().with("v", "b")).unwrap();
            db.update("t", 1, Row::new().with("v", "c")).unwrap();
            db.delete("t", 3).unwrap();
            db.insert("t", Row::new().with("id", 4).with("v", "a"))
                .unwrap();
            let lookups = |db: &Db| -> Vec<String> {
                (0..=db.last_lsn())
                    .map(|lsn| {
                        let a = db.as_of(At::Lsn(lsn)).unwrap();
                        format!("{:?}", a.lookup("t", &["v"], &["a".into()]))
                    })
                    .collect()
            };
            let before = lookups(&db);
            let past = past_index_keys(&db);
            // the first versions of rows 1, 2 and 3
            assert_eq!(past.len(), 3, "{engine:?}");
            // what a format 2 store holds: no past entries
            let mut b = Batch::default();
            for k in &past {
                b.delete(Space::Index, k.clone());
            }
            b.put(
                Space::Meta,
                codec::META_FORMAT.to_vec(),
                2u32.to_be_bytes().to_vec(),
            );
            db.inner.engine.write(&b).unwrap();
            assert!(!db.verify().unwrap().differences.is_empty());
            db.close().unwrap();
            let db = reopened_from_format(&path, 2, engine, "");
            assert_eq!(past_index_keys(&db), past, "{engine:?}");
            assert!(db.verify().unwrap().differences.is_empty());
            assert_eq!(lookups(&db), before, "{engine:?}");
        }
    }

    /// Marks the closed store at `path` as written by an older build (`format`, then `rest`
    /// after the engine line), opens it, and checks that the open upgraded it.
    fn reopened_from_format(path: &Path, format: u32, engine: EngineKind, rest: &str) -> Db {
        std::fs::write(
            path.join(MARKER),
            format!(
                "{MARKER_HEAD}\nformat {format}\nengine {}\n{rest}",
                engine.name()
            ),
        )
        .unwrap();
        let db = Db::open(path).unwrap();
        assert_eq!(
            read_format(db.inner.engine.read().unwrap().as_ref()).unwrap(),
            Some(FORMAT_VERSION)
        );
        assert_eq!(read_marker(path).unwrap().unwrap().format, FORMAT_VERSION);
        db
    }

    /// A primary key as formats before 4 encoded an int in a key: the tag, then eight bytes
    /// big-endian with the sign bit flipped (and the table id before it in four bytes).
    fn nine_byte_int(enc: &[u8]) -> Vec<u8> {
        let Ok(Value::Int(i)) = crate::codec::keys::decode_pk(enc) else {
            panic!("not an int key: {enc:?}");
        };
        let mut out = vec![0x02];
        out.extend_from_slice(&((i as u64) ^ (1 << 63)).to_be_bytes());
        out
    }

    #[test]
    fn an_older_store_with_a_damaged_log_is_refused_before_the_upgrade_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let db = Db::open_with(&path, Options::default().engine(EngineKind::Fjall)).unwrap();
        table(&db);
        for id in 1..=3 {
            db.insert("t", Row::new().with("id", id).with("v", "a"))
                .unwrap();
        }
        let view = db.inner.engine.read().unwrap();
        let rows = view
            .range(Space::Rows, Bound::Unbounded, Bound::Unbounded, false)
            .unwrap()
            .count();
        let (k, mut v) = view
            .range(Space::Log, Bound::Unbounded, Bound::Unbounded, true)
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        drop(view);
        if let Some(b) = v.last_mut() {
            *b ^= 0xff;
        }
        let mut b = Batch::default();
        b.put(Space::Log, k, v);
        b.put(
            Space::Meta,
            codec::META_FORMAT.to_vec(),
            3u32.to_be_bytes().to_vec(),
        );
        db.inner.engine.write(&b).unwrap();
        db.close().unwrap();
        let marker = format!("{MARKER_HEAD}\nformat 3\nengine fjall\n{MARKER_COMPLETE}\n");
        std::fs::write(path.join(MARKER), &marker).unwrap();
        let e = Db::open(&path).err();
        assert!(matches!(e, Some(Error::Corrupted { .. })), "{e:?}");
        // nothing written: the marker, the format and the views are as they were
        assert_eq!(std::fs::read_to_string(path.join(MARKER)).unwrap(), marker);
        let engine = crate::storage::fjall_engine::FjallEngine::open(&path.join("data")).unwrap();
        let view = engine.read().unwrap();
        assert_eq!(read_format(view.as_ref()).unwrap(), Some(3));
        let after = view
            .range(Space::Rows, Bound::Unbounded, Bound::Unbounded, false)
            .unwrap()
            .count();
        assert_eq!(after, rows);
    }

    #[test]
    fn a_format_3_store_has_its_views_written_again_at_open() {
        for engine in [EngineKind::FjallRedb, EngineKind::Fjall] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s");
            let db = Db::open_with(&path, Options::default().engine(engine)).unwrap();
            table(&db);
            for id in [1, 2, 3, 300, 70_000, -5] {
                db.insert("t", Row::new().with("id", id).with("v", "a"))
                    .unwrap();
            }
            db.update("t", 2, Row::new().with("v", "b")).unwrap();
            db.update("t", 300, Row::new().with("v", "c")).unwrap();
            db.delete("t", 3).unwrap();
            let before = past(&db);
            let live = db.scan("t", Scan::all()).unwrap();
            // What a format 3 store holds: row and version keys with nine-byte ints.
            let mut b = Batch::default();
            let view = db.inner.engine.read().unwrap();
            for space in [Space::Rows, Space::Hist] {
                for item in view
                    .range(space, Bound::Unbounded, Bound::Unbounded, false)
                    .unwrap()
                {
                    let (k, v) = item.unwrap();
                    let (table, pk, lsn) = if space == Space::Hist {
                        codec::hist_parts(&k).unwrap()
                    } else {
                        let (table, pk) = codec::row_parts(space, &k).unwrap();
                        (table, pk, 0)
                    };
                    let lsn = if space == Space::Hist {
                        lsn.to_be_bytes().to_vec()
                    } else {
                        Vec::new()
                    };
                    let old = [&table.to_be_bytes()[..], &nine_byte_int(pk), &lsn].concat();
                    b.delete(space, k);
                    b.put(space, old, v);
                }
            }
            drop(view);
            b.put(
                Space::Meta,
                codec::META_FORMAT.to_vec(),
                3u32.to_be_bytes().to_vec(),
            );
            db.inner.engine.write(&b).unwrap();
            assert!(db.get("t", 1).is_err() || db.get("t", 1).unwrap().is_none());
            db.close().unwrap();
            let db = reopened_from_format(&path, 3, engine, &format!("{MARKER_COMPLETE}\n"));
            assert!(db.verify().unwrap().differences.is_empty(), "{engine:?}");
            assert_eq!(db.scan("t", Scan::all()).unwrap(), live, "{engine:?}");
            assert_eq!(past(&db), before, "{engine:?}");
            // no key of the old layout is left
            let view = db.inner.engine.read().unwrap();
            let rows: Vec<Vec<u8>> = view
                .range(Space::Rows, Bound::Unbounded, Bound::Unbounded, false)
                .unwrap()
                .map(|r| r.unwrap().0)
                .collect();
            assert_eq!(rows.len(), 5, "{engine:?}");
            assert!(rows.iter().all(|k| k.len() <= 1 + 5), "{rows:?}");
        }
    }

    #[test]
    fn a_format_1_store_that_lost_data_is_refused_before_any_migration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        format_1_store(&path);
        write_hwm(&path, 1_000).unwrap();
        let e = Db::open(&path).err();
        assert!(
            matches!(e, Some(Error::DataLoss { durable: 1_000, .. })),
            "{e:?}"
        );
        assert_eq!(read_marker(&path).unwrap().unwrap().format, 1);
        let engine = crate::storage::fjall_engine::FjallEngine::open(&path.join("data")).unwrap();
        let view = engine.read().unwrap();
        assert_eq!(read_format(view.as_ref()).unwrap(), Some(1));
    }

    #[test]
    fn a_damaged_row_record_does_not_stop_the_migration_which_mends_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        format_1_store(&path);
        {
            let engine =
                crate::storage::fjall_engine::FjallEngine::open(&path.join("data")).unwrap();
            let (k, mut v) = {
                let view = engine.read().unwrap();
                let first = view
                    .range(Space::Rows, Bound::Unbounded, Bound::Unbounded, false)
                    .unwrap()
                    .next()
                    .unwrap()
                    .unwrap();
                first
            };
            if let Some(b) = v.last_mut() {
                *b ^= 0xff;
            }
            let mut b = Batch::default();
            b.put(Space::Rows, k, v);
            engine.write(&b).unwrap();
            engine.sync().unwrap();
        }
        // the migration writes the views again from the log: the damaged record is mended
        let db = Db::open(&path).unwrap();
        assert!(db.verify().unwrap().differences.is_empty());
        assert_eq!(
            db.get("t", 1).unwrap().unwrap().get("v"),
            Some(&Value::from("a"))
        );
    }
}

/// The one id of `ids` that `text` (at least 6 hex digits, dashes and case ignored) ends.
fn pick_by_suffix(text: &str, ids: &[Uuid]) -> Result<Uuid> {
    let digits: String = text
        .trim()
        .chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if digits.len() < 6 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::invalid(format!(
            "`{text}` is not a deletion id: give the whole id or its last 6 hex digits or more \
             (see `trash`)"
        )));
    }
    let found: Vec<&Uuid> = ids
        .iter()
        .filter(|id| id.simple().to_string().ends_with(&digits))
        .collect();
    match found.as_slice() {
        [one] => Ok(**one),
        [] => Err(Error::invalid(format!(
            "no deletion id ends with `{text}` (see `trash`)"
        ))),
        many => Err(Error::invalid(format!(
            "`{text}` ends {} deletion ids: {}; give more digits",
            many.len(),
            many.iter()
                .take(10)
                .map(|u| u.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

#[cfg(test)]
mod short_id_tests {
    use super::pick_by_suffix;
    use uuid::Uuid;

    #[test]
    fn a_deletion_is_named_by_the_end_of_its_id() {
        let a = Uuid::parse_str("01890000-0000-7000-8000-0000abcdef12").unwrap();
        let b = Uuid::parse_str("01890000-0000-7000-8000-0001abcdef12").unwrap();
        let c = Uuid::parse_str("01890000-0000-7000-8000-000000123456").unwrap();
        let ids = [a, b, c];
        assert_eq!(pick_by_suffix("123456", &ids).unwrap(), c);
        assert_eq!(pick_by_suffix("0-000000123456", &ids).unwrap(), c);
        assert_eq!(pick_by_suffix("0ABCDEF12", &ids).unwrap(), a);
        assert_eq!(pick_by_suffix("1abcdef12", &ids).unwrap(), b);
        let e = pick_by_suffix("abcdef12", &ids).unwrap_err().to_string();
        assert!(
            e.contains("2 deletion ids") && e.contains(&a.to_string()),
            "{e}"
        );
        let e = pick_by_suffix("999999", &ids).unwrap_err().to_string();
        assert!(e.contains("no deletion id ends with"), "{e}");
        for short in ["12345", "xyzxyz", "", "-----"] {
            let e = pick_by_suffix(short, &ids).unwrap_err().to_string();
            assert!(e.contains("last 6 hex digits"), "{short}: {e}");
        }
    }
}
