//! Purge, erase and retention through the public API (see `docs/design.md` §11): purged values
//! leave every read path, restores and as-of reads of them are clear errors, and the views still
//! equal a rebuild from the (rewritten) log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[macro_use]
mod common;
use common::*;

use lazarusdb::{
    Audit, ChangeKind, ColumnType, Db, Error, OnDelete, Readable, RestorePolicy, Retention, Row,
    Scan, TableBuilder, Timestamp, Value,
};

fn schema(db: &Db) {
    db.apply_schema(&[
        TableBuilder::new("author")
            .column(("id", ColumnType::Int))
            .column(("name", ColumnType::Text))
            .column(("email", ColumnType::Text))
            .primary_key("id")
            .unique(["email"])
            .trash_keeps_keys(true)
            .build(),
        TableBuilder::new("book")
            .column(("id", ColumnType::Int))
            .column(("author_id", ColumnType::Int))
            .column(("title", ColumnType::Text))
            .primary_key("id")
            .index(["title"])
            .foreign_key("author_id", "author", OnDelete::Cascade)
            .build(),
        TableBuilder::new("review")
            .column(("id", ColumnType::Int))
            .column(lazarusdb::ColumnDef::new("book_id", ColumnType::Int).nullable())
            .column(("text", ColumnType::Text))
            .primary_key("id")
            .foreign_key("book_id", "book", OnDelete::SetNull)
            .build(),
    ])
    .unwrap();
}

fn fill(db: &Db) {
    db.insert(
        "author",
        Row::new()
            .with("id", 1)
            .with("name", "Ann")
            .with("email", "ann@secret.example"),
    )
    .unwrap();
    db.update(
        "author",
        1,
        Row::new().with("name", "Ann Leaked-Password-123"),
    )
    .unwrap();
    db.update("author", 1, Row::new().with("name", "Ann Clean"))
        .unwrap();
    db.insert(
        "author",
        Row::new()
            .with("id", 2)
            .with("name", "Bob")
            .with("email", "bob@example"),
    )
    .unwrap();
    for (id, author, title) in [
        (10, 1, "Ann's first"),
        (11, 1, "Ann's second"),
        (20, 2, "Bob's"),
    ] {
        db.insert(
            "book",
            Row::new()
                .with("id", id)
                .with("author_id", author)
                .with("title", title),
        )
        .unwrap();
    }
    db.insert(
        "review",
        Row::new()
            .with("id", 100)
            .with("book_id", 10)
            .with("text", "great"),
    )
    .unwrap();
}

fn purge_a_deletion(db: &Db) {
    schema(db);
    fill(db);
    let before = db.last_lsn();
    let del = db.delete("author", 1).unwrap();
    assert_eq!(del.rows.len(), 3);
    let report = db
        .purge(
            del.deletion,
            &Audit::by("dpo").because("erasure request 42"),
        )
        .unwrap();
    assert_eq!(report.deletion, del.deletion);
    assert_eq!(report.rows.len(), 3);
    assert!(report.images >= 5, "{report:?}");
    // Gone from the trash; restore is a clear error.
    assert!(db
        .trash(&Default::default())
        .unwrap()
        .iter()
        .all(|d| d.id != del.deletion));
    let err = db.restore(del.deletion, RestorePolicy::Refuse).unwrap_err();
    assert!(matches!(err, Error::Purged(_)), "{err}");
    assert!(err.to_string().contains("purged"), "{err}");
    // As-of reads of the purged rows are a clear error; scans leave them out.
    let past = db.as_of(before).unwrap();
    let err = past.get("author", 1).unwrap_err();
    assert!(matches!(err, Error::Purged(_)), "{err}");
    let err = past.get("book", 10).unwrap_err();
    assert!(matches!(err, Error::Purged(_)), "{err}");
    assert_eq!(
        past.get("author", 2).unwrap().unwrap().get("name"),
        Some(&"Bob".into())
    );
    let names: Vec<Value> = past
        .scan("author", Scan::all())
        .unwrap()
        .iter()
        .map(|r| r.get("id").cloned().unwrap())
        .collect();
    assert_eq!(names, vec![Value::Int(2)]);
    // The set-null member stays live with its null reference.
    let review = db.get("review", 100).unwrap().unwrap();
    assert_eq!(review.get("book_id"), Some(&Value::Null));
    // History shows purged versions without values; the log records the purge.
    let hist = db.history("author", 1).unwrap();
    assert!(hist
        .iter()
        .any(|c| c.kind == ChangeKind::Purged && c.row.is_none()));
    assert!(hist.iter().all(|c| c.row.is_none()));
    let log = db.changes(1, None).unwrap();
    let purges: Vec<_> = log.iter().filter(|c| c.kind == ChangeKind::Purge).collect();
    assert_eq!(purges.len(), 4, "three rows and the deletion");
    assert!(purges.iter().all(|c| c.actor.as_deref() == Some("dpo")));
    assert!(purges
        .iter()
        .all(|c| c.reason.as_deref() == Some("erasure request 42")));
    // No event anywhere still holds a purged value.
    for ev in db.events(1, None).unwrap() {
        let text = format!("{:?}", ev.body);
        assert!(!text.contains("Leaked"), "{text}");
        assert!(!text.contains("ann@secret"), "{text}");
        assert!(!text.contains("Ann's"), "{text}");
    }
    // The key the trash kept reserved is free again.
    db.insert(
        "author",
        Row::new()
            .with("id", 1)
            .with("name", "New Ann")
            .with("email", "ann@secret.example"),
    )
    .unwrap();
    check_verify(db);
}

