"""Alert an HTTP endpoint: POST the event's JSON, signed the Standard Webhooks way.

Each attempt sends the body (the event's JSON, the same bytes on every attempt) with::

    content-type: application/json
    webhook-id: <event id>              (the same on every retry: receivers deduplicate on it)
    webhook-timestamp: <unix seconds of this attempt>
    webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">

(see :mod:`connectors.alerts.signing`; the receiving side checks it with
:func:`~connectors.alerts.signing.verify_webhook`). Connection errors, timeouts, HTTP 5xx and
429 are retried with exponential backoff and jitter; a ``Retry-After`` header (seconds or an
HTTP date) is honoured up to ``max_backoff``. Other statuses (4xx, and redirects, which are
not followed) fail at once: retrying cannot fix them.

The secret comes from ``secret``, an environment variable (``secret_env``) or a file
(``secret_file``), is read once when the hook is built, and never appears in a repr or a
log; neither does the URL's path or query (which often hold tokens): logs show only
``scheme://host:port``.

Only the standard library is used (``urllib.request``), so proxies set in the environment
(``https_proxy``, ``no_proxy``) apply as usual. ``timeout`` bounds each socket operation
(connect, each read), so a server that never answers fails after ``timeout`` seconds.

Examples
--------
>>> hook = WebhookHook("https://alerts.example.com/hooks/T0123/secret-token",
...                    secret="whsec_aGVsbG8=")
>>> hook
WebhookHook('https://alerts.example.com/...', signed=True, timeout=5.0, max_retries=5)
"""

from __future__ import annotations

import email.utils
import http.client
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from connectors.alerts.base import AlertDeliveryError
from connectors.alerts.signing import decode_secret, signature_headers

__all__ = ["WebhookHook", "load_secret"]

log = logging.getLogger(__name__)

USER_AGENT = "labelstream-alerts/0.1"
_MAX_RESPONSE = 64 * 1024


def load_secret(secret: str | bytes | None = None, secret_env: str | None = None,
                secret_file=None) -> bytes | None:
    """The HMAC key from exactly one of: the value, an environment variable, a file.

    The file's content is stripped of surrounding whitespace. The ``whsec_<base64>`` form is
    decoded (see :func:`~connectors.alerts.signing.decode_secret`). Returns ``None`` when no
    source is given. Errors name the variable or file, never the secret.

    Examples
    --------
    >>> import os
    >>> os.environ["LABELSTREAM_DOCTEST_SECRET"] = "whsec_aGVsbG8="
    >>> load_secret(secret_env="LABELSTREAM_DOCTEST_SECRET")
    b'hello'
    >>> load_secret(secret_env="LABELSTREAM_DOCTEST_UNSET")
    Traceback (most recent call last):
    ...
    ValueError: environment variable LABELSTREAM_DOCTEST_UNSET (the webhook secret) ...
    """
    given = [s is not None for s in (secret, secret_env, secret_file)]
    if sum(given) > 1:
        raise ValueError("give the webhook secret one way: secret, secret_env or secret_file")
    if secret is not None:
        return decode_secret(secret)
    if secret_env is not None:
        value = os.environ.get(secret_env, "").strip()
        if not value:
            raise ValueError(f"environment variable {secret_env} (the webhook secret) is not "
                             "set or empty")
        return decode_secret(value)
    if secret_file is not None:
        try:
            value = Path(secret_file).read_bytes().strip()
        except OSError as exc:
            raise ValueError(f"cannot read the webhook secret file {secret_file}: "
                             f"{exc.strerror or exc}") from None
        if not value:
            raise ValueError(f"the webhook secret file {secret_file} is empty")
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            return value
        return decode_secret(text)
    return None


