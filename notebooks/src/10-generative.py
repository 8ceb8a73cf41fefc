# %% [markdown]
# # 10 · Generative serving: tokens, streamed
#
# A language model does not answer in one piece. It produces one token at a time, each token
# one more pass through the model that reads every position before it, so a server streams the
# tokens as they come and the questions change: how long until the first token, how fast the
# rest flow, and how many conversations one model can carry at once. In this notebook you will
#
# 1. stream an answer token by token from a tiny language model trained on Python's own
#    documentation, and read how good the model is from its manifest;
# 2. read TTFT, ITL and TPOT off one request's timeline: queued, prefill, each decode step;
# 3. compare static and continuous (iteration-level) batching on the same requests;
# 4. see KV-cache memory bound concurrency: too few blocks and requests are preempted;
# 5. watch a prefix cache skip the prefill of a shared system prompt;
# 6. load-test the OpenAI-compatible server with the stream harness (in local Jupyter);
# 7. trace two streamed requests and see where the slow one's first token waited.
#
# The first cell sets the lab up. The engine of this notebook runs **in this kernel** in both
# worlds: in JupyterLite (your browser) there are no sockets and no threads, so the engine
# steps on asyncio in the page, with the pure-Python model. In local Jupyter a later cell also
# starts the real server, `lesson serve llm`, and talks to it over HTTP.

# %%
import lesson
from lesson.lab import setup

lab = setup(servers=())  # in-process: the generative server is started below (CPython only)

# %% [markdown]
# ## A stream, token by token
#
# The model is `tiny-lm`: a byte-level decoder-only transformer (every UTF-8 byte is a token,
# plus one end-of-text token) trained on the help topics of `pydoc_data`, which ships with
# Python. Its artifact is checksummed like the MLP's; the manifest records its size and its
# loss on held-out topics it never saw, beside a baseline that only knows how frequent each
# byte is (the unigram model). Loss is in nats per token: lower is better.

# %%
import time

from lesson.core.artifacts import load_artifact
from lesson.models.lm import demo_samples, load_tiny_lm

artifact = load_artifact("tiny-lm")
manifest = artifact.manifest
metrics = manifest["metrics"]
started = time.perf_counter()
model = load_tiny_lm(artifact)  # pure Python (standard library only): it runs in the browser
print(f"loaded {model!r} in {time.perf_counter() - started:.2f} s")
print(f"{manifest['n_params']:,} parameters; {manifest['description']}")
loss, unigram = (
    metrics["heldout_loss_nats_per_token"],
    metrics["unigram_heldout_loss_nats_per_token"],
)
print(
    f"held-out loss {loss:.3f} nats/token vs {unigram:.3f} for the unigram baseline: "
    f"perplexity {2.718281828 ** loss:.1f} vs {2.718281828 ** unigram:.1f} "
    f"({metrics['heldout_tokens']:,} held-out tokens)"
)

# %% [markdown]
# A model this small writes Python-documentation-flavoured text, not facts. Two prompts, the
# greedy continuation (always the likeliest byte) and a seeded sample (temperature 0.7 from the
# 20 likeliest bytes); 24 bytes each, to keep the cell short in the browser:

# %%
started = time.perf_counter()
for sample in demo_samples(model, max_new_tokens=24):
    print(f"{sample['prompt']!r}\n   greedy:  {sample['greedy']!r}\n   sampled: {sample['sampled']!r}")
print(f"({time.perf_counter() - started:.1f} s for 96 tokens in pure Python)")

# %% [markdown]
# Now the serving shape. The engine (`lesson.patterns.generative`) queues requests and runs
# **one model call per step** over all of them; `AsyncEngine` steps it on asyncio and hands
# each request its tokens as a stream: `async for event in aengine.generate(...)`. The cell
# prints each byte as it arrives, then when the first and the last arrived.

# %%
from lesson.patterns.generative import AsyncEngine, Engine, EngineConfig, SamplingParams

