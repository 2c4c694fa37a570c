//! Pins transaction behaviour: closure transactions commit on `Ok` and write nothing on `Err`;
//! explicit `begin`/`commit`; a dropped transaction aborts and frees the writer; reads through a
//! transaction see its own writes while the store does not until commit; nested `begin` on one
//! thread is `NestedTransaction`; LSNs increase by one per event and failed transactions use
//! none; `history` carries LSN, transaction, time, actor and reason; typed access through serde;
//! and readers running next to a writer never see part of a transaction.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use lazarusdb::{
    ChangeKind, ColumnDef, ColumnType, Db, Durability, EngineKind, Error, IndexRange, OnDelete,
    Options, Readable, Row, Scan, TableBuilder, Timestamp, Value,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

fn schema(db: &Db) {
    db.create_table(
        TableBuilder::new("author")
            .column(("id", ColumnType::Int))
            .column(("email", ColumnType::Text))
            .column(ColumnDef::new("name", ColumnType::Text).nullable())
            .primary_key("id")
            .unique(["email"]),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("book")
            .column(("id", ColumnType::Int))
            .column(("title", ColumnType::Text))
            .column(("author_id", ColumnType::Int))
            .primary_key("id")
            .index(["title"])
            .foreign_key("author_id", "author", OnDelete::Cascade),
    )
    .unwrap();
}

fn ids(rows: &[Row]) -> Vec<i64> {
    rows.iter()
        .map(|r| r.get("id").and_then(Value::as_int).unwrap())
        .collect()
}

fn email(n: u32) -> Row {
    Row::new().with("email", format!("a{n}@x"))
}

#[test]
fn closure_commits_on_ok_and_writes_nothing_on_err() {
    let db = Db::memory().unwrap();
    schema(&db);
    let lsn = db.last_lsn();
    let out = db
        .transaction(|tx| {
            tx.insert("author", email(1))?;
            tx.insert("author", email(2))?;
            Ok::<_, Error>("done")
        })
        .unwrap();
    assert_eq!(out, "done");
    assert_eq!(db.count("author").unwrap(), 2);
    assert_eq!(db.last_lsn(), lsn + 2);

    let lsn = db.last_lsn();
    let e = db
        .transaction(|tx| {
            tx.insert("author", email(3))?;
            tx.update("author", 1, Row::new().with("name", "changed"))?;
            Err::<(), _>(Error::InvalidInput("changed my mind".into()))
        })
        .unwrap_err();
    assert!(matches!(&e, Error::InvalidInput(m) if m == "changed my mind"));
    assert_eq!(db.count("author").unwrap(), 2);
    assert_eq!(db.last_lsn(), lsn);
    assert_eq!(
        db.get("author", 1).unwrap().unwrap().get("name"),
        Some(&Value::Null)
    );

    // a caller's own error type
    #[derive(Debug)]
    enum AppError {
        Db(Error),
        Refused,
    }
    impl From<Error> for AppError {
        fn from(e: Error) -> Self {
            AppError::Db(e)
        }
    }
    let e = db
        .transaction(|tx| {
            tx.insert("author", email(4))?;
            Err::<(), _>(AppError::Refused)
        })
        .unwrap_err();
    assert!(matches!(e, AppError::Refused));
    let e = db
        .transaction(|tx| {
            tx.insert("author", email(1))?;
            Ok::<_, AppError>(())
        })
        .unwrap_err();
    assert!(matches!(e, AppError::Db(Error::ConstraintViolation { .. })));
    assert_eq!(db.last_lsn(), lsn);
    assert_eq!(db.count("author").unwrap(), 2);
    assert!(db.verify().unwrap().is_ok());
}

#[test]
fn explicit_begin_and_commit() {
    let db = Db::memory().unwrap();
    schema(&db);
    let lsn = db.last_lsn();
    let mut tx = db.begin().unwrap();
    assert!(tx.is_empty());
    let id = tx.id();
    tx.insert("author", email(1)).unwrap();
    tx.insert("book", Row::new().with("title", "T").with("author_id", 1))
        .unwrap();
    assert_eq!(tx.len(), 2);
    let info = tx.commit().unwrap();
    assert_eq!(info.tx, Some(id));
    assert_eq!(info.first_lsn, Some(lsn + 1));
    assert_eq!(info.last_lsn, lsn + 2);
    assert_eq!(db.last_lsn(), lsn + 2);
    assert_eq!(db.count("book").unwrap(), 1);
    let rec = db.transaction_record(id).unwrap().unwrap();
    assert_eq!((rec.first_lsn, rec.last_lsn), (lsn + 1, lsn + 2));

    assert_eq!(db.changes(lsn + 1, None).unwrap()[0].tx, id);
    // the next transaction gets the next id
    let next = db.begin().unwrap();
    assert_eq!(next.id(), id + 1);
}

