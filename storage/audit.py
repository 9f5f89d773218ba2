"""Audit log: who did what, allowed or refused."""
from __future__ import annotations

from sqlite_utils import Database

from storage.db import dumps, loads, now, write


def log(db: Database, actor: str, action: str, target: str | None = None, ok: bool = True,
        detail: dict | None = None) -> None:
    with write(db):
        db["audit"].insert({"at": now(), "actor": actor, "action": action, "target": target, "ok": int(ok),
                            "detail": dumps(detail or {})})


def recent(db: Database, limit: int = 50) -> list[dict]:
    out = []
    for r in db.query("SELECT * FROM audit ORDER BY id DESC LIMIT ?", [limit]):
        r = dict(r); r["detail"] = loads(r["detail"], {}); out.append(r)
    return out
