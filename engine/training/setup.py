"""Everything the training loop needs before its first step: the model, the batches of the rows it trains on, the
optimizer and schedule, the pre-training loss, and the optional stages that run before step 1 (the contrastive
pre-stage and the probe head, engine/recipes/)."""
from __future__ import annotations

import json
import logging
import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from engine.batching import Batches
from engine.classifier import Built, build, model_parameters
from engine.config import TrainConfig
from engine.data.types import PreparedDataset
from engine.device import forward_autocast, resolve_device, training_autocast
from engine.errors import ConfigError, TrainingError
from engine.losses import PreLoss
from engine.recipes import contrastive as con

log = logging.getLogger(__name__)
HISTORY_STEPS = 500          # at most about this many step lines in history (evaluations are always kept)
# Keys that may change between a run and its resume without invalidating the checkpoint.
RUNTIME_KEYS = {"budget", "threads", "device", "patience", "gpus", "serve"}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def safe_callback(fn: Callable | None) -> Callable:
    """A failing progress callback (Slack down, say) must not fail the training run."""
    def emit(p):
        if fn is None:
            return
        try:
            fn(p)
        except Exception:   # noqa: BLE001
            log.exception("progress callback failed")
    return emit


@dataclass
class Setup:
    built: Built
    batches: Batches
    val: Batches
    device: torch.device
    autocast: Callable
    params: list
    optimizer: Any
    scheduler: Any
    pre: PreLoss
    steps_per_epoch: int
    total_steps: int
    eval_steps: set
    history_every: int
    fingerprint: str
    head_init: str               # resolved: 'probe' or 'random' ('auto' decided on this training set)
    tabular_text: str = "full"   # resolved: what the encoder reads of a tabular row ('auto' decided here)
    probe: dict | None = None    # head_init=probe: what the linear probe reached on the training examples
    rows: Any = None             # engine.recipes.row_plan.RowPlan: the rows the transformer sees, held-out rows, epochs
    contrastive: dict | None = None   # what the contrastive pre-stage did (engine/recipes/contrastive.py), if it ran
    contrastive_passes: float = 0.0   # resolved contrastive_epochs ('auto' decided on this training set)
    last_val_proba: Any = None   # the last evaluation's validation probabilities (numpy, rows in s.val order)
    # (rows of the batches, embeddings) the probe computed with the untouched encoder on the texts as they are:
    # written with the candidate for the report's text partner (engine/training/candidate.py)
    probe_embeddings: Any = None


@dataclass
class State:
    step: int = 0
    history: list = field(default_factory=list)
    best_value: float = -math.inf
    best_metrics: dict = field(default_factory=dict)
    best_state: dict | None = None
    best_step: int | None = None
    bad_evals: int = 0
    last_eval_step: int = -1
    elapsed_s: float = 0.0   # wall time of earlier sessions of this run (budget spans resumes)
    best_val_proba: Any = None   # validation probabilities of the best weights (not checkpointed: a resumed run's
                                 # report predicts them again)


# The column-features map (a logistic regression on standardised columns) starts at zero and needs weights of order
# 1; Adam moves a weight by about lr per step, so at the head's 1e-3 a few hundred steps would not get there.
FEATURES_LR_FACTOR = 10.0


def _optimizer(model, config: TrainConfig):
    """AdamW; no weight decay on biases and LayerNorm (1-d) weights; the fresh head gets its own (higher) lr."""
    head_lr = config.head_lr or max(config.lr, 1e-3)
    groups: dict[tuple, list] = {}
    for name, p in model_parameters(model):
        if not p.requires_grad:
            continue
        lr = (head_lr if name.startswith("head.") else
              FEATURES_LR_FACTOR * head_lr if name.startswith("features_head.") else config.lr)
        key = (lr, config.weight_decay if p.dim() >= 2 else 0.0)
        groups.setdefault(key, []).append(p)
    param_groups = [{"params": ps, "lr": lr, "weight_decay": wd} for (lr, wd), ps in groups.items()]
    try:
        # the fused kernel updates every tensor in one pass: 5.5x faster than the per-tensor loop on one CPU core
        # for MiniLM's 22 M parameters (17 vs 95 ms a step: ~10 s of a 125-step full fine-tune); same update rule
        return torch.optim.AdamW(param_groups, fused=True)
    except (RuntimeError, TypeError, ValueError):   # a device or dtype the fused kernel does not cover
        return torch.optim.AdamW(param_groups)


