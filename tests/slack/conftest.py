"""Fixtures: a fake Slack on 127.0.0.1, the real ftbot server (Bolt over HTTP) pointed at it, and a driver."""
from __future__ import annotations

import logging

import pytest

from bot.settings import Settings
from tests.slack.driver import Driver
from tests.slack.fake_slack import FakeSlack

BOT_TOKEN = "xoxb-test-0000-SECRETBOTTOKEN"
SIGNING_SECRET = "test-signing-secret-5f2e9a"
ADMIN = "UADMIN"


@pytest.fixture()
def fake():
    f = FakeSlack(BOT_TOKEN).start()
    yield f
    f.stop()


@pytest.fixture()
def settings(home, fake, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    return Settings.from_env({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                              "SLACK_API_URL": fake.api_url, "FTBOT_ADMINS": ADMIN, "FTBOT_HOME": str(home),
                              "FTBOT_DATA_DIR": str(data), "FTBOT_HUMAN_GROUP": "S0HUMANS",
                              "FTBOT_SLACK_UPDATE_S": "0.5"})


@pytest.fixture()
def server(settings):
    from bot.server import start
    running = start(settings, "127.0.0.1", 0, embedded_worker=False, notify_poll_s=0.2)
    yield running
    running.stop()


@pytest.fixture()
def driver(server, fake):
    return Driver(server.url, SIGNING_SECRET, fake)


@pytest.fixture()
def all_logs():
    """Every log record of every logger, formatted (to assert that no secret is ever logged)."""
    records: list[str] = []

    class H(logging.Handler):
        def emit(self, record):
            try:
                records.append(self.format(record))
            except Exception:  # noqa: BLE001
                records.append(str(record.msg))

    h = H(level=logging.DEBUG)
    h.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old = root.level
    root.addHandler(h)
    root.setLevel(logging.DEBUG)
    yield records
    root.removeHandler(h)
    root.setLevel(old)
