"""Planted models for promotion/challenger tests: predictors whose answers are known in advance, installed in place
of engine.inference.get_predictor for chosen artifact folders (real ones load for any other folder)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.inference import Answer
from ops import datasets
from storage import connect
from storage import runs as runs_table
from tests.cli.test_cli import ANSWERS, INTENTS, write_data
from tests.slack.helpers import add_run, finish_run

LABELS = sorted(INTENTS)


class Planted:
    """Answers `table[text]` when known, else the label whose phrase starts the text (`swap` confuses labels)."""

    def __init__(self, table: dict[str, str] | None = None, confidence: float = 0.9, swap: dict | None = None):
        self.labels = list(LABELS)
        self.table = dict(table or {})
        self.confidence = confidence
        self.swap = dict(swap or {})       # label → label: a model that confuses two intents
        self.calls = 0

    def intent(self, text: str) -> str:
        if text in self.table:
            return self.table[text]
        for label in LABELS:     # the training texts are a phrase of INTENTS plus a suffix
            if any(text.startswith(p) for p in INTENTS[label]):
                return self.swap.get(label, label)
        return LABELS[0]

    def answer(self, text: str) -> Answer:
        self.calls += 1
        i = self.intent(text)
        fallback = self.confidence < 0.5
        return Answer("fallback" if fallback else ANSWERS[i], i, self.confidence, [(i, self.confidence)], fallback)

    def predict_proba(self, texts):
        out = np.zeros((len(texts), len(self.labels)))
        for r, t in enumerate(texts):
            out[r, self.labels.index(self.intent(t))] = 1.0
        return out


def install(monkeypatch, models: dict[str, Planted]) -> None:
    """Route get_predictor(path) to the planted model for these artifact folders."""
    from engine import inference
    real = inference.get_predictor
    by_path = {str(Path(k).resolve()): v for k, v in models.items()}

    def fake(artifact_dir):
        return by_path.get(str(Path(artifact_dir).resolve())) or real(artifact_dir)
    monkeypatch.setattr(inference, "get_predictor", fake)


def setup_runs(home, tmp_path, n: int = 2) -> list[dict]:
    """A real registered dataset (cards, 36 rows) and `n` succeeded runs with (empty) artifact folders."""
    data = write_data(tmp_path / "cards.csv")
    datasets.register(home, "cards", data, actor="system:test")
    runs = []
    for i in range(n):
        r = add_run(home, dataset="cards")
        art = Path(home) / "runs" / str(r["id"])
        art.mkdir(parents=True, exist_ok=True)
        finish_run(home, r["id"], artifact=str(art), acc=0.8 + i / 100)
        with connect(home) as db:
            runs.append(runs_table.get(db, r["id"]))
    return runs
