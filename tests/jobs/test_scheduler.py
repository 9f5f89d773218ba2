"""Schedules: cron validation, stable ids, one fire per due time across processes, no storms after downtime."""
from __future__ import annotations

import datetime as dt

import pytest

from engine.errors import ConfigError
from storage import connect, deployments, runs
from storage import schedules as table
from storage.errors import Conflict, Missing

from jobs import scheduler as runtime
from ops import firing, schedules as sch
from tests.jobs.conftest import add_dataset, make_run

UTC = dt.timezone.utc
SUNDAY = dt.datetime(2026, 11, 29, tzinfo=UTC)


@pytest.mark.parametrize("expr, day", [("0 6 * * 1", "Mon"), ("0 6 * * 0", "Sun"), ("0 6 * * 7", "Sun"),
                                       ("0 6 * * mon", "Mon"), ("0 6 * * 2-3", "Tue"), ("0 6 * * 5-7", "Fri")])
def test_day_of_week_means_what_it_means_in_crontab(expr, day):
    # APScheduler's own numbering starts at Monday=0; users write crontab, where 0 and 7 are Sunday.
    first = sch.next_fire_times(sch.parse_cron(expr, "UTC"), 1, after=SUNDAY + dt.timedelta(hours=7))[0]
    assert first.strftime("%a") == day and first.hour == 6


@pytest.mark.parametrize("expr, msg", [
    ("* * * *", "got 4 field"), ("61 * * * *", "higher than the maximum value"), ("", "got 0 field"),
    ("0 6 * * 8", "day-of-week '8' must be within 0-7"), ("0 6 1 * 1", "not both"),
])
def test_bad_cron_says_what_is_wrong(expr, msg):
    with pytest.raises(ConfigError) as e:
        sch.parse_cron(expr, "UTC")
    assert msg in str(e.value) and str(e.value).startswith("cron=") and "'0 6 * * 1'" in str(e.value)


def test_add_list_remove_schedules(home):
    add_dataset(home, "banking")
    a = sch.add_schedule(home, "retrain", "banking", "0 6 * * 1", "U1", channel="C1", options={"epochs": 2})
    b = sch.add_schedule(home, "retrain", "banking", "0 7 * * 1", "U1")
    assert (a["id"], b["id"]) == ("retrain-banking", "retrain-banking-2")
    assert a["channel"] == "C1" and a["options"] == {"epochs": 2} and a["next_run_at"].endswith("+00:00")
    assert [s["id"] for s in sch.list_schedules(home)] == ["retrain-banking", "retrain-banking-2"]
    with pytest.raises(Conflict):
        sch.add_schedule(home, "retrain", "banking", "0 6 * * 1", "U1", id="retrain-banking")
    sch.remove_schedule(home, "retrain-banking-2", "U1")
    assert [s["id"] for s in sch.list_schedules(home)] == ["retrain-banking"]
    with pytest.raises(Missing):
        sch.remove_schedule(home, "nope", "U1")


def test_add_schedule_refuses_bad_input_before_storing(home):
    add_dataset(home, "banking")
    with pytest.raises(ConfigError, match="kind="):
        sch.add_schedule(home, "train", "banking", "0 6 * * *", "U1")
    with pytest.raises(Missing, match="no dataset named 'nope'"):
        sch.add_schedule(home, "retrain", "nope", "0 6 * * *", "U1")
    with pytest.raises(ConfigError, match="lr="):
        sch.add_schedule(home, "retrain", "banking", "0 6 * * *", "U1", options={"lr": "fast"})
    with pytest.raises(ConfigError, match="at most every 15 minutes"):
        sch.add_schedule(home, "retrain", "banking", "*/5 * * * *", "U1")
    with pytest.raises(ConfigError, match="no model is deployed"):
        sch.add_schedule(home, "reeval", "C9", "0 6 * * *", "U1")
    assert sch.list_schedules(home) == []


