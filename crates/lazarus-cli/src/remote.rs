//! `--url URL`: the command runs on the store a `lazarus serve` holds (`POST /api/command`),
//! and prints what it printed there, with its exit code.
//!
//! What is of this machine stays here: the command line is parsed here (so `LAZARUS_ACTOR`
//! applies), the input file of `load` and `schema apply` (or standard input) is read here and
//! its contents sent, the file of `export FILE` is written here from the log sent back, and the
//! question before a purge or an erase is asked on this terminal. A server that cannot be
//! reached, refuses (a token, read-only) or answers with something else fails with 2 and says
//! so.

use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use lazarus_commands::commands::{sync_parent, Outcome};
use lazarus_commands::remote::{encode_input, Reply, Request, VERSION};
use lazarus_commands::{fail, output, Cli, Command, Failure, SchemaAction};

use crate::Ended;

/// How long a connection may take to open.
const CONNECT: Duration = Duration::from_secs(10);

/// Runs the command line's command on the store served at `url`.
pub fn run(cli: &Cli, url: &str) -> Ended {
    match attempt(cli, url) {
        Ok(ended) => ended,
        Err(f) => Ended::from(Err(f)),
    }
}

fn attempt(cli: &Cli, url: &str) -> Result<Ended, Failure> {
    let endpoint = endpoint(url)?;
    let token = token(cli)?;
    let mut command = cli.command.clone();
    let input = input_of(&command)?;
    // `export FILE`: the log comes back as the output and is written here
    let export_to = match &mut command {
        Command::Export { file } if file.as_os_str() != "-" => {
            let to = file.clone();
            *file = "-".into();
            Some(to)
        }
        _ => None,
    };
    let mut request = Request {
        version: VERSION.to_string(),
        command,
        json: cli.json,
        input: input.as_deref().map(encode_input),
    };
    let mut reply = send(&endpoint, url, token.as_deref(), &request)?;
    if let Some(question) = reply.question.take() {
        // asked here, then sent again with --yes
        lazarus_commands::commands::trash::ask_here(
            &question.summary,
            &question.word,
            &question.what,
        )?;
        if let Command::Purge { confirm, .. } | Command::Erase { confirm, .. } =
            &mut request.command
        {
            confirm.yes = true;
        }
        reply = send(&endpoint, url, token.as_deref(), &request)?;
    }
    if let (Some(file), 0) = (&export_to, reply.code) {
        let events = write_export(file, &reply.output)?;
        let (text, _) = lazarus_commands::finish(
            &Outcome::Exported {
                events,
                file: file.clone(),
            },
            cli.json,
        );
        reply.output = text;
    }
    // the server sends only the output that is written (none after most failures)
    output::print(&reply.output);
    Ok(Ended {
        code: reply.code,
        failure: reply.error.map(|e| (e.kind, e.message)),
        keep: true,
    })
}

/// The command endpoint of the server at `url` (`http://HOST:PORT`, with or without a path).
fn endpoint(url: &str) -> Result<String, Failure> {
    let trimmed = url.trim().trim_end_matches('/');
    if !trimmed.starts_with("http://") {
        return Err(fail(
            2,
            format!(
                "`{url}` is not a URL lazarus serves: use http://HOST:PORT, e.g. \
                 http://127.0.0.1:7070 (behind a proxy that adds TLS, give its plain address)"
            ),
        ));
    }
    Ok(format!("{trimmed}/api/command"))
}

/// The bearer token: from `--token-file`, else `LAZARUS_TOKEN`, else none.
fn token(cli: &Cli) -> Result<Option<String>, Failure> {
    if let Some(file) = &cli.token_file {
        let text = std::fs::read_to_string(file).map_err(|e| {
            fail(
                2,
                format!("cannot read the token file {}: {e}", file.display()),
            )
        })?;
        return Ok(Some(text.trim().to_string()));
    }
    Ok(std::env::var("LAZARUS_TOKEN")
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty()))
}

/// The contents of the command's input file (standard input for `-`), read here.
fn input_of(command: &Command) -> Result<Option<Vec<u8>>, Failure> {
    let file = match command {
        Command::Load { file, .. } => file,
        Command::Schema {
            action: SchemaAction::Apply { file, .. },
        } => file,
        _ => return Ok(None),
    };
    let mut bytes = Vec::new();
    let read = if file.as_os_str() == "-" {
        std::io::stdin().lock().read_to_end(&mut bytes)
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_end(&mut bytes))
    };
    read.map_err(|e| fail(2, format!("cannot read {}: {e}", file.display())))?;
    Ok(Some(bytes))
}

/// Sends `request` and reads the reply; a refusal of the server (a token, read-only, too
/// large) is a failed reply with its kind and message.
fn send(
    endpoint: &str,
    url: &str,
    token: Option<&str>,
    request: &Request,
) -> Result<Reply, Failure> {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(CONNECT))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let mut call = agent.post(endpoint);
    if let Some(token) = token {
        call = call.header("Authorization", &format!("Bearer {token}"));
    }
    let unreachable = |e: ureq::Error| {
        fail(
            2,
            format!("cannot reach the store at {url}: {e} (is `lazarus serve` running there?)"),
        )
    };
    let mut response = call.send_json(request).map_err(unreachable)?;
    let status = response.status();
    let body = response
        .body_mut()
        .with_config()
        .limit(u64::MAX)
        .read_to_string()
        .map_err(unreachable)?;
    if status.is_success() {
        return serde_json::from_str::<Reply>(&body).map_err(|e| {
            fail(
                2,
                format!("the server at {url} answered with something else than a reply ({e})"),
            )
        });
    }
    // an API error: {"error": KIND, "message": ...}
    let error: Option<(String, String)> = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            Some((
                v.get("error")?.as_str()?.to_string(),
                v.get("message")?.as_str()?.to_string(),
            ))
        });
    // a refusal keeps its kind (`unauthorized`, `read_only`, ...) for --json
    Ok(match error {
        Some((kind, message)) => {
            let hint = match kind.as_str() {
                "unauthorized" => " (give --token-file FILE or set LAZARUS_TOKEN)",
                "too_large" => {
                    " (the server's --body-limit bounds what a command sends: raise it, or \
                     load the file in parts)"
                }
                "no_such_route" => " (is it a lazarus server of this version?)",
                _ => "",
            };
            Reply::failed(
                2,
                &kind,
                format!("the server at {url} refused: {message}{hint}"),
            )
        }
        None => {
            return Err(fail(
                2,
                format!("the server at {url} answered {status}: is it a lazarus server?"),
            ))
        }
    })
}

/// Writes the exported log to `file` through a file beside it renamed into place, as a local
/// export does; returns the number of events.
fn write_export(file: &Path, log: &str) -> Result<u64, Failure> {
    use std::io::Write as _;
    let tmp = file.with_extension("partial");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(log.as_bytes())?;
        f.sync_all()
    };
    write().map_err(|e| fail(2, format!("cannot write {}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, file)
        .map_err(|e| fail(2, format!("cannot write {}: {e}", file.display())))?;
    sync_parent(file)?;
    Ok(log.lines().filter(|l| !l.trim().is_empty()).count() as u64)
}
