"""The serving patterns over the core.

Server-side dynamic micro-batching of requests (:mod:`lesson.patterns.microbatching`),
scheduled batch scoring of files (:mod:`lesson.patterns.batch`), streaming and the edge
runtime. No server framework is imported here; :mod:`lesson.patterns.batch` needs numpy and
pyarrow.
"""
