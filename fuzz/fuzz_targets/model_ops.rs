//! Model-driven target: `arbitrary` decodes a sequence of operations (four bytes each) on a
//! small fixed schema, applied to a `Db::memory_with` a manual clock and to the shared reference
//! model of the store's semantics (`tests/reference/`, the one the property tests
//! `tests/model*.rs` drive: rows and lives, the trash, `find_deletion`, retention policies and
//! the clock).
//!
//! Schema:
//! - `parent`: int key `id`; nullable unique text `name`; nullable `up` referencing `parent`
//!   (on delete cascade, so a delete cascades through a self-referencing tree and cycles);
//!   default key policy (a trashed row's key and unique values are free for new rows).
//! - `child`: int key `id`; non-null `parent_id` referencing `parent` (on delete cascade);
//!   nullable unique text `code`; nullable int `n`; `trash_keeps_keys` (a trashed row keeps
//!   its key and unique values reserved).
//!
//! Operations: insert (key given, omitted — the store assigns the largest key ever used + 1 —
//! or near `i64::MAX`), partial update, delete (with its cascade, as one deletion), restore of
//! a whole deletion (refusing on any conflict, or skipping conflicting rows and the rows that
//! depend on them), restore of one row of a deletion, purge of a deletion (in the trash, partly
//! or fully restored, already purged), erase of a row (live, trashed, or neither), setting a
//! retention policy (the store's or a table's; windows of 0 to 13 s, 0 refused), and moving
//! the store's manual clock forward (0 to 15 s) then applying the retention policies; and
//! operations on unknown deletions.
//!
//! The model (`docs/semantics.md`, `docs/design.md` §9, §11) predicts each of them: success
//! with what the store returns, or the error. Among them: a row's *life* runs from an insert to
//! the tombstone that puts it in the trash (a restore continues it; `parent`'s trash frees
//! keys, so a key may have a live life and lives in several deletions' trash at once); purging
//! a deletion removes its rows still in the trash — those lives, no other —; `find_deletion`
//! names the deletion holding the key's latest life still in a trash, and after a restore or a
//! purge of that life the one holding its latest earlier life; an erase purges that deletion
//! (after deleting a live row) and every other deletion holding a life of the key
//! (`PurgeReport::also`); retention purges every deletion in the trash at least the shortest
//! `deletions` window (a table's policy, else the store's) of the tables it tombstoned rows of
//! old, and prunes the tables whose history window moved, to the horizon the model computes.
//!
//! Checked after every operation: the store succeeds exactly when the model says it should,
//! and fails with an error the model expects (the kind, and the table, columns, deletion or
//! conflicts it names); a returned row equals the model's; a delete tombstones exactly the rows
//! of the model's cascade; a restore brings back exactly the model's rows; a purge, an erase or
//! a retention run purges exactly the model's deletions and rows, and prunes exactly the
//! model's tables; `Db::retention` equals the model's policies; every table's live rows (a full
//! scan) equal the model's; the trash lists exactly the model's deletions that still hold rows,
//! with their remaining counts and commit times; `find_deletion` of every small key of both
//! tables answers the model's deletion. At the end: `verify` finds no difference.
#![no_main]

mod common;
#[path = "../../tests/reference/mod.rs"]
mod reference;

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::{Arbitrary, Unstructured};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use lazarusdb::{
    Audit, Clock, ColumnDef, ColumnType, Db, OnDelete, Options, Readable, RestorePolicy, Retention,
    Row, Scan, TableBuilder, Timestamp, TrashQuery, Value,
};
use libfuzzer_sys::fuzz_target;
use reference::{Col, Exp, Model, Pk, Table};
use uuid::Uuid;

const MAX_OPS: usize = 64;

#[derive(Debug, Clone, Copy)]
enum Key {
    /// A small key, -1..=3 (see [`small`]): collisions are likely.
    Given(u8),
    /// No key: the store assigns one.
    Omitted,
    /// `i64::MAX - 1` (then the sequence reaches `i64::MAX`) or `i64::MAX` (refused).
    Big(bool),
}

