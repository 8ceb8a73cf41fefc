"""Call a :class:`~lesson.teaching.evolution.VersionedService` like a client, over HTTP or in-process.

:class:`RolloutClient` sends the same bodies either over a real socket (the service served by
:class:`lesson.servers.threaded.ThreadedRestServer`, CPython) or, where there are no sockets
(the browser), to the service in-process, and returns ``(status, body)`` either way. The
in-process path needs only the standard library, so notebooks import this module in the
browser too::

    with ThreadedRestServer(rollout_service()) as server:
        old_client = RolloutClient(url=server.url)
        old_client.predict({"instances": [[...10 numbers...]]})   # -> Reply(200, {...})
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lesson.teaching.evolution import ROLLOUT_MODEL, http_status
from lesson.core.service import PredictionService

__all__ = ["RolloutClient", "Reply"]


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
        self.server: Any = None  # a lesson.servers.threaded.ThreadedRestServer once connected

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
        from lesson.servers.threaded import ThreadedRestServer  # noqa: PLC0415 - CPython only

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
