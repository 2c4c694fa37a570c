//! Deletes, restores of deletions, purge, erase and retention (`docs/semantics.md`, "Deletes",
//! "Restore", "Purge, erase, retention"; `docs/design.md` §9, §11).

use std::collections::{BTreeSet, VecDeque};

use lazarusdb::{OnDelete, Retention, Row, Value};
use uuid::Uuid;

use super::{Conf, Del, Exp, MKind, MState, Member, Model, Pk, RowKey};

/// A delete as the store plans it: the tombstones (the root first, then breadth-first through
/// the cascade) and the set-null updates (the row and its new image), in event order.
#[derive(Debug, Clone, Default)]
pub struct DeletePlan {
    pub tombs: Vec<RowKey>,
    pub unlinks: Vec<(RowKey, Row)>,
}

/// What a restore of a deletion (or of one of its rows) does, or would do.
#[derive(Debug, Clone, Default)]
pub struct RestoreOut {
    /// Tombstoned rows that come back.
    pub rows: Vec<RowKey>,
    /// Set-null members whose references are put back.
    pub relinks: Vec<RowKey>,
    /// With the skip policy: the rows left in the trash.
    pub skipped: BTreeSet<RowKey>,
    pub conflicts: BTreeSet<Conf>,
}

/// What a purge or an erase removed.
#[derive(Debug, Clone, Default)]
pub struct PurgeOut {
    pub deletion: Uuid,
    /// Every tombstoned row purged (a key comes once per life).
    pub rows: Vec<RowKey>,
    /// Images rewritten (exact unless history was pruned: the model does not follow which
    /// images a pruning rewrote).
    pub images: u64,
    /// The other deletions an erase purged (newest first).
    pub also: Vec<Uuid>,
}

/// What `apply_retention` did.
#[derive(Debug, Clone, Default)]
pub struct RetentionOut {
    /// Deletions purged, in id order.
    pub purged: Vec<PurgeOut>,
    /// Tables pruned, with their new horizon.
    pub pruned: Vec<(usize, u64)>,
}

/// One member of a restore as planned.
struct Item {
    member: usize,
    key: RowKey,
    tomb: bool,
    /// The image written (`None`: a set-null member no longer live).
    image: Option<Row>,
    /// The parents coming back in the same restore.
    needs: Vec<RowKey>,
    conflict: bool,
}

impl Model {
    // -----------------------------------------------------------------------------------------
    // Delete.

    /// Plans a delete of a live row: `AlreadyDeleted` (naming the deletion holding the key) or
    /// `NotFound` for a row that is not live, `Restricted` when a live row outside the deletion
    /// references one of its rows through `restrict`.
    pub fn plan_delete(&self, t: usize, pk: &Pk) -> Result<DeletePlan, Exp> {
        let root = (t, pk.clone());
        if !self.is_live(&root) {
            return Err(match self.holder(&root) {
                Some(d) => Exp::AlreadyDeleted(self.dels[d].id),
                None => Exp::NotFound {
                    table: self.t[t].name.clone(),
                },
            });
        }
        let mut visited = BTreeSet::from([root.clone()]);
        let mut plan = DeletePlan {
            tombs: vec![root.clone()],
            unlinks: Vec::new(),
        };
        let mut queue = VecDeque::from([root.clone()]);
        let mut blockers = Vec::new();
        // child row → the columns to set to null, in order of discovery
        let mut unlinks: Vec<(RowKey, Vec<String>)> = Vec::new();
        while let Some((pt, ppk)) = queue.pop_front() {
            for (c, tm) in self.t.iter().enumerate() {
                for fk in tm.fks.iter().filter(|f| f.parent == pt) {
                    for cpk in tm.children_of(fk, &ppk) {
                        let ck = (c, cpk.clone());
                        match fk.on_delete {
                            OnDelete::Cascade => {
                                if visited.insert(ck.clone()) {
                                    plan.tombs.push(ck.clone());
                                    queue.push_back(ck);
                                }
                            }
                            OnDelete::Restrict => blockers.push(ck),
                            OnDelete::SetNull => match unlinks.iter_mut().find(|u| u.0 == ck) {
                                Some(u) if u.1.contains(&fk.col) => {}
                                Some(u) => u.1.push(fk.col.clone()),
                                None => unlinks.push((ck, vec![fk.col.clone()])),
                            },
                        }
                    }
                }
            }
        }
        let blocking: BTreeSet<String> = blockers
            .iter()
            .filter(|k| !visited.contains(*k))
            .map(|k| self.rref(k))
            .collect();
        if !blocking.is_empty() {
            return Err(Exp::Restricted {
                table: self.t[t].name.clone(),
                pk: pk.to_string(),
                blocking,
            });
        }
        for (k, cols) in unlinks {
            if visited.contains(&k) {
                continue;
            }
            let mut img = self.t[k.0].rows[&k.1].row.clone();
            for c in cols {
                img.set(c, Value::Null);
            }
            plan.unlinks.push((k, img));
        }
        Ok(plan)
    }

