//! The PostgreSQL engine: the store's spaces as tables of a PostgreSQL schema, behind the same
//! narrow interface as the embedded engines.
//!
//! - Each space is a table `"<schema>".<space>` of `(k bytea PRIMARY KEY, v bytea NOT NULL)`;
//!   bytea compares byte by byte, shorter first on a common prefix, as the store's keys do.
//! - [`Engine::write`] is one PostgreSQL transaction sent as one query string (one upsert and
//!   one delete per space, keys and values as hex literals: one round trip): after a crash of either side it is there whole or not at
//!   all, and it is durable once PostgreSQL acknowledged its commit (`synchronous_commit=on`
//!   is set on every connection), so [`Engine::sync`] has nothing left to do.
//! - [`Engine::read`] opens a `REPEATABLE READ READ ONLY` transaction on a pooled connection
//!   and takes its snapshot at once: the view sees every batch committed before it whole and
//!   nothing after, and never holds up a writer.
//! - Ranges are read in pages of [`PAGE`] pairs (keyset pagination), so that a view can serve
//!   gets while a range over it is being walked.
//! - A connection that fails is dropped; the next call connects again. Connecting gives up
//!   after 10 s and a server that stops answering is given up after 30 s (TCP user timeout,
//!   keepalives): a gone server is an error, never a hang.
//!
//! Several processes may open one store at once ([`Engine::shared`]): a write transaction takes
//! the store's advisory lock ([`Engine::lock_writes`]) from its start until its batch is
//! committed, so writers of all processes take turns, and reads the log's positions and the
//! catalog under it.

use std::collections::{HashMap, VecDeque};
use std::ops::Bound;
use std::time::Duration;

use parking_lot::Mutex;
use postgres::{Client, NoTls, Statement};

use super::{Batch, Engine, EngineKind, Kv, KvIter, ReadView, Space, WriteLock};
use crate::error::{Error, Result};

/// Pairs fetched per query of a range.
pub const PAGE: i64 = 512;

/// Connections kept idle for the next read views.
const IDLE: usize = 8;

fn pg_error(e: postgres::Error) -> Error {
    match e.as_db_error() {
        Some(db) => Error::Storage(format!(
            "PostgreSQL: {} ({})",
            db.message(),
            db.code().code()
        )),
        None => Error::Storage(format!("PostgreSQL: {e}")),
    }
}

/// A connection with its prepared statements.
struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
    /// A read view's transaction is still open on it: the next user ends it first (a view's
    /// end costs no round trip of its own).
    open_tx: bool,
}

impl Conn {
    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).map_err(pg_error)?;
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

/// A store in a PostgreSQL schema.
pub struct PostgresEngine {
    config: postgres::Config,
    schema: String,
    idle: Mutex<Vec<Conn>>,
    writer: Mutex<Option<Conn>>,
    /// Connections that hold (or held) the store's write lock.
    lockers: std::sync::Arc<Mutex<Vec<Conn>>>,
    /// The wake-ups of commits in any process (`LISTEN`), started at the first wait.
    listener: std::sync::Arc<Listener>,
}

/// What the listening thread shares: a count of notifications and their condition variable.
#[derive(Default)]
struct Listener {
    heard: Mutex<u64>,
    signal: parking_lot::Condvar,
    started: std::sync::atomic::AtomicBool,
    stop: std::sync::atomic::AtomicBool,
}

impl Listener {
    fn wake(&self) {
        *self.heard.lock() += 1;
        self.signal.notify_all();
    }
}

/// The notification channel of a store: every commit notifies it (`pg_notify`), at commit.
fn channel(schema: &str) -> String {
    format!("lz_{}", schema.get(..60).unwrap_or(schema))
}

