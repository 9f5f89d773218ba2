"""Population stability: do new rows (and the model's scores on them) fall into the training bins in the same
proportions as the training rows did?

The bins and training proportions are fixed once, from the training rows, and saved with the run
(`DriftReference.to_dict`), so drift can be computed later without the training data. PSI over-reads small
samples: with few rows some bins come out empty or doubled by chance alone. So the reference also records how many
rows a comparison needs before sampling noise alone stays under the "stable" line (`min_rows`, found by
simulation), and a comparison on fewer rows carries a caution.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from engine.data.values import is_missing, number

STABLE_BELOW = 0.10           # PSI < 0.10 stable, 0.10–0.25 moderate, ≥ 0.25 significant (the usual credit bands)
SIGNIFICANT_FROM = 0.25
EPS = 1e-4                    # floor for an empty bin's share (0.01 %), so an empty bin adds a large but finite term
RARE_SHARE = 0.01             # training categories rarer than 1 % share the "other" bin with unseen values
MAX_CATEGORIES = 20           # at most this many named categories per column; the rest go to "other"
NOISE_DRAWS = 400             # simulated no-drift samples per noise estimate
NOISE_QUANTILE = 95           # min_rows: 95 % of no-drift samples of that size stay under STABLE_BELOW
MAX_ROWS_SEARCHED = 1_000_000
SCORE = "model score"         # the score's name in `flagged` (a column may well be called "score")


def band(value: float | None) -> str | None:
    """'stable' (< 0.10), 'moderate' (0.10–0.25) or 'significant' (≥ 0.25); None for no figure."""
    if value is None:
        return None
    return "stable" if value < STABLE_BELOW else "moderate" if value < SIGNIFICANT_FROM else "significant"


def _terms(expected, actual, eps: float = EPS) -> np.ndarray:
    """Each bin's (a − e)·ln(a / e), shares below `eps` counted as `eps` (works on share vectors and matrices)."""
    e = np.maximum(np.asarray(expected, dtype=float), eps)
    a = np.maximum(np.asarray(actual, dtype=float), eps)
    return (a - e) * np.log(a / e)


def psi(expected_props: Sequence[float], actual_props: Sequence[float], eps: float = EPS) -> float:
    """Population stability index Σ (a − e)·ln(a / e) over bins. Shares below `eps` (an empty bin, on either side)
    count as `eps`, so a bin empty in training but filled now (an unseen category) weighs heavily but finitely;
    a bin empty on both sides adds nothing."""
    return float(np.sum(_terms(expected_props, actual_props, eps)))


def _psi_rows(expected: np.ndarray, actual: np.ndarray, eps: float = EPS) -> np.ndarray:
    """psi() for each row of two (draws × bins) share matrices."""
    return np.sum(_terms(expected, actual, eps), axis=-1)


def noise_psi(props: Sequence[float], reference_rows: int, rows: int, draws: int = NOISE_DRAWS,
              seed: int = 0) -> float:
    """The NOISE_QUANTILE-th percentile of PSI when nothing has drifted: a reference of `reference_rows` and a
    sample of `rows`, both drawn from the same shares `props`."""
    p = np.asarray(props, dtype=float)
    p = p / p.sum()
    rng = np.random.default_rng(seed)
    ref = rng.multinomial(reference_rows, p, size=draws) / reference_rows
    new = rng.multinomial(rows, p, size=draws) / rows
    return float(np.percentile(_psi_rows(ref, new), NOISE_QUANTILE))


def rows_needed(props: Sequence[float], reference_rows: int) -> int | None:
    """Fewest rows for which no-drift PSI stays under STABLE_BELOW in NOISE_QUANTILE % of samples; None when even
    MAX_ROWS_SEARCHED rows do not get there (the reference itself is too small to compare against)."""
    if reference_rows <= 0:
        return None

    def fits(n: int) -> bool:          # the same seed at every n keeps the search smooth
        return noise_psi(props, reference_rows, n) < STABLE_BELOW

    if not fits(MAX_ROWS_SEARCHED):
        return None
    lo, hi = 1, MAX_ROWS_SEARCHED
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(mid) else (mid + 1, hi)
    return lo


