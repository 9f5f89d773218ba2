"""`Operations`: the operations bound to one FTBOT_HOME — the typed seam between the Slack listeners and this layer.

Listeners call only these methods (never storage or jobs); a test swaps behaviour by subclassing (e.g. a canned
`ask`). Each method is a thin call into the module that does the work, so a reader finds the behaviour one hop away.
"""
from __future__ import annotations

from pathlib import Path

from engine.config import TrainConfig

from ops import access, challengers, datasets, deliveries, deployments, promotion, questions, runs, schedules, visibility
from ops.access import Actor


class Operations:
    def __init__(self, home: Path):
        self.home = home

    # ---- access ---------------------------------------------------------------------------------------------
    def require(self, actor: Actor, action: str, target: str | None = None, /, **detail) -> None:
        access.require(self.home, actor, action, target, **detail)

    # ---- datasets -------------------------------------------------------------------------------------------
    # Reads take the viewer: a Slack non-admin sees only their channel's work (ops/visibility.py).
    def list_datasets(self, actor: Actor | None = None) -> list[dict]:
        return visibility.list_datasets(self.home, actor)

    def dataset_exists(self, name: str) -> bool:
        return any(d["name"] == name for d in datasets.list_all(self.home))

    def show_dataset(self, name: str, actor: Actor | None = None) -> dict:
        return visibility.show_dataset(self.home, actor, name)

    def register_dataset(self, name: str, path, *, actor: Actor, source: str | None = None, **options) -> dict:
        return datasets.register(self.home, name, path, actor=actor, source=source, **options)

    # ---- runs -----------------------------------------------------------------------------------------------
    def submit(self, dataset: str, request: TrainConfig, *, actor: Actor, origin: dict | None = None) -> dict:
        return runs.submit(self.home, dataset, request, actor=actor, origin=origin)

    def list_runs(self, limit: int = 15, actor: Actor | None = None) -> list[dict]:
        return visibility.list_runs(self.home, actor, limit=limit)

    def status(self, run_id: int, actor: Actor | None = None) -> dict:
        return visibility.status(self.home, actor, run_id)

    def cancel(self, run_id: int, *, actor: Actor) -> dict:
        return runs.cancel(self.home, run_id, actor=actor)

    def evaluate(self, run_id: int, *, dataset: str | None = None, actor: Actor) -> dict:
        return runs.evaluate(self.home, run_id, dataset=dataset, actor=actor)

    def compare(self, a: int, b: int, actor: Actor | None = None) -> dict:
        return visibility.compare(self.home, actor, a, b)

    # ---- deployments and questions --------------------------------------------------------------------------
    def deploy(self, run_id: int, *, scope: str, actor: Actor) -> dict:
        return deployments.deploy(self.home, run_id, scope=scope, actor=actor)

    def deployments(self, actor: Actor | None = None) -> list[dict]:
        return visibility.deployments(self.home, actor)

    def ask(self, question: str, *, scope: str | None = None, run_id: int | None = None, actor: Actor,
            channel: str | None = None, ts: str | None = None, thread_ts: str | None = None) -> dict:
        return questions.ask(self.home, question, scope=scope, run_id=run_id, actor=actor, channel=channel, ts=ts,
                             thread_ts=thread_ts)

    def feedback(self, question_id: int, *, actor: Actor, value: int) -> None:
        questions.feedback(self.home, question_id, actor=actor, value=value)

    def run_for_thread(self, channel: str, thread_ts: str | None) -> int | None:
        return questions.run_for_thread(self.home, channel, thread_ts)

    def is_answer_thread(self, channel: str, thread_ts: str) -> bool:
        return questions.is_answer_thread(self.home, channel, thread_ts)

    def first_delivery(self, *keys: str) -> bool:
        return deliveries.first_time(self.home, *keys)

    # ---- schedules ------------------------------------------------------------------------------------------
    def add_schedule(self, kind: str, target: str, cron: str, *, actor: Actor, channel: str | None = None) -> dict:
        return schedules.add_schedule(self.home, kind, target, cron, actor, channel=channel)

    def list_schedules(self) -> list[dict]:
        return schedules.list_schedules(self.home)

    def remove_schedule(self, schedule_id: str, *, actor: Actor) -> dict:
        return schedules.remove_schedule(self.home, schedule_id, actor)

    # ---- data protection ------------------------------------------------------------------------------------
    def prune(self, *, actor: Actor) -> dict:
        from ops import retention
        return retention.prune(self.home, actor=actor)

    # ---- promotion, challengers, rollback (ops/promotion.py, ops/challengers.py) ------------------------------------
    def request_deploy(self, run_id: int, *, scope: str, actor: Actor) -> dict:
        return promotion.request_deploy(self.home, run_id, scope=scope, actor=actor)

    def promote(self, *, scope: str, actor: Actor) -> dict:
        return promotion.promote(self.home, scope=scope, actor=actor)

    def approve(self, request_id: int, *, actor: Actor) -> dict:
        return promotion.approve(self.home, request_id, actor=actor)

    def reject(self, request_id: int, *, actor: Actor, reason: str | None = None) -> dict:
        return promotion.reject(self.home, request_id, actor=actor, reason=reason)

    def get_request(self, request_id: int) -> dict:
        return promotion.get_request(self.home, request_id)

    def set_request_message(self, request_id: int, channel: str, ts: str) -> None:
        promotion.set_request_message(self.home, request_id, channel, ts)

    def rollback(self, *, scope: str, actor: Actor) -> dict:
        return promotion.rollback(self.home, scope=scope, actor=actor)

    def deployment_history(self, scope: str | None = None) -> dict:
        return promotion.history(self.home, scope)

    def start_challenger(self, run_id: int, *, scope: str, actor: Actor, channel: str | None = None) -> dict:
        return challengers.start(self.home, run_id, scope=scope, actor=actor, channel=channel)

    def stop_challenger(self, *, scope: str, actor: Actor) -> dict:
        return challengers.stop(self.home, scope=scope, actor=actor)

    def challenger_report(self, scope: str) -> dict:
        return challengers.report(self.home, scope)

    def challenger_report_png(self, report: dict, path) -> Path | None:
        return challengers.report_png(report, path)

    def claim_challenger_reports(self) -> list[dict]:
        return challengers.claim_reports(self.home)

    def mark_challenger_report_posted(self, report_id: int, ts: str) -> None:
        challengers.mark_report_posted(self.home, report_id, ts)

    def release_challenger_report(self, report_id: int) -> None:
        challengers.release_report(self.home, report_id)

    def ask_ab(self, question: str, *, scope: str, actor: Actor, channel: str | None = None, ts: str | None = None,
               thread_ts: str | None = None) -> dict:
        return challengers.ask_ab(self.home, question, scope=scope, actor=actor, channel=channel, ts=ts,
                                  thread_ts=thread_ts)

    def ab_in_thread(self, channel: str, thread_ts: str, *, actor: Actor) -> dict:
        qid = challengers.question_in_thread(self.home, channel, thread_ts)
        if qid is None:
            from engine.errors import NotFound
            raise NotFound("there is no answer in this thread to compare; ask a question first")
        return challengers.ab_for_question(self.home, qid, actor=actor)

    def challenger_feedback(self, shadow_id: int, *, actor: Actor, value: int) -> None:
        challengers.shadow_feedback(self.home, shadow_id, actor=actor, value=value)

    def reports_dir(self) -> Path:
        return Path(self.home) / "reports"
