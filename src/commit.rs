//! The commit pipeline: the single path by which anything reaches the engine.
//!
//! Writers hand a finished [`Batch`] to one committer thread through a crossbeam channel. The
//! committer takes every batch queued so far (a group), writes them in arrival order as one
//! atomic engine write ([`Engine::write_group`]), answers each "applied", then makes the group
//! durable with **one** engine sync and answers every Immediate commit of it (waking only the
//! first waiter, which wakes the others). Batches handed in while it writes or syncs
//! queue up and form the next group, so concurrent committers share writes and flushes (group
//! commit) without giving up per-commit atomicity or order. Eventual commits are synced by the
//! same thread within [`EVENTUAL_WINDOW`]. A lone commit (nothing queued or unapplied, no sync
//! in progress) is written by its own thread, which holds the writer lock, so order is kept:
//! an Immediate one then syncs itself, an Eventual one wakes the committer to sync it (the
//! first since the committer's last sync does; it does not wait for it).
//!
//! The committer is the pipeline's one serial thread, so work that need not happen there is
//! done elsewhere: wake-ups by the woken waiters, freeing batches by the committing threads.
//!
//! One thread both writes and syncs on purpose: fjall holds its journal lock during a sync, so
//! a second thread could not write meanwhile anyway, and handing each group to a syncer thread
//! only added a wake-up to every commit's latency (measured in `benches/commit.rs`). A syncer
//! that fdatasyncs fjall's journal through its own descriptor, outside the lock, was tried too,
//! as were a group's first waiter syncing it while this thread writes the next group, and every
//! commit writing its own batch and sharing syncs by leader election: groups got smaller and
//! each commit cost more CPU, which on two cores made 16 writers slower (design §6).
//!
//! A failed write or sync poisons the pipeline: every commit waiting on it fails, and every later
//! commit is refused until the store is reopened, so nothing is silently lost. (On an engine
//! several processes share, a failed write is a failed database transaction and poisons
//! nothing: see `Shared::write_failed`.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Receiver, Sender};

use crate::error::{Error, Result};
use crate::storage::{Batch, Engine};

/// How durable a commit must be before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// The commit returns after its events are on disk (fdatasync), shared with concurrent
    /// committers.
    #[default]
    Immediate,
    /// The commit returns once applied; the pipeline syncs in the background within
    /// 200 ms. A process crash loses nothing on fjall (its journal reaches the OS
    /// at once); a power loss can lose the last window of commits.
    Eventual,
}

/// How long an [`Durability::Eventual`] commit may stay unsynced.
pub const EVENTUAL_WINDOW: Duration = Duration::from_millis(200);

type Reply = OneSender;

/// A one-shot answer from the committer to one waiting commit. It parks the waiter on a
/// condition variable at once: a channel's receive spins and yields first, which with many
/// committers on few cores burns the CPU the commits need (measured with `perf`).
///
/// An answer can carry other waiters to wake ([`answer_group`]): the committer wakes one
/// waiter of a group, and each woken waiter wakes up to two more before it returns, so the
/// wake-ups (a system call each) run on the writers' threads instead of holding up the
/// committer, which is the pipeline's one serial thread.
struct OneShot {
    slot: parking_lot::Mutex<Slot>,
    ready: parking_lot::Condvar,
}

#[derive(Default)]
struct Slot {
    /// `Some(None)`: the sender was dropped unsent.
    answer: Option<Option<Result<()>>>,
    /// Waiters this receiver must wake on its way out.
    relay: Vec<(OneSender, Outcome)>,
    /// The receiver is gone: the sender relays for it.
    gone: bool,
}

/// A group's durable outcome, copied to each of its waiters.
type Outcome = std::result::Result<(), String>;

/// The sending half; dropping it unsent answers "closed".
pub(crate) struct OneSender(Option<Arc<OneShot>>);

/// The receiving half.
pub(crate) struct OneReceiver(Arc<OneShot>);

fn oneshot() -> (OneSender, OneReceiver) {
    let shared = Arc::new(OneShot {
        slot: parking_lot::Mutex::new(Slot::default()),
        ready: parking_lot::Condvar::new(),
    });
    (OneSender(Some(shared.clone())), OneReceiver(shared))
}

