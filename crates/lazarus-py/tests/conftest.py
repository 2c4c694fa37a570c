"""Shared fixtures: a fresh temporary store, and one with the seed question's tables."""

from __future__ import annotations

from typing import Iterator

import pytest

import lazarusdb

# The seed question's tables: a(id, data1, data2) and b(id, data1, a_id -> a), the foreign key
# cascading on delete.
SEED_SCHEMA = {
    "tables": [
        {
            "name": "a",
            "primary_key": "id",
            "columns": [
                {"name": "id", "type": "int"},
                {"name": "data1", "type": "text"},
                {"name": "data2", "type": "text"},
            ],
        },
        {
            "name": "b",
            "primary_key": "id",
            "columns": [
                {"name": "id", "type": "int"},
                {"name": "data1", "type": "text"},
                {"name": "a_id", "type": "int"},
            ],
            "foreign_keys": [{"column": "a_id", "references": "a", "on_delete": "cascade"}],
        },
    ]
}


@pytest.fixture
def db() -> Iterator[lazarusdb.Db]:
    store = lazarusdb.temporary()
    yield store
    store.close()


@pytest.fixture
def seed_db(db: lazarusdb.Db) -> lazarusdb.Db:
    db.apply_schema(SEED_SCHEMA)
    return db
