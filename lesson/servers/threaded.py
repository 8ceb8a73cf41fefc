"""The real REST app under uvicorn in a background thread of this process (loopback only).

For a service that is an object built in the caller's process (a notebook's
:class:`~lesson.teaching.evolution.VersionedService`), not a registry a subprocess could import;
:func:`lesson.servers.launch.running_server` starts a separate process instead::

    with ThreadedRestServer(rollout_service()) as server:
        RolloutClient(url=server.url).predict({"instances": [[...10 numbers...]]})
"""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn

from lesson.core.service import PredictionService
from lesson.servers.launch import free_port
from lesson.servers.rest import create_app

__all__ = ["ThreadedRestServer"]

START_TIMEOUT_S = 20.0


class ThreadedRestServer:
    """The real REST app for ``service`` under uvicorn in a daemon thread (``with`` or ``close()``).

    Args:
        service: the core service to serve.
        host: loopback only.
        port: None picks a free port.
    """

    def __init__(
        self, service: PredictionService, *, host: str = "127.0.0.1", port: int | None = None
    ) -> None:
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError(f"ThreadedRestServer binds loopback only, got host {host!r}")
        self.host = host
        self.port = port or free_port(host)
        self.url = f"http://{host}:{self.port}"
        config = uvicorn.Config(
            create_app(service=service),
            host=host,
            port=self.port,
            loop="asyncio",
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, name=f"rest-{self.port}", daemon=True
        )
        self._thread.start()
        self._wait_ready()

    def _wait_ready(self) -> None:
        import urllib.error
        import urllib.request

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
        raise TimeoutError(
            f"the REST server on port {self.port} was not ready within {START_TIMEOUT_S} s"
        )

    def close(self) -> None:
        """Stop the server and wait for its thread (safe to call twice)."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def __enter__(self) -> ThreadedRestServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ThreadedRestServer {self.url} alive={self._thread.is_alive()}>"
