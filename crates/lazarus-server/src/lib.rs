//! One open lazarusdb store over HTTP: a JSON API over what the `lazarus` command line does
//! (tables, reads live and as of a point, writes with who and why, the trash and restores,
//! history, the log, verify, stats) and the change feed as Server-Sent Events.
//!
//! The store stays synchronous: every request's store work runs on tokio's blocking threads,
//! and runs to its end even when the client goes away (a write is committed whole or not at
//! all). An application mounts the same routes in its own server with [`router`].
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let db = std::sync::Arc::new(lazarusdb::Db::open("app.db")?);
//! let app = lazarus_server::router(db, lazarus_server::ServerOptions::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7070").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! Every answer is JSON; every error is `{"error": KIND, "message": ...}` with a 4xx status for
//! anything the request got wrong (KIND the library's `Error::kind`, or `bad_request`,
//! `unauthorized`, `read_only`, `too_large`, `no_such_route`) and 5xx only for the store's own
//! failures. See `docs/server.md` for every route.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use lazarusdb::{
    At, Audit, Change, ColumnType, Db, DeletedRow, Deletion, Readable, RestorePlan, RestorePolicy,
    Row, RowRef, Scan, TrashQuery, Value,
};
use serde::Deserialize;
use serde_json::{json, Value as Json};

/// How the server treats requests.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Refuse every request that would write (anything but GET and HEAD): `403 read_only`.
    pub read_only: bool,
    /// When set, every request must carry `Authorization: Bearer TOKEN`: `401 unauthorized`.
    pub token: Option<String>,
    /// The largest request body accepted, in bytes: `413 too_large` beyond.
    pub body_limit: usize,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            read_only: false,
            token: None,
            body_limit: 1 << 20,
        }
    }
}

#[derive(Clone)]
struct App {
    db: Arc<Db>,
    opts: Arc<ServerOptions>,
    /// Turns true when [`serve`] is told to stop: the change feed's streams end then, so that
    /// the graceful shutdown does not wait for them for ever.
    closing: Option<tokio::sync::watch::Receiver<bool>>,
}

/// The routes of the API over `db`, ready to serve or to mount (`Router::nest`) in an
/// application's own server. (Its change feed streams run until their clients leave: a server
/// that shuts down gracefully should close those connections, as [`serve`] does.)
pub fn router(db: Arc<Db>, opts: ServerOptions) -> Router {
    routes(db, opts, None)
}

