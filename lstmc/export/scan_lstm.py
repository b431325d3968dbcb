"""The Brevitas LSTM cell as ONNX ``Scan`` bodies with QCDQ (or QONNX ``Quant``) quantizers; numpy only.

This is the one place that writes the cell: the Brevitas exporter (``brevitas_lstm``, which reads a trained
``QuantLSTM`` with torch), the ``QuantLSTMCell`` frontend (which reads Brevitas' own ``export_qonnx`` node) and
post-training quantization (which calibrates a float LSTM) all describe each layer/direction as a
``LayerOnnx`` and let ``build_model`` / ``cell_body`` write the graph, so the three produce the same ONNX.

Graph layout (``H`` hidden size, ``D`` directions, ``L`` layers)::

    X [T, I] --QCDQ(io_quant)--> Scan(l0 fwd) --+--> Concat(-1) --> Scan(l1 ...) ... --> Y [T, H*D]
                             \\-> Scan(l0 bwd) --/                               h_n, c_n [L*D, H]

Every Scan has state variables ``h`` [H] and ``c`` [H], one scan input ``x_t`` and one scan output ``h_t``;
reverse directions use ``scan_input_directions = scan_output_directions = [1]``. The body mirrors
``brevitas.nn.quant_rnn._QuantLSTMCell.forward_iter`` operation for operation (float32 addition order
included)::

    acc_k = QCDQ_acc_k((MatMul(x_t, Wx_k) + MatMul(h, Wh_k)) + b_k)          k in i, f, g, o
    i, f, o = QCDQ_sig_k(Sigmoid(acc_k));  g = QCDQ_tanh(Tanh(acc_g))
    (cifg: f = quant_sig_i(1.0) - i)
    c' = QCDQ_c(QCDQ_c(f * c) + QCDQ_c(i * g))
    h' = QCDQ_io(o * QCDQ_tanh_h(Tanh(c')))

Weights are float initializers (holding the already quantized values) followed by
QuantizeLinear -> [Clip] -> DequantizeLinear; biases are int32 initializers -> DequantizeLinear.
All constants of a Scan body are initializers of that body (qonnx' ``QCDQToQuant`` needs them there).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

QONNX_DOMAIN = "qonnx.custom_op.general"
MIN_OPSET = 19  # Scan with the current attributes, QuantizeLinear/DequantizeLinear per-axis
INT16_OPSET = 21  # first opset whose QuantizeLinear produces int16/uint16
GATES = ("input", "forget", "cell", "output")


# --------------------------------------------------------------------------------------------------------
# Quantizer description (numpy only)
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QuantSpec:
    """An integer quantizer as ONNX sees it: ``y = (clip(round(x / scale) + zp, lo, hi) - zp) * scale``."""

    name: str  # human readable origin, for error messages and node names
    scale: np.ndarray  # float32, shape () or (N,)
    zero_point: np.ndarray  # integer valued, same shape as scale
    bit_width: int
    signed: bool
    narrow: bool
    axis: Optional[int] = None  # channel axis when scale is a vector

    @property
    def int_range(self) -> tuple[int, int]:
        """Same as brevitas.function.ops.min_int / max_int."""
        b = self.bit_width
        if self.signed:
            return -(2 ** (b - 1)) + int(self.narrow), 2 ** (b - 1) - 1
        return 0, 2**b - 1 - int(self.narrow)

    @property
    def onnx_type(self) -> int:
        if self.bit_width <= 8:
            return TensorProto.INT8 if self.signed else TensorProto.UINT8
        return TensorProto.INT16 if self.signed else TensorProto.UINT16

    @property
    def np_type(self):
        return helper.tensor_dtype_to_np_dtype(self.onnx_type)

    @property
    def needs_clip(self) -> bool:
        info = np.iinfo(self.np_type)
        return self.int_range != (int(info.min), int(info.max))

    def fake_quant(self, x: np.ndarray) -> np.ndarray:
        """numpy emulation of QuantizeLinear -> Clip -> DequantizeLinear (float32, round half to even)."""
        scale, zp = self._broadcast(self.scale, x.ndim), self._broadcast(self.zero_point, x.ndim)
        lo, hi = self.int_range
        q = np.clip(np.round(x.astype(np.float32) / scale) + zp, lo, hi)
        return ((q - zp).astype(np.float32) * scale).astype(np.float32)

    def _broadcast(self, a: np.ndarray, ndim: int) -> np.ndarray:
        if a.ndim == 0:
            return a
        assert self.axis is not None  # per-channel parameters have an axis
        shape = [1] * ndim
        shape[self.axis] = a.shape[0]
        return a.reshape(shape)


def check_spec(spec: QuantSpec) -> QuantSpec:
    """Refuse what QuantizeLinear/Clip/DequantizeLinear cannot express exactly."""
    if not 1 <= spec.bit_width <= 16 or (spec.signed and spec.bit_width < 2):
        raise ValueError(
            f"{spec.name}: {'signed' if spec.signed else 'unsigned'} {spec.bit_width}-bit quantization cannot "
            "be expressed with ONNX QuantizeLinear (supported: 2..16 bits signed, 1..16 bits unsigned)"
        )
    if not (np.all(np.isfinite(spec.scale)) and np.all(spec.scale > 0)):
        raise ValueError(f"{spec.name}: scales must be finite and positive, got {spec.scale}")
    lo, hi = spec.int_range
    if np.any(spec.zero_point < lo) or np.any(spec.zero_point > hi):
        raise ValueError(f"{spec.name}: zero point {spec.zero_point} outside the integer range [{lo}, {hi}]")
    return spec


# --------------------------------------------------------------------------------------------------------
# Graph building
# --------------------------------------------------------------------------------------------------------
def axis_attr(axis: Optional[int]) -> dict[str, Any]:
    """The `axis` attribute of a per-channel QuantizeLinear/DequantizeLinear, none for per-tensor ones."""
    return {} if axis is None else {"axis": axis}


class OnnxGraph:
    """Accumulates nodes and initializers with unique, prefixed names."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._count = 0

    def fresh(self, base: str) -> str:
        self._count += 1
        return f"{self.prefix}{base}_{self._count}"

    def const(self, base: str, value: np.ndarray) -> str:
        name = self.fresh(base)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(
        self, op_type: str, inputs: list[str], base: Optional[str] = None, out: Optional[str] = None, **attrs
    ) -> str:
        out = out or self.fresh(base or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=self.fresh(op_type), **attrs))
        return out

    def qcdq(self, x: str, spec: Optional[QuantSpec], base: str, out: Optional[str] = None) -> str:
        """QuantizeLinear -> [Clip] -> DequantizeLinear; identity (or Identity node if ``out``) for None.
        Every QCDQ gets its own scale/zero-point/clip initializers so QCDQToQuant can rewrite each alone."""
        if spec is None:
            return self.op("Identity", [x], out=out) if out else x
        axis = axis_attr(spec.axis)
        scale = self.const(f"{base}_scale", spec.scale.astype(np.float32))
        zp = self.const(f"{base}_zp", spec.zero_point.astype(spec.np_type))
        q = self.op("QuantizeLinear", [x, scale, zp], base=f"{base}_q", **axis)
        if spec.needs_clip:
            lo, hi = spec.int_range
            q = self.op(
                "Clip",
                [
                    q,
                    self.const(f"{base}_min", np.array(lo, spec.np_type)),
                    self.const(f"{base}_max", np.array(hi, spec.np_type)),
                ],
                base=f"{base}_clip",
            )
        return self.op("DequantizeLinear", [q, scale, zp], base=f"{base}_dq", out=out, **axis)


