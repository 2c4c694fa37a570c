//! Arbitrary bytes into every record decoder: log events, transaction records, rows-view
//! records, deletion records, deletion members, reserved-value entries and retention policies.
//!
//! Properties: no decoder panics; whatever decodes re-encodes, and decoding that again gives
//! the same thing (compared by its canonical re-encoding, so NaN payloads count too).
//!
//! Input layout, so that the fuzzer gets past the CRC-32 of the record envelope:
//! byte 0 selects how the rest becomes a record —
//! `0`: the rest as is (envelope checks included);
//! `1`: the rest is header + payload, the correct CRC is appended;
//! `2`: byte 1 picks one of the known kind tags, the rest is the payload (version 1, codec 1,
//!      correct CRC);
//! `3`: byte 1 is the raw kind byte, otherwise as `2`.
#![no_main]

mod common;

use lazarusdb::internals::record::{self, kind};
use lazarusdb::internals::views;
use lazarusdb::internals::{Event, TxRecord};
use libfuzzer_sys::fuzz_target;

const KINDS: [u8; 21] = [
    kind::CREATE_TABLE,
    kind::ADD_COLUMN,
    kind::ADD_INDEX,
    kind::INSERT,
    kind::UPDATE,
    kind::TOMBSTONE,
    kind::RESTORE,
    kind::PURGE,
    kind::UNLINK,
    kind::IMAGE_PURGED,
    kind::PURGE_DELETION,
    kind::SET_RETENTION,
    kind::PRUNE_HISTORY,
    kind::RETENTION,
    kind::ROW,
    kind::TX,
    kind::TABLE_DEF,
    kind::DELETION,
    kind::DEL_ROW,
    kind::DEAD,
    kind::RESERVED,
];

fn with_crc(mut body: Vec<u8>) -> Vec<u8> {
    let crc = crc32fast::hash(&body);
    body.extend_from_slice(&crc.to_be_bytes());
    body
}

fn frame(data: &[u8]) -> Vec<u8> {
    let Some((&mode, rest)) = data.split_first() else {
        return Vec::new();
    };
    match mode % 4 {
        0 => rest.to_vec(),
        1 => with_crc(rest.to_vec()),
        m => {
            let Some((&k, payload)) = rest.split_first() else {
                return Vec::new();
            };
            let k = if m == 2 {
                KINDS[usize::from(k) % KINDS.len()]
            } else {
                k
            };
            let mut body = vec![record::RECORD_VERSION, record::CODEC_BINCODE, k];
            body.extend_from_slice(payload);
            with_crc(body)
        }
    }
}

fn check_event(bytes: &[u8]) {
    const LSN: u64 = 42;
    let Ok(e) = Event::decode(LSN, bytes) else {
        return;
    };
    assert_eq!(e.lsn, LSN);
    let (k, _) = record::open(bytes, &|| "input".into()).expect("decoded, so it opens");
    assert_eq!(e.body.tag(), k, "the body is of the record's kind");
    let enc = e.encode().expect("a decoded event re-encodes");
    let e2 = Event::decode(LSN, &enc).expect("a re-encoded event decodes");
    let enc2 = e2.encode().expect("re-encodes again");
    assert_eq!(enc, enc2, "decode(encode(e)) re-encodes to the same bytes");
    assert_eq!(
        format!("{e:?}"),
        format!("{e2:?}"),
        "round trip changed the event"
    );
}

fn check_tx(bytes: &[u8]) {
    let Ok(r) = TxRecord::decode(7, bytes) else {
        return;
    };
    let enc = r.encode().expect("a decoded tx record re-encodes");
    let r2 = TxRecord::decode(7, &enc).expect("a re-encoded tx record decodes");
    assert_eq!(r, r2);
}

fn check_row(bytes: &[u8]) {
    // The LSN alone (what as-of reads take from a live row) never panics either, and agrees
    // with the whole record whenever that decodes.
    let lsn = views::row_lsn(b"k", bytes);
    // The hand decoder of the read path answers exactly what the serde path answers.
    let by_serde = record::decode::<(u64, Vec<lazarusdb::Value>)>(bytes, kind::ROW, &|| "k".into());
    let decoded = views::decode_row(b"k", bytes);
    match (&decoded, &by_serde) {
        (Ok(a), Ok((lsn, image))) => assert!(
            a.lsn == *lsn && common::values_eq(&a.image, image),
            "by hand {a:?}, by serde {by_serde:?}"
        ),
        (Err(_), Err(_)) => {}
        _ => panic!("by hand {decoded:?}, by serde {by_serde:?}"),
    }
    let Ok(row) = decoded else {
        return;
    };
    assert_eq!(lsn.ok(), Some(row.lsn));
    let enc = views::encode_row(row.lsn, &row.image).expect("a decoded row re-encodes");
    let row2 = views::decode_row(b"k", &enc).expect("a re-encoded row decodes");
    assert_eq!(row.lsn, row2.lsn);
    assert!(
        common::values_eq(&row.image, &row2.image),
        "{row:?} vs {row2:?}"
    );
}

fn check_deletion(bytes: &[u8]) {
    let Ok(d) = views::decode_deletion(bytes) else {
        return;
    };
    let enc = record::encode(kind::DELETION, &d).expect("a decoded deletion re-encodes");
    let d2 = views::decode_deletion(&enc).expect("a re-encoded deletion decodes");
    let enc2 = record::encode(kind::DELETION, &d2).expect("re-encodes again");
    assert_eq!(enc, enc2);
    assert_eq!(format!("{d:?}"), format!("{d2:?}"));
}

fn check_member(bytes: &[u8]) {
    let Ok(m) = views::decode_member(bytes) else {
        return;
    };
    let enc = record::encode(kind::DEL_ROW, &(m.kind, m.last_lsn, m.lsn))
        .expect("a decoded member re-encodes");
    let m2 = views::decode_member(&enc).expect("a re-encoded member decodes");
    assert_eq!(m, m2);
}

fn check_reserved(bytes: &[u8]) {
    let Ok(u) = views::decode_reserved(bytes) else {
        return;
    };
    let enc = record::encode(kind::RESERVED, &u.as_u128()).expect("re-encodes");
    assert_eq!(views::decode_reserved(&enc).expect("decodes"), u);
}

fn check_retention(bytes: &[u8]) {
    let Ok(r) = views::decode_retention(bytes) else {
        return;
    };
    let enc = record::encode(kind::RETENTION, &(r.deletions, r.history)).expect("re-encodes");
    assert_eq!(views::decode_retention(&enc).expect("decodes"), r);
}

fuzz_target!(|data: &[u8]| {
    let bytes = frame(data);
    check_event(&bytes);
    check_tx(&bytes);
    check_row(&bytes);
    check_deletion(&bytes);
    check_member(&bytes);
    check_reserved(&bytes);
    check_retention(&bytes);
});
