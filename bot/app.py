"""Build the Bolt app: one WebClient pointed at SLACK_API_URL, then each listener group's `register(app, deps)`."""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App

from bot.slack_calls import web_client
from bot.listeners import Deps, commands, feedback, files, home, modal, promotion, qa
from bot.settings import Settings

GROUPS = (commands, modal, qa, feedback, home, files, promotion)


def build_app(settings: Settings, deps: Deps | None = None) -> tuple[App, Deps]:
    deps = deps or Deps(settings=settings)
    # No rate-limit retry handler here: a 429 must never hold up an acknowledgement (the notifier has its own).
    client = web_client(settings.bot_token, settings.api_url, timeout=10)
    app = App(
        client=client,
        signing_secret=settings.signing_secret,
        # auth.test runs lazily on the first request instead of at import time, so the server starts offline.
        token_verification_enabled=False,
        request_verification_enabled=True,       # never off: forged or stale requests get 401
        logger=logging.getLogger("ftbot.bolt"),
        # Bolt's listeners only parse and ack; a wider pool keeps 50 simultaneous commands from queueing.
        listener_executor=ThreadPoolExecutor(max_workers=16, thread_name_prefix="bolt-listener"),
    )
    for group in GROUPS:
        group.register(app, deps)
    return app, deps
