//! Values, rows and column types: the ground floor every other layer stands on.
//!
//! A [`Value`] is one cell. A [`Row`] is a set of named cells as the public API sees it; inside
//! the store a row image is a positional `Vec<Value>` in the table's column order (columns are
//! only ever appended, so an old image is a prefix of today's column list).
//!
//! JSON conversion is schema-free here ([`Value::from_json`] maps JSON types to the nearest
//! value); the schema layer coerces to the column type on write (a string into a uuid, a
//! timestamp or base64 bytes, an integer into a float).

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::error::{Error, Result};

/// The type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ColumnType {
    /// 64-bit signed integer.
    Int,
    /// 64-bit float.
    Float,
    /// UTF-8 text.
    Text,
    /// Raw bytes (base64 in JSON).
    Bytes,
    /// Boolean.
    Bool,
    /// A UUID.
    Uuid,
    /// A point in time, microseconds since the Unix epoch (RFC 3339 in JSON).
    Timestamp,
}

impl ColumnType {
    /// The name used in schema files: `int`, `float`, `text`, `bytes`, `bool`, `uuid`, `timestamp`.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Int => "int",
            ColumnType::Float => "float",
            ColumnType::Text => "text",
            ColumnType::Bytes => "bytes",
            ColumnType::Bool => "bool",
            ColumnType::Uuid => "uuid",
            ColumnType::Timestamp => "timestamp",
        }
    }

    /// Parses a schema-file type name.
    pub fn parse(name: &str) -> Result<ColumnType> {
        Ok(match name {
            "int" => ColumnType::Int,
            "float" => ColumnType::Float,
            "text" => ColumnType::Text,
            "bytes" => ColumnType::Bytes,
            "bool" => ColumnType::Bool,
            "uuid" => ColumnType::Uuid,
            "timestamp" => ColumnType::Timestamp,
            other => {
                return Err(Error::schema(format!(
                    "unknown type `{other}` (expected int, float, text, bytes, bool, uuid or timestamp)"
                )))
            }
        })
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A point in time: microseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Timestamp {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp(micros)
    }

    /// Parses an RFC 3339 timestamp such as `2024-05-01T12:00:00Z` or `2024-05-01T14:00:00+02:00`.
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp> {
        let parsed =
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map_err(|e| {
                    Error::invalid(format!(
                "`{text}` is not an RFC 3339 timestamp ({e}); write e.g. 2024-05-01T12:00:00Z"
            ))
                })?;
        let nanos = parsed.unix_timestamp_nanos();
        let t = i64::try_from(nanos / 1000)
            .map(Timestamp)
            .map_err(|_| Error::invalid(format!("timestamp `{text}` is out of range")))?;
        t.check().map_err(|_| {
            Error::invalid(format!(
                "timestamp `{text}` is outside the years 0000-9999 (UTC)"
            ))
        })
    }

    /// The earliest timestamp stored: 0000-01-01T00:00:00Z.
    pub const MIN: Timestamp = Timestamp(-62_167_219_200_000_000);
    /// The latest timestamp stored: 9999-12-31T23:59:59.999999Z.
    pub const MAX: Timestamp = Timestamp(253_402_300_799_999_999);

    /// The timestamp itself when it lies within [`Timestamp::MIN`]..=[`Timestamp::MAX`] (the
    /// range RFC 3339 text can express in UTC), an error otherwise.
    pub fn check(self) -> Result<Timestamp> {
        if (Timestamp::MIN..=Timestamp::MAX).contains(&self) {
            Ok(self)
        } else {
            Err(Error::invalid(format!(
                "timestamp of {} microseconds since 1970 is outside the years 0000-9999 (UTC)",
                self.0
            )))
        }
    }

    /// Formats as RFC 3339 in UTC with microseconds, e.g. `2024-05-01T12:00:00.000001Z`.
    pub fn to_rfc3339(self) -> String {
        let dt = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1000);
        match dt {
            Ok(dt) => {
                let f = time::macros::format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
                );
                dt.format(&f).unwrap_or_else(|_| format!("@{}us", self.0))
            }
            Err(_) => format!("@{}us", self.0),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// One cell of a row.
///
/// Two values are equal when the store cannot tell them apart: the same kind and the same
/// stored bytes. For floats that is identity, not IEEE comparison: `NaN` equals `NaN` (the store
/// keeps one NaN, see [`Value::coerce`]) and `-0.0` is not `0.0` (keys and lookups tell the
/// zeros apart). An int and a float are never equal.
#[derive(Debug, Clone, Default)]
pub enum Value {
    /// SQL-style null: no value (the default).
    #[default]
    Null,
    /// A 64-bit signed integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// UTF-8 text.
    Text(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A boolean.
    Bool(bool),
    /// A UUID.
    Uuid(Uuid),
    /// A point in time.
    Timestamp(Timestamp),
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => {
                (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
            }
            (Value::Text(a), Value::Text(b)) => a == b,
            (Value::Bytes(a), Value::Bytes(b)) => a == b,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Uuid(a), Value::Uuid(b)) => a == b,
            (Value::Timestamp(a), Value::Timestamp(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Value {}

/// The spellings of the non-finite floats in JSON, which has none of its own.
const NAN_TEXT: &str = "NaN";
const INF_TEXT: &str = "Infinity";
const NEG_INF_TEXT: &str = "-Infinity";

/// The one NaN the store keeps (a quiet NaN with no payload and no sign).
fn canonical_float(f: f64) -> f64 {
    if f.is_nan() {
        f64::NAN
    } else {
        f
    }
}

impl Value {
    /// A short name of the value's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Text(_) => "text",
            Value::Bytes(_) => "bytes",
            Value::Bool(_) => "bool",
            Value::Uuid(_) => "uuid",
            Value::Timestamp(_) => "timestamp",
        }
    }

    /// True for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value's column type, or `None` for null.
    pub fn column_type(&self) -> Option<ColumnType> {
        Some(match self {
            Value::Null => return None,
            Value::Int(_) => ColumnType::Int,
            Value::Float(_) => ColumnType::Float,
            Value::Text(_) => ColumnType::Text,
            Value::Bytes(_) => ColumnType::Bytes,
            Value::Bool(_) => ColumnType::Bool,
            Value::Uuid(_) => ColumnType::Uuid,
            Value::Timestamp(_) => ColumnType::Timestamp,
        })
    }

    /// The integer inside, if this is an [`Value::Int`].
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The text inside, if this is a [`Value::Text`].
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// Converts a JSON value without a schema: numbers become int or float, strings text, an
    /// array of small integers bytes. Objects and other arrays are refused.
    pub fn from_json(json: &serde_json::Value) -> Result<Value> {
        Ok(match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else if let Some(f) = n.as_f64() {
                    if n.is_u64() {
                        return Err(Error::invalid(format!(
                            "{n} does not fit a 64-bit signed integer"
                        )));
                    }
                    Value::Float(f)
                } else {
                    return Err(Error::invalid(format!("unsupported number {n}")));
                }
            }
            serde_json::Value::String(s) => Value::Text(s.clone()),
            serde_json::Value::Array(items) => {
                let mut bytes = Vec::with_capacity(items.len());
                for item in items {
                    match item.as_u64().and_then(|b| u8::try_from(b).ok()) {
                        Some(b) => bytes.push(b),
                        None => {
                            return Err(Error::invalid(
                                "arrays are only accepted as bytes (numbers 0-255); use base64 text for bytes",
                            ))
                        }
                    }
                }
                Value::Bytes(bytes)
            }
            serde_json::Value::Object(_) => {
                return Err(Error::invalid(
                    "a column value cannot be a JSON object (nested objects are not supported)",
                ))
            }
        })
    }

    /// Converts to JSON the way the CLI prints it: bytes as base64, uuids as text, timestamps as
    /// RFC 3339 text, and the floats JSON cannot spell as the text `"NaN"`, `"Infinity"` and
    /// `"-Infinity"` (a float column takes those back, see [`Value::coerce`]). `-0.0` keeps its
    /// sign.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => match serde_json::Number::from_f64(*f) {
                Some(n) => serde_json::Value::Number(n),
                None if f.is_nan() => serde_json::Value::String(NAN_TEXT.into()),
                None if *f > 0.0 => serde_json::Value::String(INF_TEXT.into()),
                None => serde_json::Value::String(NEG_INF_TEXT.into()),
            },
            Value::Text(s) => serde_json::Value::String(s.clone()),
            Value::Bytes(b) => {
                serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(b))
            }
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Uuid(u) => serde_json::Value::String(u.to_string()),
            Value::Timestamp(t) => serde_json::Value::String(t.to_rfc3339()),
        }
    }

    /// Converts to JSON for deserializing into a user's struct: like [`Value::to_json`] but
    /// bytes become an array of numbers (what `Vec<u8>` expects).
    pub(crate) fn to_typed_json(&self) -> serde_json::Value {
        match self {
            Value::Bytes(b) => {
                serde_json::Value::Array(b.iter().map(|x| serde_json::Value::from(*x)).collect())
            }
            other => other.to_json(),
        }
    }

    /// Coerces the value to a column type: the same type passes, an int becomes a float, text
    /// becomes a uuid, a timestamp (RFC 3339) or bytes (base64), and the text `"NaN"`,
    /// `"Infinity"` or `"-Infinity"` a float. Every NaN becomes the one NaN the store keeps (so
    /// a NaN reads back, exports and compares as NaN, whatever its bits were). Null passes
    /// (nullability is checked by the caller). When no coercion applies the value comes back as
    /// the error.
    pub fn coerce(self, to: ColumnType) -> std::result::Result<Value, Value> {
        match (self, to) {
            (Value::Null, _) => Ok(Value::Null),
            (Value::Int(i), ColumnType::Int) => Ok(Value::Int(i)),
            (Value::Int(i), ColumnType::Float) => Ok(Value::Float(i as f64)),
            (Value::Float(f), ColumnType::Float) => Ok(Value::Float(canonical_float(f))),
            (Value::Text(s), ColumnType::Float) => match s.as_str() {
                NAN_TEXT => Ok(Value::Float(f64::NAN)),
                INF_TEXT => Ok(Value::Float(f64::INFINITY)),
                NEG_INF_TEXT => Ok(Value::Float(f64::NEG_INFINITY)),
                _ => Err(Value::Text(s)),
            },
            (Value::Text(s), ColumnType::Text) => Ok(Value::Text(s)),
            (Value::Text(s), ColumnType::Uuid) => Uuid::parse_str(&s)
                .map(Value::Uuid)
                .map_err(|_| Value::Text(s)),
            (Value::Text(s), ColumnType::Timestamp) => Timestamp::parse_rfc3339(&s)
                .map(Value::Timestamp)
                .map_err(|_| Value::Text(s)),
            (Value::Text(s), ColumnType::Bytes) => base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .map(Value::Bytes)
                .map_err(|_| Value::Text(s)),
            (Value::Bytes(b), ColumnType::Bytes) => Ok(Value::Bytes(b)),
            (Value::Bool(b), ColumnType::Bool) => Ok(Value::Bool(b)),
            (Value::Uuid(u), ColumnType::Uuid) => Ok(Value::Uuid(u)),
            (Value::Timestamp(t), ColumnType::Timestamp) => Ok(Value::Timestamp(t)),
            (other, _) => Err(other),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

macro_rules! value_from {
    ($($t:ty => $variant:ident),* $(,)?) => {
        $(impl From<$t> for Value {
            fn from(v: $t) -> Value { Value::$variant(v.into()) }
        })*
    };
}

value_from!(i64 => Int, i32 => Int, u32 => Int, f64 => Float, String => Text, &str => Text,
    Vec<u8> => Bytes, bool => Bool, Uuid => Uuid, Timestamp => Timestamp);

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map(Into::into).unwrap_or(Value::Null)
    }
}

