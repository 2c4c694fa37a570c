//! A notes app with a trash can: notebooks → notes (cascade), notes ↔ tags through a join table
//! (deleting a note takes its tag links with it; deleting a tag is refused while notes use it).
//! Deleting a notebook moves it, its notes and their tag links to the trash as one deletion;
//! "undo" restores all of it.
//!
//! Run: `cargo run --example trash_can`

use lazarusdb::{
    ColumnDef, ColumnType, Db, Error, OnDelete, Readable, RestorePolicy, Row, TableBuilder,
    TrashQuery,
};

fn main() -> Result<(), Error> {
    let db = Db::temporary()?;
    db.create_table(
        TableBuilder::new("notebook")
            .column(("id", ColumnType::Int))
            .column(("title", ColumnType::Text))
            .primary_key("id")
            .unique(["title"]),
    )?;
    db.create_table(
        TableBuilder::new("note")
            .column(("id", ColumnType::Uuid))
            .column(("notebook_id", ColumnType::Int))
            .column(("body", ColumnType::Text))
            .column(ColumnDef::new("pinned", ColumnType::Bool).with_default(false))
            .primary_key("id")
            .foreign_key("notebook_id", "notebook", OnDelete::Cascade),
    )?;
    db.create_table(
        TableBuilder::new("tag")
            .column(("name", ColumnType::Text))
            .primary_key("name"),
    )?;
    db.create_table(
        TableBuilder::new("note_tag")
            .column(("id", ColumnType::Int))
            .column(("note_id", ColumnType::Uuid))
            .column(("tag", ColumnType::Text))
            .primary_key("id")
            .unique(["note_id", "tag"])
            .foreign_key("note_id", "note", OnDelete::Cascade)
            .foreign_key("tag", "tag", OnDelete::Restrict),
    )?;

    db.transaction(|tx| {
        tx.insert("tag", Row::new().with("name", "work"))?;
        tx.insert("tag", Row::new().with("name", "idea"))?;
        let nb = tx.insert("notebook", Row::new().with("title", "Projects"))?;
        let nb_id = nb.get("id").cloned().unwrap_or_default();
        for (body, tags) in [
            ("ship v1", vec!["work"]),
            ("a better trash", vec!["work", "idea"]),
        ] {
            let note = tx.insert(
                "note",
                Row::new()
                    .with("notebook_id", nb_id.clone())
                    .with("body", body),
            )?;
            let note_id = note.get("id").cloned().unwrap_or_default();
            for t in tags {
                tx.insert(
                    "note_tag",
                    Row::new().with("note_id", note_id.clone()).with("tag", t),
                )?;
            }
        }
        Ok::<_, Error>(())
    })?;
    println!(
        "notes: {}, tag links: {}",
        db.count("note")?,
        db.count("note_tag")?
    );

    match db.delete("tag", "work") {
        Err(e) => println!("deleting a tag in use is refused: {e}"),
        Ok(_) => println!("unexpected: the tag was deleted"),
    }

    let gone = db.delete("notebook", 1)?;
    println!(
        "deleted notebook 1: {} rows went to the trash together; notes now: {}, links now: {}",
        gone.rows.len(),
        db.count("note")?,
        db.count("note_tag")?
    );
    for d in db.trash(&TrashQuery::all().table("note"))? {
        let counts: Vec<String> = d.rows.iter().map(|(t, n)| format!("{n} {t}")).collect();
        println!("trash: {} — {}", d.id, counts.join(", "));
        for r in db.deletion_rows(d.id)? {
            println!("  {} → {}", r.row_ref, r.row.to_json());
        }
    }

    let plan = db.restore(gone.deletion, RestorePolicy::Refuse)?;
    println!(
        "undo: {} rows back; notes: {}, links: {}, trash: {} deletion(s)",
        plan.rows.len(),
        db.count("note")?,
        db.count("note_tag")?,
        db.trash(&TrashQuery::all())?.len()
    );
    Ok(())
}