#[test]
fn an_empty_commit_frees_the_writer() {
    let db = Db::memory().unwrap();
    schema(&db);
    let lsn = db.last_lsn();
    // an empty commit writes nothing and has no id
    let info = db.begin().unwrap().commit().unwrap();
    assert_eq!(info.tx, None);
    assert_eq!(info.first_lsn, None);
    assert_eq!(info.last_lsn, lsn);
    assert_eq!(db.last_lsn(), lsn);
    // and the same thread may write again
    let r = db.insert("author", email(1));
    assert!(r.is_ok(), "{r:?}");
    // the same through a closure that writes nothing
    db.transaction(|_| Ok::<_, Error>(())).unwrap();
    let r = db.insert("author", email(2));
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(db.last_lsn(), lsn + 2);
}

#[test]
fn a_dropped_transaction_aborts_and_frees_the_writer() {
    let db = Arc::new(Db::memory().unwrap());
    schema(&db);
    let lsn = db.last_lsn();
    {
        let mut tx = db.begin().unwrap();
        tx.insert("author", email(1)).unwrap();
        tx.insert("author", email(2)).unwrap();
        assert_eq!(tx.count("author").unwrap(), 2);
    }
    assert_eq!(db.count("author").unwrap(), 0);
    assert_eq!(db.last_lsn(), lsn);
    // the same thread can begin again; a table created in a dropped transaction is not there
    let mut tx = db.begin().unwrap();
    tx.insert("author", email(1)).unwrap();
    tx.create_table(
        TableBuilder::new("gone")
            .column(("id", ColumnType::Int))
            .primary_key("id"),
    )
    .unwrap();
    tx.insert("gone", Row::new()).unwrap();
    drop(tx);
    assert_eq!(db.tables().unwrap(), vec!["author", "book"]);
    assert!(matches!(db.count("gone"), Err(Error::UnknownTable(_))));
    // and so can another thread (with a deadline instead of a hang)
    let (send, recv) = mpsc::channel();
    let d = Arc::clone(&db);
    std::thread::spawn(move || {
        let r = d.transaction(|tx| {
            tx.insert("author", email(7))?;
            Ok::<_, Error>(())
        });
        send.send(r.is_ok()).unwrap();
    });
    assert!(recv.recv_timeout(Duration::from_secs(10)).unwrap());
    assert_eq!(ids(&db.scan("author", Scan::all()).unwrap()), vec![1]);
    assert_eq!(db.last_lsn(), lsn + 1);
    assert!(db.verify().unwrap().is_ok());
}

#[test]
fn concurrent_writers_take_turns() {
    let db = Db::memory().unwrap();
    schema(&db);
    let lsn = db.last_lsn();
    std::thread::scope(|s| {
        for w in 0..3u32 {
            let db = &db;
            s.spawn(move || {
                for i in 0..40u32 {
                    db.transaction(|tx| {
                        tx.insert("author", email(w * 1000 + i))?;
                        tx.insert("author", email(w * 1000 + 500 + i))?;
                        Ok::<_, Error>(())
                    })
                    .unwrap();
                }
            });
        }
    });
    assert_eq!(db.count("author").unwrap(), 240);
    assert_eq!(db.last_lsn(), lsn + 240);
    let changes = db.changes(lsn + 1, None).unwrap();
    assert_eq!(
        changes.iter().map(|c| c.lsn).collect::<Vec<_>>(),
        (lsn + 1..=lsn + 240).collect::<Vec<_>>()
    );
    // each transaction's two events are adjacent, transactions in commit order
    for pair in changes.chunks(2) {
        assert_eq!(pair[0].tx, pair[1].tx);
    }
    assert!(changes.windows(2).all(|w| w[0].tx <= w[1].tx));
    assert_eq!(
        ids(&db.scan("author", Scan::all()).unwrap()),
        (1..=240).collect::<Vec<_>>()
    );
    assert!(db.verify().unwrap().is_ok());
}

