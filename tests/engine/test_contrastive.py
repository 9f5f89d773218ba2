"""contrastive_epochs: a pre-stage that pulls texts of one label together before the head is fitted."""
from __future__ import annotations

from collections import Counter

import pytest
import torch

from engine.recipes import contrastive as con
from engine.training import setup as parts
from engine.errors import ConfigError
from engine.train import train
from tests.engine.test_features import _credit
from tests.engine.train_helpers import config, dataset


def test_pairs_hold_one_label_per_batch_and_every_text_is_an_anchor_each_epoch():
    labels = [i % 5 for i in range(23)] + [5]          # label 5 has a single text
    plan = con.pair_batches(labels, 2, seed=3, batch_size=4)
    anchors = Counter(a for batch in plan for a, _ in batch)
    # the weighted draw may leave a last few pairs of one label with no other label to contrast with
    assert sum(anchors.values()) >= 2 * len(labels) - 4
    assert all(n <= 2 for n in anchors.values())
    for batch in plan:
        assert 2 <= len(batch) <= 4
        assert len({labels[a] for a, _ in batch}) == len(batch)                 # in-batch negatives: other labels
        for a, p in batch:
            assert labels[a] == labels[p]
            assert a != p or labels.count(labels[a]) == 1                        # itself only when alone
    assert plan == con.pair_batches(labels, 2, seed=3, batch_size=4)             # seeded
    assert plan != con.pair_batches(labels, 2, seed=4, batch_size=4)
    half = con.pair_batches(labels, 0.5, seed=3, batch_size=4)
    assert sum(len(b) for b in half) <= round(0.5 * len(labels))
    assert con.pair_batches([0, 0, 0], 1, seed=0) == []                          # nothing to contrast with


def _separation(s) -> float:
    """Mean cosine of pooled embeddings within a label minus across labels, over the training texts."""
    model = s.built.model
    model.eval()
    with torch.no_grad():
        b = s.batches.collate(list(range(len(s.batches))), "cpu")
        e = torch.nn.functional.normalize(model(b["input_ids"], b["attention_mask"]).pooled, dim=-1)
    sim = e @ e.T
    y = torch.tensor(s.batches.labels)
    same = (y[:, None] == y[None, :]) & ~torch.eye(len(y), dtype=torch.bool)
    diff = y[:, None] != y[None, :]
    return float(sim[same].mean() - sim[diff].mean())


@pytest.mark.parametrize("method", ["lora", "full"])
def test_the_stage_moves_what_trains_and_separates_the_labels(tiny_bert, method):
    data = dataset(n_train=60, n_val=12)
    cfg0 = config(tiny_bert, method=method, head_init="probe", contrastive_epochs=0, lr=5e-3)
    cfg1 = config(tiny_bert, method=method, head_init="probe", contrastive_epochs=4, lr=5e-3)
    parts.seed_everything(0)
    before = parts.setup(cfg0, data)
    parts.seed_everything(0)
    after = parts.setup(cfg1, data)
    assert before.contrastive is None
    assert after.contrastive["ran"] and after.contrastive["steps"] == len(con.pair_batches(
        after.batches.labels, 4, cfg1.seed))
    trainable = {n for n, p in after.built.model.named_parameters() if p.requires_grad}
    b_params = dict(before.built.model.named_parameters())
    moved = {n for n, p in after.built.model.named_parameters()
             if not n.startswith("head.") and not torch.equal(p, b_params[n])}
    assert moved and moved <= trainable                 # LoRA: only adapters; a frozen base weight never moves
    if method == "lora":
        assert all("lora_" in n for n in moved)
    assert _separation(after) > _separation(before) + 0.05
    # the probe head is fitted after the stage, on the embeddings it shaped
    assert not torch.equal(after.built.model.head.weight, before.built.model.head.weight)


