//! Point in time: mapping times to LSNs, and read views "as of" a past LSN.
//!
//! An as-of view answers every read of the [`Readable`] trait exactly as a live read answered it
//! just after the commit that wrote its LSN. It reads the version index (`hist`: the events of a
//! row by (table, pk, lsn), all but a live Insert, which only the rows view records), the live
//! rows and the log, never a replay:
//!
//! - **get**: one read of the live row, which answers when its version is ≤ n; otherwise one
//!   reverse seek in `hist` for the greatest entry ≤ n of (table, pk), then one log read for the
//!   image: O(log n), independent of how many versions the row or the store has;
//! - **scan** (and count): walks the table's `hist` entries within the key range, taking the
//!   newest entry ≤ n of each row, merged with the live rows of the range: cost is the versions
//!   of that table in the range;
//! - **index lookup and range, children**: the index as of n is computed from the table's rows as
//!   of n (cost: the versions of that table), then read like the live one;
//! - **the catalog** is the one at n (`crate::records::catalog_at`): a column added later is absent.
//!
//! Around a tombstone and a restore (`r` inserted at 10, updated at 12, deleted at 15, restored
//! at 20):
//!
//! ```text
//! as of lsn   9   10   11   12   14   15   19   20   21
//! get r       -   v10  v10  v12  v12  -    -    v12  v12     (restore brings back v12's image)
//! ```
//!
//! **Time.** Every commit gets the time `max(wall clock, previous commit's time)`, so commit
//! times never decrease along the log, even when the wall clock steps back or several commits
//! fall in the same microsecond. A timestamp maps to the last LSN of the last commit at or before
//! it (binary search over the dense transaction ids): a time before the first commit maps to
//! LSN 0 (the empty store), a time after the last commit to the last LSN.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use uuid::Uuid;

use crate::codec::record::kind;
use crate::codec::{self, keys, Space};
use crate::error::{Error, Result};
use crate::history::{listed_row_as_of, row_as_of, RowAsOf};
use crate::log::{self, EventBody};
use crate::read::{ReadCtx, Readable, ViewRef};
use crate::restore::{RestorePlan, RestorePolicy};
use crate::schema::Catalog;
use crate::storage::{Engine, KvIter, ReadView};
use crate::trash::{DeletedRow, Deletion, MemberKind, RowRef, TrashQuery};
use crate::value::{Timestamp, Value};

/// A point in the store's history. Every as-of read, diff and restore-to takes one; each
/// resolves to the state just after one commit (or to the empty store before the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// Just after the commit that wrote this LSN (0: before the first event).
    Lsn(u64),
    /// Just after the last commit at or before this time.
    Time(Timestamp),
    /// Just after the commit of this transaction (0: before the first).
    Tx(u64),
    /// Just before the transaction that made this deletion: the rows as they were before it.
    BeforeDeletion(uuid::Uuid),
    /// The latest commit.
    Now,
    /// This many seconds before now, by the store's clock.
    Ago(u64),
}

impl From<u64> for At {
    fn from(l: u64) -> At {
        At::Lsn(l)
    }
}

impl From<Timestamp> for At {
    fn from(t: Timestamp) -> At {
        At::Time(t)
    }
}

/// How a point is written (the message of a point that does not parse).
const POINT_SPELLINGS: &str = "write an LSN (`42` or `lsn:42`), `tx:N`, `deletion:ID`, `now`, \
    a time ago (`90m`, `2h`, `3d`, `1w`, optionally followed by `ago`), an RFC 3339 time \
    (`2024-05-01T12:00:00Z`), a local time (`2024-05-01T12:00:00` or `2024-05-01 12:00`) or a \
    local date (`2024-05-01`, its midnight)";

impl At {
    /// Parses a point as a person types it:
    ///
    /// | text | point |
    /// |---|---|
    /// | `42`, `lsn:42` | [`At::Lsn`] |
    /// | `tx:7` | [`At::Tx`] |
    /// | `deletion:<uuid>` | [`At::BeforeDeletion`] |
    /// | `now` | [`At::Now`] |
    /// | `90m`, `2h`, `3d ago`, `1w` (units `s`, `m`, `h`, `d`, `w`) | [`At::Ago`] |
    /// | `2024-05-01T12:00:00Z`, `2024-05-01T14:00:00+02:00` (RFC 3339) | [`At::Time`] |
    /// | `2024-05-01T12:00:00`, `2024-05-01 12:00` (no offset: local time) | [`At::Time`] |
    /// | `2024-05-01` (a date: local midnight at its start) | [`At::Time`] |
    ///
    /// Local time is the `TZ` environment variable's zone when it is set (a zone name such as
    /// `Europe/Paris` or a POSIX rule), else the system's (`/etc/localtime`), else UTC.
    ///
    /// ```
    /// use lazarusdb::At;
    /// assert_eq!(At::parse("42")?, At::Lsn(42));
    /// assert_eq!(At::parse("tx:7")?, At::Tx(7));
    /// assert_eq!(At::parse("2h ago")?, At::Ago(7_200));
    /// assert_eq!(At::parse("now")?, At::Now);
    /// assert!(At::parse("yesterday-ish").is_err());
    /// # Ok::<(), lazarusdb::Error>(())
    /// ```
    pub fn parse(text: &str) -> Result<At> {
        let t = text.trim();
        let bad =
            |why: &str| Error::invalid(format!("`{text}` is not a point{why}: {POINT_SPELLINGS}"));
        if t.eq_ignore_ascii_case("now") {
            return Ok(At::Now);
        }
        if let Some(n) = t.strip_prefix("lsn:") {
            return n
                .trim()
                .parse()
                .map(At::Lsn)
                .map_err(|_| bad(" (the LSN is not a number)"));
        }
        if let Some(n) = t.strip_prefix("tx:") {
            return n
                .trim()
                .parse()
                .map(At::Tx)
                .map_err(|_| bad(" (the transaction is not a number)"));
        }
        if let Some(id) = t.strip_prefix("deletion:") {
            return uuid::Uuid::parse_str(id.trim())
                .map(At::BeforeDeletion)
                .map_err(|_| bad(" (the deletion id is not a uuid)"));
        }
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            return t
                .parse()
                .map(At::Lsn)
                .map_err(|_| bad(" (too large an LSN)"));
        }
        let ago = t.strip_suffix("ago").map(str::trim_end).unwrap_or(t);
        let starts_with_digits_then_unit = ago
            .find(|c: char| !c.is_ascii_digit())
            .is_some_and(|i| i > 0 && ago.len() - i == 1);
        if starts_with_digits_then_unit {
            return crate::schema::parse_duration(ago)
                .map(At::Ago)
                .map_err(|_| bad(" (a time ago takes a unit s, m, h, d or w)"));
        }
        if let Ok(ts) = Timestamp::parse_rfc3339(t) {
            return Ok(At::Time(ts));
        }
        match local_time(t, &local_offset) {
            Some(ts) => ts.map(At::Time),
            None => Err(bad("")),
        }
    }
}

