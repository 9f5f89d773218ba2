"""Where things live under FTBOT_HOME (see docs/architecture.md)."""
from __future__ import annotations

from pathlib import Path

from storage.db import home_dir


def dataset_dir(home, name: str) -> Path:
    return home_dir(home) / "datasets" / name


def run_dir(home, run_id: int) -> Path:
    return home_dir(home) / "runs" / str(int(run_id))


def run_tmp_dir(home, run_id: int) -> Path:
    return home_dir(home) / "runs" / f".{int(run_id)}.tmp"


def run_ckpt_dir(home, run_id: int) -> Path:
    return home_dir(home) / "runs" / f".{int(run_id)}.ckpt"
