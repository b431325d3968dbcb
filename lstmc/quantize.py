"""Post-training quantization: a float ONNX model with standard ``LSTM`` / ``GRU`` nodes -> a Scan/QCDQ model.

``quantize_model(model, calibration, config)`` rewrites every ONNX ``LSTM`` and ``GRU`` node in place (other
nodes are kept as they are) into the quantized cell that the rest of lstmc compiles::

    X [T, 1, I] -> QCDQ(input) -> Squeeze(1) -+-> Scan(fwd, body = cell) -> y [T, H] -+
                                              \\-> Scan(bwd, ...)                   -/
        -> Unsqueeze(1, 2) [T, 1, 1, H] -> Concat(1) -> Y [T, D, 1, H]
        final h (, c) [H] -> Unsqueeze(0, 1) [1, 1, H] -> Concat(0) -> Y_h (, Y_c) [D, 1, H]

so the outputs keep the names and shapes of the ONNX node and the quantized model is a drop-in replacement
with the same graph inputs and outputs as the float model. The Scan bodies are written by
``lstmc.export.scan_lstm.cell_body`` (LSTM: the Brevitas-style cell, the writer shared with the Brevitas
exporter and the QuantLSTMCell frontend) and ``lstmc.export.scan_gru.gru_body`` (GRU, linear_before_reset 0
and 1; its docstring gives the cell with every quantizer). Gate mapping from the ONNX W/R/B gate order: LSTM
(i, o, f, c): input = i, forget = f, cell = c, output = o; GRU (z, r, h): update = z, reset = r, candidate = h.
The bias of a gate is Wb + Rb, quantized to int32 with scale = input scale * weight scale (a GRU with
linear_before_reset keeps Rb_h apart: it is added to h Rh_h on the grid h scale * Rh_h scale).
Initial states are initial_h / initial_c when given (quantized with the output / cell-state quantizer, as
every later state is; a run-time initial state only on a one-direction node), else zeros. The input is
quantized before the batch axis is dropped: lstmc's integer levels reshape only quantized codes.
Unnamed nodes are called ``lstm_<index in graph.node>`` / ``gru_<index>`` in messages and in the ``nodes``
config.

Calibration runs the float model with onnxruntime over every sequence of the calibration data (to get the
input of each node, wherever it sits in the graph), then a float numpy simulation of each direction (the ONNX
LSTM / GRU equations) that records the ranges of: the layer input x, each gate pre-activation (acc), h, and
LSTM: the cell state c and the products f*c and i*g; GRU: the products (1-z)*n and z*h, the reset product
r*h (or r*(h Rh_h + Rb_h)), and with linear_before_reset h Rh_h + Rb_h and x Wh_h + Wb_h. Quantizers chosen
from them:

- weights: signed, symmetric, narrow range, scale = max|w| / (2^(b-1) - 1), per output channel (axis 1 of
  W^T, i.e. per hidden unit of each gate) when ``weight_per_channel`` else per tensor (per gate matrix).
  16-bit weights use the full int16 range instead of the narrow one (identical values: no code reaches
  -32768), because a narrow 16-bit range needs an int16 Clip, which onnxruntime lacks;
- biases: int32, scale = input scale * weight scale (per channel with per-channel weights);
- sigmoid outputs (LSTM i, f, o; GRU z, r): unsigned, scale 1 / (2^b - 1) (codes 0 .. 2^b - 1 represent
  [0, 1]);
- tanh outputs (LSTM cell gate g and tanh(c); GRU candidate n): signed, scale 1 / (2^(b-1) - 1) (represents
  [-1, 1]);
- input x, output h, each gate accumulator, cell state, GRU products: signed symmetric (full range, no Clip
  for 8 and 16 bits), scale = m / (2^(b-1) - 1) where m is the calibrated max|.| (``"max"``) or its P-th
  percentile (``"percentile:P"``). The input quantizer (on x) and the output quantizer (on h) are separate. The
  h and cell-state quantizers of a bidirectional node are shared by its two directions (Y, Y_h and Y_c
  concatenate the directions, and lstmc concatenates codes of one scale only, as Brevitas shares io_quant);
  a GRU's other quantizers are per direction. GRU widths: the products (1-z)*n and z*h take
  ``cell_state_bits`` (they are its state update, as c is the LSTM's); r*h takes ``io_bits`` (the vector the
  candidate's recurrent matrix product reads, like h); with linear_before_reset, h Rh_h + Rb_h,
  x Wh_h + Wb_h and r*(...) take ``acc_bits`` (addends of the candidate's accumulator);
- ``power_of_two``: every scale rounded UP to a power of two (so nothing clips that the scale above covers);
  then the integer stage equals the reference exactly (the bias scale, a product of powers of two, is one).
  For sigmoid/tanh this costs one bit (8-bit sigmoid: scale 2^-7, codes 0..128 cover [0, 1]).

Configuration (a dict, from JSON; every key optional, unknown keys and bad values are errors)::

    weight_bits 8   weight_per_channel true   io_bits 8   acc_bits 16   sigmoid_bits 8   tanh_bits 8
    cell_state_bits 16 (GRU: the state-update products)   calibration "max" | "percentile:P"   power_of_two false
    nodes {"<LSTM or GRU node name>": {any of the keys above}}   (per-node overrides)

Bits are 2..16 (what QuantizeLinear can express). A quantizer wider than 8 bits makes the model opset 21
(int16 QuantizeLinear); the model's default-domain opset becomes max(its own, 19 or 21), an older model being
first brought to that opset by onnx' version converter (so the nodes kept as they are stay valid). onnxruntime (the
golden reference) has no int16 Clip kernel, so it cannot run a model with a 9..15-bit quantizer (which needs
an int16 Clip); lstmc itself compiles such a model, and the report then takes the quantized outputs from the
``qrnn`` stage (bit-exact with the reference by contract). That is why acc and cell state default to the full
16 bits (no Clip) and everything else to 8 bits.

Out of scope (an LstmcError naming the node and the attribute): RNN nodes, peepholes (input P), clip,
input_forget, non-default activations, layout = 1, batch size other than 1, sequence_lens.

The report (``QuantReport``) compares the quantized model with the float one on the calibration data, both run
with onnxruntime (``lstmc.reference.run_reference``): per output the max / mean absolute error and the SQNR in
dB; when the data also holds arrays named like a graph output (targets), the MSE of each model against them.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field, fields, replace
from typing import Optional

import numpy as np
import onnx
from onnx import helper

from lstmc.errors import LstmcError
from lstmc.frontend import graph_constants, remove_unused
from lstmc.export.scan_gru import GRU_GATES, GruLayerOnnx, gru_body
from lstmc.export.scan_lstm import (GATES, INT16_OPSET, MIN_OPSET, GateOnnx, LayerOnnx, OnnxGraph, QuantSpec,
                                    cell_body, check_spec)

# ONNX gate order in W, R and B: LSTM (i, o, f, c), GRU (z, r, h); index of each of our gates in it
ONNX_GATE_INDEX = {"input": 0, "output": 1, "forget": 2, "cell": 3, "update": 0, "reset": 1, "candidate": 2}
_COMMON_ATTRS = {"activation_alpha", "activation_beta", "activations", "clip", "direction", "hidden_size", "layout"}
_ATTRS = {"LSTM": _COMMON_ATTRS | {"input_forget"}, "GRU": _COMMON_ATTRS | {"linear_before_reset"}}
_DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"]}
_INPUT_NAMES = {"LSTM": ("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"),
                "GRU": ("X", "W", "R", "B", "sequence_lens", "initial_h")}
_STATES = {"LSTM": ("h", "c"), "GRU": ("h",)}  # recurrent states, in the order of the node's outputs Y_h, Y_c
_SUPPORTED_OPS = ("LSTM", "GRU")
_UNSUPPORTED_OPS = {"RNN"}


# ------------------------------------------------------------------------------------------------ configuration
@dataclass(frozen=True)
class QuantConfig:
    """The quantization choices for one LSTM or GRU node (the JSON keys, with their defaults).
    For a GRU, ``cell_state_bits`` is the width of the state-update products (1 - z) * n and z * h."""

    weight_bits: int = 8
    weight_per_channel: bool = True
    io_bits: int = 8
    acc_bits: int = 16
    sigmoid_bits: int = 8
    tanh_bits: int = 8
    cell_state_bits: int = 16
    calibration: str = "max"
    power_of_two: bool = False

    @property
    def percentile(self) -> Optional[float]:
        return None if self.calibration == "max" else float(self.calibration.split(":", 1)[1])


CONFIG_KEYS = tuple(f.name for f in fields(QuantConfig))
_BIT_KEYS = tuple(k for k in CONFIG_KEYS if k.endswith("_bits"))
_BOOL_KEYS = ("weight_per_channel", "power_of_two")
MIN_BITS, MAX_BITS = 2, 16


def _check_keys(values: dict, where: str) -> dict:
    if not isinstance(values, dict):
        raise LstmcError(f"{where} must be a JSON object, got {type(values).__name__}")
    out = {}
    for key, value in values.items():
        label = f"{where}: key '{key}'" if where != "config" else f"config key '{key}'"
        if key not in CONFIG_KEYS:
            known = CONFIG_KEYS + (("nodes",) if where == "config" else ())
            raise LstmcError(f"{label} is unknown (known keys: {', '.join(known)})")
        if key in _BIT_KEYS:
            if isinstance(value, bool) or not isinstance(value, int) or not MIN_BITS <= value <= MAX_BITS:
                raise LstmcError(f"{label} must be an integer number of bits in {MIN_BITS}..{MAX_BITS} "
                                 f"(what ONNX QuantizeLinear can express), got {json.dumps(value)}")
        elif key in _BOOL_KEYS:
            if not isinstance(value, bool):
                raise LstmcError(f"{label} must be true or false, got {json.dumps(value)}")
        elif key == "calibration":
            ok = isinstance(value, str) and (value == "max" or re.fullmatch(r"percentile:\d+(\.\d*)?", value))
            if ok and value != "max" and not 0 < float(value.split(":", 1)[1]) <= 100:
                ok = False
            if not ok:
                raise LstmcError(f"{label} must be \"max\" or \"percentile:P\" with 0 < P <= 100 "
                                 f"(e.g. \"percentile:99.99\"), got {json.dumps(value)}")
        out[key] = value
    return out


def parse_config(config: Optional[dict], node_names: list[str]) -> dict[str, QuantConfig]:
    """Validate a config dict; return the effective QuantConfig of every LSTM/GRU node (by node name)."""
    if config is not None and not isinstance(config, dict):
        raise LstmcError(f"config must be a JSON object, got {type(config).__name__}")
    config = dict(config or {})
    nodes = config.pop("nodes", {})
    base = QuantConfig(**_check_keys(config, "config"))
    if not isinstance(nodes, dict):
        raise LstmcError(f"config key 'nodes' must be an object keyed by LSTM/GRU node name, got "
                         f"{json.dumps(nodes)}")
    unknown = [n for n in nodes if n not in node_names]
    if unknown:
        raise LstmcError(f"config key 'nodes': '{unknown[0]}' is not an LSTM or GRU node of the model "
                         f"(LSTM/GRU nodes: {', '.join(repr(n) for n in node_names) or 'none'})")
    per_node = {}
    for name in node_names:
        override = nodes.get(name, {})
        if isinstance(override, dict) and "nodes" in override:
            raise LstmcError(f"config key 'nodes.{name}': key 'nodes' cannot be nested")
        per_node[name] = replace(base, **_check_keys(override, f"config key 'nodes.{name}'"))
    return per_node


def load_config(path: Optional[str]) -> dict:
    """Read a JSON config file (None -> {}); errors name the file."""
    if path is None:
        return {}
    if not os.path.exists(path):
        raise LstmcError(f"{path}: no such file")
    try:
        with open(path) as f:
            value = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LstmcError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(value, dict):
        raise LstmcError(f"{path}: the config must be a JSON object, got {type(value).__name__}")
    return value


# ------------------------------------------------------------------------------------------------ LSTM/GRU nodes
@dataclass
class _Rnn:
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


def _parse_rnn(node: onnx.NodeProto, index: int, label: str, consts: dict[str, np.ndarray]) -> _Rnn:
    kind = node.op_type
    names = _INPUT_NAMES[kind]
    G = len(GATES) if kind == "LSTM" else len(GRU_GATES)
    article = "an" if kind == "LSTM" else "a"

    def err(message):
        return _node_error(node, label, message)

    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    for name in attrs:
        if name not in _ATTRS[kind]:
            raise err(f"attribute '{name}' is not {article} {kind} attribute lstmc quantize knows")
    if "clip" in attrs:
        raise err(f"attribute 'clip' ({attrs['clip']}) is not supported: the quantized cell clips no "
                  "pre-activation")
    if attrs.get("input_forget", 0):
        raise err("attribute 'input_forget' = 1 (coupled input-forget gate) is not supported")
    lbr = attrs.get("linear_before_reset", 0)
    if lbr not in (0, 1):
        raise err(f"attribute 'linear_before_reset' = {lbr} is not 0 or 1")
    if attrs.get("layout", 0) != 0:
        raise err(f"attribute 'layout' = {attrs['layout']} is not supported (only layout 0: X is [T, batch, I])")
    direction = attrs.get("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else str(direction)
    reverse = {"forward": [False], "reverse": [True], "bidirectional": [False, True]}.get(direction)
    if reverse is None:
        raise err(f"attribute 'direction' = '{direction}' is not forward, reverse or bidirectional")
    if "activations" in attrs:
        acts = [a.decode() if isinstance(a, bytes) else str(a) for a in attrs["activations"]]
        default = _DEFAULT_ACTIVATIONS[kind] * len(reverse)
        if acts != default:
            raise err(f"attribute 'activations' = {acts} is not supported (only the default {default})")
    for name in ("activation_alpha", "activation_beta"):
        if name in attrs:
            raise err(f"attribute '{name}' is not supported (only the default activations, which take none)")
    inputs = list(node.input) + [""] * (len(names) - len(node.input))
    if len(node.input) > len(names):
        raise err(f"has {len(node.input)} inputs, {article} {kind} has at most {len(names)}")
    if kind == "LSTM" and inputs[7]:
        raise err(f"input 'P' ('{inputs[7]}', peephole weights) is not supported")
    if inputs[4]:
        raise err(f"input 'sequence_lens' ('{inputs[4]}') is not supported: lstmc runs one whole sequence per "
                  "inference; remove it")

    def const(k: int) -> Optional[np.ndarray]:
        name = inputs[k]
        if not name:
            return None
        if name not in consts:
            raise err(f"input '{names[k]}' ('{name}') must be a constant (an initializer) holding float "
                      "weights")
        value = np.asarray(consts[name])
        if value.dtype.kind != "f":
            raise err(f"input '{names[k]}' ('{name}') has element type {value.dtype}; expected float "
                      "weights (lstmc quantize takes a float model)")
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
    rnn = _Rnn(node, index, label, W, R, B, H, I, reverse, linear_before_reset=bool(lbr))
    for key, k in zip(_STATES[kind], (5, 6)):
        name = inputs[k]
        rnn.initial[key] = name or None
        if name and name in consts:
            value = np.asarray(consts[name])
            if value.shape != (D, 1, H):
                raise err(f"input '{names[k]}' has shape {list(value.shape)}, expected [{D}, 1, {H}] "
                          "(batch 1)")
        elif name and D == 2:
            raise err(f"input '{names[k]}' ('{name}') is computed at run time; on a bidirectional {kind} "
                      "lstmc quantize needs it as an initializer (lstmc has no op to split it per direction)")
    return rnn


def find_rnn_nodes(model: onnx.ModelProto) -> list[_Rnn]:
    """Every LSTM and GRU node of the main graph, checked to be in scope (LstmcError otherwise)."""
    consts = graph_constants(model.graph)
    shapes = {v.name: [d.dim_value if d.HasField("dim_value") else 0 for d in v.type.tensor_type.shape.dim]
              for v in list(model.graph.input) + list(model.graph.value_info) if v.type.HasField("tensor_type")}
    found = []
    for index, node in enumerate(model.graph.node):
        if node.domain not in ("", "ai.onnx"):
            continue
        if node.op_type in _UNSUPPORTED_OPS:
            raise _node_error(node, _label(node, index), f"{node.op_type} is not supported yet by lstmc quantize "
                              "(only LSTM and GRU nodes are quantized)")
        if node.op_type in _SUPPORTED_OPS:
            rnn = _parse_rnn(node, index, _label(node, index), consts)
            dims = shapes.get(rnn.x)
            if dims and len(dims) == 3 and dims[1] > 1:
                raise rnn.error(f"input 'X' ('{rnn.x}') has batch size {dims[1]} (shape {dims}); lstmc runs one "
                                "sequence per inference, so the batch must be 1")
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
def _gate_params(rnn: _Rnn, d: int, gate: str):
    """(W_x^T [I, H], W_h^T [H, H], Wb [H], Rb [H]) of one gate and direction, float32 (zero biases without B)."""
    H, k, G = rnn.hidden, ONNX_GATE_INDEX[gate], rnn.W.shape[1] // rnn.hidden
    rows = slice(k * H, (k + 1) * H)
    wx = np.ascontiguousarray(rnn.W[d, rows, :].T)
    wh = np.ascontiguousarray(rnn.R[d, rows, :].T)
    if rnn.B is None:
        return wx, wh, np.zeros(H, np.float32), np.zeros(H, np.float32)
    return wx, wh, rnn.B[d, rows], rnn.B[d, G * H + k * H:G * H + (k + 1) * H]


class _Range:
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


def _merged(ranges: list[_Range], percentile: Optional[float]) -> float:
    if len(ranges) == 1:
        return ranges[0].bound(percentile)
    both = _Range(percentile is not None)
    both.max = max(r.max for r in ranges)
    both.parts = [p for r in ranges for p in r.parts]
    return both.bound(percentile)


@dataclass
class _DirStats:
    acc: dict[str, _Range]
    cell: _Range  # c, f*c, i*g (one quantizer covers all three in the cell body)
    h: _Range


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _steps(rnn: _Rnn, d: int, steps: int) -> range:
    return range(steps - 1, -1, -1) if rnn.reverse[d] else range(steps)


def _simulate(lstm: _Rnn, d: int, x: np.ndarray, h0: np.ndarray, c0: np.ndarray, keep: bool) -> _DirStats:
    """Float ONNX LSTM equations for direction d over x [N, T, I] (all sequences at once), recording ranges."""
    stats = _DirStats({g: _Range(keep) for g in GATES}, _Range(keep), _Range(keep))
    params = {}
    for g in GATES:
        wx, wh, wb, rb = _gate_params(lstm, d, g)
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
        i, f, o = _sigmoid(acc["input"]), _sigmoid(acc["forget"]), _sigmoid(acc["output"])
        g_ = np.tanh(acc["cell"])
        fc, ig = f * c, i * g_
        c = fc + ig
        h = o * np.tanh(c)
        for v in (fc, ig, c):
            stats.cell.add(v)
        stats.h.add(h)
    return stats


# the quantities of a GRU direction whose ranges calibration records (see _gru_layer for their quantizers)
_GRU_RANGES = GRU_GATES + ("recurrent", "candidate_x", "reset_product", "product", "h")


def _simulate_gru(gru: _Rnn, d: int, x: np.ndarray, h0: np.ndarray, keep: bool) -> dict[str, _Range]:
    """Float ONNX GRU equations for direction d over x [N, T, I] (all sequences at once), recording the ranges
    of each gate's pre-activation (by gate name), h Rh + Rb_h ("recurrent") and x Wh + Wb_h ("candidate_x")
    (both with linear_before_reset only), the reset product r * h or r * (h Rh + Rb_h) ("reset_product"),
    (1 - z) * n and z * h ("product") and h."""
    ranges = {k: _Range(keep) for k in _GRU_RANGES}
    (wxz, whz, wbz, rbz), (wxr, whr, wbr, rbr), (wxh, whh, wbh, rbh) = (
        [a.astype(np.float64) for a in _gate_params(gru, d, g)] for g in GRU_GATES)

    def seen(key: str, value: np.ndarray) -> np.ndarray:
        ranges[key].add(value)
        return value

    h = seen("h", h0.astype(np.float64))
    for t in _steps(gru, d, x.shape[1]):
        xt = x[:, t, :].astype(np.float64)
        z = _sigmoid(seen("update", xt @ wxz + h @ whz + wbz + rbz))
        r = _sigmoid(seen("reset", xt @ wxr + h @ whr + wbr + rbr))
        if gru.linear_before_reset:
            reset = seen("reset_product", r * seen("recurrent", h @ whh + rbh))
            n = np.tanh(seen("candidate", seen("candidate_x", xt @ wxh + wbh) + reset))
        else:
            reset = seen("reset_product", r * h)
            n = np.tanh(seen("candidate", xt @ wxh + reset @ whh + wbh + rbh))
        h = seen("h", seen("product", (1 - z) * n) + seen("product", z * h))
    return ranges


def _batched_inputs(model: onnx.ModelProto, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The graph inputs of ``data`` with a leading sequence axis (added when the data is one sequence)."""
    inits = {i.name for i in model.graph.initializer}
    out = {}
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        if inp.name not in data:
            names = [i.name for i in model.graph.input if i.name not in inits]
            raise LstmcError(f"the calibration data has no array '{inp.name}' (the model takes {', '.join(names)}; "
                             f"the data holds {', '.join(data) or 'nothing'})")
        value = np.asarray(data[inp.name])
        if value.dtype.kind not in "fiu":
            raise LstmcError(f"calibration array '{inp.name}' has element type {value.dtype}, expected float")
        rank = len(inp.type.tensor_type.shape.dim)
        if value.ndim == rank:
            value = value[None]
        elif value.ndim != rank + 1:
            raise LstmcError(f"calibration array '{inp.name}' has shape {list(value.shape)}; expected [N, ...] with "
                             f"{rank} dimensions per sequence")
        if value.shape[0] == 0:
            raise LstmcError(f"calibration array '{inp.name}' holds no sequence")
        dim_protos = inp.type.tensor_type.shape.dim
        dims = [d.dim_value if d.HasField("dim_value") else 0 for d in dim_protos]
        if any(want > 0 and got != want for want, got in zip(dims, value.shape[1:])):
            shown = [want if want > 0 else (d.dim_param or "?") for want, d in zip(dims, dim_protos)]
            raise LstmcError(f"calibration array '{inp.name}' has shape {list(value.shape)}; the model's input "
                             f"'{inp.name}' is {shown} per sequence (data: [N, {', '.join(map(str, shown))}])")
        out[inp.name] = value.astype(np.float32)
    counts = {v.shape[0] for v in out.values()}
    if len(counts) > 1:
        raise LstmcError(f"calibration arrays hold different numbers of sequences: {sorted(counts)}")
    return out


