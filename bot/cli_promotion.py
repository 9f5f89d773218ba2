"""`ftbot` sub-commands for champions, challengers, approvals and rollback (the same rules as Slack: ops/promotion.py,
ops/challengers.py). Each takes `--json` and then prints one JSON object."""
from __future__ import annotations

import argparse
from pathlib import Path


def _cli():
    from bot import cli
    return cli


def _pct(v) -> str:
    return "–" if v is None else f"{100 * float(v):.1f}%"


# ---- rendering --------------------------------------------------------------------------------------------------
def request_json(req: dict) -> dict:
    keys = ("id", "scope", "run_id", "status", "requested_by", "requested_at", "expires_at", "decided_by",
            "decided_at", "reason", "base_run_id", "deployment_id")
    out = {k: req.get(k) for k in keys}
    out["request_id"] = req.get("id")
    out["report"] = req.get("report") or {}
    return out


def request_line(req: dict) -> str:
    line = (f"request #{req['id']}: deploy run #{req['run_id']} to {req['scope']!r} is {req['status']}"
            f" (asked by {req['requested_by']}")
    if req["status"] == "pending":
        return line + f"; expires {req['expires_at'][:16].replace('T', ' ')} UTC). Another approver runs " \
                      f"`ftbot approve {req['id']}` or `ftbot reject {req['id']}`."
    return line + (f", decided by {req['decided_by']})" if req.get("decided_by") else ")")


def report_text(rep: dict) -> str:
    lines = [f"challenger run #{rep['challenger_run_id']} vs champion run #{rep['champion_run_id']} in "
             f"{rep['scope']!r}" + ("" if rep["active"] else f" (ended: {rep.get('ended_reason')})"),
             f"  questions seen: {rep['questions']}   agreement: {_pct(rep['agreement'])}"]
    for who in ("champion", "challenger"):
        s = rep[who]
        lines.append(f"  {who:<10} fallback {_pct(s['fallback_rate'])}   mean confidence "
                     f"{'–' if s['mean_confidence'] is None else format(s['mean_confidence'], '.3f')}")
    ab = rep["ab"]
    lines.append(f"  A/B questions: {ab['questions']}   champion 👍{ab['champion']['up']} 👎{ab['champion']['down']}"
                 f"   challenger 👍{ab['challenger']['up']} 👎{ab['challenger']['down']}")
    for d in rep["disagreements"]:
        lines.append(f"  disagree on {d['intent']}: {d['disagree']}/{d['questions']} (challenger says "
                     f"{d['challenger_says']})" + "".join(f"\n      e.g. {e['question']!r}" for e in d["examples"]))
    for ds in rep.get("labelled") or []:
        if "error" in ds:
            lines.append(f"  {ds['name']}: {ds['error']}")
        else:
            lines.append(f"  {ds['name']} ({ds['examples']} examples): champion accuracy "
                         f"{_pct(ds['champion']['accuracy'])} macro-F1 {_pct(ds['champion']['macro_f1'])} · "
                         f"challenger accuracy {_pct(ds['challenger']['accuracy'])} macro-F1 "
                         f"{_pct(ds['challenger']['macro_f1'])}"
                         + (f"\n    ({ds['not_held_out']})" if ds.get("not_held_out") else ""))
    return "\n".join(lines)


def history_text(h: dict) -> str:
    lines = [f"approval: {h['approval']}"]
    for p in h["pending"]:
        lines.append("pending " + request_line(p))
    for c in h["challengers"]:
        lines.append(f"challenger run #{c['run_id']} in {c['scope']!r} since {c['started_at'][:16]} "
                     f"(by {c['started_by']})")
    for d in h["deployments"]:
        state = "active" if d["active"] else ("rolled back" if d.get("rolled_back_at") else "superseded")
        how = d.get("via") or "deploy"
        lines.append(f"#{d['id']} {d['scope']}: run #{d['run_id']} {how} by {d['deployed_by']} at "
                     f"{d['deployed_at'][:19].replace('T', ' ')} — {state}"
                     + (f" (request #{d['request_id']})" if d.get("request_id") else ""))
    return "\n".join(lines) if len(lines) > 1 else lines[0] + "\nnothing deployed yet"


# ---- commands ---------------------------------------------------------------------------------------------------
def cmd_approve(args) -> int:
    from ops import promotion
    cli = _cli()
    req = promotion.approve(cli._home(args), int(args.id), actor=cli._actor())
    cli._emit(args, request_json(req), request_line(req) + f"; run #{req['run_id']} now answers in {req['scope']!r}")
    return 0


