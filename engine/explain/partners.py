"""Per-column attributions of the sklearn partners a credit run may serve, in probability units of one label,
against a reference population of training rows.

Supported, exactly the partners ftbot fits (anything else raises UnsupportedModel):
- Pipeline(ColumnTransformer[imputer + scaler | one-hot], logistic regression): exact. In log-odds each encoded
  feature adds coef·(z(x) − z(r)); one-hot pieces of a column are summed; into probability units by the secant rule
  (units.py), so a row sums to P(x) − mean P over the reference rows.
- Pipeline(ColumnTransformer[ordinal | passthrough], HistGradientBoostingClassifier): interventional tree SHAP
  against the first `boosting_rows` reference rows, categorical splits read exactly (trees.py). Its cost grows
  with every reference row; a stratified prefix of the reference keeps it within the scoring budget and is still
  exact SHAP against those rows.
- Pipeline(ColumnTransformer[ordinal | imputer], RandomForestClassifier): path contributions centred on the
  reference rows by default, exact tree SHAP on request (trees.py).
- a soft VotingClassifier of these: the weighted mean of its members' attributions, as its probability is the
  weighted mean of theirs (members are fitted on label-encoded classes, VotingClassifier.le_).
Every encoded feature belongs to one raw column, so a column's attribution is the sum over its features.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from engine.errors import FtbotError
from engine.explain.trees import FOREST_METHODS, forest_attributions, hgb_attributions
from engine.explain.units import probability_attributions
from engine.served.partner import is_vote

BOOSTING_ROWS = 20      # reference rows for gradient boosting's interventional SHAP (measured: bench/explain_partners.py)
SUPPORTED = ("logistic regression, histogram gradient boosting or random forest in the pipelines ftbot fits, "
             "or their soft vote")


class UnsupportedModel(FtbotError):
    """A model whose reasons cannot be computed faithfully here."""

    def __init__(self, what: str):
        super().__init__(f"cannot explain {what}: reasons are computed for {SUPPORTED}. Serve one of those "
                         "partners or the fine-tuned model (explained per column by occlusion).")


def partner_attributions(partner, X, reference_X, labels: Sequence[str], positive: str, *,
                         forest: str = "saabas", boosting_rows: int | None = BOOSTING_ROWS) -> np.ndarray:
    """(rows × raw columns) contributions to P(positive), probability units, relative to the mean over the
    reference rows: each row sums to P(x) − mean P(reference), gradient boosting's part over the reference rows
    it was explained against (see the module notes for each model).
    X, reference_X: the object arrays the partner reads (floats for numeric columns, NaN blank; strings others).
    forest: "saabas" | "path" | "interventional" (trees.py); boosting_rows: how many of the first reference rows
    gradient boosting is explained against (None: all)."""
    if positive not in list(labels):
        raise ValueError(f"positive label {positive!r} is not among the labels {list(labels)}")
    if forest not in FOREST_METHODS:
        raise ValueError(f"forest={forest!r} is not one of {FOREST_METHODS}")
    X, reference_X = _two_d(X), _two_d(reference_X)
    if X.shape[1] != reference_X.shape[1]:
        raise ValueError(f"rows have {X.shape[1]} columns but the reference rows {reference_X.shape[1]}")
    if not len(reference_X):
        raise ValueError("no reference rows: attributions need a background from the training rows")
    _check_supported(partner)
    classes = list(partner.classes_)
    if positive not in classes:          # a label the partner never saw: its probability is always 0
        return np.zeros(X.shape, dtype=np.float64)
    settings = {"forest": forest, "boosting_rows": boosting_rows}
    if is_vote(partner):
        return _vote(partner, X, reference_X, classes.index(positive), settings)
    return _pipeline(partner, X, reference_X, positive, settings)


def _check_supported(model) -> None:
    """Refuse, before any work, what is not one of the partners ftbot fits (or is not fitted)."""
    from sklearn.pipeline import Pipeline
    if is_vote(model):
        if getattr(model, "voting", None) != "soft":
            raise UnsupportedModel("a hard-voting VotingClassifier (it has no probability to explain)")
        if not hasattr(model, "estimators_"):
            raise UnsupportedModel("an unfitted VotingClassifier")
        for member in model.estimators_:
            _check_supported(member)
        return
    if not isinstance(model, Pipeline):
        raise UnsupportedModel(f"a {type(model).__name__} (expected a column transformer and one model)")
    if not hasattr(model, "classes_"):
        raise UnsupportedModel(f"a {type(model.steps[-1][1]).__name__} that is not a fitted classifier")


def _vote(vote, X, R, encoded: int, settings: dict) -> np.ndarray:
    members = list(vote.estimators_)
    weights = np.ones(len(members)) if vote.weights is None else np.asarray(
        [w for (_, est), w in zip(vote.estimators, vote.weights) if est != "drop"], dtype=np.float64)
    parts = [_pipeline(m, X, R, encoded, settings) for m in members]
    return np.tensordot(weights / weights.sum(), np.asarray(parts), axes=1)


def _pipeline(model, X, R, positive, settings: dict) -> np.ndarray:
    """One pipeline → (rows × raw columns) for P(positive), `positive` as the pipeline's classes_ name it."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.pipeline import Pipeline

    if not isinstance(model, Pipeline) or len(model.steps) != 2 or not isinstance(model.steps[0][1],
                                                                                   ColumnTransformer):
        raise UnsupportedModel(f"a {type(model).__name__} (expected a column transformer and one model)")
    pre, est = model.steps[0][1], model.steps[1][1]
    classes = list(est.classes_)
    if len(classes) != 2:
        raise UnsupportedModel(f"a {type(est).__name__} of {len(classes)} classes (reasons need two)")
    k = classes.index(positive)
    owner = feature_columns(pre, X.shape[1])                       # encoded feature → raw column
    if isinstance(est, HistGradientBoostingClassifier):     # reads what the pipeline hands it, dtype and all
        rows = settings["boosting_rows"]
        Z, Z_ref = pre.transform(X), pre.transform(R if rows is None else R[:max(1, rows)])
        return _to_columns(hgb_attributions(est, Z, Z_ref, k), owner, X.shape[1])
    Z, Z_ref = _dense(pre.transform(X)), _dense(pre.transform(R))
    if isinstance(est, (LogisticRegression, LogisticRegressionCV)):
        return _linear(est, Z, Z_ref, k, owner, X.shape[1])
    if isinstance(est, RandomForestClassifier):
        return _to_columns(forest_attributions(est, Z, Z_ref, k, settings["forest"]), owner, X.shape[1])
    raise UnsupportedModel(f"a pipeline ending in {type(est).__name__}")


