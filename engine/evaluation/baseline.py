"""scikit-learn baselines trained on the same train/validation split as the run, reported beside it.

Every dataset gets TF-IDF (word 1–2 grams + character 2–5 grams) + logistic regression on the texts the encoder
reads. Tabular data additionally gets logistic regression (one-hot categoricals + scaled numerics, its C chosen by
an inner cross-validation on the training rows) and gradient boosting on the raw columns. A baseline that cannot be
fitted reports {"error": ...} instead of failing the report.
"""
from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np

from engine.data.values import number, numeric_columns
from engine.evaluation.costs import GERMAN_CREDIT, CostMatrix, cost_report
from engine.evaluation.metrics import binary_scores

SEED = 0


def tfidf_lr():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, make_pipeline

    # float32 features: lbfgs keeps them in float32, and its sparse products halve in time (1.6-1.9 vs 3.0-3.7 s on
    # 2,000 BANKING77 rows, 77 classes, the same 82.1 % validation accuracy)
    feats = FeatureUnion([
        ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, lowercase=True, dtype=np.float32)),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2, lowercase=True,
                                 dtype=np.float32)),
    ])
    # tol 1e-3 (sklearn's default is 1e-4): on 2,000 BANKING77 rows the same validation accuracy (82.1 vs 82.0 %) in
    # 18 instead of 29 lbfgs iterations (3.9 vs 7.5 s on a busy core) — this fit is on every text run's report path.
    # Not newton-cg, although it is 3x faster here: it reaches the exact C = 10 optimum, and that is the worse model
    # (full BANKING77: 89.60 vs 90.35 % on the test part; the stopped lbfgs acts as extra regularisation)
    return make_pipeline(feats, LogisticRegression(C=10.0, max_iter=2000, tol=1e-3))


def _frame(rows: Sequence[dict], columns: Sequence[str], numeric: set[str]) -> np.ndarray:
    """Object array (n × columns): floats for numeric columns (NaN if blank), strings for the others."""
    X = np.empty((len(rows), len(columns)), dtype=object)
    for j, c in enumerate(columns):
        for i, r in enumerate(rows):
            v = r.get(c)
            if c in numeric:
                x = number(v)
                X[i, j] = float("nan") if x is None else x
            else:
                X[i, j] = "" if v is None else str(v)
    return X


def tabular_lr(columns: Sequence[str], numeric: set[str]):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    num = [j for j, c in enumerate(columns) if c in numeric]
    cat = [j for j, c in enumerate(columns) if c not in numeric]
    pre = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num),
        ("cat", OneHotEncoder(handle_unknown="ignore"), cat),
    ])
    return make_pipeline(pre, regularised_lr())


# Inverse regularisation strengths tried by the tabular logistic regression's inner cross-validation.
LR_CS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
LR_INNER_FOLDS = 3


def regularised_lr():
    """Logistic regression whose regularisation strength C is chosen by an inner 3-fold cross-validation on the rows
    it is fitted on (log-loss: proper, and defined for any number of classes), instead of sklearn's fixed C = 1.
    A one-hot table has many sparse columns; on German Credit's 490 rows C = 1 over-fits them: test ROC AUC 0.788
    vs 0.801 with the chosen C (0.1 on all three splits, see docs/benchmarks.md); on Taiwan's 16,800 rows it costs
    1.6 s instead of 0.4 s."""
    import inspect
    from sklearn.linear_model import LogisticRegressionCV
    kwargs = {}
    accepted = inspect.signature(LogisticRegressionCV).parameters
    # scikit-learn ≥ 1.8 warns unless these are explicit; older releases (pyproject allows ≥ 1.4) lack them
    if "l1_ratios" in accepted:
        kwargs["l1_ratios"] = (0.0,)
    if "use_legacy_attributes" in accepted:
        kwargs["use_legacy_attributes"] = False
    return LogisticRegressionCV(Cs=list(LR_CS), cv=LR_INNER_FOLDS, scoring="neg_log_loss", max_iter=2000, **kwargs)


def tabular_gb(columns: Sequence[str], numeric: set[str]):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder

    num = [j for j, c in enumerate(columns) if c in numeric]
    cat = [j for j, c in enumerate(columns) if c not in numeric]
    pre = ColumnTransformer([
        ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                               encoded_missing_value=np.nan), cat),
        ("num", "passthrough", num),
    ])
    gb = HistGradientBoostingClassifier(categorical_features=list(range(len(cat))), max_iter=200,
                                        learning_rate=0.05, early_stopping=False, random_state=SEED)
    return make_pipeline(pre, gb)


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
        X_tr, X_va = _frame(raw_train, cols, numeric), _frame(raw_validation, cols, numeric)
        out["tabular_lr"] = _score("logistic regression (one-hot categoricals + scaled numerics, C by inner CV)",
                                   lambda: tabular_lr(cols, numeric), X_tr, y_tr, X_va, y_va, labels, positive, costs,
                                   prefit.get("tabular_lr"))
        out["gradient_boosting"] = _score("histogram gradient boosting on raw columns",
                                          lambda: tabular_gb(cols, numeric), X_tr, y_tr, X_va, y_va, labels,
                                          positive, costs, prefit.get("gradient_boosting"))
        for k in ("tabular_lr", "gradient_boosting"):
            out[k]["numeric_columns"] = sorted(numeric)
    return out
