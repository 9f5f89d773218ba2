"""A message is posted once even when the connection drops after Slack applied the post (bot/slack_calls.py
`_post_once`): the retry looks for the earlier post's delivery id before posting again. Real HTTP against the fake
Slack, whose `drop_after` applies a call and then drops the connection without an answer."""
import time

import pytest
from slack_sdk import WebClient

from bot import slack_calls
from ops import slack_refusals
from tests.slack.test_slack_calls_replies import qa, qdriver  # noqa: F401 — fixtures: the Bolt app over HTTP

from tests.slack.conftest import BOT_TOKEN as TOKEN


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(slack_calls, "POLICY", slack_calls.Policy(base_s=0.01, max_backoff_s=0.05))


@pytest.fixture()
def client(fake):
    return slack_calls.web_client(fake.token, fake.api_url, timeout=5)


def test_a_post_that_landed_before_the_drop_is_not_posted_again(fake, client):
    fake.drop_after("chat.postMessage")
    resp = slack_calls.call(client, "chat.postMessage", channel="C0001", text="run #3 finished")
    [msg] = fake.channel_messages("C0001")
    assert resp["ts"] == msg["ts"] and resp["channel"] == "C0001"        # the caller gets the real message's ts
    assert len(fake.calls("chat.postMessage")) == 1                      # neither slack_sdk nor we posted again
    [looked] = fake.calls("conversations.history")
    assert looked["params"]["include_all_metadata"] in (True, "true", "1", 1)
    assert msg["metadata"]["event_type"] == slack_calls.POST_EVENT
    assert slack_calls.STATS.max_retries >= 1


def test_in_a_thread_the_lookup_reads_the_thread(fake, client):
    parent = slack_calls.call(client, "chat.postMessage", channel="C0001", text="question")["ts"]
    fake.drop_after("chat.postMessage")
    resp = slack_calls.call(client, "chat.postMessage", channel="C0001", thread_ts=parent, text="answer")
    [msg] = fake.channel_messages("C0001", thread_ts=parent)
    assert resp["ts"] == msg["ts"] and msg["text"] == "answer"
    assert fake.calls("conversations.replies") and not fake.calls("conversations.history")


def test_in_a_busy_thread_the_lookup_reads_every_page(fake, client, monkeypatch):
    """The thread reads oldest first, so the lost answer is on its last page: the lookup follows the cursor."""
    monkeypatch.setattr(slack_calls, "LOOKUP_LIMIT", 4)
    parent = slack_calls.call(client, "chat.postMessage", channel="C0001", text="question")["ts"]
    for i in range(9):
        slack_calls.call(client, "chat.postMessage", channel="C0001", thread_ts=parent, text=f"progress {i}")
    fake.drop_after("chat.postMessage")
    slack_calls.call(client, "chat.postMessage", channel="C0001", thread_ts=parent, text="answer")
    assert [m["text"] for m in fake.channel_messages("C0001", thread_ts=parent)].count("answer") == 1
    pages = fake.calls("conversations.replies")
    assert len(pages) == 3 and pages[-1]["params"]["cursor"] == "8"     # 11 messages, 4 a page


def test_a_post_dropped_before_slack_applied_it_is_posted_by_the_retry(fake, client):
    fake.chaos(1.0, kinds=("drop",), methods={"chat.postMessage"})
    original = fake.api

    def heal_after_first(method, params, auth):          # the first attempt is dropped, unapplied; then Slack is back
        out = original(method, params, auth)
        if method == "chat.postMessage":
            fake.chaos(0.0)
        return out
    fake.api = heal_after_first
    resp = slack_calls.call(client, "chat.postMessage", channel="C0001", text="hello")
    [msg] = fake.channel_messages("C0001")
    assert resp["ts"] == msg["ts"] and len(fake.calls("chat.postMessage")) == 2
    assert len(fake.calls("conversations.history")) == 1                 # looked, found nothing, posted


def test_an_answer_from_slack_means_nothing_was_posted_no_lookup(fake, client):
    fake.rate_limit("chat.postMessage", times=1, retry_after=0)
    slack_calls.call(client, "chat.postMessage", channel="C0001", text="hello")
    assert len(fake.channel_messages("C0001")) == 1 and len(fake.calls("chat.postMessage")) == 2
    assert not fake.calls("conversations.history")


