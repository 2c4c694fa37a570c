//! Model-driven target: `arbitrary` decodes a sequence of operations (four bytes each) on a
//! small fixed schema, applied to a `Db::memory()` and to a plain in-memory model of the live
//! rows and the trash.
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
//! depend on them), restore of one row of a deletion, and operations on unknown deletions.
//!
//! Checked after every operation: the store succeeds exactly when the model says it should;
//! a returned row equals the model's; a delete tombstones exactly the rows of the model's
//! cascade; a restore brings back exactly the model's rows; every table's live rows (a full
//! scan) equal the model's. At the end: `verify` finds no difference, and the trash lists
//! exactly the model's deletions that still hold rows.
#![no_main]

mod common;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use arbitrary::{Arbitrary, Unstructured};
use lazarusdb::{
    ColumnDef, ColumnType, Db, OnDelete, Read, RestorePolicy, Row, Scan, TableBuilder, TrashQuery,
    Value,
};
use libfuzzer_sys::fuzz_target;
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
        match o % 7 {
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
            _ => Op::RestoreRow {
                which: a,
                child: b & 1 == 1,
                id: c,
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

/// A row of either table: `a` is `name`/`code` (the unique text), `b` is `up`/`parent_id`
/// (the foreign key), `n` only exists in `child`.
#[derive(Debug, Clone, PartialEq)]
struct MRow {
    a: Option<String>,
    b: Option<i64>,
    n: Option<i64>,
}

impl MRow {
    fn to_row(&self, table: usize, id: i64) -> Row {
        let text = |s: &Option<String>| s.clone().map_or(Value::Null, Value::Text);
        let int = |i: Option<i64>| i.map_or(Value::Null, Value::Int);
        if table == PARENT {
            Row::new()
                .with("id", id)
                .with("name", text(&self.a))
                .with("up", int(self.b))
        } else {
            Row::new()
                .with("id", id)
                .with("parent_id", int(self.b))
                .with("code", text(&self.a))
                .with("n", int(self.n))
        }
    }
}

#[derive(Debug)]
struct Deletion {
    id: Uuid,
    /// Members still in the trash: (table, key) → last live image.
    remaining: BTreeMap<(usize, i64), MRow>,
}

#[derive(Debug, Default)]
struct Model {
    live: [BTreeMap<i64, MRow>; 2],
    seq: [i64; 2],
    deletions: Vec<Deletion>,
}

impl Model {
    fn new() -> Model {
        Model {
            seq: [1, 1],
            ..Model::default()
        }
    }

    fn keeps_keys(table: usize) -> bool {
        table == CHILD
    }

    fn trashed(&self, table: usize) -> impl Iterator<Item = (&i64, &MRow)> {
        self.deletions.iter().flat_map(move |d| {
            d.remaining
                .iter()
                .filter(move |((t, _), _)| *t == table)
                .map(|((_, k), r)| (k, r))
        })
    }

    /// Whether `value` of the unique column is free for row `id` of `table`.
    fn unique_free(&self, table: usize, id: i64, value: &Option<String>) -> bool {
        let Some(v) = value else { return true };
        let live_clash = self.live[table]
            .iter()
            .any(|(k, r)| *k != id && r.a.as_ref() == Some(v));
        let reserved = Model::keeps_keys(table)
            && self
                .trashed(table)
                .any(|(k, r)| *k != id && r.a.as_ref() == Some(v));
        !live_clash && !reserved
    }

    /// Whether the foreign key of row `id` of `table` may hold `b` (null is always fine; a
    /// parent may reference itself).
    fn parent_ok(&self, table: usize, id: i64, b: Option<i64>) -> bool {
        match b {
            None => table == PARENT, // child.parent_id is not nullable
            Some(p) => (table == PARENT && p == id) || self.live[PARENT].contains_key(&p),
        }
    }

    fn insert(&mut self, table: usize, key: Option<i64>, row: MRow) -> Option<i64> {
        let id = key.unwrap_or(self.seq[table]);
        if id == i64::MAX {
            return None;
        }
        if self.live[table].contains_key(&id) {
            return None;
        }
        if Model::keeps_keys(table) && self.trashed(table).any(|(k, _)| *k == id) {
            return None;
        }
        if !self.unique_free(table, id, &row.a) || !self.parent_ok(table, id, row.b) {
            return None;
        }
        self.live[table].insert(id, row);
        self.seq[table] = self.seq[table].max(id + 1);
        Some(id)
    }

    fn update(
        &mut self,
        table: usize,
        id: i64,
        a: Option<Option<String>>,
        b: Option<Option<i64>>,
        n: Option<Option<i64>>,
    ) -> Option<MRow> {
        let old = self.live[table].get(&id)?.clone();
        let mut new = old.clone();
        if let Some(a) = a {
            new.a = a;
        }
        if let Some(b) = b {
            new.b = b;
        }
        if let Some(n) = n {
            new.n = n;
        }
        if table == CHILD && new.b.is_none() {
            return None; // null in a non-null column
        }
        if new.a != old.a && !self.unique_free(table, id, &new.a) {
            return None;
        }
        if new.b != old.b && !self.parent_ok(table, id, new.b) {
            return None;
        }
        self.live[table].insert(id, new.clone());
        Some(new)
    }

    /// The rows a delete of (table, id) tombstones, or `None` when the row is not live.
    fn delete(&mut self, table: usize, id: i64) -> Option<BTreeSet<(usize, i64)>> {
        if !self.live[table].contains_key(&id) {
            return None;
        }
        let mut visited = BTreeSet::from([(table, id)]);
        let mut queue = VecDeque::from([(table, id)]);
        while let Some((t, k)) = queue.pop_front() {
            if t != PARENT {
                continue; // nothing references child rows
            }
            for ct in [PARENT, CHILD] {
                for (ck, r) in &self.live[ct] {
                    if r.b == Some(k) && visited.insert((ct, *ck)) {
                        queue.push_back((ct, *ck));
                    }
                }
            }
        }
        let mut remaining = BTreeMap::new();
        for &(t, k) in &visited {
            let r = self.live[t].remove(&k).expect("visited rows are live");
            remaining.insert((t, k), r);
        }
        self.deletions.push(Deletion {
            id: Uuid::nil(), // filled in with the store's id
            remaining,
        });
        Some(visited)
    }

    /// Conflicts of restoring `members` of deletion `d` (all of them are coming back).
    fn conflicting(&self, d: usize, members: &BTreeSet<(usize, i64)>) -> BTreeSet<(usize, i64)> {
        let del = &self.deletions[d];
        let mut out = BTreeSet::new();
        for &(t, k) in members {
            let r = &del.remaining[&(t, k)];
            let pk_taken = self.live[t].contains_key(&k);
            let unique_taken =
                r.a.as_ref()
                    .is_some_and(|v| self.live[t].values().any(|x| x.a.as_ref() == Some(v)));
            let parent_missing = match r.b {
                None => false,
                Some(p) if t == PARENT && p == k => false,
                Some(p) => !members.contains(&(PARENT, p)) && !self.live[PARENT].contains_key(&p),
            };
            if pk_taken || unique_taken || parent_missing {
                out.insert((t, k));
            }
        }
        out
    }

    /// Restores the whole remaining deletion `d`; `None` when the store must refuse.
    fn restore(&mut self, d: usize, skip: bool) -> Option<BTreeSet<(usize, i64)>> {
        let members: BTreeSet<(usize, i64)> = self.deletions[d].remaining.keys().copied().collect();
        if members.is_empty() {
            return None; // already restored
        }
        let mut skipped = self.conflicting(d, &members);
        if !skipped.is_empty() && !skip {
            return None;
        }
        // Leave out, transitively, rows whose parent (coming back in this restore) is left out.
        loop {
            let mut changed = false;
            for &(t, k) in &members {
                if skipped.contains(&(t, k)) {
                    continue;
                }
                let r = &self.deletions[d].remaining[&(t, k)];
                if let Some(p) = r.b {
                    let own = t == PARENT && p == k;
                    if !own && members.contains(&(PARENT, p)) && skipped.contains(&(PARENT, p)) {
                        skipped.insert((t, k));
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let back: BTreeSet<(usize, i64)> = members.difference(&skipped).copied().collect();
        for &(t, k) in &back {
            let r = self.deletions[d].remaining.remove(&(t, k)).expect("member");
            self.live[t].insert(k, r);
            self.seq[t] = self.seq[t].max(k.saturating_add(1));
        }
        Some(back)
    }

    /// Restores one row of deletion `d`; `None` when the store must refuse.
    fn restore_row(&mut self, d: usize, t: usize, k: i64) -> Option<()> {
        if self.deletions[d].remaining.is_empty()
            || !self.deletions[d].remaining.contains_key(&(t, k))
        {
            return None;
        }
        if !self.conflicting(d, &BTreeSet::from([(t, k)])).is_empty() {
            return None;
        }
        let r = self.deletions[d].remaining.remove(&(t, k)).expect("member");
        self.live[t].insert(k, r);
        self.seq[t] = self.seq[t].max(k.saturating_add(1));
        Some(())
    }
}

fn store() -> Db {
    let db = Db::memory().expect("memory store");
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
    db
}

fn key_value(k: Key) -> Option<i64> {
    match k {
        Key::Given(k) => Some(small(k)),
        Key::Omitted => None,
        Key::Big(max) => Some(if max { i64::MAX } else { i64::MAX - 1 }),
    }
}

fn row_refs(rows: &[lazarusdb::RowRef]) -> BTreeSet<(usize, i64)> {
    rows.iter()
        .map(|r| {
            let t = TABLES
                .iter()
                .position(|n| *n == r.table)
                .expect("known table");
            (t, r.pk.as_int().expect("int key"))
        })
        .collect()
}

fn agree<T: std::fmt::Debug, U>(op: &Op, store: &lazarusdb::Result<T>, model: &Option<U>) {
    match (store, model) {
        (Ok(_), Some(_)) | (Err(_), None) => {}
        (Ok(v), None) => panic!("{op:?}: the store accepted what the model refuses: {v:?}"),
        (Err(e), Some(_)) => panic!("{op:?}: the store refused what the model accepts: {e}"),
    }
}

fn check_live(db: &Db, m: &Model, op: &Op) {
    for (t, name) in TABLES.iter().enumerate() {
        let got = db.scan(name, Scan::all()).expect("scan");
        let want: Vec<Row> = m.live[t].iter().map(|(k, r)| r.to_row(t, *k)).collect();
        assert!(
            common::rows_eq(&got, &want),
            "after {op:?}: live rows of {name} differ\nstore: {got:?}\nmodel: {want:?}"
        );
    }
}

fn deletion_index(m: &Model, which: u8) -> Option<usize> {
    let n = m.deletions.len();
    (usize::from(which) % (n + 1) < n).then(|| usize::from(which) % (n + 1))
}

fn run(db: &Db, m: &mut Model, op: &Op) {
    let text = |o: Option<u8>, f: fn(u8) -> String| o.map_or(Value::Null, |k| Value::Text(f(k)));
    match *op {
        Op::InsertParent { id, name: nm, up } => {
            let mut row = Row::new()
                .with("name", text(nm, name))
                .with("up", up.map_or(Value::Null, |k| Value::Int(small(k))));
            if let Some(k) = key_value(id) {
                row.set("id", k);
            }
            let got = db.insert("parent", row);
            let want = m.insert(
                PARENT,
                key_value(id),
                MRow {
                    a: nm.map(name),
                    b: up.map(small),
                    n: None,
                },
            );
            agree(op, &got, &want);
            if let (Ok(r), Some(k)) = (&got, want) {
                assert!(
                    common::row_eq(r, &m.live[PARENT][&k].to_row(PARENT, k)),
                    "{op:?}: {r:?}"
                );
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
            let got = db.insert("child", row);
            let want = m.insert(
                CHILD,
                key_value(id),
                MRow {
                    a: c.map(code),
                    b: Some(small(parent)),
                    n: n.map(i64::from),
                },
            );
            agree(op, &got, &want);
            if let (Ok(r), Some(k)) = (&got, want) {
                assert!(
                    common::row_eq(r, &m.live[CHILD][&k].to_row(CHILD, k)),
                    "{op:?}: {r:?}"
                );
            }
        }
        Op::UpdateParent { id, name: nm, up } => {
            let mut changes = Row::new();
            if let Some(v) = nm {
                changes.set("name", text(v, name));
            }
            if let Some(v) = up {
                changes.set("up", v.map_or(Value::Null, |k| Value::Int(small(k))));
            }
            let got = db.update("parent", small(id), changes);
            let want = m.update(
                PARENT,
                small(id),
                nm.map(|v| v.map(name)),
                up.map(|v| v.map(small)),
                None,
            );
            agree(op, &got, &want);
            if let (Ok(r), Some(w)) = (&got, &want) {
                assert!(
                    common::row_eq(r, &w.to_row(PARENT, small(id))),
                    "{op:?}: {r:?}"
                );
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
                changes.set("parent_id", v.map_or(Value::Null, |k| Value::Int(small(k))));
            }
            if let Some(v) = c {
                changes.set("code", text(v, code));
            }
            if let Some(v) = n {
                changes.set("n", v.map_or(Value::Null, |x| Value::Int(i64::from(x))));
            }
            let got = db.update("child", small(id), changes);
            let want = m.update(
                CHILD,
                small(id),
                c.map(|v| v.map(code)),
                parent.map(|v| v.map(small)),
                n.map(|v| v.map(i64::from)),
            );
            agree(op, &got, &want);
            if let (Ok(r), Some(w)) = (&got, &want) {
                assert!(
                    common::row_eq(r, &w.to_row(CHILD, small(id))),
                    "{op:?}: {r:?}"
                );
            }
        }
        Op::Delete { child, id } => {
            let t = usize::from(child);
            let got = db.delete(TABLES[t], small(id));
            let want = m.delete(t, small(id));
            agree(op, &got, &want);
            if let (Ok(report), Some(rows)) = (&got, &want) {
                assert_eq!(
                    &row_refs(&report.rows),
                    rows,
                    "{op:?}: tombstoned rows differ"
                );
                assert!(report.unlinked.is_empty());
                m.deletions.last_mut().expect("just pushed").id = report.deletion;
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
            match deletion_index(m, which) {
                None => {
                    let unknown = Uuid::from_u128(u128::from(which) + 1);
                    assert!(
                        db.restore(unknown, policy).is_err(),
                        "{op:?}: unknown deletion"
                    );
                }
                Some(d) => {
                    let got = db.restore(m.deletions[d].id, policy);
                    let want = m.restore(d, skip_conflicts);
                    agree(op, &got, &want);
                    if let (Ok(plan), Some(rows)) = (&got, &want) {
                        assert_eq!(&row_refs(&plan.rows), rows, "{op:?}: restored rows differ");
                    }
                }
            }
        }
        Op::RestoreRow { which, child, id } => {
            let t = usize::from(child);
            match deletion_index(m, which) {
                None => {
                    let unknown = Uuid::from_u128(u128::from(which) + 1);
                    assert!(
                        db.restore_row(unknown, TABLES[t], small(id)).is_err(),
                        "{op:?}: unknown deletion"
                    );
                }
                Some(d) => {
                    let got = db.restore_row(m.deletions[d].id, TABLES[t], small(id));
                    let want = m.restore_row(d, t, small(id));
                    agree(op, &got, &want);
                }
            }
        }
    }
    check_live(db, m, op);
}

fuzz_target!(|ops: Ops| {
    let db = store();
    let mut m = Model::new();
    for op in &ops.0 {
        run(&db, &mut m, op);
    }
    let report = db.verify().expect("verify runs");
    assert!(
        report.is_ok(),
        "views differ from the log: {:?}",
        report.differences
    );
    let trash: BTreeSet<Uuid> = db
        .trash(&TrashQuery::all())
        .expect("trash")
        .iter()
        .map(|d| d.id)
        .collect();
    let want: BTreeSet<Uuid> = m
        .deletions
        .iter()
        .filter(|d| !d.remaining.is_empty())
        .map(|d| d.id)
        .collect();
    assert_eq!(trash, want, "the trash differs from the model's");
});
