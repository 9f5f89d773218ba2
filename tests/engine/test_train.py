"""The training loop: artifact, progress, determinism, cancel + resume, early stop, budget, failures, plan."""
from __future__ import annotations

import json
import os
import time

import pytest
import torch

from engine import train as train_mod
from engine.train import plan, train
from tests.engine.train_helpers import config, dataset


def _losses(res):
    return [(h["step"], h["loss"], h["loss_new"], h["loss_pre"]) for h in res.history if h["kind"] == "step"]


def test_succeeds_writes_artifact_and_reports_progress(tiny_bert, tmp_path, monkeypatch):
    monkeypatch.setattr(train_mod, "PROGRESS_EVERY_S", 0.0)
    events = []
    cfg = config(tiny_bert, method="lora", alpha=0.3, epochs=2, evals_per_epoch=2, freeze="0")
    res = train(cfg, dataset(), tmp_path / "out", checkpoint_dir=tmp_path / "ckpt", on_progress=events.append)
    assert res.status == "succeeded", res.error
    assert res.steps == 10 and res.pre_loss == "mlm" and 0 < res.trainable_params < res.total_params
    assert set(res.metrics) >= {"accuracy", "macro_f1"} and res.best_step in (2, 5, 7, 10)   # evaluations at 2.5 → 2, 5, 7, 10
    assert res.wall_s > 0 and res.train_examples_per_s > 0
    out = tmp_path / "out"
    assert {"model", "head.safetensors", "label_map.json", "config.json", "history.jsonl", "README.md"} <= set(os.listdir(out))
    assert (out / "model" / "adapter_config.json").exists() and (out / "model" / "tokenizer.json").exists()
    record = json.loads((out / "config.json").read_text())
    assert record["pre_loss"] == "mlm" and record["alpha"] == 0.3 and record["data_sha256"] == "f" * 64
    assert record["base"] == str(tiny_bert) and record["freeze"] == "0"
    assert json.loads((out / "label_map.json").read_text()) == {"labels": ["card", "fx", "loan"]}
    lines = [json.loads(x) for x in (out / "history.jsonl").read_text().splitlines()]
    assert sum(x["kind"] == "eval" for x in lines) == 4 and sum(x["kind"] == "step" for x in lines) == 10
    card = (out / "README.md").read_text()
    for needle in ("α = 0.3", "L_pre = mlm", f"{res.trainable_params:,}", "f" * 64, "LoRA (r=16", "| frozen |"):
        assert needle in card
    assert not (tmp_path / "ckpt").exists()          # checkpoints go on success
    kinds = [e.kind for e in events]
    assert kinds[0] == "milestone" and kinds[-1] == "milestone" and kinds.count("eval") == 4
    steps = [e for e in events if e.kind == "step"]
    assert [e.step for e in steps] == list(range(1, 11)) and all(e.total_steps == 10 for e in steps)
    assert all(e.loss_pre is not None and e.lr is not None and e.eta_s is not None for e in steps)
    assert all(e.metrics and "macro_f1" in e.metrics for e in events if e.kind == "eval")


def test_same_seed_same_losses(tiny_bert, tmp_path):
    cfg = config(tiny_bert, method="full", alpha=0.5, epochs=1)
    a = train(cfg, dataset(), tmp_path / "a")
    b = train(cfg, dataset(), tmp_path / "b")
    assert a.status == b.status == "succeeded"
    assert _losses(a) == _losses(b)
    c = train(config(tiny_bert, method="full", alpha=0.5, epochs=1, seed=1), dataset(), tmp_path / "c")
    assert _losses(c) != _losses(a)


def test_cancel_then_resume_completes_like_uninterrupted(tiny_bert, tmp_path):
    cfg = config(tiny_bert, method="lora", alpha=0.3, epochs=2)
    data = dataset()      # 36 examples / 8 = 5 steps per epoch
    whole = train(cfg, data, tmp_path / "whole")
    calls = []

    def stop_after_epoch_one():
        calls.append(1)
        return "cancelled by U1" if len(calls) > 5 else None

    first = train(cfg, data, tmp_path / "out", checkpoint_dir=tmp_path / "ckpt", should_stop=stop_after_epoch_one)
    assert (first.status, first.reason) == ("cancelled", "cancelled by U1")
    assert not (tmp_path / "out").exists()           # nothing written to out_dir
    assert (tmp_path / "ckpt" / "state.pt").exists()
    # Tensors and plain values only: loadable without unpickling arbitrary objects.
    state = torch.load(tmp_path / "ckpt" / "state.pt", map_location="cpu", weights_only=True)
    assert state["step"] == 5
    events = []
    second = train(cfg, data, tmp_path / "out", checkpoint_dir=tmp_path / "ckpt", on_progress=events.append)
    assert second.status == "succeeded", second.error
    assert events[0].message.startswith("resumed at step 5")
    assert second.steps == 10 and _losses(second) == _losses(whole)
    assert second.metrics == whole.metrics


