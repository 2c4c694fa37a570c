//! The `lazarus` command line's commands: parsed ([`Cli`]), run on a store ([`execute`], or
//! [`execute_on`] a store already open), and rendered as the human text or one JSON document
//! ([`render`]). The `lazarus` binary runs them on a store it opens; `lazarus-server` runs them
//! for `lazarus --url` on the store it serves ([`remote`]), so that a command prints the same
//! thing and exits with the same code either way.
//!
//! The parts: [`commands`] does each command's work and returns what it found or did as data
//! ([`commands::Outcome`]); [`render`] turns that into the human text or the one JSON document;
//! [`demo`] tells the demo's story; [`output`] holds standard output, standard error and the
//! progress bars of the binary.

pub mod commands;
pub mod demo;
pub mod output;
pub mod remote;
pub mod render;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use lazarusdb::{Audit, Db, Error};
use serde::{Deserialize, Serialize};

use commands::{closing, restore, rows, store, trash, Outcome, Place};

/// The command line: the global options and the command.
#[derive(Parser)]
#[command(
    name = "lazarus",
    version,
    about = "lazarusdb: an embedded event-sourced store in which nothing is lost by mistake"
)]
pub struct Cli {
    /// The store folder (`schema apply` creates it when missing).
    #[arg(long, global = true, default_value = "lazarus.db")]
    pub db: PathBuf,
    /// Run the command against the store served at this address (`lazarus serve`) instead of
    /// opening one: `http://127.0.0.1:7070`. Same output and exit codes.
    #[arg(long, global = true, env = "LAZARUS_URL", value_name = "URL")]
    pub url: Option<String>,
    /// A file holding the bearer token: the one `serve` requires of every request, the one sent
    /// with `--url` (default for --url: the LAZARUS_TOKEN environment variable).
    #[arg(long, global = true, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Engine for a new store: fjall-redb (default: the log in fjall, the live views in redb),
    /// fjall or sled.
    #[arg(long, global = true)]
    pub engine: Option<String>,
    /// Print exactly one JSON document on standard output.
    #[arg(long, global = true)]
    pub json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// A command and its arguments. Its serde form carries it to a server (`--url`).
#[derive(Subcommand, Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)] // the fields are documented as clap shows them, by their doc comments
pub enum Command {
    /// The story of the seed question on a fresh store, narrated.
    Demo {
        /// Then serve the demo's store (`lazarus serve`), one deletion left in its trash, to
        /// look at in a browser until Ctrl-C.
        #[arg(long)]
        serve: bool,
        /// Where to serve it (IP:PORT), with --serve.
        #[arg(long, default_value = "127.0.0.1:7070", requires = "serve")]
        addr: String,
    },
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
        /// Where to listen (IP:PORT). Any address but loopback needs --token-file (a file
        /// holding the bearer token every request must carry, at least 16 characters).
        #[arg(long, default_value = "127.0.0.1:7070")]
        addr: String,
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
    #[serde(skip)]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

/// What `trash` does beyond listing.
#[derive(Subcommand, Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum TrashAction {
    /// One deletion: each row it holds with its last image, per table, and the rows it set to
    /// null (still live).
    Show {
        /// The deletion: its id or the last 6 or more hex digits of it.
        deletion: String,
    },
}

/// What `schema` does.
#[derive(Subcommand, Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum SchemaAction {
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
#[derive(clap::Args, Clone, Default, Debug, Serialize, Deserialize)]
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
#[derive(clap::Args, Clone, Copy, Default, Debug, Serialize, Deserialize)]
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
    /// A question the command needs answered before it goes on (run for a client, which asks
    /// it on its own terminal and sends the command again with `--yes`).
    pub question: Option<Box<Question>>,
}

/// A question asked before something that cannot be undone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// What would go, as the dry run shows it.
    pub summary: String,
    /// The word to type to go on.
    pub word: String,
    /// What is asked about (`a purge`, `an erase`).
    pub what: String,
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
        question: None,
    }
}

/// How a command runs beyond its arguments.
#[derive(Debug, Clone, Copy)]
pub enum Context<'a> {
    /// In the `lazarus` binary on this machine: its files, its terminal for questions, progress
    /// bars on standard error when `bars`.
    Local {
        /// Draw progress bars (on a terminal, never under `--json`).
        bars: bool,
    },
    /// For a client (`lazarus --url`): no file of this machine is read or written, no terminal
    /// is asked, and `export -` is returned as the output.
    Client {
        /// The contents of the command's input file (`load`, `schema apply`), as the client read
        /// it.
        input: Option<&'a [u8]>,
    },
}

