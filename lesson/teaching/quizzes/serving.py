"""Quiz content for notebooks 00-04: the patterns, REST, gRPC, batch and streaming (data only)."""

from __future__ import annotations

from lesson.teaching.quizzes.model import Option, Question, Quiz


def right(text: str, why: str) -> Option:
    """The correct option, with why it is right."""
    return Option(text, True, why)


def wrong(text: str, why: str) -> Option:
    """A wrong option, with why it is wrong."""
    return Option(text, False, why)


#: Written right answer first; shown in an order fixed by the question's id.
ask = Question.shuffled


OVERVIEW = Quiz(
    "00-overview",
    "Check yourself: the serving patterns",
    (
        ask(
            "p99-definition",
            "A load test reports p99 = 12 ms. What does that say?",
            (
                right(
                    "99 % of the requests took 12 ms or less; 1 % took longer",
                    "A percentile is a rank: the value 99 % of the samples are at or below.",
                ),
                wrong(
                    "The slowest 1 % of the requests took 12 ms on average",
                    "That is a tail mean. The p99 is a single rank in the distribution; the slowest 1 % "
                    "may be far above it (look at the max).",
                ),
                wrong(
                    "The server answers 99 requests per second in 12 ms",
                    "That mixes throughput (requests per second) with latency. p99 says nothing about rate.",
                ),
                wrong(
                    "12 ms is 99 % of the slowest request's latency",
                    "The max can be many times the p99; a percentile is not a fraction of the max.",
                ),
            ),
        ),
        ask(
            "same-answer",
            "The same row went in-process, over REST and over gRPC. What differs "
            "between the patterns?",
            (
                right(
                    "The transport and the timing, not the prediction",
                    "Every door calls one core (validate, predict, respond), so a model can move between "
                    "patterns safely; the tiny differences you saw come from numpy vs pure Python.",
                ),
                wrong(
                    "The accuracy: gRPC's binary tensors carry more precision than JSON",
                    "Both carry the full double; the lesson's answers agree to about 1e-6, and that "
                    "comes from the arithmetic library, not the transport.",
                ),
                wrong(
                    "The model: each pattern trains its own copy",
                    "There is one artifact, `diabetes-mlp`, loaded by every pattern.",
                ),
            ),
        ),
        ask(
            "transport-cost",
            "For the small diabetes MLP in local Jupyter, where does most of a REST "
            "request's latency go?",
            (
                right(
                    "HTTP, JSON and the network stack (and the client in the same kernel)",
                    "A small MLP does little arithmetic per row; parsing, HTTP and the network stack cost "
                    "far more. For a small model the transport *is* the latency.",
                ),
                wrong(
                    "The matrix multiplications of the network",
                    "Compare the in-process row with the REST row: same model, much faster without HTTP.",
                ),
                wrong(
                    "Loading the model from disk on every request",
                    "The server loads the artifact once at start-up and keeps it in memory.",
                ),
            ),
        ),
        ask(
            "pick-batch",
            "A nightly job must score 2 million accounts before 6 am; nobody waits for "
            "any single score. Which pattern fits?",
            (
                right(
                    "Batch",
                    "Throughput by a deadline: read in chunks, one model call per chunk, "
                    "write atomically. Fixed costs are paid once per chunk, not per row.",
                ),
                wrong(
                    "REST",
                    "It would work, but it pays a request, a connection and a JSON round trip per "
                    "row, two million times, for latency nobody needs.",
                ),
                wrong(
                    "Streaming",
                    "There is no event to react to as it happens; the job is a schedule, "
                    "not a stream.",
                ),
                wrong("Edge", "The accounts live in your data store, not on users' devices."),
            ),
        ),
    ),
)

