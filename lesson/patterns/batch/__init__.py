"""Batch scoring of files (CSV, Parquet) locally or on a Dask cluster. Needs the ``batch`` extra.

Not imported by the core ``lesson`` package. See :func:`score_file` and
:func:`write_sample_data`; on the command line ``lesson batch`` and ``lesson sample-data``.
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