impl Context<'_> {
    fn bars(&self) -> bool {
        matches!(self, Context::Local { bars: true })
    }

    fn is_client(&self) -> bool {
        matches!(self, Context::Client { .. })
    }
}

/// A command's output and verdict: the text (or JSON document) it prints, and a failure with
/// its exit code when it has one (1 with a report kept for `verify` with differences and dry
/// runs with conflicts).
pub fn finish(outcome: &Outcome, json: bool) -> (String, Result<(), Failure>) {
    (render::render(outcome, json), verdict(outcome))
}

/// The verdict of 1 that some outcomes carry: differences found, conflicts planned.
fn verdict(outcome: &Outcome) -> Result<(), Failure> {
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

/// Does the command's work on the store the command line names: the commands that open the
/// store themselves (`schema`, `import`, `compact`, `demo`) on their own, every other one on the
/// store opened here and closed after it. `bench` and `serve` are the binary's own.
pub fn execute(cli: &Cli, bars: bool) -> Result<Outcome, Failure> {
    let place = Place {
        path: &cli.db,
        engine: cli.engine.as_deref(),
    };
    match &cli.command {
        Command::Demo { serve, .. } => {
            // a store on disk only where --db was given (or the demo is served)
            let explicit_db = std::env::args().any(|a| a == "--db" || a.starts_with("--db="));
            demo::demo(&place, explicit_db, *serve)
        }
        Command::Schema { action } => match action {
            SchemaAction::Apply { file, audit } => {
                store::schema(&place, Some((file, audit.audit())))
            }
            SchemaAction::Show => store::schema(&place, None),
        },
        Command::Import { file, audit } => store::import(&place, file, &audit.audit(), bars),
        Command::Compact => store::compact(&place, bars),
        Command::Serve { .. } | Command::Bench { .. } => Err(fail(
            2,
            "serve and bench are run by the lazarus binary itself",
        )),
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
            on_store(db, command, Context::Local { bars })
                .map_err(|f| commands::did_you_mean(db, f))
        }),
    }
}

/// Does the command's work on a store already open (and left open): what `lazarus --url` runs
/// on the store a server holds. A command that needs the store closed (`compact`, `import`), a
/// new store (`demo`) or this machine's files (`backup`, `export FILE`) is refused with what to
/// do instead.
pub fn execute_on(db: &Db, command: &Command, ctx: Context<'_>) -> Result<Outcome, Failure> {
    match command {
        Command::Schema {
            action: SchemaAction::Show,
        } => Ok(Outcome::Schema(store::schema_of(db)?)),
        Command::Schema {
            action: SchemaAction::Apply { file, audit },
        } => {
            let text = input_text(ctx, file)?;
            store::schema_on(db, &text, &audit.audit())
        }
        Command::Demo { .. }
        | Command::Import { .. }
        | Command::Compact
        | Command::Serve { .. } => Err(fail(
            2,
            format!("{} {}", name(command), remote_refusal(command)),
        )),
        Command::Backup { .. } if ctx.is_client() => {
            Err(fail(2, format!("backup {}", remote_refusal(command))))
        }
        Command::Bench { .. } | Command::Completions { .. } => Err(fail(
            2,
            format!("{} opens no store: run it without --url", name(command)),
        )),
        command => on_store(db, command, ctx).map_err(|f| commands::did_you_mean(db, f)),
    }
}

/// Why a command cannot run against a served store, and what to do.
fn remote_refusal(command: &Command) -> &'static str {
    match command {
        Command::Demo { .. } => "makes a store of its own: run it without --url",
        Command::Import { .. } => {
            "makes a new store from a log: run it without --url (the served store already exists)"
        }
        Command::Compact => {
            "rewrites the store's files and needs it closed: stop the server, then run `lazarus \
             --db PATH compact`"
        }
        Command::Serve { .. } => "serves a store it opens: run it without --url",
        Command::Backup { .. } => {
            "writes a folder on the server's machine and cannot run over --url: copy the log with \
             `lazarus --url URL export FILE` (and `import` it), or back up where the store is"
        }
        _ => "cannot run over --url",
    }
}

