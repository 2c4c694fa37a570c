//! Restore to a point, undo and diff (`docs/semantics.md`, "Point in time"; `docs/design.md`
//! §10).

use std::collections::BTreeSet;

use lazarusdb::{DiffKind, Row};
use uuid::Uuid;

use super::{Conf, DeletePlan, Exp, Live, MKind, MState, Model, Pk, RowKey};

/// What a restore to a point covers.
#[derive(Debug, Clone, PartialEq)]
pub enum ScopeM {
    Store,
    Table(usize),
    Row(RowKey),
}

/// What a restore to a point (or an undo) does, or would do; the lists in (table, key) order.
#[derive(Debug, Clone, Default)]
pub struct RewindOut {
    pub target: u64,
    /// Rows that get their image of then back.
    pub reverted: Vec<RowKey>,
    /// Rows that come back out of the trash.
    pub restored: Vec<RowKey>,
    /// Rows not live then, tombstoned as one new deletion.
    pub tombstoned: Vec<RowKey>,
    pub conflicts: BTreeSet<Conf>,
}

enum Write {
    /// A live row gets its image of then back: an update, or a restore naming each deletion
    /// still holding a set-null update made since to its live life.
    Revert {
        key: RowKey,
        img: Row,
        unlinks: Vec<usize>,
    },
    /// A row comes back out of `holder`, the deletion holding the life it had then, and the
    /// set-null updates made since to that life are put back.
    Back {
        key: RowKey,
        img: Row,
        life: usize,
        holder: usize,
        unlinks: Vec<usize>,
    },
}

struct Plan {
    out: RewindOut,
    writes: Vec<Write>,
}

/// A row as a diff lists it.
#[derive(Debug, Clone)]
pub struct DiffRow {
    pub key: RowKey,
    pub kind: DiffKind,
    /// In today's columns.
    pub before: Option<Row>,
    pub after: Option<Row>,
    /// The columns whose values differ (by identity), in column order.
    pub changes: Vec<String>,
}

impl Model {
    /// `restore_to_plan(scope, target)`: conflicts listed, not raised; `Expired` before the
    /// history window of a table in scope, `Purged` when a row of the scope needs a purged
    /// life.
    pub fn restore_to_plan(&self, scope: &ScopeM, target: u64) -> Result<RewindOut, Exp> {
        Ok(self.plan_scope(scope, target)?.out)
    }

    /// Restores `scope` to `target`; the rows it tombstones form deletion `id` (the store's).
    pub fn restore_to(&mut self, scope: &ScopeM, target: u64, id: Uuid) -> Result<RewindOut, Exp> {
        let p = self.plan_scope(scope, target)?;
        if !p.out.conflicts.is_empty() {
            return Err(Exp::RewindConflict(p.out.conflicts));
        }
        self.auto(|m| {
            m.apply_rewind(&p, id);
            Ok(p.out)
        })
    }

    /// Undoes transaction `tx` (restores the rows it touched to the point before it); refused
    /// when it changed the schema, or (unless `force`) when a later transaction changed one of
    /// its rows. Transactions that purged are not modelled.
    pub fn undo(&mut self, tx: u64, force: bool, id: Uuid) -> Result<RewindOut, Exp> {
        let p = self.plan_undo(tx, force)?;
        if !p.out.conflicts.is_empty() {
            return Err(Exp::RewindConflict(p.out.conflicts));
        }
        self.auto(|m| {
            m.apply_rewind(&p, id);
            Ok(p.out)
        })
    }

    /// What [`Model::undo`] would do (conflicts listed, not raised).
    pub fn undo_plan(&self, tx: u64, force: bool) -> Result<RewindOut, Exp> {
        Ok(self.plan_undo(tx, force)?.out)
    }

    fn plan_undo(&self, tx: u64, force: bool) -> Result<Plan, Exp> {
        let txm = self
            .txs
            .get((tx as usize).wrapping_sub(1))
            .ok_or(Exp::Input)?;
        assert!(txm.purged.is_empty(), "the undo of a purge is not modelled");
        let target = txm.first - 1;
        if txm.rows.iter().any(|k| self.expired(k.0, target)) {
            return Err(Exp::Expired);
        }
        let mut conflicts = BTreeSet::new();
        if txm.schema {
            conflicts.insert((String::new(), "null".to_string(), "schema_change"));
        }
        if !force {
            let later = &self.txs[tx as usize..];
            for k in &txm.rows {
                if later.iter().any(|l| l.rows.contains(k)) {
                    conflicts.insert(self.conf(k, "changed_later"));
                }
            }
        }
        let mut p = self.plan_rewind(target, txm.rows.iter().cloned().collect())?;
        p.out.conflicts.extend(conflicts);
        Ok(p)
    }

