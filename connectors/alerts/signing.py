"""Webhook signatures in the style of the Standard Webhooks specification.

Every delivery carries three headers::

    webhook-id: evt_3f2a...                      (the event id; the same on every retry)
    webhook-timestamp: 1700000000                (unix seconds of this attempt)
    webhook-signature: v1,<base64 HMAC-SHA256>   (over f"{id}.{timestamp}.{body}")

The secret is bytes. A secret written ``whsec_<base64>`` (the form Standard Webhooks and its
libraries generate, see :func:`generate_secret`) is base64-decoded after the prefix, as the
spec says; any other string is used as its UTF-8 bytes. The Standard Webhooks libraries
base64-decode a secret even without the prefix, so a receiver using one of them needs the
``whsec_`` form: prefer :func:`generate_secret`, whose secrets work everywhere. Signatures
match the specification's published test vector.

The receiving side checks a delivery with :func:`verify_webhook`: the signature (compared in
constant time), the timestamp (within ``tolerance`` seconds of now, which bounds how long a
captured delivery can be replayed) and, when given a store of seen ids, that the id was not
accepted before (which closes the replay window completely). Keep seen ids at least
``tolerance`` seconds; older deliveries fail the timestamp check anyway.

Examples
--------
A receiver (any web framework: pass the request headers and the raw body bytes):

>>> secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
>>> body = b'{"id":"evt_1","kind":"drift"}'
>>> headers = signature_headers(secret, "evt_1", 1700000000, body)
>>> seen = set()
>>> verify_webhook(secret, headers, body, now=1700000010, seen_ids=seen)["kind"]
'drift'
>>> verify_webhook(secret, headers, body, now=1700000010, seen_ids=seen)
Traceback (most recent call last):
...
connectors.alerts.signing.WebhookVerificationError: replayed delivery: id evt_1 was already accepted
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets as _secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "SECRET_PREFIX", "WebhookVerificationError", "decode_secret", "generate_secret", "sign",
    "signature_headers", "verify_webhook",
]

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE = 300


class WebhookVerificationError(Exception):
    """A delivery failed verification; ``reason`` says why (no secret material in it)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def decode_secret(secret: str | bytes) -> bytes:
    """The HMAC key: ``whsec_<base64>`` decoded, other strings as UTF-8, bytes as given.

    Examples
    --------
    >>> decode_secret("whsec_aGVsbG8=")
    b'hello'
    >>> decode_secret("plain secret")
    b'plain secret'
    """
    if isinstance(secret, (bytes, bytearray)):
        key = bytes(secret)
    elif isinstance(secret, str):
        if secret.startswith(SECRET_PREFIX):
            try:
                key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("a secret starting with 'whsec_' must be base64 after the "
                                 "prefix") from None
        else:
            key = secret.encode("utf-8")
    else:
        raise TypeError("the webhook secret must be str or bytes")
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def generate_secret(n_bytes: int = 32) -> str:
    """A new random secret in the ``whsec_<base64>`` form (give it to both sides)."""
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(n_bytes)).decode("ascii")


def _as_bytes(body: str | bytes) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def sign(secret: str | bytes, msg_id: str, timestamp: int, body: str | bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``.

    Examples
    --------
    >>> sign("whsec_aGVsbG8=", "evt_1", 1700000000, b"{}")
    'v1,...'
    """
    key = decode_secret(secret)
    content = f"{msg_id}.{int(timestamp)}.".encode() + _as_bytes(body)
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_headers(secret: str | bytes | None, msg_id: str, timestamp: int,
                      body: str | bytes) -> dict:
    """The three Standard Webhooks headers (no signature header when ``secret`` is None)."""
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(timestamp))}
    if secret is not None:
        headers["webhook-signature"] = sign(secret, msg_id, timestamp, body)
    return headers


def _lower_headers(headers) -> dict:
    if hasattr(headers, "items"):
        items = headers.items()
    else:
        items = headers
    out = {}
    for key, value in items:
        out.setdefault(str(key).lower(), value)
    return out


def verify_webhook(secret: str | bytes, headers: Mapping | Any, body: str | bytes, *,
                   tolerance: float = DEFAULT_TOLERANCE, now: float | None = None,
                   seen_ids: set | Callable[[str], bool] | None = None) -> Any:
    """Check a delivery and return its JSON payload; raise if it must not be trusted.

    Parameters
    ----------
    secret
        The shared secret, as given to the sender.
    headers
        The request headers: a dict (any key case), an ``email.message.Message`` /
        ``http.client.HTTPMessage``, or ``(name, value)`` pairs.
    body
        The raw request body, exactly as received (bytes, or str decoded as UTF-8).
    tolerance
        Seconds the ``webhook-timestamp`` may be away from ``now`` (either way).
    now
        The current unix time (default ``time.time()``).
    seen_ids
        Replay protection. A set (anything with ``in`` and ``add``): a delivery whose id is
        in it is rejected, an accepted one's id is added. Or a callable ``seen(id) -> bool``
        that returns True when the id was accepted before and records it otherwise (e.g.
        backed by a database). Consulted only after the signature is valid.

    Raises
    ------
    WebhookVerificationError
        Missing headers, a malformed or stale timestamp, no matching signature, a replayed
        id, or a body that is not JSON.
    """
    h = _lower_headers(headers)
    msg_id = h.get("webhook-id")
    timestamp = h.get("webhook-timestamp")
    signatures = h.get("webhook-signature")
    if not msg_id or not timestamp or not signatures:
        raise WebhookVerificationError(
            "missing header: webhook-id, webhook-timestamp and webhook-signature are required")
    try:
        ts = int(str(timestamp).strip())
    except ValueError:
        raise WebhookVerificationError("invalid webhook-timestamp") from None
    now = time.time() if now is None else now
    if ts < now - tolerance:
        raise WebhookVerificationError("timestamp too old: outside the tolerance window")
    if ts > now + tolerance:
        raise WebhookVerificationError("timestamp in the future: outside the tolerance window")
    raw = _as_bytes(body)
    expected = sign(secret, msg_id, ts, raw).encode("ascii")
    matched = False
    for candidate in str(signatures).split():
        if candidate.startswith("v1,") and hmac.compare_digest(candidate.encode("ascii",
                                                                                "replace"),
                                                               expected):
            matched = True
    if not matched:
        raise WebhookVerificationError("no matching signature")
    if seen_ids is not None:
        if callable(seen_ids):
            replayed = bool(seen_ids(msg_id))
        else:
            replayed = msg_id in seen_ids
            if not replayed:
                seen_ids.add(msg_id)
        if replayed:
            raise WebhookVerificationError(
                f"replayed delivery: id {msg_id} was already accepted")
    try:
        return json.loads(raw)
    except ValueError:
        raise WebhookVerificationError("the body is not JSON") from None
