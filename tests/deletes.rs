//! Pins reversible deletes: a delete tombstones the named row and every row reached through
//! `on_delete = cascade`, recursively and across tables, as ONE deletion (three-level cascades,
//! self-referencing trees, foreign-key cycles all terminate); `set_null` children stay live with
//! their reference cleared inside the same deletion (and `history` shows that update with the
//! deletion id); `restrict` refuses with `Error::DeleteRestricted` naming every blocking row and
//! writes nothing; deleting a row that is not live is `NotFound` or `AlreadyDeleted` (naming the
//! deletion); `delete_many` and `delete_where` are one deletion; deletes mix with inserts and
//! updates in one transaction and a failed closure writes nothing; no live read path (get, scan,
//! lookup, lookup_range, children, parent, count, unique and foreign-key checks) ever sees a
//! tombstoned row; int keys are never reused; `DeleteReport.rows` lists the deleted row first;
//! wide (5,000 children) and deep (a 2,000-long chain) deletions work and restore fully.
//! Scenarios run on the memory engine and the core ones on fjall too; each ends with `verify`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use lazarusdb::{
    ChangeKind, ColumnDef, ColumnType, Constraint, Db, Error, IndexRange, OnDelete, Readable,
    RestorePolicy, Row, Scan, TableBuilder, TrashQuery, Value,
};

// ---------------------------------------------------------------------------------------------
// Harness.

#[macro_use]
mod common;
use common::*;

fn ids_of(rows: &[Row]) -> Vec<i64> {
    rows.iter()
        .map(|r| r.get("id").and_then(Value::as_int).unwrap())
        .collect()
}

fn ids(db: &Db, table: &str) -> Vec<i64> {
    ids_of(&db.scan(table, Scan::all()).unwrap())
}

