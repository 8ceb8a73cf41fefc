"""The columnar (vectorised) validation against a plain per-row reference, on large chunks.

The reference here is written independently, one row at a time in Python: it decides whether
each row is valid and why not, and the pure-Python model scores the valid ones. The batch
runner must agree with it exactly, whatever the chunk size.
"""

from __future__ import annotations

import csv
import math
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lesson.models.mlp import load_default_mlp
from lesson.patterns.batch import default_rejects_path, score_file, write_sample_data
from lesson.patterns.batch.io import parquet_options
from lesson.patterns.batch.pipelined import _WriteBehind
from lesson.patterns.batch.scoring import validate_features

FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def reference(table: pa.Table) -> tuple[dict[int, list[float]], dict[int, str]]:
    """Per row: the valid rows' features, and the reason of each invalid row."""
    columns = {c: table.column(c).to_pylist() for c in FEATURES}
    good, bad = {}, {}
    for i in range(table.num_rows):
        reasons, values = [], []
        for c in FEATURES:  # first pass: missing values and text that is not a number
            v = columns[c][i]
            if v is None:
                reasons.append(f"{c}: missing value")
            elif isinstance(v, str) and not _is_number(v):
                reasons.append(f"{c}: {v!r} is not a number")
        for c in FEATURES:  # second pass: numbers that are not finite
            v = columns[c][i]
            if v is None or any(r.startswith(f"{c}:") for r in reasons):
                continue
            x = float(v)
            if not math.isfinite(x):
                reasons.append(f"{c}: {x!r} is not a finite number")
            values.append(x)
        if reasons:
            bad[i] = "; ".join(reasons)
        else:
            good[i] = values
    return good, bad


def _is_number(text: str) -> bool:
    """A CSV number: ASCII, no digit separators, surrounding spaces allowed."""
    text = text.strip()
    if not text.isascii() or "_" in text:
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_rejects(path: Path) -> dict[int, str]:
    with open(path, newline="") as f:
        return {int(r["row"]): r["reason"] for r in csv.DictReader(f)}


@pytest.mark.parametrize("ext", ["parquet", "csv"])
def test_large_chunks_with_scattered_bad_rows_match_the_per_row_reference(tmp_path, ext):
    src = write_sample_data(tmp_path / f"in.{ext}", 150_000, seed=11, invalid_fraction=0.004)
    table = pq.read_table(src) if ext == "parquet" else _read_csv_as_text(src)
    good, bad = reference(table)
    assert 300 < len(bad) < 1000  # scattered over every chunk
    out = tmp_path / "out.parquet"
    report = score_file(src, out, chunk_rows=65_536)
    assert (report.rows, report.scored, report.rejected, report.chunks) == (
        150_000,
        len(good),
        len(bad),
        3,
    )
    assert (
        read_rejects(default_rejects_path(out)) == bad
    )  # exactly these rows, exactly these reasons
    scored = pq.read_table(out)
    rows = scored.column("row").to_numpy()
    assert rows.tolist() == sorted(good)
    # the valid rows scored exactly like the pure-Python per-row model (a spread-out sample)
    pick = np.linspace(0, len(rows) - 1, 1500).astype(int)
    expected = load_default_mlp().predict([good[int(rows[k])] for k in pick])
    got = scored.column("prediction").to_numpy()[pick]
    assert np.max(np.abs(got - np.asarray(expected))) < 1e-6


def _read_csv_as_text(path: Path) -> pa.Table:
    import pyarrow.csv as pacsv

    return pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in ["id", *FEATURES]}, strings_can_be_null=True
        ),
    )


