# %% [markdown]
# # 03 · Batch: throughput first, and when batching pays
#
# Not every prediction has a user waiting for it. Churn scores for tomorrow's e-mail, risk
# scores for every account, embeddings for a whole catalogue: these need *many* predictions
# by a deadline, not one prediction now. Batch scoring reads the rows in chunks, scores each
# chunk in one model call, and writes the results — the cheapest prediction there is, because
# the fixed costs (a request, a connection, a model call) are paid once per chunk, not per row.
#
# The same idea works online too: **dynamic (micro-)batching** makes concurrent requests share
# one model call. In this notebook you will
#
# 1. score batches with the original lesson's `batch_scoring_runner` and measure rows per second
#    as the batch grows;
# 2. see the same effect through the load-test panel (instances per request);
# 3. tune a micro-batcher's two knobs, `max_batch_size` and `max_delay_ms`, in front of a
#    model whose calls have a fixed cost, and see when batching helps and when it cannot.

# %%
import lesson
from lesson.lab import setup

lab = setup()  # the real model, diabetes-mlp; in local Jupyter its REST and gRPC servers too
patients, progression = lab.heldout()  # held-out patients and their observed progression

# %% [markdown]
# ## Scoring batches
#
# `batch_scoring_runner(model, batches)` scores each batch with one call through the shared
# service and returns one response per batch, tagged with its size:

# %%
responses = lesson.batch_scoring_runner(lab.model, [patients[0:2], patients[2:3]])
[(r["predictions"], r["metadata"]["batch_size"]) for r in responses]

# %% [markdown]
# How much does the batch size matter? The cell below scores 20,000 rows in batches of 1, 16,
# 256 and 1,024 rows and times each run as a whole (timing the group, not single calls, so the
# browser's coarse clock does not matter).

# %%
import random
import time

from lesson.widgets import table

rng = random.Random(0)
all_rows = [rng.choice(patients) for _ in range(20_000)]  # held-out patients, drawn with replacement
measured = []
for size in (1, 16, 256, 1024):
    batches = [all_rows[i : i + size] for i in range(0, len(all_rows), size)]
    start = time.perf_counter()
    lesson.batch_scoring_runner(lab.model, batches)
    seconds = time.perf_counter() - start
    measured.append({"rows per batch": size, "calls": len(batches), "seconds": round(seconds, 3),
                     "rows/s": round(len(all_rows) / seconds)})
table(measured, caption="20,000 rows through batch_scoring_runner (measured just now)")

# %%
gain_16 = measured[1]["rows/s"] / measured[0]["rows/s"]
gain_last = measured[-1]["rows/s"] / measured[-2]["rows/s"]
print(f"From 1 to 16 rows per batch, rows/s changed {gain_16:.1f}x; from {measured[-2]['rows per batch']} to "
      f"{measured[-1]['rows per batch']} rows, {gain_last:.2f}x.")

# %% [markdown]
# The model here is small (one hidden layer, run in pure Python), so a large part of the cost
# of a one-row call is the *per-call* work — validation, building the response, metadata — and
# larger batches spread it over more rows. The arithmetic per row stays whatever the batch
# size, so once the per-call work is spread thin, a bigger batch has little left to save:
# compare the two growth factors just printed.
#
# ## The same effect online: instances per request
#
# A client can batch too, by sending several rows in one request. The panel below targets the
# batch runner; the cell after it sends 300 requests of 1 row, then 300 requests of 64 rows.

# %%
panel = lab.panel("batch", requests=300, concurrency=2)
panel

# %%
one_row = await panel.run_async(instances=1)
many_rows = await panel.run_async(instances=64)
panel.report()
for run in (one_row, many_rows):
    rows_per_s = run.result.throughput * run.settings["instances"]
    print(f"{run.label}: {run.result.throughput:,.0f} requests/s = {rows_per_s:,.0f} rows/s")

# %% [markdown]
# ## Files, on one machine or on a cluster
#
# For real batch jobs the rows live in files. `lesson.patterns.batch.score_file(input, output, ...)`
# reads a CSV or Parquet file in chunks of `chunk_rows` rows, scores each chunk, writes the
# predictions atomically and puts rows it cannot score in a separate rejects file with the
# reason: a missing or non-numeric feature, or an `id` that is empty or repeats an earlier
# row's (a prediction must join back to exactly one row; the first row with a key is scored).
# With `engine="local"` the chunks are scored in this process, one after the other (read,
# score, write: a plain loop); `engine="pipelined"` runs the same loop on three threads so
# that reading, predicting and writing overlap (faster when a second core is free); with
# `engine="dask", scheduler="tcp://host:port"` each chunk becomes a task on a Dask cluster
# and the results are written back in input order, so the output must not depend on the
# engine.
#
# The cell below writes a sample file (30,000 rows, 1 % of them deliberately invalid) to a
# temporary directory, scores it with both engines — the Dask one on a two-worker
# `LocalCluster` on 127.0.0.1, started and shut down by the cell — and compares the output
# files byte for byte. A two-worker cluster on one machine is not expected to beat the local
# engine (each chunk is sent to a worker and its result sent back); it shows that the same
# job runs unchanged when the workers are other machines. The browser has no sockets and no
# Dask, so there the cell only says what it would do.

