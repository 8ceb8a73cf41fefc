"""KV memory in fixed-size blocks (paged), with a prefix cache keyed by block hashes.

The engine accounts its KV memory as ``num_blocks`` blocks of ``block_size`` positions: a
sequence of ``n`` cached positions holds ``ceil(n / block_size)`` blocks, so memory is given
out as a sequence grows, never reserved for the longest possible answer.

Prefix caching: once a block is full its hash is the hash of (its parent block's hash, its
tokens), so a hash names the whole prefix up to the end of the block. Registered blocks are
found again by a new request whose prompt starts with the same tokens; it takes them
(reference-counted, shared read-only: only full blocks are shared, and a sequence only ever
writes its last, partial block) and starts from a copy of the cached keys and values instead
of recomputing them. A registered block nobody holds stays cached; it is evicted, least
recently used first, only when a free block is needed.

What the allocator keeps per registered block is a reference to a model cache whose first
positions are that prefix (caches are append-only, :mod:`lesson.core.generative`); the hit
copies them out with ``copy_prefix``. Standard library only.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from lesson.core.generative import KVCache

__all__ = ["Block", "BlockAllocator", "NoFreeBlocksError", "blocks_for", "block_hash"]


class NoFreeBlocksError(RuntimeError):
    """Every block is held by a running sequence (the scheduler checks first; a bug if raised)."""


def blocks_for(positions: int, block_size: int) -> int:
    """Blocks needed to hold ``positions`` positions: ceil(positions / block_size)."""
    return -(-positions // block_size)


def block_hash(parent: int | None, tokens: tuple[int, ...]) -> int:
    """The hash of a full block: its parent's hash chained with its own tokens."""
    return hash((parent, tokens))


@dataclass
class Block:
    """One block of KV memory: who holds it and, once registered, which prefix it caches."""

    id: int
    ref_count: int = 0
    hash: int | None = None
    parent: int | None = None
    tokens: tuple[int, ...] = ()
    kv: KVCache | None = None


class BlockAllocator:
    """Hands out blocks; keeps full blocks in a prefix cache when ``prefix_caching`` is on."""

    def __init__(self, num_blocks: int, block_size: int, *, prefix_caching: bool = True) -> None:
        if num_blocks < 1 or block_size < 1:
            raise ValueError("num_blocks and block_size must be at least 1")
        self.num_blocks = num_blocks
        self.block_size = block_size
        self.prefix_caching = prefix_caching
        self.blocks = [Block(i) for i in range(num_blocks)]
        self._free: list[int] = list(range(num_blocks - 1, -1, -1))  # pop() gives block 0 first
        self._cached: dict[int, int] = {}  # block hash -> block id
        self._evictable: OrderedDict[int, None] = OrderedDict()  # unheld cached blocks, LRU first
        self.evictions = 0

    # -- counts ---------------------------------------------------------------------------

    @property
    def blocks_used(self) -> int:
        """Blocks not on the free list: held by sequences or kept by the prefix cache."""
        return self.num_blocks - len(self._free)

    @property
    def cached_blocks(self) -> int:
        """Blocks registered in the prefix cache (held or not)."""
        return len(self._cached)

    @property
    def held_blocks(self) -> int:
        """Blocks some sequence holds."""
        return sum(1 for b in self.blocks if b.ref_count > 0)

    def available(self) -> int:
        """Blocks that can be given out now: free ones plus unheld cached ones (evicted on demand)."""
        return len(self._free) + len(self._evictable)

    # -- the prefix cache -----------------------------------------------------------------

    def lookup(self, tokens: list[int], max_blocks: int) -> list[Block]:
        """The cached blocks that begin ``tokens``, at most ``max_blocks`` (nothing is taken)."""
        if not self.prefix_caching:
            return []
        hits: list[Block] = []
        parent = None
        size = self.block_size
        for i in range(min(max_blocks, len(tokens) // size)):
            chunk = tuple(tokens[i * size : (i + 1) * size])
            h = block_hash(parent, chunk)
            block_id = self._cached.get(h)
            if block_id is None:
                break
            block = self.blocks[block_id]
            if block.parent != parent or block.tokens != chunk:  # a hash collision
                break
            hits.append(block)
            parent = h
        return hits

    def register(
        self, block_id: int, parent: int | None, tokens: tuple[int, ...], kv: KVCache
    ) -> int:
        """Record that the full block ``block_id`` holds ``tokens`` after the prefix ``parent``
        (``kv``'s first positions are that whole prefix); returns the block's hash."""
        h = block_hash(parent, tokens)
        if self.prefix_caching and h not in self._cached:
            block = self.blocks[block_id]
            block.hash, block.parent, block.tokens, block.kv = h, parent, tokens, kv
            self._cached[h] = block_id
        return h

    # -- giving out and taking back -------------------------------------------------------

    def acquire(self, blocks: list[Block]) -> None:
        """Take a reference on cached blocks (a prefix-cache hit)."""
        for block in blocks:
            if block.ref_count == 0:
                del self._evictable[block.id]
            block.ref_count += 1

    def allocate(self) -> int:
        """A block for one holder: a free one, else the least recently used unheld cached one."""
        if self._free:
            block_id = self._free.pop()
        elif self._evictable:
            block_id, _ = self._evictable.popitem(last=False)
            self._uncache(self.blocks[block_id])
            self.evictions += 1
        else:
            raise NoFreeBlocksError(f"all {self.num_blocks} KV blocks are held")
        self.blocks[block_id].ref_count = 1
        return block_id

    def release(self, block_ids: list[int]) -> None:
        """Drop one reference on each block; unheld blocks go back (cached ones stay cached).

        Released tail first, so the ends of prefixes are evicted before their beginnings."""
        for block_id in reversed(block_ids):
            block = self.blocks[block_id]
            if block.ref_count <= 0:
                raise RuntimeError(f"block {block_id} released more often than taken")
            block.ref_count -= 1
            if block.ref_count == 0:
                if block.hash is not None:
                    self._evictable[block_id] = None
                    self._evictable.move_to_end(block_id)
                else:
                    self._free.append(block_id)

    def _uncache(self, block: Block) -> None:
        if block.hash is not None:
            del self._cached[block.hash]
        block.hash, block.parent, block.tokens, block.kv = None, None, (), None

    def clear_cache(self) -> None:
        """Evict every unheld cached block."""
        while self._evictable:
            block_id, _ = self._evictable.popitem(last=False)
            self._uncache(self.blocks[block_id])
            self._free.append(block_id)
