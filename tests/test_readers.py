"""Tests of the streaming file readers on small files written for each case."""

from __future__ import annotations

import gzip
import logging
import math
import os
import pickle
from pathlib import Path

import pytest

import stream.readers
from stream.errors import LabelLayoutError, MalformedRecordError, StreamError
from stream.readers import (
    ArffReader,
    CSVReader,
    JSONLReader,
    LibSVMReader,
    decode_record,
    detect_format,
    open_stream,
    read_label_xml,
)
from stream.readers.jsonl import InvalidRecord

REPO = Path(__file__).resolve().parents[1]


def write(path: Path, text: str, *, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def xml(names) -> str:
    body = "".join(f'<label name="{n}"></label>\n' for n in names)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<labels xmlns="http://mulan.sourceforge.net/labels">\n{body}</labels>\n'
    )


DENSE = """% a comment
@relation MultiLabelData

@attribute Att1 numeric
@attribute Att2 numeric
@attribute Class1 {0,1}
@attribute Class2 {0,1}

@data
0.5,1.5,1,0
-1,2e-3,0,1

% comment between rows
3,4,0,0
"""

SPARSE = """@relation 'sparse: -C -2'
@attribute w0 numeric
@attribute w1 {0,1}
@attribute w2 numeric
@attribute L1 {0,1}
@attribute L2 {0,1}
@data
{0 2.5,3 1}
{1 1,2 0,4 1}
{}
{ 2 7 , 3 1 , 4 1 }
"""


def records(reader):
    return [(x, y) for x, y in reader]


# -- imports -----------------------------------------------------------------------------


def test_imports_resolve_to_this_repository():
    import csv

    assert Path(stream.readers.__file__).resolve().is_relative_to(REPO)
    assert not Path(csv.__file__).resolve().is_relative_to(REPO)  # no stdlib shadowing
    assert hasattr(csv, "reader")


# -- ARFF: layout ------------------------------------------------------------------------


def test_dense_mulan_with_same_stem_xml(tmp_path):
    path = write(tmp_path / "data.arff", DENSE)
    write(tmp_path / "data.xml", xml(["Class1", "Class2"]))
    reader = open_stream(path)
    assert reader.format == "arff" and reader.path == str(path)
    assert reader.label_names == ["Class1", "Class2"]
    assert reader.feature_names == ["Att1", "Att2"]
    assert reader.sparse is False
    assert reader.n_read == 0 and reader.line == 0
    assert records(reader) == [
        ({"Att1": 0.5, "Att2": 1.5}, {"Class1": True, "Class2": False}),
        ({"Att1": -1.0, "Att2": 0.002}, {"Class1": False, "Class2": True}),
        ({"Att1": 3.0, "Att2": 4.0}, {"Class1": False, "Class2": False}),
    ]
    assert reader.n_read == 3 and reader.n_bad == 0 and reader.bad == []
    assert reader.line == 14


def test_reiterating_reopens_and_resets_counts(tmp_path):
    path = write(tmp_path / "data.arff", DENSE.replace("3,4,0,0", "3,x,0,0"))
    write(tmp_path / "data.xml", xml(["Class1", "Class2"]))
    reader = open_stream(path, skip_bad=True)
    first = records(reader)
    assert (reader.n_read, reader.n_bad) == (2, 1)
    assert records(reader) == first
    assert (reader.n_read, reader.n_bad, len(reader.bad)) == (2, 1, 1)
    it = iter(reader)
    next(it)
    assert reader.n_read == 1 and reader.line == 10


def test_meka_c_positive_and_negative(tmp_path):
    head = (
        "@relation 'Scene: -C {c} -R'\n"
        "@attribute a {{0,1}}\n"
        "@attribute b numeric\n"
        "@attribute c {{0,1}}\n"
        "@data\n"
        "1,{b},0\n"
    )
    first = ArffReader(write(tmp_path / "p" / "f.arff", head.format(c=1, b=2)))
    assert first.label_names == ["a"] and first.feature_names == ["b", "c"]
    assert records(first) == [({"b": 2.0, "c": 0.0}, {"a": True})]
    assert first.label_source == "-C 1"
    last = ArffReader(write(tmp_path / "n" / "f.arff", head.format(c=-2, b=1)))
    assert last.label_names == ["b", "c"] and last.feature_names == ["a"]
    assert records(last) == [({"a": 1.0}, {"b": True, "c": False})]


