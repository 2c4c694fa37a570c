//! Limits: very large rows, very long keys, a deep cascade (a chain 10,000 long) and a wide
//! deletion (100,000 children). Each either works or fails with a clear error — no stack
//! overflow, no panic, nothing half written.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use lazarusdb::{
    ColumnDef, ColumnType, Db, Error, OnDelete, Readable, RestorePolicy, Row, TableBuilder, Value,
};

fn notes(db: &Db) {
    db.create_table(
        TableBuilder::new("note")
            .column(("id", ColumnType::Text))
            .column(("body", ColumnType::Text))
            .column(ColumnDef::new("tag", ColumnType::Text).nullable())
            .primary_key("id")
            .unique(["tag"]),
    )
    .unwrap();
}

#[test]
fn large_rows_work_and_oversized_ones_are_refused_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("s")).unwrap();
    notes(&db);
    let big = "x".repeat(10 << 20);
    db.insert(
        "note",
        Row::new().with("id", "big").with("body", big.clone()),
    )
    .unwrap();
    assert_eq!(
        db.get("note", "big").unwrap().unwrap().get("body"),
        Some(&Value::Text(big))
    );

    let before = db.last_lsn();
    let mut tx = db.begin().unwrap();
    let huge = "y".repeat(70 << 20);
    let err = tx
        .insert("note", Row::new().with("id", "huge").with("body", huge))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    // the transaction goes on: the failed insert staged nothing
    tx.insert("note", Row::new().with("id", "small").with("body", "ok"))
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(db.last_lsn(), before + 1);
    assert!(db.verify().unwrap().is_ok());
}

#[test]
fn long_keys_are_refused_with_a_clear_error() {
    let db = Db::memory().unwrap();
    notes(&db);
    let before = db.last_lsn();
    let err = db
        .insert(
            "note",
            Row::new().with("id", "k".repeat(2000)).with("body", ""),
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput(m) if m.contains("limit")),
        "{err}"
    );
    let err = db
        .insert(
            "note",
            Row::new()
                .with("id", "a")
                .with("body", "")
                .with("tag", "t".repeat(5000)),
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput(m) if m.contains("limit")),
        "{err}"
    );
    assert_eq!(db.last_lsn(), before);
    db.insert(
        "note",
        Row::new().with("id", "k".repeat(1000)).with("body", ""),
    )
    .unwrap();
    let err = db
        .update(
            "note",
            "k".repeat(1000),
            Row::new().with("tag", "t".repeat(5000)),
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput(m) if m.contains("limit")),
        "{err}"
    );
}

#[test]
fn a_chain_ten_thousand_deep_cascades_and_restores() {
    let db = Db::memory().unwrap();
    db.create_table(
        TableBuilder::new("link")
            .column(("id", ColumnType::Int))
            .column(ColumnDef::new("prev", ColumnType::Int).nullable())
            .primary_key("id")
            .foreign_key("prev", "link", OnDelete::Cascade),
    )
    .unwrap();
    db.transaction(|tx| {
        tx.insert("link", Row::new())?;
        for i in 1..10_000i64 {
            tx.insert("link", Row::new().with("prev", i))?;
        }
        Ok::<_, Error>(())
    })
    .unwrap();
    let d = db.delete("link", 1).unwrap();
    assert_eq!(d.rows.len(), 10_000);
    assert_eq!(db.count("link").unwrap(), 0);
    let plan = db.restore(d.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(plan.rows.len(), 10_000);
    assert_eq!(db.count("link").unwrap(), 10_000);
}

#[test]
fn a_deletion_of_one_hundred_thousand_children() {
    let n: i64 = if std::env::var("LAZARUS_LONG").is_ok_and(|v| v == "1") {
        100_000
    } else {
        20_000
    };
    let db = Db::memory().unwrap();
    db.create_table(
        TableBuilder::new("p")
            .column(("id", ColumnType::Int))
            .primary_key("id"),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("c")
            .column(("id", ColumnType::Int))
            .column(("p_id", ColumnType::Int))
            .primary_key("id")
            .foreign_key("p_id", "p", OnDelete::Cascade),
    )
    .unwrap();
    db.insert("p", Row::new()).unwrap();
    for chunk in 0..(n / 10_000) {
        db.transaction(|tx| {
            for _ in 0..10_000 {
                tx.insert("c", Row::new().with("p_id", 1))?;
            }
            Ok::<_, Error>(chunk)
        })
        .unwrap();
    }
    let d = db.delete("p", 1).unwrap();
    assert_eq!(d.rows.len() as i64, n + 1);
    assert_eq!(db.count("c").unwrap(), 0);
    db.restore(d.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(db.count("c").unwrap() as i64, n);
}
