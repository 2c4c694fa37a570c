//! As-of index reads through past index entries (design §4, §10): lookups, ranges, children and
//! unique values as of every point equal what the live store answered then, for rows that were
//! moved, changed, deleted, restored and purged since, through an index added later too, and
//! on every engine.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use lazarusdb::{
    Audit, ColumnType, Db, EngineKind, IndexRange, OnDelete, Options, Readable, RestorePolicy, Row,
    TableBuilder, Value,
};

/// Every index read of the schema below, as one comparable value.
fn index_reads(r: &impl Readable, with_note_index: bool) -> Vec<Vec<Row>> {
    let mut out = Vec::new();
    for p in 1..=3i64 {
        out.push(r.children("parent", p, "child").unwrap());
    }
    for tag in ["a", "b", "c"] {
        out.push(r.lookup("child", &["tag"], &[tag.into()]).unwrap());
    }
    out.push(
        r.lookup_range("child", &["tag"], IndexRange::range("a".."c"))
            .unwrap(),
    );
    out.push(
        r.lookup_range("child", &["tag"], IndexRange::range("b"..).reverse())
            .unwrap(),
    );
    out.push(
        r.lookup_range("child", &["tag"], IndexRange::range(.."b").limit(2))
            .unwrap(),
    );
    for code in ["k1", "k2", "k3", "k9"] {
        out.push(r.lookup("child", &["code"], &[code.into()]).unwrap());
    }
    if with_note_index {
        for note in ["n0", "n1", "n2", "n3"] {
            out.push(r.lookup("child", &["note"], &[note.into()]).unwrap());
        }
    }
    out
}

fn schema(db: &Db) {
    db.apply_schema(&[
        TableBuilder::new("parent")
            .column(("id", ColumnType::Int))
            .primary_key("id")
            .build(),
        TableBuilder::new("child")
            .column(("id", ColumnType::Int))
            .column(("parent_id", ColumnType::Int))
            .column(("tag", ColumnType::Text))
            .column(("code", ColumnType::Text))
            .column(("note", ColumnType::Text))
            .primary_key("id")
            .index(["tag"])
            .unique(["code"])
            .foreign_key("parent_id", "parent", OnDelete::Cascade)
            .build(),
    ])
    .unwrap();
}

fn child(id: i64, parent: i64, tag: &str, code: &str, note: &str) -> Row {
    Row::new()
        .with("id", id)
        .with("parent_id", parent)
        .with("tag", tag)
        .with("code", code)
        .with("note", note)
}

fn every_point_reads_what_the_live_store_read(engine: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_with(dir.path().join("s"), Options::default().engine(engine)).unwrap();
    every_point_reads_what_the_live_store_read_on(db);
}

fn every_point_reads_what_the_live_store_read_on(db: Db) {
    let engine = db.engine();
    schema(&db);
    // (lsn, reads then, whether the note index existed then)
    let mut seen: Vec<(u64, Vec<Vec<Row>>, bool)> = Vec::new();
    let mut note_index = false;
    let mut record = |db: &Db, note_index: bool| {
        seen.push((db.last_lsn(), index_reads(db, note_index), note_index));
    };
    for p in 1..=3 {
        db.insert("parent", Row::new().with("id", p)).unwrap();
    }
    db.insert("child", child(1, 1, "a", "k1", "n0")).unwrap();
    db.insert("child", child(2, 1, "b", "k2", "n0")).unwrap();
    db.insert("child", child(3, 2, "a", "k3", "n1")).unwrap();
    record(&db, note_index);
    // Many versions that keep their index values, then moves between parents and tags.
    for i in 0..12 {
        db.update("child", 1, Row::new().with("note", format!("n{}", i % 3)))
            .unwrap();
        record(&db, note_index);
    }
    db.update("child", 1, Row::new().with("parent_id", 2).with("tag", "c"))
        .unwrap();
    record(&db, note_index);
    db.update("child", 2, Row::new().with("code", "k9"))
        .unwrap();
    record(&db, note_index);
    // k2 is free again: another row takes it
    db.insert("child", child(4, 3, "b", "k2", "n2")).unwrap();
    record(&db, note_index);
    db.update("child", 1, Row::new().with("parent_id", 1).with("tag", "a"))
        .unwrap();
    record(&db, note_index);
    // a cascade, a restore, a delete that stays
    let gone = db.delete("parent", 1).unwrap();
    record(&db, note_index);
    db.restore(gone.deletion, RestorePolicy::Refuse).unwrap();
    record(&db, note_index);
    let kept = db.delete("child", 3).unwrap();
    record(&db, note_index);
    // an index added after all this: as of later points it reads the versions from before it
    db.add_index("child", &["note"], false).unwrap();
    note_index = true;
    record(&db, note_index);
    db.update("child", 2, Row::new().with("note", "n3"))
        .unwrap();
    record(&db, note_index);
    db.delete("child", 4).unwrap();
    record(&db, note_index);
    // a reused key: child 3 again, a new life with other values
    db.insert("child", child(3, 3, "c", "k3", "n1")).unwrap();
    record(&db, note_index);
    for (at, want, with_note) in &seen {
        let past = db.as_of(*at).unwrap();
        assert_eq!(
            &index_reads(&past, *with_note),
            want,
            "{engine:?}: index reads as of lsn {at}"
        );
    }
    // A purge takes the purged rows out of every point's answers (their versions are gone).
    db.delete("child", 3).unwrap();
    db.purge(kept.deletion, &Audit::by("dpo")).unwrap();
    for (at, _, with_note) in &seen {
        let past = db.as_of(*at).unwrap();
        for rows in index_reads(&past, *with_note) {
            assert!(
                rows.iter()
                    .all(|r| r.get("id") != Some(&Value::Int(3))
                        || r.get("tag") == Some(&"c".into())),
                "{engine:?}: a purged version of child 3 read as of lsn {at}: {rows:?}"
            );
        }
    }
    assert!(db.verify().unwrap().is_ok());
    db.rebuild().unwrap();
    assert!(db.verify().unwrap().is_ok());
}

