//! Bytes on disk: the key layout, the order-preserving value encoding, and the record envelope.
//!
//! The store is split into keyspaces ([`Space`]); within each, keys are built here and nowhere
//! else. Layout (all integers fixed-width big-endian; `pk` and `vals` use [`keys`]):
//!
//! | space  | key                                   | value                               |
//! |--------|---------------------------------------|-------------------------------------|
//! | meta   | UTF-8 name (`format`, `engine`, `table/<id>`, `seq/<id>`, `schema/<lsn>`) | small records |
//! | log    | lsn u64                               | event record                        |
//! | tx     | tx u64                                | transaction record                  |
//! | rows   | table u32, pk                         | row record (lsn of version, image)  |
//! | index  | table u32, index u32, vals, pk        | empty                               |
//! | hist   | table u32, pk, lsn u64                | one byte: the event kind            |
//! | del    | deletion uuid (16 bytes)              | deletion record                     |
//! | dead   | table u32, pk                         | deletion uuid, lsn of last image    |
//! | delrows| deletion uuid, table u32, pk          | member kind byte, lsn of last image, lsn of tombstone |
//! | reserved | table u32, index u32, vals, pk      | deletion uuid                       |
//!
//! The log and tx spaces are the source of truth; rows, index, hist and the catalog entries in
//! meta are views that a rebuild recomputes from them.

pub mod keys;
pub mod record;

pub use crate::storage::Space;

/// Key of an event in the log.
pub fn log_key(lsn: u64) -> [u8; 8] {
    lsn.to_be_bytes()
}

/// Key of a transaction record.
pub fn tx_key(tx: u64) -> [u8; 8] {
    tx.to_be_bytes()
}

/// Reads a u64 key (log or tx space).
pub fn read_u64_key(key: &[u8]) -> Option<u64> {
    let arr: [u8; 8] = key.try_into().ok()?;
    Some(u64::from_be_bytes(arr))
}

/// Prefix of every rows-space key of a table.
pub fn table_prefix(table: u32) -> Vec<u8> {
    table.to_be_bytes().to_vec()
}

/// Key of a live row.
pub fn row_key(table: u32, pk_enc: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + pk_enc.len());
    k.extend_from_slice(&table.to_be_bytes());
    k.extend_from_slice(pk_enc);
    k
}

/// Prefix of every entry of one index.
pub fn index_prefix(table: u32, index: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(8);
    k.extend_from_slice(&table.to_be_bytes());
    k.extend_from_slice(&index.to_be_bytes());
    k
}

/// Key of one index entry: the indexed values, then the row's primary key.
pub fn index_key(table: u32, index: u32, vals_enc: &[u8], pk_enc: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + vals_enc.len() + pk_enc.len());
    k.extend_from_slice(&table.to_be_bytes());
    k.extend_from_slice(&index.to_be_bytes());
    k.extend_from_slice(vals_enc);
    k.extend_from_slice(pk_enc);
    k
}

/// Key of one version of a row in the history index.
pub fn hist_key(table: u32, pk_enc: &[u8], lsn: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(12 + pk_enc.len());
    k.extend_from_slice(&table.to_be_bytes());
    k.extend_from_slice(pk_enc);
    k.extend_from_slice(&lsn.to_be_bytes());
    k
}

/// Key of one version of a row in the history index, from the row's key in the rows view
/// (table and primary key): the same layout as [`hist_key`].
pub fn row_hist_key(row_key: &[u8], lsn: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(row_key.len() + 8);
    k.extend_from_slice(row_key);
    k.extend_from_slice(&lsn.to_be_bytes());
    k
}

/// The LSN at the end of a history-index key.
pub fn hist_lsn(key: &[u8]) -> crate::error::Result<u64> {
    key.len()
        .checked_sub(8)
        .and_then(|p| key.get(p..))
        .and_then(read_u64_key)
        .ok_or_else(|| crate::error::Error::corrupted("hist", "short key"))
}

/// Key of a deletion record.
pub fn del_key(deletion: &uuid::Uuid) -> [u8; 16] {
    *deletion.as_bytes()
}

