"""Helpers for the docs' executed blocks: real server exchanges, in-process, at build time.

The docs quote what the package answers (``python exec="on"`` blocks, run by markdown-exec
when ``mkdocs build`` renders the page). A server's JSON comes from the real FastAPI app of
``lesson.servers.rest``, called through Starlette's test client: the same routes, handlers,
validation and error shapes as ``lesson serve rest``, with no socket and no process.
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
