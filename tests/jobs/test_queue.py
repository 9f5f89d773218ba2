"""Queue order, states, queue positions and cancel in every state (fake training, real child processes)."""
from __future__ import annotations

import pytest

from storage import connect, events, runs
from storage.errors import Conflict

from tests.jobs.conftest import get, make_run, wait_for
from tests.jobs.fakes import executions


def test_five_runs_on_one_slot_run_in_order(home, worker_factory):
    ids = [make_run(home, steps=2) for _ in range(5)]
    with connect(home) as db:
        assert [runs.queue_position(db, i) for i in ids] == [1, 2, 3, 4, 5]
    done = worker_factory(slots=1).run_until_idle(timeout=60)
    assert [(d["run_id"], d["status"]) for d in done] == [(i, "succeeded") for i in ids]
    rows = [get(home, i) for i in ids]
    assert all(r["status"] == "succeeded" and r["attempts"] == 1 for r in rows)
    for a, b in zip(rows, rows[1:]):
        assert a["started_at"] < a["finished_at"] <= b["started_at"]  # one slot: strictly one after another
    assert all((home / "runs" / str(i)).is_dir() and not (home / "runs" / f".{i}.tmp").exists() for i in ids)
    with connect(home) as db:
        assert runs.queue_position(db, ids[0]) is None
        started = [e for e in events.list_for(db, ids[0], kind="milestone") if e["data"].get("action") == "started"]
    assert len(started) == 1


def test_slots_run_side_by_side(home, worker_factory):
    ids = [make_run(home, steps=6, step_s=0.1) for _ in range(2)]
    w = worker_factory(slots=2).start()
    wait_for(lambda: len(w.active()) == 2, what="two runs at once")
    wait_for(lambda: all(get(home, i)["status"] == "succeeded" for i in ids), what="both done")


def test_cancel_queued_run_stops_at_once_and_never_runs(home, worker_factory):
    first, queued = make_run(home, steps=2), make_run(home, steps=2)
    with connect(home) as db:
        assert runs.request_cancel(db, queued, "cancelled by U1") == "cancelled"
    worker_factory().run_until_idle(timeout=30)
    assert get(home, queued)["status"] == "cancelled" and get(home, queued)["reason"] == "cancelled by U1"
    assert {e[0] for e in executions(home)} == {first}


def test_cancel_running_run_stops_within_seconds_and_leaves_nothing(home, worker_factory):
    rid = make_run(home, steps=200, step_s=0.05)
    w = worker_factory(cancel_grace_s=10).start()
    wait_for(lambda: (home / "runs" / f".{rid}.ckpt").exists(), what="a checkpoint")
    with connect(home) as db:
        assert runs.request_cancel(db, rid, "cancelled by U1") == "running"
    wait_for(lambda: get(home, rid)["status"] == "cancelled", timeout=5, what="cancelled")
    wait_for(lambda: not w.active(), what="child gone")
    row = get(home, rid)
    assert row["reason"] == "cancelled by U1"
    for name in (f".{rid}.tmp", f".{rid}.ckpt", str(rid)):
        assert not (home / "runs" / name).exists(), name


def test_cancel_a_child_that_ignores_it_is_terminated_after_grace(home, worker_factory):
    rid = make_run(home, steps=400, step_s=0.05, ignore_cancel=True)
    later = make_run(home, steps=1)
    w = worker_factory(cancel_grace_s=0.5).start()
    wait_for(lambda: (home / "runs" / f".{rid}.ckpt").exists(), what="a checkpoint")
    with connect(home) as db:
        runs.request_cancel(db, rid, "cancelled by U1")
    wait_for(lambda: get(home, rid)["status"] == "cancelled", timeout=8, what="cancelled by the worker")
    assert get(home, rid)["reason"] == "cancelled by U1"
    # the record flips first, the folders go right after in the same recovery step
    wait_for(lambda: not (home / "runs" / f".{rid}.ckpt").exists() and not (home / "runs" / f".{rid}.tmp").exists(),
             timeout=5, what="checkpoint and temp folder removed")
    wait_for(lambda: get(home, later)["status"] == "succeeded", what="the next run")
    with connect(home) as db:
        assert any(e["data"].get("action") == "terminate" for e in events.list_for(db, rid, kind="milestone"))
    assert w.finished[0]["run_id"] == rid


@pytest.mark.parametrize("final", ["succeeded", "failed", "cancelled"])
def test_cancel_finished_run_is_refused_clearly(home, final):
    rid = make_run(home)
    with connect(home) as db:
        runs.claim(db, rid, "w")
        runs.finish(db, rid, final, reason="x")
        with pytest.raises(Conflict, match=f"already {final}; nothing to cancel"):
            runs.request_cancel(db, rid, "by U1")
    assert get(home, rid)["status"] == final


