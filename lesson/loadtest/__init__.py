"""The load tester: closed and open loop, percentiles, errors by kind (standard library only),
and the ``lesson loadtest`` command (:mod:`lesson.loadtest.wire`, CPython).
"""
