//! The in-memory engine: an ordered map behind a read-write lock. Used by tests and as the CPU
//! floor in benchmarks; nothing reaches disk and [`Engine::sync`] does nothing.

use std::collections::BTreeMap;
use std::ops::Bound;

use parking_lot::{RwLock, RwLockReadGuard};

use super::Space;
use super::{
    empty_range, prefixed_bounds, prefixed_key, Batch, Engine, EngineKind, KvIter, ReadView,
};
use crate::error::Result;

/// An engine that keeps everything in memory.
#[derive(Default)]
pub struct MemoryEngine {
    map: RwLock<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl MemoryEngine {
    /// A new, empty engine.
    pub fn new() -> MemoryEngine {
        MemoryEngine::default()
    }
}

struct View<'a>(RwLockReadGuard<'a, BTreeMap<Vec<u8>, Vec<u8>>>);

impl ReadView for View<'_> {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.0.get(&prefixed_key(space, key)).cloned())
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
        let it = self
            .0
            .range((s, e))
            .map(|(k, v)| Ok((k.get(1..).unwrap_or_default().to_vec(), v.clone())));
        if reverse {
            Ok(Box::new(it.rev()))
        } else {
            Ok(Box::new(it))
        }
    }
}

impl Engine for MemoryEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Memory
    }

    fn read(&self) -> Result<Box<dyn ReadView + '_>> {
        // Recursive read: a thread holding a view may open another while a writer waits.
        Ok(Box::new(View(self.map.read_recursive())))
    }

    fn write(&self, batch: &Batch) -> Result<()> {
        let mut map = self.map.write();
        for (s, k, v) in batch.iter() {
            match v {
                Some(v) => {
                    map.insert(prefixed_key(s, k), v.to_vec());
                }
                None => {
                    map.remove(&prefixed_key(s, k));
                }
            }
        }
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        Ok(())
    }

    fn disk_bytes(&self) -> Result<u64> {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn conformance() {
        super::super::conformance::run(&super::MemoryEngine::new());
    }
}
