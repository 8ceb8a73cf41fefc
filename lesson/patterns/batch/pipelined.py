"""The pipelined fast path of batch scoring (``score_file(..., engine="pipelined")``).

The same steps as the plain loop in :mod:`lesson.patterns.batch.runner` -- read, validate,
predict, write -- on three threads, so that they overlap on two cores (Arrow and numpy release
the GIL while they decode, compute and encode): a reader thread reads the next chunks
(:func:`_prefetch`), the calling thread predicts each chunk with one vectorised call, and a
writer thread encodes the results (:class:`_WriteBehind`). Bounded queues keep memory flat.

Validation (:func:`lesson.patterns.batch.scoring.prepare_chunk`) runs where there is room: on
the reader thread for Parquet, whose decoding is cheap (unless the calling thread is waiting
for work: then it validates the chunk itself), on the calling thread for CSV, whose parsing
already fills the reader thread. Kept because ``benchmarks/bench_batch_scoring.py`` shows it
pays; the figures are in ``benchmarks/README.md``.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pyarrow as pa

from lesson.patterns.batch.io import AtomicTableWriter, Chunk
from lesson.patterns.batch.scoring import (
    BufferPool,
    ChunkResult,
    ModelRef,
    PreparedChunk,
    finish_chunk,
    prepare_chunk,
)

if TYPE_CHECKING:  # runner imports this module
    from lesson.patterns.batch.runner import BatchRun, Progress

__all__ = ["score_pipelined"]

_DONE = object()


def score_pipelined(run: BatchRun, progress: Progress | None) -> None:
    """Score ``run``'s chunks into its writers: read, predict and write on three threads."""
    main_cpu = time.thread_time()
    positions: collections.deque = collections.deque()  # one per chunk in flight, in order
    buffers = BufferPool()
    writes = _WriteBehind()
    chunks = results = None

    def tables(items: Iterator[tuple[object, int]], waiting: threading.Event | None = None):
        prefetched = _prefetch(items, cpu=run.stages, waiting=waiting)
        try:
            for chunk, position in prefetched:
                positions.append(position)
                yield chunk
        finally:
            prefetched.close()  # stops the reader thread

    try:
        if run.reader.format == "parquet":
            # validate on the reader thread, unless the calling thread is waiting for work
            calling_thread_waits = threading.Event()

            def validated_unless_waited_for(items: Iterator[tuple[Chunk, int]]) -> Iterator:
                for chunk, position in items:
                    if not calling_thread_waits.is_set():
                        chunk = _prepare(chunk, run.features, buffers)
                    yield chunk, position

            chunks = tables(validated_unless_waited_for(run.chunks()), calling_thread_waits)
        else:
            chunks = tables(run.chunks())
        results = _local_results(chunks, run.ref, run.features, buffers)
        for result in results:
            writes.put((run.predictions, result.predictions), (run.rejects, result.rejects))
            run.count(result)
            position = positions.popleft()
            if progress is not None:
                progress(position, run.reader.total, run.reader.unit)
        run.stages["predict_cpu_s"] = time.thread_time() - main_cpu
        writes.finish()
        run.stages["writer_cpu_s"] = writes.cpu_s
    except BaseException:
        # Stop the reader thread now. Left to the garbage collector, the thread kept polling
        # its full queue while the traceback lived (a notebook keeps it), and was at times
        # finalised on its own thread ("cannot join current thread").
        for generator in (results, chunks):
            if generator is not None:
                generator.close()
        writes.stop()  # the writer thread must be idle before the files are dropped
        raise


def _prefetch(
    items: Iterator, depth: int = 2, cpu: dict | None = None, waiting: threading.Event | None = None
) -> Iterator:
    """Iterate ``items`` in a background thread, at most ``depth`` ahead (I/O overlaps compute;
    memory stays bounded). Errors are re-raised in the consumer. The thread's CPU seconds go to
    ``cpu["reader_cpu_s"]`` when it ends. ``waiting`` is set while the consumer has nothing
    queued and waits for the next item."""
    q: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            _produce()
        finally:
            if cpu is not None:
                cpu["reader_cpu_s"] = time.thread_time()

    def _produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    thread = threading.Thread(target=produce, name="batch-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            if waiting is not None and q.empty():
                waiting.set()
            item = q.get()
            if waiting is not None:
                waiting.clear()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(5)


class _WriteBehind:
    """Append tables to their writers on a background thread, at most ``depth`` results queued.

    Parquet/CSV encoding runs beside the next chunk's validation and prediction (Arrow
    releases the GIL while it encodes); memory stays bounded by ``depth``. A write error is
    re-raised in the caller at the next :meth:`put` or at :meth:`finish`.
    """

    def __init__(self, depth: int = 2):
        self._queue: queue.Queue = queue.Queue(depth)
        self._error: BaseException | None = None
        self.cpu_s = 0.0  # the thread's CPU seconds, set when it ends
        self._thread = threading.Thread(target=self._run, name="batch-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._write_all()
        finally:
            self.cpu_s = time.thread_time()

    def _write_all(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if self._error is not None:
                continue  # failed: drain without writing
            try:
                for writer, table in item:
                    writer.write(table)
                item = writer = table = None  # drop this chunk's tables
            except BaseException as exc:  # handed to the caller
                self._error = exc

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def put(self, *writes: tuple[AtomicTableWriter, pa.Table]) -> None:
        """Queue ``(writer, table)`` pairs, written in this order (blocks while the queue is full)."""
        self._check()
        self._queue.put(writes)

    def finish(self) -> None:
        """Wait until everything queued is written; raise the first write error."""
        if self._thread.is_alive():
            self._queue.put(_DONE)
            self._thread.join()
        self._check()

    def stop(self) -> None:
        """Abandon what is queued and wait for the thread (on the failure path)."""
        if self._error is None:
            self._error = RuntimeError("batch run stopped")
        try:
            self.finish()
        except BaseException:  # we are already failing
            pass


def _prepare(chunk: Chunk, features: tuple[str, ...], pool: BufferPool) -> PreparedChunk:
    buffer = pool.take(len(features) * chunk.table.num_rows)
    return prepare_chunk(
        chunk.table, features, chunk.rows, chunk.malformed, chunk.key_reasons, buffer=buffer
    )


def _local_results(
    chunks: Iterator[Chunk | PreparedChunk],
    ref: ModelRef,
    features: tuple[str, ...],
    pool: BufferPool,
) -> Iterator[ChunkResult]:
    """Predict chunks on this thread, validating those not validated yet; each chunk's buffer
    goes back to the pool."""
    for chunk in chunks:
        prepared = _prepare(chunk, features, pool) if isinstance(chunk, Chunk) else chunk
        result = finish_chunk(prepared, ref)
        pool.give(prepared.buffer)
        yield result
