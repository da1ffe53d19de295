"""A compiled parser of a poll's record messages into arrays (the worker's fast path).

:func:`parse_messages` reads the JSON values of a run of messages, concatenated in one
byte buffer, and writes each record's features (name id, value) and positive labels (name
id) into flat arrays, naming every distinct feature name and label once by the span of its
first occurrence. Like the ARFF block parser (:mod:`stream.readers._fastparse`) it is
deliberately narrow: it takes only messages it reads to exactly what
:func:`~connectors.kafka.codec.decode_message` gives, and refuses any other message (status
0), which the worker then decodes with ``decode_message`` (and dead-letters, or learns, as
before). What it takes:

* an object with the keys ``features`` (an object of ``"name": number | null``),
  ``labels`` (a list of strings or integers), optionally ``id`` (a string or an integer,
  or ``null``) and ``unknown: null``, each at most once, JSON whitespace anywhere;
* strings of printable ASCII without a backslash (names, labels, ids), of the lengths the
  limits allow, a feature name at most once in a record;
* JSON numbers whose value is exact in one IEEE operation (at most 19 significant digits
  below ``2**53``, ``|exponent| <= 22``: Clinger's fast path) or, with at most 40 digits
  and a moderate exponent, converted afterwards by the caller with ``float()`` (what the
  standard parser does; the listed *slow* entries).

Refused: list features, ``labels: null`` (an unlabelled record), label deliveries,
``unknown`` lists, escapes, bytes outside ASCII, ``true``/``false``/strings as values,
anything invalid, and a value longer than ``max_bytes``.
"""

from __future__ import annotations

import numpy as np

from stream.kernels.jit import njit

__all__ = ["parse_messages", "first_seen", "FEATURE", "LABEL"]

FEATURE, LABEL = 0, 1

_POW10 = np.array([10.0**k for k in range(23)], dtype=np.float64)  # all exact doubles
_MAX_EXACT = 2**53
_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)


@njit(cache=True, nogil=True)
def _ws(buf, p, N):
    while p < N and (buf[p] == 32 or buf[p] == 9 or buf[p] == 10 or buf[p] == 13):
        p += 1
    return p


@njit(cache=True, nogil=True)
def _string(buf, p, N):
    """From just after an opening quote: the index of the closing quote, or -1 for a
    string the parser does not take (a backslash, a control byte, a byte outside ASCII,
    no closing quote)."""
    while p < N:
        c = buf[p]
        if c == 34:
            return p
        if c == 92 or c < 32 or c >= 127:
            return -1
        p += 1
    return -1


@njit(cache=True, nogil=True)
def _integer(buf, p, N):
    """A JSON integer token without sign from ``p`` (``0`` or ``[1-9][0-9]*``, at most 18
    digits, not followed by ``.``, ``e`` or ``E``): its end, or -1."""
    q = p
    if q < N and buf[q] == 48:
        q += 1
    else:
        while q < N and 48 <= buf[q] <= 57:
            q += 1
        if q == p or buf[p] == 48:
            return -1
    if q - p > 18:
        return -1
    if q < N and (buf[q] == 46 or buf[q] == 101 or buf[q] == 69 or 48 <= buf[q] <= 57):
        return -1
    return q


