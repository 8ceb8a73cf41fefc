"""The examples in the core's docstrings run and print what they claim."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "lesson",
    "lesson.core.schema",
    "lesson.core.model",
    "lesson.core.service",
    "lesson.original_api",
    "lesson.patterns.streaming.events",
    "lesson.loadtest",
    "lesson.core.stats",
    "lesson.core.generative",
    "lesson.core.safetensors",
    "lesson.models.lm",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    failures, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert failures == 0
