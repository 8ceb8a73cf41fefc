"""Batch scoring of files (CSV, Parquet) locally or on a Dask cluster. Needs the ``batch`` extra.

Not imported by the core ``lesson`` package. See :func:`score_file` and
:func:`write_sample_data`; on the command line ``lesson batch`` and ``lesson sample-data``.
Not to be confused with :mod:`lesson.patterns.microbatching` (live requests grouped inside a
server). Where things are:

- ``runner.py`` -- :func:`score_file`: the plain loop (read a chunk, score it, write it), the
  Dask engine, and ``BatchRun``, the plumbing the engines share;
- ``pipelined.py`` -- the same loop on three threads (``engine="pipelined"``), the fast path;
- ``io.py`` -- chunked CSV / Parquet readers over pyarrow and atomic writers;
- ``scoring.py`` -- one chunk: validate column by column, predict the valid rows, explain the rest;
- ``keys.py`` -- rows whose ``id`` is empty or repeats an earlier row's;
- ``sample.py`` -- realistic input files; ``cli.py`` -- the commands.
"""

from lesson.patterns.batch.io import BatchInputError
from lesson.patterns.batch.runner import BatchReport, default_rejects_path, score_file
from lesson.patterns.batch.sample import write_sample_data

__all__ = [
    "BatchInputError",
    "BatchReport",
    "default_rejects_path",
    "score_file",
    "write_sample_data",
]
