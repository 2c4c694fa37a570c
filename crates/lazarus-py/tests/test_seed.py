"""The seed question's whole scenario in Python: related rows deleted together and restored
together, a child deleted on its own staying deleted, nothing lost on the way."""

from __future__ import annotations

import lazarusdb


def ids(db: lazarusdb.Db, table: str) -> list[int]:
    return [r["id"] for r in db.scan(table)]


def test_the_seed_scenario(seed_db: lazarusdb.Db) -> None:
    db = seed_db
    with db.transaction(actor="seed", reason="the question's rows") as tx:
        for i in range(1, 5):
            tx.insert("a", {"data1": f"a{i}d1", "data2": f"a{i}d2"})
        for i, a in [(1, 1), (2, 1), (3, 3), (4, 4)]:
            tx.insert("b", {"data1": f"b{i}", "a_id": a})
    assert ids(db, "a") == [1, 2, 3, 4]
    assert ids(db, "b") == [1, 2, 3, 4]

    # b3 on its own, then a3, then a1, which takes b1 and b2 along: one deletion
    d_b3 = db.delete("b", 3, actor="me", reason="duplicate")
    d_a3 = db.delete("a", 3, actor="me")
    d_a1 = db.delete("a", 1, actor="me", reason="oops")
    assert d_a1["rows"] == [("a", 1), ("b", 1), ("b", 2)]
    assert ids(db, "a") == [2, 4]
    assert ids(db, "b") == [4]
    assert db.children("a", 1, "b") == []
    trash = db.trash()
    assert [d["id"] for d in trash] == [d_a1["deletion"], d_a3["deletion"], d_b3["deletion"]]
    assert trash[0]["rows"] == {"a": 1, "b": 2}
    assert trash[0]["actor"] == "me" and trash[0]["reason"] == "oops"

    # restoring a3 brings a3 back, not b3: b3 was deleted on its own
    db.restore(d_a3["deletion"], actor="me")
    assert ids(db, "a") == [2, 3, 4]
    assert ids(db, "b") == [4]
    # a1 comes back with b1 and b2, atomically; then b3 with its own deletion
    plan = db.restore_plan(d_a1["deletion"])
    assert plan["rows"] == [("a", 1), ("b", 1), ("b", 2)] and plan["conflicts"] == []
    db.restore(d_a1["deletion"], actor="me")
    db.restore(d_b3["deletion"], actor="me")
    assert ids(db, "a") == [1, 2, 3, 4]
    assert ids(db, "b") == [1, 2, 3, 4]
    assert [c["data1"] for c in db.children("a", 1, "b")] == ["b1", "b2"]
    try:
        db.restore(d_a1["deletion"], actor="me")
        raise AssertionError("a deletion restored twice")
    except lazarusdb.InvalidOperation as e:
        assert e.kind == "already_restored"
    assert db.trash() == []

    # nothing was lost: b1's history holds its insert, its tombstone and its restore
    kinds = [c["kind"] for c in db.history("b", 1)]
    assert kinds == ["insert", "delete", "restore"]
    # the store as it was before a1's deletion, and diff against now
    before = db.as_of(d_a1["deletion"])
    assert [r["id"] for r in before.scan("b")] == [1, 2, 4]
    assert db.get("b", 1, as_of=f"deletion:{str(d_a1['deletion'])[-8:]}")["data1"] == "b1"

    # a bad bulk update, put right by restore-to, which undo can take back
    last = db.last_lsn()
    with db.transaction(actor="bulk") as tx:
        for r in db.scan("a"):
            tx.update("a", r["id"], {"data1": "oops"})
    assert {r["data1"] for r in db.scan("a")} == {"oops"}
    changed = db.diff(last)
    assert len(changed) == 4 and changed[0]["changes"][0]["column"] == "data1"
    db.restore_to(last, actor="me", reason="undo the bulk update")
    assert [r["data1"] for r in db.scan("a")] == ["a1d1", "a2d1", "a3d1", "a4d1"]
    undo_tx = db.log()[-1]["tx"]
    db.undo(undo_tx, actor="me")
    assert {r["data1"] for r in db.scan("a")} == {"oops"}
    assert db.verify()["ok"]


def test_a_store_on_disk_keeps_everything_across_a_reopen(tmp_path: object) -> None:
    import os

    path = os.path.join(str(tmp_path), "store")
    from conftest import SEED_SCHEMA

    with lazarusdb.open(path) as db:
        db.apply_schema(SEED_SCHEMA)
        db.insert("a", {"data1": "x", "data2": "y"})
        gone = db.delete("a", 1, actor="me")
    with lazarusdb.open(path) as db:
        assert db.get("a", 1) is None
        assert db.trash()[0]["id"] == gone["deletion"]
        db.restore(gone["deletion"], actor="me")
        assert db.get("a", 1) == {"id": 1, "data1": "x", "data2": "y"}
