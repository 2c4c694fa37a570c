//! Compaction: copy the store into a fresh engine folder and swap it in, so that purged values
//! and the engine's obsolete files leave the disk (see `docs/design.md` §11).
//!
//! The copy is written beside the data (`data.compact`) and given a compaction id (meta
//! `compaction`), synced, then a `COMPACTED` marker naming that id and the copy's last LSN (with
//! a checksum) is made durable; only then are the folders swapped. [`recover`] runs at every
//! open and either finishes a swap whose copy the marker vouches for or deletes an unfinished
//! copy, so the store is the old one or the new one, never a mix. A marker that is damaged, or
//! that does not match the copy beside it (a stray folder, a copy of a store taken
//! mid-compaction), is `Corrupted`: nothing is moved or deleted.

use std::io::Write;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::codec::Space;
use crate::error::{Error, Result};
use crate::storage::{Engine, EngineKind};

/// Marker written once the copy is complete and durable.
pub const COMPACTED: &str = "COMPACTED";
/// The copy being written.
pub const NEW_DATA: &str = "data.compact";
/// The previous data folder between the two renames.
pub const OLD_DATA: &str = "data.old";
/// The live data folder.
pub const DATA: &str = "data";

/// How far a compaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactProgress {
    /// Keys copied so far.
    pub keys: u64,
    /// Bytes (keys and values) copied so far.
    pub bytes: u64,
    /// Keys in the store (counted before copying).
    pub total_keys: u64,
}

/// What a compaction did.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactReport {
    /// Keys copied.
    pub keys: u64,
    /// Bytes of keys and values copied.
    pub bytes: u64,
    /// Size of the data folder before.
    pub disk_bytes_before: u64,
    /// Size of the data folder after.
    pub disk_bytes_after: u64,
    /// Wall time of the copy and swap, in seconds.
    pub seconds: f64,
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::io(path, e)
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    let d = std::fs::File::open(dir).map_err(|e| io(dir, e))?;
    d.sync_all().map_err(|e| io(dir, e))
}

fn exists(p: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(p) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io(p, e)),
    }
}

fn remove_tree(p: &Path) -> Result<()> {
    match std::fs::remove_dir_all(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(p, e)),
    }
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| io(from, e))
}

/// Bytes a file takes on disk: its allocated blocks (a preallocated, still empty journal file
/// counts for what it holds, not for its length).
#[cfg(unix)]
fn allocated(meta: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.blocks().saturating_mul(512)
}

#[cfg(not(unix))]
fn allocated(meta: &std::fs::Metadata) -> u64 {
    meta.len()
}

/// Total bytes the files and folders under `path` take on disk, as `du` counts them (0 when it
/// does not exist).
pub fn tree_bytes(path: &Path) -> Result<u64> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(path, e)),
    };
    if !meta.is_dir() {
        return Ok(allocated(&meta));
    }
    // the folder's own blocks too, as `du` counts them
    let mut total = allocated(&meta);
    for entry in std::fs::read_dir(path).map_err(|e| io(path, e))? {
        let entry = entry.map_err(|e| io(path, e))?;
        total += tree_bytes(&entry.path())?;
    }
    Ok(total)
}

/// The checkpoint folder (see `checkpoint`).
pub const CHECKPOINT: &str = "checkpoint";
const CHECKPOINT_NEW: &str = "checkpoint.tmp";
const CHECKPOINT_OLD: &str = "checkpoint.old";

/// Writes a checkpoint of the views of `from` (which must not change meanwhile: the caller
/// holds the writer lock with the pipeline drained) at LSN `at`: the meta space and every view
/// space, copied into `dir/checkpoint.tmp`, synced file by file, then swapped in for
/// `dir/checkpoint`. [`recover`] finishes or drops an interrupted swap.
pub(crate) fn checkpoint(from: &dyn Engine, dir: &Path, at: u64) -> Result<()> {
    let tmp = dir.join(CHECKPOINT_NEW);
    remove_tree(&tmp)?;
    let view = from.read()?;
    let to = open_engine(from.kind(), &tmp)?;
    for space in std::iter::once(Space::Meta).chain(Space::VIEWS) {
        let mut failed: Option<Error> = None;
        let mut items = view
            .range(space, Bound::Unbounded, Bound::Unbounded, false)?
            .map_while(|r| match r {
                Ok(kv) => Some(Ok(kv)),
                Err(e) => {
                    failed = Some(e);
                    None
                }
            });
        to.load_sorted(space, &mut items)?;
        drop(items);
        if let Some(e) = failed {
            return Err(e);
        }
    }
    let mut mark = crate::storage::Batch::default();
    mark.put(
        Space::Meta,
        crate::codec::META_CHECKPOINT_LSN.to_vec(),
        at.to_be_bytes().to_vec(),
    );
    to.write(&mark)?;
    to.persist()?;
    drop(to);
    sync_tree(&tmp)?;
    let current = dir.join(CHECKPOINT);
    let old = dir.join(CHECKPOINT_OLD);
    remove_tree(&old)?;
    if exists(&current)? {
        rename(&current, &old)?;
    }
    rename(&tmp, &current)?;
    sync_dir(dir)?;
    remove_tree(&old)
}

