//! Pins schema changes: the JSON schema file (author/book with a unique email, an index on
//! title and a cascading foreign key) applied with `apply_schema`, read back with `table_def`,
//! and round-tripped through `schema_to_json`; extending existing tables with a second file (new
//! nullable and defaulted columns, new indexes: old rows read null or the default and the new
//! indexes find them); the refusals (a non-null column without default, a unique index over
//! duplicate live values, changed or dropped columns) that write nothing; schema events in
//! `changes`; and the schema surviving close and reopen on fjall, with `verify` ok at each step.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use lazarusdb::schema_to_json;
use lazarusdb::{
    parse_schema_file, ChangeKind, ColumnDef, ColumnType, Constraint, Db, Error, OnDelete,
    Readable, Row, Scan, TableDef, Value,
};

const SCHEMA: &str = r#"{"tables": [
  {"name": "author", "primary_key": "id",
   "columns": [{"name": "id", "type": "int"},
               {"name": "email", "type": "text"},
               {"name": "name", "type": "text", "nullable": true}],
   "unique": [["email"]]},
  {"name": "book", "primary_key": "id",
   "columns": [{"name": "id", "type": "int"},
               {"name": "title", "type": "text"},
               {"name": "author_id", "type": "int"}],
   "indexes": [["title"]],
   "foreign_keys": [{"column": "author_id", "references": "author", "on_delete": "cascade"}]}
]}"#;

/// The same tables, extended: new columns (nullable, and non-null with a default) and indexes.
const EXTENDED: &str = r#"{"tables": [
  {"name": "author", "primary_key": "id",
   "columns": [{"name": "id", "type": "int"},
               {"name": "email", "type": "text"},
               {"name": "name", "type": "text", "nullable": true},
               {"name": "country", "type": "text", "nullable": true},
               {"name": "rank", "type": "int", "default": 0}],
   "unique": [["email"]],
   "indexes": [["name"], ["rank"]]},
  {"name": "book", "primary_key": "id",
   "columns": [{"name": "id", "type": "int"},
               {"name": "title", "type": "text"},
               {"name": "author_id", "type": "int"},
               {"name": "pages", "type": "int", "nullable": true}],
   "indexes": [["title"], ["pages"]],
   "foreign_keys": [{"column": "author_id", "references": "author", "on_delete": "cascade"}]}
]}"#;

fn verified(db: &Db) {
    let r = db.verify().unwrap();
    assert!(r.is_ok(), "{:?}", r.differences);
}

fn apply(db: &Db, text: &str) {
    db.apply_schema(&parse_schema_file(text).unwrap()).unwrap();
    verified(db);
}

fn defs(db: &Db) -> Vec<TableDef> {
    db.tables()
        .unwrap()
        .iter()
        .map(|t| db.table_def(t).unwrap())
        .collect()
}

fn fill(db: &Db) {
    db.transaction(|tx| {
        tx.insert(
            "author",
            Row::new().with("email", "ann@x").with("name", "Ann"),
        )?;
        tx.insert("author", Row::new().with("email", "bob@x"))?;
        tx.insert(
            "book",
            Row::new().with("title", "Dune").with("author_id", 1),
        )?;
        tx.insert(
            "book",
            Row::new().with("title", "Emma").with("author_id", 2),
        )?;
        Ok::<_, Error>(())
    })
    .unwrap();
    verified(db);
}

fn ids(rows: &[Row]) -> Vec<i64> {
    rows.iter()
        .map(|r| r.get("id").and_then(Value::as_int).unwrap())
        .collect()
}

fn is_schema_err<T: std::fmt::Debug>(r: Result<T, Error>) -> bool {
    matches!(r, Err(Error::InvalidSchema(_)))
}

