"""Every command of the table (ops/commands.py), walked the way an attacker would: from Slack as a member of another
channel, from the CLI as a local account that is not an admin, and as a requester approving their own request
through the other edge. Each must be refused or answer only with what belongs to the caller's channel.

A command added to the table without a case here fails `test_every_command_has_an_attack_case`: the next hole is
found by the suite, not by a reviewer.
"""
from __future__ import annotations

import json

import pytest

from ops import commands as table
from storage import connect, questions, schedules
from tests.slack.conftest import ADMIN
from tests.slack.helpers import add_dataset_row
from tests.slack.privacy_helpers import deployed_run, set_dataset_channel

HOME_CH, OTHER_CH, OUTSIDER = "CHOME", "COTHER", "UOUTSIDER"
CARD = "4111111111111111"
SECRET_WORDS = ("homedata", CARD, "4111 1111")

# How each command is typed (RUN is the home channel's run). None: not on that edge.
CASES: dict[str, tuple[str | None, list[str] | None]] = {
    "dataset list": ("datasets", ["dataset", "list"]),
    "dataset show": ("dataset show homedata", ["dataset", "show", "homedata"]),
    "dataset add": ("dataset add stolen data.csv", ["dataset", "add", "stolen", "{data}"]),
    "dataset export-feedback": (None, ["dataset", "export-feedback", "homedata", "{tmp}/out.csv"]),
    "train": ("train homedata epochs=1", ["train", "homedata", "--epochs", "1", "--queue"]),
    "runs": ("runs", ["runs"]),
    "status": ("status RUN", ["status", "RUN"]),
    "cancel": ("cancel RUN", ["cancel", "RUN"]),
    "eval": ("eval RUN", ["eval", "RUN"]),
    "compare": ("compare RUN RUN", ["compare", "RUN", "RUN"]),
    "score": ("score RUN data.csv", ["score", "RUN", "{data}", "--out", "{tmp}/s.csv"]),
    "explain": (None, ["explain", "RUN", "{data}", "--row", "1"]),
    "drift": ("drift RUN", ["drift", "RUN", "--file", "{data}"]),
    "report": ("report RUN", ["report", "RUN", "--out", "{tmp}/r.md"]),
    "deploy": ("deploy RUN", ["deploy", "RUN", "--scope", HOME_CH]),
    "ask": ("ask where is my card?", ["ask", "where", "is", "my", "card?", "--scope", HOME_CH]),
    "ask --ab": ("ask --ab where is my card?", None),
    "challenge": ("challenge RUN", ["challenge", "RUN", "--scope", HOME_CH]),
    "challenge report": ("challenge report", ["challenge", "report", "--scope", HOME_CH]),
    "challenge stop": ("challenge stop", ["challenge", "stop", "--scope", HOME_CH]),
    "promote": ("promote", ["promote", "--scope", HOME_CH]),
    "approve": ("approve 1", ["approve", "1"]),
    "reject": ("reject 1 no", ["reject", "1"]),
    "rollback": ("rollback", ["rollback", "--scope", HOME_CH]),
    "deployments": ("deployments", ["deployments", "--scope", HOME_CH]),
    "approval": ("approval optional", ["approval", "optional"]),
    "schedule add": ("schedule add reeval CHOME 0 6 * * 1", ["schedule", "add", "reeval", HOME_CH, "0", "6", "*",
                                                             "*", "1"]),
    "schedule list": ("schedule list", ["schedule", "list"]),
    "schedule remove": ("schedule remove reeval-CHOME", ["schedule", "remove", "reeval-CHOME"]),
    "prune": (None, ["prune"]),
}


def test_every_command_has_an_attack_case():
    missing = [v.name for v in table.VERBS if v.name not in CASES]
    assert not missing, f"add an attack case for {missing} to tests/slack/test_attack_walk.py"
    for v in table.VERBS:
        slack, cli = CASES[v.name]
        assert (slack is not None) == ("slack" in v.edges) and (cli is not None) == ("cli" in v.edges), v.name


def _plant(home, settings):
    """The home channel's work: a dataset, a deployed run, a question holding a card number (an example a
    challenger report would quote), a schedule, and a file in the server's data folder."""
    add_dataset_row(home, "homedata")
    set_dataset_channel(home, "homedata", HOME_CH)
    run = deployed_run(home, dataset="homedata", channel=HOME_CH, make_dataset=False)
    with connect(home) as db:
        questions.add(db, scope=HOME_CH, run_id=run["id"], asked_by="UHOME", channel=HOME_CH, ts="1.1",
                      question=f"card {CARD} lost", answer="a", intent="lost_card", confidence=0.9, top=[],
                      fallback=False)
        schedules.add(db, id="retrain-homedata", kind="retrain", target="homedata", cron="0 6 * * 1",
                      created_by="UADMIN", channel=HOME_CH)
    (settings.data_dir / "data.csv").write_text("text,label\nhello,a\nworld,b\n")
    return run


