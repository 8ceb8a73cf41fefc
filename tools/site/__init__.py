"""The mkdocs site build (``python -m tools.site.build``; ``tools/build_site.py`` runs it)."""
