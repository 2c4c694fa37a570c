//! The store on disk: its folder (the `LAZARUS` marker, the durable high-water mark `HWM`, the
//! folder lock), opening and creating it with every check a damaged store must fail
//! (`docs/design.md` §2), the format migration, and the state every transaction shares: the
//! commit pipeline, the writer lock and counters, the catalog, the published LSN.
//!
//! The facade (`Db`) and the write path (`Transaction`) sit above it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::ThreadId;

use parking_lot::{Mutex, RwLock};

use crate::codec::{self, Space};
use crate::commit::{Durability, Pipeline};
use crate::error::{Error, Result};
use crate::log;
use crate::schema::Catalog;
use crate::storage::{Batch, Engine, EngineKind};
use crate::value::Timestamp;
use crate::views;

/// The store format version this build writes and reads. Older stores are migrated at open
/// (design §4: format 2 writes no hist entry for a live row's Insert; format 3 keeps past
/// index entries; format 4 encodes ints in keys in fewer bytes, and an older store's views are
/// written again from its log).
pub const FORMAT_VERSION: u32 = 4;

pub(crate) const MARKER: &str = "LAZARUS";

/// The durable high-water mark beside the engine's files: the last LSN known to be on disk.
pub(crate) const HWM: &str = "HWM";

/// How often an Immediate commit refreshes the high-water mark (one extra small fsync).
pub(crate) const HWM_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Reads the high-water mark: `None` when there is none (a new store, or one from before it).
pub(crate) fn read_hwm(dir: &Path) -> Result<Option<u64>> {
    let path = dir.join(HWM);
    match std::fs::read(&path) {
        Ok(b) if b.len() == 12 => {
            let (lsn, crc) = b.split_at(8);
            let lsn_arr = <[u8; 8]>::try_from(lsn).map_err(|_| Error::corrupted(HWM, "short"))?;
            let crc_arr = <[u8; 4]>::try_from(crc).map_err(|_| Error::corrupted(HWM, "short"))?;
            if crc32fast::hash(&lsn_arr) != u32::from_be_bytes(crc_arr) {
                return Err(Error::corrupted(
                    path.display().to_string(),
                    "the durable high-water mark fails its checksum",
                ));
            }
            Ok(Some(u64::from_be_bytes(lsn_arr)))
        }
        Ok(_) => Err(Error::corrupted(
            path.display().to_string(),
            "the durable high-water mark is not 12 bytes",
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Writes the high-water mark durably (write a temporary file, fsync, rename, fsync the
/// folder so that the rename itself survives a power loss).
pub(crate) fn write_hwm(dir: &Path, lsn: u64) -> Result<()> {
    let tmp = dir.join(format!("{HWM}.tmp"));
    let mut body = lsn.to_be_bytes().to_vec();
    body.extend_from_slice(&crc32fast::hash(&lsn.to_be_bytes()).to_be_bytes());
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(&body).map_err(|e| Error::io(&tmp, e))?;
    f.sync_data().map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, dir.join(HWM)).map_err(|e| Error::io(dir.join(HWM), e))?;
    sync_dir(dir)
}

/// fsyncs a folder (its entries: a rename or a new file in it).
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

pub(crate) const MARKER_HEAD: &str = "lazarusdb store";

/// How to open a store.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The engine. `None`: the engine the store was created with, or fjall for a new store.
    pub engine: Option<EngineKind>,
    /// Default durability of commits (a transaction may override it).
    pub durability: Durability,
    /// Refuse to create a new store (open an existing one only).
    pub must_exist: bool,
    /// Where commit times come from (the system clock unless a test sets a manual one).
    pub clock: Clock,
    /// The most memory, in bytes, the live views may keep of their pages once read (the
    /// fjall-redb engine's page cache; the other engines keep their own fixed caches). `None`:
    /// [`DEFAULT_CACHE_BYTES`]. Pages are cached as reads reach them, so a small store never
    /// takes this much; a store whose views outgrow it reads the pages it lacks from the file.
    pub cache_bytes: Option<usize>,
}

pub use crate::storage::DEFAULT_CACHE_BYTES;

/// The source of commit times. Commit times never decrease along the log whatever the clock
/// does: each commit takes `max(clock, previous commit time)`.
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    /// The system wall clock.
    pub fn system() -> Clock {
        Clock(None)
    }

    /// A clock that shows what its handle sets (microseconds since the epoch); for tests of
    /// clocks that stand still or step backwards.
    pub fn manual(start: Timestamp) -> (Clock, Arc<AtomicI64>) {
        let cell = Arc::new(AtomicI64::new(start.0));
        (Clock(Some(cell.clone())), cell)
    }

    /// The current time of this clock.
    pub fn now(&self) -> Timestamp {
        match &self.0 {
            Some(cell) => Timestamp(cell.load(Ordering::SeqCst)),
            None => Timestamp::now(),
        }
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Clock::manual"
        } else {
            "Clock::system"
        })
    }
}

