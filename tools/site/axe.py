"""Accessibility audits with axe-core (from npm, pinned) in the site's headless Chromium.

    with serve_directory(site) as base, offline_browser() as b:
        b.page.goto(base + "notebooks/06-load-testing/")
        violations = audit(b.page)          # WCAG 2 A and AA rules
        print(describe(serious(violations)))

axe-core is fetched once into ``.cache/npm`` by :func:`tools.site.npm.npm_package` and
injected into the page as a script; nothing is loaded from a CDN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tools.site.npm import npm_package

AXE_VERSION = "4.14.1"
#: The rule sets audited: WCAG 2.0 and 2.1, levels A and AA.
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
BLOCKING = ("critical", "serious")
#: The alt text nbconvert gives an image that has none (it says nothing about the chart).
NBCONVERT_ALT = "No description has been provided for this image"


def axe_script() -> Path:
    """``axe.min.js`` of the pinned axe-core (downloaded from the npm registry once)."""
    return npm_package("axe-core", AXE_VERSION) / "axe.min.js"


def audit(page: Any, tags: tuple[str, ...] = WCAG_TAGS, timeout_s: float = 120) -> list[dict[str, Any]]:
    """Inject axe-core into a Playwright ``page`` and return its violations (axe's dicts).

    Each violation keeps ``id``, ``impact``, ``help`` and ``nodes`` (with ``target``s).
    """
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(axe_script()))
    page.set_default_timeout(timeout_s * 1000)
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})"
        ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => ({target: n.target, summary: n.failureSummary}))})))",
        list(tags))
    return list(result)


def serious(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The violations whose impact is critical or serious."""
    return [v for v in violations if v.get("impact") in BLOCKING]


def count_nodes(violations: list[dict[str, Any]]) -> int:
    """How many elements violate a rule (an element counted once per rule)."""
    return sum(len(v["nodes"]) for v in violations)


def describe(violations: list[dict[str, Any]], first: int = 3) -> str:
    """One line per violation: rule id, impact, element count and the first targets."""
    lines = []
    for v in violations:
        targets = ", ".join(" ".join(map(str, n["target"])) for n in v["nodes"][:first])
        lines.append(f"{v['id']} ({v['impact']}, {len(v['nodes'])} elements): {v['help']} -- {targets}")
    return "\n".join(lines)