def test_text_numbers_are_judged_the_same_in_any_chunk(tmp_path):
    """A value is a number when Arrow can cast it once trimmed, whatever else is in its chunk."""
    good = ["59", "2", "32.1", "101", "157", "93.2", "38", "4", "4.8598", "87"]
    variants = {
        "a": good,
        "b": [" 59", "2 ", *good[2:]],  # spaces around numbers: accepted
        "c": ["1_000", *good[1:]],  # Python's float() takes it, a CSV reader should not
        "d": ["+5.9e1", "2", ".5", "5.", *good[4:]],
        "e": ["0x10", *good[1:9], "-INF"],  # two problems, reported in column order
        "f": [*good[:5], "١٢", *good[6:]],  # non-ASCII digits
        "g": good,
    }
    text = (
        "id,"
        + ",".join(FEATURES)
        + "\n"
        + "".join(f"{k},{','.join(v)}\n" for k, v in variants.items())
    )
    src = tmp_path / "in.csv"
    src.write_text(text, encoding="utf-8")
    results = []
    for chunk_rows in (1, 2, 3, 1000):
        out = tmp_path / f"out-{chunk_rows}.csv"
        report = score_file(src, out, chunk_rows=chunk_rows)
        with open(default_rejects_path(out), newline="") as f:
            rejects = {r["id"]: r["reason"] for r in csv.DictReader(f)}
        scored = pq.read_table(out) if out.suffix == ".parquet" else _read_out_csv(out)
        results.append(
            (
                report.scored,
                rejects,
                scored.column("id").to_pylist(),
                scored.column("prediction").to_pylist(),
            )
        )
    assert all(r == results[0] for r in results)
    n_scored, rejects, ids, preds = results[0]
    assert ids == ["a", "b", "d", "g"] and n_scored == 4
    assert rejects == {
        "c": "age: '1_000' is not a number",
        "e": "age: '0x10' is not a number; s6: -inf is not a finite number",
        "f": "s2: '١٢' is not a number",
    }
    assert preds[1] == pytest.approx(preds[0], abs=0) and preds[3] == pytest.approx(preds[0], abs=0)


def _read_out_csv(path: Path) -> pa.Table:
    import pyarrow.csv as pacsv

    return pacsv.read_csv(
        path, convert_options=pacsv.ConvertOptions(column_types={"id": pa.string()})
    )


def test_parquet_columns_of_other_numeric_types(tmp_path):
    n = 1000
    rng = np.random.default_rng(0)
    cols = {"id": pa.array(np.arange(n))}
    for j, c in enumerate(FEATURES):
        x = rng.normal(0, 1, n) + 50
        cols[c] = (
            pa.array(x.astype(np.float32))
            if j == 0
            else pa.array(np.round(x).astype(np.int32))
            if j == 1
            else pa.array(x)
        )
    cols["bmi"] = pa.array([None if i == 7 else float(i) for i in range(n)])
    cols["s6"] = pa.array([float("nan") if i == 9 else 1.0 for i in range(n)], pa.float64())
    src = tmp_path / "typed.parquet"
    pq.write_table(pa.table(cols), src)
    out = tmp_path / "out.parquet"
    report = score_file(src, out, chunk_rows=300)
    assert (report.scored, report.rejected) == (n - 2, 2)
    assert read_rejects(default_rejects_path(out)) == {
        7: "bmi: missing value",
        9: "s6: nan is not a finite number",
    }
    table = pq.read_table(src)
    rows = [[float(table.column(c)[i].as_py()) for c in FEATURES] for i in (0, 500, 999)]
    got = pq.read_table(out).to_pydict()
    by_row = dict(zip(got["row"], got["prediction"]))
    expected = load_default_mlp().predict(rows)
    assert [by_row[i] for i in (0, 500, 999)] == pytest.approx(expected, abs=1e-6)


