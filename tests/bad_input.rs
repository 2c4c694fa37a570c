//! Pins that every bad input is refused with a typed error and writes nothing: unknown tables
//! and columns, wrong types, not-null, primary-key, unique and foreign-key violations, updates
//! of missing rows or of the primary key, malformed schema files and builder schemas, malformed
//! JSON rows, and a failed operation inside a multi-operation transaction (which must stage
//! nothing while the rest of the transaction still commits). After each refusal the last LSN,
//! the affected tables' rows and `verify` are checked. The core runs on memory and on fjall.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use lazarusdb::{
    parse_schema_file, ColumnDef, ColumnType, Constraint, Db, Error, OnDelete, Readable, Row, Scan,
    TableBuilder, TableSpec, Value,
};

const TABLES: [&str; 3] = ["author", "book", "typed"];

fn schema(db: &Db) {
    db.create_table(
        TableBuilder::new("author")
            .column(("id", ColumnType::Int))
            .column(("email", ColumnType::Text))
            .column(ColumnDef::new("name", ColumnType::Text).nullable())
            .column(ColumnDef::new("age", ColumnType::Int).nullable())
            .primary_key("id")
            .unique(["email"]),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("book")
            .column(("id", ColumnType::Int))
            .column(("title", ColumnType::Text))
            .column(("author_id", ColumnType::Int))
            .column(ColumnDef::new("pages", ColumnType::Int).with_default(100))
            .primary_key("id")
            .foreign_key("author_id", "author", OnDelete::Cascade),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("typed")
            .column(("id", ColumnType::Int))
            .column(ColumnDef::new("n", ColumnType::Int).nullable())
            .column(ColumnDef::new("f", ColumnType::Float).nullable())
            .column(ColumnDef::new("u", ColumnType::Uuid).nullable())
            .column(ColumnDef::new("ts", ColumnType::Timestamp).nullable())
            .column(ColumnDef::new("b", ColumnType::Bytes).nullable())
            .column(ColumnDef::new("flag", ColumnType::Bool).nullable())
            .primary_key("id"),
    )
    .unwrap();
    db.transaction(|tx| {
        tx.insert(
            "author",
            Row::new().with("email", "ann@x").with("name", "Ann"),
        )?;
        tx.insert("author", Row::new().with("email", "bob@x"))?;
        tx.insert("book", Row::new().with("title", "One").with("author_id", 1))?;
        tx.insert("typed", Row::new().with("n", 7))?;
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// The observable state: last LSN and every table's rows.
#[derive(Debug, PartialEq)]
struct State {
    lsn: u64,
    tables: Vec<String>,
    rows: Vec<Vec<Row>>,
}

fn state(db: &Db) -> State {
    let tables = db.tables().unwrap();
    State {
        lsn: db.last_lsn(),
        rows: tables
            .iter()
            .map(|t| db.scan(t, Scan::all()).unwrap())
            .collect(),
        tables,
    }
}

/// Asserts the store is exactly as `before` and its views match the log.
fn unchanged(db: &Db, before: &State) {
    assert_eq!(&state(db), before);
    let report = db.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.differences);
}

fn on_both(f: impl Fn(&Db)) {
    let db = Db::memory().unwrap();
    schema(&db);
    f(&db);
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("store")).unwrap();
    schema(&db);
    f(&db);
    db.close().unwrap();
}

fn is_constraint(e: &Error, table: &str, c: &Constraint) -> bool {
    matches!(e, Error::ConstraintViolation { table: t, constraint, .. } if t == table && constraint == c)
}

#[test]
fn unknown_table_and_column() {
    on_both(|db| {
        let before = state(db);
        let e = db.insert("nope", Row::new().with("id", 1)).unwrap_err();
        assert!(matches!(&e, Error::UnknownTable(t) if t == "nope"), "{e}");
        let e = db.update("nope", 1, Row::new().with("x", 1)).unwrap_err();
        assert!(matches!(&e, Error::UnknownTable(t) if t == "nope"), "{e}");
        assert!(matches!(db.get("nope", 1), Err(Error::UnknownTable(_))));
        assert!(matches!(
            db.scan("nope", Scan::all()),
            Err(Error::UnknownTable(_))
        ));
        let e = db
            .insert(
                "author",
                Row::new().with("email", "c@x").with("nickname", "C"),
            )
            .unwrap_err();
        assert!(
            matches!(&e, Error::UnknownColumn { table, column } if table == "author" && column == "nickname"),
            "{e}"
        );
        let e = db
            .update("author", 1, Row::new().with("nickname", "A"))
            .unwrap_err();
        assert!(
            matches!(&e, Error::UnknownColumn { table, column } if table == "author" && column == "nickname"),
            "{e}"
        );
        // table names are case sensitive
        assert!(matches!(
            db.insert("Author", Row::new().with("email", "d@x")),
            Err(Error::UnknownTable(_))
        ));
        unchanged(db, &before);
    });
}

fn wrong_type(e: &Error, col: &str, exp: &str, got: &str) -> bool {
    matches!(e, Error::WrongType { table, column, expected, got: g }
        if table == "typed" && column == col && expected == exp && g == got)
}

#[test]
fn wrong_types_are_refused() {
    on_both(|db| {
        let before = state(db);
        let cases: Vec<(&str, Value, &str, &str)> = vec![
            ("n", "12".into(), "int", "text"),
            ("n", 1.5.into(), "int", "float"),
            ("n", true.into(), "int", "bool"),
            ("u", "not-a-uuid".into(), "uuid", "text"),
            ("u", 5.into(), "uuid", "int"),
            ("ts", "2024-13-01T00:00:00Z".into(), "timestamp", "text"),
            ("ts", "2024-05-01 12:00:00".into(), "timestamp", "text"),
            ("ts", "yesterday".into(), "timestamp", "text"),
            ("ts", 1_700_000_000.into(), "timestamp", "int"),
            ("b", "not base64!".into(), "bytes", "text"),
            ("flag", "true".into(), "bool", "text"),
            ("f", "1.5".into(), "float", "text"),
        ];
        for (col, v, exp, got) in cases {
            let e = db
                .insert("typed", Row::new().with(col, v.clone()))
                .unwrap_err();
            assert!(wrong_type(&e, col, exp, got), "insert {col}={v:?}: {e}");
            let e = db
                .update("typed", 1, Row::new().with(col, v.clone()))
                .unwrap_err();
            assert!(wrong_type(&e, col, exp, got), "update {col}={v:?}: {e}");
        }
        // a primary key of the wrong type
        let e = db
            .insert("typed", Row::new().with("id", "one"))
            .unwrap_err();
        assert!(wrong_type(&e, "id", "int", "text"), "{e}");
        unchanged(db, &before);
        // the coercions that are allowed do work (and are the only writes here)
        let r = db
            .insert(
                "typed",
                Row::new()
                    .with("f", 2)
                    .with("u", "0191e2f0-0000-7000-8000-000000000001")
                    .with("ts", "1970-01-01T00:00:01Z")
                    .with("b", "AAE="),
            )
            .unwrap();
        assert_eq!(r.get("f"), Some(&Value::Float(2.0)));
        assert_eq!(
            r.get("u"),
            Some(&Value::Uuid(
                "0191e2f0-0000-7000-8000-000000000001".parse().unwrap()
            ))
        );
        assert_eq!(
            r.get("ts"),
            Some(&Value::Timestamp(lazarusdb::Timestamp(1_000_000)))
        );
        assert_eq!(r.get("b"), Some(&Value::Bytes(vec![0, 1])));
        assert_eq!(db.last_lsn(), before.lsn + 1);
    });
}

#[test]
fn not_null_is_enforced() {
    on_both(|db| {
        let before = state(db);
        let not_null = Constraint::NotNull("email".into());
        let e = db
            .insert("author", Row::new().with("email", Value::Null))
            .unwrap_err();
        assert!(is_constraint(&e, "author", &not_null), "{e}");
        let e = db
            .insert("author", Row::new().with("name", "no email"))
            .unwrap_err();
        assert!(is_constraint(&e, "author", &not_null), "{e}");
        let e = db
            .update("author", 1, Row::new().with("email", Value::Null))
            .unwrap_err();
        assert!(is_constraint(&e, "author", &not_null), "{e}");
        let e = db
            .insert("book", Row::new().with("author_id", 1))
            .unwrap_err();
        assert!(
            is_constraint(&e, "book", &Constraint::NotNull("title".into())),
            "{e}"
        );
        unchanged(db, &before);
        // an omitted column with a default is filled, not refused
        let r = db
            .insert("book", Row::new().with("title", "Two").with("author_id", 2))
            .unwrap();
        assert_eq!(r.get("pages"), Some(&Value::Int(100)));
    });
}

#[test]
fn text_primary_key_must_be_given() {
    let db = Db::memory().unwrap();
    db.create_table(
        TableBuilder::new("tag")
            .column(("name", ColumnType::Text))
            .primary_key("name"),
    )
    .unwrap();
    let before = state(&db);
    let e = db.insert("tag", Row::new()).unwrap_err();
    assert!(
        is_constraint(&e, "tag", &Constraint::NotNull("name".into())),
        "{e}"
    );
    unchanged(&db, &before);
}

#[test]
fn primary_key_and_unique_violations() {
    on_both(|db| {
        let before = state(db);
        let e = db
            .insert("author", Row::new().with("id", 1).with("email", "new@x"))
            .unwrap_err();
        assert!(is_constraint(&e, "author", &Constraint::PrimaryKey), "{e}");
        let unique = Constraint::Unique(vec!["email".into()]);
        let e = db
            .insert("author", Row::new().with("email", "ann@x"))
            .unwrap_err();
        assert!(is_constraint(&e, "author", &unique), "{e}");
        let e = db
            .update("author", 2, Row::new().with("email", "ann@x"))
            .unwrap_err();
        assert!(is_constraint(&e, "author", &unique), "{e}");
        // the largest integer cannot be a key (the sequence could not continue)
        let e = db
            .insert(
                "author",
                Row::new().with("id", i64::MAX).with("email", "max@x"),
            )
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)), "{e}");
        // two rows with the same unique value inside one transaction
        let e = db
            .transaction(|tx| {
                tx.insert("author", Row::new().with("email", "same@x"))?;
                tx.insert("author", Row::new().with("email", "same@x"))?;
                Ok::<_, Error>(())
            })
            .unwrap_err();
        assert!(is_constraint(&e, "author", &unique), "{e}");
        // the same, with the duplicate made by an update
        let e = db
            .transaction(|tx| {
                tx.insert("author", Row::new().with("email", "c@x"))?;
                tx.update("author", 2, Row::new().with("email", "c@x"))?;
                Ok::<_, Error>(())
            })
            .unwrap_err();
        assert!(is_constraint(&e, "author", &unique), "{e}");
        // and a duplicate primary key inside one transaction
        let e = db
            .transaction(|tx| {
                tx.insert("author", Row::new().with("id", 50).with("email", "p@x"))?;
                tx.insert("author", Row::new().with("id", 50).with("email", "q@x"))?;
                Ok::<_, Error>(())
            })
            .unwrap_err();
        assert!(is_constraint(&e, "author", &Constraint::PrimaryKey), "{e}");
        unchanged(db, &before);
        // updating a row to its own unique value is not a conflict
        db.update("author", 1, Row::new().with("email", "ann@x"))
            .unwrap();
        assert_eq!(db.last_lsn(), before.lsn + 1);
    });
}