aengine = AsyncEngine(Engine(model, EngineConfig(block_size=16, num_blocks=64)))
prompt = "The for statement "
params = SamplingParams(max_tokens=24, temperature=0.7, seed=1)
sent = time.perf_counter()
arrivals, pieces = [], []
print(prompt, end="", flush=True)
async for event in aengine.generate(model.encode(prompt), params):
    arrivals.append(time.perf_counter())
    piece = model.decode([event.token_id])
    pieces.append(piece)
    print(piece, end="", flush=True)
await aengine.aclose()
print(
    f"\n\n{len(arrivals)} tokens in-process: first after {(arrivals[0] - sent) * 1000:.0f} ms, "
    f"last after {(arrivals[-1] - sent) * 1000:.0f} ms"
)

# %% [markdown]
# In local Jupyter the same engine also runs behind a real server: `lesson serve llm`, an
# OpenAI-compatible API (`POST /v1/completions`, `/v1/chat/completions`) whose answer, with
# `"stream": true`, is Server-Sent Events: one `data: {...}` line per token, then
# `data: [DONE]`. The server runs the numpy twin of the model (same weights, same logits).
# In the browser there is no server to call, so the cell says so and moves on.

# %%
import json

if lab.in_browser:
    print("In the browser: no sockets, so no server; the in-process stream above is the demo.")
else:
    import aiohttp

    # trace_ratio=0: traces only requests whose traceparent says "sampled" (a later cell's)
    llm_slots = 8  # sequences the engine runs at once
    llm = lab.start_llm_server(impl="numpy", max_num_seqs=llm_slots, trace_ratio=0.0, debug_routes=True)
    body = {"prompt": prompt, "max_tokens": 24, "stream": True, "temperature": 0.7, "seed": 1}
    print(f"POST {llm.url}/v1/completions  (the real server, over loopback)\n")
    sent, first, lines = time.perf_counter(), None, 0
    async with aiohttp.ClientSession() as session:
        async with session.post(llm.url + "/v1/completions", json=body) as response:
            print(prompt, end="", flush=True)
            async for raw in response.content:
                line = raw.decode().strip()
                if not line.startswith("data:"):
                    continue
                lines += 1
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                first = first or time.perf_counter()
                print(json.loads(data)["choices"][0]["text"], end="", flush=True)
    print(
        f"\n\n{lines} SSE events; first token after {(first - sent) * 1000:.1f} ms, "
        f"[DONE] after {(time.perf_counter() - sent) * 1000:.1f} ms"
    )

# %% [markdown]
# ## One request's timeline: TTFT, ITL, TPOT
#
# A streamed answer needs more than one latency (the definitions are vLLM's):
#
# - **TTFT**, time to first token: from the send to the first token. Queueing plus the
#   **prefill**, the model's pass over the whole prompt.
# - **ITL**, inter-token latency: each gap between two successive tokens (one **decode** step).
# - **TPOT**, time per output token: the mean gap after the first, `(E2EL - TTFT) / (n - 1)`.
# - **E2EL**, end-to-end latency: from the send to the last token.
#
# Four requests arrive together at an engine that runs at most two at once. Each bar below
# is one thing that happened to one request, measured on this kernel's clock: `queued` until
# the engine admitted it, `prefill` until its first token, then one `decode` bar per step.
# Watch the steps line up across requests: a step is one model call over every running request
# (the schedule is per iteration), and the third request starts the step after a slot frees.

# %%
from lesson.teaching.generative import longest_gap, run_requests, timeline_rows, timing_of
from lesson.widgets.charts import display_chart, timeline_chart

