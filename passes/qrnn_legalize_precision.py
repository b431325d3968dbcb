"""qrnn-legalize-precision: float qrnn -> integer-only qrnn that computes what the trained model computes.

Every float value of the model is, by construction of a quantized network, one of
- a *code*: an integer tensor v times a scale s (the output of a quantizer; codes are kept centred, v =
  code - zero point, so zero points never reach arithmetic);
- a *linear form*: sum_t c_t * T_t + const, where T_t are exact integer terms (integer matmuls of codes by
  weight codes, products of codes) and c_t real coefficients (products of scales) — what a MatMul/Add/Mul
  chain computes before its next quantizer;
- an *activation* of a code, waiting for its output quantizer.
The pass walks the IR once, keeps such a form per float value and emits integer ops:
- a quantizer on a linear form becomes `qrnn.scaled_sum` (terms aligned to one fixed-point scale 2^-F of the
  output LSB by integer multipliers) and `qrnn.requant` (shift by F with the quantizer's rounding, clamp);
  when a scale ratio is not a dyadic fraction the multiplier is rounded: F is the smallest shift whose proven
  worst-case error stays within `error-budget` output LSBs, and the bound is recorded as `error_bound`; a
  constant (a float bias) off the 2^-F grid becomes an odd multiple of 2^-(F+1), which rounds exactly as the
  exact sum does (see `_align`);
- sigmoid/tanh/relu + output quantizer become monotone thresholds (`act-impl=threshold`, FINN style; the
  requantizer in front is fused into them) or a table (`act-impl=lut`), both computed from the reference
  semantics (lstmc.numerics, i.e. onnxruntime's kernels) on every reachable input code; `act-impl=auto` takes,
  per activation, the cheapest by lstmc.qor's formulas (summed fractions of the part: a BRAM18 is not free) of
  the thresholds, a table over their own input (2^n entries read off the thresholds: the same function) and,
  unless the thresholds absorbed the requantizer (below) or fuse it in a recurrence (two units instead of one
  would lengthen every step's chain), act-impl=lut's requantizer + table over its codes;
- with `threshold-input=accumulator`, an activation whose input quantizer requantizes a linear form may compare
  against the raw integer accumulator instead of the aligned fixed-point sum (FINN's thresholds on the MVAU
  accumulator). If the form's coefficients, in LSBs of that quantizer, are r_t = alpha * m_t per channel with
  coprime integers m_t (x- and h-part on one scale: m = (1, 1); scales in ratio p/q: m = (q, p)), the
  accumulator is A = sum_t m_t T_t and the quantizer's code is round(alpha A + beta) (beta: bias, constants).
  Per channel, threshold j is the smallest integer A whose code reaches the j-th output step, solved in exact
  integer arithmetic (`_first_acc`): scale, bias, rounding, zero point, clamp and activation are absorbed with
  no alignment error, the datapath is as wide as A, and the thresholds are per channel (the bias differs per
  row). It is taken per activation where lstmc.qor's formulas make it cheaper than the aligned thresholds, so
  dyadic scales (aligned sum already exact and narrow) and ratios without small multipliers keep theirs. The
  requantizer's codes then exist nowhere at run time; `Code.absorbed` records how they follow from the
  accumulator, which is what lstmc.tie_trace compares the reference with. The default (with act-impl=auto:
  both choices are exact and taken only where lstmc.qor's formulas make them cheaper, so never worse than the
  aligned thresholds by those formulas); `threshold-input=aligned act-impl=threshold requant-impl=aligned` is
  the former design;
- with `requant-impl=auto` (the default), every requantizer that is still a unit of its own after that (the
  cell update f*c, i*g, h = o*tanh(c), top-level requantizers) is implemented exactly, as the cheapest by
  lstmc.qor of: the aligned design (kept as it is when it is exact and within `datapath-bits`), the smallest
  exact multiplier (`_multiplier`: shift s, multiplier and bias per channel such that the rounding equals the
  exact value's on EVERY accumulator value of the range, proven against the K exact thresholds, not the error
  budget), thresholds on the accumulator itself (`_absorb` with the identity table), or a table over it; only
  implementations whose widest integer fits `datapath-bits` (24: issue 12's criterion) are considered when one
  does. A requantizer with more than MAX_REQUANT_LEVELS output steps keeps its multiplier. Each records its
  exact value map in `Code.absorbed` (error_bound 0). Its codes' range is then the range it reaches, and a
  recurrence whose carried state reaches less than its quantizer's range is lowered again on that range (sound
  by induction: the body is monotone in its ranges), so the products and sums that read the state narrow too;
  the state keeps its quantizer's type (kernel ports and registers do not change), its requantizer's clamp says
  the range;
- graph inputs are quantized by `qrnn.quantize`, graph outputs dequantized by `qrnn.dequantize`: the only
  float left is at the function boundary. A graph input that initialises a recurrence state is quantized
  onto that state's grid (a kernel input port of codes);
- a carried state that no quantizer produces (FINN-GL's c_t = DQ(Q(f c)) + DQ(Q(i g))) gets the grid and the
  range lstmc.analysis proves for it (a fixpoint over the recurrence), and is that exact integer sum;
- a matrix-column product MatMul(W [M, K], x [K, 1]) is the integer row-vector product x^T W^T, and a
  `qrnn.quant_dequant` (Q and DQ of one tensor with two scales) the quantizer's codes read on the
  dequantizer's scale.
Integer widths come from interval analysis over the actual weight values: every type is the narrowest siN/uiN
holding the value's reachable range, so nothing overflows and nothing is wider than needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    FloatAttr,
    IntegerType,
    ModuleOp,
    TensorType,
    f64,
    i64,
)
from xdsl.ir import Block, Operation, OpResult, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import DiagnosticException

from lstmc import numerics
from lstmc.dense import array_from_dense, dense_from_array
from lstmc.dialects import qrnn
from lstmc.passes.common import erase_dead_pure_ops

MAX_BITS = 62  # integer values are int64 in the interpreter; keep two bits of headroom
MAX_TABLE = 1 << 20  # an activation's input range must be tabulable
ACT_IMPLS = ("threshold", "lut", "auto")
THRESHOLD_INPUTS = ("aligned", "accumulator")
REQUANT_IMPLS = ("aligned", "auto")
MAX_REQUANT_LEVELS = 4096  # a requantizer with more output steps keeps its multiplier (no threshold proof)


class LegalizeError(DiagnosticException):
    pass


def _tensor(value: SSAValue) -> TensorType:
    """The type of a value of the tensor-level IR."""
    return SSAValue.get(value, type=TensorType).type


def _bits(value: SSAValue) -> int:
    """The width of the integer elements of a value."""
    element = _tensor(value).get_element_type()
    assert isinstance(element, IntegerType), element
    return element.width.data


def _yield_of(body: Block) -> qrnn.YieldOp:
    """The terminator of a recurrence body."""
    term = body.last_op
    assert isinstance(term, qrnn.YieldOp)
    return term


def _err(op: Operation, message: str) -> LegalizeError:
    hint = next((r.name_hint for r in op.results if r.name_hint), None)
    where = f"'{op.name}'" + (f" (%{hint})" if hint else "")
    return LegalizeError(f"qrnn-legalize-precision: {where}: {message}")


# --------------------------------------------------------------------------------------------------- forms
@dataclass
class Code:
    """The float value equals value * scale exactly; value is an integer SSA value in [lo, hi]."""

    value: SSAValue
    scale: np.ndarray  # float64 holding f32 scales: shape () or (N,) per channel of the last axis
    lo: int
    hi: int
    quant: qrnn.QuantAttr | None = None  # the quantizer that made it (for dequantizing graph outputs)
    # How the value was requantized from an accumulator, so thresholds can fuse the requantizer:
    pre: tuple[SSAValue, int, str] | None = None  # (accumulator, shift, rounding)
    # The exact linear form the requantizer rounds, so thresholds can absorb it (threshold-input=accumulator):
    origin: Origin | None = None
    # The requantizer's exact value from an integer accumulator: set when thresholds absorbed it (its codes are
    # never computed) and when requant-impl made it exact thresholds, a table or a narrowed multiplier
    absorbed: Absorbed | None = None


@dataclass
class Origin:
    """A requantizer's exact input, in LSBs of its quantizer: sum_t ratios[t] * terms[t] + const (exact rationals
    per channel, shape () or (N,)), rounded with `rounding`."""

    terms: list[Term]
    ratios: list[np.ndarray]
    const: np.ndarray
    rounding: str


@dataclass
class Absorbed:
    """A requantizer's exact value read off the integer accumulator `acc` (thresholds absorbed it, or requant-impl
    replaced it): on channel n its code is clamp(round((p[n] * acc + q[n]) / d[n]), lo, hi), exactly, with the
    quantizer's rounding."""

    acc: SSAValue
    p: list[int]
    q: list[int]
    d: list[int]
    rounding: str

    def values(self, acc: np.ndarray) -> np.ndarray:
        """The exact value before rounding (Fractions, object array) of accumulator values [..., N]."""
        acc = np.asarray(acc, dtype=np.int64)
        out = np.empty(acc.shape, dtype=object)
        for idx, a in np.ndenumerate(acc):
            n = idx[-1] if idx else 0
            out[idx] = Fraction(self.p[n] * int(a) + self.q[n], self.d[n])
        return out


@dataclass
class ConstCode:
    """A quantized constant (weights, biases): integer codes (centred) times scale."""

    codes: np.ndarray  # int64
    scale: np.ndarray
    quant: qrnn.QuantAttr
    value: SSAValue | None = None  # the integer constant, emitted on first use


@dataclass
class Const:
    """An unquantized float constant (initial states, the 1 of 1 - f)."""

    value: np.ndarray  # float32


@dataclass
class Term:
    value: SSAValue
    lo: np.ndarray  # per last-axis channel range, int64 arrays of shape () or (N,)
    hi: np.ndarray


@dataclass
class Linear:
    """sum_t coeffs[t] * terms[t] + const; coeffs and const are exact rationals per channel (object arrays)."""

    terms: list[Term] = field(default_factory=list)
    coeffs: list[np.ndarray] = field(default_factory=list)
    const: np.ndarray = field(default_factory=lambda: np.array(Fraction(0), dtype=object))


@dataclass
class FloatView:
    """A graph input seen through reshapes (column vectors [N, 1] as [N]): quantized at the boundary, then moved."""

    arg: SSAValue  # the new function's float argument
    shape: tuple[int, ...]


@dataclass
class ColumnProduct:
    """MatMul(W [M, K], x [K, 1]) lowered as the row-vector product x^T W^T ([M], integers do not round); only a
    reshape to [M] (what qrnn-canonicalize puts after it) may read it."""

    linear: Linear
    shape: tuple[int, ...]


@dataclass
class Act:
    kind: str  # sigmoid | tanh | relu
    src: Code
    kernel: str = "mlas"  # float kernel of qrnn.sigmoid/qrnn.tanh whose values the table reproduces


def _frac(values) -> np.ndarray:
    """Exact rationals of float values (float32 values are exactly representable as Fractions)."""
    arr = np.asarray(values, dtype=np.float64)
    out = np.empty(arr.shape, dtype=object)
    for idx, v in np.ndenumerate(arr):
        out[idx] = Fraction(float(v))
    return out


def _int_type(lo: int, hi: int, op: Operation) -> IntegerType:
    ty = qrnn.integer_type_for_range(int(lo), int(hi))
    if ty.width.data > MAX_BITS:
        raise _err(
            op, f"needs a {ty.width.data}-bit integer (range [{lo}, {hi}]); lstmc supports up to {MAX_BITS} bits"
        )
    return ty


def _scale_of(quant: qrnn.QuantAttr, shape: tuple[int, ...], op: Operation) -> np.ndarray:
    scales = np.asarray(quant.scales, dtype=np.float64)
    axis = quant.channel_axis
    if axis is None:
        return scales.reshape(())
    if shape and axis % len(shape) == len(shape) - 1:
        return scales
    raise _err(
        op,
        f"per-channel quantization along axis {axis} of a {len(shape)}-d value is not supported "
        "(only along the last axis)",
    )


def _zero_points(quant: qrnn.QuantAttr) -> tuple[int, int]:
    return min(quant.zero_points), max(quant.zero_points)