def setup(config: TrainConfig, data: PreparedDataset, prepare_pre_loss: bool = True,
          device: torch.device | None = None) -> Setup:
    from transformers import get_linear_schedule_with_warmup
    if not data.train or not data.validation:
        raise TrainingError("the dataset needs both training and validation examples")
    index = {label: i for i, label in enumerate(data.labels)}
    unknown = sorted({e.label for e in data.train + data.validation} - set(index))
    if unknown:
        raise TrainingError(f"examples carry labels outside the label set: {', '.join(unknown[:5])}")
    features = None
    if config.column_features:
        if data.kind != "tabular" or not data.feature_columns:
            raise ConfigError("column_features", True, "false for this dataset: it is text, not a table of columns")
        from engine.features import ColumnFeatures
        features = ColumnFeatures.fit([e.text for e in data.train], data.feature_columns)
    text_mode = config.resolved_tabular_text(len(data.train)) if data.kind == "tabular" else "full"
    if text_mode == "categories" and features is None and data.kind == "tabular":
        raise ConfigError("tabular_text", text_mode, "full when column_features is false (the numbers would be lost)")
    from engine.recipes.row_plan import plan_rows
    rows = plan_rows(config, [e.label for e in data.train], [e.label for e in data.validation])
    train_ex = [data.train[i] for i in rows.use]
    val_ex = [data.validation[i] for i in rows.validation]
    model_text = (lambda ts: features.model_texts(ts, text_mode)) if features is not None else list
    built = build(config, data.labels, features)
    device = device or resolve_device(config)
    model = built.model.to(device)
    batches = Batches(built.tokenizer, model_text([e.text for e in train_ex]), [index[e.label] for e in train_ex],
                      config.max_length, features, feature_texts=[e.text for e in train_ex])
    val = Batches(built.tokenizer, model_text([e.text for e in val_ex]), [index[e.label] for e in val_ex],
                  config.max_length, features, feature_texts=[e.text for e in val_ex])
    epochs = rows.epochs
    steps_per_epoch = math.ceil(len(batches) / config.batch_size)
    total = max(1, round(epochs * steps_per_epoch))
    evals = {min(total, e * steps_per_epoch + max(1, round(k * steps_per_epoch / config.evals_per_epoch)))
             for e in range(math.ceil(epochs)) for k in range(1, config.evals_per_epoch + 1)} | {total}
    params = [p for _, p in model_parameters(model) if p.requires_grad]
    optimizer = _optimizer(model, config)
    scheduler = get_linear_schedule_with_warmup(optimizer, round(config.warmup_ratio * total), total)
    autocast = training_autocast(config, device)
    pre = PreLoss(built.pre_loss, built.tokenizer, config.seed)
    if prepare_pre_loss and config.loss_alpha > 0:
        with autocast():
            pre.prepare(model, batches, batch_size=2 * config.batch_size)   # before any update: θ₀ / frozen embeddings
    contrastive = None
    passes = con.passes(config, data.kind, len(train_ex), len(data.labels))
    if prepare_pre_loss and passes > 0:
        # runs before the probe, so the head is fitted on the embeddings the stage shaped
        contrastive = con.run(model, batches, passes, config.lr, config.seed, autocast, device, config.max_grad_norm)
    head_init, probe, probe_embeddings = config.resolved_head_init(len(train_ex), len(data.labels)), None, None
    if prepare_pre_loss and head_init == "probe":
        from engine.recipes.probe_head import fit_probe
        # the encoder reads the texts as they are and, at step 0, is the untouched base: its embeddings are the ones
        # the report's text partner needs for the same training texts
        shareable = features is None and data.kind != "tabular" and not (contrastive or {}).get("ran")
        probe = fit_probe(model, batches, 2 * config.batch_size, forward_autocast(config.precision, device),
                          config.seed, keep_embeddings=shareable)
        probe_embeddings = probe.pop("embeddings", None)
    fp = {k: v for k, v in config.to_dict().items() if k not in RUNTIME_KEYS}
    fingerprint = json.dumps([fp, data.sha256, len(data.train), data.labels], sort_keys=True, default=str)
    return Setup(built, batches, val, device, autocast, params, optimizer, scheduler, pre,
                 steps_per_epoch, total, {s for s in evals if s >= 1}, max(1, total // HISTORY_STEPS), fingerprint,
                 head_init, text_mode, probe, rows, contrastive, passes, probe_embeddings=probe_embeddings)
