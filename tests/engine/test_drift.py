"""Population stability: PSI by hand, bins fixed at training time, shifted data, small samples, storage."""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from engine.data.values import numeric_columns
from engine.monitoring.drift import EPS, Bins, DriftReference, band, intent_mix, noise_psi, psi, rows_needed
from tests.conftest import SHARED_DATA

GERMAN = SHARED_DATA / "german_credit.csv"
needs_german = pytest.mark.skipif(not GERMAN.exists(), reason="shared data not present")


@pytest.fixture(scope="module")
def german():
    with GERMAN.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    columns = [c for c in rows[0] if c != "risk"]
    return rows, columns, set(numeric_columns(rows, columns))


def test_psi_by_hand():
    # expected [0.5, 0.5], actual [0.25, 0.75]:
    # (0.25 − 0.5)·ln(0.25/0.5) + (0.75 − 0.5)·ln(0.75/0.5) = 0.25·0.693147 + 0.25·0.405465 = 0.274653
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.274653, abs=1e-6)
    # an empty training bin counts as EPS = 1e-4: (0.1 − 1e-4)·ln(0.1/1e-4) + (0.4 − 0.5)·ln(0.4/0.5)
    # = 0.0999·6.907755 + 0.1·0.223144 = 0.690085 + 0.022314 = 0.712400; a bin empty on both sides adds 0
    assert psi([0.5, 0.5, 0.0, 0.0], [0.5, 0.4, 0.1, 0.0]) == pytest.approx(0.712400, abs=1e-6)
    assert EPS == 1e-4
    assert psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0
    assert [band(0.05), band(0.10), band(0.2499), band(0.25), band(None)] == \
        ["stable", "moderate", "moderate", "significant", None]


def test_numeric_bins_are_training_quantiles_with_open_ends_and_a_missing_bin():
    b = Bins.numeric([str(v) for v in range(1, 101)] + ["", "n/a"], bins=4)
    assert b.edges == [25, 50, 75] and b.size == 5                   # edges are observed values
    assert b.props == pytest.approx([24 / 102, 25 / 102, 25 / 102, 26 / 102, 2 / 102])
    assert list(b.index(["-1000", "30", "1e9", None, "x"])) == [0, 1, 3, 4, 4]   # out of range → the open ends
    assert [b.label(i) for i in range(5)] == ["<25", "25 to <50", "50 to <75", "≥75", "missing"]
    few = Bins.numeric(["1", "1", "2", "2", "2", "3"], bins=10)       # repeated quantiles collapse: one bin a value
    assert few.edges == [1, 2, 3] and few.props == pytest.approx([0, 2 / 6, 3 / 6, 1 / 6, 0])


def test_unseen_and_rare_categories_share_other_and_missing_is_counted():
    train = ["red"] * 60 + ["blue"] * 39 + ["teal"]                # teal is 1 % of 100: kept; rarer would be "other"
    b = Bins.categorical(train + [""] * 0)
    assert b.categories == ["red", "blue", "teal"]
    rare = Bins.categorical(["red"] * 150 + ["blue"] * 49 + ["teal"])   # 0.5 %: goes to other
    assert rare.categories == ["red", "blue"] and rare.props[2] == pytest.approx(1 / 200)
    rows = [{"color": c, "x": x} for c, x in zip(train, range(100))]
    ref = DriftReference.fit(rows, ["color", "x"], {"x"})
    new = [{"color": "green", "x": ""}] * 30 + [{"color": "", "x": "5"}] * 10 + rows[:36] + rows[60:84]
    out = ref.compare(new)
    colors = ref.bins["color"].shares([r["color"] for r in new])
    assert colors[ref.bins["color"].size - 2] == pytest.approx(30 / 100)    # "other": the unseen green
    assert colors[-1] == pytest.approx(10 / 100)                            # missing
    assert out["bands"] == {"color": "significant", "x": "significant"}
    assert out["changes"]["color"]["bin"] == "other" and out["changes"]["x"]["bin"] == "missing"


def test_identical_rows_and_scores_give_zero():
    rng = np.random.default_rng(0)
    rows = [{"a": f"{x:.3f}", "b": rng.choice(["p", "q", "r"])} for x in rng.normal(size=500)]
    scores = rng.random(500)
    ref = DriftReference.fit(rows, ["a", "b"], {"a"}, scores=scores)
    out = ref.compare(rows, scores=scores)
    assert out["columns"] == {"a": 0.0, "b": 0.0} and out["score_psi"] == 0.0
    assert out["flagged"] == [] and out["score_band"] == "stable" and out["caution"] is None
    # a fresh sample from the same distribution stays stable
    again = [{"a": f"{x:.3f}", "b": rng.choice(["p", "q", "r"])} for x in rng.normal(size=2000)]
    out = ref.compare(again, scores=rng.random(2000))
    assert set(out["bands"].values()) == {"stable"} and out["score_band"] == "stable"


