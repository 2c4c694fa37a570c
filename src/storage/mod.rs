//! The storage layer: a narrow key-value interface and its engines.
//!
//! Everything above this module talks to storage through [`Engine`] and [`ReadView`] only:
//!
//! - [`Engine::read`] opens a consistent read view: it sees every batch written before it was
//!   opened either whole or not at all, and nothing written after;
//! - [`ReadView::get`] and [`ReadView::range`] read one key or an ordered range (forwards or
//!   backwards) of one [`Space`];
//! - [`Engine::write`] applies one [`Batch`] atomically: after a crash it is there whole or not
//!   at all, and no read view ever sees part of it;
//! - [`Engine::sync`] makes every batch written so far durable (a real fdatasync).
//!
//! Five engines implement it: [`memory`] (tests, the CPU floor), [`fjall_engine`],
//! [`fjall_redb`] (the log in fjall, the views in redb), [`sled_engine`] (selectable) and, with
//! the `postgres` feature, `postgres` (a schema of a PostgreSQL database).
//!
//! An engine may keep its views apart from its log and let them lag behind after a crash
//! ([`Engine::views_at`]): the store then replays the log's tail into them at open, before
//! anything reads them.

pub mod fjall_engine;
pub mod fjall_redb;
pub mod memory;
pub mod overlay;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sled")]
pub mod sled_engine;
mod space;

pub use space::Space;

/// The prefix of the `meta` keys that hold the catalog (the tables' definitions). An engine
/// shared between processes keeps a stamp that moves with every write of such a key and gives
/// it with each view ([`ReadView::catalog_stamp`]), so that a reader reloads the catalog only
/// when another process changed it.
pub const CATALOG_PREFIX: &[u8] = b"table/";

use std::ops::Bound;

use crate::error::Result;

/// What a clean close records of a file it will trust at the next open without reading it:
/// size, device, inode, change time. Any write to the file, a truncation, a copy or a
/// replacement changes one of them (a tool can set a file's modification time back, not its
/// change time). `None` where the platform does not give them: nothing is trusted there.
#[cfg(unix)]
pub(crate) fn file_stamp(file: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(file).ok()?;
    Some(format!(
        "size {}\ndev {}\ninode {}\nctime {}.{:09}\n",
        m.size(),
        m.dev(),
        m.ino(),
        m.ctime(),
        m.ctime_nsec()
    ))
}

#[cfg(not(unix))]
pub(crate) fn file_stamp(_file: &std::path::Path) -> Option<String> {
    None
}

/// One key-value pair read from a range.
pub type Kv = (Vec<u8>, Vec<u8>);

/// An ordered stream of pairs from a read view.
pub type KvIter<'a> = Box<dyn Iterator<Item = Result<Kv>> + 'a>;

/// The changes of one space: key → new value (`None` = delete), in key order.
pub type SpaceMap = std::collections::BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// A set of changes applied atomically by [`Engine::write`]: one ordered map per space (a later
/// change to the same key replaces an earlier one). It is also readable, so that a batch handed
/// to the commit pipeline can serve reads until it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    maps: Vec<SpaceMap>,
    len: usize,
    views_at: Option<Vec<u8>>,
}

impl Default for Batch {
    fn default() -> Batch {
        Batch {
            maps: Space::ALL.iter().map(|_| SpaceMap::new()).collect(),
            len: 0,
            views_at: None,
        }
    }
}

impl Batch {
    fn set(&mut self, space: Space, key: Vec<u8>, value: Option<Vec<u8>>) {
        if let Some(m) = self.maps.get_mut(space as usize) {
            if m.insert(key, value).is_none() {
                self.len += 1;
            }
        }
    }

    /// Adds (or replaces) a put.
    pub fn put(&mut self, space: Space, key: Vec<u8>, value: Vec<u8>) {
        self.set(space, key, Some(value));
    }

    /// Adds (or replaces) a delete.
    pub fn delete(&mut self, space: Space, key: Vec<u8>) {
        self.set(space, key, None);
    }

