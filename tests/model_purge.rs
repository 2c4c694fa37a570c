//! Model-based property test of purge and erase (see `docs/design.md` §11), on the memory and
//! fjall engines, against the shared reference model (`tests/reference/`).
//!
//! A small schema: `parent` (int key `id`, text `v`), `child` (int key, `pid` → `parent` with
//! `on_delete = cascade`, text `v`) and `note` (int key, nullable `pid` → `parent` with
//! `on_delete = set_null`, text `v`), each with a secondary index on `v`. Each case draws
//! whether the tables keep the keys of trashed rows (`trash_keeps_keys`). Keys come from a range
//! of three or four values, so keys of trashed and purged rows are reused often. Every write puts
//! a fresh marker (`~v17~`) in `v`, so each value in the log belongs to exactly one row
//! *life* (from an insert to the tombstone that ends it; a restore continues the life). When
//! the trash frees keys, one key can have a live life and several lives in the trash of
//! different deletions at once.
//!
//! Random operations run against the store and the reference model ([`reference::Model`]: live
//! rows with their life, every life with the images written of it and whether it was purged,
//! every deletion with its members and whether each is still in the trash, restored, or left,
//! and a snapshot after every transaction): insert (valid, duplicate key, missing parent,
//! reserved key, often the key of a trashed row), update (of `v`, re-pointing `pid`), delete
//! (cascade and set-null), restore of a deletion (`Refuse`), restore of one row of a deletion,
//! purge of a deletion (in the trash, partly restored, fully restored, already purged), erase of
//! a row (live, trashed, or neither). Some picks aim at the interleaved lives a reused key
//! allows: a live row whose key has a life in a trash, a deletion whose restore resumes a life
//! after a later life of its key began, and a run of operations that makes one (insert,
//! delete, insert the same key, delete, restore the older deletion; then maybe erase or delete
//! and purge the resumed life).
//!
//! The semantics the model holds (`docs/design.md` §11):
//! - purging a deletion purges, for each tombstoned row still in its trash, the images of the
//!   life its tombstone ended (from the insert that began it, across the lives of the key that
//!   came between when a restore resumed it after a later life began); earlier and later lives
//!   of the key are untouched, whether live or in another deletion's trash, and `find_deletion`
//!   keeps naming another deletion that holds the key;
//! - `find_deletion` names the deletion holding the key's latest life still in a trash: after
//!   a purge or a restore of that life, the one holding the latest earlier life, if any (so that
//!   row stays findable, is `AlreadyDeleted`, and can be erased);
//! - when a life is purged (by a purge or an erase), each set-null member of that life in
//!   another deletion leaves that deletion: its `remaining` drops by one, `deletion_rows` no
//!   longer lists it, restoring it neither reverts it nor reports a conflict for it (a deletion
//!   left with nothing counts as restored);
//! - `erase(table, pk)` purges the row's deletion (deleting a live row first), then every other
//!   deletion whose trash still holds a life of the key: those are listed (in any order) in
//!   `PurgeReport::also` and their rows and images added to the report's.
//!
//! Pinned:
//! 1. every operation fails exactly when the model says, with the model's error (`NotFound`,
//!    `AlreadyDeleted`, `KeyReserved`, constraint violations, `Purged`, `AlreadyRestored`,
//!    `InvalidInput` for the purge of a restored deletion, `RestoreConflict` with the model's
//!    conflicts, each listed once), and leaves `last_lsn` unchanged; every success returns what
//!    the model predicts (rows, cascades, restored rows and relinks, purge reports with their
//!    rows, number of images rewritten and other deletions purged) and moves the LSN by the
//!    model's number of events; the events it wrote that carry an image are exactly the images
//!    the model records (one per row and life);
//! 2. after every operation every live read path (`get`, `scan(Scan::all())`, `count`, `lookup`
//!    on `v` for every live value and for purged values, `children`, `find_deletion`) equals
//!    the model, and so does the trash (`trash(all)`: ids newest first with remaining; purged
//!    deletions absent; `deletion` with remaining and restored, `Purged` for purged ones;
//!    `deletion_rows` with the last images); `verify` reports no difference;
//! 3. after every operation the log (every event's `Debug` text from `db.events(1, None)`) holds
//!    no marker of a purged life, and still holds every marker of every other life; the events
//!    whose image is purged (`ImagePurged`) are exactly the image events of the purged lives
//!    (compared by transaction and row);
//! 4. `as_of` every recorded point (a random one after each operation, all of them after each
//!    purge and at the end): `get` of a row whose life was purged since is `Error::Purged`,
//!    every other row reads as the model had it (a live row whose key had an earlier life purged
//!    since too); `scan`, `count` and `lookup` leave the purged rows out; `find_deletion` of a
//!    key not live then answers what the live store did then; the trash then lists the
//!    deletions of then that are not purged now, each with its remaining members then
//!    (restores and set-null updates purged since still count; a set-null member that had left
//!    its deletion by then does not) and its restored ones; `deletion` says the same of them,
//!    `Error::Purged` of a purged deletion and `UnknownDeletion` of a later one;
//!    `deletion_rows` lists their members in the trash then with their last images, or is
//!    `Error::Purged` when the life of one of them was purged since;
//! 5. at the end: every purged deletion refuses `restore`, `restore_row` and `purge` with
//!    `Error::Purged`, writing nothing; on fjall the store reads the same after reopening;
//!    `rebuild` replays every event and everything above still holds.
//!
//! The regressions at the end are the library bugs this property found (all fixed since) and
//! small examples of the semantics above. The property skips nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod reference;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;

