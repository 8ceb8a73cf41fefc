"""ARCHITECTURE.md stays short and its walks match the code.

Every ``path.py:name`` it names (a function, a class, or ``Class.method``) must exist in that
file; every folder in its table must exist.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "ARCHITECTURE.md"
HOP = re.compile(r"`([\w/]+\.py):([\w.]+)`")


def defined_names(path: Path) -> set[str]:
    """Top-level functions and classes, and ``Class.method`` for their methods."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(f"{node.name}.{item.name}")
    return names


def hops(text: str) -> list[tuple[str, str]]:
    return HOP.findall(text)


def test_the_document_is_short():
    assert len(DOC.read_text().splitlines()) <= 150


def test_it_names_hops_to_check():
    assert len(hops(DOC.read_text())) >= 12


def test_every_named_file_and_function_exists():
    missing = []
    for rel, name in hops(DOC.read_text()):
        path = ROOT / rel
        if not path.is_file():
            missing.append(f"{rel} (no such file)")
        elif name not in defined_names(path):
            missing.append(f"{rel}:{name}")
    assert not missing, "ARCHITECTURE.md names what the code does not define: " + ", ".join(missing)


def test_every_folder_in_the_table_exists():
    folders = re.findall(r"^\| `([\w/]+/)` \|", DOC.read_text(), flags=re.M)
    assert folders
    assert [f for f in folders if not (ROOT / "lesson" / f).is_dir()] == []


def test_the_checker_catches_a_wrong_hop(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("class A:\n    def run(self): ...\n\ndef f(): ...\n")
    assert {"A", "A.run", "f"} <= defined_names(module)
    assert "g" not in defined_names(module)
    assert hops("see `lesson/x.py:A.run` then `b.py:f`") == [
        ("lesson/x.py", "A.run"),
        ("b.py", "f"),
    ]
