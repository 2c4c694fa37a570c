//! The read API shared by the live store ([`crate::Db`]) and transactions
//! ([`crate::Transaction`], which also see their own writes): get by primary key, scans in key
//! order with a range and a limit, index lookups by value and by range, relation navigation,
//! and typed access through `serde`.
//!
//! Every method reads one consistent view: a read never sees part of a transaction.

use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::codec::{self, keys, Space};
use crate::error::{Error, Result};
use crate::restore;
use crate::restore::{RestorePlan, RestorePolicy};
use crate::schema::{Catalog, Table};
use crate::storage::ReadView;
use crate::trash::{self, DeletedRow, Deletion, TrashQuery};
use crate::value::{Row, Value};
use uuid::Uuid;

/// A primary-key range for [`Readable::scan`].
///
/// ```
/// use lazarusdb::Scan;
/// let first_ten = Scan::all().limit(10);
/// let some = Scan::range(5..20).reverse();
/// # let _ = (first_ten, some);
/// ```
#[derive(Debug, Clone)]
pub struct Scan {
    start: Bound<Value>,
    end: Bound<Value>,
    limit: Option<usize>,
    reverse: bool,
}

impl Scan {
    /// Every row, in primary-key order.
    pub fn all() -> Scan {
        Scan {
            start: Bound::Unbounded,
            end: Bound::Unbounded,
            limit: None,
            reverse: false,
        }
    }

    /// The rows whose primary key is within `r` (e.g. `5..20`, `"a"..="m"`).
    pub fn range<T: Into<Value> + Clone, R: RangeBounds<T>>(r: R) -> Scan {
        Scan {
            start: r.start_bound().cloned().map(Into::into),
            end: r.end_bound().cloned().map(Into::into),
            limit: None,
            reverse: false,
        }
    }

    /// At most `n` rows.
    pub fn limit(mut self, n: usize) -> Scan {
        self.limit = Some(n);
        self
    }

    /// Descending primary-key order.
    pub fn reverse(mut self) -> Scan {
        self.reverse = true;
        self
    }
}

/// A range over an index's values for [`Readable::lookup_range`]. Bounds are lists of values for
/// the index's leading columns; a bound with fewer values than the index has columns covers
/// every entry that starts with them.
#[derive(Debug, Clone)]
pub struct IndexRange {
    start: Bound<Vec<Value>>,
    end: Bound<Vec<Value>>,
    limit: Option<usize>,
    reverse: bool,
}

impl IndexRange {
    /// A range over the first indexed column, e.g. `IndexRange::range(10..20)`.
    pub fn range<T: Into<Value> + Clone, R: RangeBounds<T>>(r: R) -> IndexRange {
        IndexRange {
            start: r.start_bound().cloned().map(|v| vec![v.into()]),
            end: r.end_bound().cloned().map(|v| vec![v.into()]),
            limit: None,
            reverse: false,
        }
    }

    /// A range given by composite bounds.
    pub fn between(start: Bound<Vec<Value>>, end: Bound<Vec<Value>>) -> IndexRange {
        IndexRange {
            start,
            end,
            limit: None,
            reverse: false,
        }
    }

    /// At most `n` rows.
    pub fn limit(mut self, n: usize) -> IndexRange {
        self.limit = Some(n);
        self
    }

    /// Descending index order.
    pub fn reverse(mut self) -> IndexRange {
        self.reverse = true;
        self
    }
}

/// What a reader reads from: a consistent view and the catalog that goes with it.
#[doc(hidden)]
pub struct ReadCtx<'a> {
    pub(crate) view: ViewRef<'a>,
    pub(crate) catalog: Arc<Catalog>,
}

pub(crate) enum ViewRef<'a> {
    Owned(Box<dyn ReadView + 'a>),
    Borrowed(&'a dyn ReadView),
}

impl ReadCtx<'_> {
    fn view(&self) -> &dyn ReadView {
        match &self.view {
            ViewRef::Owned(b) => b.as_ref(),
            ViewRef::Borrowed(r) => *r,
        }
    }
}

