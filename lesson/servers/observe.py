"""A real Prometheus for the lesson: Debian's ``prometheus`` on a free loopback port.

The project starts its own Prometheus with a generated configuration (scrape every second the
servers' ``/metrics``), the SLO rules of :func:`slo_rules`, and a temporary data folder; it never
touches a system service (on :9090 or anywhere else), and always stops its own::

    with running_prometheus(["127.0.0.1:8000"]) as prom:   # tests and notebooks
        prom.api.value(request_rate("rest"))              # lesson.servers.promql

    lesson observe start --target 127.0.0.1:8000           # from a shell
    lesson observe stop

A Prometheus started here gets SIGTERM when the process that started it dies (Linux), like the
broker (:mod:`lesson.servers.broker`), so none outlives a crashed kernel or test run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lesson.servers import daemon
from lesson.servers.promql import PrometheusAPI

__all__ = [
    "PrometheusHandle",
    "PrometheusUnavailableError",
    "SLO_ALERT",
    "prometheus_config",
    "slo_rules",
    "start_prometheus",
    "stop_prometheus",
    "running_prometheus",
]

READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
#: the fast-burn alert's name (see :func:`slo_rules`)
SLO_ALERT = "LessonErrorBudgetFastBurn"
STATE_FILE = "prometheus.json"
CONFIG_FILE, RULES_FILE = "prometheus.yml", "rules.yml"
_JOB = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


class PrometheusUnavailableError(RuntimeError):
    """``prometheus`` is missing or did not start; the message says why and what to do."""


@dataclass
class PrometheusHandle:
    """A running Prometheus: its address, process, data folder and what it scrapes."""

    host: str
    port: int
    pid: int
    directory: str
    targets: list[str] = field(default_factory=list)
    process: subprocess.Popen | None = field(default=None, repr=False)
    interval_s: float = 1.0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api(self) -> PrometheusAPI:
        return PrometheusAPI(self.url)

    def add_target(self, target: str, timeout: float = 10.0) -> None:
        """Scrape one more server (``[job=]host:port``): rewrite the configuration and have
        Prometheus reload it (SIGHUP); returns once Prometheus lists the target (about 5 s:
        Prometheus 2.42 applies new scrape targets at most every 5 s, measured here).

        Raises:
            ValueError: a malformed target, or its job name is taken.
            PrometheusUnavailableError: Prometheus did not pick it up within ``timeout``.
        """
        targets = [*self.targets, target]
        _write_config(self.directory, prometheus_config(targets, self.interval_s, [_rules(self)]))
        self.targets = targets
        os.kill(self.pid, signal.SIGHUP)
        url = f"http://{target_address(target)}/metrics"
        deadline = time.monotonic() + timeout
        while not any(t["scrapeUrl"] == url for t in self.api.targets()):
            if time.monotonic() > deadline:
                raise PrometheusUnavailableError(f"prometheus did not reload with {target}")
            time.sleep(0.05)


def slo_rules(
    objective: float = 0.99,
    *,
    burn_rate: float = 14.4,
    long_window: str = "1m",
    short_window: str = "5s",
    for_: str = "2s",
    transport: str = "rest",
) -> dict:
    """Prometheus rules: the error ratio over two windows, and a multi-window burn-rate alert.

    The SRE workbook's fast-burn page: an availability SLO of ``objective`` leaves an error
    budget of ``1 - objective``; burning it 14.4 times too fast for 1 hour spends 2% of a
    30-day budget. The alert fires when the error ratio is above ``burn_rate * (1 -
    objective)`` over BOTH the long window (1 h in the book; it proves the burn is sustained)
    and the short one (5 min, 1/12 of it; it lets the alert resolve soon after the fault ends).
    Here every duration is scaled down by 60 so a lesson (or a test) sees it fire in seconds:
    1 h -> ``1m``, 5 min -> ``5s``, and ``for: 2s`` so the alert shows as pending first.
    """
    if not 0 < objective < 1:
        raise ValueError(f"objective must be in (0, 1), got {objective}")
    threshold = burn_rate * (1 - objective)
    if not 0 < threshold < 1:
        raise ValueError(f"burn_rate * (1 - objective) must be in (0, 1), got {threshold:g}")
    from lesson.servers.promql import error_ratio

    record = lambda w: f"lesson:error_ratio:rate{w}"
    return {
        "groups": [
            {
                "name": "lesson-slo",
                "interval": "1s",
                "rules": [
                    *(
                        {"record": record(w), "expr": error_ratio(transport, w)}
                        for w in (long_window, short_window)
                    ),
                    {
                        "alert": SLO_ALERT,
                        "expr": f"{record(long_window)} > {threshold:g}"
                        f" and {record(short_window)} > {threshold:g}",
                        "for": for_,
                        "labels": {"severity": "page"},
                        "annotations": {
                            "summary": f"{transport}: error budget of a {objective:.2%} SLO "
                            f"burning over {burn_rate:g}x ({long_window} and {short_window})",
                        },
                    },
                ],
            }
        ]
    }


def prometheus_config(
    targets: Sequence[str], interval_s: float = 1.0, rule_files: Sequence[str] = ()
) -> dict:
    """The configuration: one job per target (``host:port`` serving ``/metrics``; ``job=host:port``
    names the job, e.g. ``llm=127.0.0.1:8002``), scraped and evaluated every ``interval_s``.
    YAML is a superset of JSON, so this is written as JSON."""
    if not 0.1 <= interval_s <= 60:
        raise ValueError(f"interval_s must be in [0.1, 60], got {interval_s}")
    every = f"{int(interval_s * 1000)}ms"
    jobs: list[dict] = []
    for i, target in enumerate(targets):
        job, address = target.rpartition("=")[::2] if "=" in target else (f"lesson-{i}", target)
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit() or not _JOB.fullmatch(job):
            raise ValueError(
                f"a target is '[job=]host:port' (job: letters, digits, _-), got {target!r}"
            )
        if any(j["job_name"] == job for j in jobs):
            raise ValueError(f"two targets with the job name {job!r}")
        jobs.append({"job_name": job, "static_configs": [{"targets": [address]}]})
    return {
        "global": {"scrape_interval": every, "scrape_timeout": every, "evaluation_interval": every},
        "rule_files": list(rule_files),
        "scrape_configs": jobs,
    }


def start_prometheus(
    targets: Sequence[str],
    *,
    port: int | None = None,
    interval_s: float = 1.0,
    rules: dict | None = None,
    detached: bool = False,
) -> PrometheusHandle:
    """Start ``prometheus`` on 127.0.0.1 scraping ``targets`` and wait until it is ready.

    Args:
        targets: ``host:port`` of each server's metrics (REST: its own port; gRPC: its
            ``--metrics-port``).
        port: None picks a free port.
        interval_s: scrape and rule-evaluation interval.
        rules: rule groups (default: :func:`slo_rules`).
        detached: outlive this process (``lesson observe start``); otherwise it dies with it.

    Raises:
        PrometheusUnavailableError: prometheus is not installed, or it exited or was not ready.
    """
    exe = shutil.which("prometheus")
    if exe is None:
        raise PrometheusUnavailableError(
            "prometheus is not installed (Debian: apt-get install -y prometheus; "
            "`make test` installs it)"
        )
    host = "127.0.0.1"
    port = port or daemon.free_port(host)
    directory = tempfile.mkdtemp(prefix="lesson-prometheus-")
    rules_path = os.path.join(directory, RULES_FILE)
    Path(rules_path).write_text(json.dumps(rules if rules is not None else slo_rules(), indent=1))
    config_path = _write_config(directory, prometheus_config(targets, interval_s, [rules_path]))
    log_path = os.path.join(directory, "prometheus.log")
    with open(log_path, "wb") as log:
        process = daemon.spawn(
            [
                exe,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={os.path.join(directory, 'data')}",
                f"--web.listen-address={host}:{port}",
                "--storage.tsdb.retention.time=1d",
            ],
            detached=detached,
            output=log,
        )
    handle = PrometheusHandle(
        host, port, process.pid, directory, list(targets), process, interval_s
    )
    if not daemon.wait_ready(handle.api.ready, process, READY_TIMEOUT_S, poll_s=0.05):
        log_tail = daemon.tail(log_path, 3)
        stop_prometheus(handle)
        raise PrometheusUnavailableError(f"prometheus on {host}:{port} did not start: {log_tail}")
    if not detached:
        daemon.track(process.pid, lambda: stop_prometheus(handle, timeout=3.0))
    return handle


def stop_prometheus(handle: PrometheusHandle, timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM, then SIGKILL; remove the data folder."""
    daemon.stop_process(handle.pid, handle.process, timeout)
    shutil.rmtree(handle.directory, ignore_errors=True)


