"""Champion–challenger over real HTTP with the fake Slack: shadow answers stored but unseen, A/B on request with
feedback per model, the report on a planted case (chart in the thread), four-eyes promotion with buttons, expiry,
rollback and the audit trail. Models are planted (tests/ops/planted.py): their answers are known in advance."""
from __future__ import annotations

import pytest
from slack_sdk.models.blocks import Block

from bot.settings import Settings
from ops import challengers, firing, schedules
from storage import connect
from tests.ops.planted import Planted, install, setup_runs
from tests.slack.conftest import BOT_TOKEN, SIGNING_SECRET

CH = "C0001"
ADMIN, BOB, CAROL = "UADMIN", "UBOB", "UCAROL"      # BOB approves; CAROL is neither admin nor approver
KNOWN = [("I lost my card in the bus", "lost_card", "lost_card"),
         ("what is the euro rate", "exchange_rate", "exchange_rate"),
         ("my top-up did not arrive", "top_up", "exchange_rate"),
         ("card missing, call +44 20 7946 0958", "lost_card", "top_up"),
         ("fx rate for pounds", "exchange_rate", "exchange_rate")]
N_AGREE = 3


@pytest.fixture()
def settings(home, fake, tmp_path):
    return Settings.from_env({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                              "SLACK_API_URL": fake.api_url, "FTBOT_ADMINS": ADMIN, "FTBOT_APPROVERS": f"{ADMIN},{BOB}",
                              "FTBOT_HOME": str(home), "FTBOT_SLACK_UPDATE_S": "0.5"})


@pytest.fixture()
def models(home, tmp_path, monkeypatch):
    champ_run, chall_run = setup_runs(home, tmp_path, n=2)
    champ = Planted({q: a for q, a, _ in KNOWN}, confidence=0.9)
    chall = Planted({q: b for q, _, b in KNOWN}, confidence=0.7)
    install(monkeypatch, {champ_run["artifact_path"]: champ, chall_run["artifact_path"]: chall})
    return champ_run["id"], chall_run["id"]


def valid(blocks):
    for b in blocks or []:
        Block.parse(b).validate_json()
    return blocks


def flat(m) -> str:
    """The fake's readable text plus section fields (the A/B answers sit side by side in fields)."""
    from tests.slack.fake_slack import _flat
    fields = [f["text"] for b in m.get("blocks") or [] if isinstance(b, dict) for f in b.get("fields") or []]
    return " ⏎ ".join([_flat(m)] + fields)


def channel_text(fake, needle: str, **kw):
    return fake.wait_for(lambda: next((m for m in fake.channel_messages(CH, **kw) if needle in flat(m)), None),
                         what=needle)


def response(fake, needle: str):
    return fake.wait_for(lambda: next((r for r in list(fake.responses) if needle in flat(r)), None), what=needle)


def ephemeral(fake, user: str, needle: str):
    return fake.wait_for(lambda: next((e for e in list(fake.ephemerals) if e["user"] == user and needle in flat(e)),
                                      None), what=needle)


def audit(home, action):
    with connect(home) as db:
        return [dict(r) for r in db.query("SELECT actor, ok, detail FROM audit WHERE action = ? ORDER BY id", [action])]


def ask(driver, fake, question: str) -> dict:
    ts, _ = driver.mention(question, channel=CH)
    return fake.wait_for(lambda: next((m for m in fake.channel_messages(CH, thread_ts=ts)), None), what="answer")


def start(driver, fake, champ, chall):
    driver.command(f"deploy {champ}", channel=CH)
    response(fake, f"run #{champ} now answers")
    driver.command(f"challenge {chall}", channel=CH)
    response(fake, f"run #{chall} now challenges run #{champ}")


