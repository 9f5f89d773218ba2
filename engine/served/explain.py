"""Reasons for what a run's served model decides on table rows: attributions per input column of exactly what
answers — the partner (engine/explain/partners.py: exact for logistic regression, tree SHAP for gradient boosting, a
reference-centred path attribution for the forest), the fine-tuned transformer (occlusion: P(x) − P(x with the
column at the typical value of favourable rows), its column-features head exact), or the blend of both weighted as
the blend weighs them — then worded (engine/explain/reasons.py), and the smallest single change that flips a
decision (engine/explain/counterfactual.py). Deterministic: the same rows give the same reasons.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from engine.data.serialize import serialize_row
from engine.errors import FtbotError

# `served` below is an engine.served.model.ServedModel, named in annotations only: that module calls this one, and
# the two must not import each other.


class NotExplained(FtbotError):
    """The run cannot give reasons (a text model, or a run evaluated before reasons existed)."""


def check_table(served: "ServedModel") -> None:
    if served.inputs.kind != "tabular" or len(served.labels) != 2:
        raise NotExplained("reasons are given for two-class table models (credit); this run answers "
                           f"{'texts' if served.inputs.kind != 'tabular' else 'more than two classes'}")
    if served.reference is None:
        raise NotExplained(f"run folder {served.root.name} has no reference statistics (reference.json): it was "
                           "evaluated by an older ftbot; train it again (`ftbot eval` does not write them)")


def finetuned_predictor(served: "ServedModel") -> Callable[[list[dict]], np.ndarray]:
    """P(positive) of the fine-tuned transformer for rows; with a column-features head, the encoder runs once per
    distinct text it reads (a numeric column changed costs no encoder pass when it reads the categories only)."""
    model = served.transformer
    cols, pos = list(served.inputs.columns), served.labels.index(served.positive_label)
    w = model.features_weight_diff(pos)
    if w is None or model.features is None:
        return lambda rows: model.proba([serialize_row(r, cols) for r in rows])[:, pos]
    from engine.explain.occlusion import finetuned_predictor as build
    return build(lambda texts: model.text_log_odds(texts, pos), model.features, w, cols, model.tabular_text)


def attributions(served: "ServedModel", rows: Sequence[dict], exact: bool = False) -> np.ndarray:
    """(rows × columns) each input column's contribution to P(positive) of what is served, probability units.
    `exact`: measure the fine-tuned model's text part even where its blend weight is small (see TEXT_MIN_WEIGHT)."""
    check_table(served)
    ref = served.reference
    cols = list(served.inputs.columns)
    out = np.zeros((len(rows), len(cols)))
    if served.weight < 1.0:          # the partner answers (alone, or in the blend)
        from engine.explain.partners import partner_attributions
        X = served.inputs.frame(list(rows))
        R = served.inputs.frame(ref.sample_rows())
        out += (1.0 - served.weight) * partner_attributions(served._partner(), X, R, served.labels,
                                                            served.positive_label)
    if served.weight > 0.0:          # the fine-tuned transformer answers (alone, or in the blend)
        if served.weight < TEXT_MIN_WEIGHT and not exact and _has_features_head(served):
            out += served.weight * _features_occlusion(served, rows)
        else:
            from engine.explain.occlusion import occlusion_attributions
            out += served.weight * occlusion_attributions(finetuned_predictor(served), list(rows), cols, ref.typical)
    return out


# Below this blend weight the fine-tuned model's share of a reason is taken with each row's own encoder text held
# fixed (its column-features head varies, exactly): the text part of one column's change moves the blend by at most
# this weight, and the encoder passes that would measure it cost more than the rest of the scoring. `ftbot explain`
# (one applicant) always measures it.
TEXT_MIN_WEIGHT = 0.05


def _has_features_head(served: "ServedModel") -> bool:
    model = served.transformer
    return model.features is not None and getattr(model.model, "features_head", None) is not None


def _features_occlusion(served: "ServedModel", rows: Sequence[dict]) -> np.ndarray:
    """P_ft(x) − P_ft(x with column c at its typical value), each row's encoder text held as it is: the change goes
    through the column-features head only — exact for that head, no encoder pass (the text logits were read when
    the rows were scored)."""
    from engine.explain.occlusion import column_logits
    from engine.explain.units import sigmoid
    model, ref = served.transformer, served.reference
    cols = list(served.inputs.columns)
    pos = served.labels.index(served.positive_label)
    texts = [serialize_row(r, cols) for r in rows]
    t = model.text_logits(model.features.model_texts(texts, model.tabular_text))
    w = model.features_weight_diff(pos)
    G = column_logits(model.features, w, texts)                                   # rows × feature columns
    G_typ = column_logits(model.features, w, [serialize_row(ref.typical, cols)])  # 1 × feature columns
    L = t[:, pos] - t[:, 1 - pos] + G.sum(axis=1)
    moved = sigmoid(L)[:, None] - sigmoid(L[:, None] - G + G_typ)
    out = np.zeros((len(rows), len(cols)))
    index = {c: j for j, c in enumerate(model.features.columns)}
    for j, c in enumerate(cols):
        if c in index:
            same = np.asarray([str(r.get(c, "")) == str(ref.typical.get(c, "")) for r in rows])
            out[:, j] = np.where(same, 0.0, moved[:, index[c]])
    return out


def reasons(served: "ServedModel", rows: Sequence[dict], k: int = 4) -> list[list[str]]:
    """1–k reasons per row, strongest first, `COLUMN: plain words` (for rows the caller declined)."""
    from engine.explain.reasons import reasons as words
    if not len(rows):
        return []
    attr = attributions(served, rows)
    cols = list(served.inputs.columns)
    return [words(attr[i], rows[i], served.reference, k, columns=cols) for i in range(len(rows))]


def explain_one(served: "ServedModel", row: dict, k: int = 4) -> dict:
    """One applicant: probability, decision, reasons, and the smallest change to one of the reason columns (within
    the values the training rows hold) that flips the decision — or that none would."""
    from engine.explain.counterfactual import no_flip_words, smallest_flip
    from engine.explain.reasons import reason_columns
    from engine.explain.reasons import reasons as words
    check_table(served)
    decision = served.decision()
    cols = list(served.inputs.columns)
    p = float(served.positive_proba([row])[0])
    adverse = p >= decision["threshold"]
    attr = attributions(served, [row], exact=True)[0]
    out = {"positive_label": decision["positive_label"], "probability": round(p, 4),
           "decision": decision["positive_label"] if adverse else
           decision["negative_label"], "threshold": decision["threshold"],
           "reasons": words(attr, row, served.reference, k, columns=cols, minimum=1 if adverse else 0)}
    candidates = [cols[j] for j in reason_columns(attr, k, 1)]
    flip = smallest_flip(lambda rs: served.positive_proba(rs), row, candidates, served.reference,
                         decision["threshold"])
    out["flip"] = flip
    out["flip_words"] = flip["change_words"] if flip else no_flip_words(served.reference, decision["threshold"])
    return out
