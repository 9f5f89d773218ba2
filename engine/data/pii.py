"""Find and redact personal data: card numbers, IBANs, e-mail addresses and phone numbers.

Text is normalised before detection (`normalize`): Unicode NFKC, format characters (zero-width spaces and joiners,
soft hyphens, …) removed, every decimal digit of any script mapped to ASCII, every space, tab and line break read as
a space. Detection runs on that form and redaction replaces the matching span of the ORIGINAL text, so a value
written in full-width or Arabic-Indic digits, or with zero-width characters inside, is removed whole, and a text
without PII comes back unchanged, byte for byte.

Our code only proposes candidates, each kind in one linear scan (no nested loops over groups, no pattern that can
backtrack without bound); well-kept libraries decide: `python-stdnum` (Luhn for cards; mod-97 and the country's
length and format for IBANs, without the national check digits, which would leave such an IBAN in clear),
`email-validator` (RFC 5321/6531 syntax, internationalised addresses included) and Google's libphonenumber
(`phonenumbers`: valid numbers of `PHONE_REGIONS`, any "+CC" number).
- Cards: 13-19 digits joined by any separators people use (spaces, dashes, dots, slashes, commas, underscores,
  mixed), in groups of four, pairs or single digits, or four-digit groups with a word or two between them; a
  window that passes Luhn and starts like a card network's number is a card; overlapping windows go together.
- Each text gets a bounded number of library calls per kind; past it a candidate that still has the shape of its
  kind is removed unchecked: redaction errs towards removing, and one message cannot stall the bot.

Detectors run in a fixed order (IBAN, card, e-mail, phone); a later one skips text an earlier one claimed, so the
digits of an IBAN are never also reported as a phone number. Card- and IBAN-shaped text that fails its checksum is
not PII, but it is claimed before phones are looked for (a card number inside a mistyped IBAN is still a card).
Where matches overlap they are removed as one. Amounts ("£1,250.00"), dates, years, reference numbers and "card
ending 1234" are left alone.

`for_message` is how a validation message may quote a cell, label or column name: redacted first, then cut.
"""
from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import phonenumbers
from email_validator import EmailNotValidError, validate_email
from stdnum import iban as std_iban
from stdnum import luhn as std_luhn
from stdnum import numdb

KINDS = ("iban", "card", "email", "phone")
TOKENS = {"iban": "[IBAN]", "card": "[CARD]", "email": "[EMAIL]", "phone": "[PHONE]"}
MAX_EXAMPLES = 10
# Where matches of two kinds overlap, the merged span takes the first of these (a card is never left unredacted
# because it sits inside an e-mail address).
_PRECEDENCE = ("card", "iban", "email", "phone")

# National numbers are read as numbers of these regions (international "+CC" numbers need none). Each added region
# finds its own national formats (bench/pii.py); none of them changes a real BANKING77 customer text.
PHONE_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "PL", "IN", "BR", "BE", "CH", "AT", "IE", "PT", "CA",
                 "AU", "MX", "SE")
_PARSE_REGIONS = tuple(r for r in PHONE_REGIONS if r != "CA")   # +1 numbers are checked against every NANP region

# Library calls per text and kind; past them a candidate of the right shape is removed without the check.
PHONE_CHECKS = 24
PHONE_WINDOWS = 400
EMAIL_CHECKS = 200
_CACHE_SIZE = 4096


@dataclass
class Match:
    kind: str
    start: int
    end: int
    value: str


def luhn_ok(digits: str) -> bool:
    return digits.isdigit() and std_luhn.is_valid(digits)


def iban_ok(candidate: str) -> bool:
    """Mod-97 and the country's IBAN length and format (python-stdnum), not the national check digits."""
    return std_iban.is_valid(candidate, check_country=False)


# ---- normalisation ------------------------------------------------------------------------------------------------
_IRREGULAR = "\uffff"          # stands for a character that does not become exactly one character


