"""Who may do what — the one access policy, used by the CLI, Slack and the scheduler, refusing and auditing in one place.

Roles (each command's role is declared in ops/commands.py, the one table of commands):
  admin     registers data, trains, cancels, evaluates, deploys, scores, schedules (FTBOT_ADMINS)
  approver  approves or rejects a pending request (FTBOT_APPROVERS: named explicitly, never implied)
  everyone  lists, checks status, compares, asks and gives feedback — within their channel (scope rules)

Identities: a Slack user is their user id (`U…`); the CLI acts as `cli:<login>`, the login of the operating-system
account that runs it as the kernel reports it (the audit login uid where one is recorded, so `sudo -u ftbot` still
names the person; else the real uid) — never an environment variable; the job runner and the demo act as
`system:<what>` with every role. FTBOT_IDENTITIES links one person's Slack id and logins (`U123=alice,U456=bob`), so
neither edge lets anyone approve their own request.

Slack trusts nobody by default: an empty FTBOT_ADMINS means no Slack admins. A local account that can write
FTBOT_HOME holds every right anyway (its file permissions are its guard), so the CLI is admin unless FTBOT_ADMINS
names `cli:` accounts, in which case only those.

Every privileged action lands in the audit log — allowed, refused and failed — through `require`, `authorize` and
`acting`.
"""
from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from typing import Iterator, Mapping

from engine.errors import FtbotError
from storage import audit, connect
from storage.errors import StorageError

from ops import commands as table
from ops.commands import ADMIN, APPROVER, EVERYONE
from ops.scopes import scope_for

log = logging.getLogger("ftbot.access")

# action → the role it needs (derived from the command table). Anything not listed is open to everyone.
REQUIRED_ROLE: dict[str, str] = {a: r for a, r in table.roles().items() if r != EVERYONE}


class PermissionDenied(FtbotError):
    """The actor lacks the role an action needs, or reaches beyond their channel; the message says what to do."""


@dataclass(frozen=True)
class Actor:
    id: str                                  # U…, cli:<login>, system:<what>
    via: str                                 # slack | cli | system | scheduler
    roles: frozenset = field(default_factory=frozenset)
    channel: str | None = None               # where a Slack user acts: scopes what a non-admin may see
    aliases: frozenset = field(default_factory=frozenset)   # the same person's other ids (FTBOT_IDENTITIES)

    @classmethod
    def system(cls, what: str = "ftbot") -> "Actor":
        return cls(f"system:{what}", "system", frozenset({ADMIN, APPROVER}))

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    def may(self, action: str) -> bool:
        role = REQUIRED_ROLE.get(action)
        return role is None or role in self.roles

    def is_same_person(self, other_id: str | None) -> bool:
        return bool(other_id) and (other_id == self.id or other_id in self.aliases)

    def __str__(self) -> str:
        return self.id


def _ids(raw: str | None) -> frozenset:
    return frozenset(p.strip() for p in (raw or "").split(",") if p.strip())


@dataclass(frozen=True)
class Policy:
    admins: frozenset = field(default_factory=frozenset)      # Slack ids and cli:<login> names
    approvers: frozenset = field(default_factory=frozenset)   # named explicitly; nobody approves by default
    people: tuple = ()                                        # groups of ids that are one person

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Policy":
        env = os.environ if env is None else env
        return cls(admins=_ids(env.get("FTBOT_ADMINS")), approvers=_ids(env.get("FTBOT_APPROVERS")),
                   people=parse_identities(env.get("FTBOT_IDENTITIES")))

    def aliases(self, who: str) -> frozenset:
        for group in self.people:
            if who in group:
                return frozenset(group) - {who}
        return frozenset()

    def _roles(self, who: str, admin: bool, aliases: frozenset) -> frozenset:
        """`aliases`: who's other ids (self.aliases(who)), computed once by the caller."""
        roles = {ADMIN} if admin else set()
        if ({who} | aliases) & self.approvers:
            roles.add(APPROVER)
        return frozenset(roles)

    def slack(self, user: str, channel: str | None = None) -> Actor:
        if not user:
            return Actor("", "slack", frozenset(), channel, frozenset())
        aliases = self.aliases(user)
        return Actor(user, "slack", self._roles(user, user in self.admins, aliases), channel, aliases)

    def cli(self, login: str | None = None) -> Actor:
        """The local account (`login` given: tests and the demo's made-up people)."""
        who = f"cli:{login or cli_login()}"
        named = {a for a in self.admins if a.startswith("cli:")}
        aliases = self.aliases(who)
        return Actor(who, "cli", self._roles(who, who in named or not named, aliases), None, aliases)