    /// Adds every change of `later` on top of this batch, as if `later` were applied after it:
    /// a key changed by both ends up with `later`'s change.
    pub fn absorb(&mut self, later: &Batch) {
        for (space, key, value) in later.iter() {
            self.set(space, key.to_vec(), value.map(<[u8]>::to_vec));
        }
        if let Some(at) = &later.views_at {
            self.set_views_at(at.clone());
        }
    }

    /// Says that, once this batch is applied, the views reflect every event of the log up to
    /// the log key `at` (a replay of the log's tail writes no log key of its own). An engine
    /// that keeps its views apart from its log records the largest such key
    /// ([`Engine::views_at`]); the others ignore it. A batch that writes log keys implies its
    /// last one.
    pub fn set_views_at(&mut self, at: Vec<u8>) {
        if self.views_at.as_ref().is_none_or(|old| *old < at) {
            self.views_at = Some(at);
        }
    }

    /// The log key up to which the views are complete once this batch is applied: the one set
    /// by [`Batch::set_views_at`] or the batch's last log key, whichever is larger.
    pub fn views_at(&self) -> Option<&[u8]> {
        let last_log = self
            .space(Space::Log)
            .and_then(|m| m.last_key_value())
            .map(|(k, _)| k.as_slice());
        match (self.views_at.as_deref(), last_log) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// Number of distinct keys changed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The changes of one space.
    pub fn space(&self, space: Space) -> Option<&SpaceMap> {
        self.maps.get(space as usize)
    }

    /// The change of one key: `Some(None)` is a delete, `None` means no change.
    pub fn get(&self, space: Space, key: &[u8]) -> Option<Option<&Vec<u8>>> {
        self.space(space)
            .and_then(|m| m.get(key))
            .map(Option::as_ref)
    }

    /// Every change, space by space, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (Space, &[u8], Option<&[u8]>)> {
        Space::ALL.iter().zip(&self.maps).flat_map(|(space, m)| {
            m.iter()
                .map(move |(k, v)| (*space, k.as_slice(), v.as_deref()))
        })
    }
}

/// What [`ReadView::visit`] calls with each pair: `Ok(true)` to go on, `Ok(false)` to stop.
pub type Visitor<'f> = dyn FnMut(&[u8], &[u8]) -> Result<bool> + 'f;

/// A consistent, read-only view of the store at the moment it was opened.
pub trait ReadView {
    /// The value of `key` in `space`.
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// On an engine shared between processes, a stamp of the catalog this view sees: two views
    /// with the same stamp see the same catalog (the keys under [`CATALOG_PREFIX`]). `None`
    /// where the engine keeps none (a reader must then load the catalog from the view).
    fn catalog_stamp(&self) -> Option<u64> {
        None
    }

    /// An identity of the engine snapshot this view reads, where the engine shares one
    /// snapshot between views until the next write: two views with the same id see the same
    /// data. `None` where the engine gives none (every view is then its own).
    fn snapshot_id(&self) -> Option<u64> {
        None
    }

    /// True when walking the rows space costs about a step a row, so that rows asked for by
    /// key that lie together are best read with a range walk (`records::get_rows`); false
    /// where a range of rows is computed before it is walked (an as-of view: a range is an
    /// as-of scan of it), so that such rows are read one by one.
    fn walks_rows(&self) -> bool {
        true
    }

    /// The pairs of `space` with keys within the bounds, in key order (or reverse order).
    fn range<'a>(
        &'a self,
        space: Space,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        reverse: bool,
    ) -> Result<KvIter<'a>>;

    /// Calls `f` with each pair of [`ReadView::range`], borrowed rather than copied where the
    /// engine can lend its bytes, until `f` answers `false` or fails (its error is returned).
    fn visit(
        &self,
        space: Space,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        reverse: bool,
        f: &mut Visitor<'_>,
    ) -> Result<()> {
        for item in self.range(space, start, end, reverse)? {
            let (k, v) = item?;
            if !f(&k, &v)? {
                break;
            }
        }
        Ok(())
    }

    /// The pair with the largest key of `space`, if any (the end of the log, of the
    /// transactions).
    fn last(&self, space: Space) -> Result<Option<KvPair>> {
        self.range(space, Bound::Unbounded, Bound::Unbounded, true)?
            .next()
            .transpose()
    }
}

