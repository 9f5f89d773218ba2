"""Recipe: best model wins, on validation only. The fine-tuned model, its strongest simple baseline ("partner") and a
blend of the two are scored on the validation rows; the best one (or the one the user asked for, `serve=`) is what
the run serves (engine/served/model.py). Runs after every training (`serve=auto`, the default); `serve=finetuned`
keeps the fine-tuned model whatever the scores.

How each piece is chosen, and on which rows — the validation rows that report the result choose only the winner:
- partner: among the sklearn models that can be served (tables: logistic regression, histogram gradient boosting,
  random forest on the raw columns; text: TF-IDF + logistic regression and LR on the untouched pretrained encoder's
  embeddings, engine/recipes/embedding_partner.py) and their soft vote `average`, the one with the best k-fold
  cross-validated score on the TRAINING rows — the soft vote unless a single one beats it by more than one standard
  error there. It is then refitted on all training rows. Text of more than two classes with no training rows held
  out skips that CV (nothing reads its out-of-fold scores) and takes the soft vote.
- blend: P = w·P_finetuned + (1 − w)·P_partner. w (lowest log-loss) is chosen on the training rows the transformer
  never saw (`blend_holdout`, engine/recipes/row_plan.py), where the transformer's scores are honest and the
  partner's are its out-of-fold scores, then pulled toward 0.5 in proportion to how few those rows are (`shrunk`).
  Without such rows w is fixed: an equal vote for each model in the blend (1/2, or 1/3 beside a soft vote of two).
- the winner: the best of finetuned / baseline / blend on validation by `roc_auc` (two classes) or `macro_f1`.
  `serve=auto` serves it, except when the fine-tuned model or the partner leads the blend by no more than one
  standard error: validation has then not shown the blend worse, and the blend (which holds the leader) is the
  lower-variance choice — the fine-tuned model's validation score is also optimistic, since its best checkpoint was
  chosen on these same rows. docs/benchmarks.md has the measurements behind each rule.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from engine.data.values import numeric_columns
from engine.partners import AVERAGE, average_of, table_models, tfidf_lr
from engine.served.model import ServedModel
from engine.served.partner import Inputs, proba_in

log = logging.getLogger(__name__)

CANDIDATES = ("finetuned", "baseline", "blend")
WEIGHTS = tuple(round(w, 2) for w in np.linspace(0, 1, 21))
FIXED_WEIGHT = 0.5
PRIOR_ROWS = 100         # how many held-out rows of evidence the equal blend counts for (see `shrunk`)
MAX_HELD_OUT = 3000      # held-out rows scored by the transformer for the weight (a stratified subset above this)
CV_FOLDS = 5
CV_FOLDS_LARGE = 3       # above LARGE_ROWS training rows: 3 folds (each fold still has thousands of rows)
LARGE_ROWS = 5000
SEED = 0


# ---- partners ------------------------------------------------------------------------------------------------
def _with_vote(factories: dict[str, Callable], members: Sequence[str]) -> dict[str, Callable]:
    """`factories` plus AVERAGE: the soft vote of `members`."""
    singles = {m: factories[m] for m in members}
    return {**factories, AVERAGE: lambda: average_of(singles)}


def partner_factories(kind: str, columns: Sequence[str], numeric: set[str], encoder: dict | None = None
                      ) -> dict[str, Callable]:
    """The partner candidates. Text: TF-IDF + LR, and with `encoder` ({base, pooling, max_length} of the run) LR on
    the pretrained encoder's embeddings (engine/recipes/embedding_partner.py)."""
    if kind == "tabular":
        return table_models(columns, numeric)
    out = {"tfidf_lr": tfidf_lr}
    if encoder:
        from engine.recipes.embedding_partner import embedding_lr
        out["embedding_lr"] = lambda: embedding_lr(encoder["base"], encoder.get("pooling") or "mean",
                                                   int(encoder.get("max_length") or 128),
                                                   encoder.get("precision") or "auto")
    return out


def fixed_weight(partner: str, members: int) -> float:
    """The fine-tuned model's weight when no rows were held out to fit it: an equal vote for every model in the blend
    (1/2 beside one partner, 1/3 beside the soft vote of two)."""
    return round(1.0 / (1 + (members if partner == AVERAGE else 1)), 4)


# ---- scores ----------------------------------------------------------------------------------------------------
def metric_name(labels: Sequence[str]) -> str:
    return "roc_auc" if len(labels) == 2 else "macro_f1"


