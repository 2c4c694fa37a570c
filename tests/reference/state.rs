//! The model's state (tables, lives, deletions, transactions, snapshots), its transactions and
//! the writes of rows and schema; the reads of the trash, now and as of a snapshot.

use lazarusdb::{ColumnType, Retention, Row, Value};
use uuid::Uuid;

use super::{tuple_cmp, Cell, Col, Exp, Index, Live, Pk, RowKey, Table};

/// An event that carried an image of a life (insert, update, set-null update, restore).
#[derive(Debug, Clone)]
pub struct Image {
    /// Its LSN as the model numbers the events of a transaction (the store may order the
    /// events of one transaction otherwise: compare by `tx` and key).
    pub lsn: u64,
    pub tx: u64,
    pub row: Row,
}

/// One life of a row: from the insert that begins it to the tombstone that puts it in a trash
/// (a restore resumes it).
#[derive(Debug, Clone)]
pub struct Life {
    pub key: RowKey,
    pub images: Vec<Image>,
    /// Purged (by a purge, an erase or a retention window): every image of it is gone.
    pub purged: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MKind {
    Tomb,
    /// A set-null update, with the image it wrote.
    Unlink {
        cleared: Row,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MState {
    Trash,
    Restored,
    /// A set-null member whose life was purged since: it left its deletion (neither in the
    /// trash nor restored).
    Left,
}

/// A member of a deletion.
#[derive(Debug, Clone)]
pub struct Member {
    pub key: RowKey,
    /// The life it tombstoned, or whose reference it set to null.
    pub life: usize,
    /// The image just before the deletion (what `deletion_rows` shows).
    pub last: Row,
    pub kind: MKind,
    /// The LSN of its tombstone or set-null update.
    pub lsn: u64,
    pub state: MState,
}

impl Member {
    pub fn tomb(&self) -> bool {
        self.kind == MKind::Tomb
    }
}

/// A deletion (made by a delete, an erase of a live row, or a restore to a point that
/// tombstoned rows).
#[derive(Debug, Clone)]
pub struct Del {
    pub id: Uuid,
    pub tx: u64,
    /// Commit time (µs).
    pub at: i64,
    /// Tombstones in event order, then set-null members.
    pub members: Vec<Member>,
    /// The rows the delete named (every one; the store lists the first 16).
    pub roots: Vec<RowKey>,
    /// Tombstoned rows per table, in order of the first tombstone of each.
    pub rows: Vec<(usize, u64)>,
    pub unlinked: u64,
    pub purged: bool,
}

impl Del {
    pub fn remaining(&self) -> u64 {
        count(self.members.iter().map(|x| x.state), MState::Trash)
    }

    pub fn restored(&self) -> u64 {
        count(self.members.iter().map(|x| x.state), MState::Restored)
    }

    pub fn in_trash(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|x| x.state == MState::Trash)
    }
}

fn count(states: impl Iterator<Item = MState>, s: MState) -> u64 {
    states.filter(|x| *x == s).count() as u64
}

/// A committed transaction.
#[derive(Debug, Clone)]
pub struct Tx {
    pub id: u64,
    pub first: u64,
    pub last: u64,
    /// Commit time (µs): `max(clock, previous commit's time)`.
    pub at: i64,
    /// The rows its row events touched (purges aside), in order of first touch.
    pub rows: Vec<RowKey>,
    /// The rows it purged.
    pub purged: Vec<RowKey>,
    /// It holds an event that touches no row (schema, retention, pruning, a purged deletion).
    pub schema: bool,
}

/// The state after a committed transaction (the first: before any).
#[derive(Debug, Clone)]
pub struct Snap {
    /// The transaction's last LSN: every LSN of it reads as this snapshot.
    pub lsn: u64,
    pub tx: u64,
    /// Schema and live rows then.
    pub tables: Vec<Table>,
    /// Per deletion made by then: purged then, and each member's state then.
    pub dels: Vec<(bool, Vec<MState>)>,
}

/// A deletion as the trash lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrashRow {
    pub id: Uuid,
    pub remaining: u64,
    pub restored: u64,
}

/// A member of a deletion as `deletion_rows` lists it: the row, tombstoned or set-null, and its
/// image just before the deletion.
#[derive(Debug, Clone, PartialEq)]
pub struct DelRow {
    pub key: RowKey,
    pub tomb: bool,
    pub row: Row,
}

#[derive(Debug, Clone)]
struct Open {
    id: u64,
    first: u64,
    rows: Vec<RowKey>,
    purged: Vec<RowKey>,
    schema: bool,
}

/// The model of a store: see the module documentation.
#[derive(Debug, Clone)]
pub struct Model {
    pub t: Vec<Table>,
    pub lives: Vec<Life>,
    pub dels: Vec<Del>,
    pub txs: Vec<Tx>,
    /// The state after each committed transaction, oldest first (the first: the empty store).
    pub snaps: Vec<Snap>,
    /// The last LSN (with the open transaction's events).
    pub lsn: u64,
    /// The clock (µs), for commit times and retention windows; the caller moves it.
    pub now: i64,
    pub store_retention: Option<Retention>,
    /// A purge or a pruning rewrote the log (export refuses it).
    pub rewritten: bool,
    open: Option<Open>,
}

impl Default for Model {
    fn default() -> Model {
        Model::new()
    }
}

impl Model {
    /// An empty store.
    pub fn new() -> Model {
        let mut m = Model {
            t: Vec::new(),
            lives: Vec::new(),
            dels: Vec::new(),
            txs: Vec::new(),
            snaps: Vec::new(),
            lsn: 0,
            now: 0,
            store_retention: None,
            rewritten: false,
            open: None,
        };
        m.snaps.push(m.snap());
        m
    }

