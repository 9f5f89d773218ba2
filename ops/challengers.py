"""Challengers: a run attached to a scope beside its deployed champion. Every question asked there is answered by
the champion as before; the challenger answers the same question in the background and its answer is stored beside
the champion's, unseen — unless a tester asks for both (`ask --ab`, or a reply `ab` in an answer thread). The
report compares the two on live questions and on labelled data.

The background answer never delays the champion's: it runs on one thread of its own after the champion's answer is
stored, waits while a champion answer is being computed in this process (so on a small machine the two do not
fight over the same cores), and uses the same predictor cache (engine/inference.py), where champion and challenger
of a scope are pinned so that loading one never evicts the other.
"""
from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from engine.errors import ConfigError, NotFound
from storage import connect
from storage import challengers as table
from storage import deployments as deployments_table
from storage import questions as questions_table
from storage import runs as runs_table
from storage.errors import Conflict

from ops import access
from ops.access import ADMIN, APPROVER, Actor

log = logging.getLogger("ftbot.challengers")

REPORT_SCHEDULE_PREFIX = "challenge-report-"


def report_cron() -> str:
    """FTBOT_CHALLENGER_REPORT_CRON: when the daily report is posted while a challenger runs ('0 9 * * *')."""
    return os.environ.get("FTBOT_CHALLENGER_REPORT_CRON", "").strip() or "0 9 * * *"


def may_see_ab(actor: Actor) -> bool:
    """FTBOT_TESTERS (ids, comma-separated), when set, limits who may see the challenger's answers (admins and
    approvers always may); unset, whoever asks for A/B explicitly is a tester."""
    testers = {t.strip() for t in (os.environ.get("FTBOT_TESTERS") or "").split(",") if t.strip()}
    return not testers or actor.id in testers or bool({ADMIN, APPROVER} & set(actor.roles))


# ---- the background lane ----------------------------------------------------------------------------------------
class _Lane:
    """One thread for challenger answers; it yields to champion answers in flight and can be drained (tests, demo,
    the CLI before it exits)."""

    def __init__(self):
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ftbot-shadow")
        self.cond = threading.Condition()
        self.busy = 0          # champion answers being computed now
        self.pending = 0       # shadow jobs queued or running

    @contextlib.contextmanager
    def champion(self):
        with self.cond:
            self.busy += 1
        try:
            yield
        finally:
            with self.cond:
                self.busy -= 1
                self.cond.notify_all()

    def submit(self, fn, *args) -> None:
        with self.cond:
            self.pending += 1

        def run():
            try:
                with self.cond:     # let a champion answer that is running finish first (bounded wait)
                    self.cond.wait_for(lambda: self.busy == 0, timeout=2.0)
                fn(*args)
            except Exception as e:  # noqa: BLE001 — a failing challenger must never disturb the champion
                log.error("challenger answer failed: %s: %s", type(e).__name__, e)
            finally:
                with self.cond:
                    self.pending -= 1
                    self.cond.notify_all()
        self.pool.submit(run)

    def drain(self, timeout: float = 30.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.pending == 0, timeout=timeout)


LANE = _Lane()
champion_answering = LANE.champion
drain = LANE.drain


# ---- attach / detach ----------------------------------------------------------------------------------------------
def _model_run(db, run_id) -> dict:
    run = runs_table.get(db, run_id)
    if run["status"] != "succeeded" or not run.get("artifact_path") or not Path(run["artifact_path"]).is_dir():
        raise Conflict(f"run #{run['id']} is {run['status']}" + ("" if run["status"] != "succeeded" else
                       " but its model folder is gone") + "; only a succeeded run with a model can challenge")
    return run


