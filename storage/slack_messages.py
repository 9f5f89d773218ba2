"""What the bot has posted, keyed by purpose, so a restart posts nothing twice and edits the same message."""
from __future__ import annotations

import sqlite3

from sqlite_utils import Database

from storage.db import now, write


def get(db: Database, key: str) -> dict | None:
    rows = list(db.query("SELECT * FROM slack_messages WHERE key = ?", [key]))
    return dict(rows[0]) if rows else None


def reserve(db: Database, key: str, channel: str, run_id: int | None = None, thread_ts: str | None = None) -> bool:
    """Claim the right to post `key`. False if it was posted (or is being posted) already."""
    try:
        with write(db):
            db["slack_messages"].insert({"key": key, "run_id": run_id, "channel": channel, "thread_ts": thread_ts,
                                         "ts": None, "created_at": now(), "updated_at": now()})
        return True
    except sqlite3.IntegrityError:
        return False


def record(db: Database, key: str, ts: str, content_hash: str | None = None) -> None:
    with write(db):
        db.execute("UPDATE slack_messages SET ts = ?, content_hash = ?, updated_at = ? WHERE key = ?",
                   [ts, content_hash, now(), key])


def release(db: Database, key: str) -> None:
    """Forget a reservation whose post failed, so it can be tried again."""
    with write(db):
        db.execute("DELETE FROM slack_messages WHERE key = ? AND ts IS NULL", [key])


def for_run(db: Database, run_id: int) -> list[dict]:
    return [dict(r) for r in db.query("SELECT * FROM slack_messages WHERE run_id = ? ORDER BY created_at", [run_id])]


def run_for_thread(db: Database, channel: str, thread_ts: str) -> int | None:
    """The run whose status message is the root of thread (channel, thread_ts), if any."""
    row = db.execute("SELECT run_id FROM slack_messages WHERE channel = ? AND ts = ? AND key LIKE 'run:%:status'"
                     " AND run_id IS NOT NULL LIMIT 1", [channel, thread_ts]).fetchone()
    return int(row[0]) if row else None


def runs_to_sync(db: Database) -> list[int]:
    """Runs started from Slack (origin has a channel) whose Slack story is not complete (no `run:N:done`)."""
    return [r[0] for r in db.execute(
        "SELECT id FROM runs WHERE json_extract(origin, '$.channel') IS NOT NULL AND NOT EXISTS"
        " (SELECT 1 FROM slack_messages m WHERE m.key = 'run:' || runs.id || ':done' AND m.ts IS NOT NULL)"
        " ORDER BY id").fetchall()]
