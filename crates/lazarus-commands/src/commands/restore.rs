//! Point in time: `restore-to`, `undo`, `diff`.

use lazarusdb::{Audit, Db, Readable, Scope};

use super::{audited, parse_at, Outcome};
use crate::{fail, output, Failure};

/// `restore-to AT [--table T] [--dry-run]`: the store (or one table) restored to its state at a
/// past point by compensating events, or the plan; a spinner while it works when `bars`.
pub fn restore_to(
    db: &Db,
    at: &str,
    table: Option<&str>,
    dry_run: bool,
    audit: &Audit,
    bars: bool,
) -> Result<Outcome, Failure> {
    let scope = match table {
        Some(t) => Scope::Table(t.to_string()),
        None => Scope::Store,
    };
    let at = parse_at(db, at)?;
    let bar = output::spinner(bars, if dry_run { "planning" } else { "restoring" });
    let plan = if dry_run {
        db.restore_to_plan(&scope, at).map_err(Failure::from)
    } else {
        db.resolve(at)
            .map_err(Failure::from)
            .and_then(|target| audited(db, audit, |tx| tx.restore_to(&scope, target)))
    };
    output::clear(bar);
    Ok(Outcome::RestoredTo {
        plan: plan?,
        dry_run,
    })
}

/// `undo TX [--force]`: one transaction undone by compensating events. The transaction is
/// its number (a bare number here is a transaction, as `undo` always took), `tx:N`, an LSN it
/// wrote (`lsn:N`) or a deletion it made (`deletion:ID`).
pub fn undo(db: &Db, tx: &str, force: bool, audit: &Audit) -> Result<Outcome, Failure> {
    let tx = transaction_of(db, tx)?;
    Ok(Outcome::Undone {
        tx,
        plan: audited(db, audit, |t| t.undo(tx, force))?,
    })
}

/// `diff AT1 [AT2] [--table T]`: the rows that differ between two points (the second: now).
pub fn diff(
    db: &Db,
    at1: &str,
    at2: Option<&str>,
    table: Option<&str>,
) -> Result<Outcome, Failure> {
    let later = match at2 {
        Some(at) => parse_at(db, at)?,
        None => lazarusdb::At::Now,
    };
    Ok(Outcome::Diff(db.diff(parse_at(db, at1)?, later, table)?))
}

/// The transaction a point on `undo`'s command line names.
fn transaction_of(db: &Db, text: &str) -> Result<u64, Failure> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse()
            .map_err(|_| fail(2, format!("`{text}` is too large a transaction number")));
    }
    match parse_at(db, t)? {
        lazarusdb::At::Tx(n) => Ok(n),
        lazarusdb::At::Lsn(n) => db
            .changes(n, Some(1))?
            .into_iter()
            .find(|c| c.lsn == n)
            .map(|c| c.tx)
            .ok_or_else(|| fail(2, format!("no event at LSN {n}"))),
        lazarusdb::At::BeforeDeletion(id) => Ok(db.deletion(id)?.tx),
        _ => Err(fail(
            2,
            format!(
                "`{text}` is a point in time, not a transaction: undo takes N or tx:N, lsn:N \
                 (the transaction that wrote it) or deletion:ID (the one that made it)"
            ),
        )),
    }
}