def test_fire_submits_once_per_due_time_even_with_two_schedulers(home, monkeypatch):
    add_dataset(home, "banking")
    sch.add_schedule(home, "retrain", "banking", "0 6 * * *", "U1", channel="C1", options={"epochs": 1})
    submitted = []

    def fake_submit(home_, dataset, request, *, actor, origin=None):
        submitted.append((dataset, request.given(), actor.id, origin))
        rid = make_run(home_, dataset, origin=origin)
        return {"id": rid}

    import ops.runs as service_runs
    monkeypatch.setattr(service_runs, "submit", fake_submit)
    due = dt.datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    first = firing.fire(home, "retrain-banking", due)
    second = firing.fire(home, "retrain-banking", due)  # another process, same fire
    assert first["action"] == "submitted" and second["action"] == "skipped"
    assert submitted == [("banking", {"epochs": 1}, "U1", {"channel": "C1", "schedule": "retrain-banking"})]
    # next day: the previous scheduled run is still queued → no pile-up
    third = firing.fire(home, "retrain-banking", due + dt.timedelta(days=1))
    assert third["action"] == "skipped" and "still queued" in third["why"]
    with connect(home) as db:
        runs.request_cancel(db, first["run_id"], "x")
    assert firing.fire(home, "retrain-banking", due + dt.timedelta(days=2))["action"] == "submitted"


def test_reeval_posts_through_notify(home, monkeypatch):
    rid = make_run(home)
    with connect(home) as db:
        runs.claim(db, rid, "w")
        runs.finish(db, rid, "succeeded", worker="w", artifact_path="x")
        deployments.deploy(db, "C1", rid, "U1")
    sch.add_schedule(home, "reeval", "C1", "0 6 * * *", "U1", channel="C1")
    import ops.runs as service_runs
    monkeypatch.setattr(service_runs, "evaluate", lambda home_, run_id, **kw: {"accuracy": 0.9, "macro_f1": 0.8})
    posted = []
    out = firing.fire(home, "reeval-C1", dt.datetime(2026, 11, 30, 6, tzinfo=UTC), notify=lambda s, r: posted.append(r))
    assert out["action"] == "evaluated" and out["run_id"] == rid
    assert posted and posted[0]["report"]["accuracy"] == 0.9


def test_scheduler_restart_keeps_one_job_per_schedule_and_catches_up_once(home, monkeypatch):
    add_dataset(home, "banking")
    later = dt.datetime.now(UTC) + dt.timedelta(hours=12)       # far from now: no fire inside the 10-minute grace
    sch.add_schedule(home, "retrain", "banking", f"{later.minute} {later.hour} * * *", "U1")
    fired = []
    monkeypatch.setattr(runtime, "fire", lambda home_, sid, fire_time=None, notify=None: fired.append((sid, fire_time)))
    s = runtime.Scheduler(home).start()
    try:
        assert s.job_ids() == ["retrain-banking"]
        job = s._sched.get_job("retrain-banking")
        assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, 600)
        s.sync()
        s.sync()
        assert s.job_ids() == ["retrain-banking"]  # replace_existing + stable ids: never duplicated
        with connect(home) as db:
            table.remove(db, "retrain-banking")
        s.sync()
        assert s.job_ids() == []
    finally:
        s.stop()
    assert fired == []  # nothing was due

    # A fire missed 2 minutes ago while nothing ran: caught up once at start, not once per missed day.
    now = dt.datetime.now(UTC)
    cron = f"{(now - dt.timedelta(minutes=2)).minute} {(now - dt.timedelta(minutes=2)).hour} * * *"
    sch.add_schedule(home, "retrain", "banking", cron, "U1", id="daily")
    with connect(home) as db:
        db.execute("UPDATE schedules SET last_run_at = '2020-01-01' WHERE id = 'daily'")
        db.conn.commit()
    s = runtime.Scheduler(home).start()
    try:
        import time
        end = time.monotonic() + 5
        while not fired and time.monotonic() < end:
            time.sleep(0.05)
    finally:
        s.stop()
    assert [f[0] for f in fired] == ["daily"]


def test_latest_fire_within_window():
    trig = sch.parse_cron("0 6 * * *", "UTC")
    now = dt.datetime(2026, 11, 30, 6, 5, tzinfo=UTC)
    assert sch.latest_fire_at_or_before(trig, now, 600) == dt.datetime(2026, 11, 30, 6, tzinfo=UTC)
    assert sch.latest_fire_at_or_before(trig, now, 60) is None  # bounded: older misses are dropped
