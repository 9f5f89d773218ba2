"""Test helpers: rows written straight into storage (no engine) and a fake Q&A service."""
from __future__ import annotations

import threading

from ops.facade import Operations
from storage import connect, datasets, events, questions
from storage import runs as runs_table


def add_dataset_row(home, name: str = "banking") -> dict:
    with connect(home) as db:
        return datasets.insert(db, {
            "name": name, "source": "test", "sha256": "0" * 64, "format": "csv", "kind": "text",
            "text_column": "text", "label_column": "label", "rows": 10, "labels": ["a", "b"],
            "label_counts": {"a": 5, "b": 5}, "split": {"train": 8, "validation": 2, "seed": 42}, "pii": {},
            "path": "/nowhere", "created_by": "UADMIN"})


def add_run(home, dataset: str = "banking", channel: str = "C0001", user: str = "UADMIN") -> dict:
    from engine.config import TrainConfig
    with connect(home) as db:
        return runs_table.create(db, dataset=dataset, config=TrainConfig.from_options({}).to_dict(), requester=user,
                                 origin={"source": "slack", "channel": channel, "user": user}, pre_loss="mlm")


def progress(home, run_id: int, step: int, total: int = 10, **extra) -> None:
    p = {"kind": "step", "step": step, "total_steps": total, "epoch": step / total, "loss": 1.0 / step,
         "loss_new": 0.9 / step, "loss_pre": 0.1 / step, "eta_s": total - step, **extra}
    with connect(home) as db:
        events.add(db, run_id, "step", step=step, epoch=p["epoch"], loss=p["loss"], loss_new=p["loss_new"],
                   loss_pre=p["loss_pre"], data={"eta_s": p["eta_s"], "total_steps": total})
        runs_table.update(db, run_id, progress=p)


def start_run(home, run_id: int) -> None:
    with connect(home) as db:
        assert runs_table.claim(db, run_id, "w-test")
        events.add(db, run_id, "milestone", message="training started")


def finish_run(home, run_id: int, status: str = "succeeded", artifact: str | None = None, acc: float = 0.8) -> None:
    with connect(home) as db:
        events.add(db, run_id, "eval", step=10, epoch=1.0, data={"metrics": {"accuracy": acc, "macro_f1": acc - 0.1}})
        fields = dict(accuracy=acc, macro_f1=acc - 0.1, artifact_path=artifact,
                      metrics={"baseline": {"tfidf_lr": {"name": "tfidf+logreg", "accuracy": 0.5, "macro_f1": 0.4}}}) \
            if status == "succeeded" else {}
        runs_table.finish(db, run_id, status, error=None if status == "succeeded" else "CUDA out of memory", **fields)
        events.add(db, run_id, "milestone", message="finished" if status == "succeeded" else f"{status}: out of memory")


class FakeQA(Operations):
    """The operations with a canned answer: records calls, stores the question like the real one."""

    def __init__(self, home=None, confidence: float = 0.9):
        super().__init__(home)
        self.asked: list[dict] = []
        self.feedbacks: list[tuple] = []
        self.confidence = confidence
        self.lock = threading.Lock()

    def ask(self, question, *, scope=None, run_id=None, actor=None, channel=None, ts=None, thread_ts=None):
        with self.lock:
            self.asked.append({"question": question, "scope": scope, "run_id": run_id, "channel": channel,
                               "ts": ts, "thread_ts": thread_ts})
        fallback = self.confidence < 0.5
        with connect(self.home) as db:
            qid = questions.add(db, scope=scope, run_id=None, asked_by=actor.id, channel=channel, ts=ts,
                                thread_ts=thread_ts, question=question, answer="Freeze your card in the app.",
                                intent="lost_card", confidence=self.confidence, top=[["lost_card", self.confidence]],
                                fallback=fallback)
        return {"question_id": qid, "run_id": run_id or 1, "question": question,
                "answer": "Freeze your card in the app.", "intent": "lost_card", "confidence": self.confidence,
                "top": [["lost_card", self.confidence]], "fallback": fallback}

    def feedback(self, question_id, *, actor, value, correct_label=None):
        with connect(self.home) as db:
            questions.add_feedback(db, question_id, actor.id, value)
        self.feedbacks.append((question_id, actor.id, value))


def service_with(qa: FakeQA, home) -> FakeQA:
    """The fake operations bound to `home` (they are one object now: ops.facade.Operations)."""
    qa.home = home
    return qa
