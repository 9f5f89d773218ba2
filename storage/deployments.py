"""Deployments: which run answers questions in a scope ('default' or a Slack channel id)."""
from __future__ import annotations

from sqlite_utils import Database

from storage.db import now, write


def deploy(db: Database, scope: str, run_id: int, deployed_by: str) -> dict:
    with write(db):
        db.execute("UPDATE deployments SET active = 0 WHERE scope = ? AND active = 1", [scope])
        pk = db["deployments"].insert({"scope": scope, "run_id": int(run_id), "deployed_by": deployed_by,
                                       "deployed_at": now(), "active": 1}).last_pk
    return dict(db["deployments"].get(pk))


def active(db: Database, scope: str) -> dict | None:
    rows = list(db.query("SELECT * FROM deployments WHERE scope = ? AND active = 1 ORDER BY id DESC LIMIT 1", [scope]))
    return dict(rows[0]) if rows else None


def list_active(db: Database) -> list[dict]:
    return [dict(r) for r in db.query("SELECT * FROM deployments WHERE active = 1 ORDER BY scope")]
