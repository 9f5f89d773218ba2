"""PNG charts for the run's thread and model card: row-normalised confusion matrix and the loss curve."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from engine.charts import figure, save


def confusion_png(confusion: Sequence[Sequence[int]], labels: Sequence[str], path: str | Path,
                  title: str = "Confusion matrix (rows: true label, normalised)") -> Path:
    """Row-normalised confusion matrix. The figure grows with the number of classes and the tick font shrinks, so
    label names stay readable up to ~80 classes; counts are printed in the cells only when there are few."""
    cm = np.asarray(confusion, dtype=float)
    k = len(labels)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    side = float(np.clip(2.5 + 0.22 * k, 5.0, 24.0))
    cell_pt = side * 72 * 0.75 / max(k, 1)          # ~75 % of the figure is the matrix
    font = float(np.clip(0.5 * cell_pt, 5.0, 10.0))
    fig, ax = figure((side + 1.5, side), dpi=100 if k <= 30 else 130)
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    short = [lab if len(lab) <= 34 else lab[:32] + "…" for lab in labels]
    ax.set_xticklabels(short, rotation=90, fontsize=font)
    ax.set_yticklabels(short, fontsize=font)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if k <= 15:
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=font,
                            color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return save(fig, path)


def _eval_points(history: Sequence[dict], metric: str) -> tuple[list, list]:
    """(steps, values) of the validation metric: accepts {'metrics': {...}} records or flat 'eval_<metric>'/
    '<metric>' keys, whichever the training loop wrote."""
    xs, ys = [], []
    for h in history:
        m = h.get("metrics") if isinstance(h.get("metrics"), dict) else None
        v = (m or {}).get(metric, h.get(f"eval_{metric}", h.get(metric) if h.get("kind") == "eval" else None))
        if v is not None and h.get("step") is not None:
            xs.append(h["step"])
            ys.append(float(v))
    return xs, ys


def loss_curve_png(history: Sequence[dict], path: str | Path, metric: str = "macro_f1",
                   title: str = "Training loss") -> Path:
    """Total loss, L_new (task) and L_pre (pretraining objective) per logged step; validation `metric` on a second
    axis. Missing series are simply left out (e.g. L_pre when α = 0 and it was not computed)."""
    fig, ax = figure((8, 4.5))
    train = [h for h in history if h.get("step") is not None and h.get("kind", "step") == "step"]
    for key, name, style in (("loss", "total L", "-"), ("loss_new", "L_new (task)", "--"),
                             ("loss_pre", "L_pre (pretraining)", ":")):
        pts = [(h["step"], float(h[key])) for h in train if h.get(key) is not None]
        if pts:
            ax.plot(*zip(*pts), style, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    handles, names = ax.get_legend_handles_labels()
    xs, ys = _eval_points(history, metric)
    if xs:
        ax2 = ax.twinx()
        ax2.plot(xs, ys, "o-", color="tab:red", label=f"validation {metric}")
        ax2.set_ylabel(f"validation {metric}")
        ax2.set_ylim(0, 1.02)
        h2, n2 = ax2.get_legend_handles_labels()
        handles, names = handles + h2, names + n2
    if handles:
        ax.legend(handles, names, loc="center right", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no steps logged", ha="center", va="center", transform=ax.transAxes)
    return save(fig, path)
