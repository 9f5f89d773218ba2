"""Attributions of the sklearn partners (engine/explain/partners.py, trees.py): exact for logistic regression, tree
SHAP additivity for gradient boosting with categorical splits, the soft vote as the mean of its members, stability,
faithfulness where the truth is known and on German Credit, and the refusal of anything else."""
from __future__ import annotations

import csv
import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from engine.errors import FtbotError
from engine.explain import (Reference, UnsupportedModel, faithfulness, linear_log_odds, partner_attributions,
                            reason_columns)
from engine.explain import trees

GERMAN = Path("/work/shared/data/german_credit.csv")
LABELS = ["good", "bad"]


def _product():
    """The table partners as the product builds them (their home is being moved; either place will do)."""
    try:
        from engine.partners import average_of, frame, table_models
    except ImportError:
        from engine.evaluation.baseline import _frame as frame
        from engine.evaluation.selection import average_of, partner_factories
        return (lambda cols, num: partner_factories("tabular", cols, num)), average_of, frame
    return table_models, average_of, frame


TABLE_MODELS, AVERAGE_OF, FRAME = _product()


def _table(n: int, seed: int):
    """Debt ratio and account status decide the risk, the status's effect not monotone in its alphabetical code
    (so boosting splits it by a set of categories); age, region, tenure and channel are noise."""
    rng = np.random.default_rng(seed)
    status_effect = {"a-none": 0.0, "b-overdrawn": 2.0, "c-low": -1.0, "d-high": 1.5, "e-new": -0.5}
    rows, y = [], []
    for _ in range(n):
        ratio = float(rng.uniform(0, 1))
        status = str(rng.choice(list(status_effect)))
        z = 4.0 * (ratio - 0.5) + status_effect[status] + rng.normal(0, 0.3)
        row = {"debt_ratio": f"{ratio:.3f}", "status": status, "age": str(int(rng.integers(20, 70))),
               "region": str(rng.choice(["north", "south", "east"])),
               "tenure_months": str(int(rng.integers(0, 120))), "channel": str(rng.choice(["web", "branch"]))}
        if rng.random() < 0.05:
            del row["debt_ratio"]                      # a few blanks
        rows.append(row)
        y.append("bad" if z > 0.5 else "good")
    return rows, np.asarray(y)


COLUMNS = ["debt_ratio", "status", "age", "region", "tenure_months", "channel"]
NUMERIC = {"debt_ratio", "age", "tenure_months"}


@pytest.fixture(scope="module")
def fitted():
    rows, y = _table(500, 0)
    X = FRAME(rows, COLUMNS, NUMERIC)
    vote = AVERAGE_OF(TABLE_MODELS(COLUMNS, NUMERIC)).fit(X, y)
    ref = Reference.fit(rows, y, COLUMNS, sorted(NUMERIC), "good", sample_size=60)
    test_rows, _ = _table(120, 1)
    return {"vote": vote, "ref": ref, "R": FRAME(ref.sample, COLUMNS, NUMERIC),
            "rows": test_rows, "X": FRAME(test_rows, COLUMNS, NUMERIC)}


def _member(fitted, name):
    """A fitted member of the vote: it was fitted on label-encoded classes, 0 = "bad", 1 = "good"."""
    return fitted["vote"].named_estimators_[name]


ENCODED, BAD = [0, 1], 0


def _logit(p):
    return np.log(p / (1 - p))


