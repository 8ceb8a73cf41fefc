"""A core ``Model`` whose calls are micro-batched, for the servers. Standard library only."""

from __future__ import annotations

from typing import Any

from lesson.core.runtime import threads_available
from lesson.patterns.microbatching.asyncio_batcher import MicroBatcher
from lesson.patterns.microbatching.common import BatcherStats, Rows
from lesson.patterns.microbatching.threaded import ThreadedMicroBatcher

__all__ = ["BatchedModel"]


class BatchedModel:
    """A core ``Model`` whose calls are micro-batched: ``predict`` across the threads that call
    it, ``await predict_async`` across the asyncio tasks that call it.

    Drop-in for a server: register it instead of the model. A threaded server (grpcio's thread
    pool) calls ``predict``; an asyncio server (the REST app) awaits ``predict_async``, which
    batches on the event loop itself, with no thread hand-off per request (the model runs in
    the loop if it has ``predict_async``, inline or in one worker thread otherwise).
    ``name``, ``version`` and ``metadata()`` are the wrapped model's. Use one of the two paths
    per model: each has its own queue, so calls through both at once could overlap.

    Args:
        model: the model to batch.
        max_batch_size: most rows per model call.
        max_delay_ms: longest wait for more requests after the first.
        run_in_thread: ``predict_async`` only, for a model without ``predict_async``: run each
            batch in a worker thread (a slow model does not block the loop) instead of inline
            (fastest for a microsecond model). Default: inline.
    """

    one_output_per_row = True

    def __init__(
        self,
        model: Any,
        max_batch_size: int = 32,
        max_delay_ms: float = 0.0,
        *,
        run_in_thread: bool = False,
    ):
        self.model = model
        self.name = model.name
        self.version = model.version
        self.n_features = getattr(model, "n_features", None)
        self.batcher = ThreadedMicroBatcher.for_model(model, max_batch_size, max_delay_ms)
        self.async_batcher = MicroBatcher.for_model(
            model, max_batch_size, max_delay_ms, run_in_thread=run_in_thread and threads_available()
        )

    def predict(self, rows: Rows) -> list[float]:
        if len(rows) == 0:
            return []
        return self.batcher.predict(rows)

    async def predict_async(self, rows: Rows) -> list[float]:
        """The same on asyncio: concurrent awaits share model calls (see :class:`MicroBatcher`)."""
        if len(rows) == 0:
            return []
        return await self.async_batcher.predict(rows)

    def metadata(self) -> Any:
        return self.model.metadata()

    @property
    def stats(self) -> BatcherStats:
        """The threaded path's counters (``async_batcher.stats`` for ``predict_async``)."""
        return self.batcher.stats

    def close(self) -> None:
        """Stop the threaded batcher (``await aclose()`` also stops the asyncio one)."""
        self.batcher.close()

    async def aclose(self) -> None:
        self.batcher.close()
        await self.async_batcher.close()

    def __repr__(self) -> str:
        return (
            f"BatchedModel({self.model!r}, max_batch_size={self.batcher.max_batch_size}, "
            f"max_delay_ms={self.batcher.max_delay_s * 1e3:g})"
        )
