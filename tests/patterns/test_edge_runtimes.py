"""One table for the edge variants (lesson runtimes and ONNX Runtime) and the verdicts read from it."""

from __future__ import annotations

import pytest

from lesson.patterns.edge_runtimes import ROW_KEYS, RuntimeTable, compare_edge_runtimes
from lesson.teaching.edge_verdicts import families, runtime_verdicts


def _row(variant, runtime, model_bytes, b1, b64, runtime_bytes=1000, mae=44.0, delta=0.0):
    return {
        "variant": variant,
        "runtime": runtime,
        "model_bytes": model_bytes,
        "runtime_bytes": runtime_bytes,
        "mae": mae,
        "delta_mae": delta,
        "max_change": 0.5,
        "b1_p50_us": b1,
        "b1_p99_us": 2 * b1,
        "b64_p50_us": b64,
        "b64_p99_us": 2 * b64,
    }


def test_lesson_rows_without_onnxruntime():
    table = compare_edge_runtimes(include_onnxruntime=False, groups=3)
    assert [r["variant"] for r in table.rows] == ["pure-Python float", "lesson int8"]
    fp, q = table.rows
    assert all(set(ROW_KEYS) <= set(r) for r in table.rows)
    assert q["model_bytes"] < fp["model_bytes"] and fp["delta_mae"] == 0 and fp["max_change"] == 0
    assert 0 < q["max_change"] < 2 and abs(q["delta_mae"]) < 1
    assert all(0 < r["b1_p50_us"] <= r["b1_p99_us"] for r in table.rows)
    assert all(r["b1_p50_us"] < r["b64_p50_us"] for r in table.rows)  # 64 rows cost more than 1
    assert table.n_parameters == 10 * 16 + 16 + 16 + 1


def test_onnxruntime_rows_measure_the_files_and_the_runtime():
    pytest.importorskip("onnxruntime")
    table = compare_edge_runtimes(groups=3)
    names = [r["variant"] for r in table.rows]
    assert names == [
        "pure-Python float",
        "lesson int8",
        "ORT float32",
        "ORT int8 dynamic",
        "ORT int8 static",
    ]
    fp32 = table.row("ORT float32")
    assert fp32["max_change"] < 1e-3 and fp32["delta_mae"] == 0
    assert fp32["runtime_bytes"] > 1_000_000  # a native runtime, megabytes, vs a kilobyte model
    assert table.row("ORT int8 dynamic")["max_change"] > 0
    assert "RECORD" in table.notes["runtime bytes (ORT)"]
    text = table.to_text()
    assert all(n in text for n in names) and "<table" in table._repr_html_()


def test_rows_from_elsewhere_append_with_the_same_keys():
    table = RuntimeTable([], heldout_n=89, tick_s=1e-4, n_parameters=193)
    table.add_row(_row("pure-Python float", "py", 6000, 10.0, 600.0))
    with pytest.raises(ValueError, match="missing"):
        table.add_row({"variant": "ORT-web float32"})
    table.add_row(_row("ORT-web float32", "ort-web", 1400, 40.0, 50.0))
    assert len(table.rows) == 2 and list(families(table.rows)) == ["py", "ort-web"]


def test_verdicts_follow_the_figures():
    table = RuntimeTable([], heldout_n=89, tick_s=1e-7, n_parameters=193)
    table.add_row(_row("ORT float32", "ort", 1400, 10.0, 40.0, runtime_bytes=10**7))
    table.add_row(_row("ORT int8 dynamic", "ort", 2100, 15.0, 41.0, runtime_bytes=10**7))
    text = "\n".join(runtime_verdicts(table))
    assert "2,100 bytes against ORT float32's 1,400: larger" in text
    assert "0.67x the float model's speed (slower)" in text and "int8 did not pay here" in text
    assert "dynamic int8 adds nodes" in text
    table.rows[1].update(model_bytes=700, b64_p50_us=20.0)
    text = "\n".join(runtime_verdicts(table))
    assert "2.0x smaller" in text and "int8 paid at batch 64 only for ORT int8 dynamic" in text
