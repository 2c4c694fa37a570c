//! Compaction: after purges and erases, `compact` leaves no purged byte in any file of the
//! store, keeps every other value, reclaims space, and recovers from an interrupted swap.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;
use common::copy_tree;
use std::path::Path;

use lazarusdb::{
    Audit, ColumnType, Db, EngineKind, Error, OnDelete, Options, Readable, RestorePolicy, Row,
    TableBuilder,
};

/// Every file under `dir` whose bytes contain `needle`. The store may be open: the engine's
/// background threads can delete a file between the listing and the read, and a file that is
/// gone holds nothing, so it is skipped (any other error fails the test).
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    fn unless_gone<T>(r: std::io::Result<T>) -> Option<T> {
        match r {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            other => Some(other.expect("reading the store's files")),
        }
    }
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Some(meta) = unless_gone(std::fs::symlink_metadata(&p)) else {
            continue;
        };
        if meta.is_dir() {
            for e in unless_gone(std::fs::read_dir(&p)).into_iter().flatten() {
                if let Some(e) = unless_gone(e) {
                    stack.push(e.path());
                }
            }
        } else if meta.is_file() {
            let Some(bytes) = unless_gone(std::fs::read(&p)) else {
                continue;
            };
            if bytes.windows(needle.len()).any(|w| w == needle) {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

fn schema(db: &Db) {
    db.apply_schema(&[
        TableBuilder::new("person")
            .column(("id", ColumnType::Int))
            .column(("name", ColumnType::Text))
            .primary_key("id")
            // old versions keep past index entries (design §4): the erase must take them too
            .index(["name"])
            .build(),
        TableBuilder::new("note")
            .column(("id", ColumnType::Int))
            .column(("person_id", ColumnType::Int))
            .column(("body", ColumnType::Text))
            .primary_key("id")
            .index(["body"])
            .foreign_key("person_id", "person", OnDelete::Cascade)
            .build(),
    ])
    .unwrap();
}

fn purged_bytes_leave_every_file(engine: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let db = Db::open_with(&path, Options::default().engine(engine)).unwrap();
    schema(&db);
    // Filler so that the engine writes real files (segments, journals) and not only a memtable.
    for i in 0..2_000i64 {
        db.transaction(|tx| {
            tx.insert(
                "person",
                Row::new()
                    .with("id", i)
                    .with("name", format!("keep-person-{i:05}")),
            )?;
            tx.insert(
                "note",
                Row::new()
                    .with("id", i)
                    .with("person_id", i)
                    .with("body", format!("keep-note-{i:05}")),
            )?;
            Ok::<_, Error>(())
        })
        .unwrap();
    }
    // A value that only ever existed in an old version of a row that stays live until erased.
    db.insert(
        "person",
        Row::new()
            .with("id", 10_000)
            .with("name", "OLD-VERSION-SECRET-7f3a"),
    )
    .unwrap();
    db.update("person", 10_000, Row::new().with("name", "now harmless"))
        .unwrap();
    // A deleted row and its cascade, purged.
    db.insert(
        "person",
        Row::new()
            .with("id", 10_001)
            .with("name", "PURGED-PERSON-SECRET-91c2"),
    )
    .unwrap();
    db.insert(
        "note",
        Row::new()
            .with("id", 10_001)
            .with("person_id", 10_001)
            .with("body", "PURGED-NOTE-SECRET-5d0e"),
    )
    .unwrap();
    db.sync().unwrap();
    db.close().unwrap();
    // Reopen so the engine has written its files; the secrets are on disk now.
    let db = Db::open(&path).unwrap();
    for secret in [
        "OLD-VERSION-SECRET-7f3a",
        "PURGED-PERSON-SECRET-91c2",
        "PURGED-NOTE-SECRET-5d0e",
    ] {
        assert!(
            !files_containing(&path, secret.as_bytes()).is_empty(),
            "{secret} should be on disk before the purge (else this test proves nothing)"
        );
    }
    let d = db.delete("person", 10_001).unwrap();
    db.purge(d.deletion, &Audit::by("dpo").because("request"))
        .unwrap();
    db.erase("person", 10_000, &Audit::by("dpo")).unwrap();
    let before = db.stats().unwrap();
    let mut seen = Vec::new();
    let (db, report) = db.compact(|p| seen.push(p)).unwrap();
    assert!(report.keys > 8_000, "{report:?}");
    assert!(!seen.is_empty());
    assert_eq!(seen.last().unwrap().keys, report.keys);
    for secret in [
        "OLD-VERSION-SECRET-7f3a",
        "PURGED-PERSON-SECRET-91c2",
        "PURGED-NOTE-SECRET-5d0e",
    ] {
        let hits = files_containing(&path, secret.as_bytes());
        assert!(hits.is_empty(), "{secret} still in {hits:?}");
    }
    // Everything else is still there, on disk and through the API — once: the copy is not
    // also kept in a journal.
    let kept = files_containing(&path, b"keep-note-01999");
    assert!(!kept.is_empty());
    if engine == EngineKind::Fjall {
        assert!(kept.iter().all(|f| !f.ends_with(".jnl")), "{kept:?}");
    }
    assert_eq!(db.count("person").unwrap(), 2_000);
    assert_eq!(
        db.get("note", 1_234).unwrap().unwrap().get("body"),
        Some(&"keep-note-01234".into())
    );
    assert!(matches!(
        db.restore(d.deletion, RestorePolicy::Refuse),
        Err(Error::Purged(_))
    ));
    assert!(db.verify().unwrap().is_ok());
    let after = db.stats().unwrap();
    assert_eq!(after.last_lsn, before.last_lsn);
    assert_eq!(after.live_bytes, before.live_bytes);
    // New writes work after the swap, and the store reopens.
    db.insert(
        "person",
        Row::new().with("id", 20_000).with("name", "after"),
    )
    .unwrap();
    db.close().unwrap();
    let db = Db::open(&path).unwrap();
    assert!(db.get("person", 20_000).unwrap().is_some());
    assert!(db.verify().unwrap().is_ok());
    let leftovers: Vec<_> = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("data.") || n.starts_with("COMPACTED"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn purged_bytes_leave_every_file_fjall() {
    purged_bytes_leave_every_file(EngineKind::Fjall);
}

#[test]
fn purged_bytes_leave_every_file_fjall_redb() {
    purged_bytes_leave_every_file(EngineKind::FjallRedb);
}

#[test]
fn purged_bytes_leave_every_file_sled() {
    purged_bytes_leave_every_file(EngineKind::Sled);
}

#[test]
fn compaction_reclaims_the_space_of_deleted_data() {
    let db = Db::temporary().unwrap();
    schema(&db);
    let big = "x".repeat(2_000);
    for i in 0..1_000i64 {
        db.insert(
            "person",
            Row::new().with("id", i).with("name", format!("{big}{i}")),
        )
        .unwrap();
    }
    let ids: Vec<lazarusdb::Value> = (0..1_000i64).map(Into::into).collect();
    let d = db.delete_many("person", ids, &Audit::default()).unwrap();
    db.purge(d.deletion, &Audit::default()).unwrap();
    let stats = db.stats().unwrap();
    assert!(stats.reclaimable_bytes > 1_000_000, "{stats:?}");
    let (db, report) = db.compact(|_| {}).unwrap();
    assert!(
        report.disk_bytes_after < report.disk_bytes_before,
        "{report:?}"
    );
    let stats = db.stats().unwrap();
    assert_eq!(db.count("person").unwrap(), 0);
    assert!(stats.live_bytes < 1_000, "{stats:?}");
    assert!(db.verify().unwrap().is_ok());
}

#[test]
fn a_memory_store_cannot_be_compacted() {
    let db = Db::memory().unwrap();
    assert!(matches!(db.compact(|_| {}), Err(Error::InvalidInput(_))));
}

fn store_with_rows(path: &Path, rows: i64) {
    let db = Db::open(path).unwrap();
    schema(&db);
    for i in 0..rows {
        db.insert("person", Row::new().with("id", i).with("name", "n"))
            .unwrap();
    }
    db.close().unwrap();
}

#[test]
fn an_unfinished_copy_is_dropped_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    store_with_rows(&path, 3);
    // A copy that never got its COMPACTED marker: garbage, whatever it holds.
    std::fs::create_dir(path.join("data.compact")).unwrap();
    std::fs::write(path.join("data.compact").join("junk"), b"half a copy").unwrap();
    let db = Db::open(&path).unwrap();
    assert_eq!(db.count("person").unwrap(), 3);
    assert!(!path.join("data.compact").exists());
}

/// A `COMPACTED` marker beside a `data.compact` it does not vouch for (a stray folder, a copy of
/// a store taken mid-compaction, a marker from an older build) moves and deletes nothing: the
/// open is refused and names the problem. (The swap of a copy the marker does vouch for, at
/// every stage of the renames, is pinned by `compact::tests` and `tests/crash_compact.rs`.)
#[test]
fn a_marker_that_does_not_vouch_for_the_copy_moves_nothing() {
    for marker in [
        &b"done"[..],
        b"lazarusdb compaction\nid 0190c0de-0000-7000-8000-000000000001\nlast_lsn 9\ncrc 00000000\n",
    ] {
        for stage in 0..2 {
            let dir = tempfile::tempdir().unwrap();
            let old = dir.path().join("old");
            let new = dir.path().join("new");
            store_with_rows(&old, 2);
            store_with_rows(&new, 5);
            // `new`'s data plays a copy no marker of `old` names.
            std::fs::rename(new.join("data"), old.join("data.compact")).unwrap();
            std::fs::write(old.join("COMPACTED"), marker).unwrap();
            if stage == 1 {
                std::fs::rename(old.join("data"), old.join("data.old")).unwrap();
            }
            let err = Db::open(&old).err().unwrap();
            assert!(matches!(err, Error::Corrupted { .. }), "{err}");
            assert!(err.to_string().contains("COMPACTED"), "{err}");
            for kept in ["data.compact", "COMPACTED"] {
                assert!(old.join(kept).exists(), "stage {stage}: {kept} was removed");
            }
            if stage == 1 {
                // what the message says to do gets the old store back
                std::fs::rename(old.join("data.old"), old.join("data")).unwrap();
            }
            std::fs::remove_file(old.join("COMPACTED")).unwrap();
            let db = Db::open(&old).unwrap();
            assert_eq!(db.count("person").unwrap(), 2, "stage {stage}");
            assert!(!old.join("data.compact").exists());
            db.close().unwrap();
        }
    }
}

#[test]
fn a_data_old_folder_without_data_is_reported_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    store_with_rows(&path, 1);
    std::fs::rename(path.join("data"), path.join("data.old")).unwrap();
    let err = Db::open(&path).err().unwrap();
    assert!(matches!(err, Error::Corrupted { .. }), "{err}");
    assert!(err.to_string().contains("data.old"), "{err}");
    assert!(path.join("data.old").exists());
}

#[test]
fn temporary_files_of_an_interrupted_write_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    store_with_rows(&path, 2);
    std::fs::write(path.join("COMPACTED.tmp"), b"half").unwrap();
    std::fs::write(path.join("HWM.tmp"), b"ha").unwrap();
    let db = Db::open(&path).unwrap();
    assert_eq!(db.count("person").unwrap(), 2);
    assert!(!path.join("COMPACTED.tmp").exists());
    assert!(!path.join("HWM.tmp").exists());
}

#[test]
fn a_second_opener_is_refused_before_it_touches_a_compaction_in_progress() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    store_with_rows(&path, 2);
    let db = Db::open(&path).unwrap();
    // As if this process were copying: a second opener must not delete the copy.
    std::fs::create_dir(path.join("data.compact")).unwrap();
    std::fs::write(path.join("data.compact").join("part"), b"copy in progress").unwrap();
    let err = Db::open(&path).err().unwrap();
    assert!(matches!(err, Error::Locked(_)), "{err}");
    assert!(path.join("data.compact").join("part").exists());
    drop(db);
    let db = Db::open(&path).unwrap();
    assert!(!path.join("data.compact").exists());
    assert_eq!(db.count("person").unwrap(), 2);
}

