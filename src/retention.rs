//! Purge, erase and retention: the only ways data leaves the store (see `docs/design.md` §11).
//!
//! A purge rewrites, in the log, every event that carried an image of the purged row into an
//! [`EventBody::ImagePurged`] record (same LSN and transaction, no values) and marks its
//! version-index entry the same way; the views drop the row from the trash. Retention applies
//! the same rewriting to old versions that are not a row's latest image.

use std::collections::HashSet;

use crate::codec::record::kind;
use crate::codec::{self, keys, Space};
use crate::error::{Error, Result};
use crate::log::{self, Event, EventBody};
use crate::storage::overlay::Overlay;
use crate::storage::ReadView;
use crate::trash::RowRef;
use crate::views;

/// Re-exported policy type.
pub use crate::log::Retention;

/// What a purge or an erase removed.
#[derive(Debug, Clone, PartialEq)]
pub struct PurgeReport {
    /// The deletion purged (an erase of a live row deletes it first: that deletion).
    pub deletion: uuid::Uuid,
    /// The rows whose every image was purged.
    pub rows: Vec<RowRef>,
    /// Log events rewritten (row images removed).
    pub images: u64,
    /// Other deletions purged with it: an erase also purges the deletions that hold earlier
    /// lives of the same key in their trash.
    pub also: Vec<uuid::Uuid>,
}

/// What [`crate::Db::apply_retention`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetentionReport {
    /// Deletions purged because they were older than their window.
    pub purged: Vec<PurgeReport>,
    /// Tables whose old versions were dropped: (table, new horizon LSN, images removed).
    pub pruned: Vec<(String, u64, u64)>,
}

/// Parses a duration such as `30d`, `12h`, `90m`, `45s`, `2w` (or a plain number of seconds)
/// into seconds.
pub fn parse_duration(text: &str) -> Result<u64> {
    let t = text.trim();
    let bad = || {
        Error::invalid(format!(
            "`{text}` is not a duration: write a whole number and a unit, e.g. 30d, 12h, 90m, 45s, 2w"
        ))
    };
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    let secs = n.checked_mul(mult).ok_or_else(bad)?;
    // Windows are applied to microsecond timestamps: keep them within i64 microseconds.
    if secs > (i64::MAX / 1_000_000) as u64 {
        return Err(Error::invalid(format!("`{text}` is too long a duration")));
    }
    Ok(secs)
}

