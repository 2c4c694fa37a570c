//! Order-preserving key encoding.
//!
//! The engines sort keys as raw bytes; every key is built so that byte order is the logical
//! order, and range scans just work. Rules, one per value kind (a one-byte tag, then the body):
//!
//! | value       | tag  | body                                                              |
//! |-------------|------|-------------------------------------------------------------------|
//! | null        | 0x00 | (none) — nulls sort first                                         |
//! | bool        | 0x01 | 0x00 false, 0x01 true                                             |
//! | int (i64)   | 0x02 | a length byte, then the significant bytes (format 4; see below)   |
//! | float (f64) | 0x03 | 8 bytes big-endian: positive → sign bit set, negative → all bits inverted (total order, -0 < +0, NaN last) |
//! | text        | 0x04 | UTF-8 bytes, each 0x00 escaped as 0x00 0xFF, then 0x00 0x00       |
//! | bytes       | 0x05 | as text                                                           |
//! | uuid        | 0x06 | 16 bytes as stored (v7 uuids sort by creation time)               |
//! | timestamp   | 0x07 | as int (microseconds since the epoch)                             |
//!
//! An int takes as many bytes as its magnitude needs: for `n >= 0`, the byte `0x80 + k` and the
//! `k` low bytes of `n` big-endian, where `k` (0 to 8) is the fewest that hold it (0 holds zero);
//! for `n < 0`, the byte `0x7F - k` and the `k` low bytes of `n`, where `k` is the fewest that
//! hold `!n` (0 for -1). More bytes mean a larger magnitude, so the length byte orders values of
//! different lengths and the body those of one length; ids below 256 take three bytes, below
//! 65,536 four (formats before 4 used nine). A body that is not the shortest is refused, so
//! every int has one encoding.
//!
//! Every encoding is self-delimiting, so a composite key is the concatenation of its values and
//! a prefix made of whole values selects exactly the keys that start with those values.
//! Of the integers that frame a key, LSNs and transaction ids are fixed-width big-endian, and
//! table and index ids take one byte below 240 (`codec::put_id`). Nothing host-endian ever goes
//! into a key.

use crate::error::{Error, Result};
use crate::value::{Timestamp, Value};
use uuid::Uuid;

const T_NULL: u8 = 0x00;
const T_BOOL: u8 = 0x01;
const T_INT: u8 = 0x02;
const T_FLOAT: u8 = 0x03;
const T_TEXT: u8 = 0x04;
const T_BYTES: u8 = 0x05;
const T_UUID: u8 = 0x06;
const T_TIMESTAMP: u8 = 0x07;

/// Appends the order-preserving encoding of `v` to `out`.
pub fn encode_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.push(T_NULL),
        Value::Bool(b) => {
            out.push(T_BOOL);
            out.push(u8::from(*b));
        }
        Value::Int(i) => {
            out.push(T_INT);
            encode_int(out, *i);
        }
        Value::Float(f) => {
            out.push(T_FLOAT);
            let bits = f.to_bits();
            let ordered = if bits >> 63 == 1 {
                !bits
            } else {
                bits | (1 << 63)
            };
            out.extend_from_slice(&ordered.to_be_bytes());
        }
        Value::Text(s) => {
            out.push(T_TEXT);
            escape(out, s.as_bytes());
        }
        Value::Bytes(b) => {
            out.push(T_BYTES);
            escape(out, b);
        }
        Value::Uuid(u) => {
            out.push(T_UUID);
            out.extend_from_slice(u.as_bytes());
        }
        Value::Timestamp(t) => {
            out.push(T_TIMESTAMP);
            out.extend_from_slice(&flip_i64(t.0));
        }
    }
}

/// Encodes a list of values (a composite key) into a fresh buffer.
pub fn encode_values(values: &[Value]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 9);
    for v in values {
        encode_value(&mut out, v);
    }
    out
}

