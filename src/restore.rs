//! Planning a restore of a deletion (or of one of its rows): every member's image, every
//! conflict, and under the skip policy which rows stay in the trash (see `docs/semantics.md`,
//! "Restore"). Only reads; the transaction stages the plan's events.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use uuid::Uuid;

use crate::codec::{self, keys, Space};
use crate::error::{Conflict, ConflictKind, Error, Result};
use crate::log::EventBody;
use crate::records::{self, MEMBER_TOMBSTONE};
use crate::schema::{Catalog, Table};
use crate::storage::ReadView;
use crate::trash::{image_at, members, parents_first, row_ref};
use crate::value::{RowRef, Value};

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
                    let other = keys::decode_pk(codec::after_prefix(Space::Index, &k, &prefix)?)?;
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
                    let other = codec::after_prefix(Space::Index, &k, &prefix)?;
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
                            keys::decode_pk(other)?
                        ),
                    });
                    break;
                }
                if t.def.trash_keeps_keys {
                    for item in records::scan_prefix(view, Space::Reserved, &prefix, false)? {
                        let (k, v) = item?;
                        let other = codec::after_prefix(Space::Reserved, &k, &prefix)?;
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
                                keys::decode_pk(other)?,
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
                            keys::decode_pk(&p.1)?
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
