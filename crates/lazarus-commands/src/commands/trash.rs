//! Deletions from start to end: `delete`, `trash`, `restore`, `purge`, `erase`.

use lazarusdb::{Audit, Db, MemberKind, Readable, RestorePolicy, RetentionReport, TrashQuery};

use super::{audited, parse_deletion, pk_value, Outcome, Rows, Trashed};
use crate::{fail, ConfirmArgs, Failure};

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

/// `trash show DELETION`: one deletion with each of its rows' last images, per table, tombstoned
/// rows and set-null rows apart.
pub fn show(db: &Db, deletion: &str) -> Result<Outcome, Failure> {
    let id = parse_deletion(db, deletion)?;
    let d = db.deletion(id)?;
    let mut tombstoned: Vec<(String, Rows)> = Vec::new();
    let mut unlinked: Vec<(String, Rows)> = Vec::new();
    for member in db.deletion_rows(id)? {
        let list = match member.kind {
            MemberKind::Tombstoned => &mut tombstoned,
            MemberKind::Unlinked => &mut unlinked,
        };
        let table = member.row_ref.table.clone();
        match list.iter_mut().find(|(t, _)| *t == table) {
            Some((_, rows)) => rows.rows.push(member.row),
            None => {
                let rows = Rows::of(db, &table, vec![member.row])?;
                list.push((table, rows));
            }
        }
    }
    Ok(Outcome::TrashShown {
        deletion: Box::new(d),
        tombstoned,
        unlinked,
    })
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

/// `restore DELETION | TABLE PK [--dry-run] [--skip-conflicts]`: a deletion restored (the one
/// holding the row, given a row), or the plan.
pub fn restore(
    db: &Db,
    deletion: &str,
    pk: Option<&str>,
    dry_run: bool,
    skip_conflicts: bool,
    audit: &Audit,
) -> Result<Outcome, Failure> {
    let id = match pk {
        None => parse_deletion(db, deletion)?,
        Some(pk) => {
            let table = deletion;
            db.find_deletion(table, pk_value(db, table, pk))?
                .ok_or_else(|| {
                    fail(
                        2,
                        format!("{table}/{pk} is in no deletion's trash: nothing to restore"),
                    )
                })?
        }
    };
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
        plan: audited(db, audit, |tx| tx.restore(id, policy))?,
    })
}

/// What `purge` purges.
pub enum PurgeWhat {
    /// One deletion.
    One(uuid::Uuid),
    /// Every deletion older than this many seconds.
    OlderThan(u64),
    /// What the retention policies say.
    Retention,
}

impl PurgeWhat {
    /// From `purge`'s arguments: exactly one of them.
    pub fn of(
        db: &Db,
        deletion: Option<&str>,
        older_than: Option<&str>,
        retention: bool,
    ) -> Result<PurgeWhat, Failure> {
        match (deletion, older_than, retention) {
            (Some(d), None, false) => Ok(PurgeWhat::One(parse_deletion(db, d)?)),
            (None, Some(text), false) => Ok(PurgeWhat::OlderThan(lazarusdb::parse_duration(text)?)),
            (None, None, true) => Ok(PurgeWhat::Retention),
            _ => Err(fail(
                2,
                "say what to purge: a DELETION id, --older-than DURATION or --retention",
            )),
        }
    }
}

/// `purge DELETION | --older-than DURATION | --retention [--dry-run | --yes]`: deletions purged
/// for good, and with `--retention` old versions pruned. What would go is worked out first by
/// running the same purges in transactions that are thrown away; `--dry-run` shows it, and a
/// real run shows it and asks (see `confirm`) unless `--yes`.
pub fn purge(
    db: &Db,
    what: PurgeWhat,
    how: ConfirmArgs,
    client: bool,
    audit: &Audit,
) -> Result<Outcome, Failure> {
    // what is due, then each step previewed
    let (deletions, prunes) = match what {
        PurgeWhat::One(id) => (vec![id], Vec::new()),
        PurgeWhat::OlderThan(secs) => (db.deletions_older_than(secs)?, Vec::new()),
        PurgeWhat::Retention => {
            let due = db.retention_due()?;
            (due.deletions, due.prunes)
        }
    };
    let mut preview = RetentionReport::default();
    for &d in &deletions {
        preview.purged.push(db.preview(|tx| tx.purge(d))?);
    }
    for (table, horizon) in &prunes {
        let n = db.preview(|tx| tx.prune_history(table, *horizon))?;
        preview.pruned.push((table.clone(), *horizon, n));
    }
    if how.dry_run {
        return Ok(Outcome::Purged {
            report: preview,
            dry_run: true,
        });
    }
    if preview.purged.is_empty() && preview.pruned.is_empty() {
        return Ok(Outcome::Purged {
            report: preview,
            dry_run: false,
        });
    }
    need_actor(audit, "purge")?;
    let summary = crate::render::text::purge_summary(&preview);
    confirm(how.yes, client, &summary, "yes", "a purge")?;
    let mut report = RetentionReport::default();
    for d in deletions {
        report.purged.push(db.purge(d, audit)?);
    }
    for (table, horizon) in prunes {
        let n = audited(db, audit, |tx| tx.prune_history(&table, horizon))?;
        report.pruned.push((table, horizon, n));
    }
    Ok(Outcome::Purged {
        report,
        dry_run: false,
    })
}

