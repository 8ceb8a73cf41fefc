"""An honest load tester for any endpoint: a callable ``endpoint(payload) -> response``.

Three ways to drive it, all bounded by a request count AND a duration, warm-up excluded:

- **sequential** — :func:`run_sequential_load_test`, each payload once, in turn;
- **closed loop** — ``concurrency`` workers, each sends its next request when the previous
  answers (:func:`run_load_test` with ``rate=None``). Realistic for a fixed pool of clients,
  but a stalled server also stalls the load: the requests that would have arrived during the
  stall are never sent, so the stall hides in the percentiles (*coordinated omission*);
- **open loop** — requests are scheduled at ``rate`` per second whatever the server does, and
  each latency is measured from the request's *intended* send time, so a stall shows in p99.
  ``concurrency`` bounds the requests in flight; a send that happens more than 1 ms after its
  schedule (the pool was busy, or the client could not keep up) is counted in ``late_sends``.
  Timers wake up to ~1 ms late, so in CPython a sender sleeps until just before its send is
  due and then yields (``sleep(0)``) until the exact time (or, with nothing in flight, sleeps
  in place): sends leave on schedule at the cost of some client CPU. In the browser it only
  sleeps.

:func:`run_load_test` uses threads (CPython); :func:`run_load_test_async` uses asyncio tasks
and works where threads do not exist (Pyodide); there the endpoint may be sync or async.

Percentiles use the **nearest-rank** method over every completed request (successes and
errors): ``p(q) = sorted[ceil(q/100 * n) - 1]``, always a latency that was really observed.
Every result reports the clock's resolution (:func:`lesson.core.runtime.clock_resolution`).

The package, one job a module (standard library only, imports only :mod:`lesson.core`):
:mod:`~lesson.loadtest.bounds` (argument bounds), :mod:`~lesson.loadtest.pacing` (the clock,
waits that end on time), :mod:`~lesson.loadtest.calls` (one timed, judged call; warm-up),
:mod:`~lesson.loadtest.recorder`, :mod:`~lesson.loadtest.result`, :mod:`~lesson.loadtest.run`
(the set-up and bookkeeping both concurrent runners share), and the runners
:mod:`~lesson.loadtest.sequential`, :mod:`~lesson.loadtest.thread_runner` and
:mod:`~lesson.loadtest.async_runner`. ``lesson loadtest`` (:mod:`lesson.loadtest.wire`,
:mod:`lesson.loadtest.cli`) drives it over the wire (CPython).

Example::

    >>> from lesson import fastapi_rest_adapter, averaged_ensembled_model, run_load_test
    >>> endpoint = fastapi_rest_adapter(averaged_ensembled_model)
    >>> result = run_load_test(endpoint, [{"instances": [0.1, 0.2]}], concurrency=4, max_requests=500)
    >>> print(result.to_text())  # doctest: +SKIP
"""

from __future__ import annotations

from lesson.core.stats import percentile
from lesson.loadtest.async_runner import run_load_test_async
from lesson.loadtest.pacing import LATE_SEND_THRESHOLD
from lesson.loadtest.recorder import PROGRESS_INTERVAL
from lesson.loadtest.result import PERCENTILE_METHOD, LoadTestResult
from lesson.loadtest.sequential import run_sequential_load_test
from lesson.loadtest.thread_runner import run_load_test

__all__ = [
    "LoadTestResult",
    "run_sequential_load_test",
    "run_load_test",
    "run_load_test_async",
    "percentile",
    "LATE_SEND_THRESHOLD",
    "PERCENTILE_METHOD",
    "PROGRESS_INTERVAL",
]
