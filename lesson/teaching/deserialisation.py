"""Why loading a pickle runs code (shown harmlessly), and the safe alternative with checksums.

A pickle is a small program for a stack machine: unpickling can import any callable and call
it. An object's ``__reduce__`` decides which callable, so whoever wrote the file chooses what
your process runs when it loads it. This module shows that with a callable that only appends
a note to :data:`CALL_LOG` — nothing destructive — and then shows the safe path the lesson's
models use: plain JSON files listed with their size and sha256 in a manifest
(:mod:`lesson.core.artifacts`), where an altered file is refused before any of it is used.

Standard library only (runs in the browser)::

    >>> demo = show_pickle_runs_code()
    >>> demo.calls
    ['pickle.loads called lesson.teaching.deserialisation.record_call']
"""

from __future__ import annotations

import json
import pickle
import pickletools
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lesson.core.artifacts import (
    ARTIFACTS_ROOT,
    ArtifactIntegrityError,
    load_artifact,
    sha256_bytes,
)

#: Notes appended by :func:`record_call`: the evidence that unpickling ran code.
CALL_LOG: list[str] = []

DEFAULT_NOTE = "pickle.loads called lesson.teaching.deserialisation.record_call"


def record_call(note: str) -> str:
    """The harmless payload: append ``note`` to :data:`CALL_LOG` and return a short text."""
    CALL_LOG.append(str(note))
    return f"record_call ran: {note}"


class RunsCodeWhenUnpickled:
    """An object whose pickle, when loaded, calls :func:`record_call` instead of rebuilding it.

    A real attacker would return ``(os.system, ("...",))`` here; this one only records a note.
    """

    def __init__(self, note: str = DEFAULT_NOTE) -> None:
        self.note = note

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (record_call, (self.note,))


def booby_trapped_pickle(note: str = DEFAULT_NOTE) -> bytes:
    """Bytes that look like any saved model file but call :func:`record_call` when loaded."""
    return pickle.dumps(RunsCodeWhenUnpickled(note))


def callables_in_pickle(data: bytes) -> list[str]:
    """The ``module.name`` globals a pickle imports, read WITHOUT loading it (``pickletools``).

    Handy to look inside a file; it is not a defence (an allow-list of "safe" globals is easy
    to get wrong). The defence is not to unpickle data you did not produce.
    """
    found: list[str] = []
    strings: list[str] = []
    for opcode, arg, _ in pickletools.genops(data):
        if opcode.name in ("GLOBAL", "INST"):
            found.append(str(arg).replace(" ", "."))
        elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
            found.append(f"{strings[-2]}.{strings[-1]}")
        elif isinstance(arg, str):
            strings.append(arg)
    return found


@dataclass(frozen=True)
class PickleDemo:
    """What happened when a booby-trapped pickle was loaded.

    Attributes:
        size_bytes: the pickle's size.
        imports: callables the pickle names (read without loading).
        loaded: what ``pickle.loads`` returned (the callable's return value, not a model).
        calls: notes :func:`record_call` appended during the load.
    """

    size_bytes: int
    imports: list[str]
    loaded: Any
    calls: list[str]

    def to_text(self) -> str:
        """Plain words: what ran, and what came back."""
        ran = "ran code during pickle.loads" if self.calls else "ran no code"
        return (
            f"A {self.size_bytes}-byte pickle names these callables: {', '.join(self.imports)}.\n"
            f"Loading it {ran}: {len(self.calls)} call(s) recorded: {self.calls}.\n"
            f"pickle.loads returned {self.loaded!r} — not an object of the class that was saved."
        )


def show_pickle_runs_code(note: str = DEFAULT_NOTE) -> PickleDemo:
    """Build a booby-trapped pickle, inspect it, load it, and report what ran."""
    data = booby_trapped_pickle(note)
    imports = callables_in_pickle(data)
    before = len(CALL_LOG)
    loaded = pickle.loads(data)  # noqa: S301 - the point of the demonstration; the payload is ours
    return PickleDemo(len(data), imports, loaded, CALL_LOG[before:])


@dataclass(frozen=True)
class TamperDemo:
    """Loading a copy of an artifact before and after one byte of it was changed.

    Attributes:
        label: ``name/version``.
        file: the file that was changed.
        offset: which byte.
        before_sha256, after_sha256: the file's checksum before and after (same size).
        loaded_before: whether the untouched copy loaded and verified.
        error: the :class:`ArtifactIntegrityError` message for the altered copy ("" if none).
    """

    label: str
    file: str
    offset: int
    size_bytes: int
    before_sha256: str
    after_sha256: str
    loaded_before: bool
    error: str

    def to_text(self) -> str:
        """Plain words: what was changed and what loading said."""
        refused = (
            f"refused: {self.error}" if self.error else "ACCEPTED (the check did not catch it)"
        )
        return (
            f"{self.label}: the untouched copy {'loaded and verified' if self.loaded_before else 'did NOT load'}.\n"
            f"Changed 1 byte of {self.file} at offset {self.offset} (size stays {self.size_bytes} bytes; "
            f"sha256 {self.before_sha256[:12]}... -> {self.after_sha256[:12]}...).\n"
            f"Loading the altered copy: {refused}"
        )


