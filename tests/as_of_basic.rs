//! As-of reads around inserts, updates, tombstones and restores: get, scan, index lookup,
//! children, parent, count and the trash as of each LSN equal what live reads returned then.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use lazarusdb::{
    At, ColumnDef, ColumnType, Db, OnDelete, Readable, RestorePolicy, Row, Scan, TableBuilder,
    Timestamp, TrashQuery, Value,
};

fn snapshot(r: &impl Readable) -> (Vec<Row>, Vec<Row>, Vec<Row>, usize, u64) {
    (
        r.scan("p", Scan::all()).unwrap(),
        r.scan("c", Scan::all()).unwrap(),
        r.lookup("c", &["tag"], &["x".into()]).unwrap(),
        r.trash(&TrashQuery::all()).unwrap().len(),
        r.count("c").unwrap(),
    )
}

#[test]
fn as_of_every_lsn_equals_the_live_reads_of_then() {
    let db = Db::memory().unwrap();
    db.create_table(
        TableBuilder::new("p")
            .column(("id", ColumnType::Int))
            .column(("name", ColumnType::Text))
            .primary_key("id"),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("c")
            .column(("id", ColumnType::Int))
            .column(("p_id", ColumnType::Int))
            .column(("tag", ColumnType::Text))
            .primary_key("id")
            .index(["tag"])
            .foreign_key("p_id", "p", OnDelete::Cascade),
    )
    .unwrap();
    let mut seen = Vec::new();
    let mut step = |db: &Db| seen.push((db.last_lsn(), snapshot(db)));
    step(&db);
    db.insert("p", Row::new().with("name", "one")).unwrap();
    step(&db);
    db.insert("c", Row::new().with("p_id", 1).with("tag", "x"))
        .unwrap();
    db.insert("c", Row::new().with("p_id", 1).with("tag", "y"))
        .unwrap();
    step(&db);
    db.update("c", 2, Row::new().with("tag", "x")).unwrap();
    step(&db);
    let d = db.delete("p", 1).unwrap();
    step(&db);
    db.add_column(
        "c",
        ColumnDef::new("extra", ColumnType::Int).with_default(5),
    )
    .unwrap();
    step(&db);
    db.restore(d.deletion, RestorePolicy::Refuse).unwrap();
    step(&db);
    db.update("p", 1, Row::new().with("name", "uno")).unwrap();
    step(&db);
    for (lsn, expected) in &seen {
        let past = db.as_of(*lsn).unwrap();
        assert_eq!(past.lsn(), *lsn);
        assert_eq!(&snapshot(&past), expected, "as of {lsn}");
    }
    // children and parent as of the deletion
    let (del_lsn, _) = seen[4];
    let past = db.as_of(del_lsn).unwrap();
    assert!(past.children("p", 1, "c").unwrap().is_empty());
    assert_eq!(past.find_deletion("p", 1).unwrap(), Some(d.deletion));
    let before = db.as_of(seen[3].0).unwrap();
    assert_eq!(before.children("p", 1, "c").unwrap().len(), 2);
    assert_eq!(
        before.parent("c", 1, "p_id").unwrap().unwrap().get("name"),
        Some(&Value::from("one"))
    );
    // a column added later is absent as of earlier points
    assert!(before.get("c", 1).unwrap().unwrap().get("extra").is_none());
    assert_eq!(
        db.get("c", 1).unwrap().unwrap().get("extra"),
        Some(&Value::Int(5))
    );
}

#[test]
fn lsn_inside_a_transaction_means_the_whole_transaction_and_time_maps_monotonically() {
    let db = Db::memory().unwrap();
    db.create_table(
        TableBuilder::new("t")
            .column(("id", ColumnType::Int))
            .primary_key("id"),
    )
    .unwrap();
    let start = Timestamp::now();
    db.transaction(|tx| {
        for _ in 0..3 {
            tx.insert("t", Row::new())?;
        }
        Ok::<_, lazarusdb::Error>(())
    })
    .unwrap();
    let first = db.history("t", 1).unwrap()[0].lsn;
    assert_eq!(db.as_of(first).unwrap().count("t").unwrap(), 3);
    assert_eq!(db.as_of(At::Time(Timestamp(0))).unwrap().lsn(), 0);
    assert_eq!(
        db.as_of(At::Time(Timestamp(i64::MAX))).unwrap().lsn(),
        db.last_lsn()
    );
    assert!(db.as_of(At::Time(start)).unwrap().lsn() < first);
    assert!(db.as_of(db.last_lsn() + 1).is_err());
    assert!("2024-01-01T00:00:00Z".parse::<At>().is_ok());
    assert!("yesterday".parse::<At>().is_err());
}

#[test]
fn a_clock_that_stands_still_or_steps_back_keeps_times_ordered() {
    use lazarusdb::{Clock, Options};
    use std::sync::atomic::Ordering;
    let (clock, hand) = Clock::manual(Timestamp(1_000_000));
    let db = Db::memory_with(Options::default().clock(clock)).unwrap();
    db.create_table(
        TableBuilder::new("t")
            .column(("id", ColumnType::Int))
            .primary_key("id"),
    )
    .unwrap();
    db.insert("t", Row::new()).unwrap(); // at 1_000_000
    db.insert("t", Row::new()).unwrap(); // same microsecond
    hand.store(500_000, Ordering::SeqCst); // the wall clock steps back
    db.insert("t", Row::new()).unwrap(); // still 1_000_000
    hand.store(2_000_000, Ordering::SeqCst);
    db.insert("t", Row::new()).unwrap(); // 2_000_000
    let times: Vec<i64> = db
        .changes(1, None)
        .unwrap()
        .iter()
        .map(|c| c.at.0)
        .collect();
    assert_eq!(
        times,
        vec![1_000_000, 1_000_000, 1_000_000, 1_000_000, 2_000_000]
    );
    // every commit at the same time: a time maps to the LAST of them
    assert_eq!(
        db.as_of(At::Time(Timestamp(1_000_000)))
            .unwrap()
            .count("t")
            .unwrap(),
        3
    );
    assert_eq!(db.as_of(At::Time(Timestamp(999_999))).unwrap().lsn(), 0);
    assert_eq!(
        db.as_of(At::Time(Timestamp(1_999_999)))
            .unwrap()
            .count("t")
            .unwrap(),
        3
    );
    assert_eq!(
        db.as_of(At::Time(Timestamp(2_000_000)))
            .unwrap()
            .count("t")
            .unwrap(),
        4
    );
}

