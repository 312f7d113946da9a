"""Our retry policy: retryable failures are retried before the first piece of text and never
after it, never for refusals, with Retry-After honoured up to a cap, and no real sleeping."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from hushdesk.agents.providers.base import ChatProvider
from hushdesk.agents.providers.errors import (
    ProviderAuthFailed,
    ProviderContentFiltered,
    ProviderError,
    ProviderRateLimited,
    ProviderRequestRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from hushdesk.agents.providers.registry import ProviderSettings, build_chat_provider, check_provider_settings
from hushdesk.agents.providers.retries import RetryPolicy, call_with_retries, stream_with_retries
from tests.agents.providers.wire import (
    API_KEY,
    Reply,
    Script,
    anthropic_error,
    anthropic_stream,
    anthropic_stream_body,
    azure_content_filter_error,
    chat_request,
    guarded_client,
    json_reply,
    openai_chunk,
    openai_error,
    openai_stream,
    raises,
    stream_that_breaks,
)

OPENAI = check_provider_settings(kind="openai", model="gpt-4o-mini", data_region="us")
AZURE = check_provider_settings(
    kind="azure-openai",
    model="support-gpt4o",
    base_url="https://contoso-support.openai.azure.com",
    api_version="2024-10-21",
    data_region="eu",
)
ANTHROPIC = check_provider_settings(kind="anthropic", model="claude-sonnet-4-5", data_region="us")


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def provider(settings: ProviderSettings, script: Script, sleeps: Sleeps) -> ChatProvider:
    return build_chat_provider(settings, api_key=API_KEY, http_client=guarded_client(script), sleep=sleeps)


def rate_limited_openai(retry_after: str) -> Reply:
    body = openai_error(code="rate_limit_exceeded", kind="requests", message="Rate limit reached")
    return json_reply(429, body, headers={"retry-after": retry_after})


def timeout(request: httpx.Request) -> Exception:
    return httpx.ReadTimeout("timed out", request=request)


def test_a_rate_limit_is_retried_after_the_retry_after_it_asked_for() -> None:
    script, sleeps = Script(rate_limited_openai("2"), openai_stream("Hello")), Sleeps()
    assert list(provider(OPENAI, script, sleeps).stream_chat(chat_request())) == ["Hello"]
    assert script.calls == 2
    assert sleeps == [2.0]


def test_a_503_is_retried_with_a_jittered_backoff() -> None:
    unavailable = json_reply(503, openai_error(code=None, kind="server_error", message="try later"))
    script, sleeps = Script(unavailable, openai_stream("Hello")), Sleeps()
    assert list(provider(AZURE, script, sleeps).stream_chat(chat_request())) == ["Hello"]
    assert script.calls == 2
    assert len(sleeps) == 1
    assert 0.25 <= sleeps[0] < 0.5


def test_an_overloaded_anthropic_529_is_retried() -> None:
    overloaded = json_reply(529, anthropic_error("overloaded_error", "Overloaded"))
    script, sleeps = Script(overloaded, anthropic_stream("Hello")), Sleeps()
    assert list(provider(ANTHROPIC, script, sleeps).stream_chat(chat_request())) == ["Hello"]
    assert script.calls == 2
    assert len(sleeps) == 1


def test_an_anthropic_rate_limit_honours_retry_after() -> None:
    limited = json_reply(429, anthropic_error("rate_limit_error", "slow down"), headers={"retry-after": "4"})
    script, sleeps = Script(limited, anthropic_stream("Hi")), Sleeps()
    assert list(provider(ANTHROPIC, script, sleeps).stream_chat(chat_request())) == ["Hi"]
    assert sleeps == [4.0]


@pytest.mark.parametrize("settings", [OPENAI, ANTHROPIC], ids=["openai", "anthropic"])
def test_a_timeout_before_any_text_is_retried(settings: ProviderSettings) -> None:
    answer = openai_stream("Hi") if settings is OPENAI else anthropic_stream("Hi")
    script, sleeps = Script(raises(timeout), answer), Sleeps()
    assert list(provider(settings, script, sleeps).stream_chat(chat_request())) == ["Hi"]
    assert script.calls == 2


def test_retries_stop_after_the_limit_and_the_last_error_propagates() -> None:
    unavailable = json_reply(503, openai_error(code=None, kind="server_error", message="down"))
    script, sleeps = Script(unavailable), Sleeps()
    with pytest.raises(ProviderUnavailable):
        list(provider(OPENAI, script, sleeps).stream_chat(chat_request()))
    assert script.calls == 3  # the first attempt and the default policy's two retries
    assert len(sleeps) == 2
    assert sleeps[1] >= sleeps[0] * 2 * 0.5  # the backoff grows (jitter keeps it within 2x)


def test_a_retry_after_beyond_the_cap_is_not_waited_for() -> None:
    script, sleeps = Script(rate_limited_openai("120")), Sleeps()
    with pytest.raises(ProviderRateLimited) as caught:
        list(provider(OPENAI, script, sleeps).stream_chat(chat_request()))
    assert script.calls == 1
    assert sleeps == []
    assert caught.value.retry_after == 120.0


def test_an_openai_stream_that_breaks_after_text_is_not_restarted() -> None:
    first = "data: " + json.dumps(openai_chunk(content="Open Settings")) + "\n\n"
    script, sleeps = Script(stream_that_breaks(first), openai_stream("a second reply")), Sleeps()
    received: list[str] = []
    with pytest.raises(ProviderUnavailable):
        for piece in provider(OPENAI, script, sleeps).stream_chat(chat_request()):
            received.append(piece)
    assert received == ["Open Settings"]
    assert script.calls == 1
    assert sleeps == []


def test_an_anthropic_stream_that_breaks_after_text_is_not_restarted() -> None:
    body = anthropic_stream_body("Open Settings")
    first = body[: body.index("event: content_block_stop")]
    script, sleeps = Script(stream_that_breaks(first), anthropic_stream("a second reply")), Sleeps()
    received: list[str] = []
    with pytest.raises(ProviderUnavailable):
        for piece in provider(ANTHROPIC, script, sleeps).stream_chat(chat_request()):
            received.append(piece)
    assert received == ["Open Settings"]
    assert script.calls == 1
    assert sleeps == []


@pytest.mark.parametrize(
    ("settings", "reply", "expected"),
    [
        (
            OPENAI,
            json_reply(401, openai_error(code="invalid_api_key", kind="x", message="no")),
            ProviderAuthFailed,
        ),
        (OPENAI, json_reply(400, openai_error(code=None, kind="x", message="bad")), ProviderRequestRejected),
        (AZURE, json_reply(400, azure_content_filter_error()), ProviderContentFiltered),
        (ANTHROPIC, json_reply(401, anthropic_error("authentication_error", "no")), ProviderAuthFailed),
        (
            ANTHROPIC,
            json_reply(400, anthropic_error("invalid_request_error", "bad")),
            ProviderRequestRejected,
        ),
    ],
    ids=["openai-401", "openai-400", "azure-content-filter", "anthropic-401", "anthropic-400"],
)
def test_refusals_are_never_retried(
    settings: ProviderSettings, reply: Reply, expected: type[ProviderError]
) -> None:
    script, sleeps = Script(reply, openai_stream("never"), anthropic_stream("never")), Sleeps()
    with pytest.raises(expected):
        list(provider(settings, script, sleeps).stream_chat(chat_request()))
    assert script.calls == 1
    assert sleeps == []


def test_the_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(max_retries=10, base_delay=1.0, max_delay=5.0)
    error = ProviderUnavailable()
    lowest = [policy.delay_before_retry(error, retry, lambda: 0.0) for retry in range(5)]
    highest = [policy.delay_before_retry(error, retry, lambda: 0.999999) for retry in range(5)]
    assert lowest == [0.5, 1.0, 2.0, 2.5, 2.5]
    assert highest == pytest.approx([1.0, 2.0, 4.0, 5.0, 5.0], rel=1e-5)


def test_the_policy_refuses_what_it_must_not_retry() -> None:
    policy = RetryPolicy(max_retries=2)
    assert policy.delay_before_retry(ProviderAuthFailed(), 0, lambda: 0.5) is None
    assert policy.delay_before_retry(ProviderTimeout(), 2, lambda: 0.5) is None
    assert policy.delay_before_retry(ProviderRateLimited(retry_after=21), 0, lambda: 0.5) is None
    assert policy.delay_before_retry(ProviderRateLimited(retry_after=20), 0, lambda: 0.5) == 20


@pytest.mark.parametrize("field", ["max_retries", "base_delay", "max_delay", "max_retry_after"])
def test_a_negative_policy_value_is_refused(field: str) -> None:
    with pytest.raises(ValueError, match="negative"):
        RetryPolicy(**{field: -1})


def test_empty_pieces_do_not_count_as_text_that_was_sent() -> None:
    attempts: list[int] = []

    def attempt() -> Iterator[str]:
        attempts.append(1)
        if len(attempts) == 1:
            yield ""
            raise ProviderTimeout()
        yield "done"

    pieces = list(
        stream_with_retries(attempt, policy=RetryPolicy(), sleep=lambda _: None, jitter=lambda: 0.0)
    )
    assert pieces == ["done"]
    assert len(attempts) == 2


def test_a_reader_that_stops_early_closes_the_attempt() -> None:
    closed: list[bool] = []

    def attempt() -> Iterator[str]:
        try:
            yield "first"
            yield "second"
        finally:
            closed.append(True)

    stream = stream_with_retries(attempt, policy=RetryPolicy(), sleep=lambda _: None)
    assert next(stream) == "first"
    stream.close()
    assert closed == [True]


def test_call_with_retries_returns_the_first_success() -> None:
    outcomes: list[ProviderError | str] = [ProviderUnavailable(), ProviderTimeout(), "vectors"]
    sleeps = Sleeps()

    def call() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, ProviderError):
            raise outcome
        return outcome

    assert call_with_retries(call, policy=RetryPolicy(), sleep=sleeps, jitter=lambda: 0.0) == "vectors"
    assert sleeps == [0.25, 0.5]
