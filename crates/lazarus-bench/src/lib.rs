//! The comparison harness behind `lazarus bench`, and what the criterion benches share with it.
//!
//! One run measures each of lazarusdb's performance goals ([`goals::GOALS`]) beside the same
//! systems ([`systems::systems`]): lazarusdb on its default engine, our second engine(s), and
//! what users would pick instead: SQLite with an `is_deleted` flag and partial indexes, SQLite
//! with `_deleted` shadow tables, and raw fjall, raw sled and raw redb doing the equivalent key
//! writes (hard deletes: nothing to restore). A workload a system cannot do is left out (shown
//! as `–`), never faked.
//!
//! Each figure keeps every repetition and reports the median. Units say which way is better:
//! `rows/s`, `commits/s`, `syncs/s` (higher), `ns/row`, `ns/op`, `ns`, `bytes/row` (lower).
//!
//! The output: [`table`] (the terminal table and the goal lines), [`report::document`]
//! (`results.json`), [`plot::png`] and [`plot::svg`], and [`report::markdown`] with
//! [`report::rewrite_docs`] (the block at the top of `docs/benchmarks.md`).

mod crash;
mod error;
mod font;
pub mod goals;
pub mod plot;
pub mod report;
pub mod systems;
pub mod workloads;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crash::write_until_killed;
pub use error::{BenchError, Result};
pub use report::table;

/// A temporary folder for a bench's stores under `LAZARUS_BENCH_DIR` (default the workspace's
/// `target/`: on the disk rather than a possible tmpfs `/tmp`), removed when dropped.
pub fn bench_tempdir() -> std::io::Result<tempfile::TempDir> {
    let base = std::env::var_os("LAZARUS_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    std::fs::create_dir_all(&base)?;
    tempfile::Builder::new().prefix("bench-").tempdir_in(base)
}

/// The name of the disk's own figure (append + fdatasync), beside the systems.
pub const DISK: &str = "disk";

/// One figure: a workload with its parameters on one system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// What was measured, the same for every system and size: `live_scan`, `ingest`, ...
    pub workload: String,
    /// The workload's parameters: `rows`, `deleted_pct`, `versions`, `children`, `durability`,
    /// `writers`.
    pub params: BTreeMap<String, serde_json::Value>,
    /// The row of the table it belongs to: `live scan, 50 % deleted, 10k rows`.
    pub label: String,
    /// The system (see [`systems::systems`]), or [`DISK`].
    pub system: String,
    /// The unit: `rows/s`, `commits/s` and `syncs/s` are better higher, `ns/...`, `ns` and
    /// `bytes/row` lower.
    pub unit: String,
    /// The median of the repetitions.
    pub value: f64,
    /// Every repetition, in the order measured.
    pub reps: Vec<f64>,
}

impl Measurement {
    /// True when a higher value is better.
    pub fn higher_is_better(&self) -> bool {
        report::higher_is_better(&self.unit)
    }
}

/// The sizes of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Sizes {
    /// Children in the stores of the live reads, point gets and opens (goals 1, 2, 6), 100 per
    /// parent.
    pub rows: Vec<u64>,
    /// Point gets per repetition.
    pub gets: usize,
    /// Child lookups per repetition.
    pub lookups: usize,
    /// Children in the as-of stores (goal 3), 100 per parent.
    pub as_of_rows: u64,
    /// Versions per row in the as-of stores.
    pub versions: Vec<u64>,
    /// The longest an as-of lookup repetition goes on, in milliseconds (at least one lookup).
    pub as_of_budget_ms: u64,
    /// Children per parent in the cascades (goal 4).
    pub children: Vec<u64>,
    /// Rows (parents and children) deleted and restored per repetition of a cascade.
    pub cascade_rows: u64,
    /// Rows ingested (goals 5 and 7), in transactions of 100 parents and 900 children.
    pub ingest_rows: u64,
    /// Durable commits of one writer, and appends + fdatasyncs of the disk (goal 8).
    pub commits: usize,
    /// Writer threads of the concurrent commits.
    pub writers: usize,
    /// Commits per writer thread of the concurrent commits.
    pub per_writer: usize,
    /// CLI gets timed per store.
    pub cli_gets: usize,
    /// Crashes (killed writers) timed per store.
    pub crashes: usize,
    /// Repetitions on one store (reads, cascades, opens).
    pub reps: usize,
    /// Repetitions each on a fresh store (ingest, commits).
    pub build_reps: usize,
}