REST = Quiz(
    "01-rest",
    "Check yourself: REST",
    (
        ask(
            "bool-feature",
            'A client sends `{"instances": [[59, true, 32.1, ...]]}`. What should the server do?',
            (
                right(
                    "Refuse it with a 422 that names `body.instances.0.1`",
                    "A boolean is not a measurement; refusing it, with the field named, turns a client "
                    "bug into an error the client can fix.",
                ),
                wrong(
                    "Treat `true` as 1, as Python does",
                    "Then a client bug becomes a confident wrong prediction that nobody notices.",
                ),
                wrong(
                    "Drop the bad value and predict from the rest",
                    "The model needs ten features in order; dropping one shifts every later feature.",
                ),
            ),
        ),
        ask(
            "rollout-order",
            "v2 of the contract adds an optional `request_id`. In which order do you roll it out?",
            (
                right(
                    "First every server and version a client may reach accepts it, then clients send it",
                    "A strict v1 answers 422 to the unknown field, so the readers must be ready before "
                    "any writer sends it.",
                ),
                wrong(
                    "Clients first: servers that do not know the field will ignore it",
                    "A strict contract refuses unknown fields (that is how it catches typos): the new "
                    "clients get 422 from every v1 route.",
                ),
                wrong(
                    "Both at the same moment",
                    "Clients release on their own schedule (last year's app is still out there); there "
                    "is no single moment.",
                ),
            ),
        ),
        ask(
            "tolerant-reader",
            "A server that ignores unknown fields answers 200 to a client sending "
            "`request_id`. What is the risk?",
            (
                right(
                    "The field was silently dropped; the client only finds out if it checks the echo",
                    "A tolerant reader hides contract drift: nothing fails, and nothing is done with the field.",
                ),
                wrong(
                    "None: a 200 means the server understood the whole body",
                    "A 200 means the server found what it needed; it says nothing about fields it skipped.",
                ),
                wrong(
                    "The server will crash on the next request",
                    "Ignoring a field is harmless to the server; the harm is the client's wrong belief.",
                ),
            ),
        ),
        ask(
            "concurrency-knee",
            "In a closed loop you raise concurrency well past the point where "
            "throughput stopped growing. What happens?",
            (
                right(
                    "Throughput stays flat and p99 climbs: the extra requests queue",
                    "Past the knee the server is busy all the time; more requests in flight only wait longer.",
                ),
                wrong(
                    "Throughput keeps growing with concurrency",
                    "Only while the server has idle capacity; after that it cannot answer faster.",
                ),
                wrong(
                    "p99 falls as the server warms up",
                    "Warm-up happens in the first requests; queueing dominates after the knee.",
                ),
            ),
        ),
    ),
)

GRPC = Quiz(
    "02-grpc",
    "Check yourself: gRPC",
    (
        ask(
            "channel-reuse",
            "How should a Python service call a gRPC model server for each of its "
            "incoming requests?",
            (
                right(
                    "Create one channel (and stub) at start-up and reuse it for every call",
                    "Unary calls multiplex as HTTP/2 streams over the channel's connection; a channel is "
                    "thread-safe and meant to be long-lived.",
                ),
                wrong(
                    "Open a new channel per call, so calls cannot interfere",
                    "Each new channel pays a TCP (and TLS) handshake and HTTP/2 set-up, which can cost "
                    "more than the prediction.",
                ),
                wrong(
                    "Open a new channel per thread, because channels are not thread-safe",
                    "grpcio channels are thread-safe; one shared channel is the normal design.",
                ),
            ),
        ),
        ask(
            "stream-saves",
            "Compared with unary calls on the same channel, what does `ModelStreamInfer` save?",
            (
                right(
                    "Per-call stream set-up and its HEADERS frames and trailers",
                    "Requests flow on one long-lived stream; each message skips the per-call framing.",
                ),
                wrong(
                    "A TCP connection per call",
                    "Unary calls already share one HTTP/2 connection; no connection is opened per call.",
                ),
                wrong(
                    "The protobuf encoding of each request",
                    "Every message on the stream is still a `ModelInferRequest`, encoded the same way.",
                ),
            ),
        ),
        ask(
            "grpc-faster",
            '"gRPC is always faster than REST." What does this notebook\'s measurement suggest?',
            (
                right(
                    "It depends on the implementations and payload; for a tiny model in Python, per-call "
                    "costs decide, and gRPC can be slower",
                    "grpcio's per-call work in Python, the V1-to-V2 conversion and a client sharing the "
                    "kernel can outweigh a binary encoding. Measure your own stack.",
                ),
                wrong(
                    "True: binary encoding always wins",
                    "Encoding is one cost among several, and for ten numbers a small one.",
                ),
                wrong(
                    "False: HTTP/2 is always slower than HTTP/1.1",
                    "HTTP/2's framing is efficient; what you measured is the whole client and server stack.",
                ),
            ),
        ),
        ask(
            "fp64-bytes",
            "How many bytes do the values of a 10-feature FP64 row take in `raw_input_contents`?",
            (
                right("80", "8 bytes per FP64 value, little-endian, whatever the digits."),
                wrong(
                    "It depends on how many digits each value has",
                    "That is JSON, which spends a byte per character; a binary tensor has a fixed width.",
                ),
                wrong("40", "That is FP32: 4 bytes per value."),
            ),
        ),
        ask(
            "grpc-status",
            "A request with 9 features instead of 10 reaches the gRPC server. Which "
            "status comes back?",
            (
                right(
                    "INVALID_ARGUMENT",
                    "The request is malformed; the client must fix it (the message names the field).",
                ),
                wrong("NOT_FOUND", "That is for an unknown model or version."),
                wrong(
                    "RESOURCE_EXHAUSTED",
                    "That is for an oversized request or an overloaded server.",
                ),
                wrong("INTERNAL", "That says the server broke, which hides the client's mistake."),
            ),
        ),
    ),
)

