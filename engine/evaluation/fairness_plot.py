"""PNG of what a decision threshold trades: expected cost against the adverse impact ratio."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from engine.evaluation.fairness import FOUR_FIFTHS


def fairness_threshold_png(sweep: Sequence[dict], chosen_threshold: float | None, path: str | Path,
                           title: str = "Cost and adverse impact by threshold") -> Path:
    """Two panels over the threshold (from fairness.threshold_sweep): expected cost per applicant on top, the
    adverse impact ratio below with the 0.8 line; the chosen threshold is marked in both. Thresholds where the
    ratio is undefined (nobody approved) are left as gaps."""
    from engine.charts import figure, save

    fig, (cost_ax, air_ax) = figure((7, 5.5), rows=2, sharex=True)
    xs = [p["threshold"] for p in sweep]
    cost_ax.plot(xs, [p["expected_cost"] for p in sweep], "-", color="tab:blue")
    cost_ax.set_ylabel("expected cost / applicant")
    cost_ax.set_title(title)
    air = [float("nan") if p.get("adverse_impact_ratio") is None else p["adverse_impact_ratio"] for p in sweep]
    air_ax.plot(xs, air, "-", color="tab:purple", label="adverse impact ratio")
    air_ax.axhline(FOUR_FIFTHS, color="tab:red", linestyle="--", linewidth=1, label=f"{FOUR_FIFTHS} (four-fifths rule)")
    air_ax.set_ylim(0, 1.05)
    air_ax.set_ylabel("lowest ÷ highest approval")
    air_ax.set_xlabel("threshold on P(adverse): approve below it")
    for ax in (cost_ax, air_ax):
        ax.grid(alpha=0.3)
        if chosen_threshold is not None:
            ax.axvline(chosen_threshold, color="black", linestyle=":", linewidth=1.2)
    if chosen_threshold is not None:
        air_ax.plot([], [], ":", color="black", label=f"chosen threshold {chosen_threshold:.2f}")
    air_ax.legend(loc="lower right", fontsize=8)
    if not sweep:
        cost_ax.text(0.5, 0.5, "no thresholds swept", ha="center", va="center", transform=cost_ax.transAxes)
    return save(fig, path)
