"""Retention also forgets delivery-failure records (they name the requester and the channel)."""
from __future__ import annotations

import datetime as dt

from ops import retention, slack_refusals
from ops.access import Actor
from storage import connect


def test_prune_removes_old_delivery_failures_only(home, monkeypatch):
    monkeypatch.setenv("FTBOT_RETENTION_DAYS", "30")
    old = slack_refusals.record(home, kind="answer", ref="1", channel="C1", user="U1", method="chat.postMessage",
                          error="not_in_channel", path="dm")
    new = slack_refusals.record(home, kind="answer", ref="2", channel="C1", user="U2", method="chat.postMessage",
                          error="is_archived", path="dm")
    long_ago = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=40)).isoformat(timespec="microseconds")
    with connect(home) as db:
        db.execute("UPDATE delivery_failures SET at = ? WHERE id = ?", [long_ago, old])
        db.conn.commit()
    retention.prune(home, actor=Actor.system("test"))
    assert [f["id"] for f in slack_refusals.failures(home)] == [new]


def test_prune_takes_a_challengers_shadow_answers_with_their_question(home, monkeypatch):
    from storage import challengers, questions
    monkeypatch.setenv("FTBOT_RETENTION_DAYS", "30")
    long_ago = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=40)).isoformat(timespec="microseconds")
    with connect(home) as db:
        old_q = questions.add(db, scope="C1", run_id=None, asked_by="U1", question="q", answer="a", created_at=long_ago)
        new_q = questions.add(db, scope="C1", run_id=None, asked_by="U1", question="q2", answer="a")
        for qid in (old_q, new_q):
            challengers.add_shadow(db, question_id=qid, challenger_id=1, run_id=2, answer="b", intent="x",
                                   confidence=0.5, top=[], fallback=False, latency_ms=1.0, shown=True)
    retention.prune(home, actor=Actor.system("test"))
    with connect(home) as db:
        left = [r[0] for r in db.execute("SELECT question_id FROM shadow_answers")]
    assert left == [new_q]


def test_prune_forgets_every_copy_of_a_question_reports_and_deploy_requests(home, monkeypatch):
    """Security finding 6: challenger-report examples were copied into deploy_requests.report and
    challenger_reports.report, which prune never touched — a year later the request still held the card number.
    Past the retention period the examples go from both; the request keeps its figures and its decision."""
    import json
    from storage import approvals, challengers as ch_table
    monkeypatch.setenv("FTBOT_RETENTION_DAYS", "30")
    card = "4111 1111 1111 1111"
    rep = {"questions": 3, "agreement": 0.5,
           "disagreements": [{"intent": "lost_card", "disagree": 1, "examples": [{"question": f"my card {card}"}]}]}
    long_ago = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=400)).isoformat(timespec="microseconds")
    with connect(home) as db:
        old = approvals.create_request(db, scope="C1", run_id=1, requested_by="U1", expires_at=long_ago, report=rep)
        new = approvals.create_request(db, scope="C1", run_id=2, requested_by="U1", expires_at=long_ago, report=rep)
        db.execute("UPDATE deploy_requests SET requested_at = ? WHERE id = ?", [long_ago, old["id"]])
        ch_table.add_report(db, challenger_id=1, scope="C1", channel="C1", kind="daily", report=rep, fire_key="k1")
        db.execute("UPDATE challenger_reports SET created_at = ?", [long_ago])
        db.conn.commit()
    res = retention.prune(home, actor=Actor.system("test"))
    assert res["reports"] == 1 and res["requests"] == 1
    with connect(home) as db:
        rows = {r["id"]: r for r in db.query("SELECT id, report FROM deploy_requests")}
        assert list(db.query("SELECT id FROM challenger_reports")) == []
    assert card not in rows[old["id"]]["report"] and json.loads(rows[old["id"]]["report"])["agreement"] == 0.5
    assert card in rows[new["id"]]["report"]          # within the retention period: kept as it was


def test_prune_keeps_the_example_counts_of_labelled_files_in_a_request(home, monkeypatch):
    """A challenger report's labelled-file rows count their rows under "examples" (an integer, ops/challengers.py);
    pruning took those counts away with the quoted questions, and the request's message then failed on
    ds['examples']. Past the retention period the quoted questions go (an empty list, the key kept); counts stay."""
    import json
    from storage import approvals
    monkeypatch.setenv("FTBOT_RETENTION_DAYS", "30")
    rep = {"questions": 3, "agreement": 0.5,
           "disagreements": [{"intent": "lost_card", "disagree": 1, "examples": [{"question": "my card 4111"}]}],
           "labelled": [{"name": "holdout.csv", "examples": 120, "champion": {"accuracy": 0.8},
                         "challenger": {"accuracy": 0.9}}]}
    long_ago = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=400)).isoformat(timespec="microseconds")
    with connect(home) as db:
        req = approvals.create_request(db, scope="C1", run_id=1, requested_by="U1", expires_at=long_ago, report=rep)
        db.execute("UPDATE deploy_requests SET requested_at = ? WHERE id = ?", [long_ago, req["id"]])
        db.conn.commit()
    assert retention.prune(home, actor=Actor.system("test"))["requests"] == 1
    with connect(home) as db:
        kept = json.loads(next(iter(db.query("SELECT report FROM deploy_requests")))["report"])
    assert kept["labelled"][0]["examples"] == 120 and kept["labelled"][0]["champion"] == {"accuracy": 0.8}
    assert kept["disagreements"][0]["examples"] == [] and kept["disagreements"][0]["disagree"] == 1
    assert "4111" not in json.dumps(kept)
