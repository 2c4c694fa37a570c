//! A write overlay over a read view: the staging area of a transaction and of a rebuild.
//!
//! Reads through an [`Overlay`] see its own changes over the base view; [`Overlay::into_batch`]
//! turns the changes into one atomic [`Batch`]. Nothing reaches the engine before that.

use std::iter::Peekable;
use std::ops::Bound;

use std::sync::Arc;

use super::Space;
use super::{Batch, KvIter, ReadView, SpaceMap};
use crate::error::Result;

type Staged = (Vec<u8>, Option<Vec<u8>>);

/// A read view with pending changes on top (one ordered map per space, so lookups borrow the key).
pub struct Overlay<'a> {
    base: Box<dyn ReadView + 'a>,
    changes: Batch,
    /// The last row read from the base view, by key: a write reads the row it changes, and
    /// the views then read it again to replace it (the base never changes, so it stays true).
    last_row: std::cell::RefCell<Option<Staged>>,
}

/// A view of an empty store (the base of a rebuild).
pub struct EmptyView;

impl ReadView for EmptyView {
    fn get(&self, _: Space, _: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }

    fn range<'a>(
        &'a self,
        _: Space,
        _: Bound<&[u8]>,
        _: Bound<&[u8]>,
        _: bool,
    ) -> Result<KvIter<'a>> {
        Ok(Box::new(std::iter::empty()))
    }
}

/// A view that shows only the log and transaction spaces of another view and nothing else: the
/// base of a replay, which rebuilds every other space from the log but may read earlier events.
pub struct LogOnlyView<'a>(pub &'a dyn ReadView);

impl ReadView for LogOnlyView<'_> {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match space {
            Space::Log | Space::Tx => self.0.get(space, key),
            _ => Ok(None),
        }
    }

    fn range<'b>(
        &'b self,
        space: Space,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        reverse: bool,
    ) -> Result<KvIter<'b>> {
        match space {
            Space::Log | Space::Tx => self.0.range(space, start, end, reverse),
            _ => Ok(Box::new(std::iter::empty())),
        }
    }
}

impl<'a> Overlay<'a> {
    /// An overlay with no changes yet.
    pub fn new(base: Box<dyn ReadView + 'a>) -> Overlay<'a> {
        Overlay {
            base,
            changes: Batch::default(),
            last_row: std::cell::RefCell::new(None),
        }
    }

    /// Stages a put.
    pub fn put(&mut self, space: Space, key: Vec<u8>, value: Vec<u8>) {
        self.changes.put(space, key, value);
    }

    /// Stages a delete.
    pub fn delete(&mut self, space: Space, key: Vec<u8>) {
        self.changes.delete(space, key);
    }

    /// The staged changes of one space, in key order (`None` = delete).
    pub fn staged(&self, space: Space) -> impl Iterator<Item = (&Vec<u8>, &Option<Vec<u8>>)> {
        self.changes.space(space).into_iter().flatten()
    }

    /// Drops the base view and returns the staged changes as one batch.
    pub fn into_batch(self) -> Batch {
        self.changes
    }
}

/// Staged entries of `map` within the bounds, in the requested order.
fn staged_range(
    map: Option<&SpaceMap>,
    start: Bound<&[u8]>,
    end: Bound<&[u8]>,
    reverse: bool,
) -> Vec<Staged> {
    match map {
        Some(m) if !m.is_empty() && !super::empty_range(&start, &end) => {
            let it = m
                .range::<[u8], _>((start, end))
                .map(|(k, v)| (k.clone(), v.clone()));
            if reverse {
                it.rev().collect()
            } else {
                it.collect()
            }
        }
        _ => Vec::new(),
    }
}

/// A read view with batches on top that were handed to the commit pipeline but may not be
/// applied yet (oldest first): what the next writer reads, so that it need not wait for the
/// engine to apply the previous commit. A batch applied meanwhile is seen twice, which is
/// harmless: applying the same changes again changes nothing.
pub struct LayeredView<'a> {
    base: Box<dyn ReadView + 'a>,
    layers: Vec<Arc<Batch>>,
}

impl<'a> LayeredView<'a> {
    /// The base view with `layers` (oldest first) on top.
    pub fn new(base: Box<dyn ReadView + 'a>, layers: Vec<Arc<Batch>>) -> LayeredView<'a> {
        LayeredView { base, layers }
    }
}

impl ReadView for LayeredView<'_> {
    fn walks_rows(&self) -> bool {
        self.base.walks_rows()
    }

    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>> {
        for layer in self.layers.iter().rev() {
            if let Some(v) = layer.get(space, key) {
                return Ok(v.cloned());
            }
        }
        self.base.get(space, key)
    }

