"""Shared fixtures: sample files on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("numpy")

from lesson.patterns.batch import write_sample_data


@pytest.fixture
def sample_csv(tmp_path: Path) -> Path:
    return write_sample_data(tmp_path / "in.csv", 3000, seed=1, invalid_fraction=0.02)


@pytest.fixture
def sample_parquet(tmp_path: Path) -> Path:
    return write_sample_data(tmp_path / "in.parquet", 3000, seed=1, invalid_fraction=0.02)
