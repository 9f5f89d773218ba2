"""Retention: remove what no run needs any more. Never touches a queued or running run's files.

  runs/.<id>.tmp            of a finished or unknown run: a half-written artifact, always removed
  runs/.<id>.ckpt           succeeded/cancelled: removed; failed: kept `checkpoint_days` for inspection
  runs/<id>/checkpoints/    of a succeeded run, after `checkpoint_days`, unless the run asked to keep them
  runs/<id>/                of a run that did not succeed (a crash between rename and record): removed
  logs/run-<id>.log         after `log_days`
Unknown runs (no row) count as finished once their folder is older than `orphan_hours`.
"""
from __future__ import annotations

import datetime as _dt
import shutil
import time
from pathlib import Path

from storage import connect
from ops.paths import logs_dir, parse_run_folder, runs_root
from storage import runs as runs_table
from storage.db import home_dir

from jobs import settings



def _age_days(iso: str | None, now: float) -> float:
    if not iso:
        return 0.0
    t = _dt.datetime.fromisoformat(iso).timestamp()
    return (now - t) / 86400


def clean(home, *, checkpoint_days: float | None = None, log_days: float = 30.0, orphan_hours: float = 24.0,
          now: float | None = None, dry_run: bool = False) -> dict:
    """Returns {'removed': [paths], 'kept': n}."""
    home = home_dir(home)
    checkpoint_days = settings.keep_checkpoint_days() if checkpoint_days is None else checkpoint_days
    now = time.time() if now is None else now
    runs_dir = runs_root(home)
    removed: list[str] = []
    kept = 0

    def rm(p: Path) -> None:
        removed.append(str(p))
        if not dry_run:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)

    entries = []
    for p in (runs_dir.iterdir() if runs_dir.is_dir() else []):
        parsed = parse_run_folder(p.name)
        if parsed and p.is_dir():
            entries.append((*parsed, p))
    ids = sorted({e[0] for e in entries})
    rows = {}
    if ids:
        with connect(home) as db:
            rows = runs_table.brief_many(db, ids)

    for run_id, kind, path in entries:
        row = rows.get(run_id)
        if row is None:
            if (now - path.stat().st_mtime) / 3600 >= orphan_hours:
                rm(path)
            else:
                kept += 1
            continue
        status = row["status"]
        if status in ("queued", "running"):
            kept += 1
            continue
        age = _age_days(row["finished_at"], now)
        if kind == "tmp":
            rm(path)
        elif kind == "ckpt":
            if status != "failed" or age >= checkpoint_days:
                rm(path)
            else:
                kept += 1
        elif status != "succeeded":
            rm(path)  # a failed/cancelled run keeps no artifact folder
        else:
            inner = path / "checkpoints"
            keep = bool(row["config"].get("keep_checkpoints"))
            if inner.is_dir() and not keep and age >= checkpoint_days:
                rm(inner)
            else:
                kept += 1

    logs = logs_dir(home)
    for p in (logs.glob("run-*.log") if logs.is_dir() else []):
        if (now - p.stat().st_mtime) / 86400 >= log_days:
            rm(p)
    return {"removed": removed, "kept": kept}