/// The listening thread: `LISTEN` on the store's channel, a wake-up for every notification;
/// connected again after a failure (waking the waiters: commits may have gone unheard).
fn listen(config: postgres::Config, chan: String, listener: std::sync::Arc<Listener>) {
    use std::sync::atomic::Ordering;
    while !listener.stop.load(Ordering::Relaxed) {
        let mut client = match config.connect(NoTls) {
            Ok(c) => c,
            Err(_) => {
                listener.wake();
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        if client.batch_execute(&format!("LISTEN {chan}")).is_err() {
            listener.wake();
            continue;
        }
        // anything committed before the LISTEN took is read by the waiters' next look
        listener.wake();
        while !listener.stop.load(Ordering::Relaxed) {
            use postgres::fallible_iterator::FallibleIterator as _;
            let heard = {
                let mut notes = client.notifications();
                let mut waiting = notes.timeout_iter(Duration::from_millis(500));
                waiting.next().map(|n| n.is_some())
            };
            match heard {
                Ok(true) => listener.wake(),
                Err(_) => break,
                Ok(false) if client.is_closed() => break,
                Ok(false) => {}
            }
        }
        listener.wake();
    }
}

impl Drop for PostgresEngine {
    fn drop(&mut self) {
        // the listening thread ends at its next look (at most half a second)
        self.listener
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// True for a schema name the engine accepts: lower-case ASCII letters, digits and `_`, not
/// starting with a digit, at most 63 bytes (PostgreSQL's identifier limit).
pub fn valid_schema(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes().first().is_some_and(u8::is_ascii_digit)
}

impl PostgresEngine {
    /// Connects to the database at `url` (`postgres://user@host:port/db`) and opens the store
    /// in its schema `schema`, creating the schema and its tables when missing.
    pub fn open(url: &str, schema: &str) -> Result<PostgresEngine> {
        if !valid_schema(schema) {
            return Err(Error::invalid(format!(
                "`{schema}` is not a store name for PostgreSQL: use lower-case letters, digits \
                 and `_` (a schema name, at most 63 characters, not starting with a digit)"
            )));
        }
        let mut config: postgres::Config = url.parse().map_err(|e| {
            Error::invalid(format!(
                "`{url}` is not a PostgreSQL URL ({e}): use postgres://USER@HOST:PORT/DATABASE"
            ))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            // `pg_stat_activity` tells the store's connections apart
            config.application_name(&format!("lazarusdb {schema}"));
        }
        config
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10))
            .tcp_user_timeout(Duration::from_secs(30));
        let engine = PostgresEngine {
            config,
            schema: schema.to_string(),
            idle: Mutex::new(Vec::new()),
            writer: Mutex::new(None),
            lockers: std::sync::Arc::new(Mutex::new(Vec::new())),
            listener: std::sync::Arc::new(Listener::default()),
        };
        let mut conn = engine.connect()?;
        let mut ddl = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\";");
        for space in Space::ALL {
            ddl.push_str(&format!(
                "CREATE TABLE IF NOT EXISTS {} (k bytea PRIMARY KEY, v bytea NOT NULL);",
                engine.table(space)
            ));
        }
        // the catalog's stamp: one row, moved by every write of a catalog key
        ddl.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS {stamp} (id int PRIMARY KEY CHECK (id = 1), n int8 NOT NULL);\
             INSERT INTO {stamp} VALUES (1, 0) ON CONFLICT (id) DO NOTHING;",
            stamp = engine.stamp_table()
        ));
        conn.client.batch_execute(&ddl).map_err(pg_error)?;
        engine.idle.lock().push(conn);
        Ok(engine)
    }

    /// The table of a space.
    fn table(&self, space: Space) -> String {
        format!("\"{}\".{}", self.schema, space.name())
    }

    /// The table of the catalog's stamp (see [`super::CATALOG_PREFIX`]).
    fn stamp_table(&self) -> String {
        format!("\"{}\".catalog_stamp", self.schema)
    }

    /// Opens a read view: a repeatable-read transaction whose snapshot the first statement
    /// takes, in one round trip with the last view's `ROLLBACK`. That statement reads the
    /// catalog's stamp; for a writer (`writer`), two more read the last pairs of the log and of
    /// the transactions, which a writer reads first. Each row is tagged with what it is.
    fn open_view(&self, writer: bool) -> Result<Box<dyn ReadView + '_>> {
        let mut begin = format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 'stamp', n::text FROM {};",
            self.stamp_table()
        );
        if writer {
            for space in TAILS {
                begin.push_str(&format!(
                    "SELECT '{}', k, v FROM {} ORDER BY k DESC LIMIT 1;",
                    space.name(),
                    self.table(space)
                ));
            }
        }
        let mut conn = self.pooled()?;
        let first = if conn.open_tx {
            format!("ROLLBACK; {begin}")
        } else {
            begin.clone()
        };
        conn.open_tx = true;
        let answer = match conn.client.simple_query(&first) {
            Ok(answer) => answer,
            Err(e) => {
                if !conn.client.is_closed() {
                    return Err(pg_error(e));
                }
                // the server dropped it (a restart, a failover): so it did the idle ones
                self.idle.lock().clear();
                conn = self.connect()?;
                conn.open_tx = true;
                conn.client.simple_query(&begin).map_err(pg_error)?
            }
        };
        let mut stamp = None;
        // a tail read: `Some(None)` for an empty space
        let mut tails: Vec<(Space, Option<Kv>)> = if writer {
            TAILS.iter().map(|s| (*s, None)).collect()
        } else {
            Vec::new()
        };
        for m in &answer {
            let postgres::SimpleQueryMessage::Row(r) = m else {
                continue;
            };
            match r.get(0) {
                Some("stamp") => stamp = r.get(1).and_then(|n| n.parse::<u64>().ok()),
                Some(tag) => {
                    let pair = (r.get(1).and_then(unhex), r.get(2).and_then(unhex));
                    let (Some(k), Some(v)) = pair else {
                        return Err(Error::Storage(format!(
                            "PostgreSQL: the last pair of `{tag}` did not read as hex bytes"
                        )));
                    };
                    if let Some(slot) = tails.iter_mut().find(|(s, _)| s.name() == tag) {
                        slot.1 = Some((k, v));
                    }
                }
                None => {}
            }
        }
        Ok(Box::new(PgView {
            engine: self,
            conn: Mutex::new(Some(conn)),
            stamp,
            ahead: Mutex::new(ReadAhead::default()),
            tails: if writer { Some(tails) } else { None },
        }))
    }

    fn connect(&self) -> Result<Conn> {
        let mut client = self.config.connect(NoTls).map_err(|e| {
            Error::Storage(format!(
                "PostgreSQL: cannot connect ({e}); is the server running and the URL right?"
            ))
        })?;
        client
            .batch_execute("SET synchronous_commit = on; SET bytea_output = hex")
            .map_err(pg_error)?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
            open_tx: false,
        })
    }

    fn pooled(&self) -> Result<Conn> {
        while let Some(c) = self.idle.lock().pop() {
            if !c.client.is_closed() {
                return Ok(c);
            }
        }
        self.connect()
    }

    /// The transaction that writes `batch`: per space, one upsert of its puts and one delete of
    /// its deletes, between `BEGIN` and `COMMIT`.
    fn write_sql(&self, batch: &Batch) -> String {
        let mut sql = String::from("BEGIN;");
        for space in Space::ALL {
            let Some(map) = batch.space(space) else {
                continue;
            };
            let table = self.table(space);
            let mut puts = String::new();
            let mut gone = String::new();
            for (k, v) in map {
                match v {
                    Some(v) => {
                        if !puts.is_empty() {
                            puts.push(',');
                        }
                        puts.push('(');
                        push_hex(&mut puts, k);
                        puts.push(',');
                        push_hex(&mut puts, v);
                        puts.push(')');
                    }
                    None => {
                        if !gone.is_empty() {
                            gone.push(',');
                        }
                        push_hex(&mut gone, k);
                    }
                }
            }
            if !puts.is_empty() {
                sql.push_str(&format!(
                    "INSERT INTO {table} (k, v) VALUES {puts} \
                     ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v;"
                ));
            }
            if !gone.is_empty() {
                sql.push_str(&format!("DELETE FROM {table} WHERE k IN ({gone});"));
            }
        }
        let catalog_changed = batch
            .space(Space::Meta)
            .is_some_and(|m| m.keys().any(|k| k.starts_with(super::CATALOG_PREFIX)));
        if catalog_changed {
            sql.push_str(&format!("UPDATE {} SET n = n + 1;", self.stamp_table()));
        }
        // a wake-up for the other processes' change feeds, delivered at commit
        sql.push_str(&format!(
            "SELECT pg_notify('{}', '');",
            channel(&self.schema)
        ));
        sql.push_str("COMMIT;");
        sql
    }

    /// A pooled connection with no transaction open (for work other than a read view).
    fn pooled_idle(&self) -> Result<Conn> {
        let mut conn = self.pooled()?;
        if conn.open_tx {
            conn.client.batch_execute("ROLLBACK").map_err(pg_error)?;
            conn.open_tx = false;
        }
        Ok(conn)
    }

    fn give_back(&self, conn: Conn) {
        let mut idle = self.idle.lock();
        if idle.len() < IDLE && !conn.client.is_closed() {
            idle.push(conn);
        }
    }

    /// Drops the schema with every table of the store (tests).
    #[cfg(test)]
    pub fn drop_store(url: &str, schema: &str) -> Result<()> {
        let engine = PostgresEngine::open(url, schema)?;
        let mut conn = engine.pooled_idle()?;
        conn.client
            .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .map_err(pg_error)
    }
}