/// Coerces a primary-key value to the table's key type and encodes it.
pub(crate) fn pk_enc(table: &Table, pk: Value) -> Result<(Value, Vec<u8>)> {
    let col = table
        .pk_column()
        .ok_or_else(|| Error::corrupted("catalog", "table without primary key"))?;
    let v = pk.coerce(col.ty).map_err(|v| Error::WrongType {
        table: table.name().to_string(),
        column: col.name.clone(),
        expected: col.ty.name().to_string(),
        got: v.kind().to_string(),
    })?;
    if v.is_null() {
        return Err(Error::invalid(format!(
            "{}: a primary key cannot be null",
            table.name()
        )));
    }
    let enc = keys::encode_one(&v);
    Ok((v, enc))
}

fn coerce_cells(table: &Table, cols: &[usize], values: Vec<Value>) -> Result<Vec<Value>> {
    if values.len() > cols.len() {
        return Err(Error::invalid(format!(
            "{}: {} values given for an index of {} columns",
            table.name(),
            values.len(),
            cols.len()
        )));
    }
    values
        .into_iter()
        .zip(cols)
        .map(|(v, &c)| {
            let col = table
                .def
                .columns
                .get(c)
                .ok_or_else(|| Error::corrupted("catalog", "index column out of range"))?;
            v.coerce(col.ty).map_err(|v| Error::WrongType {
                table: table.name().to_string(),
                column: col.name.clone(),
                expected: col.ty.name().to_string(),
                got: v.kind().to_string(),
            })
        })
        .collect()
}

fn bound_key(prefix: &[u8], b: &Bound<Vec<u8>>, is_start: bool) -> Bound<Vec<u8>> {
    let with = |k: &[u8]| {
        let mut v = Vec::with_capacity(prefix.len() + k.len() + 1);
        v.extend_from_slice(prefix);
        v.extend_from_slice(k);
        v
    };
    let after = |k: &[u8]| keys::into_prefix_end(with(k)).map_or(Bound::Unbounded, Bound::Excluded);
    match (b, is_start) {
        (Bound::Unbounded, true) => Bound::Included(prefix.to_vec()),
        (Bound::Unbounded, false) => {
            keys::prefix_end(prefix).map_or(Bound::Unbounded, Bound::Excluded)
        }
        (Bound::Included(k), true) => Bound::Included(with(k)),
        (Bound::Excluded(k), true) => match after(k) {
            Bound::Excluded(e) => Bound::Included(e),
            other => other,
        },
        (Bound::Included(k), false) => after(k),
        (Bound::Excluded(k), false) => Bound::Excluded(with(k)),
    }
}

/// Reads over a consistent view of the store. Implemented by [`crate::Db`] (live rows) and
/// [`crate::Transaction`] (live rows plus the transaction's own writes).
pub trait Readable {
    /// The view and catalog to read from (one per call).
    #[doc(hidden)]
    fn read_ctx(&self) -> Result<ReadCtx<'_>>;

    /// The live row with this primary key, or `None`.
    fn get(&self, table: &str, pk: impl Into<Value>) -> Result<Option<Row>> {
        let ctx = self.read_ctx()?;
        let t = ctx.catalog.table(table)?;
        let (_, enc) = pk_enc(t, pk.into())?;
        Ok(crate::records::get_row(ctx.view(), t.id(), &enc)?
            .map(|r| crate::records::into_row(t, r.image)))
    }

    /// The live row with this primary key, deserialized into `T`.
    fn get_as<T: DeserializeOwned>(&self, table: &str, pk: impl Into<Value>) -> Result<Option<T>> {
        self.get(table, pk)?.map(|r| row_into(&r)).transpose()
    }

    /// Live rows in primary-key order within the scan's range, up to its limit.
    fn scan(&self, table: &str, scan: Scan) -> Result<Vec<Row>> {
        let mut out = Vec::new();
        self.scan_each(table, scan, |row| {
            out.push(row);
            true
        })?;
        Ok(out)
    }

