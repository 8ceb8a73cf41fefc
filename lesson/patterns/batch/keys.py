"""Row keys of a batch input: a prediction must be joinable back to its row by ``id``.

A row whose ``id`` is empty (missing, or text of blanks only) or repeats an earlier row's goes
to the rejects file with the reason; the first row with a key owns it (it is scored if its
features are valid, and a later row with the same key is rejected either way). The check runs
in file order, on the thread that reads the file, for both engines, so Dask workers see each
chunk's key verdicts with the chunk.

The memory this takes grows with the number of distinct keys (it must remember them): integer
keys are kept in a sorted numpy array with the row that first used each (16 bytes a key), text
keys in a dict.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lesson.patterns.batch.scoring import as_arrow

__all__ = ["KeyCheck"]

_CANONICAL_INT = r"^-?[1-9][0-9]{0,17}$|^0$"  # fits int64, and reads back as the same text


class _SortedKeys:
    """Integer keys with the row that first used each, kept as segments whose concatenation is
    sorted. Keys that only grow (the usual 1, 2, 3, ... of an export) are appended as they come
    at no cost but a check; any other chunk first joins the segments into one array."""

    def __init__(self) -> None:
        self._keys: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []
        self.last: int | None = None  # the largest key so far

    def append_if_beyond(self, values: np.ndarray, rows: np.ndarray) -> bool:
        """Take ``values`` as they are if they strictly increase from beyond every key so far."""
        if len(values) == 0:
            return True
        if (self.last is not None and values[0] <= self.last) or (
            len(values) > 1 and not (np.diff(values) > 0).all()
        ):
            return False
        self._keys.append(values.copy())
        self._rows.append(rows.astype(np.int64, copy=True))
        self.last = int(values[-1])
        return True

    def joined(self) -> tuple[np.ndarray, np.ndarray]:
        if len(self._keys) != 1:
            keys = np.concatenate(self._keys) if self._keys else np.empty(0, dtype=np.int64)
            rows = np.concatenate(self._rows) if self._rows else np.empty(0, dtype=np.int64)
            self._keys, self._rows = [keys], [rows]
        return self._keys[0], self._rows[0]

    def replace(self, keys: np.ndarray, rows: np.ndarray) -> None:
        self._keys, self._rows = [keys], [rows]
        self.last = int(keys[-1]) if len(keys) else None


class KeyCheck:
    """Finds rows whose key is empty or was used by an earlier row, chunk after chunk, in order."""

    def __init__(self) -> None:
        self._ints = _SortedKeys()  # keys of an integer column
        self._text_ints = _SortedKeys()  # text keys that are canonical integers ("17")
        self._texts: dict[Any, int] = {}  # every other key
        self.empty = 0
        self.repeated = 0

    def check(self, ids: pa.ChunkedArray, rows: np.ndarray) -> dict[int, str]:
        """``{index in the chunk: reason}`` for the chunk's rows with an empty or repeated key.

        Args:
            ids: the chunk's ``id`` column.
            rows: each row's number in the file.
        """
        empty = self._empty_mask(ids)
        reasons = {
            int(i): "id: empty (a prediction could not be joined back to its row)"
            for i in np.flatnonzero(empty)
        }
        self.empty += len(reasons)
        present = np.flatnonzero(~empty)
        if len(present) == 0:
            return reasons
        kept = ids.take(as_arrow(present.astype(np.int64))) if len(present) < len(ids) else ids
        if pa.types.is_integer(ids.type):
            repeats = self._integer_repeats(
                kept.to_numpy().astype(np.int64, copy=False), rows[present]
            )
        elif pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type):
            repeats = self._text_repeats(kept, rows[present])
        else:
            repeats = self._other_repeats(kept.to_pylist(), rows[present])
        for j, (value, first) in repeats.items():
            reasons[int(present[j])] = f"id: {value!r} repeats row {first}'s"
        self.repeated += len(repeats)
        return reasons

    def _text_repeats(
        self, values: pa.ChunkedArray, rows: np.ndarray
    ) -> dict[int, tuple[Any, int]]:
        """Text keys (every CSV key): those written as canonical integers ("17", not "017" or
        "+17") take the vectorised integer path, in a store of their own; the rest go through
        the dict."""
        canonical = np.asarray(
            pc.match_substring_regex(values, _CANONICAL_INT).to_numpy(zero_copy_only=False),
            dtype=bool,
        )
        at = np.flatnonzero(canonical)
        repeats: dict[int, tuple[Any, int]] = {}
        if len(at):
            numbers = pc.cast(values.take(as_arrow(at.astype(np.int64))), pa.int64()).to_numpy()
            for j, (v, first) in self._integer_repeats(
                numbers, rows[at], store=self._text_ints
            ).items():
                repeats[int(at[j])] = (str(v), first)
        others = np.flatnonzero(~canonical)
        if len(others):
            texts = values.take(as_arrow(others.astype(np.int64))).to_pylist()
            for j, found in self._other_repeats(texts, rows[others]).items():
                repeats[int(others[j])] = found
        return repeats

    @staticmethod
    def _empty_mask(ids: pa.ChunkedArray) -> np.ndarray:
        """Missing keys, and text keys of blanks only (numpy comparisons: a Python scalar in a
        ``pyarrow.compute`` call costs an import of dateutil on its first use in a process)."""
        missing = np.asarray(pc.is_null(ids).to_numpy(zero_copy_only=False), dtype=bool)
        if pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type):
            lengths = pc.utf8_length(pc.utf8_trim_whitespace(ids)).to_numpy(zero_copy_only=False)
            missing |= lengths == 0  # a missing key's length is NaN here: already counted
        elif pa.types.is_floating(ids.type):
            missing |= np.isnan(ids.to_numpy(zero_copy_only=False).astype(np.float64))
        return missing

    def _integer_repeats(
        self, values: np.ndarray, rows: np.ndarray, store: _SortedKeys | None = None
    ) -> dict[int, tuple[int, int]]:
        """Vectorised: sort the chunk's keys, find repeats within it and against earlier chunks."""
        store = store or self._ints
        if store.append_if_beyond(values, rows):
            return {}
        order = np.argsort(values, kind="stable")  # stable: the earliest row of equal keys first
        sorted_values, sorted_rows = values[order], rows[order]
        starts = np.ones(len(order), dtype=bool)
        starts[1:] = sorted_values[1:] != sorted_values[:-1]
        first_rows = sorted_rows[np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))]
        keys, key_rows = store.joined()
        pos = np.searchsorted(keys, sorted_values)
        if len(keys):
            clipped = np.minimum(pos, len(keys) - 1)
            seen = (pos < len(keys)) & (keys[clipped] == sorted_values)
            earlier = np.where(seen, key_rows[clipped], first_rows)
        else:
            seen, earlier = np.zeros(len(order), dtype=bool), first_rows
        repeat = seen | ~starts
        new = starts & ~seen
        store.replace(
            np.insert(keys, pos[new], sorted_values[new]),
            np.insert(key_rows, pos[new], first_rows[new]),
        )
        return {
            int(j): (int(v), int(r))
            for j, v, r in zip(order[repeat], sorted_values[repeat], earlier[repeat])
        }

    def _other_repeats(self, values: list, rows: np.ndarray) -> dict[int, tuple[Any, int]]:
        repeats = {}
        for j, value in enumerate(values):
            first = self._texts.setdefault(value, int(rows[j]))
            if first != rows[j]:
                repeats[j] = (value, first)
        return repeats
