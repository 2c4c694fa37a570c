//! The sled 0.34.7 engine (selectable): every [`Space`] lives in sled's default tree under a
//! one-byte prefix, so that one `Batch` per commit is atomic across spaces, also across a crash.
//!
//! sled has no snapshots: a read view holds the read side of an apply lock for its lifetime and
//! [`Engine::write`] takes the write side, so no view ever sees part of a batch.
//!
//! Durability: sled's `flush()` uses `sync_file_range` on Linux, which is not a durable fsync.
//! [`Engine::sync`] therefore flushes and then fdatasyncs sled's data file itself. sled can panic
//! on damaged files; opening runs inside `catch_unwind` and reports corruption instead.

use std::fs::File;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use parking_lot::{RwLock, RwLockReadGuard};

use super::Space;
use super::{
    empty_range, prefixed_bounds, prefixed_key, Batch, Engine, EngineKind, KvIter, ReadView,
};
use crate::error::{Error, Result};

/// The sled-backed engine.
pub struct SledEngine {
    path: PathBuf,
    db: sled::Db,
    apply: RwLock<()>,
}

impl SledEngine {
    /// Opens (or creates) the engine's files in `path`.
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "the unit tests open engines directly")
    )]
    pub fn open(path: &Path) -> Result<SledEngine> {
        SledEngine::open_existing(path, false)
    }

    /// Opens the engine's files in `path`; with `existing`, sled's folder and its `db` and
    /// `conf` files must be there (sled would otherwise start an empty database).
    ///
    /// A partly written snapshot (`snap.<lsn>.generating`, which sled 0.34.7 writes before
    /// renaming it to `snap.<lsn>`) is removed first: sled takes the newest snapshot file by
    /// name, and that name sorts after the complete snapshot it replaces, so a crash while it
    /// was written made the store unopenable ("corruption at None", sled #1527 / #1533). The
    /// complete snapshot before it is still there (sled deletes old snapshots only after the
    /// rename), and nothing in the partial file is data that is not also in sled's log.
    pub fn open_existing(path: &Path, existing: bool) -> Result<SledEngine> {
        if existing {
            for must in ["db", "conf"] {
                let p = path.join(must);
                if !p.is_file() {
                    return Err(Error::corrupted(
                        p.display().to_string(),
                        format!(
                            "sled's `{must}` file is missing; the engine's files are damaged: \
                             restore the store from a backup or from an earlier export"
                        ),
                    ));
                }
            }
        }
        remove_partial_snapshots(path)?;
        let p = path.to_path_buf();
        // sled's own file lock outlives a closed handle by up to one flush period (its flusher
        // thread holds the file until it wakes up). The store's folder lock, taken before the
        // engine is opened, already keeps every other opener out; a sled lock still held is
        // this process's closed handle, so the open waits for it a little.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        loop {
            let opened = std::panic::catch_unwind(|| {
                sled::Config::new()
                    .path(&p)
                    .cache_capacity(64 << 20)
                    .flush_every_ms(Some(500))
                    .open()
            });
            return match opened {
                Ok(Ok(db)) => Ok(SledEngine {
                    path: path.to_path_buf(),
                    db,
                    apply: RwLock::new(()),
                }),
                Ok(Err(e)) => match map_err(path, e) {
                    Error::Locked(_) if std::time::Instant::now() < deadline => {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        continue;
                    }
                    other => Err(other),
                },
                Err(_) => Err(Error::corrupted(
                    path.display().to_string(),
                    "the sled engine could not open its files (it panicked while reading them)",
                )),
            };
        }
    }
}

/// Removes `snap.*.generating` files (see [`SledEngine::open_existing`]).
fn remove_partial_snapshots(path: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(path) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut removed = false;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(path, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            std::fs::remove_file(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
            removed = true;
        }
    }
    if removed {
        std::fs::File::open(path)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(path, e))?;
    }
    Ok(())
}

fn map_err(path: &Path, e: sled::Error) -> Error {
    match e {
        sled::Error::Io(source) if source.kind() == std::io::ErrorKind::WouldBlock => {
            Error::Locked(path.to_path_buf())
        }
        sled::Error::Io(source) => {
            if source.to_string().contains("lock") {
                Error::Locked(path.to_path_buf())
            } else {
                Error::io(path, source)
            }
        }
        sled::Error::Corruption { at, .. } => Error::corrupted(
            path.display().to_string(),
            format!("sled reports corruption at {at:?}"),
        ),
        other => Error::Storage(format!("sled: {other}")),
    }
}

struct View<'a> {
    engine: &'a SledEngine,
    _guard: RwLockReadGuard<'a, ()>,
}

impl ReadView for View<'_> {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.engine
            .db
            .get(prefixed_key(space, key))
            .map(|v| v.map(|iv| iv.to_vec()))
            .map_err(|e| map_err(&self.engine.path, e))
    }

    fn range<'a>(
        &'a self,
        space: Space,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        reverse: bool,
    ) -> Result<KvIter<'a>> {
        let (s, e) = prefixed_bounds(space, start, end);
        if empty_range(&s, &e) {
            return Ok(Box::new(std::iter::empty()));
        }
        let it = self.engine.db.range::<Vec<u8>, _>((s, e));
        let path = &self.engine.path;
        let conv = move |r: sled::Result<(sled::IVec, sled::IVec)>| {
            r.map(|(k, v)| (k.get(1..).unwrap_or_default().to_vec(), v.to_vec()))
                .map_err(|e| map_err(path, e))
        };
        if reverse {
            Ok(Box::new(it.rev().map(conv)))
        } else {
            Ok(Box::new(it.map(conv)))
        }
    }
}

impl Engine for SledEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Sled
    }

    fn read(&self) -> Result<Box<dyn ReadView + '_>> {
        Ok(Box::new(View {
            engine: self,
            _guard: self.apply.read_recursive(),
        }))
    }

    fn write(&self, batch: &Batch) -> Result<()> {
        let mut b = sled::Batch::default();
        for (s, k, v) in batch.iter() {
            match v {
                Some(v) => b.insert(prefixed_key(s, k), v),
                None => b.remove(prefixed_key(s, k)),
            }
        }
        let _g = self.apply.write();
        self.db.apply_batch(b).map_err(|e| map_err(&self.path, e))
    }

    fn sync(&self) -> Result<()> {
        self.db.flush().map_err(|e| map_err(&self.path, e))?;
        // flush() ends in sync_file_range on Linux: not durable. fdatasync the data file.
        let data = self.path.join("db");
        let f = File::open(&data).map_err(|e| Error::io(&data, e))?;
        f.sync_data().map_err(|e| Error::io(&data, e))
    }

    fn disk_bytes(&self) -> Result<u64> {
        self.db.size_on_disk().map_err(|e| map_err(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        let e = super::SledEngine::open(dir.path()).unwrap();
        super::super::conformance::run(&e);
    }
}