#[test]
fn reads_in_a_transaction_see_its_own_writes() {
    let db = Db::memory().unwrap();
    schema(&db);
    db.transaction(|tx| {
        tx.insert("author", email(1))?;
        tx.insert(
            "book",
            Row::new().with("title", "Middle").with("author_id", 1),
        )?;
        Ok::<_, Error>(())
    })
    .unwrap();
    let mut tx = db.begin().unwrap();
    tx.insert("author", email(2)).unwrap();
    tx.insert(
        "book",
        Row::new().with("title", "Zeta").with("author_id", 2),
    )
    .unwrap();
    tx.insert(
        "book",
        Row::new().with("title", "Alpha").with("author_id", 1),
    )
    .unwrap();
    tx.update(
        "author",
        1,
        Row::new().with("email", "new@x").with("name", "N"),
    )
    .unwrap();
    tx.update("book", 1, Row::new().with("title", "Beta"))
        .unwrap();
    tx.create_table(
        TableBuilder::new("tag")
            .column(("name", ColumnType::Text))
            .primary_key("name"),
    )
    .unwrap();
    tx.insert("tag", Row::new().with("name", "sf")).unwrap();

    // get
    assert!(tx.get("author", 2).unwrap().is_some());
    assert!(db.get("author", 2).unwrap().is_none());
    assert_eq!(
        tx.get("author", 1).unwrap().unwrap().get("email"),
        Some(&Value::from("new@x"))
    );
    assert_eq!(
        db.get("author", 1).unwrap().unwrap().get("email"),
        Some(&Value::from("a1@x"))
    );
    // scan, both directions, with a limit
    assert_eq!(ids(&tx.scan("book", Scan::all()).unwrap()), vec![1, 2, 3]);
    assert_eq!(
        ids(&tx.scan("book", Scan::all().reverse().limit(2)).unwrap()),
        vec![3, 2]
    );
    assert_eq!(ids(&db.scan("book", Scan::all()).unwrap()), vec![1]);
    assert_eq!(tx.count("author").unwrap(), 2);
    assert_eq!(db.count("author").unwrap(), 1);
    // lookup on the unique index follows the update
    assert_eq!(
        ids(&tx.lookup("author", &["email"], &["new@x".into()]).unwrap()),
        vec![1]
    );
    assert!(tx
        .lookup("author", &["email"], &["a1@x".into()])
        .unwrap()
        .is_empty());
    assert_eq!(
        ids(&db.lookup("author", &["email"], &["a1@x".into()]).unwrap()),
        vec![1]
    );
    // index range in index order
    let titles: Vec<Value> = tx
        .lookup_range("book", &["title"], IndexRange::range("A".."\u{10FFFF}"))
        .unwrap()
        .iter()
        .map(|r| r.get("title").cloned().unwrap())
        .collect();
    assert_eq!(titles, ["Alpha", "Beta", "Zeta"].map(Value::from).to_vec());
    // children and parent
    assert_eq!(ids(&tx.children("author", 1, "book").unwrap()), vec![1, 3]);
    assert_eq!(ids(&tx.children("author", 2, "book").unwrap()), vec![2]);
    assert_eq!(ids(&db.children("author", 1, "book").unwrap()), vec![1]);
    assert!(db.children("author", 2, "book").unwrap().is_empty());
    assert_eq!(
        tx.parent("book", 2, "author_id")
            .unwrap()
            .unwrap()
            .get("id"),
        Some(&Value::Int(2))
    );
    // a table created in the transaction
    assert_eq!(tx.tables().unwrap(), vec!["author", "book", "tag"]);
    assert_eq!(db.tables().unwrap(), vec!["author", "book"]);
    assert!(tx.get("tag", "sf").unwrap().is_some());
    assert!(matches!(db.get("tag", "sf"), Err(Error::UnknownTable(_))));

    tx.commit().unwrap();
    assert_eq!(ids(&db.scan("book", Scan::all()).unwrap()), vec![1, 2, 3]);
    assert_eq!(ids(&db.children("author", 1, "book").unwrap()), vec![1, 3]);
    assert_eq!(
        db.get("book", 1).unwrap().unwrap().get("title"),
        Some(&Value::from("Beta"))
    );
    assert!(db.get("tag", "sf").unwrap().is_some());
    assert!(db.verify().unwrap().is_ok());
}

