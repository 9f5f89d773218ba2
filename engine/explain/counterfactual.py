"""The smallest change to one column that flips a decision, searched only among values the training rows hold.

A decision is adverse when P(adverse) ≥ threshold; the flip of an adverse one brings P below it (of a favourable one,
to it or above). Numeric columns: the training percentiles, distance in percentile points of all training rows
(a blank counts as the median). First every 5th percentile, then every percentile between the row's value and the
nearest flip found on each side, so a flip inside a window narrower than 5 percentiles that the coarse pass steps
over can be missed. Categories have no order, so each is next to every other: moving from one to another costs
half the rows of each, the distance two neighbouring values would have on the percentile scale. Only categories
held by at least MIN_SHARE of the training rows are proposed: what a model answers for a value a handful of rows
hold is noise, and would be poor advice.
Two batched calls to the model per applicant.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from engine.data.values import is_missing, number
from engine.explain.occlusion import with_value
from engine.explain.reasons import plain
from engine.explain.reference import Reference, cell

COARSE = 5          # percentile step of the first pass
MIN_SHARE = 0.01    # a category proposed as the change must be held by this share of the training rows


def smallest_flip(predict_pos: Callable[[list[dict]], np.ndarray], row: dict, columns: Sequence[str],
                  reference: Reference, threshold: float) -> dict | None:
    """{column, from, to, probability_before, probability_after, distance, change_words} for the smallest single
    change among `columns` that flips the decision; None when no single change does (see `no_flip_words`)."""
    unknown = [c for c in columns if c not in reference.columns]
    if unknown:
        raise ValueError(f"columns {unknown} are not in the reference: it was fitted on {reference.columns}")
    before = float(np.asarray(predict_pos([dict(row)]), dtype=np.float64).reshape(-1)[0])
    adverse = before >= threshold
    flips = (lambda p: p < threshold) if adverse else (lambda p: p >= threshold)
    coarse = [c for col in columns for c in _candidates(row, col, reference, COARSE)]
    scored = _score(predict_pos, row, coarse)
    fine = _refinements(row, columns, reference, scored, flips)
    scored += _score(predict_pos, row, fine)
    hits = [(dist, -abs(p - threshold), list(columns).index(col), col, to, p)
            for col, to, dist, p in scored if flips(p)]
    if not hits:
        return None
    dist, _, _, col, to, after = min(hits, key=lambda h: h[:3])
    was = row.get(col)
    return {"column": col, "from": "" if is_missing(was) else str(was), "to": to,
            "probability_before": round(before, 4), "probability_after": round(after, 4),
            "distance": round(dist, 2),
            "change_words": _words(col, was, to, before, after, threshold, reference)}


def no_flip_words(reference: Reference, threshold: float) -> str:
    """What to say for an adverse decision that no single change flips."""
    return (f"No change to a single column, within the values the training rows hold, brings the probability of "
            f"{plain(reference.adverse)} below {threshold:.2f}.")


def _candidates(row: dict, col: str, reference: Reference, step: int) -> list[tuple[str, str, float]]:
    """(column, new value, distance) for one column: training percentiles every `step` (numeric) or each category."""
    if col in reference.numeric:
        grid = reference.quantiles[col]["all"]
        if not grid:
            return []
        x = number(row.get(col))
        here = reference.percentile(col, x)
        values = sorted({grid[i] for i in range(0, len(grid), step)} | {grid[-1]})
        return [(col, cell(v), abs(reference.percentile(col, v) - here)) for v in values if v != x]
    counts = reference.categories.get(col, {})
    total = reference.n_rows or 1
    was = "" if is_missing(row.get(col)) else str(row.get(col))
    share_was = sum(counts.get(was, {}).values()) / total
    return [(col, v, 100 * (share_was + sum(n.values()) / total) / 2) for v, n in counts.items()
            if v and v != was and sum(n.values()) / total >= MIN_SHARE]


def _refinements(row: dict, columns: Sequence[str], reference: Reference, scored: list, flips) -> list:
    """Every training percentile of a numeric column between the row's value and the nearest coarse flip on each
    side (the side is which way the value moves)."""
    out = []
    for col in columns:
        if col not in reference.numeric:
            continue
        x = number(row.get(col))
        here = reference.percentile(col, x)
        tried = {to for c, to, _, _ in scored if c == col}
        for side in (-1, 1):
            hit = [(dist, number(to)) for c, to, dist, p in scored
                   if c == col and flips(p) and np.sign(reference.percentile(col, number(to)) - here) == side]
            if not hit:
                continue
            reach = min(hit)[0]
            for cand_col, to, dist in _candidates(row, col, reference, 1):
                moves = np.sign(reference.percentile(col, number(to)) - here)
                if moves == side and dist < reach and to not in tried:
                    out.append((cand_col, to, dist))
                    tried.add(to)
    return out


def _score(predict_pos, row: dict, candidates: list) -> list[tuple[str, str, float, float]]:
    if not candidates:
        return []
    p = np.asarray(predict_pos([with_value(row, col, to) for col, to, _ in candidates]), dtype=np.float64)
    return [(col, to, dist, float(q)) for (col, to, dist), q in zip(candidates, p.reshape(-1))]


def _words(col: str, was, to: str, before: float, after: float, threshold: float, reference: Reference) -> str:
    shown_was = "blank" if is_missing(was) else plain(was)
    if col in reference.numeric:
        x = number(was)
        where = (f" (from the {_ordinal(reference.percentile(col, x))} to the "
                 f"{_ordinal(reference.percentile(col, number(to)))} percentile of training rows)"
                 if x is not None else "")
    else:
        held = sum(reference.categories.get(col, {}).get(to, {}).values())
        where = f" (a value {held} training rows hold)"
    side = "below" if after < threshold else "to or above"
    return (f"{plain(col)}: {shown_was} → {plain(to)}{where} would move the probability of "
            f"{plain(reference.adverse)} from {before:.2f} to {after:.2f}, {side} the threshold {threshold:.2f}")


def _ordinal(p: float) -> str:
    n = int(round(p))
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