def _float_run(model: onnx.ModelProto, inputs: dict[str, np.ndarray], rnns: list[_Rnn]):
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


def _symmetric(name: str, bound: float, bits: int, cfg: QuantConfig) -> QuantSpec:
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


def _where(rnn: _Rnn, d: int) -> tuple[str, str]:
    """("fwd" | "bwd", "<label>.<fwd|bwd>") of direction d: the layer name suffix and the quantizer name stem."""
    direction = "bwd" if rnn.reverse[d] else "fwd"
    return direction, f"{rnn.label}.{direction}"


def _gate(rnn: _Rnn, d: int, gate: str, bias: np.ndarray, input_spec: QuantSpec, act: QuantSpec,
          acc_bound: float, cfg: QuantConfig) -> GateOnnx:
    """One gate's quantized weights, its int32 bias (``bias`` on the grid input scale * W_x scale; none when
    the node has no B) and its accumulator / activation quantizers."""
    what = _where(rnn, d)[1]
    wx, wh = _gate_params(rnn, d, gate)[:2]
    qx = _weight(f"{what}.{gate}.input_weight", wx, cfg)
    qh = _weight(f"{what}.{gate}.hidden_weight", wh, cfg)
    return GateOnnx(wx=qx, wh=qh, bias=_bias(bias, input_spec.scale, qx[1].scale) if rnn.B is not None else None,
                    acc=_symmetric(f"{what}.{gate}_acc", acc_bound, cfg.acc_bits, cfg), act=act)