/// Encodes one value into a fresh buffer.
pub fn encode_one(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(9);
    encode_value(&mut out, v);
    out
}

/// How many body bytes an int takes: the fewest that hold `i` (or `!i` when negative).
fn int_len(i: i64) -> usize {
    let magnitude = if i < 0 { !i } else { i } as u64;
    8 - magnitude.leading_zeros() as usize / 8
}

/// The length byte and body of an int (the table in the module's comment).
fn encode_int(out: &mut Vec<u8>, i: i64) {
    let k = int_len(i);
    // k <= 8, so both casts are exact
    out.push(if i < 0 {
        0x7F - k as u8
    } else {
        0x80 + k as u8
    });
    let bytes = i.to_be_bytes();
    out.extend_from_slice(bytes.get(8 - k..).unwrap_or(&bytes));
}

/// Reads what [`encode_int`] wrote.
fn decode_int(input: &mut &[u8]) -> Result<i64> {
    let [head] = take::<1>(input)?;
    let (negative, k) = match head {
        0x80..=0x88 => (false, usize::from(head - 0x80)),
        0x77..=0x7F => (true, usize::from(0x7F - head)),
        _ => return Err(bad(format!("int length byte {head:#04x}"))),
    };
    if input.len() < k {
        return Err(bad("key ends inside an int"));
    }
    let (body, rest) = input.split_at(k);
    *input = rest;
    // sign-extend the body to eight bytes
    let mut i = if negative { -1i64 } else { 0 };
    for &b in body {
        i = (i << 8) | i64::from(b);
    }
    // the shortest form: as many bytes as encode_int writes, and the sign the head says
    if (i < 0) != negative || int_len(i) != k {
        return Err(bad("an int that is not in its shortest form"));
    }
    Ok(i)
}

fn flip_i64(i: i64) -> [u8; 8] {
    ((i as u64) ^ (1 << 63)).to_be_bytes()
}

fn unflip_i64(b: [u8; 8]) -> i64 {
    (u64::from_be_bytes(b) ^ (1 << 63)) as i64
}

fn escape(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.push(0);
    out.push(0);
}

/// Decodes one value from the front of `input`, advancing it.
pub fn decode_value(input: &mut &[u8]) -> Result<Value> {
    let (&tag, rest) = input
        .split_first()
        .ok_or_else(|| bad("key ends where a value was expected"))?;
    *input = rest;
    Ok(match tag {
        T_NULL => Value::Null,
        T_BOOL => match take::<1>(input)? {
            [0] => Value::Bool(false),
            [1] => Value::Bool(true),
            [b] => return Err(bad(format!("bool byte {b:#04x}"))),
        },
        T_INT => Value::Int(decode_int(input)?),
        T_FLOAT => {
            let ordered = u64::from_be_bytes(take::<8>(input)?);
            let bits = if ordered >> 63 == 1 {
                ordered & !(1 << 63)
            } else {
                !ordered
            };
            Value::Float(f64::from_bits(bits))
        }
        T_TEXT => {
            let raw = unescape(input)?;
            Value::Text(String::from_utf8(raw).map_err(|_| bad("text is not UTF-8"))?)
        }
        T_BYTES => Value::Bytes(unescape(input)?),
        T_UUID => Value::Uuid(Uuid::from_bytes(take::<16>(input)?)),
        T_TIMESTAMP => Value::Timestamp(Timestamp(unflip_i64(take::<8>(input)?))),
        other => return Err(bad(format!("unknown value tag {other:#04x}"))),
    })
}

/// Decodes an encoded primary key: exactly one value, nothing after it (a short, long or
/// foreign key is `Corrupted`).
pub fn decode_pk(enc: &[u8]) -> Result<Value> {
    let mut rest = enc;
    let v = decode_value(&mut rest)?;
    if !rest.is_empty() {
        return Err(bad("trailing bytes after a primary key"));
    }
    Ok(v)
}