def test_labels_argument_both_signs_and_over_c(tmp_path):
    path = write(
        tmp_path / "f.arff",
        "@relation 'x: -C 1'\n@attribute a {0,1}\n@attribute b {0,1}\n"
        "@attribute c numeric\n@data\n1,0,5\n",
    )
    assert open_stream(path, labels=2).label_names == ["a", "b"]
    assert open_stream(path, labels=-1).label_names == ["c"]
    assert open_stream(path).label_names == ["a"]
    with pytest.raises(LabelLayoutError, match="labels=5"):
        open_stream(path, labels=5)
    with pytest.raises(LabelLayoutError):
        open_stream(path, labels=0)


def test_xml_wins_over_stale_c(tmp_path):
    # like medical.arff: the relation says -C 2 (first two) but the XML names the last two
    text = (
        "@relation 'MEDC: -C 2 -I 0-weka.filters'\n"
        "@attribute t0 {0,1}\n"
        "@attribute t1 {0,1}\n"
        "@attribute C0 {0,1}\n"
        "@attribute C1 {0,1}\n"
        "@data\n"
        "{0 1,3 1}\n"
    )
    path = write(tmp_path / "medical.arff", text)
    write(tmp_path / "medical.xml", xml(["C0", "C1"]))
    reader = open_stream(path)
    assert reader.label_names == ["C0", "C1"]
    assert reader.label_source.endswith("medical.xml")
    assert records(reader) == [({"t0": 1.0}, {"C0": False, "C1": True})]


def test_only_xml_in_folder_and_gz_suffix(tmp_path):
    path = write(tmp_path / "scene-train.arff.gz", DENSE, gz=True)
    write(tmp_path / "scene.xml", xml(["Class1", "Class2"]))
    reader = open_stream(path)
    assert reader.label_names == ["Class1", "Class2"]
    assert len(records(reader)) == 3


def test_folder_xml_that_does_not_fit_falls_back_to_c(tmp_path):
    # like Scene-meka.arff.gz beside Mulan's scene.xml (other label names)
    text = (
        "@relation 'Scene: -C 1'\n@attribute beach {0,1}\n@attribute Att1 numeric\n@data\n1,0.5\n"
    )
    path = write(tmp_path / "Scene-meka.arff.gz", text, gz=True)
    write(tmp_path / "scene.xml", xml(["Beach"]))
    reader = open_stream(path)
    assert reader.label_names == ["beach"] and reader.label_source == "-C 1"
    # and without -C the error tells why the XML was not used
    write(tmp_path / "Scene-meka.arff.gz", text.replace("-C 1", ""), gz=True)
    with pytest.raises(LabelLayoutError, match="Beach"):
        open_stream(path)


def test_same_stem_xml_naming_a_missing_label(tmp_path):
    path = write(tmp_path / "data.arff", DENSE)
    write(tmp_path / "data.xml", xml(["Class1", "Class9"]))
    with pytest.raises(LabelLayoutError, match="'Class9'.*not an attribute"):
        open_stream(path)


def test_no_layout_says_what_to_pass(tmp_path):
    path = write(tmp_path / "data.arff", DENSE)
    with pytest.raises(LabelLayoutError) as info:
        open_stream(path)
    message = str(info.value)
    for hint in ("--label-file", "--labels N", "label_file=", "labels="):
        assert hint in message
    assert str(path) in message