@needs_german
def test_german_credit_shifted_duration_and_swapped_category(german):
    rows, columns, numeric = german
    ref = DriftReference.fit(rows, columns, numeric)
    longer = [dict(r, duration_months=str(int(r["duration_months"]) * 2)) for r in rows]
    out = ref.compare(longer)
    assert out["bands"]["duration_months"] == "significant" and out["flagged"] == ["duration_months"]
    assert all(b == "stable" for c, b in out["bands"].items() if c != "duration_months")
    assert out["caution"] is None and out["rows"] == len(rows)
    swap = {"male, single": "female, divorced/separated/married", "female, divorced/separated/married": "male, single"}
    swapped = [dict(r, personal_status_sex=swap.get(r["personal_status_sex"], r["personal_status_sex"])) for r in rows]
    out = ref.compare(swapped)
    assert out["flagged"] == ["personal_status_sex"]
    dropped = [{k: v for k, v in r.items() if k != "telephone"} for r in rows]
    assert ref.compare(dropped)["absent_columns"] == ["telephone"]


@needs_german
def test_round_trip_through_json(german):
    rows, columns, numeric = german
    scores = np.linspace(0, 1, len(rows))
    ref = DriftReference.fit(rows[:500], columns, numeric, scores=scores[:500])
    back = DriftReference.from_dict(json.loads(json.dumps(ref.to_dict())))
    assert back == ref
    assert back.compare(rows[500:], scores[500:]) == ref.compare(rows[500:], scores[500:])


def test_no_drift_psi_over_reads_small_samples():
    # 10 equal bins (a score), reference of 700 rows, no drift at all: the 95th percentile of PSI
    even = [0.1] * 10
    assert noise_psi(even, 700, 50) > 0.25          # a small sample alone reaches "significant"
    assert noise_psi(even, 700, 100) > 0.10
    assert noise_psi(even, 700, 1000) < 0.05
    need = rows_needed(even, 700)
    assert 150 < need < 400 and noise_psi(even, 700, need) < 0.10 <= noise_psi(even, 700, need - 20)
    assert rows_needed(even, 30) is None               # a reference this small cannot settle below 0.10


def test_small_samples_carry_a_caution():
    rng = np.random.default_rng(1)
    rows = [{"x": f"{v:.4f}"} for v in rng.normal(size=1000)]
    ref = DriftReference.fit(rows, ["x"], {"x"})
    few = ref.compare(rows[:40])
    assert few["caution"].startswith("only 40 rows: below about ") and few["noise_psi"] > 0.10
    assert ref.compare(rows[: ref.min_rows + 50])["caution"] is None
    assert ref.compare([])["caution"] == "no rows to compare"
    tiny = DriftReference.fit(rows[:20], ["x"], {"x"})
    assert tiny.min_rows is None and "only 20 rows" in tiny.compare(rows)["caution"]


def test_intent_mix():
    ref = {"card_lost": 50, "balance": 30, "transfer": 20}
    same = intent_mix(ref, ["card_lost"] * 500 + ["balance"] * 300 + ["transfer"] * 200)
    assert same["psi"] == pytest.approx(0.0) and same["band"] == "stable" and same["caution"] is None
    # 60 % card_lost, 20 % balance, 0 % transfer, 20 % unseen "refund" (the "other" bin, 0 in the reference)
    recent = ["card_lost"] * 60 + ["balance"] * 20 + ["refund"] * 20
    out = intent_mix(ref, recent)
    expect = sum((a - e) * math.log(max(a, EPS) / max(e, EPS))
                 for e, a in [(0.5, 0.6), (0.3, 0.2), (0.2, EPS), (EPS, 0.2)])
    assert out["psi"] == pytest.approx(expect) and out["band"] == "significant"
    assert [c["label"] for c in out["top_changes"][:2]] in (["transfer", "other"], ["other", "transfer"])
    first = out["top_changes"][0]
    assert first["change"] == pytest.approx(-0.2 if first["label"] == "transfer" else 0.2)
    assert out["caution"] and "only 100 recent questions" in out["caution"]
    json.dumps(out)