BATCH = Quiz(
    "03-batch",
    "Check yourself: batch and dynamic batching",
    (
        ask(
            "tiny-model-batching",
            "You put a micro-batcher in front of a model whose cost is all per row: "
            "a call of 32 rows takes 32 times as long as a call of one. What should you expect?",
            (
                right(
                    "Little or no gain, possibly lower throughput",
                    "Batching pays where one call of many rows costs much less than many calls of one row "
                    "(a fixed cost per call, weights reused across rows, idle parallel units). With no such "
                    "saving, batching only adds queueing and a hand-off between tasks: notebook 03's "
                    "per-row simulation shows p99 rising. (The numpy MLP on notebook 03's page is not such "
                    "a model: part of each call's cost is fixed, and its measured rows/s rose with batch "
                    "size.) Measure before you enable it.",
                ),
                wrong(
                    "Throughput grows with `max_batch_size`",
                    "Only where one call of many rows costs much less than many calls of one row, as on "
                    "the simulated accelerator (2 ms per call).",
                ),
                wrong(
                    "Lower latency at low load",
                    "At low load there is no queue for a batch to drain, and a request may wait up to "
                    "`max_delay_ms` for company.",
                ),
            ),
        ),
        ask(
            "delay-tax",
            "At 5 requests per second, `max_delay_ms=10` and `max_batch_size=32`. What does "
            "a typical request see?",
            (
                right(
                    "Up to about 10 ms of extra waiting, in a batch of one",
                    "The first request waits for company that rarely comes; pick `max_delay_ms` from your p99 "
                    "objective, not from peak throughput.",
                ),
                wrong(
                    "No wait: a batch leaves as soon as it is full",
                    "At 5 req/s a batch of 32 never fills; the delay bound is what sends it.",
                ),
                wrong("A batch of 32 rows", "There are not 32 requests within 10 ms at that rate."),
            ),
        ),
        ask(
            "batch-bound",
            "32 clients in a closed loop call a batcher with `max_batch_size=64`. "
            "What is the largest batch it can form?",
            (
                right(
                    "32",
                    "A batch can never be larger than the number of requests in flight, and a "
                    "closed loop of 32 keeps at most 32 in flight.",
                ),
                wrong("64", "The bound is an upper limit; the requests to fill it do not exist."),
                wrong(
                    "Unbounded, as requests accumulate",
                    "Each client waits for its answer before sending again; nothing accumulates.",
                ),
            ),
        ),
        ask(
            "repeated-id",
            "Why does `score_file` send a row whose `id` repeats an earlier row's to the rejects?",
            (
                right(
                    "A prediction must join back to exactly one input row",
                    "Two rows with one key make the join ambiguous; the first is scored, the repeat is "
                    "rejected with the reason.",
                ),
                wrong(
                    "To save the time of scoring it twice",
                    "Scoring is cheap; the problem is which row the output belongs to.",
                ),
                wrong(
                    "Because Dask cannot process duplicate keys",
                    "Both engines apply the same check, in file order, on the reading side.",
                ),
            ),
        ),
    ),
)

