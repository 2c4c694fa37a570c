//! Live views materialized from the log: rows by primary key, indexes, the version (history)
//! index, and the catalog.
//!
//! [`apply`] is the one function that turns an event into view changes. The write path calls it
//! on the transaction's overlay; a rebuild calls it on an empty overlay for every event of the
//! log. Both therefore compute the same views by construction, and [`verify`] compares them.
//!
//! Views hold live rows only: a tombstone removes a row and its index entries, so no read path
//! filters anything and a scan costs what the live rows cost.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::codec::record::{self, kind};
use crate::codec::{self, keys, Space};
use crate::error::{Error, Result};
use crate::log::{Event, EventBody};
use crate::records;
use crate::schema::{Catalog, Table, TableDef};
use crate::storage::overlay::{LogOnlyView, Overlay};
use crate::storage::{Engine, ReadView};
use crate::value::Value;

fn put_deletion(o: &mut Overlay, rec: &records::DeletionRecord) -> Result<()> {
    let id = uuid::Uuid::from_u128(rec.id);
    o.put(
        Space::Del,
        codec::del_key(&id).to_vec(),
        record::encode(kind::DELETION, rec)?,
    );
    Ok(())
}

fn deletion_or_new(o: &Overlay, id: &uuid::Uuid, ev: &Event) -> Result<records::DeletionRecord> {
    Ok(
        records::get_deletion(o, id)?.unwrap_or(records::DeletionRecord {
            id: id.as_u128(),
            tx: ev.tx,
            first_lsn: ev.lsn,
            roots: Vec::new(),
            rows: Vec::new(),
            unlinked: 0,
            remaining: 0,
            restored: 0,
        }),
    )
}

/// Writes the new image of a row that may or may not be live, keeping its index entries right.
/// An empty image is the placeholder of a purged one (see `docs/design.md` §11): it has no index
/// entries.
fn put_image(o: &mut Overlay, t: &Table, pk_enc: &[u8], lsn: u64, image: &[Value]) -> Result<()> {
    let old = records::get_row(o, t.id(), pk_enc)?;
    if let Some(old) = &old {
        keep_version(o, t.id(), pk_enc, old.lsn)?;
    }
    match old {
        Some(old) if !old.image.is_empty() && !image.is_empty() => {
            for idx in &t.indexes {
                let (ov, _) = records::index_vals(t, &idx.cols, &old.image);
                let (nv, _) = records::index_vals(t, &idx.cols, image);
                if ov != nv {
                    // the run of the old values ends here (design §4)
                    o.delete(Space::Index, codec::index_key(t.id(), idx.id, &ov, pk_enc));
                    o.put(
                        Space::Index,
                        codec::past_index_key(t.id(), idx.id, &ov, pk_enc, lsn),
                        Vec::new(),
                    );
                    o.put(
                        Space::Index,
                        codec::index_key(t.id(), idx.id, &nv, pk_enc),
                        Vec::new(),
                    );
                }
            }
        }
        Some(old) if !old.image.is_empty() => retire_index_entries(o, t, pk_enc, lsn, &old.image),
        _ if !image.is_empty() => put_index_entries(o, t, pk_enc, image),
        _ => {}
    }
    o.put(
        Space::Rows,
        codec::row_key(t.id(), pk_enc),
        records::encode_row(lsn, image)?,
    );
    Ok(())
}

/// Gives the live version of a row, about to be replaced or tombstoned, its hist entry if it
/// has none: the live version of a row inserted and not changed since is the one version
/// without an entry (design §4), so a missing entry is an Insert.
fn keep_version(o: &mut Overlay, table: u32, pk_enc: &[u8], lsn: u64) -> Result<()> {
    let key = codec::hist_key(table, pk_enc, lsn);
    if o.get(Space::Hist, &key)?.is_none() {
        o.put(Space::Hist, key, vec![kind::INSERT]);
    }
    Ok(())
}

/// The runs of the live image `old`'s index values that an event breaks (design §4), over
/// `indexes`: (index id, values) for each index whose values the row leaves — `new` is `None`
/// (a tombstone), a purged image (empty) or holds other values. A purged `old` ends nothing.
fn ended_runs<'t>(
    t: &Table,
    indexes: impl Iterator<Item = &'t crate::schema::Index>,
    old: &[Value],
    new: Option<&[Value]>,
) -> Vec<(u32, Vec<u8>)> {
    if old.is_empty() {
        return Vec::new();
    }
    indexes
        .filter_map(|idx| {
            let (vals, _) = records::index_vals(t, &idx.cols, old);
            let ends = match new {
                Some(img) if !img.is_empty() => records::index_vals(t, &idx.cols, img).0 != vals,
                _ => true,
            };
            ends.then_some((idx.id, vals))
        })
        .collect()
}

/// Whether a hist tag is a version with an image (possibly purged).
fn holds_image(tag: u8) -> bool {
    matches!(
        tag,
        kind::INSERT | kind::UPDATE | kind::RESTORE | kind::UNLINK | kind::IMAGE_PURGED
    )
}

