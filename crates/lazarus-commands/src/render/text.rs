//! The human text of an outcome: aligned tables and sentences, one line each.

use std::fmt::Write as _;

use lazarusdb::{Change, Conflict, PurgeReport, Retention, Stats, TableDef, Value};

use crate::commands::{Outcome, Retentions, Rows, Trashed};
use crate::demo::Part;

/// Adds a line to the text (writing into a `String` cannot fail).
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {
        let _ = writeln!($out, $($arg)*);
    };
}

/// How a NULL shows in a table (a text value shows as itself, unquoted).
const NULL: &str = "NULL";

/// Adds the text of `outcome` to `out`.
pub fn add(out: &mut String, outcome: &Outcome) {
    match outcome {
        Outcome::Row(rows) => rows_table(out, rows),
        Outcome::Rows(rows) => {
            rows_table(out, rows);
            count(out, rows.rows.len());
        }
        Outcome::Schema(schema) => schema_text(out, &schema.tables),
        Outcome::SchemaApplied { file, .. } => {
            put!(
                out,
                "schema applied: {} table(s) in the file",
                file.tables.len()
            );
            for (table, policy) in &file.retention {
                put!(
                    out,
                    "retention of {}: {}",
                    table.as_deref().unwrap_or("the store"),
                    policy_text(policy)
                );
            }
        }
        Outcome::Changes(changes) => changes_table(out, changes),
        Outcome::RestoredTo { plan, dry_run } => {
            let verb = if *dry_run { "would be " } else { "" };
            for r in &plan.restored {
                put!(out, "{verb}restored {r}");
            }
            for r in &plan.reverted {
                put!(out, "{verb}reverted {r}");
            }
            for r in &plan.tombstoned {
                put!(out, "{verb}tombstoned {r}");
            }
            conflicts_text(out, &plan.conflicts);
            put!(out, "target lsn {}", plan.target_lsn);
        }
        Outcome::Undone { tx, plan } => {
            put!(
                out,
                "undid transaction {tx}: {} restored, {} reverted, {} tombstoned",
                plan.restored.len(),
                plan.reverted.len(),
                plan.tombstoned.len()
            );
        }
        Outcome::Diff(diff) => {
            for d in diff {
                let cols: Vec<String> = d
                    .changes
                    .iter()
                    .map(|c| format!("{}: {} -> {}", c.column, c.before, c.after))
                    .collect();
                put!(out, "{:<8} {}  {}", d.kind.name(), d.row, cols.join(", "));
            }
            count(out, diff.len());
        }
        Outcome::Deleted(report) => {
            put!(out, "deletion {}", report.deletion);
            for r in &report.rows {
                put!(out, "  tombstoned {r}");
            }
            for r in &report.unlinked {
                put!(out, "  reference set to null in {r}");
            }
        }
        Outcome::Script { text, .. } | Outcome::Formatted(text) => out.push_str(text),
        Outcome::Loaded(l) => {
            put!(
                out,
                "loaded {} row(s) into {} in {} transaction(s)",
                l.rows,
                l.table,
                l.transactions
            );
        }
        Outcome::Trash(trash) => trash_table(out, trash),
        Outcome::TrashShown {
            deletion: d,
            tombstoned,
            unlinked,
        } => {
            put!(out, "deletion {}", d.id);
            put!(
                out,
                "made {} in transaction {}{}{}",
                d.at.to_rfc3339(),
                d.tx,
                d.actor
                    .as_ref()
                    .map(|a| format!(" by {a}"))
                    .unwrap_or_default(),
                d.reason
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
            let roots: Vec<String> = d.roots.iter().map(|r| r.to_string()).collect();
            put!(out, "deleted: {}", roots.join(", "));
            if d.remaining == 0 {
                put!(out, "restored: nothing of it is in the trash");
            }
            for (table, rows) in tombstoned {
                put!(out, "");
                put!(out, "{table}: {} row(s) in the trash", rows.rows.len());
                rows_table(out, rows);
            }
            for (table, rows) in unlinked {
                put!(out, "");
                put!(
                    out,
                    "{table}: {} live row(s) whose reference it set to null (as they were)",
                    rows.rows.len()
                );
                rows_table(out, rows);
            }
            put!(out, "");
            put!(out, "restore it with: lazarus restore {}", short_id(&d.id));
        }
        Outcome::RestorePlanned { plan, .. } => {
            for r in &plan.rows {
                put!(out, "would restore {r}");
            }
            for r in &plan.relinks {
                put!(out, "would put back the reference of {r}");
            }
            conflicts_text(out, &plan.conflicts);
        }
        Outcome::Restored { plan, .. } => {
            for r in &plan.rows {
                put!(out, "restored {r}");
            }
            for r in &plan.relinks {
                put!(out, "reference put back in {r}");
            }
            for s in &plan.skipped {
                put!(out, "left in the trash: {} ({})", s.row, s.reason);
            }
        }
        Outcome::Purged { report, dry_run } => {
            if *dry_run {
                out.push_str(&purge_summary(report));
                if !report.purged.is_empty() || !report.pruned.is_empty() {
                    put!(out, "dry run: nothing was purged");
                }
            } else {
                for p in &report.purged {
                    put!(
                        out,
                        "purged deletion {}: {} row(s), {} image(s) removed",
                        p.deletion,
                        p.rows.len(),
                        p.images
                    );
                    purged_rows(out, p, "purged");
                }
                for (t, h, n) in &report.pruned {
                    put!(
                        out,
                        "pruned history of {t} before lsn {h}: {n} image(s) removed"
                    );
                }
                if report.purged.is_empty() && report.pruned.is_empty() {
                    put!(out, "nothing to purge");
                } else {
                    put!(
                        out,
                        "run `lazarus compact` to remove the purged bytes from the files"
                    );
                }
            }
        }
        Outcome::Erased { report, dry_run } => {
            if *dry_run {
                out.push_str(&erase_summary(report));
                put!(out, "dry run: nothing was erased");
            } else {
                put!(
                    out,
                    "erased through deletion {}: {} row(s), {} image(s) removed",
                    report.deletion,
                    report.rows.len(),
                    report.images
                );
                purged_rows(out, report, "erased");
                put!(
                    out,
                    "run `lazarus compact` to remove the erased bytes from the files"
                );
            }
        }
        Outcome::Exported { events, file } => {
            put!(out, "exported {events} events to {}", file.display());
        }
        Outcome::Streamed => {}
        Outcome::Imported { events } => {
            put!(out, "imported {events} events");
        }
        Outcome::Verified(report) => {
            if report.is_ok() {
                put!(
                    out,
                    "ok: {} view keys equal a rebuild from {} events",
                    report.keys,
                    report.events
                );
            } else {
                for d in &report.differences {
                    put!(out, "{d}");
                }
            }
        }
        Outcome::Stats { stats, retention } => stats_text(out, stats, retention),
        Outcome::Served { addr } => {
            put!(out, "stopped serving on {addr}; the store is closed");
        }
        Outcome::Checkpoint(at) => {
            put!(
                out,
                "checkpoint at lsn {at}: a rebuild replays only the events after it"
            );
        }
        Outcome::BackedUp(r) => {
            put!(
                out,
                "backed up to {}: every commit up to lsn {}, {} key(s), {} bytes, in {:.2} s",
                r.path.display(),
                r.lsn,
                r.keys,
                r.bytes,
                r.seconds
            );
            put!(
                out,
                "the copy is a store: open it with `lazarus --db {} ...`",
                r.path.display()
            );
        }
        Outcome::Compacted(r) => {
            put!(
                out,
                "compacted {} key(s), {} bytes, in {:.2} s",
                r.keys,
                r.bytes,
                r.seconds
            );
            let (before, after) = (r.disk_bytes_before, r.disk_bytes_after);
            if after <= before {
                put!(
                    out,
                    "the data files took {before} bytes on disk before, {after} after: {} freed",
                    before - after
                );
            } else {
                put!(
                    out,
                    "the data files took {before} bytes on disk before, {after} after: {} more \
                     (fresh engine files start with space set aside; nothing was there to reclaim)",
                    after - before
                );
            }
        }
        Outcome::Said { text, .. } => out.push_str(text),
        Outcome::Demo(demo) => {
            for part in &demo.story {
                match part {
                    Part::Say(text) => {
                        put!(out, "\n{text}");
                    }
                    Part::Line(text) => {
                        put!(out, "{text}");
                    }
                    Part::Show(outcome) => add(out, outcome),
                }
            }
        }
    }
}

/// The line that counts `n` rows.
fn count(out: &mut String, n: usize) {
    put!(out, "({n} row{})", if n == 1 { "" } else { "s" });
}

/// Rows as a table under their columns.
fn rows_table(out: &mut String, rows: &Rows) {
    let cells: Vec<Vec<String>> = rows
        .rows
        .iter()
        .map(|r| {
            rows.columns
                .iter()
                .map(|h| match r.get(h) {
                    Some(Value::Text(s)) => s.clone(),
                    // NULL apart from any text, "null" included
                    Some(Value::Null) | None => NULL.to_string(),
                    Some(v) => v.to_string(),
                })
                .collect()
        })
        .collect();
    table(out, &rows.columns, &cells);
}

/// Events as a table, one a line.
fn changes_table(out: &mut String, changes: &[Change]) {
    let rows: Vec<Vec<String>> = changes
        .iter()
        .map(|c| {
            vec![
                c.lsn.to_string(),
                c.tx.to_string(),
                c.at.to_rfc3339(),
                c.kind.name().to_string(),
                c.tables.join(", "),
                c.pk.as_ref().map(|v| v.to_string()).unwrap_or_default(),
                c.row
                    .as_ref()
                    .map(|r| r.to_json().to_string())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    table(
        out,
        &headers(&["lsn", "tx", "at", "kind", "table", "pk", "row"]),
        &rows,
    );
}

/// The trash as a table, one deletion a line.
fn trash_table(out: &mut String, trash: &[Trashed]) {
    let rows: Vec<Vec<String>> = trash
        .iter()
        .map(|Trashed { deletion: d, .. }| {
            let counts: Vec<String> = d.rows.iter().map(|(t, n)| format!("{t}:{n}")).collect();
            vec![
                short_id(&d.id),
                d.at.to_rfc3339(),
                d.roots.first().map(|r| r.to_string()).unwrap_or_default(),
                counts.join(" "),
                d.actor.clone().unwrap_or_default(),
                d.reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(
        out,
        &headers(&["deletion", "at", "root", "rows", "actor", "reason"]),
        &rows,
    );
}

/// The short form of a deletion id the trash lists: its last 8 hex digits, which every
/// command taking a deletion accepts (ids made close together share their beginnings).
pub fn short_id(id: &uuid::Uuid) -> String {
    let s = id.simple().to_string();
    s.get(s.len().saturating_sub(8)..).unwrap_or(&s).to_string()
}

/// Column headers.
fn headers(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// An aligned table: the headers, a rule, the rows, laid out by display width (CJK text and
/// emoji take two columns); a cell is cut to 40 columns with `…`.
fn table(out: &mut String, headers: &[String], rows: &[Vec<String>]) {
    let mut t = comfy_table::Table::new();
    // no borders; only the line under the header (preset positions 5 and 6)
    t.load_preset("     --            ")
        .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
        .set_header(headers.iter().map(|h| cut(h)));
    for r in rows {
        t.add_row(r.iter().map(|c| cut(c)));
    }
    for line in t.lines() {
        put!(out, " {}", line.trim_end());
    }
}

/// `text` cut to at most 40 display columns, the last one an ellipsis when cut; one line.
fn cut(text: &str) -> String {
    use unicode_width::UnicodeWidthChar as _;
    const MAX: usize = 40;
    let flat: String = text
        .chars()
        .map(|c| {
            if c == '\n' || c == '\r' || c == '\t' {
                ' '
            } else {
                c
            }
        })
        .collect();
    let width: usize = flat.chars().map(|c| c.width().unwrap_or(0)).sum();
    if width <= MAX {
        return flat;
    }
    let mut kept = String::new();
    let mut used = 0;
    for c in flat.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > MAX - 1 {
            break;
        }
        used += w;
        kept.push(c);
    }
    kept.push('…');
    kept
}

/// The tables: columns, indexes and foreign keys.
fn schema_text(out: &mut String, tables: &[TableDef]) {
    for def in tables {
        put!(out, "table {} (primary key {})", def.name, def.primary_key);
        for c in &def.columns {
            let mut extra = String::new();
            if c.nullable {
                extra.push_str(" nullable");
            }
            if let Some(d) = &c.default {
                extra.push_str(&format!(" default {d}"));
            }
            put!(out, "  {:<16} {}{}", c.name, c.ty, extra);
        }
        for i in &def.indexes {
            let kind = if i.unique { "unique" } else { "index" };
            put!(out, "  {kind} ({})", i.columns.join(", "));
        }
        for f in &def.foreign_keys {
            put!(
                out,
                "  foreign key {} -> {} on delete {}",
                f.column,
                f.references,
                f.on_delete.name()
            );
        }
    }
}

/// One line a conflict.
fn conflicts_text(out: &mut String, conflicts: &[Conflict]) {
    for c in conflicts {
        put!(out, "conflict: {c}");
    }
}

/// One line a purged row.
fn purged_rows(out: &mut String, p: &PurgeReport, verb: &str) {
    for r in &p.rows {
        put!(out, "  {verb} {r}");
    }
}

/// Rows per table of a purge, in table order: "author 1, book 3".
fn rows_per_table(p: &PurgeReport) -> String {
    let mut per: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in &p.rows {
        *per.entry(r.table.as_str()).or_default() += 1;
    }
    per.iter()
        .map(|(t, n)| format!("{t} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a purge would remove: each deletion with its rows per table and the versions (images)
/// that go, each history prune; the text a dry run prints and a confirmation shows.
pub fn purge_summary(report: &lazarusdb::RetentionReport) -> String {
    let mut out = String::new();
    if report.purged.is_empty() && report.pruned.is_empty() {
        put!(out, "nothing to purge");
        return out;
    }
    let rows: usize = report.purged.iter().map(|p| p.rows.len()).sum();
    let images: u64 = report.purged.iter().map(|p| p.images).sum();
    put!(
        out,
        "would purge {} deletion(s): {rows} row(s), {images} version(s) of them",
        report.purged.len()
    );
    for p in &report.purged {
        put!(
            out,
            "  deletion {}: {} ({} version(s))",
            p.deletion,
            rows_per_table(p),
            p.images
        );
        purged_rows(&mut out, p, "  would purge");
    }
    for (t, h, n) in &report.pruned {
        put!(
            out,
            "would prune the history of {t} before lsn {h}: {n} version(s)"
        );
    }
    out
}

/// What an erase would remove: the rows per table, each row, the versions.
pub fn erase_summary(p: &PurgeReport) -> String {
    let mut out = String::new();
    put!(
        out,
        "would erase {} row(s) ({}) with {} version(s), through deletion {}",
        p.rows.len(),
        rows_per_table(p),
        p.images,
        p.deletion
    );
    purged_rows(&mut out, p, "would erase");
    if !p.also.is_empty() {
        put!(
            out,
            "and purge {} older deletion(s) holding earlier lives of the same key",
            p.also.len()
        );
    }
    out
}

/// The statistics, one a line, then the rows per table and the retention policies.
fn stats_text(out: &mut String, s: &Stats, retention: &Retentions) {
    put!(out, "engine            {}", s.engine);
    put!(out, "last lsn          {}", s.last_lsn);
    put!(out, "last tx           {}", s.last_tx);
    put!(out, "deletions         {}", s.deletions);
    put!(
        out,
        "disk bytes        {} ({})",
        s.disk_bytes,
        if s.engine == lazarusdb::EngineKind::Postgres {
            "the store's tables and indexes in PostgreSQL"
        } else {
            "every file of the store's folder, as du counts them"
        }
    );
    put!(out, "live bytes        {}", s.live_bytes);
    put!(out, "history bytes     {}", s.history_bytes);
    put!(out, "trash bytes       {}", s.trash_bytes);
    put!(
        out,
        "reclaimable bytes {} (estimate; `compact` gives it back)",
        s.reclaimable_bytes
    );
    for (t, n) in &s.tables {
        put!(out, "table {t:<12} {n} live row(s)");
    }
    if let Some(p) = &retention.store {
        put!(out, "retention of the store: {}", policy_text(p));
    }
    for (t, p) in retention.own() {
        put!(out, "retention of {t}: {}", policy_text(p));
    }
}

/// A retention policy in words.
fn policy_text(p: &Retention) -> String {
    let f = |v: Option<u64>| {
        v.map(lazarusdb::format_duration)
            .unwrap_or_else(|| "for ever".into())
    };
    format!(
        "deletions kept {}, history kept {}",
        f(p.deletions),
        f(p.history)
    )
}