    fn snap(&self) -> Snap {
        Snap {
            lsn: self.lsn,
            tx: self.txs.len() as u64,
            tables: self.t.clone(),
            dels: self.states(),
        }
    }

    /// Each deletion's purged flag and member states now.
    fn states(&self) -> Vec<(bool, Vec<MState>)> {
        self.dels
            .iter()
            .map(|d| (d.purged, d.members.iter().map(|x| x.state).collect()))
            .collect()
    }

    // -----------------------------------------------------------------------------------------
    // Transactions.

    /// Opens an explicit transaction: writes stage into it until [`Model::commit`] (dropping a
    /// transaction is dropping a clone of the model taken before).
    pub fn begin(&mut self) {
        assert!(self.open.is_none(), "transactions do not nest");
        self.open = Some(Open {
            id: self.txs.len() as u64 + 1,
            first: self.lsn + 1,
            rows: Vec::new(),
            purged: Vec::new(),
            schema: false,
        });
    }

    /// Commits the open transaction: its id, or `None` when it staged nothing (it consumes no
    /// id then).
    pub fn commit(&mut self) -> Option<u64> {
        let o = self.open.take()?;
        if self.lsn < o.first {
            return None;
        }
        let at = self.txs.last().map_or(self.now, |t| t.at.max(self.now));
        for d in self.dels.iter_mut().filter(|d| d.tx == o.id) {
            d.at = at;
        }
        self.txs.push(Tx {
            id: o.id,
            first: o.first,
            last: self.lsn,
            at,
            rows: o.rows,
            purged: o.purged,
            schema: o.schema,
        });
        self.snaps.push(self.snap());
        Some(o.id)
    }

    /// The events staged by the open transaction.
    pub fn staged(&self) -> u64 {
        self.open.as_ref().map_or(0, |o| self.lsn + 1 - o.first)
    }

    /// The id the running (or next) transaction gets.
    pub fn next_tx(&self) -> u64 {
        self.open
            .as_ref()
            .map_or(self.txs.len() as u64 + 1, |o| o.id)
    }

