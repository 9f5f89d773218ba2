"""Champions and challengers in Slack: deploy/promote requests with Approve/Reject buttons, rollback, deployment
history, challengers and their report (chart in the thread), A/B answers with feedback for each model.

`/ft` verbs arrive through bot/listeners/commands.py (which acks and checks the role) and land in `handle`, on the
background pool. Buttons are registered here: ack first, role check, then the work on the pool.
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from ops.access import Actor
from ops.deployments import scope_for

from bot import blocks_promotion as bp
from bot.delivery import call
from bot.listeners import Deps

log = logging.getLogger("ftbot.slack")

COMMANDS = {"deploy", "promote", "approve", "reject", "rollback", "deployments", "challenge", "challenge.stop",
            "challenge.report", "ask.ab"}
SLOW = {"challenge.report": "comparing the two models", "ask.ab": "asking both models"}


def handle(deps: Deps, cmd, actor: Actor, channel: str, command: dict, respond, client) -> None:
    ops, user, n = deps.ops, actor.id, cmd.name
    scope = cmd.args[0] if n in ("rollback", "deployments", "challenge.report") and cmd.args else scope_for(channel)

    def say(text, blks=None, where="ephemeral"):
        respond(text=text, blocks=blks, response_type=where, replace_original=False)

    if n in ("deploy", "promote"):
        res = ops.request_deploy(int(cmd.args[0]), scope=scope, actor=actor) if n == "deploy" else \
            ops.promote(scope=scope, actor=actor)
        if res["status"] == "deployed":
            say(f":rocket: run #{res['run_id']} now answers questions {bp._where(scope)} (deployed by <@{user}>)",
                None, "in_channel")
        else:
            post_request(deps, client, channel, res, say)
    elif n in ("approve", "reject"):
        decide(deps, client, channel, int(cmd.args[0]), actor, approve=n == "approve", reason=cmd.text or None)
    elif n == "rollback":
        res = ops.rollback(scope=scope, actor=actor)
        say(f":leftwards_arrow_with_hook: {bp._where(scope)}: back to run #{res['run_id']} — run "
            f"#{res['from_run_id']} rolled back by <@{user}>", None, "in_channel")
    elif n == "deployments":
        say(*bp.history(ops.deployment_history(None if scope == "all" else scope)))
    elif n == "challenge":
        row = ops.start_challenger(int(cmd.args[0]), scope=scope, actor=actor, channel=channel)
        say(bp.challenger_started(row, user), None, "in_channel")
    elif n == "challenge.stop":
        row = ops.stop_challenger(scope=scope, actor=actor)
        say(f":white_flag: challenger run #{row['run_id']} stopped {bp._where(scope)} (by <@{user}>)", None,
            "in_channel")
    elif n == "challenge.report":
        post_report(deps, client, channel, ops.challenger_report(scope))
    elif n == "ask.ab":
        thread_ts = command.get("thread_ts")
        ab = ops.ask_ab(cmd.text, scope=scope, actor=actor, channel=channel, ts=thread_ts, thread_ts=thread_ts)
        say(*bp.ab_answer(ab))


def post_request(deps: Deps, client, channel: str, req: dict, say) -> None:
    """The request with Approve/Reject, posted in the channel; its ts is kept so the decision can edit it."""
    text, blks = bp.request_message(req)
    try:
        resp = call(client, "chat.postMessage", channel=channel, text=text, blocks=blks)   # bot/delivery.py retries
        deps.ops.set_request_message(req["id"], channel, resp["ts"])
    except Exception as e:  # noqa: BLE001 — e.g. not_in_channel: the requester still gets it, without an edit later
        log.warning("could not post deploy request #%s in %s: %s", req["id"], channel, deps.settings.redact(str(e)))
        say(text, blks, "in_channel")


def decide(deps: Deps, client, channel: str, request_id: int, actor: Actor, *, approve: bool,
           reason: str | None = None) -> None:
    ops = deps.ops
    req = ops.approve(request_id, actor=actor) if approve else ops.reject(request_id, actor=actor, reason=reason)
    text, blks = bp.request_decided(req)
    if req.get("channel") and req.get("ts"):
        try:
            call(client, "chat.update", channel=req["channel"], ts=req["ts"], text=text, blocks=blks)
        except Exception as e:  # noqa: BLE001 — the outcome is still posted below
            log.warning("could not update request #%s: %s", request_id, deps.settings.redact(str(e)))
    where = req.get("channel") or channel
    if approve:
        msg = (f":white_check_mark: request #{req['id']} approved by <@{actor.id}>: run #{req['run_id']} now answers "
               f"questions {bp._where(req['scope'])}")
    else:
        msg = f":x: request #{req['id']} rejected by <@{actor.id}>" + (f": {reason}" if reason else "")
    call(client, "chat.postMessage", channel=where, thread_ts=req.get("ts"), text=msg,
         reply_broadcast=bool(req.get("ts")))


def post_report(deps: Deps, client, channel: str, rep: dict, daily: bool = False) -> str:
    """The report in the channel, its chart (PNG) in the report's thread. Returns the report message's ts."""
    text, blks = bp.report(rep, daily=daily)
    resp = call(client, "chat.postMessage", channel=channel, text=text, blocks=blks)   # bot/delivery.py: once
    ts = resp["ts"]
    with tempfile.TemporaryDirectory(prefix="ftbot-report-") as tmp:
        png = deps.ops.challenger_report_png(rep, Path(tmp) / f"challenger-{rep['challenger_id']}.png")
        if png is not None:
            call(client, "files_upload_v2", channel=channel, thread_ts=ts, file=str(png), filename=png.name,
                 title="Agreement and confidence over time")
    return ts


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
        deps.background(decide, deps, client, channel, int(action["value"]), actor, approve=approve, on_error=eph)

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
