"""What both batchers share: bounds, errors, counters, a queued request and its reply, slicing outputs.

Standard library only.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BatcherClosedError",
    "BatchOutputError",
    "BatcherStats",
    "check_batching_options",
    "Rows",
    "PredictBatch",
    "Validate",
    "MAX_BATCH_SIZE_BOUND",
    "MAX_DELAY_MS_BOUND",
    "Collector",
    "BATCH_TIMING",
]

#: Set by a caller that wants to know where its request went (a tracing server): a list the
#: batcher extends with ``(call_start_ns, call_end_ns, requests_in_batch)`` (``time.time_ns``)
#: when the model call that served the request ran. None (the default): nothing recorded.
BATCH_TIMING: ContextVar[list | None] = ContextVar("lesson_batch_timing", default=None)

Rows = Sequence[Sequence[float]]
PredictBatch = Callable[[list], "list[float] | Awaitable[list[float]]"]
Validate = Callable[[Rows], None]

MAX_BATCH_SIZE_BOUND = 65_536
MAX_DELAY_MS_BOUND = 1_000.0


class BatcherClosedError(RuntimeError):
    """The batcher was closed before this request was answered."""


class BatchOutputError(RuntimeError):
    """``predict_batch`` returned a different number of outputs than rows."""


def check_batching_options(max_batch_size: int, max_delay_ms: float) -> None:
    """Raise ``ValueError`` naming the option if it is out of bounds (CLI flags use this).

    ``max_batch_size`` must be 1..65536 and ``max_delay_ms`` 0..1000.
    """
    if (
        isinstance(max_batch_size, bool)
        or not isinstance(max_batch_size, int)
        or not 1 <= max_batch_size <= MAX_BATCH_SIZE_BOUND
    ):
        raise ValueError(
            f"max_batch_size must be an integer in 1..{MAX_BATCH_SIZE_BOUND}, got {max_batch_size!r}"
        )
    if not isinstance(max_delay_ms, (int, float)) or not 0 <= max_delay_ms <= MAX_DELAY_MS_BOUND:
        raise ValueError(f"max_delay_ms must be in 0..{MAX_DELAY_MS_BOUND:g}, got {max_delay_ms!r}")


@dataclass
class BatcherStats:
    """Counters: how many requests and rows went through how many model calls."""

    requests: int = 0
    rows: int = 0
    batches: int = 0
    max_batch_rows: int = 0
    failed_batches: int = 0
    batch_rows: dict[int, int] = field(default_factory=dict)  # batch size -> count

    def record(self, n_requests: int, n_rows: int) -> None:
        self.requests += n_requests
        self.rows += n_rows
        self.batches += 1
        self.max_batch_rows = max(self.max_batch_rows, n_rows)
        self.batch_rows[n_rows] = self.batch_rows.get(n_rows, 0) + 1

    @property
    def mean_batch_rows(self) -> float:
        return self.rows / self.batches if self.batches else 0.0

    def summary(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "requests": self.requests,
            "rows": self.rows,
            "batches": self.batches,
            "mean_batch_rows": round(self.mean_batch_rows, 2),
            "max_batch_rows": self.max_batch_rows,
            "failed_batches": self.failed_batches,
        }


@dataclass
class Pending:
    rows: list
    future: Any  # asyncio.Future or _Waiter
    timing: list | None = None  # the caller's BATCH_TIMING list, if it asked


def note_call(batch: list[Pending], started_ns: int, ended_ns: int) -> None:
    """Tell the batch's requests that asked (`BATCH_TIMING`) when their model call ran."""
    for item in batch:
        if item.timing is not None:
            item.timing.extend((started_ns, ended_ns, len(batch)))


class Waiter:
    """A one-shot result for one blocked caller of :class:`ThreadedMicroBatcher`.

    The subset of ``concurrent.futures.Future`` the batcher uses, on one lock: a Future
    builds a ``Condition`` (more locks, a notify and a re-acquire on every wake-up), which
    under 64 parked callers per batch was a measurable share of a request's CPU time.
    The lock is held from creation until the result (or error) is set.
    """

    __slots__ = ("_lock", "_state", "_value", "_error")

    _PENDING, _RUNNING, _DONE, _ABANDONED = range(4)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self._state = self._PENDING
        self._value: Any = None
        self._error: BaseException | None = None

    def done(self) -> bool:
        return self._state >= self._DONE

    def set_running_or_notify_cancel(self) -> bool:
        """The worker takes this request for a batch: False if its caller gave up waiting."""
        return self._state != self._ABANDONED

    def start(self) -> bool:
        """The batch's model call is about to run: False if the caller gave up meanwhile."""
        if self._state == self._ABANDONED:
            return False
        self._state = self._RUNNING
        return True

    def set_result(self, value: Any) -> None:
        self._value = value
        self._settle()

    def set_exception(self, error: BaseException) -> None:
        self._error = error
        self._settle()

    def _settle(self) -> None:
        if self._state < self._DONE:
            self._state = self._DONE
            self._lock.release()

    def result(self, timeout: float | None = None) -> Any:
        """Block until settled; ``TimeoutError`` after ``timeout`` s (the request is then
        abandoned: dropped from its batch unless the batch's model call already started)."""
        if not self._lock.acquire(True, -1 if timeout is None else max(0.0, timeout)):
            if self._state == self._PENDING:
                self._state = self._ABANDONED
            if self._state != self._DONE:  # settled in the meantime: fall through to the answer
                raise TimeoutError(f"no answer from the batcher within {timeout} s")
        if self._error is not None:
            raise self._error
        return self._value


def as_rows(rows: Rows) -> list:
    if not isinstance(rows, (list, tuple)) or len(rows) == 0:
        raise ValueError("a request needs a non-empty list of rows")
    return list(rows)


def split_outputs(outputs: Any, batch: list[Pending], n_rows: int) -> list[list[float]]:
    outputs = list(outputs)
    if len(outputs) != n_rows:
        raise BatchOutputError(f"predict_batch returned {len(outputs)} outputs for {n_rows} rows")
    parts, start = [], 0
    for item in batch:
        parts.append(outputs[start : start + len(item.rows)])
        start += len(item.rows)
    return parts


def settle(future: Any, *, result: Any = None, exc: BaseException | None = None) -> None:
    if future.done():
        return
    try:
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)
    except Exception:  # a concurrent.futures future cancelled meanwhile
        pass


def width_validator(model: Any) -> Validate | None:
    n_features = getattr(model, "n_features", None)
    if not n_features:
        return None
    from lesson.models.mlp import check_rows

    name = getattr(model, "name", "model")
    return lambda rows: check_rows(rows, n_features, name)


class Collector:
    """How a batch is collected, the same for both batchers: a request that does not fit is
    carried to the next batch; one whose caller gave up is dropped (``claim`` says which).

    Subclasses set ``max_batch_size`` and ``_carry = None`` and define ``claim(item) -> bool``.
    """

    max_batch_size: int
    _carry: Pending | None

    def claim(self, item: Pending) -> bool:
        raise NotImplementedError

    def _admit(self, batch: list[Pending], item: Pending, n: int) -> int | None:
        """Add ``item`` to ``batch`` (``n`` rows so far): the new row count, or None when it does
        not fit (it is carried to the next batch). A caller that gave up is dropped."""
        if n + len(item.rows) > self.max_batch_size:
            self._carry = item
            return None
        if self.claim(item):
            batch.append(item)
            return n + len(item.rows)
        return n
