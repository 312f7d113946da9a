from __future__ import annotations

import time
import uuid

from hypothesis import given
from hypothesis import strategies as st

from hushdesk.infra.ids import uuid7, uuid7_timestamp_ms


def test_uuid7_has_version_and_variant() -> None:
    value = uuid7()
    assert value.version == 7
    assert value.variant == uuid.RFC_4122


def test_uuid7_carries_the_current_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    assert before <= uuid7_timestamp_ms(value) <= after + 1


def test_uuid7_is_strictly_increasing_within_a_process() -> None:
    values = [uuid7() for _ in range(20_000)]
    assert values == sorted(values)
    assert len(set(values)) == len(values)


@given(st.integers(min_value=1, max_value=50))
def test_uuid7_parses_back_from_text(count: int) -> None:
    for _ in range(count):
        value = uuid7()
        assert uuid.UUID(str(value)) == value