def score(metric: str, y: Sequence[str], proba: np.ndarray, labels: Sequence[str], positive: str | None) -> float:
    from sklearn.metrics import f1_score, roc_auc_score
    y = np.asarray(y)
    if metric == "roc_auc":
        is_pos = y == positive
        if is_pos.all() or not is_pos.any():
            return float("nan")
        return float(roc_auc_score(is_pos, proba[:, list(labels).index(positive)]))
    pred = np.asarray(labels)[proba.argmax(1)]
    return float(f1_score(y, pred, labels=list(labels), average="macro", zero_division=0))


def standard_error(metric: str, y: Sequence[str], value: float, positive: str | None) -> float:
    """Rough SE of `value` on these rows: Hanley & McNeil (1982) for ROC AUC, a binomial proportion otherwise."""
    y = np.asarray(y)
    if not np.isfinite(value):
        return 0.0
    if metric == "roc_auc":
        n1, n0 = int(np.sum(y == positive)), int(np.sum(y != positive))
        if not n1 or not n0:
            return 0.0
        a = value
        q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
        return float(np.sqrt(max(a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n0 - 1) * (q2 - a * a), 0) / (n1 * n0)))
    return float(np.sqrt(max(value * (1 - value), 0) / max(len(y), 1)))


def log_loss(y: Sequence[str], proba: np.ndarray, labels: Sequence[str]) -> float:
    idx = np.asarray([list(labels).index(v) for v in y])
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(idx)), idx], 1e-12, 1.0))))


def choose_weight(y: Sequence[str], p_ft: np.ndarray, p_partner: np.ndarray, labels: Sequence[str], metric: str,
                  positive: str | None) -> tuple[float, dict]:
    """The weight of the fine-tuned model in the blend: the lowest log-loss on these rows. Log-loss, not `metric`:
    a proper scoring rule is smooth in w, while AUC or macro-F1 on a few hundred rows moves in steps and would pick
    a weight on noise. Returns (w, {w: metric})."""
    table = {}
    for w in WEIGHTS:
        p = w * p_ft + (1 - w) * p_partner
        table[w] = (score(metric, y, p, labels, positive), log_loss(y, p, labels))
    best = min(WEIGHTS, key=lambda w: (table[w][1], abs(w - FIXED_WEIGHT)))
    return shrunk(float(best), len(y)), {f"{w:g}": {metric: round(v[0], 5), "log_loss": round(v[1], 5)}
                                         for w, v in table.items()}


def shrunk(weight: float, rows: int) -> float:
    """Pull a weight chosen on few rows toward the equal blend, in proportion to the evidence:
    0.5 + (w − 0.5)·n/(n + PRIOR_ROWS): a weight chosen on ~100 rows swings from seed to seed, one chosen on
    thousands barely moves."""
    return round(FIXED_WEIGHT + (weight - FIXED_WEIGHT) * rows / (rows + PRIOR_ROWS), 3)


# ---- the selection ------------------------------------------------------------------------------------------------
@dataclass
class Selection:
    record: dict                  # what goes into metrics["selection"] and selection.json (less the model)
    partner: object               # fitted sklearn model
    inputs: Inputs
    served_proba: np.ndarray      # validation probabilities of what is served
    # What is served, scored on training rows no model in it was fitted on: the partner's out-of-fold CV scores
    # (served baseline: every training row), or on the rows held out from the transformer (fine-tuned model,
    # blend). (labels, probabilities); empty when there are none. The report chooses the cost threshold on these
    # and the validation rows together: a threshold picked on ~100 validation rows alone moves with every split.
    extra_labels: list = field(default_factory=list)
    extra_proba: np.ndarray | None = None

    def served_model(self, root: str | Path, validation_rows: int | None = None) -> ServedModel:
        """What answers, as the contract every other part loads (engine/served/model.py)."""
        rec = {**self.record, "blend_weight": self.record["weight"], "validation_rows": validation_rows,
               "partner_members": _members(self.partner)}
        return ServedModel(root, kind=self.record["served"], labels=self.record["labels"], inputs=self.inputs,
                           partner=self.partner, weight=self.record["weight"], record=rec)


def _members(partner) -> list[str]:
    from engine.served.partner import is_vote
    return [name for name, _ in partner.estimators] if is_vote(partner) else []


