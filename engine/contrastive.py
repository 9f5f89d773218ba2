"""A contrastive pre-stage for scarce text data (`contrastive_epochs`): before the head is fitted, the encoder is
tuned so that texts of the same label lie close together and texts of different labels apart.

Each training text (the anchor) is paired with another text of its label (the positive); a batch holds one pair per
label, up to CONTRASTIVE_BATCH labels, so every other positive in the batch is a text of another label (an in-batch
negative). The loss is the symmetric InfoNCE over the cosine similarities of the pooled embeddings, scaled by
CONTRASTIVE_SCALE — sentence-transformers' MultipleNegativesRankingLoss, which SetFit (Tunstall et al. 2022) uses for
few-shot text classification. With ten examples per label a cross-entropy head sees each text once per epoch; the
pairs show the encoder every label against ~30 others per step and move the embeddings the probe head then reads
(engine/head_init.py), so the head starts from a better-separated space. A label with one text pairs it with itself:
dropout makes the two views differ (SimCSE).

Only what the run trains moves (LoRA adapters, or the unfrozen weights of a full fine-tune); the head does not take
part. The stage has its own AdamW at `CONTRASTIVE_LR_SHARE` of the run's learning rate and no schedule: it is short.
"""
from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

from engine.config import TrainConfig
from engine.errors import ConfigError

if TYPE_CHECKING:   # torch is imported where the stage runs: the plan checks and sizes it without loading torch
    import torch
    from engine.batching import Batches
    from engine.classifier import Classifier

log = logging.getLogger(__name__)

CONTRASTIVE_BATCH = 32         # labels (pairs) per step: SetFit's batch; fewer when the data has fewer labels
CONTRASTIVE_SCALE = 20.0       # 1 / temperature of the cosine similarities (MultipleNegativesRankingLoss)
CONTRASTIVE_LR_SHARE = 0.2     # of the run's lr: full fine-tune 1e-4 → 2e-5 (SetFit's), LoRA 1e-3 → 2e-4


def check(config: TrainConfig, data_kind: str) -> None:
    """The stage pairs texts: a table's rows are not texts of a label (the plan refuses it before launch)."""
    if config.contrastive_epochs and data_kind == "tabular":
        raise ConfigError("contrastive_epochs", config.contrastive_epochs,
                          "0 for this dataset: the contrastive pre-stage pairs texts, and this is a table")


def examples_seen(config: TrainConfig, train_examples: int) -> float:
    """Texts the stage runs forward and backward (anchor and positive of each pair): the plan's time estimate."""
    return 2.0 * config.contrastive_epochs * train_examples


def pair_batches(labels: list[int], epochs: float, seed: int,
                 batch_size: int = CONTRASTIVE_BATCH) -> list[list[tuple[int, int]]]:
    """Batches of (anchor, positive) example indices, at most one pair per label in a batch; every example is an
    anchor once per epoch (a fractional epoch takes a seeded share). Deterministic in the seed."""
    import numpy as np
    rng = np.random.default_rng([seed, 7919])
    by_label: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_label.setdefault(int(y), []).append(i)
    width = max(2, min(batch_size, len(by_label)))
    pairs: list[tuple[int, int, int]] = []
    for _ in range(math.ceil(epochs)):
        for y, idx in by_label.items():
            for a in idx:
                others = [j for j in idx if j != a]
                pairs.append((y, a, int(rng.choice(others)) if others else a))
    rng.shuffle(pairs)
    pairs = pairs[:max(1, round(epochs * len(labels)))]
    # greedy fill: take pairs in order, deferring a pair whose label the batch already holds
    out, pending = [], pairs
    while pending:
        batch, seen, rest = [], set(), []
        for y, a, p in pending:
            if len(batch) < width and y not in seen:
                batch.append((a, p))
                seen.add(y)
            else:
                rest.append((y, a, p))
        if len(batch) < 2:              # only one label left: no negative to contrast with
            break
        out.append(batch)
        pending = rest
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
            if not math.isfinite(loss.item()):
                raise FloatingPointError(f"the contrastive loss became {loss.item()}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
            optimizer.step()
            first = loss.item() if first is None else first
            last = loss.item()
    finally:
        model.train(was_training)
    summary = {"ran": True, "steps": len(plan), "pairs": sum(len(b) for b in plan), "loss_first": round(first, 4),
               "loss_last": round(last, 4), "seconds": round(time.monotonic() - t0, 1)}
    log.info("contrastive pre-stage: %(steps)d steps, %(pairs)d pairs, loss %(loss_first).3f → %(loss_last).3f, "
             "%(seconds).1f s", summary)
    return summary
