//! Deletions from start to end: `delete`, `trash`, `restore`, `purge`, `erase`.

use lazarusdb::{Audit, Db, MemberKind, Readable, RestorePolicy, RetentionReport, TrashQuery};

use super::{parse_deletion, pk_value, Outcome, Trashed};
use crate::{fail, Failure};

/// `delete TABLE PK [--actor A] [--reason R]`: the row and everything that cascades from it, as
/// one deletion.
pub fn delete(db: &Db, table: &str, pk: &str, audit: &Audit) -> Result<Outcome, Failure> {
    let pk = pk_value(db, table, pk);
    Ok(Outcome::Deleted(db.delete_with(table, pk, audit)?))
}

/// `trash [--table T] [--limit N]`: the deletions in the trash, newest first, each with the rows
/// it tombstoned.
pub fn trash(db: &Db, table: Option<&str>, limit: Option<usize>) -> Result<Outcome, Failure> {
    let mut q = TrashQuery::all();
    if let Some(t) = table {
        q = q.table(t.to_string());
    }
    if let Some(n) = limit {
        q = q.limit(n);
    }
    Ok(Outcome::Trash(trashed(db, &q)?))
}

/// The deletions `q` selects, with their tombstoned rows.
pub fn trashed(db: &Db, q: &TrashQuery) -> Result<Vec<Trashed>, Failure> {
    db.trash(q)?
        .into_iter()
        .map(|deletion| {
            let rows = db
                .deletion_rows(deletion.id)?
                .into_iter()
                .filter(|r| r.kind == MemberKind::Tombstoned)
                .map(|r| r.row_ref)
                .collect();
            Ok(Trashed { deletion, rows })
        })
        .collect()
}

/// `restore DELETION [--dry-run] [--skip-conflicts]`: a deletion restored, or the plan.
pub fn restore(
    db: &Db,
    deletion: &str,
    dry_run: bool,
    skip_conflicts: bool,
) -> Result<Outcome, Failure> {
    let id = parse_deletion(deletion, "(a uuid)")?;
    let policy = if skip_conflicts {
        RestorePolicy::SkipConflicts
    } else {
        RestorePolicy::Refuse
    };
    if dry_run {
        return Ok(Outcome::RestorePlanned {
            deletion: id,
            plan: db.restore_plan(id, policy)?,
        });
    }
    Ok(Outcome::Restored {
        deletion: id,
        plan: db.restore(id, policy)?,
    })
}

/// `purge DELETION | --older-than DURATION | --retention`: deletions purged for good, and with
/// `--retention` old versions pruned.
pub fn purge(
    db: &Db,
    deletion: Option<&str>,
    older_than: Option<&str>,
    retention: bool,
    audit: &Audit,
) -> Result<Outcome, Failure> {
    let report = match (deletion, older_than, retention) {
        (Some(d), None, false) => {
            let id = parse_deletion(d, "(see `lazarus trash`)")?;
            RetentionReport {
                purged: vec![db.purge(id, audit)?],
                pruned: Vec::new(),
            }
        }
        (None, Some(text), false) => {
            let secs = lazarusdb::parse_duration(text)?;
            RetentionReport {
                purged: db.purge_older_than(secs, audit)?,
                pruned: Vec::new(),
            }
        }
        (None, None, true) => db.apply_retention(audit)?,
        _ => {
            return Err(fail(
                2,
                "say what to purge: a DELETION id, --older-than DURATION or --retention",
            ))
        }
    };
    Ok(Outcome::Purged(report))
}

/// `erase TABLE PK [--actor A] [--reason R]`: one row erased for good with every version it had.
pub fn erase(db: &Db, table: &str, pk: &str, audit: &Audit) -> Result<Outcome, Failure> {
    let pk = pk_value(db, table, pk);
    Ok(Outcome::Erased(db.erase(table, pk, audit)?))
}