    /// Deletes a live row (as deletion `id`, the store's).
    pub fn delete(&mut self, t: usize, pk: &Pk, id: Uuid) -> Result<DeletePlan, Exp> {
        let plan = self.plan_delete(t, pk)?;
        self.auto(|m| {
            m.apply_delete(&plan, id, vec![(t, pk.clone())]);
            Ok(plan)
        })
    }

    /// Stages a planned deletion; returns its index.
    pub(super) fn apply_delete(
        &mut self,
        plan: &DeletePlan,
        id: Uuid,
        roots: Vec<RowKey>,
    ) -> usize {
        let mut members = Vec::new();
        let mut rows: Vec<(usize, u64)> = Vec::new();
        for k in &plan.tombs {
            let live = self.t[k.0]
                .rows
                .remove(&k.1)
                .expect("a tombstoned row is live");
            let lsn = self.ev(Some(k));
            members.push(Member {
                key: k.clone(),
                life: live.life,
                last: live.row,
                kind: MKind::Tomb,
                lsn,
                state: MState::Trash,
            });
            match rows.iter_mut().find(|(t, _)| *t == k.0) {
                Some((_, n)) => *n += 1,
                None => rows.push((k.0, 1)),
            }
        }
        for (k, img) in &plan.unlinks {
            let live = self.t[k.0]
                .rows
                .get_mut(&k.1)
                .expect("a set-null row is live");
            let before = std::mem::replace(&mut live.row, img.clone());
            let life = live.life;
            let lsn = self.ev(Some(k));
            self.image(life, img);
            members.push(Member {
                key: k.clone(),
                life,
                last: before,
                kind: MKind::Unlink {
                    cleared: img.clone(),
                },
                lsn,
                state: MState::Trash,
            });
        }
        let tx = self.next_tx();
        self.dels.push(Del {
            id,
            tx,
            at: 0,
            members,
            roots,
            rows,
            unlinked: plan.unlinks.len() as u64,
            purged: false,
        });
        self.dels.len() - 1
    }

    // -----------------------------------------------------------------------------------------
    // Restore.

    /// What `restore_plan(id, policy)` shows (conflicts listed, not raised).
    pub fn restore_plan(&self, id: Uuid, skip: bool) -> Result<RestoreOut, Exp> {
        let di = self.del_index(id).ok_or(Exp::UnknownDeletion)?;
        Ok(self.plan_restore(di, None, skip)?.0)
    }

    /// Restores deletion `id` (`skip`: `SkipConflicts`, else `Refuse`).
    pub fn restore(&mut self, id: Uuid, skip: bool) -> Result<RestoreOut, Exp> {
        let di = self.del_index(id).ok_or(Exp::UnknownDeletion)?;
        self.restore_at(di, None, skip)
    }

    /// Restores one tombstoned row of deletion `id` (policy `Refuse`; its parents must be live).
    pub fn restore_row(&mut self, id: Uuid, k: &RowKey) -> Result<RestoreOut, Exp> {
        let di = self.del_index(id).ok_or(Exp::UnknownDeletion)?;
        self.restore_at(di, Some(k), false)
    }