#[test]
fn the_schema_file_applies_and_round_trips() {
    let db = Db::memory().unwrap();
    apply(&db, SCHEMA);
    assert_eq!(db.tables().unwrap(), vec!["author", "book"]);
    let a = db.table_def("author").unwrap();
    assert_eq!(a.primary_key, "id");
    assert_eq!(
        a.columns,
        vec![
            ColumnDef::new("id", ColumnType::Int),
            ColumnDef::new("email", ColumnType::Text),
            ColumnDef::new("name", ColumnType::Text).nullable(),
        ]
    );
    assert_eq!(a.indexes.len(), 1);
    assert!(a.indexes[0].unique);
    assert_eq!(a.indexes[0].columns, vec!["email"]);
    assert!(a.foreign_keys.is_empty());
    let b = db.table_def("book").unwrap();
    assert_eq!(b.primary_key, "id");
    assert_eq!(b.columns.len(), 3);
    assert!(b.columns.iter().all(|c| !c.nullable && c.default.is_none()));
    let mut idx: Vec<(Vec<String>, bool)> = b
        .indexes
        .iter()
        .map(|i| (i.columns.clone(), i.unique))
        .collect();
    idx.sort();
    assert_eq!(
        idx,
        vec![
            (vec!["author_id".to_string()], false),
            (vec!["title".to_string()], false)
        ]
    );
    assert_eq!(b.foreign_keys.len(), 1);
    let fk = &b.foreign_keys[0];
    assert_eq!(
        (fk.column.as_str(), fk.references.as_str(), fk.on_delete),
        ("author_id", "author", OnDelete::Cascade)
    );
    let fk_index = b.indexes.iter().find(|i| i.id == fk.index).unwrap();
    assert_eq!(fk_index.columns, vec!["author_id"]);
    assert_ne!(a.id, b.id);

    // one schema event creates both tables
    let changes = db.changes(1, None).unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].kind, ChangeKind::Schema);
    assert_eq!(changes[0].table.as_deref(), Some("author"));
    assert_eq!(
        (changes[0].pk.as_ref(), changes[0].row.as_ref()),
        (None, None)
    );
    assert_eq!(db.last_lsn(), 1);

    // schema_to_json is the inverse of parse_schema_file
    let json = schema_to_json(&[&a, &b]);
    let again = parse_schema_file(&json.to_string()).unwrap();
    assert_eq!(again, parse_schema_file(SCHEMA).unwrap());
    let copy = Db::memory().unwrap();
    copy.apply_schema(&again).unwrap();
    assert_eq!(defs(&copy), vec![a, b]);
    assert_eq!(
        schema_to_json(&defs(&copy).iter().collect::<Vec<_>>()),
        json
    );

    // and the constraints it declares hold
    fill(&db);
    assert!(matches!(
        db.insert("author", Row::new().with("email", "ann@x")),
        Err(Error::ConstraintViolation {
            constraint: Constraint::Unique(_),
            ..
        })
    ));
    assert!(matches!(
        db.insert("book", Row::new().with("title", "X").with("author_id", 9)),
        Err(Error::ConstraintViolation {
            constraint: Constraint::ForeignKey { .. },
            ..
        })
    ));
    assert_eq!(
        ids(&db.lookup("book", &["title"], &["Emma".into()]).unwrap()),
        vec![2]
    );
    assert_eq!(ids(&db.children("author", 1, "book").unwrap()), vec![1]);
    verified(&db);
}