impl OneSender {
    fn answer(&mut self, value: Option<Result<()>>, relay: Vec<(OneSender, Outcome)>) {
        if let Some(shared) = self.0.take() {
            let mut slot = shared.slot.lock();
            if slot.gone {
                drop(slot);
                relay_all(relay);
                return;
            }
            slot.answer = Some(value);
            slot.relay = relay;
            drop(slot);
            shared.ready.notify_one();
        }
    }

    /// Sends the answer (ignored if the receiver is gone).
    fn send(mut self, value: Result<()>) -> std::result::Result<(), ()> {
        self.answer(Some(value), Vec::new());
        Ok(())
    }
}

impl Drop for OneSender {
    fn drop(&mut self) {
        self.answer(None, Vec::new());
    }
}

/// Answers every waiter of a group while waking only the first: it wakes the next ones (see
/// [`OneShot`]).
fn answer_group(waiters: Vec<OneSender>, outcome: &Outcome) {
    relay_all(waiters.into_iter().map(|w| (w, outcome.clone())).collect());
}

/// Wakes the first of `list` and hands it the rest to wake, split in two halves: it wakes the
/// head of each half, which wake theirs (a wake-up tree, two per woken waiter).
fn relay_all(mut list: Vec<(OneSender, Outcome)>) {
    if list.is_empty() {
        return;
    }
    let rest = list.split_off(1);
    if let Some((mut first, outcome)) = list.pop() {
        first.answer(Some(outcome.map_err(Error::Poisoned)), rest);
    }
}

/// The waiters a woken receiver relays to: two halves, each woken at its head.
fn relay_halves(mut list: Vec<(OneSender, Outcome)>) {
    let second = list.split_off(list.len() / 2);
    relay_all(list);
    relay_all(second);
}

impl OneReceiver {
    /// Waits for the answer; `Err(())` when the sender was dropped unsent.
    fn recv(&self) -> std::result::Result<Result<()>, ()> {
        let mut slot = self.0.slot.lock();
        loop {
            if let Some(answer) = slot.answer.take() {
                let relay = std::mem::take(&mut slot.relay);
                drop(slot);
                relay_halves(relay);
                return answer.ok_or(());
            }
            self.0.ready.wait(&mut slot);
        }
    }
}

impl Drop for OneReceiver {
    fn drop(&mut self) {
        let mut slot = self.0.slot.lock();
        slot.gone = true;
        let relay = std::mem::take(&mut slot.relay);
        drop(slot);
        relay_halves(relay);
    }
}

struct Job {
    batch: Arc<Batch>,
    /// Answered once the batch is applied (Eventual) or applied and durable (Immediate), or
    /// with the error that stopped it.
    reply: Reply,
    durability: Durability,
}

/// Handle to the committer thread.
pub struct Pipeline {
    shared: Arc<Shared>,
    /// Whether a lone commit may write on its own thread (see [`Engine::snapshots_hold_writes`]).
    inline_ok: bool,
    jobs: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

/// The state the committer thread, the committing threads and the pipeline share.
struct Shared {
    engine: Arc<dyn Engine>,
    /// Why writes are refused, once a write or sync failed.
    poisoned: Mutex<Option<String>>,
    /// Batches handed to the committer and not yet applied, oldest first.
    pending: Mutex<Vec<Arc<Batch>>>,
    /// Syncs in progress (inline commits and the committer's group syncs).
    syncing: Arc<AtomicUsize>,
    /// Held through every sync (see [`Shared::sync`]).
    sync_lock: parking_lot::Mutex<()>,
    /// An Eventual commit was written by its own thread since the committer last synced, and
    /// the committer was woken to sync it within [`EVENTUAL_WINDOW`].
    unsynced: std::sync::atomic::AtomicBool,
}

impl Shared {
    fn poisoned(&self) -> Option<String> {
        self.poisoned
            .lock()
            .map(|g| g.clone())
            .unwrap_or_else(|_| Some("poisoned lock".into()))
    }