def test_when_the_lookup_is_refused_it_posts_again_rather_than_stay_silent(fake, client):
    fake.history_refused = True
    fake.drop_after("chat.postMessage")
    resp = slack_calls.call(client, "chat.postMessage", channel="C0001", text="hello")
    msgs = fake.channel_messages("C0001")
    assert len(msgs) == 2 and resp["ts"] == msgs[1]["ts"]               # a duplicate, never silence


def test_past_the_retry_cap_a_landed_post_is_still_found(fake, client, monkeypatch):
    """Every attempt drops after applying, with no lookup until the cap: the last look finds the message, so the
    caller's fallback (a DM) does not say it again."""
    monkeypatch.setattr(slack_calls, "POLICY", slack_calls.Policy(max_retries=0, base_s=0.01))
    fake.drop_after("chat.postMessage")
    resp = slack_calls.call(client, "chat.postMessage", channel="C0001", text="hello")
    [msg] = fake.channel_messages("C0001")
    assert resp["ts"] == msg["ts"]


def test_slack_sdk_alone_would_post_twice(fake):
    """Why the client is built by slack_calls.web_client: slack_sdk's default handler retries a dropped connection once
    by itself, and a post Slack had applied is then posted again."""
    plain = WebClient(token=TOKEN, base_url=fake.api_url, timeout=5)
    fake.drop_after("chat.postMessage")
    plain.chat_postMessage(channel="C0001", text="hello")
    assert len(fake.channel_messages("C0001")) == 2


def test_other_methods_keep_slack_sdks_retry_of_a_dropped_connection(fake, client):
    fake.chaos(1.0, kinds=("drop",), methods={"chat.update"})
    original = fake.api

    def heal_after_first(method, params, auth):
        out = original(method, params, auth)
        if method == "chat.update":
            fake.chaos(0.0)
        return out
    fake.api = heal_after_first
    ts = client.chat_postMessage(channel="C0001", text="v1")["ts"]
    client.chat_update(channel="C0001", ts=ts, text="v2")               # no policy around it: slack_sdk retried
    assert fake.channel_messages("C0001")[0]["text"] == "v2" and len(fake.calls("chat.update")) == 2


def test_an_answer_whose_post_dropped_after_landing_appears_once(qdriver, fake, home):
    """The whole app: a question in a channel, the answer's connection dropped after Slack posted it."""
    fake.drop_after("chat.postMessage")
    ts, _ = qdriver.mention("where is my card?")
    fake.wait_for(lambda: fake.channel_messages("C0001", thread_ts=ts), 5, "the answer")
    time.sleep(0.5)                                                   # a second post would come within the backoff
    assert len(fake.channel_messages("C0001", thread_ts=ts)) == 1
    assert not fake.channel_messages("DUADMIN") and not slack_refusals.failures(home, "answer")


def test_a_chart_whose_share_dropped_after_landing_is_shared_once(fake, client, tmp_path):
    png = tmp_path / "loss_curve.png"
    png.write_bytes(b"\x89PNG fake bytes")
    parent = slack_calls.call(client, "chat.postMessage", channel="C0001", text="run #3")["ts"]
    fake.drop_after("files.completeUploadExternal")
    resp = slack_calls.call(client, "files_upload_v2", channel="C0001", thread_ts=parent, file=str(png),
                         filename=png.name, title="Loss curve")
    shared = [f for f in fake.files.values() if f.get("shared") and f.get("channel") == "C0001"]
    assert len(shared) == 1 and shared[0]["content"] == png.read_bytes() and shared[0]["thread_ts"] == parent
    assert resp["file"]["id"] == shared[0]["id"]
    assert len(fake.calls("files.completeUploadExternal")) == 1 and fake.calls("files.info")


