"""The built JupyterLite keeps the start-up savings of ``lite/``: config, not timing.

``benchmarks/bench_cold_start.py`` measured them (fewer JupyterLab plugins to activate, cells
out of view attached when the browser is idle); these tests keep a rebuild or an edit from
losing them silently, and keep them from disabling what the lesson needs.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = json.loads((ROOT / "lite" / "jupyter-lite.json").read_text())["jupyter-config-data"]
#: Plugins (or whole packages) the lesson's notebooks need: the notebook, its Run menu, its
#: outputs (the panels' Vega-Lite charts), the widgets and the kernel.
NEEDED = [
    "@jupyterlab/notebook-extension:tracker", "@jupyterlab/notebook-extension:factory",
    "@jupyterlab/notebook-extension:widget-factory", "@jupyterlab/mainmenu-extension:plugin",
    "@jupyterlab/rendermime-extension:plugin", "@jupyterlab/codemirror-extension:services",
    "@jupyter-widgets/jupyterlab-manager:plugin", "@jupyterlite/pyodide-kernel-extension:kernel",
    "@jupyterlab/filebrowser-extension:browser", "@jupyterlab/docmanager-extension:manager",
    "@jupyterlab/vega5-extension:factory", "@jupyterlab/json-extension:factory",
    "@jupyterlab/mathjax-extension:plugin", "@jupyterlab/markedparser-extension:plugin",
]
#: Packages the source config disables that this JupyterLite does not ship at all.
NOT_SHIPPED = {"@jupyterlab/debugger-extension", "@jupyterlab/extensionmanager-extension",
               "@jupyterlab/pluginmanager-extension"}


def built_config(site: Path) -> dict:
    return json.loads((site / "lite" / "jupyter-lite.json").read_text())["jupyter-config-data"]


def test_the_build_keeps_every_disabled_plugin(site):
    built = built_config(site)["disabledExtensions"]
    assert set(SOURCE["disabledExtensions"]) <= set(built)
    assert len(SOURCE["disabledExtensions"]) >= 45, "the measured list of unused plugins shrank"


def test_each_disabled_name_is_a_plugin_or_package_of_the_build(site):
    """A misspelt id disables nothing: each name must occur in the built bundles."""
    bundles = [p.read_text(errors="ignore") for p in (site / "lite" / "build").glob("*.js")]
    missing = [name for name in built_config(site)["disabledExtensions"]
               if name not in NOT_SHIPPED
               and not any(f'"{name}"' in text or f'"{name}:' in text for text in bundles)]
    assert missing == []
    for name in NOT_SHIPPED:  # still absent; if one ships again, it stays disabled
        assert name in SOURCE["disabledExtensions"]


def test_nothing_the_lesson_needs_is_disabled(site):
    disabled = set(built_config(site)["disabledExtensions"])
    for plugin in NEEDED:
        assert plugin not in disabled and plugin.split(":")[0] not in disabled, plugin


def test_cells_out_of_view_are_attached_later_not_dropped(site):
    """``defer``: every cell is in the page once the browser is idle (``full`` windowing would
    remove scrolled-out cells and their outputs from the DOM)."""
    overrides = built_config(site)["settingsOverrides"]
    assert overrides["@jupyterlab/notebook-extension:tracker"]["windowingMode"] == "defer"
    assert overrides["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