/// Past index keys, and the hist key to go on after (`None`: done).
pub(crate) type PastEntries = (Vec<Vec<u8>>, Option<Vec<u8>>);

/// The past index entries, for the indexes `ids` of `t`, that the rows' histories listed in
/// `hist` from `after` on hold (design §4: one per run of equal values that an event ended),
/// stopping at the first row boundary after `limit` hist entries; with the last hist key
/// examined (`None`: the table's history is done). What a replay of the log writes for an
/// index that had always existed.
pub(crate) fn past_entries_of_history(
    view: &dyn ReadView,
    t: &Table,
    ids: &[u32],
    after: Option<&[u8]>,
    limit: usize,
) -> Result<PastEntries> {
    let prefix = codec::table_prefix(t.id());
    let start = match after {
        Some(k) => Bound::Excluded(k.to_vec()),
        None => Bound::Included(prefix.clone()),
    };
    let end = keys::prefix_end(&prefix).map_or(Bound::Unbounded, Bound::Excluded);
    let indexes: Vec<_> = t.indexes.iter().filter(|i| ids.contains(&i.id)).collect();
    let mut out = Vec::new();
    // the row being walked, and its image before the current entry (none: not live, or purged)
    let mut row: Vec<u8> = Vec::new();
    let mut prev: Option<Vec<Value>> = None;
    let mut last: Option<Vec<u8>> = None;
    for (seen, item) in view
        .range(
            Space::Hist,
            crate::storage::bound_ref(&start),
            crate::storage::bound_ref(&end),
            false,
        )?
        .enumerate()
    {
        let (k, v) = item?;
        let (row_key, lsn) = codec::hist_split(&k)?;
        if row_key != row.as_slice() {
            if seen >= limit {
                return Ok((out, last));
            }
            row = row_key.to_vec();
            prev = None;
        }
        last = Some(k.clone());
        let (_, pk_enc) = codec::row_parts(Space::Rows, row_key)?;
        let tag = v
            .first()
            .copied()
            .ok_or_else(|| Error::corrupted("hist", "empty value"))?;
        if tag == kind::PURGE {
            // the purge of an earlier life, among the versions of a later one: no event of it
            continue;
        }
        let image = if holds_image(tag) && tag != kind::IMAGE_PURGED {
            let ev = crate::log::read_event(view, lsn)?
                .ok_or_else(|| Error::corrupted("hist", format!("points at missing lsn {lsn}")))?;
            records::event_image(&ev.body).cloned()
        } else {
            None
        };
        if let Some(old) = &prev {
            let new = match (&image, holds_image(tag)) {
                (Some(img), _) => Some(img.as_slice()),
                (None, true) => Some(&[][..]),
                (None, false) => None,
            };
            for (id, vals) in ended_runs(t, indexes.iter().copied(), old, new) {
                out.push(codec::past_index_key(t.id(), id, &vals, pk_enc, lsn));
            }
        }
        prev = image;
    }
    Ok((out, None))
}

fn put_index_entries(o: &mut Overlay, t: &Table, pk_enc: &[u8], image: &[Value]) {
    for idx in &t.indexes {
        let (vals, _) = records::index_vals(t, &idx.cols, image);
        o.put(
            Space::Index,
            codec::index_key(t.id(), idx.id, &vals, pk_enc),
            Vec::new(),
        );
    }
}

/// The live index entries of a live image that the event at `lsn` replaces by a tombstone or
/// a purged image go; each becomes the past entry of the run it ends (design §4). A purged
/// image has none.
fn retire_index_entries(o: &mut Overlay, t: &Table, pk_enc: &[u8], lsn: u64, image: &[Value]) {
    if image.is_empty() {
        return;
    }
    for idx in &t.indexes {
        let (vals, _) = records::index_vals(t, &idx.cols, image);
        o.delete(
            Space::Index,
            codec::index_key(t.id(), idx.id, &vals, pk_enc),
        );
        o.put(
            Space::Index,
            codec::past_index_key(t.id(), idx.id, &vals, pk_enc, lsn),
            Vec::new(),
        );
    }
}

fn put_table_def(o: &mut Overlay, def: &TableDef) -> Result<()> {
    o.put(
        Space::Meta,
        codec::table_def_key(def.id),
        record::encode(kind::TABLE_DEF, def)?,
    );
    Ok(())
}

fn bump_seq(o: &mut Overlay, table: u32, pk: &Value) -> Result<()> {
    if let Value::Int(i) = pk {
        let next = i.saturating_add(1);
        if next > records::read_seq(o, table)? {
            o.put(
                Space::Meta,
                codec::seq_key(table).to_vec(),
                next.to_be_bytes().to_vec(),
            );
        }
    }
    Ok(())
}

