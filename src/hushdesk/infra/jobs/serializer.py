"""Queue messages as JSON instead of huey's default pickle.

The queue's tables live in our database (or a file beside it). With pickle, anyone who can
write one row there could run code in every worker; with JSON a forged message can at most
name a task that exists, with an id that the worker then looks up. Our messages carry a work
item id or nothing, so JSON loses nothing. Pipelines, chords and expiry are not supported and
are refused when serialising.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from huey.registry import Message

# Message fields we carry; the rest (pipelines, chords, expiry) must be empty.
_CARRIED = (
    "id",
    "name",
    "eta",
    "retries",
    "retry_delay",
    "retry_backoff",
    "priority",
    "args",
    "kwargs",
    "timeout",
)
_REFUSED = ("on_complete", "on_error", "expires", "expires_resolved", "chord_config")
_SCALARS = (str, int, float, bool, type(None))


class UnsupportedMessageError(ValueError):
    """The message uses a huey feature this queue does not carry, or is not a message."""


class JsonMessageSerializer:
    """Serialises huey task messages to JSON. Duck-types huey's ``Serializer`` (huey only calls
    ``serialize`` and ``deserialize``); results are disabled, so messages are all it sees."""

    def serialize(self, data: object) -> bytes:
        if not isinstance(data, Message):
            raise UnsupportedMessageError("only task messages are carried")
        fields: dict[str, Any] = data._asdict()
        for name in _REFUSED:
            if fields[name] is not None:
                raise UnsupportedMessageError(f"{name} is not supported by this queue")
        document = {name: fields[name] for name in _CARRIED}
        eta = document["eta"]
        document["eta"] = eta.isoformat() if isinstance(eta, dt.datetime) else None
        document["args"] = list(document["args"])
        for value in (*document["args"], *document["kwargs"].values()):
            if not isinstance(value, _SCALARS):
                raise UnsupportedMessageError("task arguments must be JSON scalars")
        return json.dumps(document, separators=(",", ":")).encode()

    def deserialize(self, data: bytes) -> Any:
        document = json.loads(bytes(data))
        if not isinstance(document, dict) or set(document) != set(_CARRIED):
            raise UnsupportedMessageError("not a task message of this queue")
        eta = document["eta"]
        document["eta"] = dt.datetime.fromisoformat(eta) if eta is not None else None
        document["args"] = tuple(document["args"])
        return Message(**document)
