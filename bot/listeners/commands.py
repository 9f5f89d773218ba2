"""`/ft …`: parse, check permission, acknowledge at once; the work itself runs on deps.background."""
from __future__ import annotations

from pathlib import Path

from engine.errors import ConfigError, DatasetError
from storage import connect
from storage import slack_messages

from bot import blocks
from bot.commands import Command, UsageError, help_text, parse
from bot.listeners import ADMIN_COMMANDS, Deps

SLOW = {"dataset.add": "checking the data", "train": "planning the run", "eval": "evaluating",
        "ask": "thinking"}


def register(app, deps: Deps) -> None:
    @app.command("/ft")
    def ft(ack, command, respond, client, context):
        user, channel = command.get("user_id", ""), command.get("channel_id", "")
        try:
            cmd = parse(command.get("text"))
        except (UsageError, ConfigError) as e:
            ack(response_type="ephemeral", text=f":warning: {e}")
            return
        if cmd.name == "help":
            ack(response_type="ephemeral", text=help_text())
            return
        action = ADMIN_COMMANDS.get(cmd.name)
        if action and not deps.settings.is_admin(user):
            ack(response_type="ephemeral", text=deps.refusal(action))
            deps.background(deps.audit, user, action, _target(cmd), ok=False, reason="not an admin",
                            channel=channel)
            return
        if cmd.name == "train" and not cmd.args:
            ack()
            # trigger_id expires 3 s after the command: open the form right away, on the pool.
            deps.background(open_train_modal, deps, client, command["trigger_id"], channel,
                            on_error=lambda m: respond(text=m, response_type="ephemeral"))
            return
        ack(response_type="ephemeral", text=f":hourglass_flowing_sand: {SLOW[cmd.name]}…") if cmd.name in SLOW else ack()
        deps.background(handle, deps, cmd, user, channel, command, respond, client,
                        on_error=lambda m: respond(text=m, response_type="ephemeral", replace_original=False))


def _target(cmd: Command) -> str | None:
    return cmd.args[0] if cmd.args else None


def open_train_modal(deps: Deps, client, trigger_id: str, channel: str) -> None:
    names = [d["name"] for d in deps.service.datasets.list_all(deps.home)]
    client.views_open(trigger_id=trigger_id, view=blocks.train_modal(names, private_metadata=channel))


