//! Writes seed inputs for the fuzz targets into `fuzz/seeds/<target>/` (checked in).
//!
//! Run from the repository root: `cargo run --manifest-path fuzz/Cargo.toml --example gen_seeds`
//! (a plain build, no sanitizer; it uses `fuzz/target`).

use std::fs;
use std::path::{Path, PathBuf};

use lazarusdb::internals::keys::encode_values;
use lazarusdb::internals::record::{self, kind};
use lazarusdb::internals::views::{self, DeletionRecord};
use lazarusdb::{
    Audit, ColumnDef, ColumnType, Db, OnDelete, RestorePolicy, Retention, Row, TableBuilder,
    Timestamp, Value,
};
use uuid::Uuid;

fn dir(target: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    fs::create_dir_all(&d).expect("create seed dir");
    d
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    fs::write(dir(target).join(name), bytes).expect("write seed");
}

/// A store with every event kind that export carries: schema (create, add column, add index),
/// insert, update, a cascading delete with a set-null unlink, a restore, retention policies
/// (the store's, a table's, a table's removed again). [`purge_some`] adds the others.
fn busy_store() -> Db {
    let db = Db::memory().expect("memory");
    db.create_table(
        TableBuilder::new("a")
            .column(("id", ColumnType::Int))
            .column(("name", ColumnType::Text))
            .column(ColumnDef::new("blob", ColumnType::Bytes).nullable())
            .column(ColumnDef::new("score", ColumnType::Float).nullable())
            .primary_key("id")
            .unique(["name"]),
    )
    .expect("a");
    db.create_table(
        TableBuilder::new("b")
            .column(("id", ColumnType::Uuid))
            .column(ColumnDef::new("a_id", ColumnType::Int).nullable())
            .column(("at", ColumnType::Timestamp))
            .column(ColumnDef::new("ok", ColumnType::Bool).with_default(true))
            .primary_key("id")
            .index(["at"])
            .foreign_key("a_id", "a", OnDelete::SetNull),
    )
    .expect("b");
    db.create_table(
        TableBuilder::new("c")
            .column(("code", ColumnType::Text))
            .column(("a_id", ColumnType::Int))
            .primary_key("code")
            .foreign_key("a_id", "a", OnDelete::Cascade)
            .trash_keeps_keys(true),
    )
    .expect("c");
    for i in 0..3i64 {
        db.insert(
            "a",
            Row::new()
                .with("name", format!("n{i}"))
                .with("blob", vec![0u8, i as u8])
                .with("score", i as f64 - 0.5),
        )
        .expect("insert a");
        db.insert(
            "b",
            Row::new()
                .with(
                    "id",
                    Uuid::from_u128(0x0191_e2f0_0000_7000_8000_0000_0000_0001 + i as u128),
                )
                .with("a_id", i + 1)
                .with("at", "2024-01-01T00:00:00Z"),
        )
        .expect("insert b");
        db.insert(
            "c",
            Row::new().with("code", format!("c{i}")).with("a_id", i + 1),
        )
        .expect("insert c");
    }
    db.update("a", 2, Row::new().with("name", "two"))
        .expect("update");
    let d = db
        .delete_with("a", 1, &Audit::by("me").because("test"))
        .expect("delete");
    db.delete("a", 3).expect("delete");
    db.restore(d.deletion, RestorePolicy::Refuse)
        .expect("restore");
    db.add_column(
        "c",
        ColumnDef::new("note", ColumnType::Text).with_default("x"),
    )
    .expect("add column");
    db.add_index("c", &["note"], false).expect("add index");

    // Retention policies: the store's, a table's, and a table's removed again.
    db.set_retention(
        None,
        Retention {
            deletions: Some(30 * 86_400),
            history: None,
        },
    )
    .expect("store retention");
    db.set_retention(
        Some("b"),
        Retention {
            deletions: Some(86_400),
            history: Some(90 * 86_400),
        },
    )
    .expect("table retention");
    db.set_retention(Some("c"), Retention::default())
        .expect("remove a retention");
    db
}

