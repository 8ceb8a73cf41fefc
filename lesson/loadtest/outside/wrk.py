"""wrk (Debian ``wrk``), one thread, POSTing a JSON body: its own figures, parsed from ``--latency``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Sequence

from lesson.loadtest.outside import ToolRun

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(out: str) -> ToolRun:
    """wrk's report (with ``--latency``) as a ToolRun; socket errors and non-2xx count as errors."""
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.MULTILINE))
    done = re.search(r"^\s*(\d+) requests in", out, re.MULTILINE)
    rate = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    if not (pct.get("50") and pct.get("99") and done and rate):
        raise ValueError(f"unexpected wrk output: {out.strip()[-300:]}")
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return ToolRun(
        "wrk",
        True,
        rps=float(rate.group(1)),
        p50_ms=_ms(pct["50"]),
        p99_ms=_ms(pct["99"]),
        requests=int(done.group(1)),
        errors=errors,
        note="C, 1 thread, closed loop",
    )


def run_wrk(
    url: str, path: str, body: bytes, connections: int, seconds: float, prefix: Sequence[str] = ()
) -> ToolRun:
    """Run wrk for ``seconds`` (whole, at least 1) at ``connections``; ``prefix`` e.g. ``taskset -c 1``."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            f'wrk.method = "POST"\nwrk.body = {json.dumps(body.decode())}\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
        )
    try:
        cmd = [
            *prefix,
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "30s",
            "--latency",
            "-s",
            script.name,
            url + path,
        ]
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=seconds + 60, check=True
        ).stdout
    finally:
        os.unlink(script.name)
    return parse_wrk(out)
