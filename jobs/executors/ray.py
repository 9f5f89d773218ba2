"""Ray executor: each run becomes a Ray job (`python -m jobs.child RUN_ID`) that asks the cluster for GPUs.

FTBOT_EXECUTOR=ray, cluster address from RAY_ADDRESS (e.g. http://head:8265). `ray` is imported only here and
only when the first job is submitted: the rest of ftbot never needs it. The job's nodes must see the same
FTBOT_HOME (shared filesystem) and the same ftbot install (image or runtime_env): the child writes heartbeats,
events and the result into the database like a local child does. See docs/deploy.md.
"""
from __future__ import annotations

import os
import shlex
import signal
import time
import uuid

from storage.db import home_dir

# Ray JobStatus → what a local process would have returned. None: still going.
_STATE = {"PENDING": None, "RUNNING": None, "SUCCEEDED": 0, "FAILED": 1, "STOPPED": -int(signal.SIGTERM)}


def _status_text(status) -> str:
    return str(getattr(status, "value", status)).upper()


class RayHandle:
    def __init__(self, client, submission_id: str, min_poll_s: float = 2.0):
        self.client, self.submission_id, self.min_poll_s = client, submission_id, min_poll_s
        self.pid = None
        self.where = f"Ray job {submission_id}"
        self.state = "PENDING"
        self._checked = 0.0
        self._code: int | None = None
        self._unreachable_since: float | None = None

    def poll(self) -> int | None:
        """Ray's status, fetched at most every `min_poll_s` (it is an HTTP call to the head node)."""
        if self._code is not None:
            return self._code
        if time.monotonic() - self._checked < self.min_poll_s:
            return None
        self._checked = time.monotonic()
        try:
            state = _status_text(self.client.get_job_status(self.submission_id))
        except Exception:  # noqa: BLE001 head node briefly unreachable: keep waiting; the heartbeat watchdog covers worse
            return None
        if state not in _STATE:
            return None
        self.state = state
        self._code = _STATE[state]
        return self._code

    def terminate(self) -> None:
        try:
            self.client.stop_job(self.submission_id)  # Ray sends SIGTERM, then kills after its own timeout
        except Exception:  # noqa: BLE001 already gone
            pass

    kill = terminate

    def wait(self, timeout: float | None = None) -> int | None:
        end = time.monotonic() + (timeout or 0)
        while True:
            self._checked = 0.0
            code = self.poll()
            if code is not None or time.monotonic() >= end:
                return code
            time.sleep(0.5)

    def retryable(self, code: int) -> bool:
        """A node lost or a process killed may be retried; an exception the child reported would only repeat."""
        return self.state != "FAILED" or "ftbot-child: error: " not in self._logs()

    def _logs(self) -> str:
        try:
            return self.client.get_job_logs(self.submission_id) or ""
        except Exception:  # noqa: BLE001
            return ""

    def describe_exit(self, code: int) -> str:
        if self.state == "STOPPED":
            return f"Ray stopped job {self.submission_id}"
        text = f"Ray job {self.submission_id} ended {self.state.lower()}"
        message = None
        try:
            message = getattr(self.client.get_job_info(self.submission_id), "message", None)
        except Exception:  # noqa: BLE001
            pass
        lines = [ln for ln in self._logs().splitlines() if ln.strip()]
        errs = [ln for ln in lines if ln.startswith("ftbot-child: error: ")]
        tail = errs[-1][len("ftbot-child: error: "):] if errs else (lines[-1] if lines else None)
        detail = "; ".join(x.strip()[:300] for x in (tail, message) if x and x.strip())
        return f"{text}: {detail}" if detail else text


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None, num_gpus: float | None = None, num_cpus: float | None = None,
                 client=None, runtime_env: dict | None = None, python: str = "python", min_poll_s: float = 2.0):
        self.address = address or os.environ.get("RAY_ADDRESS")
        self.num_gpus = float(os.environ.get("FTBOT_RAY_GPUS", 1) if num_gpus is None else num_gpus)
        self.num_cpus = num_cpus if num_cpus is not None else float(os.environ.get("FTBOT_RAY_CPUS", 1))
        self.runtime_env = runtime_env or {}
        self.python, self.min_poll_s = python, min_poll_s
        self._client = client

    @property
    def client(self):
        if self._client is None:
            try:
                from ray.job_submission import JobSubmissionClient  # noqa: PLC0415 (lazy: Ray is large and optional)
            except ImportError as e:
                raise RuntimeError("FTBOT_EXECUTOR=ray needs Ray: pip install 'ftbot[ray]'") from e
            self._client = JobSubmissionClient(self.address)
        return self._client

    def default_slots(self) -> int:
        # The cluster queues jobs that wait for GPUs itself; this caps how many runs we hand it at once.
        return int(os.environ.get("FTBOT_SLOTS") or 4)

    def slots_needed(self, config: dict) -> tuple[int, str | None]:
        return 1, None  # the cluster finds the GPUs; a slot here is one job handed to it

    def entrypoint(self, *, home, run_id: int, worker_id: str, target: str, gpus: int = 1) -> str:
        parts = [self.python, "-m", "jobs.child", str(int(run_id)), "--home", str(home), "--worker", worker_id,
                 "--target", target] + (["--gpus", str(int(gpus))] if gpus > 1 else [])
        return " ".join(shlex.quote(p) for p in parts)

    def launch(self, *, home, run_id: int, worker_id: str, target: str, slot: int, attempt: int,
               slots: list[int] | None = None, gpus: int = 1) -> RayHandle:
        home = home_dir(home)
        # only what the configured runtime_env names: a Ray job never gets the bot's own environment (its tokens)
        env_vars = dict(self.runtime_env.get("env_vars", {}), FTBOT_HOME=str(home), FTBOT_WORKER_ID=worker_id)
        runtime_env = dict(self.runtime_env, env_vars=env_vars)
        submission_id = f"ftbot-run-{int(run_id)}-a{int(attempt)}-{uuid.uuid4().hex[:6]}"
        self.client.submit_job(
            entrypoint=self.entrypoint(home=home, run_id=run_id, worker_id=worker_id, target=target, gpus=gpus),
            submission_id=submission_id,
            runtime_env=runtime_env,
            metadata={"ftbot_run": str(int(run_id)), "ftbot_attempt": str(int(attempt))},
            entrypoint_num_gpus=(self.num_gpus * max(1, int(gpus))) or None,   # gpus=N: N on one node, for torchrun
            entrypoint_num_cpus=self.num_cpus or None,
        )
        return RayHandle(self.client, submission_id, self.min_poll_s)
