//! Rows and their events: `insert`, `update`, `get`, `scan`, `children`, `history`, `log`.

use lazarusdb::{Db, Error, Readable, Row, Scan, Value};

use super::{parse_at, parse_pk, pk_value, Outcome, Rows};
use crate::{fail, Failure};

/// `insert TABLE JSON`: the stored row.
pub fn insert(db: &Db, table: &str, row: &str) -> Result<Outcome, Failure> {
    let row = db.insert(table, Row::from_json_str(row)?)?;
    Ok(Outcome::Row(Rows::of(db, table, vec![row])?))
}

/// `update TABLE PK JSON`: the new row.
pub fn update(db: &Db, table: &str, pk: &str, row: &str) -> Result<Outcome, Failure> {
    let row = db.update(table, pk_value(db, table, pk), Row::from_json_str(row)?)?;
    Ok(Outcome::Row(Rows::of(db, table, vec![row])?))
}

/// `get TABLE PK [--as-of AT]`: the row, or a failure with 1 when there is none.
pub fn get(db: &Db, table: &str, pk: &str, as_of: Option<&str>) -> Result<Outcome, Failure> {
    let found = match as_of {
        Some(at) => db
            .as_of(parse_at(at)?)?
            .get(table, pk_value(db, table, pk))?,
        None => db.get(table, pk_value(db, table, pk))?,
    };
    match found {
        Some(row) => Ok(Outcome::Row(Rows::of(db, table, vec![row])?)),
        None => Err(fail(
            1,
            format!("{table}: no live row with primary key {pk}"),
        )),
    }
}

/// `scan TABLE [--where COL=VALUE]... [--limit N] [--as-of AT]`: live rows in primary-key order.
pub fn scan(
    db: &Db,
    table: &str,
    filters: &[String],
    limit: Option<usize>,
    as_of: Option<&str>,
) -> Result<Outcome, Failure> {
    let rows = match as_of {
        Some(at) => scan_where(&db.as_of(parse_at(at)?)?, table, filters, limit)?,
        None => scan_where(db, table, filters, limit)?,
    };
    Ok(Outcome::Rows(Rows::of(db, table, rows)?))
}

/// `children TABLE PK CHILD_TABLE`: the live rows of `child_table` that reference a row.
pub fn children(db: &Db, table: &str, pk: &str, child_table: &str) -> Result<Outcome, Failure> {
    let rows = db.children(table, pk_value(db, table, pk), child_table)?;
    Ok(Outcome::Rows(Rows::of(db, child_table, rows)?))
}

/// `history TABLE PK`: every version of a row, oldest first.
pub fn history(db: &Db, table: &str, pk: &str) -> Result<Outcome, Failure> {
    Ok(Outcome::Changes(
        db.history(table, pk_value(db, table, pk))?,
    ))
}

/// `log [--since LSN] [--limit N]`: the event log.
pub fn log(db: &Db, since: u64, limit: Option<usize>) -> Result<Outcome, Failure> {
    Ok(Outcome::Changes(db.changes(since, limit)?))
}

/// The rows of `table` where every `COL=VALUE` filter holds (through an index when one matches),
/// in primary-key order, at most `limit`.
fn scan_where(
    db: &impl Readable,
    table: &str,
    filters: &[String],
    limit: Option<usize>,
) -> Result<Vec<Row>, Failure> {
    let def = db.table_def(table)?;
    let mut conds: Vec<(String, Value)> = Vec::new();
    for f in filters {
        let (col, val) = f
            .split_once('=')
            .ok_or_else(|| fail(2, format!("--where takes COL=VALUE, got `{f}`")))?;
        let column =
            def.columns
                .iter()
                .find(|c| c.name == col)
                .ok_or_else(|| Error::UnknownColumn {
                    table: table.to_string(),
                    column: col.to_string(),
                })?;
        let v = parse_pk(val);
        let v = match v.clone().coerce(column.ty) {
            Ok(v) => v,
            Err(_) => Value::Text(val.to_string())
                .coerce(column.ty)
                .map_err(|_| fail(2, format!("--where {col}: `{val}` is not a {}", column.ty)))?,
        };
        conds.push((col.to_string(), v));
    }
    if conds.is_empty() {
        let scan = match limit {
            Some(n) => Scan::all().limit(n),
            None => Scan::all(),
        };
        return Ok(db.scan(table, scan)?);
    }
    let cols: Vec<&str> = conds.iter().map(|(c, _)| c.as_str()).collect();
    let vals: Vec<Value> = conds.iter().map(|(_, v)| v.clone()).collect();
    let mut rows = match db.lookup(table, &cols, &vals) {
        Ok(rows) => rows,
        Err(Error::UnknownIndex { .. }) => db
            .scan(table, Scan::all())?
            .into_iter()
            .filter(|r| conds.iter().all(|(c, v)| r.get(c) == Some(v)))
            .collect(),
        Err(e) => return Err(e.into()),
    };
    let pk = def.primary_key.clone();
    // the store's primary-key order: integers by value, text by its bytes, uuids by theirs
    rows.sort_by(|a, b| match (a.get(&pk), b.get(&pk)) {
        (Some(Value::Int(x)), Some(Value::Int(y))) => x.cmp(y),
        (Some(Value::Text(x)), Some(Value::Text(y))) => x.as_bytes().cmp(y.as_bytes()),
        (Some(Value::Uuid(x)), Some(Value::Uuid(y))) => x.cmp(y),
        _ => std::cmp::Ordering::Equal,
    });
    if let Some(n) = limit {
        rows.truncate(n);
    }
    Ok(rows)
}
