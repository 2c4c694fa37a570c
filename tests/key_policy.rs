//! Pins what happens to the keys of trashed rows. By default a trashed row's primary-key and
//! unique values are free: new rows may take them, and restoring the deletion then reports
//! `primary_key_taken` / `unique_taken`. A table declared with `trash_keeps_keys` (builder or
//! schema file) keeps them reserved: inserting a row with a trashed row's primary key or unique
//! value, or updating another row to a reserved unique value, fails with `Error::KeyReserved`
//! naming the deletion (also for rows trashed through a cascade), and restoring never conflicts
//! on keys; once the deletion (or the row) is restored the values behave as usual again. The
//! reservations are a view rebuilt from the log: `verify` is ok throughout, and `rebuild` and
//! reopening keep the behaviour.
//! Scenarios run on the memory engine and the core ones on fjall too; each ends with `verify`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use lazarusdb::{
    parse_schema_file, Audit, ConflictKind, Constraint, Db, Error, Options, Readable,
    RestorePolicy, Row, RowRef, Scan, TableBuilder, TrashQuery, Value,
};
use lazarusdb::{ColumnType, OnDelete};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Harness.

#[macro_use]
mod common;
use common::*;

fn ids(db: &Db, table: &str) -> Vec<i64> {
    db.scan(table, Scan::all())
        .unwrap()
        .iter()
        .map(|r| r.get("id").and_then(Value::as_int).unwrap())
        .collect()
}

#[track_caller]
fn assert_reserved<T: std::fmt::Debug>(
    res: lazarusdb::Result<T>,
    table: &str,
    value: &str,
    deletion: Uuid,
) {
    match res {
        Err(Error::KeyReserved {
            table: t,
            value: v,
            deletion: d,
        }) => {
            assert_eq!((t.as_str(), v.as_str(), d), (table, value, deletion));
        }
        other => panic!("expected KeyReserved({table}, {value}, {deletion}), got {other:?}"),
    }
}

#[track_caller]
fn assert_unique_violation<T: std::fmt::Debug>(res: lazarusdb::Result<T>, column: &str) {
    match res {
        Err(Error::ConstraintViolation {
            constraint: Constraint::Unique(cols),
            ..
        }) => assert_eq!(cols, vec![column.to_string()]),
        other => panic!("expected a unique violation on {column}, got {other:?}"),
    }
}

fn conflicts_of(db: &Db, d: Uuid) -> Vec<(RowRef, ConflictKind)> {
    db.restore_plan(d, RestorePolicy::Refuse)
        .unwrap()
        .conflicts
        .into_iter()
        .map(|c| (c.row, c.kind))
        .collect()
}

/// account(id, email unique, login unique) ← session(id, token unique, account_id cascade),
/// and handle(name text pk); `keeps` sets `trash_keeps_keys` on all three.
fn schema(db: &Db, keeps: bool) {
    db.create_table(
        TableBuilder::new("account")
            .column(("id", ColumnType::Int))
            .column(("email", ColumnType::Text))
            .column(("login", ColumnType::Text))
            .primary_key("id")
            .unique(["email"])
            .unique(["login"])
            .trash_keeps_keys(keeps),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("session")
            .column(("id", ColumnType::Int))
            .column(("token", ColumnType::Text))
            .column(("account_id", ColumnType::Int))
            .primary_key("id")
            .unique(["token"])
            .foreign_key("account_id", "account", OnDelete::Cascade)
            .trash_keeps_keys(keeps),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("handle")
            .column(("name", ColumnType::Text))
            .column(("note", ColumnType::Text))
            .primary_key("name")
            .trash_keeps_keys(keeps),
    )
    .unwrap();
}

/// account 1 (a@x, ann) with session 1 (t1); account 2 (b@x, bob); handle "neo".
fn seed(db: &Db) {
    db.transaction(|tx| {
        tx.insert(
            "account",
            Row::new().with("email", "a@x").with("login", "ann"),
        )?;
        tx.insert(
            "account",
            Row::new().with("email", "b@x").with("login", "bob"),
        )?;
        tx.insert(
            "session",
            Row::new().with("token", "t1").with("account_id", 1),
        )?;
        tx.insert("handle", Row::new().with("name", "neo").with("note", "v1"))?;
        Ok::<_, Error>(())
    })
    .unwrap();
}

