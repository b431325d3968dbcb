"""FINN-GL's reference LSTM cell (qonnx ``notebooks/4_quant_lstm.ipynb``) as ONNX, built with numpy and onnx.

The cell shape is the notebook's; the code and the numbers are lstmc's own (random, seeded). One ``Scan`` with
the carried state ``h``, ``c`` and the scanned input as *column vectors* ``[H, 1]`` / ``[I, 1]``, and everything
of the cell inside its body, opset 14::

    x_q  = DQ(Q(x_t))                           input quantizer inside the body (+ a dead Identity on its codes)
    W_k, U_k = DQ(Clip(Q(W_k)))                 narrow signed weights [H, I] / [H, H], one scale per gate
    a_k  = MatMul(W_k, x_q) + MatMul(U_k, h) + b_k             float bias [H, 1], no quantizer
    f, i, o = DQ'(Q(Sigmoid(DQ(Q(a_k)))))        unsigned (UINT8 zero point) sigmoid outputs
    g    = DQ(Q(Tanh(DQ(Q(a_g)))))               gate order as in the notebook: forget, input, output, cell
    c_t  = DQ(Q(f * c)) + DQ(Q(i * g))           carried UNquantized: a sum of two codes on one scale
    h_t  = DQ(Q(DQ(Q(Tanh(DQ(Q(c_t))))) * o))   and an Identity of it as the scan output

The forget gate's pre-activation is quantized with one scale and dequantized with another (the notebook's
``ql_1_e1`` by ``scale_3``, ``dql_1_e1`` by ``scale_4``; `same_qdq_scale` makes them equal). Quantizers narrower
than 8 bits are QuantizeLinear -> Clip -> DequantizeLinear with INT8/UINT8 Clip bounds; the weights are always
clipped to the narrow range (the notebook's +-127). Every intermediate tensor has a typed value_info, the body
has an initializer nobody reads (``scale_test``), ``h0``/``c0`` are graph inputs and the scanned input is declared
``[None, I, 1]`` (dynamic sequence length) unless `seq_len` is given.

Graph: inputs ``scan_hidden_state`` [H, 1], ``scan_cell_state`` [H, 1], ``scan_input`` [T, I, 1]; outputs
``scan_out_hidden_state``, ``scan_out_cell_state`` [H, 1] and ``scan_out_hidden_state_concat`` [T, H, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

GATE_ORDER = ("f", "i", "o", "c")  # the notebook's equation order: forget, input, output, cell
H_IN, C_IN, X_IN = "h_t-1", "c_t-1", "inp"
INPUTS = ("scan_hidden_state", "scan_cell_state", "scan_input")


@dataclass(frozen=True)
class FinnCellSpec:
    """Sizes, bit widths and scales of one notebook cell. Activation quantizers (input, pre-activations, tanh,
    cell products, h) are signed with `act_bits`, sigmoid outputs unsigned with `sigmoid_bits`, weights signed
    narrow with `weight_bits`. Scales are powers of two, or (`po2=False`) float32 values with 24-bit mantissas."""

    input_size: int = 4
    hidden_size: int = 6
    weight_bits: int = 8
    act_bits: int = 8
    sigmoid_bits: int = 8
    po2: bool = True
    same_qdq_scale: bool = True
    seq_len: int | None = None  # None: symbolic ([None, I, 1]), as in the notebook
    seed: int = 0


@dataclass(frozen=True)
class _Q:
    scale: float
    bits: int
    signed: bool
    narrow: bool = False

    @property
    def range(self) -> tuple[int, int]:
        if self.signed:
            return -(2 ** (self.bits - 1)) + int(self.narrow), 2 ** (self.bits - 1) - 1
        return 0, 2**self.bits - 1

    @property
    def dtype(self):
        return np.int8 if self.signed else np.uint8


def _scale(rng: np.random.Generator, po2: bool, magnitude: float, qmax: int) -> float:
    ideal = magnitude / qmax
    if po2:  # rounded down: a little saturation, and at 2 bits still more than one nonzero code in use
        return float(2.0 ** np.floor(np.log2(ideal)))
    return float(np.float32(ideal * rng.uniform(0.6, 1.7)))


class _Body:
    """Nodes, initializers and typed value_infos of the Scan body."""

    def __init__(self):
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.infos: list[onnx.ValueInfoProto] = []
        self.shapes: dict[str, list[int]] = {}

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        self.shapes[name] = list(np.shape(value))
        return name

    def node(self, op: str, inputs: list[str], out: str, shape: list[int], elem=TensorProto.FLOAT) -> str:
        self.nodes.append(helper.make_node(op, inputs, [out], name=f"{op.lower()}_{out}"))
        self.infos.append(helper.make_tensor_value_info(out, elem, shape))
        self.shapes[out] = shape
        return out

    def qdq(self, x: str, q: _Q, out: str, dq_scale: float | None = None) -> str:
        """QuantizeLinear -> [Clip] -> DequantizeLinear, with the DequantizeLinear's own scale if given."""
        shape = self.shapes[x]
        elem = TensorProto.INT8 if q.signed else TensorProto.UINT8
        zp = self.const(f"{out}_zp", np.array(0, q.dtype))
        scale = self.const(f"{out}_scale", np.array(q.scale, np.float32))
        code = self.node("QuantizeLinear", [x, scale, zp], f"{out}_ql", shape, elem)
        lo, hi = q.range
        info = np.iinfo(q.dtype)
        if (lo, hi) != (info.min, info.max):
            bounds = [self.const(f"{out}_min", np.array(lo, q.dtype)), self.const(f"{out}_max", np.array(hi, q.dtype))]
            code = self.node("Clip", [code] + bounds, f"{out}_clp", shape, elem)
        dscale = scale if dq_scale is None else self.const(f"{out}_dq_scale", np.array(dq_scale, np.float32))
        return self.node("DequantizeLinear", [code, dscale, zp], out, shape)


