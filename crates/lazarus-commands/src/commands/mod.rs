//! The commands: each takes the open store (or the place of one, for the commands that open it
//! themselves) and its arguments, does its work and returns what it found or did as an
//! [`Outcome`], which [`crate::render`] shows as text or as one JSON document. Nothing here prints
//! on standard output.

pub mod load;
pub mod restore;
pub mod rows;
pub mod store;
pub mod trash;

use std::path::{Path, PathBuf};

use lazarusdb::{
    At, Change, CompactReport, DeleteReport, Deletion, EngineKind, Options, PurgeReport, Readable,
    RestorePlan, Retention, RetentionReport, RewindPlan, Row, RowDiff, RowRef, SchemaFile, Stats,
    TableDef, Value, VerifyReport,
};

use crate::demo::Demo;
use crate::{fail, Failure};

/// What a command found or did: the data its output is made of.
pub enum Outcome {
    /// One row (`insert`, `update`, `get`).
    Row(Rows),
    /// The rows of one table, counted (`scan`, `children`).
    Rows(Rows),
    /// The schema (`schema show`).
    Schema(Schema),
    /// A schema file applied (`schema apply`): what the file held, and the schema now.
    SchemaApplied {
        /// The file as applied.
        file: SchemaFile,
        /// The store's schema after it.
        schema: Schema,
    },
    /// Events, oldest first (`history`, `log`).
    Changes(Vec<Change>),
    /// The store or a table restored to a past point (`restore-to`), or the plan to.
    RestoredTo {
        /// What was (or would be) done.
        plan: RewindPlan,
        /// Only planned: nothing written.
        dry_run: bool,
    },
    /// A transaction undone (`undo`).
    Undone {
        /// The transaction.
        tx: u64,
        /// What was done.
        plan: RewindPlan,
    },
    /// The rows that differ between two points (`diff`).
    Diff(Vec<RowDiff>),
    /// A deletion made (`delete`).
    Deleted(DeleteReport),
    /// The deletions in the trash, newest first (`trash`).
    Trash(Vec<Trashed>),
    /// Rows written for other tools (`scan --format`), printed as they are.
    Formatted(String),
    /// Rows loaded from a file (`load`).
    Loaded(load::Loaded),
    /// A script printed as it is (`completions`).
    Script {
        /// What it is for (the shell).
        name: String,
        /// The script.
        text: String,
    },
    /// One deletion with its rows (`trash show`).
    TrashShown {
        /// The deletion.
        deletion: Box<Deletion>,
        /// The rows it tombstoned, per table in the order met, with their last images.
        tombstoned: Vec<(String, Rows)>,
        /// The rows whose reference it set to null (live), per table, as they were before.
        unlinked: Vec<(String, Rows)>,
    },
    /// What restoring a deletion would do (`restore --dry-run`).
    RestorePlanned {
        /// The deletion.
        deletion: uuid::Uuid,
        /// The plan.
        plan: RestorePlan,
    },
    /// A deletion restored (`restore`).
    Restored {
        /// The deletion.
        deletion: uuid::Uuid,
        /// What was restored, put back and left in the trash.
        plan: RestorePlan,
    },
    /// Deletions purged and histories pruned (`purge`), or what would be.
    Purged {
        /// What was (or would be) purged and pruned.
        report: RetentionReport,
        /// Only worked out (`--dry-run`): nothing written.
        dry_run: bool,
    },
    /// A row erased (`erase`), or what would be.
    Erased {
        /// What was (or would be) erased.
        report: PurgeReport,
        /// Only worked out (`--dry-run`): nothing written.
        dry_run: bool,
    },
    /// The log written to a file (`export FILE`).
    Exported {
        /// Events written.
        events: u64,
        /// The file.
        file: PathBuf,
    },
    /// The log streamed on standard output (`export -`): nothing more to show.
    Streamed,
    /// A log imported into a new store (`import`).
    Imported {
        /// Events replayed.
        events: u64,
    },
    /// The views compared with a rebuild (`verify`); differences make the verdict 1.
    Verified(VerifyReport),
    /// Store statistics (`stats`).
    Stats {
        /// The numbers.
        stats: Stats,
        /// The retention policies.
        retention: Retentions,
    },
    /// A checkpoint written at this LSN (`checkpoint`).
    Checkpoint(u64),
    /// `serve` stopped.
    Served {
        /// The address it served on.
        addr: String,
    },
    /// The store rewritten (`compact`).
    Compacted(CompactReport),
    /// The store copied into a new one (`backup`).
    BackedUp(lazarusdb::BackupReport),
    /// Output the binary made itself (`bench`): its text, and its document under `--json`.
    Said {
        /// The human text (whole lines).
        text: String,
        /// The JSON document.
        json: serde_json::Value,
    },
    /// The demo's story (`demo`).
    Demo(Demo),
}

