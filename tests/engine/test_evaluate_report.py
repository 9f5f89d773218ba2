"""report / evaluate_examples / Predictor on real trained artifacts (tiny BERT, 2 epochs, synthetic data)."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from engine.data.types import Example, PreparedDataset
from engine.errors import DatasetError

PNG = b"\x89PNG\r\n\x1a\n"
VOCAB = {"balance": ["balance", "money", "account", "statement"],
         "card_lost": ["card", "lost", "stolen", "block"],
         "transfer": ["transfer", "send", "payment", "wire"]}
FILLER = ["my", "the", "please", "i", "want", "to", "a", "now"]
ANSWERS = {"balance": "Your balance is under Accounts.", "card_lost": "Freeze the card in the app."}


def _text_data(seed=0) -> PreparedDataset:
    rng = random.Random(seed)

    def ex(label):
        words = [rng.choice(VOCAB[label]) for _ in range(2)] + [rng.choice(FILLER) for _ in range(3)]
        rng.shuffle(words)
        return Example(" ".join(words), label)

    train = [ex(l) for l in VOCAB for _ in range(12)]
    val = [ex(l) for l in VOCAB for _ in range(5)]
    rng.shuffle(train)
    labels = sorted(VOCAB)
    return PreparedDataset(format="csv", kind="text", text_column="text", label_column="label", feature_columns=[],
                           train=train, validation=val, labels=labels, label_counts={l: 17 for l in labels},
                           answers=ANSWERS, rows=51)


def _credit_data(seed=1, n_train=48, n_val=24) -> PreparedDataset:
    """A small German-Credit-like table (tests/engine/test_selection.py uses it at other sizes)."""
    rng = random.Random(seed)
    cols = ["checking", "amount", "age"]

    def row():
        status = rng.choice(["none", "< 0 DM", ">= 200 DM"])
        amount = rng.randint(500, 15000)
        bad = amount > 10000 or (status == "< 0 DM" and rng.random() < 0.7)
        r = {"checking": status, "amount": str(amount), "age": str(rng.randint(19, 70))}
        return r, "bad" if bad else "good"

    tr, va = [row() for _ in range(n_train)], [row() for _ in range(n_val)]
    ser = lambda r: "; ".join(f"{c}: {r[c]}" for c in cols)
    counts = {"bad": 0, "good": 0}
    for _, l in tr + va:
        counts[l] += 1
    return PreparedDataset(format="csv", kind="tabular", text_column=None, label_column="risk", feature_columns=cols,
                           train=[Example(ser(r), l) for r, l in tr], validation=[Example(ser(r), l) for r, l in va],
                           labels=["bad", "good"], label_counts=counts, rows=n_train + n_val,
                           raw_train=[r for r, _ in tr], raw_validation=[r for r, _ in va])


def _train(base, data, out_dir, **opts):
    pytest.importorskip("engine.train")
    from engine.config import TrainConfig
    from engine.train import train

    cfg = TrainConfig.from_options({"base": str(base), "epochs": 2, "batch_size": 8, "max_length": 32,
                                    "device": "cpu", "threads": 1, **opts}, task_kind=data.kind)
    res = train(cfg, data, out_dir)
    assert res.status == "succeeded", (res.reason, res.error)
    return res.artifact_dir


@pytest.fixture(scope="module")
def text_run(tiny_bert, tmp_path_factory):
    from engine import inference
    inference.clear_cache()
    data = _text_data()
    art = _train(tiny_bert, data, tmp_path_factory.mktemp("runs") / "text", lr=5e-3)
    from engine.evaluation.report import report
    return art, data, report(art, data)


@pytest.fixture(scope="module")
def credit_run(tiny_bert, tmp_path_factory):
    data = _credit_data()
    art = _train(tiny_bert, data, tmp_path_factory.mktemp("runs") / "credit", lr=5e-3)
    from engine.evaluation.report import report
    return art, data, report(art, data)


def test_report_writes_metrics_qa_and_plots(text_run):
    art, data, rep = text_run
    art = Path(art)
    for key in ("accuracy", "macro_f1", "per_class", "confusion", "labels", "baseline", "forgetting", "plots", "qa"):
        assert key in rep
    assert rep["labels"] == data.labels and np.sum(rep["confusion"]) == len(data.validation)
    assert json.loads((art / "metrics.json").read_text())["accuracy"] == rep["accuracy"]
    qa = json.loads((art / "qa.json").read_text())
    assert qa["answers"] == ANSWERS and 0.2 <= qa["threshold"] <= 0.9 and "human" in qa["fallback"]
    for name in ("confusion", "loss_curve"):
        p = art / "plots" / f"{name}.png"
        assert p.read_bytes().startswith(PNG) and rep["plots"][name] == str(p)
    assert rep["baseline"]["tfidf_lr"]["accuracy"] >= 0.9       # keywords: TF-IDF solves it
    json.dumps(rep)


def test_the_tfidf_baseline_is_the_fitted_member_of_the_partner_vote(text_run):
    """The baseline table scores the TF-IDF model the selection fitted (inside the soft vote, on label indices)
    instead of fitting it again: its figures equal a fresh fit's on the same rows."""
    from sklearn.metrics import accuracy_score, f1_score
    from engine.partners import tfidf_lr
    _, data, rep = text_run
    assert rep["selection"]["partner"] == "average"
    fresh = tfidf_lr().fit([e.text for e in data.train], [e.label for e in data.train])
    pred = fresh.predict([e.text for e in data.validation])
    y = [e.label for e in data.validation]
    assert rep["baseline"]["tfidf_lr"]["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert rep["baseline"]["tfidf_lr"]["macro_f1"] == pytest.approx(
        f1_score(y, pred, labels=data.labels, average="macro", zero_division=0))


