"""Helpers for job-runner tests: runs created straight in storage (no torch), a fake training target."""
from __future__ import annotations

import time

import pytest

from storage import connect, runs
from storage import datasets as ds

FAKE = "tests.jobs.fakes:execute"


def add_dataset(home, name: str = "toy") -> None:
    with connect(home) as db:
        if not ds.exists(db, name):
            ds.insert(db, {"name": name, "source": "test", "sha256": "0" * 64, "format": "csv", "kind": "text",
                           "text_column": "text", "label_column": "label", "rows": 4, "labels": ["a", "b"],
                           "label_counts": {"a": 2, "b": 2}, "split": {}, "path": str(home / "datasets" / name),
                           "created_by": "U1"})


def make_run(home, dataset: str = "toy", origin: dict | None = None, **fake) -> int:
    add_dataset(home, dataset)
    cfg = {"base": "fake", "method": "lora", "alpha": 0.0, "freeze": "none", "fake": fake}
    with connect(home) as db:
        return runs.create(db, dataset=dataset, config=cfg, requester="U1", origin=origin)["id"]


def get(home, run_id) -> dict:
    with connect(home) as db:
        return runs.get(db, run_id)


def wait_for(pred, timeout: float = 15.0, every: float = 0.05, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture()
def worker_factory(home):
    from jobs.worker import Worker

    made = []

    def make(**kw):
        kw.setdefault("slots", 1)
        kw.setdefault("poll_s", 0.05)
        kw.setdefault("target", FAKE)
        kw.setdefault("schedules", False)
        kw.setdefault("retention", False)
        kw.setdefault("heartbeat_timeout_s", 30)
        w = Worker(home, **kw)
        made.append(w)
        return w

    yield make
    for w in made:
        w.stop(wait=True, timeout=10)
