"""What a business pastes into its site: the embed snippet, and how its server signs the
optional identity token.

The snippet names the agent by its publishable widget key (public by design) and loads the
loader from this installation's base URL. The identity token is made on the business's server
with the agent's identity secret, which never reaches a browser; ``IDENTITY_SIGNING_EXAMPLE``
shows how with nothing but Python's standard library, and the tests run it against
``hushdesk.channels.widget.identity.verify_identity_token``.
"""

from __future__ import annotations

from html import escape

LOADER_PATH = "/static/widget/loader.js"
# The indent that lines the second line's attribute up under the first's, as documented.
_CONTINUATION = " " * 8

IDENTITY_SIGNING_EXAMPLE = '''\
import base64
import hashlib
import hmac
import json
import time


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def hushdesk_user_token(user_id: str, secret: str, lifetime_seconds: int = 600) -> str:
    """An HS256 JWT saying who the signed-in user is. ``secret`` is the agent's identity
    secret (hd_is_...), read from your server's configuration: never send it to a browser.
    Hushdesk refuses a token that lives longer than one hour."""
    now = int(time.time())
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode("utf-8"))
    claims = {"sub": user_id, "iat": now, "exp": now + min(lifetime_seconds, 3600)}
    payload = _b64url(json.dumps(claims).encode("utf-8"))
    signing_input = f"{header}.{payload}"
    mac = hmac.new(secret.encode("utf-8"), signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(mac)}"
'''


def embed_snippet(*, base_url: str, widget_key: str) -> str:
    """The two-line ``<script>`` tag that embeds the agent's widget, without a trailing line
    break. A trailing ``/`` of ``base_url`` is dropped; both attribute values are HTML-escaped
    (quotes included), so no value can end its attribute or the tag, whatever it holds."""
    return _script_tag(base_url=base_url, attributes=(("data-hushdesk-agent", widget_key),))


def identified_embed_snippet(*, base_url: str, widget_key: str, user_token: str) -> str:
    """The snippet with the optional third line, ``data-hushdesk-user``, carrying the token the
    business's server signed for the signed-in user (``user_token`` is escaped like the rest;
    pages show a placeholder where a template of the business's would put the token)."""
    return _script_tag(
        base_url=base_url,
        attributes=(("data-hushdesk-agent", widget_key), ("data-hushdesk-user", user_token)),
    )


def _script_tag(*, base_url: str, attributes: tuple[tuple[str, str], ...]) -> str:
    source = escape(base_url.rstrip("/") + LOADER_PATH, quote=True)
    lines = [f'<script src="{source}" defer']
    lines.extend(f'{_CONTINUATION}{name}="{escape(value, quote=True)}"' for name, value in attributes)
    return "\n".join(lines) + "></script>"
