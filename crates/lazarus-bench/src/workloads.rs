//! The workloads of one run, goal by goal, on every system; each figure with every repetition.
//!
//! Stores are built with eventual durability where the build is not what is measured (the
//! reads, the open): a durable build measures nothing more and takes longer. What is measured
//! with durability says which.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use lazarusdb::{Db, Readable};
use serde_json::json;

use crate::error::{io, BenchError, Result};
use crate::systems::{
    self, children_of, committer, lazarus_path, scan_children, time_open, Durable, Lazarus, System,
    Target,
};
use crate::{Config, Measurement, Progress};

/// Children per parent in the stores of the live reads and the as-of reads.
pub const FANOUT: i64 = 100;

/// The deleted shares of the live reads, in percent.
pub const DELETED: [u64; 3] = [0, 50, 90];

/// Rows per transaction when a store is built.
const BUILD_TX: i64 = 1_000;

/// How a run goes: the figures so far, and the progress told to the caller.
pub(crate) struct Run<'a> {
    cfg: &'a Config,
    pub(crate) figures: Vec<Measurement>,
    progress: &'a mut dyn FnMut(Progress),
    step: u64,
    total: u64,
}

/// A short count: `10k`, `1M`, `200k`, `1,500`.
pub fn count_label(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 && n.is_multiple_of(1_000) {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

/// A pseudo-random number in `1..=n` for the `i`-th draw (splitmix64), the same in every run
/// and on every system.
pub fn pick(i: u64, n: u64) -> i64 {
    let mut z = i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z % n.max(1)) as i64 + 1
}

fn ns_per(d: Duration, n: usize) -> f64 {
    d.as_nanos() as f64 / n.max(1) as f64
}

fn per_second(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

/// A fresh folder for one store, removed when dropped; the process settled first.
fn scratch(cfg: &Config) -> Result<tempfile::TempDir> {
    settle();
    std::fs::create_dir_all(&cfg.scratch).map_err(io(&cfg.scratch))?;
    tempfile::Builder::new()
        .prefix("lazarus-bench-")
        .tempdir_in(&cfg.scratch)
        .map_err(io(&cfg.scratch))
}

/// Frees what an earlier measurement left to be freed later, so that the next one does not pay
/// for it. sled defers freeing its pages to crossbeam-epoch's global collector, which frees
/// them a few at a time whenever any code in the process next uses it (fjall's memtables do):
/// the system measured after a sled store paid for them, the default engine's ingest falling
/// from about 150k to 55k rows a second (docs/perf-journal.md §31). Flushes the collector until
/// 100 flushes take under a millisecond (at most 100,000 flushes).
fn settle() {
    for _ in 0..1_000 {
        let start = Instant::now();
        for _ in 0..100 {
            crossbeam_epoch::pin().flush();
        }
        if start.elapsed() < Duration::from_millis(1) {
            return;
        }
    }
}

/// Builds `rows` children with [`FANOUT`] children per parent (`rows / FANOUT` parents), child
/// `c` under parent `(c - 1) / FANOUT + 1`, in transactions of 1,000 children.
pub fn build_families(t: &mut dyn Target, rows: u64) -> Result<()> {
    let rows = rows as i64;
    let mut start = 1;
    while start <= rows {
        let end = (start + BUILD_TX - 1).min(rows);
        let parents: Vec<i64> = ((start - 1) / FANOUT + 1..=(end - 1) / FANOUT + 1).collect();
        let children: Vec<(i64, i64)> = (start..=end).map(|c| (c, (c - 1) / FANOUT + 1)).collect();
        t.insert(&parents, &children)?;
        start = end + 1;
    }
    Ok(())
}

/// Deletes the children with `doomed(id)` among `1..=rows`, each as its own deletion, 1,000 to
/// a transaction.
pub fn delete_where(t: &mut dyn Target, rows: u64, doomed: impl Fn(i64) -> bool) -> Result<()> {
    let ids: Vec<i64> = (1..=rows as i64).filter(|id| doomed(*id)).collect();
    for chunk in ids.chunks(BUILD_TX as usize) {
        t.delete_children(chunk)?;
    }
    Ok(())
}

/// The children deleted to reach each share: odd ids for 50 %, then every even id but the
/// multiples of 10 for 90 %.
pub fn doomed_at(pct: u64) -> fn(i64) -> bool {
    match pct {
        50 => |id| id % 2 == 1,
        90 => |id| id % 2 == 0 && id % 10 != 0,
        _ => |_| false,
    }
}

/// Live children after deleting down to `pct` % of `rows`.
pub fn live_at(rows: u64, pct: u64) -> u64 {
    rows * (100 - pct) / 100
}

impl<'a> Run<'a> {
    pub(crate) fn new(cfg: &'a Config, progress: &'a mut dyn FnMut(Progress)) -> Run<'a> {
        let measured: Vec<_> = systems::systems()
            .into_iter()
            .filter(|s| cfg.measures(s.name()))
            .collect();
        let systems = measured.len() as u64;
        let ours = measured.iter().filter(|s| s.is_ours()).count() as u64;
        let s = &cfg.sizes;
        let group = |name: &str, steps: u64| if cfg.runs(name) { steps } else { 0 };
        let total = group("reads", s.rows.len() as u64 * systems)
            + group("as-of", s.versions.len() as u64 * ours)
            + group("cascade", 2 * s.children.len() as u64 * systems)
            + group("ingest", s.build_reps as u64 * systems)
            + group("commits", s.build_reps as u64 * (systems + 1));
        Run {
            cfg,
            figures: Vec::new(),
            progress,
            step: 0,
            total,
        }
    }

    fn tick(&mut self, what: String) {
        self.step += 1;
        (self.progress)(Progress {
            step: self.step,
            total: self.total,
            what,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        workload: &str,
        params: &[(&str, serde_json::Value)],
        label: String,
        system: &str,
        unit: &str,
        reps: Vec<f64>,
    ) {
        let mut sorted = reps.clone();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let value = median(&sorted);
        self.figures.push(Measurement {
            workload: workload.to_string(),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
            label,
            system: system.to_string(),
            unit: unit.to_string(),
            value,
            reps,
        });
    }

    /// Every workload, goal by goal.
    pub(crate) fn all(&mut self) -> Result<()> {
        let cfg = self.cfg;
        let systems: Vec<_> = systems::systems()
            .into_iter()
            .filter(|s| cfg.measures(s.name()))
            .collect();
        for &rows in cfg.sizes.rows.iter().filter(|_| cfg.runs("reads")) {
            for s in &systems {
                self.tick(format!(
                    "live reads, {} rows: {}",
                    count_label(rows),
                    s.name()
                ));
                self.views(s, rows)?;
            }
        }
        for &v in cfg.sizes.versions.iter().filter(|_| cfg.runs("as-of")) {
            for s in systems.iter().filter(|s| s.is_ours()) {
                self.tick(format!("as-of reads, {v} versions: {}", s.name()));
                self.as_of(s, v)?;
            }
        }
        for durable in [Durable::Eventual, Durable::Immediate] {
            for &n in cfg.sizes.children.iter().filter(|_| cfg.runs("cascade")) {
                for s in &systems {
                    self.tick(format!(
                        "cascade, {n} children, {}: {}",
                        durable.name(),
                        s.name()
                    ));
                    self.cascade(s, durable, n)?;
                }
            }
        }
        let mut ingest: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
        for rep in 0..cfg.sizes.build_reps.max(1) {
            for s in systems.iter().filter(|_| cfg.runs("ingest")) {
                self.tick(format!("ingest: {}", s.name()));
                let (rate, bytes) = self.ingest(s, rep == 0)?;
                let e = ingest.entry(s.name().to_string()).or_default();
                e.0.push(rate);
                e.1.extend(bytes);
            }
        }
        let rows = cfg.sizes.ingest_rows;
        for s in &systems {
            let Some((rates, bytes)) = ingest.remove(s.name()) else {
                continue;
            };
            self.record(
                "ingest",
                &[("rows", json!(rows))],
                format!(
                    "ingest, {} rows, durable 1,000-row transactions",
                    count_label(rows)
                ),
                s.name(),
                "rows/s",
                rates,
            );
            self.record(
                "disk_bytes",
                &[("rows", json!(rows))],
                format!(
                    "disk bytes per row after compact, {} rows",
                    count_label(rows)
                ),
                s.name(),
                "bytes/row",
                bytes,
            );
        }
        if cfg.runs("commits") {
            self.commits(&systems)?;
        }
        Ok(())
    }

    /// Goals 1, 2 and 6 on a store of `rows` children: point gets, then live scans and child
    /// lookups at 0 %, 50 % and 90 % deleted (no compaction), and between the first two the
    /// opens (clean, through the CLI, after a crash).
    fn views(&mut self, system: &System, rows: u64) -> Result<()> {
        let cfg = self.cfg;
        let sz = &cfg.sizes;
        let name = system.name();
        let size = count_label(rows);
        let dir = scratch(cfg)?;
        let mut t = systems::open(system, dir.path(), Durable::Eventual)?;
        build_families(t.as_mut(), rows)?;

        let mut untyped = Vec::new();
        let mut typed = Vec::new();
        for _ in 0..sz.reps {
            let start = Instant::now();
            for i in 0..sz.gets {
                if !t.get(pick(i as u64, rows))? {
                    return Err(BenchError::Unexpected(format!("{name}: a get missed")));
                }
            }
            untyped.push(ns_per(start.elapsed(), sz.gets));
            let start = Instant::now();
            let mut supported = true;
            for i in 0..sz.gets {
                match t.get_typed(pick(i as u64, rows))? {
                    Some(true) => {}
                    Some(false) => {
                        return Err(BenchError::Unexpected(format!("{name}: a get_as missed")))
                    }
                    None => {
                        supported = false;
                        break;
                    }
                }
            }
            if supported {
                typed.push(ns_per(start.elapsed(), sz.gets));
            }
        }
        let p = [("rows", json!(rows))];
        self.record(
            "get",
            &p,
            format!("point get, {size} rows"),
            name,
            "ns/op",
            untyped,
        );
        if !typed.is_empty() {
            self.record(
                "get_as",
                &p,
                format!("point get typed (get_as), {size} rows"),
                name,
                "ns/op",
                typed,
            );
        }
        self.live_reads(t.as_mut(), name, rows, 0)?;

        // the opens, on the store closed cleanly
        t.close()?;
        let mut opens = Vec::new();
        for _ in 0..sz.reps {
            opens.push(time_open(system, dir.path())?.as_nanos() as f64);
        }
        self.record(
            "open",
            &p,
            format!("open after a clean close, {size} rows"),
            name,
            "ns",
            opens,
        );
        if let (true, Some(exe)) = (system.is_ours(), &cfg.exe) {
            let store = lazarus_path(dir.path());
            let mut walls = Vec::new();
            for i in 0..sz.cli_gets {
                walls.push(cli_get(exe, &store, pick(i as u64, rows))?.as_nanos() as f64);
            }
            self.record(
                "cli_get",
                &p,
                format!("CLI get (a whole lazarus process), {size} rows"),
                name,
                "ns",
                walls,
            );
            let mut crashed = Vec::new();
            for _ in 0..sz.crashes {
                crashed.push(open_after_crash(exe, &store)?.as_nanos() as f64);
            }
            self.record(
                "open_after_crash",
                &p,
                format!("open after a killed writer, {size} rows"),
                name,
                "ns",
                crashed,
            );
        }
        let mut t = systems::open(system, dir.path(), Durable::Eventual)?;
        for pct in [50, 90] {
            delete_where(t.as_mut(), rows, doomed_at(pct))?;
            self.live_reads(t.as_mut(), name, rows, pct)?;
        }
        t.close()
    }

    /// Live scans and child lookups per live row, `pct` % of `rows` children deleted.
    fn live_reads(&mut self, t: &mut dyn Target, name: &str, rows: u64, pct: u64) -> Result<()> {
        let sz = &self.cfg.sizes;
        let live = live_at(rows, pct) as usize;
        let parents = (rows as i64 / FANOUT).max(1) as u64;
        let mut scans = Vec::new();
        let mut lookups = Vec::new();
        for _ in 0..sz.reps {
            let start = Instant::now();
            let n = t.scan()?;
            scans.push(ns_per(start.elapsed(), n));
            if n != live {
                return Err(BenchError::Unexpected(format!(
                    "{name}: a scan at {pct} % deleted read {n} rows, not {live}"
                )));
            }
            let start = Instant::now();
            let mut found = 0;
            for i in 0..sz.lookups {
                found += t.children(pick(i as u64, parents))?;
            }
            lookups.push(ns_per(start.elapsed(), found));
        }
        let size = count_label(rows);
        let p = [("rows", json!(rows)), ("deleted_pct", json!(pct))];
        self.record(
            "live_scan",
            &p,
            format!("live scan, {pct} % deleted, {size} rows"),
            name,
            "ns/row",
            scans,
        );
        self.record(
            "child_lookup",
            &p,
            format!("child lookup by foreign key, {pct} % deleted, {size} rows"),
            name,
            "ns/row",
            lookups,
        );
        Ok(())
    }

    /// Goal 3 on a store of `as_of_rows` children with `versions` versions each: live and as-of
    /// gets, scans and child lookups, as of the middle of the history.
    fn as_of(&mut self, system: &System, versions: u64) -> Result<()> {
        let System::Lazarus { engine, name } = system else {
            return Ok(());
        };
        let cfg = self.cfg;
        let sz = &cfg.sizes;
        let rows = sz.as_of_rows;
        let dir = scratch(cfg)?;
        let mut lz = Lazarus::open(dir.path(), *engine, Durable::Eventual)?;
        build_families(&mut lz, rows)?;
        let middle = (versions - 1) / 2;
        let mut at = lz.db.last_lsn();
        let ids: Vec<i64> = (1..=rows as i64).collect();
        for pass in 1..versions {
            for chunk in ids.chunks(BUILD_TX as usize) {
                lz.update_children(chunk, pass)?;
            }
            if pass == middle {
                at = lz.db.last_lsn();
            }
        }
        let db = &lz.db;
        let parents = (rows as i64 / FANOUT).max(1) as u64;
        let (mut live_get, mut past_get) = (Vec::new(), Vec::new());
        let (mut live_scan, mut past_scan) = (Vec::new(), Vec::new());
        let (mut live_lookup, mut past_lookup) = (Vec::new(), Vec::new());
        for _ in 0..sz.reps {
            let start = Instant::now();
            for i in 0..sz.gets {
                if db.get("child", pick(i as u64, rows))?.is_none() {
                    return Err(BenchError::Unexpected(format!("{name}: a get missed")));
                }
            }
            live_get.push(ns_per(start.elapsed(), sz.gets));
            let start = Instant::now();
            for i in 0..sz.gets {
                if db.as_of(at)?.get("child", pick(i as u64, rows))?.is_none() {
                    return Err(BenchError::Unexpected(format!(
                        "{name}: an as-of get missed"
                    )));
                }
            }
            past_get.push(ns_per(start.elapsed(), sz.gets));

            let start = Instant::now();
            let n = scan_children(db)?;
            live_scan.push(ns_per(start.elapsed(), n));
            let start = Instant::now();
            let n = scan_children(&db.as_of(at)?)?;
            past_scan.push(ns_per(start.elapsed(), n));
            if n as u64 != rows {
                return Err(BenchError::Unexpected(format!(
                    "{name}: an as-of scan read {n} rows, not {rows}"
                )));
            }

            let start = Instant::now();
            let mut found = 0;
            for i in 0..sz.lookups {
                found += children_of(db, pick(i as u64, parents))?;
            }
            live_lookup.push(ns_per(start.elapsed(), found));
            // An as-of lookup may cost far more than a live one: as many as fit the budget,
            // at least one.
            let start = Instant::now();
            let mut found = 0;
            for i in 0..sz.lookups {
                found += children_of(&db.as_of(at)?, pick(i as u64, parents))?;
                if start.elapsed() > sz.as_of_budget() {
                    break;
                }
            }
            past_lookup.push(ns_per(start.elapsed(), found));
        }
        let p = [("versions", json!(versions)), ("rows", json!(rows))];
        let v = format!("{versions} version{}", if versions == 1 { "" } else { "s" });
        let figures = [
            ("as_of_live_get", "live get", "ns/op", live_get),
            ("as_of_get", "as-of get, view opened", "ns/op", past_get),
            ("as_of_live_scan", "live scan", "ns/row", live_scan),
            ("as_of_scan", "as-of scan", "ns/row", past_scan),
            (
                "as_of_live_lookup",
                "live child lookup",
                "ns/row",
                live_lookup,
            ),
            ("as_of_lookup", "as-of child lookup", "ns/row", past_lookup),
        ];
        for (workload, what, unit, reps) in figures {
            self.record(
                workload,
                &p,
                format!("{what}, {v} per row"),
                name,
                unit,
                reps,
            );
        }
        lz.db.close()?;
        Ok(())
    }

    /// Goal 4: cascading deletes and restores of parents with `n` children each, one deletion
    /// (and one restore) per transaction, per row deleted or restored.
    fn cascade(&mut self, system: &System, durable: Durable, n: u64) -> Result<()> {
        let cfg = self.cfg;
        let sz = &cfg.sizes;
        let name = system.name();
        let parents = (sz.cascade_rows / (n + 1)).max(1) as i64;
        let n = n as i64;
        let families = |t: &mut dyn Target| -> Result<()> {
            let per_tx = (BUILD_TX / n).max(1);
            let mut p = 1;
            while p <= parents {
                let last = (p + per_tx - 1).min(parents);
                let ps: Vec<i64> = (p..=last).collect();
                let cs: Vec<(i64, i64)> = ps
                    .iter()
                    .flat_map(|&q| ((q - 1) * n + 1..=q * n).map(move |c| (c, q)))
                    .collect();
                t.insert(&ps, &cs)?;
                p = last + 1;
            }
            Ok(())
        };
        let dir = scratch(cfg)?;
        let mut t = systems::open(system, dir.path(), durable)?;
        families(t.as_mut())?;
        let rows = (parents * (n + 1)) as usize;
        let (mut deletes, mut restores) = (Vec::new(), Vec::new());
        for _ in 0..sz.reps {
            let start = Instant::now();
            let mut handles = Vec::with_capacity(parents as usize);
            for p in 1..=parents {
                handles.push(t.delete_parent(p)?);
            }
            deletes.push(ns_per(start.elapsed(), rows));
            let start = Instant::now();
            let mut restored = true;
            for (p, h) in (1..=parents).zip(handles) {
                if !t.restore(p, h)? {
                    restored = false;
                    break;
                }
            }
            if restored {
                restores.push(ns_per(start.elapsed(), rows));
            } else {
                families(t.as_mut())?;
            }
        }
        t.close()?;
        let p = [
            ("children", json!(n)),
            ("durability", json!(durable.name())),
        ];
        self.record(
            &format!("cascade_delete_{}", durable.name()),
            &p,
            format!("cascade delete, {n} children, {}", durable.name()),
            name,
            "ns/row",
            deletes,
        );
        if !restores.is_empty() {
            self.record(
                &format!("restore_{}", durable.name()),
                &p,
                format!("restore, {n} children, {}", durable.name()),
                name,
                "ns/row",
                restores,
            );
        }
        Ok(())
    }

    /// Goals 5 and 7: the ingest rate of `ingest_rows` rows in durable transactions of 100
    /// parents and 900 children; with `size`, the disk bytes per row after a compaction.
    fn ingest(&mut self, system: &System, size: bool) -> Result<(f64, Option<f64>)> {
        let rows = self.cfg.sizes.ingest_rows as i64;
        let dir = scratch(self.cfg)?;
        let mut t = systems::open(system, dir.path(), Durable::Immediate)?;
        let start = Instant::now();
        for tx in 0..rows / 1_000 {
            let base = tx * 100;
            let parents: Vec<i64> = (base + 1..=base + 100).collect();
            let children: Vec<(i64, i64)> = (0..900)
                .map(|i| (tx * 900 + i + 1, base + 1 + i % 100))
                .collect();
            t.insert(&parents, &children)?;
        }
        let rate = per_second(rows as usize, start.elapsed());
        if !size {
            t.close()?;
            return Ok((rate, None));
        }
        t.compact_and_close()?;
        let bytes = allocated_bytes(dir.path())?;
        Ok((rate, Some(bytes as f64 / rows as f64)))
    }

    /// Goal 8: durable single-row commits from 1 and from many writers, beside the disk's own
    /// rate of append + fdatasync in the same folder, in interleaved repetitions.
    fn commits(&mut self, systems: &[System]) -> Result<()> {
        let cfg = self.cfg;
        let sz = &cfg.sizes;
        let mut raw = Vec::new();
        let mut one: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut many: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for _ in 0..sz.build_reps.max(1) {
            self.tick("durable commits: the disk's fdatasync".into());
            let dir = scratch(cfg)?;
            raw.push(fdatasync_rate(dir.path(), sz.commits)?);
            for s in systems {
                self.tick(format!("durable commits: {}", s.name()));
                let dir = scratch(cfg)?;
                let c = Arc::new(committer(s, dir.path())?);
                let start = Instant::now();
                for _ in 0..sz.commits {
                    c.commit()?;
                }
                one.entry(s.name().to_string())
                    .or_default()
                    .push(per_second(sz.commits, start.elapsed()));
                let total = sz.writers * sz.per_writer;
                let took = concurrent(&c, sz.writers, total)?;
                many.entry(s.name().to_string())
                    .or_default()
                    .push(per_second(total, took));
            }
        }
        self.record(
            "fdatasync",
            &[],
            "the disk: append + fdatasync, same folder".into(),
            crate::DISK,
            "syncs/s",
            raw,
        );
        for s in systems {
            for (writers, by) in [(1, &mut one), (sz.writers, &mut many)] {
                let Some(reps) = by.remove(s.name()) else {
                    continue;
                };
                self.record(
                    "commits",
                    &[("writers", json!(writers))],
                    format!(
                        "durable commits, {writers} writer{}",
                        if writers == 1 { "" } else { "s" }
                    ),
                    s.name(),
                    "commits/s",
                    reps,
                );
            }
        }
        Ok(())
    }
}

/// The median of sorted values (the mean of the middle two for an even count).
pub fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => sorted.get(n / 2).copied().unwrap_or_default(),
        _ => {
            let a = sorted.get(n / 2 - 1).copied().unwrap_or_default();
            let b = sorted.get(n / 2).copied().unwrap_or_default();
            (a + b) / 2.0
        }
    }
}

/// `total` commits from `writers` threads taking them from one shared count (so they all stop
/// together); the wall time.
fn concurrent(c: &Arc<systems::Committer>, writers: usize, total: usize) -> Result<Duration> {
    let left = Arc::new(AtomicUsize::new(total));
    let go = Arc::new(Barrier::new(writers + 1));
    let handles: Vec<_> = (0..writers)
        .map(|_| {
            let (c, left, go) = (c.clone(), left.clone(), go.clone());
            std::thread::spawn(move || -> Result<()> {
                go.wait();
                while left
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                    .is_ok()
                {
                    c.commit()?;
                }
                Ok(())
            })
        })
        .collect();
    go.wait();
    let start = Instant::now();
    let mut first_error = None;
    for h in handles {
        let outcome = h
            .join()
            .unwrap_or_else(|_| Err(BenchError::Unexpected("a writer thread panicked".into())));
        if let (Err(e), None) = (outcome, &first_error) {
            first_error = Some(e);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(start.elapsed()),
    }
}

/// The disk's rate: append a small record to a file and fdatasync it, `n` times.
fn fdatasync_rate(dir: &Path, n: usize) -> Result<f64> {
    let path = dir.join("raw");
    let mut f = std::fs::File::create(&path).map_err(io(&path))?;
    let start = Instant::now();
    for _ in 0..n {
        f.write_all(b"a small durable event\n").map_err(io(&path))?;
        f.sync_data().map_err(io(&path))?;
    }
    Ok(per_second(n, start.elapsed()))
}

/// Bytes allocated on disk by every file under `dir`.
pub fn allocated_bytes(dir: &Path) -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).map_err(io(&path))?;
        total += if meta.is_dir() {
            allocated_bytes(&path)?
        } else {
            meta.blocks() * 512
        };
    }
    Ok(total)
}

