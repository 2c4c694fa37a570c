//! The results as a person reads them: the terminal table with the goal lines, the Markdown
//! block of `docs/benchmarks.md`, and `results.json`.

use std::path::Path;

use serde_json::{json, Value};

use crate::error::{io, BenchError, Result};
use crate::goals::{self, checks_line, verdict_word, Verdict};
use crate::systems::{system_names, LAZARUSDB};
use crate::{Config, Measurement, DISK};

/// A figure with its unit, short: `812 ns`, `1.52 µs`, `3.10 ms`, `38.9k/s`, `412 B`. `ascii`
/// writes `us` for `µs`.
pub fn format_value(value: f64, unit: &str, ascii: bool) -> String {
    if unit.starts_with("ns") {
        let (v, u) = if value < 1e3 {
            (value, "ns")
        } else if value < 1e6 {
            (value / 1e3, if ascii { "us" } else { "µs" })
        } else if value < 1e9 {
            (value / 1e6, "ms")
        } else {
            (value / 1e9, "s")
        };
        format!("{} {u}", three_digits(v))
    } else if unit.ends_with("/s") {
        let (v, u) = if value < 1e3 {
            (value, "")
        } else if value < 1e6 {
            (value / 1e3, "k")
        } else {
            (value / 1e6, "M")
        };
        format!("{}{u}/s", three_digits(v))
    } else if unit.starts_with("bytes") {
        format!("{value:.0} B")
    } else {
        format!("{} {unit}", three_digits(value))
    }
}

/// Three significant digits (no fewer than the integer part): 812, 81.2, 8.12.
pub fn three_digits(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// True when a higher value of `unit` is better.
pub fn higher_is_better(unit: &str) -> bool {
    unit.ends_with("/s")
}

/// What one row of the table measures per figure: `per live row`, `per get`, ...
fn per(unit: &str) -> &'static str {
    match unit {
        "ns/row" => "time per row",
        "ns/op" => "time per read",
        "ns" => "time",
        "bytes/row" => "bytes per row",
        u if u.ends_with("/s") => "per second",
        _ => "",
    }
}

/// lazarusdb's advantage over `m`: how many times better lazarusdb is on the same figure
/// (above 1: lazarusdb is better).
pub fn advantage(ms: &[Measurement], m: &Measurement) -> Option<f64> {
    let base = ms
        .iter()
        .find(|x| x.label == m.label && x.system == LAZARUSDB)?;
    if m.value <= 0.0 || base.value <= 0.0 {
        return None;
    }
    Some(if higher_is_better(&m.unit) {
        base.value / m.value
    } else {
        m.value / base.value
    })
}

/// The rows of the table: each label once, in the order first measured, with its unit.
pub fn rows(ms: &[Measurement]) -> Vec<(&str, &str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for m in ms.iter().filter(|m| m.system != DISK) {
        if !out.iter().any(|(l, _)| *l == m.label) {
            out.push((&m.label, &m.unit));
        }
    }
    out
}

/// The systems of the table's columns: every system in report order.
fn columns() -> Vec<String> {
    system_names()
}

