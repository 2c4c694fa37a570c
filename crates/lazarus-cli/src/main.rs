//! The `lazarus` command-line tool: lazarusdb's capabilities over a store on disk, human-readable
//! by default and `--json` for scripts.
//!
//! The exit code is the command's verdict, whatever happens to its output:
//!
//! * 0: success.
//! * 1: a verdict, its report printed: a `get` of a missing row (standard error names the
//!   deletion when the row is in the trash), a `verify` that found differences, a `restore
//!   --dry-run` or `restore-to --dry-run` whose plan has conflicts.
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
//!
//! The parts: this file parses the command line and dispatches; [`commands`] does each command's
//! work and returns what it found or did as data ([`commands::Outcome`]); [`render`] turns that
//! into the human text or the one JSON document; [`demo`] tells the demo's story; [`output`]
//! holds standard output, standard error and the progress bars.

mod commands;
mod demo;
mod output;
mod render;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lazarusdb::{Audit, Db, Error};

use commands::{closing, restore, rows, store, trash, Outcome, Place};
use output::say_error;

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
    /// Engine for a new store: fjall-redb (default: the log in fjall, the live views in redb),
    /// fjall or sled.
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
        #[command(flatten)]
        audit: AuditArgs,
    },
    /// Insert the rows of a file (JSON lines, or CSV with a header; `-`: standard input), in
    /// transactions of --batch rows, each checked as `insert` checks it.
    Load {
        table: String,
        /// The file (`-` for standard input).
        file: PathBuf,
        /// jsonl or csv (default: csv for a .csv file, else jsonl).
        #[arg(long, value_enum)]
        format: Option<commands::load::RowFormat>,
        /// Rows per transaction.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// All rows in one transaction: a bad line loads nothing.
        #[arg(long)]
        atomic: bool,
        #[command(flatten)]
        audit: AuditArgs,
    },
    /// Partial update of a row; prints the new row.
    Update {
        table: String,
        pk: String,
        #[arg(value_name = "JSON")]
        row: String,
        #[command(flatten)]
        audit: AuditArgs,
    },
    /// A row by primary key (exit 1 when there is none).
    Get {
        table: String,
        pk: String,
        /// Read as of a past point: an LSN, `tx:N`, `deletion:ID`, `now`, a time ago (`2h`,
        /// `3d ago`), an RFC 3339 time, a local time or date (`2024-05-01 12:00`).
        #[arg(long, value_name = "AT")]
        as_of: Option<String>,
    },
    /// Live rows in primary-key order.
    Scan {
        table: String,
        /// Write the rows for other tools: jsonl (one JSON object a line) or csv (a header,
        /// then one line a row; NULL is an empty field). Default: a table (or one JSON
        /// document with --json).
        #[arg(long, value_enum)]
        format: Option<commands::load::RowFormat>,
        /// Only rows where COL equals VALUE (repeatable; uses an index when one matches).
        #[arg(long = "where", value_name = "COL=VALUE")]
        filters: Vec<String>,
        /// At most N rows.
        #[arg(long)]
        limit: Option<usize>,
        /// Read as of a past point: an LSN, `tx:N`, `deletion:ID`, `now`, a time ago (`2h`,
        /// `3d ago`), an RFC 3339 time, a local time or date (`2024-05-01 12:00`).
        #[arg(long, value_name = "AT")]
        as_of: Option<String>,
    },
    /// Restore the store (or one table) to its state at a past point, by compensating events.
    RestoreTo {
        /// The point (see `get --as-of`).
        at: String,
        /// Only this table.
        #[arg(long)]
        table: Option<String>,
        /// Show the plan and every conflict; write nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        audit: AuditArgs,
    },
    /// Undo one transaction by compensating events.
    Undo {
        /// The transaction: its number (`7` or `tx:7`), an LSN it wrote (`lsn:42`), or a
        /// deletion it made (`deletion:ID`).
        #[arg(value_name = "TX")]
        tx: String,
        /// Undo even if later transactions changed the same rows.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        audit: AuditArgs,
    },
    /// The rows that differ between two points (AT2 default: now).
    Diff {
        /// The earlier point (see `get --as-of`).
        at1: String,
        /// The later point (default: now).
        at2: Option<String>,
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
        #[command(flatten)]
        audit: AuditArgs,
    },
    /// The deletions in the trash, newest first; `trash show ID` shows one with its rows.
    Trash {
        #[command(subcommand)]
        action: Option<TrashAction>,
        /// Only deletions with rows of this table.
        #[arg(long)]
        table: Option<String>,
        /// At most N deletions.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Restore a deletion (refuses on any conflict unless --skip-conflicts): `restore ID`, or
    /// `restore TABLE PK` for the deletion that holds that row.
    Restore {
        /// The deletion (its id or the last 6 or more hex digits of it), or a table.
        #[arg(value_name = "DELETION|TABLE")]
        deletion: String,
        /// With a table: the primary key of the trashed row.
        pk: Option<String>,
        /// Show the plan and every conflict; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Restore what can be restored; leave conflicting rows and their dependents in the trash.
        #[arg(long)]
        skip_conflicts: bool,
        #[command(flatten)]
        audit: AuditArgs,
    },
    /// Every version of a row, oldest first.
    History {
        table: String,
        pk: String,
        /// Only what came after this point (an LSN: from that event on).
        #[arg(long, value_name = "AT")]
        since: Option<String>,
        /// Only what came up to this point.
        #[arg(long, value_name = "AT")]
        until: Option<String>,
    },
    /// The event log.
    Log {
        /// Only what came after this point (an LSN: from that event on).
        #[arg(long, value_name = "AT")]
        since: Option<String>,
        /// Only what came up to this point.
        #[arg(long, value_name = "AT")]
        until: Option<String>,
        /// At most N events.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Write the event log to FILE as JSON lines (`-` for standard output).
    Export { file: PathBuf },
    /// Replay a JSON-lines event log from FILE into a new, empty store.
    Import {
        file: PathBuf,
        /// Who imports (and --reason why): recorded with each imported transaction whose line
        /// records none; one that does keeps its own.
        #[command(flatten)]
        audit: AuditArgs,
    },
    /// Compare every view with a rebuild from the log.
    Verify,
    /// The comparison harness: every performance goal measured in one run on lazarusdb (each
    /// engine), SQLite (flag and shadow tables) and raw fjall, sled and redb; a table, the goal
    /// verdicts, results.json and a plot.
    Bench {
        /// A short run (about a minute on 2 cores), with smaller sizes than the goals name.
        #[arg(long)]
        quick: bool,
        /// Where results.json, plot.png and plot.svg go (default: a new folder `bench-<time>`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Rewrite the results block of this page (docs/benchmarks.md), the plot and the JSON
        /// copied to `bench/` beside it.
        #[arg(long, value_name = "PAGE")]
        docs: Option<PathBuf>,
        /// Measure nothing: show and write again the results of an earlier run (its
        /// results.json).
        #[arg(long, value_name = "RESULTS", conflicts_with = "quick")]
        from: Option<PathBuf>,
        /// Not a run: write into this store until killed (the run's crash).
        #[arg(long, value_name = "STORE", hide = true)]
        crash_writer: Option<PathBuf>,
    },
    /// Serve the store over HTTP: a JSON API (see docs/server.md) and the change feed as
    /// Server-Sent Events, until Ctrl-C. Other processes reach the store through it.
    Serve {
        /// Where to listen (IP:PORT). Any address but loopback needs --token-file.
        #[arg(long, default_value = "127.0.0.1:7070")]
        addr: String,
        /// A file holding the bearer token every request must carry (at least 16 characters).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// Refuse every write.
        #[arg(long)]
        read_only: bool,
        /// The largest request body accepted, in bytes.
        #[arg(long, default_value_t = 1 << 20)]
        body_limit: usize,
    },
    /// Store statistics: rows per table, disk use, live / history / trash / reclaimable bytes
    /// and the retention policies.
    Stats,
    /// Purge data for good: one deletion, every deletion older than a duration, or what the
    /// retention policies say. Purged values leave the log, the views and the history; run
    /// `compact` afterwards to remove them from the files. Shows what goes and asks first
    /// (`--dry-run` to only look, `--yes` to skip the question); needs an actor.
    Purge {
        /// The deletion to purge (see `trash`).
        deletion: Option<String>,
        /// Purge every deletion in the trash older than this (e.g. 30d, 12h, 90m, 2w).
        #[arg(long, value_name = "DURATION", conflicts_with_all = ["deletion", "retention"])]
        older_than: Option<String>,
        /// Apply the retention policies of the schema (deletions and history windows).
        #[arg(long, conflicts_with = "deletion")]
        retention: bool,
        #[command(flatten)]
        confirm: ConfirmArgs,
        #[command(flatten)]
        audit: AuditArgs,
    },
    /// Erase one row for good with every version it ever had. Rows that go with it (its
    /// cascade when it is live, the rest of its deletion when it is in the trash) need
    /// `--cascade`. Shows what goes and asks first (`--dry-run`, `--yes`); needs an actor.
    Erase {
        table: String,
        pk: String,
        /// Also erase the rows that go with it (see `--dry-run`).
        #[arg(long)]
        cascade: bool,
        #[command(flatten)]
        confirm: ConfirmArgs,
        #[command(flatten)]
        audit: AuditArgs,
    },
    /// Rewrite the store into fresh files: purged values leave the disk and space is reclaimed.
    /// Safe against a crash at any point (the old store stays until the new one is complete).
    Compact,
    /// Write a checkpoint of the views, so that a rebuild replays only the events after it.
    Checkpoint,
    /// Copy the store as it is now into a new store at DEST while it stays open (writers go
    /// on); restoring a backup is opening it.
    Backup {
        /// A folder that does not exist yet, or an empty one.
        dest: PathBuf,
    },
    /// Print the shell completion script (e.g. `lazarus completions bash > /etc/bash_completion.d/lazarus`).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum TrashAction {
    /// One deletion: each row it holds with its last image, per table, and the rows it set to
    /// null (still live).
    Show {
        /// The deletion: its id or the last 6 or more hex digits of it.
        deletion: String,
    },
}

#[derive(Subcommand)]
enum SchemaAction {
    /// Create or extend tables from a JSON schema file.
    Apply {
        file: PathBuf,
        #[command(flatten)]
        audit: AuditArgs,
    },
    /// Print the schema (in the schema-file format with --json).
    Show,
}

/// Who makes a change and why, recorded with its transaction.
#[derive(clap::Args, Clone, Default)]
pub struct AuditArgs {
    /// Who makes the change (default: the LAZARUS_ACTOR environment variable).
    #[arg(long, env = "LAZARUS_ACTOR")]
    pub actor: Option<String>,
    /// Why.
    #[arg(long)]
    pub reason: Option<String>,
}

impl AuditArgs {
    /// As the library takes it.
    pub fn audit(&self) -> Audit {
        Audit {
            actor: self.actor.clone().filter(|a| !a.trim().is_empty()),
            reason: self.reason.clone(),
        }
    }
}

/// How an irreversible command is confirmed.
#[derive(clap::Args, Clone, Copy, Default)]
pub struct ConfirmArgs {
    /// Show what would go and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do it without asking.
    #[arg(long, conflicts_with = "dry_run")]
    pub yes: bool,
}

/// A failure with its exit code.
pub struct Failure {
    /// The exit code: 1 for a verdict (a missing row, differences found), 2 for an error.
    pub code: u8,
    /// What kind of failure, for `--json` errors: the library error's [`Error::kind`], or
    /// `verdict` (code 1), `usage`, `failed`.
    pub kind: &'static str,
    /// The library error behind it, if any (to suggest a name for an unknown one).
    pub error: Option<Box<Error>>,
    /// The line said on standard error.
    pub message: String,
    /// A verdict that comes with a report (`verify` with differences): what the command printed
    /// is written; after any other failure it is dropped.
    pub keeps_output: bool,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure {
            kind: e.kind(),
            ..fail(2, e.to_string())
        }
        .with_error(e)
    }
}

