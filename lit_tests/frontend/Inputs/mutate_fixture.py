"""Write a shipped fixture with one hostile mutation: mutate_fixture.py OUT.onnx MUTATION.

Mutations: opset99, subnormal-scale, bias-zp-int32-min, quant-signed-2, cell-nan-bit-width.
"""

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

FIXTURES = Path(__file__).resolve().parents[3] / "tests" / "fixtures"
out, mutation = sys.argv[1], sys.argv[2]


def body(model):
    return next(n for n in model.graph.node if n.op_type == "Scan").attribute[0].g


def set_init(graph, name, value):
    init = next(i for i in graph.initializer if i.name == name)
    init.CopyFrom(numpy_helper.from_array(np.asarray(value), name))


if mutation == "opset99":
    model = onnx.load(FIXTURES / "l1_w8_float.onnx")
    model.opset_import[0].version = 99
elif mutation == "subnormal-scale":
    model = onnx.load(FIXTURES / "l1_w8_float.onnx")
    set_init(body(model), "l0_fwd_input_acc_scale_36", np.float32(1e-45))
elif mutation == "bias-zp-int32-min":
    model = onnx.load(FIXTURES / "l1_w8_float.onnx")
    set_init(body(model), "l0_fwd_b_input_zp_31", np.int32(-(2**31)))
elif mutation == "quant-signed-2":
    model = onnx.load(FIXTURES / "l1_w8_float_quant.onnx")
    quant = next(n for n in model.graph.node if n.name == "Quant_X")
    next(a for a in quant.attribute if a.name == "signed").i = 2
elif mutation == "cell-nan-bit-width":
    model = onnx.load(FIXTURES / "l1_w8_float_cell.onnx")
    cell = next(n for n in model.graph.node if n.op_type == "QuantLSTMCell")
    model.graph.initializer.append(numpy_helper.from_array(np.array(np.nan, np.float32), "nan_bits"))
    cell.input[15 + 3 * 1 + 2] = "nan_bits"  # the cell_state quantizer's bit width
else:
    sys.exit(f"unknown mutation {mutation}")
onnx.save(model, out)
