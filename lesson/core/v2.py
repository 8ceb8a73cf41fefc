"""The Open Inference Protocol (V2) tensors, over JSON and the binary tensor extension.

Standard library only: the REST server, the gRPC server and the clients share it, and it
imports in the browser. A V2 inference request carries named tensors::

    {"inputs": [{"name": "input-0", "shape": [2, 3], "datatype": "FP64",
                 "data": [1, 2, 3, 4, 5, 6]}]}

With the binary tensor extension (what production clients such as `tritonclient` send by
default) the HTTP body is that JSON followed by raw little-endian tensor bytes: the header
`Inference-Header-Content-Length` gives the JSON's length, and a tensor's
`"parameters": {"binary_data_size": N}` replaces its `"data"`. A request asks for binary
outputs with `"parameters": {"binary_data_output": true}` or per output with
`{"binary_data": true}`.

Every problem raises `V2Error` naming the field (`inputs[0].shape`), with the HTTP status it
maps to (400, or 413 for bounds on size).
"""

from __future__ import annotations

import json
import math
import struct
import sys
from array import array
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

HEADER_LENGTH = "Inference-Header-Content-Length"

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
_MAX_NESTING = 8


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


@dataclass
class RequestedOutput:
    name: str
    binary: bool | None = None  # None: follow the request-level binary_data_output


@dataclass
class InferRequest:
    """A parsed V2 inference request."""

    inputs: list[InferInput]
    outputs: list[RequestedOutput] = field(default_factory=list)
    id: str = ""
    binary_output: bool = False
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TensorBounds:
    """Size bounds for one request (the servers take them from the core's `Limits`)."""

    max_rows: int = 1024
    max_features: int = 256
    max_inputs: int = 8

    @classmethod
    def from_limits(cls, limits: Any) -> "TensorBounds":
        return cls(max_rows=int(limits.max_instances), max_features=int(limits.max_features))

    @property
    def max_elements(self) -> int:
        return self.max_rows * self.max_features


# ---------------------------------------------------------------- raw bytes <-> values
def element_size(datatype: str) -> int:
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


# ---------------------------------------------------------------- validation helpers
def check_shape(shape: Any, field_name: str, bounds: TensorBounds) -> tuple[int, ...]:
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
    flat = data if not any(isinstance(item, list) for item in data) else _flatten(data, field_name, 0)
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
            raise V2Error(f"{field_name}[{i}]", f"expected an integer for {datatype}, got {value!r}")
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
    bounds: TensorBounds = TensorBounds(),
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


def tensor_rows(tensor: InferInput, bounds: TensorBounds, index: int = 0) -> list[list[float]]:
    """Rows for the model: shape [rows, features], or [features] for a single row."""
    where = f"inputs[{index}].shape"
    if len(tensor.shape) == 1:
        n_rows, n_features = 1, tensor.shape[0]
    else:
        n_rows, n_features = tensor.shape
    if n_rows == 0 or n_features == 0:
        raise V2Error(where, f"empty tensor {list(tensor.shape)}: need at least one row and feature")
    if n_rows > bounds.max_rows:
        raise V2TooLargeError(where, f"{n_rows} rows is over the bound of {bounds.max_rows}")
    if n_features > bounds.max_features:
        raise V2TooLargeError(
            where, f"{n_features} features is over the bound of {bounds.max_features}"
        )
    data = tensor.data
    return [data[r * n_features : (r + 1) * n_features] for r in range(n_rows)]


def request_rows(request: InferRequest, bounds: TensorBounds) -> list[list[float]]:
    """The single model input of a request as rows (the lesson's models take one tensor)."""
    if len(request.inputs) != 1:
        raise V2Error("inputs", f"the model takes exactly one input tensor, got {len(request.inputs)}")
    return tensor_rows(request.inputs[0], bounds, 0)


# ---------------------------------------------------------------- JSON (+ binary) requests
def split_body(body: bytes, header_length: str | int | None, max_body_bytes: int) -> tuple[Any, bytes]:
    """Split an HTTP body into (parsed JSON header, binary tail)."""
    if len(body) > max_body_bytes:
        raise V2TooLargeError("body", f"{len(body)} bytes is over the bound of {max_body_bytes}")
    if header_length is None or header_length == "":
        json_part, tail = body, b""
    else:
        try:
            n = int(header_length)
        except (TypeError, ValueError):
            raise V2Error(HEADER_LENGTH, f"expected an integer, got {header_length!r}") from None
        if n < 0 or n > len(body):
            raise V2Error(HEADER_LENGTH, f"{n} is outside the body's {len(body)} bytes")
        json_part, tail = body[:n], body[n:]
    try:
        payload = json.loads(json_part)
    except (UnicodeDecodeError, ValueError) as exc:
        raise V2Error("body", f"invalid JSON ({exc})") from None
    return payload, tail


def _params(obj: dict, where: str) -> dict:
    params = obj.get("parameters", {})
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise V2Error(f"{where}parameters", "expected an object")
    return params


