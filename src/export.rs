//! Export and import of the event log as JSON lines.
//!
//! One line per event, in LSN order:
//!
//! ```text
//! {"lsn":3,"tx":2,"at":"2026-01-01T00:00:00.000000Z","actor":null,"reason":null,
//!  "kind":"insert","table":"book","pk":1,"row":{"id":1,"title":"Dune","author_id":1}}
//! ```
//!
//! `kind` is one of `schema`, `insert`, `update`, `delete` (a tombstone, with `deletion` and
//! `root`), `unlink` (a set-null update inside a deletion, with `deletion`), `restore` (with
//! `deletion`), and the purge kinds, which carry keys and ids, never a value: `purged` (an
//! event whose image a purge or a history prune removed: `table`, `pk`, `was` — `insert`,
//! `update`, `unlink` or `restore` — and its `deletion` for the last two), `purge` (a row's life
//! purged from the trash of `deletion`), `purge_deletion` (`deletion` leaves the trash) and
//! `prune` (`table`'s history before LSN `horizon` dropped). A schema line carries `schema`: `{"create_tables": [table, ...]}` (each table
//! with its id, columns, index ids and foreign-key index ids), `{"add_column": {"table", "column"}}`
//! or `{"add_index": {"table", "id", "columns", "unique"}}`. Rows are JSON objects as the CLI
//! prints them (bytes in base64, times in RFC 3339).
//!
//! Import replays such a file into an **empty** store, keeping LSNs, transaction ids, times,
//! actors, reasons and deletion ids: a store whose log holds purges imports to the same store,
//! the erased values absent from both. Each event is checked as its kind requires (types and keys;
//! an insert of a key that is not live, an update or set-null update of a live row, a tombstone
//! of a live row, a restore naming a deletion whose trash holds the row — or, for a live row, a
//! set-null update of it; tombstones and set-null updates join only a deletion of their own
//! transaction), and at the end of each transaction, for every row it touched, what the store
//! guarantees at every commit: unique values held once (and not kept by the trash for another
//! row), parents live, no live row referencing a row that is not. Those run per transaction as
//! the store ran them: inside one, a restore to a point may bring a row back before the tombstone
//! that frees its unique value, or a child before its parent. Non-finite floats are the strings
//! `"NaN"`, `"Infinity"` and `"-Infinity"`. A bad line is a typed error naming its line number,
//! and the import stops there with the transactions before it committed (each transaction is
//! atomic).

use std::io::{BufRead, Write};

use serde_json::{json, Map, Value as Json};
use uuid::Uuid;

use crate::db::Db;
use crate::error::{Error, Result};
use crate::log::{Event, EventBody};
use crate::read::Readable;
use crate::schema::{ColumnDef, ForeignKeyDef, IndexDef, OnDelete, TableDef};
use crate::value::{ColumnType, Row, Timestamp, Value};

/// The longest line import reads (and export writes): 128 MiB. A row image is at most 64 MiB
/// encoded; its JSON (base64 bytes, escaped text) is usually well under this, and a row whose
/// line would be longer is refused by export, naming its event, rather than written unimportable.
pub const MAX_LINE_BYTES: usize = 128 << 20;

fn column_json(c: &ColumnDef) -> Json {
    let mut o = Map::new();
    o.insert("name".into(), c.name.clone().into());
    o.insert("type".into(), c.ty.name().into());
    o.insert("nullable".into(), c.nullable.into());
    if let Some(d) = &c.default {
        o.insert("default".into(), d.to_json());
    }
    Json::Object(o)
}

fn table_json(t: &TableDef) -> Json {
    json!({
        "id": t.id,
        "name": t.name,
        "primary_key": t.primary_key,
        "columns": t.columns.iter().map(column_json).collect::<Vec<_>>(),
        "indexes": t.indexes.iter().map(|i| json!({"id": i.id, "columns": i.columns, "unique": i.unique})).collect::<Vec<_>>(),
        "foreign_keys": t.foreign_keys.iter().map(|f| json!({"column": f.column, "references": f.references, "on_delete": f.on_delete.name(), "index": f.index})).collect::<Vec<_>>(),
        "trash_keeps_keys": t.trash_keeps_keys,
    })
}

