"""Chunked readers and atomic writers for CSV and Parquet (pyarrow).

Readers yield chunks of exactly ``chunk_rows`` rows (the last may be
shorter), so memory stays flat however large the file is, and chunk boundaries (hence the
output's bytes) do not depend on the engine. Writers write to a temporary file beside the
target and rename it into place only when everything is written: an interrupted run leaves
no half-written output.
"""

from __future__ import annotations

import bisect
import csv
import encodings.utf_8_sig  # noqa: F401 - the CSV header's codec: imported once here, not inside a run
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

__all__ = [
    "file_format",
    "Chunk",
    "ChunkReader",
    "AtomicTableWriter",
    "commit_together",
    "parquet_options",
    "remove_stale_temporaries",
    "BatchInputError",
]

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


class BatchInputError(ValueError):
    """The input file cannot be scored as a whole (format, missing columns, unreadable)."""


def file_format(path: Path) -> str:
    """``"csv"`` or ``"parquet"`` from the file name's extension.

    Raises:
        BatchInputError: another extension.
    """
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise BatchInputError(
            f"{path}: unknown file type {Path(path).suffix!r}; use .csv, .parquet or .pq"
        )
    return fmt


@dataclass
class Chunk:
    """Up to ``chunk_rows`` parsed rows, their row numbers in the file (data rows from 0), and
    the malformed CSV rows (wrong number of fields) that fell among them, with reasons."""

    table: pa.Table
    rows: np.ndarray
    malformed: list[tuple[int, str]] = field(default_factory=list)
    key_reasons: dict[int, str] = field(default_factory=dict)  # rows whose id is empty or repeated


