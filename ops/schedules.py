"""Schedules: recurring retraining, re-evaluation, challenger reports and drift checks on cron expressions — adding,
listing and removing them. What one fire does is ops/firing.py's; the clock itself (APScheduler, in-process) is the
job runner's: jobs/scheduler.py.

Cron expressions are standard five-field crontab in FTBOT_TZ (default UTC): day-of-week 0 and 7 are Sunday,
1 Monday (APScheduler's own numbering starts at Monday; we translate). Each fire is claimed in the schedules table
first (storage.schedules.claim_fire), so with several processes on one FTBOT_HOME exactly one acts on it. A retrain
is skipped while the previous one from the same schedule is still queued or running.
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
import re

from engine.errors import ConfigError
from storage import connect
from storage import datasets as datasets_table
from storage import deployments
from storage import schedules as table

from ops import access
from ops.access import Actor


def timezone() -> str:
    """FTBOT_TZ: time zone of cron expressions (UTC)."""
    return os.environ.get("FTBOT_TZ", "").strip() or "UTC"


def misfire_grace_s() -> int:
    """FTBOT_MISFIRE_GRACE: seconds a missed fire may still run late, once (600)."""
    raw = os.environ.get("FTBOT_MISFIRE_GRACE", "").strip()
    try:
        value = int(float(raw)) if raw else 600
    except ValueError:
        raise ConfigError("FTBOT_MISFIRE_GRACE", raw, "a number of seconds, e.g. 600") from None
    if value < 1:
        raise ConfigError("FTBOT_MISFIRE_GRACE", raw, "at least 1 second")
    return value


log = logging.getLogger("ftbot.jobs")

KINDS = ("retrain", "reeval", "challenge-report", "drift")
MIN_INTERVAL_S = 15 * 60  # a retrain every few minutes would flood the queue
_DOW = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
CRON_HELP = ("five fields 'minute hour day-of-month month day-of-week' in {tz}, e.g. '0 6 * * 1' (Mondays 06:00) or "
             "'30 2 1 * *' (02:30 on the 1st of each month)")


# ---- cron ------------------------------------------------------------------------------------------------------
def _dow_to_names(field: str) -> str:
    """Standard cron day-of-week (0/7 = Sunday) → names, which APScheduler reads unambiguously."""
    if field == "*" or re.search(r"[a-z]", field, re.I):
        return field
    days: set[int] = set()
    for part in field.split(","):
        rng, _, step = part.partition("/")
        if rng == "*":
            lo, hi = 0, 6
        elif "-" in rng:
            a, b = rng.split("-", 1)
            lo, hi = int(a), int(b)
        else:
            lo = hi = int(rng)
            if step:
                hi = 7
        if not (0 <= lo <= 7 and 0 <= hi <= 7) or lo > hi:
            raise ValueError(f"day-of-week {part!r} must be within 0-7 (0 and 7 are Sunday), low to high")
        days.update(d % 7 for d in range(lo, hi + 1, int(step or 1)))
    return ",".join(_DOW[d] for d in sorted(days))


def parse_cron(expr: str, tz: str | None = None):
    """A CronTrigger for a standard crontab expression, or ConfigError('cron', ...) saying what is wrong."""
    from apscheduler.triggers.cron import CronTrigger

    tz = tz or timezone()
    text = " ".join(str(expr or "").split())
    fields = text.split(" ") if text else []
    help_ = CRON_HELP.format(tz=tz)
    if len(fields) != 5:
        raise ConfigError("cron", expr, f"got {len(fields)} field(s); expected {help_}")
    if fields[2] not in ("*", "?") and fields[4] not in ("*", "?"):
        raise ConfigError("cron", expr, "restrict either the day of the month or the day of the week, not both "
                                        f"(they would have to match together here, unlike classic cron); {help_}")
    try:
        fields[4] = _dow_to_names(fields[4])
        return CronTrigger.from_crontab(" ".join(fields), timezone=tz)
    except (ValueError, TypeError) as e:
        raise ConfigError("cron", expr, f"{e}; expected {help_}") from None


def next_fire_times(trigger, n: int = 2, after: _dt.datetime | None = None) -> list[_dt.datetime]:
    t, out = after or _dt.datetime.now(_dt.timezone.utc), []
    prev = None
    for _ in range(n):
        nxt = trigger.get_next_fire_time(prev, t)
        if nxt is None:
            break
        out.append(nxt)
        prev, t = nxt, nxt + _dt.timedelta(microseconds=1)
    return out


def latest_fire_at_or_before(trigger, now: _dt.datetime, window_s: float) -> _dt.datetime | None:
    """The last fire time in (now - window, now], or None."""
    t = trigger.get_next_fire_time(None, now - _dt.timedelta(seconds=window_s))
    if t is None or t > now:
        return None
    while True:
        nxt = trigger.get_next_fire_time(t, t + _dt.timedelta(microseconds=1))
        if nxt is None or nxt > now:
            return t
        t = nxt


def _iso(t: _dt.datetime) -> str:
    return t.astimezone(_dt.timezone.utc).isoformat(timespec="microseconds")


# ---- schedule management (CLI `ftbot schedule …`, Slack `/ft schedule …`) ----------------------------------------
def add_schedule(home, kind: str, target: str, cron: str, actor: Actor | str, channel: str | None = None,
                 options: dict | None = None, id: str | None = None) -> dict:
    """Add a recurring `retrain` (target: dataset name; options: training keys) or `reeval` (target: deployment
    scope, 'default' or a channel id). Results go to `channel` when given. Returns the row + next_run_at."""
    with access.acting(home, actor, "schedule.add", id, kind=kind, target=target, cron=cron) as note:
        if kind not in KINDS:
            raise ConfigError("kind", kind, "retrain (train the dataset again), reeval (evaluate the deployed model), "
                                            "drift (watch the deployed model's population) or challenge-report "
                                            "(post the challenger report)")
        trigger = parse_cron(cron)
        fires = next_fire_times(trigger, 2)
        if len(fires) == 2 and (fires[1] - fires[0]).total_seconds() < MIN_INTERVAL_S:
            raise ConfigError("cron", cron, f"fires every {int((fires[1] - fires[0]).total_seconds() // 60)} min; "
                                            f"schedules may run at most every {MIN_INTERVAL_S // 60} minutes")
        options = dict(options or {})
        with connect(home) as db:
            if kind == "retrain":
                kind_of = datasets_table.get(db, target)["kind"]  # Missing names the known datasets
                from engine.config import TrainConfig
                TrainConfig.parse(options).resolved(kind_of)      # bad keys fail now, not at 3 a.m.
            elif kind == "challenge-report":
                if options:
                    raise ConfigError("options", options, "challenge-report takes no options")
            else:
                if options:
                    raise ConfigError("options", options, f"{kind} takes no options")
                if deployments.active(db, target) is None:
                    raise ConfigError("target", target, "no model is deployed in that scope; deploy one first "
                                                        "(`deploy RUN`), then schedule its re-evaluation")
            if id and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}", id):
                raise ConfigError("id", id, "1-64 letters, digits, '_', '-', '.', ':'")
            sid = id or _free_id(db, f"{kind}-{slug(target)}")
            row = table.add(db, id=sid, kind=kind, target=target, cron=" ".join(cron.split()),
                            created_by=access.as_actor(actor).id, options=options, channel=channel)
        note.update(id=sid, cron=row["cron"])
    return _with_next(row)


def list_schedules(home) -> list[dict]:
    with connect(home) as db:
        return [_with_next(r) for r in table.list_all(db)]


def remove_schedule(home, id: str, actor: Actor | str) -> dict:
    with access.acting(home, actor, "schedule.remove", id):
        with connect(home) as db:
            row = table.get(db, id)
            table.remove(db, id)
    return row


def slug(text: str) -> str:
    """A schedule id's part named after its target."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:40] or "x"


def _free_id(db, base: str) -> str:
    taken = {r["id"] for r in table.list_all(db)}
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _with_next(row: dict) -> dict:
    row = dict(row)
    try:
        fires = next_fire_times(parse_cron(row["cron"]), 1)
        row["next_run_at"] = _iso(fires[0]) if fires and row.get("enabled", 1) else None
    except ConfigError:
        row["next_run_at"] = None
    return row
