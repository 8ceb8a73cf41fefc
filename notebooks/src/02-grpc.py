# %% [markdown]
# # 02 · gRPC: a typed contract between services
#
# When the caller is another service rather than a person, two things start to matter more
# than "every client speaks it": a **contract** that both sides compile against, so a renamed
# field breaks the build instead of production, and efficient **connections** — HTTP/2 with
# many requests multiplexed on one connection, and streams in both directions.
# gRPC gives both. In this notebook you will
#
# 1. read the contract: the Open Inference Protocol's `GRPCInferenceService`, whose six calls
#    KServe's servers and NVIDIA Triton serve, plus three of Triton's extensions, so a
#    production client works against the lesson's server;
# 2. see how a request is encoded — a typed tensor with raw little-endian bytes — and compare
#    its size with the JSON body of notebook 01;
# 3. see errors as status codes, and one long-lived stream carrying many requests;
# 4. load-test gRPC and REST side by side, and read what the figures say (not what the folklore says).

# The model behind both servers is the lesson's real one, `diabetes-mlp` (10 measurements in,
# predicted disease progression out); the requests below are patients from its held-out data.

# %%
import lesson
from lesson.lab import setup

lab = setup()  # the real model, diabetes-mlp; in local Jupyter its REST and gRPC servers too
patients, _ = lab.heldout()  # held-out patients and their observed progression

# %% [markdown]
# ## The contract
#
# The service is defined in a `.proto` file that ships with the package. On the wire a field
# is only its **number** and wire type: names never travel in the binary encoding (they matter
# to the generated code and to protobuf's JSON form), so a field can be renamed without
# breaking a binary client but never renumbered. Clients and servers generated from this file
# agree on every byte. These are the calls the lesson's server offers: the six of the Open
# Inference Protocol's gRPC API (`ServerLive`, `ServerReady`, `ModelReady`, `ServerMetadata`,
# `ModelMetadata`, `ModelInfer`;
# [KServe: gRPC API](https://kserve.github.io/website/docs/reference/oip/grpc-api)) and three
# of Triton's extensions, `ModelStreamInfer`, `RepositoryIndex` and `ModelConfig`
# ([Triton: inference protocols](https://docs.nvidia.com/deeplearning/triton-inference-server/user-guide/docs/customization_guide/inference_protocols.html)):

# %%
from importlib import resources

proto = (resources.files("lesson") / "proto" / "inference.proto").read_text()
service = proto[proto.index("service GRPCInferenceService"):]
print(service[: service.index("\n}\n") + 3])

# %% [markdown]
# And the request that carries the features — a list of named, typed, shaped tensors:

# %%
request_message = proto[proto.index("message ModelInferRequest"):]
print(request_message[: request_message.index("\n}\n") + 3])

# %% [markdown]
# ## A request, end to end
#
# The lesson's gRPC client turns the familiar V1 payload into a `ModelInferRequest` and the
# answer back into the V1 shape, so the rest of the lesson can treat every transport alike:

# %%
grpc_predict = lab.endpoint("grpc")
grpc_predict({"instances": [patients[0]]})

# %% [markdown]
# What goes on the wire is not JSON text but a binary tensor: 8 bytes per FP64 value (4 for
# FP32), little-endian, in `raw_input_contents` — whatever the value's digits. JSON spends one
# byte per character instead, so which is smaller depends on the numbers. `lesson.core.v2` encodes
# and decodes tensors with the standard library, so this cell runs in the browser too:

# %%
import json

from lesson.core import v2

rows = patients[:64]
raw = v2.encode_raw("FP64", [value for row in rows for value in row])
as_json = json.dumps({"instances": rows}).encode()
raw32 = v2.encode_raw("FP32", [value for row in rows for value in row])
print(f"{len(rows)} rows x {len(rows[0])} features of real patient data:")
print(f"  JSON body {len(as_json):,} bytes; raw FP64 tensor {len(raw):,} bytes "
      f"({len(raw) / len(as_json):.2f}x the JSON); raw FP32 {len(raw32):,} bytes ({len(raw32) / len(as_json):.2f}x)")
