"""Serve a :class:`~lesson.evolution.VersionedService` over real HTTP, and call it like a client.

The server needs CPython (uvicorn, FastAPI, imported when it starts); the client's in-process
path needs only the standard library, so notebooks import this module in the browser too.
Never imported by ``lesson/__init__.py``. The real REST app
(:func:`lesson.servers.rest.create_app`) runs under uvicorn on a free ``127.0.0.1`` port in a
background thread of this process, because the service is an object built here, not a
registry a subprocess could import. :class:`RolloutClient` sends the same bodies either over
that socket or, where there are no sockets (the browser), to the service in-process, and
returns ``(status, body)`` either way::

    with ThreadedRestServer(rollout_service()) as server:
        old_client = RolloutClient(url=server.url)
        old_client.predict({"instances": [[...10 numbers...]]})   # -> Reply(200, {...})
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from lesson.evolution import ROLLOUT_MODEL, http_status
from lesson.service import PredictionService

__all__ = ["ThreadedRestServer", "RolloutClient", "Reply"]

START_TIMEOUT_S = 20.0


class ThreadedRestServer:
    """The real REST app for ``service`` under uvicorn in a daemon thread (``with`` or ``close()``).

    Args:
        service: the core service to serve.
        host: loopback only.
        port: None picks a free port.
    """

    def __init__(self, service: PredictionService, *, host: str = "127.0.0.1", port: int | None = None) -> None:
        import uvicorn  # noqa: PLC0415 - CPython only

        from lesson.servers.launch import free_port  # noqa: PLC0415
        from lesson.servers.rest import create_app  # noqa: PLC0415

        if host not in ("127.0.0.1", "localhost"):
            raise ValueError(f"ThreadedRestServer binds loopback only, got host {host!r}")
        self.host = host
        self.port = port or free_port(host)
        self.url = f"http://{host}:{self.port}"
        config = uvicorn.Config(create_app(service=service), host=host, port=self.port, loop="asyncio",
                                log_level="warning", access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=f"rest-{self.port}", daemon=True)
        self._thread.start()
        self._wait_ready()

    def _wait_ready(self) -> None:
        import urllib.error  # noqa: PLC0415
        import urllib.request  # noqa: PLC0415

        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                raise RuntimeError(f"the REST server on port {self.port} stopped while starting")
            try:
                with urllib.request.urlopen(f"{self.url}/v2/health/ready", timeout=1) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        self.close()
        raise TimeoutError(f"the REST server on port {self.port} was not ready within {START_TIMEOUT_S} s")

    def close(self) -> None:
        """Stop the server and wait for its thread (safe to call twice)."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def __enter__(self) -> "ThreadedRestServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ThreadedRestServer {self.url} alive={self._thread.is_alive()}>"


@dataclass(frozen=True)
class Reply:
    """What a client got back: the HTTP status (or the status the route would answer) and the body."""

    status: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def describe(self) -> str:
        """One line in plain words: who answered what, or the error the client got."""
        if not self.ok:
            return f"{self.status} {self.body.get('error', self.body)}"
        meta = self.body.get("metadata", {})
        text = (f"{self.status} prediction {self.body['predictions'][0]:.2f} from model v{meta.get('model_version')}"
                f" (contract v{meta.get('contract_version', '?')})")
        if "request_id" in meta:
            text += f", request_id echoed: {meta['request_id']!r}"
        return text


class RolloutClient:
    """A client of ``/v1/models/{name}[/versions/{v}]:predict``, over HTTP or in-process.

    Args:
        url: the server's base URL (``http://127.0.0.1:PORT``); None calls ``service`` directly.
        service: the service to call when there is no URL (the browser).
        model: the model name in the route.
        timeout_s: per request, over HTTP.
    """

    def __init__(self, url: str | None = None, *, service: PredictionService | None = None,
                 model: str = ROLLOUT_MODEL, timeout_s: float = 10.0) -> None:
        if url is None and service is None:
            raise ValueError("give a url (a real server) or a service (in-process)")
        self.url = url
        self.service = service
        self.model = model
        self.timeout_s = timeout_s
        self.server: ThreadedRestServer | None = None

    @classmethod
    def connect(cls, service: PredictionService, *, over_http: bool) -> "RolloutClient":
        """A client of ``service``: behind a real REST server on loopback, or in-process.

        Args:
            service: what to serve.
            over_http: start :class:`ThreadedRestServer` (CPython); False calls it directly
                (the browser). :meth:`close` stops the server.
        """
        if not over_http:
            return cls(service=service)
        server = ThreadedRestServer(service)
        client = cls(server.url)
        client.server = server
        return client

    @property
    def where(self) -> str:
        """Plain words: where the requests go."""
        if self.url is None:
            return "in-process (no sockets here): the service is called directly"
        return f"real REST server (FastAPI + uvicorn) at {self.url}, over loopback"

    def close(self) -> None:
        """Stop the server this client started, if any."""
        if self.server is not None:
            self.server.close()

    def __enter__(self) -> "RolloutClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def explain(self, label: str, body: dict[str, Any], *, version: str | None = None) -> str:
        """Send ``body`` and say in one line what happened (for the notebook)."""
        reply = self.predict(body, version=version)
        return f"{label}\n    POST {self.route(version)}\n    -> {reply.describe()}"

    def route(self, version: str | None = None) -> str:
        """The URL path a request goes to (pinned to ``version`` or the default routing)."""
        if version is None:
            return f"/v1/models/{self.model}:predict"
        return f"/v1/models/{self.model}/versions/{version}:predict"

    def predict(self, body: dict[str, Any], *, version: str | None = None) -> Reply:
        """Send one V1 body; never raises for a 4xx/5xx answer (it is in the :class:`Reply`)."""
        if self.url is None:
            assert self.service is not None
            try:
                return Reply(200, self.service.predict(body, model=self.model, version=version))
            except Exception as exc:  # noqa: BLE001 - shown as the status the route answers
                return Reply(http_status(exc), {"error": str(exc)})
        import urllib.error  # noqa: PLC0415 - over HTTP only (the browser never gets here)
        import urllib.request  # noqa: PLC0415

        request = urllib.request.Request(
            self.url + self.route(version), data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as reply:
                return Reply(reply.status, json.loads(reply.read()))
        except urllib.error.HTTPError as error:
            return Reply(error.code, json.loads(error.read() or b"{}"))
