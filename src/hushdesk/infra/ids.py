"""Time-ordered row ids (UUIDv7, RFC 9562), made by the application before insert.

Ids are known before a row is written, so a ciphertext can be bound to its row id by
associated data; they sort by creation time, which keeps B-tree inserts local.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_last_rand_a = 0


def uuid7() -> uuid.UUID:
    """A new UUIDv7: 48-bit Unix milliseconds, 12-bit sequence (rand_a), 62 random bits.

    Within one process ids are strictly increasing: when two fall in the same millisecond,
    rand_a counts up (RFC 9562 section 6.2, method 1); when it overflows, the timestamp is
    advanced by one millisecond rather than going backwards.
    """
    global _last_ms, _last_rand_a
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            _last_ms = now_ms
            _last_rand_a = int.from_bytes(os.urandom(2), "big") & 0x7FF
        else:
            _last_rand_a += 1
            if _last_rand_a > 0xFFF:
                _last_ms += 1
                _last_rand_a = 0
        ms, rand_a = _last_ms, _last_rand_a
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= rand_a << 64
    value |= 0b10 << 62
    value |= rand_b
    return uuid.UUID(int=value)


def uuid7_timestamp_ms(value: uuid.UUID) -> int:
    """The Unix-millisecond timestamp inside a UUIDv7."""
    if value.version != 7:
        raise ValueError("not a UUIDv7")
    return value.int >> 80