print("first value decoded back:", v2.decode_raw("FP64", raw[:8], 1, "raw_input_contents")[0])

# %%
lab.show_source(v2.encode_raw)

# %% [markdown]
# With the real server running, the client can show the protobuf message itself (text
# format) and its encoded size, and ask the server what it serves:

# %%
if "grpc" in lab.servers:
    from lesson.clients import client_for
    from lesson.clients.grpc import build_infer_request

    message = build_infer_request([patients[0]], model=lab.model.name)
    print(message)
    print(f"encoded size: {message.ByteSize()} bytes")
    with client_for(lab.servers["grpc"].url) as client:
        print("server:", client.server_metadata())
        print("ready:", client.ready(), "| models:", client.repository_index())
else:
    print("In-process path: grpcio does not run in the browser. Run locally to see the wire.")

# %% [markdown]
# ## Errors are status codes
#
# gRPC has no HTTP status line; it has a small set of status codes with a message.
# A bad request is `INVALID_ARGUMENT`, an unknown model `NOT_FOUND`, an oversized request or
# an overloaded server `RESOURCE_EXHAUSTED`, a missed deadline `DEADLINE_EXCEEDED`. The
# lesson's client maps them to exception classes, and the message still names the field:

# %%
for name, payload in {
    "wrong type": {"instances": [[0.1, "high"]]},
    "ragged rows": {"instances": [[0.1, 0.2], [0.3]]},
    "empty": {"instances": []},
}.items():
    print(f"{name:12} -> {lab.try_call('grpc', payload).get('error')}")

# %% [markdown]
# ## One stream, many requests
#
# Unary calls already share one HTTP/2 connection (a channel multiplexes them), but each call
# is a new HTTP/2 stream with its own HEADERS frames and trailers. `ModelStreamInfer` — Triton's
# streaming extension, not part of the Open Inference Protocol — keeps one bidirectional stream
# open instead: requests flow in, answers flow out, with no per-call stream set-up or headers.
# gRPC keeps the order of the messages in each direction; the two directions are independent
# ([gRPC: core concepts](https://grpc.io/docs/what-is-grpc/core-concepts/#bidirectional-streaming-rpc)).
# The answers come back in request order here because the lesson's handler answers each message
# before it reads the next. The in-process streaming adapter behaves the same way, so this cell
# runs in both worlds:

# %%
events = [{"instances": [row]} for row in patients[:5]]
if "grpc" in lab.servers:
    with client_for(lab.servers["grpc"].url) as client:
        answers = list(client.stream(events))
else:
    handler = lesson.grpc_streaming_adapter(lab.model)
    answers = list(handler(iter(events)))
[(a["predictions"][0], a["metadata"]["transport"]) for a in answers]

# %% [markdown]
# ## gRPC and REST under the same load
#
# The panel offers both. The cell after it runs each with the same small load so you can
# compare them here. (In the browser both are in-process adapters, so the comparison there
# is of the adapters, not of the protocols.)

# %%
panel = lab.panel("grpc", requests=400, concurrency=4)
panel

# %%
grpc_run = await panel.run_async(target="grpc")
rest_run = await panel.run_async(target="rest")
panel.report()

# %%
g, r = grpc_run.result, rest_run.result
print(f"gRPC: p50 {g.p50 * 1000:.3f} ms, p99 {g.p99 * 1000:.3f} ms, {g.throughput:,.0f} req/s")
print(f"REST: p50 {r.p50 * 1000:.3f} ms, p99 {r.p99 * 1000:.3f} ms, {r.throughput:,.0f} req/s")
print(f"gRPC/REST throughput ratio in this run: {g.throughput / r.throughput:.2f}")

# %% [markdown]
# ## What to notice
#
# The points below are computed from the runs above (they change when you re-run them).

