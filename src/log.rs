//! The event log: append-only, keyed by LSN, the source of truth of the store.
//!
//! Every change is an [`Event`] with its own LSN (strictly increasing, never reused) and the id
//! of the transaction that wrote it. A transaction's events have consecutive LSNs and are
//! written in one atomic batch together with its [`TxRecord`] (time, actor, reason, LSN range)
//! and every view change they cause. Nothing ever rewrites an event except a purge, which
//! replaces row images with a purge marker and keeps the LSN.
//!
//! Each event is a record (see [`crate::codec::record`]) whose kind tag says which body follows;
//! the payload is the body's fields encoded with the frozen bincode configuration, preceded by
//! the transaction id.

use std::ops::Bound;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::codec::record::{self, kind};
use crate::codec::{self, Space};
use crate::error::{Error, Result};
use crate::schema::{ColumnDef, IndexDef, Retention, TableDef};
use crate::storage::ReadView;
use crate::value::{Timestamp, Value};

/// What an event did.
#[derive(Debug, Clone, PartialEq)]
pub enum EventBody {
    /// Tables were created (together: they may reference each other).
    CreateTables(Vec<TableDef>),
    /// A column was appended to a table.
    AddColumn {
        /// Table id.
        table: u32,
        /// The new column.
        column: ColumnDef,
    },
    /// An index or unique constraint was added to a table (and built over its live rows).
    AddIndex {
        /// Table id.
        table: u32,
        /// The new index.
        index: IndexDef,
    },
    /// A row was inserted.
    Insert {
        /// Table id.
        table: u32,
        /// Primary key.
        pk: Value,
        /// The full row image, in column order.
        image: Vec<Value>,
    },
    /// A row was updated; the event carries the full new image.
    Update {
        /// Table id.
        table: u32,
        /// Primary key.
        pk: Value,
        /// The full new image.
        image: Vec<Value>,
    },
    /// A row was tombstoned as part of a deletion.
    Tombstone {
        /// Table id.
        table: u32,
        /// Primary key.
        pk: Value,
        /// The deletion it belongs to.
        deletion: Uuid,
        /// True for a row the delete named; false for a row reached through a cascade.
        root: bool,
    },
    /// A foreign key of a live row was set to null as part of a deletion (`set_null`); the
    /// event carries the row's full new image.
    Unlink {
        /// Table id.
        table: u32,
        /// Primary key.
        pk: Value,
        /// The full new image.
        image: Vec<Value>,
        /// The deletion it belongs to.
        deletion: Uuid,
    },
    /// A row was brought back by a compensating event.
    Restore {
        /// Table id.
        table: u32,
        /// Primary key.
        pk: Value,
        /// The image restored.
        image: Vec<Value>,
        /// The deletion (or restore operation) this compensates.
        deletion: Uuid,
    },
    /// Every image of a row written before this event was purged (the row is not live).
    Purge {
        /// Table id.
        table: u32,
        /// Primary key.
        pk: Value,
        /// The deletion that held the row in the trash.
        deletion: Uuid,
    },
    /// Stands in the log for an Insert, Update, Restore or Unlink whose image was purged: the
    /// same LSN and transaction, no values.
    ImagePurged {
        /// Table id.
        table: u32,
        /// Primary key.
        pk: Value,
        /// The kind tag of the event it replaced.
        was: u8,
        /// The deletion of the replaced Restore or Unlink.
        deletion: Option<Uuid>,
    },
    /// A deletion left the trash for good (its rows were purged).
    PurgeDeletion {
        /// The deletion.
        deletion: Uuid,
    },
    /// A retention policy was set for a table or (table `None`) the store.
    SetRetention {
        /// Table id, or `None` for the store's default.
        table: Option<u32>,
        /// The policy.
        policy: Retention,
    },
    /// Versions of a table older than `horizon` that were not a row's latest image were dropped.
    PruneHistory {
        /// Table id.
        table: u32,
        /// As-of reads of the table before this LSN are refused from now on.
        horizon: u64,
    },
}

impl EventBody {
    /// The record kind tag of this body.
    pub fn tag(&self) -> u8 {
        match self {
            EventBody::CreateTables(_) => kind::CREATE_TABLE,
            EventBody::AddColumn { .. } => kind::ADD_COLUMN,
            EventBody::AddIndex { .. } => kind::ADD_INDEX,
            EventBody::Insert { .. } => kind::INSERT,
            EventBody::Update { .. } => kind::UPDATE,
            EventBody::Tombstone { .. } => kind::TOMBSTONE,
            EventBody::Restore { .. } => kind::RESTORE,
            EventBody::Unlink { .. } => kind::UNLINK,
            EventBody::Purge { .. } => kind::PURGE,
            EventBody::ImagePurged { .. } => kind::IMAGE_PURGED,
            EventBody::PurgeDeletion { .. } => kind::PURGE_DELETION,
            EventBody::SetRetention { .. } => kind::SET_RETENTION,
            EventBody::PruneHistory { .. } => kind::PRUNE_HISTORY,
        }
    }

