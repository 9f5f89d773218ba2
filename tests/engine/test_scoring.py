"""Scoring a file with a run's served model (engine/scoring.py) and the reasons of each served kind
(engine/served/explain.py): the output format, the refusals, chunks and atomic writes, stability, protected columns
that are not inputs, and the fairness figures of the report against fairlearn computed directly."""
from __future__ import annotations

import csv
import json
import random
import shutil

import numpy as np
import pytest

from engine.errors import DatasetError

COLUMNS = ["checking", "amount", "duration", "purpose", "age"]


def _rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        checking = rng.choice(["none", "< 0 DM", ">= 200 DM"])
        amount, duration = rng.randint(500, 15000), rng.choice([6, 12, 24, 36, 48])
        bad = amount > 10000 or duration >= 36 or (checking == "< 0 DM" and rng.random() < 0.7)
        out.append({"checking": checking, "amount": str(amount), "duration": str(duration),
                    "purpose": rng.choice(["car", "furniture", "education"]), "age": str(rng.randint(19, 70)),
                    "risk": "bad" if bad else "good"})
    return out


def _write(path, rows, columns=None):
    columns = columns or list(rows[0])
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def credit(tiny_bert, tmp_path_factory):
    """A small credit table registered with `age` protected, a run trained on it (served: the blend), evaluated."""
    from engine import inference
    from engine.config import TrainConfig
    from engine.data import prepare_dataset
    from engine.evaluation.report import report
    from engine.train import train
    inference.clear_cache()
    tmp = tmp_path_factory.mktemp("scoring")
    data = prepare_dataset(_write(tmp / "credit.csv", _rows(260, 1)), label_column="risk", protected="age<30")
    cfg = TrainConfig.from_options({"base": str(tiny_bert), "epochs": 1, "batch_size": 16, "max_length": 48,
                                    "device": "cpu", "threads": 1, "serve": "blend"}, task_kind="tabular")
    res = train(cfg, data, tmp / "run")
    assert res.status == "succeeded", res.error
    rep = report(res.artifact_dir, data, measure_forgetting=False, plots=True)
    return tmp, res.artifact_dir, data, rep


def _served(art, kind=None, tmp=None):
    from engine.served.model import ServedModel
    served = ServedModel.load(art)
    if kind is None:
        return served
    copy = tmp / f"as-{kind}"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(art, copy)
    loaded = ServedModel.load(copy)
    ServedModel(copy, kind=kind, labels=loaded.labels, inputs=loaded.inputs, partner=loaded._partner(),
                weight=loaded.weight if kind == "blend" else None, record=loaded.record).save(copy)
    return ServedModel.load(copy)


def _score(served, tmp, rows, name="applicants.csv", **kw):
    from engine.scoring import score_file
    src = _write(tmp / name, rows)
    out = tmp / f"{name}.scored.csv"
    res = score_file(served, src, out, drift=served.drift_reference(), **kw)
    with open(out, newline="", encoding="utf-8") as f:
        return res, list(csv.DictReader(f))


@pytest.mark.parametrize("kind", ["finetuned", "baseline", "blend"])
def test_every_served_kind_scores_in_order_with_one_to_four_reasons_per_adverse_decision(credit, kind):
    tmp, art, _, _ = credit
    served = _served(art, kind, tmp)
    rows = _rows(40, 7)
    res, out = _score(served, tmp, rows, name=f"{kind}.csv")
    assert [r["row"] for r in out] == [str(i) for i in range(1, 41)]
    assert res["rows"] == 40 and sum(res["counts"].values()) == 40 and res["positive_label"] == "bad"
    p = served.positive_proba([{c: r[c] for c in served.inputs.columns} for r in rows])
    np.testing.assert_allclose([float(r["probability"]) for r in out], p, atol=6e-5)
    for r, q in zip(out, p):
        reasons = [r[f"reason_{i}"] for i in range(1, 5) if r[f"reason_{i}"]]
        assert r["decision"] == ("bad" if q >= res["threshold"] else "good")
        if r["decision"] == "bad":
            assert 1 <= len(reasons) <= 4
            assert all(x.split(":", 1)[0] in served.inputs.columns for x in reasons)
            assert len({x.split(":", 1)[0] for x in reasons}) == len(reasons)    # one reason per input column
        else:
            assert reasons == []