requests = [
    ("The if statement ", 6),
    ("A list ", 3),
    ("Exceptions are ", 4),
    ("The while loop ", 3),
]
run = run_requests(model, requests, EngineConfig(max_num_seqs=2, block_size=16, num_blocks=32))
timelines = run.timelines()
origin = min(t.queued_at for t in timelines)
display_chart(
    timeline_chart(
        timeline_rows(timelines, origin=origin),
        title="Four requests, two slots: tiny-lm in pure Python (measured)",
        x_title="ms since the requests arrived",
    )
)
print(f"{'request':<8}{'prompt':>7}{'output':>7}{'TTFT ms':>9}{'TPOT ms':>9}   ITL ms (each gap)")
for t in timelines:
    timing = timing_of(t)
    itl = " ".join(f"{gap * 1000:.0f}" for gap in timing.itl)
    tpot = f"{timing.tpot * 1000:.0f}" if timing.tpot is not None else "-"
    print(
        f"{t.request_id:<8}{t.prompt_tokens:>7}{len(t.token_times):>7}"
        f"{timing.ttft * 1000:>9.0f}{tpot:>9}   {itl}"
    )
print(f"{run.stats.steps} steps (model calls) for {run.stats.tokens_generated} tokens")
print(longest_gap(timelines))

# %% [markdown]
# The requests admitted later have a TTFT that includes their wait in the queue, although
# their own prefill costs the same. The last line names the run's longest decode gap and says
# whether another request's prefill ran in the same step: a step is one model call, so a newly
# admitted request's whole prompt and the running requests' next tokens are computed together.

# %% [markdown]
# ## Static vs continuous batching
#
# A batching server for ordinary models (notebook 07) waits for a batch, runs it, returns it.
# Done that way for generation (**static** batching), a batch runs until its *longest* answer
# ends, and the queue waits behind it although most slots are idle. **Continuous** batching
# (iteration-level scheduling, vLLM's and Orca's) lets a finished request leave and a waiting
# one join at every step.
#
# Eight requests, four slots, short and long answers mixed (the cell prints how many of each).
# This cell runs many tokens, so
# it uses the **n-gram stand-in** (a byte trigram model of Python's documentation, same
# `LanguageModel` interface, far cheaper per token), and a **virtual clock**: each step costs a
# fixed time plus a little per token it computes (the cell prints both), the shape of an
# accelerator, where a step over four sequences costs barely more than over one. Steps are
# counted by the engine, not modelled.

# %%
from lesson.loadtest.streams import SLO
from lesson.teaching.generative import StepCostClock, mixed_requests, stand_in_model

ngram, corpus = stand_in_model()  # the stand-in: fast, so the cell can afford many tokens
print(f"the n-gram stand-in, trained on {corpus}")
mixed = mixed_requests(8, short=4, long=48)
lengths = [n for _, n in mixed]
print(f"{len(mixed)} requests: {lengths.count(4)} answers of 4 tokens, {lengths.count(48)} of 48")
slo = SLO(ttft=0.050)  # goodput: requests whose first token came within 50 ms (virtual)
cost = StepCostClock()
print(
    f"virtual clock: a step costs {cost.fixed_s * 1000:g} ms + {cost.per_token_s * 1000:g} ms "
    "per token it computes\n"
)
modes = {}
for scheduling in ("static", "continuous"):
    config = EngineConfig(max_num_seqs=4, scheduling=scheduling)
    modes[scheduling] = run_requests(ngram, mixed, config, virtual=True)
print(f"{'':<11}{'steps':>6}{'TTFT mean':>11}{'TTFT p90':>10}{'E2EL max':>10}{'goodput':>16}")
summaries = {}
for scheduling, mode_run in modes.items():
    s = summaries[scheduling] = mode_run.summary(slo)
    print(
        f"{scheduling:<11}{mode_run.stats.steps:>6}{s.ttft.mean * 1000:>9.1f}ms"
        f"{s.ttft.p90 * 1000:>8.1f}ms{s.e2el.max * 1000:>8.1f}ms"
        f"{s.goodput:>9.1f} req/s ({s.good}/{s.completed} met TTFT <= 50 ms)"
    )
