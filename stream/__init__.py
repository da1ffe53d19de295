"""labelstream's stream layer: records, readers, generators, metrics, the prequential loop."""

from stream.errors import LabelLayoutError, MalformedRecordError, StreamError
from stream.types import FeatureIndex, LabelIndex, positive_labels

__all__ = [
    "FeatureIndex",
    "LabelIndex",
    "LabelLayoutError",
    "MalformedRecordError",
    "StreamError",
    "positive_labels",
]