/// Opens the checkpoint of the store in `dir`, if there is one: the engine and its LSN.
pub(crate) fn open_checkpoint(
    kind: EngineKind,
    dir: &Path,
) -> Result<Option<(Box<dyn Engine>, u64)>> {
    let path = dir.join(CHECKPOINT);
    if !exists(&path)? {
        return Ok(None);
    }
    // A checkpoint in place was written completely: every file of it must be there.
    let engine = crate::storage::open_engine(kind, &path, true)?;
    let at = {
        let view = engine.read()?;
        match view.get(Space::Meta, crate::codec::META_CHECKPOINT_LSN)? {
            Some(b) => <[u8; 8]>::try_from(b.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| Error::corrupted("checkpoint", "its LSN is not 8 bytes"))?,
            None => return Err(Error::corrupted("checkpoint", "it records no LSN")),
        }
    };
    Ok(Some((engine, at)))
}

/// Deletes the checkpoint of the store in `dir` (it may hold purged values).
pub(crate) fn drop_checkpoint(dir: &Path) -> Result<()> {
    remove_tree(&dir.join(CHECKPOINT))?;
    sync_dir(dir)
}

/// What a `COMPACTED` marker promises: the copy's compaction id and its last LSN.
#[derive(Debug, PartialEq)]
struct Promise {
    id: uuid::Uuid,
    last_lsn: u64,
}

const MARKER_HEAD: &str = "lazarusdb compaction";

fn promise_text(p: &Promise) -> String {
    let body = format!("{MARKER_HEAD}\nid {}\nlast_lsn {}\n", p.id, p.last_lsn);
    format!("{body}crc {:08x}\n", crc32fast::hash(body.as_bytes()))
}