def select(*, kind: str, labels: Sequence[str], train_texts: Sequence[str], train_labels: Sequence[str],
           val_texts: Sequence[str], val_labels: Sequence[str], ft_val: np.ndarray,
           held_out: Sequence[int] = (), ft_held_out: np.ndarray | None = None, columns: Sequence[str] = (),
           serve: str = "auto", positive: str | None = None, seed: int = SEED, encoder: dict | None = None
           ) -> Selection:
    """Choose partner (CV on training rows), blend weight (held-out training rows) and winner (validation)."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    t0 = time.perf_counter()
    labels = list(labels)
    metric = metric_name(labels)
    if metric == "roc_auc" and positive is None:
        positive = labels[1]
    y_tr = np.asarray(train_labels)
    inputs = Inputs(kind)
    if kind == "tabular":
        from engine.features import parse
        rows = [parse(t, columns) for t in train_texts]
        inputs = Inputs(kind, list(columns), sorted(numeric_columns(rows, list(columns))))
    # the training rows are parsed once: what `inputs(train_texts)` would parse again
    X_tr = inputs.frame(rows) if kind == "tabular" else inputs(train_texts)
    X_va = inputs(val_texts)
    factories = partner_factories(kind, inputs.columns, set(inputs.numeric), encoder if kind != "tabular" else None)

    # partner: k-fold CV on the training rows only
    counts = np.unique(y_tr, return_counts=True)[1]
    k = CV_FOLDS if len(y_tr) <= LARGE_ROWS else CV_FOLDS_LARGE
    folds = int(min(k, counts.min())) if len(counts) == len(labels) else 0
    cv_scores, oof = {}, {}
    need_oof = len(held_out) > 0
    if folds >= 2 and (need_oof or (len(factories) > 1 and (kind == "tabular" or metric == "roc_auc"))):
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        for name, make in factories.items():
            try:
                model = make()
                p = cross_val_predict(model, X_tr, y_tr, cv=cv, method="predict_proba")
                classes = sorted(set(y_tr))          # cross_val_predict orders columns by sorted class label
                full = np.zeros((len(y_tr), len(labels)))
                for j, c in enumerate(classes):
                    full[:, labels.index(c)] = p[:, j]
                oof[name], cv_scores[name] = full, score(metric, y_tr, full, labels, positive)
            except Exception as e:   # noqa: BLE001 — a partner that cannot be fitted is left out, never fatal
                log.warning("partner %s failed cross-validation: %s", name, e)
    members: list[str] = []
    partner_on = (f"{folds}-fold cross-validation on the training rows" if cv_scores
                  else "default: the only candidate" if len(factories) == 1
                  else "default: too few training rows per class to cross-validate")
    if not oof and len(factories) >= 2 and kind != "tabular":
        # Text of many classes with no rows held out from the transformer: nothing downstream reads out-of-fold
        # scores, so the partner is the soft vote of the text partners without cross-validating them (every CV
        # measured chose it, and the CV costs five fits of each on the path to every text model). The winner on
        # validation still weighs it against the fine-tuned model alone.
        members = sorted(factories)
        factories = _with_vote(factories, members)
        partner_on = ("rule, no cross-validation: the soft vote of the text partners ("
                      + ("too few training rows per class to cross-validate)" if folds < 2 else
                         "nothing needs out-of-fold scores when no training rows are held out and there are more "
                         "than two classes)"))
    if len(oof) >= 2:
        # the soft vote of the partners: its out-of-fold scores are the mean of theirs (each member was fitted on the
        # same folds), so it costs no extra cross-validation. Different learners average out part of each one's
        # error (no single table model is best on every split; TF-IDF and the embedding partner read different
        # things).
        members = sorted(oof)
        oof[AVERAGE] = np.mean([oof[m] for m in members], axis=0)
        cv_scores[AVERAGE] = score(metric, y_tr, oof[AVERAGE], labels, positive)
        factories = _with_vote(factories, members)
    partner_name = (max(cv_scores, key=lambda k: np.nan_to_num(cv_scores[k], nan=-1.0)) if cv_scores
                    else AVERAGE if AVERAGE in factories else next(iter(factories)))
    if AVERAGE in cv_scores and partner_name != AVERAGE and (
            cv_scores[partner_name] - cv_scores[AVERAGE]
            <= standard_error(metric, y_tr, cv_scores[partner_name], positive)):
        # the soft vote unless a single partner beats it by more than the noise of the CV score, as the blend is
        # served unless beaten (below)
        partner_name = AVERAGE
    partner = clone(factories[partner_name]()).fit(X_tr, y_tr)
    p_partner = proba_in(partner, X_va, labels)

    # blend weight: on held-out training rows only (never validation)
    held_scores = {}
    if need_oof and partner_name in oof and ft_held_out is not None and len(held_out):
        held = list(held_out)
        weight, weight_table = choose_weight(y_tr[held], ft_held_out, oof[partner_name][held], labels, metric,
                                             positive)
        # A second view, on rows no model was fitted or early-stopped on: the fine-tuned model's validation score
        # is optimistic, because its best checkpoint was chosen on those same validation rows. The blend's score
        # here is fitted (its w was chosen here).
        held_scores = {"finetuned": score(metric, y_tr[held], ft_held_out, labels, positive),
                       "baseline": score(metric, y_tr[held], oof[partner_name][held], labels, positive)}
        held_scores["blend"] = score(metric, y_tr[held], weight * ft_held_out + (1 - weight) * oof[partner_name][held],
                                     labels, positive)
        weight_on = f"{len(held)} training rows the transformer never saw (baseline: out-of-fold CV scores)"
    else:
        weight, weight_table = fixed_weight(partner_name, len(members)), {}
        weight_on = ("no rows: fixed, an equal vote for each model in the blend (blend_holdout=0 holds no training "
                     "rows out from the transformer)")
    p_blend = weight * ft_val + (1 - weight) * p_partner

    # winner: on validation
    probas = {"finetuned": ft_val, "baseline": p_partner, "blend": p_blend}
    scores = {k: score(metric, val_labels, p, labels, positive) for k, p in probas.items()}
    ranked = sorted(CANDIDATES, key=lambda k: (-np.nan_to_num(scores[k], nan=-1.0), CANDIDATES.index(k)))
    best = ranked[0]
    se = standard_error(metric, val_labels, scores[best], positive)
    if serve != "auto":
        served, why = serve, f"serve={serve} was asked for"
    elif best != "blend" and scores[best] - np.nan_to_num(scores["blend"], nan=-1.0) <= se:
        served, why = "blend", (f"{best} leads the blend by {scores[best] - scores['blend']:.4f}, within one standard "
                                f"error ({se:.4f}) on {len(val_labels)} validation rows: the blend is served")
    else:
        served, why = best, "best on validation"
    record = {"best": best, "served": served, "serve": serve, "served_why": why, "standard_error": round(se, 5),
              "metric": metric,
              "scores": {k: round(v, 5) for k, v in scores.items()},
              "margin": round(scores[best] - scores[ranked[1]], 5),
              "runner_up": ranked[1],
              "vs_finetuned": round(scores[best] - scores["finetuned"], 5),
              "partner": partner_name, "partner_cv": {k: round(v, 5) for k, v in cv_scores.items()},
              "partner_chosen_on": partner_on,
              "cv_folds": folds, "weight": weight, "weight_chosen_on": weight_on, "weight_scores": weight_table,
              "held_out_rows": len(held_out),
              "held_out_scores": {k: round(v, 5) for k, v in held_scores.items()}, "positive_label": positive if metric == "roc_auc" else None,
              "kind": kind, "columns": inputs.columns, "numeric": inputs.numeric, "labels": labels,
              "select_s": round(time.perf_counter() - t0, 3)}
    extra_labels, extra_proba = _honest_training_scores(served, y_tr, oof.get(partner_name), list(held_out),
                                                        ft_held_out, weight)
    record["extra_rows"] = len(extra_labels)
    return Selection(record, partner, inputs, probas[served], extra_labels, extra_proba)


def _honest_training_scores(served: str, y_tr: np.ndarray, oof: np.ndarray | None, held: list[int],
                            ft_held: np.ndarray | None, weight: float) -> tuple[list, np.ndarray | None]:
    """The served candidate's scores on training rows it was not fitted on (see Selection.extra_*)."""
    if served == "baseline" and oof is not None:
        return list(y_tr), oof
    if not held or ft_held is None:
        return [], None
    if served == "finetuned":
        return list(y_tr[held]), ft_held
    if served == "blend" and oof is not None:
        return list(y_tr[held]), weight * ft_held + (1 - weight) * oof[held]
    return [], None