def _code_range(quant: qrnn.QuantAttr) -> tuple[int, int]:
    zlo, zhi = _zero_points(quant)
    return quant.qmin - zhi, quant.qmax - zlo


# --------------------------------------------------------------------------------------------------- pass
@dataclass(frozen=True)
class QrnnLegalizePrecisionPass(ModulePass):
    """Lower float qrnn (with quantizers) to integer-only qrnn; see the module docstring."""

    name = "qrnn-legalize-precision"

    act_impl: str = "auto"  # threshold | lut | auto
    error_budget: float = 2.0**-20  # largest allowed alignment error, in LSBs of the quantizer it feeds
    threshold_input: str = "accumulator"  # aligned | accumulator
    requant_impl: str = "auto"  # aligned | auto
    datapath_bits: int = 24  # requant-impl=auto: widest integer a requantizer may use when an exact one fits

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.act_impl not in ACT_IMPLS:
            raise LegalizeError(
                f"qrnn-legalize-precision: act-impl must be one of {', '.join(ACT_IMPLS)}, got '{self.act_impl}'"
            )
        if self.threshold_input not in THRESHOLD_INPUTS:
            raise LegalizeError(
                f"qrnn-legalize-precision: threshold-input must be one of "
                f"{', '.join(THRESHOLD_INPUTS)}, got '{self.threshold_input}'"
            )
        if self.requant_impl not in REQUANT_IMPLS:
            raise LegalizeError(
                f"qrnn-legalize-precision: requant-impl must be one of {', '.join(REQUANT_IMPLS)}, "
                f"got '{self.requant_impl}'"
            )
        if not 0 <= self.datapath_bits <= MAX_BITS:
            raise LegalizeError(
                f"qrnn-legalize-precision: datapath-bits must be in [0, {MAX_BITS}] (0: no limit), "
                f"got {self.datapath_bits}"
            )
        if not 0 <= self.error_budget < 0.5:
            raise LegalizeError(
                f"qrnn-legalize-precision: error-budget must be in [0, 0.5) LSB, got {self.error_budget}"
            )
        for fn in list(op.walk()):
            if isinstance(fn, func.FuncOp) and not fn.is_declaration and has_float_ops(fn):
                Legalizer(self).run_function(fn)


# The op types precision legalization lowers, each with the Legalizer method that does it: dispatch is by op
# type; the method is looked up on the instance so that a subclass (lstmc.tie_trace's recorder) can extend it.
_HANDLERS: dict[type[Operation], str] = {
    qrnn.ConstantOp: "_op_constant",
    qrnn.QConstantOp: "_op_qconstant",
    qrnn.QuantOp: "_op_quant",
    qrnn.QuantDequantOp: "_op_quant_dequant",
    qrnn.SigmoidOp: "_op_sigmoid",
    qrnn.TanhOp: "_op_tanh",
    qrnn.ReluOp: "_op_relu",
    qrnn.AddOp: "_op_add",
    qrnn.SubOp: "_op_sub",
    qrnn.MulOp: "_op_mul",
    qrnn.MatMulOp: "_op_matmul",
    qrnn.SliceOp: "_op_slice",
    qrnn.ReshapeOp: "_op_reshape",
    qrnn.TransposeOp: "_op_transpose",
    qrnn.WindowOp: "_op_window",
    qrnn.ConcatOp: "_op_concat",
    qrnn.RecurrenceOp: "_op_recurrence",
}


