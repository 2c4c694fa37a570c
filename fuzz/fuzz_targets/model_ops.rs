//! Model-driven target: `arbitrary` decodes a sequence of operations (four bytes each) on a
//! small fixed schema, applied to a `Db::memory_with` a manual clock and to a plain in-memory
//! model of the live rows, the trash, the retention policies and the clock.
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
//! Model of purge (`docs/design.md` §11): a row's *life* runs from an insert to the tombstone
//! that puts it in the trash (a restore continues it; `parent`'s trash frees keys, so a key
//! may have a live life and lives in several deletions' trash at once). Purging a deletion
//! removes its rows still in the trash — those lives, no other: their keys and unique values
//! are free again, the key sequence does not move back; the deletion leaves the trash;
//! restoring it (whole or one row) or purging it again is `Error::Purged`; purging a fully
//! restored deletion is refused. An erase of a live row deletes it with its cascade and purges
//! that deletion; an erase of a row that is not live purges the deletion the store's `dead`
//! view names for the key; either way every other deletion whose trash holds a life of the key
//! is purged too (`PurgeReport::also`); a key neither live nor in any trash is
//! `Error::NotFound`. The model keeps the `dead` view as the store does (set by a tombstone,
//! cleared by a restore of the key; the purge of the deletion it names hands it to the
//! deletion holding the key's latest earlier life, if any). Retention purges
//! every deletion still holding rows whose commit time is at least the shortest `deletions`
//! window of the tables it tombstoned rows of (a table's policy, else the store's) in the past;
//! history pruning changes nothing the model sees (the trash keeps the images it needs), so
//! only the views (`verify`) and later restores check it.
//!
//! Checked after every operation: the store succeeds exactly when the model says it should
//! (`Error::Purged`, `Error::AlreadyRestored` and `Error::NotFound` where the model says so);
//! a returned row equals the model's; a delete tombstones exactly the rows of the model's
//! cascade; a restore brings back exactly the model's rows; a purge, an erase or a retention
//! run purges exactly the model's deletions and rows; every table's live rows (a full scan)
//! equal the model's; the trash lists exactly the model's deletions that still hold rows, with
//! their remaining counts and commit times. At the end: `verify` finds no difference.
//!
#![no_main]

mod common;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use arbitrary::{Arbitrary, Unstructured};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use lazarusdb::{
    Audit, Clock, ColumnDef, ColumnType, Db, Error, OnDelete, Options, Readable, RestorePolicy,
    Retention, Row, Scan, TableBuilder, Timestamp, TrashQuery, Value,
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
    /// The tables it tombstoned rows of (for its retention window).
    tables: BTreeSet<usize>,
    /// Its commit time (microseconds).
    at: i64,
    /// Purged: gone from the trash for good.
    purged: bool,
}

/// Why the model expects the store to refuse.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Exp {
    /// Some error (constraint, conflict, unknown deletion, invalid input).
    Refused,
    /// `Error::Purged`.
    Purged,
    /// `Error::AlreadyRestored`.
    AlreadyRestored,
    /// `Error::NotFound`.
    NotFound,
}

/// The manual clock's start: 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000_000_000;

#[derive(Debug, Default)]
struct Model {
    live: [BTreeMap<i64, MRow>; 2],
    seq: [i64; 2],
    deletions: Vec<Deletion>,
    /// The store's `dead` view: (table, key) → the deletion that last tombstoned it; cleared
    /// by a restore or a purge of the key.
    dead: BTreeMap<(usize, i64), usize>,
    /// Retention policies: the store's, then `parent`'s and `child`'s (never empty).
    policies: [Option<Retention>; 3],
    /// The clock (microseconds).
    now: i64,
}

