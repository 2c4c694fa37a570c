//! Reversible deletes: planning a deletion (the cascade), the trash, and planning a restore.
//!
//! Everything here only reads. `plan_delete` and `plan_restore` run under the writer lock
//! before anything is staged, and return either a complete plan or an error that lists every
//! problem; the transaction then stages the plan's events (see `txn.rs`).
//!
//! A **deletion** is exactly the rows it tombstoned: the rows the delete named (its roots) and
//! every row reached from them through foreign keys with `on_delete = cascade`, recursively,
//! across tables, each visited once (so self-references and cycles terminate), plus the
//! set-null updates of rows that referenced a deleted row through `on_delete = set_null`.
//! A row deleted on its own earlier is not live, so it is not reached, and it stays in its own
//! deletion when this one is restored.
//!
//! A time-by-row grid of a cascade and a restore (`a1` parent of `b1`; LSNs on the left):
//!
//! ```text
//! lsn  event                         live a1   live b1   trash
//! 10   insert a1                     yes       -         -
//! 11   insert b1 (a_id = a1)         yes       yes       -
//! 12   tombstone a1 (deletion D)     -         yes*      D: a1        (*same transaction)
//! 13   tombstone b1 (deletion D)     -         -         D: a1, b1
//! 14   restore a1 (D)                yes       -         D: b1        (same transaction)
//! 15   restore b1 (D)                yes       yes       -
//! ```
//!
//! A reader never sees LSN 12 without 13, nor 14 without 15: each deletion and each restore is
//! one transaction.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use uuid::Uuid;

use crate::codec::{self, keys, Space};
use crate::error::{Error, Result};
use crate::log::{self, EventBody};
use crate::records::{self, DeletionRecord, MEMBER_TOMBSTONE, MEMBER_UNLINK};
use crate::schema::{Catalog, OnDelete, Table};
use crate::storage::ReadView;
use crate::value::{Row, Timestamp, Value};

pub use crate::error::{Conflict, ConflictKind};
pub use crate::records::MAX_LISTED_ROOTS;
pub use crate::value::RowRef;

/// (table id, encoded primary key): a row's identity inside the store.
type RowKey = (u32, Vec<u8>);

/// A deletion in the trash (or restored).
#[derive(Debug, Clone, PartialEq)]
pub struct Deletion {
    /// Its id.
    pub id: Uuid,
    /// The transaction that made it.
    pub tx: u64,
    /// LSN of its first event.
    pub lsn: u64,
    /// When.
    pub at: Timestamp,
    /// Who, if recorded.
    pub actor: Option<String>,
    /// Why, if recorded.
    pub reason: Option<String>,
    /// The rows the delete named (the first [`MAX_LISTED_ROOTS`] of them).
    pub roots: Vec<RowRef>,
    /// Tombstoned rows per table.
    pub rows: Vec<(String, u64)>,
    /// Rows whose foreign key was set to null.
    pub unlinked: u64,
    /// Members still in the trash.
    pub remaining: u64,
    /// Members restored so far.
    pub restored: u64,
}

impl Deletion {
    /// Total rows tombstoned.
    pub fn row_count(&self) -> u64 {
        self.rows.iter().map(|(_, n)| n).sum()
    }
}

/// What a member of a deletion is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberKind {
    /// The row was tombstoned.
    Tombstoned,
    /// The row stayed live; its foreign key was set to null.
    Unlinked,
}

/// A member of a deletion with its last live image.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletedRow {
    /// Which row.
    pub row_ref: RowRef,
    /// Tombstoned or unlinked.
    pub kind: MemberKind,
    /// The row's last image before the deletion, in today's columns.
    pub row: Row,
    /// LSN of the deletion's event for this row.
    pub lsn: u64,
}

/// Filters for listing the trash.
#[derive(Debug, Clone, Default)]
pub struct TrashQuery {
    table: Option<String>,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    limit: Option<usize>,
    before: Option<Uuid>,
}