use lazarusdb::EventBody;
use lazarusdb::{
    AsOf, Audit, ColumnDef, ColumnType, Db, Error, MemberKind, OnDelete, Options, Readable,
    RestorePolicy, Row, RowRef, Scan, TableBuilder, TrashQuery, Value,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use reference::{Col, DelRow, Exp, Model, Pk, PurgeOut, Snap, Table};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Schema.

const PARENT: usize = 0;
const CHILD: usize = 1;
const NOTE: usize = 2;
const TABLES: [&str; 3] = ["parent", "child", "note"];
/// Primary keys of table `t` are `0..KEYS[t]`; parent references are drawn from `0..4`, so `3`
/// never exists.
const KEYS: [i64; 3] = [3, 4, 3];

fn create_schema(db: &Db, keep: bool) -> Result<(), TestCaseError> {
    got(
        db.apply_schema(&[
            TableBuilder::new("parent")
                .column(("id", ColumnType::Int))
                .column(("v", ColumnType::Text))
                .primary_key("id")
                .index(["v"])
                .trash_keeps_keys(keep)
                .build(),
            TableBuilder::new("child")
                .column(("id", ColumnType::Int))
                .column(("pid", ColumnType::Int))
                .column(("v", ColumnType::Text))
                .primary_key("id")
                .index(["v"])
                .foreign_key("pid", "parent", OnDelete::Cascade)
                .trash_keeps_keys(keep)
                .build(),
            TableBuilder::new("note")
                .column(("id", ColumnType::Int))
                .column(ColumnDef::new("pid", ColumnType::Int).nullable())
                .column(("v", ColumnType::Text))
                .primary_key("id")
                .index(["v"])
                .foreign_key("pid", "parent", OnDelete::SetNull)
                .trash_keeps_keys(keep)
                .build(),
        ]),
        "create the schema",
    )
}

/// The same schema in the model (one schema transaction).
fn model_schema(keep: bool) -> Model {
    let table = |name: &str| {
        Table::new(name, "id")
            .column(Col::new("id", ColumnType::Int))
            .keeps_keys(keep)
    };
    let mut m = Model::new();
    m.create_tables(vec![
        table("parent").column(Col::new("v", ColumnType::Text)),
        table("child")
            .column(Col::new("pid", ColumnType::Int))
            .column(Col::new("v", ColumnType::Text))
            .foreign_key("pid", PARENT, OnDelete::Cascade),
        table("note")
            .column(Col::new("pid", ColumnType::Int).nullable())
            .column(Col::new("v", ColumnType::Text))
            .foreign_key("pid", PARENT, OnDelete::SetNull),
    ]);
    m
}

// ---------------------------------------------------------------------------------------------
// The state of a case: the model, and what the test adds to it.

#[derive(Debug)]
struct World {
    m: Model,
    marker: u64,
    /// The store's ids of `TABLES`, as the events name them.
    ids: [u32; 3],
    /// The snapshots of the model from the schema on (before it, no table exists).
    first_snap: usize,
    /// The LSNs of the store's events that carried an image, by transaction and row (the
    /// model numbers the events of one transaction in its own order).
    image_lsns: BTreeMap<(u64, (usize, i64)), Vec<u64>>,
}

impl World {
    fn fresh(&mut self) -> String {
        self.marker += 1;
        format!("~v{}~", self.marker)
    }

    fn snaps(&self) -> &[Snap] {
        &self.m.snaps[self.first_snap..]
    }

    fn live(&self, t: usize) -> &BTreeMap<Pk, reference::Live> {
        &self.m.t[t].rows
    }

    /// The keys of table `t` with a life in a trash (those `find_deletion` names a deletion
    /// for), in key order.
    fn trashed_keys(&self, t: usize) -> Vec<i64> {
        let keys: BTreeSet<i64> = self
            .m
            .trashed(t)
            .filter_map(|(_, x)| x.key.1.int())
            .collect();
        keys.into_iter().collect()
    }

    /// The values written in life `l` (the markers of its inserts and updates).
    fn markers(&self, l: usize) -> BTreeSet<String> {
        self.m.lives[l]
            .images
            .iter()
            .filter_map(|i| i.row.get("v").and_then(Value::as_text).map(String::from))
            .collect()
    }
}

fn row_of(t: usize, pk: i64, v: &str, pid: Option<i64>) -> Row {
    let mut row = Row::new().with("id", pk);
    if t != PARENT {
        row.set("pid", pid.map_or(Value::Null, Value::Int));
    }
    row.with("v", v)
}

fn flat(r: &Row) -> Vec<(String, Value)> {
    r.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

fn rref(t: usize, pk: i64) -> RowRef {
    RowRef {
        table: TABLES[t].to_string(),
        pk: Value::Int(pk),
    }
}

fn pk_of(r: &RowRef) -> i64 {
    match r.pk {
        Value::Int(i) => i,
        _ => i64::MIN,
    }
}

fn refs_of(rows: &[RowRef]) -> BTreeSet<(String, i64)> {
    rows.iter().map(|r| (r.table.clone(), pk_of(r))).collect()
}

fn model_refs<'a>(
    rows: impl IntoIterator<Item = &'a reference::RowKey>,
) -> BTreeSet<(String, i64)> {
    rows.into_iter()
        .map(|(t, pk)| (TABLES[*t].to_string(), pk.int().unwrap_or(i64::MIN)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Operations.

#[derive(Debug, Clone)]
enum Op {
    /// `pid` is ignored for `parent`; a child always has one.
    Insert {
        t: usize,
        pk: i64,
        pid: Option<i64>,
    },
    /// A new `v`; for a child or note also a new `pid` when `Some`.
    Update {
        t: usize,
        pk: i64,
        pid: Option<Option<i64>>,
    },
    Delete {
        t: usize,
        pk: i64,
    },
    /// Restore deletion `d` (an index into the model's deletions).
    Restore {
        d: usize,
    },
    /// Restore tombstoned member number `m` (modulo their number) of deletion `d`.
    RestoreRow {
        d: usize,
        m: usize,
    },
    /// Purge deletion `d`.
    Purge {
        d: usize,
    },
    Erase {
        t: usize,
        pk: i64,
    },
}

/// A row to act on, chosen against the model when the step runs.
#[derive(Debug, Clone, Copy)]
enum Key {
    /// The n-th live row of the table (a raw key when there is none).
    Live(usize),
    /// The n-th key of the table in the trash (a raw key when there is none).
    Trashed(usize),
    /// The n-th live row of the table whose key also has a life in a trash (as [`Key::Live`]
    /// when there is none): deleting it puts a second life of the key in a trash.
    Shared(usize),
    /// The live row of the newest life, in any table (a raw key `0` when there is none).
    Newest,
    Raw(i64),
}

/// A parent reference, chosen against the model when the step runs.
#[derive(Debug, Clone, Copy)]
enum Ref {
    /// The n-th live parent (`3`, which never exists, when there is none).
    Live(usize),
    Raw(Option<i64>),
}

/// A deletion, chosen against the model when the step runs.
#[derive(Debug, Clone, Copy)]
enum Pick {
    /// The n-th deletion still in the trash (any deletion when there is none).
    InTrash(usize),
    /// The n-th deletion still in the trash that holds a row whose key is not live and has had
    /// an image of another life since (as [`Pick::InTrash`] when there is none): restoring it
    /// resumes a life after another life of its key came between.
    Resuming(usize),
    Any(usize),
}

/// A generated operation, resolved into an [`Op`] against the model.
#[derive(Debug, Clone)]
enum Gen {
    /// `reuse`: the n-th key of the table held in the trash of a deletion (`pk` when there is
    /// none), so that lives of one key pile up.
    Insert {
        t: usize,
        pk: i64,
        pid: Ref,
        reuse: Option<usize>,
    },
    Update {
        t: usize,
        key: Key,
        pid: Option<Ref>,
    },
    Delete {
        t: usize,
        key: Key,
    },
    Restore {
        d: Pick,
    },
    RestoreRow {
        d: Pick,
        m: usize,
    },
    Purge {
        d: Pick,
    },
    Erase {
        t: usize,
        key: Key,
    },
    /// A run of operations that resumes a life after a later life of its key began (see
    /// [`Gen::expand`]): a row of table `t` is inserted with key `pk` and deleted, twice, then
    /// a deletion holding an earlier life of a key not live (likely the first) is restored;
    /// then (`end`) nothing more, or a live row whose key has a life in the trash (likely the
    /// resumed one) is erased, or deleted and purged.
    Relive {
        t: usize,
        pk: i64,
        i: usize,
        end: u8,
    },
}

impl Gen {
    /// The operations `self` stands for, resolved one after another.
    fn expand(&self) -> Vec<Gen> {
        let Gen::Relive { t, pk, i, end } = *self else {
            return vec![self.clone()];
        };
        let life = Gen::Insert {
            t,
            pk,
            pid: Ref::Live(i),
            reuse: None,
        };
        let delete = Gen::Delete {
            t,
            key: Key::Newest,
        };
        let mut out = vec![
            life.clone(),
            delete.clone(),
            life,
            delete,
            Gen::Restore {
                d: Pick::Resuming(i),
            },
        ];
        match end {
            0 => {}
            1 => out.push(Gen::Erase {
                t,
                key: Key::Shared(i),
            }),
            _ => out.extend([
                Gen::Delete {
                    t,
                    key: Key::Shared(i),
                },
                Gen::Purge {
                    d: Pick::Resuming(i),
                },
            ]),
        }
        out
    }
}

impl World {
    /// The row `k` names: in table `t`, or for a live (trashed) row in the next table that has
    /// one when `t` has none.
    fn key(&self, t: usize, k: Key) -> (usize, i64) {
        let i = match k {
            Key::Raw(pk) => return (t, pk % KEYS[t]),
            Key::Newest => {
                let newest = (0..3)
                    .flat_map(|t| self.live(t).iter().map(move |(pk, r)| (r.life, t, pk)))
                    .max();
                return newest.map_or((t, 0), |(_, t, pk)| (t, pk.int().unwrap_or(0)));
            }
            Key::Shared(i) => {
                let shared: Vec<(usize, i64)> = (0..3)
                    .map(|d| (t + d) % 3)
                    .flat_map(|t| self.live(t).keys().map(move |pk| (t, pk.clone())))
                    .filter(|k| self.m.holder(k).is_some())
                    .map(|(t, pk)| (t, pk.int().unwrap_or(0)))
                    .collect();
                if !shared.is_empty() {
                    return shared[i % shared.len()];
                }
                i
            }
            Key::Live(i) | Key::Trashed(i) => i,
        };
        let keys = |t: usize| -> Vec<i64> {
            match k {
                Key::Trashed(_) => self.trashed_keys(t),
                _ => self.live(t).keys().filter_map(Pk::int).collect(),
            }
        };
        (0..3)
            .map(|d| (t + d) % 3)
            .find_map(|t| {
                let keys = keys(t);
                (!keys.is_empty()).then(|| (t, keys[i % keys.len()]))
            })
            .unwrap_or((t, i as i64 % KEYS[t]))
    }

    fn parent_ref(&self, r: Ref) -> Option<i64> {
        match r {
            Ref::Live(i) => {
                let keys: Vec<i64> = self.live(PARENT).keys().filter_map(Pk::int).collect();
                Some(if keys.is_empty() {
                    3
                } else {
                    keys[i % keys.len()]
                })
            }
            Ref::Raw(p) => p,
        }
    }

    fn pick(&self, p: Pick) -> Option<usize> {
        let dels = &self.m.dels;
        if dels.is_empty() {
            return None;
        }
        let last_image = |l: usize| self.m.lives[l].images.last().map(|i| i.lsn);
        let in_trash: Vec<usize> = (0..dels.len())
            .filter(|&i| !dels[i].purged && dels[i].remaining() > 0)
            .collect();
        let resuming: Vec<usize> = in_trash
            .iter()
            .copied()
            .filter(|&i| {
                dels[i].in_trash().any(|x| {
                    x.tomb()
                        && !self.m.is_live(&x.key)
                        && (0..self.m.lives.len()).any(|l| {
                            self.m.lives[l].key == x.key && last_image(l) > last_image(x.life)
                        })
                })
            })
            .collect();
        Some(match p {
            Pick::Resuming(i) if !resuming.is_empty() => resuming[i % resuming.len()],
            Pick::InTrash(i) | Pick::Resuming(i) if !in_trash.is_empty() => {
                in_trash[i % in_trash.len()]
            }
            Pick::InTrash(i) | Pick::Resuming(i) | Pick::Any(i) => i % dels.len(),
        })
    }

    /// The operation `g` stands for now (`None`: no deletion to name yet).
    fn resolve(&self, g: &Gen) -> Option<Op> {
        Some(match *g {
            Gen::Insert { t, pk, pid, reuse } => {
                // a child or a note naming a live parent when there is none: a parent instead
                let t = match pid {
                    Ref::Live(_) if self.live(PARENT).is_empty() => PARENT,
                    _ => t,
                };
                let trashed: BTreeSet<i64> = self
                    .m
                    .trashed(t)
                    .filter_map(|(_, x)| x.key.1.int())
                    .collect();
                let pk = match reuse {
                    Some(i) if !trashed.is_empty() => {
                        *trashed.iter().nth(i % trashed.len()).expect("in range")
                    }
                    _ => pk % KEYS[t],
                };
                Op::Insert {
                    t,
                    pk,
                    pid: self.parent_ref(pid),
                }
            }
            Gen::Update { t, key, pid } => {
                let (t, pk) = self.key(t, key);
                Op::Update {
                    t,
                    pk,
                    pid: pid.map(|r| self.parent_ref(r)),
                }
            }
            Gen::Delete { t, key } => {
                let (t, pk) = self.key(t, key);
                Op::Delete { t, pk }
            }
            Gen::Restore { d } => Op::Restore { d: self.pick(d)? },
            Gen::RestoreRow { d, m } => Op::RestoreRow {
                d: self.pick(d)?,
                m,
            },
            Gen::Purge { d } => Op::Purge { d: self.pick(d)? },
            Gen::Erase { t, key } => {
                let (t, pk) = self.key(t, key);
                Op::Erase { t, pk }
            }
            // expanded before it runs
            Gen::Relive { .. } => return None,
        })
    }
}

fn gen_op() -> impl Strategy<Value = Gen> {
    let t = 0..3usize;
    let key = prop_oneof![
        6 => any::<usize>().prop_map(Key::Live),
        2 => any::<usize>().prop_map(Key::Trashed),
        2 => any::<usize>().prop_map(Key::Shared),
        1 => (0..4i64).prop_map(Key::Raw),
    ];
    let pid = prop_oneof![
        6 => any::<usize>().prop_map(Ref::Live),
        1 => Just(Ref::Raw(None)),
        1 => (0..4i64).prop_map(|p| Ref::Raw(Some(p))),
    ];
    let pick = prop_oneof![
        4 => any::<usize>().prop_map(Pick::InTrash),
        2 => any::<usize>().prop_map(Pick::Resuming),
        1 => any::<usize>().prop_map(Pick::Any),
    ];
    // parents first: a child or a note needs one
    let table = prop_oneof![3 => Just(PARENT), 2 => Just(CHILD), 2 => Just(NOTE)];
    prop_oneof![
        7 => (table, 0..4i64, pid.clone(), prop::option::weighted(0.3, any::<usize>()))
            .prop_map(|(t, pk, pid, reuse)| Gen::Insert { t, pk, pid, reuse }),
        2 => (t.clone(), key.clone(), prop::option::of(pid))
            .prop_map(|(t, key, pid)| Gen::Update { t, key, pid }),
        4 => (t.clone(), key.clone()).prop_map(|(t, key)| Gen::Delete { t, key }),
        2 => pick.clone().prop_map(|d| Gen::Restore { d }),
        1 => (pick.clone(), any::<usize>()).prop_map(|(d, m)| Gen::RestoreRow { d, m }),
        3 => pick.prop_map(|d| Gen::Purge { d }),
        2 => (t.clone(), key).prop_map(|(t, key)| Gen::Erase { t, key }),
        1 => (t, 0..4i64, any::<usize>(), 0..3u8)
            .prop_map(|(t, pk, i, end)| Gen::Relive { t, pk, i, end }),
    ]
}

fn steps(max: usize) -> impl Strategy<Value = Vec<(Gen, u64)>> {
    prop::collection::vec((gen_op(), any::<u64>()), 1..max)
}

fn got<T, E: Display>(r: Result<T, E>, what: impl Display) -> Result<T, TestCaseError> {
    r.map_err(|e| TestCaseError::fail(format!("{what}: {e}")))
}

/// What a step did.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    /// Committed: the model moved on.
    Applied,
    /// Failed as the model expected: nothing may have been written.
    Refused,
    /// A purge or an erase that committed.
    Purged,
}

/// Compares the store's answer with the model's: both failed with the model's error (the
/// store lists each conflict once), or both succeeded (the store's value and the model's).
fn judge<T: std::fmt::Debug, U: std::fmt::Debug>(
    what: &str,
    store: lazarusdb::Result<T>,
    model: Result<U, Exp>,
) -> Result<Option<(T, U)>, TestCaseError> {
    match (store, model) {
        (Ok(s), Ok(m)) => Ok(Some((s, m))),
        (Err(e), Err(x)) if x.matches(&e) => {
            if let Error::RestoreConflict { conflicts, .. } = &e {
                prop_assert_eq!(
                    reference::confs(conflicts).len(),
                    conflicts.len(),
                    "{}: a conflict listed twice: {:?}",
                    what,
                    conflicts
                );
            }
            Ok(None)
        }
        (Err(e), Err(x)) => Err(TestCaseError::fail(format!(
            "{what}: expected {x:?}, got error {e:?}"
        ))),
        (Ok(v), Err(x)) => Err(TestCaseError::fail(format!(
            "{what}: expected {x:?}, got success {v:?}"
        ))),
        (Err(e), Ok(m)) => Err(TestCaseError::fail(format!(
            "{what}: expected success ({m:?}), got {e:?}"
        ))),
    }
}

/// The first error of a write (the one the store answers).
fn first<T>(r: Result<T, Vec<Exp>>) -> Result<T, Exp> {
    r.map_err(|mut e| e.swap_remove(0))
}

fn outcome<T>(r: &Option<T>) -> Outcome {
    if r.is_some() {
        Outcome::Applied
    } else {
        Outcome::Refused
    }
}

fn step(db: &Db, w: &mut World, op: &Op) -> Result<Outcome, TestCaseError> {
    let what = format!("{op:?}");
    let what = what.as_str();
    match *op {
        Op::Insert { t, pk, pid } => {
            let pid = match t {
                PARENT => None,
                CHILD => Some(pid.unwrap_or(0)),
                _ => pid,
            };
            let v = w.fresh();
            let row = row_of(t, pk, &v, pid);
            let res = db.insert(TABLES[t], row.clone());
            let exp = first(w.m.insert_row(t, &row));
            let done = judge(what, res, exp)?;
            if let Some((stored, want)) = &done {
                prop_assert_eq!(flat(stored), flat(want), "{}", what);
            }
            Ok(outcome(&done))
        }
        Op::Update { t, pk, pid } => {
            let new_pid = match (t, pid) {
                (PARENT, _) | (_, None) => None,
                (CHILD, Some(p)) => Some(Some(p.unwrap_or(0))),
                (_, Some(p)) => Some(p),
            };
            let v = w.fresh();
            let mut changes = Row::new().with("v", v);
            if let Some(p) = new_pid {
                changes.set("pid", p.map_or(Value::Null, Value::Int));
            }
            let res = db.update(TABLES[t], pk, changes.clone());
            let exp = first(w.m.update_row(t, &Pk::Int(pk), &changes));
            let done = judge(what, res, exp)?;
            if let Some((stored, want)) = &done {
                prop_assert_eq!(flat(stored), flat(want), "{}", what);
            }
            Ok(outcome(&done))
        }
        Op::Delete { t, pk } => {
            let res = db.delete(TABLES[t], pk);
            let plan = w.m.plan_delete(t, &Pk::Int(pk));
            let Some((report, plan)) = judge(what, res, plan)? else {
                return Ok(Outcome::Refused);
            };
            prop_assert_eq!(&report.rows[0], &rref(t, pk), "{}: the root first", what);
            prop_assert_eq!(refs_of(&report.rows), model_refs(&plan.tombs), "{}", what);
            prop_assert_eq!(report.rows.len(), plan.tombs.len());
            prop_assert_eq!(
                refs_of(&report.unlinked),
                model_refs(plan.unlinks.iter().map(|(k, _)| k)),
                "{}",
                what
            );
            prop_assert_eq!(report.unlinked.len(), plan.unlinks.len());
            got(w.m.delete(t, &Pk::Int(pk), report.deletion), "model")?;
            Ok(Outcome::Applied)
        }
        Op::Restore { d } => {
            let id = w.m.dels[d].id;
            let res = db.restore(id, RestorePolicy::Refuse);
            let exp = w.m.restore(id, false);
            let Some((plan, out)) = judge(what, res, exp)? else {
                return Ok(Outcome::Refused);
            };
            prop_assert_eq!(refs_of(&plan.rows), model_refs(&out.rows));
            prop_assert_eq!(plan.rows.len(), out.rows.len());
            prop_assert_eq!(refs_of(&plan.relinks), model_refs(&out.relinks));
            prop_assert_eq!(plan.relinks.len(), out.relinks.len());
            prop_assert!(plan.conflicts.is_empty() && plan.skipped.is_empty());
            Ok(Outcome::Applied)
        }
        Op::RestoreRow { d, m: mi } => {
            let del = &w.m.dels[d];
            let tombs: Vec<&reference::Member> = del.members.iter().filter(|x| x.tomb()).collect();
            let k = tombs[mi % tombs.len()].key.clone();
            let id = del.id;
            let res = db.restore_row(id, TABLES[k.0], k.1.value());
            let exp = w.m.restore_row(id, &k);
            let Some((plan, _)) = judge(what, res, exp)? else {
                return Ok(Outcome::Refused);
            };
            prop_assert_eq!(
                plan.rows,
                vec![rref(k.0, k.1.int().unwrap_or(i64::MIN))],
                "{}",
                what
            );
            prop_assert!(plan.relinks.is_empty());
            Ok(Outcome::Applied)
        }
        Op::Purge { d } => {
            let id = w.m.dels[d].id;
            let res = db.purge(id, &Audit::by("model").because("purge"));
            let exp = w.m.purge(id);
            purged(what, res, exp)
        }
        Op::Erase { t, pk } => {
            let res = db.erase(TABLES[t], pk, &Audit::by("model").because("erase"));
            let id = res.as_ref().map_or(Uuid::nil(), |r| r.deletion);
            let exp = w.m.erase(t, &Pk::Int(pk), id);
            purged(what, res, exp)
        }
    }
}

/// Checks a purge or an erase report against the model's.
fn purged(
    what: &str,
    res: lazarusdb::Result<lazarusdb::PurgeReport>,
    exp: Result<PurgeOut, Exp>,
) -> Result<Outcome, TestCaseError> {
    let Some((report, out)) = judge(what, res, exp)? else {
        return Ok(Outcome::Refused);
    };
    prop_assert_eq!(report.deletion, out.deletion, "{}", what);
    // a key can come twice (an earlier life in another deletion)
    let mut got: Vec<(String, i64)> = report
        .rows
        .iter()
        .map(|r| (r.table.clone(), pk_of(r)))
        .collect();
    let mut want: Vec<(String, i64)> = out
        .rows
        .iter()
        .map(|(t, pk)| (TABLES[*t].to_string(), pk.int().unwrap_or(i64::MIN)))
        .collect();
    got.sort();
    want.sort();
    prop_assert_eq!(got, want, "{}: rows", what);
    prop_assert_eq!(report.images, out.images, "{}: images rewritten", what);
    // (in no order the design fixes)
    let mut got_also = report.also.clone();
    let mut also = out.also.clone();
    got_also.sort();
    also.sort();
    prop_assert_eq!(got_also, also, "{}: other deletions purged", what);
    Ok(Outcome::Purged)
}

/// The store's ids of `TABLES`, from the event that created them.
fn table_ids(db: &Db) -> Result<[u32; 3], TestCaseError> {
    let mut ids = [None; 3];
    for e in got(db.events(1, None), "events")? {
        if let EventBody::CreateTables(defs) = e.body {
            for d in defs {
                if let Some(t) = TABLES.iter().position(|n| *n == d.name) {
                    ids[t] = Some(d.id);
                }
            }
        }
    }
    match ids {
        [Some(p), Some(c), Some(n)] => Ok([p, c, n]),
        _ => Err(TestCaseError::fail(format!("table ids: {ids:?}"))),
    }
}

/// The row (table index, key) an event names, when it is one of `TABLES`.
fn event_row(w: &World, table: u32, pk: &Value) -> Option<(usize, i64)> {
    let t = w.ids.iter().position(|&id| id == table)?;
    Some((t, pk.as_int()?))
}

/// The events after `before` that carry an image are exactly the images the model recorded
/// for the operation's transaction (compared by row: one life per row in a transaction);
/// records their LSNs.
fn check_images_written(db: &Db, w: &mut World, before: u64) -> Result<(), TestCaseError> {
    let mut wrote = Vec::new();
    let mut tx = 0;
    for e in got(db.events(before + 1, None), "events")? {
        tx = e.tx;
        match &e.body {
            EventBody::Insert { table, pk, .. }
            | EventBody::Update { table, pk, .. }
            | EventBody::Unlink { table, pk, .. }
            | EventBody::Restore { table, pk, .. }
            | EventBody::ImagePurged { table, pk, .. } => {
                let Some(row) = event_row(w, *table, pk) else {
                    return Err(TestCaseError::fail(format!(
                        "an image of a row of no table of the model at lsn {}: {:?}",
                        e.lsn, e.body
                    )));
                };
                wrote.push(row);
                w.image_lsns.entry((tx, row)).or_default().push(e.lsn);
            }
            _ => {}
        }
    }
    let mut want: Vec<(usize, i64)> =
        w.m.lives
            .iter()
            .flat_map(|l| {
                l.images
                    .iter()
                    .filter(|i| i.tx == tx)
                    .map(|_| (l.key.0, l.key.1.int().unwrap_or(i64::MIN)))
            })
            .collect();
    wrote.sort();
    want.sort();
    prop_assert_eq!(wrote, want, "the rows of the images written");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Checks.

fn rows_of<'a>(rows: impl IntoIterator<Item = (&'a Pk, &'a Row)>) -> Vec<Vec<(String, Value)>> {
    rows.into_iter().map(|(_, r)| flat(r)).collect()
}

fn flat_all(rows: &[Row]) -> Vec<Vec<(String, Value)>> {
    rows.iter().map(flat).collect()
}

/// Every live read path and the trash against the model.
fn check_live(db: &Db, w: &World) -> Result<(), TestCaseError> {
    let m = &w.m;
    for t in 0..3 {
        let name = TABLES[t];
        let want = rows_of(m.t[t].live());
        let scan = got(db.scan(name, Scan::all()), "scan")?;
        prop_assert_eq!(flat_all(&scan), want.clone(), "scan {}", name);
        prop_assert_eq!(
            got(db.count(name), "count")?,
            want.len() as u64,
            "count {}",
            name
        );
        for pk in 0..=KEYS[t] {
            let row = got(db.get(name, pk), "get")?;
            let k = (t, Pk::Int(pk));
            prop_assert_eq!(
                row.as_ref().map(flat),
                m.live_row(&k).map(|l| flat(&l.row)),
                "get {} {}",
                name,
                pk
            );
            let found = got(db.find_deletion(name, pk), "find_deletion")?;
            prop_assert_eq!(found, m.find_deletion(&k), "find_deletion {} {}", name, pk);
        }
        for (_, r) in m.t[t].live() {
            let v = r.get("v").cloned().unwrap_or_default();
            let hits = got(db.lookup(name, &["v"], std::slice::from_ref(&v)), "lookup")?;
            prop_assert_eq!(flat_all(&hits), vec![flat(r)], "lookup {} {}", name, v);
        }
        // values of purged lives (the last few) are found nowhere
        let purged: Vec<String> = (0..m.lives.len())
            .filter(|&l| m.lives[l].key.0 == t && m.lives[l].purged)
            .flat_map(|l| w.markers(l))
            .collect();
        for v in purged.iter().rev().take(4) {
            let hits = got(db.lookup(name, &["v"], &[v.clone().into()]), "lookup")?;
            prop_assert!(
                hits.is_empty(),
                "lookup {} of purged {}: {:?}",
                name,
                v,
                hits
            );
        }
    }
    for p in 0..KEYS[PARENT] {
        for t in [CHILD, NOTE] {
            let kids = got(db.children("parent", p, TABLES[t]), "children")?;
            let want: Vec<_> = m.t[t]
                .live()
                .filter(|(_, r)| r.get("pid") == Some(&Value::Int(p)))
                .map(|(_, r)| flat(r))
                .collect();
            prop_assert_eq!(
                flat_all(&kids),
                want,
                "children of parent {} in {}",
                p,
                TABLES[t]
            );
        }
    }
    check_trash(db, m)
}

/// A member of a deletion as `deletion_rows` lists it: table, key, tombstoned, last image.
type Listed = (String, Value, bool, Vec<(String, Value)>);

fn listed_of(rows: &[lazarusdb::DeletedRow]) -> Vec<Listed> {
    let mut out: Vec<Listed> = rows
        .iter()
        .map(|r| {
            (
                r.row_ref.table.clone(),
                r.row_ref.pk.clone(),
                r.kind == MemberKind::Tombstoned,
                flat(&r.row),
            )
        })
        .collect();
    out.sort_by_key(|r| format!("{r:?}"));
    out
}

fn model_listed(rows: &[DelRow]) -> Vec<Listed> {
    let mut out: Vec<Listed> = rows
        .iter()
        .map(|x| {
            (
                TABLES[x.key.0].to_string(),
                x.key.1.value(),
                x.tomb,
                flat(&x.row),
            )
        })
        .collect();
    out.sort_by_key(|r| format!("{r:?}"));
    out
}

fn check_trash(db: &Db, m: &Model) -> Result<(), TestCaseError> {
    let listed: Vec<(Uuid, u64, u64)> = got(db.trash(&TrashQuery::all()), "trash")?
        .iter()
        .map(|d| (d.id, d.remaining, d.restored))
        .collect();
    let want: Vec<(Uuid, u64, u64)> = m
        .trash()
        .iter()
        .map(|d| (d.id, d.remaining, d.restored))
        .collect();
    prop_assert_eq!(listed, want, "trash listing");
    for (di, d) in m.dels.iter().enumerate() {
        if d.purged {
            let r = db.deletion(d.id);
            prop_assert!(
                matches!(r, Err(Error::Purged(_))),
                "deletion of purged: {:?}",
                r
            );
            let r = db.deletion_rows(d.id);
            prop_assert!(
                matches!(r, Err(Error::Purged(_))),
                "rows of purged: {:?}",
                r
            );
            continue;
        }
        let rec = got(db.deletion(d.id), "deletion")?;
        prop_assert_eq!(
            (rec.remaining, rec.restored),
            (d.remaining(), d.restored()),
            "deletion {}",
            di
        );
        if d.remaining() == 0 {
            continue;
        }
        let rows = listed_of(&got(db.deletion_rows(d.id), "deletion_rows")?);
        let want = model_listed(&got(m.deletion_rows(d.id), "model")?);
        prop_assert_eq!(rows, want, "deletion_rows of deletion {}", di);
    }
    Ok(())
}

fn check_verify(db: &Db) -> Result<(), TestCaseError> {
    let report = got(db.verify(), "verify")?;
    prop_assert!(report.is_ok(), "verify: {:?}", report.differences);
    Ok(())
}

/// No event holds a value of a purged life; every value of another life is still in the log.
fn check_events(db: &Db, w: &World) -> Result<(), TestCaseError> {
    let m = &w.m;
    let events = got(db.events(1, None), "events")?;
    prop_assert_eq!(events.len() as u64, m.lsn);
    // exactly the images of the purged lives are purged
    let purged: BTreeSet<u64> = events
        .iter()
        .filter(|e| matches!(e.body, EventBody::ImagePurged { .. }))
        .map(|e| e.lsn)
        .collect();
    let want: BTreeSet<u64> = m
        .lives
        .iter()
        .filter(|l| l.purged)
        .flat_map(|l| {
            let row = (l.key.0, l.key.1.int().unwrap_or(i64::MIN));
            l.images
                .iter()
                .flat_map(move |i| w.image_lsns.get(&(i.tx, row)).into_iter().flatten())
                .copied()
        })
        .collect();
    prop_assert_eq!(purged, want, "LSNs of the purged images");
    let text: String = events.iter().map(|e| format!("{e:?}\n")).collect();
    for (l, life) in m.lives.iter().enumerate() {
        for v in w.markers(l) {
            if life.purged {
                prop_assert!(
                    !text.contains(v.as_str()),
                    "purged value {} of {} {} is still in the log",
                    v,
                    TABLES[life.key.0],
                    life.key.1
                );
            } else {
                prop_assert!(
                    text.contains(v.as_str()),
                    "value {} of {} {} (not purged) is gone from the log",
                    v,
                    TABLES[life.key.0],
                    life.key.1
                );
            }
        }
    }
    Ok(())
}

/// `as_of` a recorded point against the model's state then, purged lives left out.
fn check_as_of(db: &Db, m: &Model, s: &Snap) -> Result<(), TestCaseError> {
    let past = got(db.as_of(s.lsn), "as_of")?;
    let at = s.lsn;
    for t in 0..3 {
        let name = TABLES[t];
        let want = rows_of(m.rows_then(s, t));
        let scan = flat_all(&got(past.scan(name, Scan::all()), "as-of scan")?);
        prop_assert_eq!(scan, want.clone(), "as of {}: scan {}", at, name);
        let n = got(past.count(name), "as-of count")?;
        prop_assert_eq!(n, want.len() as u64, "as of {}: count {}", at, name);
        for pk in 0..=KEYS[t] {
            let res = past.get(name, pk);
            match m.get_then(s, &(t, Pk::Int(pk))) {
                Err(x) => prop_assert!(
                    res.as_ref().is_err_and(|e| x.matches(e)),
                    "as of {}: get {} {}: {:?}, the model expects {:?}",
                    at,
                    name,
                    pk,
                    res,
                    x
                ),
                Ok(want) => {
                    let row = got(res, format!("as of {at}: get {name} {pk}"))?;
                    prop_assert_eq!(
                        row.as_ref().map(flat),
                        want.as_ref().map(flat),
                        "as of {}: get {} {}",
                        at,
                        name,
                        pk
                    );
                }
            }
        }
        for l in s.tables[t].rows.values() {
            let v = l.row.get("v").cloned().unwrap_or_default();
            let hits = got(
                past.lookup(name, &["v"], std::slice::from_ref(&v)),
                "as-of lookup",
            )?;
            let want = if m.lives[l.life].purged {
                vec![]
            } else {
                vec![flat(&l.row)]
            };
            prop_assert_eq!(flat_all(&hits), want, "as of {}: lookup {} {}", at, name, v);
        }
    }
    for t in 0..3 {
        for pk in (0..=KEYS[t]).filter(|&k| !s.tables[t].rows.contains_key(&Pk::Int(k))) {
            let found = got(past.find_deletion(TABLES[t], pk), "as-of find_deletion")?;
            prop_assert_eq!(
                found,
                m.find_deletion_then(s, &(t, Pk::Int(pk))),
                "as of {}: find_deletion {} {}",
                at,
                TABLES[t],
                pk
            );
        }
    }
    check_trash_as_of(&past, m, s)
}

/// The trash as of a recorded point: the deletions of then that are not purged now, with
/// their members then.
fn check_trash_as_of(past: &AsOf, m: &Model, s: &Snap) -> Result<(), TestCaseError> {
    let at = s.lsn;
    let listed: Vec<(Uuid, u64, u64)> = got(past.trash(&TrashQuery::all()), "as-of trash")?
        .iter()
        .map(|d| (d.id, d.remaining, d.restored))
        .collect();
    let want: Vec<(Uuid, u64, u64)> = m
        .trash_then(s)
        .iter()
        .map(|d| (d.id, d.remaining, d.restored))
        .collect();
    prop_assert_eq!(listed, want, "as of {}: trash", at);
    for (di, d) in m.dels.iter().enumerate() {
        let rec = past.deletion(d.id);
        let rows = past.deletion_rows(d.id);
        match m.deletion_then(s, d.id) {
            Err(x) => {
                let known = |r: Option<&Error>| r.is_some_and(|e| x.matches(e));
                prop_assert!(
                    known(rec.as_ref().err()),
                    "as of {}: deletion {}: {:?}, the model expects {:?}",
                    at,
                    di,
                    rec,
                    x
                );
                prop_assert!(
                    known(rows.as_ref().err()),
                    "as of {}: rows of deletion {}: {:?}, the model expects {:?}",
                    at,
                    di,
                    rows,
                    x
                );
                continue;
            }
            Ok((remaining, restored)) => {
                let rec = got(rec, format!("as of {at}: deletion {di}"))?;
                prop_assert_eq!(
                    (rec.remaining, rec.restored),
                    (remaining, restored),
                    "as of {}: deletion {}",
                    at,
                    di
                );
            }
        }
        match m.deletion_rows_then(s, d.id) {
            Err(x) => prop_assert!(
                rows.as_ref().is_err_and(|e| x.matches(e)),
                "as of {}: rows of deletion {}: {:?}, the model expects {:?}",
                at,
                di,
                rows,
                x
            ),
            Ok(want) => {
                let rows = listed_of(&got(rows, format!("as of {at}: rows of {di}"))?);
                prop_assert_eq!(
                    rows,
                    model_listed(&want),
                    "as of {}: deletion_rows of {}",
                    at,
                    di
                );
            }
        }
    }
    Ok(())
}

fn check_all_points(db: &Db, w: &World) -> Result<(), TestCaseError> {
    for s in w.snaps() {
        check_as_of(db, &w.m, s)?;
    }
    Ok(())
}

/// Every check: live reads, trash, log, every recorded point, `verify`.
fn check_everything(db: &Db, w: &World, what: &str) -> Result<(), TestCaseError> {
    let ctx = |e: TestCaseError| TestCaseError::fail(format!("{what}: {e}"));
    prop_assert_eq!(db.last_lsn(), w.m.lsn, "{}", what);
    check_live(db, w).map_err(ctx)?;
    check_events(db, w).map_err(ctx)?;
    check_all_points(db, w).map_err(ctx)?;
    check_verify(db).map_err(ctx)
}

// ---------------------------------------------------------------------------------------------
// Runner.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Eng {
    Memory,
    Fjall,
}

fn open(eng: Eng, path: &std::path::Path) -> lazarusdb::Result<Db> {
    match eng {
        Eng::Memory => Db::memory(),
        Eng::Fjall => Db::open_with(path, Options::default()),
    }
}

fn run_case(eng: Eng, keep: bool, steps: &[(Gen, u64)]) -> Result<(), TestCaseError> {
    let dir = got(tempfile::tempdir(), "tempdir")?;
    let path = dir.path().join("store");
    let mut db = got(open(eng, &path), "open")?;
    create_schema(&db, keep)?;
    let m = model_schema(keep);
    prop_assert_eq!(db.last_lsn(), m.lsn, "the schema");
    let mut w = World {
        first_snap: m.snaps.len() - 1,
        m,
        marker: 0,
        ids: table_ids(&db)?,
        image_lsns: BTreeMap::new(),
    };
    let steps: Vec<(Gen, u64)> = steps
        .iter()
        .flat_map(|(g, seed)| g.expand().into_iter().map(|g| (g, *seed)))
        .collect();
    for (i, (g, seed)) in steps.iter().enumerate() {
        let Some(op) = w.resolve(g) else {
            continue;
        };
        let before = db.last_lsn();
        let ctx = |e: TestCaseError| TestCaseError::fail(format!("step {i} ({op:?}): {e}"));
        let outcome = step(&db, &mut w, &op).map_err(ctx)?;
        prop_assert_eq!(db.last_lsn(), w.m.lsn, "step {} ({:?})", i, op);
        if outcome == Outcome::Refused {
            prop_assert_eq!(db.last_lsn(), before, "step {} ({:?}) wrote", i, op);
        } else {
            prop_assert!(
                db.last_lsn() > before,
                "step {} ({:?}) wrote nothing",
                i,
                op
            );
            check_images_written(&db, &mut w, before).map_err(ctx)?;
        }
        check_live(&db, &w).map_err(ctx)?;
        check_events(&db, &w).map_err(ctx)?;
        if outcome == Outcome::Purged {
            check_all_points(&db, &w).map_err(ctx)?;
        } else {
            let snaps = w.snaps();
            let s = &snaps[(*seed % snaps.len() as u64) as usize];
            check_as_of(&db, &w.m, s).map_err(ctx)?;
        }
        if eng == Eng::Memory || outcome == Outcome::Purged {
            check_verify(&db).map_err(ctx)?;
        }
    }
    check_everything(&db, &w, "at the end")?;

    // Purged deletions stay purged, whatever is asked of them; nothing is written.
    let lsn = db.last_lsn();
    for d in w.m.dels.iter().filter(|d| d.purged) {
        let r = db.restore(d.id, RestorePolicy::SkipConflicts);
        prop_assert!(matches!(r, Err(Error::Purged(_))), "restore: {:?}", r);
        let x = &d.members[0];
        let r = db.restore_row(d.id, TABLES[x.key.0], x.key.1.value());
        prop_assert!(matches!(r, Err(Error::Purged(_))), "restore_row: {:?}", r);
        let r = db.purge(d.id, &Audit::default());
        prop_assert!(matches!(r, Err(Error::Purged(_))), "purge again: {:?}", r);
        let r = db.restore_plan(d.id, RestorePolicy::Refuse);
        prop_assert!(matches!(r, Err(Error::Purged(_))), "restore_plan: {:?}", r);
    }
    prop_assert_eq!(db.last_lsn(), lsn);

    if eng == Eng::Fjall {
        got(db.close(), "close")?;
        db = got(open(eng, &path), "reopen")?;
        check_everything(&db, &w, "after reopening")?;
    }
    prop_assert_eq!(got(db.rebuild(), "rebuild")?, w.m.lsn);
    check_everything(&db, &w, "after rebuild")?;
    got(db.close(), "close")?;
    Ok(())
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(128))]
    #[test]
    fn memory_store_purges_as_the_model(keep in any::<bool>(), steps in steps(40)) {
        run_case(Eng::Memory, keep, &steps)?;
    }
}

