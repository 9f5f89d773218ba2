"""The run operations: a request parsed once, resolved against the dataset's kind, previewed without loading weights,
and a run that builds its model exactly once."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import TrainConfig
from engine.errors import ConfigError
from ops import datasets, execution, runs
from ops.access import Actor
from storage import connect, events
from tests.cli.test_cli import write_data

ADMIN = Actor.system("test")


@pytest.fixture()
def cards(home, tmp_path):
    datasets.register(home, "cards", write_data(tmp_path / "cards.csv"), actor=ADMIN)
    return "cards"


def test_a_config_built_directly_is_validated_and_defaults_live_in_one_table():
    with pytest.raises(ConfigError, match="lr=-1.0 is not valid"):
        TrainConfig(lr=-1)
    with pytest.raises(ConfigError, match="alpha"):
        TrainConfig(loss_alpha="2")
    request = TrainConfig.parse({"lr": "3e-4", "alpha": "0.2"})
    assert request.lr == 3e-4 and request.epochs is None          # not given: filled when the dataset is known
    text, tab = request.resolved("text"), request.resolved("tabular")
    assert (text.epochs, tab.epochs, text.lr, text.loss_alpha) == (15.0, 8.0, 3e-4, 0.2)
    assert TrainConfig.parse({"method": "full"}).resolved("tabular").epochs == 6.0


def test_submit_takes_a_parsed_request_only(home, cards):
    with pytest.raises(TypeError, match="TrainConfig"):
        runs.submit(home, cards, {"epochs": 1}, actor=ADMIN)


@pytest.mark.parametrize("fixture, method", [("tiny_bert", "lora"), ("tiny_bert_nohead", "full"), ("tiny_gpt2", "lora")])
def test_preview_counts_equal_a_real_build_and_a_repeat_needs_no_model(home, cards, request, fixture, method):
    from engine.classifier import build

    base = request.getfixturevalue(fixture)
    request = TrainConfig.parse({"base": str(base), "method": method, "freeze": "embeddings,0", "alpha": 0.3})
    config = runs.resolve(home, cards, request)
    first = runs.preview(home, cards, config)
    real = build(config, datasets.load(home, cards).labels)
    assert (first["trainable_params"], first["total_params"], first["pre_loss"]) == \
        (real.trainable_params, real.total_params, real.pre_loss)
    cache = json.loads((home / "cache" / "preview.json").read_text())
    assert len(cache) == 1 and next(iter(cache.values()))["trainable_params"] == real.trainable_params
    again = runs.preview(home, cards, config)
    assert again["trainable_params"] == first["trainable_params"] and again["lora_targets"] == first["lora_targets"]


def test_a_repeated_queue_submit_imports_no_torch(home, cards, tiny_bert):
    """`ftbot train --queue` for a model shape seen before: the preview comes from the cache, torch is never loaded."""
    code = ("import sys; from bot.cli import main; "
            f"rc = main(['train', 'cards', '--base', {str(tiny_bert)!r}, '--queue', '--json']); "
            "print('TORCH', 'torch' in sys.modules, rc)")
    env = dict(os.environ, FTBOT_HOME=str(home), PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    out = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300).stdout
           for _ in range(2)]
    assert "TORCH True 0" in out[0]            # first time: a meta-device build counts the parameters
    assert "TORCH False 0" in out[1], out[1]    # second time: no torch at all


def test_a_run_builds_its_model_once(home, cards, tiny_bert, monkeypatch):
    import engine.classifier as classifier
    import engine.training.setup as parts
    real_build, calls = classifier.build, []

    def counting(config, labels, features=None, meta=False):
        calls.append(meta)
        return real_build(config, labels, features, meta=meta)

    monkeypatch.setattr(classifier, "build", counting)
    monkeypatch.setattr(parts, "build", counting)
    run = runs.submit(home, cards, TrainConfig.parse({"base": str(tiny_bert), "epochs": 1, "batch_size": 8,
                                                      "max_length": 16, "threads": 1, "refit": "off"}), actor=ADMIN)
    final = execution.run_foreground(home, run["id"])
    assert final["status"] == "succeeded", final["error"]
    assert calls.count(False) == 1 and calls.count(True) <= 1   # one real model; at most one weightless preview


def test_a_small_dataset_is_refitted_on_every_row_after_selection(home, cards, tiny_bert, monkeypatch):
    """refit=auto on a small dataset: a second training on train + validation, said in the thread's events and
    the run record; the served artifact holds the refit's weights, the reported figures stay the first fit's."""
    import engine.recipes.refit as refit_mod
    seen = {}
    real = refit_mod.refit

    def spy(config, data, artifact_dir, **kw):
        seen["rows"] = len(data.train) + len(data.validation)
        seen["head_before"] = (Path(artifact_dir) / "head.safetensors").read_bytes()
        return real(config, data, artifact_dir, **kw)

    monkeypatch.setattr(refit_mod, "refit", spy)
    run = runs.submit(home, cards, TrainConfig.parse({"base": str(tiny_bert), "epochs": 1, "batch_size": 8,
                                                      "max_length": 16, "threads": 1}), actor=ADMIN)
    final = execution.run_foreground(home, run["id"])
    assert final["status"] == "succeeded", final["error"]
    rec = final["metrics"]["refitted"]
    assert rec["status"] == "succeeded" and rec["rows"] == seen["rows"]
    art = Path(final["artifact_path"])
    assert (art / "head.safetensors").read_bytes() != seen["head_before"]
    assert json.loads((art / "served.json").read_text())["refitted"]["rows"] == seen["rows"]
    with connect(home) as db:
        messages = [e["message"] or "" for e in events.list_for(db, run["id"])]
    assert any(m.startswith(f"refitting on all {seen['rows']:,} rows") for m in messages)
    assert any(m.startswith(f"refit on all {seen['rows']:,} rows: finished after") for m in messages)
    with connect(home) as db:
        evs = events.list_for(db, run["id"])
    start = next(i for i, e in enumerate(evs) if (e["message"] or "").startswith("refitting on all"))
    # the refit's evaluations score rows it trains on: none is reported as a validation figure
    assert [e for e in evs[start:] if e["kind"] == "eval"] == []
