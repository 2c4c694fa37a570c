//! Point in time: `restore-to`, `undo`, `diff`.

use lazarusdb::{Db, Scope};

use super::{parse_at, Outcome};
use crate::{output, Failure};

/// `restore-to AT [--table T] [--dry-run]`: the store (or one table) restored to its state at a
/// past point by compensating events, or the plan; a spinner while it works when `bars`.
pub fn restore_to(
    db: &Db,
    at: &str,
    table: Option<&str>,
    dry_run: bool,
    bars: bool,
) -> Result<Outcome, Failure> {
    let scope = match table {
        Some(t) => Scope::Table(t.to_string()),
        None => Scope::Store,
    };
    let at = parse_at(at)?;
    let bar = output::spinner(bars, if dry_run { "planning" } else { "restoring" });
    let plan = if dry_run {
        db.restore_to_plan(&scope, at)
    } else {
        db.restore_scope_to(&scope, at)
    };
    output::clear(bar);
    Ok(Outcome::RestoredTo {
        plan: plan?,
        dry_run,
    })
}

/// `undo TX [--force]`: one transaction undone by compensating events.
pub fn undo(db: &Db, tx: u64, force: bool) -> Result<Outcome, Failure> {
    Ok(Outcome::Undone {
        tx,
        plan: db.undo(tx, force)?,
    })
}

/// `diff AT1 AT2 [--table T]`: the rows that differ between two points.
pub fn diff(db: &Db, at1: &str, at2: &str, table: Option<&str>) -> Result<Outcome, Failure> {
    Ok(Outcome::Diff(db.diff(
        parse_at(at1)?,
        parse_at(at2)?,
        table,
    )?))
}
