"""`ftbot serve --socket-mode`: the real Bolt Socket Mode handler opens a WebSocket (URL from apps.connections.open,
asked with the app-level token) to our fake, acknowledges each envelope and runs the same listeners."""
from __future__ import annotations

import time

import pytest

from bot.settings import Settings
from engine.errors import ConfigError
from tests.slack.conftest import ADMIN, BOT_TOKEN, SIGNING_SECRET
from tests.slack.fake_socket import FakeSocketMode

APP_TOKEN = "xapp-1-A0001-0000-SECRETAPPTOKEN"


def _settings(home, fake, app_token: str) -> Settings:
    return Settings.from_env({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                              "SLACK_APP_TOKEN": app_token, "SLACK_API_URL": fake.api_url, "FTBOT_ADMINS": ADMIN,
                              "FTBOT_HOME": str(home)})


@pytest.fixture()
def no_proxy(monkeypatch):
    # the Socket Mode client takes HTTPS_PROXY from the environment and would tunnel the loopback socket through it
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_commands_and_mentions_arrive_over_the_socket(home, fake, no_proxy, all_logs):
    from bot.server import start

    sock = FakeSocketMode()
    fake.app_token, fake.socket_url = APP_TOKEN, sock.url
    running = start(_settings(home, fake, APP_TOKEN), "127.0.0.1", 0, embedded_worker=False, notifier=False,
                    socket_mode=True)
    try:
        assert sock.connected.wait(10)
        assert fake.calls("apps.connections.open")
        sent = time.monotonic()
        env = sock.send_envelope("slash_commands", {
            "token": "legacy", "team_id": "T0001", "channel_id": "C0001", "user_id": ADMIN, "command": "/ft",
            "text": "help", "response_url": fake.response_url("sock1"), "trigger_id": "trig.s1", "api_app_id": "A0001"})
        ack = sock.ack_for(env)
        assert time.monotonic() - sent < 3
        assert "Training keys" in ack["payload"]["text"] and ack["payload"]["response_type"] == "ephemeral"

        ev = sock.send_envelope("events_api", {
            "token": "legacy", "team_id": "T0001", "api_app_id": "A0001", "type": "event_callback",
            "event_id": "EvSOCK1", "event_time": int(time.time()),
            "authorizations": [{"team_id": "T0001", "user_id": "UBOT", "is_bot": True}],
            "event": {"type": "app_mention", "user": ADMIN, "text": "<@UBOT> where is my card?",
                      "ts": "1710000000.900001", "channel": "C0001", "event_ts": "1710000000.900001"}})
        sock.ack_for(ev)
        reply = fake.wait_for(lambda: [m for m in fake.channel_messages("C0001", thread_ts="1710000000.900001")],
                              what="the answer in the mention's thread")
        assert "no model is deployed" in reply[0]["text"]
    finally:
        running.stop()
        sock.stop()
    assert not any(APP_TOKEN in line or BOT_TOKEN in line for line in all_logs)


@pytest.mark.parametrize("token, needle", [("", "SLACK_APP_TOKEN"), ("xoxb-wrong-kind", "starts with xapp-")])
def test_socket_mode_without_an_app_token_is_a_clear_error(home, fake, token, needle):
    from bot.server import start
    with pytest.raises(ConfigError, match=needle) as e:
        start(_settings(home, fake, token), "127.0.0.1", 0, embedded_worker=False, notifier=False, socket_mode=True)
    assert "xoxb-wrong-kind" not in str(e.value)