/// Writes the whole log to `out` as JSON lines; returns the number of events written.
pub fn export(db: &Db, out: &mut dyn Write, mut progress: impl FnMut(u64)) -> Result<u64> {
    let mut from = 1u64;
    let mut n = 0u64;
    let mut catalog = crate::schema::Catalog::default();
    loop {
        let events = db.events(from, Some(1024))?;
        if events.is_empty() {
            break;
        }
        for ev in events {
            from = ev.lsn + 1;
            let rec = db.transaction_record(ev.tx)?.ok_or_else(|| {
                Error::corrupted("tx", format!("no record of transaction {}", ev.tx))
            })?;
            let mut o = Map::new();
            o.insert("lsn".into(), ev.lsn.into());
            o.insert("tx".into(), ev.tx.into());
            o.insert("at".into(), rec.at.to_rfc3339().into());
            o.insert("actor".into(), rec.actor.clone().into());
            o.insert("reason".into(), rec.reason.clone().into());
            let row_json =
                |catalog: &crate::schema::Catalog, table: u32, image: &[Value]| -> Result<Json> {
                    let t = catalog.by_id(table)?;
                    Ok(crate::records::to_row(t, image).to_json())
                };
            let name = |catalog: &crate::schema::Catalog, table: u32| -> Result<Json> {
                Ok(catalog.by_id(table)?.name().into())
            };
            match &ev.body {
                EventBody::CreateTables(defs) => {
                    o.insert("kind".into(), "schema".into());
                    o.insert(
                        "schema".into(),
                        json!({"create_tables": defs.iter().map(table_json).collect::<Vec<_>>()}),
                    );
                }
                EventBody::AddColumn { table, column } => {
                    o.insert("kind".into(), "schema".into());
                    o.insert(
                        "schema".into(),
                        json!({"add_column": {"table": name(&catalog, *table)?, "column": column_json(column)}}),
                    );
                }
                EventBody::AddIndex { table, index } => {
                    o.insert("kind".into(), "schema".into());
                    o.insert(
                        "schema".into(),
                        json!({"add_index": {"table": name(&catalog, *table)?, "id": index.id, "columns": index.columns, "unique": index.unique}}),
                    );
                }
                EventBody::Insert { table, pk, image }
                | EventBody::Update { table, pk, image }
                | EventBody::Unlink {
                    table, pk, image, ..
                }
                | EventBody::Restore {
                    table, pk, image, ..
                } => {
                    let kind = match &ev.body {
                        EventBody::Insert { .. } => "insert",
                        EventBody::Update { .. } => "update",
                        EventBody::Unlink { .. } => "unlink",
                        _ => "restore",
                    };
                    o.insert("kind".into(), kind.into());
                    o.insert("table".into(), name(&catalog, *table)?);
                    o.insert("pk".into(), pk.to_json());
                    o.insert("row".into(), row_json(&catalog, *table, image)?);
                    if let EventBody::Unlink { deletion, .. }
                    | EventBody::Restore { deletion, .. } = &ev.body
                    {
                        o.insert("deletion".into(), deletion.to_string().into());
                    }
                }
                EventBody::SetRetention { table, policy } => {
                    o.insert("kind".into(), "schema".into());
                    let table = match table {
                        Some(t) => name(&catalog, *t)?,
                        None => Json::Null,
                    };
                    o.insert(
                        "schema".into(),
                        json!({"retention": {"table": table, "deletions": policy.deletions, "history": policy.history}}),
                    );
                }
                EventBody::ImagePurged {
                    table,
                    pk,
                    was,
                    deletion,
                } => {
                    o.insert("kind".into(), "purged".into());
                    o.insert("table".into(), name(&catalog, *table)?);
                    o.insert("pk".into(), pk.to_json());
                    o.insert("was".into(), was_name(*was, ev.lsn)?.into());
                    if let Some(d) = deletion {
                        o.insert("deletion".into(), d.to_string().into());
                    }
                }
                EventBody::Purge {
                    table,
                    pk,
                    deletion,
                } => {
                    o.insert("kind".into(), "purge".into());
                    o.insert("table".into(), name(&catalog, *table)?);
                    o.insert("pk".into(), pk.to_json());
                    o.insert("deletion".into(), deletion.to_string().into());
                }
                EventBody::PurgeDeletion { deletion } => {
                    o.insert("kind".into(), "purge_deletion".into());
                    o.insert("deletion".into(), deletion.to_string().into());
                }
                EventBody::PruneHistory { table, horizon } => {
                    o.insert("kind".into(), "prune".into());
                    o.insert("table".into(), name(&catalog, *table)?);
                    o.insert("horizon".into(), (*horizon).into());
                }
                EventBody::Tombstone {
                    table,
                    pk,
                    deletion,
                    root,
                } => {
                    o.insert("kind".into(), "delete".into());
                    o.insert("table".into(), name(&catalog, *table)?);
                    o.insert("pk".into(), pk.to_json());
                    o.insert("deletion".into(), deletion.to_string().into());
                    o.insert("root".into(), (*root).into());
                }
            }
            crate::records::apply_to_catalog(&mut catalog, &ev.body)?;
            let line = serde_json::to_string(&Json::Object(o))
                .map_err(|e| Error::invalid(format!("cannot write event {}: {e}", ev.lsn)))?;
            if line.len() > MAX_LINE_BYTES {
                return Err(Error::invalid(format!(
                    "the event at lsn {} is {} bytes as JSON, more than an import reads in one \
                     line ({MAX_LINE_BYTES} bytes): copy the store folder instead",
                    ev.lsn,
                    line.len()
                )));
            }
            writeln!(out, "{line}").map_err(|e| Error::io("export", e))?;
            n += 1;
            if n.is_multiple_of(1024) {
                progress(n);
            }
        }
    }
    out.flush().map_err(|e| Error::io("export", e))?;
    Ok(n)
}