class ChunkReader:
    """Read the needed columns of a CSV or Parquet file in chunks of ``chunk_rows`` rows.

    Args:
        path: input file.
        required: columns that must exist (the model's features).
        optional: columns read if present (e.g. ``id``); all are read as given, CSV as text.
        chunk_rows: rows per chunk.

    Attributes:
        columns: the columns actually read.
        total: progress total (rows for Parquet, bytes for CSV); ``unit`` says which.
    """

    def __init__(
        self,
        path: Path,
        required: tuple[str, ...],
        optional: tuple[str, ...] = (),
        chunk_rows: int = 65_536,
    ):
        self.path = Path(path)
        if not self.path.is_file():
            raise BatchInputError(f"{self.path}: no such file")
        self.format = file_format(self.path)
        self.chunk_rows = chunk_rows
        self._parquet: pq.ParquetFile | None = None  # opened once: footer read once per run
        names = self._column_names()
        missing = [c for c in required if c not in names]
        if missing:
            raise BatchInputError(
                f"{self.path}: missing column(s) {', '.join(missing)}; the model needs {', '.join(required)}"
            )
        self.columns = list(required) + [c for c in optional if c in names]
        self._file = None
        if self.format == "parquet":
            self.total = self._parquet.metadata.num_rows
            self.unit = "rows"
        else:
            self.total = self.path.stat().st_size
            self.unit = "bytes"

    def _column_names(self) -> list[str]:
        if self.format == "parquet":
            try:
                self._parquet = pq.ParquetFile(self.path)
                return self._parquet.schema_arrow.names
            except (pa.ArrowInvalid, OSError) as exc:
                raise BatchInputError(f"{self.path}: not a readable Parquet file ({exc})") from exc
        with open(self.path, newline="", encoding="utf-8-sig") as f:
            try:
                header = next(csv.reader(f), None)
            except (csv.Error, UnicodeDecodeError) as exc:
                raise BatchInputError(f"{self.path}: unreadable CSV header ({exc})") from exc
        if not header:
            raise BatchInputError(f"{self.path}: empty CSV file (no header row)")
        return header

    def column_type(self, name: str) -> pa.DataType:
        """Type the chunks will have for ``name`` (CSV columns are read as text)."""
        if self.format == "csv":
            return pa.string()
        return self._parquet.schema_arrow.field(name).type

    def position(self) -> int:
        """Progress so far in :attr:`unit` (CSV: bytes consumed from the file)."""
        if self.format == "csv":
            if self._file is None:
                return 0
            return self.total if self._file.closed else min(self._file.tell(), self.total)
        return self._rows_read

    def with_positions(self) -> Iterator[tuple[Chunk, int]]:
        """Chunks paired with :meth:`position` just after each was read."""
        for chunk in self.chunks():
            yield chunk, self.position()

    def _batches(self) -> Iterator[pa.RecordBatch]:
        if self.format == "parquet":
            # Row group by row group: ``iter_batches`` over the whole file kept memory growing
            # with the file; this stays flat. One thread: Arrow's column-parallel decoding cost
            # more CPU than it saved wall time on a shared 2-core machine. No memory map: mapped
            # pages count in the resident set, so it grew with the file.
            f = self._parquet
            for i in range(f.num_row_groups):
                if f.metadata.row_group(i).num_rows > 4 * self.chunk_rows:  # a huge row group
                    yield from f.iter_batches(
                        batch_size=self.chunk_rows,
                        row_groups=[i],
                        columns=self.columns,
                        use_threads=False,
                    )
                else:
                    yield from f.read_row_group(
                        i, columns=self.columns, use_threads=False
                    ).to_batches()
            return
        self._file = pa.OSFile(str(self.path))  # native reads: no 1 MiB Python bytes per block
        try:
            reader = pacsv.open_csv(
                self._file,
                # 256 KiB blocks: with bigger blocks the streaming reader's live memory grew with
                # the file; smaller ones cost no more CPU.
                read_options=pacsv.ReadOptions(block_size=1 << 18, use_threads=False),
                parse_options=pacsv.ParseOptions(invalid_row_handler=self._on_malformed),
                convert_options=pacsv.ConvertOptions(
                    include_columns=self.columns,
                    column_types={c: pa.string() for c in self.columns},
                    strings_can_be_null=True,
                ),
            )
            yield from reader
        except pa.ArrowInvalid as exc:
            raise BatchInputError(f"{self.path}: malformed CSV ({exc})") from exc
        finally:
            self._file.close()

    def _on_malformed(self, row) -> str:
        """A CSV row with the wrong number of fields: remember it for the rejects file."""
        text = row.text if len(row.text) <= 200 else row.text[:197] + "..."
        # arrow numbers rows from 1 with the header first, not counting blank lines
        self._malformed.append(
            (
                row.number - 2,
                f"malformed row: expected {row.expected_columns} "
                f"fields, got {row.actual_columns}: {text!r}",
            )
        )
        return "skip"

    def _number(self, n: int) -> tuple[np.ndarray, list[tuple[int, str]]]:
        """Row numbers of the next ``n`` parsed rows, skipping malformed ones."""
        start = self._next_row
        skipped = [r for r, _ in self._malformed]
        first = bisect.bisect_left(skipped, start)
        if first == len(skipped) or skipped[first] >= start + n:  # the common case
            self._next_row = start + n
            return np.arange(start, start + n, dtype=np.int64), []
        taken = set(skipped[first:])
        rows, r = [], start
        while len(rows) < n:
            if r not in taken:
                rows.append(r)
            r += 1
        self._next_row = r
        end = bisect.bisect_left(skipped, r)
        return np.asarray(rows, dtype=np.int64), self._malformed[first:end]

    def chunks(self) -> Iterator[Chunk]:
        """:class:`Chunk` objects: tables of ``chunk_rows`` rows with their row numbers; a last
        chunk (maybe with no rows) carries malformed rows after the last good one."""
        self._malformed: list[tuple[int, str]] = []
        self._next_row = 0
        empty = None
        for table in self._tables():
            empty = table.slice(0, 0)
            rows, malformed = self._number(table.num_rows)
            self._malformed = [m for m in self._malformed if m[0] >= self._next_row]  # bounded
            yield Chunk(table, rows, malformed)
        trailing = [m for m in self._malformed if m[0] >= self._next_row]
        if trailing:
            if empty is None:
                empty = pa.table({c: pa.array([], pa.string()) for c in self.columns})
            yield Chunk(empty, np.empty(0, dtype=np.int64), trailing)

    def __iter__(self) -> Iterator[Chunk]:
        return self.chunks()

    def _tables(self) -> Iterator[pa.Table]:
        """Tables of exactly ``chunk_rows`` rows (the last one may be shorter)."""
        self._rows_read = 0
        pending: list[pa.RecordBatch] = []
        n_pending = 0
        for batch in self._batches():
            if batch.num_rows == 0:
                continue
            if not pending and batch.num_rows == self.chunk_rows:  # the common case: no copy
                self._rows_read += batch.num_rows
                yield pa.Table.from_batches([batch])
                continue
            pending.append(batch)
            n_pending += batch.num_rows
            if (
                n_pending == self.chunk_rows
            ):  # whole batches (e.g. row groups) make the chunk: no copy
                self._rows_read += n_pending
                yield pa.Table.from_batches(pending)
                pending, n_pending = [], 0
                continue
            while n_pending >= self.chunk_rows:
                table = pa.Table.from_batches(pending)
                chunk, rest = table.slice(0, self.chunk_rows), table.slice(self.chunk_rows)
                pending = rest.to_batches() if rest.num_rows else []
                n_pending = rest.num_rows
                self._rows_read += chunk.num_rows
                yield chunk.combine_chunks()
        if n_pending:
            self._rows_read += n_pending
            yield pa.Table.from_batches(pending).combine_chunks()

    _rows_read = 0


