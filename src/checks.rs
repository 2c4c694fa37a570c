//! The constraint checks every write shares: which rows hold a unique value a row would take,
//! and which of a row's parents are not live. An insert, an update and an imported event turn
//! what these find into an error; a restore of a deletion and a restore to a point turn it into
//! conflicts. Only reads.

use uuid::Uuid;

use crate::codec::{self, keys, Space};
use crate::error::Result;
use crate::records;
use crate::schema::{Catalog, Index, Table};
use crate::storage::ReadView;
use crate::value::Value;

/// A unique value of a row: one unique index whose values in the row hold no null.
pub(crate) struct UniqueValue<'t> {
    /// The index.
    pub index: &'t Index,
    /// The index-key prefix of the value (table, index, values): every entry holding it
    /// starts with it.
    pub prefix: Vec<u8>,
}

impl UniqueValue<'_> {
    /// The values `image` holds for the index, as JSON text, comma separated (for messages).
    pub fn shown(&self, t: &Table, image: &[Value]) -> String {
        let shown: Vec<String> = self
            .index
            .cols
            .iter()
            .map(|&c| records::cell(t, image, c).to_string())
            .collect();
        shown.join(", ")
    }

    /// The names of the index's columns.
    pub fn columns(&self, t: &Table) -> Vec<String> {
        self.index
            .cols
            .iter()
            .filter_map(|&c| t.def.columns.get(c).map(|c| c.name.clone()))
            .collect()
    }
}

/// The unique values `image` holds in `t`, in index order; with `only_changed_from`, only
/// those whose values differ from that (older) image's.
pub(crate) fn unique_values<'t>(
    t: &'t Table,
    image: &[Value],
    only_changed_from: Option<&[Value]>,
) -> Vec<UniqueValue<'t>> {
    let mut out = Vec::new();
    for idx in t.indexes.iter().filter(|i| i.unique) {
        let (vals, has_null) = records::index_vals(t, &idx.cols, image);
        if has_null {
            continue; // nulls never conflict
        }
        if only_changed_from.is_some_and(|old| records::index_vals(t, &idx.cols, old).0 == vals) {
            continue;
        }
        out.push(UniqueValue {
            index: idx,
            prefix: codec::index_key(t.id(), idx.id, &vals, &[]),
        });
    }
    out
}

/// A row holding a unique value.
pub(crate) struct Holder {
    /// Its encoded primary key.
    pub pk_enc: Vec<u8>,
    /// `None`: a live row; `Some`: a trashed row keeping the value reserved for the deletion
    /// (a table whose trash keeps keys).
    pub reserved_by: Option<Uuid>,
}

/// The rows other than `own` that hold `value` in `t`: the trashed rows keeping it reserved
/// first (tables whose trash keeps keys), then the live rows, each in key order.
pub(crate) fn holders(
    view: &dyn ReadView,
    t: &Table,
    value: &UniqueValue<'_>,
    own: &[u8],
) -> Result<Vec<Holder>> {
    let mut out = Vec::new();
    if t.def.trash_keeps_keys {
        for item in records::scan_prefix(view, Space::Reserved, &value.prefix, false)? {
            let (k, v) = item?;
            let pk = codec::after_prefix(Space::Reserved, &k, &value.prefix)?;
            if pk != own {
                out.push(Holder {
                    pk_enc: pk.to_vec(),
                    reserved_by: Some(records::decode_reserved(&v)?),
                });
            }
        }
    }
    for item in records::scan_prefix(view, Space::Index, &value.prefix, false)? {
        let (k, _) = item?;
        let pk = codec::after_prefix(Space::Index, &k, &value.prefix)?;
        if pk != own {
            out.push(Holder {
                pk_enc: pk.to_vec(),
                reserved_by: None,
            });
        }
    }
    Ok(out)
}

/// A foreign key of a row whose parent is not live.
pub(crate) struct MissingParent {
    /// The foreign-key column.
    pub column: String,
    /// The parent table.
    pub parent: String,
    /// The parent table's id.
    pub parent_id: u32,
    /// The referenced primary key.
    pub value: Value,
    /// Its encoding.
    pub value_enc: Vec<u8>,
}

/// The non-null foreign keys of `image` (row `own` of `t`) whose parent row is not live in
/// `view`; with `only_changed_from`, only those whose value differs from that image's. A row
/// referencing itself has its parent. `skip` leaves out parents the caller accounts for (rows
/// coming back in the same restore).
pub(crate) fn missing_parents(
    view: &dyn ReadView,
    catalog: &Catalog,
    t: &Table,
    image: &[Value],
    own: &[u8],
    only_changed_from: Option<&[Value]>,
    skip: &dyn Fn(u32, &[u8]) -> bool,
) -> Result<Vec<MissingParent>> {
    let mut out = Vec::new();
    for fk in &t.fks {
        let v = records::cell(t, image, fk.col);
        if v.is_null() {
            continue;
        }
        if only_changed_from.is_some_and(|old| records::cell(t, old, fk.col) == v) {
            continue;
        }
        let parent = catalog.by_id(fk.parent)?;
        let enc = keys::encode_one(&v);
        if (parent.id() == t.id() && enc == own) || skip(parent.id(), &enc) {
            continue;
        }
        if !records::row_exists(view, parent.id(), &enc)? {
            out.push(MissingParent {
                column: t
                    .def
                    .columns
                    .get(fk.col)
                    .map(|c| c.name.clone())
                    .unwrap_or_default(),
                parent: parent.name().to_string(),
                parent_id: parent.id(),
                value: v,
                value_enc: enc,
            });
        }
    }
    Ok(out)
}
