"""Run → Slack sync without training: rows written straight into the database play the training process."""
import time

import pytest

from bot.notify.notifier import Notifier, notifier_client
from storage import connect
from storage import slack_messages as sent
from tests.slack.helpers import add_dataset_row, add_run, finish_run, progress, start_run


@pytest.fixture()
def run(home):
    add_dataset_row(home)
    return add_run(home)


def _plots(tmp_path):
    art = tmp_path / "art"
    (art / "plots").mkdir(parents=True)
    (art / "plots" / "loss_curve.png").write_bytes(b"\x89PNG loss")
    (art / "plots" / "confusion.png").write_bytes(b"\x89PNG confusion")
    return art


def test_full_story_and_restart_posts_nothing_twice(settings, fake, run, home, tmp_path):
    n = Notifier(settings)
    n.sync_once()
    status = fake.channel_messages("C0001", top_level=True)
    assert len(status) == 1 and "queued" in status[0]["text"]
    start_run(home, run["id"])
    progress(home, run["id"], 5)
    n.min_edit_s = 0
    n.sync_once()
    root = status[0]["ts"]
    assert "50%" in status[0]["blocks"][0]["text"]["text"] and "L_pre" in status[0]["blocks"][0]["text"]["text"]
    finish_run(home, run["id"], artifact=str(_plots(tmp_path)))
    n.sync_once()
    thread = [m["text"] for m in fake.channel_messages("C0001", thread_ts=root)]
    assert any("started" in t for t in thread) and any("evaluation" in t for t in thread)
    assert any("finished" in t for t in thread)
    uploaded = [f for f in fake.files.values() if f["by"] == "bot"]
    assert {f["name"] for f in uploaded} == {"loss_curve.png", "confusion.png"}
    assert all(f["thread_ts"] == root and f["channel"] == "C0001" for f in uploaded)
    top = fake.channel_messages("C0001", top_level=True)
    assert len(top) == 2 and "accuracy" in top[1]["text"]
    assert "*Baseline* (tfidf+logreg): accuracy 50.0%" in top[1]["blocks"][0]["text"]["text"]
    before = (len(fake.messages), len(fake.updates), len(fake.calls("files.completeUploadExternal")))
    # restart: a fresh notifier (new process, empty memory) over the same database
    n2 = Notifier(settings)
    n2.sync_once()
    n2.sync_once()
    assert (len(fake.messages), len(fake.updates), len(fake.calls("files.completeUploadExternal"))) == before
    with connect(home) as db:
        assert sent.runs_to_sync(db) == []


def test_edits_are_throttled(settings, fake, run, home):
    n = Notifier(settings)
    n.min_edit_s = 1.0
    start_run(home, run["id"])
    n.sync_once()
    for step in range(1, 6):
        progress(home, run["id"], step)
        n.sync_once()
    assert len(fake.updates) <= 1
    time.sleep(1.05)
    n.sync_once()
    assert 1 <= len(fake.updates) <= 2
    assert "50%" in fake.updates[-1]["text"] or "50%" in fake.updates[-1]["blocks"][0]["text"]["text"]


def test_429_retry_after_is_honoured_on_the_notifier_path(settings, fake, run):
    fake.rate_limit("chat.postMessage", times=2, retry_after=1)
    n = Notifier(settings, client=notifier_client(settings))
    t0 = time.monotonic()
    n.sync_once()
    elapsed = time.monotonic() - t0
    posts = fake.calls("chat.postMessage")
    assert len(posts) == 3                         # two 429s, then the post
    assert posts[1]["at"] - posts[0]["at"] >= 1.0  # waited Retry-After
    assert elapsed >= 2.0
    assert len(fake.messages) == 1                 # posted once


def test_429_never_delays_an_ack(driver, fake):
    fake.rate_limit("auth.test", times=5, retry_after=30)
    status, _, secs = driver.command("help")
    assert status == 200 and secs < 1.0


def test_failure_mentions_the_requester(settings, fake, run, home):
    n = Notifier(settings)
    start_run(home, run["id"])
    finish_run(home, run["id"], status="failed")
    n.sync_once()
    final = fake.channel_messages("C0001", top_level=True)[-1]
    assert "<@UADMIN>" in final["text"] and "out of memory" in final["text"]
    assert not [f for f in fake.files.values() if f["by"] == "bot"]