/// Which engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EngineKind {
    /// fjall 3 (LSM-tree) for everything.
    Fjall,
    /// The default: the log in fjall 3 (its journal makes commits durable), the views in redb 5
    /// (a B-tree: a deleted key is gone from it at once, so live reads do not grow with
    /// deletions).
    #[default]
    FjallRedb,
    /// sled 0.34.7.
    Sled,
    /// In memory only; nothing reaches disk.
    Memory,
    /// A schema of a PostgreSQL database (feature `postgres`; opened by its URL).
    Postgres,
}

impl EngineKind {
    /// The engine's name as written in the store and accepted on the command line.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Fjall => "fjall",
            EngineKind::FjallRedb => "fjall-redb",
            EngineKind::Sled => "sled",
            EngineKind::Memory => "memory",
            EngineKind::Postgres => "postgres",
        }
    }

    /// Parses an engine name.
    pub fn parse(name: &str) -> Option<EngineKind> {
        match name {
            "fjall" => Some(EngineKind::Fjall),
            "fjall-redb" => Some(EngineKind::FjallRedb),
            "sled" => Some(EngineKind::Sled),
            "memory" => Some(EngineKind::Memory),
            "postgres" => Some(EngineKind::Postgres),
            _ => None,
        }
    }
}

impl std::fmt::Display for EngineKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The views' page cache when `Options::cache_bytes` is `None`: 1 GiB.
pub const DEFAULT_CACHE_BYTES: usize = 1 << 30;

/// Opens the files of an engine of `kind` at `path` (see `FjallEngine::open_existing`): with
/// `existing`, everything a complete store holds must be there.
pub fn open_engine(
    kind: EngineKind,
    path: &std::path::Path,
    existing: bool,
) -> Result<Box<dyn Engine>> {
    open_engine_cached(kind, path, existing, DEFAULT_CACHE_BYTES)
}

/// [`open_engine`] with `cache_bytes` for the views' page cache (see
/// `Options::cache_bytes`: the fjall-redb engine's; the others keep their fixed caches).
pub fn open_engine_cached(
    kind: EngineKind,
    path: &std::path::Path,
    existing: bool,
    cache_bytes: usize,
) -> Result<Box<dyn Engine>> {
    match kind {
        EngineKind::Fjall => Ok(Box::new(fjall_engine::FjallEngine::open_existing(
            path, existing,
        )?)),
        EngineKind::FjallRedb => Ok(Box::new(fjall_redb::FjallRedb::open_cached(
            path,
            existing,
            cache_bytes,
        )?)),
        #[cfg(feature = "sled")]
        EngineKind::Sled => Ok(Box::new(sled_engine::SledEngine::open_existing(
            path, existing,
        )?)),
        #[cfg(not(feature = "sled"))]
        EngineKind::Sled => Err(crate::error::Error::invalid(
            "this build of lazarusdb has no sled engine: build it with the `sled` feature",
        )),
        EngineKind::Memory => Err(crate::error::Error::invalid(
            "the memory engine keeps no files: use Db::memory()",
        )),
        EngineKind::Postgres => Err(crate::error::Error::invalid(
            "a PostgreSQL store is opened by its URL (Db::open_postgres), not a folder",
        )),
    }
}

/// A storage engine behind the narrow interface.
pub trait Engine: Send + Sync {
    /// Which engine this is.
    fn kind(&self) -> EngineKind;

    /// Opens a consistent read view.
    fn read(&self) -> Result<Box<dyn ReadView + '_>>;

