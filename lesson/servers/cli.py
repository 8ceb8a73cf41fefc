"""`lesson serve rest|grpc|llm|ray`: the real servers from the command line.

Registered on the main CLI by `lesson.cli` (`COMMANDS`); also runnable on its own::

    python -m lesson.servers.cli serve rest --port 8000
    python -m lesson.servers.cli serve llm --port 8000   # the generative server (OpenAI API)
    python -m lesson.servers.cli serve ray --replicas 2  # REST on Ray Serve (the scale extra)
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from lesson.servers.options import ServerOptions

app = typer.Typer(add_completion=False, no_args_is_help=True, help="The lesson's real servers.")


def serve(
    kind: str = typer.Argument(
        ...,
        help="rest, grpc, llm (the generative server) or ray (REST on Ray Serve)",
        metavar="rest|grpc|llm|ray",
    ),
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback by default)."),
    port: int | None = typer.Option(None, help="Port (default: 8000 for rest, 8001 for grpc)."),
    model: str | None = typer.Option(
        None, help="Default model name (must be registered; default: diabetes-mlp)."
    ),
    workers: int | None = typer.Option(
        None, help="rest: uvicorn processes (1); grpc: pool threads (8)."
    ),
    registry: str | None = typer.Option(
        None,
        help="'package.module:attribute' naming a ModelRegistry (default: "
        "lesson.models.mlp_numpy:serving_registry, the diabetes MLP and, by name, its int8 "
        "variant, the SIMULATED accelerator and the toy averaged_ensemble).",
    ),
    max_in_flight: int = typer.Option(
        64, help="Inference requests served at once; more get 503 / RESOURCE_EXHAUSTED."
    ),
    timeout_s: float = typer.Option(
        10.0, help="Per-request timeout in seconds (504 / DEADLINE_EXCEEDED)."
    ),
    offload: bool = typer.Option(
        False, help="rest: run the model in a thread pool (real timeouts; slow models)."
    ),
    warmup: bool = typer.Option(True, help="Warm every model up before reporting ready."),
    drain_grace_s: float = typer.Option(
        0.0, help="On SIGTERM/SIGINT: seconds of not-ready before closing."
    ),
    max_batch_size: int | None = typer.Option(
        None, help="Micro-batching: most rows per model call (off by default)."
    ),
    max_delay_ms: float | None = typer.Option(
        None, help="Micro-batching: longest wait for a batch to fill."
    ),
    max_instances: int = typer.Option(1024, help="Bound: rows per request."),
    max_features: int = typer.Option(256, help="Bound: features per row."),
    max_body_bytes: int = typer.Option(
        1_048_576, help="Bound: request body bytes (413 / RESOURCE_EXHAUSTED)."
    ),
    metrics_port: int | None = typer.Option(
        None, help="grpc: serve Prometheus /metrics on this HTTP port."
    ),
    debug_routes: bool = typer.Option(
        False,
        help="rest: /debug/fault (inject errors), /debug/timings, /debug/spans; llm: "
        "/debug/spans; grpc: /debug/spans on --metrics-port; lessons only.",
    ),
    trace_ratio: float | None = typer.Option(
        None, help="OpenTelemetry traces, this share of requests sampled (0..1); off by default."
    ),
    impl: str = typer.Option(
        "auto",
        help="llm: the model: numpy or python (the tiny transformer), ngram (the stand-in), "
        "accelerator (numpy on a SIMULATED accelerator's step cost), "
        "auto (numpy if its artifact is there, else ngram).",
    ),
    max_num_seqs: int = typer.Option(8, help="llm: sequences the engine runs at once."),
    max_waiting: int = typer.Option(
        32, help="llm: sequences waiting beyond those; more in flight get 429."
    ),
    block_size: int = typer.Option(16, help="llm: KV-cache positions per block."),
    num_blocks: int = typer.Option(256, help="llm: KV-cache blocks."),
    max_tokens_per_step: int = typer.Option(512, help="llm: tokens one engine step computes."),
    scheduling: str = typer.Option("continuous", help="llm: continuous or static batching."),
    prefix_caching: bool = typer.Option(True, help="llm: share cached prompt prefixes."),
    max_prompt_tokens: int = typer.Option(1024, help="llm: bound on a prompt's tokens (400)."),
    max_tokens: int = typer.Option(512, help="llm: bound on max_tokens (400)."),
    engine_loop: str = typer.Option(
        "loop", help="llm: engine steps on the event loop (loop) or a worker thread (thread)."
    ),
    gil_switch_ms: float | None = typer.Option(
        None, help="llm: the GIL switch interval in ms (Python's default: 5)."
    ),
    replicas: int = typer.Option(1, help="ray: a fixed number of replicas."),
    min_replicas: int = typer.Option(1, help="ray: autoscaling's floor (0: scale to zero)."),
    max_replicas: int | None = typer.Option(
        None, help="ray: autoscaling's ceiling; set, it turns autoscaling on."
    ),
    target_ongoing: float = typer.Option(
        2.0, help="ray: autoscaling's target of requests in flight per replica."
    ),
    max_ongoing_requests: int = typer.Option(
        5, help="ray: requests one replica serves at once; more wait in Ray's proxy."
    ),
    max_queued_requests: int = typer.Option(
        -1, help="ray: requests waiting in the proxy before it answers 503 (-1: no bound)."
    ),
    upscale_delay_s: float = typer.Option(30.0, help="ray: autoscaling's upscale delay."),
    downscale_delay_s: float = typer.Option(600.0, help="ray: autoscaling's downscale delay."),
    num_cpus: int = typer.Option(2, help="ray: CPUs the Ray cluster may use."),
) -> None:
    """Serve the lesson's models over REST (V1 + V2) or gRPC (V2) until SIGINT/SIGTERM."""
    from lesson.servers.backend import InferenceBackend, ServerOptions
    from lesson.servers.serve import serve as run

    if kind not in ("rest", "grpc", "llm", "ray"):
        raise typer.BadParameter(
            f"expected 'rest', 'grpc', 'llm' or 'ray', got {kind!r}", param_hint="KIND"
        )
    if kind == "llm":
        _serve_llm(
            host,
            port or 8000,
            dict(
                model=model,
                impl=impl,
                max_num_seqs=max_num_seqs,
                max_waiting=max_waiting,
                block_size=block_size,
                num_blocks=num_blocks,
                max_tokens_per_step=max_tokens_per_step,
                scheduling=scheduling,
                prefix_caching=prefix_caching,
                max_prompt_tokens=max_prompt_tokens,
                max_tokens=max_tokens,
                engine_loop=engine_loop,
                gil_switch_ms=gil_switch_ms,
                drain_grace_s=drain_grace_s,
                warmup=warmup,
                max_body_bytes=max_body_bytes,
                trace_ratio=trace_ratio,
                debug_routes=debug_routes,
            ),
        )
    try:
        options = ServerOptions(
            max_in_flight=max_in_flight,
            timeout_s=timeout_s,
            offload=offload,
            warmup=warmup,
            drain_grace_s=drain_grace_s,
            max_batch_size=max_batch_size,
            max_delay_ms=max_delay_ms,
            max_instances=max_instances,
            max_features=max_features,
            max_body_bytes=max_body_bytes,
            workers=workers,
            registry=registry,
            model=model,
            metrics_port=metrics_port,
            debug_routes=debug_routes,
            trace_ratio=trace_ratio,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if kind == "ray":
        ray_values = dict(
            replicas=replicas,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            target_ongoing=target_ongoing,
            max_ongoing_requests=max_ongoing_requests,
            max_queued_requests=max_queued_requests,
            upscale_delay_s=upscale_delay_s,
            downscale_delay_s=downscale_delay_s,
        )
        _serve_ray(host, port or 8000, num_cpus, ray_values, options)
    if port is None:
        port = 8000 if kind == "rest" else 8001
    try:  # load the models now, so a bad --model or --registry is a one-line error
        backend = InferenceBackend(options=options)
    except (LookupError, ImportError, AttributeError, TypeError, ValueError) as exc:
        typer.echo(f"lesson serve: cannot load the models: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(
        run(kind, host, port, options, backend if (kind == "grpc" or (workers or 1) == 1) else None)
    )


def one_blas_thread() -> bool:
    """Ask OpenBLAS for one thread unless the caller chose (``OPENBLAS_NUM_THREADS``).

    The generative server runs many small matrix products a step; with a thread per core a
    64-120 token prefill took a median 29 ms against 5 ms on one thread (bench_generative,
    2026-12-07). It only works before numpy is first imported: False if it came too late.
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    return "numpy" not in sys.modules


def _serve_llm(host: str, port: int, values: dict) -> None:
    """`lesson serve llm`: the generative server (see `lesson.servers.llm`)."""
    one_blas_thread()
    from lesson.servers.llm.options import LLMOptions
    from lesson.servers.serve import serve as run

    try:
        options = LLMOptions.from_dict(values)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    try:  # build the model and engine now, so a bad option is a one-line error
        from lesson.servers.llm.state import LLMState

        state = LLMState(options)
    except (LookupError, ImportError, AttributeError, TypeError, ValueError, OSError) as exc:
        typer.echo(
            f"lesson serve llm: cannot load the model: {type(exc).__name__}: {exc}", err=True
        )
        raise typer.Exit(2) from None
    raise typer.Exit(run("llm", host, port, options, state))


def _serve_ray(host: str, port: int, num_cpus: int, values: dict, options: ServerOptions) -> None:
    """`lesson serve ray`: the REST app on Ray Serve (see `lesson.servers.ray_serve`)."""
    if host != "127.0.0.1":
        raise typer.BadParameter("ray: the cluster runs on loopback only", param_hint="--host")
    try:
        import ray  # noqa: F401  # the scale extra: say so now rather than after the flags

        from lesson.servers.ray_serve.cli import serve_ray
        from lesson.servers.ray_serve.deployment import RayServeOptions

        ray_options = RayServeOptions(**values, server=options.to_dict())
    except ImportError as exc:
        typer.echo(f"lesson serve ray: needs `pip install lesson[scale]` ({exc})", err=True)
        raise typer.Exit(2) from None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    raise typer.Exit(serve_ray(ray_options, port, num_cpus))


app.command("serve")(serve)


@app.callback()
def _servers() -> None:
    """The lesson's real servers (a command group, so `serve` stays a subcommand)."""


if __name__ == "__main__":
    app()
