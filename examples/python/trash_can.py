"""The trash can: delete an author with their books as one deletion, look in the trash, see
what a restore would do, restore, and read the store as it was before.

    python examples/python/trash_can.py            # on a temporary store
    python examples/python/trash_can.py shop.db    # on a store folder (created if missing)
"""

from __future__ import annotations

import sys

import lazarusdb

SCHEMA = {
    "tables": [
        {
            "name": "author",
            "primary_key": "id",
            "columns": [{"name": "id", "type": "int"}, {"name": "name", "type": "text"}],
        },
        {
            "name": "book",
            "primary_key": "id",
            "columns": [
                {"name": "id", "type": "int"},
                {"name": "author_id", "type": "int"},
                {"name": "title", "type": "text"},
            ],
            "foreign_keys": [
                {"column": "author_id", "references": "author", "on_delete": "cascade"}
            ],
        },
    ]
}


def main(argv: list[str]) -> None:
    db = lazarusdb.open(argv[1]) if len(argv) > 1 else lazarusdb.temporary()
    with db:
        db.apply_schema(SCHEMA, actor="example")
        with db.transaction(actor="example", reason="a first catalogue") as tx:
            ursula = tx.insert("author", {"name": "Ursula"})
            for title in ["The Dispossessed", "The Lathe of Heaven"]:
                tx.insert("book", {"author_id": ursula["id"], "title": title})
        before = db.last_lsn()
        print("books:", [b["title"] for b in db.scan("book")])

        gone = db.delete("author", ursula["id"], actor="alice", reason="cleanup")
        print(f"deleted {len(gone['rows'])} rows as one deletion {gone['deletion']}")
        print("books now:", [b["title"] for b in db.scan("book")])

        for d in db.trash():
            print(f"in the trash: {d['id']} by {d['actor']} ({d['reason']}): {d['rows']}")

        plan = db.restore_plan(gone["deletion"])
        print("a restore would bring back", plan["rows"], "with", len(plan["conflicts"]), "conflicts")
        db.restore(gone["deletion"], actor="alice", reason="it was a mistake")
        print("books again:", [b["title"] for b in db.scan("book")])

        then = db.as_of(before)
        print(f"as of lsn {then.lsn}:", [b["title"] for b in then.scan("book")])
        print("history of author", ursula["id"], ":", [c["kind"] for c in db.history("author", ursula["id"])])
        assert db.verify()["ok"]


if __name__ == "__main__":
    main(sys.argv)