    /// Runs a write that checked everything first: in the open transaction, or in one of its
    /// own committed when it succeeds.
    pub(super) fn auto<T, E>(
        &mut self,
        f: impl FnOnce(&mut Model) -> Result<T, E>,
    ) -> Result<T, E> {
        let own = self.open.is_none();
        if own {
            self.begin();
        }
        let r = f(self);
        if own {
            if r.is_ok() {
                self.commit();
            } else {
                self.open = None;
            }
        }
        r
    }

    /// Stages an event of row `key` (`None`: an event that touches no row).
    pub(super) fn ev(&mut self, key: Option<&RowKey>) -> u64 {
        self.lsn += 1;
        let o = self.open.as_mut().expect("an open transaction");
        match key {
            Some(k) if !o.rows.contains(k) => o.rows.push(k.clone()),
            Some(_) => {}
            None => o.schema = true,
        }
        self.lsn
    }

    /// Stages the purge event of row `key` (`None`: the purge of a deletion).
    pub(super) fn purge_ev(&mut self, key: Option<&RowKey>) {
        self.lsn += 1;
        let o = self.open.as_mut().expect("an open transaction");
        match key {
            Some(k) => o.purged.push(k.clone()),
            None => o.schema = true,
        }
    }

    /// Records that the event just staged carried `row` as an image of `life`.
    pub(super) fn image(&mut self, life: usize, row: &Row) {
        let tx = self.next_tx();
        self.lives[life].images.push(Image {
            lsn: self.lsn,
            tx,
            row: row.clone(),
        });
    }

    /// A new life of `key` beginning with `row`.
    pub(super) fn new_life(&mut self, key: &RowKey) -> usize {
        self.lives.push(Life {
            key: key.clone(),
            images: Vec::new(),
            purged: false,
        });
        self.lives.len() - 1
    }

    /// Puts `row` back as the live row `key` of `life` (a restore), moving the key sequence.
    pub(super) fn put_live(&mut self, key: &RowKey, row: Row, life: usize) {
        let t = &mut self.t[key.0];
        if let Pk::Int(i) = key.1 {
            t.seq = t.seq.max(i.saturating_add(1));
        }
        t.rows.insert(key.1.clone(), Live { row, life });
    }

    // -----------------------------------------------------------------------------------------
    // Schema.

    /// Creates tables in one transaction of one event; returns the index of the first.
    pub fn create_tables(&mut self, tables: Vec<Table>) -> usize {
        let first = self.t.len();
        self.auto(|m| {
            m.t.extend(tables);
            m.ev(None);
            Ok::<_, ()>(())
        })
        .ok();
        first
    }

    pub fn table(&self, name: &str) -> usize {
        self.t
            .iter()
            .position(|t| t.name == name)
            .unwrap_or_else(|| panic!("no table {name} in the model"))
    }

    pub fn name(&self, t: usize) -> &str {
        &self.t[t].name
    }

    /// "table key", as the store names rows in messages.
    pub fn rref(&self, k: &RowKey) -> String {
        format!("{} {}", self.t[k.0].name, k.1)
    }

    pub fn conf(&self, k: &RowKey, kind: &'static str) -> super::Conf {
        (self.t[k.0].name.clone(), k.1.to_string(), kind)
    }

