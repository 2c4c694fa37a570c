//! The HTTP API over one store: reads live and as of a point, writes with who and why, the
//! trash and restores, history, log, verify and stats; every bad request a 4xx with a JSON
//! body; read-only mode, bearer tokens, body limits; the change feed as Server-Sent Events
//! over a real socket, resumed with `Last-Event-ID`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead, BufReader, Write};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use lazarus_server::{router, ServerOptions};
use lazarusdb::{ColumnType, Db, OnDelete, Readable, Row, TableBuilder};
use serde_json::{json, Value as Json};
use tower::ServiceExt;

fn store() -> Arc<Db> {
    let db = Db::memory().unwrap();
    db.apply_schema(&[
        TableBuilder::new("author")
            .column(("id", ColumnType::Int))
            .column(lazarusdb::ColumnDef::new("name", ColumnType::Text).nullable())
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
    Arc::new(db)
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    body: Option<Body>,
    headers: &[(&str, &str)],
) -> (StatusCode, Json) {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(body.unwrap_or_else(Body::empty)).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("not JSON ({status}): {}", String::from_utf8_lossy(&bytes)));
    (status, json)
}

async fn send(app: &Router, method: &str, uri: &str, body: Json) -> (StatusCode, Json) {
    call(
        app,
        method,
        uri,
        Some(Body::from(body.to_string())),
        &[("content-type", "application/json")],
    )
    .await
}

#[tokio::test]
async fn reads_writes_the_trash_and_a_restore() {
    let db = store();
    let app = router(db.clone(), ServerOptions::default());
    let (s, tables) = call(&app, "GET", "/api/tables", None, &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(tables, json!(["author", "book"]));
    let (s, def) = call(&app, "GET", "/api/tables/book", None, &[]).await;
    assert_eq!(s, StatusCode::OK, "{def}");
    assert!(def.to_string().contains("author_id"), "{def}");

    let (s, a) = send(
        &app,
        "POST",
        "/api/rows/author",
        json!({"row": {"name": "Ursula", "email": "u@x"}, "actor": "alice", "reason": "new"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{a}");
    assert_eq!(a["id"], json!(1));
    for (id, title) in [(10, "Lathe"), (11, "Dispossessed")] {
        let (s, _) = send(
            &app,
            "POST",
            "/api/rows/book",
            json!({"row": {"id": id, "author_id": 1, "title": title}}),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
    }
    let before = db.last_lsn();
    let (s, a) = send(
        &app,
        "PATCH",
        "/api/rows/author/1",
        json!({"row": {"name": "Ursula K. Le Guin"}, "actor": "bob"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(a["name"], json!("Ursula K. Le Guin"));
    let (_, a) = call(&app, "GET", "/api/rows/author/1", None, &[]).await;
    assert_eq!(a["name"], json!("Ursula K. Le Guin"));
    let (_, old) = call(
        &app,
        "GET",
        &format!("/api/rows/author/1?as_of={before}"),
        None,
        &[],
    )
    .await;
    assert_eq!(old["name"], json!("Ursula"));
    let (_, books) = call(&app, "GET", "/api/rows/book?limit=1", None, &[]).await;
    assert_eq!(books.as_array().unwrap().len(), 1);
    let (_, books) = call(&app, "GET", "/api/rows/book?after=10", None, &[]).await;
    assert_eq!(books[0]["id"], json!(11));
    let (_, kids) = call(&app, "GET", "/api/rows/author/1/children/book", None, &[]).await;
    assert_eq!(kids.as_array().unwrap().len(), 2);

    // a cascade delete, with who and why
    let (s, d) = call(
        &app,
        "DELETE",
        "/api/rows/author/1?actor=carol&reason=cleanup",
        None,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["rows"].as_array().unwrap().len(), 3);
    let id = d["deletion"].as_str().unwrap().to_string();
    let (s, e) = call(&app, "GET", "/api/rows/book/10", None, &[]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(e["error"], json!("not_found"));
    let (_, trash) = call(&app, "GET", "/api/trash?table=author", None, &[]).await;
    assert_eq!(trash[0]["id"], json!(id));
    assert_eq!(trash[0]["actor"], json!("carol"));
    assert_eq!(trash[0]["reason"], json!("cleanup"));
    // a short id finds it too
    let short = &id[id.len() - 8..];
    let (s, shown) = call(&app, "GET", &format!("/api/trash/{short}"), None, &[]).await;
    assert_eq!(s, StatusCode::OK, "{shown}");
    assert_eq!(shown["members"].as_array().unwrap().len(), 3);
    let (_, plan) = call(&app, "GET", &format!("/api/trash/{id}/restore"), None, &[]).await;
    assert_eq!(plan["rows"].as_array().unwrap().len(), 3);
    assert!(plan["conflicts"].as_array().unwrap().is_empty());
    // the dry run wrote nothing
    let (s, _) = call(&app, "GET", "/api/rows/author/1", None, &[]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, done) = send(
        &app,
        "POST",
        &format!("/api/trash/{id}/restore"),
        json!({"policy": "refuse", "actor": "dave"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    let (s, _) = call(&app, "GET", "/api/rows/book/11", None, &[]).await;
    assert_eq!(s, StatusCode::OK);
    // a second restore of the same deletion is a conflict, not a server error
    let (s, e) = send(&app, "POST", &format!("/api/trash/{id}/restore"), json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");

    let (_, hist) = call(&app, "GET", "/api/rows/author/1/history", None, &[]).await;
    let kinds: Vec<&str> = hist
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["insert", "update", "delete", "restore"]);
    assert_eq!(hist[1]["actor"], json!("bob"));
    let (_, log) = call(&app, "GET", "/api/log?from=2&limit=2", None, &[]).await;
    assert_eq!(log[0]["lsn"], json!(2));
    assert_eq!(log.as_array().unwrap().len(), 2);
    let (_, v) = call(&app, "GET", "/api/verify", None, &[]).await;
    assert_eq!(v["ok"], json!(true));
    let (_, st) = call(&app, "GET", "/api/stats", None, &[]).await;
    assert_eq!(st["last_lsn"], json!(db.last_lsn()));
}

#[tokio::test]
async fn every_bad_request_is_a_4xx_with_a_json_error() {
    let db = store();
    let app = router(
        db.clone(),
        ServerOptions {
            body_limit: 256,
            ..ServerOptions::default()
        },
    );
    let (s, _) = send(
        &app,
        "POST",
        "/api/rows/author",
        json!({"row": {"email": "a@x"}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let cases: Vec<(&str, String, Option<String>, StatusCode, &str)> = vec![
        (
            "GET",
            "/api/rows/nope/1".into(),
            None,
            StatusCode::NOT_FOUND,
            "unknown_table",
        ),
        (
            "GET",
            "/api/rows/author/abc".into(),
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "GET",
            "/api/rows/author/99".into(),
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "GET",
            "/api/rows/author/1?as_of=yesterday-ish".into(),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            "GET",
            "/api/rows/author?limit=-3".into(),
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "GET",
            "/api/nothing/here".into(),
            None,
            StatusCode::NOT_FOUND,
            "no_such_route",
        ),
        (
            "GET",
            "/api/trash/zzzz".into(),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            "GET",
            "/api/trash/0123456789abcdef".into(),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            "GET",
            "/api/trash/01930000-0000-7000-8000-000000000000".into(),
            None,
            StatusCode::NOT_FOUND,
            "unknown_deletion",
        ),
        (
            "POST",
            "/api/rows/author".into(),
            Some("{not json".into()),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/rows/author".into(),
            Some(r#"{"row": {"email": 5}}"#.into()),
            StatusCode::BAD_REQUEST,
            "wrong_type",
        ),
        (
            "POST",
            "/api/rows/author".into(),
            Some(r#"{"row": {"email": "a@x"}}"#.into()),
            StatusCode::CONFLICT,
            "constraint_violation",
        ),
        (
            "POST",
            "/api/rows/author".into(),
            Some(r#"{"row": {}, "extra": 1}"#.into()),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/api/rows/author".into(),
            Some(r#"{"row": {"name": "no email"}}"#.into()),
            StatusCode::BAD_REQUEST,
            "constraint_violation",
        ),
        (
            "PATCH",
            "/api/rows/author/1".into(),
            Some(r#"{"row": {"nope": 1}}"#.into()),
            StatusCode::NOT_FOUND,
            "unknown_column",
        ),
        (
            "POST",
            "/api/rows/book".into(),
            Some(r#"{"row": {"id": 1, "author_id": 7, "title": "t"}}"#.into()),
            StatusCode::CONFLICT,
            "constraint_violation",
        ),
        (
            "POST",
            "/api/rows/author".into(),
            Some(format!(r#"{{"row": {{"name": "{}"}}}}"#, "x".repeat(400))),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        (
            "POST",
            "/api/trash/0123456789abcdef/restore".into(),
            Some(r#"{"policy": "maybe"}"#.into()),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "DELETE",
            "/api/rows/author/42".into(),
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "GET",
            "/api/changes?from=999".into(),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
    ];
    for (method, uri, body, want, kind) in cases {
        let (s, e) = call(
            &app,
            method,
            &uri,
            body.map(Body::from),
            &[("content-type", "application/json")],
        )
        .await;
        assert_eq!(s, want, "{method} {uri}: {e}");
        assert_eq!(e["error"], json!(kind), "{method} {uri}: {e}");
        assert!(
            e["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{method} {uri}: {e}"
        );
    }
    // nothing was written by any of them
    assert_eq!(db.count("author").unwrap(), 1);
    assert!(db.verify().unwrap().is_ok());
}

#[tokio::test]
async fn read_only_and_bearer_tokens() {
    let db = store();
    let app = router(
        db.clone(),
        ServerOptions {
            read_only: true,
            token: Some("s3cret".into()),
            ..ServerOptions::default()
        },
    );
    let (s, e) = call(&app, "GET", "/api/tables", None, &[]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(e["error"], json!("unauthorized"));
    let (s, _) = call(
        &app,
        "GET",
        "/api/tables",
        None,
        &[("authorization", "Bearer wrong!")],
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let auth = [("authorization", "Bearer s3cret")];
    let (s, _) = call(&app, "GET", "/api/tables", None, &auth).await;
    assert_eq!(s, StatusCode::OK);
    let (s, e) = call(
        &app,
        "POST",
        "/api/rows/author",
        Some(Body::from(r#"{"row": {"email": "a@x"}}"#)),
        &auth,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(e["error"], json!("read_only"));
    assert_eq!(db.count("author").unwrap(), 0);
}

#[tokio::test]
async fn serving_beyond_loopback_needs_a_token() {
    let db = store();
    let addr: std::net::SocketAddr = "0.0.0.0:0".parse().unwrap();
    let e = lazarus_server::serve(db, addr, ServerOptions::default(), async {})
        .await
        .unwrap_err();
    assert!(
        matches!(e, lazarus_server::ServeError::NeedsToken(_)),
        "{e}"
    );
    assert!(e.to_string().contains("token"), "{e}");
}

/// Reads Server-Sent Events from a raw socket until `n` `change` events came: (id, data).
fn read_events(reader: &mut impl BufRead, n: usize) -> Vec<(u64, Json)> {
    let mut out = Vec::new();
    let (mut id, mut data, mut event) = (None, None, None);
    let mut line = String::new();
    while out.len() < n {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the stream ended");
        let l = line.trim_end_matches(['\r', '\n']);
        if let Some(v) = l.strip_prefix("id:") {
            id = Some(v.trim().parse::<u64>().unwrap());
        } else if let Some(v) = l.strip_prefix("data:") {
            data = Some(serde_json::from_str::<Json>(v.trim()).unwrap());
        } else if let Some(v) = l.strip_prefix("event:") {
            event = Some(v.trim().to_string());
        } else if l.is_empty() {
            if let (Some(i), Some(d), Some("change")) = (id, data.take(), event.as_deref()) {
                out.push((i, d));
            }
            id = None;
            event = None;
        }
    }
    out
}

fn open_feed(
    addr: std::net::SocketAddr,
    path: &str,
    last: Option<u64>,
) -> BufReader<std::net::TcpStream> {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let extra = last.map_or(String::new(), |l| format!("Last-Event-ID: {l}\r\n"));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n{extra}\r\n"
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    // the headers
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
    }
    r
}

#[test]
fn the_change_feed_streams_over_http_and_resumes_from_last_event_id() {
    let db = store();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(db.clone(), ServerOptions::default());
    rt.spawn(async move { axum::serve(listener, app).await });
    let start = db.last_lsn();
    let mut feed = open_feed(addr, &format!("/api/changes?from={start}"), None);
    for i in 1..=3 {
        db.insert(
            "author",
            Row::new()
                .with("name", format!("a{i}"))
                .with("email", format!("{i}@x")),
        )
        .unwrap();
    }
    let got = read_events(&mut feed, 3);
    assert_eq!(
        got.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        vec![start + 1, start + 2, start + 3]
    );
    assert_eq!(got[2].1["row"]["name"], json!("a3"));
    assert_eq!(got[0].1["kind"], json!("insert"));
    drop(feed);
    // a reconnecting client sends the last id it saw: the feed goes on after it
    db.delete("author", 1).unwrap();
    let mut again = open_feed(addr, "/api/changes?from=0", Some(start + 2));
    let rest = read_events(&mut again, 2);
    assert_eq!(rest[0].0, start + 3);
    assert_eq!(rest[1].1["kind"], json!("delete"));
}

#[tokio::test]
async fn restore_to_a_point_dry_run_then_for_real() {
    let db = store();
    let app = router(db.clone(), ServerOptions::default());
    for i in 1..=3 {
        send(
            &app,
            "POST",
            "/api/rows/author",
            json!({"row": {"email": format!("{i}@x")}}),
        )
        .await;
    }
    let point = db.last_lsn();
    send(
        &app,
        "PATCH",
        "/api/rows/author/1",
        json!({"row": {"name": "changed"}}),
    )
    .await;
    call(&app, "DELETE", "/api/rows/author/2", None, &[]).await;
    send(
        &app,
        "POST",
        "/api/rows/author",
        json!({"row": {"email": "4@x"}}),
    )
    .await;
    let (s, plan) = call(
        &app,
        "GET",
        &format!("/api/restore-to?table=author&at={point}"),
        None,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{plan}");
    assert_eq!(plan["target_lsn"], json!(point));
    assert_eq!(plan["reverted"][0]["pk"], json!(1));
    assert_eq!(plan["restored"][0]["pk"], json!(2));
    assert_eq!(plan["tombstoned"][0]["pk"], json!(4));
    // the dry run wrote nothing
    assert_eq!(db.count("author").unwrap(), 3);
    let (s, e) = call(&app, "GET", "/api/restore-to?table=author", None, &[]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, done) = send(
        &app,
        "POST",
        "/api/restore-to",
        json!({"at": point.to_string(), "table": "author", "actor": "ops"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    let (_, rows) = call(&app, "GET", "/api/rows/author", None, &[]).await;
    let ids: Vec<i64> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![1, 2, 3]);
    assert_eq!(rows[0]["name"], json!(null));
}

#[tokio::test]
async fn the_page_is_served_to_anyone_and_its_data_only_with_the_token() {
    let db = store();
    let app = router(
        db,
        ServerOptions {
            token: Some("0123456789abcdef".into()),
            ..ServerOptions::default()
        },
    );
    for (path, kind) in [
        ("/", "text/html"),
        ("/app.js", "text/javascript"),
        ("/app.css", "text/css"),
    ] {
        let resp = app
            .clone()
            .oneshot(Request::builder().uri(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with(kind), "{path}: {ct}");
    }
    let (s, _) = call(&app, "GET", "/api/trash", None, &[]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // the feed takes the token in its query too (EventSource sends no headers)
    let resp = app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/api/changes?from=0&access_token=0123456789abcdef")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (s, _) = call(
        &app,
        "GET",
        "/api/trash?access_token=0123456789abcdef",
        None,
        &[],
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "only the feed takes it in the query"
    );
}

#[tokio::test]
async fn lookup_diff_and_undo() {
    let db = store();
    db.add_index("book", &["title"], false).unwrap();
    let app = router(db.clone(), ServerOptions::default());
    let (status, _) = send(
        &app,
        "POST",
        "/api/rows/author",
        json!({"row": {"email": "a@x", "name": "Ann"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for title in ["One", "Two", "One"] {
        let (status, body) = send(
            &app,
            "POST",
            "/api/rows/book",
            json!({"row": {"author_id": 1, "title": title}}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let before = db.last_lsn();
    // a lookup through the index, typed by the column; as of a point too
    let (status, rows) = call(&app, "GET", "/api/lookup/book?title=One", None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    assert_eq!(rows.as_array().unwrap().len(), 2);
    let (status, rows) = call(&app, "GET", "/api/lookup/book?author_id=1", None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    assert_eq!(rows.as_array().unwrap().len(), 3);
    let (status, rows) = call(&app, "GET", "/api/lookup/book?title=One&as_of=2", None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    assert_eq!(rows, json!([]));
    for (uri, want) in [
        ("/api/lookup/book", StatusCode::BAD_REQUEST),
        ("/api/lookup/book?author_id=one", StatusCode::BAD_REQUEST),
        ("/api/lookup/book?nope=1", StatusCode::NOT_FOUND),
        ("/api/lookup/nope?title=x", StatusCode::NOT_FOUND),
    ] {
        let (status, body) = call(&app, "GET", uri, None, &[]).await;
        assert_eq!(status, want, "{uri}: {body}");
        assert!(body["error"].is_string());
    }
    // an update, its diff, and its undo
    let (status, _) = send(
        &app,
        "PATCH",
        "/api/rows/book/2",
        json!({"row": {"title": "Deux"}, "actor": "me"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, diffs) = call(&app, "GET", &format!("/api/diff?from={before}"), None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{diffs}");
    assert_eq!(diffs.as_array().unwrap().len(), 1);
    assert_eq!(diffs[0]["row"]["pk"], 2);
    assert_eq!(diffs[0]["changes"][0]["column"], "title");
    assert_eq!(diffs[0]["changes"][0]["after"], "Deux");
    let (status, _) = call(&app, "GET", "/api/diff", None, &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let tx = db.changes(db.last_lsn(), None).unwrap()[0].tx;
    let (status, plan) = send(&app, "POST", "/api/undo", json!({"tx": tx, "actor": "me"})).await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(plan["reverted"][0]["pk"], 2);
    assert_eq!(
        db.get("book", 2).unwrap().unwrap().get("title"),
        Some(&lazarusdb::Value::Text("Two".into()))
    );
    let (status, body) = send(&app, "POST", "/api/undo", json!({"tx": 999_999})).await;
    assert!(status.is_client_error(), "{status} {body}");
    let (status, _) = send(&app, "POST", "/api/undo", json!({"tx": "x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
