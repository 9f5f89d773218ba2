"""Log-odds attributions into probability units, so that members of a soft vote and the two sides of a blend add up.

The rule is the one shap's interventional TreeExplainer applies for model_output="probability" (DeepLIFT's rescale
rule): against each reference row r, the exact log-odds attributions g(x) − g(r) are scaled by the slope of the
sigmoid's secant between the two log-odds, (σ(f(x)) − σ(f(r))) / (f(x) − f(r)), then averaged over r. The slope is
positive, so each column keeps the sign it has in log-odds against every reference row, and when the columns'
log-odds parts make up f (a logistic regression) the row sums are exactly P(x) − mean P over the reference rows.
"""
from __future__ import annotations

import numpy as np

CHUNK = 2048      # rows per step: the slope matrix is rows × reference rows


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


def secant_slope(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(σ(a) − σ(b)) / (a − b), elementwise; σ' at the midpoint where a and b (nearly) coincide."""
    d = a - b
    near = np.abs(d) < 1e-6
    mid = sigmoid(0.5 * (a + b))
    safe = np.where(near, 1.0, d)
    return np.where(near, mid * (1.0 - mid), (sigmoid(a) - sigmoid(b)) / safe)


def probability_attributions(g_x: np.ndarray, g_ref: np.ndarray, f_x: np.ndarray, f_ref: np.ndarray) -> np.ndarray:
    """Per-column log-odds parts g (rows × columns, not centred) of the explained rows and of the reference rows,
    and the model's full log-odds f of each → attributions in probability units (rows × columns):
    mean over r of slope(f(x), f(r)) · (g(x) − g(r))."""
    g_x, g_ref = np.asarray(g_x, dtype=np.float64), np.asarray(g_ref, dtype=np.float64)
    f_x, f_ref = np.asarray(f_x, dtype=np.float64), np.asarray(f_ref, dtype=np.float64)
    out = np.empty_like(g_x)
    m = len(f_ref)
    for i in range(0, len(f_x), CHUNK):
        s = secant_slope(f_x[i:i + CHUNK, None], f_ref[None, :])                  # rows × reference rows
        out[i:i + CHUNK] = g_x[i:i + CHUNK] * s.mean(axis=1, keepdims=True) - (s @ g_ref) / m
    return out

