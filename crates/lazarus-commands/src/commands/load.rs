//! Rows in and out for other tools: `load TABLE FILE` (JSON lines or CSV) and the row formats of
//! `scan --format`.

use std::io::{BufRead, Read};
use std::path::Path;

use lazarusdb::{Audit, ColumnType, Db, Readable, Row, TableDef, Value};

use super::Outcome;
use crate::{fail, output, Failure};

/// How rows are written as text.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum RowFormat {
    /// One JSON object a line.
    Jsonl,
    /// A header line of column names, then one line a row (RFC 4180 quoting; NULL is an empty
    /// field).
    Csv,
}

/// What `load` did.
pub struct Loaded {
    /// The table.
    pub table: String,
    /// Rows committed.
    pub rows: u64,
    /// Transactions committed.
    pub transactions: u64,
}

/// `load TABLE FILE [--format F] [--batch N] [--atomic]`: rows inserted, `batch` to a
/// transaction (one for all with `atomic`), each checked as `insert` checks it. The first bad
/// line stops the load: every row before it is committed and stays, it and the rows after it
/// are not loaded (with `atomic`: nothing is), and the error says which line and what was kept.
/// `sent`: the file's contents as a client sent them (`--url`), read instead of `file`.
#[allow(clippy::too_many_arguments)]
pub fn load(
    db: &Db,
    table: &str,
    file: &Path,
    sent: Option<&[u8]>,
    format: Option<RowFormat>,
    batch: usize,
    atomic: bool,
    audit: &Audit,
    bars: bool,
) -> Result<Outcome, Failure> {
    let def = db.table_def(table)?;
    let stdin = file.as_os_str() == "-";
    let format = format.unwrap_or_else(|| match file.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("csv") => RowFormat::Csv,
        _ => RowFormat::Jsonl,
    });
    let (input, total): (Box<dyn Read + '_>, Option<u64>) = if let Some(bytes) = sent {
        (Box::new(bytes), Some(bytes.len() as u64))
    } else if stdin {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        let f = std::fs::File::open(file)
            .map_err(|e| fail(2, format!("cannot read {}: {e}", file.display())))?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(f), len)
    };
    let bar = match total {
        Some(len) => output::count_bar(bars, "loading", len, "bytes"),
        None => output::spinner(bars, "loading"),
    };
    let counted = Counted {
        inner: input,
        read: 0,
        bar: bar.clone(),
    };
    let rows = parse_rows(counted, format, &def);
    let batch = if atomic { usize::MAX } else { batch.max(1) };
    let mut loaded = Loaded {
        table: table.to_string(),
        rows: 0,
        transactions: 0,
    };
    let mut pending: Vec<(u64, Row)> = Vec::new();
    let mut stopped: Option<Failure> = None;
    for item in rows {
        match item {
            Ok(numbered) => pending.push(numbered),
            Err(f) => {
                stopped = Some(f);
                break;
            }
        }
        if pending.len() >= batch {
            if let Err(f) = commit(db, table, &mut pending, audit, &mut loaded, atomic) {
                stopped = Some(f);
                break;
            }
        }
    }
    // what came before a bad line is loaded (unless all or nothing)
    if !pending.is_empty() && (stopped.is_none() || !atomic) {
        if let Err(f) = commit(db, table, &mut pending, audit, &mut loaded, atomic) {
            // a row before the line that stopped the reading is the first bad one
            stopped = Some(f);
        }
    }
    output::clear(bar);
    match stopped {
        None => Ok(Outcome::Loaded(loaded)),
        Some(f) => Err(fail(
            2,
            if loaded.rows == 0 {
                format!("{}; nothing was loaded", f.message)
            } else {
                format!(
                    "{}; the {} row(s) before it were committed in {} transaction(s) and stay, \
                     it and the rows after it were not loaded (--atomic loads all or nothing)",
                    f.message, loaded.rows, loaded.transactions
                )
            },
        )),
    }
}