@contextlib.contextmanager
def running_prometheus(targets: Sequence[str], **options) -> Iterator[PrometheusHandle]:
    """A Prometheus for the ``with`` block (see :func:`start_prometheus` for the options)."""
    handle = start_prometheus(targets, **options)
    try:
        yield handle
    finally:
        stop_prometheus(handle)


def target_address(target: str) -> str:
    """``host:port`` of a ``[job=]host:port`` target."""
    return target.rpartition("=")[2]


def _rules(handle: PrometheusHandle) -> str:
    return os.path.join(handle.directory, RULES_FILE)


def _write_config(directory: str, config: dict) -> str:
    path = os.path.join(directory, CONFIG_FILE)
    Path(path).write_text(json.dumps(config, indent=1))
    return path


# ---- `lesson observe start|stop|status` ----------------------------------------------------
def _state_path() -> Path:
    root = os.environ.get("LESSON_STATE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "lesson"
    )
    return Path(root) / STATE_FILE


def _read_state() -> PrometheusHandle | None:
    try:
        state = json.loads(_state_path().read_text())
        handle = PrometheusHandle("127.0.0.1", int(state["port"]), int(state["pid"]), state["dir"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    handle.targets = list(state.get("targets", []))
    return handle if daemon.is_running(handle.pid) else None


def start_command(targets: Sequence[str], port: int | None = None) -> int:
    """Start a detached Prometheus scraping ``targets``; record it; print its URL."""
    running = _read_state()
    if running is not None:
        print(f"Prometheus already runs at {running.url} (pid {running.pid}); stop it first")
        return 1
    handle = start_prometheus(targets, port=port, detached=True)
    path = _state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"port": handle.port, "pid": handle.pid, "dir": handle.directory, "targets": targets}
    path.write_text(json.dumps(state) + "\n")
    print(handle.url)
    return 0


def stop_command() -> int:
    """Stop the recorded Prometheus and remove its data folder."""
    handle = _read_state()
    with contextlib.suppress(FileNotFoundError):
        _state_path().unlink()
    if handle is None:
        print("no Prometheus is running (nothing recorded by `lesson observe start`)")
        return 0
    stop_prometheus(handle)
    print(f"stopped Prometheus at {handle.url}")
    return 0


def status_command() -> int:
    """Print the recorded Prometheus's targets and their health."""
    handle = _read_state()
    if handle is None:
        print("no Prometheus is running; start one with `lesson observe start --target HOST:PORT`")
        return 1
    print(f"{handle.url} (pid {handle.pid})")
    seen = {t["scrapeUrl"]: t for t in handle.api.targets()}
    for target in handle.targets:
        url = f"http://{target_address(target)}/metrics"
        found = seen.get(url, {"health": "not scraped yet"})
        print(f"  {url}: {found['health']} {found.get('lastError') or ''}".rstrip())
    return 0