#[test]
fn a_rebuild_replays_only_the_events_after_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let db = Db::open(&path).unwrap();
    schema(&db);
    for i in 0..50i64 {
        db.insert(
            "person",
            Row::new().with("id", i).with("name", format!("p{i}")),
        )
        .unwrap();
    }
    assert_eq!(
        db.rebuild().unwrap(),
        db.last_lsn(),
        "no checkpoint: the whole log"
    );
    let at = db.checkpoint().unwrap();
    assert_eq!(at, db.last_lsn());
    assert!(path.join("checkpoint").exists());
    let d = db.delete("person", 3).unwrap();
    db.update("person", 4, Row::new().with("name", "four"))
        .unwrap();
    db.restore(d.deletion, RestorePolicy::Refuse).unwrap();
    db.add_column(
        "person",
        lazarusdb::ColumnDef::new("age", ColumnType::Int).nullable(),
    )
    .unwrap();
    db.insert("person", Row::new().with("id", 99).with("name", "late"))
        .unwrap();
    let before = db.dump().unwrap();
    assert_eq!(
        db.rebuild().unwrap(),
        db.last_lsn() - at,
        "only the events after it"
    );
    assert_eq!(db.dump().unwrap(), before);
    assert!(db.verify().unwrap().is_ok());
    // A second checkpoint replaces the first; reopening keeps it.
    let at2 = db.checkpoint().unwrap();
    db.close().unwrap();
    let db = Db::open(&path).unwrap();
    assert_eq!(db.rebuild().unwrap(), db.last_lsn() - at2);
    assert!(db.verify().unwrap().is_ok());
}

