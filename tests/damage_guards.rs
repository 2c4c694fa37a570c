//! The guards that keep a damaged store from answering wrong, one scenario each:
//!
//! - a store keeps a durable high-water mark (`HWM`) from its creation on, rewritten by the
//!   first durable commit of every process and on close (or drop); a journal cut, zeroed or
//!   deleted then opens as `DataLoss`, never as an older store; a missing `HWM` of a store that
//!   had one is `Corrupted`;
//! - before fjall reads its files: a keyspace folder without its `current` pointer is
//!   `Corrupted` and left in place (fjall would delete it), a missing engine folder or keyspace
//!   is `Corrupted` (fjall would start empty), stray folders fjall would abort on are
//!   `Corrupted` naming them;
//! - a marker naming the other engine opens nothing and writes nothing;
//! - sled: a partial snapshot left by a crash is ignored;
//! - `verify` checks the transaction records against the log, and reads every byte of every
//!   fjall table file against the checksum recorded for it;
//! - import of hostile input: a giant line or an endless one is a typed error with bounded
//!   memory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::copy_tree;
use std::path::{Path, PathBuf};

use lazarusdb::{
    ColumnType, Db, EngineKind, Error, OnDelete, Options, Readable, Row, Scan, TableBuilder,
};

fn schema(db: &Db) {
    db.create_table(
        TableBuilder::new("author")
            .column(("id", ColumnType::Int))
            .column(("name", ColumnType::Text))
            .primary_key("id"),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("book")
            .column(("id", ColumnType::Int))
            .column(("author_id", ColumnType::Int))
            .primary_key("id")
            .foreign_key("author_id", "author", OnDelete::Cascade),
    )
    .unwrap();
}

/// An open store at `<tmp>/s` with `n` authors and a book each.
fn filled(engine: EngineKind, n: i64) -> (tempfile::TempDir, PathBuf, Db) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let db = Db::open_with(&path, Options::default().engine(engine)).unwrap();
    schema(&db);
    for i in 1..=n {
        db.insert(
            "author",
            Row::new().with("id", i).with("name", format!("a{i}")),
        )
        .unwrap();
        db.insert("book", Row::new().with("id", i).with("author_id", i))
            .unwrap();
    }
    (dir, path, db)
}

