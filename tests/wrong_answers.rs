//! Regressions of wrong answers found by trying the store from outside, one scenario per broken
//! promise, each run on the memory, fjall and sled engines and ending with `verify`:
//!
//! 1. history retention keeps the version in effect at the window's edge: every point inside
//!    the window reads, undoes and restores exactly as before the pruning;
//! 2. a restore checks the references it puts back (set-null reverts) against unique constraints;
//! 3. restore-to and undo respect the values a table's trash keeps reserved;
//! 4. restore-to brings a row back out of the deletion that holds the life it restores, not out
//!    of the deletion holding a later life of the same key;
//! 5. `find_deletion` has one definition, live and as of any point;
//! 6. every log the store writes imports (checks run per transaction, as the store ran them);
//! 7. non-finite floats survive export and import;
//! 8. and 9. restore-to, diff and undo compare values by identity (NaN is NaN, -0.0 is not 0.0);
//! 10. an exhausted integer key sequence is a typed error naming the table, and explicit keys
//!     still work.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::atomic::Ordering;

use lazarusdb::{
    Audit, Clock, ColumnDef, ColumnType, ConflictKind, Db, EngineKind, Error, OnDelete, Options,
    Readable, RestorePolicy, Retention, Row, Scan, Scope, TableBuilder, Timestamp, Value,
};

const ENGINES: [Option<EngineKind>; 4] = [
    None,
    Some(EngineKind::Fjall),
    Some(EngineKind::FjallRedb),
    Some(EngineKind::Sled),
];

/// Runs `scenario` on a memory store (`None`) and on a store on disk of each engine, with the
/// given options, then checks `verify`.
fn on_every_engine(options: impl Fn() -> Options, scenario: impl Fn(&Db)) {
    for engine in ENGINES {
        let dir = tempfile::tempdir().unwrap();
        let db = match engine {
            None => Db::memory_with(options()).unwrap(),
            Some(e) => Db::open_with(dir.path().join("s"), options().engine(e)).unwrap(),
        };
        scenario(&db);
        let report = db.verify().unwrap();
        assert!(report.is_ok(), "{engine:?}: {:?}", report.differences);
        db.close().unwrap();
    }
}

fn plain() -> Options {
    Options::default()
}

fn int(db: &Db, table: &str, pk: i64, col: &str) -> Option<Value> {
    db.get(table, pk)
        .unwrap()
        .map(|r| r.get(col).cloned().unwrap())
}

// ---------------------------------------------------------------------------------------------
// 1. History retention.

const T0: i64 = 1_700_000_000_000_000;
const SEC: i64 = 1_000_000;

fn retention_scenario(undo_or_restore: u8) {
    let clock = std::sync::Mutex::new(None);
    on_every_engine(
        || {
            let (c, cell) = Clock::manual(Timestamp(T0));
            *clock.lock().unwrap() = Some(cell);
            Options::default().clock(c)
        },
        |db| {
            let cell = clock.lock().unwrap().clone().unwrap();
            db.create_table(
                TableBuilder::new("t")
                    .column(("id", ColumnType::Int))
                    .column(("v", ColumnType::Text))
                    .primary_key("id")
                    .index(["v"]),
            )
            .unwrap();
            db.set_retention(
                Some("t"),
                Retention {
                    deletions: None,
                    history: Some(3_600),
                },
            )
            .unwrap();
            db.insert("t", Row::new().with("id", 1).with("v", "v0"))
                .unwrap();
            cell.store(T0 + 5_000 * SEC, Ordering::SeqCst);
            db.insert("t", Row::new().with("id", 2).with("v", "w"))
                .unwrap();
            let mid = db.last_lsn();
            cell.store(T0 + 7_200 * SEC, Ordering::SeqCst);
            let update = db
                .transaction(|tx| {
                    tx.update("t", 1, Row::new().with("v", "v1"))?;
                    Ok::<_, Error>(tx.id())
                })
                .unwrap();
            // What every read of the window said before the pruning.
            let before = |db: &Db| {
                let past = db.as_of(mid).unwrap();
                (
                    past.get("t", 1).unwrap(),
                    past.scan("t", Scan::all()).unwrap(),
                    past.lookup("t", &["v"], &["v0".into()]).unwrap(),
                )
            };
            let seen = before(db);
            assert_eq!(
                seen.0.as_ref().and_then(|r| r.get("v").cloned()),
                Some("v0".into())
            );
            let report = db.apply_retention(&Audit::by("test")).unwrap();
            assert_eq!(report.pruned.len(), 1, "{report:?}");
            assert_eq!(before(db), seen, "the window reads the same after pruning");
            match undo_or_restore {
                0 => {
                    db.undo(update, false).unwrap();
                }
                _ => {
                    let plan = db.restore_table_to("t", mid).unwrap();
                    assert_eq!(plan.reverted.len(), 1, "{plan:?}");
                    assert!(plan.tombstoned.is_empty(), "{plan:?}");
                }
            }
            assert_eq!(int(db, "t", 1, "v"), Some("v0".into()));
            assert_eq!(db.count("t").unwrap(), 2);
        },
    );
}

