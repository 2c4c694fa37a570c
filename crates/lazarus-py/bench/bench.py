"""Insert, get, scan, delete and restore from Python: lazarusdb beside SQLite through Python's
own sqlite3 with an ``is_deleted`` column (WAL, synchronous=FULL, a partial index on live rows).

    python crates/lazarus-py/bench/bench.py [--rows N] [--repeat R]

Every write is a durable transaction on both sides. Prints one markdown table (the median of R
runs per figure; ratio: SQLite's time over lazarusdb's, above 1 lazarusdb is faster).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from typing import Callable, Dict, List

import lazarusdb

SCHEMA = {
    "tables": [
        {
            "name": "parent",
            "primary_key": "id",
            "columns": [{"name": "id", "type": "int"}, {"name": "name", "type": "text"}],
        },
        {
            "name": "child",
            "primary_key": "id",
            "columns": [
                {"name": "id", "type": "int"},
                {"name": "parent_id", "type": "int"},
                {"name": "note", "type": "text"},
            ],
            "foreign_keys": [
                {"column": "parent_id", "references": "parent", "on_delete": "cascade"}
            ],
        },
    ]
}

CHILDREN = 10


def timed(f: Callable[[], int]) -> float:
    """Seconds per operation of `f`, which returns how many it did."""
    t = time.perf_counter()
    n = f()
    return (time.perf_counter() - t) / max(n, 1)


def lazarus_run(rows: int, folder: str) -> Dict[str, float]:
    db = lazarusdb.open(os.path.join(folder, "lazarus"))
    db.apply_schema(SCHEMA)
    parents = rows // (CHILDREN + 1)
    out: Dict[str, float] = {}

    def insert_batched() -> int:
        n = 0
        for p in range(1, parents + 1):
            with db.transaction() as tx:
                tx.insert("parent", {"id": p, "name": f"p{p}"})
                for c in range(CHILDREN):
                    tx.insert("child", {"id": p * 100 + c, "parent_id": p, "note": "x" * 40})
                n += CHILDREN + 1
        return n

    out["insert, 11-row transactions (per row)"] = timed(insert_batched)

    def insert_many() -> int:
        n = 0
        for p in range(1, parents + 1):
            with db.transaction() as tx:
                tx.insert("parent", {"id": 20_000_000 + p, "name": f"p{p}"})
                tx.insert_many(
                    "child",
                    [
                        {"id": 20_000_000 + p * 100 + c, "parent_id": 20_000_000 + p, "note": "x" * 40}
                        for c in range(CHILDREN)
                    ],
                )
            n += CHILDREN + 1
        return n

    out["insert, 11-row transactions, insert_many (per row)"] = timed(insert_many)

    def insert_single() -> int:
        for i in range(1000):
            db.insert("parent", {"id": 10_000_000 + i, "name": "single"})
        return 1000

    out["insert, one row a transaction"] = timed(insert_single)

    def get() -> int:
        for p in range(1, parents + 1):
            db.get("parent", p)
        return parents

    out["get by key"] = timed(get)

    def scan() -> int:
        return len(db.scan("child"))  # the insert_many children too, as for SQLite

    out["scan (per row)"] = timed(scan)

    def children() -> int:
        n = 0
        for p in range(1, min(parents, 500) + 1):
            n += len(db.children("parent", p, "child"))
        return n

    out["children of a parent (per row)"] = timed(children)
    deleted: List[object] = []

    def delete() -> int:
        for p in range(1, parents // 2 + 1):
            deleted.append(db.delete("parent", p)["deletion"])
        return len(deleted) * (CHILDREN + 1)

    out["delete a parent + 10 children (per row)"] = timed(delete)

    def restore() -> int:
        for d in deleted:
            db.restore(d)
        return len(deleted) * (CHILDREN + 1)

    out["restore it (per row)"] = timed(restore)
    db.close()
    return out


def sqlite_run(rows: int, folder: str) -> Dict[str, float]:
    con = sqlite3.connect(os.path.join(folder, "sqlite.db"), isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("PRAGMA foreign_keys=ON")
    con.execute(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT, is_deleted INTEGER NOT NULL DEFAULT 0)"
    )
    con.execute(
        "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id), "
        "note TEXT, is_deleted INTEGER NOT NULL DEFAULT 0)"
    )
    con.execute("CREATE INDEX child_parent_live ON child(parent_id) WHERE is_deleted = 0")
    parents = rows // (CHILDREN + 1)
    out: Dict[str, float] = {}

    def insert_batched() -> int:
        n = 0
        for p in range(1, parents + 1):
            con.execute("BEGIN")
            con.execute("INSERT INTO parent (id, name) VALUES (?, ?)", (p, f"p{p}"))
            for c in range(CHILDREN):
                con.execute(
                    "INSERT INTO child (id, parent_id, note) VALUES (?, ?, ?)",
                    (p * 100 + c, p, "x" * 40),
                )
            con.execute("COMMIT")
            n += CHILDREN + 1
        return n

    out["insert, 11-row transactions (per row)"] = timed(insert_batched)

    def insert_many() -> int:
        n = 0
        for p in range(1, parents + 1):
            con.execute("BEGIN")
            con.execute("INSERT INTO parent (id, name) VALUES (?, ?)", (20_000_000 + p, f"p{p}"))
            con.executemany(
                "INSERT INTO child (id, parent_id, note) VALUES (?, ?, ?)",
                [(20_000_000 + p * 100 + c, 20_000_000 + p, "x" * 40) for c in range(CHILDREN)],
            )
            con.execute("COMMIT")
            n += CHILDREN + 1
        return n

    out["insert, 11-row transactions, insert_many (per row)"] = timed(insert_many)

    def insert_single() -> int:
        for i in range(1000):
            con.execute("INSERT INTO parent (id, name) VALUES (?, ?)", (10_000_000 + i, "single"))
        return 1000

    out["insert, one row a transaction"] = timed(insert_single)

    def get() -> int:
        for p in range(1, parents + 1):
            con.execute("SELECT * FROM parent WHERE id = ? AND is_deleted = 0", (p,)).fetchone()
        return parents

    out["get by key"] = timed(get)

    def scan() -> int:
        return len(con.execute("SELECT * FROM child WHERE is_deleted = 0 ORDER BY id").fetchall())

    out["scan (per row)"] = timed(scan)

    def children() -> int:
        n = 0
        for p in range(1, min(parents, 500) + 1):
            n += len(
                con.execute(
                    "SELECT * FROM child WHERE parent_id = ? AND is_deleted = 0", (p,)
                ).fetchall()
            )
        return n

    out["children of a parent (per row)"] = timed(children)

    def delete() -> int:
        for p in range(1, parents // 2 + 1):
            con.execute("BEGIN")
            con.execute("UPDATE parent SET is_deleted = 1 WHERE id = ?", (p,))
            con.execute("UPDATE child SET is_deleted = 1 WHERE parent_id = ?", (p,))
            con.execute("COMMIT")
        return parents // 2 * (CHILDREN + 1)

    out["delete a parent + 10 children (per row)"] = timed(delete)

    def restore() -> int:
        for p in range(1, parents // 2 + 1):
            con.execute("BEGIN")
            con.execute("UPDATE parent SET is_deleted = 0 WHERE id = ?", (p,))
            con.execute("UPDATE child SET is_deleted = 0 WHERE parent_id = ?", (p,))
            con.execute("COMMIT")
        return parents // 2 * (CHILDREN + 1)

    out["restore it (per row)"] = timed(restore)
    con.close()
    return out


def fmt(seconds: float) -> str:
    ns = seconds * 1e9
    if ns < 1_000:
        return f"{ns:.0f} ns"
    if ns < 1_000_000:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns / 1e6:.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=11_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    runs: Dict[str, Dict[str, List[float]]] = {"lazarusdb": {}, "sqlite3": {}}
    for _ in range(args.repeat):
        for name, f in [("lazarusdb", lazarus_run), ("sqlite3", sqlite_run)]:
            with tempfile.TemporaryDirectory() as folder:
                for k, v in f(args.rows, folder).items():
                    runs[name].setdefault(k, []).append(v)
    print(f"{args.rows} rows, median of {args.repeat} runs, Python {sys.version.split()[0]}\n")
    print("| from Python (time per operation) | lazarusdb | sqlite3 `is_deleted` | ratio |")
    print("|---|---:|---:|---:|")
    for k in runs["lazarusdb"]:
        ours = statistics.median(runs["lazarusdb"][k])
        theirs = statistics.median(runs["sqlite3"][k])
        print(f"| {k} | {fmt(ours)} | {fmt(theirs)} | {theirs / ours:.2f}× |")


if __name__ == "__main__":
    main()
