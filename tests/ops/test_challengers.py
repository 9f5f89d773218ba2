"""Challengers on the operations layer: shadow answers stored but not returned, the report's figures on a planted
case, a challenger whose model is deleted, and the predictor cache keeping champion and challenger loaded."""
from __future__ import annotations

import shutil

import pytest

from ops import challengers, promotion, questions
from ops.access import PermissionDenied, Policy
from storage import connect
from tests.ops.planted import LABELS, Planted, install, setup_runs

ADMIN = Policy.from_env({}).cli("alice")

KNOWN = [  # (question, champion's intent, challenger's intent)
    ("I lost my card in the bus", "lost_card", "lost_card"),
    ("what is the euro rate", "exchange_rate", "exchange_rate"),
    ("my top-up did not arrive", "top_up", "top_up"),
    ("card missing, mail me at jane.doe@example.com", "lost_card", "top_up"),
    ("cannot find my debit card", "lost_card", "top_up"),
    ("fx rate for pounds", "exchange_rate", "exchange_rate"),
    ("top up with bank transfer", "top_up", "exchange_rate"),
]
N_AGREE = sum(a == b for _, a, b in KNOWN)     # 4 of 7


@pytest.fixture()
def planted(home, tmp_path, monkeypatch):
    champ_run, chall_run = setup_runs(home, tmp_path, n=2)
    champ = Planted({q: a for q, a, _ in KNOWN}, confidence=0.9)
    chall = Planted({q: b for q, _, b in KNOWN}, confidence=0.6, swap={"top_up": "exchange_rate"})
    install(monkeypatch, {champ_run["artifact_path"]: champ, chall_run["artifact_path"]: chall})
    promotion.request_deploy(home, champ_run["id"], actor=ADMIN, approval="optional")
    challengers.start(home, chall_run["id"], scope="default", actor=ADMIN)
    return champ_run, chall_run, champ, chall


def test_shadow_answers_are_stored_unseen_and_the_report_counts_them(home, planted):
    champ_run, chall_run, champ, chall = planted
    for q, want, _ in KNOWN:
        res = questions.ask(home, q, actor=ADMIN)
        assert res["intent"] == want and res["run_id"] == champ_run["id"]
        assert not any("challenger" in k for k in res)          # an ordinary asker sees the champion only
    assert challengers.drain(10)
    from engine import inference                # both stay loaded: pinned against eviction
    assert {str(__import__("pathlib").Path(r["artifact_path"]).resolve()) for r in (champ_run, chall_run)} <= \
        set(inference.cache_info()["pinned"])
    with connect(home) as db:
        rows = [dict(r) for r in db.query("SELECT q.question, s.intent, s.run_id, s.shown FROM shadow_answers s "
                                          "JOIN questions q ON q.id = s.question_id ORDER BY s.id")]
    from ops.privacy import redact_question        # questions are stored redacted (issue 11)
    assert [(r["question"], r["intent"]) for r in rows] == [(redact_question(q)[0], b) for q, _, b in KNOWN]
    assert {r["run_id"] for r in rows} == {chall_run["id"]} and not any(r["shown"] for r in rows)

    rep = challengers.report(home, "default")
    assert rep["questions"] == len(KNOWN) and rep["agreed"] == N_AGREE
    assert rep["agreement"] == pytest.approx(N_AGREE / len(KNOWN))
    assert rep["champion"] == {"fallback_rate": 0.0, "mean_confidence": pytest.approx(0.9)}
    assert rep["challenger"] == {"fallback_rate": 0.0, "mean_confidence": pytest.approx(0.6)}
    top = rep["disagreements"][0]
    assert (top["intent"], top["disagree"], top["questions"], top["challenger_says"]) == ("lost_card", 2, 3, "top_up")
    assert top["examples"][0]["question"] == "card missing, mail me at [EMAIL]"     # redacted
    assert [d["intent"] for d in rep["disagreements"]] == ["lost_card", "top_up"]
    val = rep["labelled"][0]
    assert val["name"] == "cards validation" and val["examples"] > 0
    assert val["champion"]["accuracy"] == 1.0 and val["challenger"]["accuracy"] < 1.0
    assert sum(p["n"] for p in rep["timeline"]) == len(KNOWN)