#[test]
fn a_unique_value_freed_in_a_transaction_is_reusable_in_it() {
    on_both(|db| {
        let before = state(db);
        let info = {
            let mut tx = db.begin().unwrap();
            tx.update("author", 1, Row::new().with("email", "ann@new"))
                .unwrap();
            let r = tx
                .insert("author", Row::new().with("email", "ann@x"))
                .unwrap();
            assert_eq!(r.get("id"), Some(&Value::Int(3)));
            // and the new value is taken now
            let e = tx
                .insert("author", Row::new().with("email", "ann@new"))
                .unwrap_err();
            assert!(
                is_constraint(&e, "author", &Constraint::Unique(vec!["email".into()])),
                "{e}"
            );
            tx.commit().unwrap()
        };
        assert_eq!(info.first_lsn, Some(before.lsn + 1));
        assert_eq!(info.last_lsn, before.lsn + 2);
        assert_eq!(db.last_lsn(), before.lsn + 2);
        let by = |email: &str| -> Vec<Value> {
            db.lookup("author", &["email"], &[email.into()])
                .unwrap()
                .iter()
                .map(|r| r.get("id").cloned().unwrap())
                .collect()
        };
        assert_eq!(by("ann@x"), vec![Value::Int(3)]);
        assert_eq!(by("ann@new"), vec![Value::Int(1)]);
        assert!(db.verify().unwrap().is_ok());
    });
}

