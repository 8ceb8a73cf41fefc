"""A model that scores over one open gRPC ``ModelStreamInfer`` stream, for the stream consumer.

:class:`lesson.patterns.streaming.consumer.StreamConsumer` scores events with any object that has
``predict_async(rows)``. :class:`GrpcStreamModel` keeps one bidirectional stream open to a
real server and sends each batch as a message on it, reading the answers in order. The same
consumer therefore runs in-process (in the browser) and over the wire (here), unchanged:

    >>> async with GrpcStreamModel("grpc://127.0.0.1:8001", "diabetes-mlp") as model:  # doctest: +SKIP
    ...     report = await StreamConsumer(model).run(generate_events(500))
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import grpc

from lesson.clients.errors import from_grpc
from lesson.clients.grpc import (
    _CHANNEL_OPTIONS,
    _raise,
    _target,
    build_infer_request,
    response_to_dict,
)
from lesson.proto import inference_pb2_grpc as pb_grpc


class GrpcStreamModel:
    """Scores rows over a long-lived ``ModelStreamInfer`` call (one message per batch).

    Args:
        url: ``grpc://host:port`` of a server speaking ``inference.GRPCInferenceService``.
        model: the served model's name.
        timeout: seconds to wait for each answer before giving up.
    """

    def __init__(self, url: str, model: str, *, timeout: float = 10.0) -> None:
        self.target = _target(url)
        self.name = model
        self.version = ""
        self.timeout = timeout
        self._channel: Any = None
        self._call: Any = None
        self._lock = asyncio.Lock()
        self._sent = 0

    async def __aenter__(self) -> GrpcStreamModel:
        self._channel = grpc.aio.insecure_channel(self.target, options=_CHANNEL_OPTIONS)
        self._call = pb_grpc.GRPCInferenceServiceStub(self._channel).ModelStreamInfer()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        """Half-close the stream and the channel."""
        if self._call is not None:
            try:
                await self._call.done_writing()
            except grpc.RpcError:
                pass
        if self._channel is not None:
            await self._channel.close()
        self._call = self._channel = None

    async def predict_async(self, rows: Sequence[Sequence[float]]) -> list[float]:
        """Send one batch on the stream and wait for its answer (answers arrive in order)."""
        if self._call is None:
            raise RuntimeError("GrpcStreamModel is not open: use 'async with GrpcStreamModel(...)'")
        async with self._lock:  # one message in flight keeps request/answer pairing exact
            self._sent += 1
            request = build_infer_request(
                [list(r) for r in rows], self.name, request_id=str(self._sent)
            )
            try:
                await self._call.write(request)
                message = await asyncio.wait_for(self._call.read(), self.timeout)
            except grpc.RpcError as exc:
                raise _raise(exc) from None
        if message is grpc.aio.EOF:
            raise ConnectionError("the server closed the ModelStreamInfer stream")
        if message.error_message:
            code, _, text = message.error_message.partition(": ")
            raise from_grpc(code, text)
        response = response_to_dict(message.infer_response)
        if response["id"] != str(self._sent):
            raise RuntimeError(f"answer {response['id']!r} does not match request {self._sent}")
        self.version = response.get("model_version", "")
        return [float(v) for v in response["outputs"][0]["data"]]

    def predict(self, rows: Sequence[Sequence[float]]) -> list[float]:
        raise TypeError("GrpcStreamModel is asynchronous: the stream consumer calls predict_async")
