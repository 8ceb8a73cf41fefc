"""The examples in the engine's and the n-gram model's docstrings run and print what they claim."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "lesson.models.ngram",
    "lesson.patterns.generative.sampling",
    "lesson.patterns.generative.engine",
    "lesson.patterns.generative.async_engine",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    failures, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert failures == 0 and tried > 0
