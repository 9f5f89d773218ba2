"""`/ft …`: parse, check permission, acknowledge at once; the work itself runs on deps.background."""
from __future__ import annotations

from pathlib import Path

from engine.errors import ConfigError, DatasetError
from ops.access import Actor
from ops.deployments import scope_for

from bot import blocks
from bot.delivery import DeliveryError, Policy, call
from bot.listeners import COMMAND_ACTIONS, Deps
from bot.listeners import promotion
from bot.slash_text import Command, UsageError, help_text, parse

SLOW = {"dataset.add": "checking the data", "train": "planning the run", "eval": "evaluating",
        "ask": "thinking", **promotion.SLOW}


def register(app, deps: Deps) -> None:
    @app.command("/ft")
    def ft(ack, command, respond, client, context):
        user, channel = command.get("user_id", ""), command.get("channel_id", "")
        try:
            cmd = parse(command.get("text"))
        except (UsageError, ConfigError) as e:
            ack(response_type="ephemeral", text=f":warning: {blocks.esc(e)}")
            return
        if cmd.name == "help":
            ack(response_type="ephemeral", text=help_text())
            return
        actor = deps.actor(user, channel)
        action = COMMAND_ACTIONS.get(cmd.name)
        if action and deps.refuse(actor, action, _target(cmd), lambda m: ack(response_type="ephemeral", text=m),
                                  channel=channel):
            return
        # Every reply after the ack: response_url with retries, then the channel, then a DM (bot/delivery.py).
        reply = deps.reply(client, user=user, channel=channel, ref=cmd.name, response_url=command.get("response_url"))
        if cmd.name == "train" and not cmd.args:
            ack()
            # trigger_id expires 3 s after the command: open the form here, in this listener thread, right after the
            # ack — one SQLite read and one Web API call. On deps.background it waited behind slow work (6 s with
            # four slow commands in flight) and never opened.
            try:
                open_train_modal(deps, client, command["trigger_id"], channel)
            except DeliveryError as e:
                deps.background(reply.respond, f":warning: the form could not open ({e.error}); "
                                               "`/ft train DATASET key=value…` works without it")
            return
        ack(response_type="ephemeral", text=f":hourglass_flowing_sand: {SLOW[cmd.name]}…") if cmd.name in SLOW else ack()
        deps.background(handle, deps, cmd, actor, channel, command, reply.respond, client,
                        on_error=lambda m: reply.respond(m, response_type="ephemeral"))


def _target(cmd: Command) -> str | None:
    return cmd.args[0] if cmd.args else None


MODAL_POLICY = Policy(max_retries=2, base_s=0.2, max_backoff_s=0.5, max_wait_s=1.0, deadline_s=2.0)


def open_train_modal(deps: Deps, client, trigger_id: str, channel: str) -> None:
    names = [d["name"] for d in deps.ops.list_datasets()]
    # retries only while the trigger is still valid (3 s from the command)
    call(client, "views.open", trigger_id=trigger_id, view=blocks.train_modal(names, private_metadata=channel),
         policy=MODAL_POLICY)


