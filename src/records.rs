//! The record formats of the views, and the reads every layer above makes of them: a row's
//! stored version and image, a deletion, a member of a deletion, the trashed-row holder, a
//! reserved value, the catalog, the sequences, the retention policies and horizons.
//!
//! This layer only reads (and encodes); the view changes an event causes are `views`' work.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use crate::codec::record::{self, kind};
use crate::codec::{self, keys, Space};
use crate::error::{Error, Result};
use crate::log::EventBody;
use crate::schema::{Catalog, Table, TableDef};
use crate::storage::ReadView;
use crate::value::{Row, Value};

/// A deletion as the deletions view keeps it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeletionRecord {
    /// The deletion id (a v7 uuid, as u128).
    pub id: u128,
    /// The transaction that wrote it.
    pub tx: u64,
    /// LSN of its first event.
    pub first_lsn: u64,
    /// The rows the delete named (table id, primary key).
    pub roots: Vec<(u32, Value)>,
    /// Tombstoned rows per table id.
    pub rows: Vec<(u32, u64)>,
    /// Rows whose foreign key was set to null.
    pub unlinked: u64,
    /// Members still in the trash (tombstones not restored, set-null updates not reverted).
    pub remaining: u64,
    /// Members restored so far.
    pub restored: u64,
}

/// Most roots a deletion record lists by value (a bulk delete may name many more; all of them
/// are members).
pub const MAX_LISTED_ROOTS: usize = 16;

/// What a member of a deletion is: a tombstoned row.
pub const MEMBER_TOMBSTONE: u8 = 0;

/// A member whose foreign key was set to null.
pub const MEMBER_UNLINK: u8 = 1;

/// A member of a deletion, as the delrows view keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// [`MEMBER_TOMBSTONE`] or [`MEMBER_UNLINK`].
    pub kind: u8,
    /// LSN of the row's last image before the deletion.
    pub last_lsn: u64,
    /// LSN of the deletion's event for this row.
    pub lsn: u64,
}

/// Reads a deletion record.
pub fn get_deletion(view: &dyn ReadView, id: &uuid::Uuid) -> Result<Option<DeletionRecord>> {
    match view.get(Space::Del, &codec::del_key(id))? {
        Some(b) => record::decode(&b, kind::DELETION, &|| format!("deletion {id}")).map(Some),
        None => Ok(None),
    }
}

/// The error for a deletion id that has no record: [`Error::Purged`] when it was purged,
/// [`Error::UnknownDeletion`] otherwise.
pub fn missing_deletion(view: &dyn ReadView, id: &uuid::Uuid) -> Error {
    match view.get(Space::Meta, &codec::purged_key(id)) {
        Ok(Some(b)) => {
            let at = <[u8; 8]>::try_from(b.as_slice())
                .map(u64::from_be_bytes)
                .unwrap_or_default();
            Error::Purged(format!("deletion {id} (purged at lsn {at})"))
        }
        Ok(None) => Error::UnknownDeletion(*id),
        Err(e) => e,
    }
}

/// Reads a deletion record, or the error [`missing_deletion`] gives.
pub fn need_deletion(view: &dyn ReadView, id: &uuid::Uuid) -> Result<DeletionRecord> {
    match get_deletion(view, id)? {
        Some(r) => Ok(r),
        None => Err(missing_deletion(view, id)),
    }
}

/// Decodes a deletion record read from the del space.
pub fn decode_deletion(bytes: &[u8]) -> Result<DeletionRecord> {
    record::decode(bytes, kind::DELETION, &|| "deletion record".to_string())
}

/// Decodes a delrows value.
pub fn decode_member(bytes: &[u8]) -> Result<Member> {
    let (kind, last_lsn, lsn): (u8, u64, u64) =
        record::decode(bytes, kind::DEL_ROW, &|| "deletion member".to_string())?;
    Ok(Member {
        kind,
        last_lsn,
        lsn,
    })
}

/// The deletion holding a trashed row, and the LSN of the row's last live image.
pub fn get_dead(
    view: &dyn ReadView,
    table: u32,
    pk_enc: &[u8],
) -> Result<Option<(uuid::Uuid, u64)>> {
    match view.get(Space::Dead, &codec::row_key(table, pk_enc))? {
        Some(b) => {
            let (d, lsn): (u128, u64) =
                record::decode(&b, kind::DEAD, &|| "trashed row".to_string())?;
            Ok(Some((uuid::Uuid::from_u128(d), lsn)))
        }
        None => Ok(None),
    }
}