def _piece(ch: str) -> str:
    """The normalised form of one character: NFKC; format characters and combining marks dropped (a mark adds
    nothing a detector reads, and without it the letters around it stay one word); decimal digits of any script
    as ASCII; any space, tab or line break as " "."""
    out = []
    for c in unicodedata.normalize("NFKC", ch):
        cat = unicodedata.category(c)
        if cat == "Cf" or cat[0] == "M":
            continue
        if c.isspace():
            out.append(" ")
        else:
            d = unicodedata.decimal(c, None)
            out.append(str(d) if d is not None else c)
    return "".join(out)


class _Table(dict):
    """A str.translate table filled on first sight of each character from `_piece` (bounded: an attacker may send
    every code point once)."""

    def __init__(self, value) -> None:
        super().__init__()
        self._value = value

    def __missing__(self, code: int) -> str:
        value = self._value(chr(code))
        if len(self) < 65536:
            self[code] = value
        return value


_ONE = _Table(lambda ch: p if len(p := _piece(ch)) == 1 and ch != _IRREGULAR else _IRREGULAR)
_ALL = _Table(_piece)
_LENGTH = _Table(lambda ch: chr(len(_piece(ch))))


class Normalized:
    """`text` normalised (see `_piece`), with the way back to positions in the original."""

    def __init__(self, text: str, origin: np.ndarray | None):
        self.text = text
        self._origin = origin                      # original position of each normalised character; None: same

    def original_span(self, a: int, b: int) -> tuple[int, int]:
        """The original characters behind normalised characters a..b-1."""
        if self._origin is None:
            return a, b
        return int(self._origin[a]), int(self._origin[b - 1]) + 1


def normalize(text: str) -> Normalized:
    """Linear in len(text), without a Python loop over characters: a text whose characters all map one to one
    is translated once; otherwise each character's piece and its length give the position map."""
    one = text.translate(_ONE)
    if _IRREGULAR not in one:
        return Normalized(one, None)
    lengths = np.frombuffer(text.translate(_LENGTH).encode("utf-32-le"), dtype=np.uint32)
    return Normalized(text.translate(_ALL), np.repeat(np.arange(len(text)), lengths))


# ---- IBAN ---------------------------------------------------------------------------------------------------------
# Letters and digits joined by at most three separators; the IBAN is cut from the letters and digits alone.
_IBAN_CHUNK = re.compile(r"[A-Za-z0-9]+(?:[ \-./_,]{1,3}[A-Za-z0-9]+)*")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")
_ALNUM_GROUP = re.compile(r"[A-Za-z0-9]+")
_COUNTRY = re.compile(r"(?=([A-Z]{2})\d\d)")
_BBAN_PART = re.compile(r"(\d+)!([nac])")
_BBAN_CHARS = {"n": "[0-9]", "a": "[A-Z]", "c": "[A-Z0-9]"}
_LETTER_VALUES = str.maketrans({chr(c): str(c - 55) for c in range(65, 91)})
_IBANDB = numdb.get("iban")
_IBAN_FORMATS: dict[str, tuple[int, re.Pattern] | None] = {}
_MIN_IBAN = 15                 # the shortest IBAN (Norway); one may hold no digit but its two check digits


def _iban_format(cc: str) -> tuple[int, re.Pattern] | None:
    """(IBAN length, BBAN pattern) of a country from python-stdnum's IBAN registry; None when it has no IBAN."""
    if cc not in _IBAN_FORMATS:
        info = _IBANDB.info(cc)[0][1]
        bban = info.get("bban") if info else None
        if not bban:
            _IBAN_FORMATS[cc] = None
        else:
            parts = _BBAN_PART.findall(bban)
            pattern = re.compile("".join(f"{_BBAN_CHARS[kind]}{{{n}}}" for n, kind in parts))
            _IBAN_FORMATS[cc] = (4 + sum(int(n) for n, _ in parts), pattern)
    return _IBAN_FORMATS[cc]