def test_reasons_explain_what_answers_the_partner_alone_for_a_served_baseline(credit):
    """A served baseline's reasons are the partner's own attributions: no surrogate, nothing of the transformer."""
    from engine.explain.partners import partner_attributions
    from engine.served import explain
    tmp, art, _, _ = credit
    served = _served(art, "baseline", tmp)
    rows = [{c: r[c] for c in served.inputs.columns} for r in _rows(10, 3)]
    want = partner_attributions(served._partner(), served.inputs.frame(rows),
                                served.inputs.frame(served.reference.sample_rows()), served.labels, "bad")
    np.testing.assert_allclose(explain.attributions(served, rows), want, atol=1e-12)


def test_the_id_column_names_rows_and_extra_columns_are_listed_not_read(credit):
    tmp, art, _, _ = credit
    rows = [{"application_id": f"A{i:03d}", **r, "branch": "north"} for i, r in enumerate(_rows(12, 5))]
    res, out = _score(_served(art), tmp, rows, name="ids.csv", id_column="application_id")
    assert [r["application_id"] for r in out] == [r["application_id"] for r in rows]
    assert res["extra_columns"] == ["age", "branch"]       # age: protected, not an input of this run


def test_a_labelled_file_also_gets_the_metrics_eval_would_give(credit):
    tmp, art, _, _ = credit
    res, _ = _score(_served(art), tmp, _rows(60, 11), name="labelled.csv")
    m = res["metrics"]
    assert m["rows"] == 60 and 0 <= m["accuracy"] <= 1 and m.get("roc_auc") is not None


def test_missing_column_is_refused_naming_it_and_nothing_is_written(credit):
    tmp, art, _, _ = credit
    rows = [{k: v for k, v in r.items() if k != "amount"} for r in _rows(5, 2)]
    with pytest.raises(DatasetError, match="missing column amount.*reads the columns"):
        _score(_served(art), tmp, rows, name="missing.csv")
    assert not (tmp / "missing.csv.scored.csv").exists() and not list(tmp.glob(".missing*"))


def test_a_file_of_texts_for_a_table_run_is_refused_with_the_reason(credit):
    tmp, art, _, _ = credit
    from engine.scoring import score_file
    src = _write(tmp / "questions.csv", [{"text": "where is my card?"}, {"text": "fx rate?"}])
    with pytest.raises(DatasetError, match="looks like a file of texts"):
        score_file(_served(art), src, tmp / "q.out.csv")


def test_an_unseen_category_is_scored_and_counted(credit):
    tmp, art, _, _ = credit
    rows = _rows(10, 4)
    rows[3]["purpose"] = "yacht"
    res, out = _score(_served(art), tmp, rows, name="unseen.csv")
    assert res["unseen_categories"] == {"purpose": 1} and len(out) == 10


def test_chunks_change_nothing_and_the_same_file_twice_gives_the_same_bytes(credit):
    tmp, art, _, _ = credit
    from engine.scoring import score_file
    src = _write(tmp / "same.csv", _rows(33, 9))
    served = _served(art)
    score_file(served, src, tmp / "a.csv", chunk_rows=4)
    score_file(_served(art), src, tmp / "b.csv")
    assert (tmp / "a.csv").read_bytes() == (tmp / "b.csv").read_bytes()


def test_output_appears_only_when_complete(credit, monkeypatch):
    tmp, art, _, _ = credit
    from engine.scoring import score_file
    from engine.served.model import ServedModel
    src = _write(tmp / "breaks.csv", _rows(30, 12))
    calls = []

    def explode(self, rows, k=4):
        calls.append(len(rows))
        if len(calls) > 1:
            raise RuntimeError("disk full")
        return [["x: y"]] * len(rows)
    monkeypatch.setattr(ServedModel, "explain", explode)
    with pytest.raises(RuntimeError):
        score_file(_served(art), src, tmp / "breaks.out.csv", chunk_rows=5)
    assert not (tmp / "breaks.out.csv").exists() and not list(tmp.glob(".breaks.out*"))


