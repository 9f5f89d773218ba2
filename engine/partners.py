"""The scikit-learn models ftbot fits beside the transformer: the partners a run may serve (engine/recipes/blend.py)
and the baselines every report shows (engine/evaluation/baseline.py), built the same way in both places.

Tables: logistic regression (one-hot categoricals + scaled numerics, C by inner cross-validation), histogram gradient
boosting and a random forest on the raw columns, and the soft vote of those. Text: TF-IDF + logistic regression.
`frame` turns parsed rows into the object array the table models read.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from engine.data.values import number

SEED = 0
AVERAGE = "average"
# Inverse regularisation strengths tried by the tabular logistic regression's inner cross-validation.
LR_CS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
LR_INNER_FOLDS = 3


def frame(rows: Sequence[dict], columns: Sequence[str], numeric: set[str]) -> np.ndarray:
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


def tfidf_lr():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, make_pipeline

    # float32 features: lbfgs keeps them in float32, and its sparse products take half the time
    feats = FeatureUnion([
        ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, lowercase=True, dtype=np.float32)),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2, lowercase=True,
                                 dtype=np.float32)),
    ])
    # tol 1e-3 (sklearn's default is 1e-4): the same accuracy in fewer iterations, on every text run's report path.
    # Not newton-cg: it reaches the exact optimum at C = 10, the worse model (the stopped lbfgs regularises more);
    # docs/benchmarks.md has the figures.
    return make_pipeline(feats, LogisticRegression(C=10.0, max_iter=2000, tol=1e-3))


def regularised_lr():
    """Logistic regression whose C is chosen by an inner 3-fold cross-validation on the rows it is fitted on
    (log-loss: proper, and defined for any number of classes) instead of sklearn's fixed C = 1, which over-fits
    a one-hot table's many sparse columns on a few hundred rows."""
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


def random_forest(columns: Sequence[str], numeric: set[str]):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder

    num = [j for j, c in enumerate(columns) if c in numeric]
    cat = [j for j, c in enumerate(columns) if c not in numeric]
    pre = ColumnTransformer([
        ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1), cat),
        ("num", SimpleImputer(strategy="median", keep_empty_features=True), num),
    ])
    return make_pipeline(pre, RandomForestClassifier(n_estimators=200, min_samples_leaf=3, max_features="sqrt",
                                                     n_jobs=1, random_state=SEED))


def average_of(makers: dict[str, Callable]):
    """Soft vote: the mean of the members' predicted probabilities."""
    from sklearn.ensemble import VotingClassifier
    return VotingClassifier([(name, make()) for name, make in makers.items()], voting="soft", n_jobs=1)


def table_models(columns: Sequence[str], numeric: set[str]) -> dict[str, Callable]:
    """The three table models, by the names reports and served.json use."""
    return {"tabular_lr": lambda: tabular_lr(columns, numeric),
            "gradient_boosting": lambda: tabular_gb(columns, numeric),
            "random_forest": lambda: random_forest(columns, numeric)}
