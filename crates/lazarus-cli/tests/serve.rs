//! `lazarus serve`: a second process reads and writes the store through it while it runs; it
//! refuses to listen beyond loopback without a token, and stops cleanly on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_lazarus");

const SCHEMA: &str = r#"{"tables": [{"name": "note", "primary_key": "id",
  "columns": [{"name": "id", "type": "int"}, {"name": "text", "type": "text"}]}]}"#;

/// One HTTP/1.1 request with `Connection: close`: (status, body).
fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.get(9..12)?.parse().ok()?;
    let body = out.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_second_process_works_on_the_store_through_serve() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s");
    let schema = dir.path().join("schema.json");
    std::fs::write(&schema, SCHEMA).unwrap();
    let made = Command::new(BIN)
        .args(["--db"])
        .arg(&db)
        .args(["schema", "apply"])
        .arg(&schema)
        .output()
        .unwrap();
    assert!(made.status.success());
    let port = free_port();
    let mut server = Command::new(BIN)
        .arg("--db")
        .arg(&db)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    while http(port, "GET", "/api/tables", "").is_none() {
        assert!(Instant::now() < until, "the server did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    // the store is held by the server: the command line on it is refused, the API answers
    let direct = Command::new(BIN)
        .arg("--db")
        .arg(&db)
        .args(["get", "note", "1"])
        .output()
        .unwrap();
    assert_eq!(direct.status.code(), Some(2));
    let (status, body) = http(
        port,
        "POST",
        "/api/rows/note",
        r#"{"row": {"text": "written through the server"}, "actor": "tester"}"#,
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(port, "GET", "/api/rows/note/1", "").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("written through the server"), "{body}");
    let (status, body) = http(port, "GET", "/api/rows/note/x", "").unwrap();
    assert_eq!(status, 400, "{body}");
    // a browser following the change feed stays connected...
    let mut feed = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        feed,
        "GET /api/changes?from=0 HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut first = [0u8; 12];
    feed.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    // ...and SIGTERM still stops the server: it ends the feed, closes the store and says so
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let until = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > until {
            let _ = server.kill();
            panic!("the server did not stop with a feed open");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(feed);
    let mut out = String::new();
    server
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{out}");
    assert!(out.contains("stopped serving"), "{out}");
    // the write is in the store, which opens again
    let got = Command::new(BIN)
        .arg("--db")
        .arg(&db)
        .args(["--json", "get", "note", "1"])
        .output()
        .unwrap();
    assert!(got.status.success());
    assert!(String::from_utf8_lossy(&got.stdout).contains("written through the server"));
}

#[test]
fn serve_refuses_what_it_should_before_opening_anything() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("none");
    for (args, needle) in [
        (vec!["serve", "--addr", "0.0.0.0:7070"], "token"),
        (vec!["serve", "--addr", "localhost"], "not an address"),
        (vec!["serve", "--addr", "127.0.0.1:0"], "no store at"),
    ] {
        let o = Command::new(BIN)
            .arg("--db")
            .arg(&db)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let short = dir.path().join("token");
    std::fs::write(&short, "abc\n").unwrap();
    let o = Command::new(BIN)
        .arg("--db")
        .arg(&db)
        .args(["serve", "--addr", "0.0.0.0:7070", "--token-file"])
        .arg(&short)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("shorter than 16"));
    assert!(!db.exists(), "nothing was created");
}
