//! How much a checkpoint saves a rebuild: a store of 10,000 rows with 20 versions each
//! (210,001 events) is rebuilt from the whole log, then checkpointed, changed by 1,000 updates,
//! and rebuilt from the checkpoint. Run: `cargo run --release --example rebuild_checkpoint`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use lazarusdb::{ColumnType, Db, Error, Row, TableBuilder};

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("store")).unwrap();
    db.create_table(
        TableBuilder::new("e")
            .column(("id", ColumnType::Int))
            .column(("b", ColumnType::Text))
            .primary_key("id"),
    )
    .unwrap();
    db.transaction(|tx| {
        for i in 0..10_000i64 {
            tx.insert(
                "e",
                Row::new()
                    .with("id", i)
                    .with("b", "a row of the rebuild bench"),
            )?;
        }
        Ok::<_, Error>(())
    })
    .unwrap();
    for r in 0..20 {
        db.transaction(|tx| {
            for i in 0..10_000i64 {
                tx.update("e", i, Row::new().with("b", format!("version {r}")))?;
            }
            Ok::<_, Error>(())
        })
        .unwrap();
    }
    let t = Instant::now();
    let n = db.rebuild().unwrap();
    println!(
        "rebuild from the whole log:   {n} events in {:?}",
        t.elapsed()
    );
    let t = Instant::now();
    let at = db.checkpoint().unwrap();
    println!("checkpoint at lsn {at}:       {:?}", t.elapsed());
    db.transaction(|tx| {
        for i in 0..1_000i64 {
            tx.update("e", i, Row::new().with("b", "changed"))?;
        }
        Ok::<_, Error>(())
    })
    .unwrap();
    let t = Instant::now();
    let n = db.rebuild().unwrap();
    println!(
        "rebuild from the checkpoint:  {n} events in {:?}",
        t.elapsed()
    );
    assert!(db.verify().unwrap().is_ok());
}
