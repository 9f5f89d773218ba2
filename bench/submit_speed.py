"""Submit → queued, and submit → first training step, through the real CLI and worker, for this checkout and a
reference checkout (e.g. the code before the operations-layer change) in the same run.

    python bench/submit_speed.py --reference /path/to/older/checkout [--runs 3] [--json]

For each tree: a fresh FTBOT_HOME, the shipped banking sample registered with `ftbot dataset add`, then `--runs`
times `ftbot train banking-sample --queue --epochs 1 --json` (wall time of the whole command: Python start-up,
parsing, the pre-launch preview, the queue insert), then one `ftbot worker --until-idle`; "to first step" is the
first `step` event of each run minus its `created_at` (claim, child process start, dataset load, model build, setup),
minus the time the run waited behind the earlier runs of this bench in the single slot.
Each command runs with the tree first on PYTHONPATH and the same interpreter, so only the code differs.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, emit, log, parser  # noqa: E402

SAMPLE = "engine/sample_data/banking_sample.csv"


def _cli(tree: Path, home: Path, *args: str, threads: int) -> tuple[float, subprocess.CompletedProcess]:
    env = dict(os.environ, FTBOT_HOME=str(home), PYTHONPATH=str(tree), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               OMP_NUM_THREADS=str(threads or os.cpu_count()))
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bot", *args], cwd=str(tree), env=env, capture_output=True,
                          text=True, timeout=1800)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(args)} in {tree}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t, proc


def _ts(iso: str) -> float:
    return dt.datetime.fromisoformat(iso).timestamp()


def measure(tree: Path, runs: int, threads: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="ftbot-submit-bench-") as tmp:
        home = Path(tmp) / "home"
        _cli(tree, home, "dataset", "add", "banking-sample", str(tree / SAMPLE), threads=threads)
        queued = []
        for _ in range(runs):
            wall, proc = _cli(tree, home, "train", "banking-sample", "--queue", "--json", "--epochs", "1",
                              "--set", f"threads={threads or 0}", threads=threads)
            queued.append(wall)
            log(f"  {tree.name}: train --queue → queued in {wall:.2f}s")
        _cli(tree, home, "worker", "--until-idle", "--no-schedules", threads=threads)
        db = sqlite3.connect(str(home / "ftbot.db"))
        first = []
        prev_end = None
        for rid, created, started, finished, status in db.execute(
                "SELECT id, created_at, started_at, finished_at, status FROM runs ORDER BY id"):
            step = db.execute("SELECT MIN(at) FROM run_events WHERE run_id = ? AND kind = 'step'", [rid]).fetchone()[0]
            if status != "succeeded" or step is None:
                raise RuntimeError(f"run #{rid} in {tree} ended {status}")
            begin = max(_ts(created), prev_end) if prev_end else _ts(created)   # not the wait behind earlier runs
            first.append(_ts(step) - begin)
            prev_end = _ts(finished)
        db.close()
    return {"tree": str(tree), "queued_s": queued, "first_step_s": first,
            "queued_median_s": statistics.median(queued), "first_step_median_s": statistics.median(first)}


def main() -> None:
    ap = parser(__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--reference", type=Path, help="another checkout to measure in the same run (e.g. before a change)")
    args = ap.parse_args()
    result = {"bench": "submit_speed", "runs": args.runs, "ours": measure(REPO, args.runs, args.threads)}
    if args.reference:
        result["reference"] = measure(args.reference.resolve(), args.runs, args.threads)
        for k in ("queued_median_s", "first_step_median_s"):
            result[f"speedup_{k[:-9]}"] = round(result["reference"][k] / max(result["ours"][k], 1e-9), 2)
    ours, ref = result["ours"], result.get("reference")
    lines = [f"train --queue → queued (median of {args.runs}): ours {ours['queued_median_s']:.2f}s"
             + (f" · reference {ref['queued_median_s']:.2f}s · {result['speedup_queued']}× faster" if ref else ""),
             f"submit → first training step (median): ours {ours['first_step_median_s']:.2f}s"
             + (f" · reference {ref['first_step_median_s']:.2f}s · {result['speedup_first_step']}× faster" if ref else "")]
    emit(result if args.json else {"summary": lines}, args.json) if args.json else print("\n".join(lines))


if __name__ == "__main__":
    main()
