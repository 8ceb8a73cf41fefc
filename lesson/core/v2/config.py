"""A model's configuration in the shape Triton's model-configuration extension gives it.

``GET /v2/models/<name>/config`` (REST) and ``ModelConfig`` (gRPC) answer it. Tools built for
Triton read it before they send anything: ``perf_analyzer`` takes each input's datatype and
dims from it, and whether the first dimension is the batch (``max_batch_size`` > 0).

The V2 metadata says the same with shapes such as ``[-1, 10]`` (``-1``: any number of rows);
here the batch dimension is taken out of ``dims`` and bounded by ``max_batch_size`` (the
server's rows per request), as Triton does. An output of shape ``[-1]`` (one number per row)
has ``dims`` ``[1]``. Standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: V2 datatype -> Triton's ``DataType`` enum name (``model_config.proto``)
CONFIG_DATATYPES = {
    "BOOL": "TYPE_BOOL",
    "UINT8": "TYPE_UINT8",
    "UINT16": "TYPE_UINT16",
    "UINT32": "TYPE_UINT32",
    "UINT64": "TYPE_UINT64",
    "INT8": "TYPE_INT8",
    "INT16": "TYPE_INT16",
    "INT32": "TYPE_INT32",
    "INT64": "TYPE_INT64",
    "FP16": "TYPE_FP16",
    "FP32": "TYPE_FP32",
    "FP64": "TYPE_FP64",
    "BYTES": "TYPE_STRING",
    "BF16": "TYPE_BF16",
}


def _tensor(tensor: Mapping[str, Any], batched: bool, where: str) -> dict[str, Any]:
    datatype = tensor.get("datatype")
    if datatype not in CONFIG_DATATYPES:
        raise ValueError(f"{where}.datatype: {datatype!r} has no model-configuration type")
    shape = [int(d) for d in tensor.get("shape", [])]
    dims = shape[1:] if batched else shape
    return {
        "name": str(tensor["name"]),
        "data_type": CONFIG_DATATYPES[datatype],
        "dims": dims or [1],
    }


def _batched(tensors: Iterable[Mapping[str, Any]]) -> bool:
    """True when every tensor's first dimension is the open row count (-1)."""
    shapes = [list(t.get("shape", [])) for t in tensors]
    return bool(shapes) and all(s and s[0] == -1 for s in shapes)


def model_config(
    name: str,
    platform: str,
    inputs: list[Mapping[str, Any]],
    outputs: list[Mapping[str, Any]],
    max_batch_size: int,
) -> dict[str, Any]:
    """The model configuration (JSON form) for a model with these V2 metadata tensors.

    ``max_batch_size`` is the most rows one request may carry; it is reported only when every
    input and output is batched on its first dimension (else 0, and ``dims`` are the full shapes).
    """
    if (
        isinstance(max_batch_size, bool)
        or not isinstance(max_batch_size, int)
        or max_batch_size < 1
    ):
        raise ValueError(f"max_batch_size must be a positive integer, got {max_batch_size!r}")
    batched = _batched([*inputs, *outputs])
    return {
        "name": name,
        "platform": platform,
        "backend": "python",
        "max_batch_size": max_batch_size if batched else 0,
        "input": [_tensor(t, batched, f"inputs[{i}]") for i, t in enumerate(inputs)],
        "output": [_tensor(t, batched, f"outputs[{i}]") for i, t in enumerate(outputs)],
    }
