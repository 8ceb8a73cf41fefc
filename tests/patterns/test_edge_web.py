"""ONNX Runtime Web's Python side in CPython: what runs here, and the clear refusal of what does not.

The browser half (the session, the measured rows) runs in JupyterLite: tests/site/test_browser_runall.py.
"""

from __future__ import annotations

import array
import asyncio
import json
from pathlib import Path

import pytest

from lesson.patterns import edge_web
from lesson.patterns.edge_web import BrowserOnlyError, float32_rows, lite_root_from
from lesson.patterns.edge_web_measure import (
    measure_ort_web,
    speed_ratio,
    time_groups,
    time_per_call,
)
from tools.lite.ort_web import ORT_WEB_VERSION, check_ort_web_pins

ROW = [59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87]


def test_in_cpython_the_browser_runtime_refuses_with_where_it_runs():
    with pytest.raises(BrowserOnlyError, match="only in the browser.*onnxruntime"):
        asyncio.run(edge_web.ort_web_session("diabetes-mlp-onnx"))
    with pytest.raises(BrowserOnlyError):
        asyncio.run(measure_ort_web())
    with pytest.raises(BrowserOnlyError):
        edge_web.ort_web_base_url()


def test_the_lite_root_is_found_from_the_kernel_workers_url():
    worker = (
        "http://127.0.0.1:8000/lite/extensions/@jupyterlite/pyodide-kernel-extension/"
        "static/comlink.worker.abc.js"
    )
    assert lite_root_from(worker) == "http://127.0.0.1:8000/lite/"
    assert lite_root_from(worker) + edge_web.ORT_WEB_DIR == (
        "http://127.0.0.1:8000/lite/static/onnxruntime-web/"
    )
    with pytest.raises(ValueError, match="base_url"):
        lite_root_from("http://127.0.0.1:8000/lite/lab/index.html")


def test_rows_are_packed_as_float32_and_bad_rows_refused():
    flat, n = float32_rows([ROW, ROW])
    assert n == 2 and flat.typecode == "f" and len(flat) == 20
    assert flat[2] == array.array("f", [32.1])[0] != 32.1  # rounded to float32
    with pytest.raises(ValueError, match="non-empty"):
        float32_rows([])
    with pytest.raises(ValueError, match="row 1 must be a list of 10"):
        float32_rows([ROW, ROW[:9]])
    with pytest.raises(TypeError, match="row 0: '59' is not a number"):
        float32_rows([["59", *ROW[1:]]])
    with pytest.raises(TypeError, match="True"):
        float32_rows([[True, *ROW[1:]]])


def test_groups_grow_until_they_span_the_floor():
    calls = []
    samples, size = asyncio.run(time_per_call(lambda: calls.append(1), groups=5, min_group_s=0.002))
    assert len(samples) == 5 and size >= 2 and all(s > 0 for s in samples)
    assert len(calls) >= 5 * size  # the calibration groups, then 4 more of the final size

    async def slow(n: int) -> float:  # a group that reports its own duration (as the JS loop does)
        return n * 0.001

    samples, size = asyncio.run(time_groups(slow, groups=3, min_group_s=0.01))
    assert size == 16 and samples == [0.001] * 3
    with pytest.raises(ValueError):
        asyncio.run(time_groups(slow, groups=0))


def test_speed_ratio_reads_the_p50s_of_a_batch():
    base, fast = {"b64_p50_us": 2000.0, "b1_p50_us": 30.0}, {"b64_p50_us": 50.0, "b1_p50_us": 60.0}
    assert speed_ratio(base, fast) == 40.0
    assert speed_ratio(base, fast, 1) == 0.5


def _fake_package(root: Path, version: str, module_text: str) -> Path:
    dist = root / "package" / "dist"
    dist.mkdir(parents=True)
    (root / "package" / "package.json").write_text(json.dumps({"version": version}))
    for name in edge_web.ORT_WEB_FILES:
        (dist / name).write_text(module_text)
    return root / "package"


def test_the_build_checks_the_onnxruntime_web_pins(tmp_path):
    good = _fake_package(tmp_path / "good", ORT_WEB_VERSION, f'var v="{ORT_WEB_VERSION}";')
    check_ort_web_pins(good)
    assert edge_web.ORT_WEB_VERSION == ORT_WEB_VERSION
    other = _fake_package(tmp_path / "other", "1.29.0", 'var v="1.29.0";')
    with pytest.raises(SystemExit, match=r"npm onnxruntime-web is 1\.29\.0, pinned 1\.30\.0"):
        check_ort_web_pins(other)
    (good / "dist" / "ort-wasm-simd-threaded.wasm").unlink()
    with pytest.raises(SystemExit, match="no dist/ort-wasm-simd-threaded.wasm"):
        check_ort_web_pins(good)
