"""Local executor: each run is a child process of the worker, pinned to one GPU of this machine."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from jobs.executors.environment import child_environment
from ops.paths import run_log
from storage.db import home_dir

_ROOT = str(Path(__file__).resolve().parents[2])  # the project root, so the child imports the same code


def describe_exit(code: int, log_path: Path | None = None) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        text = f"the training process was killed by {name}"
        if -code == signal.SIGKILL:
            text += " (killed by hand, or by the system when it ran out of memory)"
        elif -code == signal.SIGSEGV:
            text += " (it crashed in native code)"
    elif code == 0:
        text = "the training process ended without recording a result"
    else:
        text = f"the training process exited with code {code}"
    last = last_error_line(log_path) if log_path else None
    return f"{text}: {last}" if last else text


def last_error_line(log_path: Path, limit: int = 300) -> str | None:
    """The child's own one-line error ('ftbot-child: error: ...'), else the log's last line."""
    try:
        with open(log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            lines = [ln.strip() for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return None
    for ln in reversed(lines):
        if ln.startswith("ftbot-child: error: "):
            return ln[len("ftbot-child: error: "):][:limit]
    if lines and not lines[-1].startswith("ftbot-child:"):
        return lines[-1][:limit]
    return None


class LocalHandle:
    def __init__(self, proc: subprocess.Popen, log_path: Path, gpu: str | None, copies: int = 1):
        self.proc, self.log_path, self.gpu = proc, log_path, gpu
        self.pid = proc.pid
        self.where = f"pid {proc.pid}" + (f" on GPU{'s' if gpu and ',' in gpu else ''} {gpu}" if gpu is not None else "")
        if copies > 1:
            self.where += f", {copies} torchrun copies"

    def poll(self) -> int | None:
        return self.proc.poll()

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def describe_exit(self, code: int) -> str:
        return describe_exit(code, self.log_path)

    def retryable(self, code: int) -> bool:
        """Crashes (signals, unknown codes) may be retried from a checkpoint; an exception the child reported
        (exit 2) or a refusal (3) would only repeat itself."""
        return code not in (2, 3)


class LocalExecutor:
    name = "local"

    def __init__(self, python: str | None = None, gpus: list[str] | None = None):
        self.python = python or sys.executable
        self.gpus = gpus  # None: detect lazily (only when a slot count or GPU pin is needed)

    def gpu_ids(self) -> list[str]:
        if self.gpus is None:
            from jobs.settings import gpu_ids
            self.gpus = gpu_ids()
        return self.gpus

    def default_slots(self) -> int:
        return len(self.gpu_ids()) or 1

    def slots_needed(self, config: dict) -> tuple[int, str | None]:
        """(worker slots the run takes, or a reason it cannot run here). With GPUs a slot is a GPU, so gpus=N takes
        N; without, the copies share the CPU in one slot, and only an explicit device=cpu asks for that."""
        gpus = int(config.get("gpus") or 1)
        if gpus <= 1:
            return 1, None
        if self.gpu_ids():
            return gpus, None
        if config.get("device") == "cpu":
            return 1, None
        return 1, (f"gpus={gpus} but this worker sees no GPU: train with gpus=1, or add device=cpu to run "
                   f"{gpus} CPU copies (only useful to test the multi-GPU path)")

    def launch(self, *, home, run_id: int, worker_id: str, target: str, slot: int, attempt: int,
               slots: list[int] | None = None, gpus: int = 1) -> LocalHandle:
        home = home_dir(home)
        log_path = run_log(home, run_id)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = child_environment(FTBOT_HOME=str(home), FTBOT_WORKER_ID=worker_id, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, os.getcwd(), env.get("PYTHONPATH")) if p)
        ids = self.gpu_ids()
        gpu = ",".join(ids[s % len(ids)] for s in (slots or [slot])) if ids else None
        if gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpu  # the run's GPUs only: the engine sees them as cuda:0..N-1
        cmd = [self.python, "-m", "jobs.child", str(int(run_id)), "--home", str(home), "--worker", worker_id,
               "--target", target, "--parent-pid", str(os.getpid())]
        if gpus > 1:
            cmd += ["--gpus", str(int(gpus))]
        with open(log_path, "ab") as out:
            out.write(f"\n===== run #{run_id} attempt {attempt} (worker {worker_id}) =====\n".encode())
            out.flush()
            # stdin closed, output to the run's log file: the child never blocks on a pipe nobody reads.
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                    cwd=os.getcwd(), close_fds=True)
        return LocalHandle(proc, log_path, gpu, copies=gpus)
