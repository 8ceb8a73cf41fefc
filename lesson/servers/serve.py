"""Run a server in the foreground until SIGINT/SIGTERM, then drain and exit 0.

Draining: the server reports not-ready and refuses new inference (HTTP 503 / UNAVAILABLE)
for `drain_grace_s`, then stops listening, lets in-flight requests finish (at most
`SHUTDOWN_TIMEOUT_S`), and exits with status 0.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time

from lesson.servers.backend import InferenceBackend, ServerOptions

log = logging.getLogger("lesson.servers")

SHUTDOWN_TIMEOUT_S = 30.0


def _announce(kind: str, host: str, port: int, backend: InferenceBackend | None) -> None:
    scheme = "http" if kind == "rest" else "grpc"
    model = backend.registry.default_name if backend else "?"
    print(f"lesson {kind} server listening on {scheme}://{host}:{port} (default model: {model})", flush=True)


def serve_rest(host: str, port: int, options: ServerOptions, backend: InferenceBackend | None = None) -> int:
    """uvicorn with httptools + uvloop; several workers use uvicorn's process manager."""
    import uvicorn

    common = dict(host=host, port=port, loop="uvloop", http="httptools", log_level="warning",
                  access_log=False, timeout_graceful_shutdown=int(SHUTDOWN_TIMEOUT_S), lifespan="on")
    workers = options.workers or 1
    if workers > 1:
        # Each worker process builds its app from the environment; uvicorn's supervisor
        # forwards SIGTERM and every worker finishes its in-flight requests.
        os.environ["LESSON_SERVER_OPTIONS"] = json.dumps(options.to_dict())
        _announce("rest", host, port, None)
        uvicorn.run("lesson.servers.rest:create_app_from_env", factory=True, workers=workers, **common)
        return 0

    from lesson.servers.rest import create_app

    backend = backend or InferenceBackend(options=options)
    app = create_app(backend)
    config = uvicorn.Config(app, **common)

    class DrainingServer(uvicorn.Server):
        """uvicorn's server, but a signal drains first and the process then exits 0.

        (uvicorn re-raises a captured signal after its graceful shutdown, which would end
        the process with -SIGTERM; here the signal is handled, not re-raised.)
        """

        def handle_exit(self, sig: int, frame) -> None:
            if backend.draining:  # a second signal: stop now, or force if already stopping
                self.force_exit = self.should_exit
                self.should_exit = True
                return
            backend.start_draining()
            if options.drain_grace_s <= 0:
                self.should_exit = True
                return
            print(f"draining: not ready, refusing new inference for {options.drain_grace_s} s", flush=True)
            timer = threading.Timer(options.drain_grace_s, setattr, args=(self, "should_exit", True))
            timer.daemon = True
            timer.start()

    server = DrainingServer(config)
    _announce("rest", host, port, backend)
    server.run()
    print("lesson rest server stopped", flush=True)
    return 0


def serve_grpc(host: str, port: int, options: ServerOptions, backend: InferenceBackend | None = None) -> int:
    """A thread-pool grpc.server; the main thread waits for a signal, then drains."""
    from lesson.servers.grpc_server import create_server

    server, backend, bound = create_server(host, port, backend=backend or InferenceBackend(options=options))
    stop = threading.Event()

    def on_signal(signum, frame) -> None:
        backend.start_draining()
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.start()
        if options.metrics_port is not None:
            from prometheus_client import start_http_server

            start_http_server(options.metrics_port, addr=host, registry=server.servicer.metrics.registry)
        backend.start_warm_up()
        _announce("grpc", host, bound, backend)
        while not stop.wait(0.2):
            pass
        if options.drain_grace_s > 0:
            print(f"draining: not ready, refusing new inference for {options.drain_grace_s} s", flush=True)
            time.sleep(options.drain_grace_s)
        # stop(): refuse new RPCs now, let in-flight ones finish within the grace period
        server.stop(grace=SHUTDOWN_TIMEOUT_S).wait(SHUTDOWN_TIMEOUT_S + 1)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    print("lesson grpc server stopped", flush=True)
    return 0


def die_with_parent() -> None:
    """If started by `running_server` (Linux): get SIGTERM when that parent process dies."""
    parent = os.environ.get("LESSON_PARENT_PID")
    if not parent or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != int(parent):  # the parent died before prctl: do not linger
        raise SystemExit(f"parent process {parent} is gone; not starting")


def serve(kind: str, host: str, port: int, options: ServerOptions, backend: InferenceBackend | None = None) -> int:
    """Serve until a signal; `backend` (optional) is a pre-built one for `options`."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    die_with_parent()
    if kind == "rest":
        return serve_rest(host, port, options, backend)
    if kind == "grpc":
        return serve_grpc(host, port, options, backend)
    raise ValueError(f"kind must be 'rest' or 'grpc', got {kind!r}")
