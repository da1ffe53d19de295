"""Compiled parsers of blocks of ARFF rows into arrays (the replay's fast path).

:func:`parse_dense_block` (``v, v, ...`` rows) and :func:`parse_sparse_block`
(``{index value, ...}`` rows) read the UTF-8 bytes of a block of data lines and write
the feature values and labels of each row into arrays. They are deliberately narrow:
they take only what they can read to exactly the values of the record path
(:class:`~stream.readers.arff.ArffReader` iterated record by record) and give up on a
block for anything else, so that the caller re-reads that block record by record and
raises (or skips) exactly as the record path does. What it takes:

* numbers ``[+-]digits[.digits][(e|E)[+-]digits]`` (``5.`` and ``.5`` too) whose value is
  exact in one IEEE operation: a decimal mantissa of at most 19 digits below ``2**53``
  and a power of ten ``10**k`` with ``|k| <= 22`` (Clinger's fast path: one correctly
  rounded multiplication or division of two exact doubles, the value Python's
  ``float()`` gives). Other numbers (long mantissas, large exponents) are converted
  with ``float()`` itself after the block;
* labels ``0``, ``1`` and ``?`` (False);
* nominal features: an unquoted token spelling one of the declared values byte for byte
  (``YES``, ``2``; not ``'YES'``, nor a value with blanks or quotes inside);
* blanks (space, tab) around values, blank lines and ``%`` comment lines.

* ``?`` in a dense row's feature: missing (NaN in the parsed block, no entry in the batch).

Anything else (quotes, ``?`` in a sparse row's feature, letters, ``NaN``, a wrong
number of values, a sparse index written ``007`` or named twice, bytes outside ASCII in
a value) makes it return failure.
"""

from __future__ import annotations

import numpy as np
from stream.kernels.jit import njit

__all__ = ["NUM", "NOM", "LAB", "SKIP", "parse_dense_block", "parse_sparse_block",
           "parse_libsvm_block", "nominal_tables", "warm_up"]

NUM, NOM, LAB, SKIP = 0, 1, 2, 3

_POW10 = np.array([10.0**k for k in range(23)], dtype=np.float64)  # all exact doubles
_MAX_EXACT = 2**53


@njit(cache=True, nogil=True)
def _number(buf, p, N, pow10):
    """Read a number from ``p``: ``(status, value, end)``, status 0 not one the parser
    takes, 1 exact, 2 slow (the caller converts ``buf[p:end]`` with ``float()``)."""
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
        return 0, 0.0, p
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
            return 0, 0.0, p
        exp10 += -e if eneg else e
    if big:
        return 2, 0.0, p
    value = 0.0
    if mant != 0:
        if mant > _MAX_EXACT or exp10 > 22 or exp10 < -22:
            return 2, 0.0, p
        value = float(mant)
        if exp10 >= 0:
            value = value * pow10[exp10]
        else:
            value = value / pow10[-exp10]
    if neg:
        value = -value
    return 1, value, p


@njit(cache=True, nogil=True)
def _nominal(buf, p, N, lo, n, vstart, vlen, vnum, vtext):
    """Read a token naming one of the declared values ``lo .. lo + n`` of a nominal:
    ``(ok, value, end)``. The token runs to a blank, ``,``, ``}`` or the line's end and
    must be one of the values byte for byte (no quotes or ``{``)."""
    s = p
    while p < N:
        c = buf[p]
        if c == 44 or c == 10 or c == 32 or c == 9 or c == 125:
            break
        if c == 39 or c == 34 or c == 123:  # quotes, '{'
            return False, 0.0, s
        p += 1
    size = p - s
    if size == 0:
        return False, 0.0, p
    for k in range(lo, lo + n):
        if vlen[k] == size:
            a = vstart[k]
            same = True
            for t in range(size):
                if vtext[a + t] != buf[s + t]:
                    same = False
                    break
            if same:
                return True, vnum[k], p
    return False, 0.0, p


