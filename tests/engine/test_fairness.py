"""Fairness report, threshold sweep and its chart, checked against fairlearn and by hand."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from fairlearn.metrics import (demographic_parity_ratio, equal_opportunity_difference, false_positive_rate,
                               selection_rate, true_positive_rate)

from engine.data.protected import parse_protected
from engine.evaluation.costs import GERMAN_CREDIT, CostMatrix, expected_cost
from engine.evaluation.fairness import fairness_report, fairness_reports, threshold_sweep
from engine.evaluation.fairness_plot import fairness_threshold_png
from tests.conftest import SHARED_DATA

GERMAN = SHARED_DATA / "german_credit.csv"


def _synthetic(n=2000, young_approval=0.8, seed=0):
    """Applicants in two age groups; the decision approves each with a fixed probability per group."""
    rng = np.random.default_rng(seed)
    groups = np.where(rng.random(n) < 0.3, "young", "old")
    y = np.where(rng.random(n) < 0.7, "good", "bad")
    p = np.where(groups == "young", young_approval, 0.8)
    decision = np.where(rng.random(n) < p, "good", "bad")
    return y, decision, groups


def test_a_hand_computed_example():
    # a: truth good good bad bad, decision good bad good bad → approval 2/4, TPR 1/2 (of 2 good), FPR 1/2 (of 2 bad)
    # b: truth good good good bad, decision good ×4        → approval 1, TPR 1, FPR 1
    # adverse impact ratio 0.5 / 1 = 0.5; equal-opportunity difference 1 − 0.5 = 0.5
    y = ["good", "good", "bad", "bad", "good", "good", "good", "bad"]
    d = ["good", "bad", "good", "bad", "good", "good", "good", "good"]
    g = ["a"] * 4 + ["b"] * 4
    r = fairness_report(y, d, g, favourable="good", n_boot=200)
    assert r["groups"] == {"a": {"n": 4, "approval_rate": 0.5, "tpr": 0.5, "fpr": 0.5},
                           "b": {"n": 4, "approval_rate": 1.0, "tpr": 1.0, "fpr": 1.0}}
    assert r["adverse_impact_ratio"] == 0.5 and r["equal_opportunity_difference"] == 0.5
    assert (r["reference_group"], r["lowest_group"], r["favourable"]) == ("b", "a", "good")
    json.dumps(r)


def test_per_group_figures_and_ratios_match_fairlearn():
    rng = np.random.default_rng(3)
    n = 600
    g = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    y = np.where(rng.random(n) < 0.65, "good", "bad")
    d = np.where(rng.random(n) < np.select([g == "a", g == "b"], [0.8, 0.7], 0.55), "good", "bad")
    r = fairness_report(y, d, g, favourable="good", n_boot=300)
    yt, yp = (y == "good").astype(int), (d == "good").astype(int)
    for name in "abc":
        m = g == name
        got = r["groups"][name]
        assert got["n"] == m.sum()
        assert got["approval_rate"] == pytest.approx(selection_rate(yt[m], yp[m]))
        assert got["tpr"] == pytest.approx(true_positive_rate(yt[m], yp[m]))
        assert got["fpr"] == pytest.approx(false_positive_rate(yt[m], yp[m]))
    assert r["adverse_impact_ratio"] == pytest.approx(demographic_parity_ratio(yt, yp, sensitive_features=g))
    assert r["equal_opportunity_difference"] == pytest.approx(
        equal_opportunity_difference(yt, yp, sensitive_features=g))
    assert list(r["groups"]) == ["a", "b", "c"]            # largest group first


def test_intervals_contain_the_estimates_and_are_reproducible():
    y, d, g = _synthetic(n=800, young_approval=0.7)
    r = fairness_report(y, d, g, favourable="good", n_boot=500, seed=1)
    lo, hi = r["air_interval"]
    assert lo <= r["adverse_impact_ratio"] <= hi and hi - lo < 0.4
    lo, hi = r["eod_interval"]
    assert lo <= r["equal_opportunity_difference"] <= hi
    assert fairness_report(y, d, g, favourable="good", n_boot=500, seed=1) == r


def test_a_planted_bias_is_flagged_and_a_fair_rule_is_not():
    biased = fairness_report(*_synthetic(young_approval=0.45), favourable="good")
    assert biased["flagged"] and biased["air_interval"][1] < 0.8 and biased["lowest_group"] == "young"
    assert biased["note"].startswith("adverse impact ratio 0.5") and "flagged; approval young" in biased["note"]
    fair = fairness_report(*_synthetic(young_approval=0.8), favourable="good")
    assert not fair["flagged"] and fair["adverse_impact_ratio"] > 0.9 and "at or above 0.8" in fair["note"]


def test_below_the_line_but_uncertain_is_not_flagged():
    # 20 young applicants at 0.55 vs 0.8: the ratio is below 0.8, but 20 rows cannot show it with confidence
    rng = np.random.default_rng(5)
    g = np.array(["young"] * 20 + ["old"] * 400)
    y = np.array(["good"] * 420)
    d = np.where(rng.random(420) < np.where(g == "young", 0.6, 0.8), "good", "bad")
    r = fairness_report(y, d, g, favourable="good")
    assert r["adverse_impact_ratio"] < 0.8 and r["air_interval"][1] >= 0.8 and not r["flagged"]
    assert "below 0.8 but the interval reaches 0.8; not flagged" in r["note"]


def test_missing_group_is_shown_but_not_compared_and_empty_rates_are_none():
    y = ["good", "bad", "good", "bad", "bad", "bad"]
    d = ["good", "good", "bad", "bad", "good", "bad"]
    g = ["x", "x", "y", "y", "missing", "z"]
    r = fairness_report(y, d, g, favourable="good", n_boot=100)
    assert list(r["groups"])[-1] == "missing" and r["groups"]["missing"]["n"] == 1
    assert r["groups"]["z"]["tpr"] is None                  # no truly good applicant in z
    assert r["reference_group"] == "x" and r["lowest_group"] in ("y", "z")
    one = fairness_report(["good"] * 3, ["good"] * 3, ["x"] * 3, favourable="good")
    assert one["adverse_impact_ratio"] is None and "fewer than two groups" in one["note"] and not one["flagged"]


def test_score_adds_mean_score_and_auc_per_group():
    y, d, g = _synthetic(n=300)
    score = np.where(y == "bad", 0.7, 0.3) + np.random.default_rng(0).normal(0, 0.1, size=y.size)
    r = fairness_report(y, d, g, favourable="good", score=score, n_boot=50)
    assert all(v["auc"] > 0.9 and 0.3 < v["mean_score"] < 0.5 for v in r["groups"].values())


def test_fairness_reports_over_protected_attributes():
    rows = [{"age": str(a), "sex": s} for a, s in zip([22, 30, 24, 50, 41, 19], "fmfmfm")]
    specs = parse_protected("age<25,sex")
    y = ["good"] * 6
    d = ["bad", "good", "bad", "good", "good", "good"]
    out = fairness_reports(specs, rows, y, d, "good", n_boot=100)
    assert list(out) == ["age<25", "sex"]
    assert out["age<25"]["groups"]["age<25"]["approval_rate"] == pytest.approx(1 / 3)
    assert out["age<25"]["groups"]["age≥25"]["approval_rate"] == 1.0
    assert out["age<25"]["adverse_impact_ratio"] == pytest.approx(1 / 3)


def test_threshold_sweep_matches_costs_and_fairlearn():
    rng = np.random.default_rng(2)
    n = 400
    g = np.where(rng.random(n) < 0.3, "young", "old")
    bad = rng.random(n) < 0.3
    score = np.clip(0.3 * bad + 0.15 * (g == "young") + rng.random(n) * 0.6, 0, 1)
    sweep = threshold_sweep(bad, score, g, CostMatrix(fn=5, fp=1), [0.0, 0.3, 0.5, 0.7])
    assert [s["threshold"] for s in sweep] == [0.0, 0.3, 0.5, 0.7]
    assert sweep[0]["adverse_impact_ratio"] is None and sweep[0]["approval_rate"] == 0.0     # nobody approved
    for s in sweep[1:]:
        approved = score < s["threshold"]
        assert s["expected_cost"] == pytest.approx(expected_cost(bad, ~approved, GERMAN_CREDIT))
        assert s["adverse_impact_ratio"] == pytest.approx(demographic_parity_ratio(bad, approved, sensitive_features=g))
    assert len(threshold_sweep(bad, score, g)) == 99
    json.dumps(sweep)


def test_threshold_chart_is_a_png(tmp_path):
    rng = np.random.default_rng(0)
    g = np.where(rng.random(200) < 0.4, "a", "b")
    sweep = threshold_sweep(rng.random(200) < 0.3, rng.random(200), g)
    path = fairness_threshold_png(sweep, 0.17, tmp_path / "charts" / "fair.png", "Cost and fairness by threshold")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and 5_000 < len(data) < 300_000
    assert fairness_threshold_png([], None, tmp_path / "empty.png", "empty").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.skipif(not GERMAN.exists(), reason="shared data not present")
def test_german_credit_logistic_regression_by_age():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    with GERMAN.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    numeric = ["duration_months", "credit_amount", "installment_rate_pct", "age"]
    x = np.array([[float(r[c]) for c in numeric] + [r["checking_account"] == "no checking account"] for r in rows])
    x = (x - x.mean(0)) / x.std(0)
    y = np.array([r["risk"] for r in rows])
    tr, te = train_test_split(np.arange(len(rows)), test_size=0.3, stratify=y, random_state=0)
    model = LogisticRegression().fit(x[tr], y[tr])
    p_bad = model.predict_proba(x[te])[:, list(model.classes_).index("bad")]
    decision = np.where(p_bad >= 0.5, "bad", "good")
    test_rows = [rows[i] for i in te]
    (r,) = fairness_reports(parse_protected("age<25"), test_rows, y[te], decision, "good", score=p_bad).values()
    groups = np.array(parse_protected("age<25")[0].groups(test_rows))
    approved = (decision == "good").astype(int)
    assert r["adverse_impact_ratio"] == pytest.approx(
        demographic_parity_ratio(y[te] == "good", approved, sensitive_features=groups))
    assert sum(v["n"] for v in r["groups"].values()) == len(te)
    assert r["air_interval"][0] <= r["adverse_impact_ratio"] <= r["air_interval"][1]
    json.dumps(r)


def test_a_group_of_a_few_rows_is_shown_but_does_not_set_the_ratio():
    # German Credit's "male, divorced/separated" holds 3 of 140 validation rows: two approvals of three would become
    # the reference every other group is measured against
    g = np.array(["a"] * 60 + ["b"] * 60 + ["tiny"] * 3)
    y = np.array(["good"] * 123)
    d = np.array(["good"] * 30 + ["bad"] * 30 + ["good"] * 24 + ["bad"] * 36 + ["good"] * 3)
    r = fairness_report(y, d, g, favourable="good", n_boot=200)
    assert r["groups"]["tiny"]["n"] == 3 and r["groups"]["tiny"]["approval_rate"] == 1.0
    assert r["reference_group"] == "a" and r["lowest_group"] == "b" and r["not_compared"] == ["tiny"]
    assert r["adverse_impact_ratio"] == pytest.approx(0.4 / 0.5)
    assert "not compared (under 10 rows): tiny" in r["note"]
    both_small = fairness_report(["good"] * 6, ["good", "bad", "good", "good", "bad", "bad"], ["x"] * 3 + ["y"] * 3,
                                 favourable="good", n_boot=50)
    assert both_small["adverse_impact_ratio"] == pytest.approx(0.5) and both_small["not_compared"] == []


def test_the_threshold_sweep_compares_the_same_groups_as_the_report():
    # the chart's ratio at the chosen threshold is the report's adverse impact ratio, tiny group or not
    rng = np.random.default_rng(3)
    g = np.array(["a"] * 80 + ["b"] * 80 + ["tiny"] * 3)
    score = np.concatenate([rng.uniform(0, 0.6, 80), rng.uniform(0.2, 1.0, 80), [0.01, 0.02, 0.03]])
    adverse = rng.random(163) < score
    t = 0.5
    r = fairness_report(np.where(adverse, "bad", "good"), np.where(score >= t, "bad", "good"), g,
                        favourable="good", n_boot=0)
    [point] = [p for p in threshold_sweep(adverse, score, g, thresholds=[t])]
    assert r["not_compared"] == ["tiny"] and point["adverse_impact_ratio"] == pytest.approx(r["adverse_impact_ratio"])
