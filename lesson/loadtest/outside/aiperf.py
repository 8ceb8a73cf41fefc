"""NVIDIA's aiperf, unchanged, against `lesson serve llm`, beside `lesson loadtest-llm`.

aiperf (``aiperf==0.13.0``) is an outside LLM benchmark: it sends OpenAI-compatible streamed
requests and reports TTFT, inter-token latency and output-token throughput by its own code.
It runs from its own virtual environment, ``.cache/bench-venvs/aiperf`` (:func:`ensure_venv`,
installed once and reused; ``make bench-venvs`` creates it on a fresh machine), never from
the project's.

**The tokenizer** is made here, locally, with the ``tokenizers`` library (aiperf's venv has
it): the tiny model's vocabulary, ids 0..255 the UTF-8 bytes and 256 ``<|endoftext|>``, as a
byte-level BPE with no merges (:data:`TOKENIZER_SCRIPT`). Nothing comes from a hub: aiperf
runs with ``HF_HUB_OFFLINE=1``, and in offline mode aiperf 0.13.0 does not accept a directory
as ``--tokenizer`` (it passes it to ``snapshot_download`` as a repo id and fails with
``HFValidationError``), so the files are laid out as a private Hugging Face cache
(``<dir>/hub/models--lesson--tiny-lm/snapshots/<rev>/tokenizer.json``, ``HF_HUB_CACHE``
pointing there) and passed as ``--tokenizer lesson/tiny-lm``.

**Definitions.** aiperf's TTFT is the lesson's (send to the first chunk with text). aiperf's
"inter token latency" is per request ``(E2EL - TTFT) / (output tokens - 1)``, which the
lesson (after vLLM) calls TPOT; with ``ignore_eos`` every answer has the same length, so its
mean equals the mean of the lesson's per-gap ITL up to the last chunk's timing. Output tokens
come from the server's ``usage`` in both (``--use-server-token-count``), and output-token
throughput is output tokens / (first send to last completion) in both.

Both tools run as subprocesses pinned to one core (``taskset``), the server to the other,
one after the other on the same server with the same load: closed loop at ``concurrency``,
``requests`` requests, ``input_tokens`` prompt bytes, exactly ``output_tokens`` generated.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lesson.loadtest.outside import check_loopback

__all__ = [
    "PINS",
    "LLMToolRun",
    "Unavailable",
    "default_venvs",
    "ensure_venv",
    "make_tokenizer",
    "run_aiperf",
    "run_lesson_llm",
    "compare_llm_tools",
]

PINS = ["aiperf==0.13.0"]
REPO_ID = "lesson/tiny-lm"
_REVISION = "0" * 40
INSTALL_TIMEOUT_S = 1500
MAX_REQUESTS = 1000


class Unavailable(RuntimeError):
    """The outside tool cannot run here; the message says exactly why."""


@dataclass(frozen=True)
class LLMToolRun:
    """One tool's figures for one run (milliseconds; tokens per second)."""

    tool: str
    completed: int
    errors: int
    ttft_mean_ms: float
    ttft_median_ms: float
    itl_mean_ms: float  # aiperf: its per-request ITL (= TPOT); lesson: the per-gap ITL
    tpot_mean_ms: float
    output_tps: float
    output_tokens: int
    seconds: float  # the tool's whole run, start-up included
    cpu_s: float = float("nan")  # CPU the tool's processes used (user + system), start-up included

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_venvs() -> Path:
    """``.cache/bench-venvs`` of the checkout this package runs from (else of the cwd)."""
    root = Path(__file__).resolve().parents[3]
    if not (root / "pyproject.toml").exists():
        root = Path.cwd()
    return Path(os.environ.get("LESSON_BENCH_VENVS", root / ".cache" / "bench-venvs"))


def ensure_venv(venvs: Path | None = None, pins: list[str] = PINS) -> Path:
    """``<venvs>/aiperf`` with exactly ``pins`` installed (cached: a rerun installs nothing)."""
    return ensure_tool_venv((venvs or default_venvs()) / "aiperf", pins)


def ensure_tool_venv(
    venv: Path, pins: list[str], announce: Callable[[], None] | None = None
) -> Path:
    """``venv`` with exactly ``pins`` installed, for an outside tool; cached by a pins stamp.

    ``announce`` is called before an install (not when the cached venv is reused). Raises
    :class:`Unavailable` with pip's errors when the install fails.
    """
    stamp = venv / ".bench-pins.json"
    python = venv / "bin" / "python"
    if stamp.exists() and json.loads(stamp.read_text()) == pins and python.exists():
        return venv
    if announce is not None:
        announce()
    base = shutil.which("python3") or sys.executable
    if not python.exists():
        subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=300)
    done = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", *pins],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if not line.startswith("WARNING")]
        raise Unavailable(f"pip install {' '.join(pins)} failed: {' '.join(errors)[-500:]}")
    stamp.write_text(json.dumps(pins))
    return venv