def parse_identities(raw: str | None) -> tuple:
    """FTBOT_IDENTITIES: `U123=alice,U456=bob` (a Slack id and a login, `cli:` optional; `U1=alice=ali` links
    several) → groups of ids that are one person."""
    from engine.errors import ConfigError
    groups = []
    for item in (raw or "").split(","):
        item = item.strip()
        if not item:
            continue
        parts = [p.strip() for p in item.split("=") if p.strip()]
        if len(parts) < 2:
            raise ConfigError("FTBOT_IDENTITIES", item, "pairs such as U123ABC=alice (a Slack user id = a login)")
        groups.append(frozenset(p if p[:1] in "UW" and p[1:].isalnum() and p.isupper() or p.startswith("cli:")
                                else f"cli:{p}" for p in parts))
    return tuple(groups)


def cli_login() -> str:
    """The login of the account running this process, as the kernel reports it: the audit login uid (set at login
    and kept across sudo/su) where the kernel records one, else the real uid. Never USER or LOGNAME."""
    import pwd
    uid = os.getuid()
    try:
        with open("/proc/self/loginuid", encoding="ascii") as f:
            login_uid = int(f.read().strip() or -1)
        if 0 <= login_uid < 4294967295:        # (uid_t)-1: no login recorded (services, containers)
            uid = login_uid
    except (OSError, ValueError):
        pass
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:                           # no passwd entry in some containers: the number names the account
        return f"uid{uid}"


def as_actor(who: "Actor | str") -> Actor:
    """Operations take an Actor from the edges; a bare name is an internal caller (demo, tests, the job runner)."""
    return who if isinstance(who, Actor) else Actor(str(who), "system", frozenset({ADMIN, APPROVER}))


def record(home, actor: "Actor | str", action: str, target: str | None = None, /, *, ok: bool = True,
           **detail) -> None:
    """One audit row. A failing audit write is logged, never raised: it must not turn a refusal into a crash."""
    a = as_actor(actor)
    try:
        with connect(home) as db:
            audit.log(db, a.id, action, target, ok=ok, detail={"via": a.via, **detail})
    except StorageError as e:
        log.error("could not write the audit log (%s %s %s): %s", a.id, action, target, e)


def require(home, actor: "Actor | str", action: str, target: str | None = None, /, **detail) -> Actor:
    """Raise PermissionDenied (and audit the refusal) unless `actor` may take `action`."""
    a = as_actor(actor)
    if a.may(action):
        return a
    role = REQUIRED_ROLE[action]
    record(home, a, action, target, ok=False, reason=f"not an {role}", **detail)
    raise PermissionDenied(refusal(action, role))


def refusal(action: str, role: str | None = None) -> str:
    role = role or REQUIRED_ROLE.get(action, ADMIN)
    who = "ftbot admins (listed in FTBOT_ADMINS)" if role == ADMIN else "ftbot approvers (listed in FTBOT_APPROVERS)"
    words = ACTION_WORDS.get(action) or f"use `{action.replace('.', ' ')}`"
    return f"Only {who} may {words}. Ask one of them to do it or to add you."


