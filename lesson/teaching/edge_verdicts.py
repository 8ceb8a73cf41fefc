"""What the edge runtimes' table says, in sentences computed from it (never typed figures).

Rows of the same ``runtime`` form a family: its first row is the float model, the others its
quantised variants (``lesson int8`` beside ``pure-Python float``; ``ORT int8 dynamic`` and
``ORT int8 static`` beside ``ORT float32``; rows a browser appends for ONNX Runtime Web form
their own family). Standard library only::

    >>> from lesson.patterns.edge_runtimes import compare_edge_runtimes
    >>> from lesson.teaching.edge_verdicts import runtime_verdicts
    >>> print("\\n".join(runtime_verdicts(compare_edge_runtimes())))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

#: A speed ratio inside this band is "about the same" on a shared, noisy machine.
SAME_BAND = (0.9, 1.1)


def families(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows grouped by ``runtime``, in table order (the first of each group is its float row)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["runtime"], []).append(r)
    return out


def _speed(float_us: float, int8_us: float) -> tuple[float, str]:
    ratio = float_us / int8_us if int8_us > 0 else float("inf")
    if ratio >= SAME_BAND[1]:
        return ratio, f"{ratio:.2f}x the float model's speed (faster)"
    if ratio <= SAME_BAND[0]:
        return ratio, f"{ratio:.2f}x the float model's speed (slower)"
    return ratio, f"{ratio:.2f}x the float model's speed (about the same)"


def size_verdicts(table: Any) -> list[str]:
    """Model bytes of each quantised variant against its float row, and runtime vs model bytes."""
    out = []
    for group in families(table.rows).values():
        base = group[0]
        for r in group[1:]:
            ratio = r["model_bytes"] / base["model_bytes"]
            if ratio > 1:
                why = (
                    f"larger: int8 saves 3 bytes on each of {table.n_parameters} parameters "
                    f"(at most {3 * table.n_parameters:,} bytes), and the quantiser adds a scale, "
                    "a zero point and extra nodes for each tensor it quantises, which outweigh that "
                    "for a model this small"
                )
            else:
                why = f"{1 / ratio:.1f}x smaller"
            out.append(
                f"**{r['variant']}** is {r['model_bytes']:,} bytes against {base['variant']}'s "
                f"{base['model_bytes']:,}: {why}."
            )
    for group in families(table.rows).values():
        base = group[0]
        for r in group[1:]:
            before = base["runtime_bytes"] + base["model_bytes"]
            after = r["runtime_bytes"] + r["model_bytes"]
            out.append(
                f"A device running **{r['variant']}** downloads runtime + model = {after:,} bytes "
                f"against {before:,} for {base['variant']} ({(after - before) / before * 100:+.3g} %): "
                f"the runtime is {r['runtime_bytes'] / r['model_bytes']:,.0f}x the model file."
            )
    return out


def accuracy_verdicts(table: Any) -> list[str]:
    """Held-out MAE change and the largest change in one prediction, per quantised variant."""
    out = []
    for group in families(table.rows).values():
        for r in group[1:]:
            out.append(
                f"**{r['variant']}**: held-out MAE {r['mae']:.2f} ({r['delta_mae']:+.3f} from float) "
                f"on {table.heldout_n} rows, yet one prediction moved by up to {r['max_change']:.2f}: "
                "the average hides how far single answers move, so check both against a budget."
            )
    return out


def speed_verdicts(table: Any) -> list[str]:
    """Where int8 pays in speed and where it does not, per family and batch size, and why."""
    out = []
    for group in families(table.rows).values():
        base = group[0]
        for r in group[1:]:
            parts = []
            for n in (1, 64):
                _, text = _speed(base[f"b{n}_p50_us"], r[f"b{n}_p50_us"])
                parts.append(f"at batch {n} {text}")
            out.append(f"**{r['variant']}** ran " + "; ".join(parts) + ".")
    weights_kib = table.n_parameters * 4 / 1024
    paid = [
        r["variant"]
        for g in families(table.rows).values()
        for r in g[1:]
        if base_ratio(g[0], r, 64) >= SAME_BAND[1]
    ]
    out.append(
        (
            f"int8 paid at batch 64 only for {', '.join(paid)}. "
            if paid
            else "int8 did not pay here. "
        )
        + f"The float32 weights are {weights_kib:.1f} KiB: they stay in the CPU's cache, so there is "
        "no memory traffic for int8 to save, and each call is mostly fixed overhead (entering the "
        "runtime, converting the rows, running each node"
        + (
            "; dynamic int8 adds nodes that measure and quantise the activations on every call). "
            if any("dynamic" in r["variant"] for r in table.rows)
            else "; in pure Python each weight is a Python object whatever its precision). "
        )
        + "int8 pays when moving the weights is the cost "
        "(a model of many megabytes, streamed from memory each call) or on hardware with int8 "
        "arithmetic (NPUs, int8 dot-product instructions) fed a static, calibrated model."
    )
    return out


def base_ratio(base: dict[str, Any], row: dict[str, Any], batch: int) -> float:
    """Float p50 over the variant's p50 at ``batch`` (above 1: the variant is faster)."""
    got = row[f"b{batch}_p50_us"]
    return base[f"b{batch}_p50_us"] / got if got > 0 else float("inf")


def runtime_verdicts(table: Any) -> list[str]:
    """Every verdict: size, accuracy, speed of int8; and the runtimes against each other."""
    out = size_verdicts(table) + accuracy_verdicts(table) + speed_verdicts(table)
    fams = families(table.rows)
    if len(fams) > 1:
        first, *others = [g[0] for g in fams.values()]
        for other in others:
            b1, b64 = base_ratio(first, other, 1), base_ratio(first, other, 64)
            out.append(
                f"**{other['variant']}** against **{first['variant']}**: {b1:.2f}x its speed at "
                f"batch 1, {b64:.1f}x at batch 64 — one row is per-call overhead either way; "
                "64 rows are where compiled kernels pull ahead of a Python loop."
            )
    return out