#[test]
fn retention_keeps_the_version_in_effect_at_the_window_edge_undo() {
    retention_scenario(0);
}

#[test]
fn retention_keeps_the_version_in_effect_at_the_window_edge_restore_to() {
    retention_scenario(1);
}

#[test]
fn pruning_keeps_what_a_restore_of_a_set_null_update_reads() {
    let clock = std::sync::Mutex::new(None);
    on_every_engine(
        || {
            let (c, cell) = Clock::manual(Timestamp(T0));
            *clock.lock().unwrap() = Some(cell);
            Options::default().clock(c)
        },
        |db| {
            let cell = clock.lock().unwrap().clone().unwrap();
            genres_and_tracks(db);
            db.add_column(
                "track",
                ColumnDef::new("n", ColumnType::Int).with_default(0),
            )
            .unwrap();
            db.insert("genre", Row::new().with("id", 1).with("name", "g"))
                .unwrap();
            db.insert("track", Row::new().with("id", 1).with("genre_id", 1))
                .unwrap();
            let d = db.delete("genre", 1).unwrap().deletion;
            // the set-null update is no longer the track's latest image
            db.update("track", 1, Row::new().with("n", 5)).unwrap();
            cell.store(T0 + 7_200 * SEC, Ordering::SeqCst);
            db.update("track", 1, Row::new().with("n", 6)).unwrap();
            db.set_retention(
                Some("track"),
                Retention {
                    deletions: None,
                    history: Some(3_600),
                },
            )
            .unwrap();
            let report = db.apply_retention(&Audit::by("test")).unwrap();
            assert_eq!(report.pruned.len(), 1, "{report:?}");
            let plan = db.restore(d, RestorePolicy::Refuse).unwrap();
            assert_eq!(plan.relinks.len(), 1, "{plan:?}");
            assert_eq!(int(db, "track", 1, "genre_id"), Some(1.into()));
            assert_eq!(int(db, "track", 1, "n"), Some(6.into()));
        },
    );
}

#[test]
fn restore_to_a_point_whose_version_was_purged_is_refused_not_a_tombstone() {
    on_every_engine(plain, |db| {
        db.create_table(
            TableBuilder::new("t")
                .column(("id", ColumnType::Int))
                .column(("v", ColumnType::Text))
                .primary_key("id"),
        )
        .unwrap();
        db.insert("t", Row::new().with("id", 1).with("v", "a"))
            .unwrap();
        let p = db.last_lsn();
        let d = db.delete("t", 1).unwrap().deletion;
        db.purge(d, &Audit::by("dpo")).unwrap();
        db.insert("t", Row::new().with("id", 1).with("v", "new"))
            .unwrap();
        let last = db.last_lsn();
        for scope in [
            Scope::Table("t".into()),
            Scope::Store,
            Scope::Row {
                table: "t".into(),
                pk: 1.into(),
            },
        ] {
            let e = db.restore_scope_to(&scope, p).unwrap_err();
            assert!(matches!(e, Error::Purged(_)), "{scope:?}: {e:?}");
            assert!(matches!(
                db.restore_to_plan(&scope, p).unwrap_err(),
                Error::Purged(_)
            ));
        }
        assert_eq!(db.last_lsn(), last);
        assert_eq!(int(db, "t", 1, "v"), Some("new".into()));
    });
}

