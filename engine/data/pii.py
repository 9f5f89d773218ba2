"""Find and redact personal data: card numbers, IBANs, e-mail addresses and phone numbers.

Validation is done by well-kept libraries, not by our own patterns: `python-stdnum` checks IBANs (country, length,
format and mod-97, `stdnum.iban`) and card numbers (`stdnum.luhn`); `email-validator` checks e-mail addresses,
internationalised ones included; Google's libphonenumber (`phonenumbers.PhoneNumberMatcher`) finds phone numbers.
Our own code only proposes candidates: the ways people write these values (groups separated by a space, two
spaces, a dash, a dot or a slash, or no separator at all), so that the whole value is matched and redacted.

Detectors run in a fixed order (IBAN, card, e-mail, phone) and later ones skip text an earlier one claimed, so
the digits of an IBAN are never also reported as a card or a phone number. Card-shaped or IBAN-shaped text that
fails its checksum is not PII, but it is still claimed, so its digits are not re-read as a phone number.
Amounts ("£1,250.00"), dates, years, reference numbers and "card ending 1234" are left alone: libphonenumber is
asked for numbers that are valid in one of `PHONE_REGIONS` (a merely possible length is accepted only for the
strong shapes "+CC …" and the North American "(555) 123-4567" / "555 123 4567").
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from stdnum import iban as std_iban
from stdnum import luhn as std_luhn

KINDS = ("iban", "card", "email", "phone")
TOKENS = {"iban": "[IBAN]", "card": "[CARD]", "email": "[EMAIL]", "phone": "[PHONE]"}
MAX_EXAMPLES = 10

# National numbers are read as numbers of these regions (international "+CC" numbers need none). Tuned on the
# bench corpus (bench/pii.py): each added region finds its own national formats; none of them changes a real
# BANKING77 customer text.
PHONE_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "PL", "IN", "BR", "BE", "CH", "AT", "IE", "PT", "CA",
                 "AU", "MX", "SE")

# ---- candidates ------------------------------------------------------------------------------------------
_SEP = r"(?: {1,2}|[-./])"
# IBAN: country, check digits, then 11-30 letters/digits with at most one separator (or two spaces) between any
# two of them; the exact length is settled by stdnum below.
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:(?: {1,2}|[-.])?[A-Za-z0-9]){11,34}")
# What is claimed when no valid IBAN is found: upper-case country code, then groups of four.
_IBAN_SHAPE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:(?: {1,2}|[-.])?[A-Z0-9]{4}){2,7}"
                         r"(?:(?: {1,2}|[-.])?[A-Z0-9]{1,4})?(?![A-Za-z0-9])")
# Digit groups joined by one kind of separator: the card candidates are cut from these runs.
_DIGIT_RUN = re.compile(rf"(?<![\d+])\d+(?:{_SEP}\d+)*")
_SEP_SPLIT = re.compile(rf"({_SEP})")
# E-mail: Unicode letters allowed on both sides of the @ (RFC 6531); email-validator decides.
_EMAIL = re.compile(r"(?<![\w.+'-])[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*@"
                    r"(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_][\w-]*[^\W_]")
_STRONG_PHONE = re.compile(r"^(?:\+\d.*|\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4})$")
_DIGITS = re.compile(r"\d")
# libphonenumber reads some dates and amounts as valid numbers of some region; they are never phone numbers.
_NOT_PHONE = re.compile(r"^(?:\d{1,4}[./-]\d{1,2}[./-]\d{1,4}"          # 01.02.2019, 2019-10-12
                        r"|\d{1,3}(?:[.,]\d{3})+(?:[.,]\d{1,2})?"         # 1,250,000 / 1.250.000,00
                        r"|\d+[.,]\d{1,2})$")                             # 1234567.89
_CURRENCY_BEFORE = re.compile(r"[$£€¥₹]\s?$|\b(?:EUR|USD|GBP|PLN|CHF|INR|BRL)\s?$", re.I)


@dataclass
class Match:
    kind: str
    start: int
    end: int
    value: str


def luhn_ok(digits: str) -> bool:
    return digits.isdigit() and std_luhn.is_valid(digits)


def iban_ok(candidate: str) -> bool:
    return std_iban.is_valid(candidate)


def _iban_at(text: str, m: re.Match) -> tuple[int, bool]:
    """(end, valid): the longest prefix of the candidate that stdnum accepts and that ends on a word boundary;
    without one, (end of the candidate, False)."""
    start = m.start()
    chars, ends = [], []
    for i in range(start, m.end()):
        ch = text[i]
        if ch.isalnum():
            chars.append(ch)
            ends.append(i + 1)
    for n in range(len(chars), 14, -1):
        end = ends[n - 1]
        if end < len(text) and text[end].isalnum():
            continue                         # would cut a word or number in two
        if std_iban.is_valid("".join(chars[:n])):
            return end, True
    return m.end(), False


def _card_shape(groups: list[str]) -> bool:
    """4-4-4-4, 4-4-4-4-3, 4-4-4-1…, Amex 4-6-5, Diners 4-6-4, or unseparated; 13-19 digits."""
    lens = [len(g) for g in groups]
    if not 13 <= sum(lens) <= 19:
        return False
    if len(lens) == 1:
        return True
    if lens in ([4, 6, 5], [4, 6, 4]):
        return True
    return all(n == 4 for n in lens[:-1]) and 1 <= lens[-1] <= 4


def _cards_in_run(text: str, run: re.Match) -> list[tuple[int, int, bool]]:
    """(start, end, valid) card candidates inside one run of separated digit groups, longest first."""
    parts = _SEP_SPLIT.split(run.group(0))
    groups, seps = parts[0::2], parts[1::2]
    offs, pos = [], run.start()
    for i, g in enumerate(groups):
        offs.append(pos)
        pos += len(g) + (len(seps[i]) if i < len(seps) else 0)
    out = []
    i = 0
    while i < len(groups):
        best = None
        for j in range(len(groups), i, -1):
            if len(set(seps[i:j - 1])) > 1:
                continue                     # one separator style per number
            gs = groups[i:j]
            if not _card_shape(gs):
                continue
            digits = "".join(gs)
            valid = digits[0] in "23456" and len(set(digits)) > 1 and luhn_ok(digits)
            best = (offs[i], offs[j - 1] + len(groups[j - 1]), valid, j)
            if valid:
                break
        if best:
            out.append(best[:3])
            i = best[3]
        else:
            i += 1
    return out


def _email_ok(candidate: str) -> bool:
    try:
        validate_email(candidate, check_deliverability=False, globally_deliverable=False)
    except EmailNotValidError:
        return False
    return True


def _bare_digits_ok(raw: str) -> bool:
    """A number written without separators or "+" is a phone number only when long enough to hold an area code
    (10 digits, or 9 after a trunk 0): shorter runs are amounts and references ("1684259" in a payments column)."""
    if not raw.isdigit():
        return True
    if len(raw) >= 10 or (raw[0] == "0" and len(raw) >= 9):
        return True
    # Spain, Poland and Portugal dial 9 digits with no trunk 0: accept those only when they are mobile numbers.
    return len(raw) == 9 and any(_is_mobile(raw, region) for region in ("ES", "PL", "PT"))


def _is_mobile(raw: str, region: str) -> bool:
    num = phonenumbers.parse(raw, region)
    return phonenumbers.is_valid_number(num) and phonenumbers.number_type(num) in (
        phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def _phones(text: str) -> list[tuple[int, int]]:
    """Spans libphonenumber finds in any of PHONE_REGIONS (see module docstring for the leniency)."""
    spans: set[tuple[int, int]] = set()
    for region in PHONE_REGIONS:
        for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
            spans.add((m.start, m.end))
    for region in ("US",):               # fictional 555 numbers and "+CC" numbers libphonenumber calls unassigned
        for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE):
            if _STRONG_PHONE.match(m.raw_string) and len(_DIGITS.findall(m.raw_string)) >= 10:
                spans.add((m.start, m.end))
    spans = {(a, b) for a, b in spans
             if not _NOT_PHONE.match(text[a:b]) and not _CURRENCY_BEFORE.search(text[max(0, a - 5):a])
             and _bare_digits_ok(text[a:b])}
    # Longest first, then by position: one span per number even when regions read it differently.
    chosen: list[tuple[int, int]] = []
    for a, b in sorted(spans, key=lambda s: (-(s[1] - s[0]), s[0])):
        if all(b <= c or a >= d for c, d in chosen):
            chosen.append((a, b))
    return chosen


def find_pii(text: str) -> list[Match]:
    """All PII matches in `text`, non-overlapping, in order of position."""
    if not text:
        return []
    ndigits = len(_DIGITS.findall(text))
    if ndigits < 7 and "@" not in text:     # nothing below can match: keeps scanning numeric tables fast
        return []
    found: list[Match] = []
    claimed: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in claimed)

    def take(kind: str, a: int, b: int, valid: bool) -> None:
        if valid:
            found.append(Match(kind, a, b, text[a:b]))
        claimed.append((a, b))

    if ndigits >= 7:
        pos = 0
        while m := _IBAN.search(text, pos):
            end, valid = _iban_at(text, m)
            if valid:
                take("iban", m.start(), end, True)
            pos = end if valid else m.start() + 1
        for m in _IBAN_SHAPE.finditer(text):
            if free(m.start(), m.end()):
                take("iban", m.start(), m.end(), False)
        for run in _DIGIT_RUN.finditer(text):
            for a, b, valid in _cards_in_run(text, run):
                if free(a, b):
                    take("card", a, b, valid)
    if "@" in text:
        for m in _EMAIL.finditer(text):
            if free(m.start(), m.end()) and _email_ok(m.group(0)):
                take("email", m.start(), m.end(), True)
    if ndigits >= 7:
        for a, b in _phones(text):
            if free(a, b):
                take("phone", a, b, True)
    return sorted(found, key=lambda m: m.start)


def redact(text: str, matches: list[Match] | None = None) -> str:
    """Replace every match with its token ([CARD], [IBAN], [EMAIL], [PHONE])."""
    matches = find_pii(text) if matches is None else matches
    out, pos = [], 0
    for m in sorted(matches, key=lambda m: m.start):
        out.append(text[pos:m.start])
        out.append(TOKENS[m.kind])
        pos = m.end
    out.append(text[pos:])
    return "".join(out)


def redact_question(text: str, kinds=("card", "iban", "email", "phone")) -> tuple[str, dict[str, int]]:
    """A question with the PII of `kinds` replaced by tokens, and how many of each kind were replaced.

    Detection always runs for every kind (so an IBAN's digits are never mistaken for a phone number even when
    IBANs are not redacted); only the matches of `kinds` are replaced."""
    unknown = [k for k in kinds if k not in TOKENS]
    if unknown:
        raise ValueError(f"unknown PII kinds {unknown}; choose from {', '.join(KINDS)}")
    matches = [m for m in find_pii(text or "") if m.kind in kinds]
    counts: dict[str, int] = {}
    for m in matches:
        counts[m.kind] = counts.get(m.kind, 0) + 1
    return (redact(text, matches) if matches else text), counts


def mask(value: str) -> str:
    """All but the last 4 characters hidden."""
    return "*" * max(len(value) - 4, 0) + value[-4:]


class PiiReport:
    """Accumulates matches over cells into {"counts": {kind: n}, "by_column": {column: {kind: n}},
    "examples": [{row, column, kind, masked}]}."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.by_column: dict[str, dict[str, int]] = {}
        self.examples: list[dict] = []

    def scan(self, text: str, row: int, column: str) -> list[Match]:
        matches = find_pii(text)
        for m in matches:
            self.counts[m.kind] = self.counts.get(m.kind, 0) + 1
            col = self.by_column.setdefault(column, {})
            col[m.kind] = col.get(m.kind, 0) + 1
            if len(self.examples) < MAX_EXAMPLES:
                self.examples.append({"row": row, "column": column, "kind": m.kind, "masked": mask(m.value)})
        return matches

    def to_dict(self) -> dict:
        return {"counts": dict(self.counts), "by_column": {c: dict(k) for c, k in self.by_column.items()},
                "examples": list(self.examples)}
