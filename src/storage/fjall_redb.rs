//! The fjall-redb engine: the log (the `log` and `tx` spaces, the truth) in fjall, whose journal
//! makes a commit durable with one append and one fdatasync; the views and the meta space in
//! redb, a copy-on-write B-tree, where a deleted key is gone from the tree at once, so a live
//! scan or lookup costs what the live rows cost however much was deleted (an LSM tree keeps a
//! tombstone per deleted key until compaction reaches its last level).
//!
//! ```text
//! data/log/         fjall's folder, keyspaces `log` and `tx` only
//! data/views.redb   redb 5: one table per other space, and `lazarus` holding `views_at`
//! data/views.ok     written after a clean close: what views.redb looked like then
//! ```
//!
//! **Writes.** A batch's log spaces go to one fjall batch, the rest to one redb write
//! transaction committed with `Durability::None` (no fsync), which also records `views_at`: the
//! last log key whose event the views reflect. The redb transaction is filled first; then,
//! under the apply lock, the fjall batch is written and the redb transaction committed, so a
//! read view (opened under the same lock) sees a batch in both or in neither.
//!
//! **Durability.** [`Engine::sync`] fdatasyncs fjall's journal: a commit is durable when its
//! events are. At most about once a second, and at [`Engine::persist`] and close, the views
//! are made durable too: holding redb's write transaction (so no view commit slips in), fjall
//! is synced, then an empty redb commit with `Durability::Immediate` makes every earlier view
//! commit durable. So the durable views never run ahead of the durable log.
//!
//! **What a crash leaves.** fjall's log as its journal kept it, and redb's views as of their
//! last durable commit: behind the log by at most the last second or so of commits.
//! [`Engine::views_at`] tells the store where they stand, and the store replays the events
//! after it before anything reads the views. redb repairs itself after an unclean shutdown
//! (checking every page against its checksum).
//!
//! **Damage.** redb checks its page checksums when it repairs or checks the file, not on every
//! read. A clean close therefore writes `views.ok` (the file's size, inode and change time),
//! and an open whose `views.redb` does not match it — written since, copied, damaged by a
//! tool — checks every page first: a mismatch is `Corrupted`, never a wrong answer. A file
//! that still matches is trusted as closed (a bit flipped by the disk itself is not seen until
//! `verify`, which checks every page). Panics inside redb are caught and reported as
//! `Corrupted`.

use std::ops::Bound;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use redb::{ReadableDatabase, ReadableTable, TableHandle};

use super::fjall_engine::FjallEngine;
use super::{
    empty_range, Batch, Change, Engine, EngineKind, KvIter, KvPair, ReadView, Space, Visitor,
};
use crate::error::{Error, Result};

/// The spaces kept in fjall: the log and the transaction records.
const LOG_SPACES: [Space; 2] = [Space::Log, Space::Tx];

/// The redb table of the engine's own state.
const STATE: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("lazarus");

/// The key of `views_at` in [`STATE`].
const VIEWS_AT: &[u8] = b"views_at";

/// How long view commits may stay non-durable while commits keep coming.
const VIEWS_DURABLE_EVERY: Duration = Duration::from_secs(1);

/// The files inside the engine's folder.
const LOG_DIR: &str = "log";
const VIEWS_FILE: &str = "views.redb";
const CLEAN_FILE: &str = "views.ok";

type Table = redb::ReadOnlyTable<&'static [u8], &'static [u8]>;
type WriteTable<'t> = redb::Table<'t, &'static [u8], &'static [u8]>;
type Guard<'a> = redb::AccessGuard<'a, &'static [u8]>;
type Entry<'a> = std::result::Result<(Guard<'a>, Guard<'a>), redb::StorageError>;

fn in_log(space: Space) -> bool {
    LOG_SPACES.contains(&space)
}

fn definition(space: Space) -> redb::TableDefinition<'static, &'static [u8], &'static [u8]> {
    redb::TableDefinition::new(space.name())
}

/// True when the folder holds this engine's files.
pub(crate) fn holds_files(path: &Path) -> bool {
    path.join(VIEWS_FILE).exists() || path.join(LOG_DIR).join("version").exists()
}

