//! The `lazarus` command-line tool: lazarusdb's capabilities over a store on disk, human-readable
//! by default and `--json` for scripts.
//!
//! The exit code is the command's verdict, whatever happens to its output:
//!
//! * 0: success.
//! * 1: a `get` of a missing row, or a `verify` that found differences (its report is printed).
//! * 2: bad input or a failed operation: one line on standard error, nothing on standard output,
//!   nothing written to the store. Closing the store comes last (a sync and its durable
//!   high-water mark `HWM`): when that fails, the command fails with 2, though what it committed
//!   stays committed.
//! * 3: the command did its work (what it wrote to the store is committed, the store closed) but
//!   its output could not be written, as on a full disk or `/dev/full`; standard error says so.
//!   A verdict of 1 or 2 stands when its output is lost too.
//!
//! A reader that goes away (a closed pipe, as in `lazarus log | head`) is not an error: printing
//! stops, the command finishes its work and exits with its own code. Standard error that cannot
//! be written is ignored; the exit code still says what happened. Nothing panics on either.
//!
//! Every command that opens a store closes it at the end, whether it succeeded or failed. Its
//! output is gathered while it works and written once it has finished and closed the store (see
//! [`output`]), except `export -`, which streams the log.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lazarusdb::{
    At, Audit, Change, Db, Deletion, EngineKind, Error, Options, Readable, RestorePolicy, Row,
    Scan, Scope, TableBuilder, TrashQuery, Value,
};

/// Prints a line of the command's output (see [`output`]).
macro_rules! outln {
    ($($arg:tt)*) => {
        output::line(format_args!($($arg)*))
    };
}

/// Standard output, in one place. A command's lines are gathered while it works and written by
/// [`output::finish`] at the end of `main`: after the store is closed, and only when the command
/// succeeded or its failure is a verdict with a report (`verify`), so that a failed command prints
/// nothing on standard output. `export -` streams through [`output::Stream`] instead. The first
/// error writing standard output is recorded; later writes are not attempted.
mod output {
    use std::io::{ErrorKind, Write};
    use std::sync::{Mutex, MutexGuard};

    struct State {
        /// Lines printed and not yet written.
        pending: Vec<u8>,
        /// Set while the demo runs under `--json`: its narration is not printed.
        quiet: bool,
        /// The first error writing standard output.
        error: Option<std::io::Error>,
    }

    static STATE: Mutex<State> = Mutex::new(State {
        pending: Vec::new(),
        quiet: false,
        error: None,
    });

    fn state() -> MutexGuard<'static, State> {
        STATE.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a line to the output.
    pub fn line(args: std::fmt::Arguments<'_>) {
        let mut s = state();
        if !s.quiet {
            // writing into a Vec cannot fail
            let _ = writeln!(s.pending, "{args}");
        }
    }

    /// While set, lines are dropped (the demo's narration under `--json`).
    pub fn set_quiet(quiet: bool) {
        state().quiet = quiet;
    }

    /// True once a write to standard output failed.
    pub fn failed() -> bool {
        state().error.is_some()
    }

    /// Runs a write on standard output unless an earlier one failed; records the first error.
    fn attempt(
        s: &mut State,
        write: impl FnOnce(&mut std::io::StdoutLock<'static>) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        if let Some(e) = &s.error {
            return Err(std::io::Error::from(e.kind()));
        }
        let result = write(&mut std::io::stdout().lock());
        if let Err(e) = &result {
            s.error = Some(std::io::Error::new(e.kind(), e.to_string()));
        }
        result
    }

    /// Standard output as a writer, for output streamed while the command works (`export -`).
    pub struct Stream;

    impl Write for Stream {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            attempt(&mut state(), |out| out.write_all(buf)).map(|()| buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            attempt(&mut state(), |out| out.flush())
        }
    }

    /// Writes the gathered lines (when `keep`; otherwise drops them) and flushes standard output.
    /// Returns the first write error, except a closed pipe: a reader that went away is not the
    /// command's failure.
    pub fn finish(keep: bool) -> Option<std::io::Error> {
        let mut s = state();
        let pending = std::mem::take(&mut s.pending);
        let _ = attempt(&mut s, |out| {
            if keep {
                out.write_all(&pending)?;
            }
            out.flush()
        });
        s.error.take().filter(|e| e.kind() != ErrorKind::BrokenPipe)
    }
}

/// Writes a line on standard error; a standard error that cannot be written is ignored.
fn say_error(message: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "lazarus: {message}");
}