#[test]
fn nested_begin_on_one_thread_is_refused() {
    let db = Db::memory().unwrap();
    schema(&db);
    let lsn = db.last_lsn();
    let mut tx = db.begin().unwrap();
    tx.insert("author", email(1)).unwrap();
    assert!(matches!(db.begin(), Err(Error::NestedTransaction)));
    assert!(matches!(
        db.insert("author", email(2)),
        Err(Error::NestedTransaction)
    ));
    assert!(matches!(
        db.update("author", 1, Row::new().with("name", "x")),
        Err(Error::NestedTransaction)
    ));
    assert!(matches!(
        db.create_table(
            TableBuilder::new("t")
                .column(("id", ColumnType::Int))
                .primary_key("id")
        ),
        Err(Error::NestedTransaction)
    ));
    assert!(matches!(
        db.transaction(|_| Ok::<_, Error>(())),
        Err(Error::NestedTransaction)
    ));
    assert!(matches!(db.rebuild(), Err(Error::NestedTransaction)));
    // the outer transaction is unharmed
    tx.insert("author", email(3)).unwrap();
    let info = tx.commit().unwrap();
    assert_eq!(info.last_lsn, lsn + 2);
    assert_eq!(ids(&db.scan("author", Scan::all()).unwrap()), vec![1, 2]);
    // and after it a new one may begin
    db.insert("author", email(4)).unwrap();
    assert_eq!(db.last_lsn(), lsn + 3);
}

#[test]
fn lsns_increase_by_one_per_event_and_failures_use_none() {
    let db = Db::memory().unwrap();
    assert_eq!(db.last_lsn(), 0);
    schema(&db);
    assert_eq!(db.last_lsn(), 2, "one schema event per create_table");
    let mut last = db.last_lsn();
    let mut infos = Vec::new();
    for (round, n) in [1u32, 3, 2, 5].into_iter().enumerate() {
        // a failed transaction before each good one
        let lsn = db.last_lsn();
        let _ = db.transaction(|tx| {
            for i in 0..n {
                tx.insert("author", email(1000 + i))?;
            }
            tx.insert("author", email(1000))?; // duplicate: fails
            Ok::<_, Error>(())
        });
        {
            let mut tx = db.begin().unwrap();
            tx.insert("author", email(2000)).unwrap();
        }
        assert_eq!(db.last_lsn(), lsn, "a failed transaction used an LSN");
        let mut tx = db.begin().unwrap();
        for i in 0..n {
            tx.insert("author", email(round as u32 * 100 + i)).unwrap();
            assert_eq!(tx.len(), u64::from(i) + 1);
        }
        let info = tx.commit().unwrap();
        assert_eq!(info.first_lsn, Some(last + 1));
        assert_eq!(info.last_lsn, last + u64::from(n));
        last = info.last_lsn;
        assert_eq!(db.last_lsn(), last);
        infos.push(info);
    }
    // transaction ids strictly increase
    assert!(infos.windows(2).all(|w| w[0].tx < w[1].tx));
    // the log: one event per LSN, 1..=last, each in its transaction's range
    let changes = db.changes(1, None).unwrap();
    let lsns: Vec<u64> = changes.iter().map(|c| c.lsn).collect();
    assert_eq!(lsns, (1..=last).collect::<Vec<_>>());
    assert_eq!(db.events(1, None).unwrap().len() as u64, last);
    for info in &infos {
        let tx = info.tx.unwrap();
        let mine: Vec<u64> = changes
            .iter()
            .filter(|c| c.tx == tx)
            .map(|c| c.lsn)
            .collect();
        assert_eq!(
            mine,
            (info.first_lsn.unwrap()..=info.last_lsn).collect::<Vec<_>>()
        );
    }
    assert!(changes.windows(2).all(|w| w[0].tx <= w[1].tx));
    // and the key sequence skipped nothing for the failed transactions
    assert_eq!(
        ids(&db.scan("author", Scan::all()).unwrap()),
        (1..=11).collect::<Vec<_>>()
    );
    let stats = db.stats().unwrap();
    assert_eq!(stats.last_lsn, last);
    assert_eq!(stats.last_tx, infos.last().unwrap().tx.unwrap());
}

