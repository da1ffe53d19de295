"""Streaming ARFF reader for multi-label data in the Mulan and MEKA layouts.

Which attributes are labels
---------------------------
In this order, the first that applies decides:

1. ``label_file=``: a Mulan XML naming the labels (``<label name="...">``, nested
   hierarchies included; every named label must be an attribute).
2. ``labels=n``: MEKA's sign convention, ``n > 0`` the first ``n`` attributes are labels,
   ``n < 0`` the last ``|n|``.
3. A Mulan XML beside the file: ``<stem>.xml`` (``scene-train.arff[.gz]`` ->
   ``scene-train.xml``, any case), else the only ``.xml`` in the folder
   (``scene-train.arff`` -> ``scene.xml``). A same-stem XML that names a label the file
   lacks is an error; the lone XML of the folder is only a guess, so if its names do not
   match, the reader goes on to step 4 (MEKA's ``Scene-meka.arff`` beside Mulan's
   ``scene.xml`` is read with its ``-C 6``).
4. MEKA's ``-C n`` in the ``@relation`` name. An XML wins over it: some Mulan files keep
   a stale ``-C`` (``medical.arff`` says ``-C 45`` but its labels are the last 45).

Otherwise :class:`~stream.errors.LabelLayoutError` says what to pass. An explicit
``labels=`` wins over an XML beside the file (a warning is logged if they disagree).
``label_names`` (and the keys of ``y``) follow the attributes' order in the file, not the
XML's (``yeast.xml`` lists ``Class6`` before ``Class4``).

Values
------
* Numeric attributes give floats. ``?`` is missing: a dense row leaves that feature out of
  ``x``. The text ``NaN``/``inf`` is *malformed*, never a value: a learner must not see it.
* Nominal features give a float: a two-value set whose values read as a boolean pair
  (``{0,1}``, ``{YES,NO}``, ``{true,false}``, ``{y,n}``, any order and case) gives 1.0
  for the true value and 0.0 for the false one; any other set gives the index of the value
  in the declared list (Weka's own internal value).
* ``string`` and ``date`` attributes are not features: they are left out (with a warning
  when the file is opened). ``relational`` attributes are refused.
* Labels give ``True``/``False`` for every declared label: ``1``/``0`` and the tolerant
  spellings ``1.0``, ``YES``/``NO``, ``true``/``false``; a missing ``?`` label is ``False``.
* Sparse rows ``{index value, ...}``: an absent index means the attribute's zero value
  (Weka's rule: 0 for a number, the *first declared value* for a nominal), so an absent
  label is ``False`` (for the usual ``{0,1}``; Mulan's reading of ``{1,0}`` would make it
  ``True``) and an absent feature is absent from ``x`` (sparse: absent = 0).
  The one exception is a nominal feature whose first declared value maps to a non-zero
  float (``{YES,NO}`` -> 1.0): it is written into ``x`` when absent, to keep Weka's meaning.
* A record is malformed (:class:`~stream.errors.MalformedRecordError`, with file, line and
  reason) for a wrong number of values, a non-number or non-finite number in a numeric
  attribute, a value outside a nominal's declared list, a label that is not 0/1, a sparse
  index that is not an integer in range, unbalanced braces or quotes. Instance weights
  (``..., {w}``) are not supported and read as malformed.
"""

from __future__ import annotations

import logging
import math
import operator
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from itertools import islice
from typing import NamedTuple, TextIO

from stream.errors import LabelLayoutError, StreamError
from stream.readers._batches import BlockBatches
from stream.readers._text import (
    StreamReader,
    bool_token,
    bool_token_map,
    open_text,
    parse_finite,
    read_token,
    split_quoted,
    unescape,
)

__all__ = ["ArffAttribute", "ArffReader", "find_label_xml", "read_label_xml"]

logger = logging.getLogger(__name__)

_MEKA_C = re.compile(r"(?:^|\s)-C\s+(-?\d+)")
_NUMERIC = ("numeric", "real", "integer")
_LAYOUT_HINT = (
    "Pass --label-file FILE.xml (a Mulan label XML) or --labels N (MEKA convention: N > 0 "
    "the first N attributes are labels, N < 0 the last |N|); in Python, label_file= or labels=."
)


