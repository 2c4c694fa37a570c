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

pub mod image;
pub mod keys;
pub mod record;

pub use crate::storage::Space;

use crate::error::{Error, Result};

/// A key of the store, decoded: one variant per space (meta keys stay bytes). Keys are built by
/// the functions below and read back only through [`Key::decode`] and the part readers beside
/// it: nothing outside the codec slices key bytes. A key too short for its space, or that does
/// not parse, is [`Error::Corrupted`] naming the space, never a default value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// `meta`: a name (`format`, `table/<id>`, ...).
    Meta(&'a [u8]),
    /// `log`: an LSN.
    Log(u64),
    /// `tx`: a transaction id.
    Tx(u64),
    /// `rows`: a live row.
    Row {
        /// The table.
        table: u32,
        /// The encoded primary key.
        pk: &'a [u8],
    },
    /// `index` (and `reserved`): an index entry, the encoded values then the primary key.
    Index {
        /// The table.
        table: u32,
        /// The index.
        index: u32,
        /// The encoded indexed values followed by the encoded primary key.
        entry: &'a [u8],
    },
    /// `hist`: one version of a row.
    Hist {
        /// The table.
        table: u32,
        /// The encoded primary key.
        pk: &'a [u8],
        /// The LSN of the version's event.
        lsn: u64,
    },
    /// `del`: a deletion.
    Del(uuid::Uuid),
    /// `dead`: a trashed row.
    Dead {
        /// The table.
        table: u32,
        /// The encoded primary key.
        pk: &'a [u8],
    },
    /// `delrows`: a member of a deletion.
    DelRow {
        /// The deletion.
        deletion: uuid::Uuid,
        /// The table.
        table: u32,
        /// The encoded primary key.
        pk: &'a [u8],
    },
}

fn short(space: Space) -> Error {
    Error::corrupted(space.name(), "a key too short for its space")
}

/// Ids below this take one byte in a key (format 4).
const ONE_BYTE_IDS: u32 = 0xF0;

/// Appends a table or index id to a key in the fewest bytes that keep its order (format 4): an
/// id below 0xF0 as that byte; a larger one as `0xF0 + k` and its `k` low bytes big-endian, `k`
/// (1–4) the fewest that hold it.
fn put_id(k: &mut Vec<u8>, id: u32) {
    if id < ONE_BYTE_IDS {
        // below 0xF0: the cast is exact
        k.push(id as u8);
    } else {
        let n = 4 - id.leading_zeros() as usize / 8;
        // n <= 4: exact
        k.push(0xF0 + n as u8);
        let bytes = id.to_be_bytes();
        k.extend_from_slice(bytes.get(4 - n..).unwrap_or(&bytes));
    }
}

/// Reads what [`put_id`] wrote; an id not in its shortest form is `Corrupted`.
fn take_id(space: Space, bytes: &[u8]) -> Result<(u32, &[u8])> {
    let (&head, rest) = bytes.split_first().ok_or_else(|| short(space))?;
    if u32::from(head) < ONE_BYTE_IDS {
        return Ok((u32::from(head), rest));
    }
    let n = usize::from(head - 0xF0);
    if !(1..=4).contains(&n) || rest.len() < n {
        return Err(short(space));
    }
    let (body, rest) = rest.split_at(n);
    let id = body.iter().fold(0u32, |id, &b| (id << 8) | u32::from(b));
    // the shortest form: one byte below 0xF0, else as many as the id needs
    if id < ONE_BYTE_IDS || 4 - id.leading_zeros() as usize / 8 != n {
        return Err(Error::corrupted(
            space.name(),
            "a table or index id not in its shortest form",
        ));
    }
    Ok((id, rest))
}

fn take_uuid(space: Space, bytes: &[u8]) -> Result<(uuid::Uuid, &[u8])> {
    let head = bytes.get(..16).ok_or_else(|| short(space))?;
    let id = <[u8; 16]>::try_from(head).map_err(|_| short(space))?;
    Ok((
        uuid::Uuid::from_bytes(id),
        bytes.get(16..).unwrap_or_default(),
    ))
}