fn routes(
    db: Arc<Db>,
    opts: ServerOptions,
    closing: Option<tokio::sync::watch::Receiver<bool>>,
) -> Router {
    let limit = opts.body_limit;
    let app = App {
        db,
        opts: Arc::new(opts),
        closing,
    };
    Router::new()
        .route("/api/tables", get(tables))
        .route("/api/tables/{table}", get(table_def))
        .route("/api/rows/{table}", get(scan).post(insert))
        .route(
            "/api/rows/{table}/{pk}",
            get(get_row).patch(update).delete(delete_row),
        )
        .route("/api/rows/{table}/{pk}/children/{child}", get(children))
        .route("/api/rows/{table}/{pk}/history", get(history))
        .route("/api/trash", get(trash))
        .route("/api/trash/{id}", get(deletion))
        .route("/api/trash/{id}/restore", get(restore_plan).post(restore))
        .route("/api/restore-to", get(restore_to_plan).post(restore_to))
        .route("/api/lookup/{table}", get(lookup))
        .route("/api/diff", get(diff))
        .route("/api/undo", axum::routing::post(undo))
        .route("/api/log", get(log))
        .route("/api/verify", get(verify))
        .route("/api/stats", get(stats))
        .route("/api/changes", get(changes))
        .route("/api/command", axum::routing::post(command))
        .route("/", get(|| page(INDEX_HTML, "text/html; charset=utf-8")))
        .route(
            "/app.js",
            get(|| page(APP_JS, "text/javascript; charset=utf-8")),
        )
        .route("/app.css", get(|| page(APP_CSS, "text/css; charset=utf-8")))
        .fallback(no_such_route)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

/// The trash page: plain HTML, JavaScript and CSS in the binary, no build step.
const INDEX_HTML: &str = include_str!("../web/index.html");
const APP_JS: &str = include_str!("../web/app.js");
const APP_CSS: &str = include_str!("../web/app.css");

async fn page(body: &'static str, kind: &'static str) -> Response {
    (
        [
            (axum::http::header::CONTENT_TYPE, kind),
            (axum::http::header::CACHE_CONTROL, "no-cache"),
            (
                axum::http::header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; connect-src 'self'",
            ),
        ],
        body,
    )
        .into_response()
}

/// Serves `db` on `addr` until `shutdown` completes. Refuses, before binding, an address other
/// than loopback without a token: a store's data is not for the network by default.
pub async fn serve(
    db: Arc<Db>,
    addr: SocketAddr,
    opts: ServerOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    if !addr.ip().is_loopback() && opts.token.is_none() {
        return Err(ServeError::NeedsToken(addr));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| ServeError::Bind(addr, e))?;
    let (closing, closed) = tokio::sync::watch::channel(false);
    axum::serve(listener, routes(db, opts, Some(closed)))
        .with_graceful_shutdown(async move {
            shutdown.await;
            // the feed's streams end: their connections close and the shutdown completes
            let _ = closing.send(true);
        })
        .await
        .map_err(ServeError::Serve)
}

/// Why [`serve`] could not serve.
#[derive(Debug)]
pub enum ServeError {
    /// A non-loopback address without a token.
    NeedsToken(SocketAddr),
    /// The address could not be bound.
    Bind(SocketAddr, std::io::Error),
    /// The server failed while serving.
    Serve(std::io::Error),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::NeedsToken(a) => write!(
                f,
                "{a} is not a loopback address: serving a store beyond this machine needs a \
                 bearer token (--token-file FILE)"
            ),
            ServeError::Bind(a, e) => write!(f, "cannot listen on {a}: {e}"),
            ServeError::Serve(e) => write!(f, "the server failed: {e}"),
        }
    }
}

impl std::error::Error for ServeError {}

// ---------------------------------------------------------------------------------------------
// Errors.

/// An error answer: a status and `{"error": kind, "message": ...}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    kind: String,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind: kind.to_string(),
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl From<lazarusdb::Error> for ApiError {
    fn from(e: lazarusdb::Error) -> ApiError {
        let kind = e.kind();
        if let lazarusdb::Error::ConstraintViolation {
            constraint: lazarusdb::Constraint::NotNull(_),
            ..
        } = &e
        {
            // a row that lacks a value is the request's fault, not a clash with the store
            return ApiError::new(StatusCode::BAD_REQUEST, kind, e.to_string());
        }
        let status = match kind {
            "not_found" | "unknown_table" | "unknown_column" | "unknown_index"
            | "unknown_deletion" => StatusCode::NOT_FOUND,
            "purged" | "history_expired" => StatusCode::GONE,
            "constraint_violation"
            | "already_deleted"
            | "delete_restricted"
            | "already_restored"
            | "restore_conflict"
            | "rewind_conflict"
            | "key_reserved" => StatusCode::CONFLICT,
            "wrong_type" | "invalid_schema" | "invalid_input" | "keys_exhausted" => {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, kind, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({"error": self.kind, "message": self.message})),
        )
            .into_response()
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> ApiError {
        let status = r.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                "too_large",
                "the request body is larger than the server takes",
            )
        } else {
            ApiError::new(status, "bad_request", r.body_text())
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> ApiError {
        ApiError::bad(r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> ApiError {
        ApiError::bad(r.body_text())
    }
}

type ApiResult = Result<axum::Json<Json>, ApiError>;

/// Runs store work on a blocking thread. It runs to its end even if the client goes away.
async fn blocking<T: Send + 'static>(
    app: &App,
    work: impl FnOnce(&Db) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || work(&db))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("the store work failed: {e}"),
            )
        })?
}