def cmd_reject(args) -> int:
    from ops import promotion
    cli = _cli()
    req = promotion.reject(cli._home(args), int(args.id), actor=cli._actor(), reason=args.reason)
    cli._emit(args, request_json(req), request_line(req))
    return 0


def cmd_rollback(args) -> int:
    from ops import promotion
    cli = _cli()
    res = promotion.rollback(cli._home(args), scope=args.scope, actor=cli._actor())
    out = {"scope": res["scope"], "run_id": res["run_id"], "from_run_id": res["from_run_id"],
           "deployment_id": res["deployment"]["id"], "status": "rolled_back"}
    cli._emit(args, out, f"{res['scope']!r}: back to run #{res['run_id']} (run #{res['from_run_id']} rolled back)")
    return 0


def cmd_deployments(args) -> int:
    from ops import promotion
    cli = _cli()
    h = promotion.history(cli._home(args), args.scope)
    cli._emit(args, h, history_text(h))
    return 0


def cmd_promote(args) -> int:
    from ops import promotion
    cli = _cli()
    res = promotion.promote(cli._home(args), scope=args.scope, actor=cli._actor())
    if res["status"] == "pending":
        cli._emit(args, request_json(res), request_line(res))
    else:
        cli._emit(args, {"status": "deployed", "run_id": res["run_id"], "scope": res["scope"]},
                  f"run #{res['run_id']} now answers questions in scope {res['scope']!r}")
    return 0


def cmd_challenge(args) -> int:
    from ops import challengers
    cli = _cli()
    home = cli._home(args)
    what = args.what
    if what == "report":
        if args.file:
            challengers.attach_file(home, args.file, scope=args.scope, actor=cli._actor())
        rep = challengers.report(home, args.scope)
        if args.chart:
            rep["chart"] = str(challengers.report_png(rep, Path(args.chart)) or "")
        cli._emit(args, rep, report_text(rep))
        return 0
    if what == "stop":
        row = challengers.stop(home, scope=args.scope, actor=cli._actor())
        cli._emit(args, row, f"challenger run #{row['run_id']} in {args.scope!r} stopped")
        return 0
    from bot.slash_text import run_id
    row = challengers.start(home, run_id(what), scope=args.scope, actor=cli._actor(),
                            files=[args.file] if args.file else None)
    row.pop("replaced", None)
    row["challenger_id"] = row["id"]
    cli._emit(args, row, f"run #{row['run_id']} now answers every question in {args.scope!r} in the background "
                         f"beside champion run #{row['champion_run_id']}; see `ftbot challenge report`")
    return 0


def add_parsers(sub, common) -> None:
    a = sub.add_parser("approve", help="approve a pending deploy request (an approver other than the requester)",
                       parents=[common])
    a.add_argument("id")
    a.set_defaults(fn=cmd_approve)
    r = sub.add_parser("reject", help="reject a pending deploy request", parents=[common])
    r.add_argument("id")
    r.add_argument("--reason")
    r.set_defaults(fn=cmd_reject)
    rb = sub.add_parser("rollback", help="go back to the previous champion of a scope at once", parents=[common])
    rb.add_argument("--scope", default="default")
    rb.set_defaults(fn=cmd_rollback)
    d = sub.add_parser("deployments", help="deployment history, pending requests and challengers", parents=[common])
    d.add_argument("--scope", default=None, help="one scope (default: all)")
    d.set_defaults(fn=cmd_deployments)
    p = sub.add_parser("promote", help="ask to make the scope's challenger its champion", parents=[common])
    p.add_argument("--scope", default="default")
    p.set_defaults(fn=cmd_promote)
    c = sub.add_parser("challenge", help="attach a challenger run (`challenge RUN`), `challenge report`, "
                                         "`challenge stop`", parents=[common])
    c.add_argument("what", help="RUN, report or stop")
    c.add_argument("--scope", default="default")
    c.add_argument("--file", help="a labelled text,label file to score both models on (kept for later reports)")
    c.add_argument("--chart", help="report: also write the agreement/confidence chart (PNG) here")
    c.set_defaults(fn=cmd_challenge)


__all__ = ["add_parsers", "request_json", "request_line", "report_text", "history_text", "argparse"]
