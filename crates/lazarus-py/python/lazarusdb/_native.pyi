"""Type stubs of the extension module: the store, its transactions, views as of a point and the
change feed. Rows are dicts of column names to values."""

import datetime
import os
import uuid
from types import TracebackType
from typing import Any, Dict, Iterable, Iterator, List, Literal, Optional, Tuple, Type, TypedDict, Union

__version__: str

Value = Union[None, bool, int, float, str, bytes, uuid.UUID, datetime.datetime]
"""What a column holds: None, bool, int (64-bit), float, str, bytes, uuid.UUID or an aware
datetime (returned in UTC)."""

Row = Dict[str, Value]
RowRef = Tuple[str, Value]
"""A row named by its table and primary key."""

Point = Union[int, str, datetime.datetime, uuid.UUID]
"""A past point: an LSN (int); a str as the command line reads it (``"42"``, ``"tx:7"``,
``"deletion:3f2a9c"``, ``"2h"``, ``"3d ago"``, an RFC 3339 time, a local time); an aware
datetime; a deletion's UUID (just before it)."""

DeletionRef = Union[uuid.UUID, str, "DeleteReport"]
"""A deletion: its UUID, its id as a str (or its last 6 or more hex digits), or what
:meth:`Db.delete` returned."""

Policy = Literal["refuse", "skip"]

class DeleteReport(TypedDict):
    deletion: uuid.UUID
    rows: List[RowRef]
    unlinked: List[RowRef]

class Deletion(TypedDict):
    id: uuid.UUID
    tx: int
    lsn: int
    at: datetime.datetime
    actor: Optional[str]
    reason: Optional[str]
    roots: List[RowRef]
    rows: Dict[str, int]
    unlinked: int
    remaining: int
    restored: int

class DeletedRow(TypedDict):
    table: str
    pk: Value
    kind: str
    row: Row
    lsn: int

class DeletionWithRows(Deletion):
    members: List[DeletedRow]

class Conflict(TypedDict):
    table: str
    pk: Value
    kind: str
    detail: str

class Skipped(TypedDict):
    table: str
    pk: Value
    reason: str

class RestorePlan(TypedDict):
    deletion: uuid.UUID
    rows: List[RowRef]
    relinks: List[RowRef]
    conflicts: List[Conflict]
    skipped: List[Skipped]

class RewindPlan(TypedDict):
    target_lsn: int
    restored: List[RowRef]
    reverted: List[RowRef]
    tombstoned: List[RowRef]
    conflicts: List[Conflict]

class ColumnChange(TypedDict):
    column: str
    before: Value
    after: Value

class RowDiff(TypedDict):
    table: str
    pk: Value
    kind: str
    before: Optional[Row]
    after: Optional[Row]
    changes: List[ColumnChange]

class Change(TypedDict):
    lsn: int
    tx: int
    at: datetime.datetime
    actor: Optional[str]
    reason: Optional[str]
    kind: str
    table: Optional[str]
    tables: List[str]
    pk: Value
    row: Optional[Row]
    deletion: Optional[uuid.UUID]

class PurgeReport(TypedDict):
    deletion: uuid.UUID
    rows: List[RowRef]
    images: int
    also: List[uuid.UUID]

class VerifyReport(TypedDict):
    ok: bool
    events: int
    keys: int
    differences: List[str]

class Stats(TypedDict):
    engine: str
    last_lsn: int
    last_tx: int
    tables: Dict[str, int]
    disk_bytes: int
    deletions: int
    live_bytes: int
    history_bytes: int
    trash_bytes: int
    reclaimable_bytes: int

def open(path: Union[str, "os.PathLike[str]"], *, engine: Optional[str] = None) -> Db:
    """Opens (or creates) the store in the folder ``path``; ``engine`` for a new one:
    ``"fjall-redb"`` (the default), ``"fjall"`` or ``"sled"``. A PostgreSQL URL
    (``postgres://USER@HOST:PORT/DATABASE?store=NAME``) opens that store instead."""

def open_postgres(url: str, store: str = "lazarus") -> Db:
    """Opens (or creates) the store ``store`` in the PostgreSQL database at ``url``
    (``postgres://USER@HOST:PORT/DATABASE``); several processes may open it at once."""

def temporary() -> Db:
    """A store in a temporary folder, removed when it is closed."""

