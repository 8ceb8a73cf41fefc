"""The lesson's REST app scaled out on Ray Serve (the ``scale`` extra): replicas, autoscaling.

`RayServeOptions` (Ray's knobs), `RayServe` (a one-machine cluster on loopback that deploys the
app and stops cleanly) and ``lesson serve ray`` (`lesson.servers.ray_serve.cli`). Ray is
imported only when a cluster starts.
"""

from lesson.servers.ray_serve.cluster import RayServe, ray_descendants
from lesson.servers.ray_serve.deployment import REPLICA_HEADER, RayServeOptions

__all__ = ["REPLICA_HEADER", "RayServe", "RayServeOptions", "ray_descendants"]
