"""End to end over real HTTP: upload a dataset → train a tiny model → status message edited → milestones and PNGs
in the thread → accuracy in the channel → deploy → mention with a question → answer in the thread → 👍 stored.

Prints the messages the fake Slack received, in order (run with -s to see the transcript).
"""
import json
import threading

import pytest

from storage import connect
from tests.slack.conftest import BOT_TOKEN, SIGNING_SECRET
from tests.slack.data import cards_csv

pytest.importorskip("engine.train", reason="engine.train is not there yet")


def _worker(home, stop: threading.Event):
    """Stands in for the job runner's worker: claim → ops.execution.execute, in a thread."""
    from ops import execution as run_service
    from storage import runs as runs_table
    while not stop.is_set():
        with connect(home) as db:
            run = runs_table.claim_next(db, "e2e-worker")
        if run is None:
            stop.wait(0.2)
            continue
        run_service.execute(home, run["id"], worker="e2e-worker")


def test_end_to_end(driver, fake, home, tiny_bert, all_logs):
    stop = threading.Event()
    worker = threading.Thread(target=_worker, args=(home, stop), daemon=True)
    worker.start()
    try:
        _story(driver, fake, home, tiny_bert)
    finally:
        stop.set()
        worker.join(60)
        print("\n===== transcript: what reached Slack =====")
        print("\n".join(fake.transcript))
    logged = "\n".join(all_logs)
    assert BOT_TOKEN not in logged and SIGNING_SECRET not in logged
    assert BOT_TOKEN not in json.dumps(fake.log, default=str)  # nor in any message body sent to Slack


def _story(driver, fake, home, tiny_bert):
    # 1. dataset upload from a message
    f = fake.add_file("cards.csv", cards_csv())
    ts, _ = driver.mention("dataset add cards", files=[f])
    fake.wait_for(lambda: [m for m in fake.channel_messages("C0001", thread_ts=ts) if "registered" in m["text"]],
                  60, "dataset registered")

    # 2. train: the reply shows the plan before the run starts
    status, _, secs = driver.command(f"train cards base={tiny_bert} method=full alpha=0.2 freeze=embeddings "
                                     "epochs=4 lr=5e-3 batch_size=8 max_length=32 patience=0")
    assert status == 200 and secs < 3
    reply = fake.wait_for(lambda: [r for r in fake.responses if "Queued" in r.get("text", "")], 60, "plan")[0]
    plan_text = json.dumps(reply["blocks"])
    assert "Trainable parameters" in plan_text and "L_pre" in plan_text and "Frozen" in plan_text
    with connect(home) as db:
        run_id = db.execute("SELECT MAX(id) FROM runs").fetchone()[0]

    # 3. the status message, its edits, the milestones and charts in its thread, the result in the channel
    final = fake.wait_for(lambda: [m for m in fake.channel_messages("C0001", top_level=True)
                                   if m["text"].startswith(f"run #{run_id} finished")], 300, "final result")[0]
    status_msg = [m for m in fake.channel_messages("C0001", top_level=True)
                  if m["text"].startswith(f"run #{run_id} ")][0]
    assert status_msg.get("edits", 0) >= 1
    assert "succeeded" in status_msg["text"]
    thread = fake.channel_messages("C0001", thread_ts=status_msg["ts"])
    assert any("started" in m["text"] for m in thread)
    assert any("evaluation" in m["text"] for m in thread)
    pngs = fake.wait_for(lambda: [x for x in fake.files.values() if x["by"] == "bot" and x.get("shared")], 30, "pngs")
    assert {p["name"] for p in pngs} == {"loss_curve.png", "confusion.png"}
    assert all(p["thread_ts"] == status_msg["ts"] and p["content"].startswith(b"\x89PNG") for p in pngs)
    assert "Accuracy" in final["blocks"][0]["text"]["text"]
    import re as _re  # the sklearn baseline is reported with a real figure, not a placeholder
    assert _re.search(r"\*Baseline\* \(TF-IDF[^)]*\): accuracy \d+\.\d%", final["blocks"][0]["text"]["text"])

    # 4. try the run in its thread before deploying: `/ft ask` with the thread's ts asks that run's model
    driver.command("ask I lost my card", extra={"thread_ts": status_msg["ts"]})
    fake.wait_for(lambda: len(fake.channel_messages("C0001", thread_ts=status_msg["ts"])) > len(thread), 60,
                  "answer in the run thread")

    # 5. deploy with the button on the result
    deploy_btn = final["blocks"][1]["elements"][0]
    assert deploy_btn["action_id"] == "run_deploy"
    driver.click("run_deploy", deploy_btn["value"])
    fake.wait_for(lambda: [m for m in fake.channel_messages("C0001") if "now answers" in m["text"]], 30, "deployed")

    # 6. a question by mention → answer in the thread with 👍/👎
    qts, _ = driver.mention("I lost my card, what should I do?")
    ans = fake.wait_for(lambda: fake.channel_messages("C0001", thread_ts=qts), 60, "answer")[0]
    assert "confidence" in json.dumps(ans["blocks"])
    up = [b for b in ans["blocks"] if b["type"] == "actions"][0]["elements"][0]
    driver.click("qa_feedback_up", up["value"], message={"ts": ans["ts"], "thread_ts": qts})
    fake.wait_for(lambda: [e for e in fake.ephemerals if "Thanks" in e["text"]], 30, "thanks")
    with connect(home) as db:
        fb = db.execute("SELECT question_id, user, value FROM feedback").fetchall()
        q = db.execute("SELECT channel, run_id FROM questions WHERE id = ?", [int(up["value"])]).fetchone()
        dep = db.execute("SELECT scope, run_id FROM deployments WHERE active = 1").fetchall()
    assert fb == [(int(up["value"]), "UADMIN", 1)]
    assert tuple(q) == ("C0001", run_id)
    assert [tuple(d) for d in dep] == [("C0001", run_id)]

    # 7. `/ft dataset show` counts the feedback
    driver.command("dataset show cards")
    fake.wait_for(lambda: [r for r in fake.responses if ":+1: 1" in json.dumps(r.get("blocks"), ensure_ascii=False)
                           or ":+1: 1" in r.get("text", "")], 30, "feedback count")