fn erase_a_live_row(db: &Db) {
    schema(db);
    fill(db);
    let report = db.erase("book", 11, &Audit::by("ops")).unwrap();
    assert_eq!(report.rows.len(), 1);
    assert!(db.get("book", 11).unwrap().is_none());
    assert!(db.get("book", 10).unwrap().is_some());
    assert!(db
        .history("book", 11)
        .unwrap()
        .iter()
        .all(|c| c.row.is_none()));
    // Erasing again: not found.
    assert!(matches!(
        db.erase("book", 11, &Audit::default()),
        Err(Error::NotFound { .. })
    ));
    // The author with a leaked old version: erase, then nothing of it is readable.
    let report = db.erase("author", 1, &Audit::default()).unwrap();
    assert_eq!(report.rows.len(), 2, "author 1 and its remaining book");
    for ev in db.events(1, None).unwrap() {
        assert!(!format!("{:?}", ev.body).contains("Leaked"));
    }
    check_verify(db);
}

fn erase_a_trashed_row(db: &Db) {
    schema(db);
    fill(db);
    let del = db.delete("author", 2).unwrap();
    let report = db.erase("book", 20, &Audit::default()).unwrap();
    assert_eq!(report.deletion, del.deletion);
    assert_eq!(report.rows.len(), 2);
    assert!(matches!(
        db.restore(del.deletion, RestorePolicy::Refuse),
        Err(Error::Purged(_))
    ));
    check_verify(db);
}

fn purge_errors_write_nothing(db: &Db) {
    schema(db);
    fill(db);
    let lsn = db.last_lsn();
    let unknown = uuid::Uuid::now_v7();
    assert!(matches!(
        db.purge(unknown, &Audit::default()),
        Err(Error::UnknownDeletion(_))
    ));
    let del = db.delete("book", 20).unwrap();
    db.restore(del.deletion, RestorePolicy::Refuse).unwrap();
    let lsn2 = db.last_lsn();
    assert!(lsn2 > lsn);
    let err = db.purge(del.deletion, &Audit::default()).unwrap_err();
    assert!(err.to_string().contains("restored"), "{err}");
    assert!(matches!(
        db.erase("nope", 1, &Audit::default()),
        Err(Error::UnknownTable(_))
    ));
    assert_eq!(db.last_lsn(), lsn2);
    // Purge inside a transaction that fails later: nothing of the purge lands.
    let del = db.delete("book", 20).unwrap();
    let lsn3 = db.last_lsn();
    let res: Result<(), Error> = db.transaction(|tx| {
        tx.purge(del.deletion)?;
        tx.insert("book", Row::new().with("id", 20).with("author_id", 999))?; // no such author
        Ok(())
    });
    assert!(res.is_err());
    assert_eq!(db.last_lsn(), lsn3);
    db.restore(del.deletion, RestorePolicy::Refuse).unwrap();
    assert!(db.get("book", 20).unwrap().is_some());
    check_verify(db);
}

fn rebuild_after_purge(db: &Db) {
    schema(db);
    fill(db);
    let d = db.delete("author", 1).unwrap();
    db.restore(d.deletion, RestorePolicy::Refuse).unwrap();
    db.update("book", 10, Row::new().with("title", "renamed"))
        .unwrap();
    let d = db.delete("author", 1).unwrap();
    db.purge(d.deletion, &Audit::default()).unwrap();
    // New life of the same keys after the purge.
    db.insert(
        "author",
        Row::new()
            .with("id", 1)
            .with("name", "Again")
            .with("email", "again@example"),
    )
    .unwrap();
    db.insert(
        "book",
        Row::new()
            .with("id", 10)
            .with("author_id", 1)
            .with("title", "x"),
    )
    .unwrap();
    db.add_index("author", &["name"], false).unwrap();
    check_verify(db);
    db.rebuild().unwrap();
    check_verify(db);
    assert_eq!(
        db.get("book", 10).unwrap().unwrap().get("title"),
        Some(&"x".into())
    );
    let found = db.lookup("book", &["title"], &["x".into()]).unwrap();
    assert_eq!(found.len(), 1);
    assert!(db
        .lookup("book", &["title"], &["renamed".into()])
        .unwrap()
        .is_empty());
}