def test_a_column_that_cannot_hold_numbers_is_a_clear_error(tmp_path):
    cols = {c: pa.array([1.0, 2.0]) for c in FEATURES}
    cols["sex"] = pa.array([[1], [2]])  # a list column
    src = tmp_path / "bad.parquet"
    pq.write_table(pa.table(cols), src)
    with pytest.raises(TypeError, match="column 'sex' has type list"):
        score_file(src, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_validate_features_builds_x_in_a_reused_buffer():
    table = pa.table(
        {
            c: pa.array([float(j), float("inf") if j == 3 else 1.0, None])
            for j, c in enumerate(FEATURES)
        }
    )
    buffer = np.full(64, -1.0)
    X, reasons = validate_features(table, FEATURES, buffer=buffer)
    assert X.shape == (3, 10) and np.shares_memory(X, buffer)
    assert X[0].tolist() == [float(j) for j in range(10)]
    assert reasons == {
        1: ["bp: inf is not a finite number"],
        2: [f"{c}: missing value" for c in FEATURES],
    }
    X2, _ = validate_features(table, FEATURES, buffer=np.empty(5))  # too small: a new array
    assert X2.tolist()[0] == X.tolist()[0]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_one_non_finite_value_in_a_large_clean_chunk_is_found(bad):
    n = 50_000
    cols = {c: pa.array(np.linspace(-1.0, 1.0, n) + j) for j, c in enumerate(FEATURES)}
    s5 = cols["s5"].to_numpy().copy()
    s5[31_337] = bad
    cols["s5"] = pa.array(s5)
    X, reasons = validate_features(pa.table(cols), FEATURES)
    assert reasons == {31_337: [f"s5: {bad!r} is not a finite number"]}
    assert np.isfinite(np.delete(X, 31_337, axis=0)).all()


def test_an_empty_chunk_validates_to_nothing():
    X, reasons = validate_features(
        pa.table({c: pa.array([], pa.float64()) for c in FEATURES}), FEATURES
    )
    assert X.shape == (0, 10) and reasons == {}


def test_output_parquet_encodings_and_sample_data_encoding(tmp_path, sample_parquet):
    out = tmp_path / "out.parquet"
    score_file(sample_parquet, out, chunk_rows=1000)
    meta = pq.ParquetFile(out).metadata.row_group(0)
    enc = {meta.column(i).path_in_schema: meta.column(i).encodings for i in range(meta.num_columns)}
    assert "DELTA_BINARY_PACKED" in enc["row"] and "BYTE_STREAM_SPLIT" in enc["prediction"]
    assert "RLE_DICTIONARY" in enc["model"]
    assert meta.column(0).statistics.min == 0  # row statistics kept: readers can skip row groups
    sample = pq.ParquetFile(sample_parquet).metadata.row_group(0)
    assert sample.column(1).has_dictionary_page  # written as pandas / pyarrow do by default
    options = parquet_options(
        pa.schema([("row", pa.int64()), ("id", pa.string()), ("prediction", pa.float64())])
    )
    assert options["column_encoding"] == {
        "row": "DELTA_BINARY_PACKED",
        "prediction": "BYTE_STREAM_SPLIT",
    }
    assert options["write_statistics"] == ["row"] and options["compression"]["prediction"] == "none"


class _Sink:
    def __init__(self, fail_at: int | None = None):
        self.tables, self.fail_at, self.threads = [], fail_at, set()

    def write(self, table):
        self.threads.add(threading.get_ident())
        if self.fail_at is not None and len(self.tables) == self.fail_at:
            raise OSError("No space left on device")
        self.tables.append(table)


def test_write_behind_keeps_order_and_reraises_errors():
    sink = _Sink()
    wb = _WriteBehind(depth=2)
    for i in range(20):
        wb.put((sink, i))
    wb.finish()
    assert sink.tables == list(range(20)) and threading.get_ident() not in sink.threads
    failing = _Sink(fail_at=3)
    wb = _WriteBehind(depth=2)
    with pytest.raises(OSError, match="No space left"):
        for i in range(50):
            wb.put((failing, i))
        wb.finish()
    wb.stop()
    assert failing.tables == [0, 1, 2]


@pytest.mark.parametrize("ext", ["parquet", "csv"])
def test_no_python_work_per_row(tmp_path, ext):
    """Counting Python-level calls (not time): a per-row loop would make at least one call per
    valid row; the columnar path makes a fixed number per chunk plus one per model block
    (Python formats the reasons of failing rows only, tested above)."""
    import cProfile
    import pstats

    src = write_sample_data(tmp_path / f"in.{ext}", 200_000, seed=5)
    score_file(src, tmp_path / "warm.parquet")  # first use: lazy imports, caches
    profile = cProfile.Profile()
    profile.enable()
    report = score_file(src, tmp_path / "out.parquet", chunk_rows=65_536)
    profile.disable()
    calls = sum(stat[1] for stat in pstats.Stats(profile).stats.values())  # primitive calls
    assert report.scored == 200_000
    assert calls < report.rows / 50, calls  # measured: ~1,500 calls for 200,000 rows