#[test]
fn dangling_foreign_keys_are_refused() {
    on_both(|db| {
        let before = state(db);
        let fk = Constraint::ForeignKey {
            column: "author_id".into(),
            references: "author".into(),
        };
        let e = db
            .insert("book", Row::new().with("title", "X").with("author_id", 999))
            .unwrap_err();
        assert!(is_constraint(&e, "book", &fk), "{e}");
        let e = db
            .update("book", 1, Row::new().with("author_id", 999))
            .unwrap_err();
        assert!(is_constraint(&e, "book", &fk), "{e}");
        // a parent inserted and referenced in the same transaction is fine, but a parent only
        // staged in a transaction that failed is not there
        let e = db
            .transaction(|tx| {
                tx.insert("author", Row::new().with("id", 10).with("email", "t@x"))?;
                Err::<(), _>(Error::InvalidInput("stop".into()))
            })
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)));
        let e = db
            .insert("book", Row::new().with("title", "X").with("author_id", 10))
            .unwrap_err();
        assert!(is_constraint(&e, "book", &fk), "{e}");
        unchanged(db, &before);
    });
}

#[test]
fn update_of_a_missing_row_or_of_the_primary_key() {
    on_both(|db| {
        let before = state(db);
        let e = db
            .update("author", 42, Row::new().with("name", "x"))
            .unwrap_err();
        assert!(
            matches!(&e, Error::NotFound { table, pk } if table == "author" && pk == "42"),
            "{e}"
        );
        let e = db
            .update("author", 1, Row::new().with("id", 5))
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)), "{e}");
        // together with a valid change: still nothing
        let e = db
            .update("author", 1, Row::new().with("id", 5).with("name", "Z"))
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)), "{e}");
        // a null primary key names no row
        let e = db
            .update("author", Value::Null, Row::new().with("name", "x"))
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)), "{e}");
        unchanged(db, &before);
        assert!(db.get("author", 5).unwrap().is_none());
        // naming the same primary key is allowed
        let r = db
            .update("author", 1, Row::new().with("id", 1).with("name", "Z"))
            .unwrap();
        assert_eq!(r.get("name"), Some(&Value::from("Z")));
    });
}