#[test]
fn every_kind_of_point_resolves_to_the_commit_it_names() {
    let (clock, now) = lazarusdb::Clock::manual(Timestamp(1_700_000_000_000_000));
    let db = Db::memory_with(lazarusdb::Options::default().clock(clock)).unwrap();
    db.create_table(
        TableBuilder::new("t")
            .column(("id", ColumnType::Int))
            .column(("v", ColumnType::Text))
            .primary_key("id"),
    )
    .unwrap();
    let hour = 3_600_000_000;
    let step = || {
        now.fetch_add(hour, std::sync::atomic::Ordering::SeqCst);
    };
    let v = |at: At| {
        db.as_of(at)
            .unwrap()
            .get("t", 1)
            .unwrap()
            .map(|r| r.get("v").cloned().unwrap())
    };
    step();
    db.insert("t", Row::new().with("id", 1).with("v", "one"))
        .unwrap();
    let tx_one = db.changes(1, None).unwrap().last().unwrap().tx;
    step();
    // a transaction that changes the row and then deletes it: a point "before the deletion" is
    // before the whole transaction
    let mut deletion = None;
    db.transaction(|tx| {
        tx.update("t", 1, Row::new().with("v", "two"))?;
        deletion = Some(tx.delete("t", 1)?.deletion);
        Ok::<_, lazarusdb::Error>(())
    })
    .unwrap();
    let deletion = deletion.unwrap();
    step();
    db.restore(deletion, RestorePolicy::Refuse).unwrap();
    db.update("t", 1, Row::new().with("v", "three")).unwrap();
    step();

    // before the first transaction, the table did not exist yet
    assert!(db.as_of(At::Tx(0)).unwrap().get("t", 1).is_err());
    assert_eq!(v(At::Tx(tx_one)), Some("one".into()));
    assert_eq!(v(At::BeforeDeletion(deletion)), Some("one".into()));
    assert_eq!(v(At::Now), Some("three".into()));
    assert_eq!(db.resolve(At::Now).unwrap(), db.last_lsn());
    // by the store's clock: one hour ago is after the last update, 1h30 ago before the
    // restore, 2h30 ago just after the insert, 3h30 ago before it (the table already made)
    assert_eq!(v(At::Ago(3_600)), Some("three".into()));
    assert_eq!(v(At::Ago(5_400)), None, "deleted then");
    assert_eq!(v(At::Ago(9_000)), Some("one".into()));
    assert_eq!(v(At::Ago(12_600)), None);
    // the same through the parser
    assert_eq!(
        v(At::parse(&format!("deletion:{deletion}")).unwrap()),
        Some("one".into())
    );
    assert_eq!(v(At::parse("tx:1").unwrap()), None, "tx 1 made the table");
    assert_eq!(v(At::parse("150m ago").unwrap()), Some("one".into()));
    // points that name nothing are errors
    let last_tx = db.changes(1, None).unwrap().last().unwrap().tx;
    let e = db.as_of(At::Tx(last_tx + 1)).err().unwrap().to_string();
    assert!(e.contains("beyond"), "{e}");
    let e = db
        .as_of(At::BeforeDeletion(uuid_of(
            "01890000-0000-7000-8000-000000000000",
        )))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("no deletion"), "{e}");
}

fn uuid_of(text: &str) -> uuid::Uuid {
    uuid::Uuid::parse_str(text).unwrap()
}

#[test]
fn the_catalog_of_each_point_is_its_own_whatever_order_points_are_read_in() {
    let db = Db::memory().unwrap();
    db.create_table(
        TableBuilder::new("t")
            .column(("id", ColumnType::Int))
            .primary_key("id"),
    )
    .unwrap();
    db.insert("t", Row::new().with("id", 1)).unwrap();
    let before = db.last_lsn();
    db.insert("t", Row::new().with("id", 2)).unwrap();
    let still_before = db.last_lsn();
    db.add_column(
        "t",
        ColumnDef::new("note", ColumnType::Text).with_default("x"),
    )
    .unwrap();
    let added = db.last_lsn();
    db.insert("t", Row::new().with("id", 3).with("note", "y"))
        .unwrap();
    let after = db.last_lsn();
    let has_note = |at: u64| {
        db.as_of(at)
            .unwrap()
            .table_def("t")
            .unwrap()
            .columns
            .iter()
            .any(|c| c.name == "note")
    };
    // read in an order that walks the remembered range forwards, backwards and across the change
    for (at, want) in [
        (before, false),
        (still_before, false),
        (before, false),
        (after, true),
        (still_before, false),
        (added, true),
        (before, false),
        (after, true),
    ] {
        assert_eq!(has_note(at), want, "as of {at}");
    }
}