impl Model {
    fn new() -> Model {
        Model {
            seq: [1, 1],
            now: T0,
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
        let d = self.deletions.len();
        for &(t, k) in &visited {
            let r = self.live[t].remove(&k).expect("visited rows are live");
            remaining.insert((t, k), r);
            self.dead.insert((t, k), d);
        }
        self.deletions.push(Deletion {
            id: Uuid::nil(), // filled in with the store's id
            remaining,
            tables: visited.iter().map(|&(t, _)| t).collect(),
            at: self.now,
            purged: false,
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

    /// Why a restore or purge of deletion `d` is refused before looking at its rows.
    fn gone(&self, d: usize) -> Option<Exp> {
        if self.deletions[d].purged {
            Some(Exp::Purged)
        } else if self.deletions[d].remaining.is_empty() {
            Some(Exp::AlreadyRestored)
        } else {
            None
        }
    }

    /// Restores the whole remaining deletion `d`; an error when the store must refuse.
    fn restore(&mut self, d: usize, skip: bool) -> Result<BTreeSet<(usize, i64)>, Exp> {
        if let Some(e) = self.gone(d) {
            return Err(e);
        }
        let members: BTreeSet<(usize, i64)> = self.deletions[d].remaining.keys().copied().collect();
        let mut skipped = self.conflicting(d, &members);
        if !skipped.is_empty() && !skip {
            return Err(Exp::Refused);
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
            self.dead.remove(&(t, k));
        }
        Ok(back)
    }

    /// Restores one row of deletion `d`; an error when the store must refuse.
    fn restore_row(&mut self, d: usize, t: usize, k: i64) -> Result<(), Exp> {
        if let Some(e) = self.gone(d) {
            return Err(e);
        }
        if !self.deletions[d].remaining.contains_key(&(t, k)) {
            return Err(Exp::Refused);
        }
        if !self.conflicting(d, &BTreeSet::from([(t, k)])).is_empty() {
            return Err(Exp::Refused);
        }
        let r = self.deletions[d].remaining.remove(&(t, k)).expect("member");
        self.live[t].insert(k, r);
        self.seq[t] = self.seq[t].max(k.saturating_add(1));
        self.dead.remove(&(t, k));
        Ok(())
    }

    /// Purges deletion `d`: its rows still in the trash (those lives of their keys, no other)
    /// vanish; returns them. The `dead` entry of a key goes only when it names `d`.
    fn purge(&mut self, d: usize) -> Result<Vec<(usize, i64)>, Exp> {
        match self.gone(d) {
            Some(Exp::AlreadyRestored) => return Err(Exp::Refused), // nothing to purge
            Some(e) => return Err(e),
            None => {}
        }
        let rows: Vec<(usize, i64)> = self.deletions[d].remaining.keys().copied().collect();
        for key in &rows {
            if self.dead.get(key) == Some(&d) {
                // The key goes back to the deletion holding its latest earlier life, if any.
                let other = (0..self.deletions.len())
                    .rev()
                    .find(|&o| o != d && self.deletions[o].remaining.contains_key(key));
                match other {
                    Some(o) => {
                        self.dead.insert(*key, o);
                    }
                    None => {
                        self.dead.remove(key);
                    }
                }
            }
        }
        self.deletions[d].remaining.clear();
        self.deletions[d].purged = true;
        Ok(rows)
    }

    /// The deletions whose trash holds a life of (t, k), oldest first.
    fn holders(&self, t: usize, k: i64) -> Vec<usize> {
        (0..self.deletions.len())
            .filter(|&d| self.deletions[d].remaining.contains_key(&(t, k)))
            .collect()
    }

    /// An erase of (t, k): a live row is deleted (with its cascade) and that deletion purged;
    /// then (or for a row that is not live) every deletion whose trash holds a life of the key
    /// is purged. Returns the deletion purged first (`None` with the key not live: whichever
    /// the store starts from), every deletion purged, and the rows purged; `NotFound` when the
    /// key is neither live nor in any trash.
    #[allow(clippy::type_complexity)]
    fn erase(
        &mut self,
        t: usize,
        k: i64,
    ) -> Result<(Option<usize>, BTreeSet<usize>, Vec<(usize, i64)>), Exp> {
        let mut first = None;
        let mut purged = BTreeSet::new();
        let mut rows = Vec::new();
        if self.live[t].contains_key(&k) {
            self.delete(t, k).expect("a live row deletes");
            let d = self.deletions.len() - 1;
            rows.extend(self.purge(d).expect("a new deletion purges"));
            first = Some(d);
            purged.insert(d);
        } else if let Some(&d) = self.dead.get(&(t, k)) {
            first = Some(d);
        }
        let holders = self.holders(t, k);
        if first.is_none() && holders.is_empty() {
            return Err(Exp::NotFound);
        }
        for d in holders {
            rows.extend(self.purge(d).expect("a deletion holding a row purges"));
            purged.insert(d);
        }
        rows.sort();
        Ok((first, purged, rows))
    }

    fn set_retention(&mut self, table: Option<usize>, policy: Retention) -> Result<(), Exp> {
        if [policy.deletions, policy.history].contains(&Some(0)) {
            return Err(Exp::Refused);
        }
        let slot = table.map_or(0, |t| t + 1);
        self.policies[slot] = (!policy.is_empty()).then_some(policy);
        Ok(())
    }

    /// The policy in force for a table: its own, else the store's.
    fn policy(&self, t: usize) -> Option<Retention> {
        self.policies[t + 1].or(self.policies[0])
    }

    /// The deletions `apply_retention` purges now.
    fn due(&self) -> Vec<usize> {
        (0..self.deletions.len())
            .filter(|&d| {
                let del = &self.deletions[d];
                if del.purged || del.remaining.is_empty() {
                    return false;
                }
                let w = del
                    .tables
                    .iter()
                    .filter_map(|&t| self.policy(t).and_then(|p| p.deletions))
                    .min();
                w.is_some_and(|w| del.at <= self.now - (w as i64) * 1_000_000)
            })
            .collect()
    }
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

fn row_refs(rows: &[lazarusdb::RowRef]) -> BTreeSet<(usize, i64)> {
    row_list(rows).into_iter().collect()
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

fn agree<T: std::fmt::Debug, U>(op: &Op, store: &lazarusdb::Result<T>, model: &Option<U>) {
    match (store, model) {
        (Ok(_), Some(_)) | (Err(_), None) => {}
        (Ok(v), None) => panic!("{op:?}: the store accepted what the model refuses: {v:?}"),
        (Err(e), Some(_)) => panic!("{op:?}: the store refused what the model accepts: {e}"),
    }
}

/// [`agree`] for model answers that say why the store must refuse.
fn agree_exp<T: std::fmt::Debug, U>(op: &Op, store: &lazarusdb::Result<T>, model: &Result<U, Exp>) {
    match (store, model) {
        (Ok(_), Ok(_)) => {}
        (Ok(v), Err(e)) => {
            panic!("{op:?}: the store accepted what the model refuses ({e:?}): {v:?}")
        }
        (Err(e), Ok(_)) => panic!("{op:?}: the store refused what the model accepts: {e}"),
        (Err(e), Err(x)) => {
            let fits = match x {
                Exp::Refused => true,
                Exp::Purged => matches!(e, Error::Purged(_)),
                Exp::AlreadyRestored => matches!(e, Error::AlreadyRestored(_)),
                Exp::NotFound => matches!(e, Error::NotFound { .. }),
            };
            assert!(fits, "{op:?}: the model expects {x:?}, the store said: {e}");
        }
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
    // The trash: the deletions still holding rows, with how many and when.
    let trash: BTreeMap<Uuid, (u64, i64)> = db
        .trash(&TrashQuery::all())
        .expect("trash")
        .iter()
        .map(|d| (d.id, (d.remaining, d.at.0)))
        .collect();
    let want: BTreeMap<Uuid, (u64, i64)> = m
        .deletions
        .iter()
        .filter(|d| !d.remaining.is_empty())
        .map(|d| (d.id, (d.remaining.len() as u64, d.at)))
        .collect();
    assert_eq!(
        trash, want,
        "after {op:?}: the trash differs from the model's"
    );
}

fn deletion_index(m: &Model, which: u8) -> Option<usize> {
    let n = m.deletions.len();
    (usize::from(which) % (n + 1) < n).then(|| usize::from(which) % (n + 1))
}

fn run(db: &Db, hand: &AtomicI64, m: &mut Model, op: &Op) {
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
                    agree_exp(op, &got, &want);
                    if let (Ok(plan), Ok(rows)) = (&got, &want) {
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
                    agree_exp(op, &got, &want);
                }
            }
        }
        Op::Purge { which } => match deletion_index(m, which) {
            None => {
                let unknown = Uuid::from_u128(u128::from(which) + 1);
                let got = db.purge(unknown, &Audit::default());
                assert!(
                    matches!(got, Err(Error::UnknownDeletion(_))),
                    "{op:?}: unknown deletion: {got:?}"
                );
            }
            Some(d) => {
                let got = db.purge(m.deletions[d].id, &Audit::by("fuzz"));
                let want = m.purge(d);
                agree_exp(op, &got, &want);
                if let (Ok(report), Ok(rows)) = (&got, &want) {
                    assert_eq!(report.deletion, m.deletions[d].id, "{op:?}");
                    assert!(report.also.is_empty(), "{op:?}: {report:?}");
                    assert_eq!(row_list(&report.rows), *rows, "{op:?}: purged rows differ");
                }
            }
        },
        Op::Erase { child, id } => {
            let t = usize::from(child);
            let k = small(id);
            let got = db.erase(TABLES[t], k, &Audit::by("fuzz").because("erase"));
            let want = m.erase(t, k);
            agree_exp(op, &got, &want);
            if let (Ok(report), Ok((first, purged, rows))) = (&got, &want) {
                let new = first.filter(|&d| m.deletions[d].id.is_nil());
                if let Some(d) = new {
                    m.deletions[d].id = report.deletion; // the deletion the erase made
                } else if let Some(d) = first {
                    assert_eq!(report.deletion, m.deletions[*d].id, "{op:?}: first purged");
                }
                let ids: BTreeSet<Uuid> = std::iter::once(report.deletion)
                    .chain(report.also.iter().copied())
                    .collect();
                let want_ids: BTreeSet<Uuid> = purged.iter().map(|&d| m.deletions[d].id).collect();
                assert_eq!(ids, want_ids, "{op:?}: erased deletions differ: {report:?}");
                assert_eq!(
                    ids.len(),
                    1 + report.also.len(),
                    "{op:?}: a deletion purged twice: {report:?}"
                );
                assert_eq!(row_list(&report.rows), *rows, "{op:?}: erased rows differ");
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
            agree_exp(op, &got, &want);
            for (t, name) in TABLES.iter().enumerate() {
                assert_eq!(
                    db.retention(Some(name)).expect("retention"),
                    m.policy(t),
                    "{op:?}: the policy of {name} differs"
                );
            }
            assert_eq!(
                db.retention(None).expect("retention"),
                m.policies[0],
                "{op:?}"
            );
        }
        Op::Retention { advance, apply } => {
            m.now += i64::from(advance) * 1_000_000;
            hand.store(m.now, Ordering::SeqCst);
            if apply {
                let due = m.due();
                let report = db
                    .apply_retention(&Audit::by("retention"))
                    .unwrap_or_else(|e| panic!("{op:?}: apply_retention failed: {e}"));
                let mut want = BTreeMap::new();
                for d in due {
                    let rows = m.purge(d).expect("a due deletion purges");
                    want.insert(m.deletions[d].id, rows);
                }
                let got: BTreeMap<Uuid, Vec<(usize, i64)>> = report
                    .purged
                    .iter()
                    .map(|p| (p.deletion, row_list(&p.rows)))
                    .collect();
                assert_eq!(
                    got, want,
                    "{op:?}: retention purged other deletions or rows"
                );
                for (table, _, _) in &report.pruned {
                    let t = TABLES.iter().position(|n| n == table).expect("known table");
                    assert!(
                        m.policy(t).is_some_and(|p| p.history.is_some()),
                        "{op:?}: {table} pruned without a history window"
                    );
                }
            }
        }
    }
    check_live(db, m, op);
}

fuzz_target!(|ops: Ops| {
    let (db, hand) = store();
    let mut m = Model::new();
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
