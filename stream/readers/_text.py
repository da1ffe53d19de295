"""Helpers shared by the file readers: opening (gzip by magic bytes), quoted tokens,
strict numbers and 0/1 tokens, and the reader base class.

Nothing here reads more than one line at a time: the readers keep constant memory
whatever the size of the file.
"""

from __future__ import annotations

import gzip
import logging
import math
import os
from collections.abc import Iterator
from typing import TextIO

from stream.errors import MalformedRecordError

__all__ = [
    "BAD_KEPT",
    "StreamReader",
    "bool_token",
    "bool_token_map",
    "is_gzip",
    "open_text",
    "parse_finite",
    "plain_name",
    "read_token",
    "split_quoted",
    "unescape",
]

logger = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"

#: How many skipped records a reader keeps in ``reader.bad`` (and logs one by one).
BAD_KEPT = 100

# Weka's back-quoted characters (weka.core.Utils.unbackQuoteChars); an unknown escape
# is kept as written.
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "%": "%", "t": "\t", "n": "\n", "r": "\r"}

_TRUE = ("1", "1.0", "yes", "true", "y", "t")
_FALSE = ("0", "0.0", "no", "false", "n", "f")


def is_gzip(path: str | os.PathLike) -> bool:
    """Whether the file starts with the gzip magic bytes (whatever its name says).

    Examples
    --------
    >>> import gzip, os, tempfile
    >>> tmp = tempfile.mkdtemp()
    >>> path = os.path.join(tmp, "no-suffix")
    >>> with gzip.open(path, "wt") as f:
    ...     _ = f.write("hello")
    >>> is_gzip(path)
    True
    """
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def open_text(path: str | os.PathLike) -> TextIO:
    """Open a text file for reading line by line, decompressing gzip transparently.

    Gzip is recognised by its magic bytes, not by the ``.gz`` suffix. The text is decoded
    as UTF-8 (a byte-order mark is dropped); bytes that are not UTF-8 become U+FFFD
    rather than stopping the stream.

    Examples
    --------
    >>> import gzip, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt.gz")
    >>> with gzip.open(path, "wt") as f:
    ...     _ = f.write("one\\ntwo\\n")
    >>> with open_text(path) as f:
    ...     [line.strip() for line in f]
    ['one', 'two']
    """
    if is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace")
    return open(path, encoding="utf-8-sig", errors="replace")


def plain_name(path: str | os.PathLike) -> str:
    """The lower-cased file name without a trailing ``.gz``.

    Examples
    --------
    >>> plain_name("data/Scene-meka.ARFF.gz")
    'scene-meka.arff'
    """
    name = os.path.basename(os.fspath(path)).lower()
    return name.removesuffix(".gz")


def unescape(text: str) -> str:
    r"""Undo Weka's backslash escapes (``\'``, ``\"``, ``\\``, ``\t``, ``\n``, ``\r``, ``\%``).

    Examples
    --------
    >>> unescape(r"Swainson\'s Thrush")
    "Swainson's Thrush"
    """
    if "\\" not in text:
        return text
    out = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] in _ESCAPES:
            out.append(_ESCAPES[text[i + 1]])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def read_token(text: str, i: int, stops: str) -> tuple[str, bool, int]:
    """Read one possibly quoted token of ``text`` from position ``i``.

    Leading blanks are skipped. A token in ``'`` or ``"`` quotes is unescaped and may hold
    any character; an unquoted token runs to the next character of ``stops`` (or the end)
    and is stripped.

    Returns
    -------
    (token, quoted, end)
        ``end`` is the position of the stop character (or ``len(text)``).

    Raises
    ------
    ValueError
        For an unterminated quote, or text between a closing quote and the next stop.

    Examples
    --------
    >>> read_token("'a, b' ,c", 0, ",")
    ('a, b', True, 7)
    >>> read_token(" 12 ,c", 0, ",")
    ('12', False, 4)
    """
    n = len(text)
    while i < n and text[i] in " \t":
        i += 1
    if i < n and text[i] in "'\"":
        quote = text[i]
        j = i + 1
        while j < n and text[j] != quote:
            j += 2 if text[j] == "\\" else 1
        if j >= n:
            raise ValueError(f"unterminated quote in {text[i : i + 40]!r}")
        token = unescape(text[i + 1 : j])
        j += 1
        while j < n and text[j] in " \t":
            j += 1
        if j < n and text[j] not in stops:
            raise ValueError(f"unexpected text after the quoted value {text[i : j + 10]!r}")
        return token, True, j
    j = i
    while j < n and text[j] not in stops:
        j += 1
    return text[i:j].strip(), False, j


def split_quoted(text: str, sep: str = ",") -> list[tuple[str, bool]]:
    """Split ``text`` on ``sep`` outside quotes; each item is ``(token, quoted)``.

    Quoted tokens are unescaped, unquoted ones stripped; a quoted ``'?'`` is the text
    ``?``, an unquoted ``?`` the missing value (the caller tells them apart by ``quoted``).

    Examples
    --------
    >>> split_quoted("1, 'it\\\\'s, ok', ?")
    [('1', False), ("it's, ok", True), ('?', False)]
    >>> split_quoted("a,")
    [('a', False), ('', False)]
    """
    out = []
    i, n = 0, len(text)
    while True:
        token, quoted, i = read_token(text, i, sep)
        out.append((token, quoted))
        if i >= n:
            return out
        i += 1


