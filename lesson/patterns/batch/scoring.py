"""Score one chunk of rows: validate every row, predict the valid ones, explain the rest.

A chunk is a ``pyarrow.Table`` with the model's feature columns (numbers, or text from a CSV)
and optionally an ``id`` column. Each row either gets a prediction or a rejection with the
reason; the two outputs together account for every input row (nothing is dropped silently).
This function is what runs on Dask workers too, so both engines give the same output.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lesson.core.artifacts import load_artifact
from lesson.models.mlp_numpy import NumpyMLPModel

__all__ = [
    "ModelRef",
    "ChunkResult",
    "PreparedChunk",
    "BufferPool",
    "score_table",
    "prepare_chunk",
    "finish_chunk",
    "load_model",
    "output_schema",
    "rejects_schema",
    "as_arrow",
]

ID_COLUMN = "id"


@dataclass(frozen=True)
class ModelRef:
    """Which artifact to score with; ``manifest_sha256`` pins it (workers check it)."""

    name: str
    version: str
    manifest_sha256: str

    @classmethod
    def resolve(cls, name: str = "diabetes-mlp", version: str | None = None) -> ModelRef:
        """Load and verify the artifact here and pin its manifest checksum."""
        art = load_artifact(name, version)
        return cls(art.name, art.version, art.manifest["_manifest_sha256"])


@lru_cache(maxsize=8)
def load_model(ref: ModelRef) -> NumpyMLPModel:
    """The verified numpy model for ``ref`` (once per process; also on Dask workers)."""
    art = load_artifact(ref.name, ref.version, expected_manifest_sha256=ref.manifest_sha256)
    return NumpyMLPModel.from_artifact(art)


_LABEL = pa.dictionary(pa.int32(), pa.string())
_NUMPY_TO_ARROW = {
    np.dtype(np.int64): pa.int64(),
    np.dtype(np.int32): pa.int32(),
    np.dtype(np.float64): pa.float64(),
}


def as_arrow(values: np.ndarray) -> pa.Array:
    """A 1-D int64 / int32 / float64 numpy array as an Arrow array, zero-copy, no type inference.

    Used on the per-chunk path instead of ``pa.array(ndarray)``, which infers the type and, on
    its first call in a process, imports ``numpy.ma`` (a fixed cost of every run in a fresh
    process).
    """
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(
        _NUMPY_TO_ARROW[values.dtype], len(values), [None, pa.py_buffer(values)]
    )


@lru_cache(maxsize=32)
def output_schema(id_type: pa.DataType | None) -> pa.Schema:
    """Columns of the predictions file: row number, id (if the input has one, same type),
    prediction, model name and version (dictionary-encoded: one value, stored once).

    Every column but ``id`` is declared non-nullable (Parquet ``required``): they never hold
    nulls, and the writer then skips definition levels (less CPU to write). ``id`` keeps the
    input's nulls, if any.
    """
    fields = [pa.field("row", pa.int64(), nullable=False)]
    if id_type is not None:
        fields.append(pa.field(ID_COLUMN, id_type))
    fields += [
        pa.field("prediction", pa.float64(), nullable=False),
        pa.field("model", _LABEL, nullable=False),
        pa.field("model_version", _LABEL, nullable=False),
    ]
    return pa.schema(fields)


@lru_cache(maxsize=16)
def _label(value: str, n: int) -> pa.DictionaryArray:
    """``n`` copies of ``value`` as a dictionary array (immutable, so cached per size)."""
    return pa.DictionaryArray.from_arrays(
        as_arrow(np.zeros(n, dtype=np.int32)), pa.array([value], pa.string())
    )


@lru_cache(maxsize=32)
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


#: What Arrow's string -> float64 cast accepts (checked against ``pc.cast``): a decimal number
#: with an optional exponent, or inf / infinity / nan, case-insensitive. Used only to locate the
#: bad values of a text column whose cast failed, without a Python loop over the column.
_NUMBER = (
    r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
    r"|^[+-]?([iI][nN][fF]([iI][nN][iI][tT][yY])?|[nN][aA][nN])$"
)


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:37] + "...")


def _text_to_float(arr: pa.ChunkedArray) -> tuple[pa.ChunkedArray, np.ndarray | None]:
    """Cast a text column to float64; where a value is not a number, null it and report it.

    One vectorised cast in the common case. When it fails, surrounding spaces are trimmed and
    values that do not look like numbers are masked out, all with ``pyarrow.compute``: a
    value counts as a number exactly when Arrow can cast it once trimmed, wherever it sits in
    the file (so chunk boundaries never change the output).

    Returns:
        The float64 column and the positions of the values that are not numbers (or None).
    """
    try:
        return pc.cast(arr, pa.float64()), None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    trimmed = pc.utf8_trim_whitespace(arr)
    looks = pc.fill_null(pc.match_substring_regex(trimmed, _NUMBER), True)
    bad = np.flatnonzero(~np.asarray(looks.to_numpy(zero_copy_only=False), dtype=bool))
    kept = pc.if_else(looks, trimmed, pa.scalar(None, trimmed.type))
    try:
        return pc.cast(kept, pa.float64()), bad
    except (
        pa.ArrowInvalid,
        pa.ArrowNotImplementedError,
    ):  # pragma: no cover - the pattern is too loose
        values = kept.to_pylist()
        extra = []
        for i, v in enumerate(values):
            if v is not None:
                try:
                    pc.cast(pa.array([v]), pa.float64())
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    values[i] = None
                    extra.append(i)
        return pc.cast(pa.array(values, pa.string()), pa.float64()), np.union1d(bad, extra).astype(
            np.int64
        )


def _column_into(
    arr: pa.ChunkedArray, out: np.ndarray, column: str, reasons: dict[int, list[str]]
) -> np.ndarray | None:
    """Write a numeric column as float64 into ``out`` (NaN where missing), vectorised.

    Records ``missing value`` for each null in ``reasons`` (only those rows are touched in
    Python). Returns the mask of the nulls, or None when there are none.

    Raises:
        TypeError: a column of a type that cannot hold numbers.
    """
    typ = arr.type
    if pa.types.is_null(typ):
        out[:] = np.nan
        missing = np.ones(len(out), dtype=bool)
    else:
        if pa.types.is_integer(typ) or pa.types.is_decimal(typ) or pa.types.is_floating(typ):
            if typ != pa.float64():
                arr = pc.cast(arr, pa.float64())
        else:
            raise TypeError(
                f"column {column!r} has type {typ}; expected numbers (or text holding numbers)"
            )
        _fill(arr, out)
        if not arr.null_count:
            return None
        missing = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    for i in np.flatnonzero(missing).tolist():
        reasons.setdefault(i, []).append(f"{column}: missing value")
    return missing


def _fill(arr: pa.ChunkedArray, out: np.ndarray) -> None:
    """Copy a float64 column into ``out`` (nulls become NaN)."""
    start = 0
    for piece in arr.chunks:  # usually one: chunks are contiguous tables
        out[start : start + len(piece)] = piece.to_numpy(zero_copy_only=False)
        start += len(piece)


def validate_features(
    table: pa.Table, features: Sequence[str], *, buffer: np.ndarray | None = None
) -> tuple[np.ndarray, dict[int, list[str]]]:
    """The feature matrix of a chunk and the reasons its invalid rows are invalid.

    Vectorised per column (numpy / ``pyarrow.compute``); Python touches only failing rows.
    A row is invalid when a value is missing, is text that is not a number, or is not finite.

    Args:
        table: the chunk.
        features: the model's feature columns, in order.
        buffer: optional float64 array of at least ``len(features) * n`` elements to build
            ``X`` in (reused chunk after chunk: fresh memory costs page faults, about as much
            time as the prediction).

    Returns:
        ``X`` of shape ``(n, len(features))`` (column-major, NaN where unusable) and
        ``{row index in the chunk: [reason, ...]}`` for the invalid rows only, reasons in
        feature order (missing and non-numeric values first, then non-finite ones).
    """
    n = table.num_rows
    size = len(features) * n
    if buffer is not None and buffer.size >= size:
        Xt = buffer.reshape(-1)[:size].reshape(len(features), n)  # one contiguous row per feature
    else:
        Xt = np.empty((len(features), n), dtype=np.float64)
    reasons: dict[int, list[str]] = {}
    explained: list[np.ndarray | None] = []
    for j, name in enumerate(features):
        col = table.column(name)
        typ = col.type
        if pa.types.is_string(typ) or pa.types.is_large_string(typ):
            cast, bad = _text_to_float(col)
            explained.append(_column_text(col, cast, bad, Xt[j], name, reasons))
        else:
            explained.append(_column_into(col, Xt[j], name, reasons))
    # The common case, every value finite, checked without a temporary: the minimum and the
    # maximum are finite exactly when every value is (NaN propagates into both). A boolean
    # mask of the chunk (640 KB per 64k rows) was fresh memory every chunk: ~160 page faults.
    if size == 0 or (np.isfinite(Xt.min()) and np.isfinite(Xt.max())):
        return Xt.T, reasons
    for j, name in enumerate(features):
        finite = np.isfinite(Xt[j])
        if finite.all():
            continue
        nonfinite = ~finite
        if explained[j] is not None:
            nonfinite &= ~explained[j]
        for i in np.flatnonzero(nonfinite):
            reasons.setdefault(int(i), []).append(
                f"{name}: {float(Xt[j, i])!r} is not a finite number"
            )
    return Xt.T, reasons


def _column_text(
    raw: pa.ChunkedArray,
    cast: pa.ChunkedArray,
    bad: np.ndarray | None,
    out: np.ndarray,
    column: str,
    reasons: dict[int, list[str]],
) -> np.ndarray | None:
    """A text column already cast (``bad``: values that are not numbers): fill ``out`` and reasons
    in the row order the per-row path used (missing and non-numeric reasons together)."""
    _fill(cast, out)
    if not cast.null_count:
        return None
    nulls = np.asarray(cast.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    not_number = np.zeros(len(out), dtype=bool)
    if bad is not None and len(bad):
        not_number[bad] = True
    texts = (
        dict(zip(bad.tolist(), raw.take(as_arrow(bad.astype(np.int64))).to_pylist()))
        if bad is not None and len(bad)
        else {}
    )
    for i in np.flatnonzero(nulls).tolist():
        if not_number[i]:
            reasons.setdefault(i, []).append(f"{column}: {_shown(texts[i])} is not a number")
        else:
            reasons.setdefault(i, []).append(f"{column}: missing value")
    return nulls


class BufferPool:
    """Reusable float64 buffers handed from one thread to another (the pipelined engine validates a
    chunk on the reader thread and predicts it on the calling thread, so a buffer cannot be
    thread-local there). Never blocks: when none is free, a new one is made; the pipeline's
    bounded queues bound how many exist (memory stays flat)."""

    def __init__(self) -> None:
        self._free: list[np.ndarray] = []
        self._lock = threading.Lock()

    def take(self, size: int) -> np.ndarray:
        with self._lock:
            for i, buf in enumerate(self._free):
                if buf.size >= size:
                    return self._free.pop(i)
        return np.empty(size, dtype=np.float64)

    def give(self, buf: np.ndarray | None) -> None:
        if buf is not None:
            with self._lock:
                self._free.append(buf)


#: buffers of :func:`score_table` (Dask runs chunks on several threads at once: one buffer each)
_BUFFERS = BufferPool()


@dataclass
class PreparedChunk:
    """A validated chunk, ready to predict: the feature matrix of every row (NaN where unusable),
    the reasons of the invalid rows, and their rejects table (built here, off the predict path).
    Of the input it keeps only the ``id`` column: the feature columns are in ``X`` now, and
    dropping them lets the next chunk reuse their memory (fresh memory costs page faults)."""

    ids: pa.ChunkedArray | None  # the input's ``id`` column, if it has one
    rows: np.ndarray
    X: np.ndarray
    reasons: dict[int, list[str]]
    rejects: pa.Table
    n_rows: int
    buffer: np.ndarray | None = None  # the memory ``X`` lives in, to give back once predicted


def prepare_chunk(
    table: pa.Table,
    features: Sequence[str],
    row_offset: int | np.ndarray,
    malformed: Sequence[tuple[int, str]] = (),
    key_reasons: Mapping[int, str] | None = None,
    *,
    buffer: np.ndarray | None = None,
) -> PreparedChunk:
    """Validate one chunk (the first half of :func:`score_table`; see there for the arguments).

    Args:
        buffer: float64 array of at least ``len(features) * n`` elements to build ``X`` in.
    """
    n = table.num_rows
    has_id = ID_COLUMN in table.column_names
    X, reasons = validate_features(table, features, buffer=buffer)
    for i, reason in (key_reasons or {}).items():  # the key's verdict first, then the features'
        reasons[i] = [reason, *reasons.get(i, ())]
    if isinstance(row_offset, np.ndarray):
        rows = row_offset
    else:
        rows = np.arange(row_offset, row_offset + n, dtype=np.int64)
    ids = table.column(ID_COLUMN) if has_id else None
    if reasons:
        rejects = _rejects_table(table, reasons, rows, features, has_id, ids)
    else:
        rejects = rejects_schema(has_id, tuple(features)).empty_table()
    if malformed:
        rejects = _add_malformed(rejects, malformed, features, has_id)
    return PreparedChunk(ids, rows, X, reasons, rejects, n + len(malformed), buffer)


def finish_chunk(prepared: PreparedChunk, ref: ModelRef) -> ChunkResult:
    """Predict the valid rows of a prepared chunk and build its output tables (the second half
    of :func:`score_table`). ``prepared.buffer`` is free to reuse when this returns."""
    model = load_model(ref)
    ids, rows, X, reasons = prepared.ids, prepared.rows, prepared.X, prepared.reasons
    has_id = ids is not None
    if reasons:
        good = np.ones(len(rows), dtype=bool)
        good[list(reasons)] = False
        X, rows_good = X[good], rows[good]
        ids_good = ids.take(as_arrow(np.flatnonzero(good))) if has_id else None
    else:
        rows_good, ids_good = rows, ids
    n_good = len(rows_good)
    preds = model.predict_array(X) if n_good else np.empty(0)
    cols = [as_arrow(rows_good.astype(np.int64, copy=False))]
    if has_id:
        cols.append(ids_good)
    cols += [as_arrow(preds), _label(ref.name, n_good), _label(ref.version, n_good)]
    predictions = pa.Table.from_arrays(cols, schema=output_schema(ids.type if has_id else None))
    return ChunkResult(predictions, prepared.rejects, prepared.n_rows)


def score_table(
    table: pa.Table,
    ref: ModelRef,
    row_offset: int | np.ndarray,
    malformed: Sequence[tuple[int, str]] = (),
    key_reasons: Mapping[int, str] | None = None,
) -> ChunkResult:
    """Validate and score one chunk, column by column (no per-row Python for valid rows).

    What the plain loop and Dask workers run; the pipelined engine runs the same two halves
    (:func:`prepare_chunk`, :func:`finish_chunk`) on two threads.

    Args:
        table: the chunk; must hold every feature column of the model (``id`` optional).
        ref: the model to use.
        row_offset: number of input rows before this chunk (rows are numbered from 0), or
            the row number of each row.
        malformed: ``(row, reason)`` of unparseable rows to add to the rejects.
        key_reasons: ``{index in the chunk: reason}`` of rows whose ``id`` is empty or repeats
            an earlier row's (:class:`lesson.patterns.batch.keys.KeyCheck`); rejected.

    Returns:
        Predictions for the valid rows and one reject (with its reason) per invalid row.
    """
    features = load_model(ref).params.feature_names
    buffer = _BUFFERS.take(len(features) * table.num_rows)
    try:
        return finish_chunk(
            prepare_chunk(table, features, row_offset, malformed, key_reasons, buffer=buffer), ref
        )
    finally:
        _BUFFERS.give(buffer)


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
        cols.append(
            ids.take(pa.array(order, type=pa.int64())).cast(pa.string())
            if order
            else pa.array([], pa.string())
        )
    cols.append(pa.array(["; ".join(reasons[i]) for i in order], type=pa.string()))
    for name in features:
        raw = table.column(name).take(pa.array(order, type=pa.int64())).to_pylist() if order else []
        cols.append(pa.array([_raw_text(v) for v in raw], type=pa.string()))
    return pa.Table.from_arrays(cols, schema=rejects_schema(has_id, tuple(features)))


def _raw_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return str(value)
