"""One quantized GRU layer/direction as an ONNX ``Scan`` body with QCDQ quantizers; numpy only.

The GRU counterpart of ``scan_lstm.cell_body``, written with the same pieces (``QuantSpec``, ``OnnxGraph.qcdq``,
``GateOnnx``): weights are float initializers holding on-grid values followed by QuantizeLinear -> [Clip] ->
DequantizeLinear, biases are int32 initializers -> DequantizeLinear, and every arithmetic result the hardware
needs as a quantized value is followed by a QCDQ. The body (state ``h`` [H], scan input ``x_t`` [I], outputs
``h'`` and ``y_t = h'``), with ``q_*`` the quantizers of ``GruLayerOnnx``::

    z  = q_sig_z(Sigmoid(q_acc_z((x_t Wz + h Rz) + bz)))                 bz = Wb_z + Rb_z
    r  = q_sig_r(Sigmoid(q_acc_r((x_t Wr + h Rr) + br)))                 br = Wb_r + Rb_r
    linear_before_reset = 0:
      n = q_tanh(Tanh(q_acc_n((x_t Wh + q_rh(r * h) Rh) + bh)))          bh = Wb_h + Rb_h
    linear_before_reset = 1:
      n = q_tanh(Tanh(q_acc_n(q_xn(x_t Wh + Wb_h) + q_rh(r * q_hr(h Rh + Rb_h)))))
    h' = q_h(q_p((1 - z) * n) + q_p(z * h))

As in the LSTM cell (c' = q_c(q_c(f * c) + q_c(i * g))), each product of the state update is quantized
before the sum, so precision legalization sees two quantized addends it can align. ``1 - z`` gets no
quantizer of its own (as the LSTM's coupled forget gate quant_sig(1.0) - i): with the sigmoid grids lstmc
quantize writes (scale 1 / (2^b - 1), or 2^-(b-1) with power-of-two scales) 1.0 is a code of z's grid, so
1 - z is on that grid too (exactly so with power-of-two scales; otherwise up to float32 rounding, which
precision legalization accounts for like any other float32 step).
The bias of a gate is on the grid input scale * weight scale of its x-path (int32); with linear_before_reset
the recurrent bias Rb_h is added to h Rh on the grid h scale * Rh scale instead.

With linear_before_reset, both matrix products of n are quantized before they meet (q_xn, q_hr): lstmc's
streaming pass (qrnn-to-dataflow) turns an accumulator into a matrix-vector unit only when every term of it is
a matrix product, so x_t Wh + Wb_h and h Rh + Rb_h are each such an accumulator (units over x_t and over h,
next to the z/r unit over [x_t; h]), and the sum with the reset product r * q_hr(...) is an elementwise one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import onnx
from onnx import TensorProto, helper

from lstmc.export.scan_lstm import GateOnnx, OnnxGraph, QuantSpec, axis_attr

# our gate names, in the ONNX gate order of W, R and B (z, r, h)
GRU_GATES = ("update", "reset", "candidate")


@dataclass
class GruLayerOnnx:
    """Everything one GRU layer/direction contributes to its Scan body (see the module docstring)."""

    name: str
    input_size: int
    hidden: int
    reverse: bool
    linear_before_reset: bool
    gates: dict[str, GateOnnx]  # update (z), reset (r), candidate (n); candidate.bias = Wb_h (+ Rb_h if lbr 0)
    recurrent_bias: Optional[tuple[np.ndarray, np.ndarray]]  # lbr 1: Rb_h as (int32 [H], scale), else None
    recurrent_acc: Optional[QuantSpec]  # lbr 1: q_hr on h Rh + Rb_h, else unused
    input_acc: Optional[QuantSpec]  # lbr 1: q_xn on x_t Wh + Wb_h, else unused
    reset_product: Optional[QuantSpec]  # q_rh on r * h (lbr 0) or r * q_hr(h Rh + Rb_h) (lbr 1)
    product: Optional[QuantSpec]  # q_p on (1 - z) * n and z * h
    output: Optional[QuantSpec]  # q_h on the new hidden state

    def specs(self):
        for p in self.gates.values():
            yield from (p.wx[1], p.wh[1], p.acc, p.act)
        yield from (self.recurrent_acc, self.input_acc, self.reset_product, self.product, self.output)


class _Body:
    """The nodes of one GRU body, with helpers for its quantized weights, biases and matrix products."""

    def __init__(self, lay: GruLayerOnnx):
        self.lay = lay
        self.g = OnnxGraph(lay.name + "_")
        self.h, self.x = self.g.prefix + "h_in", self.g.prefix + "x_t"

    def times(self, v: str, weight: tuple[np.ndarray, QuantSpec], base: str) -> str:
        """MatMul of a vector by a quantized weight initializer (QCDQ'd)."""
        w = self.g.qcdq(self.g.const(base, weight[0]), weight[1], base)
        return self.g.op("MatMul", [v, w], f"{base}_mm")

    def plus_bias(self, v: str, bias: Optional[tuple[np.ndarray, np.ndarray]], base: str) -> str:
        """v + DequantizeLinear(int32 bias); v itself without a bias."""
        if bias is None:
            return v
        ints, scale = bias
        g = self.g
        b = g.op(
            "DequantizeLinear",
            [
                g.const(base, ints),
                g.const(f"{base}_scale", scale),
                g.const(f"{base}_zp", np.zeros(scale.shape, np.int32)),
            ],
            f"{base}_dq",
            **axis_attr(0 if scale.ndim else None),
        )
        return g.op("Add", [v, b], f"{base}_sum")

    def activation(self, gate: str, acc: str, act_op: str) -> str:
        """q_act(act(q_acc(acc)))."""
        p, g = self.lay.gates[gate], self.g
        acc = g.qcdq(acc, p.acc, f"{gate}_acc")
        return g.qcdq(g.op(act_op, [acc], f"{gate}_{act_op.lower()}"), p.act, f"{gate}_act")

    def gate(self, gate: str, h_side: str, act_op: str) -> str:
        """q_act(act(q_acc((x Wx + h_side Wh) + b))): the z and r gates, and n without linear_before_reset."""
        p, g = self.lay.gates[gate], self.g
        xh = g.op(
            "Add", [self.times(self.x, p.wx, f"w_x_{gate}"), self.times(h_side, p.wh, f"w_h_{gate}")], f"{gate}_xh"
        )
        return self.activation(gate, self.plus_bias(xh, p.bias, f"b_{gate}"), act_op)

    def product(self, a: str, b: str, spec: Optional[QuantSpec], base: str) -> str:
        return self.g.qcdq(self.g.op("Mul", [a, b], base), spec, base)


def gru_body(lay: GruLayerOnnx) -> onnx.GraphProto:
    """The Scan body of one GRU layer/direction: state h, scan input x_t; outputs h' and y_t = h'."""
    body = _Body(lay)
    g, h = body.g, body.h
    z = body.gate("update", h, "Sigmoid")
    r = body.gate("reset", h, "Sigmoid")
    if lay.linear_before_reset:
        p = lay.gates["candidate"]
        hr = g.qcdq(
            body.plus_bias(body.times(h, p.wh, "w_h_candidate"), lay.recurrent_bias, "b_h_candidate"),
            lay.recurrent_acc,
            "h_rh",
        )
        xw = g.qcdq(
            body.plus_bias(body.times(body.x, p.wx, "w_x_candidate"), p.bias, "b_candidate"), lay.input_acc, "x_wh"
        )
        acc = g.op("Add", [xw, body.product(r, hr, lay.reset_product, "r_hrh")], "candidate_xh")
        n = body.activation("candidate", acc, "Tanh")
    else:
        n = body.gate("candidate", body.product(r, h, lay.reset_product, "r_h"), "Tanh")
    one_minus_z = g.op("Sub", [g.const("one", np.array(1.0, np.float32)), z], "one_minus_z")
    keep_n = body.product(one_minus_z, n, lay.product, "one_minus_z_n")
    keep_h = body.product(z, h, lay.product, "z_h")
    h_out = g.qcdq(g.op("Add", [keep_n, keep_h], "h_sum"), lay.output, "h_new", out=g.prefix + "h_out")
    y_out = g.op("Identity", [h_out], out=g.prefix + "y_t")  # a graph output name cannot appear twice

    def vi(name, n):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [n])

    return helper.make_graph(
        g.nodes,
        g.prefix + "body",
        [vi(h, lay.hidden), vi(body.x, lay.input_size)],
        [vi(h_out, lay.hidden), vi(y_out, lay.hidden)],
        initializer=g.inits,
    )
