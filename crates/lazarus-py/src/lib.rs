//! `lazarusdb._native`: the Python binding of lazarusdb, wrapped by the pure-Python package
//! `lazarusdb` (`python/lazarusdb/`).
//!
//! Every call into the store releases the GIL while the store works. A store ([`PyDb`]) is
//! shared by threads. A transaction ([`PyTransaction`]) runs on a thread of its own, which
//! begins it, runs each operation the Python thread sends and commits it (the library's
//! transaction is tied to the thread that began it): the Python thread that opened it is the
//! only one that may use it, and waits for each answer with the GIL released.
//!
//! Values: `None`, `bool`, `int`, `float`, `str`, `bytes`, `uuid.UUID` and aware `datetime`
//! (UTC on the way out) both ways; anything else is a `TypeError`. Store errors are the
//! exceptions of `lazarusdb._errors`, chosen by the library's error kind, with the command
//! line's message.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::ThreadId;
use std::time::Duration;

use crossbeam::channel::{bounded, Receiver, RecvTimeoutError, Sender};
use lazarusdb::{
    At, Audit, Change, Conflict, Db, DeleteReport, DeletedRow, Deletion, EngineKind, Options,
    PurgeReport, Readable, RestorePlan, RestorePolicy, RewindPlan, Row, RowDiff, RowRef, Scan,
    Scope, Timestamp, Transaction, TrashQuery, Value,
};
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

// ---------------------------------------------------------------------------------------------
// Errors.

/// The exception for a store error: the class of `lazarusdb._errors` for its kind, the command
/// line's message (with "did you mean" where `db` knows a close name), `kind`, and `conflicts`
/// for a refused restore.
fn store_error(py: Python<'_>, e: lazarusdb::Error, db: Option<&Db>) -> PyErr {
    let kind = e.kind();
    let conflicts = match &e {
        lazarusdb::Error::RestoreConflict { conflicts, .. }
        | lazarusdb::Error::RewindConflict { conflicts, .. } => conflicts.clone(),
        _ => Vec::new(),
    };
    let failure = lazarus_commands::Failure::from(e);
    let message = match db {
        Some(db) => lazarus_commands::commands::did_you_mean(db, failure).message,
        None => failure.message,
    };
    raise(py, kind, &message, &conflicts).unwrap_or_else(|err| err)
}

/// Builds the exception of `kind` (or the error that stopped building it).
fn raise(py: Python<'_>, kind: &str, message: &str, conflicts: &[Conflict]) -> PyResult<PyErr> {
    let errors = py.import("lazarusdb._errors")?;
    let class = errors.call_method1("error_class", (kind,))?;
    let exc = class.call1((message,))?;
    exc.setattr("kind", kind)?;
    let list = PyList::empty(py);
    for c in conflicts {
        list.append(conflict_py(py, c)?)?;
    }
    exc.setattr("conflicts", list)?;
    Ok(PyErr::from_value(exc))
}

/// A refusal of the binding itself (kind `invalid_operation`): a transaction used from another
/// thread or after its end, a write beside an open transaction, a closed store.
fn refused(py: Python<'_>, kind: &str, message: &str) -> PyErr {
    raise(py, kind, message, &[]).unwrap_or_else(|err| err)
}

// ---------------------------------------------------------------------------------------------
// Values.

static UUID_CLASS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static DATETIME_CLASS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static EPOCH: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static TIMEDELTA: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn cached<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    make: impl FnOnce() -> PyResult<Py<PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(cell.get_or_try_init(py, make)?.bind(py).clone())
}

fn uuid_class(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    cached(py, &UUID_CLASS, || {
        Ok(py.import("uuid")?.getattr("UUID")?.unbind())
    })
}

fn datetime_class(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    cached(py, &DATETIME_CLASS, || {
        Ok(py.import("datetime")?.getattr("datetime")?.unbind())
    })
}

fn timedelta(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    cached(py, &TIMEDELTA, || {
        Ok(py.import("datetime")?.getattr("timedelta")?.unbind())
    })
}

/// 1970-01-01T00:00:00+00:00.
fn epoch(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    cached(py, &EPOCH, || {
        let dt = py.import("datetime")?;
        let utc = dt.getattr("timezone")?.getattr("utc")?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("tzinfo", utc)?;
        Ok(dt
            .getattr("datetime")?
            .call((1970, 1, 1), Some(&kwargs))?
            .unbind())
    })
}

/// A Python value as a store value.
fn to_value(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    let py = obj.py();
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if obj.is_instance_of::<PyBool>() {
        return Ok(Value::Bool(obj.extract()?));
    }
    if obj.is_instance_of::<PyInt>() {
        return obj.extract::<i64>().map(Value::Int).map_err(|_| {
            PyOverflowError::new_err(format!(
                "{} does not fit a 64-bit integer column",
                obj.repr().map(|r| r.to_string()).unwrap_or_default()
            ))
        });
    }
    if obj.is_instance_of::<PyFloat>() {
        return Ok(Value::Float(obj.extract()?));
    }
    if obj.is_instance_of::<PyString>() {
        return Ok(Value::Text(obj.extract()?));
    }
    if obj.is_instance_of::<PyBytes>() {
        return Ok(Value::Bytes(obj.extract()?));
    }
    if obj.is_instance(&uuid_class(py)?)? {
        let bytes: Vec<u8> = obj.getattr("bytes")?.extract()?;
        let id = uuid::Uuid::from_slice(&bytes)
            .map_err(|e| PyValueError::new_err(format!("not a UUID: {e}")))?;
        return Ok(Value::Uuid(id));
    }
    if obj.is_instance(&datetime_class(py)?)? {
        return Ok(Value::Timestamp(to_timestamp(obj)?));
    }
    Err(PyTypeError::new_err(format!(
        "a {} cannot be stored: use None, bool, int, float, str, bytes, uuid.UUID or an aware \
         datetime",
        obj.get_type().name()?
    )))
}

/// An aware `datetime` as microseconds since the epoch (exact).
fn to_timestamp(obj: &Bound<'_, PyAny>) -> PyResult<Timestamp> {
    let py = obj.py();
    if obj.call_method0("utcoffset")?.is_none() {
        return Err(PyTypeError::new_err(
            "a datetime without a time zone is ambiguous: give it one (e.g. \
             datetime.now(timezone.utc))",
        ));
    }
    let delta = obj.call_method1("__sub__", (epoch(py)?,))?;
    let days: i64 = delta.getattr("days")?.extract()?;
    let seconds: i64 = delta.getattr("seconds")?.extract()?;
    let micros: i64 = delta.getattr("microseconds")?.extract()?;
    let total = days
        .checked_mul(86_400_000_000)
        .and_then(|d| d.checked_add(seconds * 1_000_000 + micros))
        .ok_or_else(|| PyOverflowError::new_err("the datetime is out of range"))?;
    Ok(Timestamp(total))
}

/// A store value as a Python value.
fn value_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::Float(f) => f.into_pyobject(py)?.into_any(),
        Value::Text(s) => PyString::new(py, s).into_any(),
        Value::Bytes(b) => PyBytes::new(py, b).into_any(),
        Value::Uuid(u) => {
            let kwargs = PyDict::new(py);
            kwargs.set_item("bytes", PyBytes::new(py, u.as_bytes()))?;
            uuid_class(py)?.call((), Some(&kwargs))?
        }
        Value::Timestamp(t) => timestamp_py(py, *t)?,
    })
}

