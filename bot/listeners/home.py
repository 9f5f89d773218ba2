"""App Home tab: recent runs and the deployments, published on app_home_opened."""
from __future__ import annotations

from storage import connect, deployments

from bot import blocks
from bot.listeners import Deps


def register(app, deps: Deps) -> None:
    @app.event("app_home_opened")
    def on_home(event, client):
        if event.get("tab", "home") != "home":
            return
        deps.background(publish, deps, client, event["user"])


def publish(deps: Deps, client, user: str) -> None:
    runs = deps.service.runs.list_recent(deps.home, limit=10)
    with connect(deps.home) as db:
        deps_ = deployments.list_active(db)
    client.views_publish(user_id=user, view=blocks.home_view(runs, deps_, deps.settings.is_admin(user)))