@njit(cache=True, nogil=True)
def _number(buf, p, N, pow10):
    """A JSON number from ``p``: ``(status, value, end)``; status 0 refused, 1 exact,
    2 slow (finite; the caller converts ``buf[p:end]`` with ``float()``)."""
    neg = False
    if p < N and buf[p] == 45:
        neg = True
        p += 1
    if p >= N:
        return 0, 0.0, p
    mant = 0
    sig = 0  # significant digits (leading zeros left out)
    digits = 0
    exp10 = 0
    if buf[p] == 48:
        p += 1
        digits = 1
    elif 49 <= buf[p] <= 57:
        while p < N and 48 <= buf[p] <= 57:
            d = buf[p] - 48
            if mant != 0 or d != 0:
                sig += 1
                if sig <= 19:
                    mant = mant * 10 + d
            digits += 1
            p += 1
    else:
        return 0, 0.0, p
    is_int = True
    if p < N and buf[p] == 46:
        is_int = False
        p += 1
        q = p
        while p < N and 48 <= buf[p] <= 57:
            d = buf[p] - 48
            if mant != 0 or d != 0:
                sig += 1
                if sig <= 19:
                    mant = mant * 10 + d
            if sig <= 19:
                exp10 -= 1
            digits += 1
            p += 1
        if p == q:
            return 0, 0.0, p
    if sig > 19:  # the digits beyond 19 were not taken: exp10 is not the value's
        exp10 = 0
    if p < N and (buf[p] == 101 or buf[p] == 69):
        is_int = False
        p += 1
        eneg = False
        if p < N and (buf[p] == 43 or buf[p] == 45):
            eneg = buf[p] == 45
            p += 1
        q = p
        e = 0
        while p < N and 48 <= buf[p] <= 57:
            if e < 100000:
                e = e * 10 + (buf[p] - 48)
            p += 1
        if p == q:
            return 0, 0.0, p
        exp10 += -e if eneg else e
    if sig == 0:  # zero: an integer zero is 0.0 (int -0 is 0); a float keeps its sign
        return 1, (-0.0 if neg and not is_int else 0.0), p
    if sig <= 19 and mant < _MAX_EXACT and -22 <= exp10 <= 22:
        v = mant * pow10[exp10] if exp10 >= 0 else mant / pow10[-exp10]
        return 1, (-v if neg else v), p
    if digits <= 40 and -250 <= exp10 <= 250:
        return 2, 0.0, p
    return 0, 0.0, p


@njit(cache=True, nogil=True)
def _null(buf, p, N):
    """Whether ``buf[p:p + 4]`` is ``null``."""
    return p + 4 <= N and buf[p] == 110 and buf[p + 1] == 117 and buf[p + 2] == 108 \
        and buf[p + 3] == 108


@njit(cache=True, nogil=True)
def _after_item(buf, p, N, close):
    """After a list or object item: ``(1, p)`` past a comma (and blanks), ``(0, p)`` past
    the ``close`` byte, ``(-1, p)`` anything else."""
    p = _ws(buf, p, N)
    if p < N and buf[p] == 44:
        return 1, _ws(buf, p + 1, N)
    if p < N and buf[p] == close:
        return 0, p + 1
    return -1, p


@njit(cache=True, nogil=True)
def _name_id(buf, s, e, kind, slots, nstart, nend, nkind, nhash, n_names):
    """The id of name ``buf[s:e]`` of ``kind``, added when new: ``(id, n_names)``."""
    h = _FNV_OFFSET ^ np.uint64(kind)
    for k in range(s, e):
        h = (h ^ np.uint64(buf[k])) * _FNV_PRIME
    mask = np.uint64(slots.shape[0] - 1)
    i = h & mask
    n = e - s
    while True:
        j = slots[i]
        if j < 0:
            break
        if nhash[j] == h and nkind[j] == kind and nend[j] - nstart[j] == n:
            a = nstart[j]
            same = True
            for k in range(n):
                if buf[a + k] != buf[s + k]:
                    same = False
                    break
            if same:
                return j, n_names
        i = (i + np.uint64(1)) & mask
    j = n_names
    slots[i] = j
    nstart[j] = s
    nend[j] = e
    nkind[j] = kind
    nhash[j] = h
    return j, n_names + 1