def _replies_to(fake, n: int) -> str:
    return json.dumps(fake.responses[n:] + fake.ephemerals, ensure_ascii=False)


def test_a_member_of_another_channel_is_refused_or_sees_only_their_channel(driver, fake, home, settings):
    run = _plant(home, settings)
    for verb in table.for_edge("slack"):
        text = CASES[verb.name][0].replace("RUN", str(run["id"]))
        n = len(fake.responses)
        status, body, _ = driver.command(text, user=OUTSIDER, channel=OTHER_CH)
        assert status == 200, (verb.name, status)
        if verb.role != table.EVERYONE:
            assert b"Only ftbot" in body, (verb.name, body)      # refused in the acknowledgement itself
            continue
        fake.wait_for(lambda: len(fake.responses) > n, 15, f"a reply to {text}")
        seen = _replies_to(fake, n) + body.decode()
        leaked = [w for w in SECRET_WORDS if w in seen and w not in text]      # an echo of what they typed is not
                                                                              # a leak
        assert not leaked, f"/ft {text} showed {leaked} of another channel to an outsider: {seen[:500]}"
    # and each refusal of a privileged command was audited
    with connect(home) as db:
        refused = {r["action"] for r in db.query("SELECT action FROM audit WHERE ok = 0 AND actor = ?", [OUTSIDER])}
    assert {"deploy", "dataset.add", "approval", "score"} <= refused


def test_an_admin_reaching_into_another_channel_is_answered_privately(driver, fake, home, settings):
    """An admin may look at any run, but what belongs to another channel is shown to them alone, not posted in the
    channel they typed in (its members may not see the other channel)."""
    run = _plant(home, settings)
    n = len(fake.responses)
    driver.command(f"status {run['id']}", user=ADMIN, channel=OTHER_CH)
    fake.wait_for(lambda: len(fake.responses) > n, 10, "status reply")
    assert "homedata" in json.dumps(fake.responses[n:]) and fake.responses[n]["response_type"] == "ephemeral"


@pytest.mark.parametrize("verb", [v.name for v in table.for_edge("cli")])
def test_a_local_account_that_is_not_an_admin_is_refused(verb, home, tmp_path, monkeypatch, capsys, settings):
    from bot.cli import main
    monkeypatch.setenv("FTBOT_ADMINS", "cli:alice")
    monkeypatch.setattr("ops.access.cli_login", lambda: "mallory")
    run = _plant(home, settings)
    argv = [a.replace("RUN", str(run["id"])).replace("{data}", str(settings.data_dir / "data.csv"))
            .replace("{tmp}", str(tmp_path)) for a in CASES[verb][1]]
    code = main(argv + ["--home", str(home)])
    err = capsys.readouterr().err
    if table.verb(verb).role == table.EVERYONE:
        assert "Only ftbot" not in err          # the local account reads FTBOT_HOME anyway (docs/security.md)
    else:
        assert code == 2 and "Only ftbot" in err, (verb, code, err)


def test_nobody_approves_their_own_request_through_the_other_edge(driver, fake, home, settings, monkeypatch, capsys):
    """A Slack user and a local login of one person (FTBOT_IDENTITIES) are one person: a request made in Slack is
    not theirs to approve from the CLI, nor the other way round."""
    from bot.cli import main
    from ops import policy, promotion
    from ops.access import Actor, Policy
    run = _plant(home, settings)
    people = {"FTBOT_ADMINS": f"{ADMIN},cli:alice", "FTBOT_APPROVERS": f"{ADMIN},cli:alice",
              "FTBOT_IDENTITIES": f"{ADMIN}=alice"}
    for k, v in people.items():
        monkeypatch.setenv(k, v)
    policy.set_approval(home, "required", actor=Actor.system("test"))
    slack_alice = Policy.from_env().slack(ADMIN, HOME_CH)
    req = promotion.request_deploy(home, run["id"], scope="default", actor=slack_alice)
    monkeypatch.setattr("ops.access.cli_login", lambda: "alice")
    assert main(["approve", str(req["id"]), "--home", str(home)]) == 2
    assert "four eyes" in capsys.readouterr().err
    req2 = promotion.request_deploy(home, run["id"], scope="default", actor=Policy.from_env().cli())
    with pytest.raises(Exception, match="four eyes|yourself"):
        promotion.approve(home, req2["id"], actor=slack_alice)
    with connect(home) as db:
        states = [r["status"] for r in db.query("SELECT status FROM deploy_requests ORDER BY id")]
    assert states == ["pending", "pending"]
