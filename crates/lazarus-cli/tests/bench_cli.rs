//! `lazarus bench --quick` runs end to end: it prints the table and one line per goal, and
//! writes `results.json` (the run's facts, every figure with its repetitions and median, the
//! goal verdicts), `plot.png` and `plot.svg`; `--from` renders them again and `--docs` rewrites
//! a page's results block. Its timings are not asserted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The systems of a run: lazarusdb on its default engine first, our other engines, then the
/// competitors (their list is the harness's own; the competitors are named here).
fn systems() -> Vec<String> {
    let names = lazarus_bench::systems::system_names();
    assert_eq!(names.first().map(String::as_str), Some("lazarusdb"));
    let ours: Vec<&String> = names
        .iter()
        .take_while(|n| n.starts_with("lazarusdb"))
        .collect();
    assert!(ours.len() >= 3, "{names:?}");
    assert_eq!(
        names[ours.len()..],
        [
            "sqlite-soft-delete",
            "sqlite-shadow",
            "fjall-raw",
            "sled-raw",
            "redb-raw"
        ]
    );
    names
}

fn lazarus(args: &[&str], out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lazarus"))
        .args(args)
        .arg("--out")
        .arg(out)
        .env_remove("LAZARUS_BENCH_ROWS")
        .output()
        .unwrap()
}

fn figure<'a>(doc: &'a Value, workload: &str, system: &str) -> Option<&'a Value> {
    doc["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["workload"] == workload && f["system"] == system)
}