    fn plan_scope(&self, scope: &ScopeM, target: u64) -> Result<Plan, Exp> {
        let tables: Vec<usize> = match scope {
            ScopeM::Store => (0..self.t.len()).collect(),
            ScopeM::Table(t) => vec![*t],
            ScopeM::Row(k) => vec![k.0],
        };
        if tables.iter().any(|t| self.expired(*t, target)) {
            return Err(Exp::Expired);
        }
        let keys: BTreeSet<RowKey> = match scope {
            ScopeM::Row(k) => BTreeSet::from([k.clone()]),
            _ => {
                let s = self.snap_at(target);
                tables
                    .iter()
                    .flat_map(|&t| {
                        let then = s.tables.get(t).map(|x| x.rows.keys());
                        then.into_iter()
                            .flatten()
                            .chain(self.t[t].rows.keys())
                            .map(move |k| (t, k.clone()))
                    })
                    .collect()
            }
        };
        self.plan_rewind(target, keys)
    }

    /// The live row `k` had at the snapshot of `target`.
    fn then_live(&self, target: u64, k: &RowKey) -> Option<&Live> {
        self.snap_at(target)
            .tables
            .get(k.0)
            .and_then(|t| t.rows.get(&k.1))
    }

    /// The deletions still holding a set-null update of `life` of `k` made after `target`.
    fn open_unlinks(&self, k: &RowKey, life: usize, target: u64) -> Vec<usize> {
        (0..self.dels.len())
            .filter(|&di| {
                let d = &self.dels[di];
                !d.purged
                    && d.in_trash().any(|x| {
                        x.key == *k
                            && x.life == life
                            && x.lsn > target
                            && matches!(x.kind, MKind::Unlink { .. })
                    })
            })
            .collect()
    }

    fn plan_rewind(&self, target: u64, keys: BTreeSet<RowKey>) -> Result<Plan, Exp> {
        for k in &keys {
            if self
                .then_live(target, k)
                .is_some_and(|l| self.lives[l.life].purged)
            {
                return Err(Exp::Purged);
            }
        }
        let then = |k: &RowKey| {
            self.then_live(target, k)
                .map(|l| self.t[k.0].extend(&l.row))
        };
        let mut out = RewindOut {
            target,
            ..RewindOut::default()
        };
        let mut writes = Vec::new();
        // unique values given back by the plan so far (the first row keeps it)
        let mut claimed: Vec<(usize, usize, Vec<lazarusdb::Value>)> = Vec::new();
        for k in &keys {
            let t = &self.t[k.0];
            let now = t.rows.get(&k.1);
            let mut conf = |kind| {
                out.conflicts.insert(self.conf(k, kind));
            };
            match (then(k), now) {
                (None, None) => {}
                (Some(a), Some(b)) if a == b.row => {}
                (None, Some(_)) => {
                    // every live row referencing it must go too (in scope, absent then)
                    for (c, tm) in self.t.iter().enumerate() {
                        for fk in tm.fks.iter().filter(|f| f.parent == k.0) {
                            for cpk in tm.children_of(fk, &k.1) {
                                let ck = (c, cpk.clone());
                                if ck == *k {
                                    continue;
                                }
                                let in_scope = keys.contains(&ck);
                                let keeps_ref = in_scope
                                    && then(&ck)
                                        .is_some_and(|r| tm.cell(&r, &fk.col) == k.1.value());
                                if !in_scope || keeps_ref {
                                    conf("referenced_outside_scope");
                                }
                            }
                        }
                    }
                    out.tombstoned.push(k.clone());
                }
                (Some(img), now) => {
                    for (ii, idx) in t.uniques() {
                        let Some(vals) = t.unique_vals(&img, &idx.cols) else {
                            continue;
                        };
                        if claimed
                            .iter()
                            .any(|c| c.0 == k.0 && c.1 == ii && c.2 == vals)
                        {
                            conf("unique_taken");
                        } else {
                            claimed.push((k.0, ii, vals.clone()));
                        }
                        for (opk, o) in t.live() {
                            if *opk == k.1 || !t.holds(o, &idx.cols, &vals) {
                                continue;
                            }
                            let ok = (k.0, opk.clone());
                            if !keys.contains(&ok) {
                                conf("unique_taken");
                                continue;
                            }
                            match then(&ok) {
                                Some(r) if t.holds(&r, &idx.cols, &vals) => conf("unique_taken"),
                                Some(_) => {}
                                // tombstoned by this plan: a trash that keeps keys keeps its
                                // value
                                None if t.keeps => conf("key_reserved"),
                                None => {}
                            }
                        }
                        if t.keeps {
                            // a value the trash keeps stays taken unless its row comes back
                            for (_, x) in self.trashed(k.0) {
                                if x.key.1 == k.1 || !t.holds(&x.last, &idx.cols, &vals) {
                                    continue;
                                }
                                if !(keys.contains(&x.key) && then(&x.key).is_some()) {
                                    conf("key_reserved");
                                }
                            }
                        }
                    }
                    for fk in &t.fks {
                        let Some(p) = Pk::of(&t.cell(&img, &fk.col)) else {
                            continue;
                        };
                        let pkey = (fk.parent, p);
                        if pkey == *k {
                            continue;
                        }
                        let live_after = if keys.contains(&pkey) {
                            then(&pkey).is_some()
                        } else {
                            self.is_live(&pkey)
                        };
                        if !live_after {
                            conf("parent_not_live");
                        }
                    }
                    match now {
                        Some(l) => {
                            out.reverted.push(k.clone());
                            writes.push(Write::Revert {
                                key: k.clone(),
                                img,
                                unlinks: self.open_unlinks(k, l.life, target),
                            });
                        }
                        None => {
                            let life = self.then_live(target, k).expect("live then").life;
                            let holder = self.holder_of_life(life).ok_or(Exp::Purged)?;
                            let unlinks = self
                                .open_unlinks(k, life, target)
                                .into_iter()
                                .filter(|d| *d != holder)
                                .collect();
                            out.restored.push(k.clone());
                            writes.push(Write::Back {
                                key: k.clone(),
                                img,
                                life,
                                holder,
                                unlinks,
                            });
                        }
                    }
                }
            }
        }
        Ok(Plan { out, writes })
    }

