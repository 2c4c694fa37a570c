//! The fjall engine (default): one fjall keyspace per [`Space`], written with one cross-keyspace
//! `WriteBatch` per commit, read through `Database::snapshot()` so that a read spanning keys never
//! sees part of a batch.
//!
//! Keyspaces are created without compression and without key-value separation, and the journal
//! is not compressed: a later purge must be able to prove that erased bytes are gone from every
//! file, which compressed blocks would hide from a byte scan (see `docs/design.md`).
//! Memory settings are explicit: a 32 MiB block cache, 32 MiB memtables per keyspace, a 256 MiB
//! journal cap (replay time at open grows with it).

use std::ops::Bound;
use std::path::{Path, PathBuf};

use fjall::config::CompressionPolicy;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable};

use super::{empty_range, owned_bound, Batch, Engine, EngineKind, KvIter, ReadView};
use crate::codec::Space;
use crate::error::{Error, Result};

/// The fjall-backed engine.
pub struct FjallEngine {
    path: PathBuf,
    db: Database,
    spaces: Vec<Keyspace>,
}

impl FjallEngine {
    /// Opens (or creates) the engine's files in `path`.
    pub fn open(path: &Path) -> Result<FjallEngine> {
        check_version_files(path)?;
        let p = path.to_path_buf();
        let opened = std::panic::catch_unwind(|| -> Result<(Database, Vec<Keyspace>)> {
            let db = Database::builder(&p)
                .cache_size(32 << 20)
                .max_journaling_size(256 << 20)
                .journal_compression(fjall::CompressionType::None)
                .open()
                .map_err(|e| map_err(&p, e))?;
            let mut spaces = Vec::with_capacity(Space::ALL.len());
            for s in Space::ALL {
                let ks = db
                    .keyspace(s.name(), || {
                        KeyspaceCreateOptions::default()
                            .data_block_compression_policy(CompressionPolicy::disabled())
                            .index_block_compression_policy(CompressionPolicy::disabled())
                            .with_kv_separation(None)
                            .max_memtable_size(32 << 20)
                    })
                    .map_err(|e| map_err(&p, e))?;
                spaces.push(ks);
            }
            Ok((db, spaces))
        });
        match opened {
            Ok(Ok((db, spaces))) => Ok(FjallEngine {
                path: path.to_path_buf(),
                db,
                spaces,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::corrupted(
                path.display().to_string(),
                "the fjall engine could not open its files (it panicked while reading them)",
            )),
        }
    }

    fn ks(&self, space: Space) -> Result<&Keyspace> {
        self.spaces
            .get(space as usize)
            .ok_or_else(|| Error::Storage(format!("keyspace {} missing", space.name())))
    }
}

/// Checks every keyspace's current version file against the checksum its `current` file holds,
/// before fjall reads them.
///
/// A version file lists a keyspace's table files. fjall (lsm-tree 3.1) decodes it without
/// checking that checksum, and a damaged count in it makes the process try to allocate tens of
/// gigabytes and abort, which no `catch_unwind` can turn into an error. What fjall handles
/// itself is left to it: stray files beside the keyspace folders, a folder without `current`,
/// a version file that is missing. The layout checked here
/// is lsm-tree's: `keyspaces/<n>/current` is the version id (u64, little-endian), the xxh3-128
/// of the version file (u128, little-endian) and the checksum type (0 = xxh3); the version
/// file is `keyspaces/<n>/v<id>`, written whole and fsynced before `current` names it.
fn check_version_files(path: &Path) -> Result<()> {
    let keyspaces = path.join("keyspaces");
    let entries = match std::fs::read_dir(&keyspaces) {
        Ok(e) => e,
        // A new store, or one fjall will report on itself.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(&keyspaces, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&keyspaces, e))?;
        // Anything but a folder (a stray file) is fjall's to skip, as it does.
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let folder = entry.path();
        let current = folder.join("current");
        let bytes = match std::fs::read(&current) {
            Ok(b) => b,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                continue
            }
            Err(e) => return Err(Error::io(&current, e)),
        };
        let damaged = |why: String| {
            Err(Error::corrupted(
                current.display().to_string(),
                format!(
                    "{why}; the engine's files are damaged: restore the store from a backup or \
                     from an earlier export (`lazarus import` into a new store)"
                ),
            ))
        };
        let (Some(id), Some(sum), Some(&kind)) = (
            bytes.get(0..8).and_then(|b| <[u8; 8]>::try_from(b).ok()),
            bytes.get(8..24).and_then(|b| <[u8; 16]>::try_from(b).ok()),
            bytes.get(24),
        ) else {
            return damaged(format!(
                "the version pointer is {} bytes long, not 25",
                bytes.len()
            ));
        };
        if bytes.len() != 25 || kind != 0 {
            return damaged(format!(
                "the version pointer is not one fjall writes ({} bytes, checksum type {kind})",
                bytes.len()
            ));
        }
        let version = folder.join(format!("v{}", u64::from_le_bytes(id)));
        let data = match std::fs::read(&version) {
            Ok(d) => d,
            // fjall reports a missing version file itself (an error, not an abort), and may
            // not even read it: a keyspace folder it never registered is deleted at open.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(&version, e)),
        };
        if xxhash_rust::xxh3::xxh3_128(&data) != u128::from_le_bytes(sum) {
            return damaged(format!(
                "the version file {} does not match its checksum",
                version.display()
            ));
        }
    }
    Ok(())
}

