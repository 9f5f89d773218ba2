"""Reading one cell of a table: is it blank, is it a number. Shared by the sklearn baselines on raw columns
(engine/evaluation/baseline.py) and the model's column features (engine/features.py), so both call the same
columns numeric."""
from __future__ import annotations

import math
from typing import Sequence

MISSING = ("", "na", "nan", "null", "none")


def is_missing(v) -> bool:
    return v is None or str(v).strip().lower() in MISSING


def number(v) -> float | None:
    """The cell as a finite float, or None (blank, not a number, or infinite)."""
    if is_missing(v):
        return None
    try:
        x = float(str(v).strip())
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def is_number(v) -> bool:
    """A finite number or blank (blanks do not make a column non-numeric)."""
    return is_missing(v) or number(v) is not None


def numeric_columns(rows: Sequence[dict], columns: Sequence[str]) -> list[str]:
    """Columns whose every value parses as a finite number (blanks count as missing) and that are not all blank."""
    out = []
    for c in columns:
        vals = [r.get(c) for r in rows]
        if all(is_number(v) for v in vals) and not all(is_missing(v) for v in vals):
            out.append(c)
    return out
