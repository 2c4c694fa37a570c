//! The record envelope: every value lazarusdb writes to disk is framed the same way.
//!
//! ```text
//! byte 0        format version of the record layout (currently 1)
//! byte 1        codec id: 1 = bincode 2.0.1, `standard()` config (little-endian varints),
//!               decode limit 64 MiB
//! byte 2        kind tag (explicit numbers, see `kind`); never renumbered, only appended
//! bytes 3..n-4  payload, encoded by the codec
//! bytes n-4..n  CRC-32 (IEEE) of bytes 0..n-4, big-endian
//! ```
//!
//! A torn or bit-flipped record fails the checksum and is reported as corruption; a record of a
//! newer layout or an unknown codec is reported as such, never guessed at.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// Current record layout version.
pub const RECORD_VERSION: u8 = 1;
/// Codec id of bincode 2.0.1 with [`BINCODE`].
pub const CODEC_BINCODE: u8 = 1;
/// Largest payload the decoder accepts (64 MiB): a corrupt length can never make it allocate
/// more than this.
pub const MAX_PAYLOAD: usize = 64 << 20;

type Config = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_PAYLOAD>,
>;

/// The one frozen bincode configuration. Changing it changes the on-disk format.
pub const BINCODE: Config = bincode::config::standard().with_limit::<MAX_PAYLOAD>();

const HEADER: usize = 3;
const TRAILER: usize = 4;

/// Kind tags of records. Event kinds are below 0x40, other records above.
pub mod kind {
    /// Event: a table was created.
    pub const CREATE_TABLE: u8 = 1;
    /// Event: a column was added.
    pub const ADD_COLUMN: u8 = 2;
    /// Event: an index or unique constraint was added.
    pub const ADD_INDEX: u8 = 3;
    /// Event: a row was inserted.
    pub const INSERT: u8 = 10;
    /// Event: a row was updated (new full image).
    pub const UPDATE: u8 = 11;
    /// Event: a row was tombstoned as part of a deletion.
    pub const TOMBSTONE: u8 = 12;
    /// Event: a row was restored by a compensating event.
    pub const RESTORE: u8 = 13;
    /// Event: every image of a row was purged.
    pub const PURGE: u8 = 14;
    /// Event: a foreign key was set to null as part of a deletion (`on_delete = set_null`).
    pub const UNLINK: u8 = 15;
    /// Event record that replaced an Insert, Update, Restore or Unlink whose image was purged.
    pub const IMAGE_PURGED: u8 = 16;
    /// Event: a deletion left the trash for good.
    pub const PURGE_DELETION: u8 = 17;
    /// Event: a retention policy was set.
    pub const SET_RETENTION: u8 = 18;
    /// Event: old versions of a table were dropped.
    pub const PRUNE_HISTORY: u8 = 19;
    /// Live row record in the rows view.
    pub const ROW: u8 = 0x40;
    /// Transaction record.
    pub const TX: u8 = 0x41;
    /// Table definition in the catalog view.
    pub const TABLE_DEF: u8 = 0x42;
    /// Deletion record in the deletions view.
    pub const DELETION: u8 = 0x43;
    /// Member of a deletion (delrows view).
    pub const DEL_ROW: u8 = 0x44;
    /// Trashed row pointer (dead view).
    pub const DEAD: u8 = 0x45;
    /// Reserved unique value (reserved view).
    pub const RESERVED: u8 = 0x46;
    /// Retention policy (meta `retention/…`).
    pub const RETENTION: u8 = 0x47;
}

/// Frames `payload` (serialized with the frozen codec) as a record of `kind`.
pub fn encode<T: Serialize>(kind: u8, payload: &T) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&[RECORD_VERSION, CODEC_BINCODE, kind]);
    bincode::serde::encode_into_std_write(payload, &mut out, BINCODE)
        .map_err(|e| Error::invalid(format!("cannot encode record: {e}")))?;
    if out.len() - HEADER > MAX_PAYLOAD {
        return Err(Error::invalid(format!(
            "record of {} bytes is larger than the {} byte limit",
            out.len(),
            MAX_PAYLOAD
        )));
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    Ok(out)
}

/// Checks a record's frame and returns its kind and payload bytes.
pub fn open<'a>(bytes: &'a [u8], place: &dyn Fn() -> String) -> Result<(u8, &'a [u8])> {
    if bytes.len() < HEADER + TRAILER {
        return Err(Error::corrupted(
            place(),
            format!("record of {} bytes is too short", bytes.len()),
        ));
    }
    let (body, crc) = bytes.split_at(bytes.len() - TRAILER);
    let mut crc_bytes = [0u8; 4];
    crc_bytes.copy_from_slice(crc);
    if crc32fast::hash(body) != u32::from_be_bytes(crc_bytes) {
        return Err(Error::corrupted(
            place(),
            "checksum mismatch (torn or damaged record)",
        ));
    }
    let (header, payload) = body.split_at(HEADER);
    match header {
        [v, _, _] if *v > RECORD_VERSION => Err(Error::NewerFormat {
            found: u32::from(*v),
            supported: u32::from(RECORD_VERSION),
        }),
        [v, _, _] if *v == 0 => Err(Error::corrupted(place(), "record version 0")),
        [_, c, _] if *c != CODEC_BINCODE => {
            Err(Error::corrupted(place(), format!("unknown codec id {c}")))
        }
        [_, _, k] => Ok((*k, payload)),
        _ => Err(Error::corrupted(place(), "record header")),
    }
}

