//! Concurrency stress: M writer threads insert parents with children, update them, delete
//! children (adjusting their parent in the same transaction), delete parents (cascading) and
//! restore those deletions, while N reader threads check invariants continuously:
//!
//! - never half a transaction: in one snapshot, every live parent has exactly `kids` live
//!   children (a transaction changes both together);
//! - no dangling foreign key: every live child's parent is live in the same snapshot;
//! - a deleted row is never visible: no live row is in the trash (`find_deletion` is `None`);
//! - as-of reads of a past LSN never change: counts recorded as of an LSN read the same later.
//!
//! Bounded by `LAZARUS_STRESS_SECS` (default 2 seconds per engine).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lazarusdb::{
    ColumnType, Db, EngineKind, Error, OnDelete, Options, Readable, RestorePolicy, Row, Scan,
    TableBuilder, Value,
};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn schema(db: &Db) {
    db.create_table(
        TableBuilder::new("parent")
            .column(("id", ColumnType::Int))
            .column(("kids", ColumnType::Int))
            .column(("label", ColumnType::Text))
            .primary_key("id"),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("child")
            .column(("id", ColumnType::Int))
            .column(("parent_id", ColumnType::Int))
            .primary_key("id")
            .foreign_key("parent_id", "parent", OnDelete::Cascade),
    )
    .unwrap();
}

fn int(r: &Row, c: &str) -> i64 {
    r.get(c).and_then(Value::as_int).unwrap()
}

fn write_step(db: &Db, rng: &mut Rng, deletions: &Mutex<Vec<uuid::Uuid>>) -> Result<(), Error> {
    match rng.below(10) {
        0..=4 => db.transaction(|tx| {
            let n = 1 + rng.below(4) as i64;
            let p = tx.insert("parent", Row::new().with("kids", n).with("label", "new"))?;
            for _ in 0..n {
                tx.insert(
                    "child",
                    Row::new().with("parent_id", p.get("id").cloned().unwrap()),
                )?;
            }
            Ok(())
        }),
        5 => {
            let id = 1 + rng.below(200) as i64;
            db.transaction(|tx| {
                if tx.get("parent", id)?.is_some() {
                    tx.update(
                        "parent",
                        id,
                        Row::new().with("label", format!("u{}", rng.below(100))),
                    )?;
                }
                Ok(())
            })
        }
        6 => {
            // delete one child and decrement its parent, atomically
            let id = 1 + rng.below(600) as i64;
            db.transaction(|tx| {
                if let Some(c) = tx.get("child", id)? {
                    let pid = int(&c, "parent_id");
                    let p = tx.get("parent", pid)?.unwrap();
                    tx.delete("child", id)?;
                    tx.update("parent", pid, Row::new().with("kids", int(&p, "kids") - 1))?;
                }
                Ok(())
            })
        }
        7 | 8 => {
            let id = 1 + rng.below(200) as i64;
            match db.delete("parent", id) {
                Ok(d) => {
                    deletions.lock().unwrap().push(d.deletion);
                    Ok(())
                }
                Err(Error::NotFound { .. } | Error::AlreadyDeleted { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        }
        _ => {
            let d = {
                let mut ds = deletions.lock().unwrap();
                if ds.is_empty() {
                    return Ok(());
                }
                let i = rng.below(ds.len() as u64) as usize;
                ds.swap_remove(i)
            };
            match db.restore(d, RestorePolicy::SkipConflicts) {
                Ok(_) | Err(Error::AlreadyRestored(_)) => Ok(()),
                Err(e) => Err(e),
            }
        }
    }
}

fn check_snapshot(db: &Db) {
    let snap = db.snapshot().unwrap();
    let parents = snap.scan("parent", Scan::all()).unwrap();
    let children = snap.scan("child", Scan::all()).unwrap();
    let mut per_parent = std::collections::HashMap::new();
    for c in &children {
        let pid = int(c, "parent_id");
        assert!(
            snap.get("parent", pid).unwrap().is_some(),
            "dangling child {:?}",
            c
        );
        *per_parent.entry(pid).or_insert(0i64) += 1;
    }
    for p in &parents {
        let id = int(p, "id");
        assert_eq!(
            per_parent.get(&id).copied().unwrap_or(0),
            int(p, "kids"),
            "half a transaction: parent {id}"
        );
        assert_eq!(
            snap.find_deletion("parent", id).unwrap(),
            None,
            "live row {id} is in the trash"
        );
    }
}

fn run(db: Db, writers: usize, readers: usize) {
    schema(&db);
    let secs: u64 = std::env::var("LAZARUS_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let stop = AtomicBool::new(false);
    let deletions = Mutex::new(Vec::new());
    let checks = AtomicU64::new(0);
    let commits = AtomicU64::new(0);
    let past: Mutex<Vec<(u64, u64, u64)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for w in 0..writers {
            let (db, stop, deletions, commits) = (&db, &stop, &deletions, &commits);
            s.spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (w as u64 + 1));
                while !stop.load(Ordering::Relaxed) {
                    write_step(db, &mut rng, deletions).unwrap();
                    commits.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        for r in 0..readers {
            let (db, stop, checks, past) = (&db, &stop, &checks, &past);
            s.spawn(move || {
                let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ (r as u64 + 7));
                while !stop.load(Ordering::Relaxed) {
                    check_snapshot(db);
                    // as-of reads of a past LSN never change
                    let lsn = db.last_lsn();
                    let a = db.as_of(lsn).unwrap();
                    let counts = (lsn, a.count("parent").unwrap(), a.count("child").unwrap());
                    past.lock().unwrap().push(counts);
                    let old = {
                        let p = past.lock().unwrap();
                        p[rng.below(p.len() as u64) as usize]
                    };
                    let then = db.as_of(old.0).unwrap();
                    assert_eq!(
                        (then.count("parent").unwrap(), then.count("child").unwrap()),
                        (old.1, old.2),
                        "as of {} changed",
                        old.0
                    );
                    checks.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(secs) {
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert!(commits.load(Ordering::Relaxed) > 0 && checks.load(Ordering::Relaxed) > 0);
    check_snapshot(&db);
    let report = db.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.differences);
}

#[test]
fn stress_in_memory() {
    run(Db::memory().unwrap(), 3, 3);
}

#[test]
fn stress_on_fjall() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default()
        .engine(EngineKind::Fjall)
        .durability(lazarusdb::Durability::Eventual);
    run(Db::open_with(dir.path().join("s"), options).unwrap(), 3, 3);
}
