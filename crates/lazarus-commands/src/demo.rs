//! `demo`: the story of the seed question, told on a fresh store. The story is gathered as
//! [`Part`]s — narration, and the tables the commands would show — and told by
//! [`crate::render`]; under `--json` only its [`Summary`] is printed.

use lazarusdb::{
    Audit, ColumnType, Db, EngineKind, Error, OnDelete, Options, Readable, RestorePolicy, Row,
    Scan, TableBuilder, TrashQuery, VerifyReport,
};

use crate::commands::store::schema_of;
use crate::commands::trash::trashed;
use crate::commands::{closing, Outcome, Place, Rows};
use crate::Failure;

/// The demo as told: the story and its summary.
pub struct Demo {
    /// The story, in order.
    pub story: Vec<Part>,
    /// What the store holds at the end (the `--json` document).
    pub summary: Summary,
}

/// A part of the story.
pub enum Part {
    /// A paragraph of narration, after a blank line.
    Say(String),
    /// A line of narration.
    Line(String),
    /// What a command shows.
    Show(Outcome),
}

/// The store at the end of the story.
pub struct Summary {
    /// Where the store is (`memory` for one that is nowhere on disk).
    pub store: String,
    /// Its engine.
    pub engine: EngineKind,
    /// Its last LSN.
    pub last_lsn: u64,
    /// The live primary keys of the tables a and b.
    pub tables: Vec<(String, Vec<String>)>,
    /// The verdict of `verify`.
    pub verify: VerifyReport,
}

/// `demo`: the story on a fresh temporary store, unless `on_disk` (`--db` given explicitly):
/// then on a fresh store at `place`. The store is closed at the end. `for_page`: one more
/// deletion is made and left in the trash, for the trash page of `demo --serve`.
pub fn demo(place: &Place<'_>, on_disk: bool, for_page: bool) -> Result<Outcome, Failure> {
    let db = if let Some((url, store)) = place.postgres() {
        let db = Db::open_postgres(&url, &store)?;
        if db.last_lsn() != 0 {
            return Err(crate::fail(
                2,
                format!(
                    "the demo tells its story on a fresh store, and the PostgreSQL store \
                     `{store}` already holds something: give a new ?store=NAME"
                ),
            ));
        }
        db
    } else if on_disk {
        let occupied = std::fs::read_dir(place.path).is_ok_and(|mut d| d.next().is_some());
        if occupied {
            return Err(crate::fail(
                2,
                format!(
                    "the demo tells its story on a fresh store, and {} already holds something \
                     (a store from an earlier run?): give a new --db path, remove that one, or \
                     leave --db out for a temporary store",
                    place.path.display()
                ),
            ));
        }
        let options = Options {
            engine: place.engine()?,
            ..Options::default()
        };
        Db::open_with(place.path, options)?
    } else {
        let options = Options {
            engine: match place.engine {
                Some("sled") => Some(EngineKind::Sled),
                _ => None,
            },
            ..Options::default()
        };
        Db::temporary_with(options)?
    };
    closing(db, |db| story(db, for_page).map(Outcome::Demo))
}

/// The story as it is told, part by part.
struct Story(Vec<Part>);

impl Story {
    /// A paragraph of narration.
    fn say(&mut self, text: &str) {
        self.0.push(Part::Say(text.to_string()));
    }

    /// A line of narration.
    fn line(&mut self, text: String) {
        self.0.push(Part::Line(text));
    }

    /// The rows of `table`, counted.
    fn rows(&mut self, db: &Db, table: &str, rows: Vec<Row>) -> Result<(), Failure> {
        self.0
            .push(Part::Show(Outcome::Rows(Rows::of(db, table, rows)?)));
        Ok(())
    }

    /// What a command shows.
    fn show(&mut self, outcome: Outcome) {
        self.0.push(Part::Show(outcome));
    }

    /// The live keys of a and b.
    fn live(&mut self, db: &Db) -> Result<(), Failure> {
        self.line(format!(
            "   live a: {}   live b: {}",
            ids(db, "a")?.join(", "),
            ids(db, "b")?.join(", ")
        ));
        Ok(())
    }
}

