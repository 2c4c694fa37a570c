//! `pg-bench`: lazarusdb on PostgreSQL beside PostgreSQL used directly (an `is_deleted` column)
//! and beside the embedded store (fjall-redb), one run, one table on standard output.
//!
//! ```sh
//! cargo run --release -p lazarus-bench --bin pg-bench -- --url postgres://postgres@127.0.0.1:15432/postgres
//! ```
//!
//! Workloads: ingest (rows in 1,000-row transactions), point gets, cascading delete of a parent
//! with 10 children and its restore, and durable one-row commits from 1, 4 and 16 writer
//! processes (this program run again as a writer). Every commit is durable on every side
//! (`synchronous_commit=on`; the embedded store's default, immediate durability).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use lazarusdb::{ColumnType, Db, OnDelete, Readable, RestorePolicy, Row, TableBuilder};
use postgres::{Client, NoTls};

const CHILDREN: i64 = 10;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn store_name(tag: &str) -> String {
    format!("bench_{tag}_{}", uuid::Uuid::now_v7().simple())
}

fn lazarus_schema(db: &Db) {
    db.create_table(
        TableBuilder::new("parent")
            .column(("id", ColumnType::Int))
            .column(("name", ColumnType::Text))
            .primary_key("id"),
    )
    .unwrap();
    db.create_table(
        TableBuilder::new("child")
            .column(("id", ColumnType::Int))
            .column(("parent_id", ColumnType::Int))
            .column(("note", ColumnType::Text))
            .primary_key("id")
            .foreign_key("parent_id", "parent", OnDelete::Cascade),
    )
    .unwrap();
}

fn direct_schema(c: &mut Client, schema: &str) {
    c.batch_execute(&format!(
        "CREATE SCHEMA {schema};
         CREATE TABLE {schema}.parent (id bigint PRIMARY KEY, name text NOT NULL,
           is_deleted boolean NOT NULL DEFAULT false);
         CREATE TABLE {schema}.child (id bigint PRIMARY KEY,
           parent_id bigint NOT NULL REFERENCES {schema}.parent(id), note text NOT NULL,
           is_deleted boolean NOT NULL DEFAULT false);
         CREATE INDEX ON {schema}.child (parent_id) WHERE NOT is_deleted;
         SET synchronous_commit = on;"
    ))
    .unwrap();
}

/// Rows: `parents` parents with 10 children each, in transactions of about 1,000 rows.
fn lazarus_ingest(db: &Db, parents: i64) -> Duration {
    let t = Instant::now();
    let per_tx = 1000 / (CHILDREN + 1);
    let mut p = 1;
    while p <= parents {
        db.transaction(|tx| {
            for q in p..(p + per_tx).min(parents + 1) {
                tx.insert(
                    "parent",
                    Row::new().with("id", q).with("name", format!("p{q}")),
                )?;
                for c in 0..CHILDREN {
                    tx.insert(
                        "child",
                        Row::new()
                            .with("id", q * 100 + c)
                            .with("parent_id", q)
                            .with("note", "a note of some forty characters, or so.."),
                    )?;
                }
            }
            Ok::<_, lazarusdb::Error>(())
        })
        .unwrap();
        p += per_tx;
    }
    t.elapsed()
}

fn direct_ingest(c: &mut Client, schema: &str, parents: i64) -> Duration {
    let ins_p = c
        .prepare(&format!(
            "INSERT INTO {schema}.parent (id, name) VALUES ($1, $2)"
        ))
        .unwrap();
    let ins_c = c
        .prepare(&format!(
            "INSERT INTO {schema}.child (id, parent_id, note) VALUES ($1, $2, $3)"
        ))
        .unwrap();
    let t = Instant::now();
    let per_tx = 1000 / (CHILDREN + 1);
    let mut p = 1;
    while p <= parents {
        let mut tx = c.transaction().unwrap();
        for q in p..(p + per_tx).min(parents + 1) {
            tx.execute(&ins_p, &[&q, &format!("p{q}")]).unwrap();
            for ch in 0..CHILDREN {
                tx.execute(
                    &ins_c,
                    &[
                        &(q * 100 + ch),
                        &q,
                        &"a note of some forty characters, or so..",
                    ],
                )
                .unwrap();
            }
        }
        tx.commit().unwrap();
        p += per_tx;
    }
    t.elapsed()
}

