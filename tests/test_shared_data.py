"""Every ARFF file of the shared benchmark data reads as its MANIFEST.md says.

The data lives beside the checkout (``../shared/data``); set ``LABELSTREAM_DATA`` to read
it from elsewhere. Without it these tests skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stream.readers import ArffReader, open_stream

DATA = Path(
    os.environ.get("LABELSTREAM_DATA")
    or Path(__file__).resolve().parents[1].parent / "shared" / "data"
)
MANIFEST = DATA / "MANIFEST.md"
MISSING = (
    f"shared benchmark data not found at {DATA} (expected ../shared/data beside the "
    "checkout, or set LABELSTREAM_DATA to the folder holding MANIFEST.md)"
)


def manifest_rows() -> dict[str, dict[str, str]]:
    """The rows of MANIFEST.md's tables that describe an ARFF file, by file path."""
    rows: dict[str, dict[str, str]] = {}
    columns: list[str] | None = None
    for line in MANIFEST.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            columns = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if columns is None:
            columns = cells
        elif set(line) <= set("|-: "):
            continue
        else:
            row = dict(zip(columns, cells))
            if ".arff" in row.get("file", ""):
                rows[row["file"]] = row
    return rows


def arff_files() -> list:
    if not MANIFEST.is_file():
        return [pytest.param(None, marks=pytest.mark.skip(reason=MISSING))]
    return sorted(str(p.relative_to(DATA)) for p in DATA.glob("*/*.arff*"))


@pytest.fixture(scope="module")
def manifest():
    if not MANIFEST.is_file():
        pytest.skip(MISSING)
    return manifest_rows()


def read_all(reader):
    n = positives = no_label = 0
    for _, y in reader:
        count = sum(y.values())
        n += 1
        positives += count
        no_label += count == 0
    return n, positives, no_label


@pytest.mark.parametrize("name", arff_files())
def test_arff_matches_manifest(manifest, name):
    assert name in manifest, f"{name} is in the data folder but not in MANIFEST.md"
    row = manifest[name]
    reader = open_stream(DATA / name)
    assert reader.format == "arff"
    assert len(reader.label_names) == int(row["labels"])
    assert len(reader.feature_names) == int(row["features"])
    assert reader.sparse == ("sparse" in row["format"])
    n, positives, no_label = read_all(reader)
    assert reader.n_read == n == int(row["instances"])
    assert reader.n_bad == 0
    if row.get("cardinality"):
        assert round(positives / n, 4) == pytest.approx(float(row["cardinality"]), abs=1e-9)
    if row.get("rows w/o labels"):
        assert no_label == int(row["rows w/o labels"])
    # labels are where the manifest says: the first or the last attributes
    names = [a.name for a in reader.attributes]
    k = len(reader.label_names)
    where = names[:k] if row["label pos"] == "first" else names[-k:]
    assert sorted(where) == sorted(reader.label_names)


def test_birds_rows_without_labels(manifest):
    reader = open_stream(DATA / "birds" / "birds.arff")
    assert read_all(reader)[2] == 294
    assert "Swainson's Thrush" in reader.label_names  # 'Swainson\'s Thrush' unescaped


def test_medical_xml_wins_over_stale_c(manifest):
    reader = open_stream(DATA / "medical" / "medical.arff")
    assert "-C 45" in reader.relation
    assert reader.label_source.endswith("medical.xml")
    assert reader.label_names == [a.name for a in reader.attributes[-45:]]


def test_meka_and_mulan_enron_hold_the_same_records(manifest):
    meka = open_stream(DATA / "enron" / "Enron-meka.arff")
    mulan = open_stream(DATA / "enron" / "enron.arff")
    assert sorted(meka.label_names) == sorted(mulan.label_names)
    assert [a.name for a in meka.attributes[:53]] != [a.name for a in mulan.attributes[:53]]
    for (x1, y1), (x2, y2) in zip(meka, mulan, strict=True):
        assert x1 == x2 and y1 == y2


def test_scene_meka_gz_is_train_then_test(manifest):
    meka = ArffReader(DATA / "scene" / "Scene-meka.arff.gz")
    assert meka.label_source == "-C 6"  # the folder's scene.xml names other labels (Beach, ...)
    mulan = [open_stream(DATA / "scene" / f"scene-{part}.arff") for part in ("train", "test")]
    rename = dict(zip(meka.label_names, mulan[0].label_names))
    assert rename == {
        "beach": "Beach",
        "sunset": "Sunset",
        "foliage": "FallFoliage",
        "field": "Field",
        "mountain": "Mountain",
        "urban": "Urban",
    }
    pairs = zip(meka, (rec for part in mulan for rec in part), strict=True)
    for (x1, y1), (x2, y2) in pairs:
        assert x1 == x2
        assert {rename[k]: v for k, v in y1.items()} == y2


def test_clean_real_files_stay_on_the_fast_path(manifest, monkeypatch):
    # a speed guard that does not depend on the machine: no clean record of these
    # files needs the careful (slow) parser
    def refuse(self, line):
        raise AssertionError(f"careful path taken for {line[:60]!r}")

    monkeypatch.setattr(ArffReader, "_parse_careful", refuse)
    for name in (
        "yeast/yeast.arff",
        "genbase/genbase.arff",
        "medical/medical.arff",
        "flags/flags.arff",
    ):
        reader = open_stream(DATA / name)
        assert sum(1 for _ in reader) == reader.n_read > 0