def start(home, run_id, *, scope: str, actor: Actor | str, files: list[str] | None = None,
          channel: str | None = None) -> dict:
    """Attach `run_id` as the challenger of `scope` (replacing the current one). A daily report is scheduled for
    `channel` (the scope itself when it is a channel)."""
    with access.acting(home, actor, "challenge", f"run:{run_id}", scope=scope) as note:
        a = access.as_actor(actor)
        for f in files or []:
            if not Path(f).is_file():
                raise ConfigError("file", f, "a labelled text,label file that exists")
        with connect(home) as db:
            run = _model_run(db, run_id)
            champ = deployments_table.active(db, scope)
            if champ is None:
                raise Conflict(f"nothing is deployed in {scope}: deploy a champion first, then attach a challenger")
            if int(champ["run_id"]) == int(run["id"]):
                raise Conflict(f"run #{run['id']} is already the champion of {scope}")
            row, old = table.start(db, scope=scope, run_id=run["id"], champion_run_id=champ["run_id"],
                                   started_by=a.id, files=[str(Path(f).resolve()) for f in files or []])
        note.update(challenger_id=row["id"], champion_run_id=champ["run_id"],
                    replaced=old["run_id"] if old else None)
    post_to = channel or (scope if scope[:1] in ("C", "G") else None)
    if post_to:
        _schedule_daily(home, scope, post_to, a)
    row["replaced"] = old
    row["channel"] = post_to
    return row


def _schedule_daily(home, scope: str, channel: str, actor: Actor) -> None:
    from ops import schedules
    sid = REPORT_SCHEDULE_PREFIX + schedules.slug(scope)
    if any(s["id"] == sid for s in schedules.list_schedules(home)):
        return
    try:
        schedules.add_schedule(home, "challenge-report", scope, report_cron(), actor, channel=channel, id=sid)
    except Exception as e:  # noqa: BLE001 — the challenger works without its daily post; say so in the log
        log.error("could not schedule the daily challenger report for %s: %s", scope, e)


def stop(home, *, scope: str, actor: Actor | str, reason: str = "stopped") -> dict:
    with access.acting(home, actor, "challenge", scope, stop=True):
        with connect(home) as db:
            ch = table.active(db, scope)
            if ch is None:
                raise NotFound(f"no challenger runs in {scope}")
            table.end(db, ch["id"], by=access.as_actor(actor).id, reason=reason)
            return table.get(db, ch["id"])


def active(home, scope: str) -> dict | None:
    with connect(home) as db:
        return table.active(db, scope)


def list_active(home) -> list[dict]:
    with connect(home) as db:
        return table.list_active(db)


def attach_file(home, path, *, scope: str, actor: Actor | str) -> dict:
    with access.acting(home, actor, "challenge", scope, file=str(path)):
        if not Path(path).is_file():
            raise ConfigError("file", str(path), "a labelled text,label file that exists")
        with connect(home) as db:
            ch = table.active(db, scope) or table.latest(db, scope)
            if ch is None:
                raise NotFound(f"no challenger in {scope}")
            return table.attach_file(db, ch["id"], str(Path(path).resolve()))


# ---- shadow answers -----------------------------------------------------------------------------------------------
def after_answer(home, question_id: int, *, scope: str, question: str, champion: dict) -> None:
    """Called by questions.ask once the champion's answer is stored: queue the challenger's answer, if any."""
    with connect(home) as db:
        ch = table.active(db, scope)
    if ch is None:
        return
    _pin(scope, champion, ch)
    LANE.submit(_shadow, home, question_id, ch, question)


def _pin(scope: str, champion: dict, ch: dict | None) -> None:
    from engine import inference
    paths = [champion.get("artifact_path")]
    if ch is not None:
        paths.append(ch.get("artifact_path") or "")
    inference.pin(f"scope:{scope}", [p for p in paths if p])


