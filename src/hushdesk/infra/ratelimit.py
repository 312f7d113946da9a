"""Rate limits: how many times something may happen per window, per identifier.

Built on the ``limits`` package with its moving-window strategy, so a burst at a window's
edge cannot double the allowance. Counters live in memory (one process, the embedded default)
or in Redis (shared by every web process). A limit answers whether this hit is allowed and,
when it is not, how long until it would be; the caller turns that into a 429 with
``Retry-After``.

When the storage is unreachable the hit is refused (when in doubt, deny): a limit that
silently stops counting is no limit.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.errors import ConfigurationError
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RateRule:
    """A named limit, such as ``RateRule("passkey_challenge", "30/minute")``."""

    name: str
    limit: str

    def item(self) -> RateLimitItem:
        return parse(self.limit)


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    # Whole seconds until the next hit would be allowed (0 when allowed).
    retry_after: int


class RateLimiter:
    """Counts hits per (rule, identifiers). Thread-safe as its storage is."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._strategy = MovingWindowRateLimiter(storage)

    @classmethod
    def from_url(cls, url: str) -> RateLimiter:
        """``memory://`` or ``redis://...`` / ``rediss://...``. Raises ``ValueError`` for any
        other storage."""
        if not url.startswith(("memory://", "redis://", "rediss://")):
            raise ValueError("rate limit storage must be memory://, redis:// or rediss://")
        try:
            storage = storage_from_string(url, socket_timeout=2, socket_connect_timeout=2)
        except ConfigurationError as exc:
            raise ValueError(f"rate limit storage: {exc}") from exc
        if not isinstance(storage, Storage):
            raise ValueError("rate limit storage must be a synchronous one")
        return cls(storage)

    @classmethod
    def in_memory(cls) -> RateLimiter:
        return cls(MemoryStorage())

    def hit(self, rule: RateRule, *identifiers: str) -> RateDecision:
        """Count one hit of ``rule`` for ``identifiers`` and say whether it is allowed. A hit
        that is refused is not counted, so waiting out ``retry_after`` is enough."""
        item = rule.item()
        try:
            if self._strategy.hit(item, rule.name, *identifiers):
                return RateDecision(allowed=True, retry_after=0)
            reset_at = self._strategy.get_window_stats(item, rule.name, *identifiers).reset_time
        except (RedisError, OSError) as exc:
            # The storage is unreachable: refuse, and say why in the log.
            log.error(
                "rate limit storage unavailable; refusing",
                extra={"rule": rule.name, "error": type(exc).__name__},
            )
            return RateDecision(allowed=False, retry_after=1)
        return RateDecision(allowed=False, retry_after=max(1, math.ceil(reset_at - time.time())))

    def clear(self) -> None:
        """Forget every counter (tests, and an operator after a false alarm)."""
        self._storage.reset()