def test_label_file_wins_and_nested_hierarchy(tmp_path):
    path = write(tmp_path / "data.arff", DENSE)
    write(tmp_path / "data.xml", xml(["Class1", "Class2"]))
    nested = write(
        tmp_path / "other" / "h.xml",
        '<labels xmlns="http://mulan.sourceforge.net/labels"><label name="Class2">'
        '<label name="Att2"/></label></labels>',
    )
    reader = open_stream(path, label_file=nested)
    assert reader.label_names == ["Att2", "Class2"]  # attribute order
    assert reader.feature_names == ["Att1", "Class1"]
    with pytest.raises(FileNotFoundError):
        open_stream(path, label_file=tmp_path / "missing.xml")
    bad = write(tmp_path / "other" / "bad.xml", "<labels><label name='x'>")
    with pytest.raises(LabelLayoutError, match="bad.xml"):
        open_stream(path, label_file=bad)


def test_quoted_and_escaped_names_match_xml_entities(tmp_path):
    text = (
        "@RELATION birds\n"
        "@ATTRIBUTE 'audio ssd' NUMERIC\n"
        "@attribute \"loc\" {'a b', c}\n"
        "@attribute 'Swainson\\'s Thrush' {0,1}\n"
        "@attribute 'Hammond\\'s \"F\"'\t{0,1}\n"
        "@DATA\n"
        "1.5,'a b',1,0\n"
        "2,c,0,1\n"
    )
    path = write(tmp_path / "birds.arff", text)
    write(
        tmp_path / "birds.xml",
        xml(["Swainson&apos;s Thrush", "Hammond\\'s &quot;F&quot;"]),
    )
    reader = open_stream(path)
    assert reader.feature_names == ["audio ssd", "loc"]
    assert reader.label_names == ["Swainson's Thrush", 'Hammond\'s "F"']
    assert records(reader) == [
        ({"audio ssd": 1.5, "loc": 0.0}, {"Swainson's Thrush": True, 'Hammond\'s "F"': False}),
        ({"audio ssd": 2.0, "loc": 1.0}, {"Swainson's Thrush": False, 'Hammond\'s "F"': True}),
    ]


def test_read_label_xml_decodes_entities(tmp_path):
    path = write(tmp_path / "l.xml", xml(["a&amp;b", "c&lt;d", "e&#39;f"]))
    assert read_label_xml(path) == ["a&b", "c<d", "e'f"]


# -- ARFF: values ------------------------------------------------------------------------


def test_sparse_rows(tmp_path):
    reader = open_stream(write(tmp_path / "s.arff", SPARSE))
    assert reader.sparse is True
    assert reader.label_names == ["L1", "L2"]
    assert records(reader) == [
        ({"w0": 2.5}, {"L1": True, "L2": False}),
        ({"w1": 1.0, "w2": 0.0}, {"L1": False, "L2": True}),
        ({}, {"L1": False, "L2": False}),
        ({"w2": 7.0}, {"L1": True, "L2": True}),
    ]


def test_sparse_nominal_whose_zero_value_is_not_zero(tmp_path):
    text = (
        "@relation 'r: -C 1'\n"
        "@attribute L {0,1}\n"
        "@attribute yn {YES,NO}\n"
        "@attribute v numeric\n"
        "@data\n"
        "{0 1}\n"
        "{2 3,1 NO}\n"
    )
    assert records(open_stream(write(tmp_path / "s.arff", text))) == [
        ({"yn": 1.0}, {"L": True}),  # absent = first declared value = YES
        ({"v": 3.0, "yn": 0.0}, {"L": False}),
    ]


def test_missing_values_and_nominal_features(tmp_path):
    text = (
        "@relation 'r: -C -2'\n"
        "@attribute num numeric\n"
        "@attribute colour {red, green, blue}\n"
        "@attribute present {YES, NO}\n"
        "@attribute flag {1,0}\n"
        "@attribute int integer\n"
        "@attribute L1 {0,1}\n@attribute L2 {NO,YES}\n"
        "@data\n"
        "?, blue, NO, 1, 3, 1, YES\n"
        "1.5,?,YES,0,?,?,NO\n"
        "2,red,?,?,4,0,no\n"
    )
    reader = open_stream(write(tmp_path / "n.arff", text))
    assert reader.feature_names == ["num", "colour", "present", "flag", "int"]
    assert records(reader) == [
        ({"colour": 2.0, "present": 0.0, "flag": 1.0, "int": 3.0}, {"L1": True, "L2": True}),
        ({"num": 1.5, "present": 1.0, "flag": 0.0}, {"L1": False, "L2": False}),
        ({"num": 2.0, "colour": 0.0, "int": 4.0}, {"L1": False, "L2": False}),
    ]


