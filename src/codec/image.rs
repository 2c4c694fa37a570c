//! A direct decoder of row images, the hot path of every live read.
//!
//! A row record's payload is `(lsn: u64, image: Vec<Value>)` encoded by the frozen codec
//! (bincode 2.0.1 `standard()`, see [`super::record`]); going through serde costs a visitor
//! call and a size check per value. [`decode_lsn_image`] reads the same bytes by hand:
//!
//! - an unsigned integer is a varint: a first byte up to 250 is the value; 251, 252, 253 and 254
//!   are followed by the value as 2, 4, 8 or 16 little-endian bytes (254 only for `u128`); 255
//!   is invalid;
//! - a signed integer is the varint of its zigzag form (`0, -1, 1, -2, …` as `0, 1, 2, 3, …`);
//! - a sequence, a string and serde bytes are a varint length then their items or bytes;
//! - a `u8` and a `bool` are one raw byte (`bool`: 0 or 1);
//! - a [`Value`] is its tag byte then its payload (nothing for null, the `i64` for an int and a
//!   timestamp, the `u64` bits for a float, a string, serde bytes, a bool, the `u128` of a uuid).
//!
//! It accepts exactly the payloads the serde path accepts and returns the same values; the unit
//! tests and the `event_decode` fuzz target compare the two on every input.

use uuid::Uuid;

use crate::value::{
    Timestamp, Value, TAG_BOOL, TAG_BYTES, TAG_FLOAT, TAG_INT, TAG_NULL, TAG_TEXT, TAG_TIMESTAMP,
    TAG_UUID,
};

/// Why a payload does not decode.
pub type DecodeError = String;

const SINGLE_BYTE_MAX: u8 = 250;
const U16_BYTE: u8 = 251;
const U32_BYTE: u8 = 252;
const U64_BYTE: u8 = 253;
const U128_BYTE: u8 = 254;

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.bytes.len() {
            return Err(format!(
                "{n} bytes needed, {} left (the payload ends early)",
                self.bytes.len()
            ));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        let (&b, rest) = self
            .bytes
            .split_first()
            .ok_or_else(|| "1 byte needed, 0 left (the payload ends early)".to_string())?;
        self.bytes = rest;
        Ok(b)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// A varint of a `u128` (a uuid): the 16-byte form too.
    fn u128_varint(&mut self) -> Result<u128, DecodeError> {
        Ok(match self.byte()? {
            b @ 0..=SINGLE_BYTE_MAX => u128::from(b),
            U16_BYTE => u128::from(u16::from_le_bytes(self.array()?)),
            U32_BYTE => u128::from(u32::from_le_bytes(self.array()?)),
            U64_BYTE => u128::from(u64::from_le_bytes(self.array()?)),
            U128_BYTE => u128::from_le_bytes(self.array()?),
            b => return Err(format!("invalid varint discriminant {b}")),
        })
    }

    /// A varint that must fit 64 bits (its 16-byte form is refused, as the serde path
    /// refuses it for a `u64`).
    #[inline]
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(match self.byte()? {
            b @ 0..=SINGLE_BYTE_MAX => u64::from(b),
            U16_BYTE => u64::from(u16::from_le_bytes(self.array()?)),
            U32_BYTE => u64::from(u32::from_le_bytes(self.array()?)),
            U64_BYTE => u64::from_le_bytes(self.array()?),
            b => return Err(format!("invalid varint discriminant {b}")),
        })
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        let n = self.u64()?;
        // zigzag: even is n / 2, odd is !(n / 2)
        let half = (n / 2) as i64;
        Ok(if n % 2 == 0 { half } else { !half })
    }

    fn len(&mut self) -> Result<usize, DecodeError> {
        let n = self.u64()?;
        usize::try_from(n).map_err(|_| format!("length {n} does not fit this machine"))
    }

    /// Decodes one value onto the end of `out`. Each kind is pushed where it is decoded, so
    /// no `Result<Value, _>` is built and copied on the way (its byte-wise moves stalled the
    /// loads that followed them: a third of a live scan's decoding time).
    fn push_value(&mut self, out: &mut Vec<Value>) -> Result<(), DecodeError> {
        match self.byte()? {
            TAG_NULL => out.push(Value::Null),
            TAG_INT => {
                let v = self.i64()?;
                out.push(Value::Int(v));
            }
            TAG_FLOAT => {
                let bits = self.u64()?;
                out.push(Value::Float(f64::from_bits(bits)));
            }
            TAG_TEXT => {
                let n = self.len()?;
                let bytes = self.take(n)?;
                let text = std::str::from_utf8(bytes).map_err(not_utf8)?;
                out.push(Value::Text(text.to_owned()));
            }
            TAG_BYTES => {
                let n = self.len()?;
                let bytes = self.take(n)?;
                out.push(Value::Bytes(bytes.to_vec()));
            }
            TAG_BOOL => match self.byte()? {
                0 => out.push(Value::Bool(false)),
                1 => out.push(Value::Bool(true)),
                b => return Err(format!("invalid bool byte {b}")),
            },
            TAG_UUID => {
                let v = self.u128_varint()?;
                out.push(Value::Uuid(Uuid::from_u128(v)));
            }
            TAG_TIMESTAMP => {
                let v = self.i64()?;
                out.push(Value::Timestamp(Timestamp(v)));
            }
            other => return Err(format!("unknown value tag {other}")),
        }
        Ok(())
    }
}

