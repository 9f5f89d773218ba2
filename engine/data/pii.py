"""Find and redact personal data: card numbers (Luhn), IBANs (mod 97), e-mail addresses and phone numbers.

Detectors run in a fixed order (IBAN, card, e-mail, phone) and later ones skip text an earlier one claimed, so
the digits of an IBAN are never also reported as a card or a phone number. Candidates are validated, not just
pattern-matched: a 16-digit number that fails the Luhn check is not a card, and amounts ("1,250.00"), years and
dates are not phone numbers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

KINDS = ("iban", "card", "email", "phone")
TOKENS = {"iban": "[IBAN]", "card": "[CARD]", "email": "[EMAIL]", "phone": "[PHONE]"}
MAX_EXAMPLES = 10

_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b", re.I)
_CARD = re.compile(r"(?<![\d.,-])\d(?:[ -]?\d){12,18}(?![\d-]|[.,]\d)")
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
# International: +CC then groups. National: a leading 0 ("020 7946 0958", "030-1234567") or the North American
# "(555) 123-4567" / "555-123-4567" shapes. Digits are counted afterwards (8 to 15).
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){1,6}"
    r"|\(?0\d{1,5}\)?(?:[ .-]?\d{2,8}){1,4}"
    r"|\(\d{3}\) ?\d{3}[ .-]?\d{4}"
    r"|\d{3}[.-]\d{3}[.-]\d{4}"
    r")(?![\w])")
_DATE = re.compile(r"^\d{1,4}[./-]\d{1,2}[./-]\d{1,4}$")


@dataclass
class Match:
    kind: str
    start: int
    end: int
    value: str


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    s = re.sub(r"\s", "", candidate).upper()
    if not (15 <= len(s) <= 34 and s[:2].isalpha() and s[2:4].isdigit()):
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def _card_ok(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    return 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn_ok(digits)


def _phone_ok(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    if not 8 <= len(digits) <= 15:
        return False
    if _DATE.match(value.strip()):
        return False
    # A run of digits with a single decimal point is an amount, not a number to call.
    if re.fullmatch(r"\d+[.,]\d{1,2}", value.strip()):
        return False
    return True


def find_pii(text: str) -> list[Match]:
    """All PII matches in `text`, non-overlapping, in order of position."""
    if not text:
        return []
    found: list[Match] = []
    # IBAN-shaped text with wrong check digits is not PII, but its digits must not be re-read as a phone number.
    claimed: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in claimed)

    for kind, rx, ok in (("iban", _IBAN, iban_ok), ("card", _CARD, _card_ok),
                         ("email", _EMAIL, lambda v: True), ("phone", _PHONE, _phone_ok)):
        for m in rx.finditer(text):
            v = m.group(0).rstrip(" .-")
            a, b = m.start(), m.start() + len(v)
            if not free(a, b):
                continue
            if ok(v):
                found.append(Match(kind, a, b, v))
                claimed.append((a, b))
            elif kind == "iban":
                claimed.append((a, b))
    return sorted(found, key=lambda m: m.start)


def redact(text: str, matches: list[Match] | None = None) -> str:
    """Replace every match with its token ([CARD], [IBAN], [EMAIL], [PHONE])."""
    matches = find_pii(text) if matches is None else matches
    out, pos = [], 0
    for m in matches:
        out.append(text[pos:m.start])
        out.append(TOKENS[m.kind])
        pos = m.end
    out.append(text[pos:])
    return "".join(out)


def mask(value: str) -> str:
    """All but the last 4 characters hidden."""
    return "*" * max(len(value) - 4, 0) + value[-4:]


class PiiReport:
    """Accumulates matches over cells into {"counts": {kind: n}, "examples": [{row, column, kind, masked}]}."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.examples: list[dict] = []

    def scan(self, text: str, row: int, column: str) -> list[Match]:
        matches = find_pii(text)
        for m in matches:
            self.counts[m.kind] = self.counts.get(m.kind, 0) + 1
            if len(self.examples) < MAX_EXAMPLES:
                self.examples.append({"row": row, "column": column, "kind": m.kind, "masked": mask(m.value)})
        return matches

    def to_dict(self) -> dict:
        return {"counts": dict(self.counts), "examples": list(self.examples)}
