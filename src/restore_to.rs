//! Going back: restore a row, a table or the whole store to a past point, undo one transaction,
//! and diff two points. All of it by compensating events: the log is never cut or rewritten.
//!
//! A restore to a point computes, for every row of the scope, its state at the target LSN and its
//! state now, and writes the events that make "now" equal "then":
//!
//! | then      | now                     | event written                                            |
//! |-----------|-------------------------|----------------------------------------------------------|
//! | live (v)  | live, another image     | Update back to v's image (in today's columns)            |
//! | live (v)  | in the trash            | Restore of v's image, naming the deletion that holds it  |
//! | absent    | live                    | Tombstone, all such rows as **one new deletion** (undoable) |
//! | live (v)  | live, same image        | nothing                                                  |
//!
//! Conflicts with rows outside the scope are collected before anything is staged: a unique value
//! now held by a row outside the scope, a parent outside the scope that is not live, a row to
//! tombstone that a live row outside the scope references. By default any conflict refuses the
//! whole operation ([`crate::Error::RewindConflict`] lists them); nothing is written.
//!
//! An undo is a restore to the point just before the transaction, scoped to the rows the
//! transaction touched; if a later transaction changed one of them it is refused (listing them)
//! unless forced. Schema changes are never undone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::Arc;

use crate::as_of::{self, AsOfView};
use crate::checks;
use crate::codec::record::kind;
use crate::codec::{self, keys, Space};
use crate::error::{Error, Result};
use crate::log::{self, EventBody};
use crate::schema::{Catalog, Table};
use crate::storage::ReadView;
use crate::trash::{Conflict, ConflictKind, RowRef};
use crate::value::{Row, Timestamp, Value};

/// What a restore to a point covers.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    /// One row.
    Row {
        /// The table.
        table: String,
        /// The primary key.
        pk: Value,
    },
    /// Every row of a table.
    Table(String),
    /// Every row of every table.
    Store,
}

/// A restore to a point (or an undo), computed without writing anything.
#[derive(Debug, Clone, PartialEq)]
pub struct RewindPlan {
    /// The LSN whose state the scope gets back.
    pub target_lsn: u64,
    /// Rows that come back from the trash.
    pub restored: Vec<RowRef>,
    /// Rows that get an earlier image back.
    pub reverted: Vec<RowRef>,
    /// Rows that did not exist (or were not live) then, tombstoned as one deletion.
    pub tombstoned: Vec<RowRef>,
    /// Every conflict.
    pub conflicts: Vec<Conflict>,
    pub(crate) events: Vec<Staged>,
}

impl RewindPlan {
    /// True when nothing would change.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// An event of a plan, before the deletion id of its tombstones is known.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Staged {
    Event(EventBody),
    Tombstone { table: u32, pk: Value },
}

/// One column that differs between two points.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnChange {
    /// The column.
    pub column: String,
    /// Its value at the first point.
    pub before: Value,
    /// Its value at the second point.
    pub after: Value,
}

/// How a row differs between two points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffKind {
    /// Not live at the first point, live at the second.
    Inserted,
    /// Live at the first point, not at the second.
    Deleted,
    /// Live at both, with different values.
    Changed,
}

impl DiffKind {
    /// `inserted`, `deleted` or `changed`.
    pub fn name(self) -> &'static str {
        match self {
            DiffKind::Inserted => "inserted",
            DiffKind::Deleted => "deleted",
            DiffKind::Changed => "changed",
        }
    }
}

/// One row of a diff.
#[derive(Debug, Clone, PartialEq)]
pub struct RowDiff {
    /// The row.
    pub row: RowRef,
    /// What happened to it.
    pub kind: DiffKind,
    /// The row at the first point (if live).
    pub before: Option<Row>,
    /// The row at the second point (if live).
    pub after: Option<Row>,
    /// For a changed row: the columns that differ.
    pub changes: Vec<ColumnChange>,
}

type RowKey = (u32, Vec<u8>);

/// The state of one row at the target and now.
struct RowStates {
    then: Option<Vec<Value>>,
    now: Option<Vec<Value>>,
}

fn pad(t: &Table, image: &[Value]) -> Vec<Value> {
    (0..t.def.columns.len())
        .map(|i| crate::records::cell(t, image, i))
        .collect()
}