/// The engine.
pub struct FjallRedb {
    path: PathBuf,
    /// `path/views.redb`, named in errors.
    file: PathBuf,
    log: FjallEngine,
    /// `None` once dropped (so that `views.ok` is written after redb has closed the file).
    views: RwLock<Option<redb::Database>>,
    /// Held (shared) while a read view opens its two snapshots, (exclusive) while a batch is
    /// applied to both engines.
    apply: RwLock<()>,
    /// The snapshots the last read opened, shared by the reads that follow until a write
    /// (which clears it) makes them stale: a point read then costs no transaction and no
    /// table lookup of its own.
    shared: Mutex<Option<std::sync::Arc<Snap>>>,
    /// The largest `views_at` written.
    views_at: Mutex<Vec<u8>>,
    /// When the views were last made durable.
    durable_at: Mutex<Instant>,
    /// True while view commits are not yet durable.
    dirty: AtomicBool,
    /// True once a write or a sync failed: nothing vouches for the files at drop.
    failed: AtomicBool,
}

/// A redb error as ours.
fn rerr(path: &Path, e: impl Into<redb::Error>) -> Error {
    match e.into() {
        redb::Error::Corrupted(why) => damaged(path, &why),
        redb::Error::Io(source) => Error::io(path, source),
        redb::Error::DatabaseAlreadyOpen => Error::Locked(path.to_path_buf()),
        other => Error::Storage(format!("redb ({}): {other}", path.display())),
    }
}

fn damaged(path: &Path, why: &str) -> Error {
    Error::corrupted(
        path.display().to_string(),
        format!(
            "{why}; the views file is damaged (the log is separate): restore the store from a \
             backup or an earlier export"
        ),
    )
}

/// Runs `f`, turning a panic inside redb into `Corrupted`.
fn guarded<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => Err(panicked(path)),
    }
}

/// The error for a panic inside redb while it read the views file.
fn panicked(file: &Path) -> Error {
    damaged(
        file,
        "redb failed while reading the views file (it panicked)",
    )
}

/// What `views.ok` records of the views file (see [`super::file_stamp`]).
fn views_stamp(file: &Path) -> Option<String> {
    super::file_stamp(file).map(|s| format!("lazarusdb views closed cleanly\n{s}"))
}

