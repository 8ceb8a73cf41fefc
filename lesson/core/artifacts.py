"""Versioned model artifacts: ``<root>/<name>/<version>/`` with a checksummed manifest.

An artifact is a directory of plain JSON files (never pickle: loading one runs no code) and a
``manifest.json`` that lists every file with its size and sha256, plus what the model takes
and returns, its held-out metrics and a fingerprint of the data it was trained on.
Loading reads each file once, checks size and checksum, and refuses a tampered or truncated
artifact with :class:`ArtifactIntegrityError`. Standard library only (runs in Pyodide).

    >>> from lesson.core.artifacts import load_artifact
    >>> art = load_artifact("diabetes-mlp")          # newest version, verified
    >>> art.manifest["metrics"]["heldout"]["mae"]     # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ARTIFACTS_ROOT = Path(__file__).resolve().parents[1] / "artifacts"
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "lesson-artifact/1"
MAX_FILE_BYTES = 32 * 1024 * 1024  # refuse anything larger: these are small teaching models
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class ArtifactError(Exception):
    """Base class for artifact problems."""


class ArtifactNotFoundError(ArtifactError, LookupError):
    """No artifact with that name or version exists under the root."""


class ArtifactIntegrityError(ArtifactError, ValueError):
    """The artifact on disk does not match its manifest (tampered, truncated or malformed)."""


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON bytes (sorted keys, no NaN), so a rerun writes identical files."""
    return (json.dumps(obj, sort_keys=True, indent=1, allow_nan=False) + "\n").encode("utf-8")


