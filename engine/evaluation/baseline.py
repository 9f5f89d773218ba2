"""scikit-learn baselines trained on the same train/validation split as the run, reported beside it (the models
themselves are built in engine/partners.py, as the partners a run may serve).

Every dataset gets TF-IDF (word 1–2 grams + character 2–5 grams) + logistic regression on the texts the encoder
reads. Tabular data additionally gets logistic regression (one-hot categoricals + scaled numerics, its C chosen by
an inner cross-validation on the training rows) and gradient boosting on the raw columns. A baseline that cannot be
fitted reports {"error": ...} instead of failing the report.
"""
from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np

from engine.data.values import numeric_columns
from engine.evaluation.costs import GERMAN_CREDIT, CostMatrix, cost_report
from engine.metrics import binary_scores
from engine.partners import frame, tabular_gb, tabular_lr, tfidf_lr

def _score(name: str, make: Callable, X_tr, y_tr, X_va, y_va, labels: list[str], positive: str | None,
           costs: CostMatrix, fitted=None) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    t0 = time.perf_counter()
    try:
        model = fitted
        if model is None:
            model = make()
            model.fit(X_tr, y_tr)
        pred = model.predict(X_va)
        out = {"name": name,
               "accuracy": float(accuracy_score(y_va, pred)),
               "macro_f1": float(f1_score(y_va, pred, labels=labels, average="macro", zero_division=0))}
        if positive is not None:
            classes = list(model.classes_)
            score = (model.predict_proba(X_va)[:, classes.index(positive)] if positive in classes
                     else np.zeros(len(y_va)))
            is_pos = np.asarray(y_va) == positive
            out.update(binary_scores(is_pos, score))
            c = cost_report(is_pos, score, costs)
            out.update(threshold=c["threshold"], expected_cost=c["expected_cost"],
                       expected_cost_at_0_5=c["expected_cost_at_0.5"])
    except Exception as e:  # a baseline must never sink the report
        out = {"name": name, "error": f"{type(e).__name__}: {e}"}
    out["fit_s"] = round(time.perf_counter() - t0, 3)
    return out


def run_baselines(train_texts: Sequence[str], train_labels: Sequence[str], val_texts: Sequence[str],
                  val_labels: Sequence[str], labels: Sequence[str], *, positive: str | None = None,
                  costs: CostMatrix = GERMAN_CREDIT, raw_train: Sequence[dict] | None = None,
                  raw_validation: Sequence[dict] | None = None, columns: Sequence[str] | None = None,
                  prefit: dict | None = None) -> dict:
    """{baseline name: {accuracy, macro_f1[, roc_auc, ks, threshold, expected_cost]}}. `positive` (two-class tasks)
    turns on the binary extras; the cost threshold is chosen on the validation split, like the run's. `prefit`
    ({name: model fitted on the same training rows}, e.g. the selection's partner) is scored, not fitted again."""
    labels = list(labels)
    prefit = prefit or {}
    y_tr, y_va = list(train_labels), list(val_labels)
    out = {"tfidf_lr": _score("TF-IDF word 1-2 + char 2-5 grams + logistic regression", tfidf_lr,
                              list(train_texts), y_tr, list(val_texts), y_va, labels, positive, costs,
                              prefit.get("tfidf_lr"))}
    if raw_train and raw_validation:
        cols = list(columns or raw_train[0].keys())
        numeric = set(numeric_columns(list(raw_train) + list(raw_validation), cols))
        X_tr, X_va = frame(raw_train, cols, numeric), frame(raw_validation, cols, numeric)
        out["tabular_lr"] = _score("logistic regression (one-hot categoricals + scaled numerics, C by inner CV)",
                                   lambda: tabular_lr(cols, numeric), X_tr, y_tr, X_va, y_va, labels, positive, costs,
                                   prefit.get("tabular_lr"))
        out["gradient_boosting"] = _score("histogram gradient boosting on raw columns",
                                          lambda: tabular_gb(cols, numeric), X_tr, y_tr, X_va, y_va, labels,
                                          positive, costs, prefit.get("gradient_boosting"))
        for k in ("tabular_lr", "gradient_boosting"):
            out[k]["numeric_columns"] = sorted(numeric)
    return out