#[test]
fn a_purge_deletes_the_checkpoint_and_a_stale_one_is_dropped_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let db = Db::open(&path).unwrap();
    schema(&db);
    db.insert(
        "person",
        Row::new().with("id", 1).with("name", "CHECKPOINTED-SECRET"),
    )
    .unwrap();
    db.insert("person", Row::new().with("id", 2).with("name", "kept"))
        .unwrap();
    db.checkpoint().unwrap();
    assert!(!files_containing(&path.join("checkpoint"), b"CHECKPOINTED-SECRET").is_empty());
    // Keep a copy of the checkpoint, as a crash before its deletion would.
    let aside = dir.path().join("aside");
    copy_tree(&path.join("checkpoint"), &aside);
    db.erase("person", 1, &Audit::default()).unwrap();
    assert!(
        !path.join("checkpoint").exists(),
        "a purge deletes the checkpoint"
    );
    assert_eq!(db.rebuild().unwrap(), db.last_lsn(), "the whole log again");
    db.close().unwrap();
    copy_tree(&aside, &path.join("checkpoint"));
    let db = Db::open(&path).unwrap();
    assert!(!path.join("checkpoint").exists(), "stale: dropped at open");
    let (db, _) = db.compact(|_| {}).unwrap();
    assert!(files_containing(&path, b"CHECKPOINTED-SECRET").is_empty());
    assert!(db.get("person", 2).unwrap().is_some());
    assert!(matches!(
        Db::memory().unwrap().checkpoint(),
        Err(Error::InvalidInput(_))
    ));
}

