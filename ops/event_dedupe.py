"""Slack delivery de-duplication: one delivery → one action, across retries and restarts."""
from __future__ import annotations

from storage import connect, seen_events


def first_time(home, *keys: str) -> bool:
    """Record every key (event id, channel:ts); True only if none of them was seen before."""
    with connect(home) as db:
        return seen_events.first_time(db, *keys)