def cell_quantizers(spec: FinnCellSpec) -> dict[str, _Q]:
    """Every activation quantizer of the cell, by role, drawn from `spec.seed` (the weights' come later)."""
    rng = np.random.default_rng([spec.seed, 1])
    a, s = spec.act_bits, spec.sigmoid_bits
    amax, smax = 2 ** (a - 1), 2**s  # magnitude / 2^bits: at 2 bits a signed quantizer still reaches +-magnitude / 2

    def signed(magnitude: float) -> _Q:
        return _Q(_scale(rng, spec.po2, magnitude, amax), a, True)

    qs = {"x": signed(2.0), "h": signed(1.0), "c": signed(1.5), "tanh_c": signed(1.0), "g": signed(1.0)}
    for k in GATE_ORDER:
        qs[f"pre_{k}"] = signed(4.0)
    for k in "fio":
        qs[f"sig_{k}"] = _Q(_scale(rng, spec.po2, 1.0, smax), s, False)
    # the forget gate's pre-activation is dequantized by another scale (the notebook's scale_4)
    pre = qs["pre_f"].scale
    if spec.same_qdq_scale:
        qs["pre_f_dq"] = qs["pre_f"]
    else:
        other = pre * 2.0 if spec.po2 else float(np.float32(pre * rng.uniform(0.7, 1.45)))
        qs["pre_f_dq"] = _Q(other, a, True)
    return qs


