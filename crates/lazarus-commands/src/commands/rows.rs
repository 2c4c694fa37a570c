//! Rows and their events: `insert`, `update`, `get`, `scan`, `children`, `history`, `log`.

use lazarusdb::{At, Audit, Db, Error, Readable, Row, Scan, Value};

use super::{audited, parse_at, parse_pk, pk_value, Outcome, Rows};
use crate::{fail, Failure};

/// `insert TABLE JSON`: the stored row.
pub fn insert(db: &Db, table: &str, row: &str, audit: &Audit) -> Result<Outcome, Failure> {
    let row = Row::from_json_str(row)?;
    let row = audited(db, audit, |tx| tx.insert(table, row))?;
    Ok(Outcome::Row(Rows::of(db, table, vec![row])?))
}

/// `update TABLE PK JSON`: the new row.
pub fn update(
    db: &Db,
    table: &str,
    pk: &str,
    row: &str,
    audit: &Audit,
) -> Result<Outcome, Failure> {
    let changes = Row::from_json_str(row)?;
    let pk = pk_value(db, table, pk);
    let row = audited(db, audit, |tx| tx.update(table, pk, changes))?;
    Ok(Outcome::Row(Rows::of(db, table, vec![row])?))
}

/// `get TABLE PK [--as-of AT]`: the row, or a failure with 1 when there is none.
pub fn get(db: &Db, table: &str, pk: &str, as_of: Option<&str>) -> Result<Outcome, Failure> {
    let found = match as_of {
        Some(at) => db
            .as_of(parse_at(db, at)?)?
            .get(table, pk_value(db, table, pk))?,
        None => db.get(table, pk_value(db, table, pk))?,
    };
    if let Some(row) = found {
        return Ok(Outcome::Row(Rows::of(db, table, vec![row])?));
    }
    // In the trash (live reads only: as of a point, say what was then)?
    let held = match as_of {
        Some(_) => None,
        None => db.find_deletion(table, pk_value(db, table, pk))?,
    };
    Err(fail(
        1,
        match held {
            Some(id) => {
                let short = crate::render::text::short_id(&id);
                format!(
                    "{table}: the row with primary key {pk} is in the trash, deleted by deletion \
                     {id}; restore it with `lazarus restore {short}` (or `lazarus restore \
                     {table} {pk}`), see it with `lazarus trash show {short}`"
                )
            }
            None => format!("{table}: no live row with primary key {pk}"),
        },
    ))
}

/// `scan TABLE [--where COL=VALUE]... [--limit N] [--as-of AT]`: live rows in primary-key order.
pub fn scan(
    db: &Db,
    table: &str,
    filters: &[String],
    limit: Option<usize>,
    as_of: Option<&str>,
    format: Option<super::load::RowFormat>,
) -> Result<Outcome, Failure> {
    let rows = match as_of {
        Some(at) => scan_where(&db.as_of(parse_at(db, at)?)?, table, filters, limit)?,
        None => scan_where(db, table, filters, limit)?,
    };
    if let Some(format) = format {
        let def = db.table_def(table)?;
        return Ok(Outcome::Formatted(super::load::write_rows(
            &def, &rows, format,
        )?));
    }
    Ok(Outcome::Rows(Rows::of(db, table, rows)?))
}

/// `children TABLE PK CHILD_TABLE`: the live rows of `child_table` that reference a row.
pub fn children(db: &Db, table: &str, pk: &str, child_table: &str) -> Result<Outcome, Failure> {
    let rows = db.children(table, pk_value(db, table, pk), child_table)?;
    Ok(Outcome::Rows(Rows::of(db, child_table, rows)?))
}

/// `history TABLE PK [--since AT] [--until AT]`: every version of a row, oldest first.
pub fn history(
    db: &Db,
    table: &str,
    pk: &str,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<Outcome, Failure> {
    let (first, last) = lsn_window(db, since, until)?;
    let mut changes = db.history(table, pk_value(db, table, pk))?;
    changes.retain(|c| c.lsn >= first && c.lsn <= last);
    Ok(Outcome::Changes(changes))
}

/// `log [--since AT] [--until AT] [--limit N]`: the event log.
pub fn log(
    db: &Db,
    since: Option<&str>,
    until: Option<&str>,
    limit: Option<usize>,
) -> Result<Outcome, Failure> {
    let (first, last) = lsn_window(db, since, until)?;
    let mut changes = Vec::new();
    let mut from = first;
    // in pages, so that `--until` stops the reading and `--limit` counts what is kept
    const PAGE: usize = 1_000;
    while from <= last && limit.is_none_or(|n| changes.len() < n) {
        let page = db.changes(from, Some(PAGE))?;
        let full = page.len() == PAGE;
        for c in page {
            from = c.lsn.saturating_add(1);
            if c.lsn <= last && limit.is_none_or(|n| changes.len() < n) {
                changes.push(c);
            }
        }
        if !full {
            break;
        }
    }
    Ok(Outcome::Changes(changes))
}

/// The LSNs `--since` and `--until` leave: from the first event after the state `since`
/// names (an LSN: from that event on) to the last event of the state `until` names.
fn lsn_window(db: &Db, since: Option<&str>, until: Option<&str>) -> Result<(u64, u64), Failure> {
    let first = match since.map(|t| parse_at(db, t)).transpose()? {
        None => 1,
        Some(At::Lsn(n)) => n.max(1),
        Some(point) => db.resolve(point)?.saturating_add(1),
    };
    let last = match until.map(|t| parse_at(db, t)).transpose()? {
        None => u64::MAX,
        Some(point) => db.resolve(point)?,
    };
    Ok((first, last))
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
