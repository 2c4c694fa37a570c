//! Planning a deletion: the cascade through foreign keys, the restrict check and the set-null
//! updates (see `docs/semantics.md`, "Deletes"). Only reads; the transaction stages the plan.
//!
//! A **deletion** is exactly the rows it tombstoned: the rows the delete named (its roots) and
//! every row reached from them through foreign keys with `on_delete = cascade`, recursively,
//! across tables, each visited once (so self-references and cycles terminate; the walk is
//! iterative), plus the set-null updates of rows that referenced a deleted row through
//! `on_delete = set_null`. A row deleted on its own earlier is not live, so it is not reached.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use crate::codec::{self, keys, Space};
use crate::error::{Error, Result};
use crate::records;
use crate::schema::{Catalog, OnDelete, Table};
use crate::storage::ReadView;
use crate::value::Value;

/// (table id, encoded primary key): a row's identity inside the store.
type RowKey = (u32, Vec<u8>);

/// A deletion computed without writing anything.
pub(crate) struct DeletePlan {
    /// Tombstones in order (roots first, then breadth-first through the cascade).
    pub tombstones: Vec<(Arc<Table>, Value, bool)>,
    /// Set-null updates: the row and its new image.
    pub unlinks: Vec<(Arc<Table>, Value, Vec<Value>)>,
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
        out.push(codec::after_prefix(Space::Index, &k, &prefix)?.to_vec());
    }
    Ok(out)
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
                            tombstones.push((child.clone(), keys::decode_pk(&child_pk)?, false));
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
        .map(|(t, pk)| Ok(format!("{} {}", t.name(), keys::decode_pk(pk)?)))
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
        out_unlinks.push((t, keys::decode_pk(&key.1)?, image));
    }
    Ok(DeletePlan {
        tombstones,
        unlinks: out_unlinks,
    })
}
