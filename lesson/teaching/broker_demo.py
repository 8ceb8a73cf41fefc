"""Notebook 04's demonstrations on the real broker: a consumer killed mid-run, and per-key order.

:func:`crash_recovery_demo` appends events at a fixed rate while two consumers of one group
score them: ``a`` runs in its own process and is SIGKILLed part-way, ``b`` runs here, claims
what ``a`` left pending and finishes. Every 100 ms it samples the group's backlog (lag) and the
freshness of the latest results, so the notebook can chart them; at the end it reads the
accounting from the broker. :func:`ordering_demo` runs two consumers over the same partitions,
then one consumer per partition, and counts results written out of their key's order.

CPython only (sockets, a subprocess); the browser path of notebook 04 uses the in-process
:class:`~lesson.patterns.streaming.consumer.StreamConsumer` instead.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from lesson.core.stats import percentile


@dataclass
class CrashDemo:
    """What :func:`crash_recovery_demo` measured."""

    report: Any  # lesson.patterns.streaming.accounting.BrokerReport
    killed_at_s: float
    pending_at_kill: int
    survivor: Any  # ConsumeReport of consumer b
    timeline: list[dict[str, Any]] = field(default_factory=list)

    def table(self) -> list[dict[str, Any]]:
        """One row: the run's accounting."""
        r = self.report
        return [
            {
                "produced": r.produced,
                "unique ids": r.unique_ids,
                "scored": r.scored,
                "dead-lettered": r.dead_lettered,
                "duplicates suppressed": r.duplicates_suppressed,
                "redelivered": r.redelivered,
                "outstanding": r.outstanding,
                "lost": r.lost,
                "lost to retention": r.lost_to_retention,
            }
        ]

    def chart_rows(self) -> list[dict[str, Any]]:
        """Long-form rows for a line chart: seconds, series, value."""
        rows = []
        for s in self.timeline:
            rows.append({"seconds": s["t"], "series": "lag (entries)", "value": s["backlog"]})
            for q in ("p50", "p99"):
                if s.get(f"freshness_{q}_ms") is not None:
                    rows.append(
                        {
                            "seconds": s["t"],
                            "series": f"freshness {q} (ms)",
                            "value": s[f"freshness_{q}_ms"],
                        }
                    )
        return rows


async def _sample(
    client: Any, layout: Any, start: float, timeline: list[dict[str, Any]], stop: asyncio.Event
) -> None:
    from lesson.patterns.streaming.accounting import freshness_samples
    from lesson.patterns.streaming.producer import group_backlog

    while not stop.is_set():
        fresh = sorted(await freshness_samples(client, layout, count=200))
        timeline.append(
            {
                "t": round(time.monotonic() - start, 2),
                "backlog": await group_backlog(client, layout, "scorers"),
                "freshness_p50_ms": round(percentile(fresh, 50) * 1000, 1) if fresh else None,
                "freshness_p99_ms": round(percentile(fresh, 99) * 1000, 1) if fresh else None,
            }
        )
        try:
            await asyncio.wait_for(stop.wait(), 0.1)
        except TimeoutError:
            pass


#: how long after ``kill_after_s`` the demo waits for consumer ``a`` to hold entries (it may
#: still be starting on a busy machine: a fresh interpreter importing numpy and redis)
KILL_WAIT_S = 30.0


async def _freeze_holding_entries(
    victim: subprocess.Popen, client: Any, layout: Any, deadline: float
) -> None:
    """Stop (SIGSTOP) ``victim`` at a moment it holds unacknowledged entries, so that the SIGKILL
    that follows really lands mid-batch; gives up at ``deadline`` (then it is killed as it is)."""
    from lesson.patterns.streaming.accounting import pending_count

    while time.monotonic() < deadline and victim.poll() is None:
        victim.send_signal(signal.SIGSTOP)
        if await pending_count(client, layout, consumer="a") > 0:
            return
        victim.send_signal(signal.SIGCONT)
        await asyncio.sleep(0.003)