fn live_rows_of(view: &dyn ReadView, t: &Table) -> Result<BTreeMap<Vec<u8>, Vec<Value>>> {
    let prefix = codec::table_prefix(t.id());
    let mut out = BTreeMap::new();
    for item in crate::records::scan_prefix(view, Space::Rows, &prefix, false)? {
        let (k, v) = item?;
        let row = crate::records::decode_row(&k, &v)?;
        out.insert(
            codec::row_parts(Space::Rows, &k)?.1.to_vec(),
            pad(t, &row.image),
        );
    }
    Ok(out)
}

fn rows_then_of(
    asof: &AsOfView<'_>,
    base: &dyn ReadView,
    t: &Table,
) -> Result<BTreeMap<Vec<u8>, Vec<Value>>> {
    let prefix = codec::table_prefix(t.id());
    let end = keys::prefix_end(&prefix).map_or(Bound::Unbounded, Bound::Excluded);
    let mut out = BTreeMap::new();
    for row in asof.rows_in(Bound::Included(prefix), end, false)? {
        let image = row.image(base)?;
        out.insert(
            codec::row_parts(Space::Rows, &row.key)?.1.to_vec(),
            pad(t, &image),
        );
    }
    Ok(out)
}

fn state_at(view: &dyn ReadView, t: &Table, pk_enc: &[u8], lsn: u64) -> Result<Option<Vec<Value>>> {
    match crate::history::version_at(view, t.id(), pk_enc, lsn)? {
        // image_of names the purged version in its error
        Some(v) if v.is_live() || v.tag == kind::IMAGE_PURGED => {
            Ok(Some(pad(t, &crate::history::image_of(view, v.lsn)?)))
        }
        _ => Ok(None),
    }
}

