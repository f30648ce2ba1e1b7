"""The state store of ``pyecs serve --state DIR``: one SQLite database, versioned.

Every write is committed (WAL journal, ``synchronous=FULL``) before the API answers;
SQLite runs in a worker thread, one call at a time, so the event loop never waits on
the disk. A lock file keeps a second server off the same directory. The schema carries
its version in ``schema_version``; :data:`MIGRATIONS` takes an older database forward,
and a newer one is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

import anyio

from pyecs.exceptions import StateStoreError

__all__ = [
    "DB_NAME",
    "MEMORY",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "TABLES",
    "Rows",
    "StateStore",
    "default_state_dir",
]

_T = TypeVar("_T")

DB_NAME: Final = "state.sqlite3"
#: The ``--state`` value that keeps nothing.
MEMORY: Final = ":memory:"
LOCK_NAME: Final = "serve.lock"

#: Each version's statements, applied in order to reach it from the one before.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    # 1: clusters, task definitions, services and what hangs on them.
    (
        "CREATE TABLE clusters (region TEXT, name TEXT, status TEXT, body TEXT, "
        "PRIMARY KEY (region, name))",
        "CREATE TABLE task_definitions (region TEXT, family TEXT, revision INTEGER, "
        "body TEXT, PRIMARY KEY (region, family, revision))",
        "CREATE TABLE services (region TEXT, cluster TEXT, name TEXT, body TEXT, "
        "PRIMARY KEY (region, cluster, name))",
        "CREATE TABLE attributes (region TEXT, cluster TEXT, instance TEXT, name TEXT, "
        "value TEXT, PRIMARY KEY (region, cluster, instance, name))",
        "CREATE TABLE account_settings (region TEXT, principal TEXT, name TEXT, value TEXT, "
        "PRIMARY KEY (region, principal, name))",
        "CREATE TABLE tags (region TEXT, arn TEXT, body TEXT, PRIMARY KEY (region, arn))",
    ),
    # 2: the RUNNING tasks of services, so that a restart adopts them with their ARNs.
    (
        "CREATE TABLE tasks (region TEXT, cluster TEXT, arn TEXT, body TEXT, "
        "PRIMARY KEY (region, arn))",
    ),
    # 3: the region's EC2 security groups and the account's capacity providers.
    (
        "CREATE TABLE security_groups (region TEXT, group_id TEXT, body TEXT, "
        "PRIMARY KEY (region, group_id))",
        "CREATE TABLE capacity_providers (region TEXT, name TEXT, body TEXT, "
        "PRIMARY KEY (region, name))",
    ),
)
SCHEMA_VERSION: Final = len(MIGRATIONS)

#: The tables a region's snapshot fills, and their columns after ``region``.
TABLES: Final[dict[str, tuple[str, ...]]] = {
    "clusters": ("name", "status", "body"),
    "task_definitions": ("family", "revision", "body"),
    "services": ("cluster", "name", "body"),
    "attributes": ("cluster", "instance", "name", "value"),
    "account_settings": ("principal", "name", "value"),
    "tags": ("arn", "body"),
    "tasks": ("cluster", "arn", "body"),
    "security_groups": ("group_id", "body"),
    "capacity_providers": ("name", "body"),
}

#: One region's rows, by table (columns as in :data:`TABLES`).
Rows = dict[str, list[tuple[Any, ...]]]


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One transaction (the connection is in autocommit mode otherwise): DDL included."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def default_state_dir() -> Path:
    """Where ``pyecs serve`` keeps its state unless told: ``$XDG_DATA_HOME/pyecs/serve``,
    else ``~/.local/share/pyecs/serve``."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "pyecs" / "serve"


def _version(db: sqlite3.Connection) -> int:
    found = db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if found is None:
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        return 0 if tables == 0 else -1
    row = db.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else -1


