"""The fine-tuned transformer of a run: saved by training (adapter or full encoder, head, labels, column features),
loaded back for evaluation and serving, and scored in batches. Weights are safetensors; nothing is unpickled."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

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
        is tokenized without padding; a text repeated in the input is scored once."""
        texts = [str(t) for t in texts]
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float64)
        if not texts:
            return out
        unique = list(dict.fromkeys(texts))
        torch = self._torch
        order = sorted(range(len(unique)), key=lambda i: len(unique[i]))
        scores = np.zeros((len(unique), len(self.labels)), dtype=np.float64)
        with torch.inference_mode():
            for s in range(0, len(order), batch_size):
                idx = order[s:s + batch_size]
                chunk = [unique[i] for i in idx]
                enc = self._encode(self.features.model_texts(chunk, self.tabular_text) if self.features is not None
                                   else chunk, padding=len(idx) > 1)
                if self.features is not None:
                    enc["features"] = torch.as_tensor(self.features.transform(chunk), device=self.device)
                logits = _logits(self.model, enc).double()   # float64: rows sum to 1 for sklearn
                scores[idx] = torch.softmax(logits, dim=-1).cpu().numpy()
        where = {t: i for i, t in enumerate(unique)}
        out[:] = scores[[where[t] for t in texts]]
        return out
