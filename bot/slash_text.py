"""Parsing `/ft` text into a Command. Pure functions, no Slack and no I/O, so they are cheap on the ack path.

Slack sends command text HTML-escaped (&amp; &lt; &gt;) and many clients turn quotes into “smart” quotes; both
are undone before splitting. Splitting is shell-like (quotes group words) but never fails: unbalanced quotes
fall back to splitting on whitespace. Only `train` reads `key=value` words, so a question such as
`ask is lr=3% a good rate?` stays a question.
"""
from __future__ import annotations

import html
import re
import shlex
from dataclasses import dataclass, field

from engine.config import TrainConfig
from engine.errors import ConfigError, FtbotError

from bot import slash_promotion

MAX_TEXT = 4000          # Slack caps command text well below this; longer input is cut, not rejected
MAX_QUESTION = 2000

SUBCOMMANDS = {
    "help": "help",
    "datasets": "show the registered datasets",
    "dataset add NAME [PATH] [key=value…]": "register a data file (admins); PATH is inside the server's data folder, "
                                            "or share the file in a message that mentions the bot with `dataset add "
                                            "NAME`; keys: redact=yes dedupe=yes text=COLUMN label=COLUMN",
    "dataset show NAME": "rows, labels, split, PII findings and answer feedback of a dataset",
    "train DATASET key=value…": "fine-tune a model (admins); no arguments opens a form",
    "runs": "recent runs",
    "status RUN": "progress or result of a run",
    "cancel RUN": "stop a queued or running run (admins)",
    "eval RUN [DATASET]": "evaluate a finished run, on its validation split or another dataset (admins)",
    "compare RUN RUN": "metrics and settings of two runs side by side",
    "deploy RUN": "answer questions in this channel with a run's model (admins)",
    "ask QUESTION": "ask the model deployed in this channel",
    "schedule add retrain|reeval TARGET CRON": "retrain a dataset or re-evaluate this channel's deployment on a "
                                               "cron schedule, results posted here (admins), e.g. `0 6 * * 1`",
    "schedule list | schedule remove ID": "the schedules, or remove one (admins)",
    **slash_promotion.HELP,
}

_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "‚": "'"})
_KEY_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)
_RUN_RE = re.compile(r"^#?(\d{1,12})$")


class UsageError(FtbotError):
    """The command text does not fit the command; the message says what was expected."""


@dataclass
class Command:
    name: str                                   # help, datasets, dataset.add, dataset.show, train, runs, ...
    args: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)
    text: str = ""                              # free text (ask's question)
    raw: str = ""
    request: TrainConfig | None = None          # train: the keys, parsed and validated once, here


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
    head, _, rest = raw.partition(" ")
    if "\n" in head:
        head, _, more = head.partition("\n")
        rest = more + " " + rest
    verb = head.lower()
    rest = rest.strip()
    if verb in ("help", "-h", "--help", "?"):
        return Command("help", raw=raw)
    if verb == "ask":
        ab = slash_promotion.parse_ask(rest, raw)
        if ab is not None:
            return ab
        q = rest[:MAX_QUESTION].strip()
        if not q:
            raise UsageError("ask needs a question, e.g. `/ft ask where is my card?`")
        return Command("ask", text=q, raw=raw)
    words = split(rest)
    if verb in ("datasets", "runs"):
        _no_more(verb, words)
        return Command(verb, raw=raw)
    if verb == "dataset":
        if not words or words[0].lower() not in ("add", "show", "list"):
            raise UsageError("use `/ft dataset add NAME [PATH]`, `/ft dataset show NAME` or `/ft datasets`")
        sub, words = words[0].lower(), words[1:]
        if sub == "list":
            _no_more("dataset list", words)
            return Command("datasets", raw=raw)
        if sub == "show":
            _count("dataset show NAME", words, 1, 1)
            return Command("dataset.show", args=words, raw=raw)
        from bot.dataset_options import split_options
        words, opts = split_options(words)
        _count("dataset add NAME [PATH] [redact=yes dedupe=yes text=COL label=COL]", words, 1, 2)
        return Command("dataset.add", args=words, options=opts, raw=raw)
    if verb in slash_promotion.VERBS or (verb == "status" and not words):
        return slash_promotion.parse(verb if verb != "status" else "deployments", words, raw)
    if verb in ("status", "cancel", "deploy"):
        _count(f"{verb} RUN", words, 1, 1)
        return Command(verb, args=[str(run_id(words[0]))], raw=raw)
    if verb == "eval":
        _count("eval RUN [DATASET]", words, 1, 2)
        return Command("eval", args=[str(run_id(words[0]))] + words[1:], raw=raw)
    if verb == "compare":
        _count("compare RUN RUN", words, 2, 2)
        return Command("compare", args=[str(run_id(w)) for w in words], raw=raw)
    if verb == "train":
        return _train(words, raw)
    if verb == "schedule":
        return _schedule(words, raw)
    raise UsageError(f"unknown command {_short(head)!r}; try one of: help, datasets, dataset add, dataset show, "
                     "train, runs, status, cancel, eval, compare, deploy, ask, schedule, "
                     + ", ".join(slash_promotion.VERBS))


