"""Streaming inference: score each event of a stream as it arrives.

An event is ``{"id": ..., "key": ..., "instances": [...]}`` (``id`` and ``key`` optional; the
``key`` is the partition key a broker such as Kafka would use). The adapter yields one
response per event, in order, whose metadata names the event::

    >>> from lesson import averaged_ensembled_model, event_stream_adapter
    >>> adapter = event_stream_adapter(averaged_ensembled_model)
    >>> next(adapter([{"id": "e1", "key": "user-7", "instances": [0.2, 0.4, 0.6]}]))["metadata"]["event_id"]
    'e1'

Error policy (``on_error``):

- ``"emit"`` (default): a bad event does not stop the stream. It yields an *error record*
  ``{"error": {"type", "message", "errors"}, "metadata": {"transport", "event_id", "key",
  "sequence"}}`` in its place (a dead-letter record: test with :func:`is_error`), and the
  next events are scored as usual.
- ``"raise"``: a bad event raises :class:`StreamEventError` naming the event; the stream ends.

Only bad *input* is handled this way; a model that crashes raises in both modes.
Sync iterables go through ``adapter(events)``; sync or async iterables through
``adapter.astream(events)`` (an async generator).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any

from lesson.core.schema import ValidationError
from lesson.core.service import PredictionService

_ON_ERROR = ("emit", "raise")
MAX_ID_LENGTH = 256


class StreamEventError(ValidationError):
    """A bad event on a stream; ``loc`` starts with ``["events", sequence]``.

    Attributes:
        sequence: the event's position in the stream (0-based).
        event_id: the event's ``id`` if it had a usable one.
    """

    sequence: int | None = None
    event_id: Any = None


def is_error(record: dict[str, Any]) -> bool:
    """True for an error record yielded in ``on_error="emit"`` mode."""
    return isinstance(record, dict) and "error" in record


def _ident_problems(event: dict[str, Any], name: str, sequence: int) -> list[dict[str, Any]]:
    """Errors for an event's optional ``id`` / ``key`` (a string of <= 256 chars or an int)."""
    value = event.get(name)
    loc = ["events", sequence, name]
    if value is None:
        return []
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return [
            {
                "loc": loc,
                "msg": f"Input should be a string or an integer, got {type(value).__name__}",
                "type": "type_error",
            }
        ]
    if isinstance(value, str) and len(value) > MAX_ID_LENGTH:
        return [
            {
                "loc": loc,
                "msg": f"String should have at most {MAX_ID_LENGTH} characters",
                "type": "too_long",
            }
        ]
    return []


def _usable(event: Any, name: str, sequence: int, default: Any = None) -> Any:
    """The event's ``id`` / ``key`` if it is valid, else ``default``."""
    if not isinstance(event, dict) or _ident_problems(event, name, sequence):
        return default
    value = event.get(name)
    return default if value is None else value


class EventStreamAdapter:
    """Scores a stream of events through the shared :class:`PredictionService`.

    Args:
        model: a Model or a function ``fn(instance) -> list[float]`` (ignored if
            ``service`` is given).
        service: share an existing service.
        on_error: ``"emit"`` (error records, the stream goes on) or ``"raise"``.
    """

    def __init__(
        self, model: Any = None, *, service: PredictionService | None = None, on_error: str = "emit"
    ):
        if on_error not in _ON_ERROR:
            raise ValueError(f"on_error must be one of {_ON_ERROR}, got {on_error!r}")
        if service is None:
            service = PredictionService() if model is None else PredictionService.for_model(model)
        self.service = service
        self.on_error = on_error

    def process(self, event: Any, sequence: int = 0) -> dict[str, Any]:
        """Score one event; a bad event gives an error record or raises, per ``on_error``."""
        try:
            return self._score(event, sequence)
        except StreamEventError as exc:
            if self.on_error == "raise":
                raise
            return {
                "error": {"type": "ValidationError", "message": str(exc), "errors": exc.errors},
                "metadata": {
                    "transport": "streaming",
                    "event_id": exc.event_id,
                    "key": _usable(event, "key", sequence),
                    "sequence": sequence,
                },
            }

    def _score(self, event: Any, sequence: int) -> dict[str, Any]:
        if not isinstance(event, dict):
            message = f"Event should be an object with 'instances', got {type(event).__name__}"
            raise self._error(
                [{"loc": ["events", sequence], "msg": message, "type": "type_error"}],
                sequence,
                None,
            )
        event_id = _usable(event, "id", sequence, default=sequence)
        problems = _ident_problems(event, "id", sequence) + _ident_problems(event, "key", sequence)
        if problems:
            raise self._error(
                problems,
                sequence,
                event_id if "id" not in {p["loc"][-1] for p in problems} else None,
            )
        try:
            return self.service.predict(
                event,
                transport="streaming",
                extra_metadata={
                    "event_id": event_id,
                    "key": event.get("key"),
                    "sequence": sequence,
                },
            )
        except ValidationError as exc:
            errors = [dict(e, loc=["events", sequence, *e["loc"][1:]]) for e in exc.errors]
            raise self._error(errors, sequence, event_id) from None

    @staticmethod
    def _error(errors: list[dict[str, Any]], sequence: int, event_id: Any) -> StreamEventError:
        error = StreamEventError(errors)
        error.sequence = sequence
        error.event_id = event_id
        return error

    def __call__(self, events: Iterable[Any]) -> Iterator[dict[str, Any]]:
        """Score a sync iterable of events lazily, one response (or error record) per event."""
        for sequence, event in enumerate(events):
            yield self.process(event, sequence)

    async def astream(
        self, events: Iterable[Any] | AsyncIterable[Any]
    ) -> AsyncIterator[dict[str, Any]]:
        """Score a sync or async iterable of events; an async generator of responses."""
        if hasattr(events, "__aiter__"):
            sequence = 0
            async for event in events:  # type: ignore[union-attr]
                yield self.process(event, sequence)
                sequence += 1
        else:
            for sequence, event in enumerate(events):  # type: ignore[arg-type]
                yield self.process(event, sequence)


def event_stream_adapter(
    model: Any = None, *, on_error: str = "emit", service: PredictionService | None = None
) -> EventStreamAdapter:
    """An :class:`EventStreamAdapter` for ``model`` (default: the registry's default model)."""
    return EventStreamAdapter(model, service=service, on_error=on_error)
