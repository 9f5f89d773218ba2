"""Customer data protection for what ftbot keeps: questions are redacted before they are stored, exports are
spreadsheet-safe, server errors shown in Slack carry no paths.

FTBOT_REDACT_QUESTIONS says which kinds of personal data are replaced in a stored question:
  on | all (default)   card numbers, IBANs, e-mail addresses, phone numbers
  cards | off          card numbers only — a full card number is never stored (PCI DSS), whatever the setting
  card,email,…         a comma-separated list of kinds (iban, card, email, phone); card is always added
The model still answers the original text; only the stored copy (and anything echoed back) is redacted.

The detectors are engine.data.pii's (owned by the data layer); `redact_question` below is the one seam to them.
"""
from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Iterable, Mapping

from engine.errors import ConfigError

ALL_KINDS = ("card", "iban", "email", "phone")
ALWAYS = ("card",)                  # PCI DSS: a primary account number is never stored in clear
SETTING = "FTBOT_REDACT_QUESTIONS"


def question_kinds(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The kinds FTBOT_REDACT_QUESTIONS asks to redact (always including card numbers)."""
    env = os.environ if env is None else env
    raw = (env.get(SETTING) or "").strip().lower()
    if raw in ("", "on", "all", "yes", "true", "1"):
        return ALL_KINDS
    if raw in ("cards", "card", "off", "no", "false", "0"):
        return ALWAYS
    kinds = [k.strip() for k in raw.split(",") if k.strip()]
    bad = [k for k in kinds if k not in ALL_KINDS]
    if bad:
        raise ConfigError(SETTING, raw, "on (all kinds), cards (card numbers only) or a list of "
                                        + ", ".join(ALL_KINDS))
    return tuple(dict.fromkeys(list(ALWAYS) + kinds))


def redact_question(text: str, kinds: Iterable[str] | None = None) -> tuple[str, dict]:
    """(text with the chosen kinds of PII replaced by [CARD]/[IBAN]/[EMAIL]/[PHONE], {kind: count})."""
    kinds = tuple(dict.fromkeys(list(ALWAYS) + list(question_kinds() if kinds is None else kinds)))
    try:  # the data layer's own question redactor, once it has one
        from engine.data.pii import redact_question as engine_redact
    except ImportError:
        engine_redact = None
    if engine_redact is not None:
        return engine_redact(text, kinds=kinds)
    from engine.data.pii import find_pii, redact
    matches = [m for m in find_pii(text or "") if m.kind in kinds]
    counts: dict[str, int] = {}
    for m in matches:
        counts[m.kind] = counts.get(m.kind, 0) + 1
    return (redact(text, matches) if matches else (text or "")), counts


# ---- spreadsheet-safe CSV ----------------------------------------------------------------------------------
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula (= + - @, tab, CR) gets a leading `'`
    (OWASP's CSV-injection advice), so `=HYPERLINK(…)` in a customer's question never runs on an analyst's machine."""
    s = "" if value is None else str(value)
    return "'" + s if s.startswith(_FORMULA_START) else s


def write_csv(path, fieldnames: list[str], rows: Iterable[Mapping]) -> int:
    """Write `rows` atomically (temp file + rename) with every cell made safe. Returns the row count."""
    out = Path(path)
    tmp = out.with_name(out.name + ".tmp")
    n = 0
    with tmp.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(fieldnames)
        for r in rows:
            w.writerow([safe_cell(r.get(k)) for k in fieldnames])
            n += 1
    tmp.replace(out)
    return n


# ---- what Slack may show -------------------------------------------------------------------------------------
# Absolute POSIX paths (/home/…, /srv/…) and Windows drive paths; the last part (a file name) is kept.
_PATH = re.compile(r"(?:(?<![\w.])/(?:[\w.@+~-]+/)+|\b[A-Za-z]:\\(?:[^\\\s]+\\)+)(?=[\w.@+~-])")
_INTERNALS = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+")


def scrub_paths(text) -> str:
    """`text` with server paths cut to their last part (`/home/ml/.ftbot/runs/7/x.bin` → `…/x.bin`)."""
    return _PATH.sub("…/", "" if text is None else str(text))


def has_internals(text) -> bool:
    s = "" if text is None else str(text)
    return bool(_INTERNALS.search(s)) or _PATH.search(s) is not None