impl std::str::FromStr for At {
    type Err = Error;
    /// [`At::parse`].
    fn from_str(s: &str) -> Result<At> {
        At::parse(s)
    }
}

/// A date and time without an offset, or a date alone, read as local time (`offset`: the local
/// zone's offset from UTC in seconds at a Unix time): `None` when the text is neither; an error
/// when it is out of range.
fn local_time(text: &str, offset: &dyn Fn(i64) -> i32) -> Option<Result<Timestamp>> {
    use time::macros::format_description;
    let wall = if let Ok(d) = time::Date::parse(text, format_description!("[year]-[month]-[day]")) {
        d.midnight()
    } else {
        let with = |sep: &str| text.replacen(sep, "T", 1);
        let norm = if text.contains('T') {
            text.to_string()
        } else {
            with(" ")
        };
        let formats = [
            format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]"),
            format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
            format_description!("[year]-[month]-[day]T[hour]:[minute]"),
        ];
        formats
            .iter()
            .find_map(|f| time::PrimitiveDateTime::parse(&norm, f).ok())?
    };
    // The offset in force at that wall time: the offset at the wall time read as UTC, then
    // again at the instant that gives (right on both sides of a change of offset but the hour
    // it skips or repeats).
    let as_utc = wall.assume_utc().unix_timestamp();
    let first = offset(as_utc);
    let offset = offset(as_utc - i64::from(first));
    let instant = wall.assume_utc().unix_timestamp_nanos() - i128::from(offset) * 1_000_000_000;
    let micros = i64::try_from(instant / 1000).ok();
    Some(
        micros
            .map(Timestamp)
            .and_then(|t| t.check().ok())
            .ok_or_else(|| Error::invalid(format!("`{text}` is out of range (years 0000-9999)"))),
    )
}

/// The local zone's offset from UTC, in seconds, at a Unix time: the `TZ` variable's zone when
/// set, else the system's, else 0 (UTC) when neither can be read.
fn local_offset(unix: i64) -> i32 {
    let zone = match std::env::var("TZ") {
        Ok(tz) if !tz.is_empty() => tz::TimeZone::from_posix_tz(&tz),
        _ => tz::TimeZone::local(),
    };
    zone.ok()
        .and_then(|z| z.find_local_time_type(unix).ok().map(|t| t.ut_offset()))
        .unwrap_or(0)
}

/// The LSN a point resolves to: the last LSN of the commit that wrote the given LSN, or of the
/// last commit at or before the given time. Errors for an LSN beyond the end of the log.
pub(crate) fn resolve(
    view: &dyn ReadView,
    at: At,
    last_lsn: u64,
    last_tx: u64,
    now: Timestamp,
) -> Result<u64> {
    match at {
        At::Now => Ok(last_lsn),
        At::Ago(secs) => {
            let micros = i64::try_from(secs)
                .unwrap_or(i64::MAX)
                .saturating_mul(1_000_000);
            resolve(
                view,
                At::Time(Timestamp(now.0.saturating_sub(micros))),
                last_lsn,
                last_tx,
                now,
            )
        }
        At::Tx(0) => Ok(0),
        At::Tx(n) if n > last_tx => Err(Error::invalid(format!(
            "transaction {n} is beyond the last one ({last_tx})"
        ))),
        At::Tx(n) => Ok(log::read_tx(view, n)?
            .ok_or_else(|| Error::corrupted("tx", format!("no record of transaction {n}")))?
            .last_lsn),
        At::BeforeDeletion(id) => {
            let rec = crate::records::get_deletion(view, &id)?.ok_or_else(|| {
                Error::invalid(format!(
                    "no deletion {id} in the store (a purged deletion leaves no point to name)"
                ))
            })?;
            let tx = log::read_tx(view, rec.tx)?.ok_or_else(|| {
                Error::corrupted("tx", format!("no record of transaction {}", rec.tx))
            })?;
            Ok(tx.first_lsn.saturating_sub(1))
        }
        At::Lsn(0) => Ok(0),
        At::Lsn(n) if n > last_lsn => Err(Error::invalid(format!(
            "LSN {n} is beyond the end of the log (the last LSN is {last_lsn})"
        ))),
        At::Lsn(n) => {
            let tx = log::read_event_tx(view, n)?
                .ok_or_else(|| Error::corrupted("log", format!("no event at lsn {n}")))?;
            let rec = log::read_tx(view, tx)?
                .ok_or_else(|| Error::corrupted("tx", format!("no record of transaction {tx}")))?;
            Ok(rec.last_lsn)
        }
        At::Time(t) => {
            // greatest tx with at <= t; tx ids are dense 1..=last_tx, times non-decreasing
            let (mut lo, mut hi) = (1u64, last_tx);
            let mut found = 0u64;
            while lo <= hi {
                let mid = lo + (hi - lo) / 2;
                let rec = log::read_tx(view, mid)?.ok_or_else(|| {
                    Error::corrupted("tx", format!("no record of transaction {mid}"))
                })?;
                if rec.at <= t {
                    found = rec.last_lsn;
                    lo = mid + 1;
                } else {
                    hi = mid - 1;
                }
            }
            Ok(found)
        }
    }
}

/// A member of a deletion: (table, pk, event LSN, kind).
type MemberAt = (u32, Value, u64, MemberKind);

/// A read view of the store as of an LSN: the rows and index spaces are computed from the
/// version index; the log and transaction spaces are read up to the LSN.
pub(crate) struct AsOfView<'a> {
    base: Box<dyn ReadView + 'a>,
    lsn: u64,
    catalog: Arc<Catalog>,
    expired: Expired,
    /// Rows an index read of this view has just read as of the LSN (row key → row record):
    /// the gets of the rows it found, which follow in the same read, take them from here.
    found: std::cell::RefCell<std::collections::HashMap<Vec<u8>, Vec<u8>>>,
}

