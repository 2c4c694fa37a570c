"""A store shared by threads: concurrent writers and readers, store work done without the GIL
(a thread waiting on the change feed does not stop the others)."""

from __future__ import annotations

import threading

import lazarusdb


def test_threads_write_and_read_one_store(seed_db: lazarusdb.Db) -> None:
    n_threads, per_thread = 8, 50
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for i in range(per_thread):
                if i % 10 == 0:
                    with seed_db.transaction(actor=f"t{k}") as tx:
                        a = tx.insert("a", {"data1": f"{k}-{i}", "data2": "tx"})
                        tx.insert("b", {"data1": "child", "a_id": a["id"]})
                else:
                    seed_db.insert("a", {"data1": f"{k}-{i}", "data2": "single"})
                seed_db.scan("a", limit=5)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert seed_db.count("a") == n_threads * per_thread
    assert seed_db.count("b") == n_threads * per_thread // 10
    # every key once
    assert len({r["id"] for r in seed_db.scan("a")}) == n_threads * per_thread
    assert seed_db.verify()["ok"]


def test_a_thread_waiting_on_the_feed_does_not_hold_the_others(seed_db: lazarusdb.Db) -> None:
    start = seed_db.last_lsn()
    sub = seed_db.subscribe(start)
    got: list[dict] = []

    def follow() -> None:
        for change in sub:
            got.append(change)
            if len(got) == 20:
                return

    t = threading.Thread(target=follow)
    t.start()
    # the follower blocks in the store's wait; this thread still runs and writes
    for i in range(20):
        seed_db.insert("a", {"data1": str(i), "data2": "x"})
    t.join(timeout=30)
    assert not t.is_alive()
    assert [c["row"]["data1"] for c in got] == [str(i) for i in range(20)]
