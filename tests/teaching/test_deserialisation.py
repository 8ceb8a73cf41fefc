"""Unsafe deserialisation, shown harmlessly, and the checksummed artifact that replaces it."""

from __future__ import annotations

import pickle

import pytest

from lesson.core.artifacts import ArtifactIntegrityError, load_artifact
from lesson.teaching import deserialisation as demo


def test_loading_the_pickle_runs_the_recording_function():
    result = demo.show_pickle_runs_code("unit test note")
    assert result.calls == ["unit test note"]
    assert result.imports == ["lesson.teaching.deserialisation.record_call"]
    assert result.loaded == "record_call ran: unit test note"
    assert not isinstance(result.loaded, demo.RunsCodeWhenUnpickled)
    text = result.to_text()
    assert "ran code during pickle.loads" in text and "1 call(s)" in text


def test_inspecting_a_pickle_does_not_run_it():
    before = len(demo.CALL_LOG)
    data = demo.booby_trapped_pickle("inspect only")
    assert demo.callables_in_pickle(data) == ["lesson.teaching.deserialisation.record_call"]
    assert len(demo.CALL_LOG) == before  # genops reads, never calls
    for protocol in range(0, pickle.HIGHEST_PROTOCOL + 1):
        assert demo.callables_in_pickle(pickle.dumps(demo.RunsCodeWhenUnpickled(), protocol)) == [
            "lesson.teaching.deserialisation.record_call"
        ], protocol
    assert demo.callables_in_pickle(pickle.dumps({"weights": [1.0, 2.0]})) == []


def test_tampered_copy_is_refused_and_the_shipped_artifact_untouched(tmp_path):
    result = demo.show_tamper_refused(tmp_path)
    assert result.loaded_before
    assert result.before_sha256 != result.after_sha256
    assert "weights.json" in result.error and "does not match the manifest" in result.error
    assert "refused" in result.to_text()
    load_artifact("diabetes-mlp", "1")  # the package's own copy still verifies
    with pytest.raises(ArtifactIntegrityError, match="weights.json"):
        load_artifact("diabetes-mlp", "1", root=tmp_path)


def test_tamper_one_byte_keeps_the_size(tmp_path):
    path = tmp_path / "w.json"
    path.write_bytes(b'{"w": [0.125, 3.5, 42]}')
    offset = demo.tamper_one_byte(path)
    changed = path.read_bytes()
    assert (
        len(changed) == 23
        and changed != b'{"w": [0.125, 3.5, 42]}'
        and chr(changed[offset]).isdigit()
    )
    (tmp_path / "none.json").write_bytes(b'{"a": "b"}')
    with pytest.raises(ValueError, match="no digit"):
        demo.tamper_one_byte(tmp_path / "none.json")


def test_both_demonstrations_run_with_the_standard_library_only(tmp_path):
    """They must run in JupyterLite: no third-party package may be imported."""
    import pathlib
    import subprocess
    import sys
    import textwrap

    root = pathlib.Path(__file__).resolve().parents[2]
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(root)!r})
        import lesson.teaching.deserialisation as d, lesson.teaching.evolution as e, lesson.teaching.exercises as x
        assert d.show_pickle_runs_code().calls
        assert "does not match" in d.show_tamper_refused({str(tmp_path)!r}).error
        s = e.rollout_service()
        row = [59.0, 2.0, 32.1, 101.0, 157.0, 93.2, 38.0, 4.0, 4.8598, 87.0]
        assert s.predict({{"instances": [row], "request_id": "a"}})["metadata"]["request_id"] == "a"
        from lesson.teaching.rollout import RolloutClient
        line = RolloutClient.connect(s, over_http=False).explain("old", {{"instances": [row]}}, version="1")
        assert "200 prediction" in line, line
        from lesson.teaching.exercises import edge, rest
        assert x.check("compatible_contract", rest.compatible_contract()).passed
        assert x.check("tampered_files", edge.tampered_files).passed
        stdlib = set(sys.stdlib_module_names) | {{"lesson", "__main__", "builtins"}}
        foreign = sorted({{m.split(".")[0] for m in sys.modules}} - stdlib)
        assert not foreign, foreign
        print("OK")
    """)
    proc = subprocess.run(
        [sys.executable, "-S", "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout + proc.stderr


def test_loading_the_marker_pickle_writes_the_file(tmp_path):
    result = demo.show_marker_written(tmp_path)
    assert not result.existed_before and result.exists_after
    assert (tmp_path / "marker.txt").read_text() == demo.MARKER_NOTE == result.content
    assert result.imports == ["lesson.teaching.deserialisation.write_marker"]
    assert "exists? True" in result.to_text()


def test_the_artifact_loader_refuses_a_pickle_three_ways_and_never_runs_it(tmp_path):
    attempts = demo.show_pickled_artifact_refused(tmp_path)
    *loader, plain = attempts
    assert [a.refused for a in loader] == [True, True, True]
    assert [a.marker_written for a in loader] == [False, False, False]
    assert "bytes on disk" in loader[0].error
    assert "not valid JSON" in loader[1].error
    assert "checksum differs from the pinned one" in loader[2].error
    assert not plain.refused and plain.marker_written  # the same bytes, unpickled, ran the payload
    load_artifact("diabetes-mlp", "1")  # the package's own copy still verifies