/// A row as of a point, as [`AsOfView::rows_in`] lists it.
pub(crate) struct RowThen {
    /// Its key in the rows view.
    pub(crate) key: Vec<u8>,
    /// Its version then.
    pub(crate) version: crate::history::Version,
    /// Its record in the rows view when its version then is its live one.
    pub(crate) record: Option<Vec<u8>>,
}

impl RowThen {
    /// The row's record as of the point: the live one, or one made from the log's image.
    pub(crate) fn record(self, base: &dyn ReadView) -> Result<Vec<u8>> {
        match self.record {
            Some(r) => Ok(r),
            None => crate::records::encode_row(
                self.version.lsn,
                &crate::history::image_of(base, self.version.lsn)?,
            ),
        }
    }

    /// The row's image as of the point.
    pub(crate) fn image(&self, base: &dyn ReadView) -> Result<Vec<Value>> {
        match &self.record {
            Some(r) => Ok(crate::records::decode_row(&self.key, r)?.image),
            None => crate::history::image_of(base, self.version.lsn),
        }
    }
}

/// Tables whose history window the point lies before: table id → (name, window, what).
pub(crate) type Expired = Arc<BTreeMap<u32, (String, String, String)>>;

/// The tables of `catalog` that cannot be read as of `lsn` because of their history retention
/// (see `docs/design.md` §11): `lsn` is before their pruning horizon, or its commit time is
/// older than `now` minus their history window.
pub(crate) fn expired_tables(
    view: &dyn ReadView,
    catalog: &Catalog,
    lsn: u64,
    now: Timestamp,
) -> Result<Expired> {
    expired_tables_memo(view, catalog, lsn, now, None)
}

/// [`expired_tables`], reading the tables' limits through `memo` when given.
pub(crate) fn expired_tables_memo(
    view: &dyn ReadView,
    catalog: &Catalog,
    lsn: u64,
    now: Timestamp,
    memo: Option<&crate::records::LimitsMemo>,
) -> Result<Expired> {
    let mut out = BTreeMap::new();
    let limits = crate::records::limits(view, catalog, memo)?;
    let mut at: Option<Timestamp> = None;
    for t in catalog.tables() {
        let (window, horizon) = limits.get(&t.id()).copied().unwrap_or((None, 0));
        let name_window = || {
            window
                .map(crate::schema::format_duration)
                .unwrap_or_else(|| "pruned".to_string())
        };
        if lsn < horizon {
            out.insert(
                t.id(),
                (
                    t.name().to_string(),
                    name_window(),
                    format!(
                        "lsn {lsn} is before lsn {horizon}, the oldest point its history keeps"
                    ),
                ),
            );
            continue;
        }
        if let Some(w) = window {
            let commit_at = match at {
                Some(a) => a,
                None => {
                    let a = time_of(view, lsn)?;
                    at = Some(a);
                    a
                }
            };
            let cutoff = Timestamp(now.0.saturating_sub((w as i64).saturating_mul(1_000_000)));
            if commit_at <= cutoff {
                out.insert(
                    t.id(),
                    (
                        t.name().to_string(),
                        name_window(),
                        format!(
                            "lsn {lsn} was committed at {}, before {}",
                            commit_at.to_rfc3339(),
                            cutoff.to_rfc3339()
                        ),
                    ),
                );
            }
        }
    }
    Ok(Arc::new(out))
}

/// The error for an as-of read of a row whose version there was purged.
fn purged(table: &str, pk_enc: &[u8], at: u64, version: u64) -> Error {
    let pk = keys::decode_values(pk_enc)
        .ok()
        .and_then(|v| v.into_iter().next())
        .map(|v| v.to_string())
        .unwrap_or_else(|| format!("{pk_enc:02x?}"));
    Error::Purged(format!(
        "{table} {pk} as of lsn {at} (the version written at lsn {version})"
    ))
}

/// [`Error::HistoryExpired`] when `table` (any table, for `None`) is in `expired`.
pub(crate) fn refuse_expired(expired: &Expired, table: Option<u32>) -> Result<()> {
    let hit = match table {
        Some(t) => expired.get(&t),
        None => expired.values().next(),
    };
    match hit {
        Some((name, window, why)) => Err(Error::HistoryExpired {
            table: name.clone(),
            window: window.clone(),
            why: why.clone(),
        }),
        None => Ok(()),
    }
}

/// The commit time of the transaction that wrote `lsn` (the earliest time for LSN 0).
fn time_of(view: &dyn ReadView, lsn: u64) -> Result<Timestamp> {
    if lsn == 0 {
        return Ok(Timestamp(i64::MIN));
    }
    let ev = log::read_event(view, lsn)?
        .ok_or_else(|| Error::corrupted("log", format!("no event at lsn {lsn}")))?;
    let tx = log::read_tx(view, ev.tx)?
        .ok_or_else(|| Error::corrupted("tx", format!("no record of transaction {}", ev.tx)))?;
    Ok(tx.at)
}