impl Failure {
    fn with_error(mut self, e: Error) -> Failure {
        self.error = Some(Box::new(e));
        self
    }
}

/// A failure with `code` and `message` and no report.
pub fn fail(code: u8, message: impl Into<String>) -> Failure {
    Failure {
        code,
        kind: if code == 1 { "verdict" } else { "failed" },
        error: None,
        message: message.into(),
        keeps_output: false,
    }
}

/// The exit code of a command whose output could not be written (its work is done).
const OUTPUT_LOST: u8 = 3;

/// Parses the command line, runs the command, writes its output and says how it went: the exit
/// code and, on a failure, one line on standard error.
fn main() -> ExitCode {
    // read before parsing, so that a command line that does not parse is answered in JSON too
    let json = std::env::args_os().any(|a| a == "--json");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage(&e, json),
    };
    let (code, failure, keep) = match run(&cli) {
        Ok(()) => (0, None, true),
        Err(f) => (f.code, Some((f.kind, f.message)), f.keeps_output),
    };
    let lost = output::finish(keep);
    if let Some((kind, message)) = failure {
        say_failure(json, kind, &message);
    }
    match lost {
        Some(e) => {
            say_failure(
                json,
                "output_lost",
                &format!("the output could not be written ({e}); the command's work is done"),
            );
            ExitCode::from(if code == 0 { OUTPUT_LOST } else { code })
        }
        None => ExitCode::from(code),
    }
}

