//! Export of the event log as JSON lines and import into an empty store: the imported store has
//! the same log (LSNs, transactions, times, actors, deletions), the same live rows, the same trash
//! and history; bad files are typed errors naming the line.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use lazarusdb::{
    Audit, ColumnDef, ColumnType, Db, Error, OnDelete, Readable, RestorePolicy, Row, TableBuilder,
    TrashQuery,
};

fn busy_store() -> Db {
    let db = Db::memory().unwrap();
    db.create_table(
        TableBuilder::new("a")
            .column(("id", ColumnType::Int))
            .column(("name", ColumnType::Text))
            .column(ColumnDef::new("blob", ColumnType::Bytes).nullable())
            .primary_key("id")
            .unique(["name"]),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("b")
            .column(("id", ColumnType::Uuid))
            .column(ColumnDef::new("a_id", ColumnType::Int).nullable())
            .column(("at", ColumnType::Timestamp))
            .primary_key("id")
            .index(["a_id"])
            .index(["at"])
            .foreign_key("a_id", "a", OnDelete::SetNull),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("c")
            .column(("id", ColumnType::Int))
            .column(("a_id", ColumnType::Int))
            .primary_key("id")
            .foreign_key("a_id", "a", OnDelete::Cascade),
    )
    .unwrap();
    for i in 0..5 {
        db.insert(
            "a",
            Row::new()
                .with("name", format!("n{i}"))
                .with("blob", vec![0u8, i as u8]),
        )
        .unwrap();
        db.insert(
            "b",
            Row::new()
                .with("a_id", i + 1)
                .with("at", "2024-01-01T00:00:00Z"),
        )
        .unwrap();
        db.insert("c", Row::new().with("a_id", i + 1)).unwrap();
    }
    db.update("a", 2, Row::new().with("name", "two")).unwrap();
    let d = db
        .delete_with("a", 1, &Audit::by("me").because("test"))
        .unwrap();
    db.delete("a", 3).unwrap();
    db.restore(d.deletion, RestorePolicy::Refuse).unwrap();
    db.add_column(
        "c",
        ColumnDef::new("note", ColumnType::Text).with_default("x"),
    )
    .unwrap();
    db.add_index("c", &["note"], false).unwrap();
    db
}

#[test]
fn export_then_import_reproduces_the_store() {
    let db = busy_store();
    let mut out = Vec::new();
    let n = db.export_log(&mut out).unwrap();
    assert_eq!(n, db.last_lsn());
    let copy = Db::memory().unwrap();
    assert_eq!(copy.import_log(&mut out.as_slice()).unwrap(), n);
    assert_eq!(copy.last_lsn(), db.last_lsn());
    assert_eq!(copy.dump().unwrap(), db.dump().unwrap());
    assert_eq!(copy.changes(1, None).unwrap(), db.changes(1, None).unwrap());
    let t1: Vec<_> = db.trash(&TrashQuery::all()).unwrap();
    let t2: Vec<_> = copy.trash(&TrashQuery::all()).unwrap();
    assert_eq!(t1, t2);
    assert!(copy.verify().unwrap().is_ok());
    // and the copy exports the same bytes
    let mut again = Vec::new();
    copy.export_log(&mut again).unwrap();
    assert_eq!(
        String::from_utf8(again).unwrap(),
        String::from_utf8(out).unwrap()
    );
}

#[test]
fn bad_files_are_typed_errors_naming_the_line() {
    let db = busy_store();
    let mut out = Vec::new();
    db.export_log(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cases: Vec<(String, &str)> = vec![
        ("not json\n".to_string(), "line 1"),
        (format!("{}\n{}\n", lines[0], lines[2]), "line 2"),
        (
            lines[0].replace("\"kind\":\"schema\"", "\"kind\":\"nope\"") + "\n",
            "line 1",
        ),
        (
            format!(
                "{}\n{}\n{}\n{}\n",
                lines[0],
                lines[1],
                lines[2],
                lines[3].replace("\"n0\"", "7")
            ),
            "line 4",
        ),
    ];
    for (file, want) in cases {
        let copy = Db::memory().unwrap();
        let err = copy.import_log(&mut file.as_bytes()).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err}");
        assert!(err.to_string().contains(want), "{err} (wanted {want})");
    }
    // a store that is not empty refuses an import
    let err = db.import_log(&mut text.as_bytes()).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
}