    fn poison(&self, why: String) {
        if let Ok(mut g) = self.poisoned.lock() {
            if g.is_none() {
                *g = Some(why);
            }
        }
    }

    /// After a failed write: poisons the pipeline, except on an engine several processes share
    /// (PostgreSQL), where a write is one database transaction, committed whole or not at all,
    /// and every writer reads the log's positions afresh under the store's lock: the next
    /// commit may go on (on a connection made anew).
    fn write_failed(&self, why: String) {
        if !self.engine.shared() {
            self.poison(why);
        }
    }

    /// Syncs under the sync lock (a lone commit's sync, the committer's, [`Pipeline::sync`]),
    /// and poisons the pipeline before releasing it when the sync fails. After a failed
    /// fdatasync the kernel may have dropped pages written before it, so a later sync that
    /// succeeds proves nothing about them: no sync may start after a failed one and answer
    /// "durable" (the poison is checked under the same lock).
    fn sync(&self) -> Outcome {
        let _held = self.sync_lock.lock();
        if let Some(why) = self.poisoned() {
            return Err(why);
        }
        self.engine.sync().map_err(|e| {
            let why = format!("a sync failed: {e}");
            self.poison(why.clone());
            why
        })
    }

    /// Drops the batches of `group` from the pending list.
    fn done(&self, group: &[Job]) {
        if let Ok(mut p) = self.pending.lock() {
            for job in group {
                if let Some(i) = p.iter().position(|b| Arc::ptr_eq(b, &job.batch)) {
                    p.remove(i);
                }
            }
        }
    }
}

/// A commit in flight.
pub struct Pending(PendingKind);

enum PendingKind {
    /// Handed to the committer thread.
    Queued {
        answer: OneReceiver,
        /// Kept so that the batch is freed here, on the committing thread, rather than on the
        /// committer thread, which is the pipeline's one serial thread.
        _batch: Arc<Batch>,
    },
    /// An Eventual commit already applied by the committing thread itself; the committer
    /// syncs it.
    Applied,
    /// An Immediate commit already applied by the committing thread itself; it syncs itself
    /// too.
    Inline {
        shared: Arc<Shared>,
        /// Counts this commit as syncing until it is dropped.
        _slot: SyncSlot,
    },
}

/// One sync in progress, counted while it lives: a commit takes the inline path only when no
/// sync is in progress, so that concurrent committers still share one sync through the
/// committer (group commit).
struct SyncSlot(Arc<AtomicUsize>);

impl SyncSlot {
    fn take(counter: &Arc<AtomicUsize>) -> SyncSlot {
        counter.fetch_add(1, Ordering::AcqRel);
        SyncSlot(counter.clone())
    }
}

impl Drop for SyncSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Pending {
    /// Waits until the commit is applied (visible to new readers) and, for an Immediate commit,
    /// durable.
    pub fn wait(self) -> Result<()> {
        match self.0 {
            PendingKind::Queued { answer, .. } => answer.recv().unwrap_or(Err(Error::Closed)),
            PendingKind::Applied => Ok(()),
            PendingKind::Inline { shared, .. } => shared.sync().map_err(Error::Poisoned),
        }
    }
}

impl Pipeline {
    /// Starts the threads over `engine`.
    pub fn start(engine: Arc<dyn Engine>) -> Result<Pipeline> {
        let (jobs_tx, jobs_rx) = channel::unbounded::<Job>();
        let inline_ok = !engine.snapshots_hold_writes();
        let shared = Arc::new(Shared {
            engine,
            poisoned: Mutex::new(None),
            pending: Mutex::new(Vec::new()),
            syncing: Arc::new(AtomicUsize::new(0)),
            sync_lock: parking_lot::Mutex::new(()),
            unsynced: std::sync::atomic::AtomicBool::new(false),
        });
        let committer = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("lazarus-commit".into())
                .spawn(move || {
                    // A panic of this thread poisons the pipeline: its batches were never
                    // applied, and later commits must not build on them.
                    let _guard = PoisonOnPanic(&shared);
                    commit_loop(&shared, &jobs_rx)
                })
                .map_err(|e| Error::io("commit thread", e))?
        };
        Ok(Pipeline {
            shared,
            inline_ok,
            jobs: Some(jobs_tx),
            threads: vec![committer],
        })
    }

