"""The reference population (engine/explain/reference.py): percentiles, label rates, typical favourable values, a
seeded stratified sample whose every prefix is stratified, and a JSON round trip."""
from __future__ import annotations

import json

import numpy as np
import pytest

from engine.explain import Reference

COLUMNS = ["amount", "purpose", "note"]


def _rows():
    rows, labels = [], []
    for i in range(300):
        bad = i % 3 == 0                                   # a third labelled bad
        row = {"amount": str(1000 + 10 * i + (2000 if bad else 0)), "purpose": "car" if bad and i % 2 else "tv"}
        if i % 50 == 0:
            row.pop("amount")                              # some blanks
        rows.append(row)
        labels.append("bad" if bad else "good")
    return rows, labels


@pytest.fixture(scope="module")
def ref():
    rows, labels = _rows()
    return Reference.fit(rows, labels, COLUMNS, ["amount"], "good", sample_size=30, seed=0)


def test_percentiles_rates_and_typical_values(ref):
    good_amounts = sorted(1000 + 10 * i for i in range(300) if i % 3 and i % 50)
    assert ref.quantiles["amount"]["favourable"][0] == good_amounts[0]
    assert ref.quantiles["amount"]["favourable"][100] == good_amounts[-1]
    assert ref.typical["amount"] in {str(v) for v in good_amounts}                 # an observed value
    assert ref.percent_below("amount", 10 ** 6) == 100 and ref.percent_above("amount", 0) == 100
    assert ref.percent_below("amount", 0) == 0
    below = ref.percent_below("amount", 2000)
    assert abs(below - 100 * np.mean(np.asarray(good_amounts) < 2000)) <= 1
    assert ref.quantiles["amount"]["blank"] == {"bad": 2, "good": 4}
    assert ref.value_counts("purpose", "car") == {"bad": 50}
    assert ref.adverse == "bad" and ref.adverse_share() == pytest.approx(1 / 3)
    assert ref.typical["purpose"] == "tv"
    assert ref.typical["note"] == "" and ref.categories["note"] == {"": {"bad": 100, "good": 200}}


def test_sample_is_seeded_stratified_and_every_prefix_too(ref):
    rows, labels = _rows()
    again = Reference.fit(rows, labels, COLUMNS, ["amount"], "good", sample_size=30, seed=0)
    assert again.sample == ref.sample and again.sample_labels == ref.sample_labels
    assert len(ref.sample) == 30 and ref.sample_labels.count("bad") == 10
    for k in (3, 6, 9, 15):
        assert abs(ref.sample_labels[:k].count("bad") - k / 3) <= 1
    other = Reference.fit(rows, labels, COLUMNS, ["amount"], "good", sample_size=30, seed=1)
    assert other.sample != ref.sample
    assert len(ref.sample_rows("good")) == 20


def test_json_round_trip_and_version(ref):
    d = json.loads(json.dumps(ref.to_dict()))
    back = Reference.from_dict(d)
    assert back.to_dict() == ref.to_dict()
    with pytest.raises(ValueError, match="refit"):
        Reference.from_dict({**d, "version": 99})


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="favourable label 'ok'"):
        Reference.fit([{"a": "1"}], ["good"], ["a"], ["a"], "ok")
    with pytest.raises(ValueError, match="2 rows but 1 labels"):
        Reference.fit([{"a": "1"}, {"a": "2"}], ["good"], ["a"], ["a"], "good")