impl FjallRedb {
    /// Opens (or creates) the engine's files in `path`; with `existing`, every file a complete
    /// store holds must be there (see [`FjallEngine::open_existing`]).
    /// `cache_bytes` bounds redb's page cache (filled as pages are read, never ahead).
    pub fn open_cached(path: &Path, existing: bool, cache_bytes: usize) -> Result<FjallRedb> {
        let file = path.join(VIEWS_FILE);
        if existing && !file.is_file() {
            return Err(damaged(&file, "the views file is missing"));
        }
        if !existing {
            std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))?;
        }
        let log = FjallEngine::open_spaces(&path.join(LOG_DIR), existing, &LOG_SPACES)?;
        let clean = path.join(CLEAN_FILE);
        let trusted = match (std::fs::read_to_string(&clean), views_stamp(&file)) {
            (Ok(recorded), Some(now)) => recorded == now,
            _ => false,
        };
        let db = guarded(&file, || {
            let mut builder = redb::Builder::new();
            builder.set_cache_size(cache_bytes);
            // A file not known to be as a clean close left it is checked page by page.
            builder.set_check_integrity_on_open(file.exists() && !trusted);
            builder.create(&file).map_err(|e| rerr(&file, e))
        })?;
        // Every table exists from the creation on (a read of a missing one is not "empty").
        let views_at = guarded(&file, || {
            let txn = db.begin_write().map_err(|e| rerr(&file, e))?;
            let mut made = false;
            {
                let names: Vec<String> = txn
                    .list_tables()
                    .map_err(|e| rerr(&file, e))?
                    .map(|h| h.name().to_string())
                    .collect();
                for space in Space::ALL.iter().filter(|s| !in_log(**s)) {
                    if !names.iter().any(|n| n == space.name()) {
                        if existing {
                            return Err(damaged(
                                &file,
                                &format!("the `{}` table is missing", space.name()),
                            ));
                        }
                        txn.open_table(definition(*space))
                            .map_err(|e| rerr(&file, e))?;
                        made = true;
                    }
                }
                if !names.iter().any(|n| n == "lazarus") {
                    if existing {
                        return Err(damaged(&file, "the engine's state table is missing"));
                    }
                    txn.open_table(STATE).map_err(|e| rerr(&file, e))?;
                    made = true;
                }
            }
            let at = {
                let t = txn.open_table(STATE).map_err(|e| rerr(&file, e))?;
                let got = t.get(VIEWS_AT).map_err(|e| rerr(&file, e))?;
                got.map(|g| g.value().to_vec()).unwrap_or_default()
            };
            if made {
                txn.commit().map_err(|e| rerr(&file, e))?;
            } else {
                txn.abort().map_err(|e| rerr(&file, e))?;
            }
            Ok(at)
        })?;
        Ok(FjallRedb {
            path: path.to_path_buf(),
            file: file.clone(),
            log,
            views: RwLock::new(Some(db)),
            apply: RwLock::new(()),
            shared: Mutex::new(None),
            views_at: Mutex::new(views_at),
            durable_at: Mutex::new(Instant::now()),
            dirty: AtomicBool::new(false),
            failed: AtomicBool::new(false),
        })
    }

    fn file(&self) -> &Path {
        &self.file
    }

    fn closed(&self) -> Error {
        Error::Storage(format!("{}: the views file is closed", self.path.display()))
    }

    /// Fills a redb write transaction with the view changes, committing nothing.
    fn fill<'a>(
        &self,
        txn: &redb::WriteTransaction,
        changes: impl Iterator<Item = Change<'a>>,
        views_at: Option<&[u8]>,
    ) -> Result<()> {
        let file = self.file();
        // the changes of one space at a time, in the order they come (key order within a
        // space for a batch or a group)
        let mut run: Vec<(&[u8], Option<&[u8]>)> = Vec::new();
        let mut space: Option<Space> = None;
        for (s, k, v) in changes.filter(|c| !in_log(c.0)) {
            if space != Some(s) {
                if let Some(done) = space {
                    write_run(txn, done, &run, file)?;
                }
                run.clear();
                space = Some(s);
            }
            run.push((k, v));
        }
        if let Some(done) = space {
            write_run(txn, done, &run, file)?;
        }
        if let Some(at) = views_at {
            let mut mine = self.views_at.lock();
            if at > mine.as_slice() {
                let mut t = txn.open_table(STATE).map_err(|e| rerr(file, e))?;
                t.insert(VIEWS_AT, at).map_err(|e| rerr(file, e))?;
                *mine = at.to_vec();
            }
        }
        Ok(())
    }

    /// Applies changes: the log's to fjall, the rest to redb (see the module notes).
    fn apply<'a, I>(&self, changes: impl Fn() -> I, views_at: Option<&[u8]>) -> Result<()>
    where
        I: Iterator<Item = Change<'a>>,
    {
        let file = self.file();
        let result = guarded(file, || {
            let views = self.views.read();
            let db = views.as_ref().ok_or_else(|| self.closed())?;
            let mut txn = db.begin_write().map_err(|e| rerr(file, e))?;
            txn.set_durability(redb::Durability::None)
                .map_err(|e| rerr(file, e))?;
            // `views_at` only moves forward once the commit is in: keep the old value to put
            // back if anything fails.
            let before = self.views_at.lock().clone();
            let filled = self.fill(&txn, changes(), views_at);
            let done = filled.and_then(|()| {
                let _applying = self.apply.write();
                // from here on the shared snapshots are stale (and must not pin old pages)
                let stale = self.shared.lock().take();
                self.log.write_changes(changes().filter(|c| in_log(c.0)))?;
                let committed = txn.commit().map_err(|e| rerr(file, e));
                drop(stale);
                committed
            });
            if done.is_err() {
                *self.views_at.lock() = before;
            }
            done
        });
        match &result {
            Ok(()) => self.dirty.store(true, Ordering::Release),
            Err(_) => self.failed.store(true, Ordering::Release),
        }
        result
    }

    /// Makes the views durable: holding redb's write transaction, syncs fjall, then commits
    /// with `Durability::Immediate` (which makes every earlier view commit durable).
    fn persist_views(&self) -> Result<()> {
        let file = self.file();
        let result = guarded(file, || {
            let views = self.views.read();
            let db = views.as_ref().ok_or_else(|| self.closed())?;
            let mut txn = db.begin_write().map_err(|e| rerr(file, e))?;
            txn.set_durability(redb::Durability::Immediate)
                .map_err(|e| rerr(file, e))?;
            self.log.sync()?;
            txn.commit().map_err(|e| rerr(file, e))
        });
        match &result {
            Ok(()) => {
                self.dirty.store(false, Ordering::Release);
                *self.durable_at.lock() = Instant::now();
            }
            Err(_) => self.failed.store(true, Ordering::Release),
        }
        result
    }
}

