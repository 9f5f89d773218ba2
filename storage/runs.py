"""Runs: the queue and the source of truth for every training.

States: queued → running → succeeded | failed | cancelled. Claiming is one atomic UPDATE, so two workers
racing for one run cannot both get it.
"""
from __future__ import annotations

from sqlite_utils import Database

from storage.db import dumps, loads, now, write
from storage.errors import Conflict, Missing

TERMINAL = ("succeeded", "failed", "cancelled")
_JSON = ("config", "origin", "progress", "metrics")


def _decode(row: dict) -> dict:
    row = dict(row)
    for k in _JSON:
        row[k] = loads(row.get(k), {})
    return row


def create(db: Database, *, dataset: str, config: dict, requester: str, origin: dict | None = None,
           status: str = "queued", pre_loss: str | None = None) -> dict:
    """Insert a run. `config` is TrainConfig.to_dict() (user key names)."""
    rec = {
        "dataset": dataset, "base": config["base"], "method": config["method"],
        "loss_alpha": float(config["alpha"]), "pre_loss": pre_loss, "freeze": config["freeze"],
        "config": dumps(config), "status": status, "requester": requester, "origin": dumps(origin or {}),
        "created_at": now(),
    }
    with write(db):
        run_id = db["runs"].insert(rec).last_pk
    return get(db, run_id)


def get(db: Database, run_id: int | str) -> dict:
    try:
        rid = int(str(run_id).lstrip("#"))
    except ValueError:
        raise Missing(f"{run_id!r} is not a run id; run ids are numbers such as 7 (see `runs`)") from None
    rows = list(db.query("SELECT * FROM runs WHERE id = ?", [rid]))
    if not rows:
        raise Missing(f"no run #{rid}; see `runs` for the list")
    return _decode(rows[0])


def list_recent(db: Database, limit: int = 20, dataset: str | None = None, status: str | None = None) -> list[dict]:
    where, args = [], []
    if dataset:
        where.append("dataset = ?"); args.append(dataset)
    if status:
        where.append("status = ?"); args.append(status)
    sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT ?"
    return [_decode(r) for r in db.query(sql, args + [limit])]


def update(db: Database, run_id: int, **fields) -> None:
    rec = {k: (dumps(v) if k in _JSON else v) for k, v in fields.items()}
    with write(db):
        db["runs"].update(int(run_id), rec)


def queue_position(db: Database, run_id: int) -> int | None:
    """1-based position among queued runs, or None if the run is not queued."""
    row = get(db, run_id)
    if row["status"] != "queued":
        return None
    return db.execute("SELECT COUNT(*) FROM runs WHERE status = 'queued' AND id <= ?", [int(run_id)]).fetchone()[0]


def claim_next(db: Database, worker: str) -> dict | None:
    """Atomically move the oldest queued run to running for `worker`. None when the queue is empty."""
    t = now()
    with write(db):
        cur = db.execute(
            "UPDATE runs SET status = 'running', worker = ?, started_at = COALESCE(started_at, ?), heartbeat_at = ?,"
            " attempts = attempts + 1 WHERE id = (SELECT id FROM runs WHERE status = 'queued' AND cancel_requested = 0"
            " ORDER BY id LIMIT 1) AND status = 'queued' RETURNING id",
            [worker, t, t],
        )
        row = cur.fetchone()
    return get(db, row[0]) if row else None


def next_queued(db: Database) -> dict | None:
    """The run at the head of the queue (a read: the caller claims it with `claim`, which may lose a race)."""
    rows = list(db.query("SELECT * FROM runs WHERE status = 'queued' AND cancel_requested = 0 ORDER BY id LIMIT 1"))
    return _decode(rows[0]) if rows else None


def claim(db: Database, run_id: int, worker: str) -> bool:
    """Claim one specific queued run (foreground `ftbot train`). True if this caller got it."""
    t = now()
    with write(db):
        n = db.execute(
            "UPDATE runs SET status = 'running', worker = ?, started_at = COALESCE(started_at, ?), heartbeat_at = ?,"
            " attempts = attempts + 1 WHERE id = ? AND status = 'queued'",
            [worker, t, t, int(run_id)],
        ).rowcount
    return n == 1


def heartbeat(db: Database, run_id: int, worker: str, progress: dict | None = None) -> bool:
    """Refresh the heartbeat. False if the run is no longer ours (cancelled, taken over)."""
    sets, args = ["heartbeat_at = ?"], [now()]
    if progress is not None:
        sets.append("progress = ?"); args.append(dumps(progress))
    with write(db):
        n = db.execute(f"UPDATE runs SET {', '.join(sets)} WHERE id = ? AND worker = ? AND status = 'running'",
                       args + [int(run_id), worker]).rowcount
    return n == 1


