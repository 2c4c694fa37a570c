"""lazarusdb: an embedded, event-sourced datastore in which nothing is lost by mistake.

Every change is an event in an append-only log; a delete is a tombstone that takes the rows
related to it along, as one deletion you can restore; live reads never see deleted rows, with
no ``is_deleted`` filter; any read can be made as of a past point, and a table or the whole
store restored to it.

>>> import lazarusdb
>>> db = lazarusdb.temporary()
>>> db.apply_schema({"tables": [{"name": "note", "primary_key": "id",
...     "columns": [{"name": "id", "type": "int"}, {"name": "text", "type": "text"}]}]})
>>> db.insert("note", {"text": "hello"})["id"]
1
>>> gone = db.delete("note", 1, actor="me")
>>> db.get("note", 1) is None
True
>>> _ = db.restore(gone["deletion"], actor="me")
>>> db.get("note", 1)["text"]
'hello'
"""

from ._errors import (
    ConflictError,
    ConstraintError,
    CorruptedError,
    Error,
    InvalidInput,
    InvalidOperation,
    NotFound,
    Purged,
    StorageError,
    TypeMismatch,
)
from ._native import (
    AsOf,
    Db,
    Subscription,
    Transaction,
    __version__,
    open,
    open_postgres,
    temporary,
)

__all__ = [
    "AsOf",
    "ConflictError",
    "ConstraintError",
    "CorruptedError",
    "Db",
    "Error",
    "InvalidInput",
    "InvalidOperation",
    "NotFound",
    "Purged",
    "StorageError",
    "Subscription",
    "Transaction",
    "TypeMismatch",
    "__version__",
    "open",
    "open_postgres",
    "temporary",
]
