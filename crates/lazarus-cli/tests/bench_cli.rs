//! `lazarus bench --quick` runs end to end and writes `results.json` (an array of
//! `{"workload", "system", "value", "unit"}` covering every system) and a plot; its timings are
//! not asserted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::process::Command;

#[test]
fn the_quick_comparison_writes_its_results_and_plot() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench");
    let run = Command::new(env!("CARGO_BIN_EXE_lazarus"))
        .args(["--json", "bench", "--quick", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert!(doc["results"].is_array());
    let results: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    for system in [
        "lazarusdb",
        "lazarusdb-sled",
        "sqlite-soft-delete",
        "sqlite-shadow",
        "sled-raw",
        "fjall-raw",
    ] {
        let ingest = results
            .iter()
            .find(|r| r["system"] == system && r["workload"] == "ingest")
            .unwrap_or_else(|| panic!("no ingest result for {system}"));
        assert_eq!(ingest["unit"], "rows/s");
        assert!(ingest["value"].as_f64().unwrap() > 0.0);
    }
    for r in &results {
        assert!(r["workload"].is_string() && r["system"].is_string() && r["unit"].is_string());
        assert!(r["value"].as_f64().unwrap() > 0.0, "{r}");
    }
    // restores only where there is something to restore
    assert!(results
        .iter()
        .any(|r| r["system"] == "sqlite-shadow" && r["workload"] == "restore"));
    assert!(!results
        .iter()
        .any(|r| r["system"] == "fjall-raw" && r["workload"] == "restore"));
    let svg = std::fs::read_to_string(out.join("plot.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("sqlite-shadow"));
}
