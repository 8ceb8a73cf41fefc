"""Notebook set-up: pick the world the notebook runs in, and say which one ran.

The first cell of every notebook is::

    import lesson.lab as lab_setup
    lab = lab_setup.setup()

which prints exactly one line starting with ``Serving Patterns Lab ready`` and naming the path:

- **in-process** (the browser, Pyodide/JupyterLite): no sockets, no threads; targets are the
  core adapters, load tests run on asyncio;
- **real servers** (CPython): the REST (FastAPI + uvicorn) and gRPC servers start in the
  background on free 127.0.0.1 ports; targets are the real clients; the in-process adapters
  stay available beside them. The servers stop at :meth:`Lab.close`, at kernel exit
  (``atexit``), and when ``setup()`` runs again.

The default model is the real one, ``diabetes-mlp`` (10 features), in pure Python here and run
by numpy in the servers (the same numbers within 1e-6); ``lab.example_payload()`` gives a
realistic request for it. The original toy stays reachable by name (``averaged_ensemble``).

Only the standard library is imported at module level.
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import itertools
import os
import sys
import threading
import time
from typing import Any, Callable, Iterable, Sequence

from lesson.patterns.adapters import batch_scoring_runner, edge_inference_adapter, fastapi_rest_adapter, grpc_streaming_adapter
from lesson.core.model import Model
from lesson.core.runtime import IN_BROWSER
from lesson.core.service import PredictionService
from lesson.patterns.streaming.events import event_stream_adapter
from lesson.core.schema import parse_v1_request
from lesson.widgets.targets import Knob, Target

__all__ = [
    "Lab",
    "setup",
    "close",
    "current",
    "show_source",
    "in_process_targets",
    "batching_target",
    "edge_targets",
    "accelerator_registry",
    "server_target",
    "MicroBatchedEndpoint",
    "default_model",
    "example_rows",
    "READY_SENTINEL",
    "LAB_PARENT_ENV",
]

#: Every notebook's first output starts with this text (the browser test waits for it).
READY_SENTINEL = "Serving Patterns Lab ready"
#: Environment variable naming the process (kernel) that started a lab server.
LAB_PARENT_ENV = "LESSON_LAB_PARENT_PID"

_current: "Lab | None" = None


class _StreamSession:
    """One long-lived bidirectional stream through ``grpc_streaming_adapter``, one message per call.

    Messages on one stream are answered in order, so calls are serialised with a lock (as on a
    real stream); open several sessions for parallel streams.
    """

    def __init__(self, handler: Callable[[Iterable[Any]], Any]):
        self._handler = handler
        self._pending: Any = None
        self._lock = threading.Lock()
        self._responses = handler(self._requests())

    def _requests(self) -> Any:
        while True:
            yield self._pending

    def __call__(self, payload: Any) -> Any:
        with self._lock:
            self._pending = payload
            try:
                return next(self._responses)
            except Exception:
                # A failed message ends a gRPC stream: open a new one for the next call.
                self._responses = self._handler(self._requests())
                raise


def _stream_endpoint(model: Model) -> Callable[[Any], Any]:
    return _StreamSession(grpc_streaming_adapter(model))


def _batch_endpoint(model: Model) -> Callable[[Any], Any]:
    def score(payload: dict[str, Any]) -> dict[str, Any]:
        return batch_scoring_runner(model, [payload["instances"]])[0]

    return score


def _model_width(model: Model, default: int = 4) -> int:
    try:
        width = model.metadata().n_features
    except Exception:  # noqa: BLE001 - a model without metadata still works
        width = None
    return int(width) if width else default


def _service_endpoint(model: Model) -> Callable[[Any], Any]:
    service = PredictionService.for_model(model)

    def call(payload: Any) -> Any:
        return service.predict(payload, transport="in-process")

    return call


def _event_endpoint(model: Model) -> Callable[[Any], Any]:
    adapter = event_stream_adapter(model, on_error="raise")
    sequence = itertools.count()

    def score(payload: dict[str, Any]) -> Any:
        n = next(sequence)
        return adapter.process({"id": f"event-{n}", "key": f"user-{n % 8}", **payload}, n)

    return score


def default_model() -> Model:
    """The lab's default model: the real ``diabetes-mlp`` in pure Python (``lesson.models.mlp``).

    Standard library only, so it answers in the browser too; the servers' default is the
    same artifact run by numpy (``lesson.models.mlp_numpy``), equal within 1e-6.
    """
    from lesson.models.mlp import load_default_mlp  # noqa: PLC0415 - reads the artifact when asked

    return load_default_mlp()


def example_rows(model: Model | None = None) -> list[list[float]] | None:
    """Realistic input rows for a model: the held-out rows shipped in its artifact.

    ``None`` when the model has no artifact with held-out rows (e.g. ``averaged_ensemble``).
    A wrapped model (``.inner``, such as the simulated accelerator) uses its inner model's.
    """
    from lesson.core.artifacts import ArtifactError, load_artifact  # noqa: PLC0415
    from lesson.core.artifacts import load_heldout  # noqa: PLC0415

    model = model or default_model()
    model = getattr(model, "inner", model)
    try:
        rows, _ = load_heldout(load_artifact(model.name, model.version))
    except (ArtifactError, LookupError, KeyError, ValueError, TypeError, AttributeError):
        return None
    return rows


def in_process_targets(model: Model | None = None) -> list[Target]:
    """The core adapters as load-test targets (both worlds), keyed by pattern.

    Keys: ``in-process`` (a plain call of the service: the floor every transport adds to),
    ``rest``, ``grpc``, ``batch``, ``streaming``, ``edge``.

    Args:
        model: the model to serve (default: :func:`default_model`, the real MLP in pure Python).
    """
    model = model or default_model()
    width = _model_width(model)
    samples = example_rows(model)

    def target(key: str, label: str, pattern: str, endpoint: Any, description: str) -> Target:
        return Target(key=key, label=label, pattern=pattern, endpoint=endpoint, n_features=width,
                      sample_rows=samples, description=description)

    return [
        target("in-process", "Plain function call (no serving layer)", "in-process", _service_endpoint(model),
               "PredictionService.predict: validate → predict → response, no transport at all."),
        target("rest", "REST adapter, in-process", "REST", fastapi_rest_adapter(model),
               "fastapi_rest_adapter: the REST handler called as a function (no socket)."),
        target("grpc", "gRPC streaming adapter, in-process (one open stream)", "gRPC", _stream_endpoint(model),
               "grpc_streaming_adapter: each call sends one message on one long-lived stream."),
        target("batch", "Batch scoring runner, in-process (one batch per request)", "batch",
               _batch_endpoint(model), "batch_scoring_runner: each request is scored as one batch of rows."),
        target("streaming", "Event-stream adapter, in-process (one event per request)", "streaming",
               _event_endpoint(model), "event_stream_adapter: each request is one event with an id and a key."),
        target("edge", "Edge adapter, in-process (inputs quantised)", "edge",
               edge_inference_adapter(model, quantise=True),
               "edge_inference_adapter(quantise=True): the on-device runtime."),
    ]


class MicroBatchedEndpoint:
    """``await endpoint(payload)``: requests share model calls through an asyncio MicroBatcher.

    Validates each request like every other transport, then queues its rows; the batcher
    makes one call for up to ``max_batch_size`` rows, waiting at most ``max_delay_ms`` for
    more. Runs on asyncio, so the same code works in the browser and in CPython.
    """

    def __init__(self, model: Model, max_batch_size: int, max_delay_ms: int):
        from lesson.patterns.batching import MicroBatcher  # noqa: PLC0415 - only when this target is used

        self.model = model
        self.max_batch_size = max_batch_size
        self.max_delay_ms = max_delay_ms
        self.batcher = MicroBatcher.for_model(model, max_batch_size, float(max_delay_ms))

    async def __call__(self, payload: Any) -> dict[str, Any]:
        rows = parse_v1_request(payload).rows
        start = time.perf_counter()
        predictions = await self.batcher.predict(rows)
        return {
            "predictions": list(predictions),
            "metadata": {
                "transport": "in-process",
                "model": self.model.name,
                "model_version": self.model.version,
                "latency_ms": round((time.perf_counter() - start) * 1000.0, 4),
                "max_batch_size": self.max_batch_size,
                "max_delay_ms": self.max_delay_ms,
            },
        }

    async def aclose(self) -> None:
        """Stop the batcher's worker (the panel calls this after each run)."""
        await self.batcher.close()


