"""The demo and the command line (`python -m lesson`, `lesson demo`)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from lesson import cli
from lesson.teaching import demo

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_demo_payloads_are_reproducible_and_valid():
    a, b = demo.demo_payloads(10, seed=3), demo.demo_payloads(10, seed=3)
    assert a == b and a != demo.demo_payloads(10, seed=4)
    assert all(len(p["instances"]) == 3 and all(0 <= v < 1 for v in p["instances"]) for p in a)


def test_demo_report_prints_percentiles_and_the_original_fields():
    report = demo.demo_report(requests=40, concurrency=2, stall_demo=False)
    assert "LoadTestResult(avg_latency=" in report and "success_rate=1.00" in report
    assert "closed loop, 2 workers" in report
    for word in ("p50", "p90", "p99", "max", "clock", "REST", "edge"):
        assert word in report


def test_demo_stall_part_shows_the_lesson():
    report = demo.demo_report(requests=20, concurrency=2, stall_demo=True)
    assert "open loop at 250 req/s" in report and "Coordinated omission" in report


def test_stalling_endpoint_stalls_once():
    import time

    endpoint = demo.stalling_endpoint(lambda p: p, service_time=0.0, stall_at=2, stall_for=0.1)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        endpoint(1)
        times.append(time.perf_counter() - t)
    assert times[1] >= 0.09 and times[0] < 0.05 and times[2] < 0.05


def test_cli_demo_command():
    result = CliRunner().invoke(
        cli.app, ["demo", "--requests", "30", "--concurrency", "2", "--no-stall"]
    )
    assert result.exit_code == 0, result.output
    assert "p99" in result.output and "closed loop, 2 workers" in result.output


def test_cli_without_arguments_runs_the_demo():
    result = CliRunner().invoke(cli.app, [])
    assert result.exit_code == 0, result.output
    assert "Serving Patterns Lab" in result.output and "p99" in result.output


@pytest.mark.parametrize(
    "args", [["demo", "--requests", "0"], ["demo", "--concurrency", "999"], ["nope"]]
)
def test_cli_rejects_bad_arguments(args):
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 2


def test_cli_registration_is_one_line_and_explains_missing_extras(monkeypatch):
    monkeypatch.setattr(
        cli,
        "COMMANDS",
        [
            *cli.COMMANDS,
            ("serve", "lesson.no_such_module:serve", "needs `pip install lesson[serve]`"),
        ],
    )
    app = cli.build_app()
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2
    assert "needs `pip install lesson[serve]`" in result.output


def test_a_broken_command_module_does_not_break_the_cli(monkeypatch, tmp_path):
    (tmp_path / "broken_cmd_mod.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli, "COMMANDS", [*cli.COMMANDS, ("broken", "broken_cmd_mod:run", "")])
    app = cli.build_app()
    result = CliRunner().invoke(app, ["broken"])
    assert result.exit_code == 2 and "boom at import" in result.output
    assert CliRunner().invoke(app, ["demo", "--requests", "5", "--no-stall"]).exit_code == 0


def test_stdlib_demo_main_validates(capsys):
    with pytest.raises(SystemExit):
        demo.main(["--requests", "0"])
    assert demo.main(["--requests", "10", "--no-stall"]) == 0
    assert "p50" in capsys.readouterr().out


def test_python_dash_m_lesson():
    proc = subprocess.run(
        [sys.executable, "-m", "lesson", "demo", "--requests", "20", "--no-stall"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert "p99" in proc.stdout
