//! The write path: a transaction stages events and their view changes in an overlay, checking
//! everything before it stages anything, and commits them through the pipeline in one batch.
//!
//! - One writer at a time: a transaction holds the writer lock from begin to commit or drop.
//!   Readers never wait for it.
//! - Every check (types, not-null, primary key and unique values among live rows, foreign-key
//!   parent live) runs before the operation stages anything; an operation that fails leaves the
//!   transaction as it was, and a dropped or failed transaction writes nothing (the LSN does not
//!   move).
//! - Reads through the transaction (it implements [`Readable`]) see its own writes.

use std::sync::Arc;

use parking_lot::MutexGuard;
use serde::Serialize;

use crate::codec::{self, keys, Space};
use crate::commit::Durability;
use crate::error::{Constraint, Error, Result};
use crate::log::{Event, EventBody, TxRecord};
use crate::purge::{PurgeReport, Retention};
use crate::read::{pk_enc, ReadCtx, Readable, ViewRef};
use crate::restore::{RestorePlan, RestorePolicy};
use crate::restore_to::{self, RewindPlan, Scope, Staged};
use crate::schema::{self, Catalog, ColumnDef, Table, TableSpec};
use crate::storage::overlay::Overlay;
use crate::storage::ReadView;
use crate::store::{Inner, WriterState};
use crate::trash::{self, RowRef};
use crate::value::{ColumnType, Row, Timestamp, Value};
use crate::views;
use crate::{cascade, checks, restore};

/// Longest encoded primary key accepted (bytes).
pub const MAX_PK_BYTES: usize = 1024;
/// Longest index key (table, index, indexed values, primary key) accepted (bytes). The engines
/// take keys up to 64 KiB; this leaves room for every key the store derives from a row.
pub const MAX_KEY_BYTES: usize = 4096;

/// A write transaction. Create one with [`crate::Db::begin`] or [`crate::Db::transaction`].
///
/// Dropping it without [`Transaction::commit`] aborts it: nothing is written.
pub struct Transaction<'db> {
    db: &'db Inner,
    state: Option<MutexGuard<'db, WriterState>>,
    overlay: Overlay<'db>,
    catalog: Arc<Catalog>,
    schema_changed: bool,
    rewrites_history: bool,
    tx: u64,
    first_lsn: u64,
    next_lsn: u64,
    actor: Option<String>,
    reason: Option<String>,
    durability: Durability,
    broken: Option<String>,
    commit_time: Option<Timestamp>,
    /// Rows staged by [`Transaction::stage_checked`], for [`Transaction::check_consistent`].
    touched: Vec<(u32, Value)>,
    /// A shared engine's cross-process write lock, held until the batch is written.
    xlock: Option<Box<dyn crate::storage::WriteLock>>,
}