def test_tolerant_label_values_and_rows_without_labels(tmp_path):
    text = (
        "@relation 'r: -C -3'\n"
        "@attribute f numeric\n"
        "@attribute a {0,1}\n"
        "@attribute b numeric\n"
        "@attribute c {false,true}\n"
        "@data\n"
        "1,1.0,0.0,true\n"
        "2,0,0,false\n"
        "3,YES,1,True\n"
    )
    assert [y for _, y in open_stream(write(tmp_path / "t.arff", text))] == [
        {"a": True, "b": False, "c": True},
        {"a": False, "b": False, "c": False},
        {"a": True, "b": True, "c": True},
    ]


def test_non_binary_label_is_a_layout_error(tmp_path):
    text = "@relation 'r: -C 1'\n@attribute a {x,y,z}\n@attribute f numeric\n@data\nx,1\n"
    with pytest.raises(LabelLayoutError, match="binary"):
        open_stream(write(tmp_path / "t.arff", text))


def test_case_insensitive_keywords_crlf_tabs(tmp_path):
    text = (
        "%c\r\n@RELATION r\r\n\r\n@Attribute\tf\tREAL\r\n"
        "@ATTRIBUTE l\t{0,1}\r\n@Data\r\n1,1\r\n\r\n"
    )
    reader = open_stream(write(tmp_path / "t.arff", text), labels=-1)
    assert records(reader) == [({"f": 1.0}, {"l": True})]


def test_string_attributes_are_left_out(tmp_path, caplog):
    text = (
        "@relation 'r: -C 1'\n"
        "@attribute l {0,1}\n"
        "@attribute id string\n"
        "@attribute d date 'yyyy'\n"
        "@attribute f numeric\n"
        "@data\n"
        "1,'row one',2001,4\n"
    )
    with caplog.at_level(logging.WARNING):
        reader = open_stream(write(tmp_path / "t.arff", text))
    assert "string/date" in caplog.text
    assert reader.feature_names == ["f"]
    assert records(reader) == [({"f": 4.0}, {"l": True})]


def test_gzip_by_magic_bytes_without_suffix(tmp_path):
    path = write(tmp_path / "data.arff", DENSE, gz=True)  # gzip content, plain name
    write(tmp_path / "data.xml", xml(["Class1", "Class2"]))
    assert len(records(open_stream(path))) == 3


@pytest.mark.parametrize(
    "header",
    [
        "@relation r\n@attribute a numeric\n",  # no @data
        "@relation r\n@data\n1\n",  # no attribute
        "@relation r\n@attribute a numeric\n@attribute a numeric\n@data\n",  # duplicate
        "@relation r\n@attribute a widget\n@data\n",  # unknown type
        "@relation r\n@attribute a relational\n@data\n",
        "@relation r\n1,2\n@data\n",
    ],
)
def test_bad_headers(tmp_path, header):
    with pytest.raises(StreamError):
        open_stream(write(tmp_path / "h.arff", header), labels=1)


# -- ARFF: malformed records -------------------------------------------------------------

MALFORMED_HEAD = (
    "@relation 'r: -C -1'\n"  # line 1
    "@attribute Att1 numeric\n"
    "@attribute Att2 numeric\n"
    "@attribute colour {red,blue}\n"
    "@attribute L {0,1}\n"  # line 5
    "@data\n"  # line 6
    "1,2,red,1\n"  # line 7: good
)


