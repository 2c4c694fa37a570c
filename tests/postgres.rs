//! The PostgreSQL engine under failure and between engines: connections the server drops are
//! an error for the call that meets them and made anew for the next, with nothing half written;
//! a store exported from an embedded engine and imported into PostgreSQL (and back) answers the
//! same (log, live rows, trash, history, reads as of past points).
//!
//! The server comes from `LAZARUS_PG_URL` (see `tests/common`).
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use lazarusdb::{
    At, Audit, ColumnType, Db, EngineKind, OnDelete, Options, Readable, RestorePolicy, Row, Scan,
    TableBuilder, TrashQuery,
};

fn schema(db: &Db) {
    db.create_table(
        TableBuilder::new("author")
            .column(("id", ColumnType::Int))
            .column(("name", ColumnType::Text))
            .primary_key("id"),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("book")
            .column(("id", ColumnType::Int))
            .column(("author_id", ColumnType::Int))
            .column(("title", ColumnType::Text))
            .primary_key("id")
            .index(["title"])
            .foreign_key("author_id", "author", OnDelete::Cascade),
    )
    .unwrap();
}

/// Ends every connection of the store `store` from the server's side.
fn drop_connections(url: &str, store: &str) -> u64 {
    let mut admin = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let rows = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&format!("lazarusdb {store}")],
        )
        .unwrap();
    rows.len() as u64
}

#[test]
fn connections_the_server_drops_are_made_anew() {
    let Some(url) = common::pg_url() else { return };
    let store = common::pg_store();
    let db = Db::open_postgres(&url, &store).unwrap();
    schema(&db);
    db.insert("author", Row::new().with("name", "Ann")).unwrap();
    for round in 0..3 {
        assert!(drop_connections(&url, &store) > 0, "round {round}");
        // the call that meets a dead connection may fail, with a storage error...
        match db.get("author", 1) {
            Ok(row) => assert!(row.is_some()),
            Err(e) => assert_eq!(e.kind(), "storage", "{e}"),
        }
        // ...and the next one connects again
        assert!(db.get("author", 1).unwrap().is_some(), "round {round}");
        drop_connections(&url, &store);
        let written = db.insert("author", Row::new().with("name", format!("after {round}")));
        if let Err(e) = &written {
            assert_eq!(e.kind(), "storage", "{e}");
        }
        db.insert("author", Row::new().with("name", format!("again {round}")))
            .unwrap();
    }
    // nothing half written, nothing lost that was acknowledged
    let names: Vec<String> = db
        .scan("author", Scan::all())
        .unwrap()
        .iter()
        .map(|r| r.get("name").and_then(|v| v.as_text()).unwrap().to_string())
        .collect();
    for round in 0..3 {
        assert!(names.contains(&format!("again {round}")), "{names:?}");
    }
    assert!(db.verify().unwrap().is_ok());
    db.close().unwrap();
}

/// A store with history: inserts, updates, a cascade in the trash, a restored deletion.
fn fill(db: &Db) {
    schema(db);
    for a in 1..=3 {
        db.insert("author", Row::new().with("name", format!("author {a}")))
            .unwrap();
        for b in 0..3 {
            db.insert(
                "book",
                Row::new()
                    .with("author_id", a)
                    .with("title", format!("book {a}.{b}")),
            )
            .unwrap();
        }
    }
    db.update("book", 2, Row::new().with("title", "renamed"))
        .unwrap();
    let gone = db
        .delete_with("author", 1, &Audit::by("ann").because("test"))
        .unwrap();
    db.delete("book", 8).unwrap();
    db.restore(gone.deletion, RestorePolicy::Refuse).unwrap();
    db.delete("author", 2).unwrap();
}

/// What a store answers: its log, live rows, trash, a history and reads as of every point.
fn answers(db: &Db) -> String {
    let mut out = Vec::new();
    let mut log = Vec::new();
    db.export_log(&mut log).unwrap();
    out.push(String::from_utf8(log).unwrap());
    out.push(format!("{:?}", db.dump().unwrap()));
    let trash: Vec<_> = db
        .trash(&TrashQuery::all())
        .unwrap()
        .into_iter()
        .map(|d| (d.id, d.roots, d.rows, d.actor, d.reason))
        .collect();
    out.push(format!("{trash:?}"));
    out.push(format!("{:?}", db.history("book", 2).unwrap()));
    for lsn in 1..=db.last_lsn() {
        let view = db.as_of(At::Lsn(lsn)).unwrap();
        // (before the tables existed these are errors: the same ones on every engine)
        out.push(format!(
            "{lsn}: {:?} {:?} {:?}",
            view.scan("book", Scan::all()),
            view.children("author", 1, "book"),
            view.lookup("book", &["title"], &["renamed".into()])
        ));
    }
    out.join("\n")
}

#[test]
fn a_store_moves_to_postgres_and_back_answering_the_same() {
    let Some(url) = common::pg_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let embedded = Db::open_with(
        dir.path().join("a"),
        Options::default().engine(EngineKind::FjallRedb),
    )
    .unwrap();
    fill(&embedded);
    let want = answers(&embedded);
    let mut log = Vec::new();
    embedded.export_log(&mut log).unwrap();

    let pg = Db::open_postgres(&url, &common::pg_store()).unwrap();
    pg.import_log(&mut log.as_slice()).unwrap();
    assert_eq!(pg.engine(), EngineKind::Postgres);
    assert_eq!(answers(&pg), want);
    assert!(pg.verify().unwrap().is_ok());
    let mut back_log = Vec::new();
    pg.export_log(&mut back_log).unwrap();
    assert_eq!(back_log, log, "the log comes back byte for byte");

    let back = Db::open_with(dir.path().join("b"), Options::default()).unwrap();
    back.import_log(&mut back_log.as_slice()).unwrap();
    assert_eq!(answers(&back), want);
    pg.close().unwrap();
    back.close().unwrap();
    embedded.close().unwrap();
}
