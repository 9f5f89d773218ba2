"""Is the population a model scores still the one it learned from? Tables: the population stability of the score
and of every input column, against the training rows (engine/monitoring/drift.py), for a file or for the last file
scored. Intent models: the intent mix of recent questions against validation, the fallback rate and the mean
confidence, over a window (FTBOT_DRIFT_WINDOW_DAYS, 7). A `drift` schedule posts when a band is crossed, and a
weekly line when nothing is (ops/schedules.py)."""
from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

from engine.errors import ConfigError, NotFound
from storage import connect
from storage import questions as questions_table
from storage import scorings

from ops.access import Actor
from ops.deployments import resolve_run
from ops.scopes import scope_for


def window_days() -> float:
    raw = (os.environ.get("FTBOT_DRIFT_WINDOW_DAYS") or "7").strip()
    try:
        v = float(raw)
    except ValueError:
        raise ConfigError("FTBOT_DRIFT_WINDOW_DAYS", raw, "a number of days, e.g. 7") from None
    if v <= 0:
        raise ConfigError("FTBOT_DRIFT_WINDOW_DAYS", raw, "more than 0 days")
    return v


def drift(home, run_id=None, file=None, *, actor: Actor | str | None = None, channel: str | None = None,
          scope: str | None = None) -> dict:
    """Drift of a run (`run_id`), or of the model deployed where the command was typed (`run_id` None: `here`)."""
    from engine.served.model import ServedModel
    where = scope or scope_for(channel)
    run = resolve_run(home, scope=where, run_id=run_id)
    served = ServedModel.load(run["artifact_path"])
    out = {"run_id": run["id"], "scope": where if run_id is None else None}
    if served.inputs.kind == "tabular":
        return {**out, **_table(home, run, served, file)}
    return {**out, **_questions(home, run, served, None if run_id is not None else where)}


def _table(home, run: dict, served, file) -> dict:
    ref = served.drift_reference()
    if ref is None:
        raise NotFound(f"run #{run['id']} has no training bins to compare with (evaluated by an older ftbot); "
                       f"train it again with the same settings (`ftbot status {run['id']}` shows them)")
    if file is not None:
        from engine.scoring import plan_columns, read_chunks, read_header
        src = Path(file)
        if not src.is_file():
            raise NotFound(f"no file {src.name}")
        plan = plan_columns(served, read_header(src), None)
        tally = ref.tally()
        for _, chunk in read_chunks(src):
            rows = [plan.row(r) for r in chunk]
            if rows:
                tally.add(rows, served.positive_proba(rows))
        return {"kind": "tabular", "source": src.name, **tally.result()}
    with connect(home) as db:
        last = scorings.latest(db, run["id"])
    if last is None or not last.get("drift"):
        raise NotFound(f"run #{run['id']} has scored no file yet: score one (`score {run['id']} FILE`) or give "
                       "the file to compare (`ftbot drift RUN --file F`)")
    return {"kind": "tabular", "source": f"{last['file_name']} (scored {last['scored_at'][:16].replace('T', ' ')} "
                                         f"UTC)", **last["drift"]}


def _questions(home, run: dict, served, scope: str | None) -> dict:
    from engine.monitoring.drift import intent_mix
    ref = served.text_reference()
    days = window_days()
    since = (_dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(days=days)).isoformat(timespec="microseconds")
    with connect(home) as db:
        rows = questions_table.recent(db, since=since, run_id=None if scope else run["id"], scope=scope)
    out = {"kind": "text", "window_days": days, "questions": len(rows),
           "fallback_rate": (sum(bool(r["fallback"]) for r in rows) / len(rows)) if rows else None,
           "mean_confidence": (sum(float(r["confidence"] or 0) for r in rows) / len(rows)) if rows else None,
           "validation_fallback_rate": ref.get("fallback_rate"),
           "validation_mean_confidence": ref.get("mean_confidence")}
    if ref.get("intents") and rows:
        out["intent_mix"] = intent_mix(ref["intents"], [r["intent"] for r in rows if r["intent"]])
    return out
