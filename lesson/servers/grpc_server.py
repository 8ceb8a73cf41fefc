"""The gRPC server: `inference.GRPCInferenceService` (Open Inference Protocol) on grpcio.

Run it::

    lesson serve grpc --host 127.0.0.1 --port 8001

A thread-pool `grpc.server`: measured faster than `grpc.aio` on this machine's kind, also with
micro-batching at 64 connections, where requests park in the batcher (instructions per request,
callgrind: the lesson's batched servicer ~670k on the thread pool vs ~790k on a `grpc.aio`
server awaiting the asyncio batcher, which also took ~1.6x the process CPU per request in
interleaved runs; a minimal thread-pool servicer that returns a fixed answer costs ~410k,
~380k with `_LeanThreadPool`). grpcio's per-RPC work, not the batcher, is most of a request's
cost, so it caps the batched throughput.
Errors are status codes with a message naming the field, mapped in one place
(`status_on_error`, from `lesson.servers.errors.classify`): INVALID_ARGUMENT, NOT_FOUND,
RESOURCE_EXHAUSTED (over a size bound, or too many requests in flight), UNAVAILABLE
(draining), DEADLINE_EXCEEDED (the client's deadline or the server's timeout). Inputs may
come as typed `contents` or as `raw_input_contents`; outputs always go back as
`raw_output_contents`, the form V2 clients decode.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from lesson.core.service import PredictionService
from lesson.core.v2 import InferRequest, RequestedOutput, V2Error, encode_raw, make_input
from lesson.proto import inference_pb2 as pb
from lesson.proto import inference_pb2_grpc as pb_grpc
from lesson.servers.backend import InferenceBackend, PredictFn, ServerOptions
from lesson.servers.errors import OverloadedError, RequestTimeoutError, classify
from lesson.servers.metrics import ServerMetrics

log = logging.getLogger("lesson.servers.grpc")

DEFAULT_GRPC_THREADS = 8

T = TypeVar("T")

#: datatype -> the InferTensorContents field that carries it
CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def _param_value(param: Any) -> Any:
    kind = param.WhichOneof("parameter_choice")
    return getattr(param, kind) if kind else None


def decode_request(request: pb.ModelInferRequest, backend: InferenceBackend) -> InferRequest:
    """A protobuf ModelInferRequest as the protocol-neutral `InferRequest` (validated)."""
    tensors = request.inputs
    n_inputs = len(tensors)
    raw = request.raw_input_contents
    if raw and len(raw) != n_inputs:
        raise V2Error(
            "raw_input_contents", f"{len(raw)} entries for {n_inputs} inputs; give one per input"
        )
    if not n_inputs:
        raise V2Error("inputs", "expected a non-empty list of tensors")
    bounds = backend.limits
    if n_inputs > bounds.max_inputs:
        raise V2Error("inputs", f"{n_inputs} tensors is over the bound of {bounds.max_inputs}")
    inputs = []
    for i, tensor in enumerate(tensors):
        if raw:
            if tensor.HasField("contents"):
                raise V2Error(
                    f"inputs[{i}].contents", "give either contents or raw_input_contents, not both"
                )
            inputs.append(
                make_input(
                    tensor.name,
                    tensor.datatype,
                    list(tensor.shape),
                    raw=bytes(raw[i]),
                    index=i,
                    bounds=bounds,
                )
            )
            continue
        field = CONTENTS_FIELD.get(tensor.datatype)
        data = list(getattr(tensor.contents, field)) if field else []
        inputs.append(
            make_input(
                tensor.name, tensor.datatype, list(tensor.shape), data=data, index=i, bounds=bounds
            )
        )
    outputs = [RequestedOutput(o.name) for o in request.outputs] if request.outputs else []
    parameters = request.parameters
    params = {k: _param_value(v) for k, v in parameters.items()} if parameters else {}
    return InferRequest(inputs, outputs, request.id, True, params)


class _Task:
    """What `_LeanThreadPool.submit` returns: grpcio only calls `add_done_callback` on it."""

    __slots__ = ("_lock", "_callbacks")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: list | None = []

    def add_done_callback(self, fn: Callable[[_Task], Any]) -> None:
        with self._lock:
            if self._callbacks is not None:
                self._callbacks.append(fn)
                return
        fn(self)  # already done

    def _finish(self) -> None:
        with self._lock:
            callbacks, self._callbacks = self._callbacks, None
        for fn in callbacks or ():
            fn(self)


class _LeanThreadPool:
    """The executor for grpcio's thread-pool server: ``max_workers`` threads on one C queue.

    grpcio submits every RPC to its executor and only ever calls ``add_done_callback`` on
    what comes back. ``concurrent.futures.ThreadPoolExecutor`` also builds a ``Future`` with a
    ``Condition`` and a Python ``Semaphore`` round trip per task; this does one
    ``SimpleQueue`` put/get and one lock. Measured with callgrind: grpcio's own work per
    request ~416k -> ~378k instructions (a minimal servicer at 64 connections). The threads
    start at once and are daemons (idle, they wait on the queue).
    """

    def __init__(self, max_workers: int, thread_name_prefix: str = "lesson-grpc") -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"{thread_name_prefix}-{i}", daemon=True)
            for i in range(max_workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> _Task:
        task = _Task()
        self._queue.put((task, fn, args, kwargs))
        return task

    def _work(self) -> None:
        get = self._queue.get
        while True:
            item = get()
            if item is None:
                return
            task, fn, args, kwargs = item
            try:
                fn(*args, **kwargs)
            except BaseException:
                log.exception("a gRPC server task failed")
            task._finish()

    def shutdown(self, wait: bool = True, **_: Any) -> None:
        """Stop the threads once the tasks already queued are done."""
        for _thread in self._threads:
            self._queue.put(None)
        if wait:
            for thread in self._threads:
                thread.join()


def status_on_error(rpc: Callable[[Any, Any, grpc.ServicerContext], T]) -> Callable[..., T]:
    """Answer any exception a unary RPC raises with its status code and message (`classify`):
    the one place the gRPC server maps errors (``ModelStreamInfer`` puts them in its stream)."""

    @functools.wraps(rpc)
    def answered(self: Any, request: Any, context: grpc.ServicerContext) -> T:
        try:
            return rpc(self, request, context)
        except Exception as exc:
            info = classify(exc)
            context.abort(getattr(grpc.StatusCode, info.grpc_code), info.message)
            raise  # not reached: abort raises

    return answered


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """The protocol's RPCs over an `InferenceBackend` (the same one the REST server uses)."""

    def __init__(self, backend: InferenceBackend, metrics: ServerMetrics | None = None) -> None:
        self.backend = backend
        self.metrics = metrics or ServerMetrics("grpc")

    # ------------------------------------------------------------ health and metadata
    def ServerLive(self, request, context):
        return pb.ServerLiveResponse(live=self.backend.live)

    def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=self.backend.ready)

    @status_on_error
    def ModelReady(self, request, context):
        return pb.ModelReadyResponse(
            ready=self.backend.model_ready(request.name, request.version or None)
        )

    def ServerMetadata(self, request, context):
        meta = self.backend.server_metadata()
        return pb.ServerMetadataResponse(
            name=meta["name"], version=meta["version"], extensions=meta["extensions"]
        )

    @status_on_error
    def ModelMetadata(self, request, context):
        meta = self.backend.model_metadata(request.name, request.version or None)
        # the protocol's TensorMetadata has name, datatype and shape only (extra keys such as
        # the MLP's per-feature descriptions stay in the REST metadata)
        tensors = lambda items: [
            pb.ModelMetadataResponse.TensorMetadata(
                name=t["name"], datatype=t["datatype"], shape=t["shape"]
            )
            for t in items
        ]
        return pb.ModelMetadataResponse(
            name=meta["name"],
            versions=meta["versions"],
            platform=meta["platform"],
            inputs=tensors(meta["inputs"]),
            outputs=tensors(meta["outputs"]),
        )

    def RepositoryIndex(self, request, context):
        entries = self.backend.repository_index(request.ready)
        return pb.RepositoryIndexResponse(
            models=[pb.RepositoryIndexResponse.ModelIndex(**e) for e in entries]
        )

    @status_on_error
    def ModelConfig(self, request, context):
        config = self.backend.model_config(request.name, request.version or None)
        tensor = lambda cls, t: cls(
            name=t["name"], data_type=pb.DataType.Value(t["data_type"]), dims=t["dims"]
        )
        return pb.ModelConfigResponse(
            config=pb.ModelConfig(
                name=config["name"],
                platform=config["platform"],
                backend=config["backend"],
                max_batch_size=config["max_batch_size"],
                input=[tensor(pb.ModelInput, t) for t in config["input"]],
                output=[tensor(pb.ModelOutput, t) for t in config["output"]],
            )
        )

    # ------------------------------------------------------------ inference
    @status_on_error
    def ModelInfer(self, request, context):
        started = time.perf_counter()
        code = "OK"
        try:
            return self._infer(request, context, started)
        except Exception as exc:
            code = classify(exc).grpc_code  # for the metrics; `status_on_error` answers it
            raise
        finally:
            self.metrics.observe(
                "ModelInfer",
                self.backend.model_label(request.model_name or None),
                code,
                time.perf_counter() - started,
            )

    def ModelStreamInfer(self, request_iterator, context):
        for request in request_iterator:
            started = time.perf_counter()
            code = "OK"
            try:
                response = pb.ModelStreamInferResponse(
                    infer_response=self._infer(request, context, started)
                )
            except Exception as exc:
                info = classify(exc)
                code = info.grpc_code
                response = pb.ModelStreamInferResponse(
                    error_message=f"{info.grpc_code}: {info.message}"
                )
            finally:
                self.metrics.observe(
                    "ModelStreamInfer",
                    self.backend.model_label(request.model_name or None),
                    code,
                    time.perf_counter() - started,
                )
            yield response

    def _infer(
        self, request: pb.ModelInferRequest, context: grpc.ServicerContext, started: float
    ) -> pb.ModelInferResponse:
        backend = self.backend
        backend.check_serving()
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            raise RequestTimeoutError("the client's deadline passed before the request was served")
        if not backend.try_acquire():
            raise OverloadedError(backend.overload_message())
        gauge = self.metrics.in_flight_gauge  # (inc/dec here, not a context manager: hot path)
        gauge.inc()
        try:
            parsed = decode_request(request, backend)
            result = backend.infer(
                parsed, request.model_name or None, request.model_version or None
            )
        finally:
            gauge.dec()
            backend.release()
        elapsed = time.perf_counter() - started
        if elapsed > backend.options.timeout_s:
            raise RequestTimeoutError(
                f"request took {elapsed:.3f} s, over the server's {backend.options.timeout_s} s timeout"
            )
        response = pb.ModelInferResponse(
            model_name=result.model.name, model_version=result.model.version, id=request.id
        )
        response.parameters["latency_ms"].double_param = round(result.latency_ms, 4)
        for tensor, _binary in result.outputs:
            response.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
            response.raw_output_contents.append(encode_raw(tensor.datatype, tensor.data))
        return response


