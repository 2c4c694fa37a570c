//! `bench`: the comparison harness, which opens no store of the command line.

use std::path::{Path, PathBuf};
use std::time::Instant;

use lazarus_bench as harness;

use lazarus_commands::commands::Outcome;
use lazarus_commands::{fail, output, Failure};

/// What `bench` is asked.
pub struct BenchArgs<'a> {
    /// A quick run.
    pub quick: bool,
    /// Where the results go (default: a new folder `bench-<time>`).
    pub out: Option<&'a Path>,
    /// A page whose results block is rewritten (`docs/benchmarks.md`).
    pub docs: Option<&'a Path>,
    /// Not a run: render the results of an earlier run (its results.json) again.
    pub from: Option<&'a Path>,
    /// Not a run: be the writer that a run kills, on this store.
    pub crash_writer: Option<&'a Path>,
}

fn failed(e: harness::BenchError) -> Failure {
    fail(2, e.to_string())
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, bytes)
        .map_err(|e| fail(2, format!("cannot write {}: {e}", path.display())))
}

/// `bench [--quick] [--out DIR] [--docs PAGE] [--from RESULTS]`: every goal's workloads on
/// every system of the harness (or, with `from`, the figures of an earlier run); the results
/// written to `out` as results.json, plot.png and plot.svg, and, with
/// `docs`, into the page's results block (the plot and the JSON copied to `bench/` beside the
/// page). This binary is handed to the harness for the CLI get and the killed writer. A
/// progress bar over the steps when `bars`.
pub fn bench(args: BenchArgs<'_>, bars: bool) -> Result<Outcome, Failure> {
    if let Some(store) = args.crash_writer {
        harness::write_until_killed(store, &mut output::Stream).map_err(failed)?;
        return Err(fail(2, "the crash writer stopped"));
    }
    let out = args.out.map(Path::to_path_buf).unwrap_or_else(|| {
        PathBuf::from(format!(
            "bench-{}",
            lazarusdb::Timestamp::now()
                .to_rfc3339()
                .replace([':', '.'], "-")
        ))
    });
    std::fs::create_dir_all(&out)
        .map_err(|e| fail(2, format!("cannot create {}: {e}", out.display())))?;
    let (results, info) = match args.from {
        Some(earlier) => {
            let text = std::fs::read_to_string(earlier)
                .map_err(|e| fail(2, format!("cannot read {}: {e}", earlier.display())))?;
            harness::report::read_document(&text).map_err(failed)?
        }
        None => {
            let mut cfg = harness::Config::new(args.quick);
            if args.docs.is_some() && (cfg.only.is_some() || cfg.systems.is_some()) {
                return Err(fail(
                    2,
                    "a run narrowed by LAZARUS_BENCH_ONLY or LAZARUS_BENCH_SYSTEMS does not \
                     measure every goal: unset them to write --docs, or leave --docs out",
                ));
            }
            cfg.exe = std::env::current_exe().ok();
            let bar = output::bench_bar(bars);
            let start = Instant::now();
            let mut steps: Vec<(String, f64)> = Vec::new();
            let mut step_start = start;
            let results = harness::run(&cfg, &mut |p| {
                let now = Instant::now();
                if let Some(last) = steps.last_mut() {
                    last.1 = (now - step_start).as_secs_f64();
                }
                step_start = now;
                steps.push((p.what.clone(), 0.0));
                if let Some(b) = &bar {
                    b.set_length(p.total);
                    b.set_position(p.step.saturating_sub(1));
                    b.set_message(p.what);
                }
            })
            .map_err(failed)?;
            if let Some(last) = steps.last_mut() {
                last.1 = step_start.elapsed().as_secs_f64();
            }
            output::clear(bar);
            let mut info = harness::report::RunInfo::collect(&cfg);
            info.seconds = start.elapsed().as_secs_f64();
            info.steps = steps;
            (results, info)
        }
    };
    let json = serde_json::to_string_pretty(&harness::report::document(&results, &info))
        .map_err(|e| fail(2, format!("cannot encode results: {e}")))?;
    let png = harness::plot::png(&results, &info).map_err(failed)?;
    write(&out.join("results.json"), json.as_bytes())?;
    write(&out.join("plot.png"), &png)?;
    write(
        &out.join("plot.svg"),
        harness::plot::svg(&results, &info).as_bytes(),
    )?;
    if let Some(page) = args.docs {
        let beside = page.parent().unwrap_or(Path::new(".")).join("bench");
        std::fs::create_dir_all(&beside)
            .map_err(|e| fail(2, format!("cannot create {}: {e}", beside.display())))?;
        write(&beside.join("results.json"), json.as_bytes())?;
        write(&beside.join("plot.png"), &png)?;
        let block =
            harness::report::markdown(&results, &info, "bench/plot.png", "bench/results.json");
        harness::report::rewrite_docs(page, &block).map_err(failed)?;
    }
    let text = format!(
        "{}\n[Nx] after a value: lazarusdb's advantage over that system (above 1: lazarusdb is \
         better)\nresults: {}  plot: {}\n",
        harness::table(&results),
        out.join("results.json").display(),
        out.join("plot.svg").display()
    );
    Ok(Outcome::Said {
        text,
        json: serde_json::json!({
            "out": out.display().to_string(),
            "results": results,
        }),
    })
}