/// Authentication and read-only mode, before any route.
///
/// The page's own files hold no data and are served to anyone; the page asks for the token.
/// `EventSource` cannot send headers: the change feed also takes the token as `access_token`
/// in its query.
async fn guard(State(app): State<App>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let public = matches!(path, "/" | "/app.js" | "/app.css");
    if let (Some(token), false) = (&app.opts.token, public) {
        let header = req
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string);
        let query = (path == "/api/changes")
            .then(|| {
                req.uri().query().and_then(|q| {
                    q.split('&')
                        .find_map(|kv| kv.strip_prefix("access_token="))
                        .map(percent_decode)
                })
            })
            .flatten();
        let given = header.or(query);
        if !given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this server needs `Authorization: Bearer TOKEN`",
            )
            .into_response();
        }
    }
    // a command says itself whether it writes (see `command`)
    if app.opts.read_only
        && !matches!(*req.method(), Method::GET | Method::HEAD)
        && path != "/api/command"
    {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "read_only",
            "this server is read-only: it refuses every write",
        )
        .into_response();
    }
    next.run(req).await
}

/// A query value with its `%XX` escapes (and `+`) decoded; a bad escape is kept as it is.
fn percent_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match (c, b.get(i + 1..i + 3)) {
            (b'%', Some(hex)) => match std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                    continue;
                }
                None => out.push(b'%'),
            },
            (b'+', _) => out.push(b' '),
            (c, _) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Compares two secrets in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn no_such_route(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_such_route",
        format!("no route {method} {}", uri.path()),
    )
}

// ---------------------------------------------------------------------------------------------
// Parameters.

/// A primary key from a path, read for the table's key type: an integer key is a number, a
/// text or uuid key is taken as it is.
fn pk_of(db: &Db, table: &str, text: &str) -> Result<Value, ApiError> {
    let def = db.table_def(table)?;
    let ty = def
        .columns
        .iter()
        .find(|c| c.name == def.primary_key)
        .map(|c| c.ty);
    Ok(match ty {
        Some(ColumnType::Int) => Value::Int(text.parse::<i64>().map_err(|_| {
            ApiError::bad(format!(
                "`{text}` is not a key of {table}: its keys are integers"
            ))
        })?),
        _ => Value::Text(text.to_string()),
    })
}

/// A value from a query string, read for its column's type: text as it is; a number, `true`,
/// `null` as JSON; a uuid, an RFC 3339 time, base64 bytes as their text.
fn value_of(db: &Db, table: &str, column: &str, text: &str) -> Result<Value, ApiError> {
    let def = db.table_def(table)?;
    let Some(ty) = def.columns.iter().find(|c| c.name == column).map(|c| c.ty) else {
        return Err(lazarusdb::Error::UnknownColumn {
            table: table.to_string(),
            column: column.to_string(),
        }
        .into());
    };
    if ty == ColumnType::Text {
        return Ok(Value::Text(text.to_string()));
    }
    let parsed = serde_json::from_str::<Json>(text)
        .ok()
        .and_then(|j| Value::from_json(&j).ok())
        .unwrap_or_else(|| Value::Text(text.to_string()));
    parsed.coerce(ty).map_err(|_| {
        ApiError::bad(format!(
            "`{text}` is not a value of {table}.{column}, a {} column",
            ty.name()
        ))
    })
}

fn at_of(text: Option<&str>) -> Result<Option<At>, ApiError> {
    text.map(|t| At::parse(t).map_err(ApiError::from))
        .transpose()
}

fn deletion_of(db: &Db, text: &str) -> Result<uuid::Uuid, ApiError> {
    Ok(db.deletion_id(text)?)
}

fn policy_of(text: Option<&str>) -> Result<RestorePolicy, ApiError> {
    match text {
        None | Some("refuse") => Ok(RestorePolicy::Refuse),
        Some("skip") | Some("skip-conflicts") => Ok(RestorePolicy::SkipConflicts),
        Some(other) => Err(ApiError::bad(format!(
            "no restore policy `{other}`: use refuse or skip"
        ))),
    }
}

