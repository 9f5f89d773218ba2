"""`key=value` options of Slack's `dataset add` — the CLI's --redact, --dedupe, --text-column, --label-column:

  /ft dataset add NAME PATH redact=yes dedupe=yes text=COLUMN label=COLUMN
  @ftbot dataset add NAME redact=yes label=intent        (with the file attached)

Pure parsing, shared by the slash command (bot/slash_text.py) and the file-share mention (bot/listeners/files.py).
"""
from __future__ import annotations

import re

from engine.errors import ConfigError

# Slack key → ops.datasets.register keyword
KEYS = {"redact": "redact", "dedupe": "dedupe", "text": "text_column", "label": "label_column",
        "text_column": "text_column", "label_column": "label_column"}
_FLAGS = {"redact", "dedupe"}
_YES = {"yes", "y", "true", "on", "1"}
_NO = {"no", "n", "false", "off", "0"}
_KV = re.compile(r"^([A-Za-z_]+)=(.*)$", re.S)
USAGE = "redact=yes, dedupe=yes, text=COLUMN, label=COLUMN"


def split_options(words: list[str]) -> tuple[list[str], dict]:
    """(the plain words, {register keyword: value}) — raises ConfigError naming a bad key or value."""
    plain, options = [], {}
    for w in words:
        m = _KV.match(w)
        if not m:
            plain.append(w)
            continue
        key, value = m.group(1).lower(), m.group(2).strip()
        if key not in KEYS:
            raise ConfigError(key[:40], value[:40], f"dataset add takes {USAGE}")
        target = KEYS[key]
        if key in _FLAGS:
            if value.lower() not in _YES | _NO:
                raise ConfigError(key, value[:40], "yes or no")
            options[target] = value.lower() in _YES
        else:
            if not value:
                raise ConfigError(key, value, "a column name of the file")
            options[target] = value[:200]
    return plain, options