#[test]
fn every_point_reads_what_the_live_store_read_fjall_redb() {
    every_point_reads_what_the_live_store_read(EngineKind::FjallRedb);
}

#[test]
fn every_point_reads_what_the_live_store_read_fjall() {
    every_point_reads_what_the_live_store_read(EngineKind::Fjall);
}

#[cfg(feature = "postgres")]
#[test]
fn every_point_reads_what_the_live_store_read_postgres() {
    #[path = "common/mod.rs"]
    mod common;
    let Some(url) = common::pg_url() else { return };
    every_point_reads_what_the_live_store_read_on(
        Db::open_postgres(&url, &common::pg_store()).unwrap(),
    );
}

#[cfg(feature = "sled")]
#[test]
fn every_point_reads_what_the_live_store_read_sled() {
    every_point_reads_what_the_live_store_read(EngineKind::Sled);
}

/// The values a purged version held leave the past index with it: after a purge of the deletion
/// and the pruning of old versions, no as-of read finds a row by them, and `verify` (which
/// replays the log) agrees with what the purge left.
#[test]
fn purged_and_pruned_versions_leave_no_index_entry() {
    let db = Db::memory().unwrap();
    schema(&db);
    db.insert("parent", Row::new().with("id", 1)).unwrap();
    db.insert("child", child(1, 1, "a", "SECRET-CODE", "n0"))
        .unwrap();
    let then = db.last_lsn();
    db.update("child", 1, Row::new().with("code", "public"))
        .unwrap();
    let past = db.as_of(then).unwrap();
    assert_eq!(
        past.lookup("child", &["code"], &["SECRET-CODE".into()])
            .unwrap()
            .len(),
        1
    );
    db.erase("child", 1, &Audit::by("dpo")).unwrap();
    let past = db.as_of(then).unwrap();
    assert!(past
        .lookup("child", &["code"], &["SECRET-CODE".into()])
        .unwrap()
        .is_empty());
    assert!(past
        .lookup_range("child", &["code"], IndexRange::range::<Value, _>(..))
        .unwrap()
        .is_empty());
    assert!(db.verify().unwrap().is_ok());

    // pruning: the old version of a live row goes, with its entries
    db.insert("child", child(2, 1, "a", "OLD-CODE", "n0"))
        .unwrap();
    db.update("child", 2, Row::new().with("code", "new"))
        .unwrap();
    db.update("child", 2, Row::new().with("note", "n1"))
        .unwrap();
    let horizon = db.last_lsn();
    db.transaction(|tx| tx.prune_history("child", horizon))
        .unwrap();
    let err = db
        .as_of(horizon - 2)
        .unwrap()
        .lookup("child", &["code"], &["OLD-CODE".into()]);
    assert!(err.is_err(), "before the horizon: {err:?}");
    let now = db.as_of(horizon).unwrap();
    assert_eq!(
        now.lookup("child", &["code"], &["new".into()])
            .unwrap()
            .len(),
        1
    );
    assert!(now
        .lookup("child", &["code"], &["OLD-CODE".into()])
        .unwrap()
        .is_empty());
    assert!(db.verify().unwrap().is_ok());
}

/// A scan as of every point reads what the live scan read then, for rows with many versions
/// (more than the 32 the walk of the version index takes one by one), a key with an earlier life
/// purged, and rows around them.
#[test]
fn scans_as_of_every_point_over_rows_with_many_versions() {
    use lazarusdb::Scan;
    let db = Db::memory().unwrap();
    schema(&db);
    db.insert("parent", Row::new().with("id", 1)).unwrap();
    let mut seen: Vec<(u64, Vec<Row>)> = Vec::new();
    let record = |db: &Db, seen: &mut Vec<(u64, Vec<Row>)>| {
        seen.push((db.last_lsn(), db.scan("child", Scan::all()).unwrap()));
    };
    for id in 1..=4 {
        db.insert("child", child(id, 1, "a", &format!("k{id}"), "n0"))
            .unwrap();
    }
    record(&db, &mut seen);
    for i in 0..40 {
        db.update("child", 2, Row::new().with("note", format!("v{i}")))
            .unwrap();
        record(&db, &mut seen);
    }
    let gone = db.delete("child", 3).unwrap();
    record(&db, &mut seen);
    db.purge(gone.deletion, &Audit::by("dpo")).unwrap();
    db.insert("child", child(3, 1, "b", "k3", "again")).unwrap();
    record(&db, &mut seen);
    let reinserted = seen.last().unwrap().0;
    for i in 0..12 {
        db.update("child", 3, Row::new().with("note", format!("w{i}")))
            .unwrap();
        db.update("child", 4, Row::new().with("note", format!("x{i}")))
            .unwrap();
        record(&db, &mut seen);
    }
    let purged_life = gone.rows.len();
    assert_eq!(purged_life, 1);
    for (at, want) in &seen {
        let past = db.as_of(*at).unwrap();
        // the first life of child 3 was purged: scans as of its points leave it out
        let mut want = want.clone();
        if *at < reinserted {
            want.retain(|r| r.get("id") != Some(&Value::Int(3)));
        }
        let want = &want;
        assert_eq!(
            &past.scan("child", Scan::all()).unwrap(),
            want,
            "as of lsn {at}"
        );
        let mut back = want.clone();
        back.reverse();
        assert_eq!(
            past.scan("child", Scan::all().reverse()).unwrap(),
            back,
            "reversed, as of lsn {at}"
        );
    }
}
