//! The writer that the harness kills to leave a store as a crash leaves it: a `lazarus` process
//! (`lazarus bench --crash-writer STORE`) committing rows until it is killed.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use lazarusdb::{ColumnType, Db, Options, Readable, Row, TableBuilder};

use crate::error::{io, BenchError, Result};
use crate::workloads::WRITING;

/// Rows per transaction of the crash writer.
const ROWS_PER_TX: usize = 100;

/// Transactions committed before the writer says it is writing.
const BEFORE_SAYING: usize = 20;

/// How long the writer goes on when nobody kills it.
const AT_MOST: Duration = Duration::from_secs(60);

/// Opens the existing store at `store` and commits transactions of 100 rows into its `event`
/// table (created when missing), each durable as the store's default says; after the first 20
/// it prints `writing` on `out`. It is meant to be killed: after a minute it stops with an
/// error.
pub fn write_until_killed(store: &Path, out: &mut dyn Write) -> Result<()> {
    let db = Db::open_with(
        store,
        Options {
            must_exist: true,
            ..Options::default()
        },
    )?;
    if !db.tables()?.iter().any(|t| t == "event") {
        db.create_table(
            TableBuilder::new("event")
                .column(("id", ColumnType::Int))
                .column(("body", ColumnType::Text))
                .primary_key("id"),
        )?;
    }
    let start = Instant::now();
    let mut done = 0;
    while start.elapsed() < AT_MOST {
        db.transaction(|tx| {
            for _ in 0..ROWS_PER_TX {
                tx.insert(
                    "event",
                    Row::new().with("body", "an event written before the crash"),
                )?;
            }
            Ok::<_, lazarusdb::Error>(())
        })?;
        done += 1;
        if done == BEFORE_SAYING {
            writeln!(out, "{WRITING}")
                .and_then(|()| out.flush())
                .map_err(io("standard output"))?;
        }
    }
    db.close()?;
    Err(BenchError::Child(
        "the crash writer was not killed within a minute".into(),
    ))
}