impl Engine for PostgresEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Postgres
    }

    fn read(&self) -> Result<Box<dyn ReadView + '_>> {
        self.open_view(false)
    }

    fn read_for_writer(&self) -> Result<Box<dyn ReadView + '_>> {
        self.open_view(true)
    }

    fn write(&self, batch: &Batch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        // one round trip: the whole transaction as one query string (keys and values as hex
        // literals, which hold nothing but hex digits)
        let sql = self.write_sql(batch);
        let mut slot = self.writer.lock();
        let mut conn = match slot.take() {
            Some(c) if !c.client.is_closed() => c,
            _ => self.connect()?,
        };
        let result = conn.client.batch_execute(&sql).map_err(pg_error);
        match &result {
            Ok(()) => *slot = Some(conn),
            Err(_) if !conn.client.is_closed() => {
                // a failed statement leaves the transaction aborted: end it, keep the connection
                if conn.client.batch_execute("ROLLBACK").is_ok() {
                    *slot = Some(conn);
                }
            }
            Err(_) => {} // dropped: the next write connects anew
        }
        result
    }

    fn sync(&self) -> Result<()> {
        // every write was acknowledged by a synchronous commit
        Ok(())
    }

    fn snapshots_hold_writes(&self) -> bool {
        false
    }

    fn shared(&self) -> bool {
        true
    }

    fn wait_for_commits(&self, timeout: Duration) -> bool {
        use std::sync::atomic::Ordering;
        if !self.listener.started.swap(true, Ordering::AcqRel) {
            let (config, chan, listener) = (
                self.config.clone(),
                channel(&self.schema),
                self.listener.clone(),
            );
            let spawned = std::thread::Builder::new()
                .name("lazarus-pg-listen".into())
                .spawn(move || listen(config, chan, listener));
            if spawned.is_err() {
                self.listener.started.store(false, Ordering::Release);
                return false;
            }
        }
        let mut heard = self.listener.heard.lock();
        let before = *heard;
        let _ = self.listener.signal.wait_for(&mut heard, timeout);
        *heard != before
    }

    /// A session-level advisory lock keyed by the store's schema, on a connection of its own
    /// held until the guard drops. A process that dies while holding it loses its session and
    /// the lock with it. Waiting gives up after `LOCK_WAIT`.
    fn lock_writes(&self) -> Result<Option<Box<dyn WriteLock>>> {
        let mut conn = match self.lockers.lock().pop() {
            Some(c) if !c.client.is_closed() => c,
            _ => {
                let mut c = self.connect()?;
                c.client
                    .batch_execute(&format!("SET lock_timeout = '{}s'", LOCK_WAIT.as_secs()))
                    .map_err(pg_error)?;
                c
            }
        };
        // one round trip (simple protocol): the store's name is checked to be a plain
        // identifier (`valid_schema`), so it goes in as a literal
        let lock = format!("SELECT pg_advisory_lock(hashtext('{}'))", self.schema);
        let waited = |e: postgres::Error| {
            Error::Storage(format!(
                "PostgreSQL: cannot take the store's write lock ({}): another process held it \
                 for more than {} s, or the server is gone",
                pg_error(e),
                LOCK_WAIT.as_secs()
            ))
        };
        match conn.client.batch_execute(&lock) {
            Ok(_) => {}
            Err(e) if !conn.client.is_closed() => return Err(waited(e)),
            Err(_) => {
                // the server dropped the connection; the lock was not taken: once more, anew
                conn = self.connect()?;
                conn.client
                    .batch_execute(&format!("SET lock_timeout = '{}s'", LOCK_WAIT.as_secs()))
                    .map_err(pg_error)?;
                conn.client.batch_execute(&lock).map_err(waited)?;
            }
        }
        Ok(Some(Box::new(PgWriteLock {
            engine_lockers: self.lockers.clone(),
            schema: self.schema.clone(),
            conn: Some(conn),
        })))
    }

    fn disk_bytes(&self) -> Result<u64> {
        let mut conn = self.pooled_idle()?;
        let row = conn
            .client
            .query_one(
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relkind = 'r'",
                &[&self.schema],
            )
            .map_err(pg_error)?;
        let bytes: i64 = row.try_get(0).map_err(pg_error)?;
        self.give_back(conn);
        Ok(u64::try_from(bytes).unwrap_or(0))
    }
}