fn audit_of(actor: Option<String>, reason: Option<String>) -> Audit {
    Audit { actor, reason }
}

#[derive(Deserialize, Default)]
struct AsOfQuery {
    as_of: Option<String>,
}

#[derive(Deserialize, Default)]
struct ScanQuery {
    as_of: Option<String>,
    limit: Option<usize>,
    after: Option<String>,
    reverse: Option<bool>,
}

#[derive(Deserialize, Default)]
struct TrashQueryParams {
    table: Option<String>,
    limit: Option<usize>,
}

#[derive(Deserialize, Default)]
struct PolicyQuery {
    policy: Option<String>,
}

#[derive(Deserialize, Default)]
struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
    table: Option<String>,
}

/// The body of an undo.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UndoBody {
    tx: u64,
    #[serde(default)]
    force: bool,
    actor: Option<String>,
    reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct LogQuery {
    from: Option<u64>,
    limit: Option<usize>,
}

#[derive(Deserialize, Default)]
struct AuditQuery {
    actor: Option<String>,
    reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct RestoreToQuery {
    at: Option<String>,
    table: Option<String>,
}

/// The body of a restore to a point.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreToBody {
    at: String,
    table: Option<String>,
    actor: Option<String>,
    reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct ChangesQuery {
    from: Option<u64>,
    /// The token, for clients that cannot send headers (checked by the guard).
    #[serde(rename = "access_token")]
    _access_token: Option<String>,
}

/// The body of a write: the row (or the changes), who and why.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteBody {
    row: Json,
    actor: Option<String>,
    reason: Option<String>,
}

/// The body of a restore.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RestoreBody {
    policy: Option<String>,
    actor: Option<String>,
    reason: Option<String>,
}

fn body_of<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad(format!("the request body: {e}")))
}

/// `POST /api/command`: a command of the `lazarus` command line run on the store
/// (`lazarus --url`); the reply says what it printed and its exit code. A read-only server
/// refuses a command that writes.
async fn command(State(app): State<App>, body: Result<Bytes, BytesRejection>) -> ApiResult {
    let request: lazarus_commands::remote::Request = body_of(&body?)?;
    if app.opts.read_only && lazarus_commands::writes(&request.command) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "read_only",
            format!(
                "this server is read-only: it refuses `{}`, which writes",
                lazarus_commands::name(&request.command)
            ),
        ));
    }
    let reply = blocking(&app, move |db| {
        Ok(lazarus_commands::remote::run(db, &request))
    })
    .await?;
    Ok(axum::Json(serde_json::to_value(reply).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the reply could not be encoded: {e}"),
        )
    })?))
}

// ---------------------------------------------------------------------------------------------
// JSON of the store's answers.

fn rows_json(rows: &[Row]) -> Json {
    Json::Array(rows.iter().map(Row::to_json).collect())
}

fn refs_json(refs: &[RowRef]) -> Json {
    Json::Array(
        refs.iter()
            .map(|r| json!({"table": r.table, "pk": r.pk.to_json()}))
            .collect(),
    )
}

fn change_json(c: &Change) -> Json {
    json!({
        "lsn": c.lsn,
        "tx": c.tx,
        "at": c.at.to_rfc3339(),
        "actor": c.actor,
        "reason": c.reason,
        "kind": c.kind.name(),
        "table": c.table,
        "tables": c.tables,
        "pk": c.pk.as_ref().map(Value::to_json),
        "row": c.row.as_ref().map(Row::to_json),
        "deletion": c.deletion.map(|d| d.to_string()),
    })
}

fn deletion_json(d: &Deletion) -> Json {
    json!({
        "id": d.id.to_string(),
        "tx": d.tx,
        "lsn": d.lsn,
        "at": d.at.to_rfc3339(),
        "actor": d.actor,
        "reason": d.reason,
        "roots": refs_json(&d.roots),
        "rows": d.rows.iter().map(|(t, n)| json!({"table": t, "count": n})).collect::<Vec<_>>(),
        "unlinked": d.unlinked,
        "remaining": d.remaining,
        "restored": d.restored,
    })
}