impl Options {
    /// Options with an explicit engine.
    pub fn engine(mut self, e: EngineKind) -> Options {
        self.engine = Some(e);
        self
    }

    /// Options with a clock.
    pub fn clock(mut self, c: Clock) -> Options {
        self.clock = c;
        self
    }

    /// Options with a default durability.
    pub fn durability(mut self, d: Durability) -> Options {
        self.durability = d;
        self
    }

    /// Options with a bound on the views' page cache (see [`Options::cache_bytes`]).
    pub fn cache_bytes(mut self, bytes: usize) -> Options {
        self.cache_bytes = Some(bytes);
        self
    }
}

pub(crate) struct WriterState {
    pub(crate) next_lsn: u64,
    pub(crate) next_tx: u64,
    pub(crate) last_at: Timestamp,
}

/// The last committed LSN and transaction id, readable without the writer lock.
#[derive(Default)]
pub(crate) struct Published {
    last_lsn: AtomicU64,
    last_tx: AtomicU64,
    /// Woken after every commit is published: the change feed waits on it.
    signal: (parking_lot::Mutex<()>, parking_lot::Condvar),
}

impl Published {
    pub(crate) fn store(&self, lsn: u64, tx: u64) {
        self.last_tx.store(tx, Ordering::Release);
        self.last_lsn.store(lsn, Ordering::Release);
    }

    /// Moves forward only: commits applied out of order never move it back. Wakes the
    /// change feed's waiters.
    pub(crate) fn advance(&self, lsn: u64, tx: u64) {
        self.last_tx.fetch_max(tx, Ordering::AcqRel);
        self.last_lsn.fetch_max(lsn, Ordering::AcqRel);
        let _held = self.signal.0.lock();
        self.signal.1.notify_all();
    }

    /// Waits until an LSN after `seen` is published, or `timeout` passes; returns the last
    /// published LSN.
    pub(crate) fn wait_past(&self, seen: u64, timeout: std::time::Duration) -> u64 {
        let mut held = self.signal.0.lock();
        if self.lsn() <= seen {
            let _ = self.signal.1.wait_for(&mut held, timeout);
        }
        self.lsn()
    }

    pub(crate) fn lsn(&self) -> u64 {
        self.last_lsn.load(Ordering::Acquire)
    }

    pub(crate) fn tx(&self) -> u64 {
        self.last_tx.load(Ordering::Acquire)
    }
}

pub(crate) struct Inner {
    pub(crate) pipeline: Pipeline,
    pub(crate) published: Published,
    pub(crate) engine: Arc<dyn Engine>,
    pub(crate) catalog: RwLock<Arc<Catalog>>,
    /// On a store shared between processes, the catalog last loaded from a view and that
    /// view's catalog stamp ([`crate::storage::ReadView::catalog_stamp`]).
    pub(crate) stamped_catalog: Mutex<Option<(u64, Arc<Catalog>)>>,
    /// The catalog of the last as-of view and the LSN of the newest schema event it holds
    /// (see [`records::catalog_at_cached`](crate::records::catalog_at_cached)).
    pub(crate) as_of_catalog: crate::records::CatalogMemo,
    /// The tables' history limits last read for an as-of view, by engine snapshot.
    pub(crate) as_of_limits: crate::records::LimitsMemo,
    /// The last LSN an as-of view was asked for and the end of its transaction, which a
    /// committed event never changes.
    pub(crate) as_of_point: Mutex<Option<(u64, u64)>>,
    /// The writer lock and the counters it guards.
    pub(crate) writer: Mutex<WriterState>,
    /// The thread that holds the writer lock (a second `begin` on it is `NestedTransaction`).
    pub(crate) owner: Mutex<Option<ThreadId>>,
    pub(crate) options: Options,
    /// The store folder (`None` in memory).
    pub(crate) path: Option<PathBuf>,
    /// When the high-water mark was last written in this process (`None`: not yet, so the
    /// first durable commit writes it), and the LSN it holds.
    pub(crate) hwm: Mutex<(Option<std::time::Instant>, u64)>,
    /// Set once the store was closed (by `Db::close`, or by the drop that closes it).
    pub(crate) closed: bool,
    /// The temporary folder of a `Db::temporary` store, removed when dropped.
    pub(crate) _temp: Option<tempfile::TempDir>,
    /// The store folder's lock (an exclusive lock on its `LAZARUS` file), held while open.
    pub(crate) lock: Option<std::fs::File>,
}