class Legalizer:
    def __init__(self, options: QrnnLegalizePrecisionPass):
        self.options = options
        self.forms: dict[SSAValue, object] = {}
        self.block: Block | None = None
        self.function: func.FuncOp | None = None
        self.grid_analysis = None  # lstmc.analysis.GridAnalysis of the float function, made on demand
        self.sums: dict[tuple, SSAValue] = {}
        self.requants: list[tuple[qrnn.RequantOp, Code, int]] = []  # every requantizer emitted, for requant-impl
        self.narrowed: set[qrnn.RequantOp] = set()  # the requantizers requant-impl has considered
        self.relowering = False  # a recurrence body lowered again on its states' reachable ranges
        self.body_block: Block | None = None  # the recurrence body being lowered
        self.in_recurrence = 0  # how many recurrence bodies are being lowered around the current op
        self.products: dict[SSAValue, tuple[Term, Term]] = {}  # qrnn.imul results: their two factors
        self.replaced: dict[SSAValue, SSAValue] = {}  # requantizer results requant-impl replaced, by what

    # ------------------------------------------------------------------------------------------- structure
    def run_function(self, fn: func.FuncOp) -> None:
        old = fn.body.block
        new = Block(arg_types=[a.type for a in old.args])
        for a_old, a_new in zip(old.args, new.args):
            a_new.name_hint = a_old.name_hint
            self.forms[a_old] = ("float_arg", a_new)
        self.block = new
        self.function = fn
        for op in list(old.ops):
            if isinstance(op, func.ReturnOp):
                outs = [self._dequantized_output(v, op, i) for i, v in enumerate(op.arguments)]
                new.add_op(func.ReturnOp(*outs))
            else:
                self._lower(op)
        if self.options.requant_impl == "auto":
            erase_dead_pure_ops(new)  # requantizers fused into thresholds are no candidates
            self._narrow_requantizers()
        fn.body.detach_block(old)
        fn.body.add_block(new)
        erase_dead_pure_ops(new)

    def emit(self, op: Operation, hint_from: SSAValue | None = None) -> Operation:
        assert self.block is not None
        self.block.add_op(op)
        if hint_from is not None and hint_from.name_hint and op.results:
            op.results[0].name_hint = hint_from.name_hint
        return op

    def form(self, value: SSAValue, user: Operation):
        if value not in self.forms:
            raise _err(user, f"operand %{value.name_hint or '?'} has no quantized form (unsupported producer)")
        found = self.forms[value]
        if isinstance(found, ColumnProduct) and not isinstance(user, qrnn.ReshapeOp):
            raise _err(
                user,
                "reads a matrix-column product [M, 1] directly; lstmc needs it reshaped to a vector "
                "[M] first (qrnn-canonicalize does this for column-vector recurrences)",
            )
        return found

    def _lower(self, op: Operation) -> None:
        name = _HANDLERS.get(type(op))
        if name is None:
            raise _err(op, "is not supported by precision legalization")
        getattr(self, name)(op)

    # ------------------------------------------------------------------------------------------- leaves
    def _op_constant(self, op: qrnn.ConstantOp) -> None:
        value = array_from_dense(op.value)
        if not np.issubdtype(value.dtype, np.floating):
            raise _err(op, "integer constants are not expected before legalization")
        self.forms[op.result] = Const(value.astype(np.float32))

    def _op_qconstant(self, op: qrnn.QConstantOp) -> None:
        q = op.quant
        codes = array_from_dense(op.codes).astype(np.int64)
        zp = numerics.channel_values(q.zero_points, q.channel_axis, codes.ndim, np.int64)
        self.forms[op.result] = ConstCode(codes - zp, _scale_of(q, codes.shape, op), q)

    def _const_value(self, c: ConstCode, user: Operation) -> SSAValue:
        if c.value is None:
            ty = _int_type(int(c.codes.min(initial=0)), int(c.codes.max(initial=0)), user)
            const = qrnn.ConstantOp(dense_from_array(c.codes, ty))
            self.emit(const)
            c.value = const.result
        return c.value

    # ------------------------------------------------------------------------------------------- quantizers
    def _op_quant(self, op: qrnn.QuantOp) -> None:
        self.forms[op.result] = self._quantized(op, op.quant)

    def _op_quant_dequant(self, op: qrnn.QuantDequantOp) -> None:
        """Codes of the quantizer, standing for values on the dequantizer's scale: the same integers (and the
        same fused requantizer), another scale."""
        form = self._quantized(op, op.quant)
        scale = _scale_of(op.dequant, tuple(op.result.type.get_shape()), op)
        if isinstance(form, ConstCode):
            self.forms[op.result] = ConstCode(form.codes, scale, op.dequant)
        else:
            self.forms[op.result] = Code(form.value, scale, form.lo, form.hi, op.dequant, form.pre, form.origin)

    def _quantized(self, op: qrnn.QuantOp | qrnn.QuantDequantOp, q: qrnn.QuantAttr):
        """The form of quantizer q applied to op's input."""
        shape = tuple(_tensor(op.results[0]).get_shape())
        src = self.form(op.operands[0], op)
        lo, hi = _code_range(q)
        if isinstance(src, FloatView) or (isinstance(src, tuple) and src[0] == "float_arg"):
            return Code(self._quantize_input(op, src, q), _scale_of(q, shape, op), lo, hi, q)
        if isinstance(src, Const):
            return self._quantized_const(src.value, q, shape, op)
        if isinstance(src, ConstCode):
            real = src.codes.astype(np.float32) * src.scale.astype(np.float32)
            return self._quantized_const(real, q, shape, op)
        if isinstance(src, Act):
            return self._activation(op, src, q)
        if isinstance(src, Code):
            src = Linear([Term(src.value, np.asarray(src.lo), np.asarray(src.hi))], [_frac(src.scale)])
        if not isinstance(src, Linear):
            raise _err(op, "quantizes a value of unsupported form")
        if not src.terms:  # arithmetic on constants only
            value = np.broadcast_to(np.vectorize(float)(src.const), shape).astype(np.float32)
            return self._quantized_const(value, q, shape, op)
        return self._requantize(op, src, q)

    def _quantize_input(self, op: Operation, src, q: qrnn.QuantAttr, hint: SSAValue | None = None) -> SSAValue:
        """qrnn.quantize of a graph input at the function boundary; a reshaped input (a view) is quantized whole,
        then reshaped as integers (elementwise quantization commutes with reshapes when it is per tensor)."""
        hint = op.results[0] if hint is None else hint
        if isinstance(src, tuple):
            return self.emit(qrnn.QuantizeOp(src[1], q), hint).results[0]
        if q.channel_axis is not None:
            raise _err(op, "a per-channel quantizer of a reshaped graph input is not supported")
        codes = self.emit(qrnn.QuantizeOp(src.arg, q), src.arg).results[0]
        moved = qrnn.ReshapeOp(codes, TensorType(_tensor(codes).get_element_type(), src.shape))
        return self.emit(moved, hint).results[0]

    def _quantized_const(self, value: np.ndarray, q: qrnn.QuantAttr, shape, op) -> ConstCode:
        codes = numerics.quantize(value, numerics.quant_params(q))
        zp = numerics.channel_values(q.zero_points, q.channel_axis, codes.ndim, np.int64)
        return ConstCode(codes - zp, _scale_of(q, shape, op), q)

    def _requantize(self, op: qrnn.QuantOp | qrnn.QuantDequantOp, lin: Linear, q: qrnn.QuantAttr) -> Code:
        """Code of quantizer q applied to a linear form: scaled_sum (if needed) + requant."""
        shape = tuple(op.result.type.get_shape())
        s_out = _frac(_scale_of(q, shape, op))
        ratios = [c / s_out for c in lin.coeffs]
        const_ratio = lin.const / s_out
        n = shape[-1] if shape else 1
        shift, mults, bias, bound = self._align(op, lin, ratios, const_ratio, n)
        lo, hi = _code_range(q)
        # one term with multiplier 1 and no bias needs no scaled_sum (the requant may still shift)
        identity = len(lin.terms) == 1 and np.all(mults[0] == 1) and np.all(bias == 0)
        if identity:
            acc, acc_lo, acc_hi = lin.terms[0].value, lin.terms[0].lo, lin.terms[0].hi
        else:
            acc_lo, acc_hi = bias.copy(), bias.copy()
            for m, t in zip(mults, lin.terms):
                acc_lo = acc_lo + np.minimum(m * t.lo, m * t.hi)
                acc_hi = acc_hi + np.maximum(m * t.lo, m * t.hi)
            ty = TensorType(_int_type(int(acc_lo.min()), int(acc_hi.max()), op), shape)
            acc = self._scaled_sum([t.value for t in lin.terms], np.stack(mults), bias, ty)
        # A requantizer that cannot clamp and does not shift is the identity.
        if identity and shift == 0 and int(np.min(acc_lo)) >= lo and int(np.max(acc_hi)) <= hi:
            return Code(acc, _scale_of(q, shape, op), lo, hi, q)
        req = qrnn.RequantOp(acc, shift, lo, hi, q.rounding.data)
        req.attributes["error_bound"] = FloatAttr(bound, f64)
        self.emit(req, op.result)
        origin = Origin(lin.terms, ratios, const_ratio, q.rounding.data)
        if self.options.requant_impl == "auto":  # the codes it can reach, not the quantizer's whole range
            lo, hi = _reachable_codes(origin, n, lo, hi, bound)
        code = Code(
            req.results[0], _scale_of(q, shape, op), lo, hi, q, pre=(acc, shift, q.rounding.data), origin=origin
        )
        self.requants.append((req, code, n))
        return code

    # ------------------------------------------------------------------------------------------- requant-impl
    def _narrow_requantizers(self, requants=None) -> None:
        """requant-impl=auto: each requantizer that is still a unit of its own (not fused into an activation's
        thresholds) becomes the cheapest exact implementation whose datapath fits `datapath-bits` (the cheapest
        of all when none fits); see `_requant_choices`. Each is considered once."""
        for req, code, n in list(self.requants if requants is None else requants):
            if req in self.narrowed or req.parent is None or not req.result.uses:
                continue
            self.narrowed.add(req)
            choices = _requant_choices(req, code, n, self.products)
            if not choices:
                continue
            cap = self.options.datapath_bits
            if choices[0].kind == "aligned" and cap and choices[0].bits <= cap:
                continue  # exact and within the limit already: a shift and a clamp, kept as lowered
            fits = [c for c in choices if not cap or c.bits <= cap]
            best = min(fits or choices, key=lambda c: c.cost)  # ties keep the first: the design as it is
            if best.kind != "aligned":
                self._replace_requant(req, code, best)

    def _replace_requant(self, req: qrnn.RequantOp, code: Code, c: _RequantChoice) -> None:
        block = req.parent
        assert block is not None
        ops: list[Operation] = []
        shape = req.result.type.get_shape()
        t, mults, c_bias = c.thresholds, c.mults, c.bias
        assert t is not None and mults is not None and c_bias is not None  # set on every choice but "aligned"
        assert code.origin is not None  # a requantizer of a linear form: it has choices
        values = [self.replaced.get(x.value, x.value) for x in t.terms]  # (a term may be a replaced requantizer)
        packed = c.packed
        if packed is not None:  # (kind "packed") the factor codes packed into one index
            values = [self.replaced.get(x.value, x.value) for x in packed.factors]
        owner = req.input.owner if isinstance(req.input, OpResult) else None

        def new_accumulator() -> SSAValue:
            ty = TensorType(qrnn.integer_type_for_range(*c.acc_range), shape)
            mult_attr, bias_attr = (dense_from_array(a.astype(np.int64), i64) for a in (mults, c_bias))
            ops.append(qrnn.ScaledSumOp(values, mult_attr, bias_attr, ty))
            return ops[-1].results[0]

        if c.kind == "packed":
            acc = new_accumulator()
        elif len(t.terms) == 1 and np.all(mults == 1) and (c.kind != "multiplier" or np.all(c_bias == 0)):
            acc = values[0]
        elif (
            isinstance(owner, qrnn.ScaledSumOp)
            and list(owner.terms) == values
            and np.array_equal(array_from_dense(owner.multipliers), mults.astype(np.int64))
            and np.array_equal(
                array_from_dense(owner.bias), np.broadcast_to(c_bias, (mults.shape[1],)).astype(np.int64)
            )
        ):
            acc = req.input  # the sum the requantizer read already is this accumulator
        else:
            acc = new_accumulator()
        rounding = code.origin.rounding
        if c.kind == "multiplier":  # (the requantizer's own clamp and type: its users and ports stay as they are)
            unit = qrnn.RequantOp.create(
                operands=[acc],
                properties={"shift": _i64(c.shift), "lo": req.lo, "hi": req.hi, "rounding": req.rounding},
                attributes={"error_bound": FloatAttr(0.0, f64)},
                result_types=[req.result.type],
            )
            mult = [int(m) for m in c.multiplier]
            bias = [int(b) for b in c_bias]
            # acc = M A + B, so the exact value (p A + q) / d is (p acc + q M - p B) / (d M)
            absorbed = Absorbed(
                acc,
                t.p,
                [qq * m - pp * b for pp, qq, m, b in zip(t.p, t.q, mult, bias)],
                [dd * m for dd, m in zip(t.d, mult)],
                rounding,
            )
            pre = (acc, c.shift, rounding)
        elif c.kind == "thresholds":
            unit = qrnn.ThresholdOp.create(
                operands=[acc],
                properties={"thresholds": dense_from_array(t.thresholds, i64), "base": _i64(t.base)},
                result_types=[req.result.type],
            )
            absorbed, pre = Absorbed(acc, t.p, t.q, t.d, rounding), None
        elif c.kind == "packed":
            assert packed is not None
            unit = qrnn.LutOp.create(
                operands=[acc],
                properties={"table": dense_from_array(packed.table, i64), "offset": _i64(0)},
                result_types=[req.result.type],
            )
            absorbed, pre = packed.absorbed(acc, t, rounding), None
        else:  # table
            lo, hi = qrnn.integer_range_of(_tensor(acc).get_element_type())
            table = t.base + numerics.count_thresholds(np.arange(lo, hi + 1, dtype=np.int64), t.thresholds)
            unit = qrnn.LutOp.create(
                operands=[acc],
                properties={"table": dense_from_array(table, i64), "offset": _i64(lo)},
                result_types=[req.result.type],
            )
            absorbed, pre = Absorbed(acc, t.p, t.q, t.d, rounding), None
        ops.append(unit)
        block.insert_ops_before(ops, req)
        unit.results[0].name_hint = req.result.name_hint
        old = req.result
        old.replace_all_uses_with(unit.results[0])
        block.erase_op(req)
        self.replaced[old] = unit.results[0]
        for f in self.forms.values():  # every form of these codes (a quant_dequant makes a second one)
            if isinstance(f, Code) and f.value is old:
                f.value, f.pre, f.absorbed = unit.results[0], pre, absorbed
                f.lo, f.hi = max(f.lo, t.base), min(f.hi, t.top)  # exact now: the codes it reaches

    def _align(self, op, lin: Linear, ratios, const_ratio, n: int):
        """Smallest shift F with integer multipliers round(ratio * 2^F) whose worst-case error (in output
        LSBs: sum over terms of |multiplier / 2^F - ratio| * max|term|, plus the constant's) is within the budget;
        exact (bound 0) when every ratio is a dyadic fraction needing <= F fractional bits.

        With exact multipliers (dyadic ratios, e.g. power-of-two scales), a constant that is not on the 2^-F
        grid (a float bias off the accumulator's grid) is not rounded to it: with one more fractional bit it
        becomes 2 floor(c 2^F) + 1, strictly between floor and ceil of c 2^F.
        The sum (2 (sum m t) + 2 floor(c 2^F) + 1) / 2^(F+1) is then odd in its last bit, never on a rounding
        boundary (even there for F >= 1), and on the same side of every boundary as the exact sum m t / 2^F + c:
        for integers t, sum m t + c >= B  <=>  sum m t + floor(c 2^F) + 1/2 >= B when c 2^F is not an integer.
        So the requantizer (and every threshold fused from it) rounds exactly as the exact value does whenever
        the multipliers are exact, at any F; the recorded bound is still the distance of the represented value
        |floor(c 2^F) + 1/2 - c 2^F| / 2^F (what lstmc.tie_trace compares values with)."""
        budget = self.options.error_budget
        rows = [np.broadcast_to(r, (n,)) for r in ratios]
        const = np.broadcast_to(const_ratio, (n,))
        weights = [np.broadcast_to(np.maximum(np.abs(t.lo), np.abs(t.hi)), (n,)).astype(np.float64) for t in lin.terms]
        uniq = {x for row in rows for x in row}  # per-tensor scales: a handful of distinct ratios
        for shift in range(0, MAX_BITS - 1):
            scale = 1 << shift
            rounded = {x: round(x * scale) for x in uniq}
            err = {x: float(abs(Fraction(m, scale) - x)) for x, m in rounded.items()}
            total = np.zeros(n)
            if any(err.values()):
                total = total + sum(np.array([err[x] for x in row]) * w for row, w in zip(rows, weights))
            scaled = [c * scale for c in const]
            # the odd constant pays off when the multipliers are exact (then rounding is exact); with rounded
            # multipliers the constant is rounded too, its error counted like theirs
            odd = not any(err.values()) and any(c.denominator != 1 for c in scaled)
            if odd and shift == 0:
                continue  # boundaries of a 1-bit fraction are odd: the odd constant needs F >= 1
            if odd:
                total = total + np.array(
                    [
                        float(abs(Fraction(math.floor(c)) + Fraction(1, 2) - c) / scale) if c.denominator != 1 else 0.0
                        for c in scaled
                    ]
                )
            else:
                total = total + np.array([float(abs(round(c) - c) / scale) for c in scaled])
            worst = float(total.max()) if n else 0.0
            if worst <= budget:
                mults = [np.array([rounded[x] for x in row], dtype=object) for row in rows]
                if odd:
                    mults = [2 * m for m in mults]
                    bias = np.array(
                        [2 * math.floor(c) + 1 if c.denominator != 1 else 2 * int(c) for c in scaled], dtype=object
                    )
                    shift += 1
                else:
                    bias = np.array([round(c) for c in scaled], dtype=object)
                if any(abs(int(v)) >= 2**MAX_BITS for m in mults + [bias] for v in m):
                    break
                return shift, [m.astype(np.int64) for m in mults], bias.astype(np.int64), worst
        raise _err(op, f"cannot align the scales of its inputs within {budget} LSB using at most {MAX_BITS} bits")

    # ------------------------------------------------------------------------------------------- activations
    def _activation(self, op: qrnn.QuantOp | qrnn.QuantDequantOp, act: Act, q: qrnn.QuantAttr) -> Code:
        src = act.src
        if q.channel_axis is not None:
            raise _err(op, f"a per-channel quantizer after {act.kind} is not supported")
        size = src.hi - src.lo + 1
        if size > MAX_TABLE:
            raise _err(op, f"the {act.kind} input has {size} possible codes; at most {MAX_TABLE} can be tabulated")
        codes = np.arange(src.lo, src.hi + 1, dtype=np.int64)
        scales = np.atleast_1d(src.scale).astype(np.float32)
        if act.kind == "relu":
            fn = lambda v: np.maximum(v, np.float32(0))  # noqa: E731
        else:  # the op's own kernel (MLAS, or onnxruntime's GRU rational approximation): the reference values
            fn = lambda v: numerics.activation(act.kind, v, act.kernel)  # noqa: E731
        p = numerics.quant_params(q)
        zp = numerics.channel_values(q.zero_points, q.channel_axis, 1, np.int64)
        # table[c, i]: output code (centred) for input code lo + i on channel c, from the reference semantics
        table = np.stack([numerics.quantize(fn(codes.astype(np.float32) * s), p) for s in scales]) - (
            zp if zp.ndim == 0 else zp[:, None]
        )
        shape = tuple(op.result.type.get_shape())
        out_lo, out_hi = int(table.min()), int(table.max())
        out_type = TensorType(_int_type(out_lo, out_hi, op), shape)
        if self.options.act_impl == "lut":
            if table.shape[0] != 1:
                raise _err(op, "per-channel activation tables are only supported with act-impl=threshold")
            lut = qrnn.LutOp.create(
                operands=[src.value],
                properties={"table": dense_from_array(table[0], i64), "offset": _i64(src.lo)},
                result_types=[out_type],
            )
            self.emit(lut, op.result)
            return Code(lut.results[0], _scale_of(q, shape, op), out_lo, out_hi, q)
        if np.any(np.diff(table, axis=1) < 0):
            raise _err(op, f"{act.kind} followed by this quantizer is not monotone over its inputs; use act-impl=lut")
        # thresholds[c, j]: smallest input code whose output is >= out_lo + j + 1
        steps = out_hi - out_lo
        thr = np.empty((table.shape[0], steps), dtype=np.int64)
        for c in range(table.shape[0]):
            thr[c] = src.lo + np.searchsorted(table[c], np.arange(out_lo + 1, out_hi + 1), side="left")
        value = src.value
        if src.pre is not None:  # fuse the requantizer in front: thresholds on its accumulator
            acc, shift, rounding = src.pre
            thr = _acc_thresholds(thr, shift, rounding)
            value = acc
        if thr.shape[0] == 1:
            thr = thr[0]
        chosen = _Thresholds(value, thr, out_lo, out_hi)
        n = shape[-1] if shape else 1
        if self.options.threshold_input == "accumulator" and src.origin is not None:
            absorbed = _absorb(src, table, n)
            if absorbed is not None and absorbed.cost(n) < chosen.cost(n):
                chosen = absorbed
        # act-impl=auto: the cheapest of the thresholds, a table over their input (the same function, read off
        # them), and the requantizer kept with a table over its codes (act-impl=lut's unit); ties keep the first.
        # Absorbed thresholds are not traded for the last: qrnn-to-dataflow types all gates of an MVAU alike,
        # so one gate keeping the aligned sum would widen the accumulator of every absorbed one.
        impl, input_lut = "thresholds", None
        if self.options.act_impl == "auto":
            costs = {"thresholds": chosen.cost(n)}
            input_lut = _lut_of(chosen)
            if input_lut is not None:
                costs["input table"] = _lut_cost(input_lut.size, chosen) + chosen.adder_cost()
            # (not in a recurrence: two units where the others are one lengthen every step's chain, T times)
            if table.shape[0] == 1 and not chosen.terms and not (self.in_recurrence and src.pre is not None):
                costs["code table"] = _code_lut_cost(src, chosen)
            impl = min(costs, key=lambda k: costs[k])
        if impl == "code table":
            lut = qrnn.LutOp.create(
                operands=[src.value],
                properties={"table": dense_from_array(table[0], i64), "offset": _i64(src.lo)},
                result_types=[TensorType(_int_type(out_lo, out_hi, op), shape)],
            )
            self.emit(lut, op.result)
            return Code(lut.results[0], _scale_of(q, shape, op), out_lo, out_hi, q)
        if chosen.terms:  # absorbed: build the accumulator; the requantizer's codes now exist only implicitly
            chosen.value = self._accumulator(chosen, shape)
            assert src.origin is not None  # what the thresholds absorbed
            src.absorbed = Absorbed(chosen.value, chosen.p, chosen.q, chosen.d, src.origin.rounding)
        assert chosen.value is not None
        out_type = TensorType(_int_type(chosen.base, chosen.top, op), shape)
        if impl == "input table":
            assert input_lut is not None  # a cost was found for it
            unit = qrnn.LutOp.create(
                operands=[chosen.value],
                properties={"table": dense_from_array(input_lut, i64), "offset": _i64(chosen.input_range()[0])},
                result_types=[out_type],
            )
        else:
            unit = qrnn.ThresholdOp.create(
                operands=[chosen.value],
                properties={"thresholds": dense_from_array(chosen.thresholds, i64), "base": _i64(chosen.base)},
                result_types=[out_type],
            )
        self.emit(unit, op.result)
        return Code(unit.results[0], _scale_of(q, shape, op), chosen.base, chosen.top, q)

    def _accumulator(self, a: _Thresholds, shape) -> SSAValue:
        """The integer accumulator sum_t m_t T_t that absorbed thresholds compare against (a term itself when
        it is the only one, with multiplier 1)."""
        assert a.mults is not None  # absorbed thresholds
        if len(a.terms) == 1 and np.all(a.mults == 1):
            return a.terms[0].value
        ty = TensorType(qrnn.integer_type_for_range(a.acc_lo, a.acc_hi), shape)
        zero = np.zeros(a.mults.shape[1], np.int64)
        return self._scaled_sum([t.value for t in a.terms], a.mults.astype(np.int64), zero, ty)

    def _unary_act(self, op: qrnn.SigmoidOp | qrnn.TanhOp | qrnn.ReluOp, kind: str) -> None:
        src = self.form(op.input, op)
        if not isinstance(src, Code):
            raise _err(op, f"{kind} of a value that is not quantized: lstmc needs a quantizer in front of it")
        self.forms[op.result] = Act(kind, src, getattr(op, "kernel_name", "mlas"))

    def _op_sigmoid(self, op):
        self._unary_act(op, "sigmoid")

    def _op_tanh(self, op):
        self._unary_act(op, "tanh")

    def _op_relu(self, op):
        self._unary_act(op, "relu")

    # ------------------------------------------------------------------------------------------- arithmetic
    def _as_linear(self, form, op: Operation) -> Linear:
        if isinstance(form, Linear):
            return form
        if isinstance(form, Code):
            return Linear([Term(form.value, np.asarray(form.lo), np.asarray(form.hi))], [_frac(form.scale)])
        if isinstance(form, Const):
            return Linear(const=_frac(form.value))
        if isinstance(form, ConstCode):
            real = form.codes.astype(np.float32) * form.scale.astype(np.float32)  # what DequantizeLinear gives
            return Linear(const=_frac(real))
        raise _err(op, "operand is not a quantized value, constant or sum of them")

    def _op_add(self, op):
        self._add_sub(op, 1)

    def _op_sub(self, op):
        self._add_sub(op, -1)

    def _add_sub(self, op, sign: int) -> None:
        a = self._as_linear(self.form(op.lhs, op), op)
        b = self._as_linear(self.form(op.rhs, op), op)
        self.forms[op.result] = Linear(
            a.terms + b.terms, a.coeffs + [c * sign for c in b.coeffs], a.const + b.const * sign
        )

    def _op_mul(self, op) -> None:
        fa, fb = self.form(op.lhs, op), self.form(op.rhs, op)
        consts = (Const, ConstCode)
        if isinstance(fb, consts):
            fa, fb = fb, fa
        if isinstance(fa, consts):  # constant * form: scale coefficients and constant part
            k = self._as_linear(fa, op).const
            lin = self._as_linear(fb, op)
            self.forms[op.result] = Linear(lin.terms, [c * k for c in lin.coeffs], lin.const * k)
            return
        # code * (code or sum): distribute the code over the other operand's terms, exactly
        if isinstance(fb, Code):
            code, other = fb, self._as_linear(fa, op)
        elif isinstance(fa, Code):
            code, other = fa, self._as_linear(fb, op)
        else:
            raise _err(op, "multiplies two unquantized sums; lstmc needs a quantizer on one operand")
        code_term = Term(code.value, np.asarray(code.lo), np.asarray(code.hi))
        shape = tuple(op.result.type.get_shape())
        out = Linear()
        for t, c in zip(other.terms, other.coeffs):
            out.terms.append(self._imul(op, t, code_term, shape))
            out.coeffs.append(c * _frac(code.scale))
        if np.any(other.const != 0):
            out.terms.append(code_term)
            out.coeffs.append(other.const * _frac(code.scale))
        self.forms[op.result] = out

    def _imul(self, op, a: Term, b: Term, shape) -> Term:
        corners = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
        lo, hi = np.minimum.reduce(corners), np.maximum.reduce(corners)
        ty = TensorType(_int_type(int(np.min(lo)), int(np.max(hi)), op), shape)
        mul = self.emit(qrnn.IMulOp(a.value, b.value, ty))
        self.products[mul.results[0]] = (a, b)
        return Term(mul.results[0], lo, hi)

    def _op_matmul(self, op: qrnn.MatMulOp) -> None:
        fa, fw = self.form(op.lhs, op), self.form(op.rhs, op)
        rhs_shape = tuple(_tensor(op.rhs).get_shape())
        if isinstance(fa, ConstCode) and len(rhs_shape) == 2 and rhs_shape[1] == 1:
            self._column_product(op, fa, fw)
            return
        if not isinstance(fa, Code):
            raise _err(op, "the vector operand is not quantized: lstmc needs a quantizer in front of a MatMul")
        if not isinstance(fw, ConstCode):
            raise _err(op, "the weight operand is not a quantized constant")
        axis = fw.quant.channel_axis
        if fw.codes.ndim != 2 or (fw.scale.ndim == 1 and (axis is None or axis % 2 != 1)):
            raise _err(op, "weights must be a [K, N] matrix quantized per tensor or per output channel (axis 1)")
        if np.ndim(fa.scale) != 0:
            raise _err(op, "a per-channel quantized vector cannot be multiplied by a matrix exactly")
        w = fw.codes
        pos, neg = np.clip(w, 0, None), np.clip(w, None, 0)
        hi = pos.sum(axis=0) * fa.hi + neg.sum(axis=0) * fa.lo
        lo = pos.sum(axis=0) * fa.lo + neg.sum(axis=0) * fa.hi
        shape = tuple(op.result.type.get_shape())
        ty = TensorType(_int_type(int(lo.min()), int(hi.max()), op), shape)
        mm = self.emit(qrnn.IMatMulOp(fa.value, self._const_value(fw, op), ty), op.result)
        coeff = _frac(fa.scale) * _frac(fw.scale)
        self.forms[op.result] = Linear([Term(mm.results[0], lo, hi)], [coeff])

    def _column_product(self, op: qrnn.MatMulOp, fw: ConstCode, fx) -> None:
        """W [M, K] times the column x [K, 1] as the integer row-vector product x^T W^T: exact, so the order
        onnxruntime's float kernel sums in does not matter."""
        if not isinstance(fx, Code):
            raise _err(op, "the vector operand is not quantized: lstmc needs a quantizer in front of a MatMul")
        if fw.codes.ndim != 2 or np.ndim(fw.scale) != 0 or np.ndim(fx.scale) != 0:
            raise _err(op, "a matrix-column product needs per-tensor quantized weights [M, K] and vector")
        x = fx.value
        vector = tuple(_tensor(x).get_shape())[:1]
        if (
            isinstance(x, OpResult)
            and isinstance(x.op, qrnn.ReshapeOp)
            and tuple(_tensor(x.op.input).get_shape()) == vector
        ):
            x = x.op.input  # canonicalize's [K] -> [K, 1]: read the vector itself
        else:
            x = self.emit(qrnn.ReshapeOp(x, TensorType(_tensor(x).get_element_type(), vector))).results[0]
        wt = ConstCode(np.ascontiguousarray(fw.codes.T), fw.scale, fw.quant)
        pos, neg = np.clip(wt.codes, 0, None), np.clip(wt.codes, None, 0)
        hi = pos.sum(axis=0) * fx.hi + neg.sum(axis=0) * fx.lo
        lo = pos.sum(axis=0) * fx.lo + neg.sum(axis=0) * fx.hi
        m = fw.codes.shape[0]
        ty = TensorType(_int_type(int(lo.min()), int(hi.max()), op), (m,))
        mm = self.emit(qrnn.IMatMulOp(x, self._const_value(wt, op), ty), op.result)
        coeff = _frac(fx.scale) * _frac(fw.scale)
        self.forms[op.result] = ColumnProduct(Linear([Term(mm.results[0], lo, hi)], [coeff]), (m,))

    # ------------------------------------------------------------------------------------------- data movement
    def _op_slice(self, op: qrnn.SliceOp) -> None:
        src = self.form(op.input, op)
        a, b = op.start, op.start + op.size

        def cut(arr):
            arr = np.asarray(arr)
            return arr if arr.ndim == 0 else arr[..., a:b]

        if isinstance(src, Linear):
            terms = []
            for t in src.terms:
                s = self.emit(qrnn.SliceOp(t.value, a, b - a))
                terms.append(Term(s.results[0], cut(t.lo), cut(t.hi)))
            self.forms[op.result] = Linear(terms, [cut(c) for c in src.coeffs], cut(src.const))
        elif isinstance(src, Code):
            s = self.emit(qrnn.SliceOp(src.value, a, b - a), op.result)
            self.forms[op.result] = Code(s.results[0], cut(src.scale), src.lo, src.hi, src.quant)
        elif isinstance(src, ConstCode):
            self.forms[op.result] = ConstCode(src.codes[..., a:b], cut(src.scale), src.quant)
        elif isinstance(src, Const):
            self.forms[op.result] = Const(src.value[..., a:b])
        else:
            raise _err(op, "slices a value of unsupported form")

    def _op_reshape(self, op: qrnn.ReshapeOp) -> None:
        src = self.form(op.input, op)
        shape = tuple(op.result.type.get_shape())
        if isinstance(src, ColumnProduct):
            if shape != src.shape:
                raise _err(
                    op,
                    f"reshapes a matrix-column product to {list(shape)}; only the vector shape "
                    f"{list(src.shape)} is supported",
                )
            self.forms[op.result] = src.linear
            return
        if isinstance(src, tuple) and src[0] == "float_arg":
            self.forms[op.result] = FloatView(src[1], shape)
            return
        if isinstance(src, FloatView):
            self.forms[op.result] = FloatView(src.arg, shape)
            return
        if isinstance(src, Const):
            self.forms[op.result] = Const(src.value.reshape(shape))
            return
        if isinstance(src, Linear):
            self._reshape_linear(op, src, shape)
            return
        if not isinstance(src, Code) or np.ndim(src.scale) != 0:
            raise _err(op, "reshapes a value that is not a per-tensor quantized code")
        r = self.emit(qrnn.ReshapeOp(src.value, TensorType(_tensor(src.value).get_element_type(), shape)), op.result)
        self.forms[op.result] = Code(r.results[0], src.scale, src.lo, src.hi, src.quant)

    def _reshape_linear(self, op: qrnn.ReshapeOp, src: Linear, shape: tuple[int, ...]) -> None:
        """An accumulator form not yet requantized, reshaped: each integer term is reshaped with it. Its
        per-channel coefficients, constant and term ranges stay per channel when the last axis is kept, and
        become per-tensor when that axis has one channel (a convolution with one output channel, [N, 1] ->
        [N]); anything else would mix channels."""
        old = tuple(_tensor(op.input).get_shape())
        keep = bool(shape) and bool(old) and shape[-1] == old[-1]

        def moved(a: np.ndarray) -> np.ndarray:
            a = np.asarray(a)
            if a.ndim == 0 or keep:
                return a
            if a.size == 1:
                return a.reshape(())
            raise _err(op, f"reshapes a per-channel accumulator from {list(old)} to {list(shape)}")

        terms = []
        for t in src.terms:
            if tuple(_tensor(t.value).get_shape()) != old:
                raise _err(op, "reshapes an accumulator whose terms have another shape")
            ty = TensorType(_tensor(t.value).get_element_type(), shape)
            value = self.emit(qrnn.ReshapeOp(t.value, ty), t.value).results[0]
            terms.append(Term(value, moved(t.lo), moved(t.hi)))
        self.forms[op.result] = Linear(terms, [moved(c) for c in src.coeffs], moved(src.const))

    def _op_transpose(self, op: qrnn.TransposeOp) -> None:
        self._move_code(op, lambda v: qrnn.TransposeOp(v, op.permutation), "transposes")

    def _op_window(self, op: qrnn.WindowOp) -> None:
        self._move_code(op, lambda v: qrnn.WindowOp(v, op.kernel_size, op.stride), "slides a window over")

    def _move_code(self, op: qrnn.TransposeOp | qrnn.WindowOp, make, verb: str) -> None:
        """Pure data movement of a per-tensor code: same integers, same scale."""
        src = self.form(op.input, op)
        if not isinstance(src, Code) or np.ndim(src.scale) != 0:
            raise _err(op, f"{verb} a value that is not a per-tensor quantized code")
        moved = self.emit(make(src.value), op.result)
        self.forms[op.result] = Code(moved.results[0], src.scale, src.lo, src.hi, src.quant)

    def _op_concat(self, op: qrnn.ConcatOp) -> None:
        all_forms = [self.form(v, op) for v in op.inputs]
        forms = [f for f in all_forms if isinstance(f, Code) and np.ndim(f.scale) == 0]
        if len(forms) != len(all_forms):
            raise _err(op, "concatenates values that are not per-tensor quantized codes")
        if len({float(f.scale) for f in forms}) != 1:
            raise _err(op, f"concatenates codes of different scales {sorted({float(f.scale) for f in forms})}")
        lo, hi = min(f.lo for f in forms), max(f.hi for f in forms)
        # the type holds the operands' types (a range narrower than its quantizer's keeps the quantizer's type)
        types = [_type_range(f.value) for f in forms]
        ty = _int_type(min(t[0] for t in types), max(t[1] for t in types), op)
        values = [self._cast(f.value, ty) for f in forms]
        shape = tuple(op.result.type.get_shape())
        c = self.emit(qrnn.ConcatOp(values, op.axis.value.data, TensorType(ty, shape)), op.result)
        self.forms[op.result] = Code(c.results[0], forms[0].scale, lo, hi, forms[0].quant)

    def _scaled_sum(
        self, values: list[SSAValue], mults: np.ndarray, bias: np.ndarray, ty: TensorType, hint: SSAValue | None = None
    ) -> SSAValue:
        """One qrnn.scaled_sum per distinct sum in a block (a carried sum of codes is also requantized for the
        cell's tanh: the same adder serves both)."""
        key = (
            id(self.block),
            tuple(values),
            mults.astype(np.int64).tobytes(),
            mults.shape,
            bias.astype(np.int64).tobytes(),
            ty,
        )
        found = self.sums.get(key)
        if found is None:
            ssum = qrnn.ScaledSumOp(
                values, dense_from_array(mults.astype(np.int64), i64), dense_from_array(bias.astype(np.int64), i64), ty
            )
            found = self.sums[key] = self.emit(ssum, hint).results[0]
        return found

    def _cast(self, value: SSAValue, ty: IntegerType, within: tuple[int, int] | None = None) -> SSAValue:
        """`value` in type `ty`, clamped to `ty`'s range (or `within`, a range the value is known to stay in)."""
        if _tensor(value).get_element_type() == ty:
            return value
        lo, hi = qrnn.integer_range_of(ty) if within is None else within
        src_lo, src_hi = qrnn.integer_range_of(_tensor(value).get_element_type())
        req = qrnn.RequantOp.create(
            operands=[value],
            properties={
                "shift": _i64(0),
                "lo": _i64(max(lo, src_lo)),
                "hi": _i64(min(hi, src_hi)),
                "rounding": qrnn.RoundingModeAttr(qrnn.RoundingMode.HALF_EVEN),
            },
            result_types=[TensorType(ty, _tensor(value).get_shape())],
        )
        return self.emit(req, value).results[0]

    # ------------------------------------------------------------------------------------------- recurrence
    def _op_recurrence(self, op: qrnn.RecurrenceOp) -> None:
        body = op.body.block
        term = body.last_op
        assert isinstance(term, qrnn.YieldOp)
        n_state = len(op.init)
        # Each carried state is an integer on a known grid: the output of a quantizer (whose grid and range are
        # the state's), or a value the grid analysis proves to lie on one grid with a bounded range (e.g. the
        # unquantized sum of two codes of one scale), which gets an integer type of exactly that range.
        state_quant, on_grid = [], []
        for i, y in enumerate(term.values[:n_state]):
            producer = y.op if isinstance(y, OpResult) else None
            if isinstance(producer, qrnn.QuantOp):
                quant, rng = producer.quant, _code_range(producer.quant)
            elif isinstance(producer, qrnn.QuantDequantOp):
                quant, rng = producer.dequant, _code_range(producer.dequant)
            else:
                quant, rng = self._grid_quant(op, i)
            state_quant.append(quant)
            on_grid.append(rng)
        init_values, arg_forms = [], []
        for i, (v, q, (lo, hi)) in enumerate(zip(op.init, state_quant, on_grid)):
            shape = tuple(_tensor(v).get_shape())
            ty = _int_type(lo, hi, op)
            init_values.append(self._state_init(op, i, self.form(v, op), q, shape, ty))
            arg_forms.append((TensorType(ty, shape), _scale_of(q, shape, op), lo, hi, q))
        seqs = []
        for j, v in enumerate(op.inputs):
            f = self.form(v, op)
            if not isinstance(f, Code):
                raise _err(op, f"scanned input {j} is not quantized")
            seqs.append(f)
            ty = _tensor(f.value)
            arg_forms.append((TensorType(ty.get_element_type(), ty.get_shape()[1:]), f.scale, f.lo, f.hi, f.quant))
        new_body, yielded, out_forms = self._lower_body(op, arg_forms)
        if self.options.requant_impl == "auto":
            narrowed = self._narrowed_states(op, arg_forms, init_values)
            if narrowed is not None:  # lower the body again on the states' reachable ranges
                new_body, yielded, out_forms, arg_forms = self._relower_body(op, arg_forms, narrowed, new_body)
        out_types = [
            TensorType(_tensor(v).get_element_type(), (op.seq_len, *_tensor(v).get_shape())) for v in yielded[n_state:]
        ]
        rec = qrnn.RecurrenceOp(
            init_values, [s.value for s in seqs], out_types, op.in_dirs, op.out_dirs, Region(new_body)
        )
        rec.attributes.update(op.attributes)  # keeps the stable ONNX node name
        self.emit(rec)
        for old_r, new_r in zip(op.results, rec.results):
            new_r.name_hint = old_r.name_hint
        for i, r in enumerate(op.final_states):
            _, scale, lo, hi, q = arg_forms[i]
            self.forms[r] = Code(rec.final_states[i], scale, lo, hi, q)
        for r, new_r, f in zip(op.outputs, rec.outputs, out_forms):
            self.forms[r] = Code(new_r, f.scale, f.lo, f.hi, f.quant)

    def _lower_body(self, op: qrnn.RecurrenceOp, arg_forms: list) -> tuple[Block, list[SSAValue], list[Code]]:
        """The integer body of recurrence `op` with block arguments of `arg_forms` (type, scale, lo, hi, quant);
        with requant-impl=auto its requantizers are narrowed before it is returned."""
        body = op.body.block
        term = _yield_of(body)
        n_state = len(op.init)
        mark = len(self.requants)
        new_body = self.body_block = Block(arg_types=[a[0] for a in arg_forms])
        for old_arg, new_arg, (_, scale, lo, hi, q) in zip(body.args, new_body.args, arg_forms):
            new_arg.name_hint = old_arg.name_hint
            self.forms[old_arg] = Code(new_arg, scale, lo, hi, q)
        outer_block, self.block = self.block, new_body
        self.in_recurrence += 1
        try:
            for inner in list(body.ops):
                if inner is not term:
                    self._lower(inner)
            yielded, out_forms = [], []
            for i, y in enumerate(term.values):
                f = self.form(y, term)
                if not isinstance(f, Code) and not (i < n_state and isinstance(f, Linear)):
                    raise _err(op, f"yielded value {i} is not quantized")
                if i < n_state:
                    yielded.append(self._state_value(term, i, f, arg_forms[i]))
                else:
                    assert isinstance(f, Code)  # (checked just above)
                    yielded.append(f.value)
                    out_forms.append(f)
            new_body.add_op(qrnn.YieldOp(*yielded))
        finally:
            self.block = outer_block
            self.in_recurrence -= 1
        if self.options.requant_impl == "auto":
            erase_dead_pure_ops(new_body)
            self._narrow_requantizers(self.requants[mark:])
            self._clamp_states(new_body, arg_forms[:n_state])
            yielded = list(_yield_of(new_body).operands)
        return new_body, yielded, out_forms

    def _clamp_states(self, body: Block, arg_forms: list) -> None:
        """A requantizer yielding a state narrowed to what it reaches clamps to that range (same type: what it
        computes does not change, the IR now says the range the body was lowered on)."""
        for i, v in enumerate(_yield_of(body).operands[: len(arg_forms)]):
            unit = v.owner if isinstance(v, OpResult) else None
            _, _, lo, hi, _ = arg_forms[i]
            if not isinstance(unit, qrnn.RequantOp) or "error_bound" not in unit.attributes or unit.parent is not body:
                continue
            u_lo, u_hi = unit.lo.value.data, unit.hi.value.data
            if u_lo >= lo and u_hi <= hi:
                continue
            new = qrnn.RequantOp.create(
                operands=[unit.input],
                properties={
                    "shift": unit.shift,
                    "lo": _i64(max(u_lo, lo)),
                    "hi": _i64(min(u_hi, hi)),
                    "rounding": unit.rounding,
                },
                attributes=dict(unit.attributes),
                result_types=[unit.result.type],
            )
            new.results[0].name_hint = unit.results[0].name_hint
            body.insert_op_before(new, unit)
            old = unit.results[0]
            old.replace_all_uses_with(new.results[0])
            body.erase_op(unit)
            self.replaced[old] = new.results[0]
            for f in self.forms.values():  # (its `pre` accumulator and shift are unchanged)
                if isinstance(f, Code) and f.value is old:
                    f.value = new.results[0]
            self.requants = [(new if r is unit else r, c, n) for r, c, n in self.requants]
            self.narrowed.add(new)  # (already chosen)

    def _narrowed_states(self, op: qrnn.RecurrenceOp, arg_forms: list, init_values: list[SSAValue]):
        """arg_forms with each quantized state's range cut to what it reaches (its initial value's range joined
        with the range the body yields from the full one), or None when no state narrows. Sound by induction:
        the body is monotone in its ranges, so from states within R it yields within R again."""
        term = _yield_of(op.body.block)
        narrowed, changed = list(arg_forms), False
        for i, (init, y) in enumerate(zip(init_values, term.values[: len(op.init)])):
            ty, scale, lo, hi, q = arg_forms[i]
            f = self.forms.get(y)
            init_range = _value_range(init)
            if not isinstance(f, Code) or init_range is None:
                continue
            new_lo, new_hi = max(lo, min(f.lo, init_range[0])), min(hi, max(f.hi, init_range[1]))
            if (new_lo, new_hi) != (lo, hi):  # the type stays the quantizer's (kernel ports, state registers)
                narrowed[i] = (ty, scale, new_lo, new_hi, q)
                changed = True
        return narrowed if changed else None

    def _relower_body(self, op: qrnn.RecurrenceOp, arg_forms: list, narrowed: list, first: Block):
        """The body lowered on the narrowed state ranges; the first lowering when the second one does not stay
        within them (then it is lowered once more on the full ranges, so that every form is the kept body's)."""
        self.sums = {k: v for k, v in self.sums.items() if k[0] != id(first)}
        self.requants = [r for r in self.requants if r[0].parent is not first]
        mark = len(self.requants)
        self.relowering = True
        try:
            new_body, yielded, out_forms = self._lower_body(op, narrowed)
            term = _yield_of(op.body.block)
            if all(
                not isinstance(f := self.forms.get(y), Code) or narrowed[i][2] <= f.lo <= f.hi <= narrowed[i][3]
                for i, y in enumerate(term.values[: len(op.init)])
            ):
                return new_body, yielded, out_forms, narrowed
        except LegalizeError:
            new_body = self.body_block  # the one it failed in
        finally:
            self.relowering = False
        self.sums = {k: v for k, v in self.sums.items() if k[0] != id(new_body)}
        del self.requants[mark:]
        return (*self._lower_body(op, arg_forms), arg_forms)

    def _grid_quant(self, op: qrnn.RecurrenceOp, i: int) -> tuple[qrnn.QuantAttr, tuple[int, int]]:
        """The grid (as a per-tensor quantizer of the smallest integer range holding it) and the proven range of
        carried state i that no quantizer produces."""
        if self.grid_analysis is None:  # run once per function, on its float IR, when a state needs it
            from lstmc.analysis import function_grids

            assert self.function is not None  # set by run_function
            self.grid_analysis = function_grids(self.function)
        states = self.grid_analysis.states.get(op)
        grid = states[i] if states is not None else None
        if grid is None:
            raise _err(
                op,
                f"carried state {i} is not the output of a quantizer; lstmc needs quantized state, or "
                "state the grid analysis places on one integer grid with a bounded range (not this one)",
            )
        scale = float(np.float32(float(grid.scale)))
        if Fraction(scale) != grid.scale:
            raise _err(op, f"carried state {i} lies on the grid {grid.scale}, which is not a float32 scale")
        from lstmc.analysis import container_range

        qmin, qmax, signed = container_range(grid.lo, grid.hi)
        bits = max((qmax - qmin).bit_length(), 1)
        return qrnn.QuantAttr(bits, signed, False, [scale], [0]), (grid.lo, grid.hi)

    def _state_value(self, term: qrnn.YieldOp, i: int, f, arg_form) -> SSAValue:
        """The integer a body yields as state i: a code of the state's scale (cast), or a sum of terms whose
        coefficients are integer multiples of it (scaled_sum, exact; its range must be within the state's)."""
        ty, scale, lo, hi, _ = arg_form
        elem, shape = ty.get_element_type(), tuple(ty.get_shape())
        if isinstance(f, Code) and np.array_equal(f.scale, scale):
            if (f.lo < lo or f.hi > hi) and not self.relowering:  # (re-lowering checks after requant-impl)
                raise _err(term, f"state {i} takes codes [{f.lo}, {f.hi}] outside its range [{lo}, {hi}]")
            return self._cast(f.value, elem, (lo, hi))
        lin = self._as_linear(f, term)
        unit = _frac(scale)
        n = shape[-1] if shape else 1
        mults = [np.broadcast_to(c / unit, (n,)) for c in lin.coeffs]
        bias = np.broadcast_to(lin.const / unit, (n,))
        if any(x.denominator != 1 for row in mults + [bias] for x in row):
            raise _err(term, f"state {i} is not an integer multiple of its grid {float(scale)}")
        mults = [np.array([int(x) for x in row], dtype=np.int64) for row in mults]
        bias = np.array([int(x) for x in bias], dtype=np.int64)
        acc_lo, acc_hi = bias.copy(), bias.copy()
        for m, t in zip(mults, lin.terms):
            acc_lo = acc_lo + np.minimum(m * t.lo, m * t.hi)
            acc_hi = acc_hi + np.maximum(m * t.lo, m * t.hi)
        if int(acc_lo.min()) < lo or int(acc_hi.max()) > hi:
            raise _err(
                term,
                f"state {i} ranges over [{int(acc_lo.min())}, {int(acc_hi.max())}], outside the range "
                f"[{lo}, {hi}] the grid analysis proved",
            )
        return self._scaled_sum(
            [t.value for t in lin.terms], np.stack(mults), bias, TensorType(elem, shape), term.values[i]
        )

    def _state_init(self, op, i: int, form, q: qrnn.QuantAttr, shape, ty) -> SSAValue:
        if isinstance(form, FloatView) or (isinstance(form, tuple) and form[0] == "float_arg"):
            # a graph input: quantized onto the state's grid at the kernel boundary (the reference reads it as
            # it is; the two agree when the input is on that grid, which is what a kernel port can take)
            return self._cast(self._quantize_input(op, form, q, op.init[i]), ty)
        if isinstance(form, Const):
            codes = numerics.quantize(form.value, numerics.quant_params(q))
            if not np.array_equal(
                numerics.dequantize(codes, numerics.quant_params(q)), np.broadcast_to(form.value, codes.shape)
            ):
                raise _err(op, f"initial state {i} is not exactly representable by the state's quantizer")
            zp = numerics.channel_values(q.zero_points, q.channel_axis, codes.ndim, np.int64)
            const = self.emit(qrnn.ConstantOp(dense_from_array(np.broadcast_to(codes - zp, shape).copy(), ty)))
            return const.results[0]
        if isinstance(form, Code) and np.array_equal(form.scale, _scale_of(q, shape, op)):
            return self._cast(form.value, ty)
        raise _err(op, f"initial state {i} is neither a constant nor a code on the state's quantizer grid")

    # ------------------------------------------------------------------------------------------- outputs
    def _dequantized_output(self, value: SSAValue, ret: Operation, index: int) -> SSAValue:
        f = self.form(value, ret)
        if isinstance(f, tuple) and f[0] == "float_arg":
            return f[1]
        if not isinstance(f, Code) or f.quant is None:
            raise _err(ret, f"output {index} is not quantized: lstmc needs a quantizer on every graph output")
        dq = qrnn.DequantizeOp(f.value, f.quant)
        return self.emit(dq, value).results[0]


