#!/usr/bin/env python3
"""Writes the tiny ONNX models mira-models' tests run, into the directory given.

Every weight is fixed here so that the tests can compute the expected outputs by hand; the
tests write the manifests. Exits 3 when the `onnx` package is missing, so that the tests can
tell a missing prerequisite from a failure.

    classifier.onnx      image [1,3,4,4] -> GlobalAveragePool -> Flatten -> Gemm -> logits [1,3]
    classifier_probs.onnx  the same, then Softmax -> probs [1,3]
    classifier_dyn.onnx  as classifier.onnx with a symbolic batch axis "N"
    gray_nhwc.onnx       image [1,4,4,1] -> Transpose -> GlobalAveragePool -> Flatten -> Gemm -> logits [1,2]
    detector.onnx        image [1,3,8,8] -> means -> boxes [1,3,4] and scores [1,3,2]
    segmenter.onnx       image [1,3,2,2] -> 1x1 Conv -> mask [1,2,2,2]
    volume.onnx          patch [1,1,2,2,2] -> GlobalAveragePool -> Flatten -> Gemm -> logits [1,2]
    two_inputs.onnx      image and extra, added: two graph inputs
    uint8_input.onnx     as classifier.onnx, but its input is uint8
    external_data.onnx   classifier.onnx with its weights in weights.bin (ONNX external data)
    truncated.onnx       the first half of classifier.onnx
    garbage.onnx         bytes that are not a protobuf
"""

import os
import sys

try:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:
    print(f"make_models.py needs the onnx package and numpy (pip install onnx): {e}", file=sys.stderr)
    sys.exit(3)

# Classifier weights: logits = mean_per_channel @ CLASSIFIER_B + CLASSIFIER_C
CLASSIFIER_B = np.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 3.0]], dtype=np.float32)
CLASSIFIER_C = np.array([0.1, -0.2, 0.3], dtype=np.float32)
# Gray classifier: logits = mean @ GRAY_B + GRAY_C
GRAY_B = np.array([[4.0, -4.0]], dtype=np.float32)
GRAY_C = np.array([0.0, 0.5], dtype=np.float32)
# Detector: three boxes in pixels of the 8x8 input, two classes
DETECTOR_BOXES = np.array(
    [[1, 1, 4, 4], [1.5, 1.5, 4.5, 4.5], [5, 5, 7, 7]], dtype=np.float32
)
DETECTOR_SCORES = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.6]], dtype=np.float32)
# scores += mean_per_channel @ DETECTOR_W (only the red mean moves box 2's class 1)
DETECTOR_W = np.zeros((3, 6), dtype=np.float32)
DETECTOR_W[0, 5] = 0.3
# Volume classifier (a CT patch): logits = mean @ VOLUME_B + VOLUME_C
VOLUME_B = np.array([[2.0, -2.0]], dtype=np.float32)
VOLUME_C = np.array([0.0, 0.5], dtype=np.float32)
# Segmenter: mask[k] = sum_c SEG_W[k, c] * image[c] + SEG_B[k]
SEG_W = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, -1.0]], dtype=np.float32)
SEG_B = np.array([0.0, 0.25], dtype=np.float32)


def save(graph, path):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def classifier(out, softmax=False, batch=1):
    nodes = [
        helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["means"], axis=1),
        helper.make_node("Gemm", ["means", "B", "C"], ["logits"]),
    ]
    output = "logits"
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["probs"], axis=1))
        output = "probs"
    graph = helper.make_graph(
        nodes,
        "classifier",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 3, 4, 4])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, [batch, 3])],
        [numpy_helper.from_array(CLASSIFIER_B, "B"), numpy_helper.from_array(CLASSIFIER_C, "C")],
    )
    save(graph, out)


def gray_nhwc(out):
    graph = helper.make_graph(
        [
            helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]),
            helper.make_node("GlobalAveragePool", ["nchw"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["means"], axis=1),
            helper.make_node("Gemm", ["means", "B", "C"], ["logits"]),
        ],
        "gray_nhwc",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 4, 4, 1])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2])],
        [numpy_helper.from_array(GRAY_B, "B"), numpy_helper.from_array(GRAY_C, "C")],
    )
    save(graph, out)


