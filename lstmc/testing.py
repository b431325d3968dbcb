"""Random quantized LSTMs in the Scan/QCDQ (or QONNX Quant) format, built with onnx.helper only.

Used by the test suite and the benchmarks to make models the exporter never produced ("models you have not
seen"): any sizes, bit widths, signedness, narrow ranges, power-of-two or float scales, per-channel weights,
multi-layer, bidirectional. No torch needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from lstmc.export.scan_lstm import axis_attr


@dataclass
class Q:
    """One quantizer: bits, signed, narrow, scale (scalar or per-channel list)."""

    bits: int = 8
    signed: bool = True
    narrow: bool = False
    scale: float | list[float] = 0.125
    zero_point: int = 0

    @property
    def qrange(self) -> tuple[int, int]:
        if self.signed:
            return -(2 ** (self.bits - 1)) + int(self.narrow), 2 ** (self.bits - 1) - 1
        return 0, 2**self.bits - 1 - int(self.narrow)

    @property
    def tensor_scale(self) -> float:
        """The scale of a per-tensor quantizer."""
        assert not isinstance(self.scale, list), "a per-channel quantizer has no single scale"
        return self.scale


@dataclass
class LstmSpec:
    input_size: int = 4
    hidden_size: int = 8
    seq_len: int = 10
    num_layers: int = 1
    bidirectional: bool = False
    weight: Q = field(default_factory=lambda: Q(4, True, True, 0.25))
    io: Q = field(default_factory=lambda: Q(8, True, False, 2.0**-5))
    acc: Q = field(default_factory=lambda: Q(8, True, False, 2.0**-4))
    sigmoid: Q = field(default_factory=lambda: Q(6, False, False, 2.0**-6))
    tanh: Q = field(default_factory=lambda: Q(6, True, False, 2.0**-5))
    cell: Q = field(default_factory=lambda: Q(8, True, False, 2.0**-5))
    bias_bits: int = 16
    per_channel_weights: bool = False
    quant_format: str = "qcdq"  # or "quant" (QONNX)
    seed: int = 0


class _GraphBuilder:
    def __init__(self, spec: LstmSpec, prefix: str = ""):
        self.spec, self.prefix = spec, prefix
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def name(self, base: str) -> str:
        self.count += 1
        return f"{self.prefix}{base}_{self.count}"

    def const(self, base: str, array: npt.ArrayLike) -> str:
        n = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(array), n))
        return n

    def node(self, op: str, inputs: list[str], base: str, domain: str = "", **attrs) -> str:
        out = self.name(base)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out + "_node", domain=domain, **attrs))
        return out

    def quant(self, x: str, q: Q, base: str, axis: int | None = None) -> str:
        scale = np.asarray(q.scale, np.float32)
        if self.spec.quant_format == "quant":
            s = self.const(base + "_scale", scale.reshape((1, -1) if scale.ndim else ()))
            z = self.const(
                base + "_zp", np.full(scale.reshape((1, -1) if scale.ndim else ()).shape, q.zero_point, np.float32)
            )
            b = self.const(base + "_bw", np.float32(q.bits))
            return self.node(
                "Quant",
                [x, s, z, b],
                base + "_q",
                domain="qonnx.custom_op.general",
                signed=int(q.signed),
                narrow=int(q.narrow),
                rounding_mode="ROUND",
            )
        if q.bits > 16 or 8 < q.bits < 16:
            # onnxruntime has no int16 Clip kernel, so only 16-bit ranges fit a 16-bit container.
            raise ValueError(f"QCDQ cannot express a {q.bits}-bit quantizer (use <= 8 or exactly 16 bits)")
        dtype = {(True, 8): np.int8, (False, 8): np.uint8, (True, 16): np.int16, (False, 16): np.uint16}[
            (q.signed, 8 if q.bits <= 8 else 16)
        ]
        s = self.const(base + "_scale", scale)
        z = self.const(base + "_zp", np.full(scale.shape, q.zero_point, dtype))
        kw: dict[str, Any] = {"axis": axis} if scale.ndim else {}
        qn = self.node("QuantizeLinear", [x, s, z], base + "_int", **kw)
        lo, hi = q.qrange
        info = np.iinfo(dtype)
        if (lo, hi) != (info.min, info.max):
            qn = self.node(
                "Clip", [qn, self.const(base + "_lo", dtype(lo)), self.const(base + "_hi", dtype(hi))], base + "_clip"
            )
        return self.node("DequantizeLinear", [qn, s, z], base + "_dq", **kw)


def _weight_quant(spec: LstmSpec, w: np.ndarray, rng) -> tuple[Q, int | None]:
    """The weight quantizer for matrix w [K, N]: per-tensor, or per output channel (axis 1)."""
    lo, hi = spec.weight.qrange
    if spec.per_channel_weights:
        scales = (np.abs(w).max(axis=0) / max(hi, 1)).astype(np.float32) + np.float32(1e-3)
        return Q(spec.weight.bits, spec.weight.signed, spec.weight.narrow, scales.tolist()), 1
    return spec.weight, None


def _add_lstm_layers(main: _GraphBuilder, spec: LstmSpec, rng, x: str, input_size: int):
    """Scan nodes of every layer/direction reading x [T, input_size]: (last output, final h's, final c's)."""
    H = spec.hidden_size
    layer_input, in_size = x, input_size
    finals_h, finals_c = [], []
    for layer in range(spec.num_layers):
        dir_outputs = []
        for direction in range(2 if spec.bidirectional else 1):
            body = _GraphBuilder(spec, prefix=f"l{layer}d{direction}_")
            xt, h, c = body.name("x_t"), body.name("h"), body.name("c")
            gates = {}
            for gate, act in (("i", "Sigmoid"), ("f", "Sigmoid"), ("g", "Tanh"), ("o", "Sigmoid")):
                w = (rng.standard_normal((in_size, H)) * 0.5).astype(np.float32)
                r = (rng.standard_normal((H, H)) * 0.5).astype(np.float32)
                wq, wax = _weight_quant(spec, w, rng)
                rq, rax = _weight_quant(spec, r, rng)
                wd = body.quant(body.const(f"W{gate}", w), wq, f"W{gate}", wax)
                rd = body.quant(body.const(f"R{gate}", r), rq, f"R{gate}", rax)
                bscale = np.float32(np.max(np.asarray(spec.io.scale)) * np.max(np.asarray(spec.weight.scale)))
                bias = (rng.standard_normal(H) * 0.3).astype(np.float32)
                bq = Q(spec.bias_bits, True, False, float(bscale))
                bd = (
                    body.quant(body.const(f"b{gate}", bias), bq, f"b{gate}")
                    if spec.bias_bits <= 16
                    else body.const(f"b{gate}", bias)
                )
                acc = body.node(
                    "Add",
                    [
                        body.node("Add", [body.node("MatMul", [xt, wd], f"x{gate}"), bd], f"xb{gate}"),
                        body.node("MatMul", [h, rd], f"h{gate}"),
                    ],
                    f"acc{gate}",
                )
                accq = body.quant(acc, spec.acc, f"acc{gate}q")
                gates[gate] = body.quant(
                    body.node(act, [accq], f"act{gate}"), spec.tanh if act == "Tanh" else spec.sigmoid, f"{gate}q"
                )
            c_new = body.quant(
                body.node(
                    "Add",
                    [body.node("Mul", [gates["f"], c], "fc"), body.node("Mul", [gates["i"], gates["g"]], "ig")],
                    "c_sum",
                ),
                spec.cell,
                "c_new",
            )
            tc = body.quant(body.node("Tanh", [c_new], "tanh_c"), spec.tanh, "tanh_cq")
            h_new = body.quant(body.node("Mul", [gates["o"], tc], "h_raw"), spec.io, "h_new")
            h_out = body.node("Identity", [h_new], "h_out")
            vi = lambda n, s: helper.make_tensor_value_info(n, TensorProto.FLOAT, s)  # noqa: E731
            graph = helper.make_graph(
                body.nodes,
                f"lstm_l{layer}_d{direction}",
                [vi(h, [H]), vi(c, [H]), vi(xt, [in_size])],
                [vi(h_new, [H]), vi(c_new, [H]), vi(h_out, [H])],
                initializer=body.inits,
            )
            h0 = main.const(f"h0_l{layer}d{direction}", np.zeros(H, np.float32))
            c0 = main.const(f"c0_l{layer}d{direction}", np.zeros(H, np.float32))
            outs = [
                main.name(f"h_n_l{layer}d{direction}"),
                main.name(f"c_n_l{layer}d{direction}"),
                main.name(f"Y_l{layer}d{direction}"),
            ]
            main.nodes.append(
                helper.make_node(
                    "Scan",
                    [h0, c0, layer_input],
                    outs,
                    name=f"lstm_l{layer}_d{direction}",
                    body=graph,
                    num_scan_inputs=1,
                    scan_input_directions=[direction],
                    scan_output_directions=[direction],
                )
            )
            dir_outputs.append(outs[2])
            finals_h.append(outs[0])
            finals_c.append(outs[1])
        layer_input = (
            dir_outputs[0] if len(dir_outputs) == 1 else main.node("Concat", dir_outputs, f"Y_l{layer}", axis=1)
        )
        in_size = H * len(dir_outputs)
    return layer_input, finals_h, finals_c


def build_lstm(spec: LstmSpec) -> onnx.ModelProto:
    """A quantized LSTM (gates i, f, g, o) as Scan nodes with QCDQ/Quant quantizers in the body."""
    rng = np.random.default_rng(spec.seed)
    main = _GraphBuilder(spec)
    H = spec.hidden_size
    x = main.quant("X", spec.io, "x_in")
    layer_input, finals_h, finals_c = _add_lstm_layers(main, spec, rng, x, spec.input_size)
    main.nodes.append(helper.make_node("Identity", [layer_input], ["Y"], name="output"))
    unsq = [main.node("Unsqueeze", [h, main.const("ax", np.array([0], np.int64))], "hn") for h in finals_h]
    main.nodes.append(helper.make_node("Concat", unsq, ["h_n"], name="h_n_concat", axis=0))
    dirs = 2 if spec.bidirectional else 1
    graph = helper.make_graph(
        main.nodes,
        "qlstm",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [spec.seq_len, spec.input_size])],
        [
            helper.make_tensor_value_info("Y", TensorProto.FLOAT, [spec.seq_len, H * dirs]),
            helper.make_tensor_value_info("h_n", TensorProto.FLOAT, [spec.num_layers * dirs, H]),
        ],
        initializer=main.inits,
    )
    opsets = [helper.make_opsetid("", 21)]
    if spec.quant_format == "quant":
        opsets.append(helper.make_opsetid("qonnx.custom_op.general", 1))
    model = helper.make_model(graph, opset_imports=opsets, producer_name="lstmc.testing")
    model.ir_version = 10
    return model


@dataclass
class ConvLstmSpec:
    """A DeepLOB-style classifier: convolutions over the feature axis of each step (kernel height 1), or
    2-d ones over steps x features (a kernel kh steps high, stride sh in time: the LSTM then runs over the
    (T - kh) // sh + 1 output rows), an LSTM, a dense head on the last step. ONNX layout as examples/stock
    exports it."""

    features: int = 8
    seq_len: int = 6
    # (C_out, kw, stride) over the features, or (C_out, kw, stride, kh, sh) over steps x features
    convs: list[tuple[int, ...]] = field(default_factory=lambda: [(4, 2, 2), (4, 4, 1)])
    lstm: LstmSpec = field(default_factory=lambda: LstmSpec(hidden_size=6))
    classes: int = 3
    act: Q = field(default_factory=lambda: Q(8, False, False, 2.0**-4))  # relu outputs
    head_out: Q = field(default_factory=lambda: Q(8, True, False, 2.0**-3))
    per_channel_weights: bool = False
    seed: int = 0


def build_conv_lstm(spec: ConvLstmSpec) -> onnx.ModelProto:
    """X [T, F] -> QCDQ -> [1, 1, T, F] -> (Conv -> Relu -> QCDQ)* -> [C, T] -> Transpose -> LSTM Scan ->
    Gather(T - 1) -> MatMul -> Add -> QCDQ -> logits [classes]."""
    rng = np.random.default_rng(spec.seed)
    lstm = spec.lstm
    main = _GraphBuilder(lstm)
    T, F = spec.seq_len, spec.features
    x = main.quant("X", lstm.io, "x_in")
    x = main.node("Reshape", [x, main.const("shape", np.array([1, 1, T, F], np.int64))], "image")
    channels, width, in_scale = 1, F, float(np.max(np.asarray(lstm.io.scale)))
    for k, conv in enumerate(spec.convs):
        c_out, kw, stride, kh, sh = (*conv, 1, 1) if len(conv) == 3 else conv
        w = (rng.standard_normal((c_out, channels, kh, kw)) * 0.6).astype(np.float32)
        wq, axis = lstm.weight, None
        if spec.per_channel_weights:
            lo, hi = lstm.weight.qrange
            scales = (2.0 ** np.ceil(np.log2(np.abs(w).reshape(c_out, -1).max(axis=1) / hi))).astype(np.float32)
            wq, axis = Q(lstm.weight.bits, lstm.weight.signed, lstm.weight.narrow, scales.tolist()), 0
        wd = main.quant(main.const(f"conv{k}_W", w), wq, f"conv{k}_W", axis)
        b_scale = np.asarray(wq.scale, np.float32) * np.float32(in_scale)
        b_codes = rng.integers(-40, 40, c_out).astype(np.int32)
        bd = main.node(
            "DequantizeLinear",
            [
                main.const(f"conv{k}_B", b_codes),
                main.const(f"conv{k}_Bs", b_scale.astype(np.float32)),
                main.const(f"conv{k}_Bz", np.zeros(b_scale.shape, np.int32)),
            ],
            f"conv{k}_Bdq",
            **axis_attr(0 if b_scale.ndim else None),
        )
        y = main.node("Conv", [x, wd, bd], f"conv{k}", kernel_shape=[kh, kw], strides=[sh, stride])
        x = main.quant(main.node("Relu", [y], f"relu{k}"), spec.act, f"act{k}")
        channels, width, in_scale = c_out, (width - kw) // stride + 1, float(spec.act.tensor_scale)
        T = (T - kh) // sh + 1
    if width != 1:
        raise ValueError(f"the convolutions leave width {width}; the last one must cover the whole axis")
    x = main.node("Reshape", [x, main.const("shape", np.array([channels, T], np.int64))], "features")
    x = main.node("Transpose", [x], "steps", perm=[1, 0])
    lstm_spec = LstmSpec(**{**lstm.__dict__, "input_size": channels})
    y, _, _ = _add_lstm_layers(main, lstm_spec, rng, x, channels)
    dirs = 2 if lstm.bidirectional else 1
    last = main.node("Gather", [y, main.const("last", np.array(T - 1, np.int64))], "last", axis=0)
    w = (rng.standard_normal((lstm.hidden_size * dirs, spec.classes)) * 0.6).astype(np.float32)
    wd = main.quant(main.const("head_W", w), lstm.weight, "head_W")
    b_scale = np.float32(np.float32(np.max(np.asarray(lstm.io.scale))) * np.float32(lstm.weight.tensor_scale))
    bd = main.node(
        "DequantizeLinear",
        [
            main.const("head_B", rng.integers(-40, 40, spec.classes).astype(np.int32)),
            main.const("head_Bs", b_scale),
            main.const("head_Bz", np.int32(0)),
        ],
        "head_Bdq",
    )
    logits = main.quant(
        main.node("Add", [main.node("MatMul", [last, wd], "head_mm"), bd], "head_acc"), spec.head_out, "head"
    )
    main.nodes.append(helper.make_node("Identity", [logits], ["logits"], name="output"))
    graph = helper.make_graph(
        main.nodes,
        "qconvlstm",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [spec.seq_len, F])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [spec.classes])],
        initializer=main.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], producer_name="lstmc.testing")
    model.ir_version = 10
    return model


def benchmark_cases(
    sequences: int, sizes: list[str], stock: bool, seed: int = 0
) -> list[tuple[str, onnx.ModelProto, dict]]:
    """(label, model, inputs of `sequences` sequences) for the throughput benchmarks: the shipped stock ConvLSTM
    (its shipped windows, repeated) and one generated LSTM per "I,H,T" size."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    rng = np.random.default_rng(seed)
    cases = []
    if stock:
        model = onnx.load(root / "examples" / "stock" / "model.onnx")
        shipped = np.load(root / "examples" / "stock" / "inputs.npz")
        cases.append(
            (
                "stock ConvLSTM",
                model,
                {k: np.resize(shipped[k], (sequences, *shipped[k].shape[1:])) for k in shipped.files},
            )
        )
    for size in sizes:
        i, h, t = (int(v) for v in size.split(","))
        note = " (FI-2010)" if (i, h, t) == (40, 64, 100) else ""
        model = build_lstm(LstmSpec(input_size=i, hidden_size=h, seq_len=t))
        cases.append(
            (
                f"I={i} H={h} T={t}{note}",
                model,
                {model.graph.input[0].name: rng.standard_normal((sequences, t, i)).astype(np.float32)},
            )
        )
    return cases
