"""ONNX Runtime in CPython against the lesson's numpy MLP, at batch 1 and batch 64.

The same held-out rows, as a ready float array (``predict_array``: the runtimes alone) and as
lists of rows (``predict``: what a server calls, conversion included). Every round times all
variants in turns (groups of calls that last ~4 ms each, p50 per call), so a busy moment on the
shared machine lands on all of them; the figures are medians over ``--rounds`` rounds, and the
ratios are numpy's time over each variant's (above 1: faster than numpy).

    .venv/bin/python benchmarks/bench_edge_onnx.py --rounds 7
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from lesson.core.artifacts import load_artifact, load_heldout
from lesson.models.mlp_numpy import load_default_numpy_mlp
from lesson.models.onnx_runtime import ONNX_NAMES, OnnxModel
from lesson.patterns.edge_runtimes import time_calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--groups", type=int, default=25)
    args = parser.parse_args(argv)
    rows = load_heldout(load_artifact("diabetes-mlp"))[0]
    numpy_model = load_default_numpy_mlp()
    ort = {name: OnnxModel(load_artifact(name)) for name in ONNX_NAMES}
    labels = ["numpy float64", "ORT float32", "ORT int8 dynamic", "ORT int8 static"]
    models = [numpy_model, *ort.values()]
    print(f"{'batch':>5} {'call':<13}" + "".join(f"{label:>18}" for label in labels))
    for batch in (1, 64):
        lists = [rows[i % len(rows)] for i in range(batch)]
        arrays = np.asarray(lists)
        for call, arg, fns in (
            ("predict_array", arrays, [m.predict_array for m in models]),
            ("predict", lists, [m.predict for m in models]),
        ):
            p50s = [[] for _ in models]
            for _ in range(args.rounds):
                for out, (p50, _) in zip(p50s, time_calls(fns, arg, groups=args.groups)):
                    out.append(p50)
            medians = [statistics.median(v) for v in p50s]
            print(
                f"{batch:>5} {call:<13}"
                + "".join(f"{m * 1e6:>9.1f} µs {medians[0] / m:>4.2f}x" for m in medians)
            )
    print("µs: median p50 per call; x: numpy's time / the variant's (above 1: faster than numpy)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