# %%
import tempfile
from pathlib import Path


def score_with_both_engines(rows=30_000, chunk_rows=5_000):
    """Score one sample file locally and on a local Dask cluster; return the two reports."""
    from distributed import LocalCluster  # ImportError here if Dask is not installed

    from lesson.patterns.batch import default_rejects_path, score_file, write_sample_data

    with tempfile.TemporaryDirectory() as tmp:
        src = write_sample_data(Path(tmp) / "patients.csv", rows, seed=0, invalid_fraction=0.01)
        local = score_file(src, Path(tmp) / "local.parquet", chunk_rows=chunk_rows)
        start = time.perf_counter()
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, host="127.0.0.1",
                          protocol="tcp://", dashboard_address=None) as cluster:
            startup_s = time.perf_counter() - start
            dask = score_file(src, Path(tmp) / "dask.parquet", chunk_rows=chunk_rows,
                              engine="dask", scheduler=cluster.scheduler_address)
            address = cluster.scheduler_address
        same_output = Path(local.output).read_bytes() == Path(dask.output).read_bytes()
        same_rejects = (default_rejects_path(Path(local.output)).read_bytes()
                        == default_rejects_path(Path(dask.output)).read_bytes())
    return local, dask, address, startup_s, same_output, same_rejects


try:
    if lab.in_browser:
        raise ImportError("the browser (Pyodide) has no sockets and no Dask")
    local, dask, address, startup_s, same_output, same_rejects = score_with_both_engines()
except ImportError as exc:
    print(f"Not run here: {exc}. On a local Python with `pip install lesson[batch]` this cell writes a "
          "sample file, scores it with engine='local' and with engine='dask' on a LocalCluster "
          "bound to 127.0.0.1, and checks that both output files are identical.")
else:
    print(f"Dask cluster at {address} (2 workers, 1 thread each), started in {startup_s:.2f} s")
    for report in (local, dask):
        print(f"{report.engine:>5} engine: {report.rows:,} rows in {report.chunks} chunks, {report.scored:,} scored, "
              f"{report.rejected:,} rejected, {report.wall_s:.2f} s ({report.rows_per_s:,.0f} rows/s)")
    print(f"predictions identical byte for byte: {same_output}; rejects identical: {same_rejects}")

# %% [markdown]
# ## Dynamic batching, and a model that needs it
#
# A micro-batcher queues concurrent requests and makes **one** model call for up to
# `max_batch_size` rows, waiting at most `max_delay_ms` for more to arrive (counted from the
# first request of the batch; with `max_delay_ms=0` it takes whatever is already queued and
# waits for nothing). It pays where one call of many rows costs much less than many calls of
# one row: a fixed cost per call to amortise (an accelerator's kernel launch and transfer, a
# remote call, the framework's dispatch), weights read from memory once and reused for every
# row of the batch, or parallel units (SIMD lanes, GPU cores) that one row leaves idle. Our
# small MLP in pure Python has only the first, and a small one: the Python work around each
# call, which the batch-size table above spread over more rows until its arithmetic per row,
# which no batch saves, was what remained. To show the case batching was made for, the
# lesson provides a **simulated accelerator**: a model that holds a "device" for 2 ms per call
# plus 20 µs per row, one call at a time. It is a simulation (it sleeps), and it is labelled as
# one everywhere it appears.
#
# The batcher is the package's; here is its core loop:

# %%
from lesson.patterns.microbatching import MicroBatcher

lab.show_source(MicroBatcher._run_forever)

# %% [markdown]
# Add it to the lab as a target with two knobs, then run 400 requests from 32 concurrent
# clients: first with `max_batch_size=1` (no batching: every request is its own device call),
# then with batches of up to 32.

# %%
batching = lab.add_batching_target()
batch_panel = lab.panel("batching", targets=["batching"], requests=400, concurrency=32)
batch_panel

# %%
unbatched = await batch_panel.run_async(knobs={"max_batch_size": 1, "max_delay_ms": 0})
batched = await batch_panel.run_async(knobs={"max_batch_size": 32, "max_delay_ms": 2})
batch_panel.report()
device = batching.extra["device"]
print(f"device calls so far: {device.calls:,} for {device.rows:,} rows "
      f"(cost model: {device.call_cost_s(1) * 1000:.2f} ms for 1 row, {device.call_cost_s(32) * 1000:.2f} ms for 32)")