impl Drop for FjallRedb {
    /// Closes redb (which makes the last view commits durable), then records the file's stamp
    /// in `views.ok` so that the next open can trust it without checking every page. After a
    /// failed write nothing is recorded: the next open checks.
    fn drop(&mut self) {
        let persisted = !self.failed.load(Ordering::Acquire) && self.persist_views().is_ok();
        drop(self.shared.lock().take());
        let db = self.views.write().take();
        drop(db);
        let clean = self.path.join(CLEAN_FILE);
        let _ = std::fs::remove_file(&clean);
        if persisted && self.log.sync().is_ok() {
            if let Some(stamp) = views_stamp(self.file()) {
                let tmp = self.path.join(format!("{CLEAN_FILE}.tmp"));
                let written = std::fs::write(&tmp, stamp)
                    .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
                    .and_then(|()| std::fs::rename(&tmp, &clean));
                if written.is_err() {
                    let _ = std::fs::remove_file(&tmp);
                }
            }
        }
    }
}

/// A fjall snapshot of the log and a redb read transaction of the views, opened together under
/// the apply lock, with the tables opened so far.
struct Snap {
    /// Its identity among the snapshots of the engine ([`ReadView::snapshot_id`]).
    id: u64,
    log: fjall::Snapshot,
    txn: redb::ReadTransaction,
    tables: [std::sync::OnceLock<Table>; Space::ALL.len()],
}

/// The identity of the next [`Snap`] of any engine of the process.
static NEXT_SNAP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A read view: shared snapshots.
struct View<'a> {
    engine: &'a FjallRedb,
    /// The log's view, made from the shared snapshot when a log space is first read (cloning
    /// fjall's snapshot registers it: a twelfth of a live lookup's fixed cost, for live reads
    /// that never touch the log).
    log: std::sync::OnceLock<super::fjall_engine::View<'a>>,
    snap: std::sync::Arc<Snap>,
}

impl<'a> View<'a> {
    fn log(&self) -> &super::fjall_engine::View<'a> {
        self.log
            .get_or_init(|| self.engine.log.view_of(self.snap.log.clone()))
    }

    fn table(&self, space: Space) -> Result<&Table> {
        let cell = self
            .snap
            .tables
            .get(space as usize)
            .ok_or_else(|| Error::Storage(format!("no table for {}", space.name())))?;
        if let Some(t) = cell.get() {
            return Ok(t);
        }
        let file = self.engine.file();
        let t = guarded(file, || {
            self.snap
                .txn
                .open_table(definition(space))
                .map_err(|e| rerr(file, e))
        })?;
        Ok(cell.get_or_init(|| t))
    }
}

impl ReadView for View<'_> {
    fn snapshot_id(&self) -> Option<u64> {
        Some(self.snap.id)
    }

    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if in_log(space) {
            return self.log().get(space, key);
        }
        let t = self.table(space)?;
        let file = self.engine.file();
        guarded(file, || {
            let got = t.get(key).map_err(|e| rerr(file, e))?;
            Ok(got.map(|g| g.value().to_vec()))
        })
    }

    fn range<'a>(
        &'a self,
        space: Space,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        reverse: bool,
    ) -> Result<KvIter<'a>> {
        if in_log(space) {
            return self.log().range(space, start, end, reverse);
        }
        if empty_range(&start, &end) {
            return Ok(Box::new(std::iter::empty()));
        }
        let t = self.table(space)?;
        let file = self.engine.file();
        let it = guarded(file, || t.range((start, end)).map_err(|e| rerr(file, e)))?;
        let path = self.engine.file();
        let conv = move |item: Entry<'a>| {
            item.map(|(k, v)| (k.value().to_vec(), v.value().to_vec()))
                .map_err(|e| rerr(path, e))
        };
        Ok(Box::new(Guarded {
            inner: if reverse {
                Box::new(it.rev().map(conv)) as KvIter<'a>
            } else {
                Box::new(it.map(conv))
            },
            file,
            done: false,
        }))
    }

    fn visit(
        &self,
        space: Space,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        reverse: bool,
        f: &mut Visitor<'_>,
    ) -> Result<()> {
        if in_log(space) {
            return self.log().visit(space, start, end, reverse, f);
        }
        self.visit_views(space, start, end, reverse, f)
    }
}

