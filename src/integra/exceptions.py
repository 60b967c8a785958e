"""One small exceptions module, so callers can tell *what kind* of failure happened.

The distinction that matters is whether a campaign may exist: retrying a failure that created
nothing is safe; retrying one whose outcome is unknown can phone people twice.
"""

from __future__ import annotations


class IntegraError(Exception):
    """Base class for every error this package raises on purpose."""


class IntegraConfigError(IntegraError):
    """A connection, token or campaign definition is wrong; fixing it needs a person."""


class IntegraAPIError(IntegraError):
    """The API answered with an error that created nothing (4xx, or 429 after retries)."""

    def __init__(self, status_code: int, message: str, *, field: str | None = None) -> None:
        self.status_code = status_code
        self.api_message = message
        self.field = field
        where = f" (field {field})" if field else ""
        super().__init__(f"Integra API answered {status_code}{where}: {message}")


class IntegraAuthError(IntegraAPIError):
    """401/403: the token is wrong or has no access to the project."""


class IntegraNotFoundError(IntegraAPIError):
    """404: unknown project, agent or phone number id."""


class IntegraValidationError(IntegraAPIError):
    """400/422: the request broke the contract; nothing was created."""


class IntegraRateLimitError(IntegraAPIError):
    """429 still answered after the hook's own patient retries; nothing was created."""


class IntegraUnavailableError(IntegraError):
    """The API could not be reached at all (connection refused, DNS); nothing was sent."""


class IntegraOutcomeUnknownError(IntegraError):
    """The POST may have created the campaign: timeout after sending, cut connection or 5xx.

    Never retried automatically: a person has to look in the Integra panel first.
    """

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message)


class CampaignDefinitionError(IntegraConfigError):
    """A campaign definition file is invalid; the message names the file, the field and the fix."""