    /// Opens the read view of a writer holding [`Engine::lock_writes`]'s lock: the same as
    /// [`Engine::read`], but an engine may read with it what such a writer reads first (the
    /// [`ReadView::last`] pairs of the log and of the transactions), in the same round trip.
    fn read_for_writer(&self) -> Result<Box<dyn ReadView + '_>> {
        self.read()
    }

    /// Applies a batch atomically (visible to read views opened afterwards; durable only after
    /// [`Engine::sync`]).
    fn write(&self, batch: &Batch) -> Result<()>;

    /// Applies a group of batches, in order, as one atomic write: the same as writing the
    /// batches merged, a later change to a key replacing an earlier one. The default merges
    /// them into one [`Batch`]; an engine may avoid the copy (see [`group_changes`]).
    fn write_group(&self, group: &[std::sync::Arc<Batch>]) -> Result<()> {
        match group {
            [] => Ok(()),
            [one] => self.write(one),
            many => {
                let mut merged = Batch::default();
                for b in many {
                    merged.absorb(b);
                }
                self.write(&merged)
            }
        }
    }

    /// Makes every write so far durable on disk. For an engine whose views lag behind its log
    /// after a crash ([`Engine::views_at`]), what is made durable is the log: the views follow
    /// at the next [`Engine::persist`], and the store replays the rest at open.
    fn sync(&self) -> Result<()>;

    /// Makes everything durable, views included: the next open has nothing to replay. Used
    /// where a store's files are finished (a compaction's copy, a checkpoint, a rebuild, the
    /// format written at creation). The default is [`Engine::sync`].
    fn persist(&self) -> Result<()> {
        self.sync()
    }

    /// Makes everything durable and leaves the files so that the next open is quick (fjall:
    /// memtables flushed). Called when the store is closed; the engine stays usable.
    fn close(&self) -> Result<()> {
        self.persist()
    }

    /// For an engine that keeps its views apart from its log: the last log key whose event the
    /// views (as opened) reflect; `Some(empty)` when they reflect none. The store replays the
    /// events after it at open. `None` (the default): the views are always in step with the log.
    fn views_at(&self) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }

    /// True when an open read view makes [`Engine::write`] wait until it is dropped (an engine
    /// without snapshots that keeps reads consistent with a lock). The commit pipeline then
    /// never writes on a thread that holds the store's writer lock: a thread holding a view
    /// and waiting for that lock would wait forever. The default is the safe answer.
    fn snapshots_hold_writes(&self) -> bool {
        true
    }

    /// For an engine that several processes open at once (a database server): takes the
    /// store's write lock shared by every process, waiting for the one that holds it; the lock
    /// goes when the returned guard is dropped. The store takes it at the start of every write
    /// transaction and lets go once the transaction's batch is written, and reads the log's
    /// positions and the catalog again under it. `None` (the default): one process opens the
    /// store at a time (the folder lock keeps the others out).
    fn lock_writes(&self) -> Result<Option<Box<dyn WriteLock>>> {
        Ok(None)
    }

    /// True when other processes may write the store while this one has it open (see
    /// [`Engine::lock_writes`]).
    fn shared(&self) -> bool {
        false
    }

    /// For a shared engine: waits until a commit may have happened in any process (a wake-up,
    /// not data: the caller reads the log) or `timeout` passes; true when woken. The default
    /// (false at once) is for engines whose commits all happen in this process.
    fn wait_for_commits(&self, _timeout: std::time::Duration) -> bool {
        false
    }

    /// Bytes the engine's files take on disk (0 in memory).
    fn disk_bytes(&self) -> Result<u64>;

    /// Checks every byte of the engine's files against the checksums the engine records for
    /// them, including the parts a range scan never reads (filters, indexes); returns a
    /// description of each problem found. `verify` calls it besides comparing the views with
    /// the log. The default, for an engine whose reads check everything they touch, finds
    /// none.
    fn check_files(&self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    /// Called once a fresh copy is loaded ([`Engine::load_sorted`]) and persisted: the engine
    /// may give back the space the load left free in its files. The default does nothing;
    /// fjall-redb compacts its views file, whose free pages would otherwise stay at its end.
    fn finish_load(&self) -> Result<()> {
        Ok(())
    }

    /// Loads `items` — pairs in strictly increasing key order — into `space` of a store that
    /// nothing else writes to (a compaction's fresh copy). Durable only after [`Engine::sync`]
    /// (and, for files written outside the engine's journal, an fsync of its folder: see
    /// `compact`). The default writes batches of about 4 MiB; an engine may do better (fjall
    /// writes table files directly, without its journal).
    fn load_sorted(
        &self,
        space: Space,
        items: &mut dyn Iterator<Item = Result<KvPair>>,
    ) -> Result<()> {
        write_in_chunks(&|b| self.write(b), space, items, 4 << 20)
    }
}