    /// The row this event is about, if it is a row event.
    pub fn row(&self) -> Option<(u32, &Value)> {
        match self {
            EventBody::Insert { table, pk, .. }
            | EventBody::Update { table, pk, .. }
            | EventBody::Tombstone { table, pk, .. }
            | EventBody::Unlink { table, pk, .. }
            | EventBody::Restore { table, pk, .. }
            | EventBody::Purge { table, pk, .. }
            | EventBody::ImagePurged { table, pk, .. } => Some((*table, pk)),
            _ => None,
        }
    }
}

/// One event of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its log sequence number.
    pub lsn: u64,
    /// The transaction that wrote it.
    pub tx: u64,
    /// What it did.
    pub body: EventBody,
}

// Payload shapes, one per kind. Plain tuples: field order is the wire order.
type RowPayload<'a> = (u64, u32, &'a Value, &'a Vec<Value>);
type RowPayloadOwned = (u64, u32, Value, Vec<Value>);

impl Event {
    /// Encodes the event as a log record.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let tag = self.body.tag();
        let tx = self.tx;
        match &self.body {
            EventBody::CreateTables(defs) => record::encode(tag, &(tx, defs)),
            EventBody::AddColumn { table, column } => record::encode(tag, &(tx, table, column)),
            EventBody::AddIndex { table, index } => record::encode(tag, &(tx, table, index)),
            EventBody::Insert { table, pk, image } | EventBody::Update { table, pk, image } => {
                let p: RowPayload = (tx, *table, pk, image);
                record::encode(tag, &p)
            }
            EventBody::Tombstone {
                table,
                pk,
                deletion,
                root,
            } => record::encode(tag, &(tx, table, pk, deletion.as_u128(), root)),
            EventBody::Restore {
                table,
                pk,
                image,
                deletion,
            }
            | EventBody::Unlink {
                table,
                pk,
                image,
                deletion,
            } => record::encode(tag, &(tx, table, pk, image, deletion.as_u128())),
            EventBody::Purge {
                table,
                pk,
                deletion,
            } => record::encode(tag, &(tx, table, pk, deletion.as_u128())),
            EventBody::ImagePurged {
                table,
                pk,
                was,
                deletion,
            } => record::encode(tag, &(tx, table, pk, was, deletion.map(|d| d.as_u128()))),
            EventBody::PurgeDeletion { deletion } => record::encode(tag, &(tx, deletion.as_u128())),
            EventBody::SetRetention { table, policy } => {
                record::encode(tag, &(tx, table, policy.deletions, policy.history))
            }
            EventBody::PruneHistory { table, horizon } => {
                record::encode(tag, &(tx, table, horizon))
            }
        }
    }

    /// Decodes the log record stored at `lsn`.
    pub fn decode(lsn: u64, bytes: &[u8]) -> Result<Event> {
        let place = || format!("log event at lsn {lsn}");
        let (tag, payload) = record::open(bytes, &place)?;
        let (tx, body) = match tag {
            kind::CREATE_TABLE => {
                let (tx, defs): (u64, Vec<TableDef>) = record::decode_payload(payload, &place)?;
                (tx, EventBody::CreateTables(defs))
            }
            kind::ADD_COLUMN => {
                let (tx, table, column): (u64, u32, ColumnDef) =
                    record::decode_payload(payload, &place)?;
                (tx, EventBody::AddColumn { table, column })
            }
            kind::ADD_INDEX => {
                let (tx, table, index): (u64, u32, IndexDef) =
                    record::decode_payload(payload, &place)?;
                (tx, EventBody::AddIndex { table, index })
            }
            kind::INSERT | kind::UPDATE => {
                let (tx, table, pk, image): RowPayloadOwned =
                    record::decode_payload(payload, &place)?;
                let body = if tag == kind::INSERT {
                    EventBody::Insert { table, pk, image }
                } else {
                    EventBody::Update { table, pk, image }
                };
                (tx, body)
            }
            kind::TOMBSTONE => {
                let (tx, table, pk, d, root): (u64, u32, Value, u128, bool) =
                    record::decode_payload(payload, &place)?;
                (
                    tx,
                    EventBody::Tombstone {
                        table,
                        pk,
                        deletion: Uuid::from_u128(d),
                        root,
                    },
                )
            }
            kind::RESTORE | kind::UNLINK => {
                let (tx, table, pk, image, d): (u64, u32, Value, Vec<Value>, u128) =
                    record::decode_payload(payload, &place)?;
                let deletion = Uuid::from_u128(d);
                let body = if tag == kind::RESTORE {
                    EventBody::Restore {
                        table,
                        pk,
                        image,
                        deletion,
                    }
                } else {
                    EventBody::Unlink {
                        table,
                        pk,
                        image,
                        deletion,
                    }
                };
                (tx, body)
            }
            kind::PURGE => {
                let (tx, table, pk, d): (u64, u32, Value, u128) =
                    record::decode_payload(payload, &place)?;
                let deletion = Uuid::from_u128(d);
                (
                    tx,
                    EventBody::Purge {
                        table,
                        pk,
                        deletion,
                    },
                )
            }
            kind::IMAGE_PURGED => {
                let (tx, table, pk, was, d): (u64, u32, Value, u8, Option<u128>) =
                    record::decode_payload(payload, &place)?;
                if !matches!(
                    was,
                    kind::INSERT | kind::UPDATE | kind::RESTORE | kind::UNLINK
                ) {
                    return Err(Error::corrupted(
                        place(),
                        format!("a purged image stands for event kind {was}, which has no image"),
                    ));
                }
                let deletion = d.map(Uuid::from_u128);
                (
                    tx,
                    EventBody::ImagePurged {
                        table,
                        pk,
                        was,
                        deletion,
                    },
                )
            }
            kind::PURGE_DELETION => {
                let (tx, d): (u64, u128) = record::decode_payload(payload, &place)?;
                (
                    tx,
                    EventBody::PurgeDeletion {
                        deletion: Uuid::from_u128(d),
                    },
                )
            }
            kind::SET_RETENTION => {
                let (tx, table, deletions, history): (u64, Option<u32>, Option<u64>, Option<u64>) =
                    record::decode_payload(payload, &place)?;
                (
                    tx,
                    EventBody::SetRetention {
                        table,
                        policy: Retention { deletions, history },
                    },
                )
            }
            kind::PRUNE_HISTORY => {
                let (tx, table, horizon): (u64, u32, u64) =
                    record::decode_payload(payload, &place)?;
                (tx, EventBody::PruneHistory { table, horizon })
            }
            other => {
                return Err(Error::corrupted(
                    place(),
                    format!("unknown event kind {other} (written by a newer lazarusdb?)"),
                ))
            }
        };
        Ok(Event { lsn, tx, body })
    }
}

