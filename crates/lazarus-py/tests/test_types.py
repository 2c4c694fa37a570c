"""Python values both ways, exactly; a value the store cannot hold is a TypeError."""

from __future__ import annotations

import datetime
import uuid

import pytest

import lazarusdb

ALL_TYPES = {
    "tables": [
        {
            "name": "t",
            "primary_key": "id",
            "columns": [
                {"name": "id", "type": "int"},
                {"name": "i", "type": "int", "nullable": True},
                {"name": "f", "type": "float", "nullable": True},
                {"name": "s", "type": "text", "nullable": True},
                {"name": "b", "type": "bytes", "nullable": True},
                {"name": "ok", "type": "bool", "nullable": True},
                {"name": "u", "type": "uuid", "nullable": True},
                {"name": "at", "type": "timestamp", "nullable": True},
            ],
        }
    ]
}


@pytest.fixture
def typed(db: lazarusdb.Db) -> lazarusdb.Db:
    db.apply_schema(ALL_TYPES)
    return db


@pytest.mark.parametrize(
    "row",
    [
        {"i": 0, "f": 0.0, "s": "", "b": b"", "ok": False},
        {"i": -(2**63), "f": -1.5e300, "s": "été 日本 🎉", "b": bytes(range(256)), "ok": True},
        {"i": 2**63 - 1, "f": float("inf"), "s": "x" * 10000, "b": b"\x00" * 3},
        {"u": uuid.UUID(int=0), "at": datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)},
        {
            "u": uuid.uuid4(),
            "at": datetime.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=datetime.timezone.utc),
        },
        {"at": datetime.datetime(1900, 6, 1, 12, 0, 0, 1, tzinfo=datetime.timezone.utc)},
        {"i": None, "f": None, "s": None, "b": None, "ok": None, "u": None, "at": None},
    ],
)
def test_values_come_back_as_they_went_in(typed: lazarusdb.Db, row: dict) -> None:
    stored = typed.insert("t", row)
    got = typed.get("t", stored["id"])
    for k, v in row.items():
        assert got[k] == v, k
        assert type(got[k]) is type(v), k


def test_a_bool_stays_a_bool_and_an_int_an_int(typed: lazarusdb.Db) -> None:
    r = typed.insert("t", {"i": 1, "ok": True})
    got = typed.get("t", r["id"])
    assert got["i"] == 1 and type(got["i"]) is int
    assert got["ok"] is True


def test_times_in_other_zones_are_the_same_instant_in_utc(typed: lazarusdb.Db) -> None:
    paris = datetime.timezone(datetime.timedelta(hours=2))
    at = datetime.datetime(2024, 6, 1, 14, 30, tzinfo=paris)
    r = typed.insert("t", {"at": at})
    got = typed.get("t", r["id"])["at"]
    assert got == at
    assert got.utcoffset() == datetime.timedelta(0)
    assert got.hour == 12


@pytest.mark.parametrize(
    "value",
    [
        [1, 2],
        {"a": 1},
        {1, 2},
        object(),
        datetime.date(2024, 1, 1),
        datetime.datetime(2024, 1, 1),  # naive: ambiguous
        bytearray(b"x"),
    ],
)
def test_a_value_the_store_cannot_hold_is_a_type_error(typed: lazarusdb.Db, value: object) -> None:
    with pytest.raises(TypeError):
        typed.insert("t", {"s": value})
    assert typed.count("t") == 0


def test_an_int_too_large_is_an_overflow_error(typed: lazarusdb.Db) -> None:
    with pytest.raises(OverflowError):
        typed.insert("t", {"i": 2**64})


def test_a_row_must_be_a_dict_with_str_names(typed: lazarusdb.Db) -> None:
    with pytest.raises(TypeError):
        typed.insert("t", [("i", 1)])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        typed.insert("t", {1: 1})  # type: ignore[dict-item]


def test_a_value_of_the_wrong_type_for_its_column_is_a_type_mismatch(typed: lazarusdb.Db) -> None:
    with pytest.raises(lazarusdb.TypeMismatch) as e:
        typed.insert("t", {"i": "not a number"})
    assert isinstance(e.value, TypeError)
    assert e.value.kind == "wrong_type"


def test_keys_of_every_kind_find_their_rows(db: lazarusdb.Db) -> None:
    db.apply_schema(
        {
            "tables": [
                {"name": "k", "primary_key": "id", "columns": [{"name": "id", "type": "text"}]},
                {"name": "u", "primary_key": "id", "columns": [{"name": "id", "type": "uuid"}]},
            ]
        }
    )
    db.insert("k", {"id": "é"})
    key = uuid.uuid4()
    db.insert("u", {"id": key})
    assert db.get("k", "é") == {"id": "é"}
    assert db.get("u", key) == {"id": key}
    db.delete("u", key, actor="me")
    assert db.get("u", key) is None
