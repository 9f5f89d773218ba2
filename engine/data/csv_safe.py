"""Spreadsheet-safe CSV for files people open in Excel, LibreOffice or Google Sheets (`export-feedback`).

A cell that begins with = + - @, a tab or a carriage return may run as a formula when the file is opened
(OWASP "CSV injection"): `=HYPERLINK("http://evil", "click")` leaks data, `=cmd|' /C calc'!A0` runs programs.
Such cells are written with a leading apostrophe, which spreadsheets show as plain text. Plain numbers ("-5",
"+3.2", "1,000") are left alone: they evaluate to themselves.

Why not the `defusedcsv` package: it leaves cells starting with a tab or carriage return alone, rewrites every
"|" inside an escaped cell to "\\|", and has no way back; here the escaping is one rule, documented, reversible:
`unescape_cell(escape_cell(v)) == v` for every string (a cell that already starts with apostrophes before a
dangerous character gets one more, so reading back strips exactly one).

    write_csv(path_or_file, header, rows)      rows: iterables of cells, or dicts when header is given
    escape_cell(value) / unescape_cell(value)
    read_csv(path) -> (header, rows)           rows as lists of unescaped strings
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Iterable

DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d+)*|[.,]\d+)(?:[eE][+-]?\d+)?%?")


def _needs_quote(s: str) -> bool:
    rest = s.lstrip("'")
    if not rest or rest[0] not in DANGEROUS_START:
        return False
    return len(rest) != len(s) or not _PLAIN_NUMBER.fullmatch(s)


def escape_cell(value) -> str:
    """The cell as text a spreadsheet will not evaluate (None → "")."""
    if value is None:
        return ""
    s = value if isinstance(value, str) else str(value)
    return "'" + s if _needs_quote(s) else s


def unescape_cell(value: str) -> str:
    """Inverse of escape_cell: one apostrophe comes off exactly when escape_cell put it there."""
    return value[1:] if value.startswith("'") and _needs_quote(value[1:]) else value


def write_csv(target, header: list[str] | None, rows: Iterable) -> int:
    """Write `rows` (lists of cells, or dicts keyed by `header`) as UTF-8 CSV with every cell escaped.
    `target` is a path or an open text file (opened with newline=""). Returns the number of data rows."""
    def emit(f) -> int:
        w = csv.writer(f)          # excel dialect: CRLF rows (RFC 4180), cells holding \r or \n quoted
        if header is not None:
            w.writerow([escape_cell(h) for h in header])
        n = 0
        for row in rows:
            cells = [row.get(h) for h in header] if isinstance(row, dict) and header is not None else row
            w.writerow([escape_cell(c) for c in cells])
            n += 1
        return n

    if isinstance(target, (str, Path)):
        with open(target, "w", encoding="utf-8", newline="") as f:
            return emit(f)
    return emit(target)


def read_csv(source) -> tuple[list[str], list[list[str]]]:
    """Read a file written by write_csv back into the original strings."""
    if isinstance(source, (str, Path)):
        with open(source, encoding="utf-8", newline="") as f:     # newline="": a \r inside a cell survives
            text = f.read()
    else:
        text = source.read()
    rows = [[unescape_cell(c) for c in r] for r in csv.reader(io.StringIO(text, newline=""))]
    return (rows[0], rows[1:]) if rows else ([], [])
