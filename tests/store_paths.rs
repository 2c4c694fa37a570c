//! Pins what `Db::open` does with each kind of path: a plain file and a non-empty folder without
//! a store are refused untouched (NotAStore), a newer format marker is NewerFormat, a garbage
//! marker is NotAStore, a store opened with another engine is EngineMismatch, a second handle is
//! Locked, an empty folder or a missing path becomes a new store, a sled store reopens on sled
//! without naming the engine, and `Db::temporary()` removes its folder on drop.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lazarusdb::{
    ColumnType, Db, EngineKind, Error, Options, Readable, Row, TableBuilder, Value, FORMAT_VERSION,
};

/// Every file under `dir` (relative path → bytes; folders map to `None`).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            if p.is_dir() {
                out.insert(rel, None);
                walk(root, &p, out);
            } else {
                out.insert(rel, Some(std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn note_table(db: &Db) {
    db.create_table(
        TableBuilder::new("note")
            .column(("id", ColumnType::Int))
            .column(("text", ColumnType::Text))
            .primary_key("id"),
    )
    .unwrap();
    db.insert("note", Row::new().with("text", "kept")).unwrap();
}

fn has_note(db: &Db) {
    assert_eq!(
        db.get("note", 1).unwrap().unwrap().get("text"),
        Some(&Value::from("kept"))
    );
}

#[test]
fn a_plain_file_is_not_a_store_and_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.txt");
    let bytes: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    std::fs::write(&file, &bytes).unwrap();
    let before = snapshot(dir.path());
    for opts in [
        Options::default(),
        Options::default().engine(EngineKind::Sled),
    ] {
        let e = Db::open_with(&file, opts).err().unwrap();
        assert!(
            matches!(&e, Error::NotAStore { path, .. } if path == &file),
            "{e}"
        );
    }
    assert_eq!(std::fs::read(&file).unwrap(), bytes);
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn a_non_empty_folder_without_a_store_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("photos");
    std::fs::create_dir_all(root.join("2024")).unwrap();
    std::fs::write(root.join("a.jpg"), b"\xff\xd8jpeg").unwrap();
    std::fs::write(root.join("2024/b.txt"), b"hello").unwrap();
    let before = snapshot(&root);
    for opts in [
        Options::default(),
        Options::default().engine(EngineKind::Sled),
    ] {
        let e = Db::open_with(&root, opts).err().unwrap();
        assert!(
            matches!(&e, Error::NotAStore { path, .. } if path == &root),
            "{e}"
        );
    }
    assert_eq!(snapshot(&root), before);
    // only a hidden file counts as content too
    let hidden = dir.path().join("hidden");
    std::fs::create_dir(&hidden).unwrap();
    std::fs::write(hidden.join(".keep"), b"").unwrap();
    assert!(matches!(Db::open(&hidden), Err(Error::NotAStore { .. })));
    assert_eq!(snapshot(&hidden).len(), 1);
}

#[test]
fn a_newer_format_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("future");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(
        root.join("LAZARUS"),
        "lazarusdb store\nformat 99\nengine fjall\n",
    )
    .unwrap();
    let before = snapshot(&root);
    let e = Db::open(&root).err().unwrap();
    assert!(
        matches!(e, Error::NewerFormat { found: 99, supported } if supported == FORMAT_VERSION),
        "{e}"
    );
    assert_eq!(snapshot(&root), before);
}

#[test]
fn a_garbage_marker_is_not_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let contents: [&[u8]; 4] = [
        b"hello world\n",
        b"",
        b"\xff\xfe\x00binary\x80",
        b"LAZARUSDB STORE\nformat 1\nengine fjall\n",
    ];
    for (i, body) in contents.iter().enumerate() {
        let root = dir.path().join(format!("s{i}"));
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("LAZARUS"), body).unwrap();
        let before = snapshot(&root);
        let e = Db::open(&root).err().unwrap();
        assert!(matches!(e, Error::NotAStore { .. }), "{body:?}: {e}");
        assert_eq!(snapshot(&root), before);
    }
}

#[test]
fn another_engine_than_the_stores_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let db = Db::open(&path).unwrap();
    assert_eq!(db.engine(), EngineKind::FjallRedb);
    note_table(&db);
    db.close().unwrap();
    let before = snapshot(&path);
    let e = Db::open_with(&path, Options::default().engine(EngineKind::Sled))
        .err()
        .unwrap();
    assert!(
        matches!(&e, Error::EngineMismatch { found, requested } if found == "fjall-redb" && requested == "sled"),
        "{e}"
    );
    assert_eq!(snapshot(&path), before);
    let db = Db::open_with(&path, Options::default().engine(EngineKind::FjallRedb)).unwrap();
    has_note(&db);
}

#[test]
fn a_second_handle_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let db = Db::open(&path).unwrap();
    note_table(&db);
    let lsn = db.last_lsn();
    let e = Db::open(&path).err().unwrap();
    assert!(
        matches!(&e, Error::Locked(p) if p.starts_with(&path)),
        "{e}"
    );
    // the first handle is unharmed
    db.insert("note", Row::new().with("text", "more")).unwrap();
    assert_eq!(db.last_lsn(), lsn + 1);
    drop(db);
    let db = Db::open(&path).unwrap();
    has_note(&db);
    assert_eq!(db.count("note").unwrap(), 2);
}

