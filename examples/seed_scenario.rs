//! The seed question, answered: "if I delete a row, I want to reverse that delete later, with
//! its related rows, without filtering every query on an is_deleted flag."
//!
//! Run: `cargo run --example seed_scenario`

use lazarusdb::{
    Audit, ColumnType, Db, Error, OnDelete, Readable, RestorePolicy, Row, Scan, TableBuilder,
    TrashQuery,
};

fn ids(db: &Db, table: &str) -> Result<Vec<String>, Error> {
    Ok(db
        .scan(table, Scan::all())?
        .iter()
        .filter_map(|r| r.get("id").map(|v| v.to_string()))
        .collect())
}

fn main() -> Result<(), Error> {
    let db = Db::temporary()?;
    db.create_table(
        TableBuilder::new("a")
            .column(("id", ColumnType::Int))
            .column(("data1", ColumnType::Text))
            .column(("data2", ColumnType::Text))
            .primary_key("id"),
    )?;
    db.create_table(
        TableBuilder::new("b")
            .column(("id", ColumnType::Int))
            .column(("data1", ColumnType::Text))
            .column(("a_id", ColumnType::Int))
            .primary_key("id")
            .foreign_key("a_id", "a", OnDelete::Cascade),
    )?;
    db.transaction(|tx| {
        for i in 1..=4 {
            tx.insert(
                "a",
                Row::new()
                    .with("data1", format!("a{i}d1"))
                    .with("data2", format!("a{i}d2")),
            )?;
        }
        for (i, a) in [1, 1, 3, 4].iter().enumerate() {
            tx.insert(
                "b",
                Row::new()
                    .with("data1", format!("b{}", i + 1))
                    .with("a_id", *a),
            )?;
        }
        Ok::<_, Error>(())
    })?;

    // b3 on its own, then a3, then a1 (which takes b1 and b2 with it).
    let b3 = db.delete_with("b", 3, &Audit::by("example").because("duplicate"))?;
    let a3 = db.delete("a", 3)?;
    let a1 = db.delete("a", 1)?;
    println!(
        "after the deletes: a = {:?}, b = {:?}",
        ids(&db, "a")?,
        ids(&db, "b")?
    );
    for d in db.trash(&TrashQuery::all())? {
        println!(
            "  in the trash: {} ({} rows, root {})",
            d.id,
            d.row_count(),
            d.roots.first().map(|r| r.to_string()).unwrap_or_default()
        );
    }

    db.restore(a3.deletion, RestorePolicy::Refuse)?;
    println!(
        "a3 restored:   a = {:?}, b = {:?} (b3 stays deleted)",
        ids(&db, "a")?,
        ids(&db, "b")?
    );
    db.restore(b3.deletion, RestorePolicy::Refuse)?;
    db.restore(a1.deletion, RestorePolicy::Refuse)?;
    println!(
        "all restored:  a = {:?}, b = {:?}",
        ids(&db, "a")?,
        ids(&db, "b")?
    );
    for c in db.history("b", 1)? {
        println!(
            "  b1 history: lsn {} {} {:?}",
            c.lsn,
            c.kind.name(),
            c.deletion
        );
    }
    Ok(())
}
