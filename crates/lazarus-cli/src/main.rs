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
//! [`lazarus_commands::output`]), except `export -`, which streams the log.
//!
//! With `--url URL` (or `LAZARUS_URL`) a command runs on the store a `lazarus serve` holds
//! ([`remote`]), with the same output and exit codes.
//!
//! The parts: this file parses the command line and dispatches; the commands themselves, their
//! rendering and the output are the `lazarus-commands` package's, shared with the server;
//! [`commands`] holds the two that are the binary's own (`bench`, `serve`); [`remote`] is the
//! client of `--url`.

mod commands;
mod remote;

use std::process::ExitCode;

use clap::Parser;
use lazarus_commands::commands::{Outcome, Place};
use lazarus_commands::output::{self, say_error};
use lazarus_commands::{Cli, Command, Failure};

/// The exit code of a command whose output could not be written (its work is done).
const OUTPUT_LOST: u8 = 3;

/// How a command ended: its exit code, its failure (kind and message) and whether its output is
/// written.
pub struct Ended {
    /// The exit code.
    pub code: u8,
    /// The failure said on standard error: its kind (for `--json`) and message.
    pub failure: Option<(String, String)>,
    /// Whether the output gathered is written.
    pub keep: bool,
}

impl From<Result<(), Failure>> for Ended {
    fn from(result: Result<(), Failure>) -> Ended {
        match result {
            Ok(()) => Ended {
                code: 0,
                failure: None,
                keep: true,
            },
            Err(f) => Ended {
                code: f.code,
                failure: Some((f.kind.to_string(), f.message)),
                keep: f.keeps_output,
            },
        }
    }
}

/// Parses the command line, runs the command, writes its output and says how it went: the exit
/// code and, on a failure, one line on standard error.
fn main() -> ExitCode {
    // read before parsing, so that a command line that does not parse is answered in JSON too
    let json = std::env::args_os().any(|a| a == "--json");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage(&e, json),
    };
    let ended = run(&cli);
    let lost = output::finish(ended.keep);
    if let Some((kind, message)) = &ended.failure {
        say_failure(json, kind, message);
    }
    match lost {
        Some(e) => {
            say_failure(
                json,
                "output_lost",
                &format!("the output could not be written ({e}); the command's work is done"),
            );
            ExitCode::from(if ended.code == 0 {
                OUTPUT_LOST
            } else {
                ended.code
            })
        }
        None => ExitCode::from(ended.code),
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

/// Runs the command (here, or with `--url` on the served store), then adds its output (text, or
/// one JSON document under `--json`) to standard output.
fn run(cli: &Cli) -> Ended {
    // progress bars on standard error, never under --json
    let bars = !cli.json;
    let place = Place {
        path: &cli.db,
        engine: cli.engine.as_deref(),
    };
    let outcome = match (&cli.command, &cli.url) {
        (
            Command::Bench {
                quick,
                out,
                docs,
                from,
                crash_writer,
            },
            _,
        ) => commands::bench::bench(
            commands::bench::BenchArgs {
                quick: *quick,
                out: out.as_deref(),
                docs: docs.as_deref(),
                from: from.as_deref(),
                crash_writer: crash_writer.as_deref(),
            },
            bars,
        ),
        (Command::Completions { .. }, _) => lazarus_commands::execute(cli, bars),
        (Command::Demo { serve: true, addr }, None) => demo_and_serve(cli, addr),
        (_, Some(url)) => return remote::run(cli, url),
        (
            Command::Serve {
                addr,
                read_only,
                body_limit,
            },
            None,
        ) => commands::serve::serve(
            &place,
            &commands::serve::ServeArgs {
                addr,
                token_file: cli.token_file.as_deref(),
                read_only: *read_only,
                body_limit: *body_limit,
            },
        ),
        (_, None) => lazarus_commands::execute(cli, bars),
    };
    Ended::from(outcome.and_then(|outcome: Outcome| {
        let (text, verdict) = lazarus_commands::finish(&outcome, cli.json);
        output::print(&text);
        verdict
    }))
}

/// `demo --serve`: the demo's story on a fresh store on disk (at `--db` when given, else in a
/// temporary folder removed at the end), one deletion left in its trash, then that store served
/// until Ctrl-C.
fn demo_and_serve(cli: &Cli, addr: &str) -> Result<Outcome, Failure> {
    if cli.json {
        return Err(lazarus_commands::fail(
            2,
            "demo --serve tells its story as text and then serves: leave out --json",
        ));
    }
    let explicit_db = std::env::args().any(|a| a == "--db" || a.starts_with("--db="));
    let temporary = if explicit_db {
        None
    } else {
        Some(tempfile::tempdir().map_err(|e| {
            lazarus_commands::fail(2, format!("cannot make a temporary folder: {e}"))
        })?)
    };
    let path = match &temporary {
        Some(dir) => dir.path().join("demo.db"),
        None => cli.db.clone(),
    };
    let place = Place {
        path: &path,
        engine: cli.engine.as_deref(),
    };
    let story = lazarus_commands::demo::demo(&place, true, true)?;
    let (text, verdict) = lazarus_commands::finish(&story, false);
    output::print(&text);
    verdict?;
    // the story is shown before the server starts
    if let Some(e) = output::finish(true) {
        return Err(lazarus_commands::fail(
            2,
            format!("the story could not be written ({e})"),
        ));
    }
    commands::serve::serve(
        &place,
        &commands::serve::ServeArgs {
            addr,
            token_file: cli.token_file.as_deref(),
            read_only: false,
            body_limit: 1 << 20,
        },
    )
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        lazarus_commands::Cli::command().debug_assert();
    }
}
