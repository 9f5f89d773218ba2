"""Per-column attributions for any model that scores rows, and the exact part of the fine-tuned model's head.

Occlusion: a column's attribution is P(x) − P(x with that column set to its typical value), one batched call to
the model over the distinct rows (credit rows share many values, so many modified rows coincide). Units are those
of `predict_pos`: probabilities, or log-odds if it returns logits.

The fine-tuned model on a table adds a linear map of the column features (engine/features.py) to its logits, so
that part of its log-odds splits over columns exactly: `linear_feature_attributions`. `finetuned_predictor` scores
rows as that model does, σ(text part + features part), running the encoder once per distinct text it reads: when it
reads only the categorical columns (ColumnFeatures.model_text, mode "categories"), changing a numeric column costs
no encoder pass at all, and rows that share their categories share one.
"""
from __future__ import annotations

from typing import Callable, Hashable, Sequence

import numpy as np

from engine.data.serialize import serialize_row
from engine.data.values import is_missing
from engine.explain.units import sigmoid


def _row_key(row: dict) -> Hashable:
    return tuple(sorted((str(k), repr(v)) for k, v in row.items()))


def occlusion_attributions(predict_pos: Callable[[list[dict]], np.ndarray], rows: Sequence[dict],
                           columns: Sequence[str], typical: dict, *,
                           key: Callable[[dict], Hashable] | None = None,
                           with_scores: bool = False):
    """(rows × columns): predict(x) − predict(x with column c := typical[c]); 0 where the row already holds the
    typical value. A blank typical value removes the column from the row. One call to `predict_pos` with every
    distinct row (by `key`, default: all of the row's values). with_scores: also return predict(x) (rows,)."""
    missing = [c for c in columns if c not in typical]
    if missing:
        raise ValueError(f"no typical value for columns {missing}")
    key = key or _row_key
    unique: list[dict] = []
    slot: dict[Hashable, int] = {}

    def place(row: dict) -> int:
        k = key(row)
        if k not in slot:
            slot[k] = len(unique)
            unique.append(row)
        return slot[k]

    base = np.empty(len(rows), dtype=np.int64)
    moved = np.empty((len(rows), len(columns)), dtype=np.int64)
    for i, row in enumerate(rows):
        base[i] = place(dict(row))
        for j, c in enumerate(columns):
            moved[i, j] = place(with_value(row, c, typical[c]))
    scores = np.asarray(predict_pos(unique), dtype=np.float64).reshape(-1) if unique else np.zeros(0)
    if len(scores) != len(unique):
        raise ValueError(f"predict_pos returned {len(scores)} scores for {len(unique)} rows")
    out = scores[base][:, None] - scores[moved]
    return (out, scores[base]) if with_scores else out


def with_value(row: dict, column: str, value) -> dict:
    """A copy of the row with one column changed (a blank value removes it, as serialized rows omit blanks)."""
    out = dict(row)
    if is_missing(value):
        out.pop(column, None)
    else:
        out[column] = value
    return out


# ---- the linear column-feature part of the fine-tuned model's head -------------------------------------------------
def feature_slots(features) -> list[tuple[str, slice]]:
    """Which positions of ColumnFeatures.transform belong to each column, in its order (a column with no
    features — all blank in training — gets an empty slice)."""
    out, j = [], 0
    for c in features.columns:
        width = 1 if c in features.numeric else len(features.categories.get(c, []))
        out.append((c, slice(j, j + width)))
        j += width
    if j != features.dim:
        raise ValueError(f"column features have {features.dim} positions but their columns account for {j}")
    return out


def column_logits(features, weight_diff: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    """(texts × columns) each column's part of the features head's log-odds, w·F(x) restricted to its positions.
    weight_diff: the head's weight row of the positive label minus the other's, shape (features.dim,)."""
    w = np.asarray(weight_diff, dtype=np.float64).reshape(-1)
    if w.shape[0] != features.dim:
        raise ValueError(f"weight_diff has {w.shape[0]} entries but the column features have {features.dim}")
    F = np.asarray(features.transform(list(texts)), dtype=np.float64) * w
    return np.stack([F[:, s].sum(axis=1) for _, s in feature_slots(features)], axis=1) if len(texts) else \
        np.zeros((0, len(features.columns)))


def linear_feature_attributions(features, weight_diff: np.ndarray, texts: Sequence[str],
                                reference_texts: Sequence[str]) -> np.ndarray:
    """(texts × features.columns) the features head's exact log-odds attributions against the reference rows:
    w·(F(x) − mean F(reference)) summed over each column's positions (one-hot pieces are one column)."""
    g_ref = column_logits(features, weight_diff, reference_texts)
    return column_logits(features, weight_diff, texts) - g_ref.mean(axis=0, keepdims=True)


def finetuned_predictor(text_log_odds: Callable[[list[str]], np.ndarray], features, weight_diff: np.ndarray,
                        columns: Sequence[str], mode: str = "full") -> Callable[[list[dict]], np.ndarray]:
    """predict_pos for rows ({column: value}) of a fine-tuned model with a column-features head:
    σ(text_log_odds(encoder text) + weight_diff·F(row)). text_log_odds: the positive label's log-odds from the text
    head alone (features zeroed), for a list of the texts the encoder reads. Its answers are cached for the life of
    the returned function (one scoring call), so each distinct encoder text is read once."""
    w = np.asarray(weight_diff, dtype=np.float64).reshape(-1)
    if w.shape[0] != features.dim:
        raise ValueError(f"weight_diff has {w.shape[0]} entries but the column features have {features.dim}")
    columns = list(columns)
    cache: dict[str, float] = {}

    def predict(rows: list[dict]) -> np.ndarray:
        texts = [serialize_row(r, columns) for r in rows]
        read = features.model_texts(texts, mode)
        new = [t for t in dict.fromkeys(read) if t not in cache]
        if new:
            cache.update(zip(new, np.asarray(text_log_odds(new), dtype=np.float64).reshape(-1).tolist()))
        text_part = np.asarray([cache[t] for t in read], dtype=np.float64)
        return sigmoid(text_part + features.transform(texts).astype(np.float64) @ w)
    return predict