def handle(deps: Deps, cmd: Command, actor: Actor, channel: str, command: dict, respond, client) -> None:
    ops, user = deps.ops, actor.id
    say = lambda text, blks=None, where="ephemeral": respond(text=text, blocks=blks, response_type=where,  # noqa: E731
                                                             replace_original=False)
    n = cmd.name
    if n in promotion.COMMANDS:   # deploy requests, approvals, rollback, challengers (bot/listeners/promotion.py)
        promotion.handle(deps, cmd, actor, channel, command, respond, client)
    elif n == "datasets":
        say(*blocks.datasets_list(ops.list_datasets(actor=actor)))
    elif n == "dataset.show":
        say(*blocks.dataset_detail(ops.show_dataset(cmd.args[0], actor=actor)))
    elif n == "dataset.add":
        if len(cmd.args) < 2:
            say(f":paperclip: To add `{blocks.esc(cmd.args[0])}`, share the CSV/TSV/JSONL file in a message that "
                f"mentions me with `dataset add {blocks.esc(cmd.args[0])}` (options: redact=yes dedupe=yes text=COL "
                "label=COL), or give a PATH inside the server's data folder.")
            return
        path = resolve_data_path(deps.settings.data_dir, cmd.args[1], max_bytes=deps.settings.max_upload_bytes)
        row = ops.register_dataset(cmd.args[0], path, actor=actor, source=f"slack-path:{cmd.args[1]}",
                                   **cmd.options)
        text, blks = blocks.dataset_detail(row)
        say(":white_check_mark: registered " + text, blks, "in_channel")
    elif n == "train":
        origin = {"source": "slack", "channel": channel, "user": user}
        run = ops.submit(cmd.args[0], cmd.request, actor=actor, origin=origin)
        if deps.notifier:
            deps.notifier.wake(run["id"], run.get("plan"))
        say(*blocks.submitted(run, run.get("plan")), "in_channel")
    elif n == "runs":
        say(*blocks.runs_list(ops.list_runs(limit=15, actor=actor)))
    elif n == "status":
        say(*blocks.run_status(ops.status(int(cmd.args[0]), actor=actor)))
    elif n == "cancel":
        run = ops.cancel(int(cmd.args[0]), actor=actor)
        state = "cancelled" if run["status"] == "cancelled" else "asked to stop; it stops within seconds"
        say(f":no_entry_sign: run #{run['id']} {state} (by <@{user}>)", None, "in_channel")
    elif n == "eval":
        res = ops.evaluate(int(cmd.args[0]), dataset=cmd.args[1] if len(cmd.args) > 1 else None, actor=actor)
        say(*blocks.eval_blocks(res), "in_channel")
    elif n == "compare":
        say(*blocks.compare_blocks(ops.compare(int(cmd.args[0]), int(cmd.args[1]), actor=actor)))
    elif n == "schedule.list":
        rows = ops.list_schedules()
        say("\n".join(f"• `{r['id']}` {r['kind']} `{blocks.esc(r['target'])}` at `{r['cron']}` · next "
                      f"{r.get('next_run_at') or '–'}" for r in rows) or "no schedules yet")
    elif n == "schedule.add":
        kind, target, cron = cmd.args
        row = ops.add_schedule(kind, target, cron, actor=actor, channel=channel)
        say(f":calendar: schedule `{row['id']}`: {kind} `{blocks.esc(target)}` at `{row['cron']}` · next "
            f"{row.get('next_run_at') or '–'}; results are posted here", None, "in_channel")
    elif n == "schedule.remove":
        ops.remove_schedule(cmd.args[0], actor=actor)
        say(f":wastebasket: schedule `{blocks.esc(cmd.args[0])}` removed (by <@{user}>)", None, "in_channel")
    elif n == "ask":
        # Slack sends no thread_ts with a slash command (not even one typed in a thread), so the answer goes to the
        # channel through the command's response_url — which works even where the bot was never invited. Should a
        # payload ever carry a thread_ts, the answer goes to that thread (falling back the same way).
        thread_ts = command.get("thread_ts")
        run_id = ops.run_for_thread(channel, thread_ts) if thread_ts else None
        res = ops.ask(cmd.text, scope=scope_for(channel), run_id=run_id, actor=actor, channel=channel,
                      ts=thread_ts, thread_ts=thread_ts)
        text, blks = blocks.answer(res, deps.settings.human_group)
        if thread_ts:
            deps.reply(client, user=user, channel=channel, thread_ts=thread_ts, kind="answer", ref=res.get("question_id"),
                       response_url=command.get("response_url")).post(text, blks)
        else:
            # echo the stored (redacted) question, never the card number the user typed
            asked = res.get("question") or cmd.text
            say(text, [blocks.context(f"<@{user}> asked: {blocks.esc(asked[:500])}")] + blks, "in_channel")


def resolve_data_path(data_dir: Path | None, given: str, *, max_bytes: int | None = None) -> Path:
    """A server-side PATH is read only from inside FTBOT_DATA_DIR (no '..' or absolute paths outside it), only a
    data file (DATA_EXTENSIONS, not hidden) and at most `max_bytes`. Errors name what was given, never what the
    file holds nor where the data folder is on the server."""
    if data_dir is None:
        raise DatasetError(["reading files from the server is off (FTBOT_DATA_DIR is not set); share the file "
                            "in a message that mentions me with `dataset add NAME` instead"])
    root = Path(data_dir).resolve()
    p = Path(given)
    candidate = (p if p.is_absolute() else root / p).resolve()
    if candidate != root and root not in candidate.parents:
        raise DatasetError([f"{given!r} is outside the data folder; give a path inside it, e.g. "
                            "`/ft dataset add NAME banking.csv`"])
    return check_data_file(root, candidate, given, max_bytes)


DATA_EXTENSIONS = (".csv", ".tsv", ".jsonl", ".json", ".parquet", ".txt")


def check_data_file(root: Path, candidate: Path, given: str, max_bytes: int | None) -> Path:
    hidden = any(part.startswith(".") for part in candidate.relative_to(root).parts)
    if hidden or candidate.suffix.lower() not in DATA_EXTENSIONS:
        raise DatasetError([f"{given!r} is not a data file; only {', '.join(DATA_EXTENSIONS)} files in the data "
                            "folder can be registered"])
    if not candidate.is_file():
        raise DatasetError([f"no file {given!r} in the data folder"])
    size = candidate.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise DatasetError([f"{given!r} is {size} bytes; the limit is {max_bytes} (FTBOT_MAX_UPLOAD_BYTES)"])
    return candidate