#: run by aiperf's venv python (it has ``tokenizers``): argv[1] the snapshot directory
TOKENIZER_SCRIPT = r"""
import json, sys
from pathlib import Path
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
# GPT-2's byte-to-unicode table (what the ByteLevel pre-tokenizer maps bytes to), byte order
printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
chars, extra = {}, 0
for b in range(256):
    if b in printable:
        chars[b] = chr(b)
    else:
        chars[b] = chr(256 + extra)
        extra += 1
assert set(chars.values()) == set(pre_tokenizers.ByteLevel.alphabet())
vocab = {chars[b]: b for b in range(256)}
vocab["<|endoftext|>"] = 256
tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
tok.decoder = decoders.ByteLevel()
tok.add_special_tokens(["<|endoftext|>"])
tok.save(str(out / "tokenizer.json"))
(out / "tokenizer_config.json").write_text(json.dumps({
    "tokenizer_class": "PreTrainedTokenizerFast",
    "eos_token": "<|endoftext|>",
    "model_max_length": 128,
}))
check = Tokenizer.from_file(str(out / "tokenizer.json"))
text = "def serve(x):\n    return 'héllo' \u2014 ok"
assert check.encode(text).ids == list(text.encode()), "not byte-level"
assert check.decode(list(text.encode())) == text
assert check.get_vocab_size() == 257
print(json.dumps({"vocab": check.get_vocab_size()}))
"""


def make_tokenizer(venv: Path, directory: Path) -> dict[str, str]:
    """Write the byte-level tokenizer under ``directory`` (a private Hugging Face cache);
    returns the environment aiperf needs to find it offline (``--tokenizer lesson/tiny-lm``)."""
    hub = directory / "hub"
    repo = hub / ("models--" + REPO_ID.replace("/", "--"))
    snapshot = repo / "snapshots" / _REVISION
    env = offline_env(directory)
    subprocess.run(
        [str(venv / "bin" / "python"), "-c", TOKENIZER_SCRIPT, str(snapshot)],
        check=True,
        capture_output=True,
        timeout=120,
        env=env,
    )
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(_REVISION)
    return env


def offline_env(directory: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HOME=str(directory),
        HF_HUB_CACHE=str(directory / "hub"),
        NO_COLOR="1",
    )
    return env


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _prefix(core: str | None) -> list[str]:
    return ["taskset", "-c", core] if core is not None and shutil.which("taskset") else []


def run_aiperf(
    url: str,
    *,
    venv: Path,
    tokenizer_env: dict[str, str],
    workdir: Path,
    model: str,
    concurrency: int,
    input_tokens: int,
    output_tokens: int,
    requests: int,
    warmup: int,
    seed: int = 0,
    core: str | None = None,
) -> LLMToolRun:
    """``aiperf profile`` (completions, streamed, ``ignore_eos``) and its JSON export's figures."""
    url = check_loopback(url)
    artifacts = workdir / f"aiperf-{time.monotonic_ns()}"
    cmd = [
        *_prefix(core),
        str(venv / "bin" / "aiperf"),
        "profile",
        "--model",
        model,
        "--url",
        url,
        "--endpoint-type",
        "completions",
        "--streaming",
        "--tokenizer",
        REPO_ID,
        "--concurrency",
        str(concurrency),
        "--request-count",
        str(requests),
        "--warmup-request-count",
        str(warmup),
        "--synthetic-input-tokens-mean",
        str(input_tokens),
        "--synthetic-input-tokens-stddev",
        "0",
        "--output-tokens-mean",
        str(output_tokens),
        "--output-tokens-stddev",
        "0",
        "--extra-inputs",
        "ignore_eos:true",
        "--use-legacy-max-tokens",
        "--use-server-token-count",
        "--random-seed",
        str(seed),
        "--ui-type",
        "none",
        "--no-server-metrics",
        "--no-gpu-telemetry",
        "--artifact-dir",
        str(artifacts),
    ]
    t0, cpu0 = time.monotonic(), _children_cpu()
    done = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=tokenizer_env,
        cwd=workdir,
    )
    seconds, cpu_s = time.monotonic() - t0, _children_cpu() - cpu0
    export = artifacts / "profile_export_aiperf.json"
    if done.returncode != 0 or not export.exists():
        tail = (done.stdout + done.stderr).strip()[-1500:]
        raise RuntimeError(f"aiperf failed (exit {done.returncode}):\n{tail}")
    report = json.loads(export.read_text())

    def stat(key: str, name: str = "avg") -> float:
        return float(report[key][name])

    completed = int(stat("request_count"))
    errors = int(sum(e.get("count", 0) for e in report.get("error_summary") or []))
    return LLMToolRun(
        tool="aiperf",
        completed=completed,
        errors=errors,
        ttft_mean_ms=stat("time_to_first_token"),
        ttft_median_ms=stat("time_to_first_token", "p50"),
        itl_mean_ms=stat("inter_token_latency"),
        tpot_mean_ms=stat("inter_token_latency"),
        output_tps=stat("output_token_throughput"),
        output_tokens=int(stat("total_osl")),
        seconds=seconds,
        cpu_s=cpu_s,
    )