def test_challenger_answers_are_stored_unseen_and_shown_side_by_side_on_request(driver, fake, home, models):
    champ, chall = models
    start(driver, fake, champ, chall)
    q, champ_says, chall_says = KNOWN[3]
    answer = ask(driver, fake, q)
    assert f"`{champ_says}`" in flat(answer) and "Challenger" not in flat(answer)     # askers see the champion
    assert challengers.drain(10)
    with connect(home) as db:
        shadow = dict(next(iter(db.query("SELECT * FROM shadow_answers"))))
    assert (shadow["intent"], shadow["run_id"], shadow["shown"]) == (chall_says, chall, 0)

    driver.event({"type": "message", "user": BOB, "text": "ab", "ts": "1710000099.000001", "channel": CH,
                  "thread_ts": answer["thread_ts"], "channel_type": "channel"})
    ab = channel_text(fake, "A/B", thread_ts=answer["thread_ts"])
    valid(ab["blocks"])
    assert f"`{champ_says}`" in flat(ab) and f"`{chall_says}`" in flat(ab) and "disagree" in flat(ab)
    actions = {e["action_id"]: e["value"] for b in ab["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert set(actions) == {"qa_feedback_up", "qa_feedback_down", "ab_feedback_up", "ab_feedback_down"}

    driver.click("ab_feedback_up", actions["ab_feedback_up"], user=BOB, channel=CH)
    driver.click("qa_feedback_down", actions["qa_feedback_down"], user=BOB, channel=CH)
    ephemeral(fake, BOB, "noted for the challenger")
    fake.wait_for(lambda: challengers.report(home, CH, labelled=False)["ab"]["champion"]["down"] == 1, what="vote")
    rep = challengers.report(home, CH, labelled=False)
    assert rep["ab"] == {"questions": 1, "champion": {"up": 0, "down": 1}, "challenger": {"up": 1, "down": 0}}

    driver.command("ask --ab what is the euro rate", user=CAROL, channel=CH)     # any tester, via the command
    r = response(fake, "A/B")
    valid(r["blocks"])
    assert "they agree" in flat(r) and flat(r).count("`exchange_rate`") == 2


def test_report_figures_on_a_planted_case_with_a_chart_in_the_thread(driver, fake, home, models):
    champ, chall = models
    start(driver, fake, champ, chall)
    for q, want, _ in KNOWN:
        assert f"`{want}`" in flat(ask(driver, fake, q))
    assert challengers.drain(10)
    driver.command("challenge report", channel=CH)
    msg = channel_text(fake, "Challenger report", top_level=True)
    valid(msg["blocks"])
    text = flat(msg)
    assert f"*{len(KNOWN)}* questions seen · agreement *{100 * N_AGREE / len(KNOWN):.1f}%*" in text
    assert "champion: fallback 0.0% · mean confidence 0.90" in text
    assert "challenger: fallback 0.0% · mean confidence 0.70" in text
    assert "`lost_card`: 1/2 (50.0%), challenger says `top_up`" in text
    assert "call [PHONE]" in text and "7946" not in text                          # examples are redacted
    assert "cards validation" in text and "accuracy 100.0% →" in text
    up = fake.wait_for(lambda: next((f for f in fake.files.values() if f.get("thread_ts") == msg["ts"]), None),
                       what="chart")
    assert up["content"][:8] == b"\x89PNG\r\n\x1a\n" and up["channel"] == CH


def test_daily_report_is_scheduled_queued_and_posted_once(driver, fake, home, models, server):
    champ, chall = models
    start(driver, fake, champ, chall)
    ask(driver, fake, KNOWN[0][0])
    challengers.drain(10)
    sid = challengers.REPORT_SCHEDULE_PREFIX + CH
    assert [s["kind"] for s in schedules.list_schedules(home) if s["id"] == sid] == ["challenge-report"]
    assert firing.fire(home, sid)["action"] == "reported"
    assert server.reports.post_pending() == 1 and server.reports.post_pending() == 0
    msg = channel_text(fake, "Daily challenger report", top_level=True)
    assert "*1* questions seen" in flat(msg)


def require_approval(home):
    """The approval policy lives in the database: an admin sets it (ops/policy.py), not each process's env."""
    from ops import policy
    from ops.access import Actor
    policy.set_approval(home, "required", actor=Actor.system("test"))


def test_four_eyes_promotion_over_slack(driver, fake, home, models, monkeypatch):
    require_approval(home)
    champ, chall = models
    driver.command(f"deploy {champ}", channel=CH)            # the first champion also needs approval
    req1 = channel_text(fake, "Deploy request #1", top_level=True)
    driver.click("promotion_approve", "1", user=BOB, channel=CH, message={"ts": req1["ts"], "text": ""})
    channel_text(fake, f"request #1 approved by <@{BOB}>")
    driver.command(f"challenge {chall}", channel=CH)
    response(fake, "now challenges")
    ask(driver, fake, KNOWN[2][0])
    challengers.drain(10)

    driver.command("promote", channel=CH)
    req = channel_text(fake, "Deploy request #2", top_level=True)
    valid(req["blocks"])
    assert "agreement" in flat(req) and "[Approve | Reject]" in flat(req)
    assert f"`{KNOWN[2][1]}`" in flat(ask(driver, fake, KNOWN[2][0]))         # still the champion

    driver.click("promotion_approve", "2", user=ADMIN, channel=CH)                # the requester: refused
    ephemeral(fake, ADMIN, "four eyes")
    driver.click("promotion_approve", "2", user=CAROL, channel=CH)                # not an approver: refused
    ephemeral(fake, CAROL, "approvers")
    assert f"`{KNOWN[2][1]}`" in flat(ask(driver, fake, KNOWN[2][0]))

    driver.click("promotion_approve", "2", user=BOB, channel=CH)
    channel_text(fake, f"request #2 approved by <@{BOB}>: run #{chall} now answers")
    fake.wait_for(lambda: "approved by" in flat(next(m for m in fake.messages if m["ts"] == req["ts"])),
                  what="request message edited")
    assert f"`{KNOWN[2][2]}`" in flat(ask(driver, fake, KNOWN[2][0]))         # the challenger answers now

    driver.click("promotion_approve", "2", user=BOB, channel=CH)                   # twice: one outcome
    ephemeral(fake, BOB, "approved by UBOB already")
    fake.wait_for(lambda: len(audit(home, "approve")) == 5, what="audit rows")
    assert sorted((a["actor"], a["ok"]) for a in audit(home, "approve")) == sorted([
        (BOB, 1), (ADMIN, 0), (CAROL, 0), (BOB, 1), (BOB, 0)])
    assert [(a["actor"], a["ok"]) for a in audit(home, "deploy")] == [(ADMIN, 1), (ADMIN, 1)]
    assert any('"agreement"' in a["detail"] for a in audit(home, "approve") if a["ok"])   # the figures, audited
    assert [a["ok"] for a in audit(home, "challenge.end")] == [1]                  # promoted: no longer a challenger
    print("\n".join(fake.transcript))    # the README's promotion story (pytest -s)


def test_expired_request_cannot_be_approved(driver, fake, home, models, monkeypatch):
    require_approval(home)
    champ, _ = models
    driver.command(f"deploy {champ}", channel=CH)
    channel_text(fake, "Deploy request #1", top_level=True)
    with connect(home) as db:
        db.execute("UPDATE deploy_requests SET expires_at = '2000-01-01T00:00:00+00:00'")
        db.conn.commit()
    driver.click("promotion_approve", "1", user=BOB, channel=CH)
    ephemeral(fake, BOB, "expired")
    with connect(home) as db:
        assert db.execute("SELECT status FROM deploy_requests").fetchone()[0] == "expired"
        assert db.execute("SELECT COUNT(*) FROM deployments").fetchone()[0] == 0


def test_rollback_and_history(driver, fake, home, models):
    champ, chall = models
    start(driver, fake, champ, chall)
    driver.command("promote", channel=CH)
    response(fake, f"run #{chall} now answers")
    assert f"`{KNOWN[2][2]}`" in flat(ask(driver, fake, KNOWN[2][0]))
    status, body, _ = driver.command("rollback", user=CAROL, channel=CH)      # refused in the acknowledgement
    assert status == 200 and b"Only ftbot admins" in body
    driver.command("rollback", channel=CH)
    response(fake, f"back to run #{champ} — run #{chall} rolled back by <@{ADMIN}>")
    assert f"`{KNOWN[2][1]}`" in flat(ask(driver, fake, KNOWN[2][0]))
    driver.command("status", user=CAROL, channel=CH)                               # everyone may look
    h = response(fake, "*Deployments*")
    valid(h["blocks"])
    assert f"run #{champ} — rollback by <@{ADMIN}> — *active*" in flat(h)
    assert f"run #{chall} — deploy by <@{ADMIN}> — rolled back" in flat(h)
    fake.wait_for(lambda: len(audit(home, "rollback")) == 2, what="audit")
    assert sorted((a["actor"], a["ok"]) for a in audit(home, "rollback")) == [(ADMIN, 1), (CAROL, 0)]


def test_deploy_button_opens_a_request_when_approval_is_required(driver, fake, home, models, monkeypatch):
    require_approval(home)
    champ, _ = models
    driver.click("run_deploy", str(champ), channel=CH)
    req = channel_text(fake, "Deploy request #1", top_level=True)
    valid(req["blocks"])
    driver.click("promotion_reject", "1", user=BOB, channel=CH)
    channel_text(fake, f"request #1 rejected by <@{BOB}>")
    with connect(home) as db:
        assert db.execute("SELECT status, decided_by FROM deploy_requests").fetchone() == ("rejected", BOB)
        assert db.execute("SELECT COUNT(*) FROM deployments").fetchone()[0] == 0


def test_a_reject_reason_is_shown_as_text_not_as_a_mention_or_link(driver, fake, home, models):
    """The rejecter's words reach the channel (broadcast from the thread): `<!channel>` or a link in them must stay
    text, or any approver could ping everyone or dress a phishing link as the bot's."""
    require_approval(home)
    champ, _ = models
    driver.command(f"deploy {champ}", channel=CH)
    req = channel_text(fake, "Deploy request #1", top_level=True)
    driver.command("reject 1 <!channel> retrain at <https://evil.example|the portal>", user=BOB, channel=CH)
    out = channel_text(fake, "request #1 rejected by")
    assert "&lt;!channel&gt;" in out["text"] and "<!channel>" not in out["text"]
    assert "<https://evil.example" not in out["text"]
    edited = fake.wait_for(lambda: next((m for m in fake.messages if m["ts"] == req["ts"] and "rejected" in flat(m)),
                                        None), what="request message edited")
    assert "<!channel>" not in flat(edited) and "&lt;!channel&gt;" in flat(edited)
    with connect(home) as db:    # stored as typed: the escaping is the edge's job
        assert "<!channel>" in db.execute("SELECT reason FROM deploy_requests").fetchone()[0]
