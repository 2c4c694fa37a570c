//! The version index (`hist`) and everything read from it: the versions of a row, its lives,
//! the image of a version, which deletion holds a life, and what history pruning must keep.
//!
//! A row's versions are its `hist` entries plus, for a row whose last event is an Insert, the
//! live version the rows view records (`docs/design.md` §4). A row's *life* runs from an Insert
//! to the tombstone that puts it in a trash; a restore continues the same life (§11). Every
//! as-of read, restore to a point, purge and pruning asks this module, and nothing else reads
//! `hist`.

use std::collections::HashSet;
use std::ops::Bound;

use crate::codec::record::kind;
use crate::codec::{self, keys, Space};
use crate::error::{Error, Result};
use crate::log::{self, Event, EventBody};
use crate::storage::overlay::Overlay;
use crate::storage::ReadView;
use crate::value::Value;

fn is_image_tag(tag: u8) -> bool {
    matches!(
        tag,
        kind::INSERT | kind::UPDATE | kind::RESTORE | kind::UNLINK
    )
}

/// The LSNs of the image-bearing versions of one row (its live Insert included), oldest first.
pub(crate) fn image_versions(view: &dyn ReadView, table: u32, pk_enc: &[u8]) -> Result<Vec<u64>> {
    let prefix = codec::row_key(table, pk_enc);
    let mut out = Vec::new();
    for item in crate::records::scan_prefix(view, Space::Hist, &prefix, false)? {
        let (k, v) = item?;
        let (_, pk, lsn) = codec::hist_parts(&k)?;
        if pk != pk_enc {
            continue;
        }
        if v.first().copied().is_some_and(is_image_tag) {
            out.push(lsn);
        }
    }
    // The live version, an Insert without its own entry (design §4), is the newest.
    if let Some(live) = crate::records::live_lsn(view, table, pk_enc)? {
        if out.last().is_none_or(|&last| last < live) {
            out.push(live);
        }
    }
    Ok(out)
}

/// One image-bearing event of a row's life.
pub(crate) struct LifeImage {
    /// Its LSN.
    pub lsn: u64,
    /// The kind of event it is (or was, if its image is already purged).
    pub was: u8,
    /// True when its image is already purged.
    pub purged: bool,
    /// The deletion of a set-null (Unlink) or Restore event.
    pub deletion: Option<uuid::Uuid>,
}

/// What the version index says about one event of a row, with the deletion of its event read
/// from the log when it has one.
struct HistEntry {
    lsn: u64,
    /// The event's kind (for a purged image: the kind it was).
    was: u8,
    purged: bool,
    deletion: Option<uuid::Uuid>,
}

fn hist_entries(
    view: &dyn ReadView,
    table: u32,
    pk_enc: &[u8],
    end: u64,
) -> Result<Vec<HistEntry>> {
    let start = codec::hist_key(table, pk_enc, 0);
    let stop = codec::hist_key(table, pk_enc, end);
    let mut out = Vec::new();
    for item in view.range(
        Space::Hist,
        std::ops::Bound::Included(&start),
        std::ops::Bound::Included(&stop),
        false,
    )? {
        let (k, v) = item?;
        let lsn = codec::hist_lsn(&k)?;
        let tag = *v
            .first()
            .ok_or_else(|| Error::corrupted("hist", "empty value"))?;
        let entry = match tag {
            kind::INSERT | kind::UPDATE => HistEntry {
                lsn,
                was: tag,
                purged: false,
                deletion: None,
            },
            // A Purge entry may sit inside a later life (it purged an earlier one): it is no
            // event of any life.
            kind::PURGE => continue,
            _ => {
                let ev = log::read_event(view, lsn)?.ok_or_else(|| {
                    Error::corrupted("hist", format!("points at missing lsn {lsn}"))
                })?;
                match ev.body {
                    EventBody::ImagePurged { was, deletion, .. } => HistEntry {
                        lsn,
                        was,
                        purged: true,
                        deletion,
                    },
                    EventBody::Restore { deletion, .. }
                    | EventBody::Unlink { deletion, .. }
                    | EventBody::Tombstone { deletion, .. } => HistEntry {
                        lsn,
                        was: tag,
                        purged: false,
                        deletion: Some(deletion),
                    },
                    _ => {
                        return Err(Error::corrupted(
                            "hist",
                            format!("the version index disagrees with the log at lsn {lsn}"),
                        ))
                    }
                }
            }
        };
        out.push(entry);
    }
    // The live version, an Insert without its own entry (design §4), is the newest.
    if let Some(live) = crate::records::live_lsn(view, table, pk_enc)? {
        if live <= end && out.last().is_none_or(|e| e.lsn < live) {
            out.push(HistEntry {
                lsn: live,
                was: kind::INSERT,
                purged: false,
                deletion: None,
            });
        }
    }
    Ok(out)
}