/// Reads the `COMPACTED` marker; `Corrupted` when it is not one this build writes whole.
fn read_promise(marker: &Path) -> Result<Promise> {
    let bad = |why: &str| {
        Error::corrupted(
            marker.display().to_string(),
            format!(
                "{why}: the compaction marker cannot say which copy is complete, so nothing was \
                 moved; if `data` is intact, remove COMPACTED and data.compact and open again"
            ),
        )
    };
    let text = std::fs::read_to_string(marker).map_err(|_| bad("the marker is not text"))?;
    let (body, crc) = text
        .rsplit_once("crc ")
        .ok_or_else(|| bad("the marker has no checksum"))?;
    if u32::from_str_radix(crc.trim(), 16).ok() != Some(crc32fast::hash(body.as_bytes())) {
        return Err(bad("the marker fails its checksum"));
    }
    let mut lines = body.lines();
    if lines.next() != Some(MARKER_HEAD) {
        return Err(bad("the marker is not a lazarusdb compaction marker"));
    }
    let field = |line: Option<&str>, name: &str| -> Option<String> {
        line.and_then(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    let id = field(lines.next(), "id ")
        .and_then(|v| uuid::Uuid::parse_str(&v).ok())
        .ok_or_else(|| bad("the marker names no compaction id"))?;
    let last_lsn = field(lines.next(), "last_lsn ")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| bad("the marker names no last LSN"))?;
    Ok(Promise { id, last_lsn })
}

/// Checks that the copy at `new` is the one `promise` describes (its compaction id and last
/// LSN), by opening it read-only in effect (nothing is written to it).
fn check_copy(kind: EngineKind, new: &Path, promise: &Promise, marker: &Path) -> Result<()> {
    let mismatch = |why: String| {
        Error::corrupted(
            new.display().to_string(),
            format!(
                "{why}, so it is not the complete copy the COMPACTED marker vouches for; nothing \
                 was moved: if `data` is intact, remove COMPACTED and data.compact and open again"
            ),
        )
    };
    let engine = crate::storage::open_engine(kind, new, true)
        .map_err(|e| mismatch(format!("the copy does not open ({e})")))?;
    let view = engine.read()?;
    let id = view.get(Space::Meta, crate::codec::META_COMPACTION)?;
    if id.as_deref() != Some(promise.id.as_bytes().as_slice()) {
        return Err(mismatch(format!(
            "the copy does not carry compaction id {} (named by {})",
            promise.id,
            marker.display()
        )));
    }
    let (last, _) = crate::log::last_positions(view.as_ref())?;
    if last != promise.last_lsn {
        return Err(mismatch(format!(
            "the copy's log ends at LSN {last}, not {}",
            promise.last_lsn
        )));
    }
    Ok(())
}

/// Finishes or rolls back a compaction interrupted by a crash. Runs at every open, before the
/// engine is opened.
pub fn recover(dir: &Path, kind: EngineKind) -> Result<()> {
    // The names the store keeps for its folders hold folders: anything else there was put
    // there by someone else, and is neither removed nor taken for the store's.
    for name in [
        NEW_DATA,
        OLD_DATA,
        CHECKPOINT,
        CHECKPOINT_NEW,
        CHECKPOINT_OLD,
    ] {
        let p = dir.join(name);
        if exists(&p)? && !p.is_dir() {
            return Err(Error::corrupted(
                p.display().to_string(),
                format!(
                    "the store keeps a folder named `{name}` only while it works; this is a file \
                     put there by something else: move it out of the store folder"
                ),
            ));
        }
    }
    // Temporary files of an interrupted atomic write (marker, high-water mark): the real file
    // is either in place or was never written.
    for tmp in [format!("{COMPACTED}.tmp"), "HWM.tmp".to_string()] {
        match std::fs::remove_file(dir.join(&tmp)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&dir.join(tmp), e)),
        }
    }
    // An interrupted checkpoint: an unfinished copy goes; a swap half done is finished.
    remove_tree(&dir.join(CHECKPOINT_NEW))?;
    let (cp, cp_old) = (dir.join(CHECKPOINT), dir.join(CHECKPOINT_OLD));
    if exists(&cp_old)? {
        if exists(&cp)? {
            remove_tree(&cp_old)?;
        } else {
            rename(&cp_old, &cp)?;
        }
    }
    let marker = dir.join(COMPACTED);
    let new = dir.join(NEW_DATA);
    let old = dir.join(OLD_DATA);
    let data = dir.join(DATA);
    if exists(&marker)? {
        // The copy was complete and durable: finish the swap, once the marker is proven whole
        // and the copy is the one it names.
        let promise = read_promise(&marker)?;
        if exists(&new)? {
            check_copy(kind, &new, &promise, &marker)?;
            if exists(&data)? {
                if exists(&old)? {
                    return Err(Error::corrupted(
                        dir.display().to_string(),
                        "an interrupted compaction left data, data.old and data.compact together; \
                         keep the one you trust as `data` and remove the others",
                    ));
                }
                rename(&data, &old)?;
            }
            rename(&new, &data)?;
            sync_dir(dir)?;
        } else if !exists(&data)? {
            return Err(Error::corrupted(
                dir.display().to_string(),
                "a COMPACTED marker without data or data.compact: the store's data folder is \
                 missing (data.old, if there, is the store before the compaction)",
            ));
        }
        std::fs::remove_file(&marker).map_err(|e| io(&marker, e))?;
        sync_dir(dir)?;
        remove_tree(&old)?;
        return Ok(());
    }
    // No marker: a copy left over was never complete.
    remove_tree(&new)?;
    if exists(&old)? {
        if !exists(&data)? {
            return Err(Error::corrupted(
                dir.display().to_string(),
                "the store has a data.old folder but no data folder: rename data.old to data \
                 to get the store back",
            ));
        }
        remove_tree(&old)?;
    }
    Ok(())
}