fn u64_of(space: Space, bytes: &[u8]) -> Result<u64> {
    read_u64_key(bytes).ok_or_else(|| Error::corrupted(space.name(), "a key is not 8 bytes"))
}

impl<'a> Key<'a> {
    /// Decodes a key read from `space`.
    pub fn decode(space: Space, bytes: &'a [u8]) -> Result<Key<'a>> {
        Ok(match space {
            Space::Meta => Key::Meta(bytes),
            Space::Log => Key::Log(u64_of(space, bytes)?),
            Space::Tx => Key::Tx(u64_of(space, bytes)?),
            Space::Rows | Space::Dead => {
                let (table, pk) = take_id(space, bytes)?;
                if pk.is_empty() {
                    return Err(short(space));
                }
                if space == Space::Rows {
                    Key::Row { table, pk }
                } else {
                    Key::Dead { table, pk }
                }
            }
            Space::Index | Space::Reserved => {
                let (table, rest) = take_id(space, bytes)?;
                let (index, entry) = take_id(space, rest)?;
                Key::Index {
                    table,
                    index,
                    entry,
                }
            }
            Space::Hist => {
                let (table, rest) = take_id(space, bytes)?;
                let split = rest.len().checked_sub(8).ok_or_else(|| short(space))?;
                let (pk, lsn) = rest.split_at(split);
                if pk.is_empty() {
                    return Err(short(space));
                }
                Key::Hist {
                    table,
                    pk,
                    lsn: u64_of(space, lsn)?,
                }
            }
            Space::Del => {
                let (id, rest) = take_uuid(space, bytes)?;
                if !rest.is_empty() {
                    return Err(Error::corrupted(space.name(), "a key is not 16 bytes"));
                }
                Key::Del(id)
            }
            Space::DelRows => {
                let (deletion, rest) = take_uuid(space, bytes)?;
                let (table, pk) = take_id(space, rest)?;
                if pk.is_empty() {
                    return Err(short(space));
                }
                Key::DelRow {
                    deletion,
                    table,
                    pk,
                }
            }
        })
    }

    /// The key's bytes (integers big-endian, so byte order is logical order).
    pub fn encode(&self) -> Vec<u8> {
        let mut k = Vec::new();
        self.encode_into(&mut k);
        k
    }

    /// [`Key::encode`], appended to `k` (many keys in one buffer: one allocation for all).
    pub fn encode_into(&self, k: &mut Vec<u8>) {
        match *self {
            Key::Meta(name) => k.extend_from_slice(name),
            Key::Log(n) | Key::Tx(n) => k.extend_from_slice(&n.to_be_bytes()),
            Key::Row { table, pk } | Key::Dead { table, pk } => {
                k.reserve(5 + pk.len());
                put_id(k, table);
                k.extend_from_slice(pk);
            }
            Key::Index {
                table,
                index,
                entry,
            } => {
                k.reserve(10 + entry.len());
                put_id(k, table);
                put_id(k, index);
                k.extend_from_slice(entry);
            }
            Key::Hist { table, pk, lsn } => {
                k.reserve(13 + pk.len());
                put_id(k, table);
                k.extend_from_slice(pk);
                k.extend_from_slice(&lsn.to_be_bytes());
            }
            Key::Del(id) => k.extend_from_slice(id.as_bytes()),
            Key::DelRow {
                deletion,
                table,
                pk,
            } => {
                k.reserve(21 + pk.len());
                k.extend_from_slice(deletion.as_bytes());
                put_id(k, table);
                k.extend_from_slice(pk);
            }
        }
    }
}

/// (table, encoded primary key) of a `rows` or `dead` key.
pub fn row_parts(space: Space, key: &[u8]) -> Result<(u32, &[u8])> {
    match Key::decode(space, key)? {
        Key::Row { table, pk } | Key::Dead { table, pk } => Ok((table, pk)),
        _ => Err(Error::corrupted(space.name(), "not a row key")),
    }
}

/// (table, encoded primary key, LSN) of a `hist` key.
pub fn hist_parts(key: &[u8]) -> Result<(u32, &[u8], u64)> {
    match Key::decode(Space::Hist, key)? {
        Key::Hist { table, pk, lsn } => Ok((table, pk, lsn)),
        _ => Err(Error::corrupted("hist", "not a version key")),
    }
}

/// A `hist` key split into the row's key (table and primary key, as in `rows`) and the LSN.
pub fn hist_split(key: &[u8]) -> Result<(&[u8], u64)> {
    let (_, _, lsn) = hist_parts(key)?;
    let row = key.get(..key.len() - 8).unwrap_or_default();
    Ok((row, lsn))
}

/// The table a `rows`, `dead`, `hist`, `index` or `reserved` key (or a prefix of one holding at
/// least the table) starts with.
pub fn table_of(key: &[u8]) -> Option<u32> {
    take_id(Space::Rows, key).ok().map(|(t, _)| t)
}

/// (deletion, table, encoded primary key) of a `delrows` key.
pub fn delrow_parts(key: &[u8]) -> Result<(uuid::Uuid, u32, &[u8])> {
    match Key::decode(Space::DelRows, key)? {
        Key::DelRow {
            deletion,
            table,
            pk,
        } => Ok((deletion, table, pk)),
        _ => Err(Error::corrupted("delrows", "not a member key")),
    }
}

/// What follows `prefix` in a key a prefix scan of `space` returned (for an index scan over
/// whole values: the primary key of the entry). A key that does not start with the prefix is
/// `Corrupted`.
pub fn after_prefix<'k>(space: Space, key: &'k [u8], prefix: &[u8]) -> Result<&'k [u8]> {
    match key.strip_prefix(prefix) {
        Some(rest) if !rest.is_empty() => Ok(rest),
        _ => Err(Error::corrupted(
            space.name(),
            "a key found under a prefix does not continue it",
        )),
    }
}