/// The name of the event kind a purged image stands for, as a line spells it.
fn was_name(was: u8, lsn: u64) -> Result<&'static str> {
    use crate::codec::record::kind;
    Ok(match was {
        kind::INSERT => "insert",
        kind::UPDATE => "update",
        kind::UNLINK => "unlink",
        kind::RESTORE => "restore",
        other => {
            return Err(Error::corrupted(
                format!("log event at lsn {lsn}"),
                format!("a purged image stands for event kind {other}"),
            ))
        }
    })
}

fn field<'a>(o: &'a Map<String, Json>, name: &str, line: usize) -> Result<&'a Json> {
    o.get(name)
        .ok_or_else(|| Error::invalid(format!("line {line}: missing \"{name}\"")))
}

fn str_field<'a>(o: &'a Map<String, Json>, name: &str, line: usize) -> Result<&'a str> {
    field(o, name, line)?
        .as_str()
        .ok_or_else(|| Error::invalid(format!("line {line}: \"{name}\" must be a string")))
}

fn u64_field(o: &Map<String, Json>, name: &str, line: usize) -> Result<u64> {
    field(o, name, line)?.as_u64().ok_or_else(|| {
        Error::invalid(format!(
            "line {line}: \"{name}\" must be a non-negative integer"
        ))
    })
}

fn opt_str(o: &Map<String, Json>, name: &str) -> Option<String> {
    o.get(name).and_then(|v| v.as_str()).map(str::to_string)
}

