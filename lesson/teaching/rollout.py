"""Call a :class:`~lesson.teaching.evolution.VersionedService` like a client, over HTTP or in-process.

:class:`RolloutClient` sends the same bodies either over a real socket (the service served by
:class:`lesson.servers.threaded.ThreadedRestServer`, CPython) or, where there are no sockets
(the browser), to the service in-process, and returns ``(status, body)`` either way. The
in-process path needs only the standard library, so notebooks import this module in the
browser too::

    with ThreadedRestServer(rollout_service()) as server:
        old_client = RolloutClient(url=server.url)
        old_client.predict({"instances": [[...10 numbers...]]})   # -> Reply(200, {...})

A :class:`Canary` pins a stable share of users (by a sha256 bucket) to a candidate version;
:class:`CanaryEndpoint` sends each user's request through it (a load-test endpoint), records
who got which version, and with a :class:`CanaryGuard` rolls back when the candidate's errors
exceed a budget.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lesson.core.service import PredictionService
from lesson.teaching.evolution import ROLLOUT_MODEL, http_status


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
        text = (
            f"{self.status} prediction {self.body['predictions'][0]:.2f} from model v{meta.get('model_version')}"
            f" (contract v{meta.get('contract_version', '?')})"
        )
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

    def __init__(
        self,
        url: str | None = None,
        *,
        service: PredictionService | None = None,
        model: str = ROLLOUT_MODEL,
        timeout_s: float = 10.0,
    ) -> None:
        if url is None and service is None:
            raise ValueError("give a url (a real server) or a service (in-process)")
        self.url = url
        self.service = service
        self.model = model
        self.timeout_s = timeout_s
        self.server: Any = None  # a lesson.servers.threaded.ThreadedRestServer once connected

    @classmethod
    def connect(cls, service: PredictionService, *, over_http: bool) -> RolloutClient:
        """A client of ``service``: behind a real REST server on loopback, or in-process.

        Args:
            service: what to serve.
            over_http: start :class:`ThreadedRestServer` (CPython); False calls it directly
                (the browser). :meth:`close` stops the server.
        """
        if not over_http:
            return cls(service=service)
        from lesson.servers.threaded import ThreadedRestServer

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

    def __enter__(self) -> RolloutClient:
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
            except Exception as exc:  # shown as the status the route answers
                return Reply(http_status(exc), {"error": str(exc)})
        import urllib.error
        import urllib.request

        request = urllib.request.Request(
            self.url + self.route(version),
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as reply:
                return Reply(reply.status, json.loads(reply.read()))
        except urllib.error.HTTPError as error:
            return Reply(error.code, json.loads(error.read() or b"{}"))


# ---- a canary: a stable share of users on the candidate version, a guard, a rollback ----------

#: Users are hashed into this many buckets; a share of 10 % is buckets 0..999.
BUCKETS = 10_000


def bucket(user: str, salt: str = "") -> int:
    """The user's bucket in ``0..BUCKETS-1``, the same in every process (sha256, not ``hash()``).

    Python salts ``hash()`` of strings per process, so two replicas (or a restart) would put
    one user on different arms; a digest does not.
    """
    if not isinstance(user, str):
        raise TypeError(f"user must be a str, got {type(user).__name__}")
    digest = hashlib.sha256(f"{salt}:{user}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


@dataclass
class Canary:
    """Which version answers which user: ``share`` of the users (by bucket) get ``candidate``.

    A user's arm depends only on their bucket, so a user stays on one arm while the share is
    unchanged, and widening the share only moves users from stable to candidate.

    Attributes:
        stable: the version everyone else gets.
        candidate: the version under test.
        share: the configured fraction of users on the candidate, 0..1.
        salt: mixed into the hash, so two canaries do not pick the same users.
    """

    stable: str
    candidate: str
    share: float
    salt: str = "canary"

    def __post_init__(self) -> None:
        if self.stable == self.candidate:
            raise ValueError(f"stable and candidate are both version {self.stable!r}")
        self.set_share(self.share)

    def set_share(self, share: float) -> None:
        """Widen or narrow the canary (``ValueError`` outside 0..1)."""
        if (
            isinstance(share, bool)
            or not isinstance(share, (int, float))
            or not 0.0 <= share <= 1.0
        ):
            raise ValueError(f"share must be a number in [0, 1], got {share!r}")
        self.share = float(share)

    def arm(self, user: str) -> str:
        """``"candidate"`` or ``"stable"`` for this user."""
        return "candidate" if bucket(user, self.salt) < round(self.share * BUCKETS) else "stable"

    def version_for(self, user: str) -> str:
        """The model version this user's requests are pinned to."""
        return self.candidate if self.arm(user) == "candidate" else self.stable

    def rollback(self) -> None:
        """Send every user to the stable version again."""
        self.share = 0.0


