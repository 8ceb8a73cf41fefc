"""The threaded micro-batcher's hand-off (what the gRPC thread-pool server waits on): a
caller that gives up is dropped from its batch, the queue bound holds, answers are never
lost or swapped, and closing wakes every waiting caller."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from lesson.patterns.microbatching import BatcherClosedError, ThreadedMicroBatcher
from lesson.patterns.microbatching.common import Waiter as _Waiter


class Device:
    """predict_batch that records every row it sees and can be held busy."""

    def __init__(self) -> None:
        self.rows: list = []
        self.calls = 0
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def __call__(self, rows):
        self.entered.set()
        assert self.gate.wait(10), "test gate never opened"
        self.calls += 1
        self.rows.extend(rows)
        return [row[0] * 10 for row in rows]


def _hold_device(batcher: ThreadedMicroBatcher, device: Device) -> threading.Thread:
    """Start a lone request that runs inline and blocks inside the device until the gate opens."""
    device.gate.clear()
    device.entered.clear()
    thread = threading.Thread(target=batcher.predict, args=([[-1.0]],), daemon=True)
    thread.start()
    assert device.entered.wait(5)
    return thread


def test_a_caller_that_times_out_is_dropped_from_the_next_batch():
    device = Device()
    with ThreadedMicroBatcher(device, max_batch_size=8) as batcher:
        holder = _hold_device(batcher, device)
        with pytest.raises(TimeoutError):
            batcher.predict([[7.0]], timeout=0.05)  # queued behind the busy device, then gives up
        with ThreadPoolExecutor(2) as pool:
            waiting = [pool.submit(batcher.predict, [[float(i)]]) for i in (1, 2)]
            time.sleep(0.05)
            device.gate.set()
            assert [f.result(5) for f in waiting] == [[10.0], [20.0]]
        holder.join(5)
    assert [7.0] not in device.rows  # the abandoned request never reached the model
    assert sorted(r[0] for r in device.rows) == [-1.0, 1.0, 2.0]


def test_many_callers_each_get_their_own_answer_in_shared_calls():
    device = Device()
    with ThreadedMicroBatcher(device, max_batch_size=16) as batcher:
        holder = _hold_device(batcher, device)
        with ThreadPoolExecutor(48) as pool:
            futures = [
                pool.submit(batcher.predict, [[float(i)], [float(i) + 0.5]]) for i in range(48)
            ]
            time.sleep(0.1)
            device.gate.set()
            answers = [f.result(10) for f in futures]
        holder.join(5)
    assert answers == [[i * 10.0, i * 10.0 + 5.0] for i in range(48)]
    assert device.calls < 48  # shared calls (the first batch waited behind the held device)
    assert batcher.stats.max_batch_rows <= 16


def test_the_queue_bound_holds_and_nothing_is_lost():
    device = Device()
    with ThreadedMicroBatcher(device, max_batch_size=1, max_queue=2) as batcher:
        holder = _hold_device(batcher, device)
        seen = []
        with ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(batcher.predict, [[float(i)]]) for i in range(6)]
            for _ in range(20):  # while the device is held, callers beyond the bound wait for room
                seen.append(batcher._queue.qsize())
                time.sleep(0.01)
            device.gate.set()
            answers = [f.result(10) for f in futures]
        holder.join(5)
    assert max(seen) <= 2 + 1  # the bound, plus the one item the worker may hold for its batch
    assert answers == [[i * 10.0] for i in range(6)]


def test_close_answers_every_waiting_caller_and_refuses_new_ones():
    device = Device()
    batcher = ThreadedMicroBatcher(device, max_batch_size=1)
    holder = _hold_device(batcher, device)
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(batcher.predict, [[float(i)]]) for i in range(3)]
        time.sleep(0.05)
        closer = threading.Thread(target=batcher.close, kwargs={"timeout": 0.2})
        closer.start()
        closer.join(5)
        device.gate.set()  # the call in progress finishes
        outcomes = []
        for f in futures:
            try:
                outcomes.append(
                    f.result(5)
                )  # answered, or told the batcher closed: never left hanging
            except BatcherClosedError as exc:
                outcomes.append(exc)
    holder.join(5)
    assert any(isinstance(o, BatcherClosedError) for o in outcomes), outcomes
    assert all(
        isinstance(o, BatcherClosedError) or o == [i * 10.0] for i, o in enumerate(outcomes)
    ), outcomes
    with pytest.raises(BatcherClosedError):
        batcher.predict([[1.0]])


def test_waiter_settles_once_and_reports_errors():
    waiter = _Waiter()
    assert not waiter.done() and waiter.set_running_or_notify_cancel()
    waiter.set_exception(ValueError("row 3: bad"))
    waiter.set_result(1)  # a second settle is ignored
    assert waiter.done()
    with pytest.raises(ValueError, match="row 3"):
        waiter.result(1)
    abandoned = _Waiter()
    with pytest.raises(TimeoutError):
        abandoned.result(0.01)
    assert (
        abandoned.set_running_or_notify_cancel() is False and abandoned.start() is False
    )  # skipped
    claimed = _Waiter()
    assert claimed.set_running_or_notify_cancel() and claimed.start()
    with pytest.raises(TimeoutError):
        claimed.result(0.01)  # its call already runs: the answer is simply not awaited
    claimed.set_result([1.0])
    late = _Waiter()
    threading.Timer(0.05, late.set_result, args=([4.0],)).start()
    assert late.result(5) == [4.0]
