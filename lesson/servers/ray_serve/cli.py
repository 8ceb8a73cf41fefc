"""``lesson serve ray``: the lesson's REST app on a one-machine Ray Serve cluster, until a signal.

    lesson serve ray --replicas 2
    lesson serve ray --min-replicas 0 --max-replicas 2 --target-ongoing 2 \\
        --upscale-delay-s 1 --downscale-delay-s 5

The flags are parsed by `lesson.servers.cli.serve`, which calls `serve_ray`.
"""

from __future__ import annotations

import signal
import threading

from lesson.servers.ray_serve.cluster import RayServe
from lesson.servers.ray_serve.deployment import RayServeOptions

__all__ = ["serve_ray"]


def serve_ray(options: RayServeOptions, port: int, num_cpus: int) -> int:
    """Start Ray and the deployment, print where it answers, stop on SIGINT/SIGTERM; exit code."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    ray_serve = RayServe(options, num_cpus=num_cpus, port=port)
    try:
        ray_serve.start()
        shape = (
            f"{options.min_replicas}..{options.max_replicas} replicas (autoscaling, target "
            f"{options.target_ongoing:g} in flight each)"
            if options.autoscaling
            else f"{options.replicas} replica(s)"
        )
        print(
            f"lesson serve ray: {shape} at {ray_serve.url} "
            f"(ready in {ray_serve.started_s:.1f} s; Ctrl-C stops)",
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    finally:
        ray_serve.stop()
    return 0