impl TrashQuery {
    /// Every deletion in the trash, newest first.
    pub fn all() -> TrashQuery {
        TrashQuery::default()
    }

    /// Only deletions that tombstoned rows of this table.
    pub fn table(mut self, t: impl Into<String>) -> TrashQuery {
        self.table = Some(t.into());
        self
    }

    /// Only deletions made at or after this time.
    pub fn since(mut self, at: Timestamp) -> TrashQuery {
        self.since = Some(at);
        self
    }

    /// Only deletions made at or before this time.
    pub fn until(mut self, at: Timestamp) -> TrashQuery {
        self.until = Some(at);
        self
    }

    /// At most `n` deletions (a page).
    pub fn limit(mut self, n: usize) -> TrashQuery {
        self.limit = Some(n);
        self
    }

    /// Only deletions older than this one (the next page after it).
    pub fn before(mut self, id: Uuid) -> TrashQuery {
        self.before = Some(id);
        self
    }

    pub(crate) fn table_name(&self) -> Option<&str> {
        self.table.as_deref()
    }

    pub(crate) fn before_id(&self) -> Option<Uuid> {
        self.before
    }

    pub(crate) fn limit_n(&self) -> Option<usize> {
        self.limit
    }

    pub(crate) fn since_at(&self) -> Option<Timestamp> {
        self.since
    }

    pub(crate) fn until_at(&self) -> Option<Timestamp> {
        self.until
    }
}

/// What to do with conflicts when restoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestorePolicy {
    /// Refuse the whole restore when there is any conflict (the default).
    #[default]
    Refuse,
    /// Restore what can be restored; leave conflicting rows, and the rows that depend on them,
    /// in the trash, and report them.
    SkipConflicts,
}

/// A row left out of a restore, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    /// The row.
    pub row: RowRef,
    /// Why it was left out.
    pub reason: String,
}

/// A restore, computed without writing anything.
#[derive(Debug, Clone, PartialEq)]
pub struct RestorePlan {
    /// The deletion.
    pub deletion: Uuid,
    /// The rows that would come back, parents before children.
    pub rows: Vec<RowRef>,
    /// The rows whose set-null reference would be put back.
    pub relinks: Vec<RowRef>,
    /// Every conflict.
    pub conflicts: Vec<Conflict>,
    /// With the skip policy: the rows left out (conflicting or depending on one).
    pub skipped: Vec<Skipped>,
    /// The events to stage (internal).
    pub(crate) events: Vec<EventBody>,
}

/// A deletion computed without writing anything.
pub(crate) struct DeletePlan {
    /// Tombstones in order (roots first, then breadth-first through the cascade).
    pub tombstones: Vec<(Arc<Table>, Value, bool)>,
    /// Set-null updates: the row and its new image.
    pub unlinks: Vec<(Arc<Table>, Value, Vec<Value>)>,
}

fn row_ref(t: &Table, pk: &Value) -> RowRef {
    RowRef {
        table: t.name().to_string(),
        pk: pk.clone(),
    }
}

/// The primary keys of the live rows of `child` whose foreign key (reverse index `index`)
/// holds `parent_pk_enc`.
fn live_children(
    view: &dyn ReadView,
    child: &Table,
    index: u32,
    parent_pk_enc: &[u8],
) -> Result<Vec<Vec<u8>>> {
    let prefix = codec::index_key(child.id(), index, parent_pk_enc, &[]);
    let mut out = Vec::new();
    for item in records::scan_prefix(view, Space::Index, &prefix, false)? {
        let (k, _) = item?;
        out.push(k.get(prefix.len()..).unwrap_or_default().to_vec());
    }
    Ok(out)
}

fn decode_pk(enc: &[u8]) -> Result<Value> {
    let mut rest = enc;
    let v = keys::decode_value(&mut rest)?;
    if !rest.is_empty() {
        return Err(Error::corrupted(
            "key",
            "trailing bytes after a primary key",
        ));
    }
    Ok(v)
}

