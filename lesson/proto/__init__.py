"""The gRPC contract: ``inference.proto`` and, beside it, the modules tools/gen_proto.py generates from it (do not edit them).

Below both the clients and the servers; imports grpcio and protobuf."""

from . import inference_pb2, inference_pb2_grpc

__all__ = ["inference_pb2", "inference_pb2_grpc"]
