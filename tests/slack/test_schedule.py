"""`/ft schedule`: admins add and remove recurring jobs that report to the channel; everyone may list."""
from storage import connect
from storage import schedules
from tests.slack.conftest import ADMIN
from tests.slack.helpers import add_dataset_row


def test_schedule_add_list_remove(driver, fake, home):
    add_dataset_row(home)
    status, _, _ = driver.command("schedule add retrain banking 0 6 * * 1", user=ADMIN)
    assert status == 200
    fake.wait_for(lambda: any(":calendar:" in r["text"] for r in fake.responses), 10, "schedule reply")
    with connect(home) as db:
        rows = schedules.list_all(db)
    assert [(r["kind"], r["target"], r["cron"], r["channel"], r["created_by"]) for r in rows] == [
        ("retrain", "banking", "0 6 * * 1", "C0001", ADMIN)]

    driver.command("schedule list", user="UNOBODY")
    fake.wait_for(lambda: any(rows[0]["id"] in r["text"] and "retrain" in r["text"] for r in fake.responses), 10,
                  "list reply")

    status, body, _ = driver.command(f"schedule remove {rows[0]['id']}", user="UNOBODY")
    assert b"Only ftbot admins" in body
    driver.command(f"schedule remove {rows[0]['id']}", user=ADMIN)
    fake.wait_for(lambda: any(":wastebasket:" in r["text"] for r in fake.responses), 10, "remove reply")
    with connect(home) as db:
        assert schedules.list_all(db) == []


def test_bad_cron_is_named(driver, fake, home):
    add_dataset_row(home)
    driver.command("schedule add retrain banking 99 6 * * 1", user=ADMIN)
    fake.wait_for(lambda: any("cron" in r["text"] for r in fake.responses), 10, "cron error")
    with connect(home) as db:
        assert schedules.list_all(db) == []


def test_schedule_list_shows_only_the_callers_channel(driver, fake, home):
    """A schedule reports to one channel: its name, target and cron are that channel's business."""
    add_dataset_row(home)
    driver.command("schedule add retrain banking 0 6 * * 1", user=ADMIN, channel="CHOME")
    fake.wait_for(lambda: any(":calendar:" in r["text"] for r in fake.responses), 10, "schedule reply")
    with connect(home) as db:
        sid = schedules.list_all(db)[0]["id"]
    n = len(fake.responses)
    driver.command("schedule list", user="UOUTSIDER", channel="COTHER")
    fake.wait_for(lambda: len(fake.responses) > n, 10, "list reply")
    shown = " ".join(r["text"] for r in fake.responses[n:])
    assert sid not in shown and "banking" not in shown
    n = len(fake.responses)
    driver.command("schedule list", user="UMEMBER", channel="CHOME")
    fake.wait_for(lambda: any(sid in r["text"] for r in fake.responses[n:]), 10, "list in the home channel")
