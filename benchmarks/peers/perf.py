"""Triton's perf_analyzer against the lesson's servers (benchmark-only venv ``.cache/bench-venvs/perf``).

What it takes to run it here (found while building this; checked again at every run):

* PyPI ``perf-analyzer`` is a 0.1.0 placeholder; the binary ships in the ``tritonclient[all]==2.33.0``
  wheel (``bin/perf_analyzer``, built for Ubuntu 20.04).
* It needs ``libb64.so.0d`` (Debian ``libb64-0d``), ``libcudart.so.12`` (PyPI
  ``nvidia-cuda-runtime-cu12``: loaded, never used without ``--shared-memory cuda``) and OpenSSL 1.1
  (``libssl.so.1.1``/``libcrypto.so.1.1`` with ``OPENSSL_1_1_0`` symbol versions). Debian 12 has
  no ``libssl1.1`` (``apt-cache policy libssl1.1``: no candidate); the ``psycopg2-binary==2.9.5``
  wheel bundles OpenSSL 1.1.1 (auditwheel-renamed), so the venv gets symlinks under the proper
  names in ``ssl11/`` and ``LD_LIBRARY_PATH`` points there.
* perf_analyzer asks the server for the model's Triton config (HTTP ``GET
  /v2/models/<m>/config``, gRPC ``ModelConfig``) before it sends anything: Triton's model
  configuration extension, not part of the Open Inference Protocol. The lesson's servers answer it
  (``lesson.core.v2.config``), so perf_analyzer runs against ``lesson serve rest|grpc`` unchanged.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from peers.procs import CLIENT_CORE, Unavailable, ensure_venv

PINS = ["tritonclient[all]==2.33.0", "nvidia-cuda-runtime-cu12==12.9.79", "psycopg2-binary==2.9.5"]
SSL_LIBS = {"libssl.so.1.1": "libssl-", "libcrypto.so.1.1": "libcrypto-"}


def perf_analyzer() -> tuple[Path, dict[str, str]]:
    """The perf_analyzer binary and the environment it runs in; raises `Unavailable` with the reason."""
    venv = ensure_venv("perf", PINS)
    binary = venv / "bin" / "perf_analyzer"
    if not binary.exists():
        raise Unavailable(f"{binary} is missing: tritonclient[all]==2.33.0 did not ship it")
    site = next((venv / "lib").glob("python3*/site-packages"))
    ssl_dir = venv / "ssl11"
    ssl_dir.mkdir(exist_ok=True)
    for soname, prefix in SSL_LIBS.items():
        found = sorted((site / "psycopg2_binary.libs").glob(f"{prefix}*.so.1.1"))
        if not found:
            raise Unavailable(
                f"OpenSSL 1.1 ({soname}) needed: Debian 12 has no libssl1.1 and the "
                "psycopg2-binary==2.9.5 wheel that bundles it did not install"
            )
        link = ssl_dir / soname
        if not link.exists():
            link.symlink_to(found[0])
    env = dict(os.environ, LD_LIBRARY_PATH=f"{ssl_dir}:{site / 'nvidia' / 'cuda_runtime' / 'lib'}")
    ldd = subprocess.run(
        ["ldd", str(binary)], capture_output=True, text=True, env=env, check=False
    ).stdout
    missing = [line.split()[0] for line in ldd.splitlines() if "not found" in line]
    if missing:
        hint = " (apt-get install -y libb64-0d)" if any("libb64" in m for m in missing) else ""
        raise Unavailable(f"perf_analyzer cannot load {', '.join(missing)}{hint}")
    probe = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, env=env, timeout=30, check=False
    )
    if "SYNOPSIS" not in probe.stdout + probe.stderr and probe.returncode != 0:
        raise Unavailable(
            f"perf_analyzer does not start: {(probe.stderr or probe.stdout).strip()[:300]}"
        )
    return binary, env


def run_perf(
    binary: Path,
    env: dict[str, str],
    protocol: str,
    url: str,
    model: str,
    row: list[float],
    *,
    concurrency: str | None = None,
    rate: float | None = None,
    window_ms: int = 3000,
) -> dict[float, dict]:
    """perf_analyzer on the client core: ``concurrency`` a range "1:8:7", or a constant ``rate``.

    Each level is measured in windows of ``window_ms`` until 3 agree within 50 % (at most 8);
    returns level -> {"rps", "p50", "p99"} (ms), from its CSV (-f).
    """
    workdir = Path(tempfile.mkdtemp(prefix="perf-"))
    try:
        (workdir / "data.json").write_text(
            json.dumps({"data": [{"input": [float(v) for v in row]}]})
        )
        mode = (
            ["--concurrency-range", concurrency]
            if concurrency
            else [
                "--request-rate-range",
                f"{rate:g}:{rate:g}",
                "--request-distribution",
                "constant",
            ]
        )
        cmd = [
            "taskset",
            "-c",
            CLIENT_CORE,
            str(binary),
            "-m",
            model,
            "-u",
            url,
            "-i",
            protocol,
            "-b",
            "1",
            "--input-data",
            str(workdir / "data.json"),
            "-p",
            str(window_ms),
            "--max-trials",
            "8",
            "--stability-percentage",
            "50",
            "-f",
            str(workdir / "out.csv"),
            *mode,
        ]
        levels = 1
        if concurrency:
            start, end, *step = (int(x) for x in concurrency.split(":"))
            levels = len(range(start, end + 1, step[0] if step else 1))
        done = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=levels * (window_ms / 1000 * 10 + 10) + 60,
        )
        if done.returncode != 0 or not (workdir / "out.csv").exists():
            raise RuntimeError(
                f"perf_analyzer failed: {(done.stdout + done.stderr).strip()[-400:]}"
            )
        out = {}
        for line in csv.DictReader((workdir / "out.csv").open()):
            level = float(line.get("Concurrency") or line.get("Request Rate"))
            out[level] = {
                "rps": float(line["Inferences/Second"]),
                "p50": float(line["p50 latency"]) / 1000,
                "p99": float(line["p99 latency"]) / 1000,
                "errors": 0,
            }
        return out
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def perf_levels(*args: object, **kwargs: object) -> dict:
    """`run_perf` shaped for `report.watched`: ``{"levels": {level: figures}}``."""
    return {"levels": run_perf(*args, **kwargs)}
