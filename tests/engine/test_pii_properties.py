"""Property tests of redaction: whatever the digit script, separators, grouping or invisible characters, nothing of a
card number, IBAN, e-mail address or phone number survives `redact_question`, nor a registered dataset's files.
Generators: tests/fixtures/pii_strategies.py (deterministic profile, PROPERTY_SETTINGS)."""
from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.data import prepare_dataset, save_dataset
from engine.data.pii import redact, redact_question
from tests.fixtures.pii_strategies import (PROPERTY_SETTINGS, cards, digits_in, emails, ibans, in_text, phones,
                                           planted, spanish_iban_bad_national_check, survives, words)

ALL = ("card", "iban", "email", "phone")


def _redacted_whole(case):
    p, text = case
    out, counts = redact_question(text, kinds=ALL)
    assert not survives(p, out), (p, text, out)
    assert digits_in(out) == "", (p, text, out)        # the words around hold no digits: none may be left
    assert sum(counts.values()) >= 1
    return out


@PROPERTY_SETTINGS
@given(in_text(cards()))
def test_no_card_survives_in_any_script_or_layout(case):
    _redacted_whole(case)


@PROPERTY_SETTINGS
@given(in_text(ibans()))
def test_no_iban_survives_national_check_digits_or_not(case):
    _redacted_whole(case)


@PROPERTY_SETTINGS
@given(in_text(emails()))
def test_no_email_survives_ascii_internationalised_or_full_width(case):
    _redacted_whole(case)


@PROPERTY_SETTINGS
@given(in_text(phones()))
def test_no_phone_number_survives_in_any_script(case):
    _redacted_whole(case)


@settings(PROPERTY_SETTINGS, max_examples=20)
@given(spanish_iban_bad_national_check())
def test_spanish_iban_with_wrong_national_check_digits_is_redacted(value):
    assert redact(f"pay to {value} today") == "pay to [IBAN] today"


@settings(PROPERTY_SETTINGS, max_examples=30)
@given(st.lists(in_text(), min_size=2, max_size=4))
def test_several_values_in_one_message(cases):
    text = " and ".join(t for _, t in cases)
    out, _ = redact_question(text, kinds=ALL)
    assert not any(survives(p, out) for p, _ in cases), (text, out)


@PROPERTY_SETTINGS
@given(words(max_words=30))
def test_text_without_pii_comes_back_byte_for_byte(text):
    assert redact(text) == text
    assert redact_question(text, kinds=ALL) == (text, {})


# ---- the dataset path -------------------------------------------------------------------------------------------
def _write(path: Path, fmt: str, header: list[str], rows: list[list[str]]) -> None:
    if fmt == "csv":
        with open(path, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)
    else:
        path.write_text("".join(json.dumps(dict(zip(header, r)), ensure_ascii=False) + "\n" for r in rows),
                        encoding="utf-8")


@settings(PROPERTY_SETTINGS, max_examples=10)
@given(st.lists(in_text(), min_size=4, max_size=8), st.lists(planted(), min_size=4, max_size=8),
       st.sampled_from(["csv", "jsonl"]))
def test_registered_dataset_keeps_no_value_in_any_stored_file(cases, others, fmt):
    """Values in the text column and in a second column; redact=True; every stored file is searched."""
    rows, values = [], [p for p, _ in cases]
    for i, (_, text) in enumerate(cases):
        other = others[i % len(others)]
        values.append(other)
        name = "abcdefghij"[i]
        rows.append([f"question {name} {text}", "alpha" if i % 2 else "beta", f"contact {name}: {other.written}"])
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / f"customers.{fmt}"
        _write(src, fmt, ["text", "label", "note"], rows)
        d = prepare_dataset(src, text_column="text", label_column="label", redact=True)
        save_dataset(d, src, Path(tmp) / "ds")
        stored = {f.name: f.read_text(encoding="utf-8") for f in (Path(tmp) / "ds").iterdir()}
    assert set(stored) >= {f"source.{fmt}", "train.jsonl", "validation.jsonl", "meta.json"}
    for name, content in stored.items():
        left = [p for p in values if survives(p, content)]
        assert not left, (name, left)