#[derive(Debug, Clone)]
enum Op {
    InsertParent {
        id: Key,
        name: Option<u8>,
        up: Option<u8>,
    },
    InsertChild {
        id: Key,
        parent: u8,
        code: Option<u8>,
        n: Option<i8>,
    },
    /// `None` leaves a column alone; `Some(None)` sets it to null.
    UpdateParent {
        id: u8,
        name: Option<Option<u8>>,
        up: Option<Option<u8>>,
    },
    UpdateChild {
        id: u8,
        parent: Option<Option<u8>>,
        code: Option<Option<u8>>,
        n: Option<Option<i8>>,
    },
    Delete {
        child: bool,
        id: u8,
    },
    Restore {
        which: u8,
        skip_conflicts: bool,
    },
    RestoreRow {
        which: u8,
        child: bool,
        id: u8,
    },
    /// Purge of a deletion picked by index among the model's deletions (or an unknown one).
    Purge {
        which: u8,
    },
    /// Erase of a row, live or in the trash (or neither).
    Erase {
        child: bool,
        id: u8,
    },
    /// Retention policy of the store (`None`) or of a table; windows in seconds.
    SetRetention {
        table: Option<usize>,
        deletions: Option<u64>,
        history: Option<u64>,
    },
    /// Moves the manual clock forward by `advance` seconds, then (if `apply`) applies the
    /// retention policies.
    Retention {
        advance: u8,
        apply: bool,
    },
}

/// A retention window: none, 0 (refused), or 1 to 13 seconds.
fn window(x: u8) -> Option<u64> {
    const W: [Option<u64>; 8] = [
        None,
        Some(0),
        Some(1),
        Some(2),
        Some(3),
        Some(5),
        Some(8),
        Some(13),
    ];
    W[usize::from(x % 8)]
}

/// A value or null: one value in six is null.
fn opt(x: u8) -> Option<u8> {
    (x % 6 != 5).then_some(x)
}

/// Leave alone / set null / set a value.
fn tri(x: u8) -> Option<Option<u8>> {
    match x % 3 {
        0 => None,
        1 => Some(None),
        _ => Some(Some(x / 3)),
    }
}

impl Op {
    /// Every operation is four bytes, `[op, a, b, c]`, so that a mutation of one byte changes
    /// one operation and leaves the others in place.
    fn decode([o, a, b, c]: [u8; 4]) -> Op {
        let key = match a % 8 {
            6 => Key::Omitted,
            7 => Key::Big(a & 0x80 != 0),
            _ => Key::Given(a >> 3),
        };
        match o % 11 {
            0 => Op::InsertParent {
                id: key,
                name: opt(b),
                up: opt(c),
            },
            1 => Op::InsertChild {
                id: key,
                parent: b,
                code: opt(c & 0x0f),
                n: (c & 0x10 != 0).then_some((c >> 5) as i8 - 4),
            },
            2 => Op::UpdateParent {
                id: a,
                name: tri(b),
                up: tri(c),
            },
            3 => Op::UpdateChild {
                id: a,
                parent: tri(b),
                code: tri(c & 0x0f),
                n: tri(c >> 4).map(|v| v.map(|x| x as i8 - 2)),
            },
            4 => Op::Delete {
                child: a & 1 == 1,
                id: b,
            },
            5 => Op::Restore {
                which: a,
                skip_conflicts: b & 1 == 1,
            },
            6 => Op::RestoreRow {
                which: a,
                child: b & 1 == 1,
                id: c,
            },
            7 => Op::Purge { which: a },
            8 => Op::Erase {
                child: a & 1 == 1,
                id: b,
            },
            9 => Op::SetRetention {
                table: match a % 3 {
                    0 => None,
                    t => Some(usize::from(t) - 1),
                },
                deletions: window(b),
                history: window(c),
            },
            _ => Op::Retention {
                advance: a % 16,
                apply: b & 1 == 0,
            },
        }
    }
}

/// The whole input as operations, four bytes each (a shorter tail is ignored).
#[derive(Debug)]
struct Ops(Vec<Op>);