/// Computes a restore of `rows` (or of whole tables) to `target`.
pub(crate) fn plan(
    view: &dyn ReadView,
    catalog: &Catalog,
    target: u64,
    scope: &Scope,
    rows: Option<Vec<RowKey>>,
    now: Timestamp,
) -> Result<RewindPlan> {
    let then_catalog = Arc::new(crate::records::catalog_at(view, target)?);
    let expired = as_of::expired_tables(view, catalog, target, now)?;
    match scope {
        Scope::Row { table, .. } | Scope::Table(table) => {
            as_of::refuse_expired(&expired, Some(catalog.table(table)?.id()))?
        }
        Scope::Store => match &rows {
            None => as_of::refuse_expired(&expired, None)?,
            // an undo: the tables of the rows it touched
            Some(rows) => {
                for (table, _) in rows {
                    as_of::refuse_expired(&expired, Some(*table))?;
                }
            }
        },
    }
    let mut states: BTreeMap<RowKey, RowStates> = BTreeMap::new();
    let tables: Vec<Arc<Table>> = match scope {
        Scope::Store => catalog.tables().cloned().collect(),
        Scope::Table(name) => vec![catalog.table(name)?.clone()],
        Scope::Row { .. } => Vec::new(),
    };
    if let Some(rows) = rows {
        for (tid, enc) in rows {
            let t = catalog.by_id(tid)?;
            let now = crate::records::get_row(view, tid, &enc)?.map(|r| pad(t, &r.image));
            let then = state_at(view, t, &enc, target)?;
            states.insert((tid, enc), RowStates { then, now });
        }
    } else {
        // A second read view over the same snapshot is not needed: as-of reads of a past LSN
        // never change, and the live rows are read from `view` under the writer lock.
        for t in &tables {
            let asof = AsOfView::new(
                Box::new(Borrowed(view)),
                target,
                then_catalog.clone(),
                expired.clone(),
            );
            let then = rows_then_of(&asof, view, t)?;
            let now = live_rows_of(view, t)?;
            let keys: HashSet<&Vec<u8>> = then.keys().chain(now.keys()).collect();
            for k in keys {
                states.insert(
                    (t.id(), k.clone()),
                    RowStates {
                        then: then.get(k).cloned(),
                        now: now.get(k).cloned(),
                    },
                );
            }
        }
    }
    let in_scope = |k: &RowKey| states.contains_key(k);
    let final_of =
        |k: &RowKey| -> Option<&Vec<Value>> { states.get(k).and_then(|s| s.then.as_ref()) };

    let mut out = RewindPlan {
        target_lsn: target,
        restored: Vec::new(),
        reverted: Vec::new(),
        tombstoned: Vec::new(),
        conflicts: Vec::new(),
        events: Vec::new(),
    };
    let mut tombstones = Vec::new();
    // unique index prefix → the first row of the plan that gets the value back
    let mut claimed: HashMap<Vec<u8>, RowRef> = HashMap::new();
    for ((tid, enc), st) in &states {
        let t = catalog.by_id(*tid)?;
        let pk = keys::decode_pk(enc)?;
        let me = RowRef {
            table: t.name().to_string(),
            pk: pk.clone(),
        };
        match (&st.then, &st.now) {
            (None, None) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, Some(_)) => {
                // tombstoned: every live row referencing it must go too (in scope, absent then)
                for (child, fk) in catalog.children_of(*tid) {
                    let prefix = codec::index_key(child.id(), fk.index, enc, &[]);
                    for item in crate::records::scan_prefix(view, Space::Index, &prefix, false)? {
                        let (k, _) = item?;
                        let ck = (
                            child.id(),
                            codec::after_prefix(Space::Index, &k, &prefix)?.to_vec(),
                        );
                        let keeps_ref = match final_of(&ck) {
                            Some(img) => img.get(fk.col) == Some(&pk),
                            None => false,
                        };
                        if (!in_scope(&ck) || keeps_ref) && ck != (*tid, enc.clone()) {
                            out.conflicts.push(Conflict {
                                row: me.clone(),
                                kind: ConflictKind::ReferencedOutsideScope,
                                detail: format!(
                                    "live row {} {} references it and would be left dangling",
                                    child.name(),
                                    keys::decode_pk(&ck.1)?
                                ),
                            });
                        }
                    }
                }
                tombstones.push((*tid, pk.clone()));
                out.tombstoned.push(me);
            }
            (Some(img), now) => {
                // unique values: held by a live row that keeps them, kept by the trash for a
                // row that stays there, or given to another row of this plan (possible when
                // the unique index was added after the target)?
                for value in checks::unique_values(t, img, None) {
                    match claimed.get(&value.prefix) {
                        Some(first) => out.conflicts.push(Conflict {
                            row: me.clone(),
                            kind: ConflictKind::UniqueTaken,
                            detail: format!(
                                "its unique value is also given back to {first} by the same \
                                 operation (the unique index is newer than the point)"
                            ),
                        }),
                        None => {
                            claimed.insert(value.prefix.clone(), me.clone());
                        }
                    }
                    for h in checks::holders(view, t, &value, enc)? {
                        let other = (*tid, h.pk_enc);
                        match h.reserved_by {
                            None => {
                                // a live holder keeps it unless the plan gives it another value
                                let keeps = match states.get(&other) {
                                    Some(s) => s.then.as_ref().is_some_and(|o| {
                                        let (vals, _) =
                                            crate::records::index_vals(t, &value.index.cols, o);
                                        codec::index_key(*tid, value.index.id, &vals, &[])
                                            == value.prefix
                                    }),
                                    None => true,
                                };
                                // a live holder this plan tombstones leaves the value in a
                                // trash that keeps it for that row
                                let tombstoned = t.def.trash_keeps_keys
                                    && states.get(&other).is_some_and(|s| s.then.is_none());
                                if keeps {
                                    out.conflicts.push(Conflict {
                                        row: me.clone(),
                                        kind: ConflictKind::UniqueTaken,
                                        detail: format!(
                                            "its unique value is held by live row {} {}",
                                            t.name(),
                                            keys::decode_pk(&other.1)?
                                        ),
                                    });
                                } else if tombstoned {
                                    out.conflicts.push(Conflict {
                                        row: me.clone(),
                                        kind: ConflictKind::KeyReserved,
                                        detail: format!(
                                            "its unique value is held by row {} {}, which the same \
                                             operation puts in the trash, and the trash keeps it \
                                             for that row (the table keeps trashed keys)",
                                            t.name(),
                                            keys::decode_pk(&other.1)?
                                        ),
                                    });
                                }
                            }
                            // A value the trash keeps for a deleted row stays taken unless that
                            // row comes back (with its image of the target) in the same plan.
                            Some(deletion) => {
                                let released = states.get(&other).is_some_and(|s| s.then.is_some());
                                if !released {
                                    out.conflicts.push(Conflict {
                                        row: me.clone(),
                                        kind: ConflictKind::KeyReserved,
                                        detail: format!(
                                            "its unique value is kept by trashed row {} {} (deletion {deletion}; the table keeps trashed keys)",
                                            t.name(),
                                            keys::decode_pk(&other.1)?
                                        ),
                                    });
                                }
                            }
                        }
                    }
                }
                // parents: live after the plan? (out of scope: live now; in scope: live then)
                let in_scope =
                    |table: u32, penc: &[u8]| states.contains_key(&(table, penc.to_vec()));
                for m in checks::missing_parents(view, catalog, t, img, enc, None, &in_scope)? {
                    out.conflicts.push(Conflict {
                        row: me.clone(),
                        kind: ConflictKind::ParentNotLive,
                        detail: format!("parent {} {} would not be live", m.parent, m.value),
                    });
                }
                for fk in &t.fks {
                    let v = crate::records::cell(t, img, fk.col);
                    let key = (fk.parent, keys::encode_one(&v));
                    if v.is_null() || key == (*tid, enc.clone()) {
                        continue;
                    }
                    if states.get(&key).is_some_and(|s| s.then.is_none()) {
                        let parent = catalog.by_id(fk.parent)?;
                        out.conflicts.push(Conflict {
                            row: me.clone(),
                            kind: ConflictKind::ParentNotLive,
                            detail: format!("parent {} {v} would not be live", parent.name()),
                        });
                    }
                }
                let lives = crate::history::lives(view, *tid, enc, u64::MAX)?;
                if now.is_some() {
                    // A set-null update of the live row made since (by a deletion still in the
                    // trash) is undone by this image: write it as a Restore naming that
                    // deletion, which takes the member out of the trash; otherwise a plain
                    // Update.
                    let unlinked_by = open_unlinks(view, &lives, lives.live, *tid, enc, target)?;
                    if unlinked_by.is_empty() {
                        out.events.push(Staged::Event(EventBody::Update {
                            table: *tid,
                            pk: pk.clone(),
                            image: img.clone(),
                        }));
                    }
                    for deletion in unlinked_by {
                        out.events.push(Staged::Event(EventBody::Restore {
                            table: *tid,
                            pk: pk.clone(),
                            image: img.clone(),
                            deletion,
                        }));
                    }
                    out.reverted.push(me);
                } else {
                    // The row comes back out of the trash holding the life it had then (a
                    // later life of the same key may be in another deletion's trash).
                    let life = lives.life_at(target);
                    let deletion = life.and_then(|l| lives.holder_of(l)).ok_or_else(|| {
                        Error::Purged(format!(
                            "{me} as it was at lsn {target} (that life of the row is no longer in the trash)"
                        ))
                    })?;
                    out.events.push(Staged::Event(EventBody::Restore {
                        table: *tid,
                        pk: pk.clone(),
                        image: img.clone(),
                        deletion,
                    }));
                    // set-null updates of that life made since by other deletions are undone too
                    for other in open_unlinks(view, &lives, life, *tid, enc, target)? {
                        if other != deletion {
                            out.events.push(Staged::Event(EventBody::Restore {
                                table: *tid,
                                pk: pk.clone(),
                                image: img.clone(),
                                deletion: other,
                            }));
                        }
                    }
                    out.restored.push(me);
                }
            }
        }
    }
    for (table, pk) in tombstones {
        out.events.push(Staged::Tombstone { table, pk });
    }
    Ok(out)
}