// ---------------------------------------------------------------------------------------------
// 2. A set-null revert meets a unique constraint.

fn owners_and_seats(db: &Db, keeps: bool) {
    db.create_table(
        TableBuilder::new("owner")
            .column(("id", ColumnType::Int))
            .primary_key("id"),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("seat")
            .column(("id", ColumnType::Int))
            .column(ColumnDef::new("owner_id", ColumnType::Int).nullable())
            .primary_key("id")
            .unique(["owner_id"])
            .foreign_key("owner_id", "owner", OnDelete::SetNull)
            .trash_keeps_keys(keeps),
    )
    .unwrap();
}

#[test]
fn a_set_null_revert_is_checked_against_unique_constraints() {
    on_every_engine(plain, |db| {
        owners_and_seats(db, false);
        db.insert("owner", Row::new().with("id", 1)).unwrap();
        db.insert("seat", Row::new().with("id", 1).with("owner_id", 1))
            .unwrap();
        let d = db.delete("owner", 1).unwrap().deletion;
        assert_eq!(int(db, "seat", 1, "owner_id"), Some(Value::Null));
        db.restore_row(d, "owner", 1).unwrap();
        db.insert("seat", Row::new().with("id", 2).with("owner_id", 1))
            .unwrap();
        let plan = db.restore_plan(d, RestorePolicy::Refuse).unwrap();
        let kinds: Vec<_> = plan
            .conflicts
            .iter()
            .map(|c| (c.row.pk.clone(), c.kind))
            .collect();
        assert_eq!(
            kinds,
            vec![(Value::Int(1), ConflictKind::UniqueTaken)],
            "{plan:?}"
        );
        let last = db.last_lsn();
        let e = db.restore(d, RestorePolicy::Refuse).unwrap_err();
        assert!(matches!(e, Error::RestoreConflict { .. }), "{e:?}");
        assert_eq!(db.last_lsn(), last);
        // skipping it leaves the seat as it is and the member in the trash
        let done = db.restore(d, RestorePolicy::SkipConflicts).unwrap();
        assert_eq!(done.skipped.len(), 1, "{done:?}");
        assert_eq!(int(db, "seat", 1, "owner_id"), Some(Value::Null));
        assert_eq!(int(db, "seat", 2, "owner_id"), Some(1.into()));
        assert_eq!(db.find_deletion("owner", 1).unwrap(), None);
        // once the clash is gone, the reference comes back
        db.update("seat", 2, Row::new().with("owner_id", Value::Null))
            .unwrap();
        db.restore(d, RestorePolicy::Refuse).unwrap();
        assert_eq!(int(db, "seat", 1, "owner_id"), Some(1.into()));
    });
}

