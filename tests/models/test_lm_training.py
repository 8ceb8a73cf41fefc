"""training/train_lm.py: the hand-written backward pass is the forward pass's gradient.

A finite-difference check on a tiny configuration (float64) covers every parameter tensor;
the full retraining (``--check``) takes minutes, so it runs only when asked for.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "training" / "train_lm.py"


@pytest.fixture(scope="module")
def train_lm():
    pytest.importorskip("safetensors")
    spec = importlib.util.spec_from_file_location("train_lm", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_backward_matches_finite_differences(train_lm):
    cfg = dict(train_lm.CONFIG, n_layer=2, d_model=8, n_head=2, d_ff=16, max_seq_len=6)
    rng = np.random.default_rng(1)
    params = {k: v.astype(np.float64) for k, v in train_lm.init_params(cfg, rng, 0.5).items()}
    for name, value in params.items():  # move LayerNorm and biases off their initial values
        if "ln" in name or name.endswith("bias"):
            value += rng.normal(0, 0.3, value.shape)
    idx = rng.integers(0, 257, (2, 5))
    targets = rng.integers(0, 257, (2, 5))
    _, grads = train_lm.loss_and_grads(params, cfg, idx, targets)
    assert set(grads) == set(params)
    worst = 0.0
    for name, value in params.items():
        for trial in range(3):
            at = tuple(int(rng.integers(0, s)) for s in value.shape)
            if name == "wte":  # a row that is used
                at = (int(idx[0, trial]),) + at[1:]
            old = value[at]
            value[at] = old + 1e-5
            up, _ = train_lm.loss_and_grads(params, cfg, idx, targets, need_grads=False)
            value[at] = old - 1e-5
            down, _ = train_lm.loss_and_grads(params, cfg, idx, targets, need_grads=False)
            value[at] = old
            numeric = (up - down) / 2e-5
            worst = max(worst, abs(numeric - grads[name][at]) / max(1e-8, abs(numeric)))
    assert worst < 1e-5, worst


def test_the_export_is_float32_safetensors_with_the_config(train_lm):
    st = pytest.importorskip("safetensors.numpy")
    rng = np.random.default_rng(0)
    params = train_lm.init_params(train_lm.CONFIG, rng, 0.02)
    blob = train_lm.weights_bytes(params)
    loaded = st.load(blob)
    assert all(v.dtype == np.float32 for v in loaded.values())
    assert blob == train_lm.weights_bytes(params)  # deterministic bytes


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.skipif(
    os.environ.get("LESSON_RETRAIN_LM") != "1", reason="retrains for minutes: LESSON_RETRAIN_LM=1"
)
def test_retraining_reproduces_the_shipped_model():
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=3600
    )
    assert out.returncode == 0, out.stdout + out.stderr