/// The guard of a store's cross-process write lock ([`Engine::lock_writes`]): dropping it lets
/// go of the lock.
pub trait WriteLock: Send {}

/// Writes `items` into `space` as batches of about `chunk` bytes each, through `write`.
pub(crate) fn write_in_chunks(
    write: &dyn Fn(&Batch) -> Result<()>,
    space: Space,
    items: &mut dyn Iterator<Item = Result<KvPair>>,
    chunk: usize,
) -> Result<()> {
    let mut batch = Batch::default();
    let mut bytes = 0usize;
    for item in items {
        let (k, v) = item?;
        bytes += k.len() + v.len();
        batch.put(space, k, v);
        if bytes >= chunk {
            write(&batch)?;
            batch = Batch::default();
            bytes = 0;
        }
    }
    if !batch.is_empty() {
        write(&batch)?;
    }
    Ok(())
}

/// One change of a batch: the space, the key and its new value (`None` = delete).
pub type Change<'a> = (Space, &'a [u8], Option<&'a [u8]>);

/// The changes of a group of batches applied in order, each key once with its last change,
/// without copying keys or values (what [`Engine::write_group`] writes).
///
/// Space by space: when the batches' keys in a space come in ascending, disjoint runs (each
/// batch's first key above the previous batch's last), no key can repeat and the changes are
/// taken as they are. That is the common case for the log and transaction spaces, whose keys
/// carry fresh LSNs and transaction ids, and often for the others. Otherwise (a counter every
/// commit bumps, rows changed in no particular order, an old event rewritten by a purge) the
/// space's keys go through a set, latest batch first, so each key keeps its last change.
pub fn group_changes(group: &[std::sync::Arc<Batch>]) -> Vec<Change<'_>> {
    let total: usize = group.iter().map(|b| b.len()).sum();
    let mut out = Vec::with_capacity(total);
    let mut seen: std::collections::HashSet<&[u8], KeyHash> = Default::default();
    for space in Space::ALL {
        let maps = || group.iter().filter_map(move |b| b.space(space));
        if ascending_runs(maps()) {
            for m in maps() {
                out.extend(m.iter().map(|(k, v)| (space, k.as_slice(), v.as_deref())));
            }
        } else {
            seen.clear();
            for m in maps().rev() {
                for (k, v) in m {
                    if seen.insert(k.as_slice()) {
                        out.push((space, k.as_slice(), v.as_deref()));
                    }
                }
            }
        }
    }
    out
}

/// Whether the maps' keys, taken map after map, are strictly ascending: every map's first key
/// above the last key of the maps before it (empty maps skipped).
fn ascending_runs<'a>(maps: impl Iterator<Item = &'a SpaceMap>) -> bool {
    let mut last: Option<&[u8]> = None;
    for m in maps {
        let (Some((first, _)), Some((end, _))) = (m.first_key_value(), m.last_key_value()) else {
            continue;
        };
        if last.is_some_and(|l| l >= first.as_slice()) {
            return false;
        }
        last = Some(end.as_slice());
    }
    true
}

/// A cheap hasher for [`group_changes`]' set of keys (a multiply-rotate over 8-byte words):
/// the keys come from our own batches, so resistance to chosen collisions is not needed, and
/// the default SipHash was a visible share of the committer thread's time.
#[derive(Default, Clone, Copy)]
struct KeyHash(u64);

