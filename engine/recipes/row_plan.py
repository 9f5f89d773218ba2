"""Recipe: which training rows the transformer sees, for how many epochs, and which rows are held back for the blend.

When it applies: tables (their defaults set train_rows, row_budget and blend_holdout; text keeps every row unless
asked). A table of tens of thousands of rows cannot go through a transformer many times on a few CPU cores, and it
does not need to: gradient boosting reads the raw columns in seconds, and the fine-tuned model is one voice in a
blend (engine/recipes/blend.py). So the transformer gets a stratified, seeded subset of at most
`train_rows` rows, trains at most `row_budget` row-passes in all (epochs are cut to fit), and `blend_holdout` of the
training rows are never given to it: on those rows both the transformer and (cross-validated) the baseline make
honest predictions, and the blend weight is chosen there — never on the validation rows that report the result.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

EVAL_ROWS_MAX = 2000     # early-stopping evaluations read at most this many validation rows (the report reads all)


@dataclass
class RowPlan:
    use: list[int]           # indices into data.train given to the transformer
    held_out: list[int]      # indices into data.train the transformer never sees (for the blend weight)
    epochs: float            # epochs over `use` (config.epochs, cut by row_budget)
    validation: list[int]    # indices into data.validation read by the in-training evaluations

    def to_dict(self) -> dict:
        return {"transformer_rows": len(self.use), "held_out_rows": len(self.held_out), "held_out": self.held_out,
                "epochs": self.epochs, "validation_rows_in_training": len(self.validation)}


def stratified_subset(labels: Sequence[str], n: int, seed: int) -> list[int]:
    """About n indices, the same share of every label (at least one of each), seeded; sorted."""
    labels = list(labels)
    if n >= len(labels):
        return list(range(len(labels)))
    rng = np.random.default_rng([seed, 14])
    frac = n / max(len(labels), 1)
    by: dict[str, list[int]] = {}
    for i, y in enumerate(labels):
        by.setdefault(y, []).append(i)
    keep: list[int] = []
    for y in sorted(by):
        idx = np.asarray(by[y])
        rng.shuffle(idx)
        keep += idx[:max(1, int(round(frac * len(idx))))].tolist()
    return sorted(keep)


def plan_rows(config, train_labels: Sequence[str], validation_labels: Sequence[str]) -> RowPlan:
    n = len(train_labels)
    holdout = float(getattr(config, "blend_holdout", 0.0) or 0.0)
    cap = int(getattr(config, "train_rows", 0) or 0)
    n_use = n - int(round(holdout * n))
    if cap:
        n_use = min(n_use, cap)
    use = stratified_subset(train_labels, max(n_use, 1), config.seed)
    chosen = set(use)
    held = [i for i in range(n) if i not in chosen]
    epochs = float(config.epochs)
    budget = int(getattr(config, "row_budget", 0) or 0)
    if budget and use:
        epochs = min(epochs, budget / len(use))
    val = stratified_subset(validation_labels, EVAL_ROWS_MAX, config.seed)
    return RowPlan(use, held, epochs, val)
