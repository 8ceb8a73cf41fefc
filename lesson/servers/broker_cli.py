"""``lesson broker start|stop|status``: the project's own Redis on loopback, from a shell.

``start`` records the broker's address (see :mod:`lesson.patterns.streaming.broker_state`), so
``lesson stream`` commands need no ``--url``; ``stop`` stops it and removes its data folder.
"""

from __future__ import annotations

import typer

from lesson.servers.daemon import stop_status_commands

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="The streaming pattern's broker: redis-server on 127.0.0.1, started and stopped by the project.",
)


@app.command()
def start(
    port: int | None = typer.Option(None, help="Port on 127.0.0.1 (default: a free one)."),
) -> None:
    """Start a broker in the background and print its URL."""
    from lesson.servers.broker import BrokerUnavailableError, start_command

    try:
        raise typer.Exit(start_command(port))
    except BrokerUnavailableError as exc:
        typer.echo(f"lesson broker start: {exc}", err=True)
        raise typer.Exit(2) from None


stop_status_commands(app, "lesson.servers.broker", "broker")


if __name__ == "__main__":
    app()
