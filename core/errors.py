"""The errors the system raises on purpose. Each carries one clear line for a curator.

Callers (CLI, API, UI) turn these into an exit code, an HTTP status or a message; anything
else that escapes is a bug.
"""


class EditorError(Exception):
    """Base of every error meant to be shown to a user as one line."""

    http_status = 400


class ConfigError(EditorError):
    """A configuration value is invalid."""


class InvalidInput(EditorError):
    """A prompt, target, file or argument is not acceptable; nothing was changed."""

    http_status = 422


class UnknownEdit(EditorError):
    """No edit has the given id."""

    http_status = 404


class StateConflict(EditorError):
    """The action does not fit the edit's state (retiring a retired edit, say); nothing was changed."""

    http_status = 409


class ModelLoadError(EditorError):
    """A model could not be found or loaded."""

    http_status = 500


class DatabaseUnavailable(EditorError):
    """The edit log's database cannot be reached, is read-only, or stayed locked past its timeout; nothing was
    changed by the refused request. Retry later (an add with an Idempotency-Key is safe to retry)."""

    http_status = 503


class StorageFull(EditorError):
    """The edit log's disk or file is full; nothing was changed by the refused request."""

    http_status = 507
