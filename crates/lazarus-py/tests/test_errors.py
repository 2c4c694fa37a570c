"""Store errors are exceptions of one hierarchy, chosen by kind, with the command line's
message; a refused restore carries its conflicts as data."""

from __future__ import annotations

import os

import pytest

import lazarusdb

USERS = {
    "tables": [
        {
            "name": "user",
            "primary_key": "id",
            "columns": [{"name": "id", "type": "int"}, {"name": "email", "type": "text"}],
            "unique": [["email"]],
        },
        {
            "name": "post",
            "primary_key": "id",
            "columns": [
                {"name": "id", "type": "int"},
                {"name": "user_id", "type": "int"},
                {"name": "title", "type": "text"},
            ],
            "foreign_keys": [{"column": "user_id", "references": "user", "on_delete": "cascade"}],
        },
    ]
}


@pytest.fixture
def users(db: lazarusdb.Db) -> lazarusdb.Db:
    db.apply_schema(USERS)
    return db


def test_every_error_is_a_lazarusdb_error_with_its_kind(users: lazarusdb.Db) -> None:
    with pytest.raises(lazarusdb.NotFound) as e:
        users.scan("usr")
    assert isinstance(e.value, lazarusdb.Error) and isinstance(e.value, LookupError)
    assert e.value.kind == "unknown_table"
    # the command line's message, "did you mean" included
    assert "did you mean `user`?" in str(e.value)


def test_a_taken_unique_value_is_a_constraint_error(users: lazarusdb.Db) -> None:
    users.insert("user", {"email": "a@x"})
    with pytest.raises(lazarusdb.ConstraintError) as e:
        users.insert("user", {"email": "a@x"})
    assert e.value.kind == "constraint_violation"
    assert users.count("user") == 1


def test_a_dangling_reference_is_a_constraint_error(users: lazarusdb.Db) -> None:
    with pytest.raises(lazarusdb.ConstraintError):
        users.insert("post", {"user_id": 42, "title": "orphan"})


def test_a_restore_that_would_clash_is_a_conflict_error_with_its_conflicts(
    users: lazarusdb.Db,
) -> None:
    users.insert("user", {"email": "a@x"})
    gone = users.delete("user", 1, actor="me")
    users.insert("user", {"email": "a@x"})  # the address is taken again
    plan = users.restore_plan(gone["deletion"])
    assert [c["kind"] for c in plan["conflicts"]] == ["unique_taken"]
    with pytest.raises(lazarusdb.ConflictError) as e:
        users.restore(gone["deletion"], actor="me")
    assert e.value.kind == "restore_conflict"
    assert e.value.conflicts == plan["conflicts"]
    assert e.value.conflicts[0]["table"] == "user" and e.value.conflicts[0]["pk"] == 1
    assert users.get("user", 1) is None, "nothing was restored"


def test_double_delete_and_double_restore_are_invalid_operations(users: lazarusdb.Db) -> None:
    users.insert("user", {"email": "a@x"})
    gone = users.delete("user", 1, actor="me")
    with pytest.raises(lazarusdb.InvalidOperation) as first:
        users.delete("user", 1, actor="me")
    assert first.value.kind == "already_deleted"
    assert str(gone["deletion"]) in str(first.value)
    users.restore(gone["deletion"], actor="me")
    with pytest.raises(lazarusdb.InvalidOperation) as e:
        users.restore(gone["deletion"], actor="me")
    assert e.value.kind == "already_restored"


def test_a_purged_deletion_is_gone_and_says_so(users: lazarusdb.Db) -> None:
    users.insert("user", {"email": "secret@x"})
    before = users.last_lsn()
    gone = users.delete("user", 1, actor="me")
    report = users.purge(gone["deletion"], actor="me", reason="asked to")
    assert report["rows"] == [("user", 1)]
    assert users.trash() == []
    with pytest.raises(lazarusdb.Error) as e:
        users.restore(gone["deletion"], actor="me")
    assert e.value.kind in ("purged", "unknown_deletion")
    # the values are gone from the past too, and the read says so
    with pytest.raises(lazarusdb.Purged) as p:
        users.get("user", 1, as_of=before)
    assert "purged" in str(p.value)


def test_bad_arguments_are_value_and_type_errors(users: lazarusdb.Db) -> None:
    with pytest.raises(ValueError):
        users.restore_plan("0" * 32, policy="maybe")
    with pytest.raises(TypeError):
        users.get("user", 1, as_of=[1])  # type: ignore[arg-type]
    with pytest.raises(lazarusdb.InvalidInput):
        users.get("user", 1, as_of="next tuesday")
    with pytest.raises(lazarusdb.InvalidInput):
        users.apply_schema({"tables": [{"name": "x"}]})
    with pytest.raises(ValueError):
        lazarusdb.open("/tmp/nowhere-lazarus", engine="oracle")


def test_a_folder_that_is_not_a_store_is_refused(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "junk")
    os.makedirs(path)
    with open(os.path.join(path, "data.txt"), "w") as f:
        f.write("not a store")
    with pytest.raises(lazarusdb.Error) as e:
        lazarusdb.open(path)
    assert e.value.kind in ("not_a_store", "corrupted")


def test_a_closed_store_refuses_calls(users: lazarusdb.Db) -> None:
    users.close()
    with pytest.raises(lazarusdb.InvalidOperation) as e:
        users.scan("user")
    assert e.value.kind == "closed"
    users.close()  # closing twice is harmless
