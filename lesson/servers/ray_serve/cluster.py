"""A one-machine Ray cluster running the lesson's deployment, started and stopped by the project.

    >>> from lesson.servers.ray_serve import RayServe, RayServeOptions
    >>> with RayServe(RayServeOptions(replicas=2)) as ray_serve:   # doctest: +SKIP
    ...     print(ray_serve.url, ray_serve.running_replicas())
    http://127.0.0.1:41231 2

Everything listens on loopback only: Ray turns a ``127.0.0.1`` node address into the machine's
outside address on Linux unless ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (then the GCS, the
raylet, the workers and the agents bind 127.0.0.1), the replicas' own gRPC servers are moved
off ``[::]`` (`lesson.servers.ray_serve.deployment`), and the HTTP proxy gets
``host="127.0.0.1"``; the tests check every listening socket of the cluster's processes.
The dashboard is off, usage statistics are off and ``num_cpus`` is set (Ray would otherwise
take every core it sees). `RayServe.stop` shuts Serve down, then Ray; `ray_descendants` lists
what is left of the processes it started.
"""

from __future__ import annotations

import importlib.util
import os
import time
import warnings
from pathlib import Path
from typing import Any

from lesson.servers.launch import free_port
from lesson.servers.ray_serve.deployment import APP_NAME, RayServeOptions, build_deployment

__all__ = ["RAY_ENV", "RayServe", "descendants", "ray_descendants"]

#: set before Ray starts: no usage statistics, and a loopback node address kept as it is
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
_REPLICA_ACTOR = "SERVE_REPLICA::"


class RayServe:
    """Ray on this machine (``num_cpus`` CPUs, loopback) serving the lesson's REST app.

    Args:
        options: replicas, autoscaling and ingress bounds (`RayServeOptions`).
        num_cpus: CPUs Ray may schedule on (replicas reserve ``options.replica_cpus`` each).
        port: the HTTP proxy's port on 127.0.0.1 (default: a free one).
        metrics_push_s: how often replicas and the proxy report their requests in flight to
            the autoscaler (Ray's default: 10 s; set for the whole cluster when it starts).
    """

    def __init__(
        self,
        options: RayServeOptions | None = None,
        *,
        num_cpus: int = 2,
        port: int | None = None,
        metrics_push_s: float = 10.0,
    ) -> None:
        if not 1 <= num_cpus <= 256:
            raise ValueError(f"num_cpus must be in 1..256, got {num_cpus}")
        if not 0 < metrics_push_s <= 60:
            raise ValueError(f"metrics_push_s must be in (0, 60], got {metrics_push_s}")
        self.metrics_push_s = metrics_push_s
        self.options = options or RayServeOptions()
        self.num_cpus = num_cpus
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.started_s: float | None = None  # seconds from ray.init to the app ready
        self._ray: Any = None

    def start(self) -> RayServe:
        """Start Ray and Serve, deploy, and wait until the app answers (Ray's own wait)."""
        push = str(self.metrics_push_s)
        os.environ.update(RAY_ENV)  # read by the processes Ray starts
        os.environ["RAY_SERVE_REPLICA_AUTOSCALING_METRIC_PUSH_INTERVAL_S"] = push
        os.environ["RAY_SERVE_HANDLE_AUTOSCALING_METRIC_PUSH_INTERVAL_S"] = push
        import ray
        from ray import serve
        from ray._private import ray_constants

        # ...and by this one once, when ray is first imported: if that was before, say it again
        ray_constants.ENABLE_RAY_CLUSTER = False

        began = time.perf_counter()
        ray.init(
            num_cpus=self.num_cpus,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            log_to_driver=False,
            logging_level="WARNING",
        )
        self._ray = ray
        try:
            serve.start(http_options={"host": "127.0.0.1", "port": self.port})
            self.deploy(self.options)
        except BaseException:
            self.stop()
            raise
        self.started_s = time.perf_counter() - began
        return self

    def deploy(self, options: RayServeOptions) -> float:
        """Deploy (or redeploy, on the running cluster) with these options; seconds until Ray
        reports the app ready."""
        from ray import serve

        began = time.perf_counter()
        with warnings.catch_warnings():  # Ray 2.60 calls the field deprecated yet pushes on it
            warnings.filterwarnings("ignore", "The `metrics_interval_s` field", DeprecationWarning)
            serve.run(build_deployment(options), name=APP_NAME, route_prefix="/")
        self.options = options
        return time.perf_counter() - began

    def replica_states(self) -> dict[str, int]:
        """Replicas by state (``RUNNING``, ``STARTING``, ``STOPPING``...), from Serve's status."""
        from ray import serve

        app = serve.status().applications.get(APP_NAME)
        if app is None:
            return {}
        deployment = app.deployments.get(APP_NAME)
        if deployment is None:
            return {}
        return {str(getattr(k, "value", k)): v for k, v in deployment.replica_states.items()}

    def running_replicas(self) -> int:
        return self.replica_states().get("RUNNING", 0)

    def wait_for_replicas(self, count: int, timeout_s: float = 60.0) -> float:
        """Wait until exactly `count` replicas run; the seconds it took.

        Raises:
            TimeoutError: not reached within `timeout_s`.
        """
        began = time.perf_counter()
        while time.perf_counter() - began < timeout_s:
            if self.running_replicas() == count:
                return time.perf_counter() - began
            time.sleep(0.1)
        raise TimeoutError(
            f"{count} running replicas not reached in {timeout_s} s: {self.replica_states()}"
        )

    def replica_ids(self) -> list[str]:
        """The live replicas' actor names (as in the ``x-ray-replica`` header)."""
        from ray.util import list_named_actors

        names = [a["name"] for a in list_named_actors(all_namespaces=True)]
        return sorted(n for n in names if n.startswith(_REPLICA_ACTOR))

    def kill_replica(self, replica_id: str) -> None:
        """Kill one replica's process at once (``ray.kill``: no graceful shutdown), as a crash
        would; Serve notices and starts a replacement."""
        import ray

        ray.kill(ray.get_actor(replica_id, namespace="serve"), no_restart=True)

    def stop(self) -> None:
        """Shut Serve down, then Ray (their processes exit; see `ray_descendants`)."""
        if self._ray is None:
            return
        from ray import serve

        try:
            serve.shutdown()
        finally:
            self._ray.shutdown()
            self._ray = None

    def __enter__(self) -> RayServe:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (children, their children...), read from ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":  # a zombie has exited
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def ray_descendants(pid: int | None = None) -> dict[int, str]:
    """The Ray processes below `pid` (default: this one): raylet, gcs_server, ``ray::`` workers
    and agents, by pid, with their command lines."""
    spec = importlib.util.find_spec("ray")
    package = spec.submodule_search_locations[0] if spec and spec.submodule_search_locations else ""
    marks = ("raylet", "gcs_server", "ray::", *((package,) if package else ()))
    left = {}
    for child in descendants(os.getpid() if pid is None else pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if any(mark in cmdline for mark in marks):
            left[child] = cmdline.strip()
    return left