/// Regressions found by fuzzing: times outside the years 0000-9999 (UTC) are refused on the way
/// in, so that every exported log imports again; the extremes of the range round-trip.
#[test]
fn timestamps_outside_rfc3339_years_are_refused_and_the_extremes_round_trip() {
    use lazarusdb::{Timestamp, Value};
    for line in [
        r#"{"lsn":1,"tx":1,"at":"9999-12-31T23:59:59-23:59","kind":"schema","schema":{"create_tables":[]}}"#,
        r#"{"lsn":1,"tx":1,"at":"0000-01-01T00:00:00+00:01","kind":"schema","schema":{"create_tables":[]}}"#,
        r#"{"lsn":1,"tx":1,"at":"2024-01-01T00:00:00Z","kind":"schema","schema":{"create_tables":[]}}"#,
    ] {
        let db = Db::memory().unwrap();
        let err = db
            .import_log(&mut format!("{line}\n").as_bytes())
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err}");
        assert_eq!(db.last_lsn(), 0);
    }
    let db = Db::memory().unwrap();
    db.create_table(
        TableBuilder::new("t")
            .column(("id", ColumnType::Int))
            .column(("at", ColumnType::Timestamp))
            .primary_key("id"),
    )
    .unwrap();
    for bad in [
        Timestamp(i64::MAX),
        Timestamp(i64::MIN),
        Timestamp(Timestamp::MAX.0 + 1),
    ] {
        let err = db.insert("t", Row::new().with("at", bad)).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    }
    db.insert("t", Row::new().with("at", Timestamp::MIN))
        .unwrap();
    db.insert("t", Row::new().with("at", Timestamp::MAX))
        .unwrap();
    let mut out = Vec::new();
    db.export_log(&mut out).unwrap();
    let copy = Db::memory().unwrap();
    copy.import_log(&mut out.as_slice()).unwrap();
    assert_eq!(copy.dump().unwrap(), db.dump().unwrap());
    assert_eq!(
        copy.get("t", 2).unwrap().unwrap().get("at"),
        Some(&Value::Timestamp(Timestamp::MAX))
    );
}

/// The inputs the fuzzers kept (`fuzz/regressions/import_log/`) give a typed error, never a
/// panic, and write nothing.
#[test]
fn the_fuzz_regressions_of_import_are_typed_errors() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/import_log");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let db = Db::memory().unwrap();
        let err = db.import_log(&mut bytes.as_slice()).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err}");
        assert_eq!(db.last_lsn(), 0);
        seen += 1;
    }
    assert!(seen >= 2);
}

#[test]
fn retention_policies_round_trip_and_a_purged_log_exports() {
    let db = busy_store();
    let table = db.tables().unwrap()[0].clone();
    let policy = lazarusdb::Retention {
        deletions: Some(86_400),
        history: None,
    };
    db.set_retention(None, policy).unwrap();
    db.set_retention(
        Some(&table),
        lazarusdb::Retention {
            deletions: None,
            history: Some(3_600),
        },
    )
    .unwrap();
    let mut out = Vec::new();
    let n = db.export_log(&mut out).unwrap();
    let copy = Db::memory().unwrap();
    assert_eq!(copy.import_log(&mut out.as_slice()).unwrap(), n);
    assert_eq!(copy.retention(None).unwrap(), Some(policy));
    assert_eq!(
        copy.retention(Some(&table)).unwrap(),
        db.retention(Some(&table)).unwrap()
    );
    assert!(copy.verify().unwrap().is_ok());
    // A zero window in a file is refused like a write would refuse it.
    let text = String::from_utf8(out)
        .unwrap()
        .replace("\"history\":3600", "\"history\":0");
    assert!(text.contains("\"history\":0"));
    let err = Db::memory()
        .unwrap()
        .import_log(&mut text.as_bytes())
        .unwrap_err();
    assert!(err.to_string().contains("window"), "{err}");
    // After a purge, the log still exports, and imports to the same store.
    let d = db
        .trash(&TrashQuery::all())
        .unwrap()
        .first()
        .map(|d| d.id)
        .unwrap();
    db.purge(d, &Audit::default()).unwrap();
    round_trip(&db);
}

/// Exports `db`, imports the file into a new store, and checks that the copy is the same store:
/// views, log, trash, verify, and the same file again.
fn round_trip(db: &Db) -> Db {
    let mut out = Vec::new();
    let n = db.export_log(&mut out).unwrap();
    let copy = Db::memory().unwrap();
    assert_eq!(copy.import_log(&mut out.as_slice()).unwrap(), n);
    assert_eq!(copy.last_lsn(), db.last_lsn());
    assert_eq!(copy.dump().unwrap(), db.dump().unwrap());
    assert_eq!(copy.changes(1, None).unwrap(), db.changes(1, None).unwrap());
    assert_eq!(
        copy.trash(&TrashQuery::all()).unwrap(),
        db.trash(&TrashQuery::all()).unwrap()
    );
    assert!(copy.verify().unwrap().is_ok());
    let mut again = Vec::new();
    copy.export_log(&mut again).unwrap();
    assert_eq!(again, out);
    copy
}

