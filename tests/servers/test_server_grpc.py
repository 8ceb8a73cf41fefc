"""The gRPC server, for real, on 127.0.0.1: every RPC and every error status."""

from __future__ import annotations

import re
import struct
import threading
import time

import grpc
import pytest
from server_support import MODEL

from lesson.core.v2 import decode_raw, encode_raw
from lesson.proto import inference_pb2 as pb
from lesson.proto import inference_pb2_grpc as pb_grpc

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def stub(grpc_server):
    with grpc.insecure_channel(f"127.0.0.1:{grpc_server.port}") as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


@pytest.fixture(scope="module")
def sleepy_stub(sleepy_grpc):
    with grpc.insecure_channel(f"127.0.0.1:{sleepy_grpc.port}") as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


def _request(rows, *, model=MODEL, datatype="FP64", raw=True, version=""):
    request = pb.ModelInferRequest(model_name=model, model_version=version, id="req-1")
    flat = [v for row in rows for v in row]
    tensor = request.inputs.add(name="input__0", datatype=datatype, shape=[len(rows), len(rows[0])])
    if raw:
        request.raw_input_contents.append(encode_raw(datatype, flat))
    elif datatype == "FP64":
        tensor.contents.fp64_contents.extend(flat)
    elif datatype == "FP32":
        tensor.contents.fp32_contents.extend(flat)
    elif datatype == "INT32":
        tensor.contents.int_contents.extend(int(v) for v in flat)
    return request


def _outputs(response):
    assert len(response.raw_output_contents) == len(response.outputs) == 1
    out = response.outputs[0]
    return decode_raw(out.datatype, response.raw_output_contents[0], out.shape[0], out.name)


def test_health_and_metadata(stub):
    assert stub.ServerLive(pb.ServerLiveRequest()).live
    assert stub.ServerReady(pb.ServerReadyRequest()).ready
    assert stub.ModelReady(pb.ModelReadyRequest(name=MODEL)).ready
    meta = stub.ServerMetadata(pb.ServerMetadataRequest())
    assert meta.name == "lesson" and "binary_tensor_data" in meta.extensions
    model = stub.ModelMetadata(pb.ModelMetadataRequest(name=MODEL, version="1"))
    assert (
        model.name == MODEL and list(model.versions) == ["1"] and model.inputs[0].datatype == "FP64"
    )
    assert list(model.inputs[0].shape) == [-1, -1]
    index = stub.RepositoryIndex(pb.RepositoryIndexRequest(ready=True))
    assert [(m.name, m.version, m.state) for m in index.models] == [(MODEL, "1", "READY")]


@pytest.mark.parametrize(
    "datatype, raw",
    [
        ("FP64", True),
        ("FP64", False),
        ("FP32", False),
        ("FP32", True),
        ("INT32", False),
        ("INT32", True),
    ],
)
def test_model_infer_typed_contents_and_raw(stub, datatype, raw):
    response = stub.ModelInfer(_request([[1, 2, 3], [0, 4, 8]], datatype=datatype, raw=raw))
    assert response.model_name == MODEL and response.model_version == "1" and response.id == "req-1"
    assert response.outputs[0].datatype == "FP64" and list(response.outputs[0].shape) == [2]
    assert _outputs(response) == [1.7, 3.3]
    assert response.parameters["latency_ms"].double_param >= 0


def _status(call, *args, **kwargs) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call(*args, **kwargs)
    return info.value.code(), info.value.details()


def test_invalid_argument_names_the_field(stub):
    cases = []
    bad_shape = _request([[1, 2]])
    bad_shape.inputs[0].shape[:] = [1, 3]
    cases.append((bad_shape, "inputs[0] binary data"))
    two_raw = _request([[1, 2]])
    two_raw.raw_input_contents.append(b"\0" * 8)
    cases.append((two_raw, "raw_input_contents"))
    bad_type = _request([[1, 2]])
    bad_type.inputs[0].datatype = "STRING"
    cases.append((bad_type, "inputs[0].datatype"))
    rank3 = _request([[1, 2]])
    rank3.inputs[0].shape[:] = [1, 1, 2]
    cases.append((rank3, "inputs[0].shape"))
    nan = _request([[1.0, 2.0]])
    nan.raw_input_contents[0] = struct.pack("<2d", 1.0, float("nan"))
    cases.append((nan, "inputs[0].data[1]"))
    cases.append((pb.ModelInferRequest(model_name=MODEL), "inputs"))
    unknown_output = _request([[1, 2]])
    unknown_output.outputs.add(name="nope")
    cases.append((unknown_output, "outputs[0].name"))
    for request, field in cases:
        code, message = _status(stub.ModelInfer, request)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (field, message)
        assert message.startswith(field), (field, message)


