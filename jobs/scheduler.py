"""The schedules' clock: an in-process APScheduler fed from the schedules table (what a fire does: ops/schedules.py).

The schedules table is the source of truth; APScheduler only keeps time. Each schedule becomes one job with the
schedule's own id (replace_existing=True), so a restart re-adds the same jobs instead of duplicating them, and
`sync` (every 30 s) picks up schedules added or removed by another process (CLI, Slack).

No storms after downtime: coalesce=True and max_instances=1; a fire missed while nothing ran is caught up at most
once, and only within FTBOT_MISFIRE_GRACE seconds. Several processes may run schedulers on one FTBOT_HOME (`serve`
plus `worker`s): each fire is claimed in the table first, so exactly one of them acts on it.
"""
from __future__ import annotations

import datetime as _dt
import logging
import threading

from engine.errors import ConfigError
from ops.firing import fire
from ops.schedules import _iso, latest_fire_at_or_before, misfire_grace_s, parse_cron, timezone
from storage import connect
from storage import schedules as table

log = logging.getLogger("ftbot.jobs")


# ---- the in-process scheduler ------------------------------------------------------------------------------------
class Scheduler:
    """APScheduler BackgroundScheduler fed from the schedules table. `notify(schedule, result)` posts re-evaluation
    results and failures to the schedule's channel (the Slack app passes one; retrains post through their run)."""

    SYNC_ID = "ftbot:sync-schedules"

    def __init__(self, home, notify=None, sync_every_s: float = 30.0):
        self.home, self.notify, self.sync_every_s = home, notify, sync_every_s
        self._sched = None
        self._crons: dict[str, str] = {}
        self._lock = threading.Lock()

    def start(self) -> "Scheduler":
        from apscheduler.schedulers.background import BackgroundScheduler

        self._sched = BackgroundScheduler(timezone=timezone(), job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": misfire_grace_s()})
        self._sched.start()
        self.sync(catch_up=True)
        self._sched.add_job(self.sync, "interval", seconds=self.sync_every_s, id=self.SYNC_ID, replace_existing=True)
        return self

    def stop(self) -> None:
        if self._sched is not None:
            self._sched.shutdown(wait=False)
            self._sched = None

    def job_ids(self) -> list[str]:
        return sorted(j.id for j in self._sched.get_jobs() if j.id != self.SYNC_ID) if self._sched else []

    def sync(self, catch_up: bool = False) -> None:
        """Make the jobs match the table (ids are the schedule ids, so this never duplicates)."""
        with self._lock:
            with connect(self.home) as db:
                rows = {r["id"]: r for r in table.list_all(db, enabled_only=True)}
            for sid in set(self._crons) - set(rows):
                if self._sched.get_job(sid):
                    self._sched.remove_job(sid)
                del self._crons[sid]
            now = _dt.datetime.now(_dt.timezone.utc)
            for sid, row in rows.items():
                if self._crons.get(sid) == row["cron"]:
                    continue
                try:
                    trigger = parse_cron(row["cron"])
                except ConfigError as e:
                    log.error("schedule %s skipped: %s", sid, e)
                    continue
                self._sched.add_job(self._fire, trigger, args=[sid], id=sid, name=f"{row['kind']} {row['target']}",
                                    replace_existing=True)
                self._crons[sid] = row["cron"]
                if catch_up:
                    missed = latest_fire_at_or_before(trigger, now, misfire_grace_s())
                    if missed and (row["last_run_at"] or "") < _iso(missed):
                        # missed while nothing ran, and recently: once, now (claim_fire dedupes across processes)
                        self._sched.add_job(self._fire, "date", run_date=now, args=[sid, missed],
                                            id=f"{sid}:catch-up", replace_existing=True)

    def _fire(self, sid: str, fire_time: _dt.datetime | None = None) -> dict:
        return fire(self.home, sid, fire_time, notify=self.notify)


__all__ = ["Scheduler"]