fn parse_column(j: &Json, line: usize) -> Result<ColumnDef> {
    let o = j
        .as_object()
        .ok_or_else(|| Error::invalid(format!("line {line}: a column must be an object")))?;
    let ty = ColumnType::parse(str_field(o, "type", line)?)?;
    let default = match o.get("default") {
        None | Some(Json::Null) => None,
        Some(d) => Some(Value::from_json(d)?.coerce(ty).map_err(|_| {
            Error::invalid(format!(
                "line {line}: a default does not fit its column type"
            ))
        })?),
    };
    Ok(ColumnDef {
        name: str_field(o, "name", line)?.to_string(),
        ty,
        nullable: o.get("nullable").and_then(Json::as_bool).unwrap_or(false),
        default,
    })
}

fn parse_u32(j: &Json, what: &str, line: usize) -> Result<u32> {
    j.as_u64()
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| Error::invalid(format!("line {line}: {what} must be a small integer")))
}

fn strings(j: &Json, line: usize) -> Result<Vec<String>> {
    j.as_array()
        .ok_or_else(|| Error::invalid(format!("line {line}: expected a list of column names")))?
        .iter()
        .map(|c| {
            c.as_str().map(str::to_string).ok_or_else(|| {
                Error::invalid(format!("line {line}: a column name must be a string"))
            })
        })
        .collect()
}