@dataclass(frozen=True)
class CanaryGuard:
    """When to give up on a candidate: its error rate over at least ``min_requests`` requests.

    Attributes:
        max_error_rate: the candidate's error budget (0.05: more than 5 % failed answers rolls back).
        min_requests: decide nothing before the candidate has answered this many.
    """

    max_error_rate: float = 0.05
    min_requests: int = 20

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_error_rate < 1.0:
            raise ValueError(f"max_error_rate must be in [0, 1), got {self.max_error_rate!r}")
        if self.min_requests < 1:
            raise ValueError(f"min_requests must be at least 1, got {self.min_requests!r}")

    def verdict(self, requests: int, errors: int) -> str:
        """``"wait"`` (too few requests), ``"rollback"`` or ``"healthy"``."""
        if requests < self.min_requests:
            return "wait"
        return "rollback" if errors / requests > self.max_error_rate else "healthy"


class RequestRejected(RuntimeError):
    """The server answered a status outside 2xx (the load harness counts it as an error)."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.describe())
        self.status = reply.status


@dataclass(frozen=True)
class Outcome:
    """One request through a canary: who sent it, which version answered, and how."""

    index: int
    user: str
    client: str
    share: float
    arm: str
    version: str
    status: int
    latency_s: float


class CanaryEndpoint:
    """``payload -> response`` through a :class:`Canary`: each call is the next user's request.

    Users take turns from ``users``; each request is pinned to the version the canary picks
    for its user. ``kind_of(user)`` says whether the user runs the ``"old"`` client (sends
    only ``instances``) or the ``"new"`` one (adds ``request_id``). With a ``guard``, the
    endpoint rolls the canary back the moment the candidate's errors exceed the budget.
    Thread-safe (the load harness calls it from several threads).
    """

    def __init__(
        self,
        client: RolloutClient,
        canary: Canary,
        users: Sequence[str],
        *,
        guard: CanaryGuard | None = None,
        kind_of: Callable[[str], str] | None = None,
    ) -> None:
        if not users:
            raise ValueError("users must not be empty")
        self.client, self.canary, self.users, self.guard = client, canary, list(users), guard
        self.kind_of = kind_of or (lambda user: "old")
        self.outcomes: list[Outcome] = []
        #: The request whose answer tripped the guard, counted from 1 ("request 196 of 600").
        self.rolled_back_at: int | None = None
        #: How many requests had been routed when the guard rolled back: these ran at the old
        #: share (the tripping one included, and under concurrency any still in flight).
        self.routed_before_rollback: int | None = None
        self._next = itertools.count()
        self._routed = 0
        self._lock = threading.Lock()

    def __call__(self, payload: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            index = next(self._next)
            self._routed = index + 1
            user = self.users[index % len(self.users)]
            share, arm = self.canary.share, self.canary.arm(user)
            version = self.canary.version_for(user)
        kind = self.kind_of(user)
        body = dict(payload, request_id=f"{user}-{index}") if kind == "new" else payload
        start = time.perf_counter()
        reply = self.client.predict(body, version=version)
        latency = time.perf_counter() - start
        with self._lock:
            self.outcomes.append(
                Outcome(index, user, kind, share, arm, version, reply.status, latency)
            )
            self._apply_guard(index)
        if not reply.ok:
            raise RequestRejected(reply)
        return reply.body

    def _apply_guard(self, index: int) -> None:
        if self.guard is None or self.rolled_back_at is not None or self.canary.share == 0:
            return
        tried = [o for o in self.outcomes if o.arm == "candidate"]
        errors = sum(not 200 <= o.status < 300 for o in tried)
        if self.guard.verdict(len(tried), errors) == "rollback":
            self.canary.rollback()
            self.rolled_back_at = index + 1  # outcomes index from 0; people count requests from 1
            self.routed_before_rollback = self._routed

    def after_rollback(self) -> list[Outcome]:
        """The outcomes of the requests routed after the rollback (empty if there was none)."""
        if self.routed_before_rollback is None:
            return []
        return [o for o in self.outcomes if o.index >= self.routed_before_rollback]

    def rollback_sentence(self) -> str:
        """Where the guard rolled back and what happened after, in one sentence computed from the record.

        The counts add up: the requests routed before the rollback plus those routed after it
        are every request the endpoint sent.
        """
        total = len(self.outcomes)
        if self.rolled_back_at is None or self.routed_before_rollback is None:
            return f"The guard did not roll back in {total} requests."
        after = self.after_rollback()
        failed = sum(not 200 <= o.status < 300 for o in after)
        before = self.routed_before_rollback
        in_flight = (
            f"; {before - self.rolled_back_at} more were already routed at the old share"
            if before > self.rolled_back_at
            else ""
        )
        return (
            f"The guard rolled back when request {self.rolled_back_at} of {total} answered{in_flight}; "
            f"of the {len(after)} requests routed after the rollback, {failed} failed."
        )

    def send(self, payloads: Sequence[dict[str, Any]]) -> list[Outcome]:
        """Send ``payloads`` one after another (rejections are recorded, not raised)."""
        first = len(self.outcomes)
        for payload in payloads:
            try:
                self(payload)
            except RequestRejected:
                pass
        return self.outcomes[first:]


def arm_summary(outcomes: Sequence[Outcome], *, clock_tick_s: float = 0.0) -> list[dict[str, Any]]:
    """One row per (configured share, arm): requests, measured share, errors, statuses, median latency.

    A median below ``clock_tick_s`` (the browser's clock ticks in 100 µs steps) is reported as
    below the tick rather than as a number the clock cannot resolve.
    """
    rows: list[dict[str, Any]] = []
    first: dict[float, int] = {}
    for o in outcomes:
        first[o.share] = min(first.get(o.share, o.index), o.index)
    for share in sorted(first, key=first.__getitem__):  # in the order the shares were configured
        phase = [o for o in outcomes if o.share == share]
        for arm in ("stable", "candidate"):
            mine = [o for o in phase if o.arm == arm]
            if not mine:
                continue
            statuses: dict[int, int] = {}
            for o in mine:
                statuses[o.status] = statuses.get(o.status, 0) + 1
            median = sorted(o.latency_s for o in mine)[len(mine) // 2]
            rows.append(
                {
                    "canary share configured": f"{share:.0%}",
                    "arm": arm,
                    "version": "/".join(sorted({o.version for o in mine})),
                    "requests": len(mine),
                    "share measured": f"{len(mine) / len(phase):.1%}",
                    "errors": sum(not 200 <= o.status < 300 for o in mine),
                    "statuses": ", ".join(f"{n}x {s}" for s, n in sorted(statuses.items())),
                    "median ms": round(median * 1000, 2)
                    if median >= clock_tick_s
                    else f"< {clock_tick_s * 1000:g}",
                }
            )
    return rows


def users_on_both_arms(outcomes: Sequence[Outcome]) -> int:
    """How many users were answered by both versions at one configured share (0: sticky)."""
    seen: dict[tuple[float, str], set[str]] = {}
    for o in outcomes:
        seen.setdefault((o.share, o.user), set()).add(o.version)
    return sum(len(versions) > 1 for versions in seen.values())
