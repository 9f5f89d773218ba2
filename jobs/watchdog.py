"""What happens to a run whose process is gone: the heartbeat watchdog and the one recovery rule.

A run is lost when its child exited without recording a result, or when its heartbeat stopped (worker or machine
died). The rule, applied in one place for both:
  cancel was requested                      → cancelled, partial files removed
  a checkpoint exists and attempts remain   → back in the queue; the engine resumes from runs/.<id>.ckpt
  otherwise                                 → failed, with the cause and why it was not retried
Every state change is guarded by the worker id that held the run, so two watchdogs acting on one run do it once.
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
import shutil
import socket

from storage import connect, now
from storage import events, runs
from ops.paths import has_checkpoint, run_ckpt_dir, run_dir, run_tmp_dir

log = logging.getLogger("ftbot.jobs")


# ---- files of a run (the layout itself: ops/paths.py) ---------------------------------------------------------
def discard_partial(home, run_id: int, *, checkpoint: bool, artifact: bool = False) -> list[str]:
    """Remove the half-written artifact folder (and the checkpoint, and a stray final folder of a run that did not
    succeed). Returns what was removed."""
    paths = [run_tmp_dir(home, run_id)] + ([run_ckpt_dir(home, run_id)] if checkpoint else [])
    paths += [run_dir(home, run_id)] if artifact else []
    removed = []
    for p in paths:
        if p.exists():
            shutil.rmtree(p, ignore_errors=True)
            removed.append(str(p))
    return removed


def cleanup_after(home, row: dict) -> None:
    """Files a finished run must not leave: failed/cancelled runs keep no artifact; cancelled ones no checkpoint
    either (failed ones keep it until retention, for inspection)."""
    if row["status"] == "cancelled":
        discard_partial(home, row["id"], checkpoint=True, artifact=True)
    elif row["status"] == "failed":
        discard_partial(home, row["id"], checkpoint=False, artifact=True)
    elif row["status"] == "succeeded":
        discard_partial(home, row["id"], checkpoint=False)


# ---- the recovery rule ---------------------------------------------------------------------------------------
def recover(home, run_id: int, cause: str, *, worker: str | None, max_attempts: int, force_requeue: bool = False,
            retryable: bool = True, error: str | None = None) -> str:
    """Apply the rule to a running run whose process is gone. `worker`: only act if that worker still holds it.
    Returns 'cancelled' | 'requeued' | 'failed' | 'skipped' (someone else already dealt with it)."""
    with connect(home) as db:
        row = runs.get(db, run_id)
        if row["status"] != "running" or (worker and row["worker"] != worker):
            return "skipped"
        holder = row["worker"]
        if row["cancel_requested"]:
            ok = runs.finish(db, run_id, "cancelled", reason=row["reason"] or "cancelled", worker=holder)
            action = "cancelled"
        elif force_requeue or (retryable and has_checkpoint(home, run_id) and row["attempts"] < max_attempts):
            ok = runs.requeue(db, run_id, worker=holder)
            action = "requeued"
            if ok:
                resume = "from its last checkpoint" if has_checkpoint(home, run_id) else "from the start"
                events.add(db, run_id, "milestone", message=f"{cause}; back in the queue, will resume {resume}",
                           data={"action": "requeued", "attempts": row["attempts"], "cause": cause})
        else:
            why = ("" if not retryable else "; no checkpoint to resume from" if not has_checkpoint(home, run_id)
                   else f"; gave up after {row['attempts']} attempts")
            ok = runs.finish(db, run_id, "failed", reason=f"{cause}{why}", error=error, worker=holder)
            action = "failed"
        if not ok:
            return "skipped"
        if action == "requeued":
            discard_partial(home, run_id, checkpoint=False)  # the resumed attempt rewrites the artifact folder
        else:
            cleanup_after(home, runs.get(db, run_id))
    log.warning("run #%s %s: %s", run_id, action, cause)
    return action


# ---- the heartbeat watchdog ----------------------------------------------------------------------------------
def _ago(seconds: float) -> str:
    t = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(seconds=seconds)
    return t.isoformat(timespec="microseconds")


def parse_worker_id(worker_id: str | None) -> tuple[str, int] | None:
    """Worker ids made by `new_worker_id` are host:pid:nonce; others (FTBOT_WORKER_ID) are opaque."""
    parts = (worker_id or "").rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


# Worker ids alive in this process (several Workers may share one process, e.g. in tests).
LIVE_HERE: set[str] = set()


def _dead_here(worker_id: str, me: str) -> bool:
    """True when `worker_id` was a worker process on this host that no longer exists (a restart after a crash):
    such runs need not wait for the heartbeat timeout."""
    parsed = parse_worker_id(worker_id)
    if not parsed or parsed[0] != socket.gethostname() or worker_id == me:
        return False
    pid = parsed[1]
    if pid == os.getpid():
        # same pid: alive if a Worker in this process has the id, else an earlier incarnation (containers reuse pids)
        return worker_id not in LIVE_HERE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def recover_stale(home, *, timeout_s: float, max_attempts: int, me: str = "", exclude=()) -> list[tuple[int, str]]:
    """Recover running runs whose heartbeat is older than `timeout_s`, and at once those of dead workers on this
    host. `exclude`: runs this worker is supervising itself. Returns [(run_id, action)]."""
    with connect(home) as db:
        stale = runs.stale_running(db, _ago(timeout_s))
        local = [r for r in runs.list_recent(db, limit=1000, status="running") if _dead_here(r["worker"], me)]
    local_ids = {r["id"] for r in local}
    seen, out = set(), []
    for row in stale + local:
        if row["id"] in seen or row["id"] in exclude or (me and row["worker"] == me):
            continue
        seen.add(row["id"])
        if row["id"] in local_ids:
            cause = f"worker {row['worker']} is gone (process ended)"
        else:
            cause = f"worker {row['worker']} stopped sending heartbeats (last {row['heartbeat_at'] or 'never'})"
        out.append((row["id"], recover(home, row["id"], cause, worker=row["worker"], max_attempts=max_attempts)))
    return out


__all__ = ["recover", "recover_stale", "discard_partial", "cleanup_after", "has_checkpoint", "new_worker_id", "now"]
