"""The child entrypoint refuses runs it does not hold, and the worker's CLI and embedded mode start and stop."""
from __future__ import annotations

import pytest

from jobs import child
from jobs.worker import Worker, main
from tests.jobs.conftest import FAKE, get, make_run


def test_child_refuses_a_run_it_does_not_hold(home, capsys):
    rid = make_run(home)
    assert child.main([str(rid), "--home", str(home), "--worker", "me", "--target", FAKE]) == 3
    assert "is queued and held by None" in capsys.readouterr().err
    assert get(home, rid)["status"] == "queued"


def test_child_can_claim_for_a_hand_launch(home):
    rid = make_run(home, steps=1)
    assert child.main([str(rid), "--home", str(home), "--worker", "me", "--target", FAKE, "--claim"]) == 0
    assert get(home, rid)["status"] == "succeeded" and get(home, rid)["worker"] == "me"
    assert child.main([str(rid), "--home", str(home), "--target", FAKE, "--claim"]) == 3  # not queued any more


def test_target_paths():
    from tests.jobs import fakes
    assert child.target_path(fakes.execute) == FAKE
    assert child.load_target(FAKE) is fakes.execute
    with pytest.raises(ValueError, match="package.module:function"):
        child.load_target("nocolon")


def test_embedded_worker_with_schedules_starts_and_stops(home):
    w = Worker(home, slots=1, poll_s=0.05, target=FAKE, retention=False).start()
    assert w.running and w._scheduler is not None
    w.stop(wait=True, timeout=10)
    assert not w.running and w._scheduler is None


def test_cli_until_idle(home, capsys):
    rid = make_run(home, steps=1)
    assert main(["--home", str(home), "--slots", "1", "--poll", "0.05", "--target", FAKE, "--until-idle"]) == 0
    assert f"run #{rid}: succeeded" in capsys.readouterr().out
    assert main(["--home", str(home), "--slots", "0", "--until-idle"]) == 2


def test_training_children_get_no_slack_tokens_or_secrets(home, monkeypatch, tmp_path):
    """Security finding 12: a training child inherited SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET and SLACK_APP_TOKEN.
    A real child process is launched by the local executor and prints the environment it got."""
    import json
    import sys
    from jobs.executors.environment import child_environment
    from jobs.executors.local import LocalExecutor
    for name, value in (("SLACK_BOT_TOKEN", "xoxb-secret"), ("SLACK_SIGNING_SECRET", "sig-secret"),
                        ("SLACK_APP_TOKEN", "xapp-secret"), ("FTBOT_DB_PASSWORD", "pw"), ("AWS_ACCESS_KEY_ID", "x")):
        monkeypatch.setenv(name, value)
    env = child_environment()
    assert not {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "FTBOT_DB_PASSWORD",
                "AWS_ACCESS_KEY_ID"} & set(env)
    assert env["PATH"] == __import__("os").environ["PATH"]
    # the executor really launches with it: a stand-in `python` that prints its environment
    probe = tmp_path / "python"
    probe.write_text(f"#!{sys.executable}\nimport json, os\nprint(json.dumps(dict(os.environ)))\n")
    probe.chmod(0o755)
    handle = LocalExecutor(python=str(probe)).launch(home=home, run_id=1, worker_id="w", target=FAKE, slot=0,
                                                     attempt=1)
    while handle.poll() is None:
        pass
    seen = json.loads(handle.log_path.read_text().strip().splitlines()[-1])
    assert "SLACK_BOT_TOKEN" not in seen and "SLACK_SIGNING_SECRET" not in seen and "SLACK_APP_TOKEN" not in seen
    assert seen["FTBOT_HOME"] == str(home.resolve()) and seen["FTBOT_WORKER_ID"] == "w"