/// Writes one space's changes. In the rows and the version index, whose new keys often
/// follow one another (a transaction's rows, the versions of a new row), runs of inserted keys
/// go through a cursor: ascending keys go into the gap the cursor stands at, so that a stretch
/// of neighbouring keys costs one descent of the tree and one rebuild of each leaf it touches,
/// rather than one of each per key. A stretch ends where the next key lies past an entry the
/// table already holds, or does not sort after the key before it, or removes or replaces one
/// (those go in one by one).
///
/// A cursor that wrote one key cost about six plain inserts (it seeks, rebuilds its leaf on
/// close): a cascade's tombstones land one after each row's history, so when a stretch
/// writes one key or none the next [`PLAIN_AFTER_MISS`] keys (doubling while stretches keep
/// failing) go in one by one before a cursor is tried again. Removes always go one by one (a
/// cursor's removal was twice a plain one, even among neighbours; an update of 1,000 neighbouring
/// rows, 20 µs a row through a cursor, is 9 µs with plain replacing inserts). Elsewhere (index entries
/// land anywhere among the existing ones) every change goes in by itself, which measured faster
/// there: 200,000 rows with a random text index ingested at 60–62k rows/s with cursors in every
/// space, 75–80k with plain inserts everywhere, 104–108k with cursors in these two spaces only.
fn write_run(
    txn: &redb::WriteTransaction,
    space: Space,
    run: &[(&[u8], Option<&[u8]>)],
    file: &Path,
) -> Result<()> {
    let mut t: WriteTable<'_> = txn
        .open_table(definition(space))
        .map_err(|e| rerr(file, e))?;
    let plain = |t: &mut WriteTable<'_>, k: &[u8], v: Option<&[u8]>| {
        match v {
            Some(v) => t.insert(k, v).map(|_| ()),
            None => t.remove(k).map(|_| ()),
        }
        .map_err(|e| rerr(file, e))
    };
    if run.len() < CURSOR_RUN || !matches!(space, Space::Rows | Space::Hist) {
        // index entries land anywhere among the existing ones, and a cursor costs more than
        // it saves for a few keys: one seek each
        for &(k, v) in run {
            plain(&mut t, k, v)?;
        }
        return Ok(());
    }
    // keys to write one by one before a cursor is tried again, and how many after the next miss
    let (mut one_by_one, mut after_miss) = (0usize, PLAIN_AFTER_MISS);
    let mut i = 0;
    while let Some(&(first, v)) = run.get(i) {
        if v.is_none() || one_by_one > 0 || run.len() - i < CURSOR_RUN {
            plain(&mut t, first, v)?;
            one_by_one = one_by_one.saturating_sub(1);
            i += 1;
            continue;
        }
        let mut cursor = t
            .lower_bound_mut(Bound::Included(first))
            .map_err(|e| rerr(file, e))?;
        let mut last: Option<&[u8]> = None;
        let mut written = 0usize;
        // the key the stretch stopped at replaces an entry
        let mut replaces = false;
        while let Some(&(k, Some(v))) = run.get(i) {
            if last.is_some_and(|l| k <= l) {
                break;
            }
            let next = cursor
                .peek_next()
                .map_err(|e| rerr(file, e))?
                .map(|(nk, _)| nk.value().cmp(k));
            match next {
                // an entry before the key: seek again from the key
                Some(std::cmp::Ordering::Less) => break,
                Some(std::cmp::Ordering::Equal) => {
                    replaces = true;
                    break;
                }
                Some(std::cmp::Ordering::Greater) | None => {
                    cursor.insert_before(k, v).map_err(|e| cerr(file, e))?;
                }
            }
            last = Some(k);
            written += 1;
            i += 1;
        }
        cursor.close().map_err(|e| rerr(file, e))?;
        if replaces {
            // a plain insert replaces in place: through the cursor (a removal, then an insert)
            // an update of 1,000 neighbouring rows cost twice as much
            if let Some(&(k, v)) = run.get(i) {
                plain(&mut t, k, v)?;
                i += 1;
            }
        }
        if written <= 1 {
            one_by_one = after_miss;
            after_miss = after_miss.saturating_mul(2);
        } else {
            after_miss = PLAIN_AFTER_MISS;
        }
    }
    Ok(())
}

/// Keys written one by one after a cursor wrote a single key (doubled on each such miss in a
/// row; see [`write_run`]).
const PLAIN_AFTER_MISS: usize = 4;

/// The fewest changes of a space that [`write_run`] writes through a cursor.
const CURSOR_RUN: usize = 4;

