"""A credit team's day in Slack, over real HTTP against the fake Slack: register with a protected attribute, score
a file of applicants (summary in the channel, the scored file and the chart in its thread, Explain beside the
declined), score a shared file with a mention, look at drift, get the validation report as a file."""
from __future__ import annotations

import csv
import io

from slack_sdk.models.blocks import Block

from storage import connect
from tests.engine.test_scoring import _rows, _write


def _train(home, tiny_bert):
    from engine.config import TrainConfig
    from ops import execution, runs
    from ops.access import Actor
    run = runs.submit(home, "credit", TrainConfig.parse({"base": str(tiny_bert), "epochs": 1, "max_length": 48,
                                                         "threads": 1}), actor=Actor.system("test"),
                      origin={"source": "slack", "channel": "C0001", "user": "UADMIN"})
    final = execution.run_foreground(home, run["id"])
    assert final["status"] == "succeeded", final["error"]
    return run["id"]


def test_a_credit_team_scores_explains_and_reports_in_slack(driver, fake, home, settings, tiny_bert):
    _write(settings.data_dir / "credit.csv", _rows(240, 1))
    driver.command("dataset add credit credit.csv label=risk protected=age<30")
    reg = fake.wait_for(lambda: [r for r in fake.responses if "registered" in (r.get("text") or "")], 30, "register")
    assert "age&lt;30" in str(reg[0]["blocks"])          # mrkdwn-escaped
    run_id = _train(home, tiny_bert)

    rows = [{"application_id": f"A{i:03d}", **r} for i, r in enumerate(_rows(40, 3))]
    _write(settings.data_dir / "applicants.csv", rows)
    status, body, secs = driver.command(f"score {run_id} applicants.csv")
    assert status == 200 and b"scoring" in body and secs < 3
    summary = fake.wait_for(lambda: [m for m in fake.channel_messages("C0001", top_level=True)
                                     if "rows scored" in m["text"]], 60, "score summary")[0]
    for b in summary["blocks"]:
        Block.parse(b).validate_json()
    assert "40 rows scored" in summary["text"]
    uploads = fake.wait_for(lambda: [f for f in fake.files.values() if f.get("thread_ts") == summary["ts"]
                                     and f.get("shared")] if len([f for f in fake.files.values()
                                                                  if f.get("thread_ts") == summary["ts"]
                                                                  and f.get("shared")]) >= 2 else [],
                            30, "scored file and chart in the thread")
    scored = next(f for f in uploads if f["name"].endswith(".csv"))
    out = list(csv.DictReader(io.StringIO(scored["content"].decode())))
    assert len(out) == 40 and list(out[0])[:3] == ["row", "probability", "decision"]
    assert any(f["name"].endswith(".png") and f["content"][:4] == b"\x89PNG" for f in uploads)
    with connect(home) as db:
        audit = db.execute("SELECT actor, ok FROM audit WHERE action = 'score'").fetchall()
    assert audit == [("UADMIN", 1)]

    buttons = [b["accessory"] for b in summary["blocks"] if b.get("accessory", {}).get("action_id") == "score_explain"]
    with connect(home) as db:
        declined = db.execute("SELECT counts FROM scorings ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert bool(buttons) == ('"bad": 0' not in declined and '"bad"' in declined)   # Explain beside the declined
    if buttons:                                            # the first declined applicants, each explained
        driver.click("score_explain", buttons[0]["value"], channel="C0001")
        shown = fake.wait_for(lambda: [e for e in fake.ephemerals if "Row" in e.get("text", "")], 20, "explanation")
        assert "P(bad)" in shown[0]["text"]
        driver.click("score_explain", buttons[0]["value"], user="UNOBODY", channel="C0001")
        fake.wait_for(lambda: [e for e in fake.ephemerals if "Only ftbot" in e.get("text", "")], 10, "refusal")

    f = fake.add_file("more.csv", open(settings.data_dir / "applicants.csv", "rb").read())
    ts, _ = driver.mention(f"score {run_id}", files=[f])
    fake.wait_for(lambda: [m for m in fake.channel_messages("C0001", thread_ts=ts) if "rows scored" in m["text"]],
                  60, "score of the shared file in its thread")

    n = len(fake.responses)
    driver.command(f"drift {run_id}")
    drift = fake.wait_for(lambda: [r for r in fake.responses[n:] if "PSI" in (r.get("text") or "")], 30, "drift")
    assert "applicants.csv" in drift[0]["text"] or "more.csv" in drift[0]["text"]

    driver.command(f"report {run_id}")
    report = fake.wait_for(lambda: [f for f in fake.files.values() if f["name"] == "report.md" and f.get("shared")],
                           60, "the validation report")[0]
    text = report["content"].decode()
    assert "## Fairness by protected attribute" in text and "age<30" in text and "## Approval history" in text
    print("\n".join(fake.transcript))      # the README's credit thread (pytest -s)


def test_scoring_is_for_admins_and_a_member_elsewhere_learns_nothing(driver, fake, home, settings):
    from tests.slack.privacy_helpers import deployed_run
    run = deployed_run(home, dataset="credit", channel="C0001")
    _write(settings.data_dir / "applicants.csv", _rows(5, 1))
    status, body, _ = driver.command(f"score {run['id']} applicants.csv", user="UNOBODY")
    assert b"Only ftbot admins" in body
    n = len(fake.responses)
    driver.command(f"report {run['id']}", user="UNOBODY", channel="COTHER")
    r = fake.wait_for(lambda: fake.responses[n:], 10, "reply")[0]
    assert f"no run #{run['id']} in this channel" in r["text"]