print(f"throughput x{batched.result.throughput / unbatched.result.throughput:.1f} with batching; "
      f"p99 {unbatched.result.p99 * 1000:.1f} ms -> {batched.result.p99 * 1000:.1f} ms")

# %% [markdown]
# ## Knobs at scale: a simulation
#
# What rate can the device sustain, and what does `max_delay_ms` cost at low load? Measuring
# that for real needs minutes of traffic; a queueing **simulation** on a virtual clock answers
# it in milliseconds, in any Python, the browser included. Requests arrive at random (Poisson)
# at a fixed rate; the server is the same 2 ms + 20 µs/row device. No request is sent.

# %%
from lesson.teaching.simulation import simulate_batching_server

rows = []
for rate in (200, 400, 1000, 2000):
    for size, delay in ((1, 0.0), (32, 0.0), (32, 5.0)):
        sim = simulate_batching_server(rate_per_s=rate, max_batch_size=size, max_delay_ms=delay, requests=4000)
        rows.append({"rate/s": rate, "max_batch_size": size, "max_delay_ms": delay,
                     "p50 ms": round(sim.p50_ms, 2), "p99 ms": round(sim.p99_ms, 2),
                     "mean batch": round(sim.mean_batch_size, 1), "utilisation": f"{sim.utilisation:.0%}",
                     "saturated": sim.saturated})
table(rows, caption="SIMULATION: one device, 2 ms per call + 0.02 ms per row")

# %% [markdown]
# ## When batching does not pay: a cost per row
#
# The device above is the case batching was made for: almost all of a call's cost is fixed.
# Flip it. The next simulation serves the same traffic with a model whose one-row call costs
# the same 2.02 ms, but almost all of it *per row* (0.02 ms per call + 2 ms per row), as a
# model in pure Python or one already saturating its cores row by row. A batch of *n* rows now
# costs about *n* single calls, and every request in it waits for the whole batch.

# %%
shapes = {"fixed cost per call": {"fixed_ms": 2.0, "per_row_ms": 0.02},
          "cost per row": {"fixed_ms": 0.02, "per_row_ms": 2.0}}
flip = []
for shape, cost in shapes.items():
    for size, delay in ((1, 0.0), (32, 0.0)):
        sim_run = simulate_batching_server(rate_per_s=400, max_batch_size=size, max_delay_ms=delay, requests=4000, **cost)
        flip.append({"model": shape, "max_batch_size": size, "max_delay_ms": delay, "p50 ms": round(sim_run.p50_ms, 2),
                     "p99 ms": round(sim_run.p99_ms, 2), "mean batch": round(sim_run.mean_batch_size, 1),
                     "utilisation": f"{sim_run.utilisation:.0%}"})
table(flip, caption="SIMULATION: 400 requests/s, Poisson arrivals; two models whose one-row call costs 2.02 ms")

# %% [markdown]
# ## What to notice
#
# Each point below is computed from the runs above (rerun them and the sentences change).

# %% tags=["hide-input"]
from IPython.display import Markdown

