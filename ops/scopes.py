"""Where a model answers: the workspace's `default` scope, or a Slack channel of its own."""
from __future__ import annotations

DEFAULT_SCOPE = "default"


def scope_for(channel: str | None) -> str:
    """A channel (C… public, G… private) is its own scope; DMs and everything else use the workspace default."""
    return channel if channel and channel[:1] in ("C", "G") else DEFAULT_SCOPE
