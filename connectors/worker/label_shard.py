"""Label shards: a worker that learns and predicts only its share of the labels.

``labelstream worker --label-shard I/N`` runs shard ``I`` of ``N``: it reads every record
of the input topic (its own consumer group or assignment, like any worker), but its model
learns and predicts only the labels whose stable hash falls to it (CRC-32 of the label's
UTF-8 name, modulo ``N``: the same on every machine, in every process, for ever). Its
predictions are *partial*: each names its shard and carries the shard's share of the
record's truth, so that ``labelstream merge --shards N`` (:mod:`connectors.merge`) can join
the ``N`` partial predictions of a record into the full one and score it.

Binary relevance learns each label on its own, so ``N`` ``br`` shards predict exactly
what one ``br`` worker would; a learner that learns labels together (iHOMER's clusters,
the mixture's router) learns within its shard only.

Examples
--------
>>> shard = LabelShard.parse("1/3")
>>> shard, shard_of("snow", 3), shard_of("fog", 3)
(LabelShard(index=1, count=3), 1, 2)
>>> y = {"fog": True, "snow": True, "wind": None}
>>> record = shard.own(DecodedRecord("r1", {"a": 1.0}, y))
>>> record.y, record.truth_at    # snow was the record's second positive
({'snow': True, 'wind': None}, (1,))
>>> LabelShard.parse("3/3")
Traceback (most recent call last):
...
ValueError: --label-shard 3/3: the shard index must be 0 <= I < N (shards 0 to 2)
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from functools import lru_cache

from connectors.kafka.codec import DecodedRecord

__all__ = ["LabelShard", "ShardRecord", "shard_of"]


@lru_cache(maxsize=1 << 16)
def shard_of(label: str, count: int) -> int:
    """The shard of ``label`` among ``count`` (CRC-32 of its UTF-8 name, modulo ``count``)."""
    return zlib.crc32(str(label).encode("utf-8")) % count


@dataclass(frozen=True)
class ShardRecord(DecodedRecord):
    """A record with its labels cut to one shard's share.

    ``truth_at`` gives, for each positive label kept, its place among the record's
    positives before the cut: the merge puts the shards' positives back in the record's
    order (the order in which a single worker would have met new labels).
    """

    truth_at: tuple = ()


@dataclass(frozen=True)
class LabelShard:
    """Shard ``index`` of ``count``: the labels :func:`shard_of` gives to ``index``."""

    index: int
    count: int

    def __post_init__(self):
        if self.count < 1:
            raise ValueError(f"--label-shard {self.index}/{self.count}: the number of shards "
                             "N must be >= 1")
        if not 0 <= self.index < self.count:
            raise ValueError(f"--label-shard {self.index}/{self.count}: the shard index must "
                             f"be 0 <= I < N (shards 0 to {self.count - 1})")

    @classmethod
    def parse(cls, spec: str) -> LabelShard:
        """``"I/N"`` -> :class:`LabelShard` (``ValueError`` saying what is wrong)."""
        parts = str(spec).split("/")
        try:
            index, count = (int(p) for p in parts)
        except ValueError:
            raise ValueError(f"--label-shard {spec!r}: expected I/N, two integers (shard I "
                             "of N, e.g. 0/3)") from None
        return cls(index, count)

    def owns(self, label: str) -> bool:
        """Whether ``label`` is this shard's."""
        return shard_of(label, self.count) == self.index

    def own_names(self, names) -> list:
        """The names of ``names`` that are this shard's (declared labels), in order."""
        return [name for name in names if self.owns(name)]

    def own(self, record):
        """``record`` (a decoded message) with its labels cut to this shard's: a
        :class:`ShardRecord`; anything else (a dead letter) unchanged."""
        if not isinstance(record, DecodedRecord) or record.y is None:
            return record
        y, at, rank = {}, [], 0
        for label, value in record.y.items():
            if self.owns(label):
                y[label] = value
                if value:
                    at.append(rank)
            if value:
                rank += 1
        return ShardRecord(record.id, record.x, y, tuple(at))

    def partial(self, record, n_labels: int) -> dict:
        """What a partial prediction carries besides the prediction: the shard, the
        shard's truth of the record (``None`` when its labels are not known yet), its
        unknown labels, and ``n_labels``, the labels the shard's model knew when it scored
        the record (the merge adds them up: a single worker's count)."""
        out = {"index": self.index, "count": self.count, "n_labels": int(n_labels)}
        y = record.y
        if y is None:
            out["truth"] = None
            return out
        out["truth"] = [label for label, on in y.items() if on]
        out["truth_at"] = list(getattr(record, "truth_at", ()))
        unknown = [label for label, on in y.items() if on is None]
        if unknown:
            out["unknown"] = unknown
        return out

    def delivery(self, record, source, n_labels: int) -> bytes:
        """The message a shard publishes when a held record's labels come and it learns
        them: ``{"id", "source" (the record's), "delivered": true, "shard": {...}}``, the
        shard's share of the truth as in :meth:`partial`; the merge scores the record's
        merged prediction once every shard's has come."""
        topic, partition, offset = source
        return json.dumps({"id": record.id,
                           "source": {"topic": topic, "partition": int(partition),
                                      "offset": int(offset)},
                           "delivered": True, "shard": self.partial(record, n_labels)}).encode()
