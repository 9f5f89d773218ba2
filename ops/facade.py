"""`Operations`: the operations bound to one FTBOT_HOME — the seam between the edges (CLI, Slack) and this layer.

Every command goes through `run(name, actor, arguments)`: the access decision for its role and scope rules
(ops/access.py), then the operation the command table names (ops/commands.py). The few calls that are not commands
(questions from mentions, button clicks, delivery records) are typed methods below. A test swaps an operation by
defining a method of the operation's own name on a subclass (e.g. a canned `ask`): `run` calls that instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops import access, challengers, commands, datasets, event_dedupe, promotion, questions, visibility
from ops.access import Actor


@dataclass
class Done:
    """A command's result and how the edge should show it (`private`: to the caller alone)."""
    verb: "commands.Verb"
    result: Any
    arguments: dict
    private: bool = False


class Operations:
    def __init__(self, home: Path):
        self.home = home

    # ---- every command -------------------------------------------------------------------------------------------
    def run(self, name: str, actor: Actor, arguments: dict | None = None, context: dict | None = None) -> Done:
        """Authorize and run the command `name` (ops/commands.py) with these arguments; `context` offers extras an
        operation may take (channel, origin)."""
        verb = commands.verb(name)
        arguments = {k: v for k, v in (arguments or {}).items()}
        decision = access.authorize(self.home, actor, verb, arguments)
        fn_name = verb.op.partition(":")[2]
        override = getattr(type(self), fn_name, None)
        if override is not None and override is not getattr(Operations, fn_name, None):
            # the same arguments the operation itself would get (ops/commands.py `keywords`)
            result = override(self, **commands.keywords(override, arguments, actor=actor, context=context))
        else:
            result = commands.call(verb, self.home, arguments, actor=actor, context=context)
        return Done(verb, result, arguments, decision["private"])

    # ---- calls that are not commands -------------------------------------------------------------------------
    def require(self, actor: Actor, action: str, target: str | None = None, /, **detail) -> None:
        access.require(self.home, actor, action, target, **detail)

    # reads for the App Home tab and the training form (what the viewer may see: ops/visibility.py)
    def list_datasets(self, actor: Actor | None = None) -> list[dict]:
        return visibility.list_datasets(self.home, actor)

    def dataset_exists(self, name: str) -> bool:
        return any(d["name"] == name for d in datasets.list_all(self.home))

    def list_runs(self, limit: int = 15, actor: Actor | None = None) -> list[dict]:
        return visibility.list_runs(self.home, actor, limit=limit)

    def deployments(self, actor: Actor | None = None) -> list[dict]:
        return visibility.deployments(self.home, actor)

    # questions from mentions and DMs, and the answer threads
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
        return event_dedupe.first_time(self.home, *keys)

    # requests and challengers: the message a request lives in, the report's chart and the daily posts
    def set_request_message(self, request_id: int, channel: str, ts: str) -> None:
        promotion.set_request_message(self.home, request_id, channel, ts)

    def challenger_report_png(self, report: dict, path) -> Path | None:
        return challengers.report_png(report, path)

    def claim_challenger_reports(self) -> list[dict]:
        return challengers.claim_reports(self.home)

    def mark_challenger_report_posted(self, report_id: int, ts: str) -> None:
        challengers.mark_report_posted(self.home, report_id, ts)

    def release_challenger_report(self, report_id: int) -> None:
        challengers.release_report(self.home, report_id)

    def ab_in_thread(self, channel: str, thread_ts: str, *, actor: Actor) -> dict:
        qid = challengers.question_in_thread(self.home, channel, thread_ts)
        if qid is None:
            from engine.errors import NotFound
            raise NotFound("there is no answer in this thread to compare; ask a question first")
        return challengers.ab_for_question(self.home, qid, actor=actor)

    def scoring_explanation(self, scoring_id: int, index: int, *, actor: Actor) -> dict:
        from ops import scoring
        return scoring.explanation(self.home, scoring_id, index, actor=actor)

    def challenger_feedback(self, shadow_id: int, *, actor: Actor, value: int) -> None:
        challengers.shadow_feedback(self.home, shadow_id, actor=actor, value=value)
