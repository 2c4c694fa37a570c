//! The reference model of lazarusdb's semantics (`docs/semantics.md`, `docs/design.md` §9–§11),
//! shared by the model-based property tests (`tests/model.rs`, `tests/model_history.rs`,
//! `tests/model_purge.rs`, each with `mod reference;`) and the fuzz target
//! `fuzz/fuzz_targets/model_ops.rs` (with `#[path = "../../tests/reference/mod.rs"]`). It depends
//! on `lazarusdb` and `uuid` only.
//!
//! [`Model`] is a plain, general store: tables ([`Table`]) with typed columns, nullability and
//! defaults, a primary key (an omitted int key is the largest ever used + 1; `i64::MAX` is never
//! a key), unique and secondary indexes (also added later), foreign keys with `cascade`,
//! `restrict` and `set_null`, and `trash_keeps_keys`. Each live row belongs to a *life* ([`Life`]:
//! from the insert that begins it to the tombstone that puts it in a trash; a restore resumes
//! it), which records every image written of it. Deletions ([`Del`]) hold their members (the
//! tombstoned rows and the set-null updates) with their state: in the trash, restored, or left
//! (a set-null member whose life was purged). From these it predicts, for every write, success
//! (with what the store returns) or the exact error or conflicts, and the state after:
//!
//! - inserts, partial updates, `add_column`, `add_index`, transactions (one per write unless
//!   [`Model::begin`] opened one);
//! - delete (cascade breadth-first, set-null updates, restrict), restore of a deletion (refuse
//!   or skip conflicts) and of one row, its dry run;
//! - restore to a point (a row, a table, the store) and undo, with lives: a row comes back out
//!   of the deletion holding the life it had then, set-null updates made since to that life are
//!   put back, one needing a purged life is `Purged`, and a value the trash keeps for another
//!   row (also for a row the same operation tombstones) is a `key_reserved` conflict;
//! - purge and erase (the life a purged tombstone ended, set-null members of that life leaving
//!   other deletions, erase purging every deletion holding a life of the key), retention
//!   policies (deletion windows, history windows and pruning horizons) on the model's clock;
//! - `find_deletion`: the deletion holding the key's latest life still in a trash, live key or
//!   not;
//! - a [`Snap`] after every committed transaction, from which it answers every as-of read
//!   (rows, the trash, `deletion_rows`, `find_deletion`), `diff`, and `HistoryExpired`.
//!
//! Not modelled: the undo of a transaction that purged; which images a history pruning
//! rewrites (a purge's image count is exact only without pruning); `diff` at an LSN inside a
//! transaction; key and image size limits.
//!
//! Writes of rows (`insert`, `update`, `add_column`, `add_index`) answer every error the store
//! may give, the one it checks first first; the other operations answer one error. Values are
//! compared as the store compares them: `Value`'s `==` is identity (NaN equals NaN,
//! `-0.0` is not `0.0`), and keys and index entries sort as the store's key encoding does
//! ([`vcmp`]). The callers keep their own generators and their own comparisons of the store's
//! read paths; ids the store makes (deletion ids, generated uuid keys) are handed to the model
//! after the store returned them.
#![allow(
    dead_code,
    unused_imports,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod rewind;
mod schema;
mod state;
mod trash;

use std::cmp::Ordering;
use std::collections::BTreeSet;

use lazarusdb::{Constraint, Error, Value};
use uuid::Uuid;

pub use rewind::{DiffRow, RewindOut, ScopeM};
pub use schema::{Col, Fk, Index, Live, Table};
pub use state::{Del, DelRow, Image, Life, MKind, MState, Member, Model, Snap, TrashRow, Tx};
pub use trash::{DeletePlan, PurgeOut, RestoreOut, RetentionOut};

// ---------------------------------------------------------------------------------------------
// Keys and values.

/// A primary key (int, text or uuid), ordered as the store orders keys of one type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pk {
    Int(i64),
    Text(String),
    Uuid(Uuid),
}

