"""What a Slack member who is not an admin reads through the operations (ops/visibility.py behind Operations.run)."""
from __future__ import annotations

import pytest

from engine.errors import NotFound
from ops.access import Policy
from ops.facade import Operations
from tests.slack.helpers import add_dataset_row, add_run

POLICY = Policy.from_env({"FTBOT_ADMINS": "UADMIN"})


def test_a_members_runs_of_one_dataset_are_the_latest_of_that_dataset_not_of_the_page(home):
    """The dataset filter came after the LIMIT: with newer runs of another dataset filling the page, a member saw
    fewer (here none) of the dataset's runs than the channel holds."""
    add_dataset_row(home, "banking")
    add_dataset_row(home, "credit")
    mine = [add_run(home, "banking", channel="C0001")["id"] for _ in range(3)]
    for _ in range(4):
        add_run(home, "credit", channel="C0001")
    add_run(home, "banking", channel="C0OTHER")                    # another channel's: never shown here
    ops, member = Operations(home), POLICY.slack("UMEMBER", "C0001")
    got = ops.run("runs", member, {"limit": 3, "dataset": "banking"}).result
    assert [r["id"] for r in got] == sorted(mine, reverse=True)
    assert [r["id"] for r in ops.run("runs", member, {"limit": 2, "dataset": "banking"}).result] == \
        sorted(mine, reverse=True)[:2]
    assert len(ops.run("runs", member, {"limit": 15}).result) == 7


def test_status_compare_and_dataset_show_refuse_another_channels_work_once_with_one_message(home):
    """The channel check is authorize's (one connection for every argument); the operations only clean."""
    add_dataset_row(home, "banking")
    add_dataset_row(home, "secret")
    here = add_run(home, "banking", channel="C0001")
    there = add_run(home, "secret", channel="C0OTHER")
    ops, member = Operations(home), POLICY.slack("UMEMBER", "C0001")
    assert ops.run("status", member, {"run_id": here["id"]}).result["id"] == here["id"]
    with pytest.raises(NotFound, match=rf"^no run #{there['id']} in this channel; see `/ft runs`$"):
        ops.run("status", member, {"run_id": there["id"]})
    with pytest.raises(NotFound, match=rf"^no run #{there['id']} in this channel"):
        ops.run("compare", member, {"a": here["id"], "b": there["id"]})
    with pytest.raises(NotFound, match=r"^no dataset named 'secret' in this channel; see `/ft datasets`$"):
        ops.run("dataset show", member, {"name": "secret"})
    admin = POLICY.slack("UADMIN", "C0001")
    done = ops.run("status", admin, {"run_id": there["id"]})
    assert done.private and done.result["id"] == there["id"]


def test_authorize_looks_runs_up_in_one_connection_and_ask_in_none(home, monkeypatch):
    from ops import access, commands
    from storage import connect as real_connect
    add_dataset_row(home, "banking")
    a, b = add_run(home, "banking", channel="C0001"), add_run(home, "banking", channel="C0001")
    opened = []

    def counting(h):
        opened.append(h)
        return real_connect(h)
    monkeypatch.setattr(access, "connect", counting)
    member = POLICY.slack("UMEMBER", "C0001")
    assert access.authorize(home, member, commands.verb("compare"), {"a": a["id"], "b": b["id"]}) == \
        {"private": False}
    assert len(opened) == 1
    opened.clear()
    assert access.authorize(home, member, commands.verb("ask"), {"question": "hi", "scope": "C0001"}) == \
        {"private": False}
    assert opened == []
