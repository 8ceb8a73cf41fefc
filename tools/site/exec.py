"""Helpers for the docs' executed blocks: real server exchanges, in-process, at build time.

The docs quote what the package answers (``python exec="on"`` blocks, run by markdown-exec
when ``mkdocs build`` renders the page). A server's JSON comes from the real FastAPI app of
``lesson.servers.rest``, called through Starlette's test client: the same routes, handlers,
validation and error shapes as ``lesson serve rest``, with no socket and no process. A gRPC
status comes from the real grpcio server of ``lesson serve grpc``, started in this process on
a free loopback port (:func:`grpc_server`). ``tools/site/quoted.py`` checks that no page
quotes output any other way.
``tools/site/hooks.py`` puts the repository root on ``sys.path``, so a block imports
``tools.site.exec``.

markdown-exec captures ``print`` inside the block only, so these helpers return text.

Example (in a page)::

    ```python exec="on"
    from tools.site.exec import rest_app, wrapped
    with rest_app() as server:
        print(wrapped(server.exchange("POST", "/v1/models/averaged_ensemble:predict",
                                      {"instances": [0.2]})))
    ```
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: The registry the contract pages serve: the original lesson's model, whose answers are
#: easy to check by hand (``round(mean * 0.8 + 0.1, 4)``).
TOY_REGISTRY = "lesson.core.model:default_registry"


def compact(payload: Any) -> str:
    """JSON as a server sends it (no spaces), for quoting a body."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def pretty_json(payload: Any) -> str:
    """JSON with one line per top-level key (and per item of a list of objects).

    Shorter than ``indent=2``, which puts every number of a list on its own line.
    """
    def line(value: Any, pad: str) -> str:
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            items = ",\n".join(f"{pad}  {json.dumps(v)}" for v in value)
            return f"[\n{items}\n{pad}]"
        return json.dumps(value)

    if not isinstance(payload, dict):
        return line(payload, "")
    body = ",\n".join(f"  {json.dumps(k)}: {line(v, '  ')}" for k, v in payload.items())
    return f"{{\n{body}\n}}"


def wrapped(*parts: str) -> str:
    """A Markdown text block whose long lines wrap (CSS class ``lesson-wrap``), parts apart.

    Print it from a block with no ``result=`` option: markdown-exec renders it as Markdown.
    """
    body = "\n\n".join(part.rstrip("\n") for part in parts)
    return f"```{{.text .lesson-wrap}}\n{body}\n```"


@dataclass
class ServerSession:
    """A running app (lifespan entered: warmed up and ready) and a client bound to it."""

    client: Any

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, str]:
        """One request; returns the status and the body text."""
        kwargs = {} if body is None else {"json": body}
        response = self.client.request(method, path, **kwargs)
        return response.status_code, response.text

    def json(self, method: str, path: str, body: Any = None) -> str:
        """The response body as a page quotes a JSON sample (see :func:`pretty_json`)."""
        response = self.client.request(method, path, **({} if body is None else {"json": body}))
        return pretty_json(response.json())

    def exchange(self, method: str, path: str, body: Any = None, *, note: str = "",
                 show_body: bool = True) -> str:
        """``$ METHOD path  body=...`` then ``status response``, as the docs quote it.

        Args:
            method, path, body: the request (``body`` is sent as JSON).
            note: a comment after the request line, e.g. "(a client pinned to version 1)".
            show_body: quote the request body on the first line.
        """
        status, text = self.call(method, path, body)
        line = f"$ {method} {path}"
        if body is not None and show_body:
            line += f"  body={json.dumps(body)}"
        if note:
            line += f"    {note}"
        return f"{line}\n{status} {text}"


@contextlib.contextmanager
def rest_app(registry: Any = TOY_REGISTRY, **options: Any) -> Iterator[ServerSession]:
    """The real REST app of ``lesson serve rest``, in-process.

    Args:
        registry: a ``"module:attribute"`` spec (as ``--registry``) or a ``ModelRegistry``.
        **options: ``ServerOptions`` fields (``max_in_flight=...``).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # starlette's note about httpx
        from fastapi.testclient import TestClient
    from lesson.core.service import PredictionService
    from lesson.servers.rest import create_app

    if isinstance(registry, str):
        app = create_app(registry=registry, **options)
    else:
        app = create_app(service=PredictionService(registry), **options)
    with TestClient(app) as client:
        yield ServerSession(client)


@contextlib.contextmanager
def llm_app(**options: Any) -> Iterator[ServerSession]:
    """The real app of ``lesson serve llm`` (OpenAI-compatible), in-process.

    Args:
        **options: ``LLMOptions`` fields (``impl="numpy"``, ``max_num_seqs=...``).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # starlette's note about httpx
        from fastapi.testclient import TestClient
    from lesson.servers.llm.app import create_llm_app
    from lesson.servers.llm.options import LLMOptions

    with TestClient(create_llm_app(LLMOptions(**options))) as client:
        yield ServerSession(client)