#[test]
fn purges_erases_and_pruned_history_export_and_import_to_the_same_store() {
    let (clock, now) = lazarusdb::Clock::manual(lazarusdb::Timestamp(1_700_000_000_000_000));
    let db = Db::memory_with(lazarusdb::Options::default().clock(clock)).unwrap();
    db.create_table(
        TableBuilder::new("p")
            .column(("id", ColumnType::Int))
            .column(("name", ColumnType::Text))
            .primary_key("id")
            .unique(["name"])
            .trash_keeps_keys(true),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("k")
            .column(("id", ColumnType::Int))
            .column(ColumnDef::new("p_id", ColumnType::Int).nullable())
            .column(("secret", ColumnType::Text))
            .primary_key("id")
            .foreign_key("p_id", "p", OnDelete::SetNull),
    )
    .unwrap();
    for i in 1..=4 {
        db.insert("p", Row::new().with("id", i).with("name", format!("p{i}")))
            .unwrap();
        db.insert(
            "k",
            Row::new()
                .with("id", i)
                .with("p_id", i)
                .with("secret", format!("SECRET-{i}")),
        )
        .unwrap();
        db.update("k", i, Row::new().with("secret", format!("NEWER-{i}")))
            .unwrap();
    }
    // a purged deletion (with a set-null member), an erase, a restore, a prune
    let d1 = db.delete("p", 1).unwrap();
    db.purge(d1.deletion, &Audit::by("dpo").because("request"))
        .unwrap();
    db.erase("k", 2, &Audit::by("dpo")).unwrap();
    let d3 = db.delete("p", 3).unwrap();
    db.restore(d3.deletion, RestorePolicy::Refuse).unwrap();
    db.delete("p", 4).unwrap();
    now.fetch_add(10 * 86_400_000_000, std::sync::atomic::Ordering::SeqCst);
    db.update("k", 3, Row::new().with("secret", "LATEST"))
        .unwrap();
    db.set_retention(
        Some("k"),
        lazarusdb::Retention {
            deletions: None,
            history: Some(86_400),
        },
    )
    .unwrap();
    let report = db.apply_retention(&Audit::by("retention")).unwrap();
    assert!(!report.pruned.is_empty(), "{report:?}");
    let copy = round_trip(&db);
    // the purged values are in neither; the copy refuses what the store refuses
    let mut text = Vec::new();
    db.export_log(&mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(
        !text.contains("SECRET-2") && !text.contains("NEWER-2"),
        "erased"
    );
    assert!(text.contains("\"kind\":\"purge\""), "{text}");
    assert!(matches!(
        copy.restore(d1.deletion, RestorePolicy::Refuse),
        Err(Error::Purged(_))
    ));
    assert_eq!(
        copy.history("k", 2).unwrap().len(),
        db.history("k", 2).unwrap().len()
    );
}

#[test]
fn purge_lines_that_do_not_fit_are_typed_errors() {
    let db = Db::memory().unwrap();
    db.create_table(
        TableBuilder::new("p")
            .column(("id", ColumnType::Int))
            .primary_key("id"),
    )
    .unwrap();
    db.insert("p", Row::new().with("id", 1)).unwrap();
    let d = db.delete("p", 1).unwrap();
    db.purge(d.deletion, &Audit::default()).unwrap();
    let mut out = Vec::new();
    db.export_log(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let other = uuid::Uuid::now_v7().to_string();
    // one line changed: the purge naming another deletion, a purged insert standing for an
    // update of a row that is not live, a purged image standing for a tombstone
    let on_line = |kind: &str, from: &str, to: &str| -> String {
        text.lines()
            .map(|l| {
                if l.contains(&format!("\"kind\":\"{kind}\"")) {
                    l.replace(from, to)
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let id = d.deletion.to_string();
    for (bad, says) in [
        (on_line("purge", &id, &other), "does not hold"),
        (on_line("purge_deletion", &id, &other), "does not hold"),
        (
            on_line("purged", "\"was\":\"insert\"", "\"was\":\"update\""),
            "does not fit",
        ),
        (
            on_line("purged", "\"was\":\"insert\"", "\"was\":\"delete\""),
            "not `delete`",
        ),
    ] {
        assert_ne!(bad, text);
        let err = Db::memory()
            .unwrap()
            .import_log(&mut bad.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("line") && err.contains(says), "{says}: {err}");
    }
}
