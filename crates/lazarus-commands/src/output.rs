//! Standard output and standard error, in one place. A command's output is gathered while it
//! works and written by [`finish`] at the end of `main`: after the store is closed, and only when
//! the command succeeded or its failure is a verdict with a report (`verify`), so that a failed
//! command prints nothing on standard output. `export -` streams through [`Stream`] instead. The
//! first error writing standard output is recorded; later writes are not attempted.
//!
//! Standard error carries the one line of a failure ([`say_error`]) and the progress bars, which
//! are drawn only on a terminal and never under `--json`.

use std::io::{ErrorKind, IsTerminal, Write};
use std::sync::{Mutex, MutexGuard};

use indicatif::{ProgressBar, ProgressStyle};

/// What standard output has been given and what became of it.
struct State {
    /// Output printed and not yet written.
    pending: Vec<u8>,
    /// The first error writing standard output.
    error: Option<std::io::Error>,
}

/// The one state of standard output.
static STATE: Mutex<State> = Mutex::new(State {
    pending: Vec::new(),
    error: None,
});

/// The state, even after a panic elsewhere poisoned its lock.
fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Adds text (whole lines, as [`crate::render`] makes them) to the output.
pub fn print(text: &str) {
    state().pending.extend_from_slice(text.as_bytes());
}

/// True once a write to standard output failed.
pub fn failed() -> bool {
    state().error.is_some()
}

/// Runs a write on standard output unless an earlier one failed; records the first error.
fn attempt(
    s: &mut State,
    write: impl FnOnce(&mut std::io::StdoutLock<'static>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if let Some(e) = &s.error {
        return Err(std::io::Error::from(e.kind()));
    }
    let result = write(&mut std::io::stdout().lock());
    if let Err(e) = &result {
        s.error = Some(std::io::Error::new(e.kind(), e.to_string()));
    }
    result
}

/// Standard output as a writer, for output streamed while the command works (`export -`).
pub struct Stream;

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        attempt(&mut state(), |out| out.write_all(buf)).map(|()| buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        attempt(&mut state(), |out| out.flush())
    }
}

/// Writes the gathered output (when `keep`; otherwise drops it) and flushes standard output.
/// Returns the first write error, except a closed pipe: a reader that went away is not the
/// command's failure.
pub fn finish(keep: bool) -> Option<std::io::Error> {
    let mut s = state();
    let pending = std::mem::take(&mut s.pending);
    let _ = attempt(&mut s, |out| {
        if keep {
            out.write_all(&pending)?;
        }
        out.flush()
    });
    s.error.take().filter(|e| e.kind() != ErrorKind::BrokenPipe)
}

/// Writes a line on standard error; a standard error that cannot be written is ignored.
pub fn say_error(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "lazarus: {message}");
}

/// One line on standard error as it is (a `--json` error).
pub fn say_raw(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// A progress bar drawn with `template`, when `shown` (not under `--json`) and standard error is
/// a terminal.
fn bar(shown: bool, bar: impl FnOnce() -> ProgressBar, template: &str) -> Option<ProgressBar> {
    if !shown || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = bar();
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    Some(bar)
}

/// A spinner with a count, for a command that walks the log (`what` it is doing).
pub fn spinner(shown: bool, what: &str) -> Option<ProgressBar> {
    if !shown || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {human_pos} ({per_sec}, {elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(what.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(bar)
}

/// A progress bar over `total` things (`unit`) that `what` goes through: done and total,
/// percent, rate, time spent and left.
pub fn count_bar(shown: bool, what: &str, total: u64, unit: &str) -> Option<ProgressBar> {
    bar(
        shown,
        || ProgressBar::new(total),
        &format!(
            "{what} {{bar:30}} {{human_pos}}/{{human_len}} {unit} {{percent}}% \
             {{per_sec}} ({{elapsed}}, {{eta}} left)"
        ),
    )
}

/// A progress bar over the keys copied by `compact` or `backup` (`what` it is doing): done and
/// total, percent, rate, time spent and left.
pub fn copy_bar(shown: bool, what: &str) -> Option<ProgressBar> {
    bar(
        shown,
        || ProgressBar::new(0),
        &format!(
            "{what} {{bar:30}} {{human_pos}}/{{human_len}} keys {{percent}}% \
             {{per_sec}} ({{elapsed}}, {{eta}} left)"
        ),
    )
}

/// A progress bar over the steps of `bench` (its length is set as the run tells it).
pub fn bench_bar(shown: bool) -> Option<ProgressBar> {
    bar(
        shown,
        || ProgressBar::new(0),
        "{bar:30} {pos}/{len} {msg} ({elapsed})",
    )
}

/// Clears a progress bar once its work is done.
pub fn clear(bar: Option<ProgressBar>) {
    if let Some(b) = bar {
        b.finish_and_clear();
    }
}

/// Moves a progress bar (when there is one) to `n`.
pub fn advance(bar: Option<&ProgressBar>, n: u64) {
    if let Some(b) = bar {
        b.set_position(n);
    }
}