/// A closed store at `<tmp>/s` with `n` authors and a book each, one deletion in the trash.
fn store(engine: EngineKind, n: i64) -> (tempfile::TempDir, PathBuf) {
    let (dir, path, db) = filled(engine, n);
    db.delete("author", 1).unwrap();
    db.close().unwrap();
    (dir, path)
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn journals(path: &Path) -> Vec<PathBuf> {
    files_under(&path.join("data"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jnl"))
        .collect()
}

fn is_corrupted(e: &Error, needle: &str) -> bool {
    matches!(e, Error::Corrupted { .. }) && e.to_string().contains(needle)
}

// ---------------------------------------------------------------------------------------------
// The durable high-water mark.

#[test]
fn a_store_keeps_its_mark_from_creation_and_every_process_refreshes_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let db = Db::open(&path).unwrap();
    assert!(path.join("HWM").is_file(), "written at creation");
    let marker = std::fs::read_to_string(path.join("LAZARUS")).unwrap();
    assert!(marker.contains("hwm kept"), "{marker}");
    let mark = || {
        let b = std::fs::read(path.join("HWM")).unwrap();
        u64::from_be_bytes(b[..8].try_into().unwrap())
    };
    assert_eq!(mark(), 0);
    // the first durable commit of the process writes it
    schema(&db);
    assert_eq!(mark(), 1, "the first commit");
    db.insert("author", Row::new().with("id", 1).with("name", "a"))
        .unwrap();
    let last = db.last_lsn();
    // a drop without close writes it too
    drop(db);
    assert_eq!(mark(), last);
    // and so does the first commit of the next process
    let db = Db::open(&path).unwrap();
    db.insert("author", Row::new().with("id", 2).with("name", "b"))
        .unwrap();
    assert_eq!(mark(), db.last_lsn());
}

/// [`store`] as a crash would leave it: the files copied while the store was open (every
/// commit durable in the journal, no memtable flushed), with the high-water mark the close
/// wrote after (as a crash just after a refresh of the mark would leave it).
fn crashed_store(engine: EngineKind, n: i64) -> (tempfile::TempDir, PathBuf) {
    let (dir, path, db) = filled(engine, n);
    let copy = dir.path().join("crashed");
    copy_tree(&path, &copy);
    db.close().unwrap();
    std::fs::copy(path.join("HWM"), copy.join("HWM")).unwrap();
    (dir, copy)
}

#[test]
fn a_crashed_store_opens_with_every_commit() {
    let (_dir, path) = crashed_store(EngineKind::Fjall, 300);
    let db = Db::open(&path).unwrap();
    assert_eq!(db.count("author").unwrap(), 300);
}

#[test]
fn a_cut_zeroed_or_deleted_journal_is_data_loss_not_an_older_store() {
    for damage in ["cut", "zero", "delete"] {
        let (_dir, path) = crashed_store(EngineKind::Fjall, 300);
        for j in journals(&path) {
            match damage {
                "cut" => {
                    // half of what it holds (fjall preallocates the file with zeros)
                    let bytes = std::fs::read(&j).unwrap();
                    let held = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                    let f = std::fs::OpenOptions::new().write(true).open(&j).unwrap();
                    f.set_len(held as u64 / 2).unwrap();
                }
                "zero" => {
                    let len = std::fs::metadata(&j).unwrap().len() as usize;
                    std::fs::write(&j, vec![0u8; len]).unwrap();
                }
                _ => std::fs::remove_file(&j).unwrap(),
            }
        }
        match Db::open(&path) {
            Err(Error::DataLoss { .. }) | Err(Error::Corrupted { .. }) => {}
            Ok(db) => panic!(
                "{damage}: opened with {} authors, last LSN {}",
                db.count("author").unwrap(),
                db.last_lsn()
            ),
            Err(e) => panic!("{damage}: {e}"),
        }
    }
}

#[test]
fn a_missing_mark_of_a_store_that_kept_one_is_corrupted() {
    let (_dir, path) = store(EngineKind::Fjall, 3);
    std::fs::remove_file(path.join("HWM")).unwrap();
    let e = Db::open(&path).err().unwrap();
    assert!(is_corrupted(&e, "high-water mark is missing"), "{e}");
    assert!(!path.join("HWM").exists(), "the open wrote nothing");
}

// ---------------------------------------------------------------------------------------------
// fjall's files, checked before fjall reads them.

#[test]
fn a_keyspace_folder_without_current_is_corrupted_and_kept() {
    let (_dir, path) = store(EngineKind::Fjall, 3);
    let ks = path.join("data").join("keyspaces").join("3");
    std::fs::remove_file(ks.join("current")).unwrap();
    let e = Db::open(&path).err().unwrap();
    assert!(is_corrupted(&e, "no `current`"), "{e}");
    assert!(ks.is_dir(), "fjall would have deleted the folder");
}

#[test]
fn a_missing_engine_folder_or_keyspace_is_corrupted_not_an_empty_store() {
    let (dir, path) = store(EngineKind::Fjall, 3);
    let data = path.join("data");
    let aside = dir.path().join("data-aside");
    std::fs::rename(&data, &aside).unwrap();
    let e = Db::open(&path).err().unwrap();
    assert!(is_corrupted(&e, "folder is missing"), "{e}");
    assert!(!data.exists(), "nothing was created");
    std::fs::rename(&aside, &data).unwrap();
    // a whole keyspace folder gone
    let ks = data.join("keyspaces").join("4");
    let moved = dir.path().join("ks-aside");
    std::fs::rename(&ks, &moved).unwrap();
    let e = Db::open(&path).err().unwrap();
    assert!(is_corrupted(&e, "keyspace is missing"), "{e}");
    std::fs::rename(&moved, &ks).unwrap();
    let db = Db::open(&path).unwrap();
    assert_eq!(db.count("author").unwrap(), 2);
    assert!(db.verify().unwrap().is_ok());
}

#[test]
fn stray_folders_in_the_engine_files_are_corrupted_not_an_abort() {
    let (_dir, path) = store(EngineKind::Fjall, 3);
    let keyspaces = path.join("data").join("keyspaces");
    for stray in [
        keyspaces.join("lost+found"),
        keyspaces.join("2").join("tables").join("7"),
        keyspaces.join("2").join("extra"),
        path.join("data").join("copy"),
    ] {
        std::fs::create_dir(&stray).unwrap();
        let e = Db::open(&path).err().unwrap();
        assert!(
            is_corrupted(&e, "does not belong"),
            "{}: {e}",
            stray.display()
        );
        assert!(e.to_string().contains(&stray.display().to_string()), "{e}");
        std::fs::remove_dir(&stray).unwrap();
    }
    // a stray file fjall skips is left alone, and the store reads as before
    std::fs::write(keyspaces.join("notes.txt"), b"x").unwrap();
    let db = Db::open(&path).unwrap();
    assert_eq!(db.count("book").unwrap(), 2);
    assert!(db.verify().unwrap().is_ok());
}

#[test]
fn a_marker_naming_the_other_engine_opens_nothing_and_writes_nothing() {
    for (engine, other) in [(EngineKind::Fjall, "sled"), (EngineKind::Sled, "fjall")] {
        let (_dir, path) = store(engine, 2);
        let before = files_under(&path.join("data"));
        let marker = path.join("LAZARUS");
        let right = std::fs::read_to_string(&marker).unwrap();
        std::fs::write(
            &marker,
            right.replace(
                &format!("engine {}", engine.name()),
                &format!("engine {other}"),
            ),
        )
        .unwrap();
        let e = Db::open(&path).err().unwrap();
        assert!(is_corrupted(&e, "the marker is damaged"), "{e}");
        assert_eq!(files_under(&path.join("data")), before);
        std::fs::write(&marker, right).unwrap();
        let db = Db::open(&path).unwrap();
        assert_eq!(db.count("author").unwrap(), 1);
    }
}

// ---------------------------------------------------------------------------------------------
// sled.

#[test]
fn a_partial_sled_snapshot_left_by_a_crash_is_ignored() {
    let (_dir, path) = store(EngineKind::Sled, 20);
    let data = path.join("data");
    // what a kill while sled wrote a newer snapshot leaves: a name that sorts after the
    // complete one, and half a file
    let partial = data.join(format!("snap.{:016X}.generating", u64::MAX / 2));
    std::fs::write(&partial, vec![0xAB; 100]).unwrap();
    let db = Db::open(&path).unwrap();
    assert_eq!(db.count("author").unwrap(), 19);
    assert_eq!(db.count("book").unwrap(), 19);
    assert!(db.verify().unwrap().is_ok());
    assert!(!partial.exists());
}

#[test]
fn a_sled_store_reopens_at_once_after_a_close() {
    let (_dir, path) = store(EngineKind::Sled, 2);
    for _ in 0..5 {
        let db = Db::open(&path).unwrap();
        db.insert("author", Row::new().with("name", "x")).unwrap();
        db.close().unwrap();
    }
    assert_eq!(Db::open(&path).unwrap().count("author").unwrap(), 6);
}

// ---------------------------------------------------------------------------------------------
// verify.

#[test]
fn verify_checks_the_transaction_records() {
    let (_dir, path) = store(EngineKind::Fjall, 3);
    {
        // transaction record 4 goes missing (written around the store, as damage would)
        let fj = fjall::Database::builder(path.join("data")).open().unwrap();
        let tx = fj
            .keyspace("tx", fjall::KeyspaceCreateOptions::default)
            .unwrap();
        tx.remove(4u64.to_be_bytes()).unwrap();
        fj.persist(fjall::PersistMode::SyncAll).unwrap();
    }
    let db = Db::open(&path).unwrap();
    let report = db.verify().unwrap();
    assert!(!report.is_ok());
    assert!(
        report
            .differences
            .iter()
            .any(|d| d.contains("transaction records") || d.contains("in no transaction")),
        "{:?}",
        report.differences
    );
}

#[test]
fn verify_reads_every_byte_of_the_table_files() {
    let (_dir, path) = store(EngineKind::Fjall, 200);
    // after a compaction every space lives in table files
    let db = Db::open(&path).unwrap();
    let (db, _) = db.compact(|_| {}).unwrap();
    db.close().unwrap();
    let tables: Vec<PathBuf> = files_under(&path.join("data").join("keyspaces"))
        .into_iter()
        .filter(|p| p.parent().is_some_and(|d| d.ends_with("tables")))
        .collect();
    assert!(!tables.is_empty());
    let mut vouched_wrongly = Vec::new();
    for t in &tables {
        let original = std::fs::read(t).unwrap();
        for at in [original.len() / 4, original.len() / 2, original.len() - 1] {
            let mut bytes = original.clone();
            bytes[at] ^= 0x40;
            std::fs::write(t, &bytes).unwrap();
            if let Ok(db) = Db::open(&path) {
                if db.verify().is_ok_and(|r| r.is_ok()) {
                    vouched_wrongly.push(format!("{} @{at}", t.display()));
                }
            }
            std::fs::write(t, &original).unwrap();
        }
    }
    assert!(
        vouched_wrongly.is_empty(),
        "verify said ok: {vouched_wrongly:?}"
    );
    let db = Db::open(&path).unwrap();
    assert!(db.verify().unwrap().is_ok());
    assert_eq!(db.scan("author", Scan::all()).unwrap().len(), 199);
}

// ---------------------------------------------------------------------------------------------
// Import of hostile input.

#[test]
fn an_endless_or_giant_line_is_a_typed_error_with_bounded_memory() {
    let db = Db::memory().unwrap();
    // no newline ever (as /dev/zero)
    let mut endless = std::io::BufReader::new(std::io::repeat(b'{'));
    let e = db.import_log(&mut endless).unwrap_err();
    assert!(matches!(e, Error::InvalidInput(_)), "{e}");
    assert!(e.to_string().contains("line 1 is longer"), "{e}");
    // one line of 200 MB, then more
    let giant = std::io::Read::chain(
        std::io::Read::take(std::io::repeat(b' '), 200 << 20),
        &b"\n{}\n"[..],
    );
    let e = db
        .import_log(&mut std::io::BufReader::new(giant))
        .unwrap_err();
    assert!(e.to_string().contains("longer than"), "{e}");
    assert_eq!(db.last_lsn(), 0);
}