@njit(cache=True, nogil=True)
def _label(buf, p, N):
    """Read a label ``0``, ``1`` or ``?`` (False): ``(code, end)``, code -1 for anything else."""
    if p >= N:
        return -1, p
    c = buf[p]
    if c == 49:
        return 1, p + 1
    if c == 48 or c == 63:
        return 0, p + 1
    return -1, p


@njit(cache=True, nogil=True)
def _blanks(buf, p, N):
    while p < N and (buf[p] == 32 or buf[p] == 9):
        p += 1
    return p


@njit(cache=True, nogil=True)
def _parse_dense_block(buf, kinds, outcol, nom_lo, nom_n, vstart, vlen, vnum, vtext, pow10,
                       V, Y, line_of, slow):
    # returns (rows, n_slow, ok); slow[i] = (row, feature column, start, end)
    N = buf.size
    n_attr = kinds.size
    pos = 0
    line = 0
    row = 0
    n_slow = 0
    while pos < N:
        p = _blanks(buf, pos, N)
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
            p = _blanks(buf, p, N)
            if col >= n_attr:
                return row, n_slow, False
            kind = kinds[col]
            if (kind == NUM or kind == NOM) and p < N and buf[p] == 63:  # '?': missing
                V[row, outcol[col]] = np.nan
                p += 1
            elif kind == NUM:
                start = p
                status, value, p = _number(buf, p, N, pow10)
                if status == 0:
                    return row, n_slow, False
                if status == 2:
                    if n_slow >= slow.shape[0]:
                        return row, n_slow, False
                    slow[n_slow, 0] = row
                    slow[n_slow, 1] = outcol[col]
                    slow[n_slow, 2] = start
                    slow[n_slow, 3] = p
                    n_slow += 1
                V[row, outcol[col]] = value
            elif kind == LAB:
                code, p = _label(buf, p, N)
                if code < 0:
                    return row, n_slow, False
                Y[row, outcol[col]] = code == 1
            elif kind == NOM:
                ok, value, p = _nominal(buf, p, N, nom_lo[col], nom_n[col], vstart, vlen, vnum,
                                        vtext)
                if not ok:
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
            p = _blanks(buf, p, N)
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