#[test]
fn malformed_schema_files() {
    let good =
        r#"{"tables":[{"name":"t","primary_key":"id","columns":[{"name":"id","type":"int"}]}]}"#;
    assert_eq!(parse_schema_file(good).unwrap().len(), 1);
    let bad = [
        // broken JSON
        r#"{"tables":[{"name":"t","primary_key":"id","columns":[{"name":"id","type":"int"}]}"#,
        "",
        "not json",
        // unknown type
        r#"{"tables":[{"name":"t","primary_key":"id","columns":[{"name":"id","type":"integer"}]}]}"#,
        // unknown field (column, table, top level)
        r#"{"tables":[{"name":"t","primary_key":"id","columns":[{"name":"id","type":"int","colour":1}]}]}"#,
        r#"{"tables":[{"name":"t","primary_key":"id","uniq":[],"columns":[{"name":"id","type":"int"}]}]}"#,
        r#"{"tables":[],"version":2}"#,
        // on_delete typo
        r#"{"tables":[{"name":"a","primary_key":"id","columns":[{"name":"id","type":"int"}]},
           {"name":"b","primary_key":"id","columns":[{"name":"id","type":"int"},{"name":"a_id","type":"int"}],
            "foreign_keys":[{"column":"a_id","references":"a","on_delete":"casacde"}]}]}"#,
        // missing primary key field, missing tables
        r#"{"tables":[{"name":"t","columns":[{"name":"id","type":"int"}]}]}"#,
        r#"{}"#,
        // a default that is a JSON object
        r#"{"tables":[{"name":"t","primary_key":"id","columns":[{"name":"id","type":"int"},{"name":"x","type":"int","default":{"a":1}}]}]}"#,
    ];
    for text in bad {
        let e = parse_schema_file(text).unwrap_err();
        assert!(matches!(e, Error::InvalidSchema(_)), "{text}: {e}");
    }
}