@njit(cache=True, nogil=True)
def _one(buf, s, N, row, limits, pow10, slots, nstart, nend, nkind, nhash, last, n_names,
         fid, fval, nf, lid, nl, slow, ns, id_span):
    """Parse the message ``buf[s:N]``: ``(ok, n_names, nf, nl, ns)``."""
    max_bytes, max_features, max_labels, max_label_len, max_name_len, max_id = (
        limits[0], limits[1], limits[2], limits[3], limits[4], limits[5])
    if N - s > max_bytes or N == s:
        return False, n_names, nf, nl, ns
    p = _ws(buf, s, N)
    if p >= N or buf[p] != 123:
        return False, n_names, nf, nl, ns
    p += 1
    seen_f = seen_l = seen_id = seen_u = False
    id_span[row, 0] = -1
    id_span[row, 1] = -1
    first = True
    while True:
        p = _ws(buf, p, N)
        if p >= N:
            return False, n_names, nf, nl, ns
        if buf[p] == 125 and first:
            return False, n_names, nf, nl, ns  # {}: no labels
        if not first:
            if buf[p] == 125:
                p += 1
                break
            if buf[p] != 44:
                return False, n_names, nf, nl, ns
            p = _ws(buf, p + 1, N)
        first = False
        if p >= N or buf[p] != 34:
            return False, n_names, nf, nl, ns
        q = _string(buf, p + 1, N)
        if q < 0:
            return False, n_names, nf, nl, ns
        ks, kl = p + 1, q - p - 1
        p = _ws(buf, q + 1, N)
        if p >= N or buf[p] != 58:
            return False, n_names, nf, nl, ns
        p = _ws(buf, p + 1, N)
        if p >= N:
            return False, n_names, nf, nl, ns
        c0 = buf[ks] if kl > 0 else 0
        if kl == 2 and c0 == 105 and buf[ks + 1] == 100:  # id
            if seen_id:
                return False, n_names, nf, nl, ns
            seen_id = True
            if buf[p] == 34:
                q = _string(buf, p + 1, N)
                if q < 0 or q == p + 1 or q - p - 1 > max_id:
                    return False, n_names, nf, nl, ns
                id_span[row, 0] = p + 1
                id_span[row, 1] = q
                p = q + 1
            elif _null(buf, p, N):
                p += 4
            else:
                q = _integer(buf, p, N)
                if q < 0 or q - p > max_id:
                    return False, n_names, nf, nl, ns
                id_span[row, 0] = p
                id_span[row, 1] = q
                p = q
        elif kl == 7 and c0 == 117:  # unknown: only null is taken
            if (seen_u or buf[ks + 1] != 110 or buf[ks + 2] != 107 or buf[ks + 3] != 110
                    or buf[ks + 4] != 111 or buf[ks + 5] != 119 or buf[ks + 6] != 110):
                return False, n_names, nf, nl, ns
            seen_u = True
            if not _null(buf, p, N):
                return False, n_names, nf, nl, ns
            p += 4
        elif kl == 6 and c0 == 108:  # labels
            if (seen_l or buf[ks + 1] != 97 or buf[ks + 2] != 98 or buf[ks + 3] != 101
                    or buf[ks + 4] != 108 or buf[ks + 5] != 115 or buf[p] != 91):
                return False, n_names, nf, nl, ns
            seen_l = True
            p = _ws(buf, p + 1, N)
            count = 0
            if p < N and buf[p] == 93:
                p += 1
            else:
                while True:
                    if p >= N:
                        return False, n_names, nf, nl, ns
                    if buf[p] == 34:
                        q = _string(buf, p + 1, N)
                        if q < 0 or q == p + 1 or q - p - 1 > max_label_len:
                            return False, n_names, nf, nl, ns
                        a, b = p + 1, q
                        p = q + 1
                    else:
                        q = _integer(buf, p, N)
                        if q < 0 or q - p > max_label_len:
                            return False, n_names, nf, nl, ns
                        a, b = p, q
                        p = q
                    count += 1
                    if count > max_labels or nl >= lid.shape[0]:
                        return False, n_names, nf, nl, ns
                    j, n_names = _name_id(buf, a, b, 1, slots, nstart, nend, nkind, nhash,
                                          n_names)
                    if last[j] != row:  # a label named twice counts once
                        last[j] = row
                        lid[nl] = j
                        nl += 1
                    more, p = _after_item(buf, p, N, 93)
                    if more < 0:
                        return False, n_names, nf, nl, ns
                    if more == 0:
                        break
        elif kl == 8 and c0 == 102:  # features
            if (seen_f or buf[ks + 1] != 101 or buf[ks + 2] != 97 or buf[ks + 3] != 116
                    or buf[ks + 4] != 117 or buf[ks + 5] != 114 or buf[ks + 6] != 101
                    or buf[ks + 7] != 115 or buf[p] != 123):
                return False, n_names, nf, nl, ns
            seen_f = True
            p = _ws(buf, p + 1, N)
            count = 0
            if p < N and buf[p] == 125:
                p += 1
            else:
                while True:
                    if p >= N or buf[p] != 34:
                        return False, n_names, nf, nl, ns
                    q = _string(buf, p + 1, N)
                    if q < 0 or q == p + 1 or q - p - 1 > max_name_len:
                        return False, n_names, nf, nl, ns
                    a, b = p + 1, q
                    p = _ws(buf, q + 1, N)
                    if p >= N or buf[p] != 58:
                        return False, n_names, nf, nl, ns
                    p = _ws(buf, p + 1, N)
                    count += 1
                    if count > max_features or p >= N:
                        return False, n_names, nf, nl, ns
                    j, n_names = _name_id(buf, a, b, 0, slots, nstart, nend, nkind, nhash,
                                          n_names)
                    if last[j] == row:  # a name twice: the standard parser keeps the last
                        return False, n_names, nf, nl, ns
                    last[j] = row
                    if buf[p] == 110:  # null: a missing value, no entry
                        if not _null(buf, p, N):
                            return False, n_names, nf, nl, ns
                        p += 4
                    else:
                        status, v, q = _number(buf, p, N, pow10)
                        if status == 0:
                            return False, n_names, nf, nl, ns
                        if status == 2:
                            if ns >= slow.shape[0]:
                                return False, n_names, nf, nl, ns
                            slow[ns, 0] = nf
                            slow[ns, 1] = p
                            slow[ns, 2] = q
                            ns += 1
                        fid[nf] = j
                        fval[nf] = v
                        nf += 1
                        p = q
                    more, p = _after_item(buf, p, N, 125)
                    if more < 0:
                        return False, n_names, nf, nl, ns
                    if more == 0:
                        break
        else:
            return False, n_names, nf, nl, ns
    if _ws(buf, p, N) != N or not seen_f or not seen_l:
        return False, n_names, nf, nl, ns
    return True, n_names, nf, nl, ns