best = max(measured, key=lambda row: row["rows/s"])
sim = {(row["rate/s"], row["max_batch_size"], row["max_delay_ms"]): row for row in rows}
saturated_unbatched = [rate for rate in (200, 400, 1000, 2000) if sim[(rate, 1, 0.0)]["saturated"]]
batched_ok = [rate for rate in (200, 400, 1000, 2000) if not sim[(rate, 32, 0.0)]["saturated"]]
batched_busy = [rate for rate in (200, 400, 1000, 2000) if sim[(rate, 32, 0.0)]["saturated"]]
one, big = measured[0], best
per_row_us = {row["rows per batch"]: 1e6 / row["rows/s"] for row in (one, big)}
per_call_us = per_row_us[1] - per_row_us[big["rows per batch"]]  # what the batch spread over its rows
low = 200
notes = [
    f"- **Rows per second, not requests per second,** is the figure for batch work: batches of "
    f"{best['rows per batch']:,} rows scored {best['rows/s']:,} rows/s, one-row calls {measured[0]['rows/s']:,}; "
    f"online, 64 rows per request gave {many_rows.result.throughput * 64:,.0f} rows/s against "
    f"{one_row.result.throughput:,.0f} with one.",
    f"- **Without batching the device saturates** (one call at a time, {device.call_cost_s(1) * 1000:.2f} ms each, "
    f"so at most {1 / device.call_cost_s(1):,.0f} calls/s): the simulation marks it saturated at "
    + (", ".join(f"{r}/s" for r in saturated_unbatched) or "none of the rates tried")
    + "; there the queue grows without bound and latency is limited only by how long you measure.",
    f"- **Batching raises the ceiling:** measured, batches of up to 32 gave {batched.result.throughput / unbatched.result.throughput:.1f}x "
    "the throughput of one-row calls. In the simulation's table, `saturated` means the device was busy at least 98 % "
    "of the time; with `max_delay_ms=0` and batches of up to 32 it was not at "
    + (", ".join(f"{r}/s" for r in batched_ok) or "none of the rates")
    + "".join(f"; at {r}/s it was busy {sim[(r, 32, 0.0)]['utilisation']} of the time (saturated in the table) with "
              f"a mean batch of {sim[(r, 32, 0.0)]['mean batch']} of 32 and a p99 of {sim[(r, 32, 0.0)]['p99 ms']} ms"
              for r in batched_busy)
    + (": a busy device with room in its batches takes more rows per call instead of letting the queue grow, so "
       "busy is not overloaded until the batches are full (unbatched, at "
       + ", ".join(f"{r}/s the p99 was {sim[(r, 1, 0.0)]['p99 ms']} ms" for r in batched_busy) + ")."
       if batched_busy else "."),
    f"- **Batching with no wait is not a latency cost:** at 400/s the fixed-cost device's p99 was "
    f"{sim[(400, 1, 0.0)]['p99 ms']} ms unbatched and {sim[(400, 32, 0.0)]['p99 ms']} ms with batches of up to 32 "
    "and `max_delay_ms=0`: batches drain the queue faster. The wait, when you configure one, is the cost.",
    f"- **The conclusion flips with the cost shape:** with a cost per row, the same batching took p99 from "
    f"{flip[2]['p99 ms']} ms to {flip[3]['p99 ms']} ms "
    + ("(worse: each request waits for its whole batch, and nothing is saved)."
       if flip[3]["p99 ms"] > flip[2]["p99 ms"] else "(no worse here, but nothing was saved).")
    + " Measure your model's cost for 1 and for *n* rows before you batch.",
    f"- **`max_delay_ms` is a tax at low load:** at {low}/s, waiting up to 5 ms for company put p50 at "
    f"{sim[(low, 32, 5.0)]['p50 ms']} ms against {sim[(low, 32, 0.0)]['p50 ms']} ms without waiting. Pick it from "
    "your p99 objective, not from peak throughput.",
    f"- **The small MLP has a fixed cost per call too,** the Python work around each call (validation, building the "
    f"response): measured above, a row cost {per_row_us[1]:.1f} µs in one-row calls and {per_row_us[big['rows per batch']]:.1f} µs "
    f"in batches of {big['rows per batch']:,}, so about {per_call_us:.1f} µs ({per_call_us / per_row_us[1]:.0%}) of a one-row "
    f"call was per-call cost that batching spread over the rows, for {big['rows/s'] / one['rows/s']:.1f}x the rows/s. "
    f"The simulated device's fixed cost is {device.fixed_cost_s / device.per_row_s:,.0f} "
    "times its cost per row, so batching gained it far more. A server's micro-batcher also adds a queue and a hand-off "
    "between tasks, which a small per-call saving may not repay: these figures are this one small model on this "
    "machine; measure before you enable it (`benchmarks/bench_batching.py` measures it).",
]
Markdown("\n".join(notes))

# %% [markdown]
# ## Check yourself
#
# A few questions on the ideas of this notebook that are most often misunderstood. Click an
# option: each one says why it is right or wrong. The buttons need a running kernel: on the
# site's page, open the notebook in JupyterLite to answer. (Without widgets, the cell prints
# the questions and how to answer them from code.)

# %%
from lesson.teaching.quizzes import quiz_for
from lesson.widgets.quiz import show_quiz

show_quiz(quiz_for("03-batch"))

# %% [markdown]
# ## Exercises
#
# **1. Read in chunks.** Write `chunked(items, size)` yielding lists of up to `size` items,
# lazily (it must work on an endless iterator).

# %%
from lesson.teaching.exercises import check


def chunked(items, size):
    raise NotImplementedError("your code here")


check("chunked", chunked)

# %% [markdown]
# **2. Write the output atomically.** Write `atomic_write(path, lines)` so that an interruption
# half-way leaves the previous file whole (no half-written output).

# %%
def atomic_write(path, lines):
    raise NotImplementedError("your code here")


check("atomic_write", atomic_write)

# %% [markdown]
# **3. Find the knee (no checker).** In the batching panel, keep concurrency at 32 and try
# `max_batch_size` 1, 4, 8, 16, 32, 64. Where does throughput stop improving, and why can a
# batch never be larger than the number of requests in flight?

# %%
lab.close()
