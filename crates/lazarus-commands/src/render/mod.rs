//! What a command found or did ([`Outcome`]) as output: the human text (aligned tables and
//! sentences, [`text`]) or, under `--json`, exactly one JSON document (`json`). Nothing else
//! decides what the tool prints on standard output.

mod json;
pub mod text;

use crate::commands::Outcome;

/// The output of `outcome`: its JSON document (with a final newline) when `json`, its text
/// otherwise; empty when it has none (`export -`, which streamed its output).
pub fn render(outcome: &Outcome, json: bool) -> String {
    // rows in the format asked for (`scan --format`) are that format under --json too
    if let Outcome::Formatted(text) = outcome {
        return text.clone();
    }
    if json {
        return json::document(outcome)
            .map(|v| format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default()))
            .unwrap_or_default();
    }
    let mut out = String::new();
    text::add(&mut out, outcome);
    out
}
