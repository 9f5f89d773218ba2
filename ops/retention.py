"""Data retention: questions (and every copy of them: challenger reports, the examples quoted in deploy requests),
feedback, seen deliveries and run events older than FTBOT_RETENTION_DAYS are deleted; audit entries are kept apart,
for FTBOT_AUDIT_RETENTION_DAYS.

FTBOT_RETENTION_DAYS        days customer questions (with their feedback), Slack delivery records and run events are
                            kept (default 90; `off` keeps them forever)
FTBOT_AUDIT_RETENTION_DAYS  days audit entries are kept (default 2555, about seven years; `off`: forever)

Runs on the worker's periodic retention (jobs/worker.py) and on demand with `ftbot prune` (an admin action, audited).
Request signatures remembered against replays (bot/replay.py) matter only inside Slack's 5-minute window and are
dropped after a day, whatever the setting.
"""
from __future__ import annotations

import datetime as _dt
import os
from typing import Mapping

from engine.errors import ConfigError
from storage import connect
from storage import retention as table

from ops import access
from ops.access import Actor

DEFAULT_DAYS = 90.0
DEFAULT_AUDIT_DAYS = 2555.0
SIGNATURE_PREFIX = "sig:"
SIGNATURE_KEEP_DAYS = 1.0


def _days(name: str, default: float, env: Mapping[str, str] | None) -> float | None:
    env = os.environ if env is None else env
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("off", "never", "none", "forever"):
        return None
    try:
        v = float(raw)
    except ValueError:
        raise ConfigError(name, raw, "a number of days (e.g. 90) or `off` to keep forever") from None
    if not v > 0:
        raise ConfigError(name, raw, "more than 0 days (or `off` to keep forever)")
    return v


def retention_days(env: Mapping[str, str] | None = None) -> float | None:
    return _days("FTBOT_RETENTION_DAYS", DEFAULT_DAYS, env)


def audit_retention_days(env: Mapping[str, str] | None = None) -> float | None:
    return _days("FTBOT_AUDIT_RETENTION_DAYS", DEFAULT_AUDIT_DAYS, env)


def _cutoff(now: _dt.datetime, days: float) -> str:
    return (now - _dt.timedelta(days=days)).isoformat(timespec="microseconds")


def _prune(home, *, days: float | None, audit_days: float | None, now: _dt.datetime | None) -> dict:
    now = now or _dt.datetime.now(_dt.timezone.utc)
    counts = {"questions": 0, "feedback": 0, "deliveries": 0, "events": 0, "reports": 0, "requests": 0, "audit": 0}
    with connect(home) as db:
        if days is not None:
            counts.update(table.prune(db, _cutoff(now, days)))
        counts["deliveries"] += table.prune_deliveries(db, SIGNATURE_PREFIX, _cutoff(now, SIGNATURE_KEEP_DAYS))
        if audit_days is not None:
            counts["audit"] = table.prune_audit(db, _cutoff(now, audit_days))
    return counts


def prune(home, *, actor: Actor | str, days: float | None = None, audit_days: float | None = None,
          now: _dt.datetime | None = None) -> dict:
    """Delete what is past its retention now (settings unless `days`/`audit_days` say otherwise). Returns
    {questions, feedback, deliveries, events, audit, retention_days, audit_retention_days}."""
    days = retention_days() if days is None else days
    audit_days = audit_retention_days() if audit_days is None else audit_days
    with access.acting(home, actor, "prune", None, retention_days=days, audit_retention_days=audit_days) as note:
        counts = _prune(home, days=days, audit_days=audit_days, now=now)
        note.update(counts)
    return {**counts, "retention_days": days, "audit_retention_days": audit_days}


def scheduled(home, now: _dt.datetime | None = None) -> dict:
    """The job runner's periodic prune: audited only when it removed something (an hourly no-op row would drown
    the log)."""
    days, audit_days = retention_days(), audit_retention_days()
    actor = Actor.system("retention")
    try:
        counts = _prune(home, days=days, audit_days=audit_days, now=now)
    except Exception as e:
        access.record(home, actor, "prune", None, ok=False, error=f"{type(e).__name__}: {str(e)[:300]}")
        raise
    if any(counts.values()):
        access.record(home, actor, "prune", None, retention_days=days, audit_retention_days=audit_days, **counts)
    return counts