class ArffAttribute(NamedTuple):
    """One ``@attribute``: its (unescaped) name, kind and declared nominal values.

    ``kind`` is ``"numeric"``, ``"nominal"``, ``"string"`` or ``"date"``; ``values`` is the
    tuple of declared values for a nominal, else ``None``.

    Examples
    --------
    >>> ArffAttribute("colour", "nominal", ("red", "blue")).values
    ('red', 'blue')
    """

    name: str
    kind: str
    values: tuple | None = None


class _Bad(Exception):
    """A malformed record; ``args[0]`` is the reason."""


# ---------------------------------------------------------------------------------------
# header


def _header_error(path: str, lineno: int, reason: str) -> StreamError:
    return StreamError(f"{path}, line {lineno}: {reason}")


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] in "'\"" and text[-1] == text[0]:
        return unescape(text[1:-1])
    return text


def _parse_attribute(line: str, path: str, lineno: int) -> ArffAttribute:
    rest = line[len("@attribute") :].lstrip()
    if not rest:
        raise _header_error(path, lineno, "@attribute without a name")
    if rest[0] in "'\"":
        quote, j, n = rest[0], 1, len(rest)
        while j < n and rest[j] != quote:
            j += 2 if rest[j] == "\\" else 1
        if j >= n:
            raise _header_error(path, lineno, f"unterminated quote in attribute name: {line!r}")
        name, rest = unescape(rest[1:j]), rest[j + 1 :]
    else:
        m = re.search(r"[\s{]", rest)
        if m is None:
            raise _header_error(path, lineno, f"attribute {rest!r} has no type")
        name, rest = rest[: m.start()], rest[m.start() :]
    spec = rest.strip()
    low = spec.lower()
    if spec.startswith("{"):
        if not spec.endswith("}"):
            raise _header_error(path, lineno, f"attribute {name!r}: unbalanced braces in {spec!r}")
        inner = spec[1:-1]
        try:
            values = tuple(tok for tok, _ in split_quoted(inner)) if inner.strip() else ()
        except ValueError as err:
            raise _header_error(path, lineno, f"attribute {name!r}: {err}") from None
        return ArffAttribute(name, "nominal", values)
    if low in _NUMERIC:
        return ArffAttribute(name, "numeric")
    if low == "string":
        return ArffAttribute(name, "string")
    if low.startswith("date"):
        return ArffAttribute(name, "date")
    if low.startswith("relational"):
        raise _header_error(
            path, lineno, f"attribute {name!r}: relational attributes are not supported"
        )
    raise _header_error(path, lineno, f"attribute {name!r}: unknown type {spec!r}")


class _Header(NamedTuple):
    relation: str
    attributes: list
    data_line: int  # the line number of @data
    sparse: bool  # whether the first data row is sparse


def _read_header(f: TextIO, path: str) -> _Header:
    relation = ""
    attributes: list[ArffAttribute] = []
    declared: dict[str, int] = {}  # attribute name -> its line
    data_line = lineno = 0
    for lineno, raw in enumerate(f, 1):
        line = raw.strip()
        if not line or line[0] == "%":
            continue
        low = line[:10].lower()
        if low.startswith("@attribute"):
            attr = _parse_attribute(line, path, lineno)
            if attr.name in declared:
                raise _header_error(path, lineno, f"attribute name {attr.name!r} is declared "
                                                  f"twice (first on line {declared[attr.name]})")
            declared[attr.name] = lineno
            attributes.append(attr)
        elif low.startswith("@relation"):
            relation = _unquote(line[len("@relation") :])
        elif low.startswith("@data"):
            data_line = lineno
            break
        else:
            raise _header_error(
                path, lineno, f"expected @relation, @attribute or @data, got {line[:60]!r}"
            )
    if not data_line:
        raise StreamError(f"{path}: not an ARFF file (no @data line in its {lineno} lines)")
    if not attributes:
        raise _header_error(path, data_line, "the ARFF header declares no attribute")
    sparse = False
    for raw in f:
        line = raw.strip()
        if line and line[0] != "%":
            sparse = line[0] == "{"
            break
    return _Header(relation, attributes, data_line, sparse)