    /// Hands `batch` to the committer, which applies it atomically after every batch handed
    /// before it. Returns at once: until the batch is applied it is listed in
    /// [`Pipeline::pending`], so the next writer can read it; [`Pending`] waits for it to be
    /// applied, then durable.
    ///
    /// An Immediate commit that finds nothing queued ahead of it is applied by the calling
    /// thread itself, which then syncs for itself: no hand-off to the committer and back, which
    /// is most of a lone writer's overhead over a bare fdatasync. The caller must hold the
    /// store's writer lock (no other batch can be handed in meanwhile, so order is kept).
    pub fn submit(&self, batch: Arc<Batch>, durability: Durability) -> Result<Pending> {
        let shared = &self.shared;
        if let Some(why) = shared.poisoned() {
            return Err(Error::Poisoned(why));
        }
        let jobs = self.jobs.as_ref().ok_or(Error::Closed)?;
        let idle = shared.pending.lock().map(|p| p.is_empty()).unwrap_or(false);
        if self.inline_ok && idle && jobs.is_empty() && shared.syncing.load(Ordering::Acquire) == 0
        {
            let slot = SyncSlot::take(&shared.syncing);
            if !batch.is_empty() {
                if let Err(e) = shared.engine.write(&batch) {
                    shared.write_failed(format!("a write failed: {e}"));
                    return Err(e);
                }
            }
            if durability == Durability::Eventual {
                drop(slot);
                // the committer syncs it within the window: the first such write since its
                // last sync wakes it (without waiting for it), the next ones find it woken
                if !batch.is_empty() && !shared.unsynced.swap(true, Ordering::AcqRel) {
                    let (reply, _) = oneshot();
                    let wake = Job {
                        batch: Arc::new(Batch::default()),
                        reply,
                        durability: Durability::Eventual,
                    };
                    if jobs.send(wake).is_err() {
                        // the committer is gone (the batch is written all the same): sync here
                        shared.sync().map_err(Error::Poisoned)?;
                    }
                }
                return Ok(Pending(PendingKind::Applied));
            }
            return Ok(Pending(PendingKind::Inline {
                shared: shared.clone(),
                _slot: slot,
            }));
        }
        let (reply, answer) = oneshot();
        if let Ok(mut p) = shared.pending.lock() {
            p.push(batch.clone());
        }
        if jobs
            .send(Job {
                batch: batch.clone(),
                reply,
                durability,
            })
            .is_err()
        {
            // The committer is gone: the batch will never be applied, so no reader may see it.
            if let Ok(mut p) = shared.pending.lock() {
                p.retain(|b| !Arc::ptr_eq(b, &batch));
            }
            return Err(Error::Closed);
        }
        Ok(Pending(PendingKind::Queued {
            answer,
            _batch: batch,
        }))
    }

    /// The batches handed to the committer and not yet applied, oldest first. Take this list
    /// *before* opening an engine view: a batch applied in between then shows in both, which is
    /// harmless, and none can be missed.
    pub fn pending(&self) -> Vec<Arc<Batch>> {
        self.shared
            .pending
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default()
    }

    /// Waits until every batch handed so far is applied.
    pub fn drain(&self) -> Result<()> {
        self.submit(Arc::new(Batch::default()), Durability::Eventual)?
            .wait()
    }

    /// Makes every write so far durable, like a commit's sync: a failure poisons the pipeline.
    pub fn sync(&self) -> Result<()> {
        self.shared.sync().map_err(Error::Poisoned)
    }

    /// The reason writes are refused, if the pipeline is poisoned.
    pub fn poisoned(&self) -> Option<String> {
        self.shared.poisoned()
    }

    /// Stops the threads after the queued work (idempotent).
    pub fn stop(&mut self) {
        self.jobs = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.stop();
    }
}

/// At most this many queued batches are merged into one engine write.
const MAX_GROUP: usize = 256;
/// A group stops growing once it changes this many keys.
const MAX_GROUP_KEYS: usize = 64 * 1024;