impl Inner {
    /// After a commit that rewrote history: the checkpoint may hold what was purged.
    pub(crate) fn history_rewritten(&self) -> Result<()> {
        match &self.path {
            Some(dir) => crate::compact::drop_checkpoint(dir),
            None => Ok(()),
        }
    }

    /// For a store other processes write too, under its write lock: moves the writer state up
    /// to the log's end as `view` has it (LSN, transaction, commit time), publishes it, and
    /// returns the catalog as `view` has it (also made this process's).
    pub(crate) fn catch_up_shared(
        &self,
        view: &dyn crate::storage::ReadView,
        state: &mut WriterState,
    ) -> Result<Arc<crate::schema::Catalog>> {
        let (last_lsn, last) = log::last_positions(view)?;
        state.next_lsn = state.next_lsn.max(last_lsn + 1);
        if let Some(rec) = &last {
            state.next_tx = state.next_tx.max(rec.tx + 1);
            state.last_at = state.last_at.max(rec.at);
        }
        self.published
            .advance(last_lsn, last.as_ref().map(|r| r.tx).unwrap_or(0));
        self.catalog_for(view)
    }

    /// The catalog to read `view` with: this process's, or on a store other processes write
    /// too (which may have changed the schema) the one `view` holds (made this process's).
    pub(crate) fn catalog_for(
        &self,
        view: &dyn crate::storage::ReadView,
    ) -> Result<Arc<crate::schema::Catalog>> {
        if !self.engine.shared() {
            return Ok(self.catalog.read().clone());
        }
        // another process may have changed it: the catalog loaded last serves while the view's
        // stamp is the one it was loaded with
        let stamp = view.catalog_stamp();
        if let (Some(now), Some((then, catalog))) = (stamp, self.stamped_catalog.lock().as_ref()) {
            if now == *then {
                return Ok(catalog.clone());
            }
        }
        let fresh = Arc::new(crate::records::load_catalog(view)?);
        *self.catalog.write() = fresh.clone();
        *self.stamped_catalog.lock() = stamp.map(|s| (s, fresh.clone()));
        Ok(fresh)
    }

    pub(crate) fn release_writer(&self) {
        *self.owner.lock() = None;
    }

    /// Called after a commit up to `lsn` is durable: writes the high-water mark on the first
    /// durable commit of the process and then at most every [`HWM_EVERY`], so that a later open
    /// can tell when the engine lost durable commits. Best effort: the commit is already
    /// durable, so a failure here only weakens that detection.
    pub(crate) fn durable_up_to(&self, lsn: u64) {
        let Some(dir) = &self.path else { return };
        let mut hwm = self.hwm.lock();
        let due = hwm.0.is_none_or(|at| at.elapsed() >= HWM_EVERY);
        if lsn > hwm.1 && due && write_hwm(dir, lsn).is_ok() {
            *hwm = (Some(std::time::Instant::now()), lsn);
        }
    }
}

/// What a store's `LAZARUS` marker says.
pub(crate) struct Marker {
    /// The format version written in it (a newer one is refused while reading it).
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "only the unit tests read it back")
    )]
    pub(crate) format: u32,
    pub(crate) engine: EngineKind,
    /// The store was created completely and keeps a durable high-water mark: a missing `HWM`
    /// or a missing engine folder is damage. (A marker without it: a store being created, or
    /// one written by a build from before the mark was kept.)
    pub(crate) complete: bool,
}