def test_no_checkpoint_is_written_after_the_last_evaluation_unless_kept(tiny_bert, tmp_path, monkeypatch):
    """The artifact follows the last evaluation at once (and the checkpoint is then deleted): the last checkpoint is
    the one before it, unless the caller keeps checkpoints."""
    from engine.training import checkpoints as train_parts
    cfg = config(tiny_bert, method="lora", epochs=2)          # 5 steps per epoch, evaluations at 5 and 10
    monkeypatch.setattr(train_parts, "remove_checkpoint", lambda d: None)   # leave what was written to be read
    res = train(cfg, dataset(), tmp_path / "out", checkpoint_dir=tmp_path / "ckpt")
    assert res.status == "succeeded" and res.steps == 10 and (tmp_path / "out").exists()
    assert torch.load(tmp_path / "ckpt" / "state.pt", weights_only=True)["step"] == 5
    res = train(cfg, dataset(), tmp_path / "out2", checkpoint_dir=tmp_path / "kept", keep_checkpoints=True)
    assert res.status == "succeeded"
    assert torch.load(tmp_path / "kept" / "state.pt", weights_only=True)["step"] == 10


class _Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_checkpoint_with_arbitrary_objects_is_refused_not_unpickled(tiny_bert, tmp_path, caplog):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    torch.save({"fingerprint": "x", "evil": _Boom()}, ckpt / "state.pt")
    res = train(config(tiny_bert, method="full", epochs=1), dataset(), tmp_path / "out", checkpoint_dir=ckpt)
    assert res.status == "succeeded" and res.steps > 0
    assert "cannot be loaded safely" in caplog.text


def test_early_stop_keeps_best(tiny_bert, tmp_path):
    # lr this small changes nothing measurable: no evaluation improves on the first one
    cfg = config(tiny_bert, method="full", lr=1e-12, head_lr=1e-12, epochs=4, evals_per_epoch=2, patience=2)
    res = train(cfg, dataset(), tmp_path / "out")
    assert res.status == "succeeded" and res.stopped_early and res.reason == "early_stop"
    assert res.best_step == 2 and res.steps == 7          # evals at 2, 5, 7: two without improvement
    assert res.metrics == next(h["metrics"] for h in res.history if h["kind"] == "eval")


def test_budget_stops_and_keeps_best(tiny_bert, tmp_path):
    def slow():
        time.sleep(0.4)
        return None

    # the budget counts from the start of train(), setup included (model build, tokenizer: ~1 s on a busy core), so
    # it leaves room for a few steps after it: a 1-s budget was sometimes spent before the first step
    cfg = config(tiny_bert, method="full", epochs=20, budget="4s")
    res = train(cfg, dataset(), tmp_path / "out", should_stop=slow)
    assert res.status == "succeeded" and res.reason == "budget" and not res.stopped_early
    assert 0 < res.steps < 100 and res.metrics and (tmp_path / "out" / "head.safetensors").exists()


