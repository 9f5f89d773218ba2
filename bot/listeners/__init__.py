"""Listener groups, one module per feature. Each has `register(app, deps)`.

Rule for every listener: acknowledge first, then hand anything slow (database writes, model inference, dataset
checks, Slack calls that may wait) to `deps.background`, our own thread pool. Bolt's listener pool is small;
a listener that blocks it delays every other acknowledgement.
"""
from __future__ import annotations

import logging
import traceback
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable

from engine.errors import FtbotError
from storage.errors import StorageError

from bot.settings import Settings

log = logging.getLogger("ftbot.slack")

# Actions only admins may take (the names match bot.service.auth.ADMIN_ACTIONS and the audit log).
ADMIN_COMMANDS = {"dataset.add": "dataset.add", "train": "train", "cancel": "cancel", "deploy": "deploy",
                  "eval": "eval", "schedule.add": "schedule", "schedule.remove": "schedule"}


def default_service() -> SimpleNamespace:
    from bot.service import datasets, qa, runs
    return SimpleNamespace(datasets=datasets, runs=runs, qa=qa)


@dataclass
class Deps:
    """What listeners need. Tests may swap `service` for a fake with the same functions."""

    settings: Settings
    service: Any = field(default_factory=default_service)
    executor: ThreadPoolExecutor | None = None
    notifier: Any = None

    def __post_init__(self):
        if self.executor is None:
            self.executor = ThreadPoolExecutor(max_workers=self.settings.workers, thread_name_prefix="ftbot-slow")

    @property
    def home(self):
        return self.settings.home

    def background(self, fn: Callable, *args, on_error: Callable[[str], None] | None = None, **kw) -> Future:
        """Run `fn` on our own pool. A domain error becomes `on_error(message)`; anything else is logged (with
        secrets masked) and reported as a short message with a reference the operator can grep for."""
        def run():
            try:
                return fn(*args, **kw)
            except (FtbotError, StorageError) as e:
                if on_error:
                    _safe(on_error, f":warning: {e}", self.settings)
            except Exception as e:  # noqa: BLE001 — never let a bug kill the pool thread silently
                ref = uuid.uuid4().hex[:8]
                log.error("background task failed (ref %s): %s", ref,
                          self.settings.redact(f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
                if on_error:
                    _safe(on_error, f":x: something went wrong on our side (ref `{ref}`); the operators can look it up "
                                    "in the bot's log.", self.settings)
        return self.executor.submit(run)

    def audit(self, actor: str, action: str, target: str | None = None, ok: bool = True, **detail) -> None:
        from storage import audit, connect
        try:
            with connect(self.home) as db:
                audit.log(db, actor, action, target, ok=ok, detail={"via": "slack", **detail})
        except StorageError as e:
            log.error("could not write the audit log: %s", e)

    def refusal(self, action: str) -> str:
        return (f":lock: Only ftbot admins may {action.replace('.', ' ')}. Ask an admin (listed in FTBOT_ADMINS) "
                "to do it or to add you.")


def _safe(fn, msg, settings):
    try:
        fn(msg)
    except Exception as e:  # noqa: BLE001 — reporting an error must not raise another
        log.error("could not report an error to Slack: %s", settings.redact(str(e)))
