"""The exercises of notebook 02-grpc (gRPC): the raw FP32 bytes of a tensor.

Each exercise is one :class:`Exercise` record built with keyword fields; its checker and its
reference solution sit just above it. :mod:`lesson.teaching.exercises` collects the records.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence

from lesson.teaching.exercises._record import Exercise, ExerciseFailure, expect

NOTEBOOK = "02-grpc"

# ---- fp32_raw ----------------------------------------------------------------------------------


def fp32_raw(values: Sequence[float]) -> bytes:
    """Encode numbers as little-endian float32, as V2 ``raw_input_contents`` carries them."""
    return struct.pack(f"<{len(values)}f", *values)


def check_fp32_raw(fn: Callable[[list[float]], bytes]) -> str:
    for values in ([0.5, -1.25, 3.0], [], [1e-3] * 7):
        got = fn(list(values))
        want = struct.pack(f"<{len(values)}f", *values)
        expect(isinstance(got, (bytes, bytearray)), f"return bytes, got {type(got).__name__}")
        expect(
            len(got) == len(want),
            f"{len(values)} FP32 values take {len(want)} bytes, you returned {len(got)}",
        )
        expect(
            bytes(got) == want,
            f"bytes for {values} differ: check float32 ('f') and little-endian ('<')",
        )
    return "raw FP32 bytes are little-endian and exact"


FP32_RAW = Exercise(
    id="fp32_raw",
    notebook=NOTEBOOK,
    title="Encode a tensor as raw bytes",
    task="Write encode(values) -> bytes in little-endian float32, as raw_input_contents carries it.",
    hint="struct.pack with '<' and 'f'.",
    checker=check_fp32_raw,
    solution=fp32_raw,
)


# ---- fp32_decode -------------------------------------------------------------------------------


def fp32_decode(raw: bytes, shape: Sequence[int]) -> list[list[float]]:
    """Decode little-endian float32 bytes into rows of a 2-D ``shape``."""
    rows, cols = shape
    if len(raw) != rows * cols * 4:
        raise ValueError(
            f"expected {rows * cols * 4} bytes for shape {list(shape)}, got {len(raw)}"
        )
    flat = struct.unpack(f"<{rows * cols}f", raw)
    return [list(flat[r * cols : (r + 1) * cols]) for r in range(rows)]


def check_fp32_decode(fn: Callable[[bytes, list[int]], list[list[float]]]) -> str:
    raw = struct.pack("<6f", 1, 2, 3, 4, 5, 6)
    got = fn(raw, [2, 3])
    expect(
        [list(map(float, r)) for r in got] == [[1, 2, 3], [4, 5, 6]],
        f"decoded {got!r}, expected [[1,2,3],[4,5,6]]",
    )
    got = fn(raw, [3, 2])
    expect(
        [list(map(float, r)) for r in got] == [[1, 2], [3, 4], [5, 6]],
        f"shape [3, 2] decoded as {got!r}",
    )
    try:
        fn(raw[:-1], [2, 3])
    except ValueError:
        pass
    except Exception as err:
        raise ExerciseFailure(
            f"truncated bytes raised {type(err).__name__}; raise ValueError with a message"
        ) from None
    else:
        raise ExerciseFailure("23 bytes for shape [2, 3] were accepted: check the byte count first")
    return "decodes rows by shape and refuses a truncated payload"


FP32_DECODE = Exercise(
    id="fp32_decode",
    notebook=NOTEBOOK,
    title="Decode raw output bytes",
    task=(
        "Write decode(raw, shape) -> rows for a 2-D shape; refuse a wrong byte count "
        "with ValueError."
    ),
    hint="A float32 is 4 bytes: check len(raw) == rows*cols*4 before unpacking.",
    checker=check_fp32_decode,
    solution=fp32_decode,
)


EXERCISES: tuple[Exercise, ...] = (
    FP32_RAW,
    FP32_DECODE,
)
