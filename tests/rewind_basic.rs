//! Restore to a point (row, table, store), undo of a transaction (refused after later changes
//! unless forced; undo of a restore), and diff between two points.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use lazarusdb::{
    ColumnType, ConflictKind, Db, DiffKind, Error, OnDelete, Readable, Row, Scan, TableBuilder,
    Value,
};

fn setup() -> Db {
    let db = Db::memory().unwrap();
    db.create_table(
        TableBuilder::new("acct")
            .column(("id", ColumnType::Int))
            .column(("owner", ColumnType::Text))
            .column(("balance", ColumnType::Int))
            .primary_key("id")
            .unique(["owner"]),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("entry")
            .column(("id", ColumnType::Int))
            .column(("acct_id", ColumnType::Int))
            .column(("amount", ColumnType::Int))
            .primary_key("id")
            .foreign_key("acct_id", "acct", OnDelete::Cascade),
    )
    .unwrap();
    db.transaction(|tx| {
        for (i, o) in ["ann", "bob", "cid"].iter().enumerate() {
            tx.insert(
                "acct",
                Row::new()
                    .with("owner", *o)
                    .with("balance", 100 * (i as i64 + 1)),
            )?;
            tx.insert(
                "entry",
                Row::new().with("acct_id", i as i64 + 1).with("amount", 5),
            )?;
        }
        Ok::<_, Error>(())
    })
    .unwrap();
    db
}

fn rows(db: &impl Readable, t: &str) -> Vec<Row> {
    db.scan(t, Scan::all()).unwrap()
}

#[test]
fn a_bad_batch_is_rewound_and_the_rewind_undone() {
    let db = setup();
    let good = db.last_lsn();
    let before_acct = rows(&db, "acct");
    let before_entry = rows(&db, "entry");
    // the bad batch: zero every balance, delete bob, add a row
    let bad = db
        .transaction(|tx| {
            for id in 1..=3 {
                tx.update("acct", id, Row::new().with("balance", 0))?;
            }
            tx.delete("acct", 2)?;
            tx.insert("acct", Row::new().with("owner", "eve").with("balance", 1))?;
            Ok::<_, Error>(tx.id())
        })
        .unwrap();
    let d = db.diff(good, db.last_lsn(), Some("acct")).unwrap();
    let kinds: Vec<(Value, DiffKind)> = d.iter().map(|r| (r.row.pk.clone(), r.kind)).collect();
    assert_eq!(
        kinds,
        vec![
            (Value::Int(1), DiffKind::Changed),
            (Value::Int(2), DiffKind::Deleted),
            (Value::Int(3), DiffKind::Changed),
            (Value::Int(4), DiffKind::Inserted)
        ]
    );
    assert_eq!(d[0].changes[0].column, "balance");
    assert_eq!(d[0].changes[0].before, Value::Int(100));
    assert_eq!(d[0].changes[0].after, Value::Int(0));

    // the whole store back to the good point: bob and his cascaded entry come back, eve goes
    let plan = db.restore_store_to(good).unwrap();
    assert_eq!(plan.tombstoned.len(), 1);
    assert_eq!(rows(&db, "acct"), before_acct);
    assert_eq!(rows(&db, "entry"), before_entry);
    assert!(db.verify().unwrap().is_ok());

    // undo the restore: the bad state is back
    let restore_tx = db.history("acct", 1).unwrap().last().unwrap().tx;
    db.undo(restore_tx, false).unwrap();
    assert_eq!(
        db.get("acct", 1).unwrap().unwrap().get("balance"),
        Some(&Value::Int(0))
    );
    assert_eq!(db.get("acct", 2).unwrap(), None);
    assert!(db.get("acct", 4).unwrap().is_some());

    // undo of the bad transaction is refused now: later transactions changed its rows
    let err = db.undo(bad, false).unwrap_err();
    match &err {
        Error::RewindConflict { conflicts, .. } => {
            assert!(
                conflicts
                    .iter()
                    .all(|c| c.kind == ConflictKind::ChangedLater),
                "{err}"
            )
        }
        other => panic!("{other}"),
    }
    let lsn = db.last_lsn();
    assert_eq!(db.last_lsn(), lsn);
    db.undo(bad, true).unwrap();
    assert_eq!(rows(&db, "acct"), before_acct);
    assert!(db.verify().unwrap().is_ok());
}

#[test]
fn a_row_and_a_table_restore_detect_conflicts_outside_the_scope() {
    let db = setup();
    let t0 = db.last_lsn();
    db.update("acct", 1, Row::new().with("owner", "zed"))
        .unwrap();
    db.insert("acct", Row::new().with("owner", "ann").with("balance", 7))
        .unwrap();
    // restoring row 1 would take "ann", now held by row 4 outside the scope
    let err = db.restore_row_to("acct", 1, t0).unwrap_err();
    assert!(
        matches!(&err, Error::RewindConflict { conflicts, .. } if conflicts[0].kind == ConflictKind::UniqueTaken),
        "{err}"
    );
    // the whole table: row 4 is in the scope and goes away, so no conflict
    db.restore_table_to("acct", t0).unwrap();
    assert_eq!(
        db.get("acct", 1).unwrap().unwrap().get("owner"),
        Some(&Value::from("ann"))
    );
    // a new entry referencing a new account, then restore acct only: the entry outside the
    // scope would dangle
    let t1 = db.last_lsn();
    db.insert("acct", Row::new().with("owner", "new").with("balance", 1))
        .unwrap();
    db.insert("entry", Row::new().with("acct_id", 5).with("amount", 1))
        .unwrap();
    let err = db.restore_table_to("acct", t1).unwrap_err();
    assert!(
        matches!(&err, Error::RewindConflict { conflicts, .. } if conflicts[0].kind == ConflictKind::ReferencedOutsideScope),
        "{err}"
    );
    let plan = db
        .restore_to_plan(&lazarusdb::Scope::Table("acct".into()), t1)
        .unwrap();
    assert_eq!(plan.conflicts.len(), 1);
    assert!(db.verify().unwrap().is_ok());
}