impl<'db> Transaction<'db> {
    pub(crate) fn new(
        db: &'db Inner,
        state: MutexGuard<'db, WriterState>,
        overlay: Overlay<'db>,
        catalog: Arc<Catalog>,
        xlock: Option<Box<dyn crate::storage::WriteLock>>,
    ) -> Transaction<'db> {
        let (tx, lsn) = (state.next_tx, state.next_lsn);
        Transaction {
            db,
            state: Some(state),
            overlay,
            catalog,
            schema_changed: false,
            rewrites_history: false,
            tx,
            first_lsn: lsn,
            next_lsn: lsn,
            actor: None,
            reason: None,
            durability: db.options.durability,
            broken: None,
            commit_time: None,
            touched: Vec::new(),
            xlock,
        }
    }

    /// Records who makes this change (kept with every event of the transaction).
    pub fn set_actor(&mut self, actor: impl Into<String>) {
        self.actor = Some(actor.into());
    }

    /// Records why (kept with every event of the transaction).
    pub fn set_reason(&mut self, reason: impl Into<String>) {
        self.reason = Some(reason.into());
    }

    /// Overrides the store's durability for this transaction.
    pub fn set_durability(&mut self, d: Durability) {
        self.durability = d;
    }

    /// The id this transaction will have once committed.
    pub fn id(&self) -> u64 {
        self.tx
    }

    /// Number of events staged so far.
    pub fn len(&self) -> u64 {
        self.next_lsn - self.first_lsn
    }

    /// True when nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn check_usable(&self) -> Result<()> {
        match &self.broken {
            Some(why) => Err(Error::invalid(format!(
                "this transaction can no longer be used: {why}; drop it and start again"
            ))),
            None => Ok(()),
        }
    }

    /// Stages one event: writes it to the log and applies it to the views. Called only after
    /// every check passed; a failure here (a storage read error) breaks the transaction so it
    /// can never commit half an operation.
    fn stage(&mut self, body: EventBody) -> Result<u64> {
        let lsn = self.next_lsn;
        let ev = Event {
            lsn,
            tx: self.tx,
            body,
        };
        // Encoding fails for an oversized row before anything is staged: not a broken transaction.
        let rec = ev.encode()?;
        let res = (|| -> Result<()> {
            if matches!(
                ev.body,
                EventBody::Purge { .. } | EventBody::PruneHistory { .. }
            ) {
                self.rewrites_history = true;
            }
            if matches!(
                ev.body,
                EventBody::CreateTables(_)
                    | EventBody::AddColumn { .. }
                    | EventBody::AddIndex { .. }
            ) {
                self.schema_changed = true;
                // Only a schema event changes the catalog: the transaction takes its own copy
                // then, not for every row it stages.
                views::apply(Arc::make_mut(&mut self.catalog), &ev, &mut self.overlay)?;
            } else {
                views::apply_row(&self.catalog, &ev, &mut self.overlay)?;
            }
            self.overlay
                .put(Space::Log, codec::log_key(lsn).to_vec(), rec);
            Ok(())
        })();
        match res {
            Ok(()) => {
                self.next_lsn += 1;
                Ok(lsn)
            }
            Err(e) => {
                self.broken = Some(e.to_string());
                Err(e)
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Schema.

    /// Creates tables (given together they may reference each other).
    pub fn create_tables(&mut self, specs: &[TableSpec]) -> Result<()> {
        self.check_usable()?;
        if specs.is_empty() {
            return Ok(());
        }
        let defs = schema::validate_new_tables(&self.catalog, specs)?;
        // Resolve in a scratch catalog first so a bad definition stages nothing.
        let mut scratch = (*self.catalog).clone();
        scratch.put(defs.clone())?;
        self.stage(EventBody::CreateTables(defs))?;
        Ok(())
    }

    /// Creates one table.
    pub fn create_table(&mut self, spec: impl Into<TableSpec>) -> Result<()> {
        self.create_tables(&[spec.into()])
    }

    /// Appends a column (nullable, or with a default) to a table.
    pub fn add_column(&mut self, table: &str, column: impl Into<ColumnDef>) -> Result<()> {
        self.check_usable()?;
        let t = self.catalog.table(table)?.clone();
        let column = schema::validate_new_column(&t, &column.into())?;
        self.stage(EventBody::AddColumn {
            table: t.id(),
            column,
        })?;
        Ok(())
    }

    /// Adds an index (or, with `unique`, a unique constraint, checked over the live rows now).
    pub fn add_index(&mut self, table: &str, columns: &[&str], unique: bool) -> Result<()> {
        self.check_usable()?;
        let t = self.catalog.table(table)?.clone();
        let cols: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        let index = schema::validate_new_index(&t, &cols, unique)?;
        if unique {
            self.check_unique_over_live_rows(&t, &cols)?;
        }
        self.stage(EventBody::AddIndex {
            table: t.id(),
            index,
        })?;
        Ok(())
    }

    fn check_unique_over_live_rows(&self, t: &Table, cols: &[String]) -> Result<()> {
        let pos: Vec<usize> = cols.iter().map(|c| t.column(c)).collect::<Result<_>>()?;
        let prefix = codec::table_prefix(t.id());
        let mut seen = std::collections::HashSet::new();
        for item in crate::records::scan_prefix(&self.overlay, Space::Rows, &prefix, false)? {
            let (k, v) = item?;
            let row = crate::records::decode_row(&k, &v)?;
            let (vals, has_null) = crate::records::index_vals(t, &pos, &row.image);
            if !has_null && !seen.insert(vals.clone()) {
                let shown: Vec<String> = keys::decode_values(&vals)?
                    .iter()
                    .map(|v| v.to_string())
                    .collect();
                return Err(Error::ConstraintViolation {
                    table: t.name().to_string(),
                    constraint: Constraint::Unique(cols.to_vec()),
                    value: shown.join(", "),
                });
            }
        }
        if t.def.trash_keeps_keys {
            // trashed rows keep their values: they count as taken
            for item in crate::records::scan_prefix(&self.overlay, Space::Dead, &prefix, false)? {
                let (_, v) = item?;
                let (_, last): (u128, u64) =
                    crate::codec::record::decode(&v, crate::codec::record::kind::DEAD, &|| {
                        "trashed row".to_string()
                    })?;
                let image = crate::history::image_of(&self.overlay, last)?;
                let (vals, has_null) = crate::records::index_vals(t, &pos, &image);
                if !has_null && !seen.insert(vals.clone()) {
                    let shown: Vec<String> = keys::decode_values(&vals)?
                        .iter()
                        .map(|v| v.to_string())
                        .collect();
                    return Err(Error::ConstraintViolation {
                        table: t.name().to_string(),
                        constraint: Constraint::Unique(cols.to_vec()),
                        value: format!(
                            "{} (held by a trashed row: this table keeps trashed keys)",
                            shown.join(", ")
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// Applies a schema file's tables: creates the new ones and extends existing ones with new
    /// columns and indexes. Anything else (a changed or dropped column, a new foreign key on an
    /// existing table) is refused.
    pub fn apply_schema(&mut self, specs: &[TableSpec]) -> Result<()> {
        self.check_usable()?;
        let (new, existing): (Vec<&TableSpec>, Vec<&TableSpec>) = specs
            .iter()
            .partition(|s| self.catalog.table(&s.name).is_err());
        // Check every change of existing tables before staging any.
        for s in &existing {
            let t = self.catalog.table(&s.name)?;
            for c in &s.columns {
                if let Some(&p) = t.col_pos.get(&c.name) {
                    let old = t.def.columns.get(p);
                    if old.map(|o| (o.ty, o.nullable)) != Some((c.ty, c.nullable)) {
                        return Err(Error::schema(format!(
                            "table `{}`: column `{}` already exists with another type or nullability; changing a column is not supported",
                            s.name, c.name
                        )));
                    }
                } else {
                    schema::validate_new_column(t, c)?;
                }
            }
            for c in &t.def.columns {
                if !s.columns.iter().any(|x| x.name == c.name) {
                    return Err(Error::schema(format!(
                        "table `{}`: column `{}` is missing from the schema file; dropping columns is not supported",
                        s.name, c.name
                    )));
                }
            }
            if s.primary_key.as_deref() != Some(t.def.primary_key.as_str()) {
                return Err(Error::schema(format!(
                    "table `{}`: the primary key cannot change",
                    s.name
                )));
            }
            for (col, refs, od) in &s.foreign_keys {
                if !t
                    .def
                    .foreign_keys
                    .iter()
                    .any(|f| &f.column == col && &f.references == refs && f.on_delete == *od)
                {
                    return Err(Error::schema(format!(
                        "table `{}`: adding or changing a foreign key on an existing table is not supported ({col} -> {refs})",
                        s.name
                    )));
                }
            }
        }
        let new: Vec<TableSpec> = new.into_iter().cloned().collect();
        let before = self.next_lsn;
        let res = (|| -> Result<()> {
            if !new.is_empty() {
                self.create_tables(&new)?;
            }
            for s in &existing {
                let t = self.catalog.table(&s.name)?.clone();
                for c in &s.columns {
                    if !t.col_pos.contains_key(&c.name) {
                        self.add_column(&s.name, c.clone())?;
                    }
                }
                let t = self.catalog.table(&s.name)?.clone();
                let has = |cols: &[String], unique: bool| {
                    let pos: Vec<usize> = cols
                        .iter()
                        .filter_map(|c| t.col_pos.get(c).copied())
                        .collect();
                    t.indexes
                        .iter()
                        .any(|i| i.cols == pos && (i.unique || !unique))
                };
                for u in &s.unique {
                    if !has(u, true) {
                        let cols: Vec<&str> = u.iter().map(String::as_str).collect();
                        self.add_index(&s.name, &cols, true)?;
                    }
                }
                for i in &s.indexes {
                    if !has(i, false) {
                        let cols: Vec<&str> = i.iter().map(String::as_str).collect();
                        self.add_index(&s.name, &cols, false)?;
                    }
                }
            }
            Ok(())
        })();
        if res.is_err() && self.next_lsn != before {
            // Part of the file was staged: the whole transaction must not commit.
            self.broken = Some("a schema change failed halfway".into());
        }
        res
    }

    // -----------------------------------------------------------------------------------------
    // Rows.

    fn wrong_type(t: &Table, c: &ColumnDef, v: &Value) -> Error {
        Error::WrongType {
            table: t.name().to_string(),
            column: c.name.clone(),
            expected: c.ty.name().to_string(),
            got: v.kind().to_string(),
        }
    }

    fn check_cell(t: &Table, c: &ColumnDef, v: Value) -> Result<Value> {
        let v = v.coerce(c.ty).map_err(|v| Self::wrong_type(t, c, &v))?;
        if let Value::Timestamp(ts) = &v {
            ts.check()
                .map_err(|e| Error::invalid(format!("{}.{}: {e}", t.name(), c.name)))?;
        }
        if v.is_null() && !c.nullable {
            return Err(Error::ConstraintViolation {
                table: t.name().to_string(),
                constraint: Constraint::NotNull(c.name.clone()),
                value: "null".into(),
            });
        }
        Ok(v)
    }

    /// Refuses rows whose keys the engines could not store: a primary key longer than
    /// [`MAX_PK_BYTES`] encoded, or indexed values making an index key longer than
    /// [`MAX_KEY_BYTES`].
    fn check_key_sizes(t: &Table, image: &[Value], pk_enc: &[u8]) -> Result<()> {
        if pk_enc.len() > MAX_PK_BYTES {
            return Err(Error::invalid(format!(
                "{}: the primary key is {} bytes encoded; the limit is {MAX_PK_BYTES}",
                t.name(),
                pk_enc.len()
            )));
        }
        for idx in &t.indexes {
            let (vals, _) = crate::records::index_vals(t, &idx.cols, image);
            let len = 8 + vals.len() + pk_enc.len();
            if len > MAX_KEY_BYTES {
                let cols: Vec<&str> = idx
                    .cols
                    .iter()
                    .filter_map(|&c| t.def.columns.get(c).map(|c| c.name.as_str()))
                    .collect();
                return Err(Error::invalid(format!(
                    "{}: the values indexed over ({}) make a {len}-byte key; the limit is {MAX_KEY_BYTES}",
                    t.name(),
                    cols.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// The first unique value of `image` (row `pk_enc` of `t`) that another row holds:
    /// `KeyReserved` when the trash keeps it for a deleted row, a unique violation when a live
    /// row has it (see [`crate::checks`]).
    fn check_unique(
        &self,
        t: &Table,
        image: &[Value],
        pk_enc: &[u8],
        only_changed_from: Option<&[Value]>,
    ) -> Result<()> {
        for value in checks::unique_values(t, image, only_changed_from) {
            if let Some(h) = checks::holders(&self.overlay, t, &value, pk_enc)?.first() {
                return Err(match h.reserved_by {
                    Some(deletion) => Error::KeyReserved {
                        table: t.name().to_string(),
                        value: value.shown(t, image),
                        deletion,
                    },
                    None => Error::ConstraintViolation {
                        table: t.name().to_string(),
                        constraint: Constraint::Unique(value.columns(t)),
                        value: value.shown(t, image),
                    },
                });
            }
        }
        Ok(())
    }

    /// The first foreign key of `image` whose parent is not live (see [`crate::checks`]).
    fn check_parents(
        &self,
        t: &Table,
        image: &[Value],
        only_changed_from: Option<&[Value]>,
    ) -> Result<()> {
        // the row's own key matters only to a foreign key into its own table
        let own = if t.fks.iter().any(|fk| fk.parent == t.id()) {
            keys::encode_one(&crate::records::cell(t, image, t.pk))
        } else {
            Vec::new()
        };
        let missing = checks::missing_parents(
            &self.overlay,
            &self.catalog,
            t,
            image,
            &own,
            only_changed_from,
            &|_, _| false,
        )?;
        match missing.into_iter().next() {
            Some(m) => Err(Error::ConstraintViolation {
                table: t.name().to_string(),
                constraint: Constraint::ForeignKey {
                    column: m.column,
                    references: m.parent,
                },
                value: m.value.to_string(),
            }),
            None => Ok(()),
        }
    }

    /// Inserts a row and returns it as stored (with its primary key, defaults filled in).
    ///
    /// An omitted integer key is assigned by the store (increasing, never reused, not even after
    /// a delete); an omitted uuid key gets a v7 uuid; a text key must be given.
    pub fn insert(&mut self, table: &str, row: Row) -> Result<Row> {
        self.check_usable()?;
        let t = self.catalog.table(table)?.clone();
        for (name, _) in row.iter() {
            t.column(name)?;
        }
        let mut row = row;
        let mut image = Vec::with_capacity(t.def.columns.len());
        for (i, c) in t.def.columns.iter().enumerate() {
            let given = row.remove(&c.name);
            let v = match given {
                Some(v) if !v.is_null() => v,
                _ if i == t.pk => match c.ty {
                    ColumnType::Int => match crate::records::read_seq(&self.overlay, t.id())? {
                        // i64::MAX itself is never a key: the sequence is used up.
                        i64::MAX => {
                            return Err(Error::KeysExhausted {
                                table: t.name().to_string(),
                            })
                        }
                        next => Value::Int(next),
                    },
                    ColumnType::Uuid => Value::Uuid(uuid::Uuid::now_v7()),
                    _ => {
                        return Err(Error::ConstraintViolation {
                            table: t.name().to_string(),
                            constraint: Constraint::NotNull(c.name.clone()),
                            value: "null (a text primary key must be given)".into(),
                        })
                    }
                },
                Some(v) => v,
                None => c.fill(),
            };
            image.push(Self::check_cell(&t, c, v)?);
        }
        let pk = image.get(t.pk).cloned().unwrap_or(Value::Null);
        if let Value::Int(i) = pk {
            if i == i64::MAX {
                return Err(Error::invalid(format!(
                    "{}: primary key {i} is the largest integer, which is never a key \
                     (integer keys run from {} to {}); use a smaller one",
                    t.name(),
                    i64::MIN,
                    i64::MAX - 1
                )));
            }
        }
        let pk_enc = keys::encode_one(&pk);
        // An integer key at or past the table's sequence (the largest integer key ever
        // inserted + 1, design §7) was never used: no live or trashed row has it, and the two
        // reads below can be skipped (rows inserted in ascending key order, the common case).
        let never_used = match pk {
            Value::Int(i) => i >= crate::records::read_seq(&self.overlay, t.id())?,
            _ => false,
        };
        if t.def.trash_keeps_keys && !never_used {
            if let Some((deletion, _)) = crate::records::get_dead(&self.overlay, t.id(), &pk_enc)? {
                return Err(Error::KeyReserved {
                    table: t.name().to_string(),
                    value: pk.to_string(),
                    deletion,
                });
            }
        }
        Self::check_key_sizes(&t, &image, &pk_enc)?;
        if !never_used && crate::records::row_exists(&self.overlay, t.id(), &pk_enc)? {
            return Err(Error::ConstraintViolation {
                table: t.name().to_string(),
                constraint: Constraint::PrimaryKey,
                value: pk.to_string(),
            });
        }
        self.check_unique(&t, &image, &pk_enc, None)?;
        self.check_parents(&t, &image, None)?;
        let out = crate::records::to_row(&t, &image);
        self.stage(EventBody::Insert {
            table: t.id(),
            pk,
            image,
        })?;
        Ok(out)
    }

    /// Inserts a `serde` value (a struct whose fields are the columns) and returns the stored row.
    pub fn insert_as<T: Serialize>(&mut self, table: &str, value: &T) -> Result<Row> {
        let json = serde_json::to_value(value)
            .map_err(|e| Error::invalid(format!("cannot serialize the value: {e}")))?;
        self.insert(table, Row::from_json(&json)?)
    }

    /// Updates the given columns of a live row (a partial update) and returns the new row.
    pub fn update(&mut self, table: &str, pk: impl Into<Value>, changes: Row) -> Result<Row> {
        self.check_usable()?;
        let t = self.catalog.table(table)?.clone();
        let (pk, enc) = pk_enc(&t, pk.into())?;
        let old = crate::records::get_row(&self.overlay, t.id(), &enc)?.ok_or_else(|| {
            Error::NotFound {
                table: t.name().to_string(),
                pk: pk.to_string(),
            }
        })?;
        let mut image: Vec<Value> = (0..t.def.columns.len())
            .map(|i| crate::records::cell(&t, &old.image, i))
            .collect();
        for (name, v) in changes.iter() {
            let pos = t.column(name)?;
            let c = t
                .def
                .columns
                .get(pos)
                .ok_or_else(|| Error::corrupted("catalog", "column out of range"))?;
            let v = Self::check_cell(&t, c, v.clone())?;
            if pos == t.pk {
                if keys::encode_one(&v) != enc {
                    return Err(Error::invalid(format!(
                        "{}: the primary key cannot be changed by an update; insert a new row instead",
                        t.name()
                    )));
                }
                continue;
            }
            if let Some(slot) = image.get_mut(pos) {
                *slot = v;
            }
        }
        Self::check_key_sizes(&t, &image, &enc)?;
        self.check_unique(&t, &image, &enc, Some(&old.image))?;
        self.check_parents(&t, &image, Some(&old.image))?;
        let out = crate::records::to_row(&t, &image);
        self.stage(EventBody::Update {
            table: t.id(),
            pk,
            image,
        })?;
        Ok(out)
    }

    /// Deletes a row and every row reached from it through `on_delete = cascade`, as one
    /// deletion (see [`crate::Deletion`]); rows referencing a deleted row through `set_null` get
    /// their reference set to null inside the same deletion. Refused, with every blocking row
    /// named, when a live row references a deleted row through `restrict`. Returns the deletion
    /// id and its rows, the deleted row first.
    pub fn delete(&mut self, table: &str, pk: impl Into<Value>) -> Result<DeleteReport> {
        self.delete_many(table, vec![pk.into()])
    }

    /// Deletes several rows of one table (with their cascades) as one deletion.
    pub fn delete_many(&mut self, table: &str, pks: Vec<Value>) -> Result<DeleteReport> {
        self.check_usable()?;
        let t = self.catalog.table(table)?.clone();
        if pks.is_empty() {
            return Err(Error::invalid("nothing to delete: no primary keys given"));
        }
        let roots = pks
            .into_iter()
            .map(|pk| Ok((t.clone(), pk_enc(&t, pk)?.0)))
            .collect::<Result<Vec<_>>>()?;
        self.delete_roots(&roots)
    }

    /// Deletes every live row of `table` whose indexed `columns` equal `values` (with their
    /// cascades) as one deletion.
    pub fn delete_where(
        &mut self,
        table: &str,
        columns: &[&str],
        values: &[Value],
    ) -> Result<DeleteReport> {
        let t = self.catalog.table(table)?.clone();
        let rows = self.lookup(table, columns, values)?;
        let pks: Vec<Value> = rows
            .iter()
            .filter_map(|r| r.get(&t.def.primary_key).cloned())
            .collect();
        if pks.is_empty() {
            return Err(Error::NotFound {
                table: table.to_string(),
                pk: format!("(no live row with {} = {:?})", columns.join(", "), values),
            });
        }
        self.delete_many(table, pks)
    }

    fn delete_roots(&mut self, roots: &[(Arc<Table>, Value)]) -> Result<DeleteReport> {
        let plan = cascade::plan_delete(&self.overlay, &self.catalog, roots)?;
        let deletion = uuid::Uuid::now_v7();
        let mut report = DeleteReport {
            deletion,
            rows: Vec::with_capacity(plan.tombstones.len()),
            unlinked: Vec::with_capacity(plan.unlinks.len()),
        };
        for (t, pk, root) in plan.tombstones {
            report.rows.push(RowRef {
                table: t.name().to_string(),
                pk: pk.clone(),
            });
            self.stage(EventBody::Tombstone {
                table: t.id(),
                pk,
                deletion,
                root,
            })?;
        }
        for (t, pk, image) in plan.unlinks {
            report.unlinked.push(RowRef {
                table: t.name().to_string(),
                pk: pk.clone(),
            });
            self.stage(EventBody::Unlink {
                table: t.id(),
                pk,
                image,
                deletion,
            })?;
        }
        Ok(report)
    }

    /// Restores a deletion: every row it tombstoned comes back with its last live image (in
    /// today's columns: a column added since reads its default), parents before children, and
    /// its set-null updates are reverted. With [`RestorePolicy::Refuse`] any conflict refuses the
    /// whole restore ([`Error::RestoreConflict`] lists them all, nothing is staged); with
    /// [`RestorePolicy::SkipConflicts`] conflicting rows and the rows depending on them stay in
    /// the trash and are reported.
    pub fn restore(&mut self, deletion: uuid::Uuid, policy: RestorePolicy) -> Result<RestorePlan> {
        self.check_usable()?;
        let plan = restore::plan_restore(&self.overlay, &self.catalog, &deletion, None, policy)?;
        self.apply_restore(plan, policy)
    }

    /// Restores one trashed row of a deletion (only that row: rows that were deleted with it
    /// stay in the trash). Its parents must be live; otherwise the restore is refused with a
    /// `parent_not_live` conflict.
    pub fn restore_row(
        &mut self,
        deletion: uuid::Uuid,
        table: &str,
        pk: impl Into<Value>,
    ) -> Result<RestorePlan> {
        self.check_usable()?;
        let t = self.catalog.table(table)?.clone();
        let (pk, _) = pk_enc(&t, pk.into())?;
        let plan = restore::plan_restore(
            &self.overlay,
            &self.catalog,
            &deletion,
            Some((&t, &pk)),
            RestorePolicy::Refuse,
        )?;
        self.apply_restore(plan, RestorePolicy::Refuse)
    }

    fn apply_restore(
        &mut self,
        mut plan: RestorePlan,
        policy: RestorePolicy,
    ) -> Result<RestorePlan> {
        if policy == RestorePolicy::Refuse && !plan.conflicts.is_empty() {
            return Err(Error::RestoreConflict {
                deletion: plan.deletion,
                conflicts: plan.conflicts,
            });
        }
        for body in std::mem::take(&mut plan.events) {
            self.stage(body)?;
        }
        Ok(plan)
    }

    /// Purges a deletion for good: every row still in its trash loses every image it ever had
    /// (in the log, the views and the version index), and the deletion leaves the trash. A
    /// purge event per row records table, primary key and deletion — never a value; the
    /// transaction's actor and reason say who and why. Restoring the deletion afterwards, or
    /// reading those rows as of an earlier point, is [`Error::Purged`]. See `docs/design.md`
    /// §11.
    pub fn purge(&mut self, deletion: uuid::Uuid) -> Result<PurgeReport> {
        self.check_usable()?;
        let rec = crate::records::need_deletion(&self.overlay, &deletion)?;
        if rec.remaining == 0 {
            return Err(Error::invalid(format!(
                "deletion {deletion} has been restored: nothing of it is in the trash to purge \
                 (erase the rows themselves to remove their data)"
            )));
        }
        let members = crate::history::trashed_members(&self.overlay, &deletion)?;
        let mut report = PurgeReport {
            deletion,
            rows: Vec::with_capacity(members.len()),
            images: 0,
            also: Vec::new(),
        };
        for (table, pk_enc, pk, tombstone) in members {
            let t = self.catalog.by_id(table)?.clone();
            report.rows.push(RowRef {
                table: t.name().to_string(),
                pk: pk.clone(),
            });
            report.images += self.purge_row(table, &pk_enc, pk, deletion, tombstone)?;
        }
        self.stage(EventBody::PurgeDeletion { deletion })?;
        Ok(report)
    }

    /// Stages the purge of one trashed row and rewrites every image of the life that its
    /// tombstone (at `tombstone`) ended; returns the number of images removed. A failure
    /// breaks the transaction.
    fn purge_row(
        &mut self,
        table: u32,
        pk_enc: &[u8],
        pk: Value,
        deletion: uuid::Uuid,
        tombstone: u64,
    ) -> Result<u64> {
        self.stage(EventBody::Purge {
            table,
            pk,
            deletion,
        })?;
        let res = (|| -> Result<u64> {
            let mut n = 0;
            let t = self.catalog.by_id(table)?.clone();
            for img in crate::history::life_images(&self.overlay, table, pk_enc, tombstone)? {
                if !img.purged
                    && crate::history::purge_image(&mut self.overlay, &t, pk_enc, img.lsn)?
                {
                    n += 1;
                }
            }
            Ok(n)
        })();
        if let Err(e) = &res {
            self.broken = Some(e.to_string());
        }
        res
    }

    /// Erases a row for good, e.g. after a leak or a legal request: a live row is deleted as
    /// [`Transaction::delete`] would (rows its deletion cascades to or sets null join it) and
    /// that deletion is purged; a row in the trash has its whole deletion purged. Every version
    /// the row ever had is gone afterwards. [`Error::NotFound`] when the row is neither live
    /// nor in the trash.
    pub fn erase(&mut self, table: &str, pk: impl Into<Value>) -> Result<PurgeReport> {
        self.check_usable()?;
        let t = self.catalog.table(table)?.clone();
        let (pk, enc) = pk_enc(&t, pk.into())?;
        let deletion = if crate::records::row_exists(&self.overlay, t.id(), &enc)? {
            self.delete_roots(&[(t.clone(), pk.clone())])?.deletion
        } else if let Some((d, _)) = crate::records::get_dead(&self.overlay, t.id(), &enc)? {
            d
        } else if let Some((d, _)) =
            crate::history::deletion_holding_a_life(&self.overlay, t.id(), &enc, None)?
        {
            d
        } else {
            return Err(Error::NotFound {
                table: t.name().to_string(),
                pk: pk.to_string(),
            });
        };
        let mut report = self.purge(deletion)?;
        // Earlier lives of the same key (a table whose trash frees keys) may still be in the
        // trash of other deletions: every version of the row goes, so those go too.
        while let Some((other, _)) =
            crate::history::deletion_holding_a_life(&self.overlay, t.id(), &enc, None)?
        {
            let more = self.purge(other)?;
            report.rows.extend(more.rows);
            report.images += more.images;
            report.also.push(other);
        }
        Ok(report)
    }

    /// Sets the retention policy of a table, or of the store for `None` (a table's policy, when
    /// set, replaces the store's as a whole). An empty policy removes it. Enforced by
    /// [`crate::Db::apply_retention`]; as-of reads before a history window are refused at once.
    pub fn set_retention(&mut self, table: Option<&str>, policy: Retention) -> Result<()> {
        self.check_usable()?;
        let table = match table {
            Some(name) => Some(self.catalog.table(name)?.id()),
            None => None,
        };
        check_windows(&policy)?;
        self.stage(EventBody::SetRetention { table, policy })?;
        Ok(())
    }

    /// Applies a parsed schema file: its tables (as [`Transaction::apply_schema`]) and every
    /// retention policy it sets that differs from the one in force.
    pub fn apply_schema_document(&mut self, doc: &schema::SchemaFile) -> Result<()> {
        self.apply_schema(&doc.tables)?;
        for (table, policy) in &doc.retention {
            let id = match table {
                Some(name) => Some(self.catalog.table(name)?.id()),
                None => None,
            };
            let current = crate::records::read_retention(&self.overlay, id)?.unwrap_or_default();
            if current != *policy {
                self.set_retention(table.as_deref(), *policy)?;
            }
        }
        Ok(())
    }

    /// Drops the versions of `table` written before LSN `horizon` that no read from `horizon`
    /// on shows: each row keeps the version in effect at the first point the window leaves
    /// readable, the last image before each of its tombstones and set-null updates whose
    /// deletion still held it at `horizon` (the as-of trash shows those), its latest image and
    /// every image the trash needs now. As-of reads of the table before `horizon` are refused
    /// from then on. Returns the number of images removed.
    pub fn prune_history(&mut self, table: &str, horizon: u64) -> Result<u64> {
        self.check_usable()?;
        let t = self.catalog.table(table)?.clone();
        if horizon > self.next_lsn {
            return Err(Error::invalid(format!(
                "horizon lsn {horizon} is beyond the end of the log"
            )));
        }
        // The first point the window leaves readable: a point inside a transaction reads as
        // the whole transaction.
        let first_point = match crate::log::read_event(&self.overlay, horizon)? {
            Some(ev) => crate::log::read_tx(&self.overlay, ev.tx)?
                .map_or(horizon, |rec| rec.last_lsn.max(horizon)),
            None => horizon,
        };
        let res = (|| -> Result<u64> {
            let keep = crate::history::images_in_use(&self.overlay, t.id())?;
            let mut n = 0;
            for pk_enc in crate::history::rows_with_history(&self.overlay, t.id())? {
                let versions = crate::history::image_versions(&self.overlay, t.id(), &pk_enc)?;
                let Some((latest, older)) = versions.split_last() else {
                    continue;
                };
                // What the points inside the window still read of the row's older images.
                let read = crate::history::images_read_after(
                    &self.overlay,
                    t.id(),
                    &pk_enc,
                    horizon,
                    first_point,
                )?;
                for &at in older {
                    if at < horizon
                        && at != *latest
                        && !read.contains(&at)
                        && !keep.contains(&at)
                        && crate::history::purge_image(&mut self.overlay, &t, &pk_enc, at)?
                    {
                        n += 1;
                    }
                }
            }
            Ok(n)
        })();
        if let Err(e) = &res {
            self.broken = Some(e.to_string());
        }
        let n = res?;
        self.stage(EventBody::PruneHistory {
            table: t.id(),
            horizon,
        })?;
        Ok(n)
    }

    /// Restores a scope (a row, a table, the store) to its state at LSN `target` by
    /// compensating events (see [`RewindPlan`]): rows deleted since come back, rows created
    /// since are tombstoned as one new deletion, changed rows get their old image back. Refused
    /// with [`Error::RewindConflict`], writing nothing, when it conflicts with rows outside the
    /// scope.
    pub fn restore_to(&mut self, scope: &Scope, target: u64) -> Result<RewindPlan> {
        self.check_usable()?;
        let rows = match scope {
            Scope::Row { table, pk } => {
                let t = self.catalog.table(table)?;
                let (_, enc) = pk_enc(t, pk.clone())?;
                Some(vec![(t.id(), enc)])
            }
            _ => None,
        };
        let now = self.db.options.clock.now();
        let plan = restore_to::plan(&self.overlay, &self.catalog, target, scope, rows, now)?;
        if !plan.conflicts.is_empty() {
            return Err(Error::RewindConflict {
                what: format!("restore to lsn {target}"),
                conflicts: plan.conflicts,
            });
        }
        self.apply_rewind(plan)
    }

    /// Undoes one transaction by compensating events: every row it touched gets back its state
    /// from just before it. Refused when a later transaction changed one of those rows (listing
    /// them) unless `force`, and always when the transaction changed the schema.
    pub fn undo(&mut self, tx: u64, force: bool) -> Result<RewindPlan> {
        self.check_usable()?;
        let (target, rows, mut conflicts) =
            restore_to::undo_scope(&self.overlay, &self.catalog, tx)?;
        if force {
            conflicts.retain(|c| c.kind != trash::ConflictKind::ChangedLater);
        }
        let plan = restore_to::plan(
            &self.overlay,
            &self.catalog,
            target,
            &Scope::Store,
            Some(rows),
            self.db.options.clock.now(),
        )?;
        conflicts.extend(plan.conflicts.iter().cloned());
        if !conflicts.is_empty() {
            return Err(Error::RewindConflict {
                what: format!("undo of transaction {tx}"),
                conflicts,
            });
        }
        self.apply_rewind(plan)
    }

    fn apply_rewind(&mut self, mut plan: RewindPlan) -> Result<RewindPlan> {
        let deletion = uuid::Uuid::now_v7();
        for staged in std::mem::take(&mut plan.events) {
            let body = match staged {
                Staged::Event(body) => body,
                Staged::Tombstone { table, pk } => EventBody::Tombstone {
                    table,
                    pk,
                    deletion,
                    root: true,
                },
            };
            self.stage(body)?;
        }
        Ok(plan)
    }

    /// The LSN the next staged event gets.
    pub(crate) fn next_lsn(&self) -> u64 {
        self.next_lsn
    }

    /// The catalog as this transaction sees it.
    pub(crate) fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Commits with this time instead of the clock's (import keeps the exported times). Times
    /// must not go back: an earlier time than the previous commit's is refused at commit.
    pub(crate) fn set_commit_time(&mut self, at: Timestamp) {
        self.commit_time = Some(at);
    }

    /// Stages an event coming from outside (an import), after every check a write of that kind
    /// would make.
    pub(crate) fn stage_checked(&mut self, body: EventBody) -> Result<()> {
        self.check_usable()?;
        match &body {
            EventBody::CreateTables(defs) => {
                if defs.is_empty() {
                    return Err(Error::schema("a schema event that creates no table"));
                }
                let specs: Vec<TableSpec> = defs.iter().map(spec_of).collect();
                let expected = schema::validate_new_tables(&self.catalog, &specs)?;
                if &expected != defs {
                    return Err(Error::schema(
                        "the table definitions are not the ones the store would create from them (ids or indexes differ)",
                    ));
                }
            }
            EventBody::AddColumn { table, column } => {
                let t = self.catalog.by_id(*table)?.clone();
                if &schema::validate_new_column(&t, column)? != column {
                    return Err(Error::schema("the added column does not validate as given"));
                }
            }
            EventBody::AddIndex { table, index } => {
                let t = self.catalog.by_id(*table)?.clone();
                if &schema::validate_new_index(&t, &index.columns, index.unique)? != index {
                    return Err(Error::schema("the added index does not validate as given"));
                }
                if index.unique {
                    self.check_unique_over_live_rows(&t, &index.columns)?;
                }
            }
            EventBody::Insert { table, pk, image }
            | EventBody::Update { table, pk, image }
            | EventBody::Unlink {
                table, pk, image, ..
            }
            | EventBody::Restore {
                table, pk, image, ..
            } => {
                let t = self.catalog.by_id(*table)?.clone();
                if image.len() != t.def.columns.len() {
                    return Err(Error::invalid(
                        "a row image does not have the table's columns",
                    ));
                }
                for (c, v) in t.def.columns.iter().zip(image) {
                    if Self::check_cell(&t, c, v.clone())? != *v {
                        return Err(Error::invalid(format!(
                            "{}.{}: {v} is not stored as given (a value of another type, or a NaN \
                             that is not the store's one NaN)",
                            t.name(),
                            c.name
                        )));
                    }
                }
                check_image_pk(&t, &body)?;
                if let (EventBody::Insert { .. }, Value::Int(i64::MAX)) = (&body, pk) {
                    return Err(Error::invalid(format!(
                        "{}: primary key {} is the largest integer, which is never a key",
                        t.name(),
                        i64::MAX
                    )));
                }
                let enc = keys::encode_one(pk);
                let live = crate::records::row_exists(&self.overlay, t.id(), &enc)?;
                match &body {
                    EventBody::Update { .. } | EventBody::Unlink { .. } if !live => {
                        return Err(Error::NotFound {
                            table: t.name().to_string(),
                            pk: pk.to_string(),
                        })
                    }
                    EventBody::Insert { .. } if live => {
                        return Err(Error::ConstraintViolation {
                            table: t.name().to_string(),
                            constraint: Constraint::PrimaryKey,
                            value: pk.to_string(),
                        })
                    }
                    EventBody::Insert { .. } if t.def.trash_keeps_keys => {
                        if let Some((deletion, _)) =
                            crate::records::get_dead(&self.overlay, t.id(), &enc)?
                        {
                            return Err(Error::KeyReserved {
                                table: t.name().to_string(),
                                value: pk.to_string(),
                                deletion,
                            });
                        }
                    }
                    EventBody::Restore { deletion, .. } => {
                        // A restore takes a member out of its deletion's trash: a trashed row
                        // (the row is not live) or a set-null update to revert (it is).
                        let expected = if live {
                            crate::records::MEMBER_UNLINK
                        } else {
                            crate::records::MEMBER_TOMBSTONE
                        };
                        if self.member_kind(deletion, t.id(), &enc)? != Some(expected) {
                            return Err(Error::invalid(format!(
                                "a restore of {} {pk} names deletion {deletion}, whose trash does \
                                 not hold {}",
                                t.name(),
                                if live {
                                    "a set-null update of the row"
                                } else {
                                    "the row"
                                }
                            )));
                        }
                    }
                    _ => {}
                }
                if let EventBody::Unlink { deletion, .. } = &body {
                    self.check_new_deletion(deletion)?;
                }
                Self::check_key_sizes(&t, image, &enc)?;
                self.touched.push((t.id(), pk.clone()));
            }
            EventBody::SetRetention { table, policy } => {
                if let Some(t) = table {
                    self.catalog.by_id(*t)?;
                }
                check_windows(policy)?;
            }
            EventBody::ImagePurged {
                table,
                pk,
                was,
                deletion,
            } => {
                // what the event it stands for would need, but of an image that is gone
                use crate::codec::record::kind;
                let t = self.catalog.by_id(*table)?.clone();
                let enc = keys::encode_one(pk);
                let live = crate::records::row_exists(&self.overlay, t.id(), &enc)?;
                let fits = match (*was, deletion) {
                    (kind::INSERT, None) => !live,
                    (kind::UPDATE, None) => live,
                    (kind::UNLINK, Some(d)) => {
                        self.check_new_deletion(d)?;
                        live
                    }
                    (kind::RESTORE, Some(d)) => {
                        let expected = if live {
                            crate::records::MEMBER_UNLINK
                        } else {
                            crate::records::MEMBER_TOMBSTONE
                        };
                        self.member_kind(d, t.id(), &enc)? == Some(expected)
                    }
                    _ => false,
                };
                if !fits {
                    return Err(Error::invalid(format!(
                        "a purged image of {} {pk} does not fit the row's state then (it stands \
                         for an event of kind {was}{})",
                        t.name(),
                        if live {
                            ", the row live"
                        } else {
                            ", the row not live"
                        }
                    )));
                }
            }
            EventBody::Purge {
                table,
                pk,
                deletion,
            } => {
                let t = self.catalog.by_id(*table)?.clone();
                let enc = keys::encode_one(pk);
                if self.member_kind(deletion, t.id(), &enc)?
                    != Some(crate::records::MEMBER_TOMBSTONE)
                {
                    return Err(Error::invalid(format!(
                        "a purge of {} {pk} names deletion {deletion}, whose trash does not hold \
                         the row",
                        t.name()
                    )));
                }
            }
            EventBody::PurgeDeletion { deletion } => {
                if crate::records::get_deletion(&self.overlay, deletion)?.is_none() {
                    return Err(Error::invalid(format!(
                        "the purge of deletion {deletion}, which the store does not hold"
                    )));
                }
            }
            EventBody::PruneHistory { table, horizon } => {
                self.catalog.by_id(*table)?;
                if *horizon > self.next_lsn() {
                    return Err(Error::invalid(format!(
                        "a history prune up to lsn {horizon}, after itself"
                    )));
                }
            }
            EventBody::Tombstone {
                table,
                pk,
                deletion,
                ..
            } => {
                let t = self.catalog.by_id(*table)?.clone();
                if crate::records::get_row(&self.overlay, t.id(), &keys::encode_one(pk))?.is_none()
                {
                    return Err(Error::NotFound {
                        table: t.name().to_string(),
                        pk: pk.to_string(),
                    });
                }
                self.check_new_deletion(deletion)?;
                self.touched.push((t.id(), pk.clone()));
            }
        }
        self.stage(body).map(|_| ())
    }

    /// The kind of the member (table, encoded pk) of a deletion's trash, if it holds one.
    fn member_kind(&self, deletion: &uuid::Uuid, table: u32, enc: &[u8]) -> Result<Option<u8>> {
        Ok(ReadView::get(
            &self.overlay,
            Space::DelRows,
            &codec::delrow_key(deletion, table, enc),
        )?
        .map(|b| crate::records::decode_member(&b))
        .transpose()?
        .map(|m| m.kind))
    }

    /// Refuses a tombstone or set-null update joining a deletion made by an earlier transaction
    /// (a deletion is made by one transaction).
    fn check_new_deletion(&self, deletion: &uuid::Uuid) -> Result<()> {
        match crate::records::get_deletion(&self.overlay, deletion)? {
            Some(rec) if rec.tx != self.tx => Err(Error::invalid(format!(
                "deletion {deletion} was made by transaction {}; a later transaction cannot add \
                 rows to it",
                rec.tx
            ))),
            _ => Ok(()),
        }
    }

    /// Checks, at the end of an imported transaction, what the store guarantees at every commit
    /// boundary for the rows the transaction touched: a live row's unique values are its own
    /// (among live rows, and not kept by the trash for another row), its parents are live, and
    /// no live row references a row that is not. The checks run per transaction, as the store
    /// ran them: inside one, a restore may precede the tombstone that frees its value, a child
    /// its parent.
    pub(crate) fn check_consistent(&self) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        for (table, pk) in &self.touched {
            let enc = keys::encode_one(pk);
            if !seen.insert((*table, enc.clone())) {
                continue;
            }
            let t = self.catalog.by_id(*table)?.clone();
            match crate::records::get_row(&self.overlay, t.id(), &enc)? {
                // a purged image: nothing of it is left to check
                Some(row) if row.image.is_empty() => {}
                Some(row) => {
                    self.check_unique(&t, &row.image, &enc, None)?;
                    self.check_parents(&t, &row.image, None)?;
                }
                None => {
                    for (child, fk) in self.catalog.children_of(*table) {
                        let prefix = codec::index_key(child.id(), fk.index, &enc, &[]);
                        if let Some(hit) = crate::records::scan_prefix(
                            &self.overlay,
                            Space::Index,
                            &prefix,
                            false,
                        )?
                        .next()
                        {
                            hit?;
                            return Err(Error::invalid(format!(
                                "{} {pk} is not live but live rows of {} still reference it",
                                t.name(),
                                child.name()
                            )));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Commits: every staged event and view change becomes visible at once, and (in
    /// [`Durability::Immediate`]) durable before this returns. On error nothing was applied,
    /// except when the error is [`Error::Poisoned`] (a failed write or sync): then the store
    /// refuses further writes and must be reopened, and this commit may or may not be on disk.
    pub fn commit(mut self) -> Result<CommitInfo> {
        self.check_usable()?;
        // The writer state stays in the transaction until the batch is in the pipeline: an
        // error before that drops the transaction, which releases the writer lock (and this
        // thread's claim on it) like a rollback.
        let Some(state) = self.state.as_ref() else {
            return Err(Error::Closed);
        };
        let (last_at, state_next_lsn) = (state.last_at, state.next_lsn);
        if self.next_lsn == self.first_lsn {
            let last_lsn = state_next_lsn.saturating_sub(1);
            if let Some(state) = self.state.take() {
                self.db.release_writer();
                drop(state);
            }
            return Ok(CommitInfo {
                tx: None,
                first_lsn: None,
                last_lsn,
            });
        }
        let at = match self.commit_time {
            Some(t) if t < last_at => {
                return Err(Error::invalid(format!(
                    "commit time {t} is earlier than the previous commit's ({last_at})"
                )))
            }
            Some(t) => t,
            None => std::cmp::max(self.db.options.clock.now(), last_at),
        };
        let rec = TxRecord {
            tx: self.tx,
            first_lsn: self.first_lsn,
            last_lsn: self.next_lsn - 1,
            at,
            actor: self.actor.take(),
            reason: self.reason.take(),
        };
        let mut overlay = std::mem::replace(
            &mut self.overlay,
            Overlay::new(Box::new(crate::storage::overlay::EmptyView)),
        );
        overlay.put(Space::Tx, codec::tx_key(self.tx).to_vec(), rec.encode()?);
        let batch = std::sync::Arc::new(overlay.into_batch());
        // Early lock release: once the batch is in the pipeline (and readable by the next
        // writer as a pending layer) the writer lock goes; this commit then waits for its batch
        // to be applied and made durable, sharing the sync with the writers that follow.
        let pending = self.db.pipeline.submit(batch, self.durability)?;
        let Some(mut state) = self.state.take() else {
            return Err(Error::Closed);
        };
        state.next_lsn = self.next_lsn;
        state.next_tx = self.tx + 1;
        state.last_at = at;
        if self.schema_changed {
            *self.db.catalog.write() = self.catalog.clone();
        }
        self.db.release_writer();
        drop(state);
        let rewrote = self.rewrites_history;
        let dropped = |db: &Inner| {
            if rewrote {
                db.history_rewritten()
            } else {
                Ok(())
            }
        };
        // One wait: until applied, and for an Immediate commit durable too. The LSN is
        // published to readers then (the data is readable through engine views as soon as it
        // is applied).
        pending.wait()?;
        // written: the other processes' writers may go on
        drop(self.xlock.take());
        self.db.published.advance(self.next_lsn - 1, self.tx);
        if self.durability == Durability::Immediate {
            self.db.durable_up_to(self.next_lsn - 1);
        }
        // The commit is in; a checkpoint made before it may hold what it purged. (If this
        // fails or the process dies first, the next open finds the checkpoint stale.)
        let _ = dropped(self.db);
        Ok(CommitInfo {
            tx: Some(rec.tx),
            first_lsn: Some(rec.first_lsn),
            last_lsn: rec.last_lsn,
        })
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if let Some(guard) = self.state.take() {
            self.db.release_writer();
            drop(guard);
        }
    }
}

/// What a delete did.
#[derive(Debug, Clone, PartialEq)]
pub struct DeleteReport {
    /// The deletion id.
    pub deletion: uuid::Uuid,
    /// Every tombstoned row, the deleted row(s) first.
    pub rows: Vec<RowRef>,
    /// Rows whose foreign key was set to null.
    pub unlinked: Vec<RowRef>,
}

/// What a commit wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitInfo {
    /// The transaction id (`None` when there was nothing to commit).
    pub tx: Option<u64>,
    /// LSN of its first event.
    pub first_lsn: Option<u64>,
    /// LSN of its last event (the store's last LSN when nothing was written).
    pub last_lsn: u64,
}

impl Readable for Transaction<'_> {
    fn read_ctx(&self) -> Result<ReadCtx<'_>> {
        Ok(ReadCtx {
            view: ViewRef::Borrowed(&self.overlay),
            catalog: self.catalog.clone(),
        })
    }
}

/// The specification a stored definition was made from (for checking imported definitions).
/// Validation creates unique indexes, then secondary ones, then the foreign-key indexes it needs,
/// so listing every non-unique index (foreign-key ones included) in id order reproduces the ids.
fn spec_of(d: &crate::schema::TableDef) -> TableSpec {
    TableSpec {
        name: d.name.clone(),
        columns: d.columns.clone(),
        primary_key: Some(d.primary_key.clone()),
        unique: d
            .indexes
            .iter()
            .filter(|i| i.unique)
            .map(|i| i.columns.clone())
            .collect(),
        indexes: d
            .indexes
            .iter()
            .filter(|i| !i.unique)
            .map(|i| i.columns.clone())
            .collect(),
        foreign_keys: d
            .foreign_keys
            .iter()
            .map(|f| (f.column.clone(), f.references.clone(), f.on_delete))
            .collect(),
        trash_keeps_keys: d.trash_keeps_keys,
    }
}

/// Refuses retention windows of zero or beyond what microsecond timestamps can subtract.
fn check_windows(policy: &Retention) -> Result<()> {
    for secs in [policy.deletions, policy.history].into_iter().flatten() {
        if secs == 0 || secs > (i64::MAX / 1_000_000) as u64 {
            return Err(Error::invalid(
                "a retention window must be at least one second and at most ~292,000 years",
            ));
        }
    }
    Ok(())
}

/// Checks that an imported event's row is the one its image names.
pub(crate) fn check_image_pk(t: &crate::schema::Table, ev: &EventBody) -> Result<()> {
    if let Some(image) = crate::records::event_image(ev) {
        if let Some((_, pk)) = ev.row() {
            if image.get(t.pk) != Some(pk) {
                return Err(Error::invalid(
                    "the row's primary key differs from the event's pk",
                ));
            }
        }
    }
    Ok(())
}
