//! A load test over loopback: 32 clients, each on its own keep-alive connection, mix reads,
//! inserts, updates, deletes, restores and trash listings against one served store on disk
//! (durable commits), while a Server-Sent Events subscriber follows the change feed. Afterwards:
//! no request failed, `verify` is clean, and the subscriber got every committed change exactly
//! once, in order. Prints throughput and p50/p99 latency.
//!
//! Bounded: 5 seconds by default; `LAZARUS_LOAD_SECS=30` for the run the benchmark page
//! records (`cargo test --release -p lazarus-server --test load -- --nocapture`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lazarus_server::{router, ServerOptions};
use lazarusdb::{ColumnDef, ColumnType, Db, OnDelete, TableBuilder};
use serde_json::{json, Value as Json};

const CLIENTS: usize = 32;

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn open(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s.set_nodelay(true).unwrap();
        Conn {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
        }
    }

    /// (status, body as JSON).
    fn call(&mut self, method: &str, path: &str, body: Option<&Json>) -> (u16, Json) {
        let body = body.map(Json::to_string).unwrap_or_default();
        write!(
            self.writer,
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status: u16 = line.get(9..12).unwrap().parse().unwrap();
        let mut length = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap();
                }
            }
        }
        let mut buf = vec![0; length];
        self.reader.read_exact(&mut buf).unwrap();
        (status, serde_json::from_slice(&buf).unwrap_or(Json::Null))
    }
}

/// What one client did: latencies of successful requests, and failures.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    failures: Vec<String>,
    writes: u64,
}

fn client(addr: SocketAddr, me: usize, until: Instant) -> Tally {
    let mut conn = Conn::open(addr);
    let mut t = Tally::default();
    let mut live: Vec<i64> = Vec::new();
    let mut trashed: Vec<String> = Vec::new();
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        let start = Instant::now();
        let (what, (status, body), want) = match n % 20 {
            // inserts: an author and a book of it
            0..=3 => {
                let id = (me as i64) * 1_000_000 + n as i64;
                let r = conn.call(
                    "POST",
                    "/api/rows/author",
                    Some(&json!({"row": {"id": id, "email": format!("{id}@x")}, "actor": format!("client {me}")})),
                );
                if r.0 == 200 {
                    let b = conn.call(
                        "POST",
                        "/api/rows/book",
                        Some(&json!({"row": {"id": id, "author_id": id, "title": "t"}})),
                    );
                    if b.0 != 200 {
                        t.failures.push(format!("insert book: {} {}", b.0, b.1));
                    }
                    live.push(id);
                    t.writes += 2;
                }
                ("insert", r, 200)
            }
            // updates of its own rows
            4..=5 if !live.is_empty() => {
                let id = live[n as usize % live.len()];
                t.writes += 1;
                (
                    "update",
                    conn.call(
                        "PATCH",
                        &format!("/api/rows/author/{id}"),
                        Some(&json!({"row": {"name": format!("v{n}")}})),
                    ),
                    200,
                )
            }
            // deletes (a cascade of two rows) and restores of its own deletions
            6 if !live.is_empty() => {
                let id = live.swap_remove(n as usize % live.len());
                let r = conn.call(
                    "DELETE",
                    &format!("/api/rows/author/{id}?actor=client+{me}"),
                    None,
                );
                if r.0 == 200 {
                    trashed.push(r.1["deletion"].as_str().unwrap().to_string());
                    t.writes += 1;
                }
                ("delete", r, 200)
            }
            7 if !trashed.is_empty() => {
                let d = trashed.swap_remove(0);
                let r = conn.call(
                    "POST",
                    &format!("/api/trash/{d}/restore"),
                    Some(&json!({"policy": "refuse"})),
                );
                if r.0 == 200 {
                    for row in r.1["rows"].as_array().unwrap() {
                        if row["table"] == "author" {
                            live.push(row["pk"].as_i64().unwrap());
                        }
                    }
                    t.writes += 1;
                }
                ("restore", r, 200)
            }
            8 => ("trash", conn.call("GET", "/api/trash?limit=20", None), 200),
            9 => (
                "scan",
                conn.call("GET", "/api/rows/book?limit=20", None),
                200,
            ),
            // reads of its own live rows
            _ if !live.is_empty() => {
                let id = live[n as usize % live.len()];
                let path = if n.is_multiple_of(2) {
                    format!("/api/rows/author/{id}")
                } else {
                    format!("/api/rows/author/{id}/children/book")
                };
                ("get", conn.call("GET", &path, None), 200)
            }
            _ => ("stats", conn.call("GET", "/api/stats", None), 200),
        };
        if status == want {
            t.latencies.push(start.elapsed());
        } else {
            t.failures.push(format!("{what}: {status} {body}"));
        }
    }
    t
}