proptest! {
    #![proptest_config(config(10))]
    #[test]
    fn fjall_store_purges_as_the_model(keep in any::<bool>(), steps in steps(30)) {
        run_case(Eng::Fjall, keep, &steps)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Library bugs this property found, as small regressions (all fixed since), and examples of
// the semantics chosen with the fixes (a purged set-null member leaves its deletion; erasing a
// key purges every deletion holding a life of it; a purge follows a life across the lives of
// its key that a restore interleaved).

fn small_store(keep: bool) -> Db {
    let db = Db::memory().unwrap();
    create_schema(&db, keep).unwrap();
    db
}

fn log_text(db: &Db) -> String {
    db.events(1, None)
        .unwrap()
        .iter()
        .map(|e| format!("{e:?}\n"))
        .collect()
}

/// The default key policy lets a new row take the key of a trashed one. Purging the old
/// deletion purges the old row's images only and leaves the live row alone. (It used to fail
/// with `Corrupted("purge of a row that is live")`.)
#[test]
fn purging_a_deletion_whose_key_is_live_again() {
    let db = small_store(false);
    db.insert("parent", Row::new().with("id", 1).with("v", "old secret"))
        .unwrap();
    let old = db.delete("parent", 1).unwrap().deletion;
    db.insert("parent", Row::new().with("id", 1).with("v", "new"))
        .unwrap();
    let report = db.purge(old, &Audit::default()).unwrap();
    assert_eq!(report.rows, vec![rref(PARENT, 1)]);
    assert_eq!(report.images, 1);
    assert!(report.also.is_empty());
    assert_eq!(
        db.get("parent", 1).unwrap().unwrap().get("v"),
        Some(&Value::from("new"))
    );
    let text = log_text(&db);
    assert!(
        !text.contains("old secret") && text.contains("new"),
        "{text}"
    );
    let report = db.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.differences);
}

/// A key trashed twice (the default key policy): purging the older deletion rewrites the
/// images of the older row only, and the later deletion keeps its row. (It used to rewrite the
/// later row's images too and drop it from the later deletion, so restoring that deletion
/// restored nothing.)
#[test]
fn purging_a_deletion_spares_a_later_life_of_the_key() {
    let db = small_store(false);
    db.insert("parent", Row::new().with("id", 1).with("v", "first"))
        .unwrap();
    let first = db.delete("parent", 1).unwrap().deletion;
    db.insert("parent", Row::new().with("id", 1).with("v", "second"))
        .unwrap();
    let second = db.delete("parent", 1).unwrap().deletion;
    let report = db.purge(first, &Audit::default()).unwrap();
    assert_eq!(report.images, 1, "only the first row's insert");
    assert_eq!(db.find_deletion("parent", 1).unwrap(), Some(second));
    let text = log_text(&db);
    assert!(!text.contains("first") && text.contains("second"), "{text}");
    let plan = db.restore(second, RestorePolicy::Refuse).unwrap();
    assert_eq!(plan.rows, vec![rref(PARENT, 1)]);
    assert_eq!(
        db.get("parent", 1).unwrap().unwrap().get("v"),
        Some(&Value::from("second"))
    );
}

/// Erasing a row that an earlier deletion set to null purges its images, among them the ones
/// that deletion keeps for its set-null member: that set-null update can never be reverted, so
/// the member leaves the deletion. The deletion lists and restores its tombstoned rows only,
/// with no conflict for the erased row. (Listing or restoring it used to fail with
/// `Corrupted("the event at lsn N holds no row image")`.)
#[test]
fn erasing_a_set_null_member_takes_it_out_of_its_deletion() {
    for keep in [false, true] {
        let db = small_store(keep);
        db.insert("parent", Row::new().with("id", 1).with("v", "p"))
            .unwrap();
        db.insert(
            "note",
            Row::new()
                .with("id", 2)
                .with("pid", 1)
                .with("v", "secret note"),
        )
        .unwrap();
        let del = db.delete("parent", 1).unwrap();
        assert_eq!(del.unlinked, vec![rref(NOTE, 2)]);
        assert_eq!(db.deletion(del.deletion).unwrap().remaining, 2);
        let report = db.erase("note", 2, &Audit::default()).unwrap();
        assert_eq!(report.rows, vec![rref(NOTE, 2)]);
        assert_eq!(
            report.images, 2,
            "keep {keep}: the note's insert and set-null update"
        );
        assert!(report.also.is_empty());
        let rec = db.deletion(del.deletion).unwrap();
        assert_eq!((rec.remaining, rec.restored), (1, 0), "keep {keep}");
        let rows = db.deletion_rows(del.deletion).unwrap();
        assert_eq!(rows.len(), 1, "keep {keep}: {rows:?}");
        assert_eq!(rows[0].row_ref, rref(PARENT, 1));
        assert_eq!(rows[0].kind, MemberKind::Tombstoned);
        let plan = db.restore(del.deletion, RestorePolicy::Refuse).unwrap();
        assert_eq!(plan.rows, vec![rref(PARENT, 1)], "keep {keep}");
        assert!(plan.relinks.is_empty() && plan.conflicts.is_empty());
        assert_eq!(
            db.get("parent", 1).unwrap().unwrap().get("v"),
            Some(&Value::from("p"))
        );
        assert_eq!(db.get("note", 2).unwrap(), None);
        let text = log_text(&db);
        assert!(!text.contains("secret note"), "keep {keep}: {text}");
        assert!(db.trash(&TrashQuery::all()).unwrap().is_empty());
        let report = db.verify().unwrap();
        assert!(report.is_ok(), "{:?}", report.differences);
    }
}

/// The trash as of a point finds a deletion's members in its tombstone and set-null events and
/// their restores in the version index, purged or not. A deletion restored before the point is
/// not in the trash as of then, even once the restored row is erased; a deletion whose set-null
/// member is erased later counts that member as of a point before the erase. (Both used to be
/// miscounted.)
#[test]
fn the_trash_as_of_a_point_still_knows_restores_purged_since() {
    let db = small_store(false);
    db.insert("parent", Row::new().with("id", 1).with("v", "p"))
        .unwrap();
    let del = db.delete("parent", 1).unwrap().deletion;
    db.restore(del, RestorePolicy::Refuse).unwrap();
    let restored = db.last_lsn();
    db.erase("parent", 1, &Audit::default()).unwrap();
    let listed = db
        .as_of(restored)
        .unwrap()
        .trash(&TrashQuery::all())
        .unwrap();
    assert!(listed.is_empty(), "restored by then: {listed:?}");

    let db = small_store(false);
    db.insert("parent", Row::new().with("id", 1).with("v", "p"))
        .unwrap();
    db.insert(
        "note",
        Row::new().with("id", 2).with("pid", 1).with("v", "n"),
    )
    .unwrap();
    let del = db.delete("parent", 1).unwrap().deletion;
    let deleted = db.last_lsn();
    db.erase("note", 2, &Audit::default()).unwrap();
    let listed = db
        .as_of(deleted)
        .unwrap()
        .trash(&TrashQuery::all())
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, del);
    assert_eq!(listed[0].remaining, 2, "the parent and the set-null note");
}