/// The record of one committed transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxRecord {
    /// Transaction id (consecutive from 1).
    pub tx: u64,
    /// LSN of its first event.
    pub first_lsn: u64,
    /// LSN of its last event.
    pub last_lsn: u64,
    /// Commit time. Never earlier than the previous transaction's (see `docs/design.md`).
    pub at: Timestamp,
    /// Who made the change, if given.
    pub actor: Option<String>,
    /// Why, if given.
    pub reason: Option<String>,
}

impl TxRecord {
    /// Encodes the record.
    pub fn encode(&self) -> Result<Vec<u8>> {
        record::encode(kind::TX, self)
    }

    /// Decodes the record stored under `tx`.
    pub fn decode(tx: u64, bytes: &[u8]) -> Result<TxRecord> {
        record::decode(bytes, kind::TX, &|| format!("transaction record {tx}"))
    }
}

/// Reads events in LSN order from `from` (inclusive), at most `limit` of them.
pub fn read_events(view: &dyn ReadView, from: u64, limit: Option<usize>) -> Result<Vec<Event>> {
    let start = codec::log_key(from);
    let mut out = Vec::new();
    for item in view.range(Space::Log, Bound::Included(&start), Bound::Unbounded, false)? {
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        let (k, v) = item?;
        let lsn = codec::read_u64_key(&k)
            .ok_or_else(|| Error::corrupted("log", "a log key is not 8 bytes"))?;
        out.push(Event::decode(lsn, &v)?);
    }
    Ok(out)
}

/// Reads one event.
pub fn read_event(view: &dyn ReadView, lsn: u64) -> Result<Option<Event>> {
    match view.get(Space::Log, &codec::log_key(lsn))? {
        Some(bytes) => Event::decode(lsn, &bytes).map(Some),
        None => Ok(None),
    }
}

