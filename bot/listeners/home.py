"""App Home tab: recent runs and the deployments, published on app_home_opened."""
from __future__ import annotations

from bot import blocks
from bot.listeners import Deps


def register(app, deps: Deps) -> None:
    @app.event("app_home_opened")
    def on_home(event, client):
        if event.get("tab", "home") != "home":
            return
        deps.background(publish, deps, client, event["user"])


def publish(deps: Deps, client, user: str) -> None:
    # No channel here: a non-admin sees the workspace default deployment only (ops/visibility.py).
    actor = deps.actor(user)
    runs = deps.ops.list_runs(limit=10, actor=actor)
    from bot.slack_calls import call
    call(client, "views.publish", user_id=user, view=blocks.home_view(runs, deps.ops.deployments(actor=actor),
                                                                     actor.is_admin))