@njit(cache=True, nogil=True)
def _parse_sparse_block(buf, kinds, outcol, nom_lo, nom_n, vstart, vlen, vnum, vtext, base_y,
                        pow10, Y, line_of, ent_row, ent_col, ent_val, seen, slow):
    # returns (rows, entries, n_slow, ok); slow[i] = (entry, start, end)
    N = buf.size
    n_attr = kinds.size
    pos = 0
    line = 0
    row = 0
    n_ent = 0
    n_slow = 0
    while pos < N:
        p = _blanks(buf, pos, N)
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
        if buf[p] != 123 or row >= Y.shape[0]:  # not '{'
            return row, n_ent, n_slow, False
        for j in range(base_y.size):
            Y[row, j] = base_y[j]
        p = _blanks(buf, p + 1, N)
        if p < N and buf[p] == 125:  # '{}': no entry
            p += 1
        else:
            while True:
                p = _blanks(buf, p, N)
                if p >= N or not (48 <= buf[p] <= 57):
                    return row, n_ent, n_slow, False
                if buf[p] == 48 and p + 1 < N and 48 <= buf[p + 1] <= 57:
                    return row, n_ent, n_slow, False  # "007": left to the record path
                a = 0
                while p < N and 48 <= buf[p] <= 57:
                    if a <= n_attr:
                        a = a * 10 + (buf[p] - 48)
                    p += 1
                if a >= n_attr or seen[a] == row + 1:  # out of range, or named twice
                    return row, n_ent, n_slow, False
                seen[a] = row + 1
                q = _blanks(buf, p, N)
                if q == p:  # the index and its value are separated by blanks
                    return row, n_ent, n_slow, False
                p = q
                kind = kinds[a]
                if kind == LAB:
                    code, p = _label(buf, p, N)
                    if code < 0:
                        return row, n_ent, n_slow, False
                    Y[row, outcol[a]] = code == 1
                elif kind == NUM or kind == NOM:
                    if n_ent >= ent_row.size:
                        return row, n_ent, n_slow, False
                    if kind == NUM:
                        start = p
                        status, value, p = _number(buf, p, N, pow10)
                        if status == 0:
                            return row, n_ent, n_slow, False
                        if status == 2:
                            if n_slow >= slow.shape[0]:
                                return row, n_ent, n_slow, False
                            slow[n_slow, 0] = n_ent
                            slow[n_slow, 1] = start
                            slow[n_slow, 2] = p
                            n_slow += 1
                    else:
                        ok, value, p = _nominal(buf, p, N, nom_lo[a], nom_n[a], vstart, vlen,
                                                vnum, vtext)
                        if not ok:
                            return row, n_ent, n_slow, False
                    ent_row[n_ent] = row
                    ent_col[n_ent] = outcol[a]
                    ent_val[n_ent] = value
                    n_ent += 1
                else:  # a string / date attribute
                    return row, n_ent, n_slow, False
                p = _blanks(buf, p, N)
                if p < N and buf[p] == 44:  # ','
                    p += 1
                    continue
                if p < N and buf[p] == 125:  # '}'
                    p += 1
                    break
                return row, n_ent, n_slow, False
        p = _blanks(buf, p, N)
        if p < N and buf[p] != 10:  # text after the closing brace
            return row, n_ent, n_slow, False
        line_of[row] = line
        row += 1
        line += 1
        pos = p + 1
    return row, n_ent, n_slow, True



@njit(cache=True, nogil=True)
def _digits(buf, p, N):
    """A canonical non-negative integer (no leading zero, at most 18 digits) from ``p``:
    ``(value, end)``, value -1 if there is none."""
    if p >= N or not (48 <= buf[p] <= 57):
        return -1, p
    if buf[p] == 48 and p + 1 < N and 48 <= buf[p + 1] <= 57:
        return -1, p
    v = 0
    nd = 0
    while p < N and 48 <= buf[p] <= 57:
        v = v * 10 + (buf[p] - 48)
        nd += 1
        p += 1
    if nd > 18:
        return -1, p
    return v, p


@njit(cache=True, nogil=True)
def _parse_libsvm_block(buf, max_feature, max_label, pow10, line_of, lab_row, lab_id,
                        ent_row, ent_id, ent_val, slow):
    # returns (rows, labels, entries, n_slow, ok); slow[i] = (entry, start, end)
    N = buf.size
    pos = 0
    line = 0
    row = 0
    n_lab = 0
    n_ent = 0
    n_slow = 0
    while pos < N:
        e = pos
        while e < N and buf[e] != 10:
            e += 1
        c = pos  # the line's content ends at '#' or at the newline
        while c < e and buf[c] != 35:
            c += 1
        if _blanks(buf, pos, c) >= c:  # a blank or comment line
            pos = e + 1
            line += 1
            continue
        if row >= line_of.size:
            return row, n_lab, n_ent, n_slow, False
        q = pos
        if buf[pos] != 32 and buf[pos] != 9:  # a first token without ':' lists labels
            t = pos
            colon = False
            while t < c and buf[t] != 32 and buf[t] != 9:
                if buf[t] == 58:
                    colon = True
                t += 1
            if not colon:
                while True:
                    v, q = _digits(buf, q, t)
                    if v < 0 or (max_label >= 0 and v > max_label) or n_lab >= lab_row.size:
                        return row, n_lab, n_ent, n_slow, False
                    lab_row[n_lab] = row
                    lab_id[n_lab] = v
                    n_lab += 1
                    if q < t and buf[q] == 44:  # ','
                        q += 1
                        continue
                    if q == t:
                        break
                    return row, n_lab, n_ent, n_slow, False
        while True:
            q = _blanks(buf, q, c)
            if q >= c:
                break
            v, q = _digits(buf, q, c)
            if v < 0 or (max_feature >= 0 and v > max_feature):
                return row, n_lab, n_ent, n_slow, False
            if q >= c or buf[q] != 58:  # ':'
                return row, n_lab, n_ent, n_slow, False
            start = q + 1
            status, value, q = _number(buf, start, c, pow10)
            if status == 0 or (q < c and buf[q] != 32 and buf[q] != 9):
                return row, n_lab, n_ent, n_slow, False
            if n_ent >= ent_row.size:
                return row, n_lab, n_ent, n_slow, False
            if status == 2:
                slow[n_slow, 0] = n_ent
                slow[n_slow, 1] = start
                slow[n_slow, 2] = q
                n_slow += 1
            ent_row[n_ent] = row
            ent_id[n_ent] = v
            ent_val[n_ent] = value
            n_ent += 1
        line_of[row] = line
        row += 1
        line += 1
        pos = e + 1
    return row, n_lab, n_ent, n_slow, True


