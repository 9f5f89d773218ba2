"""PNG chart for a champion–challenger report: agreement rate and each model's mean confidence over time."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from engine.charts import figure, save


def agreement_png(timeline: Sequence[dict], path: str | Path, title: str = "Champion vs challenger") -> Path:
    """`timeline`: [{"t": label, "n": questions, "agreement": 0..1, "champion_confidence", "challenger_confidence"}]."""
    fig, ax = figure((7.0, 3.6))
    xs = list(range(len(timeline)))
    labels = [str(p["t"]) for p in timeline]
    ax.plot(xs, [p["agreement"] for p in timeline], marker="o", color="#2b7", label="agreement")
    ax.plot(xs, [p["champion_confidence"] for p in timeline], marker="s", color="#36c", label="champion confidence")
    ax.plot(xs, [p["challenger_confidence"] for p in timeline], marker="^", color="#c63",
            label="challenger confidence")
    for x, p in zip(xs, timeline):
        ax.annotate(f"n={p['n']}", (x, p["agreement"]), textcoords="offset points", xytext=(0, 6), fontsize=7,
                    ha="center")
    ax.set_ylim(0, 1.05)
    ax.set_xticks(xs)
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("rate / mean confidence")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    return save(fig, path)
