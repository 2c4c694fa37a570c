"""`with db.transaction(...)`: everything in the block commits together, or nothing does."""

from __future__ import annotations

import threading

import pytest

import lazarusdb


def test_a_block_commits_on_exit_with_who_and_why(seed_db: lazarusdb.Db) -> None:
    with seed_db.transaction(actor="ann", reason="import") as tx:
        a = tx.insert("a", {"data1": "x", "data2": "y"})
        tx.insert("b", {"data1": "child", "a_id": a["id"]})
        # the transaction reads its own writes; the store does not see them yet
        assert tx.get("a", a["id"]) == a
        assert [r["data1"] for r in tx.children("a", a["id"], "b")] == ["child"]
        assert seed_db.get("a", a["id"]) is None
    assert seed_db.count("a") == 1 and seed_db.count("b") == 1
    change = seed_db.log()[-1]
    assert change["actor"] == "ann" and change["reason"] == "import"


def test_a_block_that_raises_writes_nothing(seed_db: lazarusdb.Db) -> None:
    before = seed_db.last_lsn()
    with pytest.raises(RuntimeError):
        with seed_db.transaction() as tx:
            tx.insert("a", {"data1": "x", "data2": "y"})
            raise RuntimeError("changed my mind")
    assert seed_db.count("a") == 0
    assert seed_db.last_lsn() == before
    # the store takes the next transaction at once
    seed_db.insert("a", {"data1": "x", "data2": "y"})
    assert seed_db.count("a") == 1


def test_a_store_error_inside_the_block_leaves_nothing(seed_db: lazarusdb.Db) -> None:
    with pytest.raises(lazarusdb.ConstraintError):
        with seed_db.transaction() as tx:
            tx.insert("a", {"data1": "x", "data2": "y"})
            tx.insert("b", {"data1": "orphan", "a_id": 99})
    assert seed_db.count("a") == 0


def test_explicit_commit_and_rollback(seed_db: lazarusdb.Db) -> None:
    tx = seed_db.transaction()
    tx.begin()
    tx.insert("a", {"data1": "x", "data2": "y"})
    assert isinstance(tx.commit(), int)
    with pytest.raises(lazarusdb.InvalidOperation):
        tx.insert("a", {"data1": "late", "data2": "y"})
    other = seed_db.transaction()
    other.begin()
    other.insert("a", {"data1": "dropped", "data2": "y"})
    other.rollback()
    assert [r["data1"] for r in seed_db.scan("a")] == ["x"]


def test_deletes_and_restores_inside_a_transaction(seed_db: lazarusdb.Db) -> None:
    a = seed_db.insert("a", {"data1": "x", "data2": "y"})
    seed_db.insert("b", {"data1": "c", "a_id": a["id"]})
    with seed_db.transaction(actor="me") as tx:
        gone = tx.delete("a", a["id"])
        assert tx.get("b", 1) is None
        tx.restore(gone["deletion"])
    assert seed_db.count("b") == 1


def test_a_transaction_is_used_by_the_thread_that_opened_it(seed_db: lazarusdb.Db) -> None:
    errors: list[BaseException] = []
    with seed_db.transaction() as tx:

        def elsewhere() -> None:
            try:
                tx.insert("a", {"data1": "x", "data2": "y"})
            except BaseException as e:  # noqa: BLE001 - the error is the result
                errors.append(e)

        t = threading.Thread(target=elsewhere)
        t.start()
        t.join()
    assert len(errors) == 1 and isinstance(errors[0], lazarusdb.InvalidOperation)
    assert seed_db.count("a") == 0


def test_a_write_beside_an_open_transaction_is_refused_not_deadlocked(
    seed_db: lazarusdb.Db,
) -> None:
    with seed_db.transaction() as tx:
        tx.insert("a", {"data1": "in", "data2": "y"})
        with pytest.raises(lazarusdb.InvalidOperation) as e:
            seed_db.insert("a", {"data1": "beside", "data2": "y"})
        assert e.value.kind == "nested_transaction"
        with pytest.raises(lazarusdb.InvalidOperation):
            with seed_db.transaction():
                pass
        # reads of the store are fine (they see what is committed)
        assert seed_db.count("a") == 0
    assert [r["data1"] for r in seed_db.scan("a")] == ["in"]


def test_the_store_cannot_close_under_an_open_transaction(seed_db: lazarusdb.Db) -> None:
    tx = seed_db.transaction()
    tx.begin()
    with pytest.raises(lazarusdb.InvalidOperation):
        seed_db.close()
    tx.rollback()


def test_insert_many_is_all_or_nothing(seed_db: lazarusdb.Db) -> None:
    rows = seed_db.insert_many("a", [{"data1": str(i), "data2": "x"} for i in range(5)])
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5]
    with pytest.raises(lazarusdb.ConstraintError):
        seed_db.insert_many("b", [{"data1": "ok", "a_id": 1}, {"data1": "dangling", "a_id": 99}])
    assert seed_db.count("b") == 0
    with seed_db.transaction() as tx:
        tx.insert_many("b", ({"data1": str(i), "a_id": 1} for i in range(3)))
    assert seed_db.count("b") == 3
    with pytest.raises(TypeError):
        seed_db.insert_many("a", {"data1": "x", "data2": "y"})
