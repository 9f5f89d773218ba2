"""Buttons: 👍/👎 on answers, Deploy and Compare on a run's result, Explain beside a declined applicant."""
from __future__ import annotations

from ops.scopes import scope_for

from bot import blocks, replies
from bot.listeners import Deps


def register(app, deps: Deps) -> None:
    @app.action("qa_feedback_up")
    @app.action("qa_feedback_down")
    def on_feedback(ack, body, action, client):
        ack()
        user, channel = body["user"]["id"], (body.get("channel") or {}).get("id")
        value = 1 if action["action_id"] == "qa_feedback_up" else -1
        eph = _ephemeral(deps, client, channel, user, body)
        deps.background(_feedback, deps, int(action["value"]), deps.actor(user, channel), value, eph, on_error=eph)

    @app.action("run_deploy")
    def on_deploy(ack, body, action, client):
        ack()
        user, channel = body["user"]["id"], (body.get("channel") or {}).get("id")
        eph = _ephemeral(deps, client, channel, user, body)
        actor = deps.actor(user, channel)
        if deps.refuse(actor, "deploy", f"run:{action['value']}", lambda m: deps.background(eph, m)):
            return
        deps.background(_deploy, deps, int(action["value"]), actor, channel, client, eph.reply, on_error=eph)

    @app.action("score_explain")
    def on_explain(ack, body, action, client):
        ack()
        user, channel = body["user"]["id"], (body.get("channel") or {}).get("id")
        eph = _ephemeral(deps, client, channel, user, body)
        actor = deps.actor(user, channel)
        if deps.refuse(actor, "score.explain", action["value"], lambda m: deps.background(eph, m)):
            return
        scoring, _, index = action["value"].partition(":")
        deps.background(lambda: eph(*replies.explanation(deps.ops.scoring_explanation(int(scoring), int(index),
                                                                                      actor=actor))),
                        on_error=eph)

    @app.action("run_compare")
    def on_compare(ack, body, action, client):
        ack()
        user, channel = body["user"]["id"], (body.get("channel") or {}).get("id")
        eph = _ephemeral(deps, client, channel, user, body)
        a, b = (int(x) for x in action["value"].split(","))
        actor = deps.actor(user, channel)
        deps.background(lambda: eph(*blocks.compare_blocks(deps.ops.run("compare", actor, {"a": a, "b": b}).result)),
                        on_error=eph)


def _ephemeral(deps, client, channel, user, body):
    """A reply only the clicker sees; if the channel refuses (the bot was never invited, say), the click's
    response_url, then a DM (bot/slack_calls.py)."""
    thread = (body.get("message") or {}).get("thread_ts")
    reply = deps.reply(client, user=user, channel=channel, thread_ts=thread, response_url=body.get("response_url"),
                       ref=(body.get("actions") or [{}])[0].get("value"))

    def send(text, blks=None):
        reply.post(text, blks, ephemeral=True)
    send.reply = reply
    return send


def _feedback(deps, qid, actor, value, eph):
    deps.ops.feedback(qid, actor=actor, value=value)
    eph(":+1: Thanks — noted." if value > 0 else ":-1: Thanks — noted; this helps the next training run.")


def _deploy(deps, run_id, actor, channel, client, reply):
    done = deps.ops.run("deploy", actor, {"run_id": run_id, "scope": scope_for(channel)})   # approval required: pending
    replies.present(done, replies.Context.posting(deps, client, channel, actor.id, reply.post))