fn member_json(m: &DeletedRow) -> Json {
    json!({
        "table": m.row_ref.table,
        "pk": m.row_ref.pk.to_json(),
        "kind": match m.kind {
            lazarusdb::MemberKind::Tombstoned => "tombstoned",
            lazarusdb::MemberKind::Unlinked => "unlinked",
        },
        "row": m.row.to_json(),
        "lsn": m.lsn,
    })
}

fn conflicts_json(conflicts: &[lazarusdb::Conflict]) -> Json {
    Json::Array(
        conflicts
            .iter()
            .map(|c| {
                json!({
                    "kind": c.kind.name(),
                    "row": {"table": c.row.table, "pk": c.row.pk.to_json()},
                    "detail": c.detail,
                    "message": c.to_string(),
                })
            })
            .collect(),
    )
}

fn plan_json(p: &RestorePlan) -> Json {
    json!({
        "deletion": p.deletion.to_string(),
        "rows": refs_json(&p.rows),
        "relinks": refs_json(&p.relinks),
        "conflicts": conflicts_json(&p.conflicts),
        "skipped": p.skipped.iter().map(|s| json!({
            "row": {"table": s.row.table, "pk": s.row.pk.to_json()},
            "reason": s.reason,
        })).collect::<Vec<_>>(),
    })
}

fn rewind_json(p: &lazarusdb::RewindPlan) -> Json {
    json!({
        "target_lsn": p.target_lsn,
        "restored": refs_json(&p.restored),
        "reverted": refs_json(&p.reverted),
        "tombstoned": refs_json(&p.tombstoned),
        "conflicts": conflicts_json(&p.conflicts),
    })
}

fn scope_of(table: Option<String>) -> lazarusdb::Scope {
    match table {
        Some(t) => lazarusdb::Scope::Table(t),
        None => lazarusdb::Scope::Store,
    }
}

// ---------------------------------------------------------------------------------------------
// Routes.

async fn tables(State(app): State<App>) -> ApiResult {
    blocking(&app, |db| Ok(axum::Json(json!(db.tables()?)))).await
}

async fn table_def(State(app): State<App>, path: Result<Path<String>, PathRejection>) -> ApiResult {
    let Path(table) = path?;
    blocking(&app, move |db| {
        let def = db.table_def(&table)?;
        Ok(axum::Json(lazarusdb::schema_to_json(&[&def])))
    })
    .await
}

async fn get_row(
    State(app): State<App>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<AsOfQuery>, QueryRejection>,
) -> ApiResult {
    let Path((table, pk)) = path?;
    let Query(q) = query?;
    blocking(&app, move |db| {
        let pk = pk_of(db, &table, &pk)?;
        let row = match at_of(q.as_of.as_deref())? {
            Some(at) => db.as_of(at)?.get(&table, pk.clone())?,
            None => db.get(&table, pk.clone())?,
        };
        match row {
            Some(r) => Ok(axum::Json(r.to_json())),
            None => Err(lazarusdb::Error::NotFound {
                table: table.clone(),
                pk: pk.to_string(),
            }
            .into()),
        }
    })
    .await
}

async fn scan(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ScanQuery>, QueryRejection>,
) -> ApiResult {
    let Path(table) = path?;
    let Query(q) = query?;
    blocking(&app, move |db| {
        let mut s = match &q.after {
            Some(after) => {
                let pk = pk_of(db, &table, after)?;
                if q.reverse == Some(true) {
                    Scan::range((Bound::Unbounded, Bound::Excluded(pk)))
                } else {
                    Scan::range((Bound::Excluded(pk), Bound::Unbounded))
                }
            }
            None => Scan::all(),
        };
        if q.reverse == Some(true) {
            s = s.reverse();
        }
        s = s.limit(q.limit.unwrap_or(100).min(10_000));
        let rows = match at_of(q.as_of.as_deref())? {
            Some(at) => db.as_of(at)?.scan(&table, s)?,
            None => db.scan(&table, s)?,
        };
        Ok(axum::Json(rows_json(&rows)))
    })
    .await
}

