"""Column features for tabular data: parse the serialized row back, encode it like a logistic regression would, and
train/evaluate/ask with them on a tiny model."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from engine.data import serialize_row
from engine.data.types import Example, PreparedDataset
from engine.errors import ConfigError
from engine.evaluation.report import evaluate_examples
from engine.features import ColumnFeatures, parse
from engine.inference import get_predictor
from engine.train import train
from tests.engine.train_helpers import config, dataset

COLS = ["duration", "purpose", "note"]


def test_parse_inverts_serialize_even_with_separators_inside_values():
    row = {"duration": "42", "purpose": "new car", "note": "said: fine; will repay"}
    assert parse(serialize_row(row, COLS), COLS) == row
    assert parse(serialize_row({"duration": "6", "purpose": ""}, COLS), COLS) == {"duration": "6"}   # blanks skipped


def test_encoding_standardises_numbers_and_one_hots_categories():
    texts = [serialize_row(r, COLS) for r in ({"duration": "10", "purpose": "car"}, {"duration": "30", "purpose": "tv"},
                                            {"duration": "", "purpose": "car"})]
    enc = ColumnFeatures.fit(texts, COLS)
    assert enc.numeric == {"duration": [20.0, 10.0]} and enc.categories == {"purpose": ["car", "tv"]}
    assert enc.dim == 3                                           # 'note' never has a value: no feature
    x = enc.transform(texts + ["duration: 40; purpose: boat"])
    np.testing.assert_allclose(x, [[-1, 1, 0], [1, 0, 1], [0, 1, 0], [2, 0, 0]])   # blank → mean, unseen → zeros
    again = ColumnFeatures.from_dict(json.loads(json.dumps(enc.to_dict())))
    np.testing.assert_array_equal(again.transform(texts), enc.transform(texts))


def _credit(n_train: int = 60, n_val: int = 30) -> PreparedDataset:
    """Risk decided by the amount alone: numbers the word pieces of a tiny random encoder cannot read."""
    r = random.Random(3)

    def rows(n):
        out = []
        for _ in range(n):
            amount = r.randint(100, 9000)
            raw = {"amount": str(amount), "housing": r.choice(["own", "rent"])}
            out.append((raw, Example(serialize_row(raw, ["amount", "housing"]), "bad" if amount > 4500 else "good")))
        return out
    tr, va = rows(n_train), rows(n_val)
    return PreparedDataset("csv", "tabular", None, "risk", ["amount", "housing"], [e for _, e in tr],
                           [e for _, e in va], ["bad", "good"], {"bad": 1, "good": 1}, sha256="c" * 64,
                           raw_train=[x for x, _ in tr], raw_validation=[x for x, _ in va])


def test_training_with_column_features_learns_what_the_text_alone_does_not(tiny_bert, tmp_path):
    data = _credit()
    opts = dict(method="full", epochs=8, lr=1e-3, freeze="embeddings,0-1", patience=0, metric="accuracy")
    with_cols = train(config(tiny_bert, column_features=True, **opts), data, tmp_path / "cols")
    text_only = train(config(tiny_bert, column_features=False, **opts), data, tmp_path / "text")
    assert with_cols.status == text_only.status == "succeeded", (with_cols.error, text_only.error)
    assert with_cols.metrics["accuracy"] >= 0.9 > text_only.metrics["accuracy"]
    out = tmp_path / "cols"
    saved = json.loads((out / "features.json").read_text())
    assert saved["numeric"].keys() == {"amount"} and saved["categories"] == {"housing": ["own", "rent"]} or \
        saved["categories"] == {"housing": ["rent", "own"]}
    hidden = json.loads((tiny_bert / "config.json").read_text())["hidden_size"]
    head = load_file(out / "head.safetensors")
    assert head["weight"].shape == (2, hidden) and head["features.weight"].shape == (2, 3)
    assert not (tmp_path / "text" / "features.json").exists()
    assert "3 column features" in (out / "README.md").read_text()

    # the saved model reads the features from the row text everywhere: predictions, evaluation on new rows, ask
    pred = get_predictor(out)
    p = pred.predict_proba(["amount: 8800; housing: own", "amount: 150; housing: own"])
    assert p[0, 0] > 0.5 > p[1, 0]                                # labels ["bad", "good"]
    rep = evaluate_examples(out, _credit(0, 40).validation)
    assert rep["accuracy"] >= 0.85


def test_column_features_on_text_data_is_refused(tiny_bert, tmp_path):
    res = train(config(tiny_bert, column_features=True), dataset(), tmp_path / "x")
    assert res.status == "failed" and "column_features" in res.error and "text" in res.error


def test_model_reading_features_demands_them(tiny_bert):
    from engine.classifier import build
    built = build(config(tiny_bert, method="full"), ["a", "b"], ColumnFeatures(["x"], {"x": [0.0, 1.0]}))
    ids = torch.ones((1, 4), dtype=torch.long)
    with pytest.raises(ValueError, match="reads 1 column features"):
        built.model(ids, ids)
    assert built.model(ids, ids, torch.zeros((1, 1))).logits.shape == (1, 2)


def test_plan_and_slack_reply_say_the_head_reads_columns(tiny_bert):
    from bot.blocks import plan_text
    from engine.train import plan
    p = plan(config(tiny_bert, method="full", column_features=True, gpus=2), _credit(), timed=False)
    assert p.features == "3 column features (1 numeric standardised, 1 categorical one-hot)" and p.gpus == 2
    assert plan(config(tiny_bert, method="full"), dataset(), timed=False).features is None
    import dataclasses
    text = plan_text({"config": {"epochs": 1, "lr": 1e-4}, "method": "full"}, dataclasses.asdict(p))
    assert "*Head also reads:* 3 column features" in text and "*GPUs:* 2" in text
