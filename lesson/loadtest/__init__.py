"""An honest load tester for any endpoint: a callable ``endpoint(payload) -> response``.

Three ways to drive it, all bounded by a request count AND a duration, warm-up excluded:

- **sequential** — :func:`run_sequential_load_test`, each payload once, in turn;
- **closed loop** — ``concurrency`` workers, each sends its next request when the previous
  answers (:func:`run_load_test` with ``rate=None``). Realistic for a fixed pool of clients,
  but a stalled server also stalls the load: the requests that would have arrived during the
  stall are never sent, so the stall hides in the percentiles (*coordinated omission*);
- **open loop** — requests are scheduled at ``rate`` per second whatever the server does, and
  each latency is measured from the request's *intended* send time, so a stall shows in p99.
  ``concurrency`` bounds the requests in flight; a send more than 1 ms behind its schedule is
  counted in ``late_sends``. The algorithm, and why it is honest, is in ONE module:
  :mod:`lesson.loadtest.open_loop` (start there).

:func:`run_load_test` uses threads (CPython); :func:`run_load_test_async` uses asyncio tasks
and works where threads do not exist (Pyodide); there the endpoint may be sync or async.

Percentiles use the **nearest-rank** method over every completed request (successes and
errors): ``p(q) = sorted[ceil(q/100 * n) - 1]``, always a latency that was really observed.
Every result reports the clock's resolution (:func:`lesson.core.runtime.clock_resolution`).

The package (standard library only, imports only :mod:`lesson.core`), start to finish:

- :mod:`~lesson.loadtest.open_loop` — the open loop: schedule, send at the intended time,
  latency from the intended time, bounded by requests and seconds (:class:`LoadRun`, shared by
  every runner); the waits that end on time; one timed, judged call;
- :mod:`~lesson.loadtest.arrivals` — when each request is due (uniform, Poisson, gamma);
- the runners, thin: :mod:`~lesson.loadtest.thread_runner` (:func:`run_load_test`),
  :mod:`~lesson.loadtest.async_runner` (:func:`run_load_test_async`) and
  :mod:`~lesson.loadtest.sequential_runner` (:func:`run_sequential_load_test`);
- :mod:`~lesson.loadtest.settings` — the arguments checked against their bounds, the clock;
- :mod:`~lesson.loadtest.result` — the recorder and :class:`LoadTestResult`.

``lesson loadtest`` (:mod:`lesson.loadtest.wire`, :mod:`lesson.loadtest.cli`) drives it over the
wire (CPython); :mod:`lesson.loadtest.outside` runs wrk and locust beside it.

Example::

    >>> from lesson import fastapi_rest_adapter, averaged_ensembled_model, run_load_test
    >>> endpoint = fastapi_rest_adapter(averaged_ensembled_model)
    >>> result = run_load_test(endpoint, [{"instances": [0.1, 0.2]}], concurrency=4, max_requests=500)
    >>> print(result.to_text())  # doctest: +SKIP
"""

from __future__ import annotations

from lesson.core.stats import percentile
from lesson.loadtest.async_runner import run_load_test_async
from lesson.loadtest.result import PERCENTILE_METHOD, PROGRESS_INTERVAL, LoadTestResult
from lesson.loadtest.sequential_runner import run_sequential_load_test
from lesson.loadtest.settings import LATE_SEND_THRESHOLD
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