wall = sum(r.wall_s for r in modes.values())
made = sum(r.stats.tokens_generated for r in modes.values())
print(f"\n(measured: the n-gram stand-in made these {made} tokens in {wall * 1000:.0f} ms here)")
# one x axis for both charts, so their lengths compare: up to the later of the two last tokens
last_ms = max(t.token_times[-1] for r in modes.values() for t in r.timelines()) * 1000
for scheduling, mode_run in modes.items():
    display_chart(
        timeline_chart(
            timeline_rows(mode_run.timelines(), origin=0.0),
            title=f"{scheduling} batching: 8 requests, 4 slots (virtual clock)",
            x_title="virtual ms",
            x_domain=(0, last_ms),
        )
    )

# %%
from lesson.teaching.verdicts import ratio

static, continuous = summaries["static"], summaries["continuous"]
steps_s, steps_c = modes["static"].stats.steps, modes["continuous"].stats.steps
fewer = "fewer" if steps_c < steps_s else "more" if steps_c > steps_s else "as many"
ttft_ratio = ratio(static.ttft.mean, continuous.ttft.mean, tick_s=1e-6)
print(
    f"Continuous batching took {steps_c} steps where static took {steps_s} ({fewer}), "
    f"for the same {modes['static'].stats.tokens_generated} tokens."
)
if ttft_ratio is not None and ttft_ratio != 1:
    side = "lower" if ttft_ratio > 1 else "higher"
    why = (
        ": a waiting request joined as soon as a short one finished, not after the longest"
        if ttft_ratio > 1
        else ""
    )
    print(
        f"Its mean TTFT was {side}: {continuous.ttft.mean * 1000:.1f} ms vs "
        f"{static.ttft.mean * 1000:.1f} ms ({max(ttft_ratio, 1 / ttft_ratio):.1f}x){why}."
    )
print(
    f"Goodput (TTFT <= 50 ms): {continuous.goodput:.1f} req/s continuous vs "
    f"{static.goodput:.1f} req/s static ({continuous.good} vs {static.good} of 8 requests)."
)

# %% [markdown]
# ## KV blocks bound concurrency
#
# Every position a request has fed to the model keeps its keys and values (the **KV cache**)
# so later tokens can attend to it. The engine stores them in fixed-size **blocks** (paged, as
# vLLM's PagedAttention): a request takes blocks as it grows and frees them when it ends. When
# a running request needs a block and none is free, the engine **preempts** the latest one:
# frees its blocks and recomputes it later. Four identical requests (17 prompt tokens, 24
# generated, blocks of 4 positions: up to 10 blocks each), with fewer and fewer blocks:

# %%
rows = []
for num_blocks in (64, 24, 12):
    config = EngineConfig(max_num_seqs=4, block_size=4, num_blocks=num_blocks, prefix_caching=False)
    kv_run = run_requests(ngram, [("The if statement ", 24)] * 4, config, virtual=True)
    s = kv_run.summary()
    rows.append((num_blocks, kv_run.stats.preemptions, kv_run.stats.steps, kv_run.prefill_tokens, s.e2el.max))
print(f"{'blocks':>7}{'preemptions':>13}{'steps':>7}{'prefill tokens':>16}{'E2EL max (virtual)':>21}")
for num_blocks, preemptions, steps, prefill, e2el in rows:
    print(f"{num_blocks:>7}{preemptions:>13}{steps:>7}{prefill:>16}{e2el * 1000:>18.1f} ms")
(ample, *_, scarce) = rows
if scarce[1] > ample[1]:
    print(
        f"\nWith {scarce[0]} blocks instead of {ample[0]}: {scarce[1]} preemptions, "
        f"{scarce[3] - ample[3]} tokens computed again, {scarce[2] - ample[2]} more steps: "
        "KV memory, not the slots (max_num_seqs=4 in every run), capped how many ran at once."
    )
else:
    print(f"\nNo more preemptions with {scarce[0]} blocks than with {ample[0]}: memory was not the bound.")

