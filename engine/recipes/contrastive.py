"""Recipe: a contrastive pre-stage for scarce text data (`contrastive_epochs`): before the head is fitted, the encoder
is tuned so that texts of the same label lie close together and texts of different labels apart. When `auto` (the
text default) turns it on: at most CONTRASTIVE_MAX_PER_LABEL training examples per label on average
(engine/config.py `resolved_contrastive`); never for tables.

Each training text (the anchor) is paired with another text of its label (the positive); a batch holds one pair per
label, up to CONTRASTIVE_BATCH labels, so every other positive in the batch is a text of another label (an in-batch
negative). The loss is the symmetric InfoNCE over the cosine similarities of the pooled embeddings, scaled by
CONTRASTIVE_SCALE — sentence-transformers' MultipleNegativesRankingLoss, which SetFit (Tunstall et al. 2022) uses for
few-shot text classification. With ten examples per label a cross-entropy head sees each text once per epoch; the
pairs show the encoder every label against ~30 others per step and move the embeddings the probe head then reads
(engine/recipes/probe_head.py), so the head starts from a better-separated space. A label with one text pairs it
with itself: dropout makes the two views differ (SimCSE).

Only what the run trains moves (LoRA adapters, or the unfrozen weights of a full fine-tune); the head does not take
part. The stage has its own AdamW at `CONTRASTIVE_LR_SHARE` of the run's learning rate and no schedule: it is short.
"""
from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

from engine.config import TrainConfig
from engine.errors import ConfigError, TrainingError

if TYPE_CHECKING:   # torch is imported where the stage runs: the plan checks and sizes it without loading torch
    import torch
    from engine.batching import Batches
    from engine.classifier import Classifier

log = logging.getLogger(__name__)

CONTRASTIVE_BATCH = 32         # labels (pairs) per step: SetFit's batch; fewer when the data has fewer labels
CONTRASTIVE_SCALE = 20.0       # 1 / temperature of the cosine similarities (MultipleNegativesRankingLoss)
CONTRASTIVE_LR_SHARE = 0.2     # of the run's lr: full fine-tune 1e-4 → 2e-5 (SetFit's), LoRA 1e-3 → 2e-4


def passes(config: TrainConfig, data_kind: str, train_examples: int, num_labels: int) -> float:
    """How many passes the stage makes for this training set (`auto` decided here). A number given for a table is
    refused: the stage pairs texts, and a table's rows are not texts of a label (the plan says so before launch)."""
    if data_kind == "tabular" and config.contrastive_epochs not in (None, "auto", 0):
        raise ConfigError("contrastive_epochs", config.contrastive_epochs,
                          "0 for this dataset: the contrastive pre-stage pairs texts, and this is a table")
    return config.resolved_contrastive(train_examples, num_labels, data_kind)


def examples_seen(epochs: float, train_examples: int) -> float:
    """Texts the stage runs forward and backward (anchor and positive of each pair): the plan's time estimate."""
    return 2.0 * epochs * train_examples


def pair_batches(labels: list[int], epochs: float, seed: int,
                 batch_size: int = CONTRASTIVE_BATCH) -> list[list[tuple[int, int]]]:
    """Batches of (anchor, positive) example indices, at most one pair per label in a batch; every example is an
    anchor once per epoch (a fractional epoch takes a seeded share). Deterministic in the seed. Linear in the
    number of pairs: each batch draws its labels at random, weighted by the pairs they have left, so large labels
    drain as fast as small ones and few pairs are left with no other label to contrast with."""
    import numpy as np
    rng = np.random.default_rng([seed, 7919])
    by_label: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_label.setdefault(int(y), []).append(i)
    pairs: list[tuple[int, int, int]] = []
    for _ in range(math.ceil(epochs)):
        for y, idx in by_label.items():
            for pos, a in enumerate(idx):
                if len(idx) == 1:
                    pairs.append((y, a, a))        # alone: itself, two dropout views (SimCSE)
                    continue
                k = int(rng.integers(len(idx) - 1))  # any other text of the label
                pairs.append((y, a, idx[k if k < pos else k + 1]))
    order = rng.permutation(len(pairs))[:max(1, round(epochs * len(labels)))]
    queues: dict[int, list[tuple[int, int]]] = {}
    for n in order:
        y, a, p = pairs[n]
        queues.setdefault(y, []).append((a, p))
    width = max(2, min(batch_size, len(queues)))
    out = []
    while len(live := [y for y, q in queues.items() if q]) >= 2:
        left = np.array([len(queues[y]) for y in live], dtype=float)
        picks = rng.choice(len(live), size=min(width, len(live)), replace=False, p=left / left.sum())
        out.append([queues[live[k]].pop() for k in sorted(picks)])
    return out


def _embed(model: Classifier, batches: Batches, idx: list[int], device) -> torch.Tensor:
    import torch
    b = batches.collate(idx, device)
    out = model(b["input_ids"], b["attention_mask"], b.get("features"))
    return torch.nn.functional.normalize(out.pooled.float(), dim=-1)


def run(model: Classifier, batches: Batches, epochs: float, lr: float, seed: int, autocast,
        device: torch.device, max_grad_norm: float = 1.0) -> dict:
    """Tune the model's trainable encoder weights contrastively. → a summary for the progress thread."""
    import torch
    from engine.classifier import model_parameters
    t0 = time.monotonic()
    plan = pair_batches(list(batches.labels), epochs, seed)
    if not plan:
        return {"ran": False, "why": "fewer than two labels in the training examples"}
    params = [p for n, p in model_parameters(model) if p.requires_grad
              and not n.startswith(("head.", "features_head."))]
    if not params:
        return {"ran": False, "why": "no encoder weight trains"}
    optimizer = torch.optim.AdamW(params, lr=lr * CONTRASTIVE_LR_SHARE, weight_decay=0.01)
    was_training = model.training
    model.train()
    first = last = None
    try:
        for batch in plan:
            anchors, positives = [a for a, _ in batch], [p for _, p in batch]
            with autocast():
                ea, ep = _embed(model, batches, anchors, device), _embed(model, batches, positives, device)
            sim = CONTRASTIVE_SCALE * ea @ ep.T
            target = torch.arange(len(batch), device=sim.device)
            loss = (torch.nn.functional.cross_entropy(sim, target)
                    + torch.nn.functional.cross_entropy(sim.T, target)) / 2
            value = loss.item()
            if not math.isfinite(value):
                raise TrainingError(f"the contrastive pre-stage's loss became {value}; lower lr (the stage "
                                    f"runs at {CONTRASTIVE_LR_SHARE:g} × lr) or contrastive_epochs")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
            optimizer.step()
            first = value if first is None else first
            last = value
    finally:
        model.train(was_training)
    summary = {"ran": True, "steps": len(plan), "pairs": sum(len(b) for b in plan), "loss_first": round(first, 4),
               "loss_last": round(last, 4), "seconds": round(time.monotonic() - t0, 1)}
    log.info("contrastive pre-stage: %(steps)d steps, %(pairs)d pairs, loss %(loss_first).3f → %(loss_last).3f, "
             "%(seconds).1f s", summary)
    return summary
