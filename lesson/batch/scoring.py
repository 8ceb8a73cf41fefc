"""Score one chunk of rows: validate every row, predict the valid ones, explain the rest.

A chunk is a ``pyarrow.Table`` with the model's feature columns (numbers, or text from a CSV)
and optionally an ``id`` column. Each row either gets a prediction or a rejection with the
reason; the two outputs together account for every input row (nothing is dropped silently).
This function is what runs on Dask workers too, so both engines give the same output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lesson.artifacts import load_artifact
from lesson.mlp_numpy import NumpyMLPModel

__all__ = ["ModelRef", "ChunkResult", "score_table", "load_model", "output_schema", "rejects_schema"]

ID_COLUMN = "id"


@dataclass(frozen=True)
class ModelRef:
    """Which artifact to score with; ``manifest_sha256`` pins it (workers check it)."""

    name: str
    version: str
    manifest_sha256: str

    @classmethod
    def resolve(cls, name: str = "diabetes-mlp", version: str | None = None) -> "ModelRef":
        """Load and verify the artifact here and pin its manifest checksum."""
        art = load_artifact(name, version)
        return cls(art.name, art.version, art.manifest["_manifest_sha256"])


@lru_cache(maxsize=8)
def load_model(ref: ModelRef) -> NumpyMLPModel:
    """The verified numpy model for ``ref`` (once per process; also on Dask workers)."""
    art = load_artifact(ref.name, ref.version, expected_manifest_sha256=ref.manifest_sha256)
    return NumpyMLPModel.from_artifact(art)


_LABEL = pa.dictionary(pa.int32(), pa.string())


def output_schema(id_type: pa.DataType | None) -> pa.Schema:
    """Columns of the predictions file: row number, id (if the input has one, same type),
    prediction, model name and version (dictionary-encoded: one value, stored once)."""
    fields = [pa.field("row", pa.int64())]
    if id_type is not None:
        fields.append(pa.field(ID_COLUMN, id_type))
    fields += [pa.field("prediction", pa.float64()), pa.field("model", _LABEL),
               pa.field("model_version", _LABEL)]
    return pa.schema(fields)


def _label(value: str, n: int) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([value], pa.string()))


def rejects_schema(has_id: bool, features: tuple[str, ...]) -> pa.Schema:
    """Columns of the rejects file: row number, id, reason, and the raw values as text."""
    fields = [pa.field("row", pa.int64())]
    if has_id:
        fields.append(pa.field(ID_COLUMN, pa.string()))
    fields.append(pa.field("reason", pa.string()))
    fields += [pa.field(f, pa.string()) for f in features]
    return pa.schema(fields)


@dataclass
class ChunkResult:
    """Predictions and rejects for one chunk; ``n_rows`` counts both (malformed rows too)."""

    predictions: pa.Table
    rejects: pa.Table
    n_rows: int


def _parse_text(values: list, reasons: dict[int, list[str]], column: str) -> np.ndarray:
    """Slow path for a text column that did not cast cleanly: find each bad value."""
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if v is None:
            out[i] = np.nan
            continue
        try:
            out[i] = float(v)
        except ValueError:
            out[i] = np.nan
            shown = v if len(v) <= 40 else v[:37] + "..."
            reasons.setdefault(i, []).append(f"{column}: {shown!r} is not a number")
    return out


def _column_to_float(arr: pa.ChunkedArray, reasons: dict[int, list[str]], column: str) -> np.ndarray:
    """A feature column as float64 (NaN where missing), recording why a value is unusable."""
    typ = arr.type
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        try:
            cast = pc.cast(arr, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            values = _parse_text(arr.to_pylist(), reasons, column)
            cast = None
        if cast is not None:
            values = cast.to_numpy(zero_copy_only=False)
    elif pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        values = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    elif pa.types.is_null(typ):
        values = np.full(len(arr), np.nan)
    else:
        raise TypeError(f"column {column!r} has type {typ}; expected numbers (or text holding numbers)")
    if arr.null_count:
        for i in np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False)):
            reasons.setdefault(int(i), []).append(f"{column}: missing value")
    return values


def score_table(table: pa.Table, ref: ModelRef, row_offset: "int | np.ndarray",
                malformed: Sequence[tuple[int, str]] = ()) -> ChunkResult:
    """Validate and score one chunk.

    Args:
        table: the chunk; must hold every feature column of the model (``id`` optional).
        ref: the model to use.
        row_offset: number of input rows before this chunk (rows are numbered from 0), or
            the row number of each row.
        malformed: ``(row, reason)`` of unparseable rows to add to the rejects.

    Returns:
        Predictions for the valid rows and one reject (with its reason) per invalid row.
    """
    model = load_model(ref)
    features = model.params.feature_names
    n = table.num_rows
    has_id = ID_COLUMN in table.column_names
    reasons: dict[int, list[str]] = {}
    X = np.empty((n, len(features)), dtype=np.float64)
    for j, name in enumerate(features):
        X[:, j] = _column_to_float(table.column(name), reasons, name)
    finite = np.isfinite(X)
    if not finite.all():
        for i, j in np.argwhere(~finite):
            i = int(i)
            if not any(r.startswith(f"{features[j]}:") for r in reasons.get(i, ())):
                reasons.setdefault(i, []).append(f"{features[j]}: {float(X[i, j])!r} is not a finite number")
    bad = np.zeros(n, dtype=bool)
    if reasons:
        bad[list(reasons)] = True
    good = ~bad
    if isinstance(row_offset, np.ndarray):
        rows = row_offset
    else:
        rows = np.arange(row_offset, row_offset + n, dtype=np.int64)
    n_good = int(good.sum())
    preds = model.predict_array(X if n_good == n else X[good]) if n_good else np.empty(0)
    cols = [pa.array(rows if n_good == n else rows[good])]
    ids = table.column(ID_COLUMN) if has_id else None
    if has_id:
        cols.append(ids.filter(pa.array(good)) if n_good < n else ids)
    cols += [pa.array(preds, type=pa.float64()), _label(ref.name, n_good), _label(ref.version, n_good)]
    predictions = pa.Table.from_arrays(cols, schema=output_schema(ids.type if has_id else None))
    rejects = _rejects_table(table, reasons, rows, features, has_id, ids)
    if malformed:
        rejects = _add_malformed(rejects, malformed, features, has_id)
    return ChunkResult(predictions, rejects, n + len(malformed))


def _add_malformed(rejects: pa.Table, malformed, features, has_id) -> pa.Table:
    n = len(malformed)
    cols = [pa.array([r for r, _ in malformed], type=pa.int64())]
    if has_id:
        cols.append(pa.nulls(n, pa.string()))
    cols.append(pa.array([reason for _, reason in malformed], type=pa.string()))
    cols += [pa.nulls(n, pa.string()) for _ in features]
    extra = pa.Table.from_arrays(cols, schema=rejects.schema)
    return pa.concat_tables([rejects, extra]).sort_by("row")


def _rejects_table(table, reasons, rows, features, has_id, ids) -> pa.Table:
    order = sorted(reasons)
    cols = [pa.array([int(rows[i]) for i in order], type=pa.int64())]
    if has_id:
        cols.append(ids.take(pa.array(order, type=pa.int64())).cast(pa.string()) if order else pa.array([], pa.string()))
    cols.append(pa.array(["; ".join(reasons[i]) for i in order], type=pa.string()))
    for name in features:
        raw = table.column(name).take(pa.array(order, type=pa.int64())).to_pylist() if order else []
        cols.append(pa.array([_raw_text(v) for v in raw], type=pa.string()))
    return pa.Table.from_arrays(cols, schema=rejects_schema(has_id, features))


def _raw_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return str(value)