fn timestamp_py(py: Python<'_>, t: Timestamp) -> PyResult<Bound<'_, PyAny>> {
    let kwargs = PyDict::new(py);
    kwargs.set_item("microseconds", t.0)?;
    let delta = timedelta(py)?.call((), Some(&kwargs))?;
    epoch(py)?.call_method1("__add__", (delta,))
}

fn uuid_py(py: Python<'_>, id: uuid::Uuid) -> PyResult<Bound<'_, PyAny>> {
    value_py(py, &Value::Uuid(id))
}

/// A dict of column values as a row.
fn to_row(obj: &Bound<'_, PyAny>) -> PyResult<Row> {
    let dict = obj
        .cast::<PyDict>()
        .map_err(|_| PyTypeError::new_err("a row is a dict of column names to values"))?;
    let mut row = Row::new();
    for (k, v) in dict.iter() {
        let name: String = k
            .extract()
            .map_err(|_| PyTypeError::new_err("a row's column names are str"))?;
        row.set(name, to_value(&v)?);
    }
    Ok(row)
}

/// An iterable of dicts as rows.
fn rows_arg(rows: &Bound<'_, PyAny>) -> PyResult<Vec<Row>> {
    if rows.is_instance_of::<PyDict>() || rows.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "rows are an iterable of dicts (a list, say)",
        ));
    }
    rows.try_iter()
        .map_err(|_| PyTypeError::new_err("rows are an iterable of dicts (a list, say)"))?
        .map(|r| to_row(&r?))
        .collect()
}

fn row_py<'py>(py: Python<'py>, row: &Row) -> PyResult<Bound<'py, PyAny>> {
    let dict = PyDict::new(py);
    for (k, v) in row.iter() {
        dict.set_item(k, value_py(py, v)?)?;
    }
    Ok(dict.into_any())
}

/// A row as a dict, or None.
fn opt_row_py<'py>(py: Python<'py>, row: Option<&Row>) -> PyResult<Bound<'py, PyAny>> {
    match row {
        Some(r) => row_py(py, r),
        None => Ok(py.None().into_bound(py)),
    }
}

fn rows_py<'py>(py: Python<'py>, rows: &[Row]) -> PyResult<Bound<'py, PyAny>> {
    let list = PyList::empty(py);
    for r in rows {
        list.append(row_py(py, r)?)?;
    }
    Ok(list.into_any())
}

/// `(table, pk)`.
fn ref_py<'py>(py: Python<'py>, r: &RowRef) -> PyResult<Bound<'py, PyAny>> {
    Ok(PyTuple::new(
        py,
        [PyString::new(py, &r.table).into_any(), value_py(py, &r.pk)?],
    )?
    .into_any())
}

fn refs_py<'py>(py: Python<'py>, refs: &[RowRef]) -> PyResult<Bound<'py, PyAny>> {
    let list = PyList::empty(py);
    for r in refs {
        list.append(ref_py(py, r)?)?;
    }
    Ok(list.into_any())
}

fn opt_str_py<'py>(py: Python<'py>, s: &Option<String>) -> Bound<'py, PyAny> {
    match s {
        Some(s) => PyString::new(py, s).into_any(),
        None => py.None().into_bound(py),
    }
}

fn conflict_py<'py>(py: Python<'py>, c: &Conflict) -> PyResult<Bound<'py, PyAny>> {
    let d = PyDict::new(py);
    d.set_item("table", &c.row.table)?;
    d.set_item("pk", value_py(py, &c.row.pk)?)?;
    d.set_item("kind", c.kind.name())?;
    d.set_item("detail", &c.detail)?;
    Ok(d.into_any())
}

fn conflicts_py<'py>(py: Python<'py>, cs: &[Conflict]) -> PyResult<Bound<'py, PyAny>> {
    let list = PyList::empty(py);
    for c in cs {
        list.append(conflict_py(py, c)?)?;
    }
    Ok(list.into_any())
}

fn deleted_py<'py>(py: Python<'py>, r: &DeleteReport) -> PyResult<Bound<'py, PyAny>> {
    let d = PyDict::new(py);
    d.set_item("deletion", uuid_py(py, r.deletion)?)?;
    d.set_item("rows", refs_py(py, &r.rows)?)?;
    d.set_item("unlinked", refs_py(py, &r.unlinked)?)?;
    Ok(d.into_any())
}

fn deletion_py<'py>(py: Python<'py>, x: &Deletion) -> PyResult<Bound<'py, PyAny>> {
    let d = PyDict::new(py);
    d.set_item("id", uuid_py(py, x.id)?)?;
    d.set_item("tx", x.tx)?;
    d.set_item("lsn", x.lsn)?;
    d.set_item("at", timestamp_py(py, x.at)?)?;
    d.set_item("actor", opt_str_py(py, &x.actor))?;
    d.set_item("reason", opt_str_py(py, &x.reason))?;
    d.set_item("roots", refs_py(py, &x.roots)?)?;
    let per_table = PyDict::new(py);
    for (t, n) in &x.rows {
        per_table.set_item(t, n)?;
    }
    d.set_item("rows", per_table)?;
    d.set_item("unlinked", x.unlinked)?;
    d.set_item("remaining", x.remaining)?;
    d.set_item("restored", x.restored)?;
    Ok(d.into_any())
}

fn member_py<'py>(py: Python<'py>, m: &DeletedRow) -> PyResult<Bound<'py, PyAny>> {
    let d = PyDict::new(py);
    d.set_item("table", &m.row_ref.table)?;
    d.set_item("pk", value_py(py, &m.row_ref.pk)?)?;
    d.set_item("kind", format!("{:?}", m.kind).to_lowercase())?;
    d.set_item("row", row_py(py, &m.row)?)?;
    d.set_item("lsn", m.lsn)?;
    Ok(d.into_any())
}

fn plan_py<'py>(py: Python<'py>, p: &RestorePlan) -> PyResult<Bound<'py, PyAny>> {
    let d = PyDict::new(py);
    d.set_item("deletion", uuid_py(py, p.deletion)?)?;
    d.set_item("rows", refs_py(py, &p.rows)?)?;
    d.set_item("relinks", refs_py(py, &p.relinks)?)?;
    d.set_item("conflicts", conflicts_py(py, &p.conflicts)?)?;
    let skipped = PyList::empty(py);
    for s in &p.skipped {
        let e = PyDict::new(py);
        e.set_item("table", &s.row.table)?;
        e.set_item("pk", value_py(py, &s.row.pk)?)?;
        e.set_item("reason", &s.reason)?;
        skipped.append(e)?;
    }
    d.set_item("skipped", skipped)?;
    Ok(d.into_any())
}

fn rewind_py<'py>(py: Python<'py>, p: &RewindPlan) -> PyResult<Bound<'py, PyAny>> {
    let d = PyDict::new(py);
    d.set_item("target_lsn", p.target_lsn)?;
    d.set_item("restored", refs_py(py, &p.restored)?)?;
    d.set_item("reverted", refs_py(py, &p.reverted)?)?;
    d.set_item("tombstoned", refs_py(py, &p.tombstoned)?)?;
    d.set_item("conflicts", conflicts_py(py, &p.conflicts)?)?;
    Ok(d.into_any())
}

fn purged_py<'py>(py: Python<'py>, r: &PurgeReport) -> PyResult<Bound<'py, PyAny>> {
    let d = PyDict::new(py);
    d.set_item("deletion", uuid_py(py, r.deletion)?)?;
    d.set_item("rows", refs_py(py, &r.rows)?)?;
    d.set_item("images", r.images)?;
    let also = PyList::empty(py);
    for id in &r.also {
        also.append(uuid_py(py, *id)?)?;
    }
    d.set_item("also", also)?;
    Ok(d.into_any())
}

fn change_py<'py>(py: Python<'py>, c: &Change) -> PyResult<Bound<'py, PyAny>> {
    let d = PyDict::new(py);
    d.set_item("lsn", c.lsn)?;
    d.set_item("tx", c.tx)?;
    d.set_item("at", timestamp_py(py, c.at)?)?;
    d.set_item("actor", opt_str_py(py, &c.actor))?;
    d.set_item("reason", opt_str_py(py, &c.reason))?;
    d.set_item("kind", c.kind.name())?;
    d.set_item("table", opt_str_py(py, &c.table))?;
    d.set_item("tables", PyList::new(py, &c.tables)?)?;
    d.set_item(
        "pk",
        match &c.pk {
            Some(pk) => value_py(py, pk)?,
            None => py.None().into_bound(py),
        },
    )?;
    d.set_item("row", opt_row_py(py, c.row.as_ref())?)?;
    d.set_item(
        "deletion",
        match c.deletion {
            Some(id) => uuid_py(py, id)?,
            None => py.None().into_bound(py),
        },
    )?;
    Ok(d.into_any())
}

