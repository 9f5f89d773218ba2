"""Recipe: refit on every labelled row once the model has been chosen (`refit`).

What it does: a small dataset pays twice for its validation part (at 10 examples per label, 2 of every 10 go to
validation). Those rows are needed to choose the checkpoint, the partner, the blend weight, the winner and the
thresholds — but once those are chosen they have done their job. So, as scikit-learn's `refit=True` does after a
search, what is served is trained again on train + validation:
- the transformer for the best checkpoint's number of epochs, starting as the first fit did (same seed, head init,
  what the encoder reads), keeping its final weights (no row is left to choose a checkpoint on);
- the partner with the same settings on the same rows;
- kept as they were: the choice of what is served, the blend weight, the thresholds, and every reported figure —
  those are of the first fit, on rows it never trained on. The served model's record (served.json) then says that
  its weights were not validated on held-out rows, and the report, the deploy request and the model card say so.

When `auto` turns it on: text datasets of at most REFIT_MAX_ROWS rows (engine/config.py). Tables keep the validated
model unless the user asks (`refit=on`): a credit model's validator signs the figures of the weights that answer.

The refit trains in a folder beside the artifact and replaces the served files only when it succeeded; a failed or
cancelled refit leaves the first fit in place, served.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
import time
from pathlib import Path
from typing import Callable

from engine.config import TrainConfig
from engine.data.types import PreparedDataset
from engine.jsonfiles import write_json
from engine.progress import Progress
from engine.served import layout
from engine.served.model import ServedModel
from engine.served.transformer import read_config
from engine.training.candidate import read_meta

log = logging.getLogger(__name__)


def best_epochs(artifact_dir: str | Path, config: TrainConfig) -> float:
    """Epochs the first fit had trained when its best checkpoint was taken."""
    meta = read_meta(Path(artifact_dir))
    best, n = meta.get("best_step"), int(meta.get("train_examples") or 0)
    if not best or not n:
        return float(config.epochs)
    return max(best / math.ceil(n / config.batch_size), 1e-3)


def refit(config: TrainConfig, data: PreparedDataset, artifact_dir: str | Path, *,
          on_progress: Callable[[Progress], None] | None = None,
          should_stop: Callable[[], str | None] | None = None, spent_s: float = 0.0) -> dict | None:
    """Refit what the artifact serves on data.train + data.validation, in place. → a record for metrics.json
    (status succeeded / failed / cancelled / skipped), or None when `refit` does not apply to this dataset.

    `spent_s`: seconds the run has used so far; with a `budget` the refit gets what is left of it (none left: the
    first fit is served, said as status 'skipped')."""
    from engine.train import train

    root = Path(artifact_dir)
    rows = len(data.train) + len(data.validation)
    if not config.resolved_refit(rows, data.kind) or not data.validation:
        return None
    t0 = time.perf_counter()
    if on_progress is not None:
        on_progress(Progress("milestone", 0, 0, 0.0, message=f"refitting on all {rows:,} rows (train + validation) "
                             "now that the model is chosen; the figures stay those of the first fit"))
    served = ServedModel.load(root)
    first = read_config(root)
    record: dict = {"rows": rows, "train_rows_before": len(data.train), "validation_rows": len(data.validation),
                    "served": served.kind, "figures": "of the first fit, on validation rows it never trained on"}
    all_texts = [e.text for e in data.train] + [e.text for e in data.validation]
    all_labels = [e.label for e in data.train] + [e.label for e in data.validation]
    partner = _refit_partner(served, all_texts, all_labels, record)
    if served.kind == "baseline":   # the transformer answers nothing: a second training would be time for nothing
        record.update(status="succeeded", transformer="not refitted: the baseline alone is served",
                      refit_s=round(time.perf_counter() - t0, 1))
        _swap(served, root, partner, record)
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
    tmp = root / layout.REFIT_DIR
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
    record.update(status="succeeded", transformer=f"refitted for {epochs:.2f} epochs on {rows:,} rows",
                  refit_s=round(time.perf_counter() - t0, 1))
    _swap(served, root, partner, record, transformer_from=Path(res.artifact_dir))
    shutil.rmtree(tmp, ignore_errors=True)
    return record


def served_description(artifact_dir: str | Path) -> dict:
    """What answers from this artifact after a refit swapped it (not validated), as `_note` wrote it into
    metrics.json — without loading the model again."""
    return json.loads((Path(artifact_dir) / layout.METRICS).read_text(encoding="utf-8"))["served_model"]


def _refit_partner(served: ServedModel, texts, labels, record: dict):
    """The chosen partner fitted again, same settings, on these rows (None when the run has no partner)."""
    import numpy as np
    from sklearn.base import clone
    if not served.record.get("partner_sha256"):
        return None
    first = served._partner()
    t = time.perf_counter()
    partner = clone(first).fit(served.inputs(texts), np.asarray(labels))
    record["partner"] = {"rows": len(texts), "fit_s": round(time.perf_counter() - t, 3)}
    return partner


def _swap(served: ServedModel, root: Path, partner, record: dict, transformer_from: Path | None = None) -> None:
    """The refitted parts replace the first fit's, whole: served.json last, marked as not validated on held-out
    rows. The stored validation probabilities go: they were of the first fit's weights."""
    rec = {**served.record, "refitted": record, "validated": False}
    new = ServedModel(transformer_from or root, kind=served.kind, labels=served.labels, inputs=served.inputs,
                      partner=partner if partner is not None else served.partner, weight=served.weight, record=rec)
    new.save(root)
    (root / layout.VALIDATION_PROBA).unlink(missing_ok=True)
    _note(root, record, describe=new.describe())


def _note(root: Path, record: dict, describe: dict | None = None) -> None:
    """meta.json and metrics.json say what the refit did; after a swap (`describe` given), metrics.json's
    description of what answers is the new one (validated: false) and the model card is written again to say so."""
    docs = {}
    for name in (layout.META, layout.METRICS):
        path = root / name
        if not path.exists():
            continue
        doc = json.loads(path.read_text(encoding="utf-8"))
        doc["refitted"] = record
        if name == layout.META:
            doc.pop("validation_proba", None)
        if name == layout.METRICS and describe is not None:
            doc["served_model"] = describe
        write_json(path, doc)
        docs[name] = doc
    if describe is not None and (root / layout.CARD).exists() and layout.METRICS in docs:
        from engine import card
        card.write_card(root, read_config(root), docs.get(layout.META, {}), None, report=docs[layout.METRICS])
