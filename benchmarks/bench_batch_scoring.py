"""Batch scoring end to end (read, validate, predict, write) vs numpy on data in memory.

For 1M and 2M rows, Parquet and CSV: rows/s of ``lesson batch`` (each run in a fresh
subprocess, so its peak memory, ``VmHWM``, is its own) beside the numpy model predicting
the same rows already in memory. Targets (issue 5): Parquet at least 0.5x numpy's rows/s;
peak memory within 10% between 1M and 2M rows (memory flat as the file grows). Medians of
``--repeats`` runs.

    .venv/bin/python benchmarks/bench_batch_scoring.py            # 1M and 2M rows
    .venv/bin/python benchmarks/bench_batch_scoring.py --rows 200000,400000 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
from lesson.batch import score_file
t0 = time.perf_counter()
report = score_file({src!r}, {dst!r}, chunk_rows={chunk})
wall = time.perf_counter() - t0
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec.
hwm_kb = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({{"wall": wall, "rows": report.rows, "rss_mb": hwm_kb / 1024}}))
"""


def run_batch(src: Path, dst: Path, chunk: int) -> dict:
    code = CHILD.format(root=str(ROOT), src=str(src), dst=str(dst), chunk=chunk)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    if out.returncode:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def numpy_rows_per_s(src: Path, repeats: int) -> float:
    """The numpy model alone on the same rows, already in memory."""
    import numpy as np
    import pyarrow.parquet as pq

    from lesson.mlp_numpy import load_default_numpy_mlp

    model = load_default_numpy_mlp()
    table = pq.read_table(src, columns=list(model.params.feature_names))
    X = np.column_stack([table.column(c).to_numpy() for c in model.params.feature_names])
    model.predict_array(X[:10_000])
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.predict_array(X)
        times.append(time.perf_counter() - t0)
    return len(X) / statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="1000000,2000000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk-rows", type=int, default=65_536)
    parser.add_argument("--data-dir", type=Path, default=None, help="keep generated files here")
    args = parser.parse_args(argv)
    sizes = [int(r) for r in args.rows.split(",")]

    from lesson.batch import write_sample_data

    with tempfile.TemporaryDirectory() as tmp:
        data = args.data_dir or Path(tmp)
        data.mkdir(parents=True, exist_ok=True)
        results = {}
        print(f"batch scoring benchmark: chunk_rows={args.chunk_rows}, medians of {args.repeats}")
        print(f"{'file':>18} {'rows':>10} {'rows/s':>12} {'numpy rows/s':>14} {'ratio':>7} {'peak MB':>9}")
        for n in sizes:
            pq_src = data / f"sample-{n}.parquet"
            csv_src = data / f"sample-{n}.csv"
            for src in (pq_src, csv_src):
                if not src.exists():
                    write_sample_data(src, n, seed=1)
            base = numpy_rows_per_s(pq_src, args.repeats)
            for src in (pq_src, csv_src):
                runs = [run_batch(src, Path(tmp) / f"out-{n}{src.suffix}", args.chunk_rows) for _ in range(args.repeats)]
                rate = statistics.median(r["rows"] / r["wall"] for r in runs)
                rss = statistics.median(r["rss_mb"] for r in runs)
                results[(src.suffix, n)] = (rate, rss)
                print(f"{src.name:>18} {n:>10,} {rate:>12,.0f} {base:>14,.0f} {rate / base:>7.2f} {rss:>9.0f}", flush=True)
        if len(sizes) >= 2:
            lo, hi = sizes[0], sizes[-1]
            for suffix in (".parquet", ".csv"):
                a, b = results[(suffix, lo)][1], results[(suffix, hi)][1]
                print(f"peak memory {suffix[1:]:8} {lo:,} -> {hi:,} rows: {a:.0f} -> {b:.0f} MB ({(b / a - 1) * 100:+.1f}%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
