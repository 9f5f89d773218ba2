"""The project's own shipped sample data (written/generated here, not copied from public data sets)."""
from __future__ import annotations

from pathlib import Path

from engine.errors import NotFound

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "sample_data"
SAMPLES = {"banking": "banking_sample.csv", "credit": "credit_sample.csv"}


def sample_path(name: str) -> Path:
    """Path of the shipped sample `name`: "banking" (intents + answers) or "credit" (tabular, label risk)."""
    try:
        return SAMPLE_DIR / SAMPLES[name]
    except KeyError:
        raise NotFound(f"no sample named {name!r}; the samples are: {', '.join(SAMPLES)}") from None