def _ibans(s: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(valid IBAN spans, IBAN-shaped spans that fail mod-97). Candidates: a country code followed by two digits
    anywhere in a chunk; the country's length and format and a mod-97 sum select the few stdnum is asked about."""
    valid, shaped = [], []
    for chunk in _IBAN_CHUNK.finditer(s):
        if chunk.end() - chunk.start() < _MIN_IBAN:
            continue
        compact = _NOT_ALNUM.sub("", chunk.group(0)).upper()
        groups = None
        done = 0
        for m in _COUNTRY.finditer(compact):
            k = m.start()
            fmt = _iban_format(m.group(1)) if k >= done else None
            if fmt is None:
                continue
            length, bban = fmt
            cand = compact[k:k + length]
            if len(cand) < length or not bban.fullmatch(cand, 4):
                continue
            if groups is None:                     # compact index -> position in s, built on first need
                groups = [(g.start(), g.end()) for g in _ALNUM_GROUP.finditer(s, chunk.start(), chunk.end())]
                offsets = [0]
                for a, b in groups:
                    offsets.append(offsets[-1] + b - a)
            start, end = _compact_pos(groups, offsets, k), _compact_pos(groups, offsets, k + length - 1) + 1
            if int((cand[4:] + cand[:4]).translate(_LETTER_VALUES)) % 97 == 1 and iban_ok(cand):
                valid.append((start, end))
                done = k + length
            elif s[start:start + 2].isupper() and (start == 0 or not s[start - 1].isalnum()):
                shaped.append((start, end))
    return valid, shaped


def _compact_pos(groups, offsets, k: int) -> int:
    i = bisect.bisect_right(offsets, k) - 1
    return groups[i][0] + (k - offsets[i])


# ---- cards --------------------------------------------------------------------------------------------------------
_CARD_SEP = r"[ \-./,_|+\u2010-\u2015\u2212\u00b7\u2022]"
# A word gap joins two four-digit groups only ("4111 1111 and 1111 1111"): amounts and dates rarely come in fours.
_WORD_GAP = r"(?<=(?<!\d)\d{4}) {1,3}[A-Za-z]{1,12}(?: {1,3}[A-Za-z]{1,12})? {1,3}(?=\d{4}(?!\d))"
_CARD_STREAM = re.compile(rf"\d+(?:(?:{_CARD_SEP}{{1,5}}|{_WORD_GAP})\d+)*")
_DIGIT_GROUP = re.compile(r"\d+")
_NON_DIGIT = re.compile(r"\D")


def _luhn_windows(d: np.ndarray, sid: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> list[tuple[int, int]]:
    """Windows [a, b) of the digits `d` (stream `sid` of each) of 13-19 digits, inside one stream, that begin at
    one of `starts` and end at one of `ends` (group boundaries), begin like a card network's number (2-6, or
    81/82), are not one repeated digit and pass Luhn; overlapping windows merged. Vectorised: each window is
    checked in constant time from prefix sums."""
    n = len(d)
    first_ok = (d >= 2) & (d <= 6)
    first_ok[:-1] |= (d[:-1] == 8) & ((d[1:] == 1) | (d[1:] == 2))
    starts = starts[first_ok[starts]]
    if not len(starts) or n < 13:
        return []
    doubled = 2 * d - 9 * (d >= 5)
    even = (np.arange(n) & 1) == 0
    zero = np.zeros(1, dtype=np.int64)
    plain_e, plain_o, dbl_e, dbl_o = (np.concatenate((zero, np.cumsum(np.where(m, v, 0))))
                                      for v, m in ((d, even), (d, ~even), (doubled, even), (doubled, ~even)))
    is_end = np.zeros(n + 1, dtype=bool)
    is_end[ends] = True
    changes = np.concatenate((np.flatnonzero(d[1:] != d[:-1]) + 1, [n]))
    run_end = changes[np.searchsorted(changes, starts, side="right")]     # where the first digit's run ends
    cover = np.zeros(n + 1, dtype=np.int64)
    for length in range(13, 20):
        fits = starts + length <= n
        a, b = starts[fits], starts[fits] + length
        last_even = ((b - 1) & 1) == 0             # the last digit is kept, the one before it doubled, and so on
        total = np.where(last_even, plain_e[b] - plain_e[a] + dbl_o[b] - dbl_o[a],
                         plain_o[b] - plain_o[a] + dbl_e[b] - dbl_e[a])
        ok = is_end[b] & (total % 10 == 0) & (run_end[fits] < b) & (sid[a] == sid[b - 1])
        cover += np.bincount(a[ok], minlength=n + 1) - np.bincount(b[ok], minlength=n + 1)
    covered = np.cumsum(cover[:n]) > 0
    if not covered.any():
        return []
    joined = np.concatenate((covered[:-1] & covered[1:] & (sid[1:] == sid[:-1]), [False]))  # i and i+1 one span
    first = covered & ~np.concatenate(([False], joined[:-1]))
    last = covered & ~joined
    return list(zip(np.flatnonzero(first).tolist(), (np.flatnonzero(last) + 1).tolist()))


def _card_shapes(lens: np.ndarray, gsid: np.ndarray) -> np.ndarray:
    """For each group, how many groups from it (within its run `gsid`) make a usual card layout (one 13-19-digit
    group, 4-4-4-4[-1..3], 4-4-4-1..4, Amex 4-6-5, Diners 4-6-4); 0 if none."""
    n = len(lens)

    def ahead(v, k):                               # v[i + k], 0 past the end
        return np.concatenate((v, np.zeros(k, dtype=v.dtype)))[k:k + n]

    nxt = [ahead(lens, k) for k in range(5)]
    same = [ahead(gsid, k) == gsid for k in range(5)]
    four = (nxt[0] == 4) & (nxt[1] == 4) & (nxt[2] == 4) & (nxt[3] >= 1) & (nxt[3] <= 4) & same[3]
    five = four & (nxt[3] == 4) & (nxt[4] >= 1) & (nxt[4] <= 3) & same[4]
    amex = (nxt[0] == 4) & (nxt[1] == 6) & ((nxt[2] == 4) | (nxt[2] == 5)) & same[2]
    one = (nxt[0] >= 13) & (nxt[0] <= 19)
    return np.select([one, five, four, amex], [1, 5, 4, 3], 0)


def _cards(s: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]], list[tuple[int, int]]]:
    """(card spans, card spans that begin right after a "+" — perhaps an international phone number, settled
    after phones —, card-shaped spans that fail Luhn). All streams of the text are checked in one pass."""
    streams = [(m.start(), m.end()) for m in _CARD_STREAM.finditer(s) if m.end() - m.start() >= 13]
    if not streams:
        return [], [], []
    bounds = np.array(streams, dtype=np.int64)
    marks = np.zeros(len(s) + 1, dtype=np.int64)
    np.add.at(marks, bounds[:, 0], 1)
    ids = np.cumsum(marks)[:-1]                                 # 1-based stream number at each position
    np.add.at(marks, bounds[:, 1], -1)
    inside = np.cumsum(marks)[:-1] > 0
    chars = np.frombuffer(s.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    where = np.flatnonzero(inside & (chars >= 48) & (chars <= 57))    # position in s of each digit
    if len(where) < 13:
        return [], [], []
    d = chars[where].astype(np.int64) - 48
    sid = ids[where]
    new_group = np.concatenate(([True], (where[1:] != where[:-1] + 1) | (sid[1:] != sid[:-1])))
    starts = np.flatnonzero(new_group)
    ends = np.concatenate((starts[1:], [len(where)]))
    gsid = sid[starts]
    plus = np.array([False] + [s[max(0, a - 2):a].endswith(("+", "+ ")) for a, _ in streams])
    after_plus_group = np.concatenate(([True], gsid[1:] != gsid[:-1])) & plus[gsid]

    def spans(windows):
        return [(int(where[a]), int(where[b - 1]) + 1) for a, b in windows]

    cards = spans(_luhn_windows(d, sid, starts[~after_plus_group], ends))
    after_plus = spans(_luhn_windows(d, sid, starts[after_plus_group], ends))
    # Shapes are read in separator-joined runs only: a word gap is for a Luhn-valid number, not for claiming.
    letters = np.concatenate(([0], np.cumsum(((chars | 32) >= 97) & ((chars | 32) <= 122))))
    word_before = letters[where[starts[1:]]] > letters[where[ends[:-1] - 1] + 1]      # group g+1 after a word
    new_run = np.concatenate(([True], (gsid[1:] != gsid[:-1]) | word_before))
    shapes = _card_shapes(ends - starts, np.cumsum(new_run))
    shapes[after_plus_group] = 0                   # a "+" number is for the phone check to settle
    shaped = [(int(where[starts[g]]), int(where[ends[g + k - 1] - 1]) + 1)
              for g, k in zip(np.flatnonzero(shapes).tolist(), shapes[shapes > 0].tolist())]
    return cards, after_plus, shaped


# ---- e-mail -------------------------------------------------------------------------------------------------------
# The local part is read backwards from each "@" and the domain forwards, each with a bounded pattern that cannot
# backtrack far, so a text with many "@" (or none after a long run of name characters) stays linear.
_LOCAL_CHARS = r"[\w!#$%&'*+/=?^`{|}~.-]"
_LOCAL_REVERSED = re.compile(_LOCAL_CHARS + "{1,64}")
_DOMAIN = re.compile(r"[\w-]{1,63}(?:\.[\w-]{1,63}){1,126}")
_EMAIL_SHAPE = re.compile(r"[^@]+@(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,}")
_EMAIL_CACHE: dict[str, bool] = {}


def _email_ok(candidate: str) -> bool:
    try:
        validate_email(candidate, check_deliverability=False, globally_deliverable=False)
    except EmailNotValidError:
        return False
    return True


def _emails(s: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    if "@" not in s:
        return out
    reversed_s = s[::-1]
    n = len(s)
    checks = 0
    p = s.find("@")
    while p != -1:
        lm = _LOCAL_REVERSED.match(reversed_s, n - p)
        dm = _DOMAIN.match(s, p + 1)
        if lm and dm:
            local = s[p - (lm.end() - lm.start()):p].lstrip(".")
            cand = f"{local}@{dm.group(0).rstrip('-_')}"
            ok = _EMAIL_CACHE.get(cand)
            if ok is None and checks < EMAIL_CHECKS:
                checks += 1
                ok = _email_ok(cand)
                if len(_EMAIL_CACHE) >= _CACHE_SIZE:
                    _EMAIL_CACHE.clear()
                _EMAIL_CACHE[cand] = ok
            elif ok is None:
                ok = bool(local) and bool(_EMAIL_SHAPE.fullmatch(cand))
            if ok:
                out.append((p - len(local), p + 1 + len(dm.group(0).rstrip("-_"))))
        p = s.find("@", p + 1)
    return out


# ---- phone numbers ------------------------------------------------------------------------------------------------
_PHONE_RUN = re.compile(r"(?:\+ ?|\( ?\+? ?)?\d+(?:[ \-./()]{1,4}\d+)*")   # ") - " between groups: 4
_STRONG_PHONE = re.compile(r"^(?:\+\d.*|\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4})$")
# libphonenumber reads some dates and amounts as valid numbers of some region; they are never phone numbers.
_NOT_PHONE = re.compile(r"^(?:\d{1,4}[./-]\d{1,2}[./-]\d{1,4}"          # 01.02.2019, 2019-10-12
                        r"|\d{1,3}(?:[.,]\d{3})+(?:[.,]\d{1,2})?"         # 1,250,000 / 1.250.000,00
                        r"|\d+[.,]\d{1,2})$")                             # 1234567.89
_CURRENCY_BEFORE = re.compile(r"[$£€¥₹]\s?$|\b(?:EUR|USD|GBP|PLN|CHF|INR|BRL)\s?$", re.I)
_PHONE_CACHE: dict[str, bool] = {}
_MIN_PHONE, _MAX_PHONE = 7, 17                     # digits, trunk or international prefix included


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


def _phone_valid(raw: str) -> bool:
    """libphonenumber: a valid number of one of PHONE_REGIONS (or any "+CC" number); a merely possible one for the
    strong shapes "+CC …" and "(555) 123-4567" / "555 123 4567" (fictional and unassigned numbers)."""
    if not _bare_digits_ok(raw):
        return False
    for region in _PARSE_REGIONS:
        try:
            num = phonenumbers.parse(raw, region, keep_raw_input=True)
        except phonenumbers.NumberParseException:
            continue
        if (phonenumbers.is_possible_number(num) and phonenumbers.is_valid_number(num)
                and _trunk_prefix_present(num, raw)):
            return True
        if raw.startswith("+"):
            break                                  # the region plays no part in an international number
    if _STRONG_PHONE.match(raw) and sum(c.isdigit() for c in raw) >= 10:
        try:
            return phonenumbers.is_possible_number(phonenumbers.parse(raw, "US"))
        except phonenumbers.NumberParseException:
            return False
    return False


def _trunk_prefix_present(num, raw: str) -> bool:
    """A national number must carry the trunk prefix its country writes ("2023-118-7765" is no German number, "0202
    3118 7765" could be), as libphonenumber's matcher asks at leniency VALID."""
    if num.country_code_source != phonenumbers.CountryCodeSource.FROM_DEFAULT_COUNTRY:
        return True
    national = _NON_DIGIT.sub("", phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL))
    written = _NON_DIGIT.sub("", raw)
    return not (len(national) > len(written) and national.endswith(written))


class _PhoneBudget:
    """Bounds the work one text can cause: windows looked at and libphonenumber calls. Past either bound, a window
    of phone shape counts as a number (err towards removing)."""

    def __init__(self) -> None:
        self.windows = PHONE_WINDOWS
        self.checks = PHONE_CHECKS

    def valid(self, raw: str) -> bool:
        self.windows -= 1
        ok = _PHONE_CACHE.get(raw)
        if ok is not None and self.windows >= 0:
            return ok
        if self.windows < 0 or self.checks <= 0:
            return True
        self.checks -= 1
        ok = _phone_valid(raw)
        if len(_PHONE_CACHE) >= _CACHE_SIZE:
            _PHONE_CACHE.clear()
        _PHONE_CACHE[raw] = ok
        return ok


def _phones(s: str) -> list[tuple[int, int]]:
    """Runs of digit groups (with "+", brackets and separators); in each, from left to right, the longest window
    of consecutive groups (7-17 digits) that libphonenumber accepts."""
    out: list[tuple[int, int]] = []
    budget = _PhoneBudget()
    for run in _PHONE_RUN.finditer(s):
        if run.end() - run.start() < _MIN_PHONE:
            continue
        groups = [(g.start(), g.end()) for g in _DIGIT_GROUP.finditer(s, run.start(), run.end())]
        lens = [b - a for a, b in groups]
        if sum(lens) < _MIN_PHONE:
            continue
        i = 0
        while i < len(groups):
            j, total = i, 0
            while j < len(groups) and total + lens[j] <= _MAX_PHONE:
                total += lens[j]
                j += 1
            found = False
            while j > i and total >= _MIN_PHONE:
                a = run.start() if i == 0 else groups[i][0]     # the first window keeps its "+" or "("
                b = groups[j - 1][1]
                raw = s[a:b]
                if (not _NOT_PHONE.match(raw) and not _CURRENCY_BEFORE.search(s, max(0, a - 5), a)
                        and budget.valid(raw)):
                    out.append((a, b))
                    found = True
                    break
                j -= 1
                total -= lens[j]
            i = j if found else i + 1
    return out


# ---- all kinds ----------------------------------------------------------------------------------------------------
def _blank(s: str, spans: list[tuple[int, int]]) -> str:
    """`s` with the claimed spans replaced by NUL characters (same length), so later detectors do not read them."""
    if not spans:
        return s
    out, pos = [], 0
    for a, b in sorted(spans):
        if a > pos:
            out.append(s[pos:a])
        if b > pos:
            out.append("\0" * (b - max(a, pos)))
            pos = b
    out.append(s[pos:])
    return "".join(out)


def _overlaps(a: int, b: int, taken: bytearray) -> bool:
    return taken.find(1, a, b) != -1


def _digit_count(s: str) -> int:
    return sum(s.count(d) for d in "0123456789")


def find_pii(text: str) -> list[Match]:
    """All PII matches in `text` (positions in `text` itself), non-overlapping, in order of position."""
    if not text or (len(text) < _MIN_PHONE and text.isascii() and "@" not in text):
        return []                                  # a short table cell (NFKC can make digits of other characters)
    norm = normalize(text)
    s = norm.text
    ndigits = _digit_count(s)
    if "@" not in s and ndigits < 7 and (ndigits < 2 or len(s) < _MIN_IBAN):
        return []                                  # nothing below can match: keeps scanning numeric tables fast
    found: list[tuple[int, int, str]] = []
    taken = bytearray(len(s) + 1)

    def take(kind: str | None, spans) -> None:
        for a, b in spans:
            if kind is not None:
                found.append((a, b, kind))
            taken[a:b] = b"\1" * (b - a)

    ibans, iban_shaped = _ibans(s) if ndigits >= 2 else ([], [])
    take("iban", ibans)
    cards, after_plus, card_shaped = _cards(_blank(s, ibans)) if ndigits >= 13 else ([], [], [])
    take("card", cards)
    # An address is looked for in the text as written, so a card number inside one is removed with it.
    take("email", _emails(s))
    take(None, [(a, b) for a, b in iban_shaped + card_shaped if not _overlaps(a, b, taken)])
    phones = _phones(_blank(s, [(a, b) for a, b, _ in found] + iban_shaped + card_shaped)) if ndigits >= 7 else []
    take("phone", phones)
    for a, b in after_plus:                        # a card after "+" unless a phone number starts there
        if not any(pa <= a < pb for pa, pb in phones):
            take("card", [(a, b)])
    return [Match(kind, a, b, text[a:b]) for a, b, kind in _merged(found, norm)]


def _merged(found: list[tuple[int, int, str]], norm: Normalized) -> list[tuple[int, int, str]]:
    """Overlapping spans joined (kind by _PRECEDENCE), then mapped to the original text."""
    out: list[list] = []
    for a, b, kind in sorted(found):
        if out and a < out[-1][1]:
            last = out[-1]
            last[1] = max(last[1], b)
            last[2] = min(last[2], kind, key=_PRECEDENCE.index)
        else:
            out.append([a, b, kind])
    return [(*norm.original_span(a, b), kind) for a, b, kind in out]


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


def for_message(text: str, limit: int | None = 40) -> str:
    """How a message may quote a cell, a label or a column name: PII replaced by its token, whitespace collapsed,
    cut to `limit` characters. Redaction comes first, so a cut never leaves part of a value in clear."""
    s = " ".join(redact(text or "").split())
    return s if limit is None or len(s) <= limit else s[: limit - 1] + "…"


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
