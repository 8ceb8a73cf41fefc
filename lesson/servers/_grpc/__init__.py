"""Modules generated from lesson/proto/inference.proto by tools/gen_proto.py. Do not edit."""

from . import inference_pb2, inference_pb2_grpc

__all__ = ["inference_pb2", "inference_pb2_grpc"]
