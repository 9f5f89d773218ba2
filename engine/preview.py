"""The pre-launch preview: what will train (trainable parameters, frozen parts, L_pre, LoRA targets, column features)
and a rough time, without loading any weights.

The model is built on PyTorch's meta device (engine/classifier.py `build(meta=True)`), so the counts are exact while
nothing is read or computed; the run builds its real model once, when it executes. Those counts depend only on the
model's structure (`structure_key`): a caller may keep them and pass them back (`structure=`), and then the preview
needs neither torch nor the model at all — a repeated `ftbot train --queue` returns in about a second. The time is
the run's examples divided by a measured throughput (the caller passes examples/s of a finished run of the same base
and method), else a per-token constant. `timed=True` measures two real training steps instead (a throwaway model:
only when asked).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil

from engine.config import TrainConfig
from engine.data.types import PreparedDataset
from engine.errors import ConfigError, TrainingError
from engine.progress import Plan

# Measured on this project's 2-core CPU machines (docs/benchmarks.md, bench/train_speed.py): MiniLM (22 M parameters)
# trains BANKING77 texts (~16 tokens) at ~44 examples/s with LoRA and ~23 with full fine-tuning, 1 thread. Used only
# when no finished run of the same base and method has measured it; a GPU is taken as ~20x faster (rough).
CPU_SECONDS_PER_TOKEN = {"lora": 1.0 / (44 * 16), "full": 1.0 / (23 * 16)}
GPU_SPEEDUP = 20.0
CHARS_PER_TOKEN = 4.0          # word pieces of English text, on average
STRUCTURE_KEYS = ("base", "method", "pre_loss", "freeze", "r", "target_modules", "column_features")


def structure_key(config: TrainConfig, data: PreparedDataset) -> str:
    """What the parameter counts depend on: the model's shape, not its training schedule."""
    shape = {k: v for k, v in config.to_dict().items() if k in STRUCTURE_KEYS}
    shape.update(base_config=_base_fingerprint(config.base), uses_pre_head=config.loss_alpha > 0,
                 labels=len(data.labels), kind=data.kind,
                 columns=list(data.feature_columns or []) if config.column_features else [],
                 data=data.sha256 if config.column_features else None)   # the one-hot width depends on the rows
    return hashlib.sha256(json.dumps(shape, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _base_fingerprint(base: str) -> str | None:
    """A local model folder's config.json (a different model saved at the same path changes the key)."""
    from pathlib import Path
    path = Path(str(base)).expanduser() / "config.json"
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        return None   # an alias (the bundled model) or a hub id: the name is the identity


def preview(config: TrainConfig, data: PreparedDataset, *, examples_per_s: float | None = None,
            timed: bool = False, structure: dict | None = None) -> Plan:
    """The plan; `structure` (a previous Plan.structure() for the same structure_key) skips the meta build."""
    if timed:
        return _timed(config, data)
    if not data.train or not data.validation:
        raise TrainingError("the dataset needs both training and validation examples")
    from engine.recipes.row_plan import plan_rows
    _check_features(config, data)
    from engine.recipes.contrastive import examples_seen, passes
    rows = plan_rows(config, [e.label for e in data.train], [e.label for e in data.validation])
    contrastive = passes(config, data.kind, len(rows.use), len(data.labels))
    fitted = None
    if structure is None:
        fitted = _features(config, data)
        structure = _measure_structure(config, data, fitted)
    steps_per_epoch = math.ceil(len(rows.use) / config.batch_size)
    total = max(1, round(rows.epochs * steps_per_epoch))
    evals = min(total, math.ceil(rows.epochs) * config.evals_per_epoch)
    train_examples = total * config.batch_size + examples_seen(contrastive, len(rows.use))
    eval_examples = evals * len(rows.validation)
    device = _device(config)
    if examples_per_s:
        seconds = (train_examples + eval_examples / 3) / examples_per_s   # evaluation: forward only ≈ ⅓ of a step
    else:
        sample = [data.train[i].text for i in rows.use[:2000]]
        features = fitted or _features(config, data)     # fitted only when the estimate needs the model texts
        if features is not None:
            sample = features.model_texts(sample, config.resolved_tabular_text(len(data.train)))
        mean_chars = sum(len(t) for t in sample) / max(1, len(sample))
        tokens = min(config.max_length, mean_chars / CHARS_PER_TOKEN + 2)
        per_token = CPU_SECONDS_PER_TOKEN[config.method] * structure["total_params"] / 22e6
        if device == "cuda":
            per_token /= GPU_SPEEDUP
        seconds = per_token * tokens * (train_examples + eval_examples / 3)
    return Plan(structure["trainable_params"], structure["total_params"], config.frozen_description(),
                structure["pre_loss"], list(structure["lora_targets"]), float(seconds), total, device,
                structure["family"], structure["features"], config.gpus)


def structure_of(plan: Plan) -> dict:
    """The parts of a plan that `structure_key` determines (what a caller may cache)."""
    return {"trainable_params": plan.trainable_params, "total_params": plan.total_params, "pre_loss": plan.pre_loss,
            "lora_targets": list(plan.lora_targets), "family": plan.family, "features": plan.features}


def _measure_structure(config: TrainConfig, data: PreparedDataset, features) -> dict:
    from engine.classifier import build
    built = build(config, data.labels, features, meta=True)
    return {"trainable_params": built.trainable_params, "total_params": built.total_params,
            "pre_loss": built.pre_loss, "lora_targets": list(built.lora_targets), "family": built.family,
            "features": features.describe() if features is not None else None}


def _check_features(config: TrainConfig, data: PreparedDataset) -> None:
    if config.column_features and (data.kind != "tabular" or not data.feature_columns):
        raise ConfigError("column_features", True, "false for this dataset: it is text, not a table of columns")


def _features(config: TrainConfig, data: PreparedDataset):
    if not config.column_features:
        return None
    _check_features(config, data)
    from engine.features import ColumnFeatures
    return ColumnFeatures.fit([e.text for e in data.train], data.feature_columns)


def _device(config: TrainConfig) -> str:
    """Where the run will train, guessed without importing torch (a GPU is there when the NVIDIA tools are)."""
    if config.device != "auto":
        return config.device
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return "cpu"
    return "cuda" if shutil.which("nvidia-smi") else "cpu"


def _timed(config: TrainConfig, data: PreparedDataset) -> Plan:
    """Two real steps on a throwaway model (`ftbot train --time-steps`)."""
    from engine.training.estimate import estimate_seconds
    from engine.training.setup import setup
    s = setup(config, data, prepare_pre_loss=False)
    seconds = estimate_seconds(s, config, timed=True)
    b = s.built
    return Plan(b.trainable_params, b.total_params, config.frozen_description(), b.pre_loss, b.lora_targets,
                seconds, s.total_steps, s.device.type, b.family,
                b.features.describe() if b.features is not None else None, config.gpus)
