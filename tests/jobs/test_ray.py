"""Ray executor: state mapping and cancel against a fake JobSubmissionClient; a real cluster behind -m ray."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest

from jobs.executors.ray import RayExecutor
from storage import connect, runs
from tests.jobs.conftest import get, make_run, wait_for


class ScriptedClient:
    """Statuses come from a script; records every call."""

    def __init__(self, statuses):
        self.statuses, self.calls = list(statuses), []

    def submit_job(self, **kw):
        self.calls.append(("submit", kw))
        return kw["submission_id"]

    def get_job_status(self, sid):
        self.calls.append(("status", sid))
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

    def stop_job(self, sid):
        self.calls.append(("stop", sid))
        return True

    def get_job_info(self, sid):
        return type("Info", (), {"message": "Job entrypoint command failed with exit code 2"})()

    def get_job_logs(self, sid):
        return "Traceback...\nftbot-child: error: RuntimeError: CUDA out of memory\n"


def test_submit_asks_for_gpus_and_runs_the_child_entrypoint(tmp_path):
    client = ScriptedClient(["PENDING"])
    ex = RayExecutor(client=client, num_gpus=1, min_poll_s=0)
    h = ex.launch(home=tmp_path, run_id=7, worker_id="w:1:x", target="ops.execution:execute", slot=0, attempt=2)
    kind, kw = client.calls[0]
    assert kind == "submit" and kw["entrypoint_num_gpus"] == 1.0
    assert shlex.split(kw["entrypoint"])[:4] == ["python", "-m", "jobs.child", "7"]
    assert "--worker" in kw["entrypoint"] and kw["runtime_env"]["env_vars"]["FTBOT_HOME"] == str(tmp_path)
    assert kw["submission_id"].startswith("ftbot-run-7-a2-") and kw["metadata"]["ftbot_run"] == "7"
    h2 = ex.launch(home=tmp_path, run_id=7, worker_id="w:1:x", target="t:f", slot=0, attempt=2)
    assert h2.submission_id != h.submission_id  # a retry is a new Ray job, never a clash
    # a gpus=4 run: four GPUs on one node, and the child starts torchrun there
    ex.launch(home=tmp_path, run_id=8, worker_id="w:1:x", target="t:f", slot=0, attempt=1, slots=[0], gpus=4)
    kind, kw = client.calls[-1]
    assert kw["entrypoint_num_gpus"] == 4.0 and shlex.split(kw["entrypoint"])[-2:] == ["--gpus", "4"]


@pytest.mark.parametrize("statuses, code", [
    (["PENDING", "RUNNING", "SUCCEEDED"], 0), (["RUNNING", "FAILED"], 1), (["RUNNING", "STOPPED"], -15),
])
def test_state_mapping(tmp_path, statuses, code):
    ex = RayExecutor(client=ScriptedClient(statuses), min_poll_s=0)
    h = ex.launch(home=tmp_path, run_id=1, worker_id="w", target="t:f", slot=0, attempt=1)
    seen = [h.poll() for _ in statuses]
    assert seen[:-1] == [None] * (len(statuses) - 1) and seen[-1] == code
    assert h.poll() == code  # terminal states stick without asking again


def test_failure_reason_and_cancel(tmp_path):
    client = ScriptedClient(["RUNNING", "FAILED"])
    ex = RayExecutor(client=client, min_poll_s=0)
    h = ex.launch(home=tmp_path, run_id=1, worker_id="w", target="t:f", slot=0, attempt=1)
    h.terminate()
    assert ("stop", h.submission_id) in client.calls
    h.poll(), h.poll()
    why = h.describe_exit(1)
    assert "ended failed" in why and "CUDA out of memory" in why and "exit code 2" in why
    assert not h.retryable(1)  # the child reported an exception: retrying repeats it


def test_lazy_import_error_is_clear(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.job_submission", None)
    with pytest.raises(RuntimeError, match=r"pip install 'ftbot\[ray\]'"):
        RayExecutor().client


class LocalRayClient:
    """Behaves like a Ray cluster of one node: each job is a local process running the entrypoint."""

    def __init__(self):
        self.procs = {}

    def submit_job(self, *, entrypoint, submission_id, runtime_env, metadata, entrypoint_num_gpus,
                   entrypoint_num_cpus):
        env = dict(os.environ, **runtime_env["env_vars"])
        args = shlex.split(entrypoint)
        args[0] = sys.executable
        self.procs[submission_id] = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                                                     stderr=subprocess.DEVNULL)
        return submission_id

    def get_job_status(self, sid):
        rc = self.procs[sid].poll()
        return "RUNNING" if rc is None else ("SUCCEEDED" if rc == 0 else "STOPPED" if rc < 0 else "FAILED")

    def stop_job(self, sid):
        self.procs[sid].terminate()
        return True

    def get_job_info(self, sid):
        return type("Info", (), {"message": None})()

    def get_job_logs(self, sid):
        return ""


def test_worker_with_ray_executor_runs_and_cancels(home, worker_factory):
    ok, stuck = make_run(home, steps=2), make_run(home, steps=400, step_s=0.05, ignore_cancel=True)
    ex = RayExecutor(client=LocalRayClient(), min_poll_s=0)
    w = worker_factory(executor=ex, slots=2, cancel_grace_s=0.3).start()
    wait_for(lambda: get(home, ok)["status"] == "succeeded", what="the Ray-run job")
    wait_for(lambda: (home / "runs" / f".{stuck}.ckpt").exists(), what="a checkpoint")
    with connect(home) as db:
        runs.request_cancel(db, stuck, "cancelled by U1")
    wait_for(lambda: get(home, stuck)["status"] == "cancelled", timeout=10, what="stop_job to cancel it")
    # the record turns 'cancelled' a moment before the same recovery step removes the files (jobs/watchdog.recover)
    wait_for(lambda: not (home / "runs" / f".{stuck}.ckpt").exists(), timeout=5, what="the checkpoint removed")


@pytest.mark.ray
@pytest.mark.skipif(os.environ.get("FTBOT_TEST_RAY") != "1", reason="needs a Ray cluster: FTBOT_TEST_RAY=1 RAY_ADDRESS=...")
def test_real_ray_cluster(home, worker_factory):
    """`ray start --head` on this machine, then FTBOT_TEST_RAY=1 RAY_ADDRESS=http://127.0.0.1:8265 pytest -m ray
    tests/jobs/test_ray.py. The cluster's nodes must see FTBOT_HOME and this checkout (same machine here)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ex = RayExecutor(num_gpus=0, python=sys.executable,
                     runtime_env={"env_vars": {"PYTHONPATH": root}})
    rid = make_run(home, steps=3)
    done = worker_factory(executor=ex).run_until_idle(timeout=300)
    assert get(home, rid)["status"] == "succeeded", done