    pub fn add_column(
        &mut self,
        t: usize,
        name: &str,
        ty: ColumnType,
        nullable: bool,
        default: Option<&Cell>,
    ) -> Result<(), Vec<Exp>> {
        let tm = &self.t[t];
        let mut errs = Vec::new();
        let name_ok = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !name_ok || tm.col(name).is_some() {
            errs.push(Exp::Schema);
        }
        let default = match default {
            None => None,
            Some(cell) => match &cell.expect {
                None => {
                    errs.push(Exp::Schema);
                    None
                }
                Some(v) => {
                    if v.is_null() && !nullable {
                        errs.push(Exp::Schema);
                    }
                    Some(v.clone())
                }
            },
        };
        if !nullable && default.is_none() && errs.is_empty() {
            errs.push(Exp::Schema);
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        self.auto(|m| {
            let col = Col {
                name: name.to_string(),
                ty,
                nullable,
                default,
            };
            let fill = col.fill();
            let tm = &mut m.t[t];
            tm.cols.push(col);
            for l in tm.rows.values_mut() {
                l.row.set(name, fill.clone());
            }
            m.ev(None);
            Ok(())
        })
    }

    pub fn add_index(&mut self, t: usize, cols: &[&str], unique: bool) -> Result<(), Vec<Exp>> {
        let tm = &self.t[t];
        let cols: Vec<String> = cols.iter().map(|c| c.to_string()).collect();
        let mut errs = Vec::new();
        if cols.is_empty() {
            errs.push(Exp::Schema);
        }
        for (i, c) in cols.iter().enumerate() {
            if tm.col(c).is_none() {
                errs.push(Exp::Schema);
                errs.push(Exp::UnknownColumn {
                    table: tm.name.clone(),
                    column: c.clone(),
                });
            }
            if cols[..i].contains(c) {
                errs.push(Exp::Schema);
            }
        }
        if tm
            .indexes
            .iter()
            .any(|i| i.cols == cols && (i.unique || !unique))
        {
            errs.push(Exp::Schema);
        }
        if errs.is_empty() && unique {
            // the live rows, and the rows the trash keeps the values of
            let mut held: Vec<Vec<Value>> = tm
                .live()
                .filter_map(|(_, r)| tm.unique_vals(r, &cols))
                .collect();
            if tm.keeps {
                held.extend(
                    self.trashed(t)
                        .filter_map(|(_, x)| tm.unique_vals(&x.last, &cols)),
                );
            }
            held.sort_by(|a, b| tuple_cmp(a, b));
            if held.windows(2).any(|w| w[0] == w[1]) {
                errs.push(Exp::Unique {
                    table: tm.name.clone(),
                    cols: cols.clone(),
                });
            }
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        self.auto(|m| {
            m.t[t].indexes.push(Index { cols, unique });
            m.ev(None);
            Ok(())
        })
    }

    // -----------------------------------------------------------------------------------------
    // Rows.

    /// Inserts as the store should: the row as stored, or every error the store may answer,
    /// the one it answers first. `uuid` is the key the store generated, when it did.
    pub fn insert(
        &mut self,
        t: usize,
        cells: &[(String, Cell)],
        uuid: Option<Uuid>,
    ) -> Result<Row, Vec<Exp>> {
        let (row, pk) = self.check_insert(t, cells, uuid)?;
        self.auto(|m| {
            let key = (t, pk);
            let life = m.new_life(&key);
            m.ev(Some(&key));
            m.image(life, &row);
            m.put_live(&key, row.clone(), life);
            Ok(row)
        })
    }

    /// [`Model::insert`] of values the store takes as they are.
    pub fn insert_row(&mut self, t: usize, row: &Row) -> Result<Row, Vec<Exp>> {
        self.insert(t, &super::cells_of(row), None)
    }

    fn check_insert(
        &self,
        ti: usize,
        cells: &[(String, Cell)],
        uuid: Option<Uuid>,
    ) -> Result<(Row, Pk), Vec<Exp>> {
        let t = &self.t[ti];
        let tn = || t.name.clone();
        let mut errs = Vec::new();
        for (name, _) in cells {
            if t.col(name).is_none() {
                errs.push(Exp::UnknownColumn {
                    table: tn(),
                    column: name.clone(),
                });
            }
        }
        let mut row = Row::new();
        for c in &t.cols {
            let given = cells.iter().find(|(n, _)| n == &c.name).map(|(_, c)| c);
            let v = match given {
                Some(cell) if !cell.given.is_null() => match &cell.expect {
                    Some(v) => v.clone(),
                    None => {
                        errs.push(Exp::WrongType {
                            table: tn(),
                            column: c.name.clone(),
                        });
                        continue;
                    }
                },
                _ if c.name == t.pk => match c.ty {
                    // i64::MAX is never a key: the sequence is used up
                    ColumnType::Int if t.seq == i64::MAX => {
                        errs.push(Exp::KeysExhausted { table: tn() });
                        continue;
                    }
                    ColumnType::Int => Value::Int(t.seq),
                    ColumnType::Uuid => match uuid {
                        Some(u) => Value::Uuid(u),
                        None => continue,
                    },
                    _ => {
                        errs.push(Exp::NotNull {
                            table: tn(),
                            column: c.name.clone(),
                        });
                        continue;
                    }
                },
                Some(_) => Value::Null,
                None => c.fill(),
            };
            if v.is_null() && !c.nullable {
                errs.push(Exp::NotNull {
                    table: tn(),
                    column: c.name.clone(),
                });
                continue;
            }
            row.set(c.name.clone(), v);
        }
        let pk_val = row.get(&t.pk).cloned();
        if pk_val == Some(Value::Int(i64::MAX)) {
            // never a key (integer keys end at i64::MAX - 1)
            errs.push(Exp::Input);
        }
        let pk = pk_val.as_ref().and_then(Pk::of);
        if let Some(k) = &pk {
            if t.keeps {
                if let Some(d) = self.holder(&(ti, k.clone())) {
                    errs.push(Exp::KeyReserved(self.dels[d].id));
                }
            }
            if t.rows.contains_key(k) {
                errs.push(Exp::PrimaryKey { table: tn() });
            }
        }
        errs.extend(self.unique_errs(ti, &row, pk.as_ref(), None));
        errs.extend(self.parent_errs(ti, &row, pk.as_ref(), None));
        match pk {
            Some(pk) if errs.is_empty() => Ok((row, pk)),
            _ => Err(errs),
        }
    }

    /// The unique-constraint errors of writing `row` as `pk` (for an update, only the
    /// constraints whose values differ from `old`): a value the trash keeps for another row
    /// (`KeyReserved`), a value a live row holds.
    fn unique_errs(&self, ti: usize, row: &Row, pk: Option<&Pk>, old: Option<&Row>) -> Vec<Exp> {
        let t = &self.t[ti];
        let mut errs = Vec::new();
        for (_, idx) in t.uniques() {
            if idx.cols.iter().any(|c| row.get(c).is_none()) {
                continue; // a column the model could not fill (an error already)
            }
            let Some(vals) = t.unique_vals(row, &idx.cols) else {
                continue;
            };
            if old.is_some_and(|o| t.vals(o, &idx.cols) == vals) {
                continue;
            }
            if let Some(d) = self.reserver(ti, &idx.cols, &vals, pk) {
                errs.push(Exp::KeyReserved(self.dels[d].id));
            }
            if t.live()
                .any(|(k, r)| Some(k) != pk && t.holds(r, &idx.cols, &vals))
            {
                errs.push(Exp::Unique {
                    table: t.name.clone(),
                    cols: idx.cols.clone(),
                });
            }
        }
        errs
    }

    /// The foreign-key errors of writing `row` (for an update, only the references that
    /// differ from `old`).
    fn parent_errs(&self, ti: usize, row: &Row, pk: Option<&Pk>, old: Option<&Row>) -> Vec<Exp> {
        let t = &self.t[ti];
        let mut errs = Vec::new();
        for fk in &t.fks {
            let Some(v) = row.get(&fk.col) else { continue };
            if v.is_null() || old.is_some_and(|o| t.cell(o, &fk.col) == *v) {
                continue;
            }
            let p = &self.t[fk.parent];
            let itself = fk.parent == ti && pk.is_some_and(|k| k.value() == *v);
            let live = Pk::of(v).is_some_and(|k| p.rows.contains_key(&k));
            if !live && !itself {
                errs.push(Exp::ForeignKey {
                    table: t.name.clone(),
                    column: fk.col.clone(),
                    references: p.name.clone(),
                });
            }
        }
        errs
    }

    /// Updates the given columns of a live row: the new row, or every error the store may
    /// answer, the one it answers first.
    pub fn update(
        &mut self,
        ti: usize,
        pk: &Cell,
        changes: &[(String, Cell)],
    ) -> Result<Row, Vec<Exp>> {
        let t = &self.t[ti];
        let tn = || t.name.clone();
        let mut errs = Vec::new();
        let pkv = match &pk.expect {
            None => {
                errs.push(Exp::WrongType {
                    table: tn(),
                    column: t.pk.clone(),
                });
                None
            }
            Some(Value::Null) => {
                errs.push(Exp::Input);
                None
            }
            Some(v) => Some(v.clone()),
        };
        let key = pkv.as_ref().and_then(Pk::of);
        let old = key.as_ref().and_then(|k| t.rows.get(k));
        if pkv.is_some() && old.is_none() {
            errs.push(Exp::NotFound { table: tn() });
        }
        let mut new = old.map(|l| l.row.clone()).unwrap_or_default();
        for (name, cell) in changes {
            let Some(c) = t.col(name) else {
                errs.push(Exp::UnknownColumn {
                    table: tn(),
                    column: name.clone(),
                });
                continue;
            };
            let Some(v) = cell.expect.clone() else {
                errs.push(Exp::WrongType {
                    table: tn(),
                    column: name.clone(),
                });
                continue;
            };
            if v.is_null() && !c.nullable {
                errs.push(Exp::NotNull {
                    table: tn(),
                    column: name.clone(),
                });
                continue;
            }
            if *name == t.pk {
                if pkv.as_ref().is_some_and(|p| *p != v) {
                    // the primary key cannot change
                    errs.push(Exp::Input);
                }
                continue;
            }
            new.set(name.clone(), v);
        }
        let (Some(old), Some(key)) = (old, key) else {
            return Err(errs);
        };
        errs.extend(self.unique_errs(ti, &new, Some(&key), Some(&old.row)));
        errs.extend(self.parent_errs(ti, &new, Some(&key), Some(&old.row)));
        if !errs.is_empty() {
            return Err(errs);
        }
        let life = old.life;
        self.auto(|m| {
            let key = (ti, key);
            m.ev(Some(&key));
            m.image(life, &new);
            m.t[ti].rows.insert(
                key.1,
                Live {
                    row: new.clone(),
                    life,
                },
            );
            Ok(new)
        })
    }

    /// [`Model::update`] of values the store takes as they are.
    pub fn update_row(&mut self, t: usize, pk: &Pk, changes: &Row) -> Result<Row, Vec<Exp>> {
        self.update(t, &Cell::ok(pk.value()), &super::cells_of(changes))
    }

    // -----------------------------------------------------------------------------------------
    // The trash, now.

    pub fn is_live(&self, k: &RowKey) -> bool {
        self.t[k.0].rows.contains_key(&k.1)
    }

    pub fn live_row(&self, k: &RowKey) -> Option<&Live> {
        self.t[k.0].rows.get(&k.1)
    }

    pub fn del_index(&self, id: Uuid) -> Option<usize> {
        self.dels.iter().position(|d| d.id == id)
    }

    /// The tombstoned rows of table `t` in the trash (of deletions not purged), with their
    /// deletions.
    pub fn trashed(&self, t: usize) -> impl Iterator<Item = (usize, &Member)> {
        self.dels
            .iter()
            .enumerate()
            .filter(|(_, d)| !d.purged)
            .flat_map(move |(di, d)| {
                d.in_trash()
                    .filter(move |x| x.tomb() && x.key.0 == t)
                    .map(move |x| (di, x))
            })
    }

    /// The deletion holding the latest life of `k` still in a trash (what `find_deletion`
    /// answers, live key or not; the store's `dead` view).
    pub fn holder(&self, k: &RowKey) -> Option<usize> {
        holder_in(&self.dels, &self.states(), k)
    }

    pub fn find_deletion(&self, k: &RowKey) -> Option<Uuid> {
        self.holder(k).map(|d| self.dels[d].id)
    }

    /// The deletion whose trash holds `life`.
    pub fn holder_of_life(&self, life: usize) -> Option<usize> {
        self.dels
            .iter()
            .position(|d| !d.purged && d.in_trash().any(|x| x.tomb() && x.life == life))
    }

    /// The deletion of the trashed row of table `t` (a table whose trash keeps keys) other than
    /// `except` whose last image keeps `vals` of a unique constraint over `cols` reserved (the
    /// one of the smallest key, as the store finds it).
    pub fn reserver(
        &self,
        t: usize,
        cols: &[String],
        vals: &[Value],
        except: Option<&Pk>,
    ) -> Option<usize> {
        let tm = &self.t[t];
        if !tm.keeps {
            return None;
        }
        self.trashed(t)
            .filter(|(_, x)| Some(&x.key.1) != except && tm.holds(&x.last, cols, vals))
            .min_by(|a, b| a.1.key.1.cmp(&b.1.key.1))
            .map(|(d, _)| d)
    }

    /// The trash now: deletions with a member in it, newest first.
    pub fn trash(&self) -> Vec<TrashRow> {
        self.trash_in(&self.states(), self.dels.len())
    }

    /// `deletion(id)`: `Purged` for a purged deletion, `UnknownDeletion` for an unknown one.
    pub fn deletion(&self, id: Uuid) -> Result<&Del, Exp> {
        let d = self
            .dels
            .iter()
            .find(|d| d.id == id)
            .ok_or(Exp::UnknownDeletion)?;
        if d.purged {
            return Err(Exp::Purged);
        }
        Ok(d)
    }

    /// `deletion_rows(id)`: the members still in the trash with their images before the
    /// deletion (in today's columns).
    pub fn deletion_rows(&self, id: Uuid) -> Result<Vec<DelRow>, Exp> {
        let d = self.deletion(id)?;
        Ok(d.in_trash().map(|x| self.del_row(x, &self.t)).collect())
    }

    fn del_row(&self, x: &Member, tables: &[Table]) -> DelRow {
        DelRow {
            key: x.key.clone(),
            tomb: x.tomb(),
            row: tables[x.key.0].extend(&x.last),
        }
    }

    fn trash_in(&self, states: &[(bool, Vec<MState>)], made: usize) -> Vec<TrashRow> {
        let mut out: Vec<TrashRow> = states
            .iter()
            .take(made)
            .enumerate()
            .filter(|(i, (purged, _))| !purged && !self.dels[*i].purged)
            .map(|(i, (_, st))| TrashRow {
                id: self.dels[i].id,
                remaining: count(st.iter().copied(), MState::Trash),
                restored: count(st.iter().copied(), MState::Restored),
            })
            .filter(|r| r.remaining > 0)
            .collect();
        out.sort_by_key(|r| std::cmp::Reverse(r.id));
        out
    }

    // -----------------------------------------------------------------------------------------
    // The past.

    /// The snapshot an as-of read of `lsn` reads: the transaction holding it, whole.
    pub fn snap_at(&self, lsn: u64) -> &Snap {
        self.snaps
            .iter()
            .find(|s| s.lsn >= lsn)
            .unwrap_or_else(|| self.snaps.last().expect("the first snapshot"))
    }

    /// The commit time of the transaction holding `lsn` (`i64::MIN` for LSN 0).
    pub fn time_of(&self, lsn: u64) -> i64 {
        self.txs
            .iter()
            .find(|t| t.first <= lsn && lsn <= t.last)
            .map_or(i64::MIN, |t| t.at)
    }

    /// The retention policy in force for table `t`: its own, else the store's.
    pub fn policy(&self, t: usize) -> Option<Retention> {
        self.t[t].retention.or(self.store_retention)
    }

    /// Whether reads of table `t` as of `lsn` are `HistoryExpired`: before its pruning
    /// horizon, or committed at or before `now - history window`.
    pub fn expired(&self, t: usize, lsn: u64) -> bool {
        if lsn < self.t[t].horizon {
            return true;
        }
        self.policy(t).and_then(|p| p.history).is_some_and(|w| {
            let cutoff = self
                .now
                .saturating_sub((w as i64).saturating_mul(1_000_000));
            self.time_of(lsn) <= cutoff
        })
    }

    /// The live rows of table `t` as of `s` that reads show: rows whose life was purged since
    /// are left out.
    pub fn rows_then<'a>(&self, s: &'a Snap, t: usize) -> Vec<(&'a Pk, &'a Row)> {
        match s.tables.get(t) {
            None => Vec::new(),
            Some(tm) => tm
                .rows
                .iter()
                .filter(|(_, l)| !self.lives[l.life].purged)
                .map(|(k, l)| (k, &l.row))
                .collect(),
        }
    }

    /// `get` as of `s`: `Expired` before the table's history window, `Purged` for a row whose
    /// life was purged since.
    pub fn get_then(&self, s: &Snap, k: &RowKey) -> Result<Option<Row>, Exp> {
        if self.expired(k.0, s.lsn) {
            return Err(Exp::Expired);
        }
        match s.tables.get(k.0).and_then(|t| t.rows.get(&k.1)) {
            Some(l) if self.lives[l.life].purged => Err(Exp::Purged),
            Some(l) => Ok(Some(l.row.clone())),
            None => Ok(None),
        }
    }

    /// The trash as of `s`: the deletions made by then and not purged now, with their members
    /// then (restores and set-null updates purged since still count).
    pub fn trash_then(&self, s: &Snap) -> Vec<TrashRow> {
        self.trash_in(&s.dels, s.dels.len())
    }

    /// `deletion(id)` as of `s`: (remaining, restored) then; `Purged` when it is purged now,
    /// `UnknownDeletion` when it was made later.
    pub fn deletion_then(&self, s: &Snap, id: Uuid) -> Result<(u64, u64), Exp> {
        let di = self.del_index(id).ok_or(Exp::UnknownDeletion)?;
        if self.dels[di].purged {
            return Err(Exp::Purged);
        }
        let (_, st) = s.dels.get(di).ok_or(Exp::UnknownDeletion)?;
        Ok((
            count(st.iter().copied(), MState::Trash),
            count(st.iter().copied(), MState::Restored),
        ))
    }

    /// `deletion_rows(id)` as of `s`: its members in the trash then; `Purged` when the life of
    /// one of them was purged since.
    pub fn deletion_rows_then(&self, s: &Snap, id: Uuid) -> Result<Vec<DelRow>, Exp> {
        self.deletion_then(s, id)?;
        let di = self.del_index(id).ok_or(Exp::UnknownDeletion)?;
        let (_, st) = &s.dels[di];
        let members: Vec<&Member> = self.dels[di]
            .members
            .iter()
            .zip(st)
            .filter(|(_, st)| **st == MState::Trash)
            .map(|(x, _)| x)
            .collect();
        if members.iter().any(|x| self.lives[x.life].purged) {
            return Err(Exp::Purged);
        }
        Ok(members
            .into_iter()
            .map(|x| self.del_row(x, &s.tables))
            .collect())
    }

    /// `find_deletion` as of `s`: what the live store answered then.
    pub fn find_deletion_then(&self, s: &Snap, k: &RowKey) -> Option<Uuid> {
        holder_in(&self.dels, &s.dels, k).map(|d| self.dels[d].id)
    }
}

/// The newest deletion (by its tombstones) holding a life of `k` in its trash, given each
/// deletion's purged flag and member states.
fn holder_in(dels: &[Del], states: &[(bool, Vec<MState>)], k: &RowKey) -> Option<usize> {
    (0..states.len().min(dels.len())).rev().find(|&di| {
        let (purged, st) = &states[di];
        !purged
            && dels[di]
                .members
                .iter()
                .zip(st)
                .any(|(x, s)| *s == MState::Trash && x.tomb() && x.key == *k)
    })
}