impl<'a> Arbitrary<'a> for Ops {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let mut ops = Vec::new();
        while u.len() >= 4 && ops.len() < MAX_OPS {
            ops.push(Op::decode(u.arbitrary()?));
        }
        Ok(Ops(ops))
    }

    fn arbitrary_take_rest(mut u: Unstructured<'a>) -> arbitrary::Result<Self> {
        Self::arbitrary(&mut u)
    }
}

fn small(k: u8) -> i64 {
    i64::from(k % 5) - 1
}

fn name(k: u8) -> String {
    format!("n{}", k % 3)
}

fn code(k: u8) -> String {
    format!("c{}", k % 3)
}

const PARENT: usize = 0;
const CHILD: usize = 1;
const TABLES: [&str; 2] = ["parent", "child"];

/// The manual clock's start: 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000_000_000;

/// The schema of [`store`] in the model, created at `T0`.
fn model() -> Model {
    let mut m = Model::new();
    m.now = T0;
    m.create_tables(vec![Table::new("parent", "id")
        .column(Col::new("id", ColumnType::Int))
        .column(Col::new("name", ColumnType::Text).nullable())
        .column(Col::new("up", ColumnType::Int).nullable())
        .index(&["name"], true)
        .foreign_key("up", PARENT, OnDelete::Cascade)]);
    m.create_tables(vec![Table::new("child", "id")
        .column(Col::new("id", ColumnType::Int))
        .column(Col::new("parent_id", ColumnType::Int))
        .column(Col::new("code", ColumnType::Text).nullable())
        .column(Col::new("n", ColumnType::Int).nullable())
        .index(&["code"], true)
        .foreign_key("parent_id", PARENT, OnDelete::Cascade)
        .keeps_keys(true)]);
    m
}

fn store() -> (Db, Arc<AtomicI64>) {
    let (clock, hand) = Clock::manual(Timestamp(T0));
    let db = Db::memory_with(Options::default().clock(clock)).expect("memory store");
    db.create_table(
        TableBuilder::new("parent")
            .column(("id", ColumnType::Int))
            .column(ColumnDef::new("name", ColumnType::Text).nullable())
            .column(ColumnDef::new("up", ColumnType::Int).nullable())
            .primary_key("id")
            .unique(["name"])
            .foreign_key("up", "parent", OnDelete::Cascade),
    )
    .expect("create parent");
    db.create_table(
        TableBuilder::new("child")
            .column(("id", ColumnType::Int))
            .column(("parent_id", ColumnType::Int))
            .column(ColumnDef::new("code", ColumnType::Text).nullable())
            .column(ColumnDef::new("n", ColumnType::Int).nullable())
            .primary_key("id")
            .unique(["code"])
            .foreign_key("parent_id", "parent", OnDelete::Cascade)
            .trash_keeps_keys(true),
    )
    .expect("create child");
    (db, hand)
}

fn key_value(k: Key) -> Option<i64> {
    match k {
        Key::Given(k) => Some(small(k)),
        Key::Omitted => None,
        Key::Big(max) => Some(if max { i64::MAX } else { i64::MAX - 1 }),
    }
}

/// The rows, sorted, duplicates kept (an erase may purge two lives of one key).
fn row_list(rows: &[lazarusdb::RowRef]) -> Vec<(usize, i64)> {
    let mut out: Vec<(usize, i64)> = rows
        .iter()
        .map(|r| {
            let t = TABLES
                .iter()
                .position(|n| *n == r.table)
                .expect("known table");
            (t, r.pk.as_int().expect("int key"))
        })
        .collect();
    out.sort();
    out
}

/// The model's rows, sorted, duplicates kept.
fn key_list<'a>(keys: impl IntoIterator<Item = &'a reference::RowKey>) -> Vec<(usize, i64)> {
    let mut out: Vec<(usize, i64)> = keys
        .into_iter()
        .map(|(t, pk)| (*t, pk.int().expect("int key")))
        .collect();
    out.sort();
    out
}

