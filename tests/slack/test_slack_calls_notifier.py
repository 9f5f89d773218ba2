"""The notifier when the workspace says no: a permanent refusal is never retried, the requester hears by DM, the run
records why; transient errors are retried within the cap."""
import json

import pytest

from bot import slack_calls
from bot.notify.notifier import Notifier
from ops import slack_refusals
from ops import runs as runs_ops
from storage import connect
from storage import slack_messages as sent
from tests.slack.helpers import add_dataset_row, add_run, finish_run, progress, start_run


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(slack_calls, "POLICY", slack_calls.Policy(base_s=0.01, max_backoff_s=0.05))
    slack_calls.STATS.reset()


@pytest.fixture()
def run(home):
    add_dataset_row(home)
    return add_run(home, channel="CNOTJOINED", user="UREQ")


def _channel_calls(fake, channel):
    return [c for c in fake.log if c["params"].get("channel") == channel or c["params"].get("channel_id") == channel]


@pytest.mark.parametrize("refusal", ["not_member", "archived", "gone"])
def test_refused_channel_moves_the_story_to_a_dm_and_stops_knocking(settings, fake, run, home, refusal, capsys):
    getattr(fake, refusal).add("CNOTJOINED")
    n = Notifier(settings)
    n.min_edit_s = 0
    n.sync_once()
    error = {"not_member": "not_in_channel", "archived": "is_archived", "gone": "channel_not_found"}[refusal]
    assert len(_channel_calls(fake, "CNOTJOINED")) == 1           # tried once, never retried
    dm = fake.channel_messages("DUREQ")
    assert dm and f"could not post to <#CNOTJOINED>: {error}" in dm[0]["text"]
    assert any("queued" in m["text"] for m in dm)                  # the status message, in the DM
    start_run(home, run["id"])
    progress(home, run["id"], 5)
    finish_run(home, run["id"])
    for _ in range(3):
        n.sync_once()
    Notifier(settings).sync_once()                                  # a restart does not knock again
    assert len(_channel_calls(fake, "CNOTJOINED")) == 1
    top = fake.channel_messages("DUREQ", top_level=True)
    assert any("finished" in m["text"] and "accuracy" in m["text"] for m in top)   # the result reached them
    texts = [m["text"] for m in fake.channel_messages("DUREQ")]
    assert len(texts) == len(set(texts))                            # nothing posted twice
    row = runs_ops.status(home, run["id"])
    assert row["delivery_problem"].startswith(f"could not post to <#CNOTJOINED>: {error}")
    assert row["delivery_channel"] == "DUREQ"
    with connect(home) as db:
        assert sent.runs_to_sync(db) == []
    [f] = slack_refusals.failures(home, "run", run["id"])
    assert (f["error"], f["path"], f["user"]) == (error, "dm", "UREQ")
    # `ftbot status --json` and `/ft status` say it
    from bot.blocks import run_status
    from bot.cli import main
    assert main(["status", str(run["id"]), "--json", "--home", str(home)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["delivery_problem"] == row["delivery_problem"]
    text = json.dumps(run_status(row)[1])
    assert f"could not post to <#CNOTJOINED>: {error}" in text


def test_dm_refused_too_ends_the_story_with_the_reason(settings, fake, run, home):
    fake.not_member.add("CNOTJOINED")
    fake.dm_refused.add("UREQ")
    n = Notifier(settings)
    for _ in range(3):
        n.sync_once()
    Notifier(settings).sync_once()
    assert len(_channel_calls(fake, "CNOTJOINED")) == 1
    assert len(fake.calls("conversations.open")) == 1
    row = runs_ops.status(home, run["id"])
    assert "not_in_channel" in row["delivery_problem"] and "user_disabled" in row["delivery_problem"]
    with connect(home) as db:
        assert sent.runs_to_sync(db) == []
    assert [f["path"] for f in slack_refusals.failures(home, "run", run["id"])] == ["none"]


def test_transient_errors_are_retried_within_the_cap(settings, fake, home):
    add_dataset_row(home)
    run = add_run(home)
    fake.chaos(0.5, seed=3, kinds=("5xx", "drop", "429"))
    n = Notifier(settings)
    for _ in range(20):
        n.sync_once()
        if fake.channel_messages("C0001", top_level=True):
            break
    assert len(fake.channel_messages("C0001", top_level=True)) == 1
    assert slack_calls.STATS.max_retries <= slack_calls.POLICY.max_retries
    assert sum(fake.injected.values()) >= 1
    assert runs_ops.status(home, run["id"])["delivery_problem"] is None


def test_a_result_whose_blocks_slack_refuses_is_posted_as_its_words(settings, fake, home):
    """Slack refuses the final message's blocks (invalid_blocks): the channel still gets the result with its figures
    (the blocks' words, plain), once; the refusal is recorded with path 'plain'."""
    add_dataset_row(home)
    run = add_run(home)
    fake.refuse_blocks = "invalid_blocks"
    n = Notifier(settings)
    n.min_edit_s = 0
    start_run(home, run["id"])
    finish_run(home, run["id"])
    n.sync_once()
    n.sync_once()
    top = fake.channel_messages("C0001", top_level=True)
    final = [m for m in top if "Baseline" in m["text"]]
    assert len(final) == 1 and not final[0]["blocks"]
    assert "accuracy 50.0%" in final[0]["text"]                   # the figures, not only "`/ft status` has the details"
    assert {f["path"] for f in slack_refusals.failures(home, "run", run["id"])} == {"plain"}
