"""Five runs submitted at once on one slot: the order they ran in, their states and timings.

    .venv/bin/python bench/queue_demo.py

Uses the fake training target (tests/jobs/fakes.py: 3 steps of 0.1 s, a real child process per run), so it shows
the job runner's own behaviour and overhead, not the engine's.
"""
from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storage import connect, runs  # noqa: E402
from jobs.worker import Worker  # noqa: E402
from tests.jobs.conftest import make_run  # noqa: E402


def _t(iso: str) -> float:
    return dt.datetime.fromisoformat(iso).timestamp()


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="ftbot-queue-demo-")) / "home"
    t0 = time.time()
    ids = [make_run(home, steps=3, step_s=0.1) for _ in range(5)]
    with connect(home) as db:
        print("submitted:", ", ".join(f"#{i} (position {runs.queue_position(db, i)})" for i in ids))
        print("states at submit:", [runs.get(db, i)["status"] for i in ids])
    w = Worker(home, slots=1, poll_s=0.05, target="tests.jobs.fakes:execute", schedules=False, retention=False)
    done = w.run_until_idle(timeout=120)
    wall = time.time() - t0
    with connect(home) as db:
        rows = [runs.get(db, i) for i in ids]
    print(f"\n{'run':>4} {'order':>5} {'status':>10} {'attempts':>8} {'waited_s':>8} {'ran_s':>6}")
    order = {d["run_id"]: n + 1 for n, d in enumerate(done)}
    for r in rows:
        waited = _t(r["started_at"]) - _t(r["created_at"])
        ran = _t(r["finished_at"]) - _t(r["started_at"])
        print(f"{'#' + str(r['id']):>4} {order[r['id']]:>5} {r['status']:>10} {r['attempts']:>8} {waited:>8.2f} {ran:>6.2f}")
    in_order = [d["run_id"] for d in done] == ids
    overlap = any(_t(b["started_at"]) < _t(a["finished_at"]) for a, b in zip(rows, rows[1:]))
    print(f"\nran in submission order: {in_order}; any overlap on the single slot: {overlap}; "
          f"total wall {wall:.2f}s (5 × 0.3 s of 'training' + one child process start per run)")
    return 0 if in_order and not overlap else 1


if __name__ == "__main__":
    sys.exit(main())
