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
//! Layers, bottom up (each only looks down): see `docs/design.md` §1.

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
mod codec;
mod commit;
mod compact;
mod db;
mod error;
mod export;
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
pub use compact::{CompactProgress, CompactReport};
pub use db::{Audit, Change, ChangeKind, Db, Snapshot, Stats};
pub use error::{Conflict, ConflictKind};
pub use error::{Constraint, Error, Result};
pub use log::{Event, EventBody, TxRecord};
pub use purge::{format_duration, parse_duration, PurgeReport, Retention, RetentionReport};
pub use read::{IndexRange, Readable, Scan};
pub use restore::{RestorePlan, RestorePolicy, Skipped};
pub use restore_to::{ColumnChange, DiffKind, RewindPlan, RowDiff, Scope};
pub use schema::{
    parse_schema_document, parse_schema_file, schema_to_json, ColumnDef, ForeignKeyDef, IndexDef,
    OnDelete, SchemaFile, TableBuilder, TableDef, TableSpec,
};
pub use storage::EngineKind;
pub use store::{Clock, Options, FORMAT_VERSION};
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
