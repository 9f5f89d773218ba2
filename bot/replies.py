"""How Slack shows each command's result: one presenter per command of ops/commands.py, named after it (`dataset
add` → `dataset_add`). A presenter gets the command's outcome (ops.facade.Done) and a Context with the ways to
answer; most post one message, a few also upload a file or edit an earlier message.

Where a reply goes: the command's own choice (ops/commands.py `reply`: only the caller, or the channel), and only the
caller whenever the access decision says an admin reached beyond this channel (`Done.private`).
"""
from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bot import blocks
from bot import blocks_promotion as bp
from bot.blocks_promotion import _where
from bot.slack_calls import call

log = logging.getLogger("ftbot.slack")

EXPLAINED = 5      # declined applicants listed with an Explain button under a scored file's summary


@dataclass
class Context:
    deps: Any
    client: Any
    channel: str
    user: str
    respond: Callable            # respond(text=…, blocks=…, response_type=…, replace_original=False)
    command: dict                # the slash command payload (response_url, thread_ts, …)
    private: bool = False

    def say(self, text: str, blks: list | None = None, where: str = "ephemeral") -> None:
        if self.private:
            where = "ephemeral"
        self.respond(text=text, blocks=blks, response_type=where, replace_original=False)

    def tell(self, done, text: str, blks: list | None = None) -> None:
        """Post where the command's results go (ops/commands.py `reply`)."""
        self.say(text, blks, "in_channel" if done.verb.reply == "channel" else "ephemeral")

    @classmethod
    def posting(cls, deps, client, channel: str, user: str, post: Callable, thread_ts: str | None = None) -> Context:
        """A Context for a listener that answers through one `post(text, blocks)` (a button, the form, a file
        mention) rather than a slash command's respond: where a presenter would choose ephemeral or in-channel, the
        post decides."""
        def respond(text, blocks=None, response_type=None, replace_original=False):
            post(text, blocks)
        return cls(deps, client, channel, user, respond, {"thread_ts": thread_ts} if thread_ts else {})


def present(done, ctx: Context) -> None:
    ctx.private = ctx.private or done.private
    fn = globals().get(done.verb.name.replace(" --", "_").replace(" ", "_").replace("-", "_"))
    if fn is None:
        raise LookupError(f"no Slack presenter for {done.verb.name!r} (bot/replies.py)")
    fn(done, ctx)


# ---- data ---------------------------------------------------------------------------------------------------------
def dataset_list(done, ctx):
    ctx.tell(done, *blocks.datasets_list(done.result))


def dataset_show(done, ctx):
    ctx.tell(done, *blocks.dataset_detail(done.result))


def dataset_add(done, ctx):
    text, blks = blocks.dataset_detail(done.result)
    ctx.tell(done, ":white_check_mark: registered " + text, blks)


# ---- runs ---------------------------------------------------------------------------------------------------------
def train(done, ctx):
    run = done.result
    if ctx.deps.notifier:
        ctx.deps.notifier.wake(run["id"], run.get("plan"))
    ctx.tell(done, *blocks.submitted(run, run.get("plan")))


def runs(done, ctx):
    ctx.tell(done, *blocks.runs_list(done.result))


def status(done, ctx):
    ctx.tell(done, *blocks.run_status(done.result))


def cancel(done, ctx):
    run = done.result
    state = "cancelled" if run["status"] == "cancelled" else "asked to stop; it stops within seconds"
    ctx.tell(done, f":no_entry_sign: run #{run['id']} {state} (by <@{ctx.user}>)")


def eval(done, ctx):  # noqa: A001 — the command's name
    ctx.tell(done, *blocks.eval_blocks(done.result))


def compare(done, ctx):
    ctx.tell(done, *blocks.compare_blocks(done.result))


# ---- answering ----------------------------------------------------------------------------------------------------
def deploy(done, ctx):
    res = done.result
    if res["status"] == "deployed":
        ctx.tell(done, f":rocket: run #{res['run_id']} now answers questions {_where(res['scope'])} (deployed by "
                       f"<@{ctx.user}>)")
    else:
        post_request(ctx.deps, ctx.client, ctx.channel, res, ctx.say)


promote = deploy


def ask(done, ctx):
    res, thread_ts = done.result, ctx.command.get("thread_ts")
    text, blks = blocks.answer(res, ctx.deps.settings.human_group)
    if thread_ts:
        ctx.deps.reply(ctx.client, user=ctx.user, channel=ctx.channel, thread_ts=thread_ts, kind="answer",
                       ref=res.get("question_id"), response_url=ctx.command.get("response_url")).post(text, blks)
        return
    # echo the stored (redacted) question, never the card number the user typed
    asked = res.get("question") or ""
    ctx.tell(done, text, [blocks.context(f"<@{ctx.user}> asked: {blocks.esc(asked[:500])}")] + blks)


def ask_ab(done, ctx):
    ctx.say(*bp.ab_answer(done.result))


# ---- champions, challengers, four eyes ----------------------------------------------------------------------------
def challenge(done, ctx):
    ctx.tell(done, bp.challenger_started(done.result, ctx.user))


