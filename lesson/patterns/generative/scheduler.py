"""Which sequences run in the next step, and how many tokens each: iteration-level scheduling.

Every step, in this order:

1. Running sequences keep going, oldest first: one token each for those decoding, then
   prefill chunks for those still reading their prompt, within the step's token budget. Each
   one's KV blocks grow to fit; when no block is left the most recently admitted running
   sequence is PREEMPTED: its blocks are freed, its cache dropped, and it goes back to the
   front of the queue, to be recomputed later (prefill of its prompt and the tokens it already
   generated). The oldest sequence therefore always progresses, so nothing starves.
2. Waiting requests are admitted, first come first served, while ``max_num_seqs``, the token
   budget and the free blocks allow. With prefix caching an admitted request first takes the
   cached blocks its prompt begins with and computes only the rest.

Static batching (``scheduling="static"``) admits only when nothing runs: a whole batch at once,
as many as fit with memory reserved for each one's longest answer, and runs it until the last
member ends. Standard library only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from lesson.core.generative import KVCache
from lesson.patterns.generative.blocks import BlockAllocator, blocks_for
from lesson.patterns.generative.config import EngineConfig
from lesson.patterns.generative.sequence import Sequence, Status

__all__ = ["Scheduler", "StepPlan"]


@dataclass
class StepPlan:
    """One step's work: (sequence, tokens to compute) pairs, and who came and went."""

    scheduled: list[tuple[Sequence, int]] = field(default_factory=list)
    admitted: list[Sequence] = field(default_factory=list)
    preempted: list[Sequence] = field(default_factory=list)

    @property
    def num_tokens(self) -> int:
        return sum(n for _, n in self.scheduled)


class Scheduler:
    """The waiting queue, the running set and the step plans (see the module docstring)."""

    def __init__(
        self,
        config: EngineConfig,
        allocator: BlockAllocator,
        new_cache: Callable[[], KVCache],
    ) -> None:
        self.config = config
        self.allocator = allocator
        self.new_cache = new_cache
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []  # in admission order, oldest first
        self.preemptions = 0
        self.prefix_hit_tokens = 0

    def add(self, seq: Sequence) -> None:
        self.waiting.append(seq)

    def remove(self, seq: Sequence) -> None:
        """Take a sequence out (finished or aborted) and free its blocks."""
        if seq.status is Status.RUNNING:
            self.running.remove(seq)
        elif seq.status is Status.WAITING:
            self.waiting.remove(seq)
        self._free(seq)
        seq.status = Status.FINISHED

    def _free(self, seq: Sequence) -> None:
        self.allocator.release(seq.block_ids)
        seq.block_ids, seq.block_hashes = [], []
        seq.cache, seq.num_computed = None, 0

    # -- the plan -------------------------------------------------------------------------

    def schedule(self) -> StepPlan:
        plan = StepPlan()
        budget = self.config.max_tokens_per_step
        decoding = [s for s in self.running if s.to_compute == 1]
        prefilling = [s for s in self.running if s.to_compute > 1]
        for seq in decoding + prefilling:
            if seq.status is not Status.RUNNING or budget == 0:
                continue  # preempted in this loop, or no budget left for a prefill chunk
            n = min(seq.to_compute, budget)
            budget += self._grow(seq, seq.num_computed + n, plan)
            if seq.status is Status.RUNNING:
                plan.scheduled.append((seq, n))
                budget -= n
        if self.config.scheduling == "static":
            if not self.running:
                self._admit_static(plan, budget)
        else:
            self._admit_continuous(plan, budget)
        return plan

    def _grow(self, seq: Sequence, positions: int, plan: StepPlan) -> int:
        """Give ``seq`` the blocks for ``positions``, preempting the newest running sequences
        if needed; returns the budget handed back by preempted, already scheduled ones."""
        refund = 0
        need = blocks_for(positions, self.allocator.block_size) - len(seq.block_ids)
        while need > self.allocator.available():
            victim = self.running[-1]
            for i, (scheduled, n) in enumerate(plan.scheduled):
                if scheduled is victim:
                    del plan.scheduled[i]
                    refund += n
                    break
            self.preempt(victim, plan)
            if victim is seq:
                return refund
        for _ in range(need):
            seq.block_ids.append(self.allocator.allocate())
        return refund

    def preempt(self, seq: Sequence, plan: StepPlan | None = None) -> None:
        """Free a running sequence's blocks and put it at the front of the queue."""
        self.running.remove(seq)
        self._free(seq)
        seq.status = Status.WAITING
        self.waiting.appendleft(seq)
        self.preemptions += 1
        seq.timeline.preemptions += 1
        if plan is not None:
            plan.preempted.append(seq)

    # -- admission ------------------------------------------------------------------------

    def _prefix_hits(self, seq: Sequence) -> list:
        # at least one token is always computed: its logits choose the next token
        size = self.allocator.block_size
        return self.allocator.lookup(seq.tokens, (len(seq.tokens) - 1) // size)

    def _unheld(self, hits: list) -> int:
        return sum(1 for block in hits if block.ref_count == 0)

    def _admit_continuous(self, plan: StepPlan, budget: int) -> None:
        size = self.allocator.block_size
        while self.waiting and len(self.running) < self.config.max_num_seqs and budget > 0:
            seq = self.waiting[0]
            hits = self._prefix_hits(seq)
            computed = len(hits) * size
            n = min(len(seq.tokens) - computed, budget)
            need = blocks_for(computed + n, size) - len(hits)
            if need > self.allocator.available() - self._unheld(hits):
                break  # first come, first served: nobody overtakes the head of the queue
            self._start(seq, hits, need, plan)
            if n:
                plan.scheduled.append((seq, n))
                budget -= n

    def _admit_static(self, plan: StepPlan, budget: int) -> None:
        size = self.allocator.block_size
        room = self.allocator.available()  # blocks this batch may ever take
        while self.waiting and len(self.running) < self.config.max_num_seqs:
            seq = self.waiting[0]
            hits = self._prefix_hits(seq)
            computed = len(hits) * size
            # reserve its longest answer; taking an unheld cached block uses up room too
            cost = blocks_for(seq.max_positions, size) - len(hits) + self._unheld(hits)
            if cost > room:
                break
            room -= cost
            n = min(len(seq.tokens) - computed, budget)
            self._start(seq, hits, blocks_for(computed + n, size) - len(hits), plan)
            if n:
                plan.scheduled.append((seq, n))
                budget -= n

    def _start(self, seq: Sequence, hits: list, need: int, plan: StepPlan) -> None:
        self.waiting.popleft()
        self.allocator.acquire(hits)
        seq.block_ids = [block.id for block in hits]
        seq.block_hashes = [block.hash for block in hits]
        if hits:
            seq.num_computed = len(hits) * self.allocator.block_size
            seq.cache = hits[-1].kv.copy_prefix(seq.num_computed)
            self.prefix_hit_tokens += seq.num_computed
            seq.timeline.prefix_hit_tokens += seq.num_computed
        else:
            seq.num_computed = 0
            seq.cache = self.new_cache()
        for _ in range(need):
            seq.block_ids.append(self.allocator.allocate())
        seq.status = Status.RUNNING
        self.running.append(seq)
        plan.admitted.append(seq)
