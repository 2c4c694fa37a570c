//! Model-based property test of deletes, restores and time, on the memory and fjall engines.
//!
//! Each case draws a schema from a few shapes, every table with a store-assigned int primary
//! key `id`, a nullable unique text column `u` and a plain int column `n`:
//!
//! - a chain of 2-3 tables (`a0` ← `a1` ← `a2`, foreign key `p`), each foreign key with a random
//!   `on_delete` (cascade, set_null on a nullable column, restrict; nullable or not);
//! - a self-referencing comment tree (`node.up`, nullable, cascade or set_null);
//! - a join table `link` between `left` and `right` (two cascade foreign keys `l`, `r`).
//!
//! Random operations run against the store and a plain in-memory model (live rows per table, the
//! deletions with the members still in the trash, the transactions with the rows they touched,
//! and the state after each transaction): inserts (valid parents, null, trashed or missing
//! parents, self references, unique clashes, explicit reuse of a trashed primary key); partial
//! updates (of the unique column to clash, of a foreign key); deletes of live rows (the model
//! computes the cascade breadth-first through cascade foreign keys over live rows, the set-null
//! updates, and the restrict check) and of rows that are not live; restores of a random
//! deletion with `Refuse` or `SkipConflicts` (conflicts: primary key taken, unique value taken,
//! parent neither live nor coming back, a set-null member no longer live; skipped transitively
//! through the parents they need), each after its dry run (`restore_plan`), some right after a
//! write aimed at the deletion (a new row taking a trashed row's unique value or primary key, a
//! trashed row's live parent deleted, a set-null member's row re-pointed); a delete immediately
//! followed by its restore; `restore_store_to`, `restore_table_to` and `restore_row_to` a random
//! earlier recorded LSN, each after its dry run (`restore_to_plan`); `undo` of a random earlier
//! transaction, forced or not (conflicts: changed later, referenced outside the scope, unique
//! taken, parent not live, schema change).
//!
//! Pinned:
//! 1. every operation fails exactly when the model says, with the model's error (and the same
//!    blocking rows or conflicts), writing nothing; every success returns what the model
//!    predicts (rows, cascades, restored, relinked and skipped rows, rewind lists) and moves the
//!    LSN by exactly the model's number of events; after every step every read path (`get`,
//!    `scan`, `lookup` on `u`, `children` and `parent` through every foreign key, `count`)
//!    equals the model, as does the trash (`trash(all)`: ids newest first, remaining, restored,
//!    unlinked, rows per table, roots; `deletion_rows`; `deletion`; `find_deletion` of rows that
//!    are not live);
//! 2. a delete followed immediately by the restore of its deletion gives every table's scan
//!    back exactly;
//! 3. no live row ever has a dangling foreign key, and no two live rows share a unique value
//!    (checked over the store's own scans after every step);
//! 4. rows that were not live before a restore and are not part of it stay not live;
//! 5. for every recorded step, `as_of(lsn)` equals the model's state then on every read path and
//!    in its trash (and an LSN inside a transaction reads as the whole transaction); `diff`
//!    between consecutive points, and between two random points both ways, lists exactly the
//!    rows that differ; `restore_store_to` one of them makes the live reads equal that state,
//!    and `undo` of the restore's transaction brings back the state before it;
//! 6. `verify` reports no difference at the end of every case; on fjall the store reads the same
//!    after reopening.
//!
//! Regressions found by this property are kept as named tests at the end of the file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Display;
use std::sync::atomic::{AtomicI64, Ordering as AtomicOrdering};
use std::sync::Arc;