/// Decodes a reserved-value entry: the deletion keeping it.
pub fn decode_reserved(bytes: &[u8]) -> Result<uuid::Uuid> {
    let d: u128 = record::decode(bytes, kind::RESERVED, &|| "reserved value".to_string())?;
    Ok(uuid::Uuid::from_u128(d))
}

/// The reserved-value keys of a trashed row (unique indexes, values without null).
pub fn reserved_keys(t: &Table, pk_enc: &[u8], image: &[Value]) -> Vec<Vec<u8>> {
    t.indexes
        .iter()
        .filter(|i| i.unique)
        .filter_map(|idx| {
            let (vals, has_null) = index_vals(t, &idx.cols, image);
            (!has_null).then(|| codec::index_key(t.id(), idx.id, &vals, pk_enc))
        })
        .collect()
}

/// The LSN of a row's live version (the one version that may have no hist entry: an Insert
/// not changed since, design §4), if the row is live.
pub(crate) fn live_lsn(view: &dyn ReadView, table: u32, pk_enc: &[u8]) -> Result<Option<u64>> {
    let key = codec::row_key(table, pk_enc);
    match view.get(Space::Rows, &key)? {
        Some(bytes) => row_lsn(&key, &bytes).map(Some),
        None => Ok(None),
    }
}

/// The row image an event wrote, if it wrote one.
pub fn event_image(body: &EventBody) -> Option<&Vec<Value>> {
    match body {
        EventBody::Insert { image, .. }
        | EventBody::Update { image, .. }
        | EventBody::Unlink { image, .. }
        | EventBody::Restore { image, .. } => Some(image),
        _ => None,
    }
}

/// [`event_image`] taken out of the event.
pub fn into_event_image(body: EventBody) -> Option<Vec<Value>> {
    match body {
        EventBody::Insert { image, .. }
        | EventBody::Update { image, .. }
        | EventBody::Unlink { image, .. }
        | EventBody::Restore { image, .. } => Some(image),
        _ => None,
    }
}

/// A live row as stored in the rows view.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRow {
    /// LSN of the event that wrote this version.
    pub lsn: u64,
    /// The image, in column order (may be shorter than today's columns).
    pub image: Vec<Value>,
}

/// Encodes a rows-view record.
pub fn encode_row(lsn: u64, image: &[Value]) -> Result<Vec<u8>> {
    record::encode(kind::ROW, &(lsn, image))
}

/// The LSN of a rows-view record, without decoding its image.
pub fn row_lsn(key: &[u8], bytes: &[u8]) -> Result<u64> {
    record::decode_leading(bytes, kind::ROW, &|| {
        format!("row record at key {key:02x?}")
    })
}

/// Decodes a rows-view record.
pub fn decode_row(key: &[u8], bytes: &[u8]) -> Result<StoredRow> {
    let place = || format!("row record at key {key:02x?}");
    let payload = record::open_kind(bytes, kind::ROW, &place)?;
    let (lsn, image) = crate::codec::image::decode_lsn_image(payload)
        .map_err(|e| Error::corrupted(place(), format!("undecodable payload: {e}")))?;
    Ok(StoredRow { lsn, image })
}

/// The value of column `pos` in an image, padding with the column default for images written
/// before the column existed.
pub fn cell(table: &Table, image: &[Value], pos: usize) -> Value {
    match image.get(pos) {
        Some(v) => v.clone(),
        None => table
            .def
            .columns
            .get(pos)
            .map(|c| c.fill())
            .unwrap_or(Value::Null),
    }
}

/// The public row of an image: every column of today's schema, by name.
pub fn to_row(table: &Table, image: &[Value]) -> Row {
    into_row(table, image.to_vec())
}

/// [`to_row`] for an image the caller owns: the values move into the row, which shares the
/// table's column names; an image written before a column existed gets the column's default,
/// one written with more columns than the table has now is cut.
pub fn into_row(table: &Table, mut image: Vec<Value>) -> Row {
    let n = table.names.len();
    if image.len() > n {
        image.truncate(n);
    }
    while image.len() < n {
        let i = image.len();
        image.push(
            table
                .def
                .columns
                .get(i)
                .map(|c| c.fill())
                .unwrap_or(Value::Null),
        );
    }
    Row::from_shared(table.names.clone(), image)
}

/// The encoded values of an index's columns in an image.
pub fn index_vals(table: &Table, cols: &[usize], image: &[Value]) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(cols.len() * 9);
    let mut has_null = false;
    for &c in cols {
        let v = cell(table, image, c);
        has_null |= v.is_null();
        keys::encode_value(&mut out, &v);
    }
    (out, has_null)
}