/// Applies one event to the views (and to `catalog` for schema events), staging every change
/// in `o`. Does not write the event itself.
pub fn apply(catalog: &mut Catalog, ev: &Event, o: &mut Overlay) -> Result<()> {
    match &ev.body {
        EventBody::CreateTables(_) | EventBody::AddColumn { .. } => {
            for d in records::apply_to_catalog(catalog, &ev.body)? {
                put_table_def(o, &d)?;
            }
            o.put(Space::Meta, codec::schema_key(ev.lsn), Vec::new());
        }
        EventBody::AddIndex { table, index } => {
            for d in records::apply_to_catalog(catalog, &ev.body)? {
                put_table_def(o, &d)?;
            }
            o.put(Space::Meta, codec::schema_key(ev.lsn), Vec::new());
            let t = catalog.by_id(*table)?.clone();
            let idx = t
                .indexes
                .iter()
                .find(|i| i.id == index.id)
                .ok_or_else(|| Error::corrupted("catalog", "index vanished"))?
                .clone();
            let prefix = codec::table_prefix(t.id());
            let mut entries = Vec::new();
            for item in records::scan_prefix(&*o, Space::Rows, &prefix, false)? {
                let (k, v) = item?;
                let row = records::decode_row(&k, &v)?;
                if row.image.is_empty() {
                    continue; // a purged image: no index entries
                }
                let pk_enc = codec::row_parts(Space::Rows, &k)?.1.to_vec();
                let (vals, _) = records::index_vals(&t, &idx.cols, &row.image);
                entries.push(codec::index_key(t.id(), idx.id, &vals, &pk_enc));
            }
            for k in entries {
                o.put(Space::Index, k, Vec::new());
            }
            // ... and the past entries of every earlier version, as if it had always existed
            let (past, _) = past_entries_of_history(&*o, &t, &[idx.id], None, usize::MAX)?;
            for k in past {
                o.put(Space::Index, k, Vec::new());
            }
            if t.def.trash_keeps_keys && idx.unique {
                // trashed rows keep this new unique value reserved too
                let mut reserved = Vec::new();
                for item in records::scan_prefix(&*o, Space::Dead, &prefix, false)? {
                    let (k, v) = item?;
                    let (d, last): (u128, u64) =
                        record::decode(&v, kind::DEAD, &|| "trashed row".to_string())?;
                    let pk_enc = codec::row_parts(Space::Dead, &k)?.1.to_vec();
                    let ev = crate::log::read_event(o, last)?.ok_or_else(|| {
                        Error::corrupted("log", format!("no event at lsn {last}"))
                    })?;
                    if matches!(ev.body, EventBody::ImagePurged { .. }) {
                        continue; // a purged image reserves nothing
                    }
                    let image = records::event_image(&ev.body).cloned().ok_or_else(|| {
                        Error::corrupted("log", format!("no row image at lsn {last}"))
                    })?;
                    let (vals, has_null) = records::index_vals(&t, &idx.cols, &image);
                    if !has_null {
                        reserved.push((
                            codec::index_key(t.id(), idx.id, &vals, &pk_enc),
                            record::encode(kind::RESERVED, &d)?,
                        ));
                    }
                }
                for (k, v) in reserved {
                    o.put(Space::Reserved, k, v);
                }
            }
        }
        _ => apply_row(catalog, ev, o)?,
    }
    Ok(())
}