    fn range<'b>(
        &'b self,
        space: Space,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        reverse: bool,
    ) -> Result<KvIter<'b>> {
        let base = self.base.range(space, start, end, reverse)?;
        if self.layers.is_empty() {
            return Ok(base);
        }
        let mut merged: SpaceMap = SpaceMap::new();
        for layer in &self.layers {
            for (k, v) in staged_range(layer.space(space), start, end, false) {
                merged.insert(k, v);
            }
        }
        if merged.is_empty() {
            return Ok(base);
        }
        let staged: Vec<Staged> = if reverse {
            merged.into_iter().rev().collect()
        } else {
            merged.into_iter().collect()
        };
        Ok(Box::new(Merge {
            base: base.peekable(),
            staged: staged.into_iter().peekable(),
            reverse,
        }))
    }
}

impl ReadView for Overlay<'_> {
    fn walks_rows(&self) -> bool {
        self.base.walks_rows()
    }

    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(v) = self.changes.get(space, key) {
            return Ok(v.cloned());
        }
        if space != Space::Rows {
            return self.base.get(space, key);
        }
        if let Some((k, v)) = self.last_row.borrow().as_ref() {
            if k.as_slice() == key {
                return Ok(v.clone());
            }
        }
        let got = self.base.get(space, key)?;
        *self.last_row.borrow_mut() = Some((key.to_vec(), got.clone()));
        Ok(got)
    }

    fn range<'b>(
        &'b self,
        space: Space,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        reverse: bool,
    ) -> Result<KvIter<'b>> {
        let staged = staged_range(self.changes.space(space), start, end, reverse);
        let base = self.base.range(space, start, end, reverse)?;
        if staged.is_empty() {
            return Ok(base);
        }
        Ok(Box::new(Merge {
            base: base.peekable(),
            staged: staged.into_iter().peekable(),
            reverse,
        }))
    }
}

struct Merge<'a> {
    base: Peekable<KvIter<'a>>,
    staged: Peekable<std::vec::IntoIter<Staged>>,
    reverse: bool,
}

impl Iterator for Merge<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let take_staged = match (self.base.peek(), self.staged.peek()) {
                (None, None) => return None,
                (Some(Err(_)), _) => return self.base.next(),
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (Some(Ok((bk, _))), Some((sk, _))) => {
                    if bk == sk {
                        self.base.next();
                        true
                    } else {
                        (sk < bk) != self.reverse
                    }
                }
            };
            if take_staged {
                match self.staged.next() {
                    Some((k, Some(v))) => return Some(Ok((k, v))),
                    Some((_, None)) => continue,
                    None => return None,
                }
            }
            return self.base.next();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::MemoryEngine;
    use crate::storage::Engine;

    #[test]
    fn overlay_merges_in_both_directions() {
        let e = MemoryEngine::new();
        let mut b = Batch::default();
        for k in [1u8, 3, 5, 7] {
            b.put(Space::Rows, vec![k], vec![k]);
        }
        e.write(&b).unwrap();
        let mut o = Overlay::new(e.read().unwrap());
        o.put(Space::Rows, vec![2], vec![20]);
        o.delete(Space::Rows, vec![5]);
        o.put(Space::Rows, vec![7], vec![70]);
        o.put(Space::Index, vec![4], vec![]);
        let fwd: Vec<(Vec<u8>, Vec<u8>)> = o
            .range(Space::Rows, Bound::Unbounded, Bound::Unbounded, false)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(
            fwd,
            vec![
                (vec![1], vec![1]),
                (vec![2], vec![20]),
                (vec![3], vec![3]),
                (vec![7], vec![70])
            ]
        );
        let rev: Vec<Vec<u8>> = o
            .range(
                Space::Rows,
                Bound::Excluded(&[1]),
                Bound::Included(&[7]),
                true,
            )
            .unwrap()
            .map(|r| r.unwrap().0)
            .collect();
        assert_eq!(rev, vec![vec![7], vec![3], vec![2]]);
        assert_eq!(o.get(Space::Rows, &[5]).unwrap(), None);
        let batch = o.into_batch();
        assert_eq!(batch.len(), 4);
    }
}