def test_worker_settings_from_env(home, monkeypatch):
    from jobs.worker import Worker

    monkeypatch.setenv("FTBOT_SLOTS", "3")
    assert Worker(home, schedules=False).slots == 3
    monkeypatch.delenv("FTBOT_SLOTS")
    monkeypatch.setenv("FTBOT_GPUS", "0,1")
    assert Worker(home, schedules=False).slots == 2  # one run per GPU
    monkeypatch.setenv("FTBOT_GPUS", "")
    assert Worker(home, schedules=False).slots == 1  # CPU-only: one
    assert Worker(home, slots=4, schedules=False).slots == 4
    with pytest.raises(ValueError, match="FTBOT_EXECUTOR='spark'"):
        Worker(home, executor="spark", schedules=False)
    with pytest.raises(ValueError, match="not importable"):
        Worker(home, target=lambda *a, **k: None, schedules=False)


def test_gpu_pinning_one_gpu_per_slot(home, tmp_path):
    from jobs.executors.local import LocalExecutor

    ex = LocalExecutor(python="/bin/true", gpus=["0", "1"])
    h0 = ex.launch(home=home, run_id=1, worker_id="w", target="x:y", slot=0, attempt=1)
    h1 = ex.launch(home=home, run_id=2, worker_id="w", target="x:y", slot=1, attempt=1)
    assert (h0.gpu, h1.gpu) == ("0", "1")
    assert h0.wait(5) == 0 and h1.wait(5) == 0


def _gpu_run(home, gpus: int, steps: int = 3, **cfg) -> int:
    from tests.jobs.conftest import add_dataset
    add_dataset(home)
    config = {"base": "fake", "method": "lora", "alpha": 0.0, "freeze": "none", "gpus": gpus,
              "fake": {"steps": steps, "step_s": 0.1}, **cfg}
    with connect(home) as db:
        return runs.create(db, dataset="toy", config=config, requester="U1")["id"]


class _RecordingExecutor:
    """The real local executor on three pretend GPUs; records which GPUs each run got and starts the fake target
    as one process (the torchrun hand-over is tested with real training in test_real_training.py)."""

    def __init__(self):
        from jobs.executors.local import LocalExecutor
        self.inner, self.launched = LocalExecutor(gpus=["0", "1", "2"]), []
        self.name = "local"

    def default_slots(self):
        return self.inner.default_slots()

    def slots_needed(self, config):
        return self.inner.slots_needed(config)

    def launch(self, **kw):
        handle = self.inner.launch(**{k: v for k, v in kw.items() if k != "gpus"})
        self.launched.append((kw["run_id"], handle.gpu))
        return handle


def test_multi_gpu_runs_take_that_many_gpus_and_keep_queue_order(home, worker_factory):
    ex = _RecordingExecutor()
    a, b, c = _gpu_run(home, 2, steps=6), _gpu_run(home, 2), _gpu_run(home, 1)
    w = worker_factory(executor=ex, slots=None)
    assert w.slots == 3
    done = w.run_until_idle(timeout=60)
    assert [d["status"] for d in done] == ["succeeded"] * 3
    # a takes GPUs 0,1; b needs two but one is free, so it waits, and c (behind b) does not overtake it
    assert ex.launched == [(a, "0,1"), (b, "0,1"), (c, "2")]
    assert get(home, b)["started_at"] >= get(home, a)["finished_at"]


def test_run_asking_more_gpus_than_the_worker_has_fails_clearly(home, worker_factory):
    ex = _RecordingExecutor()
    big, small = _gpu_run(home, 4), _gpu_run(home, 1)
    done = worker_factory(executor=ex, slots=None).run_until_idle(timeout=60)
    row = get(home, big)
    assert row["status"] == "failed" and "gpus=4" in row["reason"] and "3 GPU slot" in row["reason"]
    assert ex.launched == [(small, "0")] and get(home, small)["status"] == "succeeded"
    assert {d["run_id"]: d["status"] for d in done} == {big: "failed", small: "succeeded"}


def test_multi_gpu_run_on_a_cpu_worker_needs_device_cpu(home, worker_factory, monkeypatch):
    from jobs.executors.local import LocalExecutor
    rid = _gpu_run(home, 2)
    worker_factory(executor=LocalExecutor(gpus=[])).run_until_idle(timeout=30)
    row = get(home, rid)
    assert row["status"] == "failed" and "sees no GPU" in row["reason"] and "device=cpu" in row["reason"]
    assert LocalExecutor(gpus=[]).slots_needed({"gpus": 2, "device": "cpu"}) == (1, None)