impl<'a> AsOfView<'a> {
    pub(crate) fn new(
        base: Box<dyn ReadView + 'a>,
        lsn: u64,
        catalog: Arc<Catalog>,
        expired: Expired,
    ) -> AsOfView<'a> {
        AsOfView {
            base,
            lsn,
            catalog,
            expired,
            found: Default::default(),
        }
    }

    /// Refuses a read of `table` (any table for `None`) before its history window.
    fn check_table(&self, table: Option<u32>) -> Result<()> {
        refuse_expired(&self.expired, table)
    }

    /// Rows as of the LSN within row-key bounds, in key order (reversed for `reverse`). A row's
    /// version is its live version when that is ≤ the LSN (it is the row's newest event; an
    /// Insert not changed since has no hist entry, design §4) — its record comes with it, so
    /// that reading it needs no log read — otherwise its newest hist entry ≤ the LSN. Rows
    /// whose version there was purged are listed too (tag `IMAGE_PURGED`): a read leaves them
    /// out, a restore to the point refuses them. The version index is walked forwards; a row
    /// with more than a few entries is left with one reverse seek for its version then, so the
    /// cost does not grow with the number of versions.
    pub(crate) fn rows_in(
        &self,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        reverse: bool,
    ) -> Result<Vec<RowThen>> {
        /// Entries of one row walked before the rest are skipped with a seek.
        const WALKED: usize = 32;
        use crate::storage::bound_ref;
        if crate::storage::empty_range(&start, &end) {
            return Ok(Vec::new());
        }
        let (mut hs, he) = (
            hist_bound(bound_ref(&start), true),
            hist_bound(bound_ref(&end), false),
        );
        // Walk forward; within one row the versions come in LSN order. Each row keeps its
        // newest entry ≤ the LSN (`None`: every entry is later, or a Purge).
        let mut listed: Vec<(Vec<u8>, Option<crate::history::Version>)> = Vec::new();
        'walk: while !crate::storage::empty_range(&hs, &he) {
            let mut in_row = 0usize;
            for item in self
                .base
                .range(Space::Hist, bound_ref(&hs), bound_ref(&he), false)?
            {
                let (k, v) = item?;
                let (rk, lsn) = codec::hist_split(&k)?;
                let tag = *v
                    .first()
                    .ok_or_else(|| Error::corrupted("hist", "empty value"))?;
                if listed.last().map(|c| c.0.as_slice()) != Some(rk) {
                    listed.push((rk.to_vec(), None));
                    in_row = 0;
                }
                in_row += 1;
                if in_row > WALKED {
                    // Many versions: one seek for the row's version then, one past its entries.
                    let (table, pk_enc) = codec::row_parts(Space::Rows, rk)?;
                    let found = crate::history::listed_version_at(
                        self.base.as_ref(),
                        table,
                        pk_enc,
                        self.lsn,
                    )?;
                    let next = keys::prefix_end(rk);
                    if let Some(c) = listed.last_mut() {
                        c.1 = found;
                    }
                    match next {
                        Some(n) => {
                            hs = Bound::Included(n);
                            continue 'walk;
                        }
                        None => break 'walk,
                    }
                }
                // The purge of an earlier life is not a version of the row.
                if lsn <= self.lsn && tag != kind::PURGE {
                    if let Some(c) = listed.last_mut() {
                        c.1 = Some(crate::history::Version { lsn, tag });
                    }
                }
            }
            break;
        }
        // The live versions ≤ the LSN, in the same key order.
        let mut live: Vec<(Vec<u8>, u64, Vec<u8>)> = Vec::new();
        for item in self
            .base
            .range(Space::Rows, bound_ref(&start), bound_ref(&end), false)?
        {
            let (rk, v) = item?;
            let lsn = crate::records::row_lsn(&rk, &v)?;
            if lsn <= self.lsn {
                live.push((rk, lsn, v));
            }
        }
        let mut out: Vec<RowThen> = Vec::new();
        let mut keep = |key: Vec<u8>, v: Option<crate::history::Version>, record| {
            if let Some(version) = v.filter(|v| v.is_live() || v.tag == kind::IMAGE_PURGED) {
                out.push(RowThen {
                    key,
                    version,
                    record,
                });
            }
        };
        let as_live = |lsn| crate::history::Version {
            lsn,
            tag: kind::ROW,
        };
        let mut l = listed.into_iter().peekable();
        let mut r = live.into_iter().peekable();
        loop {
            let order = match (l.peek(), r.peek()) {
                (None, None) => break,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some((lk, _)), Some((rk, _, _))) => lk.cmp(rk),
            };
            match order {
                std::cmp::Ordering::Less => {
                    if let Some((rk, v)) = l.next() {
                        keep(rk, v, None);
                    }
                }
                std::cmp::Ordering::Greater => {
                    if let Some((rk, lsn, rec)) = r.next() {
                        keep(rk, Some(as_live(lsn)), Some(rec));
                    }
                }
                std::cmp::Ordering::Equal => {
                    // The live version is the row's newest event: it wins.
                    if let (Some(_), Some((rk, lsn, rec))) = (l.next(), r.next()) {
                        keep(rk, Some(as_live(lsn)), Some(rec));
                    }
                }
            }
        }
        if reverse {
            out.reverse();
        }
        Ok(out)
    }

    /// The entries of one index of `table` inside the bounds, as of the LSN, in key order
    /// (design §10): the rows that have the values now (live entries) or had them in a version
    /// at or before the LSN (past entries), each read as of the LSN and kept when its image
    /// then gives an entry inside the bounds. `None` when the bounds do not name one index of
    /// one table in the catalog: the caller computes the whole index instead.
    fn index_range_at(
        &self,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
    ) -> Result<Option<Vec<Vec<u8>>>> {
        let (Bound::Included(first) | Bound::Excluded(first)) = start else {
            return Ok(None);
        };
        let Some((table, index, _)) = codec::index_ids(first) else {
            return Ok(None);
        };
        let Ok(t) = self.catalog.by_id(table) else {
            return Ok(None);
        };
        let Some(idx) = t.indexes.iter().find(|i| i.id == index) else {
            return Ok(None);
        };
        let ncols = idx.cols.len();
        // the candidates: each primary key with its live entry's key when it has one in range
        let mut pks: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
        let live_prefix = codec::index_prefix(table, index);
        self.base
            .visit(Space::Index, start, end, false, &mut |k, _| {
                if !k.starts_with(&live_prefix) {
                    return Ok(false); // bounds wider than the index: its entries are done
                }
                let pk = codec::index_entry_pk(Space::Index, k, ncols)?.to_vec();
                pks.push((pk, Some(k.to_vec())));
                Ok(true)
            })?;
        // Past entries: the same keys with the index's past bit and a version LSN after them.
        let past_prefix = codec::past_index_prefix(table, index);
        let to_past = codec::to_past_index_key;
        let from = Bound::Included(to_past(first));
        let until = match end {
            Bound::Included(k) | Bound::Excluded(k) if codec::index_ids(k).is_some() => {
                keys::prefix_end(&to_past(k)).map_or(Bound::Unbounded, Bound::Excluded)
            }
            _ => keys::prefix_end(&past_prefix).map_or(Bound::Unbounded, Bound::Excluded),
        };
        // A past entry's LSN is the event that ended its run: runs ended after the point
        // may hold the row's version then.
        if !crate::storage::empty_range(&from, &until) {
            self.base.visit(
                Space::Index,
                crate::storage::bound_ref(&from),
                crate::storage::bound_ref(&until),
                false,
                &mut |k, _| {
                    if !k.starts_with(&past_prefix) {
                        return Ok(false);
                    }
                    let (live_key, ended) = codec::past_index_parts(k)?;
                    if ended > self.lsn {
                        let pk = codec::index_entry_pk(Space::Index, &live_key, ncols)?.to_vec();
                        pks.push((pk, None));
                    }
                    Ok(true)
                },
            )?;
        }
        // one candidate a row, holding its live entry if it has one
        pks.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| b.1.is_some().cmp(&a.1.is_some()))
        });
        pks.dedup_by(|later, kept| later.0 == kept.0);
        let mut out = Vec::new();
        let inside = |k: &[u8]| {
            (match start {
                Bound::Included(s) => k >= s,
                Bound::Excluded(s) => k > s,
                Bound::Unbounded => true,
            }) && (match end {
                Bound::Included(e) => k <= e,
                Bound::Excluded(e) => k < e,
                Bound::Unbounded => true,
            })
        };
        let mut found = self.found.borrow_mut();
        found.clear();
        // The candidates' live records first, read together (a parent's children lie
        // together: a step each); a row whose live version is not newer than the point is
        // answered by it, the others by their listed versions.
        let base = self.base.as_ref();
        let row_keys: Vec<Vec<u8>> = pks
            .iter()
            .map(|(pk, _)| codec::row_key(table, pk))
            .collect();
        let lives = crate::records::get_row_records(base, &row_keys)?;
        for (((pk_enc, live_entry), row_key), live) in pks.into_iter().zip(row_keys).zip(lives) {
            let live = match live {
                // unchanged since the point, and found by its live entry (in range): that
                // entry is its entry then, and its record its version then, with nothing to
                // decode here
                Some(bytes) if crate::records::row_lsn(&row_key, &bytes)? <= self.lsn => {
                    if let Some(key) = live_entry {
                        out.push(key);
                        found.insert(row_key, bytes);
                        continue;
                    }
                    let row = crate::records::decode_row(&row_key, &bytes)?;
                    Some((bytes, row))
                }
                _ => None,
            };
            let (version, bytes, image) = match live {
                Some((bytes, row)) => (row.lsn, Some(bytes), row.image),
                None => match listed_row_as_of(base, table, &pk_enc, self.lsn)? {
                    RowAsOf::Version(lsn, image) => (lsn, None, image),
                    RowAsOf::Live(..) | RowAsOf::Purged(_) | RowAsOf::Absent => continue,
                },
            };
            if image.is_empty() {
                continue;
            }
            let (vals, _) = crate::records::index_vals(t, &idx.cols, &image);
            let key = codec::index_key(table, index, &vals, &pk_enc);
            if inside(&key) {
                out.push(key);
                let record = match bytes {
                    Some(b) => b,
                    None => crate::records::encode_row(version, &image)?,
                };
                found.insert(row_key, record);
            }
        }
        out.sort();
        Ok(Some(out))
    }

    /// Every index entry of a table as of the LSN.
    fn index_entries(&self, table: u32) -> Result<BTreeMap<Vec<u8>, Vec<u8>>> {
        let mut out = BTreeMap::new();
        let Ok(t) = self.catalog.by_id(table) else {
            return Ok(out);
        };
        let prefix = codec::table_prefix(table);
        let end = keys::prefix_end(&prefix).map_or(Bound::Unbounded, Bound::Excluded);
        for row in self.rows_in(Bound::Included(prefix), end, false)? {
            if row.version.tag == kind::IMAGE_PURGED {
                continue;
            }
            let image = row.image(self.base.as_ref())?;
            let rk = row.key;
            let (_, pk_enc) = codec::row_parts(Space::Rows, &rk)?;
            for idx in &t.indexes {
                let (vals, _) = crate::records::index_vals(t, &idx.cols, &image);
                out.insert(codec::index_key(table, idx.id, &vals, pk_enc), Vec::new());
            }
        }
        Ok(out)
    }
}

