//! The change feed (`Db::subscribe`): every committed change once, in LSN order, never part of
//! a transaction, with concurrent writers and several subscribers; resumed after N commits and
//! across a reopen; purged values never delivered; the channel form.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Arc;
use std::time::Duration;

use lazarusdb::{Audit, Change, ChangeKind, ColumnType, Db, Error, OnDelete, Row, TableBuilder};

fn schema(db: &Db) {
    db.apply_schema(&[
        TableBuilder::new("parent")
            .column(("id", ColumnType::Int))
            .column(("name", ColumnType::Text))
            .primary_key("id")
            .build(),
        TableBuilder::new("child")
            .column(("id", ColumnType::Int))
            .column(("parent_id", ColumnType::Int))
            .primary_key("id")
            .foreign_key("parent_id", "parent", OnDelete::Cascade)
            .build(),
    ])
    .unwrap();
}

/// (lsn, tx, kind, table, pk) of a change: what the feed and the log must agree on.
fn key(c: &Change) -> (u64, u64, ChangeKind, Option<String>, Option<String>) {
    (
        c.lsn,
        c.tx,
        c.kind,
        c.table.clone(),
        c.pk.as_ref().map(|v| v.to_string()),
    )
}

#[test]
fn concurrent_writers_and_subscribers_get_every_change_once_in_order() {
    const WRITERS: i64 = 4;
    const TXS: i64 = 40;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("s")).unwrap();
    schema(&db);
    let start = db.last_lsn();
    // Every transaction a writer makes: a parent and two children, an update, and every
    // third one a cascade delete of the parent; the last one is marked by its reason.
    // the last LSN, once every writer is done (0 until then)
    let done = std::sync::atomic::AtomicU64::new(0);
    let got: Vec<Vec<Change>> = std::thread::scope(|s| {
        let subscribers: Vec<_> = (0..3)
            .map(|_| {
                let (db, done) = (&db, &done);
                s.spawn(move || {
                    let mut out: Vec<Change> = Vec::new();
                    let mut feed = db.subscribe(start).unwrap();
                    let until = std::time::Instant::now() + Duration::from_secs(120);
                    loop {
                        let end = done.load(std::sync::atomic::Ordering::Acquire);
                        if end != 0 && feed.last_seen() >= end {
                            break;
                        }
                        assert!(std::time::Instant::now() < until, "the feed stalled");
                        let Some(c) = feed.next_timeout(Duration::from_millis(100)).unwrap() else {
                            continue;
                        };
                        // never part of a transaction: all of it is committed already
                        let rec = db.transaction_record(c.tx).unwrap().unwrap();
                        assert!(
                            db.last_lsn() >= rec.last_lsn,
                            "lsn {} before its commit",
                            c.lsn
                        );
                        out.push(c);
                    }
                    out
                })
            })
            .collect();
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let db = &db;
                s.spawn(move || {
                    for i in 0..TXS {
                        let id = w * 1_000 + i;
                        db.transaction(|tx| {
                            tx.set_actor(format!("writer {w}"));
                            tx.insert("parent", Row::new().with("id", id).with("name", "p"))?;
                            for c in 0..2 {
                                tx.insert(
                                    "child",
                                    Row::new().with("id", id * 10 + c).with("parent_id", id),
                                )?;
                            }
                            tx.update("parent", id, Row::new().with("name", "q"))?;
                            if i % 3 == 0 {
                                tx.delete("parent", id)?;
                            }
                            Ok::<_, Error>(())
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        done.store(db.last_lsn(), std::sync::atomic::Ordering::Release);
        subscribers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let log = db.changes(start + 1, None).unwrap();
    assert_eq!(log.last().unwrap().lsn, db.last_lsn());
    for (i, feed) in got.iter().enumerate() {
        let want: Vec<_> = log.iter().map(key).collect();
        let have: Vec<_> = feed.iter().map(key).collect();
        let first_wrong = have.iter().zip(&want).position(|(h, w)| h != w);
        assert!(
            have.len() == want.len() && first_wrong.is_none(),
            "subscriber {i}: {} changes for {}, first difference at {first_wrong:?}",
            have.len(),
            want.len()
        );
        assert_eq!(
            feed.iter()
                .map(|c| c.tx)
                .collect::<std::collections::BTreeSet<_>>()
                .len() as i64,
            WRITERS * TXS
        );
        assert!(feed
            .iter()
            .all(|c| c.actor.as_deref().is_some_and(|a| a.starts_with("writer "))));
    }
}

#[test]
fn a_subscriber_resumes_after_n_commits_and_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let db = Db::open(&path).unwrap();
    schema(&db);
    for id in 1..=5 {
        db.insert("parent", Row::new().with("id", id).with("name", "p"))
            .unwrap();
    }
    // started after the commits: it catches up from the log, then waits
    let mut feed = db.subscribe(0).unwrap();
    let first: Vec<Change> = (0..3).map(|_| feed.next().unwrap().unwrap()).collect();
    assert_eq!(
        first.iter().map(|c| c.lsn).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(first[0].kind, ChangeKind::Schema);
    let seen = feed.last_seen();
    assert_eq!(seen, 3);
    drop(feed);
    db.close().unwrap();

    let db = Db::open(&path).unwrap();
    db.update("parent", 5, Row::new().with("name", "after the reopen"))
        .unwrap();
    let mut feed = db.subscribe(seen).unwrap();
    let mut rest = Vec::new();
    while let Some(c) = feed.try_next().unwrap() {
        rest.push(c);
    }
    assert_eq!(
        rest.iter().map(|c| c.lsn).collect::<Vec<_>>(),
        (4..=db.last_lsn()).collect::<Vec<_>>()
    );
    assert_eq!(rest.last().unwrap().kind, ChangeKind::Update);
    // caught up: nothing until the next commit, which wakes it
    assert!(feed
        .next_timeout(Duration::from_millis(50))
        .unwrap()
        .is_none());
    std::thread::scope(|s| {
        let waiter = s.spawn(|| feed.next_timeout(Duration::from_secs(60)).unwrap());
        std::thread::sleep(Duration::from_millis(50));
        db.delete("parent", 1).unwrap();
        let c = waiter.join().unwrap().expect("woken by the commit");
        assert_eq!(c.kind, ChangeKind::Delete);
    });
    // past the end of the log: a typed error naming where to resume from
    let err = db.subscribe(db.last_lsn() + 5).err().unwrap();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    assert!(err.to_string().contains("past the end"), "{err}");
}

#[test]
fn purged_values_never_appear_in_the_feed() {
    let db = Db::memory().unwrap();
    schema(&db);
    db.insert(
        "parent",
        Row::new().with("id", 1).with("name", "SECRET-NAME"),
    )
    .unwrap();
    let d = db.delete("parent", 1).unwrap();
    db.purge(d.deletion, &Audit::by("dpo")).unwrap();
    let mut feed = db.subscribe(0).unwrap();
    let mut all = Vec::new();
    while let Some(c) = feed.try_next().unwrap() {
        all.push(c);
    }
    assert_eq!(all.len() as u64, db.last_lsn());
    for c in &all {
        assert!(!format!("{c:?}").contains("SECRET-NAME"), "{c:?}");
    }
    assert!(all.iter().any(|c| c.kind == ChangeKind::Purge));
}

#[test]
fn the_channel_form_delivers_the_same_and_ends_with_its_receiver() {
    let db = Arc::new(Db::memory().unwrap());
    schema(&db);
    let rx = db.subscribe_channel(0, 4).unwrap();
    for id in 1..=20 {
        db.insert("parent", Row::new().with("id", id).with("name", "p"))
            .unwrap();
    }
    let got: Vec<Change> = (0..21)
        .map(|_| rx.recv_timeout(Duration::from_secs(60)).unwrap().unwrap())
        .collect();
    let want = db.changes(1, None).unwrap();
    assert_eq!(
        got.iter().map(key).collect::<Vec<_>>(),
        want.iter().map(key).collect::<Vec<_>>()
    );
    drop(rx);
    // the thread lets go of the store once its receiver is gone
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while Arc::strong_count(&db) > 1 || Arc::weak_count(&db) > 0 {
        db.insert(
            "parent",
            Row::new()
                .with("id", 1_000 + db.last_lsn() as i64)
                .with("name", "x"),
        )
        .unwrap();
        assert!(
            std::time::Instant::now() < until,
            "the feed thread did not end"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
