"""Connections: one per unit of work, WAL mode, a busy timeout so concurrent writers wait instead of failing.

WAL needs every process on one host (its index lives in shared memory), so machines that share FTBOT_HOME over a
network filesystem set FTBOT_DB_JOURNAL=delete: SQLite's rollback journal, which coordinates through POSIX file
locks only, with synchronous=FULL. That is safe only where the filesystem's locks work (NFSv4 with locking on, not
`nolock`); see docs/deploy.md.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sqlite3
from pathlib import Path
from typing import Iterator

import sqlite_utils

from storage.errors import StorageError

BUSY_TIMEOUT_MS = 30_000
JOURNAL_MODES = {"wal": ("WAL", "NORMAL"), "delete": ("DELETE", "FULL")}


def journal_mode() -> str:
    """FTBOT_DB_JOURNAL: 'wal' (default, one host) or 'delete' (several hosts on a shared filesystem)."""
    value = (os.environ.get("FTBOT_DB_JOURNAL") or "wal").strip().lower()
    if value not in JOURNAL_MODES:
        raise StorageError(f"FTBOT_DB_JOURNAL={value!r} is not valid: use 'wal' (one machine, the default) or "
                           f"'delete' (several machines sharing FTBOT_HOME on a network filesystem)")
    return value


def home_dir(home: str | os.PathLike | None = None) -> Path:
    """FTBOT_HOME (default ./.ftbot): holds the database and all artifacts."""
    p = Path(home or os.environ.get("FTBOT_HOME") or ".ftbot").expanduser().resolve()
    return p


def db_path(home: str | os.PathLike | None = None) -> Path:
    return home_dir(home) / "ftbot.db"


def now() -> str:
    """UTC timestamp with microseconds, sortable as text."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


def dumps(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def loads(text, default=None):
    if text in (None, ""):
        return default
    return json.loads(text)


def open_db(home: str | os.PathLike | None = None, migrate: bool = True) -> sqlite_utils.Database:
    """Open (and migrate) the database. Caller closes it; prefer `connect`."""
    path = db_path(home)
    journal, synchronous = JOURNAL_MODES[journal_mode()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None would break sqlite-utils' transaction handling; keep the default.
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        got = conn.execute(f"PRAGMA journal_mode={journal}").fetchone()[0]
        if got.upper() != journal:
            # switching away from WAL needs every other connection closed
            conn.close()
            raise StorageError(f"the database at {path} is in {got} mode and could not switch to {journal} "
                               f"(FTBOT_DB_JOURNAL): stop every bot and worker using it, then start again")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        db = sqlite_utils.Database(conn)
        if migrate:
            _migrate_once(db, path)
        return db
    except sqlite3.OperationalError as e:
        raise StorageError(f"cannot open the database at {path}: {e}. Check FTBOT_HOME and free disk space.") from e


_migrated: set[str] = set()


def _migrate_once(db: sqlite_utils.Database, path: Path) -> None:
    """Apply pending migrations under an exclusive file lock, so processes opening a fresh database at the
    same moment do not race to create the same tables. Checked once per process and path."""
    import fcntl

    from storage.migrations import migrate, migrations

    key = str(path)
    if key in _migrated:
        return
    with open(str(path) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if migrations.pending(db):
                migrate(db)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    _migrated.add(key)


@contextlib.contextmanager
def connect(home: str | os.PathLike | None = None) -> Iterator[sqlite_utils.Database]:
    """One connection per unit of work."""
    db = open_db(home)
    try:
        yield db
    finally:
        db.close()


@contextlib.contextmanager
def write(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """A write transaction taken with BEGIN IMMEDIATE, so two writers serialise instead of deadlocking
    on a read→write upgrade. Disk-full and similar failures become StorageError with the DB unchanged."""
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    try:
        db.conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as e:
        raise StorageError(f"the database is busy or unwritable: {e}") from e
    try:
        yield db
    except sqlite3.OperationalError as e:  # e.g. "database or disk is full" inside the block
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise StorageError(f"could not save to the database ({e}); nothing was changed") from e
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    try:
        db.conn.execute("COMMIT")
    except sqlite3.OperationalError as e:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise StorageError(f"could not save to the database ({e}); nothing was changed") from e