/// The marker line of a complete store.
pub(crate) const MARKER_COMPLETE: &str = "hwm kept";

pub(crate) fn read_marker(dir: &Path) -> Result<Option<Marker>> {
    let marker = dir.join(MARKER);
    let text = match std::fs::read_to_string(&marker) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            return Err(Error::NotAStore {
                path: dir.to_path_buf(),
                why: "its LAZARUS file is not a lazarusdb marker".into(),
            })
        }
        Err(e) => return Err(Error::io(&marker, e)),
    };
    let mut lines = text.lines();
    if lines.next() != Some(MARKER_HEAD) {
        return Err(Error::NotAStore {
            path: dir.to_path_buf(),
            why: "its LAZARUS file is not a lazarusdb marker".into(),
        });
    }
    let mut format = None;
    let mut engine = None;
    let mut complete = false;
    for line in lines {
        match line.split_once(' ') {
            Some(("format", v)) => format = v.trim().parse::<u32>().ok(),
            Some(("engine", v)) => engine = Some(v.trim().to_string()),
            _ if line.trim() == MARKER_COMPLETE => complete = true,
            _ => {}
        }
    }
    let format =
        format.ok_or_else(|| Error::corrupted(marker.display().to_string(), "no format line"))?;
    if format > FORMAT_VERSION {
        return Err(Error::NewerFormat {
            found: format,
            supported: FORMAT_VERSION,
        });
    }
    let engine = engine
        .as_deref()
        .and_then(EngineKind::parse)
        .ok_or_else(|| Error::corrupted(marker.display().to_string(), "no known engine line"))?;
    Ok(Some(Marker {
        format,
        engine,
        complete,
    }))
}

/// The format version a store records in its meta space (`None`: a new store).
pub(crate) fn read_format(view: &dyn crate::storage::ReadView) -> Result<Option<u32>> {
    match view.get(Space::Meta, codec::META_FORMAT)? {
        None => Ok(None),
        Some(f) => <[u8; 4]>::try_from(f.as_slice())
            .map(|b| Some(u32::from_be_bytes(b)))
            .map_err(|_| Error::corrupted("meta", "format version is not 4 bytes")),
    }
}

/// Which engine wrote the files in a data folder, by their names: fjall keeps `version` and
/// `keyspaces`, sled `db` and `conf`. `None` when neither (a new or emptied folder).
pub(crate) fn engine_of_files(data: &Path) -> Option<EngineKind> {
    if crate::storage::fjall_redb::holds_files(data) {
        Some(EngineKind::FjallRedb)
    } else if data.join("version").exists() && data.join("keyspaces").exists() {
        Some(EngineKind::Fjall)
    } else if data.join("db").exists() && data.join("conf").exists() {
        Some(EngineKind::Sled)
    } else {
        None
    }
}

/// Takes the exclusive lock of a store folder (on its `LAZARUS` file): one process at a time.
pub(crate) fn lock_store(dir: &Path) -> Result<std::fs::File> {
    let marker = dir.join(MARKER);
    let f = std::fs::File::open(&marker).map_err(|e| Error::io(&marker, e))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&marker, e)),
    }
}

pub(crate) fn write_marker(dir: &Path, engine: EngineKind, complete: bool) -> Result<()> {
    let tmp = dir.join(format!("{MARKER}.tmp"));
    let body = format!(
        "{MARKER_HEAD}\nformat {FORMAT_VERSION}\nengine {}\n{}",
        engine.name(),
        if complete {
            format!("{MARKER_COMPLETE}\n")
        } else {
            String::new()
        }
    );
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(body.as_bytes())
        .map_err(|e| Error::io(&tmp, e))?;
    f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    let marker = dir.join(MARKER);
    std::fs::rename(&tmp, &marker).map_err(|e| Error::io(&marker, e))?;
    sync_dir(dir)
}

