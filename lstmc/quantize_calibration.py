"""`lstmc quantize`: the float LSTM/GRU nodes a model holds (checked) and their calibration: a float simulation
of each direction that records the ranges the quantizers are chosen from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import onnx
from onnx import helper

from lstmc.errors import LstmcError
from lstmc.export.scan_gru import GRU_GATES
from lstmc.export.scan_lstm import (
    GATES,
)
from lstmc.frontend import graph_constants
from lstmc.frontend.onnx_rnn import rnn_attributes

# ONNX gate order in W, R and B: LSTM (i, o, f, c), GRU (z, r, h); index of each of our gates in it
ONNX_GATE_INDEX = {"input": 0, "output": 1, "forget": 2, "cell": 3, "update": 0, "reset": 1, "candidate": 2}
_INPUT_NAMES = {
    "LSTM": ("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"),
    "GRU": ("X", "W", "R", "B", "sequence_lens", "initial_h"),
}
STATES = {"LSTM": ("h", "c"), "GRU": ("h",)}  # recurrent states, in the order of the node's outputs Y_h, Y_c
_SUPPORTED_OPS = ("LSTM", "GRU")
_UNSUPPORTED_OPS = {"RNN"}


# ------------------------------------------------------------------------------------------------ LSTM/GRU nodes
@dataclass
class RnnNode:
    """One ONNX LSTM or GRU node, checked to be in scope, with its constant weights."""

    node: onnx.NodeProto
    index: int  # position in graph.node
    label: str  # node name, or a stable stand-in for an unnamed node
    W: np.ndarray  # [D, G*H, I] (G = 4 gates for an LSTM, 3 for a GRU)
    R: np.ndarray  # [D, G*H, H]
    B: Optional[np.ndarray]  # [D, 2*G*H]
    hidden: int
    input_size: int
    reverse: list[bool]  # per direction
    initial: dict[str, Optional[str]] = field(default_factory=dict)  # "h" (/"c") -> tensor name or None
    linear_before_reset: bool = False  # GRU only

    @property
    def kind(self) -> str:
        return self.node.op_type

    @property
    def x(self) -> str:
        return self.node.input[0]

    def error(self, message: str) -> LstmcError:
        return _node_error(self.node, self.label, message)


def _node_error(node: onnx.NodeProto, label: str, message: str) -> LstmcError:
    return LstmcError(f"node '{label}' ({node.op_type}): {message}")


def _label(node: onnx.NodeProto, index: int) -> str:
    return node.name or f"{node.op_type.lower()}_{index}"


def _parse_rnn(node: onnx.NodeProto, index: int, label: str, consts: dict[str, np.ndarray]) -> RnnNode:
    kind = node.op_type
    names = _INPUT_NAMES[kind]
    G = len(GATES) if kind == "LSTM" else len(GRU_GATES)
    article = "an" if kind == "LSTM" else "a"

    def err(message):
        return _node_error(node, label, message)

    checked = rnn_attributes(node, err)
    attrs, reverse, lbr = checked.attrs, list(checked.reverse), checked.linear_before_reset
    if checked.layout != 0:
        raise err(f"attribute 'layout' = {checked.layout} is not supported (only layout 0: X is [T, batch, I])")
    inputs = list(node.input) + [""] * (len(names) - len(node.input))
    if len(node.input) > len(names):
        raise err(f"has {len(node.input)} inputs, {article} {kind} has at most {len(names)}")
    if kind == "LSTM" and inputs[7]:
        raise err(f"input 'P' ('{inputs[7]}', peephole weights) is not supported")
    if inputs[4]:
        raise err(
            f"input 'sequence_lens' ('{inputs[4]}') is not supported: lstmc runs one whole sequence per "
            "inference; remove it"
        )

    def const(k: int) -> Optional[np.ndarray]:
        name = inputs[k]
        if not name:
            return None
        if name not in consts:
            raise err(f"input '{names[k]}' ('{name}') must be a constant (an initializer) holding float weights")
        value = np.asarray(consts[name])
        if value.dtype.kind != "f":
            raise err(
                f"input '{names[k]}' ('{name}') has element type {value.dtype}; expected float "
                "weights (lstmc quantize takes a float model)"
            )
        return value.astype(np.float32)

    W, R, B = const(1), const(2), const(3)
    D = len(reverse)
    if W is None or W.ndim != 3 or W.shape[0] != D or W.shape[1] % G:
        raise err(f"input 'W' has shape {None if W is None else list(W.shape)}, expected [{D}, {G}*hidden, input]")
    H, I = W.shape[1] // G, W.shape[2]
    if "hidden_size" in attrs and attrs["hidden_size"] != H:
        raise err(f"attribute 'hidden_size' = {attrs['hidden_size']} but 'W' has shape {list(W.shape)}")
    if R is None or R.shape != (D, G * H, H):
        raise err(f"input 'R' has shape {None if R is None else list(R.shape)}, expected [{D}, {G * H}, {H}]")
    if B is not None and B.shape != (D, 2 * G * H):
        raise err(f"input 'B' has shape {list(B.shape)}, expected [{D}, {2 * G * H}]")
    for name, value in (("W", W), ("R", R), ("B", B)):
        if value is not None and not np.all(np.isfinite(value)):
            raise err(f"input '{name}' holds non-finite values")
    rnn = RnnNode(node, index, label, W, R, B, H, I, reverse, linear_before_reset=bool(lbr))
    for key, k in zip(STATES[kind], (5, 6)):
        name = inputs[k]
        rnn.initial[key] = name or None
        if name and name in consts:
            value = np.asarray(consts[name])
            if value.shape != (D, 1, H):
                raise err(f"input '{names[k]}' has shape {list(value.shape)}, expected [{D}, 1, {H}] (batch 1)")
        elif name and D == 2:
            raise err(
                f"input '{names[k]}' ('{name}') is computed at run time; on a bidirectional {kind} "
                "lstmc quantize needs it as an initializer (lstmc has no op to split it per direction)"
            )
    return rnn


def find_rnn_nodes(model: onnx.ModelProto) -> list[RnnNode]:
    """Every LSTM and GRU node of the main graph, checked to be in scope (LstmcError otherwise)."""
    consts = graph_constants(model.graph)
    shapes = {
        v.name: [d.dim_value if d.HasField("dim_value") else 0 for d in v.type.tensor_type.shape.dim]
        for v in list(model.graph.input) + list(model.graph.value_info)
        if v.type.HasField("tensor_type")
    }
    found = []
    for index, node in enumerate(model.graph.node):
        if node.domain not in ("", "ai.onnx"):
            continue
        if node.op_type in _UNSUPPORTED_OPS:
            raise _node_error(
                node,
                _label(node, index),
                f"{node.op_type} is not supported yet by lstmc quantize (only LSTM and GRU nodes are quantized)",
            )
        if node.op_type in _SUPPORTED_OPS:
            rnn = _parse_rnn(node, index, _label(node, index), consts)
            dims = shapes.get(rnn.x)
            if dims and len(dims) == 3 and dims[1] > 1:
                raise rnn.error(
                    f"input 'X' ('{rnn.x}') has batch size {dims[1]} (shape {dims}); lstmc runs one "
                    "sequence per inference, so the batch must be 1"
                )
            found.append(rnn)
    if not found:
        ops = sorted({n.op_type for n in model.graph.node})
        raise LstmcError(f"the model has no ONNX LSTM or GRU node to quantize (its operators: {', '.join(ops)})")
    labels = [f.label for f in found]
    dup = next((n for n in labels if labels.count(n) > 1), None)
    if dup is not None:
        raise LstmcError(f"two LSTM/GRU nodes are named '{dup}'; node names must be unique to configure them")
    return found


# ------------------------------------------------------------------------------------------------ calibration
def gate_params(rnn: RnnNode, d: int, gate: str):
    """(W_x^T [I, H], W_h^T [H, H], Wb [H], Rb [H]) of one gate and direction, float32 (zero biases without B)."""
    H, k, G = rnn.hidden, ONNX_GATE_INDEX[gate], rnn.W.shape[1] // rnn.hidden
    rows = slice(k * H, (k + 1) * H)
    wx = np.ascontiguousarray(rnn.W[d, rows, :].T)
    wh = np.ascontiguousarray(rnn.R[d, rows, :].T)
    if rnn.B is None:
        return wx, wh, np.zeros(H, np.float32), np.zeros(H, np.float32)
    return wx, wh, rnn.B[d, rows], rnn.B[d, G * H + k * H : G * H + (k + 1) * H]


class ValueRange:
    """Magnitudes seen for one quantity: the max, and (for a percentile) every value."""

    def __init__(self, keep: bool):
        self.max = 0.0
        self.keep = keep
        self.parts: list[np.ndarray] = []

    def add(self, values: np.ndarray) -> None:
        a = np.abs(np.asarray(values, np.float64)).reshape(-1)
        if a.size:
            self.max = max(self.max, float(a.max()))
            if self.keep:
                self.parts.append(a.astype(np.float32))

    def bound(self, percentile: Optional[float]) -> float:
        if percentile is None or not self.parts or percentile >= 100:
            return self.max
        value = float(np.percentile(np.concatenate(self.parts), percentile))
        return value if value > 0 else self.max


def merged_bound(ranges: list[ValueRange], percentile: Optional[float]) -> float:
    if len(ranges) == 1:
        return ranges[0].bound(percentile)
    both = ValueRange(percentile is not None)
    both.max = max(r.max for r in ranges)
    both.parts = [p for r in ranges for p in r.parts]
    return both.bound(percentile)


@dataclass
class DirStats:
    acc: dict[str, ValueRange]
    cell: ValueRange  # c, f*c, i*g (one quantizer covers all three in the cell body)
    h: ValueRange


def float_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _steps(rnn: RnnNode, d: int, steps: int) -> range:
    return range(steps - 1, -1, -1) if rnn.reverse[d] else range(steps)


def simulate_lstm(lstm: RnnNode, d: int, x: np.ndarray, h0: np.ndarray, c0: np.ndarray, keep: bool) -> DirStats:
    """Float ONNX LSTM equations for direction d over x [N, T, I] (all sequences at once), recording ranges."""
    stats = DirStats({g: ValueRange(keep) for g in GATES}, ValueRange(keep), ValueRange(keep))
    params = {}
    for g in GATES:
        wx, wh, wb, rb = gate_params(lstm, d, g)
        params[g] = (wx.astype(np.float64), wh.astype(np.float64), (wb + rb).astype(np.float64))
    h, c = h0.astype(np.float64), c0.astype(np.float64)
    stats.h.add(h)
    stats.cell.add(c)
    for t in _steps(lstm, d, x.shape[1]):
        xt = x[:, t, :].astype(np.float64)
        acc = {}
        for g, (wx, wh, b) in params.items():
            acc[g] = xt @ wx + h @ wh + b
            stats.acc[g].add(acc[g])
        i, f, o = float_sigmoid(acc["input"]), float_sigmoid(acc["forget"]), float_sigmoid(acc["output"])
        g_ = np.tanh(acc["cell"])
        fc, ig = f * c, i * g_
        c = fc + ig
        h = o * np.tanh(c)
        for v in (fc, ig, c):
            stats.cell.add(v)
        stats.h.add(h)
    return stats


# the quantities of a GRU direction whose ranges calibration records (see gru_layer for their quantizers)
_GRU_RANGES = GRU_GATES + ("recurrent", "candidate_x", "reset_product", "product", "h")


def simulate_gru(gru: RnnNode, d: int, x: np.ndarray, h0: np.ndarray, keep: bool) -> dict[str, ValueRange]:
    """Float ONNX GRU equations for direction d over x [N, T, I] (all sequences at once), recording the ranges
    of each gate's pre-activation (by gate name), h Rh + Rb_h ("recurrent") and x Wh + Wb_h ("candidate_x")
    (both with linear_before_reset only), the reset product r * h or r * (h Rh + Rb_h) ("reset_product"),
    (1 - z) * n and z * h ("product") and h."""
    ranges = {k: ValueRange(keep) for k in _GRU_RANGES}
    (wxz, whz, wbz, rbz), (wxr, whr, wbr, rbr), (wxh, whh, wbh, rbh) = (
        [a.astype(np.float64) for a in gate_params(gru, d, g)] for g in GRU_GATES
    )

    def seen(key: str, value: np.ndarray) -> np.ndarray:
        ranges[key].add(value)
        return value

    h = seen("h", h0.astype(np.float64))
    for t in _steps(gru, d, x.shape[1]):
        xt = x[:, t, :].astype(np.float64)
        z = float_sigmoid(seen("update", xt @ wxz + h @ whz + wbz + rbz))
        r = float_sigmoid(seen("reset", xt @ wxr + h @ whr + wbr + rbr))
        if gru.linear_before_reset:
            reset = seen("reset_product", r * seen("recurrent", h @ whh + rbh))
            n = np.tanh(seen("candidate", seen("candidate_x", xt @ wxh + wbh) + reset))
        else:
            reset = seen("reset_product", r * h)
            n = np.tanh(seen("candidate", xt @ wxh + reset @ whh + wbh + rbh))
        h = seen("h", seen("product", (1 - z) * n) + seen("product", z * h))
    return ranges


def batched_inputs(model: onnx.ModelProto, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The graph inputs of ``data`` with a leading sequence axis (added when the data is one sequence)."""
    inits = {i.name for i in model.graph.initializer}
    out = {}
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        if inp.name not in data:
            names = [i.name for i in model.graph.input if i.name not in inits]
            raise LstmcError(
                f"the calibration data has no array '{inp.name}' (the model takes {', '.join(names)}; "
                f"the data holds {', '.join(data) or 'nothing'})"
            )
        value = np.asarray(data[inp.name])
        if value.dtype.kind not in "fiu":
            raise LstmcError(f"calibration array '{inp.name}' has element type {value.dtype}, expected float")
        rank = len(inp.type.tensor_type.shape.dim)
        if value.ndim == rank:
            value = value[None]
        elif value.ndim != rank + 1:
            raise LstmcError(
                f"calibration array '{inp.name}' has shape {list(value.shape)}; expected [N, ...] with "
                f"{rank} dimensions per sequence"
            )
        if value.shape[0] == 0:
            raise LstmcError(f"calibration array '{inp.name}' holds no sequence")
        dim_protos = inp.type.tensor_type.shape.dim
        dims = [d.dim_value if d.HasField("dim_value") else 0 for d in dim_protos]
        if any(want > 0 and got != want for want, got in zip(dims, value.shape[1:])):
            shown = [want if want > 0 else (d.dim_param or "?") for want, d in zip(dims, dim_protos)]
            raise LstmcError(
                f"calibration array '{inp.name}' has shape {list(value.shape)}; the model's input "
                f"'{inp.name}' is {shown} per sequence (data: [N, {', '.join(map(str, shown))}])"
            )
        out[inp.name] = value.astype(np.float32)
    counts = {v.shape[0] for v in out.values()}
    if len(counts) > 1:
        raise LstmcError(f"calibration arrays hold different numbers of sequences: {sorted(counts)}")
    return out


def float_run(model: onnx.ModelProto, inputs: dict[str, np.ndarray], rnns: list[RnnNode]):
    """Run the float model once per sequence; return (its outputs, every tensor an LSTM/GRU node reads at run
    time)."""
    from lstmc.reference import run_reference

    probe = onnx.ModelProto.FromString(model.SerializeToString())
    known = {o.name for o in probe.graph.output} | set(inputs)
    consts = set(graph_constants(probe.graph))
    wanted = []
    for rnn in rnns:
        for name in (rnn.x, *rnn.initial.values()):
            if name and name not in consts and name not in wanted:
                wanted.append(name)
    for name in wanted:
        if name not in known:
            probe.graph.output.append(helper.make_empty_tensor_value_info(name))
            known.add(name)
    outputs = run_reference(probe, inputs)
    values = {n: outputs[n] if n in outputs else inputs[n] for n in wanted}
    finals = {o.name: outputs[o.name] for o in model.graph.output}
    return finals, values
