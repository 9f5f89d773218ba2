"""Parsing `/ft` text into a Command, derived from the command table (ops/commands.py). Pure functions, no Slack
and no I/O, so they are cheap on the ack path.

Slack sends command text HTML-escaped (&amp; &lt; &gt;) and many clients turn quotes into “smart” quotes; both
are undone before splitting. Splitting is shell-like (quotes group words) but never fails: unbalanced quotes
fall back to splitting on whitespace. Only `train` and key arguments read `key=value` words, so a question such as
`ask is lr=3% a good rate?` stays a question.
"""
from __future__ import annotations

import html
import re
import shlex
from dataclasses import dataclass, field

from engine.config import KEY_GROUPS, TrainConfig
from engine.errors import ConfigError, FtbotError
from ops import commands as table

MAX_TEXT = 4000          # Slack caps command text well below this; longer input is cut, not rejected
MAX_QUESTION = 2000

_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "‚": "'"})
_KEY_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)
_RUN_RE = re.compile(r"^#?(\d{1,12})$")
_YES = {"yes", "y", "true", "on", "1"}
_NO = {"no", "n", "false", "off", "0"}


class UsageError(FtbotError):
    """The command text does not fit the command; the message says what was expected."""


@dataclass
class Command:
    name: str                                   # a command of ops/commands.py, or "help"
    args: list[str] = field(default_factory=list)       # the positional words as typed (runs as plain numbers)
    options: dict[str, str] = field(default_factory=dict)
    text: str = ""                              # free text (ask's question, reject's reason)
    raw: str = ""
    request: TrainConfig | None = None          # train: the keys, parsed and validated once, here
    arguments: dict = field(default_factory=dict)   # the operation's arguments (without those Slack fills in)
    topic: str = ""                             # help: what help was asked for ("keys")

    @property
    def verb(self) -> table.Verb | None:
        return table.BY_NAME.get(self.name)


def clean(text: str | None) -> str:
    text = html.unescape(text or "")
    text = text.translate(_QUOTES).replace("\u00a0", " ").replace("\u200b", "")
    return text.strip()[:MAX_TEXT]


def split(text: str) -> list[str]:
    """Shell-like words; never raises (unbalanced quotes → plain whitespace split)."""
    try:
        lex = shlex.shlex(text, posix=True)
        lex.whitespace_split = True
        lex.commenters = ""          # '#7' is a run id, not a comment
        return list(lex)
    except ValueError:
        return text.split()


def run_id(word: str, what: str = "RUN") -> int:
    m = _RUN_RE.match(word.strip())
    if not m:
        raise UsageError(f"{what} must be a run number such as 7 or #7, not {_short(word)!r}; see `/ft runs`")
    return int(m.group(1))


def _short(s: str, n: int = 40) -> str:
    return s if len(s) <= n else s[:n] + "…"


def parse(text: str | None) -> Command:
    raw = clean(text)
    if not raw:
        return Command("help", raw=raw)
    head = raw.split(None, 1)[0].lower()
    if head in ("help", "-h", "--help", "?"):
        rest = raw.split(None, 1)[1].strip().lower() if len(raw.split(None, 1)) > 1 else ""
        return Command("help", raw=raw, topic=rest)
    if head == "ask" and _ab(raw):
        verb, rest = table.verb("ask --ab"), _after(raw, 2)
    elif head == "status" and not _after(raw, 1):
        verb, rest = table.verb("deployments"), ""               # `/ft status` alone: what answers here
    else:
        verb, n = table.lookup([w for w in raw.split(None, 3)])
        if verb is None or "slack" not in verb.edges:
            raise UsageError(f"unknown command {_short(head)!r}; try one of: "
                             + ", ".join(v.name for v in table.for_edge("slack")) + " (`/ft help`)")
        rest = _after(raw, n)
    return _arguments(verb, rest, raw)


def _ab(raw: str) -> bool:
    words = raw.split(None, 2)
    return len(words) > 1 and words[1].lower() in ("--ab", "-ab", "ab:")


def _after(raw: str, n: int) -> str:
    """The text after the first `n` words, verbatim."""
    parts = raw.split(None, n)
    return parts[n].strip() if len(parts) > n else ""


def _arguments(verb: table.Verb, rest: str, raw: str) -> Command:
    cmd = Command(verb.name, raw=raw)
    typed = [a for a in verb.args if a.slack in (table.POSITIONAL, table.KEY)]
    if verb.name == "train":
        return _train(cmd, split(rest))
    if typed and typed[0].kind == table.TEXT and typed[0].slack == table.POSITIONAL:   # ask: the rest, verbatim
        q = rest[:MAX_QUESTION].strip()
        if not q and typed[0].required:
            raise UsageError(f"{verb.name} needs {typed[0].label.lower()}, e.g. `/ft {verb.name} where is my card?`")
        cmd.text, cmd.arguments[typed[0].name] = q, q
        return cmd
    plain, cmd.arguments = _keyed(verb, split(rest))
    positional = [a for a in typed if a.slack == table.POSITIONAL]
    for i, arg in enumerate(positional):
        if i >= len(plain):
            if arg.required:
                raise UsageError(f"usage: `/ft {verb.usage()}`")
            break
        if arg.kind == table.TEXT:                        # the rest of the words: a cron expression, a reason
            value = " ".join(plain[i:])
            cmd.text = value
            cmd.arguments[arg.name] = value
            plain = plain[:i + 1]
            break
        cmd.arguments[arg.name] = _value(arg, plain[i])
        cmd.args.append(str(cmd.arguments[arg.name]))
    if len(plain) > len(positional):
        extra = " ".join(plain[len(positional):])
        raise UsageError(f"usage: `/ft {verb.usage()}` (unexpected {_short(extra)!r})")
    return cmd


