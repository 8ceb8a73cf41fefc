"""``lesson batch`` and ``lesson sample-data``: typer commands (registered in ``lesson/cli.py``).

lesson sample-data --rows 100000 patients.parquet
lesson batch patients.parquet scores.parquet
lesson batch patients.parquet scores.parquet --engine pipelined
lesson batch patients.csv scores.csv --engine dask --scheduler tcp://127.0.0.1:8786
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

__all__ = ["batch", "sample_data"]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def batch(
    input: Path = typer.Argument(
        ..., help="CSV or Parquet file with the model's feature columns (and optionally `id`)."
    ),
    output: Path = typer.Argument(
        ..., help="Predictions file (.csv or .parquet), written atomically."
    ),
    rejects: Path | None = typer.Option(
        None, help="Rejected rows with reasons (default: OUTPUT stem + .rejects.csv)."
    ),
    model: str = typer.Option("diabetes-mlp", help="Artifact name."),
    version: str | None = typer.Option(None, help="Artifact version (default: newest)."),
    chunk_rows: int = typer.Option(
        65_536, help="Rows per chunk: memory grows with this, not with the file."
    ),
    engine: str = typer.Option(
        "local",
        help="`local` (the plain loop), `pipelined` (read, predict, write on three threads) or `dask`.",
    ),
    scheduler: str | None = typer.Option(
        None, help="Dask scheduler address for --engine dask, e.g. tcp://127.0.0.1:8786."
    ),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Score every row of INPUT into OUTPUT; invalid rows go to the rejects file with a reason."""
    try:
        from lesson.core.artifacts import ArtifactError
        from lesson.patterns.batch.io import BatchInputError
        from lesson.patterns.batch.runner import score_file
    except ImportError as exc:
        raise _fail(f"{exc}; install the batch extra: pip install 'lesson[batch]'") from exc
    bar = _progress_bar(progress)
    try:
        with bar as p:
            task = p.add_task(f"scoring {input.name}", total=None)

            def update(done: int, total: int, unit: str) -> None:
                p.update(task, completed=done, total=total)

            report = score_file(
                input,
                output,
                rejects_path=rejects,
                model=model,
                version=version,
                chunk_rows=chunk_rows,
                engine=engine,
                scheduler=scheduler,
                progress=update,
            )
    except (BatchInputError, ArtifactError, ValueError, TypeError, OSError) as exc:
        raise _fail(str(exc)) from exc
    typer.echo(report.to_text())


def sample_data(
    output: Path = typer.Argument(..., help="File to write (.csv or .parquet)."),
    rows: int = typer.Option(1000, help="Number of rows (1..100,000,000)."),
    seed: int = typer.Option(0, help="Random seed: the same seed gives the same file."),
    invalid_fraction: float = typer.Option(
        0.0, help="Share of rows given one bad value (0..1), to see rejects."
    ),
    model: str = typer.Option("diabetes-mlp", help="Artifact whose inputs to generate."),
) -> None:
    """Write a realistic input file for the model (CSV or Parquet by extension)."""
    try:
        from lesson.patterns.batch.io import BatchInputError
        from lesson.patterns.batch.sample import write_sample_data
    except ImportError as exc:
        raise _fail(f"{exc}; install the batch extra: pip install 'lesson[batch]'") from exc
    try:
        path = write_sample_data(
            output, rows, seed=seed, invalid_fraction=invalid_fraction, model=model
        )
    except (BatchInputError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"wrote {rows:,} rows to {path}")


def _progress_bar(enabled: bool):
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=not sys.stderr.isatty(),
    )