/// A cursor insert's error: an out-of-order key is a bug of [`write_run`], not damage.
fn cerr(file: &Path, e: redb::CursorError) -> Error {
    match e {
        redb::CursorError::UnorderedKey => Error::Storage(format!(
            "{}: a key was written out of order into the views",
            file.display()
        )),
        other => rerr(file, other),
    }
}

impl View<'_> {
    /// [`ReadView::visit`] over a redb table: the pairs are lent from redb's pages; a panic
    /// inside redb is `Corrupted` (as [`guarded`] makes it), one inside the caller's `f` is not
    /// caught.
    fn visit_views(
        &self,
        space: Space,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        reverse: bool,
        f: &mut Visitor<'_>,
    ) -> Result<()> {
        if empty_range(&start, &end) {
            return Ok(());
        }
        let t = self.table(space)?;
        let file = self.engine.file();
        // One unwind guard for the whole walk: a panic inside redb is damage, and one inside
        // `f` (set while it runs) goes on unwinding as it would have without the guard.
        let mut in_f = false;
        let walk = catch_unwind(AssertUnwindSafe(|| -> Result<()> {
            let mut it = t.range((start, end)).map_err(|e| rerr(file, e))?;
            loop {
                let step = if reverse { it.next_back() } else { it.next() };
                let Some(item) = step else {
                    return Ok(());
                };
                let (k, v) = item.map_err(|e| rerr(file, e))?;
                // redb's bytes taken before `f` runs: a panic while lending them is redb's
                let (k, v) = (k.value(), v.value());
                in_f = true;
                let more = f(k, v)?;
                in_f = false;
                if !more {
                    return Ok(());
                }
            }
        }));
        match walk {
            Ok(r) => r,
            Err(payload) if in_f => std::panic::resume_unwind(payload),
            Err(_) => Err(panicked(file)),
        }
    }
}

/// An iterator whose every step runs under [`guarded`]; it ends after an error.
struct Guarded<'a> {
    inner: KvIter<'a>,
    file: &'a Path,
    done: bool,
}

impl Iterator for Guarded<'_> {
    type Item = Result<KvPair>;

    fn next(&mut self) -> Option<Result<KvPair>> {
        if self.done {
            return None;
        }
        let inner = &mut self.inner;
        let step = match catch_unwind(AssertUnwindSafe(|| inner.next())) {
            Ok(step) => step,
            Err(_) => Some(Err(panicked(self.file))),
        };
        if matches!(step, Some(Err(_)) | None) {
            self.done = true;
        }
        step
    }
}

impl Engine for FjallRedb {
    fn kind(&self) -> EngineKind {
        EngineKind::FjallRedb
    }

