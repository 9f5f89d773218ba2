"""Validation inside training: score the validation rows, keep the best weights, count evaluations without
improvement (early stopping), and restore the best weights at the end."""
from __future__ import annotations

import math

import torch

from engine.classifier import model_parameters
from engine.config import TrainConfig
from engine.training.setup import Setup, State


# ---- evaluation ------------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(s: Setup, batch_size: int) -> dict:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    model = s.built.model
    model.eval()
    n, k = len(s.val), len(s.built.labels)
    logits = torch.zeros((n, k))
    for idx in s.val.eval_order(batch_size):
        b = s.val.collate(idx, s.device)
        # full precision whatever training ran in: what the saved (fp32) model answers, so early stopping and the
        # best checkpoint are chosen on the scores the report reuses and the predictor serves
        logits[torch.tensor(idx)] = model(b["input_ids"], b["attention_mask"], b.get("features")).logits.float().cpu()
    y = torch.tensor(s.val.labels)
    probs = logits.softmax(-1).numpy()
    s.last_val_proba = logits.double().softmax(-1).numpy()   # float64, rows summing to 1 as the report expects
    pred = probs.argmax(1)
    out = {"accuracy": float(accuracy_score(y, pred)),
           "macro_f1": float(f1_score(y, pred, average="macro", labels=list(range(k)), zero_division=0)),
           "loss": float(torch.nn.functional.cross_entropy(logits, y))}
    try:
        out["roc_auc"] = float(roc_auc_score(y, probs[:, 1]) if k == 2 else
                               roc_auc_score(y, probs, multi_class="ovr", labels=list(range(k))))
    except ValueError:   # a class absent from validation: AUC undefined
        out["roc_auc"] = None
    return out


def evaluate_and_track(s: Setup, st: State, config: TrainConfig) -> str | None:
    """Evaluate, keep the best trainable weights, count evaluations without improvement. → 'early_stop' or None."""
    metrics = evaluate(s, 2 * config.batch_size)
    value = metrics.get(config.metric)
    value = -math.inf if value is None else value
    improved = st.best_state is None or value > st.best_value
    if improved:
        st.best_value, st.best_metrics, st.best_step, st.bad_evals = value, metrics, st.step, 0
        st.best_state = {n: p.detach().to("cpu", copy=True) for n, p in model_parameters(s.built.model)
                         if p.requires_grad}
        st.best_val_proba = s.last_val_proba
    else:
        st.bad_evals += 1
    st.last_eval_step = st.step
    msg = (f"step {st.step}: accuracy {metrics['accuracy']:.4f}, macro_f1 {metrics['macro_f1']:.4f}"
           + (" (best)" if improved else f" (no improvement {st.bad_evals}/{config.patience or '∞'})"))
    st.history.append({"kind": "eval", "step": st.step, "epoch": round(st.step / s.steps_per_epoch, 4),
                       "metrics": metrics, "message": msg, **metrics})
    return "early_stop" if config.patience and st.bad_evals >= config.patience else None


def restore_best(s: Setup, st: State) -> None:
    params = dict(model_parameters(s.built.model))
    with torch.no_grad():
        for n, v in (st.best_state or {}).items():
            params[n].copy_(v.to(params[n].device))