/// The store's answer against the model's: both succeed, or the store fails with one of the
/// errors the model expects (the first one it checks; any of them is accepted).
fn agree<T: std::fmt::Debug, U: std::fmt::Debug>(
    op: &Op,
    store: &lazarusdb::Result<T>,
    model: &Result<U, Vec<Exp>>,
) {
    match (store, model) {
        (Ok(_), Ok(_)) => {}
        (Ok(v), Err(x)) => {
            panic!("{op:?}: the store accepted what the model refuses ({x:?}): {v:?}")
        }
        (Err(e), Ok(w)) => panic!("{op:?}: the store refused what the model accepts ({w:?}): {e}"),
        (Err(e), Err(xs)) => assert!(
            reference::any_matches(e, xs),
            "{op:?}: the model expects one of {xs:?}, the store said: {e} ({e:?})"
        ),
    }
}

/// [`agree`] for operations the model answers with one error.
fn agree_one<T: std::fmt::Debug, U: std::fmt::Debug>(
    op: &Op,
    store: &lazarusdb::Result<T>,
    model: &Result<U, Exp>,
) {
    match model {
        Ok(_) => agree(op, store, &Ok::<_, Vec<Exp>>(())),
        Err(x) => agree(op, store, &Err::<(), _>(vec![x.clone()])),
    }
}

fn check_live(db: &Db, m: &Model, op: &Op) {
    for (t, name) in TABLES.iter().enumerate() {
        let got = db.scan(name, Scan::all()).expect("scan");
        let want: Vec<Row> = m.t[t].live().map(|(_, r)| r.clone()).collect();
        assert!(
            common::rows_eq(&got, &want),
            "after {op:?}: live rows of {name} differ\nstore: {got:?}\nmodel: {want:?}"
        );
        // the deletion holding each key's latest life still in a trash, live key or not
        for k in (-1..=3).chain([i64::MAX - 1]) {
            let got = db.find_deletion(name, k).expect("find_deletion");
            let want = m.find_deletion(&(t, Pk::Int(k)));
            assert_eq!(got, want, "after {op:?}: find_deletion {name} {k}");
        }
    }
    // The trash: the deletions still holding rows, with how many and when.
    let trash: BTreeMap<Uuid, (u64, i64)> = db
        .trash(&TrashQuery::all())
        .expect("trash")
        .iter()
        .map(|d| (d.id, (d.remaining, d.at.0)))
        .collect();
    let want: BTreeMap<Uuid, (u64, i64)> = m
        .trash()
        .iter()
        .map(|d| {
            let at = m.dels.iter().find(|x| x.id == d.id).map_or(0, |x| x.at);
            (d.id, (d.remaining, at))
        })
        .collect();
    assert_eq!(
        trash, want,
        "after {op:?}: the trash differs from the model's"
    );
}

/// The `which`-th deletion of the model, or (one time in the number of deletions + 1) an
/// unknown id.
fn deletion_id(m: &Model, which: u8) -> Uuid {
    let n = m.dels.len();
    match usize::from(which) % (n + 1) {
        d if d < n => m.dels[d].id,
        _ => Uuid::from_u128(u128::from(which) + 1),
    }
}