/// [`apply`] for an event that leaves the catalog as it is (every event but the schema ones),
/// so that a transaction staging rows does not need its own copy of the catalog.
pub fn apply_row(catalog: &Catalog, ev: &Event, o: &mut Overlay) -> Result<()> {
    match &ev.body {
        EventBody::CreateTables(_) | EventBody::AddColumn { .. } | EventBody::AddIndex { .. } => {
            return Err(Error::corrupted(
                "log",
                format!(
                    "the schema event at lsn {} was applied as a row event",
                    ev.lsn
                ),
            ))
        }
        EventBody::Insert { table, pk, image } => {
            let t = catalog.by_id(*table)?.clone();
            let pk_enc = keys::encode_one(pk);
            o.put(
                Space::Rows,
                codec::row_key(t.id(), &pk_enc),
                records::encode_row(ev.lsn, image)?,
            );
            put_index_entries(o, &t, &pk_enc, image);
            // No hist entry: the live version of a row inserted and not changed since has none
            // (design §4); `keep_version` writes it once the row changes.
            bump_seq(o, t.id(), pk)?;
        }
        EventBody::Update { table, pk, image } => {
            let t = catalog.by_id(*table)?.clone();
            let pk_enc = keys::encode_one(pk);
            put_image(o, &t, &pk_enc, ev.lsn, image)?;
            o.put(
                Space::Hist,
                codec::hist_key(t.id(), &pk_enc, ev.lsn),
                vec![ev.body.tag()],
            );
        }
        EventBody::Tombstone {
            table,
            pk,
            deletion,
            root,
        } => {
            let t = catalog.by_id(*table)?.clone();
            let pk_enc = keys::encode_one(pk);
            let old = records::get_row(o, t.id(), &pk_enc)?.ok_or_else(|| {
                Error::corrupted(
                    format!("log event at lsn {}", ev.lsn),
                    "tombstone of a row that is not live",
                )
            })?;
            keep_version(o, t.id(), &pk_enc, old.lsn)?;
            retire_index_entries(o, &t, &pk_enc, ev.lsn, &old.image);
            if t.def.trash_keeps_keys && !old.image.is_empty() {
                let value = record::encode(kind::RESERVED, &deletion.as_u128())?;
                for k in records::reserved_keys(&t, &pk_enc, &old.image) {
                    o.put(Space::Reserved, k, value.clone());
                }
            }
            o.delete(Space::Rows, codec::row_key(t.id(), &pk_enc));
            o.put(
                Space::Hist,
                codec::hist_key(t.id(), &pk_enc, ev.lsn),
                vec![ev.body.tag()],
            );
            o.put(
                Space::Dead,
                codec::row_key(t.id(), &pk_enc),
                record::encode(kind::DEAD, &(deletion.as_u128(), old.lsn))?,
            );
            o.put(
                Space::DelRows,
                codec::delrow_key(deletion, t.id(), &pk_enc),
                record::encode(kind::DEL_ROW, &(records::MEMBER_TOMBSTONE, old.lsn, ev.lsn))?,
            );
            let mut rec = deletion_or_new(o, deletion, ev)?;
            if *root && rec.roots.len() < records::MAX_LISTED_ROOTS {
                rec.roots.push((t.id(), pk.clone()));
            }
            match rec.rows.iter_mut().find(|(id, _)| *id == t.id()) {
                Some((_, n)) => *n += 1,
                None => rec.rows.push((t.id(), 1)),
            }
            rec.remaining += 1;
            put_deletion(o, &rec)?;
        }
        EventBody::Unlink {
            table,
            pk,
            image,
            deletion,
        } => apply_unlink(catalog, ev, o, *table, pk, image, deletion)?,
        EventBody::Restore {
            table,
            pk,
            image,
            deletion,
        } => apply_restore(catalog, ev, o, *table, pk, image, deletion)?,
        EventBody::ImagePurged {
            table,
            pk,
            was,
            deletion,
        } => {
            let need_deletion = || {
                deletion.ok_or_else(|| {
                    Error::corrupted(
                        format!("log event at lsn {}", ev.lsn),
                        "a purged restore or set-null event without its deletion",
                    )
                })
            };
            match *was {
                kind::INSERT => {
                    let t = catalog.by_id(*table)?.clone();
                    let pk_enc = keys::encode_one(pk);
                    put_image(o, &t, &pk_enc, ev.lsn, &[])?;
                    put_hist(o, &t, &pk_enc, ev);
                    bump_seq(o, t.id(), pk)?;
                }
                kind::UPDATE => {
                    let t = catalog.by_id(*table)?.clone();
                    let pk_enc = keys::encode_one(pk);
                    put_image(o, &t, &pk_enc, ev.lsn, &[])?;
                    put_hist(o, &t, &pk_enc, ev);
                }
                kind::UNLINK => apply_unlink(catalog, ev, o, *table, pk, &[], &need_deletion()?)?,
                kind::RESTORE => apply_restore(catalog, ev, o, *table, pk, &[], &need_deletion()?)?,
                other => {
                    return Err(Error::corrupted(
                        format!("log event at lsn {}", ev.lsn),
                        format!("a purged image stands for event kind {other}"),
                    ))
                }
            }
        }
        EventBody::Purge {
            table,
            pk,
            deletion,
        } => {
            let t = catalog.by_id(*table)?.clone();
            let pk_enc = keys::encode_one(pk);
            let member_key = codec::delrow_key(deletion, t.id(), &pk_enc);
            let member = match o.get(Space::DelRows, &member_key)? {
                Some(b) => records::decode_member(&b)?,
                None => {
                    return Err(Error::corrupted(
                        format!("log event at lsn {}", ev.lsn),
                        "purge of a row that is not in the trash of its deletion",
                    ))
                }
            };
            o.delete(Space::DelRows, member_key);
            if let Some((held_by, last)) = records::get_dead(o, t.id(), &pk_enc)? {
                // A later life of the key may be in the trash of another deletion: only this
                // deletion's hold goes.
                if held_by == *deletion {
                    if t.def.trash_keeps_keys {
                        // The reserved values are computed from the last image while it is
                        // still readable (the live path); after a rebuild the image is a
                        // placeholder that reserved nothing.
                        if let Some(img) = crate::log::read_event(o, last)?
                            .as_ref()
                            .and_then(|e| records::event_image(&e.body))
                        {
                            for k in records::reserved_keys(&t, &pk_enc, img) {
                                o.delete(Space::Reserved, k);
                            }
                        }
                    }
                    // An earlier life of the key may still be in another deletion's trash
                    // (a table whose trash frees keys): the row is held by it again.
                    match crate::history::deletion_holding_a_life(
                        o,
                        t.id(),
                        &pk_enc,
                        Some(member.lsn),
                    )? {
                        Some((other, other_last)) => o.put(
                            Space::Dead,
                            codec::row_key(t.id(), &pk_enc),
                            record::encode(kind::DEAD, &(other.as_u128(), other_last))?,
                        ),
                        None => o.delete(Space::Dead, codec::row_key(t.id(), &pk_enc)),
                    }
                }
            }
            // Set-null updates of this life held by other deletions can never be reverted
            // now: they leave those deletions.
            for img in crate::history::life_images(o, t.id(), &pk_enc, member.lsn)? {
                let (kind::UNLINK, Some(other)) = (img.was, img.deletion) else {
                    continue;
                };
                let key = codec::delrow_key(&other, t.id(), &pk_enc);
                if other != *deletion && o.get(Space::DelRows, &key)?.is_some() {
                    o.delete(Space::DelRows, key);
                    if let Some(mut rec) = records::get_deletion(o, &other)? {
                        rec.remaining = rec.remaining.saturating_sub(1);
                        put_deletion(o, &rec)?;
                    }
                }
            }
            put_hist(o, &t, &pk_enc, ev);
            mark_purge(o, ev.lsn);
        }
        EventBody::PurgeDeletion { deletion } => {
            o.delete(Space::Del, codec::del_key(deletion).to_vec());
            let members: Vec<Vec<u8>> =
                records::scan_prefix(&*o, Space::DelRows, deletion.as_bytes(), false)?
                    .map(|item| item.map(|(k, _)| k))
                    .collect::<Result<_>>()?;
            for k in members {
                o.delete(Space::DelRows, k);
            }
            o.put(
                Space::Meta,
                codec::purged_key(deletion),
                ev.lsn.to_be_bytes().to_vec(),
            );
        }
        EventBody::SetRetention { table, policy } => {
            if let Some(t) = table {
                catalog.by_id(*t)?;
            }
            let key = codec::retention_key(*table);
            if policy.is_empty() {
                o.delete(Space::Meta, key);
            } else {
                o.put(
                    Space::Meta,
                    key,
                    record::encode(kind::RETENTION, &(policy.deletions, policy.history))?,
                );
            }
        }
        EventBody::PruneHistory { table, horizon } => {
            catalog.by_id(*table)?;
            mark_purge(o, ev.lsn);
            let key = codec::horizon_key(*table);
            if records::read_horizon(o, *table)? < *horizon {
                o.put(Space::Meta, key, horizon.to_be_bytes().to_vec());
            }
        }
    }
    Ok(())
}

