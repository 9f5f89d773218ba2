"""Retention removes leftovers of finished runs and never touches live ones."""
from __future__ import annotations

import os
import time

from storage import connect, runs

from jobs import retention
from tests.jobs.conftest import make_run


def _mk(home, name, *sub):
    p = home / "runs" / name
    (p.joinpath(*sub) if sub else p).mkdir(parents=True, exist_ok=True)
    (p / "f").write_text("x")
    return p


def test_clean_keeps_live_runs_and_removes_leftovers(home):
    queued, running, ok, bad, cancelled = (make_run(home) for _ in range(5))
    with connect(home) as db:
        for rid in (running, ok, bad, cancelled):
            runs.claim(db, rid, "w")
        runs.finish(db, ok, "succeeded", worker="w")
        runs.finish(db, bad, "failed", worker="w")
        runs.finish(db, cancelled, "cancelled", worker="w")
    live = [_mk(home, f".{queued}.ckpt"), _mk(home, f".{running}.tmp"), _mk(home, f".{running}.ckpt")]
    gone = [_mk(home, f".{ok}.tmp"), _mk(home, f".{ok}.ckpt"), _mk(home, f".{cancelled}.ckpt"), _mk(home, str(bad)),
            _mk(home, f".{bad}.tmp")]
    failed_ckpt = _mk(home, f".{bad}.ckpt")
    artifact = _mk(home, str(ok), "checkpoints")
    orphan = _mk(home, ".999.tmp")
    out = retention.clean(home, checkpoint_days=3)
    assert all(p.exists() for p in live) and all(not p.exists() for p in gone)
    assert failed_ckpt.exists() and (artifact / "checkpoints").exists() and orphan.exists()  # too recent
    later = time.time() + 4 * 86400
    old = later - 2 * 86400
    os.utime(orphan, (old, old))
    retention.clean(home, checkpoint_days=3, now=later)
    assert not failed_ckpt.exists() and not (artifact / "checkpoints").exists() and artifact.exists()
    assert not orphan.exists() and all(p.exists() for p in live)
    assert set(out["removed"]) == {str(p) for p in gone}