fn extend_and_check(db: &Db) {
    apply(db, SCHEMA);
    fill(db);
    let before = db.last_lsn();
    apply(db, EXTENDED);
    // two columns and two indexes on author, one column and one index on book
    let changes = db.changes(before + 1, None).unwrap();
    let got: Vec<(ChangeKind, Option<&str>)> = changes
        .iter()
        .map(|c| (c.kind, c.table.as_deref()))
        .collect();
    let mut want = vec![(ChangeKind::Schema, Some("author")); 4];
    want.extend([(ChangeKind::Schema, Some("book")); 2]);
    assert_eq!(got, want);
    assert!(
        changes.iter().all(|c| c.tx == changes[0].tx),
        "one transaction"
    );
    assert_eq!(db.last_lsn(), before + 6);

    let a = db.table_def("author").unwrap();
    let names: Vec<&str> = a.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["id", "email", "name", "country", "rank"]);
    assert_eq!(a.columns[4].default, Some(Value::Int(0)));
    // old rows read null or the default
    let ann = db.get("author", 1).unwrap().unwrap();
    assert_eq!(ann.get("country"), Some(&Value::Null));
    assert_eq!(ann.get("rank"), Some(&Value::Int(0)));
    assert_eq!(ann.len(), 5);
    assert_eq!(
        db.get("book", 2).unwrap().unwrap().get("pages"),
        Some(&Value::Null)
    );
    let scanned = db.scan("author", Scan::all()).unwrap();
    assert!(scanned
        .iter()
        .all(|r| r.get("rank") == Some(&Value::Int(0)) && r.get("country") == Some(&Value::Null)));
    // the history shows old images in today's columns
    let h = db.history("author", 2).unwrap();
    assert_eq!(h[0].row.as_ref().unwrap().get("rank"), Some(&Value::Int(0)));
    // the new indexes find old rows
    assert_eq!(
        ids(&db.lookup("author", &["name"], &["Ann".into()]).unwrap()),
        vec![1]
    );
    assert_eq!(
        ids(&db.lookup("author", &["rank"], &[0.into()]).unwrap()),
        vec![1, 2]
    );
    // new rows get the default, explicit values are kept, updates move index entries
    let c = db
        .insert(
            "author",
            Row::new().with("email", "cy@x").with("country", "fr"),
        )
        .unwrap();
    assert_eq!(c.get("rank"), Some(&Value::Int(0)));
    db.insert("author", Row::new().with("email", "di@x").with("rank", 5))
        .unwrap();
    db.update("author", 1, Row::new().with("rank", 3)).unwrap();
    assert_eq!(
        ids(&db.lookup("author", &["rank"], &[0.into()]).unwrap()),
        vec![2, 3]
    );
    assert_eq!(
        ids(&db.lookup("author", &["rank"], &[3.into()]).unwrap()),
        vec![1]
    );
    db.update("book", 1, Row::new().with("pages", 412)).unwrap();
    assert_eq!(
        ids(&db.lookup("book", &["pages"], &[412.into()]).unwrap()),
        vec![1]
    );
    verified(db);
}

#[test]
fn extending_tables_keeps_old_rows_in_memory() {
    let db = Db::memory().unwrap();
    extend_and_check(&db);
}

#[test]
fn extending_tables_keeps_old_rows_on_fjall() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("store")).unwrap();
    extend_and_check(&db);
}