def batching_target(model: Model | None = None, *, fixed_cost_ms: float = 2.0, per_row_us: float = 20.0) -> Target:
    """A micro-batched SIMULATED accelerator, with ``max_batch_size`` and ``max_delay_ms`` knobs.

    The accelerator (:class:`lesson.models.accelerator.SimulatedAcceleratorModel`) costs
    ``fixed_cost_ms`` per call plus ``per_row_us`` per row and runs one call at a time: the cost
    shape that makes batching pay. Its predictions are the wrapped model's.
    """
    from lesson.models.accelerator import SimulatedAcceleratorModel  # noqa: PLC0415

    device = SimulatedAcceleratorModel(
        model or default_model(), fixed_cost_s=fixed_cost_ms / 1000.0, per_row_s=per_row_us / 1e6
    )
    return Target(
        key="batching",
        label=f"Micro-batcher → SIMULATED accelerator ({fixed_cost_ms:g} ms/call + {per_row_us:g} µs/row)",
        pattern="batch",
        make_endpoint=lambda max_batch_size, max_delay_ms: MicroBatchedEndpoint(device, max_batch_size, max_delay_ms),
        knobs=(
            Knob("max_batch_size", "max_batch_size (rows per call)", 1, 128, 1,
                 "1 = no batching: every request is its own device call."),
            Knob("max_delay_ms", "max_delay_ms (wait for more)", 0, 20, 0,
                 "How long the first request of a batch may wait for others."),
        ),
        n_features=_model_width(device),
        sample_rows=example_rows(device),
        asynchronous=True,
        description="Requests share device calls; the device is a simulation (sleeps), clearly labelled.",
        extra={"device": device},
    )