def _shadow(home, question_id: int, ch: dict, question: str, shown: bool = False) -> dict | None:
    """Answer with the challenger and store it. A challenger whose run (or model) is gone is ended, once."""
    from engine import inference
    with connect(home) as db:
        try:
            run = _model_run(db, ch["run_id"])
        except Exception as e:  # noqa: BLE001 — Missing or Conflict: the run cannot answer any more
            if table.end(db, ch["id"], by="system:challengers", reason=f"run #{ch['run_id']} is gone: {e}"):
                log.warning("challenger #%s of %s ended: %s", ch["id"], ch["scope"], e)
                access.record(home, Actor.system("challengers"), "challenge.end", f"run:{ch['run_id']}",
                              scope=ch["scope"], reason=str(e))
            return None
    t0 = time.perf_counter()
    ans = inference.get_predictor(run["artifact_path"]).answer(question)
    latency_ms = (time.perf_counter() - t0) * 1000
    with connect(home) as db:
        return table.add_shadow(db, question_id=question_id, challenger_id=ch["id"], run_id=run["id"],
                                answer=ans.answer, intent=ans.intent, confidence=float(ans.confidence),
                                top=[[str(label), float(p)] for label, p in ans.top], fallback=ans.fallback,
                                latency_ms=latency_ms, shown=shown)


def ab_for_question(home, question_id: int, *, actor: Actor | str, text: str | None = None) -> dict:
    """Both answers to a question, side by side (computing the challenger's now if the background one is not in).
    `text`: the question as asked, when the caller still has it — the stored copy is redacted (ops/privacy.py), so
    a later `ab` reply in a thread answers the redacted text."""
    a = access.as_actor(actor)
    if not may_see_ab(a):
        raise access.PermissionDenied("Only testers (FTBOT_TESTERS), admins and approvers may see the challenger's "
                                      "answers.")
    with connect(home) as db:
        q = questions_table.get(db, question_id)
        shadow = table.shadow_for(db, question_id)
        ch = table.get(db, shadow["challenger_id"]) if shadow else table.active(db, q["scope"] or "default")
    if ch is None:
        raise NotFound("no challenger runs here; an admin can attach one with `challenge RUN`")
    if shadow is None:
        shadow = _shadow(home, question_id, ch, text or q["question"], shown=True)
        if shadow is None:
            raise NotFound(f"the challenger (run #{ch['run_id']}) can no longer answer; it has been ended")
    else:
        with connect(home) as db:
            table.mark_shown(db, question_id)
    access.record(home, a, "ab.show", f"question:{question_id}", challenger_id=ch["id"])
    return {"question_id": question_id, "question": q["question"], "scope": q["scope"],
            "champion": {"run_id": q["run_id"], "answer": q["answer"], "intent": q["intent"],
                         "confidence": q["confidence"], "fallback": bool(q["fallback"]), "question_id": question_id},
            "challenger": {"run_id": shadow["run_id"], "answer": shadow["answer"], "intent": shadow["intent"],
                           "confidence": shadow["confidence"], "fallback": bool(shadow["fallback"]),
                           "shadow_id": shadow["id"]},
            "agree": q["intent"] == shadow["intent"]}


def question_in_thread(home, channel: str, thread_ts: str) -> int | None:
    with connect(home) as db:
        q = questions_table.by_message(db, channel, thread_ts)
    return q["id"] if q else None


def shadow_feedback(home, shadow_id: int, *, actor: Actor | str, value: int) -> None:
    a = access.as_actor(actor)
    with connect(home) as db:
        table.add_shadow_feedback(db, shadow_id, a.id, 1 if value > 0 else -1)
    access.record(home, a, "feedback.challenger", f"shadow:{shadow_id}", value=value)


