"""`lesson loadtest`: load-test a running server over the wire (CPython; the `serve` extra).

Registered on the main CLI by `lesson.cli` (`COMMANDS`); also runnable on its own::

    python -m lesson.loadtest.cli --url http://127.0.0.1:8000 --concurrency 8 --requests 2000
    python -m lesson.loadtest.cli --url http://127.0.0.1:8000 --rate 500 --duration 5 --arrivals poisson
"""

from __future__ import annotations

import typer

__all__ = ["loadtest"]


def loadtest(
    url: str = typer.Option(..., help="http://127.0.0.1:PORT or grpc://127.0.0.1:PORT"),
    concurrency: int | None = typer.Option(
        None, help="Closed loop: workers (default 8); open loop: most in flight (64)."
    ),
    requests: int = typer.Option(1000, help="At most this many requests."),
    rate: float | None = typer.Option(
        None, help="Open loop: requests per second (latency from intended send time)."
    ),
    duration: float = typer.Option(10.0, help="At most this many seconds."),
    model: str | None = typer.Option(None, help="Model name (default: the server's default)."),
    protocol: str = typer.Option(
        "v1", help="REST only: v1 (instances/predictions JSON) or v2 (tensors)."
    ),
    features: int | None = typer.Option(
        None,
        help="Features per instance (default: what the model expects, from the server's metadata; else 8).",
    ),
    batch: int = typer.Option(1, help="Instances per request."),
    warmup: int = typer.Option(20, help="Warm-up requests, not measured."),
    json_output: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    seed: int = typer.Option(0, help="Seed for the generated payloads and the drawn arrivals."),
    arrivals: str = typer.Option(
        "uniform",
        help="Open loop: uniform (evenly spaced), poisson (exponential gaps) "
        "or gamma (bursty: see --burstiness).",
    ),
    burstiness: float = typer.Option(
        1.0,
        help="arrivals=gamma: the gamma shape, 0.01..100 (< 1 burstier than "
        "Poisson; gap CV 1/sqrt(burstiness)).",
    ),
) -> None:
    """Load-test a running server over the wire with the lesson's harness."""
    from lesson.loadtest.wire import run_loadtest

    raise typer.Exit(
        run_loadtest(
            url=url,
            concurrency=concurrency,
            requests=requests,
            rate=rate,
            duration=duration,
            model=model,
            protocol=protocol,
            features=features,
            batch=batch,
            warmup=warmup,
            json_output=json_output,
            seed=seed,
            arrivals=arrivals,
            burstiness=burstiness,
        )
    )


if __name__ == "__main__":
    typer.run(loadtest)
