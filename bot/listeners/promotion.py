"""Buttons of champions and challengers: Approve/Reject on a request, 👍/👎 on a challenger's A/B answer, and a
reply `ab` in an answer thread. `/ft` commands reach the same operations through bot/listeners/commands.py; both go
through the one command path (ops.facade.Operations.run) and show results with bot/replies.py.
"""
from __future__ import annotations

from bot import blocks_promotion as bp
from bot import replies
from bot.slack_calls import call
from bot.listeners import Deps


def show_ab_in_thread(deps: Deps, user: str, channel: str, thread_ts: str, post) -> None:
    """A reply `ab` in an answer thread: both answers to that thread's question."""
    ab = deps.ops.ab_in_thread(channel, thread_ts, actor=deps.actor(user, channel))
    post(*bp.ab_answer(ab))


def register(app, deps: Deps) -> None:
    @app.action("promotion_approve")
    @app.action("promotion_reject")
    def on_decide(ack, body, action, client):
        ack()
        user, channel = body["user"]["id"], (body.get("channel") or {}).get("id")
        approve = action["action_id"] == "promotion_approve"
        actor = deps.actor(user, channel)
        eph = _ephemeral(client, channel, user)
        if deps.refuse(actor, "approve" if approve else "reject", f"request:{action['value']}",
                       lambda m: deps.background(eph, m)):
            return
        deps.background(_decide, deps, client, channel, int(action["value"]), actor, approve, on_error=eph)

    @app.action("ab_feedback_up")
    @app.action("ab_feedback_down")
    def on_ab_feedback(ack, body, action, client):
        ack()
        user, channel = body["user"]["id"], (body.get("channel") or {}).get("id")
        value = 1 if action["action_id"] == "ab_feedback_up" else -1
        eph = _ephemeral(client, channel, user)

        def run():
            deps.ops.challenger_feedback(int(action["value"]), actor=deps.actor(user, channel), value=value)
            eph(":+1: Thanks — noted for the challenger." if value > 0 else ":-1: Thanks — noted for the challenger.")
        deps.background(run, on_error=eph)


def _ephemeral(client, channel, user):
    def send(text, blks=None):
        call(client, "chat.postEphemeral", channel=channel, user=user, text=text, blocks=blks)
    return send


def _decide(deps: Deps, client, channel: str, request_id: int, actor, approve: bool) -> None:
    done = deps.ops.run("approve" if approve else "reject", actor, {"request_id": request_id})
    replies.show_decision(deps, client, channel, done.result, actor.id, approve=approve)