    /// [`Readable::scan`] without collecting the rows: calls `f` with each live row in turn, in
    /// primary-key order (reversed when the scan is), until `f` returns `false` or the scan's
    /// limit is reached; returns how many rows `f` was given. All of them come from one
    /// consistent view of the store. For a large table this is the way to read it: nothing
    /// is held but the row at hand.
    ///
    /// ```
    /// # use lazarusdb::{ColumnType, Db, Readable, Row, Scan, TableBuilder};
    /// # let db = Db::temporary()?;
    /// # db.create_table(TableBuilder::new("t").column(("id", ColumnType::Int)).primary_key("id"))?;
    /// # for id in 1..=5 { db.insert("t", Row::new().with("id", id))?; }
    /// let mut sum = 0;
    /// let seen = db.scan_each("t", Scan::all(), |row| {
    ///     sum += row.get("id").and_then(|v| v.as_int()).unwrap_or(0);
    ///     true // go on
    /// })?;
    /// assert_eq!((seen, sum), (5, 15));
    /// # Ok::<(), lazarusdb::Error>(())
    /// ```
    fn scan_each(&self, table: &str, scan: Scan, mut f: impl FnMut(Row) -> bool) -> Result<u64> {
        let ctx = self.read_ctx()?;
        let t = ctx.catalog.table(table)?;
        let prefix = codec::table_prefix(t.id());
        let enc = |b: Bound<Value>| -> Result<Bound<Vec<u8>>> {
            Ok(match b {
                Bound::Included(v) => Bound::Included(pk_enc(t, v)?.1),
                Bound::Excluded(v) => Bound::Excluded(pk_enc(t, v)?.1),
                Bound::Unbounded => Bound::Unbounded,
            })
        };
        let (s, e) = (enc(scan.start)?, enc(scan.end)?);
        let (s, e) = (bound_key(&prefix, &s, true), bound_key(&prefix, &e, false));
        let mut given: u64 = 0;
        if scan.limit == Some(0) {
            return Ok(given);
        }
        ctx.view().visit(
            Space::Rows,
            crate::storage::bound_ref(&s),
            crate::storage::bound_ref(&e),
            scan.reverse,
            &mut |k, v| {
                let row = crate::records::decode_row(k, v)?;
                given += 1;
                let go_on = f(crate::records::into_row(t, row.image));
                Ok(go_on && scan.limit.is_none_or(|l| given < l as u64))
            },
        )?;
        Ok(given)
    }

    /// [`Readable::scan`], deserialized into `T`.
    fn scan_as<T: DeserializeOwned>(&self, table: &str, scan: Scan) -> Result<Vec<T>> {
        self.scan(table, scan)?.iter().map(row_into).collect()
    }

    /// Live rows whose indexed columns equal `values` (for a composite index, the values of its
    /// leading columns), in index then primary-key order. The index (or unique constraint) over
    /// exactly `columns` must exist.
    fn lookup(&self, table: &str, columns: &[&str], values: &[Value]) -> Result<Vec<Row>> {
        let r = IndexRange::between(
            Bound::Included(values.to_vec()),
            Bound::Included(values.to_vec()),
        );
        self.lookup_range(table, columns, r)
    }

    /// Live rows whose indexed values fall within the range, in index order.
    fn lookup_range(&self, table: &str, columns: &[&str], range: IndexRange) -> Result<Vec<Row>> {
        lookup_in(&self.read_ctx()?, table, columns, range)
    }

    /// [`Readable::lookup`] without collecting the rows: calls `f` with each row in turn until
    /// it returns `false`; returns how many rows `f` was given.
    fn lookup_each(
        &self,
        table: &str,
        columns: &[&str],
        values: &[Value],
        f: impl FnMut(Row) -> bool,
    ) -> Result<u64> {
        let r = IndexRange::between(
            Bound::Included(values.to_vec()),
            Bound::Included(values.to_vec()),
        );
        self.lookup_range_each(table, columns, r, f)
    }

