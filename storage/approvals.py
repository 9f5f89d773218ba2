"""Deploy requests (four eyes), the deployment history of a scope, and rollback.

Every state change is one write transaction (BEGIN IMMEDIATE) whose UPDATEs are guarded by the state they expect
(`WHERE status = 'pending'`, `WHERE active = 1`), so two approvals at once, an approval after expiry or an approval
racing a rollback each end in exactly one outcome, whatever the interleaving and however many processes share the
database.
"""
from __future__ import annotations

from sqlite_utils import Database

from storage import settings
from storage.db import dumps, loads, now, write
from storage.errors import Conflict, Missing


def _row(r) -> dict:
    r = dict(r)
    for key in ("report", "payload"):
        if key in r:
            r[key] = loads(r[key], {})
    return r


# ---- requests ----------------------------------------------------------------------------------------------------
def create_request(db: Database, *, scope: str, run_id: int, requested_by: str, expires_at: str,
                   report: dict | None = None, kind: str = "deploy", payload: dict | None = None) -> dict:
    """A pending request: `deploy` a run to a scope, or change a `policy` setting (payload {key: value}; scope and
    run_id are then '*' and 0)."""
    with write(db):
        cur = _active(db, scope) if kind == "deploy" else None
        pk = db["deploy_requests"].insert({
            "scope": scope, "run_id": int(run_id), "requested_by": requested_by, "requested_at": now(),
            "expires_at": expires_at, "status": "pending", "report": dumps(report or {}), "kind": kind,
            "payload": dumps(payload or {}),
            "base_deployment_id": cur["id"] if cur else None, "base_run_id": cur["run_id"] if cur else None}).last_pk
    return get_request(db, pk)


def get_request(db: Database, request_id: int) -> dict:
    rows = list(db.query("SELECT * FROM deploy_requests WHERE id = ?", [int(request_id)]))
    if not rows:
        raise Missing(f"no deploy request #{request_id}")
    return _row(rows[0])


def list_requests(db: Database, scope: str | None = None, status: str | None = None, limit: int = 20) -> list[dict]:
    where, args = [], []
    if scope:
        where.append("scope = ?"); args.append(scope)
    if status:
        where.append("status = ?"); args.append(status)
    sql = "SELECT * FROM deploy_requests" + (" WHERE " + " AND ".join(where) if where else "") + \
          " ORDER BY id DESC LIMIT ?"
    return [_row(r) for r in db.query(sql, args + [int(limit)])]


def set_message(db: Database, request_id: int, channel: str, ts: str) -> None:
    with write(db):
        db.execute("UPDATE deploy_requests SET channel = ?, ts = ? WHERE id = ?", [channel, ts, int(request_id)])


def expire_due(db: Database, at: str | None = None) -> list[dict]:
    """Mark pending requests past their expiry as expired; returns them (for the audit log)."""
    at = at or now()
    with write(db):
        due = [_row(r) for r in db.query("SELECT * FROM deploy_requests WHERE status = 'pending' AND expires_at <= ?",
                                         [at])]
        db.execute("UPDATE deploy_requests SET status = 'expired', decided_at = ? WHERE status = 'pending' AND "
                   "expires_at <= ?", [at, at])
    return due


def decide(db: Database, request_id: int, *, by: str, approve: bool, reason: str | None = None,
           same_person: tuple[str, ...] = ()) -> tuple[str, dict]:
    """Approve (switching the scope's champion, or changing the policy, in the same transaction) or reject a pending
    request. `same_person`: the approver's other identities (a Slack id and a login of one person).

    Returns (outcome, request row after the attempt); outcome is one of
      approved | rejected            — this call decided it
      not_pending                    — someone decided it before (the row says who and how)
      expired                        — past its expiry: marked expired now (if nobody had yet)
      own_request                    — the requester tried to approve their own request (nothing changes)
      superseded                     — the champion changed since the request (deploy, rollback): marked superseded
      run_gone                       — the requested run no longer has a model: marked superseded
    """
    at = now()
    with write(db):
        req = get_request(db, request_id)
        if req["status"] != "pending":
            return "not_pending", req
        if req["expires_at"] <= at:
            db.execute("UPDATE deploy_requests SET status = 'expired', decided_at = ? WHERE id = ? AND "
                       "status = 'pending'", [at, req["id"]])
            return "expired", get_request(db, req["id"])
        if not approve:
            n = db.execute("UPDATE deploy_requests SET status = 'rejected', decided_by = ?, decided_at = ?, reason = ?"
                           " WHERE id = ? AND status = 'pending'", [by, at, reason, req["id"]]).rowcount
            return ("rejected" if n == 1 else "not_pending"), get_request(db, req["id"])
        if req["requested_by"] == by or req["requested_by"] in same_person:
            return "own_request", req
        if req.get("kind") == "policy":
            n = _mark_approved(db, req["id"], by, at)
            if n == 1:
                for key, value in (req.get("payload") or {}).items():
                    settings.upsert(db, key, str(value), f"{req['requested_by']}+{by}", at)
            return ("approved" if n == 1 else "not_pending"), get_request(db, req["id"])
        cur = _active(db, req["scope"])
        if (cur["id"] if cur else None) != req["base_deployment_id"]:
            what = (f"run #{cur['run_id']} ({cur['via']} by {cur['deployed_by']})" if cur else "nothing")
            db.execute("UPDATE deploy_requests SET status = 'superseded', decided_at = ?, reason = ? WHERE id = ? AND"
                       " status = 'pending'", [at, f"the champion changed since the request: now {what}", req["id"]])
            return "superseded", get_request(db, req["id"])
        run = list(db.query("SELECT status, artifact_path FROM runs WHERE id = ?", [req["run_id"]]))
        if not run or run[0]["status"] != "succeeded" or not run[0]["artifact_path"]:
            db.execute("UPDATE deploy_requests SET status = 'superseded', decided_at = ?, reason = ? WHERE id = ? AND"
                       " status = 'pending'", [at, f"run #{req['run_id']} has no model any more", req["id"]])
            return "run_gone", get_request(db, req["id"])
        n = _mark_approved(db, req["id"], by, at)
        if n != 1:     # cannot happen inside this transaction; kept as the guard the docstring promises
            return "not_pending", get_request(db, req["id"])
        dep = switch(db, req["scope"], req["run_id"], by, via="approval", request_id=req["id"])
        db.execute("UPDATE deploy_requests SET deployment_id = ? WHERE id = ?", [dep["id"], req["id"]])
    return "approved", get_request(db, req["id"])


