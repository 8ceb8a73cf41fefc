"""The local pipeline's plumbing: no lazy imports per run, zero-copy hand-offs, flushes as it goes,
both files synced before either appears, stage timings, and the two halves of a chunk's scoring."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lesson.patterns.batch import io as batch_io
from lesson.patterns.batch import score_file, write_sample_data
from lesson.patterns.batch.io import AtomicTableWriter, Chunk, ChunkReader, commit_together
from lesson.patterns.batch.pipelined import _local_results, _prefetch, _prepare
from lesson.patterns.batch.scoring import (
    BufferPool,
    ModelRef,
    as_arrow,
    finish_chunk,
    output_schema,
    prepare_chunk,
    score_table,
)

FEATURES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")


@pytest.mark.parametrize("ext", ["parquet", "csv"])
def test_a_first_run_in_a_fresh_process_imports_nothing_lazily(tmp_path, ext):
    """Fixed costs stay out of the per-file path: e.g. ``pa.array(ndarray)`` imports ``numpy.ma``
    on its first call (15-25 ms, measured), so the chunk path must not call it."""
    src = write_sample_data(tmp_path / f"in.{ext}", 3000, seed=1, invalid_fraction=0.02)
    code = (
        "import json, sys\n"
        "from lesson.patterns.batch import score_file\n"
        "before = set(sys.modules)\n"
        f"report = score_file({str(src)!r}, {str(tmp_path / 'out.parquet')!r}, chunk_rows=1000)\n"
        "print(json.dumps({'new': sorted(set(sys.modules) - before), 'rejected': report.rejected}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["rejected"] > 0  # the rejects path ran too
    assert result["new"] == []


def test_as_arrow_wraps_numpy_without_copying():
    values = np.arange(5, dtype=np.int64)
    arr = as_arrow(values)
    assert arr.type == pa.int64() and arr.to_pylist() == [0, 1, 2, 3, 4]
    assert arr.buffers()[1].address == values.ctypes.data  # the same memory
    assert as_arrow(np.array([0.5, 1.5])).type == pa.float64()
    assert as_arrow(np.arange(10)[::2]).to_pylist() == [
        0,
        2,
        4,
        6,
        8,
    ]  # strided: made contiguous first
    with pytest.raises(KeyError):
        as_arrow(np.array(["a"]))


def test_output_columns_that_never_hold_nulls_are_required(tmp_path, sample_parquet):
    out = tmp_path / "out.parquet"
    score_file(sample_parquet, out)
    schema = pq.read_schema(out)
    assert {f.name: f.nullable for f in schema} == {
        "row": False,
        "id": True,
        "prediction": False,
        "model": False,
        "model_version": False,
    }
    assert schema == output_schema(pa.int64()).with_metadata(schema.metadata)
    table = pq.read_table(out)
    assert table.column("model").to_pylist()[:2] == ["diabetes-mlp", "diabetes-mlp"]


def test_writer_flushes_as_it_goes_and_commit_publishes(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(
        batch_io, "_fdatasync", lambda fd: synced.append(os.fstat(fd).st_size) or os.fsync(fd)
    )
    path = tmp_path / "big.parquet"
    schema = pa.schema([pa.field("x", pa.float64(), nullable=False)])
    writer = AtomicTableWriter(
        path, schema, parquet={"compression": "none", "use_dictionary": False}
    )
    rng = np.random.default_rng(0)
    for _ in range(12):  # 12 x 0.5 MB of incompressible floats
        writer.write(pa.table({"x": as_arrow(rng.random(65_536))}, schema=schema))
    step = batch_io.SYNC_EVERY_BYTES
    assert len(synced) >= 2  # 6 MB written: flushed along the way...
    assert all(b - a >= step for a, b in zip([0, *synced], synced))  # ...once per SYNC_EVERY_BYTES
    assert not path.exists() and writer.tmp.exists()  # flushed, still not visible
    writer.commit()
    assert not writer.tmp.exists() and pq.read_table(path).num_rows == 12 * 65_536


def test_commit_together_publishes_nothing_when_one_file_fails_to_sync(tmp_path):
    schema = pa.schema([("x", pa.int64())])
    a = AtomicTableWriter(tmp_path / "a.parquet", schema)
    b = AtomicTableWriter(tmp_path / "b.csv", schema)
    for w in (a, b):
        w.write(pa.table({"x": [1, 2, 3]}, schema=schema))

    def full_disk() -> None:
        raise OSError(28, "No space left on device")

    b.sync = full_disk
    with pytest.raises(OSError, match="No space left"):
        commit_together(a, b)
    assert not (tmp_path / "a.parquet").exists() and not (tmp_path / "b.csv").exists()
    a.abort()
    b.abort()
    assert list(tmp_path.iterdir()) == []  # temporaries dropped too
    c = AtomicTableWriter(tmp_path / "c.parquet", schema)
    d = AtomicTableWriter(tmp_path / "d.csv", schema)
    c.write(pa.table({"x": [7]}, schema=schema))
    commit_together(c, d)
    assert pq.read_table(tmp_path / "c.parquet").column("x").to_pylist() == [7]
    assert (tmp_path / "d.csv").read_text().strip() == '"x"'  # header only: nothing written


@pytest.mark.parametrize("engine", ["local", "pipelined"])
@pytest.mark.parametrize("ext", ["parquet", "csv"])
def test_report_says_where_the_time_went(tmp_path, ext, engine):
    src = write_sample_data(tmp_path / f"in.{ext}", 20_000, seed=2)
    report = score_file(src, tmp_path / "out.parquet", chunk_rows=5000, engine=engine)
    assert set(report.stages) == {"reader_cpu_s", "predict_cpu_s", "writer_cpu_s", "commit_s"}
    assert all(v > 0 for v in report.stages.values()), report.stages
    assert report.to_dict()["stages"] == report.stages


def test_chunks_of_whole_row_groups_are_not_copied(tmp_path):
    src = tmp_path / "rg.parquet"
    n = 4000
    table = pa.table(
        {"id": np.arange(n), **{f: np.linspace(1, 2, n) + j for j, f in enumerate(FEATURES)}}
    )
    pq.write_table(table, src, row_group_size=1000)
    reader = ChunkReader(src, FEATURES, ("id",), chunk_rows=2000)
    chunks = list(reader.chunks())
    assert [c.table.num_rows for c in chunks] == [2000, 2000]
    assert (
        chunks[0].table.column("age").num_chunks == 2
    )  # two row groups side by side, no concatenation
    # and the scores do not depend on how the rows were grouped
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    score_file(src, a, chunk_rows=2000)
    score_file(src, b, chunk_rows=1000)
    assert pq.read_table(a).to_pydict() == pq.read_table(b).to_pydict()


def test_score_table_is_prepare_then_finish(sample_parquet):
    ref = ModelRef.resolve()
    table = pq.read_table(sample_parquet).slice(0, 1000)
    whole = score_table(table, ref, 0)
    pool = BufferPool()
    prepared = prepare_chunk(table, FEATURES, 0, buffer=pool.take(10 * 1000))
    split = finish_chunk(prepared, ref)
    assert split.predictions.equals(whole.predictions) and split.rejects.equals(whole.rejects)
    assert whole.rejects.num_rows > 0 and split.n_rows == 1000


def test_buffer_pool_reuses_big_enough_buffers():
    pool = BufferPool()
    a = pool.take(100)
    pool.give(a)
    assert pool.take(50) is a  # reused
    assert pool.take(50) is not a  # none free: a new one
    pool.give(a)
    b = pool.take(200)  # too small: a new one, the small one stays free
    assert b is not a and b.size >= 200 and pool.take(10) is a


def test_chunks_are_validated_on_either_thread_with_the_same_results(sample_parquet):
    """The local Parquet engine hands a chunk over unvalidated while the calling thread waits
    for work; the calling thread then validates it itself. Both kinds give the same results."""
    ref = ModelRef.resolve()
    table = pq.read_table(sample_parquet)
    parts = [table.slice(i * 700, 700) for i in range(3)]
    chunks = [Chunk(t, np.arange(i * 700, i * 700 + t.num_rows)) for i, t in enumerate(parts)]
    pool = BufferPool()
    mixed = [chunks[0], _prepare(chunks[1], FEATURES, pool), chunks[2]]  # raw, validated, raw
    results = list(_local_results(iter(mixed), ref, FEATURES, pool))
    for i, result in enumerate(results):
        expected = score_table(parts[i], ref, i * 700)
        assert result.predictions.equals(expected.predictions) and result.rejects.equals(
            expected.rejects
        )
    assert (
        sum(r.rejects.num_rows for r in results) > 0
    )  # the sample has bad rows: both paths saw some


def test_prefetch_says_when_the_consumer_waits():
    release, waiting, seen = threading.Event(), threading.Event(), []

    def slow():
        yield 1
        release.wait(5)  # the consumer now waits for the second item
        yield 2

    items = _prefetch(slow(), waiting=waiting)
    assert next(items) == 1
    t = threading.Thread(target=lambda: seen.append(next(items)))
    t.start()
    deadline = time.monotonic() + 5
    while not waiting.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert waiting.is_set() and not seen  # waiting, with nothing to hand over yet
    release.set()
    t.join(5)
    assert seen == [2] and not waiting.is_set()  # got it: no longer waiting
    assert list(items) == []


@pytest.mark.parametrize("ext", ["parquet", "csv"])
def test_a_failed_run_stops_its_reader_thread_before_it_raises(tmp_path, ext):
    """The pipelined engine's threads must not outlive a failed run (the reader holds chunks
    and, left to the garbage collector, was finalised on its own thread: "cannot join current
    thread")."""
    src = write_sample_data(tmp_path / f"in.{ext}", 6000, seed=3)

    def interrupt(done, total, unit):
        raise KeyboardInterrupt  # Ctrl-C after the first chunk, with more chunks queued

    with pytest.raises(KeyboardInterrupt) as failed:
        score_file(
            src, tmp_path / "out.parquet", chunk_rows=500, progress=interrupt, engine="pipelined"
        )
    threads = [t for t in threading.enumerate() if t.name in ("batch-prefetch", "batch-writer")]
    assert threads == [], threads  # stopped while the failure is still being handled
    assert not (tmp_path / "out.parquet").exists()
    assert failed.value is not None
