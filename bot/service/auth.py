"""Who may do what: admins register data, train, cancel, deploy; everyone may list, check status and ask."""
from __future__ import annotations

from engine.errors import FtbotError

ADMIN_ACTIONS = frozenset({"dataset.add", "train", "cancel", "deploy", "schedule", "eval"})


class PermissionDenied(FtbotError):
    pass


def is_admin(admins: frozenset[str] | set[str] | None, user: str) -> bool:
    # No admins configured (local CLI use) means everyone is trusted: the CLI user owns the machine.
    return not admins or user in admins


def require_admin(admins, user: str, action: str) -> None:
    if not is_admin(admins, user):
        raise PermissionDenied(f"only ftbot admins may {action.replace('.', ' ')}; ask an admin "
                               "(listed in FTBOT_ADMINS) to do it or to add you")
