"""Column features for tabular data: the raw columns, beside the text embedding, as inputs of the head.

A credit record serialized to text ("duration_months: 42; credit_amount: 4350; …") is what the encoder reads, but a
small transformer reads numbers poorly: it sees word pieces, not magnitudes. With `column_features` the head also
gets each numeric column standardised (train mean / std; blank → 0, the mean) and each other column one-hot over
its training values (unseen → all zero), i.e. what a logistic regression on the raw columns sees, so the model
starts from that and the encoder adds what the text carries.

The features are parsed back from the serialized text, so every path that has the text (training, evaluation on
another file, `ask`) gets them without carrying the raw rows along; the fitted encoding is saved with the run
(`features.json`).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from engine.data.values import is_missing, number, numeric_columns

MAX_CATEGORIES = 50   # per column; rarer values share the all-zero code with unseen ones
SKEW_LOG = 2.0        # |skewness| above this: the column is read as sign(x)·log1p(|x|) before standardising, so a
                      # few huge bills or payments (Taiwan credit) do not squash every other row to ~0


def _signed_log(x):
    return np.sign(x) * np.log1p(np.abs(x))


def _skew(arr: np.ndarray) -> float:
    sd = arr.std()
    return 0.0 if sd == 0 else float(np.mean(((arr - arr.mean()) / sd) ** 3))


def parse(text: str, columns: Sequence[str]) -> dict[str, str]:
    """Invert engine.data.serialize_row: "a: 1; b: x" → {"a": "1", "b": "x"}. A value that itself contains "; "
    stays whole, because a piece that does not start with a known column continues the previous value."""
    known, out, last = set(columns), {}, None
    for piece in str(text).split("; "):
        key, sep, value = piece.partition(": ")
        if sep and key in known and key not in out:
            out[key], last = value, key
        elif last is not None:
            out[last] += "; " + piece
    return out


@dataclass
class ColumnFeatures:
    columns: list[str]
    numeric: dict[str, list[float]] = field(default_factory=dict)      # column → [mean, std]
    categories: dict[str, list[str]] = field(default_factory=dict)     # column → values, one-hot in this order
    logged: list[str] = field(default_factory=list)                     # numeric columns read on a log scale

    @property
    def dim(self) -> int:
        return len(self.numeric) + sum(len(v) for v in self.categories.values())

    @classmethod
    def fit(cls, texts: Sequence[str], columns: Sequence[str]) -> "ColumnFeatures":
        rows = [parse(t, columns) for t in texts]
        enc = cls(list(columns))
        numeric = set(numeric_columns(rows, columns))     # the same rule as the sklearn baselines on raw columns
        for c in columns:
            present = [r[c] for r in rows if not is_missing(r.get(c))]
            if c in numeric:
                arr = np.asarray([number(v) for v in present], dtype=np.float64)
                if arr.size and abs(_skew(arr)) > SKEW_LOG:
                    enc.logged.append(c)
                    arr = _signed_log(arr)
                std = float(arr.std())
                enc.numeric[c] = [float(arr.mean()), std if std > 0 else 1.0]
            elif present:
                counts = Counter(present)
                enc.categories[c] = sorted(counts, key=lambda v: (-counts[v], v))[:MAX_CATEGORIES]
        return enc

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        index = {c: {v: i for i, v in enumerate(vals)} for c, vals in self.categories.items()}
        logged = set(self.logged)
        for i, text in enumerate(texts):
            row, j = parse(text, self.columns), 0
            for c in self.columns:
                if c in self.numeric:
                    x = number(row.get(c))
                    mean, std = self.numeric[c]
                    if x is not None and c in logged:
                        x = float(_signed_log(x))
                    out[i, j] = 0.0 if x is None else (x - mean) / std
                    j += 1
                elif c in self.categories:
                    k = index[c].get(row.get(c, ""))
                    if k is not None:
                        out[i, j + k] = 1.0
                    j += len(self.categories[c])
        return out

    def to_dict(self) -> dict:
        return {"columns": self.columns, "numeric": self.numeric, "categories": self.categories, "logged": self.logged}

    @classmethod
    def from_dict(cls, d: dict) -> "ColumnFeatures":
        return cls(list(d["columns"]), {k: list(v) for k, v in d.get("numeric", {}).items()},
                   {k: list(v) for k, v in d.get("categories", {}).items()}, list(d.get("logged", [])))

    def model_text(self, text: str, mode: str = "full") -> str:
        """What the encoder reads of a serialized row. 'categories': only the non-numeric columns, because the
        numbers already reach the head as standardised features and a small encoder reads digits as word pieces,
        not magnitudes; Taiwan credit rows shrink from ~160 to ~60 tokens, German Credit's from ~150 to ~110."""
        if mode != "categories" or not self.categories:    # an all-numeric table keeps its full text
            return text
        row = parse(text, self.columns)
        return "; ".join(f"{c}: {row[c]}" for c in self.columns if c not in self.numeric and row.get(c))

    def model_texts(self, texts: Sequence[str], mode: str = "full") -> list[str]:
        return [self.model_text(t, mode) for t in texts]

    def describe(self) -> str:
        return (f"{self.dim} column features ({len(self.numeric)} numeric standardised"
                + (f", {len(self.logged)} of them on a log scale" if self.logged else "")
                + f", {len(self.categories)} categorical one-hot)")