class Db:
    """An open store, shared by threads. ``with lazarusdb.open(path) as db:`` closes it."""

    def apply_schema(
        self,
        schema: Union[Dict[str, Any], str, "os.PathLike[str]"],
        *,
        actor: Optional[str] = None,
        reason: Optional[str] = None,
    ) -> None:
        """Creates or extends tables from a schema document (a dict) or a JSON schema file."""
    def tables(self) -> List[str]: ...
    def insert(
        self, table: str, row: Row, *, actor: Optional[str] = None, reason: Optional[str] = None
    ) -> Row:
        """Inserts a row; returns it as stored (with the key the store assigned, if any)."""
    def insert_many(
        self,
        table: str,
        rows: Iterable[Row],
        *,
        actor: Optional[str] = None,
        reason: Optional[str] = None,
    ) -> List[Row]:
        """Inserts many rows in one transaction (all or none); returns them as stored."""
    def update(
        self,
        table: str,
        pk: Value,
        changes: Row,
        *,
        actor: Optional[str] = None,
        reason: Optional[str] = None,
    ) -> Row:
        """Changes some columns of a row; returns the row as it is now."""
    def delete(
        self, table: str, pk: Value, *, actor: Optional[str] = None, reason: Optional[str] = None
    ) -> DeleteReport:
        """Deletes a row and what cascades from it, as one deletion."""
    def get(self, table: str, pk: Value, *, as_of: Optional[Point] = None) -> Optional[Row]: ...
    def scan(
        self,
        table: str,
        *,
        limit: Optional[int] = None,
        reverse: bool = False,
        as_of: Optional[Point] = None,
    ) -> List[Row]:
        """Live rows in primary-key order."""
    def children(
        self, table: str, pk: Value, child_table: str, *, as_of: Optional[Point] = None
    ) -> List[Row]:
        """The live rows of ``child_table`` that reference the row."""
    def lookup(
        self, table: str, where: Dict[str, Value], *, as_of: Optional[Point] = None
    ) -> List[Row]:
        """The live rows whose indexed columns equal ``where``."""
    def count(self, table: str) -> int: ...
    def transaction(
        self, *, actor: Optional[str] = None, reason: Optional[str] = None
    ) -> Transaction:
        """``with db.transaction() as tx:`` commits on exit and writes nothing on an exception."""
    def trash(self, *, table: Optional[str] = None, limit: Optional[int] = None) -> List[Deletion]:
        """The deletions in the trash, newest first."""
    def deletion(self, deletion: DeletionRef) -> DeletionWithRows: ...
    def restore_plan(self, deletion: DeletionRef, *, policy: Policy = "refuse") -> RestorePlan:
        """What restoring would do; nothing written."""
    def restore(
        self,
        deletion: DeletionRef,
        *,
        policy: Policy = "refuse",
        actor: Optional[str] = None,
        reason: Optional[str] = None,
    ) -> RestorePlan:
        """Restores a deletion; :class:`ConflictError` on any conflict unless ``policy="skip"``."""
    def history(self, table: str, pk: Value) -> List[Change]: ...
    def log(self, *, since: int = 1, limit: Optional[int] = None) -> List[Change]: ...
    def as_of(self, point: Point) -> AsOf: ...
    def restore_to(
        self,
        point: Point,
        *,
        table: Optional[str] = None,
        dry_run: bool = False,
        actor: Optional[str] = None,
        reason: Optional[str] = None,
    ) -> RewindPlan: ...
    def undo(
        self,
        tx: int,
        *,
        force: bool = False,
        actor: Optional[str] = None,
        reason: Optional[str] = None,
    ) -> RewindPlan: ...
    def diff(
        self, a: Point, b: Optional[Point] = None, *, table: Optional[str] = None
    ) -> List[RowDiff]: ...
    def purge(
        self, deletion: DeletionRef, *, actor: str, reason: Optional[str] = None
    ) -> PurgeReport: ...
    def erase(
        self, table: str, pk: Value, *, actor: str, reason: Optional[str] = None
    ) -> PurgeReport: ...
    def subscribe(self, from_lsn: int = 0) -> Subscription: ...
    def verify(self) -> VerifyReport: ...
    def stats(self) -> Stats: ...
    def last_lsn(self) -> int: ...
    def close(self) -> None: ...
    def __enter__(self) -> Db: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...

class AsOf:
    """The store as it was at one point: reads only."""

    @property
    def lsn(self) -> int: ...
    def get(self, table: str, pk: Value) -> Optional[Row]: ...
    def scan(self, table: str, *, limit: Optional[int] = None, reverse: bool = False) -> List[Row]: ...
    def children(self, table: str, pk: Value, child_table: str) -> List[Row]: ...
    def lookup(self, table: str, where: Dict[str, Value]) -> List[Row]: ...

class Transaction:
    """Writes that commit together. Used by the thread that opened it."""

    def __enter__(self) -> Transaction: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...
    def begin(self) -> None: ...
    def commit(self) -> Optional[int]: ...
    def rollback(self) -> None: ...
    def insert(self, table: str, row: Row) -> Row: ...
    def insert_many(self, table: str, rows: Iterable[Row]) -> List[Row]: ...
    def update(self, table: str, pk: Value, changes: Row) -> Row: ...
    def delete(self, table: str, pk: Value) -> DeleteReport: ...
    def restore(self, deletion: DeletionRef, *, policy: Policy = "refuse") -> RestorePlan: ...
    def get(self, table: str, pk: Value) -> Optional[Row]: ...
    def scan(self, table: str, *, limit: Optional[int] = None, reverse: bool = False) -> List[Row]: ...
    def children(self, table: str, pk: Value, child_table: str) -> List[Row]: ...
    def lookup(self, table: str, where: Dict[str, Value]) -> List[Row]: ...

class Subscription:
    """The committed changes in LSN order, each once; iterating waits for new ones."""

    def __iter__(self) -> Iterator[Change]: ...
    def __next__(self) -> Change: ...
    def next(self, timeout: Optional[float] = None) -> Optional[Change]:
        """The next change, or None when none came within ``timeout`` seconds."""
    @property
    def last_seen(self) -> int: ...