def _value_range(value: SSAValue) -> tuple[int, int] | None:
    """The range of an initial state: a constant's values, else its type's."""
    owner = value.owner if isinstance(value, OpResult) else None
    if isinstance(owner, qrnn.ConstantOp):
        a = array_from_dense(owner.value)
        return (int(a.min()), int(a.max())) if a.size else None
    if isinstance(owner, qrnn.RequantOp):
        return owner.lo.value.data, owner.hi.value.data
    return _type_range(value)


def has_float_ops(fn: func.FuncOp) -> bool:
    float_ops = (
        qrnn.QuantOp,
        qrnn.QuantDequantOp,
        qrnn.QConstantOp,
        qrnn.MatMulOp,
        qrnn.AddOp,
        qrnn.SubOp,
        qrnn.MulOp,
        qrnn.SigmoidOp,
        qrnn.TanhOp,
        qrnn.ReluOp,
    )
    return any(isinstance(o, float_ops) for o in fn.walk())


def _i64(v: int):
    from xdsl.dialects.builtin import IntegerAttr

    return IntegerAttr(int(v), i64)


# ------------------------------------------------------------------------------------------- thresholds
@dataclass
class _Thresholds:
    """One implementation of a monotone activation unit: base + #{j : value >= thresholds[..., j]}, outputs in
    [base, top]. An absorbed one (`terms` set) is built on the accumulator A = sum_t mults[t] * terms[t], in
    [acc_lo, acc_hi], whose requantizer code on channel n is round((p[n] A + q[n]) / d[n])."""

    value: SSAValue | None
    thresholds: np.ndarray  # [K] shared or [N, K] per channel
    base: int
    top: int
    terms: list[Term] = field(default_factory=list)
    mults: np.ndarray | None = None  # [T, N]
    acc_lo: int = 0
    acc_hi: int = 0
    p: list[int] = field(default_factory=list)
    q: list[int] = field(default_factory=list)
    d: list[int] = field(default_factory=list)
    ch_lo: list[int] = field(default_factory=list)  # the accumulator's range per channel
    ch_hi: list[int] = field(default_factory=list)

    def input_range(self) -> tuple[int, int]:
        """The range of the type of the thresholds' input (what a table over it must cover)."""
        if self.terms:
            return qrnn.integer_range_of(qrnn.integer_type_for_range(self.acc_lo, self.acc_hi))
        assert self.value is not None  # not absorbed: on a value of the design
        return _type_range(self.value)

    def input_bits(self) -> int:
        if self.terms:
            return qrnn.integer_type_for_range(self.acc_lo, self.acc_hi).width.data
        assert self.value is not None
        return _bits(self.value)

    def output_bits(self) -> int:
        return qrnn.integer_type_for_range(self.base, self.top).width.data

    def adder_cost(self) -> float:
        """The adder making the thresholds' input, when that is a sum (a wider accumulator costs more)."""
        if not self.terms:
            assert self.value is not None
            return _adder_cost(self.value)
        if len(self.terms) == 1 and np.all(self.mults == 1):
            return 0.0
        from lstmc import qor

        term_bits = [_bits(t.value) for t in self.terms]
        return _cost(qor.elementwise_resources("scaled_sum", term_bits, self.input_bits()))

    def cost(self, channels: int) -> float:
        """lstmc.qor's threshold unit (one lane) and the adder of its input."""
        from lstmc import qor

        unit = qor.threshold_resources(
            channels, self.thresholds.shape[-1], self.input_bits(), self.output_bits(), self.thresholds.ndim == 2
        )
        return _cost(unit) + self.adder_cost()


