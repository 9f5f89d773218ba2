"""Exact contract for which parameters train under each method × freeze, and that frozen weights never move."""
from __future__ import annotations

import pytest
import torch

from engine.errors import ConfigError
from engine.freeze import trainable_parameter_names
from engine.losses import task_loss
from engine.classifier import build, count_parameters
from tests.engine.train_helpers import config

EMBEDDINGS = {f"encoder.embeddings.{n}" for n in ("word_embeddings.weight", "position_embeddings.weight",
                                                   "token_type_embeddings.weight", "LayerNorm.weight",
                                                   "LayerNorm.bias")}
LAYER_PARAMS = ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm"]
LORA_TARGETS = ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                "intermediate.dense", "output.dense"]      # every linear projection; LayerNorms get no adapter
HEAD = {"head.weight", "head.bias"}


def full_layer(i: int) -> set[str]:
    return {f"encoder.encoder.layer.{i}.{m}.{w}" for m in LAYER_PARAMS for w in ("weight", "bias")}


def lora_layer(i: int) -> set[str]:
    return {f"encoder.base_model.model.encoder.layer.{i}.{m}.lora_{ab}.default.weight"
            for m in LORA_TARGETS for ab in "AB"}


# tiny BERT has 2 layers; the MLM head (pre_head) never trains and the BERT pooler is dropped.
FULL = {"none": EMBEDDINGS | full_layer(0) | full_layer(1) | HEAD,
        "embeddings": full_layer(0) | full_layer(1) | HEAD,
        "0": EMBEDDINGS | full_layer(1) | HEAD,
        "0-1": EMBEDDINGS | HEAD,
        "embeddings,1": full_layer(0) | HEAD}
LORA = {"none": lora_layer(0) | lora_layer(1) | HEAD,         # embeddings frozen under LoRA regardless
        "embeddings": lora_layer(0) | lora_layer(1) | HEAD,
        "0": lora_layer(1) | HEAD,
        "0-1": HEAD,
        "embeddings,1": lora_layer(0) | HEAD}


@pytest.mark.parametrize("method,expected", [("full", FULL), ("lora", LORA)])
@pytest.mark.parametrize("freeze", list(FULL))
def test_exact_trainable_names(tiny_bert, method, expected, freeze):
    built = build(config(tiny_bert, method=method, freeze=freeze, alpha=0.5), ["a", "b", "c"])
    names = trainable_parameter_names(built.model)
    assert names == expected[freeze]
    trainable, total = count_parameters(built.model)
    params = dict(built.model.named_parameters())
    assert trainable == built.trainable_params == sum(params[n].numel() for n in names)
    assert total == built.total_params >= trainable
    assert built.model.pre_head is not None and not any(p.requires_grad for p in built.model.pre_head.parameters())


def test_gpt2_lora_targets(tiny_gpt2):
    built = build(config(tiny_gpt2, method="lora"), ["a", "b"])
    assert built.lora_targets == ["c_attn", "c_fc", "c_proj"]
    names = trainable_parameter_names(built.model)
    assert HEAD < names and all("lora_" in n for n in names - HEAD)
    assert {n.split(".h.")[1].split(".")[0] for n in names - HEAD} == {"0", "1"}


def test_explicit_targets_and_bad_target(tiny_bert):
    built = build(config(tiny_bert, method="lora", target_modules="query,value"), ["a", "b"])
    assert {n.split(".")[-4] for n in trainable_parameter_names(built.model) - HEAD} == {"query", "value"}
    with pytest.raises(ConfigError, match="target_modules"):
        build(config(tiny_bert, method="lora", target_modules="q_proj"), ["a", "b"])


@pytest.mark.parametrize("method", ["full", "lora"])
def test_layer_beyond_model(tiny_bert, method):
    with pytest.raises(ConfigError, match="layer 2 does not exist"):
        build(config(tiny_bert, method=method, freeze="2"), ["a", "b"])


@pytest.mark.parametrize("method", ["full", "lora"])
def test_frozen_weights_bit_identical_after_steps(tiny_bert, method):
    built = build(config(tiny_bert, method=method, freeze="embeddings,0", lr=1e-2), ["a", "b"])
    model, tok = built.model, built.tokenizer
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainable = trainable_parameter_names(model)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    enc = tok(["lost my card", "euro exchange rate today please"], padding=True, return_tensors="pt")
    model.train()
    for _ in range(3):
        out = model(enc["input_ids"], enc["attention_mask"])
        loss = task_loss(out.logits, torch.tensor([0, 1]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    for n, p in model.named_parameters():
        if n in trainable:
            if "lora_A" not in n:   # lora_A gets no gradient while lora_B is still 0 at step 1; B moves
                assert not torch.equal(p, before[n]), n
        else:
            assert torch.equal(p, before[n]), n