/// Every table's full scan.
fn snapshot(db: &Db) -> Vec<(String, Vec<Row>)> {
    db.tables()
        .unwrap()
        .into_iter()
        .map(|t| {
            let rows = db.scan(&t, Scan::all()).unwrap();
            (t, rows)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Schemas.

/// org ← team ← member, all cascade; org.name, team.name and member.email unique;
/// member.level indexed.
fn org_schema(db: &Db) {
    db.create_table(
        TableBuilder::new("org")
            .column(("id", ColumnType::Int))
            .column(("name", ColumnType::Text))
            .primary_key("id")
            .unique(["name"]),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("team")
            .column(("id", ColumnType::Int))
            .column(("org_id", ColumnType::Int))
            .column(("name", ColumnType::Text))
            .primary_key("id")
            .unique(["name"])
            .foreign_key("org_id", "org", OnDelete::Cascade),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("member")
            .column(("id", ColumnType::Int))
            .column(("team_id", ColumnType::Int))
            .column(("email", ColumnType::Text))
            .column(("level", ColumnType::Int))
            .primary_key("id")
            .unique(["email"])
            .index(["level"])
            .foreign_key("team_id", "team", OnDelete::Cascade),
    )
    .unwrap();
}

/// org 1 {team 1 {member 1, 2}, team 2 {member 3}}, org 2 {team 3 {member 4}}.
fn org_seed(db: &Db) {
    org_schema(db);
    db.transaction(|tx| {
        tx.insert("org", Row::new().with("name", "acme"))?;
        tx.insert("org", Row::new().with("name", "globex"))?;
        for (org, name) in [(1, "red"), (1, "blue"), (2, "green")] {
            tx.insert("team", Row::new().with("org_id", org).with("name", name))?;
        }
        for (i, team) in [1, 1, 2, 3].into_iter().enumerate() {
            let n = i + 1;
            tx.insert(
                "member",
                Row::new()
                    .with("team_id", team)
                    .with("email", format!("m{n}@x"))
                    .with("level", n as i64),
            )?;
        }
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// A self-referencing comment tree: 1 {2 {4 {5}}, 3}, 6 {7}, and 8 referencing itself.
fn comment_seed(db: &Db) {
    db.create_table(
        TableBuilder::new("comment")
            .column(("id", ColumnType::Int))
            .column(ColumnDef::new("parent_id", ColumnType::Int).nullable())
            .column(("body", ColumnType::Text))
            .primary_key("id")
            .foreign_key("parent_id", "comment", OnDelete::Cascade),
    )
    .unwrap();
    db.transaction(|tx| {
        for (id, parent) in [
            (1, None),
            (2, Some(1)),
            (3, Some(1)),
            (4, Some(2)),
            (5, Some(4)),
            (6, None),
            (7, Some(6)),
            (8, Some(8)),
        ] {
            tx.insert(
                "comment",
                Row::new()
                    .with("id", id)
                    .with("parent_id", parent)
                    .with("body", format!("c{id}")),
            )?;
        }
        Ok::<_, Error>(())
    })
    .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

fn cascade_three_levels(db: &Db) {
    org_seed(db);
    let before = snapshot(db);
    let lsn0 = db.last_lsn();
    let rep = db.delete("org", 1).unwrap();
    assert_eq!(
        rep.rows,
        vec![
            rr("org", 1),
            rr("team", 1),
            rr("team", 2),
            rr("member", 1),
            rr("member", 2),
            rr("member", 3),
        ]
    );
    assert!(rep.unlinked.is_empty());
    assert_eq!(db.last_lsn(), lsn0 + 6, "one tombstone event per row");

    assert_eq!(ids(db, "org"), vec![2]);
    assert_eq!(ids(db, "team"), vec![3]);
    assert_eq!(ids(db, "member"), vec![4]);

    // one deletion, one transaction
    let trash = db.trash(&TrashQuery::all()).unwrap();
    assert_eq!(trash.len(), 1);
    let d = &trash[0];
    assert_eq!(d.id, rep.deletion);
    assert_eq!(d.roots, vec![rr("org", 1)]);
    assert_eq!(
        d.rows,
        vec![
            ("org".to_string(), 1),
            ("team".to_string(), 2),
            ("member".to_string(), 3)
        ]
    );
    assert_eq!((d.unlinked, d.remaining, d.restored), (0, 6, 0));
    assert_eq!(d.row_count(), 6);
    let txs: Vec<u64> = rep
        .rows
        .iter()
        .map(|r| {
            let h = db.history(&r.table, r.pk.clone()).unwrap();
            let last = h.last().unwrap();
            assert_eq!(last.kind, ChangeKind::Delete);
            assert_eq!(last.deletion, Some(rep.deletion));
            assert_eq!(
                db.find_deletion(&r.table, r.pk.clone()).unwrap(),
                Some(rep.deletion)
            );
            last.tx
        })
        .collect();
    assert!(txs.iter().all(|t| *t == d.tx), "{txs:?} vs {}", d.tx);

    let plan = db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(plan.rows, rep.rows, "parents before children");
    assert_eq!(snapshot(db), before);
    assert!(db.trash(&TrashQuery::all()).unwrap().is_empty());
}

fn self_referencing_tree(db: &Db) {
    comment_seed(db);
    let before = snapshot(db);
    let rep = db.delete("comment", 1).unwrap();
    assert_eq!(
        rep.rows,
        (1..=5).map(|i| rr("comment", i)).collect::<Vec<_>>(),
        "the whole subtree, breadth first, each row once"
    );
    assert_eq!(ids(db, "comment"), vec![6, 7, 8]);
    assert_eq!(db.children("comment", 1, "comment").unwrap(), vec![]);
    assert_eq!(db.children_via("comment", "parent_id", 2).unwrap(), vec![]);
    let trash = db.trash(&TrashQuery::all()).unwrap();
    assert_eq!(trash.len(), 1);
    assert_eq!(trash[0].rows, vec![("comment".to_string(), 5)]);
    assert_eq!(trash[0].roots, vec![rr("comment", 1)]);

    // a row referencing itself: delete and restore terminate
    let self_ref = db.delete("comment", 8).unwrap();
    assert_eq!(self_ref.rows, vec![rr("comment", 8)]);
    assert_eq!(ids(db, "comment"), vec![6, 7]);
    let plan = db
        .restore_plan(self_ref.deletion, RestorePolicy::Refuse)
        .unwrap();
    assert!(plan.conflicts.is_empty(), "{:?}", plan.conflicts);
    db.restore(self_ref.deletion, RestorePolicy::Refuse)
        .unwrap();
    assert_eq!(
        db.get("comment", 8).unwrap().unwrap().get("parent_id"),
        Some(&Value::Int(8))
    );

    db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(snapshot(db), before);
}

fn foreign_key_cycle(db: &Db) {
    db.transaction(|tx| {
        tx.create_tables(&[
            TableBuilder::new("x")
                .column(("id", ColumnType::Int))
                .column(ColumnDef::new("y_id", ColumnType::Int).nullable())
                .primary_key("id")
                .foreign_key("y_id", "y", OnDelete::Cascade)
                .build(),
            TableBuilder::new("y")
                .column(("id", ColumnType::Int))
                .column(("x_id", ColumnType::Int))
                .primary_key("id")
                .foreign_key("x_id", "x", OnDelete::Cascade)
                .build(),
        ])?;
        for i in 1..=2 {
            tx.insert("x", Row::new().with("id", i))?;
            tx.insert("y", Row::new().with("id", i).with("x_id", i))?;
            tx.update("x", i, Row::new().with("y_id", i))?;
        }
        Ok::<_, Error>(())
    })
    .unwrap();
    let before = snapshot(db);

    let rep = db.delete("y", 1).unwrap();
    assert_eq!(rep.rows, vec![rr("y", 1), rr("x", 1)]);
    assert_eq!(ids(db, "x"), vec![2]);
    assert_eq!(ids(db, "y"), vec![2]);
    assert_eq!(db.trash(&TrashQuery::all()).unwrap().len(), 1);

    let plan = db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    assert!(plan.conflicts.is_empty());
    assert_eq!(snapshot(db), before);
    assert_eq!(
        db.get("x", 1).unwrap().unwrap().get("y_id"),
        Some(&Value::Int(1))
    );

    // starting from the other side of the cycle takes the same two rows
    let rep = db.delete("x", 2).unwrap();
    assert_eq!(rep.rows, vec![rr("x", 2), rr("y", 2)]);
    db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(snapshot(db), before);
}

/// author ← post (set_null), author ← book (cascade), review → author (set_null) and
/// → book (cascade).
fn set_null_schema(db: &Db) {
    db.create_table(
        TableBuilder::new("author")
            .column(("id", ColumnType::Int))
            .column(("name", ColumnType::Text))
            .primary_key("id"),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("post")
            .column(("id", ColumnType::Int))
            .column(ColumnDef::new("author_id", ColumnType::Int).nullable())
            .column(("title", ColumnType::Text))
            .primary_key("id")
            .foreign_key("author_id", "author", OnDelete::SetNull),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("book")
            .column(("id", ColumnType::Int))
            .column(("author_id", ColumnType::Int))
            .primary_key("id")
            .foreign_key("author_id", "author", OnDelete::Cascade),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("review")
            .column(("id", ColumnType::Int))
            .column(ColumnDef::new("author_id", ColumnType::Int).nullable())
            .column(("book_id", ColumnType::Int))
            .primary_key("id")
            .foreign_key("author_id", "author", OnDelete::SetNull)
            .foreign_key("book_id", "book", OnDelete::Cascade),
    )
    .unwrap();
    db.transaction(|tx| {
        tx.insert("author", Row::new().with("name", "ann"))?;
        tx.insert("author", Row::new().with("name", "bob"))?;
        for a in [1, 1, 2] {
            tx.insert("post", Row::new().with("author_id", a).with("title", "p"))?;
        }
        tx.insert("book", Row::new().with("author_id", 1))?;
        tx.insert("book", Row::new().with("author_id", 2))?;
        // review 1: author 1 and book 1 (tombstoned through the book)
        // review 2: author 1 and book 2 (unlinked), review 3: no author, book 2 (untouched)
        for (a, b) in [(Some(1), 1), (Some(1), 2), (None, 2)] {
            tx.insert("review", Row::new().with("author_id", a).with("book_id", b))?;
        }
        Ok::<_, Error>(())
    })
    .unwrap();
}

fn set_null_children(db: &Db) {
    set_null_schema(db);
    let lsn0 = db.last_lsn();
    let rep = db.delete("author", 1).unwrap();
    assert_eq!(
        rep.rows,
        vec![rr("author", 1), rr("book", 1), rr("review", 1)]
    );
    assert_eq!(
        rep.unlinked,
        vec![rr("post", 1), rr("post", 2), rr("review", 2)],
        "review 1 is tombstoned through its book, so it is not also unlinked"
    );
    assert_eq!(db.last_lsn(), lsn0 + 6);

    // unlinked rows stay live with a null reference
    assert_eq!(ids(db, "post"), vec![1, 2, 3]);
    for p in [1, 2] {
        let row = db.get("post", p).unwrap().unwrap();
        assert_eq!(row.get("author_id"), Some(&Value::Null));
        assert_eq!(row.get("title"), Some(&Value::from("p")));
        assert_eq!(db.parent("post", p, "author_id").unwrap(), None);
        assert_eq!(db.find_deletion("post", p).unwrap(), None, "not trashed");
    }
    assert_eq!(
        db.get("post", 3).unwrap().unwrap().get("author_id"),
        Some(&Value::Int(2))
    );
    assert_eq!(ids(db, "review"), vec![2, 3]);
    assert_eq!(
        db.get("review", 2).unwrap().unwrap().get("author_id"),
        Some(&Value::Null)
    );
    assert_eq!(db.children("author", 1, "post").unwrap(), vec![]);

    // history: the unlink is an update carrying the deletion id, in the deletion's transaction
    let h = db.history("post", 1).unwrap();
    let kinds: Vec<ChangeKind> = h.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, vec![ChangeKind::Insert, ChangeKind::Update]);
    assert_eq!(h[1].deletion, Some(rep.deletion));
    assert_eq!(
        h[1].row.as_ref().unwrap().get("author_id"),
        Some(&Value::Null)
    );
    let d = db.deletion(rep.deletion).unwrap();
    assert_eq!(h[1].tx, d.tx);
    assert_eq!(d.unlinked, 3);
    assert_eq!(d.remaining, 6);
    assert_eq!(
        d.rows,
        vec![
            ("author".to_string(), 1),
            ("book".to_string(), 1),
            ("review".to_string(), 1)
        ]
    );

    let plan = db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(plan.rows, rep.rows);
    assert_eq!(plan.relinks, rep.unlinked);
    for p in [1, 2] {
        assert_eq!(
            db.get("post", p).unwrap().unwrap().get("author_id"),
            Some(&Value::Int(1))
        );
    }
    assert_eq!(
        db.get("review", 2).unwrap().unwrap().get("author_id"),
        Some(&Value::Int(1))
    );
}

/// account ← invoice (restrict), account ← session (cascade) ← audit (restrict),
/// account ← note (cascade) and session ← note (restrict).
fn restrict_schema(db: &Db) {
    db.create_table(
        TableBuilder::new("account")
            .column(("id", ColumnType::Int))
            .primary_key("id"),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("invoice")
            .column(("id", ColumnType::Int))
            .column(("account_id", ColumnType::Int))
            .primary_key("id")
            .foreign_key("account_id", "account", OnDelete::Restrict),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("session")
            .column(("id", ColumnType::Int))
            .column(("account_id", ColumnType::Int))
            .primary_key("id")
            .foreign_key("account_id", "account", OnDelete::Cascade),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("audit")
            .column(("id", ColumnType::Int))
            .column(("session_id", ColumnType::Int))
            .primary_key("id")
            .foreign_key("session_id", "session", OnDelete::Restrict),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("note")
            .column(("id", ColumnType::Int))
            .column(("account_id", ColumnType::Int))
            .column(("session_id", ColumnType::Int))
            .primary_key("id")
            .foreign_key("account_id", "account", OnDelete::Cascade)
            .foreign_key("session_id", "session", OnDelete::Restrict),
    )
    .unwrap();
}

fn restrict_refuses_and_writes_nothing(db: &Db) {
    restrict_schema(db);
    db.transaction(|tx| {
        for _ in 0..3 {
            tx.insert("account", Row::new())?;
        }
        for a in [1, 1, 2] {
            tx.insert("invoice", Row::new().with("account_id", a))?;
        }
        tx.insert("session", Row::new().with("account_id", 1))?;
        tx.insert("session", Row::new().with("account_id", 3))?;
        tx.insert("audit", Row::new().with("session_id", 1))?;
        // note 1 references session 1 with restrict, but is tombstoned through account 1 anyway
        tx.insert(
            "note",
            Row::new().with("account_id", 1).with("session_id", 1),
        )?;
        tx.insert(
            "note",
            Row::new().with("account_id", 3).with("session_id", 2),
        )?;
        Ok::<_, Error>(())
    })
    .unwrap();
    let before = snapshot(db);
    let lsn0 = db.last_lsn();

    let err = db.delete("account", 1).unwrap_err();
    match &err {
        Error::DeleteRestricted {
            table,
            pk,
            blocking,
        } => {
            assert_eq!((table.as_str(), pk.as_str()), ("account", "1"));
            let mut b = blocking.clone();
            b.sort();
            assert_eq!(b, vec!["audit 1", "invoice 1", "invoice 2"], "{err}");
        }
        other => panic!("expected DeleteRestricted, got {other}"),
    }
    assert_eq!(db.last_lsn(), lsn0, "a refused delete writes nothing");
    assert_eq!(snapshot(db), before);
    assert!(db.trash(&TrashQuery::all()).unwrap().is_empty());

    // a restrict child inside the same deletion does not block: note 2 → session 2 (restrict),
    // but note 2 goes with account 3 through cascade
    let rep = db.delete("account", 3).unwrap();
    assert_eq!(
        rep.rows,
        vec![rr("account", 3), rr("session", 2), rr("note", 2)]
    );

    // the refusal is inside a transaction too: the closure sees the error, nothing commits
    let lsn1 = db.last_lsn();
    let res = db.transaction(|tx| {
        tx.insert("account", Row::new().with("id", 10))?;
        tx.delete("account", 1)
    });
    assert!(matches!(res, Err(Error::DeleteRestricted { .. })));
    assert_eq!(db.last_lsn(), lsn1);
    assert_eq!(db.get("account", 10).unwrap(), None);

    // once the blockers are gone the delete goes through
    db.delete_many("invoice", vec![1.into(), 2.into()], &Default::default())
        .unwrap();
    db.delete("audit", 1).unwrap();
    let rep = db.delete("account", 1).unwrap();
    assert_eq!(
        rep.rows,
        vec![rr("account", 1), rr("session", 1), rr("note", 1)]
    );
}

fn deleting_a_row_that_is_not_live(db: &Db) {
    org_seed(db);
    let lsn0 = db.last_lsn();
    let err = db.delete("org", 99).unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { table, pk } if table == "org" && pk == "99"),
        "{err}"
    );
    let err = db.delete("nope", 1).unwrap_err();
    assert!(
        matches!(&err, Error::UnknownTable(t) if t == "nope"),
        "{err}"
    );
    assert_eq!(db.last_lsn(), lsn0);

    let rep = db.delete("org", 1).unwrap();
    let lsn1 = db.last_lsn();
    let err = db.delete("org", 1).unwrap_err();
    assert!(
        matches!(&err, Error::AlreadyDeleted { table, pk, deletion }
            if table == "org" && pk == "1" && *deletion == rep.deletion),
        "{err}"
    );
    // a row taken by the cascade names the deletion that took it
    let err = db.delete("member", 3).unwrap_err();
    assert!(
        matches!(&err, Error::AlreadyDeleted { table, deletion, .. }
            if table == "member" && *deletion == rep.deletion),
        "{err}"
    );
    // several roots, one of them trashed: refused as a whole
    let err = db
        .delete_many("member", vec![4.into(), 1.into()], &Default::default())
        .unwrap_err();
    assert!(
        matches!(&err, Error::AlreadyDeleted { pk, deletion, .. }
            if pk == "1" && *deletion == rep.deletion),
        "{err}"
    );
    assert_eq!(db.last_lsn(), lsn1, "refused deletes write nothing");
    assert_eq!(ids(db, "member"), vec![4]);

    // inside one transaction, a row deleted earlier in it is already deleted
    let res = db.transaction(|tx| {
        let r = tx.delete("team", 3)?;
        match tx.delete("member", 4) {
            Err(Error::AlreadyDeleted { deletion, .. }) if deletion == r.deletion => {}
            other => panic!("expected AlreadyDeleted in {}, got {other:?}", r.deletion),
        }
        Err::<(), _>(Error::InvalidInput("abort".into()))
    });
    assert!(matches!(res, Err(Error::InvalidInput(_))));
    assert_eq!(db.last_lsn(), lsn1);

    // once restored, the row can be deleted again
    db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    let again = db.delete("org", 1).unwrap();
    assert_ne!(again.deletion, rep.deletion);
}

fn bulk_deletes_are_one_deletion(db: &Db) {
    org_seed(db);
    let before = snapshot(db);

    let rep = db
        .delete_many(
            "team",
            vec![3.into(), 1.into()],
            &lazarusdb::Audit::by("ops"),
        )
        .unwrap();
    assert_eq!(
        rep.rows,
        vec![
            rr("team", 3),
            rr("team", 1),
            rr("member", 4),
            rr("member", 1),
            rr("member", 2)
        ],
        "the named rows first, in the order given, then the cascade"
    );
    let trash = db.trash(&TrashQuery::all()).unwrap();
    assert_eq!(trash.len(), 1);
    assert_eq!(trash[0].roots, vec![rr("team", 3), rr("team", 1)]);
    assert_eq!(trash[0].actor.as_deref(), Some("ops"));
    assert_eq!(ids(db, "team"), vec![2]);
    assert_eq!(ids(db, "member"), vec![3]);
    db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(snapshot(db), before);

    // delete_where: every live row matching an index value, as one deletion
    let rep = db
        .transaction(|tx| tx.delete_where("member", &["team_id"], &[1.into()]))
        .unwrap();
    assert_eq!(rep.rows, vec![rr("member", 1), rr("member", 2)]);
    assert_eq!(ids(db, "member"), vec![3, 4]);
    let rep2 = db
        .transaction(|tx| tx.delete_where("team", &["org_id"], &[2.into()]))
        .unwrap();
    assert_eq!(rep2.rows, vec![rr("team", 3), rr("member", 4)]);
    let trash = db.trash(&TrashQuery::all()).unwrap();
    assert_eq!(
        trash.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![rep2.deletion, rep.deletion]
    );

    // nothing matching: NotFound, nothing written; nothing given: InvalidInput
    let lsn = db.last_lsn();
    let err = db
        .transaction(|tx| tx.delete_where("member", &["team_id"], &[1.into()]))
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { table, .. } if table == "member"),
        "{err}"
    );
    let err = db
        .delete_many("member", vec![], &Default::default())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    let err = db
        .transaction(|tx| tx.delete_where("member", &["email"], &[1.into()]))
        .unwrap_err();
    assert!(matches!(err, Error::WrongType { .. }), "{err}");
    assert_eq!(db.last_lsn(), lsn);

    db.restore(rep2.deletion, RestorePolicy::Refuse).unwrap();
    db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(snapshot(db), before);
}

fn deletes_inside_a_multi_op_transaction(db: &Db) {
    org_seed(db);
    let before = snapshot(db);
    let lsn0 = db.last_lsn();

    // a failed closure writes nothing, even after a successful delete in it
    let res = db.transaction(|tx| {
        tx.insert("org", Row::new().with("name", "initech"))?;
        let rep = tx.delete("org", 1)?;
        assert_eq!(rep.rows.len(), 6);
        assert_eq!(
            tx.get("org", 1)?,
            None,
            "the transaction sees its own delete"
        );
        assert_eq!(tx.count("member")?, 1);
        // violates the unique name of team 3: the whole transaction is dropped
        tx.insert("team", Row::new().with("org_id", 2).with("name", "green"))?;
        Ok::<_, Error>(())
    });
    let err = res.unwrap_err();
    assert!(
        matches!(&err, Error::ConstraintViolation { constraint: Constraint::Unique(c), .. } if c == &["name".to_string()]),
        "{err}"
    );
    assert_eq!(db.last_lsn(), lsn0);
    assert_eq!(snapshot(db), before);
    assert!(db.trash(&TrashQuery::all()).unwrap().is_empty());

    // the same work, committing
    let rep = db
        .transaction(|tx| {
            let org = tx.insert("org", Row::new().with("name", "initech"))?;
            tx.update("team", 3, Row::new().with("name", "teal"))?;
            let rep = tx.delete("org", 1)?;
            // the unique name of a team deleted in this transaction is free again
            tx.insert(
                "team",
                Row::new()
                    .with("org_id", org.get("id").cloned().unwrap())
                    .with("name", "red"),
            )?;
            // and a second delete in the same transaction is a second deletion
            tx.delete("member", 4)?;
            Ok::<_, Error>(rep)
        })
        .unwrap();
    assert_eq!(ids(db, "org"), vec![2, 3]);
    assert_eq!(ids(db, "team"), vec![3, 4]);
    assert_eq!(
        db.get("team", 3).unwrap().unwrap().get("name"),
        Some(&Value::from("teal"))
    );
    assert_eq!(ids(db, "member"), Vec::<i64>::new());
    let trash = db.trash(&TrashQuery::all()).unwrap();
    assert_eq!(trash.len(), 2, "two deletes: two deletions");
    assert_eq!(trash[0].tx, trash[1].tx, "in one transaction");
    assert!(trash.iter().any(|d| d.id == rep.deletion));
}

fn live_views_never_show_a_tombstone(db: &Db) {
    org_seed(db);
    let rep = db.delete("team", 1).unwrap();
    assert_eq!(
        rep.rows,
        vec![rr("team", 1), rr("member", 1), rr("member", 2)]
    );

    // get, scan (every shape), count
    assert_eq!(db.get("team", 1).unwrap(), None);
    assert_eq!(db.get("member", 2).unwrap(), None);
    assert_eq!(ids(db, "member"), vec![3, 4]);
    assert_eq!(
        ids_of(&db.scan("member", Scan::range(1..3)).unwrap()),
        Vec::<i64>::new()
    );
    assert_eq!(
        ids_of(&db.scan("member", Scan::all().reverse().limit(1)).unwrap()),
        vec![4]
    );
    assert_eq!(
        ids_of(&db.scan("member", Scan::all().limit(1)).unwrap()),
        vec![3]
    );
    assert_eq!(db.count("member").unwrap(), 2);
    assert_eq!(db.count("team").unwrap(), 2);
    let stats = db.stats().unwrap();
    assert!(stats.tables.contains(&("member".to_string(), 2)));

    // lookups on unique, secondary and foreign-key indexes
    assert_eq!(
        db.lookup("member", &["email"], &["m1@x".into()]).unwrap(),
        vec![]
    );
    assert_eq!(
        db.lookup("team", &["name"], &["red".into()]).unwrap(),
        vec![]
    );
    assert_eq!(
        ids_of(
            &db.lookup_range("member", &["level"], IndexRange::range(1..=4))
                .unwrap()
        ),
        vec![3, 4]
    );
    assert_eq!(
        ids_of(
            &db.lookup_range(
                "member",
                &["level"],
                IndexRange::range(0..10).reverse().limit(1)
            )
            .unwrap()
        ),
        vec![4]
    );
    assert_eq!(
        ids_of(
            &db.lookup_range("member", &["level"], IndexRange::range(0..10).limit(1))
                .unwrap()
        ),
        vec![3]
    );
    assert_eq!(
        db.lookup("member", &["team_id"], &[1.into()]).unwrap(),
        vec![]
    );

    // relations
    assert_eq!(db.children("team", 1, "member").unwrap(), vec![]);
    assert_eq!(ids_of(&db.children("org", 1, "team").unwrap()), vec![2]);
    assert_eq!(db.parent("member", 1, "team_id").unwrap(), None);
    assert_eq!(
        ids_of(&[db.parent("member", 3, "team_id").unwrap().unwrap()]),
        vec![2]
    );

    // the same through a transaction's reads
    db.transaction(|tx| {
        assert_eq!(tx.get("member", 1)?, None);
        assert_eq!(tx.count("member")?, 2);
        assert_eq!(tx.lookup("member", &["email"], &["m2@x".into()])?, vec![]);
        assert_eq!(tx.children("team", 1, "member")?, vec![]);
        Ok::<_, Error>(())
    })
    .unwrap();

    // unique check: a trashed row's unique value is free
    let lsn = db.last_lsn();
    let t = db
        .insert("team", Row::new().with("org_id", 2).with("name", "red"))
        .unwrap();
    assert_eq!(t.get("id"), Some(&Value::Int(4)));
    let m = db
        .insert(
            "member",
            Row::new()
                .with("team_id", 4)
                .with("email", "m1@x")
                .with("level", 1),
        )
        .unwrap();
    assert_eq!(m.get("id"), Some(&Value::Int(5)));
    // ... and an update to it as well
    db.update("member", 3, Row::new().with("email", "m2@x"))
        .unwrap();
    assert_eq!(db.last_lsn(), lsn + 3);

    // foreign-key check: a new row cannot reference a trashed parent, nor be updated to
    let lsn = db.last_lsn();
    let err = db
        .insert(
            "member",
            Row::new()
                .with("team_id", 1)
                .with("email", "z@x")
                .with("level", 9),
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::ConstraintViolation {
            constraint: Constraint::ForeignKey { column, references }, value, ..
        } if column == "team_id" && references == "team" && value == "1"),
        "{err}"
    );
    let err = db
        .update("member", 3, Row::new().with("team_id", 1))
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::ConstraintViolation {
                constraint: Constraint::ForeignKey { .. },
                ..
            }
        ),
        "{err}"
    );
    // nor can a trashed row be updated
    let err = db
        .update("member", 1, Row::new().with("level", 7))
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert_eq!(db.last_lsn(), lsn);
}