def test_logistic_regression_is_exact_in_log_odds_and_sums_in_probability(fitted):
    lr = _member(fitted, "tabular_lr")
    X, R = fitted["X"], fitted["R"]
    lo = linear_log_odds(lr, X, R, BAD)
    assert list(lr.classes_) == ENCODED                    # "bad" is classes_[0]: the sign flips inside
    p_bad, p_bad_ref = lr.predict_proba(X)[:, 0], lr.predict_proba(R)[:, 0]
    np.testing.assert_allclose(lo.sum(1), _logit(p_bad) - _logit(p_bad_ref).mean(), atol=1e-9)
    # by hand: coefficient × (z − mean z over the reference), the five one-hot pieces of `status` are one column
    pre, est = lr.steps[0][1], lr.steps[1][1]
    Z, Zr = pre.transform(X), pre.transform(R)
    Z, Zr = (m.toarray() if hasattr(m, "toarray") else m for m in (Z, Zr))
    contrib = -(Z - Zr.mean(0)) * est.coef_[0]                 # −: coef_ is for classes_[1] = "good"
    status_pieces = [j for j, name in enumerate(pre.get_feature_names_out()) if name.startswith("cat__x1_")]
    assert len(status_pieces) == 5
    np.testing.assert_allclose(lo[:, 1], contrib[:, status_pieces].sum(1), atol=1e-9)
    a = partner_attributions(lr, X, R, ENCODED, BAD)
    np.testing.assert_allclose(a.sum(1), p_bad - p_bad_ref.mean(), atol=1e-9)
    np.testing.assert_allclose(partner_attributions(lr, X, R, ENCODED, 1), -a, atol=1e-12)


def test_gradient_boosting_reads_categorical_splits_exactly(fitted):
    gb = _member(fitted, "gradient_boosting")
    est = gb.steps[1][1]
    nodes = np.concatenate([p[0].nodes for p in est._predictors])
    assert nodes["is_categorical"].any()                        # the case shap's own reader gets wrong
    X, R = fitted["X"], fitted["R"]
    a = partner_attributions(gb, X, R, ENCODED, BAD, boosting_rows=None)
    p, p_ref = gb.predict_proba(X)[:, 0], gb.predict_proba(R)[:, 0]
    np.testing.assert_allclose(a.sum(1), p - p_ref.mean(), atol=1e-7)       # additivity, probability units
    # fewer reference rows: still additive, against those rows
    a20 = partner_attributions(gb, X, R, ENCODED, BAD, boosting_rows=20)
    np.testing.assert_allclose(a20.sum(1), p - p_ref[:20].mean(), atol=1e-7)


def test_rewritten_boosting_trees_give_exact_shapley_values_in_log_odds(fitted):
    """Against one reference row, interventional SHAP in log-odds is the Shapley value of
    v(S) = f(x on S, r elsewhere): enumerate all 2^6 coalitions and compare."""
    import shap
    gb = _member(fitted, "gradient_boosting")
    pre, est = gb.steps[0][1], gb.steps[1][1]
    Z, Zr = pre.transform(fitted["X"][:5]), pre.transform(fitted["R"][:1])       # what the model reads
    boosted = trees.hgb_model(est)
    W, Wr = boosted.encode(trees._internal(est, Z)), boosted.encode(trees._internal(est, Zr))
    phi_trees = shap.TreeExplainer(boosted.model, data=Wr, feature_perturbation="interventional",
                                   model_output="raw").shap_values(W, check_additivity=False)
    phi = np.zeros_like(phi_trees)
    phi[:, trees._internal_owner(est)] = phi_trees              # back to the model's own input order
    d = Z.shape[1]
    coalitions = [S for m in range(d + 1) for S in itertools.combinations(range(d), m)]
    for i in range(len(Z)):
        hybrids = np.repeat(Zr[:1], len(coalitions), axis=0)
        for h, S in enumerate(coalitions):
            hybrids[h, list(S)] = Z[i, list(S)]
        v = dict(zip(coalitions, est.decision_function(hybrids)))     # the model's own log-odds
        for j in range(d):
            exact = sum(math.factorial(len(S)) * math.factorial(d - len(S) - 1) / math.factorial(d)
                        * (v[tuple(sorted(S + (j,)))] - v[S]) for S in coalitions if j not in S)
            assert phi[i, j] == pytest.approx(exact, abs=1e-6)


def test_random_forest_methods_are_additive_against_the_reference(fitted):
    rf = _member(fitted, "random_forest")
    X, R = fitted["X"][:30], fitted["R"]
    p, p_ref = rf.predict_proba(X)[:, 0], rf.predict_proba(R)[:, 0]
    for method in ("saabas", "path", "interventional"):
        a = partner_attributions(rf, X, R, ENCODED, BAD, forest=method)
        np.testing.assert_allclose(a.sum(1), p - p_ref.mean(), atol=1e-6, err_msg=method)


