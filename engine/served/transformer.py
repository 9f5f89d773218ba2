"""The fine-tuned transformer of a run: saved by training (adapter or full encoder, head, labels, column features),
loaded back for evaluation and serving, and scored in batches. Weights are safetensors; nothing is unpickled."""
from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from torch import nn

from engine.base_models import load_encoder, load_tokenizer, quiet_transformers, resolve_base
from engine.classifier import Built, Classifier
from engine.errors import ModelLoadError
from engine.served import layout


@dataclass
class Trained:
    model: Classifier
    tokenizer: Any
    labels: list[str]
    config: dict
    pooling: str
    features: Any = None         # ColumnFeatures, when the head reads column features


def save_trained(built: Built, out_dir: Path) -> None:
    """model/ (adapter or full encoder + tokenizer), the head, the label map, the column features. config.json is the
    caller's (engine/training/candidate.py)."""
    from safetensors.torch import save_file
    out = Path(out_dir)
    model_dir = out / layout.MODEL_DIR
    model_dir.mkdir(parents=True, exist_ok=True)
    if saved_kind(built) != "base":
        # LoRA: PeftModel.save_pretrained writes only the adapter; full: the whole fine-tuned encoder.
        with quiet_transformers():  # no "Writing model shards" bar in CLI/Slack logs
            built.model.encoder.save_pretrained(model_dir)
    built.tokenizer.save_pretrained(model_dir)
    head = {k: v.detach().cpu().contiguous() for k, v in built.model.head.state_dict().items()}
    if built.model.features_head is not None:
        head["features.weight"] = built.model.features_head.weight.detach().cpu().contiguous()
    save_file(head, str(out / layout.HEAD))
    (out / layout.LABELS).write_text(json.dumps({"labels": built.labels}, ensure_ascii=False))
    if built.features is not None:
        (out / layout.FEATURES).write_text(json.dumps(built.features.to_dict(), ensure_ascii=False))


def saved_kind(built: Built) -> str:
    """What model/ holds: 'adapter' (LoRA), 'full' (encoder weights) or 'base' (LoRA with every layer frozen:
    only the head trained, the encoder is the untouched base)."""
    if built.lora_targets:
        return "adapter"
    return "full" if not is_peft(built.model.encoder) and built.method == "full" else "base"


def is_peft(module: nn.Module) -> bool:
    from peft import PeftModel
    return isinstance(module, PeftModel)


def read_config(artifact_dir: str | Path) -> dict:
    """The run's config.json (the resolved training keys and what training decided)."""
    return json.loads((Path(artifact_dir) / layout.CONFIG).read_text(encoding="utf-8"))


def read_labels(artifact_dir: str | Path) -> list[str]:
    return json.loads((Path(artifact_dir) / layout.LABELS).read_text(encoding="utf-8"))["labels"]


def load_trained(artifact_dir: str | Path, merge: bool = True) -> Trained:
    """Rebuild the classifier of a run artifact, in eval mode. LoRA adapters are merged for fast inference."""
    from safetensors.torch import load_file
    d = Path(artifact_dir)
    try:
        cfg = read_config(d)
        labels = read_labels(d)
    except (OSError, ValueError, KeyError) as err:
        raise ModelLoadError(f"{d} is not a complete run artifact: {err}") from err
    model_dir = d / layout.MODEL_DIR
    saved = cfg.get("saved", "full")
    if saved == "full":
        encoder, _, _ = load_encoder(str(model_dir), want_head=False)
    else:
        encoder, _, _ = load_encoder(artifact_base(cfg), want_head=False)
        if saved == "adapter":
            import warnings
            from peft import PeftModel
            with warnings.catch_warnings():   # peft 0.21 touches a deprecated transformers 5 API: noise
                warnings.simplefilter("ignore", FutureWarning)
                encoder = PeftModel.from_pretrained(encoder, str(model_dir))
            if merge:
                encoder = encoder.merge_and_unload()
    ecfg = (encoder.get_base_model() if is_peft(encoder) else encoder).config
    features = None
    if (d / layout.FEATURES).exists():
        from engine.features import ColumnFeatures
        features = ColumnFeatures.from_dict(json.loads((d / layout.FEATURES).read_text()))
    model = Classifier(encoder, len(labels), cfg.get("pooling_used", cfg.get("pooling", "mean")), 0.0,
                       ecfg.hidden_size, num_features=features.dim if features else 0)
    head = load_file(str(d / layout.HEAD))
    if model.features_head is not None:
        model.features_head.weight.data.copy_(head.pop("features.weight"))
    model.head.load_state_dict(head)
    model.eval().requires_grad_(False)
    return Trained(model, load_tokenizer(str(model_dir)), labels, cfg, model.pooling, features)


def artifact_base(cfg: dict) -> str:
    # Prefer the alias/id the user gave (the bundled folder moves between installs), then the recorded path.
    try:
        return resolve_base(cfg.get("base", ""))
    except ModelLoadError:
        if cfg.get("base_path") and Path(cfg["base_path"]).is_dir():
            return cfg["base_path"]
        raise


MEMO_TEXTS = 200_000     # remembered encoder texts (a few MB of logits); past it the memo starts again


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