def _linear(est, Z, Z_ref, k: int, owner: np.ndarray, n_columns: int) -> np.ndarray:
    g_x, g_ref, f_x, f_ref = linear_parts(est, Z, Z_ref, k, owner, n_columns)
    return probability_attributions(g_x, g_ref, f_x, f_ref)


def linear_parts(est, Z, Z_ref, k: int, owner: np.ndarray, n_columns: int):
    """A two-class logistic regression's log-odds of class k, split per raw column: (g_x, g_ref, f_x, f_ref) with
    f = intercept + Σ columns g. g_x − mean g_ref is the exact log-odds attribution against the reference rows."""
    coef = np.asarray(est.coef_, dtype=np.float64).reshape(-1)
    b = float(np.asarray(est.intercept_).reshape(-1)[0])
    sign = 1.0 if k == 1 else -1.0                                 # coef_ is for classes_[1]
    g_x = _to_columns(Z * coef, owner, n_columns) * sign
    g_ref = _to_columns(Z_ref * coef, owner, n_columns) * sign
    return g_x, g_ref, g_x.sum(1) + sign * b, g_ref.sum(1) + sign * b


def linear_log_odds(partner, X, reference_X, positive: str) -> np.ndarray:
    """A logistic-regression pipeline's exact attributions in log-odds: coef·(z(x) − mean z(reference)), one-hot
    pieces summed per column; each row sums to logit P(x) − mean logit P(reference)."""
    X, R = _two_d(X), _two_d(reference_X)
    pre, est = partner.steps[0][1], partner.steps[-1][1]
    owner = feature_columns(pre, X.shape[1])
    g_x, g_ref, _, _ = linear_parts(est, _dense(pre.transform(X)), _dense(pre.transform(R)),
                                    list(est.classes_).index(positive), owner, X.shape[1])
    return g_x - g_ref.mean(axis=0, keepdims=True)


