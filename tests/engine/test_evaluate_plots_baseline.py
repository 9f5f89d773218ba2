"""Plots are valid PNGs; baselines fit on text and raw tabular columns."""
from __future__ import annotations

import random

import pytest

from engine.evaluation.baseline import numeric_columns, run_baselines
from engine.evaluation.plots import confusion_png, loss_curve_png

PNG = b"\x89PNG\r\n\x1a\n"


def test_confusion_png_many_classes(tmp_path):
    k = 80
    labels = [f"intent_with_a_long_name_{i}" for i in range(k)]
    cm = [[(5 if i == j else (1 if j == (i + 1) % k else 0)) for j in range(k)] for i in range(k)]
    p = confusion_png(cm, labels, tmp_path / "plots" / "confusion.png")
    data = p.read_bytes()
    assert data.startswith(PNG) and len(data) > 10_000


def test_confusion_png_small_and_empty_row(tmp_path):
    p = confusion_png([[3, 1], [0, 0]], ["bad", "good"], tmp_path / "c.png")
    assert p.read_bytes().startswith(PNG)


def test_loss_curve_png(tmp_path):
    hist = [{"kind": "step", "step": s, "loss": 1 / s, "loss_new": 0.8 / s, "loss_pre": 0.2 / s} for s in range(1, 20)]
    hist += [{"kind": "eval", "step": 10, "metrics": {"macro_f1": 0.6}}, {"kind": "eval", "step": 19, "eval_macro_f1": 0.8}]
    assert loss_curve_png(hist, tmp_path / "l.png").read_bytes().startswith(PNG)
    assert loss_curve_png([], tmp_path / "empty.png").read_bytes().startswith(PNG)


def _words(rng, vocab, n):
    return " ".join(rng.choice(vocab) for _ in range(n))


def test_text_baseline_learns_separable_data():
    rng = random.Random(0)
    vocab = {"card": ["card", "lost", "stolen", "block"], "balance": ["balance", "money", "account", "how much"]}
    make = lambda n: [(f"{_words(rng, vocab[l], 4)}", l) for l in vocab for _ in range(n)]
    tr, va = make(20), make(6)
    out = run_baselines([t for t, _ in tr], [l for _, l in tr], [t for t, _ in va], [l for _, l in va], ["balance", "card"])
    assert set(out) == {"tfidf_lr"}
    assert out["tfidf_lr"]["accuracy"] == 1.0 and out["tfidf_lr"]["macro_f1"] == 1.0


def test_tabular_baselines_with_cost_threshold():
    rng = random.Random(1)

    def row():
        amount = rng.randint(500, 15000)
        status = rng.choice(["none", "< 0 DM", ">= 200 DM"])
        bad = (amount > 9000) or (status == "< 0 DM" and rng.random() < 0.6)
        return {"credit_amount": str(amount), "checking": status, "age": str(rng.randint(19, 70)) if rng.random() > 0.05 else ""}, ("bad" if bad else "good")

    tr, va = [row() for _ in range(120)], [row() for _ in range(40)]
    ser = lambda r: "; ".join(f"{k}: {v}" for k, v in r.items())
    assert numeric_columns([r for r, _ in tr], ["credit_amount", "checking", "age"]) == ["credit_amount", "age"]
    out = run_baselines([ser(r) for r, _ in tr], [l for _, l in tr], [ser(r) for r, _ in va], [l for _, l in va],
                        ["bad", "good"], positive="bad", raw_train=[r for r, _ in tr], raw_validation=[r for r, _ in va],
                        columns=["credit_amount", "checking", "age"])
    assert set(out) == {"tfidf_lr", "tabular_lr", "gradient_boosting"}
    for b in out.values():
        assert "error" not in b, b
        assert 0 <= b["threshold"] <= 1 and b["expected_cost"] <= b["expected_cost_at_0_5"] + 1e-9
        assert b["roc_auc"] is not None
    assert out["gradient_boosting"]["accuracy"] > 0.8
