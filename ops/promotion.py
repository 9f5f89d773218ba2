"""Promotion with four eyes, and one-step rollback.

`request_deploy` (`/ft deploy RUN`, `/ft promote`, `ftbot deploy`) either deploys at once (policy `optional`) or
records a pending request with the challenger report attached (`required` — the documented setting for
customer-facing channels). The policy lives in the database (ops/policy.py), the same for every process and edge. A
different person with the approver role must approve it before the new model answers anyone; the requester cannot
approve their own request, through either edge (FTBOT_IDENTITIES links one person's Slack id and logins); requests
expire after FTBOT_APPROVAL_TTL_H hours (24). `rollback` returns a scope to its
previous champion at once: going back to a model that was already approved needs no new approval. Every step is
audited with who, when and the figures the approver saw. The state changes themselves are guarded UPDATEs in one
transaction each (storage/approvals.py), so races end in one clear outcome.
"""
from __future__ import annotations

from engine.errors import ConfigError, NotFound
from storage import approvals as table
from storage import connect
from storage import runs as runs_table
from storage.errors import Conflict

from ops import access, challengers, deployments, policy
from ops.access import Actor, PermissionDenied

MODES = policy.MODES


def figures(rep: dict | None) -> dict:
    """The report's headline numbers, for the audit log and the approval message."""
    if not rep:
        return {}
    out = {k: rep.get(k) for k in ("questions", "agreement") if rep.get(k) is not None}
    for who in ("champion", "challenger"):
        side = rep.get(who) or {}
        out.update({f"{who}_{k}": v for k, v in side.items() if v is not None})
    for ds in rep.get("labelled") or []:
        if "champion" in ds:
            out[f"{ds['name']}: champion accuracy"] = ds["champion"]["accuracy"]
            out[f"{ds['name']}: challenger accuracy"] = ds["challenger"]["accuracy"]
    for k in ("candidate_accuracy", "candidate_macro_f1", "current_accuracy", "current_macro_f1"):
        if rep.get(k) is not None:
            out[k] = rep[k]
    return out


def _attached_report(home, scope: str, run: dict, current: dict | None) -> dict:
    """The challenger report when this run is (or was) the scope's challenger; else both runs' own metrics."""
    with connect(home) as db:
        from storage import challengers as ch_table
        ch = ch_table.latest(db, scope)
    if ch is not None and int(ch["run_id"]) == int(run["id"]):
        try:
            rep = challengers.report(home, scope)
            rep.pop("timeline", None)
            return rep
        except Exception as e:  # noqa: BLE001 — a request without the live report is still reviewable
            return {"error": f"challenger report unavailable: {e}"}
    rep = {"candidate_run_id": run["id"], "candidate_accuracy": run.get("accuracy"),
           "candidate_macro_f1": run.get("macro_f1")}
    if current:
        rep.update(current_run_id=current["id"], current_accuracy=current.get("accuracy"),
                   current_macro_f1=current.get("macro_f1"))
    return rep


def request_deploy(home, run_id, *, scope: str = deployments.DEFAULT_SCOPE, actor: Actor | str,
                   approval: str | None = None) -> dict:
    """Deploy now (policy optional) or open a pending request (required). Returns {"status": "deployed"|"pending",
    ...}. `approval` overrides the policy for internal callers (the demo's story); the edges never pass it."""
    mode = approval or policy.approval_mode(home)
    if mode not in MODES:
        raise ConfigError("approval", mode, "required or optional")
    if mode == "optional":
        dep = deployments.deploy(home, run_id, scope=scope, actor=actor, approval="not required (policy optional)")
        _after_switch(home, scope, dep["run_id"], actor)
        return {"status": "deployed", "scope": scope, "run_id": dep["run_id"], "deployment": dep, "run": dep["run"]}
    a = access.as_actor(actor)
    with access.acting(home, a, "deploy", f"run:{run_id}", scope=scope, approval="required") as note:
        with connect(home) as db:
            run = runs_table.get(db, run_id)
            if run["status"] != "succeeded" or not run.get("artifact_path"):
                raise Conflict(f"run #{run['id']} is {run['status']}; only a succeeded run can be deployed")
            cur = deployments.active(home, scope)
            if cur and int(cur["run_id"]) == int(run["id"]):
                raise Conflict(f"run #{run['id']} already answers questions in {scope}")
            current = runs_table.get(db, cur["run_id"]) if cur else None
        rep = _attached_report(home, scope, run, current)
        expires = policy.expires_at()
        with connect(home) as db:
            req = table.create_request(db, scope=scope, run_id=run["id"], requested_by=a.id, expires_at=expires,
                                       report=rep)
        note.update(request_id=req["id"], status="pending", expires_at=expires, figures=figures(rep))
    req["run"] = run
    return req