def parse_infer_request(payload: Any, binary: bytes = b"", bounds: TensorBounds = TensorBounds()) -> InferRequest:
    """Validate a V2 inference request (JSON already parsed, `binary` the tail bytes)."""
    if not isinstance(payload, dict):
        raise V2Error("body", f"expected a JSON object, got {type(payload).__name__}")
    request_id = payload.get("id", "")
    if not isinstance(request_id, str):
        raise V2Error("id", "expected a string")
    params = _params(payload, "")
    binary_output = params.get("binary_data_output", False)
    if not isinstance(binary_output, bool):
        raise V2Error("parameters.binary_data_output", "expected true or false")
    raw_inputs = payload.get("inputs")
    if raw_inputs is None:
        raise V2Error("inputs", "missing")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise V2Error("inputs", "expected a non-empty list of tensors")
    if len(raw_inputs) > bounds.max_inputs:
        raise V2TooLargeError("inputs", f"{len(raw_inputs)} tensors is over the bound of {bounds.max_inputs}")
    offset = 0
    inputs = []
    for i, item in enumerate(raw_inputs):
        if not isinstance(item, dict):
            raise V2Error(f"inputs[{i}]", "expected an object with name, shape, datatype, data")
        for key in ("name", "shape", "datatype"):
            if key not in item:
                raise V2Error(f"inputs[{i}].{key}", "missing")
        size = _params(item, f"inputs[{i}].").get("binary_data_size")
        raw = None
        if size is not None:
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise V2Error(f"inputs[{i}].parameters.binary_data_size", "expected a non-negative integer")
            if "data" in item:
                raise V2Error(f"inputs[{i}].data", "give either 'data' or binary_data_size, not both")
            if offset + size > len(binary):
                raise V2Error(
                    f"inputs[{i}].parameters.binary_data_size",
                    f"{size} bytes at offset {offset} runs past the {len(binary)} binary bytes sent",
                )
            raw = binary[offset : offset + size]
            offset += size
        inputs.append(
            make_input(item["name"], item["datatype"], item["shape"], data=item.get("data"),
                       raw=raw, index=i, bounds=bounds)
        )
    if offset != len(binary):
        raise V2Error("body", f"{len(binary) - offset} binary bytes after the tensors are unaccounted for")
    outputs = []
    raw_outputs = payload.get("outputs", [])
    if not isinstance(raw_outputs, list):
        raise V2Error("outputs", "expected a list")
    for i, item in enumerate(raw_outputs):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise V2Error(f"outputs[{i}].name", "expected an object with a string name")
        want = _params(item, f"outputs[{i}].").get("binary_data")
        if want is not None and not isinstance(want, bool):
            raise V2Error(f"outputs[{i}].parameters.binary_data", "expected true or false")
        outputs.append(RequestedOutput(item["name"], want))
    return InferRequest(inputs, outputs, request_id, binary_output, params)


@dataclass
class OutputTensor:
    name: str
    shape: list[int]
    data: list[float]
    datatype: str = OUTPUT_DATATYPE


def select_outputs(request: InferRequest, available: list[OutputTensor]) -> list[tuple[OutputTensor, bool]]:
    """The outputs to send and whether each goes as binary, checking requested names."""
    if not request.outputs:
        return [(out, request.binary_output) for out in available]
    by_name = {out.name: out for out in available}
    chosen = []
    for i, want in enumerate(request.outputs):
        if want.name not in by_name:
            raise V2Error(f"outputs[{i}].name", f"unknown output {want.name!r}; the model has {sorted(by_name)}")
        binary = request.binary_output if want.binary is None else want.binary
        chosen.append((by_name[want.name], binary))
    return chosen


def encode_infer_response(
    model_name: str,
    model_version: str,
    outputs: list[tuple[OutputTensor, bool]],
    request_id: str = "",
    parameters: dict[str, Any] | None = None,
) -> tuple[bytes, int | None]:
    """Serialise a response: (body, JSON header length if binary outputs follow, else None)."""
    tensors = []
    blobs = []
    for out, binary in outputs:
        tensor: dict[str, Any] = {"name": out.name, "datatype": out.datatype, "shape": out.shape}
        if binary:
            blob = encode_raw(out.datatype, out.data)
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            tensor["data"] = out.data
        tensors.append(tensor)
    body: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request_id:
        body["id"] = request_id
    if parameters:
        body["parameters"] = parameters
    body["outputs"] = tensors
    header = json.dumps(body, separators=(",", ":")).encode()
    if not blobs:
        return header, None
    return header + b"".join(blobs), len(header)


def decode_infer_response(body: bytes, header_length: str | int | None = None) -> dict:
    """Client side: parse a V2 response, turning binary outputs into `data` lists."""
    payload, tail = split_body(body, header_length, max(len(body), 1))
    offset = 0
    for out in payload.get("outputs", []):
        size = (out.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            count = math.prod(out["shape"])
            out["data"] = decode_raw(out["datatype"], tail[offset : offset + size], count, out["name"])
            offset += size
    return payload


def build_request(
    rows: Sequence[Sequence[float]],
    *,
    input_name: str = "input-0",
    datatype: str = "FP64",
    binary: bool = False,
    binary_output: bool = False,
    request_id: str = "",
) -> tuple[bytes, int | None]:
    """Client side: a V2 request body for rows of features (binary extension optional)."""
    n_features = len(rows[0]) if rows else 0
    cast = float if datatype in FLOAT_DATATYPES else (bool if datatype == "BOOL" else int)
    flat = [cast(v) for row in rows for v in row]
    tensor: dict[str, Any] = {"name": input_name, "shape": [len(rows), n_features], "datatype": datatype}
    payload: dict[str, Any] = {"inputs": [tensor]}
    if request_id:
        payload["id"] = request_id
    if binary_output:
        payload["parameters"] = {"binary_data_output": True}
    if not binary:
        tensor["data"] = flat
        return json.dumps(payload, separators=(",", ":")).encode(), None
    blob = encode_raw(datatype, flat)
    tensor["parameters"] = {"binary_data_size": len(blob)}
    header = json.dumps(payload, separators=(",", ":")).encode()
    return header + blob, len(header)
