"""Four-eyes promotion, expiry, races and rollback on the operations layer (ops/promotion.py), asserting rows in
SQLite: deploy_requests, deployments and the audit log."""
from __future__ import annotations

import threading

import pytest

from ops import promotion
from ops.access import PermissionDenied, Policy
from storage import connect
from storage.errors import Conflict
from tests.ops.planted import setup_runs

POLICY = Policy.from_env({"FTBOT_ADMINS": "cli:alice,cli:bob,cli:carol", "FTBOT_APPROVERS": "cli:bob,cli:carol"})
ALICE, BOB, CAROL = POLICY.cli("alice"), POLICY.cli("bob"), POLICY.cli("carol")


def audit(home, action=None):
    with connect(home) as db:
        rows = [dict(r) for r in db.query("SELECT * FROM audit ORDER BY id")]
    return [r for r in rows if action is None or r["action"] == action]


def active_run(home, scope="default"):
    with connect(home) as db:
        rows = list(db.query("SELECT run_id FROM deployments WHERE scope = ? AND active = 1", [scope]))
    assert len(rows) <= 1
    return rows[0]["run_id"] if rows else None


@pytest.fixture()
def runs(home, tmp_path, monkeypatch):
    monkeypatch.setenv("FTBOT_DEPLOY_APPROVAL", "required")
    return setup_runs(home, tmp_path, n=3)


def test_optional_is_the_default_and_deploys_at_once(home, tmp_path, monkeypatch):
    monkeypatch.delenv("FTBOT_DEPLOY_APPROVAL", raising=False)
    r1, = setup_runs(home, tmp_path, n=1)
    res = promotion.request_deploy(home, r1["id"], scope="default", actor=ALICE)
    assert res["status"] == "deployed" and active_run(home) == r1["id"]


def test_requester_cannot_approve_and_another_approver_can(home, runs):
    r1, r2, _ = runs
    promotion.request_deploy(home, r1["id"], actor=ALICE, approval="optional")     # the first champion
    req = promotion.request_deploy(home, r2["id"], actor=BOB)
    assert req["status"] == "pending" and req["base_run_id"] == r1["id"] and active_run(home) == r1["id"]

    with pytest.raises(PermissionDenied, match="four eyes"):
        promotion.approve(home, req["id"], actor=BOB)                 # an approver, but the requester
    with pytest.raises(PermissionDenied, match="approvers"):
        promotion.approve(home, req["id"], actor=ALICE)               # an admin, not an approver
    assert active_run(home) == r1["id"] and promotion.get_request(home, req["id"])["status"] == "pending"

    done = promotion.approve(home, req["id"], actor=CAROL)
    assert done["status"] == "approved" and done["decided_by"] == "cli:carol" and active_run(home) == r2["id"]
    with connect(home) as db:
        dep = dict(next(iter(db.query("SELECT * FROM deployments WHERE active = 1"))))
    assert dep["via"] == "approval" and dep["request_id"] == req["id"] and dep["deployed_by"] == "cli:carol"

    refused = [(a["actor"], a["ok"]) for a in audit(home, "approve")]
    assert refused == [("cli:bob", 0), ("cli:alice", 0), ("cli:carol", 1)]
    asked = audit(home, "deploy")[-1]
    assert asked["actor"] == "cli:bob" and '"status": "pending"' in asked["detail"] and "figures" in asked["detail"]


