"""Scripted provider endpoints for the adapters' tests, speaking each API's documented wire format.

A ``Script`` is an ``httpx.MockTransport`` handler: it records every request and answers the
n-th with the n-th reply (the last one repeats). Replies are built fresh for each call from
the builders here: OpenAI Chat Completions chunks as ``data:`` server-sent events ending in
``data: [DONE]``; Azure's variants (prompt filter results, ``content_filter`` finish and
error); the embeddings list; Anthropic's named events (``message_start`` ...
``message_stop``, ``ping``, ``error``) and its ``{"type": "error", ...}`` bodies.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx

from hushdesk.agents.knowledge.passages import Passage
from hushdesk.agents.providers.base import ChatMessage, ChatRequest, Role
from hushdesk.infra.http import OutboundPolicy, build_http_client

# Recognisable values that must never surface in an error message or a repr.
API_KEY = "sk-test-9fQ2vX7LmZ4rT8wK"
SECRET_PROMPT = "my card is 4111 1111 1111 1111, ship to 12 Elm Street"

Reply = Callable[[httpx.Request], httpx.Response]


class Script:
    """A MockTransport handler that answers with ``replies`` in turn, the last one repeating."""

    def __init__(self, *replies: Reply) -> None:
        assert replies, "a script needs at least one reply"
        self._replies = replies
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self._replies[min(len(self.requests), len(self._replies)) - 1]
        return reply(request)

    @property
    def calls(self) -> int:
        return len(self.requests)

    def body(self, index: int = 0) -> Any:
        return json.loads(self.requests[index].content)


def guarded_client(script: Script) -> httpx.Client:
    """The product's outbound client, with ``script`` in place of the network."""
    return build_http_client(OutboundPolicy(), version="test", transport=httpx.MockTransport(script))


def chat_request(
    *,
    system: str = "You are the support assistant of Example Ltd. Answer from the passages.",
    turns: Sequence[tuple[Role, str]] = ((Role.USER, "How do I reset my password?"),),
    model: str = "gpt-4o-mini",
    temperature: float = 0.2,
    max_output_tokens: int = 300,
) -> ChatRequest:
    passage = Passage(
        chunk_id=uuid.UUID(int=1),
        document_id=uuid.UUID(int=2),
        source="help/passwords.md",
        heading="Passwords > Reset",
        text="Open Settings, then Security, then Reset password.",
        score=1.0,
    )
    return ChatRequest(
        system=system,
        messages=tuple(ChatMessage(role=role, content=text) for role, text in turns),
        passages=(passage,),
        model=model,
        temperature=temperature,
        max_output_tokens=max_output_tokens,
    )


def _sse(data: str, event: str | None = None) -> str:
    return (f"event: {event}\n" if event else "") + f"data: {data}\n\n"


def event_stream(body: str, *, headers: dict[str, str] | None = None) -> Reply:
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "text/event-stream", **(headers or {})}, content=body.encode()
        )

    return reply


def json_reply(status: int, body: object, *, headers: dict[str, str] | None = None) -> Reply:
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return reply


def raises(make_error: Callable[[httpx.Request], Exception]) -> Reply:
    def reply(request: httpx.Request) -> httpx.Response:
        raise make_error(request)

    return reply


class _BreakingStream(httpx.SyncByteStream):
    def __init__(self, first: bytes, request: httpx.Request) -> None:
        self._first = first
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        yield self._first
        raise httpx.ReadError("connection reset by peer", request=self._request)


def stream_that_breaks(first: str) -> Reply:
    """A 200 event stream that delivers ``first`` and then loses its connection."""

    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"content-type": "text/event-stream"},
            stream=_BreakingStream(first.encode(), request),
        )

    return reply


# --- OpenAI Chat Completions -------------------------------------------------------------


def openai_chunk(
    *,
    content: str | None = None,
    role: str | None = None,
    finish_reason: str | None = None,
    extra_choice: dict[str, object] | None = None,
) -> dict[str, object]:
    delta: dict[str, object] = {}
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    choice: dict[str, object] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    choice.update(extra_choice or {})
    return {
        "id": "chatcmpl-7QyqpwdfhqwajicIEznoc6Q47XAyW",
        "object": "chat.completion.chunk",
        "created": 1733000000,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_0ba0d124f1",
        "choices": [choice],
    }