/// Decodes a payload with the frozen codec; trailing bytes are corruption.
pub fn decode_payload<T: DeserializeOwned>(
    payload: &[u8],
    place: &dyn Fn() -> String,
) -> Result<T> {
    let (value, used) = bincode::serde::decode_from_slice::<T, _>(payload, BINCODE)
        .map_err(|e| Error::corrupted(place(), format!("undecodable payload: {e}")))?;
    if used != payload.len() {
        return Err(Error::corrupted(
            place(),
            format!("{} trailing bytes after payload", payload.len() - used),
        ));
    }
    Ok(value)
}

/// Opens a record that must be of `expected` kind: its payload.
pub fn open_kind<'a>(
    bytes: &'a [u8],
    expected: u8,
    place: &dyn Fn() -> String,
) -> Result<&'a [u8]> {
    let (k, payload) = open(bytes, place)?;
    if k != expected {
        return Err(Error::corrupted(
            place(),
            format!("record kind {k}, expected {expected}"),
        ));
    }
    Ok(payload)
}

/// Opens a record that must be of `expected` kind and decodes its payload.
pub fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    expected: u8,
    place: &dyn Fn() -> String,
) -> Result<T> {
    decode_payload(open_kind(bytes, expected, place)?, place)
}

/// Opens a record of any kind (its checksum checked) and decodes only the first value of its
/// payload: its kind and that value.
pub fn decode_leading_any<T: DeserializeOwned>(
    bytes: &[u8],
    place: &dyn Fn() -> String,
) -> Result<(u8, T)> {
    let (k, payload) = open(bytes, place)?;
    bincode::serde::decode_from_slice::<T, _>(payload, BINCODE)
        .map(|(value, _)| (k, value))
        .map_err(|e| Error::corrupted(place(), format!("undecodable payload: {e}")))
}

/// Opens a record that must be of `expected` kind (its checksum checked) and decodes only the
/// first value of its payload, leaving the rest undecoded.
pub fn decode_leading<T: DeserializeOwned>(
    bytes: &[u8],
    expected: u8,
    place: &dyn Fn() -> String,
) -> Result<T> {
    bincode::serde::decode_from_slice::<T, _>(open_kind(bytes, expected, place)?, BINCODE)
        .map(|(value, _)| value)
        .map_err(|e| Error::corrupted(place(), format!("undecodable payload: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn here() -> String {
        "test".into()
    }

    #[test]
    fn the_leading_value_decodes_alone_and_the_checksum_still_counts() {
        let mut rec = encode(kind::ROW, &(300u64, vec!["a long image".to_string()])).unwrap();
        assert_eq!(decode_leading::<u64>(&rec, kind::ROW, &here).unwrap(), 300);
        assert!(decode_leading::<u64>(&rec, kind::TX, &here).is_err());
        if let Some(b) = rec.get_mut(4) {
            *b ^= 1;
        }
        assert!(matches!(
            decode_leading::<u64>(&rec, kind::ROW, &here),
            Err(Error::Corrupted { .. })
        ));
    }

    #[test]
    fn golden_bytes_of_a_small_record() {
        let bytes = encode(kind::TX, &(7u64, "a".to_string())).unwrap();
        // version, codec, kind, varint 7, len 1, 'a', crc
        assert_eq!(&bytes[..6], &[1, 1, 0x41, 7, 1, b'a']);
        assert_eq!(bytes.len(), 10);
        let back: (u64, String) = decode(&bytes, kind::TX, &here).unwrap();
        assert_eq!(back, (7, "a".to_string()));
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let bytes = encode(kind::ROW, &(1u64, vec![1u8, 2, 3])).unwrap();
        for i in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[i / 8] ^= 1 << (i % 8);
            assert!(
                decode::<(u64, Vec<u8>)>(&b, kind::ROW, &here).is_err(),
                "bit {i}"
            );
        }
    }

    #[test]
    fn truncation_and_newer_versions_are_typed_errors() {
        let bytes = encode(kind::ROW, &1u64).unwrap();
        for n in 0..bytes.len() {
            assert!(matches!(
                decode::<u64>(&bytes[..n], kind::ROW, &here),
                Err(Error::Corrupted { .. })
            ));
        }
        let mut newer = bytes[..bytes.len() - 4].to_vec();
        newer[0] = 9;
        let crc = crc32fast::hash(&newer);
        newer.extend_from_slice(&crc.to_be_bytes());
        assert!(matches!(
            decode::<u64>(&newer, kind::ROW, &here),
            Err(Error::NewerFormat { found: 9, .. })
        ));
    }
}
