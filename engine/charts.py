"""One way to start and to write a chart: a figure on the Agg canvas, built without pyplot — no global state, so report threads
and the bot's workers can draw at the same time. Used by every PNG the engine writes."""
from __future__ import annotations

from pathlib import Path


def figure(size: tuple[float, float], dpi: int = 100, rows: int = 1, **subplots):
    """(figure, axes): `rows` > 1 or `subplots` (e.g. sharex=True) pass to Figure.subplots."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, 1, **subplots)


def save(fig, path) -> Path:
    """Lay the figure out and write it as a PNG at `path` (its folder made if needed) → the path."""
    path = Path(path)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
