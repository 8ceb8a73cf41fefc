"""``python -m lesson``: the command line (typer), or the stdlib demo when typer is missing."""

from lesson.cli import main

raise SystemExit(main())
