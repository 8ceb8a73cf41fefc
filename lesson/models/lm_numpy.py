"""The tiny language model in numpy: a KV cache per sequence and batched decode.

The same network and weights as :mod:`lesson.models.lm` (float64 here, so the two agree to
about 1e-12, far inside the 1e-6 the tests ask), for servers and the generative engine.
:meth:`TinyLMNumpy.forward` runs a prefill (many new tokens of one sequence) as one pass of
matrix products with a causal mask, and all the one-token entries of a batch (decodes of
different sequences, at different lengths) together: one matrix product per weight for the
whole batch, attention over the caches padded to the longest and masked.

    >>> from lesson.models.lm_numpy import load_tiny_lm_numpy
    >>> model = load_tiny_lm_numpy()                                          # doctest: +SKIP
    >>> a, b = model.new_cache(), model.new_cache()                           # doctest: +SKIP
    >>> _ = model.forward([(model.encode("The if"), a), (model.encode("A"), b)])  # doctest: +SKIP
    >>> logits = model.forward([([32], a), ([32], b)])    # one batched decode   # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from lesson.core.artifacts import Artifact
from lesson.core.generative import Pick
from lesson.core.safetensors import Tensor
from lesson.models.lm import (
    TINY_LM_NAME,
    LMConfig,
    check_batch,
    decode_ids,
    encode_text,
    load_lm_weights,
)
from lesson.models.sampling_numpy import sample_rows

_GELU_C = float(np.sqrt(2.0 / np.pi))


class NumpyKVCache:
    """One sequence's keys and values: per layer, arrays (heads, capacity, head_dim)."""

    def __init__(self, n_layer: int, n_head: int, head_dim: int, capacity: int = 16) -> None:
        self.length = 0
        self.keys = [np.zeros((n_head, capacity, head_dim)) for _ in range(n_layer)]
        self.values = [np.zeros((n_head, capacity, head_dim)) for _ in range(n_layer)]

    def __len__(self) -> int:
        """Positions held."""
        return self.length

    def copy_prefix(self, n: int) -> NumpyKVCache:
        """A new cache holding copies of the first ``n`` positions."""
        if not 0 <= n <= self.length:
            raise ValueError(f"copy_prefix({n}): the cache holds {self.length} positions")
        out = NumpyKVCache.__new__(NumpyKVCache)
        out.length = n
        cap = max(16, n)
        out.keys = [_resized(k[:, :n], cap) for k in self.keys]
        out.values = [_resized(v[:, :n], cap) for v in self.values]
        return out

    def append(self, layer: int, k: np.ndarray, v: np.ndarray) -> None:
        """Write ``k``, ``v`` (heads, new, head_dim) after the held positions of ``layer``.

        The length advances once the last layer has been written.
        """
        new = k.shape[1]
        end = self.length + new
        if end > self.keys[layer].shape[1]:
            cap = max(end, 2 * self.keys[layer].shape[1])
            self.keys[layer] = _resized(self.keys[layer][:, : self.length], cap)
            self.values[layer] = _resized(self.values[layer][:, : self.length], cap)
        self.keys[layer][:, self.length : end] = k
        self.values[layer][:, self.length : end] = v
        if layer == len(self.keys) - 1:
            self.length = end


def _resized(a: np.ndarray, capacity: int) -> np.ndarray:
    out = np.zeros((a.shape[0], capacity, a.shape[2]))
    out[:, : a.shape[1]] = a
    return out


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    xc = x - mu
    return xc / np.sqrt((xc * xc).mean(-1, keepdims=True) + eps) * w + b


def _gelu(u: np.ndarray) -> np.ndarray:
    return 0.5 * u * (1.0 + np.tanh(_GELU_C * (u + 0.044715 * u * u * u)))