/// Appends `bytes` as a bytea literal: `'\x0a1b...'::bytea`.
fn push_hex(out: &mut String, bytes: &[u8]) {
    use std::fmt::Write as _;
    out.push_str("'\\x");
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out.push_str("'::bytea");
}

/// How long a writer waits for another process's write transaction.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// The store's write lock, held by a connection of its own.
struct PgWriteLock {
    engine_lockers: std::sync::Arc<Mutex<Vec<Conn>>>,
    schema: String,
    conn: Option<Conn>,
}

impl WriteLock for PgWriteLock {}

impl Drop for PgWriteLock {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            let unlocked = conn.client.batch_execute(&format!(
                "SELECT pg_advisory_unlock(hashtext('{}'))",
                self.schema
            ));
            // a connection whose unlock failed is dropped: its session ends, the lock with it
            if unlocked.is_ok() {
                let mut lockers = self.engine_lockers.lock();
                if lockers.len() < 2 {
                    lockers.push(conn);
                }
            }
        }
    }
}

/// A read view: a repeatable-read transaction on one connection.
struct PgView<'e> {
    engine: &'e PostgresEngine,
    conn: Mutex<Option<Conn>>,
    /// The catalog's stamp in this view's snapshot (`None`: not readable, so never trusted).
    stamp: Option<u64>,
    /// What this view's gets read ahead (see [`ReadAhead`]).
    ahead: Mutex<ReadAhead>,
    /// A writer's view: the last pair of each space of [`TAILS`] (`None` in an empty space),
    /// read when it opened.
    tails: Option<Vec<(Space, Option<Kv>)>>,
}

/// The spaces whose last pair a writer's view reads when it opens.
const TAILS: [Space; 2] = [Space::Log, Space::Tx];

/// The bytes of PostgreSQL's text form of a `bytea` (a backslash, `x`, then hex digits).
fn unhex(text: &str) -> Option<Vec<u8>> {
    let digits = text.strip_prefix("\\x")?.as_bytes();
    if digits.len() % 2 != 0 {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(s, 16).ok()
        })
        .collect()
}

/// A view's read-ahead. A view's first read (a get or a range) reads what it asks (a first get
/// keeps its key as a span of one, answered again without a query); each later
/// get that misses reads the next [`READ_AHEAD`] pairs from its key on, and so does each later
/// range with a lower bound (the pairs within the range are its first page); the view answers
/// a get that falls within a span it read, and a range that a span covers, from that span:
/// within it, a key it did not return is not there. A snapshot never changes, so what it read
/// stays true for the view's life. The gets of a transaction's
/// checks and of a restore read neighbouring keys (a deletion's members, a parent's children,
/// the events of one transaction): one round trip then serves many of them.
#[derive(Default)]
struct ReadAhead {
    /// Reads made through the view (the first is never read ahead).
    reads: usize,
    spans: VecDeque<Span>,
}

/// Pairs read ahead: every pair of `space` from `from` to `to` (inclusive; `None`: to the end).
struct Span {
    space: Space,
    from: Vec<u8>,
    to: Option<Vec<u8>>,
    pairs: Vec<Kv>,
}

impl Span {
    fn holds(&self, space: Space, key: &[u8]) -> bool {
        self.space == space
            && key >= self.from.as_slice()
            && self.to.as_deref().is_none_or(|to| key <= to)
    }

    /// True when every pair of `space` within the bounds is in the span.
    fn covers(&self, space: Space, lower: &Bound<Vec<u8>>, upper: &Bound<Vec<u8>>) -> bool {
        let from = match lower {
            Bound::Included(k) | Bound::Excluded(k) => k,
            Bound::Unbounded => return false,
        };
        self.holds(space, from)
            && match upper {
                Bound::Unbounded => self.to.is_none(),
                Bound::Included(u) | Bound::Excluded(u) => {
                    self.to.as_deref().is_none_or(|to| to >= u.as_slice())
                }
            }
    }

    /// The span's pairs within the bounds, in order (or reverse order).
    fn within(&self, lower: &Bound<Vec<u8>>, upper: &Bound<Vec<u8>>, reverse: bool) -> Vec<Kv> {
        let bounds = (super::bound_ref(lower), super::bound_ref(upper));
        let mut out: Vec<Kv> = self
            .pairs
            .iter()
            .filter(|(k, _)| std::ops::RangeBounds::<&[u8]>::contains(&bounds, &k.as_slice()))
            .cloned()
            .collect();
        if reverse {
            out.reverse();
        }
        out
    }

