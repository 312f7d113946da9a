"""Anthropic's Messages API through the official ``anthropic`` SDK, streamed. Anthropic offers
no embeddings.

The SDK sends through an ``httpx2.Client`` and refuses an ``httpx.Client``, while the product
makes every outbound call through its one guarded ``httpx.Client``. ``GuardedClientTransport``
joins the two: an ``httpx2`` transport that hands each request to the guarded client, so the
SSRF guard, the transaction guard and the outbound policy apply to Anthropic as to everyone.

What the SDK does on the wire for this version (and the tests pin): ``POST /v1/messages``
with the key as ``Authorization: Bearer`` and ``anthropic-version`` set by the SDK, the system
text as the top-level ``system`` field. The API version it sends refuses sampling parameters,
so ``ChatRequest.temperature`` is not sent to Anthropic.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import anthropic
import httpx
import httpx2
from anthropic.types import MessageParam

from hushdesk.agents.providers.base import ChatRequest, ProviderKind, Role
from hushdesk.agents.providers.errors import ProviderContentFiltered, ProviderError
from hushdesk.agents.providers.errors_mapping import ANTHROPIC_FAILURES, map_anthropic_error
from hushdesk.agents.providers.openai_chat import sdk_timeout

ANTHROPIC_BASE_URL = "https://api.anthropic.com"
# The headers httpx has already acted on: the body handed on is decoded, its length changed.
_DECODED_AWAY = frozenset({b"content-encoding", b"content-length", b"transfer-encoding"})

_TRANSPORT_ERRORS: tuple[tuple[type[httpx.TransportError], type[httpx2.TransportError]], ...] = (
    (httpx.ConnectTimeout, httpx2.ConnectTimeout),
    (httpx.ReadTimeout, httpx2.ReadTimeout),
    (httpx.WriteTimeout, httpx2.WriteTimeout),
    (httpx.PoolTimeout, httpx2.PoolTimeout),
    (httpx.TimeoutException, httpx2.TimeoutException),
    (httpx.ConnectError, httpx2.ConnectError),
    (httpx.ReadError, httpx2.ReadError),
    (httpx.RemoteProtocolError, httpx2.RemoteProtocolError),
    (httpx.TransportError, httpx2.TransportError),
)


class GuardedClientTransport(httpx2.BaseTransport):
    """Sends each ``httpx2`` request through ``client`` (an ``httpx.Client`` from
    ``build_http_client``) and streams the answer back.

    Redirects are not followed here: the key travels in a header the redirect would carry to
    the new host. httpx timeouts and transport errors are re-raised as their httpx2 twins, so
    the SDK recognises them; everything else (the guard's ``OutboundBlockedError``) passes
    through unchanged.
    """

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        timeout = request.extensions.get("timeout")
        outbound = self._client.build_request(
            request.method,
            str(request.url),
            headers=request.headers.raw,
            content=request.read(),
            extensions={"timeout": timeout} if timeout is not None else None,
        )
        with _as_httpx2_errors():
            response = self._client.send(outbound, stream=True, follow_redirects=False)
        headers = [(name, value) for name, value in response.headers.raw if name.lower() not in _DECODED_AWAY]
        return httpx2.Response(
            response.status_code, headers=headers, stream=_BodyStream(response), request=request
        )


class _BodyStream(httpx2.SyncByteStream):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx2_errors():
            yield from self._response.iter_bytes()

    def close(self) -> None:
        self._response.close()


@contextmanager
def _as_httpx2_errors() -> Iterator[None]:
    try:
        yield
    except httpx.TransportError as error:
        for theirs, ours in _TRANSPORT_ERRORS:
            if isinstance(error, theirs):
                raise ours(type(error).__name__) from error
        raise


class AnthropicChatProvider:
    """A ``ChatProvider`` over an ``anthropic.Anthropic`` client.

    ``inference_geo`` (``"us"``) asks Anthropic to run inference only in that geography; it is
    sent on every request when set (Anthropic accepts it on its newer models only; older ones
    answer 400, which surfaces as ``ProviderRequestRejected``).
    """

    def __init__(self, *, client: anthropic.Anthropic, inference_geo: str | None = None) -> None:
        self._client = client
        self._inference_geo = inference_geo

    @property
    def kind(self) -> ProviderKind:
        return ProviderKind.ANTHROPIC

    def stream_chat(self, request: ChatRequest) -> Iterator[str]:
        """Yield the reply's text as it streams. Raises a ``ProviderError``; a stop reason of
        ``refusal`` raises ``ProviderContentFiltered`` after the text before it."""
        try:
            stream = self._client.messages.create(
                model=request.model,
                max_tokens=request.max_output_tokens,
                messages=_messages(request),
                stream=True,
                system=request.system or anthropic.omit,
                inference_geo=self._inference_geo or anthropic.omit,
            )
            with stream:
                for event in stream:
                    if event.type == "content_block_delta" and event.delta.type == "text_delta":
                        if event.delta.text:
                            yield event.delta.text
                    elif event.type == "message_delta" and event.delta.stop_reason == "refusal":
                        raise ProviderContentFiltered("Anthropic's model refused to continue the reply.")
        except ProviderError:
            raise
        except ANTHROPIC_FAILURES as exc:
            raise map_anthropic_error(exc) from exc

    def __repr__(self) -> str:
        return f"AnthropicChatProvider(base_url={str(self._client.base_url)!r})"


def build_anthropic_client(
    *, http_client: httpx.Client, api_key: str, timeout_seconds: float, base_url: str = ANTHROPIC_BASE_URL
) -> anthropic.Anthropic:
    """An ``anthropic.Anthropic`` client whose requests all go through ``http_client``, with
    the key and base URL explicit (nothing read from the environment) and no SDK retries."""
    # trust_env=False: no proxy from the environment, which would bypass the guarded client.
    bridge = httpx2.Client(
        transport=GuardedClientTransport(http_client), trust_env=False, follow_redirects=False
    )
    return anthropic.Anthropic(
        api_key=api_key,
        base_url=base_url,
        http_client=bridge,
        max_retries=0,
        timeout=sdk_timeout(timeout_seconds),
    )


def _messages(request: ChatRequest) -> list[MessageParam]:
    messages: list[MessageParam] = []
    for message in request.messages:
        if message.role is Role.USER:
            messages.append({"role": "user", "content": message.content})
        else:
            messages.append({"role": "assistant", "content": message.content})
    return messages