/// With the default key policy a key can be in the trash of several deletions, one life in
/// each. Erasing it purges its own deletion and every other deletion still holding a life of
/// it (in `also`), with all of their rows.
#[test]
fn erasing_a_key_purges_every_deletion_holding_a_life_of_it() {
    let db = small_store(false);
    db.insert("parent", Row::new().with("id", 1).with("v", "first"))
        .unwrap();
    db.insert(
        "child",
        Row::new()
            .with("id", 0)
            .with("pid", 1)
            .with("v", "first child"),
    )
    .unwrap();
    let first = db.delete("parent", 1).unwrap().deletion;
    db.insert("parent", Row::new().with("id", 1).with("v", "second"))
        .unwrap();
    let second = db.delete("parent", 1).unwrap().deletion;
    db.insert("parent", Row::new().with("id", 1).with("v", "third"))
        .unwrap();
    db.insert("parent", Row::new().with("id", 2).with("v", "kept"))
        .unwrap();
    let report = db.erase("parent", 1, &Audit::default()).unwrap();
    let mut also = report.also.clone();
    also.sort();
    assert_eq!(also, vec![first, second], "ids are time-ordered");
    let mut rows = report.rows.clone();
    rows.sort_by_key(|r| (r.table.clone(), pk_of(r)));
    assert_eq!(
        rows,
        vec![
            rref(CHILD, 0),
            rref(PARENT, 1),
            rref(PARENT, 1),
            rref(PARENT, 1)
        ]
    );
    assert_eq!(report.images, 4, "one insert per life");
    let text = log_text(&db);
    for v in ["first", "second", "third"] {
        assert!(!text.contains(v), "{v}: {text}");
    }
    assert!(text.contains("kept"));
    for id in [first, second, report.deletion] {
        assert!(matches!(db.deletion(id), Err(Error::Purged(_))));
    }
    assert!(db.trash(&TrashQuery::all()).unwrap().is_empty());
    assert_eq!(db.find_deletion("parent", 1).unwrap(), None);
    let report = db.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.differences);
}