/// The encoded primary key at the end of an `index` (or `reserved`) key with `ncols` indexed
/// values.
pub fn index_entry_pk(space: Space, key: &[u8], ncols: usize) -> Result<&[u8]> {
    let Key::Index { entry, .. } = Key::decode(space, key)? else {
        return Err(Error::corrupted(space.name(), "not an index key"));
    };
    let mut rest = entry;
    for _ in 0..ncols {
        keys::decode_value(&mut rest)?;
    }
    if rest.is_empty() {
        return Err(short(space));
    }
    Ok(rest)
}

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
    let mut k = Vec::with_capacity(5);
    put_id(&mut k, table);
    k
}

/// Key of a live row (and, in `dead`, of a trashed one).
pub fn row_key(table: u32, pk_enc: &[u8]) -> Vec<u8> {
    Key::Row { table, pk: pk_enc }.encode()
}

/// Prefix of every entry of one index.
pub fn index_prefix(table: u32, index: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(10);
    put_id(&mut k, table);
    put_id(&mut k, index);
    k
}

/// Key of one index entry: the indexed values, then the row's primary key.
pub fn index_key(table: u32, index: u32, vals_enc: &[u8], pk_enc: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(10 + vals_enc.len() + pk_enc.len());
    put_id(&mut k, table);
    put_id(&mut k, index);
    k.extend_from_slice(vals_enc);
    k.extend_from_slice(pk_enc);
    k
}

/// The bit of the index id that marks a past index entry (design §4): a table's past entries
/// sort after all its live ones, and no live index id has it.
pub const PAST_INDEX_BIT: u32 = 0x8000_0000;

/// Prefix of every past entry of one index.
pub fn past_index_prefix(table: u32, index: u32) -> Vec<u8> {
    index_prefix(table, index | PAST_INDEX_BIT)
}

/// Key of the past entry of one version of a row (at `lsn`) in one index.
pub fn past_index_key(table: u32, index: u32, vals_enc: &[u8], pk_enc: &[u8], lsn: u64) -> Vec<u8> {
    let mut k = index_key(table, index | PAST_INDEX_BIT, vals_enc, pk_enc);
    k.extend_from_slice(&lsn.to_be_bytes());
    k
}

