//! The performance goals and their verdicts, judged from the figures of one run. Only
//! `lazarusdb` (the library on its default engine) is judged; our second engine and the
//! competitors are there to compare with.

use serde::Serialize;
use serde_json::{json, Value};

use crate::systems::LAZARUSDB;
use crate::workloads::{count_label, DELETED};
use crate::{Measurement, DISK};

/// SQLite with an `is_deleted` flag and partial indexes.
const SOFT: &str = "sqlite-soft-delete";
/// SQLite with shadow tables.
const SHADOW: &str = "sqlite-shadow";

/// The rows of the full ingest run, on which goal 5 is judged.
pub const FULL_INGEST_ROWS: u64 = 200_000;
/// The store size of goal 6.
pub const FULL_OPEN_ROWS: u64 = 1_000_000;
/// How much more a figure may cost after deletions or with more versions and still be "flat".
pub const FLAT: f64 = 1.25;

/// The goals, in order: what each asks.
pub const GOALS: [&str; 8] = [
    "Live scan and child lookup by foreign key, per live row, ≤ 1.0× SQLite is_deleted with a partial index at 0, 50 and 90 % deleted, without a manual compact; at 90 % ≤ 1.25× our own 0 %",
    "Point get ≤ 1.0× SQLite is_deleted, untyped (get) and typed (get_as, serde)",
    "As-of get (view opened) ≤ 2× a live get; as-of scan and as-of child lookup per matching row ≤ 3× the live figure, flat in versions per row (100 versions ≤ 1.25× 1 version)",
    "Cascade delete and restore per row ≥ 2× as fast as SQLite shadow tables with eventual durability (ours Eventual, SQLite WAL synchronous=NORMAL) and ≥ 1.0× with immediate durability (ours Immediate, SQLite WAL synchronous=FULL), at 10, 100 and 1,000 children",
    "Ingest ≥ 1.0× SQLite is_deleted over 200,000 rows in durable 1,000-row transactions",
    "Open a 1,000,000-row store after a clean close ≤ 50 ms; a CLI get on it ≤ 30 ms wall; the open after a crash (a killed writer) reported",
    "Disk bytes per row after compact ≤ 2× SQLite is_deleted (after VACUUM) on the ingest workload",
    "Durable commits: 1 writer ≥ 0.8× the disk's raw append + fdatasync rate; 16 writers ≥ 4× 1 writer",
];

/// One measured comparison of a goal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// What is compared.
    pub what: String,
    /// The measured value: a ratio (`×`) or a time in milliseconds (`ms`).
    pub value: f64,
    /// `×` or `ms`.
    pub unit: String,
    /// The bound: `≤ 1.0×`, `≥ 2×`, `≤ 50 ms`; empty when only reported.
    pub bound: String,
    /// Whether the bound holds; `None` when only reported.
    pub met: Option<bool>,
}

/// A goal's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// 1 to 8.
    pub goal: usize,
    /// What the goal asks.
    pub text: String,
    /// Every comparison measured.
    pub checks: Vec<Check>,
    /// Met when every judged comparison is; `None` when nothing could be judged.
    pub met: Option<bool>,
    /// What limits the verdict (a quick run's smaller sizes, a figure not measured).
    pub notes: Vec<String>,
}

/// The figure of `system` for `workload` with these parameters.
pub fn find<'a>(
    ms: &'a [Measurement],
    workload: &str,
    system: &str,
    params: &[(&str, Value)],
) -> Option<&'a Measurement> {
    ms.iter().find(|m| {
        m.workload == workload
            && m.system == system
            && params.iter().all(|(k, v)| m.params.get(*k) == Some(v))
    })
}

/// The distinct values of parameter `key` among the figures of `workload`, ascending.
pub fn values_of(ms: &[Measurement], workload: &str, key: &str) -> Vec<u64> {
    let mut out: Vec<u64> = ms
        .iter()
        .filter(|m| m.workload == workload)
        .filter_map(|m| m.params.get(key).and_then(Value::as_u64))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

struct Judge<'a> {
    ms: &'a [Measurement],
    checks: Vec<Check>,
    notes: Vec<String>,
}

