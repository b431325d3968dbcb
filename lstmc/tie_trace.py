"""Tell a float32 tie from a bug: trace a sequence whose integer outputs differ from the reference back to the
first quantizer where the float stage and the integer design disagree, and decide whether float32 rounding
explains that disagreement.

How the two levels are correlated
---------------------------------
The integer design traced is the `integer` stage's own: the passes of `STAGE_PASSES["integer"]` before
qrnn-legalize-precision, then that pass run by a subclass of its legalizer (`_RecordingLegalizer`) that records,
for every float `qrnn.quant` and `qrnn.quant_dequant` (a Q/DQ pair with two scales: the same codes, read on
the dequantizer's scale), the integer form it became. That form is a `Code`: either the SSA value holding the
centred codes (a `qrnn.requant`, `qrnn.threshold`, `qrnn.lut`, `qrnn.quantize`, or for an identity requantizer the
integer term itself), or, for a requantizer fused into an activation's thresholds and then erased, the accumulator
and shift it would round (`Code.pre`). Quantizers of constants become constant codes: nothing to trace. The float
module traced is a clone of the same IR taken just before legalization, so quantizers correspond op for op;
canonicalize and fold keep the float semantics bit for bit, and the traced float outputs are checked against the
reference on every traced sequence (the traced integer outputs against the stage's), so a trace that does not
reproduce both stages is reported, never trusted.

Both modules run on the mismatching sequences with interpreter listeners (`run_function(listeners=...)`; the
normal path runs without them). The k-th execution of a quantizer in the float run corresponds to the k-th
execution of its integer value (once per recurrence step). Per sequence, the first quantizer execution, in
execution order (step t, then the quantizer's place in the cell), whose codes differ is the divergence: every code
before it agrees, so at that point both levels quantize values computed from the same codes.

Why the tie test is sound
-------------------------
Let v* be the exact value, in LSBs of the quantizer (x / s, before adding the zero point), of what the model
computes there from those common codes: linear forms over codes times their float32 scales, in exact arithmetic.

- Integer design: at a requantizer of a linear form it computes v_i = acc / 2^F exactly, and
  qrnn-legalize-precision proves and records |v_i - v*| <= error_bound (integer multipliers of the scale ratios);
  an identity requantizer gives v_i = v* exactly. Where the pass records the exact value map (`Code.absorbed`:
  thresholds absorbed the requantizer, or requant-impl made it thresholds, a table or a narrowed multiplier that
  rounds exactly without being close to v*), v_i = (p acc + q) / d = v* exactly, bound 0, and the codes are the
  design's own when it computes them (the exact value rounded when it does not). At a quantizer on a graph input, a constant or an activation
  output, both levels round the same float32 value with the same code (the activation tables are built with
  the reference kernels on the dequantized input codes), so a divergence there is always a bug.
- Float stage: it rounds v_f = fl(x / s). A running error analysis, done alongside the float interpretation
  (`_FloatTrace`), bounds |x - s v*| from the float32 ulps of the operands; u = 2^-24, ulp(r)/2 = half the spacing
  at |r| (round to nearest: |fl(y) - y| <= ulp(fl(y))/2, subnormal and zero results included):
      dequantized code fl(c * s)      e = |fl(c s) - c s|, exact (c s is exact in float64 for |c| < 2^24);
                                      a quant_dequant is a quantizer (by s_q, traced like qrnn.quant) whose
                                      code is dequantized by s_dq: e = |fl(c s_dq) - c s_dq|
      constant, activation output     e = 0 (the integer level uses this very float32 value)
      a + b, a - b                    e = ea + eb + ulp(r)/2
      a * b                           e = |a| eb + |b| ea + ea eb + ulp(r)/2    (ab - a'b' = a db + b da - da db)
      a @ B, K terms per output       e = g_K |a| @ |B| + |a| @ eB + ea @ |B| + ea @ eB + K 2^-149
                                      g_K = K u / (1 - K u): Higham's inner-product bound for ANY summation
                                      order, with or without FMA (each product passes at most K roundings; the
                                      MLAS kernels' zero-padded lanes add exact zeros); K 2^-149 covers products
                                      that underflow
      data movement                   e moves with the elements
  and at the quantizer E = ulp(v_f)/2 + e / |s| >= |v_f - v*|. The rules need only upper bounds on their
  operands' errors, so E also holds against an exact value whose leaves are closer (the integer level takes a
  quantized constant in a sum as its float32 value: error 0 <= |fl(c s) - c s|). The bound arithmetic itself
  runs in float64 on short chains (every quantizer restarts it from exact code errors), so it is inflated by
  2^-40 relative (and a float64 matmul of K nonnegative terms by (K + 2) 2^-52 more) to cover its own rounding.
  Operations without a rule, and activations of anything but a code (which the integer level cannot express),
  get an infinite bound, which classifies as a bug.
- If the integer design is right, its code is v_i rounded (and clamped) and the two codes come from v_f and v_i
  on either side of the rounding boundary b between them, both within their bounds of v*. So a divergence is a
  tie iff the codes differ by one, the integer code is the rounding of v_i, and |v_f - v_i| <= E + error_bound
  (which implies |v_f - b| <= E + error_bound: the reference sits within float32 error of a boundary). Anything
  else - two codes apart, a code that is not its value's, a value farther away, a divergence at a quantizer both
  levels evaluate identically, a sequence whose outputs differ with no diverging quantizer (unless only unquantized
  outputs do, within float32 rounding: below), a trace that does not reproduce the stages - is a bug.
  Measured (tests/test_verify_ties.py on l1_acc16_float and the property test's edge models; every fixture and
  50 random models by hand): the bound holds at every quantizer execution before a divergence, and errors reach
  96-99.99% of it, so it is also tight.

Unquantized outputs
-------------------
An output no quantizer produces (FINN-GL's carried cell state c_t = DQ(c1) + DQ(c2), a sum of two codes on one
scale s) is not a code of the reference: onnxruntime returns y_f = fl(fl(c1 s) + fl(c2 s)). The integer design
holds it as the exact integer c_i on the grid s that lstmc.analysis proves (qrnn-legalize-precision refuses a
carried state that is not an exact integer multiple of its grid, and an output that is neither that nor a
quantizer's) and dequantizes it once: y_i = fl(c_i s). In a sequence where no traced quantizer diverges every
code agrees, so the exact value is v* = c* s from the common codes and the float trace bounds |y_f - v*| <= e at
the output. Such an element is accepted iff
      |y_i - y_f| <= B = e + ulp(y_i)/2    and    2 B < s
- sound: if the design is right, c_i = c* and |y_i - y_f| <= |fl(c* s) - c* s| + |c* s - y_f| <= ulp(y_i)/2 + e;
- and no wrong code hides in B: if accepted, |c_i s - c* s| <= |c_i s - y_i| + |y_i - y_f| + |y_f - c* s|
  <= ulp(y_i)/2 + B + e <= 2 B < s, so c_i = c*: the element is the exact value's own code, rounded once.
Measured (tests/test_verify_ties.py and three FINN cells with float scales, 200 sequences each): errors reach
67-100% of B (the roundings can all point one way, so B is attained) and 2 B stays below 5e-5 s.
These are reported as a third class, float rounding of an unquantized output (count, largest error in ulps),
never as ties. A quantized output gets no such allowance: both levels dequantize its code with the same float32
multiply, so it differs only if a code does, which a diverging quantizer must explain. Unquantized means: only
float arithmetic (add, sub, mul, matmul) produces it, through data movement and recurrence results; anything
else counts as quantized.

After a tie the two levels follow different valid trajectories, so later steps of that sequence are not compared
(a bug that only ever fires after a tie in the same sequence is not seen there; it fires in other sequences).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import FloatAttr, ModuleOp, ShapedType, StringAttr, TensorType
from xdsl.interpreter import Interpreter
from xdsl.ir import Block, BlockArgument, Operation, OpResult, SSAValue

from lstmc import numerics
from lstmc.dense import array_from_dense
from lstmc.dialects import qrnn
from lstmc.errors import LstmcError
from lstmc.interpreter import entry_function, io_names, run_function
from lstmc.interpreter.qrnn import QrnnFunctions, align_batched, is_batched, stack_time

if TYPE_CHECKING:
    from lstmc.passes.qrnn_legalize_precision import Absorbed

U = 2.0**-24  # unit roundoff of float32
BOUND_SLACK = 1.0 + 2.0**-40  # covers the float64 rounding of the bound arithmetic itself


# ------------------------------------------------------------------------------------------- the classifier
def half_ulp(x: np.ndarray | float) -> np.ndarray:
    """Half the float32 spacing at |x|: the largest rounding error of a float32 result x (inf/NaN propagate)."""
    x = np.abs(np.asarray(x, np.float32))
    with np.errstate(invalid="ignore"):
        return np.spacing(x).astype(np.float64) / 2


def rounding_boundary(r: int, mode: str) -> float:
    """The value v (in LSBs, before the zero point) where rounding `mode` switches from r to r + 1."""
    if mode.startswith("half_"):
        return r + 0.5
    if mode == "floor":
        return r + 1.0
    if mode == "ceil":
        return float(r)
    if mode == "down":  # toward zero
        return r + 1.0 if r >= 0 else float(r)
    if mode == "up":  # away from zero
        return float(r) if r >= 0 else r + 1.0
    raise ValueError(f"unknown rounding mode '{mode}'")


def round_exact(v: Fraction, mode: str) -> int:
    """An exact rational rounded to an integer with a rounding mode (as numerics.round_mode / shift_round do)."""
    if mode == "half_even":
        return round(v)  # Fraction rounds half to even
    if mode == "floor":
        return math.floor(v)
    if mode == "ceil":
        return math.ceil(v)
    sign = -1 if v < 0 else 1
    a = abs(v)
    magnitude = {
        "down": math.floor(a),
        "up": math.ceil(a),
        "half_up": math.floor(a + Fraction(1, 2)),
        "half_down": math.ceil(a - Fraction(1, 2)),
    }.get(mode)
    if magnitude is None:
        raise ValueError(f"unknown rounding mode '{mode}'")
    return sign * magnitude


@dataclass
class TieTest:
    tie: bool
    boundary: float | None
    why: str


def classify(
    v_float: float,
    code_float: int,
    code_int: int,
    bound: float,
    v_int=None,
    rounding: str = "half_even",
    same_float: bool = False,
    lo: int | None = None,
    hi: int | None = None,
) -> TieTest:
    """Is a divergence of one element a float32 tie?

    v_float: the float stage's x / s (float32); code_float, code_int: the two centred codes; bound: E + error_bound
    (LSBs); v_int: the integer design's value before rounding (an exact int/Fraction/float) when it has one, and
    [lo, hi] the centred code range it is clamped to; same_float: both levels round this very float32 value (graph
    input, constant, activation output)."""
    if same_float:
        return TieTest(False, None, "both levels round the same float32 value here")
    if abs(int(code_float) - int(code_int)) != 1:
        return TieTest(False, None, "the codes differ by more than one")
    b = rounding_boundary(min(int(code_float), int(code_int)), rounding)
    if not np.isfinite(bound):
        return TieTest(False, b, "no float32 error bound on this path")
    vf = Fraction(float(v_float))
    if v_int is not None:
        expected = round_exact(Fraction(v_int), rounding)
        expected = max(expected, lo) if lo is not None else expected
        expected = min(expected, hi) if hi is not None else expected
        if expected != int(code_int):  # e.g. a requantizer that rounds wrongly: not the value's code
            return TieTest(False, b, f"the integer code is not its value {float(v_int):.6f} rounded ({expected})")
        dist = abs(vf - Fraction(v_int))
        ok = dist <= Fraction(bound)
        return TieTest(ok, b, f"|float - integer| = {float(dist):.3g} {'<=' if ok else '>'} bound {bound:.3g} LSB")
    dist = abs(vf - Fraction(b))
    ok = dist <= Fraction(bound)
    return TieTest(ok, b, f"|float - boundary| = {float(dist):.3g} {'<=' if ok else '>'} bound {bound:.3g} LSB")


# ------------------------------------------------------------------------------------------- verdicts
@dataclass
class Divergence:
    """The first quantizer execution of one sequence where the float and integer codes differ."""

    sequence: int
    quantizer: str  # %name and quantizer of the qrnn.quant
    region: str  # the recurrence (ONNX node) it runs in, or "" at function level
    step: int | None
    element: tuple[int, ...]
    code_float: int
    code_int: int
    v_float: float
    v_int: float | None
    bound: float
    test: TieTest

    @property
    def tie(self) -> bool:
        return self.test.tie

    def describe(self) -> str:
        where = f"step {self.step} of {self.region}" if self.step is not None else "outside any recurrence"
        v_int = "" if self.v_int is None else f" (integer value {self.v_int:.6f})"
        b = "" if self.test.boundary is None else f", rounding boundary {self.test.boundary:g}"
        return (
            f"sequence {self.sequence}, {where}, {self.quantizer}, element {list(self.element)}: reference "
            f"x/s = {self.v_float:.6f} -> code {self.code_float}, integer code {self.code_int}{v_int}{b}; "
            f"{self.test.why}"
        )


@dataclass
class OutputRounding:
    """One mismatching element of an output, in a sequence where no traced quantizer diverges (see the module
    docstring, "Unquantized outputs")."""

    output: str
    element: tuple[int, ...]
    reference: float  # y_f
    integer: float  # y_i
    bound: float  # B = e + ulp(y_i)/2, absolute; inf when the output has no float32 error bound
    lsb: float | None  # the grid step s the integer design dequantizes by; None for a quantized output
    ok: bool
    why: str

    @property
    def ulps(self) -> float:
        """|y_i - y_f| in float32 ulps at the reference value."""
        return abs(self.integer - self.reference) / float(np.spacing(np.float32(abs(self.reference))))

    def describe(self) -> str:
        return (
            f"{self.output} element {list(self.element)}: reference {self.reference:.9g}, integer "
            f"{self.integer:.9g} ({self.ulps:.3g} ulp); {self.why}"
        )


@dataclass
class SequenceVerdict:
    sequence: int
    tie: bool
    divergence: Divergence | None = None
    reason: str = ""  # why the sequence is not explained (then it is real), when there is no divergence to show
    rounding: list[OutputRounding] = field(default_factory=list)  # with no divergence: each mismatching element

    @property
    def float_rounding(self) -> bool:
        """No traced quantizer diverges and every mismatching element is float32 rounding of an unquantized
        output within its bound: the third class, neither a tie nor a bug."""
        return (
            not self.tie
            and self.divergence is None
            and not self.reason
            and bool(self.rounding)
            and all(r.ok for r in self.rounding)
        )

    @property
    def ok(self) -> bool:
        return self.tie or self.float_rounding

    @property
    def worst_rounding(self) -> OutputRounding | None:
        return max(self.rounding, key=lambda r: r.ulps, default=None)

    def describe(self) -> str:
        if self.divergence is not None:
            return self.divergence.describe()
        if self.float_rounding:
            worst = self.worst_rounding
            assert worst is not None  # float_rounding: some element differs
            return (
                f"sequence {self.sequence}: {len(self.rounding)} element(s) of unquantized outputs differ by "
                f"float32 rounding; largest: {worst.describe()}"
            )
        return f"sequence {self.sequence}: {self.reason}"


# ------------------------------------------------------------------------------------------- legalization record
def _legalize_options(spec) -> object:
    """The QrnnLegalizePrecisionPass the integer stage ends with, from its pass (or `-p` spec with options)."""
    from lstmc.passes.qrnn_legalize_precision import QrnnLegalizePrecisionPass

    if isinstance(spec, QrnnLegalizePrecisionPass):
        return spec
    if isinstance(spec, str):
        from xdsl.utils.arg_spec import parse_pipeline

        parsed = list(parse_pipeline(spec))
        if len(parsed) == 1 and parsed[0].name == QrnnLegalizePrecisionPass.name:
            return QrnnLegalizePrecisionPass.from_pass_spec(parsed[0])
    raise LstmcError("tie tracing expects the integer stage to end with qrnn-legalize-precision")


def _legalize_recording(module: ModuleOp, options=None) -> dict[Operation, tuple[object, bool]]:
    """Run qrnn-legalize-precision (with the integer stage's options; default ones if None) on `module`,
    returning for every float qrnn.quant and qrnn.quant_dequant the form it became and whether it quantizes
    arithmetic (a code or a linear form, which the pass requantizes exactly, as opposed to a graph input, a
    constant or an activation)."""
    from lstmc.passes.qrnn_legalize_precision import (
        Code,
        Legalizer,
        Linear,
        QrnnLegalizePrecisionPass,
        has_float_ops,
    )

    record: dict[Operation, tuple[object, bool]] = {}

    class _RecordingLegalizer(Legalizer):
        def _op_quant(self, op):
            linear = isinstance(self.forms.get(op.input), (Code, Linear))
            super()._op_quant(op)
            record[op] = (self.forms[op.result], linear)

        def _op_quant_dequant(self, op):  # the quantizer's codes (its requant, or its fused accumulator)
            linear = isinstance(self.forms.get(op.input), (Code, Linear))
            super()._op_quant_dequant(op)
            record[op] = (self.forms[op.result], linear)

    options = QrnnLegalizePrecisionPass() if options is None else options
    for fn in list(module.walk()):  # what QrnnLegalizePrecisionPass.apply does
        if isinstance(fn, func.FuncOp) and not fn.is_declaration and has_float_ops(fn):
            _RecordingLegalizer(options).run_function(fn)
    module.verify()
    return record


@dataclass
class _IntSource:
    """Where the integer design holds one quantizer's codes."""

    value: SSAValue | None  # the codes, when computed by a live op (or a block argument)
    acc: SSAValue | None  # the accumulator a requantizer rounds (when the quantizer requantizes a linear form)
    shift: int = 0
    rounding: str = "half_even"
    lo: int = 0
    hi: int = 0
    error_bound: float = 0.0
    identity: bool = False  # a requantizer of arithmetic that is the identity: v_int = the code itself
    absorbed: Absorbed | None = None  # codes round((p acc + q) / d), never computed


def _int_sources(record: dict, live: set[Operation]) -> dict[Operation, _IntSource]:
    from lstmc.passes.qrnn_legalize_precision import Code

    def alive(v: SSAValue | None) -> bool:
        return v is not None and (isinstance(v, BlockArgument) or v.owner in live)

    out = {}
    for op, (form, linear) in record.items():
        if not isinstance(form, Code):
            continue  # a constant: its codes are computed once, at compile time, by the reference's quantize
        owner = form.value.owner if isinstance(form.value, OpResult) else None
        bound = 0.0
        if isinstance(owner, qrnn.RequantOp) and "error_bound" in owner.attributes:
            recorded = owner.attributes["error_bound"]
            assert isinstance(recorded, FloatAttr)
            bound = float(recorded.value.data)
        acc, shift, rounding = form.pre if form.pre is not None else (None, 0, "half_even")
        absorbed = form.absorbed
        if absorbed is not None:  # the exact value is known from an accumulator (thresholds absorbed the
            # requantizer, or requant-impl replaced it by exact thresholds or an exact narrowed multiplier)
            acc, shift, rounding, bound = absorbed.acc, 0, absorbed.rounding, 0.0
        src = _IntSource(
            form.value if alive(form.value) else None,
            acc if alive(acc) else None,
            shift,
            rounding,
            form.lo,
            form.hi,
            bound,
            identity=linear and form.pre is None,
            absorbed=absorbed,
        )
        if src.value is not None or src.acc is not None:
            out[op] = src
    return out


# ------------------------------------------------------------------------------------------- listeners
class _StepListener(Interpreter.Listener):
    """Knows the current step of every running qrnn.recurrence; subclasses get `enter_step` before a step's first op."""

    def __init__(self, module: ModuleOp):
        self.interpreter: Interpreter | None = None
        self.first_ops: dict[Operation, qrnn.RecurrenceOp] = {}
        for op in module.walk():
            if isinstance(op, qrnn.RecurrenceOp) and op.body.block.first_op is not None:
                self.first_ops[op.body.block.first_op] = op
        self.steps: dict[qrnn.RecurrenceOp, int] = {}

    def will_interpret_op(self, op: Operation, args) -> None:
        if isinstance(op, qrnn.RecurrenceOp):
            self.steps[op] = -1
            self.enter_recurrence(op, args)
        rec = self.first_ops.get(op)
        if rec is not None:
            self.steps[rec] += 1
            self.enter_step(rec, self.steps[rec])

    def step_of(self, op: Operation) -> tuple[int | None, qrnn.RecurrenceOp | None]:
        parent = op.parent_op()
        if isinstance(parent, qrnn.RecurrenceOp):
            return self.steps.get(parent), parent
        return None, None

    def enter_recurrence(self, rec: qrnn.RecurrenceOp, args) -> None:
        pass

    def enter_step(self, rec: qrnn.RecurrenceOp, t: int) -> None:
        pass


_QUANTIZERS = (qrnn.QuantOp, qrnn.QuantDequantOp)


@dataclass
class _QuantEvent:
    op: qrnn.QuantOp | qrnn.QuantDequantOp
    occurrence: int
    step: int | None
    region: str
    codes: np.ndarray  # centred codes (int64)
    v: np.ndarray  # x / s as the float stage computes it (float32)
    bound: np.ndarray  # E >= |v - v*| (float64)
    same_float: bool  # the quantizer's input is a value both levels hold as the same float32


@dataclass
class _Entry:
    err: np.ndarray  # float64, the value's shape: bound on |value - exact value|
    kind: str  # "exact": both levels use this float32 value; "code": a dequantized code; "arith": float arithmetic


@dataclass
class _Frame:
    init: list
    seqs: list
    collected: list = field(default_factory=list)


class _FloatTrace(_StepListener):
    """Runs beside the float interpreter: every value's error bound, and every quantizer's codes, x / s and bound."""

    def __init__(self, module: ModuleOp):
        super().__init__(module)
        self.entries: dict[SSAValue, _Entry] = {}
        self.pending: list = []
        self.frames: dict[qrnn.RecurrenceOp, _Frame] = {}
        self.events: list[_QuantEvent] = []
        self.counts: dict[Operation, int] = {}
        self.moves = QrnnFunctions()  # data movement of the error arrays: the interpreter's own implementations

    # -------------------------------------------------------------------------------- bookkeeping
    def entry(self, ssa: SSAValue, value) -> _Entry:
        found = self.entries.get(ssa)
        if found is not None:
            return found
        shape = np.shape(value)
        if isinstance(ssa, BlockArgument) and isinstance(ssa.owner.parent_op(), func.FuncOp):
            return _Entry(np.zeros(shape), "exact")  # a graph input: both levels quantize this float32 value
        return _Entry(np.full(shape, np.inf), "arith")

    def _known(self, ssa: SSAValue) -> _Entry:
        """The entry of a value computed earlier (unbounded if the trace never saw it)."""
        found = self.entries.get(ssa)
        return found if found is not None else _Entry(np.array(np.inf), "arith")

    def will_interpret_op(self, op: Operation, args) -> None:
        self.pending.append(args)  # before the step hook: a recurrence's args are its init and scanned inputs
        super().will_interpret_op(op, args)

    def enter_recurrence(self, rec, args) -> None:
        n = len(rec.init)
        ins = list(rec.init) + list(rec.inputs)
        entries = [self.entry(v, a) for v, a in zip(ins, args)]
        self.frames[rec] = _Frame(
            entries[:n], [(e, a) for e, a in zip(entries[n:], args[n:])], [[] for _ in rec.outputs]
        )

    def enter_step(self, rec, t: int) -> None:
        frame, block = self.frames[rec], rec.body.block
        n = len(rec.init)
        yielded = _terminator_operands(block)
        if t > 0:  # the previous step's yields are still in place: no op of this step has run yet
            for acc, v in zip(frame.collected, yielded[n:]):
                acc.append(self._known(v).err)
            states = [self._known(v) for v in yielded[:n]]
        else:
            states = frame.init
        for arg, e in zip(block.args[:n], states):
            self.entries[arg] = _Entry(e.err, "code")  # the integer level holds every state as a code
        steps = rec.seq_len
        for arg, (e, value), ssa, direction in zip(block.args[n:], frame.seqs, rec.inputs, rec.in_dirs):
            index = t if direction == qrnn.FORWARD else steps - 1 - t
            axis = 1 if is_batched(value, ssa) else 0
            self.entries[arg] = _Entry(np.take(e.err, index, axis=axis), "code")

    # -------------------------------------------------------------------------------- rules
    def did_interpret_op(self, op: Operation, results) -> None:
        args = self.pending.pop()
        if not op.results:
            return
        ins = [self.entry(v, a) for v, a in zip(op.operands, args)]
        try:
            outs = self._rule(op, args, results, ins)
        except (ValueError, TypeError, IndexError, KeyError) as e:  # an IR shape the rules do not cover
            if isinstance(op, _QUANTIZERS):  # its codes are what the trace compares: cannot go on without them
                raise LstmcError(f"tie tracing failed at '{op.name}' %{op.result.name_hint or '?'}: {e}") from e
            outs = [_Entry(np.full(np.shape(r), np.inf), "arith") for r in results]  # no bound downstream
        for r, e in zip(op.results, outs):
            self.entries[r] = e

    def _rule(self, op, args, results, ins) -> list[_Entry]:
        if isinstance(op, qrnn.ConstantOp):
            return [_Entry(np.zeros(np.shape(results[0])), "exact")]
        if isinstance(op, qrnn.QConstantOp):
            q = numerics.quant_params(op.quant)
            raw = array_from_dense(op.codes).astype(np.int64)
            zp = numerics.channel_values(q.zero_point, q.axis, raw.ndim, np.int64)
            s = numerics.channel_values(q.scale, q.axis, raw.ndim, np.float32)
            return [_Entry(_dequant_error(raw - zp, s, results[0]), "exact")]
        if isinstance(op, qrnn.QuantOp):
            return [self._quant(op, op.quant, op.quant, args[0], results[0], ins[0])]
        if isinstance(op, qrnn.QuantDequantOp):  # one grid (same zero points), the code read on another scale
            return [self._quant(op, op.quant, op.dequant, args[0], results[0], ins[0])]
        if isinstance(op, (qrnn.AddOp, qrnn.SubOp)):
            ea, eb = align_batched(op, ins[0].err, ins[1].err)
            return [_Entry(ea + eb + half_ulp(results[0]), "arith")]
        if isinstance(op, qrnn.MulOp):
            a, b = align_batched(op, np.asarray(args[0], np.float64), np.asarray(args[1], np.float64))
            ea, eb = align_batched(op, ins[0].err, ins[1].err)
            return [_Entry(np.abs(a) * eb + np.abs(b) * ea + ea * eb + half_ulp(results[0]), "arith")]
        if isinstance(op, qrnn.MatMulOp):
            return [_Entry(self._matmul(op, args, ins), "arith")]
        if isinstance(op, (qrnn.SigmoidOp, qrnn.TanhOp, qrnn.ReluOp)):
            if ins[0].kind == "code":  # the integer level tabulates it on the dequantized code: this very float32
                return [_Entry(np.zeros(np.shape(results[0])), "exact")]
            return [_Entry(np.full(np.shape(results[0]), np.inf), "arith")]
        if isinstance(op, (qrnn.ReshapeOp, qrnn.SliceOp, qrnn.TransposeOp, qrnn.WindowOp, qrnn.ConcatOp)):
            (moved,) = _MOVES[type(op)](self.moves, self.interpreter, op, tuple(e.err for e in ins)).values
            kinds = {e.kind for e in ins}
            return [_Entry(np.asarray(moved, np.float64), kinds.pop() if len(kinds) == 1 else "arith")]
        if isinstance(op, qrnn.RecurrenceOp):
            return self._recurrence_results(op, results)
        return [_Entry(np.full(np.shape(r), np.inf), "arith") for r in results]  # no rule: no bound

    def _quant(self, op: qrnn.QuantOp | qrnn.QuantDequantOp, quant, dequant, x, result, src: _Entry) -> _Entry:
        """A quantizer by `quant` whose codes are dequantized by `dequant` (the same attribute for qrnn.quant)."""
        q = numerics.quant_params(quant)
        batched = is_batched(np.asarray(x), op.input)
        x = np.asarray(x, np.float32)
        codes = numerics.quantize(x, q, batched)
        zp = numerics.channel_values(q.zero_point, q.axis, codes.ndim, np.int64, batched)
        s = numerics.channel_values(q.scale, q.axis, x.ndim, np.float32, batched)
        with np.errstate(all="ignore"):
            v = x / s  # what numerics.quantize rounds
            bound = (half_ulp(v) + np.broadcast_to(src.err, x.shape) / np.abs(s.astype(np.float64))) * BOUND_SLACK
        step, rec = self.step_of(op)
        k = self.counts.get(op, 0)
        self.counts[op] = k + 1
        region = "" if rec is None else "a recurrence"
        if rec is not None and "lstmc.onnx_node" in rec.attributes:
            node = rec.attributes["lstmc.onnx_node"]
            assert isinstance(node, StringAttr)
            region = node.data
        self.events.append(_QuantEvent(op, k, step, region, codes - zp, v, bound, src.kind == "exact"))
        s_dq = (
            s
            if dequant is quant
            else numerics.channel_values(numerics.quant_params(dequant).scale, q.axis, x.ndim, np.float32, batched)
        )
        return _Entry(_dequant_error(codes - zp, s_dq, result), "code")

    def _matmul(self, op: qrnn.MatMulOp, args, ins) -> np.ndarray:
        a, b = (np.asarray(v, np.float64) for v in args)
        a_b, b_b = is_batched(a, op.lhs), is_batched(b, op.rhs)
        ea = np.broadcast_to(ins[0].err, a.shape)
        eb = np.broadcast_to(ins[1].err, b.shape)
        k = SSAValue.get(op.lhs, type=TensorType).type.get_shape()[-1]
        gamma = k * U / (1 - k * U)
        with np.errstate(all="ignore"):
            e = (
                gamma * _mm(np.abs(a), np.abs(b), a_b, b_b)
                + _mm(np.abs(a), eb, a_b, b_b)
                + _mm(ea, np.abs(b), a_b, b_b)
                + _mm(ea, eb, a_b, b_b)
                + k * 2.0**-149
            )
        return e * (1 + (k + 2) * 2.0**-52) * BOUND_SLACK  # the float64 sums of K nonnegative terms round too

    def _recurrence_results(self, rec: qrnn.RecurrenceOp, results) -> list[_Entry]:
        frame = self.frames.pop(rec)
        n = len(rec.init)
        yielded = _terminator_operands(rec.body.block)
        if self.steps.get(rec, -1) < 0:  # no step ran
            return [_Entry(e.err, "code") for e in frame.init] + [
                _Entry(np.zeros(np.shape(r)), "code") for r in results[n:]
            ]
        for acc, v in zip(frame.collected, yielded[n:]):
            acc.append(self._known(v).err)
        outs = [_Entry(self._known(v).err, "code") for v in yielded[:n]]
        for acc, direction, ssa in zip(frame.collected, rec.out_dirs, rec.outputs):
            if direction == qrnn.REVERSE:
                acc = acc[::-1]
            outs.append(_Entry(stack_time(acc, len(ssa.type.get_shape()) - 1), "code"))
        return outs


# Data movement of error arrays: the interpreter's own implementations, so errors move exactly like values.
_MOVES = {
    qrnn.ReshapeOp: QrnnFunctions.run_reshape,
    qrnn.SliceOp: QrnnFunctions.run_slice,
    qrnn.TransposeOp: QrnnFunctions.run_transpose,
    qrnn.WindowOp: QrnnFunctions.run_window,
    qrnn.ConcatOp: QrnnFunctions.run_concat,
}


def _dequant_error(centred: np.ndarray, s: np.ndarray, deq) -> np.ndarray:
    """|fl(fl(c) * s) - c * s| for the float32 dequantized value `deq` of centred codes c."""
    c = np.asarray(centred, np.int64)
    deq = np.asarray(deq, np.float64)
    s64 = np.broadcast_to(np.asarray(s, np.float64), c.shape)
    exact = np.abs(deq - c.astype(np.float64) * s64)  # c s exact in float64 for |c| < 2^24 (24 + 24 bits)
    # Wider codes: float32(c) rounds first; bound both roundings.
    c32 = c.astype(np.float32).astype(np.int64)
    wide = half_ulp(deq) + np.abs(c32 - c).astype(np.float64) * np.abs(s64)
    return np.where(np.abs(c) < 2**24, exact, wide * BOUND_SLACK)


def _mm(a, b, a_b: bool, b_b: bool) -> np.ndarray:
    """float64 matmul of operands with optional leading batch axes (per sequence when the rhs is batched)."""
    if not b_b:
        return np.matmul(a, b)  # a batched [N, ..., K] @ [K, M] keeps the batch axis
    n = b.shape[0]
    return np.stack([np.matmul(a[i] if a_b else a, b[i]) for i in range(n)])


class _IntTrace(_StepListener):
    """Runs beside the integer interpreter: the values of the tracked SSA values, per execution."""

    def __init__(self, module: ModuleOp, tracked: set[SSAValue]):
        super().__init__(module)
        self.tracked = tracked
        self.values: dict[SSAValue, list] = {v: [] for v in tracked}

    def enter_step(self, rec, t: int) -> None:
        args = rec.body.block.args
        if any(a in self.tracked for a in args):
            assert self.interpreter is not None  # handed over before the run
            for a, value in zip(args, self.interpreter.get_values(args)):
                if a in self.tracked:
                    self.values[a].append(value)

    def did_interpret_op(self, op: Operation, results) -> None:
        for r, value in zip(op.results, results):
            if r in self.tracked:
                self.values[r].append(value)


# ------------------------------------------------------------------------------------------- the tracer
class TieTracer:
    """Classifies the sequences whose outputs of an integer-level stage differ from the reference."""

    def __init__(self, imported: ModuleOp, inputs: dict[str, np.ndarray]):
        self.imported = imported
        self.inputs = inputs
        self._built = None
        self._grids = None

    def _build(self):
        if self._built is None:
            from lstmc.pipeline import STAGE_PASSES, apply_pipeline

            passes = STAGE_PASSES["integer"]
            options = _legalize_options(passes[-1])
            module = apply_pipeline(self.imported.clone(), passes[:-1])
            float_module = module.clone()
            pairs = dict(zip(module.walk(), float_module.walk()))
            record = _legalize_recording(module, options)
            sources = _int_sources(record, set(module.walk()))
            self._built = (float_module, module, {pairs[q]: src for q, src in sources.items()})
        return self._built

    def unquantized_outputs(self) -> dict[str, float | None]:
        """Graph outputs that only float arithmetic produces (no quantizer), each with the grid step the integer
        design dequantizes it by (None if its output is not a qrnn.dequantize)."""
        if self._grids is None:
            float_module, int_module, _ = self._build()
            fn, int_fn = entry_function(float_module), entry_function(int_module)
            returned = _terminator_operands(fn.body.block)
            names = io_names(fn, "lstmc.output_names", len(returned), "result")
            self._grids = {}
            for name, value, out in zip(names, returned, _terminator_operands(int_fn.body.block)):
                if _arithmetic(value):
                    dq = out.owner if isinstance(out, OpResult) else None
                    # per channel: the smallest step, which only makes 2 B < s harder to meet
                    self._grids[name] = min(dq.quant.scales) if isinstance(dq, qrnn.DequantizeOp) else None
        return self._grids

    def batched(self) -> bool:
        """Whether the inputs carry a leading sequence axis (run_function accepts both forms)."""
        fn = entry_function(self.imported)
        types = fn.function_type.inputs.data
        for name, ty in zip(io_names(fn, "lstmc.input_names", len(types), "arg"), types):
            if name in self.inputs:
                assert isinstance(ty, ShapedType)
                return np.ndim(self.inputs[name]) == len(ty.get_shape()) + 1
        return True

    def classify(self, reference: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> dict[int, SequenceVerdict]:
        """A verdict for every sequence whose outputs differ (keys: sequence index; unbatched input: 0)."""
        batched = self.batched()
        ref = {k: v if batched else v[None] for k, v in reference.items()}
        out = {k: np.asarray(got[k]) if batched else np.asarray(got[k])[None] for k in ref}
        n = next(iter(ref.values())).shape[0]
        differ = np.zeros(n, bool)
        for k in ref:
            differ |= (ref[k] != out[k]).reshape(n, -1).any(axis=1)
        seqs = [int(s) for s in np.flatnonzero(differ)]
        if not seqs:
            return {}
        fn = entry_function(self.imported)
        names = io_names(fn, "lstmc.input_names", len(fn.function_type.inputs.data), "arg")
        inputs = {
            k: (np.asarray(v) if batched else np.asarray(v)[None])[seqs] for k, v in self.inputs.items() if k in names
        }
        f_out, i_out, first, errors = self._trace(inputs, seqs)
        verdicts: dict[int, SequenceVerdict] = {}
        for row, seq in enumerate(seqs):
            if not all(np.array_equal(f_out[k][row], ref[k][seq]) for k in ref):
                verdicts[seq] = SequenceVerdict(
                    seq, False, reason="the traced float model does not reproduce the reference on this sequence"
                )
            elif not all(np.array_equal(i_out[k][row], out[k][seq]) for k in ref):
                verdicts[seq] = SequenceVerdict(
                    seq,
                    False,
                    reason="the stage's outputs differ from the integer "
                    "design traced (not an integer-level difference)",
                )
            elif row in first:
                verdicts[seq] = first[row]
            else:
                verdicts[seq] = self._output_rounding(seq, row, ref, out, errors)
        return verdicts

    def _output_rounding(self, seq: int, row: int, ref, out, errors) -> SequenceVerdict:
        """No quantizer diverges in this sequence: every mismatching element must be float32 rounding of an
        unquantized output (module docstring, "Unquantized outputs")."""
        grids = self.unquantized_outputs()
        checks = []
        for k in ref:
            y_f, y_i = np.asarray(ref[k][seq]), np.asarray(out[k][seq])
            for idx in np.argwhere(y_f != y_i):
                idx = tuple(int(i) for i in idx)
                checks.append(
                    _rounding_check(k, idx, y_f[idx], y_i[idx], errors[k][row][idx], k in grids, grids.get(k))
                )
        bad = [c for c in checks if not c.ok]
        reason = f"outputs differ but no traced quantizer diverges: {bad[0].describe()}" if bad else ""
        return SequenceVerdict(seq, False, reason=reason, rounding=checks)

    def first_divergences(self, inputs: dict[str, np.ndarray], labels: list[int] | None = None):
        """Run both levels on a batch of sequences: (float outputs, integer outputs, {row: verdict at the first
        diverging quantizer}) for every row that diverges anywhere, whether or not it reaches an output.
        `labels` name the rows in the verdicts (default: the row index)."""
        return self._trace(inputs, labels)[:3]

    def _trace(self, inputs: dict[str, np.ndarray], labels: list[int] | None = None):
        """first_divergences, and the float trace's error bound on every graph output element ({name: [n, ...]})."""
        float_module, int_module, sources = self._build()
        ftrace = _FloatTrace(float_module)
        f_out = _run(float_module, inputs, ftrace)
        itrace = _IntTrace(int_module, {v for s in sources.values() for v in (s.value, s.acc) if v is not None})
        i_out = _run(int_module, inputs, itrace)
        n = next(iter(inputs.values())).shape[0]
        labels = list(range(n)) if labels is None else labels
        first: dict[int, SequenceVerdict] = {}
        open_rows = list(range(n))
        for event in ftrace.events:  # execution order: step t, then the quantizer's place in the cell
            if not open_rows:
                break
            src = sources.get(event.op)
            found = None if src is None else _int_codes(src, itrace, event.occurrence, n)
            if src is None or found is None:
                continue  # a quantizer without runtime codes in the integer design (a constant's)
            c_int, v_int = found
            c_flt = _batch(event.codes, event.op.result, n)
            still = []
            for row in open_rows:
                diff = c_flt[row] != c_int[row]
                if diff.any():
                    first[row] = _verdict(event, src, labels[row], row, diff, c_flt, c_int, v_int, n)
                else:
                    still.append(row)
            open_rows = still
        fn = entry_function(float_module)
        returned = _terminator_operands(fn.body.block)
        errors = {}
        for name, value in zip(io_names(fn, "lstmc.output_names", len(returned), "result"), returned):
            entry = ftrace.entries.get(value)  # none for a graph input returned as it is: no bound claimed
            err = np.array(np.inf) if entry is None else _batch(entry.err, value, n)
            errors[name] = np.broadcast_to(err, np.shape(f_out[name]))
        return f_out, i_out, first, errors


def _verdict(event: _QuantEvent, src: _IntSource, seq: int, row: int, diff, c_flt, c_int, v_int, n) -> SequenceVerdict:
    """Classify every differing element of one sequence at its first diverging quantizer; a tie only if all are."""
    v = _batch(event.v, event.op.result, n)[row]
    bound = _batch(event.bound, event.op.result, n)[row]
    rounding = numerics.quant_params(event.op.quant).rounding
    hint = event.op.result.name_hint
    name = f"{event.op.name} by {event.op.quant}"
    if isinstance(event.op, qrnn.QuantDequantOp):
        name += f" to {event.op.dequant}"
    name = f"%{hint} = {name}" if hint else name
    worst = None
    for idx in zip(*np.nonzero(diff)):
        vi = None if v_int is None else v_int(row, idx)
        total = float(bound[idx]) + src.error_bound
        test = classify(
            float(v[idx]),
            int(c_flt[row][idx]),
            int(c_int[row][idx]),
            total,
            vi,
            rounding,
            event.same_float,
            src.lo,
            src.hi,
        )
        d = Divergence(
            seq,
            name,
            event.region,
            event.step,
            tuple(int(i) for i in idx),
            int(c_flt[row][idx]),
            int(c_int[row][idx]),
            float(v[idx]),
            None if vi is None else float(vi),
            total,
            test,
        )
        if worst is None or (worst.tie and not d.tie):
            worst = d  # report a non-tie element if there is one
    assert worst is not None  # diff has a nonzero element
    return SequenceVerdict(seq, worst.tie, worst)


def _rounding_check(
    name: str, idx: tuple[int, ...], y_f, y_i, err, unquantized: bool, lsb: float | None
) -> OutputRounding:
    """Is y_i (the integer design) float32 rounding away from y_f (the reference) at an unquantized output whose
    float computation is within `err` of the exact value? B = err + ulp(y_i)/2, and 2 B < lsb."""
    y_f, y_i = float(np.float32(y_f)), float(np.float32(y_i))

    def check(ok: bool, bound: float, why: str) -> OutputRounding:
        return OutputRounding(name, idx, y_f, y_i, bound, lsb, ok, why)

    if not unquantized:
        return check(False, 0.0, "a quantizer's output differs though no traced quantizer diverges")
    if lsb is None:
        return check(False, math.inf, "the integer design does not dequantize this output from a grid")
    if not (math.isfinite(y_f) and math.isfinite(y_i)):
        return check(False, math.inf, "not a finite value")
    bound = (float(err) + float(half_ulp(y_i))) * BOUND_SLACK
    if not 2 * bound < lsb:  # then a code one step off could lie within the bound (or no bound: inf)
        return check(False, bound, f"its float32 error bound {bound:.3g} is not below half its grid step {lsb:.3g}")
    dist = abs(Fraction(y_i) - Fraction(y_f))
    ok = dist <= Fraction(bound)
    return check(
        ok,
        bound,
        f"|integer - reference| = {float(dist):.3g} {'<=' if ok else '>'} float32 error bound "
        f"{bound:.3g} ({bound / float(np.spacing(np.float32(abs(y_f)))):.3g} ulp) of this "
        f"unquantized output (grid step {lsb:.3g})",
    )


def _arithmetic(value: SSAValue, depth: int = 0) -> bool:
    """Whether only float arithmetic produces a returned value (through data movement and recurrence results):
    an unquantized output. Anything else (a quantizer, a constant, a graph input, a body argument) is not."""
    if depth > 64 or not isinstance(value, OpResult):
        return False
    op = value.op
    if isinstance(op, (qrnn.AddOp, qrnn.SubOp, qrnn.MulOp, qrnn.MatMulOp)):
        return True
    if isinstance(op, (qrnn.ReshapeOp, qrnn.SliceOp, qrnn.TransposeOp, qrnn.WindowOp)):
        return _arithmetic(op.input, depth + 1)
    if isinstance(op, qrnn.ConcatOp):
        return all(_arithmetic(v, depth + 1) for v in op.inputs)
    if isinstance(op, qrnn.RecurrenceOp):
        return _arithmetic(_terminator_operands(op.body.block)[value.index], depth + 1)
    return False


def _terminator_operands(block: Block) -> Sequence[SSAValue]:
    """The operands of a block's terminator: what a recurrence body yields, what a function returns."""
    last = block.last_op
    assert last is not None
    return last.operands


def _run(module: ModuleOp, inputs, listener: _StepListener) -> dict[str, np.ndarray]:
    return run_function(module, inputs, listeners=(listener,))


def _batch(value, ssa: SSAValue, n: int) -> np.ndarray:
    """Per-sequence rows of a traced value of `ssa` (a value that does not depend on the inputs is unbatched)."""
    value = np.asarray(value)
    return value if is_batched(value, ssa) else np.broadcast_to(value, (n, *value.shape))


def _int_codes(src: _IntSource, trace: _IntTrace, k: int, n: int):
    """(codes [n, ...], v_int(row, idx) or None) of the k-th execution of a quantizer in the integer design.
    v_int is the exact value before rounding: acc / 2^shift for a requantizer, the code itself for an identity."""
    # the accumulator and the codes, each when the design computed it a k-th time
    acc_value = src.acc if src.acc is not None and k < len(trace.values[src.acc]) else None
    code_value = src.value if src.value is not None and k < len(trace.values[src.value]) else None
    if src.absorbed is not None and acc_value is not None:
        exact = src.absorbed.values(_batch(np.asarray(trace.values[acc_value][k], np.int64), acc_value, n))
        if code_value is not None:  # the codes the design computed
            codes = _batch(np.asarray(trace.values[code_value][k], np.int64), code_value, n)
        else:  # never computed: they are the exact value rounded
            codes = np.vectorize(lambda v: round_exact(v, src.rounding), otypes=[np.int64])(exact)
            codes = codes.clip(src.lo, src.hi)
        return codes, lambda row, idx: exact[row][idx]
    if code_value is not None:
        codes = _batch(np.asarray(trace.values[code_value][k], np.int64), code_value, n)
    elif acc_value is not None:  # a requantizer fused away: round its accumulator as it would have
        acc = np.asarray(trace.values[acc_value][k], np.int64)
        codes = _batch(numerics.shift_round(acc, src.shift, src.rounding).clip(src.lo, src.hi), acc_value, n)
    else:
        return None
    if acc_value is not None:
        acc = _batch(np.asarray(trace.values[acc_value][k], np.int64), acc_value, n)
        return codes, lambda row, idx: Fraction(int(acc[row][idx]), 1 << src.shift)
    if src.identity:
        return codes, lambda row, idx: Fraction(int(codes[row][idx]))
    return codes, None