on_both!(
    purge_a_deletion,
    erase_a_live_row,
    erase_a_trashed_row,
    purge_errors_write_nothing,
    rebuild_after_purge
);

#[test]
fn history_retention_drops_old_versions_and_refuses_reads_before_the_window() {
    let (clock, now) = lazarusdb::Clock::manual(Timestamp(1_000_000_000_000));
    let db = Db::memory_with(lazarusdb::Options::default().clock(clock)).unwrap();
    schema(&db);
    db.insert(
        "author",
        Row::new()
            .with("id", 1)
            .with("name", "v1 secret")
            .with("email", "a@x"),
    )
    .unwrap();
    let early = db.last_lsn();
    let day = 86_400_000_000i64;
    now.fetch_add(2 * day, std::sync::atomic::Ordering::SeqCst);
    db.update("author", 1, Row::new().with("name", "v2"))
        .unwrap();
    db.insert(
        "author",
        Row::new()
            .with("id", 2)
            .with("name", "only")
            .with("email", "b@x"),
    )
    .unwrap();
    let mid = db.last_lsn();
    now.fetch_add(2 * day, std::sync::atomic::Ordering::SeqCst);
    db.update("author", 1, Row::new().with("name", "v3"))
        .unwrap();
    db.set_retention(
        Some("author"),
        Retention {
            deletions: None,
            history: Some(3 * 86_400),
        },
    )
    .unwrap();
    // Before pruning, reads before the window are already refused, naming it.
    let err = db.as_of(early).unwrap().get("author", 1).unwrap_err();
    assert!(matches!(err, Error::HistoryExpired { .. }), "{err}");
    assert!(err.to_string().contains("3d"), "{err}");
    // Other tables are not affected.
    assert!(db.as_of(early).unwrap().get("book", 1).unwrap().is_none());
    let report = db.apply_retention(&Audit::by("retention")).unwrap();
    assert_eq!(report.pruned.len(), 1, "{report:?}");
    assert!(report.purged.is_empty());
    // v1 is gone from the log; v2 (inside the window) and v3 (latest) stay.
    let text: String = db
        .events(1, None)
        .unwrap()
        .iter()
        .map(|e| format!("{:?}", e.body))
        .collect();
    assert!(!text.contains("v1 secret"));
    assert!(text.contains("v2") && text.contains("v3") && text.contains("only"));
    assert_eq!(
        db.get("author", 1).unwrap().unwrap().get("name"),
        Some(&"v3".into())
    );
    assert_eq!(
        db.as_of(mid)
            .unwrap()
            .get("author", 2)
            .unwrap()
            .unwrap()
            .get("name"),
        Some(&"only".into())
    );
    assert!(matches!(
        db.as_of(early).unwrap().get("author", 1),
        Err(Error::HistoryExpired { .. })
    ));
    assert!(matches!(
        db.restore_table_to("author", early),
        Err(Error::HistoryExpired { .. })
    ));
    check_verify(&db);
    db.rebuild().unwrap();
    check_verify(&db);
}

