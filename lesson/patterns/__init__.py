"""The serving patterns over the core.

Server-side dynamic micro-batching of requests (:mod:`lesson.patterns.microbatching`),
scheduled batch scoring of files (:mod:`lesson.patterns.batch`), streaming, the edge
runtime, and generative serving (:mod:`lesson.patterns.generative`: an LLM engine with
continuous batching, paged KV memory and a prefix cache). No server framework is imported
here; :mod:`lesson.patterns.batch` needs numpy and pyarrow.
"""