def _temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete temporary files left beside ``path`` by an interrupted run; return them."""
    path = Path(path)
    stale = sorted(path.parent.glob(f".{path.name}.*.tmp"))
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def parquet_options(schema: pa.Schema) -> dict:
    """ParquetWriter options chosen per column for speed and size (all standard encodings).

    Against snappy everywhere with statistics, they write the scores in about half the time
    and half the bytes.

    - label columns (dictionary type, one value): dictionary encoding, stored once;
    - integer columns (row numbers, integer ids): ``DELTA_BINARY_PACKED``, nearly free for
      consecutive numbers, with min/max statistics (readers can skip row groups by row);
    - text columns (ids read from a CSV): plain and snappy, no statistics;
    - float columns (predictions): ``BYTE_STREAM_SPLIT`` and no compression (snappy saved
      little on unique floats and cost more time than the rest of the column), no statistics.
    """
    labels = [f.name for f in schema if pa.types.is_dictionary(f.type)]
    encoding, compression, stats = {}, {}, []
    for f in schema:
        compression[f.name] = "snappy"
        if pa.types.is_integer(f.type):
            encoding[f.name] = "DELTA_BINARY_PACKED"
            stats.append(f.name)
        elif pa.types.is_floating(f.type):
            encoding[f.name] = "BYTE_STREAM_SPLIT"
            compression[f.name] = "none"
    return {
        "compression": compression,
        "use_dictionary": labels or False,
        "column_encoding": encoding or None,
        "write_statistics": stats or False,
    }


#: While writing, flush the file to disk (fdatasync) every this many bytes, so the final fsync
#: only waits for the tail.
SYNC_EVERY_BYTES = 2 << 20
_fdatasync = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync


class AtomicTableWriter:
    """Write tables to a temporary file; :meth:`commit` renames it to ``path``.

    Durability is kept: :meth:`commit` fsyncs the file before the rename. To keep that fsync
    short, :meth:`write` flushes what is written so far every :data:`SYNC_EVERY_BYTES`
    (``fdatasync``; on the writer thread, beside the next chunks' work), so the disk works
    during the run instead of all at the end (Linux ``sync_file_range`` would only move the
    pages to a virtual disk, not through its flush).

    Args:
        path: final file (format from its extension).
        schema: the tables' schema.
        metadata: key/values stored in the Parquet footer (ignored for CSV).
        csv_quote_strings: quote text values in CSV (off only for text known to need no quotes).
        parquet: ``ParquetWriter`` options (default: :func:`parquet_options` for the schema).
    """

    def __init__(
        self,
        path: Path,
        schema: pa.Schema,
        metadata: dict[str, str] | None = None,
        *,
        csv_quote_strings: bool = True,
        parquet: dict | None = None,
    ):
        self.path = Path(path)
        self.format = file_format(self.path)
        self.tmp = _temp_path(self.path)
        self.rows = 0
        if self.format == "parquet":
            self._writer = pq.ParquetWriter(
                self.tmp,
                schema.with_metadata(metadata or {}),
                **(parquet_options(schema) if parquet is None else parquet),
            )
        else:
            options = pacsv.WriteOptions(quoting_style="needed" if csv_quote_strings else "none")
            self._writer = pacsv.CSVWriter(self.tmp, schema, write_options=options)
        self._fd: int | None = os.open(self.tmp, os.O_RDONLY)  # for the flushes and the fsync
        self._synced_bytes = 0

    def write(self, table: pa.Table) -> None:
        """Append a table (an empty one writes nothing)."""
        if table.num_rows:
            self._writer.write_table(table)
            self.rows += table.num_rows
            self._sync_as_we_go()

    def _sync_as_we_go(self) -> None:
        if self._fd is None:
            return
        size = os.fstat(self._fd).st_size
        if size - self._synced_bytes >= SYNC_EVERY_BYTES:
            _fdatasync(self._fd)
            self._synced_bytes = size

    def close(self) -> None:
        """Finish the temporary file (still not visible under ``path``)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def sync(self) -> None:
        """Finish the temporary file and flush it to disk (fsync); not yet visible under ``path``."""
        self.close()
        if self._fd is None:
            raise RuntimeError(f"{self.tmp}: already committed or aborted")
        try:
            os.fsync(self._fd)
        finally:
            self._close_fd()

    def publish(self) -> Path:
        """Rename the synced temporary file into place (atomic on one filesystem)."""
        os.replace(self.tmp, self.path)
        return self.path

    def commit(self) -> Path:
        """Flush to disk (fsync) and rename into place (atomic on one filesystem)."""
        self.sync()
        return self.publish()

    def abort(self) -> None:
        """Drop the temporary file; ``path`` is left as it was."""
        try:
            self.close()
        except Exception:  # we are already failing
            pass
        self._close_fd()
        self.tmp.unlink(missing_ok=True)


def commit_together(*writers: AtomicTableWriter) -> None:
    """Commit several files: fsync them all at the same time, then rename each into place in
    the order given (none is renamed unless all are on disk).

    Concurrent fsyncs overlap their waits.
    """
    errors: list[BaseException] = []

    def sync(writer: AtomicTableWriter) -> None:
        try:
            writer.sync()
        except BaseException as exc:  # re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=sync, args=(w,), name="batch-fsync") for w in writers[1:]]
    for t in threads:
        t.start()
    if writers:
        sync(writers[0])
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    for writer in writers:
        writer.publish()
