"""Slack refusals, recorded: a run whose channel refused says why (shown by `/ft status`, `ftbot status`) and where
its story goes instead; every reply that reached its requester only by a fallback path (response_url, DM), or not at
all, leaves a row. The policy that decides (retry or not, which path) is the Slack edge's: bot/slack_calls.py."""
from __future__ import annotations

from storage import connect
from storage import slack_refusals as table


def run_refused(home, run_id: int, problem: str, fallback_channel: str | None) -> None:
    """The run's channel refused permanently: remember why, and the channel (a DM) its story continues in."""
    with connect(home) as db:
        table.set_run_problem(db, run_id, problem, fallback_channel)


def record(home, *, kind: str, ref, channel: str | None, user: str | None, method: str, error: str,
           path: str) -> int:
    with connect(home) as db:
        return table.add(db, kind=kind, ref=ref, channel=channel, user=user, method=method, error=error, path=path)


def failures(home, kind: str | None = None, ref=None) -> list[dict]:
    with connect(home) as db:
        return table.list_all(db, kind, ref)
