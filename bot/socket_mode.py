"""Socket Mode: Slack delivers commands, events and interactivity over a WebSocket the bot opens, instead of
POSTing to a public URL — for a bot behind a firewall. `ftbot serve --socket-mode` (DESIGN: an option, not the
default). The same Bolt app and listeners serve both; HTTP keeps serving /healthz.

slack_bolt's built-in handler needs no extra package: it opens the socket URL from `apps.connections.open`
(called with the app-level token, SLACK_APP_TOKEN, at SLACK_API_URL) and acknowledges each envelope.
"""
from __future__ import annotations

import logging

from bot.settings import Settings
from engine.errors import ConfigError

log = logging.getLogger(__name__)


def check_app_token(settings: Settings) -> None:
    if not settings.app_token:
        raise ConfigError("SLACK_APP_TOKEN", "", "an app-level token (xapp-…) with connections:write, from the app's "
                          "Basic Information page; Socket Mode needs it")
    if not settings.app_token.startswith("xapp-"):
        raise ConfigError("SLACK_APP_TOKEN", "(hidden)", "an app-level token, which starts with xapp- (the bot token "
                          "starts with xoxb- and goes in SLACK_BOT_TOKEN)")


def connect(app, settings: Settings):
    """Open the socket and return the handler (`close()` it to stop). The caller has run check_app_token first
    (bot/server.py, before anything starts)."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    handler = SocketModeHandler(app, app_token=settings.app_token, web_client=app.client)
    handler.connect()
    log.info("ftbot connected to Slack in Socket Mode")
    return handler
