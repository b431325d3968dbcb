"""`lstmc quantize`: the quantizers chosen from calibrated ranges, and the rewrite of an LSTM/GRU node into
Scan/QCDQ nodes (lstmc.export), with the opset it needs."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper

from lstmc.errors import LstmcError
from lstmc.export.scan_gru import GRU_GATES, GruLayerOnnx, gru_body
from lstmc.export.scan_lstm import (
    GATES,
    GateOnnx,
    LayerOnnx,
    OnnxGraph,
    QuantSpec,
    cell_body,
    check_spec,
)
from lstmc.quantize_calibration import STATES, DirStats, RnnNode, ValueRange, gate_params
from lstmc.quantize_config import QuantConfig


# ------------------------------------------------------------------------------------------------ quantizers
def _po2_up(scale: np.ndarray) -> np.ndarray:
    """Round every scale up to a power of two (exact: a power of two stays itself)."""
    s = np.asarray(scale, np.float64)
    mant, exp = np.frexp(s)  # s = mant * 2^exp, mant in [0.5, 1)
    return np.where(mant == 0.5, s, np.ldexp(1.0, exp)).astype(np.float64)


def _finish(scale, cfg: QuantConfig) -> np.ndarray:
    scale = np.asarray(scale, np.float64)
    if cfg.power_of_two:
        scale = _po2_up(scale)
    return scale.astype(np.float32)


def symmetric_spec(name: str, bound: float, bits: int, cfg: QuantConfig) -> QuantSpec:
    """Signed full-range quantizer whose max code 2^(b-1)-1 stands for ``bound``."""
    bound = bound if bound > 0 and math.isfinite(bound) else 1.0
    scale = _finish(bound / (2 ** (bits - 1) - 1), cfg)
    return check_spec(QuantSpec(name, scale.reshape(()), np.zeros((), np.int64), bits, True, False))


def _sigmoid_spec(name: str, cfg: QuantConfig) -> QuantSpec:
    bits = cfg.sigmoid_bits
    scale = _finish(1.0 / (2**bits - 1), cfg)
    return check_spec(QuantSpec(name, scale.reshape(()), np.zeros((), np.int64), bits, False, False))


def _tanh_spec(name: str, cfg: QuantConfig) -> QuantSpec:
    bits = cfg.tanh_bits
    scale = _finish(1.0 / (2 ** (bits - 1) - 1), cfg)
    return check_spec(QuantSpec(name, scale.reshape(()), np.zeros((), np.int64), bits, True, False))


def _weight(name: str, w_t: np.ndarray, cfg: QuantConfig) -> tuple[np.ndarray, QuantSpec]:
    """(W^T quantized onto its grid [K, N], spec): symmetric, narrow, per output channel (axis 1) or tensor."""
    bits = cfg.weight_bits
    top = 2 ** (bits - 1) - 1
    if cfg.weight_per_channel:
        m = np.abs(w_t).max(axis=0).astype(np.float64)
        m = np.where(m > 0, m, 1.0)
        scale, axis = _finish(m / top, cfg), 1
    else:
        m = float(np.abs(w_t).max()) if w_t.size else 0.0
        scale, axis = _finish((m if m > 0 else 1.0) / top, cfg).reshape(()), None
    narrow = bits < 16  # a narrow 16-bit range needs an int16 Clip (none in onnxruntime); same values anyway
    spec = check_spec(QuantSpec(name, scale, np.zeros(scale.shape, np.int64), bits, True, narrow, axis))
    q = spec.fake_quant(w_t)
    assert np.array_equal(spec.fake_quant(q), q)
    return q, spec


def _bias(b: np.ndarray, input_scale: np.ndarray, weight_scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scale = (np.float32(input_scale) * weight_scale.astype(np.float32)).astype(np.float32)
    ints = np.clip(np.round(b.astype(np.float64) / scale.astype(np.float64)), -(2**31), 2**31 - 1)
    return ints.astype(np.int32), scale


def _where(rnn: RnnNode, d: int) -> tuple[str, str]:
    """("fwd" | "bwd", "<label>.<fwd|bwd>") of direction d: the layer name suffix and the quantizer name stem."""
    direction = "bwd" if rnn.reverse[d] else "fwd"
    return direction, f"{rnn.label}.{direction}"


def _gate(
    rnn: RnnNode,
    d: int,
    gate: str,
    bias: np.ndarray,
    input_spec: QuantSpec,
    act: QuantSpec,
    acc_bound: float,
    cfg: QuantConfig,
) -> GateOnnx:
    """One gate's quantized weights, its int32 bias (``bias`` on the grid input scale * W_x scale; none when
    the node has no B) and its accumulator / activation quantizers."""
    what = _where(rnn, d)[1]
    wx, wh = gate_params(rnn, d, gate)[:2]
    qx = _weight(f"{what}.{gate}.input_weight", wx, cfg)
    qh = _weight(f"{what}.{gate}.hidden_weight", wh, cfg)
    return GateOnnx(
        wx=qx,
        wh=qh,
        bias=_bias(bias, input_spec.scale, qx[1].scale) if rnn.B is not None else None,
        acc=symmetric_spec(f"{what}.{gate}_acc", acc_bound, cfg.acc_bits, cfg),
        act=act,
    )


def lstm_layer(
    lstm: RnnNode,
    d: int,
    prefix: str,
    input_spec: QuantSpec,
    output: QuantSpec,
    cell_state: QuantSpec,
    stats: DirStats,
    cfg: QuantConfig,
) -> LayerOnnx:
    direction, what = _where(lstm, d)
    gates = {}
    for gate in GATES:
        wb, rb = gate_params(lstm, d, gate)[2:]
        act = _tanh_spec(f"{what}.cell_tanh", cfg) if gate == "cell" else _sigmoid_spec(f"{what}.{gate}_sigmoid", cfg)
        gates[gate] = _gate(lstm, d, gate, wb + rb, input_spec, act, stats.acc[gate].bound(cfg.percentile), cfg)
    return LayerOnnx(
        name=f"{prefix}{direction}",
        input_size=lstm.input_size,
        hidden=lstm.hidden,
        reverse=lstm.reverse[d],
        gates=gates,
        cifg_one=None,
        cell_state=cell_state,
        hidden_tanh=_tanh_spec(f"{what}.hidden_state_tanh", cfg),
        output=output,
    )


def gru_layer(
    gru: RnnNode,
    d: int,
    prefix: str,
    input_spec: QuantSpec,
    output: QuantSpec,
    ranges: dict[str, ValueRange],
    cfg: QuantConfig,
) -> GruLayerOnnx:
    """The quantizers of one GRU direction (scan_gru's module docstring names them):
    z, r: sigmoid_bits; n: tanh_bits; each gate accumulator, and q_hr on h Rh + Rb_h and q_xn on
    x Wh + Wb_h (linear_before_reset): acc_bits;
    q_rh on r * h: io_bits (it is the vector the recurrent MVAU of n reads, like h), on r * (h Rh + Rb_h):
    acc_bits (an addend of n's accumulator); q_p on (1 - z) * n and z * h: cell_state_bits (the GRU's state
    update, as the LSTM's c update); h: the node's output quantizer (io_bits). Scales from the calibrated ranges."""
    direction, what = _where(gru, d)
    lbr, pct = gru.linear_before_reset, cfg.percentile
    gates = {}
    for gate in GRU_GATES:
        wb, rb = gate_params(gru, d, gate)[2:]
        bias = wb if gate == "candidate" and lbr else wb + rb  # with lbr, Rb_h goes with h Rh (recurrent_bias)
        act = (
            _tanh_spec(f"{what}.candidate_tanh", cfg)
            if gate == "candidate"
            else _sigmoid_spec(f"{what}.{gate}_sigmoid", cfg)
        )
        gates[gate] = _gate(gru, d, gate, bias, input_spec, act, ranges[gate].bound(pct), cfg)
    recurrent_bias = recurrent_acc = input_acc = None
    if lbr:
        if gru.B is not None:
            rb = gate_params(gru, d, "candidate")[3]
            recurrent_bias = _bias(rb, output.scale, gates["candidate"].wh[1].scale)
        recurrent_acc = symmetric_spec(f"{what}.recurrent_acc", ranges["recurrent"].bound(pct), cfg.acc_bits, cfg)
        input_acc = symmetric_spec(f"{what}.candidate_input_acc", ranges["candidate_x"].bound(pct), cfg.acc_bits, cfg)
    return GruLayerOnnx(
        name=f"{prefix}{direction}",
        input_size=gru.input_size,
        hidden=gru.hidden,
        reverse=gru.reverse[d],
        linear_before_reset=lbr,
        gates=gates,
        recurrent_bias=recurrent_bias,
        recurrent_acc=recurrent_acc,
        input_acc=input_acc,
        reset_product=symmetric_spec(
            f"{what}.reset_product", ranges["reset_product"].bound(pct), cfg.acc_bits if lbr else cfg.io_bits, cfg
        ),
        product=symmetric_spec(f"{what}.state_product", ranges["product"].bound(pct), cfg.cell_state_bits, cfg),
        output=output,
    )


# ------------------------------------------------------------------------------------------------ rewrite
def all_names(graph: onnx.GraphProto) -> set[str]:
    names = {i.name for i in graph.input} | {o.name for o in graph.output} | {i.name for i in graph.initializer}
    for node in graph.node:
        names.update(node.input)
        names.update(node.output)
        names.add(node.name)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                names |= all_names(attr.g)
    return names


def unique_prefix(label: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_]", "_", label) or "lstm"
    prefix, k = f"{base}_q_", 0
    while any(n.startswith(prefix) for n in taken):
        k += 1
        prefix = f"{base}_q{k}_"
    return prefix


@dataclass
class NodeRewrite:
    nodes: list[onnx.NodeProto]
    inits: list[onnx.TensorProto]
    layers: list  # LayerOnnx (LSTM) or GruLayerOnnx (GRU), one per direction
    input_spec: QuantSpec


def _state_specs(lay) -> dict[str, QuantSpec]:
    """The quantizer of each recurrent state of a calibrated layer: h (and c for an LSTM)."""
    specs = {"h": lay.output} if isinstance(lay, GruLayerOnnx) else {"h": lay.output, "c": lay.cell_state}
    return {key: _calibrated(spec) for key, spec in specs.items()}


def _calibrated(spec: QuantSpec | None) -> QuantSpec:
    assert spec is not None, "the layer is calibrated"
    return spec


def rewrite_node(
    rnn: RnnNode, prefix: str, layers: list, input_spec: QuantSpec, consts: dict[str, np.ndarray]
) -> NodeRewrite:
    g = OnnxGraph(prefix)
    H, D = rnn.hidden, len(layers)
    keys = STATES[rnn.kind]

    def axes(*values):
        return g.const("axes", np.array(values, np.int64))

    # quantize first, then drop the batch axis: the integer levels reshape only quantized codes
    x = g.op("Squeeze", [g.qcdq(rnn.x, input_spec, "x_in"), axes(1)], "x")  # [T, 1, I] -> [T, I]
    finals = {key: [] for key in keys + ("y",)}
    for d, lay in enumerate(layers):
        states = []
        for key, spec in _state_specs(lay).items():
            name = rnn.initial[key]
            if name is None:
                states.append(g.const(f"{key}0", np.zeros(H, np.float32)))
            elif name in consts:  # constant initial state: put it on the state's grid, as every later state is
                states.append(g.const(f"{key}0", spec.fake_quant(np.asarray(consts[name], np.float32)[d, 0])))
            else:  # run-time initial state (one direction): [1, 1, H] -> [H] -> QCDQ
                states.append(g.op("Squeeze", [g.qcdq(name, spec, f"{key}0"), axes(0, 1)], f"{key}0"))
        rev = [int(lay.reverse)]
        outs = [g.fresh(f"{lay.name}_{key}_T") for key in keys] + [g.fresh(f"{lay.name}_y")]
        body = gru_body(lay) if isinstance(lay, GruLayerOnnx) else cell_body(lay)
        g.nodes.append(
            helper.make_node(
                "Scan",
                states + [x],
                outs,
                name=g.fresh(f"{lay.name}_scan"),
                num_scan_inputs=1,
                body=body,
                scan_input_directions=rev,
                scan_output_directions=rev,
            )
        )
        for key, out in zip(keys + ("y",), outs):
            finals[key].append(out)
    # node outputs: Y [T, D, 1, H] from the per-step outputs, then Y_h (, Y_c) [D, 1, H] from the final states
    for out, key in zip(rnn.node.output, ("y",) + keys):
        if not out:
            continue
        unsq, axis = ((1, 2), 1) if key == "y" else ((0, 1), 0)
        parts = [g.op("Unsqueeze", [v, axes(*unsq)], f"{key}_unsq", out=out if D == 1 else None) for v in finals[key]]
        if D > 1:
            g.op("Concat", parts, out=out, axis=axis)
    return NodeRewrite(g.nodes, g.inits, layers, input_spec)


def _default_opset(model: onnx.ModelProto) -> int:
    return max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=1)


def convert_opset(model: onnx.ModelProto, needed: int) -> bool:
    """Bring a model older than ``needed`` to that opset (in place) with onnx' version converter, so the
    nodes kept as they are stay valid under the new opset. True when converted."""
    current = _default_opset(model)
    if current >= needed:
        return False
    from onnx import version_converter

    try:
        converted = version_converter.convert_version(model, needed)
    except Exception as e:  # the converter raises assorted errors
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise LstmcError(
            f"the model uses opset {current} and onnx' version converter cannot bring it to opset "
            f"{needed}, which the quantized model needs: {first}"
        ) from e
    model.CopyFrom(converted)
    return True


def set_opset(model: onnx.ModelProto, needed: int) -> None:
    """Default-domain opset = max(current, needed); IR version high enough for it."""
    default = [o for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not default:
        model.opset_import.append(helper.make_opsetid("", needed))
        default = [model.opset_import[-1]]
    for o in default:
        o.version = max(o.version, needed)
    model.ir_version = max(model.ir_version, helper.find_min_ir_version_for(list(model.opset_import), True))