# how a refusal names what was refused, where the command's words alone do not read as English
# (keyed by the audited action: `promote` is audited as "deploy", `explain` as "score.explain")
ACTION_WORDS = {"deploy": "deploy", "approve": "approve", "reject": "reject", "train": "train",
                "cancel": "cancel runs", "rollback": "roll back", "prune": "prune",
                "dataset.add": "register data", "eval": "evaluate", "score": "score files",
                "score.explain": "see an applicant's reasons",
                "report": "write validation reports", "drift": "check drift", "approval": "change the approval "
                "policy", "challenge": "attach challengers", "ask.ab": "see a challenger's answers"}


@contextlib.contextmanager
def acting(home, actor: "Actor | str", action: str, target: str | None = None, /,
           **detail) -> Iterator[dict]:
    """Check permission, run the block, audit the outcome: allowed and done (with what the block adds to the yielded
    dict), refused, or failed (with the error). Usage: `with acting(home, actor, "deploy", "run:7") as note: …`."""
    a = require(home, actor, action, target, **detail)
    note = dict(detail)
    try:
        yield note
    except BaseException as e:
        record(home, a, action, target, ok=False, **note, error=f"{type(e).__name__}: {str(e)[:300]}")
        raise
    record(home, a, action, target, ok=True, **note)


# ---- one command, one decision -------------------------------------------------------------------------------------
def scoped(actor: Actor | None) -> bool:
    """True when `actor` reaches only their own channel's work (a Slack member who is not an admin)."""
    return actor is not None and actor.via == "slack" and not actor.is_admin


def authorize(home, actor: Actor, verb: "table.Verb", arguments: dict) -> dict:
    """Decide whether `actor` may run `verb` with these arguments: its role, then its scope rules (ops/commands.py).
    Refusals are audited and raised (PermissionDenied, or NotFound for a run or dataset of another channel, which a
    member must not learn exists). → {"private": True} when an admin reaches beyond the channel they typed in, so
    the edge answers them alone instead of the channel."""
    from engine.errors import NotFound
    from storage import visibility as seen
    require(home, actor, verb.audit_action, _target(verb, arguments), command=verb.name)
    here = scope_for(actor.channel) if actor.via == "slack" else None
    channel = actor.channel or ""
    found = []        # (what, check) in argument order; check None: a scope beyond already, else looked up below
    for arg in verb.args:
        value = arguments.get(arg.name)
        if value is None or value == "":
            continue
        if arg.kind == table.SCOPE and table.HERE in verb.scope and here is not None and str(value) != here:
            found.append((f"scope {value}", None))
        elif arg.kind in (table.RUN, table.RUN_OR_HERE) and table.RUNS in verb.scope and here is not None:
            found.append((f"run {value}", lambda db, v=value: seen.run_visible(db, int(v), channel, here)))
        elif arg.kind == table.DATASET and table.DATASETS in verb.scope and here is not None:
            found.append((f"dataset {value}", lambda db, v=value: seen.dataset_visible(db, str(v), channel, here)))
    beyond = [what for what, check in found if check is None]
    if len(beyond) < len(found):      # runs or datasets to look up: one connection for all of them
        with connect(home) as db:
            beyond = [what for what, check in found if check is None or not check(db)]
    if not beyond:
        return {"private": False}
    if not scoped(actor):
        return {"private": True}          # an admin may look; what belongs to another channel stays with them
    what = beyond[0]
    record(home, actor, verb.audit_action, _target(verb, arguments), ok=False, command=verb.name,
           reason=f"{what} is not of channel {actor.channel}")
    if what.startswith("run "):
        raise NotFound(f"no run #{what[4:]} in this channel; see `/ft runs`")
    if what.startswith("dataset "):
        raise NotFound(f"no dataset named {what[8:]!r} in this channel; see `/ft datasets`")
    raise PermissionDenied("you can only see this channel's models and reports here; ask in the channel they "
                           "belong to")


def _target(verb: "table.Verb", arguments: dict) -> str | None:
    for arg in verb.args:
        value = arguments.get(arg.name)
        if value is None:
            continue
        if arg.kind in (table.RUN, table.RUN_OR_HERE):
            return f"run:{value}"
        if arg.kind in (table.ID, table.DATASET, table.SCOPE):
            return f"{arg.name}:{value}"
    return None
