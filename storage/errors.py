"""Storage errors, user-facing sentences (storage does not import engine)."""


class StorageError(Exception):
    """The database could not be read or written; the message says why and what to check."""


class Conflict(StorageError):
    """A unique name is taken or a state change is not allowed."""


class Missing(StorageError):
    """A named row does not exist."""
