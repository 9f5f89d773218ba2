"""Best model wins on validation (engine/recipes/blend.py), rows the transformer sees (engine/recipes/row_plan.py), and the
deployed predictor serving the selected model from an artifact that loads without unpickling."""
from __future__ import annotations

import json
import pickle
import random

import numpy as np
import pytest

from engine.partners import average_of
from engine.recipes import blend as sel
from engine.recipes.row_plan import plan_rows, stratified_subset
from engine.served import layout
from engine.served.model import ServedModel
from engine.served.partner import TRUSTED_TYPES

LABELS = ["neg", "pos"]


def _planted(n: int, text_acc: float, model_acc: float, seed: int):
    """Texts whose word 'alpha'/'beta' shows the label with probability text_acc (what TF-IDF can learn) and planted
    fine-tuned probabilities right with probability model_acc, independently (what the blend can add)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    word = np.where(rng.random(n) < text_acc, y, 1 - y)
    texts = [f"{'beta' if w else 'alpha'} {random.Random(int(i) + seed).choice(['a', 'b', 'c'])} request"
             for i, w in enumerate(word)]
    right = rng.random(n) < model_acc
    guess = np.where(right, y, 1 - y)
    conf = rng.uniform(0.55, 0.95, n)
    p_pos = np.where(guess == 1, conf, 1 - conf)
    proba = np.stack([1 - p_pos, p_pos], 1)
    return texts, [LABELS[v] for v in y], proba


def _select(text_acc, model_acc, n_train=400, n_val=300, held=200, seed=0, **kw):
    tr_t, tr_y, tr_p = _planted(n_train, text_acc, model_acc, seed)
    va_t, va_y, va_p = _planted(n_val, text_acc, model_acc, seed + 1)
    held_idx = list(range(held))
    return sel.select(kind="text", labels=LABELS, train_texts=tr_t, train_labels=tr_y, val_texts=va_t,
                      val_labels=va_y, ft_val=va_p, held_out=held_idx, ft_held_out=tr_p[held_idx],
                      positive="pos", **kw)


def test_blend_wins_when_model_and_baseline_see_different_signals():
    s = _select(text_acc=0.75, model_acc=0.75)
    rec = s.record
    assert rec["metric"] == "roc_auc" and rec["partner"] == "tfidf_lr"
    assert rec["best"] == "blend" and rec["served"] == "blend"
    assert rec["scores"]["blend"] > max(rec["scores"]["finetuned"], rec["scores"]["baseline"])
    assert rec["margin"] > 0 and 0.2 <= rec["weight"] <= 0.8
    # the served blend's honest training scores (for the cost threshold): the held-out rows, blended with the weight
    _, tr_y, tr_p = _planted(400, 0.75, 0.75, 0)
    assert s.extra_labels == tr_y[:200] and rec["extra_rows"] == 200
    partner_part = (s.extra_proba - rec["weight"] * tr_p[:200]) / (1 - rec["weight"])
    assert np.all(partner_part > -1e-9) and np.allclose(partner_part.sum(1), 1)   # a probability: the OOF scores
    assert not np.allclose(partner_part, tr_p[:200])


def test_strong_baseline_weak_model_serves_the_baseline_side():
    s = _select(text_acc=0.97, model_acc=0.5)
    rec = s.record
    assert rec["best"] in ("baseline", "blend") and rec["best"] != "finetuned"
    assert rec["weight"] <= 0.3               # the held-out rows show the model adds nothing
    assert rec["scores"]["finetuned"] < rec["scores"]["baseline"] - 0.2


def test_strong_model_weak_baseline_serves_the_finetuned_side():
    s = _select(text_acc=0.5, model_acc=0.97)
    rec = s.record
    assert rec["best"] in ("finetuned", "blend") and rec["best"] != "baseline"
    assert rec["weight"] >= 0.7
    assert rec["scores"]["baseline"] < rec["scores"]["finetuned"] - 0.2


def test_serve_key_overrides_the_winner():
    s = _select(text_acc=0.75, model_acc=0.75, serve="finetuned")
    assert s.record["best"] == "blend" and s.record["served"] == "finetuned"


def test_blend_weight_never_reads_validation_rows():
    """Same training rows, same held-out scores, different validation rows and scores: the same weight and partner."""
    a = _select(text_acc=0.75, model_acc=0.75, seed=0)
    tr_t, tr_y, tr_p = _planted(400, 0.75, 0.75, 0)
    rng = np.random.default_rng(5)
    va_t, va_y, va_p = _planted(300, 0.75, 0.75, 99)
    b = sel.select(kind="text", labels=LABELS, train_texts=tr_t, train_labels=tr_y, val_texts=va_t,
                   val_labels=list(rng.permutation(va_y)), ft_val=rng.dirichlet([1, 1], 300),
                   held_out=list(range(200)), ft_held_out=tr_p[:200], positive="pos")
    assert a.record["weight"] == b.record["weight"]
    assert a.record["weight_scores"] == b.record["weight_scores"]
    assert a.record["partner"] == b.record["partner"]
    assert "never saw" in a.record["weight_chosen_on"]


def test_without_held_out_rows_the_weight_is_fixed():
    tr_t, tr_y, _ = _planted(100, 0.8, 0.8, 0)
    va_t, va_y, va_p = _planted(60, 0.8, 0.8, 1)
    s = sel.select(kind="text", labels=LABELS, train_texts=tr_t, train_labels=tr_y, val_texts=va_t, val_labels=va_y,
                   ft_val=va_p, positive="pos")
    assert s.record["weight"] == sel.FIXED_WEIGHT and s.record["held_out_rows"] == 0


# ---- rows the transformer sees -------------------------------------------------------------------------------
class _Cfg:
    def __init__(self, **kw):
        self.seed, self.epochs, self.blend_holdout, self.train_rows, self.row_budget = 42, 8.0, 0.0, 0, 0
        self.__dict__.update(kw)


def test_row_plan_holds_out_a_stratified_share_and_cuts_epochs_to_the_budget():
    labels = ["yes"] * 220 + ["no"] * 780
    plan = plan_rows(_Cfg(blend_holdout=0.2, train_rows=500, row_budget=2000), labels, ["yes", "no"] * 50)
    assert not set(plan.use) & set(plan.held_out) and len(plan.use) + len(plan.held_out) == 1000
    assert abs(len(plan.use) - 500) <= 2
    share = sum(labels[i] == "yes" for i in plan.use) / len(plan.use)
    assert abs(share - 0.22) < 0.01
    assert plan.epochs == pytest.approx(2000 / len(plan.use))
    assert plan_rows(_Cfg(), labels, ["no"]).held_out == []            # text defaults: every row, all epochs
    assert plan_rows(_Cfg(), labels, ["no"]).epochs == 8.0


def test_stratified_subset_keeps_every_label_and_is_seeded():
    labels = ["a"] * 50 + ["b"] * 3 + ["c"]
    sub = stratified_subset(labels, 10, 1)
    assert {labels[i] for i in sub} == {"a", "b", "c"}
    assert sub == stratified_subset(labels, 10, 1) and sub == sorted(sub)


# ---- the whole path: train → report → served predictor → artifact without pickle ---------------------------------
def _credit(seed=1, n_train=90, n_val=40):
    from tests.engine.test_evaluate_report import _credit_data
    return _credit_data(seed, n_train, n_val)


@pytest.fixture(scope="module")
def credit_run(tiny_bert, tmp_path_factory):
    from engine import inference
    from engine.config import TrainConfig
    from engine.evaluation.report import report
    from engine.train import train
    inference.clear_cache()
    data = _credit()
    cfg = TrainConfig.from_options({"base": str(tiny_bert), "epochs": 1, "batch_size": 16, "max_length": 32,
                                    "device": "cpu", "threads": 1, "serve": "baseline"}, task_kind="tabular")
    res = train(cfg, data, tmp_path_factory.mktemp("runs") / "credit")
    assert res.status == "succeeded", res.error
    return res.artifact_dir, data, report(res.artifact_dir, data, measure_forgetting=False, plots=False)


def test_report_says_which_is_best_and_by_how_much(credit_run):
    art, data, rep = credit_run
    s = rep["selection"]
    assert s["metric"] == "roc_auc" and s["best"] in sel.CANDIDATES and s["served"] == "baseline"
    assert set(s["scores"]) == set(sel.CANDIDATES) and s["margin"] >= 0
    assert s["partner"] in ("tabular_lr", "gradient_boosting", "random_forest", sel.AVERAGE)
    assert s["held_out_rows"] == len(json.loads((art / "rows.json").read_text() if hasattr(art, "read_text")
                                                else open(f"{art}/rows.json").read())["held_out"]) > 0
    assert rep["served"] == "baseline" and "finetuned" in rep and "roc_auc" in rep["finetuned"]
    assert rep["roc_auc"] == pytest.approx(s["scores"]["baseline"], abs=1e-4)    # top-level = what is served
    on_disk = json.loads(open(f"{art}/metrics.json").read())
    assert on_disk["selection"]["served"] == "baseline"



def test_cost_threshold_is_chosen_on_validation_and_out_of_fold_training_rows(credit_run):
    """The served baseline's decision threshold comes from the validation rows plus every training row scored out of
    fold (the partner's CV), not from the ~40 validation rows alone; qa.json's decision uses it."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from engine.evaluation.costs import best_threshold
    art, data, rep = credit_run
    b, s = rep["binary"], rep["selection"]
    assert b["threshold_chosen_on"] == {"validation_rows": len(data.validation), "training_rows": len(data.train)}
    assert s["extra_rows"] == len(data.train)
    # recompute: the chosen partner's out-of-fold scores on the same folds (seeded by the run's seed), then the
    # cost-minimising threshold
    loaded = ServedModel.load(art)
    inputs = loaded.inputs
    y = [e.label for e in data.train]
    make = sel.partner_factories("tabular", inputs.columns, set(inputs.numeric))
    if s["partner"] == sel.AVERAGE:
        members = dict(make)
        make = {sel.AVERAGE: lambda: average_of(members)}
    seed = json.loads(open(f"{art}/config.json").read())["seed"]
    folds = StratifiedKFold(n_splits=s["cv_folds"], shuffle=True, random_state=seed)
    oof = cross_val_predict(make[s["partner"]](), inputs([e.text for e in data.train]), y, cv=folds,
                            method="predict_proba")[:, 0]                   # sorted labels: bad, good
    val = loaded.baseline_proba([e.text for e in data.validation])[:, loaded.labels.index("bad")]
    is_pos = np.array([e.label == "bad" for e in data.validation] + [v == "bad" for v in y])
    t, _ = best_threshold(is_pos, np.concatenate([val, oof]))
    assert b["threshold"] == pytest.approx(t, abs=1e-6)
    assert json.loads(open(f"{art}/qa.json").read())["decision"]["threshold"] == pytest.approx(t, abs=1e-6)
    # and it is not simply the validation rows' own best threshold (else this test could not tell them apart)
    t_val, _ = best_threshold(is_pos[:len(val)], val)
    assert abs(t_val - t) > 1e-6


def test_deployed_predictor_answers_with_the_selected_model(credit_run):
    from engine.inference import get_predictor
    art, data, _ = credit_run
    pred = get_predictor(art)
    texts = [e.text for e in data.validation]
    served = pred.predict_proba(texts)
    assert pred.served == "baseline"
    np.testing.assert_allclose(served, pred.predict_proba(texts, which="baseline"))
    assert not np.allclose(served, pred.predict_proba(texts, which="finetuned"))
    ans = pred.answer(texts[0])
    assert ans.intent == pred.labels[int(served[0].argmax())]
    assert ans.confidence == pytest.approx(float(served[0].max()))
    w = pred.model_served.record["blend_weight"]
    np.testing.assert_allclose(pred.predict_proba(texts, which="blend"),
                               w * pred.predict_proba(texts, which="finetuned") + (1 - w) * served)


def test_artifact_loads_without_unpickling(credit_run, monkeypatch):
    from engine import inference
    art, data, _ = credit_run

    def refuse(*a, **k):
        raise AssertionError("pickle used while loading a run artifact")

    class NoUnpickler:
        def __init__(self, *a, **k):
            refuse()

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", NoUnpickler)
    inference.clear_cache()
    pred = inference.get_predictor(art)
    assert pred.predict_proba([data.validation[0].text]).shape == (1, 2)
    assert (__import__("pathlib").Path(art) / layout.PARTNER).exists()


def test_a_changed_partner_file_is_refused(credit_run, tmp_path):
    import shutil
    art, data, _ = credit_run
    copy = tmp_path / "copy"
    shutil.copytree(art, copy)
    blob = (copy / layout.PARTNER).read_bytes()
    (copy / layout.PARTNER).write_bytes(blob + b"\0")
    with pytest.raises(ValueError, match="does not match"):
        ServedModel.load(copy)


def test_untrusted_types_are_refused(tmp_path):
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer
    path = tmp_path / "m.skops"
    sio.dump(FunctionTransformer(func=json.dumps), path)   # a function reference outside TRUSTED_TYPES
    from skops.io.exceptions import UntrustedTypesFoundException
    with pytest.raises(UntrustedTypesFoundException):
        sio.load(path, trusted=TRUSTED_TYPES)


def test_selection_keys_are_training_keys_with_defaults_in_the_table():
    from engine.config import DEFAULTS, TrainConfig
    from engine.errors import ConfigError
    for key in ("serve", "train_rows", "row_budget", "blend_holdout", "tabular_text"):
        assert key in TrainConfig.keys() and TrainConfig.help_text()[key]
    tab, text = TrainConfig.from_options({}, "tabular"), TrainConfig.from_options({}, "text")
    assert tab.serve == text.serve == DEFAULTS["*"]["serve"] == "auto"
    assert tab.blend_holdout == DEFAULTS["tabular"]["blend_holdout"] > 0 and text.blend_holdout == 0
    assert TrainConfig.parse({"serve": "Blend"}).serve == "blend"
    with pytest.raises(ConfigError, match="serve"):
        TrainConfig.parse({"serve": "best"})


def test_auto_serves_the_blend_when_validation_cannot_tell_them_apart():
    """A lead of the fine-tuned model or the partner over the blend inside one standard error (few validation rows)
    → blend, which holds the leader; a lead beyond it → the leader."""
    tr_t, tr_y, tr_p = _planted(300, 0.7, 0.72, 0)
    seen = set()
    for seed in range(20):
        va_t, va_y, va_p = _planted(40, 0.7, 0.72, 100 + seed)
        s = sel.select(kind="text", labels=LABELS, train_texts=tr_t, train_labels=tr_y, val_texts=va_t,
                       val_labels=va_y, ft_val=va_p, held_out=list(range(150)), ft_held_out=tr_p[:150],
                       positive="pos")
        r = s.record
        lead = r["scores"][r["best"]] - r["scores"]["blend"]
        if r["best"] != "blend":
            assert (r["served"] == "blend") == (lead <= r["standard_error"]), r
            assert r["served"] in ("blend", r["best"])
            seen.add((r["best"], r["served"]))
    assert ("finetuned", "blend") in seen or ("baseline", "blend") in seen, \
        "no planted case where a candidate led the blend within one standard error"


def test_tabular_text_auto_reads_categories_only_for_big_tables():
    from engine.config import TrainConfig
    cfg = TrainConfig.from_options({}, "tabular")
    assert cfg.tabular_text == "auto"
    assert cfg.resolved_tabular_text(cfg.train_rows + 1) == "categories"
    assert cfg.resolved_tabular_text(cfg.train_rows) == "full"
    assert TrainConfig.from_options({"tabular_text": "categories"}, "tabular").resolved_tabular_text(10) == "categories"


def test_tabular_partners_include_their_soft_vote_scored_on_the_same_folds(tmp_path, monkeypatch):
    """The `average` partner's CV score is the score of the mean of the members' out-of-fold probabilities; when it
    is served it saves and loads through skops like any partner, and answers with the mean of its members."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    data = _credit(seed=3, n_train=160, n_val=60)
    texts, y = [e.text for e in data.train], [e.label for e in data.train]
    rng = np.random.default_rng(0)
    ft = lambda n: np.tile([0.5, 0.5], (n, 1)) + rng.normal(0, 0.01, (n, 1)) * [1, -1]
    chosen = sel.select(kind="tabular", labels=data.labels, train_texts=texts, train_labels=y,
                        val_texts=[e.text for e in data.validation], val_labels=[e.label for e in data.validation],
                        ft_val=ft(len(data.validation)), columns=data.feature_columns, serve="baseline",
                        positive="bad", held_out=list(range(40)), ft_held_out=ft(40))
    cv = chosen.record["partner_cv"]
    assert set(cv) == {"tabular_lr", "gradient_boosting", "random_forest", sel.AVERAGE}
    # recompute: the same folds, the members' out-of-fold probabilities averaged
    X = chosen.inputs(texts)
    folds = StratifiedKFold(n_splits=chosen.record["cv_folds"], shuffle=True, random_state=sel.SEED)
    factories = sel.partner_factories("tabular", chosen.inputs.columns, set(chosen.inputs.numeric))
    mean = np.mean([cross_val_predict(make(), X, y, cv=folds, method="predict_proba") for make in factories.values()],
                   axis=0)                                   # columns in sorted label order: bad, good
    assert cv[sel.AVERAGE] == pytest.approx(sel.score("roc_auc", y, mean, ["bad", "good"], "bad"), abs=1e-5)

    # served as the partner: stored, loaded without pickle, answering with the mean of its members
    avg = average_of(factories).fit(X, y)
    chosen = sel.Selection({**chosen.record, "partner": sel.AVERAGE}, avg, chosen.inputs, chosen.served_proba)
    import skops.io as sio
    real_dump, during = sio.dump, []

    def watching_dump(obj, file):
        during.append(list(getattr(avg, "named_estimators_", {})))   # what another thread would see meanwhile
        return real_dump(obj, file)
    monkeypatch.setattr(sio, "dump", watching_dump)
    chosen.served_model(tmp_path).save()
    assert during == [list(factories)]          # the fitted vote was never changed while it was written
    loaded = ServedModel.load(tmp_path)
    val_texts = [e.text for e in data.validation]
    members = np.mean([clone(make()).fit(X, y).predict_proba(chosen.inputs(val_texts)) for make in factories.values()],
                      axis=0)
    np.testing.assert_allclose(loaded.baseline_proba(val_texts), members, atol=1e-8)
    # each fitted member is written once (skops would write named_estimators_ as a second full copy) and the vote
    # gets its names back on load, bound to the same fitted members; the object that was saved keeps its own
    import zipfile
    with zipfile.ZipFile(tmp_path / layout.PARTNER) as z:
        schema = z.read("schema.json").decode()
    assert "named_estimators_" not in schema and schema.count("RandomForestClassifier") == 2   # fitted + unfitted
    assert list(loaded.partner.named_estimators_) == list(factories)
    assert all(loaded.partner.named_estimators_[n] is e for n, e in zip(factories, loaded.partner.estimators_))
    assert list(avg.named_estimators_) == list(factories)


def test_a_weight_chosen_on_few_rows_is_pulled_toward_the_equal_blend():
    assert sel.shrunk(1.0, 80) == pytest.approx(0.5 + 0.5 * 80 / 180, abs=1e-3)       # ~80 rows: 0.72, not 1.0
    assert sel.shrunk(0.0, 80) == pytest.approx(0.5 - 0.5 * 80 / 180, abs=1e-3)
    assert abs(sel.shrunk(1.0, 3000) - 1.0) < 0.02                                     # Taiwan's 3,000 rows: ~as chosen
    assert sel.shrunk(0.5, 10) == 0.5
    # through choose_weight: a useless fine-tuned model on 3,000 rows still gets (almost) no weight
    rng = np.random.default_rng(0)
    y = np.where(rng.random(3000) < 0.3, "yes", "no")
    good = np.where(y == "yes", 0.7, 0.3)[:, None] * [0, 1] + np.where(y == "yes", 0.3, 0.7)[:, None] * [1, 0]
    noise = rng.random(3000)
    useless = np.stack([1 - noise, noise], axis=1)
    w, _ = sel.choose_weight(y, useless, good, ["no", "yes"], "roc_auc", "yes")
    assert w < 0.05


def test_tabular_logistic_regression_chooses_its_regularisation_on_the_rows_it_is_fitted_on():
    """Many one-hot columns on few rows (German Credit's shape): C chosen by inner CV beats sklearn's fixed C = 1
    on new rows, and the fitted model still saves and loads through skops."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss as sk_log_loss
    from engine.partners import LR_CS, tabular_lr

    rng = np.random.default_rng(7)
    cols = ["signal"] + [f"noise{j}" for j in range(15)]

    def table(n):
        X = np.empty((n, len(cols)), dtype=object)
        X[:, 0] = rng.normal(size=n)
        for j in range(1, len(cols)):
            X[:, j] = rng.choice(list("abcde"), n)
        y = np.where(rng.random(n) < 1 / (1 + np.exp(-1.5 * X[:, 0].astype(float))), "bad", "good")
        return X, y

    X, y = table(150)
    X_new, y_new = table(2000)
    chosen = tabular_lr(cols, {"signal"}).fit(X, y)
    fixed = tabular_lr(cols, {"signal"})
    fixed.steps[-1] = ("lr", LogisticRegression(C=1.0, max_iter=2000))
    fixed.fit(X, y)
    c = float(np.ravel(chosen[-1].C_)[0])
    assert c in LR_CS and c < 1.0
    assert sk_log_loss(y_new, chosen.predict_proba(X_new)) < sk_log_loss(y_new, fixed.predict_proba(X_new)) - 0.01
    loaded = sio.loads(sio.dumps(chosen), trusted=TRUSTED_TYPES)
    np.testing.assert_allclose(loaded.predict_proba(X_new), chosen.predict_proba(X_new))