#[test]
fn history_lists_every_version_with_its_metadata() {
    let db = Db::memory().unwrap();
    schema(&db);
    let t0 = Timestamp::now();
    let mut tx = db.begin().unwrap();
    tx.set_actor("alice");
    tx.set_reason("signup");
    tx.insert("author", email(1).with("name", "Ann")).unwrap();
    tx.insert("author", email(2)).unwrap();
    let i1 = tx.commit().unwrap();
    let mut tx = db.begin().unwrap();
    tx.set_actor("bob");
    tx.set_reason("typo");
    tx.update("author", 1, Row::new().with("name", "Anne"))
        .unwrap();
    let i2 = tx.commit().unwrap();
    // a failed transaction leaves no trace in the history
    let _ = db.transaction(|tx| {
        tx.set_actor("mallory");
        tx.update("author", 1, Row::new().with("name", "Evil"))?;
        Err::<(), _>(Error::InvalidInput("no".into()))
    });
    let i3 = db
        .begin()
        .and_then(|mut tx| {
            tx.update("author", 1, Row::new().with("email", "ann@x"))?;
            tx.commit()
        })
        .unwrap();
    let t1 = Timestamp::now();

    let h = db.history("author", 1).unwrap();
    assert_eq!(
        h.iter().map(|c| c.kind).collect::<Vec<_>>(),
        vec![ChangeKind::Insert, ChangeKind::Update, ChangeKind::Update]
    );
    assert_eq!(
        h.iter().map(|c| c.lsn).collect::<Vec<_>>(),
        vec![i1.first_lsn.unwrap(), i2.last_lsn, i3.last_lsn]
    );
    assert_eq!(
        h.iter().map(|c| c.tx).collect::<Vec<_>>(),
        vec![i1.tx.unwrap(), i2.tx.unwrap(), i3.tx.unwrap()]
    );
    assert!(h
        .windows(2)
        .all(|w| w[0].lsn < w[1].lsn && w[0].at <= w[1].at));
    assert!(h.iter().all(|c| t0 <= c.at && c.at <= t1), "{h:?}");
    let who: Vec<(Option<&str>, Option<&str>)> = h
        .iter()
        .map(|c| (c.actor.as_deref(), c.reason.as_deref()))
        .collect();
    assert_eq!(
        who,
        vec![
            (Some("alice"), Some("signup")),
            (Some("bob"), Some("typo")),
            (None, None)
        ]
    );
    let names: Vec<Option<&Value>> = h
        .iter()
        .map(|c| c.row.as_ref().unwrap().get("name"))
        .collect();
    assert_eq!(
        names,
        vec![
            Some(&Value::from("Ann")),
            Some(&Value::from("Anne")),
            Some(&Value::from("Anne"))
        ]
    );
    assert_eq!(
        h[2].row.as_ref().unwrap().get("email"),
        Some(&Value::from("ann@x"))
    );
    assert!(h
        .iter()
        .all(|c| c.pk == Some(Value::Int(1)) && c.table.as_deref() == Some("author")));
    // the other row of the first transaction shares its metadata
    let h2 = db.history("author", 2).unwrap();
    assert_eq!(h2.len(), 1);
    assert_eq!(h2[0].tx, i1.tx.unwrap());
    assert_eq!(h2[0].at, h[0].at);
    assert_eq!(h2[0].actor.as_deref(), Some("alice"));
    let rec = db.transaction_record(i2.tx.unwrap()).unwrap().unwrap();
    assert_eq!(rec.actor.as_deref(), Some("bob"));
    assert_eq!(rec.reason.as_deref(), Some("typo"));
    // a row that never existed has an empty history
    assert!(db.history("author", 99).unwrap().is_empty());
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Person {
    id: i64,
    name: String,
    nick: Option<String>,
    token: Uuid,
    avatar: Vec<u8>,
    score: Option<f64>,
    active: bool,
}

#[derive(Debug, Serialize)]
struct NewPerson<'a> {
    name: &'a str,
    token: Uuid,
    avatar: Vec<u8>,
    active: bool,
}

