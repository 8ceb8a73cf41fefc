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
maps to (400, or 413 for bounds on size). The bounds are the core's
:class:`~lesson.core.schema.Limits` (rows, features, input tensors).

The parts: :mod:`.tensors` (datatypes, errors, raw bytes), :mod:`.checks` (one tensor's
shape, datatype and values), :mod:`.request` (parsing a request), :mod:`.response` (outputs,
encoding and decoding) and :mod:`.build` (client-side request bodies); :mod:`.config` gives a model's configuration
in the form of Triton's model-configuration extension. Every public name is
re-exported here.
"""

from lesson.core.v2.build import (
    build_request,
)
from lesson.core.v2.checks import (
    check_datatype,
    check_shape,
    check_values,
    flatten_json_data,
    make_input,
    tensor_rows,
)
from lesson.core.v2.config import CONFIG_DATATYPES, model_config
from lesson.core.v2.request import (
    HEADER_LENGTH,
    InferRequest,
    RequestedOutput,
    parse_infer_request,
    request_rows,
    split_body,
)
from lesson.core.v2.response import (
    OutputTensor,
    decode_infer_response,
    encode_infer_response,
    select_outputs,
)
from lesson.core.v2.tensors import (
    DATATYPES,
    FLOAT_DATATYPES,
    OUTPUT_DATATYPE,
    InferInput,
    V2Error,
    V2TooLargeError,
    decode_raw,
    element_size,
    encode_raw,
)

__all__ = [
    "CONFIG_DATATYPES",
    "DATATYPES",
    "FLOAT_DATATYPES",
    "HEADER_LENGTH",
    "OUTPUT_DATATYPE",
    "InferInput",
    "InferRequest",
    "OutputTensor",
    "RequestedOutput",
    "V2Error",
    "V2TooLargeError",
    "build_request",
    "check_datatype",
    "check_shape",
    "check_values",
    "decode_infer_response",
    "decode_raw",
    "element_size",
    "encode_infer_response",
    "encode_raw",
    "flatten_json_data",
    "make_input",
    "model_config",
    "parse_infer_request",
    "request_rows",
    "select_outputs",
    "split_body",
    "tensor_rows",
]