def test_soft_vote_is_the_mean_of_its_members_and_stable(fitted):
    vote, X, R = fitted["vote"], fitted["X"], fitted["R"]
    a = partner_attributions(vote, X, R, LABELS, "bad", boosting_rows=None)
    p, p_ref = vote.predict_proba(X)[:, 0], vote.predict_proba(R)[:, 0]
    np.testing.assert_allclose(a.sum(1), p - p_ref.mean(), atol=1e-6)
    members = [partner_attributions(m, X, R, ENCODED, BAD, boosting_rows=None) for m in vote.estimators_]
    np.testing.assert_allclose(a, np.mean(members, axis=0), atol=1e-12)
    again = partner_attributions(vote, X.copy(), R.copy(), LABELS, "bad", boosting_rows=None)
    assert np.array_equal(a, again)                            # same input, same output: nothing sampled


def test_reasons_find_the_planted_columns(fitted):
    vote, X, R, ref = fitted["vote"], fitted["X"], fitted["R"], fitted["ref"]
    a = partner_attributions(vote, X, R, LABELS, "bad")
    p = vote.predict_proba(X)[:, 0]
    declined = np.flatnonzero(p >= 0.5)
    assert len(declined) >= 20
    tops = [COLUMNS[reason_columns(a[i])[0]] for i in declined]
    assert sum(t in ("debt_ratio", "status") for t in tops) / len(tops) >= 0.95

    def predict(rows):
        return vote.predict_proba(FRAME(rows, COLUMNS, NUMERIC))[:, 0]
    f = faithfulness(predict, fitted["rows"], a, COLUMNS, ref.typical, 0.5)
    assert f["declined"] == len(declined) and f["share"] >= 0.9


@pytest.mark.skipif(not GERMAN.exists(), reason="German Credit is not on this machine")
def test_german_credit_soft_vote_reasons_are_faithful():
    with GERMAN.open(newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    columns = [c for c in table[0] if c != "risk"]
    from engine.data.values import numeric_columns
    numeric = set(numeric_columns(table, columns))
    rng = np.random.default_rng(0)
    order = rng.permutation(len(table))
    train, test = [table[i] for i in order[:490]], [table[i] for i in order[490:]]
    y = np.asarray([r["risk"] for r in train])
    vote = AVERAGE_OF(TABLE_MODELS(columns, numeric)).fit(FRAME(train, columns, numeric), y)
    ref = Reference.fit(train, y, columns, sorted(numeric), "good")
    X = FRAME(test, columns, numeric)
    a = partner_attributions(vote, X, FRAME(ref.sample, columns, numeric), LABELS, "bad")

    def predict(rows):
        return vote.predict_proba(FRAME(rows, columns, numeric))[:, list(vote.classes_).index("bad")]
    for threshold in (0.5, 1 / 6):                 # the even threshold and the 5:1 cost matrix's
        f = faithfulness(predict, test, a, columns, ref.typical, threshold)
        assert f["declined"] >= 20 and f["share"] >= 0.9, (threshold, f)


def test_models_it_cannot_explain_are_refused(fitted):
    from sklearn.ensemble import VotingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.neighbors import KNeighborsClassifier
    X, R = fitted["X"], fitted["R"]
    rows, y = _table(200, 3)
    lr = LogisticRegression().fit(np.random.default_rng(0).normal(size=(200, 4)), y)
    with pytest.raises(UnsupportedModel, match="cannot explain a LogisticRegression"):
        partner_attributions(lr, X, R, LABELS, "bad")
    from sklearn.base import clone
    pre = clone(_member(fitted, "tabular_lr").steps[0][1])
    knn = make_pipeline(pre, KNeighborsClassifier()).fit(FRAME(rows, COLUMNS, NUMERIC), y)
    with pytest.raises(FtbotError, match="pipeline ending in KNeighborsClassifier"):
        partner_attributions(knn, X, R, LABELS, "bad")
    hard = VotingClassifier([("lr", make_pipeline(clone(pre), LogisticRegression()))], voting="hard")
    hard.fit(FRAME(rows, COLUMNS, NUMERIC), y)
    with pytest.raises(UnsupportedModel, match="hard-voting"):
        partner_attributions(hard, X, R, LABELS, "bad")