fn account(email: &str, login: &str) -> Row {
    Row::new().with("email", email).with("login", login)
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

fn default_policy_frees_keys(db: &Db) {
    schema(db, false);
    seed(db);
    let acc = db.delete("account", 1).unwrap();
    let neo = db.delete("handle", "neo").unwrap();

    // the trashed row's unique values and primary key are free
    let row = db.insert("account", account("a@x", "ann")).unwrap();
    assert_eq!(row.get("id"), Some(&Value::Int(3)));
    db.insert(
        "session",
        Row::new().with("token", "t1").with("account_id", 3),
    )
    .unwrap();
    db.insert("handle", Row::new().with("name", "neo").with("note", "v2"))
        .unwrap();
    db.update("account", 3, Row::new().with("login", "annie"))
        .unwrap();
    db.update("account", 2, Row::new().with("login", "ann"))
        .unwrap();
    check_verify(db);

    // ... so restoring reports them taken
    assert_eq!(
        conflicts_of(db, acc.deletion),
        vec![
            (rr("account", 1), ConflictKind::UniqueTaken),
            (rr("account", 1), ConflictKind::UniqueTaken),
            (rr("session", 1), ConflictKind::UniqueTaken),
        ]
    );
    assert_eq!(
        conflicts_of(db, neo.deletion),
        vec![(rr("handle", "neo"), ConflictKind::PrimaryKeyTaken)]
    );
    let lsn = db.last_lsn();
    for d in [acc.deletion, neo.deletion] {
        let err = db.restore(d, RestorePolicy::Refuse).unwrap_err();
        assert!(matches!(err, Error::RestoreConflict { .. }), "{err}");
    }
    assert_eq!(db.last_lsn(), lsn);

    // the takers gone, the old rows come back
    db.delete("account", 3).unwrap();
    db.update("account", 2, Row::new().with("login", "bob"))
        .unwrap();
    db.delete("handle", "neo").unwrap();
    db.restore(acc.deletion, RestorePolicy::Refuse).unwrap();
    db.restore(neo.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(ids(db, "account"), vec![1, 2]);
    assert_eq!(
        db.get("handle", "neo").unwrap().unwrap().get("note"),
        Some(&Value::from("v1"))
    );
}

fn kept_keys_are_reserved(db: &Db) {
    schema(db, true);
    seed(db);
    let acc = db.delete("account", 1).unwrap();
    assert_eq!(acc.rows, vec![rr("account", 1), rr("session", 1)]);
    let neo = db.delete("handle", "neo").unwrap();
    let (d, lsn) = (acc.deletion, db.last_lsn());

    let check_reserved = |db: &Db| {
        // primary keys
        assert_reserved(
            db.insert("account", account("z@x", "zed").with("id", 1)),
            "account",
            "1",
            d,
        );
        assert_reserved(
            db.insert(
                "session",
                Row::new()
                    .with("id", 1)
                    .with("token", "zz")
                    .with("account_id", 2),
            ),
            "session",
            "1",
            d,
        );
        assert_reserved(
            db.insert("handle", Row::new().with("name", "neo").with("note", "v2")),
            "handle",
            "\"neo\"",
            neo.deletion,
        );
        // unique values, also of a row trashed through the cascade
        assert_reserved(
            db.insert("account", account("a@x", "zed")),
            "account",
            "\"a@x\"",
            d,
        );
        assert_reserved(
            db.insert("account", account("z@x", "ann")),
            "account",
            "\"ann\"",
            d,
        );
        assert_reserved(
            db.insert(
                "session",
                Row::new().with("token", "t1").with("account_id", 2),
            ),
            "session",
            "\"t1\"",
            d,
        );
        // updating another row to a reserved value
        assert_reserved(
            db.update("account", 2, Row::new().with("email", "a@x")),
            "account",
            "\"a@x\"",
            d,
        );
        assert_reserved(
            db.update("account", 2, Row::new().with("login", "ann")),
            "account",
            "\"ann\"",
            d,
        );
        // inside a transaction too, and the failed transaction writes nothing
        let res = db.transaction(|tx| {
            tx.update("account", 2, Row::new().with("login", "bobby"))?;
            tx.insert("account", account("a@x", "x"))
        });
        assert_reserved(res, "account", "\"a@x\"", d);
        assert_eq!(
            db.get("account", 2).unwrap().unwrap().get("login"),
            Some(&Value::from("bob"))
        );
    };
    check_reserved(db);
    assert_eq!(db.last_lsn(), lsn, "refused writes write nothing");
    check_verify(db);

    // the reservations are a view: rebuilt from the log, they hold the same
    db.rebuild().unwrap();
    check_reserved(db);
    check_verify(db);

    // other values and fresh keys are fine; a row may keep its own value in an update
    let row = db.insert("account", account("c@x", "cid")).unwrap();
    assert_eq!(row.get("id"), Some(&Value::Int(3)));
    db.update(
        "account",
        2,
        Row::new().with("email", "b@x").with("login", "bobby"),
    )
    .unwrap();

    // restoring never conflicts on keys
    assert_eq!(conflicts_of(db, d), vec![]);
    assert_eq!(conflicts_of(db, neo.deletion), vec![]);
}

fn restore_frees_kept_keys(db: &Db) {
    schema(db, true);
    seed(db);
    let acc = db.delete("account", 1).unwrap();
    let neo = db.delete("handle", "neo").unwrap();
    let d = acc.deletion;
    db.insert("account", account("c@x", "cid")).unwrap();
    db.update("account", 2, Row::new().with("login", "bobby"))
        .unwrap();
    assert_eq!(conflicts_of(db, d), vec![]);
    let plan = db.restore(d, RestorePolicy::Refuse).unwrap();
    assert_eq!(plan.rows, acc.rows);
    db.restore(neo.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(ids(db, "account"), vec![1, 2, 3]);
    check_verify(db);

    // restored, the values behave as usual: taken while live, free once changed
    let after_restore = |db: &Db| {
        assert_unique_violation(db.insert("account", account("a@x", "x1")), "email");
        assert_unique_violation(
            db.insert(
                "session",
                Row::new().with("token", "t1").with("account_id", 2),
            ),
            "token",
        );
        let err = db
            .insert("handle", Row::new().with("name", "neo").with("note", "v2"))
            .unwrap_err();
        assert!(
            matches!(
                &err,
                Error::ConstraintViolation {
                    constraint: Constraint::PrimaryKey,
                    ..
                }
            ),
            "{err}"
        );
    };
    after_restore(db);
    db.rebuild().unwrap();
    after_restore(db);
    db.update("account", 1, Row::new().with("email", "new@x"))
        .unwrap();
    let row = db.insert("account", account("a@x", "x2")).unwrap();
    assert_eq!(row.get("id"), Some(&Value::Int(4)));
    assert!(db.trash(&TrashQuery::all()).unwrap().is_empty());

    // deleted again: the current values are reserved by the new deletion, the old one is not
    let again = db.delete("account", 1).unwrap();
    assert_reserved(
        db.insert("account", account("new@x", "x3")),
        "account",
        "\"new@x\"",
        again.deletion,
    );
    db.update("account", 4, Row::new().with("email", "a@x2"))
        .unwrap();
    db.insert("account", account("a@x", "x3")).unwrap();
}

fn restoring_one_row_frees_only_its_keys(db: &Db) {
    schema(db, true);
    seed(db);
    let d = db.delete("account", 1).unwrap().deletion;
    db.restore_row(d, "account", 1).unwrap();
    // account 1 is live: its values are taken the usual way
    assert_unique_violation(db.insert("account", account("a@x", "x")), "email");
    // session 1 is still in the trash: its values stay reserved
    assert_reserved(
        db.insert(
            "session",
            Row::new().with("token", "t1").with("account_id", 1),
        ),
        "session",
        "\"t1\"",
        d,
    );
    check_verify(db);
    db.rebuild().unwrap();
    assert_reserved(
        db.insert(
            "session",
            Row::new().with("token", "t1").with("account_id", 1),
        ),
        "session",
        "\"t1\"",
        d,
    );
    db.restore(d, RestorePolicy::Refuse).unwrap();
    assert_unique_violation(
        db.insert(
            "session",
            Row::new().with("token", "t1").with("account_id", 1),
        ),
        "token",
    );
    db.update("session", 1, Row::new().with("token", "t2"))
        .unwrap();
    db.insert(
        "session",
        Row::new().with("token", "t1").with("account_id", 1),
    )
    .unwrap();
}

const SCHEMA_FILE: &str = r#"{"tables": [
    {"name": "tag", "primary_key": "name", "trash_keeps_keys": true,
     "columns": [{"name": "name", "type": "text"}, {"name": "slug", "type": "text"}],
     "unique": [["slug"]]},
    {"name": "label", "primary_key": "name",
     "columns": [{"name": "name", "type": "text"}, {"name": "slug", "type": "text"}],
     "unique": [["slug"]]}
]}"#;

fn schema_file_keeps_keys(db: &Db) {
    db.apply_schema(&parse_schema_file(SCHEMA_FILE).unwrap())
        .unwrap();
    assert!(db.table_def("tag").unwrap().trash_keeps_keys);
    assert!(!db.table_def("label").unwrap().trash_keeps_keys);
    for t in ["tag", "label"] {
        db.insert(t, Row::new().with("name", "rust").with("slug", "rs"))
            .unwrap();
    }
    let tag = db
        .delete_with("tag", "rust", &Audit::by("me"))
        .unwrap()
        .deletion;
    let label = db.delete("label", "rust").unwrap().deletion;

    assert_reserved(
        db.insert("tag", Row::new().with("name", "rust").with("slug", "x")),
        "tag",
        "\"rust\"",
        tag,
    );
    assert_reserved(
        db.insert("tag", Row::new().with("name", "x").with("slug", "rs")),
        "tag",
        "\"rs\"",
        tag,
    );
    // the table without the flag frees its keys
    db.insert("label", Row::new().with("name", "rust").with("slug", "rs"))
        .unwrap();
    assert_eq!(
        conflicts_of(db, label),
        vec![
            (rr("label", "rust"), ConflictKind::PrimaryKeyTaken),
            (rr("label", "rust"), ConflictKind::UniqueTaken)
        ]
    );
    check_verify(db);
    db.rebuild().unwrap();
    assert!(db.table_def("tag").unwrap().trash_keeps_keys);
    assert_reserved(
        db.insert("tag", Row::new().with("name", "x").with("slug", "rs")),
        "tag",
        "\"rs\"",
        tag,
    );
    assert_eq!(
        conflicts_of(db, tag),
        vec![],
        "restoring would not conflict on keys"
    );
}

#[test]
fn reservations_survive_reopen_on_fjall() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let d = {
        let db = Db::open_with(&path, Options::default()).unwrap();
        schema(&db, true);
        seed(&db);
        let d = db.delete("account", 1).unwrap().deletion;
        db.close().unwrap();
        d
    };
    let db = Db::open(&path).unwrap();
    assert!(db.table_def("account").unwrap().trash_keeps_keys);
    assert_reserved(
        db.insert("account", account("a@x", "x")),
        "account",
        "\"a@x\"",
        d,
    );
    assert_reserved(
        db.insert(
            "session",
            Row::new().with("token", "t1").with("account_id", 2),
        ),
        "session",
        "\"t1\"",
        d,
    );
    check_verify(&db);
    db.rebuild().unwrap();
    assert_reserved(
        db.insert("account", account("a@x", "x")),
        "account",
        "\"a@x\"",
        d,
    );
    assert_eq!(conflicts_of(&db, d), vec![]);
    check_verify(&db);
}

