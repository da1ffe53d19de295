"""Where the status page's token comes from: an environment variable or a file, never argv.

:func:`load_status_token` reads it; :class:`~connectors.status.StatusServer` then decides
whether one is needed (off loopback it is). The token is never logged.

Examples
--------
>>> import os
>>> os.environ["LABELSTREAM_DOCTEST_STATUS_TOKEN"] = "s3cret"
>>> load_status_token(env="LABELSTREAM_DOCTEST_STATUS_TOKEN")
's3cret'
>>> load_status_token(env="LABELSTREAM_DOCTEST_NO_SUCH_VARIABLE")
Traceback (most recent call last):
...
ValueError: no status-page token: the environment variable ... is not set
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DEFAULT_TOKEN_ENV", "load_status_token"]

#: read when neither an environment variable nor a file is named (unset: no token)
DEFAULT_TOKEN_ENV = "LABELSTREAM_STATUS_TOKEN"


def load_status_token(env: str | None = None, file: str | os.PathLike | None = None, *,
                      environ=None) -> str | None:
    """The status page's token from the file ``file`` or the variable ``env``.

    A named variable or file must hold a token (``ValueError`` otherwise; the message
    names where it looked, never the token). With neither, :data:`DEFAULT_TOKEN_ENV` is
    read and may be unset (``None``: no token, fine on loopback). A file's content is
    stripped of surrounding blanks.
    """
    environ = os.environ if environ is None else environ
    if env and file:
        raise ValueError("give the status-page token one way: an environment variable or a "
                         "file, not both")
    if file:
        try:
            token = Path(file).read_text(encoding="utf-8").strip()
        except OSError as err:
            raise ValueError(f"no status-page token: cannot read {file}: "
                             f"{err.strerror or err}") from None
        if not token:
            raise ValueError(f"no status-page token: {file} is empty")
        return token
    if env:
        token = environ.get(env)
        if token is None:
            raise ValueError(f"no status-page token: the environment variable {env} is not "
                             "set")
        if not token.strip():
            raise ValueError(f"no status-page token: the environment variable {env} is empty")
        return token.strip()
    token = (environ.get(DEFAULT_TOKEN_ENV) or "").strip()
    return token or None


def add_token_arguments(group, prefix: str) -> None:
    """``--PREFIX-token-env NAME`` and ``--PREFIX-token-file PATH`` on an argparse group."""
    group.add_argument(f"--{prefix}-token-env", default=None, metavar="NAME",
                       help="environment variable holding the status page's token (default: "
                            f"{DEFAULT_TOKEN_ENV}, if set); with a token, the page and "
                            "/status.json need ?token=... or Authorization: Bearer ...")
    group.add_argument(f"--{prefix}-token-file", default=None, metavar="PATH",
                       help="file holding the status page's token (instead of a variable)")