// Wire form inside bincode event payloads: a (tag, payload) tuple with explicit tag numbers.
// Tags are part of the on-disk format: never renumber, only append.
pub(crate) const TAG_NULL: u8 = 0;
pub(crate) const TAG_INT: u8 = 1;
pub(crate) const TAG_FLOAT: u8 = 2;
pub(crate) const TAG_TEXT: u8 = 3;
pub(crate) const TAG_BYTES: u8 = 4;
pub(crate) const TAG_BOOL: u8 = 5;
pub(crate) const TAG_UUID: u8 = 6;
pub(crate) const TAG_TIMESTAMP: u8 = 7;

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        match self {
            Value::Null => {
                t.serialize_element(&TAG_NULL)?;
                t.serialize_element(&())?;
            }
            Value::Int(i) => {
                t.serialize_element(&TAG_INT)?;
                t.serialize_element(i)?;
            }
            Value::Float(f) => {
                t.serialize_element(&TAG_FLOAT)?;
                t.serialize_element(&f.to_bits())?;
            }
            Value::Text(x) => {
                t.serialize_element(&TAG_TEXT)?;
                t.serialize_element(x)?;
            }
            Value::Bytes(b) => {
                t.serialize_element(&TAG_BYTES)?;
                t.serialize_element(&BytesOut(b))?;
            }
            Value::Bool(b) => {
                t.serialize_element(&TAG_BOOL)?;
                t.serialize_element(b)?;
            }
            Value::Uuid(u) => {
                t.serialize_element(&TAG_UUID)?;
                t.serialize_element(&u.as_u128())?;
            }
            Value::Timestamp(ts) => {
                t.serialize_element(&TAG_TIMESTAMP)?;
                t.serialize_element(&ts.0)?;
            }
        }
        t.end()
    }
}

