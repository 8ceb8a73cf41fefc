"""Batch scoring of a file: read a chunk, validate it, predict, write it; commit at the end.

    from lesson.patterns.batch import score_file
    report = score_file("patients.parquet", "scores.parquet")          # the plain loop
    report = score_file("patients.parquet", "scores.parquet", engine="pipelined")  # 3 threads
    report = score_file("patients.csv", "scores.csv", engine="dask",
                        scheduler="tcp://127.0.0.1:8786")                 # a Dask cluster
    print(report.to_text())

The whole job is one loop (:func:`_score_plainly`)::

    for chunk in reader:                                   # pyarrow's CSV / Parquet batch reader
        result = score_table(chunk.table, ref, chunk.rows) # validate each column, predict valid rows
        predictions.write(result.predictions)              # pyarrow's Parquet / CSV writer,
        rejects.write(result.rejects)                      #   into temporary files
    commit_together(rejects, predictions)                  # fsync both, then rename into place

The predictions file carries the model name and version in every row (and, for Parquet, in
the file's metadata with the artifact's manifest checksum). Rows that fail validation go to
the rejects file (``<output>.rejects.csv`` by default) with the reason. Both files appear only
when the run completes; a rerun gives byte-identical output, whatever the engine.

Engines: ``"local"`` (the default) runs the loop above on the calling thread.
``"pipelined"`` (:mod:`lesson.patterns.batch.pipelined`) runs the same steps on three threads
-- read, predict, write -- so that they overlap: the fast path when a second core is free
(``benchmarks/bench_batch_scoring.py``; no faster when other processes keep that core busy),
at the cost of threads, queues and a buffer pool. ``"dask"`` sends each chunk to a Dask
cluster and writes the results back in input order. All three write the same bytes.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa

from lesson.patterns.batch.io import (
    AtomicTableWriter,
    Chunk,
    ChunkReader,
    commit_together,
    remove_stale_temporaries,
)
from lesson.patterns.batch.keys import KeyCheck
from lesson.patterns.batch.pipelined import score_pipelined
from lesson.patterns.batch.scoring import (
    ID_COLUMN,
    ChunkResult,
    ModelRef,
    load_model,
    output_schema,
    rejects_schema,
    score_table,
)

__all__ = ["BatchReport", "score_file", "default_rejects_path", "MAX_CHUNK_ROWS", "ENGINES"]

MAX_CHUNK_ROWS = 1_000_000
ENGINES = ("local", "pipelined", "dask")
Progress = Callable[[int, int, str], None]  # (done, total, unit)


@dataclass
class BatchReport:
    """What a batch run did. ``rows == scored + rejected`` always."""

    input: str
    output: str
    rejects: str
    rows: int
    scored: int
    rejected: int
    model: str
    model_version: str
    engine: str
    chunks: int
    wall_s: float
    #: rejected rows whose ``id`` was empty, or repeated an earlier row's (counted in ``rejected``)
    empty_ids: int = 0
    repeated_ids: int = 0
    #: Where the time went, in CPU seconds: reading the file (``reader_cpu_s``; with the
    #: pipelined engine the reader thread, which also validates most Parquet chunks),
    #: validating and predicting (``predict_cpu_s``; with Dask the workers do it and their CPU
    #: is not counted), writing (``writer_cpu_s``); and the wall seconds of the final fsync +
    #: rename (``commit_s``).
    stages: dict = field(default_factory=dict)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.wall_s if self.wall_s > 0 else 0.0

    def to_dict(self) -> dict:
        return dict(asdict(self), rows_per_s=round(self.rows_per_s, 1))

    def to_text(self) -> str:
        return (
            f"scored {self.scored:,} of {self.rows:,} rows with {self.model} v{self.model_version} "
            f"({self.engine} engine, {self.chunks} chunks, {self.wall_s:.2f} s, {self.rows_per_s:,.0f} rows/s)\n"
            f"  predictions -> {self.output}\n"
            f"  rejected {self.rejected:,} rows -> {self.rejects}"
            + (
                f" ({self.empty_ids:,} with an empty id, {self.repeated_ids:,} repeating an earlier row's id)"
                if self.empty_ids or self.repeated_ids
                else ""
            )
        )


def default_rejects_path(output: Path) -> Path:
    """``scores.parquet`` -> ``scores.rejects.csv`` (always CSV: meant to be read by people)."""
    output = Path(output)
    return output.with_name(output.name.rsplit(".", 1)[0] + ".rejects.csv")


def score_file(
    input_path: str | Path,
    output_path: str | Path,
    *,
    rejects_path: str | Path | None = None,
    model: str = "diabetes-mlp",
    version: str | None = None,
    chunk_rows: int = 65_536,
    engine: str = "local",
    scheduler: str | None = None,
    in_flight: int | None = None,
    progress: Progress | None = None,
) -> BatchReport:
    """Score every row of ``input_path`` into ``output_path`` (CSV or Parquet by extension).

    Args:
        input_path: CSV or Parquet file with the model's feature columns (and optionally ``id``).
        output_path: predictions file; written atomically.
        rejects_path: rejects file (default ``<output>.rejects.csv``); written atomically.
        model: artifact name.
        version: artifact version (default: newest).
        chunk_rows: rows per chunk (1..1,000,000); memory grows with this, not with the file.
        engine: ``"local"`` (the plain loop), ``"pipelined"`` (read, predict and write on
            three threads) or ``"dask"``; all three write the same bytes.
        scheduler: Dask scheduler address (``tcp://host:port``) for ``engine="dask"``.
        in_flight: chunks submitted to Dask ahead of the writer (default 2 per worker).
        progress: ``fn(done, total, unit)`` called after each chunk.

    Returns:
        A :class:`BatchReport`.

    Raises:
        BatchInputError: the input cannot be scored (type, missing columns, malformed).
        ValueError: bad options.
    """
    src, out = Path(input_path), Path(output_path)
    rej = Path(rejects_path) if rejects_path is not None else default_rejects_path(out)
    if not 1 <= chunk_rows <= MAX_CHUNK_ROWS:
        raise ValueError(f"chunk_rows must be in 1..{MAX_CHUNK_ROWS}, got {chunk_rows}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}, got {engine!r}")
    if engine == "dask" and not scheduler:
        raise ValueError("engine 'dask' needs a scheduler address, e.g. tcp://127.0.0.1:8786")
    if len({p.resolve() for p in (src, out, rej)}) != 3:
        raise ValueError("input, output and rejects must be three different files")
    run = BatchRun(src, out, rej, ModelRef.resolve(model, version), chunk_rows)
    try:
        if engine == "local":
            _score_plainly(run, progress)
        elif engine == "pipelined":
            score_pipelined(run, progress)
        else:
            _score_on_dask(run, progress, scheduler, in_flight)
        run.commit()
    except BaseException:
        run.abort()
        raise
    return run.report(engine)


def _score_plainly(run: BatchRun, progress: Progress | None) -> None:
    """The plain loop, on this thread: read a chunk, validate + predict it, write it."""
    cpu = time.thread_time()
    for chunk, position in run.chunks():  # pyarrow's batch reader, chunk_rows rows at a time
        result = score_table(chunk.table, run.ref, chunk.rows, chunk.malformed, chunk.key_reasons)
        run.write(result)  # pyarrow's Parquet / CSV writer, into the temporary files
        if progress is not None:
            progress(position, run.reader.total, run.reader.unit)
    run.charge_the_rest("predict_cpu_s", since=cpu)


def _score_on_dask(
    run: BatchRun, progress: Progress | None, scheduler: str, in_flight: int | None
) -> None:
    """Read here; validate + predict each chunk on a Dask cluster, a bounded number in flight;
    write the results here, in input order."""
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - the batch extra installs it
        raise RuntimeError(
            "--engine dask needs `pip install lesson[batch]` (dask[distributed])"
        ) from exc
    with Client(scheduler, timeout="20s", set_as_default=False) as client:
        window = in_flight or 2 * max(1, len(client.scheduler_info().get("workers", {})))
        pending: collections.deque = collections.deque()

        def write_oldest() -> None:
            future, position = pending.popleft()
            run.write(future.result())
            if progress is not None:
                progress(position, run.reader.total, run.reader.unit)

        for chunk, position in run.chunks():
            args = (chunk.table, run.ref, chunk.rows, chunk.malformed, chunk.key_reasons)
            pending.append((client.submit(score_table, *args, pure=False), position))
            while len(pending) >= window:
                write_oldest()
        while pending:
            write_oldest()


class BatchRun:
    """One run's plumbing, shared by the engines: the model, the chunked reader with the key
    check, the two atomic writers, the counts and the stage times.

    Opening it checks the input (columns, format) and creates the two temporary files; then
    :meth:`chunks` reads, :meth:`write` writes a chunk's result, and :meth:`commit` (or
    :meth:`abort`) ends the run.
    """

    def __init__(self, src: Path, out: Path, rej: Path, ref: ModelRef, chunk_rows: int):
        self.src, self.out, self.rej, self.ref = src, out, rej, ref
        self.features = load_model(ref).params.feature_names
        self.reader = ChunkReader(src, self.features, (ID_COLUMN,), chunk_rows)
        self.has_id = ID_COLUMN in self.reader.columns
        id_type = self.reader.column_type(ID_COLUMN) if self.has_id else None
        for target in (out, rej):
            target.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(target)
        metadata = {
            "lesson.model": ref.name,
            "lesson.model_version": ref.version,
            "lesson.model_manifest_sha256": ref.manifest_sha256,
        }
        self.start = time.perf_counter()
        self.keys = KeyCheck()
        self.rows = self.n_chunks = 0
        self.stages: dict[str, float] = {}
        self.predictions = AtomicTableWriter(out, output_schema(id_type), metadata)
        self.rejects = AtomicTableWriter(rej, rejects_schema(self.has_id, self.features))

    def timed(self, stage: str, fn: Callable, *args):
        """``fn(*args)``, its CPU seconds on this thread added to ``stages[stage]``."""
        cpu = time.thread_time()
        try:
            return fn(*args)
        finally:
            self.stages[stage] = self.stages.get(stage, 0.0) + time.thread_time() - cpu

    def charge_the_rest(self, stage: str, since: float) -> None:
        """This thread's CPU since ``since`` not counted in another stage goes to ``stage``."""
        counted = sum(self.stages.get(k, 0.0) for k in ("reader_cpu_s", "writer_cpu_s"))
        self.stages[stage] = time.thread_time() - since - counted

    def chunks(self) -> Iterator[tuple[Chunk, int]]:
        """The file's chunks in order, each with its rows' key verdicts and the progress made
        (the CPU spent here goes to ``reader_cpu_s``)."""
        chunks = self.reader.with_positions()
        while True:
            item = self.timed("reader_cpu_s", self._next_chunk, chunks)
            if item is None:
                return
            yield item

    def _next_chunk(self, chunks: Iterator[tuple[Chunk, int]]) -> tuple[Chunk, int] | None:
        item = next(chunks, None)
        if item is not None and self.has_id:
            item[0].key_reasons = self.keys.check(item[0].table.column(ID_COLUMN), item[0].rows)
        return item

    def write(self, result: ChunkResult) -> None:
        """Append a chunk's predictions and rejects (CPU to ``writer_cpu_s``)."""
        self.timed("writer_cpu_s", self.predictions.write, result.predictions)
        self.timed("writer_cpu_s", self.rejects.write, result.rejects)
        self.count(result)

    def count(self, result: ChunkResult) -> None:
        self.rows += result.n_rows
        self.n_chunks += 1

    def commit(self) -> None:
        """Check the counts, fsync both files at once, rename them into place (rejects first)."""
        scored, rejected = self.predictions.rows, self.rejects.rows
        if scored + rejected != self.rows:  # pragma: no cover - a bug, never silent
            raise RuntimeError(f"{self.rows} rows read but {scored} scored + {rejected} rejected")
        committing = time.perf_counter()
        commit_together(self.rejects, self.predictions)
        self.stages["commit_s"] = time.perf_counter() - committing
        # The run's freed Arrow memory goes back to the OS once, at the end (a notebook lives on).
        pa.default_memory_pool().release_unused()

    def abort(self) -> None:
        """Drop both temporary files; the targets are left as they were."""
        self.predictions.abort()
        self.rejects.abort()

    def report(self, engine: str) -> BatchReport:
        return BatchReport(
            input=str(self.src),
            output=str(self.out),
            rejects=str(self.rej),
            rows=self.rows,
            scored=self.predictions.rows,
            rejected=self.rejects.rows,
            model=self.ref.name,
            model_version=self.ref.version,
            engine=engine,
            chunks=self.n_chunks,
            wall_s=time.perf_counter() - self.start,
            empty_ids=self.keys.empty,
            repeated_ids=self.keys.repeated,
            stages={
                k: round(self.stages[k], 6)
                for k in ("reader_cpu_s", "predict_cpu_s", "writer_cpu_s", "commit_s")
                if k in self.stages
            },
        )
