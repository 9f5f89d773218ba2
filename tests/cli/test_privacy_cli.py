"""Data protection through the CLI: export-feedback is redacted, spreadsheet-safe and one row per question;
`ftbot prune` keeps questions, deliveries, events and audit for their retention; CLI actions are audited as
cli:<USER>, refused and failed ones too."""
from __future__ import annotations

import csv
import datetime as dt
import json

import pytest

from bot.cli import main
from storage import audit, connect, events, questions, seen_events
from tests.slack.privacy_helpers import CARD, deployed_run


def _cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _audit(home):
    with connect(home) as db:
        return audit.recent(db, 200)


def _ask_row(db, run_id, text, intent="lost_card", created_at=None):
    rec = dict(scope="default", run_id=run_id, asked_by="U1", channel="C0001", ts=None, thread_ts=None,
               question=text, answer="a", intent=intent, confidence=0.9, top=[], fallback=False)
    if created_at:
        rec["created_at"] = created_at
    return questions.add(db, **rec)


def test_export_feedback_one_row_per_question_redacted_and_formula_safe(home, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("ops.access.cli_login", lambda: "alice")
    run = deployed_run(home, scope="default")
    with connect(home) as db:
        # stored before redaction existed: the export redacts again
        q1 = _ask_row(db, run["id"], f"=HYPERLINK(\"http://x\") card {CARD}")
        q2 = _ask_row(db, run["id"], "+44 is my prefix? @admin -1", intent="fees")
        q3 = _ask_row(db, run["id"], "no label for me", intent="fees")
        for user in ("U1", "U2", "U3"):
            questions.add_feedback(db, q1, user, 1)
        questions.add_feedback(db, q1, "U4", -1, "card_arrival")
        questions.add_feedback(db, q2, "U1", -1, "top_up")
        questions.add_feedback(db, q2, "U2", -1, "top_up")
        questions.add_feedback(db, q3, "U1", -1)            # 👎 without a correction: no label, left out
    out = tmp_path / "fb.csv"
    code, stdout, _ = _cli(capsys, "dataset", "export-feedback", "banking", str(out), "--json")
    assert code == 0 and json.loads(stdout)["rows"] == 2
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["label"], r["up"], r["down"]) for r in rows] == [("lost_card", "3", "1"), ("top_up", "0", "2")]
    text = out.read_text(encoding="utf-8")
    assert CARD not in text and "[CARD]" in rows[0]["text"]
    assert rows[0]["text"].startswith("'=HYPERLINK") and rows[1]["text"].startswith("'+")
    assert all(not c.startswith(("=", "+", "-", "@")) for r in rows for c in r.values())
    exported = [a for a in _audit(home) if a["action"] == "dataset.export"]
    assert exported and exported[0]["actor"] == "cli:alice" and exported[0]["ok"] == 1


def test_export_cells_neutralise_every_formula_start():
    from engine.data.csv_safe import escape_cell   # what ops.privacy.write_csv writes with
    for bad in ("=1+1", "+1+A1", "-A1*2", "@SUM(A1)", "\tx", "\rx"):
        assert escape_cell(bad) == "'" + bad
    assert escape_cell("plain") == "plain" and escape_cell(None) == "" and escape_cell("-5") == "-5"


def _old(days):
    return (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)).isoformat(timespec="microseconds")


def test_prune_removes_what_is_past_retention_and_audit_separately(home, capsys, monkeypatch):
    monkeypatch.setenv("FTBOT_RETENTION_DAYS", "30")
    monkeypatch.setenv("FTBOT_AUDIT_RETENTION_DAYS", "365")
    monkeypatch.setattr("ops.access.cli_login", lambda: "alice")
    run = deployed_run(home, scope="default")
    with connect(home) as db:
        old_q = _ask_row(db, run["id"], "old question", created_at=_old(40))
        new_q = _ask_row(db, run["id"], "new question")
        questions.add_feedback(db, old_q, "U1", 1)      # recent vote on an old question: goes with it
        questions.add_feedback(db, new_q, "U1", 1)
        seen_events.first_time(db, "event:new")
        events.add(db, run["id"], "milestone", message="recent")
        db.execute("INSERT INTO seen_deliveries (key, at) VALUES ('event:old', ?)", [_old(40)])
        db.execute("INSERT INTO run_events (run_id, at, kind, data) VALUES (?, ?, 'milestone', '{}')",
                   [run["id"], _old(40)])
        db.execute("INSERT INTO audit (at, actor, action, ok, detail) VALUES (?, 'U1', 'deploy', 1, '{}')", [_old(40)])
        db.execute("INSERT INTO audit (at, actor, action, ok, detail) VALUES (?, 'U1', 'deploy', 1, '{}')", [_old(400)])
        db.conn.commit()
    code, stdout, _ = _cli(capsys, "prune", "--json")
    assert code == 0
    res = json.loads(stdout)
    assert {k: res[k] for k in ("questions", "feedback", "deliveries", "events", "audit")} == \
        {"questions": 1, "feedback": 1, "deliveries": 1, "events": 1, "audit": 1}
    with connect(home) as db:
        assert [r[0] for r in db.execute("SELECT question FROM questions")] == ["new question"]
        assert db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 1
        assert [r[0] for r in db.execute("SELECT key FROM seen_deliveries")] == ["event:new"]
        assert db.execute("SELECT COUNT(*) FROM run_events WHERE at < ?", [_old(30)]).fetchone()[0] == 0
        # audit has its own retention: the 40-day-old entry stays, the 400-day-old one is gone
        assert db.execute("SELECT COUNT(*) FROM audit WHERE at < ?", [_old(30)]).fetchone()[0] == 1
        assert db.execute("SELECT COUNT(*) FROM audit WHERE at < ?", [_old(365)]).fetchone()[0] == 0
    pruned = [a for a in _audit(home) if a["action"] == "prune"]
    assert pruned[0]["actor"] == "cli:alice" and pruned[0]["ok"] == 1 and pruned[0]["detail"]["questions"] == 1


