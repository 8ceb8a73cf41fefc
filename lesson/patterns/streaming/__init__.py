"""Streaming inference: an adapter over event iterables (:mod:`.events`) and a partitioned,
de-duplicating consumer with lag and freshness (:mod:`.consumer`). Standard library only.
"""
