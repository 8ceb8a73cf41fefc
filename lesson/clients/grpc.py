"""gRPC clients for `inference.GRPCInferenceService`: `GrpcClient` (sync) and `AsyncGrpcClient` (grpc.aio).

    >>> client = GrpcClient("grpc://127.0.0.1:8001")                 # doctest: +SKIP
    >>> client.predict({"instances": [0.2, 0.4, 0.6]})               # V1 shape over ModelInfer
    >>> list(client.stream([{"instances": [0.1]}, {"instances": [0.2]}]))  # ModelStreamInfer

Tensors travel as FP64 `raw_input_contents` (little-endian bytes), the fast form; answers
come back in `raw_output_contents`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from typing import Any

import grpc

from lesson.clients._common import host_port, rows_of, v1_from_v2
from lesson.clients.errors import InferenceError, from_grpc
from lesson.core.v2 import OUTPUT_DATATYPE, decode_raw, encode_raw
from lesson.proto import inference_pb2 as pb
from lesson.proto import inference_pb2_grpc as pb_grpc

_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 << 20),
    ("grpc.max_send_message_length", 64 << 20),
]


def _target(url: str) -> str:
    host, port = host_port(url, "grpc", 8001)
    return f"{host}:{port}"


def build_infer_request(
    rows: Sequence[Sequence[float]], model: str, version: str | None = None, request_id: str = ""
) -> pb.ModelInferRequest:
    """A ModelInferRequest with one FP64 tensor [rows, features] in raw_input_contents."""
    n_features = len(rows[0]) if rows else 0
    request = pb.ModelInferRequest(model_name=model, model_version=version or "", id=request_id)
    request.inputs.add(name="input__0", datatype=OUTPUT_DATATYPE, shape=[len(rows), n_features])
    request.raw_input_contents.append(
        encode_raw(OUTPUT_DATATYPE, [float(v) for row in rows for v in row])
    )
    return request


def _param(param: pb.InferParameter) -> Any:
    kind = param.WhichOneof("parameter_choice")
    return getattr(param, kind) if kind else None


def response_to_dict(response: pb.ModelInferResponse) -> dict[str, Any]:
    """A ModelInferResponse as the V2 JSON shape, outputs decoded from raw_output_contents."""
    outputs = []
    for i, tensor in enumerate(response.outputs):
        shape = list(tensor.shape)
        count = 1
        for dim in shape:
            count *= dim
        if i < len(response.raw_output_contents):
            data = decode_raw(tensor.datatype, response.raw_output_contents[i], count, tensor.name)
        else:
            data = list(
                getattr(
                    tensor.contents,
                    "fp64_contents" if tensor.datatype == "FP64" else "fp32_contents",
                )
            )
        outputs.append(
            {"name": tensor.name, "datatype": tensor.datatype, "shape": shape, "data": data}
        )
    return {
        "model_name": response.model_name,
        "model_version": response.model_version,
        "id": response.id,
        "parameters": {k: _param(v) for k, v in response.parameters.items()},
        "outputs": outputs,
    }


def _raise(exc: grpc.RpcError) -> InferenceError:
    code = exc.code()
    return from_grpc(code.name if code is not None else "UNKNOWN", exc.details() or "")


class GrpcClient:
    """A synchronous gRPC client; one channel, safe to share between threads.

    Args:
        target: `grpc://host:port` or `host:port`.
        model: default model name (None: the server's default, asked once).
        timeout: deadline in seconds for each call.
        tracing: a `lesson.clients.tracing.Tracing`: each call in a CLIENT span, its
            ``traceparent`` sent in the call's metadata (None: no tracing).
    """

    def __init__(
        self,
        target: str,
        *,
        model: str | None = None,
        timeout: float = 10.0,
        tracing: Any = None,
    ) -> None:
        self.tracing = tracing
        self.target = _target(target)
        self.url = f"grpc://{self.target}"
        self.timeout = timeout
        self.channel = grpc.insecure_channel(self.target, options=_CHANNEL_OPTIONS)
        self.stub = pb_grpc.GRPCInferenceServiceStub(self.channel)
        self._default_model = model

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> GrpcClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _call(self, method: str, request: Any, timeout: float | None = None) -> Any:
        try:
            if self.tracing is not None:
                with self.tracing.client_span(f"grpc {method}") as carrier:
                    return getattr(self.stub, method)(
                        request, timeout=timeout or self.timeout, metadata=tuple(carrier.items())
                    )
            return getattr(self.stub, method)(request, timeout=timeout or self.timeout)
        except grpc.RpcError as exc:
            raise _raise(exc) from None

    # ------------------------------------------------------------ health and metadata
    def live(self) -> bool:
        return self._call("ServerLive", pb.ServerLiveRequest()).live

    def ready(self) -> bool:
        return self._call("ServerReady", pb.ServerReadyRequest()).ready

    def server_metadata(self) -> dict[str, Any]:
        meta = self._call("ServerMetadata", pb.ServerMetadataRequest())
        return {"name": meta.name, "version": meta.version, "extensions": list(meta.extensions)}

    def model_metadata(
        self, model: str | None = None, version: str | None = None
    ) -> dict[str, Any]:
        meta = self._call(
            "ModelMetadata",
            pb.ModelMetadataRequest(name=model or self.default_model(), version=version or ""),
        )
        tensors = lambda items: [
            {"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in items
        ]
        return {
            "name": meta.name,
            "versions": list(meta.versions),
            "platform": meta.platform,
            "inputs": tensors(meta.inputs),
            "outputs": tensors(meta.outputs),
        }

    def model_ready(self, model: str | None = None, version: str | None = None) -> bool:
        return self._call(
            "ModelReady",
            pb.ModelReadyRequest(name=model or self.default_model(), version=version or ""),
        ).ready

    def repository_index(self, ready: bool = False) -> list[dict[str, str]]:
        index = self._call("RepositoryIndex", pb.RepositoryIndexRequest(ready=ready))
        return [
            {"name": m.name, "version": m.version, "state": m.state, "reason": m.reason}
            for m in index.models
        ]

    def default_model(self) -> str:
        if self._default_model is None:
            index = self.repository_index()
            if not index:
                raise InferenceError("client", "the server lists no models")
            self._default_model = index[0]["name"]
        return self._default_model

    # ------------------------------------------------------------ inference
    def infer(
        self,
        rows: Sequence[Sequence[float]],
        model: str | None = None,
        *,
        version: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """ModelInfer on rows of features; the response as a dict with decoded `data`."""
        request = build_infer_request(rows, model or self.default_model(), version)
        return response_to_dict(self._call("ModelInfer", request, timeout))

    def predict(
        self, payload: Any, model: str | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """`{"instances": [...]}` -> `{"predictions": [...], "metadata": {...}}` over ModelInfer."""
        return v1_from_v2(self.infer(rows_of(payload), model, timeout=timeout), "grpc")

    def stream(
        self, payloads: Iterable[Any], model: str | None = None, *, timeout: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """ModelStreamInfer: one V1 answer per payload, in order; an error raises at its place."""
        name = model or self.default_model()
        requests = (
            build_infer_request(rows_of(p), name, request_id=str(i)) for i, p in enumerate(payloads)
        )
        try:
            for message in self.stub.ModelStreamInfer(requests, timeout=timeout):
                if message.error_message:
                    code, _, text = message.error_message.partition(": ")
                    raise from_grpc(code, text)
                yield v1_from_v2(response_to_dict(message.infer_response), "grpc-stream")
        except grpc.RpcError as exc:
            raise _raise(exc) from None


class AsyncGrpcClient:
    """The asyncio gRPC client (grpc.aio); the channel is made on first use in the running loop."""

    def __init__(self, target: str, *, model: str | None = None, timeout: float = 10.0) -> None:
        self.target = _target(target)
        self.url = f"grpc://{self.target}"
        self.timeout = timeout
        self._channel: Any = None
        self._stub: Any = None
        self._default_model = model

    def _get_stub(self) -> Any:
        if self._stub is None:
            self._channel = grpc.aio.insecure_channel(self.target, options=_CHANNEL_OPTIONS)
            self._stub = pb_grpc.GRPCInferenceServiceStub(self._channel)
        return self._stub

    async def _call(self, method: str, request: Any, timeout: float | None = None) -> Any:
        try:
            return await getattr(self._get_stub(), method)(request, timeout=timeout or self.timeout)
        except grpc.RpcError as exc:
            raise _raise(exc) from None

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
        self._channel = self._stub = None

    async def __aenter__(self) -> AsyncGrpcClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def live(self) -> bool:
        return (await self._call("ServerLive", pb.ServerLiveRequest())).live

    async def ready(self) -> bool:
        return (await self._call("ServerReady", pb.ServerReadyRequest())).ready

    async def repository_index(self, ready: bool = False) -> list[dict[str, str]]:
        index = await self._call("RepositoryIndex", pb.RepositoryIndexRequest(ready=ready))
        return [
            {"name": m.name, "version": m.version, "state": m.state, "reason": m.reason}
            for m in index.models
        ]

    async def default_model(self) -> str:
        if self._default_model is None:
            index = await self.repository_index()
            if not index:
                raise InferenceError("client", "the server lists no models")
            self._default_model = index[0]["name"]
        return self._default_model

    async def infer(
        self,
        rows: Sequence[Sequence[float]],
        model: str | None = None,
        *,
        version: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        request = build_infer_request(rows, model or await self.default_model(), version)
        return response_to_dict(await self._call("ModelInfer", request, timeout))

    async def predict(
        self, payload: Any, model: str | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        return v1_from_v2(await self.infer(rows_of(payload), model, timeout=timeout), "grpc")

    async def stream(
        self, payloads: Iterable[Any], model: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        name = model or await self.default_model()
        requests = [
            build_infer_request(rows_of(p), name, request_id=str(i)) for i, p in enumerate(payloads)
        ]
        try:
            async for message in self._get_stub().ModelStreamInfer(iter(requests)):
                if message.error_message:
                    code, _, text = message.error_message.partition(": ")
                    raise from_grpc(code, text)
                yield v1_from_v2(response_to_dict(message.infer_response), "grpc-stream")
        except grpc.RpcError as exc:
            raise _raise(exc) from None
