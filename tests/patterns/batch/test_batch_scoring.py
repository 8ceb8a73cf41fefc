"""Batch scoring on real files: right answers, every row accounted for, atomic, repeatable."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from lesson.models.mlp import load_default_mlp
from lesson.patterns.batch import (
    BatchInputError,
    default_rejects_path,
    score_file,
    write_sample_data,
)

FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def read_any(path: Path) -> pa.Table:
    if path.suffix == ".csv":
        return pacsv.read_csv(
            path, convert_options=pacsv.ConvertOptions(column_types={"id": pa.string()})
        )
    return pq.read_table(path)


@pytest.mark.parametrize("fmt_in", ["csv", "parquet"])
@pytest.mark.parametrize("fmt_out", ["csv", "parquet"])
def test_scores_match_the_pure_python_model(tmp_path, fmt_in, fmt_out):
    src = write_sample_data(tmp_path / f"in.{fmt_in}", 2500, seed=3)
    out = tmp_path / f"out.{fmt_out}"
    report = score_file(src, out, chunk_rows=700)
    assert (report.rows, report.scored, report.rejected, report.chunks) == (2500, 2500, 0, 4)
    inputs = read_any(src)
    rows = np.column_stack([inputs.column(c).to_numpy() for c in FEATURES]).tolist()
    expected = load_default_mlp().predict(rows)
    table = read_any(out)
    assert table.column("row").to_pylist() == list(range(2500))
    assert [str(v) for v in table.column("id").to_pylist()] == [
        str(v) for v in inputs.column("id").to_pylist()
    ]
    got = table.column("prediction").to_pylist()
    assert max(abs(a - b) for a, b in zip(got, expected)) < 1e-6
    assert set(table.column("model").to_pylist()) == {"diabetes-mlp"}
    assert set(map(str, table.column("model_version").to_pylist())) == {"1"}
    if fmt_out == "parquet":
        meta = pq.read_schema(out).metadata
        assert meta[b"lesson.model"] == b"diabetes-mlp" and meta[b"lesson.model_version"] == b"1"
        assert len(meta[b"lesson.model_manifest_sha256"]) == 64


@pytest.mark.parametrize("fixture", ["sample_csv", "sample_parquet"])
def test_rejects_file_accounts_for_every_bad_row(fixture, request, tmp_path):
    src: Path = request.getfixturevalue(fixture)
    out = tmp_path / "scores.parquet"
    report = score_file(src, out, chunk_rows=1000)
    rejects_path = default_rejects_path(out)
    assert rejects_path.name == "scores.rejects.csv" and rejects_path.exists()
    with open(rejects_path, newline="") as f:
        rejects = list(csv.DictReader(f))
    scored = pq.read_table(out).column("row").to_pylist()
    assert report.rejected == len(rejects) > 20  # 2% of 3000
    assert report.scored == len(scored)
    # nothing dropped, nothing twice
    assert sorted(scored + [int(r["row"]) for r in rejects]) == list(range(3000))
    for r in rejects:
        assert r["reason"] and r["id"] == r["row"]
        assert any(
            k in r["reason"] for k in ("missing value", "is not a number", "is not a finite number")
        )
        column = r["reason"].split(":")[0]
        assert column in FEATURES
    reasons = " | ".join(r["reason"] for r in rejects)
    assert "missing value" in reasons and "is not a finite number" in reasons
    if src.suffix == ".csv":
        assert "'unknown' is not a number" in reasons


def test_handwritten_csv_with_every_kind_of_problem(tmp_path):
    src = tmp_path / "hand.csv"
    good = "59,2,32.1,101,157,93.2,38,4,4.8598,87"
    src.write_text(
        "id,age,sex,bmi,bp,s1,s2,s3,s4,s5,s6,extra\n"
        f"a,{good},ignored\n"
        "b,59,2,,101,157,93.2,38,4,4.8598,87,x\n"  # missing bmi
        "c,59,2,thirty,101,157,93.2,38,4,4.8598,87,x\n"  # text
        "d,59,2,32.1,101,157,93.2,38,4,4.8598,inf,x\n"  # infinite
        "e,NaN,2,32.1,101,157,93.2,38,4,4.8598,87,x\n"  # NaN is a null value for CSV
        f"f,{good},x\n"
    )
    out = tmp_path / "out.csv"
    report = score_file(src, out)
    assert (report.scored, report.rejected) == (2, 4)
    scored = read_any(out)
    assert scored.column("id").to_pylist() == ["a", "f"]
    assert scored.column("prediction").to_pylist()[0] == pytest.approx(
        load_default_mlp().predict([[float(v) for v in good.split(",")]])[0], abs=1e-9
    )
    with open(default_rejects_path(out), newline="") as f:
        rejects = {r["id"]: r["reason"] for r in csv.DictReader(f)}
    assert rejects == {
        "b": "bmi: missing value",
        "c": "bmi: 'thirty' is not a number",
        "d": "s6: inf is not a finite number",
        "e": "age: missing value",
    }


def test_missing_column_is_a_clear_file_level_error(tmp_path):
    src = tmp_path / "bad.csv"
    src.write_text("id,age,sex\n1,2,3\n")
    with pytest.raises(BatchInputError, match="missing column.*bmi"):
        score_file(src, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("name", ["in.txt", "in.json"])
def test_unknown_extension(tmp_path, name):
    (tmp_path / name).write_text("x")
    with pytest.raises(BatchInputError, match="unknown file type"):
        score_file(tmp_path / name, tmp_path / "out.csv")


def test_bad_options(sample_csv, tmp_path):
    with pytest.raises(ValueError, match="chunk_rows"):
        score_file(sample_csv, tmp_path / "o.csv", chunk_rows=0)
    with pytest.raises(ValueError, match="different files"):
        score_file(sample_csv, sample_csv)
    with pytest.raises(ValueError, match="scheduler"):
        score_file(sample_csv, tmp_path / "o.csv", engine="dask")
    with pytest.raises(ValueError, match="engine"):
        score_file(sample_csv, tmp_path / "o.csv", engine="threads")


def test_rerun_is_byte_identical(sample_parquet, tmp_path):
    for ext in ("parquet", "csv"):
        a, b = tmp_path / f"a.{ext}", tmp_path / f"b.{ext}"
        score_file(sample_parquet, a, chunk_rows=512)
        score_file(sample_parquet, b, chunk_rows=512)
        assert a.read_bytes() == b.read_bytes()
        assert default_rejects_path(a).read_bytes() == default_rejects_path(b).read_bytes()


@pytest.mark.parametrize("fmt_in", ["csv", "parquet"])
@pytest.mark.parametrize("fmt_out", ["csv", "parquet"])
def test_the_pipelined_engine_writes_what_the_plain_loop_writes(tmp_path, fmt_in, fmt_out):
    """The fast path is the plain loop on three threads: the same bytes, reports and progress."""
    src = write_sample_data(tmp_path / f"in.{fmt_in}", 5000, seed=4, invalid_fraction=0.05)
    runs = {}
    for engine in ("local", "pipelined"):
        calls = []
        out = tmp_path / f"{engine}.{fmt_out}"
        report = score_file(
            src, out, chunk_rows=700, engine=engine, progress=lambda *a: calls.append(a)
        )
        runs[engine] = (out.read_bytes(), default_rejects_path(out).read_bytes(), calls, report)
    (plain, plain_rej, plain_calls, a), (fast, fast_rej, fast_calls, b) = runs.values()
    assert plain == fast and plain_rej == fast_rej and plain_calls == fast_calls
    assert (a.rows, a.scored, a.rejected, a.chunks) == (b.rows, b.scored, b.rejected, b.chunks)
    assert a.rejected > 0 and (a.engine, b.engine) == ("local", "pipelined")


@pytest.mark.parametrize("engine", ["local", "pipelined"])
def test_interrupted_run_leaves_no_output_and_rerun_is_identical(sample_parquet, tmp_path, engine):
    out = tmp_path / "scores.parquet"
    seen = []

    def interrupt(done, total, unit):
        seen.append(done)
        if len(seen) == 2:
            raise KeyboardInterrupt  # like Ctrl-C in the middle of the run

    with pytest.raises(KeyboardInterrupt):
        score_file(sample_parquet, out, chunk_rows=500, progress=interrupt, engine=engine)
    assert not out.exists() and not default_rejects_path(out).exists()
    assert [
        p.name for p in tmp_path.iterdir() if p.name.startswith(".")
    ] == []  # temp files removed
    score_file(sample_parquet, out, chunk_rows=500)
    score_file(sample_parquet, tmp_path / "clean.parquet", chunk_rows=500)
    assert out.read_bytes() == (tmp_path / "clean.parquet").read_bytes()


def test_previous_output_survives_a_failed_run(sample_csv, tmp_path):
    out = tmp_path / "scores.csv"
    score_file(sample_csv, out)
    before = out.read_bytes()

    def fail(*_):
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        score_file(sample_csv, out, progress=fail)
    assert out.read_bytes() == before


def test_progress_reaches_the_total(sample_csv, sample_parquet, tmp_path):
    for src in (sample_csv, sample_parquet):
        calls = []
        score_file(
            src,
            tmp_path / "o.parquet",
            chunk_rows=1000,
            progress=lambda d, t, u: calls.append((d, t, u)),
        )
        assert len(calls) == 3
        assert calls[-1][0] == calls[-1][1] > 0
        assert [c[0] for c in calls] == sorted(c[0] for c in calls)


def test_sample_data_is_deterministic_and_realistic(tmp_path):
    a = write_sample_data(tmp_path / "a.parquet", 5000, seed=7)
    b = write_sample_data(tmp_path / "b.parquet", 5000, seed=7)
    c = write_sample_data(tmp_path / "c.parquet", 5000, seed=8)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    t = pq.read_table(a)
    assert t.column_names == ["id", *FEATURES] and t.num_rows == 5000
    assert set(t.column("sex").to_pylist()) == {1.0, 2.0}
    age = t.column("age").to_numpy()
    assert age.min() >= 19 and age.max() <= 79 and 40 < age.mean() < 58
    with pytest.raises(ValueError, match="rows"):
        write_sample_data(tmp_path / "x.csv", 0)


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 1000])
def test_malformed_csv_rows_are_rejected_with_their_row_numbers(tmp_path, chunk_rows):
    good = "59,2,32.1,101,157,93.2,38,4,4.8598,87"
    src = tmp_path / "ragged.csv"
    src.write_text(
        "id,age,sex,bmi,bp,s1,s2,s3,s4,s5,s6\n"
        f"a,{good}\n"
        "b,1,2,3\n"  # too few fields
        "\n"  # a blank line is not a row
        f"c,{good}\n"
        f"d,{good},99\n"  # too many fields
        f"e,{good}\n"
        "f,1\n"  # malformed last row
    )
    out = tmp_path / "out.csv"
    report = score_file(src, out, chunk_rows=chunk_rows)
    assert (report.rows, report.scored, report.rejected) == (6, 3, 3)
    scored = read_any(out)
    assert scored.column("row").to_pylist() == [0, 2, 4]
    assert scored.column("id").to_pylist() == ["a", "c", "e"]
    with open(default_rejects_path(out), newline="") as f:
        rejects = [(int(r["row"]), r["reason"]) for r in csv.DictReader(f)]
    assert [r for r, _ in rejects] == [1, 3, 5]
    assert rejects[0][1] == "malformed row: expected 11 fields, got 4: 'b,1,2,3'"
    assert "got 12" in rejects[1][1] and "got 2" in rejects[2][1]