fn map_err(path: &Path, e: fjall::Error) -> Error {
    match e {
        fjall::Error::Locked => Error::Locked(path.to_path_buf()),
        fjall::Error::Io(source) => Error::io(path, source),
        fjall::Error::Poisoned => {
            Error::Poisoned("fjall refused a write after a failed flush".into())
        }
        fjall::Error::InvalidVersion(v) => Error::corrupted(
            path.display().to_string(),
            format!("fjall files of an unsupported version {v:?}"),
        ),
        other => Error::Storage(format!("fjall: {other:?}")),
    }
}

struct View<'a> {
    engine: &'a FjallEngine,
    snap: fjall::Snapshot,
}

impl ReadView for View<'_> {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let ks = self.engine.ks(space)?;
        self.snap
            .get(ks, key)
            .map(|v| v.map(|s| s.to_vec()))
            .map_err(|e| map_err(&self.engine.path, e))
    }

    fn range<'a>(
        &'a self,
        space: Space,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        reverse: bool,
    ) -> Result<KvIter<'a>> {
        let ks = self.engine.ks(space)?;
        let (s, e) = (owned_bound(start), owned_bound(end));
        if empty_range(&s, &e) {
            return Ok(Box::new(std::iter::empty()));
        }
        let it = self.snap.range::<Vec<u8>, _>(ks, (s, e));
        let path = &self.engine.path;
        let conv = move |g: fjall::Guard| {
            g.into_inner()
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(|e| map_err(path, e))
        };
        if reverse {
            Ok(Box::new(it.rev().map(conv)))
        } else {
            Ok(Box::new(it.map(conv)))
        }
    }
}

