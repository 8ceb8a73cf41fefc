"""The generative server: a tiny language model behind an OpenAI-compatible API (`lesson serve llm`).

One file per job: `protocol` (parsing, bounds, error shape, text and stop strings, SSE; no
framework), `options`, `driver` (the engine's steps on a worker thread or on the loop),
`state` (admission, one generation), `metrics`, `errors` (the handlers), and one router per
file: `models`, `completions`, `health`; `app` puts them together.
"""

from __future__ import annotations

__all__ = ["create_llm_app"]


def create_llm_app(*args, **kwargs):
    """`lesson.servers.llm.app.create_llm_app`, imported lazily (FastAPI)."""
    from lesson.servers.llm.app import create_llm_app as create

    return create(*args, **kwargs)
