//! `bench`: the comparison harness, which opens no store of the command line.

use std::path::PathBuf;

use lazarus_bench as harness;

use super::Outcome;
use crate::{fail, output, Failure};

/// `bench [--quick] [--out DIR]`: the same workloads on every system of the harness, the results
/// written to `out` (default: a new folder `bench-<time>`) as results.json and plot.svg; a
/// progress bar over the systems when `bars`.
pub fn bench(quick: bool, out: Option<PathBuf>, bars: bool) -> Result<Outcome, Failure> {
    let out = out.unwrap_or_else(|| {
        PathBuf::from(format!(
            "bench-{}",
            lazarusdb::Timestamp::now()
                .to_rfc3339()
                .replace([':', '.'], "-")
        ))
    });
    std::fs::create_dir_all(&out)
        .map_err(|e| fail(2, format!("cannot create {}: {e}", out.display())))?;
    let sizes = if quick {
        harness::Sizes::quick()
    } else {
        harness::Sizes::full()
    };
    let bar = output::bench_bar(bars, harness::SYSTEMS.len() as u64);
    let results = harness::run(sizes, &mut |system| {
        if let Some(b) = &bar {
            b.set_message(system.to_string());
            b.inc(1);
        }
    })?;
    output::clear(bar);
    let json = serde_json::to_string_pretty(&results)
        .map_err(|e| fail(2, format!("cannot encode results: {e}")))?;
    std::fs::write(out.join("results.json"), json)
        .map_err(|e| fail(2, format!("cannot write results.json: {e}")))?;
    std::fs::write(out.join("plot.svg"), harness::svg(&results))
        .map_err(|e| fail(2, format!("cannot write plot.svg: {e}")))?;
    Ok(Outcome::Bench { out, results })
}
