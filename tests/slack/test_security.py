"""Signed requests only; admin-only actions refused with an ephemeral message and an audit row ok=0."""
import time

from storage import audit, connect
from tests.slack.conftest import ADMIN, SIGNING_SECRET
from tests.slack.helpers import add_dataset_row, add_run


def _audit(home):
    with connect(home) as db:
        return audit.recent(db)


def test_forged_signature_gets_401_and_does_nothing(driver, fake, home):
    status, _, _ = driver.command("runs", secret="not-the-secret")
    assert status == 401
    status, _, _ = driver.mention("where is my card?", both=False, secret="forged")[1][0]
    assert status == 401
    time.sleep(0.5)
    assert fake.log == [] and fake.responses == [] and fake.messages == []
    assert _audit(home) == []


def test_stale_signature_gets_401(driver, fake, home):
    status, _, _ = driver.command("runs", timestamp=int(time.time()) - 6 * 60)
    assert status == 401
    status, _, _ = driver.command("train banking", timestamp=int(time.time()) - 301)
    assert status == 401
    time.sleep(0.3)
    assert fake.log == [] and fake.responses == []


def test_signature_over_a_different_body_fails(driver, server):
    import urllib.parse
    from tests.slack.driver import sign
    ts = str(int(time.time()))
    good = urllib.parse.urlencode({"command": "/ft", "text": "runs", "user_id": ADMIN}).encode()
    tampered = good.replace(b"runs", b"help")
    sig = sign(SIGNING_SECRET, ts, good)
    import urllib.request, urllib.error
    req = urllib.request.Request(driver.url, data=tampered, method="POST", headers={
        "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig,
        "Content-Type": "application/x-www-form-urlencoded"})
    try:
        urllib.request.urlopen(req, timeout=5)
        assert False, "expected 401"
    except urllib.error.HTTPError as e:
        assert e.code == 401


def test_non_admins_are_refused_and_audited(driver, fake, home):
    add_dataset_row(home)
    run = add_run(home)
    for text, action in [("train banking epochs=1", "train"), (f"cancel {run['id']}", "cancel"),
                         (f"deploy {run['id']}", "deploy"), ("dataset add x x.csv", "dataset.add"),
                         (f"eval {run['id']}", "eval")]:
        status, body, _ = driver.command(text, user="UNOBODY")
        assert status == 200
        assert b"Only ftbot admins" in body and b"ephemeral" in body
    fake.wait_for(lambda: len([a for a in _audit(home) if not a["ok"]]) == 5, 5, "audit rows")
    refused = {a["action"]: a for a in _audit(home) if not a["ok"]}
    assert set(refused) == {"train", "cancel", "deploy", "dataset.add", "eval"}
    assert all(a["actor"] == "UNOBODY" for a in refused.values())
    # nothing happened: the run is still queued, no deployment
    with connect(home) as db:
        assert db.execute("SELECT status FROM runs").fetchone()[0] == "queued"
        assert db.execute("SELECT COUNT(*) FROM deployments").fetchone()[0] == 0
    # the deploy button is refused the same way
    driver.click("run_deploy", str(run["id"]), user="UNOBODY")
    fake.wait_for(lambda: any("Only ftbot admins" in e["text"] for e in fake.ephemerals), 5, "ephemeral refusal")


def test_everyone_may_list(driver, fake):
    status, _, _ = driver.command("runs", user="UNOBODY")
    assert status == 200
    fake.wait_for(lambda: fake.responses, 5, "runs reply")
    assert "No runs yet" in fake.responses[0]["text"] or fake.responses[0].get("blocks")


def test_server_path_must_stay_inside_the_data_folder(driver, fake, settings):
    (settings.data_dir / "ok.csv").write_text("text,label\n")
    for bad in ("../../etc/passwd", "/etc/passwd", "sub/../../x.csv"):
        driver.command(f"dataset add evil {bad}")
    fake.wait_for(lambda: len(fake.responses) == 3, 5, "three refusals")
    assert all("outside the data folder" in r["text"] for r in fake.responses), fake.responses


def test_healthz(server):
    import urllib.request
    with urllib.request.urlopen(server.url + "/healthz", timeout=5) as r:
        assert r.status == 200


def test_unsigned_or_malformed_json_is_refused_before_bolt(driver, fake, home, capfd):
    """Slack's URL check and events come as JSON: without a valid signature they get 401 and leave no traceback in
    the log (a scanner's junk must not fill the logs or reach a handler)."""
    import urllib.error
    import urllib.request
    bodies = [b'{"type": "url_verification", "challenge": "c"}', b'{"type": "event_callback", "event": ',
              b"\xff\xfe not json", b""]
    for body in bodies:
        for headers in ({}, {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=zz"}):
            req = urllib.request.Request(driver.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", **headers})
            try:
                urllib.request.urlopen(req, timeout=5)
                raise AssertionError(f"expected 401 for {body!r} {headers}")
            except urllib.error.HTTPError as e:
                assert e.code == 401, (body, headers, e.code)
    time.sleep(0.3)
    assert fake.log == [] and _audit(home) == []
    assert "Traceback" not in capfd.readouterr().err