/// The command's name as typed.
pub fn name(command: &Command) -> &'static str {
    match command {
        Command::Demo { .. } => "demo",
        Command::Schema { .. } => "schema",
        Command::Insert { .. } => "insert",
        Command::Load { .. } => "load",
        Command::Update { .. } => "update",
        Command::Get { .. } => "get",
        Command::Scan { .. } => "scan",
        Command::RestoreTo { .. } => "restore-to",
        Command::Undo { .. } => "undo",
        Command::Diff { .. } => "diff",
        Command::Children { .. } => "children",
        Command::Delete { .. } => "delete",
        Command::Trash { .. } => "trash",
        Command::Restore { .. } => "restore",
        Command::History { .. } => "history",
        Command::Log { .. } => "log",
        Command::Export { .. } => "export",
        Command::Import { .. } => "import",
        Command::Verify => "verify",
        Command::Bench { .. } => "bench",
        Command::Serve { .. } => "serve",
        Command::Stats => "stats",
        Command::Purge { .. } => "purge",
        Command::Erase { .. } => "erase",
        Command::Compact => "compact",
        Command::Checkpoint => "checkpoint",
        Command::Backup { .. } => "backup",
        Command::Completions { .. } => "completions",
    }
}

/// True when the command may write to the store (a read-only server refuses it). A dry run
/// writes nothing.
pub fn writes(command: &Command) -> bool {
    match command {
        Command::Schema { action } => matches!(action, SchemaAction::Apply { .. }),
        Command::RestoreTo { dry_run, .. } | Command::Restore { dry_run, .. } => !dry_run,
        Command::Purge { confirm, .. } | Command::Erase { confirm, .. } => !confirm.dry_run,
        Command::Insert { .. }
        | Command::Load { .. }
        | Command::Update { .. }
        | Command::Undo { .. }
        | Command::Delete { .. }
        | Command::Import { .. }
        | Command::Compact
        | Command::Checkpoint
        | Command::Backup { .. }
        | Command::Demo { .. }
        | Command::Serve { .. } => true,
        Command::Get { .. }
        | Command::Scan { .. }
        | Command::Diff { .. }
        | Command::Children { .. }
        | Command::Trash { .. }
        | Command::History { .. }
        | Command::Log { .. }
        | Command::Export { .. }
        | Command::Verify
        | Command::Stats
        | Command::Bench { .. }
        | Command::Completions { .. } => false,
    }
}

/// The input a client sent for `file` (`load`, `schema apply`), as text.
fn input_text(ctx: Context<'_>, file: &std::path::Path) -> Result<String, Failure> {
    match ctx {
        Context::Client { input: Some(bytes) } => String::from_utf8(bytes.to_vec()).map_err(|_| {
            fail(
                2,
                format!("cannot read {}: it is not UTF-8 text", file.display()),
            )
        }),
        Context::Client { input: None } => Err(fail(
            2,
            format!(
                "the contents of {} did not come with the command: the server reads no file of \
                 its own",
                file.display()
            ),
        )),
        Context::Local { .. } => std::fs::read_to_string(file)
            .map_err(|e| fail(2, format!("cannot read {}: {e}", file.display()))),
    }
}

/// The commands that work on an open store, which [`execute`] opens before and closes after.
fn on_store(db: &Db, command: &Command, ctx: Context<'_>) -> Result<Outcome, Failure> {
    let bars = ctx.bars();
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
            match ctx {
                Context::Client { input } => Some(input.ok_or_else(|| {
                    fail(
                        2,
                        format!(
                            "the contents of {} did not come with the command: the server \
                             reads no file of its own",
                            file.display()
                        ),
                    )
                })?),
                Context::Local { .. } => None,
            },
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
            ctx.is_client(),
            &audit.audit(),
        ),
        Command::Erase {
            table,
            pk,
            cascade,
            confirm,
            audit,
        } => trash::erase(
            db,
            table,
            pk,
            *cascade,
            *confirm,
            ctx.is_client(),
            &audit.audit(),
        ),
        Command::Export { file } => store::export(db, file, ctx),
        Command::Verify => store::verify(db, bars),
        Command::Stats => store::stats(db),
        Command::Checkpoint => store::checkpoint(db),
        Command::Backup { dest } => store::backup(db, dest, bars),
        Command::Demo { .. }
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