def accelerator_registry() -> Any:
    """A registry whose default model is the SIMULATED accelerator (2 ms per call + 20 µs per row)
    around the real MLP (``diabetes-mlp-simulated-accelerator``).

    For servers that notebooks start to show overload, e.g.
    ``running_server("rest", registry="lesson.lab:accelerator_registry", max_in_flight=4, offload=True)``.
    """
    from lesson.models.accelerator import SimulatedAcceleratorModel  # noqa: PLC0415
    from lesson.core.model import ModelRegistry  # noqa: PLC0415

    registry = ModelRegistry()
    registry.register(SimulatedAcceleratorModel(default_model()), default=True)
    return registry


def edge_targets() -> list[Target]:
    """The real reference model on the device: full precision and int8 weights, side by side.

    Both run with the standard library only (so in the browser too) through
    ``edge_inference_adapter(model, quantise=False)`` (the int8 model is quantised in its
    weights already); payloads are drawn from the artifact's held-out rows.
    """
    from lesson.core.artifacts import load_artifact  # noqa: PLC0415
    from lesson.models.int8 import load_edge_model  # noqa: PLC0415
    from lesson.core.artifacts import load_heldout
    from lesson.models.mlp import load_default_mlp  # noqa: PLC0415

    int8 = load_edge_model()
    full = load_default_mlp()
    rows, _ = load_heldout(load_artifact(int8.name, int8.version))
    return [
        Target(key="edge-fp64", label=f"Edge: {full.name} v{full.version}, full precision (pure Python)",
               pattern="edge", endpoint=edge_inference_adapter(full, quantise=False),
               n_features=_model_width(full), sample_rows=rows,
               description="The real MLP with float weights, run on the device."),
        Target(key="edge-int8", label=f"Edge: {int8.name} v{int8.version}, int8 weights (pure Python)",
               pattern="edge", endpoint=edge_inference_adapter(int8, quantise=False),
               n_features=_model_width(int8), sample_rows=rows,
               description="The same MLP with int8 weights: smaller on disk, computed from integers."),
    ]


