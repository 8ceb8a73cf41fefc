"""The offline JupyterLite build (``python -m tools.lite.build``), copied to ``site/lite``."""