fn mark_purge(o: &mut Overlay, lsn: u64) {
    o.put(
        Space::Meta,
        codec::META_LAST_PURGE.to_vec(),
        lsn.to_be_bytes().to_vec(),
    );
}

fn put_hist(o: &mut Overlay, t: &Table, pk_enc: &[u8], ev: &Event) {
    o.put(
        Space::Hist,
        codec::hist_key(t.id(), pk_enc, ev.lsn),
        vec![ev.body.tag()],
    );
}

/// A set-null update inside a deletion (`image` empty: its image was purged).
fn apply_unlink(
    catalog: &Catalog,
    ev: &Event,
    o: &mut Overlay,
    table: u32,
    pk: &Value,
    image: &[Value],
    deletion: &uuid::Uuid,
) -> Result<()> {
    let t = catalog.by_id(table)?.clone();
    let pk_enc = keys::encode_one(pk);
    let old = records::get_row(o, t.id(), &pk_enc)?.ok_or_else(|| {
        Error::corrupted(
            format!("log event at lsn {}", ev.lsn),
            "set-null update of a row that is not live",
        )
    })?;
    put_image(o, &t, &pk_enc, ev.lsn, image)?;
    put_hist(o, &t, &pk_enc, ev);
    o.put(
        Space::DelRows,
        codec::delrow_key(deletion, t.id(), &pk_enc),
        record::encode(kind::DEL_ROW, &(records::MEMBER_UNLINK, old.lsn, ev.lsn))?,
    );
    let mut rec = deletion_or_new(o, deletion, ev)?;
    rec.unlinked += 1;
    rec.remaining += 1;
    put_deletion(o, &rec)
}

/// A compensating restore (`image` empty: its image was purged).
fn apply_restore(
    catalog: &Catalog,
    ev: &Event,
    o: &mut Overlay,
    table: u32,
    pk: &Value,
    image: &[Value],
    deletion: &uuid::Uuid,
) -> Result<()> {
    let t = catalog.by_id(table)?.clone();
    let pk_enc = keys::encode_one(pk);
    put_image(o, &t, &pk_enc, ev.lsn, image)?;
    put_hist(o, &t, &pk_enc, ev);
    bump_seq(o, t.id(), pk)?;
    let member_key = codec::delrow_key(deletion, t.id(), &pk_enc);
    if let Some(b) = o.get(Space::DelRows, &member_key)? {
        let m = records::decode_member(&b)?;
        o.delete(Space::DelRows, member_key);
        if m.kind == records::MEMBER_TOMBSTONE {
            // `dead` names the deletion holding the latest life of the key still in a trash:
            // an earlier life may be in another deletion's trash (a table whose trash frees
            // keys), which then holds the key again.
            match crate::history::deletion_holding_a_life(o, t.id(), &pk_enc, Some(m.lsn))? {
                Some((other, other_last)) => o.put(
                    Space::Dead,
                    codec::row_key(t.id(), &pk_enc),
                    record::encode(kind::DEAD, &(other.as_u128(), other_last))?,
                ),
                None => o.delete(Space::Dead, codec::row_key(t.id(), &pk_enc)),
            }
            if t.def.trash_keeps_keys {
                let last = crate::log::read_event(o, m.last_lsn)?;
                if let Some(img) = last.as_ref().and_then(|e| records::event_image(&e.body)) {
                    for k in records::reserved_keys(&t, &pk_enc, img) {
                        o.delete(Space::Reserved, k);
                    }
                }
            }
        }
        if let Some(mut rec) = records::get_deletion(o, deletion)? {
            rec.remaining = rec.remaining.saturating_sub(1);
            rec.restored += 1;
            put_deletion(o, &rec)?;
        }
    }
    Ok(())
}