/// Computes a deletion of `roots` (table, primary key): the cascade, the restrict check and the
/// set-null updates. Errors name every blocking row; nothing is staged.
pub(crate) fn plan_delete(
    view: &dyn ReadView,
    catalog: &Catalog,
    roots: &[(Arc<Table>, Value)],
) -> Result<DeletePlan> {
    let mut visited: HashSet<RowKey> = HashSet::new();
    let mut tombstones = Vec::new();
    let mut queue: VecDeque<(Arc<Table>, Vec<u8>)> = VecDeque::new();
    for (t, pk) in roots {
        let enc = keys::encode_one(pk);
        if records::get_row(view, t.id(), &enc)?.is_none() {
            return Err(match records::get_dead(view, t.id(), &enc)? {
                Some((deletion, _)) => Error::AlreadyDeleted {
                    table: t.name().to_string(),
                    pk: pk.to_string(),
                    deletion,
                },
                None => Error::NotFound {
                    table: t.name().to_string(),
                    pk: pk.to_string(),
                },
            });
        }
        if visited.insert((t.id(), enc.clone())) {
            tombstones.push((t.clone(), pk.clone(), true));
            queue.push_back((t.clone(), enc));
        }
    }
    let mut blockers: Vec<(Arc<Table>, Vec<u8>)> = Vec::new();
    // child row → the foreign-key columns to set to null
    let mut unlinks: HashMap<RowKey, (Arc<Table>, Vec<usize>)> = HashMap::new();
    let mut unlink_order: Vec<(u32, Vec<u8>)> = Vec::new();
    while let Some((t, enc)) = queue.pop_front() {
        for (child, fk) in catalog.children_of(t.id()) {
            for child_pk in live_children(view, child, fk.index, &enc)? {
                let key = (child.id(), child_pk.clone());
                match fk.on_delete {
                    OnDelete::Cascade => {
                        if visited.insert(key) {
                            tombstones.push((child.clone(), decode_pk(&child_pk)?, false));
                            queue.push_back((child.clone(), child_pk));
                        }
                    }
                    OnDelete::Restrict => blockers.push((child.clone(), child_pk)),
                    OnDelete::SetNull => {
                        let entry = unlinks.entry(key.clone()).or_insert_with(|| {
                            unlink_order.push(key);
                            (child.clone(), Vec::new())
                        });
                        if !entry.1.contains(&fk.col) {
                            entry.1.push(fk.col);
                        }
                    }
                }
            }
        }
    }
    let mut named = HashSet::new();
    let blocking: Vec<String> = blockers
        .iter()
        .filter(|(t, pk)| !visited.contains(&(t.id(), pk.clone())))
        .filter(|(t, pk)| named.insert((t.id(), pk.clone())))
        .map(|(t, pk)| Ok(format!("{} {}", t.name(), decode_pk(pk)?)))
        .collect::<Result<_>>()?;
    if !blocking.is_empty() {
        let (t, pk, _) = tombstones
            .first()
            .ok_or_else(|| Error::invalid("nothing to delete"))?;
        return Err(Error::DeleteRestricted {
            table: t.name().to_string(),
            pk: pk.to_string(),
            blocking,
        });
    }
    let mut out_unlinks = Vec::new();
    for key in unlink_order {
        if visited.contains(&key) {
            continue; // the row is tombstoned anyway
        }
        let Some((t, cols)) = unlinks.remove(&key) else {
            continue;
        };
        let row = records::get_row(view, t.id(), &key.1)?.ok_or_else(|| {
            Error::corrupted("index", "a foreign-key index entry points at no live row")
        })?;
        let mut image: Vec<Value> = (0..t.def.columns.len())
            .map(|i| records::cell(&t, &row.image, i))
            .collect();
        for c in cols {
            if let Some(slot) = image.get_mut(c) {
                *slot = Value::Null;
            }
        }
        out_unlinks.push((t, decode_pk(&key.1)?, image));
    }
    Ok(DeletePlan {
        tombstones,
        unlinks: out_unlinks,
    })
}