/// With the default key policy a key can be in the trash of two deletions (one life each);
/// `find_deletion` names the newer. Purging the newer deletion hands the key to the older one:
/// its row stays findable, `AlreadyDeleted`, and erasable. (It used to be lost: `None`, and
/// `NotFound` for `delete` and `erase`.)
#[test]
fn a_key_stays_findable_while_a_life_of_it_is_in_the_trash() {
    let db = small_store(false);
    db.insert("parent", Row::new().with("id", 1).with("v", "first"))
        .unwrap();
    let first = db.delete("parent", 1).unwrap().deletion;
    db.insert("parent", Row::new().with("id", 1).with("v", "second"))
        .unwrap();
    let second = db.delete("parent", 1).unwrap().deletion;
    db.purge(second, &Audit::default()).unwrap();
    let listed: Vec<Uuid> = db
        .trash(&TrashQuery::all())
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(listed, vec![first]);
    assert_eq!(db.find_deletion("parent", 1).unwrap(), Some(first));
    match db.delete("parent", 1) {
        Err(Error::AlreadyDeleted { deletion, .. }) => assert_eq!(deletion, first),
        other => panic!("{other:?}"),
    }
    let report = db.erase("parent", 1, &Audit::default()).unwrap();
    assert_eq!(report.deletion, first);
    assert!(!log_text(&db).contains("first"));
}