#[test]
fn refused_column_additions_write_nothing() {
    let db = Db::memory().unwrap();
    apply(&db, SCHEMA);
    fill(&db);
    let lsn = db.last_lsn();
    let before = defs(&db);
    assert!(is_schema_err(
        db.add_column("author", ("age", ColumnType::Int))
    ));
    assert!(is_schema_err(db.add_column(
        "author",
        ColumnDef::new("age", ColumnType::Int).with_default(Value::Null)
    )));
    assert!(is_schema_err(db.add_column(
        "author",
        ColumnDef::new("age", ColumnType::Int).with_default("old")
    )));
    assert!(is_schema_err(db.add_column(
        "author",
        ColumnDef::new("email", ColumnType::Text).nullable()
    )));
    assert!(is_schema_err(db.add_column(
        "author",
        ColumnDef::new("bad name", ColumnType::Text).nullable()
    )));
    assert!(matches!(
        db.add_column("nope", ColumnDef::new("x", ColumnType::Text).nullable()),
        Err(Error::UnknownTable(_))
    ));
    // through schema files: each change that is not "append a column or an index" is refused,
    // and a valid new table in the same file is not created either
    let new_table =
        r#"{"name": "tag", "primary_key": "name", "columns": [{"name": "name", "type": "text"}]}"#;
    let book = r#"{"name": "book", "primary_key": "id",
       "columns": [{"name": "id", "type": "int"}, {"name": "title", "type": "text"},
                   {"name": "author_id", "type": "int"}],
       "foreign_keys": [{"column": "author_id", "references": "author", "on_delete": "cascade"}]}"#;
    let author = |cols: &str, pk: &str| {
        format!(
            r#"{{"name": "author", "primary_key": "{pk}", "columns": [{cols}], "unique": [["email"]]}}"#
        )
    };
    let id = r#"{"name": "id", "type": "int"}"#;
    let email = r#"{"name": "email", "type": "text"}"#;
    let name = r#"{"name": "name", "type": "text", "nullable": true}"#;
    let files = [
        // a new non-null column without default
        author(
            &format!(r#"{id}, {email}, {name}, {{"name": "age", "type": "int"}}"#),
            "id",
        ),
        // a changed type
        author(
            &format!(r#"{id}, {email}, {{"name": "name", "type": "int", "nullable": true}}"#),
            "id",
        ),
        // a changed nullability
        author(
            &format!(r#"{id}, {email}, {{"name": "name", "type": "text"}}"#),
            "id",
        ),
        // a dropped column
        author(&format!("{id}, {email}"), "id"),
        // a changed primary key
        author(&format!("{id}, {email}, {name}"), "email"),
    ];
    for f in &files {
        let text = format!(r#"{{"tables": [{new_table}, {f}, {book}]}}"#);
        let e = db
            .apply_schema(&parse_schema_file(&text).unwrap())
            .unwrap_err();
        assert!(matches!(e, Error::InvalidSchema(_)), "{f}: {e}");
    }
    // a new foreign key on an existing table
    let text = format!(
        r#"{{"tables": [{new_table}, {}, {{"name": "book", "primary_key": "id",
           "columns": [{{"name": "id", "type": "int"}}, {{"name": "title", "type": "text"}},
                       {{"name": "author_id", "type": "int"}}, {{"name": "tag", "type": "text", "nullable": true}}],
           "foreign_keys": [{{"column": "author_id", "references": "author", "on_delete": "cascade"}},
                            {{"column": "tag", "references": "tag"}}]}}]}}"#,
        author(&format!("{id}, {email}, {name}"), "id")
    );
    let e = db
        .apply_schema(&parse_schema_file(&text).unwrap())
        .unwrap_err();
    assert!(matches!(e, Error::InvalidSchema(_)), "{e}");
    assert_eq!(db.last_lsn(), lsn);
    assert_eq!(defs(&db), before);
    verified(&db);
    // a non-null column with a default is accepted, and old rows read the default
    db.add_column(
        "author",
        ColumnDef::new("age", ColumnType::Int).with_default(18),
    )
    .unwrap();
    assert_eq!(db.last_lsn(), lsn + 1);
    assert_eq!(
        db.get("author", 2).unwrap().unwrap().get("age"),
        Some(&Value::Int(18))
    );
    let last = db.changes(lsn + 1, None).unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].kind, ChangeKind::Schema);
    assert_eq!(last[0].table.as_deref(), Some("author"));
    verified(&db);
}

