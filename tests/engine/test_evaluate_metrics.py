"""Pure evaluation pieces: metrics against scikit-learn, two-class extras and thresholds on hand-computed cases."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from engine.evaluation.costs import CostMatrix, best_threshold, cost_report, expected_cost
from engine.metrics import binary_scores, ks_statistic, metrics, positive_label
from engine.evaluation.thresholds import answer_threshold

LABELS = ["balance", "card_lost", "transfer"]
Y_TRUE = ["balance", "balance", "card_lost", "transfer", "transfer", "transfer", "card_lost"]
Y_PRED = ["balance", "transfer", "card_lost", "transfer", "balance", "transfer", "transfer"]


def test_metrics_equal_sklearn():
    m = metrics(Y_TRUE, Y_PRED, LABELS)
    assert m["accuracy"] == pytest.approx(accuracy_score(Y_TRUE, Y_PRED)) == pytest.approx(4 / 7)
    assert m["macro_f1"] == pytest.approx(f1_score(Y_TRUE, Y_PRED, average="macro"))
    p, r, f, s = precision_recall_fscore_support(Y_TRUE, Y_PRED, labels=LABELS)
    for i, lab in enumerate(LABELS):
        assert m["per_class"][lab] == pytest.approx({"precision": p[i], "recall": r[i], "f1": f[i], "support": s[i]})
    assert m["confusion"] == confusion_matrix(Y_TRUE, Y_PRED, labels=LABELS).tolist()
    assert m["confusion"][0] == [1, 0, 1]        # rows are true labels
    assert m["labels"] == LABELS


def test_metrics_label_absent_from_predictions_counts_zero():
    m = metrics(["a", "b"], ["a", "a"], ["a", "b", "c"])
    assert m["per_class"]["b"]["f1"] == 0.0 and m["per_class"]["c"]["support"] == 0


# Hand-computed: 3 bad (positive), 3 good. Ranking pos 0.9, 0.8 | neg 0.6 | pos 0.4 | neg 0.35, 0.1.
IS_POS = np.array([1, 1, 0, 0, 1, 0], dtype=bool)
SCORE = np.array([0.9, 0.4, 0.35, 0.1, 0.8, 0.6])


def test_auc_and_ks_hand_computed():
    # AUC: of the 9 (pos, neg) pairs, 8 are ordered correctly (0.4 < 0.6 is the one miss).
    # KS: TPR − FPR peaks at 2/3 (after 0.8: 2/3 − 0; after 0.4: 1 − 1/3).
    assert binary_scores(IS_POS, SCORE) == pytest.approx({"roc_auc": 8 / 9, "ks": 2 / 3})
    assert ks_statistic(IS_POS, SCORE) == pytest.approx(2 / 3)
    assert binary_scores([True, True], [0.1, 0.2]) == {"roc_auc": None, "ks": None}


def test_metrics_binary_extras_use_the_bad_label():
    y = np.where(IS_POS, "bad", "good")
    proba = np.c_[SCORE, 1 - SCORE]                      # columns in label order: bad, good
    m = metrics(y, np.where(SCORE >= 0.5, "bad", "good"), ["bad", "good"], proba=proba)
    assert m["positive_label"] == "bad"
    assert m["roc_auc"] == pytest.approx(8 / 9) and m["ks"] == pytest.approx(2 / 3)


def test_expected_cost_german_credit_matrix():
    # Cutting at 0.5 → one bad accepted (0.4: cost 5) and one good rejected (0.6: cost 1) over 6 applicants.
    assert expected_cost(IS_POS, SCORE >= 0.5) == pytest.approx(6 / 6)
    assert expected_cost(IS_POS, np.zeros(6, bool)) == pytest.approx(15 / 6)         # accept everyone
    assert expected_cost(IS_POS, np.ones(6, bool)) == pytest.approx(3 / 6)           # reject everyone
    assert expected_cost(IS_POS, SCORE >= 0.5, CostMatrix(fn=1, fp=1)) == pytest.approx(2 / 6)


def test_cost_minimising_threshold_hand_computed():
    # Costs per cut: <0.1: 3/6 · 0.1–0.35: 2/6 · 0.35–0.4: 1/6 · 0.4–0.6: 6/6 · 0.6–0.8: 5/6 · … → cut between 0.35 and 0.4.
    t, cost = best_threshold(IS_POS, SCORE)
    assert 0.35 < t <= 0.4 and t == pytest.approx(0.375)
    assert cost == pytest.approx(1 / 6)
    rep = cost_report(IS_POS, SCORE)
    assert rep["expected_cost"] == pytest.approx(1 / 6) and rep["expected_cost_at_0.5"] == pytest.approx(1.0)
    # Symmetric costs: cuts 0.35–0.4 (one false alarm) and 0.6–0.8 (one miss) tie at 1/6; the one nearer the
    # Bayes threshold 0.5 wins (0.375 is 0.125 away, 0.7 is 0.2 away).
    t_sym, c_sym = best_threshold(IS_POS, SCORE, CostMatrix(fn=1, fp=1))
    assert c_sym == pytest.approx(1 / 6) and t_sym == pytest.approx(0.375)
    # Cheap misses (fn=1, fp=5) move the cut up: only the 0.6–0.8 cut (one miss, no false alarm) costs 1/6.
    t_up, c_up = best_threshold(IS_POS, SCORE, CostMatrix(fn=1, fp=5))
    assert t_up == pytest.approx(0.7) and c_up == pytest.approx(1 / 6)
    # A stored threshold is applied as is, not re-chosen.
    assert cost_report(IS_POS, SCORE, threshold=0.5)["expected_cost"] == pytest.approx(1.0)


def test_positive_label_detection():
    assert positive_label(["bad", "good"]) == "bad"
    assert positive_label(["Good", "Bad"]) == "Bad"
    assert positive_label(["approved", "rejected"], {"approved": 70, "rejected": 30}) == "rejected"
    assert positive_label(["paid", "default"]) == "default"


def test_answer_threshold_smallest_with_target_accuracy():
    conf = [0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]
    ok = [1, 1, 1, 1, 1, 0, 1, 0]
    r = answer_threshold(conf, ok)       # top-5 all right; adding 0.5 drops answered accuracy to 5/6 < 0.9
    assert r["threshold"] == pytest.approx(0.6) and r["coverage"] == pytest.approx(5 / 8)
    assert r["answered_accuracy"] == 1.0


def test_answer_threshold_clamped_and_ties():
    conf = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.25, 0.1]
    ok = [1, 1, 1, 1, 1, 0, 1, 1, 1, 1]            # answering everything is 90 % right → t = 0.1, clamped to 0.2
    r = answer_threshold(conf, ok)
    assert r["threshold"] == pytest.approx(0.2) and r["coverage"] == pytest.approx(0.9)
    assert answer_threshold([0.5, 0.4], [0, 0])["threshold"] == pytest.approx(0.9)   # never good enough → max
    # Tied confidences are answered together: 0.8, 0.8 with one wrong gives 2/3 at that cut, so t stays 0.9.
    assert answer_threshold([0.9, 0.8, 0.8], [1, 1, 0])["threshold"] == pytest.approx(0.9)


def test_forgetting_figures_on_hand_made_embeddings():
    from engine.evaluation.forgetting import drift, forgetting, neighbour_overlap

    rng = np.random.default_rng(0)
    e = rng.normal(size=(20, 8))
    assert drift(e, e) == pytest.approx(0.0, abs=1e-12) and neighbour_overlap(e, e) == 1.0
    assert drift(2 * e, e) == pytest.approx(0.0, abs=1e-12)              # scale does not count as drift
    assert drift(-e, e) == pytest.approx(2.0)
    assert drift(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])) == pytest.approx(1.0)
    shuffled = e[rng.permutation(20)]
    assert neighbour_overlap(shuffled, e) < 0.6
    out = forgetting([f"t{i}" for i in range(20)], lambda t: e[: len(t)], lambda t: e[: len(t)] + 0.01, max_texts=10)
    assert out["texts"] == 10 and 0 <= out["drift"] < 1e-3
