"""The errors a model provider may raise, whatever its SDK raised underneath.

``retryable`` says whether sending the same request again may succeed; whether it is *safe* to
retry is the caller's decision (never once part of a reply has been streamed).
"""

from __future__ import annotations


class ProviderError(Exception):
    """A model provider failed. ``public_message`` is safe to show an admin; it never quotes
    the request, the response body or a credential."""

    retryable: bool = False
    public_message: str = "The model provider failed."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.public_message)


class ProviderTimeout(ProviderError):
    retryable = True
    public_message = "The model provider did not answer in time."


class ProviderRateLimited(ProviderError):
    retryable = True
    public_message = "The model provider is rate limiting this account."

    def __init__(self, detail: str | None = None, *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class ProviderAuthFailed(ProviderError):
    public_message = "The model provider refused the credentials."


class ProviderContentFiltered(ProviderError):
    public_message = "The model provider's content filter blocked the reply."


class ProviderUnavailable(ProviderError):
    retryable = True
    public_message = "The model provider is unavailable."


class ProviderRequestRejected(ProviderError):
    public_message = "The model provider rejected the request."