impl Sizes {
    /// About a minute on 2 cores.
    pub fn quick() -> Sizes {
        Sizes {
            rows: vec![10_000],
            gets: 5_000,
            lookups: 100,
            as_of_rows: 1_000,
            versions: vec![1, 10, 100],
            as_of_budget_ms: 300,
            children: vec![10, 100, 1_000],
            cascade_rows: 1_100,
            ingest_rows: 20_000,
            commits: 200,
            writers: 16,
            per_writer: 25,
            cli_gets: 3,
            crashes: 1,
            reps: 3,
            build_reps: 1,
        }
    }

    /// The full run: the sizes the goals are stated for.
    pub fn full() -> Sizes {
        Sizes {
            rows: vec![10_000, 100_000, 1_000_000],
            gets: 20_000,
            lookups: 300,
            as_of_rows: 10_000,
            versions: vec![1, 10, 100],
            as_of_budget_ms: 2_000,
            children: vec![10, 100, 1_000],
            cascade_rows: 5_000,
            ingest_rows: 200_000,
            commits: 1_000,
            writers: 16,
            per_writer: 250,
            cli_gets: 5,
            crashes: 3,
            reps: 3,
            build_reps: 3,
        }
    }

    /// The as-of lookup budget.
    pub fn as_of_budget(&self) -> Duration {
        Duration::from_millis(self.as_of_budget_ms)
    }
}

/// How to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// A quick run ([`Sizes::quick`]).
    pub quick: bool,
    /// The sizes.
    pub sizes: Sizes,
    /// The `lazarus` binary, for the CLI get and the killed writer (without it those are not
    /// measured).
    pub exe: Option<PathBuf>,
    /// Where the stores are made: `LAZARUS_BENCH_DIR`, else the system's temporary folder. It
    /// should be on the disk the figures are about, not a memory file system.
    pub scratch: PathBuf,
    /// Only these groups of workloads (`LAZARUS_BENCH_ONLY`, names separated by commas: `reads`,
    /// `as-of`, `cascade`, `ingest`, `commits`); every group when `None`. For experiments: a
    /// partial run says nothing of the goals it leaves out.
    pub only: Option<Vec<String>>,
    /// Only the systems whose names contain one of these (`LAZARUS_BENCH_SYSTEMS`, separated by
    /// commas, e.g. `lazarusdb,sqlite`); every system when `None`.
    pub systems: Option<Vec<String>>,
}

impl Config {
    /// A quick or a full run, stores in the default place, no binary.
    /// `LAZARUS_BENCH_ROWS` (sizes separated by commas) replaces the sizes of the live reads.
    pub fn new(quick: bool) -> Config {
        let mut sizes = if quick { Sizes::quick() } else { Sizes::full() };
        if let Some(rows) = std::env::var("LAZARUS_BENCH_ROWS").ok().and_then(|v| {
            v.split(',')
                .map(|n| n.trim().replace('_', "").parse::<u64>().ok())
                .collect::<Option<Vec<u64>>>()
        }) {
            sizes.rows = rows.into_iter().filter(|r| *r >= 100).collect();
        }
        Config {
            quick,
            sizes,
            exe: None,
            scratch: std::env::var_os("LAZARUS_BENCH_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir),
            only: list_var("LAZARUS_BENCH_ONLY"),
            systems: list_var("LAZARUS_BENCH_SYSTEMS"),
        }
    }

    /// Whether the group of workloads `group` is to be run.
    pub fn runs(&self, group: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|g| g == group))
    }

    /// Whether the system named `name` is to be measured.
    pub fn measures(&self, name: &str) -> bool {
        self.systems
            .as_ref()
            .is_none_or(|some| some.iter().any(|s| name.contains(s.as_str())))
    }
}

/// The names in an environment variable, separated by commas; `None` when unset or empty.
fn list_var(name: &str) -> Option<Vec<String>> {
    let v = std::env::var(name).ok()?;
    let names: Vec<String> = v
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    (!names.is_empty()).then_some(names)
}

/// How far a run is.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Steps done, this one included.
    pub step: u64,
    /// Steps in all.
    pub total: u64,
    /// What this step measures.
    pub what: String,
}

/// Runs every workload on every system; `progress` hears of each step as it starts.
pub fn run(cfg: &Config, progress: &mut dyn FnMut(Progress)) -> Result<Vec<Measurement>> {
    let mut run = workloads::Run::new(cfg, progress);
    run.all()?;
    Ok(run.figures)
}