/// Rows of one table with the table's columns, in order.
pub struct Rows {
    /// The column names (the headers of the human table).
    pub columns: Vec<String>,
    /// The rows.
    pub rows: Vec<Row>,
}

impl Rows {
    /// `rows` of `table`, with the table's columns as the store defines them now.
    pub fn of(db: &lazarusdb::Db, table: &str, rows: Vec<Row>) -> Result<Rows, Failure> {
        let def = db.table_def(table)?;
        Ok(Rows {
            columns: def.columns.iter().map(|c| c.name.clone()).collect(),
            rows,
        })
    }
}

/// The schema: every table's definition and the retention policies.
pub struct Schema {
    /// The tables, in the store's order.
    pub tables: Vec<TableDef>,
    /// The retention policies.
    pub retention: Retentions,
}

/// The retention policies in force: the store's default and each table's.
pub struct Retentions {
    /// The store's default.
    pub store: Option<Retention>,
    /// Each table's policy (its own, or the store's default), in the store's order.
    pub tables: Vec<(String, Option<Retention>)>,
}

impl Retentions {
    /// The policies of the store `db`.
    pub fn of(db: &lazarusdb::Db) -> Result<Retentions, Failure> {
        let tables = db
            .tables()?
            .into_iter()
            .map(|t| {
                let own = db.retention(Some(&t))?;
                Ok((t, own))
            })
            .collect::<Result<_, Failure>>()?;
        Ok(Retentions {
            store: db.retention(None)?,
            tables,
        })
    }

    /// The policies that differ from the store's default, by table.
    pub fn own(&self) -> impl Iterator<Item = (&str, &Retention)> {
        self.tables.iter().filter_map(|(t, p)| match p {
            Some(p) if Some(p) != self.store.as_ref() => Some((t.as_str(), p)),
            _ => None,
        })
    }
}

/// A deletion in the trash with the rows it tombstoned.
pub struct Trashed {
    /// The deletion.
    pub deletion: Deletion,
    /// Its tombstoned rows, root first.
    pub rows: Vec<RowRef>,
}

/// The store the command line names: its folder and the engine asked for (`--db`, `--engine`).
pub struct Place<'a> {
    /// The store folder.
    pub path: &'a Path,
    /// The engine asked for, as given.
    pub engine: Option<&'a str>,
}

impl Place<'_> {
    /// The engine asked for: fjall, fjall-redb or sled (a memory store is no store on disk).
    pub fn engine(&self) -> Result<Option<EngineKind>, Failure> {
        match self.engine {
            None => Ok(None),
            Some(name) => match EngineKind::parse(name) {
                Some(EngineKind::Memory) | Some(EngineKind::Postgres) | None => Err(fail(
                    2,
                    format!(
                        "unknown engine `{name}`: use fjall, fjall-redb or sled (a PostgreSQL \
                         store is named by its URL: --db postgres://USER@HOST/DATABASE?store=NAME)"
                    ),
                )),
                Some(e) => Ok(Some(e)),
            },
        }
    }

    /// The PostgreSQL database and store name when `--db` is a URL
    /// (`postgres://USER@HOST:PORT/DATABASE?store=NAME`; the store `lazarus` without one).
    pub fn postgres(&self) -> Option<(String, String)> {
        let text = self.path.to_str()?;
        if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
            return None;
        }
        let (base, query) = match text.split_once('?') {
            Some((b, q)) => (b, q),
            None => (text, ""),
        };
        let mut store = "lazarus".to_string();
        let rest: Vec<&str> = query
            .split('&')
            .filter(|kv| !kv.is_empty())
            .filter(|kv| match kv.strip_prefix("store=") {
                Some(name) => {
                    store = name.to_string();
                    false
                }
                None => true,
            })
            .collect();
        let url = if rest.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        Some((url, store))
    }

    /// Opens the store. Only `schema apply` creates a store (`creates`); every other command
    /// needs one to exist. A PostgreSQL store (`--db postgres://...`) is created when missing.
    pub fn open(&self, creates: bool) -> Result<lazarusdb::Db, Failure> {
        if let Some((url, store)) = self.postgres() {
            return Ok(lazarusdb::Db::open_postgres(&url, &store)?);
        }
        let engine = self.engine()?;
        if !creates && !self.path.exists() {
            return Err(fail(
                2,
                format!(
                    "no store at {}: create one with `lazarus --db {} schema apply FILE`",
                    self.path.display(),
                    self.path.display()
                ),
            ));
        }
        let options = Options {
            engine,
            must_exist: !creates,
            ..Options::default()
        };
        Ok(lazarusdb::Db::open_with(self.path, options)?)
    }
}