fn write_marker(dir: &Path, promise: &Promise) -> Result<()> {
    let tmp = dir.join(format!("{COMPACTED}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
    f.write_all(promise_text(promise).as_bytes())
        .map_err(|e| io(&tmp, e))?;
    f.sync_all().map_err(|e| io(&tmp, e))?;
    drop(f);
    rename(&tmp, &dir.join(COMPACTED))?;
    sync_dir(dir)
}

/// Opens a fresh engine of `kind` at `path`.
pub(crate) fn open_engine(kind: EngineKind, path: &Path) -> Result<Box<dyn Engine>> {
    crate::storage::open_engine(kind, path, false)
}

/// What [`copy`] made: keys and bytes copied, and what the marker will promise about it.
pub(crate) struct Copied {
    pub keys: u64,
    pub bytes: u64,
    promise: Promise,
}

/// Copies every key of `from` into a fresh engine at `dir/data.compact`, gives the copy a new
/// compaction id, and syncs it.
pub(crate) fn copy(
    from: &dyn Engine,
    dir: &Path,
    progress: &mut dyn FnMut(CompactProgress),
) -> Result<Copied> {
    let new_path: PathBuf = dir.join(NEW_DATA);
    remove_tree(&new_path)?;
    let view = from.read()?;
    let to = open_engine(from.kind(), &new_path)?;
    let (state, last_lsn) = copy_view(view.as_ref(), to.as_ref(), progress)?;
    let promise = Promise {
        id: uuid::Uuid::now_v7(),
        last_lsn,
    };
    let mut b = crate::storage::Batch::default();
    b.put(
        Space::Meta,
        crate::codec::META_COMPACTION.to_vec(),
        promise.id.as_bytes().to_vec(),
    );
    to.write(&b)?;
    to.persist()?;
    to.finish_load()?;
    drop(to);
    // Table files written outside the engine's journal: make every file and folder of the copy
    // durable before the COMPACTED marker says the copy is complete.
    sync_tree(&new_path)?;
    progress(state);
    Ok(Copied {
        keys: state.keys,
        bytes: state.bytes,
        promise,
    })
}

/// Copies every key of every space of `view` into the fresh engine `to`, space by space in key
/// order; returns how far it got (everything) and the view's last LSN.
fn copy_view(
    view: &dyn crate::storage::ReadView,
    to: &dyn Engine,
    progress: &mut dyn FnMut(CompactProgress),
) -> Result<(CompactProgress, u64)> {
    let mut total_keys = 0u64;
    for space in Space::ALL {
        for item in view.range(space, Bound::Unbounded, Bound::Unbounded, false)? {
            item?;
            total_keys += 1;
        }
    }
    let mut state = CompactProgress {
        keys: 0,
        bytes: 0,
        total_keys,
    };
    progress(state);
    for space in Space::ALL {
        let mut failed: Option<Error> = None;
        let mut items = view
            .range(space, Bound::Unbounded, Bound::Unbounded, false)?
            .map(|item| {
                let (k, v) = item?;
                state.keys += 1;
                state.bytes += (k.len() + v.len()) as u64;
                if state.keys.is_multiple_of(65_536) {
                    progress(state);
                }
                Ok((k, v))
            })
            .map_while(|r: Result<(Vec<u8>, Vec<u8>)>| match r {
                Ok(kv) => Some(Ok(kv)),
                Err(e) => {
                    failed = Some(e);
                    None
                }
            });
        to.load_sorted(space, &mut items)?;
        drop(items);
        if let Some(e) = failed {
            return Err(e);
        }
    }
    let (last_lsn, _) = crate::log::last_positions(view)?;
    Ok((state, last_lsn))
}

/// What a backup wrote ([`crate::Db::backup`]).
#[derive(Debug, Clone, PartialEq)]
pub struct BackupReport {
    /// The folder of the copy: a complete store, opened like any other.
    pub path: PathBuf,
    /// The last LSN the copy holds: every commit up to it, none after.
    pub lsn: u64,
    /// Keys copied.
    pub keys: u64,
    /// Bytes of keys and values copied.
    pub bytes: u64,
    /// Wall time, in seconds.
    pub seconds: f64,
}

/// Writes the data folder of a backup: a fresh engine of `kind` at `data` holding every key of
/// `view`, made durable file by file; returns how far it got (everything) and the view's last
/// LSN. The store around it (marker, high-water mark) is [`crate::Db::backup`]'s.
pub(crate) fn backup_data(
    view: &dyn crate::storage::ReadView,
    kind: EngineKind,
    data: &Path,
    progress: &mut dyn FnMut(CompactProgress),
) -> Result<(CompactProgress, u64)> {
    let to = open_engine(kind, data)?;
    let copied = copy_view(view, to.as_ref(), progress)?;
    to.persist()?;
    to.finish_load()?;
    to.close()?;
    drop(to);
    sync_tree(data)?;
    Ok(copied)
}

/// fsyncs every file and folder under `path`.
fn sync_tree(path: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| io(path, e))?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).map_err(|e| io(path, e))? {
            let entry = entry.map_err(|e| io(path, e))?;
            sync_tree(&entry.path())?;
        }
        sync_dir(path)
    } else if meta.is_file() {
        let f = std::fs::File::open(path).map_err(|e| io(path, e))?;
        f.sync_all().map_err(|e| io(path, e))
    } else {
        Ok(())
    }
}

