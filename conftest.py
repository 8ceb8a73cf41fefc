"""Root pytest configuration: its presence puts the repository root on ``sys.path`` (pytest's
default ``prepend`` import mode), so tests import ``tools.…`` under a plain ``pytest`` too.

It no longer patches jupyter_client. ``tools/nbclient_patch.py`` (commit c213400) polled
``AsyncZMQSocketChannel.get_msg`` in 0.2 s slices because a cell's ``execute_reply`` was seen
to wake nbclient only at the cell timeout (a missed wake-up of pyzmq's edge-triggered socket
under asyncio). With the same pins (nbclient 0.11.0, nbmake 1.5.5; jupyter_client 8.10.0,
pyzmq 27.3.0, ipykernel 7.4.0) every notebook ran under nbmake without it, and no cell came
near its timeout (06-load-testing, the notebook that used to stall, took 51 s twice). Should
a cell again take exactly its timeout and then pass, that is the symptom to look for.
"""
