"""Questions for the deployed model, and feedback on the answers."""
from __future__ import annotations

import time

from engine.errors import ConfigError, NotFound
from storage import connect, questions
from storage import slack_messages

from ops import access, challengers, privacy
from ops.access import Actor
from ops.deployments import resolve_run
from ops.scopes import DEFAULT_SCOPE


MAX_QUESTION_CHARS = 2000     # the slash parser cuts `/ft ask` text to the same length (bot/slash_text.py)


def ask(home, question: str, *, scope: str | None = None, run_id=None, actor: Actor | str = "cli",
        channel: str | None = None, ts: str | None = None, thread_ts: str | None = None) -> dict:
    """Answer text for the predicted intent, intent, confidence, top 3, fallback flag; the question is recorded
    redacted (ops/privacy.py: card numbers always, other PII by FTBOT_REDACT_QUESTIONS). The model reads the
    original; `question` in the result is the redacted copy, the only one an edge may echo back."""
    from engine.inference import get_predictor

    question = (question or "").strip()
    if not question:
        raise NotFound("ask needs a question, e.g. `ask where is my card?`")
    if len(question) > MAX_QUESTION_CHARS:
        # refused before anything reads it: a customer question is a sentence or two, and a 40,000-character
        # message from any member must not occupy the answer workers (nor be cut mid-way through a card number)
        raise ConfigError("question", f"{len(question):,} characters",
                          f"a question of at most {MAX_QUESTION_CHARS:,} characters; ask it in fewer words")
    run = resolve_run(home, scope=scope, run_id=run_id)
    t0 = time.perf_counter()
    with challengers.champion_answering():    # the challenger's background answer waits for this one
        ans = get_predictor(run["artifact_path"]).answer(question)
    latency_ms = (time.perf_counter() - t0) * 1000
    stored, redacted = privacy.redact_question(question)
    top = [[str(label), float(p)] for label, p in ans.top]
    with connect(home) as db:
        qid = questions.add(db, scope=scope or DEFAULT_SCOPE, run_id=run["id"], asked_by=access.as_actor(actor).id,
                            channel=channel, ts=ts, thread_ts=thread_ts, question=stored, answer=ans.answer,
                            intent=ans.intent, confidence=float(ans.confidence), top=top, fallback=ans.fallback,
                            latency_ms=latency_ms)
    if run_id is None:     # the scope's champion answered: its challenger, if any, answers too, unseen
        challengers.after_answer(home, qid, scope=scope or DEFAULT_SCOPE, question=question, champion=run)
    return {"question_id": qid, "run_id": run["id"], "question": stored, "redacted": redacted, "answer": ans.answer,
            "intent": ans.intent,
            "confidence": float(ans.confidence), "top": top, "fallback": bool(ans.fallback),
            "latency_ms": round(latency_ms, 2)}


def feedback(home, question_id: int, *, actor: Actor | str, value: int, correct_label: str | None = None) -> None:
    a = access.as_actor(actor)
    with connect(home) as db:
        questions.add_feedback(db, question_id, a.id, 1 if value > 0 else -1, correct_label)
    access.record(home, a, "feedback", f"question:{question_id}", value=value)


def run_for_thread(home, channel: str, thread_ts: str | None) -> int | None:
    """The run whose status message roots this thread (a question there asks that run's model)."""
    if not thread_ts:
        return None
    with connect(home) as db:
        return slack_messages.run_for_thread(db, channel, thread_ts)


def is_answer_thread(home, channel: str, thread_ts: str) -> bool:
    with connect(home) as db:
        return questions.by_message(db, channel, thread_ts) is not None


def ask_ab(home, question: str, *, scope: str, actor: Actor | str, channel=None, ts=None, thread_ts=None) -> dict:
    """A tester's question answered by the champion and the challenger, side by side."""
    a = access.as_actor(actor)
    if not challengers.may_see_ab(a):
        raise access.PermissionDenied("Only testers (FTBOT_TESTERS), admins and approvers may see the challenger's "
                                      "answers.")
    if challengers.active(home, scope) is None:
        raise NotFound(f"no challenger runs in {scope}; an admin can attach one with `challenge RUN`")
    res = ask(home, question, scope=scope, actor=a, channel=channel, ts=ts, thread_ts=thread_ts)
    return challengers.ab_for_question(home, res["question_id"], actor=a, text=question)
