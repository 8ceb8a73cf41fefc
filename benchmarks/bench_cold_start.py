"""Cold start of the offline JupyterLite: open a notebook, Run All, first output. Median of N.

    .venv/bin/python benchmarks/bench_cold_start.py [--runs 5] [--notebook 01-rest.ipynb]

Each run is a *cold* start: a fresh Chromium profile (no HTTP cache, no compiled
WebAssembly cache, empty browser storage), the built site served on 127.0.0.1 and every
other host blocked. The clock starts when the page is requested and stops when the first
cell's output (``Serving Patterns Lab ready ...``) appears; the stages in between are
reported too. Target: median under 10 s on the development machine.

Builds the site first (``tools/build_site.py``) when ``site/`` is not a build of the
current work tree.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from site_browser import (chromium_path, offline_browser, run_all_cells,  # noqa: E402
                          serve_directory, wait_for_output)
from site_stamp import is_fresh  # noqa: E402

SENTINEL = "Serving Patterns Lab ready"
TARGET_S = 10.0


def one_run(base_url: str, notebook: str, timeout_s: float) -> dict[str, float]:
    """Seconds from the request of the page to each stage, for one cold start."""
    with offline_browser() as browser:
        page = browser.page
        t0 = time.monotonic()
        page.goto(f"{base_url}lite/lab/index.html?path={notebook}", wait_until="commit")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout_s * 1000)
        stages = {"notebook_visible": time.monotonic() - t0}
        run_all_cells(page)
        wait_for_output(page, SENTINEL, timeout_s)
        stages["first_output"] = time.monotonic() - t0
        if browser.external_requests:
            raise RuntimeError(f"external requests: {browser.external_requests}")
        return stages


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--notebook", default="01-rest.ipynb")
    ap.add_argument("--site", type=Path, default=ROOT / "site")
    ap.add_argument("--timeout", type=float, default=180)
    args = ap.parse_args()
    if chromium_path() is None:
        print("chromium is not installed: apt-get install -y chromium", file=sys.stderr)
        return 2
    if args.site == ROOT / "site" and not is_fresh(args.site, ROOT / "notebooks"):
        subprocess.run([sys.executable, str(ROOT / "tools" / "build_site.py")], check=True)
    runs = []
    with serve_directory(args.site) as base:
        for i in range(args.runs):
            stages = one_run(base, args.notebook, args.timeout)
            runs.append(stages)
            print(f"run {i + 1}: notebook visible {stages['notebook_visible']:.1f}s, "
                  f"first output {stages['first_output']:.1f}s", flush=True)
    first = [r["first_output"] for r in runs]
    visible = [r["notebook_visible"] for r in runs]
    median = statistics.median(first)
    print(f"cold start to first output ({args.notebook}, {args.runs} runs, offline): "
          f"median {median:.1f}s (min {min(first):.1f}s, max {max(first):.1f}s); "
          f"notebook visible median {statistics.median(visible):.1f}s; "
          f"target < {TARGET_S:.0f}s: {'met' if median < TARGET_S else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