    /// [`Readable::lookup_range`] without collecting the rows: calls `f` with each row in
    /// index order until it returns `false` or the range's limit is reached; returns how many
    /// rows `f` was given.
    fn lookup_range_each(
        &self,
        table: &str,
        columns: &[&str],
        range: IndexRange,
        mut f: impl FnMut(Row) -> bool,
    ) -> Result<u64> {
        lookup_each_in(&self.read_ctx()?, table, columns, range, &mut f)
    }

    /// The live rows of `child_table` that reference this row of `table` through a foreign key.
    /// When `child_table` has several foreign keys to `table`, use [`Readable::children_via`].
    fn children(&self, table: &str, pk: impl Into<Value>, child_table: &str) -> Result<Vec<Row>> {
        let mut out = Vec::new();
        self.children_each(table, pk, child_table, |row| {
            out.push(row);
            true
        })?;
        Ok(out)
    }

    /// [`Readable::children`] without collecting the rows: calls `f` with each child row in
    /// turn (in primary-key order) until it returns `false`; returns how many rows `f` was
    /// given. Each row is `f`'s to keep or drop, so a loop over many children holds one at a
    /// time.
    ///
    /// ```
    /// # use lazarusdb::{ColumnType, Db, OnDelete, Readable, Row, TableBuilder};
    /// # let db = Db::temporary()?;
    /// # db.create_table(TableBuilder::new("author").column(("id", ColumnType::Int))
    /// #     .primary_key("id"))?;
    /// # db.create_table(TableBuilder::new("book").column(("id", ColumnType::Int))
    /// #     .column(("author_id", ColumnType::Int)).primary_key("id")
    /// #     .foreign_key("author_id", "author", OnDelete::Cascade))?;
    /// # db.insert("author", Row::new().with("id", 1))?;
    /// # for id in 1..=3 { db.insert("book", Row::new().with("id", id).with("author_id", 1))?; }
    /// let mut ids = Vec::new();
    /// let seen = db.children_each("author", 1, "book", |book| {
    ///     ids.extend(book.get("id").and_then(|v| v.as_int()));
    ///     true // go on
    /// })?;
    /// assert_eq!((seen, ids), (3, vec![1, 2, 3]));
    /// # Ok::<(), lazarusdb::Error>(())
    /// ```
    fn children_each(
        &self,
        table: &str,
        pk: impl Into<Value>,
        child_table: &str,
        mut f: impl FnMut(Row) -> bool,
    ) -> Result<u64> {
        // the foreign key found and the rows read in one view
        let ctx = self.read_ctx()?;
        let column = only_foreign_key(&ctx.catalog, table, child_table)?;
        let pk: Value = pk.into();
        let range =
            IndexRange::between(Bound::Included(vec![pk.clone()]), Bound::Included(vec![pk]));
        lookup_each_in(&ctx, child_table, &[column], range, &mut f)
    }

    /// The live rows of `child_table` whose foreign-key column `column` holds `pk`.
    fn children_via(
        &self,
        child_table: &str,
        column: &str,
        pk: impl Into<Value>,
    ) -> Result<Vec<Row>> {
        self.lookup(child_table, &[column], &[pk.into()])
    }

    /// The live parent of a row through its foreign-key column `fk_column` (`None` when the
    /// column is null).
    fn parent(&self, table: &str, pk: impl Into<Value>, fk_column: &str) -> Result<Option<Row>> {
        let (parent_table, parent_pk) = {
            let ctx = self.read_ctx()?;
            let t = ctx.catalog.table(table)?;
            let fk = t
                .def
                .foreign_keys
                .iter()
                .find(|f| f.column == fk_column)
                .ok_or_else(|| {
                    Error::invalid(format!("`{table}.{fk_column}` is not a foreign key"))
                })?;
            let (_, enc) = pk_enc(t, pk.into())?;
            let Some(row) = crate::records::get_row(ctx.view(), t.id(), &enc)? else {
                return Ok(None);
            };
            let v = crate::records::cell(t, &row.image, t.column(fk_column)?);
            if v.is_null() {
                return Ok(None);
            }
            (fk.references.clone(), v)
        };
        self.get(&parent_table, parent_pk)
    }