# %% [markdown]
# ## A prefix cache hit
#
# Chat requests often begin with the same system prompt. With **prefix caching** the engine
# hashes each full block of a prompt (chained with the blocks before it) and, when a new request
# starts with the same blocks, reuses their keys and values instead of computing them. Two
# requests share a 32-byte system prompt (two blocks of 16), the second after the first ended;
# this runs the real tiny-lm, measured, with the cache on and off:

# %%
system = "You answer questions on Python. "
assert len(model.encode(system)) == 32
questions = [system + "What is a list?", system + "What is a dict?"]
prefix = {}
for caching in (True, False):
    engine = Engine(model, EngineConfig(block_size=16, num_blocks=32, prefix_caching=caching))
    prefill, ttfts = 0, []
    for question in questions:
        rid = engine.add_request(model.encode(question), SamplingParams(max_tokens=2, temperature=0))
        while engine.has_work():
            engine.step()
            prefill += engine.last_step.prefill_tokens
        ttfts.append(engine.timeline(rid).time_to_first_token)
    prefix[caching] = (engine.stats().prefix_hit_tokens, prefill, ttfts[1])
for caching, (hits, prefill, ttft) in prefix.items():
    label = "cache on " if caching else "cache off"
    print(f"{label}: prefix_hit_tokens {hits:>3}, prefill tokens computed {prefill:>3}, "
          f"second request's TTFT {ttft * 1000:.0f} ms")
(hits, on_prefill, on_ttft), (_, off_prefill, off_ttft) = prefix[True], prefix[False]
print(
    f"\nThe second request took {hits} prompt positions from the cache: "
    f"{off_prefill - on_prefill} fewer prefill tokens, and its TTFT went from "
    f"{off_ttft * 1000:.0f} ms to {on_ttft * 1000:.0f} ms here."
)

# %% [markdown]
# ## The stream harness against the real server (local Jupyter)
#
# `lesson loadtest-llm` (here `run_streams`, its function) sends streamed requests to the
# OpenAI-compatible server and timestamps every token chunk as it arrives; TTFT, ITL, TPOT,
# E2EL, throughput and goodput come from those timestamps (`lesson.loadtest.streams`, the same
# definitions as the exercise below). A closed loop: 4 workers, 32 requests of 32 tokens,
# at most 20 seconds. It needs sockets, so in the browser the cell only says so.

# %%
if "llm" in lab.servers:
    from lesson.loadtest.llm_wire import make_prompts, run_streams
    from lesson.loadtest.streams import format_table

    summary = await run_streams(
        lab.servers["llm"].url,
        prompts=make_prompts(32, 48),
        max_tokens=32,
        concurrency=4,
        max_requests=32,
        max_duration=20.0,
        slo=SLO(ttft=0.2, tpot=0.05),
        extra={"ignore_eos": True},
    )
    print(format_table(summary))
else:
    local = run.summary()  # the four requests of the timeline above, on this kernel's clock
    print(f"In the browser: no sockets, so no server to load-test. In its place, the {local.completed} "
          "requests of the timeline above, summarised by the same code (lesson.loadtest.streams): "
          "in-process, no HTTP, measured.")
    for name, d in (("TTFT", local.ttft), ("TPOT", local.tpot), ("ITL", local.itl)):
        print(f"  {name:<5} median {d.median * 1000:6.0f} ms   max {d.max * 1000:6.0f} ms")

# %% [markdown]
# ## Where the first token waits: two traces
#
# The TTFT percentiles above say *how many* first tokens were late; a trace says where one late
# first token spent its time. The server runs with `--trace-ratio` (OpenTelemetry, off by
# default): each sampled request gets a server span, child of the client's span through the W3C
# `traceparent` header, and under it three phases read from the engine's own timeline:
# `queued` (waiting for a slot), `prefill` (the prompt's pass, until the first token is
# sampled) and `decode` (one span for the rest, its token count an attribute). More streams at
# once than the engine has slots; the request with the p99 time to first token is drawn beside
# a p50 one (with fewer than 100 requests the p99 is simply the slowest, and the chart says
# "slowest" and "median"), a tick on each row at the moment its first token reached the client.
# Traces need the local server (sockets, OpenTelemetry): in the browser the cell draws the same
# phases from the engine in this kernel instead, and says so.

