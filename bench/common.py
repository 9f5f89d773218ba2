"""Shared helpers of the bench/ scripts: paths, data sampling, the matmul peak, peak memory, JSON output.

Every bench compares ftbot against its reference *in the same run* on the same machine, because the machines these
run on are shared and their timings are noisy; ratios are the figures to trust, absolute numbers only roughly.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DATA = Path(os.environ.get("FTBOT_BENCH_DATA", REPO.parent / "shared" / "data"))
BANKING77 = DATA / "banking77" / "train.csv"
GERMAN_CREDIT = DATA / "german_credit.csv"
OUT = REPO / "bench" / "out"

# Published BANKING77 anchors (Casanueva et al. 2020, official test set; accuracy %).
ANCHORS = {"full": {"BERT-large fine-tuned": 93.66, "USE+ConveRT": 93.36},
           "10": {"BERT-large fine-tuned": 83.42, "USE+ConveRT": 85.19}}


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout at the end")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    return p


def setup_threads(n: int) -> int:
    import torch
    if n:
        torch.set_num_threads(n)
    return torch.get_num_threads()


def machine() -> dict:
    import torch
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "python": platform.python_version(),
            "load_avg_1m": round(os.getloadavg()[0], 2)}


def log(*a) -> None:
    print(*a, file=sys.stderr, flush=True)


def emit(result: dict, as_json: bool) -> None:
    """Human summary on stderr always; the JSON object on stdout with --json (else pretty-printed)."""
    text = json.dumps(result, default=_jsonable, sort_keys=False)
    if as_json:
        print(text, flush=True)
    else:
        print(json.dumps(result, default=_jsonable, indent=2), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)


def save(name: str, result: dict) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(result, default=_jsonable, indent=2))
    return path


def _jsonable(o):
    import numpy as np
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    if dataclasses.is_dataclass(o):
        return dataclasses.asdict(o)
    return str(o)


# ---- data ------------------------------------------------------------------------------------------------
def banking77(seed: int = 42):
    """BANKING77 train.csv, 4 duplicate texts dropped, seeded stratified 80/20 split (the 20 % is our held-out
    test part; it is NOT the official BANKING77 test set)."""
    from engine.data import prepare_dataset
    return prepare_dataset(BANKING77, dedupe=True, val_fraction=0.2, seed=seed)


def german_credit(seed: int = 42, test_fraction: float = 0.3):
    from engine.data import prepare_dataset
    return prepare_dataset(GERMAN_CREDIT, label_column="risk", val_fraction=test_fraction, seed=seed)


def per_class(examples, k: int, seed: int = 42, key=lambda e: e.label):
    """k examples per class, sampled seeded (classes with fewer keep all), in a seeded shuffled order."""
    rng = random.Random(seed)
    by = defaultdict(list)
    for e in examples:
        by[key(e)].append(e)
    out = []
    for label in sorted(by):
        items = list(by[label])
        rng.shuffle(items)
        out += items[:k]
    rng.shuffle(out)
    return out


def stratified_sample(examples, n: int, seed: int = 42):
    """n examples, stratified by label (sklearn), seeded."""
    if n >= len(examples):
        return list(examples)
    from sklearn.model_selection import train_test_split
    keep, _ = train_test_split(list(range(len(examples))), train_size=n, random_state=seed,
                               stratify=[e.label for e in examples])
    return [examples[i] for i in sorted(keep)]


def with_split(data, train, validation):
    """A copy of PreparedDataset `data` with other train/validation lists (label space kept)."""
    return dataclasses.replace(data, train=list(train), validation=list(validation),
                               split={**data.split, "train": len(train), "validation": len(validation)})


# ---- compute ---------------------------------------------------------------------------------------------
def matmul_peak(n: int = 2048, reps: int = 10, dtype: str = "float32") -> dict:
    """Achieved FLOP/s of torch.matmul on two n×n matrices (2·n³ FLOPs each), best of `reps` after a warm-up."""
    import torch
    dt = getattr(torch, dtype)
    a, b = torch.randn(n, n, dtype=dt), torch.randn(n, n, dtype=dt)
    torch.matmul(a, b)
    best = float("inf")
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        torch.matmul(a, b)
        dt_s = time.perf_counter() - t
        times.append(dt_s)
        best = min(best, dt_s)
    times.sort()
    flops = 2 * n ** 3
    return {"n": n, "dtype": dtype, "best_s": best, "median_s": times[len(times) // 2],
            "flops_per_s": flops / best, "flops_per_s_median": flops / times[len(times) // 2]}


def percentile(values, q: float) -> float:
    import numpy as np
    return float(np.percentile(np.asarray(values, dtype=float), q))


# ---- memory ----------------------------------------------------------------------------------------------
def vm_kb(field: str = "VmHWM") -> int:
    """A field of /proc/self/status in KiB: VmHWM is this process's own peak RSS (unlike ru_maxrss, which a
    child started by fork+exec inherits from its parent's high-water mark)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(args: list[str], timeout: float | None = None) -> dict:
    """Run `python <args>` in a fresh process; its last stdout line is JSON → dict."""
    import subprocess
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=str(REPO), env={**os.environ})
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
