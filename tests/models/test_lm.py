"""The tiny language model: its safetensors file, its two implementations, its quality.

The stdlib reader must agree with the safetensors library and refuse broken files; the pure
Python and numpy models must give the same logits (prefill, batched decode, mixed batches);
the KV cache must change nothing but the cost; and the model must beat the unigram baseline on
held-out text, measured here, not read from the manifest.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from lesson.core.artifacts import ArtifactIntegrityError, load_artifact, sha256_bytes
from lesson.core.generative import KVCache, LanguageModel, generate, sample_token
from lesson.core.safetensors import SafetensorsError, load_safetensors
from lesson.models.lm import demo_samples, load_tiny_lm, sample_text
from lesson.models.lm_corpus import load_corpus
from lesson.models.lm_numpy import load_tiny_lm_numpy

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOL = 1e-6


@pytest.fixture(scope="module")
def artifact():
    return load_artifact("tiny-lm")


@pytest.fixture(scope="module")
def blob(artifact):
    return artifact.files["model.safetensors"]


@pytest.fixture(scope="module")
def py_model(artifact):
    return load_tiny_lm(artifact)


@pytest.fixture(scope="module")
def np_model(artifact):
    return load_tiny_lm_numpy(artifact)


def _split(blob: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8 : 8 + n]), blob[8 + n :]


def _build(header: dict, data: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def _worst(a: list[list[float]], b: list[list[float]]) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


# ---- the file ------------------------------------------------------------------------------


def test_reader_agrees_with_the_safetensors_library(blob, artifact):
    st = pytest.importorskip("safetensors.numpy")
    ours, metadata = load_safetensors(blob)
    theirs = st.load(blob)
    assert set(ours) == set(theirs)
    for name, tensor in ours.items():
        ref = theirs[name]
        assert ref.dtype == np.float32 and tensor.shape == ref.shape
        assert np.array_equal(np.asarray(tensor.data, dtype=np.float32).reshape(tensor.shape), ref)
    header, _ = _split(blob)
    assert metadata == header["__metadata__"]
    assert json.loads(metadata["tiny-lm"])["d_model"] == artifact.manifest["config"]["d_model"]


def test_the_weights_file_is_small(blob, artifact):
    assert len(blob) < 2_000_000
    assert artifact.manifest["n_params"] * 4 < len(blob)


@pytest.mark.parametrize("cut", [0, 5, 8, 100, -1, -4096])
def test_a_truncated_file_is_refused(blob, cut):
    with pytest.raises(SafetensorsError, match="truncated"):
        load_safetensors(blob[:cut] if cut else b"")


def test_a_header_that_lies_about_offsets_is_refused(blob):
    header, data = _split(blob)
    name = next(k for k in header if k != "__metadata__")
    wrong_size = json.loads(json.dumps(header))
    wrong_size[name]["data_offsets"][1] -= 4
    with pytest.raises(SafetensorsError, match="lies about offsets"):
        load_safetensors(_build(wrong_size, data))
    first, second = sorted(
        (k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"]
    )[:2]
    overlap = json.loads(json.dumps(header))
    overlap[second]["data_offsets"] = list(header[first]["data_offsets"])
    overlap[second]["shape"] = list(header[first]["shape"])
    with pytest.raises(SafetensorsError, match="overlap or leave a gap"):
        load_safetensors(_build(overlap, data))
    with pytest.raises(SafetensorsError, match="not in the header"):
        load_safetensors(_build(header, data + b"\0" * 4))
    past_end = {"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}
    with pytest.raises(SafetensorsError, match="truncated"):
        load_safetensors(_build(past_end, b"\0" * 8))
    with pytest.raises(SafetensorsError, match="not valid JSON"):
        load_safetensors(struct.pack("<Q", 5) + b"{oops")


def test_an_unsupported_dtype_is_refused():
    f64 = {"x": {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]}}
    with pytest.raises(SafetensorsError, match="dtype 'F64'.*only F32"):
        load_safetensors(_build(f64, b"\0" * 16))
    st = pytest.importorskip("safetensors.numpy")
    with pytest.raises(SafetensorsError, match="dtype 'F16'"):
        load_safetensors(st.save({"x": np.zeros(3, dtype=np.float16)}))


def test_manifest_hashes_are_verified(artifact, blob, tmp_path):
    entry = artifact.manifest["files"]["model.safetensors"]
    assert entry["sha256"] == sha256_bytes(blob) and entry["bytes"] == len(blob)
    copy = tmp_path / "tiny-lm"
    shutil.copytree(artifact.path.parent, copy)
    weights = copy / artifact.version / "model.safetensors"
    altered = bytearray(blob)
    altered[-10] ^= 0x01
    weights.write_bytes(bytes(altered))
    with pytest.raises(ArtifactIntegrityError, match="sha256"):
        load_artifact("tiny-lm", root=tmp_path)
    weights.write_bytes(blob[:-100])
    with pytest.raises(ArtifactIntegrityError, match="truncated"):
        load_artifact("tiny-lm", root=tmp_path)


# ---- the two implementations ---------------------------------------------------------------


def test_both_follow_the_protocol(py_model, np_model):
    for model in (py_model, np_model):
        assert isinstance(model, LanguageModel) and isinstance(model.new_cache(), KVCache)
        assert (model.name, model.version, model.vocab_size, model.eos_id) == (
            "tiny-lm",
            "1",
            257,
            256,
        )
        assert model.decode(model.encode("café") + [256]) == "café"
        assert model.decode([0xC3]) == "\ufffd"


TEXTS = ["The if statement", "x", "def f(x):\n    return x + 1\n", "Exceptions are raised"]


def test_prefill_and_batched_decode_agree(py_model, np_model):
    py_caches = [py_model.new_cache() for _ in TEXTS]
    np_caches = [np_model.new_cache() for _ in TEXTS]
    lp = py_model.forward([(py_model.encode(t), c) for t, c in zip(TEXTS, py_caches)])
    ln = np_model.forward([(np_model.encode(t), c) for t, c in zip(TEXTS, np_caches)])
    assert _worst(lp, ln) < TOL
    for _ in range(4):  # one batched decode per step, four sequences of different lengths
        nxt = [[int(np.argmax(row))] for row in ln]
        lp = py_model.forward(list(zip(nxt, py_caches)))
        ln = np_model.forward(list(zip(nxt, np_caches)))
        assert _worst(lp, ln) < TOL
    assert [len(c) for c in np_caches] == [len(c) for c in py_caches]
    assert len({len(c) for c in np_caches}) == len(TEXTS)


def test_a_mixed_batch_matches_separate_calls(np_model):
    a, b, c = (np_model.new_cache() for _ in range(3))
    np_model.forward([(np_model.encode("The for"), a), (np_model.encode("Th"), b)])
    a2, b2 = a.copy_prefix(len(a)), b.copy_prefix(len(b))
    mixed = np_model.forward([([32], a), (np_model.encode("while"), c), ([101], b)])
    alone = [
        np_model.forward([([32], a2)])[0],
        np_model.forward([(np_model.encode("while"), np_model.new_cache())])[0],
        np_model.forward([([101], b2)])[0],
    ]
    assert _worst(mixed, alone) < 1e-9


def test_cached_decode_equals_a_full_rerun(py_model, np_model):
    for model, steps in ((np_model, 20), (py_model, 4)):
        ids = model.encode("A class definition")
        cache = model.new_cache()
        logits = model.forward([(ids, cache)])[0]
        for _ in range(steps):
            ids = ids + [int(np.argmax(logits))]
            logits = model.forward([(ids[-1:], cache)])[0]
            fresh = model.forward([(ids, model.new_cache())])[0]
            assert _worst([logits], [fresh]) < 1e-9
        assert len(cache) == len(ids)


def test_copy_prefix_continues_identically(py_model, np_model):
    for model in (np_model, py_model):
        ids = model.encode("The with statement is used")
        cache = model.new_cache()
        full = model.forward([(ids, cache)])[0]
        prefix = cache.copy_prefix(10)
        assert len(prefix) == 10 and len(cache) == len(ids)
        again = model.forward([(ids[10:], prefix)])[0]
        assert _worst([full], [again]) < 1e-9
        # continuing the copy leaves the original alone
        model.forward([([32], prefix)])
        assert len(cache) == len(ids)
        assert (
            _worst(
                model.forward([([32], cache)]),
                model.forward([([32], prefix.copy_prefix(len(ids)))]),
            )
            < 1e-9
        )
        with pytest.raises(ValueError, match="copy_prefix"):
            cache.copy_prefix(len(cache) + 1)


def test_bad_input_is_refused(np_model, py_model):
    for model in (np_model, py_model):
        with pytest.raises(ValueError, match="no new tokens"):
            model.forward([([], model.new_cache())])
        with pytest.raises(ValueError, match="outside"):
            model.forward([([257], model.new_cache())])
        with pytest.raises(ValueError, match="past the model's context"):
            model.forward([([65] * (model.max_seq_len + 1), model.new_cache())])


# ---- quality and sampling ------------------------------------------------------------------


def test_heldout_loss_beats_the_unigram_baseline(np_model, artifact):
    corpus = load_corpus()
    training = artifact.manifest["training"]
    if corpus.sha256 != training["corpus_sha256"]:
        pytest.skip("this Python ships different pydoc_data topics than the model was trained on")
    assert corpus.heldout_topics == training["heldout_topics"]
    loss = np_model.cross_entropy(corpus.heldout_ids)
    unigram = corpus.unigram_heldout_loss()
    metrics = artifact.manifest["metrics"]
    assert abs(loss - metrics["heldout_loss_nats_per_token"]) < 2e-3  # float64 vs float32
    assert abs(unigram - metrics["unigram_heldout_loss_nats_per_token"]) < 1e-4
    assert loss < unigram - 1.0, (loss, unigram)


def test_seeded_sampling_is_deterministic(np_model, py_model):
    one = sample_text(np_model, "The ", 30, temperature=0.8, seed=7)
    assert one == sample_text(np_model, "The ", 30, temperature=0.8, seed=7)
    others = {sample_text(np_model, "The ", 30, temperature=0.8, seed=s) for s in range(4)}
    assert len(others) > 1
    short = sample_text(np_model, "The ", 12, temperature=0.8, seed=7)
    assert one.startswith(short)  # the same random draws, fewer of them
    assert sample_text(py_model, "The ", 12, temperature=0.8, seed=7) == short
    assert sample_text(np_model, "The if", 12) == sample_text(py_model, "The if", 12)


def test_samples_look_like_the_python_docs(np_model):
    samples = demo_samples(np_model, 80)
    words = " ".join(s["greedy"] + " " + s["sampled"] for s in samples).split()
    common = {"the", "is", "a", "of", "to", "and", "in", "be", "an", "for", "are", "if"}
    assert sum(w.lower().strip(".,:;()") in common for w in words) >= 3, samples


def test_sample_token_and_generate_edges(np_model):
    assert sample_token([0.0, 1.0, 1.0]) == 1  # ties go to the lowest id
    with pytest.raises(ValueError, match="context"):
        generate(np_model, "x" * np_model.max_seq_len, 5)
    text = generate(np_model, "", 5, temperature=1.0, seed=1)
    assert isinstance(text, str)


# ---- the browser path ----------------------------------------------------------------------


def test_the_pure_python_model_runs_with_numpy_blocked():
    script = textwrap.dedent(
        f"""
        import sys
        BLOCKED = {{"numpy", "safetensors", "torch", "pyarrow", "sklearn"}}

        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"blocked for this test: {{name}}")
                return None

        sys.meta_path.insert(0, Blocker())
        sys.path.insert(0, {str(ROOT)!r})
        from lesson.models.lm import load_tiny_lm, sample_text
        model = load_tiny_lm()
        text = sample_text(model, "The if", 8)
        assert isinstance(text, str) and len(text) > 0, text
        stdlib = set(sys.stdlib_module_names) | {{"lesson", "__main__", "builtins"}}
        foreign = sorted({{m.split(".")[0] for m in sys.modules}} - stdlib)
        assert not foreign, foreign
        print("LM-STDLIB-OK")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-S", "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "LM-STDLIB-OK" in proc.stdout
