"""The deploy approval policy, kept in the database: `required` (four eyes — a second person approves every deploy)
or `optional` (an admin deploys at once). FTBOT_DEPLOY_APPROVAL seeds it once, when the database is created
(storage/migrations.py m005); after that only an admin changes it, through `approval`, audited. Tightening takes
effect at once; relaxing it is itself a request that another approver must approve — otherwise one admin could
switch four eyes off, deploy alone and switch it on again."""
from __future__ import annotations

import datetime as _dt
import os

from engine.errors import ConfigError
from storage import approvals, connect
from storage import settings as table

from ops import access
from ops.access import Actor

MODES = ("required", "optional")
KEY = "deploy_approval"


def ttl_hours(env=None) -> float:
    """FTBOT_APPROVAL_TTL_H: hours a pending request stays open (24)."""
    env = os.environ if env is None else env
    raw = (env.get("FTBOT_APPROVAL_TTL_H") or "").strip()
    try:
        v = float(raw) if raw else 24.0
    except ValueError:
        raise ConfigError("FTBOT_APPROVAL_TTL_H", raw, "a number of hours, e.g. 24") from None
    if v <= 0:
        raise ConfigError("FTBOT_APPROVAL_TTL_H", raw, "more than 0 hours")
    return v


def expires_at() -> str:
    """When a request opened now stops being pending: FTBOT_APPROVAL_TTL_H hours on (UTC, ISO, microseconds)."""
    return (_dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(hours=ttl_hours())).isoformat(timespec="microseconds")


def current(home) -> dict:
    """{mode, set_by, set_at}."""
    with connect(home) as db:
        row = table.get(db, KEY)
    if row is None:            # a database created before the policy existed and never migrated: err to four eyes
        return {"mode": "required", "set_by": None, "set_at": None}
    return {"mode": row["value"], "set_by": row["set_by"], "set_at": row["set_at"]}


def approval_mode(home) -> str:
    return current(home)["mode"]


def set_approval(home, mode: str | None = None, *, actor: Actor | str) -> dict:
    """Show the policy (no `mode`), tighten it at once, or ask to relax it (a pending policy request)."""
    if mode is None:
        return {**current(home), "changed": False}
    mode = str(mode).strip().lower()
    if mode not in MODES:
        raise ConfigError("approval", mode, "required (a second person approves every deploy) or optional")
    a = access.as_actor(actor)
    with access.acting(home, a, "approval", KEY, mode=mode) as note:
        cur = current(home)
        if cur["mode"] == mode:
            note.update(outcome="unchanged")
            return {**cur, "changed": False}
        if mode == "required":
            with connect(home) as db:
                row = table.put(db, KEY, mode, a.id)
            note.update(outcome="set", previous=cur["mode"])
            return {"mode": row["value"], "set_by": row["set_by"], "set_at": row["set_at"], "changed": True}
        expires = expires_at()
        with connect(home) as db:
            req = approvals.create_request(db, scope="*", run_id=0, requested_by=a.id, expires_at=expires,
                                           kind="policy", payload={KEY: mode})
        note.update(outcome="requested", request_id=req["id"])
    return req
