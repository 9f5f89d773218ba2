"""Whole Slack stories against a workspace that says no: what reached each requester, by which path, what was lost.

    python bench/slack_chaos.py [--seed 0] [--share 0.2] [--retry-after 0] [--json]

The real ftbot server (Bolt over HTTP, the notifier) runs against the fake Slack Web API, which
  * refuses permanently: one training was started in a channel the bot never joined (not_in_channel), questions come
    from an archived channel (is_archived) and from a private channel the bot is in; feedback clicks and a Deploy click
    come from the channel it never joined; in one channel Slack refuses every message that carries blocks
    (invalid_blocks), where a training and questions are answered as plain text (`thread:plain`);
  * fails transiently, on `--share` of all Web API calls, drawn from a seeded generator: 429 with Retry-After, an
    HTML 503, a slow answer, a dropped connection before the call is applied, and one dropped after it was applied
    (the message is posted or the chart shared, the answer lost: bot/slack_calls.py looks before posting again).
Stories: 4 trainings (status message, thread milestones, two charts, the result; one fails) driven by writing run
events, 30 questions (mentions), 10 feedback clicks and a Deploy click. For each story it prints where the outcome
reached the requester (channel, thread, ephemeral, response_url, DM), or that it is recorded with the reason, what
was lost (neither), what was posted twice, the most retries of one call, and the slowest acknowledgement.
Targets: nothing lost, nothing twice, no call retried past the cap (bot/slack_calls.py), every ack under 3 s.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("no_proxy", "127.0.0.1,localhost")

TOKEN, SECRET = "xoxb-chaos-token", "chaos-signing-secret"
OK, NOT_JOINED, ARCHIVED, PRIVATE, NO_BLOCKS = "CJOINED", "CNOTJOINED", "CARCHIVED", "GPRIVATE", "CNOBLOCKS"


def run(seed: int = 0, share: float = 0.2, retry_after: int = 0, questions: int = 30, clicks: int = 10,
        timeout: float = 60.0) -> dict:
    home = Path(tempfile.mkdtemp(prefix="ftbot-chaos-"))
    os.environ["FTBOT_HOME"] = str(home / "home")
    from bot import slack_calls
    from bot.listeners import Deps
    from bot.server import start
    from bot.settings import Settings
    from ops import slack_refusals
    from ops.access import Actor
    from storage import connect
    from storage import slack_messages as sent
    from tests.slack.driver import Driver
    from tests.slack.fake_slack import FakeSlack
    from tests.slack.helpers import FakeQA, add_dataset_row, add_run, finish_run, progress, start_run

    class Ops(FakeQA):
        def deploy(self, run_id, *, scope, actor):
            return {"run_id": run_id, "scope": scope}

    slack_calls.POLICY = slack_calls.Policy(base_s=0.02, max_backoff_s=0.2)
    slack_calls.STATS.reset()
    fake = FakeSlack(TOKEN).start()
    fake.not_member.add(NOT_JOINED)
    fake.archived.add(ARCHIVED)
    fake.refuse_blocks_in[NO_BLOCKS] = "invalid_blocks"   # Slack refuses the message itself, not the channel
    settings = Settings.from_env({"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
                                  "SLACK_API_URL": fake.api_url, "FTBOT_ADMINS": "UADMIN",
                                  "FTBOT_HOME": str(home / "home"), "FTBOT_SLACK_UPDATE_S": "0.2"})
    ops = Ops(settings.home)
    running = start(settings, "127.0.0.1", 0, embedded_worker=False, notify_poll_s=0.1,
                    deps=Deps(settings=settings, ops=ops))
    driver = Driver(running.url, SECRET, fake)
    acks: list[float] = []
    try:
        fake.chaos(share, seed, retry_after=retry_after)
        add_dataset_row(settings.home)
        art = home / "art"
        (art / "plots").mkdir(parents=True)
        for name in ("loss_curve", "confusion"):
            (art / "plots" / f"{name}.png").write_bytes(b"\x89PNG " + name.encode())
        trainings = [add_run(settings.home, channel=ch, user=u)
                     for ch, u in ((OK, "UT1"), (NOT_JOINED, "UT2"), (OK, "UT3"), (NO_BLOCKS, "UT4"))]
        for i, r in enumerate(trainings):
            start_run(settings.home, r["id"])
            for step in (3, 6, 9):
                progress(settings.home, r["id"], step)
            finish_run(settings.home, r["id"], status="failed" if i == 2 else "succeeded", artifact=str(art))
        running.notifier.wake()

        asked = []
        for i in range(questions):
            ch = ARCHIVED if i % 6 == 1 else PRIVATE if i % 6 == 2 else NO_BLOCKS if i % 6 == 3 else OK
            ts, res = driver.mention(f"question {i}: where is my card?", channel=ch, user=f"UQ{i:02d}")
            acks += [r[2] for r in res]
            asked.append({"story": f"question {i}", "channel": ch, "user": f"UQ{i:02d}", "ts": ts})
        qids = [ops.ask(f"old question {i}", actor=Actor(f"UC{i:02d}", "slack"), channel=NOT_JOINED)["question_id"]
                for i in range(clicks)]
        for i, qid in enumerate(qids):
            acks.append(_click(driver, fake, "qa_feedback_up" if i % 2 else "qa_feedback_down", str(qid), f"UC{i:02d}",
                               NOT_JOINED))
        acks.append(_click(driver, fake, "run_deploy", str(trainings[0]["id"]), "UADMIN", NOT_JOINED))

        stories = []

        def click_reached(user):
            return _click_path(fake, user) or any(f["user"] == user
                                                  for f in slack_refusals.failures(settings.home, "reply"))

        def settle():
            # every story told, not only recorded: a feedback is stored before its thanks goes out, and that reply
            # may still be retrying (or falling back to response_url) when the last feedback row lands
            with connect(settings.home) as db:
                pending = sent.runs_to_sync(db)
            return not pending and len(ops.feedbacks) == clicks and _deploy_seen(fake) and all(
                _answer_path(fake, q, settings.home, slack_refusals) for q in asked) and all(
                click_reached(f"UC{i:02d}") for i in range(clicks))
        end = time.monotonic() + timeout
        while time.monotonic() < end and not settle():
            time.sleep(0.2)
        time.sleep(0.5)
        fake.chaos(0.0)

        for r in trainings:
            stories.append(_training_story(fake, r, settings.home, slack_refusals))
        for q in asked:
            path = _answer_path(fake, q, settings.home, slack_refusals)
            stories.append({"story": q["story"], "requester": q["user"], "channel": q["channel"],
                            "reached_by": path or "lost", "lost": path is None})
        for i, qid in enumerate(qids):
            user = f"UC{i:02d}"
            path = _click_path(fake, user)
            recorded = [f for f in slack_refusals.failures(settings.home, "reply") if f["user"] == user]
            stories.append({"story": f"feedback click {i}", "requester": user, "channel": NOT_JOINED,
                            "reached_by": path or ("recorded: " + recorded[0]["error"] if recorded else "lost"),
                            "lost": path is None and not recorded})
        stories.append({"story": "deploy click", "requester": "UADMIN", "channel": NOT_JOINED,
                        "reached_by": _deploy_seen(fake) or "lost", "lost": not _deploy_seen(fake)})
        dup = _duplicates(fake)
        report = {
            "seed": seed, "share": share, "injected": dict(fake.injected), "stories": stories,
            "lost": sum(s["lost"] for s in stories), "duplicated": len(dup), "duplicates": dup[:5],
            "paths": dict(Counter(s["reached_by"].split(":")[0] for s in stories)),
            "calls": slack_calls.STATS.calls, "retries": slack_calls.STATS.retries,
            "max_retries_one_call": slack_calls.STATS.max_retries, "retry_cap": slack_calls.POLICY.max_retries,
            "gave_up_transient": slack_calls.STATS.unavailable, "refused": dict(slack_calls.STATS.refused),
            "max_ack_s": round(max(acks), 3) if acks else None,
        }
        return report
    finally:
        running.stop()
        fake.stop()


def _training_story(fake, r, home, slack_refusals) -> dict:
    from ops import runs as runs_ops
    row = runs_ops.status(home, r["id"])
    user, origin = row["origin"]["user"], row["origin"]["channel"]
    finals = [m for m in fake.messages if not m.get("thread_ts") and f"run #{r['id']} " in (m["text"] or "")
              and (row["status"] in m["text"] or "finished" in m["text"])]
    where = [m["channel"] for m in finals]
    # the status message: its text starts "run #N " — or, posted as plain words after Slack refused its blocks,
    # holds "*run #N ·"
    roots = {m["ts"] for m in fake.messages if not m.get("thread_ts") and m["channel"] in (origin, f"D{user}")
             and ((m["text"] or "").startswith(f"run #{r['id']} ") or f"*run #{r['id']} ·" in (m["text"] or ""))}
    thread = [m for m in fake.messages if m.get("thread_ts") in roots]
    charts = [f for f in fake.files.values() if f.get("by") == "bot" and f.get("shared") and f.get("thread_ts") in roots]
    path = ("channel" if origin in where else "dm" if f"D{user}" in where else None)
    if path and not any(m.get("blocks") for m in finals):
        path += ":plain"          # Slack refused the result's blocks: its words reached the channel
    return {"story": f"training run #{r['id']} ({row['status']})", "requester": user, "channel": origin,
            "reached_by": path or ("recorded: " + (row.get("delivery_problem") or "")
                                   if row.get("delivery_problem") else "lost"),
            "lost": path is None and not row.get("delivery_problem"), "problem": row.get("delivery_problem"),
            "thread_messages": len(thread), "charts": len(charts)}


def _answer_path(fake, q, home, slack_refusals) -> str | None:
    if got := [m for m in fake.channel_messages(q["channel"], thread_ts=q["ts"]) if "Freeze" in (m["text"] or "")]:
        return "thread" if got[0].get("blocks") else "thread:plain"
    if [m for m in fake.channel_messages("D" + q["user"]) if "Freeze" in (m["text"] or "")]:
        return "dm"
    rec = [f for f in slack_refusals.failures(home, "answer") if f["user"] == q["user"] and f["path"] == "none"]
    return ("recorded: " + rec[0]["error"]) if rec else None


def _click_path(fake, user) -> str | None:
    if [e for e in fake.ephemerals if e["user"] == user and "Thanks" in e["text"]]:
        return "ephemeral"
    if [r for r in fake.responses if r["tag"] == user and "Thanks" in (r.get("text") or "")]:
        return "response_url"
    if [m for m in fake.channel_messages("D" + user) if "Thanks" in (m["text"] or "")]:
        return "dm"
    return None


def _click(driver, fake, action_id: str, value: str, user: str, channel: str) -> float:
    """A button click whose response_url is tagged with the clicker (to tell whose answer came back that way)."""
    payload = {"type": "block_actions", "team": {"id": "T0001"}, "user": {"id": user, "team_id": "T0001"},
               "api_app_id": "A0001", "token": "legacy", "trigger_id": f"trig.{user}", "channel": {"id": channel},
               "container": {"type": "message", "channel_id": channel}, "message": {"ts": "1", "text": ""},
               "response_url": fake.response_url(user),
               "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value,
                            "action_ts": str(time.time())}]}
    return driver.interactive(payload)[2]


def _deploy_seen(fake) -> str | None:
    if [r for r in fake.responses if ":rocket:" in (r.get("text") or "")]:
        return "response_url"
    if [m for m in fake.messages if ":rocket:" in (m["text"] or "")]:
        return "channel"
    return None


def _duplicates(fake) -> list[str]:
    seen = Counter((m["channel"], m.get("thread_ts"), m["text"]) for m in fake.messages)
    files = Counter((f.get("channel"), f.get("thread_ts"), f.get("name")) for f in fake.files.values()
                    if f.get("by") == "bot" and f.get("shared"))
    resp = Counter((r["tag"], r.get("text")) for r in fake.responses)
    return ([f"{k[0]} {k[1] or ''}: {k[2][:60]!r} ×{n}" for k, n in seen.items() if n > 1]
            + [f"file {k} ×{n}" for k, n in files.items() if n > 1]
            + [f"response_url {k[0]} ×{n}" for k, n in resp.items() if n > 1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--share", type=float, default=0.2, help="share of Web API calls that fail transiently")
    p.add_argument("--retry-after", type=int, default=0, help="Retry-After seconds on injected 429s")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    import logging
    logging.basicConfig(level=logging.ERROR)    # the refusals are the point here; the report says them
    rep = run(a.seed, a.share, a.retry_after)
    if a.json:
        print(json.dumps(rep, sort_keys=True))
    else:
        print(f"chaos seed {rep['seed']}, {100 * rep['share']:.0f}% of calls failing transiently "
              f"(injected {rep['injected']})")
        for s in rep["stories"]:
            extra = f" · {s['thread_messages']} thread messages, {s['charts']} charts" if "charts" in s else ""
            print(f"  {s['story']:<34} → {s['requester']:<7} in {s['channel']:<10} by {s['reached_by']}{extra}")
        print(f"lost {rep['lost']} · posted twice {rep['duplicated']} {rep['duplicates'] or ''}· paths {rep['paths']}")
        print(f"calls {rep['calls']} · retries {rep['retries']} · most retries of one call {rep['max_retries_one_call']}"
              f" (cap {rep['retry_cap']}) · gave up {rep['gave_up_transient']} · refused {rep['refused']}"
              f" · slowest ack {rep['max_ack_s']}s")
    ok = rep["lost"] == 0 and rep["duplicated"] == 0 and rep["max_retries_one_call"] <= rep["retry_cap"] \
        and (rep["max_ack_s"] or 0) < 3
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