def challenge_stop(done, ctx):
    row = done.result
    ctx.tell(done, f":white_flag: challenger run #{row['run_id']} stopped {_where(row['scope'])} (by <@{ctx.user}>)")


def challenge_report(done, ctx):
    if ctx.private:
        ctx.say(*bp.report(done.result))
        return
    post_report(ctx.deps, ctx.client, ctx.channel, done.result)


def approve(done, ctx):
    show_decision(ctx.deps, ctx.client, ctx.channel, done.result, ctx.user, approve=True)


def reject(done, ctx):
    show_decision(ctx.deps, ctx.client, ctx.channel, done.result, ctx.user, approve=False)


def rollback(done, ctx):
    res = done.result
    ctx.tell(done, f":leftwards_arrow_with_hook: {_where(res['scope'])}: back to run #{res['run_id']} — run "
                   f"#{res['from_run_id']} rolled back by <@{ctx.user}>")


def deployments(done, ctx):
    ctx.tell(done, *bp.history(done.result))


def approval(done, ctx):
    res = done.result
    if res.get("status") == "pending":
        post_request(ctx.deps, ctx.client, ctx.channel, res, ctx.say)
        return
    changed = res.get("changed")
    ctx.tell(done, (f":lock: deploy approval is now *{res['mode']}* (set by <@{ctx.user}>)" if changed else
                    f":lock: deploy approval is *{res['mode']}*"
                    + (f" (set by {blocks.esc(res.get('set_by'))} at {res.get('set_at', '')[:16]})"
                       if res.get("set_by") else "")))


# ---- putting a model to work --------------------------------------------------------------------------------------
def score(done, ctx):
    """The summary in the channel (or the thread the file was shared in), the scored file and the histogram in its
    thread, an Explain button beside the first declined applicants."""
    res = done.result
    text, blks = score_summary(res)
    thread = ctx.command.get("thread_ts")
    if ctx.private:
        ctx.say(text, blks)
        return
    resp = call(ctx.client, "chat.postMessage", channel=ctx.channel, text=text, blocks=blks, thread_ts=thread)
    ts = thread or resp["ts"]
    out = Path(res["out_path"])
    call(ctx.client, "files_upload_v2", channel=ctx.channel, thread_ts=ts, file=str(out), filename=out.name,
         title=f"Scored with run #{res['run_id']}")
    from engine.scoring import histogram_png   # drawing a chart: the edge's business, the figures are the engine's
    with tempfile.TemporaryDirectory(prefix="ftbot-score-") as tmp:
        png = histogram_png(res, Path(tmp) / "scores.png")
        call(ctx.client, "files_upload_v2", channel=ctx.channel, thread_ts=ts, file=str(png), filename=png.name,
             title="Scores and the decision threshold")


def drift(done, ctx):
    from bot.render import drifted
    res = done.result
    text = blocks.esc(drifted(res))
    ctx.tell(done, text, [blocks.section(f":chart_with_downwards_trend: {text}")])


def score_summary(res: dict) -> tuple[str, list[dict]]:
    """Counts per decision, the most frequent reasons, drift, and the first declined applicants with an Explain
    button each (the buttons show what was explained when the file was scored)."""
    from bot.render import drift_line
    esc = blocks.esc
    if res.get("kind") != "tabular":
        head = (f":inbox_tray: *{res['rows']:,} questions triaged* with run #{res['run_id']}: "
                f"{res['fallback']:,} would go to a human ({blocks.pct(res['fallback_rate'])})")
        top = ", ".join(f"{esc(k)} {v:,}" for k, v in list(res["counts"].items())[:8])
        return head, [blocks.section(head), blocks.context(f"most frequent intents: {top}")]
    counts = " · ".join(f"*{esc(k)}* {v:,}" for k, v in res["counts"].items())
    head = (f":bar_chart: *{res['rows']:,} rows scored* with run #{res['run_id']} — {counts} "
            f"(P({esc(res['positive_label'])}) ≥ {res['threshold']:.3f} is {esc(res['positive_label'])})")
    blks = [blocks.section(head)]
    lines = []
    if res.get("top_reasons"):
        lines.append("Most frequent reasons: " + ", ".join(f"`{esc(c)}` ({n:,})" for c, n in res["top_reasons"]))
    if res.get("drift"):
        lines.append(esc(drift_line(res["drift"])))
    if res.get("unseen_categories"):
        lines.append("Categories training never held (scored all the same): "
                     + ", ".join(f"`{esc(c)}` ({n:,})" for c, n in res["unseen_categories"].items()))
    if res.get("extra_columns"):
        lines.append("Ignored columns: " + ", ".join(f"`{esc(c)}`" for c in res["extra_columns"][:10]))
    if lines:
        blks.append(blocks.section("\n".join(lines)))
    for i, d in enumerate((res.get("declined") or [])[:EXPLAINED]):
        first = esc(d["reasons"][0]) if d.get("reasons") else "–"
        blks.append({**blocks.section(f"*{esc(res['positive_label'])}* · row `{esc(d['row'])}` · "
                                      f"P {d['probability']:.3f} · {first}"),
                     "accessory": blocks.button("Explain", "score_explain", f"{res['scoring_id']}:{i}")})
    blks.append(blocks.context("The scored file and the chart are in the thread."))
    return head, blks


