"""Analyses over qrnn IR: plain functions module -> facts."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.ir import OpResult, SSAValue

from lstmc.dialects import qrnn
from lstmc.entry import entry_function, io_names


def producing_quantizer_scale(value: SSAValue, depth: int = 0) -> float | None:
    """The smallest scale of the quantizer(s) a value comes from, looking through data movement."""
    if depth > 64 or not isinstance(value, OpResult):
        return None
    op = value.op
    if isinstance(op, qrnn.QuantOp):
        return min(op.quant.scales)
    if isinstance(op, qrnn.ReshapeOp):
        return producing_quantizer_scale(op.input, depth + 1)
    if isinstance(op, qrnn.ConcatOp):
        scales = [producing_quantizer_scale(v, depth + 1) for v in op.inputs]
        known = [s for s in scales if s is not None]
        return None if len(known) < len(scales) else min(known)
    if isinstance(op, qrnn.RecurrenceOp):
        yield_op = op.body.block.last_op
        assert isinstance(yield_op, qrnn.YieldOp)
        return producing_quantizer_scale(yield_op.values[value.index], depth + 1)
    return None


def output_lsbs(module: ModuleOp) -> dict[str, float]:
    """Graph output name -> the LSB (quantizer scale) of that output, for outputs that have one."""
    fn = entry_function(module)
    ret = fn.body.block.last_op
    assert isinstance(ret, func.ReturnOp)
    names = io_names(fn, "lstmc.output_names", len(ret.arguments), "result")
    lsbs = {}
    for name, value in zip(names, ret.arguments):
        scale = producing_quantizer_scale(value)
        if scale is not None:
            lsbs[name] = scale
    return lsbs


def all_scales_power_of_two(module: ModuleOp) -> bool:
    """True when every quantizer of the (float-level) model has power-of-two scales: then the integer
    design must equal the float reference exactly, because no float operation of the reference rounds."""
    return all(op.quant.is_power_of_two for op in module.walk() if isinstance(op, qrnn.QuantOp))


# ------------------------------------------------------------------------------------------- integer grids
# Whether a float value lies on an integer grid is an analysis, not a demand that a quantizer stands in front of
# it: FINN-GL's reference cell carries c_t = DQ(Q(f * c)) + DQ(Q(i * g)) unquantized, a sum of two codes on one
# scale, i.e. a 9-bit integer for 8-bit codes.
MAX_FIXPOINT_STEPS = 64  # iterations to find a recurrence's state ranges; a range that still grows is unbounded
MAX_CONSTANT_ELEMENTS = 1 << 16  # float constants scanned for their grid (biases, initial states, not weights)
FLOAT32_EXACT = 1 << 24  # integers a float32 holds exactly


@dataclass(frozen=True)
class Grid:
    """Every element of the value is k * scale for an integer k in [lo, hi]; scale is an exact rational.
    `partial` bounds |k| of every intermediate a float evaluation of the value passes through (the partial sums
    of a matmul), so that `exact_in_float32` can tell whether float32 arithmetic computes it without rounding."""

    scale: Fraction
    lo: int
    hi: int
    partial: int = 0

    @property
    def zero(self) -> bool:
        return self.lo == self.hi == 0

    @property
    def magnitude(self) -> int:
        return max(abs(self.lo), abs(self.hi), self.partial)

    def on(self, scale: Fraction) -> Grid:
        """The same values on a grid `scale` that divides this one."""
        if self.zero:
            return Grid(scale, 0, 0)
        factor = self.scale / scale
        assert factor.denominator == 1, "grid scales must divide"
        f = factor.numerator
        return Grid(scale, self.lo * f, self.hi * f, self.partial * f)

    def exact_in_float32(self) -> bool:
        """Power-of-two grid and every integer involved below 2^24: float32 represents every value exactly."""
        s = self.scale
        po2 = (
            self.zero
            or (s.numerator == 1 and s.denominator & (s.denominator - 1) == 0)
            or (s.denominator == 1 and s.numerator & (s.numerator - 1) == 0)
        )
        return po2 and self.magnitude <= FLOAT32_EXACT


def common_scale(a: Fraction, b: Fraction) -> Fraction:
    """The coarsest grid both scales are integer multiples of (the gcd of two rationals)."""
    return Fraction(math.gcd(a.numerator * b.denominator, b.numerator * a.denominator), a.denominator * b.denominator)


def join(a: Grid, b: Grid) -> Grid:
    """A grid holding every value of a and of b."""
    if a.zero or b.zero:
        scale = b.scale if a.zero else a.scale
    else:
        scale = common_scale(a.scale, b.scale)
    a, b = a.on(scale), b.on(scale)
    return Grid(scale, min(a.lo, b.lo), max(a.hi, b.hi), max(a.partial, b.partial))


def container_range(lo: int, hi: int) -> tuple[int, int, bool]:
    """(qmin, qmax, signed) of the smallest signed or unsigned integer range holding [lo, hi]."""
    ty = qrnn.integer_type_for_range(lo, hi)
    qmin, qmax = qrnn.integer_range_of(ty)
    return qmin, qmax, qmin < 0


def _quant_grid(q: qrnn.QuantAttr, scales=None) -> Grid:
    scales = q.scales if scales is None else scales
    grid = None
    for s, z in zip(scales, q.zero_points):
        g = Grid(Fraction(s), q.qmin - z, q.qmax - z)
        grid = g if grid is None else join(grid, g)
    assert grid is not None
    return grid


def constant_grid(values: np.ndarray) -> Grid | None:
    """The coarsest grid of a float constant (None for large constants: those are weights, found quantized)."""
    values = np.asarray(values)
    if values.size > MAX_CONSTANT_ELEMENTS or not np.all(np.isfinite(values)):
        return None
    fracs = {Fraction(float(v)) for v in np.unique(values.astype(np.float64)) if v != 0}
    if not fracs:
        return Grid(Fraction(1), 0, 0)
    scale = functools.reduce(common_scale, (abs(f) for f in fracs))
    ks = [int(f / scale) for f in fracs] + ([0] if np.any(values == 0) else [])
    return Grid(scale, min(ks), max(ks))


def _codes_grid(codes: np.ndarray, q: qrnn.QuantAttr) -> Grid:
    """Grid of a qconstant from its actual codes (tighter than the quantizer's range)."""
    codes = np.asarray(codes, np.int64)
    axis = q.channel_axis
    if axis is None or codes.ndim == 0:
        lows, highs = [codes.min(initial=q.zero_points[0])], [codes.max(initial=q.zero_points[0])]
    else:
        per_channel = np.moveaxis(codes, axis, -1).reshape(-1, codes.shape[axis])
        lows, highs = per_channel.min(axis=0), per_channel.max(axis=0)
    grid = None
    for s, z, lo, hi in zip(q.scales, q.zero_points, lows, highs):
        g = Grid(Fraction(s), min(int(lo), z) - z, max(int(hi), z) - z)
        grid = g if grid is None else join(grid, g)
    assert grid is not None
    return grid


class GridAnalysis:
    """Integer grids of the float values of a (float-level) qrnn function, op by op: quantizer outputs, float
    constants, sums/differences (on the common grid), products (product grid, corner ranges), matmuls, data
    movement, and recurrences (carried states by a fixpoint over their ranges, see `recurrence_states`). A
    value with no grid (a graph input, an activation output before its quantizer) maps to None."""

    def __init__(self):
        self.grids: dict[SSAValue, Grid | None] = {}
        self.states: dict[qrnn.RecurrenceOp, list[Grid | None]] = {}  # carried-state grids per recurrence

    def grid(self, value: SSAValue) -> Grid | None:
        return self.grids.get(value)

    def run_block(self, block) -> None:
        for op in block.ops:
            self.visit(op)

    def visit(self, op) -> None:
        if isinstance(op, qrnn.RecurrenceOp):
            self._recurrence(op)
            return
        if len(op.results) != 1:
            for r in op.results:
                self.grids[r] = None
            return
        self.grids[op.results[0]] = self._rule(op)

    def _rule(self, op) -> Grid | None:
        from lstmc.dense import array_from_dense

        if isinstance(op, (qrnn.ConstantOp, qrnn.QConstantOp)) and op.results[0] in self.grids:
            return self.grids[op.results[0]]  # a constant in a recurrence body: the same at every fixpoint step
        operand_grids = [self.grids.get(v) for v in op.operands]
        if isinstance(op, (qrnn.QuantOp, qrnn.QuantDequantOp)):
            out = op.dequant if isinstance(op, qrnn.QuantDequantOp) else op.quant
            src = op.input.owner
            if isinstance(src, qrnn.ConstantOp):  # a quantized constant (an int32 bias): its actual codes
                from lstmc.numerics import quant_params, quantize

                value = array_from_dense(src.value)
                if np.issubdtype(value.dtype, np.floating):
                    return _codes_grid(quantize(value, quant_params(op.quant)), out)
            return _quant_grid(out)
        if isinstance(op, qrnn.QConstantOp):
            return _codes_grid(array_from_dense(op.codes), op.quant)
        if isinstance(op, qrnn.ConstantOp):
            value = array_from_dense(op.value)
            return constant_grid(value) if np.issubdtype(value.dtype, np.floating) else None
        g = [x for x in operand_grids if x is not None]
        if len(g) < len(operand_grids):
            return None
        if isinstance(op, (qrnn.AddOp, qrnn.SubOp)):
            a, b = g
            scale = b.scale if a.zero else a.scale if b.zero else common_scale(a.scale, b.scale)
            a, b = a.on(scale), b.on(scale)
            if isinstance(op, qrnn.AddOp):
                return Grid(scale, a.lo + b.lo, a.hi + b.hi, max(a.partial, b.partial))
            return Grid(scale, a.lo - b.hi, a.hi - b.lo, max(a.partial, b.partial))
        if isinstance(op, qrnn.MulOp):
            a, b = g
            corners = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
            return Grid(a.scale * b.scale, min(corners), max(corners))
        if isinstance(op, qrnn.MatMulOp):
            a, b = g
            k = SSAValue.get(op.lhs, type=TensorType).type.get_shape()[-1]
            big = k * max(abs(a.lo), abs(a.hi)) * max(abs(b.lo), abs(b.hi))
            return Grid(a.scale * b.scale, -big, big, big)
        if isinstance(op, (qrnn.ReshapeOp, qrnn.TransposeOp, qrnn.SliceOp, qrnn.WindowOp)):
            return g[0]
        if isinstance(op, qrnn.ConcatOp):
            out = g[0]
            for x in g[1:]:
                out = join(out, x)
            return out
        if isinstance(op, qrnn.ReluOp):
            return Grid(g[0].scale, max(g[0].lo, 0), max(g[0].hi, 0))
        return None

    def _recurrence(self, rec: qrnn.RecurrenceOp) -> None:
        states = self.recurrence_states(rec)
        self.states[rec] = states
        body = rec.body.block
        n = len(rec.init)
        for r, s in zip(rec.final_states, states):
            self.grids[r] = s
        term = body.last_op
        assert isinstance(term, qrnn.YieldOp)
        for r, y in zip(rec.outputs, term.operands[n:]):
            self.grids[r] = self.grids.get(y)

    def recurrence_states(self, rec: qrnn.RecurrenceOp) -> list[Grid | None]:
        """The grid of every carried state (what the body's state argument holds at every step), by a fixpoint:
        assume each state holds its initial value's grid, run the body, join in what it yields, repeat until no
        range grows. An initial state with no grid (a graph input) is taken to be put on the grid of what the
        body yields, anywhere in the smallest integer range holding that (the kernel quantizes it so at its
        boundary); a state whose range keeps growing has no grid (None)."""
        body = rec.body.block
        n = len(rec.init)
        init = [self.grids.get(v) for v in rec.init]
        for arg, seq in zip(body.args[n:], rec.inputs):
            self.grids[arg] = self.grids.get(seq)
        assumed: list[Grid | None] = list(init)
        for _ in range(MAX_FIXPOINT_STEPS):
            for arg, a in zip(body.args[:n], assumed):
                self.grids[arg] = a
            self.run_block(body)
            new = []
            term = body.last_op
            assert isinstance(term, qrnn.YieldOp)
            for i, y in enumerate(term.operands[:n]):
                y = self.grids.get(y)
                if y is None:
                    new.append(None)
                    continue
                prev, start = assumed[i], init[i]
                a = y if prev is None else join(prev, y)
                if start is None:  # a graph input quantized onto the state's grid: its whole integer range
                    lo, hi, _ = container_range(a.lo, a.hi)
                    a = Grid(a.scale, lo, hi, a.partial)
                elif prev is None:
                    a = join(start, a)
                new.append(a)
            if new == assumed:
                return new
            grown, assumed = [a != b for a, b in zip(assumed, new)], new
        return [None if g else a for a, g in zip(assumed, grown)]


def function_grids(fn: func.FuncOp) -> GridAnalysis:
    analysis = GridAnalysis()
    analysis.run_block(fn.body.block)
    return analysis


def reference_is_exact(module: ModuleOp) -> bool:
    """True when the float reference computes every value of the model without rounding, so the integer design
    must equal it bit for bit: every quantizer scale is a power of two (then every quantizer rounds an exact
    value) and every sum, product and matmul (partial sums included) lies on a power-of-two grid with integers
    below 2^24 (float32 holds them). A float bias that is not on the accumulator's grid breaks this: the
    reference's addition rounds it, and the integer design, which adds it exactly, may differ at a float32 tie.
    Inputs and initial states are taken on the grids the kernel quantizes them to."""
    if not all_scales_power_of_two(module) or not all(
        op.quant.is_power_of_two and op.dequant.is_power_of_two
        for op in module.walk()
        if isinstance(op, qrnn.QuantDequantOp)
    ):
        return False
    fn = entry_function(module)
    analysis = function_grids(fn)
    arithmetic = (qrnn.AddOp, qrnn.SubOp, qrnn.MulOp, qrnn.MatMulOp)
    for op in fn.walk():
        if isinstance(op, arithmetic):
            g = analysis.grid(op.results[0])
            if g is None or not g.exact_in_float32():
                return False
    return True


def initial_state_grids(module: ModuleOp) -> dict[str, Grid]:
    """Graph input name -> the grid of the recurrence state it initialises (looking through reshapes), for the
    inputs a kernel quantizes onto a state's grid at its boundary. The reference reads such an input as it is,
    so the two agree on inputs that lie on that grid: those are the ones to verify with."""
    from xdsl.ir import BlockArgument

    fn = entry_function(module)
    names = io_names(fn, "lstmc.input_names", len(fn.body.block.args), "arg")
    analysis = function_grids(fn)
    out: dict[str, Grid] = {}
    for rec in fn.walk():
        if not isinstance(rec, qrnn.RecurrenceOp):
            continue
        for value, grid in zip(rec.init, analysis.states.get(rec, [])):
            while isinstance(value, OpResult) and isinstance(value.op, qrnn.ReshapeOp):
                value = value.op.input
            if grid is not None and isinstance(value, BlockArgument) and value.owner is fn.body.block:
                out[names[value.index]] = grid
    return out