/// The pairs of `space` whose keys start with `prefix`, in key order (or reverse).
pub fn scan_prefix<'a>(
    view: &'a dyn ReadView,
    space: Space,
    prefix: &[u8],
    reverse: bool,
) -> Result<crate::storage::KvIter<'a>> {
    let end = keys::prefix_end(prefix);
    view.range(
        space,
        Bound::Included(prefix),
        end.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
        reverse,
    )
}

/// True when a live row has this encoded primary key (no decoding).
pub fn row_exists(view: &dyn ReadView, table: u32, pk_enc: &[u8]) -> Result<bool> {
    Ok(view
        .get(Space::Rows, &codec::row_key(table, pk_enc))?
        .is_some())
}

/// Reads a live row by encoded primary key.
pub fn get_row(view: &dyn ReadView, table: u32, pk_enc: &[u8]) -> Result<Option<StoredRow>> {
    let key = codec::row_key(table, pk_enc);
    match view.get(Space::Rows, &key)? {
        Some(bytes) => decode_row(&key, &bytes).map(Some),
        None => Ok(None),
    }
}

/// Reads the live rows of several row keys at once (the rows an index lookup found), in the
/// order of `keys`: `None` where no live row has the key. The keys are visited in key order
/// by range walks over the rows view, a walk going on past rows that are not asked for while
/// they are few ([`MAX_SKIPPED`] in a row) and seeking again after that: rows that lie
/// together (a parent's children, inserted together) cost a step each rather than a descent
/// of the tree each, and rows far apart cost a seek each, as a get does.
pub fn get_rows<K: AsRef<[u8]> + Ord>(
    view: &dyn ReadView,
    keys: &[K],
) -> Result<Vec<Option<StoredRow>>> {
    let mut out: Vec<Option<StoredRow>> = Vec::with_capacity(keys.len());
    out.resize_with(keys.len(), || None);
    visit_rows(view, keys, &mut |pos, k, v| {
        if let Some(slot) = out.get_mut(pos) {
            *slot = Some(decode_row(k, v)?);
        }
        Ok(true)
    })?;
    Ok(out)
}

/// [`get_rows`] answering each row's record as stored (not decoded).
pub fn get_row_records<K: AsRef<[u8]> + Ord>(
    view: &dyn ReadView,
    keys: &[K],
) -> Result<Vec<Option<Vec<u8>>>> {
    let mut out: Vec<Option<Vec<u8>>> = vec![None; keys.len()];
    visit_rows(view, keys, &mut |pos, _, v| {
        if let Some(slot) = out.get_mut(pos) {
            *slot = Some(v.to_vec());
        }
        Ok(true)
    })?;
    Ok(out)
}

/// What [`visit_rows`] calls with each row found: its position in the keys, its key, its
/// record; it answers whether to go on.
pub type TakeRow<'f> = dyn FnMut(usize, &[u8], &[u8]) -> Result<bool> + 'f;

