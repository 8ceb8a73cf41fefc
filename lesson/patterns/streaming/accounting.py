"""The accounting of a streaming run, read from the broker's own state (not from any client).

After any run, crashed or not, once nothing is pending or undelivered::

    scored + dead_lettered == unique event ids        (lost == 0)

``duplicates_suppressed`` counts deliveries the sink refused because the id already had a
result (producer retries, and redeliveries after a crash); ``redelivered`` counts entries a
consumer claimed from another one's pending list; ``lost_to_retention`` counts pending entries
the log trimmed away before any consumer finished them (``XAUTOCLAIM`` names them on Redis >=
7.0): their events are among ``lost``, and now the reason is counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lesson.core.stats import format_ms, percentile
from lesson.patterns.streaming.log import StreamLayout, as_text
from lesson.patterns.streaming.producer import group_backlog

FRESHNESS_SAMPLE = 10_000


@dataclass
class BrokerReport:
    """The run's accounting (see the module docstring)."""

    produced: int
    unique_ids: int
    scored: int
    duplicates_suppressed: int
    redelivered: int
    dead_lettered: int
    outstanding: int
    lost_to_retention: int = 0
    freshness_s: list[float] = field(default_factory=list, repr=False)

    @property
    def lost(self) -> int | None:
        """Unique ids with neither a result nor a dead letter; None while entries are outstanding."""
        if self.outstanding:
            return None
        return self.unique_ids - self.scored - self.dead_lettered

    def freshness_ms(self) -> dict[str, float]:
        """Event time -> result written, p50/p99/max in ms (the latest results, up to 10,000)."""
        ordered = sorted(self.freshness_s)
        return {
            name: round(percentile(ordered, q) * 1000.0, 3) if ordered else float("nan")
            for name, q in (("p50", 50), ("p99", 99), ("max", 100))
        }

    def summary(self) -> dict[str, Any]:
        return {
            "produced": self.produced,
            "unique_ids": self.unique_ids,
            "scored": self.scored,
            "duplicates_suppressed": self.duplicates_suppressed,
            "redelivered": self.redelivered,
            "dead_lettered": self.dead_lettered,
            "outstanding": self.outstanding,
            "lost": self.lost,
            "lost_to_retention": self.lost_to_retention,
            "freshness_ms": self.freshness_ms(),
        }

    def to_text(self) -> str:
        fresh = {k: format_ms(v / 1000.0) for k, v in self.freshness_ms().items()}
        lost = "not known yet" if self.lost is None else str(self.lost)
        return "\n".join(
            [
                f"produced              {self.produced}  (log entries appended, duplicates included)",
                f"unique event ids      {self.unique_ids}",
                f"scored                {self.scored}",
                f"dead-lettered         {self.dead_lettered}",
                f"duplicates suppressed {self.duplicates_suppressed}",
                f"redelivered           {self.redelivered}  (claimed from a consumer that stopped)",
                f"outstanding           {self.outstanding}  (undelivered + pending)",
                f"lost                  {lost}",
                f"lost to retention     {self.lost_to_retention}  (pending entries trimmed from the log before they "
                "were finished)",
                f"freshness             p50 {fresh['p50']}, p99 {fresh['p99']}, max {fresh['max']} "
                f"(event time -> result written)",
            ]
        )


def _int(value: Any) -> int:
    return int(value) if value not in (None, b"", "") else 0


async def freshness_samples(
    client: Any, layout: StreamLayout, count: int = FRESHNESS_SAMPLE
) -> list[float]:
    """Seconds from event time to result written, for the latest ``count`` results."""
    entries = await client.xrevrange(layout.out, count=count)
    samples = []
    for _, fields in entries:
        try:
            samples.append(float(fields[b"w"]) - float(fields[b"t"]))
        except (KeyError, ValueError):
            continue
    return samples


async def pending_count(
    client: Any, layout: StreamLayout, group: str = "scorers", consumer: str | None = None
) -> int:
    """Entries delivered to ``group``'s consumers (or to ``consumer`` alone) and not yet acknowledged.

    0 before the group exists.
    """
    import redis.exceptions

    total = 0
    for stream in layout.streams:
        try:
            summary = await client.xpending(stream, group)
        except redis.exceptions.ResponseError:  # no such stream or group yet
            continue
        if consumer is None:
            total += int(summary["pending"])
        else:
            total += sum(
                int(c["pending"])
                for c in summary.get("consumers") or []
                if as_text(c["name"]) == consumer
            )
    return total


async def broker_report(client: Any, layout: StreamLayout, group: str = "scorers") -> BrokerReport:
    """Read the run's accounting from the broker."""
    stats = await client.hgetall(layout.stats)
    get = {k.decode() if isinstance(k, bytes) else k: _int(v) for k, v in stats.items()}
    return BrokerReport(
        produced=get.get("produced", 0),
        unique_ids=_int(await client.scard(layout.ids)),
        scored=get.get("scored", 0),
        duplicates_suppressed=get.get("duplicates_suppressed", 0),
        redelivered=get.get("redelivered", 0),
        dead_lettered=get.get("dead_lettered", 0),
        outstanding=await group_backlog(client, layout, group),
        lost_to_retention=get.get("lost_to_retention", 0),
        freshness_s=await freshness_samples(client, layout),
    )


async def order_violations(client: Any, layout: StreamLayout, count: int = 100_000) -> int:
    """Results written out of order for their key (a later event of a key written before an earlier one).

    Event ids are ``e<sequence>``; within one key the sequence must rise along the output stream.
    """
    last: dict[bytes, int] = {}
    violations = 0
    for _, fields in await client.xrange(layout.out, count=count):
        key, seq = fields.get(b"key", b""), int(fields[b"id"].decode().lstrip("e") or 0)
        if seq < last.get(key, -1):
            violations += 1
        last[key] = max(seq, last.get(key, -1))
    return violations
