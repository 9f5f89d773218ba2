"""Q&A inference: a run's served model answers customer-service questions, or offers a human when unsure.

`get_predictor(artifact_dir)` keeps the last few loaded models (LRU keyed by resolved path + the weights' mtime), so
after the first question each one costs one forward pass. Loading is thread-safe: the Slack bot asks from several
threads, and two threads asking the same new model load it once.
"""
from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from engine.errors import NotFound
from engine.served import layout
from engine.served.model import ServedModel, fingerprint_files

DEFAULT_FALLBACK = ("I'm not sure I understood. Could you rephrase it? A colleague can help — reply 'human' and "
                    "we'll pass your question on.")
DEFAULT_NO_ANSWER = ("I understood this as *{intent}*, but I have no answer written for it yet. A colleague can "
                     "help — reply 'human' and we'll pass your question on.")
DEFAULT_THRESHOLD = 0.5
CACHE_SIZE = int(os.environ.get("FTBOT_PREDICTOR_CACHE", "3"))


@dataclass
class Answer:
    answer: str
    intent: str
    confidence: float
    top: list[tuple[str, float]] = field(default_factory=list)    # best 3 (label, probability)
    fallback: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def read_qa(artifact_dir: str | Path) -> dict:
    """qa.json with defaults filled in: {threshold, answers, fallback, no_answer[, decision]}."""
    path = Path(artifact_dir) / layout.QA
    qa = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    qa.setdefault("threshold", DEFAULT_THRESHOLD)
    qa.setdefault("answers", {})
    qa.setdefault("fallback", DEFAULT_FALLBACK)
    qa.setdefault("no_answer", DEFAULT_NO_ANSWER)
    return qa


class Predictor:
    """A run's served model (engine/served/model.py) plus its Q&A settings (qa.json, re-read when the file changes).
    `Predictor(trained, artifact_dir)` takes an already loaded transformer (engine.served.transformer.Trained)."""

    def __init__(self, trained, artifact_dir: str | Path, served: ServedModel | None = None):
        from engine.served.transformer import TransformerScorer
        self.artifact_dir = Path(artifact_dir)
        scorer = TransformerScorer(trained) if trained is not None else None
        self.model_served = served or ServedModel.load(self.artifact_dir, transformer=scorer)
        self.labels: list[str] = list(self.model_served.labels)
        self._qa_lock = threading.Lock()
        self._qa_mtime: int | None = -1
        self._qa: dict = {}

    # ---- settings -----------------------------------------------------------------------------
    @property
    def qa(self) -> dict:
        path = self.artifact_dir / layout.QA
        mtime = path.stat().st_mtime_ns if path.exists() else None
        if mtime != self._qa_mtime:
            with self._qa_lock:
                if mtime != self._qa_mtime:
                    self._qa = read_qa(self.artifact_dir)
                    self._qa_mtime = mtime
        return self._qa

    @property
    def served(self) -> str:
        """What answers: 'finetuned', 'blend' or 'baseline'."""
        return self.model_served.kind

    @property
    def trained(self):
        """The loaded fine-tuned transformer (model, tokenizer, labels, config)."""
        return self.model_served.transformer.trained

    # ---- prediction ---------------------------------------------------------------------------
    def predict_proba(self, texts: Sequence[str], batch_size: int = 64, which: str | None = None) -> np.ndarray:
        """Class probabilities of what is served (`which`: 'finetuned', 'baseline' or 'blend' to ask for one),
        shape (len(texts), len(labels)), columns in `labels` order."""
        return self.model_served.predict_proba(texts, batch_size, which)

    def finetuned_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """The fine-tuned model's own probabilities."""
        return self.model_served.finetuned_proba(texts, batch_size)

    def answer(self, text: str) -> Answer:
        """The answer for the predicted intent; below the confidence threshold the fallback that offers a human."""
        p = self.predict_proba([text])[0]
        order = np.argsort(-p)
        top = [(self.labels[i], float(p[i])) for i in order[:3]]
        intent, conf = top[0]
        qa = self.qa
        if conf < float(qa["threshold"]):
            return Answer(qa["fallback"], intent, conf, top, fallback=True)
        text_out = (qa["answers"].get(intent) or "").strip()
        if not text_out:
            return Answer(qa["no_answer"].replace("{intent}", intent), intent, conf, top, fallback=True)
        return Answer(text_out, intent, conf, top, fallback=False)


