"""V2 tensors: the datatypes, the errors, and raw little-endian bytes <-> values."""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

#: datatype -> (struct/array format character, bytes per element)
DATATYPES: dict[str, tuple[str, int]] = {
    "BOOL": ("?", 1),
    "UINT8": ("B", 1),
    "UINT16": ("H", 2),
    "UINT32": ("I", 4),
    "UINT64": ("Q", 8),
    "INT8": ("b", 1),
    "INT16": ("h", 2),
    "INT32": ("i", 4),
    "INT64": ("q", 8),
    "FP16": ("e", 2),
    "FP32": ("f", 4),
    "FP64": ("d", 8),
}
FLOAT_DATATYPES = frozenset({"FP16", "FP32", "FP64"})
#: the datatype the lesson's servers answer in: float64 keeps predictions bit-identical.
OUTPUT_DATATYPE = "FP64"
_ARRAY_CODES = {"B", "H", "I", "Q", "b", "h", "i", "q", "f", "d"}


class V2Error(ValueError):
    """A V2 request that cannot be served; `field` names the culprit, `status` the HTTP code."""

    status = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


class V2TooLargeError(V2Error):
    """A tensor or body over a configured bound (HTTP 413, gRPC RESOURCE_EXHAUSTED)."""

    status = 413


@dataclass
class InferInput:
    """One decoded input tensor: values flattened in row-major order."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: list[float]


def element_size(datatype: str) -> int:
    """Bytes per element of `datatype`."""
    return DATATYPES[datatype][1]


def decode_raw(datatype: str, raw: bytes, count: int, field_name: str) -> list:
    """Decode `count` little-endian elements of `datatype` from `raw`."""
    if datatype not in DATATYPES:
        raise V2Error(field_name, f"binary data is not supported for datatype {datatype!r}")
    code, size = DATATYPES[datatype]
    if len(raw) != count * size:
        raise V2Error(
            field_name,
            f"expected {count} x {size} = {count * size} bytes for {datatype} with this "
            f"shape, got {len(raw)}",
        )
    if code in _ARRAY_CODES and array(code).itemsize == size:
        values = array(code)
        values.frombytes(raw)
        if sys.byteorder == "big":
            values.byteswap()
        return values.tolist()
    return list(struct.unpack(f"<{count}{code}", raw))


def encode_raw(datatype: str, values: Sequence[float]) -> bytes:
    """Encode values as little-endian bytes of `datatype`."""
    code, size = DATATYPES[datatype]
    if code in _ARRAY_CODES and array(code).itemsize == size:
        out = array(code, values)
        if sys.byteorder == "big":
            out.byteswap()
        return out.tobytes()
    return struct.pack(f"<{len(values)}{code}", *values)