def tamper_one_byte(path: Path | str) -> int:
    """Change one digit of a JSON file in place, keeping its size; return the byte's offset."""
    path = Path(path)
    data = bytearray(path.read_bytes())
    for offset in range(len(data) // 2, len(data)):
        if chr(data[offset]).isdigit():
            data[offset] = ord("1") if data[offset] != ord("1") else ord("2")
            path.write_bytes(bytes(data))
            return offset
    raise ValueError(f"{path} has no digit to change in its second half")


def show_tamper_refused(
    workdir: Path | str, name: str = "diabetes-mlp", version: str = "1", file: str = "weights.json"
) -> TamperDemo:
    """Copy a shipped artifact into ``workdir``, load it, change one byte, load it again.

    Args:
        workdir: a directory you own (e.g. a ``tempfile.TemporaryDirectory``); the copy goes
            to ``workdir/<name>/<version>``.
        name, version, file: the artifact and the file to alter.
    """
    target = Path(workdir) / name / version
    shutil.copytree(ARTIFACTS_ROOT / name / version, target)
    load_artifact(name, version, root=workdir)  # raises if even the copy is broken
    before = sha256_bytes((target / file).read_bytes())
    offset = tamper_one_byte(target / file)
    after_bytes = (target / file).read_bytes()
    try:
        load_artifact(name, version, root=workdir)
        error = ""
    except ArtifactIntegrityError as exc:
        error = str(exc)
    return TamperDemo(
        f"{name}/{version}",
        file,
        offset,
        len(after_bytes),
        before,
        sha256_bytes(after_bytes),
        True,
        error,
    )


# ---- a visible effect on load, and the same pickle against the artifact loader ---------------

MARKER_NOTE = "written by pickle.loads: the file's author chose this code"


def write_marker(path: str, note: str = MARKER_NOTE) -> str:
    """The harmless payload with an effect you can see: write ``note`` into ``path``.

    Only ever pointed at a file inside a temporary directory the demonstration created.
    """
    Path(path).write_text(note)
    return f"write_marker wrote {Path(path).name}"


class WritesMarkerWhenUnpickled:
    """An object whose pickle, when loaded, calls :func:`write_marker` (an attacker: ``os.system``)."""

    def __init__(self, path: Path | str, note: str = MARKER_NOTE) -> None:
        self.path = str(path)
        self.note = note

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (write_marker, (self.path, self.note))


@dataclass(frozen=True)
class MarkerDemo:
    """A pickle loaded once: whether the marker file existed before and after ``pickle.loads``."""

    marker: str
    existed_before: bool
    exists_after: bool
    content: str
    imports: list[str]
    loaded: Any

    def to_text(self) -> str:
        """Plain words: the file the load created."""
        return (
            f"Before pickle.loads: {Path(self.marker).name} exists? {self.existed_before}.\n"
            f"The pickle names: {', '.join(self.imports)}.\n"
            f"After pickle.loads: exists? {self.exists_after}; it says {self.content!r}.\n"
            f"pickle.loads returned {self.loaded!r}."
        )


def show_marker_written(workdir: Path | str) -> MarkerDemo:
    """Pickle a :class:`WritesMarkerWhenUnpickled` aimed at ``workdir/marker.txt`` and load it."""
    marker = Path(workdir) / "marker.txt"
    data = pickle.dumps(WritesMarkerWhenUnpickled(marker))
    before = marker.exists()
    loaded = pickle.loads(data)  # noqa: S301 - the point of the demonstration; the payload is ours
    return MarkerDemo(
        str(marker),
        before,
        marker.exists(),
        marker.read_text() if marker.exists() else "",
        callables_in_pickle(data),
        loaded,
    )


@dataclass(frozen=True)
class Attempt:
    """One way of slipping a pickle into an artifact, and what loading it did."""

    attack: str
    refused: bool
    error: str
    marker_written: bool


def _rewrite_manifest(directory: Path, file: str, data: bytes) -> None:
    manifest_path = directory / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"][file] = {
        **manifest["files"][file],
        "sha256": sha256_bytes(data),
        "bytes": len(data),
    }
    manifest_path.write_text(json.dumps(manifest, indent=1))


def show_pickled_artifact_refused(
    workdir: Path | str, name: str = "diabetes-mlp", version: str = "1", file: str = "weights.json"
) -> list[Attempt]:
    """Put a booby-trapped pickle where an artifact's ``file`` belongs, three ways, and load each.

    1. the pickle replaces the file, the manifest is untouched: refused by size and sha256;
    2. the attacker also rewrites the manifest to match: the checksums pass, and the file is
       refused as not JSON (a JSON parser builds lists and numbers; it never calls code);
    3. as 2, but the deployment pinned the manifest's checksum: refused before any file is read.

    Each copy lives under ``workdir``; the marker the pickle would write is ``workdir/marker.txt``.
    The last attempt, for comparison, is ``pickle.loads`` of the same bytes.
    """
    workdir = Path(workdir)
    marker = workdir / "marker.txt"
    payload = pickle.dumps(WritesMarkerWhenUnpickled(marker))
    pinned = sha256_bytes((ARTIFACTS_ROOT / name / version / "manifest.json").read_bytes())
    attacks = [
        ("pickle swapped in, manifest untouched", False, None),
        ("pickle swapped in, manifest rewritten to match", True, None),
        ("both rewritten, manifest checksum pinned at deploy", True, pinned),
    ]
    attempts = []
    for number, (attack, rewrite, expected) in enumerate(attacks, 1):
        root = workdir / f"attempt-{number}"
        shutil.copytree(ARTIFACTS_ROOT / name / version, root / name / version)
        (root / name / version / file).write_bytes(payload)
        if rewrite:
            _rewrite_manifest(root / name / version, file, payload)
        try:
            load_artifact(name, version, root=root, expected_manifest_sha256=expected).json(file)
            error = ""
        except ArtifactIntegrityError as exc:
            error = str(exc)
        attempts.append(Attempt(attack, bool(error), error, marker.exists()))
    pickle.loads(payload)  # noqa: S301 - the comparison: the same bytes, loaded the unsafe way
    attempts.append(Attempt("the same bytes given to pickle.loads", False, "", marker.exists()))
    return attempts
