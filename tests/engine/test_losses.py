"""α-mixing against hand-computed losses, and each L_pre kind on the tiny models."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from engine.training import setup as parts
from engine.losses import PreLoss, mask_tokens, mix, penalties
from engine.classifier import build
from engine.train import train
from tests.engine.train_helpers import config, dataset, no_dropout_copy


def test_mix_arithmetic():
    new, pre = torch.tensor(2.0), torch.tensor(4.0)
    assert mix(new, pre, 0.0) is new
    assert mix(new, None, 0.7) is new
    assert mix(new, pre, 0.3).item() == pytest.approx(0.3 * 4 + 0.7 * 2)
    assert mix(new, pre, 1.0).item() == pytest.approx(4.0)


@pytest.fixture(scope="module")
def bert_nodrop(tiny_bert, tmp_path_factory):
    return no_dropout_copy(tiny_bert, tmp_path_factory.mktemp("bert-nodrop"))


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_training_step_reports_hand_computed_mix(bert_nodrop, tmp_path, alpha):
    """First step's reported losses == L_new and masked-LM L_pre computed here by hand on the same batch."""
    # fp32: the reference below is computed in fp32 (on a CPU with native bf16 training defaults to bf16 autocast)
    cfg = config(bert_nodrop, method="full", alpha=alpha, lr=1e-4, precision="fp32")
    data = dataset(16, 6)
    parts.seed_everything(cfg.seed)
    s = parts.setup(cfg, data)                  # as train() sets up: the probe-initialised head included
    model, tok = s.built.model, s.built.tokenizer
    b = s.batches.collate(s.batches.order(cfg.batch_size, cfg.seed, 0, True)[0])
    with torch.no_grad():
        l_new = F.cross_entropy(model(b["input_ids"], b["attention_mask"]).logits, b["labels"]).item()
        if alpha == 0:   # no L_pre at α = 0: the pretraining head is not even loaded
            assert model.pre_head is None
        else:
            masked, labels = mask_tokens(b["input_ids"], b["attention_mask"], tok.all_special_ids, tok.mask_token_id,
                                         model.encoder.config.vocab_size, torch.Generator().manual_seed(cfg.seed))
            logits = model.pre_head(model.hidden(masked, b["attention_mask"]))
            l_pre = F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100).item()

    res = train(cfg, data, tmp_path / "out")
    assert res.status == "succeeded", res.error
    first = res.history[0]
    assert first["step"] == 1
    assert first["loss_new"] == pytest.approx(l_new, rel=1e-5)
    if alpha == 0:
        assert first["loss_pre"] is None and first["loss"] == pytest.approx(l_new, rel=1e-5)
    else:
        assert first["loss_pre"] == pytest.approx(l_pre, rel=1e-5)
        assert first["loss"] == pytest.approx(alpha * l_pre + (1 - alpha) * l_new, rel=1e-5)
    assert res.pre_loss == "mlm"


def _one_batch(built, texts=("lost my card yesterday", "euro to dollar exchange rate please")):
    enc = built.tokenizer(list(texts), padding=True, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
            "labels": torch.tensor([0, 1]), "index": torch.tensor([0, 1])}


@pytest.mark.parametrize("fixture,kind", [("tiny_bert", "mlm"), ("tiny_gpt2", "causal")])
def test_pretraining_head_losses_positive(request, fixture, kind):
    built = build(config(request.getfixturevalue(fixture), alpha=0.5, method="full"), ["a", "b"])
    assert built.pre_loss == kind
    b = _one_batch(built)
    out = built.model(b["input_ids"], b["attention_mask"])
    loss = PreLoss(kind, built.tokenizer, seed=0)(built.model, b, out)
    assert math.isfinite(loss.item()) and loss.item() > 0
    loss.backward()   # flows into the encoder, not into the frozen head
    assert built.model.encoder.embeddings.word_embeddings.weight.grad is not None if kind == "mlm" else True
    assert all(p.grad is None for p in built.model.pre_head.parameters())


class _Rows:
    """The minimum of engine.batching.Batches that frozen_embeddings needs."""

    def __init__(self, b):
        self.b = b
        self.lengths = b["attention_mask"].sum(1).numpy()

    def __len__(self):
        return len(self.b["labels"])

    def collate(self, idx, device):
        return {k: v[idx].to(device) for k, v in self.b.items()}