class _PerThreadClient:
    """``predict(payload)`` through one client per thread (clients need not be thread-safe)."""

    def __init__(self, factory: Callable[[], Any]):
        self._factory = factory
        self._local = threading.local()
        self._clients: list[Any] = []
        self._lock = threading.Lock()

    def __call__(self, payload: Any) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._factory()
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client.predict(payload)

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            close = getattr(client, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()


def server_target(key: str, handle: Any, *, label: str | None = None, n_features: int | None = None) -> Target:
    """A load-test target for a server you started yourself (e.g. with different options).

    ``n_features`` defaults to the width of the lab's default model (the servers' default).

    The caller owns the server; close the target's endpoint (``target.endpoint.close()``) to
    close its clients.
    """
    from lesson.clients import client_for  # noqa: PLC0415 - CPython only

    pattern = "REST" if handle.kind == "rest" else "gRPC"
    return Target(
        key=key,
        label=label or f"{pattern} server at {handle.url}",
        pattern=pattern,
        transport=handle.url,
        endpoint=_PerThreadClient(lambda url=handle.url: client_for(url)),
        n_features=default_model().n_features if n_features is None else n_features,
    )


class Lab:
    """What ``setup()`` built: the path that ran, the targets, and the servers to stop.

    Attributes:
        path: ``"in-process"`` or ``"servers"``.
        targets: load-test targets by key: ``in-process``, ``rest``, ``grpc``, ``batch``,
            ``streaming``, ``edge``. With real servers ``rest`` and ``grpc`` are the real
            clients over loopback; in the browser they are the in-process adapters.
        servers: running server handles by kind (``.url``, ``.port``, ``.pid``).
        model: the model the in-process targets serve (default: :func:`default_model`, the
            real ``diabetes-mlp`` in pure Python; the servers serve the same model with numpy).
        note: why the real servers are not used, when they are not.
    """

    def __init__(self, *, model: Model | None = None) -> None:
        self.model: Model = model or default_model()
        self.path = "in-process"
        self.note = ""
        self.servers: dict[str, Any] = {}
        self.targets: dict[str, Target] = {}
        self._stack = contextlib.ExitStack()
        self._closers: list[Callable[[], None]] = []
        self.closed = False
        for target in in_process_targets(self.model):
            self.targets[target.key] = target

    # ---- servers -------------------------------------------------------------------------
    def _start_servers(self, kinds: Sequence[str], **options: Any) -> None:
        from lesson.clients import client_for  # noqa: PLC0415 - CPython only
        from lesson.servers.launch import running_server  # noqa: PLC0415 - CPython only

        # tag the servers with this process's pid, so a server whose notebook kernel is gone
        # can be recognised as a leftover (tests/notebooks/test_no_leftovers.py)
        options["env"] = {**(options.get("env") or {}), LAB_PARENT_ENV: str(os.getpid())}
        real: list[Target] = []
        for kind in kinds:
            handle = self._stack.enter_context(running_server(kind, **options))
            self.servers[kind] = handle
            endpoint = _PerThreadClient(lambda url=handle.url: client_for(url))
            self._closers.append(endpoint.close)
            name = "REST · HTTP/1.1 + JSON" if kind == "rest" else "gRPC · HTTP/2 + protobuf"
            real.append(
                Target(
                    key=kind,
                    label=f"{name} — real server at {handle.url}",
                    pattern="REST" if kind == "rest" else "gRPC",
                    transport=handle.url,
                    endpoint=endpoint,
                    n_features=_model_width(self.model),
                    sample_rows=self.targets["in-process"].sample_rows,
                    description=f"The {kind} server in a subprocess; requests go over loopback.",
                )
            )
        # the real servers take the "rest"/"grpc" keys; the in-process adapters stay as the rest
        merged = {t.key: t for t in self.targets.values()}
        merged.update({t.key: t for t in real})
        self.targets = merged
        self.path = "servers"

    # ---- use -----------------------------------------------------------------------------
    def endpoint(self, key: str) -> Callable[[Any], Any]:
        """The ``payload -> response`` callable of a target (see :attr:`targets`)."""
        if key not in self.targets:
            raise KeyError(f"unknown target {key!r}; known: {', '.join(self.targets)}")
        return self.targets[key].build()

    def panel(self, target: str | None = None, *, targets: Sequence[str] | None = None, **kwargs: Any) -> Any:
        """A :class:`~lesson.widgets.panel.LoadTestPanel` over this lab's targets.

        Args:
            target: key of the target selected at first (default: the first one).
            targets: keys to offer (default: all).
            kwargs: start values: ``requests``, ``concurrency``, ``rate``, ``instances``,
                ``limits``, ``title``.
        """
        from lesson.widgets.panel import LoadTestPanel  # noqa: PLC0415 - needs ipywidgets

        chosen = [self.targets[k] for k in targets] if targets else list(self.targets.values())
        return LoadTestPanel(chosen, target=target, **kwargs)

    def try_call(self, key: str, payload: Any) -> Any:
        """Send one payload to a target; return the response, or the error as ``{"error": ...}``.

        Handy to show what a bad request gets back, whichever transport is behind the key.
        """
        try:
            return self.endpoint(key)(payload)
        except Exception as exc:  # noqa: BLE001 - shown to the learner
            return {"error": f"{type(exc).__name__}: {exc}"}

    def example_payload(self, rows: int = 1) -> dict[str, Any]:
        """A V1 payload of ``rows`` realistic rows for :attr:`model` (held-out rows of its
        artifact; zeros of the right width for a model without one)."""
        samples = example_rows(self.model) or [[0.0] * _model_width(self.model)]
        return {"instances": [list(samples[i % len(samples)]) for i in range(max(1, rows))]}

    def add_target(self, target: Target) -> Target:
        """Offer another target (e.g. a micro-batcher with knobs) in panels made afterwards."""
        self.targets[target.key] = target
        return target

    def describe(self) -> str:
        """The one-line status printed by :func:`setup`."""
        if self.path == "servers":
            where = ", ".join(f"{'REST' if k == 'rest' else 'gRPC'} {h.url}" for k, h in self.servers.items())
            return f"{READY_SENTINEL} — path: real servers {where} (CPython {sys.version.split()[0]})"
        world = "browser, Pyodide" if IN_BROWSER else f"CPython {sys.version.split()[0]}"
        note = f"; {self.note}" if self.note else ""
        return f"{READY_SENTINEL} — path: in-process ({world}){note}"

    def close(self) -> None:
        """Stop the servers and close the clients (safe to call twice)."""
        if self.closed:
            return
        self.closed = True
        for closer in self._closers:
            with contextlib.suppress(Exception):
                closer()
        self._closers.clear()
        self._stack.close()
        self.servers.clear()

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Lab path={self.path!r} targets={list(self.targets)}>"


def setup(
    *,
    servers: Sequence[str] | bool = ("rest", "grpc"),
    model: Model | None = None,
    quiet: bool = False,
    **server_options: Any,
) -> Lab:
    """Pick the world, start what it needs, print one status line, return the :class:`Lab`.

    Args:
        servers: which real servers to start in CPython (``"rest"``, ``"grpc"``); ``False``
            or ``()`` stays in-process. Ignored in the browser.
        model: the model for the in-process targets (default: the real MLP in pure Python,
            :func:`default_model`; the servers' default is the same model run by numpy).
        quiet: do not print the status line.
        server_options: passed to ``lesson.servers.launch.running_server``.

    Returns:
        The lab; calling ``setup()`` again first closes the previous one.
    """
    global _current
    if _current is not None:
        _current.close()
        _current = None
    lab = Lab(model=model)
    if servers is True:
        kinds = ["rest", "grpc"]
    else:
        kinds = list(servers or [])
    if kinds and not IN_BROWSER:
        try:
            import lesson.servers.launch  # noqa: F401, PLC0415
            import lesson.clients  # noqa: F401, PLC0415
        except ImportError as exc:
            lab.note = f"real servers unavailable here ({exc}); using the in-process adapters"
        else:
            try:
                lab._start_servers(kinds, **server_options)
            except BaseException:
                lab.close()
                raise
    _current = lab
    if not quiet:
        print(lab.describe())
    return lab


def current() -> Lab | None:
    """The lab made by the last :func:`setup`, if it is still open."""
    return _current if _current is not None and not _current.closed else None


def close() -> None:
    """Close the current lab (stops its servers)."""
    global _current
    if _current is not None:
        _current.close()
        _current = None


atexit.register(close)


def show_source(obj: Any) -> Any:
    """Display an object's source code from the installed package (read it, do not copy it).

    Returns an object that renders as a highlighted code block in Jupyter and as plain text
    elsewhere; works in the browser too (the wheel ships its ``.py`` files).
    """
    source = inspect.getsource(obj)
    module = getattr(inspect.getmodule(obj), "__name__", "?")
    title = f"{module}.{getattr(obj, '__qualname__', getattr(obj, '__name__', ''))}".rstrip(".")
    return _Source(title, source)


class _Source:
    def __init__(self, title: str, source: str):
        self.title = title
        self.source = source

    def _repr_markdown_(self) -> str:
        return f"**Source of `{self.title}`**\n\n```python\n{self.source.rstrip()}\n```"

    def __repr__(self) -> str:
        return f"# source of {self.title}\n{self.source}"
