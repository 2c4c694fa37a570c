//! `lazarus --url`: a command carried to the server that holds the store (`POST /api/command`),
//! run there on the open store by [`run`], and its output and verdict carried back, for the
//! client to print and exit with as if it had run the command itself.
//!
//! The client parses the command line (so its environment, `LAZARUS_ACTOR`, applies), reads the
//! command's input file itself (`load`, `schema apply`) and sends its contents, and writes the
//! file of `export FILE` itself from the log sent back. Questions before a purge or an erase come
//! back as a [`Question`] for the client to ask on its own terminal. The request and reply are
//! this version's own: a client and a server of different versions refuse to talk.

use base64::Engine as _;
use lazarusdb::Db;
use serde::{Deserialize, Serialize};

use crate::{execute_on, finish, Command, Context, Question};

/// The version a request must come from.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A command for the server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    /// The client's version ([`VERSION`]).
    pub version: String,
    /// The command as the client parsed it.
    pub command: Command,
    /// `--json`.
    pub json: bool,
    /// The contents of the command's input file, in base64.
    #[serde(default)]
    pub input: Option<String>,
}

/// What the command printed and how it ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Reply {
    /// The exit code.
    pub code: u8,
    /// What goes on standard output.
    pub output: String,
    /// The failure said on standard error.
    pub error: Option<ReplyError>,
    /// A question to ask before the command can go on (sent again with `--yes`).
    pub question: Option<Question>,
}

/// A failure as standard error says it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReplyError {
    /// Its kind (the `error` field of a `--json` error).
    pub kind: String,
    /// The message.
    pub message: String,
}

impl Reply {
    /// A failure before the command ran.
    pub fn failed(code: u8, kind: &str, message: impl Into<String>) -> Reply {
        Reply {
            code,
            output: String::new(),
            error: Some(ReplyError {
                kind: kind.to_string(),
                message: message.into(),
            }),
            question: None,
        }
    }
}

/// Runs `request` on the open store `db` (for a client: no file or terminal of this machine is
/// used) and says what it printed and how it ended.
pub fn run(db: &Db, request: &Request) -> Reply {
    if request.version != VERSION {
        return Reply::failed(
            2,
            "version",
            format!(
                "the server runs lazarus {VERSION} and this client is {}: use the same version on \
                 both sides",
                request.version
            ),
        );
    }
    let input = match &request.input {
        None => None,
        Some(text) => match base64::engine::general_purpose::STANDARD.decode(text) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                return Reply::failed(2, "bad_request", format!("the input is not base64: {e}"))
            }
        },
    };
    let ctx = Context::Client {
        input: input.as_deref(),
    };
    let (output, result) = match execute_on(db, &request.command, ctx) {
        Ok(outcome) => finish(&outcome, request.json),
        Err(f) => (String::new(), Err(f)),
    };
    match result {
        Ok(()) => Reply {
            code: 0,
            output,
            error: None,
            question: None,
        },
        Err(f) => Reply {
            code: f.code,
            output: if f.keeps_output {
                output
            } else {
                String::new()
            },
            error: Some(ReplyError {
                kind: f.kind.to_string(),
                message: f.message,
            }),
            question: f.question.map(|q| *q),
        },
    }
}

/// The input file's contents as a request carries them.
pub fn encode_input(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
