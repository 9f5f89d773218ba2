"""The `ftbot` command line: the commands of ops/commands.py (the one table both edges derive from) plus the local
ones (train in the foreground, demo, serve, worker). `--json` prints one JSON object on stdout.

Errors from the layers below are turned into one readable line on stderr and exit code 2 here, at the edge.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.config import TrainConfig
from engine.errors import FtbotError
from ops import commands as table
from storage.errors import StorageError

from bot import render

EXIT_USAGE = 2
TRAIN_FLAGS = TrainConfig.keys()


def actor():
    """The local account as `cli:<login>` (the operating-system account, ops/access.py), with its roles."""
    from ops.access import Policy
    return Policy.from_env().cli()


def home_of(args) -> Path:
    from storage.db import home_dir
    return home_dir(getattr(args, "home", None))


def emit(args, obj, human: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(obj, default=str, sort_keys=True))
    else:
        print(human)


# ---- every command of the table -----------------------------------------------------------------------------------
def run_command(args) -> int:
    """Call the command the parser matched (args.verb) through the one command path, and print its view."""
    from ops.facade import Operations
    verb = table.verb(args.verb)
    arguments = {a.name: _value(a, getattr(args, a.name, None)) for a in verb.args if a.cli is not None}
    if isinstance(arguments.get("files"), str):            # one --file on the command line: the list of one
        arguments["files"] = [arguments["files"]]
    done = Operations(home_of(args)).run(verb.name, actor(), {k: v for k, v in arguments.items() if v is not None})
    text, as_json = render.VIEWS[verb.name]
    emit(args, as_json(done.result, arguments) if as_json else done.result, text(done.result, arguments))
    return 0


def _value(arg: table.Arg, raw):
    if raw is None or arg.kind not in (table.RUN, table.RUN_OR_HERE, table.ID):
        return raw
    from bot.slash_text import run_id
    if arg.kind == table.RUN_OR_HERE and str(raw).lower() == "here":
        return None
    return run_id(str(raw), arg.label)


def _add_arguments(p: argparse.ArgumentParser, verb: table.Verb) -> None:
    for a in verb.args:
        if a.cli != table.POSITIONAL:
            continue
        kw = {"metavar": a.label, "help": a.help or None}
        if not a.required:
            kw["nargs"] = "?"
        if a.kind == table.TEXT:
            kw["nargs"] = "+" if a.required else "*"
        p.add_argument(a.name, **kw)
    _add_options(p, verb.args)


def _add_options(p: argparse.ArgumentParser, args) -> None:
    """The flag-style options (`--scope X`, `--redact`) of `args`; positional and Slack-only arguments are skipped."""
    for a in args:
        if a.cli is None or a.cli == table.POSITIONAL:
            continue
        if a.kind == table.FLAG:
            p.add_argument(a.cli, dest=a.name, action="store_true", help=a.help or None)
            continue
        kind = {table.INT: int, table.FLOAT: float}.get(a.kind, str)
        p.add_argument(a.cli, dest=a.name, type=kind, default=a.default, metavar=a.label, help=a.help or None)


def _join_text(args) -> None:
    """A TEXT argument given as several words (a question, a reason, a cron expression) is one value."""
    verb = table.BY_NAME.get(getattr(args, "verb", ""))
    for a in (verb.args if verb else ()):
        v = getattr(args, a.name, None)
        if a.kind == table.TEXT and isinstance(v, list):
            setattr(args, a.name, " ".join(v) if v else None)


# ---- local commands -----------------------------------------------------------------------------------------------
def _train_options(args) -> dict:
    opts = {k: getattr(args, k) for k in TRAIN_FLAGS if getattr(args, k, None) is not None}
    for item in args.set or []:
        if "=" not in item:
            raise FtbotError(f"--set expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        opts[k.strip()] = v.strip()
    return opts


def cmd_train(args) -> int:
    from ops import execution, runs
    from ops.facade import Operations
    home = home_of(args)
    request = TrainConfig.parse(_train_options(args))   # parsed and validated once, here; nothing stored yet
    gpus = request.gpus or 1
    if gpus > 1 and not args.queue:
        raise FtbotError(f"gpus={gpus} runs through the worker, which starts one torchrun copy per GPU: add --queue "
                         "(and run `ftbot worker` or `ftbot serve`), or train here with gpus=1")
    me = actor()
    run = Operations(home).run("train", me, {"dataset": args.dataset, "request": request},
                               {"origin": {"source": "cli"}, "timed": args.time_steps}).result
    if not args.json:
        print(f"run #{run['id']} on {run['dataset']}: {render.plan(run['plan'])}", file=sys.stderr)
    if args.queue:
        emit(args, render.run_json(run), f"run #{run['id']} queued (position {run['queue_position']}); "
                                         f"follow it with `ftbot status {run['id']}`")
        return 0
    bar = render.ProgressBar(enabled=not args.json and not args.no_progress)
    try:
        final = execution.run_foreground(home, run["id"], on_progress=bar.update)
    except KeyboardInterrupt:
        runs.cancel(home, run["id"], actor=me, reason="interrupted at the terminal")
        bar.close()
        print(f"run #{run['id']} cancelled", file=sys.stderr)
        return 130
    bar.close()
    emit(args, render.run_json(final), render.run(final))
    return 0 if final["status"] == "succeeded" else 1


def cmd_serve(args) -> int:
    import logging

    from bot.server import serve
    from bot.settings import Settings
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env(**({"home": home_of(args)} if getattr(args, "home", None) else {}))
    serve(settings, host=args.host, port=args.port, embedded_worker=not args.no_worker, socket_mode=args.socket_mode)
    return 0


def cmd_worker(args, rest: list[str]) -> int:
    from jobs.worker import main as worker_main
    argv = list(rest)
    if getattr(args, "home", None):
        argv = ["--home", str(args.home)] + argv
    return worker_main(argv)


def cmd_demo(args) -> int:
    from bot.demo import demo_home, run_demo
    res = run_demo(demo_home(args), quick=args.quick, out=None if args.json else print)
    if args.json:
        print(json.dumps(res, default=str, sort_keys=True))
    return 0


# ---- parser -------------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    # SUPPRESS: a sub-command must not reset `--home`/`--json` given before it (ftbot --home X runs).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", default=argparse.SUPPRESS,
                        help="FTBOT_HOME: folder with the database and artifacts (default ./.ftbot)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON object on stdout")

    p = argparse.ArgumentParser(prog="ftbot", description="Fine-tune, evaluate and put transformer classifiers to work.",
                                parents=[common])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction] = {}
    verbs = [v for v in table.for_edge("cli") if v.name != "train"]
    bare = {v.name for v in verbs if " " not in v.name}
    for v in verbs:
        words = v.name.split(" ")
        if len(words) == 1:
            continue
        if words[0] in bare:                      # `challenge RUN` beside `challenge report`: one parser, below
            continue
        if words[0] not in groups:
            g = sub.add_parser(words[0], help=f"{words[0]} commands", parents=[common])
            groups[words[0]] = g.add_subparsers(dest="action", required=True, metavar="ACTION")
        sp = groups[words[0]].add_parser(words[1], help=v.help, parents=[common])
        _add_arguments(sp, v)
        sp.set_defaults(fn=run_command, verb=v.name)
    for v in verbs:
        if " " in v.name:
            continue
        sp = sub.add_parser(v.name, help=v.help, parents=[common])
        subs = [w for w in verbs if w.name.startswith(v.name + " ")]
        if subs:   # `challenge RUN | report | stop`: the first word picks the command
            first = v.args[0]
            sp.add_argument("what", metavar=f"{first.label}|" + "|".join(w.name.split(" ", 1)[1] for w in subs))
            _add_options(sp, {a.cli: a for w in [v, *subs] for a in w.args
                              if a.cli not in (None, table.POSITIONAL)}.values())
            sp.set_defaults(fn=_pick(v, subs), verb=v.name)
            continue
        _add_arguments(sp, v)
        sp.set_defaults(fn=run_command, verb=v.name)
    _local_parsers(sub, common)
    return p


def _pick(v: table.Verb, subs: list[table.Verb]):
    def fn(args) -> int:
        chosen = next((w for w in subs if w.name.split(" ", 1)[1] == args.what.lower()), v)
        if chosen is v:
            setattr(args, v.args[0].name, args.what)
        args.verb = chosen.name
        return run_command(args)
    return fn


def _local_parsers(sub, common) -> None:
    t = sub.add_parser("train", help=table.verb("train").help.split(";")[0] + " (here, with a progress bar, or "
                                     "--queue for the worker)", parents=[common],
                       epilog="Keys: " + "; ".join(f"{k}: {h}" for k, h in TrainConfig.help_text().items()))
    t.add_argument("dataset")
    for key, help_text in TrainConfig.help_text().items():
        t.add_argument(f"--{key.replace('_', '-')}", dest=key, metavar="V", help=help_text)
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="any training key, as in Slack")
    t.add_argument("--queue", action="store_true", help="hand the run to the worker instead of training here")
    t.add_argument("--no-progress", action="store_true")
    t.add_argument("--time-steps", action="store_true",
                   help="time two real training steps for the estimate (loads the model once more before the run)")
    t.set_defaults(fn=cmd_train)
    dm = sub.add_parser("demo", help="the whole job offline on the shipped sample data, in a home of its own",
                        parents=[common])
    dm.add_argument("--quick", action="store_true", help="fewer epochs, skip the credit set")
    dm.set_defaults(fn=cmd_demo)
    sv = sub.add_parser("serve", help="run the Slack app over HTTP (with an embedded worker)", parents=[common])
    sv.add_argument("--host", default="0.0.0.0")
    sv.add_argument("--port", type=int, default=3000)
    sv.add_argument("--no-worker", action="store_true", help="no embedded worker (run `ftbot worker` elsewhere)")
    sv.add_argument("--socket-mode", action="store_true",
                    help="receive Slack over a WebSocket (SLACK_APP_TOKEN) instead of POST /slack/events")
    sv.set_defaults(fn=cmd_serve)
    w = sub.add_parser("worker", help="run queued trainings (see `ftbot worker --help`)", add_help=False)
    w.add_argument("--home", default=argparse.SUPPRESS)
    w.set_defaults(fn=cmd_worker, passthrough=True)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    # the shared options default to SUPPRESS (see build_parser): give them their real defaults here
    for name, default in (("home", None), ("json", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    _join_text(args)
    try:
        if getattr(args, "passthrough", False):
            return args.fn(args, rest)
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        return args.fn(args)
    except (FtbotError, StorageError) as e:
        if getattr(args, "json", False):
            print(json.dumps({"error": str(e), "kind": type(e).__name__}))
        print(f"ftbot: {e}", file=sys.stderr)
        return EXIT_USAGE