fn hist_bound(b: Bound<&[u8]>, is_start: bool) -> Bound<Vec<u8>> {
    match (b, is_start) {
        (Bound::Unbounded, _) => Bound::Unbounded,
        (Bound::Included(k), true) => Bound::Included(k.to_vec()),
        (Bound::Excluded(k), true) => keys::prefix_end(k).map_or(Bound::Unbounded, Bound::Included),
        (Bound::Included(k), false) => {
            keys::prefix_end(k).map_or(Bound::Unbounded, Bound::Excluded)
        }
        (Bound::Excluded(k), false) => Bound::Excluded(k.to_vec()),
    }
}

impl ReadView for AsOfView<'_> {
    /// A range of rows is an as-of scan of it: rows asked for by key are read one by one (and
    /// those an index lookup has just read come from `found`).
    fn walks_rows(&self) -> bool {
        false
    }

    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match space {
            Space::Rows => {
                let Ok((table, pk_enc)) = codec::row_parts(Space::Rows, key) else {
                    return Ok(None);
                };
                self.check_table(Some(table))?;
                if let Some(record) = self.found.borrow_mut().remove(key) {
                    return Ok(Some(record));
                }
                match row_as_of(self.base.as_ref(), table, pk_enc, self.lsn)? {
                    RowAsOf::Live(bytes, _) => Ok(Some(bytes)),
                    RowAsOf::Version(lsn, image) => {
                        crate::records::encode_row(lsn, &image).map(Some)
                    }
                    RowAsOf::Purged(version) => {
                        let t = self.catalog.by_id(table)?;
                        Err(purged(t.name(), pk_enc, self.lsn, version))
                    }
                    RowAsOf::Absent => Ok(None),
                }
            }
            Space::Index => {
                let Some(table) = codec::table_of(key) else {
                    return Ok(None);
                };
                self.check_table(Some(table))?;
                if let Some(found) =
                    self.index_range_at(Bound::Included(key), Bound::Included(key))?
                {
                    return Ok(found.iter().any(|k| k == key).then(Vec::new));
                }
                Ok(self.index_entries(table)?.get(key).cloned())
            }
            Space::Log => match codec::read_u64_key(key) {
                Some(l) if l <= self.lsn => self.base.get(space, key),
                _ => Ok(None),
            },
            Space::Tx => self.base.get(space, key),
            _ => Err(Error::invalid(format!(
                "the {} view is not available as of a past point",
                space.name()
            ))),
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
            Space::Rows => {
                let table = match start {
                    Bound::Included(k) | Bound::Excluded(k) => codec::table_of(k),
                    Bound::Unbounded => None,
                };
                self.check_table(table)?;
                let own = |b: Bound<&[u8]>| match b {
                    Bound::Included(k) => Bound::Included(k.to_vec()),
                    Bound::Excluded(k) => Bound::Excluded(k.to_vec()),
                    Bound::Unbounded => Bound::Unbounded,
                };
                let mut rows = self.rows_in(own(start), own(end), reverse)?;
                rows.retain(|r| r.version.tag != kind::IMAGE_PURGED);
                let base = self.base.as_ref();
                Ok(Box::new(rows.into_iter().map(move |r| {
                    let key = r.key.clone();
                    Ok((key, r.record(base)?))
                })))
            }
            Space::Index => {
                let table = match start {
                    Bound::Included(k) | Bound::Excluded(k) => codec::table_of(k),
                    Bound::Unbounded => None,
                };
                let Some(table) = table else {
                    return Err(Error::invalid(
                        "an index range as of a past point needs a table",
                    ));
                };
                self.check_table(Some(table))?;
                let (s, e) = (
                    crate::storage::bound_owned(start),
                    crate::storage::bound_owned(end),
                );
                if crate::storage::empty_range(&s, &e) {
                    return Ok(Box::new(std::iter::empty()));
                }
                if let Some(mut keys) = self.index_range_at(start, end)? {
                    if reverse {
                        keys.reverse();
                    }
                    return Ok(Box::new(keys.into_iter().map(|k| Ok((k, Vec::new())))));
                }
                let entries = self.index_entries(table)?;
                let mut items: Vec<(Vec<u8>, Vec<u8>)> = entries
                    .range((s, e))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if reverse {
                    items.reverse();
                }
                Ok(Box::new(items.into_iter().map(Ok)))
            }
            Space::Log => {
                let cap = codec::log_key(self.lsn);
                let end2 = match end {
                    Bound::Included(k) if k <= cap.as_slice() => Bound::Included(k),
                    Bound::Excluded(k) if k <= cap.as_slice() => Bound::Excluded(k),
                    _ => Bound::Included(cap.as_slice()),
                };
                let items: Vec<_> = self.base.range(space, start, end2, reverse)?.collect();
                Ok(Box::new(items.into_iter()))
            }
            _ => Err(Error::invalid(format!(
                "the {} view is not available as of a past point",
                space.name()
            ))),
        }
    }
}

