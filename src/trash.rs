//! The trash: deletions as the API shows them, listing them, and the rows a deletion holds.
//! (Planning a deletion is `cascade`'s work, planning a restore `restore`'s.) Everything here
//! only reads.
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
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::Arc;

use uuid::Uuid;

use crate::codec::{self, keys, Space};
use crate::error::{Error, Result};
use crate::log::{self};
use crate::records::{self, DeletionRecord, MEMBER_UNLINK};
use crate::schema::{Catalog, Table};
use crate::storage::ReadView;
use crate::value::{Row, Timestamp, Value};

pub use crate::error::{Conflict, ConflictKind};
pub use crate::records::MAX_LISTED_ROOTS;
pub use crate::value::RowRef;

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

pub(crate) fn row_ref(t: &Table, pk: &Value) -> RowRef {
    RowRef {
        table: t.name().to_string(),
        pk: pk.clone(),
    }
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
pub(crate) struct RawMember {
    pub(crate) table: Arc<Table>,
    pub(crate) pk_enc: Vec<u8>,
    pub(crate) pk: Value,
    pub(crate) m: records::Member,
}

pub(crate) fn members(view: &dyn ReadView, catalog: &Catalog, id: &Uuid) -> Result<Vec<RawMember>> {
    let prefix = codec::del_key(id);
    let mut out = Vec::new();
    for item in records::scan_prefix(view, Space::DelRows, &prefix, false)? {
        let (k, v) = item?;
        let (_, tid, pk_enc) = codec::delrow_parts(&k)?;
        out.push(RawMember {
            table: catalog.by_id(tid)?.clone(),
            pk_enc: pk_enc.to_vec(),
            pk: keys::decode_pk(pk_enc)?,
            m: records::decode_member(&v)?,
        });
    }
    out.sort_by_key(|r| r.m.lsn);
    Ok(out)
}

pub(crate) fn image_at(view: &dyn ReadView, lsn: u64) -> Result<Vec<Value>> {
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
pub(crate) fn parents_first<I>(
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