def test_out_of_memory_is_a_failed_result(tiny_bert, tmp_path, monkeypatch):
    def oom(*a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(train_mod, "task_loss", oom)
    res = train(config(tiny_bert, batch_size=8, max_length=32), dataset(), tmp_path / "out")
    assert res.status == "failed"
    assert res.error == "out of memory at batch_size=8, max_length=32: lower batch_size or max_length"
    assert not (tmp_path / "out").exists()


def test_config_problems_are_failed_results(tiny_bert, tiny_bert_nohead, tmp_path):
    res = train(config(tiny_bert, freeze="7"), dataset(), tmp_path / "a")
    assert res.status == "failed" and "layer 7 does not exist" in res.error
    res = train(config(tiny_bert_nohead, alpha=0.5, pre_loss="mlm"), dataset(), tmp_path / "b")
    assert res.status == "failed" and res.error.startswith("pre_loss='mlm'")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_plan(tiny_gpt2):
    cfg = config(tiny_gpt2, method="lora", freeze="embeddings,1", alpha=0.2, epochs=2)
    p = plan(cfg, dataset())
    assert p.pre_loss == "causal" and p.lora_targets == ["c_attn", "c_fc", "c_proj"] and p.total_steps == 10
    assert 0 < p.trainable_params < p.total_params and p.estimated_seconds > 0
    assert "layers 1" in p.frozen and "parameters train" in p.summary()


@pytest.mark.slow
def test_real_minilm_short_run(tmp_path):
    from engine.served.transformer import load_trained
    from tests.engine.train_helpers import examples
    from engine.data.types import PreparedDataset
    data = PreparedDataset("csv", "text", "text", "label", [], examples(64, 0), examples(24, 1),
                           ["card", "fx", "loan"], {}, sha256="0" * 64)
    t = time.monotonic()
    res = train(config("minilm", method="lora", epochs=1, batch_size=16, threads=2), data, tmp_path / "out")
    took = time.monotonic() - t
    assert res.status == "succeeded", res.error
    assert res.pre_loss == "embedding" and res.total_params > 22_000_000
    assert res.metrics["accuracy"] > 0.5          # keyword intents are easy for MiniLM even after 4 steps
    trained = load_trained(tmp_path / "out")
    assert trained.pooling == "mean"
    print(f"minilm: train {took:.1f}s, {res.train_examples_per_s:.0f} ex/s, acc {res.metrics['accuracy']:.3f}")


def test_forward_only_passes_use_bf16_only_where_the_hardware_has_it(monkeypatch):
    """The probe and the forgetting summary may run in bf16 (inexact is fine there); never with precision=fp32, and
    not on a CPU without native bf16 (it would be slower, not faster)."""
    import contextlib
    import torch
    from engine.device import forward_autocast
    cpu = torch.device("cpu")
    assert forward_autocast("fp32", cpu) is contextlib.nullcontext
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert forward_autocast("auto", cpu) is contextlib.nullcontext
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    with forward_autocast("auto", cpu)():
        out = torch.ones(4, 4) @ torch.ones(4, 4)
    assert out.dtype == torch.bfloat16


def test_training_takes_bf16_where_the_hardware_has_it_and_evaluates_in_fp32(tiny_bert, tmp_path, monkeypatch):
    """precision=auto trains under bf16 autocast where the device does bf16 natively (a CPU with AVX512-BF16/AMX,
    as on CUDA), in fp32 on other CPUs or when fp32 is asked for. The evaluation that picks the checkpoint runs in
    fp32 whatever training ran in: the validation scores stored for the report are what the saved model answers."""
    import contextlib
    import numpy as np
    from engine import inference
    from engine.device import training_autocast as _autocast
    cpu = torch.device("cpu")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert _autocast(config(tiny_bert), cpu) is contextlib.nullcontext
    assert _autocast(config(tiny_bert, precision="bf16"), cpu) is not contextlib.nullcontext
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    with _autocast(config(tiny_bert), cpu)():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    assert _autocast(config(tiny_bert, precision="fp32"), cpu) is contextlib.nullcontext

    data = dataset()
    half = train(config(tiny_bert, method="full", precision="bf16"), data, tmp_path / "bf16")
    full = train(config(tiny_bert, method="full", precision="fp32"), data, tmp_path / "fp32")
    assert half.status == full.status == "succeeded"
    assert _losses(half) != _losses(full)                     # the bf16 run did train in bf16
    stored = np.load(tmp_path / "bf16" / "validation_proba.npy")
    fresh = inference.get_predictor(tmp_path / "bf16").finetuned_proba([e.text for e in data.validation])
    np.testing.assert_allclose(stored, fresh, atol=1e-5)


def test_a_budget_spent_before_the_first_step_fails_and_writes_nothing(tiny_bert, tmp_path):
    """A budget shorter than setup would otherwise end 'succeeded' with the untouched model as the artifact."""
    cfg = config(tiny_bert, method="full", epochs=2, budget="1s")

    def slow():                          # the first check comes after more than the whole budget
        time.sleep(1.1)
        return None
    res = train(cfg, dataset(), tmp_path / "out", should_stop=slow)
    assert res.status == "failed" and res.steps == 0
    assert "before the first training step" in res.error and "raise budget" in res.error
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
