"""The servers compared, each started pinned to core 0 on a free loopback port.

* ``lesson``: ``lesson serve rest`` with the real model's registry (V1 and V2 routes).
* ``floor``: a minimal FastAPI endpoint, same forward pass (``peers/floor.py``, V1 only).
* ``kserve``: KServe's Python ``ModelServer`` as shipped (its logging config: one access-log
  line and one latency line per request); ``kserve-quiet``: the same without per-request logs
  (``--configure_logging false --enable_latency_logging false``, like the lesson's no access log).
* ``mlserver``: MLServer as shipped (``debug`` true: access log; ``parallel_workers`` 1:
  inference in a worker process behind a queue); ``mlserver-inline``: ``debug`` false,
  ``parallel_workers`` 0 (inference on the server's event loop, like the lesson's). V2 only.

gRPC: the KServe and MLServer variants also serve V2 gRPC (``ModelInfer``) on a second free
port (``Running.grpc_port``, ready when its ``ServerReady`` is true): KServe with
``--grpc_port`` (its gRPC server, patched to bind 127.0.0.1 instead of ``[::]``), MLServer with
``grpc_port`` in settings.json (it binds ``host``, 127.0.0.1). The lesson's gRPC server is a
separate process (``lesson serve grpc``, started by bench_peers); the floor has no gRPC. A peer
whose gRPC does not come up has ``grpc_port`` None and the reason in ``grpc_note``.

Peers run in their own venvs (``.cache/bench-venvs/<name>``, pinned, installed once) with
``PYTHONPATH=benchmarks/peers`` (``mlp_peer``: standard library + numpy; no ``lesson``).
Every server listens on 127.0.0.1 only (``loopback_only`` checks with ``ss -ltnp``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from peers.procs import (
    ROOT,
    VENVS,
    Unavailable,
    ensure_venv,
    free_port,
    group_pids,
    grpc_ready,
    pinned,
)
from peers.report import RECORD

_PIDS = re.compile(r"pid=(\d+)")
LOOPBACK = (
    "127.0.0.1",
    "[::1]",
    "[::ffff:127.0.0.1]",
)  # the last: gRPC's dual-stack socket bound to 127.0.0.1

# uvloop 0.22+ raises in asyncio.get_event_loop() without a running loop, which kills MLServer
# 1.7.1's parallel inference workers at start (mlserver/parallel/worker.py _ignore_signals).
PINS = {"mlserver": ["mlserver==1.7.1", "uvloop==0.21.0"], "kserve": ["kserve==0.21.0"]}
REGISTRY = "lesson.models.mlp_numpy:serving_registry"
PEERS_DIR = ROOT / "benchmarks" / "peers"
SPECS = {  # name -> (venv, protocols it speaks over REST)
    "lesson": (None, ("v1", "v2")),
    "floor": (None, ("v1",)),
    "kserve": ("kserve", ("v1", "v2")),
    "kserve-quiet": ("kserve", ("v1", "v2")),
    "mlserver": ("mlserver", ("v2",)),
    "mlserver-inline": ("mlserver", ("v2",)),
}
GRPC_READY_S = 60.0


@dataclass
class Running:
    name: str
    url: str
    pid: int
    protocols: tuple[str, ...]
    version: str
    grpc_port: int | None = None
    grpc_note: str = ""


def _peer_env() -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    }
    return dict(env, PYTHONPATH=str(PEERS_DIR), PYTHONUNBUFFERED="1")


def _mlserver_dir(name: str, port: int, grpc_port: int) -> Path:
    """MLServer's settings.json + diabetes-mlp/model-settings.json (ports; the variant's options)."""
    folder = VENVS.parent / "bench-peers" / f"{name}-{port}"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "diabetes-mlp").mkdir(parents=True)
    settings = {
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": grpc_port,
        "metrics_port": free_port(),
    }
    if name == "mlserver-inline":
        settings.update(debug=False, parallel_workers=0)
    (folder / "settings.json").write_text(json.dumps(settings))
    (folder / "diabetes-mlp" / "model-settings.json").write_text(
        json.dumps(
            {
                "name": "diabetes-mlp",
                "implementation": "mlserver_model.MLPRuntime",
                "parameters": {"version": "1"},
            }
        )
    )
    return folder


@contextmanager
def server(name: str) -> Iterator[Running]:
    """Start one of SPECS on core 0 and yield it once its ``/v2/health/ready`` answers 200."""
    venv_name, protocols = SPECS[name]
    port, grpc_port = free_port(), None
    url = f"http://127.0.0.1:{port}"
    if venv_name is None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(PEERS_DIR)]))
        if name == "lesson":
            cmd = [
                sys.executable,
                "-m",
                "lesson.servers.cli",
                "serve",
                "rest",
                "--port",
                str(port),
                "--registry",
                REGISTRY,
            ]
        else:
            cmd = [sys.executable, str(PEERS_DIR / "floor.py"), str(port)]
        version = "project venv"
        cwd = ROOT
    else:
        venv = ensure_venv(venv_name, PINS[venv_name])
        env, version, grpc_port = _peer_env(), PINS[venv_name][0], free_port()
        if venv_name == "kserve":
            cmd = [
                str(venv / "bin" / "python"),
                str(PEERS_DIR / "kserve_model.py"),
                "--http_port",
                str(port),
                "--grpc_port",
                str(grpc_port),
            ]
            if name == "kserve-quiet":
                cmd += ["--configure_logging", "false", "--enable_latency_logging", "false"]
            cwd = ROOT
        else:
            cwd = _mlserver_dir(name, port, grpc_port)
            cmd = [str(venv / "bin" / "mlserver"), "start", str(cwd)]
    with pinned(cmd, url + "/v2/health/ready", what=name, env=env, cwd=cwd, timeout_s=180) as proc:
        note = ""
        if grpc_port is not None:
            deadline = time.monotonic() + GRPC_READY_S
            while not grpc_ready(grpc_port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    note = (
                        f"its gRPC server on 127.0.0.1:{grpc_port} did not answer "
                        f"ServerReady within {GRPC_READY_S:g} s"
                    )
                    grpc_port = None
                    break
                time.sleep(0.2)
        yield Running(name, url, proc.pid, protocols, version, grpc_port, note)


def loopback_only(pids: list[int]) -> list[str]:
    """The listening sockets of ``pids`` (and their process groups) NOT on loopback, from ``ss -ltnp``."""
    wanted = {p for pid in pids for p in group_pids(pid)}
    out = subprocess.run(
        ["ss", "-ltnpH"], capture_output=True, text=True, timeout=10, check=True
    ).stdout
    bad = []
    for line in out.splitlines():
        fields = line.split()
        owners = {int(m) for m in _PIDS.findall(line)}
        address = fields[3].rsplit(":", 1)[0] if len(fields) > 3 else ""
        if owners & wanted and address not in LOOPBACK:
            bad.append(line.strip())
    return bad


@contextmanager
def servers(names: list[str]) -> Iterator[dict[str, Running]]:
    """Several servers side by side (runs alternate between them); a peer that cannot be
    installed is reported and left out."""
    with ExitStack() as stack:
        up = {}
        for name in names:
            try:
                up[name] = stack.enter_context(server(name))
                print(f"  {name}: ready at {up[name].url} ({up[name].version})", flush=True)
            except Unavailable as exc:
                print(f"  {name}: NOT RUN: {exc}", flush=True)
                RECORD.setdefault("not_run", {})[name] = str(exc)
        yield up
