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


class EmbeddingError(RagError):
    """The embedding server failed: unreachable, key rejected, rate-limited, odd vectors."""

    exit_code = 5


class CollectionMismatchError(ConfigError):
    """A collection built with another embedding model or chunking than the one configured."""
