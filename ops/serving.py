"""Settings of the process that answers questions (`ftbot serve`).

FTBOT_ANSWER_THREADS: torch threads for answering. One question is a tiny forward pass; on a small machine shared
with training children (and other processes) two OpenMP threads wait on each other's stragglers: measured on a
loaded 2-core box, p50 79 ms / p90 459 ms with 2 threads against 17 ms / 31 ms with 1 (bench/qa_challenger.py).
Default: 1 on machines with ≤ 2 cores, else torch's own choice.
"""
from __future__ import annotations

import os


def answer_threads(env=None) -> int | None:
    env = os.environ if env is None else env
    raw = (env.get("FTBOT_ANSWER_THREADS") or "").strip()
    if raw:
        return max(1, int(raw))
    return 1 if (os.cpu_count() or 1) <= 2 else None


def configure(env=None) -> int:
    import torch
    n = answer_threads(env)
    if n:
        torch.set_num_threads(n)
    return torch.get_num_threads()
