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
}