    /// Takes member `k` of deletion `di` out of its trash (a Restore naming it).
    fn restored_member(&mut self, di: usize, k: &RowKey) {
        if let Some(x) = self.dels[di]
            .members
            .iter_mut()
            .find(|x| x.key == *k && x.state == MState::Trash)
        {
            x.state = MState::Restored;
        }
    }

    fn apply_rewind(&mut self, p: &Plan, id: Uuid) {
        for w in &p.writes {
            match w {
                Write::Revert { key, img, unlinks } => {
                    let life = self.t[key.0].rows[&key.1].life;
                    if unlinks.is_empty() {
                        self.ev(Some(key));
                        self.image(life, img);
                    }
                    for &d in unlinks {
                        self.ev(Some(key));
                        self.image(life, img);
                        self.restored_member(d, key);
                    }
                    self.put_live(key, img.clone(), life);
                }
                Write::Back {
                    key,
                    img,
                    life,
                    holder,
                    unlinks,
                } => {
                    for &d in std::iter::once(holder).chain(unlinks) {
                        self.ev(Some(key));
                        self.image(*life, img);
                        self.restored_member(d, key);
                    }
                    self.put_live(key, img.clone(), *life);
                }
            }
        }
        if !p.out.tombstoned.is_empty() {
            let plan = DeletePlan {
                tombs: p.out.tombstoned.clone(),
                unlinks: Vec::new(),
            };
            self.apply_delete(&plan, id, p.out.tombstoned.clone());
        }
    }

    /// `diff(a, b)` between two transaction boundaries: the rows whose values differ (by
    /// identity, in today's columns), in (table, key) order. `Expired` when a table with
    /// events between them is before its history window at the earlier point, `Purged` when a
    /// row's version at one of them was purged.
    pub fn diff(&self, a: u64, b: u64) -> Result<Vec<DiffRow>, Exp> {
        let (lo, hi) = (a.min(b), a.max(b));
        let touched: BTreeSet<&RowKey> = self
            .txs
            .iter()
            .filter(|x| x.first > lo && x.last <= hi)
            .flat_map(|x| x.rows.iter().chain(&x.purged))
            .collect();
        if touched.iter().any(|k| self.expired(k.0, lo)) {
            return Err(Exp::Expired);
        }
        let state = |lsn: u64, k: &RowKey| -> Result<Option<Row>, Exp> {
            match self.then_live(lsn, k) {
                Some(l) if self.lives[l.life].purged => Err(Exp::Purged),
                Some(l) => Ok(Some(self.t[k.0].extend(&l.row))),
                None => Ok(None),
            }
        };
        let mut out = Vec::new();
        for k in touched {
            let t = &self.t[k.0];
            let (before, after) = (state(a, k)?, state(b, k)?);
            let (kind, changes) = match (&before, &after) {
                (None, None) => continue,
                (None, Some(_)) => (DiffKind::Inserted, Vec::new()),
                (Some(_), None) => (DiffKind::Deleted, Vec::new()),
                (Some(x), Some(y)) if x == y => continue,
                (Some(x), Some(y)) => (
                    DiffKind::Changed,
                    t.cols
                        .iter()
                        .filter(|c| t.cell(x, &c.name) != t.cell(y, &c.name))
                        .map(|c| c.name.clone())
                        .collect(),
                ),
            };
            out.push(DiffRow {
                key: k.clone(),
                kind,
                before,
                after,
                changes,
            });
        }
        Ok(out)
    }
}