def handle(deps: Deps, cmd: Command, user: str, channel: str, command: dict, respond, client) -> None:
    svc, home = deps.service, deps.home
    say = lambda text, blks=None, where="ephemeral": respond(text=text, blocks=blks, response_type=where,  # noqa: E731
                                                             replace_original=False)
    n = cmd.name
    if n == "datasets":
        say(*blocks.datasets_list(svc.datasets.list_all(home)))
    elif n == "dataset.show":
        say(*blocks.dataset_detail(svc.datasets.show(home, cmd.args[0])))
    elif n == "dataset.add":
        if len(cmd.args) < 2:
            say(f":paperclip: To add `{blocks.esc(cmd.args[0])}`, share the CSV/TSV/JSONL file in a message that "
                f"mentions me with `dataset add {blocks.esc(cmd.args[0])}`, or give a PATH inside the server's data folder.")
            return
        path = resolve_data_path(deps.settings.data_dir, cmd.args[1])
        row = svc.datasets.register(home, cmd.args[0], path, user=user, source=f"slack-path:{cmd.args[1]}")
        text, blks = blocks.dataset_detail(row)
        say(":white_check_mark: registered " + text, blks, "in_channel")
    elif n == "train":
        origin = {"source": "slack", "channel": channel, "user": user}
        run = svc.runs.submit(home, cmd.args[0], cmd.options, user=user, origin=origin)
        if deps.notifier:
            deps.notifier.wake(run["id"], run.get("plan"))
        say(*blocks.submitted(run, run.get("plan")), "in_channel")
    elif n == "runs":
        say(*blocks.runs_list(svc.runs.list_recent(home, limit=15)))
    elif n == "status":
        say(*blocks.run_status(svc.runs.status(home, int(cmd.args[0]))))
    elif n == "cancel":
        run = svc.runs.cancel(home, int(cmd.args[0]), user=user)
        state = "cancelled" if run["status"] == "cancelled" else "asked to stop; it stops within seconds"
        say(f":no_entry_sign: run #{run['id']} {state} (by <@{user}>)", None, "in_channel")
    elif n == "eval":
        res = svc.runs.evaluate(home, int(cmd.args[0]), dataset=cmd.args[1] if len(cmd.args) > 1 else None, user=user)
        say(*blocks.eval_blocks(res), "in_channel")
    elif n == "compare":
        say(*blocks.compare_blocks(svc.runs.compare(home, int(cmd.args[0]), int(cmd.args[1]))))
    elif n == "deploy":
        scope = scope_for(channel)
        dep = svc.qa.deploy(home, int(cmd.args[0]), scope=scope, user=user)
        where = "as the workspace default" if scope == "default" else f"in <#{channel}>"
        say(f":rocket: run #{dep['run_id']} now answers questions {where} (deployed by <@{user}>)", None, "in_channel")
    elif n == "schedule.list":
        from jobs import scheduler
        rows = scheduler.list_schedules(home)
        say("\n".join(f"• `{r['id']}` {r['kind']} `{blocks.esc(r['target'])}` at `{r['cron']}` · next "
                      f"{r.get('next_run_at') or '–'}" for r in rows) or "no schedules yet")
    elif n == "schedule.add":
        from jobs import scheduler
        kind, target, cron = cmd.args
        row = scheduler.add_schedule(home, kind, target, cron, user, channel=channel)
        say(f":calendar: schedule `{row['id']}`: {kind} `{blocks.esc(target)}` at `{row['cron']}` · next "
            f"{row.get('next_run_at') or '–'}; results are posted here", None, "in_channel")
    elif n == "schedule.remove":
        from jobs import scheduler
        scheduler.remove_schedule(home, cmd.args[0], user=user)
        say(f":wastebasket: schedule `{blocks.esc(cmd.args[0])}` removed (by <@{user}>)", None, "in_channel")
    elif n == "ask":
        thread_ts = command.get("thread_ts")
        run_id = run_for_thread(home, channel, thread_ts) if thread_ts else None
        res = svc.qa.ask(home, cmd.text, scope=scope_for(channel), run_id=run_id, user=user, channel=channel,
                         ts=thread_ts, thread_ts=thread_ts)
        text, blks = blocks.answer(res, deps.settings.human_group)
        if thread_ts:
            client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text, blocks=blks)
        else:
            say(text, [blocks.context(f"<@{user}> asked: {blocks.esc(cmd.text[:500])}")] + blks, "in_channel")


def scope_for(channel: str | None) -> str:
    """DMs use the workspace default; a channel is its own scope (bot.service.qa falls back to 'default')."""
    return channel if channel and channel[:1] in ("C", "G") else "default"


def run_for_thread(home, channel: str, thread_ts: str | None) -> int | None:
    if not thread_ts:
        return None
    with connect(home) as db:
        return slack_messages.run_for_thread(db, channel, thread_ts)


def resolve_data_path(data_dir: Path | None, given: str) -> Path:
    """A server-side PATH is read only from inside FTBOT_DATA_DIR (no '..' or absolute paths outside it)."""
    if data_dir is None:
        raise DatasetError(["reading files from the server is off (FTBOT_DATA_DIR is not set); share the file "
                            "in a message that mentions me with `dataset add NAME` instead"])
    root = Path(data_dir).resolve()
    p = Path(given)
    candidate = (p if p.is_absolute() else root / p).resolve()
    if candidate != root and root not in candidate.parents:
        raise DatasetError([f"{given!r} is outside the data folder; give a path inside it, e.g. "
                            "`/ft dataset add NAME banking.csv`"])
    return candidate