impl Engine for FjallEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Fjall
    }

    fn read(&self) -> Result<Box<dyn ReadView + '_>> {
        Ok(Box::new(View {
            engine: self,
            snap: self.db.snapshot(),
        }))
    }

    fn write(&self, batch: &Batch) -> Result<()> {
        let mut b = self.db.batch();
        for (s, k, v) in batch.iter() {
            match v {
                Some(v) => b.insert(self.ks(s)?, k, v),
                None => b.remove(self.ks(s)?, k),
            }
        }
        b.commit().map_err(|e| map_err(&self.path, e))
    }

    /// One fjall batch for the whole group, each key once (a fjall batch does not merge
    /// repeated keys itself).
    fn write_group(&self, group: &[std::sync::Arc<Batch>]) -> Result<()> {
        if let [one] = group {
            return self.write(one);
        }
        let changes = super::group_changes(group);
        // Durability `Buffer`, as `Database::batch` sets it: the journal reaches the OS at once.
        let mut b = fjall::OwnedWriteBatch::with_capacity(self.db.clone(), changes.len())
            .durability(Some(PersistMode::Buffer));
        for (s, k, v) in changes {
            match v {
                Some(v) => b.insert(self.ks(s)?, k, v),
                None => b.remove(self.ks(s)?, k),
            }
        }
        b.commit().map_err(|e| map_err(&self.path, e))
    }

    fn sync(&self) -> Result<()> {
        self.db
            .persist(PersistMode::SyncData)
            .map_err(|e| map_err(&self.path, e))
    }

    /// fjall reads from snapshots: an open view never holds a write up.
    fn snapshots_hold_writes(&self) -> bool {
        false
    }

    fn disk_bytes(&self) -> Result<u64> {
        self.db.disk_space().map_err(|e| map_err(&self.path, e))
    }

    /// fjall's ingestion writes the pairs straight into table files, bypassing the journal, so
    /// a compacted store holds each key once (through the journal it would hold them twice
    /// until the memtables were flushed). Ingestion asserts the key order; it is checked here
    /// first, so a store that returned keys out of order is an error, not a panic.
    fn load_sorted(
        &self,
        space: Space,
        items: &mut dyn Iterator<Item = Result<super::KvPair>>,
    ) -> Result<()> {
        let ks = self.ks(space)?;
        let mut ingestion = ks.start_ingestion().map_err(|e| map_err(&self.path, e))?;
        let mut last: Option<Vec<u8>> = None;
        for item in items {
            let (k, v) = item?;
            if last.as_ref().is_some_and(|l| *l >= k) {
                return Err(Error::corrupted(
                    format!("{} space", space.name()),
                    "keys came out of order while copying the store",
                ));
            }
            ingestion
                .write(k.clone(), v)
                .map_err(|e| map_err(&self.path, e))?;
            last = Some(k);
        }
        ingestion.finish().map_err(|e| map_err(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        let e = super::FjallEngine::open(dir.path()).unwrap();
        super::super::conformance::run(&e);
    }

    #[test]
    fn a_second_opener_is_told_the_store_is_locked() {
        let dir = tempfile::tempdir().unwrap();
        let _e = super::FjallEngine::open(dir.path()).unwrap();
        let err = super::FjallEngine::open(dir.path()).err().unwrap();
        assert!(matches!(err, crate::Error::Locked(_)), "{err}");
    }

    #[test]
    fn damaged_version_pointers_and_files_are_corruption_before_fjall_reads_them() {
        use crate::storage::{Batch, Engine};
        let dir = tempfile::tempdir().unwrap();
        {
            let e = super::FjallEngine::open(dir.path()).unwrap();
            let mut b = Batch::default();
            b.put(crate::codec::Space::Rows, vec![1], vec![2]);
            e.write(&b).unwrap();
            e.sync().unwrap();
        }
        // Intact files pass.
        super::check_version_files(dir.path()).unwrap();
        let ks = dir.path().join("keyspaces").join("0");
        let current = std::fs::read(ks.join("current")).unwrap();
        let id = u64::from_le_bytes(current[0..8].try_into().unwrap());
        let version = ks.join(format!("v{id}"));
        let original = std::fs::read(&version).unwrap();
        let expect_corrupt = |what: &str, needle: &str| {
            let err = super::check_version_files(dir.path()).unwrap_err();
            assert!(
                matches!(err, crate::Error::Corrupted { .. }) && err.to_string().contains(needle),
                "{what}: {err}"
            );
        };

        let mut flipped = original.clone();
        flipped[original.len() / 2] ^= 0x10;
        std::fs::write(&version, &flipped).unwrap();
        expect_corrupt("a flipped bit", "does not match its checksum");
        std::fs::write(&version, &original).unwrap();

        std::fs::write(ks.join("current"), &current[..20]).unwrap();
        expect_corrupt("a short pointer", "20 bytes long");

        // A pointer to a missing file is fjall's to report: an error at open, not an abort.
        let mut other = current.clone();
        other[0..8].copy_from_slice(&(id + 1000).to_le_bytes());
        std::fs::write(ks.join("current"), &other).unwrap();
        super::check_version_files(dir.path()).unwrap();
        assert!(super::FjallEngine::open(dir.path()).is_err());

        // A stray file beside the keyspace folders is skipped, as fjall skips it.
        std::fs::write(ks.join("current"), &current).unwrap();
        std::fs::write(dir.path().join("keyspaces").join(".DS_Store"), b"x").unwrap();
        super::check_version_files(dir.path()).unwrap();
        drop(super::FjallEngine::open(dir.path()).unwrap());
        // The engine itself refuses the damaged store with the same error.
        std::fs::write(&version, &flipped).unwrap();
        let err = super::FjallEngine::open(dir.path()).err().unwrap();
        assert!(matches!(err, crate::Error::Corrupted { .. }), "{err}");
    }
}
