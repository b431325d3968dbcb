"""Quantized LSTMs in torch's layout as Scan/QCDQ ONNX models, built with numpy and onnx only (no torch).

What a torch ``nn.LSTM`` / Brevitas ``QuantLSTM`` with ``batch_first=False`` gives a Scan exporter: the scanned
input ``X`` is ``[T, B, I]``, the carried state ``h``, ``c`` is ``[B, H]`` (one row per independent sequence),
and the gate weights are torch's ``W_ih [4H, I]`` / ``W_hh [4H, H]`` in torch's gate order i, f, g, o, used as
``MatMul(x_t, Transpose(W))`` with ``x_t [B, I]``. Each gate reads its ``[H, I]`` row block of ``W_ih`` as its
own initializer (Brevitas keeps one weight per gate; lstmc's importer has no Split), quantized by
QuantizeLinear -> [Clip] -> DequantizeLinear before the Transpose, per tensor or per output channel (axis 0,
Brevitas' per-channel weight scaling). The body follows ``lstmc.export.scan_lstm.cell_body`` (Brevitas'
``_QuantLSTMCell.forward_iter``) operation for operation::

    acc_k = QCDQ_acc((MatMul(x_t, W_ih_k^T) + MatMul(h, W_hh_k^T)) + b_k)          k in i, f, g, o
    i, f, o = QCDQ_sig(Sigmoid(acc));  g = QCDQ_tanh(Tanh(acc_g))
    c' = QCDQ_c(QCDQ_c(f * c) + QCDQ_c(i * g));  h' = QCDQ_io(o * QCDQ_tanh(Tanh(c')))

Graph outputs as torch returns them: ``Y [T, B, H]``, ``h_n [1, B, H]``, ``c_n [1, B, H]``. With ``batch=None``
the same layer (same weights, same seed) in torch's unbatched layout: ``X [T, I]``, state ``[H]``, ``Y [T, H]``,
``h_n``/``c_n`` ``[1, H]`` — the model a batch-1 one must compile to the same kernel as.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper

from lstmc.export.scan_lstm import OnnxGraph, QuantSpec, axis_attr, check_spec

TORCH_GATES = ("i", "f", "g", "o")  # torch's row-block order in W_ih / W_hh


@dataclass(frozen=True)
class TorchLstmSpec:
    """Sizes, bit widths and scales of one torch-layout LSTM layer. Scales are powers of two unless `po2` is
    False (then each is jittered by a seeded factor in [0.55, 1.8])."""

    input_size: int = 4
    hidden_size: int = 8
    seq_len: int = 6
    batch: int | None = 1  # None: unbatched ([T, I] input, [H] state)
    weight_bits: int = 4
    io_bits: int = 8
    acc_bits: int = 8
    sigmoid_bits: int = 6
    tanh_bits: int = 6
    cell_bits: int = 8
    per_channel_weights: bool = False
    po2: bool = True
    seed: int = 0


def _scale(rng, po2: bool, magnitude: float, qmax: int) -> float:
    ideal = magnitude / max(qmax, 1)
    return float(2.0 ** round(np.log2(ideal))) if po2 else float(np.float32(ideal * rng.uniform(0.55, 1.8)))


def _spec(name: str, rng, po2: bool, magnitude: float, bits: int, signed: bool, narrow: bool = False) -> QuantSpec:
    qmax = 2 ** (bits - 1) - 1 if signed else 2**bits - 1 - int(narrow)
    scale = np.array(_scale(rng, po2, magnitude, qmax), np.float32)
    return check_spec(QuantSpec(name, scale, np.zeros((), np.int64), bits, signed, narrow))


def _weight_spec(name: str, w: np.ndarray, spec: TorchLstmSpec, rng) -> QuantSpec:
    """Narrow signed weights, per tensor or per output channel (axis 0 of torch's [H, K] row block)."""
    qmax = 2 ** (spec.weight_bits - 1) - 1
    if not spec.per_channel_weights:
        return _spec(name, rng, spec.po2, float(np.abs(w).max()), spec.weight_bits, True, narrow=True)
    ideal = np.abs(w).max(axis=1) / qmax + np.float32(1e-3)
    scale = 2.0 ** np.round(np.log2(ideal)) if spec.po2 else ideal * rng.uniform(0.8, 1.25, ideal.shape)
    scale = scale.astype(np.float32)
    return check_spec(QuantSpec(name, scale, np.zeros(scale.shape, np.int64), spec.weight_bits, True, True, axis=0))


def build_torch_lstm(spec: TorchLstmSpec) -> onnx.ModelProto:
    """One Scan LSTM layer in torch's layout (see the module docstring); opset 19, deterministic in `seed`."""
    rng = np.random.default_rng(spec.seed)
    T, I, H = spec.seq_len, spec.input_size, spec.hidden_size
    B = [] if spec.batch is None else [spec.batch]  # the batch axis, or none
    io = _spec("io", rng, spec.po2, 1.0, spec.io_bits, True)
    acc = _spec("acc", rng, spec.po2, 4.0, spec.acc_bits, True)
    sig = _spec("sigmoid", rng, spec.po2, 1.0, spec.sigmoid_bits, False)
    tanh = _spec("tanh", rng, spec.po2, 1.0, spec.tanh_bits, True)
    cell = _spec("cell", rng, spec.po2, 2.0, spec.cell_bits, True)
    w_ih = (rng.standard_normal((4 * H, I)) * 0.5).astype(np.float32)  # torch's weight_ih_l0
    w_hh = (rng.standard_normal((4 * H, H)) * 0.5).astype(np.float32)  # torch's weight_hh_l0

    g = OnnxGraph("")
    h_in, c_in, x_in = "h_in", "c_in", "x_t"

    def gate(k: int, act_op: str, act: QuantSpec) -> str:
        name = TORCH_GATES[k]
        rows = slice(k * H, (k + 1) * H)

        def product(v: str, w: np.ndarray, what: str) -> tuple[str, QuantSpec]:
            q = _weight_spec(f"{what}_{name}", w, spec, rng)
            wq = g.qcdq(g.const(f"{what}_{name}", w), q, f"{what}_{name}")
            return g.op("MatMul", [v, g.op("Transpose", [wq], f"{what}_{name}_t", perm=[1, 0])], f"{name}_{what}"), q

        x_part, w_ih_q = product(x_in, w_ih[rows], "W_ih")
        xh = g.op("Add", [x_part, product(h_in, w_hh[rows], "W_hh")[0]], f"{name}_xh")
        # one int32 bias per gate (b_ih + b_hh) on the x-path's scale (per channel with the weights), as
        # Brevitas quantizes it
        b_scale = (np.float32(io.scale) * w_ih_q.scale).astype(np.float32)
        b_codes = rng.integers(-64, 64, H).astype(np.int32)
        b = g.op(
            "DequantizeLinear",
            [
                g.const(f"b_{name}", b_codes),
                g.const(f"b_{name}_scale", b_scale),
                g.const(f"b_{name}_zp", np.zeros(b_scale.shape, np.int32)),
            ],
            f"b_{name}_dq",
            **axis_attr(0 if b_scale.ndim else None),
        )
        a = g.qcdq(g.op("Add", [xh, b], f"{name}_acc"), acc, f"{name}_acc")
        return g.qcdq(g.op(act_op, [a], f"{name}_{act_op.lower()}"), act, f"{name}_act")

    i_g, f_g = gate(0, "Sigmoid", sig), gate(1, "Sigmoid", sig)
    g_g, o_g = gate(2, "Tanh", tanh), gate(3, "Sigmoid", sig)
    fc = g.qcdq(g.op("Mul", [f_g, c_in], "f_c"), cell, "f_c")
    ig = g.qcdq(g.op("Mul", [i_g, g_g], "i_g"), cell, "i_g")
    c_out = g.qcdq(g.op("Add", [fc, ig], "c_sum"), cell, "c_new", out="c_out")
    tanh_c = g.qcdq(g.op("Tanh", [c_out], "tanh_c"), tanh, "tanh_c")
    h_out = g.qcdq(g.op("Mul", [o_g, tanh_c], "o_tanh_c"), io, "h_new", out="h_out")
    y_out = g.op("Identity", [h_out], out="y_t")

    def vi(name: str, shape: list[int]):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    body = helper.make_graph(
        g.nodes,
        "lstm_body",
        [vi(h_in, [*B, H]), vi(c_in, [*B, H]), vi(x_in, [*B, I])],
        [vi(h_out, [*B, H]), vi(c_out, [*B, H]), vi(y_out, [*B, H])],
        initializer=g.inits,
    )
    main = OnnxGraph("")
    x = main.qcdq("X", io, "x")
    h0, c0 = (main.const(f"{v}0", np.zeros((*B, H), np.float32)) for v in "hc")
    main.nodes.append(
        helper.make_node("Scan", [h0, c0, x], ["h_T", "c_T", "Y"], name="lstm", num_scan_inputs=1, body=body)
    )
    axes = main.const("axes", np.array([0], np.int64))
    main.op("Unsqueeze", ["h_T", axes], out="h_n")
    main.op("Unsqueeze", ["c_T", axes], out="c_n")
    graph = helper.make_graph(
        main.nodes,
        "torch_lstm",
        [vi("X", [T, *B, I])],
        [vi("Y", [T, *B, H]), vi("h_n", [1, *B, H]), vi("c_n", [1, *B, H])],
        initializer=main.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)], producer_name="lstmc.testing")
    model.ir_version = 10
    model = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    onnx.checker.check_model(model, full_check=True)
    return model
