"""A poll's record messages parsed straight into batch arrays (the worker's fast path).

:class:`ParsedPoll` runs the compiled parser (:mod:`connectors.kafka.message_kernels`) over
the values of a poll's messages once. Each message it takes becomes a
:class:`ParsedRecord`; the worker decodes the others with
:func:`~connectors.kafka.codec.decode_message` as before. :meth:`ParsedPoll.batch` gives,
for any of its records, the :class:`~stream.batch.Batch` that
``to_batch([(x, full_labels(y)) ...], sparse=True)`` gives for their decoded messages
(columns in first-seen order, declared labels first, ``named_at``), without a dict per
record; :attr:`ParsedRecord.x` and :attr:`ParsedRecord.y` build the dicts when asked.

Examples
--------
>>> poll = ParsedPoll([b'{"id":"r1","features":{"a":1.5,"b":2},"labels":["sky"]}',
...                    b'{"features":{"b":0.5},"labels":[]}', b'{oops'], {})
>>> [type(r).__name__ for r in poll.records]
['ParsedRecord', 'ParsedRecord', 'NoneType']
>>> r = poll.records[0]
>>> r.id, r.x, r.y
('r1', {'a': 1.5, 'b': 2.0}, {'sky': True})
>>> b = poll.batch([0, 1], declared=["sea"])
>>> b.X.toarray().tolist(), list(b.feature_names), list(b.label_names), b.Y.tolist()
([[1.5, 2.0], [0.0, 0.5]], ['a', 'b'], ['sea', 'sky'], [[False, True], [False, False]])
"""

from __future__ import annotations

import numpy as np

from connectors.kafka.message_kernels import FEATURE, first_seen, parse_messages
from stream.batch import Batch

__all__ = ["ParsedPoll", "ParsedRecord"]

_DEFAULT_LIMITS = {"max_bytes": 1_000_000, "max_features": 100_000, "max_labels": 10_000,
                   "max_label_length": 1_000, "max_feature_name_length": 1_000,
                   "max_id_length": 256}


class ParsedRecord:
    """A labelled record message the compiled parser took (row ``row`` of ``poll``)."""

    __slots__ = ("poll", "row", "id")

    def __init__(self, poll: "ParsedPoll", row: int, record_id):
        self.poll = poll
        self.row = row
        self.id = record_id

    @property
    def x(self) -> dict:
        """The features, as :func:`~connectors.kafka.codec.decode_message` gives them."""
        p = self.poll
        a, b = p.fptr[self.row], p.fptr[self.row + 1]
        names = p.names
        return {names[j]: v for j, v in zip(p.fid[a:b].tolist(), p.fval[a:b].tolist())}

    @property
    def y(self) -> dict:
        """The positive labels ``{label: True}`` (each once, in first-named order)."""
        p = self.poll
        a, b = p.lptr[self.row], p.lptr[self.row + 1]
        return dict.fromkeys((p.names[j] for j in p.lid[a:b].tolist()), True)

    def label_names(self) -> list:
        p = self.poll
        return [p.names[j] for j in p.lid[p.lptr[self.row]:p.lptr[self.row + 1]].tolist()]


class ParsedPoll:
    """The compiled parse of a poll's message values.

    Parameters
    ----------
    values
        The message values (bytes, or ``None`` for a tombstone: never taken).
    limits
        The decoding limits (``max_bytes``, ``max_features``, ``max_labels``,
        ``max_label_length``, ``max_feature_name_length``, ``max_id_length``), as
        :func:`~connectors.kafka.codec.decode_message` takes them.

    Attributes
    ----------
    records : list
        Per message, its :class:`ParsedRecord`, or ``None`` when the parser did not take
        it (decode it with ``decode_message``).
    label_names : set
        The labels named in the records taken.
    """

    def __init__(self, values, limits: dict):
        lim = dict(_DEFAULT_LIMITS, **limits)
        parts = [v if type(v) is bytes else b"" for v in values]  # others: decode_message's
        buf = b"".join(parts)
        starts = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum([len(v) for v in parts], out=starts[1:])
        (ok, self.fptr, self.fid, self.fval, self.lptr, self.lid, id_span, slow, nstart,
         nend, nkind) = parse_messages(buf, starts, np.array(
            [lim["max_bytes"], lim["max_features"], lim["max_labels"],
             lim["max_label_length"], lim["max_feature_name_length"],
             lim["max_id_length"]], dtype=np.int64))
        for entry, a, b in slow.tolist():  # what the standard parser does with them
            self.fval[entry] = float(buf[a:b])
        self.names = [buf[a:b].decode("ascii") for a, b in zip(nstart.tolist(),
                                                                nend.tolist())]
        self.label_names = {self.names[j] for j in set(self.lid.tolist())}
        self.is_feature = nkind == FEATURE
        records: list = [None] * len(parts)
        for i in np.flatnonzero(ok).tolist():
            a, b = id_span[i]
            records[i] = ParsedRecord(self, i, buf[a:b].decode("ascii") if a >= 0 else None)
        self.records = records

    def batch(self, rows, declared=()) -> Batch:
        """The batch of records ``rows`` (in that order), as
        ``to_batch([(r.x, full_labels(r.y)) for r in ...], sparse=True)`` would give it,
        where ``full_labels`` puts the ``declared`` labels first (False unless
        positive)."""
        import scipy.sparse as sp

        rows = np.asarray(rows, dtype=np.int64)
        n = len(rows)
        X_indptr, X_take = _gather(self.fptr, rows)
        names = self.names
        columns, order, _ = first_seen(self.fid[X_take], len(names))
        X = sp.csr_matrix((self.fval[X_take], columns, X_indptr), shape=(n, len(order)))
        feature_names = [names[j] for j in order.tolist()]

        Y_indptr, Y_take = _gather(self.lptr, rows)
        lcolumns, lorder, lfirst = first_seen(self.lid[Y_take], len(names))
        label_names = list(declared)
        column = {name: i for i, name in enumerate(label_names)}
        to_column = np.empty(len(lorder), dtype=np.int64)
        new_first: list = []  # entry where each label not declared is first named
        for k, (j, entry) in enumerate(zip(lorder.tolist(), lfirst.tolist())):
            name = names[j]
            if name not in column:
                column[name] = len(label_names)
                label_names.append(name)
                new_first.append(entry)
            to_column[k] = column[name]
        L = len(label_names)
        Y = np.zeros((n, L), dtype=bool)
        if len(lcolumns):
            entry_rows = np.repeat(np.arange(n), np.diff(Y_indptr))
            Y[entry_rows, to_column[lcolumns]] = True
        named_at = np.full(L, -1, dtype=np.int64)
        if n:
            named_at[:len(declared)] = 0
            if new_first:
                named_at[len(declared):] = np.searchsorted(
                    Y_indptr, np.array(new_first, dtype=np.int64), side="right") - 1
        return Batch(X, Y, feature_names, label_names, None, named_at)


def _gather(ptr, rows):
    """``(indptr, take)``: the entries of ``rows`` (``ptr[r]:ptr[r + 1]`` each) as one
    CSR layout and the indexes of those entries."""
    lengths = ptr[rows + 1] - ptr[rows]
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    take = np.arange(indptr[-1], dtype=np.int64) + np.repeat(ptr[rows] - indptr[:-1],
                                                             lengths)
    return indptr, take