@njit(cache=True, nogil=True)
def _parse_messages(buf, starts, limits, slots, pow10):
    m = starts.shape[0] - 1
    cap = slots.shape[0] // 2
    nstart = np.empty(cap, np.int64)
    nend = np.empty(cap, np.int64)
    nkind = np.empty(cap, np.int64)
    nhash = np.empty(cap, np.uint64)
    last = np.full(cap, -1, np.int64)
    fid = np.empty(cap, np.int64)
    fval = np.empty(cap, np.float64)
    lid = np.empty(cap + 4 * m, np.int64)
    slow = np.empty((cap, 3), np.int64)
    ok = np.zeros(m, np.bool_)
    fptr = np.zeros(m + 1, np.int64)
    lptr = np.zeros(m + 1, np.int64)
    id_span = np.full((m, 2), -1, np.int64)
    n_names = nf = nl = ns = 0
    for i in range(m):
        good, n2, nf2, nl2, ns2 = _one(buf, starts[i], starts[i + 1], i, limits, pow10,
                                       slots, nstart, nend, nkind, nhash, last, n_names,
                                       fid, fval, nf, lid, nl, slow, ns, id_span)
        n_names = n2  # names met in a refused message stay named (unused: harmless)
        if good:
            ok[i] = True
            nf, nl, ns = nf2, nl2, ns2
        else:
            id_span[i, 0] = -1
            id_span[i, 1] = -1
        fptr[i + 1] = nf
        lptr[i + 1] = nl
    return (ok, fptr, fid[:nf], fval[:nf], lptr, lid[:nl], id_span, slow[:ns],
            nstart[:n_names], nend[:n_names], nkind[:n_names])


