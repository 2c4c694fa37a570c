//! Helpers shared by the fuzz targets.
#![allow(dead_code)]

use lazarusdb::{Row, Value};

/// Value equality as the store promises it: floats compared by bits (NaN equals itself when
/// its payload does, -0 differs from +0); everything else by `==`.
pub fn value_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

/// [`value_eq`] over two images.
pub fn values_eq(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| value_eq(x, y))
}

/// [`value_eq`] over two rows (same columns, equal cells).
pub fn row_eq(a: &Row, b: &Row) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b.iter())
            .all(|((ka, va), (kb, vb))| ka == kb && value_eq(va, vb))
}

/// [`row_eq`] over two lists of rows.
pub fn rows_eq(a: &[Row], b: &[Row]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| row_eq(x, y))
}