/// A read-only view of the store as it was at a past point. Every [`Readable`] method answers
/// exactly what the live store answered just after the commit of that point; the trash too.
///
/// ```
/// # use lazarusdb::{ColumnType, Db, Readable, Row, TableBuilder};
/// let db = Db::memory()?;
/// db.create_table(TableBuilder::new("t").column(("id", ColumnType::Int))
///     .column(("v", ColumnType::Text)).primary_key("id"))?;
/// db.insert("t", Row::new().with("v", "old"))?;
/// let before = db.last_lsn();
/// db.update("t", 1, Row::new().with("v", "new"))?;
/// let past = db.as_of(before)?;
/// assert_eq!(past.get("t", 1)?.unwrap().get("v"), Some(&"old".into()));
/// # Ok::<(), lazarusdb::Error>(())
/// ```
pub struct AsOf<'db> {
    pub(crate) engine: &'db dyn Engine,
    pub(crate) lsn: u64,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) expired: Expired,
}

impl AsOf<'_> {
    /// The LSN this view is as of.
    pub fn lsn(&self) -> u64 {
        self.lsn
    }

    fn view(&self) -> Result<AsOfView<'_>> {
        Ok(AsOfView::new(
            self.engine.read()?,
            self.lsn,
            self.catalog.clone(),
            self.expired.clone(),
        ))
    }

    /// The tombstone events of a deletion, in LSN order: (table, pk, lsn).
    fn deletion_members(
        &self,
        base: &dyn ReadView,
        rec: &crate::records::DeletionRecord,
    ) -> Result<Vec<MemberAt>> {
        let id = Uuid::from_u128(rec.id);
        let txr = log::read_tx(base, rec.tx)?.ok_or_else(|| {
            Error::corrupted("tx", format!("no record of transaction {}", rec.tx))
        })?;
        let mut out = Vec::new();
        for ev in log::read_events(
            base,
            txr.first_lsn,
            usize::try_from(txr.last_lsn - txr.first_lsn + 1).ok(),
        )? {
            match ev.body {
                EventBody::Tombstone {
                    table,
                    pk,
                    deletion,
                    ..
                } if deletion == id => out.push((table, pk, ev.lsn, MemberKind::Tombstoned)),
                EventBody::Unlink {
                    table,
                    pk,
                    deletion,
                    ..
                } if deletion == id => out.push((table, pk, ev.lsn, MemberKind::Unlinked)),
                EventBody::ImagePurged {
                    table,
                    pk,
                    was: kind::UNLINK,
                    deletion: Some(deletion),
                } if deletion == id => out.push((table, pk, ev.lsn, MemberKind::Unlinked)),
                _ => {}
            }
        }
        Ok(out)
    }

    /// True when the member was still in the trash at this view's LSN: no restore of its
    /// deletion between its tombstone and the LSN.
    fn member_in_trash(
        &self,
        base: &dyn ReadView,
        table: u32,
        pk: &Value,
        since: u64,
        id: &Uuid,
    ) -> Result<bool> {
        let pk_enc = keys::encode_one(pk);
        let start = codec::hist_key(table, &pk_enc, since + 1);
        let end = codec::hist_key(table, &pk_enc, self.lsn);
        if since >= self.lsn {
            return Ok(true);
        }
        for item in base.range(
            Space::Hist,
            Bound::Included(&start),
            Bound::Included(&end),
            false,
        )? {
            let (k, v) = item?;
            if matches!(v.first(), Some(&kind::RESTORE) | Some(&kind::IMAGE_PURGED)) {
                let lsn = codec::hist_lsn(&k)?;
                if let Some(ev) = log::read_event(base, lsn)? {
                    let restored = match ev.body {
                        EventBody::Restore { deletion, .. } => deletion == *id,
                        EventBody::ImagePurged {
                            was: kind::RESTORE,
                            deletion,
                            ..
                        } => deletion == Some(*id),
                        _ => false,
                    };
                    if restored {
                        return Ok(false);
                    }
                }
            }
        }
        Ok(true)
    }

    /// True when a set-null member (its event at `since`) left its deletion by this view's
    /// LSN because the life it belongs to was purged (see `docs/design.md` §11).
    fn left_with_a_purge(
        &self,
        base: &dyn ReadView,
        table: u32,
        pk: &Value,
        since: u64,
    ) -> Result<bool> {
        let pk_enc = keys::encode_one(pk);
        let start = codec::hist_key(table, &pk_enc, since + 1);
        let end = codec::hist_key(table, &pk_enc, self.lsn);
        let mut purges = Vec::new();
        for item in base.range(
            Space::Hist,
            Bound::Included(&start),
            Bound::Included(&end),
            false,
        )? {
            let (k, v) = item?;
            if v.first() == Some(&kind::PURGE) {
                let lsn = codec::hist_lsn(&k)?;
                purges.push(lsn);
            }
        }
        for p in purges {
            let Some(log::Event {
                body: EventBody::Purge { deletion, .. },
                ..
            }) = log::read_event(base, p)?
            else {
                continue;
            };
            // The purged life ended at the tombstone of `deletion`; is `since` part of it?
            let Some(tombstone) = crate::history::tombstone_of(base, table, &pk_enc, p, &deletion)?
            else {
                continue;
            };
            if crate::history::life_images(base, table, &pk_enc, tombstone)?
                .iter()
                .any(|i| i.lsn == since)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn deletion_at(
        &self,
        base: &dyn ReadView,
        rec: &crate::records::DeletionRecord,
    ) -> Result<Option<(Deletion, Vec<MemberAt>)>> {
        if rec.first_lsn > self.lsn {
            return Ok(None);
        }
        let id = Uuid::from_u128(rec.id);
        let members = self.deletion_members(base, rec)?;
        let mut remaining = Vec::new();
        let mut left = 0u64;
        for m in members {
            if !self.member_in_trash(base, m.0, &m.1, m.2, &id)? {
                continue; // restored by then
            }
            if m.2 < self.lsn && self.left_with_a_purge(base, m.0, &m.1, m.2)? {
                // a set-null member whose row's life was purged by then: neither in the trash
                // nor restored
                left += 1;
            } else {
                remaining.push(m);
            }
        }
        let mut d = crate::trash::deletion_of(base, &self.catalog, rec)?;
        d.restored = (rec.rows.iter().map(|(_, n)| n).sum::<u64>() + rec.unlinked)
            .saturating_sub(remaining.len() as u64 + left);
        d.remaining = remaining.len() as u64;
        Ok(Some((d, remaining)))
    }
}

impl Readable for AsOf<'_> {
    fn read_ctx(&self) -> Result<ReadCtx<'_>> {
        Ok(ReadCtx {
            view: ViewRef::Owned(Box::new(self.view()?)),
            catalog: self.catalog.clone(),
        })
    }

    /// One read of the live row, which answers when it is the version as of the LSN; otherwise
    /// one reverse seek in the version index and one log read (no re-encoding of the row).
    fn get(&self, table: &str, pk: impl Into<Value>) -> Result<Option<crate::value::Row>> {
        let t = self.catalog.table(table)?;
        let (_, pk_enc) = crate::read::pk_enc(t, pk.into())?;
        refuse_expired(&self.expired, Some(t.id()))?;
        let base = self.engine.read()?;
        match row_as_of(base.as_ref(), t.id(), &pk_enc, self.lsn)? {
            RowAsOf::Live(_, row) => Ok(Some(crate::records::into_row(t, row.image))),
            RowAsOf::Version(_, image) => Ok(Some(crate::records::into_row(t, image))),
            RowAsOf::Purged(version) => Err(purged(t.name(), &pk_enc, self.lsn, version)),
            RowAsOf::Absent => Ok(None),
        }
    }

    fn trash(&self, query: &TrashQuery) -> Result<Vec<Deletion>> {
        let base = self.engine.read()?;
        let mut out = Vec::new();
        let table_id = match query.table_name() {
            Some(t) => Some(self.catalog.table(t)?.id()),
            None => None,
        };
        let end_key = query.before_id().map(|b| codec::del_key(&b).to_vec());
        let end = end_key.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        for item in base.range(Space::Del, Bound::Unbounded, end, true)? {
            if query.limit_n().is_some_and(|l| out.len() >= l) {
                break;
            }
            let (_, v) = item?;
            let rec = crate::records::decode_deletion(&v)?;
            let Some((d, _)) = self.deletion_at(base.as_ref(), &rec)? else {
                continue;
            };
            if d.remaining == 0 {
                continue;
            }
            if let Some(t) = table_id {
                if !rec.rows.iter().any(|(id, _)| *id == t)
                    && !rec.roots.iter().any(|(id, _)| *id == t)
                {
                    continue;
                }
            }
            if query.since_at().is_some_and(|s| d.at < s) {
                break;
            }
            if query.until_at().is_some_and(|u| d.at > u) {
                continue;
            }
            out.push(d);
        }
        Ok(out)
    }

    fn deletion(&self, id: Uuid) -> Result<Deletion> {
        let base = self.engine.read()?;
        let rec = crate::records::need_deletion(base.as_ref(), &id)?;
        self.deletion_at(base.as_ref(), &rec)?
            .map(|(d, _)| d)
            .ok_or(Error::UnknownDeletion(id))
    }

    fn deletion_rows(&self, id: Uuid) -> Result<Vec<DeletedRow>> {
        let base = self.engine.read()?;
        let rec = crate::records::need_deletion(base.as_ref(), &id)?;
        let Some((_, members)) = self.deletion_at(base.as_ref(), &rec)? else {
            return Err(Error::UnknownDeletion(id));
        };
        let mut out = Vec::with_capacity(members.len());
        for (table, pk, lsn, kind) in members {
            let t = self.catalog.by_id(table)?;
            let pk_enc = keys::encode_one(&pk);
            let last = crate::history::version_at(base.as_ref(), table, &pk_enc, lsn - 1)?
                .ok_or_else(|| {
                    Error::corrupted("hist", "a deleted row without an earlier version")
                })?;
            let image = crate::history::image_of(base.as_ref(), last.lsn)?;
            out.push(DeletedRow {
                row_ref: RowRef {
                    table: t.name().to_string(),
                    pk,
                },
                kind,
                row: crate::records::to_row(t, &image),
                lsn,
            });
        }
        Ok(out)
    }

    fn find_deletion(&self, table: &str, pk: impl Into<Value>) -> Result<Option<Uuid>> {
        let base = self.engine.read()?;
        let t = self.catalog.table(table)?;
        let (_, pk_enc) = crate::read::pk_enc(t, pk.into())?;
        crate::history::holder_at(base.as_ref(), t.id(), &pk_enc, self.lsn)
    }

    fn restore_plan(&self, _id: Uuid, _policy: RestorePolicy) -> Result<RestorePlan> {
        Err(Error::invalid(
            "a restore plan is computed against the live store, not as of a past point",
        ))
    }
}