# ---- the report ---------------------------------------------------------------------------------------------------
def summarize(pairs: list[dict], *, top_intents: int = 5, examples: int = 2) -> dict:
    """The live figures from stored answer pairs (pure: tested on planted cases)."""
    from engine.data.pii import redact

    n = len(pairs)

    def side(prefix: str) -> dict:
        if not n:
            return {"fallback_rate": None, "mean_confidence": None}
        return {"fallback_rate": sum(bool(p[f"{prefix}_fallback"]) for p in pairs) / n,
                "mean_confidence": sum(float(p[f"{prefix}_confidence"] or 0) for p in pairs) / n}

    agree = [p for p in pairs if p["champion_intent"] == p["challenger_intent"]]
    ab = [p for p in pairs if p["shown"]]
    by_intent: dict[str, list[dict]] = defaultdict(list)
    for p in pairs:
        by_intent[p["champion_intent"]].append(p)
    dis = []
    for intent, ps in by_intent.items():
        differ = [p for p in ps if p["challenger_intent"] != intent]
        if differ:
            said = Counter(p["challenger_intent"] for p in differ).most_common(1)[0][0]
            dis.append({"intent": intent, "questions": len(ps), "disagree": len(differ),
                        "rate": len(differ) / len(ps), "challenger_says": said,
                        "examples": [{"question": redact(p["question"])[:200], "champion": intent,
                                      "challenger": p["challenger_intent"]} for p in differ[:examples]]})
    dis.sort(key=lambda d: (-d["disagree"], -d["rate"], d["intent"]))
    return {"questions": n, "agreed": len(agree), "agreement": (len(agree) / n) if n else None,
            "champion": side("champion"), "challenger": side("challenger"),
            "ab": {"questions": len(ab),
                   "champion": {"up": sum(p["champion_up"] for p in ab), "down": sum(p["champion_down"] for p in ab)},
                   "challenger": {"up": sum(p["challenger_up"] for p in ab),
                                  "down": sum(p["challenger_down"] for p in ab)}},
            "disagreements": dis[:top_intents], "timeline": timeline(pairs)}


def timeline(pairs: list[dict]) -> list[dict]:
    """Agreement and mean confidences per day (per hour when all questions fall on one day)."""
    if not pairs:
        return []
    one_day = len({p["created_at"][:10] for p in pairs}) == 1
    key = (lambda p: p["created_at"][:13].replace("T", " ") + "h") if one_day else (lambda p: p["created_at"][:10])
    buckets: dict[str, list[dict]] = defaultdict(list)
    for p in pairs:
        buckets[key(p)].append(p)
    out = []
    for t in sorted(buckets):
        ps = buckets[t]
        out.append({"t": t, "n": len(ps),
                    "agreement": sum(p["champion_intent"] == p["challenger_intent"] for p in ps) / len(ps),
                    "champion_confidence": sum(float(p["champion_confidence"] or 0) for p in ps) / len(ps),
                    "challenger_confidence": sum(float(p["challenger_confidence"] or 0) for p in ps) / len(ps)})
    return out


def _scores(artifact_path: str, examples) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    from engine import inference
    pred = inference.get_predictor(artifact_path)
    texts, y = [e.text for e in examples], [e.label for e in examples]
    proba = pred.predict_proba(texts)
    y_hat = [pred.labels[i] for i in proba.argmax(axis=1)]
    return {"accuracy": float(accuracy_score(y, y_hat)),
            "macro_f1": float(f1_score(y, y_hat, labels=sorted(set(y)), average="macro", zero_division=0))}


def labelled_scores(home, champion: dict, challenger: dict, files: list[str]) -> list[dict]:
    """Both models on the challenger's dataset validation split, then on each attached labelled file."""
    from engine.data import read_labeled_file

    from ops import datasets
    out = []
    try:
        data = datasets.load(home, challenger["dataset"])
    except Exception as e:  # noqa: BLE001 — the live figures still stand without it
        return [{"name": f"{challenger['dataset']} validation", "error": str(e)}]
    sets = [(f"{challenger['dataset']} validation", list(data.validation))]
    for f in files:
        try:
            sets.append((Path(f).name, read_labeled_file(f, data)))
        except Exception as e:  # noqa: BLE001
            out.append({"name": Path(f).name, "error": str(e)})
    refitted = [f"run #{r['id']}" for r in (champion, challenger)
                if r.get("dataset") == challenger["dataset"] and _refitted(r.get("artifact_path"))]
    for i, (name, examples) in enumerate(sets):
        if not examples:
            continue
        row = {"name": name, "examples": len(examples), "champion": _scores(champion["artifact_path"], examples),
               "challenger": _scores(challenger["artifact_path"], examples)}
        if i == 0 and refitted:
            # a refit (engine/refit.py) trained on train + validation: these are training rows for it
            row["not_held_out"] = (f"{' and '.join(refitted)} refitted on these rows (train + validation): training "
                                   f"rows for {'them' if len(refitted) > 1 else 'it'}, not a held-out comparison — "
                                   f"attach a labelled file to compare on unseen rows")
        out.append(row)
    return out


