//! The store as a whole: `schema`, `export`, `import`, `verify`, `stats`, `checkpoint`,
//! `compact`.

use std::path::{Path, PathBuf};

use lazarusdb::{Db, Options, Readable};

use super::{closing, sync_parent, Outcome, Place, Retentions, Schema};
use crate::{fail, output, Failure};

/// `schema apply FILE` (`apply`) or `schema show`. A schema file is read and parsed before the
/// store is opened (or created), and a store this command created is removed again when the file
/// does not apply.
pub fn schema(
    place: &Place<'_>,
    apply: Option<(&PathBuf, lazarusdb::Audit)>,
) -> Result<Outcome, Failure> {
    let (apply, audit) = match apply {
        Some((file, audit)) => (Some(file.as_path()), audit),
        None => (None, lazarusdb::Audit::default()),
    };
    let text = match apply {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| fail(2, format!("cannot read {}: {e}", file.display())))?;
            lazarusdb::parse_schema_document(&text)?;
            Some(text)
        }
        None => None,
    };
    if place.postgres().is_some() {
        // a PostgreSQL store: one transaction applies the file or nothing
        let db = place.open(true)?;
        return closing(db, |db| match text {
            Some(text) => schema_on(db, &text, &audit),
            None => Ok(Outcome::Schema(schema_of(db)?)),
        });
    }
    // Absent: the folder goes on failure; empty: its contents go.
    let absent = !place.path.exists();
    let existed = !absent && std::fs::read_dir(place.path).map_or(true, |mut d| d.next().is_some());
    let db = place.open(apply.is_some())?;
    let applied = match text {
        None => None,
        Some(text) => match lazarusdb::parse_schema_document(&text)
            .map_err(Failure::from)
            .and_then(|doc| {
                super::audited(&db, &audit, |tx| tx.apply_schema_document(&doc))?;
                Ok(doc)
            }) {
            Ok(doc) => Some(doc),
            Err(e) => {
                let _ = db.close();
                if !existed {
                    if absent {
                        let _ = std::fs::remove_dir_all(place.path);
                    } else if let Ok(entries) = std::fs::read_dir(place.path) {
                        for e in entries.flatten() {
                            let p = e.path();
                            let _ = if p.is_dir() {
                                std::fs::remove_dir_all(&p)
                            } else {
                                std::fs::remove_file(&p)
                            };
                        }
                    }
                }
                return Err(e);
            }
        },
    };
    closing(db, |db| {
        let schema = schema_of(db)?;
        Ok(match applied {
            Some(file) => Outcome::SchemaApplied { file, schema },
            None => Outcome::Schema(schema),
        })
    })
}

/// `schema apply` on a store already open (`--url`): the schema document `text` applied in one
/// transaction recorded with `audit`.
pub fn schema_on(db: &Db, text: &str, audit: &lazarusdb::Audit) -> Result<Outcome, Failure> {
    let file = lazarusdb::parse_schema_document(text)?;
    super::audited(db, audit, |tx| tx.apply_schema_document(&file))?;
    Ok(Outcome::SchemaApplied {
        file,
        schema: schema_of(db)?,
    })
}

/// The schema of the store `db`: its tables and retention policies.
pub fn schema_of(db: &Db) -> Result<Schema, Failure> {
    let tables = db
        .tables()?
        .iter()
        .map(|t| db.table_def(t))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Schema {
        tables,
        retention: Retentions::of(db)?,
    })
}