def _redact(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    tail = "/..." if (parts.path not in ("", "/") or parts.query) else ""
    return f"{parts.scheme}://{host}{port}{tail}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError with the 3xx status


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class WebhookHook:
    """POST each event to ``url``, signed, with retries (delivered in the background).

    Parameters
    ----------
    url
        ``http://`` or ``https://`` endpoint.
    secret, secret_env, secret_file
        The signing secret, given directly (library use), by the name of an environment
        variable, or by a file path; at most one. ``whsec_<base64>`` is decoded, any
        other string is used as UTF-8 bytes. Without any, deliveries are unsigned (a
        warning is logged once).
    timeout
        Seconds for each socket operation of an attempt.
    max_retries
        Attempts after the first one.
    backoff
        Delay before the first retry; doubled for each next one.
    max_backoff
        Longest delay between two attempts (also caps ``Retry-After``).
    jitter
        Randomise each delay between half and all of it, so many senders do not retry in
        step.
    seed
        Seed of the jitter.

    Attributes
    ----------
    n_attempts
        HTTP attempts made so far (first tries and retries).
    """

    name = "webhook"
    background = True

    def __init__(self, url: str, *, secret: str | bytes | None = None,
                 secret_env: str | None = None, secret_file=None, timeout: float = 5.0,
                 max_retries: int = 5, backoff: float = 0.5, max_backoff: float = 30.0,
                 jitter: bool = True, seed: int | None = None):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the webhook URL must be http:// or https:// with a host")
        if timeout <= 0 or max_retries < 0 or backoff < 0 or max_backoff < 0:
            raise ValueError("timeout must be > 0; max_retries, backoff and max_backoff >= 0")
        self.url = url
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.jitter = jitter
        self.seed = seed
        self._key = load_secret(secret, secret_env, secret_file)
        if self._key is None:
            log.warning("webhook %s: no secret given; deliveries will not be signed",
                        _redact(url))
        self._opener = urllib.request.build_opener(_NoRedirect())
        self._rng = random.Random(seed)
        self._closing = threading.Event()
        self.n_attempts = 0

    @property
    def signed(self) -> bool:
        return self._key is not None

    def _delay(self, retry: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        delay = min(self.max_backoff, self.backoff * (2 ** retry))
        if self.jitter:
            delay *= 0.5 + 0.5 * self._rng.random()
        return delay

    def _attempt(self, msg_id: str, body: bytes) -> tuple[int, float | None]:
        """One POST; returns (status, Retry-After seconds or None)."""
        headers = signature_headers(self._key, msg_id, int(time.time()), body)
        headers["content-type"] = "application/json"
        headers["user-agent"] = USER_AGENT
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        self.n_attempts += 1
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read(_MAX_RESPONSE)
                return response.status, None
        except urllib.error.HTTPError as exc:
            try:
                retry_after = _retry_after(exc.headers.get("Retry-After") if exc.headers
                                           else None)
                exc.read(_MAX_RESPONSE)
            except (OSError, http.client.HTTPException):
                retry_after = None
            finally:
                exc.close()
            return exc.code, retry_after

    def deliver(self, event) -> None:
        """POST ``event`` until it is accepted (2xx) or retries run out.

        Raises :class:`~connectors.alerts.base.AlertDeliveryError` when it was not
        delivered.
        """
        body = event.to_json().encode("utf-8")
        msg_id = event.id
        where = _redact(self.url)
        last = "not attempted"
        for attempt in range(self.max_retries + 1):
            if self._closing.is_set():
                raise AlertDeliveryError(f"webhook {where}: closed before delivery ({last})")
            retry_after = None
            try:
                status, retry_after = self._attempt(msg_id, body)
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                reason = getattr(exc, "reason", None) or exc
                last = f"{type(exc).__name__}: {reason}"
            else:
                if 200 <= status < 300:
                    if attempt:
                        log.info("webhook %s: %s delivered on attempt %d", where, msg_id,
                                 attempt + 1)
                    return
                last = f"HTTP {status}"
                if status != 429 and status < 500:
                    raise AlertDeliveryError(f"webhook {where}: {msg_id} refused with {last} "
                                             "(not retried)")
            if attempt == self.max_retries:
                break
            delay = self._delay(attempt, retry_after)
            log.info("webhook %s: %s attempt %d failed (%s); retrying in %.2f s", where,
                     msg_id, attempt + 1, last, delay)
            if self._closing.wait(delay):
                raise AlertDeliveryError(f"webhook {where}: closed while retrying ({last})")
        raise AlertDeliveryError(f"webhook {where}: {msg_id} not delivered after "
                                 f"{self.max_retries + 1} attempts ({last})")

    def close(self) -> None:
        """Stop: a delivery waiting to retry gives up at once."""
        self._closing.set()

    def __repr__(self):
        return (f"WebhookHook({_redact(self.url)!r}, signed={self.signed}, "
                f"timeout={self.timeout}, max_retries={self.max_retries})")