#[test]
fn a_unique_index_over_duplicates_is_refused() {
    let db = Db::memory().unwrap();
    apply(&db, SCHEMA);
    fill(&db);
    db.insert(
        "author",
        Row::new().with("email", "ann2@x").with("name", "Ann"),
    )
    .unwrap();
    let lsn = db.last_lsn();
    let before = defs(&db);
    let e = db.add_index("author", &["name"], true).unwrap_err();
    assert!(
        matches!(&e, Error::ConstraintViolation { table, constraint: Constraint::Unique(c), .. }
            if table == "author" && c == &vec!["name".to_string()]),
        "{e}"
    );
    // through a schema file, next to a new table: nothing at all
    let text = r#"{"tables": [
      {"name": "tag", "primary_key": "name", "columns": [{"name": "name", "type": "text"}]},
      {"name": "author", "primary_key": "id",
       "columns": [{"name": "id", "type": "int"}, {"name": "email", "type": "text"},
                   {"name": "name", "type": "text", "nullable": true}],
       "unique": [["email"], ["name"]]}]}"#;
    let e = db
        .apply_schema(&parse_schema_file(text).unwrap())
        .unwrap_err();
    assert!(
        matches!(
            &e,
            Error::ConstraintViolation {
                constraint: Constraint::Unique(_),
                ..
            }
        ),
        "{e}"
    );
    // inside an explicit transaction the half-applied file breaks it: no further use, no commit
    let mut tx = db.begin().unwrap();
    assert!(tx.apply_schema(&parse_schema_file(text).unwrap()).is_err());
    assert!(matches!(
        tx.insert("author", Row::new().with("email", "late@x")),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(tx.commit(), Err(Error::InvalidInput(_))));
    assert_eq!(db.last_lsn(), lsn);
    assert!(db.tables().unwrap().iter().all(|t| t != "tag"));
    // a column added with a default: every old row holds it, so it is not unique either
    db.add_column(
        "book",
        ColumnDef::new("isbn", ColumnType::Text).with_default("none"),
    )
    .unwrap();
    let lsn = lsn + 1;
    let e = db.add_index("book", &["isbn"], true).unwrap_err();
    assert!(matches!(e, Error::ConstraintViolation { .. }), "{e}");
    // duplicates staged in the same transaction count too
    let e = db
        .transaction(|tx| {
            tx.insert(
                "book",
                Row::new()
                    .with("title", "Dune")
                    .with("author_id", 2)
                    .with("isbn", "1"),
            )?;
            tx.add_index("book", &["title"], true)
        })
        .unwrap_err();
    assert!(matches!(e, Error::ConstraintViolation { .. }), "{e}");
    assert_eq!(db.last_lsn(), lsn);
    let mut after = defs(&db);
    assert_eq!(after[0], before[0]);
    assert_eq!(after.remove(1).indexes, before[1].indexes);
    assert!(db.tables().unwrap().iter().all(|t| t != "tag"));
    assert!(matches!(
        db.lookup("author", &["name"], &["Ann".into()]),
        Err(Error::UnknownIndex { .. })
    ));
    verified(&db);

    // null values never conflict: clear the duplicate, then several rows hold a null name
    db.update("author", 3, Row::new().with("name", Value::Null))
        .unwrap();
    db.insert("author", Row::new().with("email", "nul@x"))
        .unwrap();
    db.add_index("author", &["name"], true).unwrap();
    assert_eq!(db.last_lsn(), lsn + 3);
    assert!(db
        .table_def("author")
        .unwrap()
        .indexes
        .iter()
        .any(|i| i.unique && i.columns == ["name"]));
    // and from now on it is enforced, nulls still allowed
    assert!(matches!(
        db.insert(
            "author",
            Row::new().with("email", "e@x").with("name", "Ann")
        ),
        Err(Error::ConstraintViolation {
            constraint: Constraint::Unique(_),
            ..
        })
    ));
    db.insert("author", Row::new().with("email", "f@x"))
        .unwrap();
    assert_eq!(
        ids(&db.lookup("author", &["name"], &["Ann".into()]).unwrap()),
        vec![1]
    );
    // a non-unique index over duplicates is fine
    db.add_index("book", &["isbn"], false).unwrap();
    assert_eq!(
        ids(&db.lookup("book", &["isbn"], &["none".into()]).unwrap()),
        vec![1, 2]
    );
    // an index that exists already is refused
    assert!(is_schema_err(db.add_index("book", &["isbn"], false)));
    assert!(is_schema_err(db.add_index("book", &["nope"], false)));
    assert!(is_schema_err(db.add_index("book", &[], false)));
    let changes = db.changes(lsn + 1, None).unwrap();
    let kinds: Vec<ChangeKind> = changes.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        vec![
            ChangeKind::Update,
            ChangeKind::Insert,
            ChangeKind::Schema,
            ChangeKind::Insert,
            ChangeKind::Schema
        ]
    );
    verified(&db);
}