def bool_token(token: str) -> bool | None:
    """``True``/``False`` for a 0/1-style token (``1``, ``0``, ``1.0``, ``yes``, ``no``,
    ``true``, ``false``, ``y``, ``n``, ``t``, ``f``; any case, blanks ignored), else ``None``.

    Examples
    --------
    >>> bool_token(" YES"), bool_token("0.0"), bool_token("maybe")
    (True, False, None)
    """
    low = token.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    return None


def bool_token_map() -> dict[str, bool]:
    """A lookup table from the common spellings of 0/1 tokens to bools, for hot loops
    (``dict.__getitem__`` raises ``KeyError`` on anything else, which sends the record
    to the careful path)."""
    table: dict[str, bool] = {}
    for words, value in ((_TRUE, True), (_FALSE, False)):
        for word in words:
            for form in {word, word.upper(), word.capitalize()}:
                table[form] = value
                table[" " + form] = value
    return table


def parse_finite(token: str) -> float:
    """``float(token)``, refusing NaN and infinities.

    Raises
    ------
    ValueError
        With a reason: not a number, or not finite.

    Examples
    --------
    >>> parse_finite(" 2.5e-1")
    0.25
    >>> parse_finite("nan")
    Traceback (most recent call last):
    ...
    ValueError: 'nan' is not a finite number (NaN and inf are refused; write ? for a missing value)
    """
    try:
        value = float(token)
    except (ValueError, TypeError):
        raise ValueError(f"{token!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(
            f"{token!r} is not a finite number (NaN and inf are refused; "
            "write ? for a missing value)"
        )
    return value


class StreamReader:
    """Base class of the file readers: the public attributes and the bad-record policy.

    A reader parses the file's header when it is created and re-opens the file at each
    ``iter(reader)``: every pass starts from the first record and resets the counts
    (``n_read``, ``n_bad``, ``bad``, ``line``). Do not interleave two passes over the
    same reader object; open two readers instead.

    Attributes
    ----------
    path : str
        The file read.
    format : str
        ``"arff"``, ``"libsvm"``, ``"jsonl"`` or ``"csv"``.
    label_names : list of str or None
        The declared labels in order; ``None`` where the format lists positives only.
    feature_names : list of str or None
        The declared features in order; ``None`` where the format does not declare them.
    sparse : bool
        Whether an absent feature means 0 (sparse ARFF, LIBSVM) rather than missing.
    n_read : int
        Records yielded so far in the current pass.
    n_bad : int
        Malformed records skipped so far (only with ``skip_bad=True``).
    bad : list of MalformedRecordError
        The first 100 records skipped.
    line : int
        The 1-based line number of the record last yielded (0 before the first).

    Examples
    --------
    >>> import os, tempfile
    >>> from stream.readers import open_stream
    >>> path = os.path.join(tempfile.mkdtemp(), "two.jsonl")
    >>> with open(path, "w") as f:
    ...     _ = f.write('{"features": [1], "labels": []}\\n\\n'
    ...                 '{"features": [2], "labels": ["a"]}\\n')
    >>> reader = open_stream(path)
    >>> [y for _, y in reader], reader.n_read, reader.line
    ([{}, {'a': True}], 2, 3)
    >>> len(list(reader))  # a second pass re-opens the file
    2
    """

    format = ""

    def __init__(self, path: str | os.PathLike, *, skip_bad: bool = False):
        self.path = os.fspath(path)
        self.skip_bad = bool(skip_bad)
        self.label_names: list[str] | None = None
        self.feature_names: list[str] | None = None
        self.sparse = False
        self._reset()

    def _reset(self) -> None:
        self.n_read = 0
        self.n_bad = 0
        self.bad: list[MalformedRecordError] = []
        self.line = 0

    def __iter__(self) -> Iterator[tuple[dict, dict]]:
        self._reset()
        f = open_text(self.path)
        try:
            yield from self._records(f)
        finally:
            f.close()
            if self.n_bad:
                logger.warning(
                    "%s: skipped %d malformed record(s) in this pass, read %d",
                    self.path,
                    self.n_bad,
                    self.n_read,
                )

    def _records(self, f: TextIO) -> Iterator[tuple[dict, dict]]:  # pragma: no cover
        raise NotImplementedError

    def _reject(self, lineno: int, reason: str) -> None:
        """Raise the record's error, or (with ``skip_bad``) count, keep and log it."""
        err = MalformedRecordError(self.path, lineno, reason)
        if not self.skip_bad:
            raise err
        self.n_bad += 1
        if len(self.bad) < BAD_KEPT:
            self.bad.append(err)
            logger.warning("skipped malformed record: %s", err)
        elif len(self.bad) == BAD_KEPT and self.n_bad == BAD_KEPT + 1:
            logger.warning(
                "%s: more than %d malformed records; counting the rest without logging each",
                self.path,
                BAD_KEPT,
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"
