"""The scikit-learn partner a run may serve (alone, or blended with the fine-tuned transformer): how it reads the
texts every path has, and how it is stored and loaded.

The partner is saved with skops.io, a declarative format: loading instantiates only the types in TRUSTED_TYPES,
never arbitrary pickled objects, and the file's sha256 is checked against served.json before it is read.
"""
from __future__ import annotations

import copy
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from engine.served import layout

# Types skops may build when loading a partner beyond its own default-trusted sklearn/numpy set; anything else in
# the file refuses to load (skops.io.exceptions.UntrustedTypesFoundException).
TRUSTED_TYPES = [
    "numpy.dtype",
    "functools.partial",                     # HistGradientBoosting's bin mapper keeps partial(check_array, …)
    "sklearn.utils.validation.check_array",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.tree._tree.Tree",
    "sklearn.utils._bunch.Bunch",             # VotingClassifier's named_estimators_: a dict of fitted members
    # the text partner on the pretrained encoder (engine/recipes/embedding_partner.py): plain settings, no weights
    "engine.recipes.embedding_partner.PretrainedEmbedder",
]


@dataclass
class Inputs:
    """Turns the texts every path has (serialized rows for tables) into what a partner reads."""
    kind: str
    columns: list[str] = field(default_factory=list)
    numeric: list[str] = field(default_factory=list)

    def __call__(self, texts: Sequence[str]):
        if self.kind != "tabular":
            return [str(t) for t in texts]
        return self.frame([self.row(t) for t in texts])

    def row(self, text: str) -> dict:
        """A serialized table row back into {column: value}."""
        from engine.features import parse
        return parse(text, self.columns)

    def frame(self, rows: Sequence[dict]) -> np.ndarray:
        from engine.partners import frame
        return frame(rows, self.columns, set(self.numeric))

    def to_dict(self) -> dict:
        return {"kind": self.kind, "columns": list(self.columns), "numeric": list(self.numeric)}

    @classmethod
    def from_dict(cls, d: dict) -> "Inputs":
        return cls(d.get("kind", "text"), list(d.get("columns") or []), list(d.get("numeric") or []))


def proba_in(model, X, labels: Sequence[str]) -> np.ndarray:
    """predict_proba with columns in `labels` order (a class the model never saw gets 0)."""
    p = np.asarray(model.predict_proba(X), dtype=np.float64)
    out = np.zeros((p.shape[0], len(labels)))
    classes = list(model.classes_)
    for j, y in enumerate(labels):
        if y in classes:
            out[:, j] = p[:, classes.index(y)]
    total = out.sum(axis=1, keepdims=True)
    # a float32 model (the TF-IDF partner) sums to 1 only to ~1e-7: renormalise in float64
    return np.divide(out, total, out=out, where=total > 0)


def dump(partner, root: str | Path) -> str:
    """partner.skops in `root` (temp name, checked, renamed) → its sha256."""
    import skops.io as sio
    root = Path(root)
    tmp = root / f".{layout.PARTNER}.{os.getpid()}.tmp"
    # A soft vote keeps its fitted members twice — estimators_ and the named_estimators_ Bunch, the same objects —
    # and skops writes each one out in full (half of the file for a TF-IDF member). The Bunch is left out and rebuilt
    # on load (`_named_members`). A shallow copy loses the Bunch, so the fitted object itself is never changed:
    # another thread may be using it.
    to_write = partner
    if is_vote(partner) and "named_estimators_" in vars(partner):
        to_write = copy.copy(partner)
        del to_write.named_estimators_
    sio.dump(to_write, tmp)
    untrusted = set(sio.get_untrusted_types(file=tmp)) - set(TRUSTED_TYPES)
    if untrusted:   # would not load again: better to fail loudly now than at the first question
        tmp.unlink()
        raise RuntimeError(f"partner model holds types outside TRUSTED_TYPES: {sorted(untrusted)}")
    os.replace(tmp, root / layout.PARTNER)
    return hashlib.sha256((root / layout.PARTNER).read_bytes()).hexdigest()


def load(root: str | Path, sha256: str | None, name: str = layout.PARTNER):
    """The fitted partner; refuses a file whose hash differs from the record, and any type outside TRUSTED_TYPES."""
    import skops.io as sio
    root = Path(root)
    blob = (root / name).read_bytes()
    if sha256 and hashlib.sha256(blob).hexdigest() != sha256:
        raise ValueError(f"{name} in {root} does not match {layout.SERVED} (changed since evaluation)")
    return _named_members(sio.loads(blob, trusted=TRUSTED_TYPES))


def is_vote(model) -> bool:
    from sklearn.ensemble import VotingClassifier
    return isinstance(model, VotingClassifier)


def _named_members(model):
    """A soft vote saved without its named_estimators_ (see `dump`) gets it back as VotingClassifier.fit builds it:
    each name of `estimators` → its fitted member, in order ('drop' stays 'drop')."""
    if is_vote(model) and hasattr(model, "estimators_") and "named_estimators_" not in vars(model):
        from sklearn.utils import Bunch
        fitted = iter(model.estimators_)
        model.named_estimators_ = Bunch(**{name: est if isinstance(est, str) else next(fitted)
                                           for name, est in model.estimators})
    return model
