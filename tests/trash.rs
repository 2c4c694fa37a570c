//! Pins the trash: it lists the deletions not (fully) restored, newest first, each with its id,
//! transaction, first LSN, time, actor and reason (`Audit` through `delete_with`), roots, rows
//! per table and member counts; a restored deletion leaves it (a partly restored one stays);
//! filters by table (`TrashQuery::table`, tombstoned rows only) and by time (`since` and
//! `until`, both inclusive); pagination (`limit(n)` then `before(last id)`) has no overlap and
//! no gap, also around restored deletions; `deletion_rows` returns the members still in the
//! trash with their last live images, in deletion order; `find_deletion` names the deletion
//! holding a trashed row and is `None` otherwise; `stats().deletions` counts the trash; the
//! trash survives reopening and rebuilding the store.
//! Scenarios run on the memory engine and the core ones on fjall too; each ends with `verify`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Duration;

use lazarusdb::{
    Audit, ChangeKind, ColumnDef, ColumnType, Db, Deletion, Error, MemberKind, OnDelete, Options,
    Readable, RestorePolicy, Row, RowRef, Scan, TableBuilder, Timestamp, TrashQuery, Value,
};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Harness.

#[macro_use]
mod common;
use common::*;

fn ids_in(list: &[Deletion]) -> Vec<Uuid> {
    list.iter().map(|d| d.id).collect()
}

fn trash_ids(db: &Db, q: TrashQuery) -> Vec<Uuid> {
    ids_in(&db.trash(&q).unwrap())
}

/// Deletion times are microseconds: a short pause makes each one distinct.
fn pause() {
    std::thread::sleep(Duration::from_millis(3));
}

