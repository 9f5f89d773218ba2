"""Who may do what — the one access policy, used by the CLI, Slack and the scheduler, refusing and auditing in one place.

Roles:
  admin     registers data, trains, cancels, evaluates, deploys, schedules (FTBOT_ADMINS)
  approver  approves or rejects a pending change (FTBOT_APPROVERS; when unset, the admins)
  everyone  lists, checks status, compares, asks and gives feedback

Identities: a Slack user is their user id (`U…`); the CLI acts as `cli:<login>` — the login name from the environment
(`USER`), never a Slack id, so two accounts on one machine are two people; the job runner and the demo act as
`system:<what>` with every role (they act on what an admin already set up, e.g. a schedule's creator).

Slack trusts nobody by default: an empty FTBOT_ADMINS means no Slack admins. A local account owns FTBOT_HOME (file
permissions are its guard), so the CLI is admin unless FTBOT_ADMINS names `cli:` accounts, in which case only those.

Every admin action lands in the audit log — allowed, refused and failed — through `require` and `acting`.
"""
from __future__ import annotations

import contextlib
import getpass
import logging
import os
from dataclasses import dataclass, field
from typing import Iterator, Mapping

from engine.errors import FtbotError
from storage import audit, connect
from storage.errors import StorageError

log = logging.getLogger("ftbot.access")

ADMIN, APPROVER = "admin", "approver"
# action → the role it needs. Anything not listed is open to everyone (read-only or asking).
REQUIRED_ROLE: dict[str, str] = {
    "dataset.add": ADMIN, "dataset.export": ADMIN, "train": ADMIN, "cancel": ADMIN, "eval": ADMIN,
    "deploy": ADMIN, "rollback": ADMIN, "challenge": ADMIN, "schedule.add": ADMIN, "schedule.remove": ADMIN,
    "prune": ADMIN, "approve": APPROVER, "reject": APPROVER,
}


class PermissionDenied(FtbotError):
    """The actor lacks the role an action needs; the message says which and whom to ask."""


@dataclass(frozen=True)
class Actor:
    id: str                                  # U…, cli:<login>, system:<what>
    via: str                                 # slack | cli | system
    roles: frozenset = field(default_factory=frozenset)
    channel: str | None = None               # where a Slack user acts: scopes what a non-admin may see

    @classmethod
    def system(cls, what: str = "ftbot") -> "Actor":
        return cls(f"system:{what}", "system", frozenset({ADMIN, APPROVER}))

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    def may(self, action: str) -> bool:
        role = REQUIRED_ROLE.get(action)
        return role is None or role in self.roles

    def __str__(self) -> str:
        return self.id


@dataclass(frozen=True)
class Policy:
    admins: frozenset = field(default_factory=frozenset)      # Slack ids and cli:<login> names
    approvers: frozenset = field(default_factory=frozenset)   # empty: the admins approve

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Policy":
        env = os.environ if env is None else env
        ids = lambda name: frozenset(p.strip() for p in (env.get(name) or "").split(",") if p.strip())  # noqa: E731
        return cls(admins=ids("FTBOT_ADMINS"), approvers=ids("FTBOT_APPROVERS"))

    def slack(self, user: str, channel: str | None = None) -> Actor:
        roles = set()
        if user and user in self.admins:
            roles.add(ADMIN)
        if user and user in (self.approvers or self.admins):
            roles.add(APPROVER)
        return Actor(user or "", "slack", frozenset(roles), channel)

    def cli(self, login: str | None = None) -> Actor:
        who = f"cli:{login or cli_login()}"
        named = {a for a in self.admins if a.startswith("cli:")}
        roles = set()
        if who in named or not named:
            roles.add(ADMIN)
        if who in self.approvers or (not self.approvers and ADMIN in roles):
            roles.add(APPROVER)
        return Actor(who, "cli", frozenset(roles))


def cli_login() -> str:
    """The local account, from the environment's USER (what DESIGN fixes), else the password database."""
    name = (os.environ.get("USER") or "").strip()
    if not name:
        try:
            name = getpass.getuser()
        except Exception:  # noqa: BLE001 — no passwd entry in some containers
            name = "unknown"
    return name


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
    return f"Only {who} may {action.replace('.', ' ')}. Ask one of them to do it or to add you."


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
