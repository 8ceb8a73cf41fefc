"""Debug routes for the observability lesson, off unless the server runs with ``--debug-routes``.

* ``POST /debug/fault`` ``{"error_ratio": 0.5, "seconds": 20}``: for that long, that share of
  inference requests fails with 500 (an injected `InternalError`, counted like any other),
  spread evenly (every 2nd request at 0.5), so an SLO alert can be made to fire and resolve;
  ``DELETE /debug/fault`` ends it early. Bounded: a ratio in [0, 1], at most 600 s.
* ``GET /debug/timings``: the latencies ``lesson_request_latency_seconds`` recorded since the
  last call, exact and oldest first (at most `RECENT_MAX`), beside the histogram's bucket
  bounds: the raw data a ``histogram_quantile`` estimate can be checked against.
* ``GET /debug/spans``: the finished trace spans kept since the last call, oldest first
  (bounded; 409 unless the server runs with ``--trace-ratio``).

Never on a server others use: anyone who reaches it can make it fail.
"""

from __future__ import annotations

import threading
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from lesson.servers.errors import InternalError
from lesson.servers.metrics import LATENCY_BUCKETS
from lesson.servers.rest.state import state_of

__all__ = ["Fault", "router"]

MAX_FAULT_S = 600.0

router = APIRouter(tags=["debug"], include_in_schema=False)


class Fault:
    """Fail ``error_ratio`` of the requests until ``until`` (monotonic), evenly spread."""

    def __init__(self, error_ratio: float, seconds: float) -> None:
        if not 0 <= error_ratio <= 1:
            raise ValueError(f"error_ratio must be in [0, 1], got {error_ratio}")
        if not 0 < seconds <= MAX_FAULT_S:
            raise ValueError(f"seconds must be in (0, {MAX_FAULT_S:g}], got {seconds}")
        self.error_ratio = error_ratio
        self.until = time.monotonic() + seconds
        self._debt = 0.0
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return time.monotonic() < self.until

    def check(self) -> None:
        """Raise `InternalError` for this request if it is one of the injected failures."""
        if not self.active:
            return
        with self._lock:
            self._debt += self.error_ratio
            if self._debt < 1:
                return
            self._debt -= 1
        raise InternalError("injected fault (POST /debug/fault)")


@router.post("/debug/fault")
async def start_fault(request: Request) -> Response:
    try:
        body = await request.json()
        fault = Fault(float(body.get("error_ratio", 1.0)), float(body.get("seconds", 30.0)))
    except (ValueError, TypeError, AttributeError) as exc:
        return JSONResponse({"error": f"expected {{error_ratio, seconds}}: {exc}"}, 400)
    state_of(request).fault = fault
    return JSONResponse({"error_ratio": fault.error_ratio, "seconds_left": _left(fault)})


@router.delete("/debug/fault")
async def end_fault(request: Request) -> Response:
    state_of(request).fault = None
    return JSONResponse({"error_ratio": 0.0, "seconds_left": 0.0})


@router.get("/debug/timings")
async def timings(request: Request) -> Response:
    return JSONResponse(
        {"bounds": list(LATENCY_BUCKETS), "seconds": state_of(request).metrics.take_recent()}
    )


@router.get("/debug/spans")
async def spans(request: Request) -> Response:
    tracing = state_of(request).backend.tracing
    if tracing is None:
        return JSONResponse({"error": "tracing is off: start the server with --trace-ratio"}, 409)
    return JSONResponse({"ratio": tracing.ratio, "spans": tracing.take()})


def _left(fault: Fault) -> float:
    return round(max(0.0, fault.until - time.monotonic()), 3)