/// A command line that does not parse (exit 2, on standard error), or `--help` and `--version`
/// (exit 0, on standard output; 3 when that output could not be written).
fn usage(e: &clap::Error, json: bool) -> ExitCode {
    use std::io::Write as _;
    if json && e.use_stderr() {
        let text = e.render().to_string();
        let first = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("the command line does not parse")
            .trim_start_matches("error: ")
            .to_string();
        say_failure(true, "usage", &format!("{first} (see --help)"));
        return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
    }
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

/// Says a failure on standard error: `lazarus: MESSAGE`, or under `--json` one JSON object on
/// one line, `{"error": KIND, "message": MESSAGE}`.
fn say_failure(json: bool, kind: &str, message: &str) {
    if json {
        output::say_raw(&serde_json::json!({"error": kind, "message": message}).to_string());
    } else {
        say_error(message);
    }
}

/// Runs the command, then adds its output (text, or one JSON document under `--json`) to
/// standard output; a verdict of 1 (`verify` with differences) keeps that output.
fn run(cli: &Cli) -> Result<(), Failure> {
    let outcome = execute(cli)?;
    output::print(&render::render(&outcome, cli.json));
    match outcome {
        Outcome::Verified(report) if !report.is_ok() => Err(Failure {
            keeps_output: true,
            ..fail(
                1,
                format!(
                    "{} difference(s) between the views and the log",
                    report.differences.len()
                ),
            )
        }),
        Outcome::RestoredTo {
            plan,
            dry_run: true,
        } if !plan.conflicts.is_empty() => Err(Failure {
            keeps_output: true,
            ..fail(
                1,
                format!(
                    "{} conflict(s): the restore-to would be refused as it stands",
                    plan.conflicts.len()
                ),
            )
        }),
        Outcome::RestorePlanned { plan, .. } if !plan.conflicts.is_empty() => Err(Failure {
            keeps_output: true,
            ..fail(
                1,
                format!(
                    "{} conflict(s): the restore would be refused as it stands (--skip-conflicts \
                     restores what it can)",
                    plan.conflicts.len()
                ),
            )
        }),
        _ => Ok(()),
    }
}

/// Does the command's work: the commands that open the store themselves, or open no store, on
/// their own; every other one on the store opened here and closed after it.
fn execute(cli: &Cli) -> Result<Outcome, Failure> {
    let place = Place {
        path: &cli.db,
        engine: cli.engine.as_deref(),
    };
    // progress bars on standard error, never under --json
    let bars = !cli.json;
    match &cli.command {
        Command::Demo => demo::demo(&place),
        Command::Schema { action } => match action {
            SchemaAction::Apply { file, audit } => {
                store::schema(&place, Some((file, audit.audit())))
            }
            SchemaAction::Show => store::schema(&place, None),
        },
        Command::Import { file, audit } => store::import(&place, file, &audit.audit(), bars),
        Command::Compact => store::compact(&place, bars),
        Command::Serve {
            addr,
            token_file,
            read_only,
            body_limit,
        } => commands::serve::serve(
            &place,
            &commands::serve::ServeArgs {
                addr,
                token_file: token_file.as_deref(),
                read_only: *read_only,
                body_limit: *body_limit,
            },
        ),
        Command::Bench {
            quick,
            out,
            docs,
            from,
            crash_writer,
        } => commands::bench::bench(
            commands::bench::BenchArgs {
                quick: *quick,
                out: out.as_deref(),
                docs: docs.as_deref(),
                from: from.as_deref(),
                crash_writer: crash_writer.as_deref(),
            },
            bars,
        ),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(
                *shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "lazarus",
                &mut script,
            );
            Ok(Outcome::Script {
                name: shell.to_string(),
                text: String::from_utf8_lossy(&script).into_owned(),
            })
        }
        command => closing(place.open(false)?, |db| {
            on_store(db, command, bars).map_err(|f| commands::did_you_mean(db, f))
        }),
    }
}