    fn value(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.pairs
            .binary_search_by(|(k, _)| k.as_slice().cmp(key))
            .ok()
            .and_then(|i| self.pairs.get(i))
            .map(|(_, v)| v.clone())
    }
}

/// Pairs a get reads ahead once a view has made one get.
const READ_AHEAD: i64 = 32;

/// The most spans a view keeps (the oldest go first).
const MAX_SPANS: usize = 64;

impl PgView<'_> {
    fn with_conn<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        let mut slot = self.conn.lock();
        let conn = slot.as_mut().ok_or_else(|| {
            Error::Storage("PostgreSQL: the read view's connection failed".into())
        })?;
        let result = f(conn);
        if result.is_err() && conn.client.is_closed() {
            *slot = None;
            // the server dropped it (a restart, a failover): so it did the idle ones
            self.engine.idle.lock().clear();
        }
        result
    }

    /// The next [`READ_AHEAD`] pairs of `space` from `from` on, as a span.
    fn read_ahead(&self, space: Space, from: &[u8]) -> Result<Span> {
        let pairs = self.page(
            space,
            &Bound::Included(from.to_vec()),
            &Bound::Unbounded,
            false,
            READ_AHEAD,
        )?;
        // fewer pairs than asked: the span runs to the end of the space
        let to = match pairs.last() {
            Some((last, _)) if pairs.len() as i64 >= READ_AHEAD => Some(last.clone()),
            _ => None,
        };
        Ok(Span {
            space,
            from: from.to_vec(),
            to,
            pairs,
        })
    }

    /// Keeps a span for the view's later reads (the oldest goes past [`MAX_SPANS`]).
    fn keep(&self, span: Span) {
        let mut ahead = self.ahead.lock();
        if ahead.spans.len() >= MAX_SPANS {
            ahead.spans.pop_front();
        }
        ahead.spans.push_back(span);
    }

    /// One page of a range: at most [`PAGE`] pairs within the bounds, in order.
    fn page(
        &self,
        space: Space,
        lower: &Bound<Vec<u8>>,
        upper: &Bound<Vec<u8>>,
        reverse: bool,
        size: i64,
    ) -> Result<Vec<Kv>> {
        let mut params: Vec<&[u8]> = Vec::new();
        let mut cond = Vec::new();
        for (bound, op_inc, op_exc) in [(lower, ">=", ">"), (upper, "<=", "<")] {
            match bound {
                Bound::Included(k) => {
                    params.push(k);
                    cond.push(format!("k {op_inc} ${}", params.len()));
                }
                Bound::Excluded(k) => {
                    params.push(k);
                    cond.push(format!("k {op_exc} ${}", params.len()));
                }
                Bound::Unbounded => {}
            }
        }
        let sql = format!(
            "SELECT k, v FROM {} {} ORDER BY k {} LIMIT {size}",
            self.engine.table(space),
            if cond.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", cond.join(" AND "))
            },
            if reverse { "DESC" } else { "ASC" }
        );
        self.with_conn(|conn| {
            let s = conn.statement(&sql)?;
            let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params
                .iter()
                .map(|p| p as &(dyn postgres::types::ToSql + Sync))
                .collect();
            let rows = conn.client.query(&s, &refs).map_err(pg_error)?;
            rows.iter()
                .map(|r| {
                    Ok((
                        r.try_get::<_, Vec<u8>>(0).map_err(pg_error)?,
                        r.try_get::<_, Vec<u8>>(1).map_err(pg_error)?,
                    ))
                })
                .collect()
        })
    }
}

impl Drop for PgView<'_> {
    fn drop(&mut self) {
        // its read-only transaction ends with the next use of the connection
        if let Some(conn) = self.conn.lock().take() {
            self.engine.give_back(conn);
        }
    }
}

impl ReadView for PgView<'_> {
    fn catalog_stamp(&self) -> Option<u64> {
        self.stamp
    }

    fn last(&self, space: Space) -> Result<Option<Kv>> {
        if let Some(tail) = self
            .tails
            .as_ref()
            .and_then(|t| t.iter().find(|(s, _)| *s == space))
        {
            return Ok(tail.1.clone());
        }
        self.range(space, Bound::Unbounded, Bound::Unbounded, true)?
            .next()
            .transpose()
    }

    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let first = {
            let mut ahead = self.ahead.lock();
            if let Some(span) = ahead.spans.iter().find(|s| s.holds(space, key)) {
                return Ok(span.value(key));
            }
            ahead.reads += 1;
            ahead.reads == 1
        };
        if !first {
            let span = self.read_ahead(space, key)?;
            let value = span.value(key);
            self.keep(span);
            return Ok(value);
        }
        let sql = format!("SELECT v FROM {} WHERE k = $1", self.engine.table(space));
        let value = self.with_conn(|conn| {
            let s = conn.statement(&sql)?;
            let row = conn.client.query_opt(&s, &[&key]).map_err(pg_error)?;
            row.map(|r| r.try_get::<_, Vec<u8>>(0).map_err(pg_error))
                .transpose()
        })?;
        // kept as a span of one key: a transaction often reads a key twice (a table's sequence
        // for the key check, then to move it on)
        self.keep(Span {
            space,
            from: key.to_vec(),
            to: Some(key.to_vec()),
            pairs: value.iter().map(|v| (key.to_vec(), v.clone())).collect(),
        });
        Ok(value)
    }

    fn range<'a>(
        &'a self,
        space: Space,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        reverse: bool,
    ) -> Result<KvIter<'a>> {
        let (lower, upper) = (super::bound_owned(start), super::bound_owned(end));
        if super::empty_range(&lower, &upper) {
            return Ok(Box::new(std::iter::empty()));
        }
        let from = match &lower {
            Bound::Included(k) | Bound::Excluded(k) => Some(k.clone()),
            Bound::Unbounded => None,
        };
        let read_ahead = {
            let mut ahead = self.ahead.lock();
            if let Some(span) = ahead.spans.iter().find(|s| s.covers(space, &lower, &upper)) {
                let pairs = span.within(&lower, &upper, reverse);
                return Ok(Box::new(pairs.into_iter().map(Ok)));
            }
            ahead.reads += 1;
            ahead.reads > 1
        };
        let mut pages = Pages {
            view: self,
            space,
            lower,
            upper,
            reverse,
            buffer: VecDeque::new(),
            done: false,
            size: FIRST_PAGE,
        };
        if let (true, Some(from)) = (read_ahead, from) {
            let span = self.read_ahead(space, &from)?;
            if span.covers(space, &pages.lower, &pages.upper) {
                let pairs = span.within(&pages.lower, &pages.upper, reverse);
                self.keep(span);
                return Ok(Box::new(pairs.into_iter().map(Ok)));
            }
            if !reverse {
                // the span is the range's first page: the pages go on after it
                pages.buffer = span.within(&pages.lower, &pages.upper, false).into();
                if let Some(to) = &span.to {
                    pages.lower = Bound::Excluded(to.clone());
                }
                pages.size = READ_AHEAD * 2;
            }
            self.keep(span);
        }
        Ok(Box::new(pages))
    }
}

