"""Where the lesson runs: the browser (Pyodide) or CPython, and how fine its clock is.

In the browser there are no sockets and no threads, and ``time.perf_counter()`` ticks in
steps of about 100 µs, so a latency below that cannot be measured one call at a time.
Every load-test report states the clock resolution measured by :func:`clock_resolution`.

Run ``python -m lesson.core.runtime`` to print both facts for this interpreter.
"""

from __future__ import annotations

import sys
import time

#: True inside Pyodide / JupyterLite (``sys.platform == "emscripten"``).
IN_BROWSER: bool = sys.platform == "emscripten"

#: What browsers give ``performance.now()`` without cross-origin isolation (measured: 100 µs).
BROWSER_CLOCK_RESOLUTION: float = 1e-4

_cached_resolution: float | None = None


def _probe(samples: int, max_spins: int) -> float | None:
    """Smallest observed non-zero step of ``time.perf_counter()``, or None if it never moved."""
    smallest: float | None = None
    for _ in range(samples):
        start = time.perf_counter()
        now = start
        for _ in range(max_spins):
            now = time.perf_counter()
            if now != start:
                break
        step = now - start
        if step > 0 and (smallest is None or step < smallest):
            smallest = step
    return smallest


def clock_resolution(*, refresh: bool = False) -> float:
    """Effective resolution of ``time.perf_counter()`` in seconds.

    Measured by spinning on the clock until it changes and keeping the smallest step seen
    (so on CPython it includes the cost of one call, typically 50-100 ns). The result is
    never finer than what the platform advertises and is cached after the first probe.

    Args:
        refresh: probe again instead of returning the cached value.

    Returns:
        The resolution in seconds, e.g. ``1e-4`` in a browser, ``~1e-7`` on Linux.
    """
    global _cached_resolution
    if _cached_resolution is not None and not refresh:
        return _cached_resolution
    probed = _probe(samples=20, max_spins=200_000)
    advertised = time.get_clock_info("perf_counter").resolution
    if probed is None:  # the clock did not move in 4 million reads: assume the browser's step
        probed = BROWSER_CLOCK_RESOLUTION
    _cached_resolution = max(probed, advertised)
    return _cached_resolution


def threads_available() -> bool:
    """Whether this interpreter can start threads (False in Pyodide)."""
    if IN_BROWSER:
        return False
    try:
        import threading  # noqa: F401
    except ImportError:  # pragma: no cover - CPython always has threading
        return False
    return True


if __name__ == "__main__":
    print(f"IN_BROWSER={IN_BROWSER}  clock_resolution={clock_resolution() * 1e6:.3f} µs")
