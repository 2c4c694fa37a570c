//! The commit pipeline: the single path by which anything reaches the engine.
//!
//! Writers hand a finished [`Batch`] to one committer thread through a crossbeam channel. The
//! committer applies batches in arrival order (one atomic engine write each) and answers
//! "applied"; batches that must be durable then go to a syncer thread, which drains every waiter
//! queued so far, makes them durable with **one** engine sync, and answers them all. While the
//! syncer waits on the disk the committer keeps applying later batches, so concurrent committers
//! share flushes (group commit) without giving up per-commit atomicity or order.
//!
//! A failed write or sync poisons the pipeline: every commit waiting on it fails, and every later
//! commit is refused until the store is reopened, so nothing is silently lost.

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
    /// [`EVENTUAL_WINDOW`]. A process crash loses nothing on fjall (its journal reaches the OS
    /// at once); a power loss can lose the last window of commits.
    Eventual,
}

/// How long an [`Durability::Eventual`] commit may stay unsynced.
pub const EVENTUAL_WINDOW: Duration = Duration::from_millis(200);

type Reply = Sender<Result<()>>;

struct Job {
    batch: Arc<Batch>,
    applied: Reply,
    durable: Option<Reply>,
}

enum SyncMsg {
    Wait(Reply),
    Dirty,
}

/// Handle to the committer and syncer threads.
pub struct Pipeline {
    jobs: Option<Sender<Job>>,
    /// Batches handed to the committer and not yet applied, oldest first.
    pending: Arc<Mutex<Vec<Arc<Batch>>>>,
    poisoned: Arc<Mutex<Option<String>>>,
    threads: Vec<JoinHandle<()>>,
}

/// A commit in flight.
pub struct Pending {
    applied: channel::Receiver<Result<()>>,
    durable: Option<channel::Receiver<Result<()>>>,
}

impl Pending {
    /// Waits until the batch is applied (visible to new readers).
    pub fn wait_applied(&self) -> Result<()> {
        self.applied.recv().unwrap_or(Err(Error::Closed))
    }

    /// Waits until the commit is durable (returns at once for an eventual commit).
    pub fn wait_durable(self) -> Result<()> {
        match self.durable {
            None => Ok(()),
            Some(rx) => rx.recv().unwrap_or(Err(Error::Closed)),
        }
    }
}

fn poison_msg(p: &Mutex<Option<String>>) -> Option<String> {
    p.lock()
        .map(|g| g.clone())
        .unwrap_or_else(|_| Some("poisoned lock".into()))
}

fn poison(p: &Mutex<Option<String>>, why: String) {
    if let Ok(mut g) = p.lock() {
        if g.is_none() {
            *g = Some(why);
        }
    }
}

impl Pipeline {
    /// Starts the threads over `engine`.
    pub fn start(engine: Arc<dyn Engine>) -> Result<Pipeline> {
        let (jobs_tx, jobs_rx) = channel::unbounded::<Job>();
        let (sync_tx, sync_rx) = channel::unbounded::<SyncMsg>();
        let poisoned = Arc::new(Mutex::new(None));
        let pending: Arc<Mutex<Vec<Arc<Batch>>>> = Arc::new(Mutex::new(Vec::new()));
        let committer = {
            let engine = engine.clone();
            let poisoned = poisoned.clone();
            let pending = pending.clone();
            std::thread::Builder::new()
                .name("lazarus-commit".into())
                .spawn(move || {
                    commit_loop(engine.as_ref(), &jobs_rx, &sync_tx, &poisoned, &pending)
                })
                .map_err(|e| Error::io("commit thread", e))?
        };
        let syncer = {
            let poisoned = poisoned.clone();
            std::thread::Builder::new()
                .name("lazarus-sync".into())
                .spawn(move || sync_loop(engine.as_ref(), &sync_rx, &poisoned))
                .map_err(|e| Error::io("sync thread", e))?
        };
        Ok(Pipeline {
            jobs: Some(jobs_tx),
            pending,
            poisoned,
            threads: vec![committer, syncer],
        })
    }