@dataclass(frozen=True)
class Artifact:
    """A verified artifact: its manifest and the bytes of every file it lists."""

    name: str
    version: str
    path: Path
    manifest: dict[str, Any]
    files: dict[str, bytes] = field(repr=False)

    def json(self, filename: str) -> Any:
        """Parse one verified file as JSON.

        Raises:
            ArtifactIntegrityError: the file is not in the manifest or is not valid JSON.
        """
        if filename not in self.files:
            raise ArtifactIntegrityError(
                f"{self.name}/{self.version}: {filename!r} is not listed in the manifest"
            )
        try:
            return json.loads(self.files[filename].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ArtifactIntegrityError(
                f"{self.name}/{self.version}: {filename} is not valid JSON ({exc})"
            ) from exc

    @property
    def size_bytes(self) -> int:
        """Total bytes on disk of the manifest and every listed file."""
        return int(self.manifest.get("_manifest_bytes", 0)) + sum(
            len(b) for b in self.files.values()
        )


def _check_name(kind: str, value: str) -> None:
    if not isinstance(value, str) or not _SAFE_NAME.match(value) or ".." in value:
        raise ValueError(f"artifact {kind} {value!r} must match {_SAFE_NAME.pattern} (no paths)")


def list_versions(name: str, root: Path | str | None = None) -> list[str]:
    """Versions of ``name`` under ``root``, numeric versions in numeric order."""
    _check_name("name", name)
    base = Path(root) if root is not None else ARTIFACTS_ROOT
    directory = base / name
    if not directory.is_dir():
        return []
    versions = [p.name for p in directory.iterdir() if p.is_dir() and (p / MANIFEST_NAME).exists()]
    return sorted(versions, key=lambda v: (0, int(v), v) if v.isdigit() else (1, 0, v))


def list_artifacts(root: Path | str | None = None) -> dict[str, list[str]]:
    """All artifact names under ``root`` with their versions."""
    base = Path(root) if root is not None else ARTIFACTS_ROOT
    if not base.is_dir():
        return {}
    out = {}
    for p in sorted(base.iterdir()):
        if p.is_dir() and _SAFE_NAME.match(p.name):
            versions = list_versions(p.name, base)
            if versions:
                out[p.name] = versions
    return out


def _read_bounded(path: Path, what: str) -> bytes:
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise ArtifactIntegrityError(f"{what}: file is missing ({path})") from exc
    if size > MAX_FILE_BYTES:
        raise ArtifactIntegrityError(
            f"{what}: {size} bytes is over the {MAX_FILE_BYTES}-byte bound"
        )
    return path.read_bytes()


def load_artifact(
    name: str,
    version: str | int | None = None,
    *,
    root: Path | str | None = None,
    expected_manifest_sha256: str | None = None,
) -> Artifact:
    """Load and verify an artifact.

    Args:
        name: artifact name, e.g. ``"diabetes-mlp"``.
        version: a version directory; ``None`` takes the newest.
        root: directory holding artifacts (default: the ones shipped in the package).
        expected_manifest_sha256: if given, the manifest itself must have this checksum
            (pins the whole artifact: the manifest pins every other file).

    Returns:
        The verified :class:`Artifact`.

    Raises:
        ArtifactNotFoundError: no such name or version.
        ArtifactIntegrityError: a file is missing, truncated, altered or malformed.
    """
    _check_name("name", name)
    base = Path(root) if root is not None else ARTIFACTS_ROOT
    versions = list_versions(name, base)
    if version is None:
        if not versions:
            known = ", ".join(list_artifacts(base)) or "none"
            raise ArtifactNotFoundError(f"no artifact named {name!r} under {base} (known: {known})")
        version = versions[-1]
    version = str(version)
    _check_name("version", version)
    directory = base / name / version
    label = f"{name}/{version}"
    if not (directory / MANIFEST_NAME).exists():
        raise ArtifactNotFoundError(
            f"no artifact {label} under {base} (versions of {name!r}: {versions or 'none'})"
        )
    raw_manifest = _read_bounded(directory / MANIFEST_NAME, f"{label}/{MANIFEST_NAME}")
    if (
        expected_manifest_sha256 is not None
        and sha256_bytes(raw_manifest) != expected_manifest_sha256
    ):
        raise ArtifactIntegrityError(f"{label}: manifest.json checksum differs from the pinned one")
    try:
        manifest = json.loads(raw_manifest.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactIntegrityError(
            f"{label}: manifest.json is not valid JSON (truncated or edited?): {exc}"
        ) from exc
    _check_manifest(manifest, name, version, label)
    files: dict[str, bytes] = {}
    for filename, entry in sorted(manifest["files"].items()):
        data = _read_bounded(directory / filename, f"{label}/{filename}")
        if len(data) != entry["bytes"]:
            raise ArtifactIntegrityError(
                f"{label}/{filename}: {len(data)} bytes on disk, manifest says {entry['bytes']} "
                "(truncated or altered)"
            )
        digest = sha256_bytes(data)
        if digest != entry["sha256"]:
            raise ArtifactIntegrityError(
                f"{label}/{filename}: sha256 {digest[:12]}... does not match the manifest's "
                f"{entry['sha256'][:12]}... (the file was altered)"
            )
        files[filename] = data
    manifest = dict(
        manifest, _manifest_bytes=len(raw_manifest), _manifest_sha256=sha256_bytes(raw_manifest)
    )
    return Artifact(name=name, version=version, path=directory, manifest=manifest, files=files)


def _check_manifest(manifest: Any, name: str, version: str, label: str) -> None:
    if not isinstance(manifest, dict):
        raise ArtifactIntegrityError(f"{label}: manifest.json must be a JSON object")
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ArtifactIntegrityError(
            f"{label}: manifest format {manifest.get('format')!r}, expected {MANIFEST_FORMAT!r}"
        )
    if manifest.get("name") != name or str(manifest.get("version")) != version:
        raise ArtifactIntegrityError(
            f"{label}: manifest names {manifest.get('name')}/{manifest.get('version')}, "
            "not the directory it is in"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise ArtifactIntegrityError(f"{label}: manifest lists no files")
    for filename, entry in files.items():
        if not _SAFE_NAME.match(filename) or filename == MANIFEST_NAME:
            raise ArtifactIntegrityError(f"{label}: unsafe file name {filename!r} in manifest")
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("sha256"), str)
            or not isinstance(entry.get("bytes"), int)
        ):
            raise ArtifactIntegrityError(
                f"{label}: manifest entry for {filename} needs sha256 and bytes"
            )


def write_artifact(
    name: str,
    version: str | int,
    manifest: dict[str, Any],
    files: dict[str, bytes],
    *,
    root: Path | str | None = None,
) -> Path:
    """Write ``files`` and a manifest listing their sizes and sha256 (deterministic bytes).

    Args:
        name: artifact name.
        version: version directory.
        manifest: fields to record (inputs, outputs, metrics, ...); ``format``, ``name``,
            ``version`` and ``files`` are filled in here.
        files: file name -> bytes.
        root: where to write (default: the package's artifacts directory).

    Returns:
        The artifact directory.
    """
    version = str(version)
    _check_name("name", name)
    _check_name("version", version)
    directory = (Path(root) if root is not None else ARTIFACTS_ROOT) / name / version
    directory.mkdir(parents=True, exist_ok=True)
    entries = {}
    for filename, data in sorted(files.items()):
        _check_name("file name", filename)
        (directory / filename).write_bytes(data)
        entries[filename] = {"bytes": len(data), "sha256": sha256_bytes(data)}
    full = dict(manifest, format=MANIFEST_FORMAT, name=name, version=version, files=entries)
    tmp = directory / (MANIFEST_NAME + ".tmp")
    tmp.write_bytes(canonical_json(full))
    os.replace(tmp, directory / MANIFEST_NAME)
    return directory


def load_heldout(artifact: Artifact) -> tuple[list[list[float]], list[float]]:
    """The held-out rows and targets shipped (and checksummed) inside an artifact."""
    heldout = artifact.json("heldout.json")
    return [list(map(float, r)) for r in heldout["rows"]], [float(t) for t in heldout["targets"]]