@dataclass
class Bins:
    """One column's bins. Numeric: value bins cut at `edges` (first and last open-ended) then "missing".
    Categorical: one bin per category, then "other" (rare or unseen), then "missing". `props`: training shares."""

    kind: str                                   # "numeric" | "categorical"
    edges: list[float] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    props: list[float] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.edges) + 2 if self.kind == "numeric" else len(self.categories) + 2

    @classmethod
    def numeric(cls, values: Sequence, bins: int) -> "Bins":
        """Quantile edges of the training values, de-duplicated (a column with few distinct values gets fewer bins).
        Edges are observed values (not interpolated), so a column of a few integers gets one bin per value rather
        than empty bins between them."""
        x = np.asarray([v for v in (number(v) for v in values) if v is not None], dtype=float)
        q = np.arange(1, bins) / bins
        edges = np.unique(np.quantile(x, q, method="inverted_cdf")).tolist() if x.size else []
        out = cls("numeric", edges=[float(e) for e in edges])
        out.props = out.shares(values).tolist()
        return out

    @classmethod
    def categorical(cls, values: Sequence) -> "Bins":
        present = [str(v).strip() for v in values if not is_missing(v)]
        counts = Counter(present)
        keep = [c for c, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                if n >= RARE_SHARE * max(len(values), 1)][:MAX_CATEGORIES]
        out = cls("categorical", categories=keep)
        out.props = out.shares(values).tolist()
        return out

    def index(self, values: Sequence) -> np.ndarray:
        """The bin of each value."""
        if self.kind == "numeric":
            xs = np.asarray([np.nan if x is None else x for x in map(number, values)], dtype=float)
            idx = np.searchsorted(np.asarray(self.edges, dtype=float), xs, side="right")
            return np.where(np.isnan(xs), len(self.edges) + 1, idx).astype(int)
        pos, other = {c: i for i, c in enumerate(self.categories)}, len(self.categories)
        return np.asarray([other + 1 if is_missing(v) else pos.get(str(v).strip(), other) for v in values], dtype=int)

    def shares(self, values: Sequence) -> np.ndarray:
        counts = np.bincount(self.index(values), minlength=self.size).astype(float)
        return counts / counts.sum() if counts.sum() else counts

    def label(self, i: int) -> str:
        """A readable name for bin i: "<12", "12 to <18", "≥48", a category, "other", "missing"."""
        if i == self.size - 1:
            return "missing"
        if self.kind == "categorical":
            return self.categories[i] if i < len(self.categories) else "other"
        e = self.edges
        if not e:
            return "any value"
        if i == 0:
            return f"<{e[0]:g}"
        return f"≥{e[-1]:g}" if i == len(e) else f"{e[i - 1]:g} to <{e[i]:g}"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "edges": self.edges, "categories": self.categories, "props": self.props}

    @classmethod
    def from_dict(cls, d: dict) -> "Bins":
        return cls(d["kind"], [float(e) for e in d.get("edges", [])], list(d.get("categories", [])),
                   [float(p) for p in d["props"]])


def _change(b: Bins, actual: np.ndarray) -> dict:
    """The bin that moved the PSI most: its label and its training and current shares."""
    i = int(np.argmax(_terms(b.props, actual)))
    return {"bin": b.label(i), "expected": float(b.props[i]), "actual": float(actual[i])}


