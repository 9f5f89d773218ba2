"""Entrypoint of one training process: `python -m jobs.child RUN_ID [--home H] [--worker W] [--target MOD:FN]`.

The worker (or a Ray job) starts it for a run the worker has already claimed. It calls the target — by default
`ops.execution.execute`, which trains, evaluates, heartbeats, honours cancel and finishes the run row — and
exits. It never decides a run's fate after a crash: a process that dies cannot be trusted to report it, so the
worker (or the heartbeat watchdog) does that from outside.

With `--gpus N` (a run with gpus=N) it hands itself over to torchrun (`exec`, so the worker's handle, the
parent-death signal and SIGTERM reach torchrun), which starts N copies of this module; each copy trains its share
(engine/distributed.py) and rank 0 alone records the result.

Exit codes: 0 the target returned (the run row holds the result), 1 a multi-GPU copy ended without success (so
torchrun stops the other copies, which may be waiting for it), 2 the target raised (traceback on stderr),
3 bad arguments or the run is not held by this worker, 75 the parent worker was already gone at start.
"""
from __future__ import annotations

import argparse
import ctypes
import importlib
import os
import signal
import sys
import traceback

DEFAULT_TARGET = "ops.execution:execute"


def load_target(spec):
    """'package.module:function' (or a callable, returned as is)."""
    if callable(spec):
        return spec
    mod, _, fn = str(spec).partition(":")
    if not mod or not fn:
        raise ValueError(f"target {spec!r} must look like 'package.module:function'")
    obj = importlib.import_module(mod)
    for part in fn.split("."):
        obj = getattr(obj, part)
    return obj


def target_path(target) -> str:
    """Turn a callable into the importable path a child process can load."""
    if isinstance(target, str):
        return target
    mod, name = getattr(target, "__module__", None), getattr(target, "__qualname__", "")
    if not mod or "<" in name or mod == "__main__":
        raise ValueError(f"{target!r} is not importable by a child process; pass 'package.module:function'")
    return f"{mod}:{name}"


def hand_over_to_torchrun(args) -> None:
    """Replace this process by `torchrun --nproc-per-node N -m jobs.child …` (same run, same worker)."""
    from engine import distributed
    os.environ[distributed.MARKER] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(args.gpus),
           "-m", "jobs.child", str(args.run_id), "--worker", args.worker, "--target", str(args.target)]
    if args.home:
        cmd += ["--home", str(args.home)]
    print(f"ftbot-child: run #{args.run_id}: starting {args.gpus} copies through torchrun", flush=True)
    os.execv(sys.executable, cmd)


def die_with_parent(parent_pid: int) -> None:
    """Linux: get SIGKILL when the worker dies, so a dead worker never leaves a training holding its GPU unseen.
    The watchdog then requeues the run from its checkpoint."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: the heartbeat watchdog still catches it, just later
    if os.getppid() != parent_pid:
        sys.stderr.write("ftbot-child: the worker that started this run is gone; not starting\n")
        sys.exit(75)


def yield_to_answers() -> dict:
    """Training shares the machine with the bot's answer path: run at a lower CPU priority (FTBOT_TRAIN_NICE, 10)
    and, on a CPU-only machine, with one core fewer than it has (FTBOT_TRAIN_THREADS overrides; a run's own
    `threads` key still wins), so a question never waits behind a training step."""
    nice = int(os.environ.get("FTBOT_TRAIN_NICE", "10") or 0)
    try:
        if nice > 0:
            os.nice(nice)
    except OSError:
        nice = 0
    threads = int(os.environ.get("FTBOT_TRAIN_THREADS", "0") or 0) or max(1, (os.cpu_count() or 1) - 1)
    try:
        import torch
        if not torch.cuda.is_available():
            torch.set_num_threads(threads)
    except ImportError:
        pass
    return {"nice": nice, "threads": threads}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m jobs.child", description="Run one claimed ftbot run.")
    ap.add_argument("run_id", type=int)
    ap.add_argument("--home", default=None, help="FTBOT_HOME (default: the environment's)")
    ap.add_argument("--worker", default=os.environ.get("FTBOT_WORKER_ID"),
                    help="id of the worker holding the run (heartbeats and the result are guarded by it)")
    ap.add_argument("--target", default=os.environ.get("FTBOT_TARGET", DEFAULT_TARGET))
    ap.add_argument("--claim", action="store_true",
                    help="claim the queued run first (for launching by hand, e.g. under a cluster scheduler)")
    ap.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--gpus", type=int, default=1, help="copies for a multi-GPU run (started through torchrun)")
    args = ap.parse_args(argv)

    from engine import distributed
    ctx = distributed.from_env()
    if args.parent_pid:
        die_with_parent(args.parent_pid)
    elif ctx.active:
        die_with_parent(os.getppid())  # a torchrun copy: go when the torchrun agent goes
    from storage import connect, runs
    from jobs.watchdog import new_worker_id

    worker = args.worker or new_worker_id()
    try:
        with connect(args.home) as db:
            if args.claim and not runs.claim(db, args.run_id, worker):
                sys.stderr.write(f"ftbot-child: run #{args.run_id} is not queued; nothing to do\n")
                return 3
            row = runs.get(db, args.run_id)
        if row["status"] != "running" or row["worker"] != worker:
            sys.stderr.write(f"ftbot-child: run #{args.run_id} is {row['status']} and held by {row['worker']!r},"
                             f" not by {worker!r}; not running it\n")
            return 3
        fn = load_target(args.target)
    except Exception as e:  # noqa: BLE001 (report and let the worker decide)
        sys.stderr.write(f"ftbot-child: error: {e}\n")
        return 3
    if args.gpus > 1 and not ctx.active:
        args.worker = worker
        hand_over_to_torchrun(args)  # does not return
    print(f"ftbot-child: run #{args.run_id} attempt {row['attempts']} pid {os.getpid()} worker {worker}", flush=True)
    try:
        result = fn(args.home, args.run_id, worker=worker)
    except BaseException as e:  # noqa: BLE001
        traceback.print_exc()
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        sys.stderr.write(f"ftbot-child: error: {type(e).__name__}: {msg}\n")
        sys.stderr.flush()
        return 2
    status = result.get("status") if isinstance(result, dict) else None
    print(f"ftbot-child: run #{args.run_id} ended: {status}" + (f" (rank {ctx.rank})" if ctx.active else ""),
          flush=True)
    return 1 if ctx.active and status not in ("succeeded", "cancelled") else 0


if __name__ == "__main__":
    yield_to_answers()     # only as its own process: never lower the priority of a caller that imports main()
    sys.exit(main())