def _mark_approved(db: Database, request_id: int, by: str, at: str) -> int:
    """Approve a request still pending (inside decide's transaction); → 1, or 0 when it was decided meanwhile."""
    return db.execute("UPDATE deploy_requests SET status = 'approved', decided_by = ?, decided_at = ? WHERE id = ?"
                      " AND status = 'pending'", [by, at, request_id]).rowcount


# ---- deployments history and rollback ------------------------------------------------------------------------------
def _active(db: Database, scope: str) -> dict | None:
    rows = list(db.query("SELECT * FROM deployments WHERE scope = ? AND active = 1 ORDER BY id DESC LIMIT 1",
                         [scope]))
    return dict(rows[0]) if rows else None


def switch(db: Database, scope: str, run_id: int, by: str, *, via: str, request_id: int | None = None,
           restores_id: int | None = None) -> dict:
    """Make `run_id` the champion of `scope` (the previous row stays in the history, inactive)."""
    with write(db):
        db.execute("UPDATE deployments SET active = 0 WHERE scope = ? AND active = 1", [scope])
        pk = db["deployments"].insert({"scope": scope, "run_id": int(run_id), "deployed_by": by, "deployed_at": now(),
                                       "active": 1, "via": via, "request_id": request_id,
                                       "restores_id": restores_id}).last_pk
    return dict(db["deployments"].get(pk))


def rollback_target(db: Database, scope: str, current: dict) -> dict | None:
    """The champion before `current`: the latest earlier deploy (not itself undone by a rollback) of another run."""
    rows = list(db.query(
        "SELECT d.* FROM deployments d JOIN runs r ON r.id = d.run_id WHERE d.scope = ? AND d.id < ? AND"
        " d.rolled_back_at IS NULL AND d.via != 'rollback' AND d.run_id != ? AND r.status = 'succeeded' AND"
        " r.artifact_path IS NOT NULL ORDER BY d.id DESC LIMIT 1",
        [scope, current["id"], current["run_id"]]))
    return dict(rows[0]) if rows else None


def rollback(db: Database, scope: str, by: str, *, expect_deployment_id: int | None = None) -> tuple[dict, dict]:
    """Undo the current champion of `scope`: returns (undone row, new active row). Conflict when there is nothing
    to go back to, or when the champion changed under the caller (expect_deployment_id)."""
    at = now()
    with write(db):
        cur = _active(db, scope)
        if cur is None:
            raise Conflict(f"nothing is deployed in {scope}; there is nothing to roll back")
        if expect_deployment_id is not None and cur["id"] != expect_deployment_id:
            raise Conflict(f"the champion of {scope} changed meanwhile (now run #{cur['run_id']}); look at "
                           "`deployments` and roll back again if you still want to")
        target = rollback_target(db, scope, cur)
        if target is None:
            raise Conflict(f"run #{cur['run_id']} is the first model deployed in {scope}; there is no earlier "
                           "champion to go back to")
        undone = [cur["id"]] + ([cur["restores_id"]] if cur.get("via") == "rollback" and cur.get("restores_id") else [])
        n = db.execute("UPDATE deployments SET active = 0, rolled_back_at = ?, rolled_back_by = ? WHERE id = ? AND "
                       "active = 1", [at, by, cur["id"]]).rowcount
        if n != 1:
            raise Conflict(f"the champion of {scope} changed meanwhile; try again")
        for extra in undone[1:]:
            db.execute("UPDATE deployments SET rolled_back_at = ?, rolled_back_by = ? WHERE id = ? AND "
                       "rolled_back_at IS NULL", [at, by, extra])
        new = switch(db, scope, target["run_id"], by, via="rollback", restores_id=target["id"])
    return dict(db["deployments"].get(cur["id"])), new


def history(db: Database, scope: str | None = None, limit: int = 30) -> list[dict]:
    sql = "SELECT * FROM deployments" + (" WHERE scope = ?" if scope else "") + " ORDER BY id DESC LIMIT ?"
    return [dict(r) for r in db.query(sql, ([scope] if scope else []) + [int(limit)])]


def for_run(db: Database, run_id: int) -> tuple[list[dict], list[dict]]:
    """(deploy requests for the run, deployments of the run), oldest first: its approval history."""
    reqs = [_row(r) for r in db.query("SELECT * FROM deploy_requests WHERE run_id = ? AND kind = 'deploy' "
                                      "ORDER BY id", [int(run_id)])]
    deps = [dict(r) for r in db.query("SELECT * FROM deployments WHERE run_id = ? ORDER BY id", [int(run_id)])]
    return reqs, deps