/// On the default engine as-of views of one snapshot share what they read of the tables'
/// history limits: a retention policy set, changed or removed, and a pruning, must each be seen
/// by the very next as-of read.
#[test]
fn as_of_reads_see_each_change_of_the_history_limits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (clock, now) = lazarusdb::Clock::manual(Timestamp(1_000_000_000_000));
    let db = Db::open_with(
        dir.path().join("s"),
        lazarusdb::Options::default().clock(clock),
    )
    .unwrap();
    schema(&db);
    db.insert(
        "author",
        Row::new()
            .with("id", 1)
            .with("name", "v1")
            .with("email", "a@x"),
    )
    .unwrap();
    let early = db.last_lsn();
    let day = 86_400_000_000i64;
    now.fetch_add(2 * day, std::sync::atomic::Ordering::SeqCst);
    db.update("author", 1, Row::new().with("name", "v2"))
        .unwrap();
    let readable = |db: &Db| db.as_of(early).unwrap().get("author", 1);
    // twice: the second read is served by what the first kept
    for _ in 0..2 {
        assert_eq!(
            readable(&db).unwrap().unwrap().get("name"),
            Some(&"v1".into())
        );
    }
    let window = |days: u64| Retention {
        deletions: None,
        history: Some(days * 86_400),
    };
    db.set_retention(Some("author"), window(1)).unwrap();
    assert!(matches!(readable(&db), Err(Error::HistoryExpired { .. })));
    db.set_retention(Some("author"), window(30)).unwrap();
    assert_eq!(
        readable(&db).unwrap().unwrap().get("name"),
        Some(&"v1".into())
    );
    db.set_retention(None, window(1)).unwrap();
    assert!(
        readable(&db).is_ok(),
        "the table's own window (30 days) wins over the store's"
    );
    db.set_retention(Some("author"), Retention::default())
        .unwrap();
    assert!(matches!(readable(&db), Err(Error::HistoryExpired { .. })));
    db.set_retention(None, Retention::default()).unwrap();
    assert!(readable(&db).is_ok());
    let mid = db.last_lsn();
    db.transaction(|tx| tx.prune_history("author", mid))
        .unwrap();
    assert!(matches!(readable(&db), Err(Error::HistoryExpired { .. })));
}

#[test]
fn deletion_retention_purges_old_deletions_only() {
    let (clock, now) = lazarusdb::Clock::manual(Timestamp(1_000_000_000_000));
    let db = Db::memory_with(lazarusdb::Options::default().clock(clock)).unwrap();
    schema(&db);
    fill(&db);
    db.set_retention(
        None,
        Retention {
            deletions: Some(7 * 86_400),
            history: None,
        },
    )
    .unwrap();
    let old = db.delete("author", 2).unwrap();
    now.fetch_add(8 * 86_400_000_000, std::sync::atomic::Ordering::SeqCst);
    let recent = db.delete("book", 10).unwrap();
    let report = db.apply_retention(&Audit::by("retention")).unwrap();
    assert_eq!(report.purged.len(), 1);
    assert_eq!(report.purged[0].deletion, old.deletion);
    assert!(matches!(
        db.restore(old.deletion, RestorePolicy::Refuse),
        Err(Error::Purged(_))
    ));
    db.restore(recent.deletion, RestorePolicy::Refuse).unwrap();
    // Running it again does nothing.
    let again = db.apply_retention(&Audit::default()).unwrap();
    assert!(again.purged.is_empty() && again.pruned.is_empty());
    check_verify(&db);
}

#[test]
fn undo_and_diff_that_need_a_purged_image_fail_and_write_nothing() {
    let db = Db::memory().unwrap();
    schema(&db);
    fill(&db);
    // A transaction that updated a row and another row that is later erased.
    let info = db
        .transaction(|tx| {
            tx.update("author", 2, Row::new().with("name", "Bobby"))?;
            tx.update("book", 20, Row::new().with("title", "Bob's second edition"))?;
            Ok::<_, Error>(tx.id())
        })
        .unwrap();
    let before = db.last_lsn();
    db.erase("book", 20, &Audit::default()).unwrap();
    let lsn = db.last_lsn();
    let err = db.undo(info, true).unwrap_err();
    assert!(matches!(err, Error::Purged(_)), "{err}");
    assert_eq!(db.last_lsn(), lsn);
    assert!(matches!(db.diff(1u64, before, None), Err(Error::Purged(_))));
    // Author 2 was not erased: its history is intact and restorable.
    db.restore_row_to("author", 2, before - 2).unwrap();
    assert_eq!(
        db.get("author", 2).unwrap().unwrap().get("name"),
        Some(&"Bob".into())
    );
    check_verify(&db);
}