/// The table and index ids an `index` key (or a prefix of one holding at least both) starts
/// with, and what follows them; `None` when it holds less.
pub fn index_ids(key: &[u8]) -> Option<(u32, u32, &[u8])> {
    let (table, rest) = take_id(Space::Index, key).ok()?;
    let (index, rest) = take_id(Space::Index, rest).ok()?;
    Some((table, index, rest))
}

/// Whether an `index` key is a past entry.
pub fn is_past_index_key(key: &[u8]) -> bool {
    index_ids(key).is_some_and(|(_, index, _)| index & PAST_INDEX_BIT != 0)
}

/// An `index` key (or a prefix of one holding at least table and index) with the index id's
/// past bit set: where the index's past entries for the same values start. A key too short to
/// hold both ids is returned as it is.
pub fn to_past_index_key(key: &[u8]) -> Vec<u8> {
    match index_ids(key) {
        Some((table, index, rest)) => index_key(table, index | PAST_INDEX_BIT, rest, &[]),
        None => key.to_vec(),
    }
}

/// (the key of the live entry it stands for, LSN of the version) of a past index entry: the
/// live key has the index id without its past bit and no LSN.
pub fn past_index_parts(key: &[u8]) -> Result<(Vec<u8>, u64)> {
    let Key::Index {
        table,
        index,
        entry,
    } = Key::decode(Space::Index, key)?
    else {
        return Err(Error::corrupted("index", "not an index key"));
    };
    if index & PAST_INDEX_BIT == 0 {
        return Err(Error::corrupted("index", "not a past index entry"));
    }
    let split = entry
        .len()
        .checked_sub(8)
        .ok_or_else(|| short(Space::Index))?;
    let (rest, lsn) = entry.split_at(split);
    let lsn = u64_of(Space::Index, lsn)?;
    Ok((index_key(table, index & !PAST_INDEX_BIT, rest, &[]), lsn))
}

/// Key of one version of a row in the history index.
pub fn hist_key(table: u32, pk_enc: &[u8], lsn: u64) -> Vec<u8> {
    Key::Hist {
        table,
        pk: pk_enc,
        lsn,
    }
    .encode()
}

/// Key of one version of a row in the history index, from the row's key in the rows view
/// (table and primary key): the same layout as [`hist_key`].
#[cfg(test)]
pub fn row_hist_key(row_key: &[u8], lsn: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(row_key.len() + 8);
    k.extend_from_slice(row_key);
    k.extend_from_slice(&lsn.to_be_bytes());
    k
}

/// The LSN at the end of a history-index key.
pub fn hist_lsn(key: &[u8]) -> Result<u64> {
    hist_parts(key).map(|(_, _, lsn)| lsn)
}

/// Key of a deletion record.
pub fn del_key(deletion: &uuid::Uuid) -> [u8; 16] {
    *deletion.as_bytes()
}

