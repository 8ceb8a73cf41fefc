"""Realistic input files for the default model, for learners and benchmarks.

Rows are drawn around the real patients of the held-out set shipped in the artifact (so the
features keep their real correlations), jittered by a tenth of each feature's spread, clipped
to the ranges seen in training and rounded like the original data. Deterministic for a seed.
Optionally a fraction of rows is made invalid (a missing value, text, or an infinite number)
to show the rejects file at work.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lesson.core.artifacts import load_artifact, load_heldout
from lesson.patterns.batch.io import AtomicTableWriter, file_format

__all__ = ["write_sample_data", "sample_table", "MAX_SAMPLE_ROWS"]

MAX_SAMPLE_ROWS = 100_000_000
_DECIMALS = {
    "age": 0,
    "sex": 0,
    "bmi": 1,
    "bp": 2,
    "s1": 0,
    "s2": 1,
    "s3": 1,
    "s4": 2,
    "s5": 4,
    "s6": 0,
}


def sample_table(
    rng: np.random.Generator,
    n: int,
    start_id: int,
    *,
    model: str = "diabetes-mlp",
    invalid_fraction: float = 0.0,
    as_text: bool = False,
) -> pa.Table:
    """``n`` sample rows as a table with ``id`` and the model's feature columns.

    Args:
        rng: numpy random generator (the file is reproducible from its seed).
        n: rows.
        start_id: id of the first row.
        model: artifact whose inputs and held-out rows to use.
        invalid_fraction: share of rows (0..1) given one bad value.
        as_text: bad values may be text (``unknown``; CSV output), else NaN (Parquet).
    """
    art = load_artifact(model)
    names = [i["name"] for i in art.manifest["inputs"]]
    stats = art.manifest["feature_stats"]
    base, _ = load_heldout(art)
    base_arr = np.asarray(base, dtype=np.float64)
    picks = base_arr[rng.integers(0, len(base_arr), n)]
    std = np.array([stats[c]["std"] for c in names])
    X = picks + rng.normal(0.0, 0.1, size=picks.shape) * std
    X = np.clip(X, [stats[c]["min"] for c in names], [stats[c]["max"] for c in names])
    for j, c in enumerate(names):
        X[:, j] = np.round(X[:, j], _DECIMALS.get(c, 4))
    if "sex" in names:
        j = names.index("sex")
        X[:, j] = picks[:, j]  # categorical: keep 1 or 2
    cols: dict[str, pa.Array] = {"id": pa.array(np.arange(start_id, start_id + n, dtype=np.int64))}
    bad = rng.random(n) < invalid_fraction if invalid_fraction > 0 else np.zeros(n, dtype=bool)
    bad_col = rng.integers(0, len(names), n)
    bad_kind = rng.integers(0, 3, n)
    for j, c in enumerate(names):
        values = X[:, j].copy()
        hit = bad & (bad_col == j)
        missing = hit & (bad_kind == 0)
        values[hit & (bad_kind == 1)] = np.nan if not as_text else 0.0
        values[hit & (bad_kind == 2)] = np.inf
        column = pa.array(values, mask=missing, type=pa.float64())
        text_hits = np.flatnonzero(hit & (bad_kind == 1)) if as_text else ()
        if len(text_hits):
            text = pc.cast(column, pa.string()).to_pylist()
            for i in text_hits:
                text[i] = "unknown"
            column = pa.array(text, type=pa.string())
        cols[c] = column
    return pa.table(cols)


def write_sample_data(
    path: str | Path,
    rows: int,
    *,
    seed: int = 0,
    invalid_fraction: float = 0.0,
    model: str = "diabetes-mlp",
    chunk_rows: int = 65_536,
) -> Path:
    """Write ``rows`` sample rows to ``path`` (CSV or Parquet by extension), atomically.

    Raises:
        ValueError: ``rows`` outside 1..100,000,000 or ``invalid_fraction`` outside 0..1.
    """
    path = Path(path)
    fmt = file_format(path)
    if not 1 <= rows <= MAX_SAMPLE_ROWS:
        raise ValueError(f"rows must be in 1..{MAX_SAMPLE_ROWS:,}, got {rows}")
    if not 0.0 <= invalid_fraction <= 1.0:
        raise ValueError(f"invalid_fraction must be in 0..1, got {invalid_fraction}")
    rng = np.random.default_rng(seed)
    as_text = fmt == "csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    first = sample_table(
        rng,
        min(rows, chunk_rows),
        0,
        model=model,
        invalid_fraction=invalid_fraction,
        as_text=as_text,
    )
    # Parquet as pandas / pyarrow write it by default (dictionary encoding, snappy): rounded
    # clinical values repeat a lot, so this is the realistic file (plain encoding made it
    # bigger and slower to read).
    writer = AtomicTableWriter(
        path,
        first.schema,
        csv_quote_strings=False,
        parquet={"compression": "snappy", "use_dictionary": True},
    )
    try:
        writer.write(first)
        done = first.num_rows
        while done < rows:
            n = min(chunk_rows, rows - done)
            writer.write(
                sample_table(
                    rng, n, done, model=model, invalid_fraction=invalid_fraction, as_text=as_text
                )
            )
            done += n
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return path