/// Poisons the pipeline if the thread holding it unwinds.
struct PoisonOnPanic<'a>(&'a Shared);

impl Drop for PoisonOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0
                .poison("the commit thread stopped on an internal error; reopen the store".into());
        }
    }
}

fn commit_loop(shared: &Shared, jobs: &Receiver<Job>) {
    let engine = shared.engine.as_ref();
    let mut dirty_since: Option<Instant> = None;
    loop {
        let first = match dirty_since {
            Some(t) => match jobs.recv_deadline(t + EVENTUAL_WINDOW) {
                Ok(j) => Some(j),
                Err(channel::RecvTimeoutError::Timeout) => None,
                Err(channel::RecvTimeoutError::Disconnected) => {
                    let _ = shared.sync();
                    return;
                }
            },
            None => match jobs.recv() {
                Ok(j) => Some(j),
                Err(_) => return,
            },
        };
        let mut waiters: Vec<Reply> = Vec::new();
        if let Some(first) = first {
            let mut keys = first.batch.len();
            let mut group = vec![first];
            while group.len() < MAX_GROUP && keys < MAX_GROUP_KEYS {
                match jobs.try_recv() {
                    Ok(job) => {
                        keys += job.batch.len();
                        group.push(job);
                    }
                    Err(_) => break,
                }
            }
            if let Some(why) = shared.poisoned() {
                shared.done(&group);
                for job in group {
                    let _ = job.reply.send(Err(Error::Poisoned(why.clone())));
                }
                continue;
            }
            let batches: Vec<Arc<Batch>> = group
                .iter()
                .filter(|j| !j.batch.is_empty())
                .map(|j| j.batch.clone())
                .collect();
            // nothing to write: a drain, or a wake-up for a commit written by its own thread
            let result = if batches.is_empty() {
                Ok(())
            } else {
                engine.write_group(&batches)
            };
            shared.done(&group);
            match result {
                Ok(()) => {
                    for job in group {
                        match job.durability {
                            Durability::Immediate => waiters.push(job.reply),
                            Durability::Eventual => {
                                let _ = job.reply.send(Ok(()));
                                dirty_since.get_or_insert_with(Instant::now);
                            }
                        }
                    }
                }
                Err(e) => {
                    let why = format!("a write failed: {e}");
                    shared.write_failed(why.clone());
                    let mut first = Some(e);
                    for job in group {
                        let err = first.take().unwrap_or_else(|| Error::Poisoned(why.clone()));
                        let _ = job.reply.send(Err(err));
                    }
                    continue;
                }
            }
        }
        let due = dirty_since.is_some_and(|t| t.elapsed() >= EVENTUAL_WINDOW);
        if waiters.is_empty() && !due {
            continue;
        }
        dirty_since = None;
        // commits written by their own threads from here on wake this thread again
        shared.unsynced.store(false, Ordering::Release);
        let outcome = {
            let _slot = SyncSlot::take(&shared.syncing);
            shared.sync()
        };
        answer_group(waiters, &outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits for every receiver on its own thread; a waiter not woken within 20 s fails the
    /// test instead of hanging it.
    fn wait_all(receivers: Vec<OneReceiver>) -> Vec<std::result::Result<Result<()>, ()>> {
        let n = receivers.len();
        let (tx, rx) = channel::unbounded();
        for r in receivers {
            let tx = tx.clone();
            std::thread::spawn(move || tx.send(r.recv()));
        }
        (0..n)
            .map(|_| {
                rx.recv_timeout(Duration::from_secs(20))
                    .expect("a waiter was never woken")
            })
            .collect()
    }

    #[test]
    fn a_group_answer_reaches_every_waiter() {
        for n in [1usize, 2, 3, 16, 100] {
            let (senders, receivers): (Vec<_>, Vec<_>) = (0..n).map(|_| oneshot()).unzip();
            let waiting = std::thread::spawn(move || wait_all(receivers));
            answer_group(senders, &Ok(()));
            let got = waiting.join().unwrap();
            assert_eq!(got.len(), n);
            assert!(got.iter().all(|r| matches!(r, Ok(Ok(())))), "{n}: {got:?}");
        }
    }

    #[test]
    fn a_failed_group_fails_every_waiter_with_the_reason() {
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..7).map(|_| oneshot()).unzip();
        answer_group(senders, &Err("a sync failed: disk gone".into()));
        for r in wait_all(receivers) {
            match r {
                Ok(Err(Error::Poisoned(why))) => assert!(why.contains("disk gone"), "{why}"),
                other => panic!("expected the sync's error, got {other:?}"),
            }
        }
    }

    #[test]
    fn waiters_that_left_still_pass_the_wake_up_on() {
        // Receivers dropped before the answer (and one dropped after it, unread) must not
        // strand the waiters they were to wake.
        let (senders, mut receivers): (Vec<_>, Vec<_>) = (0..9).map(|_| oneshot()).unzip();
        let gone_before: Vec<OneReceiver> = vec![receivers.remove(0), receivers.remove(3)];
        drop(gone_before);
        let unread = receivers.remove(0);
        let waiting = std::thread::spawn(move || wait_all(receivers));
        answer_group(senders, &Ok(()));
        drop(unread);
        let got = waiting.join().unwrap();
        assert_eq!(got.len(), 6);
        assert!(got.iter().all(|r| matches!(r, Ok(Ok(())))), "{got:?}");
    }

    #[test]
    fn a_dropped_sender_answers_closed() {
        let (tx, rx) = oneshot();
        drop(tx);
        assert!(rx.recv().is_err());
    }

    /// An engine that fails its syncs or writes on demand.
    struct Faulty {
        inner: crate::storage::memory::MemoryEngine,
        fail_sync: std::sync::atomic::AtomicBool,
        fail_write: std::sync::atomic::AtomicBool,
        syncs: AtomicUsize,
        inline: bool,
    }

    impl Faulty {
        fn new(inline: bool) -> Arc<Faulty> {
            Arc::new(Faulty {
                inner: crate::storage::memory::MemoryEngine::new(),
                fail_sync: false.into(),
                fail_write: false.into(),
                syncs: AtomicUsize::new(0),
                inline,
            })
        }
    }

    impl Engine for Faulty {
        fn kind(&self) -> crate::storage::EngineKind {
            crate::storage::EngineKind::Memory
        }
        fn read(&self) -> Result<Box<dyn crate::storage::ReadView + '_>> {
            self.inner.read()
        }
        fn write(&self, batch: &Batch) -> Result<()> {
            if self.fail_write.load(Ordering::SeqCst) {
                return Err(Error::Storage("injected write failure".into()));
            }
            self.inner.write(batch)
        }
        fn sync(&self) -> Result<()> {
            self.syncs.fetch_add(1, Ordering::SeqCst);
            if self.fail_sync.load(Ordering::SeqCst) {
                return Err(Error::Storage("injected sync failure".into()));
            }
            Ok(())
        }
        fn disk_bytes(&self) -> Result<u64> {
            Ok(0)
        }
        fn snapshots_hold_writes(&self) -> bool {
            !self.inline
        }
    }

    fn one_put(i: u8) -> Arc<Batch> {
        let mut b = Batch::default();
        b.put(crate::codec::Space::Rows, vec![i], vec![i]);
        Arc::new(b)
    }

    #[test]
    fn a_failed_sync_fails_every_waiting_commit_and_every_later_one() {
        for inline in [false, true] {
            let engine = Faulty::new(inline);
            let pipeline = Arc::new(Pipeline::start(engine.clone()).unwrap());
            pipeline
                .submit(one_put(0), Durability::Immediate)
                .unwrap()
                .wait()
                .unwrap();
            engine.fail_sync.store(true, Ordering::SeqCst);
            let results: Vec<Result<()>> = (1..=8u8)
                .map(|i| {
                    let p = pipeline.clone();
                    std::thread::spawn(move || p.submit(one_put(i), Durability::Immediate)?.wait())
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect();
            for r in &results {
                match r {
                    Err(Error::Poisoned(why)) => assert!(why.contains("injected sync"), "{why}"),
                    other => panic!("inline {inline}: a commit survived a failed sync: {other:?}"),
                }
            }
            // Fixed disk or not, the pipeline refuses writes until the store is reopened, and
            // a later sync does not report anything durable.
            engine.fail_sync.store(false, Ordering::SeqCst);
            let later = pipeline.submit(one_put(9), Durability::Immediate);
            assert!(
                matches!(later, Err(Error::Poisoned(_))),
                "{:?}",
                later.map(|_| ())
            );
            let syncs = engine.syncs.load(Ordering::SeqCst);
            assert!(matches!(pipeline.sync(), Err(Error::Poisoned(_))));
            assert_eq!(
                engine.syncs.load(Ordering::SeqCst),
                syncs,
                "synced after a failure"
            );
        }
    }

    #[test]
    fn a_failed_write_fails_its_commits_and_every_later_one() {
        // written by the committer, or by the committing thread itself (a lone commit)
        for inline in [false, true] {
            for durability in [Durability::Immediate, Durability::Eventual] {
                let engine = Faulty::new(inline);
                let pipeline = Pipeline::start(engine.clone()).unwrap();
                engine.fail_write.store(true, Ordering::SeqCst);
                let first = pipeline
                    .submit(one_put(1), durability)
                    .and_then(Pending::wait);
                assert!(
                    matches!(&first, Err(Error::Storage(why)) if why.contains("injected write")),
                    "inline {inline}, {durability:?}: {first:?}"
                );
                assert!(pipeline.poisoned().is_some());
                engine.fail_write.store(false, Ordering::SeqCst);
                assert!(matches!(
                    pipeline
                        .submit(one_put(2), Durability::Eventual)
                        .map(|_| ()),
                    Err(Error::Poisoned(_))
                ));
                // Nothing of the failed batch is listed as pending for readers, or applied.
                assert!(pipeline.pending().is_empty());
                let view = engine.read().unwrap();
                assert_eq!(view.get(crate::codec::Space::Rows, &[1]).unwrap(), None);
            }
        }
    }

    #[test]
    fn a_failed_explicit_sync_poisons_the_pipeline() {
        let engine = Faulty::new(false);
        let pipeline = Pipeline::start(engine.clone()).unwrap();
        pipeline
            .submit(one_put(1), Durability::Eventual)
            .unwrap()
            .wait()
            .unwrap();
        engine.fail_sync.store(true, Ordering::SeqCst);
        assert!(matches!(pipeline.sync(), Err(Error::Poisoned(_))));
        engine.fail_sync.store(false, Ordering::SeqCst);
        assert!(pipeline.sync().is_err());
        assert!(pipeline.submit(one_put(2), Durability::Immediate).is_err());
    }

    /// Waits up to ten windows for the engine to have synced more than `before` times.
    fn synced_after(engine: &Faulty, before: usize) -> bool {
        let deadline = Instant::now() + EVENTUAL_WINDOW * 10;
        while Instant::now() < deadline {
            if engine.syncs.load(Ordering::SeqCst) > before {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn a_lone_eventual_commit_is_applied_at_once_and_synced_within_the_window() {
        for inline in [true, false] {
            let engine = Faulty::new(inline);
            let pipeline = Pipeline::start(engine.clone()).unwrap();
            // twice: the second commit comes after the committer's sync of the first, which
            // must not have left it unwoken
            for i in [1u8, 2] {
                let before = engine.syncs.load(Ordering::SeqCst);
                pipeline
                    .submit(one_put(i), Durability::Eventual)
                    .unwrap()
                    .wait()
                    .unwrap();
                let view = engine.read().unwrap();
                assert_eq!(
                    view.get(crate::codec::Space::Rows, &[i]).unwrap(),
                    Some(vec![i]),
                    "inline {inline}: commit {i} not applied when it returned"
                );
                drop(view);
                assert!(
                    synced_after(&engine, before),
                    "inline {inline}: commit {i} never synced"
                );
            }
            assert!(pipeline.pending().is_empty());
        }
    }
}
