"""Recurring jobs (retrain, re-evaluate) with explicit ids that survive restarts."""
from __future__ import annotations

import sqlite3

from sqlite_utils import Database

from storage.db import dumps, loads, now, write
from storage.errors import Conflict, Missing


def add(db: Database, *, id: str, kind: str, target: str, cron: str, created_by: str, options: dict | None = None,
        channel: str | None = None) -> dict:
    try:
        with write(db):
            db["schedules"].insert({"id": id, "kind": kind, "target": target, "cron": cron, "options": dumps(options or {}),
                                    "channel": channel, "created_by": created_by, "created_at": now(), "enabled": 1})
    except sqlite3.IntegrityError as e:
        raise Conflict(f"a schedule with id {id!r} exists already") from e
    return get(db, id)


def get(db: Database, id: str) -> dict:
    rows = list(db.query("SELECT * FROM schedules WHERE id = ?", [id]))
    if not rows:
        raise Missing(f"no schedule {id!r}")
    r = dict(rows[0]); r["options"] = loads(r["options"], {}); return r


def list_all(db: Database, enabled_only: bool = False) -> list[dict]:
    sql = "SELECT * FROM schedules" + (" WHERE enabled = 1" if enabled_only else "") + " ORDER BY id"
    out = []
    for r in db.query(sql):
        r = dict(r); r["options"] = loads(r["options"], {}); out.append(r)
    return out


def remove(db: Database, id: str) -> None:
    get(db, id)
    with write(db):
        db.execute("DELETE FROM schedules WHERE id = ?", [id])


def mark_run(db: Database, id: str) -> None:
    with write(db):
        db.execute("UPDATE schedules SET last_run_at = ? WHERE id = ?", [now(), id])


def claim_fire(db: Database, schedule_id: str, fire_iso: str) -> bool:
    """Atomically take one fire of a schedule: only the first process to move last_run_at to `fire_iso` acts."""
    with write(db):
        n = db.execute("UPDATE schedules SET last_run_at = ? WHERE id = ? AND enabled = 1 AND "
                       "(last_run_at IS NULL OR last_run_at < ?)", [fire_iso, schedule_id, fire_iso]).rowcount
    return n == 1


def set_note(db: Database, schedule_id: str, at: str) -> None:
    """A drift schedule posted its quiet weekly line at `at`."""
    with write(db):
        db.execute("UPDATE schedules SET last_note_at = ? WHERE id = ?", [at, schedule_id])
