//! Pins restores: a restore brings back every row of a deletion with its last live image,
//! parents before children, and reverts its set-null updates; every conflict kind
//! (primary_key_taken, unique_taken, parent_not_live, row_not_live, not_in_trash) is listed by
//! the dry run (`restore_plan`) and refuses the restore with `Error::RestoreConflict` listing all
//! of them and writing nothing; the skip policy restores what it can and leaves conflicting rows
//! and the rows depending on them in the trash (a later restore brings them back); restoring
//! twice is `AlreadyRestored`, an unknown id `UnknownDeletion`; a restored row can be deleted
//! again; a child deleted on its own stays deleted when its parent comes back; `restore_row`
//! restores one row when its parents are live; rows come back in today's schema (added columns
//! read their default); `history` shows insert, updates, tombstone and restore; and a delete
//! followed by a restore returns every table's scan to exactly what it was.
//! Scenarios run on the memory engine and the core ones on fjall too; each ends with `verify`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use lazarusdb::{
    Audit, ChangeKind, ColumnDef, ColumnType, Conflict, ConflictKind, Constraint, Db, Error,
    MemberKind, OnDelete, Readable, RestorePolicy, Row, RowRef, Scan, TableBuilder, TrashQuery,
    Value,
};
use uuid::Uuid;

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

fn kinds(conflicts: &[Conflict]) -> Vec<(RowRef, ConflictKind)> {
    conflicts.iter().map(|c| (c.row.clone(), c.kind)).collect()
}