/// Decodes a whole buffer as a sequence of values.
pub fn decode_values(mut input: &[u8]) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    while !input.is_empty() {
        out.push(decode_value(&mut input)?);
    }
    Ok(out)
}

fn take<const N: usize>(input: &mut &[u8]) -> Result<[u8; N]> {
    if input.len() < N {
        return Err(bad(format!("key truncated: needed {N} bytes")));
    }
    let (head, rest) = input.split_at(N);
    *input = rest;
    let mut out = [0u8; N];
    out.copy_from_slice(head);
    Ok(out)
}

fn unescape(input: &mut &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut iter = input.iter().enumerate();
    while let Some((i, &b)) = iter.next() {
        if b == 0 {
            match iter.next() {
                Some((_, 0)) => {
                    *input = input.get(i + 2..).unwrap_or(&[]);
                    return Ok(out);
                }
                Some((_, 0xFF)) => out.push(0),
                _ => return Err(bad("bad escape in key text")),
            }
        } else {
            out.push(b);
        }
    }
    Err(bad("unterminated text in key"))
}

fn bad(why: impl Into<String>) -> Error {
    Error::corrupted("key", why)
}

/// The smallest key greater than every key that starts with `prefix` (for exclusive range
/// ends), or `None` when the prefix is all 0xFF.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    into_prefix_end(prefix.to_vec())
}

