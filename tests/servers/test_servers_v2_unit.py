"""`lesson.core.v2` without a server: tensors, the binary extension, and errors that name the field."""

from __future__ import annotations

import json
import math

import pytest

from lesson.core import v2
from lesson.core.schema import Limits

BOUNDS = Limits(max_instances=4, max_features=3)


@pytest.mark.parametrize("datatype", sorted(v2.DATATYPES))
def test_raw_round_trip_for_every_datatype(datatype):
    values = (
        [True, False, True]
        if datatype == "BOOL"
        else [0, 1, 2]
        if datatype.startswith(("U", "I"))
        else [0.5, -1.25, 3.0]
    )
    if datatype.startswith("U"):
        values = [0, 1, 200]
    raw = v2.encode_raw(datatype, values)
    assert len(raw) == 3 * v2.element_size(datatype)
    assert v2.decode_raw(datatype, raw, 3, "f") == values


def test_raw_is_little_endian():
    assert v2.encode_raw("INT32", [1]) == b"\x01\x00\x00\x00"
    assert v2.encode_raw("FP64", [1.0]) == b"\x00\x00\x00\x00\x00\x00\xf0\x3f"


def test_binary_request_round_trip_and_rows():
    body, header_length = v2.build_request([[1, 2, 3], [4, 5, 6]], binary=True)
    payload, tail = v2.split_body(body, str(header_length), 10_000)
    request = v2.parse_infer_request(payload, tail, BOUNDS)
    assert v2.request_rows(request, BOUNDS) == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert payload["inputs"][0]["parameters"] == {"binary_data_size": 48}


def test_nested_and_flat_json_data_agree():
    flat = v2.make_input("x", "FP64", [2, 2], data=[1, 2, 3, 4], bounds=BOUNDS)
    nested = v2.make_input("x", "FP64", [2, 2], data=[[1, 2], [3, 4]], bounds=BOUNDS)
    assert flat.data == nested.data == [1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize(
    "tensor, field, too_large",
    [
        (
            {"name": "x", "shape": [5, 1], "datatype": "FP64", "data": [0] * 5},
            "inputs[0].shape",
            True,
        ),
        (
            {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [0] * 4},
            "inputs[0].shape",
            True,
        ),
        (
            {"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [[[[[[[[[[1, 2]]]]]]]]]]},
            "inputs[0].data",
            False,
        ),
        (
            {"name": "x", "shape": [1, 2], "datatype": "BOOL", "data": [1, 0]},
            "inputs[0].data[0]",
            False,
        ),
        (
            {"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [1, math.inf]},
            "inputs[0].data[1]",
            False,
        ),
        (
            {"name": "x", "shape": "12", "datatype": "FP64", "data": [1, 2]},
            "inputs[0].shape",
            False,
        ),
        (
            {"name": "x", "shape": [1, 2], "datatype": 7, "data": [1, 2]},
            "inputs[0].datatype",
            False,
        ),
        (
            {"name": "x", "shape": [1, 2], "datatype": "FP64", "data": {"a": 1}},
            "inputs[0].data",
            False,
        ),
    ],
)
def test_errors_name_the_field(tensor, field, too_large):
    with pytest.raises(v2.V2Error) as info:
        request = v2.parse_infer_request({"inputs": [tensor]}, b"", BOUNDS)
        v2.request_rows(request, BOUNDS)
    assert info.value.field == field, str(info.value)
    assert str(info.value).startswith(field + ":")
    assert isinstance(info.value, v2.V2TooLargeError) is too_large
    assert info.value.status == (413 if too_large else 400)


def test_body_bound_and_bad_header():
    with pytest.raises(v2.V2TooLargeError):
        v2.split_body(b"{}" * 10, None, 5)
    with pytest.raises(v2.V2Error, match=v2.HEADER_LENGTH):
        v2.split_body(b"{}", "-1", 100)


def test_more_than_one_input_is_refused_for_these_models():
    tensor = {"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}
    request = v2.parse_infer_request({"inputs": [tensor, dict(tensor, name="y")]}, b"", BOUNDS)
    with pytest.raises(v2.V2Error, match="exactly one input"):
        v2.request_rows(request, BOUNDS)


def test_response_encoding_json_and_binary():
    out = v2.OutputTensor("y", [2], [0.1, 0.2])
    body, header_length = v2.encode_infer_response("m", "1", [(out, False)], "id-1")
    assert header_length is None
    assert json.loads(body)["outputs"][0]["data"] == [0.1, 0.2]
    body, header_length = v2.encode_infer_response("m", "1", [(out, True)])
    assert body[header_length:] == v2.encode_raw("FP64", [0.1, 0.2])
    assert v2.decode_infer_response(body, header_length)["outputs"][0]["data"] == [0.1, 0.2]


def test_v2_imports_with_the_standard_library_only():
    import ast
    import sys
    from pathlib import Path

    imported = set()
    for path in Path(v2.__file__).parent.glob("*.py"):  # the package's modules
        tree = ast.parse(path.read_text())
        imported |= {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        imported |= {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
    outside = {name for name in imported if not name.startswith("lesson.core.")}
    assert {name.split(".")[0] for name in outside} <= set(sys.stdlib_module_names) | {
        "__future__"
    }, outside
    assert {name for name in imported - outside} <= {
        f"lesson.core.{m}"
        for m in (
            "schema",
            "v2",
            "v2.tensors",
            "v2.checks",
            "v2.request",
            "v2.response",
            "v2.build",
            "v2.config",
        )
    }, imported - outside