#[cold]
fn not_utf8(e: std::str::Utf8Error) -> DecodeError {
    format!("text is not UTF-8: {e}")
}

/// Decodes a row record's payload: the LSN of the version and its image. The whole payload
/// must be used.
pub fn decode_lsn_image(payload: &[u8]) -> Result<(u64, Vec<Value>), DecodeError> {
    let mut r = Reader { bytes: payload };
    let lsn = r.u64()?;
    let n = r.len()?;
    // every value takes one byte at least: a length past the bytes left is damage, and never
    // allocates
    if n > r.bytes.len() {
        return Err(format!("an image of {n} values in {} bytes", r.bytes.len()));
    }
    let mut image = Vec::with_capacity(n);
    for _ in 0..n {
        r.push_value(&mut image)?;
    }
    if !r.bytes.is_empty() {
        return Err(format!("{} trailing bytes after payload", r.bytes.len()));
    }
    Ok((lsn, image))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::record::{self, kind};

    /// The serde path's answer for the same payload.
    fn by_serde(payload: &[u8]) -> Option<(u64, Vec<Value>)> {
        record::decode_payload::<(u64, Vec<Value>)>(payload, &|| "test".into()).ok()
    }

    fn payload_of(lsn: u64, image: &[Value]) -> Vec<u8> {
        let rec = record::encode(kind::ROW, &(lsn, image)).unwrap();
        rec[3..rec.len() - 4].to_vec()
    }

    fn same(a: &[Value], b: &[Value]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
    }

    #[test]
    fn every_kind_of_value_decodes_as_serde_decodes_it() {
        let image = vec![
            Value::Null,
            Value::Int(0),
            Value::Int(-1),
            Value::Int(250),
            Value::Int(i64::MAX),
            Value::Int(i64::MIN),
            Value::Float(0.0),
            Value::Float(-0.0),
            Value::Float(f64::NAN),
            Value::Float(f64::INFINITY),
            Value::Float(1.5e300),
            Value::Text(String::new()),
            Value::Text("héllo".repeat(100)),
            Value::Bytes(vec![]),
            Value::Bytes((0..=255).collect()),
            Value::Bool(true),
            Value::Bool(false),
            Value::Uuid(Uuid::from_u128(0)),
            Value::Uuid(Uuid::from_u128(u128::MAX)),
            Value::Uuid(Uuid::from_u128(300)),
            Value::Timestamp(Timestamp(-5)),
            Value::Timestamp(Timestamp(1_700_000_000_000_000)),
        ];
        for lsn in [0, 250, 251, 65_535, 65_536, u64::MAX] {
            let p = payload_of(lsn, &image);
            let (l, img) = decode_lsn_image(&p).unwrap();
            let (sl, simg) = by_serde(&p).unwrap();
            assert_eq!((l, lsn), (sl, lsn));
            assert!(same(&img, &simg) && same(&img, &image));
        }
    }

    #[test]
    fn damaged_payloads_fail_where_serde_fails() {
        let p = payload_of(
            77,
            &[
                Value::Text("abc".into()),
                Value::Int(-300),
                Value::Uuid(Uuid::from_u128(u128::MAX / 3)),
                Value::Bool(true),
                Value::Bytes(vec![1, 2, 3]),
            ],
        );
        // every cut and every single-byte change: both fail, or both give the same answer
        let mut cases: Vec<Vec<u8>> = (0..p.len()).map(|n| p[..n].to_vec()).collect();
        for i in 0..p.len() {
            for b in [0u8, 1, 2, 3, 7, 8, 250, 251, 252, 253, 254, 255, 0x80, 0xC3] {
                let mut q = p.clone();
                q[i] = b;
                cases.push(q);
            }
        }
        cases.push([p.clone(), vec![0]].concat());
        for q in cases {
            let mine = decode_lsn_image(&q).ok();
            let serde = by_serde(&q);
            match (&mine, &serde) {
                (None, None) => {}
                (Some((a, x)), Some((b, y))) => assert!(a == b && same(x, y), "{q:?}"),
                _ => panic!("{q:?}: by hand {mine:?}, by serde {serde:?}"),
            }
        }
    }
}
