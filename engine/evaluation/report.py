"""Evaluation report of a trained run: the fine-tuned candidate on validation data beside sklearn baselines, the
choice of what is served (engine/recipes/blend.py, saved as a ServedModel), two-class cost figures, forgetting,
plots; writes metrics.json, qa.json and refreshes the model card.

`report(artifact_dir, data)` is called once after training; `evaluate_examples(artifact_dir, examples)` scores the
served model on other labelled data with the thresholds `report` stored.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from engine.data.types import Example, PreparedDataset
from engine.errors import ConfigError, DatasetError
from engine.evaluation.baseline import run_baselines
from engine.evaluation.costs import GERMAN_CREDIT, CostMatrix, best_threshold, cost_report
from engine.evaluation.forgetting import MAX_TEXTS, forgetting
from engine.metrics import binary_scores, metrics, positive_label
from engine.evaluation.plots import confusion_png, loss_curve_png
from engine.evaluation.thresholds import TARGET_ACCURACY, answer_threshold
from engine.device import forward_autocast
from engine.inference import DEFAULT_FALLBACK, DEFAULT_NO_ANSWER, get_predictor
from engine.jsonfiles import jsonable, write_json
from engine.served import layout
from engine.served.model import ServedModel
from engine.training import candidate

log = logging.getLogger(__name__)


def _binary(labels: list[str], y_true: Sequence[str], proba: np.ndarray, positive: str, costs: CostMatrix,
            threshold: float | None) -> dict:
    score = proba[:, labels.index(positive)]
    is_pos = np.asarray(y_true) == positive
    out = {"positive_label": positive, **cost_report(is_pos, score, costs, threshold)}
    negative = labels[1 - labels.index(positive)]
    pred = np.where(score >= out["threshold"], positive, negative)
    at_t = metrics(y_true, pred, labels)
    out["macro_f1_at_threshold"] = at_t["macro_f1"]
    out["confusion_at_threshold"] = at_t["confusion"]
    return out


def _cost_threshold(labels: list[str], y_true: Sequence[str], proba: np.ndarray, positive: str, costs: CostMatrix,
                    selection) -> dict | None:
    """The cost-minimising threshold of what is served, chosen on the validation rows together with the training rows
    the selection scored honestly (out-of-fold or held out from the transformer); None when there are none (the
    threshold is then chosen on validation alone: a threshold picked on ~100 rows moves with every split)."""
    if selection is None or not len(selection.extra_labels):
        return None
    k = labels.index(positive)
    is_pos = np.concatenate([np.asarray(y_true) == positive, np.asarray(selection.extra_labels) == positive])
    score = np.concatenate([proba[:, k], selection.extra_proba[:, k]])
    t, cost = best_threshold(is_pos, score, costs)
    return {"threshold": t, "cost_on_rows": cost, "validation_rows": len(y_true),
            "training_rows": len(selection.extra_labels)}


def _forgetting(trained, texts: Sequence[str]) -> dict:
    """Tuned vs untouched pretrained encoder on the validation texts; see engine.evaluation.forgetting. The
    pretrained side comes from the text partner's memo (engine/recipes/embedding_partner.py): the selection has
    usually embedded these texts already, and the encoder is loaded once per process either way."""
    from engine.classifier import embed
    from engine.recipes import embedding_partner

    enc = _encoder_settings(trained)
    fast = forward_autocast(enc["precision"], next(trained.model.parameters()).device)   # a summary figure

    def tuned(ts):
        with torch.inference_mode(), fast():
            return embed(trained.model, trained.tokenizer, ts, enc["pooling"], max_length=enc["max_length"]).numpy()

    def pretrained(ts):
        return embedding_partner.embeddings(enc["base"], ts, enc["pooling"], enc["max_length"], enc["precision"])
    return forgetting(texts, tuned, pretrained, max_texts=MAX_TEXTS)


def _encoder_settings(trained) -> dict:
    """The run's pretrained encoder as the text partner and forgetting read it — {base, pooling, max_length,
    precision}, the key of the embedding memo (engine/recipes/embedding_partner.py)."""
    cfg = trained.config or {}
    return {"base": cfg.get("base") or "minilm", "max_length": int(cfg.get("max_length") or 128),
            "pooling": getattr(trained, "pooling", None) or cfg.get("pooling") or "mean",
            "precision": cfg.get("precision") or "auto"}


def _qa_settings(artifact_dir: Path, answers: dict, threshold: dict, decision: dict | None) -> dict:
    """qa.json: keeps a fallback/no-answer text someone customised in an earlier qa.json."""
    old = {}
    if (artifact_dir / layout.QA).exists():
        try:
            old = json.loads((artifact_dir / layout.QA).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            old = {}
    qa = {"threshold": threshold["threshold"], "answers": dict(answers),
          "fallback": old.get("fallback", DEFAULT_FALLBACK), "no_answer": old.get("no_answer", DEFAULT_NO_ANSWER),
          "threshold_rule": f"smallest confidence with answered validation accuracy >= {threshold['target']}, "
                            f"clamped to [0.2, 0.9]",
          "validation_coverage": threshold["coverage"], "validation_answered_accuracy": threshold["answered_accuracy"]}
    if decision:
        qa["decision"] = decision
    return qa


def report(artifact_dir: str | Path, data: PreparedDataset, *, costs: CostMatrix = GERMAN_CREDIT,
           positive: str | None = None, target_accuracy: float = TARGET_ACCURACY,
           baselines: bool = True, measure_forgetting: bool = True, plots: bool = True) -> dict:
    """Evaluate the run in `artifact_dir` on `data.validation` and write metrics.json, qa.json, plots/ and the card.

    Two-class tasks: `positive` is the risk label (default: 'bad' if present, else a risk-like name, else the
    minority class) and `costs` the cost matrix (default German Credit's 5:1); the cost-minimising threshold on
    P(positive) is chosen on validation data, stored in qa.json["decision"] and used by `evaluate_examples`.
    Top-level accuracy / macro_f1 are of the plain argmax decision, comparable with the baselines'.
    """
    t0 = time.perf_counter()
    root = Path(artifact_dir)
    model = ServedModel.load(root).transformer       # the fine-tuned candidate training wrote
    labels = list(model.labels)
    texts = [e.text for e in data.validation]
    y_true = [e.label for e in data.validation]
    unknown = sorted(set(y_true) - set(labels))
    if unknown:
        raise DatasetError([f"validation labels unknown to the model: {', '.join(unknown)}"])
    if len(labels) == 2:
        positive = positive or positive_label(labels, data.label_counts)
        if positive not in labels:
            raise ConfigError("positive", positive, "one of the model's labels: " + ", ".join(labels))
    timings = {}
    t = time.perf_counter()
    ft_proba = candidate.stored_validation_proba(root, data, len(labels))
    reused = ft_proba is not None
    if ft_proba is None:
        ft_proba = model.proba(texts)
    timings["predict_s"] = time.perf_counter() - t
    t = time.perf_counter()
    selection = _select(root, model, data, ft_proba, positive) if baselines and len(texts) else None
    timings["selection_s"] = time.perf_counter() - t
    proba = selection.served_proba if selection is not None else ft_proba
    y_pred = [labels[i] for i in proba.argmax(axis=1)] if len(texts) else []
    out = metrics(y_true, y_pred, labels, proba)
    out["split"] = "validation"
    out["validation_scores_from"] = "the best in-training evaluation" if reused else "a prediction pass"
    out["served"] = selection.record["served"] if selection is not None else "finetuned"
    if selection is not None:
        out["selection"] = {k: v for k, v in selection.record.items() if k not in ("columns", "numeric", "labels")}
        ft = metrics(y_true, [labels[i] for i in ft_proba.argmax(axis=1)], labels, ft_proba)
        out["finetuned"] = {k: ft[k] for k in ("accuracy", "macro_f1", "roc_auc") if k in ft}
        if positive is not None:
            out["finetuned"].update(binary_scores(np.asarray(y_true) == positive, ft_proba[:, labels.index(positive)]))

    binary = None
    if len(labels) == 2:
        chosen = _cost_threshold(labels, y_true, proba, positive, costs, selection)
        binary = _binary(labels, y_true, proba, positive, costs, chosen["threshold"] if chosen else None)
        if chosen:   # chosen here, on these validation rows and the selection's honestly scored training rows
            binary.update(threshold_chosen_here=True, threshold_chosen_on={k: chosen[k] for k in
                                                                          ("validation_rows", "training_rows")},
                          threshold_cost_on_rows=chosen["cost_on_rows"])
        out.update(positive_label=positive, binary=binary)
        # AUC/KS of the chosen positive label (metrics() used the default one)
        out.update(binary_scores(np.asarray(y_true) == positive, proba[:, labels.index(positive)]))
        out.update(threshold=binary["threshold"], expected_cost=binary["expected_cost"])

    conf = proba.max(axis=1) if len(texts) else np.zeros(0)
    thr = answer_threshold(conf, np.asarray(y_true) == np.asarray(y_pred), target=target_accuracy)
    out["qa"] = thr
    if binary is not None and data.protected and data.protected_validation:
        out["fairness"], charts = _fairness(root, data, labels, y_true, proba, positive, binary["threshold"], costs,
                                            plots)
        out.setdefault("plots", {}).update(charts)
    served = _save_served(root, model, data, selection, positive)
    out["served_model"] = served.describe()
    if len(texts):
        out["intervals"] = _intervals(y_true, proba, labels, positive, binary["threshold"] if binary else None, costs)
    try:
        ref = _reference(data, served, selection, proba, positive, thr["threshold"])
        write_json(root / layout.REFERENCE, ref)
        if ref.get("drift") and data.raw_validation:
            from engine.monitoring.drift import DriftReference
            out["stability"] = DriftReference.from_dict(ref["drift"]).compare(
                list(data.raw_validation), proba[:, labels.index(positive)])
    except Exception:   # noqa: BLE001 — reasons and drift need it, the report and the model do not
        log.exception("could not write the reference statistics")

    t = time.perf_counter()
    if baselines:
        out["baseline"] = run_baselines(
            [e.text for e in data.train], [e.label for e in data.train], texts, y_true, labels,
            positive=positive if len(labels) == 2 else None, costs=costs,
            raw_train=data.raw_train if data.kind == "tabular" else None,
            raw_validation=data.raw_validation if data.kind == "tabular" else None,
            columns=data.feature_columns or None,
            # the text partner reads the same texts: score it, do not fit TF-IDF twice (tabular partners read the
            # columns parsed from the text, a frame the raw-column baselines build differently: refitted, ~s)
            prefit=_prefit_tfidf(selection))
    else:
        out["baseline"] = {}
    timings["baselines_s"] = time.perf_counter() - t

    t = time.perf_counter()
    if measure_forgetting:
        try:
            out["forgetting"] = _forgetting(model.trained, texts)
        except Exception as e:   # forgetting is informative, never a reason to lose the report
            log.exception("forgetting measurement failed")
            out["forgetting"] = {"error": f"{type(e).__name__}: {e}"}
    else:
        out["forgetting"] = {}

    timings["forgetting_s"] = time.perf_counter() - t
    t = time.perf_counter()
    out.setdefault("plots", {})
    if plots:
        out["plots"]["confusion"] = str(confusion_png(out["confusion"], labels, layout.plot(root, "confusion")))
        history = candidate.read_history(root)
        metric = (model.config or {}).get("metric", "macro_f1")
        out["plots"]["loss_curve"] = str(loss_curve_png(history, layout.plot(root, "loss_curve"), metric=metric))

    decision = ({"positive_label": positive, "threshold": binary["threshold"], "cost_matrix": costs.to_dict()}
                if binary else None)
    write_json(root / layout.QA, _qa_settings(root, data.answers or {}, thr, decision))
    timings["plots_s"] = time.perf_counter() - t
    out["timings"] = {k: round(v, 3) for k, v in timings.items()}
    out["eval_s"] = round(time.perf_counter() - t0, 3)
    write_json(root / layout.METRICS, out)
    _update_card(root, model.config, out)
    return json.loads(json.dumps(out, default=jsonable))


def _prefit_tfidf(selection) -> dict | None:
    """The selection's TF-IDF partner, alone or as a member of the soft vote, fitted on the same training rows: the
    baseline table scores it instead of fitting it again (2.4 s on 2,000 BANKING77 texts)."""
    if selection is None:
        return None
    name, partner = selection.record["partner"], selection.partner
    if name == "tfidf_lr":
        return {"tfidf_lr": partner}
    members = getattr(partner, "named_estimators_", None) or {}
    if "tfidf_lr" not in members:
        return None
    return {"tfidf_lr": _VoteMember(members["tfidf_lr"], partner.le_.classes_)}


class _VoteMember:
    """A member of sklearn's VotingClassifier answering in the labels: the vote fits its members on label indices
    (VotingClassifier.le_), so a member alone predicts 0…k−1."""

    def __init__(self, model, vote_classes):
        self.model = model
        self.classes_ = np.asarray(vote_classes)[np.asarray(model.classes_, dtype=int)]

    def predict_proba(self, X) -> np.ndarray:
        return self.model.predict_proba(X)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.asarray(self.model.predict_proba(X)).argmax(axis=1)]


def _select(root: Path, model, data: PreparedDataset, ft_val: np.ndarray, positive: str | None):
    """Fine-tuned model vs its best baseline vs their blend (engine/recipes/blend.py); saves what is served into the
    artifact (engine/served/model.py). A failure here is logged and the fine-tuned model alone is served."""
    from engine.recipes import blend
    from engine.recipes.row_plan import stratified_subset
    try:
        _hand_over_probe_embeddings(root, data)
        rows = candidate.read_rows(root)
        held = [i for i in rows.get("held_out", []) if 0 <= i < len(data.train)]
        if len(held) > blend.MAX_HELD_OUT:   # scoring 15k rows with the transformer would cost minutes on a CPU
            keep = stratified_subset([data.train[i].label for i in held], blend.MAX_HELD_OUT, 0)
            held = [held[k] for k in keep]
        ft_held = model.proba([data.train[i].text for i in held]) if held else None
        cfg = model.config or {}
        chosen = blend.select(kind=data.kind if data.kind == "tabular" and data.feature_columns else "text",
                              labels=model.labels, train_texts=[e.text for e in data.train],
                              train_labels=[e.label for e in data.train], val_texts=[e.text for e in data.validation],
                              val_labels=[e.label for e in data.validation], ft_val=ft_val, held_out=held,
                              ft_held_out=ft_held, columns=data.feature_columns or (),
                              serve=cfg.get("serve") or "auto", positive=positive, seed=int(cfg.get("seed") or 0),
                              encoder=_encoder_settings(model.trained))
        return chosen
    except Exception:   # noqa: BLE001 — the report (and the fine-tuned model) must survive a failed selection
        log.exception("model selection failed; serving the fine-tuned model")
        for name in (layout.SERVED, layout.PARTNER):
            (root / name).unlink(missing_ok=True)
        return None


BOOTSTRAP = 1000


def _intervals(y_true: list[str], proba: np.ndarray, labels: list[str], positive: str | None,
               threshold: float | None, costs: CostMatrix) -> dict:
    """95 % bootstrap intervals (validation rows resampled with replacement, seeded) of what is served: accuracy,
    and for two classes ROC AUC and the expected cost at the chosen threshold."""
    from sklearn.metrics import roc_auc_score

    from engine.evaluation.costs import expected_cost
    y = np.asarray(y_true)
    n = len(y)
    rng = np.random.default_rng(0)
    correct = np.asarray(labels)[proba.argmax(axis=1)] == y
    acc, auc, cost = [], [], []
    is_pos = y == positive if positive is not None else None
    score = proba[:, labels.index(positive)] if positive is not None else None
    for _ in range(BOOTSTRAP):
        idx = rng.integers(0, n, n)
        acc.append(correct[idx].mean())
        if is_pos is not None:
            if 0 < is_pos[idx].sum() < n:
                auc.append(roc_auc_score(is_pos[idx], score[idx]))
            if threshold is not None:
                cost.append(expected_cost(is_pos[idx], score[idx] >= threshold, costs))
    pct = lambda v: [round(float(np.percentile(v, 2.5)), 4), round(float(np.percentile(v, 97.5)), 4)]  # noqa: E731
    out = {"rows": n, "resamples": BOOTSTRAP, "accuracy": pct(acc)}
    if auc:
        out["roc_auc"] = pct(auc)
    if cost:
        out["expected_cost"] = pct(cost)
    return out


def _fairness(root: Path, data: PreparedDataset, labels: list[str], y_true: list[str], proba: np.ndarray,
              positive: str, threshold: float, costs: CostMatrix, plots: bool) -> tuple[dict, dict]:
    """Per protected attribute, on the validation rows at the chosen threshold (engine/evaluation/fairness.py: groups,
    adverse impact ratio and equal-opportunity difference with bootstrap intervals); and a chart of expected cost
    and the ratio across thresholds with the chosen one marked — the threshold moves the ratio more than the model
    does, so the risk team chooses it knowingly."""
    from engine.evaluation.fairness import threshold_sweep
    from engine.evaluation.fairness_plot import fairness_threshold_png
    rows = list(data.protected_validation)
    attrs, score, reports = _group_fairness(data.protected, rows, labels, y_true, proba, positive, threshold)
    charts = {}
    for a in attrs:
        reports[a.name]["threshold"] = threshold
        if plots:
            sweep = threshold_sweep(np.asarray(y_true) == positive, score, a.groups(rows), costs)
            name = "fairness-" + "".join(ch if ch.isalnum() else "-" for ch in a.name)
            charts[name] = str(fairness_threshold_png(sweep, threshold, layout.plot(root, name),
                                                      title=f"Expected cost and adverse impact ratio ({a.name})"))
    return reports, charts


def _group_fairness(protected: Sequence[dict], rows: Sequence[dict], labels: list[str], y_true: Sequence[str],
                    proba: np.ndarray, positive: str, threshold: float) -> tuple[list, np.ndarray, dict]:
    """The fairness reports of decisions at `threshold` (P(positive) ≥ it is the adverse decision) → (the protected
    attributes, the score of each row, {attribute: report})."""
    from engine.data.protected import Protected
    from engine.evaluation.fairness import fairness_reports
    attrs = [Protected.from_dict(d) for d in protected]
    favourable = next(lab for lab in labels if lab != positive)
    score = proba[:, labels.index(positive)]
    decision = [positive if p >= threshold else favourable for p in score]
    return attrs, score, fairness_reports(attrs, list(rows), y_true, decision, favourable, score=score)


def _save_served(root: Path, model, data: PreparedDataset, selection, positive: str | None) -> ServedModel:
    """What answers, saved whole (engine/served/model.py): the selection's choice, or the fine-tuned model alone,
    with what scoring needs to read a file (the columns, the label and text columns, the adverse label)."""
    from engine.data.values import numeric_columns
    from engine.served.partner import Inputs
    extra = {"label_column": data.label_column, "text_column": data.text_column, "positive_label": positive,
             "favourable_label": next((lab for lab in model.labels if lab != positive), None) if positive else None,
             "task_kind": data.kind, "protected": list(getattr(data, "protected", []) or [])}
    if selection is not None:
        served = selection.served_model(root, validation_rows=len(data.validation))
    else:
        inputs = Inputs("text")
        if data.kind == "tabular" and data.feature_columns:
            cols = list(data.feature_columns)
            inputs = Inputs("tabular", cols, sorted(numeric_columns(list(data.raw_train or []), cols)))
        served = ServedModel(root, kind="finetuned", labels=model.labels, inputs=inputs, transformer=model,
                             record={"served_why": "the fine-tuned model alone: no baseline was evaluated",
                                     "validation_rows": len(data.validation)})
    served.record.update(extra)
    served.save(root)
    return served


def _reference(data: PreparedDataset, served: ServedModel, selection, proba: np.ndarray,
               positive: str | None, answer_threshold: float) -> dict:
    """The training population reasons and drift are measured against (reference.json). Tables: the explanation
    reference (engine/explain/reference.py) and the drift bins of every input column and of the score — the served
    model's honest scores on training rows (out of fold, or rows held out from the transformer), else its
    validation scores. Text: the intent mix, fallback rate and confidence of the validation answers."""
    labels = list(served.labels)
    if data.kind == "tabular" and data.feature_columns and positive is not None:
        from engine.explain.reference import Reference
        from engine.monitoring.drift import DriftReference
        cols, numeric = list(served.inputs.columns), list(served.inputs.numeric)
        rows, y = list(data.raw_train or []), [e.label for e in data.train]
        k = labels.index(positive)
        # the score's bins come from scores the served model was not fitted on: its validation scores plus the
        # training rows scored out of fold or held out (a forest's scores on its own training rows are far too sure)
        honest = selection is not None and selection.extra_proba is not None and len(selection.extra_labels)
        scores = np.concatenate([proba[:, k], selection.extra_proba[:, k]]) if honest else proba[:, k]
        ref = Reference.fit(rows, y, cols, numeric, served.record["favourable_label"])
        drift = DriftReference.fit(rows, cols, set(numeric), scores=np.asarray(scores))
        return {"kind": "tabular", "explain": ref.to_dict(), "drift": drift.to_dict(),
                "score_from": (f"{len(proba)} validation + {len(selection.extra_labels)} honestly scored training "
                               "rows" if honest else f"{len(proba)} validation rows")}
    pred = [labels[i] for i in proba.argmax(axis=1)] if len(proba) else []
    conf = proba.max(axis=1) if len(proba) else np.zeros(0)
    return {"kind": "text", "intents": {lab: pred.count(lab) for lab in labels}, "rows": len(pred),
            "mean_confidence": float(conf.mean()) if len(conf) else None,
            "fallback_rate": float((conf < answer_threshold).mean()) if len(conf) else None}


def _hand_over_probe_embeddings(root: Path, data: PreparedDataset) -> None:
    """The probe head's embeddings of training texts (written by training) go to the text partner's memo, so the
    selection does not embed those texts again."""
    emb = candidate.take_probe_embeddings(root)
    if emb is None:
        return
    from engine.recipes import embedding_partner
    rows = [i for i in emb["rows"] if 0 <= i < len(data.train)]
    if len(rows) != len(emb["rows"]):
        return
    embedding_partner.remember(emb["base"], emb["pooling"], emb["max_length"], [data.train[i].text for i in rows],
                               emb["embeddings"])


def _update_card(root: Path, cfg: dict, rep: dict) -> None:
    from engine import card
    meta = candidate.read_meta(root)
    try:
        card.write_card(root, cfg, meta, None, report=rep)
    except Exception:
        log.exception("could not update the model card")


def evaluate_examples(artifact_dir: str | Path, examples: Sequence[Example], *, protected: Sequence[dict] = (),
                      protected_rows: Sequence[dict] | None = None) -> dict:
    """Same metrics on other labelled data. Labels the model does not know raise DatasetError naming them.
    Two-class tasks use the positive label, cost matrix and threshold stored by `report` (not re-chosen here).
    `protected` (the dataset's attributes) with `protected_rows` (their values, one dict per example) adds the
    fairness report at that threshold."""
    root = Path(artifact_dir)
    pred = get_predictor(root)
    labels = list(pred.labels)
    examples = list(examples)
    if not examples:
        raise DatasetError(["no examples to evaluate"])
    unknown = sorted({e.label for e in examples} - set(labels))
    if unknown:
        raise DatasetError([f"label{'s' if len(unknown) > 1 else ''} not known to this model: "
                            f"{', '.join(unknown)} (it knows: {', '.join(labels)})"])
    texts, y_true = [e.text for e in examples], [e.label for e in examples]
    proba = pred.predict_proba(texts)
    y_pred = [labels[i] for i in proba.argmax(axis=1)]
    out = metrics(y_true, y_pred, labels, proba)
    out["split"] = "examples"
    if len(labels) == 2:
        decision = pred.qa.get("decision") or {}
        positive = decision.get("positive_label") or positive_label(labels)
        cm = decision.get("cost_matrix") or {}
        costs = CostMatrix(fn=float(cm.get("fn", GERMAN_CREDIT.fn)), fp=float(cm.get("fp", GERMAN_CREDIT.fp)))
        thr = decision.get("threshold")
        binary = _binary(labels, y_true, proba, positive, costs, thr)
        out.update(binary_scores(np.asarray(y_true) == positive, proba[:, labels.index(positive)]))
        out.update(positive_label=positive, binary=binary, threshold=binary["threshold"],
                   expected_cost=binary["expected_cost"])
    conf = proba.max(axis=1)
    t = float(pred.qa["threshold"])
    answered = conf >= t
    correct = np.asarray(y_true) == np.asarray(y_pred)
    out["qa"] = {"threshold": t, "coverage": float(answered.mean()),
                 "answered_accuracy": float(correct[answered].mean()) if answered.any() else None}
    if len(labels) == 2 and protected and protected_rows is not None and len(protected_rows) == len(examples):
        out["fairness"] = _group_fairness(protected, protected_rows, labels, y_true, proba, positive,
                                          binary["threshold"])[2]
    return json.loads(json.dumps(out, default=jsonable))
