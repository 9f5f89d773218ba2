"""Least privilege over real HTTP: a non-admin sees only the channel where they ask — runs, datasets, dataset show,
status, compare, App Home — and no server paths; admins see everything; refused and failed admin actions land in
the audit log."""
from __future__ import annotations

import json

from storage import audit, connect
from tests.slack.conftest import ADMIN
from tests.slack.helpers import add_dataset_row, add_run
from tests.slack.privacy_helpers import deployed_run, failed_run, set_dataset_channel

PATH_ERROR = "OSError: [Errno 28] No space left on device: '/home/ml/.ftbot/runs/.3.tmp/model/adapter.safetensors'"


def _setup(home):
    """C0001 (public) and G0SECRET (private): a dataset, a run and a deployment each; a failed run in C0001."""
    add_dataset_row(home, "public_ds")
    set_dataset_channel(home, "public_ds", "C0001")
    add_dataset_row(home, "secret_ds")
    set_dataset_channel(home, "secret_ds", "G0SECRET")
    mine = deployed_run(home, dataset="public_ds", channel="C0001", make_dataset=False)
    secret = deployed_run(home, dataset="secret_ds", channel="G0SECRET", make_dataset=False)
    failed = failed_run(home, dataset="public_ds", channel="C0001", error=PATH_ERROR)
    return mine, secret, failed


def _reply(fake, driver, text, user="UNOBODY", channel="C0001"):
    n = len(fake.responses)
    driver.command(text, user=user, channel=channel)
    fake.wait_for(lambda: len(fake.responses) > n, 10, f"reply to {text}")
    return json.dumps(fake.responses[n], ensure_ascii=False)


def test_non_admin_sees_only_this_channel(driver, fake, home):
    mine, secret, failed = _setup(home)
    runs = _reply(fake, driver, "runs")
    assert f"#{mine['id']}`" in runs and f"#{failed['id']}`" in runs and f"#{secret['id']}`" not in runs
    datasets = _reply(fake, driver, "datasets")
    assert "public_ds" in datasets and "secret_ds" not in datasets
    shown = _reply(fake, driver, "dataset show secret_ds")
    assert "no dataset named" in shown and "public_ds" not in shown       # no list of other names either
    assert "Labels" in _reply(fake, driver, "dataset show public_ds")
    status = _reply(fake, driver, f"status {secret['id']}")
    assert f"no run #{secret['id']} in this channel" in status and "secret_ds" not in status
    cmp_ = _reply(fake, driver, f"compare {mine['id']} {secret['id']}")
    assert "no run" in cmp_ and "secret_ds" not in cmp_
    assert "Compare run" in _reply(fake, driver, f"compare {mine['id']} {failed['id']}")


def test_admin_sees_every_channel(driver, fake, home):
    mine, secret, _ = _setup(home)
    runs = _reply(fake, driver, "runs", user=ADMIN)
    assert f"#{mine['id']}`" in runs and f"#{secret['id']}`" in runs
    assert "secret_ds" in _reply(fake, driver, "datasets", user=ADMIN)
    assert "secret_ds" in _reply(fake, driver, f"status {secret['id']}", user=ADMIN)


def test_failed_run_error_shown_to_a_non_admin_has_a_reference_not_a_path(driver, fake, home):
    _, _, failed = _setup(home)
    status = _reply(fake, driver, f"status {failed['id']}")
    assert "/home/" not in status and ".ftbot" not in status and "No space left" not in status
    assert f"run-{failed['id']}" in status
    admin_view = _reply(fake, driver, f"status {failed['id']}", user=ADMIN)
    assert "No space left" in admin_view and "/home/ml" not in admin_view   # Slack never shows server paths


def test_app_home_of_a_non_admin_hides_private_channels(driver, fake, home):
    mine, secret, _ = _setup(home)
    driver.event({"type": "app_home_opened", "user": "UNOBODY", "channel": "D0NOBODY", "tab": "home"})
    view = json.dumps(fake.wait_for(lambda: fake.published, 10, "home published")[-1])
    assert "G0SECRET" not in view and f"#{secret['id']}" not in view and "secret_ds" not in view
    driver.event({"type": "app_home_opened", "user": ADMIN, "channel": "D0ADMIN", "tab": "home"})
    fake.wait_for(lambda: len(fake.published) >= 2, 10, "admin home published")
    admin = json.dumps(fake.published[-1])
    assert "G0SECRET" in admin and f"#{secret['id']}" in admin


def test_dataset_registered_in_slack_records_its_channel(driver, fake, home, settings):
    from tests.slack.data import cards_csv
    (settings.data_dir / "cards.csv").write_bytes(cards_csv(pii=False))
    driver.command("dataset add cards cards.csv", channel="G0TEAM")
    fake.wait_for(lambda: [r for r in fake.responses if "registered" in r.get("text", "")], 30, "registered")
    with connect(home) as db:
        assert db.execute("SELECT channel FROM datasets WHERE name = 'cards'").fetchone()[0] == "G0TEAM"
    assert "cards" in _reply(fake, driver, "datasets", channel="G0TEAM")
    assert "cards" not in _reply(fake, driver, "datasets", channel="C0001")


def _audit(home):
    with connect(home) as db:
        return audit.recent(db, 100)


def test_refused_and_failed_admin_actions_over_slack_are_audited(driver, fake, home):
    add_dataset_row(home)
    run = add_run(home)
    driver.command(f"deploy {run['id']}", user="UNOBODY")                 # refused
    driver.command(f"deploy {run['id']}", user=ADMIN)                     # allowed, fails: run not finished
    fake.wait_for(lambda: len([a for a in _audit(home) if a["action"] == "deploy"]) == 2, 10, "two audit rows")
    rows = {a["actor"]: a for a in _audit(home) if a["action"] == "deploy"}
    assert rows["UNOBODY"]["ok"] == 0 and rows["UNOBODY"]["detail"]["reason"] == "not an admin"
    assert rows[ADMIN]["ok"] == 0 and "queued" in rows[ADMIN]["detail"]["error"]
    assert rows[ADMIN]["detail"]["via"] == "slack"