/// The image-bearing events of the life of a row that ends at `end` (the LSN of the tombstone
/// that put it in the trash), newest first.
///
/// A key's history is a series of live segments separated by tombstones (at most one life of a
/// key is live at a time). A segment starts with an Insert (a new life) or with a Restore right
/// after a tombstone (the life that tombstone ended resumes: its earlier segment ends at the
/// tombstone of that restore's deletion). Walking back from `end` through the segments of the
/// life, down to its Insert, collects every Insert, Update, Restore and Unlink (purged or not);
/// segments of other lives in between are skipped.
pub(crate) fn life_images(
    view: &dyn ReadView,
    table: u32,
    pk_enc: &[u8],
    end: u64,
) -> Result<Vec<LifeImage>> {
    let entries = hist_entries(view, table, pk_enc, end)?;
    let mut out = Vec::new();
    // `i` walks back; entries[i] is the next candidate.
    let mut i = entries.len();
    // Skip the closing tombstone itself.
    if i > 0 && entries.get(i - 1).is_some_and(|e| e.lsn == end) {
        i -= 1;
    }
    while i > 0 {
        i -= 1;
        let Some(e) = entries.get(i) else { break };
        match e.was {
            kind::TOMBSTONE => {
                // Only reached at the start of a segment that did not begin with an Insert
                // or a resuming Restore: the history is not what a store writes.
                return Err(Error::corrupted(
                    "hist",
                    format!(
                        "a life of a row reaches back to the tombstone at lsn {}",
                        e.lsn
                    ),
                ));
            }
            kind::INSERT | kind::UPDATE | kind::UNLINK | kind::RESTORE => {
                out.push(LifeImage {
                    lsn: e.lsn,
                    was: e.was,
                    purged: e.purged,
                    deletion: e.deletion,
                });
                if e.was == kind::INSERT {
                    break;
                }
                let resumes = e.was == kind::RESTORE
                    && i > 0
                    && entries.get(i - 1).is_some_and(|p| p.was == kind::TOMBSTONE);
                if resumes {
                    // Jump to the tombstone of the restored deletion; its segment continues
                    // below it. A restore of an unknown deletion begins the life.
                    match entries
                        .get(..i)
                        .unwrap_or_default()
                        .iter()
                        .rposition(|p| p.was == kind::TOMBSTONE && p.deletion == e.deletion)
                    {
                        Some(t) => i = t,
                        None => break,
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A row's events grouped into its lives (design §11): an Insert begins a life; Updates,
/// Unlinks and set-null reverts (a Restore of a live row) continue the live one; a Tombstone
/// ends it and puts it in its deletion's trash; a Restore of a row that is not live resumes
/// the life its deletion's trash holds; a Purge removes that life from the trash for good.
pub(crate) struct Lives {
    /// Every event of the row up to the walk's end, oldest first, with the life it belongs to.
    pub events: Vec<LifeEvent>,
    /// The life that is live at the walk's end.
    pub live: Option<usize>,
    /// The lives in a trash at the walk's end: deletion → (life, LSN of the tombstone).
    pub trashed: std::collections::HashMap<uuid::Uuid, (usize, u64)>,
}

/// One event of a row, as [`Lives`] sees it.
pub(crate) struct LifeEvent {
    pub lsn: u64,
    /// The event's kind (for a purged image: the kind it was).
    pub was: u8,
    /// The deletion of a Tombstone, Unlink or Restore.
    pub deletion: Option<uuid::Uuid>,
    /// The life it belongs to (numbered from 0 in order of beginning).
    pub life: usize,
}

impl Lives {
    /// The life of the row's version as of `lsn` (its newest event ≤ `lsn`), when that version
    /// holds an image.
    pub fn life_at(&self, lsn: u64) -> Option<usize> {
        self.events
            .iter()
            .rev()
            .find(|e| e.lsn <= lsn)
            .filter(|e| is_image_tag(e.was))
            .map(|e| e.life)
    }

    /// The deletion whose trash holds `life`, if it is in a trash.
    pub fn holder_of(&self, life: usize) -> Option<uuid::Uuid> {
        self.trashed
            .iter()
            .find(|(_, (l, _))| *l == life)
            .map(|(d, _)| *d)
    }

    /// The deletion holding the latest life in a trash (by tombstone), if any.
    pub fn latest_holder(&self) -> Option<uuid::Uuid> {
        self.trashed
            .iter()
            .max_by_key(|(_, (_, at))| *at)
            .map(|(d, _)| *d)
    }
}

/// Walks a row's version index up to `end` and groups its events into lives (see [`Lives`]).
pub(crate) fn lives(view: &dyn ReadView, table: u32, pk_enc: &[u8], end: u64) -> Result<Lives> {
    let start = codec::hist_key(table, pk_enc, 0);
    let stop = codec::hist_key(table, pk_enc, end);
    let mut out = Lives {
        events: Vec::new(),
        live: None,
        trashed: std::collections::HashMap::new(),
    };
    let mut count = 0usize;
    let mut seen = Vec::new();
    for item in view.range(
        Space::Hist,
        std::ops::Bound::Included(&start),
        std::ops::Bound::Included(&stop),
        false,
    )? {
        let (k, v) = item?;
        let tag = *v
            .first()
            .ok_or_else(|| Error::corrupted("hist", "empty value"))?;
        seen.push((codec::hist_lsn(&k)?, tag));
    }
    // The live version, an Insert without its own entry (design §4), is the newest.
    // (A Purge entry of an earlier life may lie after it.)
    if let Some(live) = crate::records::live_lsn(view, table, pk_enc)? {
        let listed = seen.iter().any(|&(l, tag)| l >= live && tag != kind::PURGE);
        if live <= end && !listed {
            let at = seen.partition_point(|&(l, _)| l < live);
            seen.insert(at, (live, kind::INSERT));
        }
    }
    for (lsn, tag) in seen {
        let (was, deletion) = match tag {
            kind::INSERT | kind::UPDATE => (tag, None),
            _ => {
                let ev = log::read_event(view, lsn)?.ok_or_else(|| {
                    Error::corrupted("hist", format!("points at missing lsn {lsn}"))
                })?;
                match ev.body {
                    EventBody::ImagePurged { was, deletion, .. } => (was, deletion),
                    EventBody::Restore { deletion, .. }
                    | EventBody::Unlink { deletion, .. }
                    | EventBody::Tombstone { deletion, .. }
                    | EventBody::Purge { deletion, .. } => (tag, Some(deletion)),
                    _ => {
                        return Err(Error::corrupted(
                            "hist",
                            format!("the version index disagrees with the log at lsn {lsn}"),
                        ))
                    }
                }
            }
        };
        let mut new_life = || {
            count += 1;
            count - 1
        };
        let life = match (was, out.live, deletion) {
            (kind::PURGE, _, Some(d)) => {
                out.trashed.remove(&d);
                continue;
            }
            (kind::INSERT, _, _) => {
                let l = new_life();
                out.live = Some(l);
                l
            }
            (kind::TOMBSTONE, Some(l), Some(d)) => {
                out.trashed.insert(d, (l, lsn));
                out.live = None;
                l
            }
            (kind::RESTORE, None, Some(d)) => {
                // A restore of a deletion that does not hold a life of the row begins one.
                let l = match out.trashed.remove(&d) {
                    Some((l, _)) => l,
                    None => new_life(),
                };
                out.live = Some(l);
                l
            }
            (kind::UPDATE | kind::UNLINK | kind::RESTORE, Some(l), _) => l,
            _ => {
                return Err(Error::corrupted(
                    "hist",
                    format!("the event at lsn {lsn} does not fit the row's history"),
                ))
            }
        };
        out.events.push(LifeEvent {
            lsn,
            was,
            deletion,
            life,
        });
    }
    Ok(out)
}

/// The deletion whose trash held the key at LSN `at` — what `find_deletion` answered then: the
/// deletion holding the latest life of the key still in a trash by then (whether or not a
/// later life of the key was live then).
pub(crate) fn holder_at(
    view: &dyn ReadView,
    table: u32,
    pk_enc: &[u8],
    at: u64,
) -> Result<Option<uuid::Uuid>> {
    Ok(lives(view, table, pk_enc, at)?.latest_holder())
}

/// The LSN of the latest tombstone of the row by `deletion` before `before`, if any.
pub(crate) fn tombstone_of(
    view: &dyn ReadView,
    table: u32,
    pk_enc: &[u8],
    before: u64,
    deletion: &uuid::Uuid,
) -> Result<Option<u64>> {
    let entries = hist_entries(view, table, pk_enc, before.saturating_sub(1))?;
    Ok(entries
        .iter()
        .rev()
        .find(|e| e.was == kind::TOMBSTONE && e.deletion.as_ref() == Some(deletion))
        .map(|e| e.lsn))
}

/// Replaces the event at `lsn` (an Insert, Update, Restore or Unlink of the row) by its purged
/// form, marks its version-index entry and removes its past index entries (design §4: no
/// value outlives its image). Returns false when it held no image.
pub(crate) fn purge_image(
    o: &mut Overlay,
    t: &crate::schema::Table,
    pk_enc: &[u8],
    lsn: u64,
) -> Result<bool> {
    let table = t.id();
    let ev = log::read_event(&*o, lsn)?
        .ok_or_else(|| Error::corrupted("hist", format!("points at missing lsn {lsn}")))?;
    if let Some(image) = crate::records::event_image(&ev.body) {
        forget_runs(o, t, pk_enc, lsn, &ev.body, image)?;
    }
    let was = ev.body.tag();
    let (pk, deletion) = match ev.body {
        EventBody::Insert { pk, .. } | EventBody::Update { pk, .. } => (pk, None),
        EventBody::Restore { pk, deletion, .. } | EventBody::Unlink { pk, deletion, .. } => {
            (pk, Some(deletion))
        }
        _ => return Ok(false),
    };
    let marker = Event {
        lsn,
        tx: ev.tx,
        body: EventBody::ImagePurged {
            table,
            pk,
            was,
            deletion,
        },
    };
    o.put(Space::Log, codec::log_key(lsn).to_vec(), marker.encode()?);
    o.put(
        Space::Hist,
        codec::hist_key(table, pk_enc, lsn),
        vec![kind::IMAGE_PURGED],
    );
    Ok(true)
}

/// Rewrites the past index entries around a version whose image (at `lsn`) is being purged
/// as a replay of the rewritten log would write them (design §4): the run the next event ended
/// for this image's values goes, and the image it replaced (an Update's or a set-null's) now
/// ends its runs at `lsn` for every index, as one replaced by a purged image does.
fn forget_runs(
    o: &mut Overlay,
    t: &crate::schema::Table,
    pk_enc: &[u8],
    lsn: u64,
    body: &EventBody,
    image: &[Value],
) -> Result<()> {
    let table = t.id();
    let next = {
        let start = codec::hist_key(table, pk_enc, lsn.saturating_add(1));
        let end = codec::hist_key(table, pk_enc, u64::MAX);
        let mut it = o.range(
            Space::Hist,
            Bound::Included(&start),
            Bound::Included(&end),
            false,
        )?;
        first_version(&mut it)?
    };
    if let Some(next) = next {
        for idx in &t.indexes {
            let (vals, _) = crate::records::index_vals(t, &idx.cols, image);
            o.delete(
                Space::Index,
                codec::past_index_key(table, idx.id, &vals, pk_enc, next),
            );
        }
    }
    if matches!(body, EventBody::Update { .. } | EventBody::Unlink { .. }) {
        let start = codec::hist_key(table, pk_enc, 0);
        let end = codec::hist_key(table, pk_enc, lsn);
        let before = {
            let mut it = o.range(
                Space::Hist,
                Bound::Included(&start),
                Bound::Excluded(&end),
                true,
            )?;
            first_version(&mut it)?
        };
        let replaced = match before {
            Some(at) => log::read_event(&*o, at)?
                .and_then(|ev| crate::records::event_image(&ev.body).cloned()),
            None => None,
        };
        if let Some(old) = replaced.filter(|img| !img.is_empty()) {
            for idx in &t.indexes {
                let (vals, _) = crate::records::index_vals(t, &idx.cols, &old);
                o.put(
                    Space::Index,
                    codec::past_index_key(table, idx.id, &vals, pk_enc, lsn),
                    Vec::new(),
                );
            }
        }
    }
    Ok(())
}

/// The LSN of the first entry of a walk over one row's hist entries that is an event of the
/// row: the Purge entry of an earlier life, which may lie among the versions of a later one,
/// is not (design §4).
fn first_version(it: &mut crate::storage::KvIter<'_>) -> Result<Option<u64>> {
    for item in it {
        let (k, v) = item?;
        if v.first() != Some(&kind::PURGE) {
            return Ok(Some(codec::hist_lsn(&k)?));
        }
    }
    Ok(None)
}

/// A member of a deletion still in its trash: (table, encoded pk, pk, tombstone LSN).
pub(crate) type TrashedMember = (u32, Vec<u8>, crate::value::Value, u64);

/// The tombstone members of a deletion still in its trash.
pub(crate) fn trashed_members(
    view: &dyn ReadView,
    deletion: &uuid::Uuid,
) -> Result<Vec<TrashedMember>> {
    let mut out = Vec::new();
    for item in crate::records::scan_prefix(view, Space::DelRows, deletion.as_bytes(), false)? {
        let (k, v) = item?;
        let m = crate::records::decode_member(&v)?;
        if m.kind != crate::records::MEMBER_TOMBSTONE {
            continue;
        }
        let (_, table, pk_enc) = codec::delrow_parts(&k)?;
        let pk_enc = pk_enc.to_vec();
        let mut cursor = pk_enc.as_slice();
        let pk = keys::decode_value(&mut cursor)?;
        out.push((table, pk_enc, pk, m.lsn));
    }
    Ok(out)
}

/// The deletion whose trash holds the latest life of the row (table, encoded pk) still in a
/// trash, if any, with the LSN of that life's last image. `released`: the LSN of a tombstone of
/// the row whose deletion the caller has just taken the row out of (a restore or a purge of
/// it), passed over without reading its event from the log.
pub(crate) fn deletion_holding_a_life(
    view: &dyn ReadView,
    table: u32,
    pk_enc: &[u8],
    released: Option<u64>,
) -> Result<Option<(uuid::Uuid, u64)>> {
    let prefix = codec::row_key(table, pk_enc);
    for item in crate::records::scan_prefix(view, Space::Hist, &prefix, true)? {
        let (k, v) = item?;
        let (_, pk, lsn) = codec::hist_parts(&k)?;
        if pk != pk_enc || v.first() != Some(&kind::TOMBSTONE) || released == Some(lsn) {
            continue;
        }
        if let Some(Event {
            body: EventBody::Tombstone { deletion, .. },
            ..
        }) = log::read_event(view, lsn)?
        {
            let member = codec::delrow_key(&deletion, table, pk_enc);
            if let Some(b) = view.get(Space::DelRows, &member)? {
                return Ok(Some((
                    deletion,
                    crate::records::decode_member(&b)?.last_lsn,
                )));
            }
        }
    }
    Ok(None)
}

/// LSNs of images the trash still needs in `table`: the last image of every trashed row and of
/// every set-null member of a deletion in the trash, and the image each set-null update wrote.
pub(crate) fn images_in_use(view: &dyn ReadView, table: u32) -> Result<HashSet<u64>> {
    let mut keep = HashSet::new();
    for item in crate::records::scan_prefix(view, Space::Dead, &codec::table_prefix(table), false)?
    {
        let (k, _) = item?;
        let (_, pk) = codec::row_parts(Space::Dead, &k)?;
        if let Some((_, last)) = crate::records::get_dead(view, table, pk)? {
            keep.insert(last);
        }
    }
    for item in view.range(
        Space::DelRows,
        std::ops::Bound::Unbounded,
        std::ops::Bound::Unbounded,
        false,
    )? {
        let (k, v) = item?;
        let (_, t, _) = codec::delrow_parts(&k)?;
        if t == table {
            let m = crate::records::decode_member(&v)?;
            keep.insert(m.last_lsn);
            if m.kind == crate::records::MEMBER_UNLINK {
                // a restore reads which references the set-null update cleared from its image
                keep.insert(m.lsn);
            }
        }
    }
    Ok(keep)
}

/// The images of a row written before `horizon` that as-of reads from `first_point` on (the
/// first point a history window leaves readable: the last LSN of the transaction holding
/// `horizon`) still show: the version in effect at `first_point`, and the last image before
/// each tombstone or set-null update whose member was still in its deletion's trash at
/// `horizon` (the as-of trash shows it).
pub(crate) fn images_read_after(
    view: &dyn ReadView,
    table: u32,
    pk_enc: &[u8],
    horizon: u64,
    first_point: u64,
) -> Result<HashSet<u64>> {
    let lives = lives(view, table, pk_enc, u64::MAX)?;
    let mut keep = HashSet::new();
    let mut last_image: Option<u64> = None;
    let mut in_effect: Option<(u64, u8)> = None;
    for (i, e) in lives.events.iter().enumerate() {
        if e.lsn <= first_point {
            in_effect = Some((e.lsn, e.was));
        }
        if matches!(e.was, kind::TOMBSTONE | kind::UNLINK) {
            let restored_before_horizon = lives.events.get(i + 1..).is_some_and(|later| {
                later
                    .iter()
                    .any(|r| r.lsn < horizon && r.was == kind::RESTORE && r.deletion == e.deletion)
            });
            if !restored_before_horizon {
                if let Some(img) = last_image.filter(|&l| l < horizon) {
                    keep.insert(img);
                }
            }
        }
        if is_image_tag(e.was) {
            last_image = Some(e.lsn);
        }
    }
    if let Some((lsn, was)) = in_effect {
        if is_image_tag(was) && lsn < horizon {
            keep.insert(lsn);
        }
    }
    Ok(keep)
}

/// Every row of `table` with versions in the version index: encoded primary keys, in order.
pub(crate) fn rows_with_history(view: &dyn ReadView, table: u32) -> Result<Vec<Vec<u8>>> {
    let prefix = codec::table_prefix(table);
    let mut out: Vec<Vec<u8>> = Vec::new();
    for item in crate::records::scan_prefix(view, Space::Hist, &prefix, false)? {
        let (k, _) = item?;
        let (_, pk_enc, _) = codec::hist_parts(&k)?;
        if out.last().map(Vec::as_slice) != Some(pk_enc) {
            out.push(pk_enc.to_vec());
        }
    }
    Ok(out)
}

/// One version of a row: the event that wrote it.
pub(crate) struct Version {
    pub lsn: u64,
    /// The event's kind; `kind::ROW` for the row's live version taken from the rows view (an
    /// Insert, Update, Restore or Unlink: which one is not read).
    pub tag: u8,
}

impl Version {
    pub(crate) fn is_live(&self) -> bool {
        matches!(
            self.tag,
            kind::INSERT | kind::UPDATE | kind::RESTORE | kind::UNLINK | kind::ROW
        )
    }
}

/// The newest version ≤ `lsn` of a row, from the version index and the row's live version
/// (which has no hist entry when it is an Insert not changed since, design §4).
pub(crate) fn version_at(
    view: &dyn ReadView,
    table: u32,
    pk_enc: &[u8],
    lsn: u64,
) -> Result<Option<Version>> {
    // The live version is a row's newest event (a later Purge entry belongs to an earlier
    // life), so when it is ≤ `lsn` it is the answer.
    match crate::records::live_lsn(view, table, pk_enc)? {
        Some(live) if live <= lsn => Ok(Some(Version {
            lsn: live,
            tag: kind::ROW,
        })),
        _ => listed_version_at(view, table, pk_enc, lsn),
    }
}

/// The row as of `lsn` when that is its live version: the rows view's record, image included
/// (no log read).
fn live_row_at(
    view: &dyn ReadView,
    table: u32,
    pk_enc: &[u8],
    lsn: u64,
) -> Result<Option<(Vec<u8>, crate::records::StoredRow)>> {
    let key = codec::row_key(table, pk_enc);
    match view.get(Space::Rows, &key)? {
        // The LSN alone first: a row changed since needs no image decoded.
        Some(bytes) if crate::records::row_lsn(&key, &bytes)? <= lsn => {
            let row = crate::records::decode_row(&key, &bytes)?;
            Ok(Some((bytes, row)))
        }
        _ => Ok(None),
    }
}

/// The newest version ≤ `lsn` of a row that has a hist entry.
pub(crate) fn listed_version_at(
    view: &dyn ReadView,
    table: u32,
    pk_enc: &[u8],
    lsn: u64,
) -> Result<Option<Version>> {
    let start = codec::hist_key(table, pk_enc, 0);
    let end = codec::hist_key(table, pk_enc, lsn);
    let mut found = None;
    view.visit(
        Space::Hist,
        Bound::Included(&start),
        Bound::Included(&end),
        true,
        &mut |k, v| {
            let tag = *v
                .first()
                .ok_or_else(|| Error::corrupted("hist", "empty value"))?;
            if tag == kind::PURGE {
                // The purge of an earlier life (which was in the trash): not a version.
                return Ok(true);
            }
            found = Some(Version {
                lsn: codec::hist_lsn(k)?,
                tag,
            });
            Ok(false)
        },
    )?;
    Ok(found)
}

/// The image a live version holds.
pub(crate) fn image_of(view: &dyn ReadView, lsn: u64) -> Result<Vec<Value>> {
    let ev = log::read_event(view, lsn)?
        .ok_or_else(|| Error::corrupted("log", format!("no event at lsn {lsn}")))?;
    if let log::EventBody::ImagePurged { pk, .. } = &ev.body {
        return Err(Error::Purged(format!(
            "the version of row {pk} written at lsn {lsn}"
        )));
    }
    crate::records::into_event_image(ev.body).ok_or_else(|| {
        Error::corrupted("log", format!("the event at lsn {lsn} holds no row image"))
    })
}

/// A row as of an LSN, as the one as-of row lookup finds it.
pub(crate) enum RowAsOf {
    /// Its version then is its live version: the rows view's record (bytes and decoded).
    Live(Vec<u8>, crate::records::StoredRow),
    /// An earlier version: its LSN and image.
    Version(u64, Vec<Value>),
    /// Its version then had its image purged (the LSN of that version).
    Purged(u64),
    /// Not live then.
    Absent,
}

/// The row (table, encoded pk) as of `lsn`: one read of the live row, which answers when its
/// version is at or before `lsn`; otherwise one reverse seek in the version index and one log
/// read for the image (`docs/design.md` §10). Every as-of read of a row goes through here.
pub(crate) fn row_as_of(
    view: &dyn ReadView,
    table: u32,
    pk_enc: &[u8],
    lsn: u64,
) -> Result<RowAsOf> {
    if let Some((bytes, row)) = live_row_at(view, table, pk_enc, lsn)? {
        return Ok(RowAsOf::Live(bytes, row));
    }
    listed_row_as_of(view, table, pk_enc, lsn)
}

/// [`row_as_of`] for a row whose live record, if it has one, is newer than `lsn` (the caller
/// has read it): the newest listed version at or before `lsn`, its image read from the log.
pub(crate) fn listed_row_as_of(
    view: &dyn ReadView,
    table: u32,
    pk_enc: &[u8],
    lsn: u64,
) -> Result<RowAsOf> {
    Ok(match listed_version_at(view, table, pk_enc, lsn)? {
        Some(v) if v.tag == kind::IMAGE_PURGED => RowAsOf::Purged(v.lsn),
        Some(v) if v.is_live() => RowAsOf::Version(v.lsn, image_of(view, v.lsn)?),
        _ => RowAsOf::Absent,
    })
}
