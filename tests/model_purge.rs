#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
use lazarusdb::*;

fn db(keep: bool) -> Db {
    let db = Db::memory().unwrap();
    db.apply_schema(&[
        TableBuilder::new("parent").column(("id", ColumnType::Int)).column(("v", ColumnType::Text)).primary_key("id").trash_keeps_keys(keep).build(),
        TableBuilder::new("note").column(("id", ColumnType::Int)).column(ColumnDef::new("pid", ColumnType::Int).nullable()).column(("v", ColumnType::Text)).primary_key("id").trash_keeps_keys(keep).foreign_key("pid", "parent", OnDelete::SetNull).build(),
    ]).unwrap();
    db
}

#[test]
fn probe1() {
    let db = db(false);
    db.insert("parent", Row::new().with("id", 1).with("v", "a")).unwrap();
    let d0 = db.delete("parent", 1).unwrap().deletion;
    db.insert("parent", Row::new().with("id", 1).with("v", "b")).unwrap();
    let lsn = db.last_lsn();
    let r = db.purge(d0, &Audit::default());
    println!("probe1 purge: {r:?} lsn same {}", lsn == db.last_lsn());
    println!("verify {:?}", db.verify().unwrap().differences);
    println!("get {:?}", db.get("parent", 1));
    println!("asof {:?}", db.as_of(lsn).unwrap().get("parent", 1));
}

#[test]
fn probe2() {
    let db = db(false);
    db.insert("parent", Row::new().with("id", 1).with("v", "a")).unwrap();
    let d0 = db.delete("parent", 1).unwrap().deletion;
    db.insert("parent", Row::new().with("id", 1).with("v", "b")).unwrap();
    let d1 = db.delete("parent", 1).unwrap().deletion;
    let r = db.purge(d0, &Audit::default());
    println!("probe2 purge: {r:?}");
    println!("verify {:?}", db.verify().unwrap().differences);
    println!("trash {:?}", db.trash(&TrashQuery::all()).unwrap());
    println!("restore d1 {:?}", db.restore(d1, RestorePolicy::Refuse));
    println!("get {:?}", db.get("parent", 1));
    println!("verify {:?}", db.verify().unwrap().differences);
}

#[test]
fn probe3() {
    let db = db(true);
    db.insert("parent", Row::new().with("id", 1).with("v", "a")).unwrap();
    db.insert("note", Row::new().with("id", 5).with("pid", 1).with("v", "n")).unwrap();
    let d0 = db.delete("parent", 1).unwrap().deletion;
    let r = db.erase("note", 5, &Audit::default());
    println!("probe3 erase: {r:?}");
    println!("verify {:?}", db.verify().unwrap().differences);
    println!("rows {:?}", db.deletion_rows(d0));
    println!("trash {:?}", db.trash(&TrashQuery::all()));
    println!("restore d0 {:?}", db.restore(d0, RestorePolicy::Refuse));
    println!("purge d0 {:?}", db.purge(d0, &Audit::default()));
    println!("verify {:?}", db.verify().unwrap().differences);
}
