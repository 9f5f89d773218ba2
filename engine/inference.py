"""Q&A inference: a tuned classifier answers customer-service questions, or offers a human when unsure.

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
    path = Path(artifact_dir) / "qa.json"
    qa = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    qa.setdefault("threshold", DEFAULT_THRESHOLD)
    qa.setdefault("answers", {})
    qa.setdefault("fallback", DEFAULT_FALLBACK)
    qa.setdefault("no_answer", DEFAULT_NO_ANSWER)
    return qa


def _accepted_inputs(model) -> set[str] | None:
    """Names the model's forward takes (None: it takes **kwargs, pass everything the tokenizer gave)."""
    import inspect

    try:
        params = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params}


def _logits(model, enc):
    out = model(**enc)
    if hasattr(out, "logits"):
        return out.logits
    return out[0] if isinstance(out, (tuple, list)) else out


class Predictor:
    """A loaded tuned classifier plus its Q&A settings (qa.json, re-read when the file changes)."""

    def __init__(self, trained, artifact_dir: str | Path):
        import torch

        self.trained = trained
        self.model = trained.model
        self.tokenizer = trained.tokenizer
        self.labels: list[str] = list(trained.labels)
        cfg = getattr(trained, "config", None) or {}
        self.max_length = int(cfg.get("max_length") or 128)
        self.artifact_dir = Path(artifact_dir)
        first = next(iter(list(self.model.parameters()) or list(self.model.buffers())), None)
        self.device = first.device if first is not None else torch.device("cpu")
        self._torch = torch
        self._inputs = _accepted_inputs(self.model)     # e.g. drop token_type_ids for a forward that lacks it
        self.features = getattr(trained, "features", None)   # tabular: column features parsed from the row text
        # what the encoder reads of a tabular row (engine/features.py), as training resolved it
        self.tabular_text = cfg.get("tabular_text_used") or "full"
        self._sel_lock = threading.Lock()
        self._sel_mtime: int | None = -1
        self._sel = None
        self._qa_lock = threading.Lock()
        # HF fast tokenizers reset truncation/padding state on every call and raise "Already borrowed" when two
        # threads do so at once (huggingface/tokenizers#537); tokenizing takes ~0.5 ms, so a lock costs nothing.
        self._tok_lock = threading.Lock()
        self._qa_mtime: int | None = -1
        self._qa: dict = {}

    # ---- settings -----------------------------------------------------------------------------
    @property
    def qa(self) -> dict:
        path = self.artifact_dir / "qa.json"
        mtime = path.stat().st_mtime_ns if path.exists() else None
        if mtime != self._qa_mtime:
            with self._qa_lock:
                if mtime != self._qa_mtime:
                    self._qa = read_qa(self.artifact_dir)
                    self._qa_mtime = mtime
        return self._qa

    @property
    def selection(self):
        """selection.json + partner (engine/evaluation/selection.py), re-read when evaluation rewrites it; None
        before the run was evaluated."""
        from engine.evaluation import selection as sel
        path = self.artifact_dir / sel.SELECTION_FILE
        mtime = path.stat().st_mtime_ns if path.exists() else None
        if mtime != self._sel_mtime:
            with self._sel_lock:
                if mtime != self._sel_mtime:
                    self._sel = sel.load(self.artifact_dir)
                    self._sel_mtime = mtime
        return self._sel

    @property
    def served(self) -> str:
        """What answers: 'finetuned', 'blend' or 'baseline' (selection.json's `served`; the model alone before it)."""
        s = self.selection
        return (s.record.get("served") or "finetuned") if s is not None else "finetuned"

    # ---- prediction ---------------------------------------------------------------------------
    def _encode(self, texts: Sequence[str], padding: bool):
        with self._tok_lock:
            enc = self.tokenizer(list(texts), truncation=True, max_length=self.max_length,
                                 padding="longest" if padding else False, return_tensors="pt")
        return {k: v.to(self.device) for k, v in enc.items() if self._inputs is None or k in self._inputs}

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64, which: str | None = None) -> np.ndarray:
        """Class probabilities of what is served (`which`: 'finetuned', 'baseline' or 'blend' to ask for one),
        shape (len(texts), len(labels)), columns in `labels` order."""
        which = which or self.served
        if which == "finetuned":
            return self.finetuned_proba(texts, batch_size)
        sel = self.selection
        if sel is None:
            raise NotFound(f"{self.artifact_dir} has no evaluated baseline or blend to serve")
        if sel.partner is None:           # the fine-tuned model is served; someone asked for another candidate
            from engine.evaluation.selection import load_partner
            sel.partner = load_partner(self.artifact_dir, sel.record)
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, len(self.labels)))
        base = sel.partner_proba(texts, self.labels)
        if which == "baseline":
            return base
        w = float(sel.record.get("weight", 0.5))
        return w * self.finetuned_proba(texts, batch_size) + (1 - w) * base

    def finetuned_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """The fine-tuned model's own probabilities. Texts are batched by length so padding stays small; a single
        text is tokenized without padding."""
        texts = [str(t) for t in texts]
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float64)
        if not texts:
            return out
        torch = self._torch
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode():
            for s in range(0, len(order), batch_size):
                idx = order[s:s + batch_size]
                chunk = [texts[i] for i in idx]
                enc = self._encode(self.features.model_texts(chunk, self.tabular_text) if self.features is not None
                                   else chunk, padding=len(idx) > 1)
                if self.features is not None:
                    enc["features"] = torch.as_tensor(self.features.transform([texts[i] for i in idx]),
                                                      device=self.device)
                logits = _logits(self.model, enc).double()   # float64: rows sum to 1 for sklearn
                out[idx] = torch.softmax(logits, dim=-1).cpu().numpy()
        return out

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
    """Bytes held by a loaded model's parameters and buffers (the bulk of its memory)."""
    return int(sum(t.numel() * t.element_size() for t in list(pred.model.parameters()) + list(pred.model.buffers())))


def _fingerprint(root: Path) -> int:
    """Latest mtime of the weights and label map: a retrained/replaced artifact at the same path reloads, while
    writing metrics.json or qa.json beside them does not."""
    paths = [root / "label_map.json", root / "config.json", root / "model"]
    if (root / "model").is_dir():
        paths += list((root / "model").iterdir())
    return max((p.stat().st_mtime_ns for p in paths if p.exists()), default=0)


def _load(root: Path) -> Predictor:
    from engine.artifact import load_trained

    return Predictor(load_trained(root, merge=True), root)


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