/// [`prefix_end`] of a prefix the caller owns, made in its buffer.
pub fn into_prefix_end(mut end: Vec<u8>) -> Option<Vec<u8>> {
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            any::<f64>()
                .prop_filter("not nan", |f| !f.is_nan())
                .prop_map(Value::Float),
            ".*".prop_map(Value::Text),
            proptest::collection::vec(any::<u8>(), 0..8).prop_map(Value::Bytes),
            any::<u128>().prop_map(|u| Value::Uuid(Uuid::from_u128(u))),
            any::<i64>().prop_map(|t| Value::Timestamp(Timestamp(t))),
        ]
    }

    fn logical_cmp(a: &Value, b: &Value) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        fn rank(v: &Value) -> u8 {
            match v {
                Value::Null => 0,
                Value::Bool(_) => 1,
                Value::Int(_) => 2,
                Value::Float(_) => 3,
                Value::Text(_) => 4,
                Value::Bytes(_) => 5,
                Value::Uuid(_) => 6,
                Value::Timestamp(_) => 7,
            }
        }
        match (a, b) {
            (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
            (Value::Int(x), Value::Int(y)) => x.cmp(y),
            (Value::Float(x), Value::Float(y)) => x.total_cmp(y),
            (Value::Text(x), Value::Text(y)) => x.as_bytes().cmp(y.as_bytes()),
            (Value::Bytes(x), Value::Bytes(y)) => x.cmp(y),
            (Value::Uuid(x), Value::Uuid(y)) => x.cmp(y),
            (Value::Timestamp(x), Value::Timestamp(y)) => x.cmp(y),
            _ => rank(a).cmp(&rank(b)).then(Ordering::Equal),
        }
    }

    proptest! {
        #[test]
        fn round_trip(vs in proptest::collection::vec(arb_value(), 0..4)) {
            let enc = encode_values(&vs);
            prop_assert_eq!(decode_values(&enc).unwrap(), vs);
        }

        #[test]
        fn byte_order_is_logical_order(a in arb_value(), b in arb_value()) {
            prop_assert_eq!(encode_one(&a).cmp(&encode_one(&b)), logical_cmp(&a, &b));
        }

        #[test]
        fn composite_order_is_lexicographic(a in (any::<i64>(), ".*"), b in (any::<i64>(), ".*")) {
            let ka = encode_values(&[Value::Int(a.0), Value::Text(a.1.clone())]);
            let kb = encode_values(&[Value::Int(b.0), Value::Text(b.1.clone())]);
            prop_assert_eq!(ka.cmp(&kb), (a.0, a.1.as_bytes()).cmp(&(b.0, b.1.as_bytes())));
        }

        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_values(&bytes);
        }

        /// An int read from any length byte and body either is refused or encodes back to the
        /// same bytes (its one encoding), and then sorts where its value does.
        #[test]
        fn an_int_that_decodes_encodes_back_to_the_same_bytes(
            head in 0x77u8..=0x88,
            body in proptest::collection::vec(any::<u8>(), 8),
            other in any::<i64>(),
        ) {
            let k = if head >= 0x80 { usize::from(head - 0x80) } else { usize::from(0x7F - head) };
            let mut bytes = vec![T_INT, head];
            bytes.extend_from_slice(&body[..k]);
            if let Ok(Value::Int(i)) = decode_pk(&bytes) {
                prop_assert_eq!(encode_one(&Value::Int(i)), bytes.clone());
                let theirs = encode_one(&Value::Int(other));
                prop_assert_eq!(bytes.cmp(&theirs), i.cmp(&other));
            }
        }
    }

    #[test]
    fn ints_take_the_bytes_their_magnitude_needs_in_order() {
        let edges = [
            i64::MIN,
            i64::MIN + 1,
            -(1 << 32) - 1,
            -(1 << 32),
            -65_537,
            -65_536,
            -257,
            -256,
            -255,
            -2,
            -1,
            0,
            1,
            255,
            256,
            65_535,
            65_536,
            1 << 32,
            i64::MAX - 1,
            i64::MAX,
        ];
        let encoded: Vec<Vec<u8>> = edges.iter().map(|&i| encode_one(&Value::Int(i))).collect();
        for (i, e) in edges.iter().zip(&encoded) {
            assert_eq!(decode_pk(e).unwrap(), Value::Int(*i));
        }
        assert!(encoded.windows(2).all(|w| w[0] < w[1]), "{encoded:?}");
        assert_eq!(encode_one(&Value::Int(0)), [T_INT, 0x80]);
        assert_eq!(encode_one(&Value::Int(-1)), [T_INT, 0x7F]);
        assert_eq!(encode_one(&Value::Int(200)), [T_INT, 0x81, 200]);
        assert_eq!(encode_one(&Value::Int(-256)), [T_INT, 0x7E, 0x00]);
        assert_eq!(encode_one(&Value::Int(70_000)).len(), 5);
        assert_eq!(encode_one(&Value::Int(i64::MIN)).len(), 10);
    }

    #[test]
    fn an_int_not_in_its_shortest_form_is_refused() {
        for bad in [
            &[T_INT, 0x81, 0x00][..],                      // zero in one byte
            &[T_INT, 0x82, 0x00, 0x05][..],                // a leading zero byte
            &[T_INT, 0x7E, 0xFF][..],                      // -1 in one byte
            &[T_INT, 0x88, 0x80, 0, 0, 0, 0, 0, 0, 0][..], // past i64::MAX
            &[T_INT, 0x77, 0x7F, 0, 0, 0, 0, 0, 0, 0][..], // a positive body
            &[T_INT, 0x89][..],
            &[T_INT, 0x76][..],
            &[T_INT, 0x83, 0x01][..], // truncated
        ] {
            assert!(decode_pk(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn negative_ints_and_floats_sort_below_positive() {
        assert!(encode_one(&Value::Int(-5)) < encode_one(&Value::Int(3)));
        assert!(encode_one(&Value::Float(-0.5)) < encode_one(&Value::Float(0.25)));
        assert!(encode_one(&Value::Float(-0.0)) < encode_one(&Value::Float(0.0)));
    }

    #[test]
    fn text_prefix_sorts_first() {
        assert!(encode_one(&Value::from("ab")) < encode_one(&Value::from("ab\0")));
        assert!(encode_one(&Value::from("ab\0")) < encode_one(&Value::from("abc")));
    }

    #[test]
    fn prefix_end_carries() {
        assert_eq!(prefix_end(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xFF]), None);
    }
}