/// Every key of the view spaces, with its value.
pub type ViewKeys = BTreeMap<(Space, Vec<u8>), Vec<u8>>;

/// The views a replay of the whole log produces: every key of the view spaces and the catalog
/// and sequence entries of the meta space.
pub struct Expected {
    /// (space, key) → value.
    pub keys: ViewKeys,
    /// Events replayed.
    pub events: u64,
}

/// Replays the whole log into empty views.
pub fn replay(view: &dyn ReadView, mut progress: impl FnMut(u64)) -> Result<Expected> {
    let mut catalog = Catalog::default();
    // Views start empty; the log itself stays readable (a restore reads a row's last image).
    let mut o = Overlay::new(Box::new(LogOnlyView(view)));
    let mut events = 0u64;
    for item in view.range(Space::Log, Bound::Unbounded, Bound::Unbounded, false)? {
        let (k, v) = item?;
        let lsn = codec::read_u64_key(&k)
            .ok_or_else(|| Error::corrupted("log", "a log key is not 8 bytes"))?;
        let ev = Event::decode(lsn, &v)?;
        apply(&mut catalog, &ev, &mut o)?;
        events += 1;
        if events.is_multiple_of(4096) {
            progress(events);
        }
    }
    let mut keys = BTreeMap::new();
    for space in std::iter::once(Space::Meta).chain(Space::VIEWS) {
        for (k, v) in o.staged(space) {
            if let Some(v) = v {
                keys.insert((space, k.clone()), v.clone());
            }
        }
    }
    Ok(Expected { keys, events })
}

/// Every key of the views as stored now.
fn actual(view: &dyn ReadView) -> Result<ViewKeys> {
    let mut out = BTreeMap::new();
    for space in Space::VIEWS {
        for item in view.range(space, Bound::Unbounded, Bound::Unbounded, false)? {
            let (k, v) = item?;
            out.insert((space, k), v);
        }
    }
    for prefix in [
        codec::META_TABLE_PREFIX,
        codec::META_SEQ_PREFIX,
        codec::META_SCHEMA_PREFIX,
        codec::META_PURGED_PREFIX,
        codec::META_RETENTION_PREFIX,
        codec::META_HORIZON_PREFIX,
        codec::META_LAST_PURGE,
    ] {
        for item in records::scan_prefix(view, Space::Meta, prefix, false)? {
            let (k, v) = item?;
            out.insert((Space::Meta, k), v);
        }
    }
    Ok(out)
}

/// What [`crate::Db::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events replayed from the log.
    pub events: u64,
    /// View keys compared.
    pub keys: u64,
    /// Every difference between the stored views and a rebuild from the log, described.
    pub differences: Vec<String>,
}

impl VerifyReport {
    /// True when the views equal a rebuild from the log.
    pub fn is_ok(&self) -> bool {
        self.differences.is_empty()
    }
}

fn describe(space: Space, key: &[u8]) -> String {
    match space {
        Space::Rows => {
            let Ok((table, pk)) = codec::row_parts(Space::Rows, key) else {
                return format!("rows: key {key:02x?}");
            };
            let pk = keys::decode_values(pk)
                .map(|v| format!("{v:?}"))
                .unwrap_or_else(|_| format!("{pk:02x?}"));
            format!("rows: table {table} pk {pk}")
        }
        _ => format!("{}: key {key:02x?}", space.name()),
    }
}