/// Reads a deletion as the public API shows it.
pub(crate) fn deletion_of(
    view: &dyn ReadView,
    catalog: &Catalog,
    rec: &DeletionRecord,
) -> Result<Deletion> {
    let txr = log::read_tx(view, rec.tx)?;
    let name = |id: u32| {
        catalog
            .by_id(id)
            .map(|t| t.name().to_string())
            .unwrap_or_else(|_| format!("#{id}"))
    };
    Ok(Deletion {
        id: Uuid::from_u128(rec.id),
        tx: rec.tx,
        lsn: rec.first_lsn,
        at: txr.as_ref().map_or(Timestamp(0), |t| t.at),
        actor: txr.as_ref().and_then(|t| t.actor.clone()),
        reason: txr.as_ref().and_then(|t| t.reason.clone()),
        roots: rec
            .roots
            .iter()
            .map(|(t, pk)| RowRef {
                table: name(*t),
                pk: pk.clone(),
            })
            .collect(),
        rows: rec.rows.iter().map(|(t, n)| (name(*t), *n)).collect(),
        unlinked: rec.unlinked,
        remaining: rec.remaining,
        restored: rec.restored,
    })
}

/// Lists the deletions still (at least partly) in the trash, newest first.
pub(crate) fn list(
    view: &dyn ReadView,
    catalog: &Catalog,
    q: &TrashQuery,
) -> Result<Vec<Deletion>> {
    let table_id = match &q.table {
        Some(t) => Some(catalog.table(t)?.id()),
        None => None,
    };
    let end_key = q.before.map(|b| codec::del_key(&b).to_vec());
    let end = end_key.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
    let mut out = Vec::new();
    for item in view.range(Space::Del, Bound::Unbounded, end, true)? {
        if q.limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        let (_, v) = item?;
        let rec = records::decode_deletion(&v)?;
        if rec.remaining == 0 {
            continue;
        }
        if let Some(t) = table_id {
            if !rec.rows.iter().any(|(id, _)| *id == t) && !rec.roots.iter().any(|(id, _)| *id == t)
            {
                continue;
            }
        }
        let d = deletion_of(view, catalog, &rec)?;
        if q.since.is_some_and(|s| d.at < s) {
            // ids are time-ordered: everything further is older
            break;
        }
        if q.until.is_some_and(|u| d.at > u) {
            continue;
        }
        out.push(d);
    }
    Ok(out)
}

/// A member of a deletion as read from the delrows view.
struct RawMember {
    table: Arc<Table>,
    pk_enc: Vec<u8>,
    pk: Value,
    m: records::Member,
}

fn members(view: &dyn ReadView, catalog: &Catalog, id: &Uuid) -> Result<Vec<RawMember>> {
    let prefix = codec::del_key(id);
    let mut out = Vec::new();
    for item in records::scan_prefix(view, Space::DelRows, &prefix, false)? {
        let (k, v) = item?;
        let rest = k
            .get(16..)
            .ok_or_else(|| Error::corrupted("delrows", "short key"))?;
        let (t, pk_enc) = rest.split_at(4.min(rest.len()));
        let tid = <[u8; 4]>::try_from(t)
            .map(u32::from_be_bytes)
            .map_err(|_| Error::corrupted("delrows", "short key"))?;
        out.push(RawMember {
            table: catalog.by_id(tid)?.clone(),
            pk_enc: pk_enc.to_vec(),
            pk: decode_pk(pk_enc)?,
            m: records::decode_member(&v)?,
        });
    }
    out.sort_by_key(|r| r.m.lsn);
    Ok(out)
}

