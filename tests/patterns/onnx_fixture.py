"""A real ONNX graph of the lesson's diabetes MLP, built with ``onnx.helper`` (test fixture).

Scaler, two dense layers and the target's rescaling inside the graph, float32: one input
``[N, 10]`` of raw features, one output ``[N, 1]``; written as a checksummed artifact with
``model.onnx`` so the code under test reads it through the lesson's artifact loader.
"""

from __future__ import annotations

from pathlib import Path

from lesson.core.artifacts import write_artifact
from lesson.models.mlp import MLPParams, load_default_mlp

INPUT, OUTPUT = "features", "prediction"


def mlp_onnx_bytes(params: MLPParams, opset: int = 17) -> bytes:
    """The network of ``params`` as a float32 ONNX model (bytes)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def const(name, values):
        return numpy_helper.from_array(np.asarray(values, dtype=np.float32), name)

    inits = [const("mean", params.input_mean), const("scale", params.input_scale)]
    nodes = [
        helper.make_node("Sub", [INPUT, "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "scale"], ["h0"]),
    ]
    h = "h0"
    for i, layer in enumerate(params.layers):
        inits += [const(f"W{i}", np.asarray(layer.weights).T), const(f"b{i}", layer.bias)]
        nodes += [
            helper.make_node("MatMul", [h, f"W{i}"], [f"mm{i}"]),
            helper.make_node("Add", [f"mm{i}", f"b{i}"], [f"z{i}"]),
        ]
        h = f"z{i}"
        if layer.activation == "relu":
            nodes.append(helper.make_node("Relu", [h], [f"a{i}"]))
            h = f"a{i}"
    inits += [const("tscale", [params.target_scale]), const("tmean", [params.target_mean])]
    nodes += [
        helper.make_node("Mul", [h, "tscale"], ["scaled"]),
        helper.make_node("Add", ["scaled", "tmean"], [OUTPUT]),
    ]
    graph = helper.make_graph(
        nodes,
        "diabetes-mlp",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["N", len(params.input_mean)])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["N", 1])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def write_onnx_artifact(root: Path, name: str = "diabetes-mlp-onnx") -> Path:
    """Write ``name``/1 with ``model.onnx`` (the shipped MLP's weights) under ``root``."""
    params = load_default_mlp().params
    manifest = {
        "onnx": {
            "opset": 17,
            "inputs": [{"name": INPUT, "datatype": "FP32", "shape": [-1, 10]}],
            "outputs": [{"name": OUTPUT, "datatype": "FP32", "shape": [-1, 1]}],
        }
    }
    return write_artifact(name, 1, manifest, {"model.onnx": mlp_onnx_bytes(params)}, root=root)
