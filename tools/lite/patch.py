"""Shared by the patches of the built JupyterLite: anchored edits and JavaScript files.

The JavaScript the build adds lives in ``.mjs``/``.js`` files beside the module that uses it;
values known only at build time are JavaScript identifiers ``__NAME__`` in the file, each
replaced by a JSON literal (:func:`js_source`).
"""

from __future__ import annotations

import json
from pathlib import Path


def apply_edits(text: str, edits: list[tuple[str, str]], name: str, owner: str) -> str:
    """Replace each anchor of ``edits`` in ``text``; stop the build unless each occurs exactly once.

    Args:
        name: the file, for the error message.
        owner: the module holding the edits, for the error message.
    """
    for anchor, replacement in edits:
        if text.count(anchor) != 1:
            raise SystemExit(f"{name}: the patch no longer fits (anchor {anchor!r} found "
                             f"{text.count(anchor)} times): the kernel extension changed, "
                             f"update {owner}")
        text = text.replace(anchor, replacement)
    return text


def js_source(module_file: str, name: str, **values: object) -> str:
    """The text of the file ``name`` beside ``module_file``, placeholders filled in.

    Args:
        module_file: the calling module's ``__file__``.
        name: the JavaScript file (``worker_helpers.mjs``).
        **values: ``KEY=value`` replaces the one ``__KEY__`` in the file by ``json.dumps(value)``.
    """
    path = Path(module_file).with_name(name)
    text = path.read_text()
    for key, value in values.items():
        token = f"__{key}__"
        if text.count(token) != 1:
            raise SystemExit(f"{path}: expected the placeholder {token} once, found it "
                             f"{text.count(token)} times")
        text = text.replace(token, json.dumps(value))
    return text
