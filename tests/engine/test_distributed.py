"""gpus=N: the same training split over torchrun copies (here 2 CPU processes on gloo) equals one process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from engine import distributed as dist
from engine.train import train
from tests.engine.train_helpers import config, dataset, no_dropout_copy

ROOT = Path(__file__).resolve().parents[2]
# batch 7 over 36 rows: shards of 3 and 4, and a last batch of 1 row, so one copy has nothing in that step
# fp32: the check is that two copies' averaged gradients equal one process's at 1e-6; under bf16 autocast (the
# default on a CPU with native bf16) a half batch and a whole one round differently
OPTIONS = {"method": "full", "alpha": 0.3, "pre_loss": "l2sp", "epochs": 2, "batch_size": 7, "patience": 0,
           "freeze": "embeddings", "device": "cpu", "precision": "fp32"}


def _torchrun(base: Path, out: Path, options: dict) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", **{dist.MARKER: "1"})
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "tests.engine.ddp_entry", str(base), str(out), json.dumps(options)]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)


def _weights(artifact: Path) -> dict[str, torch.Tensor]:
    tensors = load_file(artifact / "head.safetensors")
    tensors.update({f"model.{k}": v for k, v in load_file(artifact / "model" / "model.safetensors").items()})
    return tensors


def test_two_copies_match_one_process(tiny_bert, tmp_path):
    base = no_dropout_copy(tiny_bert, tmp_path / "base")
    out = tmp_path / "ddp"
    out.mkdir()
    proc = _torchrun(base, out, OPTIONS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (json.loads((out / f"result-{r}.json").read_text()) for r in (0, 1))
    assert r0["status"] == r1["status"] == "succeeded", (r0["error"], r1["error"])
    assert r0["world"] == "2" and r0["steps"] == r1["steps"] == 12            # ceil(36 / 7) = 6 steps × 2 epochs
    assert r0["artifact_dir"] and r1["artifact_dir"] is None                    # only rank 0 writes
    assert (out / "artifact-0").is_dir() and not (out / "artifact-1").exists()
    assert not (out / "ckpt").exists()                                         # rank 0 cleans its checkpoints

    single = train(config(base, **OPTIONS), dataset(), tmp_path / "single")
    assert single.status == "succeeded", single.error
    ours, ref = _weights(out / "artifact-0"), _weights(tmp_path / "single")
    assert ours.keys() == ref.keys()
    pretrained = {f"model.{k.removeprefix('bert.')}": v for k, v in load_file(base / "model.safetensors").items()}
    moved = [k for k in ref if k in pretrained and not torch.equal(ref[k], pretrained[k])]
    assert len(moved) > 10 and "model.encoder.layer.0.attention.self.query.weight" in moved   # training moved them
    assert torch.equal(ref["model.embeddings.word_embeddings.weight"],
                       pretrained["model.embeddings.word_embeddings.weight"])              # freeze=embeddings held
    for k in ref:
        if k.endswith("attention.self.key.bias"):
            # its gradient is zero up to rounding (softmax ignores a constant per query), and Adam scales that noise
            # up to lr-sized steps, so it differs at the 1e-5 level between any two summation orders
            continue
        torch.testing.assert_close(ours[k], ref[k], rtol=0, atol=1e-6, msg=k)
    # the logged losses are whole-batch losses, equal to the single process's
    assert r0["losses"] == pytest.approx([h["loss"] for h in single.history if h["kind"] == "step"], rel=1e-4)


def test_shard_covers_the_batch_once():
    batch = list(range(7))
    parts = [dist.shard(batch, dist.Context(r, 3, r)) for r in range(3)]
    assert sum(parts, []) == batch and [len(p) for p in parts] == [2, 2, 3]
    assert [dist.shard([5], dist.Context(r, 2, r)) for r in range(2)] == [[], [5]]
    assert dist.shard(batch, dist.SINGLE) == batch


def test_stray_world_size_is_ignored(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.delenv(dist.MARKER, raising=False)
    assert dist.from_env() == dist.SINGLE
    monkeypatch.setenv(dist.MARKER, "1")
    assert dist.from_env() == dist.Context(1, 4, 1)
