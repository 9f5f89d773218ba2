"""The worker: claims queued runs from the runs table and runs each in its own process.

    ftbot worker [--slots N] [--executor local|ray] [--until-idle]

One loop, every `poll_s`:
  reap      a child that exited → its run is settled (the child recorded a result, or the recovery rule applies:
            requeue from the checkpoint, fail with the exit reason, or cancelled)
  supervise heartbeats for live children; cancel flags (a child that has not stopped `cancel_grace_s` after cancel is
            terminated, then killed); a run taken over by another worker has its child stopped (lease lost)
  watchdog  running runs of dead workers (heartbeat older than the timeout, or a dead worker process on this host)
  claim     free slots take the oldest queued runs (one atomic UPDATE each, so racing workers never share a run);
            a gpus=N run waits at the head of the queue until N GPU slots are free (no overtaking)
The runs table is the only state that matters: kill the worker at any point and a new one carries on.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass

from storage import connect, events, runs
from storage.db import home_dir
from storage.runs import TERMINAL

from jobs import settings, watchdog
from jobs.child import DEFAULT_TARGET, target_path

log = logging.getLogger("ftbot.jobs")

KILL_GRACE_S = 5.0  # after SIGTERM, how long before SIGKILL
RETENTION_EVERY_S = 6 * 3600


@dataclass
class _Active:
    run_id: int
    slots: tuple[int, ...]   # worker slots it holds: one, or N GPUs for a gpus=N run
    handle: object
    attempt: int
    started: float
    cancel_seen: float | None = None
    terminated: float | None = None
    killed: bool = False
    stopping: bool = False  # terminated because this worker is shutting down: requeue, do not count as a crash


class Worker:
    """Run queued trainings in child processes, `slots` at a time (default one per GPU, one on CPU)."""

    def __init__(self, home=None, slots: int | None = None, worker_id: str | None = None, poll_s: float = 1.0,
                 target=DEFAULT_TARGET, *, executor=None, heartbeat_timeout_s: float | None = None,
                 cancel_grace_s: float | None = None, max_attempts: int | None = None, schedules: bool = True,
                 retention: bool = True, notify=None):
        from jobs.executors import get_executor

        self.home = home_dir(home)
        self.target = target_path(target)
        self.executor = executor if executor is not None and not isinstance(executor, str) else get_executor(executor)
        if slots is not None or os.environ.get("FTBOT_SLOTS", "").strip():
            self.slots = settings.slots(slots, gpus=[])
        else:
            self.slots = self.executor.default_slots()  # one per GPU (local) / a cap on cluster jobs (ray)
        self.worker_id = worker_id or watchdog.new_worker_id()
        self.poll_s = float(poll_s)
        self.heartbeat_timeout_s = heartbeat_timeout_s or settings.heartbeat_timeout_s()
        self.cancel_grace_s = settings.cancel_grace_s() if cancel_grace_s is None else float(cancel_grace_s)
        self.max_attempts = max_attempts or settings.max_attempts()
        self.heartbeat_every_s = min(10.0, self.heartbeat_timeout_s / 4)
        self.watchdog_every_s = min(30.0, self.heartbeat_timeout_s / 2)
        self.schedules, self.retention, self.notify = schedules, retention, notify

        self._active: dict[int, _Active] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._drain = False
        self._thread: threading.Thread | None = None
        self._scheduler = None
        self._queue_empty = False
        self._last_hb = self._last_wd = 0.0
        self._last_retention = 0.0 if retention else float("inf")
        self._claim_backoff_until = 0.0
        self.finished: list[dict] = []  # what this worker settled: {run_id, status, reason}
        self.errors: list[str] = []  # loop errors it survived (database busy/full, launch failures)
        watchdog.LIVE_HERE.add(self.worker_id)

    # ---- public API --------------------------------------------------------------------------------------------
    def start(self) -> "Worker":
        """Run the loop in a background thread (for `ftbot serve`'s embedded worker)."""
        if self._thread and self._thread.is_alive():
            return self
        self._stop.clear()
        self._start_scheduler()
        self._thread = threading.Thread(target=self._loop_safely, name=f"ftbot-worker-{self.worker_id}", daemon=True)
        self._thread.start()
        return self

    def stop(self, wait: bool = True, drain: bool = False, timeout: float | None = None) -> None:
        """Stop claiming. drain=True lets running trainings finish; otherwise they are stopped and put back in the
        queue (they resume from their checkpoints on the next worker). wait=True blocks until the loop has ended."""
        self._drain = drain
        self._stop.set()
        self._wake.set()
        if wait and self._thread and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._stop_scheduler()
        if not self._active:
            watchdog.LIVE_HERE.discard(self.worker_id)

    def run_forever(self) -> None:
        """The loop in this thread until SIGTERM/SIGINT (then running trainings are requeued) — `ftbot worker`."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: (self._stop.set(), self._wake.set()))
        self._start_scheduler()
        try:
            self._loop()
        finally:
            self._stop_scheduler()

    def run_until_idle(self, timeout: float | None = None) -> list[dict]:
        """Run until the queue is empty and no training is running (tests, `ftbot worker --until-idle`).
        Returns what this call settled: [{run_id, status, reason}] in order."""
        start = len(self.finished)
        self._stop.clear()
        self._loop(until_idle=True, deadline=(time.monotonic() + timeout) if timeout else None)
        return self.finished[start:]

    def active(self) -> dict[int, object]:
        """Runs this worker is supervising: {run_id: pid (local) or the executor's description}."""
        return {rid: (a.handle.pid or a.handle.where) for rid, a in list(self._active.items())}

    @property
    def running(self) -> bool:
        return bool(self._thread and self._thread.is_alive())

    # ---- the loop ----------------------------------------------------------------------------------------------
    def _loop_safely(self) -> None:
        try:
            self._loop()
        except Exception:  # noqa: BLE001 the embedded worker must not die silently inside `ftbot serve`
            log.exception("ftbot worker %s stopped on an unexpected error", self.worker_id)

    def _loop(self, until_idle: bool = False, deadline: float | None = None) -> None:
        log.info("worker %s: %d slot(s), executor %s, home %s", self.worker_id, self.slots,
                 self.executor.name, self.home)
        self._guard("watchdog", self._watchdog, True)
        while True:
            stopping = self._stop.is_set()
            if stopping and not self._drain:
                self._stop_children()
            self._guard("reap", self._reap)
            self._guard("supervise", self._supervise)
            self._guard("watchdog", self._watchdog)
            if not stopping:
                self._guard("claim", self._fill)
                self._guard("retention", self._retention)
            if stopping and not self._active:
                break
            if until_idle and not self._active and self._queue_empty:
                break
            if deadline and time.monotonic() > deadline:
                raise TimeoutError(f"worker still busy after the deadline: runs {sorted(self._active)}")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def _guard(self, what: str, fn, *args) -> None:
        """A failing step (database busy or full, Ray unreachable) is logged and retried next tick, never fatal."""
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001
            msg = f"{what}: {type(e).__name__}: {e}"
            self.errors.append(msg)
            del self.errors[:-50]
            log.error("worker %s: %s (will retry)", self.worker_id, msg)

    # ---- claim and launch --------------------------------------------------------------------------------------
    def _fill(self) -> None:
        self._queue_empty = False
        if time.monotonic() < self._claim_backoff_until:
            return
        while not self._stop.is_set():
            used = {s for a in self._active.values() for s in a.slots}
            free = [i for i in range(self.slots) if i not in used]
            if not free:
                return
            with connect(self.home) as db:
                # a read first: an idle worker polling every second should not take the write lock each time
                head = runs.next_queued(db)
                if head is None:
                    self._queue_empty = True
                    return
                need, problem = self._needs(head)
                if problem is None and need > self.slots:
                    problem = (f"gpus={need} but this worker has {self.slots} GPU slot(s) (FTBOT_GPUS / "
                               f"CUDA_VISIBLE_DEVICES): lower gpus, or run a worker on a machine with more GPUs")
                if problem is None and need > len(free):
                    return  # wait for the GPUs: smaller runs behind it do not overtake
                if not runs.claim(db, head["id"], self.worker_id):
                    continue  # another worker took it: look at the new head
                row = runs.get(db, head["id"])
                if problem is not None:
                    if runs.finish(db, row["id"], "failed", reason=problem, error=problem, worker=self.worker_id):
                        events.add(db, row["id"], "milestone", message=f"failed: {problem}")
                    self._record(row["id"], "failed", problem)
                    continue
            self._launch(row, free[:need])

    def _needs(self, row: dict) -> tuple[int, str | None]:
        config = row.get("config") or {}
        fn = getattr(self.executor, "slots_needed", None)
        return fn(config) if fn else (1, None)

    def _launch(self, row: dict, slots: list[int]) -> None:
        run_id, attempt = row["id"], row["attempts"]
        gpus = int((row.get("config") or {}).get("gpus") or 1)
        try:
            handle = self.executor.launch(home=self.home, run_id=run_id, worker_id=self.worker_id,
                                          target=self.target, slot=slots[0], attempt=attempt,
                                          **({"slots": slots, "gpus": gpus} if gpus > 1 else {}))
        except Exception as e:  # noqa: BLE001 cannot start (no python, Ray unreachable): back to the queue, back off
            self._claim_backoff_until = time.monotonic() + max(10 * self.poll_s, 5.0)
            action = watchdog.recover(self.home, run_id, f"could not start the training process ({e})",
                                      worker=self.worker_id, max_attempts=self.max_attempts,
                                      force_requeue=attempt < self.max_attempts)
            self._record(run_id, action, str(e))
            raise
        self._active[run_id] = _Active(run_id, tuple(slots), handle, attempt, time.monotonic())
        log.info("run #%s: started (%s, attempt %s)", run_id, handle.where, attempt)
        with connect(self.home) as db:
            events.add(db, run_id, "milestone", message=f"started on {self.worker_id} ({handle.where}), attempt {attempt}",
                       data={"action": "started", "worker": self.worker_id, "attempt": attempt, "where": handle.where})

    # ---- children ----------------------------------------------------------------------------------------------
    def _reap(self) -> None:
        for run_id, a in list(self._active.items()):
            code = a.handle.poll()
            if code is None:
                continue
            self._settle(a, code)
            del self._active[run_id]  # only once settled: a failed settle is retried next tick

    def _settle(self, a: _Active, code: int) -> None:
        with connect(self.home) as db:
            row = runs.get(db, a.run_id)
        if row["status"] in TERMINAL:
            watchdog.cleanup_after(self.home, row)
            self._record(a.run_id, row["status"], row["reason"])
            return
        if row["status"] != "running" or row["worker"] != self.worker_id:
            self._record(a.run_id, "lost", f"taken over ({row['status']}, worker {row['worker']})")
            return
        if a.stopping:
            action = watchdog.recover(self.home, a.run_id, f"worker {self.worker_id} was stopped",
                                      worker=self.worker_id, max_attempts=self.max_attempts, force_requeue=True)
        else:
            retryable = getattr(a.handle, "retryable", lambda c: True)(code)
            action = watchdog.recover(self.home, a.run_id, a.handle.describe_exit(code), worker=self.worker_id,
                                      max_attempts=self.max_attempts, retryable=retryable)
        with connect(self.home) as db:
            reason = runs.get(db, a.run_id)["reason"]
        self._record(a.run_id, action, reason)

    def _record(self, run_id: int, status: str, reason: str | None) -> None:
        self.finished.append({"run_id": run_id, "status": status, "reason": reason})
        log.info("run #%s: %s%s", run_id, status, f" ({reason})" if reason else "")

    def _supervise(self) -> None:
        if not self._active:
            return
        t = time.monotonic()
        beat = t - self._last_hb >= self.heartbeat_every_s
        with connect(self.home) as db:
            for run_id, a in list(self._active.items()):
                if runs.cancel_requested(db, run_id) and a.cancel_seen is None:
                    a.cancel_seen = t
                    log.info("run #%s: cancel requested; %.0fs to stop by itself", run_id, self.cancel_grace_s)
                if beat and a.handle.poll() is None and not runs.heartbeat(db, run_id, self.worker_id):
                    row = runs.get(db, run_id)
                    if row["status"] == "queued" or (row["status"] == "running" and row["worker"] != self.worker_id):
                        log.warning("run #%s: taken over by %s; stopping our copy", run_id, row["worker"])
                        self._escalate(a, t, now=True)
                        continue
                if a.cancel_seen is not None and t - a.cancel_seen >= self.cancel_grace_s:
                    if a.terminated is None:
                        events.add(db, run_id, "milestone",
                                   message=f"did not stop within {self.cancel_grace_s:g}s of cancel; stopping it",
                                   data={"action": "terminate"})
                    self._escalate(a, t)
        if beat:
            self._last_hb = t

    def _escalate(self, a: _Active, t: float, now: bool = False) -> None:
        """SIGTERM first, SIGKILL after KILL_GRACE_S."""
        if a.terminated is None:
            a.terminated = t
            a.handle.terminate()
        elif not a.killed and (now or t - a.terminated >= KILL_GRACE_S):
            a.killed = True
            a.handle.kill()

    def _stop_children(self) -> None:
        t = time.monotonic()
        for a in self._active.values():
            a.stopping = True
            self._escalate(a, t)

    # ---- periodic ----------------------------------------------------------------------------------------------
    def _watchdog(self, force: bool = False) -> None:
        t = time.monotonic()
        if not force and t - self._last_wd < self.watchdog_every_s:
            return
        self._last_wd = t
        for run_id, action in watchdog.recover_stale(self.home, timeout_s=self.heartbeat_timeout_s,
                                                     max_attempts=self.max_attempts, me=self.worker_id,
                                                     exclude=set(self._active)):
            log.warning("watchdog: run #%s %s", run_id, action)

    def _retention(self) -> None:
        t = time.monotonic()
        if t - self._last_retention < RETENTION_EVERY_S:
            return
        self._last_retention = t
        from jobs import retention
        removed = retention.clean(self.home)
        if removed["removed"]:
            log.info("retention: removed %d leftover folder(s)", len(removed["removed"]))
        from ops import retention as data_retention
        pruned = data_retention.scheduled(self.home)
        if any(pruned.values()):
            log.info("retention: pruned %s", ", ".join(f"{n} {k}" for k, n in pruned.items() if n))

    def _start_scheduler(self) -> None:
        if self.schedules and self._scheduler is None:
            from jobs.scheduler import Scheduler
            self._scheduler = Scheduler(self.home, notify=self.notify).start()

    def _stop_scheduler(self) -> None:
        if self._scheduler is not None:
            self._scheduler.stop()
            self._scheduler = None


def main(argv: list[str] | None = None) -> int:
    """`ftbot worker`: serve the queue in FTBOT_HOME (this machine, or any machine that shares it)."""
    ap = argparse.ArgumentParser(prog="ftbot worker", description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", default=None, help="FTBOT_HOME (default: $FTBOT_HOME or ./.ftbot)")
    ap.add_argument("--slots", type=int, default=None, help="runs at once (default: $FTBOT_SLOTS, else one per GPU)")
    ap.add_argument("--executor", default=None, choices=["local", "ray"], help="default: $FTBOT_EXECUTOR or local")
    ap.add_argument("--id", dest="worker_id", default=None, help="worker id (default host:pid:random)")
    ap.add_argument("--poll", type=float, default=1.0, help="seconds between queue checks")
    ap.add_argument("--heartbeat-timeout", type=float, default=None, help="seconds (default 60)")
    ap.add_argument("--max-attempts", type=int, default=None, help="tries per run after crashes (default 3)")
    ap.add_argument("--target", default=DEFAULT_TARGET, help=argparse.SUPPRESS)
    ap.add_argument("--until-idle", action="store_true", help="exit when the queue is empty and nothing runs")
    ap.add_argument("--no-schedules", action="store_true", help="do not run recurring schedules in this process")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s")
    try:
        w = Worker(args.home, slots=args.slots, worker_id=args.worker_id, poll_s=args.poll, target=args.target,
                   executor=args.executor, heartbeat_timeout_s=args.heartbeat_timeout, max_attempts=args.max_attempts,
                   schedules=not (args.no_schedules or args.until_idle))
    except (ValueError, RuntimeError) as e:
        print(f"ftbot worker: {e}", file=sys.stderr)
        return 2
    if args.until_idle:
        done = w.run_until_idle()
        for d in done:
            print(f"run #{d['run_id']}: {d['status']}" + (f" ({d['reason']})" if d["reason"] else ""))
        return 0
    print(f"ftbot worker {w.worker_id}: {w.slots} slot(s), executor {w.executor.name}, home {w.home}; Ctrl-C stops"
          " (running trainings go back to the queue and resume from their checkpoints)", file=sys.stderr)
    w.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