/// Inserts `pending` in one transaction; a row that does not insert names its line, and
/// (unless `atomic`) the rows before it are committed in a transaction of their own. A
/// transaction that fails as a whole (at its commit) names its lines and keeps nothing of them.
fn commit(
    db: &Db,
    table: &str,
    pending: &mut Vec<(u64, Row)>,
    audit: &Audit,
    loaded: &mut Loaded,
    atomic: bool,
) -> Result<(), Failure> {
    let rows = std::mem::take(pending);
    let (bad, failed) = match insert_all(db, table, &rows, audit, loaded) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    let Some(at) = bad else {
        let (first, last) = (
            rows.first().map_or(0, |(l, _)| *l),
            rows.last().map_or(0, |(l, _)| *l),
        );
        return Err(fail(
            2,
            format!(
                "lines {first}-{last}: their transaction failed: {}",
                failed.message
            ),
        ));
    };
    let line = rows.get(at).map_or(0, |(l, _)| *l);
    let failure = fail(2, format!("line {line}: {}", failed.message));
    if at > 0 && !atomic {
        let before = rows.get(..at).unwrap_or_default();
        insert_all(db, table, before, audit, loaded)
            .map_err(|(_, f)| fail(2, format!("{}; then {}", failure.message, f.message)))?;
    }
    Err(failure)
}

/// Inserts `rows` in one transaction and counts them as loaded; on failure, the index of the
/// row whose insert failed (`None`: the commit itself failed) and why.
fn insert_all(
    db: &Db,
    table: &str,
    rows: &[(u64, Row)],
    audit: &Audit,
    loaded: &mut Loaded,
) -> Result<(), (Option<usize>, Failure)> {
    let mut bad = None;
    super::audited(db, audit, |tx| {
        for (i, (_, row)) in rows.iter().enumerate() {
            tx.insert(table, row.clone())
                .inspect_err(|_| bad = Some(i))?;
        }
        Ok(())
    })
    .map_err(|f| (bad, f))?;
    loaded.rows += rows.len() as u64;
    loaded.transactions += 1;
    Ok(())
}

/// A reader that moves a progress bar by the bytes read.
struct Counted<'a> {
    inner: Box<dyn Read + 'a>,
    read: u64,
    bar: Option<indicatif::ProgressBar>,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        output::advance(self.bar.as_ref(), self.read);
        Ok(n)
    }
}

/// The rows of the input with their line numbers (1-based; a CSV row: the line it starts on).
fn parse_rows<'a>(
    input: Counted<'a>,
    format: RowFormat,
    def: &'a TableDef,
) -> Box<dyn Iterator<Item = Result<(u64, Row), Failure>> + 'a> {
    match format {
        RowFormat::Jsonl => {
            let lines = std::io::BufReader::new(input).lines();
            Box::new(
                lines
                    .enumerate()
                    .filter_map(|(i, line)| {
                        let n = i as u64 + 1;
                        match line {
                            Err(e) => Some(Err(fail(2, format!("line {n}: cannot read it: {e}")))),
                            Ok(l) if l.trim().is_empty() => None,
                            Ok(l) => Some(
                                Row::from_json_str(&l)
                                    .map(|r| (n, r))
                                    .map_err(|e| fail(2, format!("line {n}: {e}"))),
                            ),
                        }
                    })
                    .fuse(),
            )
        }
        RowFormat::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(true)
                .flexible(false)
                .from_reader(input);
            let header: Result<Vec<(String, ColumnType)>, Failure> = match reader.headers() {
                Err(e) => Err(fail(2, format!("line 1: not a CSV header: {e}"))),
                Ok(h) => h
                    .iter()
                    .map(|name| {
                        let name = name.trim();
                        def.columns
                            .iter()
                            .find(|c| c.name == name)
                            .map(|c| (c.name.clone(), c.ty))
                            .ok_or_else(|| {
                                fail(
                                    2,
                                    format!(
                                        "line 1: table `{}` has no column `{name}` (the header \
                                         names the columns: {})",
                                        def.name,
                                        def.columns
                                            .iter()
                                            .map(|c| c.name.as_str())
                                            .collect::<Vec<_>>()
                                            .join(", ")
                                    ),
                                )
                            })
                    })
                    .collect(),
            };
            let header = match header {
                Ok(h) => h,
                Err(f) => return Box::new(std::iter::once(Err(f))),
            };
            Box::new(
                reader
                    .into_records()
                    .map(move |rec| {
                        let rec = rec.map_err(|e| {
                            let line = e.position().map_or(0, |p| p.line());
                            fail(2, format!("line {line}: not a CSV row: {e}"))
                        })?;
                        let line = rec.position().map_or(0, |p| p.line());
                        let mut row = Row::new();
                        for ((name, ty), field) in header.iter().zip(rec.iter()) {
                            let v = csv_value(field, *ty).map_err(|why| {
                                fail(2, format!("line {line}: column `{name}`: {why}"))
                            })?;
                            row = row.with(name.as_str(), v);
                        }
                        Ok((line, row))
                    })
                    .scan(false, |failed, item| {
                        // stop after the first error
                        if *failed {
                            return None;
                        }
                        *failed = item.is_err();
                        Some(item)
                    }),
            )
        }
    }
}