@dataclass
class GateOnnx:
    wx: tuple[np.ndarray, QuantSpec]  # (W_x^T [I, H], spec)
    wh: tuple[np.ndarray, QuantSpec]  # (W_h^T [H, H], spec)
    bias: Optional[tuple[np.ndarray, np.ndarray]]  # (int32 [H], scale)
    acc: Optional[QuantSpec]  # gate accumulator quantizer
    act: Optional[QuantSpec]  # sigmoid / tanh output quantizer


@dataclass
class LayerOnnx:
    """Everything one layer/direction (Brevitas _QuantLSTMLayer) contributes to its Scan body."""

    name: str
    input_size: int
    hidden: int
    reverse: bool
    gates: dict[str, GateOnnx]  # no "forget" entry under cifg
    cifg_one: Optional[float]  # quantized 1.0 of the input sigmoid quantizer, under cifg
    cell_state: Optional[QuantSpec]
    hidden_tanh: Optional[QuantSpec]
    output: Optional[QuantSpec]  # io_quant, applied to the new hidden state

    def specs(self):
        for p in self.gates.values():
            yield from (p.wx[1], p.wh[1], p.acc, p.act)
        yield from (self.cell_state, self.hidden_tanh, self.output)


def cell_body(lay: LayerOnnx) -> onnx.GraphProto:
    """The Scan body of one layer/direction; op order mirrors _QuantLSTMCell.forward_iter."""
    g = OnnxGraph(lay.name + "_")
    h, c, x = g.prefix + "h_in", g.prefix + "c_in", g.prefix + "x_t"

    def gate(name: str, act_op: str) -> str:
        p = lay.gates[name]
        wx = g.qcdq(g.const(f"w_x_{name}", p.wx[0]), p.wx[1], f"w_x_{name}")
        wh = g.qcdq(g.const(f"w_h_{name}", p.wh[0]), p.wh[1], f"w_h_{name}")
        # Brevitas: acc_quant(F.linear(x, W_x) + F.linear(h, W_h) + bias), i.e. (x-path + h-path) + bias
        acc = g.op("Add", [g.op("MatMul", [x, wx], f"{name}_x"), g.op("MatMul", [h, wh], f"{name}_h")], f"{name}_xh")
        if p.bias is not None:
            ints, scale = p.bias
            b = g.op(
                "DequantizeLinear",
                [
                    g.const(f"b_{name}", ints),
                    g.const(f"b_{name}_scale", scale),
                    g.const(f"b_{name}_zp", np.zeros(scale.shape, np.int32)),
                ],
                f"b_{name}_dq",
                **axis_attr(0 if scale.ndim else None),
            )
            acc = g.op("Add", [acc, b], f"{name}_acc")
        acc = g.qcdq(acc, p.acc, f"{name}_acc")
        return g.qcdq(g.op(act_op, [acc], f"{name}_{act_op.lower()}"), p.act, f"{name}_act")

    i_gate = gate("input", "Sigmoid")
    if lay.cifg_one is None:
        f_gate = gate("forget", "Sigmoid")
    else:
        f_gate = g.op("Sub", [g.const("cifg_one", np.array(lay.cifg_one, np.float32)), i_gate], "forget_cifg")
    g_gate = gate("cell", "Tanh")
    o_gate = gate("output", "Sigmoid")

    fc = g.qcdq(g.op("Mul", [f_gate, c], "f_c"), lay.cell_state, "f_c")
    ig = g.qcdq(g.op("Mul", [i_gate, g_gate], "i_g"), lay.cell_state, "i_g")
    c_out = g.qcdq(g.op("Add", [fc, ig], "c_sum"), lay.cell_state, "c_new", out=g.prefix + "c_out")
    tanh_c = g.qcdq(g.op("Tanh", [c_out], "tanh_c"), lay.hidden_tanh, "tanh_c")
    h_out = g.qcdq(g.op("Mul", [o_gate, tanh_c], "o_tanh_c"), lay.output, "h_new", out=g.prefix + "h_out")
    y_out = g.op("Identity", [h_out], out=g.prefix + "y_t")  # a graph output name cannot appear twice

    def vi(name, n):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [n])

    return helper.make_graph(
        g.nodes,
        g.prefix + "body",
        [vi(h, lay.hidden), vi(c, lay.hidden), vi(x, lay.input_size)],
        [vi(h_out, lay.hidden), vi(c_out, lay.hidden), vi(y_out, lay.hidden)],
        initializer=g.inits,
    )


