"""Listener groups, one module per feature. Each has `register(app, deps)`.

Rule for every listener: acknowledge first, then hand anything slow (database writes, model inference, dataset
checks, Slack calls that may wait) to `deps.background`, our own thread pool. Bolt's listener pool is small;
a listener that blocks it delays every other acknowledgement. Listeners reach the rest of ftbot only through
`deps.ops` (ops.facade.Operations: every command through `run`, which decides access from the command table) and
decide who acts with `deps.actor` (the access policy of ops/access.py).
"""
from __future__ import annotations

import logging
import traceback
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from engine.errors import FtbotError
from ops.access import Actor
from ops.facade import Operations
from storage.errors import StorageError

from bot.settings import Settings

log = logging.getLogger("ftbot.slack")

@dataclass
class Deps:
    """What listeners need. Tests may pass `ops` (a subclass of Operations with canned behaviour)."""

    settings: Settings
    ops: Operations | None = None
    executor: ThreadPoolExecutor | None = None
    notifier: Any = None

    def __post_init__(self):
        if self.ops is None:
            self.ops = Operations(self.settings.home)
        if self.executor is None:
            self.executor = ThreadPoolExecutor(max_workers=self.settings.workers, thread_name_prefix="ftbot-slow")

    @property
    def home(self):
        return self.settings.home

    def actor(self, user: str, channel: str | None = None) -> Actor:
        return self.settings.policy.slack(user, channel)

    def background(self, fn: Callable, *args, on_error: Callable[[str], None] | None = None, **kw) -> Future:
        """Run `fn` on our own pool. A domain error becomes `on_error(message)`; anything else is logged (with
        secrets masked) and reported as a short message with a reference the operator can grep for."""
        def run():
            try:
                return fn(*args, **kw)
            except (FtbotError, StorageError) as e:
                if on_error:
                    _safe(on_error, f":warning: {user_text(e)}", self.settings)
            except Exception as e:  # noqa: BLE001 — never let a bug kill the pool thread silently
                ref = uuid.uuid4().hex[:8]
                log.error("background task failed (ref %s): %s", ref,
                          self.settings.redact(f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
                if on_error:
                    _safe(on_error, f":x: something went wrong on our side (ref `{ref}`); the operators can look it up "
                                    "in the bot's log.", self.settings)
        return self.executor.submit(run)

    def reply(self, client, *, user: str | None, channel: str | None, kind: str = "reply", ref=None,
              thread_ts: str | None = None, response_url: str | None = None):
        """Where a reply after the ack goes, with retries and fallbacks (bot/slack_calls.py)."""
        from bot.slack_calls import Reply
        return Reply(client, self.home, user=user, channel=channel, kind=kind, ref=ref, thread_ts=thread_ts,
                     response_url=response_url, log_redact=self.settings.redact)

    def refuse(self, actor: Actor, action: str, target: str | None, say: Callable[[str], None], *,
               off_ack_path: bool = False, **detail) -> bool:
        """True (after telling `say` why and auditing the refusal) when `actor` may not `action`. On the ack path
        the audit row is written on the pool; a caller already off it (`off_ack_path=True`) writes it at once."""
        if actor.may(action):
            return False
        from ops.access import refusal
        if off_ack_path:
            self._audit_refusal(actor, action, target, detail)
        else:
            self.background(self._audit_refusal, actor, action, target, detail)
        say(f":lock: {refusal(action)}")
        return True

    def _audit_refusal(self, actor: Actor, action: str, target: str | None, detail: dict) -> None:
        try:
            self.ops.require(actor, action, target, **detail)
        except FtbotError:
            pass   # the refusal is what we expect; require() has written its audit row


def user_text(err) -> str:
    """A domain error as Slack may show it: mrkdwn-escaped (a name such as `<!channel>` stays text) and without
    server paths (ops/privacy.py)."""
    from ops.privacy import scrub_paths

    from bot.blocks import esc
    return esc(scrub_paths(str(err)))


def _safe(fn, msg, settings):
    try:
        fn(msg)
    except Exception as e:  # noqa: BLE001 — reporting an error must not raise another
        log.error("could not report an error to Slack: %s", settings.redact(str(e)))