#[test]
fn the_schema_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let (saved, lsn) = {
        let db = Db::open(&path).unwrap();
        apply(&db, SCHEMA);
        fill(&db);
        apply(&db, EXTENDED);
        db.add_column("book", ColumnDef::new("isbn", ColumnType::Text).nullable())
            .unwrap();
        db.add_index("book", &["isbn"], true).unwrap();
        db.update("book", 2, Row::new().with("isbn", "978"))
            .unwrap();
        verified(&db);
        let saved = defs(&db);
        let lsn = db.last_lsn();
        db.close().unwrap();
        (saved, lsn)
    };
    let db = Db::open(&path).unwrap();
    verified(&db);
    assert_eq!(db.last_lsn(), lsn);
    assert_eq!(defs(&db), saved);
    assert_eq!(
        parse_schema_file(&schema_to_json(&saved.iter().collect::<Vec<_>>()).to_string())
            .unwrap()
            .len(),
        2
    );
    let schema_events = db
        .changes(1, None)
        .unwrap()
        .iter()
        .filter(|c| c.kind == ChangeKind::Schema)
        .count();
    assert_eq!(schema_events, 1 + 6 + 2);
    // rows, defaults and indexes as before
    assert_eq!(
        db.get("author", 2).unwrap().unwrap().get("rank"),
        Some(&Value::Int(0))
    );
    assert_eq!(
        ids(&db.lookup("author", &["rank"], &[0.into()]).unwrap()),
        vec![1, 2]
    );
    assert_eq!(
        ids(&db.lookup("book", &["isbn"], &["978".into()]).unwrap()),
        vec![2]
    );
    // constraints still hold
    assert!(matches!(
        db.update("book", 1, Row::new().with("isbn", "978")),
        Err(Error::ConstraintViolation {
            constraint: Constraint::Unique(_),
            ..
        })
    ));
    assert!(matches!(
        db.insert("author", Row::new().with("email", "bob@x")),
        Err(Error::ConstraintViolation {
            constraint: Constraint::Unique(_),
            ..
        })
    ));
    assert!(matches!(
        db.insert("book", Row::new().with("title", "X").with("author_id", 99)),
        Err(Error::ConstraintViolation {
            constraint: Constraint::ForeignKey { .. },
            ..
        })
    ));
    // and new rows use the new columns' defaults
    let r = db
        .insert("author", Row::new().with("email", "new@x"))
        .unwrap();
    assert_eq!(r.get("id"), Some(&Value::Int(3)));
    assert_eq!(r.get("rank"), Some(&Value::Int(0)));
    assert_eq!(r.get("country"), Some(&Value::Null));
    // extending again after the reopen works too
    db.add_column("author", ColumnDef::new("bio", ColumnType::Text).nullable())
        .unwrap();
    verified(&db);
    db.close().unwrap();
    let db = Db::open(&path).unwrap();
    assert_eq!(db.table_def("author").unwrap().columns.len(), 6);
    assert_eq!(db.last_lsn(), lsn + 2);
    verified(&db);
}

#[test]
fn reapplying_the_same_schema_changes_nothing() {
    let db = Db::memory().unwrap();
    apply(&db, SCHEMA);
    fill(&db);
    let lsn = db.last_lsn();
    let before = defs(&db);
    // the same file again: nothing to do
    db.apply_schema(&parse_schema_file(SCHEMA).unwrap())
        .unwrap();
    assert_eq!(db.last_lsn(), lsn);
    assert_eq!(defs(&db), before);
    // and the store still takes writes on this thread
    let r = db.insert("author", Row::new().with("email", "cy@x"));
    assert!(r.is_ok(), "{r:?}");
    verified(&db);
}