/// The deletions still in the trash that set a reference of `life` of this row to null after
/// `target`.
fn open_unlinks(
    view: &dyn ReadView,
    lives: &crate::history::Lives,
    life: Option<usize>,
    table: u32,
    pk_enc: &[u8],
    target: u64,
) -> Result<Vec<uuid::Uuid>> {
    let mut out = Vec::new();
    for e in &lives.events {
        if e.lsn <= target || e.was != kind::UNLINK || Some(e.life) != life {
            continue;
        }
        if let Some(deletion) = e.deletion {
            if view
                .get(Space::DelRows, &codec::delrow_key(&deletion, table, pk_enc))?
                .is_some()
                && !out.contains(&deletion)
            {
                out.push(deletion);
            }
        }
    }
    Ok(out)
}

/// A read view borrowed as a boxed one.
struct Borrowed<'a>(&'a dyn ReadView);

impl ReadView for Borrowed<'_> {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.0.get(space, key)
    }

    fn range<'b>(
        &'b self,
        space: Space,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        reverse: bool,
    ) -> Result<crate::storage::KvIter<'b>> {
        self.0.range(space, start, end, reverse)
    }
}

/// The rows a transaction touched, and the conflicts that forbid undoing it.
pub(crate) fn undo_scope(
    view: &dyn ReadView,
    catalog: &Catalog,
    tx: u64,
) -> Result<(u64, Vec<RowKey>, Vec<Conflict>)> {
    let rec =
        log::read_tx(view, tx)?.ok_or_else(|| Error::invalid(format!("no transaction {tx}")))?;
    let events = log::read_events(
        view,
        rec.first_lsn,
        usize::try_from(rec.last_lsn - rec.first_lsn + 1).ok(),
    )?;
    let mut rows: Vec<RowKey> = Vec::new();
    let mut seen = HashSet::new();
    let mut conflicts = Vec::new();
    for ev in &events {
        match ev.body.row() {
            Some((table, pk)) => {
                let enc = keys::encode_one(pk);
                if seen.insert((table, enc.clone())) {
                    rows.push((table, enc));
                }
            }
            None => conflicts.push(Conflict {
                row: RowRef {
                    table: String::new(),
                    pk: Value::Null,
                },
                kind: ConflictKind::SchemaChange,
                detail: format!(
                    "transaction {tx} changed the schema (lsn {}); schema changes are not undone",
                    ev.lsn
                ),
            }),
        }
    }
    for (table, enc) in &rows {
        if let Some(v) = crate::history::version_at(view, *table, enc, u64::MAX)? {
            if v.lsn > rec.last_lsn {
                let t = catalog.by_id(*table)?;
                let later = log::read_event(view, v.lsn)?
                    .map(|e| e.tx)
                    .unwrap_or_default();
                conflicts.push(Conflict {
                    row: RowRef {
                        table: t.name().to_string(),
                        pk: keys::decode_pk(enc)?,
                    },
                    kind: ConflictKind::ChangedLater,
                    detail: format!("changed since by transaction {later} (lsn {})", v.lsn),
                });
            }
        }
    }
    Ok((rec.first_lsn.saturating_sub(1), rows, conflicts))
}

