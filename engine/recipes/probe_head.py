"""Recipe: start the classification head from a linear probe instead of random weights (`head_init=probe`).

When `auto` (the text default) turns it on: the training data has at most PROBE_MAX_PER_LABEL examples per label on
average (engine/config.py `resolved_head_init`); tables keep a random head.

Before the first update the pooled embeddings of the training texts are computed once with the untouched encoder
(a LoRA model at step 0 is the base model: its B matrices are zero), a multinomial logistic regression is fitted on
them — and on the column features too, when the head reads them — and its weights become the head's starting point.
This is "linear probing, then fine-tuning" (Kumar et al., ICLR 2022): a random head sends large, noisy gradients into
the encoder during the first steps and bends the pretrained features to fit its own noise; a head that already
separates the classes lets fine-tuning start from a sensible decision rule and move the encoder less. It matters
most with few examples per class; with plenty of data a head that starts near its optimum leaves the encoder
under-trained (docs/benchmarks.md has the figures).
"""
from __future__ import annotations

import logging
import warnings
import numpy as np
import torch

from engine.batching import Batches
from engine.losses import frozen_embeddings
from engine.classifier import Classifier

log = logging.getLogger(__name__)

PROBE_C = 1.0          # inverse L2 strength of the probe (sklearn's default)
PROBE_MAX_ITER = 500
PROBE_TOL = 1e-3       # sklearn's default 1e-4 polishes digits fine-tuning moves away from in its first steps
# Above this many training examples the probe is fitted on a seeded random subset: the starting point needs a
# sensible decision rule, not the last 0.1 pt, and a forward pass plus lbfgs over 10⁶ rows would delay the first step.
PROBE_MAX_EXAMPLES = 20_000


def fit_probe(model: Classifier, batches: Batches, batch_size: int, autocast, seed: int,
              keep_embeddings: bool = False) -> dict:
    """Fit the probe and copy it into model.head (and model.features_head). → a summary for the progress thread;
    with `keep_embeddings`, also "embeddings": (rows of `batches`, the untouched encoder's pooled embeddings)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    rows = np.arange(len(batches))
    if len(rows) > PROBE_MAX_EXAMPLES:
        rows = np.sort(np.random.default_rng(seed).choice(rows, PROBE_MAX_EXAMPLES, replace=False))
    with autocast():
        emb = frozen_embeddings(model, batches, batch_size, rows).cpu().double().numpy()
    x = emb if batches.features is None else np.hstack([emb, batches.features[rows].numpy().astype(np.float64)])
    y = np.asarray(batches.labels)[rows]
    classes = np.unique(y)
    k = model.head.out_features
    if len(classes) < 2:
        return {"fitted": False, "why": "fewer than two classes in the training examples"}
    clf = LogisticRegression(C=PROBE_C, max_iter=PROBE_MAX_ITER, tol=PROBE_TOL, random_state=seed)
    with warnings.catch_warnings():
        # a starting point need not be the exact optimum: fine-tuning moves the head from here anyway
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x, y)
    coef, intercept = clf.coef_, clf.intercept_
    if len(classes) == 2:
        # sklearn keeps one row for two classes (logit of class 1); softmax over [−z/2, z/2] gives the same odds
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    weight = np.zeros((k, x.shape[1]))
    bias = np.full(k, -10.0)          # a label absent from training keeps a low logit, as before any data
    weight[classes], bias[classes] = coef, intercept
    h = emb.shape[1]
    with torch.no_grad():
        model.head.weight.copy_(torch.as_tensor(weight[:, :h], dtype=model.head.weight.dtype))
        model.head.bias.copy_(torch.as_tensor(bias, dtype=model.head.bias.dtype))
        if model.features_head is not None:
            model.features_head.weight.copy_(torch.as_tensor(weight[:, h:], dtype=model.features_head.weight.dtype))
    acc = float(clf.score(x, y))
    log.info("head_init=probe: logistic regression on %d pooled embeddings%s, train accuracy %.3f",
             len(y), "" if batches.features is None else " + column features", acc)
    out = {"fitted": True, "train_accuracy": acc, "examples": int(len(y))}
    if keep_embeddings:
        out["embeddings"] = (rows, emb.astype(np.float32))
    return out