#[test]
fn lives_of_a_reused_key_are_purged_one_by_one_and_erase_takes_them_all() {
    let db = Db::memory().unwrap();
    db.create_table(
        TableBuilder::new("k")
            .column(("id", ColumnType::Int))
            .column(("v", ColumnType::Text))
            .primary_key("id"),
    )
    .unwrap();
    // Three lives of key 1: two in the trash, one live.
    db.insert("k", Row::new().with("id", 1).with("v", "life-one"))
        .unwrap();
    let d1 = db.delete("k", 1).unwrap().deletion;
    db.insert("k", Row::new().with("id", 1).with("v", "life-two"))
        .unwrap();
    let d2 = db.delete("k", 1).unwrap().deletion;
    db.insert("k", Row::new().with("id", 1).with("v", "life-three"))
        .unwrap();
    let log = |db: &Db| -> String {
        db.events(1, None)
            .unwrap()
            .iter()
            .map(|e| format!("{:?}", e.body))
            .collect()
    };
    // Purging the first deletion removes the first life only.
    let p = db.purge(d1, &Audit::default()).unwrap();
    assert_eq!(p.images, 1);
    let text = log(&db);
    assert!(!text.contains("life-one"));
    assert!(text.contains("life-two") && text.contains("life-three"));
    assert_eq!(db.deletion(d2).unwrap().remaining, 1);
    db.restore(d2, RestorePolicy::SkipConflicts).unwrap(); // key taken: conflict, stays
    assert!(db
        .trash(&Default::default())
        .unwrap()
        .iter()
        .any(|d| d.id == d2));
    // Erasing the live row also purges the deletion holding the second life.
    let e = db.erase("k", 1, &Audit::default()).unwrap();
    assert_eq!(e.also, vec![d2]);
    assert_eq!(e.rows.len(), 2);
    let text = log(&db);
    assert!(
        !text.contains("life-two") && !text.contains("life-three"),
        "{text}"
    );
    assert!(db.trash(&Default::default()).unwrap().is_empty());
    check_verify(&db);
    db.rebuild().unwrap();
    check_verify(&db);
}

#[test]
fn purging_the_latest_life_hands_the_key_back_to_the_deletion_holding_an_earlier_one() {
    let db = Db::memory().unwrap();
    db.create_table(
        TableBuilder::new("k")
            .column(("id", ColumnType::Int))
            .column(("v", ColumnType::Text))
            .primary_key("id"),
    )
    .unwrap();
    db.insert("k", Row::new().with("id", -1).with("v", "one"))
        .unwrap();
    let d1 = db.delete("k", -1).unwrap().deletion;
    db.insert("k", Row::new().with("id", -1).with("v", "two"))
        .unwrap();
    let d2 = db.delete("k", -1).unwrap().deletion;
    assert_eq!(db.find_deletion("k", -1).unwrap(), Some(d2));
    db.purge(d2, &Audit::default()).unwrap();
    assert_eq!(db.find_deletion("k", -1).unwrap(), Some(d1));
    check_verify(&db);
    let e = db.erase("k", -1, &Audit::default()).unwrap();
    assert_eq!(e.deletion, d1);
    assert_eq!(db.find_deletion("k", -1).unwrap(), None);
    assert!(matches!(
        db.erase("k", -1, &Audit::default()),
        Err(Error::NotFound { .. })
    ));
    check_verify(&db);
    db.rebuild().unwrap();
    check_verify(&db);
}

#[test]
fn a_preview_reports_exactly_what_the_purge_then_does_and_writes_nothing() {
    let (clock, now) = lazarusdb::Clock::manual(Timestamp(1_000_000_000_000));
    let db = Db::memory_with(lazarusdb::Options::default().clock(clock)).unwrap();
    schema(&db);
    fill(&db);
    let del = db.delete("author", 1).unwrap();
    let lsn = db.last_lsn();
    // a purge, an erase and a prune previewed: reports, nothing written
    let purge = db.preview(|tx| tx.purge(del.deletion)).unwrap();
    let erase = db.preview(|tx| tx.erase("author", 2)).unwrap();
    assert_eq!(erase.rows.len(), 2, "Bob and his book: {erase:?}");
    let pruned = db.preview(|tx| tx.prune_history("author", lsn)).unwrap();
    assert!(pruned > 0);
    assert_eq!(db.last_lsn(), lsn);
    assert!(db.get("author", 2).unwrap().is_some());
    db.restore_plan(del.deletion, RestorePolicy::Refuse)
        .unwrap();
    // an error inside a preview is the preview's error; the store is still usable
    assert!(matches!(
        db.preview(|tx| tx.erase("author", 99)),
        Err(Error::NotFound { .. })
    ));
    // what is due, listed, equals what is then done
    now.fetch_add(2 * 86_400_000_000, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(db.deletions_older_than(86_400).unwrap(), vec![del.deletion]);
    assert!(db.deletions_older_than(3 * 86_400).unwrap().is_empty());
    db.set_retention(
        None,
        Retention {
            deletions: Some(86_400),
            history: Some(86_400),
        },
    )
    .unwrap();
    let due = db.retention_due().unwrap();
    assert_eq!(due.deletions, vec![del.deletion]);
    assert!(due.prunes.iter().any(|(t, _)| t == "author"), "{due:?}");
    let report = db.apply_retention(&Audit::by("dpo")).unwrap();
    assert_eq!(report.purged, vec![purge]);
    let done: Vec<(String, u64)> = report
        .pruned
        .iter()
        .map(|(t, h, _)| (t.clone(), *h))
        .collect();
    assert_eq!(done, due.prunes);
    check_verify(&db);
}