def test_the_stage_is_refused_for_tables_before_launch_and_counted_in_the_plan(tiny_bert):
    from engine.train import plan
    tabular = config(tiny_bert, method="full", column_features=True, contrastive_epochs=1)
    with pytest.raises(ConfigError, match="contrastive_epochs.*table"):
        plan(tabular, _credit(), timed=False)                       # the plan, shown before anything loads
    with pytest.raises(ConfigError, match="contrastive_epochs.*table"):
        parts.setup(tabular, _credit())
    # the estimate grows by the stage's texts: 2 passes × 2 texts a pair × 36 texts on top of 1 epoch of 36
    off = plan(config(tiny_bert, epochs=1, batch_size=12, contrastive_epochs=0), dataset(), timed=False)
    on = plan(config(tiny_bert, epochs=1, batch_size=12, contrastive_epochs=2), dataset(), timed=False)
    assert on.total_steps == off.total_steps
    assert on.estimated_seconds == pytest.approx(off.estimated_seconds * (36 + 144 + 12 / 3) / (36 + 12 / 3))
    # auto: 2 passes at 12 per label (≤ 16), none at 20 per label
    auto = plan(config(tiny_bert, epochs=1, batch_size=12), dataset(), timed=False)
    assert auto.estimated_seconds == pytest.approx(on.estimated_seconds)
    bigger = dataset(n_train=60)
    assert plan(config(tiny_bert, epochs=1, batch_size=12), bigger, timed=False).estimated_seconds == pytest.approx(
        plan(config(tiny_bert, epochs=1, batch_size=12, contrastive_epochs=0), bigger, timed=False).estimated_seconds)


def test_auto_runs_the_stage_on_scarce_text_only_and_the_refit_repeats_the_first_fits_choice(tiny_bert, tmp_path):
    from engine.config import TrainConfig
    text, table = TrainConfig.from_options({}, "text"), TrainConfig.from_options({}, "tabular")
    assert text.contrastive_epochs == "auto" and table.contrastive_epochs == 0
    assert text.resolved_contrastive(616, 77) == 2.0 and text.resolved_contrastive(2000, 77) == 0.0
    assert TrainConfig.parse({"contrastive_epochs": "auto"}).resolved_contrastive(10, 2, "tabular") == 0.0
    for bad in ("x", -1, 101, "nan"):
        with pytest.raises(ConfigError, match="auto, or a number of passes"):
            TrainConfig.parse({"contrastive_epochs": bad})
    # 45 training texts, 15 per label: the first fit runs the stage; the refit on 45 + 12 = 19 per label would
    # not under `auto`, but repeats the first fit's choice so that it trains what was selected
    import json
    from engine.recipes.refit import refit
    from engine.evaluation.report import report
    data = dataset(n_train=45, n_val=12)
    cfg = config(tiny_bert, epochs=2, refit="on")
    first = train(cfg, data, tmp_path / "run")
    assert first.status == "succeeded", first.error
    assert json.loads((tmp_path / "run" / "config.json").read_text())["contrastive_epochs_used"] == 2.0
    report(tmp_path / "run", data, baselines=False, measure_forgetting=False, plots=False)
    record = refit(cfg, data, tmp_path / "run")
    assert record["status"] == "succeeded", record
    again = json.loads((tmp_path / "run" / "config.json").read_text())
    assert again["contrastive_epochs_used"] == 2.0 and again["contrastive_used"]["ran"]


def test_a_run_with_the_stage_trains_and_says_so(tiny_bert, tmp_path):
    seen = []
    r = train(config(tiny_bert, head_init="probe", contrastive_epochs=1, epochs=2), dataset(48, 12),
              tmp_path / "out", on_progress=lambda p: seen.append(p.message or ""))
    assert r.status == "succeeded", r.error
    started = next(m for m in seen if m.startswith("started"))
    assert "contrastive pre-stage" in started and "linear probe" in started
    import json
    record = json.loads((tmp_path / "out" / "config.json").read_text())
    assert record["contrastive_epochs"] == 1.0 and record["contrastive_used"]["ran"]
