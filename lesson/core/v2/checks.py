"""Checking one V2 tensor: shape, datatype and values, against the core's `Limits`."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from lesson.core.schema import DEFAULT_LIMITS, Limits
from lesson.core.v2.tensors import (
    DATATYPES,
    FLOAT_DATATYPES,
    InferInput,
    V2Error,
    V2TooLargeError,
    decode_raw,
)

_MAX_NESTING = 8


def check_shape(shape: Any, field_name: str, bounds: Limits) -> tuple[int, ...]:
    """A shape `[rows, features]` or `[features]` with at most `bounds.max_elements` elements."""
    if not isinstance(shape, (list, tuple)) or not shape:
        raise V2Error(field_name, "expected a non-empty list of non-negative integers")
    dims = []
    for i, dim in enumerate(shape):
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 0:
            raise V2Error(f"{field_name}[{i}]", f"expected a non-negative integer, got {dim!r}")
        dims.append(dim)
    if len(dims) > 2:
        raise V2Error(field_name, f"expected [rows, features] or [features], got rank {len(dims)}")
    count = math.prod(dims)
    if count > bounds.max_elements:
        raise V2TooLargeError(
            field_name, f"{count} elements is over the bound of {bounds.max_elements}"
        )
    return tuple(dims)


def check_datatype(datatype: Any, field_name: str) -> str:
    """A numeric datatype name (`BYTES` is refused: the models take numbers)."""
    if not isinstance(datatype, str):
        raise V2Error(field_name, f"expected a string such as 'FP64', got {datatype!r}")
    if datatype == "BYTES" or datatype not in DATATYPES:
        raise V2Error(
            field_name,
            f"unsupported datatype {datatype!r}; the model takes numbers: "
            + ", ".join(sorted(DATATYPES)),
        )
    return datatype


def flatten_json_data(data: Any, field_name: str, limit: int) -> list:
    """Flatten (possibly nested, row-major) JSON tensor data, bounded in size and depth."""
    if not isinstance(data, list):
        raise V2Error(field_name, f"expected a list of numbers, got {type(data).__name__}")
    flat = (
        data if not any(isinstance(item, list) for item in data) else _flatten(data, field_name, 0)
    )
    if len(flat) > limit:
        raise V2TooLargeError(field_name, f"{len(flat)} elements is over the bound of {limit}")
    return flat


def _flatten(seq: list, field_name: str, depth: int) -> list:
    if depth > _MAX_NESTING:
        raise V2Error(field_name, f"nested deeper than {_MAX_NESTING} levels")
    out: list = []
    for item in seq:
        if isinstance(item, list):
            out.extend(_flatten(item, field_name, depth + 1))
        else:
            out.append(item)
    return out


def check_values(values: Iterable[Any], datatype: str, field_name: str) -> list[float]:
    """Numbers of the right kind, finite, as Python floats for the model."""
    out: list[float] = []
    want_bool = datatype == "BOOL"
    want_int = not want_bool and datatype not in FLOAT_DATATYPES
    for i, value in enumerate(values):
        if want_bool:
            if not isinstance(value, bool):
                raise V2Error(f"{field_name}[{i}]", f"expected a boolean for BOOL, got {value!r}")
            out.append(1.0 if value else 0.0)
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise V2Error(f"{field_name}[{i}]", f"expected a number, got {value!r}")
        if want_int and not isinstance(value, int):
            raise V2Error(
                f"{field_name}[{i}]", f"expected an integer for {datatype}, got {value!r}"
            )
        number = float(value)
        if not math.isfinite(number):
            raise V2Error(f"{field_name}[{i}]", f"expected a finite number, got {value!r}")
        out.append(number)
    return out


def make_input(
    name: Any,
    datatype: Any,
    shape: Any,
    *,
    data: Any = None,
    raw: bytes | None = None,
    index: int = 0,
    bounds: Limits = DEFAULT_LIMITS,
) -> InferInput:
    """Validate one input tensor from JSON `data` or `raw` bytes; protocol-neutral."""
    where = f"inputs[{index}]"
    if not isinstance(name, str) or not name:
        raise V2Error(f"{where}.name", "expected a non-empty string")
    datatype = check_datatype(datatype, f"{where}.datatype")
    dims = check_shape(shape, f"{where}.shape", bounds)
    count = math.prod(dims)
    if raw is not None:
        values = decode_raw(datatype, raw, count, f"{where} binary data")
        if datatype in FLOAT_DATATYPES and all(map(math.isfinite, values)):
            return InferInput(name, datatype, dims, values)  # fast path: floats, all finite
        if datatype != "BOOL" and datatype not in FLOAT_DATATYPES:
            return InferInput(name, datatype, dims, list(map(float, values)))  # integers are finite
    else:
        if data is None:
            raise V2Error(f"{where}.data", "missing (give 'data' or binary data)")
        values = flatten_json_data(data, f"{where}.data", bounds.max_elements)
        if len(values) != count:
            raise V2Error(
                f"{where}.data", f"shape {list(dims)} needs {count} values, got {len(values)}"
            )
    return InferInput(name, datatype, dims, check_values(values, datatype, f"{where}.data"))


def tensor_rows(tensor: InferInput, bounds: Limits, index: int = 0) -> list[list[float]]:
    """Rows for the model: shape [rows, features], or [features] for a single row."""
    where = f"inputs[{index}].shape"
    if len(tensor.shape) == 1:
        n_rows, n_features = 1, tensor.shape[0]
    else:
        n_rows, n_features = tensor.shape
    if n_rows == 0 or n_features == 0:
        raise V2Error(
            where, f"empty tensor {list(tensor.shape)}: need at least one row and feature"
        )
    if n_rows > bounds.max_instances:
        raise V2TooLargeError(where, f"{n_rows} rows is over the bound of {bounds.max_instances}")
    if n_features > bounds.max_features:
        raise V2TooLargeError(
            where, f"{n_features} features is over the bound of {bounds.max_features}"
        )
    data = tensor.data
    return [data[r * n_features : (r + 1) * n_features] for r in range(n_rows)]