#[test]
fn bad_schemas_write_nothing() {
    on_both(|db| {
        let before = state(db);
        let id = || ("id", ColumnType::Int);
        let mut bad: Vec<(&str, Vec<TableSpec>)> = vec![
            (
                "duplicate column",
                vec![TableBuilder::new("t")
                    .column(id())
                    .column(("x", ColumnType::Int))
                    .column(("x", ColumnType::Text))
                    .primary_key("id")
                    .build()],
            ),
            (
                "duplicate table in one call",
                vec![
                    TableBuilder::new("t")
                        .column(id())
                        .primary_key("id")
                        .build(),
                    TableBuilder::new("t")
                        .column(id())
                        .primary_key("id")
                        .build(),
                ],
            ),
            (
                "existing table",
                vec![TableBuilder::new("author")
                    .column(id())
                    .primary_key("id")
                    .build()],
            ),
            (
                "unknown referenced table",
                vec![TableBuilder::new("t")
                    .column(id())
                    .column(("p", ColumnType::Int))
                    .primary_key("id")
                    .foreign_key("p", "nope", OnDelete::Cascade)
                    .build()],
            ),
            (
                "fk type differs from the referenced key",
                vec![TableBuilder::new("t")
                    .column(id())
                    .column(("author_id", ColumnType::Text))
                    .primary_key("id")
                    .foreign_key("author_id", "author", OnDelete::Restrict)
                    .build()],
            ),
            (
                "set_null on a non-nullable column",
                vec![TableBuilder::new("t")
                    .column(id())
                    .column(("author_id", ColumnType::Int))
                    .primary_key("id")
                    .foreign_key("author_id", "author", OnDelete::SetNull)
                    .build()],
            ),
            (
                "float primary key",
                vec![TableBuilder::new("t")
                    .column(("id", ColumnType::Float))
                    .primary_key("id")
                    .build()],
            ),
            (
                "no primary key",
                vec![TableBuilder::new("t").column(id()).build()],
            ),
            (
                "primary key not a column",
                vec![TableBuilder::new("t")
                    .column(id())
                    .primary_key("key")
                    .build()],
            ),
            (
                "nullable primary key",
                vec![TableBuilder::new("t")
                    .column(ColumnDef::new("id", ColumnType::Int).nullable())
                    .primary_key("id")
                    .build()],
            ),
            (
                "no columns",
                vec![TableBuilder::new("t").primary_key("id").build()],
            ),
            (
                "bad table name",
                vec![TableBuilder::new("bad name")
                    .column(id())
                    .primary_key("id")
                    .build()],
            ),
            (
                "index over an unknown column",
                vec![TableBuilder::new("t")
                    .column(id())
                    .primary_key("id")
                    .index(["nope"])
                    .build()],
            ),
            (
                "default of the wrong type",
                vec![TableBuilder::new("t")
                    .column(id())
                    .column(ColumnDef::new("x", ColumnType::Int).with_default("seven"))
                    .primary_key("id")
                    .build()],
            ),
        ];
        // a valid table next to a bad one: neither is created
        bad.push((
            "valid and invalid together",
            vec![
                TableBuilder::new("fine")
                    .column(id())
                    .primary_key("id")
                    .build(),
                TableBuilder::new("t")
                    .column(("id", ColumnType::Float))
                    .primary_key("id")
                    .build(),
            ],
        ));
        for (what, specs) in bad {
            let e = db.apply_schema(&specs).unwrap_err();
            assert!(matches!(e, Error::InvalidSchema(_)), "{what}: {e}");
            if let [one] = specs.as_slice() {
                let e = db.create_table(one.clone()).unwrap_err();
                assert!(matches!(e, Error::InvalidSchema(_)), "{what}: {e}");
            }
            let e = db.transaction(|tx| tx.create_tables(&specs)).unwrap_err();
            assert!(matches!(e, Error::InvalidSchema(_)), "{what}: {e}");
        }
        unchanged(db, &before);
        assert_eq!(db.tables().unwrap(), TABLES);
    });
}

#[test]
fn malformed_json_rows() {
    for text in [
        r#"{"a": 1"#,
        "",
        "nope",
        "[1, 2]",
        r#"[{"a": 1}]"#,
        "1",
        r#""row""#,
        "null",
        r#"{"a": {"b": 1}}"#,
        r#"{"a": [1, 2, 300]}"#,
        r#"{"a": [1, "x"]}"#,
        r#"{"a": 18446744073709551615}"#,
    ] {
        let e = Row::from_json_str(text).unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)), "{text}: {e}");
    }
    let r =
        Row::from_json_str(r#"{"a": 1, "b": "x", "c": null, "d": [0, 255], "e": 1.5}"#).unwrap();
    assert_eq!(r.get("a"), Some(&Value::Int(1)));
    assert_eq!(r.get("b"), Some(&Value::from("x")));
    assert_eq!(r.get("c"), Some(&Value::Null));
    assert_eq!(r.get("d"), Some(&Value::Bytes(vec![0, 255])));
    assert_eq!(r.get("e"), Some(&Value::Float(1.5)));
}