/// Compares the stored views with a rebuild from the log and reports every difference.
pub fn verify(view: &dyn ReadView, progress: impl FnMut(u64)) -> Result<VerifyReport> {
    let expected = replay(view, progress)?;
    let actual = actual(view)?;
    let mut differences = Vec::new();
    let mut e = expected.keys.iter().peekable();
    let mut a = actual.iter().peekable();
    loop {
        match (e.peek(), a.peek()) {
            (None, None) => break,
            (Some((ek, _)), None) => {
                differences.push(format!("missing from the views: {}", describe(ek.0, &ek.1)));
                e.next();
            }
            (None, Some((ak, _))) => {
                differences.push(format!(
                    "in the views but not in the log: {}",
                    describe(ak.0, &ak.1)
                ));
                a.next();
            }
            (Some((ek, ev)), Some((ak, av))) => {
                if ek < ak {
                    differences.push(format!("missing from the views: {}", describe(ek.0, &ek.1)));
                    e.next();
                } else if ak < ek {
                    differences.push(format!(
                        "in the views but not in the log: {}",
                        describe(ak.0, &ak.1)
                    ));
                    a.next();
                } else {
                    if ev != av {
                        differences
                            .push(format!("differs from the log: {}", describe(ek.0, &ek.1)));
                    }
                    e.next();
                    a.next();
                }
            }
        }
    }
    // The past index entries again, from the history as the views hold it (what adding an
    // index writes): the same keys (design §4).
    let catalog = records::load_catalog(view)?;
    for t in catalog.tables() {
        let ids: Vec<u32> = t.indexes.iter().map(|i| i.id).collect();
        let (walked, _) = past_entries_of_history(view, t, &ids, None, usize::MAX)?;
        let walked: std::collections::BTreeSet<Vec<u8>> = walked.into_iter().collect();
        let prefix = codec::table_prefix(t.id());
        let held: std::collections::BTreeSet<&Vec<u8>> = actual
            .range((Space::Index, prefix.clone())..)
            .map(|((_, k), _)| k)
            .take_while(|k| k.starts_with(&prefix))
            .filter(|k| codec::is_past_index_key(k))
            .collect();
        for k in walked.iter().filter(|k| !held.contains(k)) {
            differences.push(format!(
                "missing from the views (the version index implies it): {}",
                describe(Space::Index, k)
            ));
        }
        for k in held.into_iter().filter(|k| !walked.contains(*k)) {
            differences.push(format!(
                "in the views but not implied by the version index: {}",
                describe(Space::Index, k)
            ));
        }
    }
    Ok(VerifyReport {
        events: expected.events,
        keys: expected.keys.len() as u64,
        differences,
    })
}

/// The views of a checkpoint (view spaces and meta) with the live store's log and transaction
/// records: the base a rebuild from a checkpoint replays the later events onto.
struct CheckpointBase<'a> {
    views: &'a dyn ReadView,
    live: &'a dyn ReadView,
}

impl ReadView for CheckpointBase<'_> {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match space {
            Space::Log | Space::Tx => self.live.get(space, key),
            _ => self.views.get(space, key),
        }
    }

    fn range<'b>(
        &'b self,
        space: Space,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        reverse: bool,
    ) -> Result<crate::storage::KvIter<'b>> {
        match space {
            Space::Log | Space::Tx => self.live.range(space, start, end, reverse),
            _ => self.views.range(space, start, end, reverse),
        }
    }
}

/// Recomputes the views from a checkpoint made at `at` (its views, in `checkpoint`) and the
/// events after it, and writes the differences in one atomic batch. Returns the number of
/// events replayed, or `None` when an event after the checkpoint rewrote history (a purge or a
/// pruning): the checkpoint may not match it, and the caller rebuilds from the whole log.
pub fn rebuild_from(
    engine: &dyn Engine,
    checkpoint: &dyn ReadView,
    at: u64,
) -> Result<Option<u64>> {
    let view = engine.read()?;
    let base = CheckpointBase {
        views: checkpoint,
        live: view.as_ref(),
    };
    let mut catalog = records::load_catalog(&base)?;
    let mut o = Overlay::new(Box::new(CheckpointBase {
        views: checkpoint,
        live: view.as_ref(),
    }));
    let mut events = 0u64;
    let start = codec::log_key(at.saturating_add(1));
    for item in view.range(Space::Log, Bound::Included(&start), Bound::Unbounded, false)? {
        let (k, v) = item?;
        let ev = log_event(&k, &v)?;
        if rewrites_history(&ev.body) {
            return Ok(None);
        }
        apply(&mut catalog, &ev, &mut o)?;
        events += 1;
    }
    let expected = actual(&o)?;
    let now = actual(view.as_ref())?;
    drop(o);
    drop(view);
    write_differences(engine, &now, expected)?;
    Ok(Some(events))
}

/// Reads every event of the log through its decoder, writing nothing: an upgrade that rewrites
/// the views from the log ([`rewrite_from_log`]) checks first that it can, so that a damaged
/// log is reported with the store left as it was. Returns the events read.
pub(crate) fn check_log_decodes(engine: &dyn Engine) -> Result<u64> {
    let view = engine.read()?;
    let mut events = 0u64;
    for item in view.range(Space::Log, Bound::Unbounded, Bound::Unbounded, false)? {
        let (k, v) = item?;
        log_event(&k, &v)?;
        events += 1;
    }
    Ok(events)
}

