"""Recipe: a text partner on the untouched pretrained encoder — its pooled sentence embeddings (L2-normalised) →
logistic regression — and the memo of those embeddings.

What it does: it makes different mistakes from both other models (the fine-tuned model has moved its encoder away
from the pretrained one; TF-IDF reads spellings, not meaning), so it is one of the text partners the blend recipe
(engine/recipes/blend.py) cross-validates and soft-votes. When it is used: every text run with an encoder record,
as a candidate partner; serving a blend or baseline that holds it costs one more encoder forward per question.

The encoder is loaded once per process and base and never trained. The embeddings of texts already seen are
memoised in this module (cross-validation embeds each training text once, not once per fold); the report hands it
the probe head's embeddings of the training texts, which training wrote with the candidate (`remember`). The forward
runs in bf16 where the device does bf16 natively, unless `precision=fp32`.

`PretrainedEmbedder` is a scikit-learn transformer so the partner is an ordinary Pipeline: it clones, fits,
soft-votes and saves through skops like the others (its state is four plain values; the weights are never in the
file).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

C = 30.0                 # inverse L2 strength on normalised embeddings (docs/benchmarks.md: C = 10 / 30 / 100)
MEMO_ROWS = 30_000       # ≈ 46 MB of 384-float embeddings; least recently used texts go first
BATCH = 32               # texts per forward: the fastest of 32 / 64 / 256 on a small CPU

_lock = threading.Lock()
_encoders: dict[str, tuple] = {}
_memo: "OrderedDict[tuple, np.ndarray]" = OrderedDict()


class PretrainedEmbedder(TransformerMixin, BaseEstimator):
    """texts → pooled embeddings of the pretrained `base` encoder (float32, L2-normalised rows)."""

    def __init__(self, base: str = "minilm", pooling: str = "mean", max_length: int = 128, precision: str = "auto"):
        self.base = base
        self.pooling = pooling
        self.max_length = max_length
        self.precision = precision

    def fit(self, X, y=None):   # noqa: ARG002 — nothing to learn: the encoder stays as it was pretrained
        return self

    def transform(self, X) -> np.ndarray:
        # partners saved before `precision` existed load without the attribute: they ran at the default
        return embeddings(self.base, [str(t) for t in X], self.pooling, int(self.max_length),
                          getattr(self, "precision", "auto"))


def embedding_lr(base: str, pooling: str = "mean", max_length: int = 128, precision: str = "auto"):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    return make_pipeline(PretrainedEmbedder(base, pooling, max_length, precision),
                         # newton-cg at sklearn's default tol: 384 dense dimensions suit a second-order solver
                         # (fewer iterations than lbfgs, and lbfgs at a looser tol stopped short of the optimum)
                         LogisticRegression(C=C, max_iter=3000, solver="newton-cg"))


def embeddings(base: str, texts: Sequence[str], pooling: str = "mean", max_length: int = 128,
               precision: str | None = "auto") -> np.ndarray:
    """Memoised pooled, L2-normalised embeddings of `texts` under the pretrained `base`."""
    keys = [(base, pooling, max_length, t) for t in texts]
    with _lock:
        missing = list(dict.fromkeys(k[3] for k in keys if k not in _memo))
        fresh: dict[str, np.ndarray] = {}
        if missing:
            import torch
            from engine.classifier import embed
            from engine.device import forward_autocast
            encoder, tokenizer = _encoder(base)
            device = next(encoder.parameters()).device
            with torch.inference_mode(), forward_autocast(precision, device)():
                vecs = embed(encoder, tokenizer, missing, pooling=pooling, batch_size=BATCH,
                             max_length=max_length).numpy()
            fresh = dict(zip(missing, _unit(vecs)))
        # read everything before memoising the new rows: a call with more than MEMO_ROWS texts must not evict its
        # own rows before they are read
        rows = []
        for k in keys:
            if k[3] in fresh:
                rows.append(fresh[k[3]])
            else:
                _memo.move_to_end(k)
                rows.append(_memo[k])
        _store(base, pooling, max_length, list(fresh), list(fresh.values()))
    return np.array(rows, dtype=np.float32) if rows else np.empty((0, 0), dtype=np.float32)


def remember(base: str, pooling: str, max_length: int, texts: Sequence[str], vecs) -> None:
    """Take embeddings of `texts` that another pass computed with the same untouched `base` encoder, pooling and
    truncation (the probe head's, before the first training step), so the partner need not embed them again."""
    if len(texts) != len(vecs):
        raise ValueError(f"{len(texts)} texts but {len(vecs)} embeddings")
    with _lock:
        _store(base, pooling, max_length, [str(t) for t in texts], list(_unit(vecs)))


def _unit(vecs) -> np.ndarray:
    """float32 copy with L2-normalised rows."""
    vecs = np.array(vecs, dtype=np.float32)
    return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)


def _store(base: str, pooling: str, max_length: int, texts: Sequence[str], vecs: Sequence[np.ndarray]) -> None:
    """Under _lock: memoise normalised rows, dropping the least recently used beyond MEMO_ROWS."""
    for t, v in zip(texts, vecs):
        _memo[(base, pooling, max_length, t)] = v
        _memo.move_to_end((base, pooling, max_length, t))
    while len(_memo) > MEMO_ROWS:
        _memo.popitem(last=False)


def _encoder(base: str):
    if base not in _encoders:
        from engine.base_models import load_tokenizer, pretrained_encoder, resolve_base
        _encoders[base] = (pretrained_encoder(base), load_tokenizer(resolve_base(base)))
    return _encoders[base]


def clear() -> None:
    """Drop the loaded encoders and the memo (tests; a process that no longer serves text runs)."""
    with _lock:
        _encoders.clear()
        _memo.clear()
