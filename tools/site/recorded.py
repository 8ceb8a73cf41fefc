"""The recorded peer benchmark on the site: tables and verdicts read from its JSON record.

``benchmarks/bench_peers.py --record benchmarks/results/bench_peers.json`` writes every table and
verdict it prints. Peers (MLServer, KServe) and Triton's perf_analyzer install into their own
virtual environments and a full run takes about half an hour, too much for a site build, so
the pages show this dated, recorded run with the command that reproduces it; nothing in the
tables is typed by hand. Every function returns Markdown for an ``exec="on"`` block.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from tools.paths import ROOT

RECORD = ROOT / "benchmarks" / "results" / "bench_peers.json"


def load(path: Path = RECORD) -> dict[str, Any]:
    """The record; a clear error (failing the build) when it is missing."""
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run python benchmarks/bench_peers.py --record {path}")
    return json.loads(path.read_text())


def provenance(record: dict[str, Any], *sections: str) -> str:
    """One admonition saying when, where and how the figures of ``sections`` were measured."""
    meta = record["meta"]
    stamps = [dict(meta, **meta.get("sections", {}).get(name, {})) for name in sections] or [meta]
    when = sorted({s["date"] for s in stamps})
    how = " and ".join(sorted({f'`{s["command"]}`' for s in stamps}))
    first = stamps[0]
    return (f'!!! info "Recorded run, {" and ".join(when)}"\n'
            f'    Measured on a {meta["cpus"]}-core VM (Python {meta["python"]}; server pinned to one core, load '
            f'generator to the other; {first["runs"]} runs of {first["duration_s"]:g} s each, medians of the runs '
            f'no other process disturbed, [min–max] beside). Reproduce with {how}. Your machine will give other '
            'absolute figures, and the ratios hold for this setup — one core per server, a model that costs '
            'microseconds, so per-request overhead is nearly all that is measured — not for every machine '
            'or model.\n')


def _fmt(row: dict[str, Any], key: str, digits: int) -> str:
    if key not in row or (isinstance(row[key], float) and math.isnan(row[key])):
        return "–"
    low, high = row.get(key + "_range", [row[key], row[key]])
    return f"{row[key]:,.{digits}f} <small>[{low:,.{digits}f}–{high:,.{digits}f}]</small>"


def table(record: dict[str, Any], *parts: str, cpu: bool = False, labels: dict[str, str] | None = None) -> str:
    """The recorded table whose title holds every one of ``parts``, as Markdown."""
    found = [t for t in record["tables"] if all(p in t["title"] for p in parts)]
    if len(found) != 1:
        raise KeyError(f"{len(found)} recorded tables hold {parts!r}; have {[t['title'] for t in record['tables']]}")
    rows = found[0]["rows"]
    head = "| | req/s | p50 ms | p99 ms |" + (" server CPU µs/request |" if cpu else "") + " errors | undisturbed runs |"
    lines = [head, "|---|---:|---:|---:|" + ("---:|" if cpu else "") + "---:|---:|"]
    for row in rows:
        label = (labels or {}).get(row["label"], row["label"])
        extra = f" {row['cpu_us']:,.0f} |" if cpu and "cpu_us" in row else (" – |" if cpu else "")
        lines.append(f"| {label} | {_fmt(row, 'rps', 0)} | {_fmt(row, 'p50', 2)} | {_fmt(row, 'p99', 2)} |{extra}"
                     f" {row['errors']} | {row['clean']} of {row['runs']} |")
    return "\n".join(lines) + "\n"


def verdicts(record: dict[str, Any], section: str, **match: Any) -> list[dict[str, Any]]:
    """The recorded verdicts of ``section`` whose fields equal ``match``."""
    return [v for v in record["verdicts"] if v["section"] == section and all(v.get(k) == x for k, x in match.items())]


def verdict_lines(record: dict[str, Any], section: str, **match: Any) -> str:
    """Bullet points, one per verdict: the ratios and whether the target was met."""
    out = []
    for v in verdicts(record, section, **match):
        if v.get("kind", "").startswith("floor"):
            result = "the floor: what the lesson's route costs above a bare endpoint"
        else:
            result = ("**meets** the target" if v["ok"] else "**misses** the target") + f" ({v['target']})"
        out.append(f"- {v['label']} / {v['ref']}: throughput {v['rps']:.2f}×, p50 {v['p50']:.2f}×, "
                   f"p99 {v['p99']:.2f}× — {result}")
    return "\n".join(out) + "\n"