/// Writes seconds back in the largest unit that divides them (`86400` → `1d`).
pub fn format_duration(secs: u64) -> String {
    for (unit, size) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs != 0 && secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

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
    for item in views::scan_prefix(view, Space::Hist, &prefix, false)? {
        let (k, v) = item?;
        // the primary key is self-delimiting: exactly 8 bytes of LSN follow it
        if k.len() != prefix.len() + 8 {
            continue;
        }
        let lsn = codec::hist_lsn(&k)?;
        if v.first().copied().is_some_and(is_image_tag) {
            out.push(lsn);
        }
    }
    // The live version, an Insert without its own entry (design §4), is the newest.
    if let Some(live) = views::live_lsn(view, table, pk_enc)? {
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
    if let Some(live) = views::live_lsn(view, table, pk_enc)? {
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

/// The LSN at which a deletion was purged, if it was.
pub(crate) fn purged_at(view: &dyn ReadView, deletion: &uuid::Uuid) -> Result<Option<u64>> {
    match view.get(Space::Meta, &codec::purged_key(deletion))? {
        None => Ok(None),
        Some(b) => <[u8; 8]>::try_from(b.as_slice())
            .map(|a| Some(u64::from_be_bytes(a)))
            .map_err(|_| Error::corrupted("meta", "a purge mark is not 8 bytes")),
    }
}

/// The deletion whose trash held the key at LSN `at` — what `find_deletion` answered then for a
/// key that was not live: the latest tombstone of the key by then whose life was neither
/// restored nor purged by then.
pub(crate) fn holder_at(
    view: &dyn ReadView,
    table: u32,
    pk_enc: &[u8],
    at: u64,
) -> Result<Option<uuid::Uuid>> {
    let entries = hist_entries(view, table, pk_enc, at)?;
    for (i, e) in entries.iter().enumerate().rev() {
        let (kind::TOMBSTONE, Some(d)) = (e.was, e.deletion) else {
            continue;
        };
        if purged_at(view, &d)?.is_some_and(|p| p <= at) {
            continue;
        }
        let restored = entries
            .get(i + 1..)
            .unwrap_or_default()
            .iter()
            .any(|r| r.was == kind::RESTORE && r.deletion == Some(d));
        if !restored {
            return Ok(Some(d));
        }
    }
    Ok(None)
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
/// form and marks its version-index entry. Returns false when it held no image.
pub(crate) fn purge_image(o: &mut Overlay, table: u32, pk_enc: &[u8], lsn: u64) -> Result<bool> {
    let ev = log::read_event(&*o, lsn)?
        .ok_or_else(|| Error::corrupted("hist", format!("points at missing lsn {lsn}")))?;
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

/// A member of a deletion still in its trash: (table, encoded pk, pk, tombstone LSN).
pub(crate) type TrashedMember = (u32, Vec<u8>, crate::value::Value, u64);

/// The tombstone members of a deletion still in its trash.
pub(crate) fn trashed_members(
    view: &dyn ReadView,
    deletion: &uuid::Uuid,
) -> Result<Vec<TrashedMember>> {
    let mut out = Vec::new();
    for item in views::scan_prefix(view, Space::DelRows, deletion.as_bytes(), false)? {
        let (k, v) = item?;
        let m = views::decode_member(&v)?;
        if m.kind != views::MEMBER_TOMBSTONE {
            continue;
        }
        let rest = k
            .get(16..)
            .ok_or_else(|| Error::corrupted("delrows", "short key"))?;
        let table = rest
            .get(..4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
            .ok_or_else(|| Error::corrupted("delrows", "short key"))?;
        let pk_enc = rest.get(4..).unwrap_or_default().to_vec();
        let mut cursor = pk_enc.as_slice();
        let pk = keys::decode_value(&mut cursor)?;
        out.push((table, pk_enc, pk, m.lsn));
    }
    Ok(out)
}

/// The deletion whose trash holds the latest life of the row (table, encoded pk) still in a
/// trash, if any, with the LSN of that life's last image.
pub(crate) fn deletion_holding_a_life(
    view: &dyn ReadView,
    table: u32,
    pk_enc: &[u8],
) -> Result<Option<(uuid::Uuid, u64)>> {
    let prefix = codec::row_key(table, pk_enc);
    for item in views::scan_prefix(view, Space::Hist, &prefix, true)? {
        let (k, v) = item?;
        if k.len() != prefix.len() + 8 || v.first() != Some(&kind::TOMBSTONE) {
            continue;
        }
        let lsn = codec::hist_lsn(&k)?;
        if let Some(Event {
            body: EventBody::Tombstone { deletion, .. },
            ..
        }) = log::read_event(view, lsn)?
        {
            let member = codec::delrow_key(&deletion, table, pk_enc);
            if let Some(b) = view.get(Space::DelRows, &member)? {
                return Ok(Some((deletion, views::decode_member(&b)?.last_lsn)));
            }
        }
    }
    Ok(None)
}

/// LSNs of images the trash still needs in `table`: the last image of every trashed row and of
/// every set-null member of a deletion in the trash.
pub(crate) fn images_in_use(view: &dyn ReadView, table: u32) -> Result<HashSet<u64>> {
    let mut keep = HashSet::new();
    for item in views::scan_prefix(view, Space::Dead, &codec::table_prefix(table), false)? {
        let (k, _) = item?;
        if let Some((_, last)) = views::get_dead(view, table, k.get(4..).unwrap_or_default())? {
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
        let t = k
            .get(16..20)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes);
        if t == Some(table) {
            keep.insert(views::decode_member(&v)?.last_lsn);
        }
    }
    Ok(keep)
}

/// Every row of `table` with versions in the version index: encoded primary keys, in order.
pub(crate) fn rows_with_history(view: &dyn ReadView, table: u32) -> Result<Vec<Vec<u8>>> {
    let prefix = codec::table_prefix(table);
    let mut out: Vec<Vec<u8>> = Vec::new();
    for item in views::scan_prefix(view, Space::Hist, &prefix, false)? {
        let (k, _) = item?;
        let pk_enc = k
            .len()
            .checked_sub(8)
            .and_then(|end| k.get(4..end))
            .ok_or_else(|| Error::corrupted("hist", "short key"))?;
        if out.last().map(Vec::as_slice) != Some(pk_enc) {
            out.push(pk_enc.to_vec());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(parse_duration("30d").unwrap(), 30 * 86_400);
        assert_eq!(parse_duration("12h").unwrap(), 12 * 3_600);
        assert_eq!(parse_duration(" 90m ").unwrap(), 5_400);
        assert_eq!(parse_duration("45s").unwrap(), 45);
        assert_eq!(parse_duration("2w").unwrap(), 14 * 86_400);
        assert_eq!(parse_duration("7").unwrap(), 7);
        for bad in ["", "d", "3x", "-1d", "1.5d", "99999999999999999999d", "1 d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(86_400), "1d");
        assert_eq!(format_duration(14 * 86_400), "2w");
        assert_eq!(format_duration(5_400), "90m");
        assert_eq!(format_duration(61), "61s");
        assert_eq!(format_duration(0), "0s");
    }
}