fn image_at(view: &dyn ReadView, lsn: u64) -> Result<Vec<Value>> {
    let ev = log::read_event(view, lsn)?
        .ok_or_else(|| Error::corrupted("log", format!("missing event at lsn {lsn}")))?;
    records::event_image(&ev.body).cloned().ok_or_else(|| {
        Error::corrupted("log", format!("the event at lsn {lsn} holds no row image"))
    })
}

/// The members of a deletion still in the trash, with their last live images.
pub(crate) fn rows_of(
    view: &dyn ReadView,
    catalog: &Catalog,
    id: &Uuid,
) -> Result<Vec<DeletedRow>> {
    records::need_deletion(view, id)?;
    let all = members(view, catalog, id)?;
    let member_keys: HashSet<(u32, Vec<u8>)> = all
        .iter()
        .map(|r| (r.table.id(), r.pk_enc.clone()))
        .collect();
    let mut items = Vec::with_capacity(all.len());
    for (idx, r) in all.iter().enumerate() {
        let image = image_at(view, r.m.last_lsn)?;
        let needs: Vec<(u32, Vec<u8>)> = r
            .table
            .fks
            .iter()
            .filter_map(|fk| {
                let v = records::cell(&r.table, &image, fk.col);
                (!v.is_null()).then(|| (fk.parent, keys::encode_one(&v)))
            })
            .filter(|k| member_keys.contains(k))
            .collect();
        items.push((idx, needs, image));
    }
    parents_first(items, &all, |it| it.0, |it| &it.1)
        .into_iter()
        .filter_map(|(idx, _, image)| {
            let r = all.get(idx)?;
            Some(DeletedRow {
                row_ref: row_ref(&r.table, &r.pk),
                kind: if r.m.kind == MEMBER_UNLINK {
                    MemberKind::Unlinked
                } else {
                    MemberKind::Tombstoned
                },
                row: records::to_row(&r.table, &image),
                lsn: r.m.lsn,
            })
        })
        .map(Ok)
        .collect()
}

/// Orders items so that every row comes after the rows of the same restore it references
/// (Kahn's algorithm over the foreign-key edges inside the restore; rows in a cycle keep their
/// deletion order). Otherwise the deletion order is kept: the earliest row whose parents are
/// placed goes next.
fn parents_first<I>(
    items: Vec<I>,
    all: &[RawMember],
    idx_of: impl Fn(&I) -> usize,
    needs_of: impl Fn(&I) -> &Vec<(u32, Vec<u8>)>,
) -> Vec<I> {
    let pos: HashMap<(u32, Vec<u8>), usize> = items
        .iter()
        .enumerate()
        .filter_map(|(i, it)| {
            all.get(idx_of(it))
                .map(|r| ((r.table.id(), r.pk_enc.clone()), i))
        })
        .collect();
    let n = items.len();
    let mut indegree = vec![0usize; n];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, it) in items.iter().enumerate() {
        for need in needs_of(it) {
            if let Some(&p) = pos.get(need) {
                if p != i {
                    if let (Some(d), Some(c)) = (indegree.get_mut(i), children.get_mut(p)) {
                        *d += 1;
                        c.push(i);
                    }
                }
            }
        }
    }
    let mut order = Vec::with_capacity(n);
    let mut done = vec![false; n];
    // a min-heap of positions: among the rows whose parents are out, the earliest goes first
    let mut queue: BinaryHeap<Reverse<usize>> = (0..n)
        .filter(|&i| indegree.get(i) == Some(&0))
        .map(Reverse)
        .collect();
    let mut next_unblocked = 0usize;
    while order.len() < n {
        let i = match queue.pop() {
            Some(Reverse(i)) => i,
            None => {
                // a cycle: take the earliest remaining row in deletion order
                while done.get(next_unblocked) == Some(&true) {
                    next_unblocked += 1;
                }
                next_unblocked
            }
        };
        if done.get(i) != Some(&false) {
            continue;
        }
        if let Some(d) = done.get_mut(i) {
            *d = true;
        }
        order.push(i);
        for &c in children.get(i).map(Vec::as_slice).unwrap_or_default() {
            if let Some(d) = indegree.get_mut(c) {
                *d = d.saturating_sub(1);
                if *d == 0 && done.get(c) == Some(&false) {
                    queue.push(Reverse(c));
                }
            }
        }
    }
    let mut slots: Vec<Option<I>> = items.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect()
}