/// `export FILE`: the event log written to FILE as JSON lines, through a file beside it renamed
/// into place; `export -` streams it on standard output (for a client: returns it as the
/// output). A spinner while it works when `bars`.
pub fn export(db: &Db, file: &Path, ctx: crate::Context<'_>) -> Result<Outcome, Failure> {
    let bars = ctx.bars();
    if ctx.is_client() {
        // the log is the output: the client writes its file itself
        if file.as_os_str() != "-" {
            return Err(fail(
                2,
                "export over --url writes the log on standard output (`export -`); the client \
                 writes its file",
            ));
        }
        let mut out = Vec::new();
        db.export_log(&mut out)?;
        return Ok(Outcome::Formatted(
            String::from_utf8_lossy(&out).into_owned(),
        ));
    }
    if file.as_os_str() == "-" {
        // Streamed: the log can be larger than memory. When standard output fails (or its
        // reader goes away), the export stops and `main` reports that.
        let mut out = std::io::BufWriter::new(output::Stream);
        return match db.export_log(&mut out) {
            Err(_) if output::failed() => Ok(Outcome::Streamed),
            result => result.map(|_| Outcome::Streamed).map_err(Failure::from),
        };
    }
    let tmp = file.with_extension("partial");
    let f = std::fs::File::create(&tmp)
        .map_err(|e| fail(2, format!("cannot create {}: {e}", tmp.display())))?;
    let mut w = std::io::BufWriter::new(f);
    let bar = output::count_bar(bars, "exporting", db.last_lsn(), "events");
    let n = db.export_log_with(&mut w, |n| output::advance(bar.as_ref(), n))?;
    output::clear(bar);
    let f = w
        .into_inner()
        .map_err(|e| fail(2, format!("cannot write {}: {e}", tmp.display())))?;
    f.sync_all()
        .map_err(|e| fail(2, format!("cannot write {}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, file)
        .map_err(|e| fail(2, format!("cannot write {}: {e}", file.display())))?;
    sync_parent(file)?;
    Ok(Outcome::Exported {
        events: n,
        file: file.to_path_buf(),
    })
}

/// `import FILE`: a JSON-lines event log replayed into a new store, built beside the target and
/// moved into place only when the whole file imported: a failed import leaves nothing behind.
pub fn import(
    place: &Place<'_>,
    file: &Path,
    audit: &lazarusdb::Audit,
    bars: bool,
) -> Result<Outcome, Failure> {
    let f = std::fs::File::open(file)
        .map_err(|e| fail(2, format!("cannot read {}: {e}", file.display())))?;
    if place.postgres().is_some() {
        // into an empty PostgreSQL store, transaction by transaction
        return closing(place.open(true)?, |db| {
            if db.last_lsn() != 0 {
                return Err(fail(
                    2,
                    "the PostgreSQL store is not empty: import into a new store name \
                     (?store=NAME)",
                ));
            }
            let bar = output::spinner(bars, "importing");
            let n = db
                .import_log_as(&mut std::io::BufReader::new(f), audit, |n| {
                    output::advance(bar.as_ref(), n)
                })
                .map_err(|e| {
                    fail(
                        2,
                        format!(
                            "{e}; the transactions before it are in the PostgreSQL store: \
                             import the whole log into a new store name"
                        ),
                    )
                })?;
            output::clear(bar);
            Ok(Outcome::Imported { events: n })
        });
    }
    if place.path.exists() {
        // only into an empty folder or an empty store, which is replaced on success
        let empty_dir = std::fs::read_dir(place.path).is_ok_and(|mut d| d.next().is_none());
        if !empty_dir && closing(place.open(false)?, |db| Ok(db.last_lsn()))? != 0 {
            return Err(fail(
                2,
                format!(
                    "{} is not empty: import into a new store path",
                    place.path.display()
                ),
            ));
        }
    }
    let mut tmp = place.path.to_path_buf().into_os_string();
    tmp.push(".importing");
    let tmp = PathBuf::from(tmp);
    if tmp.exists() {
        return Err(fail(
            2,
            format!(
                "{} exists (a failed import?): remove it first",
                tmp.display()
            ),
        ));
    }
    let result = (|| -> Result<u64, Failure> {
        let options = Options {
            engine: place.engine()?,
            ..Options::default()
        };
        let db = Db::open_with(&tmp, options)?;
        let bar = output::spinner(bars, "importing");
        let n = db.import_log_as(&mut std::io::BufReader::new(f), audit, |n| {
            output::advance(bar.as_ref(), n)
        })?;
        output::clear(bar);
        db.close()?;
        Ok(n)
    })();
    let events = match result {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    if place.path.exists() {
        std::fs::remove_dir_all(place.path)
            .map_err(|e| fail(2, format!("cannot replace {}: {e}", place.path.display())))?;
    }
    std::fs::rename(&tmp, place.path)
        .map_err(|e| fail(2, format!("cannot move the imported store into place: {e}")))?;
    // the rename itself must survive a power loss
    sync_parent(place.path)?;
    Ok(Outcome::Imported { events })
}

/// `verify`: every view compared with a rebuild from the log; a spinner while it works when
/// `bars`. Differences are a verdict, not an error: see [`Outcome::Verified`].
pub fn verify(db: &Db, bars: bool) -> Result<Outcome, Failure> {
    let bar = output::count_bar(bars, "verifying", db.last_lsn(), "events");
    let report = db.verify_with_progress(|n| output::advance(bar.as_ref(), n))?;
    output::clear(bar);
    Ok(Outcome::Verified(report))
}

/// `stats`: rows per table, disk use, bytes by kind and the retention policies.
pub fn stats(db: &Db) -> Result<Outcome, Failure> {
    Ok(Outcome::Stats {
        stats: db.stats()?,
        retention: Retentions::of(db)?,
    })
}

/// `checkpoint`: a checkpoint of the views, so that a rebuild replays only the events after it.
pub fn checkpoint(db: &Db) -> Result<Outcome, Failure> {
    Ok(Outcome::Checkpoint(db.checkpoint()?))
}

/// `compact`: the store rewritten into fresh files and reopened; the reopened store is closed at
/// the end. A progress bar over the keys copied when `bars`.
pub fn compact(place: &Place<'_>, bars: bool) -> Result<Outcome, Failure> {
    if place.postgres().is_some() {
        return Err(fail(
            2,
            "compact rewrites a store's files on disk; PostgreSQL reclaims its own space \
             (VACUUM): nothing to do here",
        ));
    }
    let db = place.open(false)?;
    let bar = output::copy_bar(bars, "compacting");
    let result = db.compact(|p| {
        if let Some(b) = &bar {
            b.set_length(p.total_keys);
            b.set_position(p.keys);
        }
    });
    output::clear(bar);
    let (db, report) = result?;
    closing(db, |_| Ok(()))?;
    Ok(Outcome::Compacted(report))
}

/// `backup DEST`: the open store copied as it is now into a new store at DEST, writers going on;
/// a progress bar over the keys when `bars`.
pub fn backup(db: &Db, dest: &Path, bars: bool) -> Result<Outcome, Failure> {
    let bar = output::copy_bar(bars, "backing up");
    let result = db.backup(dest, |p| {
        if let Some(b) = &bar {
            b.set_length(p.total_keys);
            b.set_position(p.keys);
        }
    });
    output::clear(bar);
    Ok(Outcome::BackedUp(result?))
}
