//! The JSON document of an outcome (`--json`): rows as objects of their columns, reports as
//! objects, lists as arrays.

use lazarusdb::{Change, Conflict, Deletion, PurgeReport, Retention, Row, RowRef, TableDef, Value};
use serde_json::{json, Value as Json};

use crate::commands::{Outcome, Retentions, Schema};
use crate::demo::Demo;

/// The JSON document of `outcome`; none for `export -`, which streamed its output.
pub fn document(outcome: &Outcome) -> Option<Json> {
    Some(match outcome {
        Outcome::Row(rows) => return rows.rows.first().map(Row::to_json),
        Outcome::Rows(rows) => Json::Array(rows.rows.iter().map(Row::to_json).collect()),
        Outcome::Schema(schema) | Outcome::SchemaApplied { schema, .. } => schema_json(schema),
        Outcome::Changes(changes) => Json::Array(changes.iter().map(change_json).collect()),
        Outcome::RestoredTo { plan, .. } => json!({
            "target_lsn": plan.target_lsn,
            "restored": refs_json(&plan.restored),
            "reverted": refs_json(&plan.reverted),
            "tombstoned": refs_json(&plan.tombstoned),
            "conflicts": conflicts_json(&plan.conflicts),
        }),
        Outcome::Undone { tx, plan } => json!({
            "tx": tx,
            "restored": refs_json(&plan.restored),
            "reverted": refs_json(&plan.reverted),
            "tombstoned": refs_json(&plan.tombstoned),
        }),
        Outcome::Diff(diff) => Json::Array(
            diff.iter()
                .map(|d| {
                    json!({
                        "table": d.row.table,
                        "pk": d.row.pk.to_json(),
                        "kind": d.kind.name(),
                        "before": d.before.as_ref().map(Row::to_json),
                        "after": d.after.as_ref().map(Row::to_json),
                        "changes": d.changes.iter().map(|c| json!({
                            "column": c.column, "before": c.before.to_json(), "after": c.after.to_json()
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect(),
        ),
        Outcome::Deleted(report) => json!({
            "deletion": report.deletion.to_string(),
            "rows": refs_json(&report.rows),
            "unlinked": refs_json(&report.unlinked),
        }),
        Outcome::Trash(trash) => Json::Array(
            trash
                .iter()
                .map(|t| deletion_json(&t.deletion, &t.rows))
                .collect(),
        ),
        Outcome::Script { name, text } => json!({"shell": name, "script": text}),
        // written in the format asked for, as it is
        Outcome::Formatted(_) => return None,
        Outcome::Loaded(l) => json!({
            "table": l.table, "rows": l.rows, "transactions": l.transactions,
        }),
        Outcome::TrashShown {
            deletion: d,
            tombstoned,
            unlinked,
        } => {
            let by_table = |list: &[(String, crate::commands::Rows)]| {
                list.iter()
                    .map(|(t, rows)| {
                        (
                            t.clone(),
                            Json::Array(rows.rows.iter().map(Row::to_json).collect()),
                        )
                    })
                    .collect::<serde_json::Map<_, _>>()
            };
            let mut doc = deletion_json(d, &[]);
            if let Some(o) = doc.as_object_mut() {
                o.remove("rows");
                o.insert("tx".into(), json!(d.tx));
                o.insert("remaining".into(), json!(d.remaining));
                o.insert("roots".into(), refs_json(&d.roots));
                o.insert("tombstoned".into(), Json::Object(by_table(tombstoned)));
                o.insert("unlinked".into(), Json::Object(by_table(unlinked)));
            }
            doc
        }
        Outcome::RestorePlanned { deletion, plan } => json!({
            "deletion": deletion.to_string(),
            "rows": refs_json(&plan.rows),
            "relinks": refs_json(&plan.relinks),
            "conflicts": conflicts_json(&plan.conflicts),
        }),
        Outcome::Restored { deletion, plan } => json!({
            "deletion": deletion.to_string(),
            "restored": refs_json(&plan.rows),
            "relinked": refs_json(&plan.relinks),
            "skipped": plan.skipped.iter().map(|s| json!({
                "table": s.row.table, "pk": s.row.pk.to_json(), "reason": s.reason})).collect::<Vec<_>>(),
        }),
        Outcome::Purged { report, dry_run } => {
            let mut doc = json!({
                "purged": report.purged.iter().map(purge_json).collect::<Vec<_>>(),
                "pruned": report.pruned.iter().map(|(t, h, n)| json!({
                    "table": t, "horizon": h, "images": n,
                })).collect::<Vec<_>>(),
            });
            if let (true, Some(o)) = (*dry_run, doc.as_object_mut()) {
                o.insert("dry_run".into(), json!(true));
            }
            doc
        }
        Outcome::Erased { report, dry_run } => {
            let mut doc = purge_json(report);
            if let (true, Some(o)) = (*dry_run, doc.as_object_mut()) {
                o.insert("dry_run".into(), json!(true));
            }
            doc
        }
        Outcome::Exported { events, file } => {
            json!({"events": events, "file": file.display().to_string()})
        }
        Outcome::Streamed => return None,
        Outcome::Imported { events } => json!({ "events": events }),
        Outcome::Verified(report) => json!({
            "ok": report.is_ok(),
            "events": report.events,
            "keys": report.keys,
            "differences": report.differences,
        }),
        Outcome::Stats {
            stats: s,
            retention,
        } => {
            let tables: serde_json::Map<String, Json> = s
                .tables
                .iter()
                .map(|(t, n)| (t.clone(), (*n).into()))
                .collect();
            json!({
                "engine": s.engine.name(),
                "last_lsn": s.last_lsn,
                "last_tx": s.last_tx,
                "tables": tables,
                "deletions": s.deletions,
                "disk_bytes": s.disk_bytes,
                "live_bytes": s.live_bytes,
                "history_bytes": s.history_bytes,
                "trash_bytes": s.trash_bytes,
                "reclaimable_bytes": s.reclaimable_bytes,
                "retention": retention_json(retention),
            })
        }
        Outcome::Checkpoint(at) => json!({ "lsn": at }),
        Outcome::Served { addr } => json!({ "served": addr }),
        Outcome::BackedUp(r) => json!({
            "path": r.path.display().to_string(),
            "lsn": r.lsn,
            "keys": r.keys,
            "bytes": r.bytes,
            "seconds": r.seconds,
        }),
        Outcome::Compacted(r) => json!({
            "keys": r.keys,
            "bytes": r.bytes,
            "disk_bytes_before": r.disk_bytes_before,
            "disk_bytes_after": r.disk_bytes_after,
            "seconds": r.seconds,
        }),
        Outcome::Said { json, .. } => json.clone(),
        Outcome::Demo(demo) => demo_json(demo),
    })
}

/// The schema in the schema-file format, with the retention settings where one is set.
fn schema_json(schema: &Schema) -> Json {
    let refs: Vec<&TableDef> = schema.tables.iter().collect();
    let mut json = lazarusdb::schema_to_json(&refs);
    if let Some(obj) = json.as_object_mut() {
        if let Some(p) = &schema.retention.store {
            obj.insert("retention".into(), policy_json(p));
        }
        if let Some(tables) = obj.get_mut("tables").and_then(|t| t.as_array_mut()) {
            for t in tables {
                let name = t.get("name").and_then(|n| n.as_str()).map(str::to_string);
                if let (Some(name), Some(o)) = (name, t.as_object_mut()) {
                    if let Some((_, p)) = schema.retention.own().find(|(t, _)| *t == name) {
                        o.insert("retention".into(), policy_json(p));
                    }
                }
            }
        }
    }
    json
}

/// An event: its LSN, transaction, time, kind, table, key, row, deletion, actor and reason.
fn change_json(c: &Change) -> Json {
    let mut o = serde_json::Map::new();
    o.insert("lsn".into(), c.lsn.into());
    o.insert("tx".into(), c.tx.into());
    o.insert("at".into(), c.at.to_rfc3339().into());
    o.insert("kind".into(), c.kind.name().into());
    o.insert("table".into(), c.table.clone().into());
    if c.tables.len() > 1 {
        o.insert("tables".into(), c.tables.clone().into());
    }
    o.insert(
        "pk".into(),
        c.pk.as_ref().map_or(Json::Null, Value::to_json),
    );
    if let Some(r) = &c.row {
        o.insert("row".into(), r.to_json());
    }
    if let Some(d) = &c.deletion {
        o.insert("deletion".into(), d.to_string().into());
    }
    o.insert("actor".into(), c.actor.clone().into());
    o.insert("reason".into(), c.reason.clone().into());
    Json::Object(o)
}

/// A deletion in the trash with its tombstoned `rows`.
fn deletion_json(d: &Deletion, rows: &[RowRef]) -> Json {
    let root = d.roots.first();
    json!({
        "deletion": d.id.to_string(),
        "table": root.map(|r| r.table.clone()),
        "pk": root.map(|r| r.pk.to_json()),
        "rows": rows.iter().map(|r| json!({"table": r.table, "pk": r.pk.to_json()})).collect::<Vec<_>>(),
        "counts": d.rows.iter().map(|(t, n)| (t.clone(), Json::from(*n))).collect::<serde_json::Map<_, _>>(),
        "at": d.at.to_rfc3339(),
        "actor": d.actor,
        "reason": d.reason,
    })
}

/// Rows by table and key.
fn refs_json(refs: &[RowRef]) -> Json {
    Json::Array(
        refs.iter()
            .map(|r| json!({"table": r.table, "pk": r.pk.to_json()}))
            .collect(),
    )
}

/// Conflicts: the row, the kind, the detail.
fn conflicts_json(conflicts: &[Conflict]) -> Json {
    Json::Array(
        conflicts
            .iter()
            .map(|c| {
                json!({"table": c.row.table, "pk": c.row.pk.to_json(),
                    "kind": c.kind.name(), "detail": c.detail})
            })
            .collect(),
    )
}

/// A purge or erase report: the deletion, the rows purged, the images removed, and the other
/// deletions an erase purged with it.
fn purge_json(p: &PurgeReport) -> Json {
    json!({
        "deletion": p.deletion.to_string(),
        "rows": refs_json(&p.rows),
        "images": p.images,
        "also": p.also.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
    })
}

/// A retention policy in the schema-file format.
fn policy_json(p: &Retention) -> Json {
    let f = |v: Option<u64>| v.map(lazarusdb::format_duration);
    json!({"deletions": f(p.deletions), "history": f(p.history)})
}

/// The store's retention policy and every table's.
fn retention_json(retention: &Retentions) -> Json {
    let tables: serde_json::Map<String, Json> = retention
        .tables
        .iter()
        .filter_map(|(t, p)| Some((t.clone(), policy_json(p.as_ref()?))))
        .collect();
    json!({
        "store": retention.store.as_ref().map(policy_json),
        "tables": tables,
    })
}

/// The demo's summary: the store, its last LSN, the live keys of its tables and the verdict of
/// `verify`.
fn demo_json(demo: &Demo) -> Json {
    let s = &demo.summary;
    let tables: serde_json::Map<String, Json> = s
        .tables
        .iter()
        .map(|(t, ids)| (t.clone(), json!(ids)))
        .collect();
    json!({
        "store": s.store,
        "engine": s.engine.name(),
        "last_lsn": s.last_lsn,
        "tables": tables,
        "verify": {"ok": s.verify.is_ok(), "events": s.verify.events, "differences": s.verify.differences},
    })
}
