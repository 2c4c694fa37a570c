//! Several processes, one store on PostgreSQL: `lazarus` processes writing at once take turns
//! (gap-free LSNs and transaction ids, in commit order), one unique value raced by many goes to
//! one, a schema change made by one process is seen by another that has the store open, and a
//! subscriber in one process sees every process's commits once, in order.
//!
//! The server comes from `LAZARUS_PG_URL`; without one these tests say so and pass, except
//! under CI (`CI` set), where a missing server fails them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::{Command, Output};
use std::time::Duration;

use lazarusdb::{Db, Readable, Row, Scan};

const BIN: &str = env!("CARGO_BIN_EXE_lazarus");

const SCHEMA: &str = r#"{"tables": [{"name": "account", "primary_key": "id",
  "columns": [{"name": "id", "type": "int"}, {"name": "email", "type": "text"},
              {"name": "who", "type": "text"}],
  "unique": [["email"]]}]}"#;

fn pg_url() -> Option<String> {
    match std::env::var("LAZARUS_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set and LAZARUS_PG_URL is not: the PostgreSQL tests need a server"
            );
            eprintln!("LAZARUS_PG_URL is not set: not run on PostgreSQL here");
            None
        }
    }
}

/// A fresh store with the schema: (the `--db` URL of it, the store opened here).
fn store(url: &str) -> (String, Db) {
    let name = format!("t_{}", uuid::Uuid::now_v7().simple());
    let db = Db::open_postgres(url, &name).unwrap();
    db.apply_schema_file(SCHEMA).unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    (format!("{url}{sep}store={name}"), db)
}

