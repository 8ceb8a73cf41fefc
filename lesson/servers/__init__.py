"""Real servers for the lesson's models (CPython only; never imported by `import lesson`).

* `lesson.servers.rest` — FastAPI app factory (V1 + the Open Inference Protocol V2), served by uvicorn.
* `lesson.servers.grpc_server` — a thread-pool `grpc.server` for `inference.GRPCInferenceService`.
* `lesson.servers.launch` — `running_server("rest" | "grpc")`: a subprocess on a free port.
* `lesson.servers.backend` — what both transports share: the service, readiness, load shedding.
* `lesson.servers.options` — `ServerOptions` and the service they ask for (registry, default model, batching).
"""