fn changes_py<'py>(py: Python<'py>, cs: &[Change]) -> PyResult<Bound<'py, PyAny>> {
    let list = PyList::empty(py);
    for c in cs {
        list.append(change_py(py, c)?)?;
    }
    Ok(list.into_any())
}

fn diff_py<'py>(py: Python<'py>, diffs: &[RowDiff]) -> PyResult<Bound<'py, PyAny>> {
    let list = PyList::empty(py);
    for x in diffs {
        let d = PyDict::new(py);
        d.set_item("table", &x.row.table)?;
        d.set_item("pk", value_py(py, &x.row.pk)?)?;
        d.set_item("kind", x.kind.name())?;
        d.set_item("before", opt_row_py(py, x.before.as_ref())?)?;
        d.set_item("after", opt_row_py(py, x.after.as_ref())?)?;
        let changes = PyList::empty(py);
        for c in &x.changes {
            let e = PyDict::new(py);
            e.set_item("column", &c.column)?;
            e.set_item("before", value_py(py, &c.before)?)?;
            e.set_item("after", value_py(py, &c.after)?)?;
            changes.append(e)?;
        }
        d.set_item("changes", changes)?;
        list.append(d)?;
    }
    Ok(list.into_any())
}

// ---------------------------------------------------------------------------------------------
// Arguments.

/// A point, in every spelling the command line takes: an int is an LSN; a str is read as
/// `lazarus get --as-of` reads it (`42`, `tx:7`, `deletion:ID` with short ids, `2h`, RFC 3339,
/// a local time); a `datetime` is a time; a `uuid.UUID` is "just before that deletion".
fn to_at(db: &Db, point: &Bound<'_, PyAny>) -> PyResult<At> {
    let py = point.py();
    if point.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(
            "a point is an LSN, a str, a datetime or a UUID",
        ));
    }
    if point.is_instance_of::<PyInt>() {
        let lsn: u64 = point
            .extract()
            .map_err(|_| PyValueError::new_err("an LSN is a non-negative int"))?;
        return Ok(At::Lsn(lsn));
    }
    if point.is_instance_of::<PyString>() {
        let text: String = point.extract()?;
        return py
            .detach(|| lazarus_commands::commands::parse_at(db, &text))
            .map_err(|f| refused(py, f.kind, &f.message));
    }
    if point.is_instance(&datetime_class(py)?)? {
        return Ok(At::Time(to_timestamp(point)?));
    }
    if point.is_instance(&uuid_class(py)?)? {
        if let Value::Uuid(id) = to_value(point)? {
            return Ok(At::BeforeDeletion(id));
        }
    }
    Err(PyTypeError::new_err(
        "a point is an LSN (int), a str (`tx:7`, `2h`, an RFC 3339 time, ...), a datetime or a \
         deletion's uuid.UUID",
    ))
}

/// A deletion: a `uuid.UUID`, or a str with its whole id or its last 6 or more hex digits.
fn to_deletion(db: &Db, obj: &Bound<'_, PyAny>) -> PyResult<uuid::Uuid> {
    let py = obj.py();
    if obj.is_instance(&uuid_class(py)?)? {
        if let Value::Uuid(id) = to_value(obj)? {
            return Ok(id);
        }
    }
    if obj.is_instance_of::<PyString>() {
        let text: String = obj.extract()?;
        return py
            .detach(|| db.deletion_id(&text))
            .map_err(|e| store_error(py, e, Some(db)));
    }
    // a deletion report as returned by delete()
    if let Ok(d) = obj.cast::<PyDict>() {
        if let Some(id) = d.get_item("deletion")?.or(d.get_item("id")?) {
            return to_deletion(db, &id);
        }
    }
    Err(PyTypeError::new_err(
        "a deletion is a uuid.UUID, its id as a str (or its last 6+ hex digits), or what \
         delete() returned",
    ))
}

fn to_policy(policy: &str) -> PyResult<RestorePolicy> {
    match policy {
        "refuse" => Ok(RestorePolicy::Refuse),
        "skip" | "skip_conflicts" | "skip-conflicts" => Ok(RestorePolicy::SkipConflicts),
        other => Err(PyValueError::new_err(format!(
            "unknown restore policy `{other}`: use \"refuse\" (the default) or \"skip\""
        ))),
    }
}

fn audit(actor: Option<String>, reason: Option<String>) -> Audit {
    Audit {
        actor: actor.filter(|a| !a.trim().is_empty()),
        reason,
    }
}

/// A schema document: a dict (as a schema file holds it), or the path of a JSON schema file.
fn schema_text(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    let py = obj.py();
    if obj.is_instance_of::<PyDict>() {
        return py.import("json")?.call_method1("dumps", (obj,))?.extract();
    }
    let path: String = py
        .import("os")?
        .call_method1("fspath", (obj,))
        .map_err(|_| PyTypeError::new_err("a schema is a dict or the path of a JSON file"))?
        .extract()
        .map_err(|_| PyTypeError::new_err("a schema file's path is a str"))?;
    std::fs::read_to_string(&path)
        .map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("cannot read {path}: {e}")))
}

// ---------------------------------------------------------------------------------------------
// The store.

/// What a store and its transactions share: the store while open, and the Python threads that
/// have a transaction open (a write of theirs outside it would wait for it for ever).
struct Shared {
    db: Mutex<Option<Arc<Db>>>,
    in_transaction: Mutex<HashSet<ThreadId>>,
    /// Transaction threads waiting for their next transaction (starting a thread for each
    /// costs more than a small transaction).
    idle: Mutex<Vec<Sender<Begin>>>,
}

/// How many transaction threads wait idle at most.
const IDLE_WORKERS: usize = 4;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An open store. Share it between threads freely; close it (or leave a `with` block) when done.
#[pyclass(name = "Db", module = "lazarusdb", frozen)]
struct PyDb {
    shared: Arc<Shared>,
}

impl PyDb {
    fn db(&self, py: Python<'_>) -> PyResult<Arc<Db>> {
        lock(&self.shared.db)
            .clone()
            .ok_or_else(|| refused(py, "closed", "the store is closed"))
    }

    /// The store, for a write: refused in a thread that has a transaction open.
    fn db_to_write(&self, py: Python<'_>) -> PyResult<Arc<Db>> {
        if lock(&self.shared.in_transaction).contains(&std::thread::current().id()) {
            return Err(refused(
                py,
                "nested_transaction",
                "this thread has a transaction open: write through it (tx.insert, ...), or \
                 finish it first",
            ));
        }
        self.db(py)
    }

    /// Runs `f` on the store with the GIL released; a store error is raised as its exception.
    fn run<T: Send>(
        &self,
        py: Python<'_>,
        write: bool,
        f: impl FnOnce(&Db) -> lazarusdb::Result<T> + Send,
    ) -> PyResult<T> {
        let db = if write {
            self.db_to_write(py)?
        } else {
            self.db(py)?
        };
        py.detach(|| f(&db))
            .map_err(|e| store_error(py, e, Some(&db)))
    }
}