# ---- cache -----------------------------------------------------------------------------------------
_cache: "OrderedDict[tuple, Predictor]" = OrderedDict()
_cache_lock = threading.Lock()
_key_locks: dict[tuple, threading.Lock] = {}
_stats = {"hits": 0, "loads": 0}
# Pinned folders (champions and challengers, set by the operations layer per scope) are never evicted to make room:
# loading a third model must not push a model that answers customers out of memory. The cache grows past
# CACHE_SIZE only by the pinned models themselves (max(CACHE_SIZE, pinned + 1)).
_pins: dict[str, frozenset] = {}


def pin(group: str, artifact_dirs) -> None:
    """Keep these artifact folders loaded (group: e.g. a deployment scope; a new call replaces the group's pins)."""
    paths = frozenset(str(Path(p).resolve()) for p in artifact_dirs if p)
    with _cache_lock:
        if paths:
            _pins[group] = paths
        else:
            _pins.pop(group, None)


def _pinned() -> set:
    return set().union(*_pins.values()) if _pins else set()


def _evict() -> None:
    """Drop least-recently-used unpinned models until the cache fits (caller holds _cache_lock)."""
    pinned = _pinned() & {k[0] for k in _cache}     # pins of models not loaded take no room
    limit = max(1, CACHE_SIZE, len(pinned) + 1)
    for key in [k for k in _cache if k[0] not in pinned]:
        if len(_cache) <= limit:
            break
        del _cache[key]


def model_bytes(pred: "Predictor") -> int:
    """Bytes held by a loaded model's transformer (the bulk of its memory; 0 while it is not loaded)."""
    served = pred.model_served
    return served.transformer.nbytes() if served.transformer_loaded else 0


def _fingerprint(root: Path) -> int:
    """Latest mtime of what answers (weights, label map, served.json, partner): a retrained or re-chosen artifact at
    the same path reloads, while writing metrics.json or qa.json beside them does not."""
    return max((p.stat().st_mtime_ns for p in fingerprint_files(root) if p.exists()), default=0)


def _load(root: Path) -> Predictor:
    served = ServedModel.load(root)
    if served.kind != "baseline":
        served.transformer          # load it now, under the loader's lock, not on the first question
    return Predictor(None, root, served=served)


def get_predictor(artifact_dir: str | Path) -> Predictor:
    """The cached Predictor of a run's artifact folder; loads it (once, even under concurrent calls) on a miss."""
    root = Path(artifact_dir).resolve()
    if not root.is_dir():
        raise NotFound(f"No trained model at {artifact_dir}.")
    key = (str(root), _fingerprint(root))
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            _stats["hits"] += 1
            return _cache[key]
        lock = _key_locks.setdefault(key, threading.Lock())
    with lock:                       # one loader per model; other models keep being served meanwhile
        with _cache_lock:
            if key in _cache:
                _stats["hits"] += 1
                return _cache[key]
        pred = _load(root)
        with _cache_lock:
            _stats["loads"] += 1
            for old in [k for k in _cache if k[0] == key[0]]:     # an older version of the same folder
                del _cache[old]
            _cache[key] = pred
            _evict()
            _key_locks.pop(key, None)
        return pred


def cache_info() -> dict:
    with _cache_lock:
        return {**_stats, "size": len(_cache), "max_size": CACHE_SIZE, "keys": [k[0] for k in _cache],
                "pinned": sorted(_pinned()), "bytes": {k[0]: model_bytes(p) for k, p in _cache.items()}}


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
        _stats.update(hits=0, loads=0)