@dataclass
class DriftReference:
    """Training-time bins and shares of each column and of the model's score, to compare new rows against."""

    columns: list[str]
    bins: dict[str, Bins]
    score: Bins | None
    rows: int                                   # training rows the shares come from
    min_rows: int | None                        # see module docstring; None: the reference is too small
    score_rows: int | None = None               # scores the score bins come from (honest scores: often fewer)

    @classmethod
    def fit(cls, rows: Sequence[dict], columns: Sequence[str], numeric: set, scores: np.ndarray | None = None,
            bins: int = 10) -> "DriftReference":
        """Bins from the training `rows` ({column: value}); `numeric` names the columns binned by value quantiles;
        `scores` (the model's score per training row) get quantile bins too."""
        bins_by_col = {}
        for c in columns:
            values = [r.get(c) for r in rows]
            bins_by_col[c] = Bins.numeric(values, bins) if c in numeric else Bins.categorical(values)
        score = Bins.numeric(list(np.asarray(scores, dtype=float)), bins) if scores is not None else None
        n_scores = len(scores) if scores is not None else None
        every = [(b, len(rows)) for b in bins_by_col.values()] + ([(score, n_scores)] if score else [])
        needs = [rows_needed(b.props, m) for b, m in every if sum(b.props) > 0]
        need = None if any(n is None for n in needs) else max(needs, default=0)
        return cls(list(columns), bins_by_col, score, len(rows), need, n_scores)

    def compare(self, rows: Sequence[dict], scores: np.ndarray | None = None) -> dict:
        """PSI of each column (and of the score, when both sides have one) against the training shares.

        Returns {score_psi, score_band, columns: {col: psi}, bands: {col: band}, changes: {col: {bin, expected,
        actual}} for non-stable columns and SCORE, flagged: [significant columns and SCORE, worst first],
        absent_columns, rows,
        noise_psi (95th percentile of no-drift PSI at this many rows, worst column), min_rows, caution}.
        A column no row carries is listed in `absent_columns`, not scored.
        """
        return self.tally().add(rows, scores).result()

    def tally(self) -> "DriftTally":
        """An accumulator of bin counts: a file scored in chunks is compared without keeping its rows."""
        return DriftTally(self)

    def _caution(self, n: int) -> str | None:
        if n == 0:
            return "no rows to compare"
        if self.min_rows is None:
            return (f"the training reference has only {self.rows} rows: PSI between two samples that small "
                    f"often exceeds {STABLE_BELOW:.2f} with no drift at all; read the bands as rough")
        if n < self.min_rows:
            return (f"only {n} rows: below about {self.min_rows} rows, PSI above {STABLE_BELOW:.2f} arises from "
                    f"sampling alone in more than {100 - NOISE_QUANTILE} % of samples with no drift; "
                    "read the bands as rough")
        return None

    def to_dict(self) -> dict:
        return {"columns": self.columns, "rows": self.rows, "min_rows": self.min_rows, "score_rows": self.score_rows,
                "bins": {c: b.to_dict() for c, b in self.bins.items()},
                "score": self.score.to_dict() if self.score else None}

    @classmethod
    def from_dict(cls, d: dict) -> "DriftReference":
        return cls(list(d["columns"]), {c: Bins.from_dict(b) for c, b in d["bins"].items()},
                   Bins.from_dict(d["score"]) if d.get("score") else None, int(d["rows"]), d.get("min_rows"),
                   d.get("score_rows") or int(d["rows"]))