/// Opens (or creates) the store in the folder `path`, or the PostgreSQL store a URL names
/// (`postgres://USER@HOST:PORT/DATABASE?store=NAME`).
#[pyfunction]
#[pyo3(signature = (path, *, engine=None))]
fn open(py: Python<'_>, path: &Bound<'_, PyAny>, engine: Option<String>) -> PyResult<PyDb> {
    let path: String = py
        .import("os")?
        .call_method1("fspath", (path,))?
        .extract()?;
    // a PostgreSQL URL, as the command line takes it: postgres://USER@HOST/DB?store=NAME
    let place = lazarus_commands::commands::Place {
        path: std::path::Path::new(&path),
        engine: None,
    };
    if let Some((url, store)) = place.postgres() {
        let db = py
            .detach(|| Db::open_postgres(&url, &store))
            .map_err(|e| store_error(py, e, None))?;
        return Ok(PyDb::wrap(db));
    }
    let engine = match engine.as_deref() {
        None => None,
        Some(name) => match EngineKind::parse(name) {
            Some(EngineKind::Memory) | Some(EngineKind::Postgres) | None => {
                return Err(PyValueError::new_err(format!(
                    "unknown engine `{name}`: use fjall-redb (the default), fjall or sled"
                )))
            }
            Some(e) => Some(e),
        },
    };
    let options = Options {
        engine,
        ..Options::default()
    };
    let db = py
        .detach(|| Db::open_with(&path, options))
        .map_err(|e| store_error(py, e, None))?;
    Ok(PyDb::wrap(db))
}

/// Opens (or creates) the store `store` in a PostgreSQL database
/// (`postgres://USER@HOST:PORT/DATABASE`); several processes may open it at once.
#[pyfunction]
#[pyo3(signature = (url, store="lazarus"))]
fn open_postgres(py: Python<'_>, url: String, store: &str) -> PyResult<PyDb> {
    let store = store.to_string();
    let db = py
        .detach(|| Db::open_postgres(&url, &store))
        .map_err(|e| store_error(py, e, None))?;
    Ok(PyDb::wrap(db))
}

/// A store in a temporary folder, removed when the store is closed or dropped.
#[pyfunction]
fn temporary(py: Python<'_>) -> PyResult<PyDb> {
    let db = py
        .detach(Db::temporary)
        .map_err(|e| store_error(py, e, None))?;
    Ok(PyDb::wrap(db))
}

impl PyDb {
    fn wrap(db: Db) -> PyDb {
        PyDb {
            shared: Arc::new(Shared {
                db: Mutex::new(Some(Arc::new(db))),
                in_transaction: Mutex::new(HashSet::new()),
                idle: Mutex::new(Vec::new()),
            }),
        }
    }
}

#[pymethods]
impl PyDb {
    /// Creates or extends tables from a schema document (a dict) or a JSON schema file.
    #[pyo3(signature = (schema, *, actor=None, reason=None))]
    fn apply_schema(
        &self,
        py: Python<'_>,
        schema: &Bound<'_, PyAny>,
        actor: Option<String>,
        reason: Option<String>,
    ) -> PyResult<()> {
        let text = schema_text(schema)?;
        let audit = audit(actor, reason);
        self.run(py, true, move |db| {
            let doc = lazarusdb::parse_schema_document(&text)?;
            db.transaction_as(&audit, |tx| tx.apply_schema_document(&doc))
        })
    }

    /// The table names.
    fn tables(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.run(py, false, |db| db.tables())
    }