/// A CSV field as a value of a column of type `ty`: an empty field is NULL; text, uuid and
/// timestamp columns take the text (checked by the insert), bytes take base64.
fn csv_value(field: &str, ty: ColumnType) -> Result<Value, String> {
    if field.is_empty() {
        return Ok(Value::Null);
    }
    let json = match ty {
        ColumnType::Int => serde_json::Value::from(
            field
                .trim()
                .parse::<i64>()
                .map_err(|_| format!("`{field}` is not an integer"))?,
        ),
        ColumnType::Float => {
            let t = field.trim();
            match t {
                "NaN" | "Infinity" | "-Infinity" => serde_json::Value::from(t),
                _ => serde_json::Value::from(
                    t.parse::<f64>()
                        .map_err(|_| format!("`{field}` is not a number"))?,
                ),
            }
        }
        ColumnType::Bool => match field.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => serde_json::Value::Bool(true),
            "false" | "0" => serde_json::Value::Bool(false),
            _ => return Err(format!("`{field}` is not true or false")),
        },
        _ => serde_json::Value::from(field),
    };
    Value::from_json(&json).map_err(|e| e.to_string())
}

/// `rows` of `def` as JSON lines or CSV (a header of the table's columns first).
pub fn write_rows(def: &TableDef, rows: &[Row], format: RowFormat) -> Result<String, Failure> {
    match format {
        RowFormat::Jsonl => {
            let mut out = String::new();
            for r in rows {
                out.push_str(&r.to_json().to_string());
                out.push('\n');
            }
            Ok(out)
        }
        RowFormat::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            let names: Vec<&str> = def.columns.iter().map(|c| c.name.as_str()).collect();
            let cell = |e: csv::Error| fail(2, format!("cannot write CSV: {e}"));
            w.write_record(&names).map_err(cell)?;
            for r in rows {
                let fields: Vec<String> = names
                    .iter()
                    .map(|n| match r.get(n) {
                        None | Some(Value::Null) => String::new(),
                        Some(Value::Text(s)) => s.clone(),
                        Some(v) => match v.to_json() {
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        },
                    })
                    .collect();
                w.write_record(&fields).map_err(cell)?;
            }
            let bytes = w
                .into_inner()
                .map_err(|e| fail(2, format!("cannot write CSV: {e}")))?;
            String::from_utf8(bytes).map_err(|e| fail(2, format!("cannot write CSV: {e}")))
        }
    }
}