/// The results.json of a quick run: its facts, figures and verdicts.
fn check_document(doc: &Value) {
    assert_eq!(doc["quick"], true);
    let date = doc["date"].as_str().unwrap();
    assert!(date.ends_with('Z') && date.len() >= 20, "{date}");
    let commit = doc["commit"].as_str().unwrap();
    assert!(
        commit == "unknown"
            || (commit.len() == 40 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{commit}"
    );
    assert!(doc["machine"]["cores"].as_u64().unwrap() >= 1);
    assert!(doc["machine"]["memory_bytes"].as_u64().unwrap() > 0);
    assert!(doc["machine"]["os"].is_string());
    assert_eq!(doc["sizes"]["rows"], serde_json::json!([10_000]));
    let systems = systems();
    assert_eq!(doc["systems"], serde_json::json!(systems));

    let figures = doc["figures"].as_array().unwrap();
    for f in figures {
        for key in ["workload", "label", "system", "unit"] {
            assert!(f[key].is_string(), "{key} in {f}");
        }
        let reps = f["reps"].as_array().unwrap();
        assert!(!reps.is_empty(), "{f}");
        let mut values: Vec<f64> = reps.iter().map(|r| r.as_f64().unwrap()).collect();
        assert!(values.iter().all(|v| *v > 0.0), "{f}");
        values.sort_by(f64::total_cmp);
        let median = f["median"].as_f64().unwrap();
        assert!(
            median >= values[0] && median <= values[values.len() - 1],
            "{f}"
        );
    }
    // every system where it can, and only there
    for system in &systems {
        for workload in [
            "ingest",
            "live_scan",
            "child_lookup",
            "get",
            "cascade_delete_eventual",
        ] {
            assert!(
                figure(doc, workload, system).is_some(),
                "no {workload} for {system}"
            );
        }
    }
    assert_eq!(
        figure(doc, "ingest", "lazarusdb").unwrap()["unit"],
        "rows/s"
    );
    assert!(figure(doc, "restore_eventual", "sqlite-shadow").is_some());
    assert!(figure(doc, "restore_eventual", "fjall-raw").is_none());
    assert!(figure(doc, "as_of_get", "lazarusdb").is_some());
    assert!(figure(doc, "as_of_get", "sqlite-soft-delete").is_none());
    // the binary hands itself to the harness: the CLI get and the crash are measured
    assert!(figure(doc, "cli_get", "lazarusdb").is_some());
    assert!(figure(doc, "open_after_crash", "lazarusdb").is_some());
    assert!(figure(doc, "fdatasync", "disk").is_some());

    let goals = doc["goals"].as_array().unwrap();
    assert_eq!(goals.len(), 8);
    for (i, g) in goals.iter().enumerate() {
        assert_eq!(g["goal"], i + 1);
        assert!(g["text"].is_string());
        assert!(g["met"].is_boolean(), "goal {} not judged: {g}", i + 1);
        assert!(!g["checks"].as_array().unwrap().is_empty());
    }
    // the quick run says that ingest is judged on the full run
    assert!(goals[4]["notes"].to_string().contains("judged on the full"));
}

fn check_plots(out: &Path) {
    let png = std::fs::read(out.join("plot.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let (w, h) = (
        u32::from_be_bytes(png[16..20].try_into().unwrap()),
        u32::from_be_bytes(png[20..24].try_into().unwrap()),
    );
    assert!(w >= 800 && h >= 800, "{w}x{h}");
    let svg = std::fs::read_to_string(out.join("plot.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("sqlite-shadow") && svg.ends_with("</svg>\n"));
}

#[test]
fn the_quick_run_prints_the_table_and_the_goals_and_writes_its_results() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench");
    let run = lazarus(&["bench", "--quick"], &out);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    let text = String::from_utf8(run.stdout).unwrap();
    let header = text.lines().next().unwrap();
    let at = |s: &str| header.find(s).unwrap_or_else(|| panic!("{s} in {header}"));
    // lazarusdb first, then our second engine, then the competitors
    assert!(at("lazarusdb ") < at("lazarusdb-sled"));
    assert!(at("lazarusdb-sled") < at("sqlite-soft-delete"));
    assert!(at("sqlite-shadow") < at("redb-raw"));
    assert!(text.contains("live scan, 90 % deleted, 10k rows"));
    for goal in 1..=8 {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("goal {goal}: ")))
            .unwrap_or_else(|| panic!("no line for goal {goal}:\n{text}"));
        assert!(
            line.ends_with(" — met") || line.ends_with(" — NOT met"),
            "{line}"
        );
    }
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    check_document(&doc);
    check_plots(&out);

    // the same figures rendered again, into a page's block, keeping the rest of the page
    let page = dir.path().join("docs").join("benchmarks.md");
    std::fs::create_dir_all(page.parent().unwrap()).unwrap();
    std::fs::write(&page, "# Benchmarks\n\nKept.\n").unwrap();
    let again = dir.path().join("again");
    let results = out.join("results.json");
    let run = lazarus(
        &[
            "--json",
            "bench",
            "--from",
            results.to_str().unwrap(),
            "--docs",
            page.to_str().unwrap(),
        ],
        &again,
    );
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let printed: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert!(printed["results"].as_array().unwrap().len() > 50);
    let redone: Value =
        serde_json::from_str(&std::fs::read_to_string(again.join("results.json")).unwrap())
            .unwrap();
    // the same figures and verdicts (numbers read back from JSON may differ in the last bit)
    let close = |a: &Value, b: &Value| {
        let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
    };
    let (before, after) = (
        doc["figures"].as_array().unwrap(),
        redone["figures"].as_array().unwrap(),
    );
    assert_eq!(before.len(), after.len());
    for (a, b) in before.iter().zip(after) {
        for key in ["workload", "params", "label", "system", "unit"] {
            assert_eq!(a[key], b[key]);
        }
        assert!(close(&a["median"], &b["median"]), "{a} {b}");
    }
    for (a, b) in doc["goals"]
        .as_array()
        .unwrap()
        .iter()
        .zip(redone["goals"].as_array().unwrap())
    {
        assert_eq!(a["met"], b["met"]);
        assert_eq!(a["text"], b["text"]);
    }
    check_plots(&again);
    let text = std::fs::read_to_string(&page).unwrap();
    assert!(text.starts_with("# Benchmarks\n"));
    let names = systems();
    assert!(
        text.contains(&format!("| workload | {} | {} |", names[0], names[1])),
        "{text}"
    );
    assert!(text.contains("goal 8: Durable commits"));
    assert!(text.ends_with("Kept.\n"));
    assert!(page.parent().unwrap().join("bench/plot.png").exists());
    // a second rewrite replaces the block rather than adding one
    let before = text.len();
    let run = lazarus(
        &[
            "bench",
            "--from",
            results.to_str().unwrap(),
            "--docs",
            page.to_str().unwrap(),
        ],
        &again,
    );
    assert_eq!(run.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&page).unwrap().len(), before);
}
