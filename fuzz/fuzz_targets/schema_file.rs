//! Text into the JSON schema-file parsers, then into a memory store.
//!
//! The input is split at its first NUL byte (which JSON text cannot contain unescaped) into up
//! to two schema files, applied one after the other to the same `Db::memory()` with
//! `Db::apply_schema_file` (tables and retention settings) — the second one exercises the
//! "extend an existing table" path (new columns, new indexes) and replaces retention policies.
//!
//! Properties: nothing panics; `parse_schema_file` and `parse_schema_document` accept the same
//! texts and give the same tables; every retention window parsed is at least one second and
//! `format_duration` / `parse_duration` round-trip it; after each apply (successful or not)
//! `verify` finds the views equal to a replay of the log; a schema file that applied once
//! applies again as a no-op (no new event); after each apply the retention policies in force
//! (`Db::retention`, the store's and every table's) are the last ones the applied files set
//! (an empty one removes a policy; a table without its own has the store's); and
//! `schema_to_json` of the resulting tables, parsed and applied to a fresh store, gives the same
//! tables (compared modulo index ids, which the file format does not carry).
#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use lazarusdb::{format_duration, parse_duration};
use lazarusdb::{schema_to_json, TableDef};
use lazarusdb::{parse_schema_document, parse_schema_file, Db, Readable, Retention};
use libfuzzer_sys::fuzz_target;

/// A table definition with index ids replaced by the indexed columns.
fn normalized(def: &TableDef) -> String {
    let cols_of = |id: u32| {
        def.indexes
            .iter()
            .find(|i| i.id == id)
            .map(|i| i.columns.clone())
    };
    let indexes: BTreeSet<(Vec<String>, bool)> = def
        .indexes
        .iter()
        .map(|i| (i.columns.clone(), i.unique))
        .collect();
    let fks: Vec<_> = def
        .foreign_keys
        .iter()
        .map(|f| (&f.column, &f.references, f.on_delete, cols_of(f.index)))
        .collect();
    format!(
        "{} {} {:?} {:?} {:?} {:?} {}",
        def.id, def.name, def.columns, def.primary_key, indexes, fks, def.trash_keeps_keys
    )
}

fn defs(db: &Db) -> Vec<TableDef> {
    let names = db.tables().expect("tables");
    let mut defs: Vec<TableDef> = names
        .iter()
        .map(|n| db.table_def(n).expect("table_def of a listed table"))
        .collect();
    defs.sort_by_key(|d| d.id);
    defs
}

fn apply(db: &Db, text: &str) -> bool {
    let ok = db.apply_schema_file(text).is_ok();
    let report = db.verify().expect("verify runs");
    assert!(
        report.is_ok(),
        "views differ from the log: {:?}",
        report.differences
    );
    if ok {
        let before = db.last_lsn();
        db.apply_schema_file(text)
            .expect("a schema that applied applies again");
        assert_eq!(
            db.last_lsn(),
            before,
            "re-applying the same schema file wrote events"
        );
    }
    ok
}

/// The policies in force equal the ones the applied files set (`None`: the store's).
fn check_retention(db: &Db, set: &BTreeMap<Option<String>, Retention>) {
    let own = |r: &Retention| (!r.is_empty()).then_some(*r);
    let store = set.get(&None).and_then(own);
    assert_eq!(
        db.retention(None).expect("retention"),
        store,
        "the store's policy"
    );
    for (table, policy) in set {
        let Some(name) = table else { continue };
        assert_eq!(
            db.retention(Some(name)).expect("retention of a table"),
            own(policy).or(store),
            "the policy of `{name}`"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let (first, second) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let Ok(db) = Db::memory() else { return };
    let mut applied = false;
    // The retention policies the applied files set, the last one per table (None: the store).
    let mut set: BTreeMap<Option<String>, Retention> = BTreeMap::new();
    for part in std::iter::once(first).chain(second) {
        let Ok(text) = std::str::from_utf8(part) else {
            continue;
        };
        let doc = parse_schema_document(text);
        let specs = parse_schema_file(text);
        let doc = match (doc, specs) {
            (Ok(doc), Ok(specs)) => {
                assert_eq!(
                    format!("{:?}", doc.tables),
                    format!("{specs:?}"),
                    "the two parsers give different tables"
                );
                doc
            }
            (Err(_), Err(_)) => continue,
            (d, s) => panic!("the parsers disagree: document {d:?}, tables {s:?}"),
        };
        for (_, policy) in &doc.retention {
            for secs in [policy.deletions, policy.history].into_iter().flatten() {
                assert!(secs >= 1, "a window of 0 s parsed");
                let text = format_duration(secs);
                assert_eq!(
                    parse_duration(&text).ok(),
                    Some(secs),
                    "{secs} s as `{text}`"
                );
            }
        }
        if apply(&db, text) {
            applied = true;
            for (table, policy) in doc.retention {
                set.insert(table, policy);
            }
        }
        check_retention(&db, &set);
    }
    if !applied {
        return;
    }
    // Round trip through the schema-file format.
    let before = defs(&db);
    let refs: Vec<&TableDef> = before.iter().collect();
    let text = schema_to_json(&refs).to_string();
    let specs = parse_schema_file(&text).expect("schema_to_json output parses");
    let fresh = Db::memory().expect("memory store");
    fresh
        .apply_schema(&specs)
        .unwrap_or_else(|e| panic!("schema_to_json output does not apply: {e}\n{text}"));
    let after = defs(&fresh);
    let a: Vec<String> = before.iter().map(normalized).collect();
    let b: Vec<String> = after.iter().map(normalized).collect();
    assert_eq!(a, b, "schema_to_json round trip changed the tables\n{text}");
});
