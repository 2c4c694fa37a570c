//! Text into `Row::from_json_str`, and a parsed row into a memory store with one fixed table
//! that has a column of every type.
//!
//! Properties: nothing panics. When the insert succeeds, the stored row reads back equal to the
//! returned one; inserting the same row again fails when it names its primary key; updating
//! the row with its own values (primary key left out) succeeds and changes nothing; deleting
//! and restoring it brings it back unchanged; and `verify` finds the views equal to a replay of
//! the log.
#![no_main]

mod common;

use lazarusdb::{ColumnDef, ColumnType, Db, Readable, RestorePolicy, Row, TableBuilder, Value};
use libfuzzer_sys::fuzz_target;

fn store() -> Db {
    let db = Db::memory().expect("memory store");
    db.create_table(
        TableBuilder::new("t")
            .column(("id", ColumnType::Int))
            .column(ColumnDef::new("i", ColumnType::Int).nullable())
            .column(ColumnDef::new("f", ColumnType::Float).nullable())
            .column(ColumnDef::new("s", ColumnType::Text).nullable())
            .column(ColumnDef::new("b", ColumnType::Bytes).nullable())
            .column(ColumnDef::new("flag", ColumnType::Bool).nullable())
            .column(ColumnDef::new("u", ColumnType::Uuid).nullable())
            .column(ColumnDef::new("ts", ColumnType::Timestamp).nullable())
            .column(ColumnDef::new("d", ColumnType::Int).with_default(7))
            .primary_key("id")
            .unique(["i"])
            .index(["s"])
            .index(["ts", "f"]),
    )
    .expect("create the fixed table");
    db
}

fn verify(db: &Db) {
    let report = db.verify().expect("verify runs");
    assert!(
        report.is_ok(),
        "views differ from the log: {:?}",
        report.differences
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(row) = Row::from_json_str(text) else {
        return;
    };
    let db = store();
    let inserted = match db.insert("t", row.clone()) {
        Ok(r) => r,
        Err(_) => {
            assert_eq!(db.last_lsn(), 1, "a failed insert wrote an event");
            verify(&db);
            return;
        }
    };
    let pk = inserted
        .get("id")
        .cloned()
        .expect("the stored row has its key");
    assert!(matches!(pk, Value::Int(_)), "int key, got {pk:?}");
    let read = db
        .get("t", pk.clone())
        .expect("get")
        .expect("the row is live");
    assert!(common::row_eq(&read, &inserted), "{read:?} vs {inserted:?}");

    let names_key = row.get("id").is_some_and(|v| !v.is_null());
    if names_key {
        assert!(
            db.insert("t", row.clone()).is_err(),
            "duplicate key accepted"
        );
    }

    let mut same = inserted.clone();
    same.remove("id");
    let updated = db
        .update("t", pk.clone(), same)
        .unwrap_or_else(|e| panic!("updating a row with its own values failed: {e}"));
    assert!(
        common::row_eq(&updated, &inserted),
        "{updated:?} vs {inserted:?}"
    );

    let report = db.delete("t", pk.clone()).expect("delete a live row");
    assert!(db.get("t", pk.clone()).expect("get").is_none());
    db.restore(report.deletion, RestorePolicy::Refuse)
        .unwrap_or_else(|e| panic!("restore without conflicts failed: {e}"));
    let back = db.get("t", pk).expect("get").expect("restored");
    assert!(common::row_eq(&back, &inserted), "{back:?} vs {inserted:?}");
    verify(&db);
});
