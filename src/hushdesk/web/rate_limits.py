"""The rate limits the web tier applies, and the one way to enforce them.

Sign-in failures are slowed by ``identity.throttle`` (growing delays kept in the database);
these limits bound how fast anyone can make the server do work or write rows at all.
"""

from __future__ import annotations

from fastapi import Request

from hushdesk.infra.errors import RateLimited
from hushdesk.infra.ratelimit import RateLimiter, RateRule

# Each passkey sign-in's options write a challenge row before anyone is known.
PASSKEY_SIGN_IN_OPTIONS = RateRule("passkey_sign_in_options", "30/minute")
# Every request made with one API key.
API_KEY_REQUESTS = RateRule("api_key_requests", "600/minute")
# Refused requests of one key: each is an audit event, so a key that keeps knocking on doors
# it does not hold is slowed down instead of growing the workspace's chain without bound.
API_KEY_REFUSALS = RateRule("api_key_refusals", "20/minute")


def rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


def enforce(request: Request, rule: RateRule, *identifiers: str) -> None:
    """Count a hit; raises ``RateLimited`` (429 with Retry-After) when over the limit."""
    decision = rate_limiter(request).hit(rule, *identifiers)
    if not decision.allowed:
        raise RateLimited(retry_after=decision.retry_after)
