"""Processes for the peer benchmark: cached venvs, servers pinned to core 0, CPU contamination."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lesson.loadtest.outside.aiperf import Unavailable, ensure_tool_venv  # noqa: F401 - Unavailable re-exported for the peers

ROOT = Path(__file__).resolve().parents[2]
VENVS = ROOT / ".cache" / "bench-venvs"
SERVER_CORE, CLIENT_CORE = "0", "1"


def ensure_venv(name: str, pins: list[str]) -> Path:
    """``.cache/bench-venvs/<name>`` with exactly ``pins`` installed (cached: a rerun installs nothing)."""
    venv = VENVS / name
    return ensure_tool_venv(
        venv,
        pins,
        announce=lambda: print(
            f"  installing {' '.join(pins)} into {venv.relative_to(ROOT)} (once; cached afterwards)",
            flush=True,
        ),
    )


def free_port() -> int:
    """A loopback port that is free right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def grpc_ready(port: int) -> bool:
    import grpc

    from lesson.proto import inference_pb2 as pb
    from lesson.proto import inference_pb2_grpc as pb_grpc

    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            return (
                pb_grpc.GRPCInferenceServiceStub(channel)
                .ServerReady(pb.ServerReadyRequest(), timeout=1.0)
                .ready
            )
    except grpc.RpcError:
        return False


@contextmanager
def pinned(
    cmd: list[str],
    ready: str | int,
    *,
    what: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout_s: float = 120.0,
) -> Iterator[subprocess.Popen]:
    """Run ``cmd`` on the server core until ``ready`` answers (an HTTP URL giving 200, or a gRPC
    port whose ServerReady is true); always stop it (SIGTERM, then SIGKILL to its group)."""
    VENVS.parent.mkdir(parents=True, exist_ok=True)
    log = open(VENVS.parent / f"bench-peers-{what}.log", "w")
    proc = subprocess.Popen(
        ["taskset", "-c", SERVER_CORE, *cmd],
        env=env or dict(os.environ),
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout_s
        while not (http_ok(ready) if isinstance(ready, str) else grpc_ready(ready)):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = Path(log.name).read_text(errors="replace")[-1500:]
                raise RuntimeError(f"{what} did not become ready; its output ends:\n{tail}")
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, 9)  # workers a server left in its group (MLServer's inference pool)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
        log.close()


def group_pids(pid: int) -> list[int]:
    """``pid`` and every process in its session (a server's worker processes)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[3]) == pid or int(entry) == pid:  # same session (start_new_session)
                    out.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return out


class CpuWatch:
    """CPU used by everything but the server's process group and our children during a run (cores)."""

    LIMIT = 0.15

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid

    @staticmethod
    def _busy() -> float:
        with open("/proc/stat") as f:
            fields = [float(v) for v in f.readline().split()[1:]]
        return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")

    def _server(self) -> float:
        total = 0.0
        for pid in group_pids(self.server_pid):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    parts = f.read().rsplit(")", 1)[1].split()
                total += (float(parts[11]) + float(parts[12])) / os.sysconf("SC_CLK_TCK")
            except (OSError, IndexError):
                pass
        return total

    def __enter__(self) -> CpuWatch:
        import resource

        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.t0, self.busy0, self.server0 = time.monotonic(), self._busy(), self._server()
        self.children0 = usage.ru_utime + usage.ru_stime
        return self

    def __exit__(self, *exc: object) -> None:
        import resource

        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = max(time.monotonic() - self.t0, 1e-9)
        ours = (self._server() - self.server0) + (usage.ru_utime + usage.ru_stime - self.children0)
        self.server_cores = (self._server() - self.server0) / wall
        self.other_cores = max(0.0, (self._busy() - self.busy0 - ours) / wall)
        self.contaminated = self.other_cores > self.LIMIT
