//! Pins the engine core end to end on every engine: tables with a foreign key, inserts in a
//! transaction, partial updates, every read path (get, scan, index lookup and range, children,
//! parent), history, close and reopen, verify and rebuild.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use lazarusdb::{
    ChangeKind, ColumnDef, ColumnType, Db, EngineKind, IndexRange, OnDelete, Options, Readable,
    Row, Scan, TableBuilder, Value,
};

fn schema(db: &Db) {
    db.create_table(
        TableBuilder::new("author")
            .column(("id", ColumnType::Int))
            .column(("email", ColumnType::Text))
            .column(ColumnDef::new("name", ColumnType::Text).nullable())
            .primary_key("id")
            .unique(["email"]),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("book")
            .column(("id", ColumnType::Int))
            .column(("title", ColumnType::Text))
            .column(("author_id", ColumnType::Int))
            .column(ColumnDef::new("price", ColumnType::Float).with_default(9.5))
            .primary_key("id")
            .index(["title"])
            .foreign_key("author_id", "author", OnDelete::Cascade),
    )
    .unwrap();
}

fn fill(db: &Db) {
    db.transaction(|tx| {
        for i in 1..=3 {
            tx.insert("author", Row::new().with("email", format!("a{i}@x")))?;
        }
        for (i, t) in ["Dune", "Emma", "Alpha", "Zed"].iter().enumerate() {
            tx.insert(
                "book",
                Row::new()
                    .with("title", *t)
                    .with("author_id", if i < 2 { 1 } else { 2 }),
            )?;
        }
        Ok::<_, lazarusdb::Error>(())
    })
    .unwrap();
}

fn check(db: &Db) {
    assert_eq!(db.count("author").unwrap(), 3);
    let a2 = db.get("author", 2).unwrap().unwrap();
    assert_eq!(a2.get("email"), Some(&Value::from("a2@x")));
    assert_eq!(a2.get("name"), Some(&Value::Null));
    let b = db.get("book", 1).unwrap().unwrap();
    assert_eq!(b.get("price"), Some(&Value::Float(9.5)));
    let ids: Vec<i64> = db
        .scan("book", Scan::range(2..4))
        .unwrap()
        .iter()
        .map(|r| r.get("id").unwrap().as_int().unwrap())
        .collect();
    assert_eq!(ids, vec![2, 3]);
    let rev: Vec<i64> = db
        .scan("book", Scan::all().reverse().limit(2))
        .unwrap()
        .iter()
        .map(|r| r.get("id").unwrap().as_int().unwrap())
        .collect();
    assert_eq!(rev, vec![4, 3]);
    let titles: Vec<String> = db
        .lookup_range("book", &["title"], IndexRange::range("B".."F"))
        .unwrap()
        .iter()
        .map(|r| r.get("title").unwrap().as_text().unwrap().to_string())
        .collect();
    assert_eq!(titles, vec!["Dune", "Emma"]);
    assert_eq!(
        db.lookup("author", &["email"], &["a3@x".into()])
            .unwrap()
            .len(),
        1
    );
    assert_eq!(db.children("author", 1, "book").unwrap().len(), 2);
    assert_eq!(db.children("author", 3, "book").unwrap().len(), 0);
    let p = db.parent("book", 3, "author_id").unwrap().unwrap();
    assert_eq!(p.get("id"), Some(&Value::Int(2)));
}

fn run(options: Options) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    run_on(&|| Db::open_with(&path, options.clone()).unwrap());
}

/// The round trip on the store `open` opens (each call opens it again).
fn run_on(open: &dyn Fn() -> Db) {
    {
        let db = open();
        schema(&db);
        fill(&db);
        check(&db);
        let new = db
            .update("author", 1, Row::new().with("name", "Frank"))
            .unwrap();
        assert_eq!(new.get("email"), Some(&Value::from("a1@x")));
        let h = db.history("author", 1).unwrap();
        assert_eq!(
            h.iter().map(|c| c.kind).collect::<Vec<_>>(),
            vec![ChangeKind::Insert, ChangeKind::Update]
        );
        assert!(h[0].lsn < h[1].lsn && h[0].tx < h[1].tx);
        assert!(db.verify().unwrap().is_ok());
        db.close().unwrap();
    }
    let db = open();
    check(&db);
    assert_eq!(
        db.get("author", 1).unwrap().unwrap().get("name"),
        Some(&Value::from("Frank"))
    );
    let report = db.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.differences);
    assert_eq!(db.rebuild().unwrap(), report.events);
    check(&db);
    // a new row after reopen continues the key sequence
    let r = db
        .insert("author", Row::new().with("email", "new@x"))
        .unwrap();
    assert_eq!(r.get("id"), Some(&Value::Int(4)));
}

#[test]
fn fjall_store_round_trip() {
    run(Options::default().engine(EngineKind::Fjall));
}

#[test]
fn fjall_redb_store_round_trip() {
    run(Options::default().engine(EngineKind::FjallRedb));
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_store_round_trip() {
    #[path = "common/mod.rs"]
    mod common;
    let Some(url) = common::pg_url() else { return };
    let store = common::pg_store();
    run_on(&|| Db::open_postgres(&url, &store).unwrap());
}

#[test]
fn sled_store_round_trip() {
    run(Options::default().engine(EngineKind::Sled));
}

#[test]
fn memory_store_reads() {
    let db = Db::memory().unwrap();
    schema(&db);
    fill(&db);
    check(&db);
}