def run_lesson_llm(
    url: str,
    *,
    concurrency: int,
    input_tokens: int,
    output_tokens: int,
    requests: int,
    warmup: int,
    seed: int = 0,
    core: str | None = None,
) -> LLMToolRun:
    """``lesson loadtest-llm --json-output`` in its own process (closed loop, ``ignore_eos``)."""
    url = check_loopback(url)
    cmd = [
        *_prefix(core),
        sys.executable,
        "-c",
        "import sys; from lesson.cli import main; sys.exit(main(sys.argv[1:]))",
        "loadtest-llm",
        "--url",
        url,
        "--concurrency",
        str(concurrency),
        "--requests",
        str(requests),
        "--input-len",
        str(input_tokens),
        "--max-tokens",
        str(output_tokens),
        "--ignore-eos",
        "--warmup",
        str(warmup),
        "--seed",
        str(seed),
        "--duration",
        "120",
        "--json-output",
    ]
    t0, cpu0 = time.monotonic(), _children_cpu()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    seconds, cpu_s = time.monotonic() - t0, _children_cpu() - cpu0
    if done.returncode != 0:
        raise RuntimeError(f"lesson loadtest-llm failed: {done.stderr.strip()[-800:]}")
    r = json.loads(done.stdout)
    return LLMToolRun(
        tool="lesson loadtest-llm",
        completed=int(r["completed"]),
        errors=int(r["failed"]),
        ttft_mean_ms=r["ttft"]["mean"] * 1000,
        ttft_median_ms=r["ttft"]["median"] * 1000,
        itl_mean_ms=r["itl"]["mean"] * 1000,
        tpot_mean_ms=r["tpot"]["mean"] * 1000,
        output_tps=float(r["output_throughput"]),
        output_tokens=int(r["output_tokens"]),
        seconds=seconds,
        cpu_s=cpu_s,
    )


def compare_llm_tools(
    url: str,
    *,
    model: str = "tiny-lm",
    rounds: int = 3,
    concurrency: int = 4,
    input_tokens: int = 32,
    output_tokens: int = 64,
    requests: int = 64,
    warmup: int = 4,
    venvs: Path | None = None,
    workdir: Path,
    core: str | None = None,
    progress: Any = None,
) -> dict[str, Any]:
    """Alternate aiperf and the lesson's harness ``rounds`` times on the same server and load;
    the medians over rounds of each figure and the ratios aiperf / lesson."""
    if not 1 <= requests <= MAX_REQUESTS or not 1 <= rounds <= 10:
        raise ValueError(f"requests must be in 1..{MAX_REQUESTS} and rounds in 1..10")
    url = check_loopback(url)
    t0 = time.monotonic()
    venv = ensure_venv(venvs)
    install_s = time.monotonic() - t0
    workdir.mkdir(parents=True, exist_ok=True)
    env = make_tokenizer(venv, workdir / "tokenizer")
    load = dict(
        concurrency=concurrency,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        requests=requests,
        warmup=warmup,
        core=core,
    )
    runs: dict[str, list[LLMToolRun]] = {"aiperf": [], "lesson": []}
    for i in range(rounds):
        a = run_aiperf(
            url, venv=venv, tokenizer_env=env, workdir=workdir, model=model, seed=i, **load
        )
        b = run_lesson_llm(url, seed=i, **load)
        runs["aiperf"].append(a)
        runs["lesson"].append(b)
        if progress:
            progress(
                f"round {i + 1}: aiperf TTFT {a.ttft_mean_ms:.2f} ms ITL {a.itl_mean_ms:.3f} ms "
                f"{a.output_tps:.0f} tok/s | lesson TTFT {b.ttft_mean_ms:.2f} ms "
                f"ITL {b.itl_mean_ms:.3f} ms TPOT {b.tpot_mean_ms:.3f} ms {b.output_tps:.0f} tok/s"
            )

    def median(tool: str, key: str) -> float:
        return statistics.median(getattr(r, key) for r in runs[tool])

    keys = ("ttft_mean_ms", "ttft_median_ms", "itl_mean_ms", "tpot_mean_ms", "output_tps")
    medians = {tool: {k: median(tool, k) for k in keys} for tool in runs}
    ratios = {
        "ttft": medians["aiperf"]["ttft_mean_ms"] / medians["lesson"]["ttft_mean_ms"],
        "ttft_p50": medians["aiperf"]["ttft_median_ms"] / medians["lesson"]["ttft_median_ms"],
        "itl": medians["aiperf"]["itl_mean_ms"] / medians["lesson"]["itl_mean_ms"],
        "itl_vs_tpot": medians["aiperf"]["itl_mean_ms"] / medians["lesson"]["tpot_mean_ms"],
        "output_tps": medians["aiperf"]["output_tps"] / medians["lesson"]["output_tps"],
    }
    return {
        "load": {**load, "model": model, "rounds": rounds},
        "venv_install_s": install_s,
        "runs": {tool: [r.as_dict() for r in rs] for tool, rs in runs.items()},
        "medians": medians,
        "ratios": ratios,
    }