def nominal_tables(tables) -> tuple:
    """The parsers' form of the attributes' nominal tables: ``(nom_lo, nom_n, nominals)``.

    ``tables`` has one entry per attribute: a dict from declared value to its float
    (``?`` is left out: an unquoted ``?`` is always missing) or None. Attribute ``i``'s
    values are entries ``nom_lo[i] .. nom_lo[i] + nom_n[i]`` of ``nominals = (start,
    length, number, text)``: their UTF-8 bytes ``text[start:start + length]`` and floats.

    Examples
    --------
    >>> lo, n, (start, length, number, text) = nominal_tables([None, {"NO": 0.0, "YES": 1.0}])
    >>> lo.tolist(), n.tolist(), length.tolist(), number.tolist(), text.tobytes()
    ([0, 0], [0, 2], [2, 3], [0.0, 1.0], b'NOYES')
    """
    lo, n, start, length, number, text = [], [], [], [], [], bytearray()
    for table in tables:
        lo.append(len(start))
        items = [(k, v) for k, v in (table or {}).items() if k != "?"]
        n.append(len(items))
        for value, num in items:
            raw = value.encode("utf-8")
            start.append(len(text))
            length.append(len(raw))
            number.append(num)
            text += raw

    def i64(v):
        return np.asarray(v, dtype=np.int64)

    return i64(lo), i64(n), (i64(start), i64(length), np.asarray(number, dtype=np.float64),
                             np.frombuffer(bytes(text) or b"\0", dtype=np.uint8))