# %%
from lesson.loadtest.llm_wire import make_prompts
from lesson.teaching.llm_traces import in_process_streams, traced_streams
from lesson.widgets.charts import display_chart, timeline_chart

if "llm" in lab.servers:
    at_once = llm_slots + 4  # more streams at once than the engine has slots: some wait
    streams = await traced_streams(lab.servers["llm"].url, make_prompts(40, 48), concurrency=at_once, max_tokens=16)
    title = f"Two of {streams.requests} streams ({at_once} at once, {llm_slots} slots)"
    where = "measured now, over HTTP on this machine"
else:
    print("Traces need the local server (OpenTelemetry, sockets): not in the browser. Below, the same "
          "phases from the engine in this kernel, read from its timelines: no server, no OpenTelemetry.")
    slots = 2
    streams = in_process_streams(model, make_prompts(8, 12), max_num_seqs=slots, max_tokens=4)
    title = f"Two of {streams.requests} requests ({slots} slots)"
    where = "measured now in-process, pure Python"
chart = timeline_chart(streams.rows(), title={"text": title, "subtitle": where},
                       x_title="ms from the request's start", markers=streams.markers())
display_chart(chart)
print(streams.sentence())

# %% [markdown]
# ## What to notice
#
# - A generative answer has two latencies that matter to a user: how soon it starts (TTFT:
#   queueing plus prefill) and how fast it flows (TPOT, ITL: one decode step each).
# - One model call per step serves every running request; continuous batching refills slots at
#   every step, so short requests do not wait for long ones.
# - KV memory bounds how many requests run at once; too little of it shows up as preemptions
#   and recomputed tokens, not as errors.
# - A shared prompt prefix is computed once; later requests start from its cached blocks.
# - A percentile says how many first tokens were late; a trace says where one late first token
#   waited (for a slot, in its prefill, or outside the engine), which the histogram cannot.
# - The virtual-clock figures above are a model of an accelerator's step cost, labelled as such;
#   step counts, preemptions and cache hits are counted by the real engine.

# %% [markdown]
# ## Check yourself

# %%
from lesson.teaching.quizzes import quiz_for
from lesson.widgets.quiz import show_quiz

show_quiz(quiz_for("10-generative"))

# %% [markdown]
# ## Exercises
#
# **1. Time a stream.** Write `metrics(origin, token_times, end)` returning a dict with
# `ttft`, `tpot`, `itl` (the list of gaps) and `e2el`, in seconds, for one streamed request
# (`tpot` is None for a single token). The check compares it with `lesson.loadtest.streams`.

# %%
from lesson.teaching.exercises import check


def metrics(origin, token_times, end):
    raise NotImplementedError("your code here")


check("stream_metrics", metrics)

# %% [markdown]
# **2. KV blocks per request.** Write `kv_blocks(prompt_tokens, max_tokens, block_size)`: the
# most KV blocks one request holds while it is generated. (Which positions does the model store
# keys and values for?)

# %%
def kv_blocks(prompt_tokens, max_tokens, block_size):
    raise NotImplementedError("your code here")


check("kv_blocks", kv_blocks)

# %% [markdown]
# **3. Tune the engine (no checker: read your own figures).** In the static-vs-continuous cell,
# change `max_num_seqs` to 2 and to 8, and the long answers to 96 tokens. When does static
# batching catch up with continuous, and why?

# %% [markdown]
# When you are done, stop the server (it also stops when the kernel shuts down):

# %%
lab.close()
