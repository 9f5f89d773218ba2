"""`/ft …`: parse, check the role, acknowledge at once; the work runs on deps.background through the one command
path (ops.facade.Operations.run: the access decision, then the operation) and each result is shown by its
presenter (bot/replies.py). What Slack adds to a command — where it was typed, a file path on the server, the run
whose thread it is in — is filled in here."""
from __future__ import annotations

import tempfile
from pathlib import Path

from engine.errors import ConfigError, DatasetError
from ops import commands as table
from ops.access import Actor
from ops.scopes import scope_for

from bot import blocks, replies
from bot.slack_calls import DeliveryError, Policy, call
from bot.listeners import Deps
from bot.slash_text import Command, UsageError, help_text, parse


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
            ack(response_type="ephemeral", text=help_text(cmd.topic))
            return
        verb = cmd.verb
        actor = deps.actor(user, channel)
        # the role needs no database: refused in the acknowledgement; the scope rules are checked with the work
        if deps.refuse(actor, verb.audit_action, _target(cmd), lambda m: ack(response_type="ephemeral", text=m),
                       channel=channel):
            return
        # Every reply after the ack: response_url with retries, then the channel, then a DM (bot/slack_calls.py).
        reply = deps.reply(client, user=user, channel=channel, ref=verb.name, response_url=command.get("response_url"))
        if verb.name == "train" and not cmd.args:
            ack()
            # trigger_id expires 3 s after the command: open the form here, in this listener thread, right after the
            # ack — one SQLite read and one Web API call. On deps.background it would wait behind slow work.
            try:
                open_train_modal(deps, client, command["trigger_id"], channel, actor)
            except DeliveryError as e:
                deps.background(reply.respond, f":warning: the form could not open ({e.error}); "
                                               "`/ft train DATASET key=value…` works without it")
            return
        ack(response_type="ephemeral", text=f":hourglass_flowing_sand: {verb.slow}…") if verb.slow else ack()
        deps.background(handle, deps, cmd, actor, channel, command, reply.respond, client,
                        on_error=lambda m: reply.respond(m, response_type="ephemeral"))


def _target(cmd: Command) -> str | None:
    return cmd.args[0] if cmd.args else None


MODAL_POLICY = Policy(max_retries=2, base_s=0.2, max_backoff_s=0.5, max_wait_s=1.0, deadline_s=2.0)


def open_train_modal(deps: Deps, client, trigger_id: str, channel: str, actor: Actor | None = None) -> None:
    names = [d["name"] for d in deps.ops.list_datasets(actor=actor)]
    # retries only while the trigger is still valid (3 s from the command)
    call(client, "views.open", trigger_id=trigger_id, view=blocks.train_modal(names, private_metadata=channel),
         policy=MODAL_POLICY)


def handle(deps: Deps, cmd: Command, actor: Actor, channel: str, command: dict, respond, client) -> None:
    verb = cmd.verb
    arguments = here(verb, dict(cmd.arguments), channel)
    ctx = replies.Context(deps, client, channel, actor.id, respond, command)
    context = {"channel": channel}
    given = arguments.get("path")
    if verb.name == "dataset add" and not given:
        name = blocks.esc(arguments["name"])
        ctx.say(f":paperclip: To add `{name}`, share the CSV/TSV/JSONL file in a message that mentions me with "
                f"`dataset add {name}` (options: redact=yes dedupe=yes text=COL label=COL protected=SPEC), or "
                "give a PATH inside the server's data folder.")
        return
    for a in verb.args:     # a file path typed in Slack is read only from inside the server's data folder
        if a.kind == table.PATH and a.slack == table.POSITIONAL and arguments.get(a.name) is not None:
            arguments[a.name] = resolve_data_path(deps.settings.data_dir, arguments[a.name],
                                                  max_bytes=deps.settings.max_upload_bytes)
    if verb.name == "dataset add":
        arguments["source"] = f"slack-path:{given}"
    elif verb.name == "score" and not given:
        ctx.say(":paperclip: Share the file in a message that mentions me with `score RUN`, or give a PATH "
                "inside the server's data folder: `/ft score RUN applicants.csv`.")
        return
    elif verb.name == "train":
        context["origin"] = {"source": "slack", "channel": channel, "user": actor.id}
    elif verb.name in ("ask", "ask --ab"):
        # Slack sends no thread_ts with a slash command (not even one typed in a thread), so the answer goes to the
        # channel through the command's response_url — which works even where the bot was never invited. Should a
        # payload ever carry a thread_ts, the answer goes to that thread, asking the model of the run it is about.
        thread_ts = command.get("thread_ts")
        if thread_ts and verb.name == "ask":
            arguments["run_id"] = deps.ops.run_for_thread(channel, thread_ts)
        context.update(ts=thread_ts, thread_ts=thread_ts)
    if verb.name in ("score", "report"):
        with tempfile.TemporaryDirectory(prefix=f"ftbot-{verb.name}-") as tmp:
            arguments["out"] = str(Path(tmp) / ("scored.csv" if verb.name == "score" else "report.md"))
            if verb.name == "score":
                arguments["explain_first"] = replies.EXPLAINED     # the summary's Explain buttons
            replies.present(deps.ops.run(verb.name, actor, arguments, context), ctx)
        return
    replies.present(deps.ops.run(verb.name, actor, arguments, context), ctx)


def here(verb: table.Verb, arguments: dict, channel: str) -> dict:
    """The arguments Slack fills in from where the command was typed: a scope, or the channel itself."""
    for arg in verb.args:
        if arg.slack == table.HERE:
            arguments[arg.name] = scope_for(channel) if arg.kind == table.SCOPE else channel
    return arguments


def resolve_data_path(data_dir: Path | None, given: str, *, max_bytes: int | None = None) -> Path:
    """A server-side PATH is read only from inside FTBOT_DATA_DIR (no '..' or absolute paths outside it), only a
    data file (DATA_EXTENSIONS, not hidden) and at most `max_bytes`. Errors name what was given, never what the
    file holds nor where the data folder is on the server."""
    if data_dir is None:
        raise DatasetError(["reading files from the server is off (FTBOT_DATA_DIR is not set); share the file "
                            "in a message that mentions me instead"])
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
