"""Domain errors. Raised deep, turned into user messages only at the edge (Slack reply, CLI exit)."""
from __future__ import annotations


class FtbotError(Exception):
    """Base of every error a user can act on. `str(err)` is a complete, user-facing sentence."""


class ConfigError(FtbotError):
    """A configuration value is wrong. Names the field, the bad value and what is allowed."""

    def __init__(self, field: str, value, allowed: str):
        self.field, self.value, self.allowed = field, value, allowed
        super().__init__(f"{field}={value!r} is not valid: {allowed}")


class DatasetError(FtbotError):
    """A dataset failed validation. Carries one message per problem; nothing was stored."""

    def __init__(self, problems: list[str], source: str = ""):
        self.problems = list(problems)
        self.source = source
        head = f"{source}: " if source else ""
        if len(self.problems) == 1:
            msg = head + self.problems[0]
        else:
            msg = head + f"{len(self.problems)} problems:\n" + "\n".join(f"- {p}" for p in self.problems)
        super().__init__(msg)


class ModelLoadError(FtbotError):
    """The base model could not be resolved or loaded."""


class TrainingError(FtbotError):
    """Training could not start or failed in a way the user can act on."""


class NotFound(FtbotError):
    """A named thing (dataset, run, deployment) does not exist."""