/// The transaction of the event at `lsn`, without decoding the rest of it (every event's
/// payload leads with its transaction id).
pub fn read_event_tx(view: &dyn ReadView, lsn: u64) -> Result<Option<u64>> {
    match view.get(Space::Log, &codec::log_key(lsn))? {
        Some(bytes) => {
            let place = || format!("log event at lsn {lsn}");
            let (k, tx) = record::decode_leading_any::<u64>(&bytes, &place)?;
            if k >= kind::ROW {
                return Err(Error::corrupted(
                    place(),
                    format!("record kind {k} is not an event"),
                ));
            }
            Ok(Some(tx))
        }
        None => Ok(None),
    }
}

/// Reads one transaction record.
pub fn read_tx(view: &dyn ReadView, tx: u64) -> Result<Option<TxRecord>> {
    match view.get(Space::Tx, &codec::tx_key(tx))? {
        Some(bytes) => TxRecord::decode(tx, &bytes).map(Some),
        None => Ok(None),
    }
}

/// Checks the log against its transaction records, as every commit writes them: LSNs dense
/// from 1, transaction ids dense from 1, each record naming its own id, its range of LSNs
/// following the previous one's, its time not before the previous one's, and every event
/// carrying the id of the record whose range holds it. Returns each problem found (at most a
/// hundred); a record or event that does not decode is an error.
pub fn check_records(view: &dyn ReadView) -> Result<Vec<String>> {
    const MAX: usize = 100;
    let mut problems = Vec::new();
    let mut note = |p: String| {
        if problems.len() < MAX {
            problems.push(p);
        }
    };
    let mut ranges: Vec<(u64, u64, u64)> = Vec::new();
    let (mut want_tx, mut want_first) = (1u64, 1u64);
    let mut last_at: Option<Timestamp> = None;
    for item in view.range(Space::Tx, Bound::Unbounded, Bound::Unbounded, false)? {
        let (k, v) = item?;
        let tx = codec::read_u64_key(&k)
            .ok_or_else(|| Error::corrupted("tx", "a transaction key is not 8 bytes"))?;
        let rec = TxRecord::decode(tx, &v)?;
        if tx != want_tx {
            note(format!(
                "transaction records: {} follows {} (ids must be dense)",
                tx,
                want_tx - 1
            ));
        }
        if rec.tx != tx {
            note(format!(
                "transaction record {tx} names transaction {}",
                rec.tx
            ));
        }
        if rec.first_lsn != want_first || rec.last_lsn < rec.first_lsn {
            note(format!(
                "transaction {tx} holds LSNs {}..={}, expected a range from {want_first}",
                rec.first_lsn, rec.last_lsn
            ));
        }
        if last_at.is_some_and(|a| rec.at < a) {
            note(format!(
                "transaction {tx} is dated before the one before it"
            ));
        }
        last_at = Some(rec.at);
        want_tx = tx + 1;
        want_first = rec.last_lsn.saturating_add(1);
        ranges.push((tx, rec.first_lsn, rec.last_lsn));
    }
    let mut want_lsn = 1u64;
    let mut r = ranges.iter().peekable();
    for item in view.range(Space::Log, Bound::Unbounded, Bound::Unbounded, false)? {
        let (k, v) = item?;
        let lsn = codec::read_u64_key(&k)
            .ok_or_else(|| Error::corrupted("log", "a log key is not 8 bytes"))?;
        if lsn != want_lsn {
            note(format!(
                "log: LSN {lsn} follows {} (LSNs must be dense)",
                want_lsn - 1
            ));
        }
        want_lsn = lsn + 1;
        let ev = Event::decode(lsn, &v)?;
        while r.peek().is_some_and(|(_, _, last)| *last < lsn) {
            r.next();
        }
        match r.peek() {
            Some((tx, first, _)) if *first <= lsn => {
                if ev.tx != *tx {
                    note(format!(
                        "log: the event at LSN {lsn} names transaction {}, but transaction {tx} \
                         holds it",
                        ev.tx
                    ));
                }
            }
            _ => note(format!(
                "log: the event at LSN {lsn} is in no transaction record"
            )),
        }
    }
    if let Some((tx, _, last)) = ranges.last() {
        if *last >= want_lsn {
            note(format!(
                "transaction {tx} ends at LSN {last}, after the log's last event ({})",
                want_lsn - 1
            ));
        }
    }
    Ok(problems)
}