/// Calls `take(position in keys, key, record)` for every key of `keys` that has a live row, in
/// key order, until `take` answers `false` (see [`get_rows`]; a key asked twice is answered at
/// one of its positions).
pub fn visit_rows<K: AsRef<[u8]> + Ord>(
    view: &dyn ReadView,
    keys: &[K],
    take: &mut TakeRow<'_>,
) -> Result<()> {
    if keys.len() <= 2 || !view.walks_rows() {
        for (pos, key) in keys.iter().enumerate() {
            if !take_by_get(view, pos, key.as_ref(), take)? {
                break;
            }
        }
        return Ok(());
    }
    // positions in key order (an equality lookup already gives them so); a key asked twice
    // sits next to its twin and is answered with it
    let order: Option<Vec<usize>> = if keys.windows(2).all(|w| matches!(w, [a, b] if a < b)) {
        None // in order already: the n-th key to find is keys[n]
    } else {
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by(|&a, &b| keys.get(a).cmp(&keys.get(b)));
        Some(order)
    };
    // the position in `keys` of the n-th key in key order
    let at = |n: usize| match &order {
        None => (n < keys.len()).then_some(n),
        Some(order) => order.get(n).copied(),
    };
    // the next key, in key order, to find; whether `take` asked to stop
    let (mut next, mut stopped) = (0usize, false);
    // rows a walk may pass before it seeks again: halved (down to 1) each time a walk passes
    // that many for nothing, back to MAX_SKIPPED when a walk reaches a key it stepped to (the
    // rows asked for lie far apart: a seek each, not a seek and eight steps)
    let mut budget = MAX_SKIPPED;
    // keys read by a get since the last walk
    let mut since_walk = 0usize;
    while let Some(pos) = at(next) {
        let Some(key) = keys.get(pos) else {
            break;
        };
        // rows far apart (the allowance down to one): a get each, cheaper than a walk's seek,
        // with a walk now and then to see whether the rows asked for lie together again
        if budget == 1 && since_walk < GETS_BETWEEN_WALKS {
            since_walk += 1;
            next += 1;
            if !take_by_get(view, pos, key.as_ref(), take)? {
                break;
            }
            continue;
        }
        since_walk = 0;
        let mut skipped = 0usize;
        let mut reseek = false;
        // whether the entry at hand is the one the walk's seek found
        let mut first = true;
        // no end bound: the walk stops itself once every key is answered (the engine's
        // compare of each entry with an end bound cost about 3 % of a child lookup)
        view.visit(
            Space::Rows,
            Bound::Included(key.as_ref()),
            Bound::Unbounded,
            false,
            &mut |k, v| {
                let mut found = false;
                let stepped_to = !std::mem::replace(&mut first, false);
                while let Some(pos) = at(next) {
                    let Some(want) = keys.get(pos) else {
                        return Ok(false);
                    };
                    match k.cmp(want.as_ref()) {
                        // a row nobody asked for: walk past a few, then seek again
                        std::cmp::Ordering::Less if !found => {
                            skipped += 1;
                            reseek = skipped >= budget;
                            if reseek {
                                budget = (budget / 2).max(1);
                            }
                            return Ok(!reseek);
                        }
                        std::cmp::Ordering::Less => {
                            skipped = 0;
                            return Ok(true);
                        }
                        std::cmp::Ordering::Equal => {
                            if stepped_to && !found {
                                budget = MAX_SKIPPED;
                            }
                            found = true;
                            next += 1;
                            if !take(pos, k, v)? {
                                stopped = true;
                                return Ok(false);
                            }
                        }
                        // no live row with the key wanted: on to the next one, with this entry
                        std::cmp::Ordering::Greater => next += 1,
                    }
                }
                Ok(false)
            },
        )?;
        if stopped || !reseek {
            // the walk reached the last key (or ran out of rows): the rest are not there
            break;
        }
    }
    Ok(())
}

/// One key of [`visit_rows`] read by a get: `take` is called when it has a live row; answers
/// whether to go on.
fn take_by_get(
    view: &dyn ReadView,
    pos: usize,
    key: &[u8],
    take: &mut TakeRow<'_>,
) -> Result<bool> {
    match view.get(Space::Rows, key)? {
        Some(bytes) => take(pos, key, &bytes),
        None => Ok(true),
    }
}

/// Rows [`get_rows`] walks past in a row before it seeks again (fewer while walks keep
/// passing that many for nothing).
const MAX_SKIPPED: usize = 8;

/// Keys [`get_rows`] reads by a get, once its walks keep giving up, before it walks again.
const GETS_BETWEEN_WALKS: usize = 7;

/// Reads the next integer primary key of a table from the sequence view.
pub fn read_seq(view: &dyn ReadView, table: u32) -> Result<i64> {
    match view.get(Space::Meta, &codec::seq_key(table))? {
        None => Ok(1),
        Some(b) => {
            let arr: [u8; 8] = b.as_slice().try_into().map_err(|_| {
                Error::corrupted("meta", format!("sequence of table {table} is not 8 bytes"))
            })?;
            Ok(i64::from_be_bytes(arr))
        }
    }
}

/// Applies a schema event to a catalog and returns the definitions it changed (none for a row
/// event).
pub fn apply_to_catalog(catalog: &mut Catalog, body: &EventBody) -> Result<Vec<TableDef>> {
    let defs = match body {
        EventBody::CreateTables(defs) => defs.clone(),
        EventBody::AddColumn { table, column } => {
            let mut def = catalog.by_id(*table)?.def.clone();
            def.columns.push(column.clone());
            vec![def]
        }
        EventBody::AddIndex { table, index } => {
            let mut def = catalog.by_id(*table)?.def.clone();
            def.indexes.push(index.clone());
            vec![def]
        }
        _ => return Ok(Vec::new()),
    };
    catalog.put(defs.clone())?;
    Ok(defs)
}

