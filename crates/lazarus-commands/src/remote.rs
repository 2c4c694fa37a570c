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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::ConfirmArgs;
    use lazarusdb::Readable as _;

    fn store() -> Db {
        let db = Db::temporary().unwrap();
        db.transaction(|tx| {
            tx.apply_schema_document(&lazarusdb::parse_schema_document(
                r#"{"tables": [{"name": "note", "primary_key": "id",
                    "columns": [{"name": "id", "type": "int"}, {"name": "text", "type": "text"}]}]}"#,
            )?)?;
            tx.insert("note", lazarusdb::Row::from_json_str(r#"{"id": 1, "text": "kept"}"#)?)?;
            tx.insert("note", lazarusdb::Row::from_json_str(r#"{"id": 2, "text": "gone"}"#)?)?;
            Ok::<(), lazarusdb::Error>(())
        })
        .unwrap();
        db
    }

    fn request(command: Command) -> Request {
        Request {
            version: VERSION.to_string(),
            command,
            json: false,
            input: None,
        }
    }

    #[test]
    fn a_command_prints_what_it_prints_on_the_store() {
        let db = store();
        let get = Command::Get {
            table: "note".into(),
            pk: "1".into(),
            as_of: None,
        };
        let reply = run(&db, &request(get.clone()));
        let Ok(local) = execute_on(&db, &get, Context::Local { bars: false }) else {
            panic!("the get failed on the store")
        };
        assert_eq!(reply.code, 0);
        assert_eq!(reply.output, finish(&local, false).0);
        assert!(reply.output.contains("kept"));
        // a missing row: the verdict 1 and its message, no output
        let missing = run(
            &db,
            &request(Command::Get {
                table: "note".into(),
                pk: "9".into(),
                as_of: None,
            }),
        );
        assert_eq!(missing.code, 1);
        assert!(missing.output.is_empty());
        assert!(missing.error.is_some());
    }

    #[test]
    fn another_version_is_refused_before_anything_runs() {
        let db = store();
        let mut req = request(Command::Delete {
            table: "note".into(),
            pk: "2".into(),
            audit: Default::default(),
        });
        req.version = "0.0.0-other".into();
        let reply = run(&db, &req);
        assert_eq!(reply.code, 2);
        assert_eq!(reply.error.unwrap().kind, "version");
        assert!(db.get("note", 2).unwrap().is_some(), "nothing was deleted");
    }

    #[test]
    fn an_erase_comes_back_as_a_question_and_writes_nothing() {
        let db = store();
        let erase = |yes| {
            request(Command::Erase {
                table: "note".into(),
                pk: "2".into(),
                cascade: false,
                confirm: ConfirmArgs {
                    dry_run: false,
                    yes,
                },
                audit: crate::AuditArgs {
                    actor: Some("tester".into()),
                    reason: None,
                },
            })
        };
        let asked = run(&db, &erase(false));
        assert_eq!(asked.code, 2);
        let q = asked.question.unwrap();
        assert_eq!(q.word, "note");
        assert!(q.summary.contains("note"), "{}", q.summary);
        assert!(
            db.get("note", 2).unwrap().is_some(),
            "nothing was erased yet"
        );
        let done = run(&db, &erase(true));
        assert_eq!(done.code, 0, "{done:?}");
        assert!(db.get("note", 2).unwrap().is_none());
    }

    #[test]
    fn no_file_of_the_server_is_read_or_written() {
        let db = store();
        let load = Command::Load {
            table: "note".into(),
            file: "/etc/hostname".into(),
            format: None,
            batch: 10,
            atomic: false,
            audit: Default::default(),
        };
        let reply = run(&db, &request(load.clone()));
        assert_eq!(reply.code, 2);
        assert!(reply.error.unwrap().message.contains("reads no file"));
        let mut sent = request(load);
        sent.input = Some(encode_input(b"{\"id\": 3, \"text\": \"sent\"}\n"));
        assert_eq!(run(&db, &sent).code, 0);
        assert!(db.get("note", 3).unwrap().is_some());
        let export = run(
            &db,
            &request(Command::Export {
                file: "/tmp/should-not-exist.jsonl".into(),
            }),
        );
        assert_eq!(export.code, 2);
        let backup = run(
            &db,
            &request(Command::Backup {
                dest: "/tmp/should-not-exist".into(),
            }),
        );
        assert_eq!(backup.code, 2);
        assert!(!std::path::Path::new("/tmp/should-not-exist").exists());
    }
}