#[cfg(test)]
mod point_tests {
    use super::{local_time, At};
    use crate::value::Timestamp;

    fn zone(name: &str) -> impl Fn(i64) -> i32 {
        let z = tz::TimeZone::from_posix_tz(name).unwrap();
        move |unix| z.find_local_time_type(unix).unwrap().ut_offset()
    }

    fn utc(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn every_spelling_of_a_point() {
        let id = uuid::Uuid::now_v7();
        for (text, want) in [
            ("0", At::Lsn(0)),
            ("42", At::Lsn(42)),
            (" lsn:42 ", At::Lsn(42)),
            ("tx:7", At::Tx(7)),
            ("now", At::Now),
            ("NOW", At::Now),
            ("90m", At::Ago(5_400)),
            ("2h ago", At::Ago(7_200)),
            ("3d", At::Ago(259_200)),
            ("1w ago", At::Ago(604_800)),
            ("45s", At::Ago(45)),
            (
                "2024-05-01T12:00:00Z",
                At::Time(utc("2024-05-01T12:00:00Z")),
            ),
            (
                "2024-05-01T14:00:00+02:00",
                At::Time(utc("2024-05-01T12:00:00Z")),
            ),
        ] {
            assert_eq!(At::parse(text).unwrap(), want, "{text}");
            assert_eq!(text.parse::<At>().unwrap(), want, "{text}");
        }
        assert_eq!(
            At::parse(&format!("deletion:{id}")).unwrap(),
            At::BeforeDeletion(id)
        );
        for bad in [
            "",
            "lsn:",
            "lsn:x",
            "tx:-1",
            "deletion:abc",
            "5y",
            "h",
            "2024-13-01",
            "yesterday",
            "99999999999999999999999",
        ] {
            let e = At::parse(bad).unwrap_err().to_string();
            assert!(
                e.contains("not a point") && e.contains("tx:N"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn a_time_without_an_offset_is_local() {
        let paris = zone("Europe/Paris");
        let at = |text: &str| local_time(text, &paris).unwrap().unwrap();
        // winter (+01:00) and summer (+02:00)
        assert_eq!(at("2024-01-15T12:00:00"), utc("2024-01-15T11:00:00Z"));
        assert_eq!(at("2024-07-15 12:00"), utc("2024-07-15T10:00:00Z"));
        assert_eq!(
            at("2024-07-15T12:00:00.250"),
            utc("2024-07-15T10:00:00.25Z")
        );
        // a date alone: its local midnight
        assert_eq!(at("2024-07-15"), utc("2024-07-14T22:00:00Z"));
        // the hour after the autumn change is read in the offset then in force
        assert_eq!(at("2024-10-27T04:00:00"), utc("2024-10-27T03:00:00Z"));
        let ny = zone("America/New_York");
        assert_eq!(
            local_time("2024-01-15T12:00:00", &ny).unwrap().unwrap(),
            utc("2024-01-15T17:00:00Z")
        );
        let plain = zone("UTC");
        assert_eq!(
            local_time("2024-01-15", &plain).unwrap().unwrap(),
            utc("2024-01-15T00:00:00Z")
        );
        assert!(local_time("now", &plain).is_none());
        assert!(local_time("2024-01-15T25:00", &plain).is_none());
    }
}

#[cfg(test)]
mod index_range_tests {
    use super::*;
    use crate::{ColumnType, Db, Row, TableBuilder};

    /// An as-of index range names its table and index by the ids its bounds start with, and is
    /// read entry by entry (design §10); `None` would send the caller to rebuild the whole
    /// index of the table as of the point, with the same answer at the cost of the table.
    #[test]
    fn an_index_range_is_read_by_its_entries_not_by_the_table() {
        let db = Db::memory().unwrap();
        for name in ["a", "b", "c"] {
            db.create_table(
                TableBuilder::new(name)
                    .column(("id", ColumnType::Int))
                    .column(("v", ColumnType::Int))
                    .primary_key("id")
                    .index(["v"]),
            )
            .unwrap();
        }
        for id in 0..20i64 {
            db.insert("c", Row::new().with("id", id).with("v", id % 4))
                .unwrap();
        }
        let at = db.last_lsn();
        db.update("c", 1, Row::new().with("v", 3)).unwrap();
        let engine = &db.inner().engine;
        let catalog = crate::records::load_catalog(engine.read().unwrap().as_ref()).unwrap();
        let t = catalog.table("c").unwrap();
        let idx = &t.indexes[0];
        let view = AsOfView::new(
            engine.read().unwrap(),
            at,
            Arc::new(catalog.clone()),
            Expired::default(),
        );
        let key = codec::index_key(t.id(), idx.id, &keys::encode_one(&Value::Int(1)), &[]);
        let end = keys::prefix_end(&key).unwrap();
        let found = view
            .index_range_at(Bound::Included(&key), Bound::Excluded(&end))
            .unwrap()
            .expect("the bounds name an index of the table");
        let pks: Vec<Value> = found
            .iter()
            .map(|k| keys::decode_pk(codec::index_entry_pk(Space::Index, k, 1).unwrap()).unwrap())
            .collect();
        // row 1 had v = 1 at the point (its past entry), as did 5, 9, 13 and 17
        assert_eq!(pks, [1, 5, 9, 13, 17].map(Value::Int));
    }
}