def _schedule(words: list[str], raw: str) -> Command:
    usage = "use `/ft schedule add retrain|reeval TARGET CRON`, `/ft schedule list` or `/ft schedule remove ID`"
    if not words or words[0].lower() not in ("add", "list", "remove"):
        raise UsageError(usage)
    sub, words = words[0].lower(), words[1:]
    if sub == "list":
        _no_more("schedule list", words)
        return Command("schedule.list", raw=raw)
    if sub == "remove":
        _count("schedule remove ID", words, 1, 1)
        return Command("schedule.remove", args=words, raw=raw)
    if len(words) < 3 or words[0].lower() not in ("retrain", "reeval"):
        raise UsageError("use `/ft schedule add retrain DATASET 0 6 * * 1` or `/ft schedule add reeval SCOPE CRON`")
    # the cron expression may come quoted (one word) or as its five fields
    return Command("schedule.add", args=[words[0].lower(), words[1], " ".join(words[2:])], raw=raw)


def _no_more(usage: str, words: list[str]) -> None:
    if words:
        raise UsageError(f"`{usage}` takes no arguments (got {_short(' '.join(words))!r})")


def _count(usage: str, words: list[str], lo: int, hi: int) -> None:
    if len(words) < lo:
        raise UsageError(f"usage: `/ft {usage}`")
    if len(words) > hi:
        raise UsageError(f"usage: `/ft {usage}` (unexpected {_short(' '.join(words[hi:]))!r})")


def _train(words: list[str], raw: str) -> Command:
    if not words:
        return Command("train", raw=raw)          # no arguments: the listener opens the form
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
    return Command("train", args=[dataset], options=options, raw=raw, request=TrainConfig.parse(options))


def help_text() -> str:
    lines = ["*ftbot* — fine-tune and ask transformer classifiers. Commands:"]
    lines += [f"• `/ft {k}` — {v}" for k, v in SUBCOMMANDS.items() if k != "help"]
    lines.append("Training keys: " + ", ".join(f"`{k}`" for k in TRAIN_KEYS_SHOWN)
                 + " (e.g. `/ft train banking method=lora alpha=0.2 freeze=embeddings,0-3 epochs=3`).")
    lines.append("Mention me or DM me with a question to ask the model deployed in a channel.")
    return "\n".join(lines)


TRAIN_KEYS_SHOWN = ("base", "method", "alpha", "freeze", "epochs", "lr", "batch_size", "max_length", "r",
                    "lora_alpha", "lora_dropout", "seed", "budget", "patience", "column_features", "head_init",
                    "contrastive_epochs", "gpus")