def create_server(
    host: str = "127.0.0.1",
    port: int = 8001,
    *,
    backend: InferenceBackend | None = None,
    service: PredictionService | None = None,
    options: ServerOptions | None = None,
    predict_fn: PredictFn | None = None,
    **option_values: Any,
) -> tuple[grpc.Server, InferenceBackend, int]:
    """Build (not start) a thread-pool gRPC server bound to host:port.

    Returns:
        (server, backend, bound port) — port 0 asks the OS for a free one.
    """
    if backend is None:
        if options is None:
            options = ServerOptions.from_dict(option_values)
        backend = InferenceBackend(service, options, predict_fn)
    opts = backend.options
    limit = backend.limits.max_body_bytes
    interceptors = None
    if backend.tracing is not None:
        from lesson.servers.tracing import TracingInterceptor

        interceptors = [TracingInterceptor(backend.tracing)]
    server = grpc.server(
        _LeanThreadPool(opts.workers or DEFAULT_GRPC_THREADS, thread_name_prefix="lesson-grpc"),
        interceptors=interceptors,
        maximum_concurrent_rpcs=opts.max_in_flight,
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", 4 * limit),
            ("grpc.so_reuseport", 0),
        ],
    )
    servicer = InferenceServicer(backend)
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"could not bind gRPC server to {host}:{port}")
    server.servicer = servicer  # type: ignore[attr-defined]  (tests and metrics reach it)
    return server, backend, bound
