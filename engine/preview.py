"""The pre-launch preview: what will train (trainable parameters, frozen parts, L_pre, LoRA targets, column features)
and a rough time, without loading any weights.

The model is built on PyTorch's meta device (engine/classifier.py `build(meta=True)`), so the counts are exact while
nothing is read or computed; the run builds its real model once, when it executes. The time is the run's examples
divided by a measured throughput (the caller passes examples/s of a finished run of the same base and method), else a
per-token constant. `timed=True` measures two real training steps instead (a throwaway model: only when asked).
"""
from __future__ import annotations

import math

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


def preview(config: TrainConfig, data: PreparedDataset, *, examples_per_s: float | None = None,
            timed: bool = False) -> Plan:
    from engine import freeze
    if timed:
        return _timed(config, data)
    if not data.train or not data.validation:
        raise TrainingError("the dataset needs both training and validation examples")
    from engine.rows import plan_rows
    features = _features(config, data)
    built = _build_meta(config, data, features)
    rows = plan_rows(config, [e.label for e in data.train], [e.label for e in data.validation])
    steps_per_epoch = math.ceil(len(rows.use) / config.batch_size)
    total = max(1, round(rows.epochs * steps_per_epoch))
    evals = min(total, math.ceil(rows.epochs) * config.evals_per_epoch)
    train_examples = total * config.batch_size
    eval_examples = evals * len(rows.validation)
    if examples_per_s:
        seconds = (train_examples + eval_examples / 3) / examples_per_s   # evaluation: forward only ≈ ⅓ of a step
    else:
        sample = [data.train[i].text for i in rows.use[:2000]]
        if features is not None:
            sample = features.model_texts(sample, config.resolved_tabular_text(len(data.train)))
        mean_chars = sum(len(t) for t in sample) / max(1, len(sample))
        tokens = min(config.max_length, mean_chars / CHARS_PER_TOKEN + 2)
        per_token = CPU_SECONDS_PER_TOKEN[config.method] * built.total_params / 22e6
        if _device(config) == "cuda":
            per_token /= GPU_SPEEDUP
        seconds = per_token * tokens * (train_examples + eval_examples / 3)
    return Plan(built.trainable_params, built.total_params, freeze.describe(config), built.pre_loss,
                built.lora_targets, float(seconds), total, _device(config), built.family,
                features.describe() if features is not None else None, config.gpus)


def _features(config: TrainConfig, data: PreparedDataset):
    if not config.column_features:
        return None
    if data.kind != "tabular" or not data.feature_columns:
        raise ConfigError("column_features", True, "false for this dataset: it is text, not a table of columns")
    from engine.features import ColumnFeatures
    return ColumnFeatures.fit([e.text for e in data.train], data.feature_columns)


def _build_meta(config: TrainConfig, data: PreparedDataset, features):
    from engine.classifier import build
    return build(config, data.labels, features, meta=True)


def _device(config: TrainConfig) -> str:
    if config.device != "auto":
        return config.device
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def _timed(config: TrainConfig, data: PreparedDataset) -> Plan:
    """Two real steps on a throwaway model (`ftbot train --time-steps`)."""
    from engine import freeze
    from engine import train_parts as parts
    s = parts.setup(config, data, prepare_pre_loss=False)
    seconds = parts.estimate_seconds(s, config, timed=True)
    b = s.built
    return Plan(b.trainable_params, b.total_params, freeze.describe(config), b.pre_loss, b.lora_targets,
                seconds, s.total_steps, s.device.type, b.family,
                b.features.describe() if b.features is not None else None, config.gpus)
