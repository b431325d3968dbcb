"""qrnn-canonicalize changes no value: random chains of reshapes, transposes and per-tensor elementwise ops
compute the same outputs before and after the pass, and the chains it leaves are no longer than they were.

Breaks if a collapsed chain does not keep the element order, a sunk activation loses its kernel or quantizer,
or relu is folded into a quantizer whose range reaches below zero.
"""

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from lstmc.dialects import qrnn
from lstmc.frontend.onnx_import import import_model
from lstmc.interpreter import run_function
from lstmc.pipeline import apply_pipeline

SHAPE = (2, 3, 4)
STEPS = ["transpose", "reshape", "relu", "quant_u8", "quant_s8", "tanh"]


def _chain_model(steps: list[tuple[str, int]]) -> onnx.ModelProto:
    nodes, inits, cur, shape = [], [], "X", list(SHAPE)
    rng = np.random.default_rng(len(steps))
    for k, (kind, choice) in enumerate(steps):
        out = f"v{k}"
        if kind == "transpose":
            perm = list(rng.permutation(len(shape)))
            nodes.append(helper.make_node("Transpose", [cur], [out], perm=perm))
            shape = [shape[p] for p in perm]
        elif kind == "reshape":
            options = [[24], [6, 4], [4, 6], [2, 12], [2, 3, 4], [1, 24, 1], [3, 8], [2, 2, 6], [1, 2, 3, 4]]
            shape = options[choice % len(options)]
            inits.append(numpy_helper.from_array(np.array(shape, np.int64), f"s{k}"))
            nodes.append(helper.make_node("Reshape", [cur, f"s{k}"], [out]))
        elif kind in ("relu", "tanh"):
            nodes.append(helper.make_node(kind.capitalize(), [cur], [out]))
        else:
            dtype = np.uint8 if kind == "quant_u8" else np.int8
            inits += [
                numpy_helper.from_array(np.array(0.125, np.float32), f"qs{k}"),
                numpy_helper.from_array(np.array(0, dtype), f"qz{k}"),
            ]
            nodes += [
                helper.make_node("QuantizeLinear", [cur, f"qs{k}", f"qz{k}"], [f"q{k}"]),
                helper.make_node("DequantizeLinear", [f"q{k}", f"qs{k}", f"qz{k}"], [out]),
            ]
        cur = out
    nodes.append(helper.make_node("Identity", [cur], ["Y"]))
    graph = helper.make_graph(
        nodes,
        "chain",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(SHAPE))],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, shape)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    model.ir_version = 10
    return model


def _moves(module) -> int:
    return sum(isinstance(op, (qrnn.ReshapeOp, qrnn.TransposeOp)) for op in module.walk())


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(STEPS), st.integers(0, 20)), min_size=1, max_size=8))
def test_random_chains_keep_their_values(steps):
    model = _chain_model(steps)
    x = {"X": (np.random.default_rng(1).standard_normal((5, *SHAPE)) * 3).astype(np.float32)}
    before = import_model(model)
    after = apply_pipeline(import_model(model), ["qrnn-canonicalize"])
    a, b = run_function(before, x)["Y"], run_function(after, x)["Y"]
    assert a.shape == b.shape and np.array_equal(a, b)
    assert _moves(after) <= _moves(before)


@pytest.mark.parametrize("quant, folded", [("quant_u8", True), ("quant_s8", False)])
def test_relu_folds_only_into_a_quantizer_without_negative_values(quant, folded):
    after = apply_pipeline(import_model(_chain_model([("relu", 0), (quant, 0)])), ["qrnn-canonicalize"])
    assert (not any(isinstance(op, qrnn.ReluOp) for op in after.walk())) == folded


def test_rational_kernel_survives_sinking():
    from xdsl.dialects import func
    from xdsl.dialects.builtin import ModuleOp, TensorType, f32
    from xdsl.ir import Block, BlockArgument, Region

    block = Block(arg_types=[TensorType(f32, (2, 3))])
    t = qrnn.TransposeOp(block.args[0], (1, 0))
    s = qrnn.SigmoidOp(t.result, "rational")
    block.add_ops([t, s, func.ReturnOp(s.result)])
    fn = func.FuncOp("main", ([TensorType(f32, (2, 3))], [TensorType(f32, (3, 2))]), Region(block))
    module = apply_pipeline(ModuleOp([fn]), ["qrnn-canonicalize"])
    sig = next(op for op in module.walk() if isinstance(op, qrnn.SigmoidOp))
    assert sig.kernel_name == "rational" and isinstance(sig.input, BlockArgument)  # sunk below the transpose