/// Computes the restore of a deletion (or of one of its rows), listing every conflict, and,
/// under the skip policy, which rows are left out.
pub(crate) fn plan_restore(
    view: &dyn ReadView,
    catalog: &Catalog,
    id: &Uuid,
    only: Option<(&Arc<Table>, &Value)>,
    policy: RestorePolicy,
) -> Result<RestorePlan> {
    let rec = records::need_deletion(view, id)?;
    if rec.remaining == 0 {
        return Err(Error::AlreadyRestored(*id));
    }
    let mut all = members(view, catalog, id)?;
    let mut conflicts = Vec::new();
    if let Some((t, pk)) = only {
        let enc = keys::encode_one(pk);
        all.retain(|r| r.table.id() == t.id() && r.pk_enc == enc && r.m.kind == MEMBER_TOMBSTONE);
        if all.is_empty() {
            conflicts.push(Conflict {
                row: row_ref(t, pk),
                kind: ConflictKind::NotInTrash,
                detail: format!("the row is not a trashed row of deletion {id}"),
            });
        }
    }
    let coming: HashSet<(u32, Vec<u8>)> = all
        .iter()
        .filter(|r| r.m.kind == MEMBER_TOMBSTONE)
        .map(|r| (r.table.id(), r.pk_enc.clone()))
        .collect();
    // (member index) → its restore image, and the parents inside the restore it needs
    struct Item {
        idx: usize,
        image: Vec<Value>,
        needs: Vec<(u32, Vec<u8>)>,
        conflict: bool,
    }
    let mut items: Vec<Item> = Vec::with_capacity(all.len());
    // unique values claimed by rows of this restore (index key prefix → the row)
    let mut restoring_unique: HashMap<Vec<u8>, RowRef> = HashMap::new();
    for (idx, r) in all.iter().enumerate() {
        let t = &r.table;
        let me = row_ref(t, &r.pk);
        let mut conflict = false;
        let mut needs = Vec::new();
        let last = image_at(view, r.m.last_lsn)?;
        let image: Vec<Value> = if r.m.kind == MEMBER_TOMBSTONE {
            if records::get_row(view, t.id(), &r.pk_enc)?.is_some() {
                conflict = true;
                conflicts.push(Conflict {
                    row: me.clone(),
                    kind: ConflictKind::PrimaryKeyTaken,
                    detail: format!("a live row has primary key {}", r.pk),
                });
            }
            let image: Vec<Value> = (0..t.def.columns.len())
                .map(|i| records::cell(t, &last, i))
                .collect();
            for idx in t.indexes.iter().filter(|i| i.unique) {
                let (vals, has_null) = records::index_vals(t, &idx.cols, &image);
                if has_null {
                    continue;
                }
                let prefix = codec::index_key(t.id(), idx.id, &vals, &[]);
                if let Some(first) = restoring_unique.get(&prefix) {
                    conflict = true;
                    conflicts.push(Conflict {
                        row: me.clone(),
                        kind: ConflictKind::UniqueTaken,
                        detail: format!(
                            "its unique value is also held by {first}, restored in the same restore"
                        ),
                    });
                } else {
                    restoring_unique.insert(prefix.clone(), me.clone());
                }
                if let Some(hit) = records::scan_prefix(view, Space::Index, &prefix, false)?.next()
                {
                    let (k, _) = hit?;
                    let other = decode_pk(k.get(prefix.len()..).unwrap_or_default())?;
                    let cols: Vec<String> = idx
                        .cols
                        .iter()
                        .filter_map(|&c| t.def.columns.get(c).map(|c| c.name.clone()))
                        .collect();
                    let shown: Vec<String> = idx
                        .cols
                        .iter()
                        .map(|&c| records::cell(t, &image, c).to_string())
                        .collect();
                    conflict = true;
                    conflicts.push(Conflict {
                        row: me.clone(),
                        kind: ConflictKind::UniqueTaken,
                        detail: format!(
                            "unique ({}) = {} is taken by live row {} {other}",
                            cols.join(", "),
                            shown.join(", "),
                            t.name()
                        ),
                    });
                }
            }
            image
        } else {
            // set-null member: put back the references the deletion cleared
            let Some(live) = records::get_row(view, t.id(), &r.pk_enc)? else {
                conflicts.push(Conflict {
                    row: me.clone(),
                    kind: ConflictKind::RowNotLive,
                    detail: "the row whose reference was set to null is no longer live".into(),
                });
                items.push(Item {
                    idx,
                    image: Vec::new(),
                    needs,
                    conflict: true,
                });
                continue;
            };
            let unlinked = image_at(view, r.m.lsn)?;
            let mut image: Vec<Value> = (0..t.def.columns.len())
                .map(|i| records::cell(t, &live.image, i))
                .collect();
            for fk in &t.fks {
                let before = records::cell(t, &last, fk.col);
                let cleared = records::cell(t, &unlinked, fk.col);
                let now = records::cell(t, &live.image, fk.col);
                if !before.is_null() && cleared.is_null() && now.is_null() {
                    if let Some(slot) = image.get_mut(fk.col) {
                        *slot = before;
                    }
                }
            }
            // A reference put back is a value written like any other: a unique constraint
            // over it must still hold, among the live rows and the rows of this restore.
            for idx in t.indexes.iter().filter(|i| i.unique) {
                let (vals, has_null) = records::index_vals(t, &idx.cols, &image);
                if has_null || records::index_vals(t, &idx.cols, &live.image).0 == vals {
                    continue;
                }
                let prefix = codec::index_key(t.id(), idx.id, &vals, &[]);
                let shown = || -> String {
                    let cols: Vec<String> = idx
                        .cols
                        .iter()
                        .filter_map(|&c| t.def.columns.get(c).map(|c| c.name.clone()))
                        .collect();
                    let vals: Vec<String> = idx
                        .cols
                        .iter()
                        .map(|&c| records::cell(t, &image, c).to_string())
                        .collect();
                    format!("unique ({}) = {}", cols.join(", "), vals.join(", "))
                };
                if let Some(first) = restoring_unique.get(&prefix) {
                    conflict = true;
                    conflicts.push(Conflict {
                        row: me.clone(),
                        kind: ConflictKind::UniqueTaken,
                        detail: format!(
                            "putting its reference back would give it {}, also held by {first}, restored in the same restore",
                            shown()
                        ),
                    });
                } else {
                    restoring_unique.insert(prefix.clone(), me.clone());
                }
                for item in records::scan_prefix(view, Space::Index, &prefix, false)? {
                    let (k, _) = item?;
                    let other = k.get(prefix.len()..).unwrap_or_default();
                    if other == r.pk_enc.as_slice() {
                        continue;
                    }
                    conflict = true;
                    conflicts.push(Conflict {
                        row: me.clone(),
                        kind: ConflictKind::UniqueTaken,
                        detail: format!(
                            "putting its reference back would give it {}, taken by live row {} {}",
                            shown(),
                            t.name(),
                            decode_pk(other)?
                        ),
                    });
                    break;
                }
                if t.def.trash_keeps_keys {
                    for item in records::scan_prefix(view, Space::Reserved, &prefix, false)? {
                        let (k, v) = item?;
                        let other = k.get(prefix.len()..).unwrap_or_default();
                        if other == r.pk_enc.as_slice() {
                            continue;
                        }
                        conflict = true;
                        conflicts.push(Conflict {
                            row: me.clone(),
                            kind: ConflictKind::UniqueTaken,
                            detail: format!(
                                "putting its reference back would give it {}, kept reserved by trashed row {} {} (deletion {})",
                                shown(),
                                t.name(),
                                decode_pk(other)?,
                                records::decode_reserved(&v)?
                            ),
                        });
                        break;
                    }
                }
            }
            image
        };
        for fk in &t.fks {
            let v = records::cell(t, &image, fk.col);
            if v.is_null() {
                continue;
            }
            let parent = catalog.by_id(fk.parent)?;
            let penc = keys::encode_one(&v);
            if parent.id() == t.id() && penc == r.pk_enc {
                continue; // a row referencing itself
            }
            if coming.contains(&(parent.id(), penc.clone())) {
                needs.push((parent.id(), penc));
            } else if records::get_row(view, parent.id(), &penc)?.is_none() {
                let why = match records::get_dead(view, parent.id(), &penc)? {
                    Some((d, _)) => format!("in the trash, deletion {d}"),
                    None => "missing".to_string(),
                };
                conflict = true;
                conflicts.push(Conflict {
                    row: me.clone(),
                    kind: ConflictKind::ParentNotLive,
                    detail: format!("parent {} {v} is not live ({why})", parent.name()),
                });
            }
        }
        items.push(Item {
            idx,
            image,
            needs,
            conflict,
        });
    }
    let mut skipped_set: HashSet<(u32, Vec<u8>)> = HashSet::new();
    let mut skipped: Vec<Skipped> = Vec::new();
    if policy == RestorePolicy::SkipConflicts {
        for it in items.iter().filter(|i| i.conflict) {
            if let Some(r) = all.get(it.idx) {
                skipped_set.insert((r.table.id(), r.pk_enc.clone()));
                let reasons: Vec<String> = conflicts
                    .iter()
                    .filter(|c| c.row == row_ref(&r.table, &r.pk))
                    .map(|c| format!("{} ({})", c.kind.name(), c.detail))
                    .collect();
                skipped.push(Skipped {
                    row: row_ref(&r.table, &r.pk),
                    reason: reasons.join("; "),
                });
            }
        }
        // Leave out, transitively, every row whose parent is left out.
        loop {
            let mut changed = false;
            for it in &items {
                let Some(r) = all.get(it.idx) else { continue };
                let key = (r.table.id(), r.pk_enc.clone());
                if skipped_set.contains(&key) {
                    continue;
                }
                if let Some(p) = it.needs.iter().find(|n| skipped_set.contains(*n)) {
                    let parent = catalog.by_id(p.0)?;
                    skipped.push(Skipped {
                        row: row_ref(&r.table, &r.pk),
                        reason: format!(
                            "depends on {} {}, which is left out",
                            parent.name(),
                            decode_pk(&p.1)?
                        ),
                    });
                    skipped_set.insert(key);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }
    let items = parents_first(items, &all, |it| it.idx, |it| &it.needs);
    let mut rows = Vec::new();
    let mut relinks = Vec::new();
    let mut events = Vec::new();
    for it in items {
        let Some(r) = all.get(it.idx) else { continue };
        if skipped_set.contains(&(r.table.id(), r.pk_enc.clone()))
            || (it.conflict && policy == RestorePolicy::SkipConflicts)
        {
            continue;
        }
        if r.m.kind == MEMBER_TOMBSTONE {
            rows.push(row_ref(&r.table, &r.pk));
        } else {
            relinks.push(row_ref(&r.table, &r.pk));
        }
        if !it.image.is_empty() {
            events.push(EventBody::Restore {
                table: r.table.id(),
                pk: r.pk.clone(),
                image: it.image,
                deletion: *id,
            });
        }
    }
    Ok(RestorePlan {
        deletion: *id,
        rows,
        relinks,
        conflicts,
        skipped,
        events,
    })
}
