"""The gRPC contract: ``inference.proto`` and the modules generated from it.

tools/gen_proto.py writes ``inference_pb2*.py`` beside the ``.proto`` (do not edit them).

Below both the clients and the servers; imports grpcio and protobuf."""

from . import inference_pb2, inference_pb2_grpc

__all__ = ["inference_pb2", "inference_pb2_grpc"]