def test_bounded_memory_the_rows_are_not_kept(credit):
    """A file ten times longer peaks at about the same memory: rows are read, scored and written chunk by chunk."""
    import tracemalloc
    tmp, art, _, _ = credit
    from engine.scoring import score_file
    served = _served(art, "baseline", tmp)
    small, big = _write(tmp / "small.csv", _rows(400, 1)), _write(tmp / "big.csv", _rows(4000, 1))
    peaks = []
    for src in (small, big):
        tracemalloc.start()
        score_file(served, src, tmp / f"{src.stem}.out.csv", chunk_rows=200, reasons=False)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 2.0 * peaks[0], peaks


def test_the_protected_column_is_not_an_input_it_changes_no_probability(credit):
    tmp, art, data, _ = credit
    served = _served(art)
    assert "age" not in served.inputs.columns and "age" not in data.feature_columns
    rows = _rows(25, 21)
    flipped = [{**r, "age": str(90 - int(r["age"]))} for r in rows]
    res_a, a = _score(served, tmp, rows, name="ages.csv")
    res_b, b = _score(_served(art), tmp, flipped, name="ages-flipped.csv")
    assert [r["probability"] for r in a] == [r["probability"] for r in b]
    assert res_a["extra_columns"] == ["age"]


def test_the_reports_fairness_figures_are_fairlearns(credit):
    """Per group approval rate and TPR, the adverse impact ratio and the equal-opportunity difference of the report,
    recomputed with fairlearn directly on the same validation decisions."""
    from fairlearn.metrics import MetricFrame, selection_rate, true_positive_rate
    tmp, art, data, rep = credit
    f = rep["fairness"]["age<30"]
    served = _served(art)
    rows = [{c: r[c] for c in served.inputs.columns} for r in data.raw_validation]
    p = served.positive_proba(rows)
    decision = np.where(p >= rep["threshold"], "good", "good")
    decision = np.where(p >= rep["threshold"], "bad", decision)
    groups = ["age<30" if int(r["age"]) < 30 else "age≥30" for r in data.protected_validation]
    y = np.asarray([e.label for e in data.validation])
    mf = MetricFrame(metrics={"approval": selection_rate, "tpr": true_positive_rate}, y_true=y == "good",
                     y_pred=decision == "good", sensitive_features=groups)
    for g, m in f["groups"].items():
        assert m["approval_rate"] == pytest.approx(mf.by_group.loc[g, "approval"])
        assert m["tpr"] == pytest.approx(mf.by_group.loc[g, "tpr"], nan_ok=True)
    assert f["adverse_impact_ratio"] == pytest.approx(mf.by_group["approval"].min() / mf.by_group["approval"].max())
    assert f["equal_opportunity_difference"] == pytest.approx(mf.by_group["tpr"].max() - mf.by_group["tpr"].min())
    assert f["air_interval"][0] <= f["adverse_impact_ratio"] <= f["air_interval"][1]
    assert (tmp / "run" / "plots" / "fairness-age-30.png").exists()
    card = (tmp / "run" / "README.md").read_text()
    assert "## What answers" in card and "age<30" in card and "/tmp" not in card and card.startswith("# ftbot model: run")


def test_explaining_one_applicant_gives_the_change_that_flips_it(credit):
    tmp, art, _, _ = credit
    served = _served(art)
    rows = [{c: r[c] for c in served.inputs.columns} for r in _rows(60, 31)]
    p = served.positive_proba(rows)
    row = rows[int(np.argmax(p))]
    e = served.explain_one(row)
    assert e["decision"] == "bad" and 1 <= len(e["reasons"]) <= 4 and e["flip_words"]
    if e["flip"]:
        changed = {**row, e["flip"]["column"]: e["flip"]["to"]}
        assert served.positive_proba([changed])[0] < e["threshold"]


def test_drift_of_a_shifted_file_flags_the_shifted_column_only(credit):
    tmp, art, _, _ = credit
    served = _served(art)
    rows = _rows(400, 41)
    shifted = [{**r, "amount": str(int(r["amount"]) * 4)} for r in rows]
    res, _ = _score(served, tmp, shifted, name="shifted.csv", reasons=False)
    d = res["drift"]
    assert d["bands"]["amount"] == "significant" and "amount" in d["flagged"]
    assert all(b == "stable" for c, b in d["bands"].items() if c not in ("amount",)), d["bands"]
    same, _ = _score(served, tmp, rows, name="unshifted.csv", reasons=False)
    assert same["drift"]["bands"]["amount"] != "significant"
