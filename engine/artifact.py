"""Run artifacts: save a trained classifier (adapter or full encoder, head, labels, column features) and load it
back for evaluation and inference. Weights are safetensors; nothing is unpickled."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from engine.base_models import load_encoder, load_tokenizer, quiet_transformers, resolve_base
from engine.classifier import Built, Classifier
from engine.errors import ModelLoadError


@dataclass
class Trained:
    model: Classifier
    tokenizer: Any
    labels: list[str]
    config: dict
    pooling: str
    features: Any = None         # ColumnFeatures, when the head reads column features


FEATURES_FILE = "features.json"


def save_trained(built: Built, out_dir: Path) -> None:
    """model/ (adapter or full encoder + tokenizer), head.safetensors, label_map.json. config.json is the caller's."""
    from safetensors.torch import save_file
    model_dir = Path(out_dir) / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    if saved_kind(built) != "base":
        # LoRA: PeftModel.save_pretrained writes only the adapter; full: the whole fine-tuned encoder.
        with quiet_transformers():  # no "Writing model shards" bar in CLI/Slack logs
            built.model.encoder.save_pretrained(model_dir)
    built.tokenizer.save_pretrained(model_dir)
    head = {k: v.detach().cpu().contiguous() for k, v in built.model.head.state_dict().items()}
    if built.model.features_head is not None:
        head["features.weight"] = built.model.features_head.weight.detach().cpu().contiguous()
    save_file(head, str(Path(out_dir) / "head.safetensors"))
    (Path(out_dir) / "label_map.json").write_text(json.dumps({"labels": built.labels}, ensure_ascii=False))
    if built.features is not None:
        (Path(out_dir) / FEATURES_FILE).write_text(json.dumps(built.features.to_dict(), ensure_ascii=False))


def saved_kind(built: Built) -> str:
    """What model/ holds: 'adapter' (LoRA), 'full' (encoder weights) or 'base' (LoRA with every layer frozen:
    only the head trained, the encoder is the untouched base)."""
    if built.lora_targets:
        return "adapter"
    return "full" if not is_peft(built.model.encoder) and built.method == "full" else "base"


def is_peft(module: nn.Module) -> bool:
    from peft import PeftModel
    return isinstance(module, PeftModel)


def load_trained(artifact_dir: str | Path, merge: bool = True) -> Trained:
    """Rebuild the classifier of a run artifact, in eval mode. LoRA adapters are merged for fast inference."""
    from safetensors.torch import load_file
    d = Path(artifact_dir)
    try:
        cfg = json.loads((d / "config.json").read_text())
        labels = json.loads((d / "label_map.json").read_text())["labels"]
    except (OSError, ValueError, KeyError) as err:
        raise ModelLoadError(f"{d} is not a complete run artifact: {err}") from err
    model_dir = d / "model"
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
    if (d / FEATURES_FILE).exists():
        from engine.features import ColumnFeatures
        features = ColumnFeatures.from_dict(json.loads((d / FEATURES_FILE).read_text()))
    model = Classifier(encoder, len(labels), cfg.get("pooling_used", cfg.get("pooling", "mean")), 0.0,
                       ecfg.hidden_size, num_features=features.dim if features else 0)
    head = load_file(str(d / "head.safetensors"))
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
