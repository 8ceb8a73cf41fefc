"""The gRPC contract: generated code is reproducible, and the wire format matches the protocol."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _gen_proto():
    spec = importlib.util.spec_from_file_location("gen_proto", ROOT / "tools" / "gen_proto.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_regenerating_gives_identical_files():
    gen = _gen_proto()
    files = gen.generate()
    assert set(files) == {
        "__init__.py",
        "inference_pb2.py",
        "inference_pb2.pyi",
        "inference_pb2_grpc.py",
    }
    assert gen.differences(files) == [], "run: python tools/gen_proto.py"
    assert gen.generate() == files  # deterministic


def test_the_check_mode_detects_a_stale_file(tmp_path, monkeypatch):
    gen = _gen_proto()
    for name in gen.GENERATED + ("__init__.py",):
        (tmp_path / name).write_text((gen.OUT_DIR / name).read_text())
    monkeypatch.setattr(gen, "OUT_DIR", tmp_path)
    assert gen.main(["--check"]) == 0
    (tmp_path / "inference_pb2.py").write_text("# edited by hand\n")
    assert gen.main(["--check"]) == 1


def _fields(descriptor):
    return {
        f.name: (
            f.number,
            f.type,
            f.is_repeated,
            f.message_type.full_name if f.message_type else None,
        )
        for f in descriptor.fields
    }


#: Triton's model_config.proto has dozens of fields; the lesson declares these (same numbers)
CONFIG_SUBSET = {
    "inference.ModelConfig": {"name", "platform", "max_batch_size", "input", "output", "backend"},
    "inference.ModelInput": {"name", "data_type", "dims"},
    "inference.ModelOutput": {"name", "data_type", "dims"},
}


def test_wire_contract_matches_an_independent_copy_of_the_protocol():
    """Every message and RPC we declare has the same names, numbers and types as tritonclient's."""
    pytest.importorskip("tritonclient.grpc")
    from tritonclient.grpc import service_pb2 as theirs

    from lesson.proto import inference_pb2 as ours  # imports next to theirs: private pool

    def walk(descriptor):
        yield descriptor
        for nested in descriptor.nested_types:
            yield from walk(nested)

    checked = 0
    for top in ours.DESCRIPTOR.message_types_by_name.values():
        for message in walk(top):
            other = theirs.DESCRIPTOR.pool.FindMessageTypeByName(message.full_name)
            if (
                message.full_name in CONFIG_SUBSET
            ):  # the few model_config.proto fields we declare, exactly
                mine = _fields(message)
                assert mine == {k: v for k, v in _fields(other).items() if k in mine}, (
                    message.full_name
                )
                assert set(mine) == CONFIG_SUBSET[message.full_name], message.full_name
            else:
                assert _fields(message) == _fields(other), message.full_name
            checked += 1
    assert checked >= 30
    data_type = ours.DESCRIPTOR.enum_types_by_name["DataType"]
    assert {v.name: v.number for v in data_type.values} == {
        v.name: v.number
        for v in theirs.DESCRIPTOR.pool.FindEnumTypeByName("inference.DataType").values
    }
    service = ours.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    other_service = theirs.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    for method in service.methods:
        twin = other_service.methods_by_name[method.name]
        assert (method.input_type.full_name, method.output_type.full_name) == (
            twin.input_type.full_name,
            twin.output_type.full_name,
        )
        assert (method.client_streaming, method.server_streaming) == (
            twin.client_streaming,
            twin.server_streaming,
        )
    assert {m.name for m in service.methods} == {
        "ServerLive",
        "ServerReady",
        "ModelReady",
        "ServerMetadata",
        "ModelMetadata",
        "ModelInfer",
        "ModelStreamInfer",
        "RepositoryIndex",
        "ModelConfig",
    }
    assert "tritonclient" in sys.modules
