//! The one error type of the crate.
//!
//! Every fallible public function returns [`Result<T>`]. Each variant's documentation says what
//! the caller may assume and how to react. Unless a variant says otherwise, an error from a write
//! means **nothing was written**: the store is exactly as it was before the call.

use std::path::PathBuf;

use crate::value::RowRef;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which constraint a write broke.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Constraint {
    /// A live row already has this primary key.
    PrimaryKey,
    /// A live row already has these values in a unique constraint (named by its columns).
    Unique(Vec<String>),
    /// The referenced parent row is not live (missing or deleted).
    ForeignKey {
        /// The foreign-key column of the child table.
        column: String,
        /// The parent table.
        references: String,
    },
    /// A non-nullable column got an explicit null, or no value and no default.
    NotNull(String),
}

impl std::fmt::Display for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Constraint::PrimaryKey => write!(f, "primary key"),
            Constraint::Unique(cols) => write!(f, "unique ({})", cols.join(", ")),
            Constraint::ForeignKey { column, references } => {
                write!(f, "foreign key {column} -> {references}")
            }
            Constraint::NotNull(c) => write!(f, "not null ({c})"),
        }
    }
}

/// Why a row cannot be restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictKind {
    /// A live row now has the row's primary key.
    PrimaryKeyTaken,
    /// A live row now has one of the row's unique values.
    UniqueTaken,
    /// The row's parent is not live and not part of this restore.
    ParentNotLive,
    /// The row is not in this deletion's trash (already restored, or never part of it).
    NotInTrash,
    /// A set-null member is no longer live, so its reference cannot be put back.
    RowNotLive,
    /// A restore to a point would tombstone a row that a live row outside the scope references.
    ReferencedOutsideScope,
    /// An undo would overwrite a change made by a later transaction.
    ChangedLater,
    /// An undo met a schema change (schema changes are not undone).
    SchemaChange,
    /// A restore to a point (or an undo) would give a row a primary-key or unique value that
    /// the trash keeps reserved for a deleted row (a table with `trash_keeps_keys`).
    KeyReserved,
}

impl ConflictKind {
    /// A short name: `primary_key_taken`, `unique_taken`, `parent_not_live`, `not_in_trash`,
    /// `row_not_live`, `referenced_outside_scope`, `changed_later`, `schema_change`,
    /// `key_reserved`.
    pub fn name(self) -> &'static str {
        match self {
            ConflictKind::PrimaryKeyTaken => "primary_key_taken",
            ConflictKind::UniqueTaken => "unique_taken",
            ConflictKind::ParentNotLive => "parent_not_live",
            ConflictKind::NotInTrash => "not_in_trash",
            ConflictKind::RowNotLive => "row_not_live",
            ConflictKind::ReferencedOutsideScope => "referenced_outside_scope",
            ConflictKind::ChangedLater => "changed_later",
            ConflictKind::SchemaChange => "schema_change",
            ConflictKind::KeyReserved => "key_reserved",
        }
    }
}

/// One restore conflict.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The row that cannot come back as it was.
    pub row: RowRef,
    /// Why.
    pub kind: ConflictKind,
    /// Details (the clashing value, the missing parent).
    pub detail: String,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({})", self.row, self.kind.name(), self.detail)
    }
}