/// Runs a command's work on an open store, then closes the store (a sync and its durable
/// high-water mark) whatever the work's outcome. A failed close fails the command with 2, unless
/// the work already failed with 2.
pub fn closing<T>(
    db: lazarusdb::Db,
    work: impl FnOnce(&lazarusdb::Db) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let result = work(&db);
    let closed = db.close();
    match (result, closed) {
        (Err(f), _) if f.code == 2 => Err(f),
        (_, Err(e)) => Err(fail(2, format!("cannot close the store: {e}"))),
        (result, Ok(())) => result,
    }
}

/// A primary key given on the command line, read for the table's key type: a text key may be
/// bare (`x`, even `3`) or JSON (`"x"`); an int key is a number; a uuid key is bare or quoted.
pub fn pk_value(db: &lazarusdb::Db, table: &str, text: &str) -> Value {
    let ty = db.table_def(table).ok().and_then(|d| {
        d.columns
            .iter()
            .find(|c| c.name == d.primary_key)
            .map(|c| c.ty)
    });
    match ty {
        Some(lazarusdb::ColumnType::Text) | Some(lazarusdb::ColumnType::Uuid) => {
            match serde_json::from_str::<serde_json::Value>(text) {
                Ok(serde_json::Value::String(s)) => Value::Text(s),
                _ => Value::Text(text.to_string()),
            }
        }
        _ => parse_pk(text),
    }
}

/// Parses a primary key given as JSON text or bare text.
pub fn parse_pk(text: &str) -> Value {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(j) => Value::from_json(&j).unwrap_or_else(|_| Value::Text(text.to_string())),
        Err(_) => Value::Text(text.to_string()),
    }
}

/// A point given on the command line, in any spelling of [`At::parse`]; `deletion:ID` also
/// takes the end of an id (see [`parse_deletion`]).
pub fn parse_at(db: &lazarusdb::Db, text: &str) -> Result<At, Failure> {
    if let Some(id) = text.trim().strip_prefix("deletion:") {
        if uuid::Uuid::parse_str(id.trim()).is_err() {
            return Ok(At::BeforeDeletion(parse_deletion(db, id)?));
        }
    }
    Ok(At::parse(text)?)
}

/// A deletion given on the command line: its whole id, or the last 6 or more hex digits of it
/// ([`lazarusdb::Db::deletion_id`]).
pub fn parse_deletion(db: &lazarusdb::Db, text: &str) -> Result<uuid::Uuid, Failure> {
    Ok(db.deletion_id(text)?)
}

/// Runs `f` in one transaction that records `audit` (who and why) with it.
pub fn audited<T>(
    db: &lazarusdb::Db,
    audit: &lazarusdb::Audit,
    f: impl FnOnce(&mut lazarusdb::Transaction<'_>) -> lazarusdb::Result<T>,
) -> Result<T, Failure> {
    Ok(db.transaction_as(audit, f)?)
}

/// fsyncs the folder holding `path`, so that a rename into it is durable.
pub fn sync_parent(path: &Path) -> Result<(), Failure> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(|e| fail(2, format!("cannot sync {}: {e}", parent.display())))
}

/// Adds "did you mean" to a failure over an unknown table or column: the closest name the store
/// has, when one is close (at most a third of the letters differ).
pub fn did_you_mean(db: &lazarusdb::Db, mut f: Failure) -> Failure {
    let (wrong, known): (String, Vec<String>) = match f.error.as_deref() {
        Some(lazarusdb::Error::UnknownTable(t)) => (t.clone(), db.tables().unwrap_or_default()),
        Some(lazarusdb::Error::UnknownColumn { table, column }) => (
            column.clone(),
            db.table_def(table)
                .map(|d| d.columns.iter().map(|c| c.name.clone()).collect())
                .unwrap_or_default(),
        ),
        _ => return f,
    };
    if let Some(best) = closest(&wrong, &known) {
        f.message = format!("{} (did you mean `{best}`?)", f.message);
    }
    f
}

/// The name of `known` closest to `wrong` by edit distance, if close enough to be a typo.
fn closest<'a>(wrong: &str, known: &'a [String]) -> Option<&'a str> {
    let limit = (wrong.chars().count() / 3).max(1);
    known
        .iter()
        .map(|k| {
            (
                strsim::levenshtein(&wrong.to_lowercase(), &k.to_lowercase()),
                k,
            )
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.as_str())
}
