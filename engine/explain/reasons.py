"""Reasons in plain words: the columns that push a row towards the adverse outcome, strongest first, each said as
`COLUMN: value — where that value stands among the training rows`.

Which columns: those with a positive attribution to P(adverse), at most k. An adverse decision always gets at least
one: when no column pushes above the reference (the decision threshold lies below the reference's mean score), the
columns that count most against the applicant — the largest attributions — are given, so 1–4 reasons always come
back for a table with a column.
"""
from __future__ import annotations

import unicodedata
from typing import Sequence

import numpy as np

from engine.data.values import is_missing, number
from engine.explain.reference import Reference

MAX_REASONS = 4
MAX_VALUE_CHARS = 60
POSITIVE = 1e-9          # an attribution above this pushes towards the adverse outcome (below: rounding noise)


def reason_columns(attr_row: np.ndarray, k: int = MAX_REASONS, minimum: int = 1) -> list[int]:
    """Indices of the reason columns, strongest first: positive attributions (at most k), topped up to `minimum`
    with the largest remaining ones. Ties keep column order, so the same attributions give the same reasons."""
    a = np.nan_to_num(np.asarray(attr_row, dtype=np.float64), nan=-np.inf)
    order = sorted(range(len(a)), key=lambda j: (-a[j], j))
    chosen = [j for j in order if a[j] > POSITIVE][:k]
    for j in order:
        if len(chosen) >= min(minimum, k):
            break
        if j not in chosen:
            chosen.append(j)
    return chosen


def reasons(attr_row: np.ndarray, row: dict, reference: Reference, k: int = MAX_REASONS, *,
            columns: Sequence[str] | None = None, minimum: int = 1) -> list[str]:
    """`COLUMN: plain words` for the reason columns of one row (see `reason_columns`); attr_row follows `columns`
    (default: reference.columns). minimum=0 gives only the columns that push towards the adverse outcome."""
    columns = list(columns or reference.columns)
    if len(attr_row) != len(columns):
        raise ValueError(f"{len(attr_row)} attributions for {len(columns)} columns")
    return [f"{plain(columns[j])}: {describe(columns[j], row.get(columns[j]), reference)}"
            for j in reason_columns(attr_row, k, minimum)]


def describe(column: str, value, reference: Reference) -> str:
    """Where one value stands: numeric against favourable rows' percentiles, a category (or a blank) by how often
    rows holding it carry the adverse label."""
    adverse, favourable = reference.adverse, reference.favourable
    x = number(value) if column in reference.numeric else None
    if x is not None:
        below = reference.percent_below(column, x)
        above = reference.percent_above(column, x)
        if below >= 50:
            return f"{plain(value)} — higher than {below} % of rows labelled {plain(favourable)}"
        if above >= 50:
            return f"{plain(value)} — lower than {above} % of rows labelled {plain(favourable)}"
        return (f"{plain(value)} — near the middle of rows labelled {plain(favourable)} (typical "
                f"{plain(reference.typical.get(column)) or 'blank'})")
    shown = "blank" if is_missing(value) else plain(value)
    counts = reference.value_counts(column, value)
    overall = _percent(reference.adverse_share())
    if not counts:
        return f"{shown} — not seen in the training rows"
    rows = sum(counts.values())
    what = "with it blank" if is_missing(value) else "with this value"
    return (f"{shown} — {_percent(reference.adverse_share(counts))} % of {rows} rows {what} are labelled "
            f"{plain(adverse)} ({overall} % overall)")


def plain(value) -> str:
    """A value safe to show anywhere: control characters dropped, whitespace collapsed, at most MAX_VALUE_CHARS."""
    if value is None:
        return ""
    s = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in str(value))
    s = " ".join(s.split())
    return s if len(s) <= MAX_VALUE_CHARS else s[:MAX_VALUE_CHARS - 1] + "…"


def _percent(share: float) -> int:
    return int(round(100 * share)) if np.isfinite(share) else 0