    fn restore_at(
        &mut self,
        di: usize,
        only: Option<&RowKey>,
        skip: bool,
    ) -> Result<RestoreOut, Exp> {
        let (out, items) = self.plan_restore(di, only, skip)?;
        if !skip && !out.conflicts.is_empty() {
            return Err(Exp::RestoreConflict(out.conflicts));
        }
        self.auto(|m| {
            for it in items {
                let (Some(img), false) = (it.image, out.skipped.contains(&it.key)) else {
                    continue;
                };
                let k = it.key;
                let life = if it.tomb {
                    m.dels[di].members[it.member].life
                } else {
                    m.t[k.0].rows[&k.1].life
                };
                m.ev(Some(&k));
                m.image(life, &img);
                m.put_live(&k, img, life);
                m.dels[di].members[it.member].state = MState::Restored;
            }
            Ok(out)
        })
    }

    fn plan_restore(
        &self,
        di: usize,
        only: Option<&RowKey>,
        skip: bool,
    ) -> Result<(RestoreOut, Vec<Item>), Exp> {
        let d = &self.dels[di];
        if d.purged {
            return Err(Exp::Purged);
        }
        if d.remaining() == 0 {
            return Err(Exp::AlreadyRestored);
        }
        let mut out = RestoreOut::default();
        let mut all: Vec<(usize, &Member)> = d
            .members
            .iter()
            .enumerate()
            .filter(|(_, x)| x.state == MState::Trash)
            .collect();
        if let Some(k) = only {
            all.retain(|(_, x)| x.tomb() && x.key == *k);
            if all.is_empty() {
                out.conflicts.insert(self.conf(k, "not_in_trash"));
            }
        }
        let coming: BTreeSet<&RowKey> = all
            .iter()
            .filter(|(_, x)| x.tomb())
            .map(|(_, x)| &x.key)
            .collect();
        // unique values claimed by the rows of this restore so far (the first keeps it)
        let mut claimed: Vec<(usize, usize, Vec<Value>)> = Vec::new();
        let mut items = Vec::new();
        for (mi, x) in all {
            let k = &x.key;
            let t = &self.t[k.0];
            let mut conflict = false;
            let mut conf = |kind| {
                out.conflicts.insert(self.conf(k, kind));
            };
            let image = match &x.kind {
                MKind::Tomb => {
                    if t.rows.contains_key(&k.1) {
                        conflict = true;
                        conf("primary_key_taken");
                    }
                    let img = t.extend(&x.last);
                    for (ii, idx) in t.uniques() {
                        let Some(vals) = t.unique_vals(&img, &idx.cols) else {
                            continue;
                        };
                        if claimed
                            .iter()
                            .any(|c| c.0 == k.0 && c.1 == ii && c.2 == vals)
                        {
                            conflict = true;
                            conf("unique_taken");
                        } else {
                            claimed.push((k.0, ii, vals.clone()));
                        }
                        if t.live().any(|(_, r)| t.holds(r, &idx.cols, &vals)) {
                            conflict = true;
                            conf("unique_taken");
                        }
                    }
                    img
                }
                MKind::Unlink { cleared } => {
                    let Some(now) = t.rows.get(&k.1) else {
                        conf("row_not_live");
                        items.push(Item {
                            member: mi,
                            key: k.clone(),
                            tomb: false,
                            image: None,
                            needs: Vec::new(),
                            conflict: true,
                        });
                        continue;
                    };
                    let mut img = now.row.clone();
                    for fk in &t.fks {
                        let before = t.cell(&x.last, &fk.col);
                        if !before.is_null()
                            && t.cell(cleared, &fk.col).is_null()
                            && t.cell(&now.row, &fk.col).is_null()
                        {
                            img.set(fk.col.clone(), before);
                        }
                    }
                    // a reference put back is a value written like any other
                    for (ii, idx) in t.uniques() {
                        let Some(vals) = t.unique_vals(&img, &idx.cols) else {
                            continue;
                        };
                        if t.vals(&now.row, &idx.cols) == vals {
                            continue;
                        }
                        if claimed
                            .iter()
                            .any(|c| c.0 == k.0 && c.1 == ii && c.2 == vals)
                        {
                            conflict = true;
                            conf("unique_taken");
                        } else {
                            claimed.push((k.0, ii, vals.clone()));
                        }
                        let held = t
                            .live()
                            .any(|(o, r)| *o != k.1 && t.holds(r, &idx.cols, &vals));
                        let kept = self.reserver(k.0, &idx.cols, &vals, Some(&k.1)).is_some();
                        if held || kept {
                            conflict = true;
                            conf("unique_taken");
                        }
                    }
                    img
                }
            };
            let mut needs = Vec::new();
            for fk in &t.fks {
                let v = t.cell(&image, &fk.col);
                let Some(p) = Pk::of(&v) else { continue };
                let pkey = (fk.parent, p);
                if pkey == *k {
                    continue;
                }
                if coming.contains(&pkey) {
                    needs.push(pkey);
                } else if !self.is_live(&pkey) {
                    conflict = true;
                    conf("parent_not_live");
                }
            }
            items.push(Item {
                member: mi,
                key: k.clone(),
                tomb: x.tomb(),
                image: Some(image),
                needs,
                conflict,
            });
        }
        if skip {
            out.skipped = items
                .iter()
                .filter(|i| i.conflict)
                .map(|i| i.key.clone())
                .collect();
            loop {
                let more: Vec<RowKey> = items
                    .iter()
                    .filter(|i| {
                        !out.skipped.contains(&i.key)
                            && i.needs.iter().any(|n| out.skipped.contains(n))
                    })
                    .map(|i| i.key.clone())
                    .collect();
                if more.is_empty() {
                    break;
                }
                out.skipped.extend(more);
            }
        }
        for it in &items {
            if out.skipped.contains(&it.key) {
                continue;
            }
            if it.tomb {
                out.rows.push(it.key.clone());
            } else {
                out.relinks.push(it.key.clone());
            }
        }
        Ok((out, items))
    }

