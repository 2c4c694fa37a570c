//! # lazarusdb
//!
//! An embedded, event-sourced datastore in which nothing is lost by mistake.
//!
//! Every row mutation is an event appended to a log with a strictly increasing LSN; live views
//! (rows by primary key, unique and secondary indexes, foreign-key reverse indexes) are
//! materialized from the log and only ever hold live rows, so no read needs a filter.
//!
//! ```
//! use lazarusdb::{ColumnType, Db, OnDelete, Readable, Row, TableBuilder};
//!
//! let db = Db::temporary()?;
//! db.create_table(TableBuilder::new("author")
//!     .column(("id", ColumnType::Int)).column(("name", ColumnType::Text)).primary_key("id"))?;
//! db.create_table(TableBuilder::new("book")
//!     .column(("id", ColumnType::Int)).column(("title", ColumnType::Text))
//!     .column(("author_id", ColumnType::Int)).primary_key("id")
//!     .foreign_key("author_id", "author", OnDelete::Cascade))?;
//!
//! db.transaction(|tx| {
//!     let a = tx.insert("author", Row::new().with("name", "Le Guin"))?;
//!     let id = a.get("id").cloned().unwrap_or_default();
//!     tx.insert("book", Row::new().with("title", "The Dispossessed").with("author_id", id))?;
//!     Ok::<_, lazarusdb::Error>(())
//! })?;
//!
//! assert_eq!(db.children("author", 1, "book")?.len(), 1);
//! assert_eq!(db.history("author", 1)?.len(), 1);
//! # Ok::<(), lazarusdb::Error>(())
//! ```
//!
//! The house, bottom up; each module imports only modules below it (`error` and `value`, the
//! ground floor, share their types), which a unit test keeps true (`layers::only_look_down`):
//!
//! ```text
//! feed                                    the change feed: Db::subscribe
//! export  db                              the facade: Db, import and export
//! txn                                     the write path: Transaction, its checks and staging
//! restore_to  as_of  read                 going back · reads as of a point · the Readable trait
//! restore  trash  cascade  checks  purge  planning restores · the trash · planning deletes · constraint checks · purge reports
//! store  compact  commit                  the store on disk (open, HWM, marker) · compaction · the commit pipeline
//! views  history  records                 applying events · the version index · the views' records
//! log  schema  codec  storage             events · tables and the catalog · keys and records · the engines
//! value  error                            values and rows · the error
//! ```
//!
//! See `docs/design.md` §1.

#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod as_of;
mod cascade;
mod checks;
mod codec;
mod commit;
mod compact;
mod db;
mod error;
mod export;
mod feed;
mod history;
mod log;
mod purge;
mod read;
mod records;
mod restore;
mod restore_to;
mod schema;
mod storage;
mod store;
mod trash;
mod txn;
mod value;
mod views;

pub use as_of::{AsOf, At};
pub use commit::Durability;
pub use compact::{BackupReport, CompactProgress, CompactReport};
pub use db::{Audit, Change, ChangeKind, Db, Snapshot, Stats};
pub use error::{Conflict, ConflictKind};
pub use error::{Constraint, Error, Result};
pub use feed::Subscription;
pub use log::{Event, EventBody, TxRecord};
pub use purge::{
    format_duration, parse_duration, PurgeReport, Retention, RetentionDue, RetentionReport,
};
pub use read::{IndexRange, Readable, Scan};
pub use restore::{RestorePlan, RestorePolicy, Skipped};
pub use restore_to::{ColumnChange, DiffKind, RewindPlan, RowDiff, Scope};
pub use schema::{
    parse_schema_document, parse_schema_file, schema_to_json, ColumnDef, ForeignKeyDef, IndexDef,
    OnDelete, SchemaFile, TableBuilder, TableDef, TableSpec,
};
pub use storage::EngineKind;
pub use store::{Clock, Options, DEFAULT_CACHE_BYTES, FORMAT_VERSION};
pub use trash::{DeletedRow, Deletion, MemberKind, TrashQuery, MAX_LISTED_ROOTS};
pub use txn::{CommitInfo, DeleteReport, Transaction, MAX_KEY_BYTES, MAX_PK_BYTES};
pub use value::RowRef;
pub use value::{ColumnType, Row, Timestamp, Value};
pub use views::VerifyReport;

