"""Tokens and signing secrets never reach logs or messages; the home tab lists runs and deployments."""
import json
import time

from bot.settings import Settings
from tests.slack.conftest import BOT_TOKEN, SIGNING_SECRET
from tests.slack.helpers import add_dataset_row, add_run


def test_settings_repr_hides_secrets(settings):
    text = repr(settings) + str(settings)
    assert BOT_TOKEN not in text and SIGNING_SECRET not in text
    assert settings.redact(f"x {BOT_TOKEN} y") == "x [redacted] y"


def test_settings_errors_name_the_variable():
    import pytest
    from engine.errors import ConfigError
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1"})
    with pytest.raises(ConfigError, match="FTBOT_SLACK_UPDATE_S"):
        Settings.from_env({"SLACK_BOT_TOKEN": "x", "SLACK_SIGNING_SECRET": "y", "FTBOT_SLACK_UPDATE_S": "soon"})
    s = Settings.from_env({"SLACK_BOT_TOKEN": "x", "SLACK_SIGNING_SECRET": "y", "SLACK_API_URL": "http://h/api"})
    assert s.api_url == "http://h/api/" and s.admins == frozenset()
    assert not s.is_admin("U1")   # Slack trusts nobody by default


def test_no_secret_in_debug_logs(driver, fake, home, all_logs):
    add_dataset_row(home)
    driver.command("runs")
    driver.command("train banking lr=oops")
    driver.command("status 99")
    driver.event({"type": "app_home_opened", "user": "UADMIN", "channel": "D1", "tab": "home"})
    driver.command("runs", secret="forged")
    fake.wait_for(lambda: len(fake.responses) >= 2 and fake.published, 10, "replies")
    time.sleep(0.3)
    logged = "\n".join(all_logs)
    assert "chat" in logged or "views.publish" in logged or len(all_logs) > 0
    assert BOT_TOKEN not in logged and SIGNING_SECRET not in logged
    sent = json.dumps([c["params"] for c in fake.log], default=str) + json.dumps(fake.responses)
    assert BOT_TOKEN not in sent and SIGNING_SECRET not in sent


def test_home_tab_lists_runs_and_deployments(driver, fake, home):
    add_dataset_row(home)
    run = add_run(home)
    from storage import connect, deployments
    with connect(home) as db:
        deployments.deploy(db, "C0001", run["id"], "UADMIN")
    # an admin's home lists every channel's work (a member's shows the default deployment only:
    # tests/slack/test_privacy_scope.py)
    driver.event({"type": "app_home_opened", "user": "UADMIN", "channel": "D1", "tab": "home"})
    view = fake.wait_for(lambda: fake.published, 10, "views.publish")[0]
    assert view["user_id"] == "UADMIN"
    text = json.dumps(view["view"])
    assert f"#{run['id']}" in text and "<#C0001>" in text and "Deployments" in text