/// The purge kinds, which export does not carry (so they come after the `import_log` seeds):
/// the purge of a deletion still in the trash, an erase of a live row, a history prune.
fn purge_some(db: &Db) {
    // Purge of a deletion still in the trash (a 3 with its cascade to c, and a set-null of b,
    // whose live row keeps its images): Purge, ImagePurged, PurgeDeletion.
    let d3 = lazarusdb::Readable::find_deletion(db, "a", 3)
        .expect("find")
        .expect("a 3 is in the trash");
    db.purge(d3, &Audit::by("me").because("gdpr"))
        .expect("purge deletion");
    // Erase of a live row (deleted and purged in one transaction).
    db.insert(
        "a",
        Row::new()
            .with("id", 10)
            .with("name", "erase me")
            .with("score", 1.0),
    )
    .expect("insert a 10");
    db.update("a", 10, Row::new().with("score", 2.0))
        .expect("update a 10");
    db.erase("a", 10, &Audit::by("me")).expect("erase");
    // History prune through a transaction: a 1 has an Insert and a Restore, a 2 an Insert and
    // an Update; the older images are rewritten.
    db.update("a", 1, Row::new().with("score", 9.5))
        .expect("update a 1");
    let horizon = db.last_lsn();
    let pruned = db
        .transaction(|tx| tx.prune_history("a", horizon))
        .expect("prune history");
    assert!(pruned > 0, "the prune rewrote images");
}

