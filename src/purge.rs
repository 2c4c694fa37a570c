//! Purge, erase and retention: the only ways data leaves the store (see `docs/design.md` §11).
//!
//! A purge rewrites, in the log, every event that carried an image of the purged row into an
//! `ImagePurged` record (same LSN and transaction, no values) and marks its
//! version-index entry the same way; the views drop the row from the trash. Retention applies
//! the same rewriting to old versions that are not a row's latest image.

use crate::value::RowRef;

/// Re-exported policy type.
pub use crate::schema::{format_duration, parse_duration, Retention};

/// What a purge or an erase removed.
#[derive(Debug, Clone, PartialEq)]
pub struct PurgeReport {
    /// The deletion purged (an erase of a live row deletes it first: that deletion).
    pub deletion: uuid::Uuid,
    /// The rows whose every image was purged.
    pub rows: Vec<RowRef>,
    /// Log events rewritten (row images removed).
    pub images: u64,
    /// Other deletions purged with it: an erase also purges the deletions that hold earlier
    /// lives of the same key in their trash.
    pub also: Vec<uuid::Uuid>,
}

/// What [`crate::Db::apply_retention`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetentionReport {
    /// Deletions purged because they were older than their window.
    pub purged: Vec<PurgeReport>,
    /// Tables whose old versions were dropped: (table, new horizon LSN, images removed).
    pub pruned: Vec<(String, u64, u64)>,
}

/// What [`crate::Db::retention_due`] finds due under the retention policies.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetentionDue {
    /// Deletions older than their window, to be purged.
    pub deletions: Vec<uuid::Uuid>,
    /// Tables whose history is to be pruned: (table, the oldest LSN it will keep).
    pub prunes: Vec<(String, u64)>,
}