impl<'a> Judge<'a> {
    fn new(ms: &'a [Measurement]) -> Judge<'a> {
        Judge {
            ms,
            checks: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn value(&self, workload: &str, system: &str, params: &[(&str, Value)]) -> Option<f64> {
        find(self.ms, workload, system, params)
            .map(|m| m.value)
            .filter(|v| *v > 0.0)
    }

    /// `a / b` checked against `bound` (`at_most`: ≤, else ≥).
    fn ratio(&mut self, what: String, a: Option<f64>, b: Option<f64>, bound: f64, at_most: bool) {
        let (Some(a), Some(b)) = (a, b) else {
            self.notes.push(format!("{what}: not measured"));
            return;
        };
        let value = a / b;
        self.checks.push(Check {
            what,
            value,
            unit: "×".into(),
            bound: format!("{} {}×", if at_most { "≤" } else { "≥" }, trim(bound)),
            met: Some(if at_most {
                value <= bound
            } else {
                value >= bound
            }),
        });
    }

    /// A time (ns) checked against at most `bound_ms`, or only reported.
    fn time(&mut self, what: String, ns: Option<f64>, bound_ms: Option<f64>) {
        let Some(ns) = ns else {
            self.notes.push(format!("{what}: not measured"));
            return;
        };
        let value = ns / 1e6;
        self.checks.push(Check {
            what,
            value,
            unit: "ms".into(),
            bound: bound_ms
                .map(|b| format!("≤ {} ms", trim(b)))
                .unwrap_or_default(),
            met: bound_ms.map(|b| value <= b),
        });
    }

    fn verdict(self, goal: usize) -> Verdict {
        let judged: Vec<bool> = self.checks.iter().filter_map(|c| c.met).collect();
        Verdict {
            goal,
            text: GOALS.get(goal - 1).copied().unwrap_or_default().to_string(),
            met: (!judged.is_empty()).then(|| judged.iter().all(|m| *m)),
            checks: self.checks,
            notes: self.notes,
        }
    }
}

/// `1`, `0.8`, `1.25`.
fn trim(x: f64) -> String {
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// Every goal's verdict from the figures of a run.
pub fn judge(ms: &[Measurement]) -> Vec<Verdict> {
    let us = LAZARUSDB;
    let mut out = Vec::new();

    // 1. live reads after deletions
    let mut j = Judge::new(ms);
    for rows in values_of(ms, "live_scan", "rows") {
        for (workload, what) in [("live_scan", "scan"), ("child_lookup", "lookup")] {
            for pct in DELETED {
                let p = [("rows", json!(rows)), ("deleted_pct", json!(pct))];
                j.ratio(
                    format!("{what} {} {pct} % ÷ SQLite", count_label(rows)),
                    j.value(workload, us, &p),
                    j.value(workload, SOFT, &p),
                    1.0,
                    true,
                );
            }
            let at = |pct: u64| [("rows", json!(rows)), ("deleted_pct", json!(pct))];
            j.ratio(
                format!("{what} {} 90 % ÷ our 0 %", count_label(rows)),
                j.value(workload, us, &at(90)),
                j.value(workload, us, &at(0)),
                FLAT,
                true,
            );
            if let (Some(a), Some(b)) = (
                j.value(workload, SOFT, &at(90)),
                j.value(workload, SOFT, &at(0)),
            ) {
                j.notes.push(format!(
                    "for comparison, SQLite's own {what} {} 90 % ÷ 0 %: {:.2}×",
                    count_label(rows),
                    a / b
                ));
            }
        }
    }
    out.push(j.verdict(1));

    // 2. point gets
    let mut j = Judge::new(ms);
    for rows in values_of(ms, "get", "rows") {
        let p = [("rows", json!(rows))];
        for (workload, what) in [("get", "get"), ("get_as", "get_as")] {
            j.ratio(
                format!("{what} {} ÷ SQLite", count_label(rows)),
                j.value(workload, us, &p),
                j.value(workload, SOFT, &p),
                1.0,
                true,
            );
        }
    }
    out.push(j.verdict(2));

    // 3. as-of reads
    let mut j = Judge::new(ms);
    let versions = values_of(ms, "as_of_get", "versions");
    for &v in &versions {
        let p = [("versions", json!(v))];
        for (past, live, what, bound) in [
            ("as_of_get", "as_of_live_get", "get", 2.0),
            ("as_of_scan", "as_of_live_scan", "scan", 3.0),
            ("as_of_lookup", "as_of_live_lookup", "lookup", 3.0),
        ] {
            j.ratio(
                format!("{what} {v} v ÷ live"),
                j.value(past, us, &p),
                j.value(live, us, &p),
                bound,
                true,
            );
        }
    }
    if let (Some(&first), Some(&last)) = (versions.first(), versions.last()) {
        if last > first {
            for (past, what) in [("as_of_scan", "scan"), ("as_of_lookup", "lookup")] {
                j.ratio(
                    format!("as-of {what} {last} v ÷ {first} v"),
                    j.value(past, us, &[("versions", json!(last))]),
                    j.value(past, us, &[("versions", json!(first))]),
                    FLAT,
                    true,
                );
            }
        }
    }
    out.push(j.verdict(3));

    // 4. cascade delete and restore, as a speed-up over shadow tables (their time ÷ ours)
    let mut j = Judge::new(ms);
    for (durability, bound) in [("eventual", 2.0), ("immediate", 1.0)] {
        let delete = format!("cascade_delete_{durability}");
        for n in values_of(ms, &delete, "children") {
            let p = [("children", json!(n))];
            for (workload, what) in [
                (delete.clone(), "delete"),
                (format!("restore_{durability}"), "restore"),
            ] {
                j.ratio(
                    format!("{what} {n} {durability}: shadow ÷ ours"),
                    j.value(&workload, SHADOW, &p),
                    j.value(&workload, us, &p),
                    bound,
                    false,
                );
            }
        }
    }
    out.push(j.verdict(4));

    // 5. ingest
    let mut j = Judge::new(ms);
    for rows in values_of(ms, "ingest", "rows") {
        let p = [("rows", json!(rows))];
        j.ratio(
            format!("ingest {} ÷ SQLite", count_label(rows)),
            j.value("ingest", us, &p),
            j.value("ingest", SOFT, &p),
            1.0,
            false,
        );
        if rows < FULL_INGEST_ROWS {
            j.notes.push(format!(
                "quick run: {} rows; the goal is judged on the full 200,000-row run",
                count_label(rows)
            ));
        }
    }
    out.push(j.verdict(5));

    // 6. open
    let mut j = Judge::new(ms);
    if let Some(&rows) = values_of(ms, "open", "rows").last() {
        let p = [("rows", json!(rows))];
        let size = count_label(rows);
        j.time(format!("open {size}"), j.value("open", us, &p), Some(50.0));
        j.time(
            format!("CLI get {size}"),
            j.value("cli_get", us, &p),
            Some(30.0),
        );
        j.time(
            format!("open after a crash {size}"),
            j.value("open_after_crash", us, &p),
            None,
        );
        if rows < FULL_OPEN_ROWS {
            j.notes.push(format!(
                "quick run: a {size}-row store; the goal is for 1,000,000 rows"
            ));
        }
    }
    out.push(j.verdict(6));

    // 7. disk bytes per row
    let mut j = Judge::new(ms);
    for rows in values_of(ms, "disk_bytes", "rows") {
        let p = [("rows", json!(rows))];
        j.ratio(
            format!("bytes/row {} ÷ SQLite", count_label(rows)),
            j.value("disk_bytes", us, &p),
            j.value("disk_bytes", SOFT, &p),
            2.0,
            true,
        );
    }
    out.push(j.verdict(7));

    // 8. durable commits
    let mut j = Judge::new(ms);
    let one = j.value("commits", us, &[("writers", json!(1))]);
    j.ratio(
        "1 writer ÷ fdatasync".into(),
        one,
        j.value("fdatasync", DISK, &[]),
        0.8,
        false,
    );
    if let Some(&many) = values_of(ms, "commits", "writers").last() {
        if many > 1 {
            j.ratio(
                format!("{many} writers ÷ 1 writer"),
                j.value("commits", us, &[("writers", json!(many))]),
                one,
                4.0,
                false,
            );
        }
    }
    out.push(j.verdict(8));
    out
}

/// `met`, `NOT met` or `not measured`.
pub fn verdict_word(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "not measured",
    }
}

/// The checks of a verdict in one line: `scan 10k 0 % ÷ SQLite 3.10× (≤ 1×) ✗; ...`.
pub fn checks_line(v: &Verdict) -> String {
    let mut parts: Vec<String> = v
        .checks
        .iter()
        .map(|c| {
            let mark = match c.met {
                Some(true) => " ok",
                Some(false) => " NO",
                None => "",
            };
            if c.unit == "ms" {
                format!("{} {:.1} ms{mark}", c.what, c.value)
            } else {
                format!("{} {:.2}×{mark}", c.what, c.value)
            }
        })
        .collect();
    parts.extend(v.notes.iter().cloned());
    parts.join("; ")
}
