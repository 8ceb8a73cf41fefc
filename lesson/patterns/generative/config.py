"""The engine's knobs, checked once."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EngineConfig"]

SCHEDULING = ("continuous", "static")


@dataclass(frozen=True)
class EngineConfig:
    """How the engine schedules and how much KV memory it has.

    - ``scheduling``: ``"continuous"`` (iteration-level: requests join and leave at every
      step) or ``"static"`` (a batch is admitted together and runs until its longest member
      ends; nothing joins meanwhile), for comparison.
    - ``max_num_seqs``: sequences running at once.
    - ``max_tokens_per_step``: the token budget of one step (prefill tokens plus one per
      decoding sequence); a long prompt is prefilled in chunks. At least ``max_num_seqs``, so
      every running sequence can always decode.
    - ``block_size``, ``num_blocks``: the KV memory, in blocks of positions.
    - ``prefix_caching``: reuse the KV blocks of prompts' shared beginnings.
    - ``keep_finished``: timelines of finished requests kept for :meth:`Engine.timeline`.
    """

    max_num_seqs: int = 8
    max_tokens_per_step: int = 256
    block_size: int = 16
    num_blocks: int = 128
    prefix_caching: bool = True
    scheduling: str = "continuous"
    keep_finished: int = 1000

    def __post_init__(self) -> None:
        for name in ("max_num_seqs", "max_tokens_per_step", "block_size", "num_blocks"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"EngineConfig.{name} must be a positive integer, got {value!r}")
        if self.keep_finished < 0:
            raise ValueError(f"EngineConfig.keep_finished must be >= 0, got {self.keep_finished}")
        if self.max_tokens_per_step < self.max_num_seqs:
            raise ValueError(
                f"EngineConfig.max_tokens_per_step ({self.max_tokens_per_step}) must be at least "
                f"max_num_seqs ({self.max_num_seqs}): every running sequence decodes each step"
            )
        if self.scheduling not in SCHEDULING:
            raise ValueError(
                f"EngineConfig.scheduling must be one of {SCHEDULING}, got {self.scheduling!r}"
            )

    @property
    def kv_capacity(self) -> int:
        """Positions the KV memory holds."""
        return self.block_size * self.num_blocks
