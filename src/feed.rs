//! The change feed: every committed change after an LSN, in LSN order, blocking for new
//! commits (see `docs/design.md` §6, "The change feed").
//!
//! A subscription is a cursor over the log, not a queue: it reads the committed events after
//! the last one it delivered, and waits for the next commit when it has none. So it can fall
//! behind by any amount and lose nothing, it resumes from any LSN (across a reopen too), it
//! never sees part of a transaction (it reads only up to the last LSN published, which moves a
//! whole transaction at a time), and what it reads of a purged image is the purged form.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::db::{Change, Db};
use crate::error::{Error, Result};

/// Changes read from the log at a time.
const BATCH: usize = 512;

/// How long a wait for a commit lasts before the feed looks again (a safety net: commits wake
/// it at once).
const RECHECK: Duration = Duration::from_millis(200);

/// A blocking iterator over the committed changes of a store after an LSN, from
/// [`Db::subscribe`]. Each item is one event of the log ([`Change`]), in LSN order, exactly
/// once; `next` blocks until there is one. [`Subscription::next_timeout`] waits at most a
/// given time.
///
/// ```
/// # use lazarusdb::{ColumnType, Db, Row, TableBuilder};
/// let db = Db::memory()?;
/// db.create_table(TableBuilder::new("t").column(("id", ColumnType::Int)).primary_key("id"))?;
/// let mut feed = db.subscribe(db.last_lsn())?;
/// db.insert("t", Row::new().with("id", 7))?;
/// let change = feed.next().unwrap()?;
/// assert_eq!(change.pk, Some(7.into()));
/// # Ok::<(), lazarusdb::Error>(())
/// ```
pub struct Subscription<'db> {
    db: &'db Db,
    /// The last LSN delivered (or the one subscribed from).
    seen: u64,
    ready: VecDeque<Change>,
}

impl Db {
    /// Subscribes to the committed changes after `from_lsn` (0: from the first): a blocking
    /// iterator that delivers every change once, in LSN order, with its transaction, time,
    /// actor and reason, and waits for new commits once it has caught up. It never shows a
    /// transaction in part, and a purged image only in its purged form. A subscriber can fall
    /// behind by any amount: it reads from the log. To resume later (after a reopen too),
    /// subscribe again from the last LSN it saw. [`Error::InvalidInput`] when `from_lsn` is past the
    /// end of the log (a store restored from an older backup: resume from its last LSN).
    pub fn subscribe(&self, from_lsn: u64) -> Result<Subscription<'_>> {
        check_from(self, from_lsn)?;
        Ok(Subscription {
            db: self,
            seen: from_lsn,
            ready: VecDeque::new(),
        })
    }

    /// [`Db::subscribe`] as a channel, for a store shared through an `Arc`: a thread reads the
    /// feed and sends each change (or the error that stopped it) into a channel that holds at
    /// most `capacity` changes; a receiver that does not keep up holds the thread back, and
    /// loses nothing. The thread ends when the receiver is dropped or the store is dropped (it
    /// keeps only a weak reference between reads).
    pub fn subscribe_channel(
        self: &Arc<Self>,
        from_lsn: u64,
        capacity: usize,
    ) -> Result<crossbeam::channel::Receiver<Result<Change>>> {
        check_from(self, from_lsn)?;
        let (tx, rx) = crossbeam::channel::bounded(capacity.max(1));
        let weak: Weak<Db> = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("lazarus-feed".into())
            .spawn(move || feed_channel(weak, from_lsn, tx))
            .map_err(|e| Error::Storage(format!("cannot start the change feed's thread: {e}")))?;
        Ok(rx)
    }
}

fn check_from(db: &Db, from_lsn: u64) -> Result<()> {
    let last = db.last_lsn();
    if from_lsn > last {
        return Err(Error::invalid(format!(
            "lsn {from_lsn} is past the end of the log (lsn {last}): subscribe from lsn {last} \
             or earlier"
        )));
    }
    Ok(())
}

fn feed_channel(weak: Weak<Db>, mut seen: u64, tx: crossbeam::channel::Sender<Result<Change>>) {
    loop {
        let batch = {
            let Some(db) = weak.upgrade() else { return };
            match read_after(&db, seen) {
                Ok(b) if b.is_empty() => {
                    wait_for_commit(&db, seen, RECHECK);
                    continue;
                }
                Ok(b) => b,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        };
        for change in batch {
            seen = change.lsn;
            if tx.send(Ok(change)).is_err() {
                return; // the receiver is gone
            }
        }
    }
}

/// Waits until a commit after `seen` may have happened, or `timeout`: this process's commits
/// through its published LSN; on a store other processes write too, the engine's wake-ups
/// (PostgreSQL's `LISTEN/NOTIFY`) as well. The caller reads the log to see what came.
fn wait_for_commit(db: &Db, seen: u64, timeout: Duration) {
    let inner = db.inner();
    if inner.engine.shared() {
        if inner.published.lsn() <= seen {
            inner.engine.wait_for_commits(timeout);
        }
    } else {
        inner.published.wait_past(seen, timeout);
    }
}

/// The committed changes after `seen`, at most [`BATCH`], up to the last published LSN.
fn read_after(db: &Db, seen: u64) -> Result<Vec<Change>> {
    let last = db.last_lsn();
    if last <= seen {
        return Ok(Vec::new());
    }
    let room = usize::try_from(last - seen).unwrap_or(usize::MAX);
    let mut out = db.changes(seen + 1, Some(room.min(BATCH)))?;
    out.retain(|c| c.lsn <= last);
    if out.first().is_some_and(|c| c.lsn != seen + 1) {
        return Err(Error::corrupted(
            "log",
            format!("the change feed found no event at lsn {}", seen + 1),
        ));
    }
    Ok(out)
}

impl Subscription<'_> {
    /// The last LSN this subscription delivered (or the one it started from): what to
    /// subscribe from to resume it.
    pub fn last_seen(&self) -> u64 {
        self.seen
    }

    /// The next change, waiting at most `timeout` for a commit: `Ok(None)` when none came.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<Change>> {
        let until = std::time::Instant::now() + timeout;
        loop {
            if let Some(c) = self.take()? {
                return Ok(Some(c));
            }
            let now = std::time::Instant::now();
            if now >= until {
                return Ok(None);
            }
            wait_for_commit(self.db, self.seen, (until - now).min(RECHECK));
        }
    }

    /// The next change if one is committed, without waiting.
    pub fn try_next(&mut self) -> Result<Option<Change>> {
        self.take()
    }

    fn take(&mut self) -> Result<Option<Change>> {
        if self.ready.is_empty() {
            let seen = self.ready.back().map_or(self.seen, |c| c.lsn);
            self.ready.extend(read_after(self.db, seen)?);
        }
        Ok(self.ready.pop_front().inspect(|c| self.seen = c.lsn))
    }
}

impl Iterator for Subscription<'_> {
    type Item = Result<Change>;

    /// Blocks until the next change is committed; `None` never comes (the feed of an open store
    /// does not end), an error ends nothing either: the next call reads again.
    fn next(&mut self) -> Option<Result<Change>> {
        loop {
            match self.take() {
                Ok(Some(c)) => return Some(Ok(c)),
                Ok(None) => {
                    wait_for_commit(self.db, self.seen, RECHECK);
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
