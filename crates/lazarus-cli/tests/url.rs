//! `lazarus --url`: every command run on a served store prints what it prints on the store
//! itself, with the same exit code; writes, inputs, questions and exports behave as they do on
//! the store; a read-only or token-guarded server refuses what it should.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_lazarus");

const SCHEMA: &str = r#"{"tables": [
  {"name": "author", "primary_key": "id",
   "columns": [{"name": "id", "type": "int"}, {"name": "name", "type": "text"}]},
  {"name": "book", "primary_key": "id",
   "columns": [{"name": "id", "type": "int"}, {"name": "author_id", "type": "int"},
               {"name": "title", "type": "text"}],
   "foreign_keys": [{"column": "author_id", "references": "author", "on_delete": "cascade"}]}]}"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `lazarus ARGS` with `env` set (and LAZARUS_URL, LAZARUS_TOKEN, LAZARUS_ACTOR cleared unless
/// given), standard input `stdin`.
fn lazarus(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("LAZARUS_URL")
        .env_remove("LAZARUS_TOKEN")
        .env_remove("LAZARUS_ACTOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// The store at `db`, run here.
fn here(db: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--db", db.to_str().unwrap()];
    all.extend_from_slice(args);
    lazarus(&all, &[], b"")
}

/// The store served at `url`.
fn there(url: &str, args: &[&str]) -> Output {
    let mut all = vec!["--url", url];
    all.extend_from_slice(args);
    lazarus(&all, &[], b"")
}

fn text(o: &Output) -> (Option<i32>, String, String) {
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A running `lazarus serve` (killed when dropped).
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(db: &Path, extra: &[&str]) -> Server {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(BIN)
            .arg("--db")
            .arg(db)
            .args(["serve", "--addr", &addr])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let until = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "the server did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        Server {
            child,
            url: format!("http://{addr}"),
        }
    }

    /// Stops the server (SIGTERM) and waits until it has closed the store.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let until = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < until, "the server did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A store with authors and books, two deletions in its trash (one a cascade); returns its
/// folder and the id of the cascading deletion.
fn store(dir: &Path) -> (PathBuf, String) {
    let db = dir.join("s");
    let schema = dir.join("schema.json");
    std::fs::write(&schema, SCHEMA).unwrap();
    assert!(here(&db, &["schema", "apply", schema.to_str().unwrap()])
        .status
        .success());
    for row in [
        ("author", r#"{"id": 1, "name": "Ann"}"#),
        ("author", r#"{"id": 2, "name": "Bo"}"#),
        ("book", r#"{"id": 1, "author_id": 1, "title": "One"}"#),
        ("book", r#"{"id": 2, "author_id": 1, "title": "Two"}"#),
        ("book", r#"{"id": 3, "author_id": 2, "title": "Three"}"#),
    ] {
        assert!(here(&db, &["insert", row.0, row.1]).status.success());
    }
    assert!(here(
        &db,
        &["update", "book", "3", r#"{"title": "Three, revised"}"#]
    )
    .status
    .success());
    assert!(here(&db, &["delete", "book", "3", "--actor", "ann"])
        .status
        .success());
    let deleted = here(
        &db,
        &[
            "--json", "delete", "author", "1", "--actor", "ann", "--reason", "test",
        ],
    );
    let doc: serde_json::Value = serde_json::from_slice(&deleted.stdout).unwrap();
    let id = doc["deletion"].as_str().unwrap().to_string();
    (db, id)
}

#[test]
fn reads_over_url_print_what_they_print_on_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let (db, id) = store(dir.path());
    let short = id[id.len() - 8..].to_string();
    let reads: Vec<Vec<&str>> = vec![
        vec!["get", "author", "2"],
        vec!["get", "book", "1"],
        vec!["get", "book", "1", "--as-of", "5"],
        vec!["get", "boook", "1"],
        vec!["get", "author", "x"],
        vec!["scan", "author"],
        vec!["scan", "book", "--format", "csv"],
        vec!["scan", "book", "--as-of", "6", "--format", "jsonl"],
        vec!["scan", "book", "--where", "author_id=2", "--as-of", "tx:6"],
        vec!["children", "author", "2", "book"],
        vec!["trash"],
        vec!["trash", "--table", "book", "--limit", "1"],
        vec!["trash", "show", &id],
        vec!["trash", "show", &short],
        vec!["trash", "show", "nothing"],
        vec!["restore", &id, "--dry-run"],
        vec!["restore", "book", "1", "--dry-run"],
        vec!["restore-to", "5", "--dry-run"],
        vec!["history", "book", "3"],
        vec!["log"],
        vec!["log", "--since", "3", "--limit", "2"],
        vec!["diff", "5"],
        vec!["diff", "2", "6", "--table", "book"],
        vec!["schema", "show"],
        vec!["verify"],
        vec!["export", "-"],
    ];
    let mut expected = Vec::new();
    for args in &reads {
        for json in [false, true] {
            let mut all = if json { vec!["--json"] } else { vec![] };
            all.extend(args.iter().copied());
            expected.push((all.clone(), text(&here(&db, &all))));
        }
    }
    let server = Server::start(&db, &[]);
    for (args, local) in &expected {
        let remote = text(&there(&server.url, args));
        assert_eq!(&remote, local, "lazarus {args:?}");
    }
    // LAZARUS_URL names the server as --url does
    let by_env = lazarus(
        &["get", "author", "2"],
        &[("LAZARUS_URL", &server.url)],
        b"",
    );
    assert_eq!(text(&by_env), expected[0].1);
    // stats: disk figures move as the server works, so only its answer is checked
    let stats = there(&server.url, &["stats"]);
    assert_eq!(stats.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&stats.stdout).contains("author"));
    server.stop();
}

#[test]
fn writes_over_url_act_on_the_served_store() {
    let dir = tempfile::tempdir().unwrap();
    let (db, id) = store(dir.path());
    let server = Server::start(&db, &[]);
    let url = server.url.clone();
    let ok = |args: &[&str]| {
        let o = there(&url, args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {:?}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert!(ok(&["insert", "author", r#"{"id": 3, "name": "Cy"}"#]).contains("Cy"));
    assert!(ok(&["update", "author", "3", r#"{"name": "Cyd"}"#]).contains("Cyd"));
    assert!(ok(&["restore", &id, "--actor", "ann"]).contains("restored"));
    // the input file is read by the client, and so is standard input
    let rows = dir.path().join("more.csv");
    std::fs::write(&rows, "id,name\n10,Dee\n11,Eve\n").unwrap();
    assert!(ok(&["load", "author", rows.to_str().unwrap()]).contains("loaded 2 row(s)"));
    let piped = lazarus(
        &["--url", &url, "load", "author", "-"],
        &[],
        b"{\"id\": 12, \"name\": \"Fay\"}\n",
    );
    assert_eq!(piped.status.code(), Some(0), "{:?}", text(&piped));
    // a bad line: the same failure as on the store, nothing loaded
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"id\": 13, \"nme\": \"x\"}\n").unwrap();
    let o = there(&url, &["load", "author", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothing was loaded"));
    // a schema file is the client's too
    let more = dir.path().join("more.json");
    std::fs::write(
        &more,
        r#"{"tables": [{"name": "tag", "primary_key": "id",
            "columns": [{"name": "id", "type": "int"}, {"name": "label", "type": "text"}]}]}"#,
    )
    .unwrap();
    assert!(ok(&["schema", "apply", more.to_str().unwrap()]).contains("schema applied"));
    assert!(ok(&["schema", "show"]).contains("table tag"));
    // LAZARUS_ACTOR is the client's: recorded with the deletion made through the server
    let deleted = lazarus(
        &["--url", &url, "--json", "delete", "author", "10"],
        &[("LAZARUS_ACTOR", "client-side")],
        b"",
    );
    assert_eq!(deleted.status.code(), Some(0), "{:?}", text(&deleted));
    let trash = ok(&["trash"]);
    assert!(trash.contains("client-side"), "{trash}");
    let doc: serde_json::Value = serde_json::from_slice(&deleted.stdout).unwrap();
    let d10 = doc["deletion"].as_str().unwrap().to_string();
    // a purge asks first; without a terminal it refuses as it does on the store
    let o = there(&url, &["purge", &d10, "--actor", "ann"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a terminal"));
    assert!(ok(&["purge", &d10, "--actor", "ann", "--dry-run"]).contains("author"));
    ok(&["purge", &d10, "--actor", "ann", "--yes"]);
    ok(&["erase", "author", "11", "--actor", "ann", "--yes"]);
    ok(&["checkpoint"]);
    // undo the update of author 3
    let log: serde_json::Value =
        serde_json::from_str(&ok(&["--json", "log", "--limit", "100"])).unwrap();
    let update_tx = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "update" && e["table"] == "author")
        .map(|e| e["tx"].as_u64().unwrap())
        .unwrap();
    ok(&["undo", &update_tx.to_string(), "--actor", "ann"]);
    // export FILE writes the client's file
    let exported = dir.path().join("log.jsonl");
    assert!(ok(&["export", exported.to_str().unwrap()]).contains("exported"));
    let lines = std::fs::read_to_string(&exported).unwrap().lines().count();
    assert!(lines > 10, "{lines}");
    let verdict = ok(&["verify"]);
    assert!(verdict.starts_with("ok"), "{verdict}");
    server.stop();
    // every write is in the store, which opens again here
    let authors = String::from_utf8_lossy(&here(&db, &["scan", "author"]).stdout).into_owned();
    for name in ["Ann", "Bo", "Cy", "Fay"] {
        assert!(authors.contains(name), "{name}: {authors}");
    }
    assert!(!authors.contains("Cyd"), "the update was undone: {authors}");
    assert!(!authors.contains("Dee"), "purged: {authors}");
    assert!(!authors.contains("Eve"), "erased: {authors}");
    assert_eq!(
        here(&db, &["get", "author", "11"]).status.code(),
        Some(1),
        "erased"
    );
    assert_eq!(here(&db, &["verify"]).status.code(), Some(0));
    // the exported log makes the same store
    let copy = dir.path().join("copy");
    assert!(here(&copy, &["import", exported.to_str().unwrap()])
        .status
        .success());
    let scan_copy = String::from_utf8_lossy(&here(&copy, &["scan", "author"]).stdout).into_owned();
    assert_eq!(scan_copy, authors);
}

#[test]
fn servers_refuse_what_they_should_over_url() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = store(dir.path());
    // nothing listening
    let port = free_port();
    let (code, out, err) = text(&there(&format!("http://127.0.0.1:{port}"), &["trash"]));
    assert_eq!(code, Some(2));
    assert!(out.is_empty());
    assert!(err.contains("cannot reach"), "{err}");
    let (code, _, err) = text(&there("ftp://example", &["trash"]));
    assert_eq!(code, Some(2));
    assert!(err.contains("http://HOST:PORT"), "{err}");

    // read-only: reads answer, writes are refused and write nothing
    let server = Server::start(&db, &["--read-only"]);
    assert_eq!(
        there(&server.url, &["get", "author", "2"]).status.code(),
        Some(0)
    );
    let (code, _, err) = text(&there(
        &server.url,
        &["insert", "author", r#"{"id": 9, "name": "No"}"#],
    ));
    assert_eq!(code, Some(2));
    assert!(err.contains("read-only"), "{err}");
    let (code, _, err) = text(&there(&server.url, &["--json", "delete", "author", "2"]));
    assert_eq!(code, Some(2));
    let e: serde_json::Value = serde_json::from_str(err.trim()).unwrap();
    assert_eq!(e["error"], "read_only");
    assert!(e["message"].as_str().unwrap().contains("read-only"));
    // a dry run writes nothing: allowed
    assert_ne!(
        there(&server.url, &["restore-to", "3", "--dry-run"])
            .status
            .code(),
        Some(2)
    );
    server.stop();

    // commands that need the store closed, a new store or the server's files
    let server = Server::start(&db, &[]);
    for (args, needle) in [
        (vec!["compact"], "needs it closed"),
        (vec!["import", "x.jsonl"], "new store"),
        (vec!["demo"], "store of its own"),
        (vec!["backup", "/tmp/x"], "export"),
        (vec!["serve"], "without --url"),
    ] {
        let (code, out, err) = text(&there(&server.url, &args));
        assert_eq!(code, Some(2), "{args:?}");
        assert!(out.is_empty());
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    server.stop();

    // a token: refused without it, accepted with --token-file or LAZARUS_TOKEN
    let token = dir.path().join("token");
    std::fs::write(&token, "a-long-enough-secret-token\n").unwrap();
    let server = Server::start(&db, &["--token-file", token.to_str().unwrap()]);
    let (code, _, err) = text(&there(&server.url, &["trash"]));
    assert_eq!(code, Some(2));
    assert!(err.contains("LAZARUS_TOKEN"), "{err}");
    let with_file = lazarus(
        &[
            "--url",
            &server.url,
            "--token-file",
            token.to_str().unwrap(),
            "trash",
        ],
        &[],
        b"",
    );
    assert_eq!(with_file.status.code(), Some(0), "{:?}", text(&with_file));
    let with_env = lazarus(
        &["--url", &server.url, "trash"],
        &[("LAZARUS_TOKEN", "a-long-enough-secret-token")],
        b"",
    );
    assert_eq!(with_env.status.code(), Some(0));
    assert_eq!(with_env.stdout, with_file.stdout);
    server.stop();
    // nothing was written by the refusals
    let (_, authors, _) = text(&here(&db, &["scan", "author"]));
    assert!(!authors.contains("No"));
    assert!(authors.contains("Bo"));
}

#[test]
fn demo_serve_tells_the_story_then_serves_its_store_with_a_deletion_in_the_trash() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let demo = Command::new(BIN)
        .args(["demo", "--serve", "--addr", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "the demo's server did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    let trash = there(&url, &["--json", "trash"]);
    assert_eq!(trash.status.code(), Some(0), "{:?}", text(&trash));
    let doc: serde_json::Value = serde_json::from_slice(&trash.stdout).unwrap();
    let list = doc.as_array().unwrap();
    assert_eq!(list.len(), 1, "{doc}");
    let id = list[0]["deletion"].as_str().unwrap().to_string();
    let restored = there(&url, &["restore", &id, "--actor", "tester"]);
    assert_eq!(restored.status.code(), Some(0), "{:?}", text(&restored));
    assert_eq!(
        there(&url, &["get", "a", "1"]).status.code(),
        Some(0),
        "a1 is back"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &demo.id().to_string()])
        .status();
    let out = demo.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let story = String::from_utf8_lossy(&out.stdout);
    assert!(story.contains("For the trash page"), "{story}");
    assert!(story.contains(&id), "{story}");
    assert!(story.contains("stopped serving"), "{story}");
}
