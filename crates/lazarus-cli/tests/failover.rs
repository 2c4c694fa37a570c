//! A failover under writers: a store on a PostgreSQL primary with a synchronous standby, three
//! writer threads committing rows, the primary stopped hard and the standby promoted halfway;
//! the writers' connections fail, the next calls find the new primary (a URL naming both hosts,
//! `target_session_attrs=read-write`), and afterwards every acknowledged commit is there, the
//! log goes on without a gap, `verify` is clean and another process writes on.
//!
//! Run by `.ci/pg-failover`, which starts the two servers and gives the test
//! `LAZARUS_PG_FAILOVER_URL` and `LAZARUS_PG_FAILOVER_CMD` (what stops the primary and promotes
//! the standby).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lazarusdb::{Db, Readable, Row, Scan};

const BIN: &str = env!("CARGO_BIN_EXE_lazarus");

#[test]
#[ignore = "needs a primary and a synchronous standby: run by .ci/pg-failover"]
fn acknowledged_commits_survive_a_failover() {
    let url = std::env::var("LAZARUS_PG_FAILOVER_URL").expect("LAZARUS_PG_FAILOVER_URL");
    let failover = std::env::var("LAZARUS_PG_FAILOVER_CMD").expect("LAZARUS_PG_FAILOVER_CMD");
    let store = format!("f_{}", uuid::Uuid::now_v7().simple());
    let db = Arc::new(Db::open_postgres(&url, &store).unwrap());
    db.apply_schema_file(
        r#"{"tables": [{"name": "account", "primary_key": "id",
            "columns": [{"name": "id", "type": "int"}, {"name": "email", "type": "text"}],
            "unique": [["email"]]}]}"#,
    )
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let failed = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (db, stop, acknowledged, failed) = (
                db.clone(),
                stop.clone(),
                acknowledged.clone(),
                failed.clone(),
            );
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let email = format!("w{w}-{i}@x");
                    i += 1;
                    match db.insert("account", Row::new().with("email", email.as_str())) {
                        Ok(_) => acknowledged.lock().unwrap().push(email),
                        Err(e) => {
                            // the failover: a storage error, then the next call reconnects
                            assert_eq!(e.kind(), "storage", "{e}");
                            failed.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let before = acknowledged.lock().unwrap().len();
    let status = std::process::Command::new("bash")
        .arg(&failover)
        .status()
        .unwrap();
    assert!(status.success(), "the failover script failed");
    // the writers go on against the promoted standby
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < before + 50 {
        assert!(
            std::time::Instant::now() < deadline,
            "no commits after the failover"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    eprintln!(
        "{} commits acknowledged ({before} before the failover), {} calls failed during it",
        acknowledged.len(),
        failed.load(Ordering::Relaxed)
    );
    assert!(
        failed.load(Ordering::Relaxed) > 0,
        "no call met the failover"
    );
    // every acknowledged commit is on the new primary
    let stored: std::collections::HashSet<String> = db
        .scan("account", Scan::all())
        .unwrap()
        .iter()
        .map(|r| {
            r.get("email")
                .and_then(|v| v.as_text())
                .unwrap()
                .to_string()
        })
        .collect();
    for email in &acknowledged {
        assert!(
            stored.contains(email),
            "{email} was acknowledged and is gone"
        );
    }
    // the log goes on without a gap, and the views equal it
    let changes = db.changes(1, None).unwrap();
    assert!(changes.windows(2).all(|w| w[1].lsn == w[0].lsn + 1));
    assert!(changes.windows(2).all(|w| w[1].tx >= w[0].tx));
    assert!(db.verify().unwrap().is_ok());
    // another process writes on
    let out = std::process::Command::new(BIN)
        .arg("--db")
        .arg(format!("{url}&store={store}"))
        .args(["insert", "account", r#"{"email": "after@x"}"#])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(db.count("account").unwrap() as usize, stored.len() + 1);
}