#[test]
fn an_interrupted_checkpoint_swap_is_finished_or_dropped_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let db = Db::open(&path).unwrap();
    schema(&db);
    db.insert("person", Row::new().with("id", 1).with("name", "a"))
        .unwrap();
    let at = db.checkpoint().unwrap();
    db.close().unwrap();
    // Between the two renames: only checkpoint.old, and an unfinished copy.
    std::fs::rename(path.join("checkpoint"), path.join("checkpoint.old")).unwrap();
    std::fs::create_dir(path.join("checkpoint.tmp")).unwrap();
    let db = Db::open(&path).unwrap();
    assert!(path.join("checkpoint").exists());
    assert!(!path.join("checkpoint.old").exists());
    assert!(!path.join("checkpoint.tmp").exists());
    assert_eq!(db.rebuild().unwrap(), db.last_lsn() - at);
}

#[test]
fn stats_count_the_disk_as_du_does() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let db = Db::open(&path).unwrap();
    schema(&db);
    for i in 0..200 {
        db.insert(
            "person",
            Row::new().with("id", i).with("name", format!("person {i}")),
        )
        .unwrap();
    }
    let stats = db.stats().unwrap();
    let du = std::process::Command::new("du")
        .args(["-s", "-B1"])
        .arg(&path)
        .output();
    let Ok(du) = du else {
        return; // no du on this machine
    };
    let text = String::from_utf8(du.stdout).unwrap();
    let du_bytes: u64 = text.split_whitespace().next().unwrap().parse().unwrap();
    // the engine writes in the background: allow a little drift, not a factor
    let (a, b) = (stats.disk_bytes as f64, du_bytes as f64);
    assert!(
        (a - b).abs() <= b * 0.1 + 64.0 * 1024.0,
        "stats say {a}, du says {b}"
    );
}

