"""Notebook set-up: pick the world the notebook runs in, and say which one ran.

The first code cell of every notebook is::

    import lesson
    from lesson.lab import setup

    lab = setup()
    patients, progression = lab.heldout()  # held-out rows of the real model, and their targets

(notebooks 08 and 09 ask for the REST server only: ``setup(servers=("rest",))``). It prints
exactly one line starting with ``Serving Patterns Lab ready`` and naming the path:

- **in-process** (the browser, Pyodide/JupyterLite): no sockets, no threads; targets are the
  core adapters, load tests run on asyncio;
- **real servers** (CPython): the REST (FastAPI + uvicorn) and gRPC servers start in the
  background on free 127.0.0.1 ports; targets are the real clients; the in-process adapters
  stay available beside them. The servers stop at :meth:`Lab.close`, at kernel exit
  (``atexit``), and when ``setup()`` runs again. The REST server runs with its debug routes
  (``/debug/fault``, ``/debug/timings``: it is this kernel's alone), the gRPC server with a
  metrics port, so :meth:`Lab.start_prometheus` can scrape both.

With no arguments it serves the real model, ``diabetes-mlp`` (10 features): in pure Python
in-process (:func:`default_model`), run by numpy in the servers (their default registry,
``lesson.models.mlp_numpy:serving_registry``; the same numbers within 1e-6). The original toy
stays reachable by name (``averaged_ensemble``).

What a notebook uses from the lab: :attr:`Lab.model`, :attr:`Lab.servers`, :attr:`Lab.targets`,
:attr:`Lab.in_browser`, :meth:`Lab.heldout`, :meth:`Lab.example_payload`, :meth:`Lab.panel`,
:meth:`Lab.endpoint`, :meth:`Lab.try_call`, :meth:`Lab.add_target`,
:meth:`Lab.add_batching_target`, :meth:`Lab.add_server_target`, :meth:`Lab.start_prometheus`,
:meth:`Lab.show_source` and :meth:`Lab.close`.

Only the standard library is imported at module level.
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from lesson.core.model import Model
from lesson.core.runtime import IN_BROWSER
from lesson.lab import targets as _targets
from lesson.lab.targets import (  # noqa: F401 - re-exported: the notebooks reach the targets through lesson.lab
    MicroBatchedEndpoint,
    PerThreadClient,
    accelerator_registry,
    batching_target,
    default_model,
    edge_targets,
    example_rows,
    in_process_targets,
    model_width,
    server_target,
)
from lesson.widgets.targets import Target

__all__ = [
    "Lab",
    "setup",
    "close",
    "current",
    "show_source",
    "READY_SENTINEL",
    "LAB_PARENT_ENV",
    *_targets.__all__,
]

#: Every notebook's first output starts with this text (the browser test waits for it).
READY_SENTINEL = "Serving Patterns Lab ready"
#: Environment variable naming the process (kernel) that started a lab server.
LAB_PARENT_ENV = "LESSON_LAB_PARENT_PID"

_current: Lab | None = None


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
        in_browser: True in the browser (Pyodide/JupyterLite): no sockets, no subprocesses.
    """

    def __init__(self, *, model: Model | None = None) -> None:
        self.model: Model = model or default_model()
        self.path = "in-process"
        self.note = ""
        self.servers: dict[str, Any] = {}
        #: ``job=host:port`` of each real server's Prometheus metrics (REST: /metrics on its
        #: port; jobs ``rest``, ``grpc``, ``llm``)
        self.metrics_targets: list[str] = []
        self.targets: dict[str, Target] = {}
        self._stack = contextlib.ExitStack()
        self._closers: list[Callable[[], None]] = []
        self.closed = False
        self.in_browser = IN_BROWSER
        for target in in_process_targets(self.model):
            self.targets[target.key] = target

    # ---- servers -------------------------------------------------------------------------
    def _start_servers(self, kinds: Sequence[str], **options: Any) -> None:
        from lesson.clients import client_for
        from lesson.servers.launch import free_port, running_server

        # tag the servers with this process's pid, so a server whose notebook kernel is gone
        # can be recognised as a leftover (tests/notebooks/test_no_leftovers.py)
        options["env"] = {**(options.get("env") or {}), LAB_PARENT_ENV: str(os.getpid())}
        real: list[Target] = []
        for kind in kinds:
            if kind == "grpc":  # its metrics on a port of their own, for start_prometheus
                port = options.get("metrics_port") or free_port()
                handle = self._stack.enter_context(
                    running_server(kind, **dict(options, metrics_port=port))
                )
                self.metrics_targets.append(f"grpc={handle.host}:{port}")
            else:  # REST: the debug routes on (fault injection, raw timings: notebook 07);
                # the lab's servers listen on loopback for this kernel alone
                chosen = {"debug_routes": True, **options} if kind == "rest" else options
                handle = self._stack.enter_context(running_server(kind, **chosen))
                if kind == "rest":
                    self.metrics_targets.append(f"rest={handle.host}:{handle.port}")
            self.servers[kind] = handle
            endpoint = PerThreadClient(lambda url=handle.url: client_for(url))
            self._closers.append(endpoint.close)
            name = "REST · HTTP/1.1 + JSON" if kind == "rest" else "gRPC · HTTP/2 + protobuf"
            real.append(
                Target(
                    key=kind,
                    label=f"{name} — real server at {handle.url}",
                    pattern="REST" if kind == "rest" else "gRPC",
                    transport=handle.url,
                    endpoint=endpoint,
                    n_features=model_width(self.model),
                    sample_rows=self.targets["in-process"].sample_rows,
                    description=f"The {kind} server in a subprocess; requests go over loopback.",
                )
            )
        # the real servers take the "rest"/"grpc" keys; the in-process adapters stay as the rest
        merged = {t.key: t for t in self.targets.values()}
        merged.update({t.key: t for t in real})
        self.targets = merged
        self.path = "servers"

    def start_llm_server(self, **options: Any) -> Any:
        """Start ``lesson serve llm`` (the OpenAI-compatible generative server) for this lab.

        CPython only; it stops with the lab. ``options``: ``LLMOptions`` fields (``impl``,
        ``max_num_seqs``...). Returns the server handle (``.url``); a second call returns the
        same one.
        """
        if IN_BROWSER:
            raise RuntimeError("no servers in the browser: use the in-process engine")
        if "llm" in self.servers:
            return self.servers["llm"]
        from lesson.servers.launch import running_server

        options["env"] = {**(options.get("env") or {}), LAB_PARENT_ENV: str(os.getpid())}
        handle = self._stack.enter_context(running_server("llm", **options))
        self.servers["llm"] = handle
        self.metrics_targets.append(f"llm={handle.host}:{handle.port}")
        if "prometheus" in self.servers:  # already scraping the others: its job too
            self.servers["prometheus"].add_target(self.metrics_targets[-1])
        return handle

    def start_prometheus(self, **options: Any) -> Any:
        """Start a real Prometheus scraping this lab's servers every second, with the SLO
        burn-rate rules (:mod:`lesson.servers.observe`); it stops with the lab.

        CPython only: in the browser Prometheus is local-only (no processes, no sockets).
        ``options``: :func:`lesson.servers.observe.start_prometheus`'s (``interval_s``,
        ``rules``). It scrapes the lab's servers, one job each (``rest``, ``grpc``'s metrics
        port, ``llm``), an LLM server started later included (the configuration is reloaded).
        Returns the handle (``.url``, ``.api``); a second call returns it again.
        """
        if IN_BROWSER:
            raise RuntimeError(
                "Prometheus is local-only: it runs beside real servers in a local Jupyter "
                "(`make lab`), not in the browser"
            )
        if "prometheus" in self.servers:
            return self.servers["prometheus"]
        if not self.metrics_targets:
            raise RuntimeError("no real servers to scrape: setup() started none")
        from lesson.servers.observe import running_prometheus

        handle = self._stack.enter_context(running_prometheus(self.metrics_targets, **options))
        self.servers["prometheus"] = handle
        return handle

    # ---- use -----------------------------------------------------------------------------
    def endpoint(self, key: str) -> Callable[[Any], Any]:
        """The ``payload -> response`` callable of a target (see :attr:`targets`)."""
        if key not in self.targets:
            raise KeyError(f"unknown target {key!r}; known: {', '.join(self.targets)}")
        return self.targets[key].build()

    def panel(
        self, target: str | None = None, *, targets: Sequence[str] | None = None, **kwargs: Any
    ) -> Any:
        """A :class:`~lesson.widgets.panel.LoadTestPanel` over this lab's targets.

        Args:
            target: key of the target selected at first (default: the first one).
            targets: keys to offer (default: all).
            kwargs: start values: ``requests``, ``concurrency``, ``rate``, ``instances``,
                ``limits``, ``title``.
        """
        from lesson.widgets.panel import LoadTestPanel

        chosen = [self.targets[k] for k in targets] if targets else list(self.targets.values())
        return LoadTestPanel(chosen, target=target, **kwargs)

    def try_call(self, key: str, payload: Any) -> Any:
        """Send one payload to a target; return the response, or the error as ``{"error": ...}``.

        Handy to show what a bad request gets back, whichever transport is behind the key.
        """
        try:
            return self.endpoint(key)(payload)
        except Exception as exc:  # shown to the learner
            return {"error": f"{type(exc).__name__}: {exc}"}

    def example_payload(self, rows: int = 1) -> dict[str, Any]:
        """A V1 payload of ``rows`` realistic rows for :attr:`model` (held-out rows of its
        artifact; zeros of the right width for a model without one)."""
        samples = example_rows(self.model) or [[0.0] * model_width(self.model)]
        return {"instances": [list(samples[i % len(samples)]) for i in range(max(1, rows))]}

    def heldout(self) -> tuple[list[list[float]], list[float]]:
        """The held-out rows of :attr:`model`'s artifact and their observed targets (for the
        default model: patients and their disease progression); ``([], [])`` for a model
        without one."""
        from lesson.core.artifacts import ArtifactError, load_artifact, load_heldout

        model = getattr(self.model, "inner", self.model)
        try:
            return load_heldout(load_artifact(model.name, model.version))
        except (ArtifactError, LookupError, KeyError, ValueError, TypeError, AttributeError):
            return [], []

    def add_target(self, target: Target) -> Target:
        """Offer another target (e.g. a micro-batcher with knobs) in panels made afterwards."""
        self.targets[target.key] = target
        return target

    def add_batching_target(self, **device: float) -> Target:
        """Offer :func:`batching_target` over :attr:`model` (``fixed_cost_ms``, ``per_row_us``)."""
        return self.add_target(batching_target(self.model, **device))

    def add_server_target(self, key: str, handle: Any, **options: Any) -> Target:
        """Offer a server you started yourself (:func:`server_target`: ``label``, ``n_features``)."""
        return self.add_target(server_target(key, handle, **options))

    def show_source(self, obj: Any) -> Any:
        """:func:`show_source`: display an object's source code from the installed package."""
        return show_source(obj)

    def describe(self) -> str:
        """The one-line status printed by :func:`setup`."""
        if self.path == "servers":
            where = ", ".join(f"{_SERVER_NAMES.get(k, k)} {h.url}" for k, h in self.servers.items())
            return (
                f"{READY_SENTINEL} — path: real servers {where} (CPython {sys.version.split()[0]})"
            )
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

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Lab path={self.path!r} targets={list(self.targets)}>"


_SERVER_NAMES = {"rest": "REST", "grpc": "gRPC", "llm": "LLM", "prometheus": "Prometheus"}


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
            import lesson.clients
            import lesson.servers.launch  # noqa: F401
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
