"""`import lesson` and the whole core work with no third-party package importable.

Runs in a fresh interpreter (``-S``: no site-packages) with an import blocker on
``sys.meta_path`` for the packages the other parts use, then checks that every module the
run imported is from the standard library.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    r"""
    import sys
    BLOCKED = {"fastapi", "grpc", "numpy", "uvicorn", "pydantic", "typer", "rich", "ipywidgets",
               "starlette", "httpx", "google", "pyarrow", "dask", "sklearn", "click", "IPython",
               "onnx", "onnxruntime"}

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"blocked for this test: {name}")
            return None

    sys.meta_path.insert(0, Blocker())
    sys.path.insert(0, ROOT)

    import asyncio, io, contextlib, runpy
    import lesson
    from lesson import *
    from lesson.core.model import AveragedEnsembleModel, default_registry
    import lesson.core.generative, lesson.core.safetensors  # the generative pattern's core
    import lesson.models.lm, lesson.models.lm_corpus  # the tiny LM in pure Python
    # the edge runtimes' table, as in the browser: the lesson's rows, no ONNX Runtime
    from lesson.patterns.edge_runtimes import compare_edge_runtimes
    from lesson.teaching.edge_verdicts import runtime_verdicts
    edge_table = compare_edge_runtimes(groups=3)
    assert [r["variant"] for r in edge_table.rows] == ["pure-Python float", "lesson int8"]
    assert runtime_verdicts(edge_table)

    rest = fastapi_rest_adapter(averaged_ensembled_model)
    assert rest({"instances": [0.2, 0.4, 0.6]})["predictions"] == [0.42]
    streamed = grpc_streaming_adapter(AveragedEnsembleModel())([{"instances": [1.0]}])
    assert [r["predictions"] for r in streamed] == [[0.9]]
    assert batch_scoring_runner(averaged_ensembled_model, [[0.0], [1.0]])[1]["predictions"] == [0.9]
    edge = edge_inference_adapter(averaged_ensembled_model)
    assert edge([0.12345])["predictions"] == averaged_ensembled_model([0.123])
    assert next(event_stream_adapter()([{"id": 1, "instances": [1.0]}]))["metadata"]["event_id"] == 1
    assert set(describe_serving_landscape()) == {"REST", "gRPC", "batch", "streaming", "edge", "generative"}
    try:
        rest({"instances": [True]})
    except ValidationError as exc:
        assert exc.errors[0]["type"] == "type_error"
    else:
        raise SystemExit("no ValidationError")
    registry = default_registry()
    assert registry.get().name == "averaged_ensemble"
    r1 = run_synthetic_load_test(rest, [{"instances": [0.1]}] * 20)
    r2 = run_load_test(rest, {"instances": [0.1]}, concurrency=4, max_requests=200)
    r3 = run_load_test(rest, {"instances": [0.1]}, rate=500, concurrency=2, max_requests=50)
    r4 = asyncio.run(run_load_test_async(rest, {"instances": [0.1]}, concurrency=4, max_requests=100))
    for r in (r1, r2, r3, r4):
        assert r.success_rate == 1.0, r
        r.to_text(); r.summary(); r._repr_html_()
    assert clock_resolution() > 0 and IN_BROWSER is False

    from lesson import cli

    from lesson.teaching import demo
    assert cli.app is None  # typer blocked
    out = io.StringIO()
    sys.argv = ["lesson", "--requests", "30", "--no-stall"]
    with contextlib.redirect_stdout(out):
        try:
            runpy.run_module("lesson", run_name="__main__")
        except SystemExit as exc:
            assert exc.code == 0, exc.code
    assert "p99" in out.getvalue() and "LoadTestResult(" in out.getvalue(), out.getvalue()

    stdlib = set(sys.stdlib_module_names) | {"lesson", "__main__", "builtins"}
    foreign = sorted({m.split(".")[0] for m in sys.modules} - stdlib)
    assert not foreign, foreign
    print("STDLIB-ONLY-OK", len(sys.modules))
    """
)


def test_core_runs_with_third_party_packages_blocked():
    code = f"ROOT = {str(ROOT)!r}\n" + SCRIPT
    proc = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "STDLIB-ONLY-OK" in proc.stdout


def test_the_blocker_really_blocks():
    code = f"ROOT = {str(ROOT)!r}\n" + SCRIPT.split("import asyncio, io")[0] + "import numpy\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "blocked for this test: numpy" in proc.stderr