def _refitted(artifact_path: str | None) -> bool:
    """Whether a run's served model was trained again on its validation rows (engine/served/model.py)."""
    if not artifact_path:
        return False
    from engine.served.model import was_refitted
    return was_refitted(artifact_path)


def report(home, scope: str, *, files: list[str] | None = None, labelled: bool = True, chart=None) -> dict:
    """Live figures of the scope's challenger (active, else the latest) against the champion, plus both models on
    labelled data (`files`: more labelled files for this report). `chart`: also draw the agreement/confidence chart
    there (PNG)."""
    with connect(home) as db:
        ch = table.latest(db, scope)
        if ch is None:
            raise NotFound(f"no challenger has run in {scope}; an admin can attach one with `challenge RUN`")
        pairs = table.pairs(db, ch["id"])
        champ_dep = deployments_table.active(db, scope)
        champion = runs_table.get(db, champ_dep["run_id"] if champ_dep else ch["champion_run_id"])
        try:
            challenger = runs_table.get(db, ch["run_id"])
        except Exception:  # noqa: BLE001 — the run row was deleted
            challenger = {"id": ch["run_id"], "dataset": None, "artifact_path": None}
    out = {"scope": scope, "challenger_id": ch["id"], "active": bool(ch["active"]), "started_at": ch["started_at"],
           "started_by": ch["started_by"], "ended_reason": ch["ended_reason"],
           "champion_run_id": champion["id"], "challenger_run_id": ch["run_id"], **summarize(pairs)}
    out["labelled"] = []
    if labelled and challenger.get("artifact_path") and Path(challenger["artifact_path"]).is_dir():
        out["labelled"] = labelled_scores(home, champion, challenger, list(ch["files"]) + list(files or []))
    if chart:
        out["chart"] = str(report_png(out, chart) or "")
    return out


def report_png(rep: dict, path) -> Path | None:
    if not rep.get("timeline"):
        return None
    from engine.monitoring.challenger_plot import agreement_png
    return agreement_png(rep["timeline"], path, title=f"run #{rep['champion_run_id']} (champion) vs "
                                                      f"#{rep['challenger_run_id']} (challenger) in {rep['scope']}")


def scheduled_report(home, sched: dict, fire_key: str) -> dict:
    """One fire of a daily `challenge-report` schedule: queue the report for the bot to post (restart-safe)."""
    with connect(home) as db:
        ch = table.active(db, sched["target"])
    if ch is None:
        return {"schedule": sched["id"], "action": "skipped", "why": f"no challenger runs in {sched['target']}"}
    rep = report(home, sched["target"])
    with connect(home) as db:
        row = table.add_report(db, challenger_id=ch["id"], scope=sched["target"], channel=sched["channel"],
                               kind="daily", report=rep, fire_key=fire_key)
    return {"schedule": sched["id"], "action": "reported" if row else "skipped", "report_id": row and row["id"]}


def claim_reports(home) -> list[dict]:
    with connect(home) as db:
        return table.claim_unposted(db)


def mark_report_posted(home, report_id: int, ts: str) -> None:
    with connect(home) as db:
        table.mark_posted(db, report_id, ts)


def release_report(home, report_id: int) -> None:
    with connect(home) as db:
        table.release(db, report_id)
