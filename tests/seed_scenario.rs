//! The seed question answered: tables a(id, data1, data2) and b(id, data1, a_id → a cascade);
//! four a rows and four b rows; b3 deleted on its own, then a3, then a1 (taking b1 and b2 with
//! it). Live views show exactly a{2,4} and b{4} with no filter anywhere; restoring a3's deletion
//! brings back a3 but not b3 (deleted on its own earlier); restoring b3's deletion then brings it
//! back; restoring a1's deletion brings back a1, b1 and b2. Run on every engine.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use lazarusdb::{
    ChangeKind, ColumnType, Db, EngineKind, Error, OnDelete, Options, Readable, RestorePolicy, Row,
    Scan, TableBuilder, TrashQuery, Value,
};

fn ids(db: &Db, table: &str) -> Vec<i64> {
    db.scan(table, Scan::all())
        .unwrap()
        .iter()
        .map(|r| r.get("id").unwrap().as_int().unwrap())
        .collect()
}

fn setup(db: &Db) {
    db.create_table(
        TableBuilder::new("a")
            .column(("id", ColumnType::Int))
            .column(("data1", ColumnType::Text))
            .column(("data2", ColumnType::Text))
            .primary_key("id"),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("b")
            .column(("id", ColumnType::Int))
            .column(("data1", ColumnType::Text))
            .column(("a_id", ColumnType::Int))
            .primary_key("id")
            .foreign_key("a_id", "a", OnDelete::Cascade),
    )
    .unwrap();
    db.transaction(|tx| {
        for i in 1..=4 {
            tx.insert(
                "a",
                Row::new()
                    .with("data1", format!("a{i}d1"))
                    .with("data2", format!("a{i}d2")),
            )?;
        }
        for (i, a) in [1, 1, 3, 4].iter().enumerate() {
            tx.insert(
                "b",
                Row::new()
                    .with("data1", format!("b{}", i + 1))
                    .with("a_id", *a),
            )?;
        }
        Ok::<_, Error>(())
    })
    .unwrap();
}

fn story(db: &Db) {
    setup(db);
    let d_b3 = db.delete("b", 3).unwrap();
    assert_eq!(d_b3.rows.len(), 1);
    let d_a3 = db.delete("a", 3).unwrap();
    assert_eq!(d_a3.rows.len(), 1, "b3 was already deleted on its own");
    let d_a1 = db.delete("a", 1).unwrap();
    let taken: Vec<(String, Value)> = d_a1
        .rows
        .iter()
        .map(|r| (r.table.clone(), r.pk.clone()))
        .collect();
    assert_eq!(
        taken,
        vec![
            ("a".to_string(), Value::Int(1)),
            ("b".to_string(), Value::Int(1)),
            ("b".to_string(), Value::Int(2))
        ]
    );

    assert_eq!(ids(db, "a"), vec![2, 4]);
    assert_eq!(ids(db, "b"), vec![4]);
    assert_eq!(db.get("a", 1).unwrap(), None);
    assert_eq!(db.children("a", 1, "b").unwrap(), vec![]);
    assert_eq!(
        db.parent("b", 4, "a_id").unwrap().unwrap().get("id"),
        Some(&Value::Int(4))
    );

    // the trash, newest first
    let trash = db.trash(&TrashQuery::all()).unwrap();
    let order: Vec<_> = trash.iter().map(|d| d.id).collect();
    assert_eq!(order, vec![d_a1.deletion, d_a3.deletion, d_b3.deletion]);
    assert_eq!(trash[0].row_count(), 3);
    assert_eq!(db.find_deletion("b", 2).unwrap(), Some(d_a1.deletion));
    let rows = db.deletion_rows(d_a1.deletion).unwrap();
    assert_eq!(rows[0].row.get("data1"), Some(&Value::from("a1d1")));

    // a new row cannot point at a deleted parent
    let err = db
        .insert("b", Row::new().with("data1", "x").with("a_id", 1))
        .unwrap_err();
    assert!(matches!(err, Error::ConstraintViolation { .. }), "{err}");

    db.restore(d_a3.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(ids(db, "a"), vec![2, 3, 4]);
    assert_eq!(
        ids(db, "b"),
        vec![4],
        "b3 was deleted on its own: it stays deleted"
    );

    db.restore(d_b3.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(ids(db, "b"), vec![3, 4]);

    db.restore(d_a1.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(ids(db, "a"), vec![1, 2, 3, 4]);
    assert_eq!(ids(db, "b"), vec![1, 2, 3, 4]);
    assert_eq!(
        db.get("b", 2).unwrap().unwrap().get("data1"),
        Some(&Value::from("b2"))
    );
    assert!(db.trash(&TrashQuery::all()).unwrap().is_empty());

    // restoring twice is a clear error
    let err = db
        .restore(d_a1.deletion, RestorePolicy::Refuse)
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyRestored(_)), "{err}");

    // history shows insert, tombstone (with its deletion) and restore
    let h = db.history("b", 1).unwrap();
    let kinds: Vec<ChangeKind> = h.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        vec![ChangeKind::Insert, ChangeKind::Delete, ChangeKind::Restore]
    );
    assert_eq!(h[1].deletion, Some(d_a1.deletion));
    assert_eq!(h[2].deletion, Some(d_a1.deletion));

    // a restored row can be deleted again: a new deletion
    let again = db.delete("a", 1).unwrap();
    assert_ne!(again.deletion, d_a1.deletion);
    assert_eq!(again.rows.len(), 3);
    let report = db.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.differences);
}

