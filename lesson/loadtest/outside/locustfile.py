"""Locust users POSTing one prediction request to a lesson (or peer) REST server.

    locust -f lesson/loadtest/outside/locustfile.py --headless -u 8 -r 8 -t 10s --host http://127.0.0.1:PORT --csv out

Environment (all optional):

* ``LOCUST_PATH``: the route (default ``/v1/models/diabetes-mlp:predict``).
* ``LOCUST_BODY``: the JSON body (default ``{"instances": [[10 floats]]}``, one held-out row).
* ``LOCUST_RATE_PER_USER``: pace each user with ``constant_throughput`` (requests/s per user;
  users x rate is the total); unset: no wait, a closed loop like wrk's connections.
* ``LOCUST_LATENCY_FILE``: on exit, write there as JSON ``[[t, ms], ...]``: each successful
  request's end time (``time.monotonic()``) and response time in ms at full precision
  (locust's CSV rounds percentiles to whole milliseconds below 100 ms, too coarse here).

A non-2xx answer is a failure (FastHttpUser's default).
"""

from __future__ import annotations

import json
import os
import time

from locust import FastHttpUser, constant, constant_throughput, events, task

ROW = [54.0, 2.0, 36.1, 115.0, 163.0, 98.4, 43.0, 4.0, 4.6821, 101.0]  # heldout.json rows[0]
PATH = os.environ.get("LOCUST_PATH", "/v1/models/diabetes-mlp:predict")
BODY = os.environ.get("LOCUST_BODY", json.dumps({"instances": [ROW]})).encode()
RATE = os.environ.get("LOCUST_RATE_PER_USER")
LATENCY_FILE = os.environ.get("LOCUST_LATENCY_FILE")
MAX_SAMPLES = 2_000_000  # bounds memory: about 16 MB of floats
_samples: list[tuple[float, float]] = []


@events.request.add_listener
def _record(response_time: float, exception: BaseException | None = None, **_: object) -> None:
    if exception is None and len(_samples) < MAX_SAMPLES:
        _samples.append((time.monotonic(), response_time))


@events.quitting.add_listener
def _dump(environment, **_: object) -> None:
    if LATENCY_FILE:
        with open(LATENCY_FILE, "w") as f:
            json.dump(_samples, f)


class PredictUser(FastHttpUser):
    """One keep-alive connection per user, one request in flight at a time."""

    wait_time = constant_throughput(float(RATE)) if RATE else constant(0)

    @task
    def predict(self) -> None:
        self.client.post(PATH, data=BODY, headers={"Content-Type": "application/json"})
