"""One fire of a schedule: claimed once across processes (storage.schedules.claim_fire), then done by its kind —
retrain a dataset, re-evaluate a deployment, queue a challenger report for the bot to post, or check a deployment's
drift (a post when a band is crossed, a weekly line when nothing is). Results reach Slack through `notify`, a hook
the bot hands the job runner (jobs never talks to Slack)."""
from __future__ import annotations

import datetime as _dt
import logging

from storage import connect, runs
from storage import deployments
from storage import schedules as table

from ops import access
from ops.access import Actor
from ops.schedules import _iso, latest_fire_at_or_before, misfire_grace_s, parse_cron

log = logging.getLogger("ftbot.jobs")
QUIET_EVERY = _dt.timedelta(days=6, hours=12)   # a drift check with nothing to report says so about once a week


def fire(home, schedule_id: str, fire_time: _dt.datetime | None = None, notify=None) -> dict:
    """Run one fire of a schedule. Returns {'schedule', 'action': submitted|evaluated|skipped, ...}."""
    with connect(home) as db:
        try:
            sched = table.get(db, schedule_id)
        except Exception:  # noqa: BLE001 removed since it was loaded
            return {"schedule": schedule_id, "action": "skipped", "why": "schedule removed"}
        if fire_time is None:
            fire_time = latest_fire_at_or_before(parse_cron(sched["cron"]), _dt.datetime.now(_dt.timezone.utc),
                                                 misfire_grace_s()) or _dt.datetime.now(_dt.timezone.utc)
        if not table.claim_fire(db, schedule_id, _iso(fire_time)):
            return {"schedule": schedule_id, "action": "skipped", "why": "already handled by another process"}
    origin = {"channel": sched["channel"], "schedule": schedule_id} if sched["channel"] else {"schedule": schedule_id}
    try:
        result = KINDS[sched["kind"]](home, sched, origin, fire_time)
    except Exception as e:  # noqa: BLE001 a failed fire is reported, never kills the scheduler
        log.error("schedule %s failed: %s", schedule_id, e)
        result = {"schedule": schedule_id, "action": "failed", "error": str(e)}
        access.record(home, _scheduler_actor(sched), f"schedule.{sched['kind']}", schedule_id, ok=False,
                      error=str(e))
    if notify and sched["channel"] and (result["action"] in ("evaluated", "failed") or result.get("post")):
        # retrains are posted by the run notifier (origin.channel); other outcomes through this hook
        try:
            notify(sched, result)
        except Exception as e:  # noqa: BLE001
            log.error("schedule %s: could not post the result: %s", schedule_id, e)
    return result


def _retrain(home, sched: dict, origin: dict, fire_time) -> dict:
    with connect(home) as db:
        pending = [r for st in ("queued", "running")
                   for r in runs.list_recent(db, limit=200, dataset=sched["target"], status=st)
                   if r["origin"].get("schedule") == sched["id"]]
    if pending:
        return {"schedule": sched["id"], "action": "skipped",
                "why": f"run #{pending[0]['id']} from this schedule is still {pending[0]['status']}"}
    from engine.config import TrainConfig
    from ops import runs as runs_ops
    row = runs_ops.submit(home, sched["target"], TrainConfig.parse(sched["options"]), actor=_scheduler_actor(sched),
                          origin=origin)
    return {"schedule": sched["id"], "action": "submitted", "run_id": row.get("id", row.get("run_id")), "run": row}


def _reeval(home, sched: dict, origin: dict, fire_time) -> dict:
    with connect(home) as db:
        dep = deployments.active(db, sched["target"])
    if dep is None:
        return {"schedule": sched["id"], "action": "skipped", "why": f"nothing deployed in {sched['target']!r}"}
    from ops import runs as runs_ops
    report = runs_ops.evaluate(home, dep["run_id"], actor=_scheduler_actor(sched))
    access.record(home, _scheduler_actor(sched), "schedule.reeval", sched["id"], run_id=dep["run_id"],
                  accuracy=report.get("accuracy"), macro_f1=report.get("macro_f1"))
    return {"schedule": sched["id"], "action": "evaluated", "run_id": dep["run_id"], "report": report}


def _scheduler_actor(sched: dict) -> Actor:
    """A fire acts for the schedule's creator, who was an admin when they added it (the run records them as its
    requester); the audit log shows it came through the scheduler."""
    return Actor(sched["created_by"], "scheduler", Actor.system().roles)


def _challenge_report(home, sched: dict, origin: dict, fire_time) -> dict:
    from ops import challengers   # the report is queued in SQLite; the bot posts it (bot/notify/reports.py)
    return challengers.scheduled_report(home, sched, f"{sched['id']}@{_iso(fire_time)}")


def _drift(home, sched: dict, origin: dict, fire_time) -> dict:
    """Drift of the model deployed in the target scope: posted when the score, a column or the intent mix leaves
    the stable band; otherwise a quiet line at most once a week."""
    from ops import monitoring
    res = monitoring.drift(home, scope=sched["target"])
    crossed = _crossed(res)
    post = bool(crossed)
    if not post:
        last = sched.get("last_note_at")      # as loaded by fire(): claiming the fire leaves last_note_at alone
        due = last is None or _dt.datetime.fromisoformat(last) <= fire_time - QUIET_EVERY
        if due:
            with connect(home) as db:
                table.set_note(db, sched["id"], _iso(fire_time))
        post = due
    access.record(home, _scheduler_actor(sched), "schedule.drift", sched["id"], run_id=res.get("run_id"),
                  crossed=crossed, posted=post)
    return {"schedule": sched["id"], "action": "drift", "run_id": res.get("run_id"), "drift": res,
            "crossed": crossed, "post": post}


def _crossed(res: dict) -> list[str]:
    """What left the stable band by more than sampling noise explains: 'score', column names, or 'intent mix'."""
    if res.get("kind") == "text":
        mix = res.get("intent_mix") or {}
        moved = mix.get("band") not in (None, "stable") and (mix.get("psi") or 0) > (mix.get("noise_psi") or 0)
        return ["intent mix"] if moved else []
    if "beyond_noise" not in res:           # a scoring stored before the noise check: the bands alone
        out = ["score"] if res.get("score_band") not in (None, "stable") else []
        return out + [c for c, b in (res.get("bands") or {}).items() if b != "stable"]
    from engine.monitoring.drift import SCORE
    return ["score" if c == SCORE else c for c in res["beyond_noise"]]


KINDS = {"retrain": _retrain, "reeval": _reeval, "challenge-report": _challenge_report, "drift": _drift}
