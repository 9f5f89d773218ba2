"""`ftbot deploy|approve|reject|rollback|deployments|challenge` with --json, two local accounts (alice and bob are two
people: the operating-system login, stood in for by patching ops.access.cli_login), approval required; state
survives a fresh process."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ops import challengers
from tests.cli.test_cli import run_cli
from tests.ops.planted import Planted, install, setup_runs

KNOWN = [("I lost my card in the bus", "lost_card", "lost_card"), ("fx rate for pounds", "exchange_rate", "top_up"),
         ("my top-up did not arrive", "top_up", "top_up")]


@pytest.fixture()
def env(home, tmp_path, monkeypatch):
    monkeypatch.setenv("FTBOT_DEPLOY_APPROVAL", "required")      # seeds the policy of the database created below
    monkeypatch.setenv("FTBOT_ADMINS", "cli:alice,cli:bob")
    monkeypatch.setenv("FTBOT_APPROVERS", "cli:alice,cli:bob")
    r1, r2 = setup_runs(home, tmp_path, n=2)
    install(monkeypatch, {r1["artifact_path"]: Planted({q: a for q, a, _ in KNOWN}),
                          r2["artifact_path"]: Planted({q: b for q, _, b in KNOWN}, confidence=0.4)})
    return r1["id"], r2["id"]


def as_user(monkeypatch, name):
    monkeypatch.setattr("ops.access.cli_login", lambda: name)


def test_four_eyes_challenger_report_and_rollback_from_the_cli(home, env, capsys, monkeypatch):
    r1, r2 = env
    as_user(monkeypatch, "alice")
    code, req, _ = run_cli(capsys, "deploy", r1, "--json")
    assert code == 0 and req["status"] == "pending" and req["run_id"] == r1 and req["requested_by"] == "cli:alice"
    code, err, msg = run_cli(capsys, "approve", req["request_id"], "--json")
    assert code == 2 and "four eyes" in err["error"]
    code, _, msg = run_cli(capsys, "ask", "fx rate for pounds")
    assert code == 2 and "no model is deployed" in msg

    as_user(monkeypatch, "bob")
    code, ok, _ = run_cli(capsys, "approve", req["request_id"], "--json")
    assert code == 0 and ok["status"] == "approved" and ok["decided_by"] == "cli:bob"

    as_user(monkeypatch, "alice")
    code, ch, _ = run_cli(capsys, "challenge", r2, "--json")
    assert code == 0 and ch["run_id"] == r2 and ch["champion_run_id"] == r1
    for q, want, _ in KNOWN:
        code, ans, _ = run_cli(capsys, "ask", q, "--json")
        assert ans["intent"] == want and ans["run_id"] == r1
    challengers.drain(10)
    code, rep, _ = run_cli(capsys, "challenge", "report", "--json", "--chart", home / "chart.png")
    assert code == 0 and rep["questions"] == 3 and rep["agreed"] == 2
    assert rep["challenger"]["fallback_rate"] == 1.0 and rep["champion"]["fallback_rate"] == 0.0
    assert (home / "chart.png").read_bytes()[:4] == b"\x89PNG"

    code, req2, _ = run_cli(capsys, "deploy", r2, "--json")
    assert req2["status"] == "pending" and req2["report"]["questions"] == 3       # the report travels with it
    as_user(monkeypatch, "bob")
    code, rej, _ = run_cli(capsys, "reject", req2["request_id"], "--reason", "too many fallbacks", "--json")
    assert code == 0 and rej["status"] == "rejected"
    as_user(monkeypatch, "alice")
    code, req3, _ = run_cli(capsys, "deploy", r2, "--json")
    as_user(monkeypatch, "bob")
    assert run_cli(capsys, "approve", req3["request_id"], "--json")[1]["status"] == "approved"
    code, ans, _ = run_cli(capsys, "ask", KNOWN[1][0], "--json")
    assert ans["run_id"] == r2 and ans["intent"] == "top_up"

    code, back, _ = run_cli(capsys, "rollback", "--json")
    assert code == 0 and back["run_id"] == r1 and back["from_run_id"] == r2
    code, ans, _ = run_cli(capsys, "ask", KNOWN[1][0], "--json")
    assert ans["run_id"] == r1

    as_user(monkeypatch, "alice")
    code, pending, _ = run_cli(capsys, "deploy", r2, "--json")
    # a fresh process (a restart) sees the history and the pending request, from SQLite
    out = subprocess.run([sys.executable, "-m", "bot", "deployments", "--json"], capture_output=True, text=True,
                         env={**os.environ, "FTBOT_HOME": str(home)}, timeout=120)
    h = json.loads(out.stdout.strip().splitlines()[-1])
    assert [p["id"] for p in h["pending"]] == [pending["request_id"]]
    assert [(d["run_id"], d["via"], d["active"]) for d in h["deployments"]] == [
        (r1, "rollback", 1), (r2, "approval", 0), (r1, "approval", 0)]
