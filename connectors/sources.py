"""Resolve a replay SOURCE argument into a record stream.

A SOURCE is a file path (ARFF, LIBSVM, JSONL, CSV; gzip or not) or a Kafka topic,
``kafka://HOST:PORT/TOPIC`` (its history up to now; see
:mod:`connectors.kafka.source`). With none, the embedded default is the Yeast stream
that ships inside river (2,417 records, 103 features, 14 labels), read through
labelstream's own CSV reader.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SourceSpec", "open_source", "default_source_path", "ShuffledSource"]

DEFAULT_NAME = "yeast (river.datasets.Yeast, embedded default)"
DEFAULT_LABELS = -14  # river's yeast.csv: 103 features then 14 label columns


@dataclass(frozen=True)
class SourceSpec:
    """How to read a source: the CLI's source options, frozen."""

    path: str | None = None
    labels: int | None = None
    label_file: str | None = None
    label_columns: tuple | None = None
    format: str | None = None
    skip_bad: bool = False
    shuffle: int | None = None
    from_timestamp: int | None = None  # kafka:// only: epoch ms to start at
    kafka: object = None  # kafka:// only: KafkaSettings with the security options


def default_source_path() -> str:
    """Path of river's bundled Yeast CSV (``river.datasets.Yeast().path``), found without
    importing river (its datasets package alone takes most of a second to import).

    Examples
    --------
    >>> Path(default_source_path()).name
    'yeast.csv.gz'
    """
    import importlib.util

    spec = importlib.util.find_spec("river")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the embedded Yeast stream comes with river: "
                                "pip install river, or name a stream file")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "yeast.csv.gz"
    if not path.exists():  # a river that keeps it elsewhere: ask river itself
        from river import datasets

        return str(Path(datasets.Yeast().path))
    return str(path)


class ShuffledSource:
    """Every record of ``reader`` in a seeded random order (loads the stream into memory).

    Examples
    --------
    >>> src = ShuffledSource([({"a": 1.0}, {}), ({"a": 2.0}, {}), ({"a": 3.0}, {})], seed=1)
    >>> [x["a"] for x, _ in src]
    [2.0, 3.0, 1.0]
    """

    def __init__(self, reader, seed: int):
        self.reader = reader
        self.seed = seed
        self._records = None

    def __iter__(self):
        if self._records is None:
            self._records = list(self.reader)
            random.Random(self.seed).shuffle(self._records)
        return iter(self._records)

    def __len__(self):
        return len(self._records) if self._records is not None else 0

    def __getattr__(self, name):
        if name in ("reader", "seed", "_records"):
            raise AttributeError(name)
        return getattr(self.reader, name)


def open_source(spec: SourceSpec):
    """Open the stream a :class:`SourceSpec` names; returns ``(records, name)``.

    ``records`` is the reader (with ``label_names``, ``n_bad``, ``bad``, ...), wrapped in
    :class:`ShuffledSource` when ``spec.shuffle`` is set.
    """
    from connectors.kafka.source import is_kafka_url
    from stream.readers import open_stream

    if is_kafka_url(spec.path):
        return _open_kafka(spec)
    if spec.from_timestamp is not None:
        raise ValueError("--from-timestamp applies to a kafka:// SOURCE only")
    if spec.path is None:
        path, name = default_source_path(), DEFAULT_NAME
        labels = spec.labels if spec.labels is not None else DEFAULT_LABELS
    else:
        path, name, labels = spec.path, spec.path, spec.labels
        if not Path(path).exists():
            raise FileNotFoundError(
                f"source {path!r} does not exist; give a path to an ARFF, LIBSVM, JSONL or "
                "CSV file (gzip is fine), or no SOURCE for the embedded Yeast stream"
            )
    reader = open_stream(path, labels=labels, label_file=spec.label_file,
                         skip_bad=spec.skip_bad, format=spec.format,
                         label_columns=list(spec.label_columns) if spec.label_columns else None)
    if spec.shuffle is not None:
        return ShuffledSource(reader, spec.shuffle), f"{name} (shuffled, seed {spec.shuffle})"
    return reader, name


def _open_kafka(spec: SourceSpec):
    from connectors.kafka.source import open_kafka_source

    for name, flag in (("labels", "--labels"), ("label_columns", "--label-column"),
                       ("format", "--format")):
        if getattr(spec, name) is not None:
            raise ValueError(f"{flag} does not apply to a kafka:// SOURCE (its messages are "
                             "JSON records; --label-file may declare the labels)")
    reader = open_kafka_source(spec.path, settings=spec.kafka,
                               from_timestamp=spec.from_timestamp, label_file=spec.label_file)
    if spec.shuffle is not None:
        return (ShuffledSource(reader, spec.shuffle),
                f"{spec.path} (shuffled, seed {spec.shuffle})")
    return reader, spec.path
