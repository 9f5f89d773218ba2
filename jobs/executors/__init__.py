"""Where a claimed run's training process runs.

An executor starts `python -m jobs.child RUN_ID` somewhere and returns a handle the worker polls:
  handle.poll() -> None while it runs, else an exit code (negative: killed by that signal)
  handle.terminate() / handle.kill()      ask it to stop / force it
  handle.describe_exit(code) -> str       a sentence for the run's reason ("killed by SIGKILL, ...")
  handle.pid, handle.where                for logs and tests
An executor also says how many worker slots a run takes: `slots_needed(config) -> (n, problem or None)` (local:
a gpus=N run takes N GPU slots; ray: one, the cluster finds the GPUs), and `launch` gets `slots=` and `gpus=` for it.
`local` runs it as a child process of the worker; `ray` submits it as a Ray job (see jobs/executors/ray.py).
"""
from __future__ import annotations

from jobs import settings


def get_executor(name: str | None = None, **kwargs):
    name = (name or settings.executor_name()).lower()
    if name == "local":
        from jobs.executors.local import LocalExecutor
        return LocalExecutor(**kwargs)
    if name == "ray":
        from jobs.executors.ray import RayExecutor
        return RayExecutor(**kwargs)
    raise ValueError(f"FTBOT_EXECUTOR={name!r} is not valid: use 'local' (this machine) or 'ray' (a Ray cluster)")