#[test]
fn typed_access_through_serde() {
    let db = Db::memory().unwrap();
    db.create_table(
        TableBuilder::new("person")
            .column(("id", ColumnType::Int))
            .column(("name", ColumnType::Text))
            .column(ColumnDef::new("nick", ColumnType::Text).nullable())
            .column(("token", ColumnType::Uuid))
            .column(("avatar", ColumnType::Bytes))
            .column(ColumnDef::new("score", ColumnType::Float).nullable())
            .column(("active", ColumnType::Bool))
            .primary_key("id"),
    )
    .unwrap();
    let people = vec![
        Person {
            id: 5,
            name: "Ann".into(),
            nick: Some("A".into()),
            token: Uuid::from_u128(0x0191_e2f0_0000_7000_8000_0000_0000_0001),
            avatar: vec![0, 1, 127, 128, 255],
            score: Some(2.0),
            active: true,
        },
        Person {
            id: 2,
            name: "Bob".into(),
            nick: None,
            token: Uuid::nil(),
            avatar: vec![],
            score: None,
            active: false,
        },
    ];
    for p in &people {
        let row = db.insert_as("person", p).unwrap();
        assert_eq!(row.get("token"), Some(&Value::Uuid(p.token)));
        assert_eq!(row.get("avatar"), Some(&Value::Bytes(p.avatar.clone())));
    }
    assert_eq!(
        db.get_as::<Person>("person", 5).unwrap().as_ref(),
        Some(&people[0])
    );
    assert_eq!(
        db.get_as::<Person>("person", 2).unwrap().as_ref(),
        Some(&people[1])
    );
    assert_eq!(db.get_as::<Person>("person", 3).unwrap(), None);
    // stored with the column types, not as text
    let raw = db.get("person", 2).unwrap().unwrap();
    assert_eq!(raw.get("nick"), Some(&Value::Null));
    assert_eq!(raw.get("score"), Some(&Value::Null));
    assert_eq!(raw.get("active"), Some(&Value::Bool(false)));
    let all: Vec<Person> = db.scan_as("person", Scan::all()).unwrap();
    assert_eq!(all, vec![people[1].clone(), people[0].clone()]);
    // a struct without the key gets the next one
    let row = db
        .transaction(|tx| {
            tx.insert_as(
                "person",
                &NewPerson {
                    name: "Cy",
                    token: Uuid::max(),
                    avatar: vec![9],
                    active: true,
                },
            )
        })
        .unwrap();
    assert_eq!(row.get("id"), Some(&Value::Int(6)));
    let cy: Person = db.get_as("person", 6).unwrap().unwrap();
    assert_eq!(
        cy,
        Person {
            id: 6,
            name: "Cy".into(),
            nick: None,
            token: Uuid::max(),
            avatar: vec![9],
            score: None,
            active: true
        }
    );
    // typed reads inside a transaction see its writes
    let mut tx = db.begin().unwrap();
    tx.update("person", 2, Row::new().with("nick", "B").with("score", 1.5))
        .unwrap();
    let bob: Person = tx.get_as("person", 2).unwrap().unwrap();
    assert_eq!(bob.nick.as_deref(), Some("B"));
    assert_eq!(bob.score, Some(1.5));
    let in_tx: Vec<Person> = tx.scan_as("person", Scan::all().limit(1)).unwrap();
    assert_eq!(in_tx, vec![bob]);
    drop(tx);
    // a row that does not fit the type is an error, not a panic
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Wrong {
        id: String,
    }
    assert!(matches!(
        db.get_as::<Wrong>("person", 2),
        Err(Error::InvalidInput(_))
    ));
    // a value that does not fit the table is refused
    #[derive(Serialize)]
    struct Bad {
        name: &'static str,
        token: &'static str,
        avatar: Vec<u8>,
        active: bool,
    }
    let e = db
        .insert_as(
            "person",
            &Bad {
                name: "x",
                token: "not-a-uuid",
                avatar: vec![],
                active: true,
            },
        )
        .unwrap_err();
    assert!(matches!(e, Error::WrongType { .. }), "{e}");
    assert_eq!(db.count("person").unwrap(), 3);
}

const RUN_FOR: Duration = Duration::from_millis(600);