fn backup_while_writing(engine: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let db = std::sync::Arc::new(Db::open_with(&path, Options::default().engine(engine)).unwrap());
    schema(&db);
    for i in 0..300 {
        db.insert(
            "person",
            Row::new().with("id", i).with("name", format!("person {i}")),
        )
        .unwrap();
    }
    db.delete("person", 7).unwrap();
    // a writer goes on while the backup is made
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 1_000;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                db.insert("person", Row::new().with("id", i).with("name", "later"))
                    .unwrap();
                i += 1;
            }
            i
        })
    };
    let dest = dir.path().join("backup");
    let mut calls = 0;
    let report = db.backup(&dest, |_| calls += 1).unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(calls > 0);
    assert!(report.lsn >= 302 && report.keys > 0, "{report:?}");
    // the copy is a complete store holding exactly the commits up to its LSN
    let copy = Db::open(&dest).unwrap();
    assert_eq!(copy.engine(), engine);
    assert_eq!(copy.last_lsn(), report.lsn);
    assert!(copy.verify().unwrap().is_ok());
    let live_then = db.as_of(report.lsn).unwrap();
    assert_eq!(
        copy.scan("person", lazarusdb::Scan::all()).unwrap(),
        live_then.scan("person", lazarusdb::Scan::all()).unwrap()
    );
    assert_eq!(copy.trash(&lazarusdb::TrashQuery::all()).unwrap().len(), 1);
    assert!(written > 1_000 || db.last_lsn() >= report.lsn);
    // refused: a folder that is not empty, a folder inside the store; nothing left behind
    let e = db.backup(&dest, |_| {}).unwrap_err().to_string();
    assert!(e.contains("not empty"), "{e}");
    let inside = path.join("copy");
    let e = db.backup(&inside, |_| {}).unwrap_err().to_string();
    assert!(e.contains("inside the store"), "{e}");
    assert!(!inside.exists());
    drop(copy);
}

#[test]
fn a_backup_of_an_open_store_opens_and_verifies() {
    for engine in [EngineKind::FjallRedb, EngineKind::Fjall, EngineKind::Sled] {
        backup_while_writing(engine);
    }
}
