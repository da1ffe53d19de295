"""`stream`, `learners`, `drift` and `connectors` are generic names: they must be ours."""

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["stream", "learners", "drift", "connectors"])
def test_top_level_package_resolves_to_this_repository(name):
    module = importlib.import_module(name)
    assert Path(module.__file__).resolve().parent == ROOT / name
