//! The trash page in a real browser: `browser/trash.mjs` drives Debian's headless Chromium
//! (through playwright-core) against a server started here, then the store is checked through
//! the library. Screenshots go to `target/browser-shots/`.
//!
//! Needs `/usr/bin/chromium` and `npm ci` in `crates/lazarus-server/browser`; without them the
//! test says so and passes, unless `LAZARUS_BROWSER_TESTS=1` (CI sets it), when it fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use lazarus_server::{router, ServerOptions};
use lazarusdb::{ColumnDef, ColumnType, Db, OnDelete, Readable, Row, TableBuilder};

fn ready() -> Result<(), String> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Err(format!(
            "no Chromium at {chromium} (apt-get install chromium)"
        ));
    }
    if !here.join("node_modules/playwright-core").exists() {
        return Err(format!(
            "no playwright-core: run `npm ci` in {}",
            here.display()
        ));
    }
    Ok(())
}

#[test]
fn the_trash_page_in_a_browser() {
    if let Err(why) = ready() {
        if std::env::var("LAZARUS_BROWSER_TESTS").as_deref() == Ok("1") {
            panic!("the browser test cannot run: {why}");
        }
        eprintln!("skipped: {why}");
        return;
    }
    let db = Db::memory().unwrap();
    db.apply_schema(&[
        TableBuilder::new("author")
            .column(("id", ColumnType::Int))
            .column(ColumnDef::new("name", ColumnType::Text).nullable())
            .primary_key("id")
            .build(),
        TableBuilder::new("book")
            .column(("id", ColumnType::Int))
            .column(("author_id", ColumnType::Int))
            .column(("title", ColumnType::Text))
            .primary_key("id")
            .foreign_key("author_id", "author", OnDelete::Cascade)
            .build(),
    ])
    .unwrap();
    for (id, name) in [(1, "Ursula"), (2, "Octavia")] {
        db.insert("author", Row::new().with("id", id).with("name", name))
            .unwrap();
    }
    for (id, author, title) in [
        (10, 1, "The Lathe of Heaven"),
        (11, 1, "The Dispossessed"),
        (20, 2, "Kindred"),
    ] {
        db.insert(
            "book",
            Row::new()
                .with("id", id)
                .with("author_id", author)
                .with("title", title),
        )
        .unwrap();
    }
    db.update("author", 1, Row::new().with("name", "Ursula K. Le Guin"))
        .unwrap();
    let gone = db
        .delete_with(
            "author",
            1,
            &lazarusdb::Audit::by("alice").because("cleanup"),
        )
        .unwrap();
    let db = Arc::new(db);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(db.clone(), ServerOptions::default());
    rt.spawn(async move { axum::serve(listener, app).await });

    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shots = here.join("../../target/browser-shots");
    let out = Command::new("node")
        .arg(here.join("browser/trash.mjs"))
        .arg(format!("http://{addr}/"))
        .arg(&shots)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["ok"], serde_json::json!(true), "{report}");
    // what the clicks did, seen through the library
    assert!(
        db.get("book", 10).unwrap().is_some(),
        "the restore brought the books back"
    );
    assert_eq!(db.deletion(gone.deletion).unwrap().remaining, 0);
    let trash = db.trash(&Default::default()).unwrap();
    assert!(trash.iter().any(
        |d| d.reason.as_deref() == Some("from elsewhere") && d.actor.as_deref() == Some("cli")
    ));
    let restored_by = db.history("author", 1).unwrap();
    assert_eq!(
        restored_by.last().unwrap().actor.as_deref(),
        Some("trash page")
    );
    assert!(db.verify().unwrap().is_ok());
    for shot in ["trash.png", "dry-run.png", "history.png", "phone.png"] {
        assert!(shots.join(shot).exists(), "{shot}");
    }
}
