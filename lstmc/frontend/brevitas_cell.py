"""Brevitas ``QuantLSTMCell`` nodes -> the Scan/QCDQ form, as an ONNX-to-ONNX rewrite before import.

Brevitas' ``export_qonnx(..., dynamo=False)`` writes each QuantLSTM layer/direction as one opaque node
(domain ``qonnx.custom_op.general``) that neither onnxruntime nor qonnx can run. Its 48 inputs, in the order of
``brevitas.export.onnx.qonnx.function.BrevitasQuantLSTMCellFn``:

    0 x [T, B, I] (B first if batch_first)   1 h0 [B, H]   2 c0 [B, H]
    3..6  input weights  W_ii, W_if, W_ic, W_io  [H, I]    (QONNX Quant of the float weight)
    7..10 hidden weights W_hi, W_hf, W_hc, W_ho  [H, H]    (idem)
    11..14 biases b_i, b_f, b_c, b_o [H]                    (32-bit Quant, scale = input scale * weight scale)
    15..47 (scale, zero point, bit width) of the 11 activation quantizers: output, cell_state,
           {input, forget, cell, output}_acc, {input, forget, output}_sigmoid + cell_tanh (in the order
           input_sigmoid, forget_sigmoid, cell_tanh, output_sigmoid), hidden_state_tanh
and attributes ``batch_first``, ``reverse_input``, ``cifg`` and ``<q>_signed`` / ``<q>_narrow`` /
``<q>_rounding_mode`` per quantizer (Brevitas spells one ``output_sigmoid_narrow_range``). Outputs: Y [T, B, H]
in input time order (also for reverse_input), h_T and c_T [B, H]. Under cifg Brevitas fills the forget slots
with the input gate's weights and quantizers, and f = q_sigmoid_i(1) - i.

Each node becomes a ``Scan`` whose body is written by ``lstmc.export.scan_lstm.cell_body`` — the same writer as
lstmc's own Brevitas exporter — so both exports of one model import to the same recurrence, and the onnxruntime
reference can run the result. The export batch B (the example input's; the weights do not depend on it) sets
the Scan's layout:
- B = 1: Squeeze(batch) -> Scan of x [T, I], state [H] -> Unsqueeze(batch): one sequence per inference, the
  very recurrence of lstmc's own export.
- B > 1: torch's layout kept, a Scan of x [T, B, I] with state [B, H] (batch_first: x [B, T, I] is transposed
  to it and Y back), which lstmc compiles as B interleaved sequences in one kernel; the graph interface stays
  the export's ([T, B, I] in, [T, B, H*D] and [L*D, B, H] out).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from lstmc.errors import LstmcError
from lstmc.export.scan_lstm import (
    GATES,
    INT16_OPSET,
    MIN_OPSET,
    GateOnnx,
    LayerOnnx,
    QuantSpec,
    cell_body,
    check_spec,
)
from lstmc.frontend.model import graph_constants, remove_unused

DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general")
QUANTIZERS = (
    "output",
    "cell_state",
    "input_acc",
    "forget_acc",
    "cell_acc",
    "output_acc",
    "input_sigmoid",
    "forget_sigmoid",
    "cell_tanh",
    "output_sigmoid",
    "hidden_state_tanh",
)
N_INPUTS = 15 + 3 * len(QUANTIZERS)
_ROUND = ("ROUND", "HALF_EVEN", "ROUND_HALF_EVEN")


def is_cell(node: onnx.NodeProto) -> bool:
    return node.op_type == "QuantLSTMCell" and node.domain in DOMAINS


def expand_quant_lstm_cells(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` with every QuantLSTMCell rewritten to Scan/QCDQ (``model`` itself if it has none)."""
    if not any(is_cell(n) for n in model.graph.node):
        return model
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    consts = graph_constants(graph)
    producers = {o: n for n in graph.node for o in n.output}
    shapes = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input}
    nodes, needed_opset = [], MIN_OPSET
    for index, node in enumerate(graph.node):
        if not is_cell(node):
            nodes.append(node)
            continue
        cell = _Cell(node, index, consts, producers, shapes)
        new_nodes, inits, opset = cell.expand()
        nodes.extend(new_nodes)
        graph.initializer.extend(inits)
        needed_opset = max(needed_opset, opset)
    del graph.node[:]
    graph.node.extend(nodes)
    remove_unused(graph)  # the cells' weight Quant nodes and their initializers
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            if o.version < 13:
                raise LstmcError(
                    f"opset {o.version} is too old for QuantLSTMCell models (Squeeze/Unsqueeze need >= 13)"
                )
            o.version = max(o.version, needed_opset)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:  # a bug here, not the user's: say where it came from
        raise LstmcError(f"expanding QuantLSTMCell nodes produced an invalid model: {str(e).splitlines()[0]}") from e
    return model


