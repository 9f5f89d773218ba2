"""Replies after the ack when the workspace says no: retried when it is transient, another path when it is
permanent, recorded either way. Also the form's 3-second window, the word "payload" and schedule results."""
import threading
import time

import pytest

from bot import slack_calls
from bot.listeners import Deps
from bot.server import start
from ops import slack_refusals
from storage import connect
from storage import schedules as schedules_table
from tests.slack.conftest import ADMIN, SIGNING_SECRET
from tests.slack.driver import Driver
from tests.slack.helpers import FakeQA, add_dataset_row, service_with


class SlowQA(FakeQA):
    """Canned answers; `list_runs` and `deploy` as an operations layer under load would behave."""

    slow_s = 0.0

    def list_runs(self, limit=15):
        time.sleep(self.slow_s)
        return []

    def deploy(self, run_id, *, scope, actor):
        return {"run_id": run_id, "scope": scope}

    def request_deploy(self, run_id, *, scope, actor):   # FTBOT_DEPLOY_APPROVAL=optional: deployed at once
        return {"status": "deployed", **self.deploy(run_id, scope=scope, actor=actor)}


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(slack_calls, "POLICY", slack_calls.Policy(base_s=0.01, max_backoff_s=0.05))


@pytest.fixture()
def qa():
    return SlowQA()


@pytest.fixture()
def qdriver(settings, qa, fake):
    running = start(settings, "127.0.0.1", 0, embedded_worker=False, notifier=False,
                    deps=Deps(settings=settings, ops=service_with(qa, settings.home)))
    yield Driver(running.url, SIGNING_SECRET, fake)
    running.stop()


def test_a_command_containing_the_word_payload_is_answered(qdriver, fake, qa):
    status, _, _ = qdriver.command("ask what is the payload limit for a SEPA transfer?", tag="pl")
    assert status == 200
    fake.wait_for(lambda: [r for r in fake.responses if r["tag"] == "pl" and r.get("response_type") == "in_channel"],
                  5, "answer")
    assert qa.asked[0]["question"] == "what is the payload limit for a SEPA transfer?"