/// Serializes a byte slice as serde bytes (one length prefix and the raw bytes in bincode).
struct BytesOut<'a>(&'a [u8]);

impl Serialize for BytesOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// Reads serde bytes back into an owned buffer.
struct BytesIn(Vec<u8>);

impl<'de> Deserialize<'de> for BytesIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BytesIn;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> std::result::Result<BytesIn, E> {
                Ok(BytesIn(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> std::result::Result<BytesIn, E> {
                Ok(BytesIn(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<BytesIn, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(BytesIn(out))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a (tag, payload) value tuple")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Value, A::Error> {
                let tag: u8 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                fn need<'de, A: SeqAccess<'de>, T: Deserialize<'de>>(
                    seq: &mut A,
                ) -> std::result::Result<T, A::Error> {
                    seq.next_element()?
                        .ok_or_else(|| de::Error::custom("value payload missing"))
                }
                Ok(match tag {
                    TAG_NULL => {
                        need::<A, ()>(&mut seq)?;
                        Value::Null
                    }
                    TAG_INT => Value::Int(need(&mut seq)?),
                    TAG_FLOAT => Value::Float(f64::from_bits(need(&mut seq)?)),
                    TAG_TEXT => Value::Text(need(&mut seq)?),
                    TAG_BYTES => Value::Bytes(need::<A, BytesIn>(&mut seq)?.0),
                    TAG_BOOL => Value::Bool(need(&mut seq)?),
                    TAG_UUID => Value::Uuid(Uuid::from_u128(need(&mut seq)?)),
                    TAG_TIMESTAMP => Value::Timestamp(Timestamp(need(&mut seq)?)),
                    other => return Err(de::Error::custom(format!("unknown value tag {other}"))),
                })
            }
        }
        d.deserialize_tuple(2, V)
    }
}

/// A row as the public API sees it: column name to value.
///
/// Column names are shared with the table definition (reading a row allocates no names); the
/// columns keep the table's order. Two rows are equal when they hold the same columns with the
/// same values, in any order.
///
/// ```
/// use lazarusdb::{Row, Value};
/// let row = Row::new().with("id", 1).with("title", "Dune");
/// assert_eq!(row.get("title"), Some(&Value::from("Dune")));
/// ```
#[derive(Clone, Default)]
pub struct Row {
    /// The column names, position for position with `values`. A row read from the store shares
    /// its table's list (one reference count a row); changing the row's columns copies it.
    names: Arc<Vec<Arc<str>>>,
    values: Vec<Value>,
}

impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl PartialEq for Row {
    fn eq(&self, other: &Row) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl Row {
    /// An empty row.
    pub fn new() -> Row {
        Row::default()
    }

    /// A row of a table's shared column names and an image of its values (the read path):
    /// `values` holds one value a name.
    pub(crate) fn from_shared(names: Arc<Vec<Arc<str>>>, values: Vec<Value>) -> Row {
        debug_assert_eq!(names.len(), values.len());
        Row { names, values }
    }

    fn put(&mut self, column: Arc<str>, value: Value) {
        match self.names.iter().position(|k| **k == *column) {
            Some(i) => {
                if let Some(slot) = self.values.get_mut(i) {
                    *slot = value;
                }
            }
            None => {
                Arc::make_mut(&mut self.names).push(column);
                self.values.push(value);
            }
        }
    }

    /// Adds (or replaces) a column value, builder style.
    pub fn with(mut self, column: impl Into<String>, value: impl Into<Value>) -> Row {
        self.put(Arc::from(column.into()), value.into());
        self
    }

    /// Sets a column value.
    pub fn set(&mut self, column: impl Into<String>, value: impl Into<Value>) {
        self.put(Arc::from(column.into()), value.into());
    }

    /// The value of a column, if present.
    pub fn get(&self, column: &str) -> Option<&Value> {
        let i = self.names.iter().position(|k| &**k == column)?;
        self.values.get(i)
    }

    /// Removes a column, returning its value.
    pub fn remove(&mut self, column: &str) -> Option<Value> {
        let i = self.names.iter().position(|k| &**k == column)?;
        Arc::make_mut(&mut self.names).remove(i);
        Some(self.values.remove(i))
    }

    /// The columns and values (in the table's column order for rows read from the store).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.names.iter().map(|k| &**k).zip(self.values.iter())
    }

    /// Number of columns present.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when no column is present.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Builds a row from a JSON object (see [`Value::from_json`] for the cell mapping).
    pub fn from_json(json: &serde_json::Value) -> Result<Row> {
        let obj = json.as_object().ok_or_else(|| {
            Error::invalid(format!(
                "a row must be a JSON object like {{\"column\": value}}, got {}",
                json_kind(json)
            ))
        })?;
        let mut row = Row::new();
        for (k, v) in obj {
            let value =
                Value::from_json(v).map_err(|e| Error::invalid(format!("column `{k}`: {e}")))?;
            row.put(Arc::from(k.as_str()), value);
        }
        Ok(row)
    }

    /// Parses a row from JSON text.
    pub fn from_json_str(text: &str) -> Result<Row> {
        let json: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::invalid(format!("malformed JSON row: {e}")))?;
        Row::from_json(&json)
    }