def _adder_cost(value: SSAValue) -> float:
    """lstmc.qor's cost of the qrnn.scaled_sum producing `value` (0 for anything else)."""
    from lstmc import qor

    owner = value.owner if isinstance(value, OpResult) else None
    if not isinstance(owner, qrnn.ScaledSumOp):
        return 0.0
    term_bits = [_bits(t) for t in owner.terms]
    return _cost(qor.elementwise_resources("scaled_sum", term_bits, _bits(value)))


def _code_lut_cost(src: Code, t: _Thresholds) -> float:
    """A table over the codes of `src` (one per code), with the requantizer and adder that make them."""
    from lstmc import qor

    code_bits = _bits(src.value)
    res = qor.lut_table_resources(src.hi - src.lo + 1, code_bits, t.output_bits())
    cost = _cost(res)
    if src.pre is not None:
        acc = src.pre[0]
        cost += _cost(qor.elementwise_resources("requant", [_bits(acc)], code_bits))
        cost += _adder_cost(acc)
    return cost


def _cost(res) -> float:
    """One number to compare implementations of a unit: the fractions of the default part's LUTs, FFs, BRAM18s
    and DSPs it takes, summed (so a BRAM18 weighs like ~370 LUTs on the XCZU7EV, not nothing)."""
    from lstmc.parts import DEFAULT_PART

    return sum(res.utilisation(DEFAULT_PART).values())


