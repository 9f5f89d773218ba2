"""One delivery → one action: retries and the app_mention + message pair answer once. Threads, DMs, feedback."""
import time

import pytest

from bot.listeners import Deps
from bot.server import start
from storage import connect
from tests.slack.conftest import SIGNING_SECRET
from tests.slack.driver import Driver
from tests.slack.helpers import FakeQA, service_with


@pytest.fixture()
def qa():
    return FakeQA()


@pytest.fixture()
def qserver(settings, qa):
    running = start(settings, "127.0.0.1", 0, embedded_worker=False, notifier=False,
                    deps=Deps(settings=settings, ops=service_with(qa, settings.home)))
    yield running
    running.stop()


@pytest.fixture()
def qdriver(qserver, fake):
    return Driver(qserver.url, SIGNING_SECRET, fake)


def test_mention_pair_and_retries_answer_once(qdriver, fake, qa):
    ts, res = qdriver.mention("where is my card?")
    assert [r[0] for r in res] == [200, 200]
    fake.wait_for(lambda: fake.channel_messages("C0001", thread_ts=ts), 5, "answer")
    # Slack retries the same event (same event_id) and re-sends the message event
    body_event = {"type": "app_mention", "user": "UADMIN", "text": "<@UBOT> where is my card?", "ts": ts,
                  "channel": "C0001"}
    qdriver.event(body_event, event_id="EvSAME", retry_num=None)
    qdriver.event(body_event, event_id="EvSAME", retry_num=1)
    qdriver.event(body_event, event_id="EvSAME", retry_num=2)
    time.sleep(1.0)
    assert len(qa.asked) == 1
    answers = fake.channel_messages("C0001", thread_ts=ts)
    assert len(answers) == 1
    assert "Freeze your card" in answers[0]["text"]
    assert qa.asked[0]["question"] == "where is my card?" and qa.asked[0]["scope"] == "C0001"


def test_dedupe_survives_restart(settings, fake, qa):
    ev = {"type": "app_mention", "user": "UADMIN", "text": "<@UBOT> hi there", "ts": "1710000000.5", "channel": "C1"}
    for _ in range(2):
        running = start(settings, "127.0.0.1", 0, embedded_worker=False, notifier=False,
                        deps=Deps(settings=settings, ops=service_with(qa, settings.home)))
        try:
            Driver(running.url, SIGNING_SECRET, fake).event(ev, event_id="EvRESTART")
            time.sleep(0.8)
        finally:
            running.stop()
    assert len(qa.asked) == 1


def test_dm_uses_default_scope_and_answer_has_buttons(qdriver, fake, qa):
    qdriver.event({"type": "message", "channel_type": "im", "user": "U2", "text": "lost my card 😱",
                   "ts": "1710000001.000100", "channel": "D0001"})
    msg = fake.wait_for(lambda: fake.channel_messages("D0001"), 5, "DM answer")[0]
    assert qa.asked[0]["scope"] == "default"
    actions = [b for b in msg["blocks"] if b["type"] == "actions"][0]
    assert [e["action_id"] for e in actions["elements"]] == ["qa_feedback_up", "qa_feedback_down"]
    # 👍 stores feedback
    qid = actions["elements"][0]["value"]
    qdriver.click("qa_feedback_up", qid, user="U2", channel="D0001")
    fake.wait_for(lambda: qa.feedbacks, 5, "feedback")


def test_plain_channel_messages_are_ignored_but_thread_replies_are_questions(qdriver, fake, qa):
    qdriver.event({"type": "message", "channel_type": "channel", "user": "U2", "text": "lunch?",
                   "ts": "1710000002.000100", "channel": "C0001"})
    ts, _ = qdriver.mention("how do I top up?")
    # the thread is the bot's answer thread once the answer is posted: only then is a plain reply a question
    fake.wait_for(lambda: fake.channel_messages("C0001", thread_ts=ts), 5, "first answer")
    qdriver.event({"type": "message", "channel_type": "channel", "user": "U2", "text": "and with a card?",
                   "ts": "1710000003.000100", "thread_ts": ts, "channel": "C0001"})
    fake.wait_for(lambda: len(qa.asked) == 2, 5, "follow-up in the answer thread")
    time.sleep(0.3)
    assert [a["question"] for a in qa.asked] == ["how do I top up?", "and with a card?"]
    assert len(fake.channel_messages("C0001", thread_ts=ts)) == 2


def test_low_confidence_offers_a_human(settings, fake):
    qa = FakeQA(confidence=0.2)
    running = start(settings, "127.0.0.1", 0, embedded_worker=False, notifier=False,
                    deps=Deps(settings=settings, ops=service_with(qa, settings.home)))
    try:
        d = Driver(running.url, SIGNING_SECRET, fake)
        ts, _ = d.mention("something odd")
        msg = fake.wait_for(lambda: fake.channel_messages("C0001", thread_ts=ts), 5, "answer")[0]
        flat = " ".join(b["text"]["text"] for b in msg["blocks"] if b["type"] == "section")
        assert "<!subteam^S0HUMANS>" in flat
    finally:
        running.stop()


def test_questions_in_a_run_thread_ask_that_run(qdriver, fake, qa, home):
    from storage import slack_messages
    from tests.slack.helpers import add_dataset_row, add_run
    add_dataset_row(home)
    run = add_run(home)
    with connect(home) as db:
        slack_messages.reserve(db, f"run:{run['id']}:status", "C0001", run_id=run["id"])
        slack_messages.record(db, f"run:{run['id']}:status", "1700000000.000777")
    qdriver.mention("I lost my card", thread_ts="1700000000.000777")
    qdriver.command("ask where is my card?", extra={"thread_ts": "1700000000.000777"})
    fake.wait_for(lambda: len(qa.asked) == 2, 5, "two questions")
    assert [a["run_id"] for a in qa.asked] == [run["id"], run["id"]]
    # the answer is posted right after the model is asked: wait for it rather than race it
    fake.wait_for(lambda: len(fake.channel_messages("C0001", thread_ts="1700000000.000777")) == 2, 5, "two answers")