@pytest.mark.parametrize(
    "row, reason",
    [
        ("1,2,red", "expected 4 values, got 3"),
        ("1,2,red,1,5", "expected 4 values, got 5"),
        ("1,abc,red,1", "attribute 'Att2' (column 2): 'abc' is not a number"),
        ("nan,2,red,1", "attribute 'Att1' (column 1): 'nan' is not a finite number"),
        ("1,-inf,red,1", "'-inf' is not a finite number"),
        (
            "1,2,green,1",
            "attribute 'colour' (column 3): 'green' is not one of its declared values {red, blue}",
        ),
        ("1,2,red,2", "label 'L' (column 4): '2' is not 0 or 1"),
        ("1,,red,1", "attribute 'Att2' (column 2): '' is not a number"),
        ("{0 1,9 1}", "sparse index 9 is out of range"),
        ("{0 1,-1 1}", "sparse index -1 is out of range"),
        ("{0 1,x 1}", "sparse index 'x' is not an integer"),
        ("{0 1,1}", "sparse entry '1' has no value"),
        ("{0 1,3 1", "unbalanced braces"),
        ("{0 1,{3 1}", "unbalanced braces"),
        ("0 1,3 1}", "unbalanced braces"),
        ("{0 nan}", "'nan' is not a finite number"),
        ("1,2,'red,1", "unterminated quote"),
    ],
)
def test_malformed_rows_name_file_line_and_reason(tmp_path, row, reason):
    path = write(tmp_path / "bad.arff", MALFORMED_HEAD + row + "\n1,2,blue,0\n")
    reader = open_stream(path)
    it = iter(reader)
    assert next(it) == ({"Att1": 1.0, "Att2": 2.0, "colour": 0.0}, {"L": True})
    with pytest.raises(MalformedRecordError) as info:
        next(it)
    err = info.value
    assert err.source == str(path) and err.position == 8
    assert reason in err.reason
    assert str(err).startswith(f"{path}, line 8: ")


