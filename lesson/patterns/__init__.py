"""The serving patterns over the core: dynamic batching, batch scoring of files, streaming and
the edge runtime. No server framework is imported here; :mod:`lesson.patterns.batch` needs numpy and pyarrow.
"""