def openai_stream_body(*pieces: str, finish_reason: str = "stop") -> str:
    chunks = [openai_chunk(role="assistant", content="")]
    chunks += [openai_chunk(content=piece) for piece in pieces]
    chunks.append(openai_chunk(finish_reason=finish_reason))
    return "".join(_sse(json.dumps(chunk)) for chunk in chunks) + _sse("[DONE]")


def openai_stream(*pieces: str) -> Reply:
    return event_stream(openai_stream_body(*pieces))


def openai_error(*, code: str | None, kind: str | None, message: str) -> dict[str, object]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


# --- Azure OpenAI ------------------------------------------------------------------------

_SAFE_RESULTS = {
    name: {"filtered": False, "severity": "safe"} for name in ("hate", "self_harm", "sexual", "violence")
}


def azure_stream_body(*pieces: str, finish_reason: str = "stop") -> str:
    """Azure's stream: a first chunk with ``prompt_filter_results`` and no choices, then
    choices that carry ``content_filter_results``."""
    prompt_results = {
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _SAFE_RESULTS}],
    }
    chunks: list[dict[str, object]] = [prompt_results, openai_chunk(role="assistant", content="")]
    for piece in pieces:
        chunks.append(openai_chunk(content=piece, extra_choice={"content_filter_results": _SAFE_RESULTS}))
    filtered = finish_reason == "content_filter"
    last_results = {**_SAFE_RESULTS, "violence": {"filtered": True, "severity": "high"}} if filtered else {}
    chunks.append(
        openai_chunk(finish_reason=finish_reason, extra_choice={"content_filter_results": last_results})
    )
    return "".join(_sse(json.dumps(chunk)) for chunk in chunks) + _sse("[DONE]")


def azure_content_filter_error() -> dict[str, object]:
    """The 400 Azure answers when the prompt trips the content filter."""
    return {
        "error": {
            "message": (
                "The response was filtered due to the prompt triggering Azure OpenAI's content "
                f"management policy. Prompt: {SECRET_PROMPT}"
            ),
            "type": None,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": {
                    **_SAFE_RESULTS,
                    "violence": {"filtered": True, "severity": "medium"},
                },
            },
        }
    }


# --- OpenAI embeddings -------------------------------------------------------------------


def embeddings_reply(vectors: Sequence[Sequence[float]], *, order: Sequence[int] | None = None) -> Reply:
    indexes = list(order) if order is not None else list(range(len(vectors)))
    return json_reply(
        200,
        {
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": list(vectors[i])} for i in indexes],
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": 8, "total_tokens": 8},
        },
    )


# --- Anthropic Messages ------------------------------------------------------------------


def anthropic_event(name: str, data: dict[str, object]) -> str:
    return _sse(json.dumps({"type": name, **data}), event=name)


def anthropic_stream_body(*pieces: str, stop_reason: str = "end_turn", tail: str = "") -> str:
    message: dict[str, object] = {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": "claude-sonnet-4-5",
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 25, "output_tokens": 1},
    }
    body = anthropic_event("message_start", {"message": message})
    body += anthropic_event(
        "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}
    )
    body += anthropic_event("ping", {})
    for piece in pieces:
        body += anthropic_event(
            "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}}
        )
    body += tail
    body += anthropic_event("content_block_stop", {"index": 0})
    body += anthropic_event(
        "message_delta",
        {"delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": {"output_tokens": 15}},
    )
    return body + anthropic_event("message_stop", {})


def anthropic_stream(*pieces: str) -> Reply:
    return event_stream(anthropic_stream_body(*pieces))


def anthropic_error(kind: str, message: str = "Overloaded") -> dict[str, object]:
    return {
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
    }


def anthropic_error_event(kind: str, message: str) -> str:
    return anthropic_event("error", {"error": {"type": kind, "message": message}})