async fn children(
    State(app): State<App>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    query: Result<Query<AsOfQuery>, QueryRejection>,
) -> ApiResult {
    let Path((table, pk, child)) = path?;
    let Query(q) = query?;
    blocking(&app, move |db| {
        let pk = pk_of(db, &table, &pk)?;
        let rows = match at_of(q.as_of.as_deref())? {
            Some(at) => db.as_of(at)?.children(&table, pk, &child)?,
            None => db.children(&table, pk, &child)?,
        };
        Ok(axum::Json(rows_json(&rows)))
    })
    .await
}

async fn history(
    State(app): State<App>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult {
    let Path((table, pk)) = path?;
    blocking(&app, move |db| {
        let pk = pk_of(db, &table, &pk)?;
        let changes = db.history(&table, pk)?;
        Ok(axum::Json(Json::Array(
            changes.iter().map(change_json).collect(),
        )))
    })
    .await
}

async fn insert(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let Path(table) = path?;
    let body: WriteBody = body_of(&body?)?;
    blocking(&app, move |db| {
        let row = Row::from_json(&body.row)?;
        let audit = audit_of(body.actor, body.reason);
        let written = db.transaction_as(&audit, |tx| tx.insert(&table, row))?;
        Ok(axum::Json(written.to_json()))
    })
    .await
}

async fn update(
    State(app): State<App>,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let Path((table, pk)) = path?;
    let body: WriteBody = body_of(&body?)?;
    blocking(&app, move |db| {
        let pk = pk_of(db, &table, &pk)?;
        let changes = Row::from_json(&body.row)?;
        let audit = audit_of(body.actor, body.reason);
        let written = db.transaction_as(&audit, |tx| tx.update(&table, pk, changes))?;
        Ok(axum::Json(written.to_json()))
    })
    .await
}

async fn delete_row(
    State(app): State<App>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> ApiResult {
    let Path((table, pk)) = path?;
    let Query(q) = query?;
    blocking(&app, move |db| {
        let pk = pk_of(db, &table, &pk)?;
        let report = db.delete_with(&table, pk, &audit_of(q.actor, q.reason))?;
        Ok(axum::Json(json!({
            "deletion": report.deletion.to_string(),
            "rows": refs_json(&report.rows),
            "unlinked": refs_json(&report.unlinked),
        })))
    })
    .await
}

async fn trash(
    State(app): State<App>,
    query: Result<Query<TrashQueryParams>, QueryRejection>,
) -> ApiResult {
    let Query(q) = query?;
    blocking(&app, move |db| {
        let mut tq = TrashQuery::all().limit(q.limit.unwrap_or(100).min(10_000));
        if let Some(t) = q.table {
            tq = tq.table(t);
        }
        let list = db.trash(&tq)?;
        Ok(axum::Json(Json::Array(
            list.iter().map(deletion_json).collect(),
        )))
    })
    .await
}

async fn deletion(State(app): State<App>, path: Result<Path<String>, PathRejection>) -> ApiResult {
    let Path(id) = path?;
    blocking(&app, move |db| {
        let id = deletion_of(db, &id)?;
        let d = db.deletion(id)?;
        let members = db.deletion_rows(id)?;
        let mut doc = deletion_json(&d);
        if let Some(o) = doc.as_object_mut() {
            o.insert(
                "members".into(),
                Json::Array(members.iter().map(member_json).collect()),
            );
        }
        Ok(axum::Json(doc))
    })
    .await
}

async fn restore_plan(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<PolicyQuery>, QueryRejection>,
) -> ApiResult {
    let Path(id) = path?;
    let Query(q) = query?;
    let policy = policy_of(q.policy.as_deref())?;
    blocking(&app, move |db| {
        let id = deletion_of(db, &id)?;
        let plan = db.restore_plan(id, policy)?;
        Ok(axum::Json(plan_json(&plan)))
    })
    .await
}

async fn restore(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let Path(id) = path?;
    let body = body?;
    let body: RestoreBody = if body.is_empty() {
        RestoreBody::default()
    } else {
        body_of(&body)?
    };
    let policy = policy_of(body.policy.as_deref())?;
    blocking(&app, move |db| {
        let id = deletion_of(db, &id)?;
        let plan = db.restore_with(id, policy, &audit_of(body.actor, body.reason))?;
        Ok(axum::Json(plan_json(&plan)))
    })
    .await
}

/// The dry run of a restore of a table (or the store) to a point.
async fn restore_to_plan(
    State(app): State<App>,
    query: Result<Query<RestoreToQuery>, QueryRejection>,
) -> ApiResult {
    let Query(q) = query?;
    let Some(at) = at_of(q.at.as_deref())? else {
        return Err(ApiError::bad("`at` is missing: the point to restore to"));
    };
    blocking(&app, move |db| {
        let plan = db.restore_to_plan(&scope_of(q.table), at)?;
        Ok(axum::Json(rewind_json(&plan)))
    })
    .await
}

/// A restore of a table (or the store) to a point, by compensating events.
async fn restore_to(State(app): State<App>, body: Result<Bytes, BytesRejection>) -> ApiResult {
    let body: RestoreToBody = body_of(&body?)?;
    let at = At::parse(&body.at)?;
    blocking(&app, move |db| {
        let audit = audit_of(body.actor, body.reason);
        let target = db.resolve(at)?;
        let scope = scope_of(body.table);
        let plan = db.transaction_as(&audit, |tx| tx.restore_to(&scope, target))?;
        Ok(axum::Json(rewind_json(&plan)))
    })
    .await
}

/// `GET /api/lookup/{table}?COLUMN=VALUE&...[&as_of=AT]`: the rows whose indexed columns
/// equal the values, through the index on those columns.
async fn lookup(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let Path(table) = path?;
    let Query(pairs) = query?;
    blocking(&app, move |db| {
        let mut at = None;
        let mut columns = Vec::new();
        let mut values = Vec::new();
        for (k, v) in &pairs {
            if k == "as_of" {
                at = at_of(Some(v))?;
            } else {
                values.push(value_of(db, &table, k, v)?);
                columns.push(k.as_str());
            }
        }
        if columns.is_empty() {
            return Err(ApiError::bad(
                "a lookup names the indexed columns and their values: ?COLUMN=VALUE",
            ));
        }
        let rows = match at {
            Some(at) => db.as_of(at)?.lookup(&table, &columns, &values)?,
            None => db.lookup(&table, &columns, &values)?,
        };
        Ok(axum::Json(rows_json(&rows)))
    })
    .await
}

/// `GET /api/diff?from=AT[&to=AT][&table=T]`: the rows that differ between two points.
async fn diff(
    State(app): State<App>,
    query: Result<Query<DiffQuery>, QueryRejection>,
) -> ApiResult {
    let Query(q) = query?;
    let from = at_of(q.from.as_deref())?
        .ok_or_else(|| ApiError::bad("a diff needs `from`, the earlier point"))?;
    let to = at_of(q.to.as_deref())?.unwrap_or(At::Now);
    blocking(&app, move |db| {
        let diffs = db.diff(from, to, q.table.as_deref())?;
        Ok(axum::Json(Json::Array(
            diffs
                .iter()
                .map(|d| {
                    json!({
                        "row": {"table": d.row.table, "pk": d.row.pk.to_json()},
                        "kind": d.kind.name(),
                        "before": d.before.as_ref().map(Row::to_json),
                        "after": d.after.as_ref().map(Row::to_json),
                        "changes": d.changes.iter().map(|c| json!({
                            "column": c.column,
                            "before": c.before.to_json(),
                            "after": c.after.to_json(),
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect(),
        )))
    })
    .await
}

/// `POST /api/undo` `{"tx", "force", "actor", "reason"}`: one transaction undone by
/// compensating events (409 `rewind_conflict` when later transactions changed the same rows,
/// unless `force`).
async fn undo(State(app): State<App>, body: Result<Bytes, BytesRejection>) -> ApiResult {
    let body: UndoBody = body_of(&body?)?;
    blocking(&app, move |db| {
        let audit = audit_of(body.actor, body.reason);
        let plan = db.transaction_as(&audit, |t| t.undo(body.tx, body.force))?;
        Ok(axum::Json(rewind_json(&plan)))
    })
    .await
}

async fn log(State(app): State<App>, query: Result<Query<LogQuery>, QueryRejection>) -> ApiResult {
    let Query(q) = query?;
    blocking(&app, move |db| {
        let limit = q.limit.unwrap_or(100).min(10_000);
        let changes = db.changes(q.from.unwrap_or(1), Some(limit))?;
        Ok(axum::Json(Json::Array(
            changes.iter().map(change_json).collect(),
        )))
    })
    .await
}

async fn verify(State(app): State<App>) -> ApiResult {
    blocking(&app, |db| {
        let r = db.verify()?;
        Ok(axum::Json(json!({
            "ok": r.is_ok(),
            "events": r.events,
            "keys": r.keys,
            "differences": r.differences,
        })))
    })
    .await
}

async fn stats(State(app): State<App>) -> ApiResult {
    blocking(&app, |db| {
        let s = db.stats()?;
        Ok(axum::Json(json!({
            "engine": s.engine.name(),
            "last_lsn": s.last_lsn,
            "last_tx": s.last_tx,
            "tables": s.tables.iter().map(|(t, n)| json!({"table": t, "rows": n})).collect::<Vec<_>>(),
            "deletions": s.deletions,
            "disk_bytes": s.disk_bytes,
            "live_bytes": s.live_bytes,
            "history_bytes": s.history_bytes,
            "trash_bytes": s.trash_bytes,
            "reclaimable_bytes": s.reclaimable_bytes,
        })))
    })
    .await
}

/// Completes once the server is stopping (never for a router without [`serve`]).
async fn until_closing(closing: &mut Option<tokio::sync::watch::Receiver<bool>>) {
    if let Some(c) = closing {
        loop {
            if *c.borrow_and_update() {
                return;
            }
            if c.changed().await.is_err() {
                break;
            }
        }
    }
    std::future::pending::<()>().await
}

/// The change feed as Server-Sent Events: one `change` event per committed change after
/// `from` (or after the `Last-Event-ID` a reconnecting client sends), its id the LSN.
async fn changes(
    State(app): State<App>,
    headers: HeaderMap,
    query: Result<Query<ChangesQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| ApiError::bad(format!("Last-Event-ID `{v}` is not an LSN")))
        })
        .transpose()?;
    let from = resume.or(q.from).unwrap_or(0);
    // refused at once when past the end of the log (a check of one counter: no store work)
    app.db.subscribe(from)?;
    let db = app.db.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<SseEvent>(256);
    tokio::task::spawn_blocking(move || {
        let Ok(mut feed) = db.subscribe(from) else {
            return;
        };
        loop {
            if tx.is_closed() {
                return; // the client went away
            }
            match feed.next_timeout(Duration::from_millis(500)) {
                Ok(Some(c)) => {
                    let event = SseEvent::default()
                        .event("change")
                        .id(c.lsn.to_string())
                        .data(change_json(&c).to_string());
                    if tx.blocking_send(event).is_err() {
                        return;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    let event = SseEvent::default()
                        .event("error")
                        .data(json!({"error": e.kind(), "message": e.to_string()}).to_string());
                    let _ = tx.blocking_send(event);
                    return;
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(
        (rx, app.closing.clone()),
        |(mut rx, mut closing)| async move {
            tokio::select! {
                e = rx.recv() => e.map(|e| (Ok::<SseEvent, Infallible>(e), (rx, closing))),
                () = until_closing(&mut closing) => None,
            }
        },
    );
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}