fn int_keys_are_never_reused(db: &Db) {
    org_schema(db);
    for name in ["a", "b", "c"] {
        db.insert("org", Row::new().with("name", name)).unwrap();
    }
    let rep = db.delete("org", 3).unwrap();
    let row = db.insert("org", Row::new().with("name", "d")).unwrap();
    assert_eq!(row.get("id"), Some(&Value::Int(4)), "3 is in the trash");
    db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    let row = db.insert("org", Row::new().with("name", "e")).unwrap();
    assert_eq!(row.get("id"), Some(&Value::Int(5)));

    // an explicit high key moves the sequence; deleting it does not move it back
    db.insert("org", Row::new().with("id", 50).with("name", "f"))
        .unwrap();
    db.delete("org", 50).unwrap();
    db.delete_many(
        "org",
        (1..=5).map(Value::from).collect(),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(db.count("org").unwrap(), 0);
    let row = db.insert("org", Row::new().with("name", "g")).unwrap();
    assert_eq!(row.get("id"), Some(&Value::Int(51)));
}

fn wide_deletion(db: &Db) {
    const N: i64 = 5_000;
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
            .column(("v", ColumnType::Text))
            .primary_key("id")
            .unique(["v"])
            .foreign_key("p_id", "p", OnDelete::Cascade),
    )
    .unwrap();
    db.transaction(|tx| {
        tx.insert("p", Row::new())?;
        tx.insert("p", Row::new())?;
        for i in 1..=N {
            tx.insert("c", Row::new().with("p_id", 1).with("v", format!("v{i}")))?;
        }
        tx.insert("c", Row::new().with("p_id", 2).with("v", "other"))?;
        Ok::<_, Error>(())
    })
    .unwrap();
    let before = snapshot(db);

    let rep = db.delete("p", 1).unwrap();
    assert_eq!(rep.rows.len(), N as usize + 1);
    assert_eq!(rep.rows[0], rr("p", 1));
    assert_eq!(rep.rows[1], rr("c", 1));
    assert_eq!(rep.rows[N as usize], rr("c", N));
    assert_eq!(db.count("c").unwrap(), 1);
    let d = db.deletion(rep.deletion).unwrap();
    assert_eq!(
        d.rows,
        vec![("p".to_string(), 1), ("c".to_string(), N as u64)]
    );
    assert_eq!(d.remaining, N as u64 + 1);

    let plan = db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(plan.rows.len(), N as usize + 1);
    assert_eq!(plan.rows[0], rr("p", 1));
    assert_eq!(snapshot(db), before);
    assert_eq!(db.count("c").unwrap(), N as u64 + 1);
    assert_eq!(
        ids_of(&db.lookup("c", &["v"], &["v4321".into()]).unwrap()),
        vec![4321]
    );
}