def _layer(lstm: _Rnn, d: int, prefix: str, input_spec: QuantSpec, output: QuantSpec, cell_state: QuantSpec,
           stats: _DirStats, cfg: QuantConfig) -> LayerOnnx:
    direction, what = _where(lstm, d)
    gates = {}
    for gate in GATES:
        wb, rb = _gate_params(lstm, d, gate)[2:]
        act = _tanh_spec(f"{what}.cell_tanh", cfg) if gate == "cell" else _sigmoid_spec(f"{what}.{gate}_sigmoid", cfg)
        gates[gate] = _gate(lstm, d, gate, wb + rb, input_spec, act, stats.acc[gate].bound(cfg.percentile), cfg)
    return LayerOnnx(
        name=f"{prefix}{direction}", input_size=lstm.input_size, hidden=lstm.hidden, reverse=lstm.reverse[d],
        gates=gates, cifg_one=None,
        cell_state=cell_state, hidden_tanh=_tanh_spec(f"{what}.hidden_state_tanh", cfg), output=output)


def _gru_layer(gru: _Rnn, d: int, prefix: str, input_spec: QuantSpec, output: QuantSpec,
               ranges: dict[str, _Range], cfg: QuantConfig) -> GruLayerOnnx:
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
        wb, rb = _gate_params(gru, d, gate)[2:]
        bias = wb if gate == "candidate" and lbr else wb + rb  # with lbr, Rb_h goes with h Rh (recurrent_bias)
        act = _tanh_spec(f"{what}.candidate_tanh", cfg) if gate == "candidate" else \
            _sigmoid_spec(f"{what}.{gate}_sigmoid", cfg)
        gates[gate] = _gate(gru, d, gate, bias, input_spec, act, ranges[gate].bound(pct), cfg)
    recurrent_bias = recurrent_acc = input_acc = None
    if lbr:
        if gru.B is not None:
            rb = _gate_params(gru, d, "candidate")[3]
            recurrent_bias = _bias(rb, output.scale, gates["candidate"].wh[1].scale)
        recurrent_acc = _symmetric(f"{what}.recurrent_acc", ranges["recurrent"].bound(pct), cfg.acc_bits, cfg)
        input_acc = _symmetric(f"{what}.candidate_input_acc", ranges["candidate_x"].bound(pct), cfg.acc_bits, cfg)
    return GruLayerOnnx(
        name=f"{prefix}{direction}", input_size=gru.input_size, hidden=gru.hidden, reverse=gru.reverse[d],
        linear_before_reset=lbr, gates=gates, recurrent_bias=recurrent_bias, recurrent_acc=recurrent_acc,
        input_acc=input_acc,
        reset_product=_symmetric(f"{what}.reset_product", ranges["reset_product"].bound(pct),
                                 cfg.acc_bits if lbr else cfg.io_bits, cfg),
        product=_symmetric(f"{what}.state_product", ranges["product"].bound(pct), cfg.cell_state_bits, cfg),
        output=output)