/// The terminal table: one row per workload (and size), one column per system (lazarusdb
/// first, then our second engine(s), then the competitors), each figure the median of its
/// repetitions and, in brackets, lazarusdb's advantage over that system; then the disk's own
/// fdatasync rate, then one line per goal with its measured ratios and verdict.
pub fn table(ms: &[Measurement]) -> String {
    let systems = columns();
    let rows = rows(ms);
    let label_w = rows
        .iter()
        .map(|(l, u)| l.chars().count() + per(u).len() + 3)
        .max()
        .unwrap_or(10)
        .max("workload".len());
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|(label, _)| {
            systems
                .iter()
                .map(
                    |s| match ms.iter().find(|m| m.label == *label && m.system == *s) {
                        Some(m) => match advantage(ms, m) {
                            Some(a) if s != LAZARUSDB => {
                                format!("{} [{a:.2}x]", format_value(m.value, &m.unit, false))
                            }
                            _ => format_value(m.value, &m.unit, false),
                        },
                        None => "–".to_string(),
                    },
                )
                .collect()
        })
        .collect();
    let widths: Vec<usize> = systems
        .iter()
        .enumerate()
        .map(|(i, s)| {
            cells
                .iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .chain([s.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = pad("workload", label_w);
    for (s, w) in systems.iter().zip(&widths) {
        out.push_str("  ");
        out.push_str(&pad_left(s, *w));
    }
    out.push('\n');
    for ((label, unit), row) in rows.iter().zip(&cells) {
        out.push_str(&pad(&format!("{label} ({})", per(unit)), label_w));
        for (c, w) in row.iter().zip(&widths) {
            out.push_str("  ");
            out.push_str(&pad_left(c, *w));
        }
        out.push('\n');
    }
    if let Some(d) = ms.iter().find(|m| m.system == DISK) {
        out.push_str(&format!(
            "\n{}: {} (median of {})\n",
            d.label,
            format_value(d.value, &d.unit, false),
            d.reps.len()
        ));
    }
    out.push('\n');
    for v in goals::judge(ms) {
        out.push_str(&goal_line(&v));
        out.push('\n');
    }
    out
}

/// One goal's line: `goal N: text: checks: met|NOT met`.
pub fn goal_line(v: &Verdict) -> String {
    format!(
        "goal {}: {} — {} — {}",
        v.goal,
        v.text,
        checks_line(v),
        verdict_word(v.met)
    )
}

fn pad(s: &str, w: usize) -> String {
    let n = s.chars().count();
    format!("{s}{}", " ".repeat(w.saturating_sub(n)))
}

fn pad_left(s: &str, w: usize) -> String {
    let n = s.chars().count();
    format!("{}{s}", " ".repeat(w.saturating_sub(n)))
}

/// What a run was made on and when.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunInfo {
    /// The end of the run, UTC, RFC 3339.
    pub date: String,
    /// `git rev-parse HEAD`, or `unknown`.
    pub commit: String,
    /// Cores, memory, OS.
    pub machine: Value,
    /// A quick run (smaller sizes).
    pub quick: bool,
    /// The sizes of the run.
    pub sizes: Value,
    /// Where the stores were made.
    pub scratch: String,
    /// How long the run took, in seconds.
    #[serde(default)]
    pub seconds: f64,
    /// How long each step took: what it measured, seconds.
    #[serde(default)]
    pub steps: Vec<(String, f64)>,
}

impl RunInfo {
    /// The facts of a run made with `cfg`, as they are now.
    pub fn collect(cfg: &Config) -> RunInfo {
        let commit = std::process::Command::new("git")
            .args(["rev-parse", "HEAD"])
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".to_string());
        RunInfo {
            date: lazarusdb::Timestamp::now().to_rfc3339(),
            commit,
            machine: machine(),
            quick: cfg.quick,
            sizes: serde_json::to_value(&cfg.sizes).unwrap_or(Value::Null),
            scratch: cfg.scratch.display().to_string(),
            seconds: 0.0,
            steps: Vec::new(),
        }
    }
}

/// Cores, memory (from /proc/meminfo), OS (from /etc/os-release and the kernel release).
fn machine() -> Value {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib = |key: &str| {
        meminfo
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let pretty = os_release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .ok();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string());
    json!({
        "cores": cores,
        "cpu": cpu,
        "memory_bytes": kib("MemTotal:").map(|k| k * 1024),
        "memory_available_bytes": kib("MemAvailable:").map(|k| k * 1024),
        "os": format!(
            "{} ({}, kernel {})",
            pretty.unwrap_or_else(|| std::env::consts::OS.to_string()),
            std::env::consts::ARCH,
            kernel.unwrap_or_else(|| "unknown".into())
        ),
        "load_average": std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next().map(str::to_string)),
    })
}

/// `results.json`: the run's facts, every figure (unit, every repetition, median) and the goal
/// verdicts.
pub fn document(ms: &[Measurement], info: &RunInfo) -> Value {
    json!({
        "date": info.date,
        "commit": info.commit,
        "machine": info.machine,
        "quick": info.quick,
        "sizes": info.sizes,
        "scratch": info.scratch,
        "seconds": info.seconds,
        "steps": info.steps,
        "systems": system_names(),
        "figures": ms.iter().map(|m| json!({
            "workload": m.workload,
            "params": m.params,
            "label": m.label,
            "system": m.system,
            "unit": m.unit,
            "reps": m.reps,
            "median": m.value,
        })).collect::<Vec<_>>(),
        "goals": goals::judge(ms),
    })
}

/// The figures and facts of a `results.json` written by [`document`], to render again.
pub fn read_document(text: &str) -> Result<(Vec<Measurement>, RunInfo)> {
    let bad = |what: String| BenchError::Unexpected(format!("not a results.json: {what}"));
    let doc: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let info: RunInfo = serde_json::from_value(doc.clone()).map_err(|e| bad(e.to_string()))?;
    let figures = doc
        .get("figures")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no figures".into()))?
        .iter()
        .map(|f| {
            let mut f = f.clone();
            if let Some(o) = f.as_object_mut() {
                if let Some(median) = o.remove("median") {
                    o.insert("value".into(), median);
                }
            }
            serde_json::from_value(f).map_err(|e| bad(e.to_string()))
        })
        .collect::<Result<Vec<Measurement>>>()?;
    Ok((figures, info))
}

/// The marker opening the generated block of the benchmarks page.
pub const BEGIN: &str = "<!-- lazarus bench: begin (generated; edit outside these markers) -->";
/// The marker closing it.
pub const END: &str = "<!-- lazarus bench: end -->";

/// The command that regenerates the block.
pub const COMMAND: &str =
    "cargo run --release --bin lazarus -- bench --out target/bench --docs docs/benchmarks.md";

/// The Markdown block of the benchmarks page: the run's facts, the table, the goal lines and
/// the plot (`plot` is its path relative to the page).
pub fn markdown(ms: &[Measurement], info: &RunInfo, plot: &str, json: &str) -> String {
    let systems = columns();
    let mut out = String::new();
    out.push_str(BEGIN);
    out.push('\n');
    out.push_str("## Latest results\n\n");
    let machine = &info.machine;
    let field = |key: &str| machine.get(key).and_then(Value::as_str);
    let memory = machine
        .get("memory_bytes")
        .and_then(Value::as_u64)
        .map(|b| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64))
        .unwrap_or_else(|| "unknown memory".into());
    out.push_str(&format!(
        "{} run of `{COMMAND}`{}, finished {} at commit `{}`, on {} core(s) ({}), {memory}, {}; load average {} at the end. Each figure is the median of its repetitions (every repetition is in [`{json}`]({json})); in brackets, lazarusdb's advantage over that system (above 1: lazarusdb is better); – where a system cannot do the workload. How each workload is made is [below](#what-the-harness-measures).\n\n",
        if info.quick { "A quick" } else { "A full" },
        if info.quick { " (with `--quick`)" } else { "" },
        info.date,
        info.commit.get(..12).unwrap_or(&info.commit),
        machine.get("cores").and_then(Value::as_u64).unwrap_or(0),
        field("cpu").unwrap_or("unknown CPU"),
        field("os").unwrap_or("unknown OS"),
        field("load_average").unwrap_or("unknown"),
    ));
    out.push_str("| workload |");
    for s in &systems {
        out.push_str(&format!(" {s} |"));
    }
    out.push_str("\n|---|");
    for _ in &systems {
        out.push_str("---:|");
    }
    out.push('\n');
    for (label, unit) in rows(ms) {
        out.push_str(&format!("| {label} ({}) |", per(unit)));
        for s in &systems {
            let cell = match ms.iter().find(|m| m.label == label && m.system == *s) {
                Some(m) => match advantage(ms, m) {
                    Some(a) if s != LAZARUSDB => {
                        format!("{} [{a:.2}×]", format_value(m.value, &m.unit, false))
                    }
                    _ => format!("**{}**", format_value(m.value, &m.unit, false)),
                },
                None => "–".to_string(),
            };
            out.push_str(&format!(" {cell} |"));
        }
        out.push('\n');
    }
    if let Some(d) = ms.iter().find(|m| m.system == DISK) {
        out.push_str(&format!(
            "\nThe disk ({}): {} (median of {}).\n",
            d.label.trim_start_matches("the disk: "),
            format_value(d.value, &d.unit, false),
            d.reps.len()
        ));
    }
    out.push_str("\n### Goals\n\n");
    for v in goals::judge(ms) {
        out.push_str(&format!(
            "- **{}** — goal {}: {}. Measured: {}.\n",
            verdict_word(v.met),
            v.goal,
            v.text,
            checks_line(&v)
        ));
    }
    out.push_str(&format!(
        "\n![The figures of this run, one panel per workload]({plot})\n"
    ));
    out.push_str(END);
    out.push('\n');
    out
}

/// Puts `block` (from [`BEGIN`] to [`END`]) into the page at `page`: in place of the block
/// already there, else right after the page's title; the rest of the page is kept.
pub fn rewrite_docs(page: &Path, block: &str) -> Result<()> {
    let text = std::fs::read_to_string(page).map_err(io(page))?;
    let new = match (text.find(BEGIN), text.find(END)) {
        (Some(b), Some(e)) if e > b => {
            let after = text.get(e + END.len()..).unwrap_or_default();
            let after = after.strip_prefix('\n').unwrap_or(after);
            format!("{}{block}{after}", text.get(..b).unwrap_or_default())
        }
        _ => {
            // after the title line (the first line starting with `# `), else at the top
            let cut = text
                .lines()
                .next()
                .filter(|l| l.starts_with("# "))
                .map(|l| l.len() + 1)
                .unwrap_or(0)
                .min(text.len());
            let (head, tail) = text.split_at(cut);
            format!("{head}\n{block}\n{tail}")
        }
    };
    std::fs::write(page, new).map_err(io(page))
}