def test_embedding_loss_zero_before_update_then_positive(tiny_bert_nohead):
    built = build(config(tiny_bert_nohead, alpha=0.5, method="full"), ["a", "b"])
    assert built.pre_loss == "embedding" and built.model.pre_head is None
    model, b = built.model, _one_batch(built)
    pre = PreLoss("embedding").prepare(model, _Rows(b))
    model.eval()
    assert pre(model, b, model(b["input_ids"], b["attention_mask"])).item() == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        w = model.encoder.encoder.layer[1].output.dense.weight   # random, not constant: LayerNorm undoes shifts
        w.add_(torch.randn(w.shape, generator=torch.Generator().manual_seed(0)))
    loss = pre(model, b, model(b["input_ids"], b["attention_mask"])).item()
    assert math.isfinite(loss) and loss > 1e-4


@pytest.mark.parametrize("method", ["full", "lora"])
def test_l2sp_zero_at_theta0_then_positive(tiny_bert, method):
    built = build(config(tiny_bert, alpha=0.5, method=method, pre_loss="l2sp"), ["a", "b"])
    model, b = built.model, _one_batch(built)
    pre = PreLoss("l2sp").prepare(model)
    out = model(b["input_ids"], b["attention_mask"])
    assert pre(model, b, out).item() == 0.0
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.requires_grad and not n.startswith("head."):
                p.add_(0.01)
    with torch.no_grad():
        model.head.weight.add_(1.0)   # the head is excluded from l2sp
    loss = pre(model, b, out).item()
    assert math.isfinite(loss) and loss > 0
    if method == "full":
        n = sum(p.numel() for name, p in model.named_parameters() if p.requires_grad and not name.startswith("head."))
        assert loss == pytest.approx(0.5 * n * 0.01 ** 2, rel=1e-3)


def test_explicit_pre_loss_needs_the_head(tiny_bert_nohead, tiny_bert, tiny_gpt2):
    from engine.errors import ConfigError
    with pytest.raises(ConfigError, match="pre_loss.*embedding model.*supports") as err:
        build(config(tiny_bert_nohead, alpha=0.5, pre_loss="mlm"), ["a", "b"])
    assert err.value.field == "pre_loss"
    with pytest.raises(ConfigError, match="pre_loss"):
        build(config(tiny_bert, alpha=0.5, pre_loss="causal"), ["a", "b"])
    assert build(config(tiny_gpt2, alpha=0.5, pre_loss="l2sp"), ["a", "b"]).pre_loss == "l2sp"
    assert build(config(tiny_bert, alpha=0.5, pre_loss="embedding"), ["a", "b"]).pre_loss == "embedding"


def test_masking_rules(tiny_bert):
    from engine.base_models import load_tokenizer
    tok = load_tokenizer(str(tiny_bert))
    texts = ["the card was blocked at the shop " * 6, "euro rate", "hi"]
    enc = tok(texts, padding=True, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    special = torch.isin(ids, torch.tensor(tok.all_special_ids)) | (mask == 0)
    a = mask_tokens(ids, mask, tok.all_special_ids, tok.mask_token_id, 30522, torch.Generator().manual_seed(1))
    b = mask_tokens(ids, mask, tok.all_special_ids, tok.mask_token_id, 30522, torch.Generator().manual_seed(1))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])          # seeded
    masked, labels = a
    chosen = labels != -100
    assert not (chosen & special).any()                                 # special/pad never chosen
    assert torch.equal(masked[~chosen], ids[~chosen])                   # only chosen positions change
    assert chosen.any(1).all()                                          # every row contributes a target
    # 80/10/10 and the 15 % rate, on many draws
    big = ids[:1].repeat(400, 1)
    m, lab = mask_tokens(big, mask[:1].repeat(400, 1), tok.all_special_ids, tok.mask_token_id, 30522,
                         torch.Generator().manual_seed(2))
    ch = lab != -100
    rate = ch.sum().item() / (~torch.isin(big, torch.tensor(tok.all_special_ids))).sum().item()
    assert 0.13 < rate < 0.17
    share_mask = (m[ch] == tok.mask_token_id).float().mean().item()
    share_keep = (m[ch] == big[ch]).float().mean().item()
    assert 0.76 < share_mask < 0.84 and 0.07 < share_keep < 0.13


def test_penalties():
    w, bias = torch.nn.Parameter(torch.tensor([[1.0, -2.0]])), torch.nn.Parameter(torch.tensor([3.0]))
    assert penalties([w, bias], 0, 0) is None
    assert penalties([w, bias], 0.1, 0).item() == pytest.approx(0.3)
    assert penalties([w, bias], 0, 0.5).item() == pytest.approx(2.5)