# ------------------------------------------------------------------------------------------------ rewrite
def _all_names(graph: onnx.GraphProto) -> set[str]:
    names = {i.name for i in graph.input} | {o.name for o in graph.output} | {i.name for i in graph.initializer}
    for node in graph.node:
        names.update(node.input)
        names.update(node.output)
        names.add(node.name)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                names |= _all_names(attr.g)
    return names


def _prefix(label: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_]", "_", label) or "lstm"
    prefix, k = f"{base}_q_", 0
    while any(n.startswith(prefix) for n in taken):
        k += 1
        prefix = f"{base}_q{k}_"
    return prefix


@dataclass
class _Rewrite:
    nodes: list[onnx.NodeProto]
    inits: list[onnx.TensorProto]
    layers: list  # LayerOnnx (LSTM) or GruLayerOnnx (GRU), one per direction
    input_spec: QuantSpec


def _state_specs(lay) -> dict[str, QuantSpec]:
    """The quantizer of each recurrent state of a layer: h (and c for an LSTM)."""
    return {"h": lay.output} if isinstance(lay, GruLayerOnnx) else {"h": lay.output, "c": lay.cell_state}


def _rewrite(rnn: _Rnn, prefix: str, layers: list, input_spec: QuantSpec, consts: dict[str, np.ndarray]) -> _Rewrite:
    g = OnnxGraph(prefix)
    H, D = rnn.hidden, len(layers)
    keys = _STATES[rnn.kind]

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
        g.nodes.append(helper.make_node("Scan", states + [x], outs, name=g.fresh(f"{lay.name}_scan"),
                                        num_scan_inputs=1, body=body, scan_input_directions=rev,
                                        scan_output_directions=rev))
        for key, out in zip(keys + ("y",), outs):
            finals[key].append(out)
    # node outputs: Y [T, D, 1, H] from the per-step outputs, then Y_h (, Y_c) [D, 1, H] from the final states
    for out, key in zip(rnn.node.output, ("y",) + keys):
        if not out:
            continue
        unsq, axis = ((1, 2), 1) if key == "y" else ((0, 1), 0)
        parts = [g.op("Unsqueeze", [v, axes(*unsq)], f"{key}_unsq", out=out if D == 1 else None)
                 for v in finals[key]]
        if D > 1:
            g.op("Concat", parts, out=out, axis=axis)
    return _Rewrite(g.nodes, g.inits, layers, input_spec)


