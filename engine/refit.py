"""Refit on every labelled row once the model has been chosen (`refit`, engine/config.py).

A small dataset pays twice for its validation part: BANKING77 registered at 10 examples per intent keeps 2 of every
10 for validation, so the model learns from 8. The validation rows are needed to choose the checkpoint, the partner,
the blend weight, the winner and the thresholds — but once those are chosen they have done their job. So, as
scikit-learn's `refit=True` does after a search, the served models are trained again on train + validation:

- the transformer for the best checkpoint's number of epochs (the first fit's early stopping chose it), starting as
  the first fit did (same seed, head init, what the encoder reads), keeping its final weights (`keep_last`: no row is
  left to choose a checkpoint on);
- the partner (engine/evaluation/selection.py) with the same settings on the same rows;
- kept as they were: the choice of what is served, the blend weight, the answer and cost thresholds, and every
  reported figure — those are of the first fit, on rows it never trained on. A score of the refit model on the
  validation rows would be a training score, so none is reported; the record says what was refitted.

The refit trains in a folder beside the artifact and its weights replace the first fit's only when it succeeded; a
failed or cancelled refit leaves the first fit in place, served. Not for large data (auto: ≤ REFIT_MAX_ROWS rows):
there validation is a small share of the rows and a second training would double a long run.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
import time
from pathlib import Path
from typing import Callable

from engine.artifact import FEATURES_FILE
from engine.config import TrainConfig
from engine.data.types import PreparedDataset
from engine.jsonfiles import write_json
from engine.progress import Progress

log = logging.getLogger(__name__)

# what a trained model is made of in an artifact (engine/artifact.py save_trained); config.json is rewritten last
MODEL_FILES = ("model", "head.safetensors", "label_map.json", FEATURES_FILE)
REFIT_DIR = ".refit"


def best_epochs(artifact_dir: str | Path, config: TrainConfig) -> float:
    """Epochs the first fit had trained when its best checkpoint was taken."""
    meta = json.loads((Path(artifact_dir) / "meta.json").read_text(encoding="utf-8"))
    best, n = meta.get("best_step"), int(meta.get("train_examples") or 0)
    if not best or not n:
        return float(config.epochs)
    return max(best / math.ceil(n / config.batch_size), 1e-3)


def refit(config: TrainConfig, data: PreparedDataset, artifact_dir: str | Path, *,
          on_progress: Callable[[Progress], None] | None = None,
          should_stop: Callable[[], str | None] | None = None, spent_s: float = 0.0) -> dict | None:
    """Refit the served models of the artifact on data.train + data.validation, in place. → a record for
    metrics.json (status succeeded / failed / cancelled / skipped), or None when `refit` does not apply.

    `spent_s`: seconds the run has used so far; with a `budget` the refit gets what is left of it (none left: the
    first fit is served, said as status 'skipped')."""
    from engine.evaluation import selection as sel
    from engine.train import train

    root = Path(artifact_dir)
    rows = len(data.train) + len(data.validation)
    if not config.resolved_refit(rows) or not data.validation:
        return None
    t0 = time.perf_counter()
    if on_progress is not None:
        on_progress(Progress("milestone", 0, 0, 0.0, message=f"refitting on all {rows:,} rows (train + validation) "
                             "now that the model is chosen; the figures stay those of the first fit"))
    first = json.loads((root / "config.json").read_text(encoding="utf-8"))
    chosen = json.loads((root / sel.SELECTION_FILE).read_text(encoding="utf-8")) if (root / sel.SELECTION_FILE).exists() else {}
    served = chosen.get("served", "finetuned")
    record: dict = {"rows": rows, "train_rows_before": len(data.train), "validation_rows": len(data.validation),
                    "served": served, "figures": "of the first fit, on validation rows it never trained on"}
    all_texts = [e.text for e in data.train] + [e.text for e in data.validation]
    all_labels = [e.label for e in data.train] + [e.label for e in data.validation]
    if chosen:
        record["partner"] = sel.refit_partner(root, all_texts, all_labels)
    if served == "baseline":   # the transformer answers nothing: a second training would be time for nothing
        record.update(status="succeeded", transformer="not refitted: the baseline alone is served",
                      refit_s=round(time.perf_counter() - t0, 1))
        _note(root, record)
        return record

    budget = None
    if config.budget:
        budget = config.budget - spent_s
        if budget < 1:
            record.update(status="skipped", transformer=f"first fit kept: the time budget of {config.budget:.0f}s "
                          "was spent", refit_s=round(time.perf_counter() - t0, 1))
            _note(root, record)
            return record
    epochs = best_epochs(root, config)
    # start as the first fit did; with `auto` the resolution could flip on the larger row count
    cfg = dataclasses.replace(config, epochs=epochs, blend_holdout=0.0, patience=0, budget=budget,
                              head_init=first.get("head_init_used") or config.head_init,
                              contrastive_epochs=first.get("contrastive_epochs_used",
                                                           config.contrastive_epochs),
                              tabular_text=first.get("tabular_text_used") or config.tabular_text)
    both = dataclasses.replace(
        data, train=list(data.train) + list(data.validation),
        raw_train=(list(data.raw_train) + list(data.raw_validation)) if data.raw_train is not None
        and data.raw_validation is not None else data.raw_train)
    tmp = root / REFIT_DIR
    shutil.rmtree(tmp, ignore_errors=True)

    def progress(p: Progress) -> None:
        # the refit's own evaluations score rows it trains on: not shown as validation figures anywhere
        if on_progress is None or p.kind == "eval":
            return
        msg = p.message
        if p.kind == "milestone" and msg.startswith("finished"):
            msg = f"finished after {p.step} steps"
        on_progress(dataclasses.replace(p, metrics=None,
                                        message=f"refit on all {rows:,} rows" + (f": {msg}" if msg else "")))

    res = train(cfg, both, tmp, on_progress=progress, should_stop=should_stop, keep_last=True)
    record.update(epochs=round(epochs, 3), steps=res.steps, train_s=round(res.wall_s, 1),
                  train_examples_per_s=round(res.train_examples_per_s, 1))
    if res.reason == "budget":   # cut short (or spent before its first step): fewer epochs than chosen, keep the first
        res.status, res.reason, res.error = "skipped", f"the time budget ran out after {res.steps} of its steps", None
    if res.status != "succeeded":
        shutil.rmtree(tmp, ignore_errors=True)
        record.update(status=res.status, transformer=f"first fit kept: {res.error or res.reason}",
                      refit_s=round(time.perf_counter() - t0, 1))
        if res.status != "cancelled":   # a cancelled run keeps no artifact to note it in
            _note(root, record)
        return record
    _swap_in(Path(res.artifact_dir), root)
    shutil.rmtree(tmp, ignore_errors=True)
    record.update(status="succeeded", transformer=f"refitted for {epochs:.2f} epochs on {rows:,} rows",
                  refit_s=round(time.perf_counter() - t0, 1))
    _note(root, record)
    return record


def _swap_in(new: Path, root: Path) -> None:
    """The refit's model files replace the first fit's; its validation probabilities go (they were of the first
    fit's weights). config.json last: its mtime is what makes cached predictors reload (engine/inference.py)."""
    from engine.train_parts import VALIDATION_PROBA_FILE
    for name in MODEL_FILES:
        src, dst = new / name, root / name
        if not src.exists():
            continue
        old = root / f".{name}.old"
        _remove(old)                 # a leftover of an interrupted swap
        if dst.exists():
            os.replace(dst, old)
        os.replace(src, dst)
        _remove(old)
    (root / VALIDATION_PROBA_FILE).unlink(missing_ok=True)


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


def _note(root: Path, record: dict) -> None:
    """config.json, meta.json and metrics.json say that the served model was refitted (config.json last)."""
    for name in ("meta.json", "metrics.json", "config.json"):
        path = root / name
        if not path.exists():
            continue
        doc = json.loads(path.read_text(encoding="utf-8"))
        doc["refitted"] = record
        if name == "meta.json":
            doc.pop("validation_proba", None)
        write_json(path, doc)
