"""head_init=probe: the head starts as a logistic regression on the pretrained embeddings (and column features)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.config import TrainConfig
from engine.errors import ConfigError
from engine.train import train
from engine import train_parts as parts
from tests.engine.test_features import _credit
from tests.engine.train_helpers import config, dataset


def _setup(base, data, **kw):
    cfg = config(base, **kw)
    parts.seed_everything(cfg.seed)
    return cfg, parts.setup(cfg, data)


def test_probe_head_separates_the_training_data_before_any_step(tiny_bert):
    data = dataset(n_train=60, n_val=12)
    _, random_init = _setup(tiny_bert, data, head_init="random")
    _, probe = _setup(tiny_bert, data, head_init="probe")
    # the encoders are the same untouched base: only the head differs
    enc_r, enc_p = random_init.built.model.encoder.state_dict(), probe.built.model.encoder.state_dict()
    assert all(torch.equal(enc_r[k], enc_p[k]) for k in enc_r)
    assert not torch.equal(random_init.built.model.head.weight, probe.built.model.head.weight)
    before = {"random": parts.evaluate(random_init, 16), "probe": parts.evaluate(probe, 16)}
    # on held-out examples the probe head is a working classifier at step 0, the random one is at chance (3 classes)
    assert before["probe"]["accuracy"] >= 0.75 > before["random"]["accuracy"] + 0.2
    assert before["probe"]["loss"] < before["random"]["loss"]


def test_probe_for_two_classes_fills_both_rows_and_the_column_features(tiny_bert):
    data = _credit()
    _, s = _setup(tiny_bert, data, method="full", column_features=True, head_init="probe")
    m = s.built.model
    w = m.head.weight.detach()
    np.testing.assert_allclose(w[0].numpy(), -w[1].numpy(), atol=1e-6)      # [−z/2, z/2]: same odds as sklearn
    fw = m.features_head.weight.detach()
    assert fw.abs().sum() > 0                                               # no longer the zero start
    # the amount decides the label ("bad" above 4,500): its standardised column weighs towards "bad" (row 0)
    assert fw[0, 0] > 0 > fw[1, 0]
    assert parts.evaluate(s, 16)["accuracy"] >= 0.85


def test_a_label_missing_from_training_keeps_a_low_logit(tiny_bert):
    data = dataset(n_train=36, n_val=12)
    data.labels = data.labels + ["unused"]
    _, s = _setup(tiny_bert, data, head_init="probe")
    head = s.built.model.head
    assert torch.all(head.weight[3] == 0) and head.bias[3] < head.bias[:3].min() - 5


def test_large_training_sets_fit_the_probe_on_a_seeded_subset(tiny_bert, monkeypatch):
    from engine import head_init
    monkeypatch.setattr(head_init, "PROBE_MAX_EXAMPLES", 30)
    data = dataset(n_train=60, n_val=12)
    _, a = _setup(tiny_bert, data, head_init="probe")
    _, b = _setup(tiny_bert, data, head_init="probe")
    assert a.probe["fitted"] and a.probe["examples"] == 30
    assert torch.equal(a.built.model.head.weight, b.built.model.head.weight)          # same seed, same subset


def test_training_from_a_probe_head_succeeds_and_says_so_in_the_thread(tiny_bert, tmp_path):
    seen = []
    res = train(config(tiny_bert, head_init="probe", epochs=2), dataset(n_train=60), tmp_path / "run",
                on_progress=seen.append)
    assert res.status == "succeeded", res.error
    started = next(p.message for p in seen if p.kind == "milestone")
    assert started.startswith("started") and "linear probe" in started and "60 examples" in started
    import json
    assert json.loads((tmp_path / "run" / "config.json").read_text())["head_init"] == "probe"


def test_head_init_key_is_checked():
    with pytest.raises(ConfigError, match="head_init"):
        TrainConfig.from_options({"head_init": "zeros"})
    assert TrainConfig.from_options({}).head_init in ("random", "probe")