    /// Inserts a row (a dict); returns it as stored (with its key when the store assigned it).
    #[pyo3(signature = (table, row, *, actor=None, reason=None))]
    fn insert<'py>(
        &self,
        py: Python<'py>,
        table: String,
        row: &Bound<'py, PyAny>,
        actor: Option<String>,
        reason: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let row = to_row(row)?;
        let audit = audit(actor, reason);
        let stored = self.run(py, true, move |db| {
            db.transaction_as(&audit, |tx| tx.insert(&table, row))
        })?;
        row_py(py, &stored)
    }

    /// Inserts many rows (an iterable of dicts) in one transaction; returns them as stored.
    #[pyo3(signature = (table, rows, *, actor=None, reason=None))]
    fn insert_many<'py>(
        &self,
        py: Python<'py>,
        table: String,
        rows: &Bound<'py, PyAny>,
        actor: Option<String>,
        reason: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let rows = rows_arg(rows)?;
        let audit = audit(actor, reason);
        let stored = self.run(py, true, move |db| {
            db.transaction_as(&audit, |tx| {
                rows.into_iter()
                    .map(|r| tx.insert(&table, r))
                    .collect::<lazarusdb::Result<Vec<_>>>()
            })
        })?;
        rows_py(py, &stored)
    }

    /// Changes some columns of a row; returns the row as it is now.
    #[pyo3(signature = (table, pk, changes, *, actor=None, reason=None))]
    fn update<'py>(
        &self,
        py: Python<'py>,
        table: String,
        pk: &Bound<'py, PyAny>,
        changes: &Bound<'py, PyAny>,
        actor: Option<String>,
        reason: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (pk, changes) = (to_value(pk)?, to_row(changes)?);
        let audit = audit(actor, reason);
        let stored = self.run(py, true, move |db| {
            db.transaction_as(&audit, |tx| tx.update(&table, pk, changes))
        })?;
        row_py(py, &stored)
    }

    /// Deletes a row with everything that cascades from it, as one deletion; returns
    /// `{"deletion": UUID, "rows": [(table, pk)], "unlinked": [...]}`.
    #[pyo3(signature = (table, pk, *, actor=None, reason=None))]
    fn delete<'py>(
        &self,
        py: Python<'py>,
        table: String,
        pk: &Bound<'py, PyAny>,
        actor: Option<String>,
        reason: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let pk = to_value(pk)?;
        let audit = audit(actor, reason);
        let report = self.run(py, true, move |db| db.delete_with(&table, pk, &audit))?;
        deleted_py(py, &report)
    }

    /// One live row (a dict), or None; `as_of`: read at a past point.
    #[pyo3(signature = (table, pk, *, as_of=None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        table: String,
        pk: &Bound<'py, PyAny>,
        as_of: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let pk = to_value(pk)?;
        let at = self.point(py, as_of)?;
        let row = self.run(py, false, move |db| match at {
            None => db.get(&table, pk),
            Some(at) => db.as_of(at)?.get(&table, pk),
        })?;
        opt_row_py(py, row.as_ref())
    }

    /// Live rows in primary-key order (at most `limit`, last first with `reverse`).
    #[pyo3(signature = (table, *, limit=None, reverse=false, as_of=None))]
    fn scan<'py>(
        &self,
        py: Python<'py>,
        table: String,
        limit: Option<usize>,
        reverse: bool,
        as_of: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let at = self.point(py, as_of)?;
        let scan = scan_of(limit, reverse);
        let rows = self.run(py, false, move |db| match at {
            None => db.scan(&table, scan),
            Some(at) => db.as_of(at)?.scan(&table, scan),
        })?;
        rows_py(py, &rows)
    }

    /// The live rows of `child_table` that reference the row `pk` of `table`.
    #[pyo3(signature = (table, pk, child_table, *, as_of=None))]
    fn children<'py>(
        &self,
        py: Python<'py>,
        table: String,
        pk: &Bound<'py, PyAny>,
        child_table: String,
        as_of: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let pk = to_value(pk)?;
        let at = self.point(py, as_of)?;
        let rows = self.run(py, false, move |db| match at {
            None => db.children(&table, pk, &child_table),
            Some(at) => db.as_of(at)?.children(&table, pk, &child_table),
        })?;
        rows_py(py, &rows)
    }

    /// The live rows whose indexed columns equal `where` (a dict of column to value), through
    /// the index on those columns.
    #[pyo3(signature = (table, r#where, *, as_of=None))]
    fn lookup<'py>(
        &self,
        py: Python<'py>,
        table: String,
        r#where: &Bound<'py, PyAny>,
        as_of: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (columns, values) = lookup_args(r#where)?;
        let at = self.point(py, as_of)?;
        let rows = self.run(py, false, move |db| {
            let cols: Vec<&str> = columns.iter().map(String::as_str).collect();
            match at {
                None => db.lookup(&table, &cols, &values),
                Some(at) => db.as_of(at)?.lookup(&table, &cols, &values),
            }
        })?;
        rows_py(py, &rows)
    }

    /// The number of live rows of a table.
    fn count(&self, py: Python<'_>, table: String) -> PyResult<u64> {
        self.run(py, false, move |db| db.count(&table))
    }

    /// A transaction: `with db.transaction(actor=..., reason=...) as tx:` commits when the
    /// block ends and writes nothing when it raises.
    #[pyo3(signature = (*, actor=None, reason=None))]
    fn transaction(&self, actor: Option<String>, reason: Option<String>) -> PyTransaction {
        PyTransaction {
            shared: self.shared.clone(),
            audit: audit(actor, reason),
            state: Mutex::new(TxState::NotBegun),
        }
    }

    /// The deletions in the trash, newest first (only those with rows of `table`; at most
    /// `limit`).
    #[pyo3(signature = (*, table=None, limit=None))]
    fn trash<'py>(
        &self,
        py: Python<'py>,
        table: Option<String>,
        limit: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let list = self.run(py, false, move |db| {
            let mut q = TrashQuery::all();
            if let Some(t) = table {
                q = q.table(t);
            }
            if let Some(n) = limit {
                q = q.limit(n);
            }
            db.trash(&q)
        })?;
        let out = PyList::empty(py);
        for d in &list {
            out.append(deletion_py(py, d)?)?;
        }
        Ok(out.into_any())
    }

    /// One deletion with its rows: the deletion's fields and `members`, each row it holds with
    /// its last image.
    fn deletion<'py>(
        &self,
        py: Python<'py>,
        deletion: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let db = self.db(py)?;
        let id = to_deletion(&db, deletion)?;
        let (d, members) = self.run(py, false, move |db| {
            Ok((db.deletion(id)?, db.deletion_rows(id)?))
        })?;
        let out = deletion_py(py, &d)?;
        let list = PyList::empty(py);
        for m in &members {
            list.append(member_py(py, m)?)?;
        }
        out.set_item("members", list)?;
        Ok(out)
    }

    /// What restoring a deletion would do: rows, relinks, conflicts, skipped; nothing written.
    #[pyo3(signature = (deletion, *, policy="refuse"))]
    fn restore_plan<'py>(
        &self,
        py: Python<'py>,
        deletion: &Bound<'py, PyAny>,
        policy: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let db = self.db(py)?;
        let id = to_deletion(&db, deletion)?;
        let policy = to_policy(policy)?;
        let plan = self.run(py, false, move |db| db.restore_plan(id, policy))?;
        plan_py(py, &plan)
    }

    /// Restores a deletion (refused with `ConflictError` on any conflict, unless
    /// `policy="skip"`); returns the plan carried out.
    #[pyo3(signature = (deletion, *, policy="refuse", actor=None, reason=None))]
    fn restore<'py>(
        &self,
        py: Python<'py>,
        deletion: &Bound<'py, PyAny>,
        policy: &str,
        actor: Option<String>,
        reason: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let db = self.db(py)?;
        let id = to_deletion(&db, deletion)?;
        let policy = to_policy(policy)?;
        let audit = audit(actor, reason);
        let plan = self.run(py, true, move |db| db.restore_with(id, policy, &audit))?;
        plan_py(py, &plan)
    }

    /// Every version of a row, oldest first.
    fn history<'py>(
        &self,
        py: Python<'py>,
        table: String,
        pk: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let pk = to_value(pk)?;
        let changes = self.run(py, false, move |db| db.history(&table, pk))?;
        changes_py(py, &changes)
    }

    /// The log's changes from an LSN on (at most `limit`).
    #[pyo3(signature = (*, since=1, limit=None))]
    fn log<'py>(
        &self,
        py: Python<'py>,
        since: u64,
        limit: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let changes = self.run(py, false, move |db| db.changes(since, limit))?;
        changes_py(py, &changes)
    }

    /// The store as it was at a past point: an object with `get`, `scan`, `children`, `lookup`.
    fn as_of(&self, py: Python<'_>, point: &Bound<'_, PyAny>) -> PyResult<PyAsOf> {
        let db = self.db(py)?;
        let at = to_at(&db, point)?;
        let lsn = self.run(py, false, move |db| db.resolve(at))?;
        Ok(PyAsOf {
            shared: self.shared.clone(),
            lsn,
        })
    }

    /// Restores the store (or one table) to a past point by compensating events; `dry_run`:
    /// only the plan.
    #[pyo3(signature = (point, *, table=None, dry_run=false, actor=None, reason=None))]
    fn restore_to<'py>(
        &self,
        py: Python<'py>,
        point: &Bound<'py, PyAny>,
        table: Option<String>,
        dry_run: bool,
        actor: Option<String>,
        reason: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let db = self.db(py)?;
        let at = to_at(&db, point)?;
        let scope = match table {
            Some(t) => Scope::Table(t),
            None => Scope::Store,
        };
        let audit = audit(actor, reason);
        let plan = self.run(py, !dry_run, move |db| {
            if dry_run {
                db.restore_to_plan(&scope, at)
            } else {
                let target = db.resolve(at)?;
                db.transaction_as(&audit, |tx| tx.restore_to(&scope, target))
            }
        })?;
        rewind_py(py, &plan)
    }

    /// Undoes one transaction by compensating events (refused when later transactions changed
    /// the same rows, unless `force`).
    #[pyo3(signature = (tx, *, force=false, actor=None, reason=None))]
    fn undo<'py>(
        &self,
        py: Python<'py>,
        tx: u64,
        force: bool,
        actor: Option<String>,
        reason: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let audit = audit(actor, reason);
        let plan = self.run(py, true, move |db| {
            db.transaction_as(&audit, |t| t.undo(tx, force))
        })?;
        rewind_py(py, &plan)
    }

    /// The rows that differ between two points (`b`: now by default).
    #[pyo3(signature = (a, b=None, *, table=None))]
    fn diff<'py>(
        &self,
        py: Python<'py>,
        a: &Bound<'py, PyAny>,
        b: Option<&Bound<'py, PyAny>>,
        table: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let db = self.db(py)?;
        let a = to_at(&db, a)?;
        let b = match b {
            Some(b) => to_at(&db, b)?,
            None => At::Now,
        };
        let diffs = self.run(py, false, move |db| db.diff(a, b, table.as_deref()))?;
        diff_py(py, &diffs)
    }

    /// Purges a deletion for good: its rows' values leave the log, the views and the history.
    /// Needs an actor.
    #[pyo3(signature = (deletion, *, actor, reason=None))]
    fn purge<'py>(
        &self,
        py: Python<'py>,
        deletion: &Bound<'py, PyAny>,
        actor: String,
        reason: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let db = self.db(py)?;
        let id = to_deletion(&db, deletion)?;
        let audit = audit(Some(actor), reason);
        let report = self.run(py, true, move |db| db.purge(id, &audit))?;
        purged_py(py, &report)
    }

    /// Erases one row for good with every version it had. Needs an actor.
    #[pyo3(signature = (table, pk, *, actor, reason=None))]
    fn erase<'py>(
        &self,
        py: Python<'py>,
        table: String,
        pk: &Bound<'py, PyAny>,
        actor: String,
        reason: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let pk = to_value(pk)?;
        let audit = audit(Some(actor), reason);
        let report = self.run(py, true, move |db| db.erase(&table, pk, &audit))?;
        purged_py(py, &report)
    }

    /// The committed changes after `from_lsn`, as an iterator that waits for new ones.
    #[pyo3(signature = (from_lsn=0))]
    fn subscribe(&self, py: Python<'_>, from_lsn: u64) -> PyResult<PySubscription> {
        let db = self.db(py)?;
        // a point past the end is refused here, at once
        py.detach(|| db.subscribe(from_lsn).map(|_| ()))
            .map_err(|e| store_error(py, e, Some(&db)))?;
        drop(db);
        let (out, rx) = bounded(1024);
        let shared = self.shared.clone();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("lazarus-py-feed".into())
            .spawn(move || feed(shared, from_lsn, out, &stopped))
            .map_err(|e| {
                refused(
                    py,
                    "storage",
                    &format!("cannot start the change feed's thread: {e}"),
                )
            })?;
        Ok(PySubscription {
            rx,
            last: Mutex::new(from_lsn),
            stop,
        })
    }

    /// Compares every view with a rebuild from the log: `{"ok", "events", "keys",
    /// "differences"}`.
    fn verify<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let report = self.run(py, false, |db| db.verify())?;
        let d = PyDict::new(py);
        d.set_item("ok", report.is_ok())?;
        d.set_item("events", report.events)?;
        d.set_item("keys", report.keys)?;
        d.set_item("differences", PyList::new(py, &report.differences)?)?;
        Ok(d.into_any())
    }

    /// Store statistics.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let s = self.run(py, false, |db| db.stats())?;
        let d = PyDict::new(py);
        d.set_item("engine", s.engine.to_string())?;
        d.set_item("last_lsn", s.last_lsn)?;
        d.set_item("last_tx", s.last_tx)?;
        let tables = PyDict::new(py);
        for (t, n) in &s.tables {
            tables.set_item(t, n)?;
        }
        d.set_item("tables", tables)?;
        d.set_item("disk_bytes", s.disk_bytes)?;
        d.set_item("deletions", s.deletions)?;
        d.set_item("live_bytes", s.live_bytes)?;
        d.set_item("history_bytes", s.history_bytes)?;
        d.set_item("trash_bytes", s.trash_bytes)?;
        d.set_item("reclaimable_bytes", s.reclaimable_bytes)?;
        Ok(d.into_any())
    }

    /// The last LSN committed.
    fn last_lsn(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.db(py)?.last_lsn())
    }

    /// Closes the store (a sync). Refused while a transaction is open; waits (a few seconds
    /// at most) for calls running in other threads and ends the change feeds.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        if !lock(&self.shared.in_transaction).is_empty() {
            return Err(refused(
                py,
                "invalid_operation",
                "a transaction is open on this store: finish it, then close",
            ));
        }
        let Some(mut db) = lock(&self.shared.db).take() else {
            return Ok(());
        };
        // calls under way in other threads and the feeds' threads let go soon
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            match Arc::try_unwrap(db) {
                Ok(db) => {
                    return py
                        .detach(|| db.close())
                        .map_err(|e| store_error(py, e, None));
                }
                Err(held) if std::time::Instant::now() < deadline => {
                    db = held;
                    py.detach(|| std::thread::sleep(Duration::from_millis(5)));
                }
                Err(held) => {
                    *lock(&self.shared.db) = Some(held);
                    return Err(refused(
                        py,
                        "invalid_operation",
                        "the store is still in use by a call in another thread: close it \
                         when that call is done",
                    ));
                }
            }
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        match lock(&self.shared.db).as_ref() {
            Some(db) => match db.path() {
                Some(p) => format!("<lazarusdb.Db {} ({})>", p.display(), db.engine()),
                None => format!("<lazarusdb.Db in memory ({})>", db.engine()),
            },
            None => "<lazarusdb.Db closed>".into(),
        }
    }
}

