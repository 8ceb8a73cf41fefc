"""Row keys: an empty id or one that repeats an earlier row's goes to the rejects, with the reason.

The first row with a key is scored; CSV and Parquet, integer and text ids, keys repeated inside
a chunk and across chunks, the local engine and a Dask LocalCluster give the same files.
"""

from __future__ import annotations

import csv

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv
import pyarrow.parquet as pq
import pytest

from lesson.patterns.batch import default_rejects_path, score_file, write_sample_data
from lesson.patterns.batch.keys import KeyCheck


def _with_ids(src, dst, ids):
    """``src``'s rows with the ``id`` column replaced by ``ids`` (a pyarrow array)."""
    table = pq.read_table(src) if src.suffix == ".parquet" else None
    if table is None:
        from pyarrow import csv as pacsv

        table = pacsv.read_csv(src)
    table = table.set_column(table.column_names.index("id"), "id", ids)
    if dst.suffix == ".parquet":
        pq.write_table(table, dst)
    else:
        from pyarrow import csv as pacsv

        pacsv.write_csv(table, dst)
    return dst


def _rejects(output):
    with open(default_rejects_path(output), newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def base(tmp_path):
    return write_sample_data(tmp_path / "base.parquet", 1000, seed=3)


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_integer_ids_repeated_within_and_across_chunks(base, tmp_path, ext):
    ids = np.arange(1000, dtype=np.int64)
    ids[5] = ids[2]  # same chunk as its first use (chunk_rows=300)
    ids[700] = ids[10]  # a later chunk
    ids[701] = ids[10]  # twice
    mask = np.zeros(1000, dtype=bool)
    mask[400] = True  # missing
    src = _with_ids(base, tmp_path / f"in.{ext}", pa.array(ids, mask=mask))
    out = tmp_path / f"out.{ext}"
    report = score_file(src, out, chunk_rows=300)
    assert (report.rows, report.scored, report.rejected) == (1000, 996, 4)
    assert (report.empty_ids, report.repeated_ids) == (1, 3)
    by_row = {int(r["row"]): r["reason"] for r in _rejects(out)}
    shown = (lambda v: repr(str(v))) if ext == "csv" else repr  # every CSV value is text
    assert by_row[5] == f"id: {shown(2)} repeats row 2's"
    assert by_row[700] == by_row[701] == f"id: {shown(10)} repeats row 10's"
    assert by_row[400].startswith("id: empty")
    scored = pq.read_table(out) if ext == "parquet" else pa.csv.read_csv(out)
    scored_ids = scored.column("id").to_pylist()
    assert len(scored_ids) == len(set(scored_ids)) == 996, (
        "a key appears twice among the predictions"
    )
    assert {2, 10} <= set(scored_ids), "the first row with a key must be scored"
    assert set(scored.column("row").to_pylist()).isdisjoint(by_row)
    assert "1 with an empty id, 3 repeating an earlier row's id" in report.to_text()


def test_text_ids_blank_and_repeated_csv(base, tmp_path):
    ids = [f"p-{i}" if i % 2 else str(i) for i in range(1000)]  # half look like integers
    ids[3], ids[4] = "", "   "
    ids[999] = ids[1]
    ids[998] = "0998"  # not the integer 998: a different key
    ids[997] = "2"  # the integer-looking path: repeats row 2
    src = _with_ids(base, tmp_path / "in.csv", pa.array(ids, pa.string()))
    out = tmp_path / "out.parquet"
    report = score_file(src, out, chunk_rows=256)
    assert (report.empty_ids, report.repeated_ids, report.rejected) == (2, 2, 4)
    by_row = {int(r["row"]): r for r in _rejects(out)}
    assert by_row[999]["reason"] == "id: 'p-1' repeats row 1's"
    assert by_row[997]["reason"] == "id: '2' repeats row 2's"
    assert by_row[3]["reason"].startswith("id: empty") and by_row[4]["reason"].startswith(
        "id: empty"
    )
    assert by_row[999]["id"] == "p-1" and by_row[999]["age"] != ""  # the raw values kept for a fix
    ids_out = pq.read_table(out).column("id")
    assert pc.count_distinct(ids_out).as_py() == len(ids_out) == 996


def test_a_repeated_key_with_bad_features_gives_both_reasons(tmp_path):
    src = write_sample_data(tmp_path / "in.parquet", 50, seed=1)
    table = pq.read_table(src)
    ids = table.column("id").to_numpy().copy()
    ids[7] = ids[6]
    bmi = table.column("bmi").to_numpy().copy()
    bmi[7] = np.nan
    table = table.set_column(0, "id", pa.array(ids)).set_column(
        table.column_names.index("bmi"), "bmi", pa.array(bmi)
    )
    pq.write_table(table, src)
    report = score_file(src, tmp_path / "out.parquet")
    assert report.rejected == 1
    (row,) = _rejects(tmp_path / "out.parquet")
    assert row["reason"] == "id: 6 repeats row 6's; bmi: nan is not a finite number"


def test_keycheck_across_many_chunks_matches_a_set(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.integers(0, 5000, 20_000)
    check, seen, expected = KeyCheck(), set(), set()
    for start in range(0, len(values), 1500):
        part = values[start : start + 1500]
        for i, v in enumerate(part.tolist()):
            if v in seen:
                expected.add(start + i)
            seen.add(v)
        got = check.check(pa.chunked_array([pa.array(part)]), np.arange(start, start + len(part)))
        assert {start + i for i in got} == {e for e in expected if start <= e < start + len(part)}
    assert check.repeated == len(expected) == 20_000 - len(seen)


@pytest.mark.slow
def test_dask_engine_rejects_the_same_keys(base, tmp_path):
    distributed = pytest.importorskip("distributed")
    ids = np.arange(1000, dtype=np.int64)
    ids[650] = ids[1]
    src = _with_ids(base, tmp_path / "in.parquet", pa.array(ids, mask=np.arange(1000) == 20))
    local = score_file(src, tmp_path / "local.parquet", chunk_rows=200)
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        host="127.0.0.1",
        protocol="tcp://",
        dashboard_address=None,
    ) as cluster:
        remote = score_file(
            src,
            tmp_path / "dask.parquet",
            chunk_rows=200,
            engine="dask",
            scheduler=cluster.scheduler_address,
        )
    assert (
        (remote.empty_ids, remote.repeated_ids) == (local.empty_ids, local.repeated_ids) == (1, 1)
    )
    assert (tmp_path / "local.parquet").read_bytes() == (tmp_path / "dask.parquet").read_bytes()
    assert (
        default_rejects_path(tmp_path / "local.parquet").read_bytes()
        == default_rejects_path(tmp_path / "dask.parquet").read_bytes()
    )