/// One writer inserting batches of 10 rows (tagged with their batch) while 3 readers check that
/// they only ever see whole batches.
fn whole_batches(db: &Db) {
    db.create_table(
        TableBuilder::new("item")
            .column(("id", ColumnType::Int))
            .column(("batch", ColumnType::Int))
            .primary_key("id")
            .index(["batch"]),
    )
    .unwrap();
    let done = AtomicBool::new(false);
    let reads = AtomicU64::new(0);
    let commits = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let start = Instant::now();
            let mut batch = 0i64;
            while start.elapsed() < RUN_FOR && batch < 5000 {
                batch += 1;
                db.transaction(|tx| {
                    for _ in 0..10 {
                        tx.insert("item", Row::new().with("batch", batch))?;
                    }
                    Ok::<_, Error>(())
                })
                .unwrap();
            }
            done.store(true, Ordering::SeqCst);
            batch
        });
        for r in 0..3 {
            let (done, reads) = (&done, &reads);
            s.spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    let n = db.count("item").unwrap();
                    assert_eq!(n % 10, 0, "reader {r} counted {n} rows");
                    let rows = db.scan("item", Scan::all()).unwrap();
                    assert_eq!(
                        ids(&rows),
                        (1..=rows.len() as i64).collect::<Vec<_>>(),
                        "reader {r}"
                    );
                    let mut per_batch: BTreeMap<i64, usize> = BTreeMap::new();
                    for row in &rows {
                        *per_batch
                            .entry(row.get("batch").and_then(Value::as_int).unwrap())
                            .or_default() += 1;
                    }
                    assert!(
                        per_batch.values().all(|&c| c == 10),
                        "reader {r} saw part of a batch: {per_batch:?}"
                    );
                    let last = db
                        .lookup_range("item", &["batch"], IndexRange::range(0..).reverse())
                        .unwrap();
                    assert_eq!(last.len() % 10, 0, "reader {r}");
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        writer.join().unwrap()
    });
    assert!(reads.load(Ordering::Relaxed) > 0);
    assert_eq!(db.count("item").unwrap(), commits as u64 * 10);
    assert!(db.verify().unwrap().is_ok());
}

/// One writer inserting a parent and two children per transaction while 3 readers check that
/// no child is ever seen without its parent, nor a parent without both children.
fn parents_before_children(db: &Db) {
    db.create_table(
        TableBuilder::new("parent")
            .column(("id", ColumnType::Int))
            .primary_key("id"),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("child")
            .column(("id", ColumnType::Int))
            .column(("parent_id", ColumnType::Int))
            .primary_key("id")
            .foreign_key("parent_id", "parent", OnDelete::Cascade),
    )
    .unwrap();
    let done = AtomicBool::new(false);
    let reads = AtomicU64::new(0);
    let commits = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let start = Instant::now();
            let mut n = 0u64;
            while start.elapsed() < RUN_FOR && n < 5000 {
                db.transaction(|tx| {
                    let p = tx.insert("parent", Row::new())?;
                    let pid = p.get("id").cloned().unwrap();
                    tx.insert("child", Row::new().with("parent_id", pid.clone()))?;
                    tx.insert("child", Row::new().with("parent_id", pid))?;
                    Ok::<_, Error>(())
                })
                .unwrap();
                n += 1;
            }
            done.store(true, Ordering::SeqCst);
            n
        });
        for r in 0..3 {
            let (done, reads) = (&done, &reads);
            s.spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    if r % 2 == 0 {
                        // children first: every visible child's parent is visible later
                        let kids = db.scan("child", Scan::all()).unwrap();
                        assert_eq!(kids.len() % 2, 0, "reader {r}");
                        let newest = kids.last().map(|k| k.get("parent_id").cloned().unwrap());
                        if let Some(pid) = newest {
                            assert!(
                                db.get("parent", pid.clone()).unwrap().is_some(),
                                "reader {r}: child of {pid} without its parent"
                            );
                        }
                        assert!(db.count("parent").unwrap() * 2 >= kids.len() as u64);
                    } else {
                        // parents first: every visible parent has both children later
                        let parents = db.scan("parent", Scan::all().reverse().limit(3)).unwrap();
                        for p in parents {
                            let pid = p.get("id").cloned().unwrap();
                            assert_eq!(
                                db.children("parent", pid.clone(), "child").unwrap().len(),
                                2,
                                "reader {r}: parent {pid}"
                            );
                        }
                    }
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        writer.join().unwrap()
    });
    assert!(reads.load(Ordering::Relaxed) > 0);
    assert_eq!(db.count("parent").unwrap(), commits);
    assert_eq!(db.count("child").unwrap(), commits * 2);
    assert!(db.verify().unwrap().is_ok());
}

#[test]
fn readers_see_whole_transactions_in_memory() {
    let db = Db::memory().unwrap();
    whole_batches(&db);
    parents_before_children(&db);
}

