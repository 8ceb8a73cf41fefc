"""The tiny language model in pure Python (standard library only, so it runs in the browser).

A byte-level decoder-only transformer trained by ``training/train_lm.py`` on the Python
documentation's topics and shipped as ``lesson/artifacts/tiny-lm/1/`` (safetensors weights,
checksummed manifest). It implements :class:`lesson.core.generative.LanguageModel`: each
sequence owns a :class:`PyKVCache`, and :meth:`TinyLM.forward` runs any mix of prefills (many
new tokens) and decodes (one) for a batch of sequences. This module runs every sequence one
token at a time in Python floats (float64); the numpy twin in :mod:`lesson.models.lm_numpy`
gives the same logits (within 1e-6) and batches the decodes into one matrix product.

    >>> from lesson.models.lm import load_tiny_lm, sample_text
    >>> model = load_tiny_lm()                                         # doctest: +SKIP
    >>> sample_text(model, "The if statement", 40)                     # doctest: +SKIP
    ' is used for conditional execution: ...'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from operator import mul
from typing import Any

from lesson.core.artifacts import Artifact, ArtifactIntegrityError, load_artifact
from lesson.core.generative import generate
from lesson.core.safetensors import SafetensorsError, Tensor, load_safetensors

TINY_LM_NAME = "tiny-lm"
WEIGHTS_FILE = "model.safetensors"
SAMPLE_PROMPTS = ("The built-in function ", "Exceptions are ")


@dataclass(frozen=True)
class LMConfig:
    """The architecture, as recorded in the manifest."""

    vocab_size: int
    eos_id: int
    n_layer: int
    n_head: int
    d_model: int
    d_ff: int
    max_seq_len: int
    layer_norm_eps: float

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.d_model // self.n_head

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> LMConfig:
        """Read the ``config`` block; refuse one this code cannot run."""
        cfg = manifest.get("config")
        if not isinstance(cfg, dict):
            raise ArtifactIntegrityError("tiny-lm manifest has no config block")
        if cfg.get("activation") != "gelu_tanh" or not cfg.get("tied_embeddings"):
            raise ArtifactIntegrityError(
                "tiny-lm: only gelu_tanh with tied embeddings is supported"
            )
        try:
            out = cls(**{k: cfg[k] for k in cls.__dataclass_fields__})
        except (KeyError, TypeError) as exc:
            raise ArtifactIntegrityError(f"tiny-lm config is incomplete: {exc}") from exc
        if out.d_model % out.n_head:
            raise ArtifactIntegrityError("tiny-lm: d_model is not a multiple of n_head")
        return out

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every tensor the weights file must hold, with its shape."""
        d, f = self.d_model, self.d_ff
        shapes = {
            "wte": (self.vocab_size, d),
            "wpe": (self.max_seq_len, d),
            "ln_f.weight": (d,),
            "ln_f.bias": (d,),
        }
        for i in range(self.n_layer):
            h = f"h.{i}."
            shapes.update(
                {
                    h + "ln_1.weight": (d,),
                    h + "ln_1.bias": (d,),
                    h + "attn.c_attn.weight": (d, 3 * d),
                    h + "attn.c_attn.bias": (3 * d,),
                    h + "attn.c_proj.weight": (d, d),
                    h + "attn.c_proj.bias": (d,),
                    h + "ln_2.weight": (d,),
                    h + "ln_2.bias": (d,),
                    h + "mlp.c_fc.weight": (d, f),
                    h + "mlp.c_fc.bias": (f,),
                    h + "mlp.c_proj.weight": (f, d),
                    h + "mlp.c_proj.bias": (d,),
                }
            )
        return shapes


def load_lm_weights(
    artifact: Artifact | None = None,
) -> tuple[LMConfig, dict[str, Tensor], Artifact]:
    """The verified artifact's config and tensors (shapes checked against the config)."""
    artifact = artifact if artifact is not None else load_artifact(TINY_LM_NAME)
    config = LMConfig.from_manifest(artifact.manifest)
    filename = artifact.manifest.get("weights", WEIGHTS_FILE)
    if filename not in artifact.files:
        raise ArtifactIntegrityError(f"{artifact.name}: {filename} is not in the manifest")
    try:
        tensors, _ = load_safetensors(artifact.files[filename])
    except SafetensorsError as exc:
        raise ArtifactIntegrityError(f"{artifact.name}/{filename}: {exc}") from exc
    expected = config.expected_shapes()
    got = {k: t.shape for k, t in tensors.items()}
    if got != expected:
        missing = sorted(set(expected) - set(got))
        wrong = sorted(k for k in expected if k in got and got[k] != expected[k])
        extra = sorted(set(got) - set(expected))
        raise ArtifactIntegrityError(
            f"{artifact.name}: tensors do not match the config (missing {missing}, "
            f"wrong shape {wrong}, unexpected {extra})"
        )
    return config, tensors, artifact


