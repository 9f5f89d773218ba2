"""head_init=probe: the head starts as a logistic regression on the pretrained embeddings (and column features)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.config import TrainConfig
from engine.errors import ConfigError
from engine.train import train
from engine.training import setup as parts
from engine.training.validation import evaluate
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
    before = {"random": evaluate(random_init, 16), "probe": evaluate(probe, 16)}
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
    assert evaluate(s, 16)["accuracy"] >= 0.85


def test_a_label_missing_from_training_keeps_a_low_logit(tiny_bert):
    data = dataset(n_train=36, n_val=12)
    data.labels = data.labels + ["unused"]
    _, s = _setup(tiny_bert, data, head_init="probe")
    head = s.built.model.head
    assert torch.all(head.weight[3] == 0) and head.bias[3] < head.bias[:3].min() - 5


def test_large_training_sets_fit_the_probe_on_a_seeded_subset(tiny_bert, monkeypatch):
    from engine.recipes import probe_head as head_init
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


def test_head_init_key_is_checked_and_defaults_by_task_kind():
    with pytest.raises(ConfigError, match="head_init"):
        TrainConfig.from_options({"head_init": "zeros"})
    assert TrainConfig.from_options({}, task_kind="text").head_init == "auto"
    assert TrainConfig.from_options({"method": "full"}, task_kind="text").head_init == "auto"
    assert TrainConfig.from_options({}, task_kind="tabular").head_init == "random"


def test_auto_probes_only_scarce_data(tiny_bert, monkeypatch, tmp_path):
    import json
    from engine import config as config_module
    cfg = TrainConfig.from_options({})
    limit = config_module.PROBE_MAX_PER_LABEL
    assert cfg.resolved_head_init(limit * 77, 77) == "probe" and cfg.resolved_head_init(limit * 77 + 1, 77) == "random"
    assert TrainConfig.from_options({"head_init": "probe"}).resolved_head_init(10**6, 2) == "probe"

    data = dataset(n_train=60, n_val=12)                        # 20 per label: scarce → probe
    _, scarce = _setup(tiny_bert, data, head_init="auto")
    assert scarce.probe and scarce.probe["fitted"]
    monkeypatch.setattr(config_module, "PROBE_MAX_PER_LABEL", 10)   # now 20 per label is "plenty" → random head
    _, plenty = _setup(tiny_bert, data, head_init="auto")
    _, rand = _setup(tiny_bert, data, head_init="random")
    assert plenty.probe is None and torch.equal(plenty.built.model.head.weight, rand.built.model.head.weight)
    res = train(config(tiny_bert, head_init="auto", epochs=1), data, tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert res.status == "succeeded" and saved["head_init"] == "auto" and saved["head_init_used"] == "random"
