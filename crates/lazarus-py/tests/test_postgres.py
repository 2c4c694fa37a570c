"""The same API on a store in PostgreSQL (``LAZARUS_PG_URL``; skipped without one, failed
without one under CI)."""

from __future__ import annotations

import os
import uuid

import pytest

import lazarusdb
from conftest import SEED_SCHEMA


@pytest.fixture
def pg_db():  # type: ignore[no-untyped-def]
    url = os.environ.get("LAZARUS_PG_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI is set and LAZARUS_PG_URL is not")
        pytest.skip("LAZARUS_PG_URL is not set")
    db = lazarusdb.open_postgres(url, f"py_{uuid.uuid4().hex}")
    yield db, url
    db.close()


def test_the_seed_story_on_postgres(pg_db) -> None:  # type: ignore[no-untyped-def]
    db, url = pg_db
    db.apply_schema(SEED_SCHEMA)
    with db.transaction(actor="py") as tx:
        a = tx.insert("a", {"data1": "x", "data2": "y"})
        tx.insert("b", {"data1": "child", "a_id": a["id"]})
    gone = db.delete("a", a["id"], actor="py")
    assert db.scan("b") == []
    assert db.trash()[0]["rows"] == {"a": 1, "b": 1}
    db.restore(gone["deletion"], actor="py")
    assert [r["data1"] for r in db.children("a", a["id"], "b")] == ["child"]
    assert db.stats()["engine"] == "postgres"
    assert db.verify()["ok"]


def test_open_takes_a_postgres_url_as_the_command_line_does(pg_db) -> None:  # type: ignore[no-untyped-def]
    _, url = pg_db
    name = f"py_{uuid.uuid4().hex}"
    sep = "&" if "?" in url else "?"
    with lazarusdb.open(f"{url}{sep}store={name}") as db:
        db.apply_schema(SEED_SCHEMA)
        db.insert("a", {"data1": "x", "data2": "y"})
    # the same store, by the other spelling
    db = lazarusdb.open_postgres(url, name)
    assert db.count("a") == 1
    assert db.stats()["engine"] == "postgres"
    db.close()