use lazarusdb::{
    Clock, ColumnDef, ColumnType, Constraint, Db, Error, MemberKind, OnDelete, Options, Readable,
    RestorePolicy, Retention, Row, RowRef, Scan, Scope, TableBuilder, Timestamp, TrashQuery, Value,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Schema.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Od {
    Cascade,
    SetNull,
    Restrict,
}

#[derive(Debug, Clone)]
enum Shape {
    /// The foreign keys of `a1` (and `a2`): on_delete, nullable, unique.
    Chain(Vec<(Od, bool, bool)>),
    Tree(Od),
    Join,
}

#[derive(Debug, Clone)]
struct FkM {
    col: &'static str,
    parent: usize,
    od: Od,
    nullable: bool,
    /// A unique constraint over the column (after the one over `u`).
    unique: bool,
}

#[derive(Debug, Clone)]
struct TableM {
    name: String,
    fks: Vec<FkM>,
    /// The table's trash keeps its keys (`trash_keeps_keys`).
    keeps: bool,
}

fn tables_of(shapes: &[Shape], keeps: u8) -> Vec<TableM> {
    let mut out = tables_of_shapes(shapes);
    for (i, t) in out.iter_mut().enumerate() {
        t.keeps = keeps & (1 << (i % 8)) != 0;
    }
    out
}

fn tables_of_shapes(shapes: &[Shape]) -> Vec<TableM> {
    let mut out: Vec<TableM> = Vec::new();
    for s in shapes {
        let base = out.len();
        match s {
            Shape::Chain(fks) => {
                out.push(TableM {
                    name: "a0".into(),
                    fks: vec![],
                    keeps: false,
                });
                for (i, (od, nullable, unique)) in fks.iter().enumerate() {
                    out.push(TableM {
                        name: format!("a{}", i + 1),
                        fks: vec![FkM {
                            col: "p",
                            parent: base + i,
                            od: *od,
                            nullable: *nullable,
                            unique: *unique,
                        }],
                        keeps: false,
                    });
                }
            }
            Shape::Tree(od) => out.push(TableM {
                name: "node".into(),
                fks: vec![FkM {
                    col: "up",
                    parent: base,
                    od: *od,
                    nullable: true,
                    unique: false,
                }],
                keeps: false,
            }),
            Shape::Join => {
                out.push(TableM {
                    name: "left".into(),
                    fks: vec![],
                    keeps: false,
                });
                out.push(TableM {
                    name: "right".into(),
                    fks: vec![],
                    keeps: false,
                });
                out.push(TableM {
                    name: "link".into(),
                    fks: vec![
                        FkM {
                            col: "l",
                            parent: base,
                            od: Od::Cascade,
                            nullable: false,
                            unique: false,
                        },
                        FkM {
                            col: "r",
                            parent: base + 1,
                            od: Od::Cascade,
                            nullable: false,
                            unique: false,
                        },
                    ],
                    keeps: false,
                });
            }
        }
    }
    out
}

fn on_delete(od: Od) -> OnDelete {
    match od {
        Od::Cascade => OnDelete::Cascade,
        Od::SetNull => OnDelete::SetNull,
        Od::Restrict => OnDelete::Restrict,
    }
}

fn create_schema(db: &Db, tables: &[TableM]) -> Result<(), TestCaseError> {
    for t in tables {
        let mut b = TableBuilder::new(t.name.clone())
            .column(("id", ColumnType::Int))
            .column(ColumnDef::new("u", ColumnType::Text).nullable())
            .column(("n", ColumnType::Int));
        for fk in &t.fks {
            let c = ColumnDef::new(fk.col, ColumnType::Int);
            b = b.column(if fk.nullable { c.nullable() } else { c });
        }
        b = b.primary_key("id").unique(["u"]);
        for fk in t.fks.iter().filter(|f| f.unique) {
            b = b.unique([fk.col]);
        }
        for fk in &t.fks {
            b = b.foreign_key(fk.col, tables[fk.parent].name.clone(), on_delete(fk.od));
        }
        b = b.trash_keeps_keys(t.keeps);
        got(db.create_table(b), format!("create {}", t.name))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The model.

const POOL: &[&str] = &["a", "b", "c", "d", "e", "f", "g", "h"];

/// (table index, primary key).
type Key = (usize, i64);
/// Live rows per table.
type Snap = Vec<BTreeMap<i64, RowM>>;
/// A conflict as compared: (table, primary key, kind name).
type ConfM = (String, Option<i64>, &'static str);

#[derive(Debug, Clone, PartialEq)]
struct RowM {
    u: Option<String>,
    n: i64,
    fks: Vec<Option<i64>>,
}

fn row_of(t: &TableM, pk: i64, r: &RowM) -> Row {
    let mut row = Row::new()
        .with("id", pk)
        .with("u", r.u.clone())
        .with("n", r.n);
    for (fk, v) in t.fks.iter().zip(&r.fks) {
        row.set(fk.col, *v);
    }
    row
}

#[derive(Debug, Clone)]
enum Member {
    /// A tombstoned row with its last live image and the life it ended.
    Tomb { k: Key, last: RowM, life: u64 },
    /// A set-null update: the image before it, the image it wrote, its LSN and the life of the
    /// row it changed.
    Unlink {
        k: Key,
        before: RowM,
        cleared: RowM,
        lsn: u64,
        life: u64,
    },
}

impl Member {
    fn key(&self) -> Key {
        match self {
            Member::Tomb { k, .. } | Member::Unlink { k, .. } => *k,
        }
    }
}

#[derive(Debug, Clone)]
struct DelM {
    id: Uuid,
    /// Members still in the trash, in deletion order.
    members: Vec<Member>,
    roots: Vec<Key>,
    /// Tombstoned rows per table (at deletion time).
    rows: BTreeMap<usize, u64>,
    unlinked: u64,
    total: u64,
}

#[derive(Debug, Clone)]
struct TxM {
    first: u64,
    last: u64,
    rows: BTreeSet<Key>,
    schema: bool,
    /// Commit time (µs): the manual clock when it committed.
    at: i64,
}

#[derive(Debug, Clone)]
struct Model {
    t: Vec<TableM>,
    live: Snap,
    /// Largest primary key ever used per table (the next assigned key is this + 1).
    max_pk: Vec<i64>,
    /// The life of each live row: an insert begins one, a restore out of the trash resumes the
    /// life its deletion holds (a key may have several lives in the trash).
    life: Lives,
    next_life: u64,
    /// Every deletion, oldest first.
    dels: Vec<DelM>,
    /// LSN of each row's latest event.
    last_ev: BTreeMap<Key, u64>,
    lsn: u64,
    /// Transactions, id - 1.
    txs: Vec<TxM>,
    /// The live rows after each transaction (index 0: before the first), with their lives.
    after_tx: Vec<(Snap, Lives)>,
    /// The manual clock the store reads (µs), moved forward before every operation.
    clock: Arc<AtomicI64>,
    /// Each table's history window (seconds), once a retention policy set one.
    window: Vec<Option<u64>>,
    /// Each table's pruning horizon: as-of reads before it are refused for good.
    horizon: Vec<u64>,
    /// Whether history was pruned (the log then holds purge events, which export refuses).
    pruned: bool,
}

/// When the store is created (µs since the epoch), and how far the clock moves per operation.
const T0: i64 = 1_750_000_000_000_000;
const TICK: i64 = 10_000_000;

/// The life of each live row.
type Lives = BTreeMap<Key, u64>;

#[derive(Debug, Clone, PartialEq)]
enum Exp {
    NotNull(String),
    Pk,
    Unique,
    Fk(String),
    NotFound,
    AlreadyDeleted(Uuid),
    Restricted(String, i64, BTreeSet<String>),
    AlreadyRestored,
    UnknownDeletion,
    RestoreConflict(BTreeSet<ConfM>),
    RewindConflict(BTreeSet<ConfM>),
    KeyReserved(Uuid),
    /// `HistoryExpired` (which table it names depends on the order the store checks them in).
    Expired,
    Other(String),
}

fn exp_of(e: &Error) -> Exp {
    let confs = |cs: &[lazarusdb::Conflict]| -> BTreeSet<ConfM> {
        cs.iter()
            .map(|c| (c.row.table.clone(), c.row.pk.as_int(), c.kind.name()))
            .collect()
    };
    match e {
        Error::ConstraintViolation { constraint, .. } => match constraint {
            Constraint::NotNull(c) => Exp::NotNull(c.clone()),
            Constraint::PrimaryKey => Exp::Pk,
            Constraint::Unique(_) => Exp::Unique,
            Constraint::ForeignKey { column, .. } => Exp::Fk(column.clone()),
            other => Exp::Other(format!("{other:?}")),
        },
        Error::NotFound { .. } => Exp::NotFound,
        Error::AlreadyDeleted { deletion, .. } => Exp::AlreadyDeleted(*deletion),
        Error::DeleteRestricted {
            table,
            pk,
            blocking,
        } => Exp::Restricted(
            table.clone(),
            pk.parse().unwrap_or(i64::MIN),
            blocking.iter().cloned().collect(),
        ),
        Error::AlreadyRestored(_) => Exp::AlreadyRestored,
        Error::UnknownDeletion(_) => Exp::UnknownDeletion,
        Error::RestoreConflict { conflicts, .. } => Exp::RestoreConflict(confs(conflicts)),
        Error::RewindConflict { conflicts, .. } => Exp::RewindConflict(confs(conflicts)),
        Error::KeyReserved { deletion, .. } => Exp::KeyReserved(*deletion),
        Error::HistoryExpired { .. } => Exp::Expired,
        other => Exp::Other(other.to_string()),
    }
}

/// What a restore of a deletion does.
#[derive(Debug, Default)]
struct RestoreM {
    rows: Vec<(Key, RowM)>,
    /// Set-null members to relink, with their new image (none when the row is not live).
    relinks: Vec<(Key, Option<RowM>)>,
    skipped: BTreeSet<Key>,
    conflicts: BTreeSet<ConfM>,
}

/// What a restore to a point (or an undo) does.
#[derive(Debug, Default)]
struct RewindM {
    target: u64,
    /// The lives of the rows live at the target.
    then_lives: Lives,
    reverted: Vec<(Key, RowM)>,
    restored: Vec<(Key, RowM)>,
    tombstoned: Vec<Key>,
}

impl RewindM {
    fn keys(&self) -> Vec<Key> {
        self.reverted
            .iter()
            .chain(&self.restored)
            .map(|(k, _)| *k)
            .chain(self.tombstoned.iter().copied())
            .collect()
    }
}

impl Model {
    fn new(t: Vec<TableM>) -> Model {
        let n = t.len();
        let mut m = Model {
            t,
            live: vec![BTreeMap::new(); n],
            max_pk: vec![0; n],
            life: BTreeMap::new(),
            next_life: 0,
            clock: Arc::new(AtomicI64::new(T0)),
            window: vec![None; n],
            horizon: vec![0; n],
            pruned: false,
            dels: Vec::new(),
            last_ev: BTreeMap::new(),
            lsn: 0,
            txs: Vec::new(),
            after_tx: vec![(vec![BTreeMap::new(); n], BTreeMap::new())],
        };
        // one create_table transaction (one event) per table
        for _ in 0..n {
            m.schema_tx();
        }
        m
    }

    /// The clock now (µs).
    fn now(&self) -> i64 {
        self.clock.load(AtomicOrdering::SeqCst)
    }

    /// Records a committed transaction of one event that touches no row (a schema change, a
    /// retention policy, a pruning).
    fn schema_tx(&mut self) {
        self.lsn += 1;
        let at = self.now();
        self.txs.push(TxM {
            first: self.lsn,
            last: self.lsn,
            rows: BTreeSet::new(),
            schema: true,
            at,
        });
        self.after_tx.push((self.live.clone(), self.life.clone()));
    }

    /// The commit time of the transaction that wrote `lsn` (the earliest time for LSN 0).
    fn time_of(&self, lsn: u64) -> i64 {
        self.txs
            .iter()
            .find(|t| t.first <= lsn && lsn <= t.last)
            .map_or(i64::MIN, |t| t.at)
    }

    /// True when an as-of read of table `t` at `lsn` is refused: the point was committed before
    /// the table's history window (which covers every point before its pruning horizon too,
    /// since the clock only moves forward).
    fn expired(&self, t: usize, lsn: u64) -> bool {
        let Some(w) = self.window[t] else {
            return false;
        };
        let cutoff = self.now().saturating_sub(w as i64 * 1_000_000);
        self.time_of(lsn) <= cutoff || lsn < self.horizon[t]
    }

    /// The tables among `tables` expired at `lsn`.
    fn any_expired(&self, tables: impl IntoIterator<Item = usize>, lsn: u64) -> bool {
        tables.into_iter().any(|t| self.expired(t, lsn))
    }

    /// The deletion holding the latest life of `k` still in a trash (what `find_deletion`
    /// answers, whether or not the key is live again).
    fn holder(&self, k: Key) -> Option<Uuid> {
        self.dels
            .iter()
            .rev()
            .find(|d| {
                d.members
                    .iter()
                    .any(|mm| matches!(mm, Member::Tomb { k: mk, .. } if *mk == k))
            })
            .map(|d| d.id)
    }

    /// The deletion whose trash holds life `life` of `k`.
    fn holder_of_life(&self, k: Key, life: u64) -> Option<Uuid> {
        self.dels
            .iter()
            .find(|d| {
                d.members.iter().any(
                    |mm| matches!(mm, Member::Tomb { k: mk, life: l, .. } if *mk == k && *l == life),
                )
            })
            .map(|d| d.id)
    }

    /// The unique values of a row of `t`: (constraint, value), `u` first, then each unique
    /// foreign-key column (the store's index order); nulls never count.
    fn ukeys(&self, t: usize, r: &RowM) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        if let Some(u) = &r.u {
            out.push((0, u.clone()));
        }
        for (i, fk) in self.t[t].fks.iter().enumerate() {
            if let (true, Some(v)) = (fk.unique, r.fks[i]) {
                out.push((i + 1, v.to_string()));
            }
        }
        out
    }

    /// The value a row has for unique constraint `c` (see [`Model::ukeys`]).
    fn uval(&self, t: usize, r: &RowM, c: usize) -> Option<String> {
        self.ukeys(t, r)
            .into_iter()
            .find(|(x, _)| *x == c)
            .map(|(_, v)| v)
    }

    /// A live row of `t` other than `except` holding unique value `key`.
    fn ukey_holder(&self, t: usize, key: &(usize, String), except: Option<i64>) -> Option<i64> {
        self.live[t]
            .iter()
            .find(|(pk, r)| Some(**pk) != except && self.ukeys(t, r).contains(key))
            .map(|(pk, _)| *pk)
    }

    /// The trashed rows of `t` (a table whose trash keeps keys) other than `except` keeping
    /// unique value `key` reserved, with their deletions.
    fn reservers(&self, t: usize, key: &(usize, String), except: i64) -> Vec<(i64, Uuid)> {
        if !self.t[t].keeps {
            return Vec::new();
        }
        let mut out = Vec::new();
        for d in &self.dels {
            for mm in &d.members {
                if let Member::Tomb { k, last, .. } = mm {
                    if k.0 == t && k.1 != except && self.ukeys(t, last).contains(key) {
                        out.push((k.1, d.id));
                    }
                }
            }
        }
        out
    }

    fn name(&self, t: usize) -> &str {
        &self.t[t].name
    }

    fn rref(&self, k: Key) -> String {
        format!("{} {}", self.name(k.0), k.1)
    }

    fn conf(&self, k: Key, kind: &'static str) -> ConfM {
        (self.name(k.0).to_string(), Some(k.1), kind)
    }

    fn is_live(&self, k: Key) -> bool {
        self.live[k.0].contains_key(&k.1)
    }

    fn live_pks(&self, t: usize) -> Vec<i64> {
        self.live[t].keys().copied().collect()
    }

    fn dead_pks(&self, t: usize) -> Vec<i64> {
        (1..=self.max_pk[t])
            .filter(|pk| !self.live[t].contains_key(pk))
            .collect()
    }

    /// The live rows of `t` that live rows reference.
    fn parents(&self, t: usize) -> Vec<i64> {
        self.live[t]
            .keys()
            .copied()
            .filter(|pk| {
                self.t.iter().enumerate().any(|(c, tm)| {
                    tm.fks.iter().enumerate().any(|(i, fk)| {
                        fk.parent == t
                            && self.live[c]
                                .iter()
                                .any(|(cpk, r)| r.fks[i] == Some(*pk) && (c, *cpk) != (t, *pk))
                    })
                })
            })
            .collect()
    }

    fn missing_pk(&self, t: usize) -> i64 {
        self.max_pk[t] + 7
    }

    fn tx(&self) -> u64 {
        self.txs.len() as u64
    }

    /// Records a committed transaction that wrote one event per key (nothing for no keys).
    fn commit(&mut self, keys: Vec<Key>) {
        if keys.is_empty() {
            return;
        }
        let first = self.lsn + 1;
        for k in &keys {
            self.lsn += 1;
            self.last_ev.insert(*k, self.lsn);
        }
        let at = self.now();
        self.txs.push(TxM {
            first,
            last: self.lsn,
            rows: keys.into_iter().collect(),
            schema: false,
            at,
        });
        self.after_tx.push((self.live.clone(), self.life.clone()));
    }

    /// The first unique-value error of writing `r` as `t pk` (only the constraints whose value
    /// differs from `old`, for an update).
    fn check_ukeys(&self, t: usize, pk: i64, r: &RowM, old: Option<&RowM>) -> Result<(), Exp> {
        for key in self.ukeys(t, r) {
            if old.is_some_and(|o| self.uval(t, o, key.0).as_ref() == Some(&key.1)) {
                continue;
            }
            if let Some((_, d)) = self.reservers(t, &key, pk).first() {
                return Err(Exp::KeyReserved(*d));
            }
            if self.ukey_holder(t, &key, Some(pk)).is_some() {
                return Err(Exp::Unique);
            }
        }
        Ok(())
    }

    fn check_insert(&self, t: usize, pk: i64, r: &RowM) -> Result<(), Exp> {
        for (fk, v) in self.t[t].fks.iter().zip(&r.fks) {
            if v.is_none() && !fk.nullable {
                return Err(Exp::NotNull(fk.col.to_string()));
            }
        }
        if self.t[t].keeps && !self.is_live((t, pk)) {
            if let Some(d) = self.holder((t, pk)) {
                return Err(Exp::KeyReserved(d));
            }
        }
        if self.live[t].contains_key(&pk) {
            return Err(Exp::Pk);
        }
        self.check_ukeys(t, pk, r, None)?;
        for (fk, v) in self.t[t].fks.iter().zip(&r.fks) {
            if let Some(v) = v {
                let itself = fk.parent == t && *v == pk;
                if !itself && !self.live[fk.parent].contains_key(v) {
                    return Err(Exp::Fk(fk.col.to_string()));
                }
            }
        }
        Ok(())
    }

    fn insert(&mut self, t: usize, pk: i64, r: RowM) {
        self.live[t].insert(pk, r);
        self.life.insert((t, pk), self.next_life);
        self.next_life += 1;
        self.max_pk[t] = self.max_pk[t].max(pk);
        self.commit(vec![(t, pk)]);
    }

    /// The new image of an update, or its error.
    fn check_update(
        &self,
        t: usize,
        pk: i64,
        u: Option<&Option<String>>,
        n: Option<i64>,
        fk: Option<(usize, Option<i64>)>,
    ) -> Result<RowM, Exp> {
        let Some(old) = self.live[t].get(&pk) else {
            return Err(Exp::NotFound);
        };
        let mut new = old.clone();
        if let Some((i, v)) = fk {
            if v.is_none() && !self.t[t].fks[i].nullable {
                return Err(Exp::NotNull(self.t[t].fks[i].col.to_string()));
            }
            new.fks[i] = v;
        }
        if let Some(u) = u {
            new.u = u.clone();
        }
        if let Some(n) = n {
            new.n = n;
        }
        self.check_ukeys(t, pk, &new, Some(old))?;
        for (i, f) in self.t[t].fks.iter().enumerate() {
            if let Some(v) = new.fks[i] {
                if new.fks[i] != old.fks[i]
                    && !(f.parent == t && v == pk)
                    && !self.live[f.parent].contains_key(&v)
                {
                    return Err(Exp::Fk(f.col.to_string()));
                }
            }
        }
        Ok(new)
    }

    /// The tombstones (root first, then breadth-first) and set-null updates of a delete.
    #[allow(clippy::type_complexity)]
    fn plan_delete(&self, t: usize, pk: i64) -> Result<(Vec<Key>, Vec<(Key, RowM)>), Exp> {
        let root = (t, pk);
        if !self.is_live(root) {
            return Err(match self.holder(root) {
                Some(d) => Exp::AlreadyDeleted(d),
                None => Exp::NotFound,
            });
        }
        let mut visited = BTreeSet::from([root]);
        let mut order = vec![root];
        let mut queue = VecDeque::from([root]);
        let mut blockers = Vec::new();
        let mut unlinks: BTreeMap<Key, Vec<usize>> = BTreeMap::new();
        while let Some((pt, ppk)) = queue.pop_front() {
            for (c, tm) in self.t.iter().enumerate() {
                for (i, fk) in tm.fks.iter().enumerate() {
                    if fk.parent != pt {
                        continue;
                    }
                    for (cpk, row) in &self.live[c] {
                        if row.fks[i] != Some(ppk) {
                            continue;
                        }
                        let ck = (c, *cpk);
                        match fk.od {
                            Od::Cascade => {
                                if visited.insert(ck) {
                                    order.push(ck);
                                    queue.push_back(ck);
                                }
                            }
                            Od::Restrict => blockers.push(ck),
                            Od::SetNull => unlinks.entry(ck).or_default().push(i),
                        }
                    }
                }
            }
        }
        let blocking: BTreeSet<String> = blockers
            .iter()
            .filter(|k| !visited.contains(k))
            .map(|k| self.rref(*k))
            .collect();
        if !blocking.is_empty() {
            return Err(Exp::Restricted(self.name(t).to_string(), pk, blocking));
        }
        let unl = unlinks
            .into_iter()
            .filter(|(k, _)| !visited.contains(k))
            .map(|(k, cols)| {
                let mut img = self.live[k.0][&k.1].clone();
                for i in cols {
                    img.fks[i] = None;
                }
                (k, img)
            })
            .collect();
        Ok((order, unl))
    }

    fn apply_delete(&mut self, id: Uuid, tombs: &[Key], unlinks: &[(Key, RowM)]) {
        let mut members = Vec::new();
        let mut rows: BTreeMap<usize, u64> = BTreeMap::new();
        for k in tombs {
            let last = self.live[k.0].remove(&k.1).unwrap();
            let life = self.life.remove(k).unwrap();
            members.push(Member::Tomb { k: *k, last, life });
            *rows.entry(k.0).or_default() += 1;
        }
        for (j, (k, img)) in unlinks.iter().enumerate() {
            let before = self.live[k.0].insert(k.1, img.clone()).unwrap();
            members.push(Member::Unlink {
                k: *k,
                before,
                cleared: img.clone(),
                lsn: self.lsn + (tombs.len() + j) as u64 + 1,
                life: self.life[k],
            });
        }
        let keys: Vec<Key> = members.iter().map(Member::key).collect();
        self.dels.push(DelM {
            id,
            total: members.len() as u64,
            members,
            roots: tombs.iter().take(1).copied().collect(),
            rows,
            unlinked: unlinks.len() as u64,
        });
        self.commit(keys);
    }

    fn del_index(&self, id: Uuid) -> Option<usize> {
        self.dels.iter().position(|d| d.id == id)
    }

    /// A restore of a deletion; with `Refuse`, any conflict is an error.
    fn plan_restore(&self, di: usize, skip: bool) -> Result<RestoreM, Exp> {
        let p = self.restore_dry_run(di, skip)?;
        if !skip && !p.conflicts.is_empty() {
            return Err(Exp::RestoreConflict(p.conflicts));
        }
        Ok(p)
    }

    /// What `restore_plan` shows: conflicts listed, not raised.
    fn restore_dry_run(&self, di: usize, skip: bool) -> Result<RestoreM, Exp> {
        let d = &self.dels[di];
        if d.members.is_empty() {
            return Err(Exp::AlreadyRestored);
        }
        let coming: BTreeSet<Key> = d
            .members
            .iter()
            .filter(|m| matches!(m, Member::Tomb { .. }))
            .map(Member::key)
            .collect();
        struct Item {
            k: Key,
            tomb: bool,
            image: Option<RowM>,
            needs: Vec<Key>,
            conflict: bool,
        }
        let mut out = RestoreM::default();
        let mut items = Vec::new();
        // unique values claimed by the rows of this restore so far (the first one keeps it)
        let mut claimed: BTreeSet<(usize, usize, String)> = BTreeSet::new();
        for m in &d.members {
            let k = m.key();
            let mut conflict = false;
            let (tomb, image) = match m {
                Member::Tomb { last, .. } => {
                    if self.is_live(k) {
                        conflict = true;
                        out.conflicts.insert(self.conf(k, "primary_key_taken"));
                    }
                    for key in self.ukeys(k.0, last) {
                        if !claimed.insert((k.0, key.0, key.1.clone())) {
                            conflict = true;
                            out.conflicts.insert(self.conf(k, "unique_taken"));
                        }
                        if self.ukey_holder(k.0, &key, None).is_some() {
                            conflict = true;
                            out.conflicts.insert(self.conf(k, "unique_taken"));
                        }
                    }
                    (true, last.clone())
                }
                Member::Unlink {
                    before, cleared, ..
                } => match self.live[k.0].get(&k.1) {
                    None => {
                        out.conflicts.insert(self.conf(k, "row_not_live"));
                        items.push(Item {
                            k,
                            tomb: false,
                            image: None,
                            needs: vec![],
                            conflict: true,
                        });
                        continue;
                    }
                    Some(now) => {
                        let mut img = now.clone();
                        for i in 0..img.fks.len() {
                            if before.fks[i].is_some()
                                && cleared.fks[i].is_none()
                                && now.fks[i].is_none()
                            {
                                img.fks[i] = before.fks[i];
                            }
                        }
                        // a reference put back is checked like any written value
                        for key in self.ukeys(k.0, &img) {
                            if self.uval(k.0, now, key.0).as_ref() == Some(&key.1) {
                                continue;
                            }
                            if !claimed.insert((k.0, key.0, key.1.clone())) {
                                conflict = true;
                                out.conflicts.insert(self.conf(k, "unique_taken"));
                            }
                            if self.ukey_holder(k.0, &key, Some(k.1)).is_some()
                                || !self.reservers(k.0, &key, k.1).is_empty()
                            {
                                conflict = true;
                                out.conflicts.insert(self.conf(k, "unique_taken"));
                            }
                        }
                        (false, img)
                    }
                },
            };
            let mut needs = Vec::new();
            for (i, fk) in self.t[k.0].fks.iter().enumerate() {
                let Some(v) = image.fks[i] else { continue };
                let pkey = (fk.parent, v);
                if pkey == k {
                    continue;
                }
                if coming.contains(&pkey) {
                    needs.push(pkey);
                } else if !self.is_live(pkey) {
                    conflict = true;
                    out.conflicts.insert(self.conf(k, "parent_not_live"));
                }
            }
            items.push(Item {
                k,
                tomb,
                image: Some(image),
                needs,
                conflict,
            });
        }
        if skip {
            out.skipped = items.iter().filter(|i| i.conflict).map(|i| i.k).collect();
            loop {
                let mut changed = false;
                for it in &items {
                    if !out.skipped.contains(&it.k)
                        && it.needs.iter().any(|n| out.skipped.contains(n))
                    {
                        out.skipped.insert(it.k);
                        changed = true;
                    }
                }
                if !changed {
                    break;
                }
            }
        }
        for it in items {
            if out.skipped.contains(&it.k) {
                continue;
            }
            match (it.tomb, it.image) {
                (true, Some(img)) => out.rows.push((it.k, img)),
                (false, img) => out.relinks.push((it.k, img)),
                (true, None) => unreachable!(),
            }
        }
        Ok(out)
    }

    fn remove_member(&mut self, di: usize, k: Key) {
        self.dels[di].members.retain(|m| m.key() != k);
    }

    fn apply_restore(&mut self, di: usize, p: &RestoreM) {
        let mut keys = Vec::new();
        let relinks = p.relinks.iter().map(|(k, img)| (*k, img.clone().unwrap()));
        for (k, img) in p.rows.iter().cloned().chain(relinks) {
            let resumed = self.dels[di].members.iter().find_map(|mm| match mm {
                Member::Tomb { k: mk, life, .. } if *mk == k => Some(*life),
                _ => None,
            });
            if let Some(life) = resumed {
                self.life.insert(k, life);
            }
            self.live[k.0].insert(k.1, img);
            self.remove_member(di, k);
            keys.push(k);
        }
        self.commit(keys);
    }

    /// A restore of `scope` (every row when `None`) to the state `then`.
    fn plan_rewind(
        &self,
        target: u64,
        then: &Snap,
        then_lives: &Lives,
        scope: Option<&BTreeSet<Key>>,
    ) -> (RewindM, Vec<ConfM>) {
        let keys: BTreeSet<Key> = match scope {
            Some(s) => s.clone(),
            None => (0..self.t.len())
                .flat_map(|t| {
                    then[t]
                        .keys()
                        .chain(self.live[t].keys())
                        .map(move |pk| (t, *pk))
                })
                .collect(),
        };
        let then_of = |k: &Key| then[k.0].get(&k.1);
        let mut out = RewindM {
            target,
            then_lives: then_lives.clone(),
            ..RewindM::default()
        };
        let mut conflicts = Vec::new();
        for k in &keys {
            let k = *k;
            match (then_of(&k), self.live[k.0].get(&k.1)) {
                (None, None) => {}
                (Some(a), Some(b)) if a == b => {}
                (None, Some(_)) => {
                    for (c, tm) in self.t.iter().enumerate() {
                        for (i, fk) in tm.fks.iter().enumerate() {
                            if fk.parent != k.0 {
                                continue;
                            }
                            for (cpk, row) in &self.live[c] {
                                let ck = (c, *cpk);
                                if row.fks[i] != Some(k.1) || ck == k {
                                    continue;
                                }
                                let in_scope = keys.contains(&ck);
                                let keeps_ref =
                                    in_scope && then_of(&ck).is_some_and(|r| r.fks[i] == Some(k.1));
                                if !in_scope || keeps_ref {
                                    conflicts.push(self.conf(k, "referenced_outside_scope"));
                                }
                            }
                        }
                    }
                    out.tombstoned.push(k);
                }
                (Some(img), now) => {
                    for key in self.ukeys(k.0, img) {
                        for (opk, o) in &self.live[k.0] {
                            let ok = (k.0, *opk);
                            if ok == k || !self.ukeys(k.0, o).contains(&key) {
                                continue;
                            }
                            let keeps = if keys.contains(&ok) {
                                then_of(&ok).is_some_and(|r| self.ukeys(k.0, r).contains(&key))
                            } else {
                                true
                            };
                            if keeps {
                                conflicts.push(self.conf(k, "unique_taken"));
                            }
                        }
                        // a value the trash keeps stays taken unless its row comes back
                        for (opk, _) in self.reservers(k.0, &key, k.1) {
                            if !(keys.contains(&(k.0, opk)) && then_of(&(k.0, opk)).is_some()) {
                                conflicts.push(self.conf(k, "key_reserved"));
                            }
                        }
                    }
                    for (i, fk) in self.t[k.0].fks.iter().enumerate() {
                        let Some(v) = img.fks[i] else { continue };
                        let pkey = (fk.parent, v);
                        if pkey == k {
                            continue;
                        }
                        let live_after = if keys.contains(&pkey) {
                            then_of(&pkey).is_some()
                        } else {
                            self.is_live(pkey)
                        };
                        if !live_after {
                            conflicts.push(self.conf(k, "parent_not_live"));
                        }
                    }
                    if now.is_some() {
                        out.reverted.push((k, img.clone()));
                    } else {
                        out.restored.push((k, img.clone()));
                    }
                }
            }
        }
        (out, conflicts)
    }

    fn plan_undo(&self, tx: u64, force: bool) -> Result<RewindM, Exp> {
        let txm = &self.txs[(tx - 1) as usize];
        // the state before it must still be readable for every table it touched
        if self.any_expired(txm.rows.iter().map(|k| k.0), txm.first - 1) {
            return Err(Exp::Expired);
        }
        let mut conflicts: Vec<ConfM> = Vec::new();
        if txm.schema {
            conflicts.push((String::new(), None, "schema_change"));
        }
        if !force {
            for k in &txm.rows {
                if self.last_ev.get(k).is_some_and(|l| *l > txm.last) {
                    conflicts.push(self.conf(*k, "changed_later"));
                }
            }
        }
        let (then, then_lives) = &self.after_tx[(tx - 1) as usize];
        let (plan, more) = self.plan_rewind(txm.first - 1, then, then_lives, Some(&txm.rows));
        conflicts.extend(more);
        if conflicts.is_empty() {
            Ok(plan)
        } else {
            Err(Exp::RewindConflict(conflicts.into_iter().collect()))
        }
    }

    fn apply_rewind(&mut self, p: &RewindM, deletion: Option<Uuid>) {
        // One event per row, except that every deletion still holding a set-null update made
        // after the target, of the life the row gets back, takes its own Restore event (each
        // names one deletion): a reverted row (its live life) writes one per such deletion (at
        // least one), a row back from the trash (the life it had then, out of the deletion
        // holding that life) one more per such deletion.
        let unlinks_of = |dels: &Vec<DelM>, k: &Key, life: u64| -> Vec<Uuid> {
            dels.iter()
                .filter(|d| {
                    d.members.iter().any(|mm| {
                        matches!(mm, Member::Unlink { k: mk, lsn, life: l, .. }
                            if mk == k && *lsn > p.target && *l == life)
                    })
                })
                .map(|d| d.id)
                .collect()
        };
        let mut extra: Vec<Key> = Vec::new();
        let mut relinked: Vec<(Key, u64)> = Vec::new();
        for (k, _) in &p.reverted {
            let life = self.life[k];
            for _ in 1..unlinks_of(&self.dels, k, life).len() {
                extra.push(*k);
            }
            relinked.push((*k, life));
        }
        let mut back: Vec<(Key, u64, Uuid)> = Vec::new();
        for (k, _) in &p.restored {
            let life = p.then_lives[k];
            let holder = self
                .holder_of_life(*k, life)
                .expect("the life a row had then is in a trash");
            for d in unlinks_of(&self.dels, k, life) {
                if d != holder {
                    extra.push(*k);
                }
            }
            relinked.push((*k, life));
            back.push((*k, life, holder));
        }
        // a row written back to its state from before a set-null update of a deletion takes
        // that update out of the trash, as a tombstoned row brought back does
        for (k, life) in relinked {
            for d in &mut self.dels {
                d.members.retain(|mm| {
                    !matches!(mm, Member::Unlink { k: mk, lsn, life: l, .. }
                        if *mk == k && *lsn > p.target && *l == life)
                });
            }
        }
        for (k, img) in &p.reverted {
            self.live[k.0].insert(k.1, img.clone());
        }
        for ((k, img), (_, life, holder)) in p.restored.iter().zip(back) {
            let di = self.del_index(holder).unwrap();
            self.remove_member(di, *k);
            self.live[k.0].insert(k.1, img.clone());
            self.life.insert(*k, life);
        }
        if let Some(id) = deletion {
            let mut members = Vec::new();
            let mut rows: BTreeMap<usize, u64> = BTreeMap::new();
            for k in &p.tombstoned {
                let last = self.live[k.0].remove(&k.1).unwrap();
                let life = self.life.remove(k).unwrap();
                members.push(Member::Tomb { k: *k, last, life });
                *rows.entry(k.0).or_default() += 1;
            }
            self.dels.push(DelM {
                id,
                total: members.len() as u64,
                members,
                roots: p.tombstoned.clone(),
                rows,
                unlinked: 0,
            });
        }
        let mut keys = p.keys();
        keys.extend(extra);
        self.commit(keys);
    }
}

// ---------------------------------------------------------------------------------------------
// Operations.

#[derive(Debug, Clone)]
enum FkPick {
    Live(u32),
    Null,
    Dead(u32),
    Missing,
    SelfRef,
}

#[derive(Debug, Clone)]
enum UPick {
    Null,
    Pool(u8),
    /// The value of another live row of the table.
    Clash(u32),
    /// The value of a row of the table in the trash (free, until its deletion is restored).
    Trashed(u32),
}

#[derive(Debug, Clone)]
enum PkPick {
    Auto,
    /// An explicit key of a row that is not live (free for new rows).
    Dead(u32),
    /// An explicit key of a live row.
    Live(u32),
}

#[derive(Debug, Clone)]
enum RowPick {
    Live(u32),
    /// A live row that live rows reference.
    Parent(u32),
    Dead(u32),
    Missing,
}

#[derive(Debug, Clone)]
enum Op {
    Insert {
        t: u8,
        pk: PkPick,
        u: UPick,
        n: i8,
        fks: [FkPick; 2],
    },
    Update {
        t: u8,
        row: RowPick,
        u: Option<UPick>,
        n: Option<i8>,
        fk: Option<(u8, FkPick)>,
    },
    Delete {
        t: u8,
        row: RowPick,
    },
    DeleteThenRestore {
        t: u8,
        row: RowPick,
    },
    Restore {
        d: u32,
        skip: bool,
        unknown: bool,
        /// Pick among the deletions still in the trash.
        in_trash: bool,
    },
    /// Makes a deletion in the trash conflict (or depend on a change made since), then
    /// restores it.
    Provoke {
        d: u32,
        kind: u8,
        x: u32,
        skip: bool,
    },
    RestoreTo {
        step: u32,
    },
    RestoreTableTo {
        t: u8,
        step: u32,
    },
    RestoreRowTo {
        t: u8,
        row: u32,
        step: u32,
    },
    Undo {
        tx: u32,
        force: bool,
    },
    /// Gives table `t` a history window that ends at a recorded step (once per table), and
    /// applies the retention policies.
    Prune {
        t: u8,
        step: u32,
    },
}

fn pick<T: Copy>(v: &[T], i: u32) -> Option<T> {
    if v.is_empty() {
        None
    } else {
        Some(v[i as usize % v.len()])
    }
}

fn fk_pick() -> BoxedStrategy<FkPick> {
    prop_oneof![
        10 => any::<u32>().prop_map(FkPick::Live),
        2 => Just(FkPick::Null),
        1 => any::<u32>().prop_map(FkPick::Dead),
        1 => Just(FkPick::Missing),
        1 => Just(FkPick::SelfRef),
    ]
    .boxed()
}

fn u_pick() -> BoxedStrategy<UPick> {
    prop_oneof![
        3 => Just(UPick::Null),
        6 => (0..POOL.len() as u8).prop_map(UPick::Pool),
        1 => any::<u32>().prop_map(UPick::Clash),
        2 => any::<u32>().prop_map(UPick::Trashed),
    ]
    .boxed()
}

fn row_pick() -> BoxedStrategy<RowPick> {
    prop_oneof![
        8 => any::<u32>().prop_map(RowPick::Live),
        1 => any::<u32>().prop_map(RowPick::Dead),
        1 => Just(RowPick::Missing),
    ]
    .boxed()
}

fn delete_pick() -> BoxedStrategy<RowPick> {
    prop_oneof![
        4 => row_pick(),
        5 => any::<u32>().prop_map(RowPick::Parent),
    ]
    .boxed()
}

fn op() -> BoxedStrategy<Op> {
    let pk = prop_oneof![
        12 => Just(PkPick::Auto),
        1 => any::<u32>().prop_map(PkPick::Dead),
        1 => any::<u32>().prop_map(PkPick::Live),
    ];
    prop_oneof![
        14 => (any::<u8>(), pk, u_pick(), any::<i8>(), fk_pick(), fk_pick())
            .prop_map(|(t, pk, u, n, a, b)| Op::Insert { t, pk, u, n, fks: [a, b] }),
        3 => (
            any::<u8>(),
            row_pick(),
            prop::option::of(u_pick()),
            prop::option::of(any::<i8>()),
            prop::option::weighted(0.3, (any::<u8>(), fk_pick())),
        )
            .prop_map(|(t, row, u, n, fk)| Op::Update { t, row, u, n, fk }),
        5 => (any::<u8>(), delete_pick()).prop_map(|(t, row)| Op::Delete { t, row }),
        1 => (any::<u8>(), delete_pick()).prop_map(|(t, row)| Op::DeleteThenRestore { t, row }),
        4 => (any::<u32>(), any::<bool>(), prop::bool::weighted(0.05), prop::bool::weighted(0.8))
            .prop_map(|(d, skip, unknown, in_trash)| Op::Restore { d, skip, unknown, in_trash }),
        3 => (any::<u32>(), 0..4u8, any::<u32>(), any::<bool>())
            .prop_map(|(d, kind, x, skip)| Op::Provoke { d, kind, x, skip }),
        1 => any::<u32>().prop_map(|step| Op::RestoreTo { step }),
        1 => (any::<u8>(), any::<u32>()).prop_map(|(t, step)| Op::RestoreTableTo { t, step }),
        1 => (any::<u8>(), any::<u32>(), any::<u32>())
            .prop_map(|(t, row, step)| Op::RestoreRowTo { t, row, step }),
        2 => (any::<u32>(), any::<bool>()).prop_map(|(tx, force)| Op::Undo { tx, force }),
        1 => (any::<u8>(), any::<u32>()).prop_map(|(t, step)| Op::Prune { t, step }),
    ]
    .boxed()
}

fn chain_fk() -> impl Strategy<Value = (Od, bool, bool)> {
    let unique = || prop::bool::weighted(0.3);
    prop_oneof![
        2 => (Just(Od::Cascade), any::<bool>(), unique()),
        2 => (Just(Od::SetNull), Just(true), unique()),
        1 => (Just(Od::Restrict), any::<bool>(), unique()),
    ]
}

fn shapes() -> impl Strategy<Value = Vec<Shape>> {
    (
        prop::option::weighted(0.7, prop::collection::vec(chain_fk(), 1..=2)),
        prop::option::weighted(0.5, prop_oneof![Just(Od::Cascade), Just(Od::SetNull)]),
        prop::bool::weighted(0.4),
    )
        .prop_map(|(chain, tree, join)| {
            let mut v = Vec::new();
            if let Some(c) = chain {
                v.push(Shape::Chain(c));
            }
            if let Some(od) = tree {
                v.push(Shape::Tree(od));
            }
            if join {
                v.push(Shape::Join);
            }
            if v.is_empty() {
                v.push(Shape::Chain(vec![(Od::Cascade, false, false)]));
            }
            v
        })
}

// ---------------------------------------------------------------------------------------------
// Running operations on the store and the model.

fn got<T, E: Display>(r: Result<T, E>, what: impl Display) -> Result<T, TestCaseError> {
    r.map_err(|e| TestCaseError::fail(format!("{what}: unexpected error: {e}")))
}

fn fail(msg: impl Into<String>) -> TestCaseError {
    TestCaseError::fail(msg.into())
}

/// Compares the outcome of a write with the model's: the same error, or success; on error the
/// LSN must not move.
fn judge<T>(
    db: &Db,
    m: &Model,
    what: &str,
    res: lazarusdb::Result<T>,
    exp: Result<(), &Exp>,
) -> Result<Option<T>, TestCaseError> {
    match (res, exp) {
        (Ok(v), Ok(())) => Ok(Some(v)),
        (Err(e), Err(x)) => {
            let gotx = exp_of(&e);
            if &gotx != x {
                return Err(fail(format!(
                    "{what}: store error {e} ({gotx:?}), model expected {x:?}"
                )));
            }
            prop_assert_eq!(
                db.last_lsn(),
                m.lsn,
                "{}: a failed write moved the LSN",
                what
            );
            Ok(None)
        }
        (Ok(_), Err(x)) => Err(fail(format!(
            "{what}: store succeeded, model expected {x:?}"
        ))),
        (Err(e), Ok(())) => Err(fail(format!(
            "{what}: store failed ({e}), model expected success"
        ))),
    }
}

fn refs(m: &Model, keys: impl IntoIterator<Item = Key>) -> BTreeSet<String> {
    keys.into_iter().map(|k| m.rref(k)).collect()
}

fn store_refs<'a>(rs: impl IntoIterator<Item = &'a RowRef>) -> BTreeSet<String> {
    rs.into_iter()
        .map(|r| format!("{} {}", r.table, r.pk))
        .collect()
}

fn resolve_fk(m: &Model, t: usize, i: usize, p: &FkPick, own_pk: i64) -> Option<i64> {
    let parent = m.t[t].fks[i].parent;
    match p {
        FkPick::Live(x) => pick(&m.live_pks(parent), *x).or_else(|| {
            if m.t[t].fks[i].nullable {
                None
            } else {
                Some(m.missing_pk(parent))
            }
        }),
        FkPick::Null => None,
        FkPick::Dead(x) => pick(&m.dead_pks(parent), *x).or_else(|| Some(m.missing_pk(parent))),
        FkPick::Missing => Some(m.missing_pk(parent)),
        FkPick::SelfRef if parent == t => Some(own_pk),
        FkPick::SelfRef => pick(&m.live_pks(parent), own_pk as u32),
    }
}

fn resolve_u(m: &Model, t: usize, p: &UPick) -> Option<String> {
    match p {
        UPick::Null => None,
        UPick::Pool(i) => Some(POOL[*i as usize % POOL.len()].to_string()),
        UPick::Clash(x) | UPick::Trashed(x) => {
            let us: Vec<&String> = if matches!(p, UPick::Clash(_)) {
                m.live[t].values().filter_map(|r| r.u.as_ref()).collect()
            } else {
                m.dels
                    .iter()
                    .flat_map(|d| &d.members)
                    .filter_map(|mm| match mm {
                        Member::Tomb { k, last, .. } if k.0 == t => last.u.as_ref(),
                        _ => None,
                    })
                    .collect()
            };
            if us.is_empty() {
                Some(POOL[*x as usize % POOL.len()].to_string())
            } else {
                Some(us[*x as usize % us.len()].clone())
            }
        }
    }
}

/// The table `t`, or for a pick of a live row the next table that has live rows.
fn table_for(m: &Model, t: u8, p: &RowPick) -> usize {
    let nt = m.t.len();
    let t = t as usize % nt;
    if matches!(p, RowPick::Live(_)) {
        (0..nt)
            .map(|i| (t + i) % nt)
            .find(|i| !m.live[*i].is_empty())
            .unwrap_or(t)
    } else if matches!(p, RowPick::Parent(_)) {
        (0..nt)
            .map(|i| (t + i) % nt)
            .find(|i| !m.parents(*i).is_empty())
            .or_else(|| {
                (0..nt)
                    .map(|i| (t + i) % nt)
                    .find(|i| !m.live[*i].is_empty())
            })
            .unwrap_or(t)
    } else {
        t
    }
}

fn resolve_row(m: &Model, t: usize, p: &RowPick) -> i64 {
    match p {
        RowPick::Live(x) => pick(&m.live_pks(t), *x).unwrap_or_else(|| m.missing_pk(t)),
        RowPick::Parent(x) => pick(&m.parents(t), *x)
            .or_else(|| pick(&m.live_pks(t), *x))
            .unwrap_or_else(|| m.missing_pk(t)),
        RowPick::Dead(x) => pick(&m.dead_pks(t), *x).unwrap_or_else(|| m.missing_pk(t)),
        RowPick::Missing => m.missing_pk(t),
    }
}

/// One step's note for failures.
type Step = Result<(), TestCaseError>;

fn do_insert(
    db: &Db,
    m: &mut Model,
    t: usize,
    pk: &PkPick,
    u: &UPick,
    n: i8,
    fks: &[FkPick; 2],
) -> Step {
    let auto = m.max_pk[t] + 1;
    let (pk, explicit) = match pk {
        PkPick::Auto => (auto, false),
        PkPick::Dead(x) => pick(&m.dead_pks(t), *x).map_or((auto, false), |p| (p, true)),
        PkPick::Live(x) => pick(&m.live_pks(t), *x).map_or((auto, false), |p| (p, true)),
    };
    let r = RowM {
        u: resolve_u(m, t, u),
        n: i64::from(n),
        fks: (0..m.t[t].fks.len())
            .map(|i| resolve_fk(m, t, i, &fks[i], pk))
            .collect(),
    };
    insert_row(db, m, t, pk, explicit, r)
}

/// Inserts `r` (with its key `pk` given explicitly, or left to the store).
fn insert_row(db: &Db, m: &mut Model, t: usize, pk: i64, explicit: bool, r: RowM) -> Step {
    let mut row = row_of(&m.t[t], pk, &r);
    if !explicit {
        row.remove("id");
    }
    let exp = m.check_insert(t, pk, &r);
    let what = format!("insert into {} {row:?}", m.name(t));
    let res = db.insert(m.name(t), row);
    if let Some(stored) = judge(db, m, &what, res, exp.as_ref().map(|_| ()))? {
        prop_assert_eq!(stored, row_of(&m.t[t], pk, &r), "{}", what);
        m.insert(t, pk, r);
    }
    Ok(())
}

fn do_update(
    db: &Db,
    m: &mut Model,
    t: usize,
    row: &RowPick,
    u: Option<&UPick>,
    n: Option<i8>,
    fk: Option<&(u8, FkPick)>,
) -> Step {
    let pk = resolve_row(m, t, row);
    let u = u.map(|u| resolve_u(m, t, u));
    let n = n.map(i64::from);
    let nfks = m.t[t].fks.len();
    let fk = match fk {
        Some((i, p)) if nfks > 0 => {
            let i = *i as usize % nfks;
            Some((i, resolve_fk(m, t, i, p, pk)))
        }
        _ => None,
    };
    update_row(db, m, t, pk, u, n, fk)
}

/// Updates the given columns of `t pk`.
fn update_row(
    db: &Db,
    m: &mut Model,
    t: usize,
    pk: i64,
    u: Option<Option<String>>,
    n: Option<i64>,
    fk: Option<(usize, Option<i64>)>,
) -> Step {
    let mut changes = Row::new();
    if let Some(u) = &u {
        changes.set("u", u.clone());
    }
    if let Some(n) = n {
        changes.set("n", n);
    }
    if let Some((i, v)) = fk {
        changes.set(m.t[t].fks[i].col, v);
    }
    let exp = m.check_update(t, pk, u.as_ref(), n, fk);
    let what = format!("update {} {pk} {changes:?}", m.name(t));
    let res = db.update(m.name(t), pk, changes);
    if let Some(stored) = judge(db, m, &what, res, exp.as_ref().map(|_| ()))? {
        let new = exp.unwrap();
        prop_assert_eq!(stored, row_of(&m.t[t], pk, &new), "{}", what);
        m.live[t].insert(pk, new);
        m.commit(vec![(t, pk)]);
    }
    Ok(())
}

/// Deletes a row; returns the deletion when it succeeded.
fn do_delete(db: &Db, m: &mut Model, t: usize, pk: i64) -> Result<Option<Uuid>, TestCaseError> {
    let exp = m.plan_delete(t, pk);
    let what = format!("delete {} {pk}", m.name(t));
    let res = db.delete(m.name(t), pk);
    let Some(report) = judge(db, m, &what, res, exp.as_ref().map(|_| ()))? else {
        return Ok(None);
    };
    let (tombs, unlinks) = exp.unwrap();
    prop_assert_eq!(
        store_refs(&report.rows),
        refs(m, tombs.iter().copied()),
        "{}: tombstoned rows",
        what
    );
    prop_assert_eq!(
        report.rows.first().map(|r| format!("{} {}", r.table, r.pk)),
        Some(m.rref((t, pk))),
        "{}: the deleted row first",
        what
    );
    prop_assert_eq!(
        store_refs(&report.unlinked),
        refs(m, unlinks.iter().map(|(k, _)| *k)),
        "{}: set-null rows",
        what
    );
    prop_assert!(
        m.del_index(report.deletion).is_none(),
        "{}: reused deletion id",
        what
    );
    m.apply_delete(report.deletion, &tombs, &unlinks);
    Ok(Some(report.deletion))
}

/// Compares a restore plan of the store with the model's.
fn same_restore(m: &Model, what: &str, plan: &lazarusdb::RestorePlan, p: &RestoreM) -> Step {
    prop_assert_eq!(
        store_refs(&plan.rows),
        refs(m, p.rows.iter().map(|(k, _)| *k)),
        "{}: restored rows",
        what
    );
    prop_assert_eq!(
        store_refs(&plan.relinks),
        refs(m, p.relinks.iter().map(|(k, _)| *k)),
        "{}: relinked rows",
        what
    );
    prop_assert_eq!(
        store_refs(plan.skipped.iter().map(|s| &s.row)),
        refs(m, p.skipped.iter().copied()),
        "{}: skipped rows",
        what
    );
    let confs: BTreeSet<ConfM> = plan
        .conflicts
        .iter()
        .map(|c| (c.row.table.clone(), c.row.pk.as_int(), c.kind.name()))
        .collect();
    prop_assert_eq!(&confs, &p.conflicts, "{}: conflicts", what);
    Ok(())
}

/// Restores a deletion of the model (or an unknown id), after its dry run; returns whether it
/// wrote something.
fn do_restore(db: &Db, m: &mut Model, id: Uuid, skip: bool) -> Result<bool, TestCaseError> {
    let policy = if skip {
        RestorePolicy::SkipConflicts
    } else {
        RestorePolicy::Refuse
    };
    let di = m.del_index(id);

    // the dry run: conflicts listed, not raised; nothing written
    let dry = match di {
        Some(di) => m.restore_dry_run(di, skip),
        None => Err(Exp::UnknownDeletion),
    };
    let what = format!("restore_plan {id} ({policy:?})");
    let res = db.restore_plan(id, policy);
    if let Some(plan) = judge(db, m, &what, res, dry.as_ref().map(|_| ()))? {
        same_restore(m, &what, &plan, &dry.unwrap())?;
    }
    prop_assert_eq!(db.last_lsn(), m.lsn, "{}: wrote", what);

    let exp = match di {
        Some(di) => m.plan_restore(di, skip),
        None => Err(Exp::UnknownDeletion),
    };
    let what = format!("restore {id} ({policy:?})");
    let dead_before: Vec<Key> = (0..m.t.len())
        .flat_map(|t| m.dead_pks(t).into_iter().map(move |pk| (t, pk)))
        .collect();
    let res = db.restore(id, policy);
    let Some(plan) = judge(db, m, &what, res, exp.as_ref().map(|_| ()))? else {
        return Ok(false);
    };
    let p = exp.unwrap();
    same_restore(m, &what, &plan, &p)?;
    let wrote = !p.rows.is_empty() || !p.relinks.is_empty();
    m.apply_restore(di.unwrap(), &p);
    // (4) a row that was not live and is not part of the restore stays not live
    let back: BTreeSet<Key> = p.rows.iter().map(|(k, _)| *k).collect();
    for k in dead_before {
        if !back.contains(&k) {
            prop_assert!(
                got(db.get(m.name(k.0), k.1), "get")?.is_none(),
                "{}: {} came back",
                what,
                m.rref(k)
            );
        }
    }
    Ok(wrote)
}

/// Compares the lists of a rewind plan of the store with the model's.
fn same_rewind(m: &Model, what: &str, plan: &lazarusdb::RewindPlan, p: &RewindM) -> Step {
    prop_assert_eq!(
        store_refs(&plan.reverted),
        refs(m, p.reverted.iter().map(|(k, _)| *k)),
        "{}: reverted",
        what
    );
    prop_assert_eq!(
        store_refs(&plan.restored),
        refs(m, p.restored.iter().map(|(k, _)| *k)),
        "{}: restored",
        what
    );
    prop_assert_eq!(
        store_refs(&plan.tombstoned),
        refs(m, p.tombstoned.iter().copied()),
        "{}: tombstoned",
        what
    );
    Ok(())
}

/// Applies a rewind plan of the model after the store did it; checks the store's plan lists.
fn finish_rewind(
    db: &Db,
    m: &mut Model,
    what: &str,
    plan: &lazarusdb::RewindPlan,
    p: &RewindM,
) -> Step {
    same_rewind(m, what, plan, p)?;
    let deletion = match p.tombstoned.first() {
        Some(k) => {
            let d = got(db.find_deletion(m.name(k.0), k.1), "find_deletion")?;
            let Some(d) = d else {
                return Err(fail(format!(
                    "{what}: tombstoned {} is in no deletion",
                    m.rref(*k)
                )));
            };
            prop_assert!(m.del_index(d).is_none(), "{}: reused deletion id", what);
            Some(d)
        }
        None => None,
    };
    m.apply_rewind(p, deletion);
    Ok(())
}

/// What a restore to a point covers.
#[derive(Debug, Clone, Copy)]
enum ScopeM {
    Store,
    Table(usize),
    Row(Key),
}

fn do_restore_to(
    db: &Db,
    m: &mut Model,
    scope: ScopeM,
    lsn: u64,
    then: &Snap,
    then_lives: &Lives,
) -> Step {
    let keys: Option<BTreeSet<Key>> = match scope {
        ScopeM::Store => None,
        ScopeM::Table(t) => Some(
            then[t]
                .keys()
                .chain(m.live[t].keys())
                .map(|pk| (t, *pk))
                .collect(),
        ),
        ScopeM::Row(k) => Some(BTreeSet::from([k])),
    };
    let scope_tables: Vec<usize> = match scope {
        ScopeM::Store => (0..m.t.len()).collect(),
        ScopeM::Table(t) => vec![t],
        ScopeM::Row(k) => vec![k.0],
    };
    let store_scope = match scope {
        ScopeM::Store => Scope::Store,
        ScopeM::Table(t) => Scope::Table(m.name(t).to_string()),
        ScopeM::Row(k) => Scope::Row {
            table: m.name(k.0).to_string(),
            pk: Value::Int(k.1),
        },
    };
    if m.any_expired(scope_tables, lsn) {
        // before the history window of a table in scope: refused, nothing written
        let what = format!("restore_to({store_scope:?}, {lsn}) before a history window");
        judge(
            db,
            m,
            &what,
            db.restore_to_plan(&store_scope, lsn),
            Err(&Exp::Expired),
        )?;
        judge(
            db,
            m,
            &what,
            db.restore_scope_to(&store_scope, lsn),
            Err(&Exp::Expired),
        )?;
        return Ok(());
    }
    let (p, conflicts) = m.plan_rewind(lsn, then, then_lives, keys.as_ref());
    if matches!(scope, ScopeM::Store) {
        // a consistent past state of the whole store conflicts with nothing
        prop_assert!(conflicts.is_empty(), "the model: {:?}", conflicts);
    }
    let conflicts: BTreeSet<ConfM> = conflicts.into_iter().collect();

    // the dry run: conflicts listed, not raised; nothing written
    let dry = got(db.restore_to_plan(&store_scope, lsn), "restore_to_plan")?;
    let what = format!("restore_to_plan({store_scope:?}, {lsn})");
    same_rewind(m, &what, &dry, &p)?;
    let dry_conflicts: BTreeSet<ConfM> = dry
        .conflicts
        .iter()
        .map(|c| (c.row.table.clone(), c.row.pk.as_int(), c.kind.name()))
        .collect();
    prop_assert_eq!(&dry_conflicts, &conflicts, "{}: conflicts", what);
    prop_assert_eq!(db.last_lsn(), m.lsn, "{}: wrote", what);

    let exp = if conflicts.is_empty() {
        Ok(())
    } else {
        Err(Exp::RewindConflict(conflicts))
    };
    let (what, res) = match scope {
        ScopeM::Store => (format!("restore_store_to({lsn})"), db.restore_store_to(lsn)),
        ScopeM::Table(t) => (
            format!("restore_table_to({}, {lsn})", m.name(t)),
            db.restore_table_to(m.name(t), lsn),
        ),
        ScopeM::Row(k) => (
            format!("restore_row_to({}, {lsn})", m.rref(k)),
            db.restore_row_to(m.name(k.0), k.1, lsn),
        ),
    };
    if let Some(plan) = judge(db, m, &what, res, exp.as_ref().map(|_| ()))? {
        finish_rewind(db, m, &what, &plan, &p)?;
    }
    Ok(())
}

fn do_undo(db: &Db, m: &mut Model, tx: u64, force: bool) -> Step {
    let exp = m.plan_undo(tx, force);
    let what = format!("undo({tx}, force {force})");
    let res = db.undo(tx, force);
    if let Some(plan) = judge(db, m, &what, res, exp.as_ref().map(|_| ()))? {
        finish_rewind(db, m, &what, &plan, &exp.unwrap())?;
    }
    Ok(())
}

/// Whether [`provoke`] of this kind has something to change for deletion `d`.
fn provocable(m: &Model, d: &DelM, kind: u8) -> bool {
    d.members.iter().any(|mm| match (kind, mm) {
        (0, Member::Tomb { last, .. }) => last.u.is_some(),
        (1, Member::Tomb { .. }) => true,
        (2, Member::Unlink { k, .. }) => m.is_live(*k),
        (3, Member::Tomb { k, last, .. }) => m.t[k.0]
            .fks
            .iter()
            .zip(&last.fks)
            .any(|(fk, v)| v.is_some_and(|v| m.is_live((fk.parent, v)))),
        _ => false,
    })
}

/// One write that makes deletion `id` conflict on restore, or makes a set-null member of it
/// depend on a change made since: 0 a new row takes a trashed row's unique value, 1 its primary
/// key; 2 a set-null member's row gets another reference (or loses it); 3 a live parent of a
/// trashed row is deleted.
fn provoke(db: &Db, m: &mut Model, id: Uuid, kind: u8, x: u32) -> Step {
    let d = m.dels[m.del_index(id).unwrap()].clone();
    let tombs: Vec<(Key, RowM)> = d
        .members
        .iter()
        .filter_map(|mm| match mm {
            Member::Tomb { k, last, .. } => Some((*k, last.clone())),
            Member::Unlink { .. } => None,
        })
        .collect();
    // a fresh row of table `t`: the first live parent for each foreign key (or null)
    let fresh = |m: &Model, t: usize, u: Option<String>| RowM {
        u,
        n: 0,
        fks: m.t[t]
            .fks
            .iter()
            .map(|fk| m.live[fk.parent].keys().next().copied())
            .collect(),
    };
    match kind {
        0 => {
            let with_u: Vec<&(Key, RowM)> = tombs.iter().filter(|(_, r)| r.u.is_some()).collect();
            let Some(&(k, r)) = with_u.get(x as usize % with_u.len().max(1)) else {
                return Ok(());
            };
            let row = fresh(m, k.0, r.u.clone());
            insert_row(db, m, k.0, m.max_pk[k.0] + 1, false, row)
        }
        1 => {
            let Some((k, _)) = tombs.get(x as usize % tombs.len().max(1)) else {
                return Ok(());
            };
            let row = fresh(m, k.0, None);
            insert_row(db, m, k.0, k.1, true, row)
        }
        2 => {
            let unlinks: Vec<(Key, RowM)> = d
                .members
                .iter()
                .filter_map(|mm| match mm {
                    Member::Unlink { k, before, .. } => Some((*k, before.clone())),
                    Member::Tomb { .. } => None,
                })
                .filter(|(k, _)| m.is_live(*k))
                .collect();
            let Some((k, before)) = unlinks.get(x as usize % unlinks.len().max(1)) else {
                return Ok(());
            };
            let Some(i) = before.fks.iter().position(Option::is_some) else {
                return Ok(());
            };
            let v = pick(&m.live_pks(m.t[k.0].fks[i].parent), x / 2);
            update_row(db, m, k.0, k.1, None, None, Some((i, v)))
        }
        _ => {
            let coming: BTreeSet<Key> = tombs.iter().map(|(k, _)| *k).collect();
            let parents: Vec<Key> = tombs
                .iter()
                .flat_map(|(k, r)| {
                    m.t[k.0]
                        .fks
                        .iter()
                        .zip(&r.fks)
                        .filter_map(|(fk, v)| v.map(|v| (fk.parent, v)))
                        .collect::<Vec<_>>()
                })
                .filter(|p| !coming.contains(p) && m.is_live(*p))
                .collect();
            let Some(p) = parents.get(x as usize % parents.len().max(1)) else {
                return Ok(());
            };
            do_delete(db, m, p.0, p.1).map(|_| ())
        }
    }
}

fn scans(db: &Db, m: &Model) -> Result<Vec<Vec<Row>>, TestCaseError> {
    m.t.iter()
        .map(|t| got(db.scan(&t.name, Scan::all()), "scan"))
        .collect()
}

fn step(db: &Db, m: &mut Model, recs: &mut Vec<Rec>, op: &Op) -> Step {
    let nt = m.t.len();
    match op {
        Op::Insert { t, pk, u, n, fks } => do_insert(db, m, *t as usize % nt, pk, u, *n, fks),
        Op::Update { t, row, u, n, fk } => do_update(
            db,
            m,
            table_for(m, *t, row),
            row,
            u.as_ref(),
            *n,
            fk.as_ref(),
        ),
        Op::Delete { t, row } => {
            let t = table_for(m, *t, row);
            let pk = resolve_row(m, t, row);
            do_delete(db, m, t, pk).map(|_| ())
        }
        Op::DeleteThenRestore { t, row } => {
            let t = table_for(m, *t, row);
            let pk = resolve_row(m, t, row);
            if !m.is_live((t, pk)) {
                return Ok(());
            }
            let before = scans(db, m)?;
            let Some(id) = do_delete(db, m, t, pk)? else {
                return Ok(());
            };
            record(db, m, recs)?;
            check_live(db, m).map_err(|e| fail(format!("after the delete: {e}")))?;
            let wrote = do_restore(db, m, id, false)?;
            prop_assert!(wrote, "restoring a fresh deletion wrote nothing");
            // (2) the restore gives every table back exactly
            prop_assert_eq!(
                scans(db, m)?,
                before,
                "delete then restore of {} {}",
                m.name(t),
                pk
            );
            Ok(())
        }
        Op::Restore {
            d,
            skip,
            unknown,
            in_trash,
        } => {
            let ids: Vec<Uuid> = m
                .dels
                .iter()
                .filter(|d| !*in_trash || !d.members.is_empty())
                .map(|d| d.id)
                .collect();
            let all: Vec<Uuid> = m.dels.iter().map(|d| d.id).collect();
            let id = match pick(&ids, *d).or_else(|| pick(&all, *d)) {
                Some(id) if !unknown => id,
                _ => Uuid::from_u128(0xdead_0000_0000 + u128::from(*d)),
            };
            do_restore(db, m, id, *skip).map(|_| ())
        }
        Op::Provoke { d, kind, x, skip } => {
            // a deletion in the trash to which the kind of change applies, if any
            let fits: Vec<Uuid> = m
                .dels
                .iter()
                .filter(|dm| !dm.members.is_empty() && provocable(m, dm, *kind))
                .map(|dm| dm.id)
                .collect();
            let ids: Vec<Uuid> = m
                .dels
                .iter()
                .filter(|dm| !dm.members.is_empty())
                .map(|dm| dm.id)
                .collect();
            let Some(id) = pick(&fits, *d).or_else(|| pick(&ids, *d)) else {
                return Ok(());
            };
            provoke(db, m, id, *kind, *x)?;
            record(db, m, recs)?;
            check_live(db, m).map_err(|e| fail(format!("after provoking: {e}")))?;
            do_restore(db, m, id, *skip).map(|_| ())
        }
        Op::RestoreTo { step } => {
            let r = &recs[*step as usize % recs.len()];
            let (lsn, then, lives) = (r.lsn, r.live.clone(), r.lives.clone());
            do_restore_to(db, m, ScopeM::Store, lsn, &then, &lives)
        }
        Op::RestoreTableTo { t, step } => {
            let r = &recs[*step as usize % recs.len()];
            let (lsn, then, lives) = (r.lsn, r.live.clone(), r.lives.clone());
            do_restore_to(db, m, ScopeM::Table(*t as usize % nt), lsn, &then, &lives)
        }
        Op::RestoreRowTo { t, row, step } => {
            let t = *t as usize % nt;
            let pk = i64::from(*row) % (m.max_pk[t] + 1) + 1;
            let r = &recs[*step as usize % recs.len()];
            let (lsn, then, lives) = (r.lsn, r.live.clone(), r.lives.clone());
            do_restore_to(db, m, ScopeM::Row((t, pk)), lsn, &then, &lives)
        }
        Op::Undo { tx, force } => {
            let tx = u64::from(*tx) % m.tx() + 1;
            do_undo(db, m, tx, *force)
        }
        Op::Prune { t, step } => {
            let t = *t as usize % nt;
            let r = &recs[*step as usize % recs.len()];
            do_prune(db, m, t, r.lsn)
        }
    }
}

/// Sets a history window on table `t` (unless it has one) such that the point `lsn` is just
/// before it, then applies retention; checks that the store pruned the tables the model says.
fn do_prune(db: &Db, m: &mut Model, t: usize, lsn: u64) -> Step {
    if m.window[t].is_none() {
        let secs = ((m.now() - m.time_of(lsn)) / 1_000_000).max(1) as u64;
        got(
            db.set_retention(
                Some(m.name(t)),
                Retention {
                    deletions: None,
                    history: Some(secs),
                },
            ),
            "set_retention",
        )?;
        m.window[t] = Some(secs);
        m.schema_tx();
    }
    // the tables the store prunes: a window whose cutoff passed a commit after the horizon
    let mut want = Vec::new();
    for ti in 0..m.t.len() {
        let Some(w) = m.window[ti] else { continue };
        let cutoff = m.now().saturating_sub(w as i64 * 1_000_000);
        let last = m
            .txs
            .iter()
            .filter(|x| x.at <= cutoff)
            .map(|x| x.last)
            .max()
            .unwrap_or(0);
        if last > 0 && last + 1 > m.horizon[ti] {
            want.push((m.name(ti).to_string(), last + 1));
        }
    }
    let report = got(
        db.apply_retention(&lazarusdb::Audit::by("model")),
        "apply_retention",
    )?;
    prop_assert!(report.purged.is_empty());
    let pruned: Vec<(String, u64)> = report
        .pruned
        .iter()
        .map(|(t, h, _)| (t.clone(), *h))
        .collect();
    same(pruned, want.clone(), "tables pruned (table, horizon)")?;
    for (name, h) in want {
        let ti = m.t.iter().position(|x| x.name == name).unwrap();
        m.horizon[ti] = h;
        m.pruned = true;
        m.schema_tx();
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Comparing the reads with the model.

/// The state after a step: its LSN, the live rows and the trash (id, remaining), newest first.
struct Rec {
    lsn: u64,
    live: Snap,
    lives: Lives,
    trash: Vec<(Uuid, u64)>,
    /// `find_deletion` of every key up to the largest one used + 1.
    holders: BTreeMap<Key, Option<Uuid>>,
}

fn holders_of(m: &Model) -> BTreeMap<Key, Option<Uuid>> {
    (0..m.t.len())
        .flat_map(|t| (1..=m.max_pk[t] + 1).map(move |pk| (t, pk)))
        .map(|k| (k, m.holder(k)))
        .collect()
}

fn trash_of(m: &Model) -> Vec<(Uuid, u64)> {
    m.dels
        .iter()
        .rev()
        .filter(|d| !d.members.is_empty())
        .map(|d| (d.id, d.members.len() as u64))
        .collect()
}

fn record(db: &Db, m: &Model, recs: &mut Vec<Rec>) -> Step {
    prop_assert_eq!(db.last_lsn(), m.lsn, "the LSN");
    recs.push(Rec {
        lsn: m.lsn,
        live: m.live.clone(),
        lives: m.life.clone(),
        trash: trash_of(m),
        holders: holders_of(m),
    });
    Ok(())
}

fn same<T: PartialEq + std::fmt::Debug>(got: T, want: T, what: impl Display) -> Step {
    if got == want {
        Ok(())
    } else {
        Err(fail(format!("{what}: store {got:?}, model {want:?}")))
    }
}

/// Every read path of `r` against `live` (keys probed: every key up to `max_pk` + 1).
fn check_reads<R: Readable>(r: &R, tables: &[TableM], live: &Snap, max_pk: &[i64]) -> Step {
    check_reads_but(r, tables, live, max_pk, &BTreeSet::new())
}

/// [`check_reads`] of a past point: the tables in `expired` are before their history window
/// there, and every read of them is `HistoryExpired`.
fn check_reads_but<R: Readable>(
    r: &R,
    tables: &[TableM],
    live: &Snap,
    max_pk: &[i64],
    expired: &BTreeSet<usize>,
) -> Step {
    for (ti, t) in tables.iter().enumerate() {
        if expired.contains(&ti) {
            let e = r.scan(&t.name, Scan::all()).err();
            prop_assert!(
                matches!(e, Some(Error::HistoryExpired { .. })),
                "scan {} before its history window: {:?}",
                t.name,
                e
            );
            let e = r.get(&t.name, 1).err();
            prop_assert!(
                matches!(e, Some(Error::HistoryExpired { .. })),
                "get {} before its history window: {:?}",
                t.name,
                e
            );
            continue;
        }
        let want: Vec<Row> = live[ti].iter().map(|(pk, x)| row_of(t, *pk, x)).collect();
        same(
            got(r.scan(&t.name, Scan::all()), "scan")?,
            want,
            format!("scan {}", t.name),
        )?;
        same(
            got(r.count(&t.name), "count")?,
            live[ti].len() as u64,
            format!("count {}", t.name),
        )?;
        for pk in 1..=max_pk[ti] + 1 {
            same(
                got(r.get(&t.name, pk), "get")?,
                live[ti].get(&pk).map(|x| row_of(t, pk, x)),
                format!("get {} {pk}", t.name),
            )?;
        }
        for u in POOL {
            let want: Vec<Row> = live[ti]
                .iter()
                .filter(|(_, x)| x.u.as_deref() == Some(*u))
                .map(|(pk, x)| row_of(t, *pk, x))
                .collect();
            same(
                got(r.lookup(&t.name, &["u"], &[Value::from(*u)]), "lookup")?,
                want,
                format!("lookup {}.u = {u}", t.name),
            )?;
        }
        for (i, fk) in t.fks.iter().enumerate() {
            if expired.contains(&fk.parent) {
                continue;
            }
            let p = &tables[fk.parent];
            // children of every live parent, and of one that is not
            let probes = live[fk.parent]
                .keys()
                .copied()
                .chain((1..=max_pk[fk.parent] + 1).find(|k| !live[fk.parent].contains_key(k)));
            for ppk in probes {
                let want: Vec<Row> = live[ti]
                    .iter()
                    .filter(|(_, x)| x.fks[i] == Some(ppk))
                    .map(|(pk, x)| row_of(t, *pk, x))
                    .collect();
                same(
                    got(r.children(&p.name, ppk, &t.name), "children")?,
                    want,
                    format!("children of {} {ppk} in {}", p.name, t.name),
                )?;
            }
            for (pk, x) in &live[ti] {
                let want = x.fks[i].map(|v| row_of(p, v, &live[fk.parent][&v]));
                same(
                    got(r.parent(&t.name, *pk, fk.col), "parent")?,
                    want,
                    format!("parent of {} {pk} via {}", t.name, fk.col),
                )?;
            }
        }
    }
    Ok(())
}

/// `diff(a, b)`: the rows that differ between two recorded points, in (table, pk) order.
fn check_diff(db: &Db, m: &Model, a: &Rec, b: &Rec) -> Step {
    type D = (String, &'static str, Option<Row>, Option<Row>, Vec<String>);
    // a table with events between the points, before its history window at the earlier one
    let (lo, hi) = (a.lsn.min(b.lsn), a.lsn.max(b.lsn));
    let touched = m
        .txs
        .iter()
        .filter(|x| x.first > lo && x.last <= hi)
        .flat_map(|x| x.rows.iter().map(|k| k.0));
    if m.any_expired(touched, lo) {
        let what = format!("diff({}, {}) before a history window", a.lsn, b.lsn);
        judge(
            db,
            m,
            &what,
            db.diff(a.lsn, b.lsn, None),
            Err(&Exp::Expired),
        )?;
        return Ok(());
    }
    let got_d: Vec<D> = got(db.diff(a.lsn, b.lsn, None), "diff")?
        .into_iter()
        .map(|d| {
            (
                format!("{} {}", d.row.table, d.row.pk),
                d.kind.name(),
                d.before,
                d.after,
                d.changes.into_iter().map(|c| c.column).collect(),
            )
        })
        .collect();
    let mut want: Vec<D> = Vec::new();
    for (ti, t) in m.t.iter().enumerate() {
        let pks: BTreeSet<i64> = a.live[ti]
            .keys()
            .chain(b.live[ti].keys())
            .copied()
            .collect();
        for pk in pks {
            let (x, y) = (a.live[ti].get(&pk), b.live[ti].get(&pk));
            let kind = match (x, y) {
                (None, Some(_)) => "inserted",
                (Some(_), None) => "deleted",
                (Some(x), Some(y)) if x != y => "changed",
                _ => continue,
            };
            let mut cols = Vec::new();
            if let (Some(x), Some(y)) = (x, y) {
                if x.u != y.u {
                    cols.push("u".to_string());
                }
                if x.n != y.n {
                    cols.push("n".to_string());
                }
                for (i, fk) in t.fks.iter().enumerate() {
                    if x.fks[i] != y.fks[i] {
                        cols.push(fk.col.to_string());
                    }
                }
            }
            want.push((
                format!("{} {pk}", t.name),
                kind,
                x.map(|r| row_of(t, pk, r)),
                y.map(|r| row_of(t, pk, r)),
                cols,
            ));
        }
    }
    same(got_d, want, format!("diff({}, {})", a.lsn, b.lsn))
}

/// (3) No dangling foreign key, no duplicate unique value, over the store's own scans.
fn check_integrity(db: &Db, m: &Model) -> Step {
    let rows = scans(db, m)?;
    let pks: Vec<BTreeSet<i64>> = rows
        .iter()
        .map(|rs| {
            rs.iter()
                .filter_map(|r| r.get("id").and_then(Value::as_int))
                .collect()
        })
        .collect();
    for (ti, t) in m.t.iter().enumerate() {
        let mut seen = BTreeSet::new();
        for r in &rows[ti] {
            if let Some(u) = r.get("u").and_then(Value::as_text) {
                prop_assert!(
                    seen.insert(u.to_string()),
                    "two live {} rows have u = {}",
                    t.name,
                    u
                );
            }
            for fk in &t.fks {
                if let Some(v) = r.get(fk.col).and_then(Value::as_int) {
                    prop_assert!(
                        pks[fk.parent].contains(&v),
                        "live {:?} of {} references {} {}, which is not live",
                        r,
                        t.name,
                        m.t[fk.parent].name,
                        v
                    );
                }
            }
        }
    }
    Ok(())
}

fn check_trash(db: &Db, m: &Model) -> Step {
    let list = got(db.trash(&TrashQuery::all()), "trash")?;
    let got_ids: Vec<(Uuid, u64)> = list.iter().map(|d| (d.id, d.remaining)).collect();
    same(got_ids, trash_of(m), "trash (id, remaining), newest first")?;
    for d in &m.dels {
        let sd = got(db.deletion(d.id), "deletion")?;
        let remaining = d.members.len() as u64;
        same(sd.remaining, remaining, format!("remaining of {}", d.id))?;
        same(
            sd.restored,
            d.total - remaining,
            format!("restored of {}", d.id),
        )?;
        same(sd.unlinked, d.unlinked, format!("unlinked of {}", d.id))?;
        let rows: BTreeMap<String, u64> = sd.rows.iter().cloned().collect();
        let want: BTreeMap<String, u64> = d
            .rows
            .iter()
            .map(|(t, n)| (m.name(*t).to_string(), *n))
            .collect();
        same(rows, want, format!("rows of {}", d.id))?;
        if d.roots.len() <= 16 {
            same(
                store_refs(&sd.roots),
                refs(m, d.roots.iter().copied()),
                format!("roots of {}", d.id),
            )?;
        }
        let members: BTreeSet<(String, bool, String)> =
            got(db.deletion_rows(d.id), "deletion_rows")?
                .iter()
                .map(|r| {
                    (
                        format!("{} {}", r.row_ref.table, r.row_ref.pk),
                        r.kind == MemberKind::Tombstoned,
                        format!("{:?}", r.row),
                    )
                })
                .collect();
        let want: BTreeSet<(String, bool, String)> = d
            .members
            .iter()
            .map(|mm| match mm {
                Member::Tomb { k, last, .. } => (
                    m.rref(*k),
                    true,
                    format!("{:?}", row_of(&m.t[k.0], k.1, last)),
                ),
                Member::Unlink { k, before, .. } => (
                    m.rref(*k),
                    false,
                    format!("{:?}", row_of(&m.t[k.0], k.1, before)),
                ),
            })
            .collect();
        same(members, want, format!("deletion_rows of {}", d.id))?;
    }
    check_holders(db, m, &holders_of(m))
}

/// `find_deletion` of every key: the deletion holding the latest life of the key still in a
/// trash, live key or not.
fn check_holders<R: Readable>(r: &R, m: &Model, want: &BTreeMap<Key, Option<Uuid>>) -> Step {
    for (k, d) in want {
        same(
            got(r.find_deletion(m.name(k.0), k.1), "find_deletion")?,
            *d,
            format!("find_deletion {}", m.rref(*k)),
        )?;
    }
    Ok(())
}

/// Every read of the past at a recorded point: the rows (tables before their history window
/// refuse), the trash and `find_deletion`.
fn check_past(db: &Db, m: &Model, r: &Rec) -> Step {
    let past = got(db.as_of(r.lsn), "as_of")?;
    let expired: BTreeSet<usize> = (0..m.t.len()).filter(|t| m.expired(*t, r.lsn)).collect();
    check_reads_but(&past, &m.t, &r.live, &m.max_pk, &expired)
        .map_err(|e| fail(format!("as of {}: {e}", r.lsn)))?;
    let trash: Vec<(Uuid, u64)> = got(past.trash(&TrashQuery::all()), "trash as of")?
        .iter()
        .map(|d| (d.id, d.remaining))
        .collect();
    same(trash, r.trash.clone(), format!("trash as of {}", r.lsn))?;
    check_holders(&past, m, &r.holders).map_err(|e| fail(format!("as of {}: {e}", r.lsn)))
}

/// Exports the log and imports it into a new store with the same clock: the import reads like
/// the store, now and at every recorded point, and verifies. With a pruning in the log, export
/// is refused instead.
fn check_export_import(db: &Db, m: &Model, recs: &[Rec], clock: &Clock) -> Step {
    let mut out = Vec::new();
    let res = db.export_log(&mut out);
    if m.pruned {
        prop_assert!(
            matches!(res, Err(Error::InvalidInput(_))),
            "export of a pruned log: {:?}",
            res.map(|_| ())
        );
        return Ok(());
    }
    prop_assert_eq!(got(res, "export")?, m.lsn, "events exported");
    let copy = got(
        Db::memory_with(Options::default().clock(clock.clone())),
        "open",
    )?;
    got(copy.import_log(&mut out.as_slice()), "import")?;
    check_live(&copy, m).map_err(|e| fail(format!("imported: {e}")))?;
    for r in recs {
        check_past(&copy, m, r).map_err(|e| fail(format!("imported: {e}")))?;
    }
    let report = got(copy.verify(), "verify the import")?;
    prop_assert!(
        report.is_ok(),
        "verify the import: {:?}",
        report.differences
    );
    Ok(())
}

fn check_live(db: &Db, m: &Model) -> Step {
    prop_assert_eq!(db.last_lsn(), m.lsn, "the LSN");
    check_reads(db, &m.t, &m.live, &m.max_pk)?;
    check_integrity(db, m)?;
    check_trash(db, m)
}

// ---------------------------------------------------------------------------------------------
// The property.

#[derive(Debug, Clone, Copy)]
enum Eng {
    Memory,
    Fjall,
}

fn run_case(eng: Eng, shapes: &[Shape], keeps: u8, ops: &[Op], final_pick: u32) -> Step {
    let dir = got(tempfile::tempdir(), "tempdir")?;
    let (clock, cell) = Clock::manual(Timestamp(T0));
    let options = || Options::default().clock(clock.clone());
    let db = match eng {
        Eng::Memory => got(Db::memory_with(options()), "open")?,
        Eng::Fjall => got(Db::open_with(dir.path().join("store"), options()), "open")?,
    };
    let tables = tables_of(shapes, keeps);
    create_schema(&db, &tables)?;
    let mut m = Model::new(tables);
    m.clock = cell;
    let mut recs = Vec::new();
    record(&db, &m, &mut recs)?;
    for (i, op) in ops.iter().enumerate() {
        m.clock.fetch_add(TICK, AtomicOrdering::SeqCst);
        step(&db, &mut m, &mut recs, op).map_err(|e| fail(format!("step {i} ({op:?}): {e}")))?;
        record(&db, &m, &mut recs)?;
        check_live(&db, &m).map_err(|e| fail(format!("after step {i} ({op:?}): {e}")))?;
    }

    // (5) every recorded point, as of its LSN (and as of an LSN inside its transaction), and
    // the diff from the point before it
    let mut last: Option<&Rec> = None;
    for r in &recs {
        if last.is_some_and(|l| l.lsn == r.lsn) {
            continue;
        }
        if let Some(l) = last {
            check_diff(&db, &m, l, r)?;
            // (only when one transaction leads from one point to the next)
            let one_tx = m
                .txs
                .iter()
                .any(|x| x.first == l.lsn + 1 && x.last == r.lsn);
            if r.lsn > l.lsn + 1 && one_tx {
                let inside = got(db.as_of(l.lsn + 1), "as_of")?;
                prop_assert_eq!(inside.lsn(), r.lsn, "as_of inside a transaction");
                for (ti, t) in m.t.iter().enumerate() {
                    if m.expired(ti, r.lsn) {
                        continue;
                    }
                    let want: Vec<Row> =
                        r.live[ti].iter().map(|(pk, x)| row_of(t, *pk, x)).collect();
                    same(
                        got(inside.scan(&t.name, Scan::all()), "scan")?,
                        want,
                        format!("scan {} as of {} (inside {})", t.name, l.lsn + 1, r.lsn),
                    )?;
                }
            }
        }
        last = Some(r);
        check_past(&db, &m, r)?;
    }
    // (7) export then import gives the same store, now and at every point; a log holding a
    // pruning (purge events) is refused by export
    check_export_import(&db, &m, &recs, &clock)?;

    // a diff between two random points, both ways
    let (a, b) = (
        &recs[final_pick as usize % recs.len()],
        &recs[(final_pick / 7) as usize % recs.len()],
    );
    check_diff(&db, &m, a, b)?;
    check_diff(&db, &m, b, a)?;

    // ... and the whole store restored to one of them, then that restore undone
    let mut target = &recs[final_pick as usize % recs.len()];
    if (0..m.t.len()).any(|t| m.expired(t, target.lsn)) {
        // refused before a history window (do_restore_to checks that); take the last point
        do_restore_to(
            &db,
            &mut m,
            ScopeM::Store,
            target.lsn,
            &target.live.clone(),
            &target.lives.clone(),
        )
        .map_err(|e| fail(format!("final {e}")))?;
        target = recs.last().unwrap();
    }
    let before = m.live.clone();
    let tx_before = m.tx();
    do_restore_to(
        &db,
        &mut m,
        ScopeM::Store,
        target.lsn,
        &target.live.clone(),
        &target.lives.clone(),
    )
    .map_err(|e| fail(format!("final {e}")))?;
    prop_assert_eq!(
        &m.live,
        &target.live,
        "the model restored to {}",
        target.lsn
    );
    check_live(&db, &m)
        .map_err(|e| fail(format!("after restore_store_to({}): {e}", target.lsn)))?;
    if m.tx() > tx_before {
        let tx = m.tx();
        let rec = got(db.transaction_record(tx), "transaction_record")?;
        prop_assert_eq!(
            rec.map(|r| r.last_lsn),
            Some(db.last_lsn()),
            "the restore's transaction"
        );
        do_undo(&db, &mut m, tx, false).map_err(|e| fail(format!("final {e}")))?;
        prop_assert_eq!(&m.live, &before, "undo of the restore");
        check_live(&db, &m).map_err(|e| fail(format!("after undo of the restore: {e}")))?;
    }

    // (6)
    let report = got(db.verify(), "verify")?;
    prop_assert!(report.is_ok(), "verify: {:?}", report.differences);
    prop_assert_eq!(report.events, m.lsn);

    // on disk: the same after reopening, now and in the past
    if matches!(eng, Eng::Fjall) {
        got(db.close(), "close")?;
        let db = got(Db::open_with(dir.path().join("store"), options()), "reopen")?;
        check_live(&db, &m).map_err(|e| fail(format!("after reopen: {e}")))?;
        let r = &recs[(final_pick / 3) as usize % recs.len()];
        check_past(&db, &m, r).map_err(|e| fail(format!("after reopen: {e}")))?;
        got(db.close(), "close")?;
    }
    Ok(())
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Which tables keep their trashed keys (a bit per table), none in half the cases.
fn keeps() -> impl Strategy<Value = u8> {
    prop_oneof![Just(0u8), any::<u8>()]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 8..=50)
}

proptest! {
    #![proptest_config(config(48))]
    #[test]
    fn memory_history_matches_the_model(
        shapes in shapes(),
        keeps in keeps(),
        ops in ops(),
        pick in any::<u32>(),
    ) {
        run_case(Eng::Memory, &shapes, keeps, &ops, pick)?;
    }
}

proptest! {
    #![proptest_config(config(8))]
    #[test]
    fn fjall_history_matches_the_model(
        shapes in shapes(),
        keeps in keeps(),
        ops in ops(),
        pick in any::<u32>(),
    ) {
        run_case(Eng::Fjall, &shapes, keeps, &ops, pick)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Store bugs the property found, kept as small regressions.

/// `p 1` and `c 1`, whose nullable foreign key `c.p` references it with on_delete = set_null.
fn parent_and_set_null_child() -> Db {
    let db = Db::memory().unwrap();
    db.create_table(
        TableBuilder::new("p")
            .column(("id", ColumnType::Int))
            .primary_key("id"),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("c")
            .column(("id", ColumnType::Int))
            .column(ColumnDef::new("p", ColumnType::Int).nullable())
            .primary_key("id")
            .foreign_key("p", "p", OnDelete::SetNull),
    )
    .unwrap();
    db.insert("p", Row::new()).unwrap();
    db.insert("c", Row::new().with("p", 1)).unwrap();
    db
}

fn assert_nothing_of_it_in_the_trash(db: &Db, deletion: Uuid) {
    let c = db.get("c", 1).unwrap().unwrap();
    assert_eq!(c.get("p"), Some(&Value::Int(1)), "the reference is back");
    assert!(db.get("p", 1).unwrap().is_some(), "the parent is back");
    let d = db.deletion(deletion).unwrap();
    assert_eq!(
        (d.remaining, d.restored),
        (0, 2),
        "members still in the trash: {:?}",
        db.deletion_rows(deletion).unwrap()
    );
    assert!(db.trash(&TrashQuery::all()).unwrap().is_empty());
    let now = db.as_of(db.last_lsn()).unwrap();
    assert!(now.trash(&TrashQuery::all()).unwrap().is_empty());
}

/// Undoing a delete brings its tombstoned rows back and puts the set-null references back; the
/// deletion leaves the trash entirely (it once kept its set-null members listed).
#[test]
fn undoing_a_delete_takes_its_set_null_updates_out_of_the_trash() {
    let db = parent_and_set_null_child();
    let rep = db.delete("p", 1).unwrap();
    assert_eq!(rep.unlinked.len(), 1);
    let tx = db.deletion(rep.deletion).unwrap().tx;
    db.undo(tx, false).unwrap();
    assert_nothing_of_it_in_the_trash(&db, rep.deletion);
}

/// The same through a restore of the whole store to the point before the delete.
#[test]
fn restoring_the_store_to_before_a_delete_takes_its_set_null_updates_out_of_the_trash() {
    let db = parent_and_set_null_child();
    let before = db.last_lsn();
    let rep = db.delete("p", 1).unwrap();
    db.restore_store_to(before).unwrap();
    assert_nothing_of_it_in_the_trash(&db, rep.deletion);
}
