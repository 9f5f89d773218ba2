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
    from engine.data.pii import redact_question as engine_redact
    return engine_redact(text or "", kinds=kinds)


# ---- spreadsheet-safe CSV ----------------------------------------------------------------------------------
def write_csv(path, fieldnames: list[str], rows: Iterable[Mapping]) -> int:
    """Write `rows` atomically (temp file + rename) as spreadsheet-safe CSV (engine/data/csv_safe.py: a cell that
    starts like a formula gets a leading `'`, plain numbers stay numbers). Returns the row count."""
    from engine.data.csv_safe import write_csv as write_safe
    out = Path(path)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        n = write_safe(f, list(fieldnames), [dict(r) for r in rows])
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