def encode_text(text: str) -> list[int]:
    """Text to token ids: its UTF-8 bytes."""
    return list(text.encode("utf-8"))


def decode_ids(ids: list[int], eos_id: int = 256) -> str:
    """Token ids to text: bytes decoded as UTF-8 (``errors="replace"``), end-of-text dropped."""
    out = bytearray()
    for i in ids:
        if i == eos_id:
            continue
        if not 0 <= i < 256:
            raise ValueError(f"token id {i} is not a byte or end-of-text")
        out.append(i)
    return out.decode("utf-8", errors="replace")


def check_batch(batch: list, vocab_size: int, max_seq_len: int) -> None:
    """Refuse empty token lists, ids outside the vocabulary and runs past the context."""
    for n, (tokens, cache) in enumerate(batch):
        if not tokens:
            raise ValueError(f"batch entry {n}: no new tokens")
        for t in tokens:
            if not isinstance(t, int) or not 0 <= t < vocab_size:
                raise ValueError(f"batch entry {n}: token {t!r} is outside 0..{vocab_size - 1}")
        if len(cache) + len(tokens) > max_seq_len:
            raise ValueError(
                f"batch entry {n}: {len(cache)} cached + {len(tokens)} new tokens is past the "
                f"model's context of {max_seq_len}"
            )


class PyKVCache:
    """One sequence's keys and values: per layer, per head, one list of floats per position."""

    def __init__(self, n_layer: int, n_head: int) -> None:
        self.keys: list[list[list[list[float]]]] = [
            [[] for _ in range(n_head)] for _ in range(n_layer)
        ]
        self.values: list[list[list[list[float]]]] = [
            [[] for _ in range(n_head)] for _ in range(n_layer)
        ]

    def __len__(self) -> int:
        """Positions held."""
        return len(self.keys[0][0])

    def copy_prefix(self, n: int) -> PyKVCache:
        """A new cache holding the first ``n`` positions (the rows are shared, never mutated)."""
        if not 0 <= n <= len(self):
            raise ValueError(f"copy_prefix({n}): the cache holds {len(self)} positions")
        out = PyKVCache.__new__(PyKVCache)
        out.keys = [[head[:n] for head in layer] for layer in self.keys]
        out.values = [[head[:n] for head in layer] for layer in self.values]
        return out


def _layer_norm(x: list[float], w: list[float], b: list[float], eps: float) -> list[float]:
    n = len(x)
    mu = sum(x) / n
    xc = [v - mu for v in x]
    rstd = 1.0 / math.sqrt(sum(v * v for v in xc) / n + eps)
    return [v * rstd * wi + bi for v, wi, bi in zip(xc, w, b)]


def _linear(cols: list[list[float]], bias: list[float], x: list[float]) -> list[float]:
    return [sum(map(mul, col, x)) + b for col, b in zip(cols, bias)]


_GELU_C = math.sqrt(2.0 / math.pi)


def _gelu(u: float) -> float:
    return 0.5 * u * (1.0 + math.tanh(_GELU_C * (u + 0.044715 * u * u * u)))