/// Follows the feed over SSE until it has seen `last()` (once it is known): the LSNs.
fn subscriber(addr: SocketAddr, from: u64, last: &std::sync::atomic::AtomicU64) -> Vec<u64> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    write!(
        s,
        "GET /api/changes?from={from} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let mut seen = Vec::new();
    let mut line = String::new();
    loop {
        let end = last.load(std::sync::atomic::Ordering::Acquire);
        if end != 0 && seen.last().copied().unwrap_or(from) >= end {
            return seen;
        }
        line.clear();
        if r.read_line(&mut line).unwrap() == 0 {
            return seen;
        }
        // chunked transfer: the event lines come through as they are
        if let Some(id) = line.trim_end().strip_prefix("id:") {
            seen.push(id.trim().parse().unwrap());
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[test]
fn thirty_two_clients_and_a_subscriber() {
    let secs: u64 = std::env::var("LAZARUS_LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("s")).unwrap();
    db.apply_schema(&[
        TableBuilder::new("author")
            .column(("id", ColumnType::Int))
            .column(ColumnDef::new("name", ColumnType::Text).nullable())
            .column(("email", ColumnType::Text))
            .primary_key("id")
            .unique(["email"])
            .build(),
        TableBuilder::new("book")
            .column(("id", ColumnType::Int))
            .column(("author_id", ColumnType::Int))
            .column(("title", ColumnType::Text))
            .primary_key("id")
            .foreign_key("author_id", "author", OnDelete::Cascade)
            .build(),
    ])
    .unwrap();
    let db = Arc::new(db);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(db.clone(), ServerOptions::default());
    rt.spawn(async move { axum::serve(listener, app).await });
    let from = db.last_lsn();
    let last = std::sync::atomic::AtomicU64::new(0);
    let until = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let (tallies, seen) = std::thread::scope(|s| {
        let sub = s.spawn(|| subscriber(addr, from, &last));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|me| s.spawn(move || client(addr, me, until)))
            .collect();
        let tallies: Vec<Tally> = clients.into_iter().map(|c| c.join().unwrap()).collect();
        eprintln!(
            "load: the clients stopped after {:.1} s",
            started.elapsed().as_secs_f64()
        );
        // a last commit, so that a subscriber waiting at the end wakes and sees where it is
        db.insert(
            "author",
            lazarusdb::Row::new()
                .with("id", -1)
                .with("email", "the end"),
        )
        .unwrap();
        last.store(db.last_lsn(), std::sync::atomic::Ordering::Release);
        (tallies, sub.join().unwrap())
    });
    let took = started.elapsed();
    let failures: Vec<&String> = tallies.iter().flat_map(|t| &t.failures).collect();
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    let mut lat: Vec<Duration> = tallies.iter().flat_map(|t| t.latencies.clone()).collect();
    lat.sort();
    let writes: u64 = tallies.iter().map(|t| t.writes).sum();
    let end = db.last_lsn();
    assert_eq!(
        seen,
        (from + 1..=end).collect::<Vec<_>>(),
        "the subscriber saw every change once, in order"
    );
    assert!(db.verify().unwrap().is_ok());
    eprintln!(
        "load: {CLIENTS} clients, {:.1} s: {} requests ({:.0}/s), {writes} writes, p50 {:.2} ms, \
         p99 {:.2} ms; the subscriber got all {} changes",
        took.as_secs_f64(),
        lat.len(),
        lat.len() as f64 / took.as_secs_f64(),
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        seen.len()
    );
    assert!(lat.len() > CLIENTS, "hardly any request got through");
}