class _Cell:
    def __init__(self, node, index, consts, producers, shapes):
        self.node, self.index, self.consts, self.producers, self.shapes = node, index, consts, producers, shapes
        self.attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def error(self, message: str) -> LstmcError:
        label = f"node '{self.node.name}'" if self.node.name else f"QuantLSTMCell producing '{self.node.output[0]}'"
        return LstmcError(f"{label} (QuantLSTMCell): {message}")

    # -------------------------------------------------------------------------------------------------- reading
    def const(self, index: int, what: str) -> np.ndarray:
        name = self.node.input[index]
        if name not in self.consts:
            raise self.error(f"{what} (input {index}, '{name}') must be a constant")
        value = np.asarray(self.consts[name])
        if value.dtype.kind not in "biuf":
            raise self.error(f"{what} (input {index}, '{name}') has element type {value.dtype}, expected numbers")
        return value

    def attr_flag(self, quantizer: str, key: str) -> bool:
        names = [f"{quantizer}_{key}"] + ([f"{quantizer}_narrow_range"] if key == "narrow" else [])
        for name in names:
            if name in self.attrs:
                if self.attrs[name] not in (0, 1):
                    raise self.error(f"attribute '{name}' = {self.attrs[name]} is not 0 or 1")
                return bool(self.attrs[name])
        raise self.error(f"attribute '{quantizer}_{key}' is missing")

    def check_rounding(self, mode, what: str) -> None:
        mode = mode.decode(errors="replace") if isinstance(mode, bytes) else str(mode)
        if mode.upper() not in _ROUND:
            raise self.error(f"{what}: rounding mode '{mode}' is not supported (only ROUND, round half to even)")

    def activation(self, k: int) -> QuantSpec:
        q = QUANTIZERS[k]
        base = 15 + 3 * k
        scale = self.float32_const(base, f"{q} scale")
        zp = self.const(base + 1, f"{q} zero point").astype(np.float64)
        bits = self.const(base + 2, f"{q} bit width").astype(np.float64)
        if scale.size != 1 or zp.size != 1:
            raise self.error(
                f"quantizer '{q}' is per-channel (scale shape {list(scale.shape)}); only per-tensor "
                "activation quantizers are supported"
            )
        self.check_rounding(self.attrs.get(f"{q}_rounding_mode", "ROUND"), f"quantizer '{q}'")
        return self.spec(
            q,
            scale.reshape(()),
            self.integers(zp.reshape(()), f"quantizer '{q}': zero point"),
            self.bit_width(bits, f"quantizer '{q}'"),
            self.attr_flag(q, "signed"),
            self.attr_flag(q, "narrow"),
        )

    def float32_const(self, index: int, what: str) -> np.ndarray:
        """A float32 constant input; another type would be rounded to float32 silently."""
        value = self.const(index, what)
        if value.dtype != np.float32:
            raise self.error(
                f"{what} (input {index}, '{self.node.input[index]}') has element type {value.dtype}, expected float32"
            )
        return value

    def integers(self, values: np.ndarray, what: str) -> np.ndarray:
        """Integer-valued float constants (zero points) as int64; NaN, inf and fractions are refused."""
        values = np.asarray(values, np.float64)
        if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
            raise self.error(f"{what} must be a finite integer, got {values.reshape(-1).tolist()[:4]}")
        if np.any(np.abs(values) > 2.0**32):  # outside any range check_spec accepts; keeps int64 exact
            raise self.error(f"{what} {values.reshape(-1).tolist()[:4]} is outside the quantizer's integer range")
        return values.astype(np.int64)

    def bit_width(self, bits: np.ndarray, what: str) -> int:
        bits = np.asarray(bits, np.float64).reshape(-1)
        if bits.size != 1 or not np.isfinite(bits[0]) or bits[0] != round(bits[0]) or not 1 <= bits[0] <= 32:
            raise self.error(f"{what}: bit width must be one integer in 1..32, got {bits.tolist()[:4]}")
        return int(bits[0])

    def spec(self, what, scale, zp, bits, signed, narrow, axis=None) -> QuantSpec:
        flat = np.asarray(scale, np.float32).reshape(-1)
        bad = ~np.isfinite(flat) | (flat < np.finfo(np.float32).tiny)  # zero or subnormal: x / s overflows
        if np.any(bad):
            raise self.error(f"{what}: scale {flat[bad][0]:g} is not a finite, positive, normal float32")
        try:  # check_spec's message starts with `what`; self.error adds the node (on one line: arrays wrap)
            return check_spec(QuantSpec(what, scale, zp.astype(np.int64), bits, signed, narrow, axis))
        except ValueError as e:
            raise self.error(" ".join(str(e).split())) from e

    def quant_producer(self, index: int, what: str):
        """(float constant, scale, zero point, bits, signed, narrow) of the QONNX Quant that made input ``index``."""
        name = self.node.input[index]
        quant = self.producers.get(name)
        if (
            quant is None
            or quant.op_type != "Quant"
            or quant.domain not in DOMAINS
            or quant.input[0] not in self.consts
        ):
            raise self.error(f"{what} ('{name}') must be a QONNX Quant of an initializer, as Brevitas exports it")
        attrs = {a.name: helper.get_attribute_value(a) for a in quant.attribute}
        self.check_rounding(attrs.get("rounding_mode", "ROUND"), what)
        for key, default in (("signed", 1), ("narrow", 0)):
            if attrs.get(key, default) not in (0, 1):
                raise self.error(f"{what}: attribute '{key}' = {attrs[key]} of its Quant is not 0 or 1")
        try:
            value, scale, zp, bits = (np.asarray(self.consts[n]) for n in quant.input[:4])
        except (KeyError, ValueError) as e:
            raise self.error(f"{what}: the scale, zero point and bit width of its Quant must be constants") from e
        for array, part in ((value, "value"), (scale, "scale")):
            if array.dtype != np.float32:  # another type would be rounded to float32 silently
                raise self.error(f"{what}: {part} has element type {array.dtype}, expected float32")
        for array, part in ((zp, "zero point"), (bits, "bit width")):
            if array.dtype.kind not in "biuf":
                raise self.error(f"{what}: {part} has element type {array.dtype}, expected numbers")
        if not np.all(np.isfinite(value)):  # Brevitas would propagate NaN/inf; QuantizeLinear saturates them
            raise self.error(f"{what} ('{quant.input[0]}') contains NaN or infinite values")
        return (
            value,
            scale,
            self.integers(zp, f"{what}: zero point").astype(np.float64),
            self.bit_width(bits, what),
            bool(attrs.get("signed", 1)),
            bool(attrs.get("narrow", 0)),
        )

    def weight(self, index: int, what: str, rows: int, cols: int) -> tuple[np.ndarray, QuantSpec]:
        """(quantized W^T [cols, rows], spec with axis 1 when per output channel)."""
        value, scale, zp, bits, signed, narrow = self.quant_producer(index, what)
        if value.shape != (rows, cols):
            raise self.error(f"{what} has shape {list(value.shape)}, expected [{rows}, {cols}]")
        if scale.size == 1 and zp.size == 1:
            spec = self.spec(what, scale.reshape(()), zp.reshape(()), bits, signed, narrow)
        elif scale.size == rows and zp.size in (1, rows):
            spec = self.spec(
                what, scale.reshape(-1), np.broadcast_to(zp.reshape(-1), (rows,)), bits, signed, narrow, axis=1
            )
        else:
            raise self.error(f"{what}: scale of shape {list(scale.shape)} is neither per-tensor nor per output channel")
        return _brevitas_fake_quant(np.ascontiguousarray(value.T), spec), spec

    def bias(self, index: int, what: str, hidden: int):
        """(int32 codes [H], scale) of a quantized bias, or None for Brevitas' bias-less placeholder (a zero)."""
        name = self.node.input[index]
        if name in self.consts:
            value = np.asarray(self.consts[name], np.float32)
            if np.all(value == 0):
                return None
            raise self.error(f"{what} ('{name}') is a float constant; only quantized (Quant) biases are supported")
        value, scale, zp, bits, signed, narrow = self.quant_producer(index, what)
        if value.shape != (hidden,):
            raise self.error(f"{what} has shape {list(value.shape)}, expected [{hidden}]")
        if np.any(zp != 0) or not signed or bits > 32:
            raise self.error(f"{what}: only signed biases of at most 32 bits with zero point 0 are supported")
        if scale.size not in (1, hidden):
            raise self.error(f"{what}: scale of shape {list(scale.shape)} is neither per-tensor nor per output channel")
        scale = scale.reshape(()) if scale.size == 1 else scale.reshape(-1)
        if not np.all(np.isfinite(scale)) or np.any(scale < np.finfo(np.float32).tiny):
            raise self.error(
                f"{what}: scales must be finite, positive, normal float32, got {scale.reshape(-1).tolist()[:4]}"
            )
        lo, hi = -(2 ** (bits - 1)) + int(narrow), 2 ** (bits - 1) - 1
        with np.errstate(over="ignore"):  # beyond float32 is inf: saturated by the clip
            codes = np.round(value / scale).astype(np.float64)
        # Clip in float64: in float32, 2^31 - 1 rounds up to 2^31, whose int32 cast gives INT32_MIN.
        return np.clip(codes, lo, hi).astype(np.int32), scale

    # -------------------------------------------------------------------------------------------------- writing
    def layer(self) -> LayerOnnx:
        node = self.node
        if len(node.input) != N_INPUTS:
            raise self.error(f"has {len(node.input)} inputs, expected {N_INPUTS} (Brevitas 0.13 QuantLSTMCell)")
        for name in ("batch_first", "reverse_input", "cifg"):
            if name not in self.attrs:
                raise self.error(f"attribute '{name}' is missing")
            if self.attrs[name] not in (0, 1):
                raise self.error(f"attribute '{name}' = {self.attrs[name]} is not 0 or 1")
        w_ii = self.quant_producer(3, "input weight of the input gate")[0]
        if w_ii.ndim != 2:
            raise self.error(f"input weights have shape {list(w_ii.shape)}, expected [hidden, input]")
        hidden, input_size = w_ii.shape
        acts = [self.activation(k) for k in range(len(QUANTIZERS))]
        spec: dict[str, QuantSpec] = dict(zip(QUANTIZERS, acts))
        cifg = bool(self.attrs["cifg"])
        gates = {}
        for g, gate in enumerate(GATES):
            if cifg and gate == "forget":
                continue
            act = "cell_tanh" if gate == "cell" else f"{gate}_sigmoid"
            gates[gate] = GateOnnx(
                wx=self.weight(3 + g, f"input weight of the {gate} gate", hidden, input_size),
                wh=self.weight(7 + g, f"hidden weight of the {gate} gate", hidden, hidden),
                bias=self.bias(11 + g, f"bias of the {gate} gate", hidden),
                acc=spec[f"{gate}_acc"],
                act=spec[act],
            )
        reverse = bool(self.attrs["reverse_input"])
        return LayerOnnx(
            name=f"cell{self.index}_{'bwd' if reverse else 'fwd'}",
            input_size=input_size,
            hidden=hidden,
            reverse=reverse,
            gates=gates,
            cifg_one=float(spec["input_sigmoid"].fake_quant(np.ones(1, np.float32))[0]) if cifg else None,
            cell_state=spec["cell_state"],
            hidden_tanh=spec["hidden_state_tanh"],
            output=spec["output"],
        )

    def batch(self, batch_axis: int, hidden: int) -> int:
        """The export batch B (the weights do not depend on it): the batch axis of the input [T, B, I] (followed
        back through Quant nodes to a graph input) and of the initial states h0, c0 [B, H] (Brevitas writes them
        as zero constants of the example input's batch). Every one that is known must agree."""
        found = {}
        name = self.node.input[0]
        while name in self.producers and self.producers[name].op_type == "Quant":
            name = self.producers[name].input[0]
        dims = self.shapes.get(name)
        if dims and len(dims) == 3 and dims[batch_axis] > 0:  # 0: a symbolic batch, told by the states
            found[f"input '{name}' (shape {dims})"] = dims[batch_axis]
        for index, what in ((1, "h0"), (2, "c0")):
            state = self.node.input[index]
            shape = list(np.shape(self.consts[state])) if state in self.consts else self.shapes.get(state)
            if shape is not None and (len(shape) != 2 or shape[1] not in (0, hidden)):
                raise self.error(f"initial state {what} ('{state}') has shape {shape}, expected [batch, {hidden}]")
            if shape is not None and shape[0] > 0:
                found[f"initial state {what} (shape {shape})"] = shape[0]
        if not found:
            raise self.error("neither the input nor the initial states have a known batch size")
        if len(set(found.values())) > 1:
            raise self.error(
                ", ".join(f"{k} has batch size {v}" for k, v in found.items())
                + ": one Brevitas export has one batch throughout (re-export with one example input)"
            )
        return next(iter(found.values()))

    def expand(self) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto], int]:
        lay = self.layer()
        batch_axis = 0 if self.attrs["batch_first"] else 1
        batch = self.batch(batch_axis, lay.hidden)
        label = self.node.name or f"quant_lstm_cell_{self.index}"
        if batch == 1:
            nodes, inits = self.one_sequence(lay, label, batch_axis)
        else:
            nodes, inits = self.interleaved(lay, label, batch, batch_axis)
        wide = any(s is not None and s.bit_width > 8 for s in lay.specs())
        return nodes, inits, INT16_OPSET if wide else MIN_OPSET

    def scan(
        self, lay: LayerOnnx, label: str, states: list[str], x: str, outs: list[str], body: onnx.GraphProto
    ) -> onnx.NodeProto:
        rev = [int(lay.reverse)]
        return helper.make_node(
            "Scan",
            states + [x],
            outs,
            name=label,
            num_scan_inputs=1,
            body=body,
            scan_input_directions=rev,
            scan_output_directions=rev,
        )

    def one_sequence(self, lay: LayerOnnx, label: str, batch_axis: int):
        """Batch 1: Squeeze(batch) -> Scan of [T, I] with state [H] -> Unsqueeze, the very recurrence of lstmc's
        own export of the module."""
        node, prefix = self.node, f"{lay.name}_"
        axes = {
            k: numpy_helper.from_array(np.array([v], np.int64), prefix + f"axes_{k}")
            for k, v in (("batch", batch_axis), ("state", 0))
        }
        nodes = [
            helper.make_node("Squeeze", [node.input[0], axes["batch"].name], [prefix + "x"], name=label + "/squeeze_x")
        ]
        states = []
        for i, what in ((1, "h0"), (2, "c0")):
            nodes.append(
                helper.make_node(
                    "Squeeze", [node.input[i], axes["state"].name], [prefix + what], name=f"{label}/squeeze_{what}"
                )
            )
            states.append(prefix + what)
        outs = [prefix + "h_T", prefix + "c_T", prefix + "Y"]
        nodes.append(self.scan(lay, label, states, prefix + "x", outs, cell_body(lay)))
        for out, source, ax in zip(node.output, [outs[2], outs[0], outs[1]], ["batch", "state", "state"]):
            if out:
                nodes.append(
                    helper.make_node("Unsqueeze", [source, axes[ax].name], [out], name=f"{label}/unsqueeze_{out}")
                )
        return nodes, list(axes.values())

    def interleaved(self, lay: LayerOnnx, label: str, batch: int, batch_axis: int):
        """Batch B > 1: torch's layout as is, a Scan of x [T, B, I] with the node's h0, c0 [B, H] as its state and
        the node's outputs as its own: Y [T, B, H], h_T and c_T [B, H]. Each row of the body is one sequence
        (MatMul [B, I] x [I, H], biases broadcast over the rows), so the B sequences stay independent and lstmc
        compiles them interleaved in one kernel."""
        node, prefix = self.node, f"{lay.name}_"
        nodes, x, y = [], node.input[0], node.output[0] or prefix + "Y"
        if batch_axis == 0:  # batch_first [B, T, I]: Scan iterates over axis 0, so time goes first and Y back
            nodes.append(
                helper.make_node("Transpose", [x], [prefix + "x"], name=f"{label}/time_major_x", perm=[1, 0, 2])
            )
            x, y = prefix + "x", prefix + "Y"
        outs = [node.output[1] or prefix + "h_T", node.output[2] or prefix + "c_T", y]
        nodes.append(self.scan(lay, label, list(node.input[1:3]), x, outs, _batched_body(cell_body(lay), batch)))
        if batch_axis == 0 and node.output[0]:
            nodes.append(
                helper.make_node("Transpose", [y], [node.output[0]], name=f"{label}/batch_major_y", perm=[1, 0, 2])
            )
        return nodes, []


