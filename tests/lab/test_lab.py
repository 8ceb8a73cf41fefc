"""lesson.lab.setup(): picks its world, says which, and never leaves a server behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

import lesson
import lesson.lab as lab_module
from lesson.core.model import AveragedEnsembleModel
from lesson.lab import READY_SENTINEL, setup, show_source

# one patient's 10 features, at most 3 decimals (so the edge target's input rounding keeps it)
ROW = [59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.86, 87]
PAYLOAD = {"instances": [ROW]}


def mlp_predictions(rows):
    """The real model in pure Python (lesson.models.mlp): what every default target must answer."""
    from lesson.models.mlp import load_default_mlp

    return load_default_mlp().predict(rows)


def gone(pid: int, timeout: float = 20.0) -> bool:
    psutil = pytest.importorskip("psutil")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def test_in_process_setup_prints_one_line_and_every_target_agrees(capsys):
    lab = setup(servers=False)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith(f"{READY_SENTINEL} — path: in-process (CPython")
    assert lab.path == "in-process" and lab.servers == {}
    assert list(lab.targets) == ["in-process", "rest", "grpc", "batch", "streaming", "edge"]
    assert lab.model.name == "diabetes-mlp" and lab.model.metadata().platform == "python-stdlib"
    expected = mlp_predictions([ROW])
    for key in lab.targets:
        response = lab.endpoint(key)(PAYLOAD)
        lesson.ensure_response_schema(response)
        assert response["predictions"] == pytest.approx(expected, abs=1e-9), key
        assert lab.targets[key].n_features == 10 and len(lab.targets[key].sample_rows) > 10, key
    assert "error" in lab.try_call(
        "rest", {"instances": [[0.2, 0.4, 0.6, 0.8]]}
    )  # 4 features, not 10
    example = lab.example_payload(3)
    assert len(example["instances"]) == 3 and all(len(r) == 10 for r in example["instances"])
    assert lab.endpoint("in-process")(example)["predictions"] == pytest.approx(
        mlp_predictions(example["instances"])
    )
    assert "error" in lab.try_call("rest", {"instances": [[0.1, "x"]]})
    with pytest.raises(KeyError, match="known: in-process"):
        lab.endpoint("nope")
    lab.close()


def test_the_toy_model_is_still_a_choice_in_process():
    lab = setup(servers=False, quiet=True, model=AveragedEnsembleModel())
    payload = {"instances": [[0.2, 0.4, 0.6, 0.8]]}
    expected = lesson.fastapi_rest_adapter(lesson.averaged_ensembled_model)(payload)["predictions"]
    assert lab.endpoint("rest")(payload)["predictions"] == expected
    assert lab.example_payload() == {
        "instances": [[0.0] * 4]
    }  # no artifact: zeros of the default width
    lab.close()


def test_the_lab_gives_a_notebook_what_it_uses():
    """What the notebooks reach through ``lab.<x>`` after ``lab = setup()``."""
    lab = setup(servers=False, quiet=True)
    patients, progression = lab.heldout()
    assert len(patients) == len(progression) > 0 and len(patients[0]) == lab.model.n_features
    assert lab.in_browser is False
    batching = lab.add_batching_target()
    assert lab.targets[batching.key] is batching and batching.key in repr(lab)
    shown = lab.show_source(lesson.PredictionService.predict)
    assert "def predict(" in shown._repr_markdown_()
    lab.close()
    toy = setup(servers=False, quiet=True, model=AveragedEnsembleModel())
    assert toy.heldout() == ([], [])  # no artifact
    toy.close()


def test_grpc_stream_target_survives_a_bad_message():
    lab = setup(servers=False, quiet=True)
    stream = lab.endpoint("grpc")
    assert stream(PAYLOAD)["predictions"]
    with pytest.raises(lesson.ValidationError):
        stream({"instances": []})
    assert stream(PAYLOAD)["metadata"]["streaming"] is True  # a new stream was opened
    lab.close()


def test_show_source_renders_markdown_code():
    shown = show_source(lesson.PredictionService.predict)
    text = shown._repr_markdown_()
    assert text.startswith("**Source of `lesson.core.service.PredictionService.predict`**")
    assert "```python\n    def predict(" in text


def test_missing_servers_package_falls_back_to_in_process_with_a_note():
    code = (
        "import sys; sys.modules['lesson.servers.launch'] = None\n"
        "from lesson.lab import setup\n"
        "lab = setup()\n"
        "assert lab.path == 'in-process', lab.path\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip()
    assert line.startswith(f"{READY_SENTINEL} — path: in-process")
    assert "real servers unavailable" in line


def _server_stack_available() -> bool:
    try:
        import lesson.clients
        import lesson.servers.launch  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.server
@pytest.mark.skipif(not _server_stack_available(), reason="needs the serve extra")
def test_real_servers_answer_and_stop_on_close_and_on_second_setup(capsys):
    first = setup()
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"{READY_SENTINEL} — path: real servers REST http://127.0.0.1:")
    assert "gRPC grpc://127.0.0.1:" in out
    assert first.path == "servers" and set(first.servers) == {"rest", "grpc"}
    assert first.targets["rest"].transport.startswith("http://127.0.0.1:")
    expected = mlp_predictions([ROW])  # pure Python in-process, numpy in the servers: within 1e-6
    for key in ("in-process", "rest", "grpc"):
        response = first.endpoint(key)(PAYLOAD)
        assert response["predictions"] == pytest.approx(expected, abs=1e-6), key
        assert response["metadata"]["model"] == "diabetes-mlp", key
    assert "422" in first.try_call("rest", {"instances": [[0.1, "x"]]})["error"]
    pids = [h.pid for h in first.servers.values()]

    second = setup(servers=["rest"], quiet=True)  # a re-run of the set-up cell
    assert first.closed and all(gone(pid) for pid in pids)
    assert set(second.servers) == {"rest"}
    pid = second.servers["rest"].pid
    lab_module.close()
    assert second.closed and gone(pid)
    assert lab_module.current() is None


@pytest.mark.server
@pytest.mark.skipif(not _server_stack_available(), reason="needs the serve extra")
def test_servers_stop_when_the_interpreter_exits_without_close(tmp_path):
    code = (
        "from lesson.lab import setup\n"
        "lab = setup(quiet=True)\n"
        "print(' '.join(str(h.pid) for h in lab.servers.values()), flush=True)\n"
        "raise SystemExit(3)  # like a kernel shutting down after a failed cell\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert out.returncode == 3, out.stderr
    pids = [int(p) for p in out.stdout.split()]
    assert len(pids) == 2
    assert all(gone(pid) for pid in pids)


def test_start_llm_server_serves_streams_and_stops_with_the_lab():
    import json
    import urllib.request

    from lesson.lab import Lab

    lab = Lab()
    try:
        handle = lab.start_llm_server(impl="ngram", warmup=False)
        assert lab.start_llm_server() is handle and lab.servers["llm"] is handle
        request = urllib.request.Request(
            handle.url + "/v1/completions",
            data=json.dumps({"prompt": "The ", "max_tokens": 3, "stream": True}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            events = [
                line for line in response.read().decode().splitlines() if line.startswith("data:")
            ]
        assert events[-1] == "data: [DONE]" and len(events) >= 4
    finally:
        lab.close()
    assert handle.process.poll() is not None