#[test]
fn failed_ops_in_a_transaction_stage_nothing() {
    on_both(|db| {
        let before = state(db);
        let mut tx = db.begin().unwrap();
        let a = tx
            .insert("author", Row::new().with("email", "c@x"))
            .unwrap();
        assert_eq!(a.get("id"), Some(&Value::Int(3)));
        assert_eq!(tx.len(), 1);
        let failures: Vec<Error> = vec![
            // omitted key: a refused insert must not consume a key
            tx.insert("author", Row::new().with("email", "ann@x"))
                .unwrap_err(),
            tx.insert("author", Row::new().with("email", "c@x"))
                .unwrap_err(),
            tx.insert("book", Row::new().with("title", "X").with("author_id", 77))
                .unwrap_err(),
            tx.insert("author", Row::new().with("email", "d@x").with("zzz", 1))
                .unwrap_err(),
            tx.insert("nope", Row::new()).unwrap_err(),
            tx.update("author", 99, Row::new().with("name", "x"))
                .unwrap_err(),
            tx.update("author", 3, Row::new().with("email", "bob@x"))
                .unwrap_err(),
            tx.update("author", 3, Row::new().with("age", "old"))
                .unwrap_err(),
            tx.update("author", 3, Row::new().with("id", 4))
                .unwrap_err(),
            tx.insert("typed", Row::new().with("u", "not-a-uuid"))
                .unwrap_err(),
            tx.add_column("author", ("must", ColumnType::Int))
                .unwrap_err(),
            tx.add_index("author", &["nope"], false).unwrap_err(),
            tx.create_table(
                TableBuilder::new("t")
                    .column(("id", ColumnType::Float))
                    .primary_key("id"),
            )
            .unwrap_err(),
            tx.apply_schema(&[TableBuilder::new("author")
                .column(("id", ColumnType::Int))
                .primary_key("id")
                .build()])
                .unwrap_err(),
            tx.get("author", Value::Null).unwrap_err(),
        ];
        assert_eq!(failures.len(), 15);
        assert_eq!(tx.len(), 1, "a failed operation staged something");
        // the transaction still sees exactly its own successful write
        assert_eq!(tx.count("author").unwrap(), 3);
        assert_eq!(
            tx.get("author", 3).unwrap().unwrap().get("email"),
            Some(&Value::from("c@x"))
        );
        assert_eq!(tx.table_def("author").unwrap().columns.len(), 4);
        let b = tx
            .insert("book", Row::new().with("title", "Two").with("author_id", 3))
            .unwrap();
        assert_eq!(b.get("id"), Some(&Value::Int(2)));
        let a4 = tx
            .insert("author", Row::new().with("email", "d@x"))
            .unwrap();
        assert_eq!(
            a4.get("id"),
            Some(&Value::Int(4)),
            "a failed insert used a key"
        );
        let info = tx.commit().unwrap();
        assert_eq!(info.first_lsn, Some(before.lsn + 1));
        assert_eq!(info.last_lsn, before.lsn + 3);
        assert_eq!(db.last_lsn(), before.lsn + 3);
        let emails: Vec<Value> = db
            .scan("author", Scan::all())
            .unwrap()
            .iter()
            .map(|r| r.get("email").cloned().unwrap())
            .collect();
        assert_eq!(
            emails,
            ["ann@x", "bob@x", "c@x", "d@x"].map(Value::from).to_vec()
        );
        assert_eq!(db.count("book").unwrap(), 2);
        assert_eq!(db.count("typed").unwrap(), 1);
        assert_eq!(
            db.get("author", 3).unwrap().unwrap().get("age"),
            Some(&Value::Null)
        );
        let events = db.changes(before.lsn + 1, None).unwrap();
        assert_eq!(events.len(), 3);
        assert!(events.iter().all(|c| c.tx == info.tx.unwrap()));
        assert!(db.verify().unwrap().is_ok());
    });
}