# %% tags=["hide-input"]
from IPython.display import Markdown

over_wire = "grpc" in lab.servers
ratio = g.throughput / r.throughput
points = [
    "- **The contract is the product.** Because the service follows the Open Inference Protocol, "
    "`tritonclient` — a client nobody in this project wrote — talks to the lesson's server unchanged "
    "(the project's tests check it). That is what a typed contract buys.",
    f"- **Binary is not automatically smaller.** For these {len(rows)} rows the raw FP64 tensor was "
    f"{len(raw) / len(as_json):.2f}x the JSON body and FP32 {len(raw32) / len(as_json):.2f}x: these "
    "measurements have few digits, so their JSON text is short. JSON of long floats is another story.",
]
if over_wire:
    if ratio < 0.9:
        verdict = (f"gRPC served **{ratio:.2f}x** REST's requests per second (p50 {g.p50 * 1000:.2f} ms vs "
                   f"{r.p50 * 1000:.2f} ms): slower, not faster. In Python each unary gRPC call pays grpcio's own "
                   "per-call cost (a thread hand-off, protobuf objects, an HTTP/2 stream with headers and "
                   "trailers), the server converts the V2 tensors to rows and back, and here the client runs "
                   "in this same kernel, sharing the machine's cores with both servers.")
    elif ratio > 1.1:
        verdict = (f"gRPC served **{ratio:.2f}x** REST's requests per second (p50 {g.p50 * 1000:.2f} ms vs "
                   f"{r.p50 * 1000:.2f} ms): faster here. Both clients run in this kernel and share the "
                   "machine's cores with both servers, so the gap measures client and server together; the "
                   "project's benchmarks pin server and load generator to separate cores to tell them apart.")
    else:
        verdict = (f"gRPC and REST landed within 10 % of each other ({ratio:.2f}x the requests per second, "
                   f"p50 {g.p50 * 1000:.2f} ms vs {r.p50 * 1000:.2f} ms): for a small model both are "
                   "dominated by per-request work in Python on each side.")
    points.append(f"- **Measure before you believe.** In this run {verdict} "
                  "Read your own numbers before anyone's claims, this lesson's included.")
else:
    points.append(f"- **Measure before you believe.** In the browser both targets are in-process adapters "
                  f"(the gRPC one served {ratio:.2f}x the REST one's requests per second), so this run compares "
                  "two Python functions, not two protocols: run the "
                  "notebook locally to put real servers on the wire.")
points.append("- **Streams remove per-call overhead** (stream set-up and headers). gRPC keeps each direction's "
              "messages in order, and other calls share the connection meanwhile (HTTP/2 multiplexes them). "
              "The in-order answers come from the lesson's handler, which answers one message before reading the "
              "next: with it, one slow message delays the ones behind it on that stream. A server may instead "
              "answer out of order, matched by request id, as Triton's decoupled models do.")
Markdown("\n".join(points))

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

show_quiz(quiz_for("02-grpc"))

# %% [markdown]
# ## Exercises
#
# **1. Encode a tensor.** Write `encode(values) -> bytes`: little-endian float32, as
# `raw_input_contents` carries an FP32 tensor.

# %%
from lesson.teaching.exercises import check


def encode(values):
    raise NotImplementedError("your code here")


check("fp32_raw", encode)

# %% [markdown]
# **2. Decode an output.** Write `decode(raw, shape) -> rows` for a 2-D FP32 tensor; refuse
# a byte count that does not match the shape with `ValueError`.

# %%
def decode(raw, shape):
    raise NotImplementedError("your code here")


check("fp32_decode", decode)

# %% [markdown]
# **3. Where is the crossover? (no checker)** In the panel, compare gRPC and REST with
# *Instances per request* at 1, 32 and 256. JSON's cost grows with the number of values,
# the binary tensor's much less. Does the ratio you printed above change?

# %%
lab.close()