/// Key of one member of a deletion.
pub fn delrow_key(deletion: &uuid::Uuid, table: u32, pk_enc: &[u8]) -> Vec<u8> {
    Key::DelRow {
        deletion: *deletion,
        table,
        pk: pk_enc,
    }
    .encode()
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
/// Meta prefix of catalog entries (the storage layer knows it too: a store shared between
/// processes keeps a stamp of its catalog, see [`crate::storage::CATALOG_PREFIX`]).
pub const META_TABLE_PREFIX: &[u8] = crate::storage::CATALOG_PREFIX;
/// Meta prefix of sequences.
pub const META_SEQ_PREFIX: &[u8] = b"seq/";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_decodes_to_what_built_it_and_short_keys_are_corrupted() {
        let pk = keys::encode_one(&crate::value::Value::Int(-7));
        let d = uuid::Uuid::from_u128(0x0190_c0de_0000_7000_8000_0000_0000_0001);
        let cases: Vec<(Space, Key)> = vec![
            (Space::Meta, Key::Meta(b"format")),
            (Space::Log, Key::Log(9)),
            (Space::Tx, Key::Tx(4)),
            (Space::Rows, Key::Row { table: 3, pk: &pk }),
            (Space::Dead, Key::Dead { table: 3, pk: &pk }),
            (
                Space::Index,
                Key::Index {
                    table: 3,
                    index: 1,
                    entry: &pk,
                },
            ),
            (
                Space::Hist,
                Key::Hist {
                    table: 3,
                    pk: &pk,
                    lsn: 42,
                },
            ),
            (Space::Del, Key::Del(d)),
            (
                Space::DelRows,
                Key::DelRow {
                    deletion: d,
                    table: 3,
                    pk: &pk,
                },
            ),
        ];
        for (space, key) in cases {
            let bytes = key.encode();
            assert_eq!(Key::decode(space, &bytes).unwrap(), key, "{space:?}");
            if space != Space::Meta {
                let short = &bytes[..1];
                let e = Key::decode(space, short).unwrap_err();
                assert!(matches!(e, Error::Corrupted { .. }), "{space:?}: {e}");
            }
        }
        assert_eq!(
            row_parts(Space::Rows, &row_key(3, &pk)).unwrap(),
            (3, &pk[..])
        );
        assert!(row_parts(Space::Rows, &[3]).is_err());
        assert!(after_prefix(Space::Index, b"abc", b"abd").is_err());
        assert_eq!(after_prefix(Space::Index, b"abcd", b"ab").unwrap(), b"cd");
        let entry = index_key(3, 1, &keys::encode_one(&"x".into()), &pk);
        assert_eq!(index_entry_pk(Space::Index, &entry, 1).unwrap(), &pk[..]);
        assert!(index_entry_pk(Space::Index, &entry, 2).is_err());
    }

    #[test]
    fn ids_take_one_byte_below_240_and_keep_their_order() {
        let ids = [
            0u32,
            1,
            239,
            240,
            255,
            256,
            65_535,
            65_536,
            PAST_INDEX_BIT - 1,
            PAST_INDEX_BIT,
            PAST_INDEX_BIT | 1,
            u32::MAX,
        ];
        let pk = keys::encode_one(&crate::value::Value::Int(5));
        let encoded: Vec<Vec<u8>> = ids.iter().map(|&t| row_key(t, &pk)).collect();
        for (&t, k) in ids.iter().zip(&encoded) {
            assert_eq!(row_parts(Space::Rows, k).unwrap(), (t, &pk[..]));
        }
        assert!(encoded.windows(2).all(|w| w[0] < w[1]), "{encoded:?}");
        assert_eq!(table_prefix(7), [7]);
        assert_eq!(index_prefix(7, 2), [7, 2]);
        assert_eq!(table_prefix(300), [0xF2, 1, 44]);
        // a table's past entries sort after all its live ones, and are told apart
        let live = index_key(7, 2, &pk, &pk);
        let past = past_index_key(7, 2, &pk, &pk, 9);
        assert!(live < past && index_key(7, 200, &pk, &pk) < past);
        assert!(past < index_key(8, 1, &pk, &pk));
        assert!(!is_past_index_key(&live) && is_past_index_key(&past));
        assert_eq!(
            to_past_index_key(&index_prefix(7, 2)),
            past_index_prefix(7, 2)
        );
        assert_eq!(
            past_index_parts(&past).unwrap(),
            (index_key(7, 2, &pk, &pk), 9)
        );
        // an id in more bytes than it needs
        for bad in [
            &[0xF1, 7, 1][..],
            &[0xF2, 0, 250, 1][..],
            &[0xF5, 1, 1, 1, 1, 1][..],
        ] {
            assert!(row_parts(Space::Rows, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_hist_key_from_a_row_key_is_the_hist_key() {
        let pk = super::keys::encode_one(&crate::value::Value::Int(-7));
        let row = super::row_key(3, &pk);
        assert_eq!(super::row_hist_key(&row, 42), super::hist_key(3, &pk, 42));
        assert_eq!(super::hist_lsn(&super::row_hist_key(&row, 42)).unwrap(), 42);
    }
}
