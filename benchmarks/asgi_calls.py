"""Raw ASGI calls of one POST route in this process (no socket, no uvicorn): the in-process
timing loop that `bench_request_timer.py` and `bench_tracing.py` share.

`cpu_per_request` alternates between the apps round by round (a noisy, shared machine moves
all of them alike) and returns each app's median CPU microseconds a request
(`time.process_time`: this process's CPU, the model's worker threads included).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


async def call(app: Any, path: str, body: bytes) -> None:
    """One ``POST path`` with a JSON ``body`` straight into the ASGI app (the answer dropped)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
        "state": {},
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        pass

    await app(scope, receive, send)


async def cpu_per_request(
    apps: dict[str, Any],
    path: str,
    body: bytes,
    *,
    rounds: int,
    calls: int,
    warmup: int = 500,
    after_round: Callable[[Any], None] | None = None,
) -> dict[str, float]:
    """Each app's median CPU µs a request over ``rounds`` rounds of ``calls`` calls, the apps
    alternating round by round; ``after_round(app)`` runs after each app's round (untimed)."""
    for app in apps.values():
        for _ in range(warmup):
            await call(app, path, body)
    cpu: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(rounds):
        for name, app in apps.items():
            t0 = time.process_time()
            for _ in range(calls):
                await call(app, path, body)
            cpu[name].append((time.process_time() - t0) / calls * 1e6)
            if after_round is not None:
                after_round(app)
    return {name: statistics.median(values) for name, values in cpu.items()}