def _type_range(value: SSAValue) -> tuple[int, int]:
    return qrnn.integer_range_of(_tensor(value).get_element_type())


def _lut_of(t: _Thresholds) -> np.ndarray | None:
    """The table of shared thresholds over every value of their input's type (2^n entries), or None."""
    lo, hi = t.input_range()
    if t.thresholds.ndim != 1 or hi - lo + 1 > MAX_TABLE:
        return None
    return t.base + numerics.count_thresholds(np.arange(lo, hi + 1, dtype=np.int64), t.thresholds)


def _lut_cost(entries: int, t: _Thresholds) -> float:
    from lstmc import qor

    return _cost(qor.lut_table_resources(entries, t.input_bits(), t.output_bits()))


def _rational_gcd(values) -> Fraction:
    """The largest positive rational g with every value an integer multiple of it (1 if all are zero)."""
    nums = [v.numerator for v in values if v != 0]
    if not nums:
        return Fraction(1)
    return Fraction(math.gcd(*nums), math.lcm(*(v.denominator for v in values if v != 0)))


def _round_fraction(v: Fraction, mode: str) -> int:
    """An exact rational rounded with a QONNX rounding mode (numerics.round_mode's semantics, without floats)."""
    fl = math.floor(v)
    rem = v - fl
    if mode == "floor":
        return fl
    if mode == "ceil":
        return fl + (rem != 0)
    if mode == "down":  # toward zero
        return fl + (rem != 0 and v < 0)
    if mode == "up":  # away from zero
        return fl + (rem != 0 and v > 0)
    half = Fraction(1, 2)
    if rem != half:
        return fl + (rem > half)
    ties = {"half_even": fl % 2, "half_up": v > 0, "half_down": v < 0}  # half_up/down: away from/toward zero
    return fl + int(ties[mode])


