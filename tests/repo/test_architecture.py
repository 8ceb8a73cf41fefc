"""The folder tree is the architecture: import-linter's contracts (`.importlinter`) hold.

The layers, from the top: cli, lab, widgets | teaching, original_api, servers | loadtest,
clients, proto, patterns, models, core. The core imports only the standard library; only `lesson.servers`
imports the HTTP server stack; only proto, clients and servers import grpcio.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".importlinter"


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    pytest.importorskip("importlinter")
    exe = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(exe), str(CONFIG), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_every_contract_is_kept():
    out = lint_imports(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "5 kept, 0 broken" in out.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("core/stats.py", "import numpy", "The core imports nothing outside the standard library"),
        ("core/schema.py", "import lesson.servers.rest", "Layers:"),
        ("original_api.py", "import fastapi", "Only lesson.servers imports FastAPI"),
        (
            "models/mlp.py",
            "import grpc",
            "Only lesson.proto, lesson.clients and lesson.servers import grpcio",
        ),
        ("teaching/autoscaling_sim.py", "import ray", "Only lesson.servers imports Ray"),
    ],
)
def test_a_violation_breaks_its_contract(tmp_path: Path, module: str, line: str, contract: str):
    """The contracts bite: one forbidden import in a copy of the package fails the lint, by name."""
    copy = tmp_path / "lesson"
    shutil.copytree(
        ROOT / "lesson", copy, ignore=shutil.ignore_patterns("artifacts", "__pycache__")
    )
    target = copy / module
    target.write_text(target.read_text() + f"\n{line}  # injected by the test\n")
    out = lint_imports(tmp_path)
    assert out.returncode != 0, out.stdout
    assert "0 broken" not in out.stdout, out.stdout
    broken = out.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, out.stdout
    assert str(Path(module).with_suffix("")).replace("/", ".") in broken, out.stdout