def _value(arg: table.Arg, word: str):
    if arg.kind == table.RUN:
        return run_id(word)
    if arg.kind == table.RUN_OR_HERE:
        return None if word.lower() == "here" else run_id(word, "RUN (or `here`)")
    if arg.kind == table.ID:
        return run_id(word, "ID")
    if arg.kind in (table.INT, table.FLOAT):
        try:
            return (int if arg.kind == table.INT else float)(word)
        except ValueError:
            raise UsageError(f"{arg.label} must be a number, not {_short(word)!r}") from None
    return word[:200]


def _flag(key: str, value: str) -> bool:
    if value.lower() not in _YES | _NO:
        raise ConfigError(key, value[:40], "yes or no")
    return value.lower() in _YES


def _keys_usage(verb: table.Verb) -> str:
    return ", ".join(f"{(a.keys or (a.name,))[0]}={'yes' if a.kind == table.FLAG else a.label}"
                     for a in verb.args if a.slack == table.KEY)


def key_arguments(verb_name: str, words: list[str]) -> tuple[list[str], dict]:
    """(the plain words, {argument: value}) of `key=value` words, as `/ft` reads them — for the file-share mention
    (`@ftbot dataset add NAME redact=yes` with a file attached)."""
    return _keyed(table.verb(verb_name), words)


def _keyed(verb: table.Verb, words: list[str]) -> tuple[list[str], dict]:
    """(the plain words, {argument: value}) of the verb's Slack KEY arguments, in the order given; a command
    without key arguments reads every word as plain (so `key=value` can be a value of its own)."""
    keyed = {k: a for a in verb.args if a.slack == table.KEY for k in (a.keys or (a.name,))}
    plain, out = [], {}
    for w in words:
        m = _KEY_RE.match(w)
        if not (m and keyed):
            plain.append(w)
            continue
        key, value = m.group(1).lower(), m.group(2).strip()
        if key not in keyed:
            raise ConfigError(key[:40], value[:40], f"{verb.name} takes " + _keys_usage(verb))
        arg = keyed[key]
        out[arg.name] = _flag(key, value) if arg.kind == table.FLAG else _value(arg, value)
    return plain, out


def _train(cmd: Command, words: list[str]) -> Command:
    if not words:
        return cmd                                # no arguments: the listener opens the form
    dataset, options = None, {}
    for w in words:
        m = _KEY_RE.match(w)
        if m:
            key, value = m.group(1).lower(), m.group(2)
            if key in options:
                raise ConfigError(key, value, f"given twice ({key}={options[key]!r} and {key}={value!r}); keep one")
            options[key] = value
        elif dataset is None and "=" not in w:
            dataset = w
        else:
            raise UsageError(f"unexpected {_short(w)!r}: write `/ft train DATASET key=value …`; keys: "
                             + ", ".join(TrainConfig.keys()))
    if dataset is None:
        raise UsageError("train needs a dataset first: `/ft train DATASET key=value …` (see `/ft datasets`)")
    cmd.args, cmd.options, cmd.request = [dataset], options, TrainConfig.parse(options)
    cmd.arguments = {"dataset": dataset, "request": cmd.request}
    return cmd


def help_text(topic: str = "") -> str:
    if topic.startswith("key"):
        return keys_help()
    lines = ["*ftbot* — fine-tune, evaluate and put transformer classifiers to work. Commands:"]
    for v in table.for_edge("slack"):
        who = {table.ADMIN: " (admins)", table.APPROVER: " (approvers)"}.get(v.role, "")
        lines.append(f"• `/ft {v.usage()}` — {v.help}{who}")
    lines.append("Training keys: " + ", ".join(f"`{k}`" for k in KEY_GROUPS["core"])
                 + " (e.g. `/ft train banking method=lora alpha=0.2 freeze=embeddings,0-3 epochs=3`); every key: "
                   "`/ft help keys`.")
    lines.append("Mention me or DM me with a question to ask the model deployed in a channel.")
    return "\n".join(lines)


def keys_help() -> str:
    helps = TrainConfig.help_text()
    lines = ["*Training keys*, by what they tune (the same names as `ftbot train --KEY`):"]
    for group, keys in KEY_GROUPS.items():
        lines.append(f"*{group}*")
        lines += [f"• `{k}` — {helps[k]}" for k in keys]
    return "\n".join(lines)
