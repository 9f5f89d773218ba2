"""The `ftbot` command line: mirrors the Slack commands; `--json` prints one JSON object on stdout.

Errors from the layers below are turned into one readable line on stderr and exit code 2 here, at the edge.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.config import TrainConfig
from engine.errors import FtbotError
from storage.errors import StorageError

from bot import render
from bot import cli_promotion

EXIT_USAGE = 2


def _actor():
    """The local account as `cli:<login>` (USER), with the roles the access policy gives it (ops/access.py)."""
    from ops.access import Policy
    return Policy.from_env().cli()


def _home(args) -> Path:
    from storage.db import home_dir
    return home_dir(getattr(args, "home", None))


def _emit(args, obj: dict, human: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(obj, default=str, sort_keys=True))
    else:
        print(human)


# ---- dataset ------------------------------------------------------------------------------------
def cmd_dataset_add(args) -> int:
    from ops import datasets
    row = datasets.register(_home(args), args.name, args.path, actor=_actor(), text_column=args.text_column,
                            label_column=args.label_column, answers_path=args.answers, redact=args.redact,
                            dedupe=args.dedupe, val_fraction=args.val_fraction, seed=args.seed)
    _emit(args, row, render.dataset(row))
    return 0


def cmd_dataset_list(args) -> int:
    from ops import datasets
    rows = datasets.list_all(_home(args))
    _emit(args, {"datasets": rows}, render.datasets(rows))
    return 0


def cmd_dataset_show(args) -> int:
    from ops import datasets
    row = datasets.show(_home(args), args.name)
    _emit(args, row, render.dataset(row))
    return 0


def cmd_dataset_export(args) -> int:
    from ops import datasets
    n = datasets.export_feedback(_home(args), args.name, args.out, actor=_actor())
    _emit(args, {"dataset": args.name, "rows": n, "path": str(args.out)},
          f"wrote {n} training rows from feedback to {args.out}")
    return 0


# ---- training -----------------------------------------------------------------------------------
TRAIN_FLAGS = TrainConfig.keys()


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
    home = _home(args)
    request = TrainConfig.parse(_train_options(args))   # parsed and validated once, here; nothing stored yet
    gpus = request.gpus or 1
    if gpus > 1 and not args.queue:
        raise FtbotError(f"gpus={gpus} runs through the worker, which starts one torchrun copy per GPU: add --queue "
                         "(and run `ftbot worker` or `ftbot serve`), or train here with gpus=1")
    actor = _actor()
    run = runs.submit(home, args.dataset, request, actor=actor, origin={"source": "cli"}, timed=args.time_steps)
    if not args.json:
        print(f"run #{run['id']} on {run['dataset']}: {render.plan(run['plan'])}", file=sys.stderr)
    if args.queue:
        _emit(args, render.run_json(run), f"run #{run['id']} queued (position {run['queue_position']}); "
                                          f"follow it with `ftbot status {run['id']}`")
        return 0
    bar = render.ProgressBar(enabled=not args.json and not args.no_progress)
    try:
        final = execution.run_foreground(home, run["id"], on_progress=bar.update)
    except KeyboardInterrupt:
        runs.cancel(home, run["id"], actor=actor, reason="interrupted at the terminal")
        bar.close()
        print(f"run #{run['id']} cancelled", file=sys.stderr)
        return 130
    bar.close()
    _emit(args, render.run_json(final), render.run(final))
    return 0 if final["status"] == "succeeded" else 1


def cmd_runs(args) -> int:
    from ops import runs
    rows = runs.list_recent(_home(args), limit=args.limit, dataset=args.dataset)
    _emit(args, {"runs": [render.run_json(r) for r in rows]}, render.runs(rows))
    return 0


def cmd_status(args) -> int:
    from ops import runs
    row = runs.status(_home(args), args.run)
    _emit(args, render.run_json(row), render.run(row))
    return 0


def cmd_cancel(args) -> int:
    from ops import runs
    row = runs.cancel(_home(args), args.run, actor=_actor())
    _emit(args, render.run_json(row), f"run #{row['id']}: {row['status']}"
          + (" (stops within seconds)" if row["status"] == "running" else ""))
    return 0


def cmd_eval(args) -> int:
    from ops import runs
    res = runs.evaluate(_home(args), args.run, dataset=args.dataset, file=args.file, actor=_actor())
    _emit(args, res, render.evaluation(res))
    return 0


def cmd_compare(args) -> int:
    from ops import runs
    res = runs.compare(_home(args), args.a, args.b)
    _emit(args, res, render.comparison(res))
    return 0


# ---- Q&A ----------------------------------------------------------------------------------------
def cmd_deploy(args) -> int:
    from ops import promotion
    res = promotion.request_deploy(_home(args), args.run, scope=args.scope, actor=_actor())
    if res["status"] == "pending":   # FTBOT_DEPLOY_APPROVAL=required: another approver must approve it
        _emit(args, cli_promotion.request_json(res), cli_promotion.request_line(res))
        return 0
    dep = res["deployment"]
    out = {"run_id": dep["run_id"], "scope": dep["scope"], "deployed_at": dep["deployed_at"], "status": "deployed",
           "artifact_path": dep["run"]["artifact_path"]}
    _emit(args, out, f"run #{dep['run_id']} now answers questions in scope {dep['scope']!r}")
    return 0


def cmd_ask(args) -> int:
    from ops import deployments, questions
    question = " ".join(args.question)
    res = questions.ask(_home(args), question, scope=args.scope, run_id=args.run, actor=_actor())
    _emit(args, res, render.answer(res))
    return 0


# ---- services -----------------------------------------------------------------------------------
def cmd_serve(args) -> int:
    import logging

    from bot.server import serve
    from bot.settings import Settings
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env(**({"home": _home(args)} if getattr(args, "home", None) else {}))
    serve(settings, host=args.host, port=args.port, embedded_worker=not args.no_worker, socket_mode=args.socket_mode)
    return 0


def cmd_worker(args, rest: list[str]) -> int:
    from jobs.worker import main as worker_main
    argv = list(rest)
    if getattr(args, "home", None):
        argv = ["--home", str(args.home)] + argv
    return worker_main(argv)


def cmd_schedule(args) -> int:
    from ops import schedules
    home = _home(args)
    if args.action == "add":
        row = schedules.add_schedule(home, args.kind, args.target, args.cron, _actor(), channel=args.channel)
        _emit(args, row, f"schedule {row['id']}: {row['kind']} {row['target']} at '{row['cron']}'"
                         f" (next {row.get('next_run_at')})")
    elif args.action == "list":
        rows = schedules.list_schedules(home)
        _emit(args, {"schedules": rows}, "\n".join(
            f"{r['id']}: {r['kind']} {r['target']} '{r['cron']}' next {r.get('next_run_at')}" for r in rows)
            or "no schedules")
    else:
        schedules.remove_schedule(home, args.id, _actor())
        _emit(args, {"removed": args.id}, f"schedule {args.id} removed")
    return 0


def cmd_prune(args) -> int:
    from ops import retention
    res = retention.prune(_home(args), actor=_actor())
    keep = lambda d: "forever" if d is None else f"{d:g} days"  # noqa: E731
    _emit(args, res, f"pruned {res['questions']} questions, {res['feedback']} feedback votes, {res['deliveries']} "
                     f"delivery records, {res['events']} run events (kept {keep(res['retention_days'])}) and "
                     f"{res['audit']} audit entries (kept {keep(res['audit_retention_days'])})")
    return 0


def cmd_demo(args) -> int:
    from bot.demo import run_demo
    res = run_demo(_home(args), quick=args.quick, out=None if args.json else print)
    if args.json:
        print(json.dumps(res, default=str, sort_keys=True))
    return 0


# ---- parser -------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    # SUPPRESS: a sub-command must not reset `--home`/`--json` given before it (ftbot --home X runs).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", default=argparse.SUPPRESS,
                        help="FTBOT_HOME: folder with the database and artifacts (default ./.ftbot)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON object on stdout")

    p = argparse.ArgumentParser(prog="ftbot", description="Fine-tune, evaluate and serve transformer classifiers.",
                                parents=[common])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ds = sub.add_parser("dataset", help="register, list and show datasets", parents=[common])
    dsub = ds.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = dsub.add_parser("add", help="validate and register a CSV/TSV/JSONL file", parents=[common])
    a.add_argument("name")
    a.add_argument("path")
    a.add_argument("--text-column")
    a.add_argument("--label-column")
    a.add_argument("--answers", help="a second file with label,answer columns")
    a.add_argument("--redact", action="store_true", help="replace PII (cards, IBANs, e-mails, phones) before storing")
    a.add_argument("--dedupe", action="store_true", help="when one text is given different labels, keep the first copy's label instead of refusing the file (repeated texts with the same label are always dropped, with a warning)")
    a.add_argument("--val-fraction", type=float, default=0.2)
    a.add_argument("--seed", type=int, default=42)
    a.set_defaults(fn=cmd_dataset_add)
    dsub.add_parser("list", help="registered datasets", parents=[common]).set_defaults(fn=cmd_dataset_list)
    s = dsub.add_parser("show", help="one dataset with labels, split, PII and feedback", parents=[common])
    s.add_argument("name")
    s.set_defaults(fn=cmd_dataset_show)
    e = dsub.add_parser("export-feedback", help="write 👍/👎 feedback as text,label rows", parents=[common])
    e.add_argument("name")
    e.add_argument("out", type=Path)
    e.set_defaults(fn=cmd_dataset_export)

    t = sub.add_parser("train", help="fine-tune a model on a dataset", parents=[common],
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

    r = sub.add_parser("runs", help="recent runs", parents=[common])
    r.add_argument("--limit", type=int, default=20)
    r.add_argument("--dataset")
    r.set_defaults(fn=cmd_runs)
    for name, fn, helptext in (("status", cmd_status, "one run's record"), ("cancel", cmd_cancel, "cancel a run")):
        c = sub.add_parser(name, help=helptext, parents=[common])
        c.add_argument("run")
        c.set_defaults(fn=fn)
    ev = sub.add_parser("eval", help="evaluate a finished run", parents=[common])
    ev.add_argument("run")
    g = ev.add_mutually_exclusive_group()
    g.add_argument("--dataset")
    g.add_argument("--file", type=Path, help="a file with text,label columns")
    ev.set_defaults(fn=cmd_eval)
    cmp_ = sub.add_parser("compare", help="two runs side by side", parents=[common])
    cmp_.add_argument("a")
    cmp_.add_argument("b")
    cmp_.set_defaults(fn=cmd_compare)

    d = sub.add_parser("deploy", help="make a run answer questions in a scope", parents=[common])
    d.add_argument("run")
    d.add_argument("--scope", default="default", help="'default' or a Slack channel id")
    d.set_defaults(fn=cmd_deploy)
    q = sub.add_parser("ask", help="ask the deployed model a question", parents=[common])
    q.add_argument("question", nargs="+")
    q.add_argument("--scope", default="default")
    q.add_argument("--run", help="ask this run's model instead of the deployed one")
    q.set_defaults(fn=cmd_ask)

    cli_promotion.add_parsers(sub, common)

    dm = sub.add_parser("demo", help="the whole job offline on the shipped sample data", parents=[common])
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
    sc = sub.add_parser("schedule", help="recurring retraining / re-evaluation", parents=[common])
    ssub = sc.add_subparsers(dest="action", required=True, metavar="ACTION")
    sa = ssub.add_parser("add", parents=[common])
    sa.add_argument("kind", choices=["retrain", "reeval"])
    sa.add_argument("target", help="dataset name (retrain) or deployment scope (reeval)")
    sa.add_argument("cron", help="cron expression, e.g. '0 6 * * 1'")
    sa.add_argument("--channel", help="Slack channel to post results in")
    ssub.add_parser("list", parents=[common])
    sr = ssub.add_parser("remove", parents=[common])
    sr.add_argument("id")
    sc.set_defaults(fn=cmd_schedule)
    pr = sub.add_parser("prune", help="delete questions, feedback, delivery records and run events past "
                                      "FTBOT_RETENTION_DAYS, audit entries past FTBOT_AUDIT_RETENTION_DAYS (admins)",
                        parents=[common])
    pr.set_defaults(fn=cmd_prune)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    # the shared options default to SUPPRESS (see build_parser): give them their real defaults here
    for name, default in (("home", None), ("json", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
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
