"""Per-column occlusion for any model that scores rows, the exact log-odds of the column-features head, and the
log-odds → probability rule (engine/explain/occlusion.py, units.py)."""
from __future__ import annotations

import numpy as np
import pytest

from engine.data.serialize import serialize_row
from engine.explain import (column_logits, feature_slots, finetuned_predictor, linear_feature_attributions,
                            occlusion_attributions, probability_attributions)
from engine.explain.units import secant_slope, sigmoid
from engine.features import ColumnFeatures

COLUMNS = ["amount", "purpose", "housing"]
TYPICAL = {"amount": "1000", "purpose": "tv", "housing": ""}


def _additive(rows):
    """A known model: amount per 1,000 and a car each add 0.1; housing is read but has no effect."""
    return np.asarray([0.1 * float(r.get("amount", 1000)) / 1000 + (0.1 if r.get("purpose") == "car" else 0.0)
                       for r in rows])


def test_occlusion_is_the_drop_to_the_typical_value_in_one_call():
    calls = []

    def predict(rows):
        calls.append(list(rows))
        return _additive(rows)
    rows = [{"amount": "3000", "purpose": "car", "housing": "own"}] * 5 + [{"amount": "1000", "purpose": "tv"}]
    a, p = occlusion_attributions(predict, rows, COLUMNS, TYPICAL, with_scores=True)
    assert len(calls) == 1
    # distinct rows only: the two originals, and for the first one amount→1000, purpose→tv, housing removed
    # (the second already holds every typical value)
    assert len(calls[0]) == 5
    np.testing.assert_allclose(a[0], [0.2, 0.1, 0.0])
    np.testing.assert_allclose(a[5], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(p, _additive(rows))
    assert {"amount": "3000", "purpose": "car"} in calls[0]            # a blank typical value removes the column


def test_occlusion_key_scores_rows_that_read_the_same_once():
    seen = []

    def predict(rows):
        seen.extend(rows)
        return np.asarray([0.5 if r.get("purpose") == "car" else 0.2 for r in rows])
    rows = [{"amount": str(a), "purpose": "car"} for a in range(1000, 1010)]
    a = occlusion_attributions(predict, rows, ["purpose"], TYPICAL, key=lambda r: r.get("purpose"))
    assert len(seen) == 2 and np.allclose(a, 0.3)


def test_occlusion_names_what_is_missing():
    with pytest.raises(ValueError, match="no typical value"):
        occlusion_attributions(_additive, [{}], ["amount", "age"], {"amount": "1"})
    with pytest.raises(ValueError, match="returned 1 scores for 2 rows"):
        occlusion_attributions(lambda rows: np.zeros(1), [{"amount": "5"}], ["amount"], TYPICAL)


def _texts(n, seed):
    rng = np.random.default_rng(seed)
    return [serialize_row({"amount": str(int(rng.integers(100, 20000))),
                           "purpose": str(rng.choice(["car", "tv", "education"])),
                           "housing": str(rng.choice(["own", "rent"])) if rng.random() < 0.8 else ""}, COLUMNS)
            for _ in range(n)]


def test_linear_feature_attributions_are_exact_and_merge_one_hot_pieces():
    train, ref, texts = _texts(200, 0), _texts(50, 1), _texts(20, 2)
    features = ColumnFeatures.fit(train, COLUMNS)
    slots = dict(feature_slots(features))
    assert slots["amount"].stop - slots["amount"].start == 1 and slots["purpose"].stop - slots["purpose"].start == 3
    w = np.random.default_rng(3).normal(size=features.dim)
    a = linear_feature_attributions(features, w, texts, ref)
    F, F_ref = features.transform(texts).astype(np.float64), features.transform(ref).astype(np.float64)
    np.testing.assert_allclose(a.sum(1), (F - F_ref.mean(0)) @ w, atol=1e-9)        # the head's log-odds
    s = slots["purpose"]
    np.testing.assert_allclose(a[:, 1], (F[:, s] - F_ref[:, s].mean(0)) @ w[s], atol=1e-9)
    with pytest.raises(ValueError, match="weight_diff has 2 entries"):
        column_logits(features, np.zeros(2), texts)


def test_probability_rule_sums_to_the_probability_difference_and_keeps_signs():
    rng = np.random.default_rng(0)
    g_x, g_ref = rng.normal(size=(40, 5)), rng.normal(size=(30, 5))
    b = 0.3
    f_x, f_ref = g_x.sum(1) + b, g_ref.sum(1) + b
    a = probability_attributions(g_x, g_ref, f_x, f_ref)
    np.testing.assert_allclose(a.sum(1), sigmoid(f_x) - sigmoid(f_ref).mean(), atol=1e-12)
    # one reference row: every column keeps its log-odds sign
    one = probability_attributions(g_x, g_ref[:1], f_x, f_ref[:1])
    d = g_x - g_ref[:1]
    assert np.all(np.sign(one[np.abs(d) > 1e-9]) == np.sign(d[np.abs(d) > 1e-9]))
    assert secant_slope(np.array([0.0]), np.array([0.0]))[0] == pytest.approx(0.25)


def test_finetuned_predictor_reads_each_encoder_text_once():
    train = _texts(200, 0)
    features = ColumnFeatures.fit(train, COLUMNS)
    w = np.random.default_rng(4).normal(size=features.dim)
    read = []

    def text_log_odds(texts):
        read.extend(texts)
        return np.asarray([0.5 if "car" in t else -0.5 for t in texts])
    predict = finetuned_predictor(text_log_odds, features, w, COLUMNS, mode="categories")
    rows = [{"amount": str(a), "purpose": "car", "housing": "own"} for a in (500, 900, 15000)]
    a, p = occlusion_attributions(predict, rows, COLUMNS, {"amount": "1000", "purpose": "tv", "housing": "rent"},
                                  with_scores=True)
    # the encoder reads only the categories: 3 distinct texts for 3 rows × 4 versions each
    assert sorted(read) == ["purpose: car; housing: own", "purpose: car; housing: rent", "purpose: tv; housing: own"]
    texts = [serialize_row(r, COLUMNS) for r in rows]
    expected = 1 / (1 + np.exp(-(0.5 + features.transform(texts).astype(np.float64) @ w)))
    np.testing.assert_allclose(p, expected, atol=1e-12)
    assert a.shape == (3, 3) and not np.allclose(a[:, 0], 0)            # amount moves the linear part only