def _batched_body(body: onnx.GraphProto, batch: int) -> onnx.GraphProto:
    """``body`` (one sequence: h, c, x_t, outputs of shape [n]) with the batch axis declared on its inputs and
    outputs: [B, n]. The operations need no change: MatMul and the quantizers act row by row."""
    for value in list(body.input) + list(body.output):
        dims = value.type.tensor_type.shape.dim
        n = dims[0].dim_value
        del dims[:]
        dims.add().dim_value = batch
        dims.add().dim_value = n
    return body


def _brevitas_fake_quant(x: np.ndarray, spec: QuantSpec) -> np.ndarray:
    """Brevitas' IntQuant in float32: the zero point is added before rounding (unlike QuantizeLinear), which
    keeps the sign of -0.0 codes; the values are what Brevitas' forward multiplies with."""
    scale = spec._broadcast(spec.scale.astype(np.float32), x.ndim)
    zp = spec._broadcast(spec.zero_point.astype(np.float32), x.ndim)
    lo, hi = spec.int_range
    with np.errstate(over="ignore"):  # x / scale beyond float32 is inf, which the clamp saturates as torch does
        q = np.clip(np.round(x / scale + zp), np.float32(lo), np.float32(hi))
    return ((q - zp) * scale).astype(np.float32)