    // -----------------------------------------------------------------------------------------
    // Purge and erase.

    /// Purges deletion `id`.
    pub fn purge(&mut self, id: Uuid) -> Result<PurgeOut, Exp> {
        let di = self.del_index(id).ok_or(Exp::UnknownDeletion)?;
        if self.dels[di].purged {
            return Err(Exp::Purged);
        }
        if self.dels[di].remaining() == 0 {
            return Err(Exp::PurgeRestored);
        }
        self.auto(|m| Ok(m.apply_purge(di)))
    }

    /// Stages the purge of deletion `di`: every tombstoned row still in its trash loses the
    /// life its tombstone ended (every image of it; other lives of the key are untouched), the
    /// set-null members of those lives leave the other deletions, and the deletion leaves the
    /// trash (its set-null rows are live and keep their data).
    pub(super) fn apply_purge(&mut self, di: usize) -> PurgeOut {
        let mut out = PurgeOut {
            deletion: self.dels[di].id,
            ..PurgeOut::default()
        };
        let tombs: Vec<(RowKey, usize)> = self.dels[di]
            .in_trash()
            .filter(|x| x.tomb())
            .map(|x| (x.key.clone(), x.life))
            .collect();
        for (k, life) in tombs {
            self.purge_ev(Some(&k));
            out.images += self.lives[life].images.len() as u64;
            self.lives[life].purged = true;
            for (oi, d) in self.dels.iter_mut().enumerate() {
                if oi == di || d.purged {
                    continue;
                }
                for x in &mut d.members {
                    if x.state == MState::Trash && !x.tomb() && x.life == life {
                        x.state = MState::Left;
                    }
                }
            }
            out.rows.push(k);
        }
        self.purge_ev(None);
        self.dels[di].purged = true;
        self.rewritten = true;
        out
    }