#[test]
fn seed_story_in_memory() {
    story(&Db::memory().unwrap());
}

/// The story on a store of `engine`, closed, then read again after a reopen and a rebuild.
fn story_survives_reopen(engine: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    {
        let db = Db::open_with(&path, Options::default().engine(engine)).unwrap();
        story(&db);
        db.close().unwrap();
    }
    let db = Db::open(&path).unwrap();
    assert_eq!(db.engine(), engine);
    assert_eq!(ids(&db, "a"), vec![2, 3, 4]);
    assert_eq!(ids(&db, "b"), vec![3, 4]);
    assert_eq!(db.trash(&TrashQuery::all()).unwrap().len(), 1);
    assert!(db.verify().unwrap().is_ok());
    db.rebuild().unwrap();
    assert_eq!(ids(&db, "b"), vec![3, 4]);
}

#[test]
fn seed_story_on_fjall_survives_reopen() {
    story_survives_reopen(EngineKind::Fjall);
}

#[test]
fn seed_story_on_fjall_redb_survives_reopen() {
    story_survives_reopen(EngineKind::FjallRedb);
}

#[test]
fn seed_story_on_sled() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_with(
        dir.path().join("s"),
        Options::default().engine(EngineKind::Sled),
    )
    .unwrap();
    story(&db);
}

/// The story on PostgreSQL, then read again from a second opening of the same store.
#[cfg(feature = "postgres")]
#[test]
fn seed_story_on_postgres_survives_reopen() {
    #[path = "common/mod.rs"]
    mod common;
    let Some(url) = common::pg_url() else { return };
    let store = common::pg_store();
    {
        let db = Db::open_postgres(&url, &store).unwrap();
        story(&db);
        db.close().unwrap();
    }
    let db = Db::open_postgres(&url, &store).unwrap();
    assert_eq!(db.engine(), EngineKind::Postgres);
    assert_eq!(ids(&db, "a"), vec![2, 3, 4]);
    assert_eq!(ids(&db, "b"), vec![3, 4]);
    assert_eq!(db.trash(&TrashQuery::all()).unwrap().len(), 1);
    assert!(db.verify().unwrap().is_ok());
    db.rebuild().unwrap();
    assert_eq!(ids(&db, "b"), vec![3, 4]);
}
