"""Method (full | lora) and frozen parts: decides exactly which parameters receive gradients.

full: parameters of frozen parts (embeddings, listed encoder layers) get requires_grad=False.
lora: PEFT LoRA adapters on the unfrozen layers only (`layers_to_transform`); every base weight, embeddings
included, stays frozen. The classification head is a sibling of the encoder, outside PEFT, so it always trains.
"""
from __future__ import annotations

import warnings

from torch import nn

from engine.config import TrainConfig
from engine.errors import ConfigError


def _conv1d_type():
    from transformers.pytorch_utils import Conv1D   # GPT-2's linear layers
    return Conv1D


def num_layers(encoder: nn.Module) -> int:
    return len(layer_list(encoder)[1])


def layer_list(encoder: nn.Module) -> tuple[str, nn.ModuleList]:
    """The ModuleList of transformer blocks (BERT 'encoder.layer', GPT-2 'h'): the list as long as the config says."""
    base = encoder.get_base_model() if hasattr(encoder, "get_base_model") else encoder
    n = getattr(base.config, "num_hidden_layers", None)
    lists = [(name, m) for name, m in base.named_modules() if isinstance(m, nn.ModuleList) and len(m) == n]
    if not lists:
        raise ConfigError("base", getattr(base.config, "_name_or_path", "?"),
                          "a transformer whose blocks can be found (num_hidden_layers does not match any module list)")
    return min(lists, key=lambda x: x[0].count("."))


def embedding_modules(encoder: nn.Module) -> list[nn.Module]:
    """BERT-like: the whole `embeddings` block (word, position, type, LayerNorm); else every nn.Embedding outside
    the blocks (GPT-2: wte, wpe)."""
    emb = getattr(encoder, "embeddings", None)
    if isinstance(emb, nn.Module):
        return [emb]
    _, layers = layer_list(encoder)
    inside = {id(m) for m in layers.modules()}
    return [m for m in encoder.modules() if isinstance(m, nn.Embedding) and id(m) not in inside]


def auto_targets(encoder: nn.Module) -> list[str]:
    """Leaf names of every linear projection inside the blocks: BERT query/key/value/dense (attention output and
    MLP), GPT-2 c_attn/c_proj/c_fc."""
    _, layers = layer_list(encoder)
    kinds = (nn.Linear, _conv1d_type())
    return sorted({name.rsplit(".", 1)[-1] for name, m in layers.named_modules() if isinstance(m, kinds)})


def _targets(encoder: nn.Module, requested: str) -> list[str]:
    available = auto_targets(encoder)
    if requested.strip().lower() == "auto":
        return available
    wanted = [t.strip() for t in requested.split(",") if t.strip()]
    _, layers = layer_list(encoder)
    names = {name for name, _ in layers.named_modules()}
    unknown = [t for t in wanted if not any(n == t or n.endswith("." + t) for n in names)]
    if not wanted or unknown:
        raise ConfigError("target_modules", requested,
                          f"'auto' or a comma list of module names in this model's layers: {', '.join(available)}")
    return wanted


def apply(model: nn.Module, config: TrainConfig) -> list[str]:
    """Apply method + freeze to `model` (an engine.classifier.Classifier) in place. Returns LoRA targets ([] for full)."""
    encoder = model.encoder
    n = num_layers(encoder)
    config.freeze.check_layers(n)
    if model.pre_head is not None:
        model.pre_head.requires_grad_(False)
    if config.method == "full":
        for m in embedding_modules(encoder) if config.freeze.embeddings else []:
            m.requires_grad_(False)
        _, layers = layer_list(encoder)
        for i in config.freeze.layers:
            layers[i].requires_grad_(False)
        return []
    targets = _targets(encoder, config.target_modules)
    keep = [i for i in range(n) if i not in set(config.freeze.layers)]
    if not keep:
        # Every block frozen: no adapters at all (PEFT reads an empty layers_to_transform as "all layers").
        encoder.requires_grad_(False)
        return []
    from peft import LoraConfig, get_peft_model
    layers_name, _ = layer_list(encoder)
    lcfg = LoraConfig(r=config.r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=targets, layers_to_transform=keep,
                      layers_pattern=layers_name.rsplit(".", 1)[-1], bias="none",
                      fan_in_fan_out=_conv1d_type() in {type(m) for m in encoder.modules()})
    with warnings.catch_warnings():   # peft 0.21 calls a transformers 5 API that is deprecated: noise, not ours
        warnings.simplefilter("ignore", FutureWarning)
        model.encoder = get_peft_model(encoder, lcfg)   # freezes every base weight, embeddings included
    return targets


def trainable_parameter_names(model: nn.Module) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def describe(config: TrainConfig) -> str:
    """Frozen parts in words, for plans and model cards (TrainConfig.frozen_description: no torch needed)."""
    return config.frozen_description()
