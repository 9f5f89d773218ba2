"""One real training through the whole path: submit → worker → child process → ops.execution.execute → engine.
Uses the tiny BERT fixture (built from a config, no download)."""
from __future__ import annotations

import importlib.util

import pytest

from engine.config import TrainConfig

from tests.jobs.conftest import get

pytestmark = pytest.mark.skipif(importlib.util.find_spec("engine.train") is None,
                                reason="engine.train has not landed yet")


def _register_toy(home, tmp_path, per_label: int) -> None:
    from ops import datasets
    rows = ["text,label"] + [f"please refund my card payment {i},refund" for i in range(per_label)] + \
           [f"what is my account balance today {i},balance" for i in range(per_label)]
    src = tmp_path / "toy.csv"
    src.write_text("\n".join(rows) + "\n")
    datasets.register(home, "toy", src, actor="U1")


def test_real_training_in_a_child_process(home, tiny_bert, tmp_path):
    from ops import runs as service_runs
    from jobs.worker import Worker

    _register_toy(home, tmp_path, 10)
    run = service_runs.submit(home, "toy", TrainConfig.parse({"base": str(tiny_bert), "method": "full", "epochs": 1,
                                            "batch_size": 8, "max_length": 16}), actor="U1")
    assert run["queue_position"] == 1
    done = Worker(home, slots=1, poll_s=0.1, schedules=False, retention=False).run_until_idle(timeout=240)
    row = get(home, run["id"])
    assert row["status"] == "succeeded", (done, row["reason"], row["error"])
    assert (home / "runs" / str(run["id"]) / "metrics.json").exists()
    assert not (home / "runs" / f".{run['id']}.tmp").exists()


def test_gpus_2_runs_two_torchrun_copies_and_rank_0_records(home, tiny_bert, tmp_path):
    """gpus=2 on this CPU-only machine (device=cpu: two gloo copies): the worker's child hands over to torchrun,
    both copies train, rank 0 alone writes the artifact and the record."""
    from ops import runs as service_runs
    from jobs.worker import Worker

    _register_toy(home, tmp_path, 10)
    run = service_runs.submit(home, "toy", TrainConfig.parse({"base": str(tiny_bert), "method": "full", "epochs": 2, "batch_size": 5,
                                            "max_length": 16, "gpus": 2, "device": "cpu"}), actor="U1")
    done = Worker(home, slots=1, poll_s=0.1, schedules=False, retention=False).run_until_idle(timeout=240)
    row = get(home, run["id"])
    log = (home / "logs" / f"run-{run['id']}.log").read_text()
    assert row["status"] == "succeeded", (done, row["reason"], row["error"], log[-3000:])
    assert "starting 2 copies through torchrun" in log
    assert f"run #{run['id']} ended: succeeded (rank 0)" in log and f"ended: succeeded (rank 1)" in log
    assert (home / "runs" / str(run["id"]) / "metrics.json").exists()
    assert row["config"]["gpus"] == 2 and row["accuracy"] is not None


def test_cancel_a_gpus_2_run_stops_every_copy_and_leaves_nothing(home, tiny_bert, tmp_path):
    from ops import runs as service_runs
    from jobs.worker import Worker
    from tests.jobs.conftest import wait_for

    _register_toy(home, tmp_path, 30)
    run = service_runs.submit(home, "toy", TrainConfig.parse({"base": str(tiny_bert), "method": "full", "epochs": 400, "batch_size": 4,
                                            "max_length": 16, "gpus": 2, "device": "cpu"}), actor="U1")
    rid = run["id"]
    w = Worker(home, slots=1, poll_s=0.1, schedules=False, retention=False).start()
    try:
        wait_for(lambda: (get(home, rid).get("progress") or {}).get("step", 0) >= 3, timeout=120, what="training steps")
        service_runs.cancel(home, rid, actor="U1", reason="cancelled by U1")
        wait_for(lambda: any(f["run_id"] == rid for f in w.finished), timeout=60, what="the copies to exit")
    finally:
        w.stop(wait=True, timeout=30)
    row = get(home, rid)
    log = (home / "logs" / f"run-{rid}.log").read_text()
    assert row["status"] == "cancelled" and row["reason"] == "cancelled by U1", (row, log[-2000:])
    assert "ended: cancelled (rank 0)" in log and "ended: cancelled (rank 1)" in log      # both stopped by themselves
    runs_dir = home / "runs"
    assert not (runs_dir / str(rid)).exists() and not (runs_dir / f".{rid}.tmp").exists()
    assert not (runs_dir / f".{rid}.ckpt").exists()