def detector(out):
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["means"], axis=1),
            # boxes: zero weights, the boxes as bias, so the output is a real graph value
            helper.make_node("Gemm", ["means", "BoxW", "BoxB"], ["boxes_flat"]),
            helper.make_node("Reshape", ["boxes_flat", "BoxShape"], ["boxes"]),
            helper.make_node("Gemm", ["means", "ScoreW", "ScoreB"], ["scores_flat"]),
            helper.make_node("Reshape", ["scores_flat", "ScoreShape"], ["scores"]),
        ],
        "detector",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 8, 8])],
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 3, 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 3, 2]),
        ],
        [
            numpy_helper.from_array(np.zeros((3, 12), dtype=np.float32), "BoxW"),
            numpy_helper.from_array(DETECTOR_BOXES.reshape(12), "BoxB"),
            numpy_helper.from_array(np.array([1, 3, 4], dtype=np.int64), "BoxShape"),
            numpy_helper.from_array(DETECTOR_W, "ScoreW"),
            numpy_helper.from_array(DETECTOR_SCORES.reshape(6), "ScoreB"),
            numpy_helper.from_array(np.array([1, 3, 2], dtype=np.int64), "ScoreShape"),
        ],
    )
    save(graph, out)


def segmenter(out):
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "W", "B"], ["mask"], kernel_shape=[1, 1])],
        "segmenter",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 2, 2])],
        [helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 2, 2, 2])],
        [
            numpy_helper.from_array(SEG_W.reshape(2, 3, 1, 1), "W"),
            numpy_helper.from_array(SEG_B, "B"),
        ],
    )
    save(graph, out)


def two_inputs(out):
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["image", "extra"], ["sum"]),
            helper.make_node("GlobalAveragePool", ["sum"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["means"], axis=1),
            helper.make_node("Gemm", ["means", "B", "C"], ["logits"]),
        ],
        "two_inputs",
        [
            helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 4, 4]),
            helper.make_tensor_value_info("extra", TensorProto.FLOAT, [1, 3, 4, 4]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3])],
        [numpy_helper.from_array(CLASSIFIER_B, "B"), numpy_helper.from_array(CLASSIFIER_C, "C")],
    )
    save(graph, out)


def volume(out):
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["patch"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["mean"], axis=1),
            helper.make_node("Gemm", ["mean", "B", "C"], ["logits"]),
        ],
        "volume",
        [helper.make_tensor_value_info("patch", TensorProto.FLOAT, [1, 1, 2, 2, 2])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2])],
        [numpy_helper.from_array(VOLUME_B, "B"), numpy_helper.from_array(VOLUME_C, "C")],
    )
    save(graph, out)


def uint8_input(out):
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["image"], ["floats"], to=TensorProto.FLOAT),
            helper.make_node("GlobalAveragePool", ["floats"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["means"], axis=1),
            helper.make_node("Gemm", ["means", "B", "C"], ["logits"]),
        ],
        "uint8_input",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3])],
        [numpy_helper.from_array(CLASSIFIER_B, "B"), numpy_helper.from_array(CLASSIFIER_C, "C")],
    )
    save(graph, out)


def external_data(out):
    """classifier.onnx with its weights in weights.bin beside it."""
    model = onnx.load(os.path.join(os.path.dirname(out), "classifier.onnx"))
    onnx.save_model(
        model,
        out,
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    path = lambda name: os.path.join(out, name)
    classifier(path("classifier.onnx"))
    classifier(path("classifier_probs.onnx"), softmax=True)
    classifier(path("classifier_dyn.onnx"), batch="N")
    gray_nhwc(path("gray_nhwc.onnx"))
    detector(path("detector.onnx"))
    segmenter(path("segmenter.onnx"))
    two_inputs(path("two_inputs.onnx"))
    uint8_input(path("uint8_input.onnx"))
    volume(path("volume.onnx"))
    external_data(path("external_data.onnx"))
    with open(path("classifier.onnx"), "rb") as f:
        whole = f.read()
    with open(path("truncated.onnx"), "wb") as f:
        f.write(whole[: len(whole) // 2])
    with open(path("garbage.onnx"), "wb") as f:
        f.write(b"not a model, just text\n")


if __name__ == "__main__":
    main()
