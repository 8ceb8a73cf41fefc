"""The log's layout on Redis Streams, the event encoding, and the idempotent sink.

Keys (all under one namespace, default ``lesson``):

- ``NS:events:P`` — partition ``P`` of the event log (a Redis Stream; ``XADD`` appends,
  ``MAXLEN ~`` bounds its retention). A key always goes to the same partition
  (:func:`partition_of`), so one consumer per partition keeps each key's order.
- ``NS:results`` — a hash: event id -> its result. Writing it is the "seen" mark too.
- ``NS:out`` — the results as a stream (id, key, prediction, event and write times).
- ``NS:dead`` — dead letters: events that could not be scored, with the reason.
- ``NS:ids`` — a set of every event id produced (the accounting's "unique ids").
- ``NS:stats`` — counters: produced, scored, duplicates_suppressed, redelivered, dead_lettered,
  lost_to_retention.

The sink is one Lua script (:data:`SINK_SCRIPT`): for each event it sets the result only if the
id has none yet (``HSETNX``) and appends to ``out`` or ``dead`` in the same atomic step, so a
redelivered or duplicated event changes nothing. The consumer acknowledges (``XACK``) only
after the script returned. Standard library only.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: default retention per partition (entries, approximate trimming: ``XADD ... MAXLEN ~``)
DEFAULT_MAXLEN = 1_000_000


def partition_of(key: str, partitions: int) -> int:
    """Stable partition of a key (the same in every run and process: CRC-32, not ``hash``)."""
    return zlib.crc32(str(key).encode("utf-8")) % partitions


@dataclass(frozen=True)
class StreamLayout:
    """Where one streaming run keeps its state on the broker.

    Args:
        namespace: key prefix (several runs can share a broker under different names).
        partitions: event-log partitions (1..64).
    """

    namespace: str = "lesson"
    partitions: int = 4

    def __post_init__(self) -> None:
        if (
            isinstance(self.partitions, bool)
            or not isinstance(self.partitions, int)
            or not 1 <= self.partitions <= 64
        ):
            raise ValueError(f"partitions must be an integer in 1..64, got {self.partitions!r}")
        if not self.namespace or any(c in self.namespace for c in " \t\n{}"):
            raise ValueError(f"namespace must be a non-empty word, got {self.namespace!r}")

    def events(self, partition: int) -> str:
        return f"{self.namespace}:events:{partition}"

    @property
    def streams(self) -> list[str]:
        """Every partition's stream, in order."""
        return [self.events(p) for p in range(self.partitions)]

    @property
    def results(self) -> str:
        return f"{self.namespace}:results"

    @property
    def out(self) -> str:
        return f"{self.namespace}:out"

    @property
    def dead(self) -> str:
        return f"{self.namespace}:dead"

    @property
    def ids(self) -> str:
        return f"{self.namespace}:ids"

    @property
    def stats(self) -> str:
        return f"{self.namespace}:stats"

    def stream_for(self, key: str) -> str:
        return self.events(partition_of(key, self.partitions))

    def all_keys(self) -> list[str]:
        """Every key this layout writes (to clear a run)."""
        return [*self.streams, self.results, self.out, self.dead, self.ids, self.stats]


class BadEvent(ValueError):
    """An event that cannot be scored; ``str()`` is the dead letter's reason."""


def encode_event(
    event_id: str, key: str, event_time: float, features: Sequence[float]
) -> dict[str, str]:
    """The stream entry's fields for one event."""
    return {
        "id": event_id,
        "key": key,
        "t": repr(float(event_time)),
        "x": json.dumps(list(features)),
    }


def decode_event(
    fields: Mapping[Any, Any], n_features: int | None
) -> tuple[str, str, float, list[float]]:
    """``(id, key, event_time, features)`` from a stream entry; :class:`BadEvent` says what is wrong.

    The id is returned even for a bad event (when there is one), so it can be dead-lettered.
    """
    f = {as_text(k): as_text(v) for k, v in fields.items()}
    event_id = f.get("id", "")
    if not event_id:
        raise BadEvent("missing field 'id'")
    key = f.get("key", "")
    try:
        event_time = float(f.get("t", "nan"))
    except ValueError:
        raise BadEvent(f"event {event_id}: field 't' is not a number") from None
    try:
        features = json.loads(f["x"])
    except KeyError:
        raise BadEvent(f"event {event_id}: missing field 'x' (the features)") from None
    except ValueError:
        raise BadEvent(f"event {event_id}: field 'x' is not JSON") from None
    if not isinstance(features, list):
        raise BadEvent(f"event {event_id}: field 'x' must be a list of numbers")
    if n_features is not None and len(features) != n_features:
        raise BadEvent(f"event {event_id}: expected {n_features} features, got {len(features)}")
    for i, value in enumerate(features):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadEvent(
                f"event {event_id}: feature {i} is {type(value).__name__}, expected a number"
            )
        if not math.isfinite(value):
            raise BadEvent(f"event {event_id}: feature {i} is {value!r}, expected a finite number")
    return event_id, key, event_time, [float(v) for v in features]


def as_text(value: Any) -> str:
    """A Redis reply field as text (redis-py returns bytes unless asked to decode)."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


#: KEYS: results, out, dead, stats. ARGV: maxlen, then 4 values per event:
#: id, key, event_time, and "p:<prediction>" or "d:<reason>". Returns {scored, dead, duplicates}.
SINK_SCRIPT = """
local now = redis.call('TIME')
local written = now[1] .. '.' .. string.format('%06d', now[2])
local maxlen = ARGV[1]
local scored, dead, dup = 0, 0, 0
for i = 2, #ARGV, 4 do
  local id, key, t, value = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if redis.call('HSETNX', KEYS[1], id, value) == 1 then
    if string.sub(value, 1, 2) == 'p:' then
      redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, '*', 'id', id, 'key', key,
                 'p', string.sub(value, 3), 't', t, 'w', written)
      scored = scored + 1
    else
      redis.call('XADD', KEYS[3], 'MAXLEN', '~', maxlen, '*', 'id', id, 'key', key,
                 'reason', string.sub(value, 3), 't', t, 'w', written)
      dead = dead + 1
    end
  else
    dup = dup + 1
  end
end
if scored > 0 then redis.call('HINCRBY', KEYS[4], 'scored', scored) end
if dead > 0 then redis.call('HINCRBY', KEYS[4], 'dead_lettered', dead) end
if dup > 0 then redis.call('HINCRBY', KEYS[4], 'duplicates_suppressed', dup) end
return {scored, dead, dup}
"""


def sink_arguments(
    layout: StreamLayout, items: Sequence[tuple[str, str, float, str]], maxlen: int = DEFAULT_MAXLEN
) -> tuple[list[str], list[str]]:
    """``(keys, args)`` for :data:`SINK_SCRIPT`; ``items`` are ``(id, key, event_time, "p:.." | "d:..")``."""
    args = [str(maxlen)]
    for event_id, key, event_time, value in items:
        args += [event_id, key, repr(float(event_time)), value]
    return [layout.results, layout.out, layout.dead, layout.stats], args