/// The last LSN and the last transaction record, if any.
pub fn last_positions(view: &dyn ReadView) -> Result<(u64, Option<TxRecord>)> {
    let last_lsn = match view.last(Space::Log)? {
        Some((k, _)) => codec::read_u64_key(&k)
            .ok_or_else(|| Error::corrupted("log", "a log key is not 8 bytes"))?,
        None => 0,
    };
    let last_tx = match view.last(Space::Tx)? {
        Some((k, v)) => {
            let tx = codec::read_u64_key(&k)
                .ok_or_else(|| Error::corrupted("tx", "a transaction key is not 8 bytes"))?;
            Some(TxRecord::decode(tx, &v)?)
        }
        None => None,
    };
    Ok((last_lsn, last_tx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::OnDelete;
    use crate::value::ColumnType;

    #[test]
    fn every_event_kind_round_trips() {
        let def = TableDef {
            id: 1,
            name: "t".into(),
            columns: vec![ColumnDef::new("id", ColumnType::Int)],
            primary_key: "id".into(),
            indexes: vec![],
            foreign_keys: vec![crate::schema::ForeignKeyDef {
                column: "id".into(),
                references: "t".into(),
                on_delete: OnDelete::SetNull,
                index: 1,
            }],
            trash_keeps_keys: true,
        };
        let d = Uuid::from_u128(99);
        let bodies = vec![
            EventBody::CreateTables(vec![def]),
            EventBody::AddColumn {
                table: 1,
                column: ColumnDef::new("x", ColumnType::Timestamp).with_default(Timestamp(5)),
            },
            EventBody::AddIndex {
                table: 1,
                index: IndexDef {
                    id: 2,
                    columns: vec!["x".into()],
                    unique: true,
                },
            },
            EventBody::Insert {
                table: 1,
                pk: Value::Int(-3),
                image: vec![Value::Int(-3), Value::Null],
            },
            EventBody::Update {
                table: 1,
                pk: Value::from("k"),
                image: vec![Value::Bytes(vec![0, 1])],
            },
            EventBody::Tombstone {
                table: 1,
                pk: Value::Int(1),
                deletion: d,
                root: true,
            },
            EventBody::Unlink {
                table: 1,
                pk: Value::Int(2),
                image: vec![Value::Null],
                deletion: d,
            },
            EventBody::Restore {
                table: 1,
                pk: Value::Int(1),
                image: vec![Value::Float(1.5)],
                deletion: d,
            },
            EventBody::Purge {
                table: 1,
                pk: Value::from("secret"),
                deletion: d,
            },
            EventBody::ImagePurged {
                table: 1,
                pk: Value::Int(1),
                was: kind::UPDATE,
                deletion: None,
            },
            EventBody::ImagePurged {
                table: 1,
                pk: Value::Int(1),
                was: kind::UNLINK,
                deletion: Some(d),
            },
            EventBody::PurgeDeletion { deletion: d },
            EventBody::SetRetention {
                table: None,
                policy: Retention {
                    deletions: Some(86_400),
                    history: None,
                },
            },
            EventBody::SetRetention {
                table: Some(1),
                policy: Retention::default(),
            },
            EventBody::PruneHistory {
                table: 1,
                horizon: 42,
            },
        ];
        for (i, body) in bodies.into_iter().enumerate() {
            let e = Event {
                lsn: i as u64 + 1,
                tx: 7,
                body,
            };
            let bytes = e.encode().unwrap();
            assert_eq!(Event::decode(e.lsn, &bytes).unwrap(), e);
        }
    }

    #[test]
    fn a_purged_image_of_a_kind_without_image_is_corruption() {
        let bytes = record::encode(
            kind::IMAGE_PURGED,
            &(1u64, 1u32, Value::Int(1), kind::TOMBSTONE, None::<u128>),
        )
        .unwrap();
        assert!(matches!(
            Event::decode(1, &bytes),
            Err(Error::Corrupted { .. })
        ));
    }

    #[test]
    fn golden_bytes_of_an_insert() {
        let e = Event {
            lsn: 1,
            tx: 2,
            body: EventBody::Insert {
                table: 3,
                pk: Value::Int(4),
                image: vec![Value::Int(4), Value::from("a")],
            },
        };
        let bytes = e.encode().unwrap();
        // version 1, codec 1, kind 10 | tx 2, table 3 | pk (tag 1, zigzag 4 = 8) | image len 2,
        // (1, 8), (tag 3, len 1, 'a') | crc32
        assert_eq!(
            &bytes[..bytes.len() - 4],
            &[1, 1, 10, 2, 3, 1, 8, 2, 1, 8, 3, 1, b'a']
        );
    }
}