def test_two_approvals_at_once_give_one_outcome(home, runs):
    r1, r2, _ = runs
    req = promotion.request_deploy(home, r2["id"], actor=ALICE)
    results, barrier = [], threading.Barrier(2)

    def go(who):
        barrier.wait()
        try:
            results.append(("ok", promotion.approve(home, req["id"], actor=who)["decided_by"]))
        except Conflict as e:
            results.append(("conflict", str(e)))
    ts = [threading.Thread(target=go, args=(w,)) for w in (BOB, CAROL)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert sorted(k for k, _ in results) == ["conflict", "ok"]
    winner = next(v for k, v in results if k == "ok")
    assert f"approved by {winner}" in next(v for k, v in results if k == "conflict")
    with connect(home) as db:
        assert db.execute("SELECT COUNT(*) FROM deployments WHERE active = 1").fetchone()[0] == 1
        assert db.execute("SELECT COUNT(*) FROM deployments").fetchone()[0] == 1


def test_approval_after_expiry_is_refused(home, runs):
    _, r2, _ = runs
    req = promotion.request_deploy(home, r2["id"], actor=ALICE)
    with connect(home) as db:
        db.execute("UPDATE deploy_requests SET expires_at = '2000-01-01T00:00:00+00:00' WHERE id = ?", [req["id"]])
        db.conn.commit()
    with pytest.raises(Conflict, match="expired"):
        promotion.approve(home, req["id"], actor=BOB)
    assert promotion.get_request(home, req["id"])["status"] == "expired" and active_run(home) is None
    assert [a["actor"] for a in audit(home, "deploy.expire")] == ["system:approvals"]
    assert audit(home, "approve")[-1]["ok"] == 0


def test_expiry_setting(home, runs, monkeypatch):
    import datetime as dt
    monkeypatch.setenv("FTBOT_APPROVAL_TTL_H", "2")
    req = promotion.request_deploy(home, runs[1]["id"], actor=ALICE)
    left = dt.datetime.fromisoformat(req["expires_at"]) - dt.datetime.fromisoformat(req["requested_at"])
    assert abs(left.total_seconds() - 7200) < 5


def test_approval_after_a_rollback_is_superseded(home, runs):
    r1, r2, r3 = runs
    promotion.request_deploy(home, r1["id"], actor=ALICE, approval="optional")
    promotion.request_deploy(home, r2["id"], actor=ALICE, approval="optional")
    req = promotion.request_deploy(home, r3["id"], actor=ALICE)              # asked while r2 is the champion
    back = promotion.rollback(home, scope="default", actor=ALICE)            # r2 → r1 before anyone approves
    assert back["run_id"] == r1["id"] and active_run(home) == r1["id"]
    with pytest.raises(Conflict, match="champion changed"):
        promotion.approve(home, req["id"], actor=BOB)
    assert promotion.get_request(home, req["id"])["status"] == "superseded" and active_run(home) == r1["id"]


def test_rollback_walks_back_and_is_audited(home, runs):
    r1, r2, r3 = runs
    for r in (r1, r2, r3):
        promotion.request_deploy(home, r["id"], actor=ALICE, approval="optional")
    assert promotion.rollback(home, actor=ALICE)["run_id"] == r2["id"]
    assert promotion.rollback(home, actor=ALICE)["run_id"] == r1["id"]
    with pytest.raises(Conflict, match="no earlier champion"):
        promotion.rollback(home, actor=ALICE)
    h = promotion.history(home, "default")
    assert [(d["run_id"], d["via"], d["active"]) for d in h["deployments"]][:2] == [(r1["id"], "rollback", 1),
                                                                                    (r2["id"], "rollback", 0)]
    assert [(a["ok"], '"to_run": %d' % r1["id"] in a["detail"]) for a in audit(home, "rollback")][1] == (1, True)
    assert audit(home, "rollback")[-1]["ok"] == 0


def test_a_rejected_request_cannot_be_approved(home, runs):
    req = promotion.request_deploy(home, runs[1]["id"], actor=ALICE)
    assert promotion.reject(home, req["id"], actor=BOB, reason="metrics too low")["status"] == "rejected"
    with pytest.raises(Conflict, match="rejected by cli:bob"):
        promotion.approve(home, req["id"], actor=CAROL)
    assert active_run(home) is None


def test_a_run_deleted_before_approval(home, runs):
    req = promotion.request_deploy(home, runs[1]["id"], actor=ALICE)
    with connect(home) as db:
        db.execute("UPDATE runs SET artifact_path = NULL WHERE id = ?", [runs[1]["id"]])
        db.conn.commit()
    with pytest.raises(Conflict, match="no model any more"):
        promotion.approve(home, req["id"], actor=BOB)
    assert active_run(home) is None


def test_approve_and_rollback_at_the_same_moment_end_consistently(home, runs):
    r1, r2, r3 = runs
    promotion.request_deploy(home, r1["id"], actor=ALICE, approval="optional")
    promotion.request_deploy(home, r2["id"], actor=ALICE, approval="optional")
    req = promotion.request_deploy(home, r3["id"], actor=ALICE)
    out, barrier = {}, threading.Barrier(2)

    def approve():
        barrier.wait()
        try:
            out["approve"] = promotion.approve(home, req["id"], actor=BOB)["status"]
        except Conflict as e:
            out["approve"] = f"conflict: {e}"

    def rollback():
        barrier.wait()
        out["rollback"] = promotion.rollback(home, actor=ALICE)["run_id"]
    ts = [threading.Thread(target=approve), threading.Thread(target=rollback)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    status = promotion.get_request(home, req["id"])["status"]
    if out["approve"] == "approved":        # approval first: the rollback then undid r3 and went back to r2
        assert status == "approved" and out["rollback"] == r2["id"] and active_run(home) == r2["id"]
    else:                                   # rollback first: the request no longer applies
        assert status == "superseded" and "champion changed" in out["approve"]
        assert out["rollback"] == r1["id"] and active_run(home) == r1["id"]