/// With the default key policy a life can resume (by a restore) after a later life of the same
/// key began: here the first row is restored after the second went to the trash. Purging the
/// first row purges its own images only (its insert and its restore), skipping the second
/// row's, which stays in its deletion's trash, listed and restorable; erasing the key purges
/// both. (The store used to walk the key's version index back from the tombstone to the first
/// insert it met, the second row's: it purged that image instead of the first row's insert,
/// so erasing left the first row's value in the log and purging the first row alone broke the
/// other deletion with `Corrupted("the event at lsn 4 holds no row image")`.)
#[test]
fn purging_a_life_resumed_after_a_later_one_began() {
    let setup = || {
        let db = small_store(false);
        db.insert("parent", Row::new().with("id", 1).with("v", "one"))
            .unwrap();
        let first = db.delete("parent", 1).unwrap().deletion;
        db.insert("parent", Row::new().with("id", 1).with("v", "two"))
            .unwrap();
        let second = db.delete("parent", 1).unwrap().deletion;
        db.restore(first, RestorePolicy::Refuse).unwrap();
        (db, second)
    };

    // erase: every life of the key goes
    let (db, second) = setup();
    let report = db.erase("parent", 1, &Audit::default()).unwrap();
    assert_eq!(report.also, vec![second]);
    assert_eq!(report.images, 3, "one: insert and restore; two: insert");
    let text = log_text(&db);
    assert!(
        !text.contains("\"one\"") && !text.contains("\"two\""),
        "{text}"
    );

    // purge of the first row only: the second stays in its deletion's trash, intact
    let (db, second) = setup();
    let third = db.delete("parent", 1).unwrap().deletion;
    let report = db.purge(third, &Audit::default()).unwrap();
    assert_eq!(report.images, 2, "one: insert and restore");
    let text = log_text(&db);
    assert!(
        !text.contains("\"one\"") && text.contains("\"two\""),
        "{text}"
    );
    let rows = db.deletion_rows(second).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].row.get("v"), Some(&Value::from("two")));
    let plan = db.restore(second, RestorePolicy::Refuse).unwrap();
    assert_eq!(plan.rows, vec![rref(PARENT, 1)]);
}

