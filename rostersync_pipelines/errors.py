"""One exception type per failure a user can fix.

Each carries enough context (file, row, key) for a one-line message, so the CLI can print it without a
traceback; anything else is a programming error and keeps its traceback.
"""


class RosterSyncError(Exception):
    """Base class: a problem the person running the sync can fix."""


class ConfigError(RosterSyncError):
    """The config file is refused: names the file, the key path and the fix."""


class SourceError(RosterSyncError):
    """A source cannot be read, or a mapped column is missing from it."""


class TargetError(RosterSyncError):
    """The LMS refused an operation (unique login/email, a department that still has users, ...)."""


class TransientTargetError(TargetError):
    """The LMS did not answer usefully after every retry (throttled, down, timed out): try again later."""