fn run(db: &Db, hand: &AtomicI64, m: &mut Model, op: &Op) {
    let text = |o: Option<u8>, f: fn(u8) -> String| o.map_or(Value::Null, |k| Value::Text(f(k)));
    let int = |v: Option<i64>| v.map_or(Value::Null, Value::Int);
    match *op {
        Op::InsertParent { id, name: nm, up } => {
            let mut row = Row::new()
                .with("name", text(nm, name))
                .with("up", int(up.map(small)));
            if let Some(k) = key_value(id) {
                row.set("id", k);
            }
            let got = db.insert("parent", row.clone());
            let want = m.insert_row(PARENT, &row);
            agree(op, &got, &want);
            if let (Ok(r), Ok(w)) = (&got, &want) {
                assert!(common::row_eq(r, w), "{op:?}: {r:?}, the model {w:?}");
            }
        }
        Op::InsertChild {
            id,
            parent,
            code: c,
            n,
        } => {
            let mut row = Row::new()
                .with("parent_id", small(parent))
                .with("code", text(c, code));
            if let Some(n) = n {
                row.set("n", i64::from(n));
            }
            if let Some(k) = key_value(id) {
                row.set("id", k);
            }
            let got = db.insert("child", row.clone());
            let want = m.insert_row(CHILD, &row);
            agree(op, &got, &want);
            if let (Ok(r), Ok(w)) = (&got, &want) {
                assert!(common::row_eq(r, w), "{op:?}: {r:?}, the model {w:?}");
            }
        }
        Op::UpdateParent { id, name: nm, up } => {
            let mut changes = Row::new();
            if let Some(v) = nm {
                changes.set("name", text(v, name));
            }
            if let Some(v) = up {
                changes.set("up", int(v.map(small)));
            }
            let got = db.update("parent", small(id), changes.clone());
            let want = m.update_row(PARENT, &Pk::Int(small(id)), &changes);
            agree(op, &got, &want);
            if let (Ok(r), Ok(w)) = (&got, &want) {
                assert!(common::row_eq(r, w), "{op:?}: {r:?}, the model {w:?}");
            }
        }
        Op::UpdateChild {
            id,
            parent,
            code: c,
            n,
        } => {
            let mut changes = Row::new();
            if let Some(v) = parent {
                changes.set("parent_id", int(v.map(small)));
            }
            if let Some(v) = c {
                changes.set("code", text(v, code));
            }
            if let Some(v) = n {
                changes.set("n", int(v.map(i64::from)));
            }
            let got = db.update("child", small(id), changes.clone());
            let want = m.update_row(CHILD, &Pk::Int(small(id)), &changes);
            agree(op, &got, &want);
            if let (Ok(r), Ok(w)) = (&got, &want) {
                assert!(common::row_eq(r, w), "{op:?}: {r:?}, the model {w:?}");
            }
        }
        Op::Delete { child, id } => {
            let (t, k) = (usize::from(child), Pk::Int(small(id)));
            let got = db.delete(TABLES[t], small(id));
            let want = m.plan_delete(t, &k);
            agree_one(op, &got, &want);
            if let (Ok(report), Ok(plan)) = (&got, &want) {
                assert_eq!(
                    row_list(&report.rows),
                    key_list(&plan.tombs),
                    "{op:?}: tombstoned rows differ"
                );
                assert!(report.unlinked.is_empty() && plan.unlinks.is_empty());
                m.delete(t, &k, report.deletion).expect("a planned delete");
            }
        }
        Op::Restore {
            which,
            skip_conflicts,
        } => {
            let policy = if skip_conflicts {
                RestorePolicy::SkipConflicts
            } else {
                RestorePolicy::Refuse
            };
            let id = deletion_id(m, which);
            let got = db.restore(id, policy);
            let want = m.restore(id, skip_conflicts);
            agree_one(op, &got, &want);
            if let (Ok(plan), Ok(out)) = (&got, &want) {
                assert_eq!(
                    row_list(&plan.rows),
                    key_list(&out.rows),
                    "{op:?}: restored rows differ"
                );
                assert_eq!(
                    row_list(
                        &plan
                            .skipped
                            .iter()
                            .map(|s| s.row.clone())
                            .collect::<Vec<_>>()
                    ),
                    key_list(&out.skipped),
                    "{op:?}: skipped rows differ"
                );
            }
        }
        Op::RestoreRow { which, child, id } => {
            let t = usize::from(child);
            let del = deletion_id(m, which);
            let got = db.restore_row(del, TABLES[t], small(id));
            let want = m.restore_row(del, &(t, Pk::Int(small(id))));
            agree_one(op, &got, &want);
        }
        Op::Purge { which } => {
            let id = deletion_id(m, which);
            let got = db.purge(id, &Audit::by("fuzz"));
            let want = m.purge(id);
            agree_one(op, &got, &want);
            if let (Ok(report), Ok(out)) = (&got, &want) {
                assert_eq!(report.deletion, id, "{op:?}");
                assert!(report.also.is_empty(), "{op:?}: {report:?}");
                assert_eq!(
                    row_list(&report.rows),
                    key_list(&out.rows),
                    "{op:?}: purged rows differ"
                );
            }
        }
        Op::Erase { child, id } => {
            let (t, k) = (usize::from(child), small(id));
            let got = db.erase(TABLES[t], k, &Audit::by("fuzz").because("erase"));
            // the deletion the erase made of a live row: the store's id
            let made = got.as_ref().map_or(Uuid::nil(), |r| r.deletion);
            let want = m.erase(t, &Pk::Int(k), made);
            agree_one(op, &got, &want);
            if let (Ok(report), Ok(out)) = (&got, &want) {
                assert_eq!(
                    report.deletion, out.deletion,
                    "{op:?}: the deletion purged first"
                );
                let ids: BTreeSet<Uuid> = std::iter::once(report.deletion)
                    .chain(report.also.iter().copied())
                    .collect();
                let want_ids: BTreeSet<Uuid> = std::iter::once(out.deletion)
                    .chain(out.also.iter().copied())
                    .collect();
                assert_eq!(ids, want_ids, "{op:?}: erased deletions differ: {report:?}");
                assert_eq!(
                    ids.len(),
                    1 + report.also.len(),
                    "{op:?}: a deletion purged twice: {report:?}"
                );
                assert_eq!(
                    row_list(&report.rows),
                    key_list(&out.rows),
                    "{op:?}: erased rows differ"
                );
            }
        }
        Op::SetRetention {
            table,
            deletions,
            history,
        } => {
            let policy = Retention { deletions, history };
            let got = db.set_retention(table.map(|t| TABLES[t]), policy);
            let want = m.set_retention(table, policy);
            agree_one(op, &got, &want);
            for (t, name) in TABLES.iter().enumerate() {
                assert_eq!(
                    db.retention(Some(name)).expect("retention"),
                    m.policy(t),
                    "{op:?}: the policy of {name} differs"
                );
            }
            assert_eq!(
                db.retention(None).expect("retention"),
                m.store_retention,
                "{op:?}"
            );
        }
        Op::Retention { advance, apply } => {
            m.now += i64::from(advance) * 1_000_000;
            hand.store(m.now, Ordering::SeqCst);
            if apply {
                let report = db
                    .apply_retention(&Audit::by("retention"))
                    .unwrap_or_else(|e| panic!("{op:?}: apply_retention failed: {e}"));
                let out = m.apply_retention();
                let got: BTreeMap<Uuid, Vec<(usize, i64)>> = report
                    .purged
                    .iter()
                    .map(|p| (p.deletion, row_list(&p.rows)))
                    .collect();
                let want: BTreeMap<Uuid, Vec<(usize, i64)>> = out
                    .purged
                    .iter()
                    .map(|p| (p.deletion, key_list(&p.rows)))
                    .collect();
                assert_eq!(
                    got, want,
                    "{op:?}: retention purged other deletions or rows"
                );
                let pruned: Vec<(String, u64)> = report
                    .pruned
                    .iter()
                    .map(|(t, h, _)| (t.clone(), *h))
                    .collect();
                let want: Vec<(String, u64)> = out
                    .pruned
                    .iter()
                    .map(|(t, h)| (TABLES[*t].to_string(), *h))
                    .collect();
                assert_eq!(pruned, want, "{op:?}: retention pruned other tables");
            }
        }
    }
    assert_eq!(db.last_lsn(), m.lsn, "after {op:?}: the last LSN");
    check_live(db, m, op);
}

fuzz_target!(|ops: Ops| {
    let (db, hand) = store();
    let mut m = model();
    assert_eq!(db.last_lsn(), m.lsn, "the schema");
    for op in &ops.0 {
        run(&db, &hand, &mut m, op);
    }
    let report = db.verify().expect("verify runs");
    assert!(
        report.is_ok(),
        "views differ from the log: {:?}",
        report.differences
    );
});