def finish(db: Database, run_id: int, status: str, *, reason: str | None = None, error: str | None = None,
           worker: str | None = None, **fields) -> bool:
    """Move a run to a terminal state. With `worker`, only if that worker still holds it."""
    if status not in TERMINAL:
        raise ValueError(status)
    rec = {k: (dumps(v) if k in _JSON else v) for k, v in fields.items()}
    rec.update(status=status, reason=reason, error=error, finished_at=now())
    cols = ", ".join(f"{k} = ?" for k in rec)
    where = "id = ? AND status NOT IN ('succeeded', 'failed', 'cancelled')"
    args = list(rec.values()) + [int(run_id)]
    if worker:
        where += " AND worker = ?"; args.append(worker)
    with write(db):
        n = db.execute(f"UPDATE runs SET {cols} WHERE {where}", args).rowcount
    return n == 1


def request_cancel(db: Database, run_id: int, reason: str) -> str:
    """Cancel: a queued run stops at once; a running one is flagged and its worker stops it within seconds.
    Returns the resulting status ('cancelled' or 'running')."""
    run = get(db, run_id)
    if run["status"] in TERMINAL:
        raise Conflict(f"run #{run['id']} already {run['status']}; nothing to cancel")
    with write(db):
        n = db.execute("UPDATE runs SET status = 'cancelled', reason = ?, finished_at = ?, cancel_requested = 1"
                       " WHERE id = ? AND status = 'queued'", [reason, now(), int(run_id)]).rowcount
        if n == 0:
            db.execute("UPDATE runs SET cancel_requested = 1, reason = ? WHERE id = ? AND status = 'running'",
                       [reason, int(run_id)])
    return get(db, run_id)["status"]


def cancel_requested(db: Database, run_id: int) -> bool:
    row = db.execute("SELECT cancel_requested FROM runs WHERE id = ?", [int(run_id)]).fetchone()
    return bool(row and row[0])


def stale_running(db: Database, older_than: str) -> list[dict]:
    """Running runs whose heartbeat is older than the ISO timestamp `older_than`."""
    return [_decode(r) for r in db.query(
        "SELECT * FROM runs WHERE status = 'running' AND (heartbeat_at IS NULL OR heartbeat_at < ?) ORDER BY id",
        [older_than])]


def requeue(db: Database, run_id: int, worker: str | None = None) -> bool:
    """Put a running run whose worker died back in the queue (it resumes from its checkpoint)."""
    where, args = "id = ? AND status = 'running'", [int(run_id)]
    if worker:
        where += " AND worker = ?"; args.append(worker)
    with write(db):
        n = db.execute(f"UPDATE runs SET status = 'queued', worker = NULL WHERE {where}", args).rowcount
    return n == 1


def previous_succeeded(db: Database, dataset: str, before_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM runs WHERE dataset = ? AND status = 'succeeded' AND id < ? ORDER BY id DESC"
                         " LIMIT 1", [dataset, int(before_id)]))
    return _decode(rows[0]) if rows else None


def count_for_dataset(db: Database, dataset: str) -> int:
    return db.execute("SELECT COUNT(*) FROM runs WHERE dataset = ?", [dataset]).fetchone()[0]


def brief_many(db: Database, run_ids: list[int]) -> dict[int, dict]:
    """{id: {id, status, finished_at, config}} for the given runs (retention reads these for many folders at once)."""
    if not run_ids:
        return {}
    q = ",".join("?" * len(run_ids))
    rows = db.query(f"SELECT id, status, finished_at, config FROM runs WHERE id IN ({q})", [int(i) for i in run_ids])
    return {r["id"]: {**dict(r), "config": loads(r["config"], {})} for r in rows}


def last_speed(db: Database, base: str, method: str, device: str | None = None) -> float | None:
    """Training examples/s of the latest succeeded run of this base and method (the preview's time estimate)."""
    for r in db.query("SELECT metrics, config FROM runs WHERE status = 'succeeded' AND base = ? AND method = ?"
                      " ORDER BY id DESC LIMIT 5", [base, method]):
        speed = (loads(r["metrics"], {}).get("train") or {}).get("train_examples_per_s")
        cfg_device = loads(r["config"], {}).get("device")
        if speed and (device is None or cfg_device in (device, "auto")):
            return float(speed)
    return None