impl std::hash::Hasher for KeyHash {
    /// Mixes the high bits down (the MurmurHash3 finalizer): keys that differ only in their
    /// last big-endian bytes (LSNs, transaction ids) differ in the high bits of the last word,
    /// and a hash table indexes by the low ones.
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }

    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        let mut w = [0u8; 8];
        let rest = chunks.remainder();
        if let Some(dst) = w.get_mut(..rest.len()) {
            dst.copy_from_slice(rest);
        }
        self.0 =
            (self.0.rotate_left(5) ^ u64::from_le_bytes(w) ^ rest.len() as u64).wrapping_mul(K);
    }
}

impl std::hash::BuildHasher for KeyHash {
    type Hasher = KeyHash;

    fn build_hasher(&self) -> KeyHash {
        KeyHash(0)
    }
}

/// A key and its value.
pub type KvPair = (Vec<u8>, Vec<u8>);

/// Converts a borrowed bound to an owned one.
pub(crate) fn owned_bound(b: Bound<&[u8]>) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(k.to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Prefixes a bound with a space byte, for engines that keep every space in one ordered tree.
pub(crate) fn prefixed_bounds(
    space: Space,
    start: Bound<&[u8]>,
    end: Bound<&[u8]>,
) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let p = space.prefix();
    let with = |k: &[u8]| {
        let mut v = Vec::with_capacity(k.len() + 1);
        v.push(p);
        v.extend_from_slice(k);
        v
    };
    let s = match start {
        Bound::Included(k) => Bound::Included(with(k)),
        Bound::Excluded(k) => Bound::Excluded(with(k)),
        Bound::Unbounded => Bound::Included(vec![p]),
    };
    let e = match end {
        Bound::Included(k) => Bound::Included(with(k)),
        Bound::Excluded(k) => Bound::Excluded(with(k)),
        Bound::Unbounded => Bound::Excluded(vec![p + 1]),
    };
    (s, e)
}

/// Prepends the space byte to a key.
pub(crate) fn prefixed_key(space: Space, key: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(key.len() + 1);
    v.push(space.prefix());
    v.extend_from_slice(key);
    v
}

/// A bound over an owned key, borrowed.
pub(crate) fn bound_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k.as_slice()),
        Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// A borrowed bound, owned.
