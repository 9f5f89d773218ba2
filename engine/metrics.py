"""Classification metrics (scikit-learn underneath) and the two-class extras: ROC AUC and the KS statistic."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score, log_loss,
                             precision_recall_fscore_support, roc_auc_score, roc_curve)

# Names that mark the "risk" class of a two-class task (the class whose miss is expensive).
RISK_NAMES = ("bad", "default", "defaulted", "fraud", "risk", "high_risk", "high risk", "charged off", "churn",
              "yes", "1", "true", "positive")


def metrics(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str],
            proba: np.ndarray | None = None) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix (rows: true, cols: predicted).

    `proba` (n × len(labels), columns in `labels` order) adds log loss and, for two classes, ROC AUC and KS of the
    positive label chosen by `positive_label`.
    """
    labels = list(labels)
    y_true, y_pred = list(y_true), list(y_pred)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    out = {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)) if y_true else 0.0,
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "per_class": {lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
                      for i, lab in enumerate(labels)},
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "labels": labels,
    }
    if proba is not None and len(y_true):
        proba = np.asarray(proba, dtype=float)
        out["log_loss"] = float(log_loss(y_true, proba, labels=labels))
        if len(labels) == 2:
            pos = positive_label(labels)
            out.update(binary_scores(np.array(y_true) == pos, proba[:, labels.index(pos)]))
            out["positive_label"] = pos
    return out


def positive_label(labels: Sequence[str], counts: dict[str, int] | None = None) -> str:
    """The risk class of a two-class task: a label named like 'bad'/'default'/'fraud'…, else the minority class
    (by `counts`), else the second label in sorted order."""
    labels = list(labels)
    lower = {lab.strip().lower(): lab for lab in labels}
    for name in RISK_NAMES:
        if name in lower:
            return lower[name]
    if counts:
        known = [(counts.get(lab, 0), lab) for lab in labels]
        if known[0][0] != known[1][0]:
            return min(known)[1]
    return sorted(labels)[-1]


def ks_statistic(is_pos: Sequence[bool], score: Sequence[float]) -> float:
    """Kolmogorov–Smirnov statistic: max over thresholds of TPR − FPR (0 = no separation, 1 = perfect)."""
    is_pos, score = np.asarray(is_pos, dtype=bool), np.asarray(score, dtype=float)
    if is_pos.all() or not is_pos.any():
        return float("nan")
    fpr, tpr, _ = roc_curve(is_pos, score)
    return float(np.max(tpr - fpr))


def binary_scores(is_pos: Sequence[bool], score: Sequence[float]) -> dict:
    """ROC AUC and KS of a score for the positive class; NaN (reported as None) when only one class is present."""
    is_pos = np.asarray(is_pos, dtype=bool)
    if is_pos.all() or not is_pos.any():
        return {"roc_auc": None, "ks": None}
    return {"roc_auc": float(roc_auc_score(is_pos, score)), "ks": ks_statistic(is_pos, score)}