def _softmax(s: np.ndarray) -> np.ndarray:
    s = s - s.max(-1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(-1, keepdims=True)


class TinyLMNumpy:
    """The tiny language model in numpy (see the module docstring)."""

    def __init__(self, config: LMConfig, tensors: dict[str, Tensor], version: str = "1") -> None:
        self.config = config
        self.name = TINY_LM_NAME
        self.version = version
        self.vocab_size = config.vocab_size
        self.eos_id = config.eos_id
        self.max_seq_len = config.max_seq_len
        self.p = {
            k: np.asarray(t.data, dtype=np.float32).astype(np.float64).reshape(t.shape)
            for k, t in tensors.items()
        }

    def __repr__(self) -> str:
        c = self.config
        return (
            f"TinyLMNumpy({self.name}/{self.version}: {c.n_layer} layers, d_model {c.d_model}, "
            f"{c.n_head} heads, context {c.max_seq_len}, numpy)"
        )

    def new_cache(self) -> NumpyKVCache:
        """An empty cache for a new sequence."""
        c = self.config
        return NumpyKVCache(c.n_layer, c.n_head, c.head_dim)

    def encode(self, text: str) -> list[int]:
        """Text to token ids (UTF-8 bytes)."""
        return encode_text(text)

    def decode(self, ids: list[int]) -> str:
        """Token ids to text (``errors="replace"``); end-of-text dropped."""
        return decode_ids(ids, self.eos_id)

    def forward(self, batch: list[tuple[list[int], NumpyKVCache]]) -> list[list[float]]:
        """Run each entry's new tokens after its cache; return the logits after the last one.

        All one-token entries go through the network together (one matrix product per
        weight); each longer entry (a prefill) is one pass of its own.

        Raises:
            ValueError: an entry has no tokens, an id outside the vocabulary, or would run
                past ``max_seq_len``.
        """
        return self.forward_array(batch).tolist()

    def forward_sample(
        self, batch: list[tuple[list[int], NumpyKVCache]], picks: list[Pick]
    ) -> list[int]:
        """:meth:`forward`, then a token per ``(row, temperature, top_p, draw)`` pick, sampled in
        numpy (:func:`lesson.models.sampling_numpy.sample_rows`: the engine's rule, same draws)."""
        logits = self.forward_array(batch)
        if not picks:
            return []
        rows, temperature, top_p, draws = zip(*picks)
        return sample_rows(logits[list(rows)], temperature, top_p, draws)

    def forward_array(self, batch: list[tuple[list[int], NumpyKVCache]]) -> np.ndarray:
        """:meth:`forward`'s logits as one array (entries, vocabulary), not lists of floats."""
        check_batch(batch, self.vocab_size, self.max_seq_len)
        out = np.empty((len(batch), self.vocab_size))
        decodes = [i for i, (tokens, _) in enumerate(batch) if len(tokens) == 1]
        if len(decodes) == len(batch):
            return self._decode_batch([t[0] for t, _ in batch], [c for _, c in batch])
        if decodes:
            out[decodes] = self._decode_batch(
                [batch[i][0][0] for i in decodes], [batch[i][1] for i in decodes]
            )
        for i, (tokens, cache) in enumerate(batch):
            if len(tokens) > 1:
                out[i] = self._prefill(tokens, cache)
        return out

    def _mlp_and_proj(self, h: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        p, eps = self.p, self.config.layer_norm_eps
        x = x + y @ p[h + "attn.c_proj.weight"] + p[h + "attn.c_proj.bias"]
        n2 = _layer_norm(x, p[h + "ln_2.weight"], p[h + "ln_2.bias"], eps)
        g = _gelu(n2 @ p[h + "mlp.c_fc.weight"] + p[h + "mlp.c_fc.bias"])
        return x + g @ p[h + "mlp.c_proj.weight"] + p[h + "mlp.c_proj.bias"]

    def _logits(self, x: np.ndarray) -> np.ndarray:
        p = self.p
        xf = _layer_norm(x, p["ln_f.weight"], p["ln_f.bias"], self.config.layer_norm_eps)
        return xf @ p["wte"].T

    def _prefill(
        self, tokens: list[int], cache: NumpyKVCache, all_logits: bool = False
    ) -> np.ndarray:
        """One sequence, ``T`` new tokens after ``P`` cached: causal attention over P + T.

        Returns the logits after the last token, or after every token if ``all_logits``.
        """
        c, p = self.config, self.p
        H, hd, d = c.n_head, c.head_dim, c.d_model
        P, T = len(cache), len(tokens)
        x = p["wte"][np.asarray(tokens)] + p["wpe"][P : P + T]
        # new position i (absolute P + i) sees absolute positions 0..P + i
        mask = np.arange(P + T)[None, :] > (P + np.arange(T))[:, None]
        scale = 1.0 / np.sqrt(hd)
        for layer in range(c.n_layer):
            h = f"h.{layer}."
            n1 = _layer_norm(x, p[h + "ln_1.weight"], p[h + "ln_1.bias"], c.layer_norm_eps)
            qkv = n1 @ p[h + "attn.c_attn.weight"] + p[h + "attn.c_attn.bias"]
            q, k, v = (
                qkv[:, j * d : (j + 1) * d].reshape(T, H, hd).transpose(1, 0, 2) for j in range(3)
            )
            cache.append(layer, k, v)
            keys = cache.keys[layer][:, : P + T]
            values = cache.values[layer][:, : P + T]
            s = np.where(mask, -np.inf, (q @ keys.transpose(0, 2, 1)) * scale)
            y = (_softmax(s) @ values).transpose(1, 0, 2).reshape(T, d)
            x = self._mlp_and_proj(h, x, y)
        return self._logits(x if all_logits else x[-1])

    def cross_entropy(self, ids: list[int], window: int | None = None) -> float:
        """Mean negative log-likelihood (nats/token) of ``ids``, predicted left to right.

        The stream is cut into consecutive windows of ``window`` predictions (default: the
        context), each starting at position 0, as ``training/train_lm.py`` evaluates.
        """
        window = window or self.max_seq_len
        if not 1 <= window <= self.max_seq_len:
            raise ValueError(f"window must be in 1..{self.max_seq_len}, got {window}")
        total, count = 0.0, 0
        for start in range(0, len(ids) - 1, window):
            chunk = ids[start : start + window + 1]
            if len(chunk) < 2:
                break
            logits = self._prefill(list(chunk[:-1]), self.new_cache(), all_logits=True)
            top = logits.max(-1, keepdims=True)
            logz = (top + np.log(np.exp(logits - top).sum(-1, keepdims=True)))[:, 0]
            picked = logits[np.arange(len(chunk) - 1), np.asarray(chunk[1:])]
            total += float((logz - picked).sum())
            count += len(chunk) - 1
        if not count:
            raise ValueError("need at least two tokens")
        return total / count

    def _decode_batch(self, tokens: list[int], caches: list[NumpyKVCache]) -> np.ndarray:
        """``B`` sequences, one new token each, at their own positions: one batched pass."""
        c, p = self.config, self.p
        H, hd, d = c.n_head, c.head_dim, c.d_model
        B = len(tokens)
        pos = np.asarray([len(cache) for cache in caches])
        x = p["wte"][np.asarray(tokens)] + p["wpe"][pos]  # (B, d)
        lengths = pos + 1
        width = int(lengths.max())
        mask = np.arange(width)[None, :] >= lengths[:, None]  # (B, width): padding
        scale = 1.0 / np.sqrt(hd)
        for layer in range(c.n_layer):
            h = f"h.{layer}."
            n1 = _layer_norm(x, p[h + "ln_1.weight"], p[h + "ln_1.bias"], c.layer_norm_eps)
            qkv = n1 @ p[h + "attn.c_attn.weight"] + p[h + "attn.c_attn.bias"]  # (B, 3d)
            q, k, v = (qkv[:, j * d : (j + 1) * d].reshape(B, H, 1, hd) for j in range(3))
            keys = np.zeros((B, H, width, hd))
            values = np.zeros((B, H, width, hd))
            for b, cache in enumerate(caches):
                cache.append(layer, k[b], v[b])
                n = int(lengths[b])
                keys[b, :, :n] = cache.keys[layer][:, :n]
                values[b, :, :n] = cache.values[layer][:, :n]
            s = (q @ keys.transpose(0, 1, 3, 2)) * scale  # (B, H, 1, width)
            s = np.where(mask[:, None, None, :], -np.inf, s)
            y = (_softmax(s) @ values).reshape(B, d)
            x = self._mlp_and_proj(h, x, y)
        return self._logits(x)


def load_tiny_lm_numpy(artifact: Artifact | None = None) -> TinyLMNumpy:
    """The shipped tiny language model, verified, in numpy."""
    config, tensors, artifact = load_lm_weights(artifact)
    return TinyLMNumpy(config, tensors, version=artifact.version)
