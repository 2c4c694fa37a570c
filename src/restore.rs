//! Planning a restore of a deletion (or of one of its rows): every member's image, every
//! conflict, and under the skip policy which rows stay in the trash (see `docs/semantics.md`,
//! "Restore"). Only reads; the transaction stages the plan's events.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use uuid::Uuid;

use crate::checks;
use crate::codec::keys;
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
            for value in checks::unique_values(t, &image, None) {
                if let Some(first) = restoring_unique.get(&value.prefix) {
                    conflict = true;
                    conflicts.push(Conflict {
                        row: me.clone(),
                        kind: ConflictKind::UniqueTaken,
                        detail: format!(
                            "its unique value is also held by {first}, restored in the same restore"
                        ),
                    });
                } else {
                    restoring_unique.insert(value.prefix.clone(), me.clone());
                }
                // the row's own kept values are its to take back: live holders only (a live
                // row under the same key counts too)
                let live = checks::holders(view, t, &value, &[])?
                    .into_iter()
                    .find(|h| h.reserved_by.is_none());
                if let Some(h) = live {
                    conflict = true;
                    conflicts.push(Conflict {
                        row: me.clone(),
                        kind: ConflictKind::UniqueTaken,
                        detail: format!(
                            "unique ({}) = {} is taken by live row {} {}",
                            value.columns(t).join(", "),
                            value.shown(t, &image),
                            t.name(),
                            keys::decode_pk(&h.pk_enc)?
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
            // over it must still hold, among the live rows, the values the trash keeps and the
            // rows of this restore.
            for value in checks::unique_values(t, &image, Some(&live.image)) {
                let shown = format!(
                    "unique ({}) = {}",
                    value.columns(t).join(", "),
                    value.shown(t, &image)
                );
                if let Some(first) = restoring_unique.get(&value.prefix) {
                    conflict = true;
                    conflicts.push(Conflict {
                        row: me.clone(),
                        kind: ConflictKind::UniqueTaken,
                        detail: format!(
                            "putting its reference back would give it {shown}, also held by {first}, restored in the same restore"
                        ),
                    });
                } else {
                    restoring_unique.insert(value.prefix.clone(), me.clone());
                }
                let holders = checks::holders(view, t, &value, &r.pk_enc)?;
                // one conflict for a live holder, one for a reserving one
                for reserved in [false, true] {
                    let Some(h) = holders.iter().find(|h| h.reserved_by.is_some() == reserved)
                    else {
                        continue;
                    };
                    conflict = true;
                    let held = match h.reserved_by {
                        Some(d) => format!(
                            "kept reserved by trashed row {} {} (deletion {d})",
                            t.name(),
                            keys::decode_pk(&h.pk_enc)?
                        ),
                        None => format!(
                            "taken by live row {} {}",
                            t.name(),
                            keys::decode_pk(&h.pk_enc)?
                        ),
                    };
                    conflicts.push(Conflict {
                        row: me.clone(),
                        kind: ConflictKind::UniqueTaken,
                        detail: format!("putting its reference back would give it {shown}, {held}"),
                    });
                }
            }
            image
        };
        // parents: live, or coming back in this restore (then this row waits for them)
        let missing =
            checks::missing_parents(view, catalog, t, &image, &r.pk_enc, None, &|table, enc| {
                coming.contains(&(table, enc.to_vec()))
            })?;
        for fk in &t.fks {
            let v = records::cell(t, &image, fk.col);
            let penc = keys::encode_one(&v);
            let itself = fk.parent == t.id() && penc == r.pk_enc;
            if !v.is_null() && !itself && coming.contains(&(fk.parent, penc.clone())) {
                needs.push((fk.parent, penc));
            }
        }
        for m in missing {
            let why = match records::get_dead(view, m.parent_id, &m.value_enc)? {
                Some((d, _)) => format!("in the trash, deletion {d}"),
                None => "missing".to_string(),
            };
            conflict = true;
            conflicts.push(Conflict {
                row: me.clone(),
                kind: ConflictKind::ParentNotLive,
                detail: format!("parent {} {} is not live ({why})", m.parent, m.value),
            });
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
