"""The smallest single change that flips a decision (engine/explain/counterfactual.py), on planted models whose
answer is known."""
from __future__ import annotations

import numpy as np
import pytest

from engine.explain import Reference, no_flip_words, smallest_flip

COLUMNS = ["income", "debts", "housing", "branch"]


@pytest.fixture(scope="module")
def ref():
    rng = np.random.default_rng(0)
    rows, labels = [], []
    for i in range(400):
        rows.append({"income": str(int(rng.integers(10, 110)) * 100), "debts": str(int(rng.integers(0, 20))),
                     "housing": str(rng.choice(["own", "rent", "free"], p=[0.5, 0.3, 0.2])),
                     "branch": str(rng.choice(["north", "south"]))})
        labels.append("bad" if i % 4 == 0 else "good")
    return Reference.fit(rows, labels, COLUMNS, ["income", "debts"], "good")


def planted(rows):
    """Declined (0.9) below an income of 6,000 unless the applicant owns the home, (0.6) with more than 15 debts."""
    out = []
    for r in rows:
        p = 0.9 if float(r.get("income", 0)) < 6000 and r.get("housing") != "own" else 0.1
        out.append(max(p, 0.6 if float(r.get("debts", 0)) > 15 else 0.0))
    return np.asarray(out)


def test_the_nearest_training_value_past_the_planted_threshold(ref):
    calls = []

    def predict(rows):
        calls.append(len(rows))
        return planted(rows)
    row = {"income": "5600", "debts": "3", "housing": "rent", "branch": "north"}
    flip = smallest_flip(predict, row, ["income", "debts", "branch"], ref, threshold=0.5)
    grid = sorted(set(ref.quantiles["income"]["all"]))
    assert flip["column"] == "income" and flip["from"] == "5600"
    assert float(flip["to"]) == min(v for v in grid if v >= 6000)        # the smallest training value that flips
    assert flip["probability_before"] == 0.9 and flip["probability_after"] == 0.1
    assert flip["change_words"].startswith("income: 5600 → ")
    assert "below the threshold 0.50" in flip["change_words"]
    assert len(calls) == 3                                    # the row, the coarse pass, the fine pass


def test_a_category_can_be_the_smallest_change(ref):
    row = {"income": "1000", "debts": "3", "housing": "rent", "branch": "north"}
    flip = smallest_flip(planted, row, COLUMNS, ref, threshold=0.5)
    # income would have to cross most of the training rows; "own" is held by half of them
    assert flip["column"] == "housing" and flip["to"] == "own"
    assert "training rows hold" in flip["change_words"]


def test_none_when_no_single_change_flips_it(ref):
    row = {"income": "1000", "debts": "19", "housing": "rent", "branch": "north"}
    assert smallest_flip(planted, row, ["income", "housing", "branch"], ref, threshold=0.5) is None
    assert no_flip_words(ref, 0.5) == ("No change to a single column, within the values the training rows hold, "
                                       "brings the probability of bad below 0.50.")


def test_a_favourable_decision_flips_the_other_way_and_stays_in_range(ref):
    row = {"income": "9000", "debts": "3", "housing": "own", "branch": "north"}
    flip = smallest_flip(planted, row, ["debts"], ref, threshold=0.5)
    assert flip["column"] == "debts" and float(flip["to"]) == 16.0
    assert float(flip["to"]) <= ref.quantiles["debts"]["max"]
    assert "to or above the threshold" in flip["change_words"]


def test_same_input_same_answer(ref):
    row = {"income": "5600", "debts": "3", "housing": "rent", "branch": "north"}
    assert smallest_flip(planted, row, COLUMNS, ref, 0.5) == smallest_flip(planted, dict(row), COLUMNS, ref, 0.5)


def test_a_category_few_training_rows_hold_is_not_proposed():
    rows = [{"income": "5000", "housing": "rent" if i % 2 else "own"} for i in range(300)]
    rows[:2] = [{"income": "5000", "housing": "castle"}] * 2                  # 2 of 300 rows: under 1 %
    ref = Reference.fit(rows, ["good"] * 250 + ["bad"] * 50, ["income", "housing"], ["income"], "good")

    def predict(batch):
        return np.asarray([0.1 if r.get("housing") == "castle" else 0.9 for r in batch])
    assert smallest_flip(predict, {"income": "5000", "housing": "rent"}, ["housing"], ref, 0.5) is None