fn parse_table(j: &Json, line: usize) -> Result<TableDef> {
    let o = j
        .as_object()
        .ok_or_else(|| Error::invalid(format!("line {line}: a table must be an object")))?;
    let list = |name: &str| -> Result<Vec<Json>> {
        Ok(o.get(name)
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default())
    };
    let columns = list("columns")?
        .iter()
        .map(|c| parse_column(c, line))
        .collect::<Result<Vec<_>>>()?;
    let indexes = list("indexes")?
        .iter()
        .map(|i| {
            let io = i.as_object().ok_or_else(|| {
                Error::invalid(format!("line {line}: an index must be an object"))
            })?;
            Ok(IndexDef {
                id: parse_u32(field(io, "id", line)?, "an index id", line)?,
                columns: strings(field(io, "columns", line)?, line)?,
                unique: io.get("unique").and_then(Json::as_bool).unwrap_or(false),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let foreign_keys = list("foreign_keys")?
        .iter()
        .map(|f| {
            let fo = f.as_object().ok_or_else(|| {
                Error::invalid(format!("line {line}: a foreign key must be an object"))
            })?;
            Ok(ForeignKeyDef {
                column: str_field(fo, "column", line)?.to_string(),
                references: str_field(fo, "references", line)?.to_string(),
                on_delete: OnDelete::try_from(str_field(fo, "on_delete", line)?.to_string())?,
                index: parse_u32(field(fo, "index", line)?, "a foreign-key index id", line)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(TableDef {
        id: parse_u32(field(o, "id", line)?, "a table id", line)?,
        name: str_field(o, "name", line)?.to_string(),
        columns,
        primary_key: str_field(o, "primary_key", line)?.to_string(),
        indexes,
        foreign_keys,
        trash_keeps_keys: o
            .get("trash_keeps_keys")
            .and_then(Json::as_bool)
            .unwrap_or(false),
    })
}

/// One parsed line: its LSN, transaction, time, actor, reason, and event (with names unresolved).
pub(crate) struct Line {
    pub lsn: u64,
    pub tx: u64,
    pub at: Timestamp,
    pub actor: Option<String>,
    pub reason: Option<String>,
    pub line: usize,
    pub body: ImportBody,
}

/// An event as imported: rows still by table name and JSON.
pub(crate) enum ImportBody {
    CreateTables(Vec<TableDef>),
    AddColumn {
        table: String,
        column: ColumnDef,
    },
    AddIndex {
        table: String,
        index: IndexDef,
    },
    Retention {
        table: Option<String>,
        policy: crate::schema::Retention,
    },
    Row(RowLine),
    /// An event whose image was purged (`purged`): what it was, without the image.
    Purged {
        table: String,
        pk: Json,
        was: u8,
        deletion: Option<Uuid>,
    },
    /// A row's lives purged from a deletion's trash (`purge`).
    Purge {
        table: String,
        pk: Json,
        deletion: Uuid,
    },
    /// A deletion purged (`purge_deletion`).
    PurgeDeletion(Uuid),
    /// A table's history pruned before a horizon (`prune`).
    Prune {
        table: String,
        horizon: u64,
    },
}

/// A row event as read from a line.
pub(crate) struct RowLine {
    kind: String,
    table: String,
    pk: Json,
    row: Option<Row>,
    deletion: Option<Uuid>,
    root: bool,
}

fn parse_line(text: &str, line: usize) -> Result<Line> {
    let j: Json = serde_json::from_str(text)
        .map_err(|e| Error::invalid(format!("line {line}: not JSON: {e}")))?;
    let o = j
        .as_object()
        .ok_or_else(|| Error::invalid(format!("line {line}: an event must be a JSON object")))?;
    let kind = str_field(o, "kind", line)?;
    let body = if kind == "schema" {
        let s = field(o, "schema", line)?
            .as_object()
            .ok_or_else(|| Error::invalid(format!("line {line}: \"schema\" must be an object")))?;
        if let Some(ts) = s.get("create_tables") {
            let defs = ts
                .as_array()
                .ok_or_else(|| {
                    Error::invalid(format!("line {line}: create_tables must be a list"))
                })?
                .iter()
                .map(|t| parse_table(t, line))
                .collect::<Result<Vec<_>>>()?;
            ImportBody::CreateTables(defs)
        } else if let Some(a) = s.get("add_column").and_then(Json::as_object) {
            ImportBody::AddColumn {
                table: str_field(a, "table", line)?.to_string(),
                column: parse_column(field(a, "column", line)?, line)?,
            }
        } else if let Some(a) = s.get("add_index").and_then(Json::as_object) {
            ImportBody::AddIndex {
                table: str_field(a, "table", line)?.to_string(),
                index: IndexDef {
                    id: parse_u32(field(a, "id", line)?, "an index id", line)?,
                    columns: strings(field(a, "columns", line)?, line)?,
                    unique: a.get("unique").and_then(Json::as_bool).unwrap_or(false),
                },
            }
        } else if let Some(a) = s.get("retention").and_then(Json::as_object) {
            let secs = |f: &str| -> Result<Option<u64>> {
                match a.get(f) {
                    None | Some(Json::Null) => Ok(None),
                    Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                        Error::invalid(format!(
                            "line {line}: retention `{f}` must be a number of seconds or null"
                        ))
                    }),
                }
            };
            let table = match a.get("table") {
                None | Some(Json::Null) => None,
                Some(Json::String(t)) => Some(t.clone()),
                Some(_) => {
                    return Err(Error::invalid(format!(
                        "line {line}: retention `table` must be a table name or null"
                    )))
                }
            };
            ImportBody::Retention {
                table,
                policy: crate::schema::Retention {
                    deletions: secs("deletions")?,
                    history: secs("history")?,
                },
            }
        } else {
            return Err(Error::invalid(format!(
                "line {line}: unknown schema change"
            )));
        }
    } else if matches!(kind, "purged" | "purge" | "purge_deletion" | "prune") {
        let deletion = match o.get("deletion") {
            None | Some(Json::Null) => None,
            Some(Json::String(d)) => Some(
                Uuid::parse_str(d)
                    .map_err(|_| Error::invalid(format!("line {line}: bad deletion id `{d}`")))?,
            ),
            Some(_) => {
                return Err(Error::invalid(format!(
                    "line {line}: \"deletion\" must be a deletion id"
                )))
            }
        };
        let need =
            || deletion.ok_or_else(|| Error::invalid(format!("line {line}: missing \"deletion\"")));
        match kind {
            "purged" => {
                use crate::codec::record::kind as k;
                let was = match str_field(o, "was", line)? {
                    "insert" => k::INSERT,
                    "update" => k::UPDATE,
                    "unlink" => k::UNLINK,
                    "restore" => k::RESTORE,
                    other => {
                        return Err(Error::invalid(format!(
                            "line {line}: a purged image stands for insert, update, unlink or \
                             restore, not `{other}`"
                        )))
                    }
                };
                ImportBody::Purged {
                    table: str_field(o, "table", line)?.to_string(),
                    pk: field(o, "pk", line)?.clone(),
                    was,
                    deletion,
                }
            }
            "purge" => ImportBody::Purge {
                table: str_field(o, "table", line)?.to_string(),
                pk: field(o, "pk", line)?.clone(),
                deletion: need()?,
            },
            "purge_deletion" => ImportBody::PurgeDeletion(need()?),
            _ => ImportBody::Prune {
                table: str_field(o, "table", line)?.to_string(),
                horizon: u64_field(o, "horizon", line)?,
            },
        }
    } else {
        if !matches!(kind, "insert" | "update" | "unlink" | "restore" | "delete") {
            return Err(Error::invalid(format!(
                "line {line}: unknown event kind `{kind}`"
            )));
        }
        let deletion = match o.get("deletion").and_then(Json::as_str) {
            Some(d) => Some(
                Uuid::parse_str(d)
                    .map_err(|_| Error::invalid(format!("line {line}: bad deletion id `{d}`")))?,
            ),
            None => None,
        };
        let row = match o.get("row") {
            Some(r) => {
                Some(Row::from_json(r).map_err(|e| Error::invalid(format!("line {line}: {e}")))?)
            }
            None => None,
        };
        ImportBody::Row(RowLine {
            kind: kind.to_string(),
            table: str_field(o, "table", line)?.to_string(),
            pk: field(o, "pk", line)?.clone(),
            row,
            deletion,
            root: o.get("root").and_then(Json::as_bool).unwrap_or(false),
        })
    };
    Ok(Line {
        lsn: u64_field(o, "lsn", line)?,
        tx: u64_field(o, "tx", line)?,
        at: Timestamp::parse_rfc3339(str_field(o, "at", line)?)
            .map_err(|e| Error::invalid(format!("line {line}: {e}")))?,
        actor: opt_str(o, "actor"),
        reason: opt_str(o, "reason"),
        line,
        body,
    })
}

/// Imports a JSON-lines event log into an empty store; returns the number of events imported.
pub fn import(
    db: &Db,
    input: &mut dyn BufRead,
    defaults: &crate::db::Audit,
    mut progress: impl FnMut(u64),
) -> Result<u64> {
    if db.last_lsn() != 0 {
        return Err(Error::invalid(
            "import needs an empty store (it keeps the file's LSNs and transaction ids); create a new store",
        ));
    }
    let mut n = 0u64;
    let mut pending: Vec<Line> = Vec::new();
    let mut bytes: Vec<u8> = Vec::new();
    let mut line_no = 0usize;
    loop {
        bytes.clear();
        line_no += 1;
        // At most one byte more than a line may hold: memory stays bounded whatever the input
        // (a giant line, or an endless one such as /dev/zero).
        let read = std::io::Read::take(&mut *input, MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut bytes)
            .map_err(|e| Error::io("import", e))?;
        if bytes.len() > MAX_LINE_BYTES {
            return Err(Error::invalid(format!(
                "line {line_no} is longer than {MAX_LINE_BYTES} bytes, more than any event \
                 export writes: this is not an exported log"
            )));
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            Error::invalid(format!(
                "line {line_no}: not UTF-8 text: this is not an exported log"
            ))
        })?;
        let done = read == 0;
        let parsed = if done || text.trim().is_empty() {
            None
        } else {
            Some(parse_line(text.trim_end(), line_no)?)
        };
        let boundary = match (&parsed, pending.first()) {
            (Some(l), Some(p)) => l.tx != p.tx,
            (None, Some(_)) => done,
            _ => false,
        };
        if boundary {
            n += pending.len() as u64;
            db.import_transaction(std::mem::take(&mut pending), defaults)?;
            progress(n);
        }
        if let Some(l) = parsed {
            pending.push(l);
        }
        if done {
            break;
        }
    }
    Ok(n)
}

/// Builds the event of an imported row line against the catalog of the importing transaction.
pub(crate) fn row_event(
    catalog: &crate::schema::Catalog,
    r: RowLine,
    line: usize,
) -> Result<Event> {
    let RowLine {
        kind,
        table,
        pk,
        row,
        deletion,
        root,
    } = r;
    let t = catalog.table(&table)?;
    let pk = crate::read::pk_enc(t, Value::from_json(&pk)?)?.0;
    let need_deletion =
        || deletion.ok_or_else(|| Error::invalid(format!("line {line}: missing \"deletion\"")));
    let image = |row: Option<Row>| -> Result<Vec<Value>> {
        let row = row.ok_or_else(|| Error::invalid(format!("line {line}: missing \"row\"")))?;
        let mut out = Vec::with_capacity(t.def.columns.len());
        for c in &t.def.columns {
            let v = row.get(&c.name).cloned().unwrap_or_else(|| c.fill());
            let v = v.coerce(c.ty).map_err(|v| Error::WrongType {
                table: t.name().to_string(),
                column: c.name.clone(),
                expected: c.ty.name().to_string(),
                got: v.kind().to_string(),
            })?;
            out.push(v);
        }
        for (name, _) in row.iter() {
            t.column(name)?;
        }
        Ok(out)
    };
    let table_id = t.id();
    let body = match kind.as_str() {
        "insert" => EventBody::Insert {
            table: table_id,
            pk,
            image: image(row)?,
        },
        "update" => EventBody::Update {
            table: table_id,
            pk,
            image: image(row)?,
        },
        "unlink" => EventBody::Unlink {
            table: table_id,
            pk,
            image: image(row)?,
            deletion: need_deletion()?,
        },
        "restore" => EventBody::Restore {
            table: table_id,
            pk,
            image: image(row)?,
            deletion: need_deletion()?,
        },
        _ => EventBody::Tombstone {
            table: table_id,
            pk,
            deletion: need_deletion()?,
            root,
        },
    };
    Ok(Event {
        lsn: 0,
        tx: 0,
        body,
    })
}

impl Db {
    fn import_transaction(&self, lines: Vec<Line>, defaults: &crate::db::Audit) -> Result<()> {
        let Some(first) = lines.first() else {
            return Ok(());
        };
        let (tx_id, at, actor, reason) = (
            first.tx,
            first.at,
            first.actor.clone().or_else(|| defaults.actor.clone()),
            first.reason.clone().or_else(|| defaults.reason.clone()),
        );
        let mut tx = self.begin()?;
        if tx.id() != tx_id {
            return Err(Error::invalid(format!(
                "line {}: transaction {tx_id} out of order (expected {})",
                first.line,
                tx.id()
            )));
        }
        if let Some(a) = actor {
            tx.set_actor(a);
        }
        if let Some(r) = reason {
            tx.set_reason(r);
        }
        tx.set_commit_time(at);
        for l in lines {
            let expected = tx.next_lsn();
            if l.lsn != expected {
                return Err(Error::invalid(format!(
                    "line {}: lsn {} out of order (expected {expected})",
                    l.line, l.lsn
                )));
            }
            let line = l.line;
            let at_line = |e: Error| match e {
                Error::InvalidInput(m) if m.starts_with("line ") => Error::InvalidInput(m),
                other => Error::invalid(format!("line {line}: {other}")),
            };
            let body = (|| -> Result<EventBody> {
                Ok(match l.body {
                    ImportBody::CreateTables(defs) => EventBody::CreateTables(defs),
                    ImportBody::AddColumn { table, column } => EventBody::AddColumn {
                        table: tx.catalog().table(&table)?.id(),
                        column,
                    },
                    ImportBody::AddIndex { table, index } => EventBody::AddIndex {
                        table: tx.catalog().table(&table)?.id(),
                        index,
                    },
                    ImportBody::Retention { table, policy } => EventBody::SetRetention {
                        table: match table {
                            Some(t) => Some(tx.catalog().table(&t)?.id()),
                            None => None,
                        },
                        policy,
                    },
                    ImportBody::Row(r) => row_event(tx.catalog(), r, line)?.body,
                    ImportBody::Purged {
                        table,
                        pk,
                        was,
                        deletion,
                    } => {
                        let t = tx.catalog().table(&table)?;
                        EventBody::ImagePurged {
                            table: t.id(),
                            pk: crate::read::pk_enc(t, Value::from_json(&pk)?)?.0,
                            was,
                            deletion,
                        }
                    }
                    ImportBody::Purge {
                        table,
                        pk,
                        deletion,
                    } => {
                        let t = tx.catalog().table(&table)?;
                        EventBody::Purge {
                            table: t.id(),
                            pk: crate::read::pk_enc(t, Value::from_json(&pk)?)?.0,
                            deletion,
                        }
                    }
                    ImportBody::PurgeDeletion(deletion) => EventBody::PurgeDeletion { deletion },
                    ImportBody::Prune { table, horizon } => EventBody::PruneHistory {
                        table: tx.catalog().table(&table)?.id(),
                        horizon,
                    },
                })
            })()
            .map_err(at_line)?;
            tx.stage_checked(body).map_err(at_line)?;
        }
        tx.check_consistent()
            .map_err(|e| Error::invalid(format!("transaction {tx_id}: {e}")))?;
        tx.commit()?;
        Ok(())
    }

    /// Writes the event log as JSON lines, one event a line in LSN order (the format is in the
    /// module notes of `export.rs` and `docs/semantics.md`; purges included, without the values
    /// they erased).
    pub fn export_log(&self, out: &mut dyn Write) -> Result<u64> {
        export(self, out, |_| {})
    }

    /// Imports a JSON-lines event log into this empty store, keeping LSNs, transaction ids,
    /// times, actors, reasons and deletion ids, checking every event and every transaction as
    /// the store checks its own writes; a bad line is [`Error::InvalidInput`] naming it, and the
    /// transactions before it stay committed.
    pub fn import_log(&self, input: &mut dyn BufRead) -> Result<u64> {
        import(self, input, &crate::db::Audit::default(), |_| {})
    }

    /// [`Db::export_log`], calling `progress` with the number of events written so far.
    pub fn export_log_with(&self, out: &mut dyn Write, progress: impl FnMut(u64)) -> Result<u64> {
        export(self, out, progress)
    }

    /// [`Db::import_log`], calling `progress` with the number of events imported so far.
    pub fn import_log_with(
        &self,
        input: &mut dyn BufRead,
        progress: impl FnMut(u64),
    ) -> Result<u64> {
        import(self, input, &crate::db::Audit::default(), progress)
    }

    /// [`Db::import_log_with`], recording `defaults` (who imports, and why) with every imported
    /// transaction whose line records no actor or no reason of its own; a recorded one is kept.
    pub fn import_log_as(
        &self,
        input: &mut dyn BufRead,
        defaults: &crate::db::Audit,
        progress: impl FnMut(u64),
    ) -> Result<u64> {
        import(self, input, defaults, progress)
    }

    /// Reads every live row of every table (for comparisons in tests and tools).
    pub fn dump(&self) -> Result<Vec<(String, Vec<Row>)>> {
        self.tables()?
            .into_iter()
            .map(|t| Ok((t.clone(), self.scan(&t, crate::read::Scan::all())?)))
            .collect()
    }
}