def parse_dense_block(buf, kinds, outcol, nom_lo, nom_n, nominals, n_features, n_labels,
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
    nom_lo, nom_n, nominals
        The declared values of the nominal attributes (see :func:`nominal_tables`).
    n_features, n_labels
        Columns of the outputs.
    max_rows
        At most this many rows (the number of lines of the block will do).

    Returns
    -------
    tuple or None
        ``(V, Y, line_of)``: ``(rows, n_features)`` floats (NaN for a missing ``?``),
        ``(rows, n_labels)`` bools and each row's line, 0-based within the block;
        ``None`` where the block has anything the parser does not take.

    Examples
    --------
    >>> import numpy as np
    >>> kinds = np.array([LAB, NUM, NOM]); outcol = np.array([0, 0, 1])
    >>> lo, n, nominals = nominal_tables([None, None, {"red": 0.0, "blue": 1.0}])
    >>> V, Y, line_of = parse_dense_block(
    ...     np.frombuffer(b"1,0.25,blue\\n% note\\n0, -1e-3 ,red\\n", np.uint8),
    ...     kinds, outcol, lo, n, nominals, 2, 1, 3)
    >>> V.tolist(), Y.tolist(), line_of.tolist()
    ([[0.25, 1.0], [-0.001, 0.0]], [[True], [False]], [0, 2])
    >>> parse_dense_block(np.frombuffer(b"1,NaN,red\\n", np.uint8),
    ...                   kinds, outcol, lo, n, nominals, 2, 1, 1) is None
    True
    """
    V = np.empty((max_rows, n_features), dtype=np.float64)
    Y = np.zeros((max_rows, n_labels), dtype=np.bool_)
    line_of = np.empty(max_rows, dtype=np.int64)
    slow = np.empty((buf.size // 2 + 1, 4), dtype=np.int64)  # at most one per value
    rows, n_slow, ok = _parse_dense_block(buf, kinds, outcol, nom_lo, nom_n, *nominals,
                                          _POW10, V, Y, line_of, slow)
    if not ok:
        return None
    V, Y, line_of = V[:rows], Y[:rows], line_of[:rows]
    if n_slow:
        slow = slow[:n_slow]
        flat = V.reshape(-1)  # a view: V is a C-contiguous slice
        if not _slow_values(buf, slow[:, 2:], flat, slow[:, 0] * n_features + slow[:, 1]):
            return None
    return V, Y, line_of


def parse_sparse_block(buf, kinds, outcol, nom_lo, nom_n, nominals, base_y, max_rows):
    """Parse a block of sparse ARFF rows (``{index value, ...}``) into arrays, or say it
    cannot.

    Takes rows whose indices are canonical integers naming each attribute at most once,
    with numeric, nominal or 0/1/? label values (see the module notes);
    ``{}`` is a row with no entry. An absent label takes its ``base_y`` value.

    Parameters
    ----------
    buf, kinds, outcol, nom_lo, nom_n, nominals
        As for :func:`parse_dense_block`.
    base_y
        Per label column, its value when the row does not name it (``bool``).
    max_rows
        At most this many rows (the number of lines of the block will do).

    Returns
    -------
    tuple or None
        ``(Y, line_of, ent_row, ent_col, ent_val)``: the rows' labels, each row's line
        (0-based within the block), and the feature entries in the order written (row,
        feature column, value); ``None`` where the block has anything the parser does
        not take.

    Examples
    --------
    >>> import numpy as np
    >>> kinds = np.array([LAB, NUM, NUM]); outcol = np.array([0, 0, 1])
    >>> lo, n, nominals = nominal_tables([None, None, None])
    >>> Y, line_of, rows, cols, vals = parse_sparse_block(
    ...     np.frombuffer(b"{2 0.5, 0 1}\\n{}\\n{1 -2,2 0}\\n", np.uint8),
    ...     kinds, outcol, lo, n, nominals, np.zeros(1, dtype=bool), 3)
    >>> Y.ravel().tolist(), rows.tolist(), cols.tolist(), vals.tolist()
    ([True, False, False], [0, 2, 2], [1, 0, 1], [0.5, -2.0, 0.0])
    """
    Y = np.zeros((max_rows, base_y.size), dtype=np.bool_)
    line_of = np.empty(max_rows, dtype=np.int64)
    cap = buf.size // 4 + 2  # an entry takes at least 4 bytes ("0 1,")
    ent_row = np.empty(cap, dtype=np.int64)
    ent_col = np.empty(cap, dtype=np.int64)
    ent_val = np.empty(cap, dtype=np.float64)
    seen = np.zeros(kinds.size, dtype=np.int64)
    slow = np.empty((cap, 3), dtype=np.int64)
    rows, n_ent, n_slow, ok = _parse_sparse_block(buf, kinds, outcol, nom_lo, nom_n,
                                                  *nominals, base_y, _POW10, Y, line_of,
                                                  ent_row, ent_col, ent_val, seen, slow)
    if not ok:
        return None
    ent_val = ent_val[:n_ent]
    if n_slow and not _slow_values(buf, slow[:n_slow, 1:], ent_val, slow[:n_slow, 0]):
        return None
    return Y[:rows], line_of[:rows], ent_row[:n_ent], ent_col[:n_ent], ent_val


def parse_libsvm_block(buf, max_feature, max_label, max_rows):
    """Parse a block of LIBSVM / XMC lines (``labels index:value ...``) into arrays, or
    say it cannot.

    Takes label ids and feature indices written as canonical integers (at most
    ``max_label`` / ``max_feature`` where these are >= 0: the header's ``L`` and ``D``)
    and numbers as in :func:`parse_dense_block`; ``#`` starts a comment. A line that
    starts with a blank has no labels. Not taken: ``qid:``, ``+1``-style labels, blanks
    other than space and tab, anything malformed.

    Returns
    -------
    tuple or None
        ``(line_of, lab_row, lab_id, ent_row, ent_id, ent_val)``: each row's line (0-based
        within the block), the label ids of each row and its feature entries, in the
        order written; ``None`` where the block has anything the parser does not take.

    Examples
    --------
    >>> import numpy as np
    >>> out = parse_libsvm_block(np.frombuffer(b"3,1 2:0.5 7:1\\n # note\\n 4:2\\n", np.uint8),
    ...                          -1, -1, 3)
    >>> [a.tolist() for a in out]
    [[0, 2], [0, 0], [3, 1], [0, 0, 1], [2, 7, 4], [0.5, 1.0, 2.0]]
    """
    line_of = np.empty(max_rows, dtype=np.int64)
    cap = buf.size // 2 + 1  # an entry or a label takes at least 2 bytes
    lab_row = np.empty(cap, dtype=np.int64)
    lab_id = np.empty(cap, dtype=np.int64)
    cap = buf.size // 4 + 2  # an entry takes at least 4 bytes ("1:2 ")
    ent_row = np.empty(cap, dtype=np.int64)
    ent_id = np.empty(cap, dtype=np.int64)
    ent_val = np.empty(cap, dtype=np.float64)
    slow = np.empty((cap, 3), dtype=np.int64)
    rows, n_lab, n_ent, n_slow, ok = _parse_libsvm_block(
        buf, max_feature, max_label, _POW10, line_of, lab_row, lab_id, ent_row, ent_id,
        ent_val, slow)
    if not ok:
        return None
    ent_val = ent_val[:n_ent]
    if n_slow and not _slow_values(buf, slow[:n_slow, 1:], ent_val, slow[:n_slow, 0]):
        return None
    return (line_of[:rows], lab_row[:n_lab], lab_id[:n_lab], ent_row[:n_ent],
            ent_id[:n_ent], ent_val)


def _slow_values(buf, spans, out, where) -> bool:
    """``float()`` of each byte span into ``out[where]``; False if one is not finite."""
    raw = buf.tobytes()
    for (a, b), i in zip(spans.tolist(), where.tolist()):
        value = float(raw[a:b])
        if value != value or value in (np.inf, -np.inf):
            return False
        out[i] = value
    return True


def warm_up(sparse: bool = False, libsvm: bool = False) -> None:
    """Compile (or load from numba's cache) the dense, sparse or LIBSVM parser, with the
    argument types of a read.

    Examples
    --------
    >>> warm_up(sparse=True)
    """
    i64 = np.zeros(1, dtype=np.int64)
    lo, n, nominals = nominal_tables([None])
    if libsvm:
        parse_libsvm_block(np.frombuffer(b"1 1:1\n", dtype=np.uint8), -1, -1, 1)
    elif sparse:
        parse_sparse_block(np.frombuffer(b"{0 1}\n", dtype=np.uint8), i64, i64, lo, n,
                           nominals, np.zeros(0, dtype=np.bool_), 1)
    else:
        parse_dense_block(np.frombuffer(b"1\n", dtype=np.uint8), i64, i64, lo, n, nominals,
                          1, 0, 1)