def test_the_form_opens_within_3s_while_slow_commands_fill_the_pool(qdriver, fake, qa, home):
    add_dataset_row(home)
    qa.slow_s = 6.0
    threads = [threading.Thread(target=qdriver.command, args=("runs",)) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t0 = time.monotonic()
    status, _, secs = qdriver.command("train")
    assert status == 200 and secs < 3
    opened = fake.wait_for(lambda: fake.calls("views.open"), 5, "views.open")
    assert opened[0]["at"] - t0 < 3.0
    # the slow commands still answer, each once (and not after the fake Slack has gone, into the log)
    fake.wait_for(lambda: len(fake.responses) >= 5 or None, 20, "the five slow replies")


def test_feedback_click_in_a_channel_the_bot_never_joined_reaches_the_clicker(qdriver, fake, qa, home):
    from ops.access import Actor
    fake.not_member.add("CNOTJOINED")
    qid = qa.ask("where is my card?", actor=Actor("UASK", "slack"), channel="CNOTJOINED")["question_id"]
    qdriver.click("qa_feedback_up", str(qid), user="UASK", channel="CNOTJOINED")
    fake.wait_for(lambda: [r for r in fake.responses if "Thanks" in r.get("text", "")], 5, "thanks via response_url")
    [f] = fake.wait_for(lambda: slack_refusals.failures(home, "reply"), 5, "failure row")  # recorded after the fallback
    assert (f["error"], f["path"], f["method"]) == ("not_in_channel", "response_url", "chat.postEphemeral")
    assert qa.feedbacks == [(qid, "UASK", 1)]


def test_deploy_click_in_a_channel_the_bot_never_joined(qdriver, fake):
    fake.not_member.add("CNOTJOINED")
    qdriver.click("run_deploy", "7", user=ADMIN, channel="CNOTJOINED")
    r = fake.wait_for(lambda: [r for r in fake.responses if ":rocket:" in r.get("text", "")], 5, "deploy note")
    assert r[0]["response_type"] == "in_channel"


def test_answer_in_a_refusing_channel_goes_to_the_asker_by_dm(qdriver, fake, home):
    fake.archived.add("CARCH")
    ts, _ = qdriver.mention("where is my card?", channel="CARCH", user="UASK")
    dm = fake.wait_for(lambda: fake.channel_messages("DUASK"), 5, "DM")
    assert "Freeze your card" in dm[0]["text"]
    assert "is_archived" in dm[0]["blocks"][0]["elements"][0]["text"]
    [f] = fake.wait_for(lambda: slack_refusals.failures(home, "answer"), 5, "failure row")  # recorded after the DM
    assert (f["error"], f["path"]) == ("is_archived", "dm")


def test_an_answer_whose_blocks_slack_refuses_arrives_as_plain_text(qdriver, fake, home):
    """Slack refuses the message itself (invalid_blocks): every path would refuse it alike, so the same path carries
    the words without blocks; the failure is recorded with that path — not silence, not a DM of the same blocks."""
    fake.refuse_blocks = "invalid_blocks"
    ts, _ = qdriver.mention("where is my card?")
    [msg] = fake.wait_for(lambda: fake.channel_messages("C0001", thread_ts=ts), 5, "the plain answer")
    assert "Freeze your card" in msg["text"] and not msg["blocks"]
    [f] = fake.wait_for(lambda: slack_refusals.failures(home, "answer"), 5, "failure row")
    assert (f["error"], f["path"]) == ("invalid_blocks", "channel:plain")
    assert not fake.channel_messages("DUADMIN")


def test_a_command_reply_whose_blocks_are_refused_by_the_response_url_arrives_as_plain_text(qdriver, fake, home):
    """A response_url refuses as webhooks do (HTTP 400, `invalid_blocks` as the body)."""
    add_dataset_row(home, "banking")
    fake.refuse_blocks = "invalid_blocks"
    qdriver.command("datasets", tag="h")
    [r] = fake.wait_for(lambda: [r for r in fake.responses if r["tag"] == "h"], 5, "the plain reply")
    assert "banking" in r["text"] and "blocks" not in r          # the blocks' words, not only the gist
    [f] = fake.wait_for(lambda: slack_refusals.failures(home), 5, "failure row")
    assert (f["error"], f["path"]) == ("invalid_blocks", "response_url:plain")


def test_a_response_url_that_refuses_with_200_and_ok_false_is_a_refusal(fake):
    """A Slack-handed URL answering 200 with {"ok": false, "error": …}: slack_calls.respond raises the refusal instead of
    reporting a delivery (real HTTP to the fake's response_url)."""
    fake.refuse_blocks, fake.response_url_refuses_with_200 = "invalid_blocks", True
    with pytest.raises(slack_calls.Refused) as err:
        slack_calls.respond(fake.response_url("r"), text="hi", blocks=[{"type": "divider"}])
    assert err.value.error == "invalid_blocks" and err.value.message_level
    assert not fake.responses


def test_429_on_an_answer_is_retried_not_dropped(qdriver, fake):
    fake.rate_limit("chat.postMessage", times=2, retry_after=0)
    ts, _ = qdriver.mention("where is my card?")
    fake.wait_for(lambda: fake.channel_messages("C0001", thread_ts=ts), 5, "answer after 429s")
    time.sleep(0.3)
    assert len(fake.calls("chat.postMessage")) == 3
    assert len(fake.channel_messages("C0001", thread_ts=ts)) == 1


def test_private_channel_replies_in_an_answer_thread_are_answered(qdriver, fake, qa):
    ts, _ = qdriver.mention("where is my card?", channel="GPRIV")
    fake.wait_for(lambda: fake.channel_messages("GPRIV", thread_ts=ts), 5, "first answer")
    # a plain reply in that thread, as a private channel's message.groups event
    qdriver.event({"type": "message", "channel_type": "group", "channel": "GPRIV", "user": "UADMIN",
                   "text": "and my pin?", "ts": "1710000099.000001", "thread_ts": ts})
    fake.wait_for(lambda: len(fake.channel_messages("GPRIV", thread_ts=ts)) == 2, 5, "answer to the reply")
    assert [a["question"] for a in qa.asked] == ["where is my card?", "and my pin?"]


def test_a_reply_also_sent_to_the_channel_is_answered_once(qdriver, fake, qa):
    """A thread reply with "Also send to #channel" ticked arrives as a message of subtype thread_broadcast: a user's
    question like any reply (not an edit or a system message), answered in the thread once."""
    ts, _ = qdriver.mention("where is my card?")
    fake.wait_for(lambda: fake.channel_messages("C0001", thread_ts=ts), 5, "first answer")
    qdriver.event({"type": "message", "subtype": "thread_broadcast", "channel_type": "channel", "channel": "C0001",
                   "user": "UADMIN", "text": "and my pin?", "ts": "1710000099.000002", "thread_ts": ts,
                   "root": {"ts": ts, "user": "UADMIN", "text": "<@UBOT> where is my card?"}})
    fake.wait_for(lambda: len(fake.channel_messages("C0001", thread_ts=ts)) == 2, 5, "answer to the broadcast reply")
    time.sleep(0.3)
    assert [a["question"] for a in qa.asked] == ["where is my card?", "and my pin?"]
    assert len(fake.channel_messages("C0001", thread_ts=ts)) == 2


def test_ask_answers_in_the_channel_and_in_a_thread_only_when_slack_names_one(qdriver, fake):
    qdriver.command("ask where is my card?", tag="plain")
    fake.wait_for(lambda: [r for r in fake.responses if r["tag"] == "plain" and r["response_type"] == "in_channel"],
                  5, "answer in the channel")
    qdriver.command("ask where is my card?", extra={"thread_ts": "1700000000.000777"})
    fake.wait_for(lambda: fake.channel_messages("C0001", thread_ts="1700000000.000777"), 5, "answer in thread")


def test_serve_posts_schedule_failures_to_the_schedule_channel(settings, fake, home):
    with connect(home) as db:
        schedules_table.add(db, id="retrain-gone", kind="retrain", target="no-such-dataset", cron="0 6 * * 1",
                            created_by=ADMIN, channel="CSCHED")
    running = start(settings, "127.0.0.1", 0, embedded_worker=True, notifier=False)
    try:
        assert running.worker is not None and running.worker.notify is not None
        running.worker._scheduler._fire("retrain-gone")
        msg = fake.wait_for(lambda: fake.channel_messages("CSCHED"), 10, "schedule failure post")
        assert "schedule `retrain-gone`" in msg[0]["text"] and "failed" in msg[0]["text"]
    finally:
        running.stop()


def test_manifest_grants_private_channel_replies_and_dms():
    from pathlib import Path

    import yaml
    root = Path(__file__).resolve().parents[2]
    m = yaml.safe_load((root / "deploy" / "manifest.yml").read_text())
    scopes = m["oauth_config"]["scopes"]["bot"]
    assert {"groups:history", "im:write"} <= set(scopes)
    assert "message.groups" in m["settings"]["event_subscriptions"]["bot_events"]
    doc = (root / "docs" / "slack.md").read_text()
    assert "groups:history" in doc and "im:write" in doc
