"""The AskdocsError hierarchy: every message says what went wrong and what to do about it."""

from __future__ import annotations


class AskdocsError(Exception):
    """Base class for errors a user can act on; the CLI and API show the message as it is."""

    code = "askdocs_error"


class ConfigurationError(AskdocsError):
    """A setting is missing or invalid."""

    code = "configuration_error"


class ModelNotAvailableError(AskdocsError):
    """A model package or file is missing."""

    code = "model_not_available"


class ParseError(AskdocsError):
    """A file could not be turned into text (corrupt, empty, undecodable, scanned)."""

    code = "parse_error"


class UnsupportedFileTypeError(ParseError):
    """The file's type is not one askdocs reads, or its content contradicts its suffix."""

    code = "unsupported_file_type"


class EmbeddingModelMismatchError(AskdocsError):
    """Vectors from two different embedding models would be mixed in one index."""

    code = "embedding_model_mismatch"


class DocumentNotFoundError(AskdocsError):
    """No document has the given id or source."""

    code = "not_found"


class GenerationError(AskdocsError):
    """The generator backend failed or could not be reached."""

    code = "generation_error"


class OverloadedError(AskdocsError):
    """Too many generations are running and waiting; the caller should retry later."""

    code = "overloaded"

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InvalidRequestError(AskdocsError):
    """A request that cannot be served as sent (bad field, wrong state)."""

    code = "invalid_request"


class RateLimitedError(OverloadedError):
    """One caller sent too many requests in a short time."""

    code = "rate_limited"


class TooLongError(InvalidRequestError):
    """A question or message longer than the server takes; the message says what to shorten."""

    code = "too_long"


class QuotaExceededError(AskdocsError):
    """An upload would take a collection or an API key past its storage quota."""

    code = "quota_exceeded"
