"""Where things live under FTBOT_HOME — the one definition of the folder layout (docs/architecture.md).

A run's artifact is written under runs/.<id>.tmp and renamed to runs/<id> only when the run succeeds; its resumable
state lives in runs/.<id>.ckpt. The worker, the watchdog, retention and the operations all read these names here.
"""
from __future__ import annotations

import re
from pathlib import Path

from engine.served import layout
from storage.db import home_dir

RUN_FOLDER = re.compile(r"^(?:\.(\d+)\.(tmp|ckpt)|(\d+))$")   # runs/<id>, runs/.<id>.tmp, runs/.<id>.ckpt


def datasets_root(home) -> Path:
    return home_dir(home) / "datasets"


def dataset_dir(home, name: str) -> Path:
    return datasets_root(home) / name


def runs_root(home) -> Path:
    return home_dir(home) / "runs"


def run_dir(home, run_id: int) -> Path:
    """The finished artifact of a succeeded run."""
    return runs_root(home) / str(int(run_id))


def run_tmp_dir(home, run_id: int) -> Path:
    """The artifact while it is written (renamed to run_dir on success)."""
    return runs_root(home) / f".{int(run_id)}.tmp"


def run_ckpt_dir(home, run_id: int) -> Path:
    """Resumable training state of a run."""
    return runs_root(home) / f".{int(run_id)}.ckpt"


def has_checkpoint(home, run_id: int) -> bool:
    d = run_ckpt_dir(home, run_id)
    return d.is_dir() and any(d.iterdir())


def preview_cache(home) -> Path:
    """Parameter counts of model shapes already previewed (engine/preview.py structure_key → counts)."""
    return home_dir(home) / "cache" / "preview.json"


def logs_dir(home) -> Path:
    return home_dir(home) / "logs"


def run_log(home, run_id: int) -> Path:
    return logs_dir(home) / f"run-{int(run_id)}.log"


def parse_run_folder(name: str) -> tuple[int, str] | None:
    """runs/ entry name → (run id, 'final' | 'tmp' | 'ckpt'), or None for anything else."""
    m = RUN_FOLDER.match(name)
    if not m:
        return None
    return int(m.group(1) or m.group(3)), m.group(2) or "final"


def run_plot(artifact_path, name: str) -> Path:
    """A chart the report drew into a run's artifact folder (engine/served/layout.py), e.g. 'loss_curve'."""
    return layout.plot(artifact_path, name)