pub(crate) fn bound_owned(b: Bound<&[u8]>) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(k.to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// True when a range with these bounds is empty (start past end): engines may panic on those.
pub(crate) fn empty_range<T: Ord>(start: &Bound<T>, end: &Bound<T>) -> bool {
    use Bound::*;
    match (start, end) {
        (Included(s), Included(e)) => s > e,
        (Included(s), Excluded(e)) | (Excluded(s), Included(e)) | (Excluded(s), Excluded(e)) => {
            s >= e
        }
        _ => false,
    }
}

#[cfg(test)]
pub(crate) mod conformance {
    //! The same checks run against every engine.
    use super::*;

    pub fn run(engine: &dyn Engine) {
        let mut b = Batch::default();
        for i in 0u8..10 {
            b.put(Space::Rows, vec![i], vec![i, i]);
            b.put(Space::Index, vec![i], vec![]);
        }
        engine.write(&b).unwrap();
        let view = engine.read().unwrap();
        assert_eq!(view.get(Space::Rows, &[3]).unwrap(), Some(vec![3, 3]));
        assert_eq!(view.get(Space::Log, &[3]).unwrap(), None);
        let keys: Vec<Vec<u8>> = view
            .range(
                Space::Rows,
                Bound::Included(&[2]),
                Bound::Excluded(&[5]),
                false,
            )
            .unwrap()
            .map(|r| r.unwrap().0)
            .collect();
        assert_eq!(keys, vec![vec![2], vec![3], vec![4]]);
        let rev: Vec<Vec<u8>> = view
            .range(Space::Rows, Bound::Unbounded, Bound::Unbounded, true)
            .unwrap()
            .take(2)
            .map(|r| r.unwrap().0)
            .collect();
        assert_eq!(rev, vec![vec![9], vec![8]]);
        // a visit sees what a range yields, in either direction, and stops when told
        for reverse in [false, true] {
            let ranged: Vec<KvPair> = view
                .range(
                    Space::Rows,
                    Bound::Excluded(&[1]),
                    Bound::Included(&[7]),
                    reverse,
                )
                .unwrap()
                .map(|r| r.unwrap())
                .collect();
            let mut visited = Vec::new();
            view.visit(
                Space::Rows,
                Bound::Excluded(&[1]),
                Bound::Included(&[7]),
                reverse,
                &mut |k, v| {
                    visited.push((k.to_vec(), v.to_vec()));
                    Ok(visited.len() < 4)
                },
            )
            .unwrap();
            assert_eq!(visited, ranged[..4].to_vec(), "reverse {reverse}");
        }
        let failed = view.visit(
            Space::Rows,
            Bound::Unbounded,
            Bound::Unbounded,
            false,
            &mut |_, _| Err(crate::error::Error::invalid("stop")),
        );
        assert!(failed.is_err());
        // spaces do not leak into each other
        let n = view
            .range(Space::Index, Bound::Unbounded, Bound::Unbounded, false)
            .unwrap()
            .count();
        assert_eq!(n, 10);
        // an inverted range is empty, not a panic
        let n = view
            .range(
                Space::Rows,
                Bound::Included(&[7]),
                Bound::Excluded(&[2]),
                false,
            )
            .unwrap()
            .count();
        assert_eq!(n, 0);
        drop(view);

        // a view opened before a write does not see it (snapshot engines) or the write waits
        let mut b = Batch::default();
        b.delete(Space::Rows, vec![3]);
        b.put(Space::Rows, vec![42], vec![1]);
        engine.write(&b).unwrap();
        engine.sync().unwrap();
        let view = engine.read().unwrap();
        assert_eq!(view.get(Space::Rows, &[3]).unwrap(), None);
        assert_eq!(view.get(Space::Rows, &[42]).unwrap(), Some(vec![1]));
        drop(view);

        // a group is written as one batch, a later change to a key replacing an earlier one
        let mut first = Batch::default();
        first.put(Space::Meta, b"seq".to_vec(), vec![1]);
        first.put(Space::Rows, vec![50], vec![1]);
        first.put(Space::Rows, vec![51], vec![1]);
        let mut second = Batch::default();
        second.put(Space::Meta, b"seq".to_vec(), vec![2]);
        second.delete(Space::Rows, vec![50]);
        second.put(Space::Log, vec![50], vec![7]);
        let mut third = Batch::default();
        third.put(Space::Meta, b"seq".to_vec(), vec![3]);
        third.put(Space::Rows, vec![51], vec![3]);
        let group: Vec<std::sync::Arc<Batch>> = vec![first.into(), second.into(), third.into()];
        assert_eq!(group_changes(&group).len(), 4);
        engine.write_group(&group).unwrap();
        let view = engine.read().unwrap();
        assert_eq!(view.get(Space::Meta, b"seq").unwrap(), Some(vec![3]));
        assert_eq!(view.get(Space::Rows, &[50]).unwrap(), None);
        assert_eq!(view.get(Space::Rows, &[51]).unwrap(), Some(vec![3]));
        assert_eq!(view.get(Space::Log, &[50]).unwrap(), Some(vec![7]));
        // the same key in two spaces is two keys
        assert_eq!(view.get(Space::Log, &[51]).unwrap(), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hasher};

    #[test]
    fn key_hash_tells_lengths_and_tails_apart() {
        let h = |b: &[u8]| {
            let mut s = KeyHash::default().build_hasher();
            s.write(b);
            s.finish()
        };
        assert_ne!(h(b""), h(b"\0"));
        assert_ne!(h(b"\0"), h(b"\0\0"));
        assert_ne!(h(b"abcdefgh"), h(b"abcdefgi"));
        assert_ne!(h(b"abcdefgh1"), h(b"abcdefgh2"));
        assert_eq!(h(b"same key"), h(b"same key"));
        // Keys that differ only in a big-endian counter (log keys) spread over the low bits a
        // hash table indexes by: about 41,400 of 65,536 buckets for a random hash.
        for prefix in [&[][..], &[0, 0, 0, 7][..]] {
            let low: std::collections::HashSet<u64> = (0u64..65_536)
                .map(|lsn| h(&[prefix, &lsn.to_be_bytes()].concat()) & 0xffff)
                .collect();
            assert!(
                low.len() > 35_000,
                "only {} distinct low 16 bits",
                low.len()
            );
        }
    }

    #[test]
    fn group_changes_keeps_the_last_change_of_each_key() {
        let mut a = Batch::default();
        a.put(Space::Rows, vec![1], vec![1]);
        a.put(Space::Rows, vec![2], vec![1]);
        let mut b = Batch::default();
        b.delete(Space::Rows, vec![1]);
        b.put(Space::Index, vec![1], vec![9]);
        let group: Vec<std::sync::Arc<Batch>> = vec![a.into(), b.into()];
        let mut got = group_changes(&group);
        got.sort();
        let mut want = vec![
            (Space::Rows, &[1u8][..], None),
            (Space::Rows, &[2u8][..], Some(&[1u8][..])),
            (Space::Index, &[1u8][..], Some(&[9u8][..])),
        ];
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn group_changes_sees_an_old_key_rewritten_after_fresh_ones() {
        // Two commits append log entries 5 and 6; a third rewrites entry 5 (as a purge does):
        // the log's runs are no longer ascending, and entry 5 keeps the rewrite.
        let mut a = Batch::default();
        a.put(Space::Log, vec![5], vec![1]);
        let mut b = Batch::default();
        b.put(Space::Log, vec![6], vec![2]);
        let mut c = Batch::default();
        c.put(Space::Log, vec![5], vec![3]);
        c.put(Space::Log, vec![7], vec![4]);
        let group: Vec<std::sync::Arc<Batch>> = vec![a.into(), b.into(), c.into()];
        let mut got = group_changes(&group);
        got.sort();
        let log = |k: &'static [u8], v: &'static [u8]| (Space::Log, k, Some(v));
        assert_eq!(got, vec![log(&[5], &[3]), log(&[6], &[2]), log(&[7], &[4])]);
    }

    #[test]
    fn ascending_runs_needs_each_map_strictly_above_the_last() {
        let map = |keys: &[u8]| -> SpaceMap { keys.iter().map(|k| (vec![*k], None)).collect() };
        let runs = |maps: &[SpaceMap]| ascending_runs(maps.iter());
        assert!(runs(&[map(&[1, 2]), map(&[]), map(&[3]), map(&[4, 9])]));
        assert!(runs(&[]));
        assert!(!runs(&[map(&[1, 3]), map(&[2])]), "interleaved");
        assert!(!runs(&[map(&[1, 3]), map(&[3])]), "a shared boundary key");
        assert!(!runs(&[map(&[5]), map(&[]), map(&[4])]), "descending");
    }

    proptest::proptest! {
        /// Against a model: the batches applied one after another to one map.
        #[test]
        fn group_changes_equals_applying_the_batches_in_order(
            batches in proptest::collection::vec(
                proptest::collection::vec((0usize..3, 0u8..12, proptest::option::of(0u8..4)), 0..6),
                1..6,
            )
        ) {
            let spaces = [Space::Log, Space::Rows, Space::Meta];
            let mut model = std::collections::BTreeMap::new();
            let mut group = Vec::new();
            for changes in &batches {
                let mut b = Batch::default();
                for &(s, k, v) in changes {
                    let space = spaces[s];
                    match v {
                        Some(v) => b.put(space, vec![k], vec![v]),
                        None => b.delete(space, vec![k]),
                    }
                    model.insert((space, vec![k]), v.map(|v| vec![v]));
                }
                group.push(std::sync::Arc::new(b));
            }
            let mut got: Vec<(Space, Vec<u8>, Option<Vec<u8>>)> = group_changes(&group)
                .into_iter()
                .map(|(s, k, v)| (s, k.to_vec(), v.map(<[u8]>::to_vec)))
                .collect();
            got.sort();
            let want: Vec<(Space, Vec<u8>, Option<Vec<u8>>)> =
                model.into_iter().map(|((s, k), v)| (s, k, v)).collect();
            proptest::prop_assert_eq!(got, want);
        }
    }
}
