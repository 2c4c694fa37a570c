//! Bytes into the order-preserving key decoder.
//!
//! Properties: `decode_values` never panics; when it succeeds, `encode_values` of the result
//! gives back exactly the input (the encoding is canonical: one byte string per value list,
//! NaN payloads included, since floats are compared by bits); and `decode_value` on the same
//! input agrees with the first value and consumes exactly its encoding.
#![no_main]

mod common;

use lazarusdb::internals::keys::{decode_value, decode_values, encode_one, encode_values};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(values) = decode_values(data) else {
        return;
    };
    let again = encode_values(&values);
    assert_eq!(again, data, "non-canonical key: {values:?}");
    if let Some(first) = values.first() {
        let mut rest = data;
        let one = decode_value(&mut rest).expect("the first value decodes alone");
        assert!(common::value_eq(&one, first));
        let enc = encode_one(first);
        assert_eq!(&data[..enc.len()], enc.as_slice());
        assert_eq!(rest.len(), data.len() - enc.len());
    }
});
