"""The ``lesson`` command line.

``lesson demo | serve | loadtest | batch | sample-data | broker | stream | observe``. Built with typer
(the ``cli`` extra). Without typer installed, :func:`main` still runs the demo with the
standard library (:func:`lesson.teaching.demo.main`), so ``python -m lesson`` always works.

Commands live in their own modules and are registered lazily from :data:`COMMANDS`: adding
one is a one-line entry ``("name", "module.path:function")``, where ``function`` is a plain
function with typer-annotated parameters (or a ``typer.Typer`` for a command group). If its
module cannot be imported (a missing extra), the command still appears and explains what to
install.

Run ``lesson --help`` (or ``python -m lesson --help``).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

try:
    import typer
except ImportError:  # the core works without the cli extra
    typer = None  # type: ignore[assignment]

#: (command name, "module:function", help if its module cannot be imported).
#: Other parts add their commands here, one line each.
COMMANDS: list[tuple[str, str, str]] = [
    ("demo", "lesson.cli:demo", ""),
    ("serve", "lesson.servers.cli:serve", "needs `pip install lesson[serve]`"),
    ("loadtest", "lesson.loadtest.cli:loadtest", "needs `pip install lesson[serve]`"),
    ("loadtest-llm", "lesson.loadtest.llm_wire:loadtest_llm", "needs `pip install lesson[serve]`"),
    ("batch", "lesson.patterns.batch.cli:batch", "needs `pip install lesson[batch]`"),
    ("sample-data", "lesson.patterns.batch.cli:sample_data", "needs `pip install lesson[batch]`"),
    ("broker", "lesson.servers.broker_cli:app", "needs `pip install lesson[stream]`"),
    ("stream", "lesson.patterns.streaming.cli:app", "needs `pip install lesson[stream]`"),
    ("observe", "lesson.servers.observe_cli:app", "needs `pip install lesson[serve]`"),
]


def demo(
    requests: int = 500,
    concurrency: int = 4,
    seed: int = 7,
    stall: bool = True,
) -> None:
    """Load-test the in-process REST adapter: sequential, closed loop, and open vs closed loop.

    Prints a sequential load test (``lesson.run_synthetic_load_test``) with percentiles, a closed-loop run with
    --concurrency workers, and (unless --no-stall) the coordinated-omission demo.
    """
    from lesson.teaching.demo import demo_report

    if not 1 <= requests <= 100_000:
        raise _bad("--requests must be in 1..100000", "requests")
    if not 1 <= concurrency <= 256:
        raise _bad("--concurrency must be in 1..256", "concurrency")
    print(demo_report(requests=requests, concurrency=concurrency, seed=seed, stall_demo=stall))


def _bad(message: str, name: str) -> Exception:
    if typer is None:
        return ValueError(message)
    return typer.BadParameter(message, param_hint=f"--{name}")


def _resolve(target: str) -> Callable[..., Any]:
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def _unavailable(name: str, hint: str, error: Exception) -> Callable[..., None]:
    def command() -> None:
        print(f"`lesson {name}` is not available here: {error}. {hint}".strip(), file=sys.stderr)
        raise typer.Exit(code=2)

    command.__doc__ = f"(unavailable: {hint or error})"
    return command


def build_app() -> typer.Typer:
    """A fresh typer app with every command in :data:`COMMANDS`; no arguments runs the demo."""
    if typer is None:
        raise RuntimeError("typer is not installed: `pip install lesson[cli]`")
    application = typer.Typer(
        name="lesson",
        help="Serving Patterns Lab: serve ML predictions (REST, gRPC, batch, streaming, edge) and load-test them.",
        add_completion=False,
        no_args_is_help=False,
    )

    @application.callback(invoke_without_command=True)
    def root(ctx: typer.Context) -> None:
        """Without a command, run the demo."""
        if ctx.invoked_subcommand is None:
            demo()

    for name, target, hint in COMMANDS:
        try:
            function = _resolve(target)
        except ImportError as error:  # a missing extra: say what to install
            function = _unavailable(name, hint, error)
        except Exception as error:  # a broken module must not take `lesson demo` down with it
            function = _unavailable(
                name, "its module failed to import (a bug: please report it)", error
            )
        if isinstance(function, typer.Typer):  # a command group: `lesson broker start`
            application.add_typer(function, name=name)
        else:
            application.command(name)(function)
    return application


app = build_app() if typer is not None else None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lesson`` script and ``python -m lesson``."""
    if app is None:
        from lesson.teaching.demo import main as stdlib_main

        return stdlib_main(argv)
    try:
        app(args=list(argv) if argv is not None else None, prog_name="lesson", standalone_mode=True)
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0
