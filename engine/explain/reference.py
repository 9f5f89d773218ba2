"""The reference population reasons are measured against, fitted once from a run's training rows and saved with it.

Per numeric column: percentiles among favourable rows and among all rows (observed values, so a counterfactual only
proposes values the training rows hold), min/max and blanks by label. Per categorical column: how often each value
carries each label. Per column the typical value of favourable rows (median / mode), and a small seeded, stratified
sample of training rows: the background that attributions are taken against.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from engine.data.values import is_missing, number

GRID = np.linspace(0.0, 1.0, 101)   # percentiles 0, 1, …, 100
SAMPLE_ROWS = 200                   # background rows: interventional tree SHAP costs grow linearly with them
MAX_VALUES = 100                    # categorical values kept per column (the most frequent); rarer ones get no rate
VERSION = 1


def cell(value) -> str:
    """A value as the cell text the models read: integers without ".0", blanks as ""."""
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        x = float(value)
        return str(int(x)) if x.is_integer() else f"{x:.10g}"
    return str(value)


@dataclass
class Reference:
    columns: list[str]
    numeric: list[str]
    favourable: str
    labels: list[str]                                   # every training label, sorted
    counts: dict[str, int]                              # label → training rows
    quantiles: dict[str, dict] = field(default_factory=dict)     # numeric column → {favourable, all, min, max, blank}
    categories: dict[str, dict] = field(default_factory=dict)    # categorical column → value → {label: rows}
    typical: dict[str, str] = field(default_factory=dict)        # column → typical value of favourable rows
    sample: list[dict] = field(default_factory=list)             # background rows; every prefix is stratified
    sample_labels: list[str] = field(default_factory=list)

    # ---- fitting --------------------------------------------------------------------------------------------
    @classmethod
    def fit(cls, rows: Sequence[dict], labels: Sequence[str], columns: Sequence[str], numeric: Sequence[str],
            favourable: str, sample_size: int = SAMPLE_ROWS, seed: int = 0) -> "Reference":
        """From the training rows ({column: value}), their labels, the numeric columns and the favourable label."""
        labels, favourable = [str(v) for v in labels], str(favourable)
        if len(rows) != len(labels):
            raise ValueError(f"{len(rows)} rows but {len(labels)} labels")
        if favourable not in labels:
            raise ValueError(f"favourable label {favourable!r} is not among the training labels")
        y = np.asarray(labels)
        fav = y == favourable
        ref = cls(list(columns), [c for c in columns if c in set(numeric)], favourable, sorted(set(labels)),
                  {k: int(v) for k, v in Counter(labels).items()})
        for c in ref.columns:
            vals = [r.get(c) for r in rows]
            if c in ref.numeric:
                ref._fit_numeric(c, vals, y, fav)
            else:
                ref._fit_categorical(c, vals, y, fav)
        ref.sample, ref.sample_labels = _stratified(rows, labels, ref.columns, sample_size, seed)
        return ref

    def _fit_numeric(self, c: str, vals: list, y: np.ndarray, fav: np.ndarray) -> None:
        x = np.asarray([np.nan if number(v) is None else number(v) for v in vals], dtype=np.float64)
        present = ~np.isnan(x)
        blank = {k: int(n) for k, n in Counter(y[~present].tolist()).items()}
        q_all = _grid(x[present])
        q_fav = _grid(x[present & fav])
        self.quantiles[c] = {"all": q_all, "favourable": q_fav,
                             "min": q_all[0] if q_all else None, "max": q_all[-1] if q_all else None,
                             "blank": blank}
        self.typical[c] = cell(q_fav[50]) if q_fav else ""          # the lower median: an observed value

    def _fit_categorical(self, c: str, vals: list, y: np.ndarray, fav: np.ndarray) -> None:
        keys = ["" if is_missing(v) else str(v) for v in vals]
        table: dict[str, Counter] = {}
        for k, lab in zip(keys, y.tolist()):
            table.setdefault(k, Counter())[lab] += 1
        kept = sorted(table, key=lambda k: (-sum(table[k].values()), k))[:MAX_VALUES]
        self.categories[c] = {k: dict(table[k]) for k in kept}
        fav_counts = Counter(k for k, f in zip(keys, fav.tolist()) if f)
        self.typical[c] = min(fav_counts, key=lambda k: (-fav_counts[k], k)) if fav_counts else ""

    # ---- reading ----------------------------------------------------------------------------------------------
    @property
    def adverse(self) -> str:
        """How rows that are not favourable are named: the other label of two, else "not <favourable>"."""
        others = [v for v in self.labels if v != self.favourable]
        return others[0] if len(others) == 1 else f"not {self.favourable}"

    @property
    def n_rows(self) -> int:
        """How many training rows the reference was fitted on."""
        return int(sum(self.counts.values()))

    def adverse_share(self, counts: dict[str, int] | None = None) -> float:
        """Share of rows not labelled favourable, overall or within `counts` ({label: rows})."""
        counts = self.counts if counts is None else counts
        total = sum(counts.values())
        return (total - counts.get(self.favourable, 0)) / total if total else float("nan")

    def percent_below(self, column: str, x: float, among: str = "favourable") -> int:
        """Whole percent of rows (favourable or all) with a value below x, never rounded up."""
        q = self.quantiles[column][among]
        return int(sum(v < x for v in q[1:])) if q else 0

    def percent_above(self, column: str, x: float, among: str = "favourable") -> int:
        """Whole percent of rows (favourable or all) with a value above x, never rounded up."""
        q = self.quantiles[column][among]
        return int(sum(v > x for v in q[:-1])) if q else 0

    def percentile(self, column: str, x: float | None) -> float:
        """Mid-rank percentile of x among all training rows (0–100); a blank sits at the median."""
        if x is None:
            return 50.0
        return (self.percent_below(column, x, "all") + 100 - self.percent_above(column, x, "all")) / 2

    def value_counts(self, column: str, value) -> dict[str, int] | None:
        """{label: rows} of training rows holding this value (numeric: blanks only), None if it was not kept."""
        if column in self.numeric:
            return self.quantiles[column]["blank"] if is_missing(value) else None
        return self.categories.get(column, {}).get("" if is_missing(value) else str(value))

    def sample_rows(self, label: str | None = None) -> list[dict]:
        """The background rows, or those of one label."""
        return [r for r, y in zip(self.sample, self.sample_labels) if label is None or y == label]

    # ---- saving ---------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"version": VERSION, "columns": self.columns, "numeric": self.numeric, "favourable": self.favourable,
                "labels": self.labels, "counts": self.counts, "quantiles": self.quantiles,
                "categories": self.categories, "typical": self.typical, "sample": self.sample,
                "sample_labels": self.sample_labels}

    @classmethod
    def from_dict(cls, d: dict) -> "Reference":
        if d.get("version") != VERSION:
            raise ValueError(f"reference version {d.get('version')!r} is not {VERSION}: refit it from the run's "
                             "training rows")
        return cls(list(d["columns"]), list(d["numeric"]), d["favourable"], list(d["labels"]), dict(d["counts"]),
                   {k: dict(v) for k, v in d["quantiles"].items()}, {k: dict(v) for k, v in d["categories"].items()},
                   dict(d["typical"]), [dict(r) for r in d["sample"]], list(d["sample_labels"]))


def _grid(x: np.ndarray) -> list[float]:
    """Percentiles 0…100 as observed values (inverted CDF), [] when nothing is present."""
    if not x.size:
        return []
    return [float(v) for v in np.quantile(x, GRID, method="inverted_cdf")]


def _stratified(rows: Sequence[dict], labels: list[str], columns: list[str], size: int, seed: int
                ) -> tuple[list[dict], list[str]]:
    """Up to `size` rows, each label in its training share (at least one row each), drawn with a fixed seed. The
    labels are interleaved in proportion, so every prefix of the sample is itself stratified (a model that is
    costly per reference row can take the first few)."""
    rng = np.random.default_rng(seed)
    y = np.asarray(labels)
    n = len(labels)
    placed: list[tuple[float, str, int]] = []
    for lab in sorted(set(labels)):
        idx = np.flatnonzero(y == lab)
        k = min(len(idx), max(1, int(round(size * len(idx) / n)))) if n > size else len(idx)
        chosen = rng.choice(idx, size=k, replace=False)
        placed += [((r + 0.5) / k, lab, int(i)) for r, i in enumerate(chosen)]
    placed.sort()
    keep = set(columns)
    return ([{c: cell(v) for c, v in rows[i].items() if c in keep and not is_missing(v)} for _, _, i in placed],
            [labels[i] for _, _, i in placed])
