"""Deploy a run to a scope and answer questions with the model deployed there."""
from __future__ import annotations

import time

from engine.errors import NotFound
from storage import audit, connect, deployments, questions
from storage import runs as runs_table
from storage.errors import Conflict

DEFAULT_SCOPE = "default"


def deploy(home, run_id, *, scope: str = DEFAULT_SCOPE, user: str) -> dict:
    with connect(home) as db:
        run = runs_table.get(db, run_id)
        if run["status"] != "succeeded" or not run.get("artifact_path"):
            raise Conflict(f"run #{run['id']} is {run['status']}; only a succeeded run can be deployed")
        dep = deployments.deploy(db, scope, run["id"], user)
        audit.log(db, user, "deploy", f"run:{run['id']}", detail={"scope": scope})
    dep["run"] = run
    return dep


def resolve_run(home, *, scope: str | None = None, run_id=None) -> dict:
    """The run that answers: an explicit run, else the deployment in `scope`, else the default scope."""
    with connect(home) as db:
        if run_id is not None:
            run = runs_table.get(db, run_id)
        else:
            dep = deployments.active(db, scope or DEFAULT_SCOPE) or deployments.active(db, DEFAULT_SCOPE)
            if not dep:
                where = f"in {scope}" if scope and scope != DEFAULT_SCOPE else "yet"
                raise NotFound(f"no model is deployed {where}; an admin can deploy one with `deploy RUN`")
            run = runs_table.get(db, dep["run_id"])
    if run["status"] != "succeeded" or not run.get("artifact_path"):
        raise Conflict(f"run #{run['id']} is {run['status']}; it has no model to ask yet")
    return run


def ask(home, question: str, *, scope: str | None = None, run_id=None, user: str = "cli", channel: str | None = None,
        ts: str | None = None, thread_ts: str | None = None) -> dict:
    """Answer text for the predicted intent, intent, confidence, top 3, fallback flag; the question is recorded."""
    from engine.inference import get_predictor

    question = (question or "").strip()
    if not question:
        raise NotFound("ask needs a question, e.g. `ask where is my card?`")
    run = resolve_run(home, scope=scope, run_id=run_id)
    t0 = time.perf_counter()
    ans = get_predictor(run["artifact_path"]).answer(question)
    latency_ms = (time.perf_counter() - t0) * 1000
    top = [[str(label), float(p)] for label, p in ans.top]
    with connect(home) as db:
        qid = questions.add(db, scope=scope or DEFAULT_SCOPE, run_id=run["id"], asked_by=user, channel=channel, ts=ts,
                            thread_ts=thread_ts, question=question, answer=ans.answer, intent=ans.intent,
                            confidence=float(ans.confidence), top=top, fallback=ans.fallback, latency_ms=latency_ms)
    return {"question_id": qid, "run_id": run["id"], "question": question, "answer": ans.answer, "intent": ans.intent,
            "confidence": float(ans.confidence), "top": top, "fallback": bool(ans.fallback),
            "latency_ms": round(latency_ms, 2)}


def feedback(home, question_id: int, *, user: str, value: int, correct_label: str | None = None) -> None:
    with connect(home) as db:
        questions.add_feedback(db, question_id, user, 1 if value > 0 else -1, correct_label)
        audit.log(db, user, "feedback", f"question:{question_id}", detail={"value": value})
