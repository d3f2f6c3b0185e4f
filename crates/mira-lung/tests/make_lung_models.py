#!/usr/bin/env python3
"""Writes the tiny candidate classifiers mira-lung's tests run, into the directory given.

Both take a patch [1,1,16,16,16] (NCDHW, HU mapped to 0..1 over -1000..+400) and give
logits [1,2] for the classes (other, nodule):

    centre_mean.onnx  Slice the central 4x4x4 voxels -> ReduceMean -> logits = [0, W*(mean - M0)]:
                      a nodule filling the patch's centre (large, dense) scores high
    always.onnx       logits = [0, 10] whatever the patch: every candidate is a nodule

Exits 3 when the `onnx` package is missing, so that the tests can tell a missing
prerequisite from a failure.
"""

import os
import sys

try:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:
    print(f"make_lung_models.py needs the onnx package and numpy (pip install onnx): {e}", file=sys.stderr)
    sys.exit(3)

# centre_mean: p(nodule) = sigmoid(W * (mean - M0)); lung is ~0.11, soft tissue ~0.74
W = 40.0
M0 = 0.45


def save(graph, path):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def centre_mean(out):
    nodes = [
        helper.make_node("Slice", ["patch", "starts", "ends", "axes"], ["centre"]),
        helper.make_node("GlobalAveragePool", ["centre"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["mean"], axis=1),
        helper.make_node("Gemm", ["mean", "B", "C"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "centre_mean",
        [helper.make_tensor_value_info("patch", TensorProto.FLOAT, [1, 1, 16, 16, 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2])],
        [
            numpy_helper.from_array(np.array([6, 6, 6], dtype=np.int64), "starts"),
            numpy_helper.from_array(np.array([10, 10, 10], dtype=np.int64), "ends"),
            numpy_helper.from_array(np.array([2, 3, 4], dtype=np.int64), "axes"),
            numpy_helper.from_array(np.array([[0.0, W]], dtype=np.float32), "B"),
            numpy_helper.from_array(np.array([0.0, -W * M0], dtype=np.float32), "C"),
        ],
    )
    save(graph, out)


def always(out):
    nodes = [
        helper.make_node("GlobalAveragePool", ["patch"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["mean"], axis=1),
        helper.make_node("Gemm", ["mean", "B", "C"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "always",
        [helper.make_tensor_value_info("patch", TensorProto.FLOAT, [1, 1, 16, 16, 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2])],
        [
            numpy_helper.from_array(np.array([[0.0, 0.0]], dtype=np.float32), "B"),
            numpy_helper.from_array(np.array([0.0, 10.0], dtype=np.float32), "C"),
        ],
    )
    save(graph, out)


if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    centre_mean(os.path.join(out, "centre_mean.onnx"))
    always(os.path.join(out, "always.onnx"))