impl PyDb {
    fn point(&self, py: Python<'_>, as_of: Option<&Bound<'_, PyAny>>) -> PyResult<Option<At>> {
        match as_of {
            None => Ok(None),
            Some(p) if p.is_none() => Ok(None),
            Some(p) => {
                let db = self.db(py)?;
                Ok(Some(to_at(&db, p)?))
            }
        }
    }
}

fn scan_of(limit: Option<usize>, reverse: bool) -> Scan {
    let mut scan = Scan::all();
    if let Some(n) = limit {
        scan = scan.limit(n);
    }
    if reverse {
        scan = scan.reverse();
    }
    scan
}

fn lookup_args(w: &Bound<'_, PyAny>) -> PyResult<(Vec<String>, Vec<Value>)> {
    let dict = w.cast::<PyDict>().map_err(|_| {
        PyTypeError::new_err("a lookup's `where` is a dict of column names to values")
    })?;
    let mut columns = Vec::new();
    let mut values = Vec::new();
    for (k, v) in dict.iter() {
        columns.push(k.extract()?);
        values.push(to_value(&v)?);
    }
    Ok((columns, values))
}

// ---------------------------------------------------------------------------------------------
// The store as of a point.

/// The store as it was at one point (an LSN): reads only.
#[pyclass(name = "AsOf", module = "lazarusdb", frozen)]
struct PyAsOf {
    shared: Arc<Shared>,
    lsn: u64,
}

impl PyAsOf {
    fn run<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&lazarusdb::AsOf<'_>) -> lazarusdb::Result<T> + Send,
    ) -> PyResult<T> {
        let db = lock(&self.shared.db)
            .clone()
            .ok_or_else(|| refused(py, "closed", "the store is closed"))?;
        let lsn = self.lsn;
        py.detach(|| db.as_of(At::Lsn(lsn)).and_then(|v| f(&v)))
            .map_err(|e| store_error(py, e, Some(&db)))
    }
}

#[pymethods]
impl PyAsOf {
    /// The LSN this view reads at.
    #[getter]
    fn lsn(&self) -> u64 {
        self.lsn
    }

    /// One row as it was, or None.
    fn get<'py>(
        &self,
        py: Python<'py>,
        table: String,
        pk: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let pk = to_value(pk)?;
        opt_row_py(py, self.run(py, move |v| v.get(&table, pk))?.as_ref())
    }

    /// The rows that were live, in primary-key order.
    #[pyo3(signature = (table, *, limit=None, reverse=false))]
    fn scan<'py>(
        &self,
        py: Python<'py>,
        table: String,
        limit: Option<usize>,
        reverse: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let scan = scan_of(limit, reverse);
        let rows = self.run(py, move |v| v.scan(&table, scan))?;
        rows_py(py, &rows)
    }

    /// The rows of `child_table` that referenced the row then.
    fn children<'py>(
        &self,
        py: Python<'py>,
        table: String,
        pk: &Bound<'py, PyAny>,
        child_table: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let pk = to_value(pk)?;
        let rows = self.run(py, move |v| v.children(&table, pk, &child_table))?;
        rows_py(py, &rows)
    }

    /// The rows whose indexed columns equalled `where` then.
    fn lookup<'py>(
        &self,
        py: Python<'py>,
        table: String,
        r#where: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (columns, values) = lookup_args(r#where)?;
        let rows = self.run(py, move |v| {
            let cols: Vec<&str> = columns.iter().map(String::as_str).collect();
            v.lookup(&table, &cols, &values)
        })?;
        rows_py(py, &rows)
    }

    fn __repr__(&self) -> String {
        format!("<lazarusdb.AsOf lsn {}>", self.lsn)
    }
}

// ---------------------------------------------------------------------------------------------
// Transactions.

