"""Client side: building a V2 request body for rows of features."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from lesson.core.v2.tensors import FLOAT_DATATYPES, encode_raw


def build_request(
    rows: Sequence[Sequence[float]],
    *,
    input_name: str = "input-0",
    datatype: str = "FP64",
    binary: bool = False,
    binary_output: bool = False,
    request_id: str = "",
) -> tuple[bytes, int | None]:
    """A V2 request body for rows of features: (body, JSON header length if binary, else None)."""
    n_features = len(rows[0]) if rows else 0
    cast = float if datatype in FLOAT_DATATYPES else (bool if datatype == "BOOL" else int)
    flat = [cast(v) for row in rows for v in row]
    tensor: dict[str, Any] = {
        "name": input_name,
        "shape": [len(rows), n_features],
        "datatype": datatype,
    }
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
