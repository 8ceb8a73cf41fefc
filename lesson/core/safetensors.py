"""A standard-library reader for the safetensors format (float32 tensors), for the browser too.

A safetensors file is three parts: 8 bytes holding ``N``, the header's length (unsigned,
little-endian); ``N`` bytes of JSON mapping each tensor's name to its ``dtype``, ``shape`` and
``data_offsets`` (``[begin, end)`` into the data that follows), plus an optional
``__metadata__`` of strings; then the raw little-endian data. Nothing in it is code, so
loading one runs none (unlike pickle). This reader checks everything the header claims
before trusting it and refuses, with :class:`SafetensorsError`, a truncated file, a header
whose offsets lie (overlap, gaps, wrong sizes, past the end) and any dtype but ``F32``.

    >>> from lesson.core.safetensors import load_safetensors
    >>> tensors, metadata = load_safetensors(open("model.safetensors", "rb").read())  # doctest: +SKIP
    >>> tensors["wte"].shape                                                            # doctest: +SKIP
    (257, 64)
"""

from __future__ import annotations

import json
import struct
import sys
from array import array
from dataclasses import dataclass, field
from pathlib import Path

MAX_HEADER_BYTES = 100_000_000  # the format's own limit
_ITEMSIZE = {"F32": 4}


class SafetensorsError(ValueError):
    """The bytes are not a well-formed safetensors file this reader supports."""


@dataclass(frozen=True)
class Tensor:
    """One tensor: its shape and its values, flat in row-major order (``array('f')``)."""

    shape: tuple[int, ...]
    data: array = field(repr=False)
    dtype: str = "F32"

    @property
    def size(self) -> int:
        """Number of elements."""
        n = 1
        for s in self.shape:
            n *= s
        return n

    def rows(self) -> list[list[float]]:
        """A 2-D tensor as a list of rows of Python floats."""
        if len(self.shape) != 2:
            raise ValueError(f"rows() needs a 2-D tensor, this one has shape {self.shape}")
        n_rows, n_cols = self.shape
        flat = self.data.tolist()
        return [flat[i * n_cols : (i + 1) * n_cols] for i in range(n_rows)]

    def columns(self) -> list[list[float]]:
        """A 2-D tensor's columns (the rows of its transpose) as lists of Python floats."""
        if len(self.shape) != 2:
            raise ValueError(f"columns() needs a 2-D tensor, this one has shape {self.shape}")
        n_cols = self.shape[1]
        return [self.data[j::n_cols].tolist() for j in range(n_cols)]


def _fail(message: str) -> SafetensorsError:
    return SafetensorsError(f"not a valid safetensors file: {message}")


def _parse_header(data: bytes) -> tuple[dict, int]:
    if len(data) < 8:
        raise _fail(f"{len(data)} bytes is shorter than the 8-byte header length (truncated)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER_BYTES:
        raise _fail(f"header length {n} is over the {MAX_HEADER_BYTES}-byte limit")
    if 8 + n > len(data):
        raise _fail(f"the header is {n} bytes but only {len(data) - 8} follow (truncated)")
    raw = data[8 : 8 + n]
    if not raw.startswith(b"{"):
        raise _fail("the header does not start with '{'")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(f"the header is not valid JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise _fail("the header is not a JSON object")
    return header, 8 + n


def load_safetensors(data: bytes) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Parse a safetensors file's bytes.

    Args:
        data: the whole file.

    Returns:
        ``(tensors, metadata)``: name -> :class:`Tensor`, and the header's ``__metadata__``
        (an empty dict if there is none).

    Raises:
        SafetensorsError: truncated, malformed, lying offsets, or a dtype other than F32.
    """
    header, start = _parse_header(data)
    buffer_len = len(data) - start
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise _fail("__metadata__ must map strings to strings")
    spans: list[tuple[int, int, str]] = []
    specs: dict[str, tuple[str, tuple[int, ...], int, int]] = {}
    for name, entry in header.items():
        if not isinstance(entry, dict):
            raise _fail(f"tensor {name!r}: its entry is not an object")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in _ITEMSIZE:
            raise SafetensorsError(
                f"tensor {name!r} has dtype {dtype!r}; this reader supports only "
                f"{', '.join(_ITEMSIZE)} (export float32)"
            )
        if not isinstance(shape, list) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape
        ):
            raise _fail(f"tensor {name!r}: shape {shape!r} is not a list of sizes")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1]
        ):
            raise _fail(f"tensor {name!r}: data_offsets {offsets!r} is not [begin, end]")
        begin, end = offsets
        count = 1
        for s in shape:
            count *= s
        if end - begin != count * _ITEMSIZE[dtype]:
            raise _fail(
                f"tensor {name!r}: shape {shape} needs {count * _ITEMSIZE[dtype]} bytes, the "
                f"header's offsets give {end - begin} (the header lies about offsets)"
            )
        spans.append((begin, end, name))
        specs[name] = (dtype, tuple(shape), begin, end)
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            raise _fail(
                f"tensor {name!r} starts at byte {begin} of the data, expected {position} "
                "(the header's offsets overlap or leave a gap)"
            )
        position = end
    if position > buffer_len:
        raise _fail(
            f"the header says the data is {position} bytes, the file holds {buffer_len} (truncated)"
        )
    if position < buffer_len:
        raise _fail(f"{buffer_len - position} bytes after the last tensor are not in the header")
    tensors: dict[str, Tensor] = {}
    for name, (dtype, shape, begin, end) in specs.items():
        values = array("f")
        values.frombytes(data[start + begin : start + end])
        if sys.byteorder == "big":
            values.byteswap()
        tensors[name] = Tensor(shape=shape, data=values, dtype=dtype)
    return tensors, dict(metadata)


def read_safetensors(path: str | Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """:func:`load_safetensors` on a file's bytes."""
    return load_safetensors(Path(path).read_bytes())