/// The catalog as it was at `lsn`: every schema event up to it, replayed (schema events are few;
/// their LSNs are indexed under `meta/schema/`).
pub fn catalog_at(view: &dyn ReadView, lsn: u64) -> Result<Catalog> {
    let prefix = codec::META_SCHEMA_PREFIX;
    let end = codec::schema_key(lsn.saturating_add(1));
    let mut catalog = Catalog::default();
    for item in view.range(
        Space::Meta,
        Bound::Included(prefix),
        Bound::Excluded(&end),
        false,
    )? {
        let (k, _) = item?;
        let at = codec::after_prefix(Space::Meta, &k, prefix)
            .ok()
            .and_then(codec::read_u64_key)
            .ok_or_else(|| Error::corrupted("meta", "bad schema index key"))?;
        let ev = crate::log::read_event(view, at)?.ok_or_else(|| {
            Error::corrupted("meta", format!("schema index points at missing lsn {at}"))
        })?;
        apply_to_catalog(&mut catalog, &ev.body)?;
    }
    Ok(catalog)
}

/// The LSN of the newest schema event at or before `lsn` (0: none).
pub fn last_schema_lsn(view: &dyn ReadView, lsn: u64) -> Result<u64> {
    let prefix = codec::META_SCHEMA_PREFIX;
    let end = codec::schema_key(lsn.saturating_add(1));
    let mut newest = view.range(
        Space::Meta,
        Bound::Included(prefix),
        Bound::Excluded(&end),
        true,
    )?;
    match newest.next() {
        None => Ok(0),
        Some(item) => {
            let (k, _) = item?;
            codec::after_prefix(Space::Meta, &k, prefix)
                .ok()
                .and_then(codec::read_u64_key)
                .ok_or_else(|| Error::corrupted("meta", "bad schema index key"))
        }
    }
}

/// What [`catalog_at_cached`] remembers: the newest schema event at or before some points, the
/// last of those points (no schema event lies after the first and up to it), and the catalog.
pub type CatalogMemo = parking_lot::Mutex<Option<(u64, u64, std::sync::Arc<Catalog>)>>;

/// [`catalog_at`], reusing `memo` when it holds the catalog of the same newest schema event:
/// the catalog as of a point depends only on the schema events up to it, and a committed
/// event never changes. A point between the memo's schema event and the last point it was
/// asked for has that same newest event, known without a read. `memo` is replaced by the
/// catalog built otherwise.
pub fn catalog_at_cached(
    view: &dyn ReadView,
    lsn: u64,
    memo: &CatalogMemo,
) -> Result<std::sync::Arc<Catalog>> {
    if let Some((newest, covered, catalog)) = &*memo.lock() {
        if *newest <= lsn && lsn <= *covered {
            return Ok(catalog.clone());
        }
    }
    let newest = last_schema_lsn(view, lsn)?;
    let mut held = memo.lock();
    if let Some((at, covered, catalog)) = held.as_mut() {
        if *at == newest {
            *covered = (*covered).max(lsn);
            return Ok(catalog.clone());
        }
    }
    drop(held);
    let catalog = std::sync::Arc::new(catalog_at(view, lsn)?);
    *memo.lock() = Some((newest, lsn, catalog.clone()));
    Ok(catalog)
}

/// The LSN of the last event that rewrote history (0: none).
pub fn read_last_purge(view: &dyn ReadView) -> Result<u64> {
    match view.get(Space::Meta, codec::META_LAST_PURGE)? {
        None => Ok(0),
        Some(b) => <[u8; 8]>::try_from(b.as_slice())
            .map(u64::from_be_bytes)
            .map_err(|_| Error::corrupted("meta", "the last-purge mark is not 8 bytes")),
    }
}

/// The LSN before which as-of reads of a table are refused (0: none).
pub fn read_horizon(view: &dyn ReadView, table: u32) -> Result<u64> {
    match view.get(Space::Meta, &codec::horizon_key(table))? {
        None => Ok(0),
        Some(b) => <[u8; 8]>::try_from(b.as_slice())
            .map(u64::from_be_bytes)
            .map_err(|_| {
                Error::corrupted(
                    "meta",
                    format!("history horizon of table {table} is not 8 bytes"),
                )
            }),
    }
}

/// The retention policy of a table (`Some`) or of the store (`None`), if one is set.
pub fn read_retention(
    view: &dyn ReadView,
    table: Option<u32>,
) -> Result<Option<crate::schema::Retention>> {
    match view.get(Space::Meta, &codec::retention_key(table))? {
        None => Ok(None),
        Some(b) => decode_retention(&b).map(Some),
    }
}

