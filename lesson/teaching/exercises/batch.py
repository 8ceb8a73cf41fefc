"""The exercises of notebook 03-batch (batch): reading in chunks and writing atomically.

Each exercise is one :class:`Exercise` record built with keyword fields; its checker and its
reference solution sit just above it. :mod:`lesson.teaching.exercises` collects the records.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from itertools import count, islice
from typing import Any

from lesson.teaching.exercises._record import Exercise, ExerciseFailure, expect

NOTEBOOK = "03-batch"

# ---- chunked -----------------------------------------------------------------------------------


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Yield lists of up to ``size`` items, reading lazily (works on endless iterators)."""
    if size < 1:
        raise ValueError("size must be >= 1")
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def check_chunked(fn: Callable[[Any, int], Any]) -> str:
    expect(
        [list(c) for c in fn(range(7), 3)] == [[0, 1, 2], [3, 4, 5], [6]],
        "chunks of range(7) by 3 are wrong",
    )
    expect([list(c) for c in fn([], 4)] == [], "an empty input must give no chunks")
    reads = count()

    def endless():  # a stream far longer than memory; stops the check if read eagerly
        for n in reads:
            if n >= 100_000:
                raise ExerciseFailure(
                    "your function tried to read an endless stream to the end: read lazily"
                )
            yield n

    first = next(iter(fn(endless(), 2)))
    expect(
        list(first) == [0, 1],
        "the first chunk of an endless stream must come out without reading it all",
    )
    expect(next(reads) == 2, "your function read ahead of the first chunk: read lazily")
    return "lazy chunks: memory stays flat however long the file"


CHUNKED = Exercise(
    id="chunked",
    notebook=NOTEBOOK,
    title="Read in chunks",
    task="Write chunked(items, size) yielding lists of up to size items, lazily.",
    hint="itertools.islice on one shared iterator.",
    checker=check_chunked,
    solution=chunked,
)


# ---- atomic_write ------------------------------------------------------------------------------


def atomic_write(path: str, lines: Iterable[str]) -> None:
    """Write lines to ``path`` so that a failure part-way leaves no half-written file."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".partial-")
    try:
        with os.fdopen(fd, "w") as handle:
            for line in lines:
                handle.write(line + "\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def check_atomic_write(fn: Callable[[str, Any], None]) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "scores.csv")
        fn(path, ["a,1", "b,2"])
        with open(path) as handle:
            expect(
                handle.read().splitlines() == ["a,1", "b,2"],
                "the written file does not hold the lines",
            )

        def interrupted():
            yield "c,3"
            raise KeyboardInterrupt("power cut")

        try:
            fn(path, interrupted())
        except KeyboardInterrupt:
            pass
        with open(path) as handle:
            expect(
                handle.read().splitlines() == ["a,1", "b,2"],
                "an interrupted write changed the existing file: write a temporary file, then rename",
            )
        leftovers = sorted(set(os.listdir(tmp)) - {"scores.csv"})
        expect(not leftovers, f"an interrupted write left files behind: {leftovers}")
    return "a failed write leaves the old output whole and no debris"


ATOMIC_WRITE = Exercise(
    id="atomic_write",
    notebook=NOTEBOOK,
    title="Write output atomically",
    task="Write atomic_write(path, lines) so an interruption leaves the old file whole.",
    hint="tempfile.mkstemp in the same folder, then os.replace; clean up on any exception.",
    checker=check_atomic_write,
    solution=atomic_write,
)


EXERCISES: tuple[Exercise, ...] = (
    CHUNKED,
    ATOMIC_WRITE,
)
