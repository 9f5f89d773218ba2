"""refit: after selection, the served models are trained again on train + validation (engine/refit.py)."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from engine.data.types import Example
from tests.engine.test_evaluate_report import _text_data


def _first_fit(tiny_bert, out: Path, data, **opts):
    from engine.config import TrainConfig
    from engine.evaluation.report import report
    from engine.train import train
    cfg = TrainConfig.from_options({"base": str(tiny_bert), "epochs": 2, "batch_size": 8, "max_length": 32,
                                    "device": "cpu", "threads": 1, "lr": 5e-3, "serve": "blend", **opts},
                                   task_kind=data.kind)
    res = train(cfg, data, out)
    assert res.status == "succeeded", res.error
    rep = report(res.artifact_dir, data, measure_forgetting=False, plots=False)
    return cfg, Path(res.artifact_dir), rep


def _with_validation_only_word(data):
    """Every validation row of 'transfer' carries a word no training row has: only a model that learnt from the
    validation rows can tie it to 'transfer'."""
    val = [Example(e.text + " zorblax", e.label) if e.label == "transfer" else e for e in data.validation]
    data.validation = val
    return data


@pytest.fixture(scope="module")
def refitted(tiny_bert, tmp_path_factory):
    from engine.recipes.refit import refit
    data = _with_validation_only_word(_text_data())
    cfg, art, rep = _first_fit(tiny_bert, tmp_path_factory.mktemp("refit") / "run", data)
    before = tmp_path_factory.mktemp("before") / "run"
    shutil.copytree(art, before)
    record = refit(cfg, data, art)
    return cfg, data, art, before, rep, record


def test_refit_trains_both_models_on_every_row_and_keeps_the_first_fits_choices(refitted):
    from engine.served.partner import load as load_partner_file

    def load_partner(d, s):
        return load_partner_file(d, s["partner_sha256"])
    cfg, data, art, before, rep, record = refitted
    rows = len(data.train) + len(data.validation)
    assert record["status"] == "succeeded" and record["rows"] == rows == 51
    # the transformer: new weights, for the best checkpoint's epochs over all rows
    meta = json.loads((before / "meta.json").read_text())
    epochs = meta["best_step"] / math.ceil(meta["train_examples"] / cfg.batch_size)
    assert record["epochs"] == pytest.approx(epochs, abs=1e-3)
    assert record["steps"] == max(1, round(epochs * math.ceil(rows / cfg.batch_size)))
    old, new = load_file(str(before / "head.safetensors")), load_file(str(art / "head.safetensors"))
    assert any(not np.allclose(old[k].numpy(), new[k].numpy()) for k in old)
    # the partner learnt the validation-only word; the first one had never seen it
    sel_before, sel_after = (json.loads((d / "served.json").read_text()) for d in (before, art))
    # (the TF-IDF model, alone or as a member of the soft vote with the embedding partner)
    tfidf = lambda m: m.named_estimators_["tfidf_lr"] if hasattr(m, "named_estimators_") else m
    p_before, p_after = (tfidf(load_partner(d, s)) for d, s in ((before, sel_before), (art, sel_after)))
    assert "zorblax" not in p_before.steps[0][1].transformer_list[0][1].vocabulary_
    assert "zorblax" in p_after.steps[0][1].transformer_list[0][1].vocabulary_
    full_after = load_partner(art, sel_after)
    # a soft vote's members are fitted on encoded labels: its own classes_ name them
    assert full_after.classes_[list(p_after.classes_).index(p_after.predict(["zorblax"])[0])] == "transfer"
    assert sel_after["refitted"]["partner"]["rows"] == rows and sel_after["validated"] is False
    # the choice, the weight and the reported figures are the first fit's
    for key in ("served", "weight", "scores", "partner"):
        assert sel_after[key] == sel_before[key]
    metrics = json.loads((art / "metrics.json").read_text())
    assert metrics["accuracy"] == rep["accuracy"] and metrics["refitted"]["status"] == "succeeded"
    assert json.loads((art / "meta.json").read_text())["refitted"]["rows"] == rows
    # the stored validation scores were of the first fit's weights: gone
    assert not (art / "validation_proba.npy").exists() and (before / "validation_proba.npy").exists()
    assert not (art / ".refit").exists()
    # what answers is described as not validated, in metrics.json and on the model card (written again)
    assert metrics["served_model"]["validated"] is False and "NOT validated" in metrics["served_model"]["figures"]
    card_before, card_after = ((d / "README.md").read_text() for d in (before, art))
    assert "not validated on held-out rows" not in card_before and "not validated on held-out rows" in card_after


def test_refitted_artifact_answers_with_the_new_weights(refitted):
    from engine.served.transformer import load_trained
    from engine.config import TrainConfig
    from engine.inference import get_predictor
    cfg, data, art, before, _, _ = refitted
    texts = [e.text for e in data.validation]
    p_new = get_predictor(art).finetuned_proba(texts)
    p_old = get_predictor(before).finetuned_proba(texts)
    assert p_new.shape == p_old.shape and not np.allclose(p_new, p_old)
    assert np.allclose(p_new.sum(1), 1.0)
    TrainConfig.from_dict(json.loads((art / "config.json").read_text()))    # the record still reads as a config
    load_trained(art)


def test_a_cancelled_refit_keeps_the_first_fit_served(tiny_bert, tmp_path):
    from engine.recipes.refit import refit
    data = _text_data(seed=3)
    cfg, art, _ = _first_fit(tiny_bert, tmp_path / "run", data)
    head = (art / "head.safetensors").read_bytes()
    partner_sha = json.loads((art / "served.json").read_text())["partner_sha256"]
    record = refit(cfg, data, art, should_stop=lambda: "cancelled by the test")
    assert record["status"] == "cancelled" and "first fit kept" in record["transformer"]
    assert (art / "head.safetensors").read_bytes() == head            # the first fit's weights, untouched
    assert not (art / ".refit").exists() and (art / "validation_proba.npy").exists()
    # what is served is replaced whole or not at all: the first fit's partner too
    assert json.loads((art / "served.json").read_text())["partner_sha256"] == partner_sha


def test_refit_auto_applies_to_small_datasets_only(tiny_bert):
    from engine.config import REFIT_MAX_ROWS, TrainConfig
    cfg = TrainConfig.from_options({}, task_kind="text")
    assert cfg.refit == "auto"
    assert cfg.resolved_refit(REFIT_MAX_ROWS) and not cfg.resolved_refit(REFIT_MAX_ROWS + 1)
    assert not TrainConfig.from_options({"refit": "off"}).resolved_refit(10)
    assert TrainConfig.from_options({"refit": "on"}).resolved_refit(10 ** 6)
    with pytest.raises(Exception, match="refit"):
        TrainConfig.from_options({"refit": "sometimes"})


def test_refit_off_leaves_the_artifact_alone(tiny_bert, tmp_path):
    from engine.recipes.refit import refit
    data = _text_data(seed=4)
    cfg, art, _ = _first_fit(tiny_bert, tmp_path / "run", data, refit="off")
    head = (art / "head.safetensors").read_bytes()
    assert refit(cfg, data, art) is None
    assert (art / "head.safetensors").read_bytes() == head


def test_refit_gets_only_what_is_left_of_the_time_budget(tiny_bert, tmp_path):
    import dataclasses
    from engine.recipes.refit import refit
    data = _text_data(seed=6)
    cfg, art, _ = _first_fit(tiny_bert, tmp_path / "run", data)
    head = (art / "head.safetensors").read_bytes()
    record = refit(dataclasses.replace(cfg, budget=30.0), data, art, spent_s=45.0)
    assert record["status"] == "skipped" and "budget of 30s was spent" in record["transformer"]
    assert (art / "head.safetensors").read_bytes() == head
    assert json.loads((art / "metrics.json").read_text())["refitted"]["status"] == "skipped"


def test_a_served_baseline_is_refitted_alone_and_the_artifact_says_so(tiny_bert, tmp_path):
    from engine.recipes.refit import refit
    data = _text_data(seed=7)
    cfg, art, _ = _first_fit(tiny_bert, tmp_path / "run", data, serve="baseline")
    head = (art / "head.safetensors").read_bytes()
    record = refit(cfg, data, art)
    assert record["status"] == "succeeded" and record["transformer"].startswith("not refitted")
    assert record["partner"]["rows"] == len(data.train) + len(data.validation)
    assert (art / "head.safetensors").read_bytes() == head
    assert json.loads((art / "served.json").read_text())["refitted"]["partner"]["rows"] == record["rows"]
