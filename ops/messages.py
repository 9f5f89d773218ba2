"""What the bot posted to Slack for each run, keyed by purpose (run:7:status, run:7:event:42, run:7:final, …), so a
restarted notifier finds what was sent and posts nothing twice. The notifier (bot/notify) reads and writes it here."""
from __future__ import annotations

from dataclasses import dataclass

from storage import connect, events
from storage import runs as runs_table
from storage import slack_messages as sent


@dataclass
class RunStory:
    run: dict
    events: list[dict]          # eval and milestone events, in order
    sent: dict[str, dict]       # key → row of what was already posted (with a ts)
    previous: dict | None       # the previous succeeded run on the same dataset (for the result's comparison)


def runs_to_sync(home) -> list[int]:
    with connect(home) as db:
        return sent.runs_to_sync(db)


def story(home, run_id: int) -> RunStory:
    with connect(home) as db:
        run = runs_table.get(db, run_id)
        evs = [e for e in events.list_for(db, run_id) if e["kind"] in ("eval", "milestone")]
        posted = {r["key"]: r for r in sent.for_run(db, run_id) if r["ts"]}
        prev = runs_table.previous_succeeded(db, run["dataset"], run_id) if run["status"] == "succeeded" else None
    return RunStory(run, evs, posted, prev)


def get(home, key: str) -> dict | None:
    with connect(home) as db:
        return sent.get(db, key)


def reserve(home, key: str, channel: str, run_id: int | None = None, thread_ts: str | None = None) -> bool:
    """Claim the right to post `key`; False if it was posted (or is being posted) already."""
    with connect(home) as db:
        return sent.reserve(db, key, channel, run_id=run_id, thread_ts=thread_ts)


def record(home, key: str, ts: str, content_hash: str | None = None) -> None:
    with connect(home) as db:
        sent.record(db, key, ts, content_hash)


def release(home, key: str) -> None:
    """Forget a reservation whose post failed, so it can be tried again."""
    with connect(home) as db:
        sent.release(db, key)