/// Purging an earlier life of a key while a later life is live (the default key policy) puts
/// the Purge entry in the key's version index after the live row's insert. It is no version of
/// the row: as of a point after the purge, `get`, `scan`, `count` and `lookup` see the live
/// row, `diff` across the purge sees no change, and restoring the row to that point changes
/// nothing. (As-of reads used to take the Purge entry for the row's state and miss the live row
/// until it was written again; `diff` reported it `Deleted` and `restore_to` tombstoned it.)
#[test]
fn as_of_reads_see_a_live_row_whose_earlier_life_was_purged() {
    let db = small_store(false);
    db.insert("parent", Row::new().with("id", 1).with("v", "old"))
        .unwrap();
    let old = db.delete("parent", 1).unwrap().deletion;
    db.insert("parent", Row::new().with("id", 1).with("v", "new"))
        .unwrap();
    let before = db.last_lsn();
    db.purge(old, &Audit::default()).unwrap();
    let at = db.last_lsn();
    let live = db.get("parent", 1).unwrap().expect("live");
    assert_eq!(live.get("v"), Some(&Value::from("new")));
    let past = db.as_of(at).unwrap();
    assert_eq!(past.get("parent", 1).unwrap().as_ref(), Some(&live));
    assert_eq!(
        past.scan("parent", Scan::all()).unwrap(),
        vec![live.clone()]
    );
    assert_eq!(past.count("parent").unwrap(), 1);
    assert_eq!(
        past.lookup("parent", &["v"], &["new".into()]).unwrap(),
        vec![live]
    );
    assert_eq!(db.diff(before, at, None).unwrap(), vec![]);
    let scope = lazarusdb::Scope::Row {
        table: "parent".into(),
        pk: 1.into(),
    };
    let plan = db.restore_to_plan(&scope, at).unwrap();
    assert!(plan.tombstoned.is_empty(), "{plan:?}");
}

