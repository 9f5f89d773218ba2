"""Tabular rows as text, so the same encoder that reads customer messages can learn from credit records."""
from __future__ import annotations


def _clean(value) -> str:
    # One line per row: newlines and runs of spaces inside a value would only add noise tokens.
    return " ".join(str(value).split()) if value is not None else ""


def serialize_row(row: dict, columns: list[str]) -> str:
    """`"checking_account: 0 to 200 DM; duration_months: 60; …"` over `columns` in order; empty values skipped."""
    parts = []
    for c in columns:
        v = _clean(row.get(c))
        if v:
            parts.append(f"{c}: {v}")
    return "; ".join(parts)