/// The demo's story, told on an open store.
fn story(db: &Db, for_page: bool) -> Result<Demo, Failure> {
    let mut s = Story(Vec::new());
    let where_ = db
        .path()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "memory".into());
    s.say(&format!(
        "lazarusdb demo — a fresh {} store at {where_}",
        db.engine()
    ));
    s.say(
        "The question that started this: \"If I delete a row, I want to be able to reverse that\n\
         delete later, with its related rows — without an is_deleted flag that every query\n\
         must filter, and without copying rows into shadow tables by hand.\"",
    );
    s.say("1. Two related tables, as in the question: a(id, data1, data2) and b(id, data1, a_id → a).\n   The foreign key is declared with on_delete = cascade.");
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
    s.show(Outcome::Schema(schema_of(db)?));

    s.say("2. Four a rows and four b rows, in one transaction (all of it lands, or none).\n   Integer keys are assigned by the store: increasing, never reused.");
    db.transaction(|tx| {
        for i in 1..=4 {
            tx.insert(
                "a",
                Row::new()
                    .with("data1", format!("a{i}d1"))
                    .with("data2", format!("a{i}d2")),
            )?;
        }
        for (i, parent) in [1, 1, 3, 4].iter().enumerate() {
            tx.insert(
                "b",
                Row::new()
                    .with("data1", format!("b{}", i + 1))
                    .with("a_id", *parent),
            )?;
        }
        Ok::<_, Error>(())
    })?;
    s.rows(db, "a", db.scan("a", Scan::all())?)?;
    s.rows(db, "b", db.scan("b", Scan::all())?)?;

    s.say("3. A dangling reference is refused before anything is written:");
    s.line(
        match db.insert("b", Row::new().with("data1", "orphan").with("a_id", 99)) {
            Err(e) => format!("   refused: {e}"),
            Ok(_) => "   (unexpectedly accepted)".into(),
        },
    );

    s.say("4. An update is an event too: the row keeps every version.");
    let before_edit = db.last_lsn();
    db.update("a", 1, Row::new().with("data2", "a1d2 (edited)"))?;
    s.show(Outcome::Changes(db.history("a", 1)?));

    s.say("5. Relations are live views: the children of a1 through the foreign key, no join, no filter.");
    s.rows(db, "b", db.children("a", 1, "b")?)?;

    s.say("6. Everything is in the append-only log, each event with its LSN and transaction:");
    s.show(Outcome::Changes(db.changes(1, None)?));

    s.say("7. b3 is deleted on its own. Then a3. Then a1 — which takes b1 and b2 with it, as ONE\n   deletion with an id: the rows are tombstoned (events), never overwritten.");
    let d_b3 = db.delete_with("b", 3, &Audit::by("demo").because("b3 was a duplicate"))?;
    let d_a3 = db.delete_with("a", 3, &Audit::by("demo").because("cleanup"))?;
    let d_a1 = db.delete_with("a", 1, &Audit::by("demo").because("oops: wrong row"))?;
    let shown: Vec<String> = d_a1.rows.iter().map(|r| r.to_string()).collect();
    s.line(format!(
        "   deletion {} tombstoned: {}",
        d_a1.deletion,
        shown.join(", ")
    ));

    s.say("8. Live reads never see deleted rows — and no query says `is_deleted`. A scan of a, of b,\n   and the children of a1 (gone with it):");
    s.rows(db, "a", db.scan("a", Scan::all())?)?;
    s.rows(db, "b", db.scan("b", Scan::all())?)?;
    s.line(format!(
        "   children of a1: {} row(s)",
        db.children("a", 1, "b")?.len()
    ));
    s.line(
        match db.insert("b", Row::new().with("data1", "late").with("a_id", 1)) {
            Err(e) => format!("   a new row cannot point at a deleted parent: {e}"),
            Ok(_) => "   (unexpectedly accepted)".into(),
        },
    );

    s.say("9. The trash, newest first: each deletion with its root row, its rows, who and why.");
    s.show(Outcome::Trash(trashed(db, &TrashQuery::all())?));

    s.say("10. Restore a3's deletion. a3 comes back — but not b3: b3 was deleted on its own, earlier,\n    and stays in the trash until its own deletion is restored.");
    db.restore(d_a3.deletion, RestorePolicy::Refuse)?;
    s.live(db)?;

    s.say("11. Restore a1's deletion: a1, b1 and b2 come back together, atomically, as compensating\n    events. Then b3's.");
    let plan = db.restore_plan(d_a1.deletion, RestorePolicy::Refuse)?;
    let back: Vec<String> = plan.rows.iter().map(|r| r.to_string()).collect();
    s.line(format!(
        "   dry run: would restore {} (parents first), {} conflict(s)",
        back.join(", "),
        plan.conflicts.len()
    ));
    db.restore(d_a1.deletion, RestorePolicy::Refuse)?;
    db.restore(d_b3.deletion, RestorePolicy::Refuse)?;
    s.live(db)?;
    s.line(match db.restore(d_a1.deletion, RestorePolicy::Refuse) {
        Err(e) => format!("   restoring twice: {e}"),
        Ok(_) => "   (unexpectedly restored twice)".into(),
    });

    s.say("12. Nothing was lost on the way: the history of b1 keeps its insert, its tombstone (with the\n    deletion id) and its restore.");
    s.show(Outcome::Changes(db.history("b", 1)?));

    s.say(&format!(
        "13. Any read can be made as of a past point: a1 as it was before its edit (lsn {before_edit}),\n    \
         then now."
    ));
    let then = db.as_of(before_edit)?.get("a", 1)?;
    s.rows(db, "a", then.into_iter().collect())?;
    s.rows(db, "a", db.get("a", 1)?.into_iter().collect())?;

    s.say("14. A bad bulk update hits every a row. restore-to puts the store back as it was just\n    before it, with compensating events; diff shows what differed.");
    let before_bulk = db.last_lsn();
    db.transaction(|tx| {
        for r in tx.scan("a", Scan::all())? {
            if let Some(id) = r.get("id").cloned() {
                tx.update("a", id, Row::new().with("data1", "OVERWRITTEN"))?;
            }
        }
        Ok::<_, Error>(())
    })?;
    s.rows(db, "a", db.scan("a", Scan::all())?)?;
    let diff = db.diff(before_bulk, lazarusdb::At::Now, Some("a"))?;
    s.line(format!(
        "   diff from lsn {before_bulk} to now: {} row(s) of a changed",
        diff.len()
    ));
    let plan = db.restore_table_to("a", before_bulk)?;
    s.line(format!(
        "   restore-to lsn {before_bulk}: {} row(s) put back",
        plan.reverted.len()
    ));
    s.rows(db, "a", db.scan("a", Scan::all())?)?;

    s.say("15. The restore-to is a transaction like any other: undo it, and the bulk update is back.\n    Undo that too, and it is gone again. Nothing is ever lost on the way.");
    let restore_tx = last_tx(db)?;
    db.undo(restore_tx, false)?;
    s.line(format!(
        "   after undo of transaction {restore_tx}: a1 data1 = {}",
        data1(db)?
    ));
    let undo_tx = last_tx(db)?;
    db.undo(undo_tx, false)?;
    s.line(format!(
        "   after undo of transaction {undo_tx}: a1 data1 = {}",
        data1(db)?
    ));

    let report = db.verify()?;
    s.say(&format!(
        "16. verify: the live views equal a rebuild from the log ({} events, {} view keys, {} differences).",
        report.events,
        report.keys,
        report.differences.len()
    ));
    if for_page {
        let d = db.delete_with(
            "a",
            1,
            &Audit::by("demo").because("left in the trash for the page"),
        )?;
        s.say(&format!(
            "17. For the trash page: a1 is deleted once more, with b1 and b2, and left in the trash\n    \
             (deletion {}). Restore it from the page, or: lazarus --url URL restore {}",
            d.deletion, d.deletion
        ));
    }
    Ok(Demo {
        story: s.0,
        summary: Summary {
            store: where_,
            engine: db.engine(),
            last_lsn: db.last_lsn(),
            tables: vec![("a".into(), ids(db, "a")?), ("b".into(), ids(db, "b")?)],
            verify: report,
        },
    })
}

/// The transaction of the last event.
fn last_tx(db: &Db) -> Result<u64, Failure> {
    Ok(db
        .changes(db.last_lsn(), Some(1))?
        .first()
        .map_or(0, |c| c.tx))
}

/// a1's data1, as text.
fn data1(db: &Db) -> Result<String, Failure> {
    Ok(db
        .get("a", 1)?
        .and_then(|r| {
            r.get("data1").map(|v| match v {
                lazarusdb::Value::Text(t) => t.clone(),
                other => other.to_string(),
            })
        })
        .unwrap_or_else(|| "(no row)".into()))
}

/// The primary keys of the live rows of `table`, as text.
fn ids(db: &Db, table: &str) -> Result<Vec<String>, Failure> {
    let pk = db.table_def(table)?.primary_key;
    Ok(db
        .scan(table, Scan::all())?
        .iter()
        .map(|r| r.get(&pk).map(|v| v.to_string()).unwrap_or_default())
        .collect())
}
