"""The Q&A confidence threshold: below it the bot offers a human instead of guessing."""
from __future__ import annotations

from typing import Sequence

import numpy as np

TARGET_ACCURACY = 0.9
MIN_THRESHOLD = 0.2     # never answer a guess the model itself rates below 20 %
MAX_THRESHOLD = 0.9     # never demand more than 90 %, or a well-tuned model would hand almost everything to a human


def answer_threshold(confidence: Sequence[float], correct: Sequence[bool], target: float = TARGET_ACCURACY,
                     lo: float = MIN_THRESHOLD, hi: float = MAX_THRESHOLD) -> dict:
    """Choose the confidence threshold for answering on validation data.

    Rule: the bot answers a question when its top probability ≥ t. Among the observed confidences, t is the
    smallest one such that the accuracy on the validation questions that would be answered (confidence ≥ t) is at
    least `target` — i.e. answer as many questions as possible while keeping answered accuracy ≥ target. When no
    t reaches the target, t = `hi`. The result is clamped to [lo, hi]. Returns {threshold, coverage,
    answered_accuracy, target} where coverage and answered_accuracy are measured on these examples at the
    final t.
    """
    conf = np.asarray(confidence, dtype=float)
    ok = np.asarray(correct, dtype=bool)
    t = hi
    if conf.size:
        order = np.argsort(-conf, kind="stable")
        c_sorted, ok_sorted = conf[order], ok[order]
        acc_top = np.cumsum(ok_sorted) / np.arange(1, conf.size + 1)
        # Only the last index of each run of equal confidences is a real cut (ties are answered together).
        last_of_tie = np.r_[c_sorted[1:] != c_sorted[:-1], True]
        good = np.flatnonzero(last_of_tie & (acc_top >= target - 1e-12))
        if good.size:
            t = float(c_sorted[good[-1]])
    t = float(min(max(t, lo), hi))
    answered = conf >= t
    return {
        "threshold": t,
        "coverage": float(answered.mean()) if conf.size else 0.0,
        "answered_accuracy": float(ok[answered].mean()) if answered.any() else None,
        "target": target,
    }