/// Work for the transaction's thread.
type Job = Box<dyn FnOnce(&mut Transaction<'_>) + Send>;

enum Msg {
    Run(Job),
    Commit(Sender<lazarusdb::Result<Option<u64>>>),
}

enum TxState {
    NotBegun,
    Open {
        to_worker: Sender<Msg>,
        thread: ThreadId,
        /// The transaction thread, idle again when this transaction ends.
        worker: Sender<Begin>,
    },
    Finished,
}

/// A transaction: every write in it commits together when it ends, or none does. Use it from
/// the thread that opened it.
#[pyclass(name = "Transaction", module = "lazarusdb", frozen)]
struct PyTransaction {
    shared: Arc<Shared>,
    audit: Audit,
    state: Mutex<TxState>,
}

impl PyTransaction {
    /// Begins: a thread of its own begins the library's transaction and serves it.
    fn open_tx(&self, py: Python<'_>) -> PyResult<()> {
        let me = std::thread::current().id();
        let mut state = lock(&self.state);
        if !matches!(*state, TxState::NotBegun) {
            return Err(refused(
                py,
                "invalid_operation",
                "this transaction was already begun: make a new one with db.transaction()",
            ));
        }
        if !lock(&self.shared.in_transaction).insert(me) {
            return Err(refused(
                py,
                "nested_transaction",
                "this thread already has a transaction open: finish it first",
            ));
        }
        let Some(db) = lock(&self.shared.db).clone() else {
            lock(&self.shared.in_transaction).remove(&me);
            return Err(refused(py, "closed", "the store is closed"));
        };
        let (to_worker, inbox) = bounded::<Msg>(1);
        let (ready_tx, ready) = bounded::<lazarusdb::Result<()>>(1);
        let begin = Begin {
            db,
            audit: self.audit.clone(),
            inbox,
            ready: ready_tx,
        };
        // an idle thread, else a new one
        let mut pending = Some(begin);
        let mut worker = None;
        while let Some(b) = pending.take() {
            let Some(w) = lock(&self.shared.idle).pop() else {
                pending = Some(b);
                break;
            };
            match w.send(b) {
                Ok(()) => worker = Some(w),
                Err(crossbeam::channel::SendError(back)) => pending = Some(back),
            }
        }
        let worker = match (worker, pending) {
            (Some(w), _) => Ok(w),
            (None, None) => Err(lazarusdb::Error::Closed),
            (None, Some(b)) => {
                let (w, commands) = bounded::<Begin>(1);
                std::thread::Builder::new()
                    .name("lazarus-py-tx".into())
                    .spawn(move || transaction_thread(commands))
                    .map_err(|e| {
                        lazarusdb::Error::Storage(format!(
                            "cannot start the transaction's thread: {e}"
                        ))
                    })
                    .and_then(|_| w.send(b).map_err(|_| lazarusdb::Error::Closed).map(|()| w))
            }
        };
        let begun = worker.and_then(|w| match py.detach(|| recv_soon(&ready, ANSWER_SPIN)) {
            Ok(Ok(())) => Ok(w),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(lazarusdb::Error::Closed),
        });
        match begun {
            Ok(worker) => {
                *state = TxState::Open {
                    to_worker,
                    thread: me,
                    worker,
                };
                Ok(())
            }
            Err(e) => {
                lock(&self.shared.in_transaction).remove(&me);
                *state = TxState::Finished;
                Err(store_error(py, e, None))
            }
        }
    }

    /// The channel to the transaction's thread, from the thread that opened it only.
    fn sender(&self, py: Python<'_>) -> PyResult<Sender<Msg>> {
        match &*lock(&self.state) {
            TxState::Open {
                to_worker, thread, ..
            } => {
                if *thread != std::thread::current().id() {
                    return Err(refused(
                        py,
                        "invalid_operation",
                        "a transaction is used by the thread that opened it only",
                    ));
                }
                Ok(to_worker.clone())
            }
            TxState::NotBegun => Err(refused(
                py,
                "invalid_operation",
                "the transaction is not open: use it in a `with` block (or call begin())",
            )),
            TxState::Finished => Err(refused(
                py,
                "invalid_operation",
                "the transaction is finished (committed or rolled back)",
            )),
        }
    }

    /// Runs `f` in the transaction on its thread, the GIL released while waiting.
    fn run<T: Send + 'static>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Transaction<'_>) -> lazarusdb::Result<T> + Send + 'static,
    ) -> PyResult<T> {
        let sender = self.sender(py)?;
        let (answer_tx, answer) = bounded(1);
        let job: Job = Box::new(move |tx| {
            let _ = answer_tx.send(f(tx));
        });
        if sender.send(Msg::Run(job)).is_err() {
            return Err(refused(
                py,
                "invalid_operation",
                "the transaction's thread is gone",
            ));
        }
        let db = lock(&self.shared.db).clone();
        match py.detach(|| recv_soon(&answer, ANSWER_SPIN)) {
            Ok(result) => result.map_err(|e| store_error(py, e, db.as_deref())),
            Err(_) => Err(refused(
                py,
                "invalid_operation",
                "the transaction's thread is gone",
            )),
        }
    }

    /// Ends the transaction: commits it (`commit`) or drops it (nothing written), and waits
    /// for its thread to let go of the store.
    fn finish(&self, py: Python<'_>, commit: bool) -> PyResult<Option<u64>> {
        self.sender(py)?; // the opening thread only, and open
        let TxState::Open {
            to_worker, worker, ..
        } = std::mem::replace(&mut *lock(&self.state), TxState::Finished)
        else {
            return Err(refused(
                py,
                "invalid_operation",
                "the transaction is not open",
            ));
        };
        let me = std::thread::current().id();
        let result = if commit {
            let (answer_tx, answer) = bounded(1);
            let sent = to_worker.send(Msg::Commit(answer_tx)).is_ok();
            drop(to_worker);
            match (sent, py.detach(|| answer.recv())) {
                (true, Ok(r)) => r.map_err(|e| store_error(py, e, None)),
                _ => Err(refused(
                    py,
                    "invalid_operation",
                    "the transaction's thread is gone: nothing was committed",
                )),
            }
        } else {
            // a closed channel ends the thread, which drops the transaction unwritten
            drop(to_worker);
            Ok(None)
        };
        // the thread takes the next transaction once it has let go of this one's store
        let mut idle = lock(&self.shared.idle);
        if idle.len() < IDLE_WORKERS {
            idle.push(worker);
        }
        drop(idle);
        lock(&self.shared.in_transaction).remove(&me);
        result
    }
}

/// How long a transaction thread polls for the next operation before it sleeps, and a Python
/// thread for an operation's answer: waking a sleeping thread costs tens of microseconds on a
/// small VM, far more than the operation.
const NEXT_OP_SPIN: Duration = Duration::from_micros(200);
const ANSWER_SPIN: Duration = Duration::from_micros(50);

/// Receives from `rx`, polling for `spin` first, then sleeping until something comes.
fn recv_soon<T>(rx: &Receiver<T>, spin: Duration) -> Result<T, crossbeam::channel::RecvError> {
    let until = std::time::Instant::now() + spin;
    loop {
        match rx.try_recv() {
            Ok(v) => return Ok(v),
            Err(crossbeam::channel::TryRecvError::Disconnected) => {
                return Err(crossbeam::channel::RecvError)
            }
            Err(crossbeam::channel::TryRecvError::Empty) => {
                if std::time::Instant::now() >= until {
                    return rx.recv();
                }
                std::hint::spin_loop();
            }
        }
    }
}

/// A transaction for a transaction thread: the store, who and why, where its work comes from,
/// and where to say it began.
struct Begin {
    db: Arc<Db>,
    audit: Audit,
    inbox: Receiver<Msg>,
    ready: Sender<lazarusdb::Result<()>>,
}

/// A transaction thread: serves one transaction after another until its channel closes.
fn transaction_thread(commands: Receiver<Begin>) {
    while let Ok(b) = commands.recv() {
        serve_transaction(b.db, b.audit, b.inbox, b.ready);
    }
}