# ---------------------------------------------------------------------------------------
# label layout


def read_label_xml(path: str | os.PathLike) -> list[str]:
    """The label names of a Mulan label XML, in document order (hierarchies flattened).

    XML entities (``&amp;``, ``&apos;``, ...) are decoded by the XML parser.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "birds.xml")
    >>> with open(path, "w") as f:
    ...     _ = f.write('<labels xmlns="http://mulan.sourceforge.net/labels">'
    ...                 '<label name="Swainson&apos;s Thrush"><label name="a&amp;b"/></label>'
    ...                 '</labels>')
    >>> read_label_xml(path)
    ["Swainson's Thrush", 'a&b']
    """
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise LabelLayoutError(f"{path}: not a readable label XML ({err})") from None
    names: list[str] = []
    for el in root.iter():
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag == "label" or tag.endswith("}label"):
            name = el.get("name")
            if name is None:
                raise LabelLayoutError(f"{path}: a <label> element has no name attribute")
            if name not in names:
                names.append(name)
    if not names:
        raise LabelLayoutError(f"{path}: the label XML names no label")
    return names


def _stem(path: str) -> str:
    name = os.path.basename(path)
    if name.lower().endswith(".gz"):
        name = name[:-3]
    if name.lower().endswith(".arff"):
        name = name[:-5]
    return name


