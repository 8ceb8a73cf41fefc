"""The core under the browser's three constraints, emulated in a fresh CPython process.

Pyodide has no threads (``Thread.start`` raises), a clock that ticks in 100 µs steps, and
``sys.platform == "emscripten"``. The real browser run is covered by the site's Playwright
tests; this one keeps the core honest about those constraints on every ``pytest`` run.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    r"""
    import asyncio, math, sys, threading, time
    sys.path.insert(0, ROOT)

    def no_threads(self, *args, **kwargs):
        raise RuntimeError("can't start new thread")

    threading.Thread.start = no_threads
    _real = time.perf_counter
    time.perf_counter = lambda: math.floor(_real() * 1e4) / 1e4  # 100 µs steps
    sys.platform = "emscripten"

    import lesson
    from lesson.teaching import demo
    assert lesson.IN_BROWSER is True
    assert abs(lesson.clock_resolution() - 1e-4) < 1e-9, lesson.clock_resolution()

    rest = lesson.fastapi_rest_adapter(lesson.averaged_ensembled_model)
    # the thread harness runs inline at concurrency 1 and refuses more, pointing at the async one
    r = lesson.run_load_test(rest, {"instances": [0.1]}, max_requests=50)
    assert r.successes == 50 and abs(r.clock_resolution - 1e-4) < 1e-9
    try:
        lesson.run_load_test(rest, {"instances": [0.1]}, concurrency=4)
    except RuntimeError as exc:
        assert "run_load_test_async" in str(exc)
    else:
        raise SystemExit("concurrency 4 without threads did not fail")

    async def remote(payload):  # a 10 ms async endpoint, as a browser fetch would be
        await asyncio.sleep(0.01)
        return rest(payload)

    async def main():
        body = {"instances": [0.1]}
        closed = await lesson.run_load_test_async(remote, body, concurrency=8, max_requests=80)
        opened = await lesson.run_load_test_async(
            remote, body, rate=200, concurrency=8, max_requests=40
        )
        return closed, opened

    closed, opened = asyncio.run(main())
    assert closed.successes == 80 and opened.successes == 40, (closed, opened)
    assert 0.009 <= closed.p50 <= 0.08, closed.to_text()
    # latencies are multiples of the coarse clock step
    assert all(abs(x * 1e4 - round(x * 1e4)) < 1e-6 for x in closed.latencies)
    report = demo.demo_report(requests=30, concurrency=4, stall_demo=True)
    assert "browser (Pyodide)" in report and "closed loop, 1 worker" in report, report
    assert "resolution 100 µs" in report, report
    print("BROWSER-LIKE-OK")
    """
)


def test_core_under_browser_constraints():
    code = f"ROOT = {str(ROOT)!r}\n" + SCRIPT
    proc = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "BROWSER-LIKE-OK" in proc.stdout
