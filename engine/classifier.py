"""The classifier: a pretrained encoder → pooling → dropout → linear head (plus column features), built for a
TrainConfig with method and freezing applied (engine/freeze.py)."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from engine.base_models import detect_family, load_encoder, load_tokenizer, resolve_base
from engine.config import TrainConfig
from engine.errors import ConfigError


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
    to the logits: a logistic regression on the raw columns beside the text head (engine/training/setup.py gives it a
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


def build(config: TrainConfig, labels: list[str], features=None, meta: bool = False) -> Built:
    """Load the base, attach a fresh head for `labels` (and `features`, a fitted ColumnFeatures, if given), apply
    method and freezing (engine.freeze). `meta=True`: the same model on the meta device, without reading weights —
    what the pre-launch preview counts (engine/preview.py); it cannot compute."""
    from engine import freeze

    if len(labels) < 2:
        raise ConfigError("labels", labels, "at least two classes are needed to train a classifier")
    path = resolve_base(config.base)
    family, _ = detect_family(path)
    kind = resolve_pre_loss(config.pre_loss, family)      # fail before the (slower) weight load
    need_head = config.loss_alpha > 0 and kind in ("mlm", "causal")
    encoder, pre_head, family = load_encoder(path, need_head, meta=meta)
    kind = resolve_pre_loss(config.pre_loss, family)      # the head may have turned out to be missing
    ecfg = encoder.config
    pooling = "last" if family == "causal" else config.pooling
    dropout = next((float(v) for v in (getattr(ecfg, "hidden_dropout_prob", None), getattr(ecfg, "resid_pdrop", None))
                    if v is not None), 0.1)   # the encoder's own dropout rate also suits its head
    torch.manual_seed(config.seed)                          # the head's initialisation repeats with the seed
    with torch.device("meta") if meta else contextlib.nullcontext():
        model = Classifier(encoder, len(labels), pooling, dropout, ecfg.hidden_size, pre_head,
                           getattr(ecfg, "initializer_range", 0.02), num_features=features.dim if features else 0)
    if config.dropout is not None:   # before freeze.apply: LoRA's own dropout (lora_dropout) is added after, untouched
        set_dropout(model, config.dropout)
    with torch.device("meta") if meta else contextlib.nullcontext():
        targets = freeze.apply(model, config)
    trainable, total = count_parameters(model)
    return Built(model, load_tokenizer(path), list(labels), family, kind, pooling, path,
                 freeze.num_layers(model.encoder), config.method, targets, trainable, total, features)


@torch.no_grad()
def embed(model: nn.Module, tokenizer, texts: list[str], pooling: str = "mean", batch_size: int = 64,
          max_length: int = 128) -> torch.Tensor:
    """Pooled sentence embeddings (float32, on CPU) from a Classifier or a bare encoder, in eval mode."""
    encoder = model.encoder if isinstance(model, Classifier) else model
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    texts = [str(t) for t in texts]
    # batches of similar length, so a batch pads to its own longest text, not to the longest of 64 random ones
    # (4x less work on BANKING77's short questions); rows go back to the caller's order at the end
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = []
    try:
        for i in range(0, len(order), batch_size):
            enc = tokenizer([texts[j] for j in order[i:i + batch_size]], truncation=True, max_length=max_length,
                            padding=True, return_tensors="pt")
            ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
            hidden = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            out.append(pool(hidden, mask, pooling).float().cpu())
    finally:
        encoder.train(was_training)
    if not out:
        return torch.empty(0)
    pooled = torch.cat(out)
    result = torch.empty_like(pooled)
    result[torch.tensor(order)] = pooled
    return result