    /// The row as a JSON object (see [`Value::to_json`]).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.iter()
                .map(|(k, v)| (k.to_string(), v.to_json()))
                .collect(),
        )
    }

    pub(crate) fn to_typed_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.iter()
                .map(|(k, v)| (k.to_string(), v.to_typed_json()))
                .collect(),
        )
    }
}

impl FromIterator<(String, Value)> for Row {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Row {
        let mut row = Row::new();
        for (k, v) in iter {
            row.put(Arc::from(k), v);
        }
        row
    }
}

pub(crate) fn json_kind(json: &serde_json::Value) -> &'static str {
    match json {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_round_trips_through_rfc3339() {
        let t = Timestamp::parse_rfc3339("2024-05-01T14:00:00.000123+02:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-05-01T12:00:00.000123Z");
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
    }

    #[test]
    fn coercion_follows_the_column_type() {
        let u = "0191e2f0-0000-7000-8000-000000000001";
        assert!(matches!(
            Value::from(u).coerce(ColumnType::Uuid),
            Ok(Value::Uuid(_))
        ));
        assert_eq!(
            Value::Int(2).coerce(ColumnType::Float),
            Ok(Value::Float(2.0))
        );
        assert!(Value::Text("x".into()).coerce(ColumnType::Int).is_err());
        assert_eq!(
            Value::from("AAE=").coerce(ColumnType::Bytes),
            Ok(Value::Bytes(vec![0, 1]))
        );
    }

    #[test]
    fn json_objects_are_refused_as_cells() {
        let err = Row::from_json_str(r#"{"a": {"b": 1}}"#).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err}");
        assert!(Row::from_json_str("[1,2]").is_err());
        assert!(Row::from_json_str("{").is_err());
    }
}

/// A row named by table and primary key.
#[derive(Debug, Clone, PartialEq)]
pub struct RowRef {
    /// The table.
    pub table: String,
    /// The primary key.
    pub pk: Value,
}

impl std::fmt::Display for RowRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.table, self.pk)
    }
}