/// The layers below the facade, for the fuzz targets and the benches (feature `internals`).
/// Not public API: its contents may change in any release.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod internals {
    pub use crate::codec::{keys, record, Space};
    pub use crate::log::{Event, EventBody, TxRecord};
    pub use crate::storage::fjall_engine::FjallEngine;
    pub use crate::storage::{Batch, Engine, ReadView};

    /// The view records' encodings.
    pub mod views {
        pub use crate::records::{
            decode_deletion, decode_member, decode_reserved, decode_retention, decode_row,
            encode_row, row_lsn, DeletionRecord, Member, StoredRow,
        };
    }
}

/// The README's quickstart, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod layers {
    //! The layer rule of the crate docs, checked over the source: no module imports a module
    //! above it.

    /// The modules, bottom up (`LAYERS` in the crate docs, read left to right per floor from
    /// the ground).
    const LAYERS: [&str; 26] = [
        "error",
        "value",
        "storage",
        "codec",
        "schema",
        "log",
        "records",
        "history",
        "views",
        "commit",
        "compact",
        "store",
        "purge",
        "checks",
        "cascade",
        "trash",
        "restore",
        "read",
        "as_of",
        "restore_to",
        "txn",
        "db",
        "export",
        "feed",
        "lib",
        "main",
    ];

    /// The modules of the crate that `code` refers to (`crate::x` in a `use` or a path),
    /// comments and test modules left out.
    fn referred(code: &str) -> Vec<String> {
        let code = match code.find("#[cfg(test)]\nmod tests") {
            Some(at) => &code[..at],
            None => code,
        };
        let mut out = Vec::new();
        for line in code.lines() {
            let line = line.split("//").next().unwrap_or_default();
            let mut rest = line;
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + "crate::".len()..];
                let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                    let end = group.find('}').unwrap_or(group.len());
                    group[..end].split(',').map(|n| n.trim()).collect()
                } else {
                    vec![rest]
                };
                for n in names {
                    let n: String = n
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    // a module name, not an item of a nested group
                    if n.starts_with(|c: char| c.is_ascii_lowercase()) {
                        out.push(n);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn only_look_down() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        let mut dirs = vec![src.clone()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    files.push(p);
                }
            }
        }
        let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
        let mut wrong = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for f in &files {
            let rel = f.strip_prefix(&src).unwrap();
            let module = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_str()
                .unwrap()
                .trim_end_matches(".rs")
                .to_string();
            let Some(me) = rank(&module) else {
                wrong.push(format!(
                    "{}: module `{module}` is not in LAYERS",
                    rel.display()
                ));
                continue;
            };
            seen.insert(module.clone());
            let code = std::fs::read_to_string(f).unwrap();
            for other in referred(&code) {
                let Some(it) = rank(&other) else { continue };
                let ground = ["error", "value"];
                if it > me
                    && !(ground.contains(&module.as_str()) && ground.contains(&other.as_str()))
                {
                    wrong.push(format!(
                        "{}: `{module}` imports `{other}`, above it",
                        rel.display()
                    ));
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "imports that run up:\n{}",
            wrong.join("\n")
        );
        // every module of the list exists (a renamed module updates the list)
        for m in LAYERS.iter().filter(|m| !["lib", "main"].contains(m)) {
            assert!(
                seen.contains(*m),
                "LAYERS names `{m}`, which is not a module of src/"
            );
        }
    }

    #[test]
    fn the_rule_catches_an_import_that_runs_up() {
        let code = "use crate::txn::Transaction;\nfn f() { crate::db::x(); }\n#[cfg(test)]\nmod tests { use crate::db; }";
        assert_eq!(referred(code), vec!["txn".to_string(), "db".to_string()]);
        assert_eq!(
            referred("use crate::{error::Error, value::{Row, Value}};"),
            vec!["error".to_string(), "value".to_string()]
        );
    }
}