/// The wall time of `lazarus --db STORE get child ID`, a whole process.
fn cli_get(exe: &Path, store: &Path, id: i64) -> Result<Duration> {
    let start = Instant::now();
    let status = Command::new(exe)
        .arg("--db")
        .arg(store)
        .args(["get", "child", &id.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(io(exe))?;
    let took = start.elapsed();
    if !status.success() {
        return Err(BenchError::Child(format!(
            "`lazarus get child {id}` on {} exited with {status}",
            store.display()
        )));
    }
    Ok(took)
}

/// What the crash writer prints once it has written enough to be worth killing.
pub const WRITING: &str = "writing";

/// Starts `lazarus bench --crash-writer STORE`, kills it (SIGKILL) while it writes, and times
/// the open of what it left; the store is then closed cleanly.
fn open_after_crash(exe: &Path, store: &Path) -> Result<Duration> {
    let mut child = Command::new(exe)
        .args(["bench", "--crash-writer"])
        .arg(store)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(io(exe))?;
    let said = match child.stdout.take() {
        Some(out) => {
            let mut line = String::new();
            BufReader::new(out).read_line(&mut line).map_err(io(exe))?;
            line
        }
        None => String::new(),
    };
    if said.trim() != WRITING {
        let _ = child.kill();
        let status = child.wait().map_err(io(exe))?;
        return Err(BenchError::Child(format!(
            "the crash writer on {} stopped before writing ({status})",
            store.display()
        )));
    }
    std::thread::sleep(Duration::from_millis(200));
    child.kill().map_err(io(exe))?;
    child.wait().map_err(io(exe))?;
    let start = Instant::now();
    let db = Db::open(store)?;
    let took = start.elapsed();
    db.close()?;
    Ok(took)
}
