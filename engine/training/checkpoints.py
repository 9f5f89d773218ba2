"""Resumable training state: only tensors and plain values are written, so a checkpoint loads with
torch.load(weights_only=True) — FTBOT_HOME may be shared, and a full unpickle of a file someone else wrote runs their
code."""
from __future__ import annotations

import contextlib
import json
import logging
import os
import random
from pathlib import Path

import numpy as np
import torch

from engine.classifier import model_parameters
from engine.served import layout
from engine.training.setup import Setup, State

log = logging.getLogger(__name__)
CHECKPOINT_FORMAT = 2    # 2: loadable with torch.load(weights_only=True)


# ---- checkpoints -----------------------------------------------------------------------------------------
def _numpy_rng_state() -> dict:
    """np.random's MT19937 state as a tensor and plain numbers (weights_only loads refuse numpy arrays)."""
    name, key, pos, has_gauss, cached = np.random.get_state()
    return {"name": str(name), "key": torch.from_numpy(np.asarray(key, dtype=np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}


def _set_numpy_rng_state(st: dict) -> None:
    key = st["key"].numpy().astype(np.uint32)
    np.random.set_state((st["name"], key, st["pos"], st["has_gauss"], st["cached_gaussian"]))


def _json_default(o):
    if isinstance(o, np.generic):        # numpy scalars in metrics
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


def save_checkpoint(s: Setup, st: State, checkpoint_dir, elapsed_s: float | None = None) -> None:
    """Only tensors and plain Python values go in, so `load_checkpoint` can use torch.load(weights_only=True):
    FTBOT_HOME may be shared, and a full unpickle of a file someone else could have written runs their code.
    History and metrics travel as one JSON string; RNG states as tensors and numbers."""
    d = Path(checkpoint_dir)
    d.mkdir(parents=True, exist_ok=True)
    py_version, py_internal, py_gauss = random.getstate()
    state = {
        "format": CHECKPOINT_FORMAT, "fingerprint": s.fingerprint, "step": st.step,
        "trainable": {n: p.detach().cpu() for n, p in model_parameters(s.built.model) if p.requires_grad},
        "optimizer": s.optimizer.state_dict(), "scheduler": s.scheduler.state_dict(),
        "rng": {"torch": torch.get_rng_state(), "numpy": _numpy_rng_state(),
                "python": {"version": int(py_version), "internal": torch.tensor(py_internal, dtype=torch.int64),
                           "gauss": py_gauss},
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "mask": s.pre.generator.get_state()},
        "best_state": st.best_state,
        "json": json.dumps({"best": {"value": st.best_value, "metrics": st.best_metrics, "step": st.best_step,
                                     "bad_evals": st.bad_evals, "last_eval_step": st.last_eval_step},
                            "history": st.history, "elapsed_s": st.elapsed_s + (elapsed_s or 0.0)},
                           default=_json_default),
    }
    tmp = d / (layout.CHECKPOINT + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, d / layout.CHECKPOINT)     # a crash mid-write never leaves a torn checkpoint


def load_checkpoint(s: Setup, st: State, checkpoint_dir) -> bool:
    path = Path(checkpoint_dir) / layout.CHECKPOINT
    if not path.exists():
        return False
    try:
        # weights_only: tensors, containers and plain values only; never arbitrary objects from a shared folder.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:   # an old-format (pickled numpy) or foreign file: refuse it, do not execute it
        log.warning("checkpoint in %s cannot be loaded safely (%s); starting fresh", checkpoint_dir,
                    str(e).splitlines()[0] if str(e) else type(e).__name__)
        return False
    if state.get("format") != CHECKPOINT_FORMAT or state.get("fingerprint") != s.fingerprint:
        log.warning("checkpoint in %s belongs to another config or dataset; starting fresh", checkpoint_dir)
        return False
    params = dict(model_parameters(s.built.model))
    with torch.no_grad():
        for n, v in state["trainable"].items():
            params[n].copy_(v.to(params[n].device))
    s.optimizer.load_state_dict(state["optimizer"])
    s.scheduler.load_state_dict(state["scheduler"])
    rng = state["rng"]
    torch.set_rng_state(rng["torch"])
    _set_numpy_rng_state(rng["numpy"])
    py = rng["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["internal"].tolist()), py["gauss"]))
    if rng.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    s.pre.generator.set_state(rng["mask"])
    rest = json.loads(state["json"])
    b = rest["best"]
    st.step, st.history, st.elapsed_s = state["step"], rest["history"], rest["elapsed_s"]
    st.best_value, st.best_metrics, st.best_step = b["value"], b["metrics"], b["step"]
    st.best_state = state["best_state"]
    st.bad_evals, st.last_eval_step = b["bad_evals"], b["last_eval_step"]
    return True


def remove_checkpoint(checkpoint_dir) -> None:
    for name in (layout.CHECKPOINT, layout.CHECKPOINT + ".tmp"):
        with contextlib.suppress(FileNotFoundError):
            (Path(checkpoint_dir) / name).unlink()
    with contextlib.suppress(OSError):
        Path(checkpoint_dir).rmdir()