/// Decodes a retention record (meta `retention/…`).
pub fn decode_retention(bytes: &[u8]) -> Result<crate::schema::Retention> {
    let (deletions, history): (Option<u64>, Option<u64>) =
        record::decode(bytes, kind::RETENTION, &|| "retention policy".to_string())?;
    Ok(crate::schema::Retention { deletions, history })
}

/// Loads the catalog from its view in the meta space.
pub fn load_catalog(view: &dyn ReadView) -> Result<Catalog> {
    let prefix = codec::META_TABLE_PREFIX;
    let mut defs = Vec::new();
    for item in scan_prefix(view, Space::Meta, prefix, false)? {
        let (k, v) = item?;
        let def: TableDef =
            record::decode(&v, kind::TABLE_DEF, &|| format!("catalog entry {k:02x?}"))?;
        defs.push(def);
    }
    let mut c = Catalog::default();
    c.put(defs)?;
    Ok(c)
}

/// Each table's history window and pruning horizon, as one engine snapshot holds them.
pub type Limits = BTreeMap<u32, (Option<u64>, u64)>;

/// The [`Limits`] last read, with the engine snapshot they were read from
/// ([`ReadView::snapshot_id`]): views of the same snapshot see the same ones.
pub type LimitsMemo = parking_lot::Mutex<Option<(u64, Arc<Limits>)>>;

/// The limits of `catalog`'s tables in `view`: from `memo` when it was read from the same
/// snapshot and holds every table, else read (and kept in `memo`).
pub fn limits(
    view: &dyn ReadView,
    catalog: &Catalog,
    memo: Option<&LimitsMemo>,
) -> Result<Arc<Limits>> {
    let snapshot = view.snapshot_id();
    if let (Some(memo), Some(id)) = (memo, snapshot) {
        if let Some((at, limits)) = memo.lock().as_ref() {
            if *at == id && catalog.tables().all(|t| limits.contains_key(&t.id())) {
                return Ok(limits.clone());
            }
        }
    }
    let store = read_retention(view, None)?;
    let mut out = Limits::new();
    for t in catalog.tables() {
        let policy = read_retention(view, Some(t.id()))?.or(store);
        let horizon = read_horizon(view, t.id())?;
        out.insert(t.id(), (policy.and_then(|p| p.history), horizon));
    }
    let out = Arc::new(out);
    if let (Some(memo), Some(id)) = (memo, snapshot) {
        *memo.lock() = Some((id, out.clone()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::overlay::{EmptyView, Overlay};
    use proptest::prelude::*;

    fn key(pk: i64) -> Vec<u8> {
        codec::row_key(7, &keys::encode_one(&Value::Int(pk)))
    }

    proptest! {
        /// `get_rows` answers as one `get_row` per key does, in the order asked, for keys
        /// together or far apart, sorted or not, present or not, repeated or not.
        #[test]
        fn get_rows_answers_as_gets_do(
            present in proptest::collection::btree_set(0i64..300, 0..200),
            asked in proptest::collection::vec(0i64..300, 0..60),
            sort in any::<bool>(),
        ) {
            let mut view = Overlay::new(Box::new(EmptyView));
            for &pk in &present {
                let image = vec![Value::Int(pk), Value::Text(format!("row {pk}"))];
                view.put(Space::Rows, key(pk), encode_row(pk as u64 + 1, &image).unwrap());
            }
            // another table's rows on both sides must never be taken
            view.put(Space::Rows, codec::row_key(6, &keys::encode_one(&Value::Int(5))),
                encode_row(1, &[Value::Int(5)]).unwrap());
            view.put(Space::Rows, codec::row_key(8, &keys::encode_one(&Value::Int(5))),
                encode_row(1, &[Value::Int(5)]).unwrap());
            let mut asked = asked;
            if sort {
                asked.sort_unstable();
                asked.dedup();
            }
            let keys: Vec<Vec<u8>> = asked.iter().map(|&pk| key(pk)).collect();
            let got = get_rows(&view, &keys).unwrap();
            prop_assert_eq!(got.len(), keys.len());
            for (pk, row) in asked.iter().zip(&got) {
                let one = get_row(&view, 7, &keys::encode_one(&Value::Int(*pk))).unwrap();
                prop_assert_eq!(row, &one);
                prop_assert_eq!(row.is_some(), present.contains(pk));
            }
        }
    }
}