/// Every error lazarusdb reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The named table does not exist. Check the name or create the table first.
    #[error("unknown table `{0}`: create it first (see `schema show` for the tables that exist)")]
    UnknownTable(String),

    /// The named column does not exist in the table. Nothing was written.
    #[error("table `{table}` has no column `{column}`")]
    UnknownColumn {
        /// The table.
        table: String,
        /// The column that was named.
        column: String,
    },

    /// No index or unique constraint over these columns. Nothing was read.
    #[error("table `{table}` has no index over ({columns})")]
    UnknownIndex {
        /// The table.
        table: String,
        /// The columns, comma separated.
        columns: String,
    },

    /// A value does not have the column's type. Nothing was written.
    #[error("column `{table}.{column}` is {expected}, got {got}")]
    WrongType {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The column's declared type.
        expected: String,
        /// What was supplied.
        got: String,
    },

    /// A write broke a constraint. Nothing was written; fix the value or the conflicting row.
    #[error("{table}: {constraint} violated by {value}")]
    ConstraintViolation {
        /// The table written to.
        table: String,
        /// Which constraint.
        constraint: Constraint,
        /// The offending value, as JSON text.
        value: String,
    },

    /// No live row has this primary key (for an update, a delete or a required read).
    #[error("{table}: no live row with primary key {pk}")]
    NotFound {
        /// The table.
        table: String,
        /// The primary key, as JSON text.
        pk: String,
    },

    /// The schema (builder or file) is invalid. Nothing was written.
    #[error("invalid schema: {0}")]
    InvalidSchema(String),

    /// Some other input was malformed (a JSON row, a range, a name). Nothing was written.
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// The path holds something that is not a lazarusdb store. Nothing was changed there.
    #[error("{path}: {why}")]
    NotAStore {
        /// The path given to open.
        path: PathBuf,
        /// What was found instead.
        why: String,
    },

    /// The store was written by a newer lazarusdb (its format version is higher than this build
    /// reads). Upgrade lazarusdb; the store was not touched.
    #[error("the store uses format version {found}, this build reads up to {supported}: upgrade lazarusdb")]
    NewerFormat {
        /// Format version found on disk.
        found: u32,
        /// Highest version this build understands.
        supported: u32,
    },

    /// The store was created with another engine than the one asked for.
    #[error("the store was created with the {found} engine, not {requested}: open it with --engine {found}")]
    EngineMismatch {
        /// The engine recorded in the store.
        found: String,
        /// The engine requested at open.
        requested: String,
    },

    /// Another process (or another handle in this one) has the store open.
    #[error("the store at {0} is open in another process (or another handle): close it first")]
    Locked(PathBuf),

    /// Bytes on disk failed a check (checksum, framing, an impossible value). The operation was
    /// refused; the store should be verified and, if needed, rebuilt from its log.
    #[error("corrupted store data ({place}): {why}")]
    Corrupted {
        /// Where (keyspace, key, file).
        place: String,
        /// What was wrong.
        why: String,
    },

    /// A transaction is already open on this thread; a second one would wait for itself forever.
    /// Commit or drop the first one.
    #[error("a write transaction is already open on this thread: commit or drop it first")]
    NestedTransaction,

    /// An earlier storage failure (a failed write or flush) left the store refusing writes so
    /// that nothing is silently lost. Reopen the store.
    #[error("the store refuses writes after an earlier storage failure: reopen it ({0})")]
    Poisoned(String),

    /// The storage engine failed. Nothing of the operation was acknowledged.
    #[error("storage engine error: {0}")]
    Storage(String),

    /// An I/O error, with its source kept.
    #[error("i/o error at {path}: {source}")]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The row is not live because it is in the trash, in the named deletion. Restore that
    /// deletion (or the row) first.
    #[error("{table}: the row with primary key {pk} is already deleted (in deletion {deletion})")]
    AlreadyDeleted {
        /// The table.
        table: String,
        /// The primary key, as JSON text.
        pk: String,
        /// The deletion holding the row.
        deletion: uuid::Uuid,
    },

    /// A delete was refused because live rows reference the row through a foreign key with
    /// `on_delete = restrict`. Nothing was written; delete or re-point the blocking rows first.
    #[error("{table} {pk} cannot be deleted: referenced by {} row(s) with on_delete = restrict: {}", blocking.len(), blocking.join(", "))]
    DeleteRestricted {
        /// The table of the row to delete.
        table: String,
        /// Its primary key, as JSON text.
        pk: String,
        /// The blocking rows, as `table pk`.
        blocking: Vec<String>,
    },

    /// No deletion with this id exists (it may be a typo, or purged and forgotten).
    #[error("no deletion {0}: list the trash to see the deletions that exist")]
    UnknownDeletion(uuid::Uuid),

    /// The data asked for was purged for good (a purge, an erase or a retention policy removed
    /// it). The purge's own record (`lazarus log`) says when, who and why.
    #[error("{0} was purged: its values are gone for good (the purge record in the log says when, who and why)")]
    Purged(String),

    /// An as-of read before the history window of a table: versions older than the window are
    /// dropped by its retention policy. Read a later point, or widen the window.
    #[error(
        "as-of read of `{table}` before its history window ({window}): {why}; read a later point"
    )]
    HistoryExpired {
        /// The table.
        table: String,
        /// The window, e.g. `30d`.
        window: String,
        /// What was asked.
        why: String,
    },

    /// Every row of this deletion has already been restored.
    #[error("deletion {0} has already been restored")]
    AlreadyRestored(uuid::Uuid),

    /// A restore was refused because of conflicts; every one is listed. Nothing was written.
    /// Resolve them, or restore with the skip policy to leave the conflicting rows (and the rows
    /// that depend on them) in the trash.
    #[error("restore of deletion {deletion} refused: {} conflict(s): {}", conflicts.len(), conflicts.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("; "))]
    RestoreConflict {
        /// The deletion.
        deletion: uuid::Uuid,
        /// Every conflict found.
        conflicts: Vec<Conflict>,
    },

    /// A restore to a point, or an undo, was refused because of conflicts; every one is listed.
    /// Nothing was written. Resolve them, or (for an undo) force it.
    #[error("{what} refused: {} conflict(s): {}", conflicts.len(), conflicts.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("; "))]
    RewindConflict {
        /// What was refused (`restore to lsn N`, `undo of transaction T`).
        what: String,
        /// Every conflict found.
        conflicts: Vec<Conflict>,
    },

    /// The value is kept reserved by a trashed row of a table whose trash keeps its keys.
    /// Purge or restore that deletion first, or use another value.
    #[error("{table}: {value} is reserved by a deleted row (deletion {deletion}); its table keeps trashed keys until purged")]
    KeyReserved {
        /// The table.
        table: String,
        /// The reserved value, as JSON text.
        value: String,
        /// The deletion keeping it.
        deletion: uuid::Uuid,
    },

    /// The table's integer primary keys are used up: the store assigns the largest key ever
    /// inserted + 1, and a row with key `i64::MAX - 1` was inserted, so no larger key is left
    /// to assign. Nothing was written; give keys explicitly (any unused key below `i64::MAX`
    /// still works).
    #[error("table `{table}`: its assigned primary keys are used up (a row has key {}, the largest a key may be); give the key explicitly", i64::MAX - 1)]
    KeysExhausted {
        /// The table.
        table: String,
    },

    /// The engine's log ends before a commit that was durably acknowledged: the engine lost data
    /// (damage inside its journal or data file makes it stop at the first bad record). The store
    /// was not opened; restore it from a backup or an exported log.
    #[error("data loss: the store's log ends at LSN {found}, but LSN {durable} was durably committed (the engine's files are damaged): restore from a backup")]
    DataLoss {
        /// The last LSN the engine still holds.
        found: u64,
        /// The last LSN recorded as durable beside the store.
        durable: u64,
    },

    /// The store has been closed or its commit pipeline has stopped.
    #[error("the store is closed")]
    Closed,
}

