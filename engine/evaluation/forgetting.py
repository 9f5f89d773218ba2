"""How far fine-tuning moved the encoder away from the pretrained one, measured on held-out texts.

Two figures, both from pooled sentence embeddings of the same validation texts (at most `MAX_TEXTS`):
- `drift`: mean (1 − cosine) between each text's tuned and pretrained embedding. 0 = unchanged; it grows as the
  representation is rewritten (α > 0 and frozen layers should keep it small).
- `neighbour_overlap@k`: for each text, the share of its k nearest neighbours (cosine, among the same texts) that
  are the same in both spaces, averaged. 1 = the tuned encoder still arranges the texts as the pretrained one did;
  unlike `drift` it ignores a global rotation/rescaling of the space and looks at the structure the pretrained
  model knew. Cheap: one n × n similarity per space.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

MAX_TEXTS = 256
K = 5


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def drift(tuned: np.ndarray, pretrained: np.ndarray) -> float:
    """Mean (1 − cosine) between paired rows of two embedding matrices."""
    if len(tuned) == 0:
        return 0.0
    cos = np.sum(_unit(tuned) * _unit(pretrained), axis=1)
    return float(np.mean(1.0 - np.clip(cos, -1.0, 1.0)))


def _neighbours(emb: np.ndarray, k: int) -> np.ndarray:
    u = _unit(emb)
    sim = u @ u.T
    np.fill_diagonal(sim, -np.inf)
    return np.argsort(-sim, axis=1, kind="stable")[:, :k]


def neighbour_overlap(tuned: np.ndarray, pretrained: np.ndarray, k: int = K) -> float | None:
    """Mean share of each text's k nearest neighbours kept between the two spaces (None with ≤ k texts)."""
    n = len(tuned)
    if n <= k:
        return None
    a, b = _neighbours(tuned, k), _neighbours(pretrained, k)
    return float(np.mean([len(set(a[i]) & set(b[i])) / k for i in range(n)]))


def forgetting(texts: Sequence[str], embed_tuned: Callable[[list[str]], np.ndarray],
               embed_pretrained: Callable[[list[str]], np.ndarray], max_texts: int = MAX_TEXTS, k: int = K) -> dict:
    """Both figures on the first `max_texts` texts (the validation split is already shuffled by the data layer)."""
    sample = list(texts)[:max_texts]
    if not sample:
        return {"drift": None, f"neighbour_overlap@{k}": None, "texts": 0}
    t = np.asarray(embed_tuned(sample), dtype=np.float64)
    p = np.asarray(embed_pretrained(sample), dtype=np.float64)
    return {"drift": drift(t, p), f"neighbour_overlap@{k}": neighbour_overlap(t, p, k), "texts": len(sample),
            "measure": "drift = mean(1 - cos(tuned, pretrained)) of pooled embeddings; neighbour_overlap@k = mean "
                       "share of k nearest neighbours kept"}
