"""Compiled parser of blocks of dense ARFF rows into arrays (the replay's fast path).

:func:`parse_dense_block` reads the UTF-8 bytes of a block of data lines and writes the
feature values and labels of each row into preallocated arrays. It is deliberately
narrow: it takes only what it can read to exactly the values of the record path
(:class:`~stream.readers.arff.ArffReader` iterated record by record) and gives up on a
block for anything else, so that the caller re-reads that block record by record and
raises (or skips) exactly as the record path does. What it takes:

* numbers ``[+-]digits[.digits][(e|E)[+-]digits]`` (``5.`` and ``.5`` too) whose value is
  exact in one IEEE operation: a decimal mantissa of at most 19 digits below ``2**53``
  and a power of ten ``10**k`` with ``|k| <= 22`` (Clinger's fast path: one correctly
  rounded multiplication or division of two exact doubles, the value Python's
  ``float()`` gives). Other numbers are *slow* tokens: their byte spans are returned for
  the caller to convert with ``float()``;
* labels ``0``, ``1`` and ``?`` (False);
* nominal features whose declared values are plain integers (``{1, 2, 3}``), written in
  canonical form, mapped through a table;
* blanks (space, tab) around values, blank lines and ``%`` comment lines.

Anything else (quotes, braces, ``?`` features, letters, ``NaN``, a wrong number of values,
bytes outside ASCII in a value) makes it return failure.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["NUM", "NOM", "LAB", "SKIP", "parse_dense_block"]

NUM, NOM, LAB, SKIP = 0, 1, 2, 3

_POW10 = np.array([10.0**k for k in range(23)], dtype=np.float64)  # all exact doubles
_MAX_EXACT = 2**53


@njit(cache=True, nogil=True)
def _parse_dense_block(buf, kinds, outcol, nom_lo, nom_n, nom_vals, pow10, V, Y, line_of,
                       slow):
    # returns (rows, n_slow, ok); slow[i] = (row, feature column, start, end)
    N = buf.size
    n_attr = kinds.size
    pos = 0
    line = 0
    row = 0
    n_slow = 0
    while pos < N:
        p = pos
        while p < N and (buf[p] == 32 or buf[p] == 9):
            p += 1
        if p >= N:
            break
        if buf[p] == 10:  # blank line
            pos = p + 1
            line += 1
            continue
        if buf[p] == 37:  # '%': a comment line
            while p < N and buf[p] != 10:
                p += 1
            pos = p + 1
            line += 1
            continue
        if row >= V.shape[0]:
            return row, n_slow, False
        col = 0
        while True:
            while p < N and (buf[p] == 32 or buf[p] == 9):
                p += 1
            if col >= n_attr:
                return row, n_slow, False
            kind = kinds[col]
            if kind == NUM:
                start = p
                neg = False
                if p < N and (buf[p] == 43 or buf[p] == 45):
                    neg = buf[p] == 45
                    p += 1
                mant = 0
                nd = 0
                exp10 = 0
                seen = False
                big = False
                while p < N and 48 <= buf[p] <= 57:
                    d = buf[p] - 48
                    seen = True
                    if mant != 0 or d != 0:
                        if nd < 19:
                            mant = mant * 10 + d
                            nd += 1
                        else:
                            big = True
                    p += 1
                if p < N and buf[p] == 46:  # '.'
                    p += 1
                    while p < N and 48 <= buf[p] <= 57:
                        d = buf[p] - 48
                        seen = True
                        if mant != 0 or d != 0:
                            if nd < 19:
                                mant = mant * 10 + d
                                nd += 1
                            else:
                                big = True
                        if not big:
                            exp10 -= 1
                        p += 1
                if not seen:
                    return row, n_slow, False
                if p < N and (buf[p] == 101 or buf[p] == 69):  # 'e' / 'E'
                    p += 1
                    eneg = False
                    if p < N and (buf[p] == 43 or buf[p] == 45):
                        eneg = buf[p] == 45
                        p += 1
                    e = 0
                    eseen = False
                    while p < N and 48 <= buf[p] <= 57:
                        if e < 100000:
                            e = e * 10 + (buf[p] - 48)
                        eseen = True
                        p += 1
                    if not eseen:
                        return row, n_slow, False
                    exp10 += -e if eneg else e
                end = p
                if mant == 0 and not big:
                    value = -0.0 if neg else 0.0
                elif big or mant > _MAX_EXACT or exp10 > 22 or exp10 < -22:
                    value = 0.0
                    if n_slow >= slow.shape[0]:
                        return row, n_slow, False
                    slow[n_slow, 0] = row
                    slow[n_slow, 1] = outcol[col]
                    slow[n_slow, 2] = start
                    slow[n_slow, 3] = end
                    n_slow += 1
                else:
                    value = float(mant)
                    if exp10 >= 0:
                        value = value * pow10[exp10]
                    else:
                        value = value / pow10[-exp10]
                    if neg:
                        value = -value
                V[row, outcol[col]] = value
            elif kind == LAB:
                if p >= N:
                    return row, n_slow, False
                c = buf[p]
                if c == 49:
                    Y[row, outcol[col]] = True
                elif c == 48 or c == 63:  # '0' or '?'
                    Y[row, outcol[col]] = False
                else:
                    return row, n_slow, False
                p += 1
            elif kind == NOM:
                if p >= N or not (48 <= buf[p] <= 57):
                    return row, n_slow, False
                if buf[p] == 48 and p + 1 < N and 48 <= buf[p + 1] <= 57:
                    return row, n_slow, False  # not canonical ("01"): not a declared value
                v = 0
                while p < N and 48 <= buf[p] <= 57:
                    if v < 1000000:
                        v = v * 10 + (buf[p] - 48)
                    p += 1
                if v >= nom_n[col]:
                    return row, n_slow, False
                value = nom_vals[nom_lo[col] + v]
                if value != value:  # not a declared value
                    return row, n_slow, False
                V[row, outcol[col]] = value
            else:  # a string / date attribute: not a feature, any plain text
                while p < N:
                    c = buf[p]
                    if c == 44 or c == 10:
                        break
                    if c == 39 or c == 34 or c == 123 or c == 125:  # quotes, braces
                        return row, n_slow, False
                    p += 1
            while p < N and (buf[p] == 32 or buf[p] == 9):
                p += 1
            col += 1
            if p < N and buf[p] == 44:  # ','
                p += 1
                continue
            if p >= N or buf[p] == 10:
                break
            return row, n_slow, False
        if col != n_attr:
            return row, n_slow, False
        line_of[row] = line
        row += 1
        line += 1
        pos = p + 1
    return row, n_slow, True


def parse_dense_block(buf, kinds, outcol, nom_lo, nom_n, nom_vals, n_features, n_labels,
                      max_rows):
    """Parse a block of dense ARFF data lines into arrays, or say it cannot.

    Parameters
    ----------
    buf
        ``uint8`` array: the UTF-8 text of whole lines (the last may lack its newline).
    kinds
        Per attribute: ``NUM``, ``NOM``, ``LAB`` or ``SKIP`` (``int64``).
    outcol
        Per attribute: its column in the feature array (``NUM``, ``NOM``) or label array.
    nom_lo, nom_n, nom_vals
        Per attribute, where its nominal table starts in ``nom_vals`` and its length:
        ``nom_vals[nom_lo[i] + v]`` is the float of the declared value ``str(v)`` (NaN
        where ``v`` is not declared).
    n_features, n_labels
        Columns of the outputs.
    max_rows
        At most this many rows (the number of lines of the block will do).

    Returns
    -------
    tuple or None
        ``(V, Y, line_of)``: ``(rows, n_features)`` floats, ``(rows, n_labels)`` bools and
        each row's line, 0-based within the block; ``None`` where the block has anything
        the parser does not take.

    Examples
    --------
    >>> import numpy as np
    >>> kinds = np.array([LAB, NUM, NOM]); outcol = np.array([0, 0, 1])
    >>> lo = np.array([0, 0, 0]); n = np.array([0, 0, 3]); table = np.array([np.nan, 0.0, 1.0])
    >>> V, Y, line_of = parse_dense_block(
    ...     np.frombuffer(b"1,0.25,2\\n% note\\n0, -1e-3 ,1\\n", np.uint8),
    ...     kinds, outcol, lo, n, table, 2, 1, 3)
    >>> V.tolist(), Y.tolist(), line_of.tolist()
    ([[0.25, 1.0], [-0.001, 0.0]], [[True], [False]], [0, 2])
    >>> parse_dense_block(np.frombuffer(b"1,NaN,2\\n", np.uint8),
    ...                   kinds, outcol, lo, n, table, 2, 1, 1) is None
    True
    """
    V = np.empty((max_rows, n_features), dtype=np.float64)
    Y = np.zeros((max_rows, n_labels), dtype=np.bool_)
    line_of = np.empty(max_rows, dtype=np.int64)
    slow = np.empty((max(64, max_rows), 4), dtype=np.int64)
    rows, n_slow, ok = _parse_dense_block(buf, kinds, outcol, nom_lo, nom_n, nom_vals,
                                          _POW10, V, Y, line_of, slow)
    if not ok:
        return None
    V, Y, line_of = V[:rows], Y[:rows], line_of[:rows]
    if n_slow:
        raw = buf.tobytes()
        for r, c, a, b in slow[:n_slow].tolist():
            try:
                value = float(raw[a:b])
            except ValueError:
                return None
            if value != value or value in (np.inf, -np.inf):
                return None
            V[r, c] = value
    return V, Y, line_of


def warm_up() -> None:
    """Compile (or load from numba's cache) the parser, with the argument types of a read.

    Examples
    --------
    >>> warm_up()
    """
    i64 = np.zeros(1, dtype=np.int64)
    parse_dense_block(np.frombuffer(b"1\n", dtype=np.uint8), i64, i64, i64, i64,
                      np.zeros(0), 1, 0, 1)