/// The commands that work on an open store, which [`execute`] opens before and closes after.
fn on_store(db: &Db, command: &Command, bars: bool) -> Result<Outcome, Failure> {
    match command {
        Command::Insert { table, row, audit } => rows::insert(db, table, row, &audit.audit()),
        Command::Update {
            table,
            pk,
            row,
            audit,
        } => rows::update(db, table, pk, row, &audit.audit()),
        Command::Get { table, pk, as_of } => rows::get(db, table, pk, as_of.as_deref()),
        Command::Scan {
            table,
            format,
            filters,
            limit,
            as_of,
        } => rows::scan(db, table, filters, *limit, as_of.as_deref(), *format),
        Command::Load {
            table,
            file,
            format,
            batch,
            atomic,
            audit,
        } => commands::load::load(
            db,
            table,
            file,
            *format,
            *batch,
            *atomic,
            &audit.audit(),
            bars,
        ),
        Command::Children {
            table,
            pk,
            child_table,
        } => rows::children(db, table, pk, child_table),
        Command::History {
            table,
            pk,
            since,
            until,
        } => rows::history(db, table, pk, since.as_deref(), until.as_deref()),
        Command::Log {
            since,
            until,
            limit,
        } => rows::log(db, since.as_deref(), until.as_deref(), *limit),
        Command::RestoreTo {
            at,
            table,
            dry_run,
            audit,
        } => restore::restore_to(db, at, table.as_deref(), *dry_run, &audit.audit(), bars),
        Command::Undo { tx, force, audit } => restore::undo(db, tx, *force, &audit.audit()),
        Command::Diff { at1, at2, table } => {
            restore::diff(db, at1, at2.as_deref(), table.as_deref())
        }
        Command::Delete { table, pk, audit } => trash::delete(db, table, pk, &audit.audit()),
        Command::Trash {
            action: Some(TrashAction::Show { deletion }),
            ..
        } => trash::show(db, deletion),
        Command::Trash {
            action: None,
            table,
            limit,
        } => trash::trash(db, table.as_deref(), *limit),
        Command::Restore {
            deletion,
            pk,
            dry_run,
            skip_conflicts,
            audit,
        } => trash::restore(
            db,
            deletion,
            pk.as_deref(),
            *dry_run,
            *skip_conflicts,
            &audit.audit(),
        ),
        Command::Purge {
            deletion,
            older_than,
            retention,
            confirm,
            audit,
        } => trash::purge(
            db,
            trash::PurgeWhat::of(db, deletion.as_deref(), older_than.as_deref(), *retention)?,
            *confirm,
            &audit.audit(),
        ),
        Command::Erase {
            table,
            pk,
            cascade,
            confirm,
            audit,
        } => trash::erase(db, table, pk, *cascade, *confirm, &audit.audit()),
        Command::Export { file } => store::export(db, file, bars),
        Command::Verify => store::verify(db, bars),
        Command::Stats => store::stats(db),
        Command::Checkpoint => store::checkpoint(db),
        Command::Backup { dest } => store::backup(db, dest, bars),
        Command::Demo
        | Command::Schema { .. }
        | Command::Import { .. }
        | Command::Compact
        | Command::Serve { .. } => Err(fail(2, "this command opens the store itself")),
        Command::Bench { .. } | Command::Completions { .. } => {
            Err(fail(2, "this command opens no store"))
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