STREAMING = Quiz(
    "04-streaming",
    "Check yourself: streaming on a log",
    (
        ask(
            "crash-after-write",
            "A consumer writes a result, then crashes before `XACK`. What happens to that event?",
            (
                right(
                    "It stays pending, a sibling claims and processes it again, and the idempotent sink "
                    "keeps one result",
                    "Delivery is at least once; `HSETNX` on the event id turns the redelivery into a "
                    "no-op, so the *effect* is exactly once.",
                ),
                wrong(
                    "It is lost",
                    "That happens when the ack comes *before* the write; after the write the entry "
                    "stays pending until someone finishes it.",
                ),
                wrong(
                    "Nothing: the broker delivers each entry exactly once",
                    "No broker can know whether a crashed consumer finished; it redelivers, so "
                    "exactly-once is a property of the sink.",
                ),
            ),
        ),
        ask(
            "ack-order",
            "Why acknowledge after the durable write, not before?",
            (
                right(
                    "Ack first and a crash loses the event; ack after and the worst case is a duplicate "
                    "that the sink absorbs",
                    "A duplicate is repairable (idempotent sink), a loss is not.",
                ),
                wrong(
                    "Acking later is faster",
                    "It is the same work in another order; the reason is what a crash leaves behind.",
                ),
                wrong(
                    "It makes no difference with consumer groups",
                    "The group tracks acks: an acked entry is never redelivered, whether or not it was written.",
                ),
            ),
        ),
        ask(
            "key-order",
            "Two consumers of one group read the same partition. Events e1 then e2 share "
            "key k. What is guaranteed about the order of their results?",
            (
                right(
                    "Nothing: the faster consumer can write e2 before e1",
                    "Keep per-key order by partitioning by key with one consumer per partition.",
                ),
                wrong(
                    "e1 first, because the stream is ordered",
                    "The stream is; two consumers racing through it are not.",
                ),
                wrong(
                    "e1 first, because Redis serialises all writes",
                    "Redis runs each command in order of arrival, and e2's result can arrive first.",
                ),
            ),
        ),
        ask(
            "poison-event",
            "One event has a malformed payload. What should the consumer do?",
            (
                right(
                    "Write it to the dead letters with the reason, acknowledge it, and go on",
                    "One bad event must not stop the stream; the dead letter keeps it for inspection.",
                ),
                wrong(
                    "Stop the stream until someone fixes it",
                    "A poison event then blocks every good event behind it.",
                ),
                wrong(
                    "Leave it unacknowledged so it is retried",
                    "It fails the same way every time and keeps coming back.",
                ),
            ),
        ),
        ask(
            "log-backlog",
            "Producers append faster than the consumer group can score. With a log "
            "(not an in-process bounded queue), what grows?",
            (
                right(
                    "The group's lag, until entries older than the retention bound are trimmed",
                    "The producer does not wait (unless it chooses to, as `--max-lag` does); the broker "
                    "absorbs the backlog, and lag is what you watch.",
                ),
                wrong(
                    "The producer's waiting time",
                    "That is backpressure from a bounded in-process queue; a log decouples the two.",
                ),
                wrong(
                    "The consumers' memory",
                    "Consumers read bounded batches; the backlog lives in the broker.",
                ),
            ),
        ),
    ),
)

QUIZZES = (OVERVIEW, REST, GRPC, BATCH, STREAMING)