async def crash_recovery_demo(
    url: str,
    *,
    events: int = 8000,
    rate: float = 2000.0,
    duplicates: float = 0.02,
    bad_fraction: float = 0.005,
    kill_after_s: float = 1.0,
    batch: int = 8,
    delay_ms: float = 20.0,
) -> CrashDemo:
    """Produce at ``rate``, kill consumer ``a`` after ``kill_after_s``, let ``b`` finish (see the module docstring).

    Each consumer reads up to ``batch`` entries per partition and spends ``delay_ms`` on each read
    besides scoring, so one consumer alone is slower than the producer: once ``a`` is gone the
    lag grows until the producer stops, then drains.
    """
    import redis.asyncio as aioredis

    from lesson.models.mlp_numpy import load_default_numpy_mlp
    from lesson.patterns.streaming.accounting import broker_report, pending_count
    from lesson.patterns.streaming.broker_consumer import BrokerConsumer, ensure_groups
    from lesson.patterns.streaming.log import StreamLayout
    from lesson.patterns.streaming.producer import produce

    layout = StreamLayout(f"demo{uuid.uuid4().hex[:6]}")
    client = aioredis.from_url(url)
    try:
        await ensure_groups(client, layout, "scorers")
        start = time.monotonic()
        timeline: list[dict[str, Any]] = []
        stop = asyncio.Event()
        sampler = asyncio.create_task(_sample(client, layout, start, timeline, stop))
        victim = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lesson.patterns.streaming.cli",
                "consume",
                "--url",
                url,
                "--namespace",
                layout.namespace,
                "--consumer",
                "a",
                "--batch",
                str(batch),
                "--delay-ms",
                str(delay_ms),
                "--max-seconds",
                "60",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        survivor = BrokerConsumer(
            client,
            layout,
            load_default_numpy_mlp(),
            consumer="b",
            batch=batch,
            delay_ms=delay_ms,
            min_idle_ms=500,
            idle_exit_s=1.5,
            max_seconds=120,
        )
        producing = asyncio.create_task(
            produce(
                client,
                layout,
                events=events,
                rate=rate,
                duplicates=duplicates,
                bad_fraction=bad_fraction,
            )
        )
        consuming = asyncio.create_task(survivor.run())
        try:
            await asyncio.sleep(kill_after_s)
            await _freeze_holding_entries(
                victim, client, layout, deadline=time.monotonic() + KILL_WAIT_S
            )
        finally:
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
        killed_at = time.monotonic() - start
        pending = await pending_count(
            client, layout, consumer="a"
        )  # only a claim can change it now
        try:
            await producing
            done = await consuming
        finally:
            stop.set()
            await sampler
        report = await broker_report(client, layout)
        for key in layout.all_keys():
            await client.delete(key)
        return CrashDemo(report, round(killed_at, 2), pending, done, timeline)
    finally:
        await client.aclose()


async def ordering_demo(url: str, *, events: int = 3000, keys: int = 16) -> list[dict[str, Any]]:
    """Results out of their key's order: two consumers sharing every partition vs one per partition."""
    import redis.asyncio as aioredis

    from lesson.models.mlp_numpy import load_default_numpy_mlp
    from lesson.patterns.streaming.accounting import broker_report, order_violations
    from lesson.patterns.streaming.broker_consumer import BrokerConsumer
    from lesson.patterns.streaming.log import StreamLayout
    from lesson.patterns.streaming.producer import produce

    model = load_default_numpy_mlp()
    client = aioredis.from_url(url)
    rows = []
    try:
        for label, partitions_of in (
            ("2 consumers share every partition", [None, None]),
            ("1 consumer per partition", [[0], [1], [2], [3]]),
        ):
            layout = StreamLayout(f"order{uuid.uuid4().hex[:6]}", partitions=4)
            await produce(client, layout, events=events, keys=keys)
            workers = [
                BrokerConsumer(
                    client,
                    layout,
                    model,
                    consumer=f"c{i}",
                    partitions=parts,
                    batch=8,
                    delay_ms=(1 + 4 * (i % 2)),
                    idle_exit_s=0.5,
                    max_seconds=60,
                )
                for i, parts in enumerate(partitions_of)
            ]
            await asyncio.gather(*(w.run() for w in workers))
            report = await broker_report(client, layout)
            rows.append(
                {
                    "consumers": label,
                    "scored": report.scored,
                    "results out of key order": await order_violations(client, layout),
                }
            )
            for key in layout.all_keys():
                await client.delete(key)
    finally:
        await client.aclose()
    return rows