def test_forgetting_positive_after_training_and_zero_for_untouched_copy(text_run, tiny_bert):
    from engine.base_models import pretrained_encoder
    from engine.classifier import embed
    from engine.evaluation.forgetting import forgetting

    _, data, rep = text_run
    f = rep["forgetting"]
    assert "error" not in f, f
    assert f["drift"] > 1e-4 and f["texts"] == len(data.validation)
    assert 0.0 <= f["neighbour_overlap@5"] <= 1.0
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(tiny_bert))
    a, b = pretrained_encoder(str(tiny_bert)), pretrained_encoder(str(tiny_bert))
    emb = lambda m: (lambda ts: embed(m, tok, ts, "mean").float().numpy())
    same = forgetting([e.text for e in data.validation], emb(a), emb(b))
    assert same["drift"] == pytest.approx(0.0, abs=1e-6) and same["neighbour_overlap@5"] == 1.0


def test_evaluate_examples_same_metrics_and_unknown_labels(text_run):
    from engine.evaluation.report import evaluate_examples
    art, data, rep = text_run
    out = evaluate_examples(art, data.validation)
    assert out["accuracy"] == pytest.approx(rep["accuracy"]) and out["confusion"] == rep["confusion"]
    with pytest.raises(DatasetError) as e:
        evaluate_examples(art, [Example("where is my card", "card_lost"), Example("loan?", "loans"),
                                Example("x", "mortgage")])
    assert "loans" in str(e.value) and "mortgage" in str(e.value)


def test_predictor_on_trained_artifact(text_run):
    from engine import inference
    art, data, _ = text_run
    p = inference.get_predictor(art)
    loads = inference.cache_info()["loads"]
    assert inference.get_predictor(art) is p and inference.cache_info()["loads"] == loads
    proba = p.predict_proba([e.text for e in data.validation])
    assert proba.shape == (len(data.validation), 3) and np.allclose(proba.sum(1), 1.0, atol=1e-5)
    a = p.answer("my card was stolen please block it")
    assert a.intent in data.labels and len(a.top) == 3 and 0 < a.confidence <= 1
    if a.confidence >= p.qa["threshold"] and a.intent in ANSWERS:
        assert a.answer == ANSWERS[a.intent] and not a.fallback
    else:
        assert a.fallback


def test_binary_report_costs_baselines_and_stored_threshold(credit_run):
    from engine.evaluation.report import evaluate_examples
    art, data, rep = credit_run
    assert rep["positive_label"] == "bad"
    for key in ("roc_auc", "ks", "threshold", "expected_cost"):
        assert rep[key] is not None, key
    b = rep["binary"]
    assert b["expected_cost"] <= min(b["expected_cost_at_0.5"], b["expected_cost_accept_all"],
                                     b["expected_cost_reject_all"]) + 1e-9
    assert b["cost_matrix"]["fn"] == 5.0 and b["cost_matrix"]["fp"] == 1.0
    assert set(rep["baseline"]) == {"tfidf_lr", "tabular_lr", "gradient_boosting"}
    for bl in rep["baseline"].values():
        assert "error" not in bl and "expected_cost" in bl and "roc_auc" in bl
    qa = json.loads((Path(art) / "qa.json").read_text())
    assert qa["decision"]["threshold"] == pytest.approx(b["threshold"])
    out = evaluate_examples(art, data.validation[:10])
    assert out["binary"]["threshold"] == pytest.approx(b["threshold"]) and not out["binary"]["threshold_chosen_here"]


def test_report_reuses_the_best_evaluation_scores_only_for_the_same_validation_rows(text_run, tmp_path):
    """Training stores the best evaluation's validation probabilities; the report takes them instead of a second
    prediction pass — and they equal what the saved model predicts. Other validation rows: predicted again."""
    import shutil
    from engine import inference
    from engine.evaluation.report import report

    art, data, rep = text_run
    assert rep["validation_scores_from"] == "the best in-training evaluation"
    stored = np.load(Path(art) / "validation_proba.npy")
    fresh = inference.get_predictor(art).finetuned_proba([e.text for e in data.validation])
    np.testing.assert_allclose(stored, fresh, atol=1e-5)
    assert rep["finetuned"]["accuracy"] == pytest.approx(
        float(np.mean(np.asarray(data.labels)[fresh.argmax(1)] == np.asarray([e.label for e in data.validation]))))

    copy = tmp_path / "copy"
    shutil.copytree(art, copy)
    other = _text_data(seed=5)                 # same labels, other validation rows
    inference.clear_cache()
    rep2 = report(copy, other, measure_forgetting=False, plots=False)
    assert rep2["validation_scores_from"] == "a prediction pass"
    want = inference.get_predictor(copy).finetuned_proba([e.text for e in other.validation])
    assert rep2["finetuned"]["accuracy"] == pytest.approx(
        float(np.mean(np.asarray(other.labels)[want.argmax(1)] == np.asarray([e.label for e in other.validation]))))


def test_embed_keeps_the_callers_order(tiny_bert):
    """embed batches texts by length; each row must still be the embedding of the text at that position."""
    from transformers import AutoTokenizer
    from engine.base_models import pretrained_encoder
    from engine.classifier import embed
    tok = AutoTokenizer.from_pretrained(str(tiny_bert))
    enc = pretrained_encoder(str(tiny_bert))
    texts = ["a much longer text about a lost card and a blocked account", "hi", "send money abroad today", "ok"]
    together = embed(enc, tok, texts, "mean", batch_size=2)
    alone = [embed(enc, tok, [t], "mean")[0] for t in texts]
    for i in range(len(texts)):
        assert torch_allclose(together[i], alone[i])


def torch_allclose(a, b) -> bool:
    import torch
    return bool(torch.allclose(a, b, atol=1e-5))