def promote(home, *, scope: str, actor: Actor | str, approval: str | None = None) -> dict:
    """Promote the scope's active challenger (the same request as deploying its run)."""
    ch = challengers.active(home, scope)
    if ch is None:
        raise NotFound(f"no challenger runs in {scope}; use `deploy RUN`, or attach one with `challenge RUN`")
    return request_deploy(home, ch["run_id"], scope=scope, actor=actor, approval=approval)


def _explain(outcome: str, req: dict) -> str:
    rid = f"request #{req['id']}"
    if outcome == "not_pending":
        by = f" by {req['decided_by']}" if req.get("decided_by") else ""
        return f"{rid} is {req['status']}{by} already; nothing changed"
    if outcome == "expired":
        return f"{rid} expired at {req['expires_at'][:16].replace('T', ' ')} UTC; ask for a new one"
    if outcome in ("superseded", "run_gone"):
        return f"{rid} no longer applies: {req.get('reason')}; ask for a new one if it is still wanted"
    return f"{rid}: {outcome}"


def approve(home, request_id, *, actor: Actor | str) -> dict:
    """Four eyes: an approver other than the requester switches the champion. One outcome under races."""
    a = access.as_actor(actor)
    with access.acting(home, a, "approve", f"request:{request_id}") as note:
        expire_due(home)
        with connect(home) as db:
            before = table.get_request(db, request_id)
            note.update(scope=before["scope"], run_id=before["run_id"], requested_by=before["requested_by"],
                        figures=figures(before["report"]))
            if a.is_same_person(before["requested_by"]) and before["status"] == "pending":
                raise PermissionDenied(f"you asked for request #{before['id']} yourself; another approver must "
                                       "approve it (four eyes)")
            outcome, req = table.decide(db, request_id, by=a.id, approve=True, same_person=tuple(a.aliases))
        note.update(outcome=outcome)
        if outcome == "own_request":
            raise PermissionDenied(f"you asked for request #{req['id']} yourself; another approver must approve it")
        if outcome != "approved":
            raise Conflict(_explain(outcome, req))
    if req.get("kind") != "policy":
        _after_switch(home, req["scope"], req["run_id"], a)
    return req


def reject(home, request_id, *, actor: Actor | str, reason: str | None = None) -> dict:
    a = access.as_actor(actor)
    with access.acting(home, a, "reject", f"request:{request_id}", reason=reason) as note:
        expire_due(home)
        with connect(home) as db:
            outcome, req = table.decide(db, request_id, by=a.id, approve=False, reason=reason)
        note.update(outcome=outcome, scope=req["scope"], run_id=req["run_id"], figures=figures(req["report"]))
        if outcome != "rejected":
            raise Conflict(_explain(outcome, req))
    return req


def expire_due(home) -> list[dict]:
    with connect(home) as db:
        due = table.expire_due(db)
    for r in due:
        access.record(home, Actor.system("approvals"), "deploy.expire", f"request:{r['id']}", scope=r["scope"],
                      run_id=r["run_id"], requested_by=r["requested_by"], expires_at=r["expires_at"])
    return due


def rollback(home, *, scope: str = deployments.DEFAULT_SCOPE, actor: Actor | str) -> dict:
    """Back to the previous champion at once (it was approved before)."""
    a = access.as_actor(actor)
    with access.acting(home, a, "rollback", scope) as note:
        with connect(home) as db:
            undone, new = table.rollback(db, scope, a.id)
        note.update(from_run=undone["run_id"], to_run=new["run_id"], deployment_id=new["id"])
    _after_switch(home, scope, new["run_id"], a)
    return {"scope": scope, "from_run_id": undone["run_id"], "run_id": new["run_id"], "deployment": new,
            "undone": undone}


def _after_switch(home, scope: str, run_id: int, actor) -> None:
    """A challenger that became the champion has nothing left to challenge."""
    ch = challengers.active(home, scope)
    if ch is not None and int(ch["run_id"]) == int(run_id):
        with connect(home) as db:
            from storage import challengers as ch_table
            if ch_table.end(db, ch["id"], by=access.as_actor(actor).id, reason="promoted to champion"):
                access.record(home, actor, "challenge.end", f"run:{run_id}", scope=scope, reason="promoted")


def get_request(home, request_id) -> dict:
    with connect(home) as db:
        return table.get_request(db, request_id)


def set_request_message(home, request_id: int, channel: str, ts: str) -> None:
    with connect(home) as db:
        table.set_message(db, request_id, channel, ts)


def history(home, scope: str | None = None, limit: int = 30) -> dict:
    """Deployment history (newest first), pending requests and challengers, per scope or everywhere."""
    expire_due(home)
    with connect(home) as db:
        rows = table.history(db, scope, limit)
        pending = table.list_requests(db, scope, status="pending")
        recent = table.list_requests(db, scope, limit=10)
    chs = [c for c in challengers.list_active(home) if scope is None or c["scope"] == scope]
    pol = policy.current(home)
    return {"scope": scope, "deployments": rows, "pending": pending, "requests": recent, "challengers": chs,
            "approval": pol["mode"], "approval_set_by": pol["set_by"], "approval_set_at": pol["set_at"]}
