"""Per-step run events: progress (losses, lr), evaluations, milestones."""
from __future__ import annotations

from sqlite_utils import Database

from storage.db import dumps, loads, now, write

_COLS = ("step", "epoch", "loss", "loss_new", "loss_pre", "lr")


def add(db: Database, run_id: int, kind: str, *, message: str | None = None, data: dict | None = None, **fields) -> int:
    rec = {"run_id": int(run_id), "at": now(), "kind": kind, "message": message, "data": dumps(data or {})}
    rec.update({k: fields.get(k) for k in _COLS})
    with write(db):
        return db["run_events"].insert(rec).last_pk


def list_for(db: Database, run_id: int, kind: str | None = None, after_id: int = 0) -> list[dict]:
    sql = "SELECT * FROM run_events WHERE run_id = ? AND id > ?"
    args: list = [int(run_id), int(after_id)]
    if kind:
        sql += " AND kind = ?"; args.append(kind)
    out = []
    for r in db.query(sql + " ORDER BY id", args):
        r = dict(r); r["data"] = loads(r["data"], {}); out.append(r)
    return out
