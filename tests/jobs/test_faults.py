"""Fault tests: killed children, killed workers, stale heartbeats, racing workers, a busy and a full database."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from storage import connect, events, runs
from storage.errors import StorageError

from jobs import watchdog
from tests.jobs.conftest import FAKE, get, make_run, wait_for
from tests.jobs.fakes import executions

ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie counts as dead
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def _ckpt_step(home, rid) -> int:
    p = home / "runs" / f".{rid}.ckpt" / "step"
    return int(p.read_text()) if p.exists() else 0


def test_sigkill_child_mid_run_resumes_from_checkpoint_and_queue_goes_on(home, worker_factory):
    rid = make_run(home, steps=12, step_s=0.05)
    later = make_run(home, steps=1)
    w = worker_factory().start()
    wait_for(lambda: _ckpt_step(home, rid) >= 3, what="3 steps checkpointed")
    os.kill(w.active()[rid], signal.SIGKILL)
    wait_for(lambda: get(home, later)["status"] == "succeeded", timeout=20, what="the later run")
    row = get(home, rid)
    assert row["status"] == "succeeded" and row["attempts"] == 2
    first, second = [e for e in executions(home) if e[0] == rid]
    assert first[3] == 0 and second[3] >= 3  # the second attempt started from the checkpoint, not from 0
    with connect(home) as db:
        msgs = [e["message"] for e in events.list_for(db, rid, kind="milestone")]
    assert any("killed by SIGKILL" in m and "resume from its last checkpoint" in m for m in msgs)
    assert [d["status"] for d in w.finished if d["run_id"] == rid] == ["requeued", "succeeded"]


def test_child_killed_before_any_checkpoint_fails_with_the_reason(home, worker_factory):
    rid = make_run(home, steps=3, crash_at=0)
    later = make_run(home, steps=1)
    worker_factory().run_until_idle(timeout=30)
    row = get(home, rid)
    assert row["status"] == "failed"
    assert "killed by SIGKILL" in row["reason"] and "no checkpoint to resume from" in row["reason"]
    assert not (home / "runs" / f".{rid}.tmp").exists() and not (home / "runs" / str(rid)).exists()
    assert get(home, later)["status"] == "succeeded"


def test_child_crashing_every_attempt_gives_up_after_the_limit(home, worker_factory):
    rid = make_run(home, steps=5, crash_at=2, crash_attempts=99)
    worker_factory(max_attempts=3).run_until_idle(timeout=30)
    row = get(home, rid)
    assert row["status"] == "failed" and row["attempts"] == 3
    assert "gave up after 3 attempts" in row["reason"]


def test_exception_in_training_fails_at_once_with_the_error(home, worker_factory):
    rid = make_run(home, steps=3, raise_at=1)
    worker_factory().run_until_idle(timeout=30)
    row = get(home, rid)
    assert row["status"] == "failed" and row["attempts"] == 1  # a bug does not improve on retry
    assert row["reason"] == "the training process exited with code 2: RuntimeError: boom at step 1"


def _worker_proc(home, *extra):
    cmd = [sys.executable, "-m", "jobs.worker", "--home", str(home), "--poll", "0.05", "--target", FAKE,
           "--no-schedules", *extra]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_sigkill_whole_worker_then_a_new_worker_recovers_the_run(home, worker_factory):
    rid = make_run(home, steps=40, step_s=0.05)
    later = make_run(home, steps=1)
    proc = _worker_proc(home, "--slots", "1")
    try:
        wait_for(lambda: _ckpt_step(home, rid) >= 3, timeout=20, what="3 steps checkpointed")
        child_pid = executions(home)[0][1]
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
    finally:
        proc.kill()
    wait_for(lambda: not _alive(child_pid), timeout=5, what="the orphaned child to die with its worker")
    assert get(home, rid)["status"] == "running"  # nobody has touched it yet
    # A new worker on this host sees the old worker's process is gone: no need to wait for the heartbeat timeout.
    done = worker_factory(heartbeat_timeout_s=60).run_until_idle(timeout=30)
    assert get(home, rid)["status"] == "succeeded" and get(home, rid)["attempts"] == 2
    assert get(home, later)["status"] == "succeeded"
    runs_seen = [e for e in executions(home) if e[0] == rid]
    assert len(runs_seen) == 2 and runs_seen[1][3] >= 3
    assert [d["run_id"] for d in done] == [rid, later]


def _claim_as(home, rid, worker, heartbeat_age_s=None):
    with connect(home) as db:
        assert runs.claim(db, rid, worker)
        if heartbeat_age_s is not None:
            runs.update(db, rid, heartbeat_at=watchdog._ago(heartbeat_age_s))


def test_watchdog_on_stale_heartbeats_of_another_machine(home):
    resumable, fresh_start, cancelling, alive = (make_run(home) for _ in range(4))
    for rid in (resumable, fresh_start, cancelling):
        _claim_as(home, rid, "gpu-box-2:4242:abcdef", heartbeat_age_s=120)
    _claim_as(home, alive, "gpu-box-2:4243:abcdef", heartbeat_age_s=1)
    (home / "runs" / f".{resumable}.ckpt").mkdir(parents=True)
    (home / "runs" / f".{resumable}.ckpt" / "step").write_text("2")
    (home / "runs" / f".{resumable}.tmp").mkdir()
    (home / "runs" / f".{cancelling}.ckpt").mkdir()
    (home / "runs" / f".{cancelling}.ckpt" / "step").write_text("1")
    with connect(home) as db:
        runs.request_cancel(db, cancelling, "cancelled by U2")
    got = dict(watchdog.recover_stale(home, timeout_s=60, max_attempts=3, me="here:1:x"))
    assert got == {resumable: "requeued", fresh_start: "failed", cancelling: "cancelled"}
    assert get(home, resumable)["status"] == "queued" and not (home / "runs" / f".{resumable}.tmp").exists()
    assert (home / "runs" / f".{resumable}.ckpt").exists()  # kept: the next attempt resumes from it
    failed = get(home, fresh_start)
    assert "stopped sending heartbeats" in failed["reason"] and "no checkpoint" in failed["reason"]
    assert get(home, cancelling)["reason"] == "cancelled by U2"
    assert not (home / "runs" / f".{cancelling}.ckpt").exists()
    assert get(home, alive)["status"] == "running"
    # a second watchdog (another worker) finds nothing left to do: no double action
    assert watchdog.recover_stale(home, timeout_s=60, max_attempts=3, me="there:2:y") == []


def test_queued_runs_survive_everything(home, worker_factory):
    ids = [make_run(home, steps=1) for _ in range(3)]
    watchdog.recover_stale(home, timeout_s=1, max_attempts=3)
    assert all(get(home, i)["status"] == "queued" for i in ids)
    worker_factory(slots=2).run_until_idle(timeout=30)
    assert all(get(home, i)["status"] == "succeeded" for i in ids)


def test_two_worker_processes_race_each_run_runs_exactly_once(home):
    ids = [make_run(home, steps=1, step_s=0.0) for _ in range(14)]
    procs = [_worker_proc(home, "--slots", "2", "--until-idle") for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    counts = Counter(e[0] for e in executions(home))
    assert counts == Counter({i: 1 for i in ids})
    rows = [get(home, i) for i in ids]
    assert all(r["status"] == "succeeded" and r["attempts"] == 1 for r in rows)
    assert len({r["worker"] for r in rows}) == 2  # both took part


def test_concurrent_writers_never_see_database_locked(home):
    rid = make_run(home)
    with connect(home) as db:
        runs.claim(db, rid, "w")
    n, k = 150, 4
    code = ("import sys; from tests.jobs.fakes import hammer; "
            f"hammer({str(home)!r}, {rid}, 'w', {n})")
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stderr=subprocess.PIPE) for _ in range(k)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    with connect(home) as db:
        assert len(events.list_for(db, rid)) == n * k
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_full_disk_on_the_final_write_fails_the_run_cleanly(home, worker_factory):
    rid = make_run(home, steps=2, fail_finish=True)
    later = make_run(home, steps=1)
    worker_factory().run_until_idle(timeout=30)
    row = get(home, rid)
    assert row["status"] == "failed" and row["attempts"] == 1
    assert row["reason"] == ("the training process exited with code 2: StorageError: could not save to the database"
                             " (database or disk is full); nothing was changed")
    assert not (home / "runs" / str(rid)).exists() and not (home / "runs" / f".{rid}.tmp").exists()
    assert get(home, later)["status"] == "succeeded"
    with connect(home) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_worker_survives_a_database_that_refuses_writes(home, worker_factory, monkeypatch):
    import jobs.worker as worker_mod

    rid = make_run(home, steps=1)
    real, calls = runs.claim, []

    def flaky(db, run_id, worker):
        calls.append(1)
        if len(calls) <= 3:
            raise StorageError("could not save to the database (database or disk is full); nothing was changed")
        return real(db, run_id, worker)

    monkeypatch.setattr(worker_mod.runs, "claim", flaky)
    w = worker_factory()
    w.run_until_idle(timeout=30)
    assert get(home, rid)["status"] == "succeeded"
    assert len([e for e in w.errors if "disk is full" in e]) == 3
    assert all(e.startswith("claim: StorageError") for e in w.errors)


def test_a_write_failure_leaves_the_run_row_as_it_was(home):
    rid = make_run(home)
    with connect(home) as db:
        runs.claim(db, rid, "w")
        before = runs.get(db, rid)
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises((StorageError, sqlite3.OperationalError), match="full"):
            runs.finish(db, rid, "succeeded", worker="w", metrics={"pad": "x" * 200_000})
    assert get(home, rid) == before


def test_lease_lost_child_is_stopped(home, worker_factory):
    """If a watchdog elsewhere took the run over (say this machine was frozen), our copy stops: never two at once."""
    rid = make_run(home, steps=400, step_s=0.05)
    w = worker_factory(heartbeat_timeout_s=1.0).start()
    wait_for(lambda: rid in w.active(), what="running")
    pid = w.active()[rid]
    with connect(home) as db:
        runs.update(db, rid, worker="elsewhere:1:x")
    wait_for(lambda: not _alive(pid), timeout=10, what="our copy to stop")
    assert get(home, rid)["status"] == "running" and get(home, rid)["worker"] == "elsewhere:1:x"
    wait_for(lambda: any(d["status"] == "lost" for d in w.finished), what="the worker to let go of it")


def test_graceful_stop_requeues_running_runs(home, worker_factory):
    rid = make_run(home, steps=400, step_s=0.05)
    w = worker_factory().start()
    wait_for(lambda: _ckpt_step(home, rid) >= 1, what="a checkpoint")
    w.stop(wait=True, timeout=15)
    row = get(home, rid)
    assert row["status"] == "queued" and row["worker"] is None
    assert (home / "runs" / f".{rid}.ckpt").exists()


def test_shared_filesystem_journal_mode_races_exactly_once(home, monkeypatch):
    """FTBOT_DB_JOURNAL=delete (machines sharing FTBOT_HOME over NFS): no WAL, and racing workers still never
    share a run."""
    monkeypatch.setenv("FTBOT_DB_JOURNAL", "delete")
    ids = [make_run(home, steps=1, step_s=0.0) for _ in range(8)]
    with connect(home) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    procs = [_worker_proc(home, "--slots", "2", "--until-idle") for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    assert Counter(e[0] for e in executions(home)) == Counter({i: 1 for i in ids})
    assert not (home / "ftbot.db-wal").exists()
    with connect(home) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_bad_journal_mode_is_named(home, monkeypatch):
    monkeypatch.setenv("FTBOT_DB_JOURNAL", "memory")
    with pytest.raises(StorageError, match="FTBOT_DB_JOURNAL='memory' is not valid"):
        with connect(home):
            pass
