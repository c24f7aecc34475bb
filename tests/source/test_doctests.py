"""The examples in the source modules' docstrings are run, so they cannot rot."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "patchsync.source.rpmvercmp",
    "patchsync.source.index",
    "patchsync.source.discover",
    "patchsync.source.http",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0