fn per(d: Duration, n: i64) -> f64 {
    d.as_secs_f64() * 1e6 / n as f64
}

/// (ingest µs/row, get µs, delete µs/row, restore µs/row) for lazarusdb on `db`.
fn lazarus_run(db: &Db, parents: i64) -> [f64; 4] {
    lazarus_schema(db);
    let rows = parents * (CHILDREN + 1);
    let ingest = per(lazarus_ingest(db, parents), rows);
    let t = Instant::now();
    let gets = parents.min(2000);
    for p in 1..=gets {
        db.get("parent", p).unwrap().unwrap();
    }
    let get = per(t.elapsed(), gets);
    let cascades = parents.min(100);
    let t = Instant::now();
    let ids: Vec<_> = (1..=cascades)
        .map(|p| db.delete("parent", p).unwrap().deletion)
        .collect();
    let delete = per(t.elapsed(), cascades * (CHILDREN + 1));
    let t = Instant::now();
    for id in ids {
        db.restore(id, RestorePolicy::Refuse).unwrap();
    }
    let restore = per(t.elapsed(), cascades * (CHILDREN + 1));
    [ingest, get, delete, restore]
}

fn direct_run(url: &str, parents: i64) -> [f64; 4] {
    let mut c = Client::connect(url, NoTls).unwrap();
    let schema = store_name("direct");
    direct_schema(&mut c, &schema);
    let rows = parents * (CHILDREN + 1);
    let ingest = per(direct_ingest(&mut c, &schema, parents), rows);
    let get_s = c
        .prepare(&format!(
            "SELECT id, name FROM {schema}.parent WHERE id = $1 AND NOT is_deleted"
        ))
        .unwrap();
    let t = Instant::now();
    let gets = parents.min(2000);
    for p in 1..=gets {
        c.query_one(&get_s, &[&p]).unwrap();
    }
    let get = per(t.elapsed(), gets);
    let cascades = parents.min(100);
    let mark = |c: &mut Client, p: i64, deleted: bool| {
        let mut tx = c.transaction().unwrap();
        tx.execute(
            &format!("UPDATE {schema}.parent SET is_deleted = $2 WHERE id = $1"),
            &[&p, &deleted],
        )
        .unwrap();
        tx.execute(
            &format!("UPDATE {schema}.child SET is_deleted = $2 WHERE parent_id = $1"),
            &[&p, &deleted],
        )
        .unwrap();
        tx.commit().unwrap();
    };
    let t = Instant::now();
    for p in 1..=cascades {
        mark(&mut c, p, true);
    }
    let delete = per(t.elapsed(), cascades * (CHILDREN + 1));
    let t = Instant::now();
    for p in 1..=cascades {
        mark(&mut c, p, false);
    }
    let restore = per(t.elapsed(), cascades * (CHILDREN + 1));
    [ingest, get, delete, restore]
}

/// A writer process: one-row durable commits for `secs`; prints how many.
fn writer(kind: &str, url: &str, store: &str, secs: f64, me: i64) {
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let mut n: i64 = 0;
    match kind {
        "lazarus" => {
            let db = Db::open_postgres(url, store).unwrap();
            while Instant::now() < until {
                db.insert(
                    "parent",
                    Row::new().with("id", me * 10_000_000 + n).with("name", "w"),
                )
                .unwrap();
                n += 1;
            }
        }
        _ => {
            let mut c = Client::connect(url, NoTls).unwrap();
            c.batch_execute("SET synchronous_commit = on").unwrap();
            let s = c
                .prepare(&format!(
                    "INSERT INTO {store}.parent (id, name) VALUES ($1, 'w')"
                ))
                .unwrap();
            while Instant::now() < until {
                c.execute(&s, &[&(me * 10_000_000 + n)]).unwrap();
                n += 1;
            }
        }
    }
    println!("{n}");
}

