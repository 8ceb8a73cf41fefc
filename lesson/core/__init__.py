"""The ground floor: contracts, the service, the model protocol and artifacts. Standard library only.

Nothing here imports another layer of :mod:`lesson` or any package outside the standard
library (checked by import-linter and ``tests/repo/test_stdlib_only.py``), so it runs
unchanged in the browser (Pyodide) and under every server.
"""
