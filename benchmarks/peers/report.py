"""Medians of clean runs, tables and verdicts for bench_peers; every table and verdict printed is
also kept in :data:`RECORD` (``--record`` writes it as JSON for the site's pages)."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from peers.procs import CpuWatch

#: what was printed, as data: {"tables": [{section, title, rows}], "verdicts": [{section, ...}]}
RECORD: dict[str, Any] = {"section": "", "tables": [], "verdicts": []}


def _summary(label: str, runs: list[dict]) -> dict[str, Any]:
    kept = clean(runs)
    out: dict[str, Any] = {
        "label": label,
        "runs": len(runs),
        "clean": sum(not r.get("contaminated") for r in runs),
        "errors": sum(r.get("errors", 0) for r in runs),
    }
    for key in ("rps", "p50", "p99", "cpu_us"):
        values = [r[key] for r in kept if key in r]
        if values:
            out[key] = statistics.median(values)
            out[key + "_range"] = [min(values), max(values)]
    return out


def watched(pid: int, run: Callable[..., dict], *args: Any, **kwargs: Any) -> dict:
    """``run(*args, **kwargs)`` with the contamination guard; adds the server's CPU per request (us)."""
    with CpuWatch(pid) as watch:
        figures = run(*args, **kwargs)
    cpu_us = watch.server_cores / figures["rps"] * 1e6 if figures.get("rps") else float("nan")
    return dict(figures, other=watch.other_cores, contaminated=watch.contaminated, cpu_us=cpu_us)


def clean(runs: list[dict]) -> list[dict]:
    return [r for r in runs if not r.get("contaminated")] or runs


def med(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in clean(runs))


def cell(runs: list[dict], key: str, digits: int = 2) -> str:
    values = [r[key] for r in clean(runs)]
    return f"{statistics.median(values):,.{digits}f} [{min(values):,.{digits}f}-{max(values):,.{digits}f}]"


def note(runs: list[dict]) -> str:
    dirty = sum(bool(r.get("contaminated")) for r in runs)
    errors = sum(r.get("errors", 0) for r in runs)
    parts = [f"{len(clean(runs))}/{len(runs)} clean"]
    if dirty == len(runs):
        parts = [
            f"ALL {len(runs)} contaminated (others up to {max(r['other'] for r in runs):.2f} cores)"
        ]
    if errors:
        parts.append(f"{errors} ERRORS")
    return ", ".join(parts)


def table(rows: list[tuple[str, list[dict]]], cpu: bool = False, title: str = "") -> None:
    """label | req/s | p50 ms | p99 ms (median [min-max] of the clean runs) | runs."""
    if title:
        print(title + ":")
    RECORD["tables"].append(
        {
            "section": RECORD["section"],
            "title": title,
            "rows": [_summary(label, runs) for label, runs in rows if runs],
        }
    )
    head = f"  {'':<26} {'req/s':>24} {'p50 ms':>20} {'p99 ms':>22}" + (
        f" {'server CPU us/req':>18}" if cpu else ""
    )
    print(head)
    for label, runs in rows:
        if not runs:
            print(f"  {label:<26} (not run)")
            continue
        extra = f" {med(runs, 'cpu_us'):>18,.0f}" if cpu else ""
        print(
            f"  {label:<26} {cell(runs, 'rps', 0):>24} {cell(runs, 'p50'):>20} "
            f"{cell(runs, 'p99'):>22}{extra}  {note(runs)}"
        )


def within(ratio: float, tolerance: float) -> bool:
    return abs(ratio - 1) <= tolerance


def verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


def compare(
    label: str, ours: list[dict], theirs: list[dict], ref: str, closed: bool = True
) -> bool:
    """Print ours/theirs ratios; closed loop: throughput within 15 %, p50 within 20 %; open: p99 within 30 %."""
    rps, p50, p99 = (med(ours, k) / med(theirs, k) for k in ("rps", "p50", "p99"))
    ok = within(rps, 0.15) and within(p50, 0.20) if closed else within(p99, 0.30)
    target = "throughput within 15 %, p50 within 20 %" if closed else "p99 within 30 %"
    print(
        f"  {label}/{ref}: throughput {rps:.2f}x, p50 {p50:.2f}x, p99 {p99:.2f}x -> {verdict(ok)} ({target})"
    )
    RECORD["verdicts"].append(
        {
            "section": RECORD["section"],
            "label": label,
            "ref": ref,
            "rps": rps,
            "p50": p50,
            "p99": p99,
            "ok": ok,
            "target": target,
            "closed": closed,
        }
    )
    return ok


#: issue 23's targets: >= 1.2x each peer's throughput at equal or better p99; the lesson's
#: routes >= 0.85x the bare FastAPI floor's throughput
PEER_TARGET, FLOOR_TARGET = 1.2, 0.85


def peer_verdicts(rows: list[tuple[str, list[dict]]], protocol: str, conns: int) -> None:
    """lesson/peer ratios for one table (same protocol and connections): a peer is met when the
    lesson has >= `PEER_TARGET` its throughput at equal or better p99; the floor (a bare
    endpoint, not a peer) when the lesson has >= `FLOOR_TARGET` its throughput."""
    base = dict(rows).get("lesson")
    if not base:
        return
    for name, r in rows:
        if name == "lesson" or not r:
            continue
        rps, p99 = med(base, "rps") / med(r, "rps"), med(base, "p99") / med(r, "p99")
        if name == "floor":
            ok, kind = rps >= FLOOR_TARGET, "floor (a bare endpoint, not a peer)"
            target = f">= {FLOOR_TARGET}x the floor's throughput"
            meaning = "the floor: what the lesson's route costs above a bare endpoint; "
        else:
            ok, kind = rps >= PEER_TARGET and p99 <= 1.0, "peer"
            target = f">= {PEER_TARGET}x throughput at equal or better p99"
            meaning = ""
        print(
            f"  lesson/{name}: throughput {rps:.2f}x, p99 {p99:.2f}x -> {meaning}{verdict(ok)} ({target})"
        )
        RECORD["verdicts"].append(
            {
                "section": "peers",
                "label": "lesson",
                "ref": name,
                "protocol": protocol,
                "connections": conns,
                "rps": rps,
                "p99": p99,
                "ok": ok,
                "kind": kind,
                "p50": med(base, "p50") / med(r, "p50"),
                "target": target,
            }
        )


def save(path: Path, sections: list[str]) -> None:
    """Write RECORD to ``path``; sections this run did not measure keep their earlier record.

    ``meta["sections"][name]`` says when and with which command each section was measured.
    """
    old = json.loads(path.read_text()) if path.exists() else {}
    meta = dict(RECORD["meta"])
    stamps = dict(old.get("meta", {}).get("sections", {}))
    stamps.update(
        {
            name: {k: meta[k] for k in ("date", "command", "runs", "duration_s", "load_average")}
            for name in sections
        }
    )
    out: dict[str, Any] = {"meta": dict(meta, sections=stamps)}
    for key in ("tables", "verdicts"):
        out[key] = [x for x in old.get(key, []) if x.get("section") not in sections] + RECORD[key]
    out["profile"] = RECORD.get("profile", []) if "profile" in sections else old.get("profile", [])
    out["not_run"] = {
        **{k: v for k, v in old.get("not_run", {}).items() if k not in RECORD.get("not_run", {})},
        **RECORD.get("not_run", {}),
    }
    path.write_text(json.dumps(out, indent=1) + "\n")
