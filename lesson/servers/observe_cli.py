"""``lesson observe start|stop|status``: the project's own Prometheus on loopback, from a shell.

``start`` scrapes the given servers' metrics every second with the SLO rules loaded and records
where it runs; ``stop`` stops it and removes its data folder. Queries: its HTTP API, e.g.
``curl 'http://127.0.0.1:PORT/api/v1/query?query=up'`` (see :mod:`lesson.servers.promql`).
"""

from __future__ import annotations

import typer

from lesson.servers.daemon import stop_status_commands

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Prometheus on 127.0.0.1 scraping the lesson's servers, started and stopped by the project.",
)


@app.command()
def start(
    target: list[str] = typer.Option(
        ...,
        help="[job=]host:port serving /metrics: `lesson serve rest`'s or `llm`'s port, or "
        "gRPC's --metrics-port (repeat for several; e.g. llm=127.0.0.1:8002).",
    ),
    port: int | None = typer.Option(None, help="Port on 127.0.0.1 (default: a free one)."),
) -> None:
    """Start Prometheus in the background and print its URL."""
    from lesson.servers.observe import PrometheusUnavailableError, start_command

    try:
        raise typer.Exit(start_command(target, port))
    except PrometheusUnavailableError as exc:
        typer.echo(f"lesson observe start: {exc}", err=True)
        raise typer.Exit(2) from None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--target") from None


stop_status_commands(app, "lesson.servers.observe", "Prometheus")


if __name__ == "__main__":
    app()