/// Commits per second from `procs` writer processes of `kind` for `secs`.
fn commits(kind: &str, url: &str, store: &str, procs: i64, secs: f64, round: i64) -> f64 {
    let me = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..procs)
        .map(|i| {
            std::process::Command::new(&me)
                .args(["--writer", kind, "--url", url, "--store", store])
                .args(["--secs", &secs.to_string()])
                .args(["--me", &(round * 100 + i + 1).to_string()])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let total: i64 = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success());
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<i64>()
                .unwrap()
        })
        .sum();
    total as f64 / secs
}

fn fmt_us(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

fn main() {
    let url = arg("--url").unwrap_or_else(|| {
        std::env::var("LAZARUS_PG_URL")
            .unwrap_or_else(|_| panic!("give --url postgres://... or LAZARUS_PG_URL"))
    });
    if let Some(kind) = arg("--writer") {
        let store = arg("--store").unwrap();
        let secs: f64 = arg("--secs").unwrap().parse().unwrap();
        let me: i64 = arg("--me").unwrap().parse().unwrap();
        writer(&kind, &url, &store, secs, me);
        return;
    }
    let parents: i64 = arg("--parents").map_or(2000, |p| p.parse().unwrap());
    let secs: f64 = arg("--secs").map_or(5.0, |s| s.parse().unwrap());

    let pg = Db::open_postgres(&url, &store_name("lz")).unwrap();
    let ours = lazarus_run(&pg, parents);
    drop(pg);
    let direct = direct_run(&url, parents);
    let dir = tempfile::tempdir().unwrap();
    let embedded = Db::open(dir.path().join("s")).unwrap();
    let local = lazarus_run(&embedded, parents);
    embedded.close().unwrap();

    println!(
        "{} parents with 10 children each ({} rows); commits for {secs} s per figure\n",
        parents,
        parents * (CHILDREN + 1)
    );
    println!("| workload | lazarusdb on PostgreSQL | PostgreSQL directly, `is_deleted` | ratio | lazarusdb embedded (fjall-redb) |");
    println!("|---|---:|---:|---:|---:|");
    let names = [
        "ingest, 1,000-row transactions (per row)",
        "point get",
        "cascade delete, parent + 10 (per row)",
        "restore it (per row)",
    ];
    for i in 0..4 {
        println!(
            "| {} | {} | {} | {:.2}× | {} |",
            names[i],
            fmt_us(ours[i]),
            fmt_us(direct[i]),
            ours[i] / direct[i],
            fmt_us(local[i])
        );
    }
    // durable one-row commits from several processes
    let lz_store = store_name("w");
    {
        let db = Db::open_postgres(&url, &lz_store).unwrap();
        lazarus_schema(&db);
        db.close().unwrap();
    }
    let direct_store = store_name("wd");
    {
        let mut c = Client::connect(&url, NoTls).unwrap();
        direct_schema(&mut c, &direct_store);
    }
    let mut one = (0.0, 0.0);
    for (round, procs) in [1, 4, 16].into_iter().enumerate() {
        let round = round as i64;
        let ours = commits("lazarus", &url, &lz_store, procs, secs, round);
        let theirs = commits("direct", &url, &direct_store, procs, secs, round);
        if procs == 1 {
            one = (ours, theirs);
        }
        println!(
            "| durable 1-row commits, {procs} writer process(es) (per second) | {ours:.0}/s ({:.2}× one) | {theirs:.0}/s ({:.2}× one) | {:.2}× | – |",
            ours / one.0,
            theirs / one.1,
            theirs / ours
        );
    }
    println!("\nratio: lazarusdb's time over PostgreSQL's (commits: PostgreSQL's rate over ours); below 2× is the goal");
}