def test_a_chart_whose_share_was_not_applied_is_shared_by_the_retry(fake, client, tmp_path):
    png = tmp_path / "confusion.png"
    png.write_bytes(b"\x89PNG other bytes")
    fake.rate_limit("files.completeUploadExternal", times=1, retry_after=0)
    resp = slack_calls.call(client, "files_upload_v2", channel="C0001", file=str(png), filename=png.name, title="c")
    shared = [f for f in fake.files.values() if f.get("shared") and f.get("channel") == "C0001"]
    assert len(shared) == 1 and resp["file"]["id"] == shared[0]["id"]
    assert not fake.calls("files.info")                        # Slack answered 429: nothing to look for


def test_an_upload_keeps_its_comment_and_refuses_what_it_cannot_pass_on(fake, client):
    """Content instead of a file, and the comment Slack shows with it, reach Slack; an argument the three-step upload
    does not carry is refused at once rather than silently dropped."""
    resp = slack_calls.call(client, "files_upload_v2", channel="C0001", content="label,n\ncard,3\n",
                         filename="counts.csv", initial_comment="per-label counts")
    rec = fake.files[resp["file"]["id"]]
    assert rec["shared"] and rec["content"] == b"label,n\ncard,3\n" and rec["name"] == "counts.csv"
    assert rec["initial_comment"] == "per-label counts"
    before = len(fake.calls("files.getUploadURLExternal"))
    with pytest.raises(TypeError, match="channels"):
        slack_calls.call(client, "files_upload_v2", channels=["C0001"], content="x", filename="x.txt")
    assert len(fake.calls("files.getUploadURLExternal")) == before      # refused before anything was sent


def test_a_post_to_a_user_id_goes_to_the_dm_and_is_looked_up_there(fake, client):
    """chat.postMessage(channel=U…) lands in the bot's DM with that user, readable only by its D… id: the post goes
    to that id (conversations.open), so a drop after Slack applied it is found, not repeated."""
    fake.drop_after("chat.postMessage")
    resp = slack_calls.call(client, "chat.postMessage", channel="UBOSS", text="your run finished")
    [msg] = fake.channel_messages("DUBOSS")
    assert resp["ts"] == msg["ts"] and resp["channel"] == "DUBOSS"
    assert len(fake.calls("chat.postMessage")) == 1 and fake.calls("conversations.history")


# ---- views.open: a trigger opens one form ----------------------------------------------------------------------
def test_a_form_that_opened_before_the_drop_is_reported_open(fake, client):
    """The connection drops after Slack opened the form; the repeat is refused with exchanged_trigger_id, which after
    a lost answer means the form is on the user's screen: the caller hears success, and nothing opened twice."""
    fake.drop_after("views.open")
    resp = slack_calls.call(client, "views.open", trigger_id="trig.x", view={"type": "modal", "title":
                         {"type": "plain_text", "text": "t"}, "blocks": []})
    assert resp["ok"] and resp["opened_by_lost_attempt"]
    assert len(fake.views) == 1 and len(fake.calls("views.open")) == 2    # slack_sdk did not repeat it on its own


def test_an_exchanged_trigger_without_a_lost_answer_is_a_refusal(fake, client):
    view = {"type": "modal", "title": {"type": "plain_text", "text": "t"}, "blocks": []}
    slack_calls.call(client, "views.open", trigger_id="trig.y", view=view)
    with pytest.raises(slack_calls.Refused) as err:
        slack_calls.call(client, "views.open", trigger_id="trig.y", view=view)
    assert err.value.error == "exchanged_trigger_id" and len(fake.views) == 1


def test_slash_train_form_opened_before_the_drop_says_no_warning(qdriver, fake, home):
    """The whole app: `/ft train` opens the form, the answer is lost; the user sees the form once and no
    'the form could not open' reply."""
    from tests.slack.helpers import add_dataset_row
    add_dataset_row(home, "banking")
    fake.drop_after("views.open")
    status, _, _ = qdriver.command("train", tag="form")
    assert status == 200
    fake.wait_for(lambda: len(fake.calls("views.open")) >= 2, 5, "the repeat of views.open")
    time.sleep(0.5)                                                   # a warning would be posted right after
    assert len(fake.views) == 1
    assert not [r for r in fake.responses if "could not open" in str(r)]