def test_ab_shows_both_and_counts_feedback_per_model(home, planted):
    q, champ_intent, chall_intent = KNOWN[3]
    ab = questions.ask_ab(home, q, scope="default", actor=ADMIN)
    assert ab["champion"]["intent"] == champ_intent and ab["challenger"]["intent"] == chall_intent and not ab["agree"]
    questions.feedback(home, ab["question_id"], actor="U1", value=-1)
    challengers.shadow_feedback(home, ab["challenger"]["shadow_id"], actor="U1", value=1)
    challengers.shadow_feedback(home, ab["challenger"]["shadow_id"], actor="U2", value=1)
    challengers.drain(10)
    rep = challengers.report(home, "default", labelled=False)
    assert rep["ab"] == {"questions": 1, "champion": {"up": 0, "down": 1}, "challenger": {"up": 2, "down": 0}}


def test_testers_setting_limits_ab(home, planted, monkeypatch):
    monkeypatch.setenv("FTBOT_TESTERS", "U_TESTER")
    nobody = Policy.from_env({}).slack("U_SOMEONE", "C1")
    with pytest.raises(PermissionDenied):
        questions.ask_ab(home, "fx rate", scope="default", actor=nobody)
    ab = questions.ask_ab(home, "fx rate", scope="default", actor=Policy.from_env({}).slack("U_TESTER", "C1"))
    assert ab["challenger"]["intent"] == "exchange_rate"


def test_a_deleted_challenger_ends_once_and_the_champion_keeps_answering(home, planted):
    champ_run, chall_run, _, chall = planted
    shutil.rmtree(chall_run["artifact_path"])
    for q, want, _ in KNOWN[:3]:
        assert questions.ask(home, q, actor=ADMIN)["intent"] == want
    assert challengers.drain(10)
    assert challengers.active(home, "default") is None and chall.calls == 0
    with connect(home) as db:
        ends = [dict(r) for r in db.query("SELECT * FROM audit WHERE action = 'challenge.end'")]
        row = dict(next(iter(db.query("SELECT * FROM challengers"))))
    assert len(ends) == 1 and "gone" in row["ended_reason"]


def test_promoting_the_challenger_ends_it(home, planted):
    champ_run, chall_run, _, _ = planted
    res = promotion.promote(home, scope="default", actor=ADMIN, approval="optional")
    assert res["run_id"] == chall_run["id"] and challengers.active(home, "default") is None


def test_pinned_models_survive_a_full_cache(monkeypatch):
    from engine import inference
    monkeypatch.setattr(inference, "CACHE_SIZE", 2)
    monkeypatch.setattr(inference, "_pins", {})
    saved = dict(inference._cache)
    inference._cache.clear()
    try:
        inference.pin("scope:test", ["/m/champion", "/m/challenger"])
        for name in ("champion", "challenger", "a", "b", "c"):
            with inference._cache_lock:
                inference._cache[(str(__import__("pathlib").Path("/m/" + name).resolve()), 0)] = object()
                inference._evict()
        kept = {k[0].rsplit("/", 1)[1] for k in inference._cache}
        assert {"champion", "challenger"} <= kept and len(kept) == 3     # pinned + the newest one
    finally:
        inference.pin("scope:test", [])
        inference._cache.clear()
        inference._cache.update(saved)


def test_labels_are_known():
    assert LABELS == ["exchange_rate", "lost_card", "top_up"]


def test_a_refitted_run_is_not_compared_on_rows_it_trained_on(home, planted):
    """After a refit (engine/recipes/refit.py) the dataset's validation rows are training rows: the report says so
    instead of presenting the figures as a held-out comparison, in the CLI text and in Slack."""
    import json
    from pathlib import Path
    from slack_sdk.models.blocks import Block
    from bot.blocks_promotion import figures_lines, report as report_blocks
    from bot.render import report_text
    champ_run, chall_run, _, _ = planted
    val = challengers.report(home, "default")["labelled"][0]
    assert "not_held_out" not in val
    served_path = Path(chall_run["artifact_path"]) / "served.json"
    served = json.loads(served_path.read_text()) if served_path.exists() else {}
    served_path.write_text(json.dumps({**served, "refitted": {"status": "succeeded", "rows": 60}}))
    rep = challengers.report(home, "default")
    note = rep["labelled"][0]["not_held_out"]
    assert f"run #{chall_run['id']} refitted on these rows" in note and "not a held-out comparison" in note
    assert f"run #{champ_run['id']}" not in note
    assert note in report_text(rep)
    assert "not a held-out comparison" in "\n".join(figures_lines(rep))
    for b in report_blocks(rep)[1]:
        Block.parse(b).validate_json()
