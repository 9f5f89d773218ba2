"""A fake training target with the contract of ops.execution.execute, without torch.

Behaviour comes from the run's config["fake"]: steps, step_s, crash_at (SIGKILL itself at that step on attempts
<= crash_attempts), raise_at, ignore_cancel, fail_finish (a real SQLite "disk full" on the final write).
Every start appends "run_id pid attempt start_step" to FTBOT_HOME/fake-executions.log (O_APPEND: safe across
processes), so tests can count executions.
"""
from __future__ import annotations

import os
import shutil
import signal
import threading
import time

from storage import connect, events, runs
from storage.db import home_dir

from ops.paths import run_ckpt_dir as ckpt_dir, run_dir as artifact_dir, run_tmp_dir as tmp_dir


def log_path(home):
    return home_dir(home) / "fake-executions.log"


def executions(home) -> list[tuple[int, int, int, int]]:
    p = log_path(home)
    if not p.exists():
        return []
    return [tuple(int(x) for x in ln.split()) for ln in p.read_text().splitlines() if ln.strip()]


def execute(home, run_id, *, worker, on_progress=None) -> dict:
    with connect(home) as db:
        run = runs.get(db, run_id)
    spec = run["config"].get("fake", {})
    steps, step_s = int(spec.get("steps", 3)), float(spec.get("step_s", 0.02))
    ckpt, tmp, final = ckpt_dir(home, run_id), tmp_dir(home, run_id), artifact_dir(home, run_id)
    start = int((ckpt / "step").read_text()) if (ckpt / "step").exists() else 0
    with open(log_path(home), "a") as f:
        f.write(f"{run_id} {os.getpid()} {run['attempts']} {start}\n")

    stop = threading.Event()

    def beat():
        while not stop.wait(float(spec.get("hb_s", 0.2))):
            with connect(home) as db:
                runs.heartbeat(db, run_id, worker)

    threading.Thread(target=beat, daemon=True).start()
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        for step in range(start, steps):
            with connect(home) as db:
                if runs.cancel_requested(db, run_id) and not spec.get("ignore_cancel"):
                    shutil.rmtree(tmp, ignore_errors=True)
                    shutil.rmtree(ckpt, ignore_errors=True)
                    reason = runs.get(db, run_id)["reason"] or "cancelled"
                    runs.finish(db, run_id, "cancelled", reason=reason, worker=worker)
                    return runs.get(db, run_id)
            if spec.get("crash_at") == step and run["attempts"] <= int(spec.get("crash_attempts", 1)):
                os.kill(os.getpid(), signal.SIGKILL)
            if spec.get("raise_at") == step:
                raise RuntimeError(f"boom at step {step}")
            time.sleep(step_s)
            (tmp / f"part-{step}").write_text("x")
            ckpt.mkdir(parents=True, exist_ok=True)
            (ckpt / "step.new").write_text(str(step + 1))
            os.replace(ckpt / "step.new", ckpt / "step")
            with connect(home) as db:
                events.add(db, run_id, "progress", step=step + 1, loss=1.0 / (step + 1))
        os.replace(tmp, final)
        try:
            with connect(home) as db:
                if spec.get("fail_finish"):
                    # a real full disk as SQLite sees it: the file may not grow by one more page
                    pages = db.execute("PRAGMA page_count").fetchone()[0]
                    db.execute(f"PRAGMA max_page_count = {pages}")
                runs.finish(db, run_id, "succeeded", worker=worker, artifact_path=str(final),
                            metrics={"accuracy": 1.0, "pad": "x" * (200_000 if spec.get("fail_finish") else 0)})
                row = runs.get(db, run_id)
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)  # no artifact for a run the database does not call succeeded
            raise
        shutil.rmtree(ckpt, ignore_errors=True)
        return row
    finally:
        stop.set()


def hammer(home: str, run_id: int, worker: str, n: int) -> None:
    """Concurrent writer for the busy-database test: events and heartbeats as fast as possible."""
    for i in range(n):
        with connect(home) as db:
            events.add(db, run_id, "progress", step=i, loss=0.5)
            runs.heartbeat(db, run_id, worker, progress={"step": i})
