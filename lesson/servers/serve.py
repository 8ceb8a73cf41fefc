"""Run a server in the foreground until SIGINT/SIGTERM, then drain and exit 0.

Draining: the server reports not-ready and refuses new inference (HTTP 503 / UNAVAILABLE)
for `drain_grace_s`, then stops listening, lets in-flight requests finish (at most
`SHUTDOWN_TIMEOUT_S`), and exits with status 0.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time

from lesson.servers.backend import InferenceBackend, ServerOptions

log = logging.getLogger("lesson.servers")

SHUTDOWN_TIMEOUT_S = 30.0


def _announce(
    kind: str, host: str, port: int, backend: InferenceBackend | None, note: str = ""
) -> None:
    scheme = "grpc" if kind == "grpc" else "http"
    what = f"default model: {backend.registry.default_name}" if backend else note
    print(f"lesson {kind} server listening on {scheme}://{host}:{port} ({what})", flush=True)


def _uvicorn_settings() -> dict:
    return dict(
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=int(SHUTDOWN_TIMEOUT_S),
        lifespan="on",
    )


def _draining_server_class():
    import uvicorn

    class DrainingServer(uvicorn.Server):
        """uvicorn's server, but a signal drains first and the process then exits 0.

        On the first SIGTERM/SIGINT the backend reports not-ready and refuses new inference
        (503) for ``drain_grace_s``; then uvicorn's graceful shutdown closes the listener and
        lets in-flight requests finish. (uvicorn re-raises a captured signal after its
        graceful shutdown, which would end the process with -SIGTERM; here the signal is
        handled, not re-raised.)
        """

        def __init__(self, config, backend: InferenceBackend, drain_grace_s: float) -> None:
            super().__init__(config)
            self.backend = backend
            self.drain_grace_s = drain_grace_s

        def handle_exit(self, sig: int, frame) -> None:
            if self.backend.draining:  # a second signal: stop now, or force if already stopping
                self.force_exit = self.should_exit
                self.should_exit = True
                return
            self.backend.start_draining()
            if self.drain_grace_s <= 0:
                self.should_exit = True
                return
            print(
                f"draining: not ready, refusing new inference for {self.drain_grace_s} s",
                flush=True,
            )
            timer = threading.Timer(self.drain_grace_s, setattr, args=(self, "should_exit", True))
            timer.daemon = True
            timer.start()

    return DrainingServer


def _rest_server(options: ServerOptions, backend: InferenceBackend | None = None, **config: object):
    """A draining uvicorn server over the REST app (one process's worth)."""
    import uvicorn

    from lesson.servers.rest import create_app

    backend = backend or InferenceBackend(options=options)
    cfg = uvicorn.Config(create_app(backend), **_uvicorn_settings(), **config)
    return _draining_server_class()(cfg, backend, options.drain_grace_s), backend


def _rest_worker(options_dict: dict, sockets: list) -> None:
    """One worker process of `serve_rest(workers > 1)`: serves on the shared socket, drains on SIGTERM."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    _die_with(signal.SIGTERM)
    server, _ = _rest_server(ServerOptions.from_dict(options_dict))
    server.run(sockets=sockets)


def serve_rest(
    host: str, port: int, options: ServerOptions, backend: InferenceBackend | None = None
) -> int:
    """uvicorn with httptools + uvloop; several workers share one socket (see `serve_rest_workers`)."""
    if (options.workers or 1) > 1:
        return serve_rest_workers(host, port, options)
    server, backend = _rest_server(options, backend, host=host, port=port)
    _announce("rest", host, port, backend)
    server.run()
    print("lesson rest server stopped", flush=True)
    return 0


def serve_rest_workers(host: str, port: int, options: ServerOptions) -> int:
    """Several worker processes on one listening socket, each draining like the single server.

    The parent binds the socket, starts ``options.workers`` processes (spawned, each with its
    own backend, models and metrics) and waits. On SIGTERM/SIGINT it forwards SIGTERM to every
    worker: each reports not-ready and refuses new inference for ``drain_grace_s``, then
    finishes its in-flight requests and exits; the parent exits 0 when all have. (uvicorn's
    own ``workers=N`` supervisor would stop the workers at once, without that grace.) A
    worker that dies on its own is not restarted: the parent then stops the others and exits 1.
    """
    import multiprocessing

    import uvicorn

    sock = uvicorn.Config(app=None, host=host, port=port).bind_socket()
    ctx = multiprocessing.get_context("spawn")
    workers = [
        ctx.Process(
            target=_rest_worker, args=(options.to_dict(), [sock]), name=f"lesson-rest-worker-{i}"
        )
        for i in range(options.workers or 1)
    ]
    stop = threading.Event()

    def on_signal(signum, frame) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    status = 0
    try:
        for worker in workers:
            worker.start()
        _announce("rest", host, port, None, f"{len(workers)} worker processes")
        while not stop.wait(0.2):
            if any(w.exitcode is not None for w in workers):
                print("a worker process exited on its own; stopping the others", flush=True)
                status = 1
                break
        for worker in workers:
            if worker.exitcode is None and worker.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGTERM)
        deadline = time.monotonic() + options.drain_grace_s + SHUTDOWN_TIMEOUT_S + 5
        for worker in workers:
            worker.join(max(0.1, deadline - time.monotonic()))
            if worker.exitcode is None:
                worker.kill()
                worker.join(5)
                status = 1
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        sock.close()
    print("lesson rest server stopped", flush=True)
    return status


def serve_grpc(
    host: str, port: int, options: ServerOptions, backend: InferenceBackend | None = None
) -> int:
    """A thread-pool grpc.server; the main thread waits for a signal, then drains."""
    from lesson.servers.grpc_server import create_server

    server, backend, bound = create_server(
        host, port, backend=backend or InferenceBackend(options=options)
    )
    stop = threading.Event()

    def on_signal(signum, frame) -> None:
        backend.start_draining()
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.start()
        if options.metrics_port is not None:  # /metrics, and /debug/spans for a lesson
            from lesson.servers.grpc_http import start_http_port

            start_http_port(
                host,
                options.metrics_port,
                server.servicer.metrics.registry,
                backend.tracing,
                options.debug_routes,
            )
        backend.start_warm_up()
        _announce("grpc", host, bound, backend)
        while not stop.wait(0.2):
            pass
        if options.drain_grace_s > 0:
            print(
                f"draining: not ready, refusing new inference for {options.drain_grace_s} s",
                flush=True,
            )
            time.sleep(options.drain_grace_s)
        # stop(): refuse new RPCs now, let in-flight ones finish within the grace period
        server.stop(grace=SHUTDOWN_TIMEOUT_S).wait(SHUTDOWN_TIMEOUT_S + 1)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    print("lesson grpc server stopped", flush=True)
    return 0


def _die_with(sig: int) -> bool:
    """Linux: get `sig` when the parent process (the thread that started us) dies."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return False
    return True


def die_with_parent() -> None:
    """If started by `running_server` (Linux): get SIGTERM when that parent process dies."""
    parent = os.environ.get("LESSON_PARENT_PID")
    if not parent or not _die_with(signal.SIGTERM):
        return
    if os.getppid() != int(parent):  # the parent died before prctl: do not linger
        raise SystemExit(f"parent process {parent} is gone; not starting")


def serve_llm(host: str, port: int, options, state=None) -> int:
    """The generative server (`lesson.servers.llm`) on uvicorn, draining like the REST one.

    ``options``: an `LLMOptions`; ``state``: a pre-built `LLMState` (the CLI builds it first,
    so a model that cannot load is a one-line error).
    """
    import uvicorn

    from lesson.servers.llm.app import create_llm_app
    from lesson.servers.llm.state import LLMState

    state = state or LLMState(options)
    cfg = uvicorn.Config(create_llm_app(state=state), host=host, port=port, **_uvicorn_settings())
    server = _draining_server_class()(cfg, state, options.drain_grace_s)
    _announce(
        "llm", host, port, None, f"model: {state.name}, engine steps on the {options.engine_loop}"
    )
    server.run()
    print("lesson llm server stopped", flush=True)
    return 0


def serve(
    kind: str, host: str, port: int, options: ServerOptions, backend: InferenceBackend | None = None
) -> int:
    """Serve until a signal; `backend` (optional) is a pre-built one for `options`
    (kind "llm": `options` is an `LLMOptions` and `backend` an `LLMState`)."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    die_with_parent()
    if kind == "llm":
        return serve_llm(host, port, options, backend)
    if kind == "rest":
        return serve_rest(host, port, options, backend)
    if kind == "grpc":
        return serve_grpc(host, port, options, backend)
    raise ValueError(f"kind must be 'rest', 'grpc' or 'llm', got {kind!r}")
