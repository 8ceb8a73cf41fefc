"""``lesson stream produce|consume|report``: streaming inference on the broker, from a shell.

Every command takes ``--url redis://HOST:PORT`` (default: the broker ``lesson broker start``
started) and ``--namespace`` (default ``lesson``: one run's keys)::

    lesson broker start
    lesson stream produce --rate 2000 --events 20000 --duplicates 0.02
    lesson stream consume --group scorers --consumer c1 --idle-exit 2
    lesson stream report
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import typer

from lesson.patterns.streaming.broker_state import NoBrokerError, default_url

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Streaming inference on a real broker (Redis Streams, consumer groups).",
)

URL = typer.Option(
    None,
    "--url",
    help="redis://127.0.0.1:PORT (default: the broker `lesson broker start` started).",
)
NAMESPACE = typer.Option("lesson", help="Key prefix of the run on the broker.")
PARTITIONS = typer.Option(
    4, help="Partitions of the event log (a key always maps to the same one)."
)


def _client(url: str | None) -> Any:
    import redis.asyncio as aioredis

    try:
        address = default_url(url)
    except NoBrokerError as exc:
        typer.echo(f"lesson stream: {exc}", err=True)
        raise typer.Exit(2) from None
    if not address.startswith("redis://127.0.0.1:") and not address.startswith(
        "redis://localhost:"
    ):
        typer.echo(
            f"lesson stream: the broker must be on loopback (redis://127.0.0.1:PORT), got {address}",
            err=True,
        )
        raise typer.Exit(2)
    return aioredis.from_url(address, socket_connect_timeout=2.0), address


async def _check_reachable(client: Any, address: str) -> None:
    import redis.exceptions

    try:
        await client.ping()
    except (redis.exceptions.ConnectionError, OSError) as exc:
        typer.echo(
            f"lesson stream: no broker answers at {address} ({exc}); start one with `lesson broker start`",
            err=True,
        )
        raise typer.Exit(2) from None


def _layout(namespace: str, partitions: int) -> Any:
    from lesson.patterns.streaming.log import StreamLayout

    try:
        return StreamLayout(namespace, partitions)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _run_on_broker(url: str | None, step: Callable[[Any], Awaitable[Any]]) -> Any:
    """Connect (loopback only), check the broker answers, run ``step(client)``, always close."""
    client, address = _client(url)

    async def main() -> Any:
        await _check_reachable(client, address)
        try:
            return await step(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


@app.command()
def produce(
    events: int = typer.Option(..., help="Unique events to append (1..1,000,000)."),
    rate: float | None = typer.Option(
        None, help="Events per second (default: as fast as the broker takes them)."
    ),
    duplicates: float = typer.Option(
        0.0, help="Probability an event is appended twice (a producer retry)."
    ),
    keys: int = typer.Option(16, help="Distinct keys."),
    bad: float = typer.Option(
        0.0, "--bad", help="Share of events with a bad payload (they go to dead letters)."
    ),
    max_lag: int | None = typer.Option(
        None, help="Pause while the group's backlog exceeds this many entries."
    ),
    group: str = typer.Option("scorers", help="The group --max-lag watches."),
    seed: int = typer.Option(0, help="Random seed."),
    url: str | None = URL,
    namespace: str = NAMESPACE,
    partitions: int = PARTITIONS,
) -> None:
    """Append realistic events for the default model to the log."""
    from lesson.patterns.streaming.producer import produce as run

    layout = _layout(namespace, partitions)
    try:
        report = _run_on_broker(
            url,
            lambda client: run(
                client,
                layout,
                events=events,
                rate=rate,
                duplicates=duplicates,
                keys=keys,
                bad_fraction=bad,
                seed=seed,
                max_lag=max_lag,
                group=group,
            ),
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(json.dumps(report.summary()))


@app.command()
def consume(
    group: str = typer.Option("scorers", help="Consumer group."),
    consumer: str = typer.Option("c1", help="This consumer's name in the group."),
    partition: list[int] | None = typer.Option(
        None, help="Partition(s) to read (repeat; default: all)."
    ),
    batch: int = typer.Option(
        128, help="Most entries per read and partition, scored in one model call."
    ),
    max_events: int | None = typer.Option(None, help="Stop after reading this many."),
    max_seconds: float = typer.Option(60.0, help="Stop after this long (at most 3600)."),
    idle_exit: float | None = typer.Option(
        None, help="Stop once nothing new arrived for this many seconds."
    ),
    min_idle_ms: int = typer.Option(
        2000, help="Claim another consumer's pending entries idle this long."
    ),
    delay_ms: float = typer.Option(
        0.0, help="Sleep between reading and scoring each batch (a slow consumer)."
    ),
    url: str | None = URL,
    namespace: str = NAMESPACE,
    partitions: int = PARTITIONS,
) -> None:
    """Score events with the default model in a consumer group; acknowledge after the durable write."""
    from lesson.models.mlp_numpy import load_default_numpy_mlp
    from lesson.patterns.streaming.broker_consumer import BrokerConsumer, BrokerDownError

    layout = _layout(namespace, partitions)
    model = load_default_numpy_mlp()

    def worker(client: Any) -> BrokerConsumer:
        return BrokerConsumer(
            client,
            layout,
            model,
            group=group,
            consumer=consumer,
            partitions=partition or None,
            batch=batch,
            max_events=max_events,
            max_seconds=max_seconds,
            idle_exit_s=idle_exit,
            min_idle_ms=min_idle_ms,
            delay_ms=delay_ms,
        )

    try:
        worker(None)  # the options are checked before anything connects
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    try:
        report = _run_on_broker(url, lambda client: worker(client).run())
    except BrokerDownError as exc:
        typer.echo(f"lesson stream consume: {exc}", err=True)
        raise typer.Exit(3) from None
    typer.echo(json.dumps(report.summary()))


@app.command()
def report(
    group: str = typer.Option("scorers", help="Consumer group."),
    json_output: bool = typer.Option(False, "--json", help="Print the accounting as JSON."),
    url: str | None = URL,
    namespace: str = NAMESPACE,
    partitions: int = PARTITIONS,
) -> None:
    """The run's accounting from the broker's state: produced, scored, duplicates, dead letters, lag."""
    from lesson.patterns.streaming.accounting import broker_report

    layout = _layout(namespace, partitions)
    result = _run_on_broker(url, lambda client: broker_report(client, layout, group))
    typer.echo(json.dumps(result.summary()) if json_output else result.to_text())


if __name__ == "__main__":
    app()