def build_model(
    layers: list[list[LayerOnnx]],
    input_spec: Optional[QuantSpec],
    seq_len: Optional[int],
    opset: Optional[int] = None,
    quant_format: str = "qcdq",
    producer: str = "lstmc",
) -> onnx.ModelProto:
    """The one-sequence Scan/QCDQ model of ``layers`` (per layer, its directions: forward first).

    input_spec: the quantizer of ``X`` (Brevitas' io_quant of layer 0), or None.
    seq_len: T of the input ``X`` [T, I]; None for a symbolic length "T".
    opset: ONNX opset; default 19, or 21 when some quantizer needs more than 8 bits.
    quant_format: "qcdq", or "quant" for QONNX Quant nodes (via qonnx' QCDQToQuant; needs qonnx).
    """
    if quant_format not in ("qcdq", "quant"):
        raise ValueError(f"quant_format must be 'qcdq' or 'quant', got {quant_format!r}")
    first = layers[0][0]
    hidden, n_layers, n_dirs = first.hidden, len(layers), len(layers[0])
    main = OnnxGraph("")
    seq = main.qcdq("X", input_spec, "x")  # layer 0 quantizes its input (quantize_output_only=False)
    # Every main-graph constant has a single use: qonnx' cleanup would otherwise duplicate shared ones under
    # random names, making the Quant-format export non-deterministic.
    h_finals, c_finals = [], []
    for li, layer in enumerate(layers):
        last_layer = li == n_layers - 1
        dir_outputs = []
        for lay in layer:
            outs = [f"{lay.name}_h_T", f"{lay.name}_c_T", "Y" if last_layer and n_dirs == 1 else f"{lay.name}_Y"]
            rev = [int(lay.reverse)]
            h0, c0 = (main.const(f"{lay.name}_{v}0", np.zeros(hidden, np.float32)) for v in "hc")
            main.nodes.append(
                helper.make_node(  # initial h and c: zeros, not quantized, as in Brevitas
                    "Scan",
                    [h0, c0, seq],
                    outs,
                    name=f"{lay.name}_scan",
                    num_scan_inputs=1,
                    body=cell_body(lay),
                    scan_input_directions=rev,
                    scan_output_directions=rev,
                )
            )
            h_finals.append(outs[0])
            c_finals.append(outs[1])
            dir_outputs.append(outs[2])
        # Layers > 0 consume the previous output as is: it is already quantized by the (shared) io_quant and
        # Brevitas does not re-quantize it (quantize_output_only=True).
        seq = (
            dir_outputs[0]
            if n_dirs == 1
            else main.op("Concat", dir_outputs, out="Y" if last_layer else f"l{li}_Y", axis=-1)
        )

    for finals, out in ((h_finals, "h_n"), (c_finals, "c_n")):  # [L*D, H], Brevitas' order: layer, then dir
        rows = [main.op("Unsqueeze", [n, main.const("axes", np.array([0], np.int64))], f"{n}_row") for n in finals]
        if len(rows) == 1:
            main.nodes[-1].output[0] = out
        else:
            main.op("Concat", rows, out=out, axis=0)

    specs = [input_spec] + [s for layer in layers for lay in layer for s in lay.specs()]
    needed = INT16_OPSET if any(s is not None and s.bit_width > 8 for s in specs) else MIN_OPSET
    if opset is None:
        opset = needed
    elif opset < needed:
        raise ValueError(
            f"opset {opset} is too old: this model needs opset >= {needed}"
            + (" (int16 QuantizeLinear for quantizers wider than 8 bits)" if needed > MIN_OPSET else "")
        )

    t_dim = seq_len if seq_len is not None else "T"
    ld = n_layers * n_dirs
    graph = helper.make_graph(
        main.nodes,
        "quant_lstm",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [t_dim, first.input_size])],
        [
            helper.make_tensor_value_info("Y", TensorProto.FLOAT, [t_dim, hidden * n_dirs]),
            helper.make_tensor_value_info("h_n", TensorProto.FLOAT, [ld, hidden]),
            helper.make_tensor_value_info("c_n", TensorProto.FLOAT, [ld, hidden]),
        ],
        initializer=main.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name=producer)
    model.ir_version = min(model.ir_version, 10)  # keep loadable by older onnxruntime releases
    model = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    onnx.checker.check_model(model, full_check=True)
    if quant_format == "quant":
        model = to_qonnx_quant(model)
    return model


def to_qonnx_quant(model: onnx.ModelProto) -> onnx.ModelProto:
    """QCDQ -> QONNX Quant nodes with qonnx' own transformation, applied to the Scan bodies too."""
    try:
        from qonnx.core.modelwrapper import ModelWrapper  # pyright: ignore[reportMissingImports]
        from qonnx.transformation.qcdq_to_qonnx import QCDQToQuant  # pyright: ignore[reportMissingImports]
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("quant_format='quant' needs the qonnx package (pip install qonnx)") from e
    wrapped = ModelWrapper(copy.deepcopy(model)).transform(QCDQToQuant(), apply_to_subgraphs=True)
    out = wrapped.model
    if not any(o.domain == QONNX_DOMAIN for o in out.opset_import):
        out.opset_import.append(helper.make_opsetid(QONNX_DOMAIN, 1))
    left = [n.op_type for n in _all_nodes(out.graph) if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    if left:
        raise ValueError(f"QCDQToQuant left {len(left)} QuantizeLinear/DequantizeLinear nodes unconverted")
    return out


def _all_nodes(graph: onnx.GraphProto):
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _all_nodes(attr.g)
