"""The exceptions of lazarusdb: one hierarchy under :class:`Error`, chosen by the store's error
kind (``e.kind``), each carrying the message the ``lazarus`` command line prints."""

from __future__ import annotations

from typing import Any, Dict, List


class Error(Exception):
    """Every error of the store. ``kind`` is the store's name for it (``not_found``,
    ``constraint_violation``, ...); ``conflicts`` lists the conflicts of a refused restore."""

    kind: str = "error"
    conflicts: List[Dict[str, Any]]

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.conflicts = []


class ConstraintError(Error):
    """A write the schema refuses: a taken key or unique value, a dangling reference, a null
    in a required column, a delete a foreign key restricts."""


class ConflictError(Error):
    """A restore, restore-to or undo refused because of conflicts: ``conflicts`` lists them
    (``table``, ``pk``, ``kind``, ``detail``)."""


class NotFound(Error, LookupError):
    """An unknown table, column, index, deletion or row."""


class Purged(Error):
    """What was asked for was purged for good, or lies before the history kept."""


class CorruptedError(Error):
    """The store is damaged or lost data; it says so rather than answer wrong."""


class TypeMismatch(Error, TypeError):
    """A value of the wrong type for its column."""


class InvalidInput(Error, ValueError):
    """A malformed argument or schema."""


class InvalidOperation(Error):
    """Something that cannot be done now: a row already deleted, a deletion already restored,
    a transaction used from another thread or after its end, a closed store."""


class StorageError(Error, OSError):
    """The disk or the storage engine failed."""


_KINDS = {
    "constraint_violation": ConstraintError,
    "delete_restricted": ConstraintError,
    "key_reserved": ConstraintError,
    "restore_conflict": ConflictError,
    "rewind_conflict": ConflictError,
    "not_found": NotFound,
    "unknown_table": NotFound,
    "unknown_column": NotFound,
    "unknown_index": NotFound,
    "unknown_deletion": NotFound,
    "purged": Purged,
    "history_expired": Purged,
    "corrupted": CorruptedError,
    "data_loss": CorruptedError,
    "not_a_store": CorruptedError,
    "newer_format": CorruptedError,
    "engine_mismatch": CorruptedError,
    "wrong_type": TypeMismatch,
    "invalid_input": InvalidInput,
    "invalid_schema": InvalidInput,
    "already_deleted": InvalidOperation,
    "already_restored": InvalidOperation,
    "nested_transaction": InvalidOperation,
    "invalid_operation": InvalidOperation,
    "closed": InvalidOperation,
    "locked": InvalidOperation,
    "poisoned": InvalidOperation,
    "keys_exhausted": InvalidOperation,
    "storage": StorageError,
    "io": StorageError,
}


def error_class(kind: str) -> type:
    """The exception class for a store error kind (:class:`Error` for one not listed)."""
    return _KINDS.get(kind, Error)