/// A range read page by page, each page's last key the next page's excluded bound.
struct Pages<'a> {
    view: &'a PgView<'a>,
    space: Space,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    reverse: bool,
    buffer: VecDeque<Kv>,
    done: bool,
    /// The next page's size: small first (many ranges want one pair), then up to [`PAGE`].
    size: i64,
}

/// The first page of a range.
const FIRST_PAGE: i64 = 16;

impl Iterator for Pages<'_> {
    type Item = Result<Kv>;

    fn next(&mut self) -> Option<Result<Kv>> {
        if self.buffer.is_empty() && !self.done {
            match self.view.page(
                self.space,
                &self.lower,
                &self.upper,
                self.reverse,
                self.size,
            ) {
                Ok(page) => {
                    self.done = (page.len() as i64) < self.size;
                    self.size = (self.size * 4).min(PAGE);
                    if let Some((last, _)) = page.last() {
                        if self.reverse {
                            self.upper = Bound::Excluded(last.clone());
                        } else {
                            self.lower = Bound::Excluded(last.clone());
                        }
                    }
                    self.buffer.extend(page);
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        self.buffer.pop_front().map(Ok)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// The URL of the server the tests use: `LAZARUS_PG_URL`. Without one the tests say so
    /// and pass, except under CI, where a missing server fails them.
    pub fn url() -> Option<String> {
        match std::env::var("LAZARUS_PG_URL") {
            Ok(u) if !u.is_empty() => Some(u),
            _ => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI is set and LAZARUS_PG_URL is not: the PostgreSQL tests need a server"
                );
                eprintln!("LAZARUS_PG_URL is not set: the PostgreSQL engine is not tested here");
                None
            }
        }
    }

    fn fresh_schema() -> String {
        format!("t_{}", uuid::Uuid::now_v7().simple())
    }

    #[test]
    fn schema_names_are_checked() {
        assert!(valid_schema("app_1"));
        assert!(!valid_schema("App"));
        assert!(!valid_schema("1app"));
        assert!(!valid_schema("a\"; DROP"));
        assert!(!valid_schema(""));
        assert!(!valid_schema(&"a".repeat(64)));
    }

    #[test]
    fn conformance() {
        let Some(url) = url() else { return };
        let schema = fresh_schema();
        let engine = PostgresEngine::open(&url, &schema).unwrap();
        crate::storage::conformance::run(&engine);
        drop(engine);
        PostgresEngine::drop_store(&url, &schema).unwrap();
    }

    #[test]
    fn gets_read_ahead_answer_as_exact_gets_and_keep_the_snapshot() {
        let Some(url) = url() else { return };
        let schema = fresh_schema();
        let engine = PostgresEngine::open(&url, &schema).unwrap();
        let key = |i: u32| format!("k{i:04}").into_bytes();
        let mut b = Batch::default();
        for i in (0..300).filter(|i| i % 3 != 0) {
            b.put(Space::Rows, key(i), i.to_be_bytes().to_vec());
        }
        // a neighbouring space's keys must never answer
        b.put(Space::Hist, key(3), b"other".to_vec());
        engine.write(&b).unwrap();
        let view = engine.read().unwrap();
        // written after the view opened: never seen through it, read ahead or not
        let mut later = Batch::default();
        for i in (0..330).filter(|i| i % 3 == 0) {
            later.put(Space::Rows, key(i), b"later".to_vec());
        }
        engine.write(&later).unwrap();
        // forward, backward, strided and past the end, so that spans end, overlap and run out
        let order: Vec<u32> = (0..320)
            .chain((0..320).rev())
            .chain((0..320).step_by(37))
            .chain([5, 299, 300, 301, 1000])
            .collect();
        for i in order {
            let want = (i < 300 && i % 3 != 0).then(|| i.to_be_bytes().to_vec());
            assert_eq!(view.get(Space::Rows, &key(i)).unwrap(), want, "key {i}");
        }
        assert_eq!(
            view.get(Space::Hist, &key(3)).unwrap(),
            Some(b"other".to_vec())
        );
        assert_eq!(view.get(Space::Hist, &key(4)).unwrap(), None);
        drop(view);
        assert_eq!(
            engine.read().unwrap().get(Space::Rows, &key(3)).unwrap(),
            Some(b"later".to_vec())
        );
        drop(engine);
        PostgresEngine::drop_store(&url, &schema).unwrap();
    }

    #[test]
    fn a_first_get_is_kept_for_its_key_only() {
        let Some(url) = url() else { return };
        let schema = fresh_schema();
        let engine = PostgresEngine::open(&url, &schema).unwrap();
        let mut b = Batch::default();
        b.put(Space::Meta, b"seq/1".to_vec(), b"7".to_vec());
        b.put(Space::Meta, b"seq/2".to_vec(), b"9".to_vec());
        engine.write(&b).unwrap();
        let view = engine.read().unwrap();
        assert_eq!(
            view.get(Space::Meta, b"seq/1").unwrap(),
            Some(b"7".to_vec())
        );
        let mut later = Batch::default();
        later.put(Space::Meta, b"seq/1".to_vec(), b"8".to_vec());
        later.put(Space::Meta, b"seq/15".to_vec(), b"1".to_vec());
        engine.write(&later).unwrap();
        // the same key again, and the keys beside it: the snapshot's answers
        assert_eq!(
            view.get(Space::Meta, b"seq/1").unwrap(),
            Some(b"7".to_vec())
        );
        let range: Vec<Kv> = view
            .range(
                Space::Meta,
                Bound::Included(&b"seq/1"[..]),
                Bound::Included(&b"seq/2"[..]),
                false,
            )
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(
            range,
            vec![
                (b"seq/1".to_vec(), b"7".to_vec()),
                (b"seq/2".to_vec(), b"9".to_vec())
            ]
        );
        assert_eq!(view.get(Space::Meta, b"seq/15").unwrap(), None);
        drop(view);
        drop(engine);
        PostgresEngine::drop_store(&url, &schema).unwrap();
    }

    #[test]
    fn ranges_after_a_first_read_answer_as_the_model_does() {
        let Some(url) = url() else { return };
        let schema = fresh_schema();
        let engine = PostgresEngine::open(&url, &schema).unwrap();
        let key = |i: u32| format!("k{i:04}").into_bytes();
        let mut model = std::collections::BTreeMap::new();
        let mut b = Batch::default();
        for i in (0..400).filter(|i| i % 4 != 1) {
            b.put(Space::Index, key(i), vec![i as u8]);
            model.insert(key(i), vec![i as u8]);
        }
        engine.write(&b).unwrap();
        let view = engine.read().unwrap();
        let mut later = Batch::default();
        later.put(Space::Index, key(1), b"later".to_vec());
        engine.write(&later).unwrap();
        let bound = |kind: u32, i: u32| match kind {
            0 => Bound::Included(key(i)),
            1 => Bound::Excluded(key(i)),
            _ => Bound::Unbounded,
        };
        // short and long ranges, in both directions, with every kind of bound, several times
        // over (so that spans serve some and later ones read ahead)
        let mut n = 0u32;
        for round in 0..3u32 {
            for lo in (0..420).step_by(23) {
                for len in [0u32, 1, 3, 10, 40, 150] {
                    n += 1;
                    let (lk, uk) = ((n + round) % 3, (n / 3 + round) % 3);
                    let (lower, upper) = (bound(lk, lo), bound(uk, lo + len));
                    let reverse = n.is_multiple_of(2);
                    let got: Vec<Kv> = view
                        .range(
                            Space::Index,
                            super::super::bound_ref(&lower),
                            super::super::bound_ref(&upper),
                            reverse,
                        )
                        .unwrap()
                        .map(|r| r.unwrap())
                        .collect();
                    let mut want: Vec<Kv> = model
                        .iter()
                        .filter(|(k, _)| {
                            let above = match &lower {
                                Bound::Included(l) => *k >= l,
                                Bound::Excluded(l) => *k > l,
                                Bound::Unbounded => true,
                            };
                            let below = match &upper {
                                Bound::Included(u) => *k <= u,
                                Bound::Excluded(u) => *k < u,
                                Bound::Unbounded => true,
                            };
                            above && below
                        })
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    if reverse {
                        want.reverse();
                    }
                    assert_eq!(got, want, "{lower:?}..{upper:?} reverse {reverse}");
                }
            }
        }
        drop(view);
        drop(engine);
        PostgresEngine::drop_store(&url, &schema).unwrap();
    }

    #[test]
    fn bytea_text_reads_back_and_anything_else_is_refused() {
        assert_eq!(unhex("\\x00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(unhex("\\x"), Some(vec![]));
        assert_eq!(unhex("00ff"), None);
        assert_eq!(unhex("\\x0"), None);
        assert_eq!(unhex("\\xzz"), None);
    }

    #[test]
    fn a_writers_view_knows_the_last_pairs_it_opened_with() {
        let Some(url) = url() else { return };
        let schema = fresh_schema();
        let engine = PostgresEngine::open(&url, &schema).unwrap();
        // empty spaces first
        let view = engine.read_for_writer().unwrap();
        assert_eq!(view.last(Space::Log).unwrap(), None);
        assert_eq!(view.last(Space::Tx).unwrap(), None);
        drop(view);
        let mut b = Batch::default();
        for i in 0u64..40 {
            b.put(Space::Log, i.to_be_bytes().to_vec(), vec![i as u8, 0, 255]);
        }
        b.put(Space::Tx, 7u64.to_be_bytes().to_vec(), b"seven".to_vec());
        b.put(Space::Rows, b"zzz".to_vec(), b"not a tail".to_vec());
        engine.write(&b).unwrap();
        let view = engine.read_for_writer().unwrap();
        let mut later = Batch::default();
        later.put(Space::Log, 99u64.to_be_bytes().to_vec(), b"later".to_vec());
        engine.write(&later).unwrap();
        for space in [Space::Log, Space::Tx, Space::Rows, Space::Hist] {
            let by_range = view
                .range(space, Bound::Unbounded, Bound::Unbounded, true)
                .unwrap()
                .next()
                .transpose()
                .unwrap();
            assert_eq!(view.last(space).unwrap(), by_range, "{space:?}");
        }
        assert_eq!(
            view.last(Space::Log).unwrap(),
            Some((39u64.to_be_bytes().to_vec(), vec![39, 0, 255]))
        );
        drop(view);
        drop(engine);
        PostgresEngine::drop_store(&url, &schema).unwrap();
    }

    #[test]
    fn the_catalog_stamp_moves_with_catalog_keys_only_and_is_a_views_own() {
        let Some(url) = url() else { return };
        let schema = fresh_schema();
        let engine = PostgresEngine::open(&url, &schema).unwrap();
        let first = engine.read().unwrap().catalog_stamp().expect("a stamp");
        let mut b = Batch::default();
        b.put(Space::Meta, b"seq/1".to_vec(), b"x".to_vec());
        b.put(Space::Rows, b"r".to_vec(), b"x".to_vec());
        engine.write(&b).unwrap();
        assert_eq!(engine.read().unwrap().catalog_stamp(), Some(first));
        let before = engine.read().unwrap();
        let mut b = Batch::default();
        let mut key = super::super::CATALOG_PREFIX.to_vec();
        key.extend_from_slice(&1u32.to_be_bytes());
        b.put(Space::Meta, key, b"a table".to_vec());
        engine.write(&b).unwrap();
        let after = engine.read().unwrap();
        assert_eq!(before.catalog_stamp(), Some(first));
        assert_ne!(after.catalog_stamp(), Some(first));
        // another process opening the same store shares the stamp
        let other = PostgresEngine::open(&url, &schema).unwrap();
        assert_eq!(other.read().unwrap().catalog_stamp(), after.catalog_stamp());
        drop((before, after, other));
        drop(engine);
        PostgresEngine::drop_store(&url, &schema).unwrap();
    }

    #[test]
    fn ranges_longer_than_a_page_and_a_view_that_does_not_see_later_writes() {
        let Some(url) = url() else { return };
        let schema = fresh_schema();
        let engine = PostgresEngine::open(&url, &schema).unwrap();
        let mut b = Batch::default();
        let n = (PAGE as u32) * 2 + 7;
        for i in 0..n {
            b.put(Space::Log, i.to_be_bytes().to_vec(), vec![1]);
        }
        engine.write(&b).unwrap();
        let view = engine.read().unwrap();
        let mut later = Batch::default();
        later.put(Space::Log, n.to_be_bytes().to_vec(), vec![2]);
        engine.write(&later).unwrap();
        for reverse in [false, true] {
            let keys: Vec<u32> = view
                .range(Space::Log, Bound::Unbounded, Bound::Unbounded, reverse)
                .unwrap()
                .map(|r| {
                    let (k, _) = r.unwrap();
                    u32::from_be_bytes(k.try_into().unwrap())
                })
                .collect();
            let mut want: Vec<u32> = (0..n).collect();
            if reverse {
                want.reverse();
            }
            assert_eq!(keys, want);
        }
        // gets between pages of a walk
        let mut it = view
            .range(Space::Log, Bound::Unbounded, Bound::Unbounded, false)
            .unwrap();
        for i in 0..n {
            let (k, _) = it.next().unwrap().unwrap();
            assert_eq!(view.get(Space::Log, &k).unwrap(), Some(vec![1]), "{i}");
        }
        drop(it);
        drop(view);
        assert!(engine.disk_bytes().unwrap() > 0);
        drop(engine);
        PostgresEngine::drop_store(&url, &schema).unwrap();
    }

    #[test]
    fn a_commit_in_another_process_wakes_the_waiters() {
        let Some(url) = url() else { return };
        let schema = fresh_schema();
        let here = std::sync::Arc::new(PostgresEngine::open(&url, &schema).unwrap());
        let there = PostgresEngine::open(&url, &schema).unwrap();
        // the first wait starts the listener and returns once it listens
        assert!(here.wait_for_commits(Duration::from_secs(10)));
        let waiter = {
            let here = here.clone();
            std::thread::spawn(move || here.wait_for_commits(Duration::from_secs(30)))
        };
        std::thread::sleep(Duration::from_millis(300));
        let mut b = Batch::default();
        b.put(Space::Log, vec![1], vec![1]);
        there.write(&b).unwrap();
        assert!(
            waiter.join().unwrap(),
            "the commit's notification woke the waiter"
        );
        // nothing committed: a wait times out
        assert!(!here.wait_for_commits(Duration::from_millis(200)));
        drop(there);
        drop(here);
        PostgresEngine::drop_store(&url, &schema).unwrap();
    }

    #[test]
    fn a_server_that_is_not_there_is_an_error_not_a_hang() {
        let started = std::time::Instant::now();
        let e = PostgresEngine::open("postgres://nobody@127.0.0.1:1/none", "x")
            .err()
            .unwrap();
        assert!(e.to_string().contains("cannot connect"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(15));
        assert!(PostgresEngine::open("not a url", "x").is_err());
        assert!(PostgresEngine::open("postgres://a@b/c", "Bad").is_err());
    }
}
