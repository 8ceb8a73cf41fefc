"""ONNX Runtime Web against the pure-Python model, in the browser: notebook 05's ratios, median of N.

    .venv/bin/python benchmarks/bench_edge_web.py [--runs 3] [--site DIR]

Each run opens ``05-edge.ipynb`` in the built site's JupyterLite (offline Debian Chromium, every
non-loopback request aborted), runs all cells, and reads the line its last section prints:
ORT-web float32 against the pure-Python float model at batch 64 and batch 1, timed in the same
kernel over groups of calls (the browser's clock ticks in 100 µs), ORT-web called from a
JavaScript loop; and the same calls awaited one by one from Python. Target: batch 64 >= 5x.

Builds the site first (``tools/build_site.py``) when ``--site`` (default ``site/``) is not a
build of the current work tree; ``--no-build`` uses it as it is.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.site.browser import (
    notebook_cells,
    offline_chromium,
    open_notebook,
    run_all_cells,
    serve_directory,
    wait_for_output,
)
from tools.site.stamp import is_fresh

TARGET = 5.0
LINE = re.compile(
    r"batch 64: ORT-web float32 ran at ([\d.]+)x the pure-Python model's speed "
    r"\(batch 1: ([\d.]+)x\).*?from Python: ([\d.]+)x \(batch 1: ([\d.]+)x\)"
)


def one_run(site: Path) -> dict[str, float]:
    """Run notebook 05 once in a fresh page; return its four ratios."""
    with serve_directory(site) as base, offline_chromium() as browser:
        page = open_notebook(browser, base, "05-edge.ipynb")
        run_all_cells(page)
        wait_for_output(page, "batch 64: ORT-web float32 ran at", timeout_s=600)
        text = "\n".join(o["text"] for c in notebook_cells(page) for o in c.outputs)
        if browser.external_requests:
            raise SystemExit(f"requests left loopback: {browser.external_requests}")
    found = LINE.search(text)
    if not found:
        raise SystemExit(f"no ratio line in 05's outputs:\n{text[-2000:]}")
    b64, b1, py64, py1 = map(float, found.groups())
    return {"b64": b64, "b1": b1, "b64_from_python": py64, "b1_from_python": py1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--site", type=Path, default=ROOT / "site")
    ap.add_argument("--no-build", action="store_true", help="use --site as it is")
    args = ap.parse_args()
    if not args.no_build and not is_fresh(args.site, ROOT / "notebooks"):
        subprocess.run(
            [sys.executable, str(ROOT / "tools" / "build_site.py"), "--site-dir", str(args.site)],
            check=True,
        )
    if not (args.site / "lite" / "static" / "onnxruntime-web").is_dir():
        raise SystemExit(f"{args.site} has no lite/static/onnxruntime-web: build the site first")
    runs = []
    for i in range(args.runs):
        t0 = time.monotonic()
        runs.append(one_run(args.site))
        print(
            f"run {i + 1}: "
            + ", ".join(f"{k} {v:.2f}x" for k, v in runs[-1].items())
            + f" ({time.monotonic() - t0:.0f} s)"
        )
    medians = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(
        "median over", len(runs), "runs: " + ", ".join(f"{k} {v:.2f}x" for k, v in medians.items())
    )
    verdict = "PASS" if medians["b64"] >= TARGET else "FAIL"
    print(
        f"target: ORT-web at batch 64 >= {TARGET:g}x the pure-Python model in the browser: "
        f"{medians['b64']:.1f}x {verdict}"
    )


if __name__ == "__main__":
    main()