/// Asserts a restore is refused with exactly `expected` conflicts (the dry run lists the same
/// ones), and that it writes nothing.
fn assert_refused(db: &Db, deletion: Uuid, expected: &[(RowRef, ConflictKind)]) -> Vec<Conflict> {
    let plan = db.restore_plan(deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(kinds(&plan.conflicts), expected, "dry run");
    let before = snapshot(db);
    let lsn = db.last_lsn();
    let remaining = db.deletion(deletion).unwrap().remaining;
    let err = db.restore(deletion, RestorePolicy::Refuse).unwrap_err();
    match &err {
        Error::RestoreConflict {
            deletion: d,
            conflicts,
        } => {
            assert_eq!(*d, deletion);
            assert_eq!(conflicts, &plan.conflicts, "{err}");
        }
        other => panic!("expected RestoreConflict, got {other}"),
    }
    assert_eq!(db.last_lsn(), lsn, "a refused restore writes nothing");
    assert_eq!(snapshot(db), before);
    assert_eq!(db.deletion(deletion).unwrap().remaining, remaining);
    plan.conflicts
}

// ---------------------------------------------------------------------------------------------
// Schemas.

/// org ← team ← member, all cascade; org.name, team.name and member.email unique.
fn org_seed(db: &Db) {
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
            .foreign_key("team_id", "team", OnDelete::Cascade),
    )
    .unwrap();
    // org 1 {team 1 {member 1, 2}, team 2 {member 3}}, org 2 {team 3 {member 4}}
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

/// A comment tree: 1 {2 {4 {5}}, 3}, 6.
fn comment_seed(db: &Db) {
    db.create_table(
        TableBuilder::new("comment")
            .column(("id", ColumnType::Int))
            .column(ColumnDef::new("parent_id", ColumnType::Int).nullable())
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
        ] {
            tx.insert(
                "comment",
                Row::new().with("id", id).with("parent_id", parent),
            )?;
        }
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// author ← post (set_null): posts 1, 2 by author 1, post 3 by author 2.
fn post_seed(db: &Db) {
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
    db.transaction(|tx| {
        tx.insert("author", Row::new().with("name", "ann"))?;
        tx.insert("author", Row::new().with("name", "bob"))?;
        for (a, t) in [(1, "p1"), (1, "p2"), (2, "p3")] {
            tx.insert("post", Row::new().with("author_id", a).with("title", t))?;
        }
        Ok::<_, Error>(())
    })
    .unwrap();
}

fn author_of(db: &Db, post: i64) -> Value {
    db.get("post", post)
        .unwrap()
        .unwrap()
        .get("author_id")
        .cloned()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

fn last_live_image_comes_back(db: &Db) {
    org_seed(db);
    db.update("team", 1, Row::new().with("name", "crimson"))
        .unwrap();
    db.update("member", 1, Row::new().with("level", 10))
        .unwrap();
    db.update("member", 1, Row::new().with("level", 11))
        .unwrap();
    let before = snapshot(db);
    let rep = db.delete("org", 1).unwrap();
    let plan = db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(
        plan.rows,
        vec![
            rr("org", 1),
            rr("team", 1),
            rr("team", 2),
            rr("member", 1),
            rr("member", 2),
            rr("member", 3),
        ],
        "parents before children"
    );
    assert!(plan.relinks.is_empty() && plan.conflicts.is_empty() && plan.skipped.is_empty());
    assert_eq!(snapshot(db), before);
    let m1 = db.get("member", 1).unwrap().unwrap();
    assert_eq!(m1.get("level"), Some(&Value::Int(11)));
    assert_eq!(m1.get("team_id"), Some(&Value::Int(1)));
    assert_eq!(
        db.get("team", 1).unwrap().unwrap().get("name"),
        Some(&Value::from("crimson"))
    );

    // the indexes come back with the rows
    assert_eq!(
        ids_of(&db.lookup("team", &["name"], &["crimson".into()]).unwrap()),
        vec![1]
    );
    assert_eq!(
        ids_of(&db.children("team", 1, "member").unwrap()),
        vec![1, 2]
    );
    assert_eq!(ids_of(&db.children("org", 1, "team").unwrap()), vec![1, 2]);
    let err = db
        .insert(
            "member",
            Row::new()
                .with("team_id", 1)
                .with("email", "m1@x")
                .with("level", 1),
        )
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::ConstraintViolation {
                constraint: Constraint::Unique(_),
                ..
            }
        ),
        "{err}"
    );
    // the restored rows are in no deletion any more
    assert_eq!(db.find_deletion("member", 1).unwrap(), None);
}

/// Checks that every row of `rows` comes after its parent when the parent is in `rows`.
fn assert_parents_first(db: &Db, deletion: Uuid, rows: &[RowRef]) {
    let images = db.deletion_rows(deletion).unwrap();
    for (i, r) in rows.iter().enumerate() {
        let image = &images.iter().find(|m| &m.row_ref == r).unwrap().row;
        let parent = image.get("parent_id").cloned().unwrap();
        if let Some(p) = rows.iter().position(|x| x.pk == parent) {
            assert!(
                p < i,
                "{r} comes before its parent comment {parent} in {rows:?}"
            );
        }
    }
}

fn restore_order_is_parents_first_when_a_child_is_named_first(db: &Db) {
    comment_seed(db);
    let before = snapshot(db);
    // comment 2 is a child of comment 1; both named by the delete, the child first
    let rep = db
        .delete_many("comment", vec![2.into(), 1.into()], &Audit::default())
        .unwrap();
    assert_eq!(rep.rows.len(), 5);
    let plan = db
        .restore_plan(rep.deletion, RestorePolicy::Refuse)
        .unwrap();
    assert_parents_first(db, rep.deletion, &plan.rows);
    let plan = db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(snapshot(db), before);
    // and the log agrees: each restore event comes after its parent's
    let lsn_of = |id: i64| {
        db.history("comment", id)
            .unwrap()
            .last()
            .map(|c| (c.kind, c.lsn))
            .unwrap()
    };
    assert_eq!(lsn_of(1).0, ChangeKind::Restore);
    assert!(lsn_of(1).1 < lsn_of(2).1, "{:?}", plan.rows);
}

fn set_null_updates_are_reverted(db: &Db) {
    post_seed(db);
    let before = snapshot(db);
    let rep = db.delete("author", 1).unwrap();
    assert_eq!(rep.unlinked, vec![rr("post", 1), rr("post", 2)]);
    let plan = db
        .restore_plan(rep.deletion, RestorePolicy::Refuse)
        .unwrap();
    assert_eq!(plan.rows, vec![rr("author", 1)]);
    assert_eq!(plan.relinks, vec![rr("post", 1), rr("post", 2)]);
    db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(snapshot(db), before);
    assert_eq!(
        ids_of(&db.children("author", 1, "post").unwrap()),
        vec![1, 2]
    );
    let h = db.history("post", 1).unwrap();
    let k: Vec<ChangeKind> = h.iter().map(|c| c.kind).collect();
    assert_eq!(
        k,
        vec![ChangeKind::Insert, ChangeKind::Update, ChangeKind::Restore]
    );
    assert_eq!(h[2].deletion, Some(rep.deletion));

    // writes made to an unlinked row after the deletion are kept; a reference re-pointed since
    // is not overwritten
    let rep = db.delete("author", 1).unwrap();
    db.update("post", 1, Row::new().with("title", "edited"))
        .unwrap();
    db.update("post", 2, Row::new().with("author_id", 2))
        .unwrap();
    let plan = db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    assert!(plan.relinks.contains(&rr("post", 1)), "{:?}", plan.relinks);
    let p1 = db.get("post", 1).unwrap().unwrap();
    assert_eq!(p1.get("author_id"), Some(&Value::Int(1)));
    assert_eq!(p1.get("title"), Some(&Value::from("edited")));
    assert_eq!(author_of(db, 2), Value::Int(2));
    assert!(db.trash(&TrashQuery::all()).unwrap().is_empty());
}

fn conflict_primary_key_taken(db: &Db) {
    db.create_table(
        TableBuilder::new("tag")
            .column(("name", ColumnType::Text))
            .column(("color", ColumnType::Text))
            .primary_key("name"),
    )
    .unwrap();
    for (n, c) in [("red", "r1"), ("blue", "b1"), ("green", "g1")] {
        db.insert("tag", Row::new().with("name", n).with("color", c))
            .unwrap();
    }
    let rep = db
        .delete_many("tag", vec!["red".into(), "blue".into()], &Audit::default())
        .unwrap();
    db.insert("tag", Row::new().with("name", "red").with("color", "r2"))
        .unwrap();
    db.insert("tag", Row::new().with("name", "blue").with("color", "b2"))
        .unwrap();
    let conflicts = assert_refused(
        db,
        rep.deletion,
        &[
            (rr("tag", "red"), ConflictKind::PrimaryKeyTaken),
            (rr("tag", "blue"), ConflictKind::PrimaryKeyTaken),
        ],
    );
    assert!(conflicts[0].detail.contains("red"), "{}", conflicts[0]);
    assert_eq!(
        db.get("tag", "red").unwrap().unwrap().get("color"),
        Some(&Value::from("r2"))
    );

    // once the new rows are gone, the old ones come back
    db.delete_many("tag", vec!["red".into(), "blue".into()], &Audit::default())
        .unwrap();
    db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(
        db.get("tag", "blue").unwrap().unwrap().get("color"),
        Some(&Value::from("b1"))
    );
}

fn user_table(db: &Db) {
    db.create_table(
        TableBuilder::new("user")
            .column(("id", ColumnType::Int))
            .column(("email", ColumnType::Text))
            .column(("nick", ColumnType::Text))
            .primary_key("id")
            .unique(["email"])
            .unique(["nick"]),
    )
    .unwrap();
}

fn conflict_unique_taken(db: &Db) {
    user_table(db);
    for (e, n) in [("a@x", "ann"), ("b@x", "bob"), ("c@x", "cid")] {
        db.insert("user", Row::new().with("email", e).with("nick", n))
            .unwrap();
    }
    let rep = db
        .delete_many("user", vec![1.into(), 2.into()], &Audit::default())
        .unwrap();
    // user 4 takes both of user 1's values, user 5 one of user 2's
    db.insert("user", Row::new().with("email", "a@x").with("nick", "ann"))
        .unwrap();
    db.insert("user", Row::new().with("email", "z@x").with("nick", "bob"))
        .unwrap();
    let conflicts = assert_refused(
        db,
        rep.deletion,
        &[
            (rr("user", 1), ConflictKind::UniqueTaken),
            (rr("user", 1), ConflictKind::UniqueTaken),
            (rr("user", 2), ConflictKind::UniqueTaken),
        ],
    );
    assert!(
        conflicts[0].detail.contains("a@x") && conflicts[0].detail.contains("user 4"),
        "{}",
        conflicts[0]
    );
    assert!(conflicts[1].detail.contains("ann"), "{}", conflicts[1]);
    assert!(
        conflicts[2].detail.contains("bob") && conflicts[2].detail.contains("user 5"),
        "{}",
        conflicts[2]
    );
    // free the values: the restore goes through
    db.update(
        "user",
        4,
        Row::new().with("email", "y@x").with("nick", "yan"),
    )
    .unwrap();
    db.update("user", 5, Row::new().with("nick", "zed"))
        .unwrap();
    db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(ids(db, "user"), vec![1, 2, 3, 4, 5]);
}

fn conflict_parent_not_live(db: &Db) {
    org_seed(db);
    // the teams are deleted on their own, then their org on its own
    let teams = db
        .delete_many("team", vec![1.into(), 2.into()], &Audit::default())
        .unwrap();
    let org = db.delete("org", 1).unwrap();
    assert_eq!(org.rows, vec![rr("org", 1)]);
    let conflicts = assert_refused(
        db,
        teams.deletion,
        &[
            (rr("team", 1), ConflictKind::ParentNotLive),
            (rr("team", 2), ConflictKind::ParentNotLive),
        ],
    );
    assert!(
        conflicts[0].detail.contains(&org.deletion.to_string()),
        "names the deletion holding the parent: {}",
        conflicts[0]
    );
    // the members are not conflicts: their parents come back in the same restore
    db.restore(org.deletion, RestorePolicy::Refuse).unwrap();
    db.restore(teams.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(ids(db, "member"), vec![1, 2, 3, 4]);
}

fn conflict_row_not_live(db: &Db) {
    post_seed(db);
    let rep = db.delete("author", 1).unwrap();
    let post = db.delete("post", 1).unwrap();
    assert_refused(
        db,
        rep.deletion,
        &[(rr("post", 1), ConflictKind::RowNotLive)],
    );
    // skipping: the author comes back, post 2 is relinked, post 1's relink stays in the trash
    let plan = db
        .restore(rep.deletion, RestorePolicy::SkipConflicts)
        .unwrap();
    assert_eq!(plan.rows, vec![rr("author", 1)]);
    assert_eq!(plan.relinks, vec![rr("post", 2)]);
    assert_eq!(
        plan.skipped
            .iter()
            .map(|s| s.row.clone())
            .collect::<Vec<_>>(),
        vec![rr("post", 1)]
    );
    assert_eq!(author_of(db, 2), Value::Int(1));
    let d = db.deletion(rep.deletion).unwrap();
    assert_eq!((d.remaining, d.restored), (1, 2));
    // the post comes back (unlinked, as it was deleted), then its link comes back too
    db.restore(post.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(author_of(db, 1), Value::Null);
    let plan = db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(plan.relinks, vec![rr("post", 1)]);
    assert_eq!(author_of(db, 1), Value::Int(1));
    assert!(db.trash(&TrashQuery::all()).unwrap().is_empty());
}

fn conflicts_of_every_kind_are_listed_together(db: &Db) {
    db.create_table(
        TableBuilder::new("grp")
            .column(("id", ColumnType::Int))
            .primary_key("id"),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("item")
            .column(("code", ColumnType::Text))
            .column(("grp_id", ColumnType::Int))
            .column(("label", ColumnType::Text))
            .primary_key("code")
            .unique(["label"])
            .foreign_key("grp_id", "grp", OnDelete::Cascade),
    )
    .unwrap();
    db.transaction(|tx| {
        tx.insert("grp", Row::new())?;
        tx.insert("grp", Row::new())?;
        for (c, g, l) in [
            ("a", 1, "la"),
            ("b", 1, "lb"),
            ("c", 2, "lc"),
            ("d", 1, "ld"),
        ] {
            tx.insert(
                "item",
                Row::new()
                    .with("code", c)
                    .with("grp_id", g)
                    .with("label", l),
            )?;
        }
        Ok::<_, Error>(())
    })
    .unwrap();
    let rep = db
        .delete_many(
            "item",
            vec!["a".into(), "b".into(), "c".into(), "d".into()],
            &Audit::default(),
        )
        .unwrap();
    db.insert(
        "item",
        Row::new()
            .with("code", "a")
            .with("grp_id", 1)
            .with("label", "new"),
    )
    .unwrap();
    db.insert(
        "item",
        Row::new()
            .with("code", "x")
            .with("grp_id", 1)
            .with("label", "lb"),
    )
    .unwrap();
    db.delete("grp", 2).unwrap();
    assert_refused(
        db,
        rep.deletion,
        &[
            (rr("item", "a"), ConflictKind::PrimaryKeyTaken),
            (rr("item", "b"), ConflictKind::UniqueTaken),
            (rr("item", "c"), ConflictKind::ParentNotLive),
        ],
    );
    // skipping restores the one row without conflict
    let plan = db
        .restore(rep.deletion, RestorePolicy::SkipConflicts)
        .unwrap();
    assert_eq!(plan.rows, vec![rr("item", "d")]);
    assert_eq!(plan.skipped.len(), 3);
    assert_eq!(
        db.get("item", "d").unwrap().unwrap().get("label"),
        Some(&Value::from("ld"))
    );
}

fn skip_policy_leaves_conflicts_and_dependents(db: &Db) {
    org_seed(db);
    let rep = db.delete("org", 1).unwrap();
    // a new team takes team 1's unique name
    let intruder = db
        .insert("team", Row::new().with("org_id", 2).with("name", "red"))
        .unwrap();
    assert_eq!(intruder.get("id"), Some(&Value::Int(4)));

    let lsn = db.last_lsn();
    let dry = db
        .restore_plan(rep.deletion, RestorePolicy::SkipConflicts)
        .unwrap();
    assert_eq!(db.last_lsn(), lsn, "the dry run writes nothing");
    assert_eq!(dry.rows, vec![rr("org", 1), rr("team", 2), rr("member", 3)]);
    assert_eq!(
        kinds(&dry.conflicts),
        vec![(rr("team", 1), ConflictKind::UniqueTaken)]
    );
    let skipped: Vec<RowRef> = dry.skipped.iter().map(|s| s.row.clone()).collect();
    assert_eq!(
        skipped,
        vec![rr("team", 1), rr("member", 1), rr("member", 2)]
    );
    assert!(
        dry.skipped[0].reason.contains("unique_taken"),
        "{:?}",
        dry.skipped
    );
    assert!(
        dry.skipped[1].reason.contains("team 1"),
        "{:?}",
        dry.skipped
    );

    let plan = db
        .restore(rep.deletion, RestorePolicy::SkipConflicts)
        .unwrap();
    assert_eq!(
        (plan.rows.clone(), plan.skipped.clone()),
        (dry.rows, dry.skipped)
    );
    assert_eq!(ids(db, "org"), vec![1, 2]);
    assert_eq!(ids(db, "team"), vec![2, 3, 4]);
    assert_eq!(ids(db, "member"), vec![3, 4]);

    // the deletion stays in the trash with the rows left out
    let trash = db.trash(&TrashQuery::all()).unwrap();
    assert_eq!(trash.len(), 1);
    assert_eq!(trash[0].id, rep.deletion);
    assert_eq!((trash[0].remaining, trash[0].restored), (3, 3));
    let left: Vec<RowRef> = db
        .deletion_rows(rep.deletion)
        .unwrap()
        .into_iter()
        .map(|m| m.row_ref)
        .collect();
    assert_eq!(left, vec![rr("team", 1), rr("member", 1), rr("member", 2)]);
    assert_eq!(db.find_deletion("member", 2).unwrap(), Some(rep.deletion));
    assert_eq!(db.find_deletion("member", 3).unwrap(), None);
    assert_refused(
        db,
        rep.deletion,
        &[(rr("team", 1), ConflictKind::UniqueTaken)],
    );

    // the conflict removed, the rest comes back
    let gone = db.delete("team", 4).unwrap();
    let plan = db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(
        plan.rows,
        vec![rr("team", 1), rr("member", 1), rr("member", 2)]
    );
    assert_eq!(ids(db, "member"), vec![1, 2, 3, 4]);
    let d = db.deletion(rep.deletion).unwrap();
    assert_eq!((d.remaining, d.restored), (0, 6));
    let trash: Vec<Uuid> = db
        .trash(&TrashQuery::all())
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(trash, vec![gone.deletion]);
    let err = db.restore(rep.deletion, RestorePolicy::Refuse).unwrap_err();
    assert!(
        matches!(err, Error::AlreadyRestored(id) if id == rep.deletion),
        "{err}"
    );
}

fn skip_leaves_relinks_of_a_skipped_parent(db: &Db) {
    post_seed(db);
    let rep = db.delete("author", 1).unwrap();
    // a new author takes the old one's primary key
    db.insert("author", Row::new().with("id", 1).with("name", "imposter"))
        .unwrap();
    assert_refused(
        db,
        rep.deletion,
        &[(rr("author", 1), ConflictKind::PrimaryKeyTaken)],
    );
    let plan = db
        .restore(rep.deletion, RestorePolicy::SkipConflicts)
        .unwrap();
    assert!(plan.rows.is_empty() && plan.relinks.is_empty(), "{plan:?}");
    let skipped: Vec<RowRef> = plan.skipped.iter().map(|s| s.row.clone()).collect();
    assert_eq!(skipped, vec![rr("author", 1), rr("post", 1), rr("post", 2)]);
    // the posts were not pointed at the new author
    assert_eq!(author_of(db, 1), Value::Null);
    assert_eq!(author_of(db, 2), Value::Null);
    assert_eq!(db.deletion(rep.deletion).unwrap().remaining, 3);
}

fn restore_twice_and_unknown_ids(db: &Db) {
    org_seed(db);
    let rep = db.delete("team", 3).unwrap();
    db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    let lsn = db.last_lsn();
    for policy in [RestorePolicy::Refuse, RestorePolicy::SkipConflicts] {
        let err = db.restore(rep.deletion, policy).unwrap_err();
        assert!(
            matches!(err, Error::AlreadyRestored(id) if id == rep.deletion),
            "{err}"
        );
        let err = db.restore_plan(rep.deletion, policy).unwrap_err();
        assert!(
            matches!(err, Error::AlreadyRestored(id) if id == rep.deletion),
            "{err}"
        );
    }
    let err = db.restore_row(rep.deletion, "team", 3).unwrap_err();
    assert!(matches!(err, Error::AlreadyRestored(_)), "{err}");
    // the record stays readable
    let d = db.deletion(rep.deletion).unwrap();
    assert_eq!((d.remaining, d.restored), (0, 2));
    assert!(db.deletion_rows(rep.deletion).unwrap().is_empty());

    let unknown = Uuid::now_v7();
    let err = db.restore(unknown, RestorePolicy::Refuse).unwrap_err();
    assert!(
        matches!(err, Error::UnknownDeletion(id) if id == unknown),
        "{err}"
    );
    let err = db
        .restore_plan(unknown, RestorePolicy::SkipConflicts)
        .unwrap_err();
    assert!(
        matches!(err, Error::UnknownDeletion(id) if id == unknown),
        "{err}"
    );
    let err = db.restore_row(unknown, "team", 3).unwrap_err();
    assert!(
        matches!(err, Error::UnknownDeletion(id) if id == unknown),
        "{err}"
    );
    let err = db.deletion(unknown).unwrap_err();
    assert!(
        matches!(err, Error::UnknownDeletion(id) if id == unknown),
        "{err}"
    );
    let err = db.deletion_rows(unknown).unwrap_err();
    assert!(
        matches!(err, Error::UnknownDeletion(id) if id == unknown),
        "{err}"
    );
    assert_eq!(db.last_lsn(), lsn);
}

fn restored_rows_can_be_deleted_again(db: &Db) {
    org_seed(db);
    let first = db.delete("team", 1).unwrap();
    db.restore(first.deletion, RestorePolicy::Refuse).unwrap();
    let second = db.delete("team", 1).unwrap();
    assert_ne!(second.deletion, first.deletion);
    assert_eq!(second.rows, first.rows);
    assert_eq!(
        db.find_deletion("member", 2).unwrap(),
        Some(second.deletion)
    );
    let h = db.history("member", 2).unwrap();
    let seen: Vec<(ChangeKind, Option<Uuid>)> = h.iter().map(|c| (c.kind, c.deletion)).collect();
    assert_eq!(
        seen,
        vec![
            (ChangeKind::Insert, None),
            (ChangeKind::Delete, Some(first.deletion)),
            (ChangeKind::Restore, Some(first.deletion)),
            (ChangeKind::Delete, Some(second.deletion)),
        ]
    );
    let trash: Vec<Uuid> = db
        .trash(&TrashQuery::all())
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(trash, vec![second.deletion]);
    db.restore(second.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(ids(db, "member"), vec![1, 2, 3, 4]);
}

fn child_deleted_on_its_own_stays_deleted(db: &Db) {
    comment_seed(db);
    let before = snapshot(db);
    let sub = db.delete("comment", 2).unwrap();
    assert_eq!(
        sub.rows,
        vec![rr("comment", 2), rr("comment", 4), rr("comment", 5)]
    );
    let root = db.delete("comment", 1).unwrap();
    assert_eq!(root.rows, vec![rr("comment", 1), rr("comment", 3)]);
    let plan = db.restore(root.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(plan.rows, root.rows);
    assert_eq!(ids(db, "comment"), vec![1, 3, 6]);
    assert_eq!(db.find_deletion("comment", 4).unwrap(), Some(sub.deletion));
    db.restore(sub.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(snapshot(db), before);
}

fn restore_one_row(db: &Db) {
    org_seed(db);
    let rep = db.delete("org", 1).unwrap();
    let lsn = db.last_lsn();

    // its parent is in the trash: refused
    let err = db.restore_row(rep.deletion, "member", 1).unwrap_err();
    match &err {
        Error::RestoreConflict {
            deletion,
            conflicts,
        } => {
            assert_eq!(*deletion, rep.deletion);
            assert_eq!(
                kinds(conflicts),
                vec![(rr("member", 1), ConflictKind::ParentNotLive)]
            );
        }
        other => panic!("expected RestoreConflict, got {other}"),
    }
    // not a row of this deletion: refused
    let err = db.restore_row(rep.deletion, "member", 4).unwrap_err();
    assert!(
        matches!(&err, Error::RestoreConflict { conflicts, .. }
            if kinds(conflicts) == vec![(rr("member", 4), ConflictKind::NotInTrash)]),
        "{err}"
    );
    assert_eq!(db.last_lsn(), lsn);

    // the root alone: the rest stays in the trash
    let plan = db.restore_row(rep.deletion, "org", 1).unwrap();
    assert_eq!(plan.rows, vec![rr("org", 1)]);
    assert_eq!(ids(db, "org"), vec![1, 2]);
    assert_eq!(ids(db, "team"), vec![3]);
    assert_eq!(db.find_deletion("org", 1).unwrap(), None);
    let d = db.deletion(rep.deletion).unwrap();
    assert_eq!((d.remaining, d.restored), (5, 1));
    let left: Vec<RowRef> = db
        .deletion_rows(rep.deletion)
        .unwrap()
        .into_iter()
        .map(|m| m.row_ref)
        .collect();
    assert_eq!(
        left,
        vec![
            rr("team", 1),
            rr("team", 2),
            rr("member", 1),
            rr("member", 2),
            rr("member", 3)
        ]
    );
    assert_eq!(db.trash(&TrashQuery::all()).unwrap().len(), 1);

    // a row restored already is no longer in the trash
    let err = db.restore_row(rep.deletion, "org", 1).unwrap_err();
    assert!(
        matches!(&err, Error::RestoreConflict { conflicts, .. }
            if kinds(conflicts) == vec![(rr("org", 1), ConflictKind::NotInTrash)]),
        "{err}"
    );

    // now that its parent is live, a team comes back on its own
    db.restore_row(rep.deletion, "team", 2).unwrap();
    assert_eq!(ids(db, "team"), vec![2, 3]);
    assert_eq!(ids(db, "member"), vec![4]);
    db.restore_row(rep.deletion, "member", 3).unwrap();
    assert_eq!(ids(db, "member"), vec![3, 4]);

    let plan = db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    assert_eq!(
        plan.rows,
        vec![rr("team", 1), rr("member", 1), rr("member", 2)]
    );
    assert_eq!(ids(db, "member"), vec![1, 2, 3, 4]);
    assert!(db.trash(&TrashQuery::all()).unwrap().is_empty());
}

fn restore_into_todays_schema(db: &Db) {
    org_seed(db);
    db.update("member", 1, Row::new().with("level", 42))
        .unwrap();
    let rep = db.delete("team", 1).unwrap();
    db.add_column(
        "member",
        ColumnDef::new("x", ColumnType::Int).with_default(7),
    )
    .unwrap();
    db.add_column(
        "member",
        ColumnDef::new("note", ColumnType::Text).nullable(),
    )
    .unwrap();

    // the trash already shows today's columns
    let rows = db.deletion_rows(rep.deletion).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1].row_ref, rr("member", 1));
    assert_eq!(rows[1].kind, MemberKind::Tombstoned);
    assert_eq!(rows[1].row.get("x"), Some(&Value::Int(7)));
    assert_eq!(rows[1].row.get("note"), Some(&Value::Null));

    db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    let m1 = db.get("member", 1).unwrap().unwrap();
    let expected: Row = Row::new()
        .with("id", 1)
        .with("team_id", 1)
        .with("email", "m1@x")
        .with("level", 42)
        .with("x", 7)
        .with("note", Value::Null);
    assert_eq!(m1, expected);
    assert_eq!(
        db.get("member", 2).unwrap().unwrap().get("x"),
        Some(&Value::Int(7))
    );
    let h = db.history("member", 1).unwrap();
    assert_eq!(h.last().unwrap().kind, ChangeKind::Restore);
    assert_eq!(h.last().unwrap().row.as_ref(), Some(&expected));
    // the restored row takes writes to the new columns
    db.update("member", 1, Row::new().with("x", 8).with("note", "hi"))
        .unwrap();
    assert_eq!(
        db.get("member", 1).unwrap().unwrap().get("note"),
        Some(&Value::from("hi"))
    );
}

fn history_shows_every_version(db: &Db) {
    org_seed(db);
    db.update("member", 3, Row::new().with("level", 30))
        .unwrap();
    db.update("member", 3, Row::new().with("email", "new@x"))
        .unwrap();
    let rep = db
        .delete_with("team", 2, &Audit::by("eve").because("cleanup"))
        .unwrap();
    db.restore_with(
        rep.deletion,
        RestorePolicy::Refuse,
        &Audit::by("ops").because("oops"),
    )
    .unwrap();
    let h = db.history("member", 3).unwrap();
    let seen: Vec<(ChangeKind, Option<Uuid>)> = h.iter().map(|c| (c.kind, c.deletion)).collect();
    assert_eq!(
        seen,
        vec![
            (ChangeKind::Insert, None),
            (ChangeKind::Update, None),
            (ChangeKind::Update, None),
            (ChangeKind::Delete, Some(rep.deletion)),
            (ChangeKind::Restore, Some(rep.deletion)),
        ]
    );
    assert!(h.windows(2).all(|w| w[0].lsn < w[1].lsn));
    assert_eq!(h[3].row, None);
    assert_eq!(h[3].actor.as_deref(), Some("eve"));
    assert_eq!(h[3].reason.as_deref(), Some("cleanup"));
    assert_eq!(h[4].actor.as_deref(), Some("ops"));
    assert_eq!(h[4].reason.as_deref(), Some("oops"));
    assert_eq!(h[4].row, h[2].row, "the restore writes the last live image");
    let last = h[4].row.as_ref().unwrap();
    assert_eq!(last.get("level"), Some(&Value::Int(30)));
    assert_eq!(last.get("email"), Some(&Value::from("new@x")));
    assert_eq!(h[4].table.as_deref(), Some("member"));
    assert_eq!(h[4].pk, Some(Value::Int(3)));
}

fn delete_then_restore_is_a_round_trip(db: &Db) {
    org_seed(db);
    post_seed(db);
    comment_seed(db);
    let before = snapshot(db);
    let lookups = |db: &Db| {
        (
            db.lookup("member", &["email"], &["m2@x".into()]).unwrap(),
            db.children("author", 1, "post").unwrap(),
            db.children("comment", 1, "comment").unwrap(),
            db.count("team").unwrap(),
        )
    };
    let looked = lookups(db);

    // one at a time
    for (table, pk) in [
        ("org", 1),
        ("team", 3),
        ("author", 1),
        ("comment", 1),
        ("member", 4),
    ] {
        let rep = db.delete(table, pk).unwrap();
        assert_ne!(snapshot(db), before);
        db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
        assert_eq!(
            snapshot(db),
            before,
            "after deleting and restoring {table} {pk}"
        );
    }
    // several outstanding, children deleted before their parents, restored in reverse order
    let reps = vec![
        db.delete("member", 1).unwrap(),
        db.delete("org", 1).unwrap(),
        db.delete("author", 2).unwrap(),
        db.delete("comment", 4).unwrap(),
        db.delete("comment", 1).unwrap(),
    ];
    for rep in reps.into_iter().rev() {
        db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    }
    assert_eq!(snapshot(db), before);
    // independent deletions, restored in the order they were made
    let reps = vec![
        db.delete("member", 4).unwrap(),
        db.delete("org", 1).unwrap(),
        db.delete("author", 2).unwrap(),
        db.delete("comment", 1).unwrap(),
    ];
    for rep in reps {
        db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    }
    assert_eq!(snapshot(db), before);
    assert_eq!(lookups(db), looked);
    assert!(db.trash(&TrashQuery::all()).unwrap().is_empty());
}

fn restore_checks_unique_values_among_its_own_rows(db: &Db) {
    // two rows share a nick while no unique constraint exists; both are deleted together, the
    // constraint is added (fine over the live rows), then the deletion is restored
    db.create_table(
        TableBuilder::new("user")
            .column(("id", ColumnType::Int))
            .column(("nick", ColumnType::Text))
            .primary_key("id"),
    )
    .unwrap();
    for _ in 0..2 {
        db.insert("user", Row::new().with("nick", "same")).unwrap();
    }
    let rep = db
        .delete_many("user", vec![1.into(), 2.into()], &Audit::default())
        .unwrap();
    db.add_index("user", &["nick"], true).unwrap();
    let plan = db
        .restore_plan(rep.deletion, RestorePolicy::Refuse)
        .unwrap();
    assert_eq!(
        kinds(&plan.conflicts),
        vec![(rr("user", 2), ConflictKind::UniqueTaken)],
        "restoring both would break unique (nick)"
    );
    let res = db.restore(rep.deletion, RestorePolicy::Refuse);
    assert!(matches!(res, Err(Error::RestoreConflict { .. })), "{res:?}");
    assert!(
        db.lookup("user", &["nick"], &["same".into()])
            .unwrap()
            .len()
            <= 1
    );
}

fn restore_row_leaves_set_null_members_for_the_deletion(db: &Db) {
    post_seed(db);
    let rep = db.delete("author", 1).unwrap();
    let plan = db.restore_row(rep.deletion, "author", 1).unwrap();
    assert_eq!(plan.rows, vec![rr("author", 1)]);
    assert!(plan.relinks.is_empty(), "{plan:?}");
    assert_eq!(author_of(db, 1), Value::Null);
    let d = db.deletion(rep.deletion).unwrap();
    assert_eq!((d.remaining, d.restored), (2, 1));
    assert_eq!(
        trash_ids(db),
        vec![rep.deletion],
        "the set-null members keep the deletion in the trash"
    );
    // a set-null member cannot be restored as a row
    let err = db.restore_row(rep.deletion, "post", 1).unwrap_err();
    assert!(
        matches!(&err, Error::RestoreConflict { conflicts, .. }
            if kinds(conflicts) == vec![(rr("post", 1), ConflictKind::NotInTrash)]),
        "{err}"
    );
    let plan = db.restore(rep.deletion, RestorePolicy::Refuse).unwrap();
    assert!(plan.rows.is_empty());
    assert_eq!(plan.relinks, vec![rr("post", 1), rr("post", 2)]);
    assert_eq!(author_of(db, 1), Value::Int(1));
    assert_eq!(author_of(db, 2), Value::Int(1));
    assert!(trash_ids(db).is_empty());
}

fn trash_ids(db: &Db) -> Vec<Uuid> {
    db.trash(&TrashQuery::all())
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect()
}

on_both!(
    last_live_image_comes_back,
    set_null_updates_are_reverted,
    conflict_primary_key_taken,
    conflict_unique_taken,
    conflict_parent_not_live,
    conflict_row_not_live,
    skip_policy_leaves_conflicts_and_dependents,
    restore_one_row,
    restore_into_todays_schema,
    history_shows_every_version,
    delete_then_restore_is_a_round_trip,
);

on_memory!(
    conflicts_of_every_kind_are_listed_together,
    skip_leaves_relinks_of_a_skipped_parent,
    restore_twice_and_unknown_ids,
    restored_rows_can_be_deleted_again,
    child_deleted_on_its_own_stays_deleted,
    restore_row_leaves_set_null_members_for_the_deletion,
);

mod restore_order_is_parents_first_when_a_child_is_named_first {
    #[test]
    fn memory() {
        super::on_memory(super::restore_order_is_parents_first_when_a_child_is_named_first);
    }
}

mod restore_checks_unique_values_among_its_own_rows {
    #[test]
    fn memory() {
        super::on_memory(super::restore_checks_unique_values_among_its_own_rows);
    }
}