class TinyLM:
    """The tiny language model in pure Python (see the module docstring)."""

    def __init__(self, config: LMConfig, tensors: dict[str, Tensor], version: str = "1") -> None:
        self.config = config
        self.name = TINY_LM_NAME
        self.version = version
        self.vocab_size = config.vocab_size
        self.eos_id = config.eos_id
        self.max_seq_len = config.max_seq_len
        self.wte = tensors["wte"].rows()
        self.wpe = tensors["wpe"].rows()
        self.layers = []
        for i in range(config.n_layer):
            h = f"h.{i}."
            vec = lambda k: tensors[h + k].data.tolist()  # noqa: B023
            self.layers.append(
                {
                    "ln_1": (vec("ln_1.weight"), vec("ln_1.bias")),
                    "attn": (tensors[h + "attn.c_attn.weight"].columns(), vec("attn.c_attn.bias")),
                    "proj": (tensors[h + "attn.c_proj.weight"].columns(), vec("attn.c_proj.bias")),
                    "ln_2": (vec("ln_2.weight"), vec("ln_2.bias")),
                    "fc": (tensors[h + "mlp.c_fc.weight"].columns(), vec("mlp.c_fc.bias")),
                    "out": (tensors[h + "mlp.c_proj.weight"].columns(), vec("mlp.c_proj.bias")),
                }
            )
        self.ln_f = (tensors["ln_f.weight"].data.tolist(), tensors["ln_f.bias"].data.tolist())

    def __repr__(self) -> str:
        c = self.config
        return (
            f"TinyLM({self.name}/{self.version}: {c.n_layer} layers, d_model {c.d_model}, "
            f"{c.n_head} heads, context {c.max_seq_len}, pure Python)"
        )

    def new_cache(self) -> PyKVCache:
        """An empty cache for a new sequence."""
        return PyKVCache(self.config.n_layer, self.config.n_head)

    def encode(self, text: str) -> list[int]:
        """Text to token ids (UTF-8 bytes)."""
        return encode_text(text)

    def decode(self, ids: list[int]) -> str:
        """Token ids to text (``errors="replace"``); end-of-text dropped."""
        return decode_ids(ids, self.eos_id)

    def forward(self, batch: list[tuple[list[int], PyKVCache]]) -> list[list[float]]:
        """Run each entry's new tokens after its cache; return the logits after the last one.

        Raises:
            ValueError: an entry has no tokens, an id outside the vocabulary, or would run
                past ``max_seq_len``.
        """
        check_batch(batch, self.vocab_size, self.max_seq_len)
        out = []
        for tokens, cache in batch:
            for n, token in enumerate(tokens):
                x = self._step(token, cache)
                if n == len(tokens) - 1:
                    out.append(self._logits(x))
        return out

    def _step(self, token: int, cache: PyKVCache) -> list[float]:
        c = self.config
        eps, hd = c.layer_norm_eps, c.head_dim
        pos = len(cache)
        x = [a + b for a, b in zip(self.wte[token], self.wpe[pos])]
        scale = 1.0 / math.sqrt(hd)
        d = c.d_model
        for layer, keys, values in zip(self.layers, cache.keys, cache.values):
            qkv = _linear(*layer["attn"], _layer_norm(x, *layer["ln_1"], eps))
            y: list[float] = []
            for h in range(c.n_head):
                q = qkv[h * hd : (h + 1) * hd]
                keys[h].append(qkv[d + h * hd : d + (h + 1) * hd])
                values[h].append(qkv[2 * d + h * hd : 2 * d + (h + 1) * hd])
                scores = [sum(map(mul, q, k)) * scale for k in keys[h]]
                top = max(scores)
                weights = [math.exp(s - top) for s in scores]
                total = sum(weights)
                head = [0.0] * hd
                for w, v in zip(weights, values[h]):
                    a = w / total
                    head = [o + a * vi for o, vi in zip(head, v)]
                y.extend(head)
            x = [a + b for a, b in zip(x, _linear(*layer["proj"], y))]
            u = _linear(*layer["fc"], _layer_norm(x, *layer["ln_2"], eps))
            x = [a + b for a, b in zip(x, _linear(*layer["out"], [_gelu(v) for v in u]))]
        return x

    def _logits(self, x: list[float]) -> list[float]:
        xf = _layer_norm(x, *self.ln_f, self.config.layer_norm_eps)
        return [sum(map(mul, row, xf)) for row in self.wte]


def load_tiny_lm(artifact: Artifact | None = None) -> TinyLM:
    """The shipped tiny language model, verified, in pure Python."""
    config, tensors, artifact = load_lm_weights(artifact)
    return TinyLM(config, tensors, version=artifact.version)


def sample_text(
    model: Any,
    prompt: str,
    max_new_tokens: int = 60,
    *,
    temperature: float = 0.0,
    seed: int | None = None,
    top_k: int | None = None,
) -> str:
    """A continuation of ``prompt``: greedy at temperature 0, else seeded sampling.

    Works with either implementation (anything that follows ``LanguageModel``).
    """
    return generate(model, prompt, max_new_tokens, temperature=temperature, seed=seed, top_k=top_k)


def demo_samples(
    model: Any = None, max_new_tokens: int = 60, seed: int = 0
) -> list[dict[str, str]]:
    """For each of :data:`SAMPLE_PROMPTS`: the greedy continuation and a seeded sample.

    The sample draws at temperature 0.7 from the 20 likeliest bytes: a model this small
    repeats itself when greedy and misspells more at temperature 1.
    """
    model = model if model is not None else load_tiny_lm()
    return [
        {
            "prompt": prompt,
            "greedy": sample_text(model, prompt, max_new_tokens),
            "sampled": sample_text(
                model, prompt, max_new_tokens, temperature=0.7, seed=seed, top_k=20
            ),
        }
        for prompt in SAMPLE_PROMPTS
    ]