/// Rows that differ between two LSNs (in the given table, or every table), in (table, pk) order.
pub(crate) fn diff(
    view: &dyn ReadView,
    catalog: &Catalog,
    a: u64,
    b: u64,
    table: Option<&str>,
    now: Timestamp,
) -> Result<Vec<RowDiff>> {
    let only = match table {
        Some(t) => Some(catalog.table(t)?.id()),
        None => None,
    };
    let (lo, hi) = (a.min(b), a.max(b));
    // The earlier point is the one a history window may have left behind.
    let expired = as_of::expired_tables(view, catalog, lo, now)?;
    if only.is_some() {
        as_of::refuse_expired(&expired, only)?;
    }
    let mut touched: BTreeMap<RowKey, ()> = BTreeMap::new();
    for item in view.range(
        Space::Log,
        Bound::Excluded(&codec::log_key(lo)),
        Bound::Included(&codec::log_key(hi)),
        false,
    )? {
        let (k, v) = item?;
        let lsn = codec::read_u64_key(&k).ok_or_else(|| Error::corrupted("log", "bad key"))?;
        let ev = log::Event::decode(lsn, &v)?;
        if let Some((t, pk)) = ev.body.row() {
            if only.is_none_or(|o| o == t) {
                as_of::refuse_expired(&expired, Some(t))?;
                touched.insert((t, keys::encode_one(pk)), ());
            }
        }
    }
    let mut out = Vec::new();
    let mut cache: HashMap<u32, Arc<Table>> = HashMap::new();
    for (tid, enc) in touched.into_keys() {
        let t = match cache.get(&tid) {
            Some(t) => t.clone(),
            None => {
                let t = catalog.by_id(tid)?.clone();
                cache.insert(tid, t.clone());
                t
            }
        };
        let before = state_at(view, &t, &enc, a)?;
        let after = state_at(view, &t, &enc, b)?;
        let row = RowRef {
            table: t.name().to_string(),
            pk: keys::decode_pk(&enc)?,
        };
        let (kind, changes) = match (&before, &after) {
            (None, None) => continue,
            (None, Some(_)) => (DiffKind::Inserted, Vec::new()),
            (Some(_), None) => (DiffKind::Deleted, Vec::new()),
            (Some(x), Some(y)) if x == y => continue,
            (Some(x), Some(y)) => {
                let changes = t
                    .def
                    .columns
                    .iter()
                    .enumerate()
                    .filter_map(|(i, c)| {
                        let (bx, by) = (
                            x.get(i).cloned().unwrap_or_default(),
                            y.get(i).cloned().unwrap_or_default(),
                        );
                        (bx != by).then(|| ColumnChange {
                            column: c.name.clone(),
                            before: bx,
                            after: by,
                        })
                    })
                    .collect();
                (DiffKind::Changed, changes)
            }
        };
        out.push(RowDiff {
            row,
            kind,
            before: before.map(|i| crate::records::to_row(&t, &i)),
            after: after.map(|i| crate::records::to_row(&t, &i)),
            changes,
        });
    }
    Ok(out)
}