    /// Number of live rows in a table (walks the rows view: cost is the live rows only).
    fn count(&self, table: &str) -> Result<u64> {
        let ctx = self.read_ctx()?;
        let t = ctx.catalog.table(table)?;
        let prefix = codec::table_prefix(t.id());
        let end = keys::prefix_end(&prefix);
        let mut n = 0u64;
        ctx.view().visit(
            Space::Rows,
            Bound::Included(&prefix),
            end.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
            false,
            &mut |_, _| {
                n += 1;
                Ok(true)
            },
        )?;
        Ok(n)
    }

    /// The deletions in the trash (not fully restored), newest first, filtered and paginated.
    fn trash(&self, query: &TrashQuery) -> Result<Vec<Deletion>> {
        let ctx = self.read_ctx()?;
        trash::list(ctx.view(), &ctx.catalog, query)
    }

    /// One deletion (in the trash or restored).
    fn deletion(&self, id: Uuid) -> Result<Deletion> {
        let ctx = self.read_ctx()?;
        let rec = crate::records::need_deletion(ctx.view(), &id)?;
        trash::deletion_of(ctx.view(), &ctx.catalog, &rec)
    }

    /// The rows of a deletion still in the trash, with their last live images, in deletion
    /// order (parents before children).
    fn deletion_rows(&self, id: Uuid) -> Result<Vec<DeletedRow>> {
        let ctx = self.read_ctx()?;
        trash::rows_of(ctx.view(), &ctx.catalog, &id)
    }

    /// The deletion holding a trashed row, if the row is in the trash.
    fn find_deletion(&self, table: &str, pk: impl Into<Value>) -> Result<Option<Uuid>> {
        let ctx = self.read_ctx()?;
        let t = ctx.catalog.table(table)?;
        let (_, enc) = pk_enc(t, pk.into())?;
        Ok(crate::records::get_dead(ctx.view(), t.id(), &enc)?.map(|(d, _)| d))
    }

    /// What restoring a deletion would do, without doing it: the rows that would come back
    /// (parents first), the references that would be put back, and every conflict; with the
    /// skip policy, also the rows that would be left out.
    fn restore_plan(&self, id: Uuid, policy: RestorePolicy) -> Result<RestorePlan> {
        let ctx = self.read_ctx()?;
        restore::plan_restore(ctx.view(), &ctx.catalog, &id, None, policy)
    }

    /// The names of the tables, in creation order.
    fn tables(&self) -> Result<Vec<String>> {
        let ctx = self.read_ctx()?;
        Ok(ctx.catalog.tables().map(|t| t.name().to_string()).collect())
    }

    /// A table's definition.
    fn table_def(&self, table: &str) -> Result<crate::schema::TableDef> {
        let ctx = self.read_ctx()?;
        Ok(ctx.catalog.table(table)?.def.clone())
    }
}

/// The column of `child_table`'s one foreign key to `table` (an error when it has none or
/// several).
fn only_foreign_key<'c>(catalog: &'c Catalog, table: &str, child_table: &str) -> Result<&'c str> {
    let parent = catalog.table(table)?;
    let child = catalog.table(child_table)?;
    let mut fks = child
        .def
        .foreign_keys
        .iter()
        .filter(|f| f.references == parent.name());
    match (fks.next(), fks.next()) {
        (Some(one), None) => Ok(one.column.as_str()),
        (None, _) => Err(Error::invalid(format!(
            "table `{child_table}` has no foreign key to `{table}`"
        ))),
        (Some(_), Some(_)) => Err(Error::invalid(format!(
            "table `{child_table}` has several foreign keys to `{table}`: name one with children_via"
        ))),
    }
}

/// [`Readable::lookup_range`] through `ctx`: every read of the call from its one view.
fn lookup_in(
    ctx: &ReadCtx<'_>,
    table: &str,
    columns: &[&str],
    range: IndexRange,
) -> Result<Vec<Row>> {
    let mut out = Vec::new();
    lookup_each_in(ctx, table, columns, range, &mut |row| {
        out.push(row);
        true
    })?;
    Ok(out)
}

