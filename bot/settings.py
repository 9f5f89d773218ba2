"""Slack-side settings, read once from the environment and validated.

Secrets (bot token, signing secret, app token) are kept out of `repr()` and never logged: `redact()` masks
them in any text that is about to be shown or logged.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from engine.errors import ConfigError
from ops.access import Policy

SLACK_API_DEFAULT = "https://slack.com/api/"


def _secret(help: str):
    return field(default="", repr=False, metadata={"help": help, "secret": True})


def _f(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    bot_token: str = _secret("SLACK_BOT_TOKEN: the bot user OAuth token (xoxb-…)")
    signing_secret: str = _secret("SLACK_SIGNING_SECRET: verifies that requests come from Slack")
    app_token: str = _secret("SLACK_APP_TOKEN: app-level token (xapp-…), Socket Mode only")
    api_url: str = _f(SLACK_API_DEFAULT, "SLACK_API_URL: base URL of the Slack Web API, ending in /api/")
    policy: Policy = _f(Policy(), "FTBOT_ADMINS / FTBOT_APPROVERS: who may act (ops/access.py)")
    home: Path = _f(Path(".ftbot"), "FTBOT_HOME: folder with the database and all artifacts")
    data_dir: Path | None = _f(None, "FTBOT_DATA_DIR: server folder from which `dataset add NAME PATH` may read")
    human_group: str | None = _f(None, "FTBOT_HUMAN_GROUP: Slack user group id mentioned when the model is unsure")
    update_interval_s: float = _f(3.0, "FTBOT_SLACK_UPDATE_S: minimum seconds between edits of a status message")
    max_upload_bytes: int = _f(50_000_000, "FTBOT_MAX_UPLOAD_BYTES: largest data file accepted from Slack")
    workers: int = _f(4, "FTBOT_SLACK_WORKERS: threads for slow work behind acknowledged commands")
    http_threads: int = _f(16, "FTBOT_HTTP_THREADS: threads that run HTTP requests (`ftbot serve`); a fixed pool, "
                               "and a connection still sending its request holds none")
    http_connection_limit: int = _f(2000, "FTBOT_HTTP_CONNECTIONS: most open HTTP connections; beyond it new ones "
                                          "wait in the listen backlog (each is an open file)")
    http_read_timeout_s: int = _f(10, "FTBOT_HTTP_READ_TIMEOUT_S: seconds a client has to send a whole request "
                                      "(headers and body), and the longest a connection may sit silent")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> "Settings":
        env = os.environ if env is None else env
        g = lambda k, d=None: (env.get(k) or "").strip() or d  # noqa: E731
        api_url = g("SLACK_API_URL", SLACK_API_DEFAULT)
        if not api_url.endswith("/"):
            api_url += "/"
        data_dir = g("FTBOT_DATA_DIR")
        values = dict(
            bot_token=g("SLACK_BOT_TOKEN", ""), signing_secret=g("SLACK_SIGNING_SECRET", ""),
            app_token=g("SLACK_APP_TOKEN", ""), api_url=api_url,
            policy=Policy.from_env(env),
            home=Path(g("FTBOT_HOME", ".ftbot")).expanduser().resolve(),
            data_dir=Path(data_dir).expanduser().resolve() if data_dir else None,
            human_group=g("FTBOT_HUMAN_GROUP"),
            update_interval_s=_num("FTBOT_SLACK_UPDATE_S", g("FTBOT_SLACK_UPDATE_S", "3"), float, 0, 3600),
            max_upload_bytes=_num("FTBOT_MAX_UPLOAD_BYTES", g("FTBOT_MAX_UPLOAD_BYTES", "50000000"), int, 1, 10**11),
            workers=_num("FTBOT_SLACK_WORKERS", g("FTBOT_SLACK_WORKERS", "4"), int, 1, 256),
            http_threads=_num("FTBOT_HTTP_THREADS", g("FTBOT_HTTP_THREADS", "16"), int, 1, 256),
            http_connection_limit=_num("FTBOT_HTTP_CONNECTIONS", g("FTBOT_HTTP_CONNECTIONS", "2000"), int, 10, 100_000),
            http_read_timeout_s=_num("FTBOT_HTTP_READ_TIMEOUT_S", g("FTBOT_HTTP_READ_TIMEOUT_S", "10"), int, 1, 3600),
        )
        values.update(overrides)
        s = cls(**values)
        s.validate()
        return s

    def validate(self) -> None:
        if not self.bot_token:
            raise ConfigError("SLACK_BOT_TOKEN", "", "the bot token (xoxb-…) from the app's OAuth & Permissions page")
        if not self.signing_secret:
            raise ConfigError("SLACK_SIGNING_SECRET", "", "the signing secret from the app's Basic Information page")
        if not (self.api_url.startswith("http://") or self.api_url.startswith("https://")):
            raise ConfigError("SLACK_API_URL", self.api_url, "an http(s) URL ending in /api/")

    @property
    def admins(self) -> frozenset:
        return self.policy.admins

    def is_admin(self, user: str) -> bool:
        """Slack trusts nobody by default: an empty FTBOT_ADMINS means no admins (the rule is ops/access.py's)."""
        return self.policy.slack(user).is_admin

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.bot_token, self.signing_secret, self.app_token) if s)

    def redact(self, text: str) -> str:
        """`text` with every secret replaced, for logs and user messages."""
        for s in self.secrets:
            text = text.replace(s, "[redacted]")
        return text


def _num(key: str, raw: str, kind, lo, hi):
    try:
        v = kind(raw)
    except ValueError:
        raise ConfigError(key, raw, "a whole number" if kind is int else "a number") from None
    if not lo <= v <= hi:
        raise ConfigError(key, raw, f"a number in [{lo}, {hi}]")
    return v