fn main() {
    let db = busy_store();

    // import_log: the store's own export, whole and as prefixes.
    let mut log = Vec::new();
    db.export_log(&mut log).expect("export");
    write("import_log", "busy.jsonl", &log);
    let lines: Vec<&[u8]> = log.split(|&b| b == b'\n').collect();
    for n in [3usize, 8, 12] {
        write(
            "import_log",
            &format!("prefix{n}.jsonl"),
            &lines[..n.min(lines.len())].join(&b'\n'),
        );
    }

    // The purge kinds (Purge, ImagePurged, PurgeDeletion, PruneHistory) after the export.
    purge_some(&db);

    // event_decode: every event of the log (every kind), its transaction records, and view
    // records (retention policies included), in mode 0 (the bytes as stored).
    let events = db.events(1, None).expect("events");
    let tags: std::collections::BTreeSet<u8> = events.iter().map(|e| e.body.tag()).collect();
    for k in [
        kind::CREATE_TABLE,
        kind::ADD_COLUMN,
        kind::ADD_INDEX,
        kind::INSERT,
        kind::UPDATE,
        kind::TOMBSTONE,
        kind::RESTORE,
        kind::PURGE,
        kind::UNLINK,
        kind::IMAGE_PURGED,
        kind::PURGE_DELETION,
        kind::SET_RETENTION,
        kind::PRUNE_HISTORY,
    ] {
        assert!(tags.contains(&k), "the busy store has no event of kind {k}");
    }
    let mut n = 0;
    let mut seed = |bytes: Vec<u8>| {
        let mut raw = vec![0u8];
        raw.extend_from_slice(&bytes);
        write("event_decode", &format!("rec{n:03}"), &raw);
        n += 1;
    };
    for ev in events {
        seed(ev.encode().expect("encode"));
        if let Some(tx) = db.transaction_record(ev.tx).expect("tx") {
            seed(tx.encode().expect("encode"));
        }
    }
    seed(views::encode_row(5, &[Value::Int(1), Value::Float(f64::NAN), Value::Null]).expect("row"));
    seed(
        record::encode(
            kind::DELETION,
            &DeletionRecord {
                id: 7,
                tx: 3,
                first_lsn: 9,
                roots: vec![(1, Value::Int(1)), (2, Value::from("k"))],
                rows: vec![(1, 2)],
                unlinked: 1,
                remaining: 2,
                restored: 0,
            },
        )
        .expect("deletion"),
    );
    seed(record::encode(kind::DEL_ROW, &(0u8, 4u64, 9u64)).expect("member"));
    seed(record::encode(kind::RESERVED, &99u128).expect("reserved"));
    seed(record::encode(kind::DEAD, &(99u128, 4u64)).expect("dead"));
    seed(record::encode(kind::RETENTION, &(Some(86_400u64), None::<u64>)).expect("retention"));
    seed(record::encode(kind::RETENTION, &(None::<u64>, Some(1u64))).expect("retention"));

    // key_decode: composite keys of every value kind.
    let keys: Vec<Vec<Value>> = vec![
        vec![],
        vec![Value::Null],
        vec![Value::Bool(true), Value::Int(-5), Value::Float(-0.0)],
        vec![Value::Float(f64::NAN), Value::Float(1.5)],
        vec![Value::from("a\0b"), Value::Bytes(vec![0, 0xff, 0])],
        vec![
            Value::Uuid(Uuid::from_u128(1)),
            Value::Timestamp(Timestamp(-1)),
        ],
        vec![Value::Int(i64::MIN), Value::Int(i64::MAX), Value::from("")],
    ];
    for (i, k) in keys.iter().enumerate() {
        write("key_decode", &format!("key{i}"), &encode_values(k));
    }

    // schema_file: the README-style file, and the busy store's schema.
    write(
        "schema_file",
        "small.json",
        br#"{"tables": [{"name": "author", "primary_key": "id", "columns": [{"name": "id", "type": "int"}, {"name": "name", "type": "text"}], "unique": [["name"]]},
 {"name": "book", "primary_key": "id", "columns": [{"name": "id", "type": "uuid"}, {"name": "title", "type": "text", "nullable": true}, {"name": "author_id", "type": "int"}, {"name": "at", "type": "timestamp", "default": "2024-05-01T12:00:00Z"}, {"name": "score", "type": "float", "default": 1}, {"name": "raw", "type": "bytes", "default": "AAE="}, {"name": "ok", "type": "bool", "default": false}], "indexes": [["title", "at"]], "foreign_keys": [{"column": "author_id", "references": "author", "on_delete": "cascade"}], "trash_keeps_keys": true}]}"#,
    );
    write(
        "schema_file",
        "extend.json",
        b"{\"tables\": [{\"name\": \"t\", \"primary_key\": \"k\", \"columns\": [{\"name\": \"k\", \"type\": \"text\"}]}]}\0{\"tables\": [{\"name\": \"t\", \"primary_key\": \"k\", \"columns\": [{\"name\": \"k\", \"type\": \"text\"}, {\"name\": \"n\", \"type\": \"int\", \"nullable\": true}], \"unique\": [[\"n\"]], \"indexes\": [[\"n\", \"k\"]]}, {\"name\": \"u\", \"primary_key\": \"id\", \"columns\": [{\"name\": \"id\", \"type\": \"int\"}, {\"name\": \"up\", \"type\": \"int\", \"nullable\": true}], \"foreign_keys\": [{\"column\": \"up\", \"references\": \"u\", \"on_delete\": \"set_null\"}]}]}",
    );
    write(
        "schema_file",
        "retention.json",
        b"{\"retention\": {\"deletions\": \"30d\", \"history\": \"90d\"}, \"tables\": [{\"name\": \"t\", \"primary_key\": \"k\", \"columns\": [{\"name\": \"k\", \"type\": \"int\"}], \"retention\": {\"deletions\": \"12h\"}}, {\"name\": \"u\", \"primary_key\": \"k\", \"columns\": [{\"name\": \"k\", \"type\": \"int\"}], \"retention\": {\"history\": \"2w\"}}]}\0{\"tables\": [{\"name\": \"t\", \"primary_key\": \"k\", \"columns\": [{\"name\": \"k\", \"type\": \"int\"}], \"retention\": {}}], \"retention\": {\"deletions\": \"45s\"}}",
    );
    let tables = ["a", "b", "c"];
    let defs: Vec<lazarusdb::TableDef> = tables
        .iter()
        .map(|t| lazarusdb::Readable::table_def(&db, t).expect("def"))
        .collect();
    let refs: Vec<&lazarusdb::TableDef> = defs.iter().collect();
    write(
        "schema_file",
        "busy.json",
        lazarusdb::schema_to_json(&refs)
            .to_string()
            .as_bytes(),
    );

    // json_row: rows for the target's fixed table.
    let rows: [&str; 5] = [
        r#"{"id": 1, "i": 5, "f": 1.5, "s": "x", "b": "AAE=", "flag": true, "u": "0191e2f0-0000-7000-8000-000000000001", "ts": "2024-05-01T12:00:00Z"}"#,
        r#"{"i": -3, "f": -0.0, "s": "a\u0000b", "b": [0, 255], "d": null}"#,
        r#"{"id": 9223372036854775806, "f": 1e308, "ts": "2024-05-01T14:00:00.000123+02:00"}"#,
        r#"{"s": null, "flag": false, "d": 3}"#,
        r#"{}"#,
    ];
    for (i, r) in rows.iter().enumerate() {
        write("json_row", &format!("row{i}.json"), r.as_bytes());
    }
    println!("seeds written under {}", dir("").display());
}