impl Error {
    /// A stable, machine-readable name of the error's kind (`unknown_table`, `not_found`,
    /// `constraint_violation`, `corrupted`, …): the variant's name in snake case, for scripts
    /// and the CLI's `--json` errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::UnknownTable(..) => "unknown_table",
            Error::UnknownColumn { .. } => "unknown_column",
            Error::UnknownIndex { .. } => "unknown_index",
            Error::WrongType { .. } => "wrong_type",
            Error::ConstraintViolation { .. } => "constraint_violation",
            Error::NotFound { .. } => "not_found",
            Error::InvalidSchema(..) => "invalid_schema",
            Error::InvalidInput(..) => "invalid_input",
            Error::NotAStore { .. } => "not_a_store",
            Error::NewerFormat { .. } => "newer_format",
            Error::EngineMismatch { .. } => "engine_mismatch",
            Error::Locked(..) => "locked",
            Error::Corrupted { .. } => "corrupted",
            Error::NestedTransaction => "nested_transaction",
            Error::Poisoned(..) => "poisoned",
            Error::Storage(..) => "storage",
            Error::Io { .. } => "io",
            Error::AlreadyDeleted { .. } => "already_deleted",
            Error::DeleteRestricted { .. } => "delete_restricted",
            Error::UnknownDeletion(..) => "unknown_deletion",
            Error::Purged(..) => "purged",
            Error::HistoryExpired { .. } => "history_expired",
            Error::AlreadyRestored(..) => "already_restored",
            Error::RestoreConflict { .. } => "restore_conflict",
            Error::RewindConflict { .. } => "rewind_conflict",
            Error::KeyReserved { .. } => "key_reserved",
            Error::KeysExhausted { .. } => "keys_exhausted",
            Error::DataLoss { .. } => "data_loss",
            Error::Closed => "closed",
        }
    }

    /// Shorthand for an [`Error::InvalidInput`].
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidInput(msg.into())
    }

    /// Shorthand for an [`Error::InvalidSchema`].
    pub(crate) fn schema(msg: impl Into<String>) -> Self {
        Error::InvalidSchema(msg.into())
    }

    /// Shorthand for an [`Error::Corrupted`].
    pub(crate) fn corrupted(place: impl Into<String>, why: impl Into<String>) -> Self {
        Error::Corrupted {
            place: place.into(),
            why: why.into(),
        }
    }

    /// Wraps an I/O error with its path.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