def _boundary(k: int, mode: str) -> tuple[int, bool]:
    """round(v) >= k  <=>  v > b/2, or v == b/2 when the flag is set: (b, flag) for each rounding mode."""
    if mode == "half_even":
        return 2 * k - 1, k % 2 == 0  # the tie k - 1/2 goes to whichever of k - 1, k is even
    if mode == "half_up":  # ties away from zero: k - 1/2 rounds up to k when it is positive
        return 2 * k - 1, k >= 1
    if mode == "half_down":  # ties toward zero: k - 1/2 rounds up to k when it is negative
        return 2 * k - 1, k <= 0
    if mode == "floor":
        return 2 * k, True
    if mode == "ceil":
        return 2 * k - 2, False
    if mode == "down":  # floor above zero, ceil below
        return (2 * k, True) if k >= 1 else (2 * k - 2, False)
    if mode == "up":  # ceil above zero, floor below
        return (2 * k - 2, False) if k >= 1 else (2 * k, True)
    raise ValueError(f"unknown rounding mode '{mode}'")


def _first_acc(k: int, p: int, q: int, d: int, mode: str) -> int:
    """The smallest integer A with round((p A + q) / d) >= k (p, d > 0), in exact integer arithmetic:
    (p A + q) / d > b / 2  <=>  2 p A > b d - 2 q."""
    b, inclusive = _boundary(k, mode)
    num, den = b * d - 2 * q, 2 * p
    return -(-num // den) if inclusive else num // den + 1


@dataclass
class _ExactForm:
    """A requantizer's input as an integer accumulator: per channel n, the code is
    clamp(round((p[n] A + q[n]) / d[n])) with A = sum_t mults[t, n] terms[t] in [acc_lo[n], acc_hi[n]], exactly."""

    terms: list[Term]
    mults: np.ndarray  # [T, N] coprime integers per channel (object)
    p: list[int]
    q: list[int]
    d: list[int]
    acc_lo: np.ndarray  # [N] (object)
    acc_hi: np.ndarray


def _exact_form(origin: Origin, n: int) -> _ExactForm | None:
    """The exact accumulator form of `origin` over n channels; None when that accumulator would not fit."""
    ratios = [np.broadcast_to(r, (n,)) for r in origin.ratios]
    const = np.broadcast_to(origin.const, (n,))
    mults = np.empty((len(ratios), n), dtype=object)
    p, q, d = [], [], []
    for c in range(n):
        # r_t = alpha * m_t with coprime integers m_t; then code = round(alpha * A + beta), A = sum_t m_t T_t
        alpha, beta = _rational_gcd([r[c] for r in ratios]), const[c]
        for t, r in enumerate(ratios):
            mults[t, c] = int(r[c] / alpha)
        den = math.lcm(alpha.denominator, beta.denominator)
        p.append(alpha.numerator * (den // alpha.denominator))
        q.append(beta.numerator * (den // beta.denominator))
        d.append(den)
    acc_lo, acc_hi = np.zeros(n, dtype=object), np.zeros(n, dtype=object)
    for m, t in zip(mults, origin.terms):
        lo = np.broadcast_to(np.asarray(t.lo).astype(object), (n,))
        hi = np.broadcast_to(np.asarray(t.hi).astype(object), (n,))
        acc_lo = acc_lo + np.minimum(m * lo, m * hi)
        acc_hi = acc_hi + np.maximum(m * lo, m * hi)
    if (
        max(abs(int(m)) for m in mults.flat) >= 2**MAX_BITS
        or qrnn.integer_type_for_range(int(acc_lo.min()), int(acc_hi.max()) + 1).width.data > MAX_BITS
    ):
        return None
    return _ExactForm(list(origin.terms), mults, p, q, d, acc_lo, acc_hi)


def _absorb(src: Code, table: np.ndarray, n: int) -> _Thresholds | None:
    """Thresholds on the raw accumulator for the activation table `table` ([1 or N, codes lo..hi]) read on the
    codes that `src.origin` requantizes, exact per channel; None when that accumulator would not fit."""
    origin = src.origin
    assert origin is not None  # (callers check)
    form = _exact_form(origin, n)
    if form is None:
        return None
    mults, p, q, d, acc_lo, acc_hi = form.mults, form.p, form.q, form.d, form.acc_lo, form.acc_hi
    rounding, lo_code, hi_code = origin.rounding, src.lo, src.hi
    row_of = (lambda c: c) if table.shape[0] > 1 else (lambda c: 0)

    def out(c: int, a: int) -> int:  # the activation's output code at accumulator value a on channel c
        code = min(max(_round_fraction(Fraction(p[c] * a + q[c], d[c]), rounding), lo_code), hi_code)
        return int(table[row_of(c), code - lo_code])

    base = min(out(c, int(acc_lo[c])) for c in range(n))
    top = max(out(c, int(acc_hi[c])) for c in range(n))
    if top == base:  # a constant: the aligned unit handles it
        return None
    levels = np.arange(base + 1, top + 1)
    thr = np.empty((n, top - base), dtype=np.int64)
    rows: dict[tuple, np.ndarray] = {}  # channels with one scale, bias and range share their row
    for c in range(n):
        a_lo, a_hi = int(acc_lo[c]), int(acc_hi[c])
        key = (row_of(c), p[c], q[c], d[c], a_lo, a_hi)
        if key not in rows:
            # kappa[j]: the smallest code whose output reaches level j (hi + 1: none does)
            kappa = lo_code + np.searchsorted(table[row_of(c)], levels, side="left")
            rows[key] = np.array(
                [
                    a_hi + 1
                    if k > hi_code
                    else a_lo
                    if k == lo_code
                    else min(max(_first_acc(int(k), p[c], q[c], d[c], rounding), a_lo), a_hi + 1)
                    for k in kappa
                ],
                dtype=np.int64,
            )
        thr[c] = rows[key]
    if np.all(thr == thr[0]):
        thr = thr[0]
    return _Thresholds(
        None,
        thr,
        base,
        top,
        list(origin.terms),
        mults,
        int(acc_lo.min()),
        int(acc_hi.max()),
        p,
        q,
        d,
        [int(v) for v in acc_lo],
        [int(v) for v in acc_hi],
    )


def _acc_thresholds(code_thr: np.ndarray, shift: int, rounding: str) -> np.ndarray:
    """Accumulator thresholds equivalent to code thresholds behind requant(shift, rounding): the smallest
    acc with round(acc / 2^shift) >= c, found by bisection (shift_round is monotone in acc)."""
    c = code_thr.astype(np.int64)
    if shift == 0:
        return c
    lo = (c - 1) << shift  # rounds to <= c - 1 under every mode... minus one step below to be safe
    lo = lo - (1 << shift)
    hi = c << shift  # rounds to >= c under every mode
    while True:
        done = hi - lo <= 1
        if np.all(done):
            return hi
        mid = lo + (hi - lo) // 2
        ok = numerics.shift_round(mid, shift, rounding) >= c
        hi = np.where(ok & ~done, mid, hi)
        lo = np.where(~ok & ~done, mid, lo)


# ------------------------------------------------------------------------------------------- requantizers
@dataclass
class _RequantChoice:
    """One exact implementation of a requantizer of the accumulator A = sum_t mults0[t] terms[t] (`thresholds`
    holds its exact form and its exact thresholds):
    - aligned     the design as lowered (scaled_sum with rounded multipliers + requant), exact or not;
    - multiplier  scaled_sum(terms, mults0 * M, B) + requant(shift): the smallest shift whose integer multiplier M
                  and bias B (per channel) round exactly as the exact value on every A in its range;
    - thresholds  qrnn.threshold on A with the exact thresholds (no multiplier at all);
    - table       qrnn.lut over A's type, read off those thresholds."""

    kind: str
    cost: float
    bits: int  # the widest integer of its datapath
    thresholds: _Thresholds | None = None
    mults: np.ndarray | None = None  # [T, N] of the scaled_sum it emits
    bias: np.ndarray | None = None  # [N]
    acc_range: tuple[int, int] = (0, 0)
    shift: int = 0
    multiplier: list[int] = field(default_factory=list)  # M per channel
    packed: _Packed | None = None


@dataclass
class _Packed:
    """A table over the factor codes of the accumulator's terms, packed into one index
    sum_k strides[k] (code_k - los[k]) (mixed radix): the requantizer of a sum of products of a few small codes
    (FINN-GL's CIFG c_t = f c with f = 1 - i is c - i c, whose exact accumulator needs ~40 bits) as one ROM."""

    factors: list[Term]
    los: list[int]
    sizes: list[int]
    term_factors: list[tuple[int, ...]]  # per term, the factors it multiplies
    table: np.ndarray  # [prod(sizes)]

    @property
    def strides(self) -> list[int]:
        return [math.prod(self.sizes[:k]) for k in range(len(self.sizes))]

    def codes(self, index: np.ndarray) -> list[np.ndarray]:
        return [lo + (index // st) % size for lo, st, size in zip(self.los, self.strides, self.sizes)]

    def accumulator(self, index: np.ndarray, mults: np.ndarray) -> np.ndarray:
        """A = sum_t mults[t] prod(factors of t), from packed indices (mults: [T] of one channel)."""
        codes = self.codes(index.astype(np.int64))
        acc = np.zeros(index.shape, dtype=object)
        for m, fs in zip(mults, self.term_factors):
            term = np.ones(index.shape, dtype=object)
            for f in fs:
                term = term * codes[f].astype(object)
            acc = acc + int(m) * term
        return acc

    def absorbed(self, index_value: SSAValue, t: _Thresholds, rounding: str) -> Absorbed:
        assert t.mults is not None  # absorbed thresholds
        return _PackedAbsorbed(index_value, t.p, t.q, t.d, rounding, self, t.mults[:, 0])


@dataclass
class _PackedAbsorbed(Absorbed):
    """Absorbed for a packed table: the accumulator is decoded from the index first."""

    packed: _Packed | None = None
    mults: np.ndarray | None = None

    def values(self, acc: np.ndarray) -> np.ndarray:
        assert self.packed is not None and self.mults is not None  # set by _Packed.absorbed
        return super().values(self.packed.accumulator(np.asarray(acc, dtype=np.int64), self.mults).astype(np.int64))


def _sum_cost(term_bits: list[int], mults: np.ndarray, out_bits: int) -> float:
    """lstmc.qor's scaled_sum (adders), plus a multiplier for every term whose constant multipliers are not
    powers of two (lstmc.qor's elementwise formula prices only the adders)."""
    from lstmc import qor

    cost = _cost(qor.elementwise_resources("scaled_sum", term_bits, out_bits))
    for bits, row in zip(term_bits, mults):
        widest = max(abs(int(m)) for m in row)
        if any(int(m) & (int(m) - 1) for m in np.abs(row.astype(object))):  # not all 0 or a power of two
            cost += _cost(qor.multiplier_resources(bits, widest.bit_length()))
    return cost


def _acc_range(terms: list[Term], mults: np.ndarray, bias: np.ndarray) -> tuple[int, int]:
    lo, hi = np.array(bias, dtype=object), np.array(bias, dtype=object)
    for m, t in zip(mults, terms):
        n = len(m)
        t_lo = np.broadcast_to(np.asarray(t.lo).astype(object), (n,))
        t_hi = np.broadcast_to(np.asarray(t.hi).astype(object), (n,))
        lo = lo + np.minimum(m * t_lo, m * t_hi)
        hi = hi + np.maximum(m * t_lo, m * t_hi)
    return int(lo.min()), int(hi.max())


def _reachable_codes(origin: Origin, n: int, lo: int, hi: int, bound: float) -> tuple[int, int]:
    """The codes a requantizer reaches over its input's interval: the exact value rounded at both ends of the
    accumulator range (it is monotone), one code wider where the alignment is inexact (an error below half an
    LSB moves a rounding by at most one code), clamped to [lo, hi] (an interval wholly outside the clamp
    reaches the one code at its edge)."""
    form = _exact_form(origin, n)
    if form is None:
        return lo, hi
    ends = [
        _round_fraction(Fraction(form.p[c] * int(a) + form.q[c], form.d[c]), origin.rounding)
        for c in range(n)
        for a in (form.acc_lo[c], form.acc_hi[c])
    ]
    slack = 1 if bound > 0 else 0
    return min(max(min(ends) - slack, lo), hi), min(max(max(ends) + slack, lo), hi)


def _requant_choices(req: qrnn.RequantOp, code: Code, n: int, products: dict | None = None) -> list[_RequantChoice]:
    """The exact implementations of one requantizer (see _RequantChoice), the design as lowered first; empty
    when it is not a requantizer of a linear form, or has too many output steps to prove by thresholds."""
    from lstmc import qor

    if code.origin is None:
        return []
    form = _exact_form(code.origin, n)
    if form is None:
        return []
    rounding = code.origin.rounding
    ends = [
        min(max(_round_fraction(Fraction(form.p[c] * int(a) + form.q[c], form.d[c]), rounding), code.lo), code.hi)
        for c in range(n)
        for a in (form.acc_lo[c], form.acc_hi[c])
    ]
    if max(ends) - min(ends) > MAX_REQUANT_LEVELS:
        return []
    identity = np.arange(code.lo, code.hi + 1, dtype=np.int64)[None]
    thr = _absorb(code, identity, n)
    if thr is None:
        return []
    out_bits = _bits(req.result)
    choices = []
    acc = req.input
    acc_bits = _bits(acc)
    owner = acc.owner if isinstance(acc, OpResult) else None
    aligned_cost = _cost(qor.elementwise_resources("requant", [acc_bits], out_bits))
    if isinstance(owner, qrnn.ScaledSumOp):
        aligned_cost += _sum_cost([_bits(t) for t in owner.terms], array_from_dense(owner.multipliers), acc_bits)
    error_bound = req.attributes["error_bound"]
    assert isinstance(error_bound, FloatAttr)
    exact = float(error_bound.value.data) == 0.0
    choices.append(_RequantChoice("aligned", aligned_cost, acc_bits))
    assert thr.mults is not None  # absorbed thresholds
    term_bits = [_bits(t.value) for t in thr.terms]
    zero = np.zeros(n, dtype=np.int64)
    a_lo, a_hi = _acc_range(thr.terms, thr.mults, zero)
    a_bits = qrnn.integer_type_for_range(a_lo, a_hi).width.data
    single = len(thr.terms) == 1 and np.all(thr.mults == 1)
    adder = 0.0 if single else _sum_cost(term_bits, thr.mults, a_bits)
    found = _multiplier(thr, code.lo, code.hi, rounding, n)
    if found is not None:
        shift, mult, bias = found
        mults = thr.mults * np.array(mult, dtype=object)[None, :]
        rng = _acc_range(thr.terms, mults, np.array(bias, dtype=object))
        bits = qrnn.integer_type_for_range(*rng).width.data
        if bits <= MAX_BITS:
            cost = _cost(qor.elementwise_resources("requant", [bits], out_bits)) + _sum_cost(term_bits, mults, bits)
            choices.append(
                _RequantChoice("multiplier", cost, bits, thr, mults, np.array(bias, dtype=object), rng, shift, mult)
            )
    k = thr.thresholds.shape[-1]
    cost = _cost(qor.threshold_resources(n, k, a_bits, out_bits, thr.thresholds.ndim == 2)) + adder
    choices.append(_RequantChoice("thresholds", cost, a_bits, thr, thr.mults, zero.astype(object), (a_lo, a_hi)))
    if thr.thresholds.ndim == 1 and a_bits <= 16:
        cost = _cost(qor.lut_table_resources(1 << a_bits, a_bits, out_bits)) + adder
        choices.append(_RequantChoice("table", cost, a_bits, thr, thr.mults, zero.astype(object), (a_lo, a_hi)))
    packed = _packed(thr, products or {}, n)
    if packed is not None:
        entries = packed.table.size
        strides = np.array(packed.strides, dtype=object)[:, None].repeat(n, axis=1)
        bias = np.full(n, -sum(s * lo for s, lo in zip(packed.strides, packed.los)), dtype=object)
        idx_bits = qrnn.integer_type_for_range(0, entries - 1).width.data
        cost = _cost(qor.lut_table_resources(entries, idx_bits, out_bits)) + _sum_cost(
            [_bits(f.value) for f in packed.factors], strides, idx_bits
        )
        choices.append(_RequantChoice("packed", cost, idx_bits, thr, strides, bias, (0, entries - 1), packed=packed))
    if not exact:  # an exact implementation replaces a rounded alignment whenever there is one
        choices = [c for c in choices if c.kind != "aligned"] or choices
    return choices


def _multiplier(t: _Thresholds, lo: int, hi: int, rounding: str, n: int):
    """(shift, M per channel, B per channel): the smallest shift s with integers M >= 1 (M one of the two
    integers around p/d 2^s) and B such that g(A) = clamp(round((M A + B) / 2^s), lo, hi) equals the exact code
    clamp(round((p A + q) / d), lo, hi) for every A in the channel's accumulator range, or None.

    Exact and exhaustive: both are nondecreasing in A, so they are equal on [a_lo, a_hi] iff g reaches every
    output level j exactly from the exact threshold T_j on (g(T_j) >= j for T_j <= a_hi, g(T_j - 1) < j for
    T_j - 1 >= a_lo) and stays within [base, top] at the ends. With L_j the smallest integer X whose
    round(X / 2^s) >= j (`_first_acc`), these are linear in B: B >= L_j - M T_j and B <= L_j - M (T_j - 1) - 1,
    so every valid B is an interval, found from the K thresholds at once (no search over B, no evaluation per A).
    One (M, B) serves all channels of one exact form when it can."""
    rows = t.thresholds if t.thresholds.ndim == 2 else np.broadcast_to(t.thresholds, (n, t.thresholds.shape[-1]))
    levels = list(range(t.base + 1, t.top + 1))
    widest_a = max(max(abs(a), abs(b)) for a, b in zip(t.ch_lo, t.ch_hi))

    def first(j: int, s: int) -> int:  # the smallest X with round(X / 2^s) >= j
        return _first_acc(j, 1, 0, 1 << s, rounding)

    def interval(c: int, s: int, m: int, marks: list[int]) -> tuple[int, int]:
        """The B with which g equals the exact code on channel c (empty when lo > hi)."""
        a_lo, a_hi, thr = t.ch_lo[c], t.ch_hi[c], rows[c]
        b_lo, b_hi = -(1 << 80), 1 << 80
        for j, tj, mark in zip(levels, thr, marks):
            tj = int(tj)
            if tj <= a_hi:
                b_lo = max(b_lo, mark - m * tj)
            if tj - 1 >= a_lo:
                b_hi = min(b_hi, mark - m * (tj - 1) - 1)
        if t.base > lo:  # g(a_lo) >= base (the clamp gives it when base == lo)
            b_lo = max(b_lo, first(t.base, s) - m * a_lo)
        if t.top < hi:  # g(a_hi) <= top
            b_hi = min(b_hi, first(t.top + 1, s) - 1 - m * a_hi)
        return b_lo, b_hi

    keys: dict[tuple, list[int]] = {}  # channels with one exact form, range and thresholds: one interval
    for c in range(n):
        keys.setdefault((t.p[c], t.q[c], t.d[c], t.ch_lo[c], t.ch_hi[c], rows[c].tobytes()), []).append(c)
    groups: dict[tuple, list[tuple]] = {}  # keys with one exact form: one (M, B) for all of them if it can
    for key in keys:
        groups.setdefault(key[:3], []).append(key)
    for s in range(MAX_BITS):
        marks = [first(j, s) for j in levels]
        mult, bias = [0] * n, [0] * n
        for (p, q, d), group in groups.items():
            fl = (p << s) // d
            target = ((q << s) * 2 + d) // (2 * d)  # the B nearest q/d 2^s
            hits: dict[tuple, tuple[int, int]] = {}
            for m in [fl, fl + 1] if (p << s) % d else [fl]:
                if m < 1 or (m * widest_a + abs(target) + 1).bit_length() > MAX_BITS:
                    continue
                spans = {k: interval(keys[k][0], s, m, marks) for k in group}
                both = (max(a for a, _ in spans.values()), min(b for _, b in spans.values()))
                if both[0] <= both[1]:  # one B for the whole group
                    hits = {k: (m, min(max(target, both[0]), both[1])) for k in group}
                    break
                for k, (a, b) in spans.items():
                    if a <= b and k not in hits:
                        hits[k] = (m, min(max(target, a), b))
                if len(hits) == len(group):
                    break
            if len(hits) < len(group):
                break
            for k, hit in hits.items():
                for ch in keys[k]:
                    mult[ch], bias[ch] = hit
        else:
            return s, mult, bias
        if (max(t.p[c] * ((1 << s) // t.d[c] + 1) for c in range(n)) * widest_a).bit_length() > MAX_BITS:
            return None
    return None


MAX_PACKED = 1 << 16  # entries of a packed table over several codes


def _packed(t: _Thresholds, products: dict, n: int) -> _Packed | None:
    """A packed table for an accumulator of several terms, each a code or a product of two (qrnn.imul), over
    at most MAX_PACKED combinations of the distinct factor codes; None otherwise (one term: the table over A
    is as small; per-channel forms: one table per channel)."""
    mults = t.mults
    if (
        len(t.terms) < 2
        or mults is None
        or t.thresholds.ndim != 1
        or len(set(zip(t.p, t.q, t.d))) != 1
        or any(len(set(int(m) for m in row)) != 1 for row in mults)
    ):
        return None
    factors: list[Term] = []
    term_factors = []
    for term in t.terms:
        parts = products.get(term.value, (term,))
        idx = []
        for f in parts:
            k = next((i for i, g in enumerate(factors) if g.value is f.value), None)
            if k is None:
                factors.append(f)
                k = len(factors) - 1
            idx.append(k)
        term_factors.append(tuple(idx))
    los = [int(np.min(f.lo)) for f in factors]
    sizes = [int(np.max(f.hi)) - lo + 1 for f, lo in zip(factors, los)]
    if math.prod(sizes) > MAX_PACKED:
        return None
    pk = _Packed(factors, los, sizes, term_factors, np.zeros(0, dtype=np.int64))
    index = np.arange(math.prod(sizes), dtype=np.int64)
    acc = pk.accumulator(index, mults[:, 0])
    if any(abs(int(a)) >= 2**MAX_BITS for a in (acc.min(), acc.max())):
        return None
    pk.table = t.base + numerics.count_thresholds(acc.astype(np.int64), t.thresholds)
    return pk
