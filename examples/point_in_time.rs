//! Point-in-time recovery: a bad batch job corrupts a table; find when, see the damage with a
//! diff, restore the table to just before, and (having second thoughts) undo that restore.
//!
//! Run: `cargo run --example point_in_time`

use lazarusdb::{ColumnType, Db, Error, Readable, Row, Scan, TableBuilder};

fn show(db: &impl Readable) -> Result<String, Error> {
    Ok(db
        .scan("price", Scan::all())?
        .iter()
        .map(|r| {
            format!(
                "{}={}",
                r.get("sku").and_then(|v| v.as_text()).unwrap_or_default(),
                r.get("cents").map(|v| v.to_string()).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(" "))
}

fn main() -> Result<(), Error> {
    let db = Db::temporary()?;
    db.create_table(
        TableBuilder::new("price")
            .column(("sku", ColumnType::Text))
            .column(("cents", ColumnType::Int))
            .primary_key("sku"),
    )?;
    db.transaction(|tx| {
        for (sku, cents) in [("apple", 120), ("bread", 250), ("cheese", 900)] {
            tx.insert("price", Row::new().with("sku", sku).with("cents", cents))?;
        }
        Ok::<_, Error>(())
    })?;
    db.update("price", "bread", Row::new().with("cents", 260))?;
    println!("prices:            {}", show(&db)?);

    // The nightly job goes wrong: every price divided by 100, one product deleted, junk added.
    let job = db.transaction(|tx| {
        tx.set_actor("nightly-job");
        for sku in ["apple", "bread", "cheese"] {
            let cents = tx
                .get("price", sku)?
                .and_then(|r| r.get("cents").and_then(|v| v.as_int()))
                .unwrap_or(0);
            tx.update("price", sku, Row::new().with("cents", cents / 100))?;
        }
        tx.delete("price", "cheese")?;
        tx.insert("price", Row::new().with("sku", "zzz").with("cents", 0))?;
        Ok::<_, Error>(tx.id())
    })?;
    println!("after the job:     {}", show(&db)?);

    // Find when: the history of one damaged row names the transaction and its actor.
    let last = db.history("price", "apple")?.pop();
    if let Some(c) = &last {
        println!(
            "apple last changed by tx {} at {} ({:?})",
            c.tx, c.at, c.actor
        );
    }
    let before_job = db
        .transaction_record(job)?
        .map(|t| t.first_lsn - 1)
        .unwrap_or(0);
    println!(
        "as of lsn {before_job}:      {}",
        show(&db.as_of(before_job)?)?
    );

    // The damage, row by row.
    for d in db.diff(before_job, db.last_lsn(), Some("price"))? {
        let cols: Vec<String> = d
            .changes
            .iter()
            .map(|c| format!("{}: {} -> {}", c.column, c.before, c.after))
            .collect();
        println!("  {} {} {}", d.kind.name(), d.row, cols.join(", "));
    }

    // Restore the table to just before the job (compensating events, one transaction).
    let plan = db.restore_table_to("price", before_job)?;
    println!(
        "restored:          {}  ({} reverted, {} back from the trash, {} tombstoned)",
        show(&db)?,
        plan.reverted.len(),
        plan.restored.len(),
        plan.tombstoned.len()
    );

    // That restore is itself a transaction in the log: it can be undone.
    let restore_tx = db
        .history("price", "apple")?
        .pop()
        .map(|c| c.tx)
        .unwrap_or(0);
    db.undo(restore_tx, false)?;
    println!("restore undone:    {}", show(&db)?);
    db.restore_table_to("price", before_job)?;
    println!("and restored again: {}", show(&db)?);
    Ok(())
}