/// [`Readable::lookup_range_each`] through `ctx`: the index entries in range are read first,
/// then their rows, each given to `f` as it is decoded.
fn lookup_each_in(
    ctx: &ReadCtx<'_>,
    table: &str,
    columns: &[&str],
    range: IndexRange,
    f: &mut dyn FnMut(Row) -> bool,
) -> Result<u64> {
    let t = ctx.catalog.table(table)?;
    let idx = t.index_on(columns)?;
    let enc = |b: Bound<Vec<Value>>| -> Result<Bound<Vec<u8>>> {
        Ok(match b {
            Bound::Included(v) => {
                Bound::Included(keys::encode_values(&coerce_cells(t, &idx.cols, v)?))
            }
            Bound::Excluded(v) => {
                Bound::Excluded(keys::encode_values(&coerce_cells(t, &idx.cols, v)?))
            }
            Bound::Unbounded => Bound::Unbounded,
        })
    };
    let prefix = codec::index_prefix(t.id(), idx.id);
    // an equality lookup (children, lookup) encodes its values once
    let same =
        matches!((&range.start, &range.end), (Bound::Included(a), Bound::Included(b)) if a == b);
    let s = enc(range.start)?;
    let e = if same { s.clone() } else { enc(range.end)? };
    let (s, e) = (bound_key(&prefix, &s, true), bound_key(&prefix, &e, false));
    if range.limit == Some(0) {
        return Ok(0);
    }
    // the row keys of the entries, in index order, one after another in one buffer; then
    // the rows, read together (room for a few dozen keys up front: growing the buffer from
    // empty cost a lookup 5 % of its time in reallocations)
    let (mut buf, mut ends) = (Vec::with_capacity(1024), Vec::with_capacity(64));
    let view = ctx.view();
    view.visit(
        Space::Index,
        crate::storage::bound_ref(&s),
        crate::storage::bound_ref(&e),
        range.reverse,
        &mut |k, _| {
            let pk = codec::index_entry_pk(Space::Index, k, idx.cols.len())?;
            codec::Key::Row { table: t.id(), pk }.encode_into(&mut buf);
            ends.push(buf.len());
            Ok(range.limit.is_none_or(|l| ends.len() < l))
        },
    )?;
    let mut start = 0;
    let row_keys: Vec<&[u8]> = ends
        .iter()
        .map(|&end| {
            let key = buf.get(start..end).unwrap_or_default();
            start = end;
            key
        })
        .collect();
    let dangling = || {
        Error::corrupted(
            format!("index {} of {}", idx.id, t.name()),
            "an index entry points at no live row (run verify)",
        )
    };
    let mut given: u64 = 0;
    if row_keys.windows(2).all(|w| matches!(w, [a, b] if a < b)) {
        // in key order (an equality lookup's are, unless reversed): each row goes to `f` as
        // the walk over the rows reaches it, in the order of the index
        let mut stopped = false;
        crate::records::visit_rows(view, &row_keys, &mut |pos, k, v| {
            if pos as u64 != given {
                return Err(dangling());
            }
            let row = crate::records::decode_row(k, v)?;
            given += 1;
            stopped = !f(crate::records::into_row(t, row.image));
            Ok(!stopped)
        })?;
        if !stopped && given != row_keys.len() as u64 {
            return Err(dangling());
        }
        return Ok(given);
    }
    for row in crate::records::get_rows(view, &row_keys)? {
        let row = row.ok_or_else(dangling)?;
        given += 1;
        if !f(crate::records::into_row(t, row.image)) {
            break;
        }
    }
    Ok(given)
}

/// Deserializes a row into a user type.
pub(crate) fn row_into<T: DeserializeOwned>(row: &Row) -> Result<T> {
    serde_json::from_value(row.to_typed_json())
        .map_err(|e| Error::invalid(format!("the row does not fit the requested type: {e}")))
}