    /// Hands `batch` to the committer, which applies it atomically after every batch handed
    /// before it. Returns at once: until the batch is applied it is listed in
    /// [`Pipeline::pending`], so the next writer can read it; [`Pending`] waits for it to be
    /// applied, then durable.
    pub fn submit(&self, batch: Arc<Batch>, durability: Durability) -> Result<Pending> {
        if let Some(why) = poison_msg(&self.poisoned) {
            return Err(Error::Poisoned(why));
        }
        let jobs = self.jobs.as_ref().ok_or(Error::Closed)?;
        let (applied_tx, applied_rx) = channel::bounded(1);
        let (durable, durable_rx) = match durability {
            Durability::Immediate => {
                let (t, r) = channel::bounded(1);
                (Some(t), Some(r))
            }
            Durability::Eventual => (None, None),
        };
        if let Ok(mut p) = self.pending.lock() {
            p.push(batch.clone());
        }
        jobs.send(Job {
            batch,
            applied: applied_tx,
            durable,
        })
        .map_err(|_| Error::Closed)?;
        Ok(Pending {
            applied: applied_rx,
            durable: durable_rx,
        })
    }

    /// The batches handed to the committer and not yet applied, oldest first. Take this list
    /// *before* opening an engine view: a batch applied in between then shows in both, which is
    /// harmless, and none can be missed.
    pub fn pending(&self) -> Vec<Arc<Batch>> {
        self.pending.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// Waits until every batch handed so far is applied.
    pub fn drain(&self) -> Result<()> {
        self.submit(Arc::new(Batch::default()), Durability::Eventual)?
            .wait_applied()
    }

    /// The reason writes are refused, if the pipeline is poisoned.
    pub fn poisoned(&self) -> Option<String> {
        poison_msg(&self.poisoned)
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

fn commit_loop(
    engine: &dyn Engine,
    jobs: &Receiver<Job>,
    sync: &Sender<SyncMsg>,
    poisoned: &Mutex<Option<String>>,
    pending: &Mutex<Vec<Arc<Batch>>>,
) {
    let done = |batch: &Arc<Batch>| {
        if let Ok(mut p) = pending.lock() {
            if let Some(i) = p.iter().position(|b| Arc::ptr_eq(b, batch)) {
                p.remove(i);
            }
        }
    };
    while let Ok(job) = jobs.recv() {
        if let Some(why) = poison_msg(poisoned) {
            done(&job.batch);
            let _ = job.applied.send(Err(Error::Poisoned(why.clone())));
            if let Some(d) = job.durable {
                let _ = d.send(Err(Error::Poisoned(why)));
            }
            continue;
        }
        let result = if job.batch.is_empty() {
            Ok(())
        } else {
            engine.write(&job.batch)
        };
        done(&job.batch);
        match result {
            Ok(()) => {
                let _ = job.applied.send(Ok(()));
                let msg = match job.durable {
                    Some(d) => SyncMsg::Wait(d),
                    None => SyncMsg::Dirty,
                };
                let _ = sync.send(msg);
            }
            Err(e) => {
                poison(poisoned, format!("a write failed: {e}"));
                let _ = job.applied.send(Err(e));
            }
        }
    }
    // Channel closed: the syncer drains what is left and makes it durable.
}

fn absorb(m: SyncMsg, waiters: &mut Vec<Reply>, dirty_since: &mut Option<Instant>) {
    match m {
        SyncMsg::Wait(r) => waiters.push(r),
        SyncMsg::Dirty => {
            dirty_since.get_or_insert_with(Instant::now);
        }
    }
}

fn sync_loop(engine: &dyn Engine, rx: &Receiver<SyncMsg>, poisoned: &Mutex<Option<String>>) {
    // When eventual commits are applied but not yet synced: since when.
    let mut dirty_since: Option<Instant> = None;
    loop {
        let msg = match dirty_since {
            Some(t) => match rx.recv_deadline(t + EVENTUAL_WINDOW) {
                Ok(m) => Some(m),
                Err(channel::RecvTimeoutError::Timeout) => None,
                Err(channel::RecvTimeoutError::Disconnected) => {
                    let _ = engine.sync();
                    return;
                }
            },
            None => match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => return,
            },
        };
        let mut waiters = Vec::new();
        if let Some(m) = msg {
            absorb(m, &mut waiters, &mut dirty_since);
            // Group commit: everyone queued so far shares the next sync.
            while let Ok(m) = rx.try_recv() {
                absorb(m, &mut waiters, &mut dirty_since);
            }
        }
        let due = dirty_since.is_some_and(|t| t.elapsed() >= EVENTUAL_WINDOW);
        if waiters.is_empty() && !due {
            continue;
        }
        let result = match poison_msg(poisoned) {
            Some(why) => Err(Error::Poisoned(why)),
            None => engine.sync(),
        };
        dirty_since = None;
        if let Err(e) = &result {
            poison(poisoned, format!("a sync failed: {e}"));
        }
        for w in waiters {
            let _ = w.send(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(Error::Poisoned(e.to_string())),
            });
        }
    }
}