/// When a purge removes a set-null member from its deletion (see
/// `erasing_a_set_null_member_takes_it_out_of_its_deletion`), the trash as of a point after
/// that leaves the member out, as the live trash did then: `remaining` 1 and `deletion_rows`
/// listing the parent alone. (It used to keep counting the member, knowing only restores take
/// members out, and `deletion_rows` failed with `Error::Purged` for the erased row.) As of a
/// point before the erase the member still counts (see
/// `the_trash_as_of_a_point_still_knows_restores_purged_since`).
#[test]
fn the_trash_as_of_a_point_leaves_out_set_null_members_gone_by_then() {
    let db = small_store(false);
    db.insert("parent", Row::new().with("id", 1).with("v", "p"))
        .unwrap();
    db.insert(
        "note",
        Row::new()
            .with("id", 2)
            .with("pid", 1)
            .with("v", "secret note"),
    )
    .unwrap();
    let del = db.delete("parent", 1).unwrap().deletion;
    db.erase("note", 2, &Audit::default()).unwrap();
    assert_eq!(db.deletion(del).unwrap().remaining, 1);
    let past = db.as_of(db.last_lsn()).unwrap();
    let listed = past.trash(&TrashQuery::all()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, del);
    assert_eq!(listed[0].remaining, 1, "the parent only");
    assert_eq!(past.deletion(del).unwrap().remaining, 1);
    let rows = past.deletion_rows(del).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].row_ref, rref(PARENT, 1));
}

// ---------------------------------------------------------------------------------------------
// Two more library bugs the property found (both fixed since: as-of `find_deletion` skips
// deletions purged by then, and the as-of trash counts a member that left as neither in the
// trash nor restored).

/// When the deletion that `find_deletion` names for a key is purged, the key is handed to the
/// deletion holding an earlier life of it, or to none (see
/// `a_key_stays_findable_while_a_life_of_it_is_in_the_trash`). As of a point after the purge,
/// `find_deletion` should answer what the live store answered then; it names the purged
/// deletion instead, which as of then is `Error::Purged` and in no trash. (`AsOf::find_deletion`
/// takes the deletion of the key's newest version if it is a tombstone, and `version_at` skips
/// Purge entries since a15540a, so it finds the tombstone of the purged life. Before a15540a
/// the newest version was the Purge entry: the first and last cases answered `None`, rightly,
/// and the second `None` too, wrongly.)
#[test]
fn as_of_find_deletion_names_no_deletion_purged_by_then() {
    // the only deletion holding the key is purged: none
    let db = small_store(false);
    db.insert("parent", Row::new().with("id", 1).with("v", "a"))
        .unwrap();
    let only = db.delete("parent", 1).unwrap().deletion;
    let deleted = db.last_lsn();
    db.purge(only, &Audit::default()).unwrap();
    let past = db.as_of(deleted).unwrap();
    assert_eq!(past.find_deletion("parent", 1).unwrap(), Some(only));
    assert_eq!(db.find_deletion("parent", 1).unwrap(), None);
    let past = db.as_of(db.last_lsn()).unwrap();
    assert_eq!(past.find_deletion("parent", 1).unwrap(), None);

    // the newer of two is purged: the older
    let db = small_store(false);
    db.insert("parent", Row::new().with("id", 1).with("v", "a"))
        .unwrap();
    let first = db.delete("parent", 1).unwrap().deletion;
    db.insert("parent", Row::new().with("id", 1).with("v", "b"))
        .unwrap();
    let second = db.delete("parent", 1).unwrap().deletion;
    db.purge(second, &Audit::default()).unwrap();
    assert_eq!(db.find_deletion("parent", 1).unwrap(), Some(first));
    let past = db.as_of(db.last_lsn()).unwrap();
    assert_eq!(past.find_deletion("parent", 1).unwrap(), Some(first));

    // a live row erased: deleted and purged in one transaction
    let db = small_store(true);
    db.insert("parent", Row::new().with("id", 1).with("v", "a"))
        .unwrap();
    db.erase("parent", 1, &Audit::default()).unwrap();
    assert_eq!(db.find_deletion("parent", 1).unwrap(), None);
    let past = db.as_of(db.last_lsn()).unwrap();
    assert_eq!(past.find_deletion("parent", 1).unwrap(), None);
}

/// A set-null member that left its deletion because its life was purged is neither in the
/// trash nor restored: the live trash says `remaining` 1 and `restored` 0. As of a point after
/// the erase the trash agrees on `remaining` but says `restored` 1: it counts every member that
/// is not remaining as restored (`AsOf::deletion_at`: members minus remaining).
#[test]
fn the_trash_as_of_a_point_counts_no_set_null_member_that_left_as_restored() {
    let db = small_store(false);
    db.insert("parent", Row::new().with("id", 1).with("v", "p"))
        .unwrap();
    db.insert(
        "note",
        Row::new().with("id", 2).with("pid", 1).with("v", "n"),
    )
    .unwrap();
    let del = db.delete("parent", 1).unwrap().deletion;
    db.erase("note", 2, &Audit::default()).unwrap();
    let live = db.deletion(del).unwrap();
    assert_eq!((live.remaining, live.restored), (1, 0));
    let past = db.as_of(db.last_lsn()).unwrap();
    let then = past.deletion(del).unwrap();
    assert_eq!((then.remaining, then.restored), (1, 0));
    let listed = past.trash(&TrashQuery::all()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].remaining, listed[0].restored), (1, 0));
}
