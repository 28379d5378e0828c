"""Errors a user can act on: the CLI and web chat show their message, never a traceback."""


class RagError(Exception):
    """Base of every error whose message tells the user what to do."""

    exit_code = 1


class ConfigError(RagError):
    exit_code = 2


class UsageError(RagError):
    exit_code = 2


class StoreError(RagError):
    exit_code = 3


class LlmError(RagError):
    exit_code = 4