class TransformerScorer:
    """Class probabilities of a loaded fine-tuned classifier. Thread-safe: the Slack bot asks from several threads."""

    def __init__(self, trained):
        import torch

        self.trained = trained
        self.model = trained.model
        self.tokenizer = trained.tokenizer
        self.labels: list[str] = list(trained.labels)
        cfg = getattr(trained, "config", None) or {}
        self.config = cfg
        self.max_length = int(cfg.get("max_length") or 128)
        first = next(iter(list(self.model.parameters()) or list(self.model.buffers())), None)
        self.device = first.device if first is not None else torch.device("cpu")
        self._torch = torch
        self._inputs = _accepted_inputs(self.model)     # e.g. drop token_type_ids for a forward that lacks it
        self.features = getattr(trained, "features", None)   # tabular: column features parsed from the row text
        # what the encoder reads of a tabular row (engine/features.py), as training resolved it
        self.tabular_text = cfg.get("tabular_text_used") or "full"
        # HF fast tokenizers reset truncation/padding state on every call and raise "Already borrowed" when two
        # threads do so at once (huggingface/tokenizers#537); tokenizing takes ~0.5 ms, so a lock costs nothing.
        self._tok_lock = threading.Lock()
        self._memo: dict[str, np.ndarray] = {}          # encoder text → text-head logits (see text_logits)
        self._memo_lock = threading.Lock()

    @classmethod
    def load(cls, artifact_dir: str | Path) -> "TransformerScorer":
        return cls(load_trained(artifact_dir, merge=True))

    def nbytes(self) -> int:
        """Bytes held by the model's parameters and buffers (the bulk of its memory)."""
        return int(sum(t.numel() * t.element_size()
                       for t in list(self.model.parameters()) + list(self.model.buffers())))

    def _encode(self, texts: Sequence[str], padding: bool):
        with self._tok_lock:
            enc = self.tokenizer(list(texts), truncation=True, max_length=self.max_length,
                                 padding="longest" if padding else False, return_tensors="pt")
        return {k: v.to(self.device) for k, v in enc.items() if self._inputs is None or k in self._inputs}

    def proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """(len(texts), len(labels)) in float64. Texts are batched by length so padding stays small; a single text
        is tokenized without padding; a text repeated in the input is scored once. With a column-features head the
        encoder runs once per distinct text it reads (ColumnFeatures.model_text: rows that share their categories
        share one pass) and the features' linear part is added per row — the same logits as one forward of each."""
        texts = [str(t) for t in texts]
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float64)
        if not texts:
            return out
        head = getattr(self.model, "features_head", None)
        if self.features is not None and head is not None:
            read = self.features.model_texts(texts, self.tabular_text)
            w = head.weight.detach().double().cpu().numpy()
            logits = self.text_logits(read, batch_size) + self.features.transform(texts).astype(np.float64) @ w.T
        else:
            unique = list(dict.fromkeys(texts))
            where = {t: i for i, t in enumerate(unique)}
            logits = self._logits(unique, batch_size)[[where[t] for t in texts]]
        logits -= logits.max(axis=1, keepdims=True)           # softmax in float64: rows sum to 1 for sklearn
        e = np.exp(logits)
        out[:] = e / e.sum(axis=1, keepdims=True)
        return out

    def text_logits(self, encoder_texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Logits of the text head alone (column features zeroed) for texts as the encoder reads them, remembered
        for the life of this scorer (one scoring call loads its own): the reasons for a scored file then need no
        second pass over texts it has read."""
        with self._memo_lock:
            new = [t for t in dict.fromkeys(encoder_texts) if t not in self._memo]
        if new:
            fresh = self._logits(new, batch_size, zero_features=True)
            with self._memo_lock:
                if len(self._memo) + len(new) > MEMO_TEXTS:
                    self._memo.clear()
                self._memo.update(zip(new, fresh))
        with self._memo_lock:
            missing = [t for t in encoder_texts if t not in self._memo]
            if not missing:
                return np.array([self._memo[t] for t in encoder_texts], dtype=np.float64).reshape(
                    len(encoder_texts), len(self.labels))
        return self._logits(list(encoder_texts), batch_size, zero_features=True)   # the memo overflowed meanwhile

    def _logits(self, texts: list[str], batch_size: int, zero_features: bool = False,
                autocast: Callable = contextlib.nullcontext) -> np.ndarray:
        """Logits (float64) of texts as the encoder reads them; column features zeroed (their part is added by the
        caller) or, without a features head, none. `autocast`: a context for the forward passes (bf16 where the
        hardware does it, engine/device.py), full precision by default."""
        torch = self._torch
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float64)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode(), autocast():
            for s in range(0, len(order), batch_size):
                idx = order[s:s + batch_size]
                enc = self._encode([texts[i] for i in idx], padding=len(idx) > 1)
                if zero_features and self.features is not None:
                    enc["features"] = torch.zeros((len(idx), self.features.dim), device=self.device)
                out[idx] = _logits(self.model, enc).double().cpu().numpy()
        return out

    def text_log_odds(self, encoder_texts: Sequence[str], positive: int, batch_size: int = 64) -> np.ndarray:
        """log P(positive)/P(other) of a two-label model from its text head alone (column features zeroed), for texts
        as the encoder reads them (ColumnFeatures.model_text). With the features head's weights this rebuilds the
        model's log-odds: text part + w·F(row). For attributions, which need not be exact to the last bit: bf16
        where the hardware does it natively (engine/device.py), like the other forward-only summaries."""
        from engine.device import forward_autocast
        logits = self._logits([str(t) for t in encoder_texts], batch_size, zero_features=True,
                              autocast=forward_autocast(self.config.get("precision"), self.device))
        return logits[:, positive] - logits[:, 1 - positive]

    def features_weight_diff(self, positive: int) -> np.ndarray | None:
        """The column-features head's weight row of the positive label minus the other's (None: no such head)."""
        head = getattr(self.model, "features_head", None)
        if head is None:
            return None
        w = head.weight.detach().double().cpu().numpy()
        return w[positive] - w[1 - positive]
