"""labelstream's stream layer: records, readers, generators, metrics, the prequential loop.

Its names load on first use, so importing a submodule does not import numpy.
"""

from stream.lazy_exports import lazy_exports

__all__ = [
    "FeatureIndex",
    "LabelIndex",
    "LabelLayoutError",
    "MalformedRecordError",
    "StreamError",
    "positive_labels",
]

__getattr__, __dir__ = lazy_exports(__name__, {
    "FeatureIndex": "stream.types",
    "LabelIndex": "stream.types",
    "positive_labels": "stream.types",
    "LabelLayoutError": "stream.errors",
    "MalformedRecordError": "stream.errors",
    "StreamError": "stream.errors",
})