def migrate(db: sqlite3.Connection, path: Path, target: int = SCHEMA_VERSION) -> int:
    """Take the database to version ``target``; return the version it had.

    Raises:
        StateStoreError: a database of a newer pyecs, or not one of pyecs.
    """
    version = _version(db)
    if version < 0:
        raise StateStoreError(
            f"{path} is an SQLite database, but not a pyecs state store (no schema_version): "
            "point --state at another directory, or move the file away"
        )
    if version > SCHEMA_VERSION:
        raise StateStoreError(
            f"{path} was written by a newer pyecs (schema version {version}; this one knows "
            f"up to {SCHEMA_VERSION}): upgrade pyecs, or point --state at another directory"
        )
    with transaction(db):  # all the steps, or none
        if version == 0:
            db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            db.execute("INSERT INTO schema_version VALUES (0)")
        for step in range(version, target):
            for statement in MIGRATIONS[step]:
                db.execute(statement)
        db.execute("UPDATE schema_version SET version = ?", (max(version, target),))
    return version


class StateStore:
    """The state of ``pyecs serve`` in ``directory``, kept in SQLite.

    Args:
        directory: Made if missing; holds ``state.sqlite3`` and ``serve.lock``.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory).expanduser()
        self.path = self.directory / DB_NAME
        self._db: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._limiter = anyio.CapacityLimiter(1)

    async def _run(self, fn: Callable[..., _T], *args: Any) -> _T:
        return await anyio.to_thread.run_sync(functools.partial(fn, *args), limiter=self._limiter)

    async def open(self) -> None:
        """Lock the directory, open the database and migrate it.

        Raises:
            StateStoreError: another server holds the directory, or the database is
                corrupt, not pyecs's, or newer (the message names the file and the way out).
        """
        await self._run(self._open)

    def _open(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StateStoreError(
                f"cannot use {self.directory} as the state directory: {exc.strerror or exc}; "
                "pass another --state"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StateStoreError(
                f"{self.directory} is in use by another pyecs serve (pid {holder}): stop it, "
                "or pass another --state"
            ) from exc
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd
        try:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            self._unlock()
            raise StateStoreError(f"cannot open {self.path}: {exc}") from exc
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            migrate(db, self.path)
        except sqlite3.DatabaseError as exc:
            db.close()
            self._unlock()
            raise StateStoreError(
                f"{self.path} is not a usable SQLite database ({exc}): move it away to start "
                "with an empty state (clusters, task definitions and services are then lost), "
                "or point --state at another directory"
            ) from exc
        except BaseException:
            db.close()
            self._unlock()
            raise
        self._db = db

    def _unlock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing releases the lock

    def _require(self) -> sqlite3.Connection:
        if self._db is None:
            raise StateStoreError(f"the state store {self.path} is not open")
        return self._db

    async def load(self) -> dict[str, Rows]:
        """Every region's rows."""
        return await self._run(self._load)

    def _load(self) -> dict[str, Rows]:
        db = self._require()
        out: dict[str, Rows] = {}
        for table, columns in TABLES.items():
            query = f"SELECT region, {', '.join(columns)} FROM {table} ORDER BY rowid"
            for region, *values in db.execute(query):
                out.setdefault(region, {t: [] for t in TABLES})[table].append(tuple(values))
        return out

    async def save(self, region: str, rows: Mapping[str, Sequence[tuple[Any, ...]]]) -> None:
        """Replace everything of ``region`` with ``rows``, in one committed transaction."""
        await self._run(self._save, region, rows)

    def _save(self, region: str, rows: Mapping[str, Sequence[tuple[Any, ...]]]) -> None:
        db = self._require()
        with transaction(db):
            for table, columns in TABLES.items():
                db.execute(f"DELETE FROM {table} WHERE region = ?", (region,))
                marks = ", ".join("?" * (len(columns) + 1))
                db.executemany(
                    f"INSERT INTO {table} (region, {', '.join(columns)}) VALUES ({marks})",
                    [(region, *row) for row in rows.get(table, ())],
                )

    async def aclose(self) -> None:
        """Close the database and release the directory. Idempotent."""
        await self._run(self._close)

    def _close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            db.close()
        self._unlock()
