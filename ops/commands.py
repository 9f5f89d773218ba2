"""Every command, declared once: its words, arguments, the role it needs, how far it reaches beyond the caller's
channel, whether Slack acknowledges it first as slow work, its help line, and the operation it calls.

The Slack parser and help (bot/slash_text.py), the CLI's argparse (bot/cli.py), the access roles and scope checks
(ops/access.py) and the generic call (ops/facade.py `Operations.run`) are derived from this table; each edge renders
the result with the renderer of the same name (bot/render.py VIEWS for text and JSON, bot/replies.py for Slack).
Adding a command is one operation, one entry here and its renderers.

The table is plain data: operations are named as "ops.module:function" and resolved when called, so this module
imports nothing of the operations it lists (ops/access.py reads the roles from here).
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable

# roles
EVERYONE, ADMIN, APPROVER = "everyone", "admin", "approver"

# Scope rules: how far a command reaches for a Slack member who is not an admin. A Slack admin, the CLI and the
# job runner are not limited by them (docs/security.md).
OWN = "own"          # lists: only what belongs to the caller's channel (the operation filters: ops/visibility.py)
HERE = "here"        # acts on the caller's channel; a SCOPE argument naming another scope is refused
RUNS = "runs"        # every RUN argument must be a run of the caller's channel (started or deployed there)
DATASETS = "datasets"  # every DATASET argument must be a dataset of the caller's channel
NONE = "none"        # touches no channel's data (help, approval of a request by its number: approvers only)
SCOPE_RULES = (OWN, HERE, RUNS, DATASETS, NONE)

# argument kinds
WORD, RUN, ID, TEXT, INT, FLOAT, FLAG, OPTIONS, PATH, SCOPE = ("word", "run", "id", "text", "int", "float", "flag",
                                                              "options", "path", "scope")
DATASET = "dataset"         # a registered dataset's name
RUN_OR_HERE = "run|here"    # a run number, or `here`: the model deployed where the command was typed
# where an argument comes from at an edge
POSITIONAL = "positional"   # in order, after the command's words
KEY = "key"                 # Slack: a key=value word (`redact=yes`); its keys are Arg.keys or the name
# HERE (above) as a source: Slack fills it in from where the command was typed — a SCOPE argument gets the
# channel's scope, any other the channel id


@dataclass(frozen=True)
class Arg:
    """One argument. `cli`: POSITIONAL, a flag such as "--scope", or None (not on the CLI); `slack`: POSITIONAL,
    KEY, HERE (filled in from the channel, not typed) or None (not in Slack)."""
    name: str                       # the operation's parameter
    kind: str = WORD
    help: str = ""
    required: bool = True
    default: Any = None
    cli: str | None = POSITIONAL
    slack: str | None = POSITIONAL
    metavar: str | None = None
    keys: tuple[str, ...] = ()      # Slack KEY arguments: the words accepted before "=" (default: the name)

    @property
    def label(self) -> str:
        return self.metavar or self.name.upper()


@dataclass(frozen=True)
class Verb:
    name: str                       # the words that call it: "score", "dataset add", "challenge report"
    op: str                         # "ops.module:function", called as function(home, **arguments[, actor=…])
    role: str                       # EVERYONE | ADMIN | APPROVER
    scope: tuple[str, ...]          # scope rules (SCOPE_RULES); at least one
    help: str
    args: tuple[Arg, ...] = ()
    slow: str | None = None         # Slack acknowledges with "<slow>…" and answers when the work is done
    edges: tuple[str, ...] = ("slack", "cli")
    aliases: tuple[str, ...] = ()   # other words for the same command ("datasets" for "dataset list")
    action: str | None = None       # the audited action; default: the name with dots ("dataset.add")
    reply: str = "private"          # Slack: "private" (only the caller sees it) or "channel"

    def __post_init__(self):
        if self.role not in (EVERYONE, ADMIN, APPROVER):
            raise ValueError(f"{self.name}: role must be everyone, admin or approver")
        if not self.scope or any(r not in SCOPE_RULES for r in self.scope):
            raise ValueError(f"{self.name}: every command needs its scope rules ({', '.join(SCOPE_RULES)})")
        if OWN in self.scope and not self.op.startswith("ops.visibility:"):
            # an OWN list is filtered by the operation itself: only ops/visibility.py knows the caller's channel
            raise ValueError(f"{self.name}: a list shown per channel (own) must call an ops.visibility function")

    @property
    def audit_action(self) -> str:
        return self.action or self.name.replace(" ", ".")

    def function(self) -> Callable:
        module, _, name = self.op.partition(":")
        return getattr(importlib.import_module(module), name)

    def usage(self, edge: str = "slack") -> str:
        words = [self.name]
        for a in self.args:
            where = a.slack if edge == "slack" else a.cli
            if where is None or where == HERE:
                continue
            text = a.label + ("…" if a.kind in (TEXT, OPTIONS) else "")
            if where == KEY:
                text = f"{(a.keys or (a.name,))[0]}={'yes' if a.kind == FLAG else a.label}"
            elif where != POSITIONAL:
                text = f"{where} {a.label}" if a.kind != FLAG else where
            words.append(text if a.required else f"[{text}]")
        return " ".join(words)


# Actions that are audited and role-checked but are not commands of their own.
ACTIONS: dict[str, str] = {"feedback": EVERYONE, "score.explain": ADMIN}

R = lambda name="run_id", **kw: Arg(name, RUN, metavar="RUN", **kw)  # noqa: E731 — a RUN argument

VERBS: tuple[Verb, ...] = (
    # ---- data ----------------------------------------------------------------------------------------------------
    Verb("dataset list", "ops.visibility:list_datasets", EVERYONE, (OWN,), "show the registered datasets",
         aliases=("datasets",)),
    Verb("dataset show", "ops.visibility:show_dataset", EVERYONE, (DATASETS,),
         "rows, labels, split, PII findings, protected columns and answer feedback of a dataset",
         args=(Arg("name", DATASET, metavar="NAME"),)),
    Verb("dataset add", "ops.datasets:register", ADMIN, (HERE,),
         "register a data file; PATH is inside the server's data folder, or share the file in a message that "
         "mentions the bot with `dataset add NAME`",
         args=(Arg("name", metavar="NAME"), Arg("path", PATH, required=False, metavar="PATH"),
               Arg("text_column", help="the column holding the text", required=False, cli="--text-column",
                   slack=KEY, keys=("text", "text_column"), metavar="COLUMN"),
               Arg("label_column", help="the column holding the label", required=False, cli="--label-column",
                   slack=KEY, keys=("label", "label_column"), metavar="COLUMN"),
               Arg("answers_path", PATH, "a second file with label,answer columns", required=False,
                   cli="--answers", slack=None),
               Arg("redact", FLAG, "replace PII (cards, IBANs, e-mails, phones) before storing", required=False,
                   cli="--redact", slack=KEY),
               Arg("dedupe", FLAG, "when one text is given different labels, keep the first copy's label instead "
                   "of refusing the file", required=False, cli="--dedupe", slack=KEY),
               Arg("protected", help="protected attributes, e.g. 'age<25,personal_status_sex': kept for the "
                   "fairness report, not model inputs", required=False, cli="--protected", slack=KEY,
                   metavar="SPEC"),
               Arg("val_fraction", FLOAT, "share of rows for validation", required=False, default=0.2,
                   cli="--val-fraction", slack=None),
               Arg("seed", INT, "split seed", required=False, default=42, cli="--seed", slack=None)),
         slow="checking the data", reply="channel"),
    Verb("dataset export-feedback", "ops.datasets:export_feedback", ADMIN, (DATASETS,),
         "write 👍/👎 feedback on answers as text,label rows", edges=("cli",), action="dataset.export",
         args=(Arg("name", DATASET, metavar="NAME"), Arg("out_path", PATH, metavar="OUT"))),
    # ---- training and runs ---------------------------------------------------------------------------------------
    Verb("train", "ops.runs:submit", ADMIN, (DATASETS, HERE), "fine-tune a model; no arguments opens a form",
         args=(Arg("dataset", DATASET, metavar="DATASET", required=False),
               Arg("request", OPTIONS, required=False, cli=None, metavar="key=value")),
         slow="planning the run", reply="channel"),
    Verb("runs", "ops.visibility:list_runs", EVERYONE, (OWN,), "recent runs",
         args=(Arg("limit", INT, "how many", required=False, default=15, cli="--limit", slack=None),
               Arg("dataset", DATASET, "only this dataset's runs", required=False, cli="--dataset", slack=None))),
    Verb("status", "ops.visibility:status", EVERYONE, (RUNS,), "progress or result of a run (no RUN: the "
         "deployments)", args=(R(),)),
    Verb("cancel", "ops.runs:cancel", ADMIN, (RUNS,), "stop a queued or running run", args=(R(),),
         reply="channel"),
    Verb("eval", "ops.runs:evaluate", ADMIN, (RUNS, DATASETS),
         "evaluate a finished run, on its validation split, another dataset or a labelled file",
         args=(R(), Arg("dataset", DATASET, required=False, cli="--dataset", metavar="DATASET"),
               Arg("file", PATH, "a file with the run's columns and its label", required=False, cli="--file",
                   slack=None)),
         slow="evaluating", reply="channel"),
    Verb("compare", "ops.visibility:compare", EVERYONE, (RUNS,), "metrics and settings of two runs side by side",
         args=(R("a"), R("b"))),
    # ---- putting a model to work ---------------------------------------------------------------------------------
    Verb("score", "ops.scoring:score", ADMIN, (RUNS, HERE),
         "score a file of applicants (or questions) with a run's model: probability, decision and up to four "
         "reasons per row; in Slack share the file with `@ftbot score RUN`",
         args=(R(), Arg("path", PATH, "the file to score", required=False, metavar="FILE"),
               Arg("out", PATH, "where the scored CSV goes", required=False, cli="--out", slack=None),
               Arg("id_column", help="a column that names each row", required=False, cli="--id-column",
                   slack=None),
               Arg("scope", SCOPE, "score with the model deployed there instead", required=False,
                   cli="--scope", slack=None)),
         slow="scoring", reply="channel"),
    Verb("explain", "ops.scoring:explain", ADMIN, (RUNS,),
         "one applicant's probability, decision, reasons and the smallest change that would flip it",
         args=(R(), Arg("path", PATH, metavar="FILE"), Arg("row", INT, "the row number (1-based)", cli="--row",
                                                            slack=None)),
         edges=("cli",), action="score.explain"),
    Verb("drift", "ops.monitoring:drift", EVERYONE, (RUNS, HERE),
         "is the population still the one the model learned from: score and column stability (PSI) of a file, or "
         "for `here` the questions asked in this channel",
         args=(Arg("run_id", RUN_OR_HERE, metavar="RUN|here"),
               Arg("file", PATH, "rows to compare with the training rows", required=False, cli="--file",
                   slack=None)),
         slow="measuring drift"),
    Verb("report", "ops.reporting:report", EVERYONE, (RUNS,),
         "the validation report of a run (intended use, data lineage, method, performance, fairness, stability, "
         "monitoring, approvals, how to reproduce it)",
         args=(R(), Arg("out", PATH, "where the report goes (Markdown)", required=False, cli="--out",
                        slack=None)),
         slow="writing the report", reply="channel"),
    # ---- answering -----------------------------------------------------------------------------------------------
    Verb("deploy", "ops.promotion:request_deploy", ADMIN, (RUNS, HERE),
         "answer questions with a run's model (with approval required, another approver approves)",
         args=(R(), Arg("scope", SCOPE, "'default' or a Slack channel id", required=False, default="default",
                        cli="--scope", slack=HERE)),
         reply="channel"),
    Verb("ask", "ops.questions:ask", EVERYONE, (HERE,), "ask the model deployed in this channel",
         args=(Arg("question", TEXT, metavar="QUESTION"),
               Arg("scope", SCOPE, required=False, default="default", cli="--scope", slack=HERE),
               Arg("run_id", RUN, "ask this run's model instead", required=False, cli="--run", slack=None)),
         slow="thinking", reply="channel"),
    Verb("ask --ab", "ops.questions:ask_ab", EVERYONE, (HERE,),
         "testers: the champion's and the challenger's answers side by side (or reply `ab` in a thread)",
         args=(Arg("question", TEXT, metavar="QUESTION"), Arg("scope", SCOPE, slack=HERE, cli=None)),
         edges=("slack",), slow="asking both models", action="ask.ab"),
    # ---- champions, challengers and four eyes --------------------------------------------------------------------
    Verb("challenge", "ops.challengers:start", ADMIN, (RUNS, HERE),
         "attach a run beside this channel's model: it answers every question unseen",
         args=(R(), Arg("scope", SCOPE, required=False, default="default", cli="--scope", slack=HERE),
               Arg("files", PATH, "a labelled file to score both models on", required=False, cli="--file",
                   slack=None)),
         reply="channel"),
    Verb("challenge report", "ops.challengers:report", EVERYONE, (HERE,), "the challenger's report",
         args=(Arg("scope", SCOPE, required=False, default="default", cli="--scope", slack=HERE),
               Arg("files", PATH, "a labelled file to score both models on, for this report", required=False,
                   cli="--file", slack=None),
               Arg("chart", PATH, "also draw the agreement/confidence chart here (PNG)", required=False,
                   cli="--chart", slack=None)),
         slow="comparing the two models", reply="channel"),
    Verb("challenge stop", "ops.challengers:stop", ADMIN, (HERE,), "stop the channel's challenger",
         args=(Arg("scope", SCOPE, required=False, default="default", cli="--scope", slack=HERE),),
         action="challenge", reply="channel"),
    Verb("promote", "ops.promotion:promote", ADMIN, (HERE,),
         "ask to make this channel's challenger its model (another approver approves when approval is required)",
         args=(Arg("scope", SCOPE, required=False, default="default", cli="--scope", slack=HERE),),
         action="deploy", reply="channel"),
    Verb("approve", "ops.promotion:approve", APPROVER, (NONE,),
         "approve a pending request (never your own, through either edge)",
         args=(Arg("request_id", ID, metavar="ID"),), reply="channel"),
    Verb("reject", "ops.promotion:reject", APPROVER, (NONE,), "reject a pending request",
         args=(Arg("request_id", ID, metavar="ID"), Arg("reason", TEXT, required=False, cli="--reason")),
         reply="channel"),
    Verb("rollback", "ops.promotion:rollback", ADMIN, (HERE,), "go back to the previous model at once",
         args=(Arg("scope", SCOPE, required=False, default="default", cli="--scope", slack=HERE),),
         reply="channel"),
    Verb("deployments", "ops.promotion:history", EVERYONE, (HERE,),
         "deployment history, pending requests and challengers (also `/ft status`)",
         args=(Arg("scope", SCOPE, "one scope (default: all)", required=False, cli="--scope", slack=HERE),)),
    Verb("approval", "ops.policy:set_approval", ADMIN, (NONE,),
         "show or change the deploy approval policy (required: four eyes; relaxing it needs a second approver)",
         args=(Arg("mode", metavar="required|optional", required=False),), reply="channel"),
    # ---- schedules and data protection ---------------------------------------------------------------------------
    Verb("schedule add", "ops.schedules:add_schedule", ADMIN, (HERE, DATASETS),
         "retrain a dataset, re-evaluate this channel's model or watch its drift on a cron schedule, results posted "
         "here, e.g. `0 6 * * 1`",
         args=(Arg("kind", metavar="retrain|reeval|drift"), Arg("target", metavar="TARGET"),
               Arg("cron", TEXT, metavar="CRON"),
               Arg("channel", help="Slack channel to post results in", required=False, cli="--channel",
                   slack=HERE)),
         reply="channel"),
    Verb("schedule list", "ops.visibility:list_schedules", EVERYONE, (OWN,), "the schedules of this channel"),
    Verb("schedule remove", "ops.schedules:remove_schedule", ADMIN, (HERE,), "remove a schedule",
         args=(Arg("id", metavar="ID"),), reply="channel"),
    Verb("prune", "ops.retention:prune", ADMIN, (NONE,),
         "delete questions, feedback, delivery records and run events past FTBOT_RETENTION_DAYS, audit entries "
         "past FTBOT_AUDIT_RETENTION_DAYS", edges=("cli",)),
)

BY_NAME: dict[str, Verb] = {v.name: v for v in VERBS}
_WORDS: dict[str, Verb] = {w: v for v in VERBS for w in (v.name, *v.aliases)}


def verb(name: str) -> Verb:
    return BY_NAME[name]


def lookup(words: list[str]) -> tuple[Verb | None, int]:
    """The command the first words name (longest match) and how many words it took."""
    for n in (3, 2, 1):
        if len(words) >= n and (v := _WORDS.get(" ".join(words[:n]).lower())):
            return v, n
    return None, 0


def for_edge(edge: str) -> list[Verb]:
    return [v for v in VERBS if edge in v.edges]


def roles() -> dict[str, str]:
    """{audited action: role}: every command's, and the few actions that are not commands of their own."""
    out = dict(ACTIONS)
    for v in VERBS:
        prev = out.get(v.audit_action)
        if prev is not None and prev != v.role:
            raise ValueError(f"action {v.audit_action} is declared with two roles ({prev}, {v.role})")
        out[v.audit_action] = v.role
    return out


def keywords(fn: Callable, arguments: dict, *, actor, context: dict | None = None) -> dict:
    """The keyword arguments `fn` takes: the arguments it names, then the `context` extras (channel, origin) it names
    that have a value and no argument of that name, and the actor where it takes one."""
    params = inspect.signature(fn).parameters
    kwargs = {k: val for k, val in arguments.items() if k in params}
    for k, val in (context or {}).items():
        if k in params and k not in kwargs and val is not None:
            kwargs[k] = val
    if "actor" in params:
        kwargs["actor"] = actor
    return kwargs


def call(v: Verb, home, arguments: dict, *, actor, context: dict | None = None):
    """Call the command's operation with the arguments it takes; `context` offers optional extras (channel, origin)
    that are passed only to operations that take them."""
    fn = v.function()
    return fn(home, **keywords(fn, arguments, actor=actor, context=context))


__all__ = ["Arg", "Verb", "VERBS", "BY_NAME", "verb", "lookup", "for_edge", "roles", "keywords", "call"]