def build_finn_cell(spec: FinnCellSpec) -> onnx.ModelProto:
    """The notebook's Scan cell (see the module docstring) with random weights and float biases from `seed`."""
    rng = np.random.default_rng(spec.seed)
    I, H = spec.input_size, spec.hidden_size
    qs = cell_quantizers(spec)
    wmax = 2 ** (spec.weight_bits - 1) - 1
    b = _Body()
    b.shapes.update({H_IN: [H, 1], C_IN: [H, 1], X_IN: [I, 1]})

    # input quantizer inside the body, with a dead Identity on its integer codes (the notebook's id_0_input)
    xq = qs["x"]
    zp_x = b.const("inp_zp", np.array(0, np.int8))
    s_x = b.const("inp_scale", np.array(xq.scale, np.float32))
    x_code = b.node("QuantizeLinear", [X_IN, s_x, zp_x], "ql_input_out", [I, 1], TensorProto.INT8)
    b.node("Identity", [x_code], "first_input_out", [I, 1], TensorProto.INT8)
    if xq.range != (-128, 127):
        lo, hi = xq.range
        x_code = b.node(
            "Clip",
            [x_code, b.const("inp_min", np.array(lo, np.int8)), b.const("inp_max", np.array(hi, np.int8))],
            "clp_input_out",
            [I, 1],
            TensorProto.INT8,
        )
    x_dq = b.node("DequantizeLinear", [x_code, s_x, zp_x], "dql_input_out", [I, 1])
    b.const("scale_test", np.array(xq.scale, np.float32))  # read by nothing, as in the notebook

    gates: dict[str, str] = {}
    for k in GATE_ORDER:
        w = (rng.standard_normal((H, I)) * 0.6).astype(np.float32)
        u = (rng.standard_normal((H, H)) * 0.4).astype(np.float32)
        bias = (rng.standard_normal((H, 1)) * 0.5).astype(np.float32)
        wq = _Q(
            _scale(rng, spec.po2, float(max(np.abs(w).max(), np.abs(u).max())), wmax),
            spec.weight_bits,
            True,
            narrow=True,
        )
        w_dq = b.qdq(b.const(f"W_{k}", w), wq, f"dql_w{k}_out")
        u_dq = b.qdq(b.const(f"U_{k}", u), wq, f"dql_u{k}_out")
        wx = b.node("MatMul", [w_dq, x_dq], f"out_m1_{k}", [H, 1])
        uh = b.node("MatMul", [u_dq, H_IN], f"out_m2_{k}", [H, 1])
        acc = b.node(
            "Add", [b.node("Add", [wx, uh], f"out_add1_{k}", [H, 1]), b.const(f"b_{k}", bias)], f"{k}_t_ba", [H, 1]
        )
        dq_scale = qs["pre_f_dq"].scale if k == "f" else None
        pre = b.qdq(acc, qs[f"pre_{k}"], f"{k}_t_dql1", dq_scale)
        if k == "c":
            gates[k] = b.qdq(b.node("Tanh", [pre], "c_t_partial", [H, 1]), qs["g"], "c_t_dql2")
        else:
            gates[k] = b.qdq(b.node("Sigmoid", [pre], f"{k}_t", [H, 1]), qs[f"sig_{k}"], f"{k}_t_dql2")

    fc = b.qdq(b.node("Mul", [gates["f"], C_IN], "out_el_mul1_e5", [H, 1]), qs["c"], "fifth_dql1")
    ig = b.qdq(b.node("Mul", [gates["i"], gates["c"]], "out_el_mul2_e5", [H, 1]), qs["c"], "fifth_dql2")
    c_t = b.node("Add", [fc, ig], "c_t", [H, 1])  # no quantizer: the carried cell state is this sum
    c_q = b.qdq(c_t, qs["c"], "h_t_dql")
    tanh_c = b.qdq(b.node("Tanh", [c_q], "out_tanh_e6", [H, 1]), qs["tanh_c"], "sixth_dql1")
    h_t = b.qdq(b.node("Mul", [tanh_c, gates["o"]], "h_t_inter", [H, 1]), qs["h"], "h_t")
    b.node("Identity", [h_t], "h_t_concat", [H, 1])

    def vi(name: str, shape: list[int | None]):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    body_io = {H_IN, C_IN, X_IN, "h_t", "c_t", "h_t_concat"}
    body = helper.make_graph(
        b.nodes,
        "qcdq_lstm_body",
        [vi(H_IN, [H, 1]), vi(C_IN, [H, 1]), vi(X_IN, [I, 1])],
        [vi("h_t", [H, 1]), vi("c_t", [H, 1]), vi("h_t_concat", [H, 1])],
        initializer=b.inits,
        value_info=[v for v in b.infos if v.name not in body_io],
    )
    scan = helper.make_node(
        "Scan",
        list(INPUTS),
        ["scan_out_hidden_state", "scan_out_cell_state", "scan_out_hidden_state_concat"],
        name="scan_lstm",
        num_scan_inputs=1,
        body=body,
    )
    T = spec.seq_len
    graph = helper.make_graph(
        [scan],
        "finn_lstm_scan",
        [vi(INPUTS[0], [H, 1]), vi(INPUTS[1], [H, 1]), vi(INPUTS[2], [T, I, 1])],
        [
            vi("scan_out_hidden_state", [H, 1]),
            vi("scan_out_cell_state", [H, 1]),
            vi("scan_out_hidden_state_concat", [T, H, 1]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], producer_name="lstmc.testing")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def finn_cell_inputs(spec: FinnCellSpec, count: int, seq_len: int, seed: int = 0) -> dict[str, np.ndarray]:
    """`count` sequences of `seq_len` steps: x standard normal (saturating the input quantizer now and then),
    h0 and c0 on their state's grids (h0: codes of the h quantizer; c0: sums of two codes of the cell-product
    quantizer, the range c_t takes), as float32 values a DequantizeLinear would give."""
    rng = np.random.default_rng(seed)
    qs = cell_quantizers(spec)
    H, I = spec.hidden_size, spec.input_size
    lo, hi = qs["h"].range
    h0 = rng.integers(lo, hi + 1, (count, H, 1)).astype(np.float32) * np.float32(qs["h"].scale)
    lo, hi = qs["c"].range
    c0 = rng.integers(2 * lo, 2 * hi + 1, (count, H, 1)).astype(np.float32) * np.float32(qs["c"].scale)
    x = (rng.standard_normal((count, seq_len, I, 1)) * 1.5).astype(np.float32)
    return dict(zip(INPUTS, (h0, c0, x)))