    fn read(&self) -> Result<Box<dyn ReadView + '_>> {
        let snap = {
            let _consistent = self.apply.read();
            let mut shared = self.shared.lock();
            match shared.as_ref() {
                Some(s) => s.clone(),
                None => {
                    let file = self.file();
                    let views = self.views.read();
                    let db = views.as_ref().ok_or_else(|| self.closed())?;
                    let txn = guarded(file, || db.begin_read().map_err(|e| rerr(file, e)))?;
                    let s = std::sync::Arc::new(Snap {
                        id: NEXT_SNAP.fetch_add(1, Ordering::Relaxed),
                        log: self.log.snapshot(),
                        txn,
                        tables: Default::default(),
                    });
                    *shared = Some(s.clone());
                    s
                }
            }
        };
        Ok(Box::new(View {
            engine: self,
            log: std::sync::OnceLock::new(),
            snap,
        }))
    }

    fn write(&self, batch: &Batch) -> Result<()> {
        self.apply(|| batch.iter(), batch.views_at())
    }

    fn write_group(&self, group: &[std::sync::Arc<Batch>]) -> Result<()> {
        if let [one] = group {
            return self.write(one);
        }
        let changes = super::group_changes(group);
        let views_at = group.iter().filter_map(|b| b.views_at()).max();
        self.apply(|| changes.iter().copied(), views_at)
    }

    fn sync(&self) -> Result<()> {
        let synced = self.log.sync();
        if synced.is_err() {
            self.failed.store(true, Ordering::Release);
        }
        synced?;
        if self.dirty.load(Ordering::Acquire)
            && self.durable_at.lock().elapsed() >= VIEWS_DURABLE_EVERY
        {
            self.persist_views()?;
        }
        Ok(())
    }

    fn persist(&self) -> Result<()> {
        self.persist_views()
    }

    fn close(&self) -> Result<()> {
        self.persist_views()?;
        self.log.close_flushed()
    }

    fn finish_load(&self) -> Result<()> {
        let file = self.file();
        guarded(file, || {
            let mut views = self.views.write();
            let db = views.as_mut().ok_or_else(|| self.closed())?;
            // Balanced: the loaded pages are already full, only the free ones need to go
            while db
                .compact(redb::CompactionMode::Balanced)
                .map_err(|e| rerr(file, e))?
            {}
            Ok(())
        })
    }

    fn views_at(&self) -> Result<Option<Vec<u8>>> {
        Ok(Some(self.views_at.lock().clone()))
    }

    fn snapshots_hold_writes(&self) -> bool {
        false
    }

    fn disk_bytes(&self) -> Result<u64> {
        let file = self.file();
        let views = std::fs::metadata(file)
            .map_err(|e| Error::io(file, e))?
            .len();
        Ok(self.log.disk_bytes()? + views)
    }

    /// fjall's table files against their checksums, and every page of the views file against
    /// its checksum (redb's integrity check, which needs no read view open: it waits up to
    /// about ten seconds for the ones open to close).
    fn check_files(&self) -> Result<Vec<String>> {
        let mut problems = self.log.check_files()?;
        let file = self.file();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            drop(self.shared.lock().take());
            let checked = guarded(file, || {
                let mut views = self.views.write();
                let db = views.as_mut().ok_or_else(|| self.closed())?;
                match db.check_integrity() {
                    Ok(true) => Ok(Some(None)),
                    Ok(false) => Ok(Some(Some(format!(
                        "{}: a page does not match its checksum (redb repaired what it could)",
                        file.display()
                    )))),
                    Err(redb::DatabaseError::TransactionInProgress) => Ok(None),
                    Err(e) => Ok(Some(Some(format!("{}: {e}", file.display())))),
                }
            });
            match checked {
                Ok(Some(found)) => {
                    problems.extend(found);
                    break;
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => {
                    problems.push(format!(
                        "{}: not checked: read views stayed open for ten seconds",
                        file.display()
                    ));
                    break;
                }
                Err(e) => {
                    problems.push(e.to_string());
                    break;
                }
            }
        }
        Ok(problems)
    }

    fn load_sorted(
        &self,
        space: Space,
        items: &mut dyn Iterator<Item = Result<KvPair>>,
    ) -> Result<()> {
        if in_log(space) {
            let mut last: Option<Vec<u8>> = None;
            let mut tracked = items.inspect(|item| {
                if let Ok((k, _)) = item {
                    last = Some(k.clone());
                }
            });
            self.log.load_sorted(space, &mut tracked)?;
            drop(tracked);
            if let (Space::Log, Some(at)) = (space, last) {
                let mut b = Batch::default();
                b.set_views_at(at);
                self.write(&b)?;
            }
            return Ok(());
        }
        super::write_in_chunks(&|b| self.write(b), space, items, 16 << 20)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        let e = FjallRedb::open_cached(dir.path(), false, 8 << 20).unwrap();
        super::super::conformance::run(&e);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Batches and groups of puts and deletes over a small key range (so that keys meet
        /// existing ones, neighbours and gaps) read back as a map applying them in order does,
        /// in the spaces written through cursors and in the others.
        #[test]
        fn cursor_writes_read_back_like_a_map(
            batches in proptest::collection::vec(
                proptest::collection::vec(
                    (0u8..3, proptest::collection::vec(0u8..6, 1..4), proptest::option::of(0u8..4)),
                    0..24,
                ),
                1..8,
            ),
            grouped in proptest::bool::ANY,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let e = FjallRedb::open_cached(dir.path(), false, 8 << 20).unwrap();
            let spaces = [Space::Rows, Space::Hist, Space::Index];
            let mut model: std::collections::BTreeMap<(usize, Vec<u8>), Vec<u8>> =
                std::collections::BTreeMap::new();
            let mut made = Vec::new();
            for ops in &batches {
                let mut b = Batch::default();
                for (sp, k, v) in ops {
                    let space = spaces[usize::from(*sp)];
                    match v {
                        Some(v) => {
                            b.put(space, k.clone(), vec![*v]);
                            model.insert((usize::from(*sp), k.clone()), vec![*v]);
                        }
                        None => {
                            b.delete(space, k.clone());
                            model.remove(&(usize::from(*sp), k.clone()));
                        }
                    }
                }
                made.push(std::sync::Arc::new(b));
            }
            if grouped {
                e.write_group(&made).unwrap();
            } else {
                for b in &made {
                    e.write(b).unwrap();
                }
            }
            let view = e.read().unwrap();
            for (i, space) in spaces.iter().enumerate() {
                let got: Vec<(Vec<u8>, Vec<u8>)> = view
                    .range(*space, Bound::Unbounded, Bound::Unbounded, false)
                    .unwrap()
                    .map(|r| r.unwrap())
                    .collect();
                let want: Vec<(Vec<u8>, Vec<u8>)> = model
                    .iter()
                    .filter(|((s, _), _)| *s == i)
                    .map(|((_, k), v)| (k.clone(), v.clone()))
                    .collect();
                proptest::prop_assert_eq!(got, want, "{:?}", space);
            }
        }
    }

    #[test]
    fn views_at_follows_the_log_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let e = FjallRedb::open_cached(dir.path(), false, 8 << 20).unwrap();
            assert_eq!(e.views_at().unwrap(), Some(Vec::new()));
            let mut b = Batch::default();
            b.put(Space::Log, 5u64.to_be_bytes().to_vec(), vec![1]);
            b.put(Space::Rows, vec![1], vec![2]);
            e.write(&b).unwrap();
            assert_eq!(e.views_at().unwrap(), Some(5u64.to_be_bytes().to_vec()));
            // a batch that says so moves it on; an older key does not move it back
            let mut b = Batch::default();
            b.put(Space::Rows, vec![2], vec![3]);
            b.set_views_at(7u64.to_be_bytes().to_vec());
            e.write(&b).unwrap();
            let mut b = Batch::default();
            b.put(Space::Log, 3u64.to_be_bytes().to_vec(), vec![9]);
            e.write(&b).unwrap();
            assert_eq!(e.views_at().unwrap(), Some(7u64.to_be_bytes().to_vec()));
            let v = e.read().unwrap();
            assert_eq!(
                v.get(Space::Log, &3u64.to_be_bytes()).unwrap(),
                Some(vec![9])
            );
            assert_eq!(v.get(Space::Rows, &[2]).unwrap(), Some(vec![3]));
        }
        assert!(
            dir.path().join(CLEAN_FILE).is_file(),
            "a clean close says so"
        );
        let e = FjallRedb::open_cached(dir.path(), true, 8 << 20).unwrap();
        assert_eq!(e.views_at().unwrap(), Some(7u64.to_be_bytes().to_vec()));
        assert_eq!(
            e.read().unwrap().get(Space::Rows, &[1]).unwrap(),
            Some(vec![2])
        );
    }

    #[test]
    fn a_views_file_changed_after_a_clean_close_is_checked_page_by_page() {
        let dir = tempfile::tempdir().unwrap();
        {
            let e = FjallRedb::open_cached(dir.path(), false, 8 << 20).unwrap();
            let mut b = Batch::default();
            for i in 0u32..5_000 {
                b.put(Space::Rows, i.to_be_bytes().to_vec(), vec![7u8; 64]);
            }
            e.write(&b).unwrap();
        }
        let file = dir.path().join(VIEWS_FILE);
        let mut bytes = std::fs::read(&file).unwrap();
        // a byte inside the rows' leaf pages (past redb's header and first pages)
        let at = bytes.len() / 2;
        bytes[at] ^= 0x40;
        std::fs::write(&file, &bytes).unwrap();
        match FjallRedb::open_cached(dir.path(), true, 8 << 20) {
            Err(e) => assert!(matches!(e, Error::Corrupted { .. }), "{e}"),
            Ok(e) => {
                // the flipped byte was in free space: every answer is still right
                let v = e.read().unwrap();
                for i in 0u32..5_000 {
                    assert_eq!(
                        v.get(Space::Rows, &i.to_be_bytes()).unwrap(),
                        Some(vec![7u8; 64])
                    );
                }
            }
        }
    }

    #[test]
    fn a_missing_views_file_of_an_existing_store_is_corrupted() {
        let dir = tempfile::tempdir().unwrap();
        drop(FjallRedb::open_cached(dir.path(), false, 8 << 20).unwrap());
        std::fs::remove_file(dir.path().join(VIEWS_FILE)).unwrap();
        let err = FjallRedb::open_cached(dir.path(), true, 8 << 20)
            .err()
            .unwrap();
        assert!(matches!(err, Error::Corrupted { .. }), "{err}");
    }
}
