"""Write a small ONNX LSTM/GRU operator model: make_rnn.py OUT.onnx (lstm|gru) [forward|reverse|bidirectional] [options].

Options: qcdq (weights as QuantizeLinear -> DequantizeLinear of float initializers), layout1, lbr (GRU
linear_before_reset=1), nobias, clip, peephole, batch2 (for the error cases).
"""

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out, kind = sys.argv[1], sys.argv[2].upper()
direction = sys.argv[3] if len(sys.argv) > 3 else "forward"
opts = set(sys.argv[4:])
T, I, H, batch = 5, 3, 4, 2 if "batch2" in opts else 1
D, G = (2 if direction == "bidirectional" else 1), (4 if kind == "LSTM" else 3)
rng = np.random.default_rng(0)
arrays = {
    "W": rng.standard_normal((D, G * H, I)),
    "R": rng.standard_normal((D, G * H, H)),
    "B": rng.standard_normal((D, 2 * G * H)),
}
inits, nodes = [], []
for name, a in arrays.items():
    a = (a * 0.5).astype(np.float32)
    if "qcdq" in opts and name in "WR":
        inits += [
            numpy_helper.from_array(a, name + "_f"),
            numpy_helper.from_array(np.array(0.125, np.float32), name + "_s"),
            numpy_helper.from_array(np.array(0, np.int8), name + "_z"),
        ]
        nodes += [
            helper.make_node("QuantizeLinear", [name + "_f", name + "_s", name + "_z"], [name + "_q"], name="q" + name),
            helper.make_node("DequantizeLinear", [name + "_q", name + "_s", name + "_z"], [name], name="dq" + name),
        ]
    else:
        inits.append(numpy_helper.from_array(a, name))
inputs = ["X", "W", "R", "" if "nobias" in opts else "B"]
if "peephole" in opts:
    inits.append(numpy_helper.from_array(np.zeros((D, 3 * H), np.float32), "P"))
    inputs += ["", "", "", "P"]
attrs = {"hidden_size": H, "direction": direction}
if "layout1" in opts:
    attrs["layout"] = 1
if "lbr" in opts:
    attrs["linear_before_reset"] = 1
if "clip" in opts:
    attrs["clip"] = 3.0
outputs = ["Y", "Y_h"] + (["Y_c"] if kind == "LSTM" else [])
nodes.append(helper.make_node(kind, inputs, outputs, name=kind.lower(), **attrs))
x_shape = [batch, T, I] if "layout1" in opts else [T, batch, I]
y_shape = [batch, T, D, H] if "layout1" in opts else [T, D, batch, H]
h_shape = [batch, D, H] if "layout1" in opts else [D, batch, H]
vi = lambda n, s: helper.make_tensor_value_info(n, TensorProto.FLOAT, s)  # noqa: E731
graph = helper.make_graph(
    nodes,
    kind.lower(),
    [vi("X", x_shape)],
    [vi("Y", y_shape)] + [vi(o, h_shape) for o in outputs[1:]],
    initializer=inits,
)
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)]), out)