impl Inner {
    /// Opens the store at `dir`, taking its folder lock unless `held` is already it.
    pub(crate) fn open(dir: &Path, options: Options, held: Option<std::fs::File>) -> Result<Inner> {
        if options.engine == Some(EngineKind::Memory) {
            return Err(Error::invalid(
                "the memory engine keeps nothing on disk: use Db::memory() instead of a path",
            ));
        }
        // (engine, complete): a complete store must have every file it keeps
        let (engine_kind, complete) = match std::fs::metadata(dir) {
            Ok(m) if !m.is_dir() => {
                return Err(Error::NotAStore {
                    path: dir.to_path_buf(),
                    why: "this is a file, not a store folder".into(),
                })
            }
            Ok(_) => match read_marker(dir)? {
                Some(marker) => {
                    let found = marker.engine;
                    if let Some(req) = options.engine {
                        if req != found {
                            return Err(Error::EngineMismatch {
                                found: found.name().into(),
                                requested: req.name().into(),
                            });
                        }
                    }
                    (found, marker.complete)
                }
                None => {
                    let mut entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
                    if entries.next().is_some() {
                        return Err(Error::NotAStore {
                            path: dir.to_path_buf(),
                            why: "the folder is not empty and holds no lazarusdb store (no LAZARUS file)".into(),
                        });
                    }
                    if options.must_exist {
                        return Err(Error::NotAStore {
                            path: dir.to_path_buf(),
                            why: "no store here".into(),
                        });
                    }
                    let e = options.engine.unwrap_or_default();
                    write_marker(dir, e, false)?;
                    (e, false)
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if options.must_exist {
                    return Err(Error::NotAStore {
                        path: dir.to_path_buf(),
                        why: "no store here".into(),
                    });
                }
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                let e = options.engine.unwrap_or_default();
                write_marker(dir, e, false)?;
                (e, false)
            }
            Err(e) => return Err(Error::io(dir, e)),
        };
        // The folder lock comes first: recovering an interrupted compaction must never race
        // another process that has the store open (or is compacting it).
        let lock = match held {
            Some(f) => f,
            None => lock_store(dir)?,
        };
        crate::compact::recover(dir, engine_kind)?;
        let data = dir.join(crate::compact::DATA);
        if let Some(found) = engine_of_files(&data) {
            if found != engine_kind {
                // Opening them with the other engine would write that engine's files among them.
                return Err(Error::corrupted(
                    dir.join(MARKER).display().to_string(),
                    format!(
                        "the marker says the store runs on {engine_kind}, but its data folder \
                         holds {found}'s files: the marker is damaged; nothing was opened"
                    ),
                ));
            }
        }
        if complete && read_hwm(dir)?.is_none() {
            return Err(Error::corrupted(
                dir.join(HWM).display().to_string(),
                "the store's durable high-water mark is missing (the store keeps one from its \
                 creation on): files of the store were lost; restore it from a backup",
            ));
        }
        let engine: Arc<dyn Engine> = Arc::from(crate::storage::open_engine_cached(
            engine_kind,
            &data,
            complete,
            options.cache_bytes.unwrap_or(DEFAULT_CACHE_BYTES),
        )?);
        if engine
            .read()?
            .get(Space::Meta, codec::META_COMPACTION)?
            .is_some()
        {
            // A compaction's copy, swapped in (its marker is gone): the id that tied it to the
            // marker has done its job.
            let mut b = Batch::default();
            b.delete(Space::Meta, codec::META_COMPACTION.to_vec());
            engine.write(&b)?;
            engine.persist()?;
        }
        let current = read_format(engine.read()?.as_ref())?.is_none_or(|f| f >= FORMAT_VERSION);
        if let (true, Some(at)) = (current, engine.views_at()?) {
            // Views kept apart from the log lag behind it after a crash: the events after
            // them are replayed before anything reads them. (The views of an older format are
            // written again from the whole log when it is migrated.)
            views::catch_up(engine.as_ref(), &at)?;
        }
        let mut db = Inner::start(engine, options, Some(dir.to_path_buf()), None)?;
        db.lock = Some(lock);
        if !complete {
            // A new store (or one from a build that kept no mark) is complete from now on: the
            // mark first, then the marker line that makes it required.
            let lsn = db.published.lsn();
            write_hwm(dir, lsn)?;
            // (the first durable commit still writes it: `None`)
            *db.hwm.lock() = (None, lsn);
            write_marker(dir, engine_kind, true)?;
        }
        db.drop_stale_checkpoint()?;
        Ok(db)
    }

    pub(crate) fn start(
        engine: Arc<dyn Engine>,
        options: Options,
        path: Option<PathBuf>,
        temp: Option<tempfile::TempDir>,
    ) -> Result<Inner> {
        let view = engine.read()?;
        let format = read_format(view.as_ref())?;
        let fresh = format.is_none();
        if let Some(v) = format {
            if v > FORMAT_VERSION {
                return Err(Error::NewerFormat {
                    found: v,
                    supported: FORMAT_VERSION,
                });
            }
        }
        let (last_lsn, last_tx) = log::last_positions(view.as_ref())?;
        drop(view);
        let hwm = match &path {
            Some(dir) => read_hwm(dir)?.unwrap_or(0),
            None => 0,
        };
        if last_lsn < hwm {
            return Err(Error::DataLoss {
                found: last_lsn,
                durable: hwm,
            });
        }
        if format.is_some_and(|v| v < FORMAT_VERSION) {
            // A store other processes open too (a shared engine): one upgrade at a time, under
            // the store's write lock, and none once another opener has finished it.
            let _turn = engine.lock_writes()?;
            if read_format(engine.read()?.as_ref())?.is_some_and(|v| v < FORMAT_VERSION) {
                // A damaged log is reported before anything is written: the store stays as it
                // was, readable by the build that wrote it.
                views::check_log_decodes(engine.as_ref())?;
                // The marker first: from then on an older build refuses the store, whose views
                // are half migrated until `meta/format` records the new format.
                if let Some(dir) = &path {
                    write_marker(dir, engine.kind(), read_hwm(dir)?.is_some())?;
                }
                // Every older format's view keys encode ints in nine bytes: the views are written
                // again from the log (which holds no key), whatever else that format lacked.
                views::rewrite_from_log(engine.as_ref())?;
                let mut b = Batch::default();
                b.put(
                    Space::Meta,
                    codec::META_FORMAT.to_vec(),
                    FORMAT_VERSION.to_be_bytes().to_vec(),
                );
                engine.write(&b)?;
                engine.persist()?;
            }
        }
        let catalog = crate::records::load_catalog(engine.read()?.as_ref())?;
        if fresh {
            let mut b = Batch::default();
            b.put(
                Space::Meta,
                codec::META_FORMAT.to_vec(),
                FORMAT_VERSION.to_be_bytes().to_vec(),
            );
            b.put(
                Space::Meta,
                codec::META_ENGINE.to_vec(),
                engine.kind().name().as_bytes().to_vec(),
            );
            engine.write(&b)?;
            engine.persist()?;
        }
        let state = WriterState {
            next_lsn: last_lsn + 1,
            next_tx: last_tx.as_ref().map_or(1, |t| t.tx + 1),
            last_at: last_tx.map_or(Timestamp(i64::MIN), |t| t.at),
        };
        let published = Published::default();
        published.store(state.next_lsn - 1, state.next_tx - 1);
        let pipeline = Pipeline::start(engine.clone())?;
        Ok(Inner {
            pipeline,
            published,
            engine,
            catalog: RwLock::new(Arc::new(catalog)),
            stamped_catalog: Mutex::new(None),
            as_of_catalog: Mutex::new(None),
            as_of_limits: Mutex::new(None),
            as_of_point: Mutex::new(None),
            writer: Mutex::new(state),
            owner: Mutex::new(None),
            options,
            path,
            hwm: Mutex::new((None, hwm)),
            closed: false,
            _temp: temp,
            lock: None,
        })
    }

    /// Deletes the checkpoint when history was rewritten after it (a purge or a pruning whose
    /// eager deletion a crash interrupted).
    fn drop_stale_checkpoint(&self) -> Result<()> {
        let Some(dir) = &self.path else {
            return Ok(());
        };
        let stale = match crate::compact::open_checkpoint(self.engine.kind(), dir) {
            // A checkpoint of an older format holds views written under older rules.
            Ok(Some((cp, at))) => {
                !matches!(
                    cp.read().and_then(|v| read_format(v.as_ref())),
                    Ok(Some(FORMAT_VERSION))
                ) || at < crate::records::read_last_purge(self.engine.read()?.as_ref())?
                    || at > self.published.lsn()
            }
            Ok(None) => false,
            // a checkpoint that does not open is no use: it goes
            Err(_) => true,
        };
        if stale {
            crate::compact::drop_checkpoint(dir)?;
        }
        Ok(())
    }
}