def test_not_found(stub):
    code, message = _status(stub.ModelInfer, _request([[1.0]], model="nope"))
    assert code == grpc.StatusCode.NOT_FOUND and "nope" in message and MODEL in message
    code, _ = _status(stub.ModelInfer, _request([[1.0]], version="9"))
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = _status(stub.ModelMetadata, pb.ModelMetadataRequest(name="nope"))
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = _status(stub.ModelReady, pb.ModelReadyRequest(name="nope"))
    assert code == grpc.StatusCode.NOT_FOUND


def test_resource_exhausted_for_size_bounds(stub):
    code, message = _status(stub.ModelInfer, _request([[0.5]] * 1025))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "1024" in message
    huge = _request([[0.5] * 200] * 1000)  # 1.6 MB message, over the 1 MiB bound
    code, message = _status(stub.ModelInfer, huge)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in message.lower()


def test_deadline_exceeded_by_the_client_deadline(sleepy_stub):
    started = time.perf_counter()
    code, _ = _status(sleepy_stub.ModelInfer, _request([[2.0, 1.0]], model="sleepy"), timeout=0.3)
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.perf_counter() - started < 1.5  # the 0.3 s deadline, not the 2 s model
    time.sleep(2.0)  # let the abandoned call finish before the next test uses this server


def test_deadline_exceeded_by_the_server_timeout(sleepy_stub):
    code, message = _status(
        sleepy_stub.ModelInfer, _request([[1.3, 1.0]], model="sleepy"), timeout=10
    )
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED and "timeout" in message


def test_overload_is_resource_exhausted(sleepy_stub):
    codes: list = []
    lock = threading.Lock()

    def call() -> None:
        try:
            sleepy_stub.ModelInfer(_request([[0.8, 1.0]], model="sleepy"), timeout=10)
            code = grpc.StatusCode.OK
        except grpc.RpcError as exc:
            code = exc.code()
        with lock:
            codes.append(code)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert codes.count(grpc.StatusCode.OK) >= 1
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) >= 3, codes
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}


def test_stream_answers_in_order_and_keeps_going_after_an_error(stub):
    requests = [_request([[float(i), 1.0]]) for i in range(5)]
    requests.insert(2, _request([[1.0]], model="nope"))
    answers = list(stub.ModelStreamInfer(iter(requests), timeout=10))
    assert len(answers) == 6
    assert re.match(r"NOT_FOUND: model 'nope'", answers[2].error_message)
    values = [_outputs(a.infer_response)[0] for i, a in enumerate(answers) if i != 2]
    assert values == [round((i + 1) / 2 * 0.8 + 0.1, 4) for i in range(5)]


def test_metrics_over_http_on_their_own_port():
    from server_support import http

    from lesson.servers.launch import free_port, running_server

    port = free_port()
    with running_server("grpc", metrics_port=port) as server:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            for _ in range(3):
                stub.ModelInfer(_request([[1.0]]))
            with pytest.raises(grpc.RpcError):
                stub.ModelInfer(_request([[1.0]], model="nope"))
        status, _, raw = http("GET", f"http://127.0.0.1:{port}/metrics")
    text = raw.decode()
    assert status == 200
    assert re.search(
        r'lesson_requests_total\{code="OK",model="averaged_ensemble",route="ModelInfer",transport="grpc"\} 3\.0',
        text,
    )
    assert re.search(
        r'lesson_requests_total\{code="NOT_FOUND",model="-",route="ModelInfer",transport="grpc"\} 1\.0',
        text,
    )
    assert (
        'lesson_request_latency_seconds_bucket{le="0.01",model="averaged_ensemble",route="ModelInfer",transport="grpc"}'
        in text
    )