/// Rewrites every view from the log, for a store of an older format whose view keys this build
/// does not read (format 4 encodes ints in keys in fewer bytes: design §4). First every key of
/// the view spaces goes, then the log is replayed over the empty views; both in chunks of
/// 10,000 keys or events, each its own write, so memory stays bounded however large the store.
/// The catalog and sequence entries of the meta space are written again as they were. A crash
/// part way leaves `meta/format` older than this build's, and the next open starts over.
/// Returns the events replayed.
pub(crate) fn rewrite_from_log(engine: &dyn Engine) -> Result<u64> {
    const CHUNK: usize = 10_000;
    for space in Space::VIEWS {
        loop {
            let keys = {
                let view = engine.read()?;
                let mut keys = Vec::new();
                for item in view.range(space, Bound::Unbounded, Bound::Unbounded, false)? {
                    keys.push(item?.0);
                    if keys.len() == CHUNK {
                        break;
                    }
                }
                keys
            };
            if keys.is_empty() {
                break;
            }
            let mut batch = crate::storage::Batch::default();
            for k in keys {
                batch.delete(space, k);
            }
            engine.write(&batch)?;
        }
    }
    let mut catalog = Catalog::default();
    let mut after: Option<Vec<u8>> = None;
    let mut events = 0u64;
    loop {
        let view = engine.read()?;
        let mut o = Overlay::new(Box::new(CheckpointBase {
            views: view.as_ref(),
            live: view.as_ref(),
        }));
        let start = match &after {
            Some(k) => Bound::Excluded(k.as_slice()),
            None => Bound::Unbounded,
        };
        let mut applied = 0;
        for item in view.range(Space::Log, start, Bound::Unbounded, false)? {
            let (k, v) = item?;
            apply(&mut catalog, &log_event(&k, &v)?, &mut o)?;
            after = Some(k);
            applied += 1;
            if applied == CHUNK {
                break;
            }
        }
        let mut batch = o.into_batch();
        drop(view);
        events += applied as u64;
        if let Some(last) = &after {
            batch.set_views_at(last.clone());
        }
        engine.write(&batch)?;
        if applied < CHUNK {
            engine.persist()?;
            return Ok(events);
        }
    }
}

/// Brings views that lag behind the log up to date: replays the events after the log key
/// `after` ([`Engine::views_at`]; empty: every event) over the views as they are, and writes
/// what changed in one atomic batch that also records the log's last key as `views_at`.
/// Returns the number of events replayed.
///
/// The live path applied exactly these events, in this order, to exactly these views, so the
/// replay writes what it wrote. The exception is an event that rewrote earlier events in place
/// (a purge or a pruning): the events before it are then no longer what was applied, and the
/// views are rebuilt from the whole log instead.
pub fn catch_up(engine: &dyn Engine, after: &[u8]) -> Result<u64> {
    let view = engine.read()?;
    let start = if after.is_empty() {
        Bound::Unbounded
    } else {
        Bound::Excluded(after)
    };
    let mut catalog = records::load_catalog(view.as_ref())?;
    let mut o = Overlay::new(Box::new(CheckpointBase {
        views: view.as_ref(),
        live: view.as_ref(),
    }));
    let mut events = 0u64;
    let mut last: Option<Vec<u8>> = None;
    let mut rewritten = false;
    for item in view.range(Space::Log, start, Bound::Unbounded, false)? {
        let (k, v) = item?;
        let ev = log_event(&k, &v)?;
        if rewrites_history(&ev.body) {
            rewritten = true;
            break;
        }
        apply(&mut catalog, &ev, &mut o)?;
        events += 1;
        last = Some(k);
    }
    let mut batch = o.into_batch();
    drop(view);
    if rewritten {
        return rebuild(engine, |_| {});
    }
    let Some(last) = last else {
        return Ok(0);
    };
    batch.set_views_at(last);
    engine.write(&batch)?;
    engine.persist()?;
    Ok(events)
}

fn write_differences(engine: &dyn Engine, actual: &ViewKeys, expected: ViewKeys) -> Result<()> {
    let mut batch = crate::storage::Batch::default();
    // the views now reflect the whole log
    if let Some((last, _)) = engine
        .read()?
        .range(Space::Log, Bound::Unbounded, Bound::Unbounded, true)?
        .next()
        .transpose()?
    {
        batch.set_views_at(last);
    }
    for (space, key) in actual.keys() {
        if !expected.contains_key(&(*space, key.clone())) {
            batch.delete(*space, key.clone());
        }
    }
    for ((space, key), v) in expected {
        if actual.get(&(space, key.clone())) != Some(&v) {
            batch.put(space, key, v);
        }
    }
    engine.write(&batch)?;
    engine.persist()
}

/// Recomputes every view from the log and writes the result in one atomic batch. Returns the
/// number of events replayed.
pub fn rebuild(engine: &dyn Engine, progress: impl FnMut(u64)) -> Result<u64> {
    let view = engine.read()?;
    let expected = replay(view.as_ref(), progress)?;
    let actual = actual(view.as_ref())?;
    drop(view);
    write_differences(engine, &actual, expected.keys)?;
    Ok(expected.events)
}

/// The event of a log pair.
fn log_event(k: &[u8], v: &[u8]) -> Result<Event> {
    let lsn = codec::read_u64_key(k)
        .ok_or_else(|| Error::corrupted("log", "a log key is not 8 bytes"))?;
    Event::decode(lsn, v)
}

/// Whether an event rewrote earlier events in place (a purge, a pruning): views applied
/// before it no longer follow from the log as it reads now.
fn rewrites_history(body: &EventBody) -> bool {
    matches!(
        body,
        EventBody::Purge { .. }
            | EventBody::ImagePurged { .. }
            | EventBody::PurgeDeletion { .. }
            | EventBody::PruneHistory { .. }
    )
}