#[test]
fn two_set_null_reverts_of_one_restore_cannot_take_one_unique_value() {
    on_every_engine(plain, |db| {
        owners_and_seats(db, false);
        db.insert("owner", Row::new().with("id", 1)).unwrap();
        db.insert("seat", Row::new().with("id", 1).with("owner_id", 1))
            .unwrap();
        let d1 = db.delete("owner", 1).unwrap().deletion;
        // a restore of the owner alone, a second seat on it, and a second delete of the owner
        db.restore_row(d1, "owner", 1).unwrap();
        db.insert("seat", Row::new().with("id", 2).with("owner_id", 1))
            .unwrap();
        let d2 = db.delete("owner", 1).unwrap().deletion;
        // d2 brings the owner back and re-points seat 2; d1 then wants seat 1 on it too
        db.restore(d2, RestorePolicy::Refuse).unwrap();
        let plan = db.restore_plan(d1, RestorePolicy::Refuse).unwrap();
        assert!(
            plan.conflicts
                .iter()
                .any(|c| c.kind == ConflictKind::UniqueTaken && c.row.pk == Value::Int(1)),
            "{plan:?}"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// 3. Kept keys under restore-to and undo.

fn accounts(db: &Db) {
    db.create_table(
        TableBuilder::new("acct")
            .column(("id", ColumnType::Int))
            .column(("email", ColumnType::Text))
            .primary_key("id")
            .unique(["email"])
            .trash_keeps_keys(true),
    )
    .unwrap();
}

#[test]
fn restore_to_and_undo_respect_kept_keys() {
    on_every_engine(plain, |db| {
        accounts(db);
        db.insert("acct", Row::new().with("id", 1).with("email", "a@"))
            .unwrap();
        let p1 = db.last_lsn();
        let update = db
            .transaction(|tx| {
                tx.update("acct", 1, Row::new().with("email", "b@"))?;
                Ok::<_, Error>(tx.id())
            })
            .unwrap();
        db.insert("acct", Row::new().with("id", 2).with("email", "a@"))
            .unwrap();
        let d = db.delete("acct", 2).unwrap().deletion;
        let last = db.last_lsn();
        let e = db.restore_row_to("acct", 1, p1).unwrap_err();
        let Error::RewindConflict { conflicts, .. } = &e else {
            panic!("{e:?}")
        };
        assert!(
            conflicts
                .iter()
                .any(|c| c.kind == ConflictKind::KeyReserved),
            "{conflicts:?}"
        );
        let e = db.undo(update, false).unwrap_err();
        assert!(matches!(e, Error::RewindConflict { .. }), "{e:?}");
        let plan = db
            .restore_to_plan(&Scope::Table("acct".into()), p1)
            .unwrap();
        assert!(
            plan.conflicts
                .iter()
                .any(|c| c.kind == ConflictKind::KeyReserved),
            "{plan:?}"
        );
        assert_eq!(db.last_lsn(), last);
        // the deletion still restores, as the key policy promises
        db.restore(d, RestorePolicy::Refuse).unwrap();
        assert_eq!(int(db, "acct", 2, "email"), Some("a@".into()));
    });
}

#[test]
fn restore_to_that_brings_the_reserving_row_back_with_another_value_is_fine() {
    on_every_engine(plain, |db| {
        accounts(db);
        db.insert("acct", Row::new().with("id", 1).with("email", "a@"))
            .unwrap();
        db.insert("acct", Row::new().with("id", 2).with("email", "c@"))
            .unwrap();
        let p = db.last_lsn();
        db.update("acct", 1, Row::new().with("email", "b@"))
            .unwrap();
        db.update("acct", 2, Row::new().with("email", "a@"))
            .unwrap();
        db.delete("acct", 2).unwrap();
        // at p, row 1 has a@ and row 2 has c@: restoring the table frees a@ from the trash
        db.restore_table_to("acct", p).unwrap();
        assert_eq!(int(db, "acct", 1, "email"), Some("a@".into()));
        assert_eq!(int(db, "acct", 2, "email"), Some("c@".into()));
        assert!(db.trash(&lazarusdb::TrashQuery::all()).unwrap().is_empty());
    });
}

// ---------------------------------------------------------------------------------------------
// 4. and 5. A key with two lives in the trash.

fn genres_and_tracks(db: &Db) {
    db.create_table(
        TableBuilder::new("genre")
            .column(("id", ColumnType::Int))
            .column(("name", ColumnType::Text))
            .primary_key("id"),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("track")
            .column(("id", ColumnType::Int))
            .column(ColumnDef::new("genre_id", ColumnType::Int).nullable())
            .primary_key("id")
            .foreign_key("genre_id", "genre", OnDelete::SetNull),
    )
    .unwrap();
}

#[test]
fn restore_to_names_the_deletion_holding_the_life_it_brings_back() {
    on_every_engine(plain, |db| {
        genres_and_tracks(db);
        db.insert("genre", Row::new().with("id", 25).with("name", "old"))
            .unwrap();
        db.insert("track", Row::new().with("id", 1).with("genre_id", 25))
            .unwrap();
        let before = db.last_lsn();
        let d1 = db.delete("genre", 25).unwrap().deletion;
        db.insert("genre", Row::new().with("id", 25).with("name", "new"))
            .unwrap();
        let d2 = db.delete("genre", 25).unwrap().deletion;
        assert_eq!(db.find_deletion("genre", 25).unwrap(), Some(d2));
        db.restore_row_to("genre", 25, before).unwrap();
        assert_eq!(int(db, "genre", 25, "name"), Some("old".into()));
        // d1 no longer holds the row; the set-null of the track is still in d1's trash
        let rows1 = db.deletion_rows(d1).unwrap();
        assert_eq!(rows1.len(), 1, "{rows1:?}");
        assert_eq!(rows1[0].row_ref.table, "track");
        db.restore(d1, RestorePolicy::Refuse).unwrap();
        assert_eq!(int(db, "track", 1, "genre_id"), Some(25.into()));
        // d2 still holds the newer row: it is listed and its restore names the clash
        assert_eq!(db.find_deletion("genre", 25).unwrap(), Some(d2));
        let rows2 = db.deletion_rows(d2).unwrap();
        assert_eq!(rows2.len(), 1);
        assert_eq!(rows2[0].row.get("name"), Some(&"new".into()));
        let plan = db.restore_plan(d2, RestorePolicy::Refuse).unwrap();
        let kinds: Vec<_> = plan.conflicts.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, vec![ConflictKind::PrimaryKeyTaken]);
        // once the old row goes again, the newer one comes back
        let d3 = db.delete("genre", 25).unwrap().deletion;
        db.restore(d2, RestorePolicy::Refuse).unwrap();
        assert_eq!(int(db, "genre", 25, "name"), Some("new".into()));
        assert_eq!(db.find_deletion("genre", 25).unwrap(), Some(d3));
    });
}

#[test]
fn two_restores_of_the_store_in_a_row_keep_every_deletion_restorable() {
    on_every_engine(plain, |db| {
        genres_and_tracks(db);
        db.insert("genre", Row::new().with("id", 25).with("name", "old"))
            .unwrap();
        db.insert("track", Row::new().with("id", 1).with("genre_id", 25))
            .unwrap();
        let p0 = db.last_lsn();
        db.delete("genre", 25).unwrap();
        let p1 = db.last_lsn();
        db.restore_store_to(p0).unwrap();
        db.restore_store_to(p1).unwrap();
        db.restore_store_to(p0).unwrap();
        assert_eq!(int(db, "genre", 25, "name"), Some("old".into()));
        assert_eq!(int(db, "track", 1, "genre_id"), Some(25.into()));
        // every deletion left in the trash can be restored or names a real conflict
        for d in db.trash(&lazarusdb::TrashQuery::all()).unwrap() {
            let plan = db.restore_plan(d.id, RestorePolicy::Refuse).unwrap();
            for c in &plan.conflicts {
                assert_ne!(c.kind, ConflictKind::NotInTrash, "{plan:?}");
            }
        }
    });
}

#[test]
fn find_deletion_is_one_answer_live_and_as_of() {
    on_every_engine(plain, |db| {
        genres_and_tracks(db);
        db.insert("genre", Row::new().with("id", 25).with("name", "old"))
            .unwrap();
        let d1 = db.delete("genre", 25).unwrap().deletion;
        let check = |db: &Db, expected: Option<uuid::Uuid>| {
            assert_eq!(db.find_deletion("genre", 25).unwrap(), expected);
            let last = db.last_lsn();
            assert_eq!(
                db.as_of(last).unwrap().find_deletion("genre", 25).unwrap(),
                expected
            );
        };
        check(db, Some(d1));
        db.insert("genre", Row::new().with("id", 25).with("name", "new"))
            .unwrap();
        // the old row is still in d1's trash while the key is live again
        check(db, Some(d1));
        let d2 = db.delete("genre", 25).unwrap().deletion;
        check(db, Some(d2));
        db.restore(d2, RestorePolicy::Refuse).unwrap();
        check(db, Some(d1));
        // and every earlier point agrees with what was answered then
        let mut answers = Vec::new();
        for lsn in 0..=db.last_lsn() {
            answers.push(db.as_of(lsn).unwrap().find_deletion("genre", 25).ok());
        }
        assert!(answers.contains(&Some(Some(d2))));
        db.purge(d1, &Audit::by("dpo")).unwrap();
        check(db, None);
    });
}

// ---------------------------------------------------------------------------------------------
// 6. Export then import of logs the store wrote.

fn round_trip(db: &Db) {
    let mut out = Vec::new();
    db.export_log(&mut out).unwrap();
    let copy = Db::memory().unwrap();
    copy.import_log(&mut out.as_slice()).unwrap();
    assert_eq!(copy.dump().unwrap(), db.dump().unwrap());
    assert_eq!(copy.last_lsn(), db.last_lsn());
    for lsn in 0..=db.last_lsn() {
        let (a, b) = (db.as_of(lsn).unwrap(), copy.as_of(lsn).unwrap());
        for t in a.tables().unwrap() {
            assert_eq!(
                a.scan(&t, Scan::all()).unwrap(),
                b.scan(&t, Scan::all()).unwrap(),
                "{t} as of {lsn}"
            );
        }
        assert_eq!(
            a.trash(&lazarusdb::TrashQuery::all()).unwrap(),
            b.trash(&lazarusdb::TrashQuery::all()).unwrap()
        );
    }
    assert!(copy.verify().unwrap().is_ok());
}

#[test]
fn import_takes_a_restore_to_that_frees_a_unique_value_later_in_its_transaction() {
    on_every_engine(plain, |db| {
        db.create_table(
            TableBuilder::new("customer")
                .column(("id", ColumnType::Int))
                .column(("email", ColumnType::Text))
                .primary_key("id")
                .unique(["email"]),
        )
        .unwrap();
        db.insert("customer", Row::new().with("id", 1).with("email", "c@"))
            .unwrap();
        let before = db.last_lsn();
        db.delete("customer", 1).unwrap();
        db.insert("customer", Row::new().with("id", 2).with("email", "c@"))
            .unwrap();
        db.restore_table_to("customer", before).unwrap();
        round_trip(db);
    });
}

#[test]
fn import_takes_a_child_restored_before_its_parent_in_one_transaction() {
    on_every_engine(plain, |db| {
        db.create_table(
            TableBuilder::new("employee")
                .column(("id", ColumnType::Int))
                .column(ColumnDef::new("reports_to", ColumnType::Int).nullable())
                .primary_key("id")
                .foreign_key("reports_to", "employee", OnDelete::Cascade),
        )
        .unwrap();
        db.insert("employee", Row::new().with("id", 8)).unwrap();
        db.insert("employee", Row::new().with("id", 1).with("reports_to", 8))
            .unwrap();
        let before = db.last_lsn();
        db.delete_many("employee", vec![1.into(), 8.into()], &Audit::default())
            .unwrap();
        db.restore_table_to("employee", before).unwrap();
        assert_eq!(db.count("employee").unwrap(), 2);
        round_trip(db);
    });
}

#[test]
fn import_takes_a_delete_and_its_restore_in_one_transaction() {
    on_every_engine(plain, |db| {
        db.create_table(
            TableBuilder::new("employee")
                .column(("id", ColumnType::Int))
                .column(ColumnDef::new("reports_to", ColumnType::Int).nullable())
                .primary_key("id")
                .foreign_key("reports_to", "employee", OnDelete::Cascade),
        )
        .unwrap();
        db.insert("employee", Row::new().with("id", 1)).unwrap();
        db.insert("employee", Row::new().with("id", 2).with("reports_to", 1))
            .unwrap();
        db.insert("employee", Row::new().with("id", 3).with("reports_to", 2))
            .unwrap();
        db.transaction(|tx| {
            let d = tx.delete("employee", 2)?.deletion;
            tx.restore(d, RestorePolicy::Refuse)?;
            Ok::<_, Error>(())
        })
        .unwrap();
        round_trip(db);
    });
}

#[test]
fn import_refuses_a_restore_of_a_deletion_that_does_not_hold_the_row() {
    let db = Db::memory().unwrap();
    db.create_table(
        TableBuilder::new("t")
            .column(("id", ColumnType::Int))
            .primary_key("id"),
    )
    .unwrap();
    db.insert("t", Row::new().with("id", 1)).unwrap();
    let mut out = Vec::new();
    db.export_log(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let at = text.lines().last().unwrap();
    let at: serde_json::Value = serde_json::from_str(at).unwrap();
    let extra = serde_json::json!({
        "lsn": 3, "tx": 3, "at": at["at"], "actor": null, "reason": null,
        "kind": "restore", "table": "t", "pk": 7, "row": {"id": 7},
        "deletion": "0190c0de-0000-7000-8000-000000000001"
    });
    let log = format!("{text}{extra}\n");
    let copy = Db::memory().unwrap();
    let e = copy.import_log(&mut log.as_bytes()).unwrap_err();
    assert!(matches!(e, Error::InvalidInput(_)), "{e:?}");
    assert!(e.to_string().contains("line 3"), "{e}");
    assert_eq!(copy.last_lsn(), 2);
}

// ---------------------------------------------------------------------------------------------
// 7.-9. Floats: non-finite values, NaN and the sign of zero.

fn floats(db: &Db, nullable: bool) {
    let f = ColumnDef::new("f", ColumnType::Float);
    db.create_table(
        TableBuilder::new("m")
            .column(("id", ColumnType::Int))
            .column(if nullable { f.nullable() } else { f })
            .column(ColumnDef::new("g", ColumnType::Float).nullable())
            .primary_key("id")
            .index(["f"]),
    )
    .unwrap();
}

const SPECIAL: [f64; 6] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0, 1.5];

#[test]
fn non_finite_floats_survive_export_and_import() {
    for nullable in [true, false] {
        on_every_engine(plain, |db| {
            floats(db, nullable);
            for (i, f) in SPECIAL.into_iter().enumerate() {
                db.insert(
                    "m",
                    Row::new().with("id", i as i64).with("f", f).with("g", -f),
                )
                .unwrap();
            }
            round_trip(db);
            let mut out = Vec::new();
            db.export_log(&mut out).unwrap();
            let copy = Db::memory().unwrap();
            copy.import_log(&mut out.as_slice()).unwrap();
            for (i, f) in SPECIAL.into_iter().enumerate() {
                let row = copy.get("m", i as i64).unwrap().unwrap();
                let Some(Value::Float(got)) = row.get("f") else {
                    panic!("{row:?}")
                };
                if f.is_nan() {
                    assert!(got.is_nan());
                } else {
                    assert_eq!(got.to_bits(), f.to_bits(), "{f}");
                }
            }
        });
    }
}

#[test]
fn restore_to_now_with_a_nan_plans_nothing() {
    on_every_engine(plain, |db| {
        floats(db, true);
        db.insert("m", Row::new().with("id", 1).with("f", f64::NAN))
            .unwrap();
        let last = db.last_lsn();
        let plan = db.restore_to_plan(&Scope::Table("m".into()), last).unwrap();
        assert!(plan.is_empty(), "{plan:?}");
        assert!(plan.reverted.is_empty());
        db.restore_table_to("m", last).unwrap();
        assert_eq!(db.last_lsn(), last, "nothing written");
        assert!(db.diff(0, last, None).unwrap().len() == 1);
        assert!(db.diff(last, last, None).unwrap().is_empty());
        assert_eq!(
            db.get("m", 1).unwrap(),
            db.as_of(last).unwrap().get("m", 1).unwrap()
        );
    });
}

#[test]
fn restore_to_keeps_the_sign_of_zero() {
    on_every_engine(plain, |db| {
        floats(db, true);
        db.insert("m", Row::new().with("id", 1).with("f", 0.0))
            .unwrap();
        let p1 = db.last_lsn();
        db.update("m", 1, Row::new().with("f", -0.0)).unwrap();
        let p2 = db.last_lsn();
        // the diff sees the change, and undo and restore-to put the zero back
        let diff = db.diff(p1, p2, None).unwrap();
        assert_eq!(diff.len(), 1, "{diff:?}");
        assert_eq!(diff[0].changes.len(), 1);
        let plan = db.restore_row_to("m", 1, p1).unwrap();
        assert_eq!(plan.reverted.len(), 1);
        let live = db.lookup("m", &["f"], &[0.0.into()]).unwrap();
        let then = db
            .as_of(p1)
            .unwrap()
            .lookup("m", &["f"], &[0.0.into()])
            .unwrap();
        assert_eq!(live, then);
        assert_eq!(live.len(), 1);
        assert!(db.lookup("m", &["f"], &[(-0.0).into()]).unwrap().is_empty());
        let Some(Value::Float(f)) = int(db, "m", 1, "f") else {
            panic!()
        };
        assert!(f.is_sign_positive());
    });
}

#[test]
fn values_compare_by_identity() {
    assert_eq!(Value::Float(f64::NAN), Value::Float(f64::NAN));
    assert_eq!(Value::Float(f64::NAN), Value::Float(-f64::NAN));
    assert_ne!(Value::Float(0.0), Value::Float(-0.0));
    assert_eq!(Value::Float(-0.0), Value::Float(-0.0));
    assert_ne!(Value::Float(1.0), Value::Int(1));
}

// ---------------------------------------------------------------------------------------------
// 10. The integer key sequence.

#[test]
fn an_exhausted_key_sequence_is_a_typed_error_and_explicit_keys_still_work() {
    on_every_engine(plain, |db| {
        db.create_table(
            TableBuilder::new("t")
                .column(("id", ColumnType::Int))
                .column(ColumnDef::new("v", ColumnType::Text).nullable())
                .primary_key("id"),
        )
        .unwrap();
        let e = db.insert("t", Row::new().with("id", i64::MAX)).unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)), "{e:?}");
        assert!(e.to_string().contains("largest"), "{e}");
        db.insert("t", Row::new().with("id", i64::MAX - 1)).unwrap();
        // the sequence now stands at its end: the largest key is still checked as taken
        let e = db
            .insert("t", Row::new().with("id", i64::MAX - 1))
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::ConstraintViolation {
                    constraint: lazarusdb::Constraint::PrimaryKey,
                    ..
                }
            ),
            "{e:?}"
        );
        let last = db.last_lsn();
        for _ in 0..2 {
            let e = db.insert("t", Row::new().with("v", "x")).unwrap_err();
            assert!(
                matches!(&e, Error::KeysExhausted { table } if table == "t"),
                "{e:?}"
            );
            assert!(e.to_string().contains("`t`"), "{e}");
        }
        assert_eq!(db.last_lsn(), last);
        db.insert("t", Row::new().with("id", -5)).unwrap();
        db.insert("t", Row::new().with("id", 7)).unwrap();
        assert_eq!(db.count("t").unwrap(), 3);
        // a delete and a restore of the last key do not revive the sequence either
        let d = db.delete("t", i64::MAX - 1).unwrap().deletion;
        db.restore(d, RestorePolicy::Refuse).unwrap();
        assert!(matches!(
            db.insert("t", Row::new()).unwrap_err(),
            Error::KeysExhausted { .. }
        ));
    });
}
