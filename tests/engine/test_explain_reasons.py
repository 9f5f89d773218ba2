"""Reasons in plain words (engine/explain/reasons.py): which columns, in which order, how they are said."""
from __future__ import annotations

import numpy as np
import pytest

from engine.explain import Reference, reason_columns, reasons

COLUMNS = ["duration_months", "checking_account", "age", "purpose"]


@pytest.fixture(scope="module")
def ref():
    rows, labels = [], []
    for i in range(200):
        bad = i % 10 < 3                                       # 30 % bad
        rows.append({"duration_months": str(6 + i % 40 + (12 if bad else 0)),
                     "checking_account": "< 0 DM" if (bad and i % 2) or i % 7 == 0 else "no account",
                     "age": str(20 + i % 50), "purpose": "car"})
        if i % 25 == 0:
            rows[-1].pop("age")
        labels.append("bad" if bad else "good")
    return Reference.fit(rows, labels, COLUMNS, ["duration_months", "age"], "good")


def test_only_columns_pushing_towards_the_adverse_outcome_strongest_first(ref):
    a = np.array([0.05, 0.20, -0.10, 0.01])
    row = {"duration_months": "70", "checking_account": "< 0 DM", "age": "30", "purpose": "car"}
    out = reasons(a, row, ref)
    assert [r.split(":")[0] for r in out] == ["checking_account", "duration_months", "purpose"]
    assert out[1] == "duration_months: 70 — higher than 100 % of rows labelled good"
    share = ref.adverse_share(ref.value_counts("checking_account", "< 0 DM"))
    assert out[0] == (f"checking_account: < 0 DM — {round(100 * share)} % of "
                      f"{sum(ref.value_counts('checking_account', '< 0 DM').values())} rows with this value are "
                      "labelled bad (30 % overall)")


def test_at_most_four_and_never_none_for_an_adverse_decision(ref):
    assert reason_columns(np.array([0.3, 0.2, 0.1, 0.05, 0.4])[:4], k=4) == [0, 1, 2, 3]
    assert len(reason_columns(np.full(9, 0.1), k=4)) == 4
    # nothing pushes above the reference (the threshold sits below its mean score): the least favourable column
    row = {"duration_months": "6", "checking_account": "no account", "age": "30", "purpose": "car"}
    out = reasons(np.array([-0.2, -0.01, -0.3, -0.05]), row, ref)
    assert len(out) == 1 and out[0].startswith("checking_account: no account — ")
    assert reasons(np.array([-0.2, -0.01, -0.3, -0.05]), row, ref, minimum=0) == []
    assert reason_columns(np.array([np.nan, 0.1, 0.1, 0.0])) == [1, 2]               # ties: column order


def test_lower_middle_blank_and_unseen_values(ref):
    row = {"duration_months": "6", "checking_account": "new kind", "purpose": "car"}
    a = np.array([0.3, 0.2, 0.1, 0.0])
    low, unseen, blank = reasons(a, row, ref, minimum=0)
    assert low.startswith("duration_months: 6 — lower than ") and low.endswith("% of rows labelled good")
    assert unseen == "checking_account: new kind — not seen in the training rows"
    assert blank.startswith("age: blank — ") and "rows with it blank are labelled bad (30 % overall)" in blank
    typical = ref.typical["duration_months"]
    mid = reasons(np.array([0.1, 0, 0, 0]), {"duration_months": typical}, ref)[0]
    assert mid == f"duration_months: {typical} — near the middle of rows labelled good (typical {typical})"


def test_values_are_shown_plain(ref):
    row = {"checking_account": "=HYPERLINK(\"http://x\")\n\t" + "z" * 80}
    out = reasons(np.array([0, 0.5, 0, 0]), row, ref)[0]
    assert "\n" not in out and "\t" not in out
    value = out.split(": ", 1)[1].split(" — ")[0]
    assert len(value) <= 60 and value.endswith("…")
    assert out.startswith("checking_account: ")                   # the cell starts with the column, not the value


def test_same_input_same_words(ref):
    a = np.array([0.05, 0.20, 0.0, 0.01])
    row = {"duration_months": "30", "checking_account": "< 0 DM"}
    assert reasons(a, row, ref) == reasons(a.copy(), dict(row), ref)