fn deep_chain(db: &Db) {
    const N: i64 = 2_000;
    db.create_table(
        TableBuilder::new("node")
            .column(("id", ColumnType::Int))
            .column(ColumnDef::new("prev", ColumnType::Int).nullable())
            .primary_key("id")
            .foreign_key("prev", "node", OnDelete::Cascade),
    )
    .unwrap();
    db.transaction(|tx| {
        tx.insert("node", Row::new().with("id", 1))?;
        for i in 2..=N {
            tx.insert("node", Row::new().with("id", i).with("prev", i - 1))?;
        }
        Ok::<_, Error>(())
    })
    .unwrap();
    let before = snapshot(db);

    // from the middle: the tail goes, the head stays
    let rep = db.delete("node", N / 2 + 1).unwrap();
    assert_eq!(
        rep.rows,
        (N / 2 + 1..=N).map(|i| rr("node", i)).collect::<Vec<_>>()
    );
    assert_eq!(db.count("node").unwrap(), (N / 2) as u64);
    // then from the head: the rest
    let rep2 = db.delete("node", 1).unwrap();
    assert_eq!(rep2.rows.len(), (N / 2) as usize);
    assert_eq!(db.count("node").unwrap(), 0);

    // the tail cannot come back before the head
    let plan = db
        .restore_plan(rep.deletion, RestorePolicy::Refuse)
        .unwrap();
    assert_eq!(plan.conflicts.len(), 1, "{:?}", plan.conflicts);
    assert_eq!(plan.conflicts[0].row, rr("node", N / 2 + 1));
    let plan = db.restore(rep2.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(plan.rows, rep2.rows, "parents before children");
    let plan = db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(plan.rows, rep.rows);
    assert_eq!(snapshot(db), before);

    // the whole chain at once
    let rep = db.delete("node", 1).unwrap();
    assert_eq!(rep.rows.len(), N as usize);
    assert_eq!(rep.rows.last(), Some(&rr("node", N)));
    db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(snapshot(db), before);
}

/// acc ← link through two restrict columns, acc ← pair through two set_null columns.
fn two_column_schema(db: &Db) {
    db.create_table(
        TableBuilder::new("acc")
            .column(("id", ColumnType::Int))
            .primary_key("id"),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("link")
            .column(("id", ColumnType::Int))
            .column(("a", ColumnType::Int))
            .column(("b", ColumnType::Int))
            .primary_key("id")
            .foreign_key("a", "acc", OnDelete::Restrict)
            .foreign_key("b", "acc", OnDelete::Restrict),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("pair")
            .column(("id", ColumnType::Int))
            .column(ColumnDef::new("a", ColumnType::Int).nullable())
            .column(ColumnDef::new("b", ColumnType::Int).nullable())
            .primary_key("id")
            .foreign_key("a", "acc", OnDelete::SetNull)
            .foreign_key("b", "acc", OnDelete::SetNull),
    )
    .unwrap();
    db.transaction(|tx| {
        for _ in 0..3 {
            tx.insert("acc", Row::new())?;
        }
        tx.insert("link", Row::new().with("a", 1).with("b", 1))?;
        tx.insert("pair", Row::new().with("a", 2).with("b", 2))?;
        tx.insert("pair", Row::new().with("a", 2).with("b", 3))?;
        Ok::<_, Error>(())
    })
    .unwrap();
}

fn set_null_clears_every_column_in_one_update(db: &Db) {
    two_column_schema(db);
    let before = snapshot(db);
    let rep = db.delete("acc", 2).unwrap();
    assert_eq!(rep.rows, vec![rr("acc", 2)]);
    assert_eq!(rep.unlinked, vec![rr("pair", 1), rr("pair", 2)]);
    let p1 = db.get("pair", 1).unwrap().unwrap();
    assert_eq!(
        (p1.get("a"), p1.get("b")),
        (Some(&Value::Null), Some(&Value::Null))
    );
    let p2 = db.get("pair", 2).unwrap().unwrap();
    assert_eq!(
        (p2.get("a"), p2.get("b")),
        (Some(&Value::Null), Some(&Value::Int(3)))
    );
    assert_eq!(
        db.history("pair", 1).unwrap().len(),
        2,
        "one update for both columns"
    );
    assert_eq!(db.deletion(rep.deletion).unwrap().unlinked, 2);
    db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(snapshot(db), before);
}

fn restrict_names_each_blocking_row_once(db: &Db) {
    two_column_schema(db);
    let lsn = db.last_lsn();
    // link 1 references acc 1 through both of its restrict columns: one blocking row
    let err = db.delete("acc", 1).unwrap_err();
    assert!(
        matches!(&err, Error::DeleteRestricted { blocking, .. } if blocking == &["link 1"]),
        "{err}"
    );
    assert_eq!(db.last_lsn(), lsn);
}

on_both!(
    cascade_three_levels,
    self_referencing_tree,
    foreign_key_cycle,
    set_null_children,
    restrict_refuses_and_writes_nothing,
    deleting_a_row_that_is_not_live,
    bulk_deletes_are_one_deletion,
    deletes_inside_a_multi_op_transaction,
    live_views_never_show_a_tombstone,
    int_keys_are_never_reused,
    set_null_clears_every_column_in_one_update,
);

mod restrict_names_each_blocking_row_once {
    #[test]
    fn memory() {
        super::on_memory(super::restrict_names_each_blocking_row_once);
    }
}

// The big ones run in memory only, to keep the suite fast (the engines are pinned above).
on_memory!(wide_deletion, deep_chain);
