//! Pins the `lazarus` command-line tool as a user sees it, by running the built binary: every
//! command with `--json` prints exactly one JSON document of the documented shape (rows as objects
//! of their columns, scans in primary-key order, deletions with their rows root first, the trash
//! newest first, restore reports, history and log oldest first, stats with `last_lsn`, `tables`
//! and `deletions`); the human output of the main commands is not empty; the seed scenario (a, b
//! with a cascading foreign key; b3, a3, a1 deleted; their deletions restored one by one) runs
//! entirely through the tool; errors exit non-zero with one line on standard error and write
//! nothing (`last_lsn` unchanged), a `get` of a missing row exits 1, a restore conflict is refused
//! and `--skip-conflicts` then exits 0; a plain file, a folder of unrelated files, a garbage or
//! newer-format marker, and a store of the other engine are refused at open and left untouched;
//! `export` then `import` reproduces the same scans and log, a failed import leaves no store; `demo`
//! runs on a fresh temporary store that it removes; a closed standard output is not an error
//! (exit 0). No invocation ever exits 101 (a panic). What happens when output cannot be written is
//! pinned in `tests/cli_output.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_lazarus");

/// The seed question's tables: a(id, data1, data2) and b(id, data1, a_id → a cascade).
const SEED_SCHEMA: &str = r#"{"tables": [
  {"name": "a", "primary_key": "id",
   "columns": [{"name": "id", "type": "int"},
               {"name": "data1", "type": "text"},
               {"name": "data2", "type": "text"}]},
  {"name": "b", "primary_key": "id",
   "columns": [{"name": "id", "type": "int"},
               {"name": "data1", "type": "text"},
               {"name": "a_id", "type": "int"}],
   "foreign_keys": [{"column": "a_id", "references": "a", "on_delete": "cascade"}]}
]}"#;

/// One table of several column types, for rows in and out.
const TYPED_SCHEMA: &str = r#"{"tables": [{"name": "t", "primary_key": "id",
  "columns": [{"name": "id", "type": "int"},
              {"name": "name", "type": "text"},
              {"name": "score", "type": "float", "nullable": true},
              {"name": "ok", "type": "bool", "nullable": true}]}]}"#;

/// A table with a unique column, a table with a text key and one with a uuid key.
const MORE_SCHEMA: &str = r#"{"tables": [
  {"name": "u", "primary_key": "id",
   "columns": [{"name": "id", "type": "int"}, {"name": "email", "type": "text"}],
   "unique": [["email"]]},
  {"name": "t", "primary_key": "code",
   "columns": [{"name": "code", "type": "text"},
               {"name": "n", "type": "int", "nullable": true}]},
  {"name": "w", "primary_key": "id",
   "columns": [{"name": "id", "type": "uuid"},
               {"name": "note", "type": "text", "nullable": true}]}
]}"#;

/// What one invocation did.
#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs a prepared command to its end; no invocation may panic (exit 101) or die of a signal.
fn exec(cmd: &mut Command) -> Out {
    let o = cmd.stdin(Stdio::null()).output().unwrap();
    let out = Out {
        code: o
            .status
            .code()
            .unwrap_or_else(|| panic!("killed by a signal: {:?}", o.status)),
        stdout: String::from_utf8(o.stdout).unwrap(),
        stderr: String::from_utf8(o.stderr).unwrap(),
    };
    assert_ne!(out.code, 101, "the tool panicked: {cmd:?}\n{}", out.stderr);
    out
}

/// The tool with exactly these arguments (no `--db`).
fn lazarus(args: &[&str]) -> Out {
    exec(Command::new(BIN).args(args))
}

/// Asserts a failure's form: the expected code, nothing on standard output, one line on standard
/// error: one naming the tool, or under `--json` one JSON object with the error's kind and
/// message. Returns the message.
fn assert_failure(out: &Out, code: i32, what: &str) -> String {
    assert_eq!(out.code, code, "{what}: {out:?}");
    assert_eq!(out.stdout, "", "{what}: a failure prints nothing on stdout");
    assert_eq!(
        out.stderr.trim_end().lines().count(),
        1,
        "{what}: one line on stderr, got {:?}",
        out.stderr
    );
    if out.stderr.starts_with('{') {
        let v: Value = serde_json::from_str(&out.stderr)
            .unwrap_or_else(|e| panic!("{what}: not one JSON object ({e}): {:?}", out.stderr));
        let kind = v["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no kind: {v}"));
        assert!(
            !kind.is_empty() && kind.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{what}: {v}"
        );
        return v["message"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no message: {v}"))
            .to_string();
    }
    assert!(
        out.stderr.starts_with("lazarus: "),
        "{what}: {:?}",
        out.stderr
    );
    out.stderr.clone()
}

/// A store at `<tempdir>/s`, with room for files beside it.
struct Store {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl Store {
    fn new() -> Store {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        Store { dir, path }
    }

    /// Writes a file beside the store and returns its path.
    fn file(&self, name: &str, contents: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, contents).unwrap();
        p.to_str().unwrap().to_string()
    }

    /// `lazarus --db <store> ARGS`.
    fn run(&self, args: &[&str]) -> Out {
        // no actor from the environment of the test run
        exec(
            Command::new(BIN)
                .env_remove("LAZARUS_ACTOR")
                .arg("--db")
                .arg(&self.path)
                .args(args),
        )
    }

    /// Human output of a successful command (non-empty).
    fn human(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
        assert!(!out.stdout.trim().is_empty(), "{args:?}: empty output");
        out.stdout
    }

    /// `--json` output of a successful command: exactly one JSON document, nothing on stderr.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
        assert_eq!(out.stderr, "", "{args:?}");
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not one JSON document ({e}): {}", out.stdout))
    }

    /// `--json` output of a command that exits with the verdict `code` and prints its report:
    /// exactly one JSON document, and one line on standard error.
    fn verdict(&self, args: &[&str], code: i32) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert_eq!(out.code, code, "{args:?}: {out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {out:?}");
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not one JSON document ({e}): {}", out.stdout))
    }

    /// The last LSN, from `--json stats`.
    fn last_lsn(&self) -> u64 {
        self.json(&["stats"])["last_lsn"].as_u64().unwrap()
    }

    /// Runs a command (with `--json`) that must fail with `code`, in the documented form, and
    /// write nothing; returns its one line of standard error.
    fn fails(&self, args: &[&str], code: i32) -> String {
        self.fails_at(args, code, self.last_lsn())
    }

    /// [`Store::fails`] when the last LSN is already known to be `before`.
    fn fails_at(&self, args: &[&str], code: i32, before: u64) -> String {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        let message = assert_failure(&out, code, &format!("{args:?}"));
        assert_eq!(self.last_lsn(), before, "{args:?} wrote something");
        message
    }

    /// Applies a schema file given as text.
    fn schema(&self, name: &str, text: &str) -> Value {
        let f = self.file(name, text);
        self.json(&["schema", "apply", &f])
    }
}

/// The `id`s of an array of rows, in order.
fn ids(rows: &Value) -> Vec<i64> {
    rows.as_array()
        .unwrap_or_else(|| panic!("not an array: {rows}"))
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

/// An array of `{"table","pk"}` as pairs.
fn refs(v: &Value) -> Vec<(String, Value)> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|r| {
            assert_eq!(r.as_object().unwrap().len(), 2, "{r}");
            (r["table"].as_str().unwrap().to_string(), r["pk"].clone())
        })
        .collect()
}

fn r(table: &str, pk: impl Into<Value>) -> (String, Value) {
    (table.to_string(), pk.into())
}

fn is_rfc3339(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
    })
}

/// The seed tables with four a rows and four b rows (b1, b2 → a1, b3 → a3, b4 → a4).
fn seed(s: &Store) {
    let schema = s.schema("seed.json", SEED_SCHEMA);
    let names: Vec<&str> = schema["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"]);
    for i in 1..=4 {
        let row = s.json(&[
            "insert",
            "a",
            &json!({"data1": format!("a{i}d1"), "data2": format!("a{i}d2")}).to_string(),
        ]);
        assert_eq!(
            row,
            json!({"id": i, "data1": format!("a{i}d1"), "data2": format!("a{i}d2")}),
            "the stored row, its key assigned"
        );
    }
    for (i, parent) in [(1, 1), (2, 1), (3, 3), (4, 4)] {
        let row = s.json(&[
            "insert",
            "b",
            &json!({"data1": format!("b{i}"), "a_id": parent}).to_string(),
        ]);
        assert_eq!(
            row,
            json!({"id": i, "data1": format!("b{i}"), "a_id": parent})
        );
    }
}

