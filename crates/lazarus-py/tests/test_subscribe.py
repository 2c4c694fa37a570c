"""The change feed: every committed change once, in LSN order, never half a transaction; a
subscriber resumes after a reopen from the last LSN it saw."""

from __future__ import annotations

import os
import threading

import lazarusdb
from conftest import SEED_SCHEMA


def test_every_change_once_in_order_with_concurrent_writers(seed_db: lazarusdb.Db) -> None:
    start = seed_db.last_lsn()
    subs = [seed_db.subscribe(start) for _ in range(3)]

    def writer(k: int) -> None:
        for i in range(30):
            with seed_db.transaction(actor=f"w{k}") as tx:
                a = tx.insert("a", {"data1": f"{k}-{i}", "data2": "x"})
                tx.insert("b", {"data1": "c", "a_id": a["id"]})

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = [c["lsn"] for c in seed_db.log(since=start + 1)]
    assert len(expected) == 4 * 30 * 2
    for sub in subs:
        seen = []
        while len(seen) < len(expected):
            change = sub.next(timeout=10)
            assert change is not None, "a change never came"
            seen.append(change)
        assert [c["lsn"] for c in seen] == expected
        # a transaction's two events arrive together, with its actor
        for first, second in zip(seen[::2], seen[1::2]):
            assert first["tx"] == second["tx"]
            assert first["actor"] == second["actor"]
        assert sub.next(timeout=0.05) is None
        assert sub.last_seen == expected[-1]


def test_a_subscriber_resumes_after_a_reopen(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "store")
    with lazarusdb.open(path) as db:
        db.apply_schema(SEED_SCHEMA)
        for i in range(5):
            db.insert("a", {"data1": str(i), "data2": "x"})
        sub = db.subscribe(0)
        first = [sub.next(timeout=5) for _ in range(3)]
        last = sub.last_seen
        del sub
    with lazarusdb.open(path) as db:
        db.insert("a", {"data1": "after", "data2": "x"})
        sub = db.subscribe(last)
        rest = []
        while (c := sub.next(timeout=1)) is not None:
            rest.append(c)
        del sub
    lsns = [c["lsn"] for c in first if c] + [c["lsn"] for c in rest]
    assert lsns == list(range(1, len(lsns) + 1))
    assert rest[-1]["row"]["data1"] == "after"


def test_purged_values_never_appear_in_the_feed(seed_db: lazarusdb.Db) -> None:
    seed_db.insert("a", {"data1": "secret", "data2": "x"})
    gone = seed_db.delete("a", 1, actor="me")
    seed_db.purge(gone["deletion"], actor="me")
    sub = seed_db.subscribe(0)
    changes = []
    while (c := sub.next(timeout=0.5)) is not None:
        changes.append(c)
    assert changes, "the feed holds the log's events"
    assert "secret" not in repr(changes)