def test_skip_bad_counts_keeps_and_logs(tmp_path, caplog):
    rows = ["1,x,red,1", "3,4,blue,0", "{0 1,99 1}", "{2 blue}"]
    path = write(tmp_path / "bad.arff", MALFORMED_HEAD + "\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING, logger="stream.readers"):
        reader = open_stream(path, skip_bad=True)
        got = records(reader)
    assert got == [
        ({"Att1": 1.0, "Att2": 2.0, "colour": 0.0}, {"L": True}),
        ({"Att1": 3.0, "Att2": 4.0, "colour": 1.0}, {"L": False}),
        ({"colour": 1.0}, {"L": False}),
    ]
    assert reader.n_read == 3 and reader.n_bad == 2
    assert [e.position for e in reader.bad] == [8, 10]
    assert all(isinstance(e, MalformedRecordError) for e in reader.bad)
    assert "bad.arff, line 8" in caplog.text and "line 10" in caplog.text
    assert "skipped 2 malformed" in caplog.text
    # the errors survive pickling (a dead-letter queue may ship them)
    assert str(pickle.loads(pickle.dumps(reader.bad[0]))) == str(reader.bad[0])


def test_skip_bad_keeps_only_the_first_100(tmp_path):
    path = write(tmp_path / "bad.arff", MALFORMED_HEAD + "x,1,red,1\n" * 150)
    reader = open_stream(path, skip_bad=True)
    assert records(reader) == [({"Att1": 1.0, "Att2": 2.0, "colour": 0.0}, {"L": True})]
    assert reader.n_bad == 150 and len(reader.bad) == 100


def test_fast_path_never_accepts_what_the_careful_path_refuses(tmp_path):
    # quoted tokens, blanks and '?' take the careful path and must give the same records
    text = MALFORMED_HEAD + "'1', 2 ,'red',1\n 1,2, red, 1\n{0 '1',2 red}\n"
    reader = open_stream(write(tmp_path / "q.arff", text))
    got = records(reader)
    assert got[1] == got[2] == got[0]
    assert got[3] == ({"Att1": 1.0, "colour": 0.0}, {"L": False})


# -- LIBSVM ------------------------------------------------------------------------------


def test_libsvm_with_header(tmp_path):
    text = "3 10 5\n0,4 1:0.5 7:2\n 3:1\n2 0:-1.5 # comment\n"
    reader = open_stream(write(tmp_path / "train.txt", text))
    assert reader.format == "libsvm" and reader.sparse is True
    assert reader.label_names is None and reader.header == (3, 10, 5)
    assert records(reader) == [
        ({"f1": 0.5, "f7": 2.0}, {"0": True, "4": True}),
        ({"f3": 1.0}, {}),
        ({"f0": -1.5}, {"2": True}),
    ]
    assert reader.line == 4


def test_libsvm_without_header_and_gz(tmp_path):
    path = write(tmp_path / "data.svm.gz", "1,2 3:1 qid:4 5:0\n-1 1:2\n\n4:1\n", gz=True)
    reader = open_stream(path)
    assert reader.header is None
    assert records(reader) == [
        ({"f3": 1.0, "f5": 0.0}, {"1": True, "2": True}),
        ({"f1": 2.0}, {"-1": True}),
        ({"f4": 1.0}, {}),
    ]


def test_txt_without_header_is_not_guessed(tmp_path):
    path = write(tmp_path / "notes.txt", "1 1:2\n")
    with pytest.raises(StreamError, match="N D L"):
        open_stream(path)
    assert records(open_stream(path, format="libsvm")) == [({"f1": 2.0}, {"1": True})]


@pytest.mark.parametrize(
    "row, reason",
    [
        ("1 3:x", "feature 'f3': 'x' is not a number"),
        ("1 3:nan", "'nan' is not a finite number"),
        ("1 3", "'3' is not an index:value pair"),
        ("1 a:1", "feature index 'a'"),
        ("1 -2:1", "feature index '-2'"),
        ("1 99:1", "feature index 99 is out of range"),
        ("1,,2 1:1", "empty label id"),
        ("77 1:1", "label id '77' is out of range"),
    ],
)
def test_libsvm_malformed(tmp_path, row, reason):
    path = write(tmp_path / "x.libsvm", f"2 10 5\n1 1:1\n{row}\n")
    reader = open_stream(path)
    with pytest.raises(MalformedRecordError) as info:
        records(reader)
    assert info.value.position == 3 and reason in info.value.reason
    skipping = open_stream(path, skip_bad=True)
    assert len(records(skipping)) == 1 and skipping.n_bad == 1


# -- JSONL -------------------------------------------------------------------------------


def test_jsonl_dict_and_list_features(tmp_path):
    text = (
        '{"id": 17, "features": {"a": 1, "b": -2.5}, "labels": ["sky", 3]}\n'
        "\n"
        '{"features": [0.5, null, 2], "labels": [], "extra": "ignored"}\n'
    )
    reader = open_stream(write(tmp_path / "s.ndjson", text))
    assert reader.format == "jsonl" and reader.label_names is None and reader.sparse is False
    it = iter(reader)
    assert next(it) == ({"a": 1.0, "b": -2.5}, {"sky": True, "3": True})
    assert reader.last_id == 17 and reader.line == 1
    assert next(it) == ({"0": 0.5, "2": 2.0}, {})
    assert reader.last_id is None and reader.line == 3


@pytest.mark.parametrize(
    "line, reason",
    [
        ('{"features": {"a": true}, "labels": []}', "feature 'a': True is not a number"),
        ('{"features": {"a": NaN}, "labels": []}', "not a finite number"),
        ('{"features": [Infinity], "labels": []}', "feature '0': inf is not a finite number"),
        ('{"features": {"a": "1"}, "labels": []}', "'1' is not a number"),
        ('{"features": {"a": 1e999}, "labels": []}', "not a finite number"),
        ('{"features": 3, "labels": []}', "'features' must be an object or a list"),
        ('{"features": {}, "labels": "sky"}', "'labels' must be a list"),
        ('{"features": {}, "labels": [1.5]}', "label 1.5 is not a string or an integer"),
        ('{"features": {}, "labels": [true]}', "label True is not"),
        ('{"features": {}}', "no 'labels'"),
        ('{"labels": []}', "no 'features'"),
        ("[1, 2]", "must be a JSON object"),
        ('{"features": {', "not valid JSON"),
    ],
)
def test_jsonl_malformed(tmp_path, line, reason):
    path = write(tmp_path / "s.jsonl", '{"features": {}, "labels": []}\n' + line + "\n")
    with pytest.raises(MalformedRecordError) as info:
        records(open_stream(path))
    assert info.value.position == 2 and reason in info.value.reason
    skipping = JSONLReader(path, skip_bad=True)
    assert len(records(skipping)) == 1 and skipping.n_bad == 1


@pytest.mark.parametrize(
    "unknown, reason",
    [
        ('"sea"', "'unknown' must be a list of labels, got str"),
        ('{"sea": 1}', "'unknown' must be a list"),
        ('[1.5]', "unknown label 1.5 is not a string or an integer"),
        ('[true]', "unknown label True is not"),
        ('[null]', "unknown label None is not"),
        ('[""]', "an unknown label is the empty string"),
        ('["sea", "sea"]', "label 'sea' is named twice in 'unknown'"),
        ('["7", 7]', "label '7' is named twice in 'unknown'"),
        ('["sky"]', "label 'sky' is both in 'labels' and in 'unknown'"),
        ('[3]', "label '3' is both in 'labels' and in 'unknown'"),
    ],
)
def test_jsonl_bad_unknown_names_file_line_and_problem(tmp_path, unknown, reason):
    line = '{"features": {"a": 1}, "labels": ["sky", 3], "unknown": ' + unknown + "}"
    path = write(tmp_path / "s.jsonl", '{"features": {}, "labels": []}\n' + line + "\n")
    with pytest.raises(MalformedRecordError) as info:
        records(open_stream(path))
    assert info.value.position == 2 and reason in info.value.reason
    assert str(path) in str(info.value) and "line 2" in str(info.value)
    skipping = JSONLReader(path, skip_bad=True)
    assert len(records(skipping)) == 1 and skipping.n_bad == 1


def test_jsonl_unknown_labels_map_to_none(tmp_path):
    path = write(tmp_path / "s.jsonl",
                 '{"features": {"a": 1}, "labels": ["sky"], "unknown": ["sea", 4]}\n'
                 '{"features": {"a": 2}, "labels": ["sea"], "unknown": []}\n'
                 '{"features": {"a": 3}, "labels": [], "unknown": null}\n')
    assert records(open_stream(path)) == [
        ({"a": 1.0}, {"sky": True, "sea": None, "4": None}),
        ({"a": 2.0}, {"sea": True}),
        ({"a": 3.0}, {}),
    ]


def test_decode_record_is_reusable():
    assert decode_record({"features": [1], "labels": ["a"], "id": "k"}) == (
        {"0": 1.0},
        {"a": True},
        "k",
    )
    with pytest.raises(InvalidRecord, match="not a number") as info:
        decode_record({"features": {"a": "x"}, "labels": []})
    assert isinstance(info.value, ValueError)


# -- CSV ---------------------------------------------------------------------------------

CSV = "a,b,sky,sea\n1,2,1,0\n,3.5,true,FALSE\n4,?,0,\n"


def test_csv_label_columns_and_counts(tmp_path):
    path = write(tmp_path / "d.csv", CSV)
    expected = [
        ({"a": 1.0, "b": 2.0}, {"sky": True, "sea": False}),
        ({"b": 3.5}, {"sky": True, "sea": False}),
        ({"a": 4.0}, {"sky": False, "sea": False}),
    ]
    by_name = open_stream(path, label_columns=["sky", "sea"])
    assert by_name.format == "csv" and by_name.label_names == ["sky", "sea"]
    assert by_name.feature_names == ["a", "b"]
    assert records(by_name) == expected
    assert records(open_stream(path, labels=-2)) == expected
    first = open_stream(path, labels=1)
    assert first.label_names == ["a"] and first.feature_names == ["b", "sky", "sea"]


def test_csv_layout_errors(tmp_path):
    path = write(tmp_path / "d.csv", CSV)
    with pytest.raises(LabelLayoutError, match="label_columns"):
        open_stream(path)
    with pytest.raises(LabelLayoutError, match="'land'"):
        open_stream(path, label_columns=["land"])
    with pytest.raises(LabelLayoutError):
        open_stream(path, labels=9)


@pytest.mark.parametrize(
    "row, reason",
    [
        ("1,2,1", "expected 4 cells, got 3"),
        ("1,x,1,0", "column 'b' (2): 'x' is not a number"),
        ("inf,1,1,0", "'inf' is not a finite number"),
        ("1,1,2,0", "label 'sky' (3): '2' is not 0 or 1"),
        ("1," + "9" * 140_000 + ",1,0", "unreadable CSV row: field larger than field limit"),
    ],
)
def test_csv_malformed(tmp_path, row, reason):
    path = write(tmp_path / "d.csv.gz", CSV + row + "\n", gz=True)
    with pytest.raises(MalformedRecordError) as info:
        records(open_stream(path, labels=-2))
    assert info.value.position == 5 and reason in info.value.reason
    skipping = CSVReader(path, labels=-2, skip_bad=True)
    assert len(records(skipping)) == 3 and skipping.n_bad == 1


# -- open_stream -------------------------------------------------------------------------


def test_detect_format(tmp_path):
    assert detect_format("a/b.ARFF") == "arff"
    assert detect_format("a/b.arff.gz") == "arff"
    assert detect_format("b.libsvm") == detect_format("b.svm.gz") == "libsvm"
    assert detect_format("b.jsonl") == detect_format("b.ndjson") == "jsonl"
    assert detect_format("b.csv.gz") == "csv"
    with pytest.raises(StreamError, match="format="):
        detect_format("b.parquet")


def test_open_stream_format_override_and_bad_arguments(tmp_path):
    path = write(tmp_path / "records.log", '{"features": [1], "labels": ["a"]}\n')
    assert records(open_stream(path, format="jsonl")) == [({"0": 1.0}, {"a": True})]
    with pytest.raises(ValueError, match="labels= does not apply"):
        open_stream(path, format="jsonl", labels=2)
    with pytest.raises(ValueError, match="unknown format"):
        open_stream(path, format="parquet")
    arff = write(tmp_path / "d.arff", DENSE)
    with pytest.raises(ValueError, match="label_columns="):
        open_stream(arff, labels=-2, label_columns=["Class1"])
    assert isinstance(open_stream(arff, labels=-2), ArffReader)
    assert isinstance(open_stream(write(tmp_path / "x.libsvm", "1 1:1\n")), LibSVMReader)


def test_open_is_cheap_and_lazy(tmp_path):
    # opening parses the header only: a broken row far down does not stop open_stream
    path = write(tmp_path / "big.arff", MALFORMED_HEAD + "1,2,red,1\n" * 1000 + "oops\n")
    reader = open_stream(path)
    assert reader.n_read == 0
    with pytest.raises(MalformedRecordError):
        for _ in reader:
            pass
    assert reader.n_read == 1001 and math.isclose(reader.line, 1007)


def test_no_file_handle_left_open(tmp_path):
    path = write(tmp_path / "d.arff", DENSE)
    reader = open_stream(path, labels=-2)
    it = iter(reader)
    next(it)
    it.close()  # an abandoned pass closes its file
    assert os.path.exists(path)


def test_explicit_labels_win_over_the_xml_with_a_warning(tmp_path, caplog):
    path = write(tmp_path / "data.arff", DENSE)
    write(tmp_path / "data.xml", xml(["Class1", "Class2"]))
    with caplog.at_level(logging.WARNING):
        reader = open_stream(path, labels=1)
    assert reader.label_names == ["Att1"] and "names other labels" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert open_stream(path, labels=-2).label_names == ["Class1", "Class2"]
    assert caplog.text == ""


def test_unquoted_question_mark_is_missing_even_if_declared(tmp_path):
    text = (
        "@relation 'r: -C 1'\n@attribute L {0,1}\n@attribute q {'?', a}\n@data\n1,?\n1,'?'\n1,a\n"
    )
    assert [x for x, _ in open_stream(write(tmp_path / "q.arff", text))] == [
        {},
        {"q": 0.0},
        {"q": 1.0},
    ]
