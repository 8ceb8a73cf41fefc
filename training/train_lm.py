"""Train the lesson's tiny language model in numpy (forward and backward by hand, Adam).

A decoder-only transformer over bytes (ids 0-255, plus end-of-text 256): learned token and
position embeddings, pre-LayerNorm blocks (causal multi-head attention, GELU MLP), a final
LayerNorm and an output layer tied to the token embedding. The text is the Python
documentation that ships with CPython (``pydoc_data.topics``, split by
:mod:`lesson.models.lm_corpus`: one document per topic, about 5 % of the bytes held out).
Training is deterministic given the seed: 1000 steps of 16 x 128 tokens, about 0.4-0.5 s a step
on two cores (8.4 minutes measured on a shared machine; ``train_seconds`` in the manifest
records the run that made it, slower because other jobs shared the cores).

The export is safetensors (float32, written with the ``safetensors`` library's numpy API),
checksummed by a manifest that also records the config, the held-out loss and the unigram
baseline's loss on the same held-out text::

    lesson/artifacts/tiny-lm/1/   model.safetensors, manifest.json

Run (needs the ``batch`` extra: numpy, safetensors)::

    .venv/bin/python training/train_lm.py            # writes the artifact
    .venv/bin/python training/train_lm.py --check    # retrain, compare with what is shipped

``--check`` passes when the retrained weights are byte-identical to the shipped ones (what the
same machine, BLAS kernel and thread count give) or, failing that, when the held-out loss is
within ``CHECK_LOSS_TOLERANCE`` nats/token of the shipped one: float32 sums depend on the BLAS
kernel and thread split, and a different rounding early in training leads to different (but
equally good) weights, so bytes cannot be promised across machines but the quality can.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

# The same BLAS kernel on any x86-64 CPU (see training/train_model.py), so reruns round alike.
if platform.machine() in ("x86_64", "AMD64"):
    os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")

import numpy as np
import safetensors
from safetensors.numpy import load, save

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lesson.core.artifacts import ARTIFACTS_ROOT, load_artifact, write_artifact
from lesson.models.lm_corpus import EOS_ID, VOCAB_SIZE, Corpus, load_corpus

NAME = "tiny-lm"
VERSION = "1"
WEIGHTS_FILE = "model.safetensors"
SEED = 0
CHECK_LOSS_TOLERANCE = 0.02

CONFIG = {
    "vocab_size": VOCAB_SIZE,
    "eos_id": EOS_ID,
    "n_layer": 4,
    "n_head": 4,
    "d_model": 64,
    "d_ff": 256,
    "max_seq_len": 128,
    "layer_norm_eps": 1e-5,
    "activation": "gelu_tanh",
    "tied_embeddings": True,
}
TRAIN = {
    "steps": 1000,
    "batch_size": 16,
    "seq_len": 128,
    "learning_rate": 3e-3,
    "min_learning_rate": 3e-4,
    "warmup_steps": 60,
    "betas": [0.9, 0.99],
    "adam_eps": 1e-8,
    "grad_clip": 1.0,
    "init_std": 0.02,
}

GELU_C = float(np.sqrt(2.0 / np.pi))


def init_params(cfg: dict, rng: np.random.Generator, std: float) -> dict[str, np.ndarray]:
    """Small random weights (GPT-2 style: residual projections scaled by 1/sqrt(2 n_layer))."""
    d, f, L = cfg["d_model"], cfg["d_ff"], cfg["n_layer"]
    proj_std = std / np.sqrt(2 * L)
    p: dict[str, np.ndarray] = {
        "wte": rng.normal(0, std, (cfg["vocab_size"], d)),
        "wpe": rng.normal(0, std / 2, (cfg["max_seq_len"], d)),
    }
    for i in range(L):
        h = f"h.{i}."
        p[h + "ln_1.weight"] = np.ones(d)
        p[h + "ln_1.bias"] = np.zeros(d)
        p[h + "attn.c_attn.weight"] = rng.normal(0, std, (d, 3 * d))
        p[h + "attn.c_attn.bias"] = np.zeros(3 * d)
        p[h + "attn.c_proj.weight"] = rng.normal(0, proj_std, (d, d))
        p[h + "attn.c_proj.bias"] = np.zeros(d)
        p[h + "ln_2.weight"] = np.ones(d)
        p[h + "ln_2.bias"] = np.zeros(d)
        p[h + "mlp.c_fc.weight"] = rng.normal(0, std, (d, f))
        p[h + "mlp.c_fc.bias"] = np.zeros(f)
        p[h + "mlp.c_proj.weight"] = rng.normal(0, proj_std, (f, d))
        p[h + "mlp.c_proj.bias"] = np.zeros(d)
    p["ln_f.weight"] = np.ones(d)
    p["ln_f.bias"] = np.zeros(d)
    return {k: v.astype(np.float32) for k, v in p.items()}


# ---- layers: forward returns (out, cache); backward takes (dout, cache) ----------------------


def ln_fwd(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    xc = x - mu
    rstd = 1.0 / np.sqrt((xc * xc).mean(-1, keepdims=True) + eps)
    xhat = xc * rstd
    return xhat * w + b, (xhat, rstd, w)


def ln_bwd(dy, cache):
    xhat, rstd, w = cache
    dw = (dy * xhat).reshape(-1, xhat.shape[-1]).sum(0)
    db = dy.reshape(-1, dy.shape[-1]).sum(0)
    dxhat = dy * w
    dx = rstd * (
        dxhat - dxhat.mean(-1, keepdims=True) - xhat * (dxhat * xhat).mean(-1, keepdims=True)
    )
    return dx, dw, db


def gelu_fwd(u):
    t = np.tanh(GELU_C * (u + 0.044715 * u**3))
    return 0.5 * u * (1.0 + t), (u, t)


def gelu_bwd(dg, cache):
    u, t = cache
    return dg * (0.5 * (1.0 + t) + 0.5 * u * (1.0 - t * t) * GELU_C * (1.0 + 3 * 0.044715 * u * u))


def attn_fwd(qkv, n_head):
    B, T, three_d = qkv.shape
    d = three_d // 3
    hd = d // n_head
    q, k, v = (
        qkv[..., i * d : (i + 1) * d].reshape(B, T, n_head, hd).transpose(0, 2, 1, 3)
        for i in range(3)
    )
    scale = 1.0 / np.sqrt(hd)
    s = (q @ k.transpose(0, 1, 3, 2)) * scale
    mask = np.triu(np.ones((T, T), dtype=bool), 1)
    s = np.where(mask, -np.inf, s)
    s = s - s.max(-1, keepdims=True)
    a = np.exp(s)
    a /= a.sum(-1, keepdims=True)
    y = (a @ v).transpose(0, 2, 1, 3).reshape(B, T, d)
    return y, (q, k, v, a, scale)


def attn_bwd(dy, cache):
    q, k, v, a, scale = cache
    B, H, T, hd = q.shape
    dy = dy.reshape(B, T, H, hd).transpose(0, 2, 1, 3)
    da = dy @ v.transpose(0, 1, 3, 2)
    dv = a.transpose(0, 1, 3, 2) @ dy
    ds = a * (da - (da * a).sum(-1, keepdims=True)) * scale
    dq = ds @ k
    dk = ds.transpose(0, 1, 3, 2) @ q
    parts = [g.transpose(0, 2, 1, 3).reshape(B, T, H * hd) for g in (dq, dk, dv)]
    return np.concatenate(parts, axis=-1)


def loss_and_grads(p, cfg, idx, targets, *, need_grads=True):
    """Mean cross-entropy of ``targets`` given ``idx`` (B, T), and the gradient of every param."""
    B, T = idx.shape
    L, H, eps = cfg["n_layer"], cfg["n_head"], cfg["layer_norm_eps"]
    x = p["wte"][idx] + p["wpe"][:T]
    caches = []
    for i in range(L):
        h = f"h.{i}."
        n1, c_ln1 = ln_fwd(x, p[h + "ln_1.weight"], p[h + "ln_1.bias"], eps)
        qkv = n1 @ p[h + "attn.c_attn.weight"] + p[h + "attn.c_attn.bias"]
        y, c_att = attn_fwd(qkv, H)
        x = x + y @ p[h + "attn.c_proj.weight"] + p[h + "attn.c_proj.bias"]
        n2, c_ln2 = ln_fwd(x, p[h + "ln_2.weight"], p[h + "ln_2.bias"], eps)
        u = n2 @ p[h + "mlp.c_fc.weight"] + p[h + "mlp.c_fc.bias"]
        g, c_gelu = gelu_fwd(u)
        x = x + g @ p[h + "mlp.c_proj.weight"] + p[h + "mlp.c_proj.bias"]
        caches.append((n1, c_ln1, y, c_att, n2, c_ln2, g, c_gelu))
    xf, c_lnf = ln_fwd(x, p["ln_f.weight"], p["ln_f.bias"], eps)
    logits = xf @ p["wte"].T
    logits = logits - logits.max(-1, keepdims=True)
    expl = np.exp(logits)
    sumexp = expl.sum(-1, keepdims=True)
    logp_t = np.take_along_axis(logits, targets[..., None], -1)[..., 0] - np.log(sumexp[..., 0])
    loss = float(-logp_t.astype(np.float64).mean())
    if not need_grads:
        return loss, None
    grads: dict[str, np.ndarray] = {}
    N = B * T
    dlogits = expl / sumexp
    np.put_along_axis(
        dlogits, targets[..., None], np.take_along_axis(dlogits, targets[..., None], -1) - 1, -1
    )
    dlogits /= N
    d = cfg["d_model"]
    grads["wte"] = dlogits.reshape(N, -1).T @ xf.reshape(N, d)
    dxf = dlogits @ p["wte"]
    dx, grads["ln_f.weight"], grads["ln_f.bias"] = ln_bwd(dxf, c_lnf)
    for i in reversed(range(L)):
        h = f"h.{i}."
        n1, c_ln1, y, c_att, n2, c_ln2, g, c_gelu = caches[i]
        grads[h + "mlp.c_proj.weight"] = g.reshape(N, -1).T @ dx.reshape(N, d)
        grads[h + "mlp.c_proj.bias"] = dx.reshape(N, d).sum(0)
        du = gelu_bwd(dx @ p[h + "mlp.c_proj.weight"].T, c_gelu)
        grads[h + "mlp.c_fc.weight"] = n2.reshape(N, d).T @ du.reshape(N, -1)
        grads[h + "mlp.c_fc.bias"] = du.reshape(N, -1).sum(0)
        dn2 = du @ p[h + "mlp.c_fc.weight"].T
        dxl, grads[h + "ln_2.weight"], grads[h + "ln_2.bias"] = ln_bwd(dn2, c_ln2)
        dx = dx + dxl
        grads[h + "attn.c_proj.weight"] = y.reshape(N, d).T @ dx.reshape(N, d)
        grads[h + "attn.c_proj.bias"] = dx.reshape(N, d).sum(0)
        dqkv = attn_bwd(dx @ p[h + "attn.c_proj.weight"].T, c_att)
        grads[h + "attn.c_attn.weight"] = n1.reshape(N, d).T @ dqkv.reshape(N, -1)
        grads[h + "attn.c_attn.bias"] = dqkv.reshape(N, -1).sum(0)
        dn1 = dqkv @ p[h + "attn.c_attn.weight"].T
        dxl, grads[h + "ln_1.weight"], grads[h + "ln_1.bias"] = ln_bwd(dn1, c_ln1)
        dx = dx + dxl
    grads["wpe"] = np.zeros_like(p["wpe"])
    grads["wpe"][:T] = dx.sum(0)
    np.add.at(grads["wte"], idx.reshape(-1), dx.reshape(N, d))
    return loss, grads


def evaluate(p, cfg, ids: list[int], seq_len: int) -> float:
    """Mean cross-entropy (nats/token) over consecutive windows covering the whole stream.

    Each window of ``seq_len`` targets starts at position 0 (the context restarts, as the model
    saw it in training); the last partial window is scored too.
    """
    arr = np.asarray(ids, dtype=np.int64)
    total, count = 0.0, 0
    for start in range(0, len(arr) - 1, seq_len):
        chunk = arr[start : start + seq_len + 1]
        if len(chunk) < 2:
            break
        loss, _ = loss_and_grads(p, cfg, chunk[None, :-1], chunk[None, 1:], need_grads=False)
        total += loss * (len(chunk) - 1)
        count += len(chunk) - 1
    return total / count


def learning_rate(step: int) -> float:
    t = TRAIN
    if step < t["warmup_steps"]:
        return t["learning_rate"] * (step + 1) / t["warmup_steps"]
    frac = (step - t["warmup_steps"]) / max(1, t["steps"] - t["warmup_steps"])
    cos = 0.5 * (1 + np.cos(np.pi * frac))
    return t["min_learning_rate"] + (t["learning_rate"] - t["min_learning_rate"]) * cos


def train(corpus: Corpus, steps: int | None = None, log_every: int = 100) -> dict:
    """Train from the seed; return the params (float32), losses and timings."""
    steps = TRAIN["steps"] if steps is None else steps
    rng = np.random.default_rng(SEED)
    p = init_params(CONFIG, rng, TRAIN["init_std"])
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    b1, b2 = TRAIN["betas"]
    data = np.asarray(corpus.train_ids, dtype=np.int64)
    B, T = TRAIN["batch_size"], TRAIN["seq_len"]
    offsets = np.arange(T + 1)
    t0 = time.perf_counter()
    history = []
    for step in range(steps):
        starts = rng.integers(0, len(data) - T - 1, size=B)
        window = data[starts[:, None] + offsets]
        loss, grads = loss_and_grads(p, CONFIG, window[:, :-1], window[:, 1:])
        norm = float(np.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads.values())))
        clip = min(1.0, TRAIN["grad_clip"] / (norm + 1e-12))
        lr = learning_rate(step)
        bc1, bc2 = 1 - b1 ** (step + 1), 1 - b2 ** (step + 1)
        for k in p:
            g = grads[k] * clip
            m[k] = b1 * m[k] + (1 - b1) * g
            v[k] = b2 * v[k] + (1 - b2) * g * g
            p[k] = (p[k] - lr * (m[k] / bc1) / (np.sqrt(v[k] / bc2) + TRAIN["adam_eps"])).astype(
                np.float32
            )
        if step % log_every == 0 or step == steps - 1:
            history.append({"step": step, "train_loss": round(loss, 4)})
            print(
                f"step {step:5d}  loss {loss:.4f}  lr {lr:.5f}  {time.perf_counter() - t0:6.1f}s",
                flush=True,
            )
    seconds = time.perf_counter() - t0
    heldout = evaluate(p, CONFIG, corpus.heldout_ids, T)
    return {"params": p, "history": history, "seconds": seconds, "heldout_loss": heldout}


def weights_bytes(params: dict[str, np.ndarray]) -> bytes:
    """The safetensors file: every tensor float32, the config in its metadata.

    The metadata is ONE key (``tiny-lm``, the config as canonical JSON): the library writes
    metadata keys in hash-map order, which changes from run to run, so several keys would make
    the same weights give different bytes.
    """
    tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in params.items()}
    described = dict(CONFIG, name=NAME, version=VERSION)
    return save(tensors, metadata={NAME: json.dumps(described, sort_keys=True)})


def export(result: dict, corpus: Corpus, root: Path = ARTIFACTS_ROOT) -> Path:
    """Write ``tiny-lm/1``: the safetensors weights and the manifest."""
    blob = weights_bytes(result["params"])
    n_params = int(sum(v.size for v in result["params"].values()))
    unigram = corpus.unigram_heldout_loss()
    manifest = {
        "description": (
            f"byte-level decoder-only transformer ({CONFIG['n_layer']} layers, d_model "
            f"{CONFIG['d_model']}, {CONFIG['n_head']} heads, context {CONFIG['max_seq_len']}) "
            "trained on the Python documentation's topics (pydoc_data.topics)"
        ),
        "created_by": "training/train_lm.py",
        "weights": WEIGHTS_FILE,
        "config": CONFIG,
        "n_params": n_params,
        "tokens": "ids 0-255 are UTF-8 bytes; 256 is end-of-text",
        "metrics": {
            "heldout_loss_nats_per_token": round(result["heldout_loss"], 4),
            "unigram_heldout_loss_nats_per_token": round(unigram, 4),
            "heldout_tokens": len(corpus.heldout_ids),
            "evaluation": (
                f"mean cross-entropy over consecutive {TRAIN['seq_len']}-token windows of the "
                "held-out stream, each window starting at position 0; the unigram baseline is "
                "add-one-smoothed byte frequencies of the training stream"
            ),
        },
        "training": {
            "dataset": "pydoc_data.topics (standard library), one document per topic",
            "corpus_sha256": corpus.sha256,
            "n_topics": corpus.n_topics,
            "n_chars": corpus.n_chars,
            "train_tokens": len(corpus.train_ids),
            "heldout_topics": corpus.heldout_topics,
            "split": "lesson.models.lm_corpus.load_corpus(seed=0, heldout_fraction=0.05)",
            "seed": SEED,
            "optimizer": "Adam, linear warm-up then cosine decay, global-norm clipping",
            "hyperparameters": TRAIN,
            "loss_every_100_steps": result["history"],
            "train_seconds": round(result["seconds"], 1),
            "cpu": f"{platform.machine()}, {os.cpu_count()} cores",
        },
        "library_versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "safetensors": safetensors.__version__,
        },
    }
    return write_artifact(NAME, VERSION, manifest, {WEIGHTS_FILE: blob}, root=root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ARTIFACTS_ROOT, help="where to write")
    parser.add_argument(
        "--check", action="store_true", help="retrain and compare with the shipped artifact"
    )
    parser.add_argument("--steps", type=int, default=None, help="override (for trying out)")
    args = parser.parse_args(argv)
    corpus = load_corpus()
    print(
        f"corpus: {corpus.n_topics} topics, {len(corpus.train_ids)} training tokens, "
        f"{len(corpus.heldout_ids)} held-out tokens"
    )
    result = train(corpus, args.steps)
    unigram = corpus.unigram_heldout_loss()
    print(
        f"trained in {result['seconds']:.0f}s; held-out loss {result['heldout_loss']:.4f} "
        f"nats/token (unigram baseline {unigram:.4f})"
    )
    if args.check:
        shipped = load_artifact(NAME, VERSION)
        if shipped.manifest["training"]["corpus_sha256"] != corpus.sha256:
            print(
                "this Python's pydoc_data.topics differs from the one the artifact was trained on"
            )
            return 1
        shipped_tensors = load(shipped.files[WEIGHTS_FILE])
        same = weights_bytes(result["params"]) == shipped.files[WEIGHTS_FILE]
        if not same and set(shipped_tensors) == set(result["params"]):
            worst = max(
                float(np.max(np.abs(shipped_tensors[k] - result["params"][k])))
                for k in shipped_tensors
            )
            print(f"largest weight difference from the shipped file: {worst:.3g}")
        want = shipped.manifest["metrics"]["heldout_loss_nats_per_token"]
        delta = abs(result["heldout_loss"] - want)
        if same:
            print("retrained weights are byte-identical to the shipped ones")
            return 0
        print(
            f"retrained weights differ in bytes; held-out loss {result['heldout_loss']:.4f} vs "
            f"shipped {want:.4f} (|diff| {delta:.4f}, tolerance {CHECK_LOSS_TOLERANCE})"
        )
        return 0 if delta <= CHECK_LOSS_TOLERANCE else 1
    directory = export(result, corpus, args.root)
    for path in sorted(directory.iterdir()):
        print(f"  {path}  {path.stat().st_size} B")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
