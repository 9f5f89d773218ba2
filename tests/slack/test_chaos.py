"""Chaos: whole stories while the fake Slack refuses, rate-limits, fails, slows down and drops connections (seeded).
The same scenarios as bench/slack_chaos.py: nothing lost, nothing posted twice, no call retried past the cap, acks
under 3 s."""
import pytest

from bench import slack_chaos


@pytest.mark.parametrize("seed", [1, 2])
def test_every_story_reaches_its_requester_once(seed, home):
    rep = slack_chaos.run(seed=seed, share=0.25, timeout=40)
    assert sum(rep["injected"].values()) > 5
    assert rep["lost"] == 0, [s for s in rep["stories"] if s["lost"]]
    assert rep["duplicated"] == 0, rep["duplicates"]
    assert rep["max_retries_one_call"] <= rep["retry_cap"]
    assert rep["max_ack_s"] < 3
    trainings = [s for s in rep["stories"] if s["story"].startswith("training")]
    # the fourth trains in a channel where Slack refuses every message with blocks: its words reach the channel
    assert [t["reached_by"] for t in trainings] == ["channel", "dm", "channel", "channel:plain"]
    assert all(t["charts"] == 2 and t["thread_messages"] >= 4 for t in trainings[:2] + trainings[3:])
    assert "not_in_channel" in trainings[1]["problem"]
    by = {s["story"]: s["reached_by"] for s in rep["stories"]}
    assert by["question 1"] == "dm" and by["question 2"] == "thread" and by["deploy click"] == "response_url"
    assert by["question 3"] == "thread:plain"
