"""PII: validated detection (Luhn, mod-97), no false alarms on amounts and dates, report and redaction."""
from __future__ import annotations

import csv

import pytest

from engine.data import load_dataset, prepare_dataset, save_dataset
from engine.data.pii import find_pii, iban_ok, luhn_ok, mask, redact

VALID_CARD = "4111 1111 1111 1111"
INVALID_CARD = "4111 1111 1111 1112"
VALID_IBAN = "DE89 3704 0044 0532 0130 00"
INVALID_IBAN = "DE89 3704 0044 0532 0130 01"


def kinds(text):
    return [(m.kind, m.value) for m in find_pii(text)]


def test_luhn_and_iban_checks():
    assert luhn_ok("4111111111111111") and luhn_ok("5500005555555559") and luhn_ok("378282246310005")
    assert not luhn_ok("4111111111111112")
    assert iban_ok(VALID_IBAN) and iban_ok("GB82WEST12345698765432") and iban_ok("fr1420041010050500013m02606")
    assert not iban_ok(INVALID_IBAN) and not iban_ok("GB82WEST12345698765433")


@pytest.mark.parametrize("text,expected", [
    (f"my card {VALID_CARD} was declined", [("card", VALID_CARD)]),
    ("card 5500-0055-5555-5559 please", [("card", "5500-0055-5555-5559")]),
    ("amex 378282246310005", [("card", "378282246310005")]),
    (f"IBAN {VALID_IBAN} please", [("iban", VALID_IBAN)]),
    ("send to GB82WEST12345698765432.", [("iban", "GB82WEST12345698765432")]),
    ("mail john.doe+bank@example.co.uk now", [("email", "john.doe+bank@example.co.uk")]),
    ("call +44 20 7946 0958", [("phone", "+44 20 7946 0958")]),
    ("ring 020 7946 0958 today", [("phone", "020 7946 0958")]),
    ("my number is (555) 123-4567", [("phone", "(555) 123-4567")]),
    ("mobile 0151 23456789", [("phone", "0151 23456789")]),
    ("+49 30 12345678", [("phone", "+49 30 12345678")]),
])
def test_detects(text, expected):
    assert kinds(text) == expected


@pytest.mark.parametrize("text", [
    f"card {INVALID_CARD} fails Luhn", f"iban {INVALID_IBAN} wrong check digits", "I paid 1,250.00 EUR in 2019",
    "transfer of 10000000", "on 01.02.2019", "2019-10-12", "amount 1234567.89", "sent 500 on 12/03/2021",
    "0 to 200 DM", "reference 12345678", "between 2018 and 2020", "card ending 1234", "0000 0000 0000 0000",
    "duration_months: 60; credit_amount: 7418; age: 27",
])
def test_does_not_flag(text):
    assert kinds(text) == []


def test_iban_digits_not_reported_as_card_or_phone():
    assert [k for k, _ in kinds(f"pay {VALID_IBAN} or call +44 20 7946 0958")] == ["iban", "phone"]


def test_redact_and_mask():
    text = f"card {VALID_CARD}, iban {VALID_IBAN}, mail a.b@c.com, tel +44 20 7946 0958, amount 120"
    assert redact(text) == "card [CARD], iban [IBAN], mail [EMAIL], tel [PHONE], amount 120"
    assert mask(VALID_CARD) == "*" * 15 + "1111"
    assert mask("abc") == "abc"


def _dataset(tmp_path):
    rows = [[f"routine question {i} about {lab}", lab] for lab in ("a", "b") for i in range(8)]
    rows[0][0] = f"my card {VALID_CARD} was charged twice"
    rows[3][0] = f"please refund to {VALID_IBAN}"
    rows[9][0] = "email me at jane@example.org or call +44 20 7946 0958"
    rows[10][0] = f"this {INVALID_CARD} is not a card"
    p = tmp_path / "pii.csv"
    with open(p, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)
    return p


def test_report_counts_and_masked_examples(tmp_path):
    d = prepare_dataset(_dataset(tmp_path))
    assert d.pii["counts"] == {"card": 1, "iban": 1, "email": 1, "phone": 1}
    ex = d.pii["examples"]
    assert {"row": 2, "column": "text", "kind": "card", "masked": "*" * 15 + "1111"} in ex
    assert {(e["row"], e["kind"]) for e in ex} == {(2, "card"), (5, "iban"), (11, "email"), (11, "phone")}
    assert all(VALID_CARD not in e["masked"] for e in ex)
    assert not d.redacted and any(VALID_CARD in e.text for e in d.train + d.validation)


def test_redaction_in_texts_and_stored_copy(tmp_path):
    src = _dataset(tmp_path)
    d = prepare_dataset(src, redact=True)
    texts = [e.text for e in d.train + d.validation]
    assert "my card [CARD] was charged twice" in texts and "please refund to [IBAN]" in texts
    assert "email me at [EMAIL] or call [PHONE]" in texts
    assert f"this {INVALID_CARD} is not a card" in texts
    dest = tmp_path / "ds"
    save_dataset(d, src, dest)
    copy = (dest / "source.csv").read_text(encoding="utf-8")
    for secret in (VALID_CARD, VALID_IBAN, "jane@example.org", "7946 0958"):
        assert secret not in copy
        assert secret not in (dest / "train.jsonl").read_text() + (dest / "validation.jsonl").read_text()
    assert "[CARD]" in copy and INVALID_CARD in copy
    back = load_dataset(dest)
    assert back.redacted and back.pii == d.pii
