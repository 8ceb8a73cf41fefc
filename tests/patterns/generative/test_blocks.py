"""The paged KV allocator and its prefix cache."""

from __future__ import annotations

import pytest

from lesson.models.ngram import NgramCache
from lesson.patterns.generative.blocks import BlockAllocator, NoFreeBlocksError, blocks_for


def test_blocks_for_rounds_up():
    assert [blocks_for(n, 4) for n in (0, 1, 4, 5, 8, 9)] == [0, 1, 1, 2, 2, 3]


def test_allocate_and_release_without_prefix_caching():
    alloc = BlockAllocator(3, 4, prefix_caching=False)
    ids = [alloc.allocate() for _ in range(3)]
    assert alloc.blocks_used == 3 and alloc.available() == 0
    with pytest.raises(NoFreeBlocksError):
        alloc.allocate()
    alloc.register(ids[0], None, (1, 2, 3, 4), NgramCache([1, 2, 3, 4]))  # ignored: caching off
    alloc.release(ids)
    assert alloc.blocks_used == 0 and alloc.cached_blocks == 0
    with pytest.raises(RuntimeError):
        alloc.release([ids[0]])


def test_a_cached_prefix_is_found_shared_and_evicted_lru():
    alloc = BlockAllocator(4, 2)
    tokens = [1, 2, 3, 4, 5]
    kv = NgramCache(tokens)
    a, b = alloc.allocate(), alloc.allocate()
    h1 = alloc.register(a, None, (1, 2), kv)
    alloc.register(b, h1, (3, 4), kv)
    hits = alloc.lookup(tokens, max_blocks=9)
    assert [blk.id for blk in hits] == [a, b]
    assert alloc.lookup([1, 2, 9, 9], 9) == hits[:1]  # the chain: the second block differs
    assert alloc.lookup([9, 2, 3, 4], 9) == []  # same block tokens, other parent: no hit
    assert alloc.lookup(tokens, 1) == hits[:1]
    alloc.acquire(hits)  # shared
    assert alloc.blocks[a].ref_count == 2
    alloc.release([a, b])
    alloc.release([a, b])
    # unheld but cached: still used, available on demand
    assert alloc.blocks_used == 2 and alloc.cached_blocks == 2 and alloc.available() == 4
    got = [alloc.allocate() for _ in range(3)]  # two free ones, then evicts the LRU cached one
    assert alloc.evictions == 1 and alloc.cached_blocks == 1
    assert b in got  # the tail of the prefix goes first (released last-to-first)
    assert [blk.id for blk in alloc.lookup(tokens, 9)] == [a]
    alloc.release(got)
    alloc.clear_cache()
    assert alloc.blocks_used == 0
