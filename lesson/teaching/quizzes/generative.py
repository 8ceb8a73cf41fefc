"""Quiz content for notebook 10: generative serving (data only)."""

from __future__ import annotations

from lesson.teaching.quizzes.model import Quiz
from lesson.teaching.quizzes.serving import ask, right, wrong

GENERATIVE = Quiz(
    "10-generative",
    "Check yourself: generative serving",
    (
        ask(
            "ttft-vs-tpot",
            "A chat user complains that the answer takes long to *start*; once it starts it "
            "streams smoothly. Which figure describes the complaint?",
            (
                right(
                    "TTFT, the time to first token",
                    "It counts from the send to the first token: queueing plus the prompt's "
                    "prefill. TPOT and ITL describe the stream after that.",
                ),
                wrong(
                    "TPOT, the time per output token",
                    "TPOT is the mean gap after the first token, which the user says is fine.",
                ),
                wrong(
                    "E2EL, the end-to-end latency",
                    "E2EL includes the whole answer; a long answer has a long E2EL even when it "
                    "starts at once.",
                ),
            ),
        ),
        ask(
            "continuous-batching",
            "Why does continuous (iteration-level) batching give short requests a lower TTFT "
            "than static batching when answer lengths are mixed?",
            (
                right(
                    "A finished request frees its slot at the end of a step, and a waiting one "
                    "joins at the next step",
                    "Static batching keeps the batch until its longest member ends, so the queue "
                    "waits behind one long answer; the notebook counts the steps of both.",
                ),
                wrong(
                    "Each step of continuous batching is faster",
                    "A step computes the same kind of work either way; what changes is who may join "
                    "the batch and when.",
                ),
                wrong(
                    "Continuous batching runs requests in parallel threads",
                    "Both run one model call per step over the whole batch, on one thread here.",
                ),
            ),
        ),
        ask(
            "kv-blocks",
            "The engine has few KV blocks and many long answers in flight. What happens when a "
            "running request needs a new block and none is free?",
            (
                right(
                    "A request is preempted: its blocks are freed and it is recomputed later",
                    "The engine counts preemptions; the recomputation is why more steps and more "
                    "prefill tokens appear in the notebook's table when blocks are scarce.",
                ),
                wrong(
                    "The request fails with an out-of-memory error",
                    "A request that could never fit is refused up front (a context-length error); "
                    "one that fits alone waits or is preempted instead.",
                ),
                wrong(
                    "The model continues without storing keys and values",
                    "Every later token attends to all earlier positions; without their keys and "
                    "values it could not be computed.",
                ),
            ),
        ),
        ask(
            "prefix-cache",
            "Two requests share a long system prompt. What does the prefix cache save the second "
            "one?",
            (
                right(
                    "The prefill of the shared full blocks: their keys and values are reused",
                    "Only whole blocks of identical tokens from the start are shared; the notebook "
                    "prints prefix_hit_tokens and the prefill tokens saved.",
                ),
                wrong(
                    "The whole answer, returned from a cache",
                    "It caches keys and values of the prompt, not answers; sampling still runs.",
                ),
                wrong(
                    "Every decode step",
                    "Decoding still computes one token per step; only the prompt's shared part is "
                    "skipped.",
                ),
            ),
        ),
    ),
)

QUIZZES = (GENERATIVE,)
