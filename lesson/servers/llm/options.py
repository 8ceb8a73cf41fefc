"""`lesson serve llm`'s options (standard library: the launcher checks them before starting a server)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["LLMOptions", "ENGINE_LOOPS"]

#: where the engine's steps run: a worker thread ("thread") or the event loop ("loop")
ENGINE_LOOPS = ("thread", "loop")
IMPLS = ("auto", "numpy", "python", "ngram", "accelerator")


@dataclass(frozen=True)
class LLMOptions:
    """The generative server: its engine's shape, its bounds and where the engine steps.

    Bounds: a prompt over ``max_prompt_tokens`` or a ``max_tokens`` over ``max_tokens`` is a
    400; more than ``max_num_seqs + max_waiting`` sequences in flight is a 429.
    """

    model: str | None = None  # the served name (default: the model's own name)
    #: the model: "numpy" (the tiny transformer, lm_numpy), "python" (the same, pure Python),
    #: "ngram" (the byte n-gram stand-in), "auto" (numpy if its artifact is there, else ngram),
    #: "accelerator" (numpy on a SIMULATED accelerator's step cost: lesson.models.accelerator_lm),
    #: or "package.module:function" returning a LanguageModel (tests)
    impl: str = "auto"
    max_num_seqs: int = 8
    max_waiting: int = 32
    block_size: int = 16
    num_blocks: int = 256
    max_tokens_per_step: int = 512
    scheduling: str = "continuous"
    prefix_caching: bool = True
    max_prompt_tokens: int = 1024
    max_tokens: int = 512
    engine_loop: str = "loop"  # measured: lesson/servers/llm/__init__.py
    #: the interpreter's GIL switch interval in ms (None: Python's 5 ms); 0.5 helps "thread"
    gil_switch_ms: float | None = None
    drain_grace_s: float = 0.0
    warmup: bool = True
    max_body_bytes: int = 1 << 20
    #: OpenTelemetry traces, sampling this share of the requests (None: off, the SDK not loaded)
    trace_ratio: float | None = None
    #: ``GET /debug/spans`` (the traced requests' spans): the lessons' own servers only
    debug_routes: bool = False

    def __post_init__(self) -> None:
        if self.impl not in IMPLS and ":" not in self.impl:
            raise ValueError(
                f"impl must be one of {', '.join(IMPLS)} or 'module:function', got {self.impl!r}"
            )
        if self.engine_loop not in ENGINE_LOOPS:
            raise ValueError(f"engine_loop must be thread or loop, got {self.engine_loop!r}")
        if self.scheduling not in ("continuous", "static"):
            raise ValueError(f"scheduling must be continuous or static, got {self.scheduling!r}")
        for name in (
            "max_num_seqs",
            "block_size",
            "num_blocks",
            "max_tokens_per_step",
            "max_prompt_tokens",
            "max_tokens",
            "max_body_bytes",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.max_waiting, int) or self.max_waiting < 0:
            raise ValueError(f"max_waiting must be >= 0, got {self.max_waiting!r}")
        if self.gil_switch_ms is not None and not 0.01 <= self.gil_switch_ms <= 100:
            raise ValueError(f"gil_switch_ms must be in 0.01..100, got {self.gil_switch_ms!r}")
        if self.drain_grace_s < 0:
            raise ValueError("drain_grace_s must be >= 0")
        if self.trace_ratio is not None and not 0 <= self.trace_ratio <= 1:
            raise ValueError(f"trace_ratio must be in [0, 1], got {self.trace_ratio}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LLMOptions:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown llm server options: {', '.join(sorted(unknown))}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
