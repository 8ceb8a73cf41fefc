"""A real message broker for the streaming pattern: Debian's ``redis-server`` on loopback.

The project starts its own Redis on a free ``127.0.0.1`` port with a temporary data folder and
an append-only file (every write is logged and fsynced once a second), and always stops it::

    with running_broker() as broker:       # tests and notebooks
        print(broker.url)                  # redis://127.0.0.1:PORT

    lesson broker start                    # from a shell: records the address for `lesson stream`
    lesson broker stop

A broker started by ``running_broker`` (or :func:`start_broker`) gets SIGTERM when the
process that started it dies (Linux), so none outlives a crashed kernel or test run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

from lesson.patterns.streaming.broker_state import clear_state, read_state, write_state
from lesson.servers import daemon

__all__ = [
    "BrokerHandle",
    "BrokerUnavailableError",
    "start_broker",
    "stop_broker",
    "running_broker",
    "ping",
]

READY_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0


class BrokerUnavailableError(RuntimeError):
    """``redis-server`` is missing or did not start; the message says why and what to do."""


@dataclass
class BrokerHandle:
    """A running broker: its address, process and data folder."""

    host: str
    port: int
    pid: int
    directory: str
    process: subprocess.Popen | None = field(default=None, repr=False)
    owns_directory: bool = field(default=True, repr=False)

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}"


def ping(host: str, port: int, timeout: float = 1.0) -> bool:
    """True if a Redis server answers PING at ``host:port`` (RESP over a plain socket)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_broker(
    *,
    port: int | None = None,
    directory: str | None = None,
    detached: bool = False,
    appendfsync: str = "everysec",
) -> BrokerHandle:
    """Start ``redis-server`` on 127.0.0.1 and wait until it answers.

    Args:
        port: None picks a free port.
        directory: the data folder (append-only file, log); None makes a temporary one,
            removed when the broker stops.
        detached: outlive this process (``lesson broker start``); otherwise it dies with it.
        appendfsync: ``everysec`` (the default: at most a second of writes lost on a power cut),
            ``always`` or ``no``.

    Raises:
        BrokerUnavailableError: redis-server is not installed, or it exited or did not answer.
    """
    exe = shutil.which("redis-server")
    if exe is None:
        raise BrokerUnavailableError(
            "redis-server is not installed (Debian: apt-get install -y redis-server; "
            "`make test` installs it)"
        )
    if appendfsync not in ("everysec", "always", "no"):
        raise ValueError(f"appendfsync must be everysec, always or no, got {appendfsync!r}")
    host = "127.0.0.1"
    port = port or daemon.free_port(host)
    owns = directory is None
    directory = directory or tempfile.mkdtemp(prefix="lesson-broker-")
    cmd = [
        exe,
        "--port",
        str(port),
        "--bind",
        host,
        "--protected-mode",
        "yes",
        "--dir",
        directory,
        "--appendonly",
        "yes",
        "--appendfsync",
        appendfsync,
        "--save",
        "",
        "--daemonize",
        "no",
        "--logfile",
        os.path.join(directory, "redis.log"),
    ]
    process = daemon.spawn(cmd, detached=detached)
    handle = BrokerHandle(host, port, process.pid, directory, process, owns)
    if not daemon.wait_ready(lambda: ping(host, port), process, READY_TIMEOUT_S):
        log = daemon.tail(os.path.join(directory, "redis.log"))
        stop_broker(handle)
        raise BrokerUnavailableError(
            f"redis-server on {host}:{port} did not start: {log or 'no log'}"
        )
    if not detached:
        daemon.track(process.pid, lambda: stop_broker(handle, timeout=3.0))
    return handle


def stop_broker(handle: BrokerHandle, timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM (Redis flushes its append-only file and exits), then SIGKILL; remove a temporary folder."""
    daemon.stop_process(handle.pid, handle.process, timeout)
    if handle.owns_directory:
        shutil.rmtree(handle.directory, ignore_errors=True)


@contextlib.contextmanager
def running_broker(**options) -> Iterator[BrokerHandle]:
    """A broker for the ``with`` block (see :func:`start_broker` for the options)."""
    handle = start_broker(**options)
    try:
        yield handle
    finally:
        stop_broker(handle)


# ---- `lesson broker start|stop|status` -----------------------------------------------------
def start_command(port: int | None = None) -> int:
    """Start a detached broker and record its address for `lesson stream`; prints the URL."""
    state = read_state()
    if state is not None:
        print(
            f"a broker is already running at {state['url']} (pid {state['pid']}); `lesson broker stop` first"
        )
        return 1
    handle = start_broker(port=port, detached=True)
    write_state(handle.url, handle.pid, handle.directory)
    print(handle.url)
    return 0


def stop_command() -> int:
    """Stop the recorded broker and remove its data folder."""
    state = read_state()
    if state is None:
        print("no broker is running (nothing recorded by `lesson broker start`)")
        clear_state()
        return 0
    host, _, port = state["url"].removeprefix("redis://").partition(":")
    stop_broker(BrokerHandle(host, int(port), int(state["pid"]), str(state["dir"])))
    clear_state()
    print(f"stopped the broker at {state['url']}")
    return 0


def status_command() -> int:
    """Say whether the recorded broker answers."""
    state = read_state()
    if state is None:
        print("no broker is running; start one with `lesson broker start`")
        return 1
    host, _, port = state["url"].removeprefix("redis://").partition(":")
    alive = ping(host, int(port))
    print(f"{state['url']} pid {state['pid']}: {'answers PING' if alive else 'does NOT answer'}")
    return 0 if alive else 1