#[derive(Parser)]
#[command(
    name = "lazarus",
    version,
    about = "lazarusdb: an embedded event-sourced store in which nothing is lost by mistake"
)]
struct Cli {
    /// The store folder (`schema apply` creates it when missing).
    #[arg(long, global = true, default_value = "lazarus.db")]
    db: PathBuf,
    /// Engine for a new store: fjall (default) or sled.
    #[arg(long, global = true)]
    engine: Option<String>,
    /// Print exactly one JSON document on standard output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The story of the seed question on a fresh store, narrated.
    Demo,
    /// Create or extend tables, or show them.
    Schema {
        #[command(subcommand)]
        action: SchemaAction,
    },
    /// Insert a row given as a JSON object; prints the stored row.
    Insert {
        table: String,
        #[arg(value_name = "JSON")]
        row: String,
    },
    /// Partial update of a row; prints the new row.
    Update {
        table: String,
        pk: String,
        #[arg(value_name = "JSON")]
        row: String,
    },
    /// A row by primary key (exit 1 when there is none).
    Get {
        table: String,
        pk: String,
        /// Read as of a past point: an LSN or an RFC 3339 time.
        #[arg(long, value_name = "AT")]
        as_of: Option<String>,
    },
    /// Live rows in primary-key order.
    Scan {
        table: String,
        /// Only rows where COL equals VALUE (repeatable; uses an index when one matches).
        #[arg(long = "where", value_name = "COL=VALUE")]
        filters: Vec<String>,
        /// At most N rows.
        #[arg(long)]
        limit: Option<usize>,
        /// Read as of a past point: an LSN or an RFC 3339 time.
        #[arg(long, value_name = "AT")]
        as_of: Option<String>,
    },
    /// Restore the store (or one table) to its state at a past point, by compensating events.
    RestoreTo {
        /// An LSN or an RFC 3339 time.
        at: String,
        /// Only this table.
        #[arg(long)]
        table: Option<String>,
        /// Show the plan and every conflict; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Undo one transaction by compensating events.
    Undo {
        tx: u64,
        /// Undo even if later transactions changed the same rows.
        #[arg(long)]
        force: bool,
    },
    /// The rows that differ between two points.
    Diff {
        at1: String,
        at2: String,
        /// Only this table.
        #[arg(long)]
        table: Option<String>,
    },
    /// The live rows of CHILD_TABLE that reference a row.
    Children {
        table: String,
        pk: String,
        child_table: String,
    },
    /// Delete a row with everything that cascades from it, as one deletion.
    Delete {
        table: String,
        pk: String,
        /// Who deletes.
        #[arg(long)]
        actor: Option<String>,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// The deletions in the trash, newest first.
    Trash {
        /// Only deletions with rows of this table.
        #[arg(long)]
        table: Option<String>,
        /// At most N deletions.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Restore a deletion (refuses on any conflict unless --skip-conflicts).
    Restore {
        deletion: String,
        /// Show the plan and every conflict; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Restore what can be restored; leave conflicting rows and their dependents in the trash.
        #[arg(long)]
        skip_conflicts: bool,
    },
    /// Every version of a row, oldest first.
    History { table: String, pk: String },
    /// The event log.
    Log {
        /// First LSN to list.
        #[arg(long, default_value_t = 1)]
        since: u64,
        /// At most N events.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Write the event log to FILE as JSON lines (`-` for standard output).
    Export { file: PathBuf },
    /// Replay a JSON-lines event log from FILE into a new, empty store.
    Import { file: PathBuf },
    /// Compare every view with a rebuild from the log.
    Verify,
    /// The comparison harness: the same workloads on lazarusdb, SQLite (flag and shadow tables),
    /// raw sled and raw fjall, in one run.
    Bench {
        /// A short run (well under a minute on 2 cores).
        #[arg(long)]
        quick: bool,
        /// Where results.json and plot.svg go (default: a new folder `bench-<time>`).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Store statistics: rows per table, disk use, live / history / trash / reclaimable bytes
    /// and the retention policies.
    Stats,
    /// Purge data for good: one deletion, every deletion older than a duration, or what the
    /// retention policies say. Purged values leave the log, the views and the history; run
    /// `compact` afterwards to remove them from the files.
    Purge {
        /// The deletion to purge (see `trash`).
        deletion: Option<String>,
        /// Purge every deletion in the trash older than this (e.g. 30d, 12h, 90m, 2w).
        #[arg(long, value_name = "DURATION", conflicts_with_all = ["deletion", "retention"])]
        older_than: Option<String>,
        /// Apply the retention policies of the schema (deletions and history windows).
        #[arg(long, conflicts_with = "deletion")]
        retention: bool,
        /// Who purges.
        #[arg(long)]
        actor: Option<String>,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Erase one row for good with every version it ever had (a live row is deleted first, with
    /// its cascade, and that deletion purged; a trashed row's whole deletion is purged).
    Erase {
        table: String,
        pk: String,
        /// Who erases.
        #[arg(long)]
        actor: Option<String>,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Rewrite the store into fresh files: purged values leave the disk and space is reclaimed.
    /// Safe against a crash at any point (the old store stays until the new one is complete).
    Compact,
    /// Write a checkpoint of the views, so that a rebuild replays only the events after it.
    Checkpoint,
}

#[derive(Subcommand)]
enum SchemaAction {
    /// Create or extend tables from a JSON schema file.
    Apply { file: PathBuf },
    /// Print the schema (in the schema-file format with --json).
    Show,
}

/// A failure with its exit code.
struct Failure {
    code: u8,
    message: String,
    /// A verdict that comes with a report (`verify` with differences): what the command printed
    /// is written; after any other failure it is dropped.
    keeps_output: bool,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        fail(2, e.to_string())
    }
}

fn fail(code: u8, message: impl Into<String>) -> Failure {
    Failure {
        code,
        message: message.into(),
        keeps_output: false,
    }
}

/// The exit code of a command whose output could not be written (its work is done).
const OUTPUT_LOST: u8 = 3;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage(&e),
    };
    let (code, message, keep) = match run(&cli) {
        Ok(()) => (0, None, true),
        Err(f) => (f.code, Some(f.message), f.keeps_output),
    };
    let lost = output::finish(keep);
    if let Some(message) = message {
        say_error(&message);
    }
    match lost {
        Some(e) => {
            say_error(&format!(
                "the output could not be written ({e}); the command's work is done"
            ));
            ExitCode::from(if code == 0 { OUTPUT_LOST } else { code })
        }
        None => ExitCode::from(code),
    }
}

/// A command line that does not parse (exit 2, on standard error), or `--help` and `--version`
/// (exit 0, on standard output; 3 when that output could not be written).
fn usage(e: &clap::Error) -> ExitCode {
    use std::io::Write as _;
    let printed = e.print().and_then(|()| std::io::stdout().flush());
    if !e.use_stderr() {
        if let Err(err) = printed {
            if err.kind() != std::io::ErrorKind::BrokenPipe {
                say_error(&format!("the output could not be written ({err})"));
                return ExitCode::from(OUTPUT_LOST);
            }
        }
    }
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}

/// Runs a command's work on an open store, then closes the store (a sync and its durable
/// high-water mark) whatever the work's outcome. A failed close fails the command with 2, unless
/// the work already failed with 2.
fn closing<T>(db: Db, work: impl FnOnce(&Db) -> Result<T, Failure>) -> Result<T, Failure> {
    let result = work(&db);
    let closed = db.close();
    match (result, closed) {
        (Err(f), _) if f.code == 2 => Err(f),
        (_, Err(e)) => Err(fail(2, format!("cannot close the store: {e}"))),
        (result, Ok(())) => result,
    }
}

fn open_engine(cli: &Cli) -> Result<Option<EngineKind>, Failure> {
    match cli.engine.as_deref() {
        None => Ok(None),
        Some(name) => match EngineKind::parse(name) {
            Some(EngineKind::Memory) | None => Err(fail(
                2,
                format!("unknown engine `{name}`: use fjall or sled"),
            )),
            Some(e) => Ok(Some(e)),
        },
    }
}

fn open(cli: &Cli) -> Result<Db, Failure> {
    let engine = open_engine(cli)?;
    // Only `schema apply` creates a store; every other command needs one to exist.
    let creates = matches!(
        cli.command,
        Command::Schema {
            action: SchemaAction::Apply { .. }
        }
    );
    if !creates && !cli.db.exists() {
        return Err(fail(
            2,
            format!(
                "no store at {}: create one with `lazarus --db {} schema apply FILE`",
                cli.db.display(),
                cli.db.display()
            ),
        ));
    }
    let options = Options {
        engine,
        must_exist: !creates,
        ..Options::default()
    };
    Ok(Db::open_with(&cli.db, options)?)
}

/// A primary key given on the command line, read for the table's key type: a text key may be
/// bare (`x`, even `3`) or JSON (`"x"`); an int key is a number; a uuid key is bare or quoted.
fn pk_value(db: &Db, table: &str, text: &str) -> Value {
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
fn parse_pk(text: &str) -> Value {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(j) => Value::from_json(&j).unwrap_or_else(|_| Value::Text(text.to_string())),
        Err(_) => Value::Text(text.to_string()),
    }
}

/// A spinner with a count, drawn only on a terminal and never with --json.
fn progress(cli: &Cli, what: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if cli.json || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} {pos} ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_message(what.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(bar)
}

fn print_json(v: &serde_json::Value) {
    outln!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn run(cli: &Cli) -> Result<(), Failure> {
    match &cli.command {
        Command::Demo => demo(cli),
        Command::Schema { action } => schema(cli, action),
        Command::Import { file } => import(cli, file),
        Command::Compact => compact(cli),
        Command::Bench { quick, out } => bench(cli, *quick, out.clone()),
        command => closing(open(cli)?, |db| on_store(cli, db, command)),
    }
}

/// `schema apply` and `schema show`.
fn schema(cli: &Cli, action: &SchemaAction) -> Result<(), Failure> {
    // A schema file is read and parsed before the store is opened (or created), and a store this
    // command created is removed again when the file does not apply.
    let text = match action {
        SchemaAction::Apply { file } => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| fail(2, format!("cannot read {}: {e}", file.display())))?;
            lazarusdb::parse_schema_document(&text)?;
            Some(text)
        }
        SchemaAction::Show => None,
    };
    // Absent: the folder goes on failure; empty: its contents go.
    let absent = !cli.db.exists();
    let existed = !absent && std::fs::read_dir(&cli.db).map_or(true, |mut d| d.next().is_some());
    let db = open(cli)?;
    let applied = match text {
        None => None,
        Some(text) => match db.apply_schema_file(&text) {
            Ok(doc) => Some(doc),
            Err(e) => {
                let _ = db.close();
                if !existed {
                    if absent {
                        let _ = std::fs::remove_dir_all(&cli.db);
                    } else if let Ok(entries) = std::fs::read_dir(&cli.db) {
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
                return Err(e.into());
            }
        },
    };
    closing(db, |db| {
        match applied {
            Some(doc) => {
                if cli.json {
                    print_json(&schema_json(db)?);
                } else {
                    outln!("schema applied: {} table(s) in the file", doc.tables.len());
                    for (table, policy) in &doc.retention {
                        outln!(
                            "retention of {}: {}",
                            table.as_deref().unwrap_or("the store"),
                            policy_text(policy)
                        );
                    }
                }
            }
            None => {
                let json = schema_json(db)?;
                if cli.json {
                    print_json(&json);
                } else {
                    print_schema(db)?;
                }
            }
        }
        Ok(())
    })
}

/// The commands that work on an open store, which [`run`] opens before and closes after.
fn on_store(cli: &Cli, db: &Db, command: &Command) -> Result<(), Failure> {
    match command {
        Command::Insert { table, row } => {
            let row = db.insert(table, Row::from_json_str(row)?)?;
            print_rows(cli, db, table, &[row], true)
        }
        Command::Update { table, pk, row } => {
            let row = db.update(table, pk_value(db, table, pk), Row::from_json_str(row)?)?;
            print_rows(cli, db, table, &[row], true)
        }
        Command::Get { table, pk, as_of } => {
            let found = match as_of {
                Some(at) => db
                    .as_of(parse_at(at)?)?
                    .get(table, pk_value(db, table, pk))?,
                None => db.get(table, pk_value(db, table, pk))?,
            };
            match found {
                Some(row) => print_rows(cli, db, table, &[row], true),
                None => Err(fail(
                    1,
                    format!("{table}: no live row with primary key {pk}"),
                )),
            }
        }
        Command::Scan {
            table,
            filters,
            limit,
            as_of,
        } => {
            let rows = match as_of {
                Some(at) => scan_where(&db.as_of(parse_at(at)?)?, table, filters, *limit)?,
                None => scan_where(db, table, filters, *limit)?,
            };
            print_rows(cli, db, table, &rows, false)
        }
        Command::RestoreTo { at, table, dry_run } => {
            let scope = match table {
                Some(t) => Scope::Table(t.clone()),
                None => Scope::Store,
            };
            let at = parse_at(at)?;
            let bar = progress(cli, if *dry_run { "planning" } else { "restoring" });
            let plan = if *dry_run {
                db.restore_to_plan(&scope, at)
            } else {
                db.restore_scope_to(&scope, at)
            };
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            let plan = plan?;
            if cli.json {
                print_json(&serde_json::json!({
                    "target_lsn": plan.target_lsn,
                    "restored": refs_json(&plan.restored),
                    "reverted": refs_json(&plan.reverted),
                    "tombstoned": refs_json(&plan.tombstoned),
                    "conflicts": conflicts_json(&plan.conflicts),
                }));
            } else {
                let verb = if *dry_run { "would be " } else { "" };
                for r in &plan.restored {
                    outln!("{verb}restored {r}");
                }
                for r in &plan.reverted {
                    outln!("{verb}reverted {r}");
                }
                for r in &plan.tombstoned {
                    outln!("{verb}tombstoned {r}");
                }
                for c in &plan.conflicts {
                    outln!("conflict: {c}");
                }
                outln!("target lsn {}", plan.target_lsn);
            }
            Ok(())
        }
        Command::Undo { tx, force } => {
            let plan = db.undo(*tx, *force)?;
            if cli.json {
                print_json(&serde_json::json!({
                    "tx": tx,
                    "restored": refs_json(&plan.restored),
                    "reverted": refs_json(&plan.reverted),
                    "tombstoned": refs_json(&plan.tombstoned),
                }));
            } else {
                outln!(
                    "undid transaction {tx}: {} restored, {} reverted, {} tombstoned",
                    plan.restored.len(),
                    plan.reverted.len(),
                    plan.tombstoned.len()
                );
            }
            Ok(())
        }
        Command::Diff { at1, at2, table } => {
            let diff = db.diff(parse_at(at1)?, parse_at(at2)?, table.as_deref())?;
            if cli.json {
                let out: Vec<serde_json::Value> = diff
                    .iter()
                    .map(|d| {
                        serde_json::json!({
                            "table": d.row.table,
                            "pk": d.row.pk.to_json(),
                            "kind": d.kind.name(),
                            "before": d.before.as_ref().map(Row::to_json),
                            "after": d.after.as_ref().map(Row::to_json),
                            "changes": d.changes.iter().map(|c| serde_json::json!({
                                "column": c.column, "before": c.before.to_json(), "after": c.after.to_json()
                            })).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                print_json(&serde_json::Value::Array(out));
            } else {
                for d in &diff {
                    let cols: Vec<String> = d
                        .changes
                        .iter()
                        .map(|c| format!("{}: {} -> {}", c.column, c.before, c.after))
                        .collect();
                    outln!("{:<8} {}  {}", d.kind.name(), d.row, cols.join(", "));
                }
                outln!(
                    "({} row{})",
                    diff.len(),
                    if diff.len() == 1 { "" } else { "s" }
                );
            }
            Ok(())
        }
        Command::Children {
            table,
            pk,
            child_table,
        } => {
            let rows = db.children(table, pk_value(db, table, pk), child_table)?;
            print_rows(cli, db, child_table, &rows, false)
        }
        Command::Delete {
            table,
            pk,
            actor,
            reason,
        } => {
            let audit = Audit {
                actor: actor.clone(),
                reason: reason.clone(),
            };
            let report = db.delete_with(table, pk_value(db, table, pk), &audit)?;
            if cli.json {
                print_json(&serde_json::json!({
                    "deletion": report.deletion.to_string(),
                    "rows": refs_json(&report.rows),
                    "unlinked": refs_json(&report.unlinked),
                }));
            } else {
                outln!("deletion {}", report.deletion);
                for r in &report.rows {
                    outln!("  tombstoned {r}");
                }
                for r in &report.unlinked {
                    outln!("  reference set to null in {r}");
                }
            }
            Ok(())
        }
        Command::Trash { table, limit } => {
            let mut q = TrashQuery::all();
            if let Some(t) = table {
                q = q.table(t.clone());
            }
            if let Some(n) = limit {
                q = q.limit(*n);
            }
            let trash = db.trash(&q)?;
            if cli.json {
                let mut out = Vec::with_capacity(trash.len());
                for d in &trash {
                    let rows: Vec<lazarusdb::RowRef> = db
                        .deletion_rows(d.id)?
                        .into_iter()
                        .filter(|r| r.kind == lazarusdb::MemberKind::Tombstoned)
                        .map(|r| r.row_ref)
                        .collect();
                    out.push(deletion_json(d, &rows));
                }
                print_json(&serde_json::Value::Array(out));
            } else {
                print_trash(cli, &trash);
            }
            Ok(())
        }
        Command::Restore {
            deletion,
            dry_run,
            skip_conflicts,
        } => {
            let id = uuid::Uuid::parse_str(deletion)
                .map_err(|_| fail(2, format!("`{deletion}` is not a deletion id (a uuid)")))?;
            let policy = if *skip_conflicts {
                RestorePolicy::SkipConflicts
            } else {
                RestorePolicy::Refuse
            };
            if *dry_run {
                let plan = db.restore_plan(id, policy)?;
                if cli.json {
                    print_json(&serde_json::json!({
                        "deletion": id.to_string(),
                        "rows": refs_json(&plan.rows),
                        "relinks": refs_json(&plan.relinks),
                        "conflicts": conflicts_json(&plan.conflicts),
                    }));
                } else {
                    for r in &plan.rows {
                        outln!("would restore {r}");
                    }
                    for r in &plan.relinks {
                        outln!("would put back the reference of {r}");
                    }
                    for c in &plan.conflicts {
                        outln!("conflict: {c}");
                    }
                }
                return Ok(());
            }
            let plan = db.restore(id, policy)?;
            if cli.json {
                print_json(&serde_json::json!({
                    "deletion": id.to_string(),
                    "restored": refs_json(&plan.rows),
                    "relinked": refs_json(&plan.relinks),
                    "skipped": plan.skipped.iter().map(|s| serde_json::json!({
                        "table": s.row.table, "pk": s.row.pk.to_json(), "reason": s.reason})).collect::<Vec<_>>(),
                }));
            } else {
                for r in &plan.rows {
                    outln!("restored {r}");
                }
                for r in &plan.relinks {
                    outln!("reference put back in {r}");
                }
                for s in &plan.skipped {
                    outln!("left in the trash: {} ({})", s.row, s.reason);
                }
            }
            Ok(())
        }
        Command::History { table, pk } => {
            let changes = db.history(table, pk_value(db, table, pk))?;
            print_changes(cli, &changes);
            Ok(())
        }
        Command::Log { since, limit } => {
            let changes = db.changes(*since, *limit)?;
            print_changes(cli, &changes);
            Ok(())
        }
        Command::Export { file } => {
            if file.as_os_str() == "-" {
                // Streamed: the log can be larger than memory. When standard output fails (or
                // its reader goes away), the export stops and `main` reports that.
                let mut out = std::io::BufWriter::new(output::Stream);
                return match db.export_log(&mut out) {
                    Err(_) if output::failed() => Ok(()),
                    result => result.map(|_| ()).map_err(Failure::from),
                };
            }
            let tmp = file.with_extension("partial");
            let f = std::fs::File::create(&tmp)
                .map_err(|e| fail(2, format!("cannot create {}: {e}", tmp.display())))?;
            let mut w = std::io::BufWriter::new(f);
            let bar = progress(cli, "exporting");
            let n = db.export_log_with(&mut w, |n| {
                if let Some(b) = &bar {
                    b.set_position(n);
                }
            })?;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            let f = w
                .into_inner()
                .map_err(|e| fail(2, format!("cannot write {}: {e}", tmp.display())))?;
            f.sync_all()
                .map_err(|e| fail(2, format!("cannot write {}: {e}", tmp.display())))?;
            std::fs::rename(&tmp, file)
                .map_err(|e| fail(2, format!("cannot write {}: {e}", file.display())))?;
            sync_parent(file)?;
            if cli.json {
                print_json(&serde_json::json!({"events": n, "file": file.display().to_string()}));
            } else {
                outln!("exported {n} events to {}", file.display());
            }
            Ok(())
        }
        Command::Verify => {
            let bar = progress(cli, "verifying");
            let report = db.verify_with_progress(|n| {
                if let Some(b) = &bar {
                    b.set_position(n);
                }
            })?;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            if cli.json {
                print_json(&serde_json::json!({
                    "ok": report.is_ok(),
                    "events": report.events,
                    "keys": report.keys,
                    "differences": report.differences,
                }));
            } else if report.is_ok() {
                outln!(
                    "ok: {} view keys equal a rebuild from {} events",
                    report.keys,
                    report.events
                );
            } else {
                for d in &report.differences {
                    outln!("{d}");
                }
            }
            if report.is_ok() {
                Ok(())
            } else {
                Err(Failure {
                    keeps_output: true,
                    ..fail(
                        1,
                        format!(
                            "{} difference(s) between the views and the log",
                            report.differences.len()
                        ),
                    )
                })
            }
        }
        Command::Stats => {
            let s = db.stats()?;
            if cli.json {
                let tables: serde_json::Map<String, serde_json::Value> = s
                    .tables
                    .iter()
                    .map(|(t, n)| (t.clone(), (*n).into()))
                    .collect();
                print_json(&serde_json::json!({
                    "engine": s.engine.name(),
                    "last_lsn": s.last_lsn,
                    "last_tx": s.last_tx,
                    "tables": tables,
                    "deletions": s.deletions,
                    "disk_bytes": s.disk_bytes,
                    "live_bytes": s.live_bytes,
                    "history_bytes": s.history_bytes,
                    "trash_bytes": s.trash_bytes,
                    "reclaimable_bytes": s.reclaimable_bytes,
                    "retention": retention_json(db)?,
                }));
            } else {
                outln!("engine            {}", s.engine);
                outln!("last lsn          {}", s.last_lsn);
                outln!("last tx           {}", s.last_tx);
                outln!("deletions         {}", s.deletions);
                outln!("disk bytes        {}", s.disk_bytes);
                outln!("live bytes        {}", s.live_bytes);
                outln!("history bytes     {}", s.history_bytes);
                outln!("trash bytes       {}", s.trash_bytes);
                outln!(
                    "reclaimable bytes {} (estimate; `compact` gives it back)",
                    s.reclaimable_bytes
                );
                for (t, n) in &s.tables {
                    outln!("table {t:<12} {n} live row(s)");
                }
                if let Some(p) = db.retention(None)? {
                    outln!("retention of the store: {}", policy_text(&p));
                }
                for t in db.tables()? {
                    let own = db.retention(Some(&t))?;
                    if own != db.retention(None)? {
                        if let Some(p) = own {
                            outln!("retention of {t}: {}", policy_text(&p));
                        }
                    }
                }
            }
            Ok(())
        }
        Command::Purge {
            deletion,
            older_than,
            retention,
            actor,
            reason,
        } => {
            let audit = Audit {
                actor: actor.clone(),
                reason: reason.clone(),
            };
            let (purged, pruned) =
                match (deletion, older_than, retention) {
                    (Some(d), None, false) => {
                        let id = uuid::Uuid::parse_str(d).map_err(|_| {
                            fail(
                                2,
                                format!("`{d}` is not a deletion id (see `lazarus trash`)"),
                            )
                        })?;
                        (vec![db.purge(id, &audit)?], Vec::new())
                    }
                    (None, Some(text), false) => {
                        let secs = lazarusdb::parse_duration(text)?;
                        (db.purge_older_than(secs, &audit)?, Vec::new())
                    }
                    (None, None, true) => {
                        let r = db.apply_retention(&audit)?;
                        (r.purged, r.pruned)
                    }
                    _ => return Err(fail(
                        2,
                        "say what to purge: a DELETION id, --older-than DURATION or --retention",
                    )),
                };
            if cli.json {
                print_json(&serde_json::json!({
                    "purged": purged.iter().map(purge_json).collect::<Vec<_>>(),
                    "pruned": pruned.iter().map(|(t, h, n)| serde_json::json!({
                        "table": t, "horizon": h, "images": n,
                    })).collect::<Vec<_>>(),
                }));
            } else {
                for p in &purged {
                    outln!(
                        "purged deletion {}: {} row(s), {} image(s) removed",
                        p.deletion,
                        p.rows.len(),
                        p.images
                    );
                    for r in &p.rows {
                        outln!("  purged {r}");
                    }
                }
                for (t, h, n) in &pruned {
                    outln!("pruned history of {t} before lsn {h}: {n} image(s) removed");
                }
                if purged.is_empty() && pruned.is_empty() {
                    outln!("nothing to purge");
                } else {
                    outln!("run `lazarus compact` to remove the purged bytes from the files");
                }
            }
            Ok(())
        }
        Command::Erase {
            table,
            pk,
            actor,
            reason,
        } => {
            let audit = Audit {
                actor: actor.clone(),
                reason: reason.clone(),
            };
            let p = db.erase(table, pk_value(db, table, pk), &audit)?;
            if cli.json {
                print_json(&purge_json(&p));
            } else {
                outln!(
                    "erased through deletion {}: {} row(s), {} image(s) removed",
                    p.deletion,
                    p.rows.len(),
                    p.images
                );
                for r in &p.rows {
                    outln!("  purged {r}");
                }
                outln!("run `lazarus compact` to remove the erased bytes from the files");
            }
            Ok(())
        }
        Command::Checkpoint => {
            let at = db.checkpoint()?;
            if cli.json {
                print_json(&serde_json::json!({ "lsn": at }));
            } else {
                outln!("checkpoint at lsn {at}: a rebuild replays only the events after it");
            }
            Ok(())
        }
        Command::Demo | Command::Schema { .. } | Command::Import { .. } | Command::Compact => {
            Err(fail(2, "this command opens the store itself"))
        }
        Command::Bench { .. } => Err(fail(2, "this command opens no store")),
    }
}

/// `import FILE`: a new store built beside the target, moved into place when the whole file
/// imported.
/// fsyncs the folder holding `path`, so that a rename into it is durable.
fn sync_parent(path: &std::path::Path) -> Result<(), Failure> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    std::fs::File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(|e| fail(2, format!("cannot sync {}: {e}", parent.display())))
}

fn import(cli: &Cli, file: &std::path::Path) -> Result<(), Failure> {
    let f = std::fs::File::open(file)
        .map_err(|e| fail(2, format!("cannot read {}: {e}", file.display())))?;
    // A new store is built beside the target and renamed into place only when the whole
    // file imported: a failed import leaves nothing behind.
    if cli.db.exists() {
        // only into an empty folder or an empty store, which is replaced on success
        let empty_dir = std::fs::read_dir(&cli.db).is_ok_and(|mut d| d.next().is_none());
        if !empty_dir && closing(open(cli)?, |db| Ok(db.last_lsn()))? != 0 {
            return Err(fail(
                2,
                format!(
                    "{} is not empty: import into a new store path",
                    cli.db.display()
                ),
            ));
        }
    }
    let n = {
        let mut tmp = cli.db.clone().into_os_string();
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
                engine: open_engine(cli)?,
                ..Options::default()
            };
            let db = Db::open_with(&tmp, options)?;
            let bar = progress(cli, "importing");
            let n = db.import_log_with(&mut std::io::BufReader::new(f), |n| {
                if let Some(b) = &bar {
                    b.set_position(n);
                }
            })?;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            db.close()?;
            Ok(n)
        })();
        match result {
            Ok(n) => {
                if cli.db.exists() {
                    std::fs::remove_dir_all(&cli.db).map_err(|e| {
                        fail(2, format!("cannot replace {}: {e}", cli.db.display()))
                    })?;
                }
                std::fs::rename(&tmp, &cli.db).map_err(|e| {
                    fail(2, format!("cannot move the imported store into place: {e}"))
                })?;
                // the rename itself must survive a power loss
                sync_parent(&cli.db)?;
                n
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e);
            }
        }
    };
    if cli.json {
        print_json(&serde_json::json!({"events": n}));
    } else {
        outln!("imported {n} events");
    }
    Ok(())
}

/// `compact`: the store is rewritten and reopened; the reopened store is closed at the end.
fn compact(cli: &Cli) -> Result<(), Failure> {
    let db = open(cli)?;
    let bar = compact_bar(cli);
    let result = db.compact(|p| {
        if let Some(b) = &bar {
            b.set_length(p.total_keys);
            b.set_position(p.keys);
        }
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let (db, r) = result?;
    closing(db, |_| Ok(()))?;
    if cli.json {
        print_json(&serde_json::json!({
            "keys": r.keys,
            "bytes": r.bytes,
            "disk_bytes_before": r.disk_bytes_before,
            "disk_bytes_after": r.disk_bytes_after,
            "seconds": r.seconds,
        }));
    } else {
        outln!(
            "compacted {} key(s), {} bytes, in {:.2} s: {} -> {} bytes on disk",
            r.keys,
            r.bytes,
            r.seconds,
            r.disk_bytes_before,
            r.disk_bytes_after
        );
    }
    Ok(())
}

fn schema_json(db: &Db) -> Result<serde_json::Value, Failure> {
    let defs = db
        .tables()?
        .iter()
        .map(|t| db.table_def(t))
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&lazarusdb::TableDef> = defs.iter().collect();
    let mut json = lazarusdb::schema_to_json(&refs);
    // Retention settings, in the schema-file format (only where one is set).
    let store = db.retention(None)?;
    if let Some(obj) = json.as_object_mut() {
        if let Some(p) = &store {
            obj.insert("retention".into(), policy_json(p));
        }
        if let Some(tables) = obj.get_mut("tables").and_then(|t| t.as_array_mut()) {
            for t in tables {
                let name = t.get("name").and_then(|n| n.as_str()).map(str::to_string);
                if let (Some(name), Some(o)) = (name, t.as_object_mut()) {
                    let own = db.retention(Some(&name))?;
                    if own != store {
                        if let Some(p) = own {
                            o.insert("retention".into(), policy_json(&p));
                        }
                    }
                }
            }
        }
    }
    Ok(json)
}

/// A purge or erase report: the deletion, the rows purged, the images removed, and the other
/// deletions an erase purged with it.
fn purge_json(p: &lazarusdb::PurgeReport) -> serde_json::Value {
    serde_json::json!({
        "deletion": p.deletion.to_string(),
        "rows": refs_json(&p.rows),
        "images": p.images,
        "also": p.also.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
    })
}

fn policy_json(p: &lazarusdb::Retention) -> serde_json::Value {
    let f = |v: Option<u64>| v.map(lazarusdb::format_duration);
    serde_json::json!({"deletions": f(p.deletions), "history": f(p.history)})
}

fn policy_text(p: &lazarusdb::Retention) -> String {
    let f = |v: Option<u64>| {
        v.map(lazarusdb::format_duration)
            .unwrap_or_else(|| "for ever".into())
    };
    format!(
        "deletions kept {}, history kept {}",
        f(p.deletions),
        f(p.history)
    )
}

fn retention_json(db: &Db) -> Result<serde_json::Value, Failure> {
    let mut tables = serde_json::Map::new();
    for t in db.tables()? {
        if let Some(p) = db.retention(Some(&t))? {
            tables.insert(t, policy_json(&p));
        }
    }
    Ok(serde_json::json!({
        "store": db.retention(None)?.as_ref().map(policy_json),
        "tables": tables,
    }))
}

/// A progress bar over the keys copied by `compact`, drawn only on a terminal.
fn compact_bar(cli: &Cli) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if cli.json || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("compacting {bar:30} {pos}/{len} keys ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

fn print_schema(db: &Db) -> Result<(), Failure> {
    for name in db.tables()? {
        let def = db.table_def(&name)?;
        outln!("table {} (primary key {})", def.name, def.primary_key);
        for c in &def.columns {
            let mut extra = String::new();
            if c.nullable {
                extra.push_str(" nullable");
            }
            if let Some(d) = &c.default {
                extra.push_str(&format!(" default {d}"));
            }
            outln!("  {:<16} {}{}", c.name, c.ty, extra);
        }
        for i in &def.indexes {
            let kind = if i.unique { "unique" } else { "index" };
            outln!("  {kind} ({})", i.columns.join(", "));
        }
        for f in &def.foreign_keys {
            outln!(
                "  foreign key {} -> {} on delete {}",
                f.column,
                f.references,
                f.on_delete.name()
            );
        }
    }
    Ok(())
}

fn parse_at(text: &str) -> Result<At, Failure> {
    Ok(text.parse::<At>()?)
}

fn conflicts_json(conflicts: &[lazarusdb::Conflict]) -> serde_json::Value {
    serde_json::Value::Array(
        conflicts
            .iter()
            .map(|c| {
                serde_json::json!({"table": c.row.table, "pk": c.row.pk.to_json(),
                    "kind": c.kind.name(), "detail": c.detail})
            })
            .collect(),
    )
}

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

fn print_rows(cli: &Cli, db: &Db, table: &str, rows: &[Row], single: bool) -> Result<(), Failure> {
    if cli.json {
        if single {
            if let Some(r) = rows.first() {
                print_json(&r.to_json());
            }
        } else {
            print_json(&serde_json::Value::Array(
                rows.iter().map(Row::to_json).collect(),
            ));
        }
        return Ok(());
    }
    let def = db.table_def(table)?;
    let headers: Vec<String> = def.columns.iter().map(|c| c.name.clone()).collect();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            headers
                .iter()
                .map(|h| match r.get(h) {
                    Some(Value::Text(s)) => s.clone(),
                    Some(v) => v.to_string(),
                    None => String::new(),
                })
                .collect()
        })
        .collect();
    print_table(&headers, &cells);
    if !single {
        outln!(
            "({} row{})",
            rows.len(),
            if rows.len() == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

fn print_table(headers: &[String], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count().min(40));
        }
    }
    let line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| {
                let c: String = if c.chars().count() > 40 {
                    c.chars().take(39).chain(std::iter::once('…')).collect()
                } else {
                    c.clone()
                };
                format!("{c:<w$}")
            })
            .collect();
        outln!("  {}", parts.join("  ").trim_end());
    };
    line(headers);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(&rule);
    for r in rows {
        line(r);
    }
}

fn change_json(c: &Change) -> serde_json::Value {
    let mut o = serde_json::Map::new();
    o.insert("lsn".into(), c.lsn.into());
    o.insert("tx".into(), c.tx.into());
    o.insert("at".into(), c.at.to_rfc3339().into());
    o.insert("kind".into(), c.kind.name().into());
    o.insert("table".into(), c.table.clone().into());
    o.insert(
        "pk".into(),
        c.pk.as_ref()
            .map_or(serde_json::Value::Null, Value::to_json),
    );
    if let Some(r) = &c.row {
        o.insert("row".into(), r.to_json());
    }
    if let Some(d) = &c.deletion {
        o.insert("deletion".into(), d.to_string().into());
    }
    o.insert("actor".into(), c.actor.clone().into());
    o.insert("reason".into(), c.reason.clone().into());
    serde_json::Value::Object(o)
}

fn print_changes(cli: &Cli, changes: &[Change]) {
    if cli.json {
        print_json(&serde_json::Value::Array(
            changes.iter().map(change_json).collect(),
        ));
        return;
    }
    let headers: Vec<String> = ["lsn", "tx", "at", "kind", "table", "pk", "row"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let rows: Vec<Vec<String>> = changes
        .iter()
        .map(|c| {
            vec![
                c.lsn.to_string(),
                c.tx.to_string(),
                c.at.to_rfc3339(),
                c.kind.name().to_string(),
                c.table.clone().unwrap_or_default(),
                c.pk.as_ref().map(|v| v.to_string()).unwrap_or_default(),
                c.row
                    .as_ref()
                    .map(|r| r.to_json().to_string())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    print_table(&headers, &rows);
}

fn ids(db: &Db, table: &str) -> Result<Vec<String>, Failure> {
    let pk = db.table_def(table)?.primary_key;
    Ok(db
        .scan(table, Scan::all())?
        .iter()
        .map(|r| r.get(&pk).map(|v| v.to_string()).unwrap_or_default())
        .collect())
}

fn deletion_json(d: &Deletion, rows: &[lazarusdb::RowRef]) -> serde_json::Value {
    let root = d.roots.first();
    serde_json::json!({
        "deletion": d.id.to_string(),
        "table": root.map(|r| r.table.clone()),
        "pk": root.map(|r| r.pk.to_json()),
        "rows": rows.iter().map(|r| serde_json::json!({"table": r.table, "pk": r.pk.to_json()})).collect::<Vec<_>>(),
        "counts": d.rows.iter().map(|(t, n)| (t.clone(), serde_json::Value::from(*n))).collect::<serde_json::Map<_, _>>(),
        "at": d.at.to_rfc3339(),
        "actor": d.actor,
        "reason": d.reason,
    })
}

fn refs_json(refs: &[lazarusdb::RowRef]) -> serde_json::Value {
    serde_json::Value::Array(
        refs.iter()
            .map(|r| serde_json::json!({"table": r.table, "pk": r.pk.to_json()}))
            .collect(),
    )
}

fn print_trash(cli: &Cli, trash: &[Deletion]) {
    let _ = cli;
    let headers: Vec<String> = ["deletion", "at", "root", "rows", "actor", "reason"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let rows: Vec<Vec<String>> = trash
        .iter()
        .map(|d| {
            let counts: Vec<String> = d.rows.iter().map(|(t, n)| format!("{t}:{n}")).collect();
            vec![
                d.id.to_string(),
                d.at.to_rfc3339(),
                d.roots.first().map(|r| r.to_string()).unwrap_or_default(),
                counts.join(" "),
                d.actor.clone().unwrap_or_default(),
                d.reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print_table(&headers, &rows);
}

fn bench(cli: &Cli, quick: bool, out: Option<PathBuf>) -> Result<(), Failure> {
    use lazarus_bench as harness;
    let out = out.unwrap_or_else(|| {
        PathBuf::from(format!(
            "bench-{}",
            lazarusdb::Timestamp::now()
                .to_rfc3339()
                .replace([':', '.'], "-")
        ))
    });
    std::fs::create_dir_all(&out)
        .map_err(|e| fail(2, format!("cannot create {}: {e}", out.display())))?;
    let sizes = if quick {
        harness::Sizes::quick()
    } else {
        harness::Sizes::full()
    };
    let bar = {
        use std::io::IsTerminal;
        if cli.json || !std::io::stderr().is_terminal() {
            None
        } else {
            let b = indicatif::ProgressBar::new(harness::SYSTEMS.len() as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ({elapsed})")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            Some(b)
        }
    };
    let results = harness::run(sizes, &mut |system| {
        if let Some(b) = &bar {
            b.set_message(system.to_string());
            b.inc(1);
        }
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let json = serde_json::to_string_pretty(&results)
        .map_err(|e| fail(2, format!("cannot encode results: {e}")))?;
    std::fs::write(out.join("results.json"), json)
        .map_err(|e| fail(2, format!("cannot write results.json: {e}")))?;
    std::fs::write(out.join("plot.svg"), harness::svg(&results))
        .map_err(|e| fail(2, format!("cannot write plot.svg: {e}")))?;
    if cli.json {
        print_json(&serde_json::json!({
            "out": out.display().to_string(),
            "results": results,
        }));
    } else {
        outln!("{}", harness::table(&results));
        outln!("[Nx] after a value: lazarusdb's advantage over that system (above 1: lazarusdb is better)");
        outln!(
            "results: {}  plot: {}",
            out.join("results.json").display(),
            out.join("plot.svg").display()
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The demo.

fn say(text: &str) {
    outln!("\n{text}");
}

fn demo(cli: &Cli) -> Result<(), Failure> {
    // A fresh temporary store unless --db was given explicitly.
    let explicit_db = std::env::args().any(|a| a == "--db" || a.starts_with("--db="));
    // Under --json the narration is not printed; one summary document is, at the end.
    output::set_quiet(cli.json);
    let db = if explicit_db {
        let options = Options {
            engine: open_engine(cli)?,
            ..Options::default()
        };
        Db::open_with(&cli.db, options)?
    } else {
        let options = Options {
            engine: match cli.engine.as_deref() {
                Some("sled") => Some(EngineKind::Sled),
                _ => None,
            },
            ..Options::default()
        };
        Db::temporary_with(options)?
    };
    closing(db, |db| story(cli, db))
}

/// The demo's story, told on an open store.
fn story(cli: &Cli, db: &Db) -> Result<(), Failure> {
    let where_ = db
        .path()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "memory".into());
    say(&format!(
        "lazarusdb demo — a fresh {} store at {where_}",
        db.engine()
    ));
    say(
        "The question that started this: \"If I delete a row, I want to be able to reverse that\n\
         delete later, with its related rows — without an is_deleted flag that every query\n\
         must filter, and without copying rows into shadow tables by hand.\"",
    );
    say("1. Two related tables, as in the question: a(id, data1, data2) and b(id, data1, a_id → a).\n   The foreign key is declared with on_delete = cascade.");
    db.create_table(
        TableBuilder::new("a")
            .column(("id", lazarusdb::ColumnType::Int))
            .column(("data1", lazarusdb::ColumnType::Text))
            .column(("data2", lazarusdb::ColumnType::Text))
            .primary_key("id"),
    )?;
    db.create_table(
        TableBuilder::new("b")
            .column(("id", lazarusdb::ColumnType::Int))
            .column(("data1", lazarusdb::ColumnType::Text))
            .column(("a_id", lazarusdb::ColumnType::Int))
            .primary_key("id")
            .foreign_key("a_id", "a", lazarusdb::OnDelete::Cascade),
    )?;
    print_schema(db)?;

    say("2. Four a rows and four b rows, in one transaction (all of it lands, or none).\n   Integer keys are assigned by the store: increasing, never reused.");
    db.transaction(|tx| {
        for i in 1..=4 {
            tx.insert(
                "a",
                Row::new()
                    .with("data1", format!("a{i}d1"))
                    .with("data2", format!("a{i}d2")),
            )?;
        }
        for (i, parent) in [1, 1, 3, 4].iter().enumerate() {
            tx.insert(
                "b",
                Row::new()
                    .with("data1", format!("b{}", i + 1))
                    .with("a_id", *parent),
            )?;
        }
        Ok::<_, Error>(())
    })?;
    print_rows(cli, db, "a", &db.scan("a", Scan::all())?, false)?;
    print_rows(cli, db, "b", &db.scan("b", Scan::all())?, false)?;

    say("3. A dangling reference is refused before anything is written:");
    match db.insert("b", Row::new().with("data1", "orphan").with("a_id", 99)) {
        Err(e) => outln!("   refused: {e}"),
        Ok(_) => outln!("   (unexpectedly accepted)"),
    }

    say("4. An update is an event too: the row keeps every version.");
    db.update("a", 1, Row::new().with("data2", "a1d2 (edited)"))?;
    print_changes(cli, &db.history("a", 1)?);

    say("5. Relations are live views: the children of a1 through the foreign key, no join, no filter.");
    print_rows(cli, db, "b", &db.children("a", 1, "b")?, false)?;

    say("6. Everything is in the append-only log, each event with its LSN and transaction:");
    print_changes(cli, &db.changes(1, None)?);

    say("7. b3 is deleted on its own. Then a3. Then a1 — which takes b1 and b2 with it, as ONE\n   deletion with an id: the rows are tombstoned (events), never overwritten.");
    let d_b3 = db.delete_with("b", 3, &Audit::by("demo").because("b3 was a duplicate"))?;
    let d_a3 = db.delete_with("a", 3, &Audit::by("demo").because("cleanup"))?;
    let d_a1 = db.delete_with("a", 1, &Audit::by("demo").because("oops: wrong row"))?;
    let shown: Vec<String> = d_a1.rows.iter().map(|r| r.to_string()).collect();
    outln!(
        "   deletion {} tombstoned: {}",
        d_a1.deletion,
        shown.join(", ")
    );

    say("8. Live reads never see deleted rows — and no query says `is_deleted`. A scan of a, of b,\n   and the children of a1 (gone with it):");
    print_rows(cli, db, "a", &db.scan("a", Scan::all())?, false)?;
    print_rows(cli, db, "b", &db.scan("b", Scan::all())?, false)?;
    outln!(
        "   children of a1: {} row(s)",
        db.children("a", 1, "b")?.len()
    );
    match db.insert("b", Row::new().with("data1", "late").with("a_id", 1)) {
        Err(e) => outln!("   a new row cannot point at a deleted parent: {e}"),
        Ok(_) => outln!("   (unexpectedly accepted)"),
    }

    say("9. The trash, newest first: each deletion with its root row, its rows, who and why.");
    print_trash(cli, &db.trash(&TrashQuery::all())?);

    say("10. Restore a3's deletion. a3 comes back — but not b3: b3 was deleted on its own, earlier,\n    and stays in the trash until its own deletion is restored.");
    db.restore(d_a3.deletion, RestorePolicy::Refuse)?;
    outln!(
        "   live a: {}   live b: {}",
        ids(db, "a")?.join(", "),
        ids(db, "b")?.join(", ")
    );

    say("11. Restore a1's deletion: a1, b1 and b2 come back together, atomically, as compensating\n    events. Then b3's.");
    let plan = db.restore_plan(d_a1.deletion, RestorePolicy::Refuse)?;
    let back: Vec<String> = plan.rows.iter().map(|r| r.to_string()).collect();
    outln!(
        "   dry run: would restore {} (parents first), {} conflict(s)",
        back.join(", "),
        plan.conflicts.len()
    );
    db.restore(d_a1.deletion, RestorePolicy::Refuse)?;
    db.restore(d_b3.deletion, RestorePolicy::Refuse)?;
    outln!(
        "   live a: {}   live b: {}",
        ids(db, "a")?.join(", "),
        ids(db, "b")?.join(", ")
    );
    match db.restore(d_a1.deletion, RestorePolicy::Refuse) {
        Err(e) => outln!("   restoring twice: {e}"),
        Ok(_) => outln!("   (unexpectedly restored twice)"),
    }

    say("12. Nothing was lost on the way: the history of b1 keeps its insert, its tombstone (with the\n    deletion id) and its restore.");
    print_changes(cli, &db.history("b", 1)?);

    let report = db.verify()?;
    say(&format!(
        "13. verify: the live views equal a rebuild from the log ({} events, {} view keys, {} differences).",
        report.events,
        report.keys,
        report.differences.len()
    ));
    output::set_quiet(false);
    if cli.json {
        print_json(&serde_json::json!({
            "store": where_,
            "engine": db.engine().name(),
            "last_lsn": db.last_lsn(),
            "tables": {"a": ids(db, "a")?, "b": ids(db, "b")?},
            "verify": {"ok": report.is_ok(), "events": report.events, "differences": report.differences},
        }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