fn unique_added_later_is_reserved_too(db: &Db) {
    db.create_table(
        TableBuilder::new("account")
            .column(("id", ColumnType::Int))
            .column(("nick", ColumnType::Text))
            .primary_key("id")
            .trash_keeps_keys(true),
    )
    .unwrap();
    db.insert("account", Row::new().with("nick", "x")).unwrap();
    let d = db.delete("account", 1).unwrap().deletion;
    db.add_index("account", &["nick"], true).unwrap();
    // the trashed row holds "x" under the new unique constraint: it must stay reserved
    assert_reserved(
        db.insert("account", Row::new().with("nick", "x")),
        "account",
        "\"x\"",
        d,
    );
    assert_eq!(
        conflicts_of(db, d),
        vec![],
        "restoring never conflicts on keys"
    );
    db.restore(d, RestorePolicy::Refuse).unwrap();
}

on_both!(
    default_policy_frees_keys,
    kept_keys_are_reserved,
    schema_file_keeps_keys,
);

// Regressions: replaying a Restore must drop the reservations (verify after a restore, and a
// rebuild must not re-reserve restored values).
on_both!(
    restore_frees_kept_keys,
    restoring_one_row_frees_only_its_keys,
);

mod unique_added_later_is_reserved_too {
    #[test]
    fn memory() {
        super::on_memory(super::unique_added_later_is_reserved_too);
    }
}
