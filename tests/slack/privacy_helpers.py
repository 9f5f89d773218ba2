"""Helpers for the data-protection tests: a deployed run whose model is a stub (the real ops.questions.ask runs,
with real storage; only the model is replaced), and rows for other channels."""
from __future__ import annotations

import threading

from engine.inference import Answer
from storage import connect, deployments
from storage import runs as runs_table
from tests.slack.helpers import add_dataset_row, add_run, finish_run

CARD = "4111 1111 1111 1111"          # a Luhn-valid test PAN
EMAIL = "jane.doe@example.com"


class StubPredictor:
    def __init__(self):
        self.seen: list[str] = []
        self.lock = threading.Lock()

    def answer(self, text: str) -> Answer:
        with self.lock:
            self.seen.append(text)
        return Answer("Freeze your card in the app.", "lost_card", 0.93, [("lost_card", 0.93)], fallback=False)


def stub_model(monkeypatch) -> StubPredictor:
    stub = StubPredictor()
    import engine.inference
    monkeypatch.setattr(engine.inference, "get_predictor", lambda path: stub)
    return stub


def deployed_run(home, *, dataset: str = "banking", channel: str = "C0001", scope: str | None = None,
                 make_dataset: bool = True) -> dict:
    """A succeeded run started in `channel` and deployed there (or to `scope`)."""
    if make_dataset:
        add_dataset_row(home, dataset)
    run = add_run(home, dataset=dataset, channel=channel)
    with connect(home) as db:
        runs_table.claim(db, run["id"], "w-test")
    finish_run(home, run["id"], artifact=f"/srv/ftbot/home/runs/{run['id']}")
    with connect(home) as db:
        deployments.deploy(db, scope or channel, run["id"], "UADMIN")
    return run


def failed_run(home, *, dataset: str, channel: str, error: str) -> dict:
    run = add_run(home, dataset=dataset, channel=channel)
    with connect(home) as db:
        runs_table.claim(db, run["id"], "w-test")
        runs_table.finish(db, run["id"], "failed", error=error)
    return run


def set_dataset_channel(home, name: str, channel: str | None) -> None:
    with connect(home) as db:
        db.execute("UPDATE datasets SET channel = ? WHERE name = ?", [channel, name])
        db.conn.commit()


def stored_questions(home) -> list[str]:
    with connect(home) as db:
        return [r[0] for r in db.execute("SELECT question FROM questions ORDER BY id").fetchall()]