def _default_opset(model: onnx.ModelProto) -> int:
    return max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=1)


def _convert_opset(model: onnx.ModelProto, needed: int) -> bool:
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
        raise LstmcError(f"the model uses opset {current} and onnx' version converter cannot bring it to opset "
                         f"{needed}, which the quantized model needs: {first}") from e
    model.CopyFrom(converted)
    return True


def _set_opset(model: onnx.ModelProto, needed: int) -> None:
    """Default-domain opset = max(current, needed); IR version high enough for it."""
    default = [o for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not default:
        model.opset_import.append(helper.make_opsetid("", needed))
        default = [model.opset_import[-1]]
    for o in default:
        o.version = max(o.version, needed)
    model.ir_version = max(model.ir_version, helper.find_min_ir_version_for(list(model.opset_import), True))


# ------------------------------------------------------------------------------------------------ report
@dataclass
class OutputReport:
    """Quantized vs float model on one graph output, over every calibration sequence."""

    name: str
    max_abs_error: float
    mean_abs_error: float
    sqnr_db: float
    mse_float: Optional[float] = None  # vs the targets in the data, when present
    mse_quantized: Optional[float] = None


@dataclass
class QuantReport:
    sequences: int
    outputs: list[OutputReport]
    nodes: dict[str, dict]  # LSTM/GRU node name -> summary of its quantizers
    quantized_source: str = "onnxruntime"  # or "qrnn" when onnxruntime cannot run the quantized model
    notes: list[str] = field(default_factory=list)

    def output(self, name: str) -> OutputReport:
        return next(o for o in self.outputs if o.name == name)

    def format(self) -> str:
        lines = [f"{name}: {', '.join(f'{k} {v}' for k, v in info.items())}" for name, info in self.nodes.items()]
        lines.append(f"quantized vs float model on {self.sequences} calibration sequence(s)"
                     + ("" if self.quantized_source == "onnxruntime" else
                        f" (quantized outputs from the {self.quantized_source} stage)") + ":")
        targets = any(o.mse_float is not None for o in self.outputs)
        head = f"{'output':<16} {'max abs err':>12} {'mean abs err':>12} {'SQNR dB':>8}"
        if targets:
            head += f" {'MSE float':>11} {'MSE quant':>11} {'change':>9}"
        lines.append(head)
        for o in self.outputs:
            row = f"{o.name:<16} {o.max_abs_error:>12.4g} {o.mean_abs_error:>12.4g} {o.sqnr_db:>8.2f}"
            if o.mse_float is not None:
                change = o.mse_quantized - o.mse_float
                row += f" {o.mse_float:>11.4g} {o.mse_quantized:>11.4g} {change:>+9.2g}"
            lines.append(row)
        lines.extend(self.notes)
        return "\n".join(lines) + "\n"


def sqnr_db(reference: np.ndarray, approx: np.ndarray) -> float:
    """10 log10(signal power / noise power); inf when equal."""
    ref = np.asarray(reference, np.float64)
    noise = float(np.sum((np.asarray(approx, np.float64) - ref) ** 2))
    signal = float(np.sum(ref**2))
    if noise == 0:
        return math.inf
    if signal == 0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def _needs_int16_clip(layers: list, specs: list[QuantSpec]) -> bool:
    every = specs + [s for lay in layers for s in lay.specs()]
    return any(s is not None and s.bit_width > 8 and s.needs_clip for s in every)


def _summary(cfg: QuantConfig, input_spec: QuantSpec, layers: list) -> dict:
    def sc(spec):
        return f"{float(np.asarray(spec.scale).reshape(-1)[0]):.4g}"

    first = layers[0]
    state = ({"products": f"{first.product.bit_width}b s={sc(first.product)}"} if isinstance(first, GruLayerOnnx)
             else {"c": f"{first.cell_state.bit_width}b s={sc(first.cell_state)}"})
    return {"directions": "+".join("bwd" if lay.reverse else "fwd" for lay in layers),
            "weights": f"{cfg.weight_bits}b {'per-channel' if cfg.weight_per_channel else 'per-tensor'}",
            "x": f"{input_spec.bit_width}b s={sc(input_spec)}",
            "h": f"{first.output.bit_width}b s={sc(first.output)}", **state,
            "acc": f"{cfg.acc_bits}b", "sigmoid": f"{cfg.sigmoid_bits}b", "tanh": f"{cfg.tanh_bits}b",
            "calibration": cfg.calibration + (", power-of-two scales" if cfg.power_of_two else "")}


# ------------------------------------------------------------------------------------------------ entry point
def quantize_model(model: onnx.ModelProto, calibration: dict[str, np.ndarray],
                   config: Optional[dict] = None) -> tuple[onnx.ModelProto, QuantReport]:
    """Quantize every ONNX LSTM and GRU node of a float model, calibrated on ``calibration`` (graph input name ->
    [N, ...] sequences, or one unbatched sequence). Returns the Scan/QCDQ model and the accuracy report.
    ``model`` is not modified. Raises LstmcError for anything out of scope."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    rnns = find_rnn_nodes(model)
    configs = parse_config(config, [r.label for r in rnns])
    needed = INT16_OPSET if any(getattr(c, k) > 8 for c in configs.values() for k in _BIT_KEYS) else MIN_OPSET
    if _convert_opset(model, needed):
        rnns = find_rnn_nodes(model)
    inputs = _batched_inputs(model, calibration)
    float_out, values = _float_run(model, inputs, rnns)
    consts = graph_constants(model.graph)
    count = next(iter(inputs.values())).shape[0] if inputs else 1

    taken = _all_names(model.graph)
    rewrites: dict[int, _Rewrite] = {}
    for rnn in rnns:
        prefix = _prefix(rnn.label, taken)
        rewrites[rnn.index] = _quantize_node(rnn, configs[rnn.label], prefix, values, consts, count)
        taken.add(prefix)

    graph = model.graph
    nodes = []
    for index, node in enumerate(graph.node):
        if index in rewrites:
            nodes.extend(rewrites[index].nodes)
            graph.initializer.extend(rewrites[index].inits)
        else:
            nodes.append(onnx.NodeProto.FromString(node.SerializeToString()))
    del graph.node[:]
    graph.node.extend(nodes)
    remove_unused(graph, {"Constant"})  # the float weights the rewritten nodes read
    _set_opset(model, needed)
    model.producer_name, model.producer_version = "lstmc.quantize", ""
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        raise LstmcError(f"the quantized model is invalid ONNX: {str(e).strip().splitlines()[0]}") from e

    report = _report(model, float_out, inputs, calibration, count, rewrites, rnns, configs)
    return model, report


def _quantize_node(rnn: _Rnn, cfg: QuantConfig, prefix: str, values: dict[str, np.ndarray],
                   consts: dict[str, np.ndarray], count: int) -> _Rewrite:
    """Calibrate one LSTM/GRU node on its run-time input ``values``, choose its quantizers, write its rewrite."""
    x = np.asarray(values[rnn.x], np.float32)
    if x.ndim != 4 or x.shape[3] != rnn.input_size:
        raise rnn.error(f"input 'X' ('{rnn.x}') has shape {list(x.shape[1:])} at run time, expected "
                        f"[T, 1, {rnn.input_size}]")
    if x.shape[2] != 1:
        raise rnn.error(f"input 'X' ('{rnn.x}') has batch size {x.shape[2]} (shape {list(x.shape[1:])}); lstmc "
                        "runs one sequence per inference, so the batch must be 1")
    x = x[:, :, 0, :]  # [N, T, I]
    keep, pct = cfg.percentile is not None, cfg.percentile
    x_range = _Range(keep)
    x_range.add(x)
    input_spec = _symmetric(f"{rnn.label}.input", x_range.bound(pct), cfg.io_bits, cfg)
    stats = []
    for d in range(len(rnn.reverse)):
        state = {}
        for key, name in rnn.initial.items():
            if name is None:
                state[key] = np.zeros((count, rnn.hidden), np.float32)
            elif name in consts:
                state[key] = np.broadcast_to(np.asarray(consts[name], np.float32)[d, 0], (count, rnn.hidden))
            else:
                v = np.asarray(values[name], np.float32)
                if v.shape[1:] != (1, 1, rnn.hidden):
                    raise rnn.error(f"input 'initial_{key}' ('{name}') has shape {list(v.shape[1:])} at run time, "
                                    f"expected [1, 1, {rnn.hidden}]")
                state[key] = v[:, d, 0, :]
        stats.append(_simulate(rnn, d, x, state["h"], state["c"], keep) if rnn.kind == "LSTM"
                     else _simulate_gru(rnn, d, x, state["h"], keep))
    # Both directions share the h (and c) quantizers: Y, Y_h and Y_c concatenate them, and a concatenation
    # of codes needs one scale (as in Brevitas, whose directions share io_quant).
    if rnn.kind == "GRU":
        output = _symmetric(f"{rnn.label}.output", _merged([s["h"] for s in stats], pct), cfg.io_bits, cfg)
        layers = [_gru_layer(rnn, d, prefix, input_spec, output, s, cfg) for d, s in enumerate(stats)]
    else:
        output = _symmetric(f"{rnn.label}.output", _merged([s.h for s in stats], pct), cfg.io_bits, cfg)
        cell = _symmetric(f"{rnn.label}.cell_state", _merged([s.cell for s in stats], pct), cfg.cell_state_bits, cfg)
        layers = [_layer(rnn, d, prefix, input_spec, output, cell, s, cfg) for d, s in enumerate(stats)]
    return _rewrite(rnn, prefix, layers, input_spec, consts)


def _report(qmodel, float_out, inputs, calibration, count, rewrites, rnns, configs) -> QuantReport:
    from lstmc.reference import run_reference

    layers = [lay for r in rewrites.values() for lay in r.layers]
    notes, source = [], "onnxruntime"
    if _needs_int16_clip(layers, [r.input_spec for r in rewrites.values()]):
        from lstmc.stages import run_stage

        # onnxruntime has no int16 Clip kernel: take the quantized outputs from lstmc's qrnn stage, which
        # equals the onnxruntime semantics of the model bit for bit.
        quant_out = run_stage("qrnn", qmodel, inputs)
        source = "qrnn"
        notes.append("note: a 9..15-bit quantizer needs an int16 Clip, which onnxruntime cannot run; "
                     "`lstmc verify` needs onnxruntime for its reference stage")
    else:
        quant_out = run_reference(qmodel, inputs)
    outputs = []
    for name, ref in float_out.items():
        got = np.asarray(quant_out[name])
        if got.shape != ref.shape:
            raise LstmcError(f"output '{name}': the quantized model gives shape {list(got.shape[1:])}, the float "
                             f"model {list(ref.shape[1:])}")
        err = np.abs(got.astype(np.float64) - ref.astype(np.float64))
        row = OutputReport(name, float(err.max()) if err.size else 0.0, float(err.mean()) if err.size else 0.0,
                           sqnr_db(ref, got))
        if name in calibration:
            target = np.asarray(calibration[name], np.float64)
            if target.shape == ref.shape[1:] and count == 1:
                target = target[None]
            if target.shape != ref.shape:
                notes.append(f"note: target '{name}' has shape {list(target.shape)}, the output {list(ref.shape)}: "
                             "not compared")
            else:
                row.mse_float = float(np.mean((ref - target) ** 2))
                row.mse_quantized = float(np.mean((got.astype(np.float64) - target) ** 2))
        outputs.append(row)
    nodes = {r.label: _summary(configs[r.label], rewrites[r.index].input_spec, rewrites[r.index].layers)
             for r in rnns}
    return QuantReport(count, outputs, nodes, source, notes)


def quantize_file(model_path: str, calibration_path: str, config_path: Optional[str], output_path: str):
    """CLI helper: read, quantize, write atomically (nothing written on error). Returns the report."""
    import tempfile

    from lstmc.cli import load_inputs
    from lstmc.frontend import load_onnx

    directory = os.path.dirname(os.path.abspath(output_path))
    if not os.path.isdir(directory):
        raise LstmcError(f"{output_path}: directory {directory} does not exist")
    config = load_config(config_path)
    model = load_onnx(model_path)
    data = load_inputs(calibration_path)
    qmodel, report = quantize_model(model, data, config)
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=directory)
    os.close(fd)
    try:
        onnx.save(qmodel, tmp)
        os.replace(tmp, output_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return report