#[test]
fn a_second_handle_on_sled_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let opts = Options::default().engine(EngineKind::Sled);
    let db = Db::open_with(&path, opts.clone()).unwrap();
    note_table(&db);
    let e = Db::open_with(&path, opts.clone()).err().unwrap();
    assert!(
        matches!(&e, Error::Locked(p) if p.starts_with(&path)),
        "{e}"
    );
    has_note(&db);
    drop(db);
    let db = Db::open_with(&path, opts).unwrap();
    has_note(&db);
}

#[test]
fn an_empty_folder_becomes_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("empty");
    std::fs::create_dir(&root).unwrap();
    let db = Db::open(&root).unwrap();
    assert_eq!(db.engine(), EngineKind::FjallRedb);
    assert_eq!(db.path(), Some(root.as_path()));
    assert_eq!(db.last_lsn(), 0);
    note_table(&db);
    db.close().unwrap();
    let marker = std::fs::read_to_string(root.join("LAZARUS")).unwrap();
    let lines: Vec<&str> = marker.lines().collect();
    assert_eq!(
        lines,
        vec![
            "lazarusdb store".to_string(),
            format!("format {FORMAT_VERSION}"),
            "engine fjall-redb".to_string(),
            // created completely: it keeps a durable high-water mark from now on
            "hwm kept".to_string(),
        ]
    );
    assert!(root.join("data").is_dir());
    assert!(root.join("HWM").is_file());
    let db = Db::open(&root).unwrap();
    has_note(&db);
}

#[test]
fn a_missing_path_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a").join("b").join("store");
    let db = Db::open(&path).unwrap();
    assert!(path.join("LAZARUS").is_file());
    note_table(&db);
    db.close().unwrap();
    let db = Db::open(&path).unwrap();
    has_note(&db);
}

#[test]
fn must_exist_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nothing");
    let opts = Options {
        must_exist: true,
        ..Options::default()
    };
    assert!(matches!(
        Db::open_with(&path, opts.clone()),
        Err(Error::NotAStore { .. })
    ));
    assert!(!path.exists());
    std::fs::create_dir(&path).unwrap();
    assert!(matches!(
        Db::open_with(&path, opts.clone()),
        Err(Error::NotAStore { .. })
    ));
    assert!(snapshot(&path).is_empty());
    // an existing store opens
    Db::open(&path).unwrap().close().unwrap();
    Db::open_with(&path, opts).unwrap().close().unwrap();
}

#[test]
fn a_sled_store_reopens_on_sled_without_naming_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let db = Db::open_with(&path, Options::default().engine(EngineKind::Sled)).unwrap();
    assert_eq!(db.engine(), EngineKind::Sled);
    note_table(&db);
    db.close().unwrap();
    assert!(std::fs::read_to_string(path.join("LAZARUS"))
        .unwrap()
        .lines()
        .any(|l| l == "engine sled"));
    let db = Db::open_with(
        &path,
        Options {
            engine: None,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(db.engine(), EngineKind::Sled);
    has_note(&db);
    db.close().unwrap();
    let e = Db::open_with(&path, Options::default().engine(EngineKind::Fjall))
        .err()
        .unwrap();
    assert!(
        matches!(&e, Error::EngineMismatch { found, requested } if found == "sled" && requested == "fjall"),
        "{e}"
    );
    let db = Db::open(&path).unwrap();
    assert_eq!(db.engine(), EngineKind::Sled);
    has_note(&db);
}

#[test]
fn a_temporary_store_is_removed_on_drop() {
    let db = Db::temporary().unwrap();
    let path = db.path().unwrap().to_path_buf();
    assert!(path.join("LAZARUS").is_file());
    let parent = path.parent().unwrap().to_path_buf();
    note_table(&db);
    has_note(&db);
    drop(db);
    assert!(!path.exists());
    assert!(!parent.exists());
}

#[test]
fn the_memory_engine_on_a_path_is_refused_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let e = Db::open_with(&path, Options::default().engine(EngineKind::Memory))
        .err()
        .unwrap();
    assert!(matches!(e, Error::InvalidInput(_)), "{e}");
    // an error means nothing was written: the path must not exist now...
    assert!(
        !path.exists(),
        "left behind: {:?}",
        snapshot(&path).keys().collect::<Vec<_>>()
    );
    // ...and the path must still be usable for a real store
    Db::open(&path).unwrap();
}

/// A views cache far smaller than the views (a few pages) evicts all the time and answers as
/// the default one does: the bound is memory only.
#[test]
fn a_tiny_views_cache_answers_as_the_default_does() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s");
    let db = Db::open(&root).unwrap();
    note_table(&db);
    db.transaction(|tx| {
        for i in 2..=3_000i64 {
            tx.insert(
                "note",
                Row::new().with("id", i).with("text", format!("note {i}")),
            )?;
        }
        Ok::<_, Error>(())
    })
    .unwrap();
    let want = db.scan("note", lazarusdb::Scan::all()).unwrap();
    assert_eq!(want.len(), 3_000);
    db.close().unwrap();
    let opts = Options::default().cache_bytes(16 << 10);
    let db = Db::open_with(&root, opts).unwrap();
    assert_eq!(db.scan("note", lazarusdb::Scan::all()).unwrap(), want);
    for i in (2..=3_000i64).rev().step_by(7) {
        let row = db.get("note", i).unwrap().unwrap();
        assert_eq!(row.get("text"), Some(&Value::from(format!("note {i}"))));
    }
    has_note(&db);
}