fn lazarus(db_url: &str, args: &[&str]) -> std::process::Child {
    Command::new(BIN)
        .arg("--db")
        .arg(db_url)
        .args(args)
        .env_remove("LAZARUS_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: std::process::Child) -> Output {
    child.wait_with_output().unwrap()
}

#[test]
fn processes_writing_at_once_take_turns_without_gaps() {
    let Some(url) = pg_url() else { return };
    let (db_url, db) = store(&url);
    let start = db.last_lsn();
    let mut feed = db.subscribe(start).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (writers, rows) = (4, 25);
    let children: Vec<_> = (0..writers)
        .map(|w| {
            let file = dir.path().join(format!("rows{w}.jsonl"));
            let lines: String = (0..rows)
                .map(|i| format!("{{\"email\": \"w{w}-{i}@x\", \"who\": \"writer {w}\"}}\n"))
                .collect();
            std::fs::write(&file, lines).unwrap();
            // one transaction a row
            lazarus(
                &db_url,
                &["load", "account", file.to_str().unwrap(), "--batch", "1"],
            )
        })
        .collect();
    // this process writes too, meanwhile
    for i in 0..rows {
        db.insert(
            "account",
            Row::new()
                .with("email", format!("here-{i}@x"))
                .with("who", "here"),
        )
        .unwrap();
    }
    for c in children {
        let out = finish(c);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let total = (writers + 1) * rows;
    assert_eq!(db.count("account").unwrap(), total as u64);
    // the keys the store assigned: each once
    let ids: Vec<i64> = db
        .scan("account", Scan::all())
        .unwrap()
        .iter()
        .map(|r| r.get("id").and_then(|v| v.as_int()).unwrap())
        .collect();
    assert_eq!(ids, (1..=total as i64).collect::<Vec<_>>());
    // the log: gap-free LSNs, one transaction a row, transaction ids in LSN order
    let changes = db.changes(start + 1, None).unwrap();
    assert_eq!(changes.len(), total);
    for (i, c) in changes.iter().enumerate() {
        assert_eq!(c.lsn, start + 1 + i as u64);
    }
    let txs: Vec<u64> = changes.iter().map(|c| c.tx).collect();
    assert!(txs.windows(2).all(|w| w[1] == w[0] + 1), "{txs:?}");
    assert!(db.verify().unwrap().is_ok());
    // the subscriber here saw every process's commits, once, in order
    let mut seen = Vec::new();
    while seen.len() < total {
        match feed.next_timeout(Duration::from_secs(10)).unwrap() {
            Some(c) => seen.push(c.lsn),
            None => panic!("the feed stopped at {} of {total}", seen.len()),
        }
    }
    assert_eq!(seen, changes.iter().map(|c| c.lsn).collect::<Vec<_>>());
    db.close().unwrap();
}

#[test]
fn a_unique_value_raced_by_processes_goes_to_exactly_one() {
    let Some(url) = pg_url() else { return };
    let (db_url, db) = store(&url);
    let children: Vec<_> = (0..6)
        .map(|i| {
            lazarus(
                &db_url,
                &[
                    "insert",
                    "account",
                    &format!("{{\"email\": \"same@x\", \"who\": \"racer {i}\"}}"),
                ],
            )
        })
        .collect();
    let outs: Vec<Output> = children.into_iter().map(finish).collect();
    let won = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(won, 1, "exactly one insert wins");
    for o in outs.iter().filter(|o| !o.status.success()) {
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("unique") || err.contains("constraint"),
            "{err}"
        );
    }
    assert_eq!(db.count("account").unwrap(), 1);
    assert!(db.verify().unwrap().is_ok());
    db.close().unwrap();
}

#[test]
fn a_schema_change_by_one_process_is_seen_by_another_with_the_store_open() {
    let Some(url) = pg_url() else { return };
    let (db_url, db) = store(&url);
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("more.json");
    std::fs::write(
        &schema,
        r#"{"tables": [{"name": "note", "primary_key": "id",
            "columns": [{"name": "id", "type": "int"}, {"name": "text", "type": "text"}]}]}"#,
    )
    .unwrap();
    let out = finish(lazarus(
        &db_url,
        &["schema", "apply", schema.to_str().unwrap()],
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = finish(lazarus(
        &db_url,
        &["insert", "note", r#"{"text": "from there"}"#],
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // this process, open all along, reads the new table (through a snapshot too) and writes
    // to it
    let snap = db.snapshot().unwrap();
    assert_eq!(snap.count("note").unwrap(), 1);
    drop(snap);
    let got = db.get("note", 1).unwrap().unwrap();
    assert_eq!(
        got.get("text").and_then(|v| v.as_text()),
        Some("from there")
    );
    let mine = db
        .insert("note", Row::new().with("text", "from here"))
        .unwrap();
    assert_eq!(mine.get("id").and_then(|v| v.as_int()), Some(2));
    assert!(db.tables().unwrap().contains(&"note".to_string()));
    // and a deletion made there is in the trash here
    let out = finish(lazarus(
        &db_url,
        &["delete", "note", "1", "--actor", "there"],
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trash = db.trash(&lazarusdb::TrashQuery::all()).unwrap();
    assert_eq!(trash.len(), 1);
    db.restore(trash[0].id, lazarusdb::RestorePolicy::Refuse)
        .unwrap();
    assert_eq!(db.count("note").unwrap(), 2);
    assert!(db.verify().unwrap().is_ok());
    db.close().unwrap();
}

#[test]
fn writers_killed_mid_commit_leave_whole_transactions_and_lose_nothing_acknowledged() {
    let Some(url) = pg_url() else { return };
    let (db_url, db) = store(&url);
    let dir = tempfile::tempdir().unwrap();
    let (writers, rows, batch) = (3, 3000, 10);
    let mut loaders: Vec<_> = (0..writers)
        .map(|w| {
            let file = dir.path().join(format!("rows{w}.jsonl"));
            let lines: String = (0..rows)
                .map(|i| format!("{{\"email\": \"w{w}-{i:05}@x\", \"who\": \"writer {w}\"}}\n"))
                .collect();
            std::fs::write(&file, lines).unwrap();
            lazarus(
                &db_url,
                &[
                    "load",
                    "account",
                    file.to_str().unwrap(),
                    "--batch",
                    &batch.to_string(),
                ],
            )
        })
        .collect();
    // acknowledged commits of another process, made while the loaders write
    let mut acknowledged = Vec::new();
    for i in 0..5 {
        let email = format!("ack-{i}@x");
        let out = finish(lazarus(
            &db_url,
            &[
                "insert",
                "account",
                &format!("{{\"email\": \"{email}\", \"who\": \"acker\"}}"),
            ],
        ));
        if out.status.success() {
            acknowledged.push(email);
        }
    }
    assert_eq!(acknowledged.len(), 5);
    // every loader has committed something: then each is killed, mid-commit or between two
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let counts: Vec<usize> = (0..writers).map(|w| rows_of(&db, w).len()).collect();
        if counts.iter().all(|&c| c > 0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the loaders wrote nothing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for l in &mut loaders {
        let _ = l.kill(); // SIGKILL
    }
    for l in loaders {
        let _ = l.wait_with_output();
    }
    // whole transactions only: each loader's rows are its first k batches
    let mut cut_short = 0;
    for w in 0..writers {
        let got = rows_of(&db, w);
        assert_eq!(got.len() % batch, 0, "writer {w}: half a transaction");
        let want: Vec<String> = (0..got.len()).map(|i| format!("w{w}-{i:05}@x")).collect();
        assert_eq!(got, want, "writer {w}");
        if got.len() < rows {
            cut_short += 1;
        }
    }
    assert!(
        cut_short > 0,
        "no loader was killed before it finished: the test proves nothing"
    );
    for email in &acknowledged {
        let found = db
            .lookup("account", &["email"], &[email.as_str().into()])
            .unwrap();
        assert_eq!(found.len(), 1, "{email} was acknowledged");
    }
    // the log has no gap, and the store's other processes go on writing
    let changes = db.changes(1, None).unwrap();
    assert!(changes.windows(2).all(|w| w[1].lsn == w[0].lsn + 1));
    let out = finish(lazarus(
        &db_url,
        &["insert", "account", r#"{"email": "after@x", "who": "x"}"#],
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.verify().unwrap().is_ok());
    db.close().unwrap();
}

/// The emails of loader `w`'s rows, in order.
fn rows_of(db: &Db, w: usize) -> Vec<String> {
    let mut emails: Vec<String> = db
        .scan("account", Scan::all())
        .unwrap()
        .iter()
        .filter(|r| r.get("who").and_then(|v| v.as_text()) == Some(&format!("writer {w}")))
        .map(|r| {
            r.get("email")
                .and_then(|v| v.as_text())
                .unwrap()
                .to_string()
        })
        .collect();
    emails.sort();
    emails
}