@dataclass
class GrpcSession:
    """A running gRPC server (warmed up) and a stub bound to it, over loopback."""

    stub: Any
    port: int

    def call(self, request: Any) -> tuple[str, str]:
        """One ``ModelInfer``; returns the status code's name and the outputs or the error message."""
        import grpc

        from lesson.clients.grpc import response_to_dict

        try:
            response = self.stub.ModelInfer(request, timeout=10)
        except grpc.RpcError as exc:
            return exc.code().name, exc.details() or ""
        outputs = [{"name": o["name"], "shape": o["shape"], "data": o["data"]}
                   for o in response_to_dict(response)["outputs"]]
        return "OK", compact(outputs)

    def exchange(self, model: str, shape: list[int], data: list[float], *, version: str = "",
                 note: str = "") -> str:
        """``$ ModelInfer model=... shape=... data=...`` then ``CODE outputs-or-message``.

        The request carries one FP64 tensor named ``input-0`` in ``contents`` (the readable
        form; clients send ``raw_input_contents``), so a shape that disagrees with its data
        reaches the server's checks.
        """
        code, text = self.call(infer_request(model, shape, data, version=version))
        line = f"$ ModelInfer model={model}" + (f" version={version}" if version else "")
        line += f" shape={json.dumps(shape)} data={json.dumps(data) if len(data) <= 8 else f'[{len(data)} values]'}"
        if note:
            line += f"    {note}"
        return f"{line}\n{code} {text}"


def infer_request(model: str, shape: list[int], data: list[float], *, version: str = "") -> Any:
    """A ``ModelInferRequest`` with one FP64 tensor ``input-0`` of ``shape`` holding ``data``."""
    from lesson.proto import inference_pb2 as pb

    request = pb.ModelInferRequest(model_name=model, model_version=version)
    tensor = request.inputs.add(name="input-0", datatype="FP64", shape=list(shape))
    tensor.contents.fp64_contents.extend(float(v) for v in data)
    return request


@contextlib.contextmanager
def grpc_server(registry: Any = TOY_REGISTRY, **options: Any) -> Iterator[GrpcSession]:
    """The real gRPC server of ``lesson serve grpc``, in this process on a free 127.0.0.1 port.

    Args:
        registry: a ``"module:attribute"`` spec (as ``--registry``) or a ``ModelRegistry``.
        **options: ``ServerOptions`` fields (``max_in_flight=...``).
    """
    import grpc

    from lesson.core.service import PredictionService
    from lesson.proto import inference_pb2_grpc as pb_grpc
    from lesson.servers.grpc_server import create_server
    from lesson.servers.options import load_registry

    if isinstance(registry, str):
        registry = load_registry(registry)
    server, backend, port = create_server("127.0.0.1", 0, service=PredictionService(registry), **options)
    server.start()
    try:
        backend.warm_up()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield GrpcSession(pb_grpc.GRPCInferenceServiceStub(channel), port)
    finally:
        server.stop(grace=None)


def run_cli(*commands: list[str]) -> str:
    """Run ``lesson`` CLI commands in-process, in a fresh temporary folder, one after another.

    Returns ``$ lesson ...`` and each command's output. A command that exits non-zero
    raises ``RuntimeError`` (so the page's build fails rather than quoting an error).
    """
    from typer.testing import CliRunner

    from lesson.cli import app

    runner = CliRunner()
    lines = []
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="site-cli-") as tmp:
        os.chdir(tmp)
        try:
            for args in commands:
                result = runner.invoke(app, list(args))
                if result.exit_code != 0:
                    raise RuntimeError(f"lesson {shlex.join(args)} exited {result.exit_code}: "
                                       f"{result.output}{result.exception or ''}")
                lines.append(f"$ lesson {shlex.join(args)}\n{result.output.rstrip()}")
        finally:
            os.chdir(cwd)
    return "\n\n".join(lines)