def find_label_xml(path: str | os.PathLike) -> tuple[str | None, bool]:
    """The Mulan XML beside an ARFF file: ``(xml_path, same_stem)`` or ``(None, False)``.

    ``<stem>.xml`` (compared without case) is preferred; otherwise the only ``.xml`` in
    the folder, with ``same_stem=False``.

    Examples
    --------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> for name in ("scene-train.arff.gz", "scene.xml"):
    ...     open(os.path.join(folder, name), "w").close()
    >>> xml, same_stem = find_label_xml(os.path.join(folder, "scene-train.arff.gz"))
    >>> os.path.basename(xml), same_stem
    ('scene.xml', False)
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        xmls = sorted(n for n in os.listdir(folder) if n.lower().endswith(".xml"))
    except OSError:
        return None, False
    want = _stem(path).lower() + ".xml"
    for name in xmls:
        if name.lower() == want:
            return os.path.join(folder, name), True
    if len(xmls) == 1:
        return os.path.join(folder, xmls[0]), False
    return None, False


def _match_xml(xml: str, xml_names: list[str], attributes: list, path: str) -> list[int]:
    position = {attr.name: i for i, attr in enumerate(attributes)}
    cols, missing = [], []
    for name in xml_names:
        i = position.get(name)
        if i is None:
            i = position.get(unescape(name))
        if i is None:
            missing.append(name)
        else:
            cols.append(i)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise LabelLayoutError(
            f"{xml} names the label {missing[0]!r}{more}, which is not an attribute of {path}"
        )
    return sorted(set(cols))


def _by_count(n: int, n_attributes: int, path: str, source: str) -> list[int]:
    if n == 0 or abs(n) > n_attributes:
        raise LabelLayoutError(
            f"{path}: {source} gives {n} labels, but the file has {n_attributes} attributes. "
            + _LAYOUT_HINT
        )
    return list(range(n)) if n > 0 else list(range(n_attributes + n, n_attributes))


def _as_count(labels) -> int:
    if isinstance(labels, bool):
        raise TypeError(f"labels must be an int (MEKA's -C n), got {labels!r}")
    try:
        return operator.index(labels)
    except TypeError:
        raise TypeError(f"labels must be an int (MEKA's -C n), got {labels!r}") from None


def _label_layout(path, attributes, relation, labels, label_file) -> tuple[list[int], str]:
    """Label columns and a phrase saying where the layout came from."""
    if label_file is not None:
        label_file = os.fspath(label_file)
        if not os.path.isfile(label_file):
            raise FileNotFoundError(f"label file not found: {label_file}")
        return _match_xml(label_file, read_label_xml(label_file), attributes, path), label_file
    xml, same_stem = find_label_xml(path)
    if labels is not None:
        labels = _as_count(labels)
        cols = _by_count(labels, len(attributes), path, f"labels={labels}")
        if same_stem:
            try:
                xml_cols = _match_xml(xml, read_label_xml(xml), attributes, path)
            except LabelLayoutError:
                xml_cols = None
            if xml_cols != cols:
                logger.warning(
                    "%s: labels=%d is used, although %s beside it names other labels",
                    path,
                    labels,
                    xml,
                )
        return cols, f"labels={labels}"
    note = ""
    if xml is not None:
        try:
            return _match_xml(xml, read_label_xml(xml), attributes, path), xml
        except LabelLayoutError as err:
            if same_stem:
                raise
            note = f" (the folder's {os.path.basename(xml)} does not fit: {err})"
            logger.info("not using %s for %s: %s", xml, path, err)
    m = _MEKA_C.search(relation)
    if m:
        n = int(m.group(1))
        return _by_count(n, len(attributes), path, f"-C {n} in @relation"), f"-C {n}"
    raise LabelLayoutError(
        f"{path}: cannot tell which attributes are labels: no label XML beside it{note} "
        f"and no -C n in its @relation. " + _LAYOUT_HINT
    )


# ---------------------------------------------------------------------------------------
# values


def nominal_values(values: tuple) -> dict[str, float]:
    """The float of each declared nominal value (see the module notes).

    Examples
    --------
    >>> nominal_values(("YES", "NO"))
    {'YES': 1.0, 'NO': 0.0}
    >>> nominal_values(("red", "green", "blue"))
    {'red': 0.0, 'green': 1.0, 'blue': 2.0}
    """
    if len(values) == 2:
        a, b = bool_token(values[0]), bool_token(values[1])
        if a is not None and b is not None and a != b:
            return {values[0]: float(a), values[1]: float(b)}
    table: dict[str, float] = {}
    for i, value in enumerate(values):
        table.setdefault(value, float(i))
    return table


def _fast_variants(table: dict[str, float]) -> dict[str, float]:
    """``table`` plus the spellings a plain ``line.split(',')`` leaves: a leading blank,
    and the quoted form of values with no quote or backslash inside."""
    fast = {value: num for value, num in table.items() if value != "?"}
    for value, num in table.items():
        if value == "?":  # an unquoted ? is always the missing value
            continue
        forms = [value]
        if "'" not in value and "\\" not in value:
            forms.append(f"'{value}'")
        for form in forms:
            fast.setdefault(form, num)
            fast.setdefault(" " + form, num)
    return fast


def _getter(cols: list[int]):
    """A callable taking a list of column values to those at ``cols`` (fast for ranges)."""
    if not cols:
        return lambda parts: ()
    a, b = cols[0], cols[-1] + 1
    if cols == list(range(a, b)):
        return operator.itemgetter(slice(a, b))
    if len(cols) == 1:
        i = cols[0]
        return lambda parts: (parts[i],)
    return operator.itemgetter(*cols)


_NUM, _NOM, _LAB, _SKIP = range(4)

# The fast path's label lookup: 0/1 spellings (also after a blank); a missing label is False.
_LABELS: dict[str, bool] = {**bool_token_map(), "?": False, " ?": False}


class ArffReader(BlockBatches, StreamReader):
    """Read an ARFF file (dense or sparse, Mulan or MEKA layout) record by record.

    Only the header is parsed on creation; each ``iter(reader)`` re-opens the file (gzip or
    not, by magic bytes) and yields ``(x, y)`` with ``x: dict[str, float]`` and
    ``y: dict[str, bool]`` holding every declared label. ``reader.iter_batches(size)``
    reads the same records as batches, blocks of plain rows parsed by compiled code
    (no dict per record; quoted values, rows of the other kind and a sparse index named
    twice go the record path).
    See the module notes for the label layout and the value rules.

    Parameters
    ----------
    path
        The ARFF file, possibly gzipped.
    labels
        MEKA's ``-C n``: ``n > 0`` the first ``n`` attributes are labels, ``n < 0`` the last
        ``|n|``.
    label_file
        A Mulan label XML; wins over everything else.
    skip_bad
        Skip malformed records (counted in ``n_bad``, the first 100 kept in ``bad``, logged)
        instead of raising :class:`~stream.errors.MalformedRecordError`.

    Attributes
    ----------
    relation : str
        The ``@relation`` name.
    attributes : list of ArffAttribute
        Every declared attribute, in order.
    label_source : str
        Where the label layout came from: the XML's path, ``"labels=n"`` or ``"-C n"``.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.arff")
    >>> with open(path, "w") as f:
    ...     _ = f.write("@relation 'tiny: -C 2'\\n"
    ...                 "@attribute sky {0,1}\\n@attribute sea {0,1}\\n"
    ...                 "@attribute blue numeric\\n@attribute sunny {YES,NO}\\n"
    ...                 "@data\\n1,0,0.5,NO\\n0,1,?,YES\\n")
    >>> reader = ArffReader(path)
    >>> reader.label_names, reader.feature_names
    (['sky', 'sea'], ['blue', 'sunny'])
    >>> for x, y in reader:
    ...     print(x, y)
    {'blue': 0.5, 'sunny': 0.0} {'sky': True, 'sea': False}
    {'sunny': 1.0} {'sky': False, 'sea': True}
    >>> reader.n_read, reader.line
    (2, 8)
    """

    format = "arff"

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        labels: int | None = None,
        label_file: str | os.PathLike | None = None,
        skip_bad: bool = False,
    ):
        super().__init__(path, skip_bad=skip_bad)
        with open_text(self.path) as f:
            header = _read_header(f, self.path)
        self.relation = header.relation
        self.attributes = header.attributes
        self.sparse = header.sparse
        self._data_line = header.data_line
        label_cols, self.label_source = _label_layout(
            self.path, self.attributes, self.relation, labels, label_file
        )
        logger.debug("%s: %d labels from %s", self.path, len(label_cols), self.label_source)
        self._compile(label_cols)

    # -- setup -------------------------------------------------------------------------

    def _compile(self, label_cols: list[int]) -> None:
        attributes = self.attributes
        is_label = set(label_cols)
        cols = []  # per attribute: (kind, name, table) for the careful path
        fcols, fconvs, lcols = [], [], []
        base_y: dict[str, bool] = {}
        defaults = []  # sparse rows: nominal features whose absent value is not 0.0
        skipped = []
        for i, attr in enumerate(attributes):
            if i in is_label:
                if attr.kind == "nominal":
                    truth = [bool_token(v) for v in attr.values]
                    if None in truth or not truth:
                        raise LabelLayoutError(
                            f"{self.path}: label {attr.name!r} has values "
                            f"{{{', '.join(attr.values)}}}; a label must be binary {{0,1}}. "
                            + _LAYOUT_HINT
                        )
                    base_y[attr.name] = truth[0]
                elif attr.kind == "numeric":
                    base_y[attr.name] = False
                else:
                    raise LabelLayoutError(
                        f"{self.path}: label {attr.name!r} is a {attr.kind} attribute; "
                        "a label must be binary {0,1}. " + _LAYOUT_HINT
                    )
                cols.append((_LAB, attr.name, None))
                lcols.append(i)
            elif attr.kind == "numeric":
                cols.append((_NUM, attr.name, None))
                fcols.append(i)
                fconvs.append(float)
            elif attr.kind == "nominal":
                table = nominal_values(attr.values)
                cols.append((_NOM, attr.name, table))
                fcols.append(i)
                fconvs.append(_fast_variants(table).__getitem__)
                if attr.values and table[attr.values[0]] != 0.0:
                    defaults.append((i, attr.name, table[attr.values[0]]))
            else:
                cols.append((_SKIP, attr.name, None))
                skipped.append(attr.name)
        if skipped:
            logger.warning(
                "%s: %d string/date attribute(s) are not features and are left out: %s",
                self.path,
                len(skipped),
                ", ".join(repr(s) for s in skipped[:10]),
            )
        self._cols = cols
        self._base_y = base_y
        self._defaults = defaults
        self.label_names = [attributes[i].name for i in lcols]
        self.feature_names = [attributes[i].name for i in fcols]
        self._dense_fast = self._make_dense_fast(fcols, fconvs, lcols)
        self._sparse_fast = self._make_sparse_fast(fcols, fconvs, lcols)

    def _make_dense_fast(self, fcols, fconvs, lcols):
        n = len(self.attributes)
        fget, lget = _getter(fcols), _getter(lcols)
        fnames, lnames = tuple(self.feature_names), tuple(self.label_names)
        lab = _LABELS.__getitem__
        isfinite = math.isfinite
        if all(conv is float for conv in fconvs):

            def dense(line):
                parts = line.split(",")
                if len(parts) != n:
                    raise ValueError
                vals = list(map(float, fget(parts)))
                if not isfinite(sum(vals)):
                    raise ValueError
                return dict(zip(fnames, vals)), dict(zip(lnames, map(lab, lget(parts))))

        else:
            convs = tuple(fconvs)

            def dense(line):
                parts = line.split(",")
                if len(parts) != n:
                    raise ValueError
                vals = [conv(v) for conv, v in zip(convs, fget(parts))]
                if not isfinite(sum(vals)):
                    raise ValueError
                return dict(zip(fnames, vals)), dict(zip(lnames, map(lab, lget(parts))))

        return dense

    def _make_sparse_fast(self, fcols, fconvs, lcols):
        attributes = self.attributes
        features = {str(i): (attributes[i].name, conv) for i, conv in zip(fcols, fconvs)}
        labels = {str(i): attributes[i].name for i in lcols}
        base_y = self._base_y
        defaults = self._defaults
        lab = _LABELS.__getitem__
        isfinite = math.isfinite
        get_feature = features.get

        def sparse(line):
            if line[-1] != "}":
                raise ValueError
            x = {}
            y = base_y.copy()
            for item in line[1:-1].split(","):
                index, value = item.split()
                feature = get_feature(index)
                if feature is None:
                    y[labels[index]] = lab(value)
                else:
                    x[feature[0]] = feature[1](value)
            if not isfinite(sum(x.values())):
                raise ValueError
            for _, name, value in defaults:
                if name not in x:
                    x[name] = value
            return x, y

        return sparse

    # -- reading -----------------------------------------------------------------------

    def _records(self, f: TextIO) -> Iterator[tuple[dict, dict]]:
        lines = iter(f)
        yield from self._parse_lines(lines, self._skip_header(lines))

    def _skip_header(self, lines) -> int:
        for _ in islice(lines, self._data_line):
            pass
        return self._data_line + 1

    def _parse_lines(self, lines, first: int) -> Iterator[tuple[dict, dict]]:
        """The records of data ``lines``, the first of which is line ``first`` of the file
        (malformed ones raised, or skipped and counted with ``skip_bad``)."""
        dense, sparse, careful = self._dense_fast, self._sparse_fast, self._parse_careful
        for lineno, raw in enumerate(lines, first):
            line = raw.strip()
            if not line or line[0] == "%":
                continue
            try:
                x, y = sparse(line) if line[0] == "{" else dense(line)
            except (ValueError, KeyError, IndexError, TypeError):
                try:
                    x, y = careful(line)
                except _Bad as bad:
                    self._reject(lineno, bad.args[0])
                    continue
            self.n_read += 1
            self.line = lineno
            yield x, y

    # -- batches (the replay's fast path) ----------------------------------------------

    def warm_up(self) -> None:
        """Compile (or load from numba's cache) the block parser of :meth:`iter_batches`."""
        if self._fast_plan() is not None:
            from stream.readers._fastparse import warm_up

            warm_up(sparse=self.sparse)

    def _fast_plan(self):
        """The compiled parser's description of the attributes (a dict), or None for a
        sparse file with a nominal feature whose absent value is not 0 (the record path
        writes it into every row that lacks it)."""
        if hasattr(self, "_plan"):
            return self._plan
        import numpy as np

        from stream.readers._fastparse import LAB, NOM, NUM, SKIP, nominal_tables

        kinds, outcol, tables = [], [], []
        n_feat = n_lab = 0
        for kind, _name, table in self._cols:
            tables.append(table if kind == _NOM else None)
            if kind == _LAB:
                kinds.append(LAB)
                outcol.append(n_lab)
                n_lab += 1
            elif kind == _SKIP:
                kinds.append(SKIP)
                outcol.append(-1)
            else:
                kinds.append(NUM if kind == _NUM else NOM)
                outcol.append(n_feat)
                n_feat += 1
        plan = None
        if not (self.sparse and self._defaults):
            nom_lo, nom_n, nominals = nominal_tables(tables)
            plan = {"kinds": np.asarray(kinds, dtype=np.int64),
                    "outcol": np.asarray(outcol, dtype=np.int64), "nom_lo": nom_lo,
                    "nom_n": nom_n, "nominals": nominals, "n_features": n_feat,
                    "n_labels": n_lab,
                    "base_y": np.array(list(self._base_y.values()), dtype=np.bool_)}
        self._plan = plan
        return plan

    def _parse_block(self, block: list, plan):
        """``(part, line_of)`` of a block of lines the compiled parser takes, else None."""
        import numpy as np

        from stream.readers._fastparse import parse_dense_block, parse_sparse_block

        buf = np.frombuffer("".join(block).encode("utf-8"), dtype=np.uint8)
        args = (buf, plan["kinds"], plan["outcol"], plan["nom_lo"], plan["nom_n"],
                plan["nominals"])
        if self.sparse:
            parsed = parse_sparse_block(*args, plan["base_y"], max_rows=len(block))
            if parsed is None:
                return None
            Y, line_of, rows, cols, vals = parsed
            return ("sparse", Y, rows, cols, vals), line_of
        parsed = parse_dense_block(*args, plan["n_features"], plan["n_labels"],
                                   max_rows=len(block))
        if parsed is None:
            return None
        V, Y, line_of = parsed
        return ("dense", Y, V), line_of

    def _as_records(self, part) -> list:
        """The records of a parsed block, as the record path gives them."""
        import numpy as np

        fnames, lnames = self.feature_names, self.label_names
        ys = [dict(zip(lnames, y)) for y in part[1].tolist()]
        if part[0] == "dense":
            V = part[2]
            if not np.isnan(V).any():
                return [(dict(zip(fnames, v)), y) for v, y in zip(V.tolist(), ys)]
            return [({name: value for name, value in zip(fnames, v) if value == value}, y)
                    for v, y in zip(V.tolist(), ys)]  # a missing ? is left out
        _, _, rows, cols, vals = part
        xs = [{} for _ in ys]
        for r, c, v in zip(rows.tolist(), cols.tolist(), vals.tolist()):
            xs[r][fnames[c]] = v
        return list(zip(xs, ys))

    def _batch(self, parts: list):
        """The batch of the parsed blocks ``parts``, as ``to_batch`` builds it from their
        records: CSR in each row's order, explicit zeros kept, the feature columns in
        first-seen order."""
        import numpy as np
        import scipy.sparse as sp

        from stream.batch import Batch

        def cat(i):
            return parts[0][i] if len(parts) == 1 else np.concatenate([p[i] for p in parts])

        Y = cat(1)
        n = Y.shape[0]
        names = self.feature_names
        if parts[0][0] == "dense":
            V = cat(2)
            present = ~np.isnan(V)
            if present.all():
                d = V.shape[1]
                indptr = np.arange(n + 1, dtype=np.int64) * d
                X = sp.csr_matrix((V.ravel(), np.tile(np.arange(d, dtype=np.int64), n),
                                   indptr), shape=(n, d))
            else:  # a missing ? is no entry; columns in first-seen order, as to_batch
                seen = present.any(axis=0)
                first_row = np.argmax(present, axis=0)
                order = np.lexsort((np.arange(V.shape[1]), first_row))
                order = order[seen[order]]
                position = np.full(V.shape[1], -1, dtype=np.int64)
                position[order] = np.arange(order.size, dtype=np.int64)
                rows, cols = np.nonzero(present)  # row by row, in attribute order
                indptr = np.zeros(n + 1, dtype=np.int64)
                np.cumsum(present.sum(axis=1), out=indptr[1:])
                X = sp.csr_matrix((V[rows, cols], position[cols], indptr),
                                  shape=(n, order.size))
                names = [names[j] for j in order.tolist()]
        else:
            offsets = np.cumsum([0] + [p[1].shape[0] for p in parts[:-1]])
            rows = np.concatenate([p[2] + o for p, o in zip(parts, offsets)])
            cols, vals = cat(3), cat(4)
            uniq, first = np.unique(cols, return_index=True)
            order = uniq[np.argsort(first, kind="stable")]  # columns by first appearance
            position = np.empty(len(names), dtype=np.int64)
            position[order] = np.arange(order.size, dtype=np.int64)
            indptr = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
            X = sp.csr_matrix((vals, position[cols], indptr), shape=(n, order.size))
            names = [names[j] for j in order.tolist()]
        return Batch(X, Y, list(names), list(self.label_names), None,
                     np.zeros(len(self.label_names), dtype=np.int64))

    def _parse_careful(self, line: str) -> tuple[dict, dict]:
        """Parse a row the fast paths refused: either a correct record they do not cover
        (quotes, blanks, ``?``) or a malformed one, raising ``_Bad`` with the reason."""
        if line[0] == "{":
            return self._parse_sparse_careful(line)
        if "'" not in line and '"' not in line and ("{" in line or "}" in line):
            raise _Bad(
                "unbalanced braces: a '{' or '}' in a dense row "
                "(a sparse row is '{index value, ...}')"
            )
        try:
            tokens = split_quoted(line)
        except ValueError as err:
            raise _Bad(str(err)) from None
        if len(tokens) != len(self._cols):
            raise _Bad(f"expected {len(self._cols)} values, got {len(tokens)}")
        x: dict[str, float] = {}
        y: dict[str, bool] = {}
        for i, (token, quoted) in enumerate(tokens):
            self._value(i, token, quoted, x, y)
        return x, y

    def _parse_sparse_careful(self, line: str) -> tuple[dict, dict]:
        if not line.endswith("}"):
            raise _Bad("unbalanced braces: the sparse row opens with '{' but does not end with '}'")
        body = line[1:-1]
        if "'" not in body and '"' not in body and ("{" in body or "}" in body):
            raise _Bad(
                "unbalanced braces in the sparse row (instance weights '{w}' are not supported)"
            )
        n_attr = len(self._cols)
        x: dict[str, float] = {}
        y = dict(self._base_y)
        seen = set()
        i, n = 0, len(body)
        if body.strip():
            while True:
                while i < n and body[i] in " \t":
                    i += 1
                j = i
                while j < n and body[j] not in " \t,":
                    j += 1
                index_text = body[i:j]
                if not index_text:
                    raise _Bad("empty entry in the sparse row")
                try:
                    index = int(index_text)
                except ValueError:
                    raise _Bad(f"sparse index {index_text!r} is not an integer") from None
                if not 0 <= index < n_attr:
                    raise _Bad(
                        f"sparse index {index} is out of range: the header declares "
                        f"{n_attr} attributes (indices 0..{n_attr - 1})"
                    )
                try:
                    token, quoted, k = read_token(body, j, ",")
                except ValueError as err:
                    raise _Bad(str(err)) from None
                if not token and not quoted:
                    raise _Bad(f"sparse entry {index_text!r} has no value")
                self._value(index, token, quoted, x, y)
                seen.add(index)
                if k >= n:
                    break
                i = k + 1
        for index, name, value in self._defaults:
            if index not in seen:
                x[name] = value
        return x, y

    def _value(self, i: int, token: str, quoted: bool, x: dict, y: dict) -> None:
        kind, name, table = self._cols[i]
        if kind == _LAB:
            if token == "?" and not quoted:
                y[name] = False
                return
            truth = bool_token(token)
            if truth is None:
                raise _Bad(f"label {name!r} (column {i + 1}): {token!r} is not 0 or 1")
            y[name] = truth
        elif kind == _SKIP or (token == "?" and not quoted):
            return
        elif kind == _NUM:
            try:
                x[name] = parse_finite(token)
            except ValueError as err:
                raise _Bad(f"attribute {name!r} (column {i + 1}): {err}") from None
        else:
            value = table.get(token)
            if value is None:
                shown = ", ".join(list(table)[:8]) + (", ..." if len(table) > 8 else "")
                raise _Bad(
                    f"attribute {name!r} (column {i + 1}): {token!r} is not one of its "
                    f"declared values {{{shown}}}"
                )
            x[name] = value