/// Swaps a complete, synced copy in (see the module docs).
pub(crate) fn swap(dir: &Path, kind: EngineKind, copied: &Copied) -> Result<()> {
    write_marker(dir, &copied.promise)?;
    recover(dir, kind)
}

/// Wall-clock helper for the report.
pub(crate) fn elapsed(start: Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::Readable;
    use crate::{ColumnType, Db, Row, TableBuilder};

    fn store(path: &Path, rows: i64, kind: EngineKind) {
        let db = Db::open_with(path, crate::Options::default().engine(kind)).unwrap();
        db.create_table(
            TableBuilder::new("t")
                .column(("id", ColumnType::Int))
                .primary_key("id"),
        )
        .unwrap();
        for i in 0..rows {
            db.insert("t", Row::new().with("id", i)).unwrap();
        }
        db.close().unwrap();
    }

    /// A complete copy the marker vouches for is swapped in at open, whichever rename the
    /// interrupted compaction did last; a copy of another store beside the same marker is
    /// refused and nothing moves.
    #[test]
    fn a_copy_the_marker_vouches_for_is_swapped_in_at_every_stage() {
        for kind in [EngineKind::Fjall, EngineKind::Sled] {
            for stage in 0..3 {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("s");
                store(&path, 4, kind);
                let copied = {
                    let engine = open_engine(kind, &path.join(DATA)).unwrap();
                    // more rows after the copy is made would be lost: the copy is what swaps in
                    copy(engine.as_ref(), &path, &mut |_| {}).unwrap()
                };
                write_marker(&path, &copied.promise).unwrap();
                match stage {
                    0 => {}
                    1 => rename(&path.join(DATA), &path.join(OLD_DATA)).unwrap(),
                    _ => {
                        rename(&path.join(DATA), &path.join(OLD_DATA)).unwrap();
                        rename(&path.join(NEW_DATA), &path.join(DATA)).unwrap();
                    }
                }
                let db = Db::open(&path).unwrap();
                assert_eq!(db.count("t").unwrap(), 4, "{kind:?} stage {stage}");
                for leftover in [OLD_DATA, NEW_DATA, COMPACTED] {
                    assert!(!path.join(leftover).exists(), "stage {stage}: {leftover}");
                }
                assert!(db.verify().unwrap().is_ok());
                db.close().unwrap();
            }
        }
    }

    #[test]
    fn a_copy_of_another_store_beside_a_marker_moves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        store(&a, 2, EngineKind::Fjall);
        store(&b, 3, EngineKind::Fjall);
        let copied = {
            let engine = open_engine(EngineKind::Fjall, &a.join(DATA)).unwrap();
            copy(engine.as_ref(), &a, &mut |_| {}).unwrap()
        };
        // b's own copy (another compaction id) beside a's marker
        let other = {
            let engine = open_engine(EngineKind::Fjall, &b.join(DATA)).unwrap();
            copy(engine.as_ref(), &b, &mut |_| {}).unwrap()
        };
        assert_ne!(copied.promise, other.promise);
        write_marker(&b, &copied.promise).unwrap();
        let err = recover(&b, EngineKind::Fjall).unwrap_err();
        assert!(err.to_string().contains("compaction id"), "{err}");
        assert!(b.join(NEW_DATA).exists() && b.join(DATA).exists());
        // a damaged marker: the same
        let text = std::fs::read_to_string(b.join(COMPACTED)).unwrap();
        std::fs::write(b.join(COMPACTED), text.replace("last_lsn", "last_lsm")).unwrap();
        let err = recover(&b, EngineKind::Fjall).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
        assert!(b.join(NEW_DATA).exists() && b.join(DATA).exists());
    }
}