class DriftTally:
    """Bin counts of new rows (and scores), added chunk by chunk; `result()` is DriftReference.compare's dict."""

    def __init__(self, ref: DriftReference):
        self.ref = ref
        self.counts = {c: np.zeros(b.size) for c, b in ref.bins.items()}
        self.score_counts = np.zeros(ref.score.size) if ref.score is not None else None
        self.present: set = set()
        self.n = 0

    def add(self, rows: Sequence[dict], scores: np.ndarray | None = None) -> "DriftTally":
        self.n += len(rows)
        for r in rows:
            self.present.update(r.keys())
        for c, b in self.ref.bins.items():
            if rows:
                self.counts[c] += np.bincount(b.index([r.get(c) for r in rows]), minlength=b.size)
        if self.score_counts is not None and scores is not None and len(scores):
            self.score_counts += np.bincount(self.ref.score.index(list(np.asarray(scores, dtype=float))),
                                             minlength=self.ref.score.size)
        return self

    def result(self) -> dict:
        ref, n = self.ref, self.n
        absent = [c for c in ref.columns if n and c not in self.present]
        cols, bands, changes = {}, {}, {}
        for c in ref.columns:
            if c in absent or not n:
                continue
            b = ref.bins[c]
            actual = self.counts[c] / max(self.counts[c].sum(), 1)
            cols[c] = psi(b.props, actual)
            bands[c] = band(cols[c])
            if bands[c] != "stable":
                changes[c] = _change(b, actual)
        score_psi = None
        if self.score_counts is not None and self.score_counts.sum():
            actual = self.score_counts / self.score_counts.sum()
            score_psi = psi(ref.score.props, actual)
            if band(score_psi) != "stable":
                changes[SCORE] = _change(ref.score, actual)
        worst = {**cols, SCORE: score_psi} if score_psi is not None else cols
        flagged = sorted([c for c, v in worst.items() if band(v) == "significant"], key=lambda c: -worst[c])
        used = {c: (ref.bins[c], ref.rows) for c in cols}
        if score_psi is not None:
            used[SCORE] = (ref.score, ref.score_rows or ref.rows)
        noise = {c: noise_psi(b.props, m, n) for c, (b, m) in used.items() if sum(b.props) > 0} if n else {}
        # past the stable line by more than sampling alone explains (the 95th percentile of no-drift PSI at these
        # sizes): what a watch posts about, so a small file does not raise an alarm every day
        beyond = sorted([c for c, v in worst.items() if band(v) != "stable" and v > noise.get(c, 0.0)],
                        key=lambda c: -worst[c])
        return {"score_psi": score_psi, "score_band": band(score_psi), "columns": cols, "bands": bands,
                "changes": changes, "flagged": flagged, "beyond_noise": beyond, "absent_columns": absent, "rows": n,
                "noise_psi": max(noise.values(), default=None), "min_rows": ref.min_rows,
                "caution": ref._caution(n)}


def intent_mix(reference_counts: dict[str, int], recent_labels: Sequence[str], top: int = 5) -> dict:
    """PSI of the intent mix of recent questions against the reference (validation) counts. Labels the reference
    never had share one "other" bin. Returns {psi, band, top_changes: [{label, expected, actual, change}] (largest
    moves in share first), rows, noise_psi, caution}."""
    labels = sorted(reference_counts, key=lambda k: (-reference_counts[k], k))
    m, n = sum(reference_counts.values()), len(recent_labels)
    expected = np.asarray([reference_counts[k] for k in labels] + [0], dtype=float) / max(m, 1)
    pos = {k: i for i, k in enumerate(labels)}
    counts = np.bincount([pos.get(str(lab), len(labels)) for lab in recent_labels], minlength=len(labels) + 1)
    actual = counts / n if n else counts.astype(float)
    value = psi(expected, actual) if n and m else None
    names = labels + ["other"]
    moves = sorted(range(len(names)), key=lambda i: -abs(actual[i] - expected[i]))[:top]
    noise = noise_psi(expected, m, n) if n and m else None
    need = rows_needed(expected, m) if m else None
    caution = None
    if not n:
        caution = "no recent questions to compare"
    elif need is None or n < need:
        caution = (f"only {n} recent questions against {m} reference ones: PSI above {STABLE_BELOW:.2f} arises from "
                   f"sampling alone at this size (no-drift 95th percentile {noise:.2f}); read the band as rough")
    return {"psi": value, "band": band(value),
            "top_changes": [{"label": names[i], "expected": float(expected[i]), "actual": float(actual[i]),
                             "change": float(actual[i] - expected[i])} for i in moves if n and
                            (actual[i] or expected[i])],
            "rows": n, "noise_psi": noise, "min_rows": need, "caution": caution}