def explanation(e: dict) -> tuple[str, list[dict]]:
    """One declined applicant: probability, decision, reasons, and the change that would flip it."""
    esc = blocks.esc
    head = f"*Row {esc(e['row'])}* · P({esc(e['positive_label'])}) {e['probability']:.3f} → *{esc(e['decision'])}*"
    reasons = "\n".join(f"{i}. {esc(r)}" for i, r in enumerate(e.get("reasons") or [], 1)) or "–"
    return head, [blocks.section(head), blocks.section(reasons), blocks.context(esc(e["flip_words"]))]


def report(done, ctx):
    res = done.result
    out = Path(res["out_path"])
    text = (f":page_facing_up: validation report of run #{res['run_id']} — {res.get('title', '')}"
            + (f" ({len(res['warnings'])} warnings: {blocks.esc('; '.join(res['warnings'][:2]))})"
               if res.get("warnings") else ""))
    if ctx.private:
        ctx.say(text)
        return
    resp = call(ctx.client, "chat.postMessage", channel=ctx.channel, text=text,
                thread_ts=ctx.command.get("thread_ts"))
    call(ctx.client, "files_upload_v2", channel=ctx.channel, thread_ts=ctx.command.get("thread_ts") or resp["ts"],
         file=str(out), filename=out.name, title=f"Validation report, run #{res['run_id']}")


# ---- schedules ----------------------------------------------------------------------------------------------------
def schedule_add(done, ctx):
    row = done.result
    ctx.tell(done, f":calendar: schedule `{row['id']}`: {row['kind']} `{blocks.esc(row['target'])}` at "
                   f"`{row['cron']}` · next {row.get('next_run_at') or '–'}; results are posted here")


def schedule_list(done, ctx):
    rows = done.result
    ctx.tell(done, "\n".join(f"• `{r['id']}` {r['kind']} `{blocks.esc(r['target'])}` at `{r['cron']}` · next "
                             f"{r.get('next_run_at') or '–'}" for r in rows) or "no schedules yet")


def schedule_remove(done, ctx):
    ctx.tell(done, f":wastebasket: schedule `{blocks.esc(done.result['id'])}` removed (by <@{ctx.user}>)")


# ---- shared with the buttons (bot/listeners/promotion.py) ---------------------------------------------------------
def post_request(deps, client, channel: str, req: dict, say) -> None:
    """The request with Approve/Reject, posted in the channel; its ts is kept so the decision can edit it."""
    text, blks = bp.request_message(req)
    try:
        resp = call(client, "chat.postMessage", channel=channel, text=text, blocks=blks)   # bot/slack_calls.py retries
        deps.ops.set_request_message(req["id"], channel, resp["ts"])
    except Exception as e:  # noqa: BLE001 — e.g. not_in_channel: the requester still gets it, without an edit later
        log.warning("could not post request #%s in %s: %s", req["id"], channel, deps.settings.redact(str(e)))
        say(text, blks, "in_channel")


def show_decision(deps, client, channel: str, req: dict, user: str, *, approve: bool) -> None:
    """The request's message edited to its outcome, and the outcome in its thread (and the channel)."""
    text, blks = bp.request_decided(req)
    if req.get("channel") and req.get("ts"):
        try:
            call(client, "chat.update", channel=req["channel"], ts=req["ts"], text=text, blocks=blks)
        except Exception as e:  # noqa: BLE001 — the outcome is still posted below
            log.warning("could not update request #%s: %s", req["id"], deps.settings.redact(str(e)))
    where = req.get("channel") or channel
    if approve:
        msg = f":white_check_mark: request #{req['id']} approved by <@{user}>: " + bp.request_effect(req)
    else:
        reason = req.get("reason")
        # the reason is the rejecter's own words: escaped, so `<!channel>` or a link stays text
        msg = f":x: request #{req['id']} rejected by <@{user}>" + (f": {blocks.esc(reason)}" if reason else "")
    call(client, "chat.postMessage", channel=where, thread_ts=req.get("ts"), text=msg,
         reply_broadcast=bool(req.get("ts")))


def post_report(deps, client, channel: str, rep: dict, daily: bool = False) -> str:
    """The challenger report in the channel, its chart (PNG) in the report's thread. Returns the report's ts."""
    text, blks = bp.report(rep, daily=daily)
    resp = call(client, "chat.postMessage", channel=channel, text=text, blocks=blks)   # bot/slack_calls.py: once
    ts = resp["ts"]
    with tempfile.TemporaryDirectory(prefix="ftbot-report-") as tmp:
        png = deps.ops.challenger_report_png(rep, Path(tmp) / f"challenger-{rep['challenger_id']}.png")
        if png is not None:
            call(client, "files_upload_v2", channel=channel, thread_ts=ts, file=str(png), filename=png.name,
                 title="Agreement and confidence over time")
    return ts