# ---- which raw column each encoded feature comes from -------------------------------------------------------------
def feature_columns(ct, n_columns: int) -> np.ndarray:
    """For a fitted ColumnTransformer on an array of n_columns: the raw column index of each output feature."""
    owner: list[int] = []
    for name, trans, cols in ct.transformers_:
        idx = _indices(cols, n_columns, name)
        if trans == "drop" or not len(idx):
            continue
        owner += [int(idx[j]) for j in _outputs(trans, len(idx), name)]
    return np.asarray(owner, dtype=np.int64)


def _indices(cols, n_columns: int, name: str) -> np.ndarray:
    arr = np.arange(n_columns)
    if isinstance(cols, slice):
        return arr[cols]
    cols = np.asarray(cols)
    if cols.dtype == bool:
        return arr[cols]
    if cols.size and not np.issubdtype(cols.dtype, np.integer):
        raise UnsupportedModel(f"a column transformer that selects columns by name ({name!r})")
    return cols.astype(np.int64)


def _outputs(trans, n_in: int, name: str) -> list[int]:
    """For one fitted transformer of n_in inputs: the input position of each of its outputs."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    from sklearn.preprocessing import FunctionTransformer

    if isinstance(trans, str) and trans == "passthrough":
        return list(range(n_in))
    if isinstance(trans, FunctionTransformer) and trans.func is None:     # how a fitted "passthrough" is kept
        return list(range(n_in))
    if isinstance(trans, Pipeline):
        pos = list(range(n_in))
        for _, step in trans.steps:
            if step is None or step == "passthrough":
                continue
            pos = [pos[j] for j in _outputs(step, len(pos), name)]
        return pos
    if isinstance(trans, (StandardScaler, OrdinalEncoder)):
        return list(range(n_in))
    if isinstance(trans, SimpleImputer):
        stats = np.asarray(trans.statistics_)
        kept = list(range(n_in)) if trans.keep_empty_features else [
            j for j in range(n_in) if not (stats.dtype.kind == "f" and np.isnan(stats[j]))]
        if trans.add_indicator:
            kept += [int(j) for j in trans.indicator_.features_]
        return kept
    if isinstance(trans, OneHotEncoder):
        if getattr(trans, "_infrequent_enabled", False):
            raise UnsupportedModel(f"a one-hot encoder that groups infrequent categories ({name!r})")
        drop = trans.drop_idx_
        out = []
        for j, cats in enumerate(trans.categories_):
            out += [j] * (len(cats) - (1 if drop is not None and drop[j] is not None else 0))
        return out
    raise UnsupportedModel(f"a column transformer step {type(trans).__name__} ({name!r})")


def _to_columns(phi: np.ndarray, owner: np.ndarray, n_columns: int) -> np.ndarray:
    """Sum encoded-feature attributions (rows × features) into raw columns (rows × n_columns)."""
    phi = np.asarray(phi, dtype=np.float64)
    if phi.shape[1] != len(owner):
        raise RuntimeError(f"the model has {phi.shape[1]} encoded features but {len(owner)} were traced to "
                           "columns; this column transformer is not supported")
    to_column = np.zeros((len(owner), n_columns))
    to_column[np.arange(len(owner)), owner] = 1.0
    return phi @ to_column


def _dense(Z) -> np.ndarray:
    return np.asarray(Z.toarray() if hasattr(Z, "toarray") else Z, dtype=np.float64)


def _two_d(X) -> np.ndarray:
    X = np.asarray(X, dtype=object)
    if X.ndim != 2:
        raise ValueError(f"expected rows × columns, got an array of shape {X.shape}")
    return X

