"""Questions: channel mentions, DMs, replies in the bot's answer threads and in run threads.

A channel mention arrives twice (app_mention and message) and Slack retries slow deliveries; both are collapsed
on the event id and on (channel, ts), which survives restarts. A mention carrying a
shared file and `dataset add NAME` registers that file instead (bot.listeners.files). Deliveries are collapsed through
the operations layer (ops/event_dedupe.py).
"""
from __future__ import annotations

import re

from ops.scopes import scope_for

from bot import blocks
from bot.listeners import Deps, log

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
# edits, deletions and system notices; not `thread_broadcast`: a thread reply also sent to the channel is a user's
# question like any other reply (with a mention it also comes as app_mention, collapsed on channel and ts)
_IGNORED_SUBTYPES = {"bot_message", "message_changed", "message_deleted", "channel_join", "channel_leave",
                     "message_replied", "channel_topic", "channel_purpose"}


def register(app, deps: Deps) -> None:
    @app.event("app_mention")
    def on_mention(event, body, context):
        deps.background(handle, deps, event, body, context.get("bot_user_id"), context.client, mention=True)

    @app.event("message")
    def on_message(event, body, context):
        if event.get("bot_id") or event.get("subtype") in _IGNORED_SUBTYPES:
            return
        deps.background(handle, deps, event, body, context.get("bot_user_id"), context.client, mention=False)


def handle(deps: Deps, event: dict, body: dict, bot_user_id: str | None, client, *, mention: bool) -> None:
    channel, ts = event.get("channel"), event.get("ts")
    thread_ts = event.get("thread_ts")
    text = event.get("text") or ""
    user = event.get("user") or ""
    if not channel or not ts or not user or user == bot_user_id:
        return
    is_dm = event.get("channel_type") == "im" or channel.startswith("D")
    mentions_me = mention or bool(bot_user_id and f"<@{bot_user_id}" in text)
    run_id = None
    if not (is_dm or mentions_me):
        # A plain channel message is ours only as a reply in one of our threads.
        if not thread_ts or thread_ts == ts:
            return
        run_id = deps.ops.run_for_thread(channel, thread_ts)
        if run_id is None and not deps.ops.is_answer_thread(channel, thread_ts):
            return
    if not deps.ops.first_delivery(f"event:{body.get('event_id')}" if body.get("event_id") else "",
                                   f"msg:{channel}:{ts}"):
        return
    question = _MENTION.sub(" ", text).strip()
    reply_ts = thread_ts or ts
    # Replies retry transient errors; a refusing channel (a private one we were removed from…) → the asker's DM.
    reply = deps.reply(client, user=user, channel=channel, thread_ts=reply_ts, kind="answer", ref=f"{channel}:{ts}")
    post = lambda t, b=None: reply.post(t, b)  # noqa: E731

    from bot.listeners.files import maybe_dataset_upload
    if maybe_dataset_upload(deps, event, question, user, channel, reply_ts, client, post):
        return
    if not question:
        post("Ask me a customer-service question, e.g. _where is my card?_ — or `/ft help` for commands.")
        return
    if thread_ts and thread_ts != ts and question.lower() in ("ab", "a/b"):   # testers: both models' answers
        from bot.listeners.promotion import show_ab_in_thread
        deps.background(show_ab_in_thread, deps, user, channel, thread_ts, post, on_error=lambda m: post(m))
        return
    try:
        from bot.slack_calls import Policy, call
        call(client, "reactions.add", channel=channel, timestamp=ts, name="eyes", policy=Policy(max_retries=0))
    except Exception as e:  # noqa: BLE001 — a missing reaction is cosmetic
        log.debug("reactions.add failed: %s", deps.settings.redact(str(e)))
    if run_id is None and thread_ts and thread_ts != ts:
        run_id = deps.ops.run_for_thread(channel, thread_ts)
    deps.background(_answer, deps, question, user, channel, ts, reply_ts, run_id, is_dm, post,
                    on_error=lambda m: post(m))


def _answer(deps, question, user, channel, ts, reply_ts, run_id, is_dm, post):
    res = deps.ops.ask(question, scope="default" if is_dm else scope_for(channel), run_id=run_id,
                       actor=deps.actor(user, channel), channel=channel, ts=ts, thread_ts=reply_ts)
    post(*blocks.answer(res, deps.settings.human_group))