impl Pk {
    /// The key a value is, if it can be one.
    pub fn of(v: &Value) -> Option<Pk> {
        match v {
            Value::Int(i) => Some(Pk::Int(*i)),
            Value::Text(s) => Some(Pk::Text(s.clone())),
            Value::Uuid(u) => Some(Pk::Uuid(*u)),
            _ => None,
        }
    }

    pub fn value(&self) -> Value {
        match self {
            Pk::Int(i) => Value::Int(*i),
            Pk::Text(s) => Value::Text(s.clone()),
            Pk::Uuid(u) => Value::Uuid(*u),
        }
    }

    pub fn int(&self) -> Option<i64> {
        match self {
            Pk::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl From<i64> for Pk {
    fn from(i: i64) -> Pk {
        Pk::Int(i)
    }
}

impl std::fmt::Display for Pk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.value())
    }
}

/// A row: (table index, primary key).
pub type RowKey = (usize, Pk);

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

/// The one NaN the store keeps (every NaN written is stored as it).
fn canonical(f: f64) -> f64 {
    if f.is_nan() {
        f64::NAN
    } else {
        f
    }
}

/// The store's order of values (its key encoding): floats in total order (NaN is one value),
/// text and bytes by bytes.
pub fn vcmp(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Float(x), Value::Float(y)) => canonical(*x).total_cmp(&canonical(*y)),
        (Value::Text(x), Value::Text(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Bytes(x), Value::Bytes(y)) => x.cmp(y),
        (Value::Uuid(x), Value::Uuid(y)) => x.cmp(y),
        (Value::Timestamp(x), Value::Timestamp(y)) => x.0.cmp(&y.0),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Lexicographic comparison of `entry`'s first `bound.len()` values with `bound`.
pub fn prefix_cmp(entry: &[Value], bound: &[Value]) -> Ordering {
    for (e, b) in entry.iter().zip(bound) {
        match vcmp(e, b) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    Ordering::Equal
}

pub fn tuple_cmp(a: &[Value], b: &[Value]) -> Ordering {
    prefix_cmp(a, b).then(a.len().cmp(&b.len()))
}

/// A cell as given to the store and what the store must make of it: `expect` is the value after
/// the store's coercions (`None`: a wrong type). A null `given` is an explicit null.
#[derive(Debug, Clone)]
pub struct Cell {
    pub given: Value,
    pub expect: Option<Value>,
}

impl Cell {
    /// A value the store takes as it is.
    pub fn ok(v: impl Into<Value>) -> Cell {
        let v = v.into();
        Cell {
            given: v.clone(),
            expect: Some(v),
        }
    }

    /// A value the store coerces into `to`.
    pub fn coerced(given: impl Into<Value>, to: impl Into<Value>) -> Cell {
        Cell {
            given: given.into(),
            expect: Some(to.into()),
        }
    }

    /// A value of the wrong type.
    pub fn bad(v: Value) -> Cell {
        Cell {
            given: v,
            expect: None,
        }
    }
}

/// The cells of a row of values the store takes as they are.
pub fn cells_of(row: &lazarusdb::Row) -> Vec<(String, Cell)> {
    row.iter()
        .map(|(n, v)| (n.to_string(), Cell::ok(v.clone())))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Errors.

/// A conflict as compared: (table, primary key as the store displays it, kind name).
pub type Conf = (String, String, &'static str);

/// The conflicts of a store error or plan, as compared.
pub fn confs(cs: &[lazarusdb::Conflict]) -> BTreeSet<Conf> {
    cs.iter()
        .map(|c| (c.row.table.clone(), c.row.pk.to_string(), c.kind.name()))
        .collect()
}

/// An error the model expects, matched against the store's [`Error`].
#[derive(Debug, Clone, PartialEq)]
pub enum Exp {
    PrimaryKey {
        table: String,
    },
    Unique {
        table: String,
        cols: Vec<String>,
    },
    ForeignKey {
        table: String,
        column: String,
        references: String,
    },
    NotNull {
        table: String,
        column: String,
    },
    WrongType {
        table: String,
        column: String,
    },
    UnknownColumn {
        table: String,
        column: String,
    },
    NotFound {
        table: String,
    },
    /// `InvalidSchema`.
    Schema,
    /// `InvalidInput`.
    Input,
    /// The purge of a deletion with nothing in the trash: `InvalidInput` saying it was restored.
    PurgeRestored,
    KeysExhausted {
        table: String,
    },
    AlreadyDeleted(Uuid),
    KeyReserved(Uuid),
    /// `DeleteRestricted` of the root (table, key) with every blocking row ("table key").
    Restricted {
        table: String,
        pk: String,
        blocking: BTreeSet<String>,
    },
    AlreadyRestored,
    UnknownDeletion,
    Purged,
    RestoreConflict(BTreeSet<Conf>),
    RewindConflict(BTreeSet<Conf>),
    /// `HistoryExpired` (which table it names depends on the order the store checks them in).
    Expired,
}

impl std::fmt::Display for Exp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the model's error {self:?}")
    }
}

impl Exp {
    /// Whether the store's error is this one.
    pub fn matches(&self, e: &Error) -> bool {
        match (e, self) {
            (
                Error::ConstraintViolation {
                    table,
                    constraint: Constraint::PrimaryKey,
                    ..
                },
                Exp::PrimaryKey { table: t },
            ) => table == t,
            (
                Error::ConstraintViolation {
                    table,
                    constraint: Constraint::Unique(cols),
                    ..
                },
                Exp::Unique { table: t, cols: c },
            ) => table == t && cols == c,
            (
                Error::ConstraintViolation {
                    table,
                    constraint: Constraint::ForeignKey { column, references },
                    ..
                },
                Exp::ForeignKey {
                    table: t,
                    column: c,
                    references: p,
                },
            ) => table == t && column == c && references == p,
            (
                Error::ConstraintViolation {
                    table,
                    constraint: Constraint::NotNull(column),
                    ..
                },
                Exp::NotNull {
                    table: t,
                    column: c,
                },
            ) => table == t && column == c,
            (
                Error::WrongType { table, column, .. },
                Exp::WrongType {
                    table: t,
                    column: c,
                },
            ) => table == t && column == c,
            (
                Error::UnknownColumn { table, column },
                Exp::UnknownColumn {
                    table: t,
                    column: c,
                },
            ) => table == t && column == c,
            (Error::NotFound { table, .. }, Exp::NotFound { table: t }) => table == t,
            (Error::InvalidSchema(_), Exp::Schema) => true,
            (Error::InvalidInput(_), Exp::Input) => true,
            (Error::InvalidInput(msg), Exp::PurgeRestored) => msg.contains("restored"),
            (Error::KeysExhausted { table }, Exp::KeysExhausted { table: t }) => table == t,
            (Error::AlreadyDeleted { deletion, .. }, Exp::AlreadyDeleted(d)) => deletion == d,
            (Error::KeyReserved { deletion, .. }, Exp::KeyReserved(d)) => deletion == d,
            (
                Error::DeleteRestricted {
                    table,
                    pk,
                    blocking,
                },
                Exp::Restricted {
                    table: t,
                    pk: p,
                    blocking: b,
                },
            ) => table == t && pk == p && blocking.iter().cloned().collect::<BTreeSet<_>>() == *b,
            (Error::AlreadyRestored(_), Exp::AlreadyRestored) => true,
            (Error::UnknownDeletion(_), Exp::UnknownDeletion) => true,
            (Error::Purged(_), Exp::Purged) => true,
            (Error::RestoreConflict { conflicts, .. }, Exp::RestoreConflict(want)) => {
                confs(conflicts) == *want
            }
            (Error::RewindConflict { conflicts, .. }, Exp::RewindConflict(want)) => {
                confs(conflicts) == *want
            }
            (Error::HistoryExpired { .. }, Exp::Expired) => true,
            _ => false,
        }
    }
}

/// Whether the store's error is one of those the model expects.
pub fn any_matches(e: &Error, exps: &[Exp]) -> bool {
    exps.iter().any(|x| x.matches(e))
}
