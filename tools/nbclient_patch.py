"""Work around a lost wake-up when nbclient waits for a cell's ``execute_reply``.

Seen here (jupyter_client 8.10, pyzmq 26 and 27, ipykernel 6 and 7, nbclient 0.11): after a
cell that awaits a load test and updates widgets, the kernel sends ``execute_reply`` at once
(its timestamp says so) but ``AsyncZMQSocketChannel.get_msg(timeout)`` does not wake until
its whole timeout has passed, then returns the reply. Each such cell cost the full cell
timeout (120 s in notebook 06). Polling in short slices bounds the delay to one slice and
changes nothing else: the overall timeout and the ``Empty`` at the deadline are kept.

Applied by the site build (``tools/site/notebooks.py``) and by pytest/nbmake (the root
``conftest.py``, which imports this file as the top-level module ``nbclient_patch``).
"""

from __future__ import annotations

import time
from queue import Empty
from typing import Any

from jupyter_client import channels

SLICE_S = 0.2
_original_get_msg = channels.AsyncZMQSocketChannel.get_msg


async def _get_msg_in_slices(self: Any, timeout: float | None = None) -> dict[str, Any]:
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        remaining = (
            SLICE_S if deadline is None else max(0.0, min(SLICE_S, deadline - time.monotonic()))
        )
        try:
            return await _original_get_msg(self, remaining)
        except Empty:
            if deadline is not None and time.monotonic() >= deadline:
                raise


_get_msg_in_slices.sliced = True  # type: ignore[attr-defined]


def apply() -> None:
    """Install the sliced ``get_msg`` (idempotent, also across two imports of this file)."""
    if getattr(channels.AsyncZMQSocketChannel.get_msg, "sliced", False):
        return
    channels.AsyncZMQSocketChannel.get_msg = _get_msg_in_slices  # type: ignore[method-assign]
