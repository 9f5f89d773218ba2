"""Job-runner knobs, read from the environment once per Worker/Scheduler. Each has a safe default.

FTBOT_SLOTS              concurrent runs on this worker (default: one per visible GPU, one on a CPU-only machine)
FTBOT_GPUS               GPU ids this worker may use, e.g. "0,1" (default: CUDA_VISIBLE_DEVICES, else all GPUs)
FTBOT_EXECUTOR           local (child processes on this machine) | ray (jobs on a Ray cluster at RAY_ADDRESS)
FTBOT_HEARTBEAT_TIMEOUT  seconds without a heartbeat before a running run counts as lost (default 60)
FTBOT_CANCEL_GRACE       seconds a running run gets to stop by itself after cancel before it is terminated (10)
FTBOT_MAX_ATTEMPTS       tries per run (a crash with a checkpoint requeues it until this many) (3)
FTBOT_KEEP_CHECKPOINT_DAYS  how long checkpoints of failed runs and of finished artifacts are kept (3)
FTBOT_TZ                 time zone of schedule cron expressions (UTC)
FTBOT_MISFIRE_GRACE      seconds a missed schedule may still fire late, once (600)
"""
from __future__ import annotations

import os
import shutil


def _num(name: str, default: float, lo: float = 0.0) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if value < lo:
        raise ValueError(f"{name}={raw!r} must be at least {lo:g}")
    return value


def heartbeat_timeout_s() -> float:
    return _num("FTBOT_HEARTBEAT_TIMEOUT", 60.0, lo=1.0)


def cancel_grace_s() -> float:
    return _num("FTBOT_CANCEL_GRACE", 10.0)


def max_attempts() -> int:
    return int(_num("FTBOT_MAX_ATTEMPTS", 3, lo=1))


def keep_checkpoint_days() -> float:
    return _num("FTBOT_KEEP_CHECKPOINT_DAYS", 3.0)


# FTBOT_TZ and FTBOT_MISFIRE_GRACE belong to the schedules themselves (ops/schedules.py reads them); re-exported here
# so the job runner's knobs stay listed in one place.
from ops.schedules import misfire_grace_s, timezone  # noqa: E402


def executor_name() -> str:
    return (os.environ.get("FTBOT_EXECUTOR", "").strip() or "local").lower()


def _parse_ids(raw: str) -> list[str]:
    ids = [p.strip() for p in raw.split(",") if p.strip()]
    return [] if ids == ["-1"] else ids


def gpu_ids() -> list[str]:
    """GPUs this worker may hand to its runs. Cheap first (env, no NVIDIA driver → none); torch only as a last resort,
    so a CPU-only worker never imports it."""
    for name in ("FTBOT_GPUS", "CUDA_VISIBLE_DEVICES"):
        if name in os.environ:
            return _parse_ids(os.environ[name])
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        import torch  # noqa: PLC0415 (lazy: heavy, and only needed on a GPU machine)
        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:  # a broken CUDA install must not stop the worker; it runs on CPU
        return []


def slots(explicit: int | None = None, gpus: list[str] | None = None) -> int:
    """One run per GPU by default, one on a CPU-only machine; FTBOT_SLOTS or an explicit value overrides."""
    if explicit is not None:
        n = int(explicit)
    elif os.environ.get("FTBOT_SLOTS", "").strip():
        n = int(_num("FTBOT_SLOTS", 1, lo=1))
    else:
        n = len(gpus if gpus is not None else gpu_ids()) or 1
    if n < 1:
        raise ValueError(f"slots={n} must be at least 1")
    return n