/// org ← team ← member (cascade), author ← post (set_null).
fn seed(db: &Db) {
    db.create_table(
        TableBuilder::new("org")
            .column(("id", ColumnType::Int))
            .column(("name", ColumnType::Text))
            .primary_key("id"),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("team")
            .column(("id", ColumnType::Int))
            .column(("org_id", ColumnType::Int))
            .primary_key("id")
            .foreign_key("org_id", "org", OnDelete::Cascade),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("member")
            .column(("id", ColumnType::Int))
            .column(("team_id", ColumnType::Int))
            .column(("level", ColumnType::Int))
            .primary_key("id")
            .foreign_key("team_id", "team", OnDelete::Cascade),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("author")
            .column(("id", ColumnType::Int))
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
    // org 1 {team 1 {member 1, 2}, team 2 {member 3}}, org 2 {team 3 {member 4}};
    // author 1 {post 1, 2}, author 2 {post 3}
    db.transaction(|tx| {
        for n in ["acme", "globex"] {
            tx.insert("org", Row::new().with("name", n))?;
        }
        for org in [1, 1, 2] {
            tx.insert("team", Row::new().with("org_id", org))?;
        }
        for (i, team) in [1, 1, 2, 3].into_iter().enumerate() {
            tx.insert(
                "member",
                Row::new().with("team_id", team).with("level", i as i64),
            )?;
        }
        tx.insert("author", Row::new())?;
        tx.insert("author", Row::new())?;
        for a in [1, 1, 2] {
            tx.insert("post", Row::new().with("author_id", a).with("title", "t"))?;
        }
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// A table of `n` independent rows.
fn flat(db: &Db, n: i64) {
    db.create_table(
        TableBuilder::new("flat")
            .column(("id", ColumnType::Int))
            .primary_key("id"),
    )
    .unwrap();
    db.transaction(|tx| {
        for _ in 0..n {
            tx.insert("flat", Row::new())?;
        }
        Ok::<_, Error>(())
    })
    .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

fn trash_lists_deletions_newest_first(db: &Db) {
    seed(db);
    assert!(db.trash(&TrashQuery::all()).unwrap().is_empty());
    assert_eq!(db.stats().unwrap().deletions, 0);

    let t0 = Timestamp::now();
    let d1 = db
        .delete_with("member", 4, &Audit::by("alice").because("left"))
        .unwrap();
    pause();
    let d2 = db
        .delete_with("org", 1, &Audit::by("bob").because("closed"))
        .unwrap();
    pause();
    let d3 = db.delete("team", 3).unwrap();
    pause();
    let d4 = db.delete_with("author", 1, &Audit::by("carol")).unwrap();
    let t1 = Timestamp::now();

    let trash = db.trash(&TrashQuery::all()).unwrap();
    assert_eq!(
        ids_in(&trash),
        vec![d4.deletion, d3.deletion, d2.deletion, d1.deletion]
    );
    let [e4, e3, e2, e1] = &trash[..] else {
        panic!("four deletions expected: {trash:?}");
    };
    // who, why
    assert_eq!(
        (e1.actor.as_deref(), e1.reason.as_deref()),
        (Some("alice"), Some("left"))
    );
    assert_eq!(
        (e2.actor.as_deref(), e2.reason.as_deref()),
        (Some("bob"), Some("closed"))
    );
    assert_eq!((e3.actor.as_deref(), e3.reason.as_deref()), (None, None));
    assert_eq!(
        (e4.actor.as_deref(), e4.reason.as_deref()),
        (Some("carol"), None)
    );
    // what
    assert_eq!(e1.roots, vec![rr("member", 4)]);
    assert_eq!(e1.rows, vec![("member".to_string(), 1)]);
    assert_eq!(e2.roots, vec![rr("org", 1)]);
    assert_eq!(
        e2.rows,
        vec![
            ("org".to_string(), 1),
            ("team".to_string(), 2),
            ("member".to_string(), 3)
        ]
    );
    assert_eq!(e2.row_count(), 6);
    assert_eq!(e3.roots, vec![rr("team", 3)]);
    assert_eq!(
        e3.rows,
        vec![("team".to_string(), 1)],
        "member 4 was gone already"
    );
    assert_eq!(e4.rows, vec![("author".to_string(), 1)]);
    assert_eq!(
        [e1, e2, e3, e4].map(|e| (e.unlinked, e.remaining, e.restored)),
        [(0, 1, 0), (0, 6, 0), (0, 1, 0), (2, 3, 0)]
    );
    // when, and in which transaction and at which LSN
    assert!(t0 <= e1.at && e1.at < e2.at && e2.at < e3.at && e3.at < e4.at && e4.at <= t1);
    for (e, table, pk) in [
        (e1, "member", 4),
        (e2, "org", 1),
        (e3, "team", 3),
        (e4, "author", 1),
    ] {
        let h = db.history(table, pk).unwrap();
        let tomb = h.last().unwrap();
        assert_eq!(tomb.kind, ChangeKind::Delete);
        assert_eq!(tomb.deletion, Some(e.id));
        assert_eq!(
            (tomb.tx, tomb.lsn, tomb.at),
            (e.tx, e.lsn, e.at),
            "{table} {pk}"
        );
        assert_eq!(db.deletion(e.id).unwrap(), *e);
        let rec = db.transaction_record(e.tx).unwrap().unwrap();
        assert_eq!(rec.first_lsn, e.lsn);
    }
    assert_eq!(db.stats().unwrap().deletions, 4);

    // a partly restored deletion stays, a fully restored one leaves
    db.restore_row(d2.deletion, "org", 1).unwrap();
    let e2 = db.deletion(d2.deletion).unwrap();
    assert_eq!((e2.remaining, e2.restored), (5, 1));
    assert_eq!(db.stats().unwrap().deletions, 4);
    assert_eq!(trash_ids(db, TrashQuery::all())[2], d2.deletion);
    db.restore(d2.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(
        trash_ids(db, TrashQuery::all()),
        vec![d4.deletion, d3.deletion, d1.deletion]
    );
    assert_eq!(db.stats().unwrap().deletions, 3);
    let e2 = db.deletion(d2.deletion).unwrap();
    assert_eq!((e2.remaining, e2.restored), (0, 6));
    assert_eq!(e2.rows.len(), 3, "a restored deletion keeps its record");

    db.restore(d4.deletion, RestorePolicy::Refuse).unwrap();
    db.restore(d3.deletion, RestorePolicy::Refuse).unwrap();
    db.restore(d1.deletion, RestorePolicy::Refuse).unwrap();
    assert!(db.trash(&TrashQuery::all()).unwrap().is_empty());
    assert_eq!(db.stats().unwrap().deletions, 0);
}

fn filter_by_table(db: &Db) {
    seed(db);
    let d1 = db.delete("member", 4).unwrap();
    let d2 = db.delete("org", 1).unwrap();
    let d3 = db.delete("team", 3).unwrap();
    let d4 = db.delete("author", 1).unwrap();
    assert_eq!(
        trash_ids(db, TrashQuery::all().table("member")),
        vec![d2.deletion, d1.deletion]
    );
    assert_eq!(
        trash_ids(db, TrashQuery::all().table("team")),
        vec![d3.deletion, d2.deletion]
    );
    assert_eq!(
        trash_ids(db, TrashQuery::all().table("org")),
        vec![d2.deletion]
    );
    assert_eq!(
        trash_ids(db, TrashQuery::all().table("author")),
        vec![d4.deletion]
    );
    assert_eq!(
        trash_ids(db, TrashQuery::all().table("post")),
        Vec::<Uuid>::new(),
        "set-null updates are not tombstoned rows"
    );
    assert_eq!(
        trash_ids(db, TrashQuery::all().table("member").limit(1)),
        vec![d2.deletion]
    );
    assert_eq!(
        trash_ids(db, TrashQuery::all().table("member").before(d2.deletion)),
        vec![d1.deletion]
    );
    let err = db.trash(&TrashQuery::all().table("nope")).unwrap_err();
    assert!(
        matches!(&err, Error::UnknownTable(t) if t == "nope"),
        "{err}"
    );

    db.restore(d2.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(
        trash_ids(db, TrashQuery::all().table("member")),
        vec![d1.deletion]
    );
    assert_eq!(
        trash_ids(db, TrashQuery::all().table("org")),
        Vec::<Uuid>::new()
    );
}

fn filter_by_time(db: &Db) {
    flat(db, 5);
    let mut ds = Vec::new();
    for i in 1..=5 {
        pause();
        ds.push(db.delete("flat", i).unwrap().deletion);
    }
    let at: Vec<Timestamp> = ds.iter().map(|d| db.deletion(*d).unwrap().at).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?}");
    let (d, at) = (&ds, &at);

    assert_eq!(
        trash_ids(db, TrashQuery::all().since(at[1])),
        vec![d[4], d[3], d[2], d[1]],
        "since is inclusive"
    );
    assert_eq!(
        trash_ids(db, TrashQuery::all().until(at[1])),
        vec![d[1], d[0]],
        "until is inclusive"
    );
    assert_eq!(
        trash_ids(db, TrashQuery::all().since(at[1]).until(at[3])),
        vec![d[3], d[2], d[1]]
    );
    assert_eq!(
        trash_ids(db, TrashQuery::all().since(at[2]).until(at[2])),
        vec![d[2]]
    );
    assert_eq!(
        trash_ids(db, TrashQuery::all().since(Timestamp(at[4].0 + 1))),
        Vec::<Uuid>::new()
    );
    assert_eq!(
        trash_ids(db, TrashQuery::all().until(Timestamp(at[0].0 - 1))),
        Vec::<Uuid>::new()
    );
    assert_eq!(
        trash_ids(
            db,
            TrashQuery::all()
                .since(Timestamp(at[0].0 + 1))
                .until(Timestamp(at[2].0 - 1))
        ),
        vec![d[1]]
    );
    // with pagination and restored deletions in the window
    assert_eq!(
        trash_ids(db, TrashQuery::all().until(at[3]).limit(2)),
        vec![d[3], d[2]]
    );
    assert_eq!(
        trash_ids(db, TrashQuery::all().until(at[3]).limit(2).before(d[2])),
        vec![d[1], d[0]]
    );
    db.restore(d[2], RestorePolicy::Refuse).unwrap();
    assert_eq!(
        trash_ids(db, TrashQuery::all().since(at[1]).until(at[3])),
        vec![d[3], d[1]]
    );
}

fn pagination_has_no_overlap_and_no_gap(db: &Db) {
    flat(db, 7);
    let mut made = Vec::new();
    for i in 1..=7 {
        made.push(db.delete("flat", i).unwrap().deletion);
    }
    made.reverse(); // newest first
    assert_eq!(trash_ids(db, TrashQuery::all()), made);

    let pages = |db: &Db, n: usize| {
        let mut out: Vec<Vec<Uuid>> = Vec::new();
        let mut q = TrashQuery::all().limit(n);
        loop {
            let page = trash_ids(db, q.clone());
            assert!(page.len() <= n);
            let Some(last) = page.last().copied() else {
                break;
            };
            out.push(page);
            q = TrashQuery::all().limit(n).before(last);
            assert!(out.len() <= 10, "pagination does not end: {out:?}");
        }
        out
    };
    let p = pages(db, 3);
    assert_eq!(p.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 3, 1]);
    assert_eq!(p.concat(), made);
    assert_eq!(pages(db, 7).concat(), made);
    assert_eq!(pages(db, 100), vec![made.clone()]);
    assert_eq!(
        trash_ids(db, TrashQuery::all().limit(0)),
        Vec::<Uuid>::new()
    );
    assert_eq!(
        trash_ids(db, TrashQuery::all().before(made[6])),
        Vec::<Uuid>::new(),
        "nothing older than the oldest"
    );
    assert_eq!(
        trash_ids(db, TrashQuery::all().before(Uuid::now_v7())),
        made,
        "a cursor newer than everything: the whole trash"
    );

    // restored deletions are skipped without shifting the pages; a restored id is still a cursor
    db.restore(made[2], RestorePolicy::Refuse).unwrap();
    db.restore(made[3], RestorePolicy::Refuse).unwrap();
    let left: Vec<Uuid> = made
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 2 && *i != 3)
        .map(|(_, d)| *d)
        .collect();
    let p = pages(db, 2);
    assert_eq!(p.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2, 1]);
    assert_eq!(p.concat(), left);
    assert_eq!(
        trash_ids(db, TrashQuery::all().before(made[2])),
        vec![made[4], made[5], made[6]]
    );
}

fn deletion_rows_hold_the_last_images(db: &Db) {
    seed(db);
    db.update("member", 2, Row::new().with("level", 20))
        .unwrap();
    db.update("post", 1, Row::new().with("title", "edited"))
        .unwrap();
    let live = |table: &str, pk: i64| db.get(table, pk).unwrap().unwrap();
    let before: Vec<(RowRef, Row)> = [
        ("org", 1),
        ("team", 1),
        ("team", 2),
        ("member", 1),
        ("member", 2),
        ("member", 3),
    ]
    .into_iter()
    .map(|(t, pk)| (rr(t, pk), live(t, pk)))
    .collect();

    let d = db.delete("org", 1).unwrap();
    let rows = db.deletion_rows(d.deletion).unwrap();
    let got: Vec<(RowRef, Row)> = rows
        .iter()
        .map(|m| (m.row_ref.clone(), m.row.clone()))
        .collect();
    assert_eq!(got, before);
    assert_eq!(
        rows[4].row.get("level"),
        Some(&Value::Int(20)),
        "the updated image"
    );
    assert!(rows.iter().all(|m| m.kind == MemberKind::Tombstoned));
    assert!(rows.windows(2).all(|w| w[0].lsn < w[1].lsn));
    for m in &rows {
        let h = db.history(&m.row_ref.table, m.row_ref.pk.clone()).unwrap();
        assert_eq!(h.last().unwrap().lsn, m.lsn, "{}", m.row_ref);
    }

    // set-null members: the row as it was before its reference was cleared
    let p1 = live("post", 1);
    let p2 = live("post", 2);
    let a = db.delete("author", 1).unwrap();
    let rows = db.deletion_rows(a.deletion).unwrap();
    let got: Vec<(RowRef, MemberKind)> = rows.iter().map(|m| (m.row_ref.clone(), m.kind)).collect();
    assert_eq!(
        got,
        vec![
            (rr("author", 1), MemberKind::Tombstoned),
            (rr("post", 1), MemberKind::Unlinked),
            (rr("post", 2), MemberKind::Unlinked),
        ]
    );
    assert_eq!(rows[1].row, p1);
    assert_eq!(rows[2].row, p2);
    assert_eq!(rows[1].row.get("author_id"), Some(&Value::Int(1)));
    assert_eq!(
        db.history("post", 1).unwrap().last().unwrap().lsn,
        rows[1].lsn
    );

    // members leave as they are restored
    db.restore_row(d.deletion, "org", 1).unwrap();
    db.restore_row(d.deletion, "team", 2).unwrap();
    let left: Vec<RowRef> = db
        .deletion_rows(d.deletion)
        .unwrap()
        .into_iter()
        .map(|m| m.row_ref)
        .collect();
    assert_eq!(
        left,
        vec![
            rr("team", 1),
            rr("member", 1),
            rr("member", 2),
            rr("member", 3)
        ]
    );
    db.restore(d.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(db.deletion_rows(d.deletion).unwrap(), vec![]);
    db.restore(a.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(db.deletion_rows(a.deletion).unwrap(), vec![]);
}

fn find_deletion_names_the_holder(db: &Db) {
    seed(db);
    let d = db.delete("org", 1).unwrap();
    for r in &d.rows {
        assert_eq!(
            db.find_deletion(&r.table, r.pk.clone()).unwrap(),
            Some(d.deletion),
            "{r}"
        );
    }
    assert_eq!(db.find_deletion("org", 2).unwrap(), None, "live");
    assert_eq!(db.find_deletion("member", 4).unwrap(), None, "live");
    assert_eq!(
        db.find_deletion("member", 99).unwrap(),
        None,
        "never existed"
    );
    let a = db.delete("author", 1).unwrap();
    assert_eq!(db.find_deletion("author", 1).unwrap(), Some(a.deletion));
    assert_eq!(
        db.find_deletion("post", 1).unwrap(),
        None,
        "unlinked rows stay live"
    );

    let err = db.find_deletion("nope", 1).unwrap_err();
    assert!(matches!(err, Error::UnknownTable(_)), "{err}");
    let err = db.find_deletion("org", "one").unwrap_err();
    assert!(matches!(err, Error::WrongType { .. }), "{err}");

    // a row restored on its own leaves, the rest stay
    db.restore_row(d.deletion, "org", 1).unwrap();
    assert_eq!(db.find_deletion("org", 1).unwrap(), None);
    assert_eq!(db.find_deletion("team", 1).unwrap(), Some(d.deletion));
    db.restore(d.deletion, RestorePolicy::Refuse).unwrap();
    for r in &d.rows {
        assert_eq!(
            db.find_deletion(&r.table, r.pk.clone()).unwrap(),
            None,
            "{r}"
        );
    }
    // deleted again: the new deletion
    let again = db.delete("team", 1).unwrap();
    assert_eq!(db.find_deletion("member", 1).unwrap(), Some(again.deletion));
}

#[test]
fn trash_survives_reopen_and_rebuild_on_fjall() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let (listed, d_org) = {
        let db = Db::open_with(&path, Options::default()).unwrap();
        seed(&db);
        db.delete_with("member", 4, &Audit::by("alice").because("left"))
            .unwrap();
        let d_org = db.delete("org", 1).unwrap();
        db.delete("author", 2).unwrap();
        db.restore_row(d_org.deletion, "org", 1).unwrap();
        let listed = db.trash(&TrashQuery::all()).unwrap();
        assert_eq!(listed.len(), 3);
        db.close().unwrap();
        (listed, d_org)
    };
    let db = Db::open(&path).unwrap();
    assert_eq!(db.trash(&TrashQuery::all()).unwrap(), listed);
    assert_eq!(db.stats().unwrap().deletions, 3);
    assert_eq!(db.find_deletion("member", 3).unwrap(), Some(d_org.deletion));
    db.rebuild().unwrap();
    assert_eq!(db.trash(&TrashQuery::all()).unwrap(), listed);
    check_verify(&db);
    db.restore(d_org.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(
        db.scan("member", Scan::all()).unwrap().len(),
        3,
        "members 1-3 back, member 4 still in its own deletion"
    );
    assert_eq!(db.trash(&TrashQuery::all()).unwrap().len(), 2);
    check_verify(&db);
}

on_both!(
    trash_lists_deletions_newest_first,
    filter_by_table,
    filter_by_time,
    pagination_has_no_overlap_and_no_gap,
    deletion_rows_hold_the_last_images,
    find_deletion_names_the_holder,
);
