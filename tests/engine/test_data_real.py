"""Real public data (BANKING77, German Credit) and the project's own shipped samples."""
from __future__ import annotations

import csv
from collections import Counter, defaultdict

import pytest

from engine.data import prepare_dataset, sample_path, serialize_row
from engine.data.split import text_key
from engine.errors import DatasetError, NotFound
from tests.conftest import SHARED_DATA

BANKING77 = SHARED_DATA / "banking77" / "train.csv"
GERMAN = SHARED_DATA / "german_credit.csv"
TAIWAN = SHARED_DATA / "taiwan_credit" / "train.csv"
needs_shared = pytest.mark.skipif(not BANKING77.exists() or not GERMAN.exists(), reason="shared data not present")
needs_taiwan = pytest.mark.skipif(not TAIWAN.exists(), reason="shared data not present")


@pytest.fixture(scope="module")
def banking77():
    return prepare_dataset(BANKING77)          # registers as it is: its 4 repeated texts are dropped with a warning


@needs_shared
def test_banking77_detection_and_split(banking77):
    d = banking77
    assert (d.kind, d.text_column, d.label_column, d.format) == ("text", "text", "category", "csv")
    assert len(d.labels) == 77 and d.rows == 10_003 - 4
    assert d.split["train"] + d.split["validation"] == d.rows
    assert abs(d.split["validation"] - 0.2 * d.rows) <= 77
    val = Counter(e.label for e in d.validation)
    for lab, n in d.label_counts.items():             # stratified: each intent ~20 % in validation
        assert abs(val[lab] - 0.2 * n) <= 1.5, lab
    assert not {text_key(e.text) for e in d.train} & {text_key(e.text) for e in d.validation}
    (w,) = [w for w in d.warnings if "duplicate" in w]
    assert w.startswith("dropped 4 duplicate rows (rows ") and "keeping the first copy of each (rows " in w
    assert d.pii["counts"] == {}                      # real customer texts: nothing looks like PII


# Behaviour change: BANKING77's own train.csv used to be refused for its 4 repeated texts (all with one label).
@needs_shared
def test_banking77_with_dedupe_is_the_same():
    d = prepare_dataset(BANKING77, dedupe=True)
    assert d.rows == 10_003 - 4 and any("dropped 4 duplicate rows" in w for w in d.warnings)


@needs_taiwan
def test_taiwan_credit_registers_with_its_repeated_rows_kept(tmp_path):
    from engine.data import load_dataset, save_dataset
    d = prepare_dataset(TAIWAN, label_column="default_next_month")
    assert d.kind == "tabular" and d.rows == 21_001           # identical rows are observations: all kept
    (w,) = [w for w in d.warnings if "repeat another row" in w]
    assert "with different outcomes" in w and "each group stays on one side" in w
    train = {e.text for e in d.train}
    assert not train & {e.text for e in d.validation}         # no identical row on both sides
    counts = Counter(e.text for e in d.train + d.validation)
    assert sum(n - 1 for n in counts.values()) == 30
    assert d.pii["counts"] == {}
    save_dataset(d, TAIWAN, tmp_path / "taiwan")
    assert load_dataset(tmp_path / "taiwan").rows == 21_001


@needs_shared
def test_german_credit_is_tabular():
    d = prepare_dataset(GERMAN)
    assert (d.kind, d.label_column, d.text_column) == ("tabular", "risk", None)
    assert len(d.feature_columns) == 20 and d.feature_columns[0] == "checking_account"
    assert d.labels == ["bad", "good"] and d.label_counts == {"bad": 210, "good": 490}
    assert d.split == {"train": 560, "validation": 140, "seed": 42, "fraction": 0.2}
    assert Counter(e.label for e in d.validation) == {"good": 98, "bad": 42}
    with open(GERMAN, encoding="utf-8", newline="") as f:
        first = next(csv.DictReader(f))
    assert serialize_row(first, d.feature_columns).startswith(
        "checking_account: 0 to 200 DM; duration_months: 60; credit_history: delay in paying off in the past;")
    assert all(ex.text.count(": ") == 20 for ex in d.train[:20])
    assert len(d.raw_train) == 560 and "risk" not in d.raw_train[0]


def test_banking_sample_passes_and_meets_counts():
    p = sample_path("banking")
    d = prepare_dataset(p)
    assert d.warnings == [] and d.pii["counts"] == {}
    assert len(d.labels) >= 12
    assert min(d.label_counts.values()) >= 25
    assert set(d.answers) == set(d.labels) and all(len(a) > 40 for a in d.answers.values())
    for required in ("card_arrival", "lost_card", "exchange_rate", "transfer_pending", "top_up_failed",
                     "pin_blocked", "card_declined", "refund_request", "change_address", "account_fees",
                     "direct_debit", "cash_withdrawal_fee"):
        assert required in d.labels
    # Varied phrasings: most texts of an intent share no 6-word prefix with another.
    by_label = defaultdict(set)
    for e in d.train + d.validation:
        by_label[e.label].add(" ".join(e.text.lower().split()[:6]))
    assert all(len(v) >= 20 for v in by_label.values())


def test_banking_generator_reproduces_committed_file(tmp_path):
    from engine.sample_data import generate_banking
    out = generate_banking.write(tmp_path / "b.csv")
    assert out.read_bytes() == sample_path("banking").read_bytes()


def test_credit_sample_passes_and_follows_rule(tmp_path):
    d = prepare_dataset(sample_path("credit"))
    assert d.kind == "tabular" and d.label_column == "risk" and d.rows == 400
    assert d.feature_columns == ["checking_account", "duration_months", "credit_amount", "age", "purpose",
                                 "savings", "employment_since", "housing"]
    bad = d.label_counts["bad"] / d.rows
    assert 0.25 <= bad <= 0.35
    from engine.sample_data import generate_credit
    assert generate_credit.write(tmp_path / "c.csv").read_bytes() == sample_path("credit").read_bytes()
    # The rule carries signal: a negative checking balance is riskier than none.
    raw = d.raw_train + d.raw_validation
    labels = [e.label for e in d.train + d.validation]
    rate = {k: sum(lab == "bad" for r, lab in zip(raw, labels) if r["checking_account"] == k) /
            max(1, sum(r["checking_account"] == k for r in raw)) for k in ("none", "below 0 EUR")}
    assert rate["below 0 EUR"] > rate["none"] + 0.15


def test_unknown_sample():
    with pytest.raises(NotFound, match="banking, credit"):
        sample_path("mortgages")
