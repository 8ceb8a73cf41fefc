"""Start a real server in a subprocess on a free loopback port, and always stop it.

    >>> from lesson.servers.launch import running_server
    >>> with running_server("rest") as server:          # doctest: +SKIP
    ...     print(server.url)                            # http://127.0.0.1:PORT
    >>> with running_server("grpc", max_in_flight=8) as server:  # doctest: +SKIP
    ...     print(server.url)                            # grpc://127.0.0.1:PORT

The context manager waits until the server reports ready (models loaded and warmed), and
on exit — normal or by an exception — sends SIGTERM (the server drains and exits 0), then
SIGKILL to the whole process group if it does not stop in time. On Linux the child also
gets SIGTERM if the parent dies (`serve.die_with_parent`), so no orphan outlives a crashed
notebook kernel. (Linux ties that signal to the THREAD that started the server: start servers
from a thread that lives as long as they should, e.g. the main thread.)
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lesson.servers.options import ServerOptions

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
_LIVE: dict[int, subprocess.Popen] = {}
_LOGS: list[str] = []  # servers' output files, removed when this interpreter exits


@dataclass
class ServerHandle:
    """A running server: where it listens and which process it is."""

    kind: str
    host: str
    port: int
    url: str
    pid: int
    log_path: str = ""
    process: subprocess.Popen | None = field(default=None, repr=False)

    def log(self) -> str:
        """What the server printed so far."""
        try:
            return Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free right now on `host`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _command(
    kind: str, host: str, port: int, model: str | None, options: dict[str, Any]
) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "lesson.servers.cli",
        "serve",
        kind,
        "--host",
        host,
        "--port",
        str(port),
    ]
    if model is not None:
        cmd += ["--model", model]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            cmd.append(flag if value else "--no-" + key.replace("_", "-"))
        elif value is not None:
            cmd += [flag, str(value)]
    return cmd


def _is_ready(kind: str, host: str, port: int, what: str = "ready") -> bool:
    if kind in ("rest", "llm"):
        try:
            with urllib.request.urlopen(
                f"http://{host}:{port}/v2/health/{what}", timeout=1.0
            ) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False
    import grpc

    from lesson.proto import inference_pb2 as pb
    from lesson.proto import inference_pb2_grpc as pb_grpc

    try:
        with grpc.insecure_channel(f"{host}:{port}") as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            if what == "live":
                return stub.ServerLive(pb.ServerLiveRequest(), timeout=1.0).live
            return stub.ServerReady(pb.ServerReadyRequest(), timeout=1.0).ready
    except grpc.RpcError:
        return False


def stop_process(process: subprocess.Popen, timeout: float = STOP_TIMEOUT_S) -> int | None:
    """SIGTERM (drain), wait, then SIGKILL the process group. Returns the exit code."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # anything the server left in its group
    try:
        return process.wait(5)
    except subprocess.TimeoutExpired:
        return None
    finally:
        _LIVE.pop(process.pid, None)


@atexit.register
def _stop_all() -> None:
    for process in list(_LIVE.values()):
        stop_process(process, timeout=3.0)
    for path in _LOGS:
        with contextlib.suppress(OSError):
            os.unlink(path)


def start_server(
    kind: str,
    *,
    model: str | None = None,
    port: int | None = None,
    host: str = "127.0.0.1",
    ready_timeout: float = READY_TIMEOUT_S,
    env: dict[str, str] | None = None,
    wait_for: str = "ready",
    **options: Any,
) -> ServerHandle:
    """Start a server subprocess and wait until it is ready (or only live; see `running_server`)."""
    if kind not in ("rest", "grpc", "llm"):
        raise ValueError(f"kind must be 'rest', 'grpc' or 'llm', got {kind!r}")
    if wait_for not in ("ready", "live"):
        raise ValueError(f"wait_for must be 'ready' or 'live', got {wait_for!r}")
    if kind == "llm":  # fail fast on a bad option, in this process
        from lesson.servers.llm.options import LLMOptions

        LLMOptions.from_dict(dict(options, model=model))
    else:
        ServerOptions.from_dict(dict(options, model=model))
    attempts = 1 if port is not None else 3
    last_error = ""
    for _ in range(attempts):
        chosen = port if port is not None else free_port(host)
        log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - the child writes it; closed on stop
            prefix=f"lesson-{kind}-", suffix=".log", delete=False
        )
        child_env = dict(
            os.environ, PYTHONUNBUFFERED="1", LESSON_PARENT_PID=str(os.getpid()), **(env or {})
        )
        root = str(Path(__file__).resolve().parents[2])
        child_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (root, child_env.get("PYTHONPATH", "")) if p
        )
        process = subprocess.Popen(
            _command(kind, host, chosen, model, options),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_env,
            start_new_session=True,
        )
        log.close()
        _LOGS.append(log.name)
        _LIVE[process.pid] = process
        scheme = "grpc" if kind == "grpc" else "http"
        handle = ServerHandle(
            kind, host, chosen, f"{scheme}://{host}:{chosen}", process.pid, log.name, process
        )
        deadline = time.monotonic() + ready_timeout
        try:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    break
                if _is_ready(kind, host, chosen, wait_for):
                    return handle
                time.sleep(0.05)
        except BaseException:  # e.g. KeyboardInterrupt in a notebook: never leave it running
            stop_process(process, timeout=3.0)
            raise
        code = process.poll()
        stop_process(process, timeout=3.0)
        what = (
            f"exited with status {code}"
            if code is not None
            else f"was not {wait_for} within {ready_timeout} s"
        )
        last_error = f"the {kind} server {what}; its output:\n{handle.log()[-3000:]}"
        if "address already in use" not in last_error.lower():
            break
    raise RuntimeError(last_error)


@contextlib.contextmanager
def running_server(
    kind: str, *, model: str | None = None, port: int | None = None, **options: Any
) -> Iterator[ServerHandle]:
    """Run a `lesson serve` subprocess for the duration of a `with` block.

    Args:
        kind: "rest", "grpc" or "llm" (the generative server, `LLMOptions` fields).
        model: the default model's name (None: the registry's default).
        port: a fixed port (None: a free one).
        **options: `ServerOptions` fields (`max_in_flight=4`, `offload=True`,
            `registry="pkg.mod:attr"`, `drain_grace_s=1.0`, ...), plus `host`,
            `ready_timeout`, `env` (extra environment variables) and `wait_for`
            ("ready", the default, or "live": return before warm-up ends).

    Yields:
        The `ServerHandle` (`.url`, `.port`, `.pid`, `.log()`).
    """
    handle = start_server(kind, model=model, port=port, **options)
    try:
        yield handle
    finally:
        if handle.process is not None:
            stop_process(handle.process)
