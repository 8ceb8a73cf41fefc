"""The lesson's REST app as a Ray Serve deployment: the same routes, models and errors.

Each replica builds the app with `lesson.servers.rest.app.create_app` (the V1 and V2 routes, the
same validation and the same 4xx answers as ``lesson serve rest``): Ray Serve's HTTP proxy only
routes the request to a replica, which answers it with the lesson's own code. A small ASGI
wrapper adds the replica's id to every response (``x-ray-replica``), so a test or a learner can
see which replica answered.

`RayServeOptions` holds Ray's knobs: a fixed number of replicas, or autoscaling between
``min_replicas`` and ``max_replicas`` towards ``target_ongoing`` requests per replica; the
ingress bounds (``max_ongoing_requests`` per replica, ``max_queued_requests`` in the proxy, where
Ray answers 503 once the queue is full: the same shedding as the lesson's ``max_in_flight``);
and the autoscaler's delays (Ray's defaults: 30 s up, 600 s down, 30 s look-back).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["REPLICA_HEADER", "RayServeOptions", "build_deployment"]

#: the response header naming the replica that answered (its actor's name,
#: ``SERVE_REPLICA::<app>#<deployment>#<unique id>``)
REPLICA_HEADER = "x-ray-replica"
APP_NAME = "lesson"


@dataclass
class RayServeOptions:
    """Ray Serve's knobs for the lesson's deployment (CLI flags map onto them).

    Attributes:
        replicas: a fixed number of replicas (ignored when ``max_replicas`` is set).
        min_replicas, max_replicas: autoscaling bounds; ``max_replicas`` set turns autoscaling
            on. ``min_replicas`` 0 lets the deployment scale to zero (a cold start follows);
            ``initial_replicas`` is how many it starts with (default: ``min_replicas``).
        target_ongoing: the autoscaler's target of requests in flight per replica.
        max_ongoing_requests: requests one replica serves at once (Ray's default: 5); more
            wait in the proxy.
        max_queued_requests: requests waiting in the proxy before it answers 503 (-1: no
            bound, Ray's default).
        replica_cpus: CPUs Ray reserves per replica (the cluster has ``num_cpus`` in all).
        upscale_delay_s, downscale_delay_s, look_back_period_s: the autoscaler's timing
            (Ray's defaults 30, 600 and 30 s; the lesson's runs set them short and say so).
        metrics_interval_s: how often the proxy's handle pushes the requests it holds to the
            autoscaler (Ray's default 10 s). Ray 2.60 calls the field deprecated (a warning)
            but still pushes on it; the replicas' push is the cluster's (`RayServe`'s
            ``metrics_push_s``). The look-back must be longer than this interval.
        server: the lesson's server options (`lesson.servers.options.ServerOptions` fields).
    """

    replicas: int = 1
    min_replicas: int = 1
    max_replicas: int | None = None
    initial_replicas: int | None = None
    target_ongoing: float = 2.0
    max_ongoing_requests: int = 5
    max_queued_requests: int = -1
    replica_cpus: float = 0.5
    upscale_delay_s: float = 30.0
    downscale_delay_s: float = 600.0
    look_back_period_s: float = 30.0
    metrics_interval_s: float = 10.0
    server: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.replicas <= 64:
            raise ValueError(f"replicas must be in 1..64, got {self.replicas}")
        if self.max_replicas is not None:
            if not 1 <= self.max_replicas <= 64:
                raise ValueError(f"max_replicas must be in 1..64, got {self.max_replicas}")
            if not 0 <= self.min_replicas <= self.max_replicas:
                raise ValueError(
                    f"min_replicas must be in 0..max_replicas ({self.max_replicas}), "
                    f"got {self.min_replicas}"
                )
            initial = self.initial_replicas
            if initial is not None and not self.min_replicas <= initial <= self.max_replicas:
                raise ValueError(
                    f"initial_replicas must be in min_replicas..max_replicas, got {initial}"
                )
        if not 0 < self.target_ongoing <= 1000:
            raise ValueError(f"target_ongoing must be in (0, 1000], got {self.target_ongoing}")
        if not 1 <= self.max_ongoing_requests <= 10_000:
            raise ValueError(
                f"max_ongoing_requests must be in 1..10000, got {self.max_ongoing_requests}"
            )
        if self.max_queued_requests != -1 and not 0 <= self.max_queued_requests <= 100_000:
            raise ValueError(
                f"max_queued_requests must be -1 (no bound) or 0..100000, "
                f"got {self.max_queued_requests}"
            )
        if not 0 < self.replica_cpus <= 64:
            raise ValueError(f"replica_cpus must be in (0, 64], got {self.replica_cpus}")
        for name in ("upscale_delay_s", "downscale_delay_s", "look_back_period_s"):
            if not 0 <= getattr(self, name) <= 3600:
                raise ValueError(f"{name} must be in [0, 3600], got {getattr(self, name)}")
        if not 0 < self.metrics_interval_s < max(self.look_back_period_s, 1e-9):
            raise ValueError(
                f"metrics_interval_s must be > 0 and shorter than look_back_period_s "
                f"({self.look_back_period_s}), got {self.metrics_interval_s}"
            )

    @property
    def autoscaling(self) -> bool:
        return self.max_replicas is not None

    def autoscaling_config(self) -> dict[str, Any]:
        """Ray Serve's ``autoscaling_config`` for these options."""
        return {
            "min_replicas": self.min_replicas,
            "max_replicas": self.max_replicas,
            "initial_replicas": self.initial_replicas,
            "target_ongoing_requests": self.target_ongoing,
            "upscale_delay_s": self.upscale_delay_s,
            "downscale_delay_s": self.downscale_delay_s,
            "look_back_period_s": self.look_back_period_s,
            "metrics_interval_s": self.metrics_interval_s,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _ReplicaHeader:
    """Pure ASGI wrapper: adds ``x-ray-replica: <id>`` to every HTTP response."""

    def __init__(self, app: Any, replica: str) -> None:
        self.app = app
        self.header = (REPLICA_HEADER.encode(), replica.encode())

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), self.header]
            await send(message)

        await self.app(scope, receive, send_with_header)


class LessonIngress:
    """One replica: builds the lesson's REST app from the server options it was bound with."""

    def __init__(self, server: dict[str, Any]) -> None:
        self.server = server
        _replica_grpc_on_loopback()

    def __serve_build_asgi_app__(self) -> Any:
        from ray import serve

        from lesson.servers.options import ServerOptions
        from lesson.servers.rest.app import create_app

        app = create_app(options=ServerOptions.from_dict(self.server))
        replica = serve.get_replica_context().replica_id.to_full_id_str()
        # the app's lifespan (warm-up, readiness, shutdown) still runs: Ray Serve drives the
        # lifespan of the ASGI app it is given, and the wrapper passes lifespan scopes through
        return _ReplicaHeader(app, replica)


def _replica_grpc_on_loopback() -> None:
    """Bind this replica's inter-deployment gRPC server to 127.0.0.1, not every interface.

    Ray Serve 2.60 starts it on ``[::]:0`` (hard-coded in ``ray.serve._private.replica``) once
    the replica's constructor has run; this wraps the helper it calls so the address becomes
    loopback (the lesson's cluster is one machine). A Ray without that helper is left alone;
    the tests check every listening socket of the cluster is on 127.0.0.1.
    """
    from ray.serve._private import replica

    original = getattr(replica, "add_port_to_grpc_server", None)
    if original is None or getattr(original, "loopback", False):
        return

    def on_loopback(server: Any, address: str) -> int:
        return original(server, address.replace("[::]", "127.0.0.1"))

    on_loopback.loopback = True  # type: ignore[attr-defined]
    replica.add_port_to_grpc_server = on_loopback


def build_deployment(options: RayServeOptions) -> Any:
    """The bound Ray Serve application (``serve.run(build_deployment(options))``)."""
    from ray import serve

    settings: dict[str, Any] = {
        "name": APP_NAME,
        "max_ongoing_requests": options.max_ongoing_requests,
        "max_queued_requests": options.max_queued_requests,
        "ray_actor_options": {"num_cpus": options.replica_cpus},
        # a stuck replica is replaced: Ray pings each replica (the default period is 10 s)
        "health_check_period_s": 2.0,
        "health_check_timeout_s": 10.0,
        "graceful_shutdown_timeout_s": 5.0,
    }
    if options.autoscaling:
        settings["autoscaling_config"] = options.autoscaling_config()
    else:
        settings["num_replicas"] = options.replicas
    ingress = serve.deployment(**settings)(serve.ingress()(LessonIngress))
    return ingress.bind(options.server)