    /// Erases row `k`: a live row is deleted (as deletion `id`, the store's) and that deletion
    /// purged; a row in the trash has the deletion holding its latest life purged; then every
    /// other deletion holding a life of the key is purged too. `NotFound` when the key is
    /// neither live nor in a trash.
    pub fn erase(&mut self, t: usize, pk: &Pk, id: Uuid) -> Result<PurgeOut, Exp> {
        let k = (t, pk.clone());
        let first = if self.is_live(&k) {
            Err(self.plan_delete(t, pk)?)
        } else {
            Ok(self.holder(&k).ok_or_else(|| Exp::NotFound {
                table: self.t[t].name.clone(),
            })?)
        };
        self.auto(|m| {
            let di = match first {
                Ok(di) => di,
                Err(plan) => m.apply_delete(&plan, id, vec![k.clone()]),
            };
            let mut out = m.apply_purge(di);
            while let Some(o) = m.holder(&k) {
                let more = m.apply_purge(o);
                out.rows.extend(more.rows);
                out.images += more.images;
                out.also.push(more.deletion);
            }
            Ok(out)
        })
    }

    // -----------------------------------------------------------------------------------------
    // Retention.

    /// Sets the retention policy of table `t`, or of the store (`None`); an empty policy
    /// removes it. A window of 0 s is refused.
    pub fn set_retention(&mut self, t: Option<usize>, policy: Retention) -> Result<(), Exp> {
        let bad = |w: Option<u64>| w.is_some_and(|s| s == 0 || s > (i64::MAX / 1_000_000) as u64);
        if bad(policy.deletions) || bad(policy.history) {
            return Err(Exp::Input);
        }
        self.auto(|m| {
            let p = (!policy.is_empty()).then_some(policy);
            match t {
                Some(t) => m.t[t].retention = p,
                None => m.store_retention = p,
            }
            m.ev(None);
            Ok(())
        })
    }

    fn cutoff(&self, secs: u64) -> i64 {
        self.now
            .saturating_sub((secs as i64).saturating_mul(1_000_000))
    }

    /// The deletions `apply_retention` purges now: in the trash, made at or before `now -` the
    /// shortest `deletions` window among the tables it tombstoned rows of.
    pub fn due(&self) -> Vec<usize> {
        let mut due: Vec<usize> = (0..self.dels.len())
            .filter(|&di| {
                let d = &self.dels[di];
                if d.purged || d.remaining() == 0 {
                    return false;
                }
                let w = d
                    .rows
                    .iter()
                    .filter_map(|(t, _)| self.policy(*t).and_then(|p| p.deletions))
                    .min();
                w.is_some_and(|w| d.at <= self.cutoff(w))
            })
            .collect();
        due.sort_by_key(|&di| self.dels[di].id);
        due
    }

    /// The tables `apply_retention` prunes now, with their new horizon: the first LSN after the
    /// last commit at or before `now -` the table's history window, when it moves.
    pub fn prunes(&self) -> Vec<(usize, u64)> {
        let mut out = Vec::new();
        for t in 0..self.t.len() {
            let Some(w) = self.policy(t).and_then(|p| p.history) else {
                continue;
            };
            let cutoff = self.cutoff(w);
            let last = self
                .txs
                .iter()
                .filter(|x| x.at <= cutoff)
                .map(|x| x.last)
                .max()
                .unwrap_or(0);
            if last > 0 && last + 1 > self.t[t].horizon {
                out.push((t, last + 1));
            }
        }
        out
    }

    /// Applies the retention policies: purges every due deletion (a transaction each), then
    /// prunes the tables whose history window moved (a transaction each).
    pub fn apply_retention(&mut self) -> RetentionOut {
        let (due, prunes) = (self.due(), self.prunes());
        let mut out = RetentionOut::default();
        for di in due {
            out.purged.push(
                self.auto(|m| Ok::<_, ()>(m.apply_purge(di)))
                    .expect("a purge"),
            );
        }
        for (t, horizon) in prunes {
            self.auto(|m| {
                m.ev(None);
                m.t[t].horizon = horizon;
                m.rewritten = true;
                Ok::<_, ()>(())
            })
            .ok();
            out.pruned.push((t, horizon));
        }
        out
    }
}