/// Serves one transaction: begins it, runs what it is sent, commits when told; a closed
/// channel drops it (nothing written). The store is let go of on return.
fn serve_transaction(
    db: Arc<Db>,
    audit: Audit,
    inbox: Receiver<Msg>,
    ready: Sender<lazarusdb::Result<()>>,
) {
    let mut tx = match db.begin() {
        Ok(tx) => tx,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    if let Some(a) = audit.actor {
        tx.set_actor(a);
    }
    if let Some(r) = audit.reason {
        tx.set_reason(r);
    }
    let _ = ready.send(Ok(()));
    while let Ok(msg) = recv_soon(&inbox, NEXT_OP_SPIN) {
        match msg {
            Msg::Run(job) => job(&mut tx),
            Msg::Commit(answer) => {
                let _ = answer.send(tx.commit().map(|c| c.tx));
                return;
            }
        }
    }
}

#[pymethods]
impl PyTransaction {
    fn __enter__(slf: Py<Self>, py: Python<'_>) -> PyResult<Py<Self>> {
        slf.get().open_tx(py)?;
        Ok(slf)
    }

    /// Commits when the block ended normally, writes nothing when it raised.
    #[pyo3(signature = (exc_type, _exc, _tb))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: &Bound<'_, PyAny>,
        _exc: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        if matches!(*lock(&self.state), TxState::Finished) {
            return Ok(false);
        }
        self.finish(py, exc_type.is_none())?;
        Ok(false)
    }

    /// Begins the transaction (what a `with` block does on entering).
    fn begin(&self, py: Python<'_>) -> PyResult<()> {
        self.open_tx(py)
    }

    /// Commits; returns the transaction's id (None when it wrote nothing).
    fn commit(&self, py: Python<'_>) -> PyResult<Option<u64>> {
        self.finish(py, true)
    }

    /// Ends it with nothing written.
    fn rollback(&self, py: Python<'_>) -> PyResult<()> {
        self.finish(py, false).map(|_| ())
    }

    /// Inserts a row; returns it as stored.
    fn insert<'py>(
        &self,
        py: Python<'py>,
        table: String,
        row: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let row = to_row(row)?;
        let stored = self.run(py, move |tx| tx.insert(&table, row))?;
        row_py(py, &stored)
    }

    /// Inserts many rows (an iterable of dicts) in one step; returns them as stored.
    fn insert_many<'py>(
        &self,
        py: Python<'py>,
        table: String,
        rows: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let rows = rows_arg(rows)?;
        let stored = self.run(py, move |tx| {
            rows.into_iter()
                .map(|r| tx.insert(&table, r))
                .collect::<lazarusdb::Result<Vec<_>>>()
        })?;
        rows_py(py, &stored)
    }

    /// Changes some columns of a row; returns the row as it is now.
    fn update<'py>(
        &self,
        py: Python<'py>,
        table: String,
        pk: &Bound<'py, PyAny>,
        changes: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (pk, changes) = (to_value(pk)?, to_row(changes)?);
        let stored = self.run(py, move |tx| tx.update(&table, pk, changes))?;
        row_py(py, &stored)
    }

    /// Deletes a row with its cascade, as one deletion.
    fn delete<'py>(
        &self,
        py: Python<'py>,
        table: String,
        pk: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let pk = to_value(pk)?;
        let report = self.run(py, move |tx| tx.delete(&table, pk))?;
        deleted_py(py, &report)
    }

    /// Restores a deletion in this transaction.
    #[pyo3(signature = (deletion, *, policy="refuse"))]
    fn restore<'py>(
        &self,
        py: Python<'py>,
        deletion: &Bound<'py, PyAny>,
        policy: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let db = lock(&self.shared.db)
            .clone()
            .ok_or_else(|| refused(py, "closed", "the store is closed"))?;
        let id = to_deletion(&db, deletion)?;
        let policy = to_policy(policy)?;
        let plan = self.run(py, move |tx| tx.restore(id, policy))?;
        plan_py(py, &plan)
    }

    /// One row as this transaction sees it (its own writes included), or None.
    fn get<'py>(
        &self,
        py: Python<'py>,
        table: String,
        pk: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let pk = to_value(pk)?;
        opt_row_py(py, self.run(py, move |tx| tx.get(&table, pk))?.as_ref())
    }

    /// The rows as this transaction sees them.
    #[pyo3(signature = (table, *, limit=None, reverse=false))]
    fn scan<'py>(
        &self,
        py: Python<'py>,
        table: String,
        limit: Option<usize>,
        reverse: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let scan = scan_of(limit, reverse);
        let rows = self.run(py, move |tx| tx.scan(&table, scan))?;
        rows_py(py, &rows)
    }

    /// The children of a row as this transaction sees them.
    fn children<'py>(
        &self,
        py: Python<'py>,
        table: String,
        pk: &Bound<'py, PyAny>,
        child_table: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let pk = to_value(pk)?;
        let rows = self.run(py, move |tx| tx.children(&table, pk, &child_table))?;
        rows_py(py, &rows)
    }

    /// The rows whose indexed columns equal `where`, as this transaction sees them.
    fn lookup<'py>(
        &self,
        py: Python<'py>,
        table: String,
        r#where: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (columns, values) = lookup_args(r#where)?;
        let rows = self.run(py, move |tx| {
            let cols: Vec<&str> = columns.iter().map(String::as_str).collect();
            tx.lookup(&table, &cols, &values)
        })?;
        rows_py(py, &rows)
    }
}

// ---------------------------------------------------------------------------------------------
// The change feed.

/// The committed changes, in LSN order, each once; iterating waits for new ones (Ctrl-C
/// interrupts the wait).
#[pyclass(name = "Subscription", module = "lazarusdb", frozen)]
struct PySubscription {
    rx: Receiver<lazarusdb::Result<Change>>,
    last: Mutex<u64>,
    /// Set when the subscription is dropped: its thread ends.
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for PySubscription {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl PySubscription {
    /// The next change, waiting at most `timeout` (for ever without one).
    fn wait<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<Duration>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            // short waits, so that a signal (Ctrl-C) is seen
            let step = Duration::from_millis(100);
            let wait = match deadline {
                Some(d) => d
                    .saturating_duration_since(std::time::Instant::now())
                    .min(step),
                None => step,
            };
            match py.detach(|| self.rx.recv_timeout(wait)) {
                Ok(Ok(change)) => {
                    *lock(&self.last) = change.lsn;
                    return change_py(py, &change).map(Some);
                }
                Ok(Err(e)) => return Err(store_error(py, e, None)),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(refused(
                        py,
                        "closed",
                        "the change feed ended: the store was closed",
                    ))
                }
                Err(RecvTimeoutError::Timeout) => {
                    py.check_signals()?;
                    if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                        return Ok(None);
                    }
                }
            }
        }
    }
}

/// The feed's thread: reads the committed changes after `seen` in short waits, holding the
/// store only while it reads, and sends them on; it ends when the store is closed or the
/// subscription is dropped (`stop`).
fn feed(
    shared: Arc<Shared>,
    mut seen: u64,
    out: Sender<lazarusdb::Result<Change>>,
    stop: &std::sync::atomic::AtomicBool,
) {
    loop {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let Some(db) = lock(&shared.db).clone() else {
            return;
        };
        let mut batch = Vec::new();
        let mut failed = None;
        match db.subscribe(seen) {
            Ok(mut sub) => {
                while batch.len() < 256 {
                    match sub.next_timeout(Duration::from_millis(100)) {
                        Ok(Some(change)) => {
                            seen = change.lsn;
                            batch.push(change);
                        }
                        Ok(None) => break,
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
            }
            Err(e) => failed = Some(e),
        }
        drop(db);
        for change in batch {
            if out.send(Ok(change)).is_err() {
                return; // the subscription is gone
            }
        }
        if let Some(e) = failed {
            let _ = out.send(Err(e));
            return;
        }
    }
}

#[pymethods]
impl PySubscription {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.wait(py, None)
    }

    /// The next change, or None when none came within `timeout` seconds.
    #[pyo3(signature = (timeout=None))]
    fn next<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let timeout = match timeout {
            None => None,
            Some(t) if t.is_finite() && t >= 0.0 => Some(Duration::from_secs_f64(t)),
            Some(_) => {
                return Err(PyValueError::new_err(
                    "a timeout is a non-negative number of seconds",
                ))
            }
        };
        self.wait(py, timeout)
    }

    /// The LSN of the last change returned (resume from it after a reopen).
    #[getter]
    fn last_seen(&self) -> u64 {
        *lock(&self.last)
    }
}

// ---------------------------------------------------------------------------------------------
// The module.

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(open, m)?)?;
    m.add_function(wrap_pyfunction!(temporary, m)?)?;
    m.add_function(wrap_pyfunction!(open_postgres, m)?)?;
    m.add_class::<PyDb>()?;
    m.add_class::<PyAsOf>()?;
    m.add_class::<PyTransaction>()?;
    m.add_class::<PySubscription>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