/// Every file under `dir` (relative path → bytes; folders map to `None`).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            if p.is_dir() {
                out.insert(rel, None);
                walk(root, &p, out);
            } else {
                out.insert(rel, Some(std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

// ---------------------------------------------------------------------------------------------
// The seed scenario, entirely through the tool.

#[test]
fn the_seed_scenario_through_the_cli() {
    let s = Store::new();
    seed(&s);
    assert_eq!(ids(&s.json(&["scan", "a"])), [1, 2, 3, 4]);
    assert_eq!(ids(&s.json(&["scan", "b"])), [1, 2, 3, 4]);

    // b3 on its own, then a3 (nothing left to cascade), then a1 (taking b1 and b2).
    let d_b3 = s.json(&["delete", "b", "3"]);
    assert!(d_b3["deletion"].is_string(), "{d_b3}");
    assert_eq!(refs(&d_b3["rows"]), [r("b", 3)]);
    let d_a3 = s.json(&["delete", "a", "3", "--actor", "ops", "--reason", "cleanup"]);
    assert_eq!(refs(&d_a3["rows"]), [r("a", 3)], "b3 was already deleted");
    let d_a1 = s.json(&["delete", "a", "1", "--actor", "alice", "--reason", "oops"]);
    assert_eq!(
        refs(&d_a1["rows"]),
        [r("a", 1), r("b", 1), r("b", 2)],
        "the deleted row first, then its cascade"
    );
    let id = |d: &Value| d["deletion"].as_str().unwrap().to_string();
    let (b3, a3, a1) = (id(&d_b3), id(&d_a3), id(&d_a1));
    for d in [&b3, &a3, &a1] {
        assert!(uuid::Uuid::parse_str(d).is_ok(), "{d}");
    }
    assert_ne!(a1, a3);

    // live views: no filter anywhere
    assert_eq!(ids(&s.json(&["scan", "a"])), [2, 4]);
    assert_eq!(ids(&s.json(&["scan", "b"])), [4]);
    assert_eq!(s.json(&["children", "a", "1", "b"]), json!([]));
    assert_eq!(
        s.json(&["children", "a", "4", "b"]),
        json!([{"id": 4, "data1": "b4", "a_id": 4}])
    );
    s.fails(&["get", "a", "1"], 1);
    s.fails(&["get", "b", "2"], 1);
    let stats = s.json(&["stats"]);
    assert_eq!(stats["tables"], json!({"a": 2, "b": 1}));
    assert_eq!(stats["deletions"], 3);

    // the trash, newest first, with the root row, its rows, when, who and why
    let trash = s.json(&["trash"]);
    let order: Vec<String> = trash.as_array().unwrap().iter().map(id).collect();
    assert_eq!(order, [a1.clone(), a3.clone(), b3.clone()]);
    let t0 = &trash[0];
    assert_eq!(t0["table"], "a");
    assert_eq!(t0["pk"], 1);
    assert_eq!(refs(&t0["rows"]), [r("a", 1), r("b", 1), r("b", 2)]);
    assert_eq!(t0["actor"], "alice");
    assert_eq!(t0["reason"], "oops");
    assert!(is_rfc3339(&t0["at"]), "{}", t0["at"]);
    assert_eq!(trash[1]["actor"], "ops");
    assert_eq!(trash[1]["reason"], "cleanup");
    assert_eq!(
        (&trash[2]["table"], &trash[2]["pk"]),
        (&json!("b"), &json!(3))
    );
    assert_eq!(trash[2]["actor"], Value::Null);
    assert_eq!(trash[2]["reason"], Value::Null);
    assert_eq!(refs(&trash[2]["rows"]), [r("b", 3)]);
    let only_a: Vec<String> = s
        .json(&["trash", "--table", "a"])
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect();
    assert_eq!(only_a, [a1.clone(), a3.clone()]);

    // a new row cannot point at a deleted parent
    s.fails(&["insert", "b", r#"{"data1": "late", "a_id": 1}"#], 2);

    // b3 cannot come back before its parent: refused, the dry run names the conflict (and exits
    // 1, the plan printed)
    let plan = s.verdict(&["restore", &b3, "--dry-run"], 1);
    assert_eq!(plan["deletion"], json!(b3));
    assert_eq!(refs(&plan["rows"]), [r("b", 3)]);
    let conflicts = plan["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{plan}");
    assert_eq!(
        (&conflicts[0]["table"], &conflicts[0]["pk"]),
        (&json!("b"), &json!(3))
    );
    assert_eq!(conflicts[0]["kind"], "parent_not_live");
    assert!(conflicts[0]["detail"].as_str().unwrap().contains('a'));
    s.fails(&["restore", &b3], 2);

    // a3's deletion brings back a3 only: b3 was deleted on its own
    let back = s.json(&["restore", &a3]);
    assert_eq!(back["deletion"], json!(a3));
    assert_eq!(refs(&back["restored"]), [r("a", 3)]);
    assert_eq!(back["skipped"], json!([]));
    assert_eq!(ids(&s.json(&["scan", "a"])), [2, 3, 4]);
    assert_eq!(ids(&s.json(&["scan", "b"])), [4], "b3 stays deleted");

    let back = s.json(&["restore", &b3]);
    assert_eq!(refs(&back["restored"]), [r("b", 3)]);
    assert_eq!(ids(&s.json(&["scan", "b"])), [3, 4]);

    let plan = s.json(&["restore", &a1, "--dry-run"]);
    assert_eq!(refs(&plan["rows"]), [r("a", 1), r("b", 1), r("b", 2)]);
    assert_eq!(plan["conflicts"], json!([]));
    let back = s.json(&["restore", &a1]);
    assert_eq!(refs(&back["restored"]), [r("a", 1), r("b", 1), r("b", 2)]);
    assert_eq!(back["skipped"], json!([]));

    assert_eq!(ids(&s.json(&["scan", "a"])), [1, 2, 3, 4]);
    assert_eq!(ids(&s.json(&["scan", "b"])), [1, 2, 3, 4]);
    assert_eq!(
        s.json(&["get", "b", "2"]),
        json!({"id": 2, "data1": "b2", "a_id": 1})
    );
    assert_eq!(ids(&s.json(&["children", "a", "1", "b"])), [1, 2]);
    assert_eq!(s.json(&["trash"]), json!([]));
    let stats = s.json(&["stats"]);
    assert_eq!(stats["tables"], json!({"a": 4, "b": 4}));
    assert_eq!(stats["deletions"], 0);

    // restoring twice is an error that writes nothing
    s.fails(&["restore", &a1], 2);

    // b1's history: insert, tombstone and restore, the last two with a1's deletion
    let h = s.json(&["history", "b", "1"]);
    let kinds: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["insert", "delete", "restore"]);
    assert_eq!(h[1]["deletion"], json!(a1));
    assert_eq!(h[2]["deletion"], json!(a1));
    assert_eq!(h[1]["actor"], "alice");
    assert_eq!(h[2]["row"], json!({"id": 1, "data1": "b1", "a_id": 1}));

    let v = s.json(&["verify"]);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["differences"], json!([]));
}

// ---------------------------------------------------------------------------------------------
// Every command's --json shape.

#[test]
fn writes_and_point_in_time_reads_with_json() {
    let s = Store::new();
    seed(&s); // lsn 1 schema, 2..=5 a rows, 6..=9 b rows
    assert_eq!(s.last_lsn(), 9);

    let row = s.json(&["update", "a", "2", r#"{"data2": "edited"}"#]);
    assert_eq!(row, json!({"id": 2, "data1": "a2d1", "data2": "edited"}));
    assert_eq!(s.json(&["get", "a", "2"]), row);
    assert_eq!(s.last_lsn(), 10);

    // as of an LSN and as of an RFC 3339 time
    let old = json!({"id": 2, "data1": "a2d1", "data2": "a2d2"});
    assert_eq!(s.json(&["get", "a", "2", "--as-of", "9"]), old);
    assert_eq!(s.json(&["get", "a", "2", "--as-of", "10"]), row);
    let log = s.json(&["log"]);
    let at9 = log[8]["at"].as_str().unwrap().to_string();
    assert_eq!(log[8]["lsn"], 9);
    assert_eq!(s.json(&["get", "a", "2", "--as-of", &at9]), old);
    assert_eq!(s.json(&["scan", "a", "--as-of", "9"])[1], old);
    assert_eq!(ids(&s.json(&["scan", "a", "--as-of", "3"])), [1, 2]);
    s.fails(&["get", "a", "3", "--as-of", "3"], 1);
    s.fails(&["get", "a", "1", "--as-of", "999"], 2);

    // log: oldest first, every documented field
    let arr = log.as_array().unwrap();
    assert_eq!(arr.len(), 10);
    let lsns: Vec<u64> = arr.iter().map(|c| c["lsn"].as_u64().unwrap()).collect();
    assert_eq!(lsns, (1..=10).collect::<Vec<u64>>());
    for c in arr {
        for k in ["lsn", "tx", "at", "kind", "table", "pk"] {
            assert!(c.get(k).is_some(), "no {k} in {c}");
        }
        assert!(is_rfc3339(&c["at"]), "{c}");
    }
    assert_eq!(arr[0]["kind"], "schema");
    assert_eq!(arr[0]["pk"], Value::Null);
    assert_eq!(arr[1]["kind"], "insert");
    assert_eq!((&arr[1]["table"], &arr[1]["pk"]), (&json!("a"), &json!(1)));
    assert_eq!(
        arr[1]["row"],
        json!({"id": 1, "data1": "a1d1", "data2": "a1d2"})
    );
    assert_eq!(arr[9]["kind"], "update");
    assert_eq!(arr[9]["row"], row);
    let some = s.json(&["log", "--since", "4", "--limit", "2"]);
    let lsns: Vec<u64> = some
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["lsn"].as_u64().unwrap())
        .collect();
    assert_eq!(lsns, [4, 5]);
    assert_eq!(s.json(&["log", "--since", "11"]), json!([]));

    // history: oldest first
    let h = s.json(&["history", "a", "2"]);
    let kinds: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["insert", "update"]);
    assert_eq!(s.json(&["history", "a", "99"]), json!([]));

    // diff between two points
    let d = s.json(&["diff", "9", "10"]);
    assert_eq!(d.as_array().unwrap().len(), 1, "{d}");
    assert_eq!((&d[0]["table"], &d[0]["pk"]), (&json!("a"), &json!(2)));
    assert_eq!(d[0]["kind"], "changed");
    assert_eq!(d[0]["before"], old);
    assert_eq!(d[0]["after"], row);
    assert_eq!(
        d[0]["changes"],
        json!([{"column": "data2", "before": "a2d2", "after": "edited"}])
    );
    assert_eq!(s.json(&["diff", "9", "10", "--table", "b"]), json!([]));
    let d = s.json(&["diff", "5", "9"]);
    assert_eq!(d.as_array().unwrap().len(), 4, "the four b rows appeared");

    // restore-to: the dry run writes nothing, the real one puts a2 back by a compensating event
    let plan = s.json(&["restore-to", "9", "--dry-run"]);
    assert_eq!(plan["target_lsn"], 9);
    assert_eq!(refs(&plan["reverted"]), [r("a", 2)]);
    assert_eq!(plan["restored"], json!([]));
    assert_eq!(plan["tombstoned"], json!([]));
    assert_eq!(plan["conflicts"], json!([]));
    assert_eq!(s.last_lsn(), 10);
    let done = s.json(&["restore-to", &at9, "--table", "a"]);
    assert_eq!(refs(&done["reverted"]), [r("a", 2)]);
    assert_eq!(s.json(&["get", "a", "2"]), old);
    assert_eq!(s.last_lsn(), 11);
    let ev = s.json(&["log", "--since", "11"]);
    assert_eq!(ev[0]["kind"], "update");
    let tx = ev[0]["tx"].as_u64().unwrap();

    // undo that transaction: a2 is edited again
    let undone = s.json(&["undo", &tx.to_string()]);
    assert_eq!(undone["tx"], tx);
    assert_eq!(refs(&undone["reverted"]), [r("a", 2)]);
    assert_eq!(s.json(&["get", "a", "2"]), row);
    // undoing the original update conflicts with the later ones unless forced
    let first_tx = arr[9]["tx"].as_u64().unwrap().to_string();
    s.fails(&["undo", &first_tx], 2);
    let forced = s.json(&["undo", &first_tx, "--force"]);
    assert_eq!(refs(&forced["reverted"]), [r("a", 2)]);
    assert_eq!(s.json(&["get", "a", "2"]), old);

    // restore-to before b existed tombstones the b rows
    let plan = s.json(&["restore-to", "5", "--dry-run", "--table", "b"]);
    assert_eq!(
        refs(&plan["tombstoned"]),
        [r("b", 1), r("b", 2), r("b", 3), r("b", 4)]
    );

    let v = s.json(&["verify"]);
    assert_eq!(v["ok"], true);
    assert!(v["events"].as_u64().unwrap() >= 13, "{v}");
}

#[test]
fn scans_filters_children_schema_and_stats_with_json() {
    let s = Store::new();
    seed(&s);
    // explicit keys (negative and multi-digit) sort numerically
    for id in [-5, 10, 100] {
        let row = s.json(&[
            "insert",
            "b",
            &json!({"id": id, "data1": "x", "a_id": 4}).to_string(),
        ]);
        assert_eq!(row["id"], id);
    }
    assert_eq!(ids(&s.json(&["scan", "b"])), [-5, 1, 2, 3, 4, 10, 100]);
    assert_eq!(ids(&s.json(&["scan", "b", "--limit", "3"])), [-5, 1, 2]);
    assert_eq!(s.json(&["scan", "b", "--limit", "0"]), json!([]));
    // through the foreign-key index, through a filter, and both
    assert_eq!(
        ids(&s.json(&["scan", "b", "--where", "a_id=4"])),
        [-5, 4, 10, 100]
    );
    assert_eq!(
        ids(&s.json(&["scan", "b", "--where", "data1=x"])),
        [-5, 10, 100]
    );
    assert_eq!(
        ids(&s.json(&["scan", "b", "--where", "data1=x", "--where", "a_id=4", "--limit", "2"])),
        [-5, 10]
    );
    assert_eq!(s.json(&["scan", "b", "--where", "a_id=2"]), json!([]));
    assert_eq!(
        s.json(&["scan", "a", "--where", "data1=a3d1"]),
        json!([{"id": 3, "data1": "a3d1", "data2": "a3d2"}])
    );
    assert_eq!(ids(&s.json(&["children", "a", "4", "b"])), [-5, 4, 10, 100]);
    assert_eq!(s.json(&["children", "a", "99", "b"]), json!([]));
    assert_eq!(s.json(&["scan", "a", "--where", "id=2"])[0]["id"], 2);

    // schema show: the schema-file format, the foreign key included
    let schema = s.json(&["schema", "show"]);
    let tables = schema["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 2);
    assert_eq!(tables[0]["name"], "a");
    assert_eq!(tables[0]["primary_key"], "id");
    let cols: Vec<&str> = tables[1]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(cols, ["id", "data1", "a_id"]);
    assert_eq!(
        tables[1]["foreign_keys"],
        json!([{"column": "a_id", "references": "a", "on_delete": "cascade"}])
    );
    // applying the same file again changes nothing
    let lsn = s.last_lsn();
    assert_eq!(s.schema("again.json", SEED_SCHEMA), schema);
    assert_eq!(s.last_lsn(), lsn);

    let stats = s.json(&["stats"]);
    assert_eq!(stats["last_lsn"], 12);
    assert_eq!(stats["tables"], json!({"a": 4, "b": 7}));
    assert_eq!(stats["deletions"], 0);
    assert_eq!(stats["engine"], lazarusdb::EngineKind::default().name());
}

#[test]
fn primary_keys_are_json_or_bare_text() {
    let s = Store::new();
    s.schema("more.json", MORE_SCHEMA);
    let x = s.json(&["insert", "t", r#"{"code": "x", "n": 1}"#]);
    assert_eq!(x, json!({"code": "x", "n": 1}));
    assert_eq!(s.json(&["get", "t", "x"]), x, "bare text");
    assert_eq!(s.json(&["get", "t", r#""x""#]), x, "JSON text");
    let three = s.json(&["insert", "t", r#"{"code": "3"}"#]);
    assert_eq!(three, json!({"code": "3", "n": null}));
    assert_eq!(s.json(&["get", "t", r#""3""#]), three);
    assert_eq!(s.json(&["scan", "t", "--where", "code=3"]), json!([three]));
    assert_eq!(s.json(&["update", "t", "x", r#"{"n": 2}"#])["n"], 2);
    assert_eq!(s.json(&["history", "t", "x"]).as_array().unwrap().len(), 2);
    let d = s.json(&["delete", "t", r#""x""#]);
    assert_eq!(refs(&d["rows"]), [r("t", "x")]);
    s.fails(&["get", "t", "x"], 1);

    // a uuid key, assigned when omitted, addressed bare or quoted
    let w = s.json(&["insert", "w", r#"{"note": "hi"}"#]);
    let id = w["id"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{w}");
    assert_eq!(s.json(&["get", "w", &id]), w);
    assert_eq!(s.json(&["get", "w", &format!("\"{id}\"")]), w);
    let d = s.json(&["delete", "w", &id]);
    assert_eq!(refs(&d["rows"]), [r("w", id.as_str())]);
    let trash = s.json(&["trash", "--table", "w"]);
    assert_eq!(trash[0]["pk"], json!(id));
}

#[test]
fn human_output_is_not_empty() {
    let s = Store::new();
    seed(&s);
    s.json(&["delete", "a", "1", "--actor", "alice", "--reason", "oops"]);
    let out = s.human(&["schema", "show"]);
    assert!(out.contains("foreign key a_id -> a"), "{out}");
    let out = s.human(&["scan", "a"]);
    assert!(out.contains("a2d1") && out.contains("(3 rows)"), "{out}");
    assert!(s.human(&["get", "a", "2"]).contains("a2d2"));
    assert!(s.human(&["children", "a", "4", "b"]).contains("b4"));
    let out = s.human(&["trash"]);
    assert!(out.contains("alice") && out.contains("oops"), "{out}");
    assert!(s.human(&["history", "b", "1"]).contains("delete"));
    assert!(s.human(&["log", "--limit", "2"]).contains("schema"));
    assert!(s.human(&["stats"]).contains("last lsn"));
    assert!(s.human(&["verify"]).starts_with("ok"));
    assert!(s.human(&["diff", "1", "9"]).contains("(8 rows)"));
    let out = s.human(&["insert", "a", r#"{"data1": "h", "data2": "i"}"#]);
    assert!(out.contains('5'), "{out}");
    let d = s.human(&["delete", "a", "5"]);
    assert!(d.starts_with("deletion "), "{d}");
}

// ---------------------------------------------------------------------------------------------
// Errors.

#[test]
fn errors_exit_non_zero_with_one_line_and_write_nothing() {
    let s = Store::new();
    seed(&s);
    s.schema("more.json", MORE_SCHEMA);
    s.json(&["insert", "u", r#"{"email": "x@y"}"#]);
    let bad_schema = s.file("bad.json", r#"{"tables": ["#);
    let missing = s.dir.path().join("nope.json");
    let missing = missing.to_str().unwrap();
    let no_deletion = uuid::Uuid::now_v7().to_string();
    let cases: Vec<Vec<&str>> = vec![
        // unknown table
        vec!["insert", "nope", "{}"],
        vec!["scan", "nope"],
        vec!["get", "nope", "1"],
        vec!["delete", "nope", "1"],
        vec!["history", "nope", "1"],
        vec!["children", "a", "1", "nope"],
        vec!["trash", "--table", "nope"],
        vec!["diff", "1", "2", "--table", "nope"],
        vec!["restore-to", "1", "--table", "nope"],
        // bad JSON
        vec!["insert", "a", "{bad"],
        vec!["insert", "a", "[1, 2]"],
        vec!["update", "a", "1", "nope"],
        // wrong type, null in a non-null column, unknown column
        vec!["insert", "a", r#"{"data1": 5, "data2": "x"}"#],
        vec!["insert", "a", r#"{"data1": "x"}"#],
        vec!["update", "a", "1", r#"{"data1": null}"#],
        vec!["update", "a", "1", r#"{"nocol": 1}"#],
        vec!["get", "a", "1.5"],
        // constraints
        vec!["insert", "a", r#"{"id": 1, "data1": "x", "data2": "y"}"#],
        vec!["insert", "u", r#"{"email": "x@y"}"#],
        vec!["insert", "b", r#"{"data1": "x", "a_id": 77}"#],
        vec!["update", "a", "1", r#"{"id": 9}"#],
        // missing rows and things
        vec!["update", "a", "99", r#"{"data1": "x"}"#],
        vec!["delete", "a", "99"],
        vec!["restore", "not-a-uuid"],
        vec!["restore", &no_deletion],
        vec!["undo", "9999"],
        // bad filters and points in time
        vec!["scan", "a", "--where", "data1"],
        vec!["scan", "a", "--where", "nocol=1"],
        vec!["scan", "a", "--where", "id=abc"],
        vec!["get", "a", "1", "--as-of", "garbage"],
        vec!["scan", "a", "--as-of", "9999"],
        vec!["diff", "1", "9999"],
        vec!["restore-to", "9999"],
        // schema files
        vec!["schema", "apply", &bad_schema],
        vec!["schema", "apply", missing],
        // engines
        vec!["--engine", "nope", "stats"],
        vec!["--engine", "memory", "stats"],
    ];
    let before = s.last_lsn();
    for args in &cases {
        let err = s.fails_at(args, 2, before);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    assert!(s.fails(&["insert", "nope", "{}"], 2).contains("nope"));
    assert!(s
        .fails(&["insert", "u", r#"{"email": "x@y"}"#], 2)
        .contains("unique"));
    // the store is intact
    assert_eq!(s.json(&["verify"])["ok"], true);
    assert_eq!(ids(&s.json(&["scan", "a"])), [1, 2, 3, 4]);
}

#[test]
fn get_of_a_missing_row_exits_1() {
    let s = Store::new();
    seed(&s);
    assert!(s.fails(&["get", "a", "99"], 1).contains("99"));
    s.json(&["delete", "b", "4"]);
    s.fails(&["get", "b", "4"], 1);
    // the row did exist earlier
    assert_eq!(s.json(&["get", "b", "4", "--as-of", "9"])["id"], 4);
    s.fails(&["get", "b", "4", "--as-of", "8"], 1);
    // human output too
    let out = s.run(&["get", "a", "99"]);
    assert_failure(&out, 1, "human get");
}

#[test]
fn usage_errors_are_not_panics() {
    for args in [
        vec![],
        vec!["frobnicate"],
        vec!["get", "a"],
        vec!["scan", "a", "--limit", "many"],
        vec!["log", "--since", "-3"],
        vec!["undo", "x"],
        vec!["schema"],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s");
        let mut all = vec!["--db", db.to_str().unwrap()];
        all.extend_from_slice(&args);
        let out = lazarus(&all);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert_eq!(out.stdout, "", "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
        assert!(!db.exists(), "{args:?}: a usage error opened the store");
    }
    assert_eq!(lazarus(&["--help"]).code, 0);
    assert_eq!(lazarus(&["--version"]).code, 0);
}

#[test]
fn a_restore_conflict_is_refused_then_skipped() {
    let s = Store::new();
    s.schema("more.json", MORE_SCHEMA);
    s.json(&["insert", "u", r#"{"email": "x@y"}"#]);
    s.json(&["insert", "u", r#"{"email": "z@y"}"#]);
    let d = s.json(&["delete", "u", "1"]);
    let del = d["deletion"].as_str().unwrap().to_string();
    // the email is taken again while u1 is in the trash
    assert_eq!(
        s.json(&["insert", "u", r#"{"email": "x@y"}"#]),
        json!({"id": 3, "email": "x@y"})
    );

    let plan = s.verdict(&["restore", &del, "--dry-run"], 1);
    assert_eq!(plan["deletion"], json!(del));
    assert_eq!(refs(&plan["rows"]), [r("u", 1)]);
    let c = plan["conflicts"].as_array().unwrap();
    assert_eq!(c.len(), 1, "{plan}");
    assert_eq!((&c[0]["table"], &c[0]["pk"]), (&json!("u"), &json!(1)));
    assert_eq!(c[0]["kind"], "unique_taken");
    assert!(c[0]["detail"].as_str().unwrap().contains("x@y"), "{plan}");

    let err = s.fails(&["restore", &del], 2);
    assert!(err.contains("conflict"), "{err}");
    let human = s.run(&["restore", &del]);
    assert_failure(&human, 2, "human restore");
    assert_eq!(ids(&s.json(&["scan", "u"])), [2, 3]);

    // skipping: exit 0, the row reported as skipped, nothing restored, still in the trash
    let out = s.json(&["restore", &del, "--skip-conflicts"]);
    assert_eq!(out["deletion"], json!(del));
    assert_eq!(out["restored"], json!([]));
    let skipped = out["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{out}");
    assert_eq!(
        (&skipped[0]["table"], &skipped[0]["pk"]),
        (&json!("u"), &json!(1))
    );
    assert!(
        skipped[0]["reason"].as_str().unwrap().contains("unique"),
        "{out}"
    );
    assert_eq!(ids(&s.json(&["scan", "u"])), [2, 3]);
    assert_eq!(s.json(&["trash"])[0]["deletion"], json!(del));

    // once the email is free again, the restore goes through
    s.json(&["delete", "u", "3"]);
    let back = s.json(&["restore", &del]);
    assert_eq!(refs(&back["restored"]), [r("u", 1)]);
    assert_eq!(ids(&s.json(&["scan", "u"])), [1, 2]);
}

#[test]
fn skip_conflicts_restores_what_it_can() {
    let s = Store::new();
    seed(&s);
    // b3 alone, then a3: restoring b3's deletion first has its parent missing
    let b3 = s.json(&["delete", "b", "3"])["deletion"].clone();
    let a1 = s.json(&["delete", "a", "1"])["deletion"].clone();
    s.json(&["delete", "a", "3"]);
    let b3 = b3.as_str().unwrap();
    let out = s.json(&["restore", b3, "--skip-conflicts"]);
    assert_eq!(out["restored"], json!([]));
    assert_eq!(out["skipped"][0]["table"], "b");
    assert_eq!(out["skipped"][0]["pk"], 3);
    assert!(out["skipped"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("parent_not_live"));
    // a1's deletion has no conflict: --skip-conflicts restores all of it
    let out = s.json(&["restore", a1.as_str().unwrap(), "--skip-conflicts"]);
    assert_eq!(refs(&out["restored"]), [r("a", 1), r("b", 1), r("b", 2)]);
    assert_eq!(out["skipped"], json!([]));
    assert_eq!(ids(&s.json(&["scan", "b"])), [1, 2, 4]);
}

// ---------------------------------------------------------------------------------------------
// Paths that are not this tool's stores.

/// Every way of opening `path` fails with exit 2 and one line, and leaves `dir` untouched.
fn refused_untouched(dir: &Path, path: &Path, schema: &str) {
    let before = snapshot(dir);
    let p = path.to_str().unwrap();
    for args in [
        vec!["stats"],
        vec!["--json", "stats"],
        vec!["scan", "a"],
        vec!["insert", "a", r#"{"data1": "x", "data2": "y"}"#],
        vec!["schema", "apply", schema],
        vec!["--engine", "sled", "stats"],
        vec!["import", schema],
    ] {
        let mut all = vec!["--db", p];
        all.extend_from_slice(&args);
        let out = lazarus(&all);
        assert_failure(&out, 2, &format!("{p} {args:?}"));
    }
    assert_eq!(snapshot(dir), before, "{p} was touched");
}

#[test]
fn a_plain_file_is_refused_at_open() {
    let s = Store::new();
    let schema = s.file("seed.json", SEED_SCHEMA);
    let plain = s.dir.path().join("plain");
    std::fs::write(&plain, "just some notes\n").unwrap();
    refused_untouched(s.dir.path(), &plain, &schema);
}

#[test]
fn a_folder_of_unrelated_files_is_refused_at_open() {
    let s = Store::new();
    let schema = s.file("seed.json", SEED_SCHEMA);
    let other = s.dir.path().join("other");
    std::fs::create_dir_all(other.join("sub")).unwrap();
    std::fs::write(other.join("readme.txt"), "not a store").unwrap();
    std::fs::write(other.join("sub").join("data"), [0u8, 1, 2, 255]).unwrap();
    refused_untouched(s.dir.path(), &other, &schema);
}

#[test]
fn a_newer_format_or_a_garbage_marker_is_refused_at_open() {
    let s = Store::new();
    let schema = s.file("seed.json", SEED_SCHEMA);
    let newer = s.dir.path().join("newer");
    std::fs::create_dir(&newer).unwrap();
    std::fs::write(
        newer.join("LAZARUS"),
        "lazarusdb store\nformat 99\nengine fjall\n",
    )
    .unwrap();
    let out = lazarus(&["--db", newer.to_str().unwrap(), "stats"]);
    assert!(out.stderr.contains("99"), "{out:?}");
    refused_untouched(s.dir.path(), &newer, &schema);

    let junk = s.dir.path().join("junk");
    std::fs::create_dir(&junk).unwrap();
    std::fs::write(junk.join("LAZARUS"), "something else entirely\n").unwrap();
    refused_untouched(s.dir.path(), &junk, &schema);

    let binary = s.dir.path().join("binary");
    std::fs::create_dir(&binary).unwrap();
    std::fs::write(binary.join("LAZARUS"), [0xffu8, 0xfe, 0, 1, 2]).unwrap();
    refused_untouched(s.dir.path(), &binary, &schema);
}

#[test]
fn only_schema_apply_creates_a_store_and_the_next_commands_reopen_it() {
    let s = Store::new();
    // a read on a missing path is an error and creates nothing
    let out = s.run(&["--json", "stats"]);
    assert_failure(&out, 2, "stats on a missing path");
    assert!(out.stderr.contains("no store"), "{out:?}");
    assert!(!s.path.exists());
    let out = s.run(&["insert", "a", "{}"]);
    assert_failure(&out, 2, "insert on a missing path");
    assert!(!s.path.exists());
    // schema apply creates it, in a missing path or an empty folder
    let empty_schema = s.file("empty.json", r#"{"tables": []}"#);
    let empty = s.dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = lazarus(&[
        "--db",
        empty.to_str().unwrap(),
        "schema",
        "apply",
        &empty_schema,
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(empty.join("LAZARUS").is_file());
    seed(&s);
    assert!(s.path.join("LAZARUS").is_file());
    assert_eq!(s.last_lsn(), 9);
}

#[test]
fn a_sled_store_stays_sled() {
    let s = Store::new();
    let schema = s.file("seed.json", SEED_SCHEMA);
    let out = s.run(&["--engine", "sled", "--json", "schema", "apply", &schema]);
    assert_eq!(out.code, 0, "{out:?}");
    let marker = std::fs::read_to_string(s.path.join("LAZARUS")).unwrap();
    assert!(marker.lines().any(|l| l == "engine sled"), "{marker}");
    assert_eq!(s.json(&["--engine", "sled", "stats"])["engine"], "sled");
    // later commands find the engine without being told
    let row = s.json(&["insert", "a", r#"{"data1": "x", "data2": "y"}"#]);
    assert_eq!(row["id"], 1);
    let stats = s.json(&["stats"]);
    assert_eq!(stats["engine"], "sled");
    assert_eq!(stats["last_lsn"], 2);

    let out = s.run(&["--engine", "fjall", "--json", "stats"]);
    assert_failure(&out, 2, "fjall on a sled store");
    assert!(out.stderr.contains("sled"), "{out:?}");
    let out = s.run(&[
        "--engine",
        "fjall",
        "insert",
        "a",
        r#"{"data1": "z", "data2": "z"}"#,
    ]);
    assert_failure(&out, 2, "fjall insert on a sled store");
    assert_eq!(s.last_lsn(), 2, "nothing written");
    assert_eq!(
        marker,
        std::fs::read_to_string(s.path.join("LAZARUS")).unwrap()
    );

    // and a fjall store refuses sled
    let f = Store::new();
    seed(&f);
    let out = f.run(&["--engine", "sled", "stats"]);
    assert_failure(&out, 2, "sled on a fjall store");
}

#[test]
fn a_store_held_by_another_process_is_an_error_not_a_panic() {
    let s = Store::new();
    seed(&s);
    let held = lazarusdb::Db::open(&s.path).unwrap();
    let out = s.run(&["--json", "stats"]);
    assert_failure(&out, 2, "locked store");
    drop(held);
    assert_eq!(s.last_lsn(), 9);
}

// ---------------------------------------------------------------------------------------------
// Export and import.

#[test]
fn export_then_import_gives_the_same_store() {
    let s = Store::new();
    seed(&s);
    s.json(&["update", "a", "2", r#"{"data2": "edited"}"#]);
    s.json(&["delete", "a", "1", "--actor", "alice", "--reason", "why"]);
    let file = s.dir.path().join("log.jsonl");
    let file = file.to_str().unwrap();
    let out = s.json(&["export", file]);
    assert_eq!(out, json!({"events": 13, "file": file}));
    let text = std::fs::read_to_string(file).unwrap();
    assert_eq!(text.lines().count(), 13);
    for line in text.lines() {
        let ev: Value = serde_json::from_str(line).unwrap();
        assert!(ev["lsn"].is_u64(), "{line}");
    }
    // `-` is standard output
    let out = s.run(&["export", "-"]);
    assert_eq!(out.code, 0);
    assert_eq!(out.stdout, text);

    let t = Store::new();
    assert_eq!(t.json(&["import", file]), json!({"events": 13}));
    for args in [
        vec!["scan", "a"],
        vec!["scan", "b"],
        vec!["log"],
        vec!["trash"],
        vec!["schema", "show"],
        vec!["get", "a", "2", "--as-of", "10"],
    ] {
        assert_eq!(t.json(&args), s.json(&args), "{args:?}");
        let (a, b) = (t.run(&args), s.run(&args));
        assert_eq!(a.stdout, b.stdout, "{args:?}");
    }
    assert_eq!(t.json(&["verify"])["ok"], true);
    let (ts, ss) = (t.json(&["stats"]), s.json(&["stats"]));
    assert_eq!(ts["last_lsn"], ss["last_lsn"]);
    assert_eq!(ts["tables"], ss["tables"]);
    assert_eq!(ts["deletions"], ss["deletions"]);
    // the imported trash works: the deletion restores
    let del = t.json(&["trash"])[0]["deletion"].clone();
    let back = t.json(&["restore", del.as_str().unwrap()]);
    assert_eq!(refs(&back["restored"]), [r("a", 1), r("b", 1), r("b", 2)]);

    // importing into a store that holds events is refused and writes nothing
    t.fails(&["import", file], 2);
}

/// A log file of three good events (the schema, two rows) followed by a line of garbage.
fn truncated_log(s: &Store) -> String {
    s.schema("seed.json", SEED_SCHEMA);
    s.json(&["insert", "a", r#"{"data1": "x", "data2": "y"}"#]);
    s.json(&["insert", "a", r#"{"data1": "z", "data2": "w"}"#]);
    let good = s.dir.path().join("log.jsonl");
    s.json(&["export", good.to_str().unwrap()]);
    let text = std::fs::read_to_string(&good).unwrap();
    assert_eq!(text.lines().count(), 3);
    s.file("truncated.jsonl", &format!("{text}garbage\n"))
}

#[test]
fn a_failed_import_leaves_no_store() {
    let s = Store::new();
    let truncated = truncated_log(&s);
    let garbage = s.file("garbage.jsonl", "this is not a log\n");
    let missing = s.dir.path().join("missing.jsonl");
    for file in [
        garbage.as_str(),
        truncated.as_str(),
        missing.to_str().unwrap(),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("new");
        let out = lazarus(&["--db", target.to_str().unwrap(), "--json", "import", file]);
        assert_failure(&out, 2, file);
        assert!(!target.exists(), "{file}: a store was left at the target");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "{file}: something was left beside the target"
        );
    }
}

#[test]

fn a_failed_import_into_an_empty_folder_leaves_it_empty() {
    let s = Store::new();
    let truncated = truncated_log(&s);
    let target = s.dir.path().join("empty");
    std::fs::create_dir(&target).unwrap();
    let out = lazarus(&["--db", target.to_str().unwrap(), "import", &truncated]);
    assert_failure(&out, 2, "truncated import");
    // nothing written: the folder stays empty (today it holds a store with the events before the garbage)
    let left = std::fs::read_dir(&target).unwrap().count();
    if left != 0 {
        let stats = lazarus(&["--db", target.to_str().unwrap(), "--json", "stats"]);
        panic!(
            "the failed import left a store behind: {}",
            stats.stdout.replace('\n', " ")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The demo.

#[test]
fn the_demo_runs_on_a_fresh_temporary_store() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = exec(
        Command::new(BIN)
            .arg("demo")
            .current_dir(dir.path())
            .env("TMPDIR", &tmp),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("lazarusdb demo"), "{}", out.stdout);
    assert!(out.stdout.contains("0 differences"), "{}", out.stdout);
    assert!(
        out.stdout.contains(tmp.to_str().unwrap()),
        "a store under TMPDIR"
    );
    // no store in the working folder, and the temporary store is gone
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "only tmp/ is left"
    );
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
}

#[test]

fn the_demo_with_json_prints_one_document() {
    let dir = tempfile::tempdir().unwrap();
    let out = exec(
        Command::new(BIN)
            .args(["--json", "demo"])
            .current_dir(dir.path())
            .env("TMPDIR", dir.path()),
    );
    assert_eq!(out.code, 0, "{out:?}");
    let parsed: Result<Value, _> = serde_json::from_str(&out.stdout);
    assert!(parsed.is_ok(), "not one JSON document: {}", out.stdout);
}

// ---------------------------------------------------------------------------------------------
// Output to a closed pipe (`lazarus log | head -1`).

#[test]

fn a_closed_standard_output_is_not_a_panic() {
    let s = Store::new();
    seed(&s);
    for args in [vec!["--json", "stats"], vec!["log"], vec!["scan", "a"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = exec(
            Command::new(BIN)
                .arg("--db")
                .arg(&s.path)
                .args(&args)
                .stdout(writer),
        );
        assert_eq!(out.stdout, "");
        assert!(!out.stderr.contains("panicked"), "{args:?}: {}", out.stderr);
        // a reader that went away is not the command's failure (see tests/cli_output.rs)
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
        assert_eq!(out.stderr, "", "{args:?}");
    }
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    snapshot(dir)
        .into_iter()
        .filter_map(|(p, bytes)| {
            let b = bytes?;
            b.windows(needle.len()).any(|w| w == needle).then_some(p)
        })
        .collect()
}

#[test]
fn purge_erase_and_compact_through_the_cli() {
    let s = Store::new();
    seed(&s);
    s.json(&[
        "update",
        "a",
        "2",
        r#"{"data1": "SECRET-IN-AN-OLD-VERSION"}"#,
    ]);
    s.json(&["update", "a", "2", r#"{"data1": "clean"}"#]);
    let del = s.json(&["delete", "a", "1", "--actor", "ann"]);
    let id = del["deletion"].as_str().unwrap().to_string();
    // Bad inputs: one line, exit 2, nothing written.
    let e = s.fails(&["purge"], 2);
    assert!(e.contains("--older-than"), "{e}");
    let e = s.fails(&["purge", "not-a-uuid"], 2);
    assert!(e.contains("not a deletion id"), "{e}");
    let e = s.fails(&["purge", "--older-than", "3 parsecs"], 2);
    assert!(e.contains("not a duration"), "{e}");
    let e = s.fails(&["purge", &uuid::Uuid::now_v7().to_string()], 2);
    assert!(e.contains("no deletion"), "{e}");
    let e = s.fails(&["erase", "a", "99"], 2);
    assert!(e.contains("99"), "{e}");
    let e = s.fails(&["erase", "nope", "1"], 2);
    assert!(e.contains("nope"), "{e}");
    // Nothing is old enough yet.
    let out = s.json(&["purge", "--older-than", "1d"]);
    assert_eq!(out["purged"], json!([]));
    // Purge the deletion: its rows are reported, the trash is empty, restore says purged.
    let out = s.json(&[
        "purge",
        &id,
        "--actor",
        "dpo",
        "--reason",
        "request 7",
        "--yes",
    ]);
    let purged = &out["purged"][0];
    assert_eq!(purged["deletion"], json!(id));
    assert_eq!(refs(&purged["rows"]).len(), 3, "{out}");
    assert_eq!(s.json(&["trash"]), json!([]));
    let e = s.fails(&["restore", &id], 2);
    assert!(e.contains("purged"), "{e}");
    // Erase a live row with a secret in an old version.
    let out = s.json(&["erase", "a", "2", "--actor", "dpo", "--yes"]);
    assert_eq!(refs(&out["rows"]), vec![r("a", 2)]);
    let e = s.fails(&["get", "a", "2", "--as-of", "5"], 2);
    assert!(e.contains("purged"), "{e}");
    let log = s.json(&["log"]);
    let kinds: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"purge") && kinds.contains(&"purged"),
        "{kinds:?}"
    );
    // Stats report the byte classes; compact removes the secret from every file.
    let stats = s.json(&["stats"]);
    for k in [
        "live_bytes",
        "history_bytes",
        "trash_bytes",
        "reclaimable_bytes",
        "disk_bytes",
    ] {
        assert!(stats[k].is_u64(), "{k}: {stats}");
    }
    let out = s.json(&["compact"]);
    assert!(out["keys"].as_u64().unwrap() > 10, "{out}");
    assert!(files_containing(&s.path, b"SECRET-IN-AN-OLD-VERSION").is_empty());
    assert!(
        !files_containing(&s.path, b"a4d1").is_empty(),
        "live data is kept"
    );
    assert_eq!(ids(&s.json(&["scan", "a"])), vec![3, 4]);
    assert_eq!(s.json(&["verify"])["ok"], json!(true));
    assert!(s.human(&["compact"]).contains("compacted"));
    let cp = s.json(&["checkpoint"]);
    assert_eq!(cp["lsn"].as_u64(), Some(s.last_lsn()));
    assert!(s.path.join("checkpoint").exists());
}

#[test]
fn retention_is_set_in_the_schema_file() {
    let s = Store::new();
    let schema = s.schema(
        "r.json",
        r#"{"retention": {"deletions": "30d"},
            "tables": [{"name": "k", "primary_key": "id",
                        "columns": [{"name": "id", "type": "int"}],
                        "retention": {"deletions": "2w", "history": "90d"}},
                       {"name": "m", "primary_key": "id",
                        "columns": [{"name": "id", "type": "int"}]}]}"#,
    );
    assert_eq!(
        schema["retention"],
        json!({"deletions": "30d", "history": null})
    );
    assert_eq!(
        schema["tables"][0]["retention"],
        json!({"deletions": "2w", "history": "90d"})
    );
    assert!(schema["tables"][1].get("retention").is_none());
    let stats = s.json(&["stats"]);
    assert_eq!(stats["retention"]["tables"]["k"]["history"], json!("90d"));
    assert_eq!(stats["retention"]["tables"]["m"]["deletions"], json!("30d"));
    // Applying the same file again changes nothing.
    let lsn = s.last_lsn();
    let again = s.file("r2.json", &serde_json::to_string(&schema).unwrap());
    s.json(&["schema", "apply", &again]);
    assert_eq!(s.last_lsn(), lsn);
    let out = s.json(&["purge", "--retention"]);
    assert_eq!(out, json!({"purged": [], "pruned": []}));
    // A bad duration is a schema error naming the table; nothing is written.
    let bad = s.file(
        "bad.json",
        r#"{"tables": [{"name": "k", "primary_key": "id",
            "columns": [{"name": "id", "type": "int"}], "retention": {"history": "soon"}}]}"#,
    );
    let e = s.fails(&["schema", "apply", &bad], 2);
    assert!(e.contains("table `k`") && e.contains("soon"), "{e}");
}

#[test]
fn a_schema_file_that_does_not_apply_creates_no_store() {
    // A file that does not parse, and one that parses but does not apply (a foreign key to a
    // table that does not exist): no store is left behind, in an absent or an empty folder.
    for bad in [
        r#"{"tables": [{"name": "k", "primary_key": "id",
            "columns": [{"name": "id", "type": "int"}], "retention": {"history": "0d"}}]}"#,
        r#"{"tables": [{"name": "k", "primary_key": "id",
            "columns": [{"name": "id", "type": "int"}, {"name": "p", "type": "int"}],
            "foreign_keys": [{"column": "p", "references": "nope"}]}]}"#,
    ] {
        let s = Store::new();
        let f = s.file("bad.json", bad);
        assert_failure(&s.run(&["schema", "apply", &f]), 2, "bad schema");
        assert!(!s.path.exists(), "a store was left at {}", s.path.display());
        std::fs::create_dir(&s.path).unwrap();
        assert_failure(
            &s.run(&["schema", "apply", &f]),
            2,
            "bad schema, empty folder",
        );
        assert!(s.path.exists());
        assert_eq!(std::fs::read_dir(&s.path).unwrap().count(), 0);
    }
}

/// The actor of the transaction that wrote `lsn`, from `--json log`.
fn actor_at(s: &Store, lsn: u64) -> Value {
    let log = s.json(&["log"]);
    log.as_array()
        .unwrap()
        .iter()
        .find(|e| e["lsn"] == json!(lsn))
        .unwrap_or_else(|| panic!("no event at lsn {lsn}: {log}"))["actor"]
        .clone()
}

#[test]
fn purge_and_erase_show_what_goes_and_ask_first() {
    let s = Store::new();
    seed(&s);
    let del = s.json(&["delete", "a", "1", "--actor", "ann"]);
    let id = del["deletion"].as_str().unwrap().to_string();
    // No terminal to ask on and no --yes: refused, nothing written.
    let e = s.fails(&["purge", &id, "--actor", "dpo"], 2);
    assert!(e.contains("--dry-run") && e.contains("--yes"), "{e}");
    // No actor: refused, nothing written.
    let e = s.fails(&["purge", &id, "--yes"], 2);
    assert!(e.contains("actor") && e.contains("LAZARUS_ACTOR"), "{e}");
    // A dry run shows the deletion's rows and versions, and writes nothing.
    let before = s.last_lsn();
    let out = s.json(&["purge", &id, "--dry-run"]);
    assert_eq!(out["dry_run"], json!(true));
    assert_eq!(out["purged"][0]["deletion"], json!(id));
    assert_eq!(
        refs(&out["purged"][0]["rows"]),
        vec![r("a", 1), r("b", 1), r("b", 2)]
    );
    let text = s.human(&["purge", &id, "--dry-run"]);
    assert!(
        text.contains("would purge 1 deletion(s): 3 row(s)"),
        "{text}"
    );
    assert!(text.contains("a 1, b 2"), "{text}");
    assert!(text.contains("nothing was purged"), "{text}");
    assert_eq!(s.last_lsn(), before);
    assert_eq!(s.json(&["trash"]).as_array().unwrap().len(), 1);
    // --dry-run and --yes do not go together.
    let out = s.run(&["purge", &id, "--dry-run", "--yes"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("--yes"), "{out:?}");
    // LAZARUS_ACTOR gives the actor, recorded with the purge.
    let out = exec(
        Command::new(BIN)
            .arg("--db")
            .arg(&s.path)
            .args(["--json", "purge", &id, "--yes"])
            .env("LAZARUS_ACTOR", "dpo"),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(s.json(&["trash"]), json!([]));
    assert_eq!(actor_at(&s, s.last_lsn()), json!("dpo"));

    // An erase of a row whose children go with it needs --cascade.
    let before = s.last_lsn();
    let e = s.fails(&["erase", "a", "3", "--actor", "dpo", "--yes"], 2);
    assert!(e.contains("b/3") && e.contains("--cascade"), "{e}");
    let out = s.json(&["erase", "a", "3", "--dry-run"]);
    assert_eq!(out["dry_run"], json!(true));
    assert_eq!(refs(&out["rows"]), vec![r("a", 3), r("b", 3)]);
    let text = s.human(&["erase", "a", "3", "--dry-run"]);
    assert!(text.contains("would erase 2 row(s) (a 1, b 1)"), "{text}");
    assert_eq!(s.last_lsn(), before);
    assert_eq!(ids(&s.json(&["scan", "b"])), vec![3, 4]);
    // Without a terminal an erase needs --yes too; with both it goes.
    let e = s.fails(&["erase", "a", "3", "--cascade", "--actor", "dpo"], 2);
    assert!(e.contains("--yes"), "{e}");
    let out = s.json(&["erase", "a", "3", "--cascade", "--actor", "dpo", "--yes"]);
    assert_eq!(refs(&out["rows"]), vec![r("a", 3), r("b", 3)]);
    assert_eq!(ids(&s.json(&["scan", "b"])), vec![4]);
    // A row that goes alone needs no --cascade.
    let out = s.json(&["erase", "a", "2", "--actor", "dpo", "--yes"]);
    assert_eq!(refs(&out["rows"]), vec![r("a", 2)]);
    // Nothing due: nothing asked, nothing written.
    let before = s.last_lsn();
    assert_eq!(
        s.json(&["purge", "--older-than", "1d"]),
        json!({"purged": [], "pruned": []})
    );
    assert_eq!(s.last_lsn(), before);
}

#[test]
fn every_writing_command_records_its_actor() {
    let s = Store::new();
    let schema = s.file("seed.json", SEED_SCHEMA);
    s.json(&["schema", "apply", &schema, "--actor", "ops"]);
    assert_eq!(actor_at(&s, s.last_lsn()), json!("ops"));
    s.json(&[
        "insert",
        "a",
        r#"{"data1": "x", "data2": "x"}"#,
        "--actor",
        "ins",
    ]);
    assert_eq!(actor_at(&s, s.last_lsn()), json!("ins"));
    let at = s.last_lsn();
    s.json(&[
        "update",
        "a",
        "1",
        r#"{"data1": "y"}"#,
        "--actor",
        "upd",
        "--reason",
        "typo",
    ]);
    assert_eq!(actor_at(&s, s.last_lsn()), json!("upd"));
    let tx = s.json(&["log"]).as_array().unwrap().last().unwrap()["tx"]
        .as_u64()
        .unwrap();
    s.json(&["undo", &tx.to_string(), "--actor", "und"]);
    assert_eq!(actor_at(&s, s.last_lsn()), json!("und"));
    s.json(&["update", "a", "1", r#"{"data1": "z"}"#]);
    s.json(&["restore-to", &at.to_string(), "--actor", "rto"]);
    assert_eq!(actor_at(&s, s.last_lsn()), json!("rto"));
    let del = s.json(&["delete", "a", "1", "--actor", "del"]);
    assert_eq!(actor_at(&s, s.last_lsn()), json!("del"));
    let id = del["deletion"].as_str().unwrap().to_string();
    s.json(&["restore", &id, "--actor", "res"]);
    assert_eq!(actor_at(&s, s.last_lsn()), json!("res"));
    // the environment's actor when no flag is given
    let out = exec(
        Command::new(BIN)
            .arg("--db")
            .arg(&s.path)
            .args(["--json", "insert", "a", r#"{"data1": "w", "data2": "w"}"#])
            .env("LAZARUS_ACTOR", "envy"),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(actor_at(&s, s.last_lsn()), json!("envy"));
    // import: who imports fills in the transactions whose lines record no actor; the others
    // keep theirs
    let file = s.dir.path().join("log.jsonl");
    s.json(&["export", file.to_str().unwrap()]);
    let copy = Store::new();
    copy.json(&["import", file.to_str().unwrap(), "--actor", "importer"]);
    let log = copy.json(&["log"]);
    let actors: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap_or("-"))
        .collect();
    assert!(
        actors.contains(&"ins") && actors.contains(&"importer"),
        "{actors:?}"
    );
    assert!(!actors.contains(&"-"), "{actors:?}");
    // the flag wins over the environment
    let out = exec(
        Command::new(BIN)
            .arg("--db")
            .arg(&s.path)
            .args([
                "--json",
                "insert",
                "a",
                r#"{"data1": "v", "data2": "v"}"#,
                "--actor",
                "flag",
            ])
            .env("LAZARUS_ACTOR", "envy"),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(actor_at(&s, s.last_lsn()), json!("flag"));
}

#[test]
fn points_in_time_a_person_can_type() {
    let s = Store::new();
    seed(&s);
    s.json(&["update", "a", "2", r#"{"data2": "edited"}"#]);
    let old = json!({"id": 2, "data1": "a2d1", "data2": "a2d2"});
    let new = json!({"id": 2, "data1": "a2d1", "data2": "edited"});
    let log = s.json(&["log"]);
    let last = log.as_array().unwrap().last().unwrap().clone();
    let (last_lsn, last_tx) = (last["lsn"].as_u64().unwrap(), last["tx"].as_u64().unwrap());
    // tx:N is the state right after that transaction; lsn:N is a bare N
    let before = (last_tx - 1).to_string();
    assert_eq!(
        s.json(&["get", "a", "2", "--as-of", &format!("tx:{before}")]),
        old
    );
    assert_eq!(
        s.json(&["get", "a", "2", "--as-of", &format!("lsn:{}", last_lsn - 1)]),
        old
    );
    assert_eq!(s.json(&["get", "a", "2", "--as-of", "now"]), new);
    // a local date far ahead is now; a time ago before the store existed knows no table
    assert_eq!(s.json(&["get", "a", "2", "--as-of", "2999-01-01"]), new);
    assert_eq!(
        s.json(&["get", "a", "2", "--as-of", "2999-01-01 12:00"]),
        new
    );
    let e = s.fails(&["get", "a", "2", "--as-of", "1w ago"], 2);
    assert!(e.contains("`a`"), "{e}");
    // deletion:ID: just before the deletion
    let del = s.json(&["delete", "a", "1"]);
    let id = del["deletion"].as_str().unwrap().to_string();
    let before_del = format!("deletion:{id}");
    assert_eq!(
        s.json(&["get", "a", "1", "--as-of", &before_del]),
        json!({"id": 1, "data1": "a1d1", "data2": "a1d2"})
    );
    assert_eq!(
        ids(&s.json(&["scan", "b", "--as-of", &before_del])),
        [1, 2, 3, 4]
    );
    // diff with one point compares it with now
    let d = s.json(&["diff", &before_del]);
    assert_eq!(d, s.json(&["diff", &before_del, "now"]));
    assert_eq!(d.as_array().unwrap().len(), 3, "a1 and its two books: {d}");
    // log and history between two points
    let one = s.json(&[
        "log",
        "--since",
        &format!("tx:{before}"),
        "--until",
        &format!("tx:{last_tx}"),
    ]);
    let one = one.as_array().unwrap();
    assert_eq!(one.len(), 1, "{one:?}");
    assert_eq!(one[0]["lsn"], json!(last_lsn));
    let since_lsn = s.json(&["log", "--since", &last_lsn.to_string(), "--until", "now"]);
    assert_eq!(
        since_lsn[0]["lsn"],
        json!(last_lsn),
        "an LSN lists from that event on"
    );
    assert_eq!(
        s.json(&["log", "--until", "tx:1"])
            .as_array()
            .unwrap()
            .len(),
        1,
        "the schema"
    );
    let h = s.json(&["history", "a", "2", "--since", &format!("tx:{before}")]);
    assert_eq!(h.as_array().unwrap().len(), 1);
    assert_eq!(h[0]["kind"], json!("update"));
    let h = s.json(&["history", "a", "2", "--until", &format!("tx:{before}")]);
    assert_eq!(h.as_array().unwrap().len(), 1);
    assert_eq!(h[0]["kind"], json!("insert"));
    // a point that does not parse says how to write one
    let e = s.fails(&["get", "a", "2", "--as-of", "deletion:nope"], 2);
    assert!(e.contains("not a deletion id"), "{e}");
    for bad in ["yesterday", "tx:", "5y"] {
        let e = s.fails(&["get", "a", "2", "--as-of", bad], 2);
        assert!(
            e.contains("not a point") && e.contains("tx:N"),
            "{bad}: {e}"
        );
        let e = s.fails(&["log", "--since", bad], 2);
        assert!(e.contains("not a point"), "{bad}: {e}");
    }
}

#[test]
fn undo_names_its_transaction_by_number_lsn_or_deletion() {
    let s = Store::new();
    seed(&s);
    let del = s.json(&["delete", "a", "4"]);
    let id = del["deletion"].as_str().unwrap().to_string();
    s.fails(&["get", "a", "4"], 1);
    let del_tx = s.json(&["log"]).as_array().unwrap().last().unwrap()["tx"].clone();
    let out = s.json(&["undo", &format!("deletion:{id}")]);
    assert_eq!(out["tx"], del_tx, "{out}");
    assert_eq!(s.json(&["get", "a", "4"])["id"], json!(4));
    s.json(&["update", "a", "3", r#"{"data1": "changed"}"#]);
    let lsn = s.last_lsn();
    s.json(&["undo", &format!("lsn:{lsn}")]);
    assert_eq!(s.json(&["get", "a", "3"])["data1"], json!("a3d1"));
    for (bad, says) in [
        ("now", "not a transaction"),
        ("2h", "not a transaction"),
        ("lsn:99999", "no event"),
        ("soon", "not a point"),
    ] {
        let e = s.fails(&["undo", bad], 2);
        assert!(e.contains(says), "{bad}: {e}");
    }
}

#[test]
fn the_trash_reads_with_short_ids_its_rows_and_the_row_it_holds() {
    let s = Store::new();
    seed(&s);
    let del = s.json(&["delete", "a", "1", "--actor", "ann", "--reason", "spam"]);
    let id = del["deletion"].as_str().unwrap().to_string();
    let short: String = id.replace('-', "")[24..].to_string();
    assert_eq!(short.len(), 8);
    // the listing prints the short form, every command takes it
    let listing = s.human(&["trash"]);
    assert!(
        listing.contains(&short) && !listing.contains(&id),
        "{listing}"
    );
    // trash show: the rows with their last images, per table
    let shown = s.json(&["trash", "show", &short]);
    assert_eq!(shown["deletion"], json!(id));
    assert_eq!(shown["actor"], json!("ann"));
    assert_eq!(
        shown["tombstoned"]["a"],
        json!([{"id": 1, "data1": "a1d1", "data2": "a1d2"}])
    );
    assert_eq!(ids(&shown["tombstoned"]["b"]), [1, 2]);
    assert_eq!(shown["unlinked"], json!({}));
    let text = s.human(&["trash", "show", &short]);
    assert!(
        text.contains("a1d1") && text.contains("b: 2 row(s) in the trash"),
        "{text}"
    );
    assert!(text.contains(&format!("lazarus restore {short}")), "{text}");
    // get of a trashed row: exit 1, which deletion holds it and how to restore it
    let out = s.run(&["get", "b", "2"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains(&id) && out.stderr.contains(&format!("lazarus restore {short}")),
        "{out:?}"
    );
    // a short id that names nothing, or too short a one
    let e = s.fails(&["trash", "show", "ffffffff"], 2);
    assert!(e.contains("no deletion id ends with"), "{e}");
    let e = s.fails(&["restore", "abc"], 2);
    assert!(e.contains("last 6 hex digits"), "{e}");
    // restore TABLE PK: the deletion holding the row
    let plan = s.json(&["restore", "b", "2", "--dry-run"]);
    assert_eq!(plan["deletion"], json!(id));
    assert_eq!(plan["conflicts"], json!([]));
    let done = s.json(&["restore", "b", "2"]);
    assert_eq!(done["deletion"], json!(id));
    assert_eq!(s.json(&["get", "b", "2"])["id"], json!(2));
    let e = s.fails(&["restore", "b", "2"], 2);
    assert!(e.contains("in no deletion's trash"), "{e}");
    // the purge takes the short form too
    let again = s.json(&["delete", "a", "4"]);
    let again_id = again["deletion"].as_str().unwrap().to_string();
    let tail = &again_id.replace('-', "")[26..];
    let out = s.json(&["purge", tail, "--actor", "dpo", "--yes"]);
    assert_eq!(out["purged"][0]["deletion"], json!(again_id));
}

#[test]
fn tables_line_up_by_display_width_and_null_is_not_text() {
    use unicode_width::UnicodeWidthStr as _;
    let s = Store::new();
    s.schema(
        "t.json",
        r#"{"tables": [{"name": "t", "primary_key": "id",
            "columns": [{"name": "id", "type": "int"},
                        {"name": "name", "type": "text"},
                        {"name": "note", "type": "text", "nullable": true}]}]}"#,
    );
    s.json(&["insert", "t", r#"{"name": "東京タワー", "note": "null"}"#]);
    s.json(&["insert", "t", r#"{"name": "😀 smile", "note": null}"#]);
    s.json(&["insert", "t", r#"{"name": "plain", "note": "x"}"#]);
    let text = s.human(&["scan", "t"]);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with(['1', '2', '3']))
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    // the third column starts at the same display column on every line
    let starts: Vec<usize> = lines
        .iter()
        .map(|l| {
            let at = ["null", "NULL", "x"]
                .iter()
                .find_map(|n| l.rfind(n))
                .unwrap();
            l[..at].width()
        })
        .collect();
    assert!(
        starts.windows(2).all(|w| w[0] == w[1]),
        "{starts:?}\n{text}"
    );
    // the text "null" and a NULL read differently
    assert!(lines[0].trim_end().ends_with("null"), "{text}");
    assert!(lines[1].trim_end().ends_with("NULL"), "{text}");
}

#[test]
fn errors_under_json_are_json_and_typos_get_a_suggestion() {
    let s = Store::new();
    seed(&s);
    let json_error = |args: &[&str], code: i32| -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = s.run(&all);
        assert_eq!(out.code, code, "{args:?}: {out:?}");
        assert_eq!(out.stdout, "", "{args:?}");
        serde_json::from_str(out.stderr.trim_end())
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {:?}", out.stderr))
    };
    let e = json_error(&["get", "bb", "1"], 2);
    assert_eq!(e["error"], json!("unknown_table"));
    assert!(
        e["message"].as_str().unwrap().contains("did you mean `b`?"),
        "{e}"
    );
    let e = json_error(&["scan", "b", "--where", "a_idd=1"], 2);
    assert_eq!(e["error"], json!("unknown_column"));
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `a_id`?"),
        "{e}"
    );
    let e = json_error(&["get", "a", "99"], 1);
    assert_eq!(e["error"], json!("verdict"));
    let e = json_error(&["frobnicate"], 2);
    assert_eq!(e["error"], json!("usage"));
    assert!(e["message"].as_str().unwrap().contains("frobnicate"), "{e}");
    // far from every name: no suggestion; without --json: the plain line
    let out = s.run(&["get", "zzzzzz", "1"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.starts_with("lazarus: ") && !out.stderr.contains("did you mean"),
        "{out:?}"
    );
}

#[test]
fn completions_cover_the_commands_and_every_command_says_what_it_does() {
    for shell in ["bash", "zsh", "fish"] {
        let out = lazarus(&["completions", shell]);
        assert_eq!(out.code, 0, "{out:?}");
        for cmd in ["restore-to", "purge", "erase", "trash", "completions"] {
            assert!(out.stdout.contains(cmd), "{shell}: no {cmd}");
        }
    }
    let out = lazarus(&["completions", "tcsh"]);
    assert_eq!(out.code, 2, "{out:?}");
    // `--help` lists every command with its one line
    let help = lazarus(&["--help"]);
    assert_eq!(help.code, 0);
    let listed: Vec<&str> = help
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect();
    assert!(listed.len() > 20, "{}", help.stdout);
    for line in listed {
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap();
        assert!(
            words.next().is_some(),
            "`{cmd}` has no one-line description"
        );
    }
}

#[test]
fn the_log_names_every_table_a_schema_event_made_and_stats_count_like_du() {
    let s = Store::new();
    seed(&s);
    let log = s.json(&["log", "--limit", "1"]);
    assert_eq!(log[0]["kind"], json!("schema"));
    assert_eq!(log[0]["tables"], json!(["a", "b"]));
    let text = s.human(&["log", "--limit", "1"]);
    assert!(text.contains("a, b"), "{text}");
    let stats = s.human(&["stats"]);
    assert!(stats.contains("as du counts them"), "{stats}");
}

#[test]
fn rows_load_from_json_lines_and_csv_and_scan_out_for_other_tools() {
    let s = Store::new();
    s.schema("t.json", TYPED_SCHEMA);
    let csv = s.file(
        "rows.csv",
        "id,name,score,ok\n1,\"quoted, comma\",1.5,true\n2,\"two\nlines\",,false\n3,plain,-2,\n",
    );
    let out = s.json(&["load", "t", &csv, "--batch", "2"]);
    assert_eq!(out, json!({"table": "t", "rows": 3, "transactions": 2}));
    let jsonl = s.file(
        "more.jsonl",
        "{\"id\": 4, \"name\": \"four\"}\n\n{\"name\": \"five\"}\n",
    );
    assert_eq!(s.json(&["load", "t", &jsonl])["rows"], json!(2));
    assert_eq!(ids(&s.json(&["scan", "t"])), [1, 2, 3, 4, 5]);
    assert_eq!(
        s.json(&["get", "t", "2"]),
        json!({"id": 2, "name": "two\nlines", "score": null, "ok": false})
    );
    // out again: CSV reads back to the same rows, JSON lines are one object a line
    let csv_out = s.run(&["scan", "t", "--format", "csv"]).stdout;
    assert!(csv_out.starts_with("id,name,score,ok\n"), "{csv_out}");
    assert!(csv_out.contains("\"quoted, comma\""), "{csv_out}");
    let lines = s.run(&["--json", "scan", "t", "--format", "jsonl"]).stdout;
    let parsed: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(parsed.len(), 5);
    assert_eq!(parsed[0]["name"], json!("quoted, comma"));
    let copy = Store::new();
    copy.schema("t.json", TYPED_SCHEMA);
    let round = copy.file("round.csv", &csv_out);
    copy.json(&["load", "t", &round]);
    assert_eq!(copy.json(&["scan", "t"]), s.json(&["scan", "t"]));

    // a bad line: the rows before it stay, it and the rest do not; --atomic loads nothing
    let bad = s.file("bad.csv", "id,name\n10,a\n11,b\n1,dup\n12,c\n");
    let e = s.fails_at(&["load", "t", &bad], 2, s.last_lsn() + 2);
    assert!(
        e.contains("line 4") && e.contains("2 row(s) before it"),
        "{e}"
    );
    assert_eq!(ids(&s.json(&["scan", "t"])), [1, 2, 3, 4, 5, 10, 11]);
    let bad = s.file("bad2.csv", "id,name\n20,a\n2x,b\n");
    let e = s.fails(&["load", "t", &bad, "--atomic"], 2);
    assert!(
        e.contains("line 3") && e.contains("nothing was loaded"),
        "{e}"
    );
    let e = s.fails(&["load", "t", &s.file("h.csv", "id,nme\n1,a\n")], 2);
    assert!(e.contains("line 1") && e.contains("`nme`"), "{e}");
    let e = s.fails(
        &["load", "t", &s.file("j.jsonl", "{\"id\": 30}\nnot json\n")],
        2,
    );
    assert!(
        e.contains("line 1") && e.contains("name"),
        "the first bad line: {e}"
    );
    let e = s.fails(&["load", "t", &s.file("k.jsonl", "not json\n")], 2);
    assert!(e.contains("line 1") && e.contains("JSON"), "{e}");
}

#[test]
fn the_demo_reads_the_past_restores_to_it_and_says_why_not_on_a_used_store() {
    let s = Store::new();
    let out = s.run(&["demo"]);
    assert_eq!(out.code, 0, "{out:?}");
    for part in [
        "as of a past point",
        "restore-to lsn",
        "diff from lsn",
        "after undo of transaction",
    ] {
        assert!(
            out.stdout.contains(part),
            "no `{part}` in the demo:\n{}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("0 differences"), "{}", out.stdout);
    // twice on the same store: the second run says why it does not start
    let again = s.run(&["demo"]);
    assert_eq!(again.code, 2, "{again:?}");
    assert!(
        again.stderr.contains("fresh store") && again.stderr.contains("--db"),
        "{again:?}"
    );
    // the first run's store is still there, whole
    assert_eq!(s.json(&["verify"])["ok"], json!(true));
}

#[test]
fn backup_export_after_a_purge_and_an_honest_compact() {
    let s = Store::new();
    seed(&s);
    let del = s.json(&["delete", "a", "1"]);
    let id = del["deletion"].as_str().unwrap().to_string();
    s.json(&["purge", &id, "--actor", "dpo", "--yes"]);
    // export takes a purged log; the import is the same store
    let file = s.dir.path().join("log.jsonl");
    let out = s.json(&["export", file.to_str().unwrap()]);
    assert_eq!(out["events"].as_u64(), Some(s.last_lsn()));
    let copy = Store::new();
    copy.json(&["import", file.to_str().unwrap()]);
    assert_eq!(copy.json(&["scan", "b"]), s.json(&["scan", "b"]));
    assert_eq!(copy.json(&["log"]), s.json(&["log"]));
    // a backup of the store opens and verifies
    let dest = s.dir.path().join("backup");
    let b = s.json(&["backup", dest.to_str().unwrap()]);
    assert_eq!(b["lsn"].as_u64(), Some(s.last_lsn()));
    let out = lazarus(&["--db", dest.to_str().unwrap(), "--json", "verify"]);
    assert_eq!(out.code, 0, "{out:?}");
    let out = lazarus(&["--db", dest.to_str().unwrap(), "--json", "scan", "a"]);
    assert_eq!(
        serde_json::from_str::<Value>(&out.stdout).unwrap(),
        s.json(&["scan", "a"])
    );
    let e = s.fails(&["backup", dest.to_str().unwrap()], 2);
    assert!(e.contains("not empty"), "{e}");
    // compact says what it freed, or why the files grew
    let text = s.human(&["compact"]);
    assert!(
        text.contains("freed") || text.contains("nothing was there to reclaim"),
        "{text}"
    );
}

#[test]
fn a_restore_to_dry_run_with_conflicts_exits_1_with_its_plan() {
    let s = Store::new();
    s.schema(
        "pc.json",
        r#"{"tables": [
            {"name": "p", "primary_key": "id", "columns": [{"name": "id", "type": "int"}]},
            {"name": "c", "primary_key": "id",
             "columns": [{"name": "id", "type": "int"}, {"name": "p_id", "type": "int"}],
             "foreign_keys": [{"column": "p_id", "references": "p", "on_delete": "cascade"}]}]}"#,
    );
    s.json(&["insert", "p", r#"{"id": 1}"#]);
    let point = s.last_lsn().to_string();
    s.json(&["insert", "p", r#"{"id": 2}"#]);
    s.json(&["insert", "c", r#"{"id": 1, "p_id": 2}"#]);
    // p2 would be tombstoned, but c1 (outside the scope) references it
    let plan = s.verdict(&["restore-to", &point, "--table", "p", "--dry-run"], 1);
    assert_eq!(plan["conflicts"].as_array().unwrap().len(), 1, "{plan}");
    // without conflicts: 0
    let plan = s.json(&["restore-to", &point, "--dry-run"]);
    assert_eq!(plan["conflicts"], json!([]));
}
