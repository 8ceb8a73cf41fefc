"""Dynamic (micro-)batching: concurrent requests share one model call.

A request waits in a queue; a single worker takes what is queued, up to ``max_batch_size``
rows, waits at most ``max_delay_ms`` (counted from the first request) for more, then makes ONE
``predict_batch(rows)`` call and hands each request its own slice of the outputs. While a call
runs, new requests queue up, so under load batches grow by themselves even with
``max_delay_ms=0``; with one client nothing waits.

Errors stay per request: a request can be checked on arrival (``validate``) and fails alone;
if a batched call raises, each request of that batch is retried alone, so only the one that
really fails gets the error.

Batching pays where one call of n rows costs much less than n calls of one row: a fixed cost
per call (an accelerator's launch, a remote call), weights reused across the rows, or parallel
units one row leaves idle (see :mod:`lesson.models.accelerator`). With a cost per row it only
adds waiting. Standard library only.

Not to be confused with :mod:`lesson.patterns.batch`, which scores whole files on a schedule:
micro-batching groups live requests inside a server for a few milliseconds.

- :class:`MicroBatcher` (``asyncio_batcher.py``) -- asyncio (FastAPI ``async def`` routes, the browser).
- :class:`ThreadedMicroBatcher` (``threaded.py``) -- threads (grpcio's thread-pool server, sync routes).
- :class:`BatchedModel` (``model.py``) -- a core ``Model`` whose ``predict`` goes through a threaded batcher.
- ``common.py`` -- what both share: bounds, errors, counters, how a batch is collected.

    >>> import asyncio
    >>> async def demo():
    ...     async with MicroBatcher(lambda rows: [sum(r) for r in rows], max_batch_size=8) as b:
    ...         return await asyncio.gather(*(b.predict([[i, i]]) for i in range(4)))
    >>> asyncio.run(demo())
    [[0], [2], [4], [6]]
"""

from lesson.patterns.microbatching.asyncio_batcher import MicroBatcher
from lesson.patterns.microbatching.common import (
    BatcherClosedError,
    BatcherStats,
    BatchOutputError,
    check_batching_options,
)
from lesson.patterns.microbatching.model import BatchedModel
from lesson.patterns.microbatching.threaded import ThreadedMicroBatcher

__all__ = [
    "BatcherStats",
    "BatcherClosedError",
    "BatchOutputError",
    "MicroBatcher",
    "ThreadedMicroBatcher",
    "BatchedModel",
    "check_batching_options",
]