/// `erase TABLE PK [--cascade] [--dry-run | --yes]`: one row erased for good with every version
/// it had. An erase of a live row deletes it first, with its cascade; of a trashed row, purges
/// its whole deletion: rows other than the named one go only with `--cascade`.
pub fn erase(
    db: &Db,
    table: &str,
    pk: &str,
    cascade: bool,
    how: ConfirmArgs,
    client: bool,
    audit: &Audit,
) -> Result<Outcome, Failure> {
    let pk = pk_value(db, table, pk);
    let preview = db.preview(|tx| tx.erase(table, pk.clone()))?;
    if how.dry_run {
        return Ok(Outcome::Erased {
            report: preview,
            dry_run: true,
        });
    }
    let others: Vec<String> = preview
        .rows
        .iter()
        .filter(|r| !(r.table == table && r.pk == pk))
        .map(|r| format!("{}/{}", r.table, r.pk))
        .collect();
    if !others.is_empty() && !cascade {
        const SHOWN: usize = 10;
        let more = others.len().saturating_sub(SHOWN);
        return Err(fail(
            2,
            format!(
                "erasing {table}/{pk} would also erase {} other row(s) that go with it: {}{}; \
                 nothing was erased. Look with --dry-run, then add --cascade to erase them all",
                others.len(),
                others
                    .iter()
                    .take(SHOWN)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ),
        ));
    }
    need_actor(audit, "erase")?;
    let summary = crate::render::text::erase_summary(&preview);
    confirm(how.yes, client, &summary, table, "an erase")?;
    Ok(Outcome::Erased {
        report: audited(db, audit, |tx| tx.erase(table, pk))?,
        dry_run: false,
    })
}

/// Purges and erases are recorded with who did them: refused without an actor.
fn need_actor(audit: &Audit, what: &str) -> Result<(), Failure> {
    if audit.actor.is_some() {
        return Ok(());
    }
    Err(fail(
        2,
        format!(
            "{what} needs an actor, recorded with it: give --actor NAME or set LAZARUS_ACTOR; \
             nothing was written"
        ),
    ))
}

/// Asks before something that cannot be undone: on a terminal, shows `summary` on standard
/// error and goes on only when the answer is `word`; `yes` (`--yes`) skips the question. For a
/// `client` (`--url`), the question is the failure, for the client to ask.
/// Without a terminal to ask on, and without `--yes`, refuses.
fn confirm(yes: bool, client: bool, summary: &str, word: &str, what: &str) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    if client {
        // the client asks on its own terminal, then sends the command again with --yes
        return Err(Failure {
            question: Some(Box::new(crate::Question {
                summary: summary.to_string(),
                word: word.to_string(),
                what: what.to_string(),
            })),
            ..fail(
                2,
                format!("{what} cannot be undone and needs an answer: nothing was written"),
            )
        });
    }
    ask_here(summary, word, what)
}

/// Asks on this process's terminal whether to go on with `what` (shown as `summary`): goes on
/// only when the answer is `word`; refuses without a terminal to ask on.
pub fn ask_here(summary: &str, word: &str, what: &str) -> Result<(), Failure> {
    use std::io::IsTerminal as _;
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(fail(
            2,
            format!(
                "{what} cannot be undone and standard input is not a terminal to ask on: run it \
                 with --dry-run to see what goes, then with --yes; nothing was written"
            ),
        ));
    }
    let answer = ask(&mut stdin.lock(), summary, word)?;
    if answer.trim() == word {
        Ok(())
    } else {
        Err(fail(
            2,
            format!("the answer was not `{word}`: nothing was written"),
        ))
    }
}

/// Shows `summary` and the question on standard error and reads one line of `input`.
fn ask(input: &mut impl std::io::BufRead, summary: &str, word: &str) -> Result<String, Failure> {
    use std::io::Write as _;
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "{summary}This cannot be undone. Type `{word}` to go on: "
    );
    let _ = err.flush();
    let mut line = String::new();
    input
        .read_line(&mut line)
        .map_err(|e| fail(2, format!("cannot read the answer: {e}")))?;
    Ok(line)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_answer_is_one_line_read_whole() {
        let mut input = std::io::Cursor::new(b"authors\nmore\n".to_vec());
        assert_eq!(
            super::ask(&mut input, "", "authors").ok().as_deref(),
            Some("authors\n")
        );
        let mut empty = std::io::Cursor::new(Vec::new());
        assert_eq!(super::ask(&mut empty, "", "yes").ok().as_deref(), Some(""));
    }
}