@njit(cache=True, nogil=True)
def first_seen(ids, n_names):
    """``(columns, order, first)``: ``ids`` renumbered ``0, 1, ...`` in the order they
    first occur, the ids in that order, and the entry where each first occurs.

    Examples
    --------
    >>> import numpy as np
    >>> [a.tolist() for a in first_seen(np.array([7, 3, 7, 5]), 8)]
    [[0, 1, 0, 2], [7, 3, 5], [0, 1, 3]]
    """
    col = np.full(n_names, -1, np.int64)
    out = np.empty(ids.shape[0], np.int64)
    order = np.empty(ids.shape[0], np.int64)
    first = np.empty(ids.shape[0], np.int64)
    k = 0
    for i in range(ids.shape[0]):
        j = ids[i]
        c = col[j]
        if c < 0:
            c = col[j] = k
            order[k] = j
            first[k] = i
            k += 1
        out[i] = c
    return out, order[:k], first[:k]


def parse_messages(buf: bytes, starts: np.ndarray, limits: np.ndarray) -> tuple:
    """Parse the messages ``buf[starts[i]:starts[i + 1]]``.

    Parameters
    ----------
    buf
        The values, concatenated.
    starts
        ``int64``, one more than the messages.
    limits
        ``int64``: ``max_bytes, max_features, max_labels, max_label_length,
        max_feature_name_length, max_id_length``.

    Returns
    -------
    tuple
        ``(ok, fptr, fid, fval, lptr, lid, id_span, slow, name_start, name_end,
        name_kind)``: ``ok[i]`` whether message ``i`` was taken; its features are entries
        ``fptr[i]:fptr[i + 1]`` of ``fid`` (name id) and ``fval`` (value), its positive
        labels entries ``lptr[i]:lptr[i + 1]`` of ``lid`` (first occurrence order, each
        once); ``id_span[i]`` its id's bytes (-1: none); ``slow`` rows ``(entry, start,
        end)`` of values to convert with ``float(buf[start:end])``; name ``j`` is
        ``buf[name_start[j]:name_end[j]]``, a feature (:data:`FEATURE`) or a label.

    Examples
    --------
    >>> import numpy as np
    >>> msgs = [b'{"features":{"a":1.5},"labels":["x"]}', b'{"oops"}']
    >>> buf = b"".join(msgs)
    >>> starts = np.cumsum([0] + [len(v) for v in msgs]).astype(np.int64)
    >>> limits = np.array([10**6, 10**5, 10**4, 1000, 1000, 256], dtype=np.int64)
    >>> out = parse_messages(buf, starts, limits)
    >>> out[0].tolist(), out[3].tolist(), out[5].tolist()
    ([True, False], [1.5], [1])
    """
    array = np.frombuffer(buf, dtype=np.uint8)
    strings = buf.count(b'"') // 2 + 1
    size = 16
    while size < 2 * strings:
        size *= 2
    slots = np.full(size, -1, np.int64)
    return _parse_messages(array, starts, limits, slots, _POW10)


def warm_up() -> None:
    """Compile (or load) the parser with the types the worker calls it with."""
    parse_messages(b'{"features":{"a":1.5,"b":1e400},"labels":["x",2],"id":3}',
                   np.array([0, 56], dtype=np.int64),
                   np.array([10**6, 10**5, 10**4, 1000, 1000, 256], dtype=np.int64))
    first_seen(np.array([1, 0, 1], dtype=np.int64), 2)
