"""Reading a file as batches: compiled block parsers with the record path as fallback.

:class:`BlockBatches` gives a reader ``iter_batches(size)``: the data lines are read in
blocks of as many lines as records are still wanted; a block the reader's compiled parser
takes lands in arrays with no dict per record, any other block is read by the reader's
record path (so its errors, line numbers and ``skip_bad`` counts are the record path's).
A batch is built from its parsed blocks, or, once one of its blocks needed the record
path, from its records with :func:`~stream.batch.to_batch`: either way it equals
``to_batch(records, sparse=True)`` of the records the reader yields one by one.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Iterator
from itertools import islice, repeat

from stream.readers._text import open_text

__all__ = ["BlockBatches"]

logger = logging.getLogger(__name__)


class BlockBatches:
    """Mixin of a :class:`~stream.readers._text.StreamReader` with compiled block parsers.

    The reader provides ``_skip_header(lines) -> int`` (consume the header, return the
    line number of the next line), ``_parse_lines(lines, first)`` (the record path over
    data lines starting at line ``first``), ``_fast_plan()`` (what the compiled parser
    needs, or None where it cannot read this file), ``_parse_block(block, plan)``
    (``(part, line_of)`` or None), ``_as_records(part)`` and ``_batch(parts)``; and
    optionally ``_end_of_pass()``, called when a pass reaches the end of the file.
    """

    def iter_batches(self, size) -> Iterator:
        """Read the file as :class:`~stream.batch.Batch` objects of ``size`` records.

        Each batch equals ``to_batch(records, sparse=True)`` of the same records read one
        by one (same arrays, dtypes, names and ``named_at``); the last may be shorter.
        Blocks of lines the reader's compiled parser takes are parsed straight into
        arrays, with no dict per record; any other block (see the reader's notes) is read
        record by record, so errors (file, line, reason), ``skip_bad`` and its counts are
        the record path's. Memory holds one batch. Like ``iter(reader)``, each call
        re-opens the file and resets ``n_read``, ``n_bad``, ``bad`` and ``line``.

        Parameters
        ----------
        size
            Records per batch (an int), or an iterable of batch sizes: reading stops
            when it runs out.

        Examples
        --------
        >>> import os, tempfile
        >>> from stream.readers import ArffReader
        >>> path = os.path.join(tempfile.mkdtemp(), "tiny.arff")
        >>> with open(path, "w") as f:
        ...     _ = f.write("@relation 'tiny: -C 1'\\n@attribute sky {0,1}\\n"
        ...                 "@attribute blue numeric\\n@data\\n1,0.5\\n0,0\\n1,2\\n")
        >>> reader = ArffReader(path)
        >>> [(b.X.toarray().ravel().tolist(), b.Y.ravel().tolist())
        ...  for b in reader.iter_batches(2)]
        [([0.5, 0.0], [True, False]), ([2.0], [True])]
        >>> reader.n_read, reader.line
        (3, 7)
        """
        sizes = repeat(operator.index(size)) if isinstance(size, int) else iter(size)
        self._reset()
        plan = self._fast_plan()
        f = open_text(self.path)
        try:
            lines = iter(f)
            next_line = self._skip_header(lines)
            eof = False
            for want in sizes:
                if want < 1:
                    raise ValueError(f"batch sizes must be >= 1, got {want}")
                parts: list = []  # blocks parsed by the compiled parser
                records = None  # the batch's records, once a block needs the record path
                got = 0
                while got < want:
                    block = list(islice(lines, want - got))
                    if not block:
                        eof = True
                        break
                    first, next_line = next_line, next_line + len(block)
                    parsed = None
                    if plan is not None and records is None:
                        parsed = self._parse_block(block, plan)
                    if parsed is not None:
                        part, line_of = parsed
                        if line_of.size:
                            parts.append(part)
                            got += line_of.size
                            self.n_read += line_of.size
                            self.line = first + int(line_of[-1])
                        continue
                    if records is None:
                        records = [rec for part in parts for rec in self._as_records(part)]
                    for record in self._parse_lines(block, first):
                        records.append(record)
                        got += 1
                if got:
                    yield self._batch(parts) if records is None else _to_batch(records)
                if eof:
                    break
            if eof:
                self._end_of_pass()
        finally:
            f.close()
            if self.n_bad:
                logger.warning(
                    "%s: skipped %d malformed record(s) in this pass, read %d",
                    self.path,
                    self.n_bad,
                    self.n_read,
                )

    def _end_of_pass(self) -> None:
        """Called when a pass of :meth:`iter_batches` reaches the end of the file."""


def _to_batch(records: list):
    from stream.batch import to_batch

    return to_batch(records, sparse=True)
