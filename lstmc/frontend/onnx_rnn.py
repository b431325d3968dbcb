"""ONNX `LSTM` and `GRU` operators -> generic `qrnn.recurrence` (one per direction).

The operator is expanded into the cell it stands for, op for op, exactly as the Scan frontend would see it
written out: per gate a MatMul of x_t by W_g^T and of h by R_g^T (the ONNX [gates*H, I] weights are
transposed at import into [I, H] per gate), the biases Wb + Rb, sigmoid/tanh and the elementwise update.
Quantized weights (QuantizeLinear -> [Clip ->] DequantizeLinear of an initializer, or DequantizeLinear of
integer codes) keep their quantizer: every weight constant gets a `qrnn.quant` with the same grid, so later
passes see quantized weights.

The qrnn stage equals onnxruntime 1.32 (CPU, x86-64) bit for bit, because the float op order and kernels
reproduce onnxruntime's LSTM/GRU kernels (deep_cpu_lstm.cc + uni_directional_lstm.cc, deep_cpu_gru.cc,
rnn_helpers.cc), which do not run MatMul/Add nodes but their own GEMMs and activation loops:
- gate pre-activations are (x_t W^T + h R^T) + (Wb + Rb): the x-part GEMM (all steps at once) is computed
  first, the h-part GEMM adds its sum into it (beta = 1), and the bias, summed once as Wb + Rb, is added last
  (clip_add_bias);
- GEMMs by pre-packed weights (initializers; a QONNX Quant of one, which lstmc's reference folds) run MLAS'
  matrix kernel (sequential FMA along K), also for the one-row products of a batch-1 sequence, while a
  `qrnn.matmul` of a vector (M = 1) runs onnxruntime's vector kernel, which rounds differently. So every such
  product is written as a two-row GEMM: the row [x_t; 0] (or [h; 0]) times the weight, of which row 0 is kept
  (`qrnn.concat` -> `qrnn.matmul` -> `qrnn.reshape` -> `qrnn.slice`);
- weights a DequantizeLinear computes at run time cannot be pre-packed (constant folding skips
  DequantizeLinear): the GEMMs by them go through math::GemmEx(NoTrans, Trans) -> MlasGemm, and the one-row
  ones (the h-part, and the x-part when T = 1) take MLAS' M = 1 transposed-B kernel
  (MlasSgemmKernelM1TransposeBAvx: 8 lanes of mul + add, a reduction that depends on the column's block of
  4/2/1). They become one `qrnn.matmul ... kernel m1_transb` per onnxruntime GEMM (LSTM: h @ R[iofc]^T;
  GRU: h @ R[zr]^T and then the h gate's product by R_h), sliced per gate;
- LSTM: activations are MLAS' logistic/tanh (the Sigmoid/Tanh operators' kernels); c' = c * f + i * g,
  h' = o * tanh(c');
- GRU: z = MLAS logistic (deepcpu::sigmoid), but r and the candidate use onnxruntime's fused scalar kernels
  gru_reset_gate_sigmoid / gru_output_gate_tanh: a rational approximation p/q after clamping (sigmoid: [-20,
  20], evaluated as 0.5f * (1 + p/q) at x/2; tanh: [-10, 10]) -> `qrnn.sigmoid/qrnn.tanh ... kernel
  rational` (lstmc.numerics). r is stored, then multiplied: r * h (or, with linear_before_reset,
  r * (h R_h^T + Rb_h)). h' = (1 - z) * h~ + z * h, with h~ = tanh_r((x W_h^T + (r * h) R_h^T) + (Wb_h + Rb_h))
  or, with linear_before_reset, h~ = tanh_r((x W_h^T + r * (h R_h^T + Rb_h)) + Wb_h).
Limits of exactness (MLAS splits K into blocks of 128/256 that the two-row products do not reproduce):
pre-packed weights need H <= 128 and I <= 128 (or I <= 256 with H <= 64); run-time weights need I <= 128
unless T = 1 (their h-part is the M = 1 kernel, which has no K blocks, so any H), and there the blocking
would also depend on onnxruntime's thread count. Non-finite gate pre-activations with a bias differ:
clip_add_bias turns NaN into +FLT_MAX (std::min/std::max with the clip bound), which no qrnn op does. The
M = 1 kernel emulated is the AVX one that every x86-64 CPU with AVX uses (AVX-512 machines included); ARM64
or pre-AVX CPUs would take MLAS' general path.

lstmc runs one sequence per inference, so the batch dimension must be 1; `sequence_lens`, if given, must be a
constant equal to the sequence length. Peepholes, clip, input_forget and non-default activations are errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, overload

import numpy as np
import onnx
from xdsl.dialects.builtin import StringAttr, TensorType, f32
from xdsl.ir import Block, Region, SSAValue

from lstmc.dense import dense_from_array
from lstmc.dialects import qrnn
from lstmc.frontend.scope import Scope, node_error, sanitize, value_shape

if TYPE_CHECKING:  # the importer calls this module's import_node, so only its type is imported
    from lstmc.frontend.onnx_import import OnnxImporter

# the attributes ONNX defines for each operator, and its default activations (per direction)
RNN_ATTRIBUTES = {
    "LSTM": {
        "activation_alpha",
        "activation_beta",
        "activations",
        "clip",
        "direction",
        "hidden_size",
        "input_forget",
        "layout",
    },
    "GRU": {
        "activation_alpha",
        "activation_beta",
        "activations",
        "clip",
        "direction",
        "hidden_size",
        "layout",
        "linear_before_reset",
    },
}
DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"]}
_GATES = {"LSTM": "iofc", "GRU": "zrh"}  # ONNX gate order in W, R and B
_DIRECTIONS = {"forward": (False,), "reverse": (True,), "bidirectional": (False, True)}  # reverse, per direction


@dataclass(frozen=True)
class RnnAttributes:
    """The attributes of an ONNX LSTM/GRU node, checked (`rnn_attributes`)."""

    attrs: dict  # name -> value, as onnx.helper.get_attribute_value reads them
    reverse: tuple[bool, ...]  # per direction
    layout: int  # 0: X is [T, batch, I]; 1: [batch, T, I]
    linear_before_reset: int  # GRU


def rnn_attributes(node: onnx.NodeProto, error: Callable[[str], Exception]) -> RnnAttributes:
    """Check what lstmc supports of an LSTM/GRU node's attributes (the one check, for the importer and for
    `lstmc quantize`): an ONNX attribute of the operator, no clip, the default activations without
    alpha/beta, no coupled input-forget gate, direction, layout and linear_before_reset. `error(message)` makes
    the exception raised (it names the node)."""
    kind = node.op_type
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    for name in attrs:
        if name not in RNN_ATTRIBUTES[kind]:
            raise error(f"attribute '{name}' is not {'an' if kind == 'LSTM' else 'a'} {kind} attribute")
    if "clip" in attrs:
        raise error(f"attribute 'clip' ({attrs['clip']:g}) is not supported: lstmc imports unclipped cells")
    for name in ("activation_alpha", "activation_beta"):
        if name in attrs:
            raise error(f"attribute '{name}' is not supported: lstmc takes the default activations only")
    if attrs.get("input_forget", 0) != 0:
        raise error("attribute 'input_forget' = 1 (coupled input and forget gates) is not supported")
    direction = attrs.get("direction", b"forward")
    direction = direction.decode(errors="replace") if isinstance(direction, bytes) else str(direction)
    if direction not in _DIRECTIONS:
        raise error(f"attribute 'direction' = '{direction}' is not forward, reverse or bidirectional")
    reverse = _DIRECTIONS[direction]
    if "activations" in attrs:
        acts = [a.decode(errors="replace") if isinstance(a, bytes) else str(a) for a in attrs["activations"]]
        default = DEFAULT_ACTIVATIONS[kind] * len(reverse)
        if [a.lower() for a in acts] != [a.lower() for a in default]:
            raise error(
                f"attribute 'activations' = [{', '.join(acts)}] is not supported: lstmc takes the default "
                f"activations [{', '.join(default)}] only"
            )
    layout = attrs.get("layout", 0)
    if layout not in (0, 1):
        raise error(f"attribute 'layout' = {layout} is not 0 or 1")
    linear_before_reset = attrs.get("linear_before_reset", 0)
    if linear_before_reset not in (0, 1):
        raise error(f"attribute 'linear_before_reset' = {linear_before_reset} is not 0 or 1")
    return RnnAttributes(attrs, reverse, layout, linear_before_reset)


def _tt(shape) -> TensorType:
    return TensorType(f32, tuple(shape))


@dataclass
class _Weight:
    """A constant operand of the RNN node: its float values and, when quantized, its quantizer."""

    values: np.ndarray
    quant: qrnn.QuantAttr | None

    def part(self, index: tuple, transpose: bool) -> tuple[np.ndarray, qrnn.QuantAttr | None]:
        """values[index] (optionally transposed, for a 2-d part) and the quantizer restricted to it."""
        values = np.asarray(self.values[index], np.float32)
        quant = self.quant
        if quant is not None and quant.channel_axis is not None:
            scales, zps = np.asarray(quant.scales), np.asarray(quant.zero_points)
            kept = 0  # axis of the part that the quantizer's axis becomes
            axis = quant.channel_axis
            for i, ix in enumerate(index):
                if i == axis:
                    scales, zps = np.atleast_1d(scales[ix]), np.atleast_1d(zps[ix])
                    break
                if not isinstance(ix, int):
                    kept += 1
            else:
                raise AssertionError("quantizer axis beyond the index")
            if isinstance(index[axis], int):
                new_axis = None
            else:
                new_axis = kept
                if transpose:
                    new_axis = 1 - new_axis
            quant = qrnn.QuantAttr(
                quant.bits.data,
                quant.is_signed,
                quant.is_narrow,
                scales.tolist(),
                zps.tolist(),
                new_axis,
                quant.rounding.data,
            )
        if transpose:
            values = np.ascontiguousarray(values.T)
        return values, quant


class _RnnImport:
    def __init__(self, importer: OnnxImporter, node: onnx.NodeProto, scope: Scope):
        self.importer, self.node, self.scope = importer, node, scope
        self.kind = node.op_type
        self.attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        self.read: list[str] = []  # SSA-valued inputs read as constants (their ops may be dead afterwards)

    def error(self, message: str):
        return node_error(self.node, message)

    # ------------------------------------------------------------------------------------------ checks
    def check_attributes(self) -> None:
        checked = rnn_attributes(self.node, self.error)
        self.directions = [qrnn.REVERSE if r else qrnn.FORWARD for r in checked.reverse]
        self.layout, self.linear_before_reset = checked.layout, checked.linear_before_reset
        if self.kind == "LSTM" and len(self.node.input) > 7 and self.node.input[7]:
            raise self.error(f"peephole weights (input 'P' = '{self.node.input[7]}') are not supported")

    def input_name(self, index: int) -> str | None:
        return self.node.input[index] if len(self.node.input) > index and self.node.input[index] else None

    # ------------------------------------------------------------------------------------------ operands
    def constant(self, index: int, what: str) -> _Weight:
        """A constant input: an initializer/Constant, or the quantized constant that a DequantizeLinear made."""
        values, quant, read = self.importer.constant_operand(self.node.input[index], self.scope, self.node, what)
        # NaN/inf weights make NaN pre-activations, which onnxruntime's clip_add_bias turns into FLT_MAX: no qrnn op does
        if not np.all(np.isfinite(values)):
            raise self.error(f"{what} ('{self.node.input[index]}') contains NaN or infinite values")
        if read is not None:
            self.read.append(self.node.input[index])
        return _Weight(values, quant)

    def check_shape(self, weight: _Weight, expected: tuple[int, ...], what: str) -> None:
        if tuple(weight.values.shape) != expected:
            raise self.error(f"{what} has shape {list(weight.values.shape)}, expected {list(expected)}")

    # ------------------------------------------------------------------------------------------ IR helpers
    def add(self, block: Block, op, hint: str | None = None) -> SSAValue:
        block.add_op(op)
        if hint:
            op.results[0].name_hint = hint
        return op.results[0]

    def const(self, block: Block, values: np.ndarray, quant: qrnn.QuantAttr | None, hint: str) -> SSAValue:
        value = self.add(block, qrnn.ConstantOp(dense_from_array(np.asarray(values, np.float32))), hint)
        if quant is not None:
            value = self.add(block, qrnn.QuantOp(value, quant), hint + "_q")
        return value

    def gemm_row(self, block: Block, padded: SSAValue, weight: SSAValue, hint: str) -> SSAValue:
        """Row 0 of [v; 0] @ weight: v @ weight through onnxruntime's GEMM (not its vector) kernel."""
        n = value_shape(weight)[1]
        product = self.add(block, qrnn.MatMulOp(padded, weight, _tt((2, n))))
        flat = self.add(block, qrnn.ReshapeOp(product, _tt((2 * n,))))
        return self.add(block, qrnn.SliceOp(flat, 0, n), hint)

    def pad_row(self, block: Block, v: SSAValue) -> SSAValue:
        """[v; 0] as a [2, K] matrix (see gemm_row); v is a [K] vector or a [1, K] row."""
        k = value_shape(v)[-1]
        row = v if len(value_shape(v)) == 2 else self.add(block, qrnn.ReshapeOp(v, _tt((1, k))))
        zero = self.add(block, qrnn.ConstantOp(dense_from_array(np.zeros((1, k), np.float32))))
        return self.add(block, qrnn.ConcatOp([row, zero], 0, _tt((2, k))))

    def binary(self, block: Block, cls, a: SSAValue, b: SSAValue, hint: str | None = None) -> SSAValue:
        return self.add(block, cls(a, b, _tt(qrnn.broadcast_shapes(value_shape(a), value_shape(b)))), hint)

    def unpacked_gemm(
        self, block: Block, v: SSAValue, weight: _Weight, d: int, gates: range, hidden: int, weight_hint: str, hint: str
    ) -> SSAValue:
        """v @ weight[d, rows of `gates`]^T as one [len(gates) * H] product by MLAS' M = 1 transposed-B kernel.

        This is onnxruntime's GEMM by weights it could not pre-pack (see computed_at_run_time), one op for the
        whole GEMM because that kernel's summation order depends on the column's position in it:
        reshape v to [1, K] -> qrnn.matmul kernel m1_transb by the [K, N] constant -> reshape to [N].
        """
        rows = slice(gates.start * hidden, gates.stop * hidden)
        n = len(gates) * hidden
        k = value_shape(v)[-1]
        wt = self.const(block, *weight.part((d, rows, slice(None)), transpose=True), weight_hint)
        row = v if len(value_shape(v)) == 2 else self.add(block, qrnn.ReshapeOp(v, _tt((1, k))))
        product = self.add(block, qrnn.MatMulOp(row, wt, _tt((1, n)), "m1_transb"))
        return self.add(block, qrnn.ReshapeOp(product, _tt((n,))), hint)

    def computed_at_run_time(self, index: int) -> bool:
        """Whether onnxruntime sees input `index` (W or R) as a value computed at run time, not an initializer.

        onnxruntime's LSTM/GRU pre-pack W and R when they are initializers (after its basic optimisations) and
        then run MLAS' packed GEMM (matrix kernel). Constant folding skips DequantizeLinear, so a W/R made by
        QCDQ or DequantizeLinear stays a run-time value: the GEMMs by it go through math::GemmEx(NoTrans, Trans)
        -> MlasGemm, whose one-row products take the M = 1 transposed-B kernel. (lstmc's reference folds a
        QONNX Quant of a constant into an initializer, so those weights are pre-packed.)
        """

        def producer(name: str, graph) -> onnx.NodeProto | None:
            for n in graph.node:
                if name in n.output:
                    return n
                for attr in n.attribute:
                    for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                        if (found := producer(name, sub)) is not None:
                            return found
            return None

        node = producer(self.node.input[index], self.importer.model.graph)
        while node is not None and node.op_type == "Identity":  # onnxruntime removes Identity nodes
            node = producer(node.input[0], self.importer.model.graph)
        return node is not None and node.op_type == "DequantizeLinear"

    # ------------------------------------------------------------------------------------------ import
    def run(self) -> None:
        self.check_attributes()
        node, scope = self.node, self.scope
        gates = _GATES[self.kind]
        G, D = len(gates), len(self.directions)
        if len(node.input) < 3 or not all(node.input[:3]):
            raise self.error("needs inputs X, W and R")
        x = self.importer.value(node.input[0], scope, node, "input 'X'")
        x_shape = value_shape(x)
        if len(x_shape) != 3:
            raise self.error(f"input 'X' ('{node.input[0]}') has shape {list(x_shape)}, expected rank 3")
        steps, batch, in_size = (x_shape[1], x_shape[0], x_shape[2]) if self.layout else x_shape
        if batch != 1:
            raise self.error(
                f"input 'X' ('{node.input[0]}') has batch size {batch} (shape {list(x_shape)}); lstmc runs one "
                "sequence per inference, so the batch dimension must be 1"
            )
        w = self.constant(1, "input 'W'")
        r = self.constant(2, "input 'R'")
        if w.values.ndim != 3 or w.values.shape[0] != D or w.values.shape[1] % G:
            raise self.error(f"input 'W' has shape {list(w.values.shape)}, expected [{D}, {G}*hidden_size, {in_size}]")
        hidden = self.attrs.get("hidden_size", w.values.shape[1] // G)
        self.check_shape(w, (D, G * hidden, in_size), "input 'W'")
        self.check_shape(r, (D, G * hidden, hidden), "input 'R'")
        b = None
        if self.input_name(3):
            b = self.constant(3, "input 'B'")
            self.check_shape(b, (D, 2 * G * hidden), "input 'B'")
        lens_name = self.input_name(4)
        if lens_name:
            lens = self.scope.lookup(lens_name, "consts")
            if lens is None or np.any(np.asarray(lens).reshape(-1) != steps) or np.asarray(lens).size != 1:
                shown = "a graph input" if lens is None else f"{np.asarray(lens).reshape(-1).tolist()}"
                raise self.error(
                    f"input 'sequence_lens' ('{self.input_name(4)}') is {shown}; lstmc supports only a constant "
                    f"[{steps}] (every sequence runs all {steps} steps)"
                )
        init_names = ["initial_h"] + (["initial_c"] if self.kind == "LSTM" else [])
        inits = [self.initial_state(5 + i, what, D, hidden) for i, what in enumerate(init_names)]

        # Scan X as [T, 1, I]: each step's x_t is then already the row [1, I] of its GEMM (see pad_row).
        seq = x if not self.layout else self.importer.add(qrnn.ReshapeOp(x, _tt((steps, 1, in_size))), scope).result
        finals: list[list[SSAValue]] = [[] for _ in init_names]
        ys: list[SSAValue] = []
        for d, direction in enumerate(self.directions):
            state0 = [init(d) for init in inits]
            block = Block(arg_types=[_tt((hidden,))] * len(state0) + [_tt((1, in_size))])
            for arg, hint in zip(block.args, ["h", "c"][: len(state0)] + ["x_t"]):
                arg.name_hint = hint
            body = self.lstm_body if self.kind == "LSTM" else self.gru_body
            # GEMMs by run-time weights with one row (the h-part, batch 1; the x-part when T = 1) use MLAS' M = 1
            # transposed-B kernel; every other GEMM uses MLAS' matrix kernel (see gemm_row).
            m1 = (self.computed_at_run_time(1) and steps == 1, self.computed_at_run_time(2))
            yielded = body(block, w, r, b, d, hidden, m1)
            block.add_op(qrnn.YieldOp(*yielded, yielded[0]))
            rec = self.importer.add(
                qrnn.RecurrenceOp(state0, [seq], [_tt((steps, hidden))], [direction], [direction], Region(block)),
                scope,
            )
            label = node.name or f"{self.kind.lower()}_{'_'.join(o for o in node.output if o)}"
            if D > 1:
                label += "_forward" if direction == qrnn.FORWARD else "_reverse"
            rec.attributes["lstmc.onnx_node"] = StringAttr(label)
            for i in range(len(state0)):
                finals[i].append(rec.results[i])
            ys.append(rec.results[len(state0)])
        self.define_outputs(ys, finals, steps, hidden)
        self.drop_dead_reads()

    def initial_state(self, index: int, what: str, D: int, hidden: int):
        """A function d -> the [H] initial state of direction d (zeros when the input is absent)."""
        name = self.input_name(index)
        expected = (1, D, hidden) if self.layout else (D, 1, hidden)
        if name is None:
            return lambda d: self.importer.add(
                qrnn.ConstantOp(dense_from_array(np.zeros(hidden, np.float32))), self.scope
            ).result
        array = self.scope.lookup(name, "consts")
        if array is not None:
            array = np.asarray(array, np.float32)
            if array.shape != expected:
                raise self.error(f"input '{what}' has shape {list(array.shape)}, expected {list(expected)}")

            def from_const(d):
                op = self.importer.add(
                    qrnn.ConstantOp(dense_from_array(array.reshape(D, hidden)[d].copy())), self.scope
                )
                op.result.name_hint = sanitize(f"{name}_{d}" if D > 1 else name)
                return op.result

            return from_const
        value = self.importer.value(name, self.scope, self.node, f"input '{what}'")
        if value_shape(value) != expected:
            raise self.error(f"input '{what}' has shape {list(value_shape(value))}, expected {list(expected)}")
        flat = self.importer.add(qrnn.ReshapeOp(value, _tt((D * hidden,))), self.scope).result
        return lambda d: self.importer.add(qrnn.SliceOp(flat, d * hidden, hidden), self.scope).result

    def gate_weights(
        self,
        block: Block,
        w: _Weight,
        r: _Weight,
        d: int,
        g: int,
        name: str,
        hidden: int,
        want_w: bool = True,
        want_r: bool = True,
    ):
        """The [I, H] W_g^T and [H, H] R_g^T constants of gate g (None where not wanted)."""
        rows = slice(g * hidden, (g + 1) * hidden)
        wg = self.const(block, *w.part((d, rows, slice(None)), transpose=True), f"W{name}") if want_w else None
        rg = self.const(block, *r.part((d, rows, slice(None)), transpose=True), f"R{name}") if want_r else None
        return wg, rg

    @overload
    def biases(
        self, block: Block, b: _Weight | None, d: int, g: int, name: str, hidden: int, summed: Literal[True]
    ) -> SSAValue | None: ...

    @overload
    def biases(
        self, block: Block, b: _Weight | None, d: int, g: int, name: str, hidden: int, summed: Literal[False]
    ) -> tuple[SSAValue, SSAValue] | tuple[None, None]: ...

    def biases(self, block: Block, b: _Weight | None, d: int, g: int, name: str, hidden: int, summed: bool):
        """(Wb + Rb) of gate g as one value (onnxruntime sums them once), or (Wb, Rb) when not `summed`."""
        if b is None:
            return None if summed else (None, None)
        G = len(_GATES[self.kind])
        wb = b.part((d, slice(g * hidden, (g + 1) * hidden)), transpose=False)
        rb = b.part((d, slice((G + g) * hidden, (G + g + 1) * hidden)), transpose=False)
        if summed and b.quant is None:
            return self.const(block, wb[0] + rb[0], None, f"b{name}")
        wbv, rbv = self.const(block, *wb, f"Wb{name}"), self.const(block, *rb, f"Rb{name}")
        if not summed:
            return wbv, rbv
        return self.binary(block, qrnn.AddOp, wbv, rbv, f"b{name}")

    def lstm_body(
        self,
        block: Block,
        w: _Weight,
        r: _Weight,
        b: _Weight | None,
        d: int,
        hidden: int,
        m1: tuple[bool, bool] = (False, False),
    ):
        h, c, x_t = block.args
        G = len(_GATES["LSTM"])
        xp = None if m1[0] else self.pad_row(block, x_t)
        hp = None if m1[1] else self.pad_row(block, h)
        xw_all = self.unpacked_gemm(block, x_t, w, d, range(G), hidden, "W", "xw") if m1[0] else None
        hr_all = self.unpacked_gemm(block, h, r, d, range(G), hidden, "R", "hr") if m1[1] else None
        acts = {}
        for g, name in enumerate(_GATES["LSTM"]):
            wg, rg = self.gate_weights(block, w, r, d, g, name, hidden, not m1[0], not m1[1])
            pre = self.preactivation(block, name, g, (xw_all, xp, wg), (hr_all, hp, rg), b, d, hidden)
            act = (qrnn.TanhOp if name == "c" else qrnn.SigmoidOp)(pre)
            acts[name] = self.add(block, act, "g" if name == "c" else name)  # %c is the cell state
        fc = self.binary(block, qrnn.MulOp, c, acts["f"])
        ig = self.binary(block, qrnn.MulOp, acts["i"], acts["c"])
        c_new = self.binary(block, qrnn.AddOp, fc, ig, "c_new")
        h_new = self.binary(block, qrnn.MulOp, acts["o"], self.add(block, qrnn.TanhOp(c_new)), "h_new")
        return [h_new, c_new]

    def preactivation(self, block: Block, name: str, g: int, x_part, h_part, b, d: int, hidden: int) -> SSAValue:
        """(x W_g^T + h R_g^T) + (Wb_g + Rb_g). Each part is (the whole unpacked one-row GEMM or None, the
        padded row, the gate's weight): gate g's columns of the former, else a two-row GEMM of the latter."""
        terms = []
        for (whole, padded, weight), base in ((x_part, "xw"), (h_part, "hr")):
            terms.append(
                self.add(block, qrnn.SliceOp(whole, g * hidden, hidden), f"{base}{name}")
                if whole is not None
                else self.gemm_row(block, padded, weight, f"{base}{name}")
            )
        pre = self.binary(block, qrnn.AddOp, *terms)
        bias = self.biases(block, b, d, g, name, hidden, summed=True)
        if bias is not None:
            pre = self.binary(block, qrnn.AddOp, pre, bias)
        pre.name_hint = f"pre{name}"
        return pre

    def gru_body(
        self,
        block: Block,
        w: _Weight,
        r: _Weight,
        b: _Weight | None,
        d: int,
        hidden: int,
        m1: tuple[bool, bool] = (False, False),
    ):
        h, x_t = block.args
        xp = None if m1[0] else self.pad_row(block, x_t)
        hp = None if m1[1] else self.pad_row(block, h)
        wz, rz = self.gate_weights(block, w, r, d, 0, "z", hidden, not m1[0], not m1[1])
        wr, rr = self.gate_weights(block, w, r, d, 1, "r", hidden, not m1[0], not m1[1])
        wh, rh = self.gate_weights(block, w, r, d, 2, "h", hidden, not m1[0], not m1[1])
        # onnxruntime's GEMMs: x @ W[zrh]^T (all steps at once), h @ R[zr]^T, then the h gate's product by R_h
        xw_all = self.unpacked_gemm(block, x_t, w, d, range(3), hidden, "W", "xw") if m1[0] else None
        hr_zr = self.unpacked_gemm(block, h, r, d, range(2), hidden, "Rzr", "hrzr") if m1[1] else None
        acts = {}
        for name, wg, rg, g in (("z", wz, rz, 0), ("r", wr, rr, 1)):
            pre = self.preactivation(block, name, g, (xw_all, xp, wg), (hr_zr, hp, rg), b, d, hidden)
            # z: MLAS logistic (deepcpu::sigmoid); r: the rational approximation (gru_reset_gate_sigmoid)
            acts[name] = self.add(block, qrnn.SigmoidOp(pre, None if name == "z" else "rational"), name)
        if xw_all is not None:  # m1[0]
            xwh = self.add(block, qrnn.SliceOp(xw_all, 2 * hidden, hidden), "xwh")
        else:
            assert xp is not None and wh is not None  # x's row is padded and the gate's weight made
            xwh = self.gemm_row(block, xp, wh, "xwh")

        def times_rh(v: SSAValue, padded: SSAValue | None) -> SSAValue:
            if m1[1]:
                return self.unpacked_gemm(block, v, r, d, range(2, 3), hidden, "Rh", "hrh")
            assert rh is not None  # made when not m1[1]
            return self.gemm_row(block, padded if padded is not None else self.pad_row(block, v), rh, "hrh")

        if self.linear_before_reset:
            wbh, rbh = self.biases(block, b, d, 2, "h", hidden, summed=False)
            linear = times_rh(h, hp)
            if rbh is not None:
                linear = self.binary(block, qrnn.AddOp, linear, rbh, "hrh_b")
            pre = self.binary(block, qrnn.AddOp, xwh, self.binary(block, qrnn.MulOp, acts["r"], linear, "r_hrh"))
            if wbh is not None:
                pre = self.binary(block, qrnn.AddOp, pre, wbh)
        else:
            reset = self.binary(block, qrnn.MulOp, acts["r"], h, "r_h")
            pre = self.binary(block, qrnn.AddOp, xwh, times_rh(reset, None))
            bias = self.biases(block, b, d, 2, "h", hidden, summed=True)
            if bias is not None:
                pre = self.binary(block, qrnn.AddOp, pre, bias)
        pre.name_hint = "preh"
        cand = self.add(block, qrnn.TanhOp(pre, "rational"), "h_cand")  # gru_output_gate_tanh
        one = self.add(block, qrnn.ConstantOp(dense_from_array(np.ones((1,), np.float32))), "one")
        keep = self.binary(block, qrnn.MulOp, self.binary(block, qrnn.SubOp, one, acts["z"]), cand)
        h_new = self.binary(block, qrnn.AddOp, keep, self.binary(block, qrnn.MulOp, acts["z"], h), "h_new")
        return [h_new]

    # ------------------------------------------------------------------------------------------ outputs
    def define_outputs(self, ys: list[SSAValue], finals: list[list[SSAValue]], steps: int, hidden: int) -> None:
        scope, add = self.scope, self.importer.add

        def stack(parts: list[SSAValue], part_shape: tuple[int, ...], axis: int) -> SSAValue:
            shaped = [add(qrnn.ReshapeOp(p, _tt(part_shape)), scope).result for p in parts]
            if len(shaped) == 1:
                return shaped[0]
            full = list(part_shape)
            full[axis] *= len(shaped)
            return add(qrnn.ConcatOp(shaped, axis, _tt(full)), scope).result

        outputs = list(self.node.output)
        if outputs and outputs[0]:
            y = stack(ys, (1, steps, 1, hidden) if self.layout else (steps, 1, 1, hidden), 2 if self.layout else 1)
            self.importer.define(outputs[0], y, scope)
        for i, parts in enumerate(finals):
            if len(outputs) > i + 1 and outputs[i + 1]:
                value = stack(parts, (1, 1, hidden), 1 if self.layout else 0)
                self.importer.define(outputs[i + 1], value, scope)
        if len(outputs) > 1 + len(finals) and any(outputs[1 + len(finals) :]):
            raise self.error(f"has {len(outputs)} outputs; {self.kind} has at most {1 + len(finals)}")

    def drop_dead_reads(self) -> None:
        """Erase the ops that made a weight we read as a constant, unless something else uses them."""
        for name in dict.fromkeys(self.read):
            self.importer.drop_if_unused(self.scope.values.get(name), self.scope, self.node)


def import_node(importer: OnnxImporter, node: onnx.NodeProto, scope: Scope) -> None:
    """Import one ONNX `LSTM` or `GRU` node as one `qrnn.recurrence` per direction."""
    _RnnImport(importer, node, scope).run()