def test_the_worker_prunes_on_its_schedule(home, monkeypatch):
    monkeypatch.setenv("FTBOT_RETENTION_DAYS", "1")
    run = deployed_run(home, scope="default")
    with connect(home) as db:
        _ask_row(db, run["id"], "old", created_at=_old(2))
    from jobs.worker import Worker
    w = Worker(home)
    w._last_retention = float("-inf")      # due now (monotonic time may be small on a fresh machine)
    w._retention()
    with connect(home) as db:
        assert db.execute("SELECT COUNT(*) FROM questions").fetchone()[0] == 0
    assert any(a["action"] == "prune" and a["actor"] == "system:retention" for a in _audit(home))


def test_prune_is_admin_only_and_the_refusal_is_audited(home, capsys, monkeypatch):
    monkeypatch.setenv("FTBOT_ADMINS", "cli:alice")
    monkeypatch.setattr("ops.access.cli_login", lambda: "bob")
    code, _, err = _cli(capsys, "prune")
    assert code == 2 and "Only ftbot admins" in err
    (row,) = [a for a in _audit(home) if a["action"] == "prune"]
    assert row["actor"] == "cli:bob" and row["ok"] == 0


def test_cli_actor_comes_from_user_and_failed_and_refused_actions_are_audited(home, capsys, monkeypatch):
    monkeypatch.setattr("ops.access.cli_login", lambda: "carol")
    code, _, err = _cli(capsys, "deploy", "999")          # allowed, then fails: no such run
    assert code == 2 and "999" in err
    monkeypatch.setenv("FTBOT_ADMINS", "cli:alice")
    code, _, err = _cli(capsys, "cancel", "1")            # refused: carol is not named
    assert code == 2 and "Only ftbot admins" in err
    rows = {(a["action"], a["ok"]): a for a in _audit(home)}
    failed, refused = rows[("deploy", 0)], rows[("cancel", 0)]
    assert failed["actor"] == "cli:carol" and "error" in failed["detail"] and failed["detail"]["via"] == "cli"
    assert refused["actor"] == "cli:carol" and refused["detail"]["reason"] == "not an admin"


def test_retention_settings_validate():
    from engine.errors import ConfigError
    from ops.retention import audit_retention_days, retention_days
    assert retention_days({}) == 90 and retention_days({"FTBOT_RETENTION_DAYS": "off"}) is None
    assert audit_retention_days({"FTBOT_AUDIT_RETENTION_DAYS": "10"}) == 10
    with pytest.raises(ConfigError):
        retention_days({"FTBOT_RETENTION_DAYS": "-3"})


def test_the_cli_acts_as_the_operating_system_account_whatever_user_says(home, tmp_path, monkeypatch, capsys):
    """`USER=bob ftbot deploy …` then `USER=carol ftbot approve …` was one person approving their own request: the
    identity now comes from the kernel (the audit login uid, else the real uid), never from the environment."""
    from bot.cli import main
    from ops.access import cli_login
    me = cli_login()
    src = tmp_path / "d.csv"
    src.write_text("text,label\n" + "".join(f"card lost {i},lost\nrate today {i},rate\n" for i in range(6)))
    for user in ("bob", "carol"):
        monkeypatch.setenv("USER", user)
        monkeypatch.setenv("LOGNAME", user)
        assert cli_login() == me
        assert main(["dataset", "add", f"d_{user}", str(src), "--home", str(home)]) == 0
    with connect(home) as db:
        actors = {r["actor"] for r in db.query("SELECT actor FROM audit WHERE action = 'dataset.add'")}
    assert actors == {f"cli:{me}"}
