"""Float semantics of the interpreter match onnxruntime exactly, including when batched.

Property: fake quantization equals QuantizeLinear -> DequantizeLinear on values at and next to rounding ties;
the onnxruntime-backed MatMul run over a batch equals onnxruntime per sequence (the M=1 kernel); Sigmoid/Tanh
are position independent. Breaks if quantize multiplies by 1/scale, or matmul uses numpy/BLAS.
"""

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from lstmc import numerics


def _session(nodes, inputs, outputs, inits=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _run(s: ort.InferenceSession, feeds: dict[str, np.ndarray]) -> np.ndarray:
    """The single (dense) output of a session."""
    (y,) = s.run(None, feeds)
    assert isinstance(y, np.ndarray)
    return y


def test_fake_quant_matches_quantize_linear_at_ties():
    rng = np.random.default_rng(0)
    for scale in (np.float32(0.0731), np.float32(1 / 3), np.float32(0.125)):
        s = _session(
            [
                helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
                helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"]),
            ],
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])],
            [numpy_helper.from_array(np.array(scale), "s"), numpy_helper.from_array(np.array(0, np.int8), "z")],
        )
        ties = (rng.integers(-300, 300, 20000) * scale / 2).astype(np.float32)
        x = np.concatenate([ties, np.nextafter(ties, np.float32(9)), np.nextafter(ties, np.float32(-9))])
        want = _run(s, {"x": x})
        q = numerics.QuantParams(8, True, False, (float(scale),), (0,))
        assert np.array_equal(numerics.fake_quant(x, q), want)


def test_batched_matmul_equals_per_sequence_onnxruntime():
    rng = np.random.default_rng(1)
    for k, n in ((4, 8), (40, 64), (130, 96)):
        s = _session(
            [helper.make_node("MatMul", ["a", "b"], ["y"])],
            [
                helper.make_tensor_value_info("a", TensorProto.FLOAT, [k]),
                helper.make_tensor_value_info("b", TensorProto.FLOAT, [k, n]),
            ],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n])],
        )
        a = rng.standard_normal((33, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        want = np.stack([_run(s, {"a": row, "b": b}) for row in a])
        assert np.array_equal(numerics.matmul(a, b, a_batched=True), want)
        assert np.array_equal(numerics.matmul(a[3], b), want[3])


def test_activations_position_independent():
    x = np.random.default_rng(2).standard_normal(10007).astype(np.float32) * 4
    for fn in (numerics.sigmoid, numerics.tanh):
        whole = fn(x)
        pieces = np.concatenate([fn(x[i : i + 5]) for i in range(0, x.size, 5)])
        assert np.array_equal(whole, pieces)


def test_rounding_modes():
    v = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 1.2, -1.7], np.float32)
    assert numerics.round_mode(v, "half_even").tolist() == [-2, -2, -0, 0, 2, 2, 1, -2]
    assert numerics.round_mode(v, "half_up").tolist() == [-3, -2, -1, 1, 2, 3, 1, -2]
    assert numerics.round_mode(v, "half_down").tolist() == [-2, -1, 0, 0, 1, 2, 1, -2]
    assert numerics.round_mode(v, "floor").tolist() == [-3, -2, -1, 0, 1, 2, 1, -2]
    assert numerics.round_mode(v, "ceil").tolist() == [-2, -1, 0, 1, 2, 3, 2, -1]
    assert numerics.round_mode(v, "down").tolist() == [-2, -1, 0, 0, 1, 2, 1, -1]
    assert numerics.round_mode(v, "up").tolist() == [-3, -2, -1, 1, 2, 3, 2, -2]