#[test]
fn readers_see_whole_transactions_on_fjall() {
    let db = Db::temporary_with(Options::default().durability(Durability::Eventual)).unwrap();
    whole_batches(&db);
    parents_before_children(&db);
}

#[test]
fn last_lsn_inside_a_transaction_does_not_hang() {
    let db = Arc::new(Db::memory().unwrap());
    schema(&db);
    let before = db.last_lsn();
    let (send, recv) = mpsc::channel();
    let d = Arc::clone(&db);
    // on its own thread: if it hangs, the test fails instead of hanging
    std::thread::spawn(move || {
        let mut tx = d.begin().unwrap();
        tx.insert("author", email(1)).unwrap();
        let seen = d.last_lsn();
        send.send(seen).unwrap();
        tx.commit().unwrap();
    });
    let seen = recv
        .recv_timeout(Duration::from_secs(3))
        .expect("db.last_lsn() never returned while its thread held a transaction");
    assert_eq!(seen, before);
}

#[test]
fn last_lsn_does_not_wait_for_a_writer_on_another_thread() {
    let db = Arc::new(Db::memory().unwrap());
    schema(&db);
    let before = db.last_lsn();
    let mut tx = db.begin().unwrap();
    tx.insert("author", email(1)).unwrap();
    let (send, recv) = mpsc::channel();
    let d = Arc::clone(&db);
    std::thread::spawn(move || {
        let _ = send.send((d.last_lsn(), d.count("author").unwrap()));
    });
    let got = recv.recv_timeout(Duration::from_secs(3));
    tx.commit().unwrap();
    assert_eq!(
        got.expect("a reader of last_lsn waited for the writer"),
        (before, 0)
    );
}

/// On engines whose read views hold writes back (sled, memory), a thread holding a snapshot may
/// still begin a transaction while another thread's commit is waiting for that snapshot: the
/// committing thread must not keep the writer lock while its write waits.
#[test]
fn a_snapshot_holder_can_begin_while_a_commit_waits_for_its_snapshot() {
    for engine in [EngineKind::Memory, EngineKind::Sled] {
        let dir = tempfile::tempdir().unwrap();
        let db = match engine {
            EngineKind::Memory => Db::memory().unwrap(),
            _ => Db::open_with(dir.path().join("s"), Options::default().engine(engine)).unwrap(),
        };
        let db = Arc::new(db);
        schema(&db);
        let (done_tx, done_rx) = mpsc::channel();
        let d = Arc::clone(&db);
        std::thread::spawn(move || {
            let snap = d.snapshot().unwrap();
            let writer = {
                let d = Arc::clone(&d);
                std::thread::spawn(move || d.insert("author", email(1)).map(|_| ()))
            };
            // Let the other thread's commit reach its write, which waits for `snap`.
            std::thread::sleep(Duration::from_millis(100));
            let began = d.begin().map(drop);
            drop(snap);
            let wrote = writer.join().unwrap();
            let _ = done_tx.send((began, wrote));
        });
        let (began, wrote) = done_rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("{engine:?}: begin or the commit hung"));
        began.unwrap();
        wrote.unwrap();
        assert_eq!(db.count("author").unwrap(), 1);
    }
}

/// A commit that fails before its batch reaches the pipeline (here an import whose times go
/// back) leaves the thread free to begin again, with the store as it was.
#[test]
fn a_commit_that_fails_early_frees_the_writer_for_the_thread() {
    let src = Db::memory().unwrap();
    schema(&src);
    src.insert("author", email(1)).unwrap();
    src.insert("author", email(2)).unwrap();
    let mut out = Vec::new();
    src.export_log(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let last_tx = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("tx").and_then(serde_json::Value::as_u64))
        .max()
        .unwrap();
    let bent: Vec<String> = text
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            if v.get("tx").and_then(serde_json::Value::as_u64) == Some(last_tx) {
                v["at"] = "2000-01-01T00:00:00.000000Z".into();
            }
            v.to_string()
        })
        .collect();
    let db = Db::memory().unwrap();
    let err = db.import_log(&mut bent.join("\n").as_bytes()).unwrap_err();
    assert!(err.to_string().contains("earlier"), "{err}");
    let before = db.last_lsn();
    let tx = db
        .begin()
        .expect("the failed commit left the writer claimed");
    drop(tx);
    assert_eq!(db.last_lsn(), before);
    db.insert("author", email(3)).unwrap();
}
