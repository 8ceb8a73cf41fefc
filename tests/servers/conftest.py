"""Real servers on 127.0.0.1 for the server tests (subprocesses, always stopped)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from server_support import SLEEPY, TEST_ENV

from lesson.servers.launch import running_server

# The transport tests send small free-width rows, so these servers serve the core's registry
# (the original toy `averaged_ensemble` alone, any width); the servers' own default (the real
# model's registry) is tested in test_server_default_model.py.
TOY = "lesson.core.model:default_registry"


@pytest.fixture(scope="session")
def rest_server():
    with running_server("rest", registry=TOY) as server:
        yield server


@pytest.fixture(scope="session")
def grpc_server():
    with running_server("grpc", registry=TOY) as server:
        yield server


@pytest.fixture(scope="session")
def default_rest():
    """REST with no --model / --registry: the real model's registry, diabetes-mlp by default."""
    with running_server("rest") as server:
        yield server


@pytest.fixture(scope="session")
def default_grpc():
    with running_server("grpc") as server:
        yield server


@pytest.fixture(scope="session")
def sleepy_rest():
    """REST with the sleepy model, run in threads, at most 2 requests in flight, 1 s timeout."""
    with running_server(
        "rest", registry=SLEEPY, env=TEST_ENV, offload=True, max_in_flight=2, timeout_s=1.0
    ) as server:
        yield server


@pytest.fixture(scope="session")
def sleepy_grpc():
    with running_server(
        "grpc", registry=SLEEPY, env=TEST_ENV, max_in_flight=2, workers=4, timeout_s=1.0
    ) as server:
        yield server
