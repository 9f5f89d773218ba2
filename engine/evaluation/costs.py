"""Cost-sensitive decisions for two-class risk tasks.

Default cost matrix is German Credit's (Statlog): accepting a bad applicant (actual bad, predicted good) costs 5,
rejecting a good one (actual good, predicted bad) costs 1, correct decisions cost 0. "Positive" is the risk label.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class CostMatrix:
    """Cost of each mistake, per applicant. `fn`: actual positive (bad) predicted negative (good); `fp`: the reverse."""

    fn: float = 5.0
    fp: float = 1.0

    def bayes_threshold(self) -> float:
        """Threshold on a calibrated P(positive) that minimises expected cost: fp / (fp + fn) (1/6 for 5:1)."""
        return self.fp / (self.fp + self.fn)

    def to_dict(self) -> dict:
        return {**asdict(self), "meaning": "fn: actual positive predicted negative; fp: actual negative predicted positive"}


GERMAN_CREDIT = CostMatrix(fn=5.0, fp=1.0)


def expected_cost(is_pos: Sequence[bool], pred_pos: Sequence[bool], costs: CostMatrix = GERMAN_CREDIT) -> float:
    """Mean cost per applicant of the decisions `pred_pos` against the truth `is_pos`."""
    is_pos, pred_pos = np.asarray(is_pos, dtype=bool), np.asarray(pred_pos, dtype=bool)
    if is_pos.size == 0:
        return 0.0
    fn = np.sum(is_pos & ~pred_pos)
    fp = np.sum(~is_pos & pred_pos)
    return float((costs.fn * fn + costs.fp * fp) / is_pos.size)


def best_threshold(is_pos: Sequence[bool], score: Sequence[float], costs: CostMatrix = GERMAN_CREDIT) -> tuple[float, float]:
    """The threshold t (predict positive when score ≥ t) with the lowest expected cost on these examples.

    Candidates are the midpoints between consecutive distinct scores plus one below the lowest (everyone positive)
    and one above the highest (nobody positive), so the chosen t separates the data where it matters rather than
    sitting on an observed score. Ties go to the candidate nearest the Bayes threshold fp/(fp+fn), which is the
    right answer for a calibrated score and keeps the choice stable on small validation sets.
    Returns (threshold, expected cost at it).
    """
    is_pos, score = np.asarray(is_pos, dtype=bool), np.asarray(score, dtype=float)
    if score.size == 0:
        return costs.bayes_threshold(), 0.0
    u = np.unique(score)
    cands = np.concatenate([[u[0] - 1e-6], (u[:-1] + u[1:]) / 2, [u[-1] + 1e-6]])
    order = np.argsort(score)
    s_sorted, pos_sorted = score[order], is_pos[order]
    # For each candidate, positives below it are misses (fn), negatives at/above it are false alarms (fp).
    below = np.searchsorted(s_sorted, cands, side="left")
    pos_cum = np.concatenate([[0], np.cumsum(pos_sorted)])
    fn = pos_cum[below]
    fp = (len(score) - below) - (pos_cum[-1] - fn)
    cost = (costs.fn * fn + costs.fp * fp) / len(score)
    best = np.flatnonzero(np.isclose(cost, cost.min()))
    pick = best[np.argmin(np.abs(cands[best] - costs.bayes_threshold()))]
    return float(np.clip(cands[pick], 0.0, 1.0)), float(cost[pick])


def cost_report(is_pos: Sequence[bool], score: Sequence[float], costs: CostMatrix = GERMAN_CREDIT,
                threshold: float | None = None) -> dict:
    """Expected cost at a threshold (chosen here on these examples when `threshold` is None), beside the cost of
    the plain 0.5 decision and of the trivial policies (accept everyone / reject everyone)."""
    is_pos, score = np.asarray(is_pos, dtype=bool), np.asarray(score, dtype=float)
    chosen = threshold is None
    if chosen:
        threshold, _ = best_threshold(is_pos, score, costs)
    pred = score >= threshold
    return {
        "threshold": float(threshold),
        "threshold_chosen_here": chosen,
        "expected_cost": expected_cost(is_pos, pred, costs),
        "expected_cost_at_0.5": expected_cost(is_pos, score >= 0.5, costs),
        "expected_cost_accept_all": expected_cost(is_pos, np.zeros_like(is_pos), costs),
        "expected_cost_reject_all": expected_cost(is_pos, np.ones_like(is_pos), costs),
        "accuracy_at_threshold": float(np.mean(pred == is_pos)) if is_pos.size else 0.0,
        "cost_matrix": costs.to_dict(),
    }