/// Key of one member of a deletion.
pub fn delrow_key(deletion: &uuid::Uuid, table: u32, pk_enc: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(20 + pk_enc.len());
    k.extend_from_slice(deletion.as_bytes());
    k.extend_from_slice(&table.to_be_bytes());
    k.extend_from_slice(pk_enc);
    k
}

/// Meta key of a table definition in the catalog view.
pub fn table_def_key(table: u32) -> Vec<u8> {
    let mut k = b"table/".to_vec();
    k.extend_from_slice(&table.to_be_bytes());
    k
}

/// Meta key of a table's primary-key sequence (the next integer key to hand out).
pub fn seq_key(table: u32) -> [u8; 8] {
    let [a, b, c, d] = table.to_be_bytes();
    [b's', b'e', b'q', b'/', a, b, c, d]
}

/// Meta key of the LSN of the last event that rewrote history (a purge or a pruning): a
/// checkpoint made before it may hold what was purged.
pub const META_LAST_PURGE: &[u8] = b"last_purge";
/// Meta key, in a compaction's copy of the store, of the compaction's id (16 bytes): the
/// `COMPACTED` marker names it, so that an open swaps in only the copy the marker vouches for.
pub const META_COMPACTION: &[u8] = b"compaction";
/// Meta key, in a checkpoint's own copy of the meta space, of the LSN it was made at.
pub const META_CHECKPOINT_LSN: &[u8] = b"checkpoint_lsn";

/// Meta prefix of the purged-deletion marks.
pub const META_PURGED_PREFIX: &[u8] = b"purged/";
/// Meta prefix of the retention policies.
pub const META_RETENTION_PREFIX: &[u8] = b"retention/";
/// Meta prefix of the history horizons (LSN before which a table's as-of reads are refused).
pub const META_HORIZON_PREFIX: &[u8] = b"horizon/";

/// Meta key marking a deletion as purged (value: the LSN of the purge).
pub fn purged_key(deletion: &uuid::Uuid) -> Vec<u8> {
    let mut k = META_PURGED_PREFIX.to_vec();
    k.extend_from_slice(deletion.as_bytes());
    k
}

/// Meta key of a retention policy: a table's, or (`None`) the store's.
pub fn retention_key(table: Option<u32>) -> Vec<u8> {
    let mut k = META_RETENTION_PREFIX.to_vec();
    match table {
        Some(t) => k.extend_from_slice(&t.to_be_bytes()),
        None => k.extend_from_slice(b"store"),
    }
    k
}

/// Meta key of a table's history horizon.
pub fn horizon_key(table: u32) -> Vec<u8> {
    let mut k = META_HORIZON_PREFIX.to_vec();
    k.extend_from_slice(&table.to_be_bytes());
    k
}

/// Meta key marking the LSN of a schema event (the index `catalog_at` replays).
pub fn schema_key(lsn: u64) -> Vec<u8> {
    let mut k = META_SCHEMA_PREFIX.to_vec();
    k.extend_from_slice(&lsn.to_be_bytes());
    k
}

/// Meta prefix of the schema-event index.
pub const META_SCHEMA_PREFIX: &[u8] = b"schema/";

/// Meta key holding the store format version.
pub const META_FORMAT: &[u8] = b"format";
/// Meta key holding the engine name.
pub const META_ENGINE: &[u8] = b"engine";
/// Meta prefix of catalog entries.
pub const META_TABLE_PREFIX: &[u8] = b"table/";
/// Meta prefix of sequences.
pub const META_SEQ_PREFIX: &[u8] = b"seq/";

#[cfg(test)]
mod tests {
    #[test]
    fn a_hist_key_from_a_row_key_is_the_hist_key() {
        let pk = super::keys::encode_one(&crate::value::Value::Int(-7));
        let row = super::row_key(3, &pk);
        assert_eq!(super::row_hist_key(&row, 42), super::hist_key(3, &pk, 42));
        assert_eq!(super::hist_lsn(&super::row_hist_key(&row, 42)).unwrap(), 42);
    }
}
